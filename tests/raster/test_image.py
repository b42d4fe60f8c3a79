"""Reading users' rasters as RGB: palettes as their colours, a palette's transparent colours as nodata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agriseg.raster.image import read_image_valid, reading_rules

GREEN, SOIL, WATER = (0, 128, 0), (200, 180, 150), (0, 0, 255)


def _numbers() -> np.ndarray:
    idx = np.zeros((32, 48), np.uint8)  # (H, W) colour numbers: 0 green, 1 soil, 2 water
    idx[:, 24:] = 1
    idx[:4] = 2
    return idx


def test_palette_geotiff_reads_as_its_colours(tmp_path: Path) -> None:
    """A palette GeoTIFF read as grey colour numbers (0, 1, 2: a black tile)."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    path = tmp_path / "classes.tif"
    profile = {"driver": "GTiff", "height": 32, "width": 48, "count": 1, "dtype": "uint8", "photometric": "palette",
               "crs": "EPSG:32631", "transform": from_origin(500000, 5000000, 10, 10)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(_numbers(), 1)
        dst.write_colormap(1, {0: (*GREEN, 255), 1: (*SOIL, 255), 2: (*WATER, 255)})
    img, geo, valid = read_image_valid(path)
    assert img.shape == (32, 48, 3) and img.dtype == np.uint8
    assert tuple(img[10, 0]) == GREEN and tuple(img[10, 30]) == SOIL and tuple(img[0, 0]) == WATER
    assert geo is not None and geo.crs == "EPSG:32631" and valid is None
    assert reading_rules(path) == {"palette": "colours"}  # outputs of the old reading are made again
    img, _, _ = read_image_valid(path, bands=[1, 1, 1])  # bands named: the numbers themselves
    assert tuple(img[10, 30]) == (1, 1, 1)


def test_palette_png_transparent_colour_is_nodata(tmp_path: Path) -> None:
    path = tmp_path / "classes.png"
    im = Image.fromarray(_numbers(), "P")
    im.putpalette([*GREEN, *SOIL, *WATER])
    im.save(path, transparency=2)  # water transparent: no data there
    img, _, valid = read_image_valid(path)
    assert tuple(img[10, 0]) == GREEN and tuple(img[10, 30]) == SOIL
    assert valid is not None and not valid[:4].any() and valid[4:].all()
    assert reading_rules(path) == {"nodata": "masked"}
