"""Pseudo-label throughput from a vegetation index (target: >= 20 images/s at 960x720 on one CPU thread).

Times the whole per-image path of ``agriseg crop pseudolabel --source index``: JPEG decode (reduced to the
GGHT fitting size), index, GGHT, full-size mask, and (with ``--write``) the mask PNG + record JSON, without
overlays. Uses the Peanut photos when ``../shared`` is present, else synthetic 960x720 JPEGs.

    OMP_NUM_THREADS=1 python benchmarks/pseudolabel_speed.py --index cive --n 200
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def _photos(n: int, shared: Path) -> list[Path]:
    peanut = shared / "data" / "peanut" / "images"
    if peanut.is_dir():
        files = sorted(peanut.glob("*.jpg"))
        return (files * (n // len(files) + 1))[:n]
    from agriseg.crop.pseudolabel.synthetic import make_scene

    d = Path(tempfile.mkdtemp(prefix="agriseg-speed-"))
    out = []
    for i in range(min(n, 20)):
        sc = make_scene(seed=i, size=(720, 960))
        p = d / f"{i:04d}.jpg"
        cv2.imwrite(str(p), cv2.cvtColor(sc.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        out.append(p)
    return (out * (n // len(out) + 1))[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default="cive", choices=["exg", "exg_exr", "cive", "lab_a", "auto"])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--write", action="store_true", help="also time the batch pipeline writing masks + records")
    ap.add_argument("-o", "--output", type=Path, default=None, help="write the result as JSON")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from agriseg.crop.pseudolabel.gght import GGHTConfig
    from agriseg.crop.pseudolabel.pipeline import (
        PseudoLabelConfig,
        index_pseudolabel,
        pseudolabel_files,
        read_rgb_for_index,
    )

    files = _photos(args.n, args.shared)
    cfg = GGHTConfig()
    for f in files[:5]:  # warm-up
        small, full = read_rgb_for_index(f, cfg.fit_long_side)
        index_pseudolabel(small, args.index, cfg, out_shape=full)
    t0 = time.perf_counter()
    shapes = set()
    for f in files:
        small, full = read_rgb_for_index(f, cfg.fit_long_side)
        res, _ = index_pseudolabel(small, args.index, cfg, out_shape=full)
        shapes.add(res.mask.shape)
    core = time.perf_counter() - t0
    result = {
        "index": args.index,
        "images": len(files),
        "mask_shapes": sorted(shapes),
        "threads": 1,
        "core_images_per_s": round(len(files) / core, 2),
        "load_average": os.getloadavg()[0],
    }
    if args.write:
        with tempfile.TemporaryDirectory() as tmp:
            uniq = {f.stem: f for f in files}
            opts = PseudoLabelConfig(index=args.index, overlays=False)
            t0 = time.perf_counter()
            pseudolabel_files(list(uniq.values()), tmp, opts, progress=False)
            result["pipeline_images_per_s"] = round(len(uniq) / (time.perf_counter() - t0), 2)
    print(json.dumps(result, indent=1))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=1))
    print(
        f"{args.index}: {result['core_images_per_s']} images/s (target >= 20)"
        + (f", {result['pipeline_images_per_s']} images/s with mask+record writing" if args.write else "")
    )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
