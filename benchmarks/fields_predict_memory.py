"""Peak memory of `agriseg fields predict` as the scene grows taller: does streaming hold?

Each run is a whole `agriseg fields predict` process (the default options: ONNX Runtime, 256-px tiles) on a
synthetic 8-band uint16 scene of fixed width and growing height; peak memory is the process's maximum resident
set size (`getrusage` of the child). The model is a small random U-Net (MobileNetV3-small encoder) written in
ftw-tools' checkpoint layout: memory beyond the model's own activations is what is measured, and the released
models' activations do not depend on the scene's size.

Two configurations in the same run:
- ``default``: what a user gets.
- ``untuned``: ``AGRISEG_MALLOPT=0`` and ``GDAL_CACHEMAX`` at GDAL's own default (5 % of this machine's memory),
  i.e. agriseg before it set the allocator and the block cache for streaming.

Usage:
    python benchmarks/fields_predict_memory.py --width 6000 --heights 600 3000 6000 \
        -o benchmarks/results/fields_predict_memory.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_checkpoint(path: Path) -> None:
    """A small random U-Net in ftw-tools' Lightning checkpoint layout (8 bands in, 3 classes out)."""
    import segmentation_models_pytorch as smp
    import torch

    torch.manual_seed(0)
    net = smp.Unet(encoder_name="tu-mobilenetv3_small_050", encoder_weights=None, in_channels=8, classes=3)
    buf = io.BytesIO()
    hp = {"model": "unet", "backbone": "tu-mobilenetv3_small_050", "in_channels": 8, "num_classes": 3}
    torch.save({"state_dict": {"model." + k: v for k, v in net.state_dict().items()}, "hyper_parameters": hp}, buf)
    path.write_bytes(buf.getvalue())


def make_scene(path: Path, height: int, width: int, seed: int = 0) -> None:
    """A tiled, deflate-compressed 8-band uint16 GeoTIFF of random reflectance x10000 (UTM 33N, 10 m)."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    profile = {"driver": "GTiff", "height": height, "width": width, "count": 8, "dtype": "uint16",
               "crs": "EPSG:32633", "transform": from_origin(500000, 5300000, 10, 10), "tiled": True,
               "compress": "deflate"}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        for r in range(0, height, 500):
            h = min(500, height - r)
            dst.write(rng.integers(100, 4000, (8, h, width), dtype=np.uint16), window=((r, r + h), (0, width)))


def peak_of(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(peak resident memory in GB, wall seconds, exit code) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).returncode
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB on Linux; max over children so far
    if peak <= before:
        raise RuntimeError("runs must go from the smallest scene up: ru_maxrss is the largest child's")
    return peak / 1e6, wall, rc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=6000)
    ap.add_argument("--heights", type=int, nargs="+", default=[600, 3000, 6000])
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    configs = {
        "untuned": {"AGRISEG_MALLOPT": "0", "GDAL_CACHEMAX": str(int(total * 0.05 / 2**20))},
        "default": {},
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        make_checkpoint(d / "model.ckpt")
        for h in sorted(args.heights):
            make_scene(d / f"scene_{h}.tif", h, args.width)
        # ru_maxrss of children is a running maximum: each configuration runs in its own child of this script
        for name, extra in configs.items():
            cmd = [sys.executable, __file__, "--_child", name, str(d), str(args.width), *map(str, sorted(args.heights))]
            out = subprocess.run(cmd, env={**os.environ, **extra}, capture_output=True, text=True, check=True)
            rows += json.loads(out.stdout)
    result = {
        "command": "agriseg fields predict SCENE -m model.ckpt -o out.tif (defaults)",
        "width": args.width,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {total / 2**30:.0f} GiB",
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for r in rows:
        print(f"{r['config']:8s} {r['height']:>6d} x {r['width']}: peak {r['peak_gb']:.2f} GB, {r['wall_s']:.0f} s")


def child(name: str, folder: str, width: str, heights: list[str]) -> None:
    """Run the scenes from the smallest up in this process's children; print their rows as JSON."""
    d, rows = Path(folder), []
    for h in heights:
        out = d / f"{name}_{h}.tif"
        cmd = ["agriseg", "fields", "predict", str(d / f"scene_{h}.tif"), "-m", str(d / "model.ckpt"), "-o", str(out)]
        peak, wall, rc = peak_of(cmd, dict(os.environ))
        if rc != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {rc}")
        rows.append({"config": name, "height": int(h), "width": int(width), "peak_gb": round(peak, 3),
                     "wall_s": round(wall, 1)})  # fmt: skip
        out.unlink()
    print(json.dumps(rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        main()
