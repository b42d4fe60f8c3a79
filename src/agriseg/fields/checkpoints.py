"""ftw-tools / PRUE checkpoints in agriseg: import, and export as safetensors or ONNX.

Released PRUE / FTW-baseline checkpoints are Lightning ``.ckpt`` files of ftw-tools'
``CustomSemanticSegmentationTask``: ``state_dict`` keys ``model.encoder.*``, ``model.decoder.*``,
``model.segmentation_head.*`` of ``smp.Unet(encoder_name=<backbone>, in_channels=8, classes=3)`` and
``hyper_parameters`` with ``model``, ``backbone``, ``in_channels``, ``num_classes``, ``loss``,
``class_weights``, ``ignore_index``. They load into agriseg's ``smp_unet`` architecture unchanged (same
modules, same logits). Checkpoints written by ``agriseg fields train`` have the same layout.

Public API (used by scene inference too):

- :func:`load_ftw_checkpoint` - ``.ckpt`` -> ``(model, ModelConfig, info)``; read with ``weights_only=True``.
- :func:`load_fields_model` - any of ``.ckpt`` / agriseg ``.safetensors`` -> ``(model, ModelConfig, info)``.
- :func:`import_ftw_checkpoint` - ``.ckpt`` -> agriseg ``.safetensors`` (+ config in its metadata).
- :func:`export_onnx` - a model -> ``.onnx`` (dynamic batch / height / width), checked with onnxruntime.

Model inputs are what FTW feeds: 8 channels, window A then B (``info["windows"]``; see
:mod:`agriseg.fields.sentinel2`), reflectance x10000 divided by ``info["divisor"]`` (3000).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agriseg.batch import check_output
from agriseg.data.files import atomic_write, atomic_writes, write_json
from agriseg.fields.config import FTW_CLASS_NAMES, FTW_DIVISOR, PreprocessConfig
from agriseg.fields.registry import default_resize, safetensors_metadata
from agriseg.models.config import ModelConfig
from agriseg.models.io import ModelLoadError, check_finite, save_model, tensors_misfit, torch_load

FTW_PREFIXES = ("model.encoder.", "model.decoder.", "model.segmentation_head.")


def read_ftw_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read an ftw-tools / PRUE Lightning checkpoint safely.

    Returns:
        ``(state_dict without the "model." prefix, hyper_parameters)``.

    Raises:
        ModelLoadError: missing file, a file ``torch.load(weights_only=True)`` refuses, or not an FTW
            checkpoint (no ``state_dict`` with ``model.encoder/decoder/segmentation_head`` keys).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: checkpoint not found")
    ckpt = torch_load(path, "cannot read as a checkpoint")
    sd = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict):
        raise ModelLoadError(f"{path}: not an FTW checkpoint (no 'state_dict'; expected a Lightning .ckpt)")
    missing = [p for p in FTW_PREFIXES if not any(k.startswith(p) for k in sd)]
    if missing:
        raise ModelLoadError(
            f"{path}: not an FTW/PRUE smp.Unet checkpoint (no state_dict keys starting with {', '.join(missing)})"
        )
    weights = {k.removeprefix("model."): v for k, v in sd.items() if k.startswith(FTW_PREFIXES)}
    hp = ckpt.get("hyper_parameters") or {}
    if not isinstance(hp, dict):
        raise ModelLoadError(f"{path}: its hyper_parameters is a {type(hp).__name__}, not names and values")
    if not isinstance(config := hp.get("config") or {}, dict):
        raise ModelLoadError(f"{path}: its hyper_parameters 'config' is a {type(config).__name__}, not settings")
    return weights, dict(hp)


def _infer_from_weights(sd: dict[str, torch.Tensor], path: str | Path = "") -> tuple[int, int]:
    """``(input channels, classes)`` from the first encoder convolution and the head."""
    stem = next((v for k, v in sd.items() if k.startswith("encoder.") and getattr(v, "ndim", 0) == 4), None)
    head = sd.get("segmentation_head.0.weight")
    if stem is None or getattr(head, "ndim", 0) != 4:
        part = "encoder convolution" if stem is None else "segmentation_head.0.weight convolution"
        raise ModelLoadError(f"{path}: no {part} among its weights; not an smp U-Net checkpoint")
    assert head is not None
    return int(stem.shape[1]), int(head.shape[0])


def ftw_model_config(hp: dict[str, Any], sd: dict[str, torch.Tensor], path: str | Path = "") -> ModelConfig:
    """The agriseg :class:`ModelConfig` (``arch="smp_unet"``) of an FTW checkpoint's hyperparameters.

    Raises:
        ModelLoadError: an architecture other than ``unet``, or no backbone name.
    """
    arch = hp.get("model", "unet")
    if arch != "unet":
        raise ModelLoadError(f"{path}: checkpoint model {arch!r} is not supported (only smp 'unet')")
    own = (hp.get("config") or {}).get("model") or {}
    if not isinstance(own, dict):
        raise ModelLoadError(f"{path}: its hyper_parameters' config.model is a {type(own).__name__}, not settings")
    backbone = hp.get("backbone") or own.get("encoder")
    if not backbone:
        raise ModelLoadError(f"{path}: checkpoint hyper_parameters name no 'backbone'")
    cin, k = _infer_from_weights(sd, path)
    for key, val in (("in_channels", cin), ("num_classes", k)):
        try:
            said = int(hp[key]) if key in hp else val
        except (TypeError, ValueError):
            raise ModelLoadError(f"{path}: hyper_parameters {key}={hp[key]!r} is not a whole number") from None
        if said != val:
            raise ModelLoadError(f"{path}: hyper_parameters say {key}={hp[key]}, the weights have {val}")
    from pydantic import ValidationError

    from agriseg.config import describe_errors

    try:  # settings read from the file: an error names the file, never a command-line option
        return ModelConfig(
            arch="smp_unet",
            encoder=str(backbone),
            encoder_weights=None,
            in_channels=cin,
            num_classes=k,
            class_names=own.get("class_names") or FTW_CLASS_NAMES.get(k, [str(i) for i in range(k)]),
            mean=own.get("mean") or [0.0] * cin,
            std=own.get("std") or [1.0] * cin,
            infer_long_side=0,
        )
    except ValidationError as err:
        raise ModelLoadError(f"{path}: its model settings are not valid ({describe_errors(err)})") from None


def model_windows(recorded: str | None, in_channels: int) -> str:
    """The window order of a model: the one it records where it fits its channels (4 per window), else FTW's
    8 channels are window A then B and 4 channels (ftw-tools' single-window U-Net) window A alone. Models
    imported before this rule recorded ``ab`` whatever their channels."""
    if recorded and 4 * len(recorded) == in_channels:
        return recorded
    return "a" if in_channels == 4 else "ab"


def _info(hp: dict[str, Any], path: Path, in_channels: int) -> dict[str, Any]:
    data = (hp.get("config") or {}).get("data") or {}
    divisor = data.get("divisor", FTW_DIVISOR)
    try:
        ok = float(divisor) > 0 and math.isfinite(float(divisor))
    except (TypeError, ValueError):
        ok = False
    if not ok:  # NaN scored every chip 0 with exit 0; 0 or text failed each chip without naming the file
        raise ModelLoadError(
            f"{path}: its recorded divisor {divisor!r} is not a positive number (reflectance x10000 / it)"
        )
    return {
        "source": str(path),
        "source_format": "agriseg-fields" if "config" in hp else "ftw-tools",
        "loss": hp.get("loss"),
        "class_weights": hp.get("class_weights"),
        "ignore_index": hp.get("ignore_index"),
        "windows": model_windows(data.get("windows"), in_channels),
        "divisor": data.get("divisor", FTW_DIVISOR),
    }


def load_ftw_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelConfig, dict[str, Any]]:
    """Load an ftw-tools / PRUE (or ``agriseg fields train``) ``.ckpt`` into agriseg's ``smp_unet``.

    Returns:
        ``(model in eval mode, its ModelConfig, info)``; ``info`` has ``loss``, ``class_weights``,
        ``ignore_index``, ``windows`` (input window order: what the checkpoint says, else :func:`model_windows`) and
        ``divisor``.

    Raises:
        ModelLoadError: see :func:`read_ftw_checkpoint`; also weights that do not fit the model.
    """
    from agriseg.models import build_model

    path = Path(path)
    sd, hp = read_ftw_checkpoint(path)
    check_finite(sd, path)
    cfg = ftw_model_config(hp, sd, path)
    check_field_channels(cfg.in_channels, path)
    try:
        model = build_model(cfg)
    except ValueError as err:  # an encoder no library has: its message names the valid ones, not the file
        raise ModelLoadError(f"{path}: {err}") from None
    if misfit := tensors_misfit(model.state_dict(), sd):
        raise ModelLoadError(f"{path}: weights do not fit smp.Unet({cfg.encoder}) ({misfit})")
    model.load_state_dict(sd, strict=True)
    return model.eval().to(device), cfg, _info(hp, path, cfg.in_channels)


def check_field_channels(in_channels: int, path: str | Path) -> None:
    """Refuse a model whose input is not Sentinel-2 windows of 4 bands (R, G, B, NIR): a crop model (3 channels)
    or a 5-band one was exported with a card of two windows, and failed on every scene after.

    Raises:
        ModelLoadError: naming ``path`` and its channels.
    """
    if in_channels % 4:
        raise ModelLoadError(
            f"{path}: a model of {in_channels} input channels; field models take 4 bands (R, G, B, NIR) per "
            "Sentinel-2 window: 4 (one window) or 8 (two)"
            + ("; an RGB crop model: run it with agriseg crop predict" if in_channels == 3 else "")
        )


def load_fields_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelConfig, dict[str, Any]]:
    """Load a field-boundary model: an FTW/PRUE/agriseg ``.ckpt`` or an agriseg ``.safetensors``.

    Returns:
        ``(model in eval mode, ModelConfig, info)`` (``info["windows"]``, ``info["divisor"]``).

    Raises:
        ModelLoadError: naming the file.
    """
    path = Path(path)
    try:
        return _load_fields_model(path, device)
    except ModelLoadError as err:  # a released model's download, damaged: how to fetch it again
        from agriseg.fields.registry import spec_for

        spec = spec_for(str(path))
        if spec is None:
            raise
        raise ModelLoadError(
            f"{err}; it is the cached download of {spec.name}: `agriseg fields models download --overwrite "
            f"{spec.name}` fetches it again"
        ) from err


def refuse_image(path: str | Path) -> None:
    """Refuse an image given as a field model in the fields commands' words (the crop commands' would offer an
    .onnx file, which the fields commands refuse).

    Raises:
        ModelLoadError: ``<path>: an image, not a model file (...)``.
    """
    from agriseg.data.io import IMAGE_SUFFIXES

    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        raise ModelLoadError(f"{path}: an image, not a model file (a .safetensors or .ckpt file, or a released name)")


def _load_fields_model(path: Path, device: str | torch.device) -> tuple[nn.Module, ModelConfig, dict[str, Any]]:
    if path.suffix.lower() == ".ckpt":
        return load_ftw_checkpoint(path, device)
    from agriseg.models.io import load_model, read_model_config

    refuse_image(path)

    check_field_channels(read_model_config(path).in_channels, path)  # before its weights are read
    model, cfg = load_model(path, device=device)
    meta = safetensors_metadata(path)
    info = {
        "source": str(path),
        # an imported ftw-tools checkpoint keeps its origin (and so its inference resize) under source_format
        "source_format": meta.get("source_format") or meta.get("format", "agriseg-1"),
        "windows": model_windows(meta.get("windows"), cfg.in_channels),
        "divisor": float(meta.get("divisor", FTW_DIVISOR)),
    }
    return model, cfg, info


def import_ftw_checkpoint(
    src: str | Path, dst: str | Path, overwrite: bool = False, half: bool = False
) -> tuple[Path, ModelConfig]:
    """Convert an FTW/PRUE ``.ckpt`` into an agriseg ``.safetensors`` (weights + config metadata).

    Raises:
        FileExistsError: ``dst`` exists and ``overwrite`` is False.
        agriseg.config.OptionError: ``dst`` does not end in ``.safetensors``.
        ModelLoadError: see :func:`load_ftw_checkpoint`.
    """
    from agriseg.config import OptionError

    if Path(src).suffix.lower() == ".safetensors":  # said in safetensors' words, or "expected a .ckpt" of a model
        # agriseg wrote (session 105's sweep)
        from agriseg.models.io import ModelLoadError

        try:
            agriseg_model = "agriseg_model_config" in safetensors_metadata(src)
        except Exception:  # noqa: BLE001 - not readable as safetensors: said below
            agriseg_model = False
        raise ModelLoadError(
            f"{src}: an agriseg model already: give it to -m as it is (import-checkpoint converts ftw-tools' .ckpt)"
            if agriseg_model
            else f"{src}: no Lightning .ckpt (a .safetensors file, damaged or of another kind); import-checkpoint "
            "converts ftw-tools' .ckpt files"
        )
    dst = Path(dst)
    if (
        dst.suffix.lower() != ".safetensors"
    ):  # the file is safetensors whatever its name; another suffix misleads loaders
        raise OptionError(f"{dst}: output must end in .safetensors")
    check_output(dst, overwrite)
    model, cfg, info = load_ftw_checkpoint(src)
    save_model(model, cfg, dst, half=half, extra={k: v for k, v in info.items() if v is not None})
    return dst, cfg


def export_onnx(
    model: nn.Module,
    path: str | Path,
    in_channels: int,
    size: int = 256,
    opset: int = 17,
    check: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export to ONNX with dynamic batch, height and width (input ``image``, output ``logits``).

    The exported graph has no padding step: feed sizes that are multiples of 32 (FTW chips: 256).

    Args:
        model: a model taking ``(B, in_channels, H, W)``.
        path: output file (written atomically).
        in_channels: input channels.
        size: side of the example input used for tracing (a multiple of 32).
        opset: ONNX opset.
        check: run ``onnx.checker`` and compare onnxruntime's logits with PyTorch's on a random input.
        overwrite: replace an existing file.

    Returns:
        ``{"path", "max_abs_diff"}``: the largest difference of the logits, relative to their size (at least 1);
        None without ``check``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ModelLoadError: the exported graph's logits differ from the model's by more than
            :data:`EXPORT_TOLERANCE` (relative), or are NaN.
    """
    from agriseg.data.memory import check_memory
    from agriseg.fields.predict import ACTIVATION_PLANES

    path = Path(path)
    check_output(path, overwrite)
    check_memory(4.0 * size * size * (in_channels + ACTIVATION_PLANES), f"--size {size}")  # tracing one input
    model = model.eval().cpu()
    x = torch.rand(1, in_channels, size, size)  # (1, C, S, S)
    with atomic_write(path) as tmp:
        diff = _export_checked(model, x, tmp, in_channels, size, opset, check)
        if diff is not None and not diff <= EXPORT_TOLERANCE:  # NaN too: not the model; the file is not kept
            raise ModelLoadError(f"{path}: the exported graph's logits differ from PyTorch's by {diff:.3g} of their "
                                 f"size on a random input (an export keeps them within {EXPORT_TOLERANCE:g}); "
                                 "not written")  # fmt: skip
    return {"path": str(path), "max_abs_diff": diff}


