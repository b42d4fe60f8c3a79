"""Fetching a named land-cover source for a raster: what is kept, what is made again, what is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
pytest.importorskip("pystac_client")

from agriseg.fields.landcover import fetch_landcover  # noqa: E402
from tests.fields.stac_server import TILES, Loopback, make_landcover_catalog, tile_bounds_deg  # noqa: E402


def _raster(path: Path) -> Path:
    """A small lon/lat raster inside the test land-cover items (0.002 degrees a side)."""
    from rasterio.transform import from_origin

    w, _, _, n = tile_bounds_deg(TILES["T33UXP"])
    profile = {"driver": "GTiff", "width": 20, "height": 20, "count": 1, "dtype": "uint8", "crs": "EPSG:4326",
               "transform": from_origin(w + 0.001, n - 0.001, 0.0001, 0.0001)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.ones((1, 20, 20), np.uint8))
    return path


def test_a_users_file_under_the_landcover_name_is_kept(season_server: Loopback, tmp_path: Path) -> None:
    raster = _raster(tmp_path / "r.tif")
    mine = tmp_path / "r_landcover.tif"
    mine.write_bytes(b"my own land-cover notes")
    with pytest.raises(ValueError, match="exists and was not written by agriseg"):
        fetch_landcover(raster, "esa-worldcover", mine, season_server.url + "/stac")
    assert mine.read_bytes() == b"my own land-cover notes"
    record = fetch_landcover(raster, "esa-worldcover", mine, season_server.url + "/stac", overwrite=True)
    assert record["collection"] == "esa-worldcover"


def test_a_landcover_file_of_another_source_is_made_again(season_server: Loopback, tmp_path: Path) -> None:
    make_landcover_catalog(season_server, "io-lulc-annual-v02", "data", {2021: 5})
    raster, out, stac = _raster(tmp_path / "r.tif"), tmp_path / "r_landcover.tif", season_server.url + "/stac"
    first = fetch_landcover(raster, "esa-worldcover", out, stac)
    assert fetch_landcover(raster, "esa-worldcover", out, stac) == first  # the same source: kept
    second = fetch_landcover(raster, "io-lulc", out, stac)
    assert second["collection"] == "io-lulc-annual-v02"
    with rasterio.open(out) as src:  # the new source's classes (and the test items' water), not the first's
        assert set(np.unique(src.read(1))) <= {5, 80} and 5 in src.read(1)


def test_imagery_between_two_land_cover_years_takes_the_later_year() -> None:
    """Ties go to the later year (documented): imagery of 2022 between maps of 2021 and 2023 took 2021's."""
    import datetime as dt
    from types import SimpleNamespace

    from agriseg.fields.landcover import choose_items

    items = [SimpleNamespace(id=f"lc-{y}", datetime=dt.datetime(y, 1, 1, tzinfo=dt.UTC)) for y in (2021, 2023)]
    assert [i.id for i in choose_items(items, 2022)] == ["lc-2023"]
    assert [i.id for i in choose_items(items, 2021)] == ["lc-2021"]
    assert [i.id for i in choose_items(items, None)] == ["lc-2023"]  # no imagery time: the newest


