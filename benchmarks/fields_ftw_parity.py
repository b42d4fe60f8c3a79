#!/usr/bin/env python
"""Parity with ftw-tools 1.4.3: metrics on the same predictions, and logits of a checkpoint in their format.

ftw-tools runs in its own virtualenv (it pins torchgeo < 0.8)::

    python -m venv /tmp/ftwvenv && /tmp/ftwvenv/bin/pip install ftw-tools==1.4.3 "torchgeo<0.8"
    OMP_NUM_THREADS=1 python benchmarks/fields_ftw_parity.py --ftw-python /tmp/ftwvenv/bin/python

What it does:

1. Builds test chips in our environment: synthetic FTW truth masks (3-class, 2-class, presence-only with
   label 3) and predictions derived from them (perfect, eroded, dilated/merged, noisy, shifted, random
   blobs, empty, 3-class predictions with boundaries).
2. Runs ftw-tools' own scoring in their venv (this file with ``--ftw-side``): ``ftw.metrics.
   get_object_level_metrics`` per chip and the torchmetrics ``JaccardIndex`` / ``Precision`` / ``Recall``
   collection exactly as ``ftw_cli.model.test`` configures it (boundary predictions mapped to background).
3. Builds ``CustomSemanticSegmentationTask(model="unet", backbone="efficientnet-b3", in_channels=8,
   num_classes=3)`` in their venv, writes it as a Lightning checkpoint with a real ``Trainer``, records
   its logits on a fixed input; we load that ``.ckpt`` with ``agriseg.fields.checkpoints`` (weights_only=True) and
   compare logits.
4. Prints the largest differences and exits non-zero unless metrics agree to 1e-6 and logits to 1e-5.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TOL_METRIC = 1e-6
TOL_LOGITS = 1e-5


# --------------------------------------------------------------------------------------------- ftw side
def ftw_side(npz: Path, out: Path) -> None:
    """Runs in ftw-tools' venv: score the chips with their code, write a checkpoint + logits."""
    import torch
    from ftw.metrics import get_object_level_metrics
    from torchmetrics import JaccardIndex, MetricCollection, Precision, Recall

    data = np.load(npz)
    res: dict = {"cases": {}}
    for case in sorted({k.split("/")[0] for k in data.files if "/" in k}):
        truth, pred = data[f"{case}/truth"], data[f"{case}/pred"]
        k = int(data[f"{case}/num_classes"])
        metrics = MetricCollection(
            [
                JaccardIndex(task="multiclass", average="none", num_classes=k, ignore_index=3),
                Precision(task="multiclass", average="none", num_classes=k, ignore_index=3),
                Recall(task="multiclass", average="none", num_classes=k, ignore_index=3),
            ]
        )
        # as ftw_cli.model.test: boundary (2) and background (0) -> 0, field (1) -> 1
        p = torch.from_numpy(pred.astype(np.int64))
        p = torch.where(p == 1, 1, 0)
        metrics.update(p, torch.from_numpy(truth.astype(np.int64)))
        per_chip = []
        for i in range(len(truth)):
            per_chip.append(
                list(
                    get_object_level_metrics(
                        truth[i].astype(np.uint8), p[i].numpy().astype(np.uint8), iou_threshold=0.5
                    )
                )
            )
        r = metrics.compute()
        tp, fp, fn = (int(v) for v in np.sum(per_chip, axis=0))
        op = tp / (tp + fp) if tp + fp > 0 else float("nan")
        orc = tp / (tp + fn) if tp + fn > 0 else float("nan")
        res["cases"][case] = {
            "pixel_iou": r["MulticlassJaccardIndex"][1].item(),
            "pixel_precision": r["MulticlassPrecision"][1].item(),
            "pixel_recall": r["MulticlassRecall"][1].item(),
            "object_precision": op,
            "object_recall": orc,
            "object_f1": 2 * op * orc / (op + orc) if op + orc > 0 else 0.0,
            "per_chip": per_chip,
        }
    # a checkpoint in their format, written by Lightning itself
    import lightning
    from ftw.trainers import CustomSemanticSegmentationTask

    torch.manual_seed(0)
    task = CustomSemanticSegmentationTask(
        model="unet",
        backbone="efficientnet-b3",
        weights=None,
        in_channels=8,
        num_classes=3,
        loss="ce",
        class_weights=[0.04, 0.08, 0.88],
        ignore_index=3,
        lr=1e-3,
        patience=100,
    )
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in task.model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    trainer = lightning.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False)
    trainer.strategy.connect(task)
    ckpt = out.with_suffix(".ckpt")
    trainer.save_checkpoint(ckpt)
    loaded = CustomSemanticSegmentationTask.load_from_checkpoint(ckpt, map_location="cpu")
    x = torch.from_numpy(data["logit_input"])
    with torch.no_grad():
        logits = loaded.model.eval()(x).numpy()
    np.save(out.with_suffix(".logits.npy"), logits)
    res["checkpoint"] = str(ckpt)
    res["checkpoint_keys"] = sorted(torch.load(ckpt, map_location="cpu", weights_only=False).keys())
    out.write_text(json.dumps(res))


