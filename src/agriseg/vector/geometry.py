"""Metric clean-up of field polygons that is correct on any CRS and keeps touching fields touching.

Projected CRSs in metres are used as they are. Anything else (geographic CRSs, feet) is handled per polygon
in the UTM zone of its centroid: hole filling, simplification, minimum area, area and perimeter all happen
in metres there, and the result is projected back.

The polygons of one raster form a coverage (they share pixel edges and never overlap). Simplification is
shapely's topological coverage simplification, so a shared edge is simplified once for both fields: touching
fields keep touching, with no overlap and no gap. Holes are filled only when no other field lies inside
them (filling a hole that holds a field would overlap it).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def is_metric(crs: Any) -> bool:
    """Whether ``crs`` is projected with metre units (then lengths can be used directly)."""
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    if not c.is_projected:
        return False
    units = {ax.unit_name.lower() for ax in c.axis_info}
    return units <= {"metre", "meter", "m"}


def utm_epsg(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """EPSG code of the WGS 84 / UTM zone of each point."""
    zone = np.clip(np.floor((np.asarray(lon) + 180.0) / 6.0).astype(int) + 1, 1, 60)
    return np.where(np.asarray(lat) >= 0, 32600 + zone, 32700 + zone)


def fill_small_holes(geoms: np.ndarray, max_hole_m2: float) -> np.ndarray:
    """Remove interior rings smaller than ``max_hole_m2`` that hold no other geometry (metric CRS)."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    if max_hole_m2 <= 0:
        return geoms
    tree = shapely.STRtree(geoms)

    def empty_hole(ring: Any) -> bool:
        hole = Polygon(ring)
        if hole.area >= max_hole_m2:
            return False
        inside = tree.query(hole, predicate="contains")  # fields lying in the hole (possibly touching it)
        return len(inside) == 0

    def fix(g: Any) -> Any:
        if isinstance(g, Polygon):
            if not g.interiors:
                return g
            keep = [r for r in g.interiors if not empty_hole(r)]
            return Polygon(g.exterior, keep) if len(keep) != len(g.interiors) else g
        if isinstance(g, MultiPolygon):
            return MultiPolygon([fix(p) for p in g.geoms])
        return g

    n_holes = shapely.get_num_interior_rings(geoms)
    out = geoms.copy()
    for i in np.flatnonzero(n_holes > 0):
        out[i] = fix(geoms[i])
    return out


def simplify_coverage(geoms: np.ndarray, tolerance_m: float, cell_area: float = 0.0) -> np.ndarray:
    """Simplify polygons that share edges so they keep sharing them (no overlaps, no gaps).

    Uses ``shapely.coverage_simplify`` (GEOS coverage simplification, a Visvalingam-Whyatt variant: the
    tolerance is about the square root of the area a removed vertex may change, in metres here). Outer
    edges are simplified too. Invalid results (rare) are repaired with ``make_valid``.

    Args:
        geoms: polygons forming a coverage.
        tolerance_m: simplification tolerance (0 = off).
        cell_area: area of one raster cell when every vertex lies on that raster's cell corners (0 = not
            known). A vertex goes only when the triangle it forms with its neighbours is smaller than
            ``tolerance_m ** 2``; three cell corners span 0 or at least half a cell, so below that only
            collinear vertices could go, and GDAL's polygoniser writes none but the nodes the simplifier
            keeps. Then the result equals the input and the call (about 0.1 ms per polygon) is skipped.
    """
    import shapely

    if tolerance_m <= 0 or len(geoms) == 0:
        return geoms
    if tolerance_m**2 < 0.5 * cell_area * (1 - 1e-9):
        return geoms
    out = np.asarray(shapely.coverage_simplify(geoms, tolerance_m, simplify_boundary=True), dtype=object)
    bad = ~shapely.is_valid(out)
    if bad.any():
        out[bad] = shapely.make_valid(out[bad])
    return out


def _clean_metric(geoms: np.ndarray, simplify_m: float, fill_holes_m2: float, cell_area: float = 0.0) -> np.ndarray:
    import shapely

    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    geoms = fill_small_holes(geoms, fill_holes_m2)
    return simplify_coverage(geoms, simplify_m, cell_area)


def clean_fields(
    geoms: np.ndarray,
    crs: Any,
    simplify_m: float = 5.0,
    min_area_m2: float = 500.0,
    fill_holes_m2: float = 1000.0,
    grid: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fill holes, simplify and filter field polygons with metric parameters on any CRS.

    Args:
        geoms: shapely polygons in ``crs`` that do not overlap (a coverage, e.g. one raster's fields).
        crs: their CRS (anything pyproj accepts).
        simplify_m: coverage-simplification tolerance in metres (0 = off); shared edges stay shared.
        min_area_m2: polygons smaller than this (after simplification) are dropped.
        fill_holes_m2: holes smaller than this are filled.
        grid: affine transform of the raster whose cell corners all vertices lie on (polygons straight
            from a raster), or None; lets simplification skip work that cannot change them.

    Returns:
        ``(cleaned geometries in crs, area m2, perimeter m, keep mask over the input)``; the first three
        hold the kept polygons only.
    """
    import shapely
    from pyproj import CRS, Transformer

    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    area = np.zeros(n)
    perim = np.zeros(n)
    out = geoms.copy()
    if n == 0:
        return out, area, perim, np.zeros(0, bool)
    if is_metric(crs):
        cell_area = abs(grid.a * grid.e - grid.b * grid.d) if grid is not None else 0.0
        out = _clean_metric(out, simplify_m, fill_holes_m2, cell_area)
        area, perim = shapely.area(out), shapely.length(out)
    else:
        src = CRS.from_user_input(crs)
        to_ll = Transformer.from_crs(src, 4326, always_xy=True)
        c = shapely.get_coordinates(shapely.centroid(geoms))
        lon, lat = to_ll.transform(c[:, 0], c[:, 1])
        zones = utm_epsg(np.asarray(lon), np.asarray(lat))
        for z in np.unique(zones):
            idx = np.flatnonzero(zones == z)
            fwd = Transformer.from_crs(src, int(z), always_xy=True)
            back = Transformer.from_crs(int(z), src, always_xy=True)
            m = shapely.transform(geoms[idx], lambda xy, t=fwd: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
            m = _clean_metric(m, simplify_m, fill_holes_m2)
            area[idx], perim[idx] = shapely.area(m), shapely.length(m)
            out[idx] = shapely.transform(m, lambda xy, t=back: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    keep = (area >= min_area_m2) & ~shapely.is_empty(out)
    return out[keep], area[keep], perim[keep], keep


def pixel_to_crs(geoms: np.ndarray, transform: Any) -> np.ndarray:
    """Map geometries in global pixel coordinates (col, row) to the raster CRS with its affine transform."""
    import shapely

    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f

    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack([a * x + b * y + c, d * x + e * y + f])

    return shapely.transform(np.asarray(geoms, dtype=object), apply)
