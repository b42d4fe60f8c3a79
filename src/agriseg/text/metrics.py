"""Instance metrics as MAgSeg reports them (merge-and-match), mean Dice, and the overhead metric.

The exact rule (Dua et al. 2024's code is unpublished; this is ours):

1. Each predicted instance ``p`` of class ``c`` is assigned to the truth instance of class ``c`` it overlaps
   most (by pixel count); a prediction overlapping no truth instance of its class is unassigned.
2. For each truth instance ``t``, the predictions assigned to it are merged (pixel union ``M_t``) and
   ``IoU_t = |M_t & t| / |M_t | t|`` (0 when nothing is assigned).
3. Per class: mean and median of ``IoU_t`` over the truth instances of that class.
4. A truth instance is matched when ``IoU_t >= match_iou`` (default 0.5). FNR = unmatched truth instances /
   truth instances. FPR = predicted instances that are unassigned or assigned to an unmatched truth
   instance / predicted instances.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from typing_extensions import deprecated

from agriseg.batch import counted
from agriseg.text.reward import mean_dice

if TYPE_CHECKING:
    from agriseg.text.config import TextEvaluateConfig


@dataclass
class ClassInstanceStats:
    """Accumulated per-class instance results over images."""

    ious: list[float] = field(default_factory=list)
    truths: int = 0
    unmatched_truths: int = 0
    preds: int = 0
    false_preds: int = 0

    def summary(self) -> dict[str, float | int]:
        """Mean / median IoU, FNR, FPR and counts."""
        return {
            "mean_iou": float(np.mean(self.ious)) if self.ious else float("nan"),
            "median_iou": float(np.median(self.ious)) if self.ious else float("nan"),
            "fnr": self.unmatched_truths / self.truths if self.truths else float("nan"),
            "fpr": self.false_preds / self.preds if self.preds else float("nan"),
            "truth_instances": int(self.truths),
            "pred_instances": int(self.preds),
        }


def match_instances(
    pred: np.ndarray,
    pred_cls: dict[int, int],
    truth: np.ndarray,
    truth_cls: dict[int, int],
    stats: dict[int, ClassInstanceStats],
    match_iou: float = 0.5,
) -> None:
    """Add one image's merge-and-match results to ``stats`` (keyed by class id).

    Args:
        pred: (H, W) predicted instance ids (0 = none).
        pred_cls: class of each predicted id.
        truth: (H, W) true instance ids (0 = none).
        truth_cls: class of each true id.
        stats: accumulator, updated in place.
        match_iou: IoU at which a truth instance counts as found.
    """
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} != truth shape {truth.shape}")
    p_flat, t_flat = pred.ravel(), truth.ravel()
    both = (p_flat > 0) & (t_flat > 0)
    pairs, counts = np.unique(np.stack([p_flat[both], t_flat[both]]), axis=1, return_counts=True)
    best: dict[int, tuple[int, int]] = {}  # pred id -> (truth id, overlap)
    for (pid, tid), n in zip(pairs.T.tolist(), counts.tolist(), strict=True):
        if pred_cls.get(pid) != truth_cls.get(tid):
            continue
        if pid not in best or n > best[pid][1]:
            best[pid] = (tid, n)
    # sizes and overlaps from one pass over the pixels: a mask per instance made a 2000 x 2000 tile of 980
    # instances take 80 s (pixels x instances); the IoU of a truth and the predictions merged onto it is the same
    overlap = {(pid, tid): n for (pid, tid), n in zip(pairs.T.tolist(), counts.tolist(), strict=True)}
    p_size = dict(zip(*(v.tolist() for v in np.unique(p_flat, return_counts=True)), strict=True))
    t_size = dict(zip(*(v.tolist() for v in np.unique(t_flat, return_counts=True)), strict=True))
    assigned: dict[int, list[int]] = {}
    for pid, (tid, _) in best.items():
        assigned.setdefault(tid, []).append(pid)
    matched: set[int] = set()
    for tid, c in truth_cls.items():
        st = stats.setdefault(c, ClassInstanceStats())
        if not t_size.get(tid):
            continue
        st.truths += 1
        pids = assigned.get(tid, [])
        if pids:  # the merged predictions are disjoint: |m & t| and |m| are sums over them
            inter = sum(overlap.get((pid, tid), 0) for pid in pids)
            iou = float(inter / (t_size[tid] + sum(p_size[pid] for pid in pids) - inter))
        else:
            iou = 0.0
        st.ious.append(iou)
        if iou >= match_iou:
            matched.add(tid)
        else:
            st.unmatched_truths += 1
    for pid, c in pred_cls.items():
        if not p_size.get(pid):
            continue
        st = stats.setdefault(c, ClassInstanceStats())
        st.preds += 1
        if pid not in best or best[pid][0] not in matched:
            st.false_preds += 1


def instance_report(stats: dict[int, ClassInstanceStats], class_names: Sequence[str]) -> dict[str, dict]:
    """Per-class summaries keyed by class name."""
    return {class_names[c]: s.summary() for c, s in sorted(stats.items()) if c < len(class_names)}


def overhead(model: Any) -> dict[str, int]:
    """MAgSeg's overhead: learnable parameters beyond the base MLLM (vision tower, projector, language model).

    Parameters under modules other than the standard MLLM parts (e.g. a pixel decoder or segmentation head)
    count as overhead; LoRA adapters do not (they are merged into the LLM). For decoder-free text-mask models
    the overhead is 0.

    Returns:
        ``{"total": ..., "base": ..., "overhead": ...}`` parameter counts.
    """
    base_parts = ("vision_tower", "multi_modal_projector", "language_model", "lm_head", "embed_tokens")
    total = base = 0
    for name, p in model.named_parameters():
        if "lora_" in name:
            continue
        total += p.numel()
        if any(part in name for part in base_parts):
            base += p.numel()
    return {"total": int(total), "base": int(base), "overhead": int(total - base)}


@deprecated("dataset_dice: unused, removed in the next release; average mean_dice over the images")
def dataset_dice(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray], num_classes: int) -> float:
    """Mean over images of the per-image mean Dice (foreground classes, smoothing 1)."""
    return float(np.mean([mean_dice(p, t, num_classes) for p, t in zip(preds, truths, strict=True)]))


def truth_instances_from_semantic(truth: np.ndarray, num_classes: int, min_size: int) -> np.ndarray:
    """Instance ids of a semantic truth map: connected components of each class, those under ``min_size``
    pixels dropped (0)."""
    from scipy import ndimage as ndi

    out = np.zeros(truth.shape, np.int64)  # not truth's dtype: a uint8 map may hold more than 255 instances
    nxt = 1
    for c in range(1, num_classes):
        comp, n = ndi.label(truth == c)
        sizes = np.bincount(comp.ravel(), minlength=n + 1)
        keep = (comp > 0) & (sizes[comp] >= min_size)
        out[keep] = comp[keep] + nxt - 1
        nxt += n
    return out


def drop_small_instances(ids: np.ndarray, min_size: int) -> np.ndarray:
    """``ids`` with every instance of fewer than ``min_size`` pixels set to 0: the rule the instances rebuilt
    from masks follow, applied to instance maps read from files so both are scored alike."""
    if min_size <= 1 or not ids.any():
        return ids
    _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    return np.where(counts[inverse.reshape(ids.shape)] >= min_size, ids, 0)


def pooled_report(conf: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Pooled per-class Dice and IoU, overall accuracy and the confusion matrix of a whole set.

    A class is *present* when the truth or the prediction holds any of its pixels; the means run over the
    present foreground classes only, so a class absent from both never scores 1 (as the per-image
    ``mean_dice`` of MAgSeg's eq. 4 does) and dropping a class from the list cannot inflate the mean.

    Args:
        conf: (K, K) confusion matrix, rows = truth, columns = prediction (ignored pixels left out).
        class_names: K names, background first.
    """
    tp = np.diag(conf).astype(np.float64)
    in_truth, in_pred = conf.sum(1).astype(np.float64), conf.sum(0).astype(np.float64)
    union = in_truth + in_pred - tp
    per: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(class_names):
        present = bool(union[k] > 0)
        per[name] = {
            "iou": float(tp[k] / union[k]) if present else None,
            "dice": float(2 * tp[k] / (in_truth[k] + in_pred[k])) if present else None,
            "truth_pixels": int(in_truth[k]),
            "predicted_pixels": int(in_pred[k]),
        }
    fg = [per[n] for n in class_names[1:] if per[n]["iou"] is not None]
    total = conf.sum()
    return {
        "per_class": per,
        "mean_iou": float(np.mean([c["iou"] for c in fg])) if fg else None,
        "mean_dice": float(np.mean([c["dice"] for c in fg])) if fg else None,
        "overall_accuracy": float(tp.sum() / total) if total else None,
        "confusion": {"rows": "truth", "columns": "prediction", "classes": list(class_names), "counts": conf.tolist()},
    }