def _export_checked(
    model: nn.Module, x: torch.Tensor, tmp: Path, in_channels: int, size: int, opset: int, check: bool
) -> float | None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about the (inactive) padding branch
        torch.onnx.export(
            model,
            (x,),
            str(tmp),
            input_names=["image"],
            output_names=["logits"],
            opset_version=opset,
            dynamic_axes={
                "image": {0: "batch", 2: "height", 3: "width"},
                "logits": {0: "batch", 2: "height", 3: "width"},
            },
            dynamo=False,
        )
    diff = None
    if check:
        import numpy as np
        import onnx
        import onnxruntime as ort

        onnx.checker.check_model(str(tmp))
        sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        x2 = torch.rand(2, in_channels, size, size)
        with torch.no_grad():
            ref = model(x2).numpy()
        got = sess.run(["logits"], {"image": x2.numpy()})[0]
        diff = float(np.abs(ref - got).max())
        scale = max(1.0, float(np.abs(ref).max())) if np.isfinite(ref).all() else 1.0
        diff = diff / scale if np.isfinite(diff) else float("nan")
    return diff


EXPORT_TOLERANCE = 1e-3
"""The largest difference between onnxruntime's and PyTorch's logits (relative to their size, at least 1) that
an export is checked to keep: float32 kernels differ by about 1e-5."""


