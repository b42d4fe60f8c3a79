"""mIoU and boundary IoU.

Intersections and unions are summed over the whole set before dividing (not averaged per image), then
averaged over classes. Boundary IoU follows Cheng et al. (CVPR 2021): the boundary band of a mask is the
mask minus its erosion by a 3x3 square applied ``d`` times (mask zero-padded), with
``d = max(1, round(ratio * image diagonal))``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import ndimage


def class_maps(pred: Any, target: Any, ndim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``target`` as arrays of class ids, checked to be comparable.

    Raises:
        ValueError: shapes that differ (or are not ``ndim``-D), values that are not whole class ids (floats
            such as probabilities, NaN, negative numbers).
    """
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"prediction is {pred.shape}, truth {target.shape}: they must have one shape")
    if ndim is not None and pred.ndim != ndim:
        raise ValueError(f"masks must be {ndim}-D (H, W) class maps; got shape {pred.shape}")
    for name, a in (("prediction", pred), ("truth", target)):
        if a.dtype == bool or not a.size:
            continue
        if not np.issubdtype(a.dtype, np.number) or (
            not np.issubdtype(a.dtype, np.integer) and not np.array_equal(a, np.round(a))
        ):  # probabilities or scaled masks: truncating them to ids gives a plausible wrong score
            raise ValueError(f"{name} holds {a.dtype} values that are not class ids (argmax or threshold first)")
        if a.min() < 0:
            raise ValueError(f"{name} holds negative class ids ({a.min()})")
    return pred, target


def confusion_matrix(pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """Confusion matrix of class maps.

    Args:
        pred: predicted class ids, integer array of any shape.
        target: true class ids, the same shape; ``ignore_index`` pixels are skipped.
        num_classes: K.
        ignore_index: the truth value left out (255; -1 for none).

    Returns:
        ``(K, K)`` int64 counts, rows = truth, columns = prediction.

    Raises:
        ValueError: see :func:`class_maps`; a class id of ``num_classes`` or more.
    """
    return _confusion(*class_maps(pred, target), num_classes, ignore_index)


def _confusion(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int, keep: np.ndarray | None = None
) -> np.ndarray:
    """:func:`confusion_matrix` of class maps already checked (:func:`class_maps`); ``keep``: their
    :func:`_scored` pixels when already found."""
    if keep is None:
        keep = _scored(pred, target, num_classes, ignore_index)
    pred, target, keep = pred.ravel(), target.ravel(), keep.ravel()
    t, p = target[keep].astype(np.int64), pred[keep].astype(np.int64)
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def _scored(pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int) -> np.ndarray:
    """The pixels scored (truth not ``ignore_index``) of checked class maps, after checking their ids against
    ``num_classes``; warns when the truth looks like a 0/255 mask whose 255 is then ignored.

    Raises:
        ValueError: fewer than 1 class; a class id of ``num_classes`` or more where the truth is scored.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes {num_classes}: at least 1")
    keep: np.ndarray = target != ignore_index
    # the largest ids where scored, without copying the scored pixels (validation calls this for every image)
    t_max = int(np.max(target, where=keep, initial=0))
    p_max = int(np.max(pred, where=keep, initial=0))
    if max(t_max, p_max) >= num_classes:
        hint = " (a 0/255 mask? pass mask > 0)" if 255 in (t_max, p_max) else ""
        raise ValueError(f"class id >= num_classes ({num_classes}) found{hint}")
    if t_max == 0 and not keep.all() and keep.any() and not 0 <= ignore_index < num_classes:
        # the truth is 0 and ignore_index alone: a 0/255 vegetation mask read as class ids, whatever the prediction
        warnings.warn(
            f"the truth holds only 0 and {ignore_index}, and {ignore_index} is ignore_index: every pixel it marks "
            f"is left out. For a 0/{ignore_index} mask pass (target > 0)",
            UserWarning,
            stacklevel=4,
        )
    return keep


def miou(
    pred: np.ndarray | None = None,
    target: np.ndarray | None = None,
    num_classes: int = 2,
    ignore_index: int = 255,
    conf: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Mean IoU over classes and the per-class IoU.

    Args:
        pred: predicted class ids (see :func:`confusion_matrix`), or None with ``conf``.
        target: true class ids, or None with ``conf``.
        num_classes: K.
        ignore_index: the truth value left out.
        conf: an accumulated ``(K, K)`` confusion matrix instead of ``pred`` and ``target``.

    Returns:
        The mean IoU over classes (NaN when no class is present) and the IoU per class ``(K,)`` (NaN for a
        class absent from truth and prediction).
    """
    if conf is None:
        if pred is None or target is None:
            raise ValueError("miou needs pred and target, or conf")
        conf = confusion_matrix(pred, target, num_classes, ignore_index)
    inter = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, np.nan)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"), iou


def boundary_band(mask: np.ndarray, d: int) -> np.ndarray:
    """Inner boundary band of a binary mask: ``mask & ~erode(mask, 3x3, d times)``, zero padding.

    Eroding ``d`` times by a 3x3 square is eroding once by a ``(2d + 1)`` square: a minimum filter, which
    scipy computes separably in time independent of ``d``.
    """
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    eroded = ndimage.minimum_filter(m, size=2 * d + 1, mode="constant", cval=0)
    return np.asarray((m > 0) & (eroded == 0))


