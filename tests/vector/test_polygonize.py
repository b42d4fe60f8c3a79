"""Blockwise polygonisation is seamless, separates touching fields, and cleans up in metres on any CRS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from agriseg.vector import PolygonizeConfig, clean_fields, label_instances, polygonize, polygonize_pixels
from agriseg.vector.instances import label_components
from tests.vector.synth_fields import field_layout, write_probs  # tests/vector/synth_fields.py

RAW = {"min_area_m2": 0.0, "fill_holes_m2": 0.0, "progress": False}


def _same(a: list[dict], b: list[dict]) -> None:
    assert [r["key"] for r in a] == [r["key"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert shapely.equals_exact(ra["geometry"], rb["geometry"], 0), ra["key"]
        assert ra["pixels"] == rb["pixels"]


@pytest.mark.parametrize("separation", ["watershed", "components"])
@pytest.mark.parametrize("class_only", [False, True])
@pytest.mark.parametrize("simplify", [None, 0.0])
def test_blockwise_equals_single_pass(tmp_path: Path, separation: str, class_only: bool, simplify) -> None:
    cls, prob = field_layout(300, 340, seed=1)
    path = write_probs(tmp_path / "p.tif", cls, prob, class_only=class_only)
    cfg = {"separation": separation, "simplify": simplify, **RAW}
    single, _ = polygonize_pixels(path, PolygonizeConfig(block_size=4096, **cfg))
    assert shapely.coverage_is_valid(np.array([r["geometry"] for r in single], object))
    for block in (37, 64, 128):
        blocked, _ = polygonize_pixels(path, PolygonizeConfig(block_size=block, **cfg))
        _same(single, blocked)
    # the test is meaningful: many fields cross the 37-px block lines
    crossing = [
        r
        for r in single
        if (lambda b: int(b[0]) // 37 != int(np.ceil(b[2])) // 37 - (b[2] % 37 == 0))(r["geometry"].bounds)
    ]
    assert len(single) > 40 and len(crossing) > 20


def test_a_wide_split_reads_no_more_than_the_scene_and_its_largest_is_20_px(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each window of the gap split read a halo of 2 R + (offsets in the square of R) pixels whatever the scene's
    size: --split-boundary 1000 asked for 1.33 TiB on a 578 x 379 px scene (session 104's sweep). The halo is
    cut at the scene's edge (plus the split's reach), the polygons the same by blocks as in one pass."""
    import importlib

    pz = importlib.import_module("agriseg.vector.polygonize")
    shapes: list[tuple[int, ...]] = []
    split_window = pz._split_window

    def recorded(*args: object) -> tuple[np.ndarray, int, int]:
        out = split_window(*args)
        shapes.append(out[0].shape)
        return out

    monkeypatch.setattr(pz, "_split_window", recorded)
    cls, prob = field_layout(120, 140, seed=3)
    path = write_probs(tmp_path / "p.tif", cls, prob)
    cfg = {"split_boundary_px": 20.0, "workers": 1, **RAW}
    single, _ = polygonize_pixels(path, PolygonizeConfig(block_size=4096, **cfg))
    blocked, _ = polygonize_pixels(path, PolygonizeConfig(block_size=48, **cfg))
    _same(single, blocked)
    assert len(single) > 5 and shapes and all(h <= 120 + 2 * 21 and w <= 140 + 2 * 21 for h, w in shapes), shapes
    with pytest.raises(ValueError, match="less than or equal to 20"):
        PolygonizeConfig(split_boundary_px=21)


def test_scenes_beyond_int32_labels_give_the_same_polygons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    pz = importlib.import_module("agriseg.vector.polygonize")
    cls, prob = field_layout(200, 230, seed=6)
    path = write_probs(tmp_path / "p.tif", cls, prob)
    small, _ = polygonize_pixels(path, PolygonizeConfig(block_size=64, workers=1, **RAW))
    monkeypatch.setattr(pz, "_INT32_PIXELS", 1000)  # as if the scene had more than 2**31 pixels
    big, _ = polygonize_pixels(path, PolygonizeConfig(block_size=64, workers=1, **RAW))
    _same(small, big)


@pytest.mark.parametrize("separation", ["watershed", "components"])
def test_worker_processes_give_the_same_polygons(tmp_path: Path, separation: str) -> None:
    cls, prob = field_layout(260, 300, seed=3)
    path = write_probs(tmp_path / "p.tif", cls, prob)
    one, _ = polygonize_pixels(path, PolygonizeConfig(block_size=45, workers=1, separation=separation, **RAW))
    two, _ = polygonize_pixels(path, PolygonizeConfig(block_size=45, workers=2, separation=separation, **RAW))
    _same(one, two)
    assert [r["confidence"] for r in one] == [r["confidence"] for r in two]
    assert len(one) > 40


