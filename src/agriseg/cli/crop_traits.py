"""``agriseg crop traits | plots``: measure plants and canopy in photos / masks, and plots in orthomosaics."""

from __future__ import annotations

from pathlib import Path

import click

from agriseg.cli.errors import friendly_errors, report_failures
from agriseg.cli.options import config_from_params, outdir_option, overwrite_option, stack

GAI_OPTIONS = stack(
    click.option(
        "--zenith",
        type=click.FloatRange(0, 90, max_open=True),
        default=0.0,
        show_default=True,
        help="View zenith angle in degrees for the green area index (0 = straight down).",
    ),
    click.option(
        "--leaf-projection",
        type=click.FloatRange(0, 1, min_open=True),
        default=0.5,
        show_default=True,
        help="Leaf projection G(zenith) of the Poisson model (0.5 = spherical leaf angles).",
    ),
)
MIN_PLANT = click.option(
    "--min-plant-size",
    type=click.IntRange(1),
    default=50,
    show_default=True,
    help="Smallest plant in pixels (smaller specks count as cover, not plants).",
)
META = click.option("--meta", default=None, help='File-name template, e.g. "plant_date_camera" (dates parsed).')
MODEL = click.option(
    "--model",
    "model_name",
    default="default",
    show_default=True,
    help="Packaged model (default, crop-weed) or a model file, for photos.",
)
STRICT = click.option("--strict", is_flag=True, help="Stop at the first bad input (otherwise the batch goes on).")


@click.command()
@click.argument("paths", nargs=-1, required=True)
@outdir_option("Output folder.")
@MODEL
@click.option("--grid", default=None, help="ROWSxCOLS regions over the plants' extent (trays), e.g. 2x3.")
@click.option("--regions", type=click.Path(dir_okay=False), default=None, help="CSV of regions: id,x,y,width,height.")
@META
@click.option("--px-per-mm", type=click.FloatRange(0, min_open=True), default=None, help="Scale: pixels per mm.")
@click.option("--reference-box", default=None, help="X,Y,W,H box around a reference object (with --reference-mm).")
@click.option(
    "--reference-mm", type=click.FloatRange(0, min_open=True), default=None, help="Reference object size (mm)."
)
@MIN_PLANT
@click.option(
    "--split-depth",
    type=click.FloatRange(0),
    default=4.0,
    show_default=True,
    help="Split touching plants whose centres rise this many px above the neck between them (0 = never).",
)
@GAI_OPTIONS
@overwrite_option("Measure again images measured before (otherwise they are kept).")
@STRICT
@friendly_errors
def traits(paths: tuple[str, ...], outdir: Path, overwrite: bool, strict: bool, **params: object) -> None:
    """Measure photos or masks from `crop predict`: green fraction, GAI, plants, regions -> traits.csv/json."""
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.runner import run_traits

    if (params["reference_box"] is None) != (params["reference_mm"] is None):
        raise click.UsageError("--reference-box and --reference-mm go together")
    if params["grid"] and params["regions"]:
        raise click.UsageError("use --grid or --regions, not both")
    cfg = config_from_params(TraitsConfig, params)
    records = run_traits(list(paths), outdir, cfg, overwrite=overwrite, strict=strict)
    _report(records, outdir, "measured")


def _report(records: list[dict], outdir: Path, verb: str) -> None:
    n_ok = sum(r["status"] == "ok" for r in records)
    bad = [r for r in records if r["status"] == "error"]
    click.echo(f"{n_ok} {verb}, {len(records) - n_ok - len(bad)} skipped, {len(bad)} failed -> {outdir}")
    report_failures(records)


@click.command()
@click.argument("mosaics", nargs=-1, required=True)
@click.option(
    "--plots", required=True, type=click.Path(dir_okay=False), help="Plot polygons (GeoPackage, GeoJSON, ...)."
)
@outdir_option("Output folder.")
@click.option("--plot-id", default=None, help="Plot id column. [default: plot_id, id, or the row number]")
@MODEL
@click.option("--window", type=click.IntRange(64), default=2048, show_default=True, help="Window side in pixels.")
@MIN_PLANT
@META
@GAI_OPTIONS
@overwrite_option("Measure again mosaics measured before (otherwise they are kept).")
@STRICT
@friendly_errors
def plots(mosaics: tuple[str, ...], outdir: Path, overwrite: bool, strict: bool, **params: object) -> None:
    """Per-plot green fraction, GAI and plant count of orthomosaics; growth over dates."""
    from agriseg.crop.config import PlotsConfig
    from agriseg.crop.traits.growth import run_plots

    cfg = config_from_params(PlotsConfig, params)
    records = run_plots(list(mosaics), outdir, cfg, overwrite=overwrite, strict=strict)
    if sum(r["status"] != "error" for r in records) >= 2:
        click.echo(f"growth: {outdir / 'growth.csv'}, {outdir / 'growth.png'}")
    _report(records, outdir, "measured")
