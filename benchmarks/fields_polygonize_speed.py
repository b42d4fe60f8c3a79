"""Polygonisation speed and memory: ``agriseg fields polygonize`` vs ``ftw inference polygonize``.

Whole processes, interleaved (ftw, agriseg default, agriseg ``--separation components``, single
``rasterio.features.shapes`` pass, then again) so that load from other work on the machine hits every
tool alike; each run records the 1-minute load average before it starts. Peak memory is the summed PSS of
the process and its children (agriseg's block workers included), sampled every 0.25 s, and
``/usr/bin/time``'s maximum RSS of the largest single process. Both tools: 5 m simplification, 500 m2
minimum area. Seam check as in ``fields_map_polygonize.py``: class-1 components of the whole raster
covered by more than one polygon (for the watershed default this also counts the touching fields it
separates on purpose; those are reported separately as polygons minus components).

    python benchmarks/fields_map_rasters.py synthetic --size 10000
    python benchmarks/fields_polygonize_speed.py --raster synthetic10000 --rounds 3

Result: ``benchmarks/results/fields_polygonize_speed.json`` (medians over rounds, and every run).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

import click
from fields_map_common import CACHE, FTW_VENV, measured_run
from fields_map_polygonize import resolve, split_fields

REPO = Path(__file__).resolve().parents[1]

FLOOR = """
import sys, time, numpy as np, rasterio
from rasterio.features import shapes
with rasterio.open(sys.argv[1]) as ds:
    cls = ds.read(1)
    n = sum(1 for _ in shapes((cls == 1).astype(np.uint8), mask=cls == 1, connectivity=4, transform=ds.transform))
print(n, "polygons")
"""


@click.command()
@click.option("--raster", default="synthetic10000", show_default=True)
@click.option("--rounds", default=3, show_default=True)
@click.option("--out", default=str(REPO / "benchmarks" / "results" / "fields_polygonize_speed.json"), show_default=True)
def main(raster: str, rounds: int, out: str) -> None:
    """Run the interleaved benchmark."""
    src = resolve(raster)
    work = CACHE / "polygonize_speed"
    work.mkdir(parents=True, exist_ok=True)
    agriseg = [sys.executable, "-m", "agriseg", "fields", "polygonize", str(src)]
    agriseg += ["--simplify", "5", "--min-area", "500"]
    tools = {
        "ftw": [
            str(FTW_VENV / "bin" / "ftw"),
            "inference",
            "polygonize",
            str(src),
            "-o",
            str(work / "ftw.fgb"),
            "--simplify",
            "5",
            "--min_size",
            "500",
            "-f",
        ],
        "agriseg_default": [*agriseg, "-o", str(work / "agriseg_default.fgb"), "--overwrite"],
        "agriseg_components": [
            *agriseg,
            "-o",
            str(work / "agriseg_components.fgb"),
            "--separation",
            "components",
            "--overwrite",
        ],
        "shapes_floor": [sys.executable, "-c", FLOOR, str(src)],
    }
    runs: list[dict] = []
    for r in range(rounds):
        for name, cmd in tools.items():
            row = {"tool": name, "round": r, **measured_run(cmd, {"OMP_NUM_THREADS": "1"})}
            runs.append(row)
            print(json.dumps(row), flush=True)
    summary: dict = {}
    for name in tools:
        rows = [x for x in runs if x["tool"] == name and x["rc"] == 0]
        if rows:
            summary[name] = {
                k: statistics.median(x[k] for x in rows) for k in ("wall_s", "peak_tree_pss_gb", "max_rss_gb")
            }
    for name in ("agriseg_default", "agriseg_components"):
        # ratios per round (same round = same load), then the median
        ratios = [
            f["wall_s"] / a["wall_s"]
            for f, a in zip(
                [x for x in runs if x["tool"] == "ftw"], [x for x in runs if x["tool"] == name], strict=True
            )
        ]
        if name in summary:
            summary[name]["speedup_vs_ftw_median"] = round(statistics.median(ratios), 2)
            summary[name]["speedup_vs_ftw_rounds"] = [round(v, 2) for v in ratios]
    quality = {}
    for name in ("ftw", "agriseg_default", "agriseg_components"):
        f = work / f"{name}.fgb"
        if f.is_file():
            q = split_fields(src, f)
            q["polygons_minus_components"] = q["polygons"] - q["components"]
            quality[name] = q
    result = {
        "raster": str(src.relative_to(REPO)) if src.is_relative_to(REPO) else str(src),
        "cpu_count": os.cpu_count(),
        "rounds": rounds,
        "summary": summary,
        "quality": quality,
        "runs": runs,
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"summary": summary, "quality": quality}, indent=1))


if __name__ == "__main__":
    main()
