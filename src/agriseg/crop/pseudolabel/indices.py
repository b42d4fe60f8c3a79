"""Vegetation indices from RGB photos, all oriented so that larger = more likely vegetation.

Every index takes a ``uint8`` RGB image ``(H, W, 3)`` and returns ``float32`` ``(H, W)``.

- ``exg``: excess green on chromatic coordinates, ``2g - r - b`` with ``r = R / (R + G + B)``
  (Woebbecke 1995).
- ``exg_exr``: excess green minus excess red, ``ExG - (1.4r - g)`` (Meyer & Neto 2008); > 0 is vegetation.
- ``cive``: colour index of vegetation extraction (Kataoka 2003),
  ``0.441R - 0.811G + 0.385B + 18.78745``; vegetation is *low*, so the negated value is returned.
- ``lab_a``: CIELAB a* (green-red axis); vegetation is negative a*, so ``-a*`` is returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

IndexName = Literal["exg", "exg_exr", "cive", "lab_a"]

# value above which a pixel counts as clearly green, per index (raw units of the returned index);
# used only for the full-coverage check, never for the GGHT threshold itself
GREEN_LEVEL: dict[str, float] = {"exg": 0.10, "exg_exr": 0.05, "cive": 8.0, "lab_a": 8.0}

# a barely green pixel: green 18 levels (7 % of full scale) above red and blue at mid grey. A colour-index
# threshold below its index would call grey or brown pixels vegetation (GGHT always splits the histogram in
# two, even of bare soil); chosen once from the colour, not fitted to any photo
BARELY_GREEN_RGB: tuple[int, int, int] = (100, 118, 100)


def _channels(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """R, G, B as float32 ``(H, W)`` each and ``1 / (R + G + B)`` (black pixels: 1 / 1)."""
    import cv2  # OpenCV comes with the [train] extra: imported on use so the configs load without it

    r, g, b = (c.astype(np.float32) for c in cv2.split(np.ascontiguousarray(rgb)))
    s = r + g + b
    np.maximum(s, 1.0, out=s)
    return r, g, b, 1.0 / s


def exg(rgb: np.ndarray) -> np.ndarray:
    """Excess green ``2g - r - b`` on chromatic coordinates (range [-1, 2])."""
    r, g, b, inv = _channels(rgb)
    return (2 * g - r - b) * inv


def exg_exr(rgb: np.ndarray) -> np.ndarray:
    """Excess green minus excess red ``(2g - r - b) - (1.4r - g)`` on chromatic coordinates."""
    r, g, b, inv = _channels(rgb)
    return (3 * g - 2.4 * r - b) * inv


def cive(rgb: np.ndarray) -> np.ndarray:
    """Negated CIVE ``-(0.441R - 0.811G + 0.385B + 18.78745)`` on 0-255 channels (larger = greener)."""
    import cv2  # OpenCV comes with the [train] extra: imported on use so the configs load without it

    r, g, b = (c.astype(np.float32) for c in cv2.split(np.ascontiguousarray(rgb)))
    return 0.811 * g - 0.441 * r - 0.385 * b - 18.78745


def lab_a(rgb: np.ndarray) -> np.ndarray:
    """Negated CIELAB a* (about -128..127; larger = greener), from OpenCV's 8-bit Lab conversion."""
    import cv2  # OpenCV comes with the [train] extra: imported on use so the configs load without it

    lab = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2LAB)  # (H, W, 3), a* + 128
    return 128.0 - lab[..., 1].astype(np.float32)


INDICES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exg": exg,
    "exg_exr": exg_exr,
    "cive": cive,
    "lab_a": lab_a,
}


def vegetation_index(rgb: np.ndarray, name: IndexName = "exg") -> np.ndarray:
    """Compute a vegetation index by name.

    Args:
        rgb: ``uint8`` image ``(H, W, 3)``.
        name: one of :data:`INDICES`.

    Returns:
        ``float32`` ``(H, W)``, larger = greener.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones) or a non-RGB array.
    """
    if name not in INDICES:
        raise ValueError(f"unknown vegetation index {name!r}; valid: {', '.join(INDICES)}")
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {rgb.shape}")
    return INDICES[name](rgb).astype(np.float32, copy=False)


def green_floor(name: IndexName, rgb: np.ndarray | None = None) -> float:
    """The index ``name`` of :data:`BARELY_GREEN_RGB`, darkened to ``rgb``'s median pixel when that is darker
    (``(H, W, 3)``; None: as it is): the lowest threshold a colour-index pseudo-label takes where its fit is weak
    (:func:`~agriseg.crop.pseudolabel.gght.gght`). CIVE and a* of a colour grow with its brightness, so in a dark
    photo a fixed floor would lie above its plants; never brightened (the median of a photo of dark plants on
    bright sand is the sand's: the floor would lie above the plants)."""
    ref = np.array(BARELY_GREEN_RGB, np.float32)
    if rgb is not None and rgb.size:
        grey = float(np.median(rgb.reshape(-1, 3).astype(np.float32).mean(axis=1)))  # the photo's median grey
        ref = ref * min(1.0, max(grey, 1.0) / float(ref.mean()))
    pixel = np.clip(np.round(ref), 0, 255).astype(np.uint8)[None, None]  # (1, 1, 3)
    return float(vegetation_index(pixel, name)[0, 0])


def green_fraction(rgb: np.ndarray, level: float = GREEN_LEVEL["exg"]) -> float:
    """Share of pixels whose excess green exceeds ``level`` (a colour-only check for dense canopy)."""
    return float((exg(rgb) > level).mean())
