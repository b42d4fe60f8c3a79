"""DySample (Liu et al., ICCV 2023): upsampling by learned point sampling with ``grid_sample``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DySample(nn.Module):
    """DySample x2 upsampler ("LP" style, offsets predicted from the low-resolution input).

    With zero offsets it equals bilinear upsampling (``align_corners=False``); the offset conv starts
    near zero, so training starts from bilinear.

    Args:
        channels: input channels (divisible by ``groups``).
        guide_channels: unused (kept for a uniform constructor).
        groups: channel groups that share one offset field.
        dynamic: use the dynamic scope factor ``0.5 * sigmoid(conv(x))`` instead of the static 0.25.
    """

    def __init__(
        self, channels: int, guide_channels: int | None = None, groups: int = 4, dynamic: bool = False
    ) -> None:
        super().__init__()
        if channels % groups:
            groups = 1
        self.groups, self.scale = groups, 2
        n_off = 2 * groups * self.scale**2
        self.offset = nn.Conv2d(channels, n_off, 1)
        nn.init.normal_(self.offset.weight, std=1e-3)
        nn.init.zeros_(self.offset.bias)  # type: ignore[arg-type]  # Conv2d(bias=True) has a bias; the stub says optional
        self.scope = nn.Conv2d(channels, n_off, 1) if dynamic else None
        if self.scope is not None:
            nn.init.zeros_(self.scope.weight)
            nn.init.constant_(self.scope.bias, 0.0)  # type: ignore[arg-type]  # as above

    def forward(self, x: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        s, g = self.scale, self.groups
        off = self.offset(x)  # (B, 2*g*s*s, H, W)
        off = off * (0.5 * torch.sigmoid(self.scope(x)) if self.scope is not None else 0.25)
        off = F.pixel_shuffle(off.reshape(b * g, 2 * s * s, h, w), s)  # (B*g, 2, sH, sW), in input pixels
        ys = (torch.arange(s * h, device=x.device, dtype=x.dtype) + 0.5) / s - 0.5
        xs = (torch.arange(s * w, device=x.device, dtype=x.dtype) + 0.5) / s - 0.5
        px = xs.view(1, 1, -1) + off[:, 0]  # (B*g, sH, sW)
        py = ys.view(1, -1, 1) + off[:, 1]
        grid = torch.stack((2 * (px + 0.5) / w - 1, 2 * (py + 0.5) / h - 1), dim=-1)  # (B*g, sH, sW, 2)
        out = F.grid_sample(
            x.reshape(b * g, c // g, h, w), grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        return out.reshape(b, c, s * h, s * w)
