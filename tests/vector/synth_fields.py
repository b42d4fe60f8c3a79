"""Synthetic field rasters for polygonisation tests, written in the ``agriseg fields predict`` layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage


def field_layout(h: int, w: int, seed: int = 0, gaps: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Class map (0 background, 1 field, 2 boundary) and field probability x255 of a random field mosaic.

    Fields are cells of a jittered grid (10-70 px), some merged into L shapes, some background, some with
    holes; boundaries are 1 px lines; ``gaps`` boundary segments are removed so touching fields connect.
    """
    rng = np.random.default_rng(seed)

    def cuts(n: int) -> np.ndarray:
        c, pos = [], 0
        while pos < n:
            pos += int(rng.integers(10, 70))
            c.append(pos)
        return np.array(c)

    cy, cx = cuts(h), cuts(w)
    cell = (
        np.searchsorted(cy, np.arange(h), side="right")[:, None] * 1000
        + np.searchsorted(cx, np.arange(w), side="right")[None, :]
    )
    ids = np.unique(cell)
    # merge some cells with their right neighbour (L / long shapes)
    for c in rng.choice(ids, size=len(ids) // 6, replace=False):
        cell[cell == c + 1] = c
    ids = np.unique(cell)
    boundary = np.zeros((h, w), bool)
    boundary[:-1] |= cell[:-1] != cell[1:]
    boundary[:, :-1] |= cell[:, :-1] != cell[:, 1:]
    cls = np.where(boundary, 2, 1).astype(np.uint8)
    bg = rng.choice(ids, size=len(ids) // 8, replace=False)
    cls[np.isin(cell, bg) & ~boundary] = 0
    # holes in some fields
    for c in rng.choice(ids, size=len(ids) // 10, replace=False):
        ys, xs = np.nonzero((cell == c) & (cls == 1))
        if len(ys) > 400:
            y, x = int(np.median(ys)), int(np.median(xs))
            cls[y - 2 : y + 2, x - 2 : x + 2] = 0
    # gaps in boundary lines: 3-px openings joining two fields
    by, bx = np.nonzero(boundary & (cls == 2))
    for i in rng.choice(len(by), size=min(gaps, len(by)), replace=False):
        y, x = by[i], bx[i]
        win = cls[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2]
        win[win == 2] = 1
    dist = ndimage.distance_transform_edt(cls == 1)
    prob = np.where(cls == 1, np.clip(0.45 + 0.12 * dist, 0, 0.98), np.where(cls == 2, 0.25, 0.05))
    return cls, np.rint(prob * 255).astype(np.uint8)


def write_probs(
    path: Path,
    cls: np.ndarray,
    field_prob: np.ndarray,
    crs: str = "EPSG:32633",
    res: float = 10.0,
    origin: tuple[float, float] = (359130.0, 5352340.0),
    class_only: bool = False,
) -> Path:
    """Write a class + probabilities raster (or a 1-band class raster) like ``fields predict`` output."""
    import rasterio
    from rasterio.transform import from_origin

    h, w = cls.shape
    if class_only:
        bands = cls[None]
    else:
        bnd = np.where(cls == 2, 200, 10).astype(np.uint8)
        bgp = (255 - np.minimum(255, field_prob.astype(int) + bnd)).clip(0).astype(np.uint8)
        bands = np.stack([cls, bgp, field_prob, bnd])
    prof = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": bands.shape[0],
        "dtype": "uint8",
        "crs": crs,
        "transform": from_origin(origin[0], origin[1], res, res),
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
    }
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(bands)
    return path
