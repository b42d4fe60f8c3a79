"""``agriseg fields``: field boundaries from two-window Sentinel-2 imagery (PRUE / Fields of The World)."""

from __future__ import annotations

import click

from agriseg.cli.errors import requires_extra
from agriseg.cli.fields_checkpoints import export, import_checkpoint
from agriseg.cli.fields_download import download, run
from agriseg.cli.fields_map import change, map_, polygonize, predict
from agriseg.cli.fields_models import models
from agriseg.cli.fields_train import evaluate, make_synthetic, robustness, train
from agriseg.cli.options import Group


@click.group(cls=Group)
def fields() -> None:
    """Field-boundary segmentation and mapping from two-date Sentinel-2 imagery."""


for _command in (
    make_synthetic,
    train,
    evaluate,
    robustness,
    import_checkpoint,
    export,
    predict,
    polygonize,
    map_,
    change,
    download,
    run,
    models,
):
    fields.add_command(_command)
requires_extra(fields, "fields")  # every command names the install line when the extra is missing
