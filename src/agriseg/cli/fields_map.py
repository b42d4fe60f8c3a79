"""``agriseg fields predict | polygonize | map | change``: scenes to field polygons, one or many (Dask)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agriseg.cli.errors import finish, friendly_errors
from agriseg.cli.fields_stac_options import (
    RENAMED,
    SEARCH_PARAMS,
    date_options,
    download_config,
    polygon_options,
    predict_options,
    scene_configs,
    scene_request,
    stac_options,
)
from agriseg.cli.options import (
    FIELDS_CHANGE,
    FIELDS_DASK,
    InputPath,
    OutputPath,
    batch_options,
    config_from_params,
    option,
    outdir_option,
    output_option,
    overwrite_option,
    refuse_unread,
    renamed,
    warn_renamed,
)

if TYPE_CHECKING:
    from agriseg.batch import BatchOptions


@renamed(RENAMED)
@click.command()
@click.argument("scenes", nargs=-1, required=True, type=InputPath())
@output_option(
    "Output COG (.tif) of one scene; several scenes: --outdir. [default: <stem>_probs.tif next to each scene]",
    required=False,
    old_folder=True,
)
@outdir_option("Output folder of several scenes' <name>_probs.tif.", short=False)
@predict_options
@batch_options()
@friendly_errors
def predict(scenes: tuple[str, ...], output: Path | None, outdir: Path | None, batch: BatchOptions, **kw: Any) -> None:
    """Predict field probabilities of Sentinel-2 scenes (GeoTIFFs, or folders of them) into Cloud-Optimized GeoTIFFs.

    Streams the scene one tile row at a time (full-width strips with a halo), blends overlapping tiles
    with Gaussian weights, and resumes an interrupted run.
    Output bands: class, then one uint8 probability band per class (x255); NoData 255.
    """
    from agriseg.fields.mapping.commands import predict as run

    if output is not None and (not output.suffix or output.is_dir()) and outdir is None:  # -o FOLDER: old --outdir
        warn_renamed("-o FOLDER", "--outdir FOLDER")
        output, outdir = None, output
    pc, _, rc = scene_configs(kw)
    result = run(scenes, kw["model"], pc, rc, output, outdir, kw["sha256"], batch)
    finish(result, "predicted", output or outdir or "next to the scenes")


@click.command()
@click.argument("raster", type=InputPath(dir_okay=False))
@output_option(".parquet (fiboa GeoParquet), .gpkg, .fgb or .geojson. [default: <stem>_fields.parquet]", required=False)
@polygon_options
@option(
    "--datetime",
    "determined",
    default=None,
    show_default="the raster's latest WIN_A/WIN_B_DATETIME tag; left out when it has none",
    help="determination:datetime, ISO 8601 UTC.",
)
@batch_options()
@friendly_errors
def polygonize(raster: str, output: Path | None, determined: str | None, batch: BatchOptions, **kw: Any) -> None:
    """Polygonise a class raster (fields predict's <stem>_probs.tif, or one band of class ids: 1 field, 2
    boundary) or an instance raster into field polygons, blockwise and seamless.

    Instance rasters (DelineateAnything's <stem>_instances.tif) keep their fields as they are: every id is
    one field. With --landcover esa-worldcover or io-lulc the land cover of the raster's extent is fetched
    by STAC into <stem>_landcover.tif next to the output.
    """
    from agriseg.fields.mapping.commands import polygonize as run

    _, vc, rc = scene_configs(kw)
    result = run(raster, output, vc, rc, determined, batch)
    finish(result, "polygonized", result.outcomes[0].item.outputs[0])


@renamed(RENAMED)
@click.command("map")
@click.argument("scenes", nargs=-1, required=False, type=InputPath())
@outdir_option("Output folder: <name>_probs.tif, <name>_fields.parquet, fields.parquet, summary.json.")
@click.option(
    "--areas",
    type=InputPath(dir_okay=False),
    default=None,
    help="Vector file of areas: download one scene per feature (into <outdir>/scenes) and map them too.",
)
@date_options
@stac_options
@predict_options
@polygon_options
@option("--scheduler", config=FIELDS_DASK, help="Dask scheduler address. [default: a local cluster]")
@option("--workers", config=FIELDS_DASK, type=int, help="Local-cluster worker processes.")
@option(
    "--threads-per-worker",
    config=FIELDS_DASK,
    type=int,
    help="Torch threads of each Dask worker (--threads: with --serial).",
)
@option("--serial", config=FIELDS_DASK, is_flag=True, help="Run in this process without Dask.")
@batch_options()
@friendly_errors
def map_(scenes: tuple[str, ...], outdir: Path, areas: str | None, batch: BatchOptions, **kw: Any) -> None:
    """Predict + polygonise many scenes (GeoTIFF files, or folders of them) as Dask tasks; one merged GeoParquet.

    With --areas and the two date ranges (or --season auto), each area's scene is first downloaded from the
    STAC API (as `fields download` does), so a whole region goes from areas to polygons in one command;
    <outdir>/scenes/areas.json records each area's dates.
    """
    from agriseg.fields.config import DaskConfig
    from agriseg.fields.mapping.commands import map_scenes

    if kw["serial"]:
        refuse_unread(["scheduler", "workers", "threads_per_worker"], "not read with --serial (no Dask workers)")
    else:
        refuse_unread(["threads"], "read with --serial only (each Dask worker takes --threads-per-worker)")
        if kw["scheduler"]:
            refuse_unread(["workers"], "not read with --scheduler (that cluster has its own workers)")
    if areas is None:
        refuse_unread(
            [*SEARCH_PARAMS, "year", "crop_season", "window_days"],
            "read with --areas only (the scenes given are mapped as they are)",
        )
    dask = config_from_params(DaskConfig, kw)  # --workers: Dask's (each scene polygonises in its own worker)
    pc, vc, rc = scene_configs({k: v for k, v in kw.items() if k != "workers"})
    result, merged = map_scenes(
        scenes, outdir, kw["model"], pc, vc, rc, dask, areas, download_config(kw), scene_request(kw), kw["sha256"],
        batch,
    )  # fmt: skip
    if merged is not None:
        result.notes.append(f"merged: {merged}")
    else:
        from agriseg.fields.mapping.runner import MERGED_NAME

        earlier = outdir / MERGED_NAME
        stale = f"; {earlier} is an earlier run's, not this one's" if earlier.exists() else ""
        result.notes.append(f"merged: nothing (no scene succeeded){stale}")
    finish(result, "mapped", outdir)


@click.command()
@click.argument("earlier", type=InputPath(dir_okay=False))
@click.argument("later", type=InputPath(dir_okay=False))
@output_option("Change COG.")
@option("--threshold", config=FIELDS_CHANGE, type=float, help="On the min-max normalised change.")
@click.option(
    "--polygons",
    "polygons_output",
    default=None,
    type=OutputPath(dir_okay=False),
    help="Also write change polygons here.",
)
@option("--min-area", "min_area_m2", config=FIELDS_CHANGE, type=float, help="Smallest change polygon (m2).")
@overwrite_option()
@friendly_errors
def change(
    earlier: str,
    later: str,
    output: Path,
    threshold: float,
    polygons_output: str | None,
    min_area_m2: float,
    overwrite: bool,
) -> None:
    """PRUE's field change map between two years' probability rasters, and its polygons."""
    from agriseg.batch import check_output
    from agriseg.config import OptionError
    from agriseg.fields.change import change_outputs, check_polygons_output
    from agriseg.fields.config import ChangeConfig

    if not polygons_output:
        refuse_unread(["min_area_m2"], "read with --polygons only (the change polygons)")
    cfg = config_from_params(ChangeConfig, {"threshold": threshold, "min_area_m2": min_area_m2})
    for given in (earlier, later):  # a usage error, as polygonize's missing raster (it was named after -o, exit 1)
        if not Path(given).is_file():
            raise OptionError(f"{given}: probability raster not found")
    if Path(output).suffix.lower() not in (".tif", ".tiff"):
        raise OptionError(f"-o {output}: the change map is a GeoTIFF (COG); name it .tif")
    out = check_output(output, overwrite, inputs=[earlier, later])
    if polygons_output:  # checked before the change map is written: a bad --polygons leaves nothing behind
        check_polygons_output(polygons_output, [earlier, later, out], overwrite)
    stats, df = change_outputs(earlier, later, out, polygons_output, cfg.threshold, cfg.min_area_m2)
    click.echo(f"{out}: {stats['changed_fraction']:.2%} of valid pixels changed")
    if df is not None:
        click.echo(f"{polygons_output}: {len(df)} change polygons")
