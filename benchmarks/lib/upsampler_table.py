"""Table V of DepthCropSeg++ for our models: params, GFLOPs, images/s, peak memory, val mIoU and bIoU.

Reads the validation results written by ``benchmarks/upsamplers.py train`` and measures each trained model
(one subprocess per model, so peak memory is its own) on a 960x720 input at the model's inference size.

    python benchmarks/upsamplers.py table [--runs runs/upsamplers] [-o runs/bench/upsamplers.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def worker(path: str, threads: int) -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from agriseg.crop.predictor import Predictor
    from agriseg.models.io import load_model
    from lib.measure import gflops, peak_rss_mib, time_it

    torch.set_num_threads(threads)
    model, cfg = load_model(path)
    pred = Predictor(model, cfg.num_classes, cfg.infer_long_side, batch_size=1)
    import numpy as np

    img = np.random.default_rng(0).integers(0, 255, (720, 960, 3), dtype=np.uint8)
    x = torch.from_numpy(pred.to_array(img))[None]
    flops = gflops(model, x)
    med, spread = time_it(lambda: pred.probabilities([img]), warmup=2, repeat=7)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(
        json.dumps(
            {
                "params_m": params,
                "gflops": flops,
                "images_per_s": 1 / med,
                "spread_s": spread,
                "peak_rss_mib": peak_rss_mib(),
                "input": list(x.shape[-2:]),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--runs", default="runs/upsamplers", help="train's --out (the results file came from runs/upsamplers12)"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", default="runs/bench/upsamplers.md")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.threads)
    lines = [
        "| upsampler | params (M) | GFLOPs | images/s | peak RSS (MiB) | val mIoU | val bIoU |",
        "|---|---|---|---|---|---|---|",
    ]
    runs = [r for r in sorted(Path(args.runs).glob("*")) if (r / "result.json").is_file()]
    if not runs:  # one line, not a traceback: train first, or name its --out
        raise SystemExit(f"{args.runs}: no trained upsampler (<name>/result.json); run `upsamplers.py train` first")
    for run in runs:
        res_file = run / "result.json"
        val = json.loads(res_file.read_text())["val"]
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            str(run / "model.safetensors"),
            "--threads",
            str(args.threads),
        ]
        m = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        lines.append(
            f"| {run.name} | {m['params_m']:.3f} | {m['gflops']:.1f} | {m['images_per_s']:.2f} | "
            f"{m['peak_rss_mib']:.0f} | {100 * val['val/miou']:.2f} | {100 * val['val/biou']:.2f} |"
        )
        print(lines[-1])
    note = (
        f"\nInput 960x720 resized to the model's inference size ({m['input'][1]}x{m['input'][0]}); "
        f"{args.threads} CPU threads; bIoU dilation ratio 0.02; same encoder, data and schedule per row.\n"
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n" + note)
    print(note)


if __name__ == "__main__":
    main()
