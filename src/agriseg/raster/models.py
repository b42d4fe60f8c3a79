"""Loading a model file for scene inference: agriseg safetensors/checkpoints, or ftw-tools/PRUE ``.ckpt``.

Scene inference only needs a torch module, its class count and a :class:`PreprocessSpec`; this module maps
a file to those three things through ``agriseg.weights.ftw.load_fields_model`` (FTW / PRUE / agriseg
checkpoints and agriseg safetensors), falling back to ``agriseg.weights.io.load_model`` for other agriseg
models. The input window order and divisor recorded with the model become the preprocessing spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from agriseg.raster.config import PreprocessSpec


@dataclass
class LoadedModel:
    """A model ready for :class:`agriseg.raster.ScenePredictor`."""

    module: nn.Module
    num_classes: int
    preprocess: PreprocessSpec
    class_names: tuple[str, ...]
    source: str


def _names(cfg: Any) -> tuple[str, ...]:
    k = cfg.num_classes
    if len(cfg.class_names) == k:
        return tuple(cfg.class_names)
    return ("background", "field", "boundary") if k == 3 else tuple(f"class{i}" for i in range(k))


def load_for_scenes(path: str | Path, resize: float | None = None) -> LoadedModel:
    """Load ``path`` for scene inference.

    Args:
        path: ``.safetensors`` / ``.ckpt`` written by agriseg, or an ftw-tools / PRUE ``.ckpt``.
        resize: patch resize factor before the model; default 2 for ftw-tools checkpoints (ftw-tools'
            inference default), else 1.

    Raises:
        FileNotFoundError: missing file.
        ValueError: an unreadable file or one in neither format (the message names the file).
    """
    from agriseg.weights.io import ModelLoadError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    info: dict[str, Any] = {}
    try:
        try:
            from agriseg.weights.ftw import load_fields_model
        except ImportError:  # pragma: no cover - the FTW importer ships with agriseg[fields]
            from agriseg.weights.io import load_model

            module, cfg = load_model(path)
        else:
            module, cfg, info = load_fields_model(path)
    except ModelLoadError as err:
        raise ValueError(str(err)) from err
    windows = str(info.get("windows", "ab"))
    if resize is None:
        resize = 2.0 if info.get("source_format") == "ftw-tools" else 1.0
    spec = PreprocessSpec(
        bands=cfg.in_channels,
        divisor=float(info.get("divisor", 3000.0)),
        swap_input_windows=windows == "ba",
        resize=resize,
    )
    return LoadedModel(
        module, cfg.num_classes, spec, _names(cfg), f"{info.get('source_format', 'agriseg')}:{path}"
    )
