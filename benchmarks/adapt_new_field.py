"""How much does ``agriseg crop adapt`` gain on a field the base model has not seen?

No photos of other crops or fields are available offline, so the experiment splits the Peanut photos by
scene type (see ``../shared/data/peanut/README.md``):

- **source field**: photos 0001-0299 (peanut plants with weeds). The *base* model is trained on their
  training-split photos with their labels (model selection on their validation-split photos).
- **new field**: photos 0300-0399 (weeds only: other species, small and thin plants, other soil). The
  base model never sees them. ``adapt`` gets the training-split photos of this group *without labels*;
  the validation-split photos of this group are only used to score.

Rows: the base model, the adapted model and the index pseudo-labels on the new field's held-out photos; the
same models on the source field's held-out photos (does adaptation forget?); a plain colour threshold
(CIVE or ExG + GGHT per photo, no training) on both, i.e. does the base model beat a colour index on a field
it has never seen; and, as the upper bound, a model trained on the new field's hand labels (the shipped
default, which saw every training photo). Models are scored through the crop commands' inference rule and, from
the same probabilities, as a plain argmax (``miou_argmax`` / ``biou_argmax``). Each ``--combine`` writes
``results_<combine>.json`` in the output folder.

    python benchmarks/adapt_new_field.py -o runs/bench/adapt_new_field
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NEW_FIELD_FROM = 300  # photo numbers >= this are the weed-only "new field"


def write_lists(out: Path, val_list: Path, images: Path) -> dict[str, Path]:
    """Stem lists of the four groups (source/new x train/val)."""
    from agriseg.crop.dataset import read_stem_list

    val = set(read_stem_list(val_list))
    stems = sorted(p.stem for p in images.glob("*.jpg"))
    groups = {
        "source_train": [s for s in stems if int(s) < NEW_FIELD_FROM and s not in val],
        "source_val": [s for s in stems if int(s) < NEW_FIELD_FROM and s in val],
        "new_pool": [s for s in stems if int(s) >= NEW_FIELD_FROM and s not in val],
        "new_val": [s for s in stems if int(s) >= NEW_FIELD_FROM and s in val],
    }
    paths = {}
    for name, lst in groups.items():
        paths[name] = out / f"{name}.txt"
        paths[name].write_text("\n".join(lst) + "\n")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--base-config", type=Path, default=REPO / "configs/crop/peanut_vegetation_v2.yaml")
    ap.add_argument("--base-epochs", type=int, default=40, help="epochs of the base model on the source field")
    ap.add_argument("--stage1-epochs", type=int, default=4)
    ap.add_argument("--stage2-epochs", type=int, default=4)
    ap.add_argument("--combine", choices=["none", "agree", "confident"], default="agree")
    ap.add_argument("--upper", default="default", help="model trained with the new field's labels")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()

    from agriseg.config import load_config
    from agriseg.crop.config import CropTrainConfig, TrainConfig
    from agriseg.crop.labels import PEANUT_VEGETATION
    from agriseg.crop.pseudolabel.pipeline import PseudoLabelConfig
    from agriseg.crop.selftrain import SelfTrainDataConfig, SelfTrainEvalConfig, adapt, score_model
    from agriseg.crop.train import train_crop

    root = args.shared / "data" / "peanut"
    if not root.is_dir():
        raise SystemExit(f"{root}: Peanut data not found (pass --shared)")
    out = args.output.resolve()
    out.mkdir(parents=True, exist_ok=True)
    lists = write_lists(out, REPO / "configs/crop/peanut_val.txt", root / "images")
    evals = {
        g: SelfTrainEvalConfig(
            images=str(root / "images"),
            labels=str(root / "labels"),
            stems=str(lists[g]),
            label_mode="colormap",
            colormap=dict(PEANUT_VEGETATION),
        )
        for g in ("source_val", "new_val")
    }
    times: dict[str, float] = {}

    # 1. base model: the source field's photos and labels only
    base = out / "base" / "model.safetensors"
    if not base.is_file():
        cfg = load_config(args.base_config, CropTrainConfig)
        cfg = cfg.model_copy(
            update={
                "name": "adapt-benchmark-base",
                "output_dir": str(out / "base"),
                "data": cfg.data.model_copy(
                    update={"train_list": str(lists["source_train"]), "val_list": str(lists["source_val"])}
                ),
                "train": cfg.train.model_copy(update={"epochs": args.base_epochs, "val_every": 4}),
            }
        )
        t0 = time.perf_counter()
        train_crop(cfg)
        times["base_train_s"] = time.perf_counter() - t0

    # 2. adapt it to the new field from its unlabelled training photos
    adapted = out / f"adapted_{args.combine}.safetensors"
    photos = [root / "images" / f"{s}.jpg" for s in lists["new_pool"].read_text().split()]
    if not adapted.is_file():
        t0 = time.perf_counter()
        adapt(
            photos,
            adapted,
            str(base),
            PseudoLabelConfig(source="index", index="cive"),
            combine=args.combine,
            stage1_epochs=args.stage1_epochs,
            stage2_epochs=args.stage2_epochs,
            train=TrainConfig(batch_size=8, precision="bf16-mixed", channels_last=True),
            data=SelfTrainDataConfig(crop_size=256),
            workdir=out / f"adapt_{args.combine}",
        )
        times["adapt_s"] = time.perf_counter() - t0

    # 3. score everything on held-out photos of both fields
    rows = []
    models = {"base (source field only)": base, f"adapted ({args.combine})": adapted, "upper bound": args.upper}
    for label, path in models.items():
        for g, spec in evals.items():
            r = score_model(path, spec, argmax_too=True)
            keys = ("miou", "biou", "miou_argmax", "biou_argmax")
            rows.append({"model": label, "eval": g, **{k: r[k] for k in keys}, "path": str(path)})
            print(
                f"{label:28s} {g:10s} mIoU {100 * r['miou']:.2f}  bIoU {100 * r['biou']:.2f}"
                f"  (argmax {100 * r['miou_argmax']:.2f} / {100 * r['biou_argmax']:.2f})",
                flush=True,
            )
    for index in ("cive", "exg"):
        for g in ("source_val", "new_val"):
            r = score_index(root, lists[g], index)
            rows.append({"model": f"{index.upper()} + GGHT (no training)", "eval": g, **r})
            print(f"{index.upper() + ' + GGHT':28s} {g:10s} mIoU {100 * r['miou']:.2f}  bIoU {100 * r['biou']:.2f}")
    pseudo = score_pseudolabels(out / f"adapt_{args.combine}" / "pseudo" / "masks", root, lists["new_pool"])
    rows.append({"model": "CIVE + GGHT pseudo-labels", "eval": "new_pool", **pseudo})
    res = {"rows": rows, "times": times, "lists": {k: str(v) for k, v in lists.items()}, "args": vars(args)}
    (out / f"results_{args.combine}.json").write_text(json.dumps(res, indent=1, default=str))
    print(json.dumps(res["rows"], indent=1))


def score_index(root: Path, stems_file: Path, index: str) -> dict:
    """mIoU of a plain colour threshold (vegetation index + GGHT per photo) on held-out photos."""
    from agriseg.crop.labels import PEANUT_VEGETATION, read_label
    from agriseg.crop.pseudolabel.pipeline import index_pseudolabel, read_rgb_for_index
    from agriseg.metrics import SegmentationMetrics

    m = SegmentationMetrics(2)
    for s in stems_file.read_text().split():
        rgb, full = read_rgb_for_index(root / "images" / f"{s}.jpg", 0)
        res, _ = index_pseudolabel(rgb, index, out_shape=full)  # type: ignore[arg-type]
        m.update(res.mask.astype("uint8"), read_label(root / "labels" / f"{s}.png", "colormap", PEANUT_VEGETATION))
    r = m.compute()
    return {"miou": r["miou"], "biou": r["biou"]}


def score_pseudolabels(masks: Path, root: Path, stems_file: Path) -> dict:
    """mIoU of the pseudo-labels that adaptation trained on, against the (unused) true labels."""
    from agriseg.crop.labels import PEANUT_VEGETATION, read_label
    from agriseg.metrics import SegmentationMetrics

    m = SegmentationMetrics(2)
    for s in stems_file.read_text().split():
        p = masks / f"{s}.png"
        if p.is_file():
            m.update(read_label(p, "binary"), read_label(root / "labels" / f"{s}.png", "colormap", PEANUT_VEGETATION))
    r = m.compute()
    return {"miou": r["miou"], "biou": r["biou"]}


if __name__ == "__main__":
    main()
