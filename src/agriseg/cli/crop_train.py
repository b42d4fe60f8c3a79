"""``agriseg crop train``: train a crop / vegetation model from a YAML config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agriseg.cli.errors import config_named, friendly_errors
from agriseg.cli.options import config_option, train_options, train_overrides


@click.command()
@config_option("crop")
@train_options()
@friendly_errors
def train(config_path: Path, resume: str | None, overwrite: bool, **flags: Any) -> None:
    """Train a model from a config; writes checkpoints and model.safetensors to its output_dir."""
    from agriseg.config import load_config
    from agriseg.crop.config import CropTrainConfig

    overrides = train_overrides(**flags)
    cfg = load_config(config_path, CropTrainConfig, overrides)  # before Lightning's 10 s import
    from agriseg.crop.train import train_crop

    with config_named(config_path, overrides):
        click.echo(train_crop(cfg, resume=resume, overwrite=overwrite)["summary"])
