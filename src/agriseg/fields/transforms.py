"""PRUE's training augmentations for two-window Sentinel-2 chips, on batched tensors.

Per sample, independently: normalisation divisor drawn from U(1500, 4500) instead of the fixed 3000 (the
"brightness" robustness), rotation by an angle in [-90, 90] degrees, horizontal / vertical flips, sharpness,
random resized crop back to the chip size (scale 0.3-0.9, p 0.5; the "resize" robustness) and swapping the
two windows (p 0.5; input-order invariance).

Inputs are model inputs already divided by ``base_divisor`` (3000, what :class:`agriseg.fields.dataset.FTWDataset`
returns), so the divisor draw is a rescale by ``base_divisor / d``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from agriseg.fields.config import FieldsAugmentConfig
from agriseg.fields.sentinel2 import FTW_DIVISOR, swap_windows

# PIL's ImageFilter.SMOOTH kernel used by sharpness (factor 0 = smoothed, 1 = original, 2 = sharper)
_SMOOTH = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0


def adjust_sharpness(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend ``(C, H, W)`` with its PIL-style smoothed version; border pixels are kept (as PIL does)."""
    c = x.shape[0]
    k = _SMOOTH.to(x).expand(c, 1, 3, 3)
    smooth = F.conv2d(x.unsqueeze(0), k, groups=c)[0]  # (C, H-2, W-2)
    out = x.clone()
    inner = x[:, 1:-1, 1:-1]
    out[:, 1:-1, 1:-1] = smooth + factor * (inner - smooth)
    return out.clamp_min(0.0)


def rotate(
    x: torch.Tensor, mask: torch.Tensor, degrees: float, ignore_index: int = 3
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate ``(C, H, W)`` (bilinear, zero fill) and ``(H, W)`` (nearest, ``ignore_index`` fill)."""
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    h, w = x.shape[-2:]
    mat = torch.tensor([[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]], dtype=torch.float32, device=x.device)
    grid = F.affine_grid(mat.unsqueeze(0), [1, 1, h, w], align_corners=False)  # (1, H, W, 2)
    xr = F.grid_sample(x.unsqueeze(0).float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    inside = F.grid_sample(
        torch.ones(1, 1, h, w, device=x.device),
        grid,
        mode="nearest",
        padding_mode="zeros",
        align_corners=False,
    )[0, 0]
    mr = F.grid_sample(mask[None, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)[0, 0]
    mr = torch.where(inside > 0.5, mr, torch.full_like(mr, ignore_index)).round().to(mask.dtype)
    return xr, mr


def resized_crop(
    x: torch.Tensor, mask: torch.Tensor, top: int, left: int, ch: int, cw: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop ``(C, H, W)`` / ``(H, W)`` and resize back to ``(H, W)`` (bilinear / nearest)."""
    h, w = x.shape[-2:]
    xc = x[:, top : top + ch, left : left + cw].unsqueeze(0)
    mc = mask[top : top + ch, left : left + cw][None, None].float()
    xr = F.interpolate(xc.float(), size=(h, w), mode="bilinear", align_corners=False)[0]
    mr = F.interpolate(mc, size=(h, w), mode="nearest")[0, 0].to(mask.dtype)
    return xr, mr


def sample_crop(
    h: int, w: int, scale: tuple[float, float], ratio: tuple[float, float], gen: torch.Generator
) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop parameter draw: ``(top, left, height, width)``."""
    area = h * w
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * torch.rand(1, generator=gen).item())
        ar = math.exp(log_r[0] + (log_r[1] - log_r[0]) * torch.rand(1, generator=gen).item())
        cw, ch = round(math.sqrt(target * ar)), round(math.sqrt(target / ar))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
            return top, left, ch, cw
    side = min(h, w)
    return (h - side) // 2, (w - side) // 2, side, side


class FieldAugment(nn.Module):
    """PRUE augmentations applied independently to every sample of a batch.

    Args:
        config: probabilities and ranges (the ``augment`` section of a fields training config).
        base_divisor: the divisor the inputs were scaled with (``divisor_range`` rescales from it).
        ignore_index: label written where a rotation leaves no data.
        seed: seed of the module's own generator (None = nondeterministic).
    """

    def __init__(
        self,
        config: FieldsAugmentConfig | None = None,
        base_divisor: float = FTW_DIVISOR,
        ignore_index: int = 3,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.cfg = config or FieldsAugmentConfig()
        self.base_divisor, self.ignore_index = base_divisor, ignore_index
        self.gen = torch.Generator()
        if seed is not None:
            self.gen.manual_seed(seed)
        else:
            self.gen.seed()

    def _u(self) -> float:
        return torch.rand(1, generator=self.gen).item()

    def _sample(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (C, H, W) scaled by base_divisor; m: (H, W)
        c = self.cfg
        if c.divisor_range is not None:
            d = c.divisor_range[0] + (c.divisor_range[1] - c.divisor_range[0]) * self._u()
            x = x * (self.base_divisor / d)
        if c.swap_p and x.shape[0] == 8 and self._u() < c.swap_p:
            x = swap_windows(x)
        if c.rotate_p and self._u() < c.rotate_p:
            x, m = rotate(x, m, (2 * self._u() - 1) * c.max_degrees, self.ignore_index)
        if c.hflip_p and self._u() < c.hflip_p:
            x, m = x.flip(-1), m.flip(-1)
        if c.vflip_p and self._u() < c.vflip_p:
            x, m = x.flip(-2), m.flip(-2)
        if c.sharpness_p and self._u() < c.sharpness_p:
            lo, hi = c.sharpness_range
            x = adjust_sharpness(x, lo + (hi - lo) * self._u())
        if c.resized_crop_p and self._u() < c.resized_crop_p:
            x, m = resized_crop(x, m, *sample_crop(x.shape[-2], x.shape[-1], c.crop_scale, c.crop_ratio, self.gen))
        return x, m

    @torch.no_grad()
    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment a batch: ``image (B, C, H, W)``, ``mask (B, H, W)`` -> same shapes."""
        outs = [self._sample(image[i], mask[i]) for i in range(image.shape[0])]
        return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])


__all__ = ["FieldAugment", "adjust_sharpness", "resized_crop", "rotate", "sample_crop"]
