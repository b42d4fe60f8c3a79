"""Field-boundary metrics with the Fields of The World (FTW) rules, plus COCO AP and bootstrap intervals.

Pixel metrics: IoU, precision and recall of the field class (1) over all non-ignored pixels (truth 3 =
unknown is skipped); a 3-class prediction counts only class 1 as field (boundary = background), the way
ftw-tools scores it. Counts are summed over chips before dividing; an empty denominator gives 0.

Object metrics (FTW rule): per chip, the 4-connected components of class 1 in the truth and in the
prediction are the objects (boundary counts as background). A truth object is a true positive when a
prediction has IoU > ``iou_threshold`` (0.5) with it (for thresholds >= 0.5 at most one can); the other
predictions are false positives, the other truths false negatives. TP/FP/FN are summed over chips, then
precision, recall and F1. Objects are exact pixel sets, so areas equal the polygon areas ftw-tools
measures after polygonising with rasterio.

Countries labelled in part (presence-only ones such as Kenya: their unlabelled land is 3) are scored by the same
rule, as ftw-tools scores them: a predicted field on unknown land counts as a false positive, so their object
precision says little (PRUE leaves these countries out: "only recall can be computed"). Their rows are marked
``partly_labelled`` and the report says so.

COCO AP: predicted objects are scored by the mean field probability over their pixels; matching per chip
greedily by score (COCO rule: each detection takes the unmatched truth with the highest IoU >= t), 101-point
interpolated precision, AP@0.5 and AP@[0.5:0.95] (ten thresholds).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import cv2
import numpy as np

FIELD_CLASS = 1
IGNORE = 3
COCO_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2).tolist())


def field_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of ``mask == 1``: ``(labels (H, W) int32, count)``; 0 = no object."""
    m = (np.asarray(mask) == FIELD_CLASS).astype(np.uint8)
    n, labels = cv2.connectedComponents(m, connectivity=4, ltype=cv2.CV_32S)
    return labels, n - 1


def object_iou_matrix(truth_labels: np.ndarray, nt: int, pred_labels: np.ndarray, np_: int) -> np.ndarray:
    """IoU of every truth object (rows) with every predicted object (columns): ``(nt, np_)`` float64."""
    if nt == 0 or np_ == 0:
        return np.zeros((nt, np_))
    t, p = truth_labels.ravel().astype(np.int64), pred_labels.ravel().astype(np.int64)
    both = (t > 0) & (p > 0)
    inter = np.bincount((t[both] - 1) * np_ + (p[both] - 1), minlength=nt * np_).reshape(nt, np_)
    at = np.bincount(t, minlength=nt + 1)[1:]
    ap = np.bincount(p, minlength=np_ + 1)[1:]
    union = at[:, None] + ap[None, :] - inter
    return inter.astype(np.float64) / union.astype(np.float64)


def object_counts(truth: np.ndarray, pred: np.ndarray, iou_threshold: float = 0.5) -> tuple[int, int, int]:
    """FTW object TP, FP, FN of one chip (``(H, W)`` class-id masks; only class 1 forms objects).

    Raises:
        ValueError: ``iou_threshold < 0.5`` (matching would no longer be one-to-one) or size mismatch.
    """
    if iou_threshold < 0.5:
        raise ValueError(f"iou_threshold must be >= 0.5, got {iou_threshold}")
    if np.shape(truth) != np.shape(pred):
        raise ValueError(f"truth {np.shape(truth)} and prediction {np.shape(pred)} differ in size")
    tl, nt = field_components(truth)
    pl, np_ = field_components(pred)
    iou = object_iou_matrix(tl, nt, pl, np_)
    hit = iou > iou_threshold  # (nt, np_)
    tp = int(hit.any(axis=1).sum())
    matched_pred = int(hit.any(axis=0).sum())
    return tp, np_ - matched_pred, nt - tp


def pixel_counts(truth: np.ndarray, pred: np.ndarray, ignore_index: int = IGNORE) -> tuple[int, int, int]:
    """Field-class pixel TP, FP, FN over non-ignored pixels of one chip."""
    t, p = np.asarray(truth), np.asarray(pred)
    if t.shape != p.shape:
        raise ValueError(f"truth {t.shape} and prediction {p.shape} differ in size")
    valid = t != ignore_index
    tf, pf = (t == FIELD_CLASS) & valid, (p == FIELD_CLASS) & valid
    return int((tf & pf).sum()), int((~tf & pf).sum()), int((tf & ~pf).sum())


def _div(a: float, b: float, undefined: float = 0.0) -> float:
    return float(a / b) if b > 0 else undefined


