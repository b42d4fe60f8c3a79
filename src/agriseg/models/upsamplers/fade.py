"""FADE (Lu et al., IJCV 2024): upsampling that fuses decoder and encoder features.

Kernels come from both the low-resolution decoder feature D and the high-resolution encoder feature E;
a gate mixes the reassembled decoder feature with E itself, so detail from the encoder survives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from agriseg.models.upsamplers.reassemble import reassemble_x2


class FADE(nn.Module):
    """FADE x2 upsampler.

    Args:
        channels: channels C of the decoder feature D.
        guide_channels: channels of the encoder feature E; projected to C by a 1x1 conv when different.
        compressed: channels of the kernel generator.
        k_up: reassembly kernel size.
    """

    def __init__(self, channels: int, guide_channels: int | None = None, compressed: int = 64, k_up: int = 5) -> None:
        super().__init__()
        guide_channels = guide_channels or channels
        self.k_up = k_up
        self.project = nn.Identity() if guide_channels == channels else nn.Conv2d(guide_channels, channels, 1)
        self.enc_compress = nn.Conv2d(channels, compressed, 1)
        self.dec_compress = nn.Conv2d(channels, compressed, 1, bias=False)
        self.kernel_conv = nn.Conv2d(compressed, k_up * k_up, 3, padding=1)  # shared by E and D
        self.gate = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        # x = D: (B, C, H, W); guide = E: (B, Cg, 2H, 2W)
        if guide is None:
            raise ValueError("FADE needs an encoder guide feature at twice the input resolution")
        e = self.project(guide)  # (B, C, 2H, 2W)
        k_e = self.kernel_conv(self.enc_compress(e))  # (B, k*k, 2H, 2W)
        k_d = self.kernel_conv(self.dec_compress(x))  # (B, k*k, H, W)
        kern = (k_e + F.interpolate(k_d, scale_factor=2, mode="nearest")).softmax(dim=1)
        g = torch.sigmoid(F.interpolate(self.gate(x), scale_factor=2, mode="nearest"))  # (B, 1, 2H, 2W)
        return g * e + (1 - g) * reassemble_x2(x, kern, self.k_up)
