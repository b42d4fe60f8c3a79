"""Encoders: any timm model (through segmentation-models-pytorch) or smp's own encoders.

An encoder returns the feature pyramid at strides 2, 4, 8, 16, 32 and exposes ``out_channels``.
"""

from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    """Wrap an smp encoder so that it returns the five stride-2..32 features (no identity level).

    Args:
        name: smp encoder name; timm models as ``tu-<timm name>`` (e.g. ``tu-efficientnet_lite0``), or smp's
            own (e.g. ``efficientnet-b3``, ``resnet34``).
        in_channels: input channels (any number; pretrained stems are adapted).
        weights: ``"imagenet"``, ``None`` (random) or an smp/timm weight tag.
    """

    def __init__(self, name: str, in_channels: int = 3, weights: str | None = None) -> None:
        super().__init__()
        import segmentation_models_pytorch as smp

        self.name = name
        local_lite0 = weights == "imagenet" and name == "tu-efficientnet_lite0"
        try:
            self.body = smp.encoders.get_encoder(
                name, in_channels=in_channels, depth=5, weights=None if local_lite0 else weights
            )
        except KeyError as err:
            raise ValueError(
                f"unknown encoder {name!r}: use an smp encoder name ({', '.join(sorted(smp.encoders.encoders)[:8])}, "
                "...) or 'tu-<any timm model>'"
            ) from err
        if local_lite0:
            load_lite0_into(self.body, in_channels)
        self.out_channels: list[int] = list(self.body.out_channels[1:])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # x: (B, Cin, H, W) -> [(B, C1, H/2, W/2), ..., (B, C5, H/32, W/32)]
        return list(self.body(x)[1:])


def load_lite0_into(smp_encoder: nn.Module, in_channels: int) -> None:
    """Copy the offline Lite0 ImageNet weights into an smp ``tu-efficientnet_lite0`` encoder.

    For ``in_channels != 3`` the stem is adapted the way timm does it (channel weights cycled and rescaled).
    """
    from timm.models import adapt_input_conv

    from agriseg.weights.lite0 import lite0_timm_state_dict

    model = smp_encoder.model
    own = model.state_dict()
    sd = {k: v for k, v in lite0_timm_state_dict().items() if k in own}
    sd["conv_stem.weight"] = adapt_input_conv(in_channels, sd["conv_stem.weight"])
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    if missing:
        raise RuntimeError(f"Lite0 weights miss {len(missing)} encoder tensors, e.g. {missing[:3]}")
    model.load_state_dict(sd, strict=False)