def _written_instances(pred_file: Path) -> Path | None:
    """The ``<stem>_instances.*`` raster ``predict`` wrote beside a prediction, if any."""
    for ext in (pred_file.suffix, ".tif", ".png"):
        p = pred_file.with_name(f"{pred_file.stem}_instances{ext}")
        if p.is_file():
            return p
    return None


def evaluate_files(
    predictions: Sequence[Path],
    truth_dir: Path,
    class_names: Sequence[str],
    truth_instances_dir: Path | None = None,
    match_iou: float = 0.5,
    min_size: int = 4,
    ignore_value: int | None = 255,
    strict: bool = False,
) -> dict[str, Any]:
    """Pooled per-class Dice and IoU, accuracy, confusion, per-image mean Dice and instance metrics.

    Predictions (``*_instances`` files are passed over) are matched to truth masks by stem. Predicted
    instances are the ``<stem>_instances.*`` raster ``predict`` wrote beside the prediction (the instances
    its GeoJSON holds) or, without one, the watershed of the prediction (:mod:`agriseg.text.instances`);
    truth instances come from ``truth_instances_dir`` or the connected components of the truth. Truth pixels
    equal to ``ignore_value`` (nodata) are left out of every metric.

    A prediction that cannot be scored (no truth mask of its stem, a file that is not a one-band mask, another
    size or georeference, a predicted class id outside the class list) is left out of the pooled scores and
    named in ``failed`` (one line each); the others are scored, unless ``strict``. So is one whose truth holds a
    class id outside the class list (one mislabelled mask among many); when every truth does, the class list is
    what is wrong.

    Raises:
        OptionError: every truth holds a class id outside the class list (too few ``--classes`` or the wrong
            nodata value), or no prediction has a truth of its name (the wrong ``--masks``); two files of one
            stem.
        ValueError: with ``strict``, the first prediction that cannot be scored; every
            prediction failed (the message names the first).
    """
    from agriseg.config import OptionError
    from agriseg.data.io import list_images
    from agriseg.metrics.segmentation import confusion_matrix
    from agriseg.text.instances import WatershedConfig, instances_from_ids, semantic_to_instances
    from agriseg.text.io import files_by_stem, warn_lossy_masks

    k = len(class_names)
    ign = UNSCORED if ignore_value is None else ignore_value
    # predict's `<name>_instances.*` beside its `<name>.*` are instance maps, not masks to score; a tile of the
    # user's called `plot_instances.tif` (with no `plot.*` beside it) is a prediction like any other
    stems = {p.parent / p.stem for p in predictions}
    preds = [p for p in predictions if not (p.stem.endswith("_instances") and p.parent / p.stem[:-10] in stems)]
    pred_keys = set(files_by_stem(preds, "prediction"))  # two of one stem would both be scored against one truth
    truth_files = files_by_stem(list_images([truth_dir]), "truth mask")
    if ignore_value is not None and 0 <= ignore_value < k:  # that class is never scored: said, never silently
        import logging

        logging.getLogger("agriseg").warning(
            "--ignore-value %d is the id of class %r: its pixels are left out of every score", ignore_value,
            class_names[ignore_value],
        )  # fmt: skip
    warn_lossy_masks(list(truth_files.values()), "truth masks")
    inst_files = files_by_stem(list_images([truth_instances_dir]), "truth instance map") if truth_instances_dir else {}
    stats: dict[int, ClassInstanceStats] = {}
    conf = np.zeros((k, k), np.int64)
    dices: list[float] = []
    failed: list[str] = []  # predictions that cannot be scored: named in the report, the others scored
    misfits = 0  # of them, those that say the options do not fit the files (_OptionsMisfit)
    unscored: list[tuple[int, Path]] = []  # (labelled truth pixels, prediction) where it has no data
    written = 0
    no_map: list[str] = []  # predictions whose truth has no map in truth_instances_dir
    for pf in preds:
        try:
            pair = _read_pair(pf, truth_files, inst_files, truth_dir, k, ign, ignore_value)
        except (ValueError, OSError) as err:
            if strict:
                raise
            failed.append(str(err))
            misfits += isinstance(err, _OptionsMisfit)
            continue
        sem, tsem = pair.sem, pair.tsem
        if pair.dropped:
            unscored.append((pair.dropped, pf))
        valid = tsem != UNSCORED  # (H, W)
        with warnings.catch_warnings():  # a 0/nodata truth failed its item above, naming the file
            warnings.filterwarnings("ignore", message="the truth holds only 0 and", category=UserWarning)
            conf += confusion_matrix(sem, tsem, k, UNSCORED)
        if valid.any():  # an image with nothing scored (its prediction all nodata) has no Dice, not a perfect 1
            dices.append(mean_dice(np.where(valid, sem, 0), np.where(valid, tsem, 0), k))
        tsem_v = np.where(valid, tsem, 0)
        if pair.ids is not None:
            plabels = drop_small_instances(np.where(valid, pair.ids, 0), min_size)
            pcls = instances_from_ids(plabels, sem)
            written += 1
        else:
            plabels, pcls = semantic_to_instances(np.where(valid, sem, 0), None, WatershedConfig(min_size=min_size))
        if pair.truth_ids is not None:
            tl = drop_small_instances(np.where(valid, pair.truth_ids, 0), min_size)
        else:
            tl = truth_instances_from_semantic(tsem_v, k, min_size)
            if inst_files:  # a folder of maps given, none for this image: said below, never silently mixed
                no_map.append(pf.name)
        match_instances(plabels, pcls, tl, instances_from_ids(tl, tsem_v), stats, match_iou)
    if failed and len(failed) == len(preds):
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        if misfits == len(failed):  # every one: the class list, or --masks, is what is wrong
            raise OptionError(f"{failed[0]}{more}")
        raise ValueError(f"nothing to score: {failed[0]}{more}")
    scored = len(preds) - len(failed)
    if unpredicted := sorted(set(truth_files) - pred_keys):  # a predict run that half failed scored as complete
        import logging

        from agriseg.batch import listed

        logging.getLogger("agriseg").warning(
            "%d of the %d truth masks in %s have no prediction (%s): left out of the scores (%d image%s scored)",
            len(unpredicted), len(truth_files), truth_dir, listed([truth_files[u].name for u in unpredicted], 3),
            scored, "s" * (scored != 1),  # the images scored: a pair that failed is not ("the 15" beside 12)
        )  # fmt: skip
    if no_map:
        import logging

        from agriseg.batch import listed

        logging.getLogger("agriseg").warning(
            "%d of the %d images scored have no truth instance map in %s (%s): their true instances are the "
            "connected components of their truth masks", len(no_map), scored, truth_instances_dir, listed(no_map, 3),
        )  # fmt: skip
    if unscored:  # the image's nodata in the prediction: its truth there is not scored (said, never silently)
        import logging

        most = max(unscored, key=lambda x: x[0])
        logging.getLogger("agriseg").warning(
            "%d labelled truth pixels of %d image%s were not scored: the prediction%s no data there (255, "
            "the image's nodata; the most: %d px in %s)",
            sum(n for n, _ in unscored), len(unscored), "s" * (len(unscored) > 1),
            "s have" if len(unscored) > 1 else " has", most[0], most[1],
        )  # fmt: skip
    return {
        "images": scored,
        **pooled_report(conf, class_names),
        "mean_dice_per_image": float(np.mean(dices)) if dices else None,
        "instances": instance_report(stats, class_names),
        "instances_from": f"{counted(written, 'written instance file')}, {scored - written} rebuilt from the masks",
        "images_without_truth_instance_map": no_map,  # with truth_instances_dir: their truth's components
        "iou_threshold": match_iou,  # --iou-threshold
        "ignore_value": ignore_value,
        "truth_px_without_prediction": sum(n for n, _ in unscored),
        "truths_without_prediction": [str(truth_files[u]) for u in unpredicted],
        "failed": failed,
    }


