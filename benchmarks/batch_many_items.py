"""Time per photo of ``agriseg crop predict`` and ``crop traits`` (of its masks) as batches grow to thousands.

The batch runner's own work per item (the output folder's manifest, the check that no output replaces an
input) must stay constant as batches grow, so that 6,000 photos take 60 times what 100 take. This measures whole
processes on small crops (64 x 48 px) of the bundled Peanut samples, at their own size (``--long-side 0``: the
model's time is small, so the runner's shows), into an empty folder and into a folder already holding as many
outputs, and reports seconds per photo for each.

    python benchmarks/batch_many_items.py -o benchmarks/results/batch_many_items.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "src/agriseg/samples/peanut/images"
COUNTS = (100, 3000)


def make_photos(folder: Path, n: int, prefix: str) -> None:
    """``n`` crops of 64 x 48 px from the sample photos, each one different."""
    folder.mkdir(parents=True)
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(SAMPLES.glob("*.jpg"))]
    rng = np.random.default_rng(0)
    for i in range(n):
        im = photos[i % len(photos)]
        y, x = rng.integers(0, im.shape[0] - 48), rng.integers(0, im.shape[1] - 64)
        Image.fromarray(im[y : y + 48, x : x + 64]).save(folder / f"{prefix}{i:05d}.jpg", quality=90)


def timed(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/batch_many_items.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in COUNTS:
            first, second = Path(tmp) / f"a{n}", Path(tmp) / f"b{n}"
            make_photos(first, n, "a")
            make_photos(second, n, "b")
            masks = [Path(tmp) / f"ma{n}", Path(tmp) / f"mb{n}"]
            for command in ("predict", "traits"):  # traits of the masks predict wrote (no model pass)
                out = Path(tmp) / f"{command}{n}"
                inputs = [first, second] if command == "predict" else masks
                base = ["agriseg", "crop", command, "-o", str(out)] + (
                    ["--long-side", "0"] if command == "predict" else []
                )
                fresh = timed([*base, str(inputs[0])])
                more = timed([*base, *map(str, inputs)])  # n new photos into a folder holding n
                rows.append({"command": f"crop {command}", "photos": n, "fresh_s": fresh, "into_full_s": more})
                print(
                    f"crop {command} {n:>5} photos: {1000 * fresh / n:.1f} ms/photo into an empty folder, "
                    f"{1000 * more / n:.1f} ms/photo for {n} more into it (the first {n} skipped)",
                    flush=True,
                )
                if command == "predict":
                    for folder, prefix in zip(masks, "ab", strict=True):
                        folder.mkdir()
                        for m in out.glob(f"{prefix}*_mask.png"):
                            m.rename(folder / m.name)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"rows": rows}, indent=1) + "\n", encoding="utf-8")
    print(f"-> {args.output}")


if __name__ == "__main__":
    main()
