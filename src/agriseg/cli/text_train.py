"""``agriseg text sft | grpo``: LoRA SFT and GRPO with the Dice reward (TRL)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.options import config_option, set_option
from agriseg.cli.text_helpers import _need_text_extra


@click.command("sft")
@config_option("text")
@set_option()
@friendly_errors
def sft_cmd(config_path: Path, overrides: tuple[str, ...]) -> None:
    """LoRA SFT (TRL SFTTrainer) of a VLM on an instruction dataset."""
    _need_text_extra()
    from agriseg.config import load_config
    from agriseg.text.config import SFTRunConfig
    from agriseg.text.sft import run_sft

    out = run_sft(load_config(config_path, SFTRunConfig, overrides))
    click.echo(f"{out}: SFT model saved")


@click.command("grpo")
@config_option("text")
@set_option()
@friendly_errors
def grpo_cmd(config_path: Path, overrides: tuple[str, ...]) -> None:
    """GRPO post-training (TRL GRPOTrainer) with the mean-Dice reward and a KL penalty to the SFT model."""
    _need_text_extra()
    from agriseg.config import load_config
    from agriseg.text.config import GRPORunConfig
    from agriseg.text.grpo import reward_curve, run_grpo

    out = run_grpo(load_config(config_path, GRPORunConfig, overrides))
    curve = reward_curve(json.loads((out / "log_history.json").read_text()))
    if curve:
        click.echo(f"reward (mean Dice) {curve[0][1]:.4f} -> {curve[-1][1]:.4f}; validity {curve[-1][3]:.3f}")
    click.echo(f"{out}: GRPO model saved")
