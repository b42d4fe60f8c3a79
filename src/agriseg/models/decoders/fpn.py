"""FPN decoder (Lin et al. 2017, semantic-FPN head of Kirillov et al. 2019) with selectable upsampling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from agriseg.models.decoders.blocks import conv_bn_relu
from agriseg.models.upsamplers import build_upsampler


class FPNDecoder(nn.Module):
    """FPN over strides 4..32; the top-down x2 steps use the selected upsampler; output at stride 4.

    Args:
        encoder_channels: channels of the five encoder features (strides 2..32; stride 2 is unused).
        upsampler: ``bilinear``, ``fade``, ``dysample`` or ``carafe``.
        pyramid_channels: channels of the pyramid.
        segmentation_channels: channels of each level's head before the sum.
    """

    def __init__(
        self,
        encoder_channels: Sequence[int],
        upsampler: str = "bilinear",
        pyramid_channels: int = 128,
        segmentation_channels: int = 64,
    ) -> None:
        super().__init__()
        enc = list(encoder_channels[1:])  # strides 4, 8, 16, 32
        self.lateral = nn.ModuleList(nn.Conv2d(c, pyramid_channels, 1) for c in enc)
        self.ups = nn.ModuleList(build_upsampler(upsampler, pyramid_channels) for _ in enc[:-1])
        self.heads = nn.ModuleList(conv_bn_relu(pyramid_channels, segmentation_channels) for _ in enc)
        self.out_channels = segmentation_channels
        self.output_stride = 4

    def forward(self, feats: list[torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        lat = [conv(f) for conv, f in zip(self.lateral, feats[1:], strict=True)]  # strides 4..32
        pyr = [lat[-1]]
        for i in range(len(lat) - 2, -1, -1):
            pyr.insert(0, lat[i] + self.ups[i](pyr[0], lat[i]))  # (B, P, h_i, w_i)
        size = pyr[0].shape[-2:]
        out = sum(
            F.interpolate(h(p), size=size, mode="bilinear", align_corners=False) if i else h(p)
            for i, (h, p) in enumerate(zip(self.heads, pyr, strict=True))
        )
        return cast(torch.Tensor, out)  # a sum of tensors (there is at least one head)  # (B, S, H/4, W/4)
