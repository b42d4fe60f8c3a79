"""Per-pot plant area on generated trays with the photo's colour decision and with each plant's own.

A development measurement for ``agriseg.crop.refine.LOCAL_RING`` (the colour decision of unsure pixels made per
object, against the background within N working pixels of it, instead of once per photo). Trays are made from
the Peanut **training** photos with seeds of their own, never the committed tray benchmark (seed 30000):

    agriseg crop make-synthetic tray -o runs/dev/trays --photos ../shared/data/peanut/images \\
        --labels ../shared/data/peanut/labels --stems configs/crop/peanut_train.txt -n 8 --seed 31000
    agriseg crop make-synthetic tray -o runs/dev/trays32 --photos ../shared/data/peanut/images \\
        --labels ../shared/data/peanut/labels --stems configs/crop/peanut_train.txt -n 30 --seed 32000
    python benchmarks/crop_local_colour_trays.py runs/dev/trays runs/dev/trays32 --rings 0,4,8,16 \\
        -o benchmarks/results/crop_local_colour_trays_dev.json

``--sure-flag`` also reports the per-pot check flag of ``crop traits`` (``model_sure`` under
``agriseg.crop.traits.regions.CHECK_SURE``: the share of the pot's mask pixels the model was sure of) for the
first ring: how often flagged and unflagged pots are off by more than 10 %
(``benchmarks/results/crop_tray_sure_flag_rule.md``).

``--long-side N`` sets the model's working size (0: each photo's own size); measured on the trays of seed 35000
(``benchmarks/results/crop_tray_working_size_dev.json``). ``--off nogrey`` adds each ring with the grey-object step
off.

For every planted pot wholly in the frame, the mask of ``crop predict`` (the model at its working size, then the
colour decision) inside the pot's box against the true vegetation pixels there (the generator's label). Reports
pots within +-10 % of the truth, under and over, and the median error by the true plant's mean excess green
(pale plants, ExG under 0.2, are the ones the model itself misses). The pot's box, not ``crop traits``' grid, so
that the decision alone is compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

sys.path.insert(0, str(ROOT / "benchmarks"))
from crop_unsure_pixels import steps_off  # noqa: E402

from agriseg.crop.predictor import load_predictor  # noqa: E402
from agriseg.data.files import write_json  # noqa: E402
from agriseg.data.io import read_rgb  # noqa: E402

EXG_BINS = [0.0, 0.1, 0.2, 0.3, 0.5, 1.0]


def pots_of(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray, list[dict]]]:
    """(stem, photo, truth vegetation, pots) of every tray photo of a generated tray folder."""
    from PIL import Image

    index = json.loads((folder / "index.json").read_text())
    out = []
    for stem, photo in index["photos"].items():
        rgb = read_rgb(next((folder / "images").glob(f"{stem}.*")))
        label = np.asarray(Image.open(folder / "labels" / f"{stem}.png"))
        truth = label.reshape(*rgb.shape[:2], -1).max(-1) > 0  # (H, W) any vegetation class
        out.append((stem, rgb, truth, photo["pots"]))
    return out


def summary(err: np.ndarray, exg: np.ndarray, layout: np.ndarray) -> dict:
    by_exg = {}
    for lo, hi in zip(EXG_BINS[:-1], EXG_BINS[1:], strict=True):
        sel = (exg > lo) & (exg <= hi)
        if sel.any():
            by_exg[f"{lo}-{hi}"] = {
                "pots": int(sel.sum()),
                "within_10pct": int((np.abs(err[sel]) <= 0.1).sum()),
                "median_error": round(float(np.median(err[sel])), 4),
            }
    return {
        "pots": len(err),
        "within_10pct": int((np.abs(err) <= 0.1).sum()),
        "under_10pct": int((err < -0.1).sum()),
        "over_10pct": int((err > 0.1).sum()),
        "median_error": round(float(np.median(err)), 4),
        "by_plant_excess_green": by_exg,
        "by_layout": {
            str(k): {"pots": int((layout == k).sum()), "within_10pct": int((np.abs(err[layout == k]) <= 0.1).sum())}
            for k in sorted(set(layout.tolist()))
        },
    }


def sure_flag(err: np.ndarray, share: np.ndarray) -> dict:
    """Pots flagged by ``crop traits`` (``model_sure`` < CHECK_SURE; an empty mask has no share and no flag) and
    how many of the flagged / other pots are off by more than 10 %."""
    from agriseg.crop.traits.regions import CHECK_SURE

    off, shown = np.abs(err) > 0.1, ~np.isnan(share)
    flagged = shown & (np.nan_to_num(share, nan=1.0) < CHECK_SURE)
    rest = ~flagged
    rate = lambda sel: float((sel & off).sum() / max(sel.sum(), 1))  # noqa: E731 (share of these pots off)
    return {
        "check_sure": CHECK_SURE,
        "flagged": int(flagged.sum()),
        "flagged_off": int((flagged & off).sum()),
        "not_flagged": int(rest.sum()),
        "not_flagged_off": int((rest & off).sum()),
        "off_rate_ratio": round(rate(flagged) / max(rate(rest), 1e-9), 2),
        "off_not_empty": int((off & shown).sum()),
        "off_named": int((off & flagged).sum()),
        "empty_masks": int((~shown).sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", type=Path, nargs="+", help="generated tray folders (index.json, images/, labels/)")
    ap.add_argument("--model", default="default")
    ap.add_argument("--long-side", type=int, default=None, help="the model's working size (0: the photo's own)")
    ap.add_argument("--rings", default="0,8", help="LOCAL_RING values to compare; 0 = one decision per photo")
    ap.add_argument("--off", default="", help="also each ring with these steps off (e.g. nogrey)")
    ap.add_argument("--sure-flag", action="store_true", help="report the per-pot model_sure check flag")
    ap.add_argument("-o", "--output", type=Path, default=None)
    a = ap.parse_args()
    rings = [int(r) for r in a.rings.split(",")]
    variants = [(r, "") for r in rings] + [(r, f"/{a.off}") for r in rings if a.off]  # (ring, steps switched off)
    pred = load_predictor(a.model, long_side=a.long_side)
    errors: dict[tuple[int, str], list[float]] = {v: [] for v in variants}
    exg: list[float] = []
    layout: list[str] = []  # "ROWSxCOLS" of each pot's tray
    sure_share: list[float] = []  # per pot: share of the first variant's mask pixels the model was sure of
    for folder in a.folders:
        trays = json.loads((folder / "index.json").read_text())["photos"]
        for stem, rgb, truth, pots in pots_of(folder):
            probs = pred.probabilities([rgb])[0]  # (K, H, W), once per photo
            sure = pred.sure(probs)  # (H, W)
            masks = {}
            for r, off in variants:
                with steps_off(f"x/local{r}{off}"):  # ring r (0: per photo), steps off; restored after
                    masks[r, off] = pred.classes(probs, rgb) > 0
            f = rgb.astype(np.float32) / 255
            g = 2 * f[..., 1] - f[..., 0] - f[..., 2]  # (H, W) excess green
            for pot in pots:
                if pot["plant_count"] == 0 or not pot["in_frame"]:
                    continue
                x, y, w, h = pot["box"]
                box = np.s_[y : y + h, x : x + w]
                t = truth[box]
                exg.append(float(g[box][t].mean()))
                layout.append(f"{trays[stem]['rows']}x{trays[stem]['cols']}")
                m0 = masks[variants[0]][box]
                sure_share.append(float(sure[box][m0].mean()) if m0.any() else float("nan"))
                for v in variants:
                    errors[v].append(int(masks[v][box].sum()) / int(t.sum()) - 1)
    e, lay = np.array(exg), np.array(layout)
    res = {(f"ring_{r}" if r else "photo") + off: summary(np.array(errors[r, off]), e, lay) for r, off in variants}
    for name, row in res.items():
        print(f"{name:8s} within 10 %: {row['within_10pct']}/{row['pots']}  under {row['under_10pct']}  "
              f"over {row['over_10pct']}  median {row['median_error']:+.3f}")  # fmt: skip
    flag = sure_flag(np.array(errors[variants[0]]), np.array(sure_share)) if a.sure_flag else None
    if flag:
        fl = flag
        print(f"flagged {fl['flagged']}: {fl['flagged_off']} off; not flagged {fl['not_flagged']}: "
              f"{fl['not_flagged_off']} off; off pots named {fl['off_named']} of {fl['off_not_empty']}")  # fmt: skip
    if a.output:
        out = {"model": a.model, "long_side": pred.long_side, "folders": [str(f) for f in a.folders], "results": res}
        if flag:
            out["sure_flag"] = flag
        write_json(a.output, out)


if __name__ == "__main__":
    main()