def _affixed(stem: str, other: str) -> bool:
    """Whether ``other`` is ``stem`` with a word added, as truth masks are often named: ``0001_mask``,
    ``mask_0001``, ``0001-gt`` (``10`` is another image than ``1``, not a renamed truth)."""
    import re

    if other.startswith(stem):
        return re.fullmatch(r"[_\-. ][A-Za-z]+", other[len(stem) :]) is not None
    if other.endswith(stem):
        return re.fullmatch(r"[A-Za-z]+[_\-. ]", other[: -len(stem)]) is not None
    return False


class _OptionsMisfit(ValueError):
    """One prediction's failure that, when every prediction fails so, is the options' (:func:`evaluate_files`):
    a truth class id outside the class list, a prediction given as its own truth, or no truth of its name."""


UNSCORED = 2**31 - 1  # truth pixels left out of every metric (the --ignore-value's, and the image's nodata)


@dataclass
class _Pair:
    """One prediction and its truth, read and checked (:func:`_read_pair`); each array (H, W)."""

    sem: np.ndarray  # predicted class ids
    tsem: np.ndarray  # true class ids
    ids: np.ndarray | None  # the written predicted instances, if any
    truth_ids: np.ndarray | None  # the true instances, if given
    dropped: int = 0  # labelled truth pixels left unscored: the prediction has no data there (255)


