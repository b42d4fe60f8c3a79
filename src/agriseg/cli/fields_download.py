"""``agriseg fields download | run``: Sentinel-2 from a STAC API, and from an area to field polygons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.fields_map import _configs, _polygon_options, _predict_options, _preprocess_overrides
from agriseg.cli.fields_stac_options import date_options, download_config, stac_options, window_dates
from agriseg.cli.options import outdir_option, output_option, overwrite_option, stack

_download_options = stack(
    click.option("--bbox", default=None, help="area: W,S,E,N in degrees (EPSG:4326), or a vector file (its bounds)"),
    date_options,
    click.option("--win-a", multiple=True, help="window A item id or item URL instead of a search (repeat to mosaic)"),
    click.option("--win-b", multiple=True, help="window B item id or item URL instead of a search (repeat to mosaic)"),
    stac_options,
)


def _download(kw: dict[str, Any], output: Path, overwrite: bool) -> Any:
    """Parse the download options and run :func:`agriseg.fields.download.download_scene`."""
    from agriseg.fields.download import download_scene
    from agriseg.fields.stac import area_bbox

    cfg = download_config(kw)
    bbox = area_bbox(kw["bbox"]) if kw["bbox"] else None
    dates = window_dates(kw)
    for w in ("a", "b"):
        if not kw[f"win_{w}"] and (bbox is None or dates[w] is None):
            raise click.UsageError(f"window {w.upper()}: give --win-{w} ITEM, or --bbox with --win-{w}-dates")
    res = download_scene(
        output,
        cfg,
        bbox=bbox,
        win_a_dates=dates["a"],
        win_b_dates=dates["b"],
        win_a=kw["win_a"],
        win_b=kw["win_b"],
        overwrite=overwrite,
    )
    if res.status == "skipped":
        click.echo(f"{output}: exists, skipped (use --overwrite)")
    else:
        cover = ", ".join(f"{w.upper()} {v:.0%}" for w, v in res.valid_fraction.items())
        click.echo(
            f"{output}: {res.status}, {res.width}x{res.height} px, window A {', '.join(res.items['a'])}, "
            f"window B {', '.join(res.items['b'])}; pixels with data: {cover}"
        )
    return res


@click.command()
@output_option("output 8-band GeoTIFF (COG): window A R,G,B,NIR then window B R,G,B,NIR, uint16")
@_download_options
@overwrite_option("download again even if the output exists (otherwise it is kept; an interrupted run resumes)")
@friendly_errors
def download(output: str, overwrite: bool, **kw: Any) -> None:
    """Download a two-window Sentinel-2 L2A scene from a STAC API, ready for predict / map.

    Picks the least cloudy acquisition of each date range over the area (mosaicking neighbouring tiles), or
    takes the items given, and reads only the area's pixels. The item ids, acquisition times and BOA offset
    are stored as tags that predict and polygonize read.
    """
    _download(kw, Path(output), overwrite)


@click.command()
@outdir_option("output folder: <name>.tif, <name>_probs.tif, <name>_fields.parquet")
@click.option("--name", default="scene", show_default=True, help="file name stem of the outputs")
@_download_options
@_predict_options
@_polygon_options
@overwrite_option("recompute existing outputs")
@friendly_errors
def run(outdir: Path, name: str, overwrite: bool, collection: str, **kw: Any) -> None:
    """Area + two date ranges -> field polygons: download, predict and polygonize in one command."""
    import torch

    from agriseg.fields.mapping.scene import SceneJob, run_scene

    scene = outdir / f"{name}.tif"
    _download(kw, scene, overwrite)
    if kw["threads"]:
        torch.set_num_threads(int(kw["threads"]))
    pc, vc = _configs(kw)
    job = SceneJob(
        str(scene),
        str(outdir),
        str(kw["model"]),
        predict=pc,
        polygonize=vc,
        resize=kw["resize"],
        preprocess=_preprocess_overrides(kw),
        threads=int(kw["threads"]) or torch.get_num_threads(),
        overwrite=overwrite,
        collection=collection,
    )
    row = run_scene(job)
    click.echo(f"{row['probs']}: {row['status']}")
    click.echo(f"{row['fields']}: {row.get('fields_count', 'kept')} fields")
