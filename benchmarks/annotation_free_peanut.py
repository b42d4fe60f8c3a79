"""Annotation-free crop segmentation on Peanut: a table like DepthCropSeg++'s Table IV.

Rows:
1. Pseudo-label mIoU / bIoU of each vegetation index (GGHT defaults) against the true Peanut labels, on all
   300 photos and on the 60 validation photos of ``configs/crop/peanut_val.txt``.
2. Depth pseudo-labels on synthetic RGB-D scenes (held-out seeds; real depth cannot be scored here: no
   Depth Anything weights offline).
3. Stage-1 and stage-2 annotation-free models
   (``agriseg crop selftrain -c configs/crop/selftrain_peanut.yaml``)
   scored on the validation photos; ``--run-selftrain`` trains them (about 20 min of CPU), otherwise their
   report is read from the config's output folder.
4. The supervised default model (upper bound) when it is installed.

The true labels are used only to score. Run from the repository root:

    OMP_NUM_THREADS=1 python benchmarks/annotation_free_peanut.py -o runs/bench/annotation_free_peanut.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def index_rows(shared: Path, val_list: Path) -> list[dict]:
    from tqdm import tqdm

    from agriseg.crop.dataset import read_stem_list
    from agriseg.crop.labels import PEANUT_VEGETATION, read_label
    from agriseg.crop.pseudolabel.gght import GGHTConfig
    from agriseg.crop.pseudolabel.pipeline import index_pseudolabel, read_rgb_for_index
    from agriseg.metrics import SegmentationMetrics

    root = shared / "data" / "peanut"
    files = sorted((root / "images").glob("*.jpg"))
    val = set(read_stem_list(val_list))
    cfg = GGHTConfig()
    data = [
        (
            f.stem,
            read_rgb_for_index(f, cfg.fit_long_side),
            read_label(root / "labels" / f"{f.stem}.png", "colormap", PEANUT_VEGETATION),
        )
        for f in files
    ]
    rows = []
    for name in ("exg", "exg_exr", "cive", "lab_a", "auto"):
        all_m, val_m = SegmentationMetrics(2), SegmentationMetrics(2)
        full = 0
        t0 = time.perf_counter()
        bar = tqdm(data, desc=name, unit="img", leave=False, disable=not sys.stderr.isatty())
        for stem, (small, shape), lab in bar:
            res, _ = index_pseudolabel(small, name, cfg, out_shape=shape)  # type: ignore[arg-type]
            pred = res.mask.astype(np.uint8)
            all_m.update(pred, lab)
            if stem in val:
                val_m.update(pred, lab)
            full += res.full_coverage
        a, v = all_m.compute(), val_m.compute()
        rows.append(
            {
                "row": f"pseudo-labels: {name} + GGHT",
                "images_all": a["images"],
                "miou_all": a["miou"],
                "biou_all": a["biou"],
                "miou_val": v["miou"],
                "biou_val": v["biou"],
                "full_coverage": full,
                "seconds_per_image": (time.perf_counter() - t0) / len(data),
            }
        )
    return rows


def synthetic_rows(n: int = 40) -> list[dict]:
    from agriseg.crop.labels import read_label
    from agriseg.crop.pseudolabel.pipeline import PseudoLabelConfig, pseudolabel_files
    from agriseg.crop.pseudolabel.synthetic import write_scenes
    from agriseg.metrics import SegmentationMetrics

    rows = []
    for fmt, holes, detrend in (
        ("png", 0.0, "plane"),
        ("tif", 0.0, "plane"),
        ("png", 0.02, "plane"),
        ("png", 0.0, "none"),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            root = write_scenes(Path(tmp) / "syn", n=n, seed=5000, depth_format=fmt, size=(480, 640), holes=holes)
            recs = pseudolabel_files(
                sorted((root / "images").glob("*.png")),
                Path(tmp) / "out",
                PseudoLabelConfig(source="depth", depth_dir=str(root / "depth"), overlays=False, detrend=detrend),
                progress=False,
            )
            m = SegmentationMetrics(2)
            for r in recs:
                m.update(
                    read_label(Path(tmp) / "out" / r["mask"], "binary"),
                    read_label(root / "masks" / f"{r['stem']}.png", "binary"),
                )
            c = m.compute()
            rows.append(
                {
                    "row": f"pseudo-labels: depth ({fmt}, {int(holes * 100)}% holes, --detrend {detrend}) + GGHT, "
                    "synthetic RGB-D",
                    "images_all": c["images"],
                    "miou_all": c["miou"],
                    "biou_all": c["biou"],
                }
            )
    return rows


def model_rows(config: Path, run: bool, shared: Path) -> list[dict]:
    from agriseg.crop.selftrain import load_selftrain_config, score_model, selftrain

    cfg = load_selftrain_config(config)
    report_path = Path(cfg.output_dir) / "selftrain_report.json"
    if run:
        selftrain(cfg)
    rows = []
    if report_path.is_file():
        rep = json.loads(report_path.read_text())
        for st in ("stage1", "stage2"):
            if st in rep and cfg.evaluate is not None and Path(rep[st]["model"]).is_file():
                # scored here, not read from the report: the report holds the scores of the inference rule of
                # the day it was trained
                ev = score_model(rep[st]["model"], cfg.evaluate, argmax_too=True)
                rows.append(
                    {
                        "row": f"annotation-free {st} model ({rep[st]['epochs']} epochs)",
                        "miou_val": ev["miou"],
                        "biou_val": ev["biou"],
                        "miou_val_argmax": ev["miou_argmax"],
                        "biou_val_argmax": ev["biou_argmax"],
                        "model": rep[st]["model"],
                    }
                )
        if "trimap" in rep:
            rows.append({"row": "stage-2 trimaps: mean ignored share", "ignored": rep["trimap"]["mean_ignored"]})
    try:
        from agriseg.models.io import resolve

        default = resolve("default")
        if cfg.evaluate is not None:
            ev = score_model(default, cfg.evaluate, argmax_too=True)
            rows.append(
                {
                    "row": "supervised default model (upper bound)",
                    "miou_val": ev["miou"],
                    "biou_val": ev["biou"],
                    "miou_val_argmax": ev["miou_argmax"],
                    "biou_val_argmax": ev["biou_argmax"],
                }
            )
    except ValueError as err:
        rows.append({"row": "supervised default model (upper bound)", "note": f"not available: {err}"})
    return rows


def to_markdown(rows: list[dict]) -> str:
    def pct(v: float | None) -> str:
        return "" if v is None else f"{100 * v:.2f}"

    lines = ["| | mIoU (all) | bIoU (all) | mIoU (val) | bIoU (val) |", "|---|---|---|---|---|"]
    for r in rows:
        if "ignored" in r:
            lines.append(f"| {r['row']} | {100 * r['ignored']:.1f}% | | | |")
            continue
        if "note" in r:
            lines.append(f"| {r['row']} | {r['note']} | | | |")
            continue
        lines.append(
            f"| {r['row']} | {pct(r.get('miou_all'))} | {pct(r.get('biou_all'))} | "
            f"{pct(r.get('miou_val'))} | {pct(r.get('biou_val'))} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "crop" / "selftrain_peanut.yaml")
    ap.add_argument("--val-list", type=Path, default=REPO / "configs" / "crop" / "peanut_val.txt")
    ap.add_argument("--run-selftrain", action="store_true", help="train stage 1 + 2 (long; use flock)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["indices", "synthetic", "models"])
    ap.add_argument("-o", "--output", type=Path, default=None)
    args = ap.parse_args()
    if not (args.shared / "data" / "peanut").is_dir():
        raise SystemExit(f"{args.shared}/data/peanut not found (pass --shared)")
    rows: list[dict] = []
    if "indices" not in args.skip:
        rows += index_rows(args.shared, args.val_list)
    if "synthetic" not in args.skip:
        rows += synthetic_rows()
    if "models" not in args.skip:
        rows += model_rows(args.config, args.run_selftrain, args.shared)
    md = to_markdown(rows)
    print(md)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(
            json.dumps({"rows": rows, "markdown": md, "boundary_ratio": 0.02}, indent=1, default=str)
        )
        args.output.with_suffix(".md").write_text(md + "\n")


if __name__ == "__main__":
    main()
