"""Saving and loading agriseg models: safetensors + the model config in the file's metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from agriseg.data.files import atomic_write
from agriseg.models.config import ModelConfig

# name -> file; "name@N" keeps an earlier version loadable for reproducibility
PACKAGED = {
    "default": "crop_default.safetensors",
    "crop-weed": "crop_weed.safetensors",
    "default@3": "crop_default_v3.safetensors",
    "crop-weed@3": "crop_weed_v3.safetensors",
}
WEIGHTS_DIR = Path(__file__).parent / "weights"  # the packaged models and their cards


class ModelLoadError(ValueError):
    """A model file could not be loaded; the message names the file and the problem."""


def _default_file_mode() -> int:
    """0o666 minus the process umask: the mode ``open()`` would give a new file.

    safetensors writes its files with mode 0o600, which hides a shared model from colleagues on the same
    server; the umask is read from /proc (``os.umask`` can only be read by setting it, which races with threads).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


def save_model(
    model: nn.Module, config: ModelConfig, path: str | Path, half: bool = True, extra: dict | None = None
) -> Path:
    """Write ``model`` as safetensors (fp16 by default) with its config; atomic (temp file + rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    meta = {"agriseg_model_config": config.model_dump_json(), "format": "agriseg-1"}
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    with atomic_write(path) as tmp:
        save_file(sd, str(tmp), metadata=meta)
        os.chmod(tmp, _default_file_mode())
    return path


def resolve(name_or_path: str | Path) -> Path:
    """Map a packaged model name (``default``, ``crop-weed``) or a path to a file path."""
    s = str(name_or_path)
    if s in PACKAGED:
        p = WEIGHTS_DIR / PACKAGED[s]
        if not p.is_file():
            raise ModelLoadError(f"packaged model {s!r} is not installed ({p} missing)")
        return p
    p = Path(s)
    if not p.is_file():
        raise ModelLoadError(f"{p}: model file not found (packaged names: {', '.join(PACKAGED)})")
    return p


def load_model(
    name_or_path: str | Path,
    in_channels: int | None = None,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, ModelConfig]:
    """Load a model saved by agriseg (``.safetensors``) or an agriseg Lightning checkpoint (``.ckpt``).

    Args:
        name_or_path: packaged name or file path.
        in_channels: if given, the model must take this many channels.
        num_classes: if given, the model must predict this many classes.
        device: where to put the model.

    Returns:
        ``(model in eval mode, its config)``.

    Raises:
        ModelLoadError: missing/unreadable file, no agriseg config, mismatched channels or classes.
    """
    from agriseg.models import build_model

    path = resolve(name_or_path)
    cfg, sd = _read_model_file(path, in_channels, num_classes, weights=True)
    assert sd is not None  # weights=True
    model = build_model(cfg.model_copy(update={"encoder_weights": None}))
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}
    try:
        model.load_state_dict(sd)
    except RuntimeError as err:
        raise ModelLoadError(f"{path}: weights do not fit the model in its config: {err}") from err
    return model.eval().to(device), cfg


class LazyModel:
    """A model file whose network is built only when first needed.

    Runners that can use a compiled copy of the model from the user cache (ONNX Runtime) need only the
    file's :attr:`fingerprint` to find it, so a run whose copy is cached never imports the network's
    libraries (segmentation-models-pytorch, timm) nor builds the network: about half of a one-photo run's
    start-up. Calling the object loads the model with :func:`load_model` (once).

    Args:
        name_or_path: packaged name or file path.
        in_channels: if given, the model must take this many channels (checked at once).
        num_classes: if given, the model must predict this many classes (checked at once).
    """

    def __init__(self, name_or_path: str | Path, in_channels: int | None = None, num_classes: int | None = None):
        import hashlib

        self.path = resolve(name_or_path)
        self.config = read_model_config(self.path, in_channels, num_classes)
        h = hashlib.sha1(b"agriseg-model ")
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        #: sha1 of the file's bytes (what a compiled copy of the model is cached under)
        self.fingerprint = h.hexdigest()
        self._model: nn.Module | None = None

    def __call__(self) -> nn.Module:
        """The model in eval mode (built and loaded on the first call)."""
        if self._model is None:
            self._model = load_model(self.path)[0]
        return self._model


def read_model_config(
    name_or_path: str | Path, in_channels: int | None = None, num_classes: int | None = None
) -> ModelConfig:
    """The config stored in a model file, without building the model.

    Raises:
        ModelLoadError: as :func:`load_model`.
    """
    return _read_model_file(resolve(name_or_path), in_channels, num_classes, weights=False)[0]


def _read_model_file(
    path: Path, in_channels: int | None, num_classes: int | None, weights: bool
) -> tuple[ModelConfig, dict[str, torch.Tensor] | None]:
    """The config of a model file (checked against ``in_channels``/``num_classes``) and, if ``weights``,
    its state dict; every failure is a :class:`ModelLoadError` naming the file."""
    sd = None
    try:
        if path.suffix == ".ckpt":
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            cfg_dict = ckpt.get("hyper_parameters", {}).get("config", {}).get("model")
            if cfg_dict is None:
                raise ModelLoadError(f"{path}: not an agriseg checkpoint (no model config in hyper_parameters)")
            cfg = ModelConfig.model_validate(cfg_dict)
            if weights:
                sd = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
        else:
            from safetensors import safe_open

            with safe_open(str(path), "np") as f:
                meta = f.metadata() or {}
            if "agriseg_model_config" not in meta:
                raise ModelLoadError(f"{path}: not an agriseg model (no agriseg_model_config metadata)")
            cfg = ModelConfig.model_validate_json(meta["agriseg_model_config"])
            if weights:
                from safetensors.torch import load_file

                sd = load_file(str(path))
    except ModelLoadError:
        raise
    except Exception as err:  # corrupt file, wrong format
        raise ModelLoadError(f"{path}: cannot read model file ({type(err).__name__}: {err})") from err
    if in_channels is not None and cfg.in_channels != in_channels:
        raise ModelLoadError(f"{path}: model takes {cfg.in_channels} input channels, the data has {in_channels}")
    if num_classes is not None and cfg.num_classes != num_classes:
        raise ModelLoadError(f"{path}: model predicts {cfg.num_classes} classes, expected {num_classes}")
    return cfg, sd


def check_training_checkpoint(path: str | Path) -> Path:
    """Check that ``path`` is a Lightning training checkpoint to resume from, reading it safely.

    The file is read with ``weights_only=True`` (tensors and plain containers only), so a file that would
    run code when unpickled is refused here; training then resumes from it with ``weights_only=True`` too.

    Raises:
        ModelLoadError: naming the file when it is missing, unsafe or unreadable, or not a training
            checkpoint (no ``state_dict`` / ``loops``).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: checkpoint to resume from not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle, zip and torch errors all mean: not a usable checkpoint
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ModelLoadError(f"{path}: not a readable training checkpoint ({first[:200]})") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "loops" not in ckpt:
        raise ModelLoadError(f"{path}: not a Lightning training checkpoint (use <output_dir>/last.ckpt)")
    return path