def test_a_named_source_filters_on_its_cropland_class_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--landcover io-lulc`` keeps IO LULC's class 5 ("crops"; 4 is flooded vegetation), esa-worldcover its
    class 40; without a default, a named source failed for lack of classes to keep or drop."""
    from agriseg.fields import landcover
    from agriseg.vector import PolygonizeConfig

    monkeypatch.setattr(landcover, "fetch_landcover", lambda *a, **k: {"source": a[1]})  # no STAC API needed
    raster = tmp_path / "s_probs.tif"
    for name, classes in (("io-lulc", [5]), ("esa-worldcover", [40])):
        cfg, record = landcover.landcover_config(PolygonizeConfig(landcover=name), raster, tmp_path, "api", False)
        assert cfg.landcover_keep == classes and cfg.landcover == str(tmp_path / "s_landcover.tif"), name
        assert record == {"source": name}
    told = PolygonizeConfig(landcover="io-lulc", landcover_drop=[7])
    cfg, _ = landcover.landcover_config(told, raster, tmp_path, "api", False)
    assert cfg.landcover_keep == [] and cfg.landcover_drop == [7]


def _add_item(state: Loopback, iid: str, year: int, arr: np.ndarray, west: float, north: float) -> None:
    """Serve ``arr`` (uint8, 0 = NoData, 0.0001-degree pixels from ``west, north``) as an esa-worldcover item."""
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    h, w = arr.shape
    profile = {"driver": "GTiff", "dtype": "uint8", "count": 1, "width": w, "height": h, "crs": "EPSG:4326",
               "transform": from_origin(west, north, 0.0001, 0.0001), "nodata": 0}  # fmt: skip
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(arr, 1)
        url = state.add_file(f"/files/{iid}.tif", mem.read())
    east, south = west + w * 0.0001, north - h * 0.0001
    state.items.append(
        {
            "type": "Feature", "stac_version": "1.0.0", "stac_extensions": [], "id": iid,
            "collection": "esa-worldcover",
            "geometry": {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                                             [west, north], [west, south]]]},
            "bbox": [west, south, east, north],
            "properties": {"datetime": f"{year}-07-01T00:00:00Z"},
            "links": [], "assets": {"map": {"href": url, "type": "image/tiff; application=geotiff"}},
        }
    )  # fmt: skip


def test_the_first_item_of_a_year_wins_where_items_overlap(tmp_path: Path) -> None:
    """Items of one year are mosaicked first-wins, later items filling only its NoData: they overwrote it."""
    from tests.fields.stac_server import LoopbackServer

    w, _, _, n = tile_bounds_deg(TILES["T33UXP"])
    first = np.zeros((40, 40), np.uint8)
    first[:, :20] = 40  # cropland over the raster's western half (its columns 0-9), NoData east of it
    with LoopbackServer() as state:
        _add_item(state, "first", 2021, first, w, n)
        _add_item(state, "second", 2021, np.full((40, 40), 30, np.uint8), w, n)
        out = tmp_path / "r_landcover.tif"
        record = fetch_landcover(_raster(tmp_path / "r.tif"), "esa-worldcover", out, state.url + "/stac")
    assert record["items"] == ["first", "second"]
    with rasterio.open(out) as src:
        lc = src.read(1)
    assert (lc[:, :10] == 40).all() and (lc[:, 10:] == 30).all()


def test_a_landcover_file_from_another_stac_api_is_made_again(tmp_path: Path) -> None:
    """The land cover kept next to the fields is reused only for the same source from the same STAC API: one of
    another API was reused."""
    from tests.fields.stac_server import LoopbackServer

    raster, out = _raster(tmp_path / "r.tif"), tmp_path / "r_landcover.tif"
    with LoopbackServer() as one, LoopbackServer() as other:
        make_landcover_catalog(one, years={2021: 40})
        make_landcover_catalog(other, years={2021: 30})
        first = fetch_landcover(raster, "esa-worldcover", out, one.url + "/stac")
        second = fetch_landcover(raster, "esa-worldcover", out, other.url + "/stac")
    assert first["stac_api"] != second["stac_api"] == other.url + "/stac"
    with rasterio.open(out) as src:  # the other API's classes (and the test items' water)
        assert set(np.unique(src.read(1))) <= {30, 80} and 30 in src.read(1)


def test_a_failing_land_cover_read_is_retried_once_over(season_server: Loopback, tmp_path: Path) -> None:
    """Each attempt of the read retried its own open too: 25 requests and 80 s for --retries 4, and a message
    saying "after 5 attempt(s)" twice (session 100's sweep). One retry loop, said once."""
    raster = _raster(tmp_path / "r.tif")
    season_server.fail["/files/esa-worldcover"] = 10**6  # every request: HTTP 500
    with pytest.raises(ValueError) as err:
        fetch_landcover(raster, "esa-worldcover", tmp_path / "lc.tif", season_server.url + "/stac", retries=1)
    assert str(err.value).count("attempt(s)") == 1, err.value
    asked = [p for _, p, _ in season_server.log if p.startswith("/files/esa-worldcover")]
    assert 0 < len(asked) <= 4, asked  # 2 attempts (GDAL may ask twice each)
