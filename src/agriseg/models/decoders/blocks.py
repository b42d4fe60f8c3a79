"""Small building blocks shared by the decoders."""

from __future__ import annotations

from torch import nn


def conv_bn_relu(cin: int, cout: int, k: int = 3) -> nn.Sequential:
    """Conv (no bias) + BatchNorm + ReLU, 'same' padding."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))
