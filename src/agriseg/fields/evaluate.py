"""Scoring a model on FTW-layout chips with the FTW rules (see :mod:`agriseg.fields.metrics`)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

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
        :meth:`FieldMetrics.compute`'s dict.
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
    metrics = FieldMetrics(cfg.iou_threshold, n_boot=cfg.bootstrap, seed=seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=False, num_workers=0)
    for batch in progress_bar(loader, desc="evaluate", unit="batch", disable=not progress):
        pred, prob = predict_batch(model, batch["image"].to(device))
        truth = batch["mask"].numpy()
        for i in range(pred.shape[0]):
            metrics.update(pred[i], truth[i], prob[i], batch["country"][i])
    return metrics.compute()
