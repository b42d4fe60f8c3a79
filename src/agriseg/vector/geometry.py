"""Metric clean-up of field polygons that is correct on any CRS and keeps touching fields touching.

Projected CRSs in metres whose scale is true where the fields are (UTM, equal-area projections) are used as
they are. Anything else (geographic CRSs, feet, Web Mercator) is handled per polygon in the UTM zone of its
bounding-box centre: hole filling, minimum area, area and perimeter all happen in metres there, and the holes
found are removed from the polygons as they are. Area and perimeter are those of the final geometry.

The polygons of one raster form a coverage (they share edges and never overlap; the edges are simplified
while they are traced, :mod:`agriseg.vector.coverage`). Holes are filled only when no other field lies
inside them (filling a hole that holds a field would overlap it), so the coverage stays valid.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def is_metric(crs: Any) -> bool:
    """Whether ``crs`` is projected with metre units (its lengths are metres where its scale is true)."""
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    if not c.is_projected:
        return False
    units = {ax.unit_name.lower() for ax in c.axis_info}
    return units <= {"metre", "meter", "m"}


MAX_SCALE_ERROR = 0.01  # a projection whose areas are off by more than this where the fields are is not measured in


def areal_scale(crs: Any, xs: np.ndarray, ys: np.ndarray) -> np.ndarray | None:
    """The projection's areal scale (map area / ground area) at points ``xs, ys`` of ``crs``, or None where pyproj
    gives no factors of it."""
    from pyproj import CRS, Proj, Transformer

    c = CRS.from_user_input(crs)
    try:
        lon, lat = Transformer.from_crs(c, c.geodetic_crs, always_xy=True).transform(xs, ys)
        scale = np.asarray(Proj(c).get_factors(lon, lat).areal_scale, dtype=float)
    except Exception:  # noqa: BLE001 - a projection pyproj cannot give factors of
        return None
    return scale if np.all(np.isfinite(scale) & (scale > 0)) else None


def true_to_scale(crs: Any, bounds: tuple[float, float, float, float]) -> bool:
    """Whether areas measured in ``crs`` are true within :data:`MAX_SCALE_ERROR` over ``bounds`` (its corners and
    centre): a UTM zone or an equal-area projection is; Web Mercator, whose areas at 48 degrees north are 2.2x
    the truth, is not, though its unit is the metre. One without factors is measured in UTM, as if not true."""
    if not is_metric(crs):
        return False
    x0, y0, x1, y1 = bounds
    scale = areal_scale(crs, np.array([x0, x1, x0, x1, (x0 + x1) / 2]), np.array([y0, y0, y1, y1, (y0 + y1) / 2]))
    return scale is not None and bool(np.all(np.abs(scale - 1.0) <= MAX_SCALE_ERROR))


def utm_epsg(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """EPSG code of the WGS 84 / UTM zone of each point."""
    zone = np.clip(np.floor((np.asarray(lon) + 180.0) / 6.0).astype(int) + 1, 1, 60)
    return np.where(np.asarray(lat) >= 0, 32600 + zone, 32700 + zone)


def fill_small_holes(
    geoms: np.ndarray, max_hole_m2: float, also: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Remove interior rings smaller than ``max_hole_m2`` that hold no other geometry (metric CRS).

    Args:
        geoms: polygons in a metric CRS, where holes are measured.
        max_hole_m2: holes smaller than this are removed, unless a geometry of ``geoms`` lies in them.
        also: the same polygons in another CRS (ring for ring; None entries are left out), from which the same
            rings are removed: their other vertices stay bit for bit what they were (a round trip through the
            metric CRS moves them in the last digits, and neighbours that shared them no longer would).

    Returns:
        ``(geoms without those holes, also without them)`` (the second None without ``also``).
    """
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    out, out_also = geoms.copy(), None if also is None else also.copy()
    if max_hole_m2 <= 0:
        return out, out_also
    tree = shapely.STRtree(geoms)

    def empty_hole(ring: Any) -> bool:
        hole = Polygon(ring)
        if hole.area >= max_hole_m2:
            return False
        inside = tree.query(hole, predicate="contains")  # fields lying in the hole (possibly touching it)
        return len(inside) == 0

    def parts(g: Any) -> list[Any]:
        return list(g.geoms) if isinstance(g, MultiPolygon) else [g]

    def kept(g: Any) -> list[list[int]]:  # per part, the holes that stay
        return [[k for k, r in enumerate(p.interiors) if not empty_hole(r)] for p in parts(g)]

    def rebuild(g: Any, keep: list[list[int]]) -> Any:
        new = [Polygon(p.exterior, [p.interiors[k] for k in ks]) for p, ks in zip(parts(g), keep, strict=True)]
        return MultiPolygon(new) if isinstance(g, MultiPolygon) else new[0]

    n_holes = shapely.get_num_interior_rings(geoms)
    for i in np.flatnonzero(n_holes > 0):
        if not isinstance(geoms[i], Polygon | MultiPolygon):
            continue
        keep = kept(geoms[i])
        if sum(map(len, keep)) == n_holes[i]:
            continue  # every hole stays: the geometry as it is
        out[i] = rebuild(geoms[i], keep)
        if out_also is not None and also is not None and also[i] is not None:
            out_also[i] = rebuild(also[i], keep)
    return out, out_also


