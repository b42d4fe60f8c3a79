"""Scoring a model on FTW-layout chips with the FTW rules (see :mod:`agriseg.fields.metrics`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

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
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    iou_threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Predict every chip of ``dataset`` and compute FTW pixel/object metrics, COCO AP and bootstrap CIs.

    Args:
        model: a model returning logits (class 1 = field).
        dataset: yields ``{"image", "mask", "country"}`` (e.g. :class:`agriseg.fields.dataset.FTWDataset`).
        batch_size: chips per forward pass.
        device: where to run the model.
        iou_threshold: object matching IoU.
        n_boot: bootstrap resamples (0 = no intervals).
        seed: bootstrap seed.
        progress: show a progress bar.

    Returns:
        :meth:`FieldMetrics.compute`'s dict.
    """
    from tqdm import tqdm

    model = model.eval().to(device)
    metrics = FieldMetrics(iou_threshold, n_boot=n_boot, seed=seed)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for batch in tqdm(loader, desc="evaluate", unit="batch", disable=not progress):
        pred, prob = predict_batch(model, batch["image"].to(device))
        truth = batch["mask"].numpy()
        for i in range(pred.shape[0]):
            metrics.update(pred[i], truth[i], prob[i], batch["country"][i])
    return metrics.compute()