def export_model(model_path: str | Path, output: str | Path, size: int = 256, opset: int = 17,
                 overwrite: bool = False) -> dict[str, Any]:  # fmt: skip
    """``agriseg fields export``: a field model as ``.safetensors`` (weights + config) or ``.onnx`` (checked).

    Args:
        model_path: a ``.ckpt`` / ``.safetensors`` file, or a released model's name (downloaded after the other
            arguments are checked).
        output: the ``.safetensors`` or ``.onnx`` file to write (its card goes to ``<output>.json``).
        size: the ONNX example input side (a multiple of 32).
        opset: the ONNX opset.
        overwrite: replace an existing output and card.

    Returns:
        ``card`` (the model card written beside it) and, for ONNX, ``max_abs_diff`` against PyTorch.

    Raises:
        agriseg.config.OptionError: an output that is neither ``.safetensors`` nor ``.onnx``, or a ``size`` that
            is not a multiple of 32.
        FileExistsError: the output or its card (``<output>.json``) exists and not ``overwrite``.
    """
    from agriseg.config import OptionError

    out = Path(output)
    if out.suffix.lower() not in (".safetensors", ".onnx"):
        raise OptionError(f"{out}: output must end in .safetensors or .onnx")
    if size % 32:
        raise OptionError(f"--size {size}: must be a multiple of 32 (the model halves its input five times)")
    card = Path(str(out) + ".json")  # the model card written beside it
    check_output(out, overwrite)  # also removes a killed export's temporaries (an ONNX file is as large as the model)
    check_output(card, overwrite)
    from agriseg.fields.delineate import is_instance_model
    from agriseg.fields.registry import MODELS, released

    if Path(model_path).suffix.lower() == ".onnx":  # "not an agriseg model (no ... metadata)" puzzled (session 96)
        raise OptionError(f"{model_path}: an ONNX file, which is exported already; give the .safetensors / .ckpt "
                          "(or the released model's name) it was exported from")  # fmt: skip
    spec = MODELS.get(str(model_path))
    if (spec is not None and spec.kind == "instance") or is_instance_model(model_path):  # before any download
        raise OptionError(f"{model_path}: a DelineateAnything (ultralytics YOLO) instance model; fields export writes "
                          "U-Net field models (.ckpt, .safetensors) only")  # fmt: skip
    try:  # a released model's name is downloaded once the options are known to be right
        model_file = released(model_path)
    except OptionError as err:
        raise OptionError(str(err).removeprefix("--model: ")) from None
    model, cfg, info = load_fields_model(model_file)
    res: dict[str, Any] = {}
    # the model and its card take their names together: a kill between them left a model without its card,
    # which every later run refused to replace ("exists")
    with atomic_writes([out, card]) as tmp:
        if out.suffix.lower() == ".onnx":
            res = export_onnx(model, tmp[out], cfg.in_channels, size, opset, overwrite=True)
        else:
            save_model(model, cfg, tmp[out], half=False, extra={k: v for k, v in info.items() if v is not None})
        write_model_card(tmp[out], cfg, info, card=tmp[card])
    return {**res, "path": str(out), "card": card}


