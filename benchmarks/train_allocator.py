"""Does glibc's allocator setting change CPU training speed? `agriseg crop train` with and without it.

Compares glibc's defaults, the environment variables, and agriseg's built-in ``mallopt`` call
(``agriseg.runtime.tune_allocator``, on by default; ``AGRISEG_MALLOPT=0`` turns it off). Runs the default
model's v4 config for a fixed number of training batches (no validation, no generated scenes),
as whole processes, alternating the two settings, and reports wall time per run and the median seconds per
batch from the difference of a long and a short run (which cancels start-up and export):

    python benchmarks/train_allocator.py --rounds 2 -o benchmarks/results/train_allocator.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1000000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000000"}


def run(batches: int, env_extra: dict[str, str], out: Path, threads: int) -> float:
    """Wall seconds of one `crop train` process over ``batches`` training batches."""
    env = {k: v for k, v in os.environ.items() if k not in MALLOC and k != "AGRISEG_MALLOPT"}
    env.update(env_extra, OMP_NUM_THREADS=str(threads))
    cmd = [
        sys.executable, "-m", "agriseg", "crop", "train", "-c", "configs/crop/peanut_vegetation_v4.yaml",
        "--set", f"output_dir={out}", "--set", "data.extra=[]", "--set", "train.epochs=1",
        "--set", f"train.limit_train_batches={batches}", "--set", "train.val_every=1",
        "--set", "train.max_minutes=null", "--set", "data.val_list=null", "--set", "data.val_fraction=0.05",
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", type=int, default=4, help="training batches of the short run")
    ap.add_argument("--long", type=int, default=16, help="training batches of the long run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", type=Path, default=Path("runs/bench/train_allocator.json"))
    a = ap.parse_args()
    settings = {
        "glibc default": {"AGRISEG_MALLOPT": "0"},
        "MALLOC_*_THRESHOLD_=1e12": {**MALLOC, "AGRISEG_MALLOPT": "0"},
        "built-in mallopt (default)": {},
    }
    per_batch: dict[str, list[float]] = {k: [] for k in settings}
    walls: dict[str, list[dict]] = {k: [] for k in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for name, env in settings.items():
                short = run(a.short, env, Path(tmp) / f"s{r}", a.threads)
                long = run(a.long, env, Path(tmp) / f"l{r}", a.threads)
                per_batch[name].append((long - short) / (a.long - a.short))
                walls[name].append({"short_s": short, "long_s": long})
                print(f"round {r} {name:26s} {per_batch[name][-1]:.2f} s/batch ({short:.0f} s, {long:.0f} s)")
    res = {
        "batches": [a.short, a.long],
        "threads": a.threads,
        "load_average": os.getloadavg(),
        "median_s_per_batch": {k: statistics.median(v) for k, v in per_batch.items()},
        "runs": walls,
    }
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(res, indent=1))
    print(json.dumps(res["median_s_per_batch"]))


if __name__ == "__main__":
    main()
