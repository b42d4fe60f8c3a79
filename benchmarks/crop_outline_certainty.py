"""How sure a crop model is at plant outlines: the share of outline pixels left to the colour decision.

Every crop command re-decides the pixels whose vegetation probability lies in the unsure band
(``agriseg.crop.predictor.UNSURE``, 0.05-0.9) by the photo's colours; a pixel outside the plant that the model is
sure of (above 0.9) keeps its wrong class. For each model and development set this reports, over the pixels
within 2 px of the true outline, the share in the unsure band and the share outside the labelled plant that the
model is sure is vegetation. Development sets only (the synthetic plants made by ``crop_unsure_pixels.py`` from
the training photos, the EWS wheat validation patches)::

    python benchmarks/crop_outline_certainty.py --models default@4 default <model.safetensors> \
        --ews runs/data/ews -o benchmarks/results/crop_outline_certainty.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]

if TYPE_CHECKING:
    from agriseg.crop.predictor import Predictor


def outline_shares(pred: Predictor, images: list[Path], labels: Path, low: float, high: float) -> dict[str, float]:
    """Shares of the pixels within 2 px of the labelled outline: in ``[low, high]``, and sure (> high) outside."""
    from crop_edge_bias import truth_of  # the benchmarks' one reading of labels (0 / 1 / 255 ignore)

    from agriseg.data.io import read_rgb

    near = in_band = sure_out = 0
    kernel = np.ones((5, 5), np.uint8)
    for f in images:
        t = truth_of(next(labels.glob(f.stem + ".*")))  # (H, W) 0 / 1 / 255
        y = (t == 1).astype(np.uint8)
        p = pred.probabilities([read_rgb(f)])[0][1]  # (H, W) vegetation probability
        band = (cv2.dilate(y, kernel) != cv2.erode(y, kernel)) & (t != 255)
        near += int(band.sum())
        in_band += int(((p >= low) & (p <= high) & band).sum())
        sure_out += int(((p > high) & band & (y == 0)).sum())
    return {"outline_px": near, "in_unsure_band": in_band / near, "sure_outside_plant": sure_out / near}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["default@4", "default"])
    ap.add_argument("--plants", type=Path, default=REPO / "runs/data/unsure_dev/plants", help="crop_unsure_pixels.py's")
    ap.add_argument("--ews", type=Path, default=REPO / "runs/data/ews", help="prepared EWS folder (validation/)")
    ap.add_argument("--limit", type=int, default=40, help="photos per set (sorted by name)")
    ap.add_argument("-o", "--output", type=Path, default=REPO / "benchmarks/results/crop_outline_certainty.json")
    args = ap.parse_args()
    from agriseg.crop.predictor import UNSURE, load_predictor

    sets = {"plants": args.plants, "ews": args.ews / "validation"}
    out: dict = {"unsure_band": list(UNSURE), "photos_per_set": args.limit, "models": {}}
    for m in args.models:
        pred = load_predictor(m)
        out["models"][m] = {}
        for name, d in sets.items():
            images = sorted((d / "images").iterdir())[: args.limit]
            res = outline_shares(pred, tqdm(images, desc=f"{m} {name}"), d / "labels", *UNSURE)
            out["models"][m][name] = res
            band, out_ = res["in_unsure_band"], res["sure_outside_plant"]
            print(f"{m:40s} {name:7s} outline in band {band:.3f}  sure outside {out_:.3f}")
    args.output.write_text(json.dumps(out, indent=1, allow_nan=False))


if __name__ == "__main__":
    main()
