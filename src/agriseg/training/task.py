"""``BaseTask``: the LightningModule every segmentation training run subclasses (hooks, like torchgeo's)."""

from __future__ import annotations

from typing import Any, ClassVar

import lightning as L
import torch
from pydantic import BaseModel

from agriseg.models import build_model


class TrainingDiverged(ValueError):
    """The training loss became NaN or infinite: the run stops there (exit 1), writing no model."""


class BaseTask(L.LightningModule):
    """A training task built from a run config, with one hook per part that differs between pipelines.

    A subclass names its config class (which has ``model`` and ``train`` sections, ``train`` a
    :class:`~agriseg.training.config.TrainOptions`) and implements :meth:`configure_loss`,
    :meth:`validation_step` and :meth:`on_validation_epoch_end`; the other hooks have defaults:

    - :meth:`configure_models`: ``agriseg.models.build_model(cfg.model)``;
    - :meth:`configure_metrics`: nothing;
    - :meth:`hyperparameters`: ``{"config": config}`` (what checkpoints hold under ``hyper_parameters``);
    - :meth:`configure_optimizers`: AdamW from ``cfg.train`` with :meth:`configure_scheduler` (cosine over
      the planned steps) stepped every batch;
    - :meth:`training_step`: the loss of ``self(batch["image"])`` against ``batch["mask"]``, logged as
      ``train/loss``.

    Args:
        config: the whole run config as a plain dict (saved in checkpoints as hyperparameters).
    """

    config_class: ClassVar[type[BaseModel]]
    # the validation metric that picks the best checkpoint (``max`` is better)
    monitor: str = "val/loss"

    def __init__(self, config: dict) -> None:
        super().__init__()
        self.cfg: Any = self.config_class.model_validate(config)
        self.save_hyperparameters(self.hyperparameters(config))
        self.model = self.configure_models()
        self.loss = self.configure_loss()
        self.configure_metrics()

    def hyperparameters(self, config: dict) -> dict:
        """What checkpoints store under ``hyper_parameters``."""
        return {"config": config}

    def configure_models(self) -> torch.nn.Module:
        """The network: ``(B, C, H, W)`` images -> ``(B, K, H, W)`` logits.

        Named as torchgeo names it: Lightning calls its own ``configure_model`` hook during ``fit``, which
        would build a second, unused network (and draw from the random generator) if this overrode it.
        """
        return build_model(self.cfg.model)

    def configure_loss(self) -> torch.nn.Module:
        """The loss of ``(B, K, H, W)`` logits against ``(B, H, W)`` class ids."""
        raise NotImplementedError

    def configure_metrics(self) -> None:
        """Create the validation metric accumulators (attributes of the task)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, C, H, W) -> (B, K, H, W)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch["image"]).float(), batch["mask"])
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["image"].shape[0])
        if not torch.isfinite(loss):  # one NaN step makes every weight NaN: a model that scores, yet sees nothing
            raise TrainingDiverged(
                f"train/loss is {loss.item()} at step {self.trainer.global_step} (epoch {self.current_epoch}): "
                "training diverged, no model written; lower train.lr (or check the labels)"
            )
        return loss

    def configure_scheduler(self, opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        """The learning-rate schedule, stepped every batch (default: cosine to 0 over the planned steps)."""
        total = max(1, int(self.trainer.estimated_stepping_batches))
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)

    def configure_optimizers(self) -> Any:  # a Lightning optimiser + scheduler config
        t = self.cfg.train
        opt = torch.optim.AdamW(self.parameters(), lr=t.lr, weight_decay=t.weight_decay, amsgrad=t.amsgrad)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.configure_scheduler(opt), "interval": "step"}}
