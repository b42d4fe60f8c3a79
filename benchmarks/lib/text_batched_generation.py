"""Benchmark: generating the RRLE of 16 patches in one batch vs one patch at a time (CPU by default).

Both paths produce exactly ``--tokens`` new tokens per patch (``min_new_tokens`` = ``max_new_tokens``), so
the work is equal whatever the model writes. Uses the tiny offline Gemma 3 unless ``--model`` names a trained
folder (e.g. the demo's SFT model).

    OMP_NUM_THREADS=1 python benchmarks/text_probes.py generation --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    """Run the benchmark and print a JSON line (and write it with ``--out``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="trained model folder (default: tiny random Gemma 3)")
    ap.add_argument("--patches", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=48, help="new tokens per patch")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import torch

    from agriseg.text.infer import generate_batch
    from agriseg.text.prompts import user_message
    from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscape
    from agriseg.text.tinyvlm import TinyVLMConfig, build_tiny_vlm

    torch.set_num_threads(args.threads)
    if args.model:
        from agriseg.text.modeling import load_vlm

        model, proc = load_vlm(args.model, device="cpu")
    else:
        model, proc = build_tiny_vlm(SYNTH_CLASSES, TinyVLMConfig(image_size=32, vision_patch=4), seed=0)
    model.eval()
    model.generation_config.min_new_tokens = args.tokens
    image, _, _ = make_landscape(np.random.default_rng(0), LandscapeConfig(size=64))
    side = int(round(args.patches**0.5))
    step = 64 // side
    boxes = [(x, y, x + step, y + step) for y in range(0, 64, step) for x in range(0, 64, step)][: args.patches]
    prompts = [user_message(b, SYNTH_CLASSES) for b in boxes]

    def batched() -> None:
        generate_batch(model, proc, [image] * len(prompts), prompts, max_new_tokens=args.tokens)

    def sequential() -> None:
        for p in prompts:
            generate_batch(model, proc, [image], [p], max_new_tokens=args.tokens)

    batched(), sequential()  # warm-up
    tb, ts = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        batched()
        tb.append(time.perf_counter() - t)
        t = time.perf_counter()
        sequential()
        ts.append(time.perf_counter() - t)
    res = {
        "patches": len(prompts),
        "new_tokens_per_patch": args.tokens,
        "threads": args.threads,
        "model": args.model or "tiny-random-gemma3",
        "batched_s_median": statistics.median(tb),
        "sequential_s_median": statistics.median(ts),
        "speedup": statistics.median(ts) / statistics.median(tb),
        "batched_s": tb,
        "sequential_s": ts,
    }
    print(json.dumps(res))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
