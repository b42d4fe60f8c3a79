"""Decoders whose x2 upsampling steps use a selectable upsampler.

Written here instead of taken from smp because smp's decoders hard-code ``F.interpolate``; FADE needs the
encoder feature of the finer level at every step, which only a decoder built around it can pass.
"""

from __future__ import annotations

from typing import get_args

from torch import nn

from agriseg.models.config import DecoderName
from agriseg.models.decoders.fpn import FPNDecoder
from agriseg.models.decoders.unet import UNetDecoder
from agriseg.models.decoders.upernet import UPerNetDecoder

DECODERS: dict[str, type[nn.Module]] = {"unet": UNetDecoder, "fpn": FPNDecoder, "upernet": UPerNetDecoder}
if set(DECODERS) != set(get_args(DecoderName)):  # the config's names and the registry must agree
    raise ImportError(f"DECODERS {sorted(DECODERS)} differ from DecoderName {get_args(DecoderName)}")

__all__ = ["DECODERS", "DecoderName", "UNetDecoder", "FPNDecoder", "UPerNetDecoder"]
