"""Instance rasters hold every id: no wrap at 255 (issue: feature 300 sat on id 45)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agriseg.raster.image import GeoRef
from agriseg.text.instances import write_instances
from agriseg.text.io import read_mask, write_mask


def _many_instances(n: int = 300) -> np.ndarray:
    side = int(np.ceil(np.sqrt(n)))
    labels = np.zeros((side * 4, side * 4), np.int64)  # (H, W): 2x2 squares on a 4-px grid
    for i in range(n):
        r, c = divmod(i, side)
        labels[r * 4 : r * 4 + 2, c * 4 : c * 4 + 2] = i + 1
    return labels


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_instance_ids_beyond_255_survive(tmp_path: Path, suffix: str) -> None:
    labels = _many_instances(300)
    geo = GeoRef("EPSG:32633", (0.5, 0.0, 500000.0, 0.0, -0.5, 5000000.0)) if suffix == ".tif" else None
    out = write_mask(labels, tmp_path / f"inst{suffix}", geo, ids=True)
    back = read_mask(out)
    assert back.max() == 300
    assert np.array_equal(back, labels)
    if suffix == ".tif":  # a GIS shows no object as empty and says what the values are, as for fields
        import rasterio

        with rasterio.open(out) as ds:
            assert ds.nodata == 0 and ds.descriptions[0].startswith("instance id (0 = none")
    doc = write_instances(labels, (labels > 0).astype(np.int64), ["background", "field"], tmp_path / "i.geojson", geo)
    import json

    feats = json.loads(doc.read_text())["features"]
    assert sorted(f["properties"]["id"] for f in feats) == list(range(1, 301))


def test_class_ids_that_do_not_fit_8_bits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sem.png: class ids up to 300"):
        write_mask(np.full((4, 4), 300), tmp_path / "sem.png")


rasterio = pytest.importorskip("rasterio")


def _write_raster(path: Path, arr: np.ndarray, descriptions: list[str] | None = None, **kw: object) -> Path:
    from rasterio.transform import from_origin

    path.parent.mkdir(parents=True, exist_ok=True)
    prof = {
        "driver": "JP2OpenJPEG" if path.suffix == ".jp2" else "GTiff",
        "height": arr.shape[1],
        "width": arr.shape[2],
        "count": arr.shape[0],
        "dtype": arr.dtype.name,
        "crs": "EPSG:32633",
        "transform": from_origin(500000.0, 5000000.0, 0.5, 0.5),
        **kw,
    }
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr)
        for i, d in enumerate(descriptions or []):
            dst.set_band_description(i + 1, d)
    return path


def test_16_bit_tiles_scale_by_bit_depth_not_by_content(tmp_path: Path) -> None:
    """The same pixel value reads the same whatever else the tile holds (no per-image stretch)."""
    from agriseg.raster.image import read_image

    a = np.full((3, 8, 8), 20000, np.uint16)
    b = a.copy()
    b[:, 0, 0] = 65535  # a bright corner
    ra, _ = read_image(_write_raster(tmp_path / "a.tif", a))
    rb, _ = read_image(_write_raster(tmp_path / "b.tif", b))
    assert ra[4, 4, 0] == rb[4, 4, 0] == round(20000 * 255 / 65535)


def test_bands_pick_red_green_blue(tmp_path: Path) -> None:
    from agriseg.raster.image import read_image

    bgrn = np.stack([np.full((8, 8), v, np.uint8) for v in (10, 20, 30, 40)])  # blue, green, red, nir
    plain = _write_raster(tmp_path / "bgrn.tif", bgrn)
    assert read_image(plain, bands=(3, 2, 1))[0][0, 0].tolist() == [30, 20, 10]
    with pytest.raises(ValueError, match="bgrn.tif: --bands needs three band numbers"):
        read_image(plain, bands=(5, 2, 1))


def test_band_descriptions_say_which_band_is_red(tmp_path: Path) -> None:
    """A BGRN tile whose bands are described is read as RGB (it was read with red and blue swapped)."""
    from agriseg.raster.image import read_image

    bgrn = np.stack([np.full((8, 8), v, np.uint8) for v in (10, 20, 30, 40)])  # blue, green, red, nir
    named = _write_raster(tmp_path / "named.tif", bgrn, ["Blue", "Green", "Red", "NIR"])
    assert read_image(named)[0][0, 0].tolist() == [30, 20, 10]


def test_jpeg2000_is_read_with_its_georeference(tmp_path: Path) -> None:
    """`.jp2` orthophotos were not listed from a folder, and read without their georeference."""
    from agriseg.data.io import list_images
    from agriseg.raster.image import read_image

    arr = np.random.default_rng(0).integers(0, 255, (3, 16, 16), dtype=np.uint8)
    try:
        p = _write_raster(tmp_path / "o.jp2", arr, QUALITY=100, REVERSIBLE="YES")
    except rasterio.errors.RasterioIOError as err:  # pragma: no cover - GDAL without OpenJPEG
        pytest.skip(f"GDAL cannot write JPEG 2000 here: {err}")
    assert list_images([tmp_path]) == [p]  # a folder of orthophotos is read, not "no images"
    img, geo = read_image(p)
    assert img.shape == (16, 16, 3) and geo is not None and geo.transform[0] == 0.5
    assert np.array_equal(img, np.moveaxis(arr, 0, -1))


def test_dataset_refuses_a_label_with_another_georeference(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from agriseg.cli import main

    (tmp_path / "i").mkdir()
    (tmp_path / "m").mkdir()
    _write_raster(tmp_path / "i" / "t.tif", np.zeros((3, 16, 16), np.uint8))
    from rasterio.transform import from_origin

    shifted = from_origin(500100.0, 5000000.0, 0.5, 0.5)
    _write_raster(tmp_path / "m" / "t.tif", np.ones((1, 16, 16), np.uint8), transform=shifted)
    res = CliRunner().invoke(
        main,
        ["text", "dataset", str(tmp_path / "i"), "--masks", str(tmp_path / "m"), "-o", str(tmp_path / "d")]
        + ["--classes", "others,field", "--patch", "16", "--grid", "4"],
    )
    assert res.exit_code != 0 and "t.tif: georeference differs from its image" in res.output


def test_evaluate_refuses_a_truth_with_another_georeference(tmp_path: Path) -> None:
    """A prediction scored against the label of another place (same stem) was scored silently."""
    from click.testing import CliRunner
    from rasterio.transform import from_origin

    from agriseg.cli import main

    _write_raster(tmp_path / "p" / "t.tif", np.ones((1, 16, 16), np.uint8))
    _write_raster(tmp_path / "t" / "t.tif", np.ones((1, 16, 16), np.uint8), transform=from_origin(0, 0, 0.5, 0.5))
    res = CliRunner().invoke(
        main, ["text", "evaluate", str(tmp_path / "p"), "--masks", str(tmp_path / "t"), "--classes", "a,b"]
    )
    assert res.exit_code == 1 and "t/t.tif: georeference differs from its prediction t.tif" in res.output
    _write_raster(tmp_path / "t" / "t.tif", np.ones((1, 16, 16), np.uint8))  # the same place: scored
    res = CliRunner().invoke(
        main, ["text", "evaluate", str(tmp_path / "p"), "--masks", str(tmp_path / "t"), "--classes", "a,b"]
    )
    assert res.exit_code == 0, res.output


def test_a_multiband_raster_is_not_a_mask(tmp_path: Path) -> None:
    """An image folder given as masks or truth: its band 1 was read as class ids."""
    from agriseg.text.io import read_mask

    p = _write_raster(tmp_path / "rgb.tif", np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="rgb.tif: mask must be one band of class ids"):
        read_mask(p)
    assert read_mask(_write_raster(tmp_path / "m.tif", np.ones((1, 8, 8), np.uint8))).shape == (8, 8)


def _rings(doc: dict) -> list:
    return [f["geometry"] for f in doc["features"]]


def test_geojson_of_a_georeferenced_tile_is_rfc_7946(tmp_path: Path) -> None:
    """WGS 84 lon/lat, no crs member, exterior rings counter-clockwise."""
    import json

    import shapely.geometry

    labels = np.zeros((20, 20), np.int64)
    labels[2:8, 3:9] = 1
    labels[10:18, 10:18] = 2
    labels[12:14, 12:14] = 0  # a hole
    classes = np.where(labels == 1, 1, np.where(labels == 2, 2, 0))
    geo = GeoRef("EPSG:32633", (0.5, 0.0, 500000.0, 0.0, -0.5, 5000000.0))  # UTM 33N: lon 15 E
    doc = json.loads(write_instances(labels, classes, ["bg", "a", "b"], tmp_path / "g.geojson", geo).read_text())
    assert "crs" not in doc and doc["type"] == "FeatureCollection"
    props = [f["properties"] for f in doc["features"]]
    assert props == [{"id": 1, "class": "a", "pixels": 36}, {"id": 2, "class": "b", "pixels": 60}]
    for g in _rings(doc):
        poly = shapely.geometry.shape(g)
        assert poly.is_valid and poly.exterior.is_ccw and all(not r.is_ccw for r in poly.interiors)
        lon, lat = poly.centroid.x, poly.centroid.y
        assert 14.99 < lon < 15.01 and 45.1 < lat < 45.2  # 5,000 km north of the equator on 15 E
    assert len(shapely.geometry.shape(_rings(doc)[1]).interiors) == 1
    # the first square: 6 x 6 pixels of 0.5 m = 9 m2 (area in a local metric CRS)
    from pyproj import Transformer

    t = Transformer.from_crs(4326, 32633, always_xy=True)
    back = shapely.transform(shapely.geometry.shape(_rings(doc)[0]), lambda xy: np.column_stack(t.transform(*xy.T)))
    assert abs(back.area - 9.0) < 0.05  # coordinates in 7 decimals (about 1 cm): 9 m2 within 0.5 %


def test_geojson_of_a_plain_image_is_in_pixels(tmp_path: Path) -> None:
    import json

    import shapely.geometry

    labels = np.zeros((10, 12), np.int64)
    labels[1:4, 2:7] = 1
    doc = json.loads(write_instances(labels, labels, ["bg", "a"], tmp_path / "p.geojson", None).read_text())
    assert "crs" not in doc
    poly = shapely.geometry.shape(doc["features"][0]["geometry"])
    assert poly.bounds == (2.0, 1.0, 7.0, 4.0) and poly.area == 15.0  # columns x, rows y
    assert poly.exterior.is_ccw
    feature = doc["features"][0]  # the instance id as the Feature id too, as the fields GeoJSON has it (session 75)
    assert feature["id"] == "1" and feature["properties"]["id"] == 1


def test_geojson_without_instances_is_an_empty_collection(tmp_path: Path) -> None:
    import json

    empty = np.zeros((6, 6), np.int64)
    doc = json.loads(write_instances(empty, empty, ["bg"], tmp_path / "e.geojson", None).read_text())
    assert doc == {"type": "FeatureCollection", "features": []}


def test_a_mask_of_a_tiff_without_georeference_is_written_without_rasterio_warnings(tmp_path, recwarn) -> None:
    """text predict on a plain TIFF printed rasterio's NotGeoreferencedWarning and its source line (session 62)."""
    pytest.importorskip("rasterio")
    m = np.arange(16, dtype=np.uint8).reshape(4, 4) % 3
    write_mask(m, tmp_path / "m.tif", GeoRef(None, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)), class_names=["a", "b", "c"])
    assert not [w for w in recwarn if "Georeferenced" in type(w.message).__name__], [str(w.message) for w in recwarn]
    assert (read_mask(tmp_path / "m.tif") == m).all()


