"""A per-photo quality check: frames a camera batch has that no model should be trusted on.

A blank wall, a lens cap, the sky, a frame far out of focus, or one nearly black or burnt white comes back
from a segmentation model as a confident cover value (often 70-100 % vegetation). :func:`photo_quality`
flags such frames from the photo alone; ``crop predict`` (``summary.csv``) and ``crop traits``
(``traits.csv``) report the reason in a ``quality`` column. A flagged frame is still measured and counts as
produced: the flag tells the user which numbers to look at before trusting them.

The rule (measured on the photo shrunk to a 256 px long side, luminance = mean of R, G, B, 0-255):

- ``no texture``: fewer than 0.2 % of pixels have a Sobel luminance gradient above 20 levels. Plants,
  soil, pots and trays have edges; a plain frame has only sensor and JPEG noise. On the committed lab set
  (``benchmarks/data/lab_set``) the lab scenes have 0.8-47 % such pixels, the four plain frames 0 %.
- ``underexposed``: the 99th percentile of luminance is below 30 (nothing in the frame is lit).
- ``overexposed``: 90 % or more of the pixels are clipped white (every channel >= 250).
- ``a colour label``: a frame of two to eight flat colours each of channels 0 and 255 only, one of them a colour
  (black, green, red...): a label image given as a photo (the labels folder for the photos); said alone.
- ``greyscale``: a photo with none of the above but no colour (its three channels equal within 2 levels, JPEG
  noise): a model and a colour index find vegetation by its colour.

Lab photos of plants before white or plain walls are valid photos: their plants give them edges, and a
wall alone clips only part of the frame (the lab set's brightest scene: 56 % clipped).
"""

from __future__ import annotations

import numpy as np

from agriseg.models.io import PACKAGED

# the crop of a packaged crop / weed model, every version of it: what its "crop" class is (its training data's
# only crop); a new version registered in agriseg.models.io.PACKAGED is covered without an edit here
MODEL_CROPS = {name: "peanut" for name in PACKAGED if name.split("@")[0] == "crop-weed"}

LONG_SIDE = 256  # the check runs on a thumbnail: noise averages out, and it costs little
EDGE_LEVEL = 20.0  # a luminance gradient (Sobel, per pixel) that only a real edge reaches
MIN_EDGE_FRACTION = 0.002
DARK_P99 = 30.0
CLIPPED = 250
MAX_CLIPPED_FRACTION = 0.9


def photo_quality(rgb: np.ndarray) -> str:
    """The reasons a photo is not to be trusted, ``"; "``-joined, or ``""`` for a usable photo.

    Args:
        rgb: the photo, uint8 ``(H, W, 3)``.
    """
    from PIL import Image
    from scipy import ndimage

    if said := colour_label(rgb):
        return said
    im = Image.fromarray(np.ascontiguousarray(rgb[..., :3]))
    im.thumbnail((LONG_SIDE, LONG_SIDE))
    a = np.asarray(im, dtype=np.float32)  # (h, w, 3)
    lum = a.mean(-1)  # (h, w)
    grad = np.hypot(ndimage.sobel(lum, 0), ndimage.sobel(lum, 1)) / 8
    reasons = []
    if (grad > EDGE_LEVEL).mean() < MIN_EDGE_FRACTION:
        reasons.append("no texture (blank frame, lens cap, sky or out of focus)")
    if np.percentile(lum, 99) < DARK_P99:
        reasons.append("underexposed")
    clipped = float((a.min(-1) >= CLIPPED).mean())
    if clipped >= MAX_CLIPPED_FRACTION:
        reasons.append(f"overexposed ({clipped:.0%} clipped white)")
    if not reasons and greyscale(rgb):  # a blank or black frame has no colour either: said once, above
        reasons.append("greyscale (vegetation is found by its colour)")
    return "; ".join(reasons)


def colour_label(rgb: np.ndarray) -> str:
    """``a colour label (...), not a photo`` for a frame ``(H, W, 3)`` of 2-8 colours each of channels 0 and 255
    only, not all black and white (the Peanut labels: black, green, red), else ``""``. Sampled on a grid of about
    256 x 256 pixels."""
    small = rgb[:: max(1, rgb.shape[0] // 256), :: max(1, rgb.shape[1] // 256), :3]  # (h, w, 3), exact colours
    if not ((small == 0) | (small == 255)).all():  # (a photo fails at its first pixel of another level)
        return ""
    colours = np.unique(small.reshape(-1, 3), axis=0)
    if not 2 <= len(colours) <= 8 or (colours == colours[:, :1]).all():  # black and white alone: a frame's
        return ""  # (a black frame with a white timestamp is underexposed, not a label)
    shown = "; ".join(",".join(map(str, c)) for c in colours.tolist()[:3])
    return f"a colour label ({len(colours)} flat colours: {shown}{'...' if len(colours) > 3 else ''}), not a photo"


def greyscale(rgb: np.ndarray) -> bool:
    """Whether a photo ``(H, W, 3)`` has no colour (its three channels equal, within JPEG noise of 2 levels)."""
    small = rgb[:: max(1, rgb.shape[0] // 256), :: max(1, rgb.shape[1] // 256), :3].astype(np.int16)  # (h, w, 3)
    return int(np.abs(small - small[..., :1]).max()) <= 2


WEED_SHARE = 0.8  # a crop / weed model calling at least this share of the vegetation weed: a crop it may not know


def other_crop(crop: str, crop_fraction: float, weed_fraction: float) -> str | None:
    """A warning when a crop / weed model whose one crop is ``crop`` calls most of a photo's vegetation weed
    (over 1 % of the photo, and :data:`WEED_SHARE` of its vegetation): every plant of another crop reads as weed
    to it. A weedy field of its own crop warns too, and the warning says both."""
    veg = crop_fraction + weed_fraction
    if weed_fraction <= 0.01 or weed_fraction < WEED_SHARE * veg:
        return None
    found = f"no {crop}" if crop_fraction < 0.001 else f"{crop_fraction / veg:.0%} of the vegetation {crop}"
    return (
        f"the model found {found} (the only crop it knows) and {weed_fraction / veg:.0%} weed: if the crop is "
        "another, it reads as weed to this model; measure it with --model default"
    )
