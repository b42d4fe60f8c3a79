"""Class rasters for the polygonisation benchmarks (written to ``data_cache/fields_map/``, git-ignored).

- ``synthetic``: an N x N field mosaic (jittered grid of 8-48 px fields, 1-px boundary class, some
  background parcels, a few gaps in boundary lines), generated in row strips so memory stays small.
- ``heuristic``: a class raster from a real mirrored mosaic: field = NDVI of both windows > 0.45,
  boundary = strong NIR gradient. Random-weight models predict almost no field pixels, so this gives the
  polygonisers real spatial structure to work on.

    python benchmarks/fields_map.py rasters synthetic --size 10000
    python benchmarks/fields_map.py rasters heuristic --grid 8
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import numpy as np


def synthetic_field_raster(out: Path, size: int = 10000, seed: int = 0, strip: int = 1024) -> Path:
    """Write a ``size`` x ``size`` uint8 class raster (0 background, 1 field, 2 boundary), 10 m UTM."""
    import rasterio
    from rasterio.transform import from_origin

    if out.is_file():
        return out
    rng = np.random.default_rng(seed)

    def cuts(n: int) -> np.ndarray:
        c = np.cumsum(rng.integers(8, 48, size=n // 8 + 2))
        return c[c < n + 48]

    cy, cx = cuts(size), cuts(size)
    row_id = np.searchsorted(cy, np.arange(size), side="right")
    col_id = np.searchsorted(cx, np.arange(size), side="right")
    n_cells = (len(cy) + 1) * (len(cx) + 1)
    background = rng.random(n_cells) < 0.1
    prof = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": from_origin(300000.0, 5400000.0, 10.0, 10.0),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with rasterio.open(tmp, "w", **prof) as dst:
        for y0 in range(0, size, strip):
            y1 = min(size, y0 + strip)
            ry = row_id[y0 : min(size, y1 + 1)]
            cell = ry[:, None] * (len(cx) + 1) + col_id[None, :]  # (h+1, W)
            bnd = np.zeros(cell.shape, bool)
            bnd[:-1] |= cell[:-1] != cell[1:]
            bnd[:, :-1] |= cell[:, :-1] != cell[:, 1:]
            cls = np.where(bnd, 2, np.where(background[cell], 0, 1)).astype(np.uint8)[: y1 - y0]
            gaps = rng.random(cls.shape) < 2e-4  # sparse gaps in boundary lines
            cls[gaps & (cls == 2)] = 1
            dst.write(cls[None], window=rasterio.windows.Window(0, y0, size, y1 - y0))
    os.replace(tmp, out)
    return out


def heuristic_class_raster(mosaic: Path, out: Path) -> Path:
    """Class raster from real reflectance: NDVI of both windows > 0.45 = field, NIR edges = boundary."""
    import rasterio
    from scipy import ndimage

    if out.is_file():
        return out
    with rasterio.open(mosaic) as src:
        img = src.read().astype(np.float32)
        prof = dict(src.profile)
    ndvi = [(img[3 + k] - img[0 + k]) / np.maximum(img[3 + k] + img[0 + k], 1) for k in (0, 4)]
    nir = (img[3] + img[7]) / 2
    grad = np.hypot(ndimage.sobel(nir, 0), ndimage.sobel(nir, 1))
    cls = np.where(np.minimum(*ndvi) > 0.45, 1, 0).astype(np.uint8)
    cls[(grad > np.percentile(grad, 80)) & (cls == 1)] = 2
    prof.update(count=1, dtype="uint8", compress="deflate", tiled=True, blockxsize=256, blockysize=256, nodata=None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with rasterio.open(tmp, "w", **prof) as dst:
        dst.write(cls[None])
    os.replace(tmp, out)
    return out


@click.group()
def main() -> None:
    """Build benchmark class rasters."""


@main.command()
@click.option("--size", default=10000, show_default=True)
def synthetic(size: int) -> None:
    """Synthetic field raster."""
    from fields_map_common import CACHE

    p = synthetic_field_raster(CACHE / "synthetic" / f"fields_{size}.tif", size)
    print(p)


@main.command()
@click.option("--grid", default=4, show_default=True)
def heuristic(grid: int) -> None:
    """NDVI/edge class raster of the NxN mosaic."""
    from fields_map_common import CACHE

    from lib.fields_map_mosaic import mosaic_path

    p = heuristic_class_raster(mosaic_path(grid), CACHE / "heuristic" / f"classes_{grid}x{grid}.tif")
    print(p)