def test_evaluate_refuses_class_words_in_another_order_than_the_predictions_were_made_with(tmp_path: Path) -> None:
    """``--classes others,tree,field`` for predictions made with ``others,field,tree`` reported field's scores as
    tree's, with exit 0 (session 80): ``run.json`` beside the predictions says which words they were made with."""
    import json

    from click.testing import CliRunner

    from agriseg.cli import main

    _write_raster(tmp_path / "p" / "t.tif", np.ones((1, 16, 16), np.uint8))
    _write_raster(tmp_path / "t" / "t.tif", np.ones((1, 16, 16), np.uint8))
    (tmp_path / "p" / "run.json").write_text(json.dumps({"classes": ["others", "field", "tree"]}))
    args = ["text", "evaluate", str(tmp_path / "p"), "--masks", str(tmp_path / "t"), "--classes"]
    res = CliRunner().invoke(main, [*args, "others,tree,field"])
    assert res.exit_code == 2 and "were made with others,field,tree" in res.output, res.output
    assert CliRunner().invoke(main, [*args, "others,field,tree"]).exit_code == 0


def test_a_report_never_replaces_a_file_beside_the_predictions_named(tmp_path: Path) -> None:
    """`text evaluate p/t.tif -o p/run.json --overwrite` replaced text predict's run.json (and -o p/t.json its
    tile report), the folder being read only through the file named; the next predict re-run then blamed the
    user's "edits" (session 102's sweep)."""
    import json

    from click.testing import CliRunner

    from agriseg.cli import main

    _write_raster(tmp_path / "p" / "t.tif", np.ones((1, 16, 16), np.uint8))
    _write_raster(tmp_path / "t" / "t.tif", np.ones((1, 16, 16), np.uint8))
    run = json.dumps({"classes": ["others", "field"]})
    (tmp_path / "p" / "run.json").write_text(run)
    (tmp_path / "p" / "t.json").write_text("{}")
    args = ["text", "evaluate", str(tmp_path / "p" / "t.tif"), "--masks", str(tmp_path / "t"), "--classes"]
    for name in ("run.json", "t.json"):
        res = CliRunner().invoke(main, [*args, "others,field", "-o", str(tmp_path / "p" / name), "--overwrite"])
        assert res.exit_code == 2 and name in res.output, res.output
    assert (tmp_path / "p" / "run.json").read_text() == run and (tmp_path / "p" / "t.json").read_text() == "{}"
    res = CliRunner().invoke(main, [*args, "others,field", "-o", str(tmp_path / "p" / "report.json")])
    assert res.exit_code == 0 and (tmp_path / "p" / "report.json").is_file(), res.output  # a new name: written
    res = CliRunner().invoke(main, [*args, "others,field", "-o", str(tmp_path / "p" / "report.json"), "--overwrite"])
    assert res.exit_code == 0, res.output  # its own earlier report among the predictions: replaced
    (tmp_path / "p" / "summary.json").write_text("{}")  # a user's file there, named with --overwrite: replaced
    res = CliRunner().invoke(main, [*args, "others,field", "-o", str(tmp_path / "p" / "summary.json"), "--overwrite"])
    assert res.exit_code == 0 and "confusion" in (tmp_path / "p" / "summary.json").read_text(), res.output


