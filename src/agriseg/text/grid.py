"""Pixel masks <-> coarse label grids: majority label per cell going down, nearest cell going up."""

from __future__ import annotations

import numpy as np


def _edges(n: int, cells: int) -> np.ndarray:
    """Cell boundaries splitting ``n`` pixels into ``cells`` nearly equal cells: (cells + 1,)."""
    return np.round(np.linspace(0, n, cells + 1)).astype(np.int64)


# the largest class id a mask may hold when num_classes is not given (:func:`cell_counts`): a uint8 mask's range
# (a 0/255 mask's ids as given, session 85); beyond it, 10**9 asked for 30 GB of counts
MAX_IMPLIED_CLASSES = 255


def cell_counts(
    mask: np.ndarray, grid: int | tuple[int, int], num_classes: int | None = None, ignore: int | None = None
) -> np.ndarray:
    """Pixels of each class in each cell of a grid laid over a label mask.

    Args:
        mask: (H, W) non-negative integer class ids.
        grid: cells per side (16, 24, 32 or any), or (rows, cols).
        num_classes: number of classes (default ``mask.max() + 1``).
        ignore: an id counted for no class (nodata, e.g. 255), with ``num_classes``.

    Returns:
        (K, rows, cols) int64 pixel counts.

    Raises:
        ValueError: if the mask is not 2-D, has negative or fractional ids, ids of ``num_classes`` or more (or,
            without it, over 255), or is smaller than the grid.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    if not (np.issubdtype(m.dtype, np.integer) or m.dtype == bool) and not np.array_equal(m, np.round(m)):
        raise ValueError(f"mask holds {m.dtype} values that are not class ids (threshold or argmax first)")
    sides = (grid, grid) if isinstance(grid, int | np.integer) else grid
    if isinstance(sides, np.ndarray):  # np.array([16, 16]): rows and cols as an array
        sides = tuple(sides.tolist()) if sides.ndim == 1 else sides
    if (
        not isinstance(sides, tuple | list)
        or len(sides) != 2
        or any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in sides)
    ):  # 16.0 failed with "'float' object is not subscriptable"
        raise TypeError(f"grid is cells per side (16) or (rows, cols) in whole cells; got {grid!r}")
    gh, gw = int(sides[0]), int(sides[1])
    h, w = m.shape
    if gh <= 0 or gw <= 0 or h < gh or w < gw:
        raise ValueError(f"mask of {h}x{w} pixels cannot be split into a {gh}x{gw} grid")
    if m.size and int(m[m != ignore].min(initial=0) if ignore is not None else m.min()) < 0:  # ignore=-1: nodata
        raise ValueError("mask has negative class ids")
    top = int(m[m != ignore].max(initial=0)) if ignore is not None else int(m.max(initial=0))
    if num_classes is not None and top >= int(num_classes):  # its pixels would be counted as no class, silently
        raise ValueError(
            f"mask has class id {top}, not one of the {int(num_classes)} classes (a 0/255 mask? pass mask > 0)"
        )
    if num_classes is None and top > MAX_IMPLIED_CLASSES:  # 10**9 asked for 30 GB of counts; 255 counted as a class
        raise ValueError(
            f"mask has class id {top}: over {MAX_IMPLIED_CLASSES} without num_classes (give num_classes, and ignore "
            "for a nodata id)"
        )
    k = int(num_classes) if num_classes is not None else top + 1  # a uint8 255 + 1 wrapped to 0
    ys, xs = _edges(h, gh), _edges(w, gw)
    y0, y1 = ys[:-1][:, None], ys[1:][:, None]  # (gh, 1)
    x0, x1 = xs[:-1][None], xs[1:][None]  # (1, gw)
    out = np.zeros((k, gh, gw), dtype=np.int64)  # (K, gh, gw)
    csum = np.zeros((h + 1, w + 1), dtype=np.int64)  # (H+1, W+1)
    # per-class pixel counts per cell via cumulative sums, one class present at a time: a 0/255 mask without
    # num_classes took 256 one-hot planes of the photo at once (4 GB for 960x720)
    for c in np.unique(m):
        if 0 <= c < k:
            csum[1:, 1:] = (m == c).cumsum(0).cumsum(1)
            out[int(c)] = csum[y1, x1] - csum[y0, x1] - csum[y1, x0] + csum[y0, x0]
    return out


def mask_to_grid(
    mask: np.ndarray, grid: int | tuple[int, int], num_classes: int | None = None, ignore: int | None = None
) -> np.ndarray:
    """Down-sample a label mask to a grid by majority vote per cell (ties go to the lower class id).

    Takes the arguments of :func:`cell_counts` and raises its errors; returns the (rows, cols) int64 grid.
    """
    return cell_counts(mask, grid, num_classes, ignore).argmax(0).astype(np.int64)


def grid_to_mask(grid: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Up-sample a label grid to ``size`` = (H, W) pixels by nearest cell (the inverse cell layout of
    :func:`mask_to_grid`).

    Args:
        grid: (rows, cols) class ids.
        size: (H, W) output size, or one side for a square mask.

    Returns:
        (H, W) int64 mask.

    Raises:
        ValueError: a grid that is not 2-D or is empty, or a side under 1 px.
        TypeError: a size that is not whole pixels.
    """
    g = np.asarray(grid)
    if g.ndim != 2:
        raise ValueError(f"grid must be 2-D, got shape {g.shape}")
    whole = g.dtype.kind == "f" and bool(np.all((g == np.round(g)) & (np.abs(g) < 2**31)))  # not inf, nor 1e20
    if g.dtype.kind not in "iub" and not whole:  # 1.6 was read as 1, inf as -9223372036854775808
        flat = g.ravel()
        bad = flat[(flat != np.round(flat)) | ~(np.abs(flat) < 2**31)] if g.dtype.kind == "f" else flat[:0]
        odd = f"values such as {bad[0]}" if bad.size else f"{g.dtype} values"
        raise ValueError(f"grid holds class ids (whole numbers), not {odd}")
    sides = tuple(size) if isinstance(size, (tuple, list, np.ndarray)) else (size, size)
    if len(sides) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in sides):
        raise TypeError(f"size is (H, W) in whole pixels, or one side; got {size!r}")
    h, w = int(sides[0]), int(sides[1])
    if h < 1 or w < 1 or not g.size:  # a negative side gave an empty mask; an empty grid an IndexError
        raise ValueError(f"size must be positive and the grid non-empty; got size {(h, w)}, grid shape {g.shape}")
    gh, gw = g.shape
    ys, xs = _edges(h, gh), _edges(w, gw)
    rows = np.searchsorted(ys[1:], np.arange(h), side="right")  # (H,) cell row per pixel
    cols = np.searchsorted(xs[1:], np.arange(w), side="right")  # (W,)
    return g[np.minimum(rows, gh - 1)][:, np.minimum(cols, gw - 1)].astype(np.int64)
