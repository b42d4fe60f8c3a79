"""Land-cover mask for field polygons: the share of each field that lies on allowed land-cover classes.

The land-cover raster (e.g. an ESA WorldCover tile, class 40 = cropland) may be in any CRS and resolution.
Each field is reprojected to it, its bounding window is read, and the field is rasterised there (pixel
centres inside; fields smaller than a pixel take the pixels they touch); NoData pixels do not count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class NoOverlapError(ValueError):
    """No field lies on the land-cover raster: the message says so without the fields' file, which the caller
    names (the item that failed is the field raster, not the land cover)."""


def allowed_fraction(
    geoms: np.ndarray, crs: Any, landcover: str | Path, keep: list[int], drop: list[int]
) -> np.ndarray:
    """For each polygon, the fraction of its land-cover pixels in ``keep`` (or, when empty, not in ``drop``).

    Args:
        geoms: polygons in ``crs``.
        crs: their CRS.
        landcover: single-band class raster.
        keep: allowed classes (takes precedence).
        drop: forbidden classes (used when ``keep`` is empty).

    Returns:
        ``(N,)`` float64 in [0, 1]; NaN where a field has no valid land-cover pixel.

    Raises:
        FileNotFoundError: missing raster.
        ValueError: unreadable raster, no classes given, or no field overlaps the raster.
    """
    import rasterio
    import shapely
    from pyproj import Transformer
    from rasterio.features import geometry_mask
    from rasterio.windows import from_bounds

    path = Path(landcover)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: land-cover raster not found")
    if not keep and not drop:
        raise ValueError(f"{path}: give land-cover classes to keep or to drop")
    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as err:
        from agriseg.raster.io import unreadable_raster

        raise ValueError(unreadable_raster(path, err)) from err
    out = np.full(len(geoms), np.nan)
    with ds:
        if ds.crs is None:
            from agriseg.raster.io import photo_format

            raise ValueError(f"{path}: land-cover raster has no CRS{photo_format(ds)}")
        t = Transformer.from_crs(crs, ds.crs, always_xy=True)
        moved = shapely.transform(
            np.asarray(geoms, dtype=object), lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))
        )
        for i, g in enumerate(moved):
            f = from_bounds(*g.bounds, transform=ds.transform)
            c0, r0 = max(0, int(np.floor(f.col_off))), max(0, int(np.floor(f.row_off)))
            c1 = min(ds.width, int(np.ceil(f.col_off + f.width)))
            r1 = min(ds.height, int(np.ceil(f.row_off + f.height)))
            if c1 <= c0 or r1 <= r0:
                continue  # outside the raster
            win = rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0)
            cls = ds.read(1, window=win)
            wt = ds.window_transform(win)
            inside = geometry_mask([g], cls.shape, wt, invert=True)
            if not inside.any():
                inside = geometry_mask([g], cls.shape, wt, invert=True, all_touched=True)
            if ds.nodata is not None:
                inside &= cls != ds.nodata
            if inside.any():
                v = cls[inside]
                ok = np.isin(v, keep) if keep else ~np.isin(v, drop)
                out[i] = float(ok.mean())
    if len(geoms) and np.isnan(out).all():
        raise NoOverlapError(f"no field overlaps the land-cover raster {path} (check its extent and CRS)")
    return out
