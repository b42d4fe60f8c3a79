"""Typed configs for text-mask SFT, GRPO and prediction (YAML files validate on load).

Defaults are the CPU-safe choices: ``use_cpu`` when no GPU, never bf16 on CPU, no gradient checkpointing.
MAgSeg's own hyperparameter values did not survive in the paper text we have (numbers were stripped), so the
Gemma 3 configs under ``configs/text/`` mark them as open choices.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agriseg.config import StrictModel


class LoraSpec(StrictModel):
    """LoRA adapter settings (peft). ``enabled: false`` trains every weight (tiny from-scratch models)."""

    enabled: bool = True
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    #: merge the adapter into the weights when saving (GRPO then keeps its KL reference at the SFT model)
    merge_on_save: bool = True


class TrainCommon(StrictModel):
    """Settings shared by SFT and GRPO."""

    model: str = Field(..., description="Hugging Face VLM id or local folder (full model or LoRA adapter)")
    dataset: str = Field(..., description="folder written by `agriseg text dataset` (datasets.save_to_disk)")
    output_dir: str
    chat_template: str | None = Field(None, description="Jinja file for models without a chat template")
    lora: LoraSpec = LoraSpec()
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler_type: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    per_device_train_batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_steps: int = Field(-1, description="-1: train num_train_epochs epochs")
    num_train_epochs: float = Field(1.0, gt=0)
    seed: int = 0
    logging_steps: int = Field(10, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    gradient_checkpointing: bool = False
    dataloader_num_workers: int = Field(0, ge=0)
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
    epsilon: float = Field(0.2, gt=0)
    temperature: float = Field(1.0, gt=0)
    max_completion_length: int = Field(512, ge=8, description="must fit a whole RRLE mask")
    validity_weight: float = Field(0.0, ge=0.0, description="extra reward for a mask needing no repair")
    include_background: bool = False
    dice_smooth: float = Field(1.0, gt=0)
    generation_batch_size: int | None = None


class PredictConfig(StrictModel):
    """Patch-grid inference settings (``agriseg text predict`` and :func:`agriseg.text.infer.predict_many`)."""

    patch: int = Field(32, ge=2, description="patch side in pixels")
    grid: int = Field(16, ge=1, description="RRLE cells per patch side")
    overlap: float = Field(0.0, ge=0.0, lt=1.0, description="patch overlap; > 0 votes per pixel")
    vote: Literal["count", "center"] = Field("count", description="equal votes, or weighted to patch centres")
    batch_size: int = Field(16, ge=1)
    max_new_tokens: int = Field(512, ge=8)
    do_sample: bool = False
    temperature: float = Field(1.0, gt=0)
