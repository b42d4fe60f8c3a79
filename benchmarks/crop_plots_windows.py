"""How much ``agriseg crop plots`` numbers of an RGB orthomosaic move with ``--window``.

On an RGB mosaic the model decides unsure pixels by their colour within each window, so a plot's green fraction
can move a little with the window size (a mask mosaic does not: tests/crop/traits/test_orthomosaic.py). This
builds an RGB GeoTIFF mosaic from Peanut photos side by side (the bundled samples by default: 2,880 x 720 px,
1 cm pixels, EPSG:32633) with a grid of plot rectangles, runs the documented command as a user types it at each
``--window`` (the largest one reads the whole mosaic as one window) and reports, against the whole-mosaic
window, the mean and largest absolute difference of the plots' green fraction and how many plots' plant counts
differ. It also runs ``crop predict --long-side 0`` on the mosaic and measures its mask with ``crop plots``:
the whole-mosaic window should equal it.

    python benchmarks/crop_plots_windows.py -o benchmarks/results/crop_plots_windows.json
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "src/agriseg/samples/peanut/images"


def make_mosaic(photos: list[Path], out: Path, rows: int, cols: int) -> tuple[Path, Path]:
    """An RGB GeoTIFF of ``photos`` side by side and a GeoPackage of ``rows`` x ``cols`` plot rectangles."""
    import geopandas as gpd
    import rasterio
    from PIL import Image
    from rasterio.transform import from_origin
    from shapely.geometry import box

    rgb = np.concatenate([np.asarray(Image.open(p).convert("RGB")) for p in photos], axis=1)  # (H, W, 3)
    h, w = rgb.shape[:2]
    pixel, x0, y0 = 0.01, 500_000.0, 5_300_000.0
    tif = out / "mosaic.tif"
    profile = {"driver": "GTiff", "height": h, "width": w, "count": 3, "dtype": "uint8", "crs": "EPSG:32633",
               "transform": from_origin(x0, y0, pixel, pixel), "photometric": "RGB"}  # fmt: skip
    with rasterio.open(tif, "w", **profile) as ds:
        ds.write(rgb.transpose(2, 0, 1))
    ph, pw, gap = h / rows, w / cols, 10  # plot cells in px, with a gap of 10 px between plots
    plots = [
        {"plot_id": f"R{r + 1:02d}C{c + 1:02d}",
         "geometry": box(x0 + (c * pw + gap) * pixel, y0 - ((r + 1) * ph - gap) * pixel,
                         x0 + ((c + 1) * pw - gap) * pixel, y0 - (r * ph + gap) * pixel)}
        for r in range(rows)
        for c in range(cols)
    ]  # fmt: skip
    gpkg = out / "plots.gpkg"
    gpd.GeoDataFrame(plots, crs="EPSG:32633").to_file(gpkg)
    return tif, gpkg


def _run(args: list[str]) -> None:
    """One agriseg command as a user types it (this checkout's package), stopping on failure."""
    res = subprocess.run([sys.executable, "-m", "agriseg", "-q", *args], capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(f"agriseg {' '.join(args)} failed:\n{res.stdout}{res.stderr}")


def _table(folder: Path) -> dict[str, tuple[float, int]]:
    """``plot_id -> (green_fraction, plant_count)`` of the one ``*_plots.csv`` in ``folder``."""
    (path,) = folder.glob("*_plots.csv")
    with path.open(newline="") as f:
        return {r["plot_id"]: (float(r["green_fraction"]), int(r["plant_count"])) for r in csv.DictReader(f)}


def _compare(a: dict[str, tuple[float, int]], b: dict[str, tuple[float, int]]) -> dict[str, float | int]:
    diff = np.array([abs(a[k][0] - b[k][0]) for k in b])
    return {
        "mean_abs_green_fraction_difference": round(float(diff.mean()), 5),
        "max_abs_green_fraction_difference": round(float(diff.max()), 5),
        "plots_with_other_plant_count": int(sum(a[k][1] != b[k][1] for k in b)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, nargs="+", default=sorted(SAMPLES.glob("*.jpg")))
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("--cols", type=int, default=13)
    ap.add_argument("--windows", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("-o", "--output", type=Path)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tif, gpkg = make_mosaic(a.photos, work, a.rows, a.cols)
        import rasterio

        with rasterio.open(tif) as ds:
            whole = max(ds.width, ds.height)
        tables = {}
        for win in [*a.windows, whole]:
            _run(["crop", "plots", str(tif), "--plots", str(gpkg), "-o", str(work / f"w{win}"), "--window", str(win)])
            tables[win] = _table(work / f"w{win}")
        _run(["crop", "predict", str(tif), "-o", str(work / "pred"), "--long-side", "0"])
        (mask,) = (work / "pred").glob("*_mask.png")  # georeferenced by its .aux.xml
        _run(["crop", "plots", str(mask), "--plots", str(gpkg), "-o", str(work / "pred_plots"), "--window", str(whole)])
        predicted = _table(work / "pred_plots")
    result = {
        "mosaic": {"photos": [p.name for p in a.photos], "width_px": whole, "plots": a.rows * a.cols},
        "command": "agriseg crop plots mosaic.tif --plots plots.gpkg -o OUT --window W",
        "mean_green_fraction": {
            str(w): round(float(np.mean([v[0] for v in t.values()])), 5) for w, t in tables.items()
        },
        "against_whole_mosaic_window": {str(w): _compare(tables[w], tables[whole]) for w in a.windows},
        "whole_window_vs_crop_predict_long_side_0": _compare(predicted, tables[whole]),
    }
    text = json.dumps(result, indent=1)
    print(text)
    if a.output:
        a.output.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
