"""Nodata in users' tiles: never segmented, never a polygon, never scored (the text pipeline sweep of session 67)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

from PIL import Image  # noqa: E402
from rasterio.transform import from_origin  # noqa: E402

import agriseg.text.infer as infer  # noqa: E402
from agriseg.text.config import PredictConfig  # noqa: E402
from agriseg.text.io import NODATA, read_mask  # noqa: E402
from agriseg.text.metrics import evaluate_files  # noqa: E402

CLASSES = ["others", "field"]


def _tile(path: Path, nodata_cols: int) -> Path:
    """A 3-band uint16 GeoTIFF 40 x 40 whose left ``nodata_cols`` columns are nodata (65535)."""
    a = np.full((3, 40, 40), 3000, np.uint16)
    a[:, :, :nodata_cols] = 65535
    profile = {"driver": "GTiff", "height": 40, "width": 40, "count": 3, "dtype": "uint16", "nodata": 65535,
               "crs": "EPSG:32633", "transform": from_origin(500000, 5000000, 10, 10)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(a)
    return path


def _all_field(model, processor, img, class_names, cfg, progress=None):  # noqa: ANN001, ANN202 - predict_image's
    return np.ones(img.shape[:2], np.int64), []  # a model that calls every pixel a field


def test_nodata_is_nodata_in_the_mask_and_in_no_polygon(tmp_path: Path, monkeypatch, caplog) -> None:
    """A tile's nodata (uint16 65535) read as white and was segmented; an all-nodata tile became one polygon."""
    monkeypatch.setattr(infer, "predict_image", _all_field)
    tiles = [_tile(tmp_path / "half.tif", 20), _tile(tmp_path / "empty.tif", 40)]
    with caplog.at_level(logging.WARNING):
        res = infer.predict_files(None, None, tiles, tmp_path / "out", CLASSES, PredictConfig())
    assert [r["status"] for r in res] == ["ok", "ok"]
    mask = read_mask(tmp_path / "out" / "half.tif")
    assert (mask[:, :20] == NODATA).all() and (mask[:, 20:] == 1).all()
    feats = json.loads((tmp_path / "out" / "half.geojson").read_text())["features"]
    assert [f["properties"]["pixels"] for f in feats] == [800]  # the field half only
    assert json.loads((tmp_path / "out" / "half.json").read_text())["nodata_pixels"] == 800
    assert (read_mask(tmp_path / "out" / "empty.tif") == NODATA).all()
    assert json.loads((tmp_path / "out" / "empty.geojson").read_text())["features"] == []
    assert "empty.tif: every pixel is nodata" in caplog.text


def test_evaluate_leaves_the_images_nodata_unscored(tmp_path: Path) -> None:
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    p = np.ones((10, 10), np.uint8)
    p[:, :5] = NODATA  # where the image had no data
    t = np.ones((10, 10), np.int16)
    t[:, :3] = -1  # a signed truth mask's nodata
    for path, a in ((pred / "a.tif", p), (truth / "a.tif", t)):
        profile = {"driver": "GTiff", "height": 10, "width": 10, "count": 1, "dtype": a.dtype}
        with rasterio.open(path, "w", transform=from_origin(0, 10, 1, 1), **profile) as dst:
            dst.write(a, 1)
    with pytest.raises(ValueError, match=r"a.tif: class ids \[-1\] outside the 2 classes given"):
        evaluate_files([pred / "a.tif"], truth, CLASSES)  # a usage error naming the file, not a crash
    report = evaluate_files([pred / "a.tif"], truth, CLASSES, ignore_value=-1)
    assert report["images"] == 1 and report["overall_accuracy"] == 1.0, report
    assert np.asarray(report["confusion"]["counts"]).sum() == 50  # the image's nodata (5 columns) left out


