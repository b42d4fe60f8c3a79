"""ViT-Adapter (Chen et al., ICLR 2023) in pure PyTorch over any timm ViT, as an agriseg encoder.

Encoder names: ``vit_adapter_<size>`` with size ``tiny | small | base | large`` (DeiT-T/S/B and AugReg
ViT-L by default), or ``vit_adapter_<size>:<timm ViT name>`` to put another timm ViT inside (the size then
sets the adapter hyperparameters; width and depth come from the ViT).

    >>> from agriseg.models import build_model
    >>> model = build_model(arch="upernet", encoder="vit_adapter_tiny", upsampler="fade",
    ...                     encoder_weights=None)
"""

from __future__ import annotations

from typing import cast

from agriseg.models.vit_adapter.deform_attn import MSDeformAttn, ms_deform_attn_sample, reference_points
from agriseg.models.vit_adapter.encoder import ViTAdapterEncoder
from agriseg.models.vit_adapter.sizes import SIZES, AdapterSize, AdapterSizeName

PREFIX = "vit_adapter_"
ENCODER_NAMES: tuple[str, ...] = tuple(PREFIX + s for s in SIZES)


def build_vit_adapter(name: str, in_channels: int = 3, weights: str | None = None) -> ViTAdapterEncoder:
    """Build a ViT-Adapter encoder from its registry name.

    Args:
        name: ``vit_adapter_<size>`` or ``vit_adapter_<size>:<timm ViT name>``.
        in_channels: image channels.
        weights: ``None`` (random), ``"imagenet"`` (timm's pretrained ViT) or a ``.safetensors`` or
            ``.pth`` path.

    Raises:
        ValueError: for an unknown name; the message lists the valid names.
    """
    base, _, vit_name = name.partition(":")
    if base not in ENCODER_NAMES:
        raise ValueError(
            f"unknown encoder {name!r}; valid ViT-Adapter names: {', '.join(ENCODER_NAMES)} "
            "(optionally ':<timm ViT name>')"
        )
    size = cast(AdapterSizeName, base[len(PREFIX) :])  # checked against ENCODER_NAMES above
    return ViTAdapterEncoder(size, in_channels, weights, vit_name or None)


__all__ = [
    "ENCODER_NAMES",
    "SIZES",
    "AdapterSize",
    "AdapterSizeName",
    "MSDeformAttn",
    "ViTAdapterEncoder",
    "build_vit_adapter",
    "ms_deform_attn_sample",
    "reference_points",
]
