"""Plain bilinear x2 upsampling (the baseline of the paper's Table V)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BilinearUpsampler(nn.Module):
    """Bilinear x2 upsampling; parameter-free, ignores the guide."""

    def __init__(self, channels: int, guide_channels: int | None = None) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C, H, W) -> (B, C, 2H, 2W)
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
