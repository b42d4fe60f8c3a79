"""LightningModule for field-boundary segmentation (PRUE / FTW recipes)."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from agriseg.fields.config import FieldsTrainConfig
from agriseg.fields.metrics import FieldMetrics
from agriseg.fields.transforms import FieldAugment
from agriseg.models.losses import LogCoshDiceLoss, WeightedCELoss
from agriseg.training.task import BaseTask


def build_loss(cfg: FieldsTrainConfig) -> torch.nn.Module:
    """The configured loss (``logcosh_dice`` or weighted ``ce``), ignoring label 3."""
    w = cfg.loss.weights(cfg.model.num_classes)
    if cfg.loss.name == "logcosh_dice":
        return LogCoshDiceLoss(w or [1.0] * cfg.model.num_classes, ignore_index=cfg.loss.ignore_index)
    return WeightedCELoss(w, ignore_index=cfg.loss.ignore_index)


def build_augment(cfg: FieldsTrainConfig) -> FieldAugment | None:
    """The PRUE augmentation module of a config (None when disabled)."""
    a = cfg.augment
    if not a.enabled:
        return None
    return FieldAugment(a, base_divisor=cfg.data.divisor, ignore_index=cfg.loss.ignore_index, seed=cfg.train.seed)


class FieldsTask(BaseTask):
    """Trains ``model`` (an ``smp.Unet`` for FTW compatibility) with the PRUE or FTW-baseline recipe.

    Checkpoints hold the run config under ``hyper_parameters["config"]`` plus the ftw-tools keys (``model``,
    ``backbone``, ``in_channels``, ``num_classes``, ``loss``, ``class_weights``, ``ignore_index``) and
    ``state_dict`` keys ``model.encoder.*`` / ``model.decoder.*`` / ``model.segmentation_head.*``, so
    :mod:`agriseg.fields.checkpoints` imports them like a released PRUE checkpoint.

    Args:
        config: the run config as a plain dict.
    """

    config_class = FieldsTrainConfig

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self.monitor = self.cfg.train.monitor
        self.augment = build_augment(self.cfg)

    def hyperparameters(self, config: dict) -> dict:
        m = self.cfg.model
        return {
            "config": config,
            "model": "unet" if m.arch == "smp_unet" else m.arch,
            "backbone": m.encoder,
            "in_channels": m.in_channels,
            "num_classes": m.num_classes,
            "loss": self.cfg.loss.name,
            "class_weights": self.cfg.loss.weights(m.num_classes),
            "ignore_index": self.cfg.loss.ignore_index,
        }

    def configure_loss(self) -> torch.nn.Module:
        return build_loss(self.cfg)

    def configure_metrics(self) -> None:
        self.val_metrics = FieldMetrics(self.cfg.train.iou_threshold, self.cfg.loss.ignore_index, n_boot=0)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        if self.training and self.augment is not None and self.trainer is not None and self.trainer.training:
            img, mask = self.augment(batch["image"].cpu(), batch["mask"].cpu())
            batch["image"], batch["mask"] = img.to(self.device), mask.to(self.device)
        return batch

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self.model(batch["image"])  # (B, K, H, W)
        loss = self.loss(logits, batch["mask"])
        self.log("val/loss", loss, batch_size=logits.shape[0])
        pred = logits.argmax(1).cpu().numpy().astype(np.uint8)  # (B, H, W)
        truth = batch["mask"].cpu().numpy()
        for i in range(pred.shape[0]):
            self.val_metrics.update(pred[i], truth[i], country=batch["country"][i])

    def on_validation_epoch_end(self) -> None:
        if not self.val_metrics.counts:
            return
        res = self.val_metrics.compute()
        self.configure_metrics()
        o = res["overall"]
        self.log_dict({"val/object_f1": o["object_f1"], "val/pixel_iou": o["pixel_iou"]}, prog_bar=True)
        self.log_dict({"val/object_precision": o["object_precision"], "val/object_recall": o["object_recall"]})

    def configure_scheduler(self, opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        t = self.cfg.train
        if t.schedule == "cosine_time":
            from lightning.pytorch.callbacks import Timer

            budget, start = 60.0 * t.max_minutes, time.monotonic()

            def by_time(step: int) -> float:  # cosine from lr to min_lr over the wall-time budget
                # the clock that stops training (Lightning's Timer for max_minutes): a --resume goes on from the
                # time the run had trained, where a clock of its own started the schedule over at lr
                callbacks = getattr(self._trainer, "callbacks", [])
                timer = next((c for c in callbacks if isinstance(c, Timer)), None)
                elapsed = timer.time_elapsed() if timer is not None else time.monotonic() - start
                frac = min(1.0, elapsed / budget)
                return (t.min_lr + (t.lr - t.min_lr) * 0.5 * (1 + math.cos(math.pi * frac))) / t.lr

            return torch.optim.lr_scheduler.LambdaLR(opt, by_time)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=t.min_lr)
