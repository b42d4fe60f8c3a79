"""Does the background floor of the object-level steps change the packaged models' masks?

``agriseg.crop.refine.FLOOR_FACTOR`` raises the thresholds of the half-seen and faint-stem steps to a multiple of
the photo's background floor (the median vegetation probability of the pixels the model calls background), so
that a model whose background is not sure (trained briefly or on pseudo-labels) does not turn a whole photo into
one half-seen object or one trace. For each model and photo set, this counts the photos whose class map differs
with the floor and without it (``FLOOR_FACTOR = 0``), from the same probabilities, and reports each model's
background floor (median and largest over the photos).

    python benchmarks/crop_background_floor.py --models default crop-weed \
        --independent <carrot-weed dir> --ews runs/data/ews -o benchmarks/results/crop_background_floor.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def photo_sets(a: argparse.Namespace) -> dict[str, list[Path]]:
    val = set((REPO / "configs/crop/peanut_val.txt").read_text().split())
    peanut = a.shared / "data/peanut/images"
    sets = {
        "edge_plants": sorted((REPO / "benchmarks/data/edge_plants/images").glob("*.jpg")),
        "lab_set": sorted((REPO / "benchmarks/data/lab_set/images").glob("*.jpg")),
        "trays": sorted((REPO / "benchmarks/data/trays/images").glob("*.jpg")),
        "peanut_val": sorted(p for p in peanut.glob("*.jpg") if p.stem in val),
    }
    if a.independent:
        sets["independent"] = sorted((a.independent / "images").iterdir())
    if a.ews:
        sets["ews_val"] = sorted((a.ews / "validation/images").iterdir())
    return sets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["default", "crop-weed"], help="packaged names or model files")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--independent", type=Path, help="prepared Carrot-Weed folder (images/)")
    ap.add_argument("--ews", type=Path, help="prepared EWS folder (validation/images)")
    ap.add_argument("-o", "--output", type=Path, required=True)
    a = ap.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    from lib import need

    need(a.shared / "data" / "peanut" / "images", "the Peanut validation photos (--shared)")  # not a set of 0 photos
    for given in (a.independent, a.ews):
        if given is not None:
            need(given, "a prepared benchmark set")

    from tqdm import tqdm

    from agriseg.crop import refine
    from agriseg.crop.predictor import class_map, load_predictor
    from agriseg.data.files import write_json
    from agriseg.data.io import read_rgb

    factor = refine.FLOOR_FACTOR
    res: dict = {"floor_factor": factor, "models": {}}
    for model in a.models:
        pred = load_predictor(model)
        res["models"][model] = {}
        for name, files in photo_sets(a).items():
            differ, floors = [], []
            for f in tqdm(files, desc=f"{model} {name}", unit="img"):
                rgb = read_rgb(f)
                probs = pred.probabilities([rgb])[0]  # (K, H, W)
                floors.append(refine.background_floor(1.0 - probs[0], class_map(probs)))
                try:
                    refine.FLOOR_FACTOR = factor
                    with_floor = pred.classes(probs, rgb)
                    refine.FLOOR_FACTOR = 0.0
                    without = pred.classes(probs, rgb)
                finally:
                    refine.FLOOR_FACTOR = factor
                if not np.array_equal(with_floor, without):
                    differ.append({"photo": f.name, "pixels": int((with_floor != without).sum())})
            res["models"][model][name] = {
                "photos": len(files),
                "photos_differ": len(differ),
                "differ": differ,
                "floor_median": float(np.median(floors)) if floors else None,
                "floor_max": float(np.max(floors)) if floors else None,
            }
            print(model, name, json.dumps({k: v for k, v in res["models"][model][name].items() if k != "differ"}))
    write_json(a.output, res)


if __name__ == "__main__":
    main()
