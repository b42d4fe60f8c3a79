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

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agriseg.text.reward import mean_dice


@dataclass
class ClassInstanceStats:
    """Accumulated per-class instance results over images."""

    ious: list[float] = field(default_factory=list)
    truths: int = 0
    unmatched_truths: int = 0
    preds: int = 0
    false_preds: int = 0

    def summary(self) -> dict[str, float]:
        """Mean / median IoU, FNR, FPR and counts."""
        return {
            "mean_iou": float(np.mean(self.ious)) if self.ious else float("nan"),
            "median_iou": float(np.median(self.ious)) if self.ious else float("nan"),
            "fnr": self.unmatched_truths / self.truths if self.truths else float("nan"),
            "fpr": self.false_preds / self.preds if self.preds else float("nan"),
            "truth_instances": float(self.truths),
            "pred_instances": float(self.preds),
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
    assigned: dict[int, list[int]] = {}
    for pid, (tid, _) in best.items():
        assigned.setdefault(tid, []).append(pid)
    matched: set[int] = set()
    for tid, c in truth_cls.items():
        st = stats.setdefault(c, ClassInstanceStats())
        t = truth == tid
        if not t.any():
            continue
        st.truths += 1
        pids = assigned.get(tid, [])
        if pids:
            m = np.isin(pred, pids)
            iou = float((m & t).sum() / (m | t).sum())
        else:
            iou = 0.0
        st.ious.append(iou)
        if iou >= match_iou:
            matched.add(tid)
        else:
            st.unmatched_truths += 1
    for pid, c in pred_cls.items():
        if not (pred == pid).any():
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


def dataset_dice(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray], num_classes: int) -> float:
    """Mean over images of the per-image mean Dice (foreground classes, smoothing 1)."""
    return float(np.mean([mean_dice(p, t, num_classes) for p, t in zip(preds, truths, strict=True)]))


def truth_instances_from_semantic(truth: np.ndarray, num_classes: int, min_size: int) -> np.ndarray:
    """Instance ids of a semantic truth map: connected components of each class, those under ``min_size``
    pixels dropped (0)."""
    from scipy import ndimage as ndi

    out = np.zeros_like(truth)
    nxt = 1
    for c in range(1, num_classes):
        comp, n = ndi.label(truth == c)
        sizes = np.bincount(comp.ravel(), minlength=n + 1)
        keep = (comp > 0) & (sizes[comp] >= min_size)
        out[keep] = comp[keep] + nxt - 1
        nxt += n
    return out


def evaluate_files(
    predictions: Sequence[Path],
    truth_dir: Path,
    class_names: Sequence[str],
    truth_instances_dir: Path | None = None,
    match_iou: float = 0.5,
    min_size: int = 4,
) -> dict[str, Any]:
    """Mean Dice and per-class instance metrics of predicted semantic masks against truth masks.

    Predictions (``*_instances`` files are passed over) are matched to truth masks by stem; predicted
    instances come from the erosion-separated watershed of the prediction (:mod:`agriseg.text.instances`),
    truth instances from ``truth_instances_dir`` or the connected components of the truth.

    Raises:
        ValueError: a prediction without a truth mask, or with another size (the message names the file).
    """
    from agriseg.data.io import list_images
    from agriseg.text.instances import WatershedConfig, instances_from_ids, semantic_to_instances
    from agriseg.text.io import read_mask

    preds = [p for p in predictions if "_instances" not in p.stem]
    truth_files = {p.stem: p for p in list_images([truth_dir])}
    inst_files = {p.stem: p for p in list_images([truth_instances_dir])} if truth_instances_dir else {}
    stats: dict[int, ClassInstanceStats] = {}
    dices = []
    for pf in preds:
        if pf.stem not in truth_files:
            raise ValueError(f"{pf}: no truth mask named {pf.stem}.* in {truth_dir}")
        sem, tsem = read_mask(pf), read_mask(truth_files[pf.stem])
        if sem.shape != tsem.shape:
            raise ValueError(f"{pf}: shape {sem.shape} != truth {tsem.shape}")
        dices.append(mean_dice(sem, tsem, len(class_names)))
        plabels, pcls = semantic_to_instances(sem, None, WatershedConfig(min_size=min_size))
        if pf.stem in inst_files:
            tl = read_mask(inst_files[pf.stem])
        else:
            tl = truth_instances_from_semantic(tsem, len(class_names), min_size)
        match_instances(plabels, pcls, tl, instances_from_ids(tl, tsem), stats, match_iou)
    return {
        "images": len(preds),
        "mean_dice": float(np.mean(dices)) if dices else None,
        "instances": instance_report(stats, class_names),
        "match_iou": match_iou,
    }
