"""``train_fields``: run a field-boundary config end to end, export the best model, score the test split."""

from __future__ import annotations

import logging

import lightning as L
from torch.utils.data import DataLoader

from agriseg.data.files import write_json
from agriseg.data.loaders import train_loader
from agriseg.fields.config import FieldsDataConfig, FieldsEvaluateConfig, FieldsTrainConfig
from agriseg.fields.dataset import FTWDataset, Split


def train_fields(
    cfg: FieldsTrainConfig,
    resume: str | None = None,
    max_epochs: int | None = None,
    evaluate_test: bool = True,
    progress: bool = True,
    overwrite: bool = False,
) -> dict:
    """Train with Lightning, keep the best checkpoint (``train.monitor``), export and evaluate it.

    Outputs in ``cfg.output_dir``: ``best-*.ckpt`` (when a validation ran) / ``last.ckpt`` (ftw-tools layout),
    ``model.safetensors`` (float32 + config, loadable with ``agriseg.models.io.load_model``), ``logs/``
    (CSV) and ``test_metrics.json``.

    Args:
        cfg: the run config.
        resume: a Lightning checkpoint to continue from.
        max_epochs: override ``cfg.train.epochs``.
        evaluate_test: score the test split at the end.
        progress: show the training progress bar.
        overwrite: replace the model (and checkpoints) of an earlier run in ``output_dir`` (refused without it).

    Returns:
        ``{"best_checkpoint", "model", "val", "test", "train_seconds", "summary"}``.
    """
    from agriseg.data.files import write_text
    from agriseg.fields.evaluate import evaluate_model
    from agriseg.fields.task import FieldsTask
    from agriseg.models.io import save_model
    from agriseg.training.trainer import (
        build_task,
        check_accelerator,
        check_resume,
        check_run_folder,
        drop_earlier_checkpoints,
        earlier_checkpoints,
        fit,
        load_weights,
        replaces_earlier_run,
        summary_line,
        validate,
    )

    t = cfg.train
    L.seed_everything(t.seed, verbose=False)  # workers: seeded by agriseg.data.loaders.init_worker
    try:  # a missing data set: refused before output
        dm = FieldsDataModule(cfg.data, t.batch_size, t.num_workers, t.seed)
    except FileNotFoundError as err:  # the config's key named, as crop train names data.images (a missing chip
        if "FTW root folder not found" not in str(err):  # or country has other remedies: said as they are)
            raise
        raise FileNotFoundError(f"{err} (data.root)") from None
    # a damaged chip: before the run's folder, not part-way through; chips of mixed sizes in a batch too (the test
    # chips are scored by size: evaluate_model)
    dm.train_set.check("the training chips", one_size=t.batch_size > 1)
    dm.val_set.check("the validation chips", one_size=t.batch_size > 1)
    if evaluate_test:  # read now: a missing test country failed after the whole training had run
        dm.test_set.check("the test chips")
    sets = [(dm.train_set, "trained on"), (dm.val_set, "validated on")] + [(dm.test_set, "scored")] * evaluate_test
    for ds, what in sets:  # a country the config names with no chip of a split had vanished without a word
        if ds.without:
            logging.getLogger("agriseg").warning(
                "%s: no %s chips for %s: not %s", ds.root, ds.split, ds.without_said(), what
            )
        if ds.skipped:  # as evaluate says them (they went unsaid here, session 105's sweep)
            from agriseg.batch import counted, listed

            logging.getLogger("agriseg").warning(
                "%s: %s left out (missing: skip), not %s: %s", ds.root,
                counted(len(ds.skipped), f"incomplete {ds.split} chip"), what, listed(ds.skipped, 3),
            )  # fmt: skip
    task = build_task(FieldsTask, cfg.model_dump())  # so is a model the config cannot build
    check_resume(task, resume)  # a checkpoint of another model: before any output too
    check_accelerator(t.accelerator, t.precision)
    replaces = replaces_earlier_run(cfg.output_dir, resume)
    out = check_run_folder(
        cfg.output_dir, replaces, overwrite, resume
    )  # someone else's, an earlier model: usage errors
    earlier = earlier_checkpoints(out, [resume]) if replaces and overwrite else {}
    # an earlier run's test scores stay beside its model until this run's model replaces it (below): a run that
    # failed or stopped had deleted them, leaving that model without its scores (session 103's sweep)
    res = fit(task, dm, t, out, resume=resume, max_epochs=max_epochs, progress=progress)
    best = res.best_path
    # no best checkpoint: training stopped before its first validation; the scores shown are the last weights'
    which = (
        "best checkpoint"
        if res.checkpoint.best_model_path
        else "last checkpoint; no validation during training, scored after it"
    )
    load_weights(task, best)
    val = validate(res.trainer, task, dm)
    model_path = out / "model.safetensors"
    # an earlier model's test scores (a --resume --no-test kept them beside this model): gone with that model
    (out / "test_metrics.json").unlink(missing_ok=True)
    save_model(
        task.model,
        cfg.model,
        model_path,
        half=False,
        extra={
            "train_config": cfg.model_dump_json(),
            "windows": cfg.data.windows,
            "divisor": cfg.data.divisor,
        },
    )
    write_text(out / "config.json", cfg.model_dump_json(indent=1))  # this run's, beside its model
    drop_earlier_checkpoints(earlier)
    test = None
    if evaluate_test:
        scoring = FieldsEvaluateConfig(batch_size=t.batch_size, iou_threshold=t.iou_threshold)
        test = evaluate_model(task.model, dm.test_set, scoring)
        write_json(out / "test_metrics.json", test)
    shown: dict[str, float] = {k: val[k] for k in ("val/object_f1", "val/pixel_iou") if k in val}
    return {
        "best_checkpoint": best,
        "model": str(model_path),
        "val": val,
        "test": test,
        "train_seconds": res.seconds,
        "summary": summary_line(f"{cfg.name} ({which})", res, shown, model_path),
    }


def make_dataset(data: FieldsDataConfig, split: Split) -> FTWDataset:
    """The :class:`FTWDataset` of one split of a data config."""
    countries = {"train": data.train_countries, "val": data.val_countries, "test": data.test_countries}[split]
    return FTWDataset(
        data.root,
        countries if countries is not None else data.train_countries,
        split,
        data.target,
        data.windows,
        data.divisor,
        data.offset,
        data.missing,
        data.cache,
    )


class FieldsDataModule(L.LightningDataModule):
    """Train / val / test loaders of a :class:`FieldsDataConfig`.

    Args:
        data: the data config.
        batch_size: training batch size.
        num_workers: loader worker processes.
        seed: seed of the training order (and of the loader workers' random numbers).
    """

    def __init__(self, data: FieldsDataConfig, batch_size: int, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.data, self.batch_size, self.num_workers, self.seed = data, batch_size, num_workers, seed
        self.train_set = make_dataset(data, "train")
        self.val_set = make_dataset(data, "val")
        self._test_set: FTWDataset | None = None

    @property
    def test_set(self) -> FTWDataset:
        if self._test_set is None:
            self._test_set = make_dataset(self.data, "test")
        return self._test_set

    def train_dataloader(self) -> DataLoader:
        return train_loader(self.train_set, self.batch_size, self.num_workers, self.seed)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size, num_workers=0)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.batch_size, num_workers=0)
