"""``agriseg fields``: field boundaries from Sentinel-2 (PRUE / Fields of The World)."""

from __future__ import annotations

import click


@click.group()
def fields() -> None:
    """Field-boundary segmentation and mapping from two-date Sentinel-2 imagery."""


def _register() -> None:
    from agriseg.cli import _plugins

    # fields_train: data, train, evaluate, robustness, checkpoint import/export (issue 5)
    # fields_map: predict, polygonize, map, change (issue 6)
    _plugins.load("agriseg.cli.fields_train", "agriseg.cli.fields_map")


_register()
