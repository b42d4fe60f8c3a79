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
