"""The training options every pipeline shares (one name per idea; pipelines extend and re-default them)."""

from __future__ import annotations

import warnings
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from agriseg.config import MAX_LOADER_WORKERS, MAX_SEED, RenamedOptionWarning, StrictModel


class TrainOptions(StrictModel):
    """Optimisation and run control of a training run (``train:`` in a crop or fields config).

    Attributes:
        epochs: passes over the training set.
        max_steps: stop after this many optimiser steps (None = no step limit; for short checks).
        max_minutes: stop after this many minutes of training even if epochs remain (the step-based
            schedule is then cut short, so size ``epochs`` to finish first). Old name: ``max_time_minutes``.
        batch_size: training batch size.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        amsgrad: AdamW's AMSGrad variant.
        seed: seeds Python, NumPy, PyTorch and the loader workers.
        num_workers: loader worker processes.
        precision: Lightning precision (``bf16-mixed`` autocast is about 2.9x faster than fp32 on a CPU with
            AVX-512 BF16).
        accelerator: Lightning accelerator (``auto``, ``cpu``, ``gpu``, ``cuda``, ``mps``, ``tpu``).
        limit_train_batches: fraction (float) or number (int) of training batches per epoch.
        val_every: validate every this many epochs.
    """

    # old key -> new key; read with a RenamedOptionWarning for one release
    RENAMED: ClassVar[dict[str, str]] = {"max_time_minutes": "max_minutes"}

    epochs: int = Field(40, ge=1)
    max_steps: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    amsgrad: bool = False
    seed: int = Field(7, ge=0, le=MAX_SEED)
    num_workers: int = Field(1, ge=0, le=MAX_LOADER_WORKERS)
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps", "tpu"] = "auto"  # Lightning's names (its hpu moved
    # out to another package: refused by Lightning itself after the run folder was made)
    # a fraction of the batches (float), or a number of batches (int)
    limit_train_batches: Annotated[float, Field(gt=0, le=1)] | Annotated[int, Field(ge=1)] = 1.0
    val_every: int = Field(1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:  # noqa: ANN401 - pydantic passes the raw input
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for old, new in cls.RENAMED.items():
            if old not in data:
                continue
            if new in data:
                raise ValueError(f"train.{old} and train.{new} are one option: keep train.{new}")
            data[new] = data.pop(old)
            warnings.warn(
                f"train.{old} is now train.{new}; the old name is read until the next release",
                RenamedOptionWarning,
                stacklevel=2,
            )
        return data
