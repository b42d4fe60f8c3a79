"""Patch boxes over an image: a fixed grid (evaluation, inference) or random boxes (training)."""

from __future__ import annotations

import numpy as np

from agriseg.tiling import overlap_stride, window_starts

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), pixels, end exclusive


def grid_boxes(height: int, width: int, patch: int, overlap: float = 0.0) -> list[Box]:
    """Patch boxes tiling an image, row-major.

    Args:
        height: image height in pixels.
        width: image width in pixels.
        patch: patch side in pixels.
        overlap: fraction of the patch shared by neighbours (0 = disjoint, MAgSeg's inference).

    Returns:
        Boxes ``(x0, y0, x1, y1)`` covering every pixel.

    Raises:
        ValueError: if the image is smaller than the patch or overlap is outside [0, 1).
    """
    if patch <= 0:
        raise ValueError(f"patch must be positive, got {patch}")
    if min(height, width) < patch:
        raise ValueError(f"image of {height}x{width} px is smaller than the patch ({patch} px)")
    stride = overlap_stride(patch, overlap)
    return [
        (x, y, x + patch, y + patch)
        for y in window_starts(height, patch, stride)
        for x in window_starts(width, patch, stride)
    ]


def random_boxes(height: int, width: int, patch: int, n: int, rng: np.random.Generator, align: int = 1) -> list[Box]:
    """``n`` random patch boxes, top-left corners uniform (MAgSeg 3.1) on a lattice of ``align`` px.

    An image with no more than ``n`` places for a box gives each place once: an image the size of the patch
    gave ``n`` copies of its one box (as many identical samples in a training set).

    Args:
        height: image height in pixels.
        width: image width in pixels.
        patch: patch side in pixels.
        n: number of boxes.
        rng: random generator.
        align: corners are multiples of this (1 = any pixel).

    Returns:
        Boxes ``(x0, y0, x1, y1)``: ``n`` drawn, or every place once (row-major) when there are at most ``n``.
    """
    if height < patch or width < patch:
        raise ValueError(f"image of {height}x{width} px is smaller than the patch ({patch} px)")
    if align <= 0:
        raise ValueError(f"align must be positive, got {align}")
    ny, nx = (height - patch) // align + 1, (width - patch) // align + 1
    ys = rng.integers(0, ny, n) * align
    xs = rng.integers(0, nx, n) * align
    if ny * nx <= n:  # drawn all the same: the images after it get the boxes they always had
        xs, ys = np.tile(np.arange(nx) * align, ny), np.repeat(np.arange(ny) * align, nx)
    return [(int(x), int(y), int(x) + patch, int(y) + patch) for x, y in zip(xs, ys, strict=True)]
