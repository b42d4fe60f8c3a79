"""The debug image of ``agriseg crop traits``: plants tinted in their own colours, outlined, with their ids."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage.segmentation import find_boundaries

from agriseg.crop.traits.regions import Region


def debug_image(
    labels: np.ndarray,
    rgb: np.ndarray | None,
    plants: list[dict],
    regions: list[Region] | None = None,
    px_per_mm: float | None = None,
    check: set[str] | None = None,
) -> np.ndarray:
    """An RGB ``(H, W, 3)`` uint8 picture of the plants and regions.

    Args:
        labels: plant labels ``(H, W)``.
        rgb: the photo (None: a gray background).
        plants: plant rows (``id``, ``centroid_x``, ``centroid_y`` in the units of ``px_per_mm``).
        regions: rectangles to draw with their ids.
        px_per_mm: scale of the centroids (None: pixels).
        check: ids of regions to check (the model was unsure of their plants): drawn in magenta, with "?".
    """
    h, w = labels.shape
    # a photo larger than a screen is seen shrunk to fit: lines and text grow with it (k = 1 up to 1,800 px,
    # where the picture is as it always was), so ids stay readable on a 8000 px photo
    k = max(1, round(max(h, w) / 1800))
    out = rgb.copy() if rgb is not None else np.full((h, w, 3), 96, np.uint8)  # (H, W, 3) uint8, no float copy
    palette = np.random.default_rng(0).integers(64, 256, size=(int(labels.max()) + 1, 3)).astype(np.uint16)
    fg = labels > 0
    out[fg] = ((out[fg].astype(np.uint16) + palette[labels[fg]]) // 2).astype(np.uint8)
    edge = find_boundaries(labels, mode="inner")
    if k > 1:
        from scipy import ndimage

        edge = ndimage.binary_dilation(edge, iterations=k - 1) & fg
    out[edge] = (255, 255, 0)
    im = Image.fromarray(out)
    draw = ImageDraw.Draw(im)
    font = _font(13 * k)  # PIL's fixed font was 10 px tall: a magenta "5?" on a brown tray rim was hard to read
    s = px_per_mm or 1.0
    for reg in regions or []:
        # a grid over plants 1 px wide has cells 0 px wide: drawn as a line, not refused by PIL
        x1, y1 = reg.x + max(reg.width, 1) - 1, reg.y + max(reg.height, 1) - 1
        if x1 < 0 or y1 < 0 or reg.x >= w or reg.y >= h:  # outside the photo (warned of): nothing to draw
            continue
        flagged = reg.id in (check or ())
        colour = (255, 0, 200) if flagged else (0, 200, 255)
        # clipped a little outside the picture (the sides beyond it stay unseen): PIL walks a rectangle's outline
        # whatever its length, and a --grid-box of 2**31 px drew for minutes
        pad = 8 * k
        corners = [max(reg.x, -pad), max(reg.y, -pad), min(x1, w + pad), min(y1, h + pad)]
        draw.rectangle(corners, outline=colour, width=(3 if flagged else 2) * k)
        label = reg.id + ("?" if flagged else "")
        draw.text((reg.x + 3 * k, reg.y + 2 * k), label, fill=colour, stroke_width=k, stroke_fill=(0, 0, 0), font=font)
    for p in plants:
        x, y = p["centroid_x"] * s, p["centroid_y"] * s
        draw.text(
            (x, y), str(p["id"]), fill=(255, 255, 255), stroke_width=k, stroke_fill=(0, 0, 0), anchor="mm", font=font
        )
    return np.asarray(im)


# PIL's own default font draws ASCII only: ids such as "Töpfe-3", "blé" or "Ж1" came out with boxes. agriseg
# ships no font, so a common one with Latin, Greek and Cyrillic letters is used where installed (Linux, Windows,
# macOS, or matplotlib's copy), PIL's default otherwise.
UNICODE_FONTS = ("DejaVuSans.ttf", "Arial.ttf", "arial.ttf", "Arial Unicode.ttf", "segoeui.ttf")


@functools.cache
def unicode_font() -> str | None:
    """The path of the first of :data:`UNICODE_FONTS` installed; None: none is."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("matplotlib")  # its own DejaVu Sans, found without importing it
    except (ImportError, ValueError):
        spec = None
    mpl = (
        [Path(p) / "mpl-data/fonts/ttf/DejaVuSans.ttf" for p in (spec.submodule_search_locations or [])] if spec else []
    )
    for name in [*UNICODE_FONTS, *(str(p) for p in mpl if p.is_file())]:
        try:
            found = ImageFont.truetype(name, 10)
        except (OSError, ImportError):
            continue
        return str(found.path) if isinstance(found.path, (str, Path)) else name  # the search is done once
    return None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont | None:
    """:func:`unicode_font` at ``size`` px, else PIL's default font at that size; None (its fixed small font)
    where PIL cannot scale it (Pillow before 10.1, or without FreeType)."""
    name = unicode_font()
    try:
        return ImageFont.truetype(name, size) if name else ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):
        return None
