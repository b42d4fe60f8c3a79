"""End-to-end scene inference: ``agriseg fields predict`` vs ``ftw inference run`` on a mirrored mosaic.

Same EfficientNet-B3 U-Net weights (an ftw-format checkpoint, random weights, seed 0), same x2 resize,
same thread count. ftw-tools: patch 1024, padding 64 (12.5% overlap, argmax, last write wins), batch 2.
agriseg: patch 256 (512 after resize), 25% overlap with Gaussian-blended softmax probabilities, COG with
probability bands. Each tool runs as its own process (imports and model loading included in the time);
peak memory is the summed PSS of the process tree (ftw-tools' 6 data-loader workers included).

    flock /tmp/agriseg-cpu.lock python benchmarks/fields_map_predict.py --grid 4 --tool both --threads 1
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click
from fields_map_common import CACHE, CKPT, FTW_VENV, save_result, timed_run, write_ftw_checkpoint
from fields_map_mosaic import build_mosaic, mosaic_path


def _area_km2(path: Path) -> float:
    import rasterio

    with rasterio.open(path) as ds:
        return ds.width * ds.height * abs(ds.transform.a * ds.transform.e) / 1e6


def run_ours(scene: Path, out: Path, threads: int, precision: str, optimize: str, patch: int, batch: int) -> dict:
    """Time ``agriseg fields predict`` in a fresh process."""
    exe = shutil.which("agriseg") or f"{sys.executable} -m agriseg"
    cmd = [
        *exe.split(),
        "fields",
        "predict",
        str(scene),
        "-o",
        str(out),
        "-m",
        str(CKPT),
        "--resize",
        "2",
        "--tile",
        str(patch),
        "--overlap",
        "0.25",
        "--batch-size",
        str(batch),
        "--precision",
        precision,
        "--optimize",
        optimize,
        "--threads",
        str(threads),
        "--overwrite",
    ]
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return timed_run(cmd, env, out.with_suffix(".log"))


def run_ftw(scene: Path, out: Path, threads: int) -> dict:
    """Time ``ftw inference run`` (ftw-tools 1.4.3 defaults: patch 1024, padding 64, batch 2) in its venv.

    Scenes smaller than 1024 px get ftw-tools' own default patch (the largest of 512/256/128 that fits).
    """
    import rasterio

    with rasterio.open(scene) as ds:
        small = min(ds.width, ds.height) < 1024
    patch = [] if small else ["--patch_size", "1024"]
    ftw = str(FTW_VENV / "bin" / "ftw")
    cmd = [ftw, "inference", "run", str(scene), "-m", str(CKPT), "-o", str(out), "--resize_factor", "2"]
    cmd += [*patch]
    cmd += ["--batch_size", "2", "-f"]
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return timed_run(cmd, env, out.with_suffix(".log"))


@click.command()
@click.option("--grid", default=4, show_default=True, help="mosaic size (4 = 350 km2, 8 = 1402 km2)")
@click.option("--tool", type=click.Choice(["ours", "ftw", "both"]), default="both", show_default=True)
@click.option("--threads", default=1, show_default=True)
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True)
@click.option("--optimize", type=click.Choice(["none", "jit"]), default="none", show_default=True)
@click.option("--patch", default=256, show_default=True, help="our patch size (scene pixels)")
@click.option("--batch", default=4, show_default=True, help="our batch size")
@click.option(
    "--scene",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="a scene instead of the mosaic (e.g. the real 22 km2 scene)",
)
def main(
    grid: int,
    tool: str,
    threads: int,
    precision: str,
    optimize: str,
    patch: int,
    batch: int,
    scene: str | None,
) -> None:
    """Run the end-to-end benchmark and append the rows to data_cache/fields_map/results.jsonl."""
    from fields_map_common import SCENE

    write_ftw_checkpoint()
    src = Path(scene) if scene else build_mosaic(SCENE, grid, mosaic_path(grid))
    if scene:  # ftw-tools globs the scene's folder: give it a folder of its own
        own = CACHE / "single" / src.name
        own.parent.mkdir(parents=True, exist_ok=True)
        if not own.exists():
            shutil.copy(src, own)
        src = own
    km2 = _area_km2(src)
    outdir = CACHE / "predict"
    outdir.mkdir(parents=True, exist_ok=True)
    tag = src.stem
    rows = {}
    if tool in ("ours", "both"):
        r = run_ours(src, outdir / f"ours_{tag}_{precision}_{optimize}.tif", threads, precision, optimize, patch, batch)
        r.update(
            km2=km2,
            km2_per_s=km2 / r["wall_s"],
            threads=threads,
            precision=precision,
            optimize=optimize,
            patch=patch,
            overlap=0.25,
            blend="gaussian",
        )
        rows["ours"] = r
        save_result(f"predict-ours-{tag}", r)
    if tool in ("ftw", "both"):
        r = run_ftw(src, outdir / f"ftw_{tag}.tif", threads)
        r.update(km2=km2, km2_per_s=km2 / r["wall_s"], threads=threads, patch=1024, overlap=0.125, blend="none")
        rows["ftw"] = r
        save_result(f"predict-ftw-{tag}", r)
    if len(rows) == 2 and rows["ours"]["rc"] == 0 and rows["ftw"]["rc"] == 0:
        save_result(
            f"predict-ratio-{tag}",
            {
                "speedup": rows["ours"]["km2_per_s"] / rows["ftw"]["km2_per_s"],
                "memory_ratio": rows["ours"]["peak_gb"] / max(rows["ftw"]["peak_gb"], 1e-9),
            },
        )


if __name__ == "__main__":
    main()
