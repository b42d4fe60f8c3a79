"""How much mIoU do the Peanut labels leave to win? Errors by distance to the label boundary.

Two measurements on the validation photos (binary vegetation, mIoU accumulated over the set as in
``agriseg crop evaluate``):

1. *Label vs shifted label*: the labels scored against themselves with every boundary moved by k pixels
   (dilated or eroded by a 3x3 square k times). This is what an annotator who draws each outline k pixels
   off would cost: a ceiling set by boundary precision alone.
2. *Where the model errs*: each error pixel of a model's mask binned by its distance to the nearest
   label boundary (Euclidean distance transform), so one sees how much of the error lies within a pixel or
   two of an outline (ambiguous edges) and how much is far from any outline (whole plants missed,
   unlabelled plants, blob-painted weeds); misses (labelled vegetation called background) and false
   vegetation apart; and the mIoU with the pixels within k px of the labelled outline left out (``--tolerances``),
   which is what the model scores where the labels' outline style does not count. The mask is the one every
   crop command gives (:func:`agriseg.crop.predictor.load_predictor`, the inference rule with its colour
   decision); ``--argmax`` scores the model's own 0.5 decision instead (how the first results were made).

With ``--refinement DIR`` it measures instead how well boundary refinement (``agriseg.crop.refine``, the
training target of the v4 models) recovers exact outlines: on generated photos with exact truth (``DIR`` from
``agriseg crop make-synthetic plants``; made from *training* photos with their own seeds, so no benchmark photo
is used), hand-like labels drawn 1 or 2 px too wide or 1 px too tight are refined with each ``--bands`` value
and scored (IoU, area / true area). This chose ``refine_band: 3``.

    python benchmarks/crop_accuracy.py boundary --model default --model default@3 \
        -o benchmarks/results/label_boundary_v5.json
    python benchmarks/crop_accuracy.py boundary --model default@3 --model default --argmax \
        -o benchmarks/results/label_boundary_v5_argmax.json

(``label_boundary_sensitivity.json`` is the first result, v2's 0.5 decision, before the per-model rows.)
    agriseg crop make-synthetic plants -o runs/data/dev_plants --photos ../shared/data/peanut/images \
        --labels ../shared/data/peanut/labels --stems configs/crop/peanut_train.txt -n 20 --seed 900000
    python benchmarks/crop_accuracy.py boundary --refinement runs/data/dev_plants \
        -o benchmarks/results/label_refinement_dev.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
# upper edges (px) of the distance bins: a pixel next to an outline is at distance 1, a diagonal one at 1.41
BINS = [1.5, 2.5, 3.5, 5.5, 10.5, 20.5]


def miou(tp: float, fp: float, fn: float, tn: float) -> float:
    """Mean of the vegetation and background IoU."""
    return (tp / max(tp + fp + fn, 1) + tn / max(tn + fp + fn, 1)) / 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="packaged model name or file (repeat; default: default)")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--long-side", type=int, default=None, help="working size (default: the model's own)")
    ap.add_argument("--argmax", action="store_true", help="the model's own 0.5 decision, not the inference rule")
    ap.add_argument("--tolerances", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--shifts", type=int, nargs="+", default=[1, 2])
    ap.add_argument("-o", "--output", type=Path, default=None)
    ap.add_argument("--refinement", type=Path, default=None, help="generated set: score label refinement on it")
    ap.add_argument("--bands", type=int, nargs="+", default=[0, 2, 3, 4])
    args = ap.parse_args()
    if args.refinement:
        res = refinement(args.refinement, args.bands)
        if args.output:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(res, indent=1))
        return

    from scipy import ndimage as ndi
    from tqdm import tqdm

    from agriseg.crop.predictor import load_predictor

    root = args.shared / "data" / "peanut"
    if not root.is_dir():
        raise SystemExit(f"{root}: Peanut data not found (pass --shared)")
    val = REPO / "configs/crop/peanut_val.txt"
    stems = [s.strip() for s in val.read_text().splitlines() if s.strip() and not s.startswith("#")]
    names = args.model or ["default"]
    preds = {m: load_predictor(m, args.long_side) for m in names}
    square = np.ones((3, 3), bool)
    shifted = {f"{op}{k}": np.zeros(4) for k in args.shifts for op in ("dilate", "erode")}
    cm = {m: np.zeros(4) for m in names}  # tp, fp, fn, tn
    tol = {m: {k: np.zeros(4) for k in args.tolerances} for m in names}
    hist = {m: {e: np.zeros(len(BINS) + 1) for e in ("missed", "false")} for m in names}
    for s in tqdm(stems, desc="photos"):
        rgb = np.asarray(Image.open(root / "images" / f"{s}.jpg").convert("RGB"))
        lab = np.asarray(Image.open(root / "labels" / f"{s}.png").convert("RGB"))
        veg = lab[..., :2].max(axis=2) == 255  # green (crop) or red (weed)
        for k in args.shifts:
            for op, fn in (("dilate", ndi.binary_dilation), ("erode", ndi.binary_erosion)):
                alt = fn(veg, square, iterations=k)
                shifted[f"{op}{k}"] += _counts(alt, veg)
        # distance of every pixel to the nearest label boundary: inside pixels to the nearest background
        # pixel, outside pixels to the nearest vegetation pixel (both 1 next to the outline)
        dist = np.where(veg, ndi.distance_transform_edt(veg), ndi.distance_transform_edt(~veg))
        for m, pred in preds.items():
            probs = pred.probabilities([rgb])[0]
            p = (1.0 - probs[0]) > 0.5 if args.argmax else pred.classes(probs, rgb) > 0  # (H, W) vegetation
            cm[m] += _counts(p, veg)
            for k in args.tolerances:
                far = dist > k + 0.5  # (H, W) pixels more than k px from the labelled outline
                tol[m][k] += _counts(p[far], veg[far])
            hist[m]["missed"] += np.histogram(dist[veg & ~p], bins=[0, *BINS, np.inf])[0]  # (7,)
            hist[m]["false"] += np.histogram(dist[p & ~veg], bins=[0, *BINS, np.inf])[0]
    labels = ["1 px", "2 px", "3 px", "4-5 px", "6-10 px", "11-20 px", "> 20 px"]
    res: dict = {
        "photos": len(stems),
        "mask": "argmax" if args.argmax else "inference rule",
        "label_vs_shifted_label_miou": {k: miou(*v) for k, v in shifted.items()},
        "models": {},
    }
    for k, v in res["label_vs_shifted_label_miou"].items():
        print(f"labels vs labels {k:8s}  mIoU {100 * v:.2f}")
    for m in names:
        err = hist[m]["missed"] + hist[m]["false"]
        total = err.sum()
        row = {
            "long_side": preds[m].long_side,
            "miou": miou(*cm[m]),
            "miou_without_px_near_outline": {str(k): miou(*v) for k, v in tol[m].items()},
            "error_px": int(total),
            "missed_px": int(hist[m]["missed"].sum()),
            "false_px": int(hist[m]["false"].sum()),
            "error_share_by_distance": dict(zip(labels, (err / total).round(4).tolist(), strict=True)),
            "missed_share_by_distance": dict(zip(labels, (hist[m]["missed"] / total).round(4).tolist(), strict=True)),
            "false_share_by_distance": dict(zip(labels, (hist[m]["false"] / total).round(4).tolist(), strict=True)),
        }
        res["models"][m] = row
        tols = ", ".join(f"{k} px {100 * v:.2f}" for k, v in row["miou_without_px_near_outline"].items())
        print(f"{m}: mIoU {100 * row['miou']:.2f}; without the pixels near the labelled outline: {tols}")
        print(f"  {int(total)} error pixels ({row['missed_px']} missed, {row['false_px']} false) by distance:")
        for lab_, a, b in zip(labels, hist[m]["missed"] / total, hist[m]["false"] / total, strict=True):
            print(f"  {lab_:9s} missed {100 * a:5.1f} %   false {100 * b:5.1f} %")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(res, indent=1))


def refinement(root: Path, bands: list[int]) -> dict:
    """Refine labels drawn too wide (+1, +2 px) or too tight (-1 px) on generated photos; IoU and area ratio."""
    from scipy import ndimage as ndi

    from agriseg.crop.refine import refine_labels

    square = np.ones((3, 3), bool)
    shifts = {"wide2": (ndi.binary_dilation, 2), "wide1": (ndi.binary_dilation, 1), "tight1": (ndi.binary_erosion, 1)}
    photos = sorted((root / "images").glob("*.jpg"))
    res: dict = {"set": str(root), "photos": len(photos)}
    for band in bands:
        for name, (fn, k) in shifts.items():
            cm = np.zeros(4)
            for p in photos:
                rgb = np.asarray(Image.open(p).convert("RGB"))
                truth = np.asarray(Image.open(root / "labels" / f"{p.stem}.png").convert("RGB"))[..., 1] == 255
                hand = fn(truth, square, iterations=k).astype(np.uint8)
                cm += _counts(refine_labels(rgb, hand, band) > 0, truth)
            tp, fp, fn_, _ = cm
            res[f"band{band}_{name}"] = {"iou": tp / (tp + fp + fn_), "area_ratio": (tp + fp) / (tp + fn_)}
            print(
                f"band {band} {name:6s} IoU {res[f'band{band}_{name}']['iou']:.4f} area x{(tp + fp) / (tp + fn_):.4f}"
            )
    return res


def _counts(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(tp, fp, fn, tn) pixel counts of two boolean masks."""
    return np.array([(pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum(), (~pred & ~truth).sum()], float)
