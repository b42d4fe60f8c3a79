"""``agriseg crop traits | plots``: measure plants and canopy in photos / masks, and plots in orthomosaics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from agriseg.cli.errors import finish, friendly_errors
from agriseg.cli.options import (
    CROP_PLOTS,
    CROP_TRAITS,
    Decorator,
    InputPath,
    bands_option,
    batch_options,
    config_from_params,
    device_option,
    memory_check_option,
    model_option,
    option,
    outdir_option,
    refuse_unread,
    stack,
)

if TYPE_CHECKING:
    from agriseg.batch import BatchOptions


def _shared(config: str) -> Decorator:
    """Options of both commands (their defaults from ``config``)."""
    return stack(
        model_option("crop", config=config),
        device_option("crop", config),
        option(
            "--min-plant-size",
            config=config,
            type=int,
            help="Smallest plant in px (smaller specks count as cover, not plants).",
        ),
        option("--meta", config=config, help='File-name template, e.g. "plant_date_camera" (dates parsed).'),
        option(
            "--zenith",
            config=config,
            type=float,
            help="View zenith angle in degrees for the green area index (0 = straight down).",
        ),
        option(
            "--leaf-projection",
            config=config,
            type=float,
            help="Leaf projection G(zenith) of the Poisson model (0.5 = spherical leaf angles).",
        ),
    )


@click.command()
@click.argument("paths", nargs=-1, required=True, type=InputPath())
@outdir_option(
    "Output folder: <name>_traits.json, _plants.png, _mask.png, traits.csv, traits.json; growth.csv, "
    "growth_wide.csv, growth.png over dates (with regions)."
)
@_shared(CROP_TRAITS)
@option("--grid", config=CROP_TRAITS, help="ROWSxCOLS regions (pots) over the tray found in the photo, e.g. 3x6.")
@option("--grid-box", config=CROP_TRAITS, help="X,Y,W,H box (px) the --grid spans, instead of the tray found.")
@option("--regions", config=CROP_TRAITS, type=InputPath(dir_okay=False), help="CSV of regions: id,x,y,width,height.")
@option("--px-per-mm", config=CROP_TRAITS, type=float, help="Scale: px per mm.")
@option("--reference-box", config=CROP_TRAITS, help="X,Y,W,H box around a reference object (with --reference-mm).")
@option("--reference-mm", config=CROP_TRAITS, type=float, help="Reference object size (mm).")
@option(
    "--split-depth",
    config=CROP_TRAITS,
    type=float,
    help="Split touching plants whose centres rise this many px above the neck between them (0 = never).",
)
@option(
    "--join",
    config=CROP_TRAITS,
    type=int,
    help="With regions: pieces of vegetation of one region this close (px) are one plant (0 = never).",
)
@memory_check_option()
@batch_options()
@friendly_errors
def traits(paths: tuple[str, ...], outdir: Path, batch: BatchOptions, **params: object) -> None:
    """Measure photos or masks from `crop predict`: green fraction, GAI, plants, regions -> traits.csv/json."""
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.runner import run_traits

    if not params["grid"] and not params["regions"]:
        refuse_unread(["join"], "not read without --grid or --regions (it joins a plant's pieces within a region)")
    cfg = config_from_params(TraitsConfig, params)
    finish(run_traits(list(paths), outdir, cfg, batch), "measured", outdir)


@click.command()
@click.argument("mosaics", nargs=-1, required=True, type=InputPath())
@option("--plots", config=CROP_PLOTS, required=True, type=InputPath(dir_okay=False),
        help="Plot polygons (GeoPackage, GeoJSON...), or a regions CSV (id,x,y,width,height) of photos.")  # fmt: skip
@outdir_option("Output folder: <name>_plots.gpkg and .csv per mosaic; growth.csv, growth_wide.csv, growth.png.")
@option("--plot-id", config=CROP_PLOTS,
        show_default="plot_id, plot, id, name, plot_name or label (any case; _, - and spaces optional: PlotID), "
                     "else the row number",
        help="Plot id column.")  # fmt: skip
@_shared(CROP_PLOTS)
@option("--window", config=CROP_PLOTS, type=int, help="Window side in px.")
@bands_option(CROP_PLOTS)
@batch_options()
@friendly_errors
def plots(mosaics: tuple[str, ...], outdir: Path, batch: BatchOptions, **params: object) -> None:
    """Per-plot green fraction, GAI and plant count of orthomosaics; growth over dates."""
    from agriseg.crop.config import PlotsConfig
    from agriseg.crop.traits.growth import run_plots

    cfg = config_from_params(PlotsConfig, params)
    finish(run_plots(list(mosaics), outdir, cfg, batch), "measured", outdir)
