"""Patch, grid, image size and vision patch for a user's own tiles: one rule, written down.

MAgSeg's defaults (448-px patches, a 16 x 16 answer grid) fit 0.5-1 m imagery in large tiles; a 256-px tile
would be refused and a 10 m tile would get 280 m grid cells. The rule here:

- patch: the tile side, at most 448 px (larger tiles are cut into patches);
- grid: the smallest of 8, 16, 24, 32 whose cells (patch x resolution / grid metres) are at most half the
  smallest object to keep (default 16 when no object size is given); longer answers cost generation time,
  which grows with grid^2;
- where even 32 cells are too coarse, the patch shrinks to the largest whose 32 cells are (the tile is cut
  into those patches: the answer cells over the tile are as many, in more, shorter answers);
- tiny model only (`text tiny-model`): the whole tile is also shown, resized to ``image_size`` (the patch,
  at most 64 px, so the CPU model stays small) and cut into 8 x 8 vision patches. A real VLM resizes images
  itself (Gemma 3: 896 px); only patch and grid apply to it.
"""

from __future__ import annotations

import math
from typing import Any

from agriseg.config import OptionError

GRIDS = (8, 16, 24, 32)
MAX_PATCH = 448
MAX_TINY_IMAGE = 64


def suggest_sizes(tile: int, resolution: float | None = None, min_object: float | None = None) -> dict[str, Any]:
    """Sizes for tiles of ``tile`` px (the shorter side) at ``resolution`` m/px, keeping objects of
    ``min_object`` m.

    Returns:
        ``patch``, ``grid``, ``image_size``, ``vision_patch``, ``cell_px``, ``cell_m`` (or None) and
        ``notes`` (why, and what cannot be met).

    Raises:
        OptionError: for a tile under 8 px or non-positive sizes (usage errors).
    """
    if tile < GRIDS[0]:
        raise OptionError(f"--size {tile}: under {GRIDS[0]} px, too small for an answer grid")
    if (resolution is not None and resolution <= 0) or (min_object is not None and min_object <= 0):
        raise OptionError("--resolution and --min-object must be positive")
    if min_object is not None and resolution is None:  # an object size in metres means nothing without it
        raise OptionError("--min-object needs --resolution (metres per pixel)")
    side = min(tile, MAX_PATCH)
    notes = []
    grid = 16 if side >= 16 else GRIDS[0]
    if resolution and min_object:
        cells = 2 * side * resolution / min_object  # cells per side for cells <= min_object / 2
        need = math.ceil(min(cells, 2**31))  # 1e300 m/px over 1e-300 m: inf, more than any grid either way
        fit = [g for g in GRIDS if g >= need and g <= side]
        grid = fit[0] if fit else min(GRIDS[-1], side)
        if not fit and min_object < 2 * resolution:  # finer than the image: no grid of cells helps
            notes.append(
                f"objects of {min_object} m are under two pixels of {resolution} m: no grid resolves them in "
                "this image; use a finer image"
            )
        elif not fit and side * resolution / grid > min_object / 2:
            # smaller patches, each of the largest grid (min_object >= 2 px here, so they are >= 32 px; a patch
            # under 32 px has one cell per pixel, which keeps such objects: it never comes here)
            grid, was = GRIDS[-1], side
            side = math.floor(grid * min_object / (2 * resolution))
            notes.append(
                f"objects of {min_object} m need cells of at most {min_object / 2:g} m: {grid} cells of "
                f"{side}-px patches (the largest grid; {was}-px patches would give {was * resolution / grid:.1f} m "
                "cells)"
            )
    patch = side  # cells need not be whole pixels: the grid edges are rounded per cell
    if tile > patch:
        notes.append(f"tiles of {tile} px are cut into {patch}-px patches (the last row and column overlap)")
    image_size = min(patch, MAX_TINY_IMAGE)
    vision_patch = max(1, image_size // 8)
    image_size = vision_patch * 8
    cell_px = patch / grid
    return {
        "patch": patch,
        "grid": grid,
        "image_size": image_size,
        "vision_patch": vision_patch,
        "cell_px": cell_px,
        "cell_m": cell_px * resolution if resolution else None,
        "notes": notes,
    }
