"""Typed configs for text-mask SFT, GRPO and prediction (YAML files validate on load).

Defaults are the CPU-safe choices: ``use_cpu`` when no GPU, never bf16 on CPU, no gradient checkpointing.
MAgSeg's own hyperparameter values did not survive in the paper text we have (numbers were stripped), so the
Gemma 3 configs under ``configs/text/`` mark them as open choices.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from agriseg.config import MAX_LOADER_WORKERS, MAX_SEED, StrictModel, device_name, renamed_names
from agriseg.text.tinyvlm import TinyVLMConfig

SYNTH_CLASSES: tuple[str, ...] = ("others", "field", "tree", "water")
# the text commands' options named otherwise than the config fields they set (--tile sets ``patch``, --blend ``vote``)
OPTION_FIELDS = {"tile": "patch", "blend": "vote"}


class LandscapeConfig(StrictModel):
    """Parameters of the synthetic landscapes (lengths are fractions of the image side unless noted).

    Attributes:
        size: image side in pixels.
        max_fields: most field parcels per image (at least 1 is drawn).
        field_radius: smallest and largest mean radius of a parcel.
        max_tree_clumps: most tree clumps per image (0 or more are drawn).
        clump_radius: smallest and largest radius of a tree clump.
        water_prob: probability of one pond.
        water_radius: smallest and largest mean radius of a pond.
        track_prob: probability of a straight track (``others``) across the image.
        noise: std of the per-pixel colour noise (0-255 scale).
    """

    size: int = Field(64, ge=8)
    max_fields: int = Field(3, ge=1)
    field_radius: tuple[float, float] = (0.22, 0.4)
    max_tree_clumps: int = Field(2, ge=0)
    clump_radius: tuple[float, float] = (0.11, 0.2)
    water_prob: float = Field(0.5, ge=0.0, le=1.0)
    water_radius: tuple[float, float] = (0.16, 0.28)
    track_prob: float = Field(0.4, ge=0.0, le=1.0)
    noise: float = Field(6.0, ge=0.0, le=255.0)  # colours are 0-255

    model_config = ConfigDict(frozen=True)  # merged with StrictModel's by pydantic


class LoraAdapterConfig(StrictModel):
    """LoRA adapter settings (peft). ``enabled: false`` trains every weight (tiny from-scratch models)."""

    enabled: bool = True
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: Annotated[list[str], Field(min_length=1)] | Literal["all-linear"] = "all-linear"
    #: merge the adapter into the weights when saving (GRPO then keeps its KL reference at the SFT model)
    merge_on_save: bool = True

    @field_validator("target_modules", mode="before")
    @classmethod
    def _one_kind(cls, v: object) -> object:
        """One message for a value that is neither kind (pydantic said one per member of the union, at odds)."""
        if v == "all-linear" or (isinstance(v, list) and v and all(isinstance(n, str) and n for n in v)):
            return v
        raise ValueError("a list of layer names (e.g. [q_proj, v_proj]) or all-linear")


class TrainCommon(StrictModel):
    """Settings shared by SFT and GRPO."""

    model: str = Field(..., description="Hugging Face VLM id or local folder (full model or LoRA adapter)")
    dataset: str = Field(..., description="folder written by `agriseg text dataset` (datasets.save_to_disk)")
    output_dir: str = Field(min_length=1)
    chat_template: str | None = Field(None, description="Jinja file for models without a chat template")
    lora: LoraAdapterConfig = LoraAdapterConfig()
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler_type: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    per_device_train_batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_steps: int = Field(-1, ge=-1, description="-1: train num_train_epochs epochs")
    num_train_epochs: float = Field(1.0, gt=0)
    max_minutes: float | None = Field(None, gt=0, description="stop training after this wall time (then save)")
    seed: int = Field(0, ge=0, le=MAX_SEED)
    logging_steps: int = Field(10, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"

    @field_validator("output_dir", "model", "dataset")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():  # "   " made a folder named three spaces
            raise ValueError("give a folder (the value is blank)")
        return v

    @field_validator("chat_template")
    @classmethod
    def _template_named(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():  # "" was read as "no template" without a word
            raise ValueError("give a template file (the value is blank), or leave the key out")
        return v

    @field_validator("max_steps")
    @classmethod
    def _steps(cls, v: int) -> int:
        if v == 0:  # the trainer would still take one step
            raise ValueError("0 steps trains nothing: give 1 or more, or -1 to train num_train_epochs epochs")
        return v

    @model_validator(mode="after")
    def _warmup_read(self) -> TrainCommon:
        if self.warmup_steps and self.lr_scheduler_type == "constant":  # transformers' constant has no warm-up
            raise ValueError(
                f"warmup_steps {self.warmup_steps} is not read by lr_scheduler_type constant; use "
                "constant_with_warmup (or warmup_steps 0)"
            )
        return self

    gradient_checkpointing: bool = False
    dataloader_num_workers: int = Field(0, ge=0, le=MAX_LOADER_WORKERS)
    max_samples: int | None = Field(None, ge=1, description="use only the first N samples")


class SFTRunConfig(TrainCommon):
    """LoRA SFT (TRL ``SFTTrainer``) on the instruction dataset; loss on the completion only."""

    max_length: int | None = Field(None, ge=1, description="must fit image tokens + prompt + whole mask")


class GRPORunConfig(TrainCommon):
    """GRPO (TRL ``GRPOTrainer``) with the mean-Dice reward; defaults are the paper's choices where TRL's
    differ (loss ``grpo``, KL ``beta`` > 0, group-normalised rewards)."""

    learning_rate: float = Field(1e-5, gt=0)
    beta: float = Field(0.04, gt=0.0, description="KL penalty against the reference (SFT) model")
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "grpo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    num_generations: int = Field(8, ge=2)
    num_iterations: int = Field(1, ge=1, description="> 1 for the clip epsilon to matter")
    epsilon: float = Field(0.2, gt=0, lt=1, description="PPO-style clip of the ratio to 1 +- epsilon")
    temperature: float = Field(1.0, gt=0)
    top_k: int = Field(0, ge=0, description="rollouts sample from the k likeliest tokens (0: all)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="rollouts sample from this probability mass (1: all)")
    max_completion_length: int = Field(512, ge=8, description="must fit a whole RRLE mask")
    validity_weight: float = Field(0.0, ge=0.0, description="extra reward for a mask needing no repair")
    repaired_rows: Literal["keep", "wrong"] = Field(
        "keep", description="score repaired rows as decoded, or as wrong (the reward then sees overlong rows)"
    )
    include_background: bool = False
    dice_smooth: float = Field(1.0, gt=0)
    generation_batch_size: int | None = Field(None, ge=1, description="completions per generation step")

    def generation_batch(self) -> int:
        """Completions per generation step: ``generation_batch_size``, else batch size x accumulation steps."""
        return self.generation_batch_size or self.per_device_train_batch_size * self.gradient_accumulation_steps

    @model_validator(mode="after")
    def _whole_groups(self) -> GRPORunConfig:
        if self.generation_batch() % self.num_generations:
            given = (
                "generation_batch_size"
                if self.generation_batch_size
                else "per_device_train_batch_size x gradient_accumulation_steps"
            )
            raise ValueError(
                f"the generation batch {self.generation_batch()} ({given}) must be a multiple of "
                f"num_generations ({self.num_generations}): each prompt's completions form one group"
            )
        if self.generation_batch_size and self.generation_batch_size % self.per_device_train_batch_size:
            # TRL's own check, said after the model had loaded, naming neither field of the config (exit 1)
            raise ValueError(
                f"generation_batch_size {self.generation_batch_size} must be a multiple of "
                f"per_device_train_batch_size ({self.per_device_train_batch_size}): each step takes whole batches"
            )
        return self


class _PatchInference(StrictModel):
    """What patch-grid inference and ``agriseg text predict`` share: everything but the patch and the grid."""

    overlap: float = Field(0.0, ge=0.0, lt=1.0, description="patch overlap; > 0 votes per pixel")
    vote: Literal["count", "center"] = Field("center", description="equal votes, or weighted to patch centres")
    batch_size: int = Field(16, ge=1)
    max_new_tokens: int = Field(512, ge=8)
    do_sample: bool = False
    temperature: float = Field(1.0, gt=0)
    patch_image: bool = Field(
        False, description="pass each patch as an image before the whole image (as the model was trained)"
    )


def grid_within_patch(grid: int | None, info: ValidationInfo) -> int | None:
    """A field validator: the RRLE grid has at most one cell per pixel of the patch."""
    patch = info.data.get("patch")
    if grid is not None and patch is not None and grid > patch:
        raise ValueError(f"{grid} cells cannot fit a patch of {patch} px (at most one cell per pixel)")
    return grid


class PredictConfig(_PatchInference):
    """Patch-grid inference settings (:func:`agriseg.text.infer.predict_image` and friends)."""

    patch: int = Field(32, ge=2, description="patch side in pixels")
    grid: int = Field(16, ge=1, le=4096, description="RRLE cells per patch side")

    _grid = field_validator("grid")(grid_within_patch)


class TextPredictConfig(_PatchInference):
    """``agriseg text predict``: the :class:`PredictConfig` settings, with the patch and grid the model was
    trained with (saved in its folder) unless given, and where the model runs."""

    patch: int | None = Field(None, ge=2, description="patch side in pixels; None = the model folder's")
    grid: int | None = Field(None, ge=1, le=4096, description="RRLE cells per patch side; None = the model folder's")
    patch_image: bool | None = Field(  # type: ignore[assignment]  # None: decided per model
        None,
        description="pass each tile at full resolution as a first image, before the whole image (as the model was "
        "trained); None = the model folder's, else off",
    )
    device: str = Field("auto", description="torch device: auto (a GPU when there is one), cpu, cuda, cuda:N")
    instances: bool = Field(True, description="also write watershed instances and their polygons")

    _grid = field_validator("grid")(grid_within_patch)

    @field_validator("device")
    @classmethod
    def _device_name(cls, v: str) -> str:
        return device_name(v, auto=True)


class TextEvaluateConfig(StrictModel):
    """``agriseg text evaluate``: how predictions are scored against true masks."""

    iou_threshold: float = Field(0.5, gt=0.0, le=1.0, description="IoU at which a true instance counts as found")
    min_size: int = Field(4, ge=0, description="instances under this many pixels are ignored (truth and predicted)")
    ignore_value: int = Field(
        255,
        ge=-(2**31),
        le=65535,
        description="truth value left out of every metric (nodata; -1 or -9999 in signed masks)",
    )


class DemoConfig(StrictModel):
    """Every setting of the CPU demonstration (``scripts/text_demo.py``) in one place.

    A from-scratch tiny Gemma 3 (:class:`agriseg.text.tinyvlm.TinyVLMConfig`) is fully fine-tuned (no LoRA:
    LoRA adapts pretrained weights, and this model has none) with SFT, then post-trained with GRPO and the
    mean-Dice reward, on synthetic landscapes (:class:`agriseg.text.synthetic.LandscapeConfig`). The
    ``agriseg text sft/grpo`` defaults stay those for real models (LoRA on Gemma 3 4B/12B).

    Attributes:
        landscape: the synthetic images (their side is the image size).
        model: the tiny VLM (its ``image_size`` must equal the landscape size).
        patch: patch side in pixels (MAgSeg's P).
        grid: RRLE cells per patch side.
        patch_image: pass the patch itself as a first image, before the whole image (see
            :class:`agriseg.text.dataset.PatchConfig`).
        train_align: training patch corners lie on this lattice (the overlap-voting stride must be on it).
        train_images: training images per seed.
        per_image: random training patches per image.
        val_images: validation images (for choosing settings; never the held-out ones).
        eval_images: held-out images, the same for every seed and stage.
        calib_images: images whose pure cells give the nearest-colour baseline its class colours.
        train_seed_base: training images of seed ``s`` are drawn from seed ``train_seed_base + s``.
        val_seed: seed of the validation images.
        eval_seed: seed of the held-out images.
        calib_seed: seed of the calibration images.
        vision_warmup_steps: steps of :func:`agriseg.text.tinyvlm.warm_start_vision` before SFT (0: none), a
            stand-in for the pretrained vision encoder a real Gemma 3 brings.
        vision_warmup_lr: its peak learning rate.
        vision_warmup_batch: its images per step.
        vision_warmup_position: weight of its position task (each token's row and column; 0: classes only).
        sft_steps: SFT optimiser steps.
        sft_batch: SFT batch size (patches).
        sft_lr: SFT peak learning rate (cosine decay).
        sft_warmup: SFT warm-up steps.
        grpo_steps: GRPO optimiser steps.
        grpo_prompts_per_step: prompts per GRPO step (each generates ``grpo_generations`` completions).
        grpo_generations: completions per prompt (the group).
        grpo_lr: GRPO learning rate (constant).
        grpo_beta: KL weight against the SFT model.
        grpo_iterations: optimisation passes per generation batch (> 1: the clip matters).
        grpo_temperature: rollout temperature.
        grpo_top_k: rollouts sample from the k likeliest tokens (0: all, as MAgSeg).
        grpo_validity_weight: extra reward for a completion needing no repair (0: Dice only, as MAgSeg).
        grpo_repaired_rows: how the Dice reward scores rows the decoder repaired (see
            :class:`agriseg.text.reward.DiceReward`).
        grpo_loss_type: TRL's loss aggregation (``grpo`` is the paper's).
        grpo_scale_rewards: advantage scaling (``group``: the paper's (r - mean) / std per group).
        max_new_tokens: generation budget per patch (a whole 8x8 mask is at most a few hundred tokens).
        eval_batch: patches per ``generate`` call at evaluation.
        vote_overlap: patch overlap of the voting inference (its stride must be a multiple of the cell).
        vote: vote weighting of the voting inference.
        match_iou: IoU at which a truth instance counts as found.
        min_instance_px: truth and predicted instances smaller than this are ignored (one grid cell is
            ``(patch / grid) ** 2`` pixels).
    """

    landscape: LandscapeConfig = LandscapeConfig(size=64)
    model: TinyVLMConfig = TinyVLMConfig(
        image_size=64,
        vision_patch=8,
        mm_tokens_per_image=64,
        hidden=128,
        intermediate=256,
        layers=4,
        heads=4,
        kv_heads=2,
    )
    patch: int = Field(32, ge=2)
    grid: int = Field(8, ge=1, le=4096)  # codec.MAX_GRID_SIDE
    patch_image: bool = True
    train_align: int = Field(16, ge=1)
    train_images: int = Field(5000, ge=1)
    per_image: int = Field(4, ge=1)
    val_images: int = Field(100, ge=1)
    eval_images: int = Field(500, ge=1)
    calib_images: int = Field(200, ge=1)
    train_seed_base: int = Field(10_000, ge=0, le=MAX_SEED)
    val_seed: int = Field(555, ge=0, le=MAX_SEED)
    eval_seed: int = Field(987_654, ge=0, le=MAX_SEED)
    calib_seed: int = Field(4_242, ge=0, le=MAX_SEED)
    vision_warmup_steps: int = Field(2000, ge=0)
    vision_warmup_lr: float = Field(3e-3, gt=0)
    vision_warmup_batch: int = Field(32, ge=1)
    vision_warmup_position: float = Field(1.0, ge=0)
    sft_steps: int = Field(2500, ge=1)
    sft_batch: int = Field(16, ge=1)
    sft_lr: float = Field(2e-3, gt=0)
    sft_warmup: int = Field(30, ge=0)
    grpo_steps: int = Field(120, ge=1)
    grpo_prompts_per_step: int = Field(4, ge=1)
    grpo_generations: int = Field(8, ge=2)
    grpo_lr: float = Field(2e-5, gt=0)
    grpo_beta: float = Field(0.01, gt=0)
    grpo_iterations: int = Field(2, ge=1)
    grpo_temperature: float = Field(1.0, gt=0)
    grpo_top_k: int = Field(0, ge=0)
    grpo_validity_weight: float = Field(0.0, ge=0)
    grpo_repaired_rows: Literal["keep", "wrong"] = "wrong"
    grpo_loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "grpo"
    grpo_scale_rewards: Literal["group", "batch", "none"] = "group"
    max_new_tokens: int = Field(160, ge=8)
    eval_batch: int = Field(250, ge=1)
    vote_overlap: float = Field(0.5, ge=0.0, lt=1.0)
    vote: Literal["count", "center"] = "center"
    match_iou: float = Field(0.5, gt=0.0, le=1.0)
    min_instance_px: int = Field(16, ge=1)

    @model_validator(mode="after")
    def _fits(self) -> DemoConfig:
        if self.model.image_size != self.landscape.size:
            raise ValueError(f"model.image_size {self.model.image_size} != landscape.size {self.landscape.size}")
        if self.landscape.size % self.patch or self.patch % self.grid:
            raise ValueError(f"image {self.landscape.size} px, patch {self.patch} px and grid {self.grid} do not nest")
        return self


# renamed to the *Config suffix: the old names work for one more release, with a warning
__getattr__ = renamed_names(globals(), {"LoraSpec": "LoraAdapterConfig"})
