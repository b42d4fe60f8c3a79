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


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_png_colour_key_is_nodata(tmp_path: Path, mode: str) -> None:
    """A grey or RGB PNG's tRNS colour key (a transparent value, no alpha band) was read as that colour: a
    tile transparent all over gave training samples and no nodata pixels (session 83's sweep)."""
    a = np.full((6, 8, 3), (10, 20, 30), np.uint8) if mode == "RGB" else np.full((6, 8), 7, np.uint8)
    a[0, 0] = 200
    key = (10, 20, 30) if mode == "RGB" else 7
    Image.fromarray(a, mode).save(tmp_path / "t.png", transparency=key)
    img, _, valid = read_image_valid(tmp_path / "t.png")
    assert valid is not None and valid.sum() == 1 and valid[0, 0] and img[1, 1].tolist() == [0, 0, 0]
    assert reading_rules(tmp_path / "t.png") == {"nodata": "masked"}


def test_a_float_rasters_nan_is_nodata_declared_or_not(tmp_path: Path) -> None:
    """A float GeoTIFF with NaN outside its footprint and no nodata value failed as "image has NaN or infinite
    values" (session 83's sweep): NaN is no data there, as a GIS shows it."""
    import rasterio
    from rasterio.transform import from_origin

    a = np.full((3, 10, 12), 0.2, np.float32)
    a[:, :3] = np.nan
    a[1, 5, 5] = np.inf
    profile = {"driver": "GTiff", "width": 12, "height": 10, "count": 3, "dtype": "float32", "crs": "EPSG:32633"}
    with rasterio.open(tmp_path / "f.tif", "w", transform=from_origin(500000, 4500000, 10, 10), **profile) as dst:
        dst.write(a)
    img, geo, valid = read_image_valid(tmp_path / "f.tif")
    assert valid is not None and not valid[:3].any() and valid[3:].sum() == 7 * 12 - 1 and not valid[5, 5]
    assert img[4, 0].tolist() == [51, 51, 51] and geo is not None  # 0.2 of the 0-1 range


