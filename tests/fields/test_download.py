"""Sentinel-2 download from a (loopback) STAC API: item choice, mosaic, band order, tags, failures, resume."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from agriseg.fields.config import DownloadConfig, FieldsRunConfig
from agriseg.fields.download import download_scene, parts_dir
from agriseg.fields.stac import parse_bbox, parse_dates
from tests.fields.stac_server import (
    ACQUISITIONS,
    NORTH,
    PX,
    TILES,
    Loopback,
    _texture,
    band_value,
    bbox_deg,
)

rasterio = pytest.importorskip("rasterio")
pytest.importorskip("pystac_client")

BBOX = bbox_deg(500200, 5316100, 500700, 5316400)  # spans both tiles
DATES = {"win_a_dates": ("2023-04-01", "2023-04-30"), "win_b_dates": ("2023-08-01", "2023-08-31")}


def _cfg(state: Loopback, **kw: object) -> DownloadConfig:
    return DownloadConfig(**{"stac_url": state.url + "/stac", "retries": 1, "backoff_s": 0.01, **kw})


def _expected(band: str, day: int, transform: object, h: int, w: int) -> np.ndarray:
    """What the mosaic must hold: the least cloudy tile (west) wins where the tiles overlap."""
    x0, y0 = transform.c, transform.f
    xs = x0 + PX * np.arange(w)
    west = TILES["T33UXP"]
    tile = np.where(xs < west + 48 * PX, 0, 1)  # (W,)
    base = np.array([band_value(band, t, day) for t in (0, 1)])[tile]
    rows = round((NORTH - y0) / PX)
    tex = _texture(h + rows, w, x0)[rows:]
    return (base[None, :] + tex).astype(np.uint16)


def test_bbox_over_two_tiles_is_a_mosaic_of_the_least_cloudy_days(loopback: Loopback, tmp_path: Path) -> None:
    out = tmp_path / "scene.tif"
    res = download_scene(out, _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    assert res.status == "ok" and res.items["a"][0].startswith("S2B_MSIL2A_20230410")
    assert all("20230815" in i for i in res.items["b"]) and len(res.items["b"]) == 2
    assert not parts_dir(out).exists()
    with rasterio.open(out) as src:
        assert src.count == 8 and src.dtypes[0] == "uint16" and src.nodata == 0
        assert src.crs.to_epsg() == 32633
        assert src.descriptions[:4] == ("win_a_red", "win_a_green", "win_a_blue", "win_a_nir")
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        tags = src.tags()
        data = src.read()
        transform = src.transform
    assert tags["WIN_A_DATETIME"] == "2023-04-10T10:01:00Z" and tags["WIN_B_DATETIME"] == "2023-08-15T10:01:00Z"
    assert tags["WIN_A_ITEM"] == ",".join(res.items["a"]) and tags["BOA_ADD_OFFSET"] == "-1000"
    assert tags["PROCESSING_BASELINE"] == "05.09"
    days = {"a": 0, "b": 3}  # indices into ACQUISITIONS of the chosen days
    assert ACQUISITIONS[3][1] == "2023-08-15"
    for i, (w, band) in enumerate((w, b) for w in "ab" for b in ("red", "green", "blue", "nir")):
        exp = _expected(band, days[w], transform, data.shape[1], data.shape[2])
        np.testing.assert_array_equal(data[i], exp, err_msg=f"band {i + 1} ({w} {band})")


def test_reruns_skip_and_overwrite(loopback: Loopback, tmp_path: Path) -> None:
    out = tmp_path / "scene.tif"
    download_scene(out, _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    n = len(loopback.log)
    assert download_scene(out, _cfg(loopback), bbox=BBOX, progress=False, **DATES).status == "skipped"
    assert len(loopback.log) == n
    res = download_scene(out, _cfg(loopback), bbox=BBOX, overwrite=True, progress=False, **DATES)
    assert res.status == "ok" and len(loopback.log) > n


def test_explicit_items_by_id_and_url(loopback: Loopback, tmp_path: Path) -> None:
    a = "S2B_MSIL2A_20230420_T33UXP"
    b_url = f"{loopback.url}/stac/collections/sentinel-2-l2a/items/S2B_MSIL2A_20230801_T33UXP"
    res = download_scene(tmp_path / "s.tif", _cfg(loopback), win_a=[a], win_b=[b_url], progress=False)
    assert res.items == {"a": [a], "b": ["S2B_MSIL2A_20230801_T33UXP"]}
    assert (res.width, res.height) == (48, 48)  # the tile's footprint
    with rasterio.open(tmp_path / "s.tif") as src:
        red_a, red_b = src.read(1), src.read(5)
    assert red_a.min() > 0 and red_b.min() > 0
    np.testing.assert_array_equal(red_a.astype(int) - red_b, band_value("red", 0, 1) - band_value("red", 0, 2))


def test_windows_in_the_wrong_order_or_the_same_are_warned_of(loopback: Loopback, tmp_path: Path, caplog) -> None:
    """Window dates swapped (B in April, A in August) or one range for both (the same acquisition twice) were
    downloaded without a word: the models read A as the season's start and B as its end (session 93's sweep)."""
    import logging

    a, b = "S2B_MSIL2A_20230420_T33UXP", "S2B_MSIL2A_20230801_T33UXP"
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        download_scene(tmp_path / "swapped.tif", _cfg(loopback), win_a=[b], win_b=[a], progress=False)
    assert "swapped.tif: window B (2023-04-20) is not later than window A (2023-08-01)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        download_scene(tmp_path / "same.tif", _cfg(loopback), win_a=[a], win_b=[a], progress=False)
        download_scene(tmp_path / "right.tif", _cfg(loopback), win_a=[a], win_b=[b], progress=False)
    assert f"same.tif: windows A and B are the same acquisition ({a})" in caplog.text
    assert "right.tif" not in caplog.text


def test_an_item_url_is_retried_and_its_error_names_the_http_status(loopback: Loopback, tmp_path: Path) -> None:
    """An item given by URL was read without retries: one 503 failed the scene, in words that did not tell a
    404 from a 500 (session 88's sweep)."""
    a = "S2B_MSIL2A_20230420_T33UXP"
    items = f"{loopback.url}/stac/collections/sentinel-2-l2a/items/"
    loopback.fail_get["/stac/collections/sentinel-2-l2a/items/S2B_MSIL2A_20230801"] = 1
    res = download_scene(tmp_path / "s.tif", _cfg(loopback), win_a=[a], win_b=[items + "S2B_MSIL2A_20230801_T33UXP"],
                         progress=False)  # fmt: skip
    assert res.items["b"] == ["S2B_MSIL2A_20230801_T33UXP"]
    with pytest.raises(ValueError, match=r"nothing_here: window B item not readable \(.*404"):
        download_scene(tmp_path / "t.tif", _cfg(loopback), win_a=[a], win_b=[items + "nothing_here"], progress=False)


def test_items_that_do_not_cover_the_area_fail_the_scene(loopback: Loopback, tmp_path: Path) -> None:
    """Items given by id over an area they do not cover: a scene of zeros, "ok", "pixels with data: A 0%", then
    `fields run` mapped 0 fields with exit 0 and blamed the nodata value (session 86's sweep)."""
    a, b = "S2B_MSIL2A_20230420_T33UXP", "S2B_MSIL2A_20230801_T33UXP"
    with pytest.raises(ValueError, match=rf"s.tif: window A has no data anywhere over the area: its items \({a}\)"):
        download_scene(
            tmp_path / "s.tif", _cfg(loopback), (10.0, 40.0, 10.01, 40.01), win_a=[a], win_b=[b], progress=False
        )
    assert not (tmp_path / "s.tif").exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "text, words",
    [
        ("1,2,3", "four numbers"),
        ("10,50,10,51", "empty"),
        ("11,50,10,51", "inverted"),
        ("179.9,-17,-179.9,-16.8", r"crosses the 180th meridian .*\(179\.9,-17\.0,180,-16\.8 and -180,-17\.0,-179\.9"),
        ("500000,5300000,510000,5310000", "not in degrees"),
        ("10,50,11,50", "empty"),  # S == N: flat, not inverted
        ("100,10,95,11", "inverted"),  # W > E east of 90 E: not across the 180th meridian
    ],
)
def test_bad_bbox(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as err:
        parse_bbox(text)
    assert str(err.value).startswith(f"bbox {text!r}")


def test_bad_dates() -> None:
    with pytest.raises(ValueError, match="END is before START"):
        parse_dates("2023-05-01/2023-04-01")
    with pytest.raises(ValueError, match="START/END"):
        parse_dates("2023-05-01")
    # session 106's sweep: within one day, or across time zones, the days alone were compared (an interval that
    # ends before it starts went to the API, then "no item")
    for text in ("2023-04-10T12:00/2023-04-10T08:00", "2023-04-10T23:00-05:00/2023-04-11T01:00Z"):
        with pytest.raises(ValueError, match="END is before START"):
            parse_dates(text)
    assert parse_dates("2023-04-10T08:00/2023-04-10") == ("2023-04-10T08:00", "2023-04-10")  # to the day's end
    ordered = "2023-04-11T01:00+05:00/2023-04-10T22:00Z"  # by local days the end came first; in UTC it does not
    assert parse_dates(ordered) == tuple(ordered.split("/"))


def test_a_range_takes_its_end_day_and_the_cloud_limit_itself(loopback: Loopback, tmp_path: Path) -> None:
    """Each let a changed rule through (session 75's mutation sweep): a range ending on an acquisition day
    (searched up to 00:00 of it: the day's scenes lost), a one-day range, an item exactly at --cloud-max."""
    assert parse_dates("2023-04-10/2023-04-10") == ("2023-04-10", "2023-04-10")
    dates = {"win_a_dates": ("2023-04-01", "2023-04-10"), "win_b_dates": DATES["win_b_dates"]}
    res = download_scene(tmp_path / "s.tif", _cfg(loopback, cloud_max=6), bbox=BBOX, progress=False, **dates)
    assert res.status == "ok" and len(res.items["a"]) == 2 and all("20230410" in i for i in res.items["a"])


def test_items_without_cloud_cover_come_last(loopback: Loopback, tmp_path: Path) -> None:
    """A missing eo:cloud_cover read as 0 % (picked first) went through a changed rule (session 75's sweep)."""
    for item in loopback.items:
        if "20230410" in item["id"]:
            item["properties"]["eo:cloud_cover"] = 10.0
        if "20230420" in item["id"]:
            item["properties"].pop("eo:cloud_cover", None)
    res = download_scene(tmp_path / "a.tif", _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    assert res.items["a"] and all("20230410" in i for i in res.items["a"])


def test_a_day_covering_the_area_comes_first_and_a_partial_day_is_filled(loopback: Loopback, tmp_path: Path) -> None:
    """Without the east tile of 10 April, 20 April (cloudier, both tiles) covers the area and is taken; without
    the west tile of 20 April too, 10 April's west tile is filled with 20 April's east one. Each went through a
    changed rule (coverage left out of the ranking; the filling loop skipped; session 75's mutation sweep)."""
    every = list(loopback.items)
    loopback.items[:] = [i for i in every if i["id"] != "S2B_MSIL2A_20230410_T33UYP"]
    res = download_scene(tmp_path / "a.tif", _cfg(loopback, cloud_max=50), bbox=BBOX, progress=False, **DATES)
    assert sorted(res.items["a"]) == ["S2B_MSIL2A_20230420_T33UXP", "S2B_MSIL2A_20230420_T33UYP"]
    loopback.items[:] = [i for i in loopback.items if i["id"] != "S2B_MSIL2A_20230420_T33UXP"]
    res = download_scene(tmp_path / "b.tif", _cfg(loopback, cloud_max=50), bbox=BBOX, progress=False, **DATES)
    assert res.items["a"] == ["S2B_MSIL2A_20230410_T33UXP", "S2B_MSIL2A_20230420_T33UYP"]
    assert res.valid_fraction["a"] == 1.0


def test_no_item_under_the_cloud_limit(loopback: Loopback, tmp_path: Path) -> None:
    out = tmp_path / "s.tif"
    with pytest.raises(ValueError, match=r"window A 2023-04-01/2023-04-30: no sentinel-2-l2a item .* under 2% cloud"):
        download_scene(out, _cfg(loopback, cloud_max=2), bbox=BBOX, progress=False, **DATES)
    assert not out.exists() and not parts_dir(out).exists()
    future = {"win_a_dates": ("2099-04-01", "2099-04-30"), "win_b_dates": DATES["win_b_dates"]}
    with pytest.raises(ValueError, match=r"2099-04-30: .*\(no item; the range starts after today, 20\d\d-"):
        download_scene(out, _cfg(loopback), bbox=BBOX, progress=False, **future)
    # a misspelt --stac-collection found nothing and said "widen the dates" (session 88's sweep)
    with pytest.raises(ValueError, match=r"no nope item .*\(no item; the API has no collection 'nope'; its collec"):
        download_scene(out, _cfg(loopback, collection="nope"), bbox=BBOX, progress=False, **DATES)
    with pytest.raises(ValueError, match=r"under 2% cloud .*widen the dates"):  # its collection there: as before
        download_scene(out, _cfg(loopback, cloud_max=2), bbox=BBOX, progress=False, **DATES)


def test_item_missing_a_band(tmp_path: Path) -> None:
    from tests.fields.stac_server import LoopbackServer, make_s2_catalog

    with LoopbackServer() as state:
        make_s2_catalog(state, drop_band="nir")
        out = tmp_path / "s.tif"
        with pytest.raises(ValueError, match=r"S2B_MSIL2A_20230410_T33UXP: no nir band \(looked for asset B08 or nir"):
            download_scene(out, _cfg(state), bbox=BBOX, progress=False, **DATES)
        assert not out.exists() and not parts_dir(out).exists()
        assert not any("/files/" in p for _, p, _ in state.log)  # failed before reading any pixel


def test_stac_api_down_and_flaky(loopback: Loopback, tmp_path: Path) -> None:
    loopback.fail["/stac"] = -1  # always 500
    with pytest.raises(ValueError, match=r"http://127\.0\.0\.1:\d+/stac: STAC API not reachable"):
        download_scene(tmp_path / "s.tif", _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    loopback.fail.clear()
    loopback.fail["/stac/search"] = 1  # one failure, then the retry succeeds
    res = download_scene(tmp_path / "s.tif", _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    assert res.status == "ok"


def test_interrupted_download_resumes_with_the_missing_bands(loopback: Loopback, tmp_path: Path) -> None:
    out = tmp_path / "s.tif"
    loopback.fail["/files/S2B_MSIL2A_20230815_T33UYP_B08"] = -1  # window B NIR of the east tile is down
    with pytest.raises(ValueError, match=r"S2B_MSIL2A_20230815_T33UYP: (reading band nir \(\S+\) failed|cannot open)"):
        download_scene(out, _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    assert not out.exists()
    done = {p.name for p in parts_dir(out).glob("*.npy")}
    assert done == {f"{w}_{b}.npy" for w in "ab" for b in ("red", "green", "blue", "nir")} - {"b_nir.npy"}
    loopback.fail.clear()
    loopback.log.clear()
    res = download_scene(out, _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    assert res.status == "resumed" and out.is_file() and not parts_dir(out).exists()
    fetched = {p for _, p, _ in loopback.log}
    assert not any(p.startswith("/stac") for p in fetched)  # the recorded items are reused
    assert all("_B08" in p for p in fetched)  # only window B's NIR is read again
    fresh = tmp_path / "fresh.tif"
    download_scene(fresh, _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    with rasterio.open(out) as a, rasterio.open(fresh) as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_a_damaged_kept_band_is_downloaded_again(loopback: Loopback, tmp_path: Path, caplog) -> None:
    """A kept band cut short since stopped every re-run with numpy's words, naming no file, until --overwrite
    (session 95's sweep): it is said and downloaded again."""
    out = tmp_path / "s.tif"
    loopback.fail["/files/S2B_MSIL2A_20230815_T33UYP_B08"] = -1
    with pytest.raises(ValueError):
        download_scene(out, _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    red = parts_dir(out) / "a_red.npy"
    red.write_bytes(red.read_bytes()[:1000])  # cut short by a full disk or a sync tool
    np.save(parts_dir(out) / "a_green.npy", np.zeros((3, 4), np.uint16))  # another size
    loopback.fail.clear()
    loopback.log.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        res = download_scene(out, _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    assert res.status == "resumed" and out.is_file()
    assert f"{red}: a band kept by an interrupted run is damaged (" in caplog.text
    assert "a_green.npy: a band kept by an interrupted run is damaged (4x3 px, not the scene's" in caplog.text
    fetched = {p for _, p, _ in loopback.log}
    assert any("_B04" in p for p in fetched) and any("_B03" in p for p in fetched)  # red and green read again
    fresh = tmp_path / "fresh.tif"
    download_scene(fresh, _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    with rasterio.open(out) as a, rasterio.open(fresh) as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_an_interrupted_download_asked_again_with_other_dates_starts_afresh(loopback: Loopback, tmp_path: Path) -> None:
    """An unfinished download's recorded items are for its own request only: a changed rule resumed them for
    other dates, so window A kept the old day's items (session 75's mutation sweep)."""
    out = tmp_path / "s.tif"
    loopback.fail["/files/S2B_MSIL2A_20230815_T33UYP_B08"] = -1
    with pytest.raises(ValueError):
        download_scene(out, _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    loopback.fail.clear()
    later = {"win_a_dates": ("2023-04-15", "2023-04-30"), "win_b_dates": DATES["win_b_dates"]}
    res = download_scene(out, _cfg(loopback, cloud_max=50), bbox=BBOX, progress=False, **later)
    assert res.status == "ok" and res.items["a"] and all("20230420" in i for i in res.items["a"])


EAST_NIR_B = "/files/S2B_MSIL2A_20230815_T33UYP_B08.tif"  # window B NIR of the east tile


def test_a_band_cut_short_fails_its_scene(loopback: Loopback, tmp_path: Path) -> None:
    """A COG cut short on the server read without georeference, landed nowhere in the grid and made a scene
    with one band empty over a tile, reported as "ok" with 100% of pixels holding data (session 68's sweep)."""
    data = loopback.files[EAST_NIR_B]
    loopback.files[EAST_NIR_B] = data[: len(data) // 3]  # cut short: its georeference tags are lost
    out = tmp_path / "s.tif"
    with pytest.raises(ValueError, match=r"T33UYP: reading band nir \(\S+\) failed \(.*B08\.tif has no CRS or georef"):
        download_scene(out, _cfg(loopback, retries=3), bbox=BBOX, progress=False, **DATES)
    assert not out.exists()
    reads = [p for _, p, _ in loopback.log if p == EAST_NIR_B]
    assert len(reads) <= 3, len(reads)  # asked once (GDAL reads a header in a few ranges), not 4 times more


def test_a_missing_band_file_is_asked_for_once_not_retries_cubed(loopback: Loopback, tmp_path: Path) -> None:
    """GDAL's retries inside two nested retry loops asked for a missing file (retries + 1) ** 3 times: 27
    requests and 46 s for --retries 2."""
    del loopback.files[EAST_NIR_B]
    with pytest.raises(ValueError, match=r"T33UYP: reading band nir \(\S+\) failed \(.*404") as err:
        download_scene(tmp_path / "s.tif", _cfg(loopback, retries=2), bbox=BBOX, progress=False, **DATES)
    assert "attempt" not in str(err.value)
    reads = [p for _, p, _ in loopback.log if p == EAST_NIR_B]
    assert 1 <= len(reads) <= 2, len(reads)


def test_a_band_file_whose_first_read_fails_is_retried(loopback: Loopback, tmp_path: Path) -> None:
    """Answered to HEAD, 503 to the first GET: GDAL calls that "not recognized as a supported file format",
    which was taken for a file that is no raster and failed the scene at once (the review of session 68)."""
    loopback.fail_get[EAST_NIR_B] = 1
    res = download_scene(tmp_path / "s.tif", _cfg(loopback, retries=2), bbox=BBOX, progress=False, **DATES)
    assert res.status == "ok"
    assert [m for m, p, _ in loopback.log if p == EAST_NIR_B].count("GET") >= 2  # asked again


def test_a_web_page_for_a_band_fails_at_once(loopback: Loopback, tmp_path: Path) -> None:
    """An HTML page served as a band (a sign-in page, an expired link) was retried with backoff on every bad
    asset, where the docs say a file that is no raster fails at once (session 86's sweep)."""
    loopback.files[EAST_NIR_B] = b"<!DOCTYPE html><html><body>Please sign in</body></html>"
    with pytest.raises(ValueError, match=r"reading band nir \(\S+\) failed \(the server sent a web page") as err:
        download_scene(tmp_path / "s.tif", _cfg(loopback, retries=3), bbox=BBOX, progress=False, **DATES)
    assert "attempt" not in str(err.value)


def test_a_server_error_is_retried_in_one_loop(loopback: Loopback, tmp_path: Path) -> None:
    loopback.fail[EAST_NIR_B] = -1  # always 500
    with pytest.raises(ValueError, match=r"reading band nir \(\S+\) failed after 3 attempt\(s\) \([^(]*500"):
        download_scene(tmp_path / "s.tif", _cfg(loopback, retries=2), bbox=BBOX, progress=False, **DATES)
    reads = [p for _, p, _ in loopback.log if p == EAST_NIR_B]
    assert 3 <= len(reads) <= 6, len(reads)  # three attempts (27 before)


def test_search_pages_are_followed_and_a_loop_of_next_links_ends(loopback: Loopback, tmp_path: Path) -> None:
    """A ``next`` link leading back to the first page was followed up to the item limit (1,000 requests), one
    item listed 500 times, the other tile never reached: coverage 56% (session 68's sweep)."""
    ref = download_scene(tmp_path / "one_page.tif", _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    loopback.page, loopback.loop = 1, True  # one item per page; the last page links to the first
    loopback.log.clear()
    res = download_scene(tmp_path / "paged.tif", _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    assert res.items == ref.items and res.valid_fraction == ref.valid_fraction
    searches = [p for _, p, _ in loopback.log if p.startswith("/stac/search")]
    assert len(searches) < 20, len(searches)


def test_reads_only_the_needed_blocks(tmp_path: Path) -> None:
    """A small area of a large remote COG costs a small part of its bytes (HTTP range requests)."""
    from tests.fields.stac_server import LoopbackServer, _cog, tile_bounds_deg

    rng = np.random.default_rng(0)
    big = rng.integers(1, 10000, size=(768, 768), dtype=np.uint16)
    with LoopbackServer() as state:
        url = state.add_file("/files/big.tif", _cog(big, 500000.0))
        size = len(state.files["/files/big.tif"])
        for i, date in enumerate(("2023-04-10", "2023-08-15")):
            w, s, e, n = tile_bounds_deg(500000.0)
            state.items.append(
                {
                    "type": "Feature",
                    "stac_version": "1.0.0",
                    "id": f"big{i}",
                    "collection": "sentinel-2-l2a",
                    "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
                    "bbox": [w, s, e, n],
                    "properties": {"datetime": f"{date}T10:00:00Z", "eo:cloud_cover": 1.0},
                    "links": [],
                    "assets": {k: {"href": url} for k in ("B02", "B03", "B04", "B08")},
                }
            )
        bbox = bbox_deg(500050, NORTH - 200, 500150, NORTH - 100)
        res = download_scene(tmp_path / "s.tif", _cfg(state), bbox=bbox, progress=False, **DATES)
        assert res.width <= 12 and res.height <= 12
        got = 0
        for method, path, rng_header in state.log:
            if path == "/files/big.tif" and method == "GET":
                assert rng_header.startswith("bytes="), "a whole-file GET"
                a, b = rng_header.removeprefix("bytes=").split("-")
                got += int(b) - int(a) + 1
        assert 0 < got < size / 4, (got, size)


def test_a_failed_read_is_retried(loopback: Loopback, tmp_path: Path) -> None:
    loopback.fail["/files/S2B_MSIL2A_20230410_T33UXP_B03"] = 1  # one 500, then the file is back
    res = download_scene(tmp_path / "s.tif", _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    assert res.status == "ok"
    assert sum(p.endswith("20230410_T33UXP_B03.tif") and m == "HEAD" for m, p, _ in loopback.log) >= 2


def test_mixed_processing_baselines_are_harmonised(loopback: Loopback, tmp_path: Path) -> None:
    for it in loopback.items:
        if it["id"].startswith("S2B_MSIL2A_202304"):
            it["properties"]["s2:processing_baseline"] = "03.01"  # before the -1000 offset
    out = tmp_path / "s.tif"
    download_scene(out, _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    with rasterio.open(out) as src:
        tags, data, transform = src.tags(), src.read(), src.transform
    assert tags["BOA_ADD_OFFSET"] == "0" and tags["WIN_A_PROCESSING_BASELINE"] == "03.01"
    h, w = data.shape[1:]
    np.testing.assert_array_equal(data[0], _expected("red", 0, transform, h, w))  # window A as stored
    np.testing.assert_array_equal(data[4], _expected("red", 3, transform, h, w) - 1000)  # window B offset applied


def test_a_dark_pixel_offset_below_zero_stays_data(loopback: Loopback, tmp_path: Path) -> None:
    """Harmonising a newer baseline subtracts 1000: a dark pixel (water, shadow) of DN 900 becomes 1, never 0,
    which is no data (a changed rule made holes there; session 75's mutation sweep)."""
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy

    for it in loopback.items:
        if it["id"].startswith("S2B_MSIL2A_202304"):
            it["properties"]["s2:processing_baseline"] = "03.01"  # window A before the offset: B is harmonised
    for name in [n for n in loopback.files if "20230815" in n and n.endswith("_B04.tif")]:
        with MemoryFile(loopback.files[name]) as mem, mem.open() as src:
            profile, arr = src.profile, src.read()
        arr[:] = 900  # (1, H, W): dark everywhere
        with MemoryFile() as tmp:
            with tmp.open(**profile) as dst:
                dst.write(arr)
            with MemoryFile() as out, tmp.open() as src:
                copy(src, out.name, driver="COG", BLOCKSIZE=128)
                loopback.files[name] = out.read()
    download_scene(tmp_path / "s.tif", _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    with rasterio.open(tmp_path / "s.tif") as src:
        red_b = src.read(5)  # window B red
    assert (red_b == 1).all()


def test_download_beyond_memory_is_refused_with_the_figure(loopback, tmp_path: Path) -> None:
    """A grid far beyond the memory is refused with the figure, before any band is read."""
    from agriseg.config import OptionError

    out = tmp_path / "scene.tif"
    said = r"scene\.tif at --resolution 0\.001 \(\d+ x \d+ px\) would need about"
    with pytest.raises(OptionError, match=said) as err:
        download_scene(out, _cfg(loopback, resolution=0.001), bbox=BBOX, progress=False, **DATES)
    assert "(a smaller area or a coarser --resolution fits;" in str(err.value)  # not "a smaller size" (an area)
    assert not out.exists() and not parts_dir(out).exists()  # no band was read, nothing left to clean up


def _cli_download(loopback: Loopback, out: Path, *extra: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from agriseg.cli import main

    args = ["fields", "download", "-o", str(out), "--bbox", ",".join(map(str, BBOX)), "--stac-url"]
    args += [loopback.url + "/stac", "--win-a-dates", "2023-04-01/2023-04-30", "--win-b-dates", "2023-08-01/2023-08-31"]
    r = CliRunner().invoke(main, [*args, *extra])
    assert "Traceback" not in r.output and (r.exception is None or isinstance(r.exception, SystemExit)), r.output
    return r.exit_code, r.output


def test_network_settings_do_not_change_the_fingerprint(loopback: Loopback, tmp_path: Path) -> None:
    """Another --retries resumes (network settings change how, not what); another --cloud-max refuses."""
    out = tmp_path / "scene.tif"
    code, text = _cli_download(loopback, out, "--retries", "1")
    assert code == 0 and "1 downloaded" in text, text
    before, n = out.read_bytes(), len(loopback.log)
    code, text = _cli_download(loopback, out, "--retries", "3")
    assert code == 0 and "0 downloaded, 1 skipped" in text, text
    assert len(loopback.log) == n and out.read_bytes() == before  # nothing asked of the API again
    code, text = _cli_download(loopback, out, "--retries", "3", "--cloud-max", "5")
    assert code == 2 and "--cloud-max: 20.0 -> 5.0" in text and "retries" not in text, text
    assert out.read_bytes() == before
    code, text = _cli_download(loopback, out, "--win-a-dates", "2023-04-02/2023-04-30")  # given last: it wins
    assert code == 2 and "--win-a-dates: " in text and "win_a_dates" not in text, text


def test_no_memory_check_option(loopback: Loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agriseg.data.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 1000)  # 1 kB free
    monkeypatch.delenv(memory.OVERRIDE, raising=False)
    out = tmp_path / "scene.tif"
    code, text = _cli_download(loopback, out)  # the area alone is too large: refused before any search
    assert code == 2 and f"{out}: the area 15.0027,47.9982,15.0094,48.0009 at --resolution 10 (at least 1,497 px)" in (
        text.replace("\n", " ")
    ), text
    assert "1 KiB is available" in text and "--no-memory-check" in text and not loopback.log
    assert not out.exists()
    monkeypatch.setattr(memory, "available_memory", lambda: 33_000)  # the area fits; its grid, once known, not
    code, text = _cli_download(loopback, out)  # the grid is known once the items are chosen: the item fails
    assert code == 1 and "scene.tif at --resolution 10.0 (52 x 32 px) would need about" in text, text
    assert not out.exists()
    code, text = _cli_download(loopback, out, "--no-memory-check")
    assert code == 0 and out.is_file(), text


def _select(state: Loopback, dates: tuple[str, str] = DATES["win_a_dates"], bbox: tuple = BBOX, **kw: object) -> list:
    """The ids :func:`select_items` picks for window A."""
    from agriseg.fields.stac import open_api, select_items

    cfg = _cfg(state, **kw)
    return [i.id for i in select_items(open_api(cfg), bbox, dates, cfg, "A")]


def _item(state: Loopback, iid: str) -> dict:
    return next(i for i in state.items if i["id"] == iid)


XP10, YP10 = "S2B_MSIL2A_20230410_T33UXP", "S2B_MSIL2A_20230410_T33UYP"  # 10 April: west 5 %, east 6 % cloud
XP20, YP20 = "S2B_MSIL2A_20230420_T33UXP", "S2B_MSIL2A_20230420_T33UYP"  # 20 April: 40 %, 41 %


def test_a_box_on_the_minus_180_meridian_is_in_degrees() -> None:
    """W = -180 (the first column of a global grid) was refused as "not in degrees" by a changed rule."""
    assert parse_bbox("-180,-10,-179,10") == (-180.0, -10.0, -179.0, 10.0)


def test_a_word_that_is_no_file_is_said_to_be_missing() -> None:
    """``--bbox fields`` (a file name without suffix, not there) was read as a malformed bbox (mutation sweep)."""
    from agriseg.fields.stac import check_area

    with pytest.raises(FileNotFoundError, match=r"--bbox fields: no such file, and not W,S,E,N"):
        check_area("fields")


def test_a_range_from_an_acquisition_day_and_a_datetime_range_find_that_day(loopback: Loopback) -> None:
    """A range starting on an acquisition day was searched from its last second (the day's scenes lost), and a
    range given as datetimes had a time appended again (the search failed): changed rules went through."""
    assert sorted(_select(loopback, parse_dates("2023-04-10/2023-04-30"))) == [XP10, YP10]
    window = parse_dates("2023-04-10T00:00:00Z/2023-04-10T12:00:00Z")
    assert sorted(_select(loopback, window)) == [XP10, YP10]


def test_planetary_computer_items_are_signed_and_others_not() -> None:
    """Unsigned Planetary Computer items answer every band read with 409/403: the default API needs signing."""
    planetary_computer = pytest.importorskip("planetary_computer")
    from agriseg.fields.stac import signer

    assert signer(DownloadConfig(stac_url="planetary-computer")) is planetary_computer.sign_inplace
    assert signer(DownloadConfig(stac_url="http://127.0.0.1:1/stac")) is None


def test_items_given_by_file_or_id_keep_their_form_and_order(loopback: Loopback, tmp_path: Path) -> None:
    """An item JSON file was looked up as an id ("not found"), and ids came back in the catalogue's order rather
    than as given (the first item wins where tiles overlap): changed rules went through (mutation sweep)."""
    import json

    from agriseg.fields.stac import items_by_reference

    cfg = _cfg(loopback)
    assert [i.id for i in items_by_reference(None, [YP10, XP10], cfg, "A")] == [YP10, XP10]
    path = tmp_path / "item.json"
    path.write_text(json.dumps(_item(loopback, YP10)), encoding="utf-8")
    assert [i.id for i in items_by_reference(None, [str(path)], cfg, "A")] == [YP10]


def test_the_least_cloudy_tile_of_the_day_comes_first_whatever_the_api_order(loopback: Loopback) -> None:
    """The tiles of the chosen day came in the API's order: a cloudier tile listed first won where they overlap."""
    loopback.items.reverse()
    assert _select(loopback) == [XP10, YP10]


def test_a_partial_day_is_filled_by_the_least_cloudy_tile_that_adds_area(loopback: Loopback) -> None:
    """Filling a partial day took the first tile the API listed (41 % before 10 %), and a tile adding no area
    (the same tile another day) was read for nothing: changed rules went through (mutation sweep)."""
    every = list(loopback.items)
    east25 = {**_item(loopback, YP20), "id": "S2B_MSIL2A_20230425_T33UYP"}
    east25["properties"] = {**east25["properties"], "datetime": "2023-04-25T10:01:00Z", "eo:cloud_cover": 10.0}
    loopback.items[:] = [i for i in every if i["id"] not in (YP10, XP20)] + [east25]
    assert _select(loopback, cloud_max=50) == [XP10, east25["id"]]
    loopback.items[:] = [i for i in every if i["id"] not in (YP10, YP20)]
    assert _select(loopback, cloud_max=50) == [XP10]  # 20 April's west tile adds nothing


def test_days_are_ranked_by_their_mean_cloud_cover_not_their_sum(loopback: Loopback) -> None:
    """Over the tiles' overlap a day of two tiles (5 %, 6 %) lost to a day of one tile at 8 % (sum 11 > 8)."""
    overlap = bbox_deg(500410, NORTH - 300, 500470, NORTH - 100)  # inside both tiles
    _item(loopback, XP20)["properties"]["eo:cloud_cover"] = 8.0
    loopback.items[:] = [i for i in loopback.items if i["id"] != YP20]
    assert _select(loopback, bbox=overlap) == [XP10, YP10]


def test_an_item_s_offset_and_time_as_its_provider_states_them() -> None:
    """Earth Search items harmonised already were given the -1000 again (dark fields at 0), and an item time in
    +02:00 was read as UTC (WIN_A_DATETIME two hours late): changed rules went through (mutation sweep)."""
    import datetime as dt

    import pystac

    from agriseg.fields.stac import boa_offset_of, item_datetime

    def item(props: dict) -> pystac.Item:
        geom = {"type": "Point", "coordinates": [15.0, 48.0]}
        d = {"type": "Feature", "stac_version": "1.0.0", "id": "x", "geometry": geom, "bbox": [15, 48, 15, 48]}
        return pystac.Item.from_dict({**d, "properties": props, "links": [], "assets": {}})

    new = {"datetime": "2023-04-10T12:01:00+02:00", "s2:processing_baseline": "05.09"}
    assert boa_offset_of(item(new)) == -1000.0
    assert boa_offset_of(item({**new, "earthsearch:boa_offset_applied": True})) == 0.0
    assert item_datetime(item(new)) == dt.datetime(2023, 4, 10, 10, 1, tzinfo=dt.UTC)


def test_retries_wait_backoff_then_double_and_a_429_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first retry waited twice --backoff (2, 4, 8 s for 1, 2, 4), and 429 (too many requests) failed at once
    like a missing file: changed rules went through (mutation sweep)."""
    from rasterio.errors import RasterioIOError

    from agriseg.fields import download

    waits: list[float] = []
    monkeypatch.setattr(download.time, "sleep", waits.append)
    answers = iter(["HTTP response code: 429", "HTTP response code: 503", "HTTP response code: 408"])

    def read() -> str:
        if (said := next(answers, None)) is not None:
            raise RasterioIOError(said)
        return "pixels"

    cfg = DownloadConfig(retries=3, backoff_s=1.0)
    assert download._retrying("/local/b.tif", cfg, (RasterioIOError,), read, "b.tif") == "pixels"
    assert waits == [1.0, 2.0, 4.0]


def test_a_band_whose_server_refuses_connections_fails_without_the_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """A COG on a port nothing listens on was tried 5 times with backoff (24 s; 256 s with --retries 8) before
    "Could not connect to server" (session 104's sweep): one second try, a second apart."""
    import socket

    from agriseg.data import download as dl
    from agriseg.fields import download

    waits: list[float] = []
    monkeypatch.setattr(download.time, "sleep", waits.append)
    monkeypatch.setattr(dl.time, "sleep", waits.append)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    href = f"http://127.0.0.1:{port}/b04.tif"
    cfg = DownloadConfig(retries=8, backoff_s=1.0)
    with pytest.raises(
        ValueError, match=rf"b04: cannot open .*\(connection refused: nothing answers at 127.0.0.1:{port}\)"
    ):
        download._open_remote(href, cfg, "b04")
    assert waits == [1.0]


def test_explicit_items_grid_is_a_window_s_union_where_the_windows_overlap(loopback: Loopback, tmp_path: Path) -> None:
    """Without --bbox the grid took window A's first tile only (its second tile cut off), or the union of the
    windows (a strip with window B empty): changed rules went through (mutation sweep)."""
    cfg = _cfg(loopback)
    xb, yb = "S2B_MSIL2A_20230815_T33UXP", "S2B_MSIL2A_20230815_T33UYP"
    both = download_scene(tmp_path / "both.tif", cfg, win_a=[XP10, YP10], win_b=[xb, yb], progress=False)
    assert (both.width, both.height) == (88, 48) and both.valid_fraction == {"a": 1.0, "b": 1.0}
    apart = download_scene(tmp_path / "apart.tif", cfg, win_a=[XP10], win_b=[yb], progress=False)
    assert (apart.width, apart.height) == (8, 48) and apart.valid_fraction == {"a": 1.0, "b": 1.0}


def test_the_scene_names_its_newest_processing_baseline(loopback: Loopback, tmp_path: Path) -> None:
    """With window A at baseline 05.09 and window B at 04.00, PROCESSING_BASELINE said 04.00 (mutation sweep)."""
    for it in loopback.items:
        if it["id"].startswith("S2B_MSIL2A_202308"):
            it["properties"]["s2:processing_baseline"] = "04.00"
    download_scene(tmp_path / "s.tif", _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    with rasterio.open(tmp_path / "s.tif") as src:
        tags = src.tags()
    assert tags["PROCESSING_BASELINE"] == "05.09" and tags["WIN_B_PROCESSING_BASELINE"] == "04.00"


def test_keep_current_keeps_only_a_scene_of_the_same_request(loopback: Loopback, tmp_path: Path) -> None:
    """keep_current kept a scene downloaded for other dates (its request tag not compared): window A of the
    wrong days, reported as "resumed" (mutation sweep)."""
    out, cfg = tmp_path / "s.tif", _cfg(loopback, cloud_max=50)
    download_scene(out, cfg, bbox=BBOX, progress=False, **DATES)
    again = download_scene(out, cfg, bbox=BBOX, overwrite=True, keep_current=True, progress=False, **DATES)
    assert again.status == "resumed"
    later = {"win_a_dates": ("2023-04-15", "2023-04-30"), "win_b_dates": DATES["win_b_dates"]}
    res = download_scene(out, cfg, bbox=BBOX, overwrite=True, keep_current=True, progress=False, **later)
    assert res.status == "ok" and sorted(res.items["a"]) == [XP20, YP20]


def test_an_output_not_named_tif_is_refused(loopback: Loopback, tmp_path: Path) -> None:
    """A library call writing ``scene.png`` made a GeoTIFF under that name (mutation sweep)."""
    with pytest.raises(ValueError, match=r"scene\.png: the scene is a GeoTIFF, name it \.tif"):
        download_scene(tmp_path / "scene.png", _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    assert not (tmp_path / "scene.png").exists() and not loopback.log


def test_a_band_with_a_crs_but_no_geotransform_fails_its_scene(loopback: Loopback, tmp_path: Path) -> None:
    """A band with a CRS but no geotransform warped to nowhere: window B's NIR empty over a tile, and "ok"."""
    import warnings

    from rasterio.io import MemoryFile

    with MemoryFile() as mem, warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        profile = {"driver": "GTiff", "width": 48, "height": 48, "count": 1, "dtype": "uint16", "crs": "EPSG:32633"}
        with mem.open(**profile) as dst:
            dst.write(np.full((1, 48, 48), 5000, np.uint16))
        loopback.files[EAST_NIR_B] = mem.read()
    with pytest.raises(ValueError, match=r"T33UYP: reading band nir \(\S+\) failed \(.*B08\.tif has no CRS or georef"):
        download_scene(tmp_path / "s.tif", _cfg(loopback), bbox=BBOX, progress=False, **DATES)


@pytest.mark.parametrize("win_a", ["2023-04-01 00:00/2023-04-30 00:00", "2023-04-01T00:00/2023-04-30T12:00+02:00"])
def test_a_datetime_range_the_check_accepts_is_one_the_search_takes(loopback: Loopback, tmp_path: Path, win_a) -> None:
    """A datetime with a space or without seconds passed parse_dates, then the STAC API refused the search
    ("invalid datetime component: 2023-04-01 00:00T00:00:00Z") after the command had started (session 77)."""
    res = download_scene(tmp_path / "s.tif", _cfg(loopback), bbox=BBOX, progress=False,
                         win_a_dates=parse_dates(win_a), win_b_dates=DATES["win_b_dates"])  # fmt: skip
    assert res.status == "ok"
    searched = [p for _, p, _ in loopback.log if p.startswith("/stac/search")]
    assert searched


def test_the_apis_and_the_transfers_failures_are_said_as_what_they_are(
    loopback: Loopback, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Session 84's sweep: items without eo:cloud_cover were said to be "least cloudy 100%"; a search answered
    by a web page was "JSONDecodeError: unexpected character"; a wrong API path "not reachable" with the
    server's JSON; a stalled band "TIFFReadDirectory: Failed to read directory"."""
    import json

    from agriseg.fields.download import _retrying
    from agriseg.fields.stac import api_problem

    for item in loopback.items:
        item["properties"].pop("eo:cloud_cover", None)
    with pytest.raises(ValueError, match=r"none saying its cloud cover \(eo:cloud_cover\), read as 100%; --cloud-max"):
        download_scene(tmp_path / "s.tif", _cfg(loopback), bbox=BBOX, progress=False, **DATES)
    page = json.JSONDecodeError("unexpected character", "<html>", 0)  # "not reachable" when it did answer:
    assert api_problem(page).startswith("it answered with something that is not JSON")  # no STAC API there
    cfg = _cfg(loopback).model_copy(update={"stac_url": loopback.url + "/nothere"})
    with pytest.raises(ValueError, match=r"/nothere: no STAC API there \(HTTP 404\)"):
        download_scene(tmp_path / "s.tif", cfg, bbox=BBOX, progress=False, **DATES)
    # a file's URL, or JSON of another kind, was "STAC API not reachable" (session 93's sweep): it answered
    a_file = "/files/S2B_MSIL2A_20230410_T33UXP_B04.tif"
    for path, said in ((a_file, "it answered with a file, not JSON"), ("/stac/search", "")):
        cfg = _cfg(loopback).model_copy(update={"stac_url": loopback.url + path})
        with pytest.raises(ValueError) as err:
            download_scene(tmp_path / "s.tif", cfg, bbox=BBOX, progress=False, **DATES)
        assert "no STAC API there" in str(err.value) and said in str(err.value), err.value

    def stalls() -> None:
        import time

        time.sleep(0.3)
        raise OSError("x.tif: TIFFReadDirectory:Failed to read directory at offset 192")

    slow = _cfg(loopback, retries=0).model_copy(update={"timeout_s": 0.3})
    with pytest.raises(ValueError, match=r"x: cannot open after 1 attempt\(s\) \(no answer within 0.3 s; x.tif"):
        _retrying("http://h/x.tif", slow, (OSError,), stalls, "x: cannot open")
    # each retry of a band read that got no answer is said, as a search's is (session 106's sweep: five silent
    # minutes with the defaults); the last attempt's is the error
    again = slow.model_copy(update={"retries": 2, "backoff_s": 0})
    with caplog.at_level("WARNING", logger="agriseg"), pytest.raises(ValueError, match="after 3 attempt"):
        _retrying("http://h/x.tif?sig=1", again, (OSError,), stalls, "x: cannot open")
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"http://h/x.tif: no answer within 0.3 s; trying again (attempt {n} of 3)" for n in (2, 3)], said


def test_a_search_answered_with_json_of_another_shape_is_said_so(loopback: Loopback, tmp_path: Path) -> None:
    """A search answered `[1, 2]` failed "('list' object has no attribute 'get')" (session 104's sweep); an
    object without `features` read as a search that found nothing."""
    bodies = (b"[1, 2]", b'{"type": "FeatureCollection", "features": [7]}', b'{"error": "busy"}', b'{"features": {}}')
    for body in bodies:
        loopback.add_file("/stac/search", body)
        with pytest.raises(ValueError) as err:
            download_scene(tmp_path / "s.tif", _cfg(loopback), bbox=BBOX, progress=False, **DATES)
        assert "it answered with JSON that is not a STAC ItemCollection (features)" in str(err.value), err.value
        assert "attribute" not in str(err.value)


def test_relative_asset_hrefs_are_read_from_their_item(tmp_path: Path) -> None:
    """A static catalog's `../../data/B04.tif` was opened from the working folder: "No such file" (session 86's
    sweep)."""
    import pystac

    from agriseg.fields.stac import band_href

    item_dir = tmp_path / "cat" / "item"
    item_dir.mkdir(parents=True)
    item = pystac.Item("item", None, None, dt.datetime(2023, 4, 10), {})
    item.add_asset("B04", pystac.Asset("../../data/B04.tif"))
    item.set_self_href(str(item_dir / "item.json"))
    assert band_href(item, "red") == str(tmp_path / "data" / "B04.tif")
    item.set_self_href(None)  # nothing to resolve it against: as given
    assert band_href(item, "red") == "../../data/B04.tif"


def test_a_static_catalog_is_said_to_have_no_search(tmp_path: Path) -> None:
    """`--stac-url catalog.json` with an area and dates failed with pystac-client's "Server does not conform to
    ITEM_SEARCH, There is no fallback option available for search." (session 86's sweep)."""
    import pystac

    cat = pystac.Catalog(id="local", description="a folder of items")
    cat.add_item(
        pystac.Item("x", {"type": "Point", "coordinates": [15.0, 48.0]}, [15, 48, 15, 48], dt.datetime(2023, 4, 10), {})
    )
    cat.normalize_hrefs(str(tmp_path / "cat"))
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    cfg = DownloadConfig(stac_url=str(tmp_path / "cat" / "catalog.json"), retries=0)
    with pytest.raises(ValueError, match=r"catalog.json: a STAC catalog without item search: .* --win-a and --win-b"):
        download_scene(tmp_path / "s.tif", cfg, bbox=(14.99, 47.99, 15.01, 48.01), progress=False, **DATES)


def test_items_that_cover_part_of_the_area_are_said(loopback: Loopback, tmp_path: Path, caplog) -> None:
    """Items covering 0.003 % of the area gave "ok" and "pixels with data: A 0%" (session 95's sweep): a window
    with data on under half of the area is warned of."""
    a, b = "S2B_MSIL2A_20230420_T33UXP", "S2B_MSIL2A_20230801_T33UXP"  # the west tile only
    wide = bbox_deg(500200, 5316100, 503200, 5316400)
    with caplog.at_level("WARNING", logger="agriseg"):
        res = download_scene(tmp_path / "s.tif", _cfg(loopback), wide, win_a=[a], win_b=[b], progress=False)
    assert res.status == "ok" and res.valid_fraction["a"] < 0.5, res.valid_fraction
    assert f"s.tif: window A has data on only {100 * res.valid_fraction['a']:.2g}% of the area: its items ({a})" in (
        caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):  # both tiles: all the area
        res = download_scene(tmp_path / "t.tif", _cfg(loopback), BBOX, progress=False, **DATES)
    assert min(res.valid_fraction.values()) > 0.99 and "has data on only" not in caplog.text
    # one band whose assets cover a corner only: "B 100%" (the union of the bands), NIR 0 over the rest
    from agriseg.fields.download import _forget_remote
    from tests.fields.stac_server import _cog

    for path in [p for p in loopback.files if p.endswith("_B08.tif")]:
        west = TILES[path.rsplit("_", 2)[-2]]
        _forget_remote(loopback.add_file(path, _cog(np.full((8, 8), 3000, np.uint16), west)))  # GDAL's cache too
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        res = download_scene(tmp_path / "n.tif", _cfg(loopback), BBOX, progress=False, **DATES)
    assert max(res.valid_fraction.values()) < 0.5 and "window A has data on only" in caplog.text, res.valid_fraction


def test_two_scenes_of_one_stem_keep_their_own_records(loopback: Loopback, tmp_path: Path) -> None:
    """`-o scene.tif` then `-o scene.tiff` (another request) in one folder: the second replaced the first's
    record, so the first's unchanged re-run was refused as a file agriseg did not write (session 97's sweep)."""
    from click.testing import CliRunner

    from agriseg.cli import main

    bbox = ",".join(f"{v:.6f}" for v in BBOX)
    args = ["fields", "download", "--bbox", bbox, "--win-a-dates", "2023-04-01/2023-04-30", "--win-b-dates",
            "2023-08-01/2023-08-31", "--stac-url", loopback.url + "/stac", "-o"]  # fmt: skip
    assert CliRunner().invoke(main, [*args, str(tmp_path / "scene.tif")]).exit_code == 0
    other = CliRunner().invoke(main, [*args, str(tmp_path / "scene.tiff"), "--cloud-max", "30"])
    assert other.exit_code == 0, other.output
    again = CliRunner().invoke(main, [*args, str(tmp_path / "scene.tif")])
    assert again.exit_code == 0 and "0 downloaded, 1 skipped" in again.output, again.output


@pytest.mark.parametrize("given", ["", "folder"])
def test_a_stac_url_of_nothing_or_a_folder_is_a_usage_error(given: str, tmp_path: Path) -> None:
    """`--stac-url ""` (the working folder) or a folder was taken as a catalog file and failed each scene with
    "Is a directory" (session 97's sweep)."""
    if given:
        given = str(tmp_path)
    with pytest.raises(ValueError, match="not a STAC API name .*, an http.s. URL or a catalog file"):
        DownloadConfig(stac_url=given)
    with pytest.raises(ValueError, match="not a STAC API name"):
        FieldsRunConfig(landcover_stac_url=given)


def test_a_catalog_file_under_home_is_opened_where_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--stac-url ~/cat.json` passed the check, then was opened as "./~/cat.json"; a name too long for a file
    raised OSError out of the check (session 97's review)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "cat.json").write_text("{}")
    assert DownloadConfig(stac_url="~/cat.json").stac_url == str(tmp_path / "cat.json")
    with pytest.raises(ValueError, match="not a STAC API name"):
        DownloadConfig(stac_url="a" * 300)


def test_stac_requests_wait_as_every_download_and_a_long_retry_after_is_capped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A STAC API's `429 Retry-After: 3600` made the search wait an hour without a word, and urllib3 retried the
    first time at once (waits 0, 2, 4, 8 s for --backoff 1; session 102's sweep)."""
    from urllib3.exceptions import ResponseError

    from agriseg.data.download import MAX_RETRY_AFTER_S
    from agriseg.fields.stac import stac_io

    retry = stac_io(DownloadConfig(retries=4, backoff_s=1.0)).session.adapters["https://"].max_retries  # StacRetry
    waits = []
    for _ in range(4):
        retry = retry.increment("GET", "/search", error=ResponseError("HTTP 500"))
        waits.append(retry.get_backoff_time())
    assert waits == [1.0, 2.0, 4.0, 8.0]
    with caplog.at_level("WARNING", logger="agriseg"):
        assert retry.parse_retry_after("3600") == MAX_RETRY_AFTER_S and retry.parse_retry_after("3") == 3
    assert caplog.text.count("asked to wait 3600 s before trying again (Retry-After); waiting 120 s, the most") == 1
    import pickle

    assert type(pickle.loads(pickle.dumps(retry))) is type(retry)  # a client holding it travels to workers


def test_a_search_that_gets_no_answer_is_said_on_each_retry_and_at_the_end(caplog: pytest.LogCaptureFixture) -> None:
    """A hung search ran 5.5 minutes without a word, then failed "(no answer in time (timed out))", where a band's
    read names its attempts and timeout (session 104's sweep)."""
    import requests
    from urllib3.exceptions import ReadTimeoutError

    from agriseg.fields.stac import _search, stac_io

    cfg = DownloadConfig(stac_url="https://stac.example/api", retries=2, timeout_s=30)
    retry = stac_io(cfg).session.adapters["https://"].max_retries

    class Pool:
        scheme, host, port = "https", "stac.example", 443

    with caplog.at_level("WARNING", logger="agriseg"):
        error = ReadTimeoutError(None, "/api/search", "Read timed out. (read timeout=30)")  # type: ignore[arg-type]
        retry.increment("POST", "/api/search", error=error, _pool=Pool())
    assert "https://stac.example:443/api/search: no answer in time; trying again (attempt 2 of 3)" in caplog.text

    class Client:
        def search(self, **kw: object) -> None:
            raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")

    with pytest.raises(ValueError) as err:
        _search(Client(), cfg, "window A")
    assert str(err.value) == (
        "https://stac.example/api: search for window A failed (no answer in time (timed out), 3 attempt(s) of up to "
        "30 s each)"
    )


def test_a_file_where_the_parts_folder_goes_is_named(tmp_path: Path) -> None:
    """A file named `.d.tif.parts` failed the download with "[Errno 17] File exists" after the search (session 102)."""
    (tmp_path / ".d.tif.parts").write_text("mine")
    with pytest.raises(ValueError, match=r"\.d\.tif\.parts: a file is in the way of the download's working folder"):
        download_scene(tmp_path / "d.tif", DownloadConfig(stac_url="http://127.0.0.1:9/stac"), bbox=BBOX,
                       progress=False, **DATES)  # fmt: skip
    assert (tmp_path / ".d.tif.parts").read_text() == "mine"
