"""Whole-process wall time of ``agriseg crop plots`` on the generated 100-plot trial of ``docs/traits.md``.

Runs the documented command (two dated mosaics, 100 plots, ``growth.png`` included) from this checkout and,
with ``--baseline DIR``, from another checkout (``DIR/src``) in the same Python, interleaved (A B A B ...), each
run into a fresh output folder; reports the median wall time, the command's own loop time (its summary line,
which leaves out the growth tables and chart) and whether both wrote the same ``growth.csv``.

    python benchmarks/crop_plots_speed.py --baseline /tmp/base -o benchmarks/results/crop_plots_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _same_numbers(a: Path, b: Path) -> bool:
    """Whether two CSV files hold the same cells, numbers equal to 6 significant digits."""
    import csv
    import math

    ca, cb = ([c for row in csv.reader(p.open()) for c in row] for p in (a, b))
    if len(ca) != len(cb):
        return False
    for x, y in zip(ca, cb, strict=True):
        try:
            if not math.isclose(float(x), float(y), rel_tol=1e-5, abs_tol=1e-12):
                return False
        except ValueError:
            if x != y:
                return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout, run in the same rounds")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/crop_plots_speed.json"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="plots_speed_"))
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_plot_mosaics.py"), str(work / "demo")], check=True,
                   capture_output=True)  # fmt: skip
    demo = work / "demo"
    checkouts = {"this checkout": REPO / "src"}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve() / "src"
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in checkouts}
    for r in range(args.repeat):
        for name, src in checkouts.items():
            out = work / f"out_{r}_{name.replace(' ', '_')}"
            cmd = [sys.executable, "-m", "agriseg", "crop", "plots", str(demo / "trial_2024-06-01.tif"),
                   str(demo / "trial_2024-06-20.tif"), "--plots", str(demo / "plots.gpkg"), "-o", str(out)]  # fmt: skip
            env = {**os.environ, "PYTHONPATH": str(src), "AGRISEG_CACHE_DIR": str(work / "cache")}
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise SystemExit(f"{name}: {proc.stderr[-1500:]}")
            m = re.search(r"measured, \d+ skipped, \d+ failed in ([\d.]+) s", proc.stdout)
            runs[name].append({"seconds": round(wall, 2), "loop_seconds": float(m.group(1)) if m else float("nan"),
                               "load1": round(os.getloadavg()[0], 2)})  # fmt: skip
            print(f"round {r} {name:>14}: {wall:.1f} s", flush=True)
    report: dict = {"plots": 100, "mosaics": 2, "cpus": os.cpu_count()}
    report["settings"] = {
        k: {"median_seconds": statistics.median(x["seconds"] for x in v), "runs": v} for k, v in runs.items()
    }
    if args.baseline:  # the same numbers (to 6 significant digits: this checkout rounds them)
        report["same_growth_csv"] = _same_numbers(
            work / "out_0_this_checkout" / "growth.csv", work / "out_0_baseline" / "growth.csv"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items()}, indent=1))


if __name__ == "__main__":
    main()