def scores_from_counts(c: np.ndarray, undefined: float = 0.0) -> dict[str, float]:
    """Metrics from summed counts ``[ptp, pfp, pfn, otp, ofp, ofn]``; ``undefined``: a metric of nothing to count
    (recall without true fields, 0 / 0): 0 in training's validation logs, NaN (null in a report) in evaluate."""
    ptp, pfp, pfn, otp, ofp, ofn = (float(v) for v in c)
    op, orc = _div(otp, otp + ofp, undefined), _div(otp, otp + ofn, undefined)
    # 2 TP / (2 TP + FP + FN): fields on one side only score 0, as robustness scores them (undefined only with
    # none on either side); a country whose fields the model all missed was left out of the countries' mean
    f1 = _div(2 * otp, 2 * otp + ofp + ofn, undefined)
    return {
        "pixel_iou": _div(ptp, ptp + pfp + pfn, undefined),
        "pixel_precision": _div(ptp, ptp + pfp, undefined),
        "pixel_recall": _div(ptp, ptp + pfn, undefined),
        "object_precision": op,
        "object_recall": orc,
        "object_f1": f1,
    }


def coco_detections(
    truth: np.ndarray, pred: np.ndarray, prob: np.ndarray, thresholds: tuple[float, ...] = COCO_THRESHOLDS
) -> tuple[np.ndarray, np.ndarray, int]:
    """COCO matching of one chip.

    Args:
        truth: ``(H, W)`` class ids.
        pred: ``(H, W)`` predicted class ids.
        prob: ``(H, W)`` field-class probability.
        thresholds: IoU thresholds.

    Returns:
        ``scores (D,)``, ``is_tp (T, D)`` bool per threshold, number of truth objects.
    """
    tl, nt = field_components(truth)
    pl, np_ = field_components(pred)
    if np_:
        sums = np.bincount(pl.ravel(), weights=np.asarray(prob, np.float64).ravel(), minlength=np_ + 1)[1:]
        scores = sums / np.bincount(pl.ravel(), minlength=np_ + 1)[1:]
    else:
        scores = np.zeros(0)
    iou = object_iou_matrix(tl, nt, pl, np_)
    order = np.argsort(-scores, kind="stable")
    is_tp = np.zeros((len(thresholds), np_), bool)
    for ti, thr in enumerate(thresholds):
        taken = np.zeros(nt, bool)
        for d in order:
            if nt == 0:
                break
            cand = np.where(~taken & (iou[:, d] >= thr), iou[:, d], -1.0)
            g = int(cand.argmax())
            if cand[g] >= thr:
                taken[g] = True
                is_tp[ti, d] = True
    return scores, is_tp, nt


def average_precision(scores: np.ndarray, is_tp: np.ndarray, n_truth: int) -> float:
    """COCO 101-point interpolated AP of detections pooled over a data set (NaN without truth objects)."""
    if n_truth == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    tp = np.cumsum(is_tp[order])
    fp = np.cumsum(~is_tp[order])
    recall = tp / n_truth
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    for i in range(len(precision) - 1, 0, -1):  # monotone envelope
        precision[i - 1] = max(precision[i - 1], precision[i])
    points = np.linspace(0.0, 1.0, 101)
    idx = np.searchsorted(recall, points, side="left")
    q = np.array([precision[i] if i < len(precision) else 0.0 for i in idx])
    return float(q.mean())


