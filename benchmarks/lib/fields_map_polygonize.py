"""Polygonisation: ``agriseg fields polygonize`` vs ``ftw inference polygonize`` on the same class raster.

Reports wall time, peak process-tree memory, polygon count and the number of fields split by seams:
a field is a 4-connected component of class 1 in a single pass over the whole raster; it counts as split
when more than one output polygon falls inside it. Both tools: 5 m simplification, 500 m2 minimum area.
agriseg runs with ``--separation components`` (ftw-tools' rule: one polygon per component, so the split
count is comparable) and, for timing, with the default watershed separation.

    flock /tmp/agriseg-cpu.lock python benchmarks/fields_map.py polygonize --raster heuristic4
    flock /tmp/agriseg-cpu.lock python benchmarks/fields_map.py polygonize --raster synthetic10000
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click
import numpy as np
from fields_map_common import CACHE, ftw_executable, save_result, timed_run


def split_fields(raster: Path, polygons: Path) -> dict[str, int]:
    """Count class-1 components (single pass) covered by more than one polygon."""
    import geopandas as gpd
    import rasterio
    import shapely
    from scipy import ndimage

    with rasterio.open(raster) as ds:
        cls = ds.read(1)
        inv = ~ds.transform
    lab, n = ndimage.label(cls == 1)
    df = gpd.read_parquet(polygons) if polygons.suffix == ".parquet" else gpd.read_file(polygons)
    pts = shapely.get_coordinates(shapely.point_on_surface(df.geometry.values))
    cols, rows = inv * (pts[:, 0], pts[:, 1])
    r = np.clip(np.floor(rows).astype(int), 0, cls.shape[0] - 1)
    c = np.clip(np.floor(cols).astype(int), 0, cls.shape[1] - 1)
    ids = lab[r, c]
    ids = ids[ids > 0]
    counts = np.bincount(ids, minlength=n + 1)
    return {"components": int(n), "polygons": int(len(df)), "split_fields": int((counts > 1).sum())}


def resolve(name: str) -> Path:
    """``heuristic4`` / ``heuristic8`` / ``synthetic10000`` / a path -> the class raster."""
    from fields_map_common import SCENE

    from lib.fields_map_mosaic import build_mosaic, mosaic_path
    from lib.fields_map_rasters import heuristic_class_raster, synthetic_field_raster

    if name.startswith("heuristic"):
        g = int(name.removeprefix("heuristic"))
        return heuristic_class_raster(
            build_mosaic(SCENE, g, mosaic_path(g)), CACHE / "heuristic" / f"classes_{g}x{g}.tif"
        )
    if name.startswith("synthetic"):
        s = int(name.removeprefix("synthetic"))
        return synthetic_field_raster(CACHE / "synthetic" / f"fields_{s}.tif", s)
    return Path(name)


@click.command()
@click.option("--raster", default="heuristic4", show_default=True)
@click.option("--tool", type=click.Choice(["ours", "ours-watershed", "ftw", "all"]), default="all", show_default=True)
@click.option("--block", default=4096, show_default=True, help="our block size")
def main(raster: str, tool: str, block: int) -> None:
    """Run the polygonisation benchmark."""
    src = resolve(raster)
    out = CACHE / "polygonize"
    out.mkdir(parents=True, exist_ok=True)
    exe = (shutil.which("agriseg") or f"{sys.executable} -m agriseg").split()
    env = {"OMP_NUM_THREADS": "1"}
    common = [
        "--simplify",
        "5",
        "--min-area",
        "500",
        "--fill-holes",
        "0",
        "--poly-block-size",
        str(block),
        "--overwrite",
    ]
    runs = []
    if tool in ("ours", "all"):
        runs.append(
            (
                "ours-components",
                [
                    *exe,
                    "fields",
                    "polygonize",
                    str(src),
                    "-o",
                    str(out / f"ours_comp_{src.stem}.fgb"),
                    "--separation",
                    "components",
                    *common,
                ],
            )
        )
    if tool in ("ours-watershed", "all"):
        runs.append(
            (
                "ours-watershed",
                [*exe, "fields", "polygonize", str(src), "-o", str(out / f"ours_ws_{src.stem}.fgb"), *common],
            )
        )
    if tool in ("ftw", "all"):
        runs.append(
            (
                "ftw",
                [
                    ftw_executable(),
                    "inference",
                    "polygonize",
                    str(src),
                    "-o",
                    str(out / f"ftw_{src.stem}.fgb"),
                    "--simplify",
                    "5",
                    "--min_size",
                    "500",
                    "-f",
                ],
            )
        )
    for name, cmd in runs:
        target = Path(cmd[cmd.index("-o") + 1])
        r = timed_run(cmd, env, target.with_suffix(".log"))
        if r["rc"] == 0 and target.is_file():
            r.update(split_fields(src, target))
        r.update(raster=str(src), block=block if name.startswith("ours") else 2048)
        save_result(f"polygonize-{name}-{src.stem}", r)
