"""The field-mapping benchmarks in one queue on a shared 2-core machine (about 15 min of CPU), one thread each.

Results: ``data_cache/fields_map/results.jsonl`` (git-ignored) and the files each step names. ``FTW_VENV``
points at ftw-tools 1.4.3. The 8x8 (1402 km2) end-to-end run is left out (about 4x the 4x4 time per tool):
``fields_map.py predict --grid 8 --threads 1 --rounds 1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

STEPS = [
    ["mosaic", "--grid", "4", "--grid", "8"],
    # 1. end-to-end, 4x4 mosaic (350 km2), both tools, same weights, x2 resize, one thread each
    ["predict", "--grid", "4", "--threads", "1", "--optimize", "none", "--rounds", "1",
     "-o", "data_cache/fields_map/predict_1thread.json"],
    # 2. Dask scaling: 4 scenes, 1 vs 2 single-thread workers
    ["dask", "--scenes", "4", "--workers", "1", "--workers", "2"],
    # 3. polygonisation of the same class rasters: real 8x8 mosaic (NDVI/edge classes) and synthetic 10k x 10k
    ["rasters", "heuristic", "--grid", "8"],
    ["polygonize", "--raster", "heuristic8", "--tool", "all", "--block", "1024"],
    ["rasters", "synthetic", "--size", "10000"],
    ["polygonize", "--raster", "synthetic10000", "--tool", "ours", "--block", "4096"],
    ["polygonize", "--raster", "synthetic10000", "--tool", "ftw"],
    # 4. bf16 autocast / traced model (CPU with AVX512-BF16), same mosaic
    ["predict", "--grid", "4", "--tool", "agriseg", "--threads", "1", "--precision", "bf16", "--optimize", "none",
     "--rounds", "1", "-o", "data_cache/fields_map/predict_bf16.json"],
    ["predict", "--grid", "4", "--tool", "agriseg", "--threads", "1", "--optimize", "jit", "--rounds", "1",
     "-o", "data_cache/fields_map/predict_jit.json"],
]  # fmt: skip


@click.command()
def main() -> None:
    """Run every step in turn (stops at the first that fails)."""
    script = Path(__file__).resolve().parents[1] / "fields_map.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for step in STEPS:
        print("+ fields_map.py", " ".join(step), flush=True)
        subprocess.run([sys.executable, str(script), *step], check=True, env=env, cwd=script.parents[1])
    print("done")
