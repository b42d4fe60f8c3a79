"""Blend two models of one architecture by weight interpolation: ``(1 - alpha) * A + alpha * B``.

Weight-space ensembling of a model and its fine-tuned descendant (WiSE-FT, Wortsman et al., "Robust fine-tuning
of zero-shot models", CVPR 2022): a point between the two often keeps the first model's robustness to other data
and most of what fine-tuning gained. Both files must come from one configuration (same architecture and classes;
the second fine-tuned from the first). Batch-norm running statistics are interpolated like the weights.

    python scripts/interpolate_models.py src/agriseg/models/weights/crop_default.safetensors \
        runs/crop/peanut_vegetation_v6/model.safetensors --alpha 0.5 -o runs/crop/soup/v4_v6_050.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from agriseg.models.io import load_model, save_model


def interpolate(a: torch.nn.Module, b: torch.nn.Module, alpha: float) -> torch.nn.Module:
    """Set ``a``'s parameters and buffers to ``(1 - alpha) * a + alpha * b`` in place and return it."""
    sa, sb = a.state_dict(), b.state_dict()
    if sa.keys() != sb.keys():
        raise SystemExit("the two models have different layers: they cannot be interpolated")
    out = {}
    for k, va in sa.items():
        vb = sb[k]
        if va.shape != vb.shape:
            raise SystemExit(f"layer {k}: shapes {tuple(va.shape)} and {tuple(vb.shape)} differ")
        if va.is_floating_point():
            out[k] = ((1 - alpha) * va.float() + alpha * vb.float()).to(va.dtype)
        else:  # integer buffers (batch-norm step counters): keep the first model's
            out[k] = va
    a.load_state_dict(out)
    return a


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="the starting model (alpha 0)")
    ap.add_argument("b", help="the fine-tuned model (alpha 1)")
    ap.add_argument("--alpha", type=float, required=True, help="weight of the second model, 0-1")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit(f"--alpha {args.alpha} is outside 0-1")
    ma, ca = load_model(args.a)
    mb, cb = load_model(args.b)
    keys = ("arch", "encoder", "upsampler", "num_classes")
    for key in keys:
        if getattr(ca, key) != getattr(cb, key):
            raise SystemExit(f"{key} differs: {getattr(ca, key)!r} against {getattr(cb, key)!r}")
    model = interpolate(ma.float(), mb.float(), args.alpha)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    extra = {"source": f"{Path(args.a).as_posix()} x{1 - args.alpha:g} + {Path(args.b).as_posix()} x{args.alpha:g}"}
    out = save_model(model, ca, args.output, half=True, extra=extra)
    print(f"{out}: alpha {args.alpha:g}")


if __name__ == "__main__":
    main()
