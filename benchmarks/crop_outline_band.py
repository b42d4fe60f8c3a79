"""How wide a band of the outline the predictor re-decides on reduced photos (``Predictor.outline_band``).

A development measurement, not a benchmark set: it chose the band, so its photos are generated from the Peanut
**training** photos with a seed of their own (70000), never from the validation photos or seeds of
``benchmarks/data``. Synthetic plants of known area are drawn on 3264 x 2448 photos (a 8 MP phone camera), where
the default model runs at 800 px: one working pixel is four photo pixels. For each band (in working pixels) it
reports pooled vegetation IoU, boundary IoU (0.005), the pooled and median per-photo area ratio, and the time
per photo. Second, real photos: the 60 Peanut validation photos (the split that selects) put 2x2 into 1920 x 1440
mosaics (reduced 2.4x for the model), scored against their own generous labels and against the labels refined
with the training band (3 px), with the predicted / refined-label area ratio.

    python benchmarks/crop_outline_band.py -o benchmarks/results/crop_outline_band.json
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crop_edge_bias import truth_of  # noqa: E402

from agriseg.crop.dataset import read_stem_list  # noqa: E402
from agriseg.crop.predictor import load_predictor
from agriseg.data.files import write_json  # noqa: E402
from agriseg.data.io import read_rgb  # noqa: E402
from agriseg.metrics import SegmentationMetrics  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_set(out: Path, shared: Path, n: int, seed: int) -> None:
    """Synthetic plants on 3264 x 2448 photos from the Peanut training photos."""
    import agriseg.crop.scenes.write as write
    from agriseg.crop.scenes.shapes import ShapeSettings

    # plant radii stay given at the 800 px inference scale; only the photo size changes
    write.ShapeSettings = functools.partial(ShapeSettings, long_sides=(3264,))  # type: ignore[assignment]
    stems = read_stem_list(ROOT / "configs/crop/peanut_train.txt")
    peanut = shared / "data/peanut"
    write.write_set("plants", out, peanut / "images", peanut / "labels", stems, n=n, seed=seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--set", type=Path, default=ROOT / "runs/data/outline_dev", help="made here when missing")
    ap.add_argument("--bands", default="0,1,2,3")
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("-o", "--output", type=Path, default=None)
    a = ap.parse_args()
    from lib import need

    need(a.shared / "data" / "peanut", "the Peanut photos and labels (--shared)")
    if not (a.set / "index.json").exists():
        make_set(a.set, a.shared, a.n, seed=70000)
    photos = sorted((a.set / "images").iterdir())
    pred = load_predictor("default")
    res = {}
    for band in map(int, a.bands.split(",")):
        pred.outline_band = band
        met = SegmentationMetrics(2, 0.005, 255, ["background", "vegetation"])
        pa = ta = 0
        ratios, secs = [], 0.0
        for f in photos:
            rgb, t = read_rgb(f), truth_of(a.set / "labels" / f"{f.stem}.png")
            t0 = time.perf_counter()
            m = pred.predict(rgb) > 0
            secs += time.perf_counter() - t0
            met.update(m.astype(np.uint8), t)
            pa, ta = pa + int(m.sum()), ta + int((t == 1).sum())
            ratios.append(float(m.sum() / max(1, (t == 1).sum())))
        r = met.compute()
        res[str(band)] = {
            "iou_vegetation": 100 * r["per_class_iou"]["vegetation"],
            "biou_0.005": 100 * r["biou"],
            "area_ratio_total": pa / ta,
            "area_ratio_median": float(np.median(ratios)),
            "seconds_per_photo": secs / len(photos),
        }
        print(f"band {band}: " + "  ".join(f"{k} {v:.3f}" for k, v in res[str(band)].items()), flush=True)
    mosaics = peanut_mosaics(pred, a.shared, [int(b) for b in a.bands.split(",")])
    if a.output:
        write_json(a.output, {"set": str(a.set), "photos": len(photos), "bands": res, "peanut_mosaics": mosaics})


def peanut_mosaics(pred, shared: Path, bands: list[int]) -> dict:
    """The Peanut validation photos 2x2 in one frame, against own and refined labels, for each band."""
    from crop_unsure_pixels import peanut_sets

    own_set, refined_set = peanut_sets(shared)
    photos = [(rgb, own, ref) for (_, rgb, own), (_, _, ref) in zip(own_set, refined_set, strict=True)]

    def tile(group: list, j: int) -> np.ndarray:
        return np.concatenate(
            [np.concatenate([g[j] for g in group[:2]], 1), np.concatenate([g[j] for g in group[2:]], 1)]
        )

    res = {}
    for band in bands:
        pred.outline_band = band
        own, ref = SegmentationMetrics(2), SegmentationMetrics(2)
        pa = ta = 0
        for i in range(0, len(photos) - 3, 4):
            group = photos[i : i + 4]
            p = pred.predict(tile(group, 0))
            own.update(p, tile(group, 1))
            ref.update(p, tile(group, 2))
            pa, ta = pa + int((p > 0).sum()), ta + int((tile(group, 2) == 1).sum())
        res[str(band)] = {
            "miou_own_labels": 100 * own.compute()["miou"],
            "miou_refined_labels": 100 * ref.compute()["miou"],
            "area_ratio_refined": pa / ta,
        }
        print(f"mosaics band {band}: " + "  ".join(f"{k} {v:.3f}" for k, v in res[str(band)].items()), flush=True)
    return res


if __name__ == "__main__":
    main()
