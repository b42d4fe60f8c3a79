"""Fields in the overlap of two scenes are written once when ``fields map`` merges them."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from shapely.geometry import box

from agriseg.fields.mapping import merge_fields
from agriseg.fields.mapping.dedupe import dedupe_fields
from agriseg.vector import PolygonizeConfig, polygonize, validate_fiboa
from tests.vector.synth_fields import field_layout, write_probs


def test_copy_farthest_inside_its_scene_is_kept() -> None:
    footprints = [box(0, 0, 100, 100), box(50, 0, 150, 100)]
    geoms = [
        box(60, 10, 80, 30),  # scene 0: field in the overlap
        box(90, 40, 100, 60),  # scene 0: field cut by scene 0's right edge
        box(10, 10, 30, 30),  # scene 0 only
        box(60.5, 10, 80, 30.5),  # scene 1: the same overlap field, slightly different
        box(90, 40, 110, 60),  # scene 1: the whole field that scene 0 cut
        box(80, 10, 85, 30),  # scene 1: a neighbour touching the overlap field
    ]
    df = gpd.GeoDataFrame({"id": list("abcdef")}, geometry=geoms)
    keep = dedupe_fields(df, np.array([0, 0, 0, 1, 1, 1]), footprints)
    kept = set(df["id"][keep])
    assert "b" not in kept and "e" in kept  # the cut copy loses
    assert len(kept & {"a", "d"}) == 1  # one copy of the overlap field
    assert {"c", "f"} <= kept  # a touching neighbour is not a duplicate


def test_neighbours_two_scenes_drew_a_pixel_apart_do_not_overlap(tmp_path: Path) -> None:
    """Two scenes placed the boundary between neighbouring fields a pixel apart: both fields were kept whole (each
    overlap under 10 %), and the merged map double-counted the strip (session 73's sweep: 13 pairs, 1,786 m2).
    The field less far inside its scene gives up the strip, and its area says so."""
    from agriseg.vector.fiboa import fields_frame, write_fields

    crs = "EPSG:32633"
    scenes = [
        [box(500000, 5300000, 500200, 5300100), box(500200, 5300000, 500400, 5300100)],  # west scene: a | b
        [box(500210, 5300000, 500400, 5300100), box(500400, 5300000, 500600, 5300100)],  # east: b (10 m short) | c
    ]
    parts = []
    for k, geoms in enumerate(scenes):
        g = np.array(geoms, dtype=object)
        df = fields_frame(g, crs, [f"s{k}-{i}" for i in range(len(g))], shapely.area(g), shapely.length(g))
        parts.append(write_fields(df, tmp_path / f"s{k}.parquet"))
    # the west scene's 'a' is deep inside it, the east scene's 'b' copy is the one kept (deeper than west's b)
    merged = gpd.read_parquet(merge_fields(parts, tmp_path / "fields.parquet"))
    g = merged.geometry.to_numpy()
    a, b = shapely.STRtree(g).query(g, predicate="intersects")
    assert shapely.area(shapely.intersection(g[a[a < b]], g[b[a < b]])).max() == 0.0
    assert np.allclose(merged["metrics:area"], shapely.area(g), rtol=1e-6)
    assert merged.geometry.union_all().area == pytest.approx(600 * 100)  # the ground once, with no gap


def test_merge_writes_each_field_of_an_overlap_once(tmp_path: Path) -> None:
    # one field mosaic seen by two scenes that overlap by 140 px (1.4 km)
    cls, prob = field_layout(160, 400, seed=2)
    west = write_probs(tmp_path / "west_probs.tif", cls[:, :270], prob[:, :270])
    east = write_probs(tmp_path / "east_probs.tif", cls[:, 130:], prob[:, 130:], origin=(359130.0 + 1300, 5352340.0))
    cfg = PolygonizeConfig(block_size=64, progress=False)
    parts = []
    for r in (west, east):
        parts.append(tmp_path / f"{r.stem}.parquet")
        polygonize(r, parts[-1], cfg, id_prefix=r.stem)
    merged = merge_fields(parts, tmp_path / "fields.parquet", rasters=[west, east])
    assert validate_fiboa(merged) == []
    per_scene = [gpd.read_parquet(p) for p in parts]
    fields = gpd.read_parquet(merged)
    overlap = box(*rasterio.open(west).bounds).intersection(box(*rasterio.open(east).bounds))
    inner = [df[df.within(overlap.buffer(-20))] for df in per_scene]
    assert len(inner[0]) == len(inner[1]) > 3  # both scenes found the same fields well inside the overlap
    assert len(fields) == sum(len(df) for df in per_scene) - len(inner[0]) - _cut_copies(per_scene, overlap)
    # no two written fields are copies of one another (overlap > 10 % of the smaller)
    g = np.asarray(fields.geometry.values, dtype=object)
    a, b = shapely.STRtree(g).query(g, predicate="intersects")
    a, b = a[a < b], b[a < b]
    inter = shapely.area(shapely.intersection(g[a], g[b]))
    assert (inter <= 0.1 * np.minimum(shapely.area(g[a]), shapely.area(g[b]))).all()
    # the copies written from the overlap are the ones of one scene, each once
    written = fields[fields.within(overlap.buffer(-20))]
    assert len(written) == len(inner[0]) and written["id"].is_unique


def _cut_copies(per_scene: list[gpd.GeoDataFrame], overlap: object) -> int:
    """Fields in the overlap but near its edges that both scenes hold (one copy of each is removed)."""
    g0 = per_scene[0][per_scene[0].intersects(overlap) & ~per_scene[0].within(overlap.buffer(-20))]
    g1 = per_scene[1][per_scene[1].intersects(overlap) & ~per_scene[1].within(overlap.buffer(-20))]
    n = 0
    for a in g0.geometry:
        for b in g1.geometry:
            if a.intersection(b).area > 0.1 * min(a.area, b.area):
                n += 1
                break
    return n


def test_merge_of_scenes_in_two_crs_with_no_fields(tmp_path: Path) -> None:
    """Scenes in two CRSs that found no field merged to "NaN or None values are not allowed" (a UTM zone was
    estimated from no geometry); they merge to an empty, valid fiboa file."""
    cls, prob = field_layout(64, 64, seed=1)
    cls[:] = 0
    prob[:] = 0
    parts = []
    for name, crs in (("a", "EPSG:32633"), ("b", "EPSG:32632")):
        r = write_probs(tmp_path / f"{name}_probs.tif", cls, prob, crs=crs)
        parts.append(tmp_path / f"{name}.parquet")
        polygonize(r, parts[-1], PolygonizeConfig(block_size=64, progress=False), id_prefix=name)
    assert {gpd.read_parquet(p).crs.to_epsg() for p in parts} == {32633, 32632}
    merged = merge_fields(parts, tmp_path / "fields.parquet")
    assert validate_fiboa(merged) == [] and len(gpd.read_parquet(merged)) == 0


def test_merge_cuts_fields_across_the_antimeridian(tmp_path: Path) -> None:
    """Scenes in two UTM zones merge in WGS 84: a field across the 180th meridian became a band round the globe
    (-179.99 to 179.99 degrees, session 69's sweep); it is cut there, one part on each side."""
    cls, prob = field_layout(64, 64, seed=1)
    cls[:] = 1  # one field over the whole scene
    prob[:] = 0.99
    parts = []
    # zone 1 north: the scene's columns 0-63 straddle the 180th meridian at x 331,696 m; zone 60 north: 2 km west
    for name, crs, origin in (
        ("east", "EPSG:32601", (331380.0, 6633200.0)),
        ("west", "EPSG:32660", (665000.0, 6633200.0)),
    ):
        r = write_probs(tmp_path / f"{name}_probs.tif", cls, prob, crs=crs, origin=origin)
        parts.append(tmp_path / f"{name}.parquet")
        polygonize(r, parts[-1], PolygonizeConfig(block_size=64, progress=False), id_prefix=name)
    merged = merge_fields(parts, tmp_path / "fields.parquet")
    assert validate_fiboa(merged) == []
    fields = gpd.read_parquet(merged)
    assert fields.crs.to_epsg() == 4326 and fields.is_valid.all()
    spans = [np.ptp(shapely.get_coordinates(p)[:, 0]) for g in fields.geometry for p in getattr(g, "geoms", [g])]
    assert max(spans) < 1  # no part runs round the globe
    assert "MultiPolygon" in set(fields.geom_type)  # the crossing field, in two parts


def test_trimming_keeps_a_small_part_a_field_had() -> None:
    """The strip's slivers are dropped, not a small part of a field of two parts (session 73's review)."""
    from shapely.geometry import MultiPolygon

    from agriseg.fields.mapping.dedupe import resolve_overlaps

    footprints = [box(0, 0, 1000, 1000), box(150, 0, 1150, 1000)]
    deep = box(400, 400, 600, 600)  # scene 1, far inside it
    field = MultiPolygon([box(190, 400, 410, 500), box(100, 900, 110, 910)])  # scene 0: 22,000 m2 and 100 m2
    df = gpd.GeoDataFrame(geometry=[field, deep])
    keep, geoms = resolve_overlaps(df, np.array([0, 1]), footprints)
    assert keep.all() and geoms[0].area == pytest.approx(22000 + 100 - 1000, abs=0.2)  # the 10 x 100 m strip given up


def test_fields_cut_apart_share_no_sliver() -> None:
    """Cut exactly in floating point, a field and the neighbour it gave up a part to kept slivers of 1e-9 m2 in
    common, and a check of the merged file found 7 overlapping pairs (session 91's sweep): the cut keeps 1 mm."""
    import shapely
    from shapely.geometry import Polygon

    from agriseg.fields.mapping.dedupe import CLEARANCE_M, resolve_overlaps

    footprints = [box(0, 0, 1000, 1000), box(150.3, 0, 1150.3, 1000)]
    deep = Polygon([(400.123, 400.771), (600.37, 398.2), (603.9, 612.45), (401.1, 600.05)])  # scene 1
    edge = Polygon([(190.05, 420.2), (402.777, 410.123), (409.31, 505.505), (195.5, 499.9)])  # scene 0, overlapping it
    df = gpd.GeoDataFrame(geometry=[edge, deep])
    keep, geoms = resolve_overlaps(df, np.array([0, 1]), footprints)
    assert keep.all() and shapely.area(shapely.intersection(geoms[0], geoms[1])) == 0.0
    assert not shapely.overlaps(geoms[0], geoms[1]) and shapely.distance(geoms[0], geoms[1]) >= CLEARANCE_M * 0.99
