"""Scene headers (``agriseg.raster.io``)."""

from __future__ import annotations

import pytest
from affine import Affine
from rasterio.crs import CRS


def test_a_rotated_grid_s_pixel_area_is_its_parallelogram() -> None:
    """A grid rotated by 15 degrees was taken as |a| |e| (the predict summary said 6.1 km2 of 6.55)."""
    from agriseg.raster.io import pixel_area_m2

    rotated = Affine.translation(400000, 5350000) * Affine.rotation(15) * Affine.scale(10, -10)
    assert pixel_area_m2(CRS.from_epsg(32633), rotated, 100, 100) == pytest.approx(100.0, rel=1e-6)
    assert pixel_area_m2(None, rotated) == pytest.approx(100.0, rel=1e-6)


def test_pixel_area_at_the_centre_latitude_and_in_feet() -> None:
    """A pixel's area taken at the top row, or a feet CRS's unit not squared, went through (session 75's mutation
    sweep): the tests' rasters were 1e-4 degrees tall and metric."""
    from pyproj import Geod
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from agriseg.raster.io import pixel_area_m2

    t = from_origin(10.0, 49.0, 0.001, 0.001)  # 1000 x 1000 px: 49 N down to 48 N
    centre, _ = Geod(ellps="WGS84").polygon_area_perimeter([10.5, 10.501, 10.501, 10.5], [48.5, 48.5, 48.499, 48.499])
    assert pixel_area_m2(CRS.from_epsg(4326), t, 1000, 1000) == pytest.approx(abs(centre), rel=1e-4)
    feet = pixel_area_m2(CRS.from_epsg(2263), from_origin(1e6, 2e5, 10, 10), 100, 100)  # 10 US survey feet
    assert feet == pytest.approx(9.2903, rel=1e-2)
