"""Units of the traits: pixels, or millimetres from a given scale or a reference object of known size."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from agriseg.crop.config import MAX_PX_PER_MM, MIN_PX_PER_MM

SIGNIFICANT = 6  # significant digits of the values written (at least every digit before the point)
ANGLES = ("ellipse_angle", "mean_hue")  # traits in degrees


def tidy(value: Any) -> Any:
    """Floats rounded to :data:`SIGNIFICANT` significant digits (never below the units), inside dicts and
    lists too, so ``1200.0000000000002`` is written ``1200.0``."""
    if isinstance(value, float):
        if not math.isfinite(value) or value == 0:
            return value
        digits = max(SIGNIFICANT, int(math.floor(math.log10(abs(value)))) + 1)
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tidy(v) for v in value]
    return value


def unit_names(px_per_mm: float | None) -> dict[int, str]:
    """Dimension (0 = none, 1 = length, 2 = area) -> unit name."""
    return {0: "", 1: "mm", 2: "mm2"} if px_per_mm else {0: "", 1: "px", 2: "px2"}


def parse_box(text: str) -> tuple[int, int, int, int]:
    """``"X,Y,W,H"`` -> ints (W, H >= 1) (the messages leave the value to the caller, which names it)."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError as err:
        raise ValueError("a box is X,Y,W,H in pixels (e.g. 10,20,100,80)") from err
    if w < 1 or h < 1:
        raise ValueError("a box's width and height must be >= 1")
    return x, y, w, h


def _disc(radius: int) -> np.ndarray:
    """A disc-shaped structuring element of ``radius`` pixels."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return np.asarray(xx**2 + yy**2 <= radius**2)


def _part_at_centre(obj: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box of the connected part of ``obj`` at its centre, or nearest to it; None when empty."""
    lab, n = ndimage.label(obj)
    if n == 0:
        return None
    cy, cx = (obj.shape[0] - 1) / 2, (obj.shape[1] - 1) / 2
    ys, xs = np.nonzero(lab)
    nearest = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    found = ndimage.find_objects((lab == lab[ys[nearest], xs[nearest]]).astype(np.int32))[0]
    return found[0], found[1]


def _touches_edge(sl: tuple[slice, slice], shape: tuple[int, ...]) -> bool:
    """Whether a bounding box reaches an edge of an array of ``shape``."""
    return sl[0].start == 0 or sl[1].start == 0 or sl[0].stop == shape[0] or sl[1].stop == shape[1]


def reference_scale(
    rgb: np.ndarray, box: tuple[int, int, int, int], size_mm: float, warnings: list[str] | None = None
) -> float:
    """Pixels per millimetre from a reference object (a disc or square marker, a coin) inside a pixel box.

    Inside the box, the luminance is split in two by Otsu's threshold; the object is the side that touches
    the box's border less (the background surrounds it), and its connected part at the box's centre is the
    object (joins to background of its brightness, soil clods by a coin, opened until it stands alone). Its
    size in pixels is the longer side of its bounding box, which is ``size_mm`` in reality.

    Args:
        rgb: the photo ``(H, W, 3)`` uint8.
        box: ``(x, y, width, height)`` around the object, with background on every side.
        size_mm: the object's diameter or side in millimetres.
        warnings: where to say that the object found is no disc or square (its sides differ by over 15 %: a
            label or a ruler, whose longer side is taken as ``size_mm``).

    Raises:
        ValueError: a size that is not above 0; when the box reaches outside the image, holds no distinct object,
            or the object touches the box's edge (it may be cut).
    """
    x, y, w, h = box
    if not size_mm > 0:  # 0, negative or NaN: a ZeroDivisionError (or a negative scale) at the end
        raise ValueError(f"reference size {size_mm!r} mm: the object's size, above 0")
    if x < 0 or y < 0 or x + w > rgb.shape[1] or y + h > rgb.shape[0]:
        raise ValueError(f"reference box {box} reaches outside the {rgb.shape[1]}x{rgb.shape[0]} image")
    crop = rgb[y : y + h, x : x + w].astype(np.float64)
    if crop.shape[0] < 3 or crop.shape[1] < 3:
        raise ValueError(f"reference box {box} is under 3 px on a side")
    lum = crop @ np.array([0.299, 0.587, 0.114])
    if lum.max() - lum.min() < 1e-6:
        raise ValueError(f"reference box {box} is uniform: no object to measure")
    bright = lum > threshold_otsu(lum)
    border = np.concatenate([bright[0], bright[-1], bright[:, 0], bright[:, -1]])
    obj = ~bright if border.mean() > 0.5 else bright
    if not obj.any():
        raise ValueError(f"reference box {box} holds no object")
    sl = None
    # the object is the part at the box's centre (the user boxed it); on soil, clods of its brightness can touch
    # it: thin joins to them are opened, wider and wider, until it stands alone (an opening keeps a disc's size)
    for radius in (0, 1, 2, 3, 5):
        part = _part_at_centre(ndimage.binary_opening(obj, _disc(radius)) if radius else obj)
        if part is not None and not _touches_edge(part, obj.shape):
            sl = part
            break
    if sl is None:
        raise ValueError(
            f"the object in reference box {box} touches the box's edge, or cannot be told from the background "
            "around it: give a box with background on every side, or a marker on a plain card"
        )
    tall, wide = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
    side = max(tall, wide)
    if warnings is not None and side > 1.15 * min(tall, wide):
        warnings.append(
            f"the object in reference box {box} is {wide}x{tall} px, no disc or square: its longer side is taken "
            f"as {size_mm:g} mm"
        )
    if not MIN_PX_PER_MM <= side / size_mm <= MAX_PX_PER_MM:
        raise ValueError(
            f"the object in reference box {box} ({side} px for {size_mm:g} mm) gives {side / size_mm:.3g} px per "
            f"mm, outside {MIN_PX_PER_MM:g}-{MAX_PX_PER_MM:g}: check --reference-mm"
        )
    return side / size_mm
