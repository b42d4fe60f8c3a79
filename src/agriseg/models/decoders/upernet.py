"""UPerNet decoder (Xiao et al., ECCV 2018) where every x2 upsampling step uses the selected upsampler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from agriseg.models.decoders.blocks import conv_bn_relu
from agriseg.models.upsamplers import build_upsampler


class PPM(nn.Module):
    """Pyramid pooling module on the coarsest feature (bins 1, 2, 3, 6).

    The pooled branches use conv + ReLU without BatchNorm: a 1x1 pooled map has one value per channel
    and sample, which BatchNorm cannot normalise at batch size 1.
    """

    def __init__(self, cin: int, channels: int, bins: Sequence[int] = (1, 2, 3, 6)) -> None:
        super().__init__()
        self.bins = bins
        self.stages = nn.ModuleList(nn.Sequential(nn.Conv2d(cin, channels, 1), nn.ReLU(True)) for _ in bins)
        self.fuse = conv_bn_relu(cin + len(bins) * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [
            F.interpolate(s(F.adaptive_avg_pool2d(x, b)), size=size, mode="bilinear", align_corners=False)
            for b, s in zip(self.bins, self.stages, strict=True)
        ]
        return self.fuse(torch.cat([x, *pooled], 1))


class UPerNetDecoder(nn.Module):
    """UPerNet: PPM + FPN over strides 4..32, all levels fused at stride 4.

    Top-down steps and the steps that bring each level to stride 4 are chains of x2 upsamplers, each
    guided (for FADE) by the lateral feature of the next finer level. Output at stride 4.

    Args:
        encoder_channels: channels of the five encoder features (strides 2..32; stride 2 is unused).
        upsampler: ``bilinear``, ``fade``, ``dysample`` or ``carafe``.
        channels: channels of the pyramid and the fused output.
    """

    def __init__(
        self,
        encoder_channels: Sequence[int],
        upsampler: str = "bilinear",
        channels: int = 128,
    ) -> None:
        super().__init__()
        enc = list(encoder_channels[1:])  # strides 4, 8, 16, 32
        n = len(enc)
        self.ppm = PPM(enc[-1], channels)
        self.lateral = nn.ModuleList(conv_bn_relu(c, channels, 1) for c in enc[:-1])
        self.fpn_convs = nn.ModuleList(conv_bn_relu(channels, channels) for _ in enc[:-1])
        self.top_down = nn.ModuleList(build_upsampler(upsampler, channels) for _ in range(n - 1))
        # level i (stride 4 * 2**i) needs i x2 steps to reach stride 4
        self.to_fine = nn.ModuleList(
            nn.ModuleList(build_upsampler(upsampler, channels) for _ in range(i)) for i in range(n)
        )
        self.fuse = conv_bn_relu(n * channels, channels)
        self.out_channels = channels
        self.output_stride = 4

    def forward(self, feats: list[torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        f = feats[1:]  # strides 4..32
        lat = [conv(x) for conv, x in zip(self.lateral, f[:-1], strict=True)] + [self.ppm(f[-1])]
        for i in range(len(lat) - 2, -1, -1):
            lat[i] = lat[i] + self.top_down[i](lat[i + 1], lat[i])
        outs = [conv(x) for conv, x in zip(self.fpn_convs, lat[:-1], strict=True)] + [lat[-1]]
        fused = []
        for i, x in enumerate(outs):
            for step, up in enumerate(cast(nn.ModuleList, self.to_fine[i])):
                x = up(x, lat[i - step - 1])  # guide: the next finer level
            fused.append(x)
        return self.fuse(torch.cat(fused, 1))  # (B, C, H/4, W/4)
