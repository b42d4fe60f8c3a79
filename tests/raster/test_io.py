"""Scene headers (``agriseg.raster.io``)."""

from __future__ import annotations

import numpy as np
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


def _tif(path, arr, **kw) -> None:
    import rasterio
    from rasterio.transform import from_origin

    from agriseg.raster.io import tiled_profile

    c, h, w = arr.shape
    profile = tiled_profile(str(arr.dtype), c, w, h, CRS.from_epsg(32633), from_origin(500000, 5300000, 10, 10), **kw)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)


def test_read_window_takes_rows_then_columns(tmp_path) -> None:
    """Rows and columns swapped read another part of the scene (square reads hid it; mutation sweep)."""
    import rasterio

    from agriseg.raster.io import read_window

    arr = np.arange(2 * 6 * 9, dtype=np.uint16).reshape(2, 6, 9)
    _tif(tmp_path / "s.tif", arr)
    with rasterio.open(tmp_path / "s.tif") as ds:
        np.testing.assert_array_equal(read_window(ds, tmp_path / "s.tif", 1, 3, 2, 7), arr[:, 1:3, 2:7])
        np.testing.assert_array_equal(read_window(ds, tmp_path / "s.tif", 4, 6, 0, 9, bands=[2]), arr[1:, 4:6])


def test_creation_options_replace_the_defaults(tmp_path) -> None:
    """``compress="none"`` (the change map's staging file) was written deflated anyway (mutation sweep)."""
    import rasterio

    _tif(tmp_path / "plain.tif", np.ones((1, 8, 8), np.uint8), compress="none", nodata=255)
    with rasterio.open(tmp_path / "plain.tif") as ds:
        assert ds.compression is None and ds.nodata == 255


def test_cog_overviews_keep_the_classes_and_can_be_left_out(tmp_path) -> None:
    """Overviews averaged a checkerboard of classes 1 and 3 into 2, a class no pixel has; ``overviews=False``
    still wrote them (mutation sweep)."""
    import rasterio

    from agriseg.raster.io import describe_bands, is_cog, to_cog

    classes = (np.indices((1024, 1024)).sum(0) % 2 * 2 + 1).astype(np.uint8)[None]  # (1, H, W) 1 and 3
    _tif(tmp_path / "tiled.tif", classes)
    with rasterio.open(tmp_path / "tiled.tif", "r+") as ds:
        describe_bands(ds, ("class",))
    to_cog(tmp_path / "tiled.tif", tmp_path / "cog.tif")
    with rasterio.open(tmp_path / "cog.tif", overview_level=0) as ovr:
        assert set(np.unique(ovr.read(1)).tolist()) <= {1, 3}
    to_cog(tmp_path / "tiled.tif", tmp_path / "flat.tif", overviews=False)
    with rasterio.open(tmp_path / "flat.tif") as ds:
        assert is_cog(tmp_path / "flat.tif") and ds.overviews(1) == []
        assert ds.descriptions == ("class",)  # (src read without the overviews built before lost them)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cog.tif", "flat.tif", "tiled.tif"]


