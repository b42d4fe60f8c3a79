"""Soil canvases and plant cut-outs from labelled field photos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage as ndi

from agriseg.crop.labels import PEANUT_CROP_WEED, read_label
from agriseg.crop.pseudolabel.indices import exg
from agriseg.crop.refine import refine_labels
from agriseg.data.io import IMAGE_SUFFIXES, read_rgb


@dataclass
class Cutout:
    """One plant (or a few touching ones) cut from a photo.

    Attributes:
        rgb: ``uint8`` ``(h, w, 3)`` pixels of the photo around the plant.
        alpha: ``float32`` ``(h, w)`` soft coverage in [0, 1] (the label, anti-aliased).
        classes: ``uint8`` ``(h, w)`` class ids (0 outside the plant).
        source: the photo's stem.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    classes: np.ndarray
    source: str


def soft_alpha(mask: np.ndarray, sigma: float = 0.6) -> np.ndarray:
    """A hard mask softened over about one pixel, so pasted edges blend like a camera's (``float32``)."""
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def soil_canvas(rgb: np.ndarray, label: np.ndarray, max_cover: float = 0.08) -> np.ndarray | None:
    """The photo with every plant painted out (OpenCV inpainting), or None when plants cover too much.

    Plants are the labelled vegetation and anything clearly green (unlabelled seedlings), grown by 4 px.
    """
    green = exg(rgb) > 0.08
    plants = ndi.binary_dilation((label > 0) | green, iterations=4)
    if plants.mean() > max_cover:
        return None
    return cv2.inpaint(np.ascontiguousarray(rgb), plants.astype(np.uint8), 5, cv2.INPAINT_TELEA)


UNLISTED_SHARE = 0.01  # a label with more of its pixels in other colours is in another code (the Peanut ones: 0)


def read_pair(images: Path, labels: Path, stem: str, refine_band: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A Peanut-coloured photo and its crop/weed label (boundary-refined when ``refine_band`` > 0)."""
    # the photo named ``stem`` plus an image suffix: not a glob (``IMG[1]`` is a pattern there, and a QGIS
    # ``side.aux.xml`` beside ``side.jpg`` matched ``side.*`` first)
    found = sorted(p for p in images.iterdir() if p.stem == stem and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise ValueError(f"{images}: no photo named {stem} ({', '.join(IMAGE_SUFFIXES)})")
    img = found[0]
    rgb = read_rgb(img)
    # the label of that name in any image format (0399.PNG, 0399.tif): it was looked for as <stem>.png alone, so
    # a pair the folder listing matched failed as "label file not found" (session 103's sweep)
    named = sorted(p for p in labels.iterdir() if p.stem == stem and p.suffix.lower() in IMAGE_SUFFIXES)
    label = named[0] if named else labels / f"{stem}.png"
    lab = read_label(label, "colormap", PEANUT_CROP_WEED)
    if lab.shape != rgb.shape[:2]:  # another photo's label: numpy's broadcast error named neither file
        h, w = lab.shape
        shown = f"{rgb.shape[1]}x{rgb.shape[0]}"
        raise ValueError(f"{label}: label is {w}x{h} px, its photo {img} {shown}")
    # colours outside the code and no plant in it: a 0/255 (or 0/1) mask, its plants read as "ignore", none cut
    # out (a Peanut label's soft edges, of an editor's resize, are such pixels beside plant ones: kept)
    unlisted = lab == 255
    if unlisted.mean() > UNLISTED_SHARE and not ((lab == 1) | (lab == 2)).any():
        from agriseg.crop.dataset import _colours_of

        raise ValueError(f"{label}: {unlisted.mean():.0%} of its pixels are colours outside the "
                         f"Peanut colour code ({_colours_of(label, unlisted)}); labels here are "
                         "black background, green (0,255,0) crop and red (255,0,0) weed")  # fmt: skip
    return rgb, refine_labels(rgb, lab, refine_band) if refine_band else lab


def is_green(cut: Cutout) -> bool:
    """Whether a cut-out is a green plant: the median excess green ``2g - r - b`` (chromaticities) of its pixels
    above 0. The Peanut labels mark dry, brown leaves as plants too; a tray's seedlings are measured by their green
    area, and a brown one pasted in a pot would be truth that no green-measuring tool gives (the bundled samples
    0399 and 0003 hold such leaves; none of the 60 validation photos that made ``benchmarks/data/trays`` does)."""
    px = cut.rgb[cut.alpha > 0.5].astype(np.float64)  # (N, 3)
    if not len(px):
        return False
    chroma = px / (px.sum(1, keepdims=True) + 1e-6)  # (N, 3)
    return bool(np.median(2 * chroma[:, 1] - chroma[:, 0] - chroma[:, 2]) > 0)


def plant_cutouts(
    rgb: np.ndarray, label: np.ndarray, source: str, min_area: int = 300, max_side: float = 0.5, margin: int = 3
) -> list[Cutout]:
    """Whole plants of a labelled photo: vegetation components that do not touch the photo's border.

    Args:
        rgb: the photo.
        label: class ids (0 background, 1 crop, 2 weed, 255 ignore).
        source: the photo's stem, kept with every cut-out.
        min_area: smaller components are skipped (px).
        max_side: components wider or taller than this share of the photo are skipped (canopy, not plants).
        margin: pixels kept around each component.
    """
    veg = (label > 0) & (label != 255)
    comps, n = ndi.label(veg, structure=np.ones((3, 3)))
    h, w = veg.shape
    out = []
    for i, sl in enumerate(ndi.find_objects(comps), start=1):
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        if y0 == 0 or x0 == 0 or y1 == h or x1 == w or (y1 - y0) > max_side * h or (x1 - x0) > max_side * w:
            continue
        ya, yb, xa, xb = max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin)
        own = comps[ya:yb, xa:xb] == i
        if own.sum() < min_area:
            continue
        out.append(
            Cutout(
                rgb[ya:yb, xa:xb].copy(),
                soft_alpha(own),
                np.where(own, label[ya:yb, xa:xb], 0).astype(np.uint8),
                source,
            )
        )
    return out
