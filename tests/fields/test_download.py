"""Sentinel-2 download from a (loopback) STAC API: item choice, mosaic, band order, tags, failures, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agriseg.fields.config import DownloadConfig
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


@pytest.mark.parametrize(
    "text, words",
    [
        ("1,2,3", "four numbers"),
        ("10,50,10,51", "empty"),
        ("11,50,10,51", "inverted"),
        ("179.9,-17,-179.9,-16.8", r"crosses the 180th meridian .*\(179\.9,-17\.0,180,-16\.8 and -180,-17\.0,-179\.9"),
        ("500000,5300000,510000,5310000", "not in degrees"),
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
    with pytest.raises(ValueError, match=r"S2B_MSIL2A_20230815_T33UYP: (reading band nir failed|cannot open)"):
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
    with pytest.raises(ValueError, match=r"T33UYP: reading band nir failed \(.*B08\.tif has no CRS or georef"):
        download_scene(out, _cfg(loopback, retries=3), bbox=BBOX, progress=False, **DATES)
    assert not out.exists()
    reads = [p for _, p, _ in loopback.log if p == EAST_NIR_B]
    assert len(reads) <= 3, len(reads)  # asked once (GDAL reads a header in a few ranges), not 4 times more


def test_a_missing_band_file_is_asked_for_once_not_retries_cubed(loopback: Loopback, tmp_path: Path) -> None:
    """GDAL's retries inside two nested retry loops asked for a missing file (retries + 1) ** 3 times: 27
    requests and 46 s for --retries 2."""
    del loopback.files[EAST_NIR_B]
    with pytest.raises(ValueError, match=r"T33UYP: reading band nir failed \(.*404") as err:
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


def test_a_server_error_is_retried_in_one_loop(loopback: Loopback, tmp_path: Path) -> None:
    loopback.fail[EAST_NIR_B] = -1  # always 500
    with pytest.raises(ValueError, match=r"reading band nir failed after 3 attempt\(s\) \([^(]*500"):
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
    with pytest.raises(OptionError, match=r"scene\.tif at --resolution 0\.001 \(\d+ x \d+ px\) would need about"):
        download_scene(out, _cfg(loopback, resolution=0.001), bbox=BBOX, progress=False, **DATES)
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
    assert code == 1 and "--cloud-max: 20.0 -> 5.0" in text and "retries" not in text, text
    assert out.read_bytes() == before
    code, text = _cli_download(loopback, out, "--win-a-dates", "2023-04-02/2023-04-30")  # given last: it wins
    assert code == 1 and "--win-a-dates: " in text and "win_a_dates" not in text, text


def test_no_memory_check_option(loopback: Loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agriseg.data.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 1000)  # 1 kB free
    monkeypatch.delenv(memory.OVERRIDE, raising=False)
    out = tmp_path / "scene.tif"
    code, text = _cli_download(loopback, out)  # the grid is known once the items are chosen: the item fails
    assert code == 1 and "scene.tif at --resolution 10.0 (52 x 32 px) would need about" in text, text
    assert "1 KiB is available" in text and "--no-memory-check" in text
    assert not out.exists()
    code, text = _cli_download(loopback, out, "--no-memory-check")
    assert code == 0 and out.is_file(), text
