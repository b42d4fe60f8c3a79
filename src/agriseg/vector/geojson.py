"""The one GeoJSON writer: RFC 7946 FeatureCollections from shapely geometries.

Geometries in a CRS are reprojected to WGS 84 longitude / latitude (RFC 7946 section 4; no ``crs`` member);
geometries without one (polygons of a plain image) keep their coordinates, pixel columns and rows, and get
no ``crs`` member either; polygons across the 180th meridian are cut there (section 3.1.9). Polygon rings
follow the right-hand rule (exterior counter-clockwise, holes
clockwise; section 3.1.6); WGS 84 coordinates have :data:`DECIMALS` decimals. Values are plain JSON (no NaN:
:func:`agriseg.data.files.write_json`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DECIMALS = 7


class NotReprojectable(ValueError):
    """A CRS with no way to longitude / latitude (a local site grid, another planet's)."""


def wgs84_transformer(crs: Any) -> Any:  # noqa: ANN401 - any CRS pyproj reads; a pyproj Transformer
    """The transformer from ``crs`` to WGS 84 longitude / latitude, or None where ``crs`` is WGS 84.

    Raises:
        NotReprojectable: naming the CRS, for one pyproj cannot take to WGS 84.
    """
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError, ProjError

    src = None
    try:
        src = CRS.from_user_input(crs)
        return None if src.equals(CRS.from_epsg(4326)) else Transformer.from_crs(src, 4326, always_xy=True)
    except (CRSError, ProjError) as err:
        name = src.name if src is not None else str(crs)[:60]
        raise NotReprojectable(f"its CRS {name!r} has no way to longitude / latitude ({err})") from err


def to_wgs84(geoms: np.ndarray, crs: Any) -> np.ndarray:  # noqa: ANN401 - any CRS pyproj reads
    """Reproject shapely geometries from ``crs`` to WGS 84 in longitude, latitude order; polygons that cross
    the 180th meridian come back cut there into MultiPolygons (RFC 7946 section 3.1.9).

    Raises:
        NotReprojectable: a CRS with no way to longitude / latitude (a local site grid).
        ValueError: coordinates that are no place in ``crs`` (eastings with a zone prefix in a UTM CRS, metres
            tagged EPSG:4326): they were written as null or as latitudes of millions of degrees.
    """
    import shapely

    t = wgs84_transformer(crs)
    g = np.asarray(geoms, dtype=object)
    if t is None:
        _check_lon_lat(g, crs, "are not longitude / latitude in")
        bounds = shapely.bounds(g)  # a raster laid past 180 degrees (179.98 to 180.01): longitudes wrapped, then cut
        if not len(g) or np.nanmax(np.abs(bounds[:, [0, 2]]), initial=0.0) <= 180.0:
            return g
        g = shapely.orient_polygons(g, exterior_cw=False)
        return _cut_at_antimeridian(shapely.transform(g, lambda xy: np.column_stack([_wrap(xy[:, 0]), xy[:, 1]])))
    # wound counter-clockwise where they are drawn straight (RFC 7946): after the reprojection a ring across the
    # antimeridian has no winding shapely can compute (the cut winds its parts again)
    g = shapely.orient_polygons(g, exterior_cw=False)
    before = g
    with np.errstate(invalid="ignore"):
        g = shapely.transform(g, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    _check_lon_lat(g, crs, "lie outside the area of", before)
    return _cut_at_antimeridian(g)


def _check_lon_lat(g: np.ndarray, crs: Any, problem: str, before: np.ndarray | None = None) -> None:  # noqa: ANN401
    """Raise ValueError when longitude / latitude coordinates are not finite or out of range (naming the first
    such point as it was given: ``before`` the reprojection)."""
    import shapely

    xy = shapely.get_coordinates(g)  # (N, 2)
    bad = ~np.isfinite(xy).all(axis=1) | (np.abs(xy[:, 1]) > 90.0) | (np.abs(xy[:, 0]) > 540.0)
    if bad.any():
        x, y = shapely.get_coordinates(g if before is None else before)[np.flatnonzero(bad)[0]]
        raise ValueError(
            f"coordinates {problem} the raster's CRS {crs} (e.g. x {x:.10g}, y {y:.10g}): check the CRS and "
            "geotransform it declares"
        )


def _wrap(lon: np.ndarray) -> np.ndarray:
    """Longitudes into [-180, 180] (180 stays 180)."""
    return np.where(np.abs(lon) <= 180.0, lon, (lon + 180.0) % 360.0 - 180.0)


def _cut_at_antimeridian(g: np.ndarray) -> np.ndarray:
    """Cut WGS 84 polygons (exteriors counter-clockwise) that cross the 180th meridian there.

    Reprojected vertex by vertex, a field across the antimeridian jumps from -179.99 to 179.99 degrees and its
    outline runs once round the globe (a band 360 degrees wide, often self-intersecting). Only geometries
    spanning more than 180 degrees of longitude are touched (no field is that wide): their western longitudes
    are moved 360 degrees east, so the field is whole again around 180, and the parts either side of 180 are
    clipped off, the eastern one moved back, with edges straight in longitude / latitude as GeoJSON draws
    them. Written with shapely rather than with the ``antimeridian`` package: its ``fix_shape`` 0.4.9 keeps
    only one hole of each part (a field round two patches of trees covered the field in the other hole; the
    session 73 sweep), and a field is never near a pole, the case that package exists for.
    """
    import shapely

    bounds = shapely.bounds(g)  # (N, 4): minx, miny, maxx, maxy; NaN for empty geometries
    polygonal = np.isin(shapely.get_type_id(g), (3, 6))  # Polygon, MultiPolygon
    wraps = np.flatnonzero((bounds[:, 2] - bounds[:, 0] > 180) & polygonal)
    if not len(wraps):
        return g
    g = g.copy()
    west, east = shapely.box(0.0, -90.0, 180.0, 90.0), shapely.box(180.0, -90.0, 360.0, 90.0)
    for i in wraps:
        whole = shapely.make_valid(shapely.transform(g[i], _east_of_180))  # e.g. 179.99 to 180.01 degrees
        parts = [shapely.intersection(whole, west), shapely.transform(shapely.intersection(whole, east), _back)]
        polys = [p for part in parts for p in shapely.get_parts(part) if p.geom_type == "Polygon" and not p.is_empty]
        # a piece narrower than the written precision (a corner 1 mm past 180 degrees) would collapse to a line
        wide = [p for p in polys if min(np.ptp(shapely.bounds(p).reshape(2, 2), axis=0)) >= 10.0**-DECIMALS]
        polys = wide or sorted(polys, key=lambda p: -p.area)[:1]
        cut = polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
        g[i] = shapely.orient_polygons(cut, exterior_cw=False)
    return g


def _east_of_180(xy: np.ndarray) -> np.ndarray:
    """Western longitudes (< 0) moved 360 degrees east."""
    return np.column_stack([np.where(xy[:, 0] < 0, xy[:, 0] + 360.0, xy[:, 0]), xy[:, 1]])


def _back(xy: np.ndarray) -> np.ndarray:
    """Longitudes past 180 degrees moved 360 degrees west."""
    return np.column_stack([xy[:, 0] - 360.0, xy[:, 1]])


def _valid_after_rounding(g: np.ndarray) -> np.ndarray:
    """Polygons that rounding to :data:`DECIMALS` made invalid, repaired (their polygonal parts kept).

    Two vertices of a field on a geographic CRS a few micrometres apart became one, and the ring touched
    itself there: an invalid polygon in the file QGIS and shapely users check.
    """
    import shapely

    bad = np.flatnonzero(~shapely.is_valid(g) & ~shapely.is_missing(g))
    if not bad.size:
        return g
    g = g.copy()
    for i, fixed in zip(bad, shapely.make_valid(g[bad]), strict=True):
        parts = [p for p in shapely.get_parts(fixed) if shapely.get_type_id(p) in (3, 6)]  # (Multi)Polygon
        polys = [q for p in parts for q in shapely.get_parts(p)]
        g[i] = polys[0] if len(polys) == 1 else shapely.multipolygons(polys) if polys else fixed
    return g


def feature_collection(
    geoms: Sequence[Any] | np.ndarray,
    properties: Sequence[dict[str, Any]],
    crs: Any = None,  # noqa: ANN401 - any CRS pyproj reads
    ids: Sequence[Any] | None = None,
    members: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection.

    Args:
        geoms: shapely geometries.
        properties: one dict of JSON values per geometry.
        crs: the geometries' CRS (reprojected to WGS 84), or None for coordinates written as they are.
        ids: feature ids (written as strings), or None.
        members: extra top-level members (e.g. collection metadata); ``crs`` is not allowed.
    """
    import shapely

    if members and "crs" in members:
        raise ValueError("RFC 7946 GeoJSON has no crs member")
    g = np.asarray(geoms, dtype=object)
    if crs is not None:  # 7 decimals of a degree, about 1 cm (RFC 7946 section 11.2): a tenth of the file's size;
        # each coordinate rounded alone, so the vertices that neighbouring fields share stay shared
        g = shapely.transform(to_wgs84(g, crs), lambda xy: np.round(xy, DECIMALS))
        g = _valid_after_rounding(g)
    g = shapely.orient_polygons(g, exterior_cw=False)
    features = []
    for i, (geom, props) in enumerate(zip(g, properties, strict=True)):
        feat: dict[str, Any] = {"type": "Feature"}
        if ids is not None:
            feat["id"] = str(ids[i])
        feat["geometry"] = shapely.geometry.mapping(geom)
        feat["properties"] = props
        features.append(feat)
    return {"type": "FeatureCollection", **(members or {}), "features": features}


def write_geojson(
    path: str | Path,
    geoms: Sequence[Any] | np.ndarray,
    properties: Sequence[dict[str, Any]],
    crs: Any = None,  # noqa: ANN401 - any CRS pyproj reads
    ids: Sequence[Any] | None = None,
    members: dict[str, Any] | None = None,
) -> Path:
    """Write :func:`feature_collection` atomically to ``path``."""
    from agriseg.data.files import write_json

    return write_json(Path(path), feature_collection(geoms, properties, crs, ids, members), indent=None)
