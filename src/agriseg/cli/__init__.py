"""The ``agriseg`` command line: click groups per domain, heavy imports inside commands.

``agriseg --help`` imports nothing beyond click, so it answers instantly.
"""

from __future__ import annotations

import click

from agriseg import __version__
from agriseg.cli.crop import crop


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="agriseg")
def main() -> None:
    """agriseg: agricultural image segmentation.

    \b
    crop    vegetation / crop / weed masks in field photos (DepthCropSeg++)
    fields  field boundaries from Sentinel-2 (PRUE)
    text    multimodal-LLM segmentation with masks as text (MAgSeg)
    """


main.add_command(crop)


def _add_optional_groups() -> None:
    import importlib

    for mod, attr in (("agriseg.cli.fields", "fields"), ("agriseg.cli.text", "text")):
        try:
            main.add_command(getattr(importlib.import_module(mod), attr))
        except ModuleNotFoundError as err:
            if err.name != mod:
                raise


_add_optional_groups()
