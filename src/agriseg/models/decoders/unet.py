"""U-Net decoder (Ronneberger et al. 2015) with selectable x2 upsampling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from agriseg.models.decoders.blocks import conv_bn_relu
from agriseg.models.upsamplers import build_upsampler


class UNetDecoder(nn.Module):
    """U-Net decoder over a stride-2..32 pyramid; the output is at stride 1.

    Each stage upsamples x2 (guided by the skip feature for FADE), concatenates the skip and applies two
    3x3 conv-BN-ReLU. The last stage (stride 2 -> 1) has no encoder feature to guide or fuse, so it is
    bilinear for every upsampler choice; the four encoder-guided stages use the selected upsampler.

    Args:
        encoder_channels: channels of the five encoder features (strides 2, 4, 8, 16, 32).
        upsampler: ``bilinear``, ``fade``, ``dysample`` or ``carafe``.
        channels: decoder channels per stage, coarse to fine (five values).
    """

    def __init__(
        self,
        encoder_channels: Sequence[int],
        upsampler: str = "bilinear",
        channels: Sequence[int] = (128, 64, 48, 32, 16),
    ) -> None:
        super().__init__()
        skips = list(encoder_channels[:-1])[::-1] + [0]  # skip channels, coarse to fine: s16..s2, none
        cins = [encoder_channels[-1], *channels[:-1]]
        self.ups = nn.ModuleList(
            build_upsampler(upsampler if s else "bilinear", c, s or None) for c, s in zip(cins, skips, strict=True)
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(conv_bn_relu(c + s, o), conv_bn_relu(o, o))
            for c, s, o in zip(cins, skips, channels, strict=True)
        )
        self.out_channels = channels[-1]

    def forward(self, feats: list[torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        # feats: strides 2..32; image: (B, Cin, H, W)
        skips = [*feats[:-1][::-1], None]
        x = feats[-1]  # (B, C5, H/32, W/32)
        for up, block, skip in zip(self.ups, self.blocks, skips, strict=True):
            x = up(x, skip)  # (B, C, 2h, 2w)
            x = block(x if skip is None else torch.cat([x, skip], 1))
        return x  # (B, channels[-1], H, W)
