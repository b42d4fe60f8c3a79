"""Probe: how well the text demo's warm-started vision tower alone segments (its per-token class head).

Builds the demo's tiny Gemma 3 (``DemoConfig``), runs the vision warm start on the demo's warm-up images of
one seed, keeps the class head, and scores its per-token argmax on the disjoint patches of the validation
images with the demo's grid Dice (per image mean Dice over field, tree and water on the 16x16 label grid).
It is the ceiling of what the language model can copy from the image tokens of the patch image; the demo's
SFT model is scored the same way by ``scripts/text_demo.py``.

    OMP_NUM_THREADS=1 python benchmarks/text_probes.py vision --steps 600 2000 --position-weight 0 1

(``benchmarks/results/text_vision_probe.json`` was measured with ``--train-images 3000``, the demo's earlier
training set.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def probe(
    steps: int, position_weight: float, seed: int, split_images: int, train_images: int | None = None
) -> dict[str, float]:
    """Warm-start a fresh tower for ``steps`` and return its validation grid Dice and the time taken."""
    import torch

    from agriseg.text.config import DemoConfig
    from agriseg.text.grid import mask_to_grid
    from agriseg.text.patches import grid_boxes
    from agriseg.text.reward import mean_dice
    from agriseg.text.synthetic import SYNTH_CLASSES, make_landscapes
    from agriseg.text.tinyvlm import build_tiny_vlm, warm_start_vision, warmup_samples

    cfg = DemoConfig() if train_images is None else DemoConfig(train_images=train_images)
    k = len(SYNTH_CLASSES)
    model, proc = build_tiny_vlm(SYNTH_CLASSES, cfg.model, seed=seed)
    imgs, sems, _ = make_landscapes(cfg.train_images, cfg.train_seed_base + seed, cfg.landscape)
    images, masks = warmup_samples(imgs, sems, cfg.patch, cfg.train_align, seed)
    head = torch.nn.Linear(cfg.model.hidden, k)
    t0 = time.perf_counter()
    warm_start_vision(
        model,
        proc,
        images,
        masks,
        k,
        steps,
        cfg.vision_warmup_batch,
        cfg.vision_warmup_lr,
        seed,
        position_weight,
        class_head=head,
    )
    train_s = time.perf_counter() - t0
    vi, vs, _ = make_landscapes(split_images, cfg.val_seed, cfg.landscape)
    size = cfg.landscape.size
    cells = size // cfg.patch * cfg.grid
    cell = cfg.patch // cfg.grid
    boxes = grid_boxes(size, size, cfg.patch)
    core = model.model
    dices = []
    with torch.no_grad():
        for im, sem in zip(vi, vs, strict=True):
            crops = [im[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes]
            pix = proc.image_processor(images=crops, return_tensors="pt")["pixel_values"]  # (P, 3, S, S)
            tokens = head(core.get_image_features(pix).pooler_output).argmax(-1)  # (P, T)
            pred = np.zeros((cells, cells), dtype=np.int64)
            for (x0, y0, _, _), t in zip(boxes, tokens.numpy(), strict=True):
                pred[y0 // cell : y0 // cell + cfg.grid, x0 // cell : x0 // cell + cfg.grid] = t.reshape(cfg.grid, -1)
            dices.append(mean_dice(pred, mask_to_grid(sem, cells, k), k))
    return {
        "steps": steps,
        "position_weight": position_weight,
        "seed": seed,
        "train_images": cfg.train_images,
        "val_grid_dice": float(np.mean(dices)),
        "train_s": train_s,
    }


def main() -> None:
    """Run every (steps, position weight) pair and print one JSON line each (and write them with ``--out``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[600, 2000])
    ap.add_argument("--position-weight", type=float, nargs="+", default=[0.0, 1.0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=int, default=100, help="validation images (the demo's val split)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-images", type=int, default=None, help="warm-up image pool (default: the demo's)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for steps in args.steps:
        for w in args.position_weight:
            rows.append(probe(steps, w, args.seed, args.images, args.train_images))
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        from agriseg.data.files import write_json

        write_json(args.out, rows)