def _read_pair(
    pf: Path, truth_files: dict[str, Path], inst_files: dict[str, Path], truth_dir: Path, k: int, ign: int,
    ignore_value: int | None,
) -> _Pair:  # fmt: skip
    """Every file of one prediction read and checked, so that a prediction that fails adds nothing to the pool.

    Raises:
        ValueError: no truth of its stem, not a one-band mask, another size or georeference, a predicted class
            id outside the class list (the message names the file).
        _OptionsMisfit: a truth class id outside the class list; the prediction is its own truth.
    """
    from agriseg.data.io import stem_key
    from agriseg.raster.image import read_georef
    from agriseg.text.io import NODATA, check_same_georef, read_mask

    key = stem_key(pf)  # a truth saved on a Mac ("e" and an accent) matches a prediction named "é"
    if key not in truth_files:  # every prediction so: --masks names the wrong folder, or its names differ (exit 2)
        near = sorted(f.name for k, f in truth_files.items() if _affixed(key, k))[:1]
        hint = f" (it holds {near[0]}: truth masks are matched by the predictions' names)" if near else ""
        raise _OptionsMisfit(f"{pf}: no truth mask named {pf.stem}.* in {truth_dir}{hint}")
    if pf.resolve() == truth_files[key].resolve():  # --masks naming the predictions: a perfect score of nothing
        raise _OptionsMisfit(f"{pf}: is its own truth mask (--masks {truth_dir} holds the predictions)")
    sem, tsem = read_mask(pf, k), read_mask(truth_files[key], k, ign)  # (H, W) each; declared nodata: left out
    if sem.shape != tsem.shape:
        raise ValueError(f"{pf}: shape {sem.shape} != its truth {truth_files[key]} {tsem.shape}")
    check_same_georef(truth_files[key], pf, read_georef(pf), "its prediction")
    bad = np.unique(tsem[(tsem != ign) & ((tsem >= k) | (tsem < 0))])
    if bad.size:  # one mislabelled mask, or (when every truth says so) a class list that does not fit them
        raise _OptionsMisfit(
            f"{truth_files[key]}: class ids {bad.tolist()} outside the {k} classes given (0-{k - 1}; "
            f"nodata is --ignore-value {ignore_value})"
        )
    left_out = tsem == ign  # (H, W)
    marks = (sem[left_out] > 0) & (sem[left_out] != NODATA)  # the prediction's own nodata marks nothing
    elsewhere = (sem[~left_out] > 0) & (sem[~left_out] != NODATA)  # (its marks where the truth says 0)
    # the 255 area looks like an object (a 0/255 mask): the prediction marks a fair share of it, far more than of
    # the 0 area (a model that finds half an object did not warn at over half before)
    looks_marked = (
        left_out.any() and marks.mean() >= 0.2 and marks.mean() > 2 * (elsewhere.mean() if elsewhere.size else 0)
    )
    # (an --ignore-value that is a class id is warned of once, above: 0/1 masks are what this advice asks for)
    if left_out.any() and (~left_out).any() and not (tsem[~left_out] > 0).any() and looks_marked and not 0 <= ign < k:
        import logging  # a partly labelled truth looks the same: said, not failed

        logging.getLogger("agriseg").warning(
            "%s: holds only 0 and %s (--ignore-value: not scored), where its prediction marks classes: for a 0/%s "
            "mask, write its classes as 0 and 1",
            truth_files[key], ignore_value, ignore_value,
        )  # fmt: skip
    tsem = np.where(tsem == ign, UNSCORED, tsem)  # (H, W): one value for pixels left out, whatever nodata is
    dropped = 0  # labelled truth pixels where the prediction has no data
    if k <= NODATA and (nodata := sem == NODATA).any():  # where the image had no data (text predict): unscored
        dropped = int((nodata & (tsem != UNSCORED)).sum())
        sem, tsem = np.where(nodata, 0, sem), np.where(nodata, UNSCORED, tsem)
    if int(sem.max(initial=0)) >= k:
        # as a truth's class ids beyond the list: when every prediction says so, the class list is what is wrong
        raise _OptionsMisfit(f"{pf}: predicted class id {int(sem.max())} beyond the {k} classes given")
    wf = _written_instances(pf)
    ids = read_mask(wf) if wf is not None else None
    if ids is not None and ids.shape != sem.shape:
        raise ValueError(f"{wf}: shape {ids.shape} != its prediction {pf.name} {sem.shape}")
    tl = read_mask(inst_files[key]) if key in inst_files else None
    if tl is not None and tl.shape != sem.shape:
        raise ValueError(f"{inst_files[key]}: shape {tl.shape} != truth {tsem.shape}")
    return _Pair(sem, tsem, ids, tl, dropped)