@dataclass
class FieldMetrics:
    """Accumulates FTW metrics over chips, per country.

    Args:
        iou_threshold: object matching IoU (FTW: 0.5).
        ignore_index: unknown label (FTW: 3).
        n_boot: bootstrap resamples for 95% intervals (0 = none).
        seed: bootstrap seed.
        undefined: the value of a metric with nothing to count (0 / 0: recall of chips without fields): NaN for
            a report (null in its JSON, ``nan`` in its table), 0 for training's logs.
    """

    iou_threshold: float = 0.5
    ignore_index: int = IGNORE
    n_boot: int = 1000
    seed: int = 0
    undefined: float = 0.0
    counts: list[np.ndarray] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    partly_labelled: set[str] = field(default_factory=set)  # countries with unknown (ignored) truth pixels
    _det: dict[str, list] = field(default_factory=lambda: defaultdict(list))

    def update(
        self, pred: np.ndarray, truth: np.ndarray, prob: np.ndarray | None = None, country: str = "all"
    ) -> np.ndarray:
        """Add one chip: ``pred``/``truth`` ``(H, W)`` class ids, optional field probability ``(H, W)``.

        Returns:
            This chip's counts ``[ptp, pfp, pfn, otp, ofp, ofn]``.
        """
        pred, truth = np.asarray(pred), np.asarray(truth)
        c = np.array(
            [*pixel_counts(truth, pred, self.ignore_index), *object_counts(truth, pred, self.iou_threshold)],
            np.int64,
        )
        self.counts.append(c)
        self.countries.append(country)
        if country not in self.partly_labelled and (truth == self.ignore_index).any():
            self.partly_labelled.add(country)
        if prob is not None:
            scores, is_tp, nt = coco_detections(truth, pred, prob)
            self._det[country].append((scores, is_tp, nt))
        return c

    def _ap(self, countries: list[str]) -> dict[str, float]:
        items = [d for c in countries for d in self._det.get(c, [])]
        if not items:
            return {}
        scores = np.concatenate([s for s, _, _ in items])
        is_tp = np.concatenate([t for _, t, _ in items], axis=1) if scores.size else np.zeros((10, 0), bool)
        nt = sum(n for _, _, n in items)
        aps = [average_precision(scores, is_tp[i], nt) for i in range(len(COCO_THRESHOLDS))]
        return {"ap50": aps[0], "ap50_95": float(np.mean(aps))}

    def _ci(self, c: np.ndarray) -> dict[str, list[float]]:
        if self.n_boot <= 0 or len(c) < 2:
            return {}
        rng = np.random.default_rng(self.seed)
        idx = rng.integers(0, len(c), size=(self.n_boot, len(c)))
        sums = c[idx].sum(axis=1)  # (n_boot, 6)
        boot = [scores_from_counts(s, self.undefined) for s in sums]
        # over the resamples where a metric is defined: one resample of chips without fields (recall 0 / 0) made
        # the whole interval NaN, though the metric itself was defined
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
            return {
                k: [
                    float(np.nanpercentile([b[k] for b in boot], 2.5)),
                    float(np.nanpercentile([b[k] for b in boot], 97.5)),
                ]
                for k in boot[0]
            }

    def compute(self) -> dict:
        """``overall`` (+ ``ci95``), ``per_country``, ``country_mean`` (macro average) and ``chips``."""
        if not self.counts:
            raise ValueError("no chips were scored")
        c = np.stack(self.counts)  # (N, 6)
        names = np.array(self.countries)
        per = {}
        for country in sorted(set(self.countries)):
            sub = c[names == country]
            per[country] = {**scores_from_counts(sub.sum(0), self.undefined), **self._ap([country]),
                            "chips": int(len(sub))}  # fmt: skip
            if country in self.partly_labelled:
                per[country]["partly_labelled"] = True
        # every key any country has (AP only where a country's chips came with probabilities)
        keys = [k for k in dict.fromkeys(k for p in per.values() for k in p) if k not in ("chips", "partly_labelled")]
        with warnings.catch_warnings():  # a score no country has (AP without fields): null, as the JSON says
            warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
            mean = {k: float(np.nanmean([p[k] for p in per.values() if k in p])) for k in keys}
        overall = {**scores_from_counts(c.sum(0), self.undefined), **self._ap(sorted(set(self.countries)))}
        tot = c.sum(0)
        return {
            "overall": overall,
            "ci95": self._ci(c),
            "per_country": per,
            "country_mean": mean,
            "chips": int(len(c)),
            "counts": {
                k: int(v)
                for k, v in zip(
                    ["pixel_tp", "pixel_fp", "pixel_fn", "object_tp", "object_fp", "object_fn"],
                    tot,
                    strict=True,
                )
            },
            "iou_threshold": self.iou_threshold,
        }


def format_report(res: dict) -> str:
    """Plain-text table of :meth:`FieldMetrics.compute`."""
    cols = [
        "pixel_iou",
        "pixel_precision",
        "pixel_recall",
        "object_precision",
        "object_recall",
        "object_f1",
        "ap50",
        "ap50_95",
    ]
    names = [c.replace("pixel_", "px_").replace("object_", "obj_") for c in cols]
    widths = [max(9, len(n)) + 2 for n in names]  # every header apart from its neighbours
    head = f"{'country':<14}{'chips':>6}" + "".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True))
    lines = [head]

    def row(name: str, d: dict, n: int | str) -> str:
        vals = (f"{d.get(c, float('nan')):>{w}.4f}" for c, w in zip(cols, widths, strict=True))
        return f"{name:<14}{n!s:>6}" + "".join(vals)

    for country, d in res["per_country"].items():
        lines.append(row(country + ("*" if d.get("partly_labelled") else ""), d, d["chips"]))
    lines.append(row("mean(country)", res["country_mean"], ""))
    lines.append(row("all chips", res["overall"], res["chips"]))
    for k, (lo, hi) in res.get("ci95", {}).items():
        lines.append(f"  95% CI {k:<18} [{lo:.4f}, {hi:.4f}]")
    if any(d.get("partly_labelled") for d in res["per_country"].values()):
        lines.append(
            "* labelled in part (unknown land: class 3 or its labels' nodata, as in presence-only countries): fields "
            "predicted there count as false positives (FTW rule), so its object precision says little; PRUE "
            "reports presence-only countries' recall only"
        )
    return "\n".join(lines)


__all__ = [
    "COCO_THRESHOLDS",
    "FieldMetrics",
    "average_precision",
    "coco_detections",
    "field_components",
    "format_report",
    "object_counts",
    "object_iou_matrix",
    "pixel_counts",
    "scores_from_counts",
]
