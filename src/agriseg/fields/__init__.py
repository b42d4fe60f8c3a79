"""Field boundaries from two-window Sentinel-2 imagery (PRUE / Fields of The World).

Data (``dataset``, ``synthetic``, ``sentinel2``, ``transforms``), training (``config``, ``task``, ``train``),
scoring (``evaluate``, ``metrics``, ``robustness``), released checkpoints (``checkpoints``), scene inference
(``predict``), many scenes on Dask (``mapping``) and change maps (``change``).

    >>> from agriseg.fields import ScenePredictor, PredictConfig, PreprocessConfig
    >>> predictor = ScenePredictor(model, 3, PreprocessConfig(resize=2), PredictConfig(overlap=0.25))
    >>> predictor.predict("scene.tif", "probs.tif")

Names are imported lazily, so importing the package loads neither torch nor rasterio.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PredictConfig": "agriseg.fields.config",
    "PreprocessConfig": "agriseg.fields.config",
    "NODATA_CLASS": "agriseg.fields.predict",
    "PredictResult": "agriseg.fields.predict",
    "ScenePredictor": "agriseg.fields.predict",
    "read_probabilities": "agriseg.fields.predict",
    "PreprocessSpec": "agriseg.fields.config",  # renamed PreprocessConfig; warns, removed next release
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agriseg.fields' has no attribute {name!r}")


__all__ = sorted(k for k in _EXPORTS if k != "PreprocessSpec")  # the old name stays importable, not starred


def __dir__() -> list[str]:  # the lazy names too, for a notebook's tab completion
    return sorted(set(globals()) | set(__all__))
