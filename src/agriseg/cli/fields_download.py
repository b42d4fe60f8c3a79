"""``agriseg fields download | run``: Sentinel-2 from a STAC API, and from an area to field polygons."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agriseg.cli.errors import finish, friendly_errors
from agriseg.cli.fields_stac_options import (
    RENAMED,
    download_config,
    polygon_options,
    predict_options,
    request_options,
    scene_configs,
    scene_request,
)
from agriseg.cli.options import (
    batch_options,
    memory_check_option,
    model_option,
    outdir_option,
    output_option,
    renamed,
)

if TYPE_CHECKING:
    from agriseg.batch import BatchOptions


@click.command()
@output_option("Output GeoTIFF (COG), uint16: window A R,G,B,NIR then window B R,G,B,NIR, or what -m reads.")
@request_options
@model_option("fields", dest="model", resolve=False)
@memory_check_option()
@batch_options()
@friendly_errors
def download(output: Path, model: str | None, batch: BatchOptions, **kw: Any) -> None:
    """Download a Sentinel-2 L2A scene from a STAC API, ready for predict / map.

    Picks the least cloudy acquisition of each date range over the area (mosaicking neighbouring tiles), or
    takes the items given, and reads only the area's pixels. With --season auto the date ranges come from
    the global crop calendar. With -m, what that model reads: one window for single-window models, RGB for
    DelineateAnything (default: two windows of R,G,B,NIR). The item ids, acquisition times and BOA offset
    are stored as tags that predict and polygonize read. An interrupted download resumes.
    """
    from agriseg.fields.mapping.commands import download as run

    finish(run(output, download_config(kw), scene_request(kw), model, batch), "downloaded", output)


@renamed(RENAMED)
@click.command()
@outdir_option(
    "Output folder: <name>.tif, <name>_probs.tif (_instances.tif), <name>_fields.parquet, <name>_run.json "
    "(and <name>_landcover.tif with --landcover)."
)
@click.option("--name", default="scene", show_default=True, help="File name stem of the outputs.")
@request_options
@predict_options
@polygon_options
@batch_options()
@friendly_errors
def run(outdir: Path, name: str, batch: BatchOptions, **kw: Any) -> None:
    """Area + season -> field polygons: download what the model reads, predict and polygonize in one command.

    Writes <name>_run.json: the inputs and options of the run (area, season dates and their source, items,
    model and its digest, land-cover source).
    """
    from agriseg.fields.mapping.commands import run_area

    pc, vc, rc = scene_configs(kw)
    request = scene_request(kw)
    result = run_area(outdir, name, download_config(kw), request, kw["model"], pc, vc, rc, kw["sha256"], batch)
    finish(result, "mapped", outdir)
