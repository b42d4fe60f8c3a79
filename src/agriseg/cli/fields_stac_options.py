"""Options of the scene commands (``fields download | predict | polygonize | run | map``) and their configs."""

from __future__ import annotations

from typing import Any

import click

from agriseg.cli.options import (
    FIELDS_DOWNLOAD,
    FIELDS_PREDICT,
    FIELDS_RUN,
    FIELDS_SEASON,
    POLYGONIZE,
    OffsetType,
    batch_size_option,
    blend_option,
    config_from_params,
    device_option,
    memory_check_option,
    model_option,
    optimize_option,
    option,
    precision_option,
    refuse_unread,
    sha256_option,
    stack,
    threads_option,
    tiling_options,
    tta_option,
)

# flags renamed to the shared vocabulary (the old ones work for one more release)
RENAMED = {"--patch-size": "--tile"}

date_options = stack(
    *(
        click.option(f"--win-{w}-dates", default=None, help=f"Window {w.upper()} date range START/END (e.g. {when}).")
        for w, when in (("a", "planting season"), ("b", "before harvest"))
    ),
    option(
        "--season",
        config=FIELDS_SEASON,
        type="choice",
        help="auto: window dates from the global crop calendar for the area and --year (dates given still win).",
    ),
    option("--year", config=FIELDS_SEASON, type=int, help="--season auto: the year the season starts (2015-2100)."),
    option(
        "--crop-season",
        config=FIELDS_SEASON,
        type="choice",
        help="--season auto: the calendar of summer or winter crops.",
    ),
    option(
        "--season-window",
        "window_days",
        config=FIELDS_SEASON,
        type=int,
        help="--season auto: days before and after the calendar's start / end of season (0-180).",
    ),
)

stac_options = stack(
    option("--stac-url", config=FIELDS_DOWNLOAD, help="STAC API: planetary-computer, earth-search, or its URL."),
    option(
        "--stac-collection",
        "stac_collection",
        config=FIELDS_DOWNLOAD,
        field="collection",
        help="Sentinel-2 L2A collection.",
    ),
    option("--cloud-max", config=FIELDS_DOWNLOAD, type=float, help="Most cloud cover of an acquisition, in %."),
    option("--resolution", config=FIELDS_DOWNLOAD, type=float, help="Output pixel size in metres."),
    option("--retries", config=FIELDS_DOWNLOAD, type=int, help="Retries per request, with backoff."),
)

#: the parameters of date_options and stac_options: what finds a scene to download
SEARCH_PARAMS = ("win_a_dates", "win_b_dates", "season", "stac_url", "stac_collection", "cloud_max", "resolution",
                 "retries")  # fmt: skip

request_options = stack(
    click.option("--bbox", default=None, help="Area: W,S,E,N in degrees (EPSG:4326), or a vector file (its bounds)."),
    date_options,
    click.option("--win-a", multiple=True, help="Window A item id or item URL instead of a search (repeat to mosaic)."),
    click.option("--win-b", multiple=True, help="Window B item id or item URL instead of a search (repeat to mosaic)."),
    stac_options,
)

predict_options = stack(
    # a released model's name is fetched by the command after its other options are checked
    model_option("fields", dest="model", required=True, resolve=False),
    tiling_options("fields", FIELDS_PREDICT, tile_field="patch_size"),
    blend_option("fields", FIELDS_PREDICT),
    batch_size_option("fields", FIELDS_PREDICT),
    option("--resize", config=FIELDS_RUN, type=float, show_default="2 for ftw checkpoints, else 1"),
    tta_option("fields", FIELDS_PREDICT),
    option("--divisor", config=FIELDS_RUN, type=float, show_default="the model's; FTW 3000"),
    option("--swap-input-windows", config=FIELDS_RUN, is_flag=True),
    option("--offset", config=FIELDS_RUN, type=OffsetType()),
    option("--nan", config=FIELDS_PREDICT, type="choice", help="NaN pixels not declared nodata: an error, or masked."),
    precision_option(FIELDS_PREDICT),
    optimize_option("fields", FIELDS_PREDICT),
    device_option("fields", FIELDS_PREDICT),
    threads_option(FIELDS_RUN),
    sha256_option(
        "SHA-256 the pickled model file (.pt, DelineateAnything) must have; instead of `agriseg fields models trust`."
    ),
    memory_check_option(),
)


def _classes(ctx: click.Context, param: click.Parameter, value: Any) -> tuple[int, ...]:
    """A comma-separated list of land-cover class values."""
    if not isinstance(value, str):
        return tuple(value or ())
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError as err:
        raise click.BadParameter(f"{value!r}: give class values as integers, e.g. 40 or 10,40") from err


