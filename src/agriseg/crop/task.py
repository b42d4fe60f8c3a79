"""LightningModule for semantic segmentation of field photos."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from agriseg.crop.config import CropTrainConfig
from agriseg.metrics import SegmentationMetrics
from agriseg.models.losses import CEDiceLoss
from agriseg.training.task import BaseTask


class SegmentationTask(BaseTask):
    """Trains a model from ``agriseg.models`` with CE + Dice, AdamW and warmup + cosine.

    Validation images arrive resized (the model's inference size); logits are resized back to the full
    label resolution and scored as their argmax. ``predict`` (and ``crop evaluate``) then refine that argmax
    for a vegetation model (outlines at the photo's size, unsure pixels, faint stems): their mIoU of a model
    differs from the one training reports (session 87's sweep: 73.93 in training, 77.53 in evaluate).

    Args:
        config: the whole run config as a plain dict (saved in checkpoints as hyperparameters).
    """

    config_class = CropTrainConfig
    monitor = "val/miou"

    def configure_loss(self) -> torch.nn.Module:
        t = self.cfg.train
        return CEDiceLoss(
            t.dice_weight, t.ignore_index, interior_weight=t.interior_weight, interior_depth=t.interior_depth
        )

    def configure_metrics(self) -> None:
        t = self.cfg.train
        self.val_metrics = SegmentationMetrics(
            self.cfg.model.num_classes, t.boundary_ratio, t.ignore_index, self.cfg.model.class_names
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.train.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def on_fit_start(self) -> None:
        if self.cfg.train.channels_last:
            self.model.to(memory_format=torch.channels_last)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["image"]).float()  # (B, K, h, w) at inference size
        for i in range(logits.shape[0]):
            mask = batch["mask"][i]  # (H, W) at full size
            up = F.interpolate(logits[i : i + 1], size=mask.shape, mode="bilinear", align_corners=False)
            self.val_metrics.update(up.argmax(1)[0].cpu().numpy().astype(np.uint8), mask.cpu().numpy())

    def on_validation_epoch_end(self) -> None:
        res = self.val_metrics.compute()
        self.val_metrics.reset()
        self.log_dict({"val/miou": res["miou"], "val/biou": res["biou"]}, prog_bar=True)
        self.log("val/pixel_accuracy", res["pixel_accuracy"])

    def configure_scheduler(self, opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        t = self.cfg.train
        total = max(1, self.trainer.estimated_stepping_batches)
        warm = min(total // 2, int(total * t.warmup_epochs / max(1, t.epochs)))

        def schedule(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

        return torch.optim.lr_scheduler.LambdaLR(opt, schedule)
