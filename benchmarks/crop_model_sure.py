"""Does ``model_sure`` (``crop predict``'s summary) say which photos the mask is less right on?

Development sets only (the synthetic plants and lab scenes that ``crop_unsure_pixels.py`` makes from the Peanut
*training* photos with their own seeds, the EWS wheat validation patches, the Peanut validation photos against
their own labels). For every photo with labelled vegetation: its IoU and its ``model_sure``
(:func:`agriseg.crop.predict.model_sure`, the share of the mask whose vegetation probability reaches the sure
level), the Pearson correlation per set, and the IoU of the photos under 0.5, 0.5-0.7 and above::

    python benchmarks/crop_model_sure.py --ews runs/data/ews -o benchmarks/results/crop_model_sure_dev.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from crop_unsure_pixels import make_sets, peanut_sets, photos_of  # noqa: E402

from agriseg.crop.predict import model_sure  # noqa: E402
from agriseg.crop.predictor import load_predictor  # noqa: E402
from agriseg.data.files import write_json  # noqa: E402

BINS = [(0.0, 0.5), (0.5, 0.7), (0.7, 1.01)]


def summary(rows: list[dict]) -> dict:
    """Correlation of model_sure with photo IoU, and the IoU of the photos in each model_sure bin."""
    rows = [r for r in rows if r["model_sure"] is not None]
    sure, iou = np.array([r["model_sure"] for r in rows]), np.array([r["iou"] for r in rows])
    out: dict = {
        "photos": len(rows),
        "pearson_r": round(float(np.corrcoef(sure, iou)[0, 1]), 3) if len(rows) > 2 else None,
        "model_sure_median": round(float(np.median(sure)), 3),
    }
    for lo, hi in BINS:
        sel = (sure >= lo) & (sure < hi)
        if sel.any():
            out[f"{lo}-{min(hi, 1.0)}"] = {
                "photos": int(sel.sum()),
                "median_iou": round(float(np.median(iou[sel])), 3),
                "lowest_iou": round(float(iou[sel].min()), 3),
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--sets", type=Path, default=ROOT / "runs/data/unsure_dev", help="made here when missing")
    ap.add_argument("--seeds", default="51000,60000", help="seeds of the plants and lab sets made under --sets")
    ap.add_argument("--ews", type=Path, default=None, help="prepared EWS folder (validation/ is used)")
    ap.add_argument("--model", default="default")
    ap.add_argument("-o", "--output", type=Path, default=None)
    a = ap.parse_args()
    from lib import need

    need(a.shared / "data" / "peanut", "the Peanut photos and labels (--shared)")
    make_sets(a.sets, a.shared, tuple(int(v) for v in a.seeds.split(",")))
    pred = load_predictor(a.model)
    sets = {"plants": photos_of(a.sets / "plants"), "lab": photos_of(a.sets / "lab")}
    if a.ews is not None:
        sets["ews"] = photos_of(a.ews / "validation")
    sets["peanut_own"] = peanut_sets(a.shared)[0]
    res: dict = {"model": a.model, "sets": {}}
    for name, photos in sets.items():
        rows = []
        for stem, rgb, t in photos:
            if not (t == 1).any():
                continue  # a plain frame: no IoU
            probs = pred.probabilities([rgb])[0]
            classes = pred.classes(probs, rgb)
            m, valid = classes > 0, t != 255
            iou = float((m & (t == 1)).sum() / ((m | (t == 1)) & valid).sum())
            rows.append({"photo": stem, "iou": round(iou, 4), "model_sure": model_sure(classes, pred.sure(probs))})
        res["sets"][name] = {**summary(rows), "per_photo": rows}
        s = res["sets"][name]
        print(f"{name:11s} {s['photos']:3d} photos  r {s['pearson_r']}  median model_sure {s['model_sure_median']}  "
              + "  ".join(f"{k}: {v['photos']} photos, median IoU {v['median_iou']}"
                          for k, v in s.items() if isinstance(v, dict)))  # fmt: skip
    if a.output:
        write_json(a.output, res)


if __name__ == "__main__":
    main()
