"""Scoring a model on FTW-layout chips with the FTW rules (see :mod:`agriseg.fields.metrics`)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from agriseg.config import with_updates
from agriseg.fields.config import FieldsEvaluateConfig
from agriseg.fields.metrics import FieldMetrics


@torch.no_grad()
def predict_batch(model: nn.Module, image: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Argmax classes and field-class probability of a batch.

    Args:
        model: returns logits ``(B, K, H, W)``.
        image: ``(B, C, H, W)`` model input.

    Returns:
        ``pred (B, H, W) uint8`` and ``prob (B, H, W) float32`` of class 1.
    """
    prob = model(image).float().softmax(1)  # (B, K, H, W)
    return prob.argmax(1).cpu().numpy().astype(np.uint8), prob[:, 1].cpu().numpy()


def evaluate_model(
    model: nn.Module,
    dataset: Dataset,
    config: FieldsEvaluateConfig | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = False,
    **legacy: Any,
) -> dict:
    """Predict every chip of ``dataset`` and compute FTW pixel/object metrics, COCO AP and bootstrap CIs.

    Args:
        model: a model returning logits (class 1 = field).
        dataset: yields ``{"image", "mask", "country"}`` (e.g. :class:`agriseg.fields.dataset.FTWDataset`).
        config: chips per forward pass (``batch_size``), object matching IoU (``iou_threshold``) and
            bootstrap resamples (``bootstrap``, 0 = no intervals).
        device: where to run the model.
        seed: bootstrap seed.
        progress: show a progress bar.
        legacy: the keywords it took before, ``batch_size``, ``iou_threshold`` and ``n_boot`` (deprecated:
            they go in the next release).

    Returns:
        :meth:`FieldMetrics.compute`'s dict, with ``failed``: one line per chip that could not be scored (a mask of
        another size, values outside 0..3: each names its file); the other chips are scored.

    Raises:
        ValueError: no chip could be scored (naming the first).
    """
    from agriseg.batch import progress_bar

    cfg = config or FieldsEvaluateConfig()
    if legacy:
        warnings.warn(
            f"evaluate_model({'=, '.join(legacy)}=) is deprecated and goes in the next release; pass a "
            "FieldsEvaluateConfig",
            DeprecationWarning,
            stacklevel=2,
        )
        names = {"batch_size": "batch_size", "iou_threshold": "iou_threshold", "n_boot": "bootstrap"}
        cfg = with_updates(cfg, {names[k]: v for k, v in legacy.items()})
    model = model.eval().to(device)
    metrics = FieldMetrics(cfg.iou_threshold, n_boot=cfg.bootstrap, seed=seed, undefined=float("nan"))
    failed: list[str] = []  # chips that cannot be scored (a mask of another size, other values): named, not fatal
    batch: list[dict] = []  # chips of one size (a root may hold several: they cannot be stacked together)

    def score() -> None:
        pred, prob = predict_batch(model, torch.stack([it["image"] for it in batch]).to(device))
        for i, it in enumerate(batch):
            metrics.update(pred[i], it["mask"].numpy(), prob[i], it["country"])
        batch.clear()

    n = len(dataset)  # type: ignore[arg-type]  # a map-style dataset has a length
    for i in progress_bar(range(n), desc="evaluate", unit="chip", disable=not progress):
        try:
            item = dataset[i]
        except ValueError as err:  # the chip's own problem (naming its file); the others are scored
            failed.append(str(err))
            continue
        if batch and batch[0]["image"].shape != item["image"].shape:
            score()
        batch.append(item)
        if len(batch) == cfg.batch_size:
            score()
    if batch:
        score()
    if failed and len(failed) == n:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise ValueError(f"nothing to score: {failed[0]}{more}")
    return {**metrics.compute(), "failed": failed}
