"""The coverage polygoniser: touching fields share one edge, straight edges come out straight, perimeters are
right, tolerances follow the CRS, and crossings left by the simplification are repaired."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from rasterio.transform import from_origin
from scipy import ndimage

from agriseg.vector import PolygonizeConfig, coverage_from_labels, polygonize, polygonize_pixels
from agriseg.vector.coverage import GAP, OUTSIDE, split_gaps, trace_coverage
from agriseg.vector.geometry import pixel_tolerance
from tests.vector.synth_fields import field_layout, write_probs  # tests/vector/synth_fields.py

TF = from_origin(359130.0, 5352340.0, 10.0, 10.0)
QUIET = {"progress": False, "min_area_m2": 0.0, "fill_holes_m2": 0.0}


def _two_fields(angle_deg: float, n: int = 120, band: float = 1.5, right: int = 1) -> np.ndarray:
    """Class raster: a straight edge at ``angle_deg`` through the middle, a ``band``-px boundary along it,
    field (1) on the left, ``right`` (1 = another field, 0 = background) on the right."""
    y, x = np.mgrid[0:n, 0:n] + 0.5
    t = np.deg2rad(angle_deg)
    s = (x - n / 2) * np.sin(t) - (y - n / 2) * np.cos(t)  # signed distance to the edge
    cls = np.where(s < 0, 1, right).astype(np.uint8)
    half = band / 2 if right == 1 else band / 2  # towards background the band lies inside the field
    cls[(np.abs(s) < half) if right == 1 else ((s < 0) & (s > -half))] = 2
    return cls


def _shared(a: shapely.Geometry, b: shapely.Geometry) -> shapely.Geometry:
    return shapely.line_merge(shapely.intersection(a.boundary, b.boundary))


@pytest.mark.parametrize("angle", [7.0, 26.6, 45.0, 63.0, 81.0, 117.0, 152.0])
def test_straight_edge_at_any_angle_is_one_segment(tmp_path: Path, angle: float) -> None:
    cls = _two_fields(angle)
    path = write_probs(tmp_path / "c.tif", cls, np.zeros_like(cls), class_only=True)
    recs, _ = polygonize_pixels(path, PolygonizeConfig(separation="components", **QUIET))
    assert len(recs) == 2
    a, b = recs[0]["geometry"], recs[1]["geometry"]
    edge = _shared(a, b)
    assert edge.geom_type == "LineString" and len(edge.coords) == 2  # one segment, shared by both fields
    (x0, y0), (x1, y1) = edge.coords
    got = np.rad2deg(np.arctan2(y1 - y0, x1 - x0)) % 180  # the raster's angle: rows grow downwards
    assert abs((got - angle + 90) % 180 - 90) < 1.0
    # the boundary band is split: the edge runs through its middle, the raster stays covered
    assert a.area + b.area == pytest.approx(cls.size)
    # the check bites: the same edge traced pixel by pixel has one vertex per step
    pixel = polygonize_pixels(path, PolygonizeConfig(separation="components", simplify=0, **QUIET))[0]
    assert len(_shared(pixel[0]["geometry"], pixel[1]["geometry"]).coords) > 10


@pytest.mark.parametrize("angle", [12.0, 38.0, 71.0])
def test_straight_edge_to_background_is_one_segment(tmp_path: Path, angle: float) -> None:
    cls = _two_fields(angle, right=0)
    path = write_probs(tmp_path / "c.tif", cls, np.zeros_like(cls), class_only=True)
    recs, _ = polygonize_pixels(path, PolygonizeConfig(separation="components", **QUIET))
    assert len(recs) == 1
    ring = np.asarray(recs[0]["geometry"].exterior.coords)
    y, x = ring[:, 1], ring[:, 0]
    inner = (x > 0) & (x < 120) & (y > 0) & (y < 120)  # vertices not on the raster's border
    assert inner.sum() == 0  # the slanted edge is one segment from border to border


def _hexagon(n: int = 140, r: float = 50.0, rot: float = 10.0) -> shapely.Polygon:
    t = np.deg2rad(rot + 60.0 * np.arange(6))
    return shapely.Polygon(np.stack([n / 2 + r * np.cos(t), n / 2 + r * np.sin(t)], 1))


def test_perimeter_and_area_of_a_known_polygon(tmp_path: Path) -> None:
    """A hexagon field (boundary pixels inside its outline, as in FTW labels) among background."""
    from rasterio.features import rasterize

    hexa = _hexagon()
    inside = rasterize([hexa], out_shape=(140, 140)).astype(bool)  # pixel centres in the hexagon
    edge = inside & ~ndimage.binary_erosion(inside)
    cls = np.where(edge, 2, np.where(inside, 1, 0)).astype(np.uint8)
    path = write_probs(tmp_path / "h.tif", cls, np.zeros_like(cls), class_only=True, res=10.0)
    df = polygonize(path, None, PolygonizeConfig(**QUIET))
    assert len(df) == 1
    truth_perim, truth_area = hexa.length * 10, hexa.area * 100
    assert df["metrics:perimeter"].iloc[0] == pytest.approx(truth_perim, rel=0.02)
    assert df["metrics:area"].iloc[0] == pytest.approx(truth_area, rel=0.02)
    # 7 for the hexagon itself; without nodes on its outline a corner may come out as two vertices
    assert len(df.geometry.iloc[0].exterior.coords) <= 12
    # the check bites: the pixel outline is about a quarter too long
    rows, cols = np.nonzero(inside)
    staircase = shapely.union_all(shapely.box(cols, rows, cols + 1, rows + 1))
    assert staircase.length > 1.15 * hexa.length


def test_touching_fields_share_their_edges_and_gaps_to_background_stay(tmp_path: Path) -> None:
    cls, prob = field_layout(220, 260, seed=7, gaps=8)
    path = write_probs(tmp_path / "p.tif", cls, prob)
    for sep in ("watershed", "components"):
        split = polygonize(path, None, PolygonizeConfig(block_size=64, separation=sep, **QUIET))
        g = np.asarray(split.geometry.values, object)
        assert shapely.coverage_is_valid(g)
        a, b = shapely.STRtree(g).query(g, predicate="intersects")
        a, b = a[a < b], b[a < b]
        assert (shapely.area(shapely.intersection(g[a], g[b])) < 1e-6).all()  # no overlap
        shared = shapely.length(shapely.intersection(shapely.boundary(g[a]), shapely.boundary(g[b])))
        assert (shared > 0).sum() > len(g)  # neighbours share edges, not points
        # without the split the boundary gap stays: only fields the watershed split touch
        kept = polygonize(path, None, PolygonizeConfig(block_size=64, separation=sep, split_boundary_px=0, **QUIET))
        k = np.asarray(kept.geometry.values, object)
        ka, kb = shapely.STRtree(k).query(k, predicate="intersects")
        ka, kb = ka[ka < kb], kb[ka < kb]
        kshared = shapely.length(shapely.intersection(shapely.boundary(k[ka]), shapely.boundary(k[kb])))
        assert (kshared > 0).sum() < (shared > 0).sum() / 3
        # fields grow by about half the boundary width: same ids, larger by a few percent
        assert kept["id"].tolist() == split["id"].tolist()
        growth = split["metrics:area"].to_numpy() / kept["metrics:area"].to_numpy()
        assert (growth > 0.95).all() and 1.02 < np.median(growth) < 1.3  # (simplification moves edges too)
        # background (class 0) never goes to a field: the split only takes boundary pixels
        r, c = np.nonzero(cls == 0)
        centres = shapely.points(359130.0 + 10 * (c + 0.5), 5352340.0 - 10 * (r + 0.5))
        assert not shapely.STRtree(g).query(centres, predicate="within").size


def test_split_gaps_ties_distance_and_connectivity() -> None:
    lab = np.zeros((9, 12), np.int32)
    lab[:4] = 5
    lab[5:] = 9
    lab[4] = GAP  # a 1-px boundary: every pixel is equally near both fields
    out = split_gaps(np.pad(lab, 2, constant_values=OUTSIDE), 2.0)[2:-2, 2:-2]
    assert set(np.unique(out[4])) in ({5}, {9})  # the whole tied line goes to one side, no zigzag
    wide = np.zeros((10, 12), np.int32)
    wide[:3], wide[7:] = 5, 9
    wide[3:7] = GAP  # 4 px: each field takes the two rows nearest to it
    out = split_gaps(np.pad(wide, 2, constant_values=OUTSIDE), 2.0)[2:-2, 2:-2]
    assert (out[3:5] == 5).all() and (out[5:7] == 9).all()
    far = np.zeros((12, 12), np.int32)
    far[:2] = 5
    far[2:] = GAP  # rows more than 2 px from the field stay empty
    out = split_gaps(np.pad(far, 2, constant_values=OUTSIDE), 2.0)[2:-2, 2:-2]
    assert (out[2:4] == 5).all() and (out[4:] == 0).all()
    # a gap pixel joins a field only next to that field's pixels: every field stays one 4-connected region
    rng = np.random.default_rng(0)
    lab = ndimage.label(rng.random((60, 60)) < 0.35)[0].astype(np.int32)
    lab[(lab == 0) & (rng.random((60, 60)) < 0.8)] = GAP
    out = split_gaps(np.pad(lab, 3, constant_values=OUTSIDE), 2.0)
    for v in np.unique(out[out > 0])[:200]:
        assert ndimage.label(out == v)[1] == 1


def test_tolerance_follows_the_crs() -> None:
    utm = from_origin(500000, 5000000, 10.0, 10.0)
    geo = from_origin(13.0, 47.5, 1e-4, 1e-4)
    assert pixel_tolerance(None, utm, "EPSG:32633") == pytest.approx(1.0)  # one pixel by default
    assert pixel_tolerance(None, geo, "EPSG:4326") == pytest.approx(1.0)
    assert pixel_tolerance(5.0, utm, "EPSG:32633") == pytest.approx(0.5)  # metres on a projected CRS
    # metres on a geographic one too: 1e-4 degrees at 47.5 N is 7.5 m across, 11.1 m down (9.15 m square)
    assert pixel_tolerance(9.15, geo, "EPSG:4326", (100, 100)) == pytest.approx(1.0, rel=2e-3)
    feet = from_origin(900000, 200000, 10.0, 10.0)  # NY State Plane, US survey feet
    assert pixel_tolerance(3.048, feet, "EPSG:2263") == pytest.approx(1.0, rel=1e-5)  # metres, not feet
    assert pixel_tolerance(0, utm, "EPSG:32633") == 0.0
    # Web Mercator's 10 m pixels at 48.5 N are 6.6 m on the ground: 20 m is 3 of them (was 2: map metres)
    merc = from_origin(1500000, 6200000, 10.0, 10.0)
    assert pixel_tolerance(20.0, merc, "EPSG:3857", (100, 100)) == pytest.approx(3.02, abs=0.01)


def test_geographic_raster_gets_straight_edges_and_metric_areas(tmp_path: Path) -> None:
    cls = _two_fields(33.0)
    path = write_probs(
        tmp_path / "g.tif", cls, np.zeros_like(cls), crs="EPSG:4326", res=1e-4, origin=(13.0, 47.5), class_only=True
    )
    df = polygonize(path, None, PolygonizeConfig(separation="components", **QUIET))
    assert len(df) == 2 and df.crs.to_epsg() == 4326
    assert len(_shared(*df.geometry.values).coords) == 2
    lat = np.deg2rad(47.5 - 60 * 1e-4)
    px = (1e-4 * 111_320 * np.cos(lat)) * (1e-4 * 111_132)  # m2 of one pixel
    assert df["metrics:area"].sum() == pytest.approx(cls.size * px, rel=5e-3)
    # --simplify is metres here too: 20 m (about 2 px) simplifies; as 20 degrees it left every pixel step
    y, x = np.mgrid[0:80, 0:80] + 0.5
    disc = write_probs(tmp_path / "d.tif", (np.hypot(x - 40, y - 40) < 25).astype(np.uint8),
                       np.zeros((80, 80)), crs="EPSG:4326", res=1e-4, origin=(13.0, 47.5), class_only=True)  # fmt: skip
    (round_field,) = polygonize(disc, None, PolygonizeConfig(simplify=20.0, **QUIET)).geometry.values
    assert 10 <= shapely.get_num_coordinates(round_field) <= 30  # 117 unsimplified


def _ring_gap(n: int = 64, r: float = 20.0, dx: float = 1.3) -> np.ndarray:
    """A disc field (1) inside another field (2), between them a background ring 2-4 px wide (off-centre, so
    the two outlines' simplified vertices do not line up)."""
    y, x = np.mgrid[0:n, 0:n] + 0.5
    inner, outer = np.hypot(x - n / 2 - dx, y - n / 2), np.hypot(x - n / 2, y - n / 2)
    return np.where(inner < r, 1, np.where(outer < r + dx + 2, 0, 2)).astype(np.int32)


def test_crossing_arcs_are_repaired() -> None:
    lab = _ring_gap()
    # simplified arc by arc, the outer field's chords cut across the thin ring into the disc
    raw, _ = trace_coverage(np.pad(lab, 1, constant_values=OUTSIDE), (0, 0), 6.0)
    assert not shapely.coverage_is_valid(raw.geoms)
    df = coverage_from_labels(lab, TF, "EPSG:32633", simplify=60.0)  # 6 px
    g = np.asarray(df.geometry.values, object)
    assert df["label"].tolist() == [1, 2] and shapely.coverage_is_valid(g) and shapely.is_valid(g).all()
    assert shapely.area(shapely.intersection(g[0], g[1])) == 0


def test_crossed_arcs_are_simplified_less_not_left_with_every_pixel_step() -> None:
    """Fields with thin wavy strips between them, whose arcs cross when simplified: the fields involved kept
    every pixel step of their arcs, so --simplify 50 m wrote 33 % more coordinates than 10 m (41,391 against
    31,088 on the real scene; session 107's sweep). Now such arcs are simplified less, step by step."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:300]
    pts = rng.uniform(0, 300, (60, 2))
    lab = np.stack([np.hypot(yy - p[0], xx - p[1]) for p in pts]).argmin(0).astype(np.int32) + 1  # (H, W)
    for k in range(25):  # strips 1-3 px wide, each a field of its own
        y0, a, f, w = rng.uniform(0, 300), rng.uniform(3, 12), rng.uniform(0.02, 0.08), rng.integers(1, 4)
        yc = y0 + a * np.sin(f * xx[0] + rng.uniform(0, 6))  # (W,)
        lab[np.abs(yy - yc[None, :]) < w / 2 + 0.5] = 100 + k
    coords = {}
    for px in (1, 5):
        g = np.asarray(coverage_from_labels(lab, TF, "EPSG:32633", simplify=10.0 * px).geometry.values, object)
        assert shapely.coverage_is_valid(g) and shapely.is_valid(g).all()
        coords[px] = int(shapely.get_num_coordinates(g).sum())
    assert coords[5] <= 1.1 * coords[1], coords  # before: 6,510 against 4,606 (now 4,554 against 4,286)


def test_coverage_from_labels(tmp_path: Path) -> None:
    lab = np.zeros((60, 80), np.int64)
    lab[5:30, 5:40] = 7
    lab[5:30, 42:70] = 10**12  # any ids
    lab[33:55, 5:70] = 3
    lab[40:45, 72:76] = 7  # a second part of 7
    gap = lab == 0
    runs = [coverage_from_labels(lab, TF, "EPSG:32633", gap=gap, block_size=b) for b in (32, 4096)]
    for df in runs:
        g = np.asarray(df.geometry.values, object)
        assert df["label"].tolist() == [3, 7, 10**12] and shapely.coverage_is_valid(g)
        assert df.geometry.geom_type.tolist() == ["Polygon", "MultiPolygon", "Polygon"]
        assert df.crs.to_epsg() == 32633
    assert all(shapely.equals_exact(a, b, 0) for a, b in zip(runs[0].geometry, runs[1].geometry, strict=True))
    # the 2-px gaps between instances are split: 7 and 10**12 share an edge, 3 too
    g = runs[0].set_index("label").geometry
    assert _shared(g[7], g[10**12]).length > 200 and _shared(g[3], g[7]).length > 300
    with pytest.raises(ValueError, match="labels must be >= 0"):
        coverage_from_labels(-lab, TF, "EPSG:32633")
    with pytest.raises(ValueError, match="2-D integer array"):
        coverage_from_labels(lab.astype(float), TF, "EPSG:32633")


def test_instance_raster_file_gives_a_coverage_with_first_pixel_ids(tmp_path: Path) -> None:
    import rasterio

    from agriseg.vector import polygonize, polygonize_labels

    lab = np.zeros((60, 80), np.uint32)
    y, x = np.mgrid[0:60, 0:80]
    lab[(y >= 4) & (y < 50) & (x >= 3) & (x < 40 + y // 3)] = 9  # a slanted edge shared with 4
    lab[(y >= 4) & (y < 50) & (x >= 40 + y // 3) & (x < 76)] = 4
    lab[52:58, 10:30] = 0  # background strip stays empty
    conf = np.where(lab == 9, 200, 100).astype(np.uint32)
    path = tmp_path / "inst.tif"
    profile = {"driver": "GTiff", "height": 60, "width": 80, "count": 2, "dtype": "uint32"}
    with rasterio.open(path, "w", crs="EPSG:32633", transform=TF, **profile) as ds:
        ds.write(np.stack([lab, conf]))
        ds.update_tags(AGRISEG_FORMAT="agriseg-fields-instances-1")
    df = polygonize(path, None, PolygonizeConfig(**QUIET))  # the AGRISEG_FORMAT tag routes it to the ids
    assert df["id"].tolist() == polygonize_labels(path, None, PolygonizeConfig(**QUIET))["id"].tolist()
    g = np.asarray(df.geometry.values, object)
    assert shapely.coverage_is_valid(g) and len(df) == 2
    conf_of = dict(zip(df["id"], df["agriseg:confidence"], strict=True))
    assert sorted(conf_of) == ["inst-4-3", "inst-4-41"]  # row-col of each instance's first pixel
    assert np.isclose(conf_of["inst-4-3"], 200 / 254) and np.isclose(conf_of["inst-4-41"], 100 / 254)
    assert _shared(g[0], g[1]).length > 400  # the slanted edge is one shared line (46 px at 10 m)
    assert shapely.get_num_coordinates(g).max() <= 8  # straight edges, no staircase


def test_simplify_in_metres_is_in_the_fingerprint() -> None:
    """Outputs of a geographic raster simplified in degrees (earlier releases) are not resumed as metres."""
    assert "simplify_unit" not in PolygonizeConfig().fingerprint()  # default outputs keep their fingerprints
    assert PolygonizeConfig(simplify=20.0).fingerprint()["simplify_unit"] == "m"


def test_a_tolerance_on_a_geographic_raster_is_metres(caplog: pytest.LogCaptureFixture) -> None:
    """``--simplify 20`` on an EPSG:4326 raster was 20 degrees (200,000 pixels): it is 20 m, as on UTM."""
    geo = from_origin(13.0, 47.5, 1e-4, 1e-4)  # about 7.5 x 11.1 m pixels
    with caplog.at_level("WARNING", logger="agriseg"):
        assert pixel_tolerance(20.0, geo, "EPSG:4326", (10, 10)) == pytest.approx(2.19, abs=0.01)
    assert not caplog.records
    equator = from_origin(13.0, 0.05, 1e-4, 1e-4)  # 11.1 m square: where the pixel is counts
    assert pixel_tolerance(20.0, equator, "EPSG:4326", (10, 10)) == pytest.approx(1.80, abs=0.01)


def test_corners_between_two_pixel_runs_stay_corners() -> None:
    """Only 1-px staircase steps are cut: a 2 x 2 px notch of a field lost its three corners (a chamfer)."""
    lab = np.zeros((14, 14), np.int32)
    lab[2:12, 2:12] = 1
    lab[2:4, 10:12] = 0  # a 2 x 2 px notch in the top-right corner
    (g,) = coverage_from_labels(lab, from_origin(0.0, 14.0, 1.0, 1.0), "EPSG:32633", simplify=0).geometry.values
    assert g.area == pytest.approx(96.0)  # the pixels' own area
    ring = {(round(x, 9), round(y, 9)) for x, y in g.exterior.coords}
    assert {(10, 12), (10, 10), (12, 10)} <= ring  # the notch's corners (y grows upwards on the map)


def test_an_id_in_several_parts_is_named_by_its_first_pixel_in_raster_order() -> None:
    """The first pixel of an instance in two parts (its field id, ``<scene>-<row>-<col>``) was taken column-major
    by one changed sort: the part further left, not the one higher up."""
    from agriseg.vector.polygonize import label_coverage

    labels = np.zeros((10, 12), np.int32)
    labels[5:8, 1:3] = 4  # the lower-left part
    labels[2:4, 8:11] = 4  # the upper-right part: first in raster order
    labels[6:9, 6:9] = 9
    ids, geoms, first = label_coverage(labels)
    assert ids.tolist() == [4, 9] and first.tolist() == [[2, 8], [6, 6]]
    assert geoms[0].geom_type == "MultiPolygon" and geoms[0].area == 12  # 3x2 + 2x3 px


@pytest.mark.parametrize(("side", "ring"), [(14, 2), (40, 2), (40, 1)])
def test_a_field_inside_its_boundary_ring_keeps_its_corners(tmp_path: Path, side: int, ring: int) -> None:
    """The corner pixels of a 2-px boundary ring lie 2 rows and 2 columns from the field (sqrt(8) px): left out of
    it, a 14 x 14 px square came out 18 % small and lopsided (session 86's sweep). Now the whole square."""
    cls = np.zeros((60, 60), np.uint8)
    cls[5 : 5 + side, 5 : 5 + side] = 2
    cls[5 + ring : 5 + side - ring, 5 + ring : 5 + side - ring] = 1
    path = write_probs(tmp_path / "r.tif", cls, np.zeros(cls.shape), class_only=True)
    for simplify in (None, 0.0):
        kw = {} if simplify is None else {"simplify": simplify}
        (field,) = polygonize(path, None, PolygonizeConfig(**kw, **QUIET)).geometry.values
        assert field.area == pytest.approx(side * side * 100.0)  # 10-m pixels: the square, corners and all
        assert shapely.normalize(shapely.simplify(field, 0.0)).equals_exact(
            shapely.box(*field.bounds).normalize(), 1e-6
        )


def test_fields_one_pixel_wide_keep_their_pixel_area(tmp_path: Path) -> None:
    """A strip 1 x 30 px (3,000 m2) was traced as a lens of 1,500 m2 and one of 1 x 8 px (800 m2) as 400 m2, so
    the default --min-area 500 dropped a real field (session 86's sweep)."""
    cls = np.zeros((20, 50), np.uint8)
    cls[5, 5:35] = 1
    cls[12, 5:13] = 1
    cls[16, 40] = 1  # a lone pixel
    path = write_probs(tmp_path / "s.tif", cls, np.zeros(cls.shape), class_only=True)
    for simplify in (None, 0.0):
        kw = {} if simplify is None else {"simplify": simplify}
        df = polygonize(path, None, PolygonizeConfig(**kw, **QUIET))
        assert sorted(df["metrics:area"].tolist()) == [100.0, 800.0, 3000.0]


@pytest.mark.parametrize("angle", [10.0, 20.0, 30.0, 65.0])
def test_a_tilted_field_on_its_own_keeps_its_area_when_simplified(tmp_path: Path, angle: float) -> None:
    """A field that touches no other has no node on its outline: Douglas-Peucker kept run midpoints and cut every
    tilted corner (40 x 40 px fields 0.7 % small in the mean, 4.9 % at worst; 12 x 20 px 10 % at worst: session
    86's sweep). Its corners are where the fitted sides meet now, as unsimplified."""
    from shapely import affinity

    field = affinity.rotate(shapely.box(20.3, 24.3, 40.3, 36.3), angle, origin=(30.3, 30.3))  # 20 x 12 px
    y, x = np.mgrid[0:60, 0:60] + 0.5
    cls = shapely.contains_xy(field, x, y).astype(np.uint8)
    path = write_probs(tmp_path / "t.tif", cls, np.zeros(cls.shape), class_only=True)
    areas = [
        polygonize(path, None, PolygonizeConfig(**kw, **QUIET))["metrics:area"].sum() / 100.0
        for kw in ({}, {"simplify": 0.0})
    ]
    assert areas[0] == pytest.approx(areas[1], rel=0.02)  # the default as the unsimplified outline
    assert areas[0] == pytest.approx(field.area, rel=0.03)


def test_arguments_of_the_wrong_kind_are_named() -> None:
    """Session 92's API sweep: a GDAL geotransform tuple said "'tuple' object has no attribute 'a'", an array
    given to polygonize "expected str, bytes or os.PathLike object, not ndarray"."""
    from affine import Affine

    labels = np.zeros((10, 10), np.int32)
    labels[2:5, 2:5] = 1
    gdal = (500000.0, 10.0, 0.0, 5400000.0, 0.0, -10.0)
    with pytest.raises(TypeError, match=r"not tuple; a GDAL geotransform: affine.Affine.from_gdal\(\*t\)"):
        coverage_from_labels(labels, gdal, "EPSG:32633")
    assert len(coverage_from_labels(labels, Affine.from_gdal(*gdal), "EPSG:32633")) == 1
    with pytest.raises(TypeError, match=r"^raster is a file name \(str or Path\), not ndarray$"):
        polygonize(labels)  # type: ignore[arg-type]
