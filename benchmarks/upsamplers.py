"""The x2 upsampler comparison (DepthCropSeg++ Table V): train one model per upsampler, then tabulate.

- ``train``: the same model and schedule with each upsampler (``runs/upsamplers/<name>/``; finished runs are
  skipped, an interrupted one resumes):
      python benchmarks/upsamplers.py train --config configs/crop/peanut_vegetation.yaml [--only fade]
- ``table``: params, GFLOPs, images/s, peak memory and validation mIoU / bIoU of each trained model at
  960x720 (one subprocess per model) (``results/upsamplers.md``):
      python benchmarks/upsamplers.py table -o benchmarks/results/upsamplers.md
"""

from __future__ import annotations

from lib import dispatch

if __name__ == "__main__":
    dispatch(__doc__, {"train": "lib.train_upsamplers", "table": "lib.upsampler_table"})
