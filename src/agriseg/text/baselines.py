"""Floors a text-mask model must beat: constant predictions and per-cell nearest-colour classification.

Both work on the same label grid the model writes (``G x G`` cells per image), so their Dice is directly
comparable with the model's. The nearest-colour baseline learns nothing but one mean colour per class,
taken from the cells of some labelled images that hold a single class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agriseg.text.grid import _edges, mask_to_grid


def cell_colours(image: np.ndarray, grid: int) -> np.ndarray:
    """(G, G, 3) mean RGB of each cell of a ``grid`` x ``grid`` split of an (H, W, 3) image."""
    img = np.asarray(image, dtype=np.float64)
    h, w = img.shape[:2]
    ys, xs = _edges(h, grid), _edges(w, grid)
    out = np.zeros((grid, grid, 3))
    for i in range(grid):
        for j in range(grid):
            out[i, j] = img[ys[i] : ys[i + 1], xs[j] : xs[j + 1]].reshape(-1, 3).mean(0)
    return out


def class_colours(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], grid: int, num_classes: int) -> np.ndarray:
    """(K, 3) mean cell colour of each class over the cells that hold that class only (NaN for a class that
    fills no whole cell: it is never predicted)."""
    sums, counts = np.zeros((num_classes, 3)), np.zeros(num_classes)
    for img, m in zip(images, masks, strict=True):
        cols = cell_colours(img, grid).reshape(-1, 3)  # (G*G, 3)
        lab = mask_to_grid(m, grid, num_classes).ravel()  # (G*G,)
        ys, xs = _edges(m.shape[0], grid), _edges(m.shape[1], grid)
        one = np.array(
            [len(np.unique(m[ys[i] : ys[i + 1], xs[j] : xs[j + 1]])) == 1 for i in range(grid) for j in range(grid)]
        )  # (G*G,)
        for c in range(num_classes):
            sel = one & (lab == c)
            sums[c] += cols[sel].sum(0)
            counts[c] += sel.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def nearest_colour_grid(image: np.ndarray, grid: int, colours: np.ndarray) -> np.ndarray:
    """(G, G) class of each cell: the class whose mean colour (``colours``, (K, 3)) is nearest the cell's."""
    cols = cell_colours(image, grid)  # (G, G, 3)
    d = ((cols[:, :, None, :] - np.asarray(colours)[None, None]) ** 2).sum(-1)  # (G, G, K)
    d = np.where(np.isnan(d), np.inf, d)  # classes without a colour are never chosen
    return d.argmin(-1).astype(np.int64)
