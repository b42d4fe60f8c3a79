"""Scene prediction speed and memory: ``agriseg fields predict`` vs ``ftw inference run``, default threads.

The 4x4 mirrored mosaic of the real scene (350 km2), the same random-weight EfficientNet-B3 U-Net as an
ftw-tools checkpoint, x2 resize. agriseg with its defaults (256-px patches, 25 % overlap, Gaussian blend,
class + probability COG); ftw-tools 1.4.3 with patch 1024 and batch 2 (its defaults, argmax, last write
wins). Neither gets a thread count: each uses its own default. Whole processes, interleaved (ftw, agriseg,
ftw, agriseg, ...) with the 1-minute load average recorded before each run; peak memory is the summed PSS
of the process tree (ftw-tools' data-loader workers included).

    python benchmarks/fields_predict_speed.py --grid 4 --rounds 2

Result: ``benchmarks/results/fields_predict_speed.json``.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import click
from fields_map_common import CACHE, CKPT, FTW_VENV, SCENE, measured_run, write_ftw_checkpoint
from fields_map_mosaic import build_mosaic, mosaic_path

REPO = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@click.command()
@click.option("--grid", default=4, show_default=True)
@click.option("--rounds", default=2, show_default=True)
@click.option("--out", default=str(REPO / "benchmarks" / "results" / "fields_predict_speed.json"), show_default=True)
def main(grid: int, rounds: int, out: str) -> None:
    """Run the interleaved benchmark."""
    import rasterio

    write_ftw_checkpoint()
    scene = build_mosaic(SCENE, grid, mosaic_path(grid))
    with rasterio.open(scene) as ds:
        km2 = ds.width * ds.height * abs(ds.transform.a * ds.transform.e) / 1e6
    work = CACHE / "predict_speed"
    work.mkdir(parents=True, exist_ok=True)
    tools = {
        "ftw": [
            str(FTW_VENV / "bin" / "ftw"),
            "inference",
            "run",
            str(scene),
            "-m",
            str(CKPT),
            "-o",
            str(work / "ftw.tif"),
            "--resize_factor",
            "2",
            "--patch_size",
            "1024",
            "--batch_size",
            "2",
            "-f",
        ],
        "agriseg": [
            sys.executable,
            "-m",
            "agriseg",
            "fields",
            "predict",
            str(scene),
            "-o",
            str(work / "agriseg.tif"),
            "-m",
            str(CKPT),
            "--resize",
            "2",
            "--overwrite",
        ],
    }
    # agriseg's first run on a new patch size exports the model to ONNX into the user cache (a private one
    # here); it is timed separately, on the original scene, and every timed round then loads the export
    cache_env = {"AGRISEG_CACHE_DIR": str(work / "agriseg-cache")}
    first_cmd = [*tools["agriseg"][:5], str(SCENE), "-o", str(work / "agriseg-first.tif"), *tools["agriseg"][8:]]
    first = measured_run(first_cmd, env=cache_env, drop_env=THREAD_VARS)
    print(json.dumps({"first_run_original_scene": first}), flush=True)
    runs = []
    for r in range(rounds):
        for name, cmd in tools.items():
            env = cache_env if name == "agriseg" else None
            row = {"tool": name, "round": r, **measured_run(cmd, env=env, drop_env=THREAD_VARS)}
            row["km2_per_s"] = round(km2 / row["wall_s"], 3)
            runs.append(row)
            print(json.dumps(row), flush=True)
    ok = {n: [x for x in runs if x["tool"] == n and x["rc"] == 0] for n in tools}
    summary = {
        n: {k: statistics.median(x[k] for x in rows) for k in ("wall_s", "peak_tree_pss_gb", "max_rss_gb")}
        for n, rows in ok.items()
        if rows
    }
    pairs = list(zip(ok["ftw"], ok["agriseg"], strict=False))
    if pairs:
        summary["speedup_rounds"] = [round(f["wall_s"] / a["wall_s"], 2) for f, a in pairs]
        summary["memory_ratio_rounds"] = [round(a["peak_tree_pss_gb"] / f["peak_tree_pss_gb"], 3) for f, a in pairs]
        summary["speedup_median"] = statistics.median(summary["speedup_rounds"])
        summary["memory_ratio_median"] = statistics.median(summary["memory_ratio_rounds"])
    result = {"scene": f"{grid}x{grid} mosaic", "km2": round(km2, 1), "rounds": rounds, "summary": summary}
    result["agriseg_first_run_original_scene"] = first
    result["runs"] = runs
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
