"""``agriseg crop``: vegetation / crop / weed segmentation of field photos (DepthCropSeg++)."""

from __future__ import annotations

import click

from agriseg.cli.crop_labelfree import adapt, pseudolabel, screen, selftrain
from agriseg.cli.crop_predict import evaluate, models, predict
from agriseg.cli.crop_synthetic import make_synthetic
from agriseg.cli.crop_train import train
from agriseg.cli.crop_traits import plots, traits
from agriseg.cli.errors import requires_extra
from agriseg.cli.options import Group


@click.group(cls=Group)
def crop() -> None:
    """Crop / vegetation segmentation in field photos."""


# predict, evaluate, models, traits and screen run in the base install; the others name the extra they need
for _command in (train, pseudolabel, selftrain, adapt, make_synthetic):
    requires_extra(_command, "train")
requires_extra(plots, "geo")
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
