"""Where in a patch a text-mask model goes wrong: cell accuracy per row and column of the RRLE grid.

Runs a trained model (e.g. the demo's SFT model) greedily on the disjoint patches of the text demo's
validation images and compares each decoded patch grid with the truth grid cell by cell. A model that loses
its place in the mask gets less accurate row after row.

    OMP_NUM_THREADS=1 python benchmarks/text_row_accuracy.py runs/text_demo/seed0/sft --images 60
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    """Print (and with ``--out`` write) per-row and per-column cell accuracy and the confusion matrix."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, nargs="+", help="trained model folders")
    ap.add_argument("--images", type=int, default=60, help="validation images of the demo")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import torch

    from agriseg.text.config import DemoConfig, PredictConfig
    from agriseg.text.grid import mask_to_grid
    from agriseg.text.infer import predict_many
    from agriseg.text.modeling import load_vlm
    from agriseg.text.synthetic import SYNTH_CLASSES, make_landscapes

    torch.set_num_threads(args.threads)
    cfg = DemoConfig()
    k = len(SYNTH_CLASSES)
    imgs, sems, _ = make_landscapes(args.images, cfg.val_seed, cfg.landscape)
    pcfg = PredictConfig(
        patch=cfg.patch,
        grid=cfg.grid,
        batch_size=cfg.eval_batch,
        max_new_tokens=cfg.max_new_tokens,
        patch_image=cfg.patch_image,
    )
    rows = []
    for folder in args.model:
        model, proc = load_vlm(str(folder), device="cpu")
        model.eval()
        hits = np.zeros((cfg.grid, cfg.grid))  # (G, G) correct cells summed over patches
        confusion = np.zeros((k, k), dtype=np.int64)  # truth x prediction
        patches = 0
        for (_, preds), sem in zip(predict_many(model, proc, list(imgs), SYNTH_CLASSES, pcfg), sems, strict=True):
            for p in preds:
                x0, y0, x1, y1 = p.box
                truth = mask_to_grid(sem[y0:y1, x0:x1], cfg.grid, k)  # (G, G)
                hits += p.grid == truth
                np.add.at(confusion, (truth.ravel(), p.grid.ravel()), 1)
                patches += 1
        acc = hits / patches
        rows.append(
            {
                "model": str(folder),
                "patches": patches,
                "row_accuracy": np.round(acc.mean(1), 4).tolist(),
                "column_accuracy": np.round(acc.mean(0), 4).tolist(),
                "confusion_truth_by_prediction": confusion.tolist(),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        from agriseg.data.files import write_json

        write_json(args.out, rows)


if __name__ == "__main__":
    main()
