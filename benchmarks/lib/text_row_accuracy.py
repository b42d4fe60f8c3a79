"""Where a text-mask model goes wrong: cell accuracy per row and column of the RRLE grid, the confusion
matrix, errors in pure and mixed cells, and, for a second model, which cells it changed.

Runs trained models (e.g. the demo's SFT and GRPO models) greedily on the disjoint patches of the text
demo's validation (``--split val``) or held-out (``--split eval``) images and compares each decoded patch
grid with the truth grid cell by cell. A model that loses its place in the mask gets less accurate row after
row. A *mixed* cell holds pixels of more than one class (its truth is the majority); errors there are
limited by what the image tokens show, errors in *pure* cells are class confusions. Grid Dice is scored per
image as in the demo (the disjoint patch grids tiled), and again with every pure-cell error corrected: the
most a model that still errs in the mixed cells could reach. With several models,
every model after the first is compared with the first: cells it changed, of which it fixed (first wrong,
now right) and broke (first right, now wrong).

    OMP_NUM_THREADS=1 python benchmarks/text_probes.py rows runs/text_demo/seed0/sft --images 60
    OMP_NUM_THREADS=2 python benchmarks/text_probes.py rows runs/text_demo/seed0/sft runs/text_demo/seed0/grpo \\
        --split eval --images 500 --threads 2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    """Print (and with ``--out`` write) per-row and per-column cell accuracy, the confusion matrix, pure and
    mixed cell errors and the changes against the first model."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, nargs="+", help="trained model folders")
    ap.add_argument("--split", choices=["val", "eval"], default="val", help="the demo's validation or held-out images")
    ap.add_argument("--images", type=int, default=60, help="the first N images of the split")
    ap.add_argument("-c", "--config", type=Path, default=None, help="the demo's YAML overrides, if it ran with any")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import torch

    from agriseg.config import load_config
    from agriseg.text.config import DemoConfig, PredictConfig
    from agriseg.text.grid import cell_counts
    from agriseg.text.infer import predict_many
    from agriseg.text.modeling import load_vlm
    from agriseg.text.reward import mean_dice
    from agriseg.text.synthetic import SYNTH_CLASSES, make_landscapes

    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, DemoConfig) if args.config else DemoConfig()
    k = len(SYNTH_CLASSES)
    total = cfg.val_images if args.split == "val" else cfg.eval_images
    seed = cfg.val_seed if args.split == "val" else cfg.eval_seed
    if not 0 < args.images <= total:
        raise SystemExit(f"--images must be between 1 and {total} (the {args.split} split's images)")
    imgs, sems, _ = make_landscapes(args.images, seed, cfg.landscape)  # the split's first N images
    pcfg = PredictConfig(
        patch=cfg.patch,
        grid=cfg.grid,
        batch_size=cfg.eval_batch,
        max_new_tokens=cfg.max_new_tokens,
        patch_image=cfg.patch_image,
    )
    rows, first = [], None
    for folder in args.model:
        model, proc = load_vlm(str(folder), device="cpu")
        model.eval()
        truths, grids, mixed, dice, dice_pure_fixed = [], [], [], [], []
        for (_, preds), sem in zip(predict_many(model, proc, list(imgs), SYNTH_CLASSES, pcfg), sems, strict=True):
            cells = sem.shape[0] // cfg.patch * cfg.grid
            tiled = np.zeros((3, cells, cells), dtype=np.int64)  # (prediction, truth, pure-fixed) per image
            for p in preds:
                x0, y0, x1, y1 = p.box
                cy, cx = y0 // cfg.patch * cfg.grid, x0 // cfg.patch * cfg.grid  # disjoint patches tile the image
                counts = cell_counts(sem[y0:y1, x0:x1], cfg.grid, k)  # (K, G, G)
                truth = counts.argmax(0)  # (G, G) majority class, as mask_to_grid
                truths.append(truth)
                grids.append(p.grid)
                mixed.append((counts > 0).sum(0) > 1)
                fixed = np.where(mixed[-1], p.grid, truth)  # (G, G) every pure-cell error corrected
                tiled[:, cy : cy + cfg.grid, cx : cx + cfg.grid] = np.stack([p.grid, truth, fixed])
            dice.append(mean_dice(tiled[0], tiled[1], k))
            dice_pure_fixed.append(mean_dice(tiled[2], tiled[1], k))
        truth, grid, mix = np.stack(truths), np.stack(grids), np.stack(mixed)  # (P, G, G) each
        wrong = grid != truth
        acc = 1.0 - wrong.mean(0)  # (G, G) share of patches with the cell right
        confusion = np.zeros((k, k), dtype=np.int64)  # truth x prediction
        np.add.at(confusion, (truth.ravel(), grid.ravel()), 1)
        row = {
            "model": str(folder),
            "split": args.split,
            "images": args.images,
            "patches": len(grids),
            "grid_dice": round(float(np.mean(dice)), 5),
            "grid_dice_pure_errors_fixed": round(float(np.mean(dice_pure_fixed)), 5),
            "cell_error": round(float(wrong.mean()), 5),
            "cells_mixed": int(mix.sum()),
            "cells_pure": int((~mix).sum()),
            "errors_mixed": int((wrong & mix).sum()),
            "errors_pure": int((wrong & ~mix).sum()),
            "row_accuracy": np.round(acc.mean(1), 4).tolist(),
            "column_accuracy": np.round(acc.mean(0), 4).tolist(),
            "confusion_truth_by_prediction": confusion.tolist(),
        }
        if first is None:
            first = (grid, wrong)
        else:
            changed = grid != first[0]
            row["versus_first"] = {
                "cells_changed": int(changed.sum()),
                "fixed": int((changed & first[1] & ~wrong).sum()),
                "broke": int((changed & ~first[1] & wrong).sum()),
                "wrong_to_other_wrong": int((changed & first[1] & wrong).sum()),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        from agriseg.data.files import write_json

        write_json(args.out, rows)