def boundary_dilation(shape: tuple[int, int], ratio: float) -> int:
    """``d = max(1, round(ratio * diagonal))`` for an image of ``shape``.

    Raises:
        ValueError: a ``ratio`` that is not above 0 and at most 1 (NaN included).
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"boundary ratio {ratio}: a fraction of the image diagonal, above 0 and at most 1")
    return max(1, round(ratio * math.hypot(*shape)))


def boundary_counts(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ratio: float = 0.02, ignore_index: int = 255
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class boundary intersections and unions ``(K,)`` each of one image (to be summed over a set)."""
    return _boundary_counts(*class_maps(pred, target, ndim=2), num_classes, ratio, ignore_index)


def _boundary_counts(
    pred: np.ndarray,
    target: np.ndarray,
    num_classes: int,
    ratio: float,
    ignore_index: int,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`boundary_counts` of class maps already checked (:func:`class_maps`); ``valid``: their
    :func:`_scored` pixels when already found."""
    d = boundary_dilation(target.shape, ratio)
    if valid is None:
        valid = _scored(pred, target, num_classes, ignore_index)
    inter, union = np.zeros(num_classes), np.zeros(num_classes)
    # an unscored pixel counts as inside every class: no boundary runs along the edge of what the truth leaves
    # out (a field's nodata, a 255 band), where a prediction has no edge to match (bIoU fell for it). So a region
    # whose whole outline borders unscored pixels has no scored boundary: missing it costs mIoU, not bIoU, and
    # an edge predicted across it counts as a false boundary
    unknown = ~valid  # (H, W)
    for c in range(num_classes):
        g = boundary_band((target == c) | unknown, d) & valid
        p = boundary_band((pred == c) | unknown, d) & valid
        inter[c], union[c] = (g & p).sum(), (g | p).sum()
    return inter, union


def boundary_iou(
    pred: np.ndarray, target: np.ndarray, num_classes: int = 2, ratio: float = 0.02, ignore_index: int = 255
) -> tuple[float, np.ndarray]:
    """Boundary IoU (Cheng et al. 2021) of one image pair.

    Args:
        pred: predicted class ids ``(H, W)``.
        target: true class ids ``(H, W)``.
        num_classes: K.
        ratio: the band's width as a fraction of the image diagonal (0.02; 0.005 for a tight band).
        ignore_index: the truth value left out.

    Returns:
        The mean over classes and the boundary IoU per class ``(K,)`` (NaN for a class with no boundary).
    """
    inter, union = boundary_counts(pred, target, num_classes, ratio, ignore_index)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(union > 0, inter / union, np.nan)
    return float(np.nanmean(per)) if np.isfinite(per).any() else float("nan"), per


class SegmentationMetrics:
    """Accumulates confusion and boundary counts over a set of images.

    Args:
        num_classes: number of classes.
        boundary_ratio: Boundary IoU dilation ratio (reported with the results).
        ignore_index: truth value excluded from every metric.
        class_names: names used in the report.

    Raises:
        ValueError: fewer than 1 class, a ratio outside (0, 1], as many names as classes not given.

    :meth:`compute` gives NaN for a class neither the truth nor the prediction holds (write it with
    :func:`agriseg.data.files.write_json`, which writes NaN as null).
    """

    def __init__(
        self,
        num_classes: int,
        boundary_ratio: float = 0.02,
        ignore_index: int = 255,
        class_names: list[str] | None = None,
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes {num_classes}: at least 1")
        if not 0 < boundary_ratio <= 1:  # said now, not at the first update
            raise ValueError(f"boundary_ratio {boundary_ratio}: a fraction of the image diagonal, in (0, 1]")
        if class_names is not None and len(class_names) != num_classes:  # said now, not after every update
            raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
        self.k, self.ratio, self.ignore = num_classes, boundary_ratio, ignore_index
        self.names = class_names or [str(i) for i in range(num_classes)]
        self.reset()

    def reset(self) -> None:
        """Forget every image added: start a new set."""
        self.conf = np.zeros((self.k, self.k), np.int64)
        self.b_inter, self.b_union = np.zeros(self.k), np.zeros(self.k)
        self.n = 0

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        """Add one image (``(H, W)`` class ids each)."""
        pred, target = class_maps(pred, target, ndim=2)  # checked once for both counts
        keep = _scored(pred, target, self.k, self.ignore)  # (H, W) bool
        self.conf += _confusion(pred, target, self.k, self.ignore, keep)
        bi, bu = _boundary_counts(pred, target, self.k, self.ratio, self.ignore, keep)
        self.b_inter += bi
        self.b_union += bu
        self.n += 1

    def compute(self) -> dict[str, Any]:
        """Return ``miou``, ``biou``, ``pixel_accuracy``, per-class values, ``boundary_ratio``, ``images``."""
        m, per = miou(conf=self.conf)
        with np.errstate(invalid="ignore", divide="ignore"):
            bper = np.where(self.b_union > 0, self.b_inter / self.b_union, np.nan)
        total = self.conf.sum()
        return {
            "miou": m,
            "biou": float(np.nanmean(bper)) if np.isfinite(bper).any() else float("nan"),
            "pixel_accuracy": float(np.trace(self.conf) / total) if total else float("nan"),
            "per_class_iou": {n: float(v) for n, v in zip(self.names, per, strict=True)},
            "per_class_biou": {n: float(v) for n, v in zip(self.names, bper, strict=True)},
            "boundary_ratio": self.ratio,
            "images": self.n,
        }
