"""Simplification keeps touching fields touching (no overlap, no gap); hole filling never covers a field;
the maximum-area, minimum-confidence and land-cover filters of polygonisation."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import box

from agriseg.vector import PolygonizeConfig, clean_fields, coverage_from_labels, polygonize
from tests.vector.synth_fields import field_layout, write_probs  # tests/vector/synth_fields.py


def _tiling(seed: int = 0, h: int = 120, w: int = 160) -> np.ndarray:
    """Labels of a random Voronoi partition: every pixel in a field, jagged edges at every angle."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    seeds = np.zeros((h, w), np.int32)
    seeds[rng.integers(0, h, 40), rng.integers(0, w, 40)] = np.arange(1, 41)
    _, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    return seeds[iy, ix]


def _overlap_and_gap(geoms: np.ndarray) -> tuple[float, int, float]:
    """Summed pairwise overlap (m2), overlapping pairs, and the area of holes in the union (gaps, m2)."""
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    a, b = a[a < b], b[a < b]
    inter = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    union = shapely.union_all(geoms)
    polys = getattr(union, "geoms", [union])
    gaps = sum(shapely.Polygon(r).area for p in polys for r in p.interiors)
    return float(inter.sum()), int((inter > 1e-6).sum()), float(gaps)


def test_touching_fields_keep_shared_edges_after_simplification() -> None:
    from rasterio.features import shapes
    from rasterio.transform import from_origin

    labels = _tiling()
    tf = from_origin(359130.0, 5352340.0, 10.0, 10.0)
    pixel = np.array([shapely.geometry.shape(g) for g, _ in shapes(labels, transform=tf)], dtype=object)
    out = np.asarray(coverage_from_labels(labels, tf, "EPSG:32633", simplify=20.0).geometry.values, dtype=object)
    assert len(out) == 40 and shapely.coverage_is_valid(out)
    assert shapely.get_num_coordinates(out).sum() < 0.3 * shapely.get_num_coordinates(pixel).sum()
    overlap, pairs, gaps = _overlap_and_gap(out)
    assert pairs == 0 and overlap < 1e-6 and gaps == 0.0
    assert shapely.area(out).sum() == pytest.approx(labels.size * 100.0)  # the raster still covered exactly
    # the check bites: simplifying each field on its own overlaps and opens gaps
    alone = shapely.simplify(pixel, 20.0, preserve_topology=True)
    overlap_alone, pairs_alone, gaps_alone = _overlap_and_gap(alone)
    assert pairs_alone > 0 and gaps_alone > 1.0


def test_hole_holding_another_field_is_not_filled() -> None:
    ring = box(0, 0, 100, 100).difference(box(40, 40, 60, 60))  # 400 m2 hole ...
    inner = box(42, 42, 58, 58)  # ... holding a 256 m2 field
    empty = box(200, 0, 300, 100).difference(box(240, 40, 250, 50))  # 100 m2 hole, empty
    out, _, _, _ = clean_fields(np.array([ring, inner, empty], object), "EPSG:32633", 0.0, 1000.0)
    assert len(out[0].interiors) == 1 and shapely.area(shapely.intersection(out[0], out[1])) == 0
    assert len(out[2].interiors) == 0


def test_polygonize_output_has_no_overlapping_fields(tmp_path: Path) -> None:
    cls, prob = field_layout(200, 240, seed=5, gaps=20)  # many fields touching through boundary gaps
    path = write_probs(tmp_path / "p.tif", cls, prob)
    df = polygonize(path, None, PolygonizeConfig(block_size=64, progress=False))
    g = np.asarray(df.geometry.values, dtype=object)
    overlap, pairs, _ = _overlap_and_gap(g)
    assert pairs == 0 and overlap < 1e-6
    touching = shapely.STRtree(g).query(g, predicate="touches")
    assert (touching[0] != touching[1]).sum() > 0  # the check is meaningful: some fields do touch


