"""Probe: int8 (static QDQ) ONNX Runtime for the default crop model - forward speed and validation mIoU.

Exports the default model for 800x600 inputs (or takes the user cache's export), quantises it with ONNX
Runtime's static quantisation (QDQ, per-channel int8 weights, uint8 activations) calibrated on 24 training
photos (never the validation ones), and compares it with the float32 export: seconds per photo of the forward
pass (batches of 4, 2 threads) and mIoU/bIoU on the validation photos. Not wired into the CLI: the result
decides whether it should be.

    python benchmarks/crop_predict_speed.py int8 --photos ../shared/data/peanut/images --val-images <val>/images \\
        --val-labels <val>/labels
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import onnxruntime as ort
    import torch
    import torch.nn.functional as F
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from agriseg.crop.evaluate import evaluate_folder
    from agriseg.crop.labels import PEANUT_VEGETATION
    from agriseg.crop.predictor import Predictor, class_map
    from agriseg.data.io import read_rgb
    from agriseg.models.io import LazyModel
    from agriseg.runtime import OnnxModule

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=Path("../shared/data/peanut/images"))
    ap.add_argument("--val-images", type=Path, required=True)
    ap.add_argument("--val-labels", type=Path, required=True)
    ap.add_argument("-o", "--output", type=Path, help="also write the two rows to this JSON file")
    args = ap.parse_args()
    rows: dict[str, dict[str, float]] = {}
    torch.set_num_threads(2)
    lazy = LazyModel("default", in_channels=3)
    pred = Predictor(lazy, 2, long_side=800)
    val = {p.name for p in args.val_images.glob("*.jpg")}
    train = [p for p in sorted(args.photos.glob("*.jpg")) if p.name not in val][:24]
    xs = [torch.from_numpy(pred.to_array(read_rgb(p)))[None] for p in train]  # (1, 3, 600, 800) each
    path = OnnxModule.cache_path(lazy.fingerprint, xs[0].shape[1:])
    if not path.is_file():
        OnnxModule.load_or_export(lazy(), xs[0], lazy.fingerprint)
    tmp = tempfile.TemporaryDirectory(prefix="int8_")
    work = Path(tmp.name)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"x": x.numpy()} for x in xs])

        def get_next(self) -> dict | None:
            return next(self.it, None)

    with contextlib.chdir(work):  # ONNX Runtime's pre-processing writes scratch models into the current folder
        quant_pre_process(str(path), str(work / "pre.onnx"), skip_symbolic_shape=True)
        quantize_static(
            str(work / "pre.onnx"), str(work / "int8.onnx"), Reader(), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
        )  # fmt: skip
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    batch = np.concatenate([x.numpy() for x in xs[:8]])
    for name, model in (("fp32", path), ("int8", work / "int8.onnx")):
        s = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        s.run(None, {"x": batch[:1]})
        times = []
        for _ in range(3):
            t = time.perf_counter()
            for i in range(0, 8, 4):
                s.run(None, {"x": batch[i : i + 4]})
            times.append((time.perf_counter() - t) / 8)

        def fn(stem: str, rgb: np.ndarray, s: ort.InferenceSession = s) -> np.ndarray:
            p = torch.from_numpy(s.run(None, {"x": pred.to_array(rgb)[None]})[0]).softmax(1)
            return class_map(F.interpolate(p, size=rgb.shape[:2], mode="bilinear", align_corners=False)[0])

        r = evaluate_folder(
            str(args.val_images), str(args.val_labels), fn, 2, "colormap", PEANUT_VEGETATION, 0.02,
            ["background", "vegetation"],
        )  # fmt: skip
        print(f"{name}: {min(times):.3f} s per photo (forward), mIoU {r['miou'] * 100:.2f}, bIoU {r['biou'] * 100:.2f}")
        rows[name] = {"forward_s_per_photo": round(min(times), 4), "miou": round(r["miou"] * 100, 2),
                      "biou": round(r["biou"] * 100, 2)}  # fmt: skip
    if args.output:
        args.output.write_text(json.dumps({"calibration_photos": len(xs), "rows": rows}, indent=1) + "\n")
