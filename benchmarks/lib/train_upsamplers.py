"""Train the same model and schedule with each x2 upsampler (the paper's Table V comparison).

Each run writes ``runs/upsamplers/<name>/model.safetensors`` and ``result.json``; finished runs are skipped
and an interrupted one resumes from its ``last.ckpt``, so the script can be re-run until all are done.

    python benchmarks/upsamplers.py train [--config configs/crop/peanut_vegetation.yaml] [--only fade]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agriseg.config import load_config
from agriseg.crop.config import CropTrainConfig
from agriseg.crop.train import train_crop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/crop/peanut_vegetation.yaml")
    ap.add_argument("--out", default="runs/upsamplers")
    ap.add_argument("--only", nargs="*", default=["bilinear", "dysample", "fade"])
    args = ap.parse_args()
    for name in args.only:
        out = Path(args.out) / name
        if (out / "result.json").is_file():
            print(f"{name}: done already")
            continue
        cfg = load_config(args.config, CropTrainConfig)
        cfg.model.upsampler = name
        cfg.output_dir = str(out)
        last = out / "last.ckpt"
        res = train_crop(cfg, resume=str(last) if last.is_file() else None)
        (out / "result.json").write_text(json.dumps(res, indent=1))
        print(name, res["val"])
