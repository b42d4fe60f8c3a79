"""Build NxN mirrored mosaics of the real Sentinel-2 scene (the pixels stay real) for the benchmarks.

Tile (i, j) is the scene flipped left-right when j is odd and upside-down when i is odd, so neighbouring
tiles meet seamlessly. 4x4 = 350 km2, 8x8 = 1402 km2. Each mosaic goes into its own folder under
``data_cache/fields_map/`` (git-ignored), written tiled and uncompressed (no decode cost for either tool).

    python benchmarks/fields_map.py mosaic --grid 4 --grid 8
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import numpy as np


def build_mosaic(scene: Path, n: int, out: Path) -> Path:
    """Write the ``n`` x ``n`` mirrored mosaic of ``scene`` to ``out`` (atomically); returns ``out``."""
    import rasterio

    if out.is_file():
        return out
    with rasterio.open(scene) as src:
        img = src.read()  # (C, H, W)
        prof = dict(src.profile)
        tags = src.tags()
    c, h, w = img.shape
    prof.update(
        width=w * n,
        height=h * n,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="none",
        interleave="pixel",
        BIGTIFF="IF_SAFER",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with rasterio.open(tmp, "w", **prof) as dst:
        dst.update_tags(**tags)
        for i in range(n):
            row = np.concatenate([img[:, :: -1 if i % 2 else 1, :: -1 if j % 2 else 1] for j in range(n)], axis=2)
            dst.write(row, window=rasterio.windows.Window(0, i * h, w * n, h))
    os.replace(tmp, out)
    return out


def mosaic_path(n: int) -> Path:
    """Where the ``n`` x ``n`` mosaic lives."""
    from fields_map_common import CACHE

    return CACHE / f"mosaic{n}x{n}" / f"austria_{n}x{n}.tif"


@click.command()
@click.option("--grid", "grids", type=int, multiple=True, default=(4, 8), show_default=True)
def main(grids: tuple[int, ...]) -> None:
    """Build the mosaics."""
    import rasterio
    from fields_map_common import SCENE

    from lib import need

    need(SCENE, "the real Sentinel-2 scene")
    for n in grids:
        p = build_mosaic(SCENE, n, mosaic_path(n))
        with rasterio.open(p) as ds:
            km2 = ds.width * ds.height * abs(ds.transform.a * ds.transform.e) / 1e6
            print(f"{p}: {ds.width}x{ds.height} px, {km2:.0f} km2")
