"""``agriseg text sft | grpo``: LoRA SFT and GRPO with the Dice reward (TRL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.options import (
    TEXT_GRPO,
    TEXT_SFT,
    config_class,
    config_option,
    stack,
    train_options,
    train_overrides,
)
from agriseg.cli.text_helpers import _need_text_extra


def _training_command(name: str) -> Callable[[Callable[..., Any]], click.Command]:
    """A text training command: a YAML run config (``-c``), the training flags of every training command but
    ``--resume`` (TRL runs here keep no checkpoint) and ``--set`` overrides."""
    options = stack(config_option("text"), train_options("trl"), friendly_errors)
    return lambda fn: click.command(name)(options(fn))


def _run_config(ref: str, config_path: Path, flags: dict[str, Any]) -> Any:
    """The run config ``ref`` (``module:Class``) of the YAML file with the flags and ``--set`` overrides,
    validated."""
    _need_text_extra()
    from agriseg.config import load_config

    return load_config(config_path, config_class(ref), train_overrides(**flags, kind="trl"))


@_training_command("sft")
def sft_cmd(config_path: Path, overwrite: bool, **flags: Any) -> None:
    """LoRA SFT (TRL SFTTrainer) of a VLM on an instruction dataset."""
    from agriseg.text.sft import loss_summary, run_sft

    out = run_sft(_run_config(TEXT_SFT, config_path, flags), overwrite=overwrite)
    if said := loss_summary(json.loads((out / "log_history.json").read_text(encoding="utf-8"))):
        click.echo(said)
    click.echo(f"{out}: SFT model saved")


@_training_command("grpo")
def grpo_cmd(config_path: Path, overwrite: bool, **flags: Any) -> None:
    """GRPO post-training (TRL GRPOTrainer) with the mean-Dice reward and a KL penalty to the SFT model."""
    from agriseg.text.grpo import reward_curve, run_grpo

    out = run_grpo(_run_config(TEXT_GRPO, config_path, flags), overwrite=overwrite)
    curve = reward_curve(json.loads((out / "log_history.json").read_text(encoding="utf-8")))
    if len(curve) > 1:
        click.echo(f"reward (mean Dice) {curve[0][1]:.4f} -> {curve[-1][1]:.4f}; validity {curve[-1][3]:.3f}")
    elif curve:  # one logged value (logging_steps >= the steps): no change to show ("0.7207 -> 0.7207")
        click.echo(f"reward (mean Dice) {curve[0][1]:.4f} (one logged value); validity {curve[0][3]:.3f}")
    click.echo(f"{out}: GRPO model saved")