def report_table(report: dict[str, Any]) -> tuple[str, str]:
    """A short text table and a CSV of an :func:`evaluate_files` report (one row per class)."""

    def f(v: float | None) -> str:
        return "-" if v is None or v != v else f"{100 * v:.2f}"  # v != v: NaN

    inst = report.get("instances", {})
    head = ["class", "dice", "iou", "truth_px", "pred_px", "inst_mean_iou", "fnr", "fpr"]
    rows = []
    for name, c in report["per_class"].items():
        i = inst.get(name, {})
        rows.append(
            [name, f(c["dice"]), f(c["iou"]), str(c["truth_pixels"]), str(c["predicted_pixels"])]
            + [f(i.get("mean_iou")), f(i.get("fnr")), f(i.get("fpr"))]
        )
    widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
    lines = ["  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    first = next(iter(report["per_class"]), "background")  # the background class is left out of the means
    lines.append(
        f"{counted(report['images'], 'image')}; mean over present classes but {first}: Dice {f(report['mean_dice'])}, "
        f"IoU {f(report['mean_iou'])}; overall accuracy {f(report['overall_accuracy'])}; "
        f"ignore value {report['ignore_value']}; {report['instances_from']}"
    )
    # the CSV opens as numbers in pandas and spreadsheets: an empty cell where the table says "-", percentages
    # said in the header (the JSON report holds fractions)
    pct = {"dice", "iou", "inst_mean_iou", "fnr", "fpr"}
    csv_rows = [[h + "_pct" if h in pct else h for h in head]] + [[v if v != "-" else "" for v in r] for r in rows]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(csv_rows)
    return "\n".join(lines), buf.getvalue()


def _files_read(paths: Sequence[Path | str | None]) -> list[Path]:
    """Every file of ``paths`` (files, and the files of folders): what an evaluation reads, never an output."""
    found: list[Path] = []
    for p in (Path(p) for p in paths if p):
        if p.is_dir():
            found += [f for f in p.iterdir() if f.is_file()]
        elif p.is_file():
            found.append(p)
    return found


def _predict_files(files: Sequence[Path]) -> list[Path]:
    """What ``text predict`` wrote beside predictions named one by one: its ``run.json`` and manifest, and each
    prediction's ``<stem>.json`` / ``<stem>_instances.*`` (a report written over them with ``--overwrite`` made
    the next predict re-run blame the user's "edits"). A user's other files there may be replaced."""
    from agriseg.manifest import MANIFEST

    stems = {(f.parent, f.stem) for f in files}
    out: list[Path] = []
    for folder in sorted({f.parent for f in files}):  # each folder listed once (thousands of tiles)
        own = ("run.json", MANIFEST)  # and <stem>.json, <stem>_instances.*
        out += [g for g in folder.iterdir() if g.name in own or (folder, g.stem.removesuffix("_instances")) in stems]
    return out


def _own_report(output: Path, csv_path: Path) -> bool:
    """Whether ``output`` and ``csv_path`` are the pair an earlier ``text evaluate`` wrote (never one of the
    files it reads: it reads masks only), so ``--overwrite`` may replace them where they lie among the
    predictions; a ``run.json`` of ``text predict`` there is not such a pair."""
    try:
        report = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return csv_path.is_file() and isinstance(report, dict) and {"confusion", "images", "iou_threshold"} <= set(report)


def _check_predicted_classes(files: Sequence[Path], names: Sequence[str]) -> None:
    """Refuse class words that name the predicted ids otherwise than ``text predict`` did (its ``run.json``
    beside the predictions): ``others,tree,field`` for masks made with ``others,field,tree`` reported field's
    scores as tree's, with exit 0."""
    from agriseg.config import OptionError
    from agriseg.manifest import recorded_settings

    recorded = set()
    for folder in sorted({f.parent for f in files}):  # the runs that made them, as the folder's manifest says
        made = recorded_settings(folder, "text predict")
        runs: dict[str, str] = {}
        for f in files:
            if f.parent == folder and f.name in made:
                runs.setdefault(made[f.name][1], f.name)
        if len(runs) > 1:  # a second run into the folder: one set of words cannot name both runs' ids
            first, other = list(runs.values())[:2]
            raise OptionError(
                f"{folder}: its predictions were made by runs with other settings (another model, other classes or "
                f"options: {first} and {other}); score each run's predictions apart (give their files)"
            )
        if runs:
            recorded.add(folder)
            said = (json.loads(next(iter(runs)))[1] or {}).get("classes")
            if isinstance(said, list) and said and list(said) != list(names):
                raise OptionError(
                    f"--classes {','.join(names)}: the predictions of {folder} were made with "
                    f"{','.join(map(str, said))}; give those, in that order"
                )
    for run in sorted({f.parent / "run.json" for f in files if f.parent not in recorded}):
        try:
            described = json.loads(run.read_text(encoding="utf-8"))
            said = described.get("classes")
        except (OSError, ValueError, AttributeError):
            continue  # no record of the run (masks of another tool): the words given are all there is
        if described.get("made_with_other_settings"):  # which masks: only the folder's records could say
            raise OptionError(
                f"{run}: some of the predictions beside it were made with other settings (made_with_other_settings), "
                "and no record there says which (the folder's .agriseg-manifest.jsonl is not with them): score "
                "them in the folder text predict wrote"
            )
        if isinstance(said, list) and said and list(said) != list(names):
            raise OptionError(
                f"--classes {','.join(names)}: the predictions of {run.parent} were made with "
                f"{','.join(map(str, said))} ({run}); give those, in that order"
            )


def evaluate_command(
    predictions: Sequence[Path],
    truth: Path,
    classes: str,
    config: TextEvaluateConfig,
    truth_instances: Path | None = None,
    model: str | None = None,
    output: Path | None = None,
    overwrite: bool = False,
    strict: bool = False,
) -> tuple[str, list[str]]:
    """``agriseg text evaluate``: score the predictions, write the report (JSON + CSV) and return its table.

    Args:
        predictions: prediction files or folders (what ``text predict`` wrote).
        truth: the folder of true semantic masks.
        classes: comma-separated class words, background first.
        config: instance matching and nodata.
        truth_instances: the folder of true instance maps.
        model: a model whose parameter overhead the report adds.
        output: the JSON report (the CSV table is written beside it, ``.csv``).
        overwrite: replace an existing report (never one of the files read).
        strict: stop at the first prediction that cannot be scored (otherwise it is named and left out).

    Returns:
        The report's text table, and one line for each prediction that could not be scored.

    Raises:
        OptionError: fewer than two class words or one given twice; other class words than the predictions'
            ``run.json`` names; a prediction file or folder given twice; a ``.csv`` report name.
        FileExistsError: the report (or the CSV beside it) exists and not ``overwrite``.
        ValueError: the report (or the CSV) would replace one of the files the evaluation reads.
    """
    from agriseg.batch import check_output
    from agriseg.config import OptionError
    from agriseg.data.files import TEXT_ERRORS, atomic_writes, dumps_json
    from agriseg.text.codec import parse_class_words

    names = parse_class_words(classes)
    if output and Path(output).suffix.lower() == ".csv":
        raise OptionError(f"-o {output}: give the JSON report's name; the CSV is written beside it")
    from agriseg.data.io import list_images_once

    files = list_images_once(predictions)
    _check_predicted_classes(files, names)
    if model:
        from agriseg.text.modeling import resolve_model_option

        model = resolve_model_option(model)
    csv_path = Path(output).with_suffix(".csv") if output else None
    if output and csv_path:  # before the evaluation runs: never a file read, an existing one only with --overwrite
        read = [*files, *_files_read([*predictions, truth, truth_instances, model]), *_predict_files(files)]
        if _own_report(Path(output), csv_path):  # an earlier run's report in the predictions folder is not read
            read = [f for f in read if f.resolve() not in (Path(output).resolve(), csv_path.resolve())]
        for path in (Path(output), csv_path):
            check_output(path, overwrite, inputs=read)
    report = evaluate_files(
        files,
        truth,
        names,
        truth_instances,
        config.iou_threshold,
        config.min_size,
        config.ignore_value,
        strict,
    )
    if model:
        from agriseg.text.modeling import load_vlm

        m, _ = load_vlm(model, device="cpu")
        report["overhead"] = overhead(m)
    table, csv_text = report_table(report)
    if output and csv_path:  # together: a kill between them left a report every re-run refused to complete
        with atomic_writes([Path(output), csv_path]) as tmp:
            tmp[Path(output)].write_text(dumps_json(report), encoding="utf-8", errors=TEXT_ERRORS)
            tmp[csv_path].write_text(csv_text, encoding="utf-8", errors=TEXT_ERRORS)
    return table, report["failed"]
