"""Peak memory of ``agriseg crop predict`` and ``crop traits`` on one large photo, per pixel of the photo.

The up-front memory check of both commands (``agriseg.crop.predict.check_photo_memory``) counts
``FULL_SIZE_BYTES`` per pixel of the photo being finished; this measures what a whole process takes, as a user
runs it with the defaults, on mosaics of the bundled Peanut sample at growing sizes, and fits the bytes per
pixel above the process's base (the slope of the peak against the pixel count).

    python benchmarks/crop_photo_memory.py -o benchmarks/results/crop_photo_memory.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLE = Path(__file__).resolve().parents[1] / "src/agriseg/samples/peanut/images/0003.jpg"
SIZES = ((960, 720), (4000, 3000), (8000, 6000))


def peak_rss(args: list[str]) -> tuple[int, float]:
    """``(peak bytes, seconds)`` of one command in a process of its own (its children's peak, read there)."""
    probe = (
        "import resource, subprocess, sys, time; t = time.time(); "
        "r = subprocess.run(sys.argv[1:], capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, time.time() - t, r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True)
    peak, seconds, rc = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"{' '.join(args)} exited {rc}")
    return int(peak), float(seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/crop_photo_memory.json"))
    args = ap.parse_args()
    tile = np.asarray(Image.open(SAMPLE).convert("RGB"))  # (720, 960, 3)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in SIZES:
            folder = Path(tmp) / f"p{w}"
            folder.mkdir()
            reps = (h // tile.shape[0] + 1, w // tile.shape[1] + 1, 1)
            Image.fromarray(np.tile(tile, reps)[:h, :w]).save(folder / f"mosaic_{w}x{h}.jpg", quality=92)
            for command in ("predict", "traits"):
                peak, seconds = peak_rss(
                    ["agriseg", "crop", command, str(folder), "-o", str(Path(tmp) / command / folder.name)]
                )
                rows.append(
                    {"command": f"crop {command}", "width": w, "height": h, "peak_bytes": peak, "seconds": seconds}
                )
                print(f"crop {command} {w}x{h}: {peak / 2**30:.2f} GiB in {seconds:.1f} s", flush=True)
    fits = {}
    for command in ("crop predict", "crop traits"):
        px = np.array([r["width"] * r["height"] for r in rows if r["command"] == command], float)
        peak = np.array([r["peak_bytes"] for r in rows if r["command"] == command], float)
        slope, base = np.polyfit(px, peak, 1)
        fits[command] = {"bytes_per_pixel": round(float(slope), 1), "base_bytes": int(base)}
        print(f"{command}: {slope:.1f} bytes per photo pixel above a base of {base / 2**30:.2f} GiB")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"runs": rows, "fit": fits}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
