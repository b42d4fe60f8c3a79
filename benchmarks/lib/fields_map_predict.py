"""Scene inference speed and memory: ``agriseg fields predict`` vs ``ftw inference run`` on a mirrored mosaic.

Same EfficientNet-B3 U-Net weights (an ftw-format checkpoint, random weights, seed 0), same x2 resize.
ftw-tools 1.4.3 with its defaults: patch 1024 (or its own default below 1024 px), padding 64 (12.5 %
overlap, argmax, last write wins), batch 2. agriseg with its defaults (256-px patches, 25 % overlap,
Gaussian-blended softmax probabilities, class + probability COG) unless ``--tile`` / ``--batch-size`` /
``--precision`` / ``--optimize`` say otherwise. Without ``--threads`` neither tool gets a thread count (each
uses its own default); ``--threads N`` pins both to N threads.

Whole processes, interleaved (ftw, agriseg, ftw, agriseg, ...) with the 1-minute load average recorded
before each run; peak memory is the summed PSS of the process tree (ftw-tools' data-loader workers
included) and ``/usr/bin/time``'s maximum RSS of the largest single process. agriseg's first run on a new
patch size exports the model to ONNX into a private user cache: it is timed separately, on the original
scene, and every timed round then loads the export.

    python benchmarks/fields_map.py predict --grid 4 --rounds 2          # results/fields_predict_speed.json
    python benchmarks/fields_map.py predict --grid 4 --rounds 1 --threads 1 -o results/fields_map_1thread.json
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

import click
from fields_map_common import CACHE, CKPT, SCENE, ftw_executable, measured_run, write_ftw_checkpoint

from lib.fields_map_mosaic import build_mosaic, mosaic_path

REPO = Path(__file__).resolve().parents[2]
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _area_km2(path: Path) -> float:
    import rasterio

    with rasterio.open(path) as ds:
        return ds.width * ds.height * abs(ds.transform.a * ds.transform.e) / 1e6


def ftw_command(scene: Path, out: Path) -> list[str]:
    """``ftw inference run`` with ftw-tools' defaults (scenes under 1024 px get its own default patch)."""
    import rasterio

    with rasterio.open(scene) as ds:
        small = min(ds.width, ds.height) < 1024
    cmd = [ftw_executable(), "inference", "run", str(scene), "-m", str(CKPT), "-o", str(out)]
    return [*cmd, "--resize_factor", "2", *([] if small else ["--patch_size", "1024"]), "--batch_size", "2", "-f"]


def agriseg_command(scene: Path, out: Path, options: list[str]) -> list[str]:
    """``agriseg fields predict`` with the x2 resize and ``options`` (empty: the user's defaults)."""
    return [sys.executable, "-m", "agriseg", "fields", "predict", str(scene), "-o", str(out), "-m", str(CKPT),
            "--resize", "2", *options, "--overwrite"]  # fmt: skip


@click.command()
@click.option("--grid", default=4, show_default=True, help="mosaic size (4 = 350 km2, 8 = 1402 km2)")
@click.option("--scene", type=click.Path(exists=True, dir_okay=False), default=None,
              help="a scene instead of the mosaic (e.g. the real 22 km2 scene)")  # fmt: skip
@click.option("--tool", type=click.Choice(["agriseg", "ftw", "both"]), default="both", show_default=True)
@click.option("--rounds", default=2, show_default=True, help="interleaved rounds; the median is reported")
@click.option("--threads", type=int, default=None, help="pin both tools to N threads (default: their own)")
@click.option("--tile", type=int, default=None, help="agriseg --tile (default: its own)")
@click.option("--batch-size", type=int, default=None, help="agriseg --batch-size (default: its own)")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default=None, help="agriseg --precision")
@click.option("--optimize", type=click.Choice(["onnxruntime", "none", "jit"]), default=None, help="agriseg --optimize")
@click.option("-o", "--output", default=str(REPO / "benchmarks" / "results" / "fields_predict_speed.json"),
              show_default=True)  # fmt: skip
def main(
    grid: int,
    scene: str | None,
    tool: str,
    rounds: int,
    threads: int | None,
    tile: int | None,
    batch_size: int | None,
    precision: str | None,
    optimize: str | None,
    output: str,
) -> None:
    """Time both tools on the same scene, interleaved, and write the runs and their medians to OUTPUT."""
    write_ftw_checkpoint()
    src = Path(scene) if scene else build_mosaic(SCENE, grid, mosaic_path(grid))
    if scene:  # ftw-tools globs the scene's folder: give it a folder of its own
        own = CACHE / "single" / src.name
        own.parent.mkdir(parents=True, exist_ok=True)
        if not own.exists():
            shutil.copy(src, own)
        src = own
    km2 = _area_km2(src)
    work = CACHE / "predict_speed"
    work.mkdir(parents=True, exist_ok=True)
    options: list[str] = []
    for flag, value in (("--tile", tile), ("--batch-size", batch_size), ("--precision", precision),
                        ("--optimize", optimize), ("--threads", threads)):  # fmt: skip
        options += [flag, str(value)] if value is not None else []
    tools: dict[str, list[str]] = {}
    if tool in ("ftw", "both"):
        tools["ftw"] = ftw_command(src, work / "ftw.tif")
    if tool in ("agriseg", "both"):
        tools["agriseg"] = agriseg_command(src, work / "agriseg.tif", options)
    threads_env = {v: str(threads) for v in THREAD_VARS} if threads else {}
    drop = () if threads else THREAD_VARS
    cache_env = {"AGRISEG_CACHE_DIR": str(work / "agriseg-cache"), **threads_env}
    result: dict = {"scene": src.name if scene else f"{grid}x{grid} mosaic", "km2": round(km2, 1), "rounds": rounds}
    result["threads"] = threads or "default"
    result["agriseg_options"] = options
    if "agriseg" in tools:
        first_cmd = agriseg_command(SCENE, work / "agriseg-first.tif", options)
        result["agriseg_first_run_original_scene"] = measured_run(first_cmd, env=cache_env, drop_env=drop)
        print(json.dumps(result["agriseg_first_run_original_scene"]), flush=True)
    runs = []
    for r in range(rounds):
        for name, cmd in tools.items():
            env = cache_env if name == "agriseg" else threads_env
            row = {"tool": name, "round": r, **measured_run(cmd, env=env, drop_env=drop)}
            row["km2_per_s"] = round(km2 / row["wall_s"], 3)
            runs.append(row)
            print(json.dumps(row), flush=True)
    ok = {n: [x for x in runs if x["tool"] == n and x["rc"] == 0] for n in tools}
    summary: dict = {
        n: {k: statistics.median(x[k] for x in rows) for k in ("wall_s", "peak_tree_pss_gb", "max_rss_gb")}
        for n, rows in ok.items()
        if rows
    }
    pairs = list(zip(ok.get("ftw", []), ok.get("agriseg", []), strict=False))
    if pairs:
        summary["speedup_rounds"] = [round(f["wall_s"] / a["wall_s"], 2) for f, a in pairs]
        summary["memory_ratio_rounds"] = [round(a["peak_tree_pss_gb"] / f["peak_tree_pss_gb"], 3) for f, a in pairs]
        summary["speedup_median"] = statistics.median(summary["speedup_rounds"])
        summary["memory_ratio_median"] = statistics.median(summary["memory_ratio_rounds"])
    result["summary"] = summary
    result["runs"] = runs
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
