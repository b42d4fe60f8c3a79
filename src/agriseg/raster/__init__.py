"""Scene-scale raster inference: streaming windowed prediction with halos, Gaussian blending, COGs, resume.

    >>> from agriseg.raster import ScenePredictor, PredictConfig, PreprocessSpec
    >>> predictor = ScenePredictor(model, 3, PreprocessSpec(resize=2), PredictConfig(overlap=0.25))
    >>> predictor.predict("scene.tif", "probs.tif")

Names are imported lazily, so ``agriseg.raster.io`` (used by the vector writers) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PredictConfig": "agriseg.raster.config",
    "PreprocessSpec": "agriseg.raster.config",
    "gaussian_window": "agriseg.raster.grid",
    "patch_starts": "agriseg.raster.grid",
    "SceneInfo": "agriseg.raster.io",
    "open_scene": "agriseg.raster.io",
    "to_cog": "agriseg.raster.io",
    "NODATA_CLASS": "agriseg.raster.predict",
    "PredictResult": "agriseg.raster.predict",
    "ScenePredictor": "agriseg.raster.predict",
    "read_probabilities": "agriseg.raster.predict",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agriseg.raster' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
