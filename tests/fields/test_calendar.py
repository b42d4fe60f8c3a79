"""``--season auto``: window dates from crop-calendar rasters fetched once from a (loopback) server."""

from __future__ import annotations

import pytest

from agriseg.fields.calendar import FILES, circular_median, season_dates
from tests.fields.stac_server import NORTH, Loopback, bbox_deg

pytest.importorskip("rasterio")

WEST = bbox_deg(500050, NORTH - 400, 500450, NORTH - 50)  # west calendar zone: season 100 -> 227
EAST = bbox_deg(500650, NORTH - 400, 500850, NORTH - 50)  # east zone: 300 -> 100 of the next year


def test_circular_median_wraps_around_new_year() -> None:
    assert circular_median([100, 110, 120]) == 110
    assert circular_median([360, 5]) in (365, 1)  # new year, not early July
    assert circular_median([350, 355, 2, 10, 12]) == 2
    assert circular_median([200]) == 200


def test_two_zones_and_a_season_across_the_new_year(season_server: Loopback) -> None:
    west = season_dates(WEST, 2022, progress=False)
    assert (west.sos_day, west.eos_day, west.crosses_year) == (100, 227, False)
    assert west.start == "2022-04-10" and west.end == "2022-08-15"
    assert west.win_a == ("2022-03-27", "2022-04-24") and west.win_b == ("2022-08-01", "2022-08-29")
    east = season_dates(EAST, 2022, window_days=10, progress=False)
    assert east.crosses_year and east.start == "2022-10-27" and east.end == "2023-04-10"
    assert east.win_b == ("2023-03-31", "2023-04-20")
    assert set(east.sources) == {FILES[("summer", "sos")], FILES[("summer", "eos")]}
    assert all(len(v["sha256"]) == 64 and v["url"].startswith(season_server.url) for v in east.sources.values())
    winter = season_dates(WEST, 2022, crop_season="winter", progress=False)
    assert winter.crosses_year and winter.start == "2022-10-07" and winter.end == "2023-07-09"


def test_calendar_is_downloaded_once(season_server: Loopback) -> None:
    season_dates(WEST, 2022, progress=False)
    fetched = [p for _, p, _ in season_server.log if p.startswith("/calendar/")]
    season_dates(EAST, 2023, progress=False)
    assert [p for _, p, _ in season_server.log if p.startswith("/calendar/")] == fetched and len(fetched) == 2


def test_a_damaged_cached_calendar_is_downloaded_again(
    season_server: Loopback, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cached calendar file turned into a web page failed every later `--season auto` run with GDAL's "not
    recognized as being in a supported file format" (session 86's sweep)."""
    first = season_dates(WEST, 2022, progress=False)
    cached = tmp_path / "cache" / "crop-calendar" / FILES[("summer", "sos")]
    cached.write_text("<html>oops</html>")
    with caplog.at_level("WARNING"):
        again = season_dates(WEST, 2022, progress=False)
    assert "the cached crop calendar is damaged (not a readable raster); downloading it again" in caplog.text
    assert again.win_a == first.win_a and cached.read_bytes()[:2] in (b"II", b"MM")


def test_a_calendar_cut_short_in_the_cache_is_downloaded_again(season_server: Loopback, tmp_path) -> None:
    """Half a calendar file (its header opened) failed every later `--season auto` run with "Read failed. See
    previous exception for details" (session 93's sweep)."""
    first = season_dates(WEST, 2022, progress=False)
    cached = tmp_path / "cache" / "crop-calendar" / FILES[("summer", "sos")]
    whole = cached.read_bytes()
    cached.write_bytes(whole[: len(whole) // 2])
    again = season_dates(WEST, 2022, progress=False)
    assert again.win_a == first.win_a and cached.read_bytes() == whole


def test_a_calendar_the_server_sends_cut_short_is_named_with_its_url(season_server: Loopback, tmp_path) -> None:
    """Half a calendar file sent as a whole answer: "<cache folder>: a crop calendar file is damaged (Read failed.
    See previous exception for details.)", naming neither the file nor where it came from (session 104's sweep)."""
    path = "/calendar/" + FILES[("summer", "sos")]
    whole = season_server.files[path]
    season_server.add_file(path, whole[: len(whole) // 2])
    cached = tmp_path / "cache" / "crop-calendar" / FILES[("summer", "sos")]
    with pytest.raises(ValueError) as err:
        season_dates(WEST, 2022, progress=False)
    said = str(err.value)
    assert said.startswith(f"{cached}: the crop calendar file is damaged (cut short; from http://"), said
    assert said.endswith("removed from the cache, the next run downloads it again") and "previous exception" not in said
    season_server.add_file(path, whole)  # mended on the server: the next run downloads it again
    assert season_dates(WEST, 2022, progress=False).win_a and cached.read_bytes() == whole


def test_nodata_cells_take_the_nearest_value_then_fail_far_away(season_server: Loopback) -> None:
    import rasterio

    from agriseg.fields.calendar import calendar_files
    from tests.fields.stac_server import CAL_PX

    sos = calendar_files("summer", progress=False)["sos"]
    with rasterio.open(sos) as ds:
        w, n = ds.bounds.left, ds.bounds.top
    in_gap = (w + 0.001, n - 3 * CAL_PX, w + 0.002, n - 2 * CAL_PX)  # rows without crops at the top
    got = season_dates(in_gap, 2022, progress=False)
    assert got.sos_day == 100 and "nearest cell" in got.how
    with pytest.raises(ValueError, match=r"no crop-calendar value within 2 cell\(s\).*--win-a-dates"):
        season_dates((w - 1, n + 1, w - 0.9, n + 1.1), 2022, progress=False)


def test_an_area_without_a_value_takes_the_nearest_cell_on_the_ground(tmp_path) -> None:
    """At 60 N a cell east is half as far as one north; each of a changed rule (distance without cos(lat), the
    window's offset left out, the first cell found) took the one north (session 75's mutation sweep)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from agriseg.fields.calendar import area_days

    values = np.zeros((8, 8), np.float32)  # 0.5-degree cells from 62 N, 10 E; 0 = no value
    values[3, 4], values[4, 5] = 100, 300  # north of the area's cell, east of it
    path = tmp_path / "sos.tif"
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 1, "dtype": "float32", "crs": "EPSG:4326",
               "transform": from_origin(10.0, 62.0, 0.5, 0.5), "nodata": 0}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    got, how = area_days(path, (12.1, 59.6, 12.4, 59.9))
    assert got.tolist() == [300.0] and "nearest cell with a value, 28 km" in how


def test_cells_outside_days_1_to_366_are_no_value_without_a_nodata_tag(tmp_path) -> None:
    """A calendar without a nodata value: its 0 cells (no crops) and fill values (999) were taken as days, and
    the circular median of 0, 100 and 999 is no sowing day (mutation sweep)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from agriseg.fields.calendar import area_days

    values = np.full((4, 4), 100, np.float32)  # 0.5-degree cells from 50 N, 10 E; no nodata tag
    values[0], values[1] = 0, 999
    path = tmp_path / "sos.tif"
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "float32", "crs": "EPSG:4326",
               "transform": from_origin(10.0, 50.0, 0.5, 0.5)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    got, how = area_days(path, (10.1, 48.1, 11.9, 49.9))  # every cell
    assert got.tolist() == [100.0] * 8 and how == "8 cell(s) under the area"
