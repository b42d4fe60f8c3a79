"""Generate a small field trial: vegetation-mask orthomosaics of several dates and its plot polygons.

    python scripts/make_plot_mosaics.py outputs/trial --rows 10 --cols 10 --dates 2024-06-01 2024-06-20

writes ``outputs/trial/trial_<date>.tif`` (1-band 0/255 vegetation mask GeoTIFFs, EPSG:32633, 1 cm pixels; plants
are discs that grow between dates) and ``demo/plots.gpkg`` (one rectangle per plot, ``plot_id`` ``R01C01``
..., stored in EPSG:4326 so reading it exercises reprojection).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

PLOT_W, PLOT_H, GAP = 80, 60, 20  # pixels
PIXEL = 0.01  # metres
ORIGIN = (500_000.0, 5_300_000.0)  # UTM 33N, top-left corner


def make_trial(
    outdir: str | Path,
    rows: int = 10,
    cols: int = 10,
    dates: tuple[str, ...] = ("2024-06-01", "2024-06-20"),
    seed: int = 0,
) -> tuple[list[Path], Path]:
    """Write the mosaics and the plots file; return (mosaic paths, plots path)."""
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import box
    from skimage.draw import disk

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = rows * (PLOT_H + GAP) + GAP, cols * (PLOT_W + GAP) + GAP
    transform = from_origin(ORIGIN[0], ORIGIN[1], PIXEL, PIXEL)
    # plants: per plot a few centres and a base radius
    plants = []
    for r in range(rows):
        for c in range(cols):
            y0, x0 = GAP + r * (PLOT_H + GAP), GAP + c * (PLOT_W + GAP)
            n = int(rng.integers(2, 7))
            for _ in range(n):
                plants.append((y0 + rng.uniform(8, PLOT_H - 8), x0 + rng.uniform(8, PLOT_W - 8), rng.uniform(4, 7)))
    mosaics = []
    for k, date in enumerate(dates):
        mask = np.zeros((h, w), np.uint8)
        for cy, cx, rad in plants:
            mask[disk((cy, cx), rad * (1 + 0.5 * k), shape=mask.shape)] = 255
        path = outdir / f"trial_{date}.tif"
        profile = dict(driver="GTiff", height=h, width=w, count=1, dtype="uint8", crs="EPSG:32633", transform=transform)
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(mask, 1)
        mosaics.append(path)
    geoms, ids = [], []
    for r in range(rows):
        for c in range(cols):
            x0 = ORIGIN[0] + (GAP + c * (PLOT_W + GAP)) * PIXEL
            y0 = ORIGIN[1] - (GAP + r * (PLOT_H + GAP)) * PIXEL
            geoms.append(box(x0, y0 - PLOT_H * PIXEL, x0 + PLOT_W * PIXEL, y0))
            ids.append(f"R{r + 1:02d}C{c + 1:02d}")
    plots = outdir / "plots.gpkg"
    gpd.GeoDataFrame({"plot_id": ids}, geometry=geoms, crs="EPSG:32633").to_crs("EPSG:4326").to_file(plots)
    return mosaics, plots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--rows", type=int, default=10)
    ap.add_argument("--cols", type=int, default=10)
    ap.add_argument("--dates", nargs="+", default=["2024-06-01", "2024-06-20"])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    mosaics, plots = make_trial(a.outdir, a.rows, a.cols, tuple(a.dates), a.seed)
    print(f"{len(mosaics)} mosaics and {plots} in {a.outdir}")


if __name__ == "__main__":
    main()
