"""``agriseg fields download | run``: Sentinel-2 from a STAC API, and from an area to field polygons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from agriseg.cli.options import batch_options, outdir_option, output_option, renamed


@click.command()
@output_option("Output 8-band GeoTIFF (COG): window A R,G,B,NIR then window B R,G,B,NIR, uint16.")
@request_options
@batch_options()
@friendly_errors
def download(output: Path, overwrite: bool, strict: bool, **kw: Any) -> None:
    """Download a two-window Sentinel-2 L2A scene from a STAC API, ready for predict / map.

    Picks the least cloudy acquisition of each date range over the area (mosaicking neighbouring tiles), or
    takes the items given, and reads only the area's pixels. The item ids, acquisition times and BOA offset
    are stored as tags that predict and polygonize read. An interrupted download resumes.
    """
    from agriseg.fields.mapping.commands import download as run

    result = run(output, download_config(kw), scene_request(kw), overwrite, strict)
    for r in result:
        if r.get("items"):
            click.echo(
                f"{output}: {r['status']}, {r['size']}, window A {', '.join(r['items']['a'])}, "
                f"window B {', '.join(r['items']['b'])}; pixels with data: {r['valid']}"
            )
    finish(result, "downloaded", output)


@renamed(RENAMED)
@click.command()
@outdir_option("Output folder: <name>.tif, <name>_probs.tif, <name>_fields.parquet.")
@click.option("--name", default="scene", show_default=True, help="File name stem of the outputs.")
@request_options
@predict_options
@polygon_options
@batch_options()
@friendly_errors
def run(outdir: Path, name: str, overwrite: bool, strict: bool, **kw: Any) -> None:
    """Area + two date ranges -> field polygons: download, predict and polygonize in one command."""
    from agriseg.fields.mapping.commands import run_area

    pc, vc, rc = scene_configs(kw)
    result = run_area(outdir, name, download_config(kw), scene_request(kw), kw["model"], pc, vc, rc, overwrite, strict)
    for r in result:
        if r.get("fields_count") is not None:
            click.echo(f"{r['fields']}: {r['fields_count']} fields")
    finish(result, "mapped", outdir)