def test_polygons_match_components_of_the_raster(tmp_path: Path) -> None:
    cls, prob = field_layout(200, 220, seed=2)
    path = write_probs(tmp_path / "p.tif", cls, prob)
    cfg = PolygonizeConfig(block_size=50, separation="components", split_boundary_px=0, simplify=0, **RAW)
    recs, _ = polygonize_pixels(path, cfg)
    lab, n = label_components(cls == 1)
    assert len(recs) == n
    assert sum(r["pixels"] for r in recs) == int((cls == 1).sum())
    # without the gap split each polygon is its component's outline with the staircase corners cut (a triangle
    # of at most a quarter pixel per unit of outline) and the inner corners filled
    for r in recs:
        area = float((lab == lab[r["key"]]).sum())  # pixel units
        assert r["pixels"] == area and abs(r["geometry"].area - area) <= r["geometry"].length / 4


def test_watershed_separates_fields_touching_through_a_boundary_gap() -> None:
    cls = np.zeros((30, 50), np.uint8)
    cls[2:28, 2:48] = 1
    cls[2:28, 25] = 2  # boundary line between two fields ...
    cls[14:17, 25] = 1  # ... with a 3-px gap
    prob = np.where(cls == 1, 240, 40).astype(np.uint8)
    prob[13:18, 23:28] = np.where(cls[13:18, 23:28] == 1, 120, 40)  # less confident near the gap
    cfg = PolygonizeConfig(**RAW)
    comp, n_comp = label_components(cls == 1)
    ws, n_ws = label_instances(cls == 1, prob, cfg)
    assert n_comp == 1 and n_ws == 2
    left, right = ws[5, 5], ws[5, 45]
    assert left != right and (ws[2:28, 2:25] == left).all() and (ws[2:28, 26:48] == right).all()
    # class-only input: cores from erosion, same split
    ws2, n2 = label_instances(cls == 1, None, cfg)
    assert n2 == 2 and ws2[5, 5] != ws2[5, 45]


def test_holes_and_min_area_in_metres_projected() -> None:
    field = box(0, 0, 200, 100).difference(box(50, 40, 60, 50))  # 100 m2 hole
    big_hole = box(300, 0, 500, 100).difference(box(350, 20, 400, 70))  # 2500 m2 hole
    tiny = box(600, 0, 620, 20)  # 400 m2
    g, area, perim, keep = clean_fields(np.array([field, big_hole, tiny], object), "EPSG:32633", 500.0, 1000.0)
    assert keep.tolist() == [True, True, False]
    assert len(g[0].interiors) == 0 and len(g[1].interiors) == 1
    assert area[0] == pytest.approx(20000) and area[1] == pytest.approx(20000 - 2500)
    assert perim[0] == pytest.approx(600) and perim[1] == pytest.approx(600 + 200)  # of the final geometry


def test_metric_cleanup_is_correct_on_geographic_crs() -> None:
    from pyproj import Transformer

    to_ll = Transformer.from_crs(32633, 4326, always_xy=True)

    def ll(poly: Polygon) -> Polygon:
        return shapely.transform(poly, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))

    x0, y0 = 400000, 5300000
    field = ll(box(x0, y0, x0 + 200, y0 + 100).difference(box(x0 + 50, y0 + 40, x0 + 60, y0 + 50)))
    tiny = ll(box(x0 + 600, y0, x0 + 620, y0 + 20))  # 400 m2
    plain = ll(Polygon([(x0, y0 + 200), (x0 + 200, y0 + 200), (x0 + 200, y0 + 300), (x0, y0 + 300)]))
    g, area, perim, keep = clean_fields(np.array([field, tiny, plain], object), "EPSG:4326", 500.0, 1000.0)
    assert keep.tolist() == [True, False, True]  # 400 m2 dropped although its area in degrees is ~5e-8
    assert area[0] == pytest.approx(20000, rel=2e-3) and perim[0] == pytest.approx(600, rel=2e-3)
    assert len(g[0].interiors) == 0
    assert g[0].bounds[0] == pytest.approx(field.bounds[0], abs=1e-6)  # back in degrees
    assert shapely.equals_exact(g[1], plain, 0)  # untouched: not sent through UTM and back