def test_a_png_masks_nodata_is_transparent_not_a_class_colour(tmp_path: Path) -> None:
    """Palette index 255 (nodata) had class 2's colour (the colours repeat every 11): a viewer showed the image's
    no-data areas as trees (session 83's sweep). It is transparent now, as in the GeoTIFF's colour map."""
    from PIL import Image

    m = np.zeros((4, 5), np.uint8)
    m[0, 0], m[1, 1] = 2, 255
    write_mask(m, tmp_path / "m.png", class_names=["others", "field", "tree"])
    rgba = np.asarray(Image.open(tmp_path / "m.png").convert("RGBA"))
    assert rgba[1, 1, 3] == 0 and rgba[0, 0, 3] == 255 and tuple(rgba[0, 0, :3]) == (0, 158, 115)
    assert np.array_equal(read_mask(tmp_path / "m.png"), m)  # the ids read back as written


def test_instances_on_a_local_site_grid_are_written_in_pixels_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A photogrammetry tile on a local grid ("Local Coordinates (m)") failed as an internal error, mask and all
    (ProjError; session 86's text sweep): the GeoJSON is in pixels then, and said so naming the image."""
    labels = np.zeros((8, 8), np.int64)
    labels[2:5, 2:6] = 1
    local = 'LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'
    geo = GeoRef(local, (0.5, 0.0, 100.0, 0.0, -0.5, 200.0))
    with caplog.at_level("WARNING"):
        out = write_instances(labels, labels, ["bg", "field"], tmp_path / "i.geojson", geo, source="site.tif")
    assert "site.tif: its CRS 'site grid' has no way to longitude / latitude" in caplog.text
    assert json.loads(out.read_text())["features"][0]["geometry"]["coordinates"][0][0] in (
        [2, 2],
        [6, 2],
        [2, 5],
        [6, 5],
    )
