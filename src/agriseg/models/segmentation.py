"""The encoder-decoder segmentation model shared by every CNN architecture."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from agriseg.models.config import WIDTH_DECODERS, ModelConfig
from agriseg.models.decoders import DECODERS
from agriseg.models.encoders import Encoder

# the constructor argument that sets each decoder's width from ``ModelConfig.decoder_channels``
DECODER_WIDTH_ARG: dict[str, str] = {"fpn": "pyramid_channels", "upernet": "channels"}
assert set(DECODER_WIDTH_ARG) == set(WIDTH_DECODERS)  # the config's check names the same decoders


def decoder_width_kwargs(arch: str, channels: int | None) -> dict[str, int]:
    """Keyword arguments that set the decoder width (empty for ``None``: the decoder's default); a width for a
    decoder without one (``unet``) was refused by :class:`ModelConfig`."""
    return {} if channels is None else {DECODER_WIDTH_ARG[arch]: channels}


def normalise_and_pad(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, stride: int) -> torch.Tensor:
    """``(x - mean) / std``, padded at the bottom/right to a multiple of ``stride`` (reflect where possible)."""
    # x: (B, C, H, W) -> (B, C, H + ph, W + pw)
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    x = (x - mean) / std
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
    return x


class SegmentationModel(nn.Module):
    """Encoder + decoder + 1x1 head; takes images scaled to [0, 1], returns logits at input size.

    Normalisation (``mean``/``std``) lives in the model, so a checkpoint carries its own preprocessing.
    Inputs of any size are padded (reflect) to a multiple of 32 and the logits cropped back.

    Args:
        config: the model config.
    """

    stride = 32

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.encoder, config.in_channels, config.encoder_weights)
        self.decoder = DECODERS[config.arch](
            self.encoder.out_channels,
            upsampler=config.upsampler,
            **decoder_width_kwargs(config.arch, config.decoder_channels),
        )
        self.head = nn.Conv2d(cast(int, self.decoder.out_channels), config.num_classes, 1)
        self.register_buffer("mean", torch.tensor(config.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config.std).view(1, -1, 1, 1), persistent=False)

    mean: torch.Tensor  # (1, Cin, 1, 1) buffer
    std: torch.Tensor  # (1, Cin, 1, 1) buffer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, Cin, H, W) in [0, 1] -> logits (B, K, H, W)
        h, w = x.shape[-2:]
        x = normalise_and_pad(x, self.mean, self.std, self.stride)
        y = self.head(self.decoder(self.encoder(x), x))  # (B, K, H', W') at the decoder's stride
        if y.shape[-2:] != x.shape[-2:]:
            y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y[..., :h, :w]
