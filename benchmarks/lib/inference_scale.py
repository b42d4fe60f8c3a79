"""Validation mIoU / bIoU of a crop model at several inference sizes (long side in pixels).

Inference size is a model setting chosen on the validation split (``infer_long_side`` in the model config).

    python benchmarks/crop_accuracy.py scale --model runs/upsamplers12/bilinear/model.safetensors --sizes 640 800 960
    python benchmarks/crop_accuracy.py scale --model default --sizes 960 --precision fp32 bf16
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agriseg.crop.dataset import read_stem_list
from agriseg.crop.labels import PEANUT_VEGETATION, read_label
from agriseg.crop.predictor import Predictor
from agriseg.data.io import read_rgb
from agriseg.metrics import SegmentationMetrics
from agriseg.models.io import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--sizes", type=int, nargs="+", default=[480, 640, 800, 960, 1200])
    ap.add_argument("--data", default="../shared/data/peanut")
    ap.add_argument("--val-list", default="configs/crop/peanut_val.txt")
    ap.add_argument("--tta", nargs="+", default=["none"], choices=["none", "flip", "flip+scale"])
    ap.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    from lib import need

    data = need(args.data, "the Peanut photos and labels (--data)")  # before the model loads
    need(args.val_list, "the list of validation photos, --val-list", hint="run from the project folder")
    model, cfg = load_model(args.model)
    stems = read_stem_list(args.val_list)
    photos = [
        (
            read_rgb(data / "images" / f"{s}.jpg"),
            read_label(data / "labels" / f"{s}.png", "colormap", PEANUT_VEGETATION),
        )
        for s in stems
    ]
    out = {}
    for prec in args.precision:
        for tta in args.tta:
            for size in args.sizes:
                pred = Predictor(model, cfg.num_classes, size, tile=4096, batch_size=1, tta=tta, precision=prec)
                m = SegmentationMetrics(cfg.num_classes)
                for img, lab in photos:
                    m.update(pred.predict(img), lab)
                r = m.compute()
                key = f"{size}/{tta}" + ("" if prec == "fp32" else f"/{prec}")
                out[key] = {"miou": r["miou"], "biou": r["biou"], "per_class_iou": r["per_class_iou"]}
                line = (
                    f"long side {size:5d} tta {tta:<10} {prec}: mIoU {100 * r['miou']:.2f}  bIoU {100 * r['biou']:.2f}"
                )
                print(line, flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(out, indent=1))
