"""Options of the commands that fetch Sentinel-2 from a STAC API (``fields download | run | map --areas``)."""

from __future__ import annotations

from typing import Any

import click

from agriseg.cli.options import config_from_params, stack

date_options = stack(
    click.option("--win-a-dates", default=None, help="window A date range START/END (e.g. planting season)"),
    click.option("--win-b-dates", default=None, help="window B date range START/END (e.g. before harvest)"),
    click.option(
        "--season",
        type=click.Choice(["manual", "auto"]),
        default="manual",
        show_default=True,
        help="auto: window dates from the global crop calendar for the area and --year (dates given still win)",
    ),
    click.option(
        "--year", type=click.IntRange(2015, 2100), default=None, help="--season auto: the year the season starts"
    ),
    click.option(
        "--crop-season",
        type=click.Choice(["summer", "winter"]),
        default="summer",
        show_default=True,
        help="--season auto: the calendar of summer or winter crops",
    ),
    click.option(
        "--season-window",
        type=click.IntRange(0, 180),
        default=14,
        show_default=True,
        help="--season auto: days before and after the calendar's start / end of season",
    ),
)

stac_options = stack(
    click.option(
        "--stac-url",
        default="planetary-computer",
        show_default=True,
        help="STAC API: planetary-computer, earth-search, or its URL",
    ),
    click.option("--stac-collection", default="sentinel-2-l2a", show_default=True, help="Sentinel-2 L2A collection"),
    click.option("--cloud-max", type=click.FloatRange(0, 100), default=20.0, show_default=True, help="% cloud"),
    click.option(
        "--resolution",
        type=click.FloatRange(min=0, min_open=True),
        default=10.0,
        show_default=True,
        help="output pixel size in metres",
    ),  # fmt: skip
    click.option("--retries", type=click.IntRange(0), default=4, show_default=True, help="per request, with backoff"),
)


def download_config(params: dict[str, Any]) -> Any:
    """The :class:`agriseg.fields.config.DownloadConfig` of a command's STAC options."""
    from agriseg.fields.config import DownloadConfig

    return config_from_params(DownloadConfig, params, {"stac_collection": "collection"})


def season_request(params: dict[str, Any]) -> dict[str, Any] | None:
    """``{"year", "crop_season", "window_days"}`` for ``--season auto`` (None for manual dates).

    Raises:
        click.UsageError: ``--season auto`` without ``--year``.
    """
    if params.get("season") != "auto":
        return None
    if params.get("year") is None:
        raise click.UsageError("--season auto needs --year (the year the season starts)")
    return {"year": params["year"], "crop_season": params["crop_season"], "window_days": params["season_window"]}


def window_dates(params: dict[str, Any]) -> dict[str, tuple[str, str] | None]:
    """``{"a": (start, end) or None, "b": ...}`` from ``--win-a-dates`` / ``--win-b-dates``."""
    from agriseg.fields.stac import parse_dates

    return {w: parse_dates(params[f"win_{w}_dates"]) if params.get(f"win_{w}_dates") else None for w in ("a", "b")}
