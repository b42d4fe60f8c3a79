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
