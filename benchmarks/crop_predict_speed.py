"""Whole-process speed of ``agriseg crop predict`` with all outputs (masks, overlays, summary), as a user runs it.

Runs each setting as a fresh process on the same photos, interleaved (A B C A B C ...) so that other load on
the machine hits every setting alike, and reports the median wall time, images per second (whole process,
start-up included), the time of a one-photo run (start-up plus one photo) and peak memory. Each setting first
runs once untimed on one photo (reported as ``first_run_one_photo_seconds``): a user's first run at a new
photo size exports the model to ONNX into the user cache, later runs load it. A setting may be
another checkout of agriseg (``--baseline DIR`` runs ``DIR/src`` with its own defaults) so the result of a
change is measured in the same run as what it replaces. Load average is recorded with every run.

    python benchmarks/crop_predict_speed.py --photos ../shared/data/peanut/images --n 32 --repeat 2 \\
        [--baseline /path/to/older/checkout] [--setting "long side 640=--long-side 640"] \
        [-o benchmarks/results/crop_predict_speed.json]
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

SETTINGS: dict[str, list[str]] = {
    "default": [],
    "optimize none": ["--optimize", "none"],
}


def run(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall seconds and peak RSS (MiB) of one whole process."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    rss_kb = int(proc.stderr.strip().splitlines()[-1])
    res = {"seconds": wall, "peak_rss_mib": rss_kb / 1024, "load1": os.getloadavg()[0]}
    m = re.search(r"predicted in ([\d.]+) s", proc.stdout)
    if m:  # the command's own timing of its photo loop: the rest of the wall time is start-up
        res["loop_seconds"] = float(m.group(1))
        res["startup_seconds"] = wall - float(m.group(1))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=Path("../shared/data/peanut/images"))
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--baseline", type=Path, default=None, help="an older checkout to run in the same rounds")
    ap.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help='another setting to run, e.g. "long side 640=--long-side 640" (repeatable)',
    )
    ap.add_argument("--only", nargs="+", default=None, help="run only these of the built-in settings")
    ap.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/crop_predict_speed.json"))
    args = ap.parse_args()
    photos = sorted(args.photos.glob("*.jpg"))[: args.n]
    if len(photos) < args.n:
        raise SystemExit(f"{args.photos}: fewer than {args.n} photos")
    work = Path(tempfile.mkdtemp(prefix="crop_speed_"))
    batch, one = work / "batch", work / "one"
    batch.mkdir()
    one.mkdir()
    for p in photos:
        (batch / p.name).symlink_to(p.resolve())
    (one / photos[0].name).symlink_to(photos[0].resolve())
    runs: dict[str, list[tuple[list[str], dict[str, str]]]] = {}
    # a fresh user cache: the first run of every setting exports its model, as for a new user
    base_env = {**os.environ, "PYTHONPATH": str(Path("src").resolve()), "AGRISEG_CACHE_DIR": str(work / "cache")}
    settings = {k: v for k, v in SETTINGS.items() if args.only is None or k in args.only}
    for item in args.setting:
        name, _, extra = item.partition("=")
        settings[name.strip()] = extra.split()
    for name, extra in settings.items():
        runs[name] = [(extra, base_env)]
    if args.baseline is not None:
        runs["baseline"] = [([], {**base_env, "PYTHONPATH": str((args.baseline / "src").resolve())})]
    results: dict[str, dict[str, list[dict[str, float]]]] = {k: {"batch": [], "one": []} for k in runs}
    first: dict[str, dict[str, float]] = {}
    for name, [(extra, env)] in runs.items():  # first run of each setting: exports the model into the cache
        out = work / f"out_first_{name.replace(' ', '_')}"
        cmd = [sys.executable, "-m", "agriseg", "crop", "predict", str(one), "-o", str(out), *extra]
        first[name] = run(cmd, env)
        print(f"first run {name:>14}: {first[name]['seconds']:.1f} s (one photo, fresh user cache)", flush=True)
    for r in range(args.repeat):
        for name, [(extra, env)] in runs.items():
            for kind, src in (("batch", batch), ("one", one)):
                out = work / f"out_{r}_{name.replace(' ', '_')}_{kind}"
                cmd = [sys.executable, "-m", "agriseg", "crop", "predict", str(src), "-o", str(out), *extra]
                res = run(cmd, env)
                results[name][kind].append(res)
                print(f"round {r} {name:>14} {kind:>5}: {res['seconds']:.1f} s, load {res['load1']:.1f}", flush=True)
    summary = {}
    for name, kinds in results.items():
        b = statistics.median(x["seconds"] for x in kinds["batch"])
        summary[name] = {
            "batch_seconds": round(b, 2),
            "images_per_s": round(args.n / b, 3),
            "one_photo_seconds": round(statistics.median(x["seconds"] for x in kinds["one"]), 2),
            "first_run_one_photo_seconds": round(first[name]["seconds"], 2),
            "startup_seconds": round(
                statistics.median(x.get("startup_seconds", float("nan")) for x in kinds["one"]), 2
            ),
            "peak_rss_mib": round(max(x["peak_rss_mib"] for x in kinds["batch"]), 1),
            "load1": [round(x["load1"], 2) for x in kinds["batch"]],
        }
    report = {"photos": args.n, "size": "960x720", "cpus": os.cpu_count(), "settings": summary, "runs": results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