def test_a_self_crossing_field_on_a_geographic_crs_comes_back_repaired_in_degrees() -> None:
    """A bow-tie repaired in UTM was left out on its way back (``None``) by a changed rule (session 75's sweep)."""
    from pyproj import Transformer

    to_ll = Transformer.from_crs(32633, 4326, always_xy=True)
    x0, y0 = 400000, 5300000
    bow = Polygon([(x0, y0), (x0 + 200, y0 + 200), (x0 + 200, y0), (x0, y0 + 200)])  # crosses itself
    bow = shapely.transform(bow, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))
    g, area, _, keep = clean_fields(np.array([bow], object), "EPSG:4326", 500.0, 1000.0)
    assert keep.tolist() == [True] and g[0] is not None and shapely.is_valid(g[0])
    assert area[0] == pytest.approx(20000, rel=5e-3) and g[0].bounds[0] == pytest.approx(bow.bounds[0], abs=1e-6)


def test_field_confidence_is_the_mean_probability_from_0_to_1(tmp_path: Path) -> None:
    """A changed rule wrote the 0-255 byte mean as confidence (session 75's mutation sweep)."""
    cls = np.zeros((60, 60), np.uint8)
    cls[5:55, 5:55] = 1
    prob = np.where(cls == 1, 204, 10).astype(np.uint8)  # 0.8 of 255 inside the field
    write_probs(tmp_path / "p.tif", cls, prob)
    polygonize(tmp_path / "p.tif", tmp_path / "f.parquet")
    df = gpd.read_parquet(tmp_path / "f.parquet")
    assert len(df) == 1 and df["agriseg:confidence"].iloc[0] == pytest.approx(0.8, abs=0.01)


def test_a_probability_band_of_another_type_has_one_scale_for_the_whole_raster(tmp_path: Path) -> None:
    """A uint16 band of 0-255 probabilities: a block whose values were all 0 or 1 was read as 0-1 (fully sure)."""
    import rasterio
    from rasterio.transform import from_origin

    cls = np.zeros((64, 128), np.uint16)
    cls[4:60, 4:60] = cls[4:60, 68:124] = 1
    prob = np.where(cls == 1, 1, 0).astype(np.uint16)
    prob[:, :64] *= 230  # the left field sure (230 of 255), the right one hardly (1 of 255)
    prof = dict(driver="GTiff", width=128, height=64, count=3, dtype="uint16", crs="EPSG:32633")
    prof.update(transform=from_origin(359130.0, 5352340.0, 10.0, 10.0), tiled=True, blockxsize=64, blockysize=64)
    with rasterio.open(tmp_path / "p.tif", "w", **prof) as ds:
        ds.write(np.stack([cls, 255 - prob, prob]))
    for block in (64, 4096):  # each field in its own window, and both in one
        cfg = PolygonizeConfig(block_size=block, **RAW)
        out = tmp_path / f"f{block}.parquet"
        polygonize(tmp_path / "p.tif", out, cfg)
        df = gpd.read_parquet(out).sort_values("agriseg:confidence")
        assert df["agriseg:confidence"].tolist() == pytest.approx([1 / 255, 230 / 255], abs=1e-3)


def test_polygonize_geographic_raster_areas(tmp_path: Path) -> None:
    cls = np.zeros((40, 60), np.uint8)
    cls[5:25, 5:35] = 1  # 600 px
    res = 1e-4  # ~11 m x 7.5 m at 47 N
    path = write_probs(
        tmp_path / "g.tif",
        cls,
        np.where(cls == 1, 250, 5).astype(np.uint8),
        crs="EPSG:4326",
        res=res,
        origin=(13.0, 47.5),
    )
    df = polygonize(path, None, PolygonizeConfig(min_area_m2=100, progress=False))
    lat = np.deg2rad(47.5 - 15 * res)
    expected = 600 * (res * 111_320 * np.cos(lat)) * (res * 111_132)
    assert len(df) == 1 and df["metrics:area"].iloc[0] == pytest.approx(expected, rel=5e-3)
    assert len(df.geometry.iloc[0].exterior.coords) == 5  # a rectangle aligned with the grid keeps its corners
    assert df.crs.to_epsg() == 4326


