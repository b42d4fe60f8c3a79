"""PRUE's deployment metrics (section 3.5): corner consistency and order, preprocessing, scale sensitivity.

All functions take chips of *reflectance x10000* (offset already applied) ``(N, C, S, S)`` and a model that
maps model inputs (reflectance / divisor) to logits. With labels ``(N, S, S)`` a sensitivity is the mean over
chips of ``|m(reference) - m(variant)|`` for per-chip metrics ``m`` (field pixel IoU, object F1; FTW rules);
without labels (any scene) it is reported as prediction *agreement* with the reference: the fraction of
pixels with the same argmax class, and the IoU of the field class between the two predictions.

- Corner consistency (S 256, p 192): four corner crops of size p share the central ``(2p - S)^2`` window;
  consistency is the fraction of that window where all four argmax predictions agree.
- Input order: windows A and B swapped (8-channel inputs).
- Preprocessing: divisors 1500 / 4500 / 10000 instead of 3000, the BOA offset missing (+1000 DN, what a
  pipeline that forgets ``BOA_ADD_OFFSET`` on baseline >= 04.00 data feeds), per-band min-max scaling.
- Scale: the input resized by 0.5 / 0.75 / 1.5 / 2, predictions resized back to the chip grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from agriseg.config import MAX_DN, StrictModel
from agriseg.fields.metrics import object_counts, pixel_counts, scores_from_counts
from agriseg.fields.sentinel2 import FTW_DIVISOR, minmax_per_band, swap_windows
from agriseg.tiling import window_starts

Model = Callable[[torch.Tensor], torch.Tensor]


class RobustnessConfig(StrictModel):
    """Settings of :func:`robustness_report` (PRUE / FTW defaults).

    Attributes:
        crop: corner-crop size p (S/2 < p < S).
        divisor: reference divisor.
        divisors: alternative divisors.
        offset_error: DN added for the "missing offset" variant.
        scales: test-time resize factors.
        batch_size: chips per forward pass.
        iou_threshold: object IoU for per-chip object F1.
    """

    crop: int = Field(192, ge=33)
    divisor: float = Field(FTW_DIVISOR, gt=0)
    divisors: tuple[float, ...] = (1500.0, 4500.0, 10000.0)
    offset_error: float = Field(1000.0, ge=-MAX_DN, le=MAX_DN)
    scales: tuple[float, ...] = (0.5, 0.75, 1.5, 2.0)
    batch_size: int = Field(8, ge=1)
    iou_threshold: float = Field(0.5, ge=0.5, lt=1.0)


@torch.no_grad()
def predict_logits(model: Model, x: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """Logits ``(N, K, H, W)`` of model inputs ``(N, C, H, W)``, in batches."""
    return torch.cat([model(x[i : i + batch_size]).float() for i in range(0, len(x), batch_size)])


def predict_classes(model: Model, x: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """Argmax classes ``(N, H, W)`` of model inputs ``(N, C, H, W)``."""
    return predict_logits(model, x, batch_size).argmax(1)


def corner_consistency(model: Model, x: torch.Tensor, crop: int = 192, batch_size: int = 8) -> np.ndarray:
    """Per-chip corner consistency of model inputs ``(N, C, S, S)``.

    Raises:
        ValueError: unless ``S/2 < crop < S``.
    """
    s = x.shape[-1]
    if x.shape[-2] != s or not s / 2 < crop < s:
        raise ValueError(f"corner consistency needs square chips with S/2 < p < S (S {tuple(x.shape[-2:])}, p {crop})")
    lo, hi = s - crop, crop  # shared window [lo, hi) in chip coordinates
    preds = []
    for top, left in ((0, 0), (0, s - crop), (s - crop, 0), (s - crop, s - crop)):
        p = predict_classes(model, x[..., top : top + crop, left : left + crop], batch_size)  # (N, p, p)
        preds.append(p[:, lo - top : hi - top, lo - left : hi - left])
    agree = (preds[0] == preds[1]) & (preds[0] == preds[2]) & (preds[0] == preds[3])  # (N, w, w)
    return agree.float().mean(dim=(1, 2)).numpy()


def _chip_scores(pred: np.ndarray, truth: np.ndarray, iou_threshold: float) -> dict[str, float]:
    """A chip's scores; NaN for a metric of nothing to count (no field in truth nor in the prediction), as
    evaluate says it: counted as 0, such chips pulled the reference down and added deltas of 0 (|0 - 0|). A chip
    with fields on one side only scores 0 (a model that finds none of the true fields)."""
    c = np.array([*pixel_counts(truth, pred), *object_counts(truth, pred, iou_threshold)])
    s = scores_from_counts(c, undefined=math.nan)
    otp, ofp, ofn = (float(v) for v in c[3:])
    # F1 = 2 TP / (2 TP + FP + FN): 0 for fields on one side only (precision or recall alone is then 0 / 0)
    f1 = 2 * otp / (2 * otp + ofp + ofn) if otp + ofp + ofn else math.nan
    return {"pixel_iou": s["pixel_iou"], "object_f1": f1}


def _mean(values: Any) -> float:  # noqa: ANN401 - numbers or arrays of them
    """The mean of the defined values (NaN: nothing to count); NaN when none is (null in the report)."""
    a = np.asarray(values, dtype=np.float64)
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else math.nan


def _agreement(ref: torch.Tensor, other: torch.Tensor) -> dict[str, np.ndarray]:
    # ref/other: (N, H, W) class ids
    same = (ref == other).float().mean(dim=(1, 2)).numpy()
    rf, of = ref == 1, other == 1
    inter = (rf & of).sum(dim=(1, 2)).float()
    union = (rf | of).sum(dim=(1, 2)).float()
    iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)).numpy()
    return {"agreement": same, "field_iou": iou}


def variants(refl: torch.Tensor, cfg: RobustnessConfig) -> dict[str, dict[str, torch.Tensor]]:
    """Alternative model inputs of reflectance chips ``(N, C, S, S)`` per sensitivity family.

    Returns:
        ``{"order": {...}, "preprocessing": {...}}`` (scale variants: :func:`robustness_report`).
    """
    ref = refl / cfg.divisor
    out: dict[str, dict[str, torch.Tensor]] = {"order": {}, "preprocessing": {}}
    if refl.shape[1] == 8:
        out["order"]["windows_swapped"] = swap_windows(ref)
    for d in cfg.divisors:
        out["preprocessing"][f"divisor_{d:g}"] = refl / d
    out["preprocessing"]["missing_offset"] = (refl + cfg.offset_error) / cfg.divisor
    out["preprocessing"]["minmax_per_band"] = minmax_per_band(refl)
    return out


def _resize_predict(model: Model, x: torch.Tensor, f: float, batch_size: int) -> torch.Tensor:
    s = x.shape[-2:]
    size = (max(32, round(s[0] * f)), max(32, round(s[1] * f)))
    xr = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=f < 1)
    logits = predict_logits(model, xr, batch_size)  # (N, K, h, w)
    return F.interpolate(logits, size=s, mode="bilinear", align_corners=False).argmax(1)


def robustness_report(
    model: Model,
    refl: torch.Tensor,
    labels: torch.Tensor | None = None,
    cfg: RobustnessConfig | None = None,
    progress: bool = True,
) -> dict:
    """All four deployment metrics.

    Args:
        model: model inputs -> logits (put it in eval mode first).
        refl: ``(N, C, S, S)`` reflectance x10000 (offset applied), square chips.
        labels: optional ``(N, S, S)`` FTW labels (3 = unknown).
        cfg: settings.
        progress: a bar of the model's passes over the chips.

    Returns:
        ``{"chips", "mode" (labels | agreement), "corner_consistency", "order", "preprocessing", "scale"}``;
        each family holds per-variant values and its ``sensitivity`` (labels: mean |delta| per metric;
        no labels: 1 - mean agreement and 1 - mean field IoU); a metric of nothing to count on every chip (no
        field in truth or prediction) is NaN.
    """
    from agriseg.batch import progress_bar

    cfg = cfg or RobustnessConfig()
    refl = refl.float()
    x_ref = refl / cfg.divisor
    fams = variants(refl, cfg)
    # every model pass over the chips: the reference, corner crops, each variant and scale (minutes on a CPU)
    bar = progress_bar(total=2 + sum(map(len, fams.values())) + len(cfg.scales), desc="robustness", unit="pass",
                       disable=not progress)  # fmt: skip
    ref_pred = predict_classes(model, x_ref, cfg.batch_size)  # (N, S, S)
    bar.update()
    res: dict = {
        "chips": int(len(refl)),
        "chip_size": int(refl.shape[-1]),
        "crop": cfg.crop,
        "mode": "labels" if labels is not None else "agreement",
        "corner_consistency": float(corner_consistency(model, x_ref, cfg.crop, cfg.batch_size).mean()),
    }
    bar.update()
    fams["scale"] = {}
    preds: dict[str, dict[str, torch.Tensor]] = {k: {} for k in fams}
    for fam, vs in fams.items():
        for name, x in vs.items():
            preds[fam][name] = predict_classes(model, x, cfg.batch_size)
            bar.update()
    for f in cfg.scales:
        preds["scale"][f"resize_{f:g}"] = _resize_predict(model, x_ref, f, cfg.batch_size)
        bar.update()
    bar.close()

    if labels is not None:
        truth = labels.numpy()
        ref_scores = [_chip_scores(ref_pred[i].numpy(), truth[i], cfg.iou_threshold) for i in range(len(truth))]
        res["reference"] = {k: _mean([r[k] for r in ref_scores]) for k in ("pixel_iou", "object_f1")}
    for fam, ps in preds.items():
        entry: dict = {}
        if not ps:
            res[fam] = {"variants": {}, "sensitivity": None}
            continue
        if labels is None:
            for name, p in ps.items():
                a = _agreement(ref_pred, p)
                entry[name] = {
                    "agreement": float(a["agreement"].mean()),
                    "field_iou": float(a["field_iou"].mean()),
                }
            sens = {
                "disagreement": float(np.mean([1 - v["agreement"] for v in entry.values()])),
                "field_iou_drop": float(np.mean([1 - v["field_iou"] for v in entry.values()])),
            }
        else:
            deltas: dict[str, list[np.ndarray]] = {"pixel_iou": [], "object_f1": []}
            for name, p in ps.items():
                sc = [_chip_scores(p[i].numpy(), truth[i], cfg.iou_threshold) for i in range(len(truth))]
                entry[name] = {k: _mean([s[k] for s in sc]) for k in deltas}
                for k in deltas:
                    deltas[k].append(np.abs(np.array([r[k] for r in ref_scores]) - np.array([s[k] for s in sc])))
            # per chip: mean over variants of |m_ref - m_j|; then mean over chips (NaN: nothing to count, left out)
            sens = {f"delta_{k}": _mean([_mean(chip) for chip in np.stack(v).T]) for k, v in deltas.items()}
        res[fam] = {"variants": entry, "sensitivity": sens}
    return res


def scene_chips(
    arr: np.ndarray, chip: int = 256, stride: int | None = None
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Cut a scene ``(C, H, W)`` into ``(N, C, chip, chip)`` grid chips (last row/column aligned to the edge).

    Raises:
        ValueError: the scene is smaller than one chip.
    """
    c, h, w = arr.shape
    if h < chip or w < chip:
        raise ValueError(f"scene {h}x{w} is smaller than one {chip}x{chip} chip")
    stride = stride or chip

    pos = [(y, x) for y in window_starts(h, chip, stride) for x in window_starts(w, chip, stride)]
    return np.stack([arr[:, y : y + chip, x : x + chip] for y, x in pos]), pos


