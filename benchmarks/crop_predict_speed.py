"""Speed of crop inference, three ways (each subcommand's --help gives its options and result file).

- ``cli`` (the default when the first argument is an option): whole-process speed of ``agriseg crop predict``
  as a user runs it, interleaved rounds, optionally from a fresh base install (``--install``) and against
  another checkout (``--baseline``):
      python benchmarks/crop_predict_speed.py cli --repeat 3 -o benchmarks/results/crop_predict_speed.json
- ``settings``: in-process throughput of one model at 960x720 per setting (fp32, bf16 autocast,
  channels_last), each setting in a fresh subprocess so its peak memory is its own:
      python benchmarks/crop_predict_speed.py settings --model default -o benchmarks/results/predict_speed.json
- ``int8``: int8 (static QDQ) ONNX Runtime vs the float32 export: forward seconds per photo and validation
  mIoU / bIoU:
      python benchmarks/crop_predict_speed.py int8 --val-images <val>/images --val-labels <val>/labels
"""

from __future__ import annotations

from lib import dispatch

if __name__ == "__main__":
    dispatch(
        __doc__, {"cli": "lib.crop_predict_cli", "settings": "lib.predict_speed", "int8": "lib.crop_int8_probe"}, "cli"
    )
