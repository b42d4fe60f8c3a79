"""``train``: run a crop-segmentation config end to end and export the best model."""

from __future__ import annotations

import json
from pathlib import Path

from agriseg.config import CropTrainConfig


def train_crop(cfg: CropTrainConfig, resume: str | None = None, max_epochs: int | None = None) -> dict:
    """Train, keep the best checkpoint on validation mIoU, export it as safetensors.

    Args:
        cfg: the run config.
        resume: a Lightning checkpoint (e.g. ``<output_dir>/last.ckpt``) to continue from.
        max_epochs: override ``cfg.train.epochs``.

    Returns:
        ``{"best_checkpoint", "model", "val"}`` where ``val`` holds the best epoch's validation metrics.
    """
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from agriseg.training.datamodule import CropDataModule
    from agriseg.training.task import SegmentationTask
    from agriseg.weights.io import save_model

    t = cfg.train
    torch.set_num_threads(max(1, torch.get_num_threads()))
    L.seed_everything(t.seed, workers=True)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dm = CropDataModule(cfg.data, t.batch_size, t.num_workers, t.seed, cfg.model.infer_long_side)
    (out / "split.json").write_text(json.dumps({"train": dm.train_stems, "val": dm.val_stems}, indent=1))
    task = SegmentationTask(cfg.model_dump())
    if t.init_weights and resume is None:
        from agriseg.weights.io import load_model

        init, _ = load_model(t.init_weights, cfg.model.in_channels, cfg.model.num_classes)
        try:
            task.model.load_state_dict(init.state_dict())
        except RuntimeError as err:
            raise ValueError(f"{t.init_weights}: its weights do not fit this run's model config: {err}") from err
    ckpt = ModelCheckpoint(
        dirpath=out, filename="best-{epoch:02d}", monitor="val/miou", mode="max", save_last=True, save_top_k=1
    )
    trainer = L.Trainer(
        max_epochs=max_epochs or t.epochs,
        accelerator=t.accelerator,
        precision=t.precision,
        callbacks=[ckpt, LearningRateMonitor("step")],
        logger=CSVLogger(out, name="logs"),
        limit_train_batches=t.limit_train_batches,
        check_val_every_n_epoch=t.val_every,
        log_every_n_steps=5,
        deterministic=False,
    )
    trainer.fit(task, datamodule=dm, ckpt_path=resume)
    best = ckpt.best_model_path or ckpt.last_model_path
    state = torch.load(best, map_location="cpu", weights_only=True)
    task.load_state_dict(state["state_dict"])
    val = trainer.validate(task, datamodule=dm, verbose=False)[0]
    model_path = out / "model.safetensors"
    save_model(task.model, cfg.model, model_path, extra={"val": val, "train_config": cfg.model_dump_json()})
    return {"best_checkpoint": best, "model": str(model_path), "val": val}