@pytest.fixture()
def probs(tmp_path: Path) -> Path:
    cls, prob = field_layout(160, 200, seed=3)
    return write_probs(tmp_path / "probs.tif", cls, prob)


def test_max_area_and_min_confidence(probs: Path) -> None:
    cfg = PolygonizeConfig(block_size=64, progress=False)
    base = polygonize(probs, None, cfg)
    limit = float(np.median(base["metrics:area"]))
    small = polygonize(probs, None, cfg.model_copy(update={"max_area_m2": limit}))
    assert 0 < len(small) < len(base) and (small["metrics:area"] <= limit).all()
    assert set(small["id"]) == set(base["id"][base["metrics:area"] <= limit])
    c = float(np.median(base["agriseg:confidence"]))
    sure = polygonize(probs, None, cfg.model_copy(update={"min_confidence": c}))
    assert set(sure["id"]) == set(base["id"][base["agriseg:confidence"] >= c]) and 0 < len(sure) < len(base)


def test_min_confidence_needs_probabilities(tmp_path: Path) -> None:
    cls, prob = field_layout(96, 96, seed=1)
    path = write_probs(tmp_path / "cls.tif", cls, prob, class_only=True)
    with pytest.raises(ValueError, match=r"cls\.tif: has no probability band"):
        polygonize(path, None, PolygonizeConfig(min_confidence=0.5, progress=False))


def _landcover(path: Path, split_x: float) -> Path:
    """WorldCover-like classes in EPSG:4326: 40 (cropland) west of ``split_x`` (UTM 33N easting), 50 east."""
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_bounds

    lon, _ = Transformer.from_crs(32633, 4326, always_xy=True).transform(split_x, 5351500.0)
    w, s, e, n = 13.08, 48.28, 13.16, 48.32
    cols = 800
    arr = np.where(np.linspace(w, e, cols)[None, :] < lon, 40, 50).repeat(400, 0).astype(np.uint8)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=cols,
        height=400,
        count=1,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_bounds(w, s, e, n, cols, 400),
        nodata=0,
    ) as dst:
        dst.write(arr, 1)
    return path


def test_landcover_mask_in_another_crs(probs: Path, tmp_path: Path) -> None:
    cfg = PolygonizeConfig(block_size=64, progress=False)
    base = polygonize(probs, None, cfg)
    split = 359130.0 + 1000.0  # 1 km into the raster
    lc = _landcover(tmp_path / "worldcover.tif", split)
    kept = polygonize(probs, None, cfg.model_copy(update={"landcover": str(lc), "landcover_keep": [40]}))
    west = base[base.centroid.x < split - 100]
    east = base[base.centroid.x > split + 100]
    assert set(west["id"]) <= set(kept["id"]) and not set(east["id"]) & set(kept["id"])
    dropped = polygonize(probs, None, cfg.model_copy(update={"landcover": str(lc), "landcover_drop": [40]}))
    assert set(east["id"]) <= set(dropped["id"]) and not set(west["id"]) & set(dropped["id"])
    with pytest.raises(ValueError, match="give land-cover classes"):
        polygonize(probs, None, cfg.model_copy(update={"landcover": str(lc)}))
    with pytest.raises(FileNotFoundError, match="nowhere.tif: land-cover raster not found"):
        polygonize(probs, None, cfg.model_copy(update={"landcover": "nowhere.tif", "landcover_keep": [40]}))
    import rasterio
    import rasterio.transform

    far = tmp_path / "far.tif"  # a land-cover raster of another place: the failure is the field raster's
    with rasterio.open(far, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=rasterio.transform.from_bounds(0, 0, 0.01, 0.01, 8, 8)) as dst:  # fmt: skip
        dst.write(np.full((1, 8, 8), 40, np.uint8))
    with pytest.raises(ValueError, match=rf"^{re.escape(str(probs))}: no field overlaps the land-cover raster .*far"):
        polygonize(probs, None, cfg.model_copy(update={"landcover": str(far), "landcover_keep": [40]}))


