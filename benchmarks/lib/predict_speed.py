"""Predict throughput of a crop model at 960x720 on this machine: fp32 vs bf16 autocast vs channels_last.

Each setting runs in a fresh subprocess so its peak memory is its own. Images are real Peanut photos when
../shared is present, else the bundled samples.

    python benchmarks/crop_predict_speed.py settings [--model default] [--images 16] [--batch-size 4] \
        [-o runs/bench/predict_speed.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SETTINGS = {
    "fp32": [],
    "bf16": ["--precision", "bf16"],
    "channels_last": ["--channels-last"],
    "bf16+channels_last": ["--precision", "bf16", "--channels-last"],
}


def worker(args: argparse.Namespace) -> None:
    import time

    import torch

    from agriseg.crop.predictor import Predictor
    from agriseg.data.io import read_rgb
    from agriseg.models.io import load_model

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from lib.measure import peak_rss_mib

    torch.set_num_threads(args.threads)
    shared = Path("../shared/data/peanut/images")
    src = (
        sorted(shared.glob("*.jpg"))
        if shared.is_dir()
        else sorted(Path("src/agriseg/samples/peanut/images").glob("*.jpg"))
    )
    imgs = [read_rgb(src[i % len(src)]) for i in range(args.images)]
    model, cfg = load_model(args.model)
    pred = Predictor(
        model,
        cfg.num_classes,
        cfg.infer_long_side if args.long_side is None else args.long_side,
        batch_size=args.batch_size,
        precision=args.precision,
        channels_last=args.channels_last,
    )
    pred.probabilities(imgs[: args.batch_size])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(imgs), args.batch_size):
        [p.argmax(0) for p in pred.probabilities(imgs[i : i + args.batch_size])]
    dt = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "images_per_s": len(imgs) / dt,
                "peak_rss_mib": peak_rss_mib(),
                "long_side": pred.long_side,
                "threads": args.threads,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--long-side", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("-o", "--output", default="runs/bench/predict_speed.json")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    rows = {}
    for name, extra in SETTINGS.items():
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "--model",
            args.model,
            "--images",
            str(args.images),
            "--batch-size",
            str(args.batch_size),
            "--threads",
            str(args.threads),
            *extra,
        ]
        if args.long_side is not None:
            cmd += ["--long-side", str(args.long_side)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        rows[name] = json.loads(out)
        print(f"{name:<20} {rows[name]['images_per_s']:6.2f} img/s  peak {rows[name]['peak_rss_mib']:7.0f} MiB")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"input": "960x720 photos", "settings": rows}, indent=1))


if __name__ == "__main__":
    main()