@pytest.mark.shared
def test_real_scene_probabilities_blockwise_equal_single(shared_dir: Path, tmp_path: Path) -> None:
    import torch

    from agriseg.fields import PredictConfig, PreprocessConfig, ScenePredictor

    scene = shared_dir / "data" / "sentinel2" / "austria-inn-2window.tif"
    probs = tmp_path / "probs.tif"
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(8, 8, 5, padding=2), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 5, padding=2)
    )
    ScenePredictor(model, 3, PreprocessConfig(), PredictConfig(patch_size=128, progress=False)).predict(scene, probs)
    single, _ = polygonize_pixels(probs, PolygonizeConfig(block_size=4096, **RAW))
    blocked, _ = polygonize_pixels(probs, PolygonizeConfig(block_size=100, **RAW))
    assert len(single) > 50
    _same(single, blocked)


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.tif: raster not found"):
        polygonize_pixels(tmp_path / "nope.tif")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(ValueError, match="bad.tif: not a readable raster"):
        polygonize_pixels(bad)


def test_ids_are_stable_and_unique(tmp_path: Path) -> None:
    cls, prob = field_layout(150, 150, seed=4)
    path = write_probs(tmp_path / "s.tif", cls, prob)
    a = polygonize(path, None, PolygonizeConfig(block_size=40, progress=False))
    b = polygonize(path, None, PolygonizeConfig(block_size=4096, progress=False))
    assert a["id"].is_unique and a["id"].tolist() == b["id"].tolist()
    assert a.geometry.geom_equals_exact(b.geometry, 0).all()
    assert isinstance(a, gpd.GeoDataFrame) and a.crs.to_epsg() == 32633
    # fields predict's s_probs.tif names its fields s-<row>-<col>, as fields map does (they were s_probs-...)
    c = polygonize(write_probs(tmp_path / "s_probs.tif", cls, prob), None, PolygonizeConfig(progress=False))
    assert c["id"].tolist() == a["id"].tolist() and c["id"].str.startswith("s-").all()


@pytest.mark.shared
@pytest.mark.slow  # 9 s for both: the default run keeps under 15 minutes
@pytest.mark.parametrize("separation", ["watershed", "components"])
def test_real_scene_class_raster_blockwise_equal_single(shared_dir: Path, tmp_path: Path, separation: str) -> None:
    """A class raster with real structure: NDVI of both windows > 0.45 = field, NIR edges = boundary."""
    import rasterio
    from scipy import ndimage

    with rasterio.open(shared_dir / "data" / "sentinel2" / "austria-inn-2window.tif") as ds:
        img = ds.read().astype(np.float32)
        crs, transform = ds.crs, ds.transform
    ndvi = np.minimum(*[(img[3 + k] - img[k]) / np.maximum(img[3 + k] + img[k], 1) for k in (0, 4)])
    nir = img[3] + img[7]
    grad = np.hypot(ndimage.sobel(nir, 0), ndimage.sobel(nir, 1))
    cls = np.where(ndvi > 0.45, 1, 0).astype(np.uint8)
    cls[(grad > np.percentile(grad, 80)) & (cls == 1)] = 2
    path = tmp_path / "real_classes.tif"
    prof = {
        "driver": "GTiff",
        "width": cls.shape[1],
        "height": cls.shape[0],
        "count": 1,
        "dtype": "uint8",
        "crs": crs,
        "transform": transform,
    }
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(cls[None])
    single, _ = polygonize_pixels(path, PolygonizeConfig(block_size=4096, separation=separation, **RAW))
    blocked, _ = polygonize_pixels(path, PolygonizeConfig(block_size=97, separation=separation, **RAW))
    assert len(single) > 300
    _same(single, blocked)


def test_polygonize_refuses_rasters_that_are_not_class_maps(tmp_path) -> None:
    import numpy as np
    import pytest
    import rasterio
    from rasterio.transform import from_origin

    from agriseg.vector.api import polygonize

    def write(name: str, count: int, dtype: str, many: bool = False):
        path = tmp_path / name
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=32,
            height=32,
            count=count,
            dtype=dtype,
            crs="EPSG:32633",
            transform=from_origin(0, 320, 10, 10),
        ) as ds:
            ds.write((np.arange(count * 32 * 32) % 251).reshape(count, 32, 32).astype(dtype) if many else
                     np.ones((count, 32, 32), dtype=dtype))  # fmt: skip
        return path

    with pytest.raises(ValueError, match=r"prob\.tif: band 1 is float32, not class ids"):
        polygonize(write("prob.tif", 1, "float32"))
    with pytest.raises(ValueError, match=r"scene\.tif: an 8-band uint16 image, not a class raster"):
        polygonize(write("scene.tif", 8, "uint16"))
    # four bands are enough to be an image (an RGB + NIR scene), not a class raster
    with pytest.raises(ValueError, match=r"rgbn\.tif: a 4-band uint16 image, not a class raster"):
        polygonize(write("rgbn.tif", 4, "uint16"))
    # an 8-bit RGB image (its bands red, green, blue) gave 0 fields from band 1 (session 84's sweep)
    with pytest.raises(ValueError, match=r"rgb\.tif: an RGB image \(its bands are red, green, blue\)"):
        polygonize(write("rgb.tif", 3, "uint8", many=True))
    assert polygonize(write("classes.tif", 3, "uint8")).empty is not None  # a class band and two probabilities