def _confidence_raster(tmp_path: Path) -> Path:
    """Two fields: field probability 255 (sure) and 128 (half sure)."""
    cls = np.zeros((20, 40), np.uint8)
    cls[3:15, 3:15] = cls[3:15, 22:36] = 1
    prob = np.zeros(cls.shape, np.uint8)
    prob[3:15, 3:15], prob[3:15, 22:36] = 255, 128
    return write_probs(tmp_path / "p.tif", cls, prob)


def test_confidence_is_the_mean_field_probability_over_255(tmp_path: Path) -> None:
    """Divided by 254, a sure field had confidence 1.004 (above 1) and every other one was too high."""
    df = polygonize(_confidence_raster(tmp_path), None, PolygonizeConfig(progress=False))
    assert df["agriseg:confidence"].tolist() == pytest.approx([1.0, 128 / 255], abs=1e-6)


def test_a_field_exactly_at_min_confidence_is_kept(tmp_path: Path) -> None:
    """``--min-confidence`` drops fields whose confidence is lower: one exactly at it was dropped too."""
    path = _confidence_raster(tmp_path)
    at = polygonize(path, None, PolygonizeConfig(min_confidence=128 / 255, progress=False))
    above = polygonize(path, None, PolygonizeConfig(min_confidence=129 / 255, progress=False))
    assert len(at) == 2 and len(above) == 1


def _coarse_landcover(path: Path) -> Path:
    """A 4 x 4 land cover of 100 m pixels over the fields' origin (EPSG:32633): columns 0-1 cropland (40),
    column 2 grassland (30), column 3 NoData (0)."""
    import rasterio
    from rasterio.transform import from_origin

    arr = np.tile(np.array([40, 40, 30, 0], np.uint8), (4, 1))
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(359130.0, 5352340.0, 100.0, 100.0), nodata=0) as dst:  # fmt: skip
        dst.write(arr, 1)
    return path


def _lc_box(c0: float, r0: float, c1: float, r1: float) -> shapely.Polygon:
    """A box in land-cover pixel units (column, row) of :func:`_coarse_landcover`."""
    x0, y0 = 359130.0, 5352340.0
    return box(x0 + 100 * c0, y0 - 100 * r1, x0 + 100 * c1, y0 - 100 * r0)


def test_a_field_exactly_half_on_cropland_is_kept_and_one_without_land_cover_data_dropped(tmp_path: Path) -> None:
    """At the default --landcover-min-fraction 0.5 a field half on cropland was dropped, and a field on
    land-cover NoData only (no land-cover pixel to judge it by) was kept."""
    from agriseg.vector.api import filter_fields

    lc = _coarse_landcover(tmp_path / "lc.tif")
    half = _lc_box(1, 0, 3, 2)  # two cropland pixels, two grassland ones
    nodata = _lc_box(3, 0, 4, 2)  # NoData only
    grass = _lc_box(2, 2, 3, 4)  # grassland only
    geoms = np.array([half, nodata, grass], object)
    cfg = PolygonizeConfig(landcover=str(lc), landcover_keep=[40], progress=False)
    keep = filter_fields(tmp_path / "p.tif", geoms, "EPSG:32633", np.zeros(3), np.full(3, np.nan), cfg)
    assert keep.tolist() == [True, False, False]


def test_a_field_smaller_than_a_land_cover_pixel_takes_the_pixel_it_lies_in(tmp_path: Path) -> None:
    """A 30 m field that holds no 100 m land-cover pixel's centre had no land cover (NaN): always dropped."""
    from agriseg.vector.landcover import allowed_fraction

    lc = _coarse_landcover(tmp_path / "lc.tif")
    small = _lc_box(0.05, 2.05, 0.35, 2.35)  # in a cropland pixel, away from its centre
    frac = allowed_fraction(np.array([small, _lc_box(1, 0, 3, 2)], object), "EPSG:32633", lc, [40], [])
    assert frac.tolist() == [1.0, 0.5]