# --------------------------------------------------------------------------------------------- our side
def make_cases(seed: int = 0) -> dict[str, np.ndarray]:
    """Truth/prediction stacks per case, 256 x 256 chips."""
    import cv2

    from agriseg.fields.synthetic import SyntheticFTWConfig, make_chip

    rng = np.random.default_rng(seed)
    cfg = SyntheticFTWConfig(size=256)
    chips = [make_chip(rng, cfg) for _ in range(12)]
    presence = [make_chip(rng, cfg, presence_only=True) for _ in range(6)]
    k3 = np.ones((3, 3), np.uint8)

    def preds(t3: np.ndarray) -> dict[str, np.ndarray]:
        field = (t3 == 1).astype(np.uint8)
        noisy = t3.copy()
        flip = rng.random(t3.shape) < 0.04
        noisy[flip] = rng.integers(0, 3, flip.sum())
        blobs = (cv2.GaussianBlur(rng.random(t3.shape).astype(np.float32), (0, 0), 6) > 0.5).astype(np.uint8)
        return {
            "perfect": np.where(t3 == 3, 0, t3),
            "eroded": cv2.erode(field, k3, iterations=3),
            "dilated": cv2.dilate(field, k3, iterations=2),
            "noisy3": np.where(noisy == 3, 0, noisy),
            "shifted": np.roll(np.where(t3 == 3, 0, t3), (5, -7), axis=(0, 1)),
            "blobs": blobs,
            "empty": np.zeros_like(field),
        }

    out: dict[str, np.ndarray] = {}
    for group, items, key in (
        ("c3", chips, "semantic_3class"),
        ("c2", chips, "semantic_2class"),
        ("presence3", presence, "semantic_3class"),
    ):
        k = 2 if group == "c2" else 3
        per: dict[str, list] = {}
        for ch in items:
            for name, p in preds(ch["semantic_3class"]).items():
                per.setdefault(name, []).append((ch[key], p if k == 3 else np.where(p == 2, 0, p)))
        for name, pairs in per.items():
            case = f"{group}_{name}"
            out[f"{case}/truth"] = np.stack([t for t, _ in pairs]).astype(np.uint8)
            out[f"{case}/pred"] = np.stack([p for _, p in pairs]).astype(np.uint8)
            out[f"{case}/num_classes"] = np.array(k)
    out["empty_truth/truth"] = np.zeros((3, 256, 256), np.uint8)
    out["empty_truth/pred"] = out["c3_blobs/pred"][:3]
    out["empty_truth/num_classes"] = np.array(3)
    out["logit_input"] = rng.random((2, 8, 256, 256), dtype=np.float32)
    return out


def ours(truth: np.ndarray, pred: np.ndarray) -> tuple[dict, list]:
    from agriseg.fields.metrics import FieldMetrics

    m = FieldMetrics(n_boot=0)
    per_chip = [m.update(pred[i], truth[i])[3:].tolist() for i in range(len(truth))]
    return m.compute()["overall"], per_chip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ftw-python", default="/tmp/ftwvenv/bin/python", help="python of the ftw-tools venv")
    ap.add_argument("--ftw-side", nargs=2, metavar=("NPZ", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--json", default=None, help="write the comparison here")
    args = ap.parse_args()
    if args.ftw_side:
        ftw_side(Path(args.ftw_side[0]), Path(args.ftw_side[1]))
        return 0

    import torch

    from agriseg.fields.checkpoints import load_ftw_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        npz, out = Path(tmp) / "cases.npz", Path(tmp) / "ftw.json"
        cases = make_cases()
        np.savez_compressed(npz, **cases)
        subprocess.run([args.ftw_python, __file__, "--ftw-side", str(npz), str(out)], check=True)
        theirs = json.loads(out.read_text())
        worst, report = 0.0, {}
        for case, t in theirs["cases"].items():
            o, per_chip = ours(cases[f"{case}/truth"], cases[f"{case}/pred"])
            diffs = {}
            for key in (
                "pixel_iou",
                "pixel_precision",
                "pixel_recall",
                "object_precision",
                "object_recall",
                "object_f1",
            ):
                a, b = o[key], t[key]
                if isinstance(b, float) and np.isnan(b):  # ftw: nan for 0/0; ours: 0
                    b = 0.0
                diffs[key] = abs(a - b)
            chip_mismatch = int(sum(p != q for p, q in zip(per_chip, t["per_chip"], strict=True)))
            worst = max(worst, *diffs.values())
            report[case] = {
                "max_abs_diff": max(diffs.values()),
                "chips_with_other_tp_fp_fn": chip_mismatch,
                "object_f1": o["object_f1"],
                "pixel_iou": o["pixel_iou"],
            }
            print(
                f"{case:<22} max|diff| {max(diffs.values()):.2e}  chip TP/FP/FN mismatches {chip_mismatch}"
                f"  (pixel IoU {o['pixel_iou']:.4f}, object F1 {o['object_f1']:.4f})"
            )
        model, cfg, info = load_ftw_checkpoint(theirs["checkpoint"])
        with torch.no_grad():
            mine = model(torch.from_numpy(cases["logit_input"])).numpy()
        ref = np.load(Path(theirs["checkpoint"]).with_suffix(".logits.npy"))
        logit_diff = float(np.abs(mine - ref).max())
    mism = sum(r["chips_with_other_tp_fp_fn"] for r in report.values())
    print(
        f"\nmetrics: {len(report)} cases, max |ours - ftw-tools| = {worst:.2e} (tolerance {TOL_METRIC}), "
        f"per-chip TP/FP/FN mismatches: {mism}"
    )
    print(f"checkpoint written by ftw-tools' Lightning task: keys {theirs['checkpoint_keys']}")
    print(f"logits of agriseg smp_unet({cfg.encoder}) vs their model: max |diff| = {logit_diff:.2e}")
    ok = worst <= TOL_METRIC and mism == 0 and logit_diff <= TOL_LOGITS
    if args.json:
        Path(args.json).write_text(
            json.dumps({"cases": report, "max_metric_diff": worst, "logit_diff": logit_diff, "ok": ok}, indent=1)
        )
    print("PARITY OK" if ok else "PARITY FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