def scene_valid(arr: np.ndarray, nodata: float | None) -> np.ndarray:
    """``(H, W)`` bool: the pixels of a scene ``(C, H, W)`` with a finite value in every band that are not
    nodata in all of them (no declared nodata on an integer scene: 0, Sentinel-2 L2A's fill), as
    ``fields predict`` reads them."""
    valid = np.isfinite(arr).all(0)
    nd = 0 if nodata is None and arr.dtype.kind in "ui" else nodata
    if nd is not None and not np.isnan(nd):
        valid &= ~(arr == nd).all(0)
    return valid


def format_robustness(res: dict) -> str:
    """Plain-text table of :func:`robustness_report`."""
    lines = [
        f"chips: {res['chips']} x {res['chip_size']} px   mode: {res['mode']}",
        f"corner consistency (p {res.get('crop', 192)}): {res['corner_consistency']:.4f}",
    ]
    if "reference" in res:
        lines.append("reference: " + "  ".join(f"{k} {_shown(v)}" for k, v in res["reference"].items()))
    for fam in ("order", "preprocessing", "scale"):
        e = res[fam]
        if not e["variants"]:
            continue
        lines.append(f"{fam}: sensitivity " + "  ".join(f"{k} {_shown(v)}" for k, v in e["sensitivity"].items()))
        for name, v in e["variants"].items():
            lines.append(f"  {name:<18}" + "  ".join(f"{k} {_shown(x)}" for k, x in v.items()))
    return "\n".join(lines)


def _shown(value: float | None) -> str:
    """A score with 4 decimals; ``n/a`` for one of nothing to count (NaN, or null read back from a report)."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


__all__ = [
    "RobustnessConfig",
    "corner_consistency",
    "format_robustness",
    "predict_classes",
    "predict_logits",
    "robustness_report",
    "scene_chips",
    "scene_valid",
    "variants",
]
