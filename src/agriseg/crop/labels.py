"""Decoding label files into class-id masks (``uint8``, 255 = ignore)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from agriseg.data.io import open_image

LabelMode = Literal["binary", "index", "colormap"]

# Peanut dataset colours (green crop, red weed, black background)
PEANUT_VEGETATION = {"0,0,0": 0, "0,255,0": 1, "255,0,0": 1}
PEANUT_CROP_WEED = {"0,0,0": 0, "0,255,0": 1, "255,0,0": 2}


def read_label(
    path: str | Path, mode: LabelMode = "binary", colormap: dict[str, int] | None = None
) -> np.ndarray:
    """Read a label file as ``uint8`` class ids ``(H, W)``.

    Args:
        path: PNG/TIFF label file.
        mode: ``binary`` (0 = background, anything else = 1; 0/255 masks), ``index`` (value = class id),
            ``colormap`` (RGB colours mapped by ``colormap``; unlisted colours become 255 = ignore).
        colormap: ``{"R,G,B": class_id}`` for ``colormap`` mode.

    Raises:
        ImageReadError: if the file is missing or unreadable, or a colormap label is not RGB.
    """
    path = Path(path)
    with open_image(path, "label") as im:  # a palette label's index is its class id
        arr = np.asarray(im.convert("RGB")) if mode == "colormap" else np.asarray(im)
    if mode == "colormap":
        if not colormap:
            raise ValueError(f"{path}: label_mode 'colormap' needs a colormap")
        out = np.full(arr.shape[:2], 255, np.uint8)
        key = (arr[..., 0].astype(np.uint32) << 16) | (arr[..., 1].astype(np.uint32) << 8) | arr[..., 2]
        for colour, cls in colormap.items():
            r, g, b = (int(v) for v in colour.split(","))
            out[key == ((r << 16) | (g << 8) | b)] = cls
        return out
    if arr.ndim == 3:
        arr = arr[..., :3].max(-1) if mode == "binary" else arr[..., 0]
    if mode == "binary":
        return (arr > 0).astype(np.uint8)
    return arr.astype(np.uint8)
