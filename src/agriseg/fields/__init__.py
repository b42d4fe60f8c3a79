"""Field boundaries from two-window Sentinel-2 imagery (PRUE / Fields of The World).

Data (``dataset``, ``synthetic``, ``sentinel2``, ``transforms``), training (``config``, ``task``, ``train``),
scoring (``evaluate``, ``metrics``, ``robustness``), released checkpoints (``checkpoints``), scene inference
(``predict``), many scenes on Dask (``mapping``) and change maps (``change``).

    >>> from agriseg.fields import load_scene_predictor
    >>> predictor = load_scene_predictor("FTW_PRUE_EFNET_B5", {"overlap": 0.25})  # or a model file
    >>> predictor.predict("scene.tif", "probs.tif")

Any ``torch.nn.Module`` runs too: ``ScenePredictor(model, 3, PreprocessConfig(resize=2), PredictConfig())``.

Names are imported lazily, so importing the package loads neither torch nor rasterio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agriseg import lazy_exports

if TYPE_CHECKING:  # what type checkers and editors see; at run time each name is imported on first use
    from agriseg.fields.config import PredictConfig as PredictConfig
    from agriseg.fields.config import PreprocessConfig as PreprocessConfig
    from agriseg.fields.predict import NODATA_CLASS as NODATA_CLASS
    from agriseg.fields.predict import PredictResult as PredictResult
    from agriseg.fields.predict import ScenePredictor as ScenePredictor
    from agriseg.fields.predict import load_scene_predictor as load_scene_predictor
    from agriseg.fields.predict import read_probabilities as read_probabilities

_EXPORTS = {
    "PredictConfig": "agriseg.fields.config",
    "PreprocessConfig": "agriseg.fields.config",
    "NODATA_CLASS": "agriseg.fields.predict",
    "PredictResult": "agriseg.fields.predict",
    "ScenePredictor": "agriseg.fields.predict",
    "load_scene_predictor": "agriseg.fields.predict",
    "read_probabilities": "agriseg.fields.predict",
    "PreprocessSpec": "agriseg.fields.config",  # renamed PreprocessConfig; warns, removed next release
}

# the old name stays importable, not starred
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, hidden=("PreprocessSpec",), extra="fields")
