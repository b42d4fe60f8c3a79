"""How much mIoU do the Peanut labels leave to win? Errors by distance to the label boundary.

Two measurements on the validation photos (binary vegetation, mIoU accumulated over the set as in
``agriseg crop evaluate``):

1. *Label vs shifted label*: the labels scored against themselves with every boundary moved by k pixels
   (dilated or eroded by a 3x3 square k times). This is what an annotator who draws each outline k pixels
   off would cost: a ceiling set by boundary precision alone.
2. *Where the model errs*: each error pixel of a model's prediction binned by its distance to the nearest
   label boundary (Euclidean distance transform), so one sees how much of the error lies within a pixel or
   two of an outline (ambiguous edges) and how much is far from any outline (whole plants missed,
   unlabelled plants, blob-painted weeds).

With ``--refinement DIR`` it measures instead how well boundary refinement (``agriseg.crop.refine``, the
training target of the v4 models) recovers exact outlines: on generated photos with exact truth (``DIR`` from
``agriseg crop make-synthetic plants``; made from *training* photos with their own seeds, so no benchmark photo
is used), hand-like labels drawn 1 or 2 px too wide or 1 px too tight are refined with each ``--bands`` value
and scored (IoU, area / true area). This chose ``refine_band: 3``.

    python benchmarks/label_boundary_sensitivity.py -o benchmarks/results/label_boundary_sensitivity.json
    agriseg crop make-synthetic plants -o runs/data/dev_plants --photos ../shared/data/peanut/images \
        --labels ../shared/data/peanut/labels --stems configs/crop/peanut_train.txt -n 20 --seed 900000
    python benchmarks/label_boundary_sensitivity.py --refinement runs/data/dev_plants \
        -o benchmarks/results/label_refinement_dev.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# upper edges (px) of the distance bins: a pixel next to an outline is at distance 1, a diagonal one at 1.41
BINS = [1.5, 2.5, 3.5, 5.5, 10.5, 20.5]


def miou(tp: float, fp: float, fn: float, tn: float) -> float:
    """Mean of the vegetation and background IoU."""
    return (tp / max(tp + fp + fn, 1) + tn / max(tn + fp + fn, 1)) / 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--long-side", type=int, default=800)
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

    import torch
    from scipy import ndimage as ndi
    from tqdm import tqdm

    from agriseg.crop.predict import Predictor
    from agriseg.models.io import load_model

    root = args.shared / "data" / "peanut"
    if not root.is_dir():
        raise SystemExit(f"{root}: Peanut data not found (pass --shared)")
    val = REPO / "configs/crop/peanut_val.txt"
    stems = [s.strip() for s in val.read_text().splitlines() if s.strip() and not s.startswith("#")]
    model, cfg = load_model(args.model)
    pred = Predictor(model, cfg.num_classes, long_side=args.long_side)
    square = np.ones((3, 3), bool)
    shifted = {f"{op}{k}": np.zeros(4) for k in args.shifts for op in ("dilate", "erode")}
    model_cm = np.zeros(4)  # tp, fp, fn, tn
    err_hist = np.zeros(len(BINS) + 1)
    for s in tqdm(stems, desc="photos"):
        rgb = np.asarray(Image.open(root / "images" / f"{s}.jpg").convert("RGB"))
        lab = np.asarray(Image.open(root / "labels" / f"{s}.png").convert("RGB"))
        veg = lab[..., :2].max(axis=2) == 255  # green (crop) or red (weed)
        for k in args.shifts:
            for op, fn in (("dilate", ndi.binary_dilation), ("erode", ndi.binary_erosion)):
                alt = fn(veg, square, iterations=k)
                shifted[f"{op}{k}"] += _counts(alt, veg)
        with torch.no_grad():
            p = (1.0 - pred.probabilities([rgb])[0][0]) > 0.5  # (H, W) vegetation
        model_cm += _counts(p, veg)
        # distance of every pixel to the nearest label boundary: inside pixels to the nearest background
        # pixel, outside pixels to the nearest vegetation pixel (both 1 next to the outline)
        dist = np.where(veg, ndi.distance_transform_edt(veg), ndi.distance_transform_edt(~veg))
        d = dist[p != veg]
        err_hist += np.histogram(d, bins=[0, *BINS, np.inf])[0]  # (7,)
    total_err = err_hist.sum()
    labels = ["1 px", "2 px", "3 px", "4-5 px", "6-10 px", "11-20 px", "> 20 px"]
    res = {
        "model": str(args.model),
        "photos": len(stems),
        "long_side": args.long_side,
        "model_miou": miou(*model_cm),
        "label_vs_shifted_label_miou": {k: miou(*v) for k, v in shifted.items()},
        "model_error_px": int(total_err),
        "model_error_share_by_distance": dict(zip(labels, (err_hist / total_err).round(4).tolist(), strict=True)),
    }
    cum = np.cumsum(err_hist) / total_err
    for k, v in res["label_vs_shifted_label_miou"].items():
        print(f"labels vs labels {k:8s}  mIoU {100 * v:.2f}")
    print(f"model mIoU {100 * res['model_miou']:.2f}; {int(total_err)} error pixels by distance to the label outline:")
    for lab_, share, c in zip(labels, err_hist / total_err, cum, strict=True):
        print(f"  {lab_:9s} {100 * share:5.1f} %   (cumulative {100 * c:5.1f} %)")
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


if __name__ == "__main__":
    main()