def test_gap_split_keeps_the_ids(tmp_path: Path) -> None:
    cls, prob = field_layout(150, 150, seed=4)
    path = write_probs(tmp_path / "s.tif", cls, prob)
    split = polygonize(path, None, PolygonizeConfig(progress=False, min_area_m2=0.0))
    kept = polygonize(path, None, PolygonizeConfig(progress=False, min_area_m2=0.0, split_boundary_px=0))
    assert split["id"].tolist() == kept["id"].tolist()  # the first interior pixel names a field either way
    grown = split.set_index("id")["metrics:area"] / kept.set_index("id")["metrics:area"]
    # fields grow by their share of the boundary (a field's simplified edges may cut a little off it)
    assert grown.min() > 0.97 and grown.median() > 1.01


def test_a_class_raster_of_another_coding_is_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Classes 0 / 7 / 14 gave 0 fields without a word (session 62's sweep); a raster of background only is
    a scene without fields, not warned about."""
    cls = np.zeros((64, 64), np.uint8)
    cls[8:30, 8:30], cls[40:60, 40:60] = 7, 14
    other = write_probs(tmp_path / "other.tif", cls, np.zeros((64, 64), np.float32), class_only=True)
    empty = write_probs(tmp_path / "empty.tif", cls * 0, np.zeros((64, 64), np.float32), class_only=True)
    cfg = PolygonizeConfig(progress=False)
    with caplog.at_level("WARNING", logger="agriseg"):
        assert len(polygonize(other, None, cfg)) == 0
    assert "other.tif: no pixel of the field class 1 (its classes: 0, 7, 14)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        assert len(polygonize(empty, None, cfg)) == 0
    assert "no pixel of the field class" not in caplog.text and not caplog.text


def test_classes_a_raster_holds_besides_fields_are_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A user's raster of classes 1, 3 and 5 gave the class-1 fields alone, without a word of the others; one of
    nodata everywhere gave 0 fields without a word (session 83's sweep)."""
    import rasterio

    cls = np.zeros((64, 64), np.uint8)
    cls[8:30, 8:30], cls[40:60, 40:60], cls[8:30, 40:60] = 1, 3, 5
    mixed = write_probs(tmp_path / "mixed.tif", cls, np.zeros((64, 64), np.float32), class_only=True)
    cfg = PolygonizeConfig(progress=False, min_area_m2=0.0)
    with caplog.at_level("WARNING", logger="agriseg"):
        assert len(polygonize(mixed, None, cfg)) == 1
    assert "mixed.tif: classes 3, 5 (21 % of its pixels) left out: only class 1 is fields" in caplog.text
    nodata = write_probs(tmp_path / "nodata.tif", cls * 0 + 255, np.zeros((64, 64), np.float32), class_only=True)
    with rasterio.open(nodata, "r+") as ds:
        ds.nodata = 255
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        assert len(polygonize(nodata, None, cfg)) == 0
    assert "nodata.tif: every pixel is nodata: no fields" in caplog.text


def test_nodata_that_is_the_field_class_is_no_field(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Session 89's fields sweep: a class raster declaring nodata 1 (the field class) gave its nodata pixels as
    fields (a raster of nodata became one field, while the warning said "every pixel is nodata: no fields"); an
    instance raster without agriseg's tag was read as classes without a hint of how to tag it."""
    import rasterio

    cls = np.zeros((64, 64), np.uint8)
    cls[8:30, 8:30] = 1
    cfg = PolygonizeConfig(progress=False, min_area_m2=0.0)
    for name, values in (("all.tif", cls * 0 + 1), ("some.tif", cls)):
        path = write_probs(tmp_path / name, values, np.zeros((64, 64), np.float32), class_only=True)
        with rasterio.open(path, "r+") as ds:
            ds.nodata = 1
        caplog.clear()
        with caplog.at_level("WARNING", logger="agriseg"):
            assert len(polygonize(path, None, cfg)) == 0
        assert f"{name}: its nodata value 1 is the field class: those pixels are read as no data" in caplog.text
    ids = cls.copy()
    ids[40:60, 40:60], ids[8:30, 40:60] = 3, 4
    path = write_probs(tmp_path / "ids.tif", ids, np.zeros((64, 64), np.float32), class_only=True)
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        polygonize(path, None, cfg)
    assert (
        f"(an instance raster of field ids? tag it: rio edit-info --tag AGRISEG_FORMAT=agriseg-fields-instances {path})"
        in caplog.text
    )


def test_web_mercator_fields_are_measured_in_metres_of_ground() -> None:
    """Web Mercator's unit is the metre, but its areas at 48 N are 2.2x the truth: they were used as they were
    (``metrics:area`` 2.26x too large; ``--min-area 500`` kept fields of 221 m2)."""
    from pyproj import Transformer

    to_wm = Transformer.from_crs(32633, 3857, always_xy=True)

    def wm(poly: Polygon) -> Polygon:
        return shapely.transform(poly, lambda xy: np.column_stack(to_wm.transform(xy[:, 0], xy[:, 1])))

    x0, y0 = 400000, 5350000  # about 48.3 N
    field, small = wm(box(x0, y0, x0 + 200, y0 + 100)), wm(box(x0 + 600, y0, x0 + 620, y0 + 20))  # 20000, 400 m2
    assert shapely.area(small) > 500  # in Web Mercator's "metres"
    g, area, perim, keep = clean_fields(np.array([field, small], object), "EPSG:3857", 500.0, 1000.0)
    assert keep.tolist() == [True, False]
    assert area[0] == pytest.approx(20000, rel=2e-3) and perim[0] == pytest.approx(600, rel=2e-3)


def test_holes_filled_on_a_geographic_crs_keep_the_vertices_neighbours_share() -> None:
    """A field whose hole was filled came back through UTM with its outline moved by 1e-15 degrees, so it no
    longer shared its edge with its neighbour bit for bit: no valid coverage (132 of 767 fields on a scene)."""
    r, ox, oy = 0.00012393260719040166, 13.093612345678901, 48.31234567890123  # a 4326 raster's pixel grid

    def px(c0: int, r0: int, c1: int, r1: int) -> Polygon:
        return box(ox + c0 * r, oy - r1 * r, ox + c1 * r, oy - r0 * r)

    left, right = px(0, 0, 30, 20).difference(px(10, 8, 12, 10)), px(30, 0, 50, 20)  # a 2 x 2 px hole: ~70 m2
    assert shapely.coverage_is_valid(np.array([left, right], object))
    g, _, _, keep = clean_fields(np.array([left, right], object), "EPSG:4326", 500.0, 1000.0)
    assert keep.all() and len(g[0].interiors) == 0  # the 100 m2 hole filled
    assert shapely.equals_exact(g[0].exterior, left.exterior, 0)  # the outline as it was, bit for bit
    assert shapely.coverage_is_valid(g)


def test_pixel_area_of_a_projection_whose_scale_is_not_true() -> None:
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from agriseg.raster.io import pixel_area_m2

    wm = pixel_area_m2(CRS.from_epsg(3857), from_origin(1459000, 6156000, 10, 10), 100, 100)  # 10 m px at 48.3 N
    assert wm == pytest.approx(100 * np.cos(np.deg2rad(48.3)) ** 2, rel=0.01)
    utm = pixel_area_m2(CRS.from_epsg(32633), from_origin(400000, 5350000, 10, 10), 100, 100)
    assert utm == pytest.approx(100, rel=2e-3)


@pytest.mark.parametrize("lat", [0.0, 48.0, 70.0])
def test_pixel_area_of_a_geographic_raster_is_geodesic(lat: float) -> None:
    """Fixed metres per degree gave areas 0.7 % small at 48 degrees and 1.2 % at 70."""
    from pyproj import Geod
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from agriseg.raster.io import pixel_area_m2

    d = 1e-6  # one pixel, at the centre of a 100 x 100 px raster
    got = pixel_area_m2(CRS.from_epsg(4326), from_origin(10.0 - 50 * d, lat + 50 * d, d, d), 100, 100)
    want, _ = Geod(ellps="WGS84").polygon_area_perimeter([10, 10 + d, 10 + d, 10], [lat, lat, lat - d, lat - d])
    assert got == pytest.approx(abs(want), rel=1e-4)


def test_a_probability_raster_without_fields_has_the_confidence_column(tmp_path: Path) -> None:
    """An empty result had no agriseg:confidence column (its GeoJSON no schemas:custom): two schemas in one run."""
    cls = np.zeros((40, 60), np.uint8)
    path = write_probs(tmp_path / "p.tif", cls, np.full(cls.shape, 5, np.uint8))
    df = polygonize(path, None, PolygonizeConfig(progress=False))
    assert len(df) == 0 and "agriseg:confidence" in df.columns


def test_an_unsupported_output_format_is_refused_before_any_work(tmp_path):
    """polygonize(r, 'out.txt') ran the whole polygonisation, then refused the extension."""
    from agriseg.config import OptionError
    from agriseg.vector import polygonize

    with pytest.raises(OptionError, match="unsupported vector format '.txt'"):
        polygonize(tmp_path / "not-read-at-all.tif", tmp_path / "out.txt")


def test_a_file_of_yours_under_the_output_name_is_not_written_over(tmp_path):
    """polygonize(r, 'user.parquet') replaced a user's file without a word (session 99's API sweep)."""
    from agriseg.vector import polygonize

    cls = np.zeros((40, 40), np.uint8)
    cls[5:30, 5:30] = 1
    path = write_probs(tmp_path / "p.tif", cls, np.full(cls.shape, 200, np.uint8))
    mine = tmp_path / "user.parquet"
    mine.write_text("my data")
    with pytest.raises(FileExistsError, match=r"user\.parquet: exists \(overwrite=True replaces it\)"):
        polygonize(path, mine, PolygonizeConfig(progress=False, min_area_m2=0))
    assert mine.read_text() == "my data"
    assert len(polygonize(path, mine, PolygonizeConfig(progress=False, min_area_m2=0), overwrite=True)) == 1


def _write_bands(path: Path, bands: np.ndarray, transform: object = None) -> Path:
    """A uint8 GeoTIFF of ``bands`` ``(N, H, W)`` in EPSG:32633 (10 m pixels unless ``transform`` is given)."""
    import rasterio
    from rasterio.transform import from_origin

    n, h, w = bands.shape
    tf = transform or from_origin(359130.0, 5352340.0, 10.0, 10.0)
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=n, dtype="uint8", crs="EPSG:32633",
                       transform=tf) as dst:  # fmt: skip
        dst.write(bands)
    return path


def test_a_three_band_raster_has_the_confidence_of_its_field_probability(tmp_path: Path) -> None:
    """Class, background and field probability (no boundary band): its field band was ignored, no confidence."""
    cls = np.zeros((20, 24), np.uint8)
    cls[4:14, 5:17] = 1
    field = np.where(cls == 1, 128, 5).astype(np.uint8)
    path = _write_bands(tmp_path / "p.tif", np.stack([cls, 255 - field, field]))
    df = polygonize(path, None, PolygonizeConfig(progress=False))
    assert len(df) == 1 and df["agriseg:confidence"].iloc[0] == pytest.approx(128 / 255, abs=1e-6)


def test_field_ids_name_each_fields_first_pixel_in_row_major_order(tmp_path: Path) -> None:
    """Ids were a column off (``p-2-31``), and the fields sorted by column, not row-major as documented."""
    cls = np.zeros((24, 44), np.uint8)
    cls[2:9, 30:40] = 1  # first pixel: row 2, column 30
    cls[10:18, 3:12] = 1  # first pixel: row 10, column 3 (left of the first field, below it)
    path = write_probs(tmp_path / "p.tif", cls, np.where(cls == 1, 230, 5).astype(np.uint8))
    df = polygonize(path, None, PolygonizeConfig(progress=False))
    assert df["id"].tolist() == ["p-2-30", "p-10-3"]
    recs, _ = polygonize_pixels(path, PolygonizeConfig(progress=False))
    assert [tuple(r["key"]) for r in recs] == [(2, 30), (10, 3)]


def test_web_mercator_fields_at_15_degrees_north_are_measured_in_metres_of_ground() -> None:
    """Web Mercator's areas at 15 N are 7 % too large: a tolerance of 20 % measured them as they were."""
    from pyproj import Transformer

    to_wm = Transformer.from_crs(32633, 3857, always_xy=True)
    x0, y0 = 500000, 1660000  # about 15 N
    field = shapely.transform(
        box(x0, y0, x0 + 200, y0 + 100), lambda xy: np.column_stack(to_wm.transform(xy[:, 0], xy[:, 1]))
    )
    assert shapely.area(field) > 1.07 * 20000  # in Web Mercator's "metres"
    _, area, _, keep = clean_fields(np.array([field], object), "EPSG:3857", 500.0, 1000.0)
    assert keep.tolist() == [True] and area[0] == pytest.approx(20000, rel=0.01)


def test_a_polygon_across_utm_zone_lines_is_measured_in_the_zone_of_its_centre() -> None:
    """Measured in the zone of a bounding-box corner, a polygon reaching into the next zone is 1.1 % too large.

    The zone matters only for polygons degrees wide: this one spans 11.9-18.1 E (zones 32, 33 and 34).
    """
    from pyproj import Geod

    region = shapely.segmentize(box(11.9, 0.0, 18.1, 1.0), 0.01)
    truth, _ = Geod(ellps="WGS84").geometry_area_perimeter(region)
    _, area, _, keep = clean_fields(np.array([region], object), "EPSG:4326", 500.0, 0.0)
    assert keep.tolist() == [True] and area[0] == pytest.approx(abs(truth), rel=2e-3)


def test_a_rotated_raster_places_its_polygons_by_its_whole_affine_transform(tmp_path: Path) -> None:
    """The rotation terms of the geotransform (b, d) were dropped: polygons of a rotated raster misplaced."""
    from rasterio.transform import Affine, from_origin

    tf = from_origin(359130.0, 5352340.0, 10.0, 10.0) * Affine.rotation(30)
    cls = np.zeros((20, 30), np.uint8)
    cls[3:10, 4:12] = 1
    df = polygonize(_write_bands(tmp_path / "r.tif", cls[None], tf), None, PolygonizeConfig(progress=False))
    corners = [tf * (4, 3), tf * (12, 3), tf * (12, 10), tf * (4, 10)]  # the field's pixel corners, on the map
    assert len(df) == 1 and shapely.equals_exact(
        shapely.normalize(df.geometry.iloc[0]), shapely.normalize(shapely.Polygon(corners)), 1e-6
    )
    assert df["metrics:area"].iloc[0] == pytest.approx(56 * 100.0)


def test_a_config_of_another_kind_is_a_type_error(tmp_path: Path) -> None:
    """Session 85's API sweep: polygonize(raster, None, "fast") or a PredictConfig was an AttributeError
    ("'str' object has no attribute 'field_class'") from inside."""
    from agriseg.fields import PredictConfig

    for wrong in ("fast", PredictConfig()):
        with pytest.raises(TypeError, match="config is a PolygonizeConfig"):
            polygonize(tmp_path / "x.tif", None, wrong)  # type: ignore[arg-type]


def test_an_unguarded_script_with_threads_is_told_why_its_workers_died(tmp_path: Path) -> None:
    """Session 85's API sweep: on Linux, a script without `if __name__ == "__main__":` running another thread
    (workers then start from a server process, importing the script) ended in BrokenProcessPool."""
    import subprocess
    import sys

    write_probs(tmp_path / "mp.tif", *field_layout(300, 300))
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import threading, time\n"
        "from agriseg.vector import polygonize\n"
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "polygonize('mp.tif', None, {'workers': 2, 'block_size': 128, 'progress': False})\n"
    )
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and 'keep its work under if __name__ == "__main__":' in done.stderr, done.stderr[-2000:]


def test_zero_fields_after_the_options_removed_every_polygon_say_why(tmp_path: Path, caplog) -> None:
    """``--min-area`` larger than every field, or a land-cover filter, gave ``0 fields`` and no word of why
    (session 93's sweep)."""
    import logging

    cls = np.zeros((40, 60), np.uint8)
    cls[5:25, 5:35] = 1  # 600 px of 10 m: 6 ha
    path = write_probs(tmp_path / "p.tif", cls, np.where(cls == 1, 250, 5).astype(np.uint8))
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        assert len(polygonize(path, None, PolygonizeConfig(min_area_m2=1e6, progress=False))) == 0
    assert "p.tif: 0 fields: 1 polygon found, smaller than --min-area 1,000,000 m2" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        assert len(polygonize(path, None, PolygonizeConfig(max_area_m2=1000, progress=False))) == 0
    assert "0 fields: 1 polygon found, 1 over --min-area, then removed by --max-area" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        assert len(polygonize(path, None, PolygonizeConfig(progress=False))) == 1
    assert "0 fields" not in caplog.text