def test_two_bands_of_data_are_said_to_read_as_grey(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A 2-band GeoTIFF was read as band 1 in grey, band 2 dropped without a word (session 83's sweep)."""
    import rasterio
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "width": 6, "height": 4, "count": 2, "dtype": "uint8", "crs": "EPSG:32633"}
    with rasterio.open(tmp_path / "two.tif", "w", transform=from_origin(500000, 4500000, 10, 10), **profile) as dst:
        dst.write(np.zeros((2, 4, 6), np.uint8))
    with caplog.at_level("WARNING"):
        img, _, _ = read_image_valid(tmp_path / "two.tif")
    assert img.shape == (4, 6, 3) and "two.tif: 2 bands read as a grey image of band 1 (band 2 left out)" in caplog.text


def test_band_numbers_start_at_one(tmp_path: Path) -> None:
    """``--bands 0,1,2`` was taken (and failed later as an unreadable image) rather than refused by name."""
    from agriseg.raster.image import pick_rgb_bands

    with pytest.raises(ValueError, match=r"x\.tif: --bands needs three band numbers in 1\.\.4, got \[0, 1, 2\]"):
        pick_rgb_bands([None] * 4, 4, [0, 1, 2], tmp_path / "x.tif")


def test_a_pixel_that_is_nodata_in_one_band_is_not_valid(tmp_path: Path) -> None:
    """A pixel with nodata in its green band only counted as valid, read as a green-less colour (mutation sweep)."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    arr = np.full((3, 4, 4), 100, np.uint8)
    arr[1, 0, 0] = 0  # green is nodata at (0, 0)
    path = tmp_path / "rgb.tif"
    profile = {"driver": "GTiff", "height": 4, "width": 4, "count": 3, "dtype": "uint8", "nodata": 0,
               "crs": "EPSG:32631", "transform": from_origin(500000, 5000000, 10, 10)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)
    _, _, valid = read_image_valid(path)
    assert valid is not None and not valid[0, 0] and valid.sum() == 15


def test_a_tiff_with_a_geotransform_but_no_crs_keeps_its_transform(tmp_path: Path) -> None:
    """A TIFF with pixel coordinates but no CRS lost its geotransform too (outputs at 0, 0; mutation sweep)."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    from agriseg.raster.image import read_georef

    path = tmp_path / "local.tif"
    with rasterio.open(path, "w", driver="GTiff", height=4, width=4, count=3, dtype="uint8",
                       transform=from_origin(10, 20, 1, 1)) as dst:  # fmt: skip
        dst.write(np.ones((3, 4, 4), np.uint8))
    geo = read_georef(path)
    assert geo is not None and geo.crs is None and geo.transform == (1.0, 0.0, 10.0, 0.0, -1.0, 20.0)


def test_tiles_users_have_read_quietly_and_in_place(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Session 86's text sweep: an RGBN GeoTIFF with a nodata value printed rasterio's NodataShadowWarning with a
    source line; a tile placed by ground control points lost its place unsaid; a cut-off file was "Read failed.
    See previous exception for details." with no exception shown."""
    import warnings

    import rasterio
    from rasterio.control import GroundControlPoint as GCP
    from rasterio.transform import from_origin

    pixels = np.random.default_rng(0).integers(1, 255, (4, 32, 32), dtype=np.uint8)
    grid = {"crs": "EPSG:32633", "transform": from_origin(500_000, 5_000_000, 0.5, 0.5)}
    rgbn = tmp_path / "rgbn.tif"
    with rasterio.open(rgbn, "w", driver="GTiff", count=4, height=32, width=32, dtype="uint8", nodata=0, **grid) as d:
        d.write(pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image_valid(rgbn)[1].crs == "EPSG:32633"
    placed = [GCP(0, 0, 500_000, 5_000_000), GCP(0, 32, 500_016, 5_000_000), GCP(32, 0, 500_000, 4_999_984)]
    bent = [*placed, GCP(32, 32, 500_030, 4_999_970)]  # no affine transform fits: 5 px off
    for name, gcps in (("gcp.tif", [*placed, GCP(32, 32, 500_016, 4_999_984)]), ("bent.tif", bent)):
        kw = {"gcps": gcps, "crs": rasterio.crs.CRS.from_epsg(32633)}
        with rasterio.open(
            tmp_path / name, "w", driver="GTiff", count=3, height=32, width=32, dtype="uint8", **kw
        ) as d:
            d.write(pixels[:3])
    geo = read_image_valid(tmp_path / "gcp.tif")[1]
    assert geo.crs == "EPSG:32633" and geo.transform == pytest.approx((0.5, 0, 500_000, 0, -0.5, 5_000_000))
    with caplog.at_level("WARNING"):
        assert read_image_valid(tmp_path / "bent.tif")[1].crs is None
    assert "bent.tif: placed by 4 ground control points that no geotransform fits" in caplog.text
    (tmp_path / "cut.tif").write_bytes(rgbn.read_bytes()[:600])
    with pytest.raises(ValueError, match=r"cut.tif: cannot read image \(its pixels cannot be read: a damaged or cut"):
        read_image_valid(tmp_path / "cut.tif")


def test_a_custom_crs_is_kept_as_it_is(tmp_path: Path) -> None:
    """A Gauss-Krueger CRS with its own datum shift came back as ``EPSG:31467`` (the shift dropped), so text
    predict's masks carried another CRS than their image (session 88's sweep); an EPSG CRS keeps its code."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    custom = CRS.from_string(
        "+proj=tmerc +lat_0=0 +lon_0=9 +k=1 +x_0=3500000 +y_0=0 +ellps=bessel "
        "+towgs84=598.1,73.7,418.2,0.202,0.045,-2.455,6.7 +units=m +no_defs"
    )
    for crs in (custom, CRS.from_epsg(32633)):
        path = tmp_path / "t.tif"
        profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 3, "dtype": "uint8", "crs": crs}
        with rasterio.open(path, "w", **profile, transform=from_origin(3500000, 5300000, 10, 10)) as dst:
            dst.write(np.full((3, 8, 8), 90, np.uint8))
        _, geo, _ = read_image_valid(path)
        assert geo is not None and CRS.from_user_input(geo.crs) == crs
    assert geo.crs == "EPSG:32633"


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3035", "EPSG:32633"])
def test_a_georeference_sidecar_lays_a_png_where_its_geotiff_lies(tmp_path: Path, crs: str) -> None:
    """Session 89's review: sidecars said dataAxisToSRSAxisMapping="1,2" for every CRS, so GDAL's warper (and
    QGIS) swapped the axes of a mask of a CRS defined latitude first: EPSG:4326 masks landed thousands of km off."""
    import rasterio
    from PIL import Image
    from rasterio.transform import from_origin
    from rasterio.vrt import WarpedVRT

    from agriseg.raster.image import georef_sidecar, read_georef

    origin = {"EPSG:4326": (10.0, 50.0, 1e-4), "EPSG:3035": (4300000.0, 3000000.0, 10.0)}.get(
        crs, (500000.0, 5e6, 10.0)
    )
    prof = {"driver": "GTiff", "width": 20, "height": 10, "count": 1, "dtype": "uint8", "crs": crs,
            "transform": from_origin(*origin[:2], origin[2], origin[2])}  # fmt: skip
    with rasterio.open(tmp_path / "src.tif", "w", **prof) as dst:
        dst.write(np.full((1, 10, 20), 7, np.uint8))
    Image.fromarray(np.full((10, 20), 7, np.uint8)).save(tmp_path / "m.png")
    geo = read_georef(tmp_path / "src.tif")
    assert geo is not None
    text = georef_sidecar(geo)
    # GDAL's own readers (gdalwarp, QGIS) apply a mapping as written; rasterio sets GIS order itself, so the
    # warp below cannot see a wrong one: no mapping is what GDAL reads in GIS order, whatever the CRS
    assert "dataAxisToSRSAxisMapping" not in text
    (tmp_path / "m.png.aux.xml").write_text(text)
    bounds = []
    for f in ("src.tif", "m.png"):
        with rasterio.open(tmp_path / f) as src, WarpedVRT(src, crs="EPSG:3857") as vrt:
            bounds.append(vrt.bounds)
    assert np.allclose(bounds[0], bounds[1], atol=1.0), bounds


def test_a_geotiff_named_png_is_read_as_the_geotiff_it_is(tmp_path: Path) -> None:
    """An 8-band GeoTIFF saved as ``.png``: ``text predict`` said "not a readable image" and nothing more, where
    ``fields predict`` read it (session 93's sweep). Its content decides, as GDAL's does."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    path = tmp_path / "tile.png"
    profile = {"driver": "GTiff", "height": 16, "width": 24, "count": 8, "dtype": "uint8", "crs": "EPSG:32633",
               "transform": from_origin(500000, 5000000, 10, 10)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.arange(8, dtype=np.uint8)[:, None, None].repeat(16, 1).repeat(24, 2) * 10)
    img, geo, _ = read_image_valid(path)
    assert img.shape == (16, 24, 3) and tuple(img[0, 0]) == (0, 10, 20)
    assert geo is not None and geo.crs == "EPSG:32633"
    Image.fromarray(np.full((4, 4, 3), 7, np.uint8)).save(tmp_path / "plain.tif")  # Pillow's TIFF: read as before
    assert read_image_valid(tmp_path / "plain.tif")[0].tolist() == np.full((4, 4, 3), 7).tolist()
    from agriseg.data.io import read_rgb
    from agriseg.raster.image import check_bands_apply

    check_bands_apply([path], [4, 3, 2])  # --bands applies to it (it was refused: "none of the 1 images is one")
    from agriseg.config import OptionError

    # a band no image has: one usage error, not every image failing with exit 1 (session 108's sweep)
    with pytest.raises(OptionError, match=r"^--bands 1,2,9: .*tile.png has 8 bands$"):
        check_bands_apply([path], [1, 2, 9])
    check_bands_apply([path, tmp_path / "unreadable.tif"], [1, 2, 8])  # one that has it: each fails alone
    assert tuple(read_image_valid(path, [4, 3, 2])[0][0, 0]) == (30, 20, 10)
    photo = tmp_path / "photo16.png"  # a 16-bit RGB TIFF named .png, which Pillow cannot decode: the crop reader
    with rasterio.open(photo, "w", **{**profile, "count": 3, "dtype": "uint16"}) as dst:
        dst.write(np.full((3, 16, 24), 65535, np.uint16))
    assert read_rgb(photo).shape == (16, 24, 3) and read_rgb(photo).min() == 255


def test_bands_1_2_3_read_a_png_as_it_is_and_others_are_refused(tmp_path) -> None:
    """A folder of GeoTIFFs and PNGs with `--bands 1,2,3` failed every PNG (session 102's text sweep): 1,2,3 is
    how a PNG reads; another choice is still refused there."""
    from PIL import Image

    from agriseg.raster.image import read_image

    rgb = np.random.default_rng(0).integers(0, 255, (8, 8, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    arr, geo = read_image(tmp_path / "a.png", bands=(1, 2, 3))
    assert np.array_equal(arr, rgb) and geo is None
    with pytest.raises(ValueError, match=r"a\.png: --bands applies to GeoTIFF and JPEG 2000 files only"):
        read_image(tmp_path / "a.png", bands=(3, 2, 1))