polygon_options = stack(
    option("--separation", config=POLYGONIZE, type="choice", help="Split touching fields, or 4-connected regions."),
    option("--core-threshold", config=POLYGONIZE, type=float, help="Field probability that seeds a field core."),
    option(
        "--poly-block-size",
        "poly_block_size",
        config=POLYGONIZE,
        field="block_size",
        type=int,
        help="Polygonisation block side in pixels.",
    ),  # fmt: skip
    option(
        "--simplify",
        config=POLYGONIZE,
        type=float,
        help="Tolerance of the field edges in metres on every CRS, each shared edge simplified once for both fields"
        " (0 = unsimplified sub-pixel outlines). [default: 1 pixel]",
    ),
    option("--split-boundary", "split_boundary_px", config=POLYGONIZE, type=float),
    option("--min-area", "min_area_m2", config=POLYGONIZE, type=float, help="Smallest field (m2)."),
    option("--max-area", "max_area_m2", config=POLYGONIZE, type=float, help="Largest field (m2; 0 = no limit)."),
    option("--min-confidence", config=POLYGONIZE, type=float, help="Lowest mean field probability (0 = keep all)."),
    option("--fill-holes", "fill_holes_m2", config=POLYGONIZE, type=float, help="Fill holes smaller than this (m2)."),
    option(
        "--landcover",
        config=POLYGONIZE,
        help="Land cover fields must lie on: esa-worldcover or io-lulc (found by STAC for the scene, cropland "
        "kept) or a class raster file (any CRS).",
    ),
    option(
        "--landcover-keep",
        config=POLYGONIZE,
        callback=_classes,
        show_default="esa-worldcover: 40, io-lulc: 5, a file: none",
        help="Allowed land-cover classes, e.g. 40.",
    ),
    option(
        "--landcover-drop",
        config=POLYGONIZE,
        callback=_classes,
        show_default="none",
        help="Forbidden classes (when --landcover-keep is empty).",
    ),
    option("--landcover-min-fraction", config=POLYGONIZE, type=float),
    option(
        "--landcover-stac-url",
        config=FIELDS_RUN,
        help="STAC API of --landcover esa-worldcover / io-lulc: planetary-computer, or its URL.",
    ),
    option("--collection", config=FIELDS_RUN, help="fiboa collection id."),
)


def download_config(params: dict[str, Any]) -> Any:
    """The :class:`agriseg.fields.config.DownloadConfig` of a command's STAC options."""
    from agriseg.fields.config import DownloadConfig

    stac = {k: v for k, v in params.items() if k != "collection"}
    return config_from_params(DownloadConfig, stac, {"stac_collection": "collection"})


def scene_request(params: dict[str, Any]) -> Any:
    """The :class:`agriseg.fields.mapping.commands.SceneRequest` of ``--bbox``, the dates (or ``--season
    auto``) and the items."""
    from agriseg.fields.config import SeasonConfig
    from agriseg.fields.mapping.commands import SceneRequest

    if params.get("season") != "auto":
        refuse_unread(["year", "crop_season", "window_days"], "read with --season auto only")
    for w in ("a", "b"):
        if params.get(f"win_{w}"):
            refuse_unread(
                [f"win_{w}_dates"], f"not read with --win-{w} (its items are downloaded; nothing is searched)"
            )
    season = config_from_params(SeasonConfig, params).calendar()
    return SceneRequest(
        params.get("bbox"),
        params.get("win_a_dates"),
        params.get("win_b_dates"),
        tuple(params.get("win_a") or ()),
        tuple(params.get("win_b") or ()),
        season,
    )


def scene_configs(params: dict[str, Any]) -> tuple[Any, Any, Any]:
    """``(PredictConfig or None, PolygonizeConfig or None, FieldsRunConfig)`` of a command's options."""
    from agriseg.fields.config import FieldsRunConfig
    from agriseg.vector.config import PolygonizeConfig

    pc = None
    if "tile" in params:  # the prediction config imports torch: only commands that predict pay for it
        from agriseg.fields.config import PredictConfig

        if "overlap" in params and not params["overlap"]:  # as text predict: never silently ignored
            refuse_unread(["blend"], "not read with --overlap 0 (tiles that do not overlap have nothing to blend)")
        pc = config_from_params(PredictConfig, params, {"tile": "patch_size"})
    vc = None
    if "separation" in params:
        if params.get("landcover_keep"):
            refuse_unread(["landcover_drop"], "not read with --landcover-keep (give the classes kept or those dropped)")
        if not params.get("landcover"):
            refuse_unread(["landcover_min_fraction", "landcover_stac_url"], "read with --landcover only")
        vc = config_from_params(PolygonizeConfig, params, {"poly_block_size": "block_size"})
    return pc, vc, config_from_params(FieldsRunConfig, params)
