"""Write synthetic RGB-D field scenes with known plant masks (plants raised above a tilted ground plane).

    python scripts/make_synthetic_rgbd.py -o data/synthetic_rgbd -n 40 --size 480 640 --depth-format png

Layout: ``images/NNNN.png`` (RGB), ``depth/NNNN.<png|tif|npy>`` (16-bit mm PNG with 0 = missing, float32
metres TIFF, or float32 metres .npy), ``masks/NNNN.png`` (0/1). Then, e.g.::

    agriseg crop pseudolabel OUT/images -o OUT/pseudo --source depth --depth-dir OUT/depth --plot
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--outdir", type=Path, required=True)
    ap.add_argument("-n", type=int, default=40, help="number of scenes")
    ap.add_argument("--size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--depth-format", choices=["png", "tif", "npy"], default="png")
    ap.add_argument("--noise", type=float, default=0.004, help="depth noise in metres at 1 m")
    ap.add_argument("--holes", type=float, default=0.0, help="share of missing depth pixels")
    args = ap.parse_args()

    from agriseg.crop.pseudolabel.synthetic import write_scenes

    out = write_scenes(
        args.outdir,
        args.n,
        args.seed,
        args.depth_format,
        size=tuple(args.size),
        noise_m=args.noise,
        holes=args.holes,
    )
    print(f"{args.n} scenes -> {out}")


if __name__ == "__main__":
    main()
