"""Copy a trained model into the package (fp16 safetensors), setting its default inference size.

    python scripts/ship_model.py runs/crop/peanut_vegetation_long/model.safetensors \
        src/agriseg/models/weights/crop_default.safetensors --infer-long-side 640
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agriseg.models.io import load_model, save_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source")
    ap.add_argument("target")
    ap.add_argument("--infer-long-side", type=int, default=None, help="chosen on the validation split")
    ap.add_argument("--max-mb", type=float, default=20.0)
    args = ap.parse_args()
    model, cfg = load_model(args.source)
    if args.infer_long_side is not None:
        cfg = cfg.model_copy(update={"infer_long_side": args.infer_long_side})
    out = save_model(model, cfg, args.target, half=True, extra={"source": Path(args.source).as_posix()})
    mb = out.stat().st_size / 2**20
    if mb > args.max_mb:
        out.unlink()
        raise SystemExit(f"{out}: {mb:.1f} MB is over the {args.max_mb} MB limit")
    print(f"{out}: {mb:.1f} MB, infer_long_side {cfg.infer_long_side}")


if __name__ == "__main__":
    main()
