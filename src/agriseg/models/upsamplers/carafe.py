"""CARAFE (Wang et al., ICCV 2019): content-aware reassembly with kernels predicted from the input."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from agriseg.models.upsamplers.reassemble import reassemble_x2


class CARAFE(nn.Module):
    """Plain CARAFE x2 upsampler (k_up 5, k_encoder 3, compressed 64 channels); ignores the guide.

    Args:
        channels: input channels.
        guide_channels: unused (kept for a uniform constructor).
        compressed: channels of the kernel-prediction branch.
        k_up: reassembly kernel size.
    """

    def __init__(self, channels: int, guide_channels: int | None = None, compressed: int = 64, k_up: int = 5) -> None:
        super().__init__()
        self.k_up = k_up
        self.compress = nn.Conv2d(channels, compressed, 1)
        self.encoder = nn.Conv2d(compressed, k_up * k_up * 4, 3, padding=1)

    def forward(self, x: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        kern = self.encoder(self.compress(x))  # (B, 4*k*k, H, W)
        kern = F.pixel_shuffle(kern, 2).softmax(dim=1)  # (B, k*k, 2H, 2W)
        return reassemble_x2(x, kern, self.k_up)
