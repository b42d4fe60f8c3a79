"""Probes of the text-mask models (one subcommand each; --help gives the options).

- ``generation``: RRLE of 16 patches generated in one batch vs one patch at a time (equal tokens):
      OMP_NUM_THREADS=1 python benchmarks/text_probes.py generation --repeats 3
- ``rows``: cell accuracy per row and column of the RRLE grid, confusion matrix, pure vs mixed cells, and
  which cells a second model changed (``results/text_row_accuracy.json``):
      python benchmarks/text_probes.py rows --split val
- ``vision``: grid Dice of the warm-started vision tower's per-token class head alone, the ceiling of what
  the language model can copy (``results/text_vision_probe.json``):
      OMP_NUM_THREADS=1 python benchmarks/text_probes.py vision --steps 600 2000 --position-weight 0 1
"""

from __future__ import annotations

from lib import dispatch

if __name__ == "__main__":
    dispatch(
        __doc__,
        {
            "generation": "lib.text_batched_generation",
            "rows": "lib.text_row_accuracy",
            "vision": "lib.text_vision_probe",
        },
    )