@pytest.mark.parametrize(("dtype", "predictor"), [("uint8", 2), ("float32", 3)])
def test_a_cog_of_four_bands_is_grey_data_in_its_tiff_tags(tmp_path, dtype: str, predictor: int) -> None:
    """GDAL's COG driver tagged every 4-band uint8 raster RGB with an alpha band: a reader that goes by the TIFF
    tags (PIL, libtiff, web viewers) took the probability COG's fourth band for transparency (session 102)."""
    import rasterio
    import tifffile

    from agriseg.raster.io import is_cog, to_cog

    arr = np.random.default_rng(0).integers(0, 200, (4, 1100, 700)).astype(dtype)  # (C, H, W)
    _tif(tmp_path / "tiled.tif", arr)
    before = (tmp_path / "tiled.tif").read_bytes()
    to_cog(tmp_path / "tiled.tif", tmp_path / "cog.tif")
    # its overviews built beside the source, not in it (a classic TIFF near 4 GB took no more tiles, unsaid)
    assert (tmp_path / "tiled.tif").read_bytes() == before and not (tmp_path / "tiled.tif.ovr").exists()
    with tifffile.TiffFile(tmp_path / "cog.tif") as tif:
        pages = list(tif.pages)
        assert {pg.photometric for pg in pages} == {tifffile.PHOTOMETRIC.MINISBLACK}, pages
        assert all(int(e) == 0 for pg in pages for e in pg.extrasamples)  # unspecified: no alpha
        assert pages[0].tags["Predictor"].value == predictor and pages[0].tilewidth == 512
    with rasterio.open(tmp_path / "cog.tif") as ds:
        assert is_cog(tmp_path / "cog.tif") and ds.overviews(1) == [2, 4]  # 1100 px: until one 512 block holds it
        assert np.array_equal(ds.read(), arr) and ds.colorinterp[3].name == "undefined"


def test_a_paletted_class_raster_stays_paletted(tmp_path) -> None:
    """Forcing grey tags made a 1-band class raster with a colour map grey to readers outside GDAL (PIL: "L")."""
    import rasterio
    from PIL import Image

    from agriseg.raster.io import to_cog

    _tif(tmp_path / "tiled.tif", np.random.default_rng(1).integers(0, 3, (1, 1100, 700)).astype(np.uint8))
    with rasterio.open(tmp_path / "tiled.tif", "r+") as ds:
        ds.write_colormap(1, {0: (0, 0, 0, 255), 1: (0, 158, 115, 255), 2: (230, 159, 0, 255)})
    to_cog(tmp_path / "tiled.tif", tmp_path / "cog.tif")
    assert Image.open(tmp_path / "cog.tif").mode == "P"
    with rasterio.open(tmp_path / "cog.tif") as ds:
        assert ds.colormap(1)[1] == (0, 158, 115, 255) and ds.overviews(1) == [2, 4]


def test_the_latest_image_time_from_tags_in_any_case_and_zone() -> None:
    """Lower-case tags were missed, the earlier window's time taken, and +02:00 read as UTC: each of these
    changed rules went through (mutation sweep)."""
    import datetime as dt

    from agriseg.raster.io import latest_image_time, parse_utc, scene_tags

    tags = {"win_a_datetime": "2023-04-10T10:00:00Z", "WIN_B_DATETIME": "2023-08-15T12:00:00+02:00", "X": "1"}
    assert scene_tags(tags) == {"WIN_A_DATETIME": "2023-04-10T10:00:00Z", "WIN_B_DATETIME": tags["WIN_B_DATETIME"]}
    assert latest_image_time(tags) == dt.datetime(2023, 8, 15, 10, tzinfo=dt.UTC)
    assert parse_utc("2023-08-15T12:00:00+02:00") == dt.datetime(2023, 8, 15, 10, tzinfo=dt.UTC)


def test_a_scene_with_a_crs_but_no_geotransform_is_refused(tmp_path) -> None:
    """A scene with a CRS and no geotransform was taken as georeferenced: its fields landed at 0, 0 in UTM."""
    import warnings

    import rasterio

    from agriseg.raster.io import open_scene

    path = tmp_path / "nogt.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 8, "dtype": "uint16", "crs": "EPSG:32633"}
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.ones((8, 8, 8), np.uint16))
    with pytest.raises(ValueError, match=r"nogt\.tif: has no geotransform"):
        open_scene(path, bands=8)
    assert open_scene(path, bands=8, require_crs=False).crs == CRS.from_epsg(32633)


