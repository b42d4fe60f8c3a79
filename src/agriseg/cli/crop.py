"""``agriseg crop``: vegetation / crop / weed segmentation of field photos (DepthCropSeg++)."""

from __future__ import annotations

import click

from agriseg.cli.crop_labelfree import adapt, pseudolabel, screen, selftrain
from agriseg.cli.crop_predict import evaluate, models, predict
from agriseg.cli.crop_synthetic import make_synthetic
from agriseg.cli.crop_train import train
from agriseg.cli.crop_traits import plots, traits


@click.group()
def crop() -> None:
    """Crop / vegetation segmentation in field photos."""


for _command in (
    predict,
    evaluate,
    models,
    train,
    pseudolabel,
    screen,
    selftrain,
    adapt,
    traits,
    plots,
    make_synthetic,
):
    crop.add_command(_command)
