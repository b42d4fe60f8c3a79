"""x2 feature upsamplers, selectable by name.

Every upsampler has the call signature ``up(x, guide)`` where ``x`` is the low-resolution decoder
feature ``(B, C, H, W)`` and ``guide`` is an optional higher-resolution encoder feature
``(B, Cg, 2H, 2W)``; it returns ``(B, C, 2H, 2W)``. Operators that do not use a guide ignore it.
"""

from __future__ import annotations

from typing import get_args

from torch import nn

from agriseg.models.config import UpsamplerName
from agriseg.models.upsamplers.bilinear import BilinearUpsampler
from agriseg.models.upsamplers.carafe import CARAFE
from agriseg.models.upsamplers.dysample import DySample
from agriseg.models.upsamplers.fade import FADE

UPSAMPLERS: dict[str, type[nn.Module]] = {
    "bilinear": BilinearUpsampler,
    "fade": FADE,
    "dysample": DySample,
    "carafe": CARAFE,
}
if set(UPSAMPLERS) != set(get_args(UpsamplerName)):  # the config's names and the registry must agree
    raise ImportError(f"UPSAMPLERS {sorted(UPSAMPLERS)} differ from UpsamplerName {get_args(UpsamplerName)}")


def build_upsampler(name: str, channels: int, guide_channels: int | None = None) -> nn.Module:
    """Build a x2 upsampler by name.

    Args:
        name: one of ``bilinear``, ``fade``, ``dysample``, ``carafe``.
        channels: channels of the decoder feature to upsample.
        guide_channels: channels of the encoder guide feature (FADE only); ``None`` = same as ``channels``.

    Returns:
        The upsampler module.

    Raises:
        ValueError: if ``name`` is unknown; the message lists the valid names.
    """
    if name not in UPSAMPLERS:
        raise ValueError(f"unknown upsampler {name!r}; valid names: {', '.join(sorted(UPSAMPLERS))}")
    return UPSAMPLERS[name](channels=channels, guide_channels=guide_channels)


__all__ = [
    "UPSAMPLERS",
    "UpsamplerName",
    "build_upsampler",
    "BilinearUpsampler",
    "FADE",
    "DySample",
    "CARAFE",
]