def pixel_tolerance(simplify: float | None, transform: Any, crs: Any, shape: tuple[int, int] = (0, 0)) -> float:
    """The simplification tolerance in pixels of a raster.

    Args:
        simplify: tolerance in metres on the ground on every CRS (by the ground size of the raster's centre
            pixel: a projected CRS's unit and scale, a geographic one's degrees); None = the default of about
            one pixel; 0 = no simplification.
        transform: the raster's affine transform (its pixel size).
        crs: the raster's CRS.
        shape: the raster's (height, width): where its centre pixel is, on a geographic CRS.
    """
    from pyproj import CRS

    from agriseg.raster.io import pixel_area_m2
    from agriseg.vector.coverage import DEFAULT_TOLERANCE_PX

    if simplify is None:
        return DEFAULT_TOLERANCE_PX
    if simplify <= 0:
        return 0.0
    # one tolerance on the ground whatever the CRS ("--simplify 20" is 20 m, not 20 degrees or 20 feet): the
    # pixel's side on the ground at the raster's centre, as areas are measured (Web Mercator's scale too)
    side_m = np.sqrt(pixel_area_m2(CRS.from_user_input(crs), transform, *shape))
    return float(simplify / side_m)


def _clean_metric(geoms: np.ndarray, fill_holes_m2: float) -> np.ndarray:
    import shapely

    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    return fill_small_holes(geoms, fill_holes_m2)[0]


#: a part of a field this much smaller than the field is floating-point noise of the outline's tracing, not land
SLIVER_RATIO = 1e-9


def drop_slivers(geoms: np.ndarray) -> np.ndarray:
    """Multipolygons without their parts under :data:`SLIVER_RATIO` of the whole.

    On a geographic CRS, repairing a field that touches itself at a corner could leave a triangle of 1e-17
    square degrees (a tenth of a square micrometre) beside the field; rounded to GeoJSON's 7 decimals it became
    a ring of four equal points, an invalid geometry. A real part is at least half a pixel, some 1e-4 of a field.
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    multi = np.flatnonzero(shapely.get_type_id(geoms) == 6)  # MultiPolygon
    if not multi.size:
        return geoms
    parts, which = shapely.get_parts(geoms[multi], return_index=True)
    area = shapely.area(parts)
    total = np.bincount(which, weights=area, minlength=multi.size)
    keep = area >= SLIVER_RATIO * total[which]
    if keep.all():
        return geoms
    out = geoms.copy()
    for j in np.unique(which[~keep]):
        kept = parts[(which == j) & keep]
        out[multi[j]] = kept[0] if len(kept) == 1 else shapely.multipolygons(kept)
    return out


def clean_fields(
    geoms: np.ndarray, crs: Any, min_area_m2: float = 500.0, fill_holes_m2: float = 1000.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fill small holes and drop small fields, with metric parameters on any CRS.

    Args:
        geoms: shapely polygons in ``crs`` that do not overlap (a coverage, e.g. one raster's fields).
        crs: their CRS (anything pyproj accepts).
        min_area_m2: polygons smaller than this are dropped.
        fill_holes_m2: holes smaller than this are filled, unless another field lies in them.

    Returns:
        ``(cleaned geometries in crs, area m2, perimeter m, keep mask over the input)``; the first three
        hold the kept polygons only, area and perimeter measured on them.
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
    if true_to_scale(crs, tuple(shapely.total_bounds(geoms))):
        out = _clean_metric(out, fill_holes_m2)
        area, perim = shapely.area(out), shapely.length(out)
    else:  # degrees, feet, or metres of a projection whose scale is not true here (Web Mercator): in UTM
        src = CRS.from_user_input(crs)
        to_ll = Transformer.from_crs(src, 4326, always_xy=True)
        # the zone of each field's bounding-box centre: a self-crossing polygon's centroid can lie anywhere
        # (a 200 m bow-tie at 13.7 E had one at "1847 E, 69 N", measured in zone 60: its area 3.8 % off)
        b = shapely.bounds(geoms)  # (N, 4)
        lon, lat = to_ll.transform((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2)
        zones = utm_epsg(np.asarray(lon), np.asarray(lat))
        for z in np.unique(zones):
            idx = np.flatnonzero(zones == z)
            fwd = Transformer.from_crs(src, int(z), always_xy=True)
            back = Transformer.from_crs(int(z), src, always_xy=True)
            m = shapely.transform(geoms[idx], lambda xy, t=fwd: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
            bad = ~shapely.is_valid(m)
            m[bad] = shapely.make_valid(m[bad])
            also = geoms[idx].copy()
            also[bad] = None  # repaired in metres: those come back through the round trip below
            # holes are found in metres, but removed from the polygons as they are, so the vertices they share
            # with neighbours stay the same (a round trip moved them by 1e-15 degrees: no valid coverage)
            filled, kept = fill_small_holes(m, fill_holes_m2, also)
            assert kept is not None
            area[idx], perim[idx] = shapely.area(filled), shapely.length(filled)
            out[idx] = kept
            if bad.any():
                out[idx[bad]] = shapely.transform(
                    filled[bad], lambda xy, t=back: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))
                )
    out = drop_slivers(out)
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