def test_a_field_exactly_min_area_and_a_hole_exactly_fill_holes_are_kept() -> None:
    """Fields smaller than --min-area are dropped and holes smaller than --fill-holes filled: a field of
    exactly 500 m2 was dropped, a hole of exactly 1000 m2 filled."""
    field = box(0, 0, 20, 25)  # 500 m2
    ring = box(100, 0, 200, 100).difference(box(140, 40, 180, 65))  # a 1000 m2 hole
    out, area, _, keep = clean_fields(np.array([field, ring], object), "EPSG:32633", 500.0, 1000.0)
    assert keep.tolist() == [True, True] and area[0] == 500.0
    assert len(out[1].interiors) == 1 and area[1] == 10000.0 - 1000.0


def test_a_hole_filled_exactly_by_another_field_is_not_filled() -> None:
    """A field inside a hole touches the hole's edge (a coverage has no gap): filling the hole overlapped it."""
    ring = box(0, 0, 100, 100).difference(box(40, 40, 60, 60))  # 400 m2 hole ...
    inner = box(40, 40, 60, 60)  # ... holding a field that fills it
    out, _, _, keep = clean_fields(np.array([ring, inner], object), "EPSG:32633", 0.0, 1000.0)
    assert keep.all() and len(out[0].interiors) == 1
    assert shapely.area(shapely.intersection(out[0], out[1])) == 0 and shapely.coverage_is_valid(out)


def test_a_self_crossing_field_on_a_metric_crs_comes_back_valid() -> None:
    """A bow-tie in UTM was kept invalid (area 0 by the shoelace formula: dropped as too small)."""
    bow = shapely.Polygon([(0, 0), (200, 200), (200, 0), (0, 200)])  # two 10000 m2 triangles
    assert not shapely.is_valid(bow)
    out, area, _, keep = clean_fields(np.array([bow], object), "EPSG:32633", 500.0, 1000.0)
    assert keep.tolist() == [True] and shapely.is_valid(out[0]) and area[0] == pytest.approx(20000)


def test_the_summary_names_only_the_filters_that_removed_polygons(tmp_path: Path) -> None:
    """The summary line said "dropped by --min-area 500 m2 and --max-area 200000 m2" where every field was over
    500 m2 and --max-area alone removed three (session 96's sweep)."""
    import rasterio
    from click.testing import CliRunner
    from rasterio.transform import from_origin

    from agriseg.cli import main

    labels = np.zeros((200, 200), np.uint8)  # 10 m pixels: fields of 16,900 m2 to 640,000 m2
    labels[20:60, 20:60] = 1  # 160,000 m2
    labels[100:180, 20:100] = 1  # 640,000 m2
    labels[0:50, 150:200] = 1  # 250,000 m2
    labels[100:113, 150:163] = 1  # 16,900 m2
    profile = dict(driver="GTiff", width=200, height=200, count=1, dtype="uint8", crs="EPSG:32633",
                   transform=from_origin(500000, 5300000, 10, 10))  # fmt: skip
    with rasterio.open(tmp_path / "c.tif", "w", **profile) as dst:
        dst.write(labels, 1)
    df = polygonize(tmp_path / "c.tif", config=PolygonizeConfig(max_area_m2=200000, progress=False))
    assert len(df) == 2 and df.attrs["dropped"] == {"--max-area 200000 m2": 2}
    out = tmp_path / "f.parquet"
    res = CliRunner().invoke(main, ["fields", "polygonize", str(tmp_path / "c.tif"), "-o", str(out),
                                    "--max-area", "200000", "--min-area", "20000"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "(1 field; 3 of the 4 polygons found were dropped by --min-area 20000 m2 and --max-area 200000 m2)" in (
        res.output
    )
    res = CliRunner().invoke(main, ["fields", "polygonize", str(tmp_path / "c.tif"), "-o", str(tmp_path / "g.parquet"),
                                    "--max-area", "200000"])  # fmt: skip
    assert "(2 fields; 2 of the 4 polygons found were dropped by --max-area 200000 m2)" in res.output, res.output
