"""Where does a vegetation model lose IoU on the Peanut photos? Per-photo errors split by label class.

The Peanut labels separate crop (green) from weed (red); the models predict vegetation = crop + weed. For
each photo this script counts false positives and false negatives on crop and on weed pixels, writes a CSV
sorted from worst to best, prints the totals, and saves error overlays of the worst photos (green = hit,
magenta = false positive, yellow = missed label), and optionally scores thresholds and dilations of the
predicted mask to test whether the misses are a systematic margin. Any model whose class 0 is background
works: vegetation = 1 - P(background), so a crop/weed model is scored as vegetation.

    OMP_NUM_THREADS=1 python benchmarks/crop_accuracy.py errors --model default --split val -o runs/bench/errors
    OMP_NUM_THREADS=1 python benchmarks/crop_accuracy.py errors --split train --margins -o runs/bench/errors_train
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def stems_for(split: str, val_list: Path, images: Path, every: int) -> list[str]:
    """Validation stems, or every ``every``-th training stem (photos not in the validation list)."""
    val = [s.strip() for s in val_list.read_text().splitlines() if s.strip() and not s.startswith("#")]
    if split == "val":
        return val
    held = set(val)
    return [p.stem for p in sorted(images.glob("*.jpg")) if p.stem not in held][::every]


def overlay(rgb: np.ndarray, pred: np.ndarray, veg: np.ndarray) -> np.ndarray:
    """Photo | label-vs-prediction error map, side by side."""
    err = np.zeros_like(rgb)
    err[pred & veg] = (0, 160, 0)
    err[pred & ~veg] = (255, 0, 255)
    err[~pred & veg] = (255, 255, 0)
    return np.concatenate([rgb, (rgb // 2 + err // 2)], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--split", choices=["val", "train"], default="val")
    ap.add_argument("--every", type=int, default=6, help="train split: score every n-th photo")
    ap.add_argument("--long-side", type=int, default=800)
    ap.add_argument("--worst", type=int, default=4, help="error overlays of the n worst photos")
    ap.add_argument("--margins", action="store_true", help="also score thresholds 0.2-0.5 and dilations 0-5 px")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()

    import torch
    from scipy import ndimage as ndi

    from agriseg.crop.predictor import Predictor
    from agriseg.models.io import load_model

    root = args.shared / "data" / "peanut"
    if not root.is_dir():
        raise SystemExit(f"{root}: Peanut data not found (pass --shared)")
    stems = stems_for(args.split, REPO / "configs/crop/peanut_val.txt", root / "images", args.every)
    model, cfg = load_model(args.model)
    pred = Predictor(model, cfg.num_classes, long_side=args.long_side)
    args.output.mkdir(parents=True, exist_ok=True)
    rows, tot = [], np.zeros(6)
    margins = {(t, d): np.zeros(4) for t in (0.2, 0.3, 0.4, 0.5) for d in (0, 1, 2, 3, 5)}
    cache: dict[str, np.ndarray] = {}
    from tqdm import tqdm

    for s in tqdm(stems, desc="photos"):
        rgb = np.asarray(Image.open(root / "images" / f"{s}.jpg").convert("RGB"))
        lab = np.asarray(Image.open(root / "labels" / f"{s}.png").convert("RGB"))
        crop, weed = lab[..., 1] == 255, lab[..., 0] == 255
        veg = crop | weed
        with torch.no_grad():
            # (H, W) vegetation probability: 1 - P(background), so crop/weed models score as vegetation too
            prob = 1.0 - pred.probabilities([rgb])[0][0]
        p = prob > 0.5
        tp, fp = int((p & veg).sum()), int((p & ~veg).sum())
        fn_crop, fn_weed, tn = int((~p & crop).sum()), int((~p & weed).sum()), int((~p & ~veg).sum())
        fn = fn_crop + fn_weed
        tot += (tp, fp, fn_crop, fn_weed, tn, 0)
        miou = (tp / max(tp + fp + fn, 1) + tn / max(tn + fp + fn, 1)) / 2
        rows.append(
            {
                "stem": s,
                "miou": round(miou, 4),
                "fp": fp,
                "fn_crop": fn_crop,
                "fn_weed": fn_weed,
                "crop_px": int(crop.sum()),
                "weed_px": int(weed.sum()),
            }
        )
        cache[s] = p
        if args.margins:
            for (t, d), acc in margins.items():
                q = prob > t
                q = ndi.binary_dilation(q, iterations=d) if d else q
                acc += ((q & veg).sum(), (q & ~veg).sum(), (~q & veg).sum(), (~q & ~veg).sum())
    rows.sort(key=lambda r: r["miou"])
    with (args.output / f"errors_{args.split}.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    tp, fp, fn_crop, fn_weed, tn, _ = tot
    fn = fn_crop + fn_weed
    summary = {
        "model": args.model,
        "split": args.split,
        "photos": len(stems),
        "long_side": args.long_side,
        "miou": (tp / (tp + fp + fn) + tn / (tn + fp + fn)) / 2,
        "vegetation_iou": tp / (tp + fp + fn),
        "false_positive_px": fp,
        "missed_crop_px": fn_crop,
        "missed_weed_px": fn_weed,
    }
    if args.margins:
        summary["margins"] = {
            f"threshold {t} dilate {d}": (a[0] / (a[0] + a[1] + a[2]) + a[3] / (a[3] + a[1] + a[2])) / 2
            for (t, d), a in margins.items()
        }
    (args.output / f"summary_{args.split}.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    for r in rows[: args.worst]:
        s = r["stem"]
        rgb = np.asarray(Image.open(root / "images" / f"{s}.jpg").convert("RGB"))
        lab = np.asarray(Image.open(root / "labels" / f"{s}.png").convert("RGB"))
        img = Image.fromarray(overlay(rgb, cache[s], lab.max(-1) > 0))
        img.resize((img.width // 2, img.height // 2)).save(args.output / f"worst_{s}.jpg", quality=85)
