"""The colour of the objects the model was never sure of, true and false (development look, no bar).

Every 8-connected object of the final mask of ``crop predict``'s inference rule whose vegetation probability stays
under 0.9 (the unsure band's top) is listed with its size, highest probability, share of true vegetation
(labels) and median CIELAB colour (L*, a*, b*, hue angle, chroma), with the no-plant-colour step off (``--steps`` to
keep it on; grey objects are dropped either way). It found the rule of
``agriseg.crop.refine._no_plant_colour`` (``benchmarks/results/crop_hue_objects_rule.md``) on the seen development
sets only (never the committed benchmark sets)::

    python benchmarks/crop_never_sure_objects.py runs/data/unsure_dev{,_fresh,_fresh2,_fresh3,_fresh4,_fresh5}/lab \\
        runs/data/unsure_dev{,_fresh,_fresh2,_fresh3,_fresh4,_fresh5}/plants \\
        runs/data/ews/validation runs/dev/trays3[4-7] -o runs/diag/never_sure.json

The summary printed at the end counts true (>= half vegetation) and false (< 10 %) objects per hue range.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.color import rgb2lab

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crop_edge_bias import truth_of  # noqa: E402
from crop_unsure_pixels import steps_off  # noqa: E402

from agriseg.crop.predictor import load_predictor
from agriseg.data.io import read_rgb  # noqa: E402

SURE = 0.9
HUES = [-180, -120, -50, 0, 45, 90, 100, 105, 120, 180]


def objects(pred, folder: Path) -> list[dict]:
    """Never-sure objects of every photo of ``folder`` (``images/``, ``labels/``)."""
    rows = []
    for f in sorted((folder / "images").iterdir()):
        label = folder / "labels" / f"{f.stem}.png"
        if not label.exists():
            continue
        rgb, truth = read_rgb(f), truth_of(label)
        probs = pred.probabilities([rgb])[0]  # (K, H, W)
        p = 1 - probs[0]  # (H, W) vegetation probability
        lab = rgb2lab(rgb)  # (H, W, 3)
        comps, _ = ndi.label(pred.classes(probs, rgb) > 0, structure=np.ones((3, 3), bool))
        for i, sl in enumerate(ndi.find_objects(comps), 1):
            m = comps[sl] == i
            if m.sum() < 20 or p[sl][m].max() >= SURE:
                continue
            a, b = float(np.median(lab[sl][m][:, 1])), float(np.median(lab[sl][m][:, 2]))
            rows.append(
                {
                    "set": str(folder),
                    "photo": f.stem,
                    "size": int(m.sum()),
                    "true_share": float((truth[sl][m] == 1).mean()),
                    "p_max": float(p[sl][m].max()),
                    "L": float(np.median(lab[sl][m][:, 0])),
                    "a": a,
                    "b": b,
                    "hue": float(np.degrees(np.arctan2(b, a))),
                    "chroma": float(np.hypot(a, b)),
                }
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", type=Path, nargs="+", help="folders with images/ and labels/")
    ap.add_argument("--model", default="default")
    ap.add_argument("--steps", default="/nohue", help="crop_unsure_pixels.py step suffixes ('' = the shipped rule)")
    ap.add_argument("-o", "--output", type=Path, required=True)
    a = ap.parse_args()
    pred = load_predictor(a.model)
    with steps_off(f"x{a.steps}"):
        rows = [r for folder in a.folders for r in objects(pred, folder)]
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(rows))
    print(f"{len(rows)} never-sure objects")
    for lo, hi in zip(HUES[:-1], HUES[1:], strict=True):
        sel = [r for r in rows if lo <= r["hue"] < hi]
        true = [r for r in sel if r["true_share"] >= 0.5]
        false = [r for r in sel if r["true_share"] < 0.1]
        print(
            f"hue {lo:4d}..{hi:4d}: true {len(true):3d} ({sum(r['size'] for r in true):6d} px, chroma up to "
            f"{max([r['chroma'] for r in true], default=0):4.0f})  false {len(false):3d} "
            f"({sum(r['size'] for r in false):6d} px)"
        )


if __name__ == "__main__":
    main()
