"""Which pixels the predictor re-decides by the photo's colours (``Predictor.unsure``, ``crop.predictor.UNSURE``).

A development measurement, not a benchmark set: it chose the setting, so none of its photos come from the
committed benchmark sets or their seeds, nor from the independent set. For every candidate ``(low, high)``
(pixels of vegetation probability strictly between the two are re-decided by a per-photo colour discriminant
fitted to the pixels the model is sure of; ``none`` = the model's argmax) it scores the ``default`` model on:

- ``plants``: 80 synthetic-plant photos generated from the Peanut **training** photos (seed 51000): pooled
  vegetation IoU, boundary IoU (0.005), area ratio, exact plant counts in the photos whose plants do not touch;
- ``lab``: 24 lab scenes from the training photos (seed 60000) and four plain frames: median and lowest
  per-photo IoU, vegetation on the plain frames;
- ``ews``: with ``--ews DIR``, the validation patches of the Eschikon Wheat Segmentation set (real wheat photos,
  hand labels, CC BY-SA 4.0; ``python scripts/prepare_ews.py <EWS checkout> -o DIR``);
- ``peanut``: the 60 Peanut validation photos against their own (generous) labels and against the labels
  refined with the training band (3 px; circular for a model trained on them, reported for the direction).

Suffixes switch steps of the colour decision off: ``/nohalf`` the one that decides plants the model only half
saw against their own soil (``agriseg.crop.refine._half_seen_objects``), ``/nobridge`` the one that joins
pieces the model traced faintly between them (``Predictor.faint_stem = None``). Both were measured with

    python benchmarks/crop_unsure_pixels.py --ews runs/data/ews \
        --candidates 0.05:0.9/nohalf/nobridge,0.05:0.9/nobridge,0.05:0.9 -o benchmarks/results/crop_half_seen.json

Faint traces are also followed in a second pass of the model at the photo's own size, around the gaps between
pieces, on photos up to ``TRACE_LONG_SIDE`` px (``Predictor.trace_long_side``, the default of every crop command);
``/traceN`` sets that limit to N px, ``/tracenative`` lifts it, ``/notrace`` switches the pass off. Measured with

    python benchmarks/crop_unsure_pixels.py --ews runs/data/ews \
        --candidates 0.05:0.9/notrace,0.05:0.9 -o benchmarks/results/crop_trace_windows_dev.json

``/nogrey`` keeps the objects the model was sure of nowhere whatever their colour; ``/nohue`` drops only the grey
ones among them, not the blue and saturated orange / yellow ones (``agriseg.crop.refine._no_plant_colour``;
rule and runs: ``benchmarks/results/crop_hue_objects_rule.md``).

``/faintX`` joins pieces traced between them above vegetation probability X (``Predictor.faint_stem``,
``crop.predictor.FAINT_STEM``; rule and runs: ``benchmarks/results/crop_faint_level_rule.md``).

``/minhalfN`` lets the half-seen step start from N px the colour decision called vegetation (``refine.MIN_HALF_SEEN``,
20; rule and runs: ``benchmarks/results/crop_half_seen_start_rule.md``).

``/halfsureX`` counts objects with at most the share X sure as half seen (``refine.HALF_SEEN_SURE``, 0.05).
``/localN`` decides each object against the background within N working pixels of it
(``refine.LOCAL_RING``; off by default, see ``benchmarks/crop_local_colour_trays.py``). Measured with

    python benchmarks/crop_unsure_pixels.py --ews runs/data/ews \
        --candidates 0.05:0.9,0.05:0.9/local4,0.05:0.9/local8,0.05:0.9/local16 \
        -o benchmarks/results/crop_local_colour_dev_sets.json

``--grow-to-photo PX`` runs photos larger than the model's working size at their own size, up to PX (a look at the
working size: ``--candidates 0.05:0.9 --grow-to-photo 1600 -o benchmarks/results/crop_working_size_dev.json``).

Every set also reports the mean absolute error of the number of objects of at least 50 px (what ``crop
traits`` counts as plants) against the labels' own objects.

    python benchmarks/crop_unsure_pixels.py --ews runs/data/ews -o benchmarks/results/crop_unsure_pixels.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crop_edge_bias import truth_of  # noqa: E402

from agriseg.crop.dataset import read_stem_list  # noqa: E402
from agriseg.crop.predictor import TRACE_LONG_SIDE, load_predictor
from agriseg.data.files import write_json  # noqa: E402
from agriseg.data.io import read_rgb  # noqa: E402
from agriseg.metrics import SegmentationMetrics  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = "none,0.02:0.9,0.05:0.8,0.05:0.9,0.05:0.95,0.1:0.9"
# candidate suffixes that switch a step of the colour decision off (/nobridge: Predictor.faint_stem = None)
STEPS = {"nohalf": "_half_seen_objects", "nogrey": "_drop_grey_unsure_objects", "nohue": "_no_plant_colour"}
EIGHT = np.ones((3, 3), bool)


def make_sets(root: Path, shared: Path, seeds: tuple[int, int] = (51000, 60000)) -> None:
    """The development sets, from the Peanut training photos, with seeds of their own (plants, lab)."""
    from agriseg.crop.scenes.write import write_set

    stems = read_stem_list(ROOT / "configs/crop/peanut_train.txt")
    peanut = shared / "data/peanut"
    if not (root / "plants/index.json").exists():
        write_set("plants", root / "plants", peanut / "images", peanut / "labels", stems, n=80, seed=seeds[0])
    if not (root / "lab/index.json").exists():
        write_set("lab", root / "lab", peanut / "images", peanut / "labels", stems, n=24, seed=seeds[1],
                  uniform_frames=True)  # fmt: skip


def objects(mask: np.ndarray, min_px: int = 50) -> int:
    """Connected (8-neighbour) objects of at least ``min_px`` pixels: the plants ``crop traits`` counts."""
    comps = ndi.label(mask, structure=EIGHT)[0]
    return int((np.bincount(comps.ravel())[1:] >= min_px).sum())


def parse(c: str) -> tuple[float, float] | None:
    c = c.split("/")[0]
    return None if c == "none" else (float(c.split(":")[0]), float(c.split(":")[1]))


def trace_side(c: str) -> int | None:
    """``/traceN``: faint stems also traced at the photo's own size on photos up to N px (``/tracenative``: any
    size; ``/notrace``: never)."""
    for w in c.split("/")[1:]:
        if w.startswith("trace"):
            return 0 if w == "tracenative" else int(w[5:])
        if w == "notrace":
            return None
    return TRACE_LONG_SIDE


def faint_level(c: str, default: float | None) -> float | None:
    """``/faintX``: pieces joined by a trace above vegetation probability X (default: the predictor's)."""
    for w in c.split("/")[1:]:
        if w.startswith("faint"):
            return float(w.removeprefix("faint"))
    return default


@contextmanager
def steps_off(candidate: str) -> Iterator[None]:
    """Run a candidate without the steps its ``/no...`` suffixes name (:data:`STEPS`) and with the half-seen share
    its ``/halfsureX`` suffix gives (``/localN``: the colour decision per object against the background within N
    working pixels, :data:`agriseg.crop.refine.LOCAL_RING`)."""
    from agriseg.crop import refine

    words = candidate.split("/")[1:]
    off = [STEPS[w] for w in words if w in STEPS]
    knobs = ["HALF_SEEN_SURE", "MIN_HALF_SEEN", "LOCAL_RING", "SAMPLE_VEG"]
    saved = {name: getattr(refine, name) for name in [*off, *knobs]}
    for name in off:
        setattr(refine, name, lambda *a: None)
    for w in words:
        if w.startswith("halfsure"):
            refine.HALF_SEEN_SURE = float(w.removeprefix("halfsure"))
        if w.startswith("minhalf"):  # /minhalfN: the half-seen step starts from N colour-decided px
            refine.MIN_HALF_SEEN = int(w.removeprefix("minhalf"))
        if w.startswith("local"):
            refine.LOCAL_RING = int(w.removeprefix("local")) or None
        if w.startswith("sample"):  # /sampleX: vegetation colour samples from probability X up
            refine.SAMPLE_VEG = float(w.removeprefix("sample"))
    try:
        yield
    finally:
        for name, step in saved.items():
            setattr(refine, name, step)


def photos_of(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(stem, photo, truth 0 / 1 / 255) of every photo of a folder with ``images/`` and ``labels/``."""
    labels = {p.stem: p for p in (folder / "labels").iterdir()}
    return [(f.stem, read_rgb(f), truth_of(labels[f.stem])) for f in sorted((folder / "images").iterdir())]


def score(pred, photos: list, candidates: list[str], index: dict | None = None, grow: int | None = None) -> dict:
    """Pooled and per-photo scores of every candidate (probabilities computed once per photo). ``grow``: photos
    larger than the model's working size run at their own size, up to ``grow`` px (a development look at the
    working size, ``--grow-to-photo``)."""
    mets = {c: SegmentationMetrics(2, 0.005, 255, ["background", "vegetation"]) for c in candidates}
    area = {c: [0, 0] for c in candidates}
    per_photo: dict[str, dict[str, float]] = {c: {} for c in candidates}
    frames: dict[str, dict[str, float]] = {c: {} for c in candidates}
    exact = dict.fromkeys(candidates, 0)
    count_err: dict[str, list[int]] = {c: [] for c in candidates}  # objects of >= 50 px: predicted - labelled
    faint_stem, trace = pred.faint_stem, pred.trace_long_side
    base = pred.long_side
    for stem, rgb, t in photos:
        if grow:
            pred.long_side = max(base, min(max(rgb.shape[:2]), grow))
        probs = pred.probabilities([rgb])[0]
        n_true = ndi.label(t == 1, structure=EIGHT)[1]
        n_objects = objects(t == 1)
        touching = index is None or index["photos"][stem].get("touching", False)
        for c in candidates:
            pred.unsure = parse(c)
            pred.faint_stem = None if "/nobridge" in c else faint_level(c, faint_stem)
            pred.trace_long_side = trace_side(c)
            with steps_off(c):
                m = pred.classes(probs, rgb) > 0
            mets[c].update(m.astype(np.uint8), t)
            valid = t != 255
            area[c][0] += int((m & valid).sum())
            area[c][1] += int((t == 1).sum())
            inter, union = (m & (t == 1)).sum(), ((m | (t == 1)) & valid).sum()
            if (t == 1).any():
                per_photo[c][stem] = float(inter / union)
            else:  # a plain frame: the fraction called vegetation
                frames[c][stem] = float((m & valid).mean())
            count_err[c].append(objects(m) - n_objects)
            if not touching:
                exact[c] += objects(m) == n_true
    pred.faint_stem, pred.trace_long_side, pred.long_side = faint_stem, trace, base
    out = {}
    for c in candidates:
        r = mets[c].compute()
        row = {
            "miou": 100 * r["miou"],
            "iou_vegetation": 100 * r["per_class_iou"]["vegetation"],
            "biou_0.005": 100 * r["biou"],
            "area_ratio": area[c][0] / max(1, area[c][1]),
        }
        row["objects_abs_error_mean"] = float(np.abs(count_err[c]).mean())
        row["median_photo_iou"] = float(np.median(list(per_photo[c].values())))
        row["lowest_photo_iou"] = float(min(per_photo[c].values()))
        if frames[c]:
            row["plain_frames_vegetation_max"] = max(frames[c].values())
        if index is not None:
            row["exact_counts"] = exact[c]
            row["photos_not_touching"] = sum(not p.get("touching", False) for p in index["photos"].values())
        out[c] = row
    return out


def peanut_sets(shared: Path) -> tuple[list, list]:
    """The Peanut validation photos with their own labels and with labels refined by the training band."""
    from agriseg.crop.labels import PEANUT_VEGETATION, read_label
    from agriseg.crop.refine import refine_labels

    peanut = shared / "data/peanut"
    own, refined = [], []
    for s in read_stem_list(ROOT / "configs/crop/peanut_val.txt"):
        rgb = read_rgb(peanut / "images" / f"{s}.jpg")
        lab = read_label(peanut / "labels" / f"{s}.png", "colormap", PEANUT_VEGETATION)
        own.append((s, rgb, lab))
        refined.append((s, rgb, refine_labels(rgb, lab, band=3)))
    return own, refined


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--sets", type=Path, default=ROOT / "runs/data/unsure_dev", help="made here when missing")
    ap.add_argument("--ews", type=Path, default=None, help="prepared EWS folder (validation/ is used)")
    ap.add_argument("--seeds", default="51000,60000", help="seeds of the plants and lab sets made under --sets")
    ap.add_argument("--candidates", default=CANDIDATES, help="comma-separated low:high pairs, or none")
    ap.add_argument("--model", default="default")
    ap.add_argument("--tta", choices=["none", "flip", "flip+scale"], default=None,
                    help="test-time augmentation (default: the model's own)")  # fmt: skip
    ap.add_argument("--grow-to-photo", type=int, default=None, metavar="PX",
                    help="photos larger than the working size run at their own size, up to PX")  # fmt: skip
    ap.add_argument("-o", "--output", type=Path, default=None)
    a = ap.parse_args()
    from lib import need

    need(a.shared / "data" / "peanut", "the Peanut photos and labels (--shared)")
    plants_seed, lab_seed = (int(v) for v in a.seeds.split(","))
    make_sets(a.sets, a.shared, (plants_seed, lab_seed))
    pred = load_predictor(a.model, tta=a.tta)
    cands = a.candidates.split(",")
    res: dict[str, dict] = {}
    for name in ("plants", "lab"):
        index = json.loads((a.sets / name / "index.json").read_text()) if name == "plants" else None
        res[name] = score(pred, photos_of(a.sets / name), cands, index, a.grow_to_photo)
    if a.ews is not None:
        res["ews"] = score(pred, photos_of(a.ews / "validation"), cands, grow=a.grow_to_photo)
    own, refined = peanut_sets(a.shared)
    res["peanut_own"] = score(pred, own, cands, grow=a.grow_to_photo)
    res["peanut_refined"] = score(pred, refined, cands, grow=a.grow_to_photo)
    for name, rows in res.items():
        for c, row in rows.items():
            print(f"{name:15s} {c:10s} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    if a.output:
        info = {"model": a.model, "tta": pred.tta, "grow_to_photo": a.grow_to_photo, "candidates": cands}
        write_json(a.output, {**info, "sets": res})


if __name__ == "__main__":
    main()