def write_model_card(path: str | Path, cfg: ModelConfig, info: dict[str, Any], card: Path | None = None) -> Path:
    """Write ``<path>.json`` (or ``card``) next to an exported model: its config and input conventions."""
    p = card or Path(str(path) + ".json")
    write_json(p, {"model": cfg.model_dump(), **info})
    return p


__all__ = [
    "export_onnx",
    "ftw_model_config",
    "import_ftw_checkpoint",
    "load_fields_model",
    "load_ftw_checkpoint",
    "read_ftw_checkpoint",
    "write_model_card",
]


@dataclass
class LoadedModel:
    """A model ready for :class:`agriseg.fields.predict.ScenePredictor`."""

    module: nn.Module
    num_classes: int
    preprocess: PreprocessConfig
    class_names: tuple[str, ...]
    source: str


def _names(cfg: Any) -> tuple[str, ...]:
    k = cfg.num_classes
    if len(cfg.class_names) == k:
        return tuple(cfg.class_names)
    return ("background", "field", "boundary") if k == 3 else tuple(f"class{i}" for i in range(k))


def _check_release(path: Path, classes: int, channels: int) -> None:
    """A file cached under a released model's name must be that model: a mirror (``AGRISEG_MODELS_BASE_URL``)
    serving another checkpoint, or a file put there by hand, is refused, not run as the release."""
    from agriseg.fields.registry import spec_for
    from agriseg.models.io import ModelLoadError

    spec = spec_for(str(path))
    if spec is None or spec.kind != "semantic":
        return
    want = (len(spec.classes), len(spec.bands) * len(spec.windows))
    if (classes, channels) != want:
        raise ModelLoadError(
            f"{path}: {classes} classes from {channels} bands, where {spec.name} has {want[0]} from {want[1]}: not "
            f"that release's file; fetch it again: agriseg fields models download {spec.name} --overwrite"
        )


def load_for_scenes(path: str | Path, resize: float | None = None) -> LoadedModel:
    """Load ``path`` for scene inference.

    Args:
        path: ``.safetensors`` / ``.ckpt`` written by agriseg, or an ftw-tools / PRUE ``.ckpt``.
        resize: patch resize factor before the model; default 2 for ftw-tools checkpoints (ftw-tools'
            inference default), else 1.

    Raises:
        FileNotFoundError: missing file.
        ModelLoadError: an unreadable file or one in neither format (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {'a folder, not a model file' if path.is_dir() else 'model file not found'}")
    module, cfg, info = load_fields_model(path)
    _check_release(path, cfg.num_classes, cfg.in_channels)
    windows = str(info.get("windows", "ab"))
    if resize is None:
        resize = default_resize(path, info)
    spec = PreprocessConfig(
        bands=cfg.in_channels,
        divisor=float(info.get("divisor", FTW_DIVISOR)),
        swap_input_windows=windows == "ba",
        resize=resize,
    )
    return LoadedModel(module, cfg.num_classes, spec, _names(cfg), f"{info.get('source_format', 'agriseg')}:{path}")
