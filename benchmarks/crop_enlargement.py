"""How much does enlarging a small photo for the model cost? The measurement behind ``crop predict``'s warning for
photos enlarged more than 8 times (``agriseg.crop.predict.ENLARGEMENT_WARNED``).

Peanut validation photos (``configs/crop/peanut_val.txt``, never trained on; needs ``../shared``) are shrunk to a
small long side (Lanczos; their labels nearest), then segmented by the packaged ``default`` model at their own size
(``--long-side 0``) and enlarged to several working sizes, as ``agriseg crop predict --long-side N`` does. Reported:
mean vegetation IoU with the shrunk labels and the mean predicted / labelled area ratio.

    python benchmarks/crop_enlargement.py -n 12 -o benchmarks/results/crop_enlargement.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from agriseg.crop import load_predictor
from agriseg.crop.dataset import read_stem_list

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "peanut")
    ap.add_argument("-n", type=int, default=12, help="validation photos (the first n of the split file)")
    ap.add_argument("--sides", type=int, nargs="+", default=[160, 320], help="long sides the photos are shrunk to")
    ap.add_argument("--factors", type=float, nargs="+", default=[5, 10, 20], help="enlargements to measure")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    if not (args.data / "images").is_dir():
        raise SystemExit(f"{args.data}: the Peanut photos are not there (see README, Data and licences)")
    stems = read_stem_list(ROOT / "configs" / "crop" / "peanut_val.txt")[: args.n]
    rows = []
    for side in args.sides:
        photos, labels = [], []
        for stem in stems:
            im = Image.open(args.data / "images" / f"{stem}.jpg").convert("RGB")
            scale = side / max(im.size)
            size = (round(im.width * scale), round(im.height * scale))
            photos.append(np.asarray(im.resize(size, Image.Resampling.LANCZOS)))
            lab = Image.open(args.data / "labels" / f"{stem}.png").convert("RGB").resize(size, Image.Resampling.NEAREST)
            labels.append(np.asarray(lab).sum(-1) > 0)  # (H, W) vegetation: crop and weed
        for factor in [0, *args.factors]:
            predictor = load_predictor("default", long_side=round(side * factor))
            ious, ratios = [], []
            for rgb, truth in zip(photos, labels, strict=True):
                veg = predictor.predict(rgb) > 0
                ious.append((veg & truth).sum() / max(1, (veg | truth).sum()))
                ratios.append(veg.sum() / max(1, truth.sum()))
            row = {"side": side, "enlarged": factor or 1, "long_side": round(side * factor),
                   "iou": round(float(np.mean(ious)), 4), "area_ratio": round(float(np.mean(ratios)), 4)}  # fmt: skip
            rows.append(row)
            print(f"{side:4d} px x{row['enlarged']:<4g} (--long-side {row['long_side']:5d}): IoU {row['iou']:.3f}  "
                  f"area ratio {row['area_ratio']:.3f}", flush=True)  # fmt: skip
    if args.output:
        from agriseg.data.files import write_json

        write_json(args.output, {"photos": len(stems), "rows": rows})


if __name__ == "__main__":
    main()
