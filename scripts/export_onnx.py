"""Export the packaged crop models to ONNX (run after retraining one), then test them against PyTorch.

    python scripts/export_onnx.py                      # default and crop-weed -> models/weights/*.onnx
    python scripts/export_onnx.py runs/x/model.safetensors -o runs/x/model.onnx   # any agriseg model file

With packaged names (the default), it then runs ``tests/models/test_onnx_models.py``: the ONNX files must
give PyTorch's probabilities (max |diff|) and the same masks on the sample photos, and name the safetensors
they came from. Needs the ``train`` extra (PyTorch and ``onnx``). Exit status: the test run's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agriseg.extras import MissingExtra
from agriseg.models.io import PACKAGED_ONNX, export_onnx, packaged_onnx


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", default=list(PACKAGED_ONNX), help="packaged names or model files")
    ap.add_argument("-o", "--output", type=Path, default=None, help="the ONNX file (one model file only)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing ONNX file (packaged ones always)")
    args = ap.parse_args()
    if args.output is not None and len(args.models) != 1:
        ap.error("-o/--output takes one model")
    for name in args.models:
        target = args.output or (packaged_onnx(name) if name in PACKAGED_ONNX else Path(name).with_suffix(".onnx"))
        packaged = name in PACKAGED_ONNX and target.resolve() == packaged_onnx(name).resolve()
        if target.exists() and not args.overwrite and not packaged:  # a user's file: never replaced
            print(f"error: {target}: exists (use --overwrite)", file=sys.stderr)
            return 2
        try:
            out = export_onnx(name, target)
        except (OSError, ValueError, MissingExtra) as err:  # a missing or damaged model file, or no PyTorch: one line
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{name} -> {out} ({out.stat().st_size / 2**20:.1f} MB)")
    if not any(m in PACKAGED_ONNX for m in args.models):
        return 0
    import pytest

    test = Path(__file__).resolve().parents[1] / "tests" / "models" / "test_onnx_models.py"
    return int(pytest.main([str(test), "-q", "-p", "no:cacheprovider", "-m", "not slow or slow"]))


if __name__ == "__main__":
    sys.exit(main())