def test_a_png_named_tif_is_said_to_be_a_png(tmp_path) -> None:
    """A PNG renamed .tif was "has no CRS (georeference the scene, e.g. gdal_edit.py ...)" in fields predict and
    polygonize: advice for a GeoTIFF, where the file is a photo (session 100's sweep)."""
    from PIL import Image

    from agriseg.raster.io import open_scene
    from agriseg.vector.api import polygonize

    Image.fromarray(np.ones((8, 8), np.uint8)).save(tmp_path / "png.tif", format="PNG")
    with pytest.raises(ValueError, match=r"png\.tif: has no CRS \(a PNG image, not a GeoTIFF\)$"):
        open_scene(tmp_path / "png.tif")
    with pytest.raises(ValueError, match=r"png\.tif: has no CRS \(a PNG image, not a GeoTIFF\); polygons need"):
        polygonize(tmp_path / "png.tif", tmp_path / "o.parquet")


def test_an_ovr_left_beside_the_source_is_not_copied_into_the_cog(tmp_path) -> None:
    """Overviews built into `<src>.ovr` (a fixed name): a killed run's file was copied into the next run's COG
    as it was, another raster's overviews (session 102's review)."""
    import rasterio
    from rasterio.enums import Resampling

    from agriseg.raster.io import to_cog

    _tif(tmp_path / "other.tif", np.ones((1, 1100, 700), np.uint8))
    with rasterio.Env(TIFF_USE_OVR=True), rasterio.open(tmp_path / "other.tif", "r+") as ds:
        ds.build_overviews([2, 4], Resampling.nearest)  # the leftover: overviews of 1
    (tmp_path / "other.tif").unlink()
    _tif(tmp_path / "tiled.tif", np.full((1, 1100, 700), 2, np.uint8))  # the next run's work file: 2
    (tmp_path / "other.tif.ovr").rename(tmp_path / "tiled.tif.ovr")
    to_cog(tmp_path / "tiled.tif", tmp_path / "cog.tif")
    with rasterio.open(tmp_path / "cog.tif", overview_level=0) as ovr:
        assert set(np.unique(ovr.read(1)).tolist()) == {2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cog.tif", "tiled.tif", "tiled.tif.ovr"]  # its own kept


def test_a_vrt_whose_source_is_gone_names_it(tmp_path) -> None:
    """A VRT whose source file was moved read "truncated or corrupt" (session 102's fields sweep)."""
    import rasterio
    from rasterio.shutil import copy as rio_copy

    from agriseg.raster.io import open_scene

    _tif(tmp_path / "b.tif", np.ones((2, 64, 64), np.uint8))
    rio_copy(str(tmp_path / "b.tif"), str(tmp_path / "s.vrt"), driver="VRT")
    assert open_scene(tmp_path / "s.vrt", None, require_crs=False).count == 2
    (tmp_path / "b.tif").rename(tmp_path / "moved.tif")
    with pytest.raises(ValueError, match=r"s\.vrt: cannot read its pixels: its source .*b\.tif is missing"):
        with rasterio.Env():
            open_scene(tmp_path / "s.vrt", None, require_crs=False)


def test_a_damaged_block_in_a_value_count_is_said_as_one(tmp_path) -> None:
    """crop plots on a mask with a damaged block: "Read failed. See previous exception for details." and
    nothing more (session 108's sweep)."""
    import rasterio
    from rasterio.transform import from_origin

    from agriseg.raster.io import band_values

    profile = {"driver": "GTiff", "height": 1024, "width": 1024, "count": 1, "dtype": "uint8", "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate", "crs": "EPSG:32617",
               "transform": from_origin(500000, 4000000, 1, 1)}  # fmt: skip
    noise = (np.random.default_rng(0).random((1024, 1024)) > 0.5).astype(np.uint8) * 255
    with rasterio.open(tmp_path / "m.tif", "w", **profile) as dst:
        dst.write(noise, 1)
    data = bytearray((tmp_path / "m.tif").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 2000] = bytes(2000)
    (tmp_path / "m.tif").write_bytes(bytes(data))
    said = r"m\.tif: cannot read band 1: truncated or corrupt file \(.*IReadBlock"
    with rasterio.open(tmp_path / "m.tif") as ds, pytest.raises(ValueError, match=said):
        band_values(ds)
