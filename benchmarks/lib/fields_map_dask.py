"""Dask scaling: ``run_map`` over 4 scenes with 1 vs 2 local workers, one thread each.

The model is the EfficientNet-B3 U-Net of the other field benchmarks (random weights, ftw-tools checkpoint
format), x2 resize. The scenes are copies of the real scene (22 km2 each, ``--grid 1``) or of its NxN
mirrored mosaic (``--grid 2``: 88 km2 each) under distinct names; each run starts from an empty output
folder and its own local cluster, so starting the workers and loading the model in each is part of the
time. ``--rounds`` repeats the 1-worker / 2-worker pair (interleaved) and records the load average.

    python benchmarks/fields_map.py dask --scenes 4 --grid 2 --workers 1 --workers 2 --rounds 2

Result: ``benchmarks/results/fields_map_dask.json`` (and ``data_cache/fields_map/results.jsonl``).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from pathlib import Path

import click
from fields_map_common import CACHE, CKPT, SCENE, save_result, write_ftw_checkpoint

from lib.fields_map_mosaic import build_mosaic, mosaic_path


@click.command()
@click.option("--scenes", "n_scenes", default=4, show_default=True)
@click.option("--grid", default=1, show_default=True, help="1 = the real scene, N = its NxN mosaic")
@click.option("--workers", "workers", type=int, multiple=True, default=(1, 2), show_default=True)
@click.option("--rounds", default=1, show_default=True)
@click.option("--patch", default=256, show_default=True)
@click.option(
    "--out",
    default=str(Path(__file__).resolve().parents[1] / "results" / "fields_map_dask.json"),
    show_default=True,
)
def main(n_scenes: int, grid: int, workers: tuple[int, ...], rounds: int, patch: int, out: str) -> None:
    """Run the scaling benchmark."""
    from agriseg.fields.config import PredictConfig
    from agriseg.fields.mapping import run_map

    write_ftw_checkpoint()
    base = SCENE if grid == 1 else build_mosaic(SCENE, grid, mosaic_path(grid))
    d = CACHE / "dask" / f"scenes_{grid}x{grid}"
    d.mkdir(parents=True, exist_ok=True)
    scenes = []
    for i in range(n_scenes):
        p = d / f"scene{i}.tif"
        if not p.exists():
            shutil.copy(base, p)
        scenes.append(p)
    pcfg = PredictConfig(patch_size=patch, overlap=0.25, batch_size=4, progress=False)
    runs = []
    for r in range(rounds):
        for w in workers:
            out_dir = CACHE / "dask" / f"out_{w}w"
            shutil.rmtree(out_dir, ignore_errors=True)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            rows, merged = run_map(
                scenes,
                out_dir,
                CKPT,
                backend="dask",
                predict=pcfg,
                resize=2.0,
                n_workers=w,
                threads_per_worker=1,
                processes=True,
                progress=False,
            )
            wall = time.perf_counter() - t0
            row = {
                "round": r,
                "scenes": n_scenes,
                "grid": grid,
                "workers": w,
                "threads_per_worker": 1,
                "wall_s": round(wall, 2),
                "load_1min_before": round(load, 2),
                "statuses": [x["status"] for x in rows],
                "predict_s": [round(x.get("predict_s", 0), 2) for x in rows],
                "polygonize_s": [round(x.get("polygonize_s", 0), 2) for x in rows],
                "fields": sum(x.get("fields_count", 0) for x in rows),
                "km2": round(sum(x.get("area_km2", 0) for x in rows), 1),
            }
            runs.append(row)
            save_result(f"dask-{w}workers", row)
    speedups = [
        a["wall_s"] / b["wall_s"]
        for a, b in zip([x for x in runs if x["workers"] == 1], [x for x in runs if x["workers"] == 2], strict=False)
    ]
    result = {"runs": runs, "speedup_2_vs_1_rounds": [round(v, 2) for v in speedups]}
    if speedups:
        result["speedup_2_vs_1_median"] = round(statistics.median(speedups), 2)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))
