"""Units of the traits: pixels, or millimetres from a given scale or a reference object of known size."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage

from agriseg.crop.config import MAX_PX_PER_MM, MIN_PX_PER_MM

SIGNIFICANT = 6  # significant digits of the values written (at least every digit before the point)
ANGLES = ("ellipse_angle", "mean_hue")  # traits in degrees
MIN_CONTRAST = 20.0  # RGB distance (0-255 levels) under which a reference object and its background are alike


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


def table_cell(value: Any) -> Any:  # noqa: ANN401 - any value of a trait table
    """A CSV cell of every trait table (``traits.csv``, ``growth.csv``, plots tables): no value (None, or NaN
    from a plot outside the mosaic) is an empty cell, never ``nan``; a yes/no value is 1 or 0, and a whole
    number has no ``.0`` (37 mm, a rate of 0)."""
    missing = type(value).__name__ in ("NAType", "NaTType")  # pandas' of an integer or yes/no column, of a time
    if value is None or missing or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating) and abs(float(value)) < 2**53 and float(value).is_integer():
        return int(value)  # (below 2**53: every whole float is exact; NaN and inf fail the test)
    return int(value) if isinstance(value, bool | np.bool_) else value


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


def _object_masks(crop: np.ndarray) -> list[np.ndarray]:
    """Candidate object pixels ``(h, w)`` bool of a box ``(h, w, 3)`` around a marker, with background on every
    side: (1) the side of Otsu's luminance threshold that touches the box's border less; (2) the pixels nearer in
    colour to the box's centre than to its border. The first alone split a white disc on pale speckled soil
    between the specks and all the rest (and measured a speck); the second alone measures only the middle of a
    two-tone marker (a bimetallic coin, a bullseye, a frame): :func:`reference_scale` takes the larger marker."""
    from skimage.filters import threshold_otsu

    out = []
    lum = crop @ np.array([0.299, 0.587, 0.114])  # (h, w)
    if np.ptp(lum) > 1e-6:
        bright = lum > threshold_otsu(lum)
        border = np.concatenate([bright[0], bright[-1], bright[:, 0], bright[:, -1]])
        out.append(~bright if border.mean() > 0.5 else bright)
    h, w = crop.shape[:2]
    r = max(1, min(h, w) // 20)  # the middle tenth of the box: inside a marker drawn around, even loosely
    centre = np.median(crop[h // 2 - r : h // 2 + r + 1, w // 2 - r : w // 2 + r + 1].reshape(-1, 3), axis=0)
    edge = np.median(np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]]), axis=0)
    if np.linalg.norm(centre - edge) >= MIN_CONTRAST:
        out.append(np.linalg.norm(crop - centre, axis=-1) < np.linalg.norm(crop - edge, axis=-1))
    return out


def _marker(obj: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box of the marker in candidate object pixels ``(h, w)``: the part at the box's centre, opened
    free of what joins it (None when it touches the box's edge or there is none).

    On soil, clods of the marker's colour can touch it: thin joins are opened, wider and wider, until it stands
    alone (an opening keeps a disc's size); wider ones by openings of a part still holding the box's centre, up to
    a sixth of the box (a marker drawn around with background on every side is wider than a third of it). Then
    clods pressed against it are taken off by an opening of a quarter of its shorter side, which keeps a disc's or
    a rectangle's extent and removes what is narrower than half of it."""
    sl = None
    wide_radii = [r for r in (8, 12, 18, 27, 40) if r <= min(obj.shape) // 6]
    for radius in (0, 1, 2, 3, 5, *wide_radii):
        part = _part_at_centre(_open(obj, radius) if radius else obj)
        if part is not None and not _touches_edge(part, obj.shape) and (radius <= 5 or _holds_centre(part, obj.shape)):
            sl = part
            break
    if sl is None:
        return None
    if (radius := min(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start) // 4) > 5:
        part = _part_at_centre(_open(obj, radius))
        if part is not None and not _touches_edge(part, obj.shape):
            sl = part
    return sl


def _sides(sl: tuple[slice, slice]) -> tuple[int, int]:
    """(height, width) of a bounding box."""
    return sl[0].stop - sl[0].start, sl[1].stop - sl[1].start


def _open(obj: np.ndarray, radius: int) -> np.ndarray:
    """The opening of ``obj`` ``(h, w)`` bool by a disc of ``radius`` px (offsets with x^2 + y^2 <= r^2), outside
    the array counting as background: ``ndimage.binary_opening(obj, disc)``, through two Euclidean distance
    transforms instead of the disc's every offset (a 40-px disc over a whole photo took a minute; this is linear
    in the pixels, whatever the radius). Written here: scikit-image's decomposed discs approximate the disc."""
    padded = np.pad(obj, 1)  # (h + 2, w + 2): the array's outside is background, as binary_opening's border
    eroded = ndimage.distance_transform_edt(padded) > radius  # no background pixel within the disc
    if not eroded.any():
        return np.zeros_like(obj, dtype=bool)
    opened = ndimage.distance_transform_edt(~eroded) <= radius  # within the disc of a pixel kept
    return np.asarray(opened[1:-1, 1:-1])


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


def _holds_centre(sl: tuple[slice, slice], shape: tuple[int, ...]) -> bool:
    """Whether a bounding box holds the centre of an array of ``shape``."""
    return sl[0].start <= shape[0] // 2 < sl[0].stop and sl[1].start <= shape[1] // 2 < sl[1].stop


def _touches_edge(sl: tuple[slice, slice], shape: tuple[int, ...]) -> bool:
    """Whether a bounding box reaches an edge of an array of ``shape``."""
    return sl[0].start == 0 or sl[1].start == 0 or sl[0].stop == shape[0] or sl[1].stop == shape[1]


# a marker is at least this many pixels across (a 1-px error is then under 12 %), and a box at most this many
# times the marker's size: what is smaller is a speck the box happened to hold (a 1 px object gave 0.033 px/mm)
MIN_MARKER_PX = 8
MAX_BOX_TO_MARKER = 10


def reference_scale(
    rgb: np.ndarray, box: tuple[int, int, int, int], size_mm: float, warnings: list[str] | None = None
) -> float:
    """Pixels per millimetre from a reference object (a disc or square marker, a coin) inside a pixel box.

    The object is sought twice (:func:`_object_masks`): as the side of Otsu's luminance threshold that touches
    the box's border less, and as the pixels nearer in colour to the box's centre than to its border; each time
    it is the connected part at the box's centre, with what joins it opened off (:func:`_marker`). The larger
    marker found (a disc or square first) is the object; its size in pixels is the longer side of its bounding
    box, which is ``size_mm`` in reality.

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
    if np.ptp(crop) < 1e-6:
        raise ValueError(f"reference box {box} is uniform: no object to measure")
    found = [m for obj in _object_masks(crop) if (m := _marker(obj)) is not None]
    if not found:
        raise ValueError(
            f"the object in reference box {box} touches the box's edge, or cannot be told from the background "
            "around it: give a box with background on every side, or a marker on a plain card"
        )
    # the larger marker found, a disc or square first: the whole of a two-tone coin, not its middle; a white
    # disc on speckled soil, not a speck
    sl = max(found, key=lambda b: (max(_sides(b)) <= 1.15 * min(_sides(b)), max(_sides(b))))
    tall, wide = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
    side = max(tall, wide)
    if side < MIN_MARKER_PX or side * MAX_BOX_TO_MARKER < min(w, h):  # a speck of soil or glare, not a marker
        raise ValueError(
            f"the object found in reference box {box} is {side} px across, too small to be the marker (a speck of "
            f"the background?): draw the box close around the marker (at most {MAX_BOX_TO_MARKER}x its size)"
        )
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
