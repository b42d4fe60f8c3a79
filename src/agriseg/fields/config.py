"""Typed configs of ``agriseg fields train`` (PRUE / FTW recipes), validated on load.

>>> from agriseg.config import load_config
>>> from agriseg.fields.config import FieldsTrainConfig
>>> cfg = load_config("configs/fields/prue_efnetb7.yaml", FieldsTrainConfig)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from agriseg.config import ModelConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _fields_model() -> ModelConfig:
    return ModelConfig(
        arch="smp_unet",
        encoder="tu-efficientnet_lite0",
        encoder_weights="imagenet",
        in_channels=8,
        num_classes=3,
        class_names=["background", "field", "boundary"],
        mean=[0.0] * 8,
        std=[1.0] * 8,
        infer_long_side=0,
    )


class FieldsDataConfig(_Strict):
    """Where the FTW-layout data lives and how chips become model inputs."""

    root: str
    train_countries: list[str] | Literal["all"] = "all"
    val_countries: list[str] | Literal["all"] | None = None  # None = train_countries
    test_countries: list[str] | Literal["all"] | None = None  # None = train_countries
    target: Literal["2-class", "3-class"] = "3-class"
    windows: Literal["ab", "ba", "a", "b"] = "ab"
    divisor: float = Field(3000.0, gt=0)
    offset: float = 0.0  # FTW chips are harmonised; -1000 for raw processing-baseline >= 04.00 data
    missing: Literal["error", "skip"] = "error"
    cache: bool = True

    @field_validator("root")
    @classmethod
    def _resolve(cls, v: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get("base")
        p = Path(v).expanduser()
        return str(p if p.is_absolute() or base is None else (Path(base) / p).resolve())


class FieldsAugmentConfig(_Strict):
    """PRUE augmentations (see :class:`agriseg.data.ftw_transforms.FieldAugmentConfig`)."""

    enabled: bool = True
    divisor_range: tuple[float, float] | None = (1500.0, 4500.0)
    rotate_p: float = Field(0.5, ge=0, le=1)
    max_degrees: float = 90.0
    hflip_p: float = Field(0.5, ge=0, le=1)
    vflip_p: float = Field(0.5, ge=0, le=1)
    sharpness_p: float = Field(0.5, ge=0, le=1)
    sharpness_range: tuple[float, float] = (0.5, 1.5)
    resized_crop_p: float = Field(0.5, ge=0, le=1)
    crop_scale: tuple[float, float] = (0.3, 0.9)
    swap_p: float = Field(0.5, ge=0, le=1)


class FieldsLossConfig(_Strict):
    """``logcosh_dice`` (PRUE) or ``ce`` (FTW baseline); class weights from omega or explicit."""

    name: Literal["logcosh_dice", "ce"] = "logcosh_dice"
    omega: float | None = Field(0.75, gt=0, lt=0.95)  # weights [0.05, 0.95 - omega, omega]
    class_weights: list[float] | None = None  # overrides omega when given
    ignore_index: int = 3

    def weights(self, num_classes: int) -> list[float] | None:
        """The class weights to use (None = unweighted)."""
        from agriseg.losses import omega_class_weights

        if self.class_weights is not None:
            if len(self.class_weights) != num_classes:
                raise ValueError(f"{len(self.class_weights)} class_weights for {num_classes} classes")
            return list(self.class_weights)
        if self.omega is not None and num_classes == 3:
            return omega_class_weights(self.omega)
        return None


class FieldsOptimConfig(_Strict):
    """Optimisation (PRUE: AdamW amsgrad lr 1e-3, cosine to 1e-6 over 100 epochs, batch 32, seed 7)."""

    epochs: int = Field(100, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = 1e-3
    min_lr: float = 1e-6
    weight_decay: float = 1e-2
    amsgrad: bool = True
    seed: int = 7
    num_workers: int = 0
    precision: str = "32-true"
    accelerator: str = "auto"
    max_time_minutes: float | None = None  # stop training after this wall time
    # cosine over the planned steps, or over max_time_minutes of wall time (for time-boxed CPU runs)
    schedule: Literal["cosine_steps", "cosine_time"] = "cosine_steps"
    limit_train_batches: float | int = 1.0
    val_every: int = 1
    iou_threshold: float = Field(0.5, ge=0.5, lt=1.0)
    monitor: Literal["val/object_f1", "val/pixel_iou"] = "val/object_f1"


class FieldsTrainConfig(_Strict):
    """A whole ``agriseg fields train`` run."""

    name: str = "fields"
    output_dir: str = "runs/fields"
    model: ModelConfig = Field(default_factory=_fields_model)
    data: FieldsDataConfig
    augment: FieldsAugmentConfig = FieldsAugmentConfig()
    loss: FieldsLossConfig = FieldsLossConfig()
    train: FieldsOptimConfig = FieldsOptimConfig()

    @model_validator(mode="after")
    def _check(self) -> FieldsTrainConfig:
        from agriseg.data.sentinel2 import channels_for

        need = channels_for(self.data.windows)
        if self.model.in_channels != need:
            raise ValueError(
                f"data.windows={self.data.windows!r} gives {need} channels, model.in_channels is "
                f"{self.model.in_channels}"
            )
        want = 3 if self.data.target == "3-class" else 2
        if self.model.num_classes != want:
            raise ValueError(f"data.target={self.data.target!r} needs model.num_classes={want}")
        return self
