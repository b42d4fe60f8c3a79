"""The one GeoJSON writer: RFC 7946 coordinates, winding and the antimeridian."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import box, shape

from agriseg.vector.geojson import feature_collection, to_wgs84

# UTM zone 1 north: its western edge is the 180th meridian, at x 331,696 m, y 6,632,947 m (59.8 degrees north)
ACROSS = "EPSG:32601"


def _fields_across_the_antimeridian() -> list:
    return [box(331696 + x, 6632900 + y, 331696 + x + 90, 6632900 + y + 70) for x in (-40, -10) for y in (0, 80)]


def test_fields_across_the_antimeridian_are_cut_there() -> None:
    """A field reprojected vertex by vertex ran once round the globe (-179.99 to 179.99 degrees) and some were
    self-intersecting (session 69's sweep): RFC 7946 section 3.1.9 asks for them cut at the antimeridian."""
    geoms = _fields_across_the_antimeridian()
    fc = feature_collection(geoms, [{} for _ in geoms], crs=ACROSS)
    geod = Geod(ellps="WGS84")
    for g, utm in zip((shape(f["geometry"]) for f in fc["features"]), geoms, strict=True):
        assert g.is_valid and g.geom_type == "MultiPolygon", shapely.is_valid_reason(g)
        for part in g.geoms:  # each part on one side, its exterior counter-clockwise
            lon = shapely.get_coordinates(part)[:, 0]
            assert lon.max() - lon.min() < 1 and part.exterior.is_ccw
        # the same ground: geodesic area of the parts vs the UTM area (scale factor ~0.9997 off the meridian)
        assert abs(abs(geod.geometry_area_perimeter(g)[0]) / utm.area - 1) < 0.002


def test_holes_of_a_field_across_the_antimeridian_are_all_kept() -> None:
    """A field round two patches of trees on one side of the 180th meridian kept one hole (the ``antimeridian``
    package's cut, session 73's sweep), so the field in the other hole lay under it."""
    holes = [box(331696 + 20, 6632920, 331696 + 40, 6632940), box(331696 + 60, 6632920, 331696 + 80, 6632940)]
    field = box(331696 - 100, 6632900, 331696 + 100, 6632960).difference(shapely.union_all(holes))
    inside = holes[1].buffer(-5)
    fc = feature_collection([field, inside], [{}, {}], crs=ACROSS)
    cut, small = (shape(f["geometry"]) for f in fc["features"])
    assert cut.is_valid and cut.geom_type == "MultiPolygon"
    assert sorted(len(p.interiors) for p in cut.geoms) == [0, 2]
    assert cut.intersection(small).area < 1e-12  # the field in a hole is not under the field round it
    geod = Geod(ellps="WGS84")
    assert abs(abs(geod.geometry_area_perimeter(cut)[0]) / field.area - 1) < 0.002


def test_a_corner_a_millimetre_past_the_antimeridian_is_no_part() -> None:
    """The shapely cut kept a piece of a corner 1 mm east of 180 degrees, which the 7 decimals written collapsed
    to a line: invalid GeoJSON (session 73's review)."""
    field = box(669070, 6611400, 669270, 6611600)  # UTM zone 60 north, its north-east corner just past 180
    (feature,) = feature_collection([field], [{}], crs="EPSG:32660")["features"]
    g = shape(feature["geometry"])
    assert g.is_valid and g.geom_type == "Polygon", shapely.is_valid_reason(g)


def test_lon_lat_fields_laid_past_180_degrees_are_wrapped_and_cut() -> None:
    """An EPSG:4326 raster from 179.98 to 180.0056 degrees gave GeoJSON longitudes of 180.0056, which RFC 7946
    does not allow (session 71's sweep): wrapped into [-180, 180] and cut at the antimeridian."""
    geoms = [box(179.98, -16.01, 180.005, -16.0), box(179.9, -16.0, 179.95, -15.99), box(180.01, -16, 180.02, -15.99)]
    fc = feature_collection(geoms, [{} for _ in geoms], crs="EPSG:4326")
    out = [shape(f["geometry"]) for f in fc["features"]]
    for g, before in zip(out, geoms, strict=True):
        assert g.is_valid and abs(shapely.get_coordinates(g)[:, 0]).max() <= 180.0
        assert abs(g.area - before.area) < 1e-9  # the same cells of the grid
    assert out[0].geom_type == "MultiPolygon" and all(p.exterior.is_ccw for p in out[0].geoms)
    assert out[1].equals(geoms[1]) and shapely.bounds(out[2])[0] == -179.99


def test_fields_away_from_the_antimeridian_keep_their_form() -> None:
    geoms = [box(359130, 5352340, 359230, 5352440), box(359230, 5352340, 359330, 5352440)]
    fc = feature_collection(geoms, [{}, {}], crs="EPSG:32633")
    out = [shape(f["geometry"]) for f in fc["features"]]
    assert [g.geom_type for g in out] == ["Polygon", "Polygon"] and all(g.exterior.is_ccw for g in out)
    assert np.allclose(shapely.get_coordinates(out[0])[:, 0], 13.1, atol=0.01)


def test_a_polygon_that_rounding_makes_touch_itself_is_written_valid() -> None:
    """Found by a bad-input sweep (session 78): a field of a raster in EPSG:4326 had two vertices 3e-8 degrees
    apart; rounded to 7 decimals its ring touched itself, and the GeoJSON held an invalid polygon."""
    from shapely.geometry import Polygon

    e = 1e-7
    notch = Polygon([(0, 0), (10 * e, 0), (10 * e, 10 * e), (5.6 * e, 10 * e), (5.6 * e, 0.3 * e),
                     (4.4 * e, 0.3 * e), (4.4 * e, 10 * e), (0, 10 * e)])  # fmt: skip
    assert notch.is_valid
    (feat,) = feature_collection([notch], [{}], crs="EPSG:4326")["features"]
    g = shape(feat["geometry"])
    assert g.is_valid and abs(g.area - notch.area) < 0.2 * notch.area
    assert all(shapely.is_ccw(p.exterior) for p in getattr(g, "geoms", [g]))  # RFC 7946 winding


def test_slivers_of_float_noise_are_dropped_from_fields_and_real_parts_kept() -> None:
    from shapely.geometry import MultiPolygon, Polygon

    from agriseg.vector.geometry import drop_slivers

    field = box(13.12, 48.28, 13.1212, 48.2812)
    sliver = Polygon([(13.13, 48.29), (13.13 + 1e-8, 48.29), (13.13, 48.29 + 1e-9)])  # 5e-18 square degrees
    pixel = box(13.125, 48.285, 13.1251, 48.2851)  # a one-pixel part of a field: kept
    out = drop_slivers(np.array([MultiPolygon([field, sliver]), MultiPolygon([field, pixel]), field], object))
    assert out[0].equals(field) and out[1].equals(MultiPolygon([field, pixel])) and out[2] is field


def test_coordinates_that_are_no_place_in_their_crs_are_refused() -> None:
    """Eastings with a zone prefix (32 500 000) in EPSG:25832 were written as Points of null coordinates, and metres
    tagged EPSG:4326 as latitudes of 5,000,000 degrees, exit 0 (session 86's text sweep)."""
    field = shapely.box(32_500_000, 5_800_000, 32_500_010, 5_800_010)
    with pytest.raises(ValueError, match=r"outside the area of the raster's CRS EPSG:25832 \(e.g. x 325000"):
        to_wgs84(np.array([field]), "EPSG:25832")
    metres = shapely.box(500_000, 5_000_000, 500_010, 5_000_010)
    with pytest.raises(ValueError, match=r"are not longitude / latitude in the raster's CRS EPSG:4326"):
        to_wgs84(np.array([metres]), "EPSG:4326")
    ok = to_wgs84(np.array([shapely.box(500_000, 5_800_000, 500_010, 5_800_010)]), "EPSG:25832")[0]
    assert 8.9 < ok.bounds[0] < 9.1 and 52.3 < ok.bounds[1] < 52.4


def test_a_local_site_grid_is_said_to_have_no_longitude_latitude() -> None:
    from agriseg.vector.geojson import NotReprojectable

    local = 'LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'
    with pytest.raises(NotReprojectable, match="its CRS 'site grid' has no way to longitude / latitude"):
        to_wgs84(np.array([shapely.box(0, 0, 1, 1)]), local)
