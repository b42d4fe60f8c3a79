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
