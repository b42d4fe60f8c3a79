"""``agriseg crop train``: train a crop / vegetation model from a YAML config."""

from __future__ import annotations

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.options import config_option, set_option


@click.command()
@config_option("crop")
@click.option("--resume", type=click.Path(dir_okay=False), default=None, help="Lightning checkpoint to resume from.")
@click.option("--epochs", type=int, default=None, help="Override the config's epochs.")
@set_option()
@friendly_errors
def train(config_path: str, resume: str | None, epochs: int | None, overrides: tuple[str, ...]) -> None:
    """Train a model from a config; writes checkpoints and model.safetensors to its output_dir."""
    from agriseg.config import load_config
    from agriseg.crop.config import CropTrainConfig
    from agriseg.crop.train import train_crop

    cfg = load_config(config_path, CropTrainConfig, overrides)
    res = train_crop(cfg, resume=resume, max_epochs=epochs)
    which = "last" if cfg.train.export == "last" else "best"
    click.echo(f"{which} checkpoint (exported): {res['best_checkpoint']}\nmodel: {res['model']}")
    click.echo(f"validation: mIoU {100 * res['val']['val/miou']:.2f}  bIoU {100 * res['val']['val/biou']:.2f}")
