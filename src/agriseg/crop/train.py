"""``train``: run a crop-segmentation config end to end and export the best or the last model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import albumentations as A
import cv2
import lightning as L
from torch.utils.data import DataLoader, Dataset

from agriseg.config import OptionError
from agriseg.crop.config import CropTrainConfig, DataConfig
from agriseg.crop.dataset import CropSegDataset, match_pairs, split_stems, warn_unpaired
from agriseg.crop.labels import check_label_mode
from agriseg.crop.transforms import train_transform
from agriseg.data.files import write_json
from agriseg.data.loaders import train_loader

if TYPE_CHECKING:
    from torch import nn


def train_crop(
    cfg: CropTrainConfig,
    resume: str | None = None,
    max_epochs: int | None = None,
    progress: bool = True,
    check_labels: bool = True,
    resumable: bool = True,
    overwrite: bool = False,
    label: str = "",
) -> dict:
    """Train, keep the best and the last checkpoint, export one of them (``train.export``) as safetensors.

    Args:
        cfg: the run config.
        resume: a Lightning checkpoint (e.g. ``<output_dir>/last.ckpt``) to continue from.
        max_epochs: override ``cfg.train.epochs``.
        progress: show the training progress bar.
        check_labels: refuse ``label_mode: index`` on 0/255 masks (:func:`agriseg.crop.labels.check_label_mode`);
            self-training turns it off for its own index labels, whose 255 is an ignore band.
        resumable: keep an interrupted run for ``--resume`` (off for self-training's stages, which have none).
        overwrite: replace the model (and checkpoints) of an earlier run in ``output_dir`` (refused without it).
        label: put before the progress bar's "Epoch N" (a stage of self-training: ``stage 1 of 2``).

    Returns:
        ``{"best_checkpoint", "model", "val", "summary"}``: the exported checkpoint, the safetensors file,
        that checkpoint's validation metrics and one line saying so.
    """
    import torch

    from agriseg.crop.task import SegmentationTask
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
    torch.set_num_threads(max(1, torch.get_num_threads()))
    L.seed_everything(t.seed, verbose=False)  # workers: seeded by agriseg.data.loaders.init_worker
    task = build_task(SegmentationTask, cfg.model_dump())  # a model the config cannot build: before any output
    check_resume(task, resume)  # a checkpoint of another model: before any output too
    check_accelerator(t.accelerator, t.precision)
    if t.init_weights and resume is None:  # a file that is no model of ours: refused before any output too
        try:
            init_from(task.model, t.init_weights, cfg.model.in_channels)
        except (OSError, ValueError) as err:  # named as the config's key, as data.train_list's are
            if str(err).startswith("train.init_weights"):
                raise
            try:
                named = type(err)(f"train.init_weights: {err}")
            except TypeError:  # an error type of other arguments: a usage error all the same
                named = ValueError(f"train.init_weights: {err}")
            raise named from None
    if check_labels:
        pairs = match_pairs(cfg.data.images, cfg.data.labels, ("data.images", "data.labels"))
        check_label_mode([lp for _, lp in pairs.values()], cfg.data.label_mode, "data.label_mode")
    dm = CropDataModule(cfg.data, t.batch_size, t.num_workers, t.seed, cfg.model.infer_long_side, cfg.model.num_classes)
    h, w = dm.train_set.check("the training photos")  # every label before the run's folder, not in the loader
    dm.val_set.check("the validation photos")
    if h and cfg.data.crop_size > max(h, w):  # 2048 on 960x720 photos: the process was killed, out of memory
        from agriseg.data.io import log

        log.warning(
            "data.crop_size %d is larger than every training photo (the largest %d x %d): the crops are padded "
            "by reflection (no more of the photo to see), and training memory grows with the crop's square",
            cfg.data.crop_size, w, h,
        )  # fmt: skip
    # data that cannot train (no photos, no validation, lists that overlap) is refused before the run's folder
    # is made (an empty output_dir was left behind)
    replaces = resumable and replaces_earlier_run(cfg.output_dir, resume)
    out = check_run_folder(
        cfg.output_dir, replaces, overwrite, resume
    )  # someone else's, or an earlier model: usage errors
    earlier = earlier_checkpoints(out, [t.init_weights, resume]) if replaces and overwrite else {}
    if check_labels:
        folders = [(cfg.data.images, cfg.data.labels), *((x.images, x.labels) for x in cfg.data.extra)]
        for images, labels in folders:  # each data.extra folder pairs its photos by name too
            warn_unpaired(images, labels, "left out of training")
    write_json(out / "split.json", {"train": dm.train_stems, "val": dm.val_stems})
    res = fit(task, dm, t, out, resume=resume, max_epochs=max_epochs, progress=progress, resumable=resumable,
              label=label)  # fmt: skip
    exported = res.last_path if t.export == "last" else res.best_path
    load_weights(task, exported)
    val = validate(res.trainer, task, dm)
    model_path = out / "model.safetensors"
    save_model(task.model, cfg.model, model_path, extra={"val": val, "train_config": cfg.model_dump_json()})
    drop_earlier_checkpoints(earlier)
    shown = {"val/miou": val["val/miou"], "val/biou": val["val/biou"]}
    return {
        "best_checkpoint": exported,
        "model": str(model_path),
        "val": val,
        "summary": summary_line(f"{cfg.name} ({t.export} checkpoint)", res, shown, model_path),
    }


def init_from(model: nn.Module, path: str, in_channels: int) -> list[str]:
    """Start ``model`` from an agriseg model file (warm start / fine-tuning).

    Every tensor is copied. Only the 1x1 classification head may differ (another number of classes, e.g. a
    crop/weed model started from the vegetation model): it then keeps its fresh initialisation.

    Returns:
        The names of the tensors that were not copied (empty, or the head's).

    Raises:
        ValueError: naming ``path``, when anything but the head does not fit.
    """
    from agriseg.models.io import load_model

    init, _ = load_model(path, in_channels)
    src, own = init.state_dict(), model.state_dict()
    misfit = sorted(k for k in own if k not in src or src[k].shape != own[k].shape)
    if any(not k.startswith("head.") for k in misfit) or set(src) - set(own):
        extra = sorted(set(src) - set(own))
        raise ValueError(
            f"{path}: its weights do not fit this run's model config "
            f"(missing or reshaped: {misfit[:5]}, unexpected: {extra[:5]})"
        )
    model.load_state_dict({k: v for k, v in src.items() if k not in misfit}, strict=False)
    return misfit


class _ResizeImageOnly:
    """Validation transform: resize the image to the model's inference size, keep the full-size mask."""

    def __init__(self, long_side: int) -> None:
        self.resize = A.LongestMaxSize(max_size=long_side, interpolation=cv2.INTER_AREA) if long_side else None

    def __call__(self, image, mask):  # noqa: ANN001, ANN204 - albumentations-style call
        return {"image": self.resize(image=image)["image"] if self.resize else image, "mask": mask}


class CropDataModule(L.LightningDataModule):
    """Train/val loaders from a :class:`DataConfig`.

    Args:
        data: the data config.
        batch_size: training batch size.
        num_workers: loader worker processes.
        seed: seed of the random split and of the training order (and the loader workers' random numbers).
        infer_long_side: validation images are resized to this long side (0 = native).
    """

    def __init__(
        self, data: DataConfig, batch_size: int, num_workers: int, seed: int, infer_long_side: int, num_classes: int = 0
    ) -> None:
        super().__init__()
        self.cfg, self.batch_size, self.num_workers, self.seed = data, batch_size, num_workers, seed
        pairs = match_pairs(data.images, data.labels, ("data.images", "data.labels"))
        if data.val_list and data.val_fraction != type(data).model_fields["val_fraction"].default:
            import logging  # a share the user chose, not read: said (the list names the validation photos)

            logging.getLogger("agriseg").warning(
                "data.val_fraction %g: not read, as data.val_list %s names the validation photos",
                data.val_fraction,
                data.val_list,
            )
        self.train_stems, self.val_stems = split_stems(
            list(pairs), data.train_list, data.val_list, data.val_fraction, seed
        )
        kw: dict[str, Any] = {
            "label_mode": data.label_mode, "colormap": data.colormap, "cache": data.cache, "num_classes": num_classes
        }  # fmt: skip
        tf = train_transform(data.crop_size, (data.scale_min, data.scale_max), data.augment)
        from agriseg.crop.scenes.write import unfinished_set

        sources = [("data.images", data.images), *(("data.extra", x.images) for x in data.extra)]
        for key, images in sources:  # a make-synthetic run stopped part-way: hours of training on 3 of 400 scenes
            if made := unfinished_set(images):
                raise OptionError(
                    f"{key} {images}: a generated set stopped at about {made} (its index.json): run its "
                    "`agriseg crop make-synthetic` command again to finish it"
                )
        extra = [
            (f"{Path(src.images).name}/{stem}", ip, lp)
            for src in data.extra
            for stem, (ip, lp) in match_pairs(src.images, src.labels, ("data.extra", "data.extra")).items()
            for _ in range(src.repeat)
        ]
        self.train_set = CropSegDataset(  # data.repeat: each training photo that many times an epoch
            pairs, self.train_stems * data.repeat, transform=tf, refine_band=data.refine_band, extra=extra, **kw
        )
        self.val_set = CropSegDataset(pairs, self.val_stems, transform=_ResizeImageOnly(infer_long_side), **kw)
        if not self.val_stems:  # found after every epoch trained: validation picks and scores the model
            raise OptionError(f"data.val_list: {data.val_list} names no photo; validation needs at least one")
        if not len(self.train_set):
            raise OptionError(
                f"{data.images}: only {len(pairs)} labelled photo(s), all for validation: at least 2 are needed "
                "(1 to train, 1 to validate)"
                if data.train_list is None
                else f"data.train_list: {data.train_list} names no photo outside validation"
            )

    def train_dataloader(self) -> DataLoader:
        return train_loader(self.train_set, self.batch_size, self.num_workers, self.seed)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(cast(Dataset, self.val_set), batch_size=1, num_workers=0)
