"""Every hyperparameter in one place: typed configs that validate YAML files on load.

String options are ``Literal`` types, so a typo in a config fails at load time with the valid choices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Strict):
    """A segmentation model: encoder + decoder + x2 upsampler + head."""

    # smp_unet = segmentation-models-pytorch's own smp.Unet (FTW / PRUE checkpoints load into it unchanged)
    arch: Literal["unet", "fpn", "upernet", "smp_unet"] = "unet"
    encoder: str = "tu-efficientnet_lite0"
    encoder_weights: str | None = "imagenet"
    upsampler: Literal["bilinear", "fade", "dysample", "carafe"] = "bilinear"
    # width of the fpn/upernet decoder (None = the decoder's default, 128; mmseg's UperNet uses 512)
    decoder_channels: int | None = Field(None, ge=1)
    in_channels: int = Field(3, ge=1)
    num_classes: int = Field(2, ge=1)
    class_names: list[str] = ["background", "vegetation"]
    # inputs arrive scaled to [0, 1]; the model normalises them itself
    mean: list[float] = [0.5, 0.5, 0.5]
    std: list[float] = [0.5, 0.5, 0.5]
    # images are resized so their long side is this many pixels before the model (0 = native size);
    # training draws plants at 0.35-1x of a 960-px-wide photo, so 640 sits inside that range
    infer_long_side: int = Field(640, ge=0)
    # test-time augmentation used by default at inference (chosen on validation)
    infer_tta: Literal["none", "flip", "flip+scale"] = "none"


class DataConfig(_Strict):
    """Image + label folders matched by file stem, and how label files map to class ids."""

    images: str
    labels: str
    train_list: str | None = None  # text file of stems; None = all stems not in val_list
    val_list: str | None = None
    val_fraction: float = 0.2  # used when no val_list: a seeded random split
    # label encoding: "binary" (0 / >0), "index" (pixel value = class id), "colormap" (RGB -> id)
    label_mode: Literal["binary", "index", "colormap"] = "binary"
    colormap: dict[str, int] = {}  # "R,G,B" -> class id, for label_mode="colormap"; unlisted colours -> 255
    crop_size: int = 384
    scale_min: float = 0.35  # random-resized-crop area fraction range
    scale_max: float = 1.0
    augment: Literal["none", "mild", "strong"] = "strong"
    cache: bool = True  # keep decoded images in memory


class TrainConfig(_Strict):
    """Optimisation and run control."""

    epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 1
    dice_weight: float = 1.0
    ignore_index: int = 255
    seed: int = 7
    init_weights: str | None = (
        None  # start from an agriseg model file (.safetensors / .ckpt) of the same config
    )
    num_workers: int = 1
    # "bf16-mixed" autocast + channels_last train about 2.9x faster than fp32 on a CPU with AVX-512 BF16
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    channels_last: bool = False
    accelerator: str = "auto"
    limit_train_batches: float | int = 1.0
    val_every: int = 1
    boundary_ratio: float = 0.02
    # which weights become model.safetensors: "best" on validation mIoU, or "last" (the end of the schedule;
    # no checkpoint is picked on the split that the model is then scored on)
    export: Literal["best", "last"] = "best"
    # stop after this many minutes of training even if epochs remain (a safety net for time-limited machines;
    # the cosine schedule is then cut short, so size ``epochs`` to finish first)
    max_minutes: float | None = Field(None, gt=0)


class CropTrainConfig(_Strict):
    """A whole ``agriseg crop train`` run."""

    name: str = "crop"
    output_dir: str = "runs/crop"
    model: ModelConfig = ModelConfig()
    data: DataConfig
    train: TrainConfig = TrainConfig()


def load_config(path: str | Path, cls: type[BaseModel] = CropTrainConfig) -> BaseModel:
    """Load and validate a YAML config.

    Paths in crop configs are relative to the working directory (the bundled configs expect the
    repository root); a fields config's ``data.root`` is resolved against the config file's folder, which
    the validator receives as ``context["base"]``.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file and each invalid field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from err
    try:
        return cls.model_validate(raw, context={"base": path.parent})
    except ValidationError as err:
        raise ValueError(f"{path}: invalid config:\n{err}") from err
