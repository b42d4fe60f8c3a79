"""Where and when a crop model loses accuracy on the Peanut validation photos (one subcommand each).

- ``errors``: per-photo false positives / negatives split by label class (crop, weed), worst photos as
  overlays, optional threshold / dilation sweep:
      OMP_NUM_THREADS=1 python benchmarks/crop_accuracy.py errors --model default --split val -o runs/bench/errors
- ``boundary``: the labels scored against themselves shifted by k pixels, and the models' errors binned by
  distance to the label boundary, misses and false vegetation apart (``results/label_boundary_v5.json``):
      python benchmarks/crop_accuracy.py boundary --model default --model default@3
- ``shifts``: domain shifts of the validation photos (lighting, white balance, blur, JPEG, distance, hue)
  against the excess-green + Otsu baseline (``results/robustness_crop.json`` / ``.md``):
      python benchmarks/crop_accuracy.py shifts --model default -o benchmarks/results/robustness_crop.md
- ``scale``: validation mIoU / bIoU at several inference sizes, TTA and precisions
  (``results/inference_scale_*.json``):
      python benchmarks/crop_accuracy.py scale --model default --sizes 640 800 960 1200
"""

from __future__ import annotations

from lib import dispatch

if __name__ == "__main__":
    dispatch(
        __doc__,
        {
            "errors": "lib.crop_error_analysis",
            "boundary": "lib.label_boundary_sensitivity",
            "shifts": "lib.robustness_crop",
            "scale": "lib.inference_scale",
        },
    )
