"""How wide a band of the outline the predictor re-decides on reduced photos (``Predictor.outline_band``).

A development measurement, not a benchmark set: it chose the band, so its photos are generated from the Peanut
**training** photos with a seed of their own (70000), never from the validation photos or seeds of
``benchmarks/data``. Synthetic plants of known area are drawn on 3264 x 2448 photos (a 8 MP phone camera), where
the default model runs at 800 px: one working pixel is four photo pixels. For each band (in working pixels) it
reports pooled vegetation IoU, boundary IoU (0.005), the pooled and median per-photo area ratio, and the time
per photo.

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
from agriseg.crop.predict import load_predictor  # noqa: E402
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
    if a.output:
        write_json(a.output, {"set": str(a.set), "photos": len(photos), "bands": res})


if __name__ == "__main__":
    main()
