"""Crop / vegetation segmentation of field photos (DepthCropSeg++).

Training (``config``, ``dataset``, ``transforms``, ``labels``, ``task``, ``train``), training without hand
labels (``pseudolabel``, ``selftrain``: two-stage self-training and adaptation to a new field), and use
(``predict``: masks, overlays and cover per photo; ``evaluate``: mIoU and boundary IoU against labels).

In Python, the packaged model as ``crop predict`` runs it:

    >>> from agriseg.crop import drop_edge_strips, label_plants, load_predictor, plant_traits
    >>> predictor = load_predictor("default")
    >>> mask = predictor.predict("photo.jpg")  # (H, W) uint8 class ids; also an array or a PIL image
    >>> plants = plant_traits(drop_edge_strips(label_plants(mask > 0)), px_per_mm=4.2)  # as crop traits

Names are imported lazily, so importing the package loads neither onnxruntime nor torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agriseg import lazy_exports

if TYPE_CHECKING:  # what type checkers and editors see; at run time each name is imported on first use
    from agriseg.crop.predict import Predictor as Predictor
    from agriseg.crop.predict import load_predictor as load_predictor
    from agriseg.crop.predict import predict_paths as predict_paths
    from agriseg.crop.traits.gai import green_area_index as green_area_index
    from agriseg.crop.traits.plants import drop_edge_strips as drop_edge_strips
    from agriseg.crop.traits.plants import label_plants as label_plants
    from agriseg.crop.traits.plants import plant_traits as plant_traits
    from agriseg.crop.traits.runner import run_traits as run_traits

_EXPORTS = {
    "Predictor": "agriseg.crop.predict",
    "load_predictor": "agriseg.crop.predict",
    "predict_paths": "agriseg.crop.predict",
    "label_plants": "agriseg.crop.traits.plants",
    "drop_edge_strips": "agriseg.crop.traits.plants",
    "plant_traits": "agriseg.crop.traits.plants",
    "green_area_index": "agriseg.crop.traits.gai",
    "run_traits": "agriseg.crop.traits.runner",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
