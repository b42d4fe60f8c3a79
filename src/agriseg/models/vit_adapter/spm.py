"""Spatial prior module: a small conv stem that gives the ViT-Adapter its local, multi-scale features."""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SpatialPriorModule(nn.Module):
    """Conv stem to stride 4, strided convs to 8, 16, 32, and 1x1 projections to the ViT width.

    The stride-2 map inside the stem (before its max-pool) is returned too, so the adapter can fill the
    stride-2 level of agriseg's five-level encoder interface.

    Args:
        in_channels: image channels.
        inplanes: stem width (``conv_inplane`` in ViT-Adapter; 64 in every published size).
        dim: ViT embedding width.
    """

    def __init__(self, in_channels: int = 3, inplanes: int = 64, dim: int = 384) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            *_conv_bn_relu(in_channels, inplanes, 2),
            *_conv_bn_relu(inplanes, inplanes),
            *_conv_bn_relu(inplanes, inplanes),
        )
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Sequential(*_conv_bn_relu(inplanes, 2 * inplanes, 2))
        self.conv3 = nn.Sequential(*_conv_bn_relu(2 * inplanes, 4 * inplanes, 2))
        self.conv4 = nn.Sequential(*_conv_bn_relu(4 * inplanes, 4 * inplanes, 2))
        self.fc1 = nn.Conv2d(inplanes, dim, 1)
        self.fc2 = nn.Conv2d(2 * inplanes, dim, 1)
        self.fc3 = nn.Conv2d(4 * inplanes, dim, 1)
        self.fc4 = nn.Conv2d(4 * inplanes, dim, 1)
        self.out_channels_stride2 = inplanes

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return ``[s2, c1, c2, c3, c4]``.

        Args:
            x: ``(B, Cin, H, W)`` normalised image, ``H`` and ``W`` multiples of 32.

        Returns:
            ``s2`` ``(B, inplanes, H/2, W/2)``, then ``(B, dim, H/s, W/s)`` for ``s`` = 4, 8, 16, 32.
        """
        s2 = self.stem(x)  # (B, inplanes, H/2, W/2)
        c1 = self.pool(s2)  # (B, inplanes, H/4, W/4)
        c2 = self.conv2(c1)  # (B, 2*inplanes, H/8, W/8)
        c3 = self.conv3(c2)  # (B, 4*inplanes, H/16, W/16)
        c4 = self.conv4(c3)  # (B, 4*inplanes, H/32, W/32)
        return [s2, self.fc1(c1), self.fc2(c2), self.fc3(c3), self.fc4(c4)]
