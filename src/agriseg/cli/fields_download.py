"""``agriseg fields download | run``: Sentinel-2 from a STAC API, and from an area to field polygons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.fields_map import _configs, _polygon_options, _predict_options, _preprocess_overrides
from agriseg.cli.fields_stac_options import (
    date_options,
    download_config,
    season_request,
    stac_options,
    window_dates,
)
from agriseg.cli.options import outdir_option, output_option, overwrite_option, stack

_download_options = stack(
    click.option("--bbox", default=None, help="area: W,S,E,N in degrees (EPSG:4326), or a vector file (its bounds)"),
    date_options,
    click.option("--win-a", multiple=True, help="window A item id or item URL instead of a search (repeat to mosaic)"),
    click.option("--win-b", multiple=True, help="window B item id or item URL instead of a search (repeat to mosaic)"),
    stac_options,
)


def _download(kw: dict[str, Any], output: Path, overwrite: bool, model: str | None) -> tuple[Any, dict[str, Any]]:
    """Parse the download options and run :func:`agriseg.fields.download.download_scene`.

    Returns:
        The download result and what was asked (windows, bands, dates and how they were chosen).
    """
    from agriseg.fields.download import download_scene
    from agriseg.fields.registry import RGBN, model_inputs
    from agriseg.fields.stac import area_bbox

    cfg = download_config(kw)
    bbox = area_bbox(kw["bbox"]) if kw["bbox"] else None
    windows, bands = model_inputs(model) if model else (("a", "b"), RGBN)
    dates = window_dates(kw)
    season = season_request(kw)
    asked: dict[str, Any] = {"bbox": list(bbox) if bbox else None, "windows": list(windows), "bands": list(bands)}
    if season is not None:
        if bbox is None:
            raise click.UsageError("--season auto needs --bbox (the calendar is read over the area)")
        from agriseg.fields.calendar import season_dates

        chosen = season_dates(bbox, **season)
        asked["season"] = chosen.record()
        manual = {w: dates[w] for w in ("a", "b") if dates[w] is not None}
        dates = {"a": dates["a"] or chosen.win_a, "b": dates["b"] or chosen.win_b}
        asked["season"]["manual_windows"] = sorted(manual)
        click.echo(
            f"crop calendar ({chosen.crop_season} crops, {chosen.how}): season {chosen.start} to {chosen.end}"
            f"{' (crosses the new year)' if chosen.crosses_year else ''}; window A {'/'.join(dates['a'])}"
            + (f", window B {'/'.join(dates['b'])}" if "b" in windows else "")
        )
    for w in windows:
        if not kw[f"win_{w}"] and (bbox is None or dates[w] is None):
            raise click.UsageError(
                f"window {w.upper()}: give --win-{w} ITEM, or --bbox with --win-{w}-dates or --season auto"
            )
    asked["dates"] = {w: list(dates[w]) if dates[w] else None for w in windows}
    res = download_scene(
        output,
        cfg,
        bbox=bbox,
        win_a_dates=dates["a"],
        win_b_dates=dates["b"],
        win_a=kw["win_a"],
        win_b=kw["win_b"],
        overwrite=overwrite,
        windows=windows,
        bands=bands,
        extra_tags={"AGRISEG_SEASON": json.dumps(asked["season"])} if "season" in asked else None,
    )
    if res.status == "skipped":
        click.echo(f"{output}: exists, skipped (use --overwrite)")
    else:
        cover = ", ".join(f"{w.upper()} {v:.0%}" for w, v in res.valid_fraction.items())
        items = "; ".join(f"window {w.upper()} {', '.join(i)}" for w, i in res.items.items())
        click.echo(f"{output}: {res.status}, {res.width}x{res.height} px, {items}; pixels with data: {cover}")
    asked["items"] = res.items
    return res, asked


@click.command()
@output_option("output GeoTIFF (COG), uint16: window A R,G,B,NIR then window B R,G,B,NIR, or what -m needs")
@_download_options
@click.option(
    "--model",
    "-m",
    default=None,
    help="download what this model reads (registry name or file): one window for single-window models, RGB "
    "for DelineateAnything [default: two windows of R,G,B,NIR]",
)
@overwrite_option("download again even if the output exists (otherwise it is kept; an interrupted run resumes)")
@friendly_errors
def download(output: str, overwrite: bool, model: str | None, **kw: Any) -> None:
    """Download a Sentinel-2 L2A scene from a STAC API, ready for predict / map.

    Picks the least cloudy acquisition of each date range over the area (mosaicking neighbouring tiles), or
    takes the items given, and reads only the area's pixels. With --season auto the date ranges come from
    the global crop calendar. The item ids, acquisition times and BOA offset are stored as tags that
    predict and polygonize read.
    """
    _download(kw, Path(output), overwrite, model)


@click.command()
@outdir_option("output folder: <name>.tif, <name>_probs.tif (_instances.tif), <name>_fields.parquet, <name>_run.json")
@click.option("--name", default="scene", show_default=True, help="file name stem of the outputs")
@_download_options
@_predict_options
@_polygon_options
@overwrite_option("recompute existing outputs")
@friendly_errors
def run(outdir: Path, name: str, overwrite: bool, collection: str, **kw: Any) -> None:
    """Area + season -> field polygons: download what the model needs, predict and polygonize in one command.

    Writes <name>_run.json: the inputs and options of the run (area, season dates and their source, items,
    model and its digest, land-cover source).
    """
    import torch

    from agriseg.cli.fields_map import check_model_trust
    from agriseg.data.files import write_json
    from agriseg.fields.mapping.scene import SceneJob, run_scene

    model = str(kw["model"])
    digest = check_model_trust(model, kw["sha256"])  # refuse an untrusted pickle before downloading anything
    scene = outdir / f"{name}.tif"
    _, asked = _download(kw, scene, overwrite, model)
    if kw["threads"]:
        torch.set_num_threads(int(kw["threads"]))
    pc, vc = _configs(kw)
    job = SceneJob(
        str(scene),
        str(outdir),
        model,
        predict=pc,
        polygonize=vc,
        resize=kw["resize"],
        preprocess=_preprocess_overrides(kw),
        threads=int(kw["threads"]) or torch.get_num_threads(),
        overwrite=overwrite,
        collection=collection,
        model_sha256=kw["sha256"],
        landcover_stac=kw["landcover_stac_url"],
    )
    row = run_scene(job)
    if digest is None:
        from agriseg.data.download import sha256_of

        digest = sha256_of(model)
    record = run_record(asked, model, digest, kw, row)
    write_json(outdir / f"{name}_run.json", record)
    click.echo(f"{row['probs']}: {row['status']}")
    click.echo(f"{row['fields']}: {row.get('fields_count', 'kept')} fields")


def run_record(asked: dict[str, Any], model: str, digest: str | None, kw: dict[str, Any], row: dict) -> dict:
    """The inputs and options of a run, in one dict (what a re-run compares)."""
    from agriseg.fields.registry import spec_for

    spec = spec_for(model)
    options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items() if k not in ("model", "sha256")}
    return {
        "inputs": {
            **asked,
            "model": {"name": spec.name if spec else None, "file": model, "sha256": digest},
            "landcover": row.get("landcover") or ({"file": kw["landcover"]} if kw.get("landcover") else None),
        },
        "options": options,
        "outputs": {k: row[k] for k in ("probs", "fields") if k in row},
    }