def test_an_image_with_nothing_scored_is_left_out_of_the_per_image_dice(tmp_path: Path) -> None:
    """Session 85's text sweep: a prediction of nodata only scored a perfect 1.0 in mean_dice_per_image (every
    class "absent in both"), so all-nodata tiles raised the mean."""
    from PIL import Image

    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    Image.fromarray(np.full((8, 8), NODATA, np.uint8)).save(pred / "a.png")  # no data anywhere
    Image.fromarray(np.ones((8, 8), np.uint8)).save(truth / "a.png")
    wrong = np.zeros((8, 8), np.uint8)  # a scored image that misses its one class: Dice 1/65
    Image.fromarray(wrong).save(pred / "b.png")
    Image.fromarray(np.ones((8, 8), np.uint8)).save(truth / "b.png")
    report = evaluate_files([pred / "a.png", pred / "b.png"], truth, CLASSES)
    assert report["mean_dice_per_image"] == pytest.approx(1 / 65), report
    only = evaluate_files([pred / "a.png"], truth, CLASSES)
    assert only["mean_dice_per_image"] is None, only


def test_only_images_with_nodata_or_floats_carry_the_new_reading_rules(tmp_path: Path) -> None:
    """The rules are in each item's fingerprint, not a new algorithm version: a re-run after the upgrade redoes
    the outputs of images they change and skips the plain ones."""
    from PIL import Image

    from agriseg.raster.image import reading_rules

    assert reading_rules(_tile(tmp_path / "nd.tif", 5)) == {"nodata": "masked"}
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", height=4, width=4, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(0, 4, 1, 1)) as dst:  # fmt: skip
        dst.write(np.zeros((3, 4, 4), np.uint8))
    assert reading_rules(plain) == {}
    floats = tmp_path / "f.tif"
    with rasterio.open(floats, "w", driver="GTiff", height=4, width=4, count=3, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(0, 4, 1, 1)) as dst:  # fmt: skip
        dst.write(np.zeros((3, 4, 4), np.float32))
    assert reading_rules(floats) == {"floats": "by range"}
    Image.fromarray(np.zeros((4, 4, 4), np.uint8), "RGBA").save(tmp_path / "a.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "b.png")
    assert reading_rules(tmp_path / "a.png") == {"nodata": "masked"} and reading_rules(tmp_path / "b.png") == {}


@pytest.mark.parametrize("fill", [9999.0, float("nan")])
def test_a_float_tiles_nodata_neither_sets_its_range_nor_fails_it(tmp_path: Path, fill: float) -> None:
    """A 0-1 float tile with nodata 9999 read all black (the fill set the range); with nodata NaN it failed."""
    from agriseg.raster.image import read_image_valid

    a = np.full((3, 8, 8), 0.5, np.float32)
    a[:, :, :2] = fill
    path = tmp_path / "r.tif"
    with rasterio.open(path, "w", driver="GTiff", height=8, width=8, count=3, dtype="float32", nodata=fill,
                       crs="EPSG:32633", transform=from_origin(0, 8, 1, 1)) as dst:  # fmt: skip
        dst.write(a)
    img, _, valid = read_image_valid(path)
    assert valid is not None and valid[:, 2:].all() and not valid[:, :2].any()
    assert (img[valid] == 128).all()


def test_bands_follow_their_colour_interpretation_and_many_unnamed_bands_warn(tmp_path: Path, caplog) -> None:
    """A BGR tile labelled blue, green, red was read with red and blue swapped; a 13-band tile in Sentinel-2
    order was read as bands 1-3 (coastal, blue, green) without a word, while an RGB + alpha tile warned."""
    from rasterio.enums import ColorInterp

    from agriseg.raster.image import read_image, reading_rules

    prof = {"driver": "GTiff", "height": 4, "width": 4, "crs": "EPSG:32633", "transform": from_origin(0, 4, 1, 1)}
    with rasterio.open(tmp_path / "bgr.tif", "w", count=3, dtype="uint8", photometric="MINISBLACK", **prof) as d:
        d.write(np.stack([np.full((4, 4), v, np.uint8) for v in (10, 20, 30)]))
        d.colorinterp = [ColorInterp.blue, ColorInterp.green, ColorInterp.red]
    assert read_image(tmp_path / "bgr.tif")[0][0, 0].tolist() == [30, 20, 10]
    assert reading_rules(tmp_path / "bgr.tif") == {"bands": "by colour"}
    with rasterio.open(tmp_path / "s13.tif", "w", count=13, dtype="uint16", **prof) as d:
        d.write(np.zeros((13, 4, 4), np.uint16))
    with rasterio.open(tmp_path / "rgba.tif", "w", count=4, dtype="uint8", photometric="RGB", alpha="YES", **prof) as d:
        d.write(np.full((4, 4, 4), 200, np.uint8))
    with caplog.at_level(logging.WARNING):
        read_image(tmp_path / "s13.tif")
        read_image(tmp_path / "rgba.tif")
    assert "s13.tif: 13 bands without descriptions or colours" in caplog.text and "rgba.tif" not in caplog.text


def _geotiff(path: Path, a: np.ndarray, nodata: float | None = None) -> Path:
    """``a`` (C, H, W) or (H, W) written as a GeoTIFF in UTM with ``nodata`` declared."""
    a = a[None] if a.ndim == 2 else a
    profile = {"driver": "GTiff", "height": a.shape[1], "width": a.shape[2], "count": a.shape[0], "dtype": a.dtype,
               "crs": "EPSG:32633", "transform": from_origin(500000, 5000000, 10, 10), "nodata": nodata}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(a)
    return path


def test_dataset_leaves_the_images_nodata_out_of_its_answers(tmp_path: Path) -> None:
    """The tiles of an image's nodata were taught as the mask's class (all "tree" on black), where predict
    asks the model nothing; tiles of nodata only are left out, and the other pixels keep their class."""
    from agriseg.text.dataset import PatchConfig, records_from_files

    (tmp_path / "i").mkdir(), (tmp_path / "m").mkdir()
    a = np.full((3, 32, 32), 5000, np.uint16)
    a[:, :, :16] = 0  # the left half: nodata 0
    a[:, :8, 16:20] = 0  # and a corner of the right half
    _geotiff(tmp_path / "i" / "half.tif", a, nodata=0)
    _geotiff(tmp_path / "m" / "half.tif", np.full((32, 32), 2, np.uint8))
    recs = records_from_files(tmp_path / "i", tmp_path / "m", ["others", "field", "tree"], PatchConfig(
        patch=16, grid=4, mode="grid"))  # fmt: skip
    assert [r["box"] for r in recs] == [[16, 0, 32, 16], [16, 16, 32, 32]]
    first = np.array(json.loads(recs[0]["truth"]))  # (4, 4) cells of 4 px: the nodata corner's reads as 0
    assert first[0, 0] == 0 and first[1, 0] == 0 and (first[:, 1:] == 2).all() and (first[2:] == 2).all()


def test_a_masks_declared_nodata_outside_the_classes_is_nodata(tmp_path: Path) -> None:
    """A signed mask declaring -1 as nodata failed ("class ids [-1] outside the classes") in dataset and
    stopped evaluate, unless --ignore-value said again what the file declares."""
    from agriseg.text.dataset import PatchConfig, records_from_files

    for d in ("i", "m", "p"):
        (tmp_path / d).mkdir()
    _geotiff(tmp_path / "i" / "a.tif", np.full((3, 16, 16), 90, np.uint8))
    t = np.ones((16, 16), np.int16)
    t[:, :4] = -1
    _geotiff(tmp_path / "m" / "a.tif", t, nodata=-1)
    (recs,) = records_from_files(tmp_path / "i", tmp_path / "m", CLASSES, PatchConfig(patch=16, grid=4, mode="grid"))
    assert json.loads(recs["truth"]) == [[0, 1, 1, 1]] * 4  # the nodata column of cells reads as 0, not a failure
    _geotiff(tmp_path / "p" / "a.tif", np.ones((16, 16), np.uint8))
    report = evaluate_files([tmp_path / "p" / "a.tif"], tmp_path / "m", CLASSES)
    assert report["overall_accuracy"] == 1.0 and np.asarray(report["confusion"]["counts"]).sum() == 12 * 16
    z = np.ones((16, 16), np.uint8)
    _geotiff(tmp_path / "m" / "a.tif", z, nodata=0)  # a declared 0 that is a class id stays that class
    assert (read_mask(tmp_path / "m" / "a.tif", 2) == 1).all()


def test_undeclared_nan_in_a_float_mask_is_nodata_as_in_images(tmp_path: Path) -> None:
    """A float label with NaN and no nodata declared failed "mask must hold integer class ids" (its ids were
    integers; the NaN was the problem), where an image's undeclared NaN is nodata."""
    t = np.ones((16, 16), np.float32)
    t[:3] = np.nan
    _geotiff(tmp_path / "m.tif", t)
    m = read_mask(tmp_path / "m.tif", 3)
    assert (m[:3] == NODATA).all() and (m[3:] == 1).all()
    with pytest.raises(ValueError, match="m.tif: mask holds NaN"):
        read_mask(tmp_path / "m.tif")  # no classes: no nodata id applies, said as what it is


def test_a_plain_tiffs_samples_carry_no_georeference(tmp_path: Path) -> None:
    """A TIFF without CRS or transform got ``{"crs": null, "transform": [1, 0, 0, 0, 1, 0]}`` in the data set's
    georef column, as if it were placed; a PNG's is empty, and so is it now."""
    import tifffile

    from agriseg.text.dataset import PatchConfig, records_from_files

    (tmp_path / "i").mkdir(), (tmp_path / "m").mkdir()
    tifffile.imwrite(tmp_path / "i" / "a.tif", np.full((16, 16, 3), 90, np.uint8))
    _geotiff(tmp_path / "i" / "b.tif", np.full((3, 16, 16), 90, np.uint8))
    for stem in "ab":
        Image.fromarray(np.ones((16, 16), np.uint8)).save(tmp_path / "m" / f"{stem}.png")
    recs = records_from_files(tmp_path / "i", tmp_path / "m", CLASSES, PatchConfig(patch=16, grid=4, mode="grid"))
    geo = {r["source"]: r["georef"] for r in recs}
    assert geo["a.tif"] == "" and json.loads(geo["b.tif"])["crs"] == "EPSG:32633"


def test_a_0_255_mask_is_said_not_read_as_all_nodata(tmp_path: Path, caplog) -> None:
    """A 0/255 label trained nothing but background, unsaid, and evaluate scored it 100%."""
    from PIL import Image

    from agriseg.text.dataset import PatchConfig, records_from_files

    for d in ("i", "m", "p"):
        (tmp_path / d).mkdir()
    Image.fromarray(np.full((16, 32, 3), 90, np.uint8)).save(tmp_path / "i" / "a.png")
    t = np.zeros((16, 32), np.uint8)
    t[:, 16:] = 1
    Image.fromarray(t * 255).save(tmp_path / "m" / "a.png")
    Image.fromarray(t).save(tmp_path / "p" / "a.png")
    with caplog.at_level(logging.WARNING):
        records_from_files(tmp_path / "i", tmp_path / "m", CLASSES, PatchConfig(patch=16, grid=4, mode="grid"))
    assert "m/a.png: holds only 0 and 255, and 255 is nodata" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # said, not failed: a partly labelled truth looks the same
        evaluate_files([tmp_path / "p" / "a.png"], tmp_path / "m", CLASSES)
    assert "a.png: holds only 0 and 255 (--ignore-value: not scored)" in caplog.text
    caplog.clear()
    half = t.copy()
    half[8:, 16:] = 0  # a model that found a third of the object (session 88: over half was needed to warn)
    half[:3, 16:] = 0
    Image.fromarray(half).save(tmp_path / "p" / "a.png")
    with caplog.at_level(logging.WARNING):
        evaluate_files([tmp_path / "p" / "a.png"], tmp_path / "m", CLASSES)
    assert "a.png: holds only 0 and 255 (--ignore-value: not scored)" in caplog.text
    caplog.clear()
    Image.fromarray(t * 255).save(tmp_path / "p" / "a.png")  # a predict output: 255 is its own nodata
    with caplog.at_level(logging.WARNING):
        assert evaluate_files([tmp_path / "p" / "a.png"], tmp_path / "m", CLASSES)["overall_accuracy"] == 1.0
    assert "holds only" not in caplog.text
    Image.fromarray(t).save(tmp_path / "p" / "a.png")
    Image.fromarray(t).save(tmp_path / "m" / "a.png")  # the classes as 0 and 1: no word of it
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        records_from_files(tmp_path / "i", tmp_path / "m", CLASSES, PatchConfig(patch=16, grid=4, mode="grid"))
    assert "holds only" not in caplog.text
    assert evaluate_files([tmp_path / "p" / "a.png"], tmp_path / "m", CLASSES)["overall_accuracy"] == 1.0


def test_polygons_of_an_image_without_a_crs_are_said_to_be_in_pixels(tmp_path: Path, monkeypatch) -> None:
    """A PNG's (or a TIFF without a CRS) ``.geojson`` is in pixel columns and rows, as documented, but nothing
    said so where a user reads it (session 93's sweep: a GIS places it near 0, 0 with y upside down)."""
    from PIL import Image

    monkeypatch.setattr(infer, "predict_image", _all_field)
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(tmp_path / "plain.png")
    tiles = [_tile(tmp_path / "geo.tif", 0), tmp_path / "plain.png"]
    res = infer.predict_files(None, None, tiles, tmp_path / "out", CLASSES, PredictConfig())
    assert [r["status"] for r in res] == ["ok", "ok"]
    said = [n for n in res.notes if "without a CRS" in n]
    assert (
        len(said) == 1 and said[0].startswith("warning: 1 image without a CRS") and "pixel columns and rows" in said[0]
    )
    res = infer.predict_files(None, None, tiles[:1], tmp_path / "out2", CLASSES, PredictConfig())
    assert not any("without a CRS" in n for n in res.notes)  # a GeoTIFF with a CRS: lon / lat, nothing to say


def test_a_geotiff_named_png_keeps_its_georeference_in_its_mask(tmp_path: Path, monkeypatch) -> None:
    """Read by its content since session 93, its mask was still written as a PNG (by the name), without the
    georeference its GeoJSON polygons were placed by (session 93's review)."""
    monkeypatch.setattr(infer, "predict_image", _all_field)
    tile = _tile(tmp_path / "geo.tif", 0).rename(tmp_path / "geo.png")
    res = infer.predict_files(None, None, [tile], tmp_path / "out", CLASSES, PredictConfig())
    assert [r["status"] for r in res] == ["ok"] and not (tmp_path / "out" / "geo.png").exists()
    with rasterio.open(tmp_path / "out" / "geo.tif") as src:
        assert src.crs == "EPSG:32633"
    assert not any("without a CRS" in n for n in res.notes)


def test_the_model_loads_after_the_output_checks_and_a_refusal_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    """``text predict -o <its input folder>`` loaded the model (minutes for a real one) before saying the outputs
    would be the inputs (session 100's sweep)."""
    from agriseg.config import OptionError
    from agriseg.data.files import OutputIsInput

    monkeypatch.setattr(infer, "predict_image", _all_field)
    calls: list[int] = []

    def load() -> tuple[None, None]:
        calls.append(1)
        return None, None

    (tmp_path / "in").mkdir()
    tiles = [_tile(tmp_path / "in" / "a.tif", 0), _tile(tmp_path / "in" / "b.tif", 0)]
    with pytest.raises(OutputIsInput):
        infer.predict_files(None, None, tiles, tmp_path / "in", CLASSES, PredictConfig(), load=load)
    assert calls == []
    res = infer.predict_files(None, None, tiles, tmp_path / "out", CLASSES, PredictConfig(), load=load)
    assert [r["status"] for r in res] == ["ok", "ok"] and calls == [1]

    def refuse() -> tuple[None, None]:
        raise OptionError("not a chat template")

    with pytest.raises(OptionError):  # its own usage error: nothing made
        infer.predict_files(None, None, tiles, tmp_path / "new", CLASSES, PredictConfig(), load=refuse)
    assert not (tmp_path / "new").exists()
