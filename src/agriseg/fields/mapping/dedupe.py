"""Writing each field once when scenes overlap.

Scenes of a map job may overlap (neighbouring tiles, repeated acquisitions), and a field in the overlap is
then found in every scene that covers it. Two fields from different scenes whose overlap exceeds
``min_overlap`` of the smaller one are copies of one field; the copy kept is the one farthest inside its
own scene (a copy cut by its scene's edge is the worst one). This is a greedy pass in that order
(non-maximum suppression over scenes); fields of the same scene never suppress each other. Fields of
different scenes that overlap by less (two scenes drew the boundary between neighbours a pixel apart) are
both kept, and the one less far inside its scene gives up the shared part, so the merged fields never overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# how far a field that gives up the part it shares with a neighbour of another scene stays from it: 1 mm in a
# projected CRS, about 1 mm in degrees (cut exactly, in floating point, the two kept slivers of 1e-9 m2 in common:
# a check of the merged file found them overlapping)
CLEARANCE_M = 1e-3
CLEARANCE_DEG = 1e-8


def scene_footprint(raster: str, crs: Any) -> Any:
    """The bounding box of a raster as a polygon in ``crs``."""
    import rasterio
    import shapely
    from pyproj import Transformer
    from shapely.geometry import box

    with rasterio.open(raster) as ds:
        fp = box(*ds.bounds)
        src = ds.crs
    if src is None or crs is None or src == crs:
        return fp
    t = Transformer.from_crs(src, crs, always_xy=True)
    dense = shapely.segmentize(fp, max(fp.length / 400, 1e-9))  # follow curved edges after reprojection
    return shapely.transform(dense, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def dedupe_fields(df: Any, scene: np.ndarray, footprints: Sequence[Any], min_overlap: float = 0.1) -> np.ndarray:
    """Keep mask that writes every field found in several overlapping scenes once (:func:`resolve_overlaps`)."""
    return resolve_overlaps(df, scene, footprints, min_overlap)[0]


def resolve_overlaps(
    df: Any, scene: np.ndarray, footprints: Sequence[Any], min_overlap: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Which fields of overlapping scenes to write, and their geometries trimmed so none overlap.

    Args:
        df: fields of all scenes in one CRS.
        scene: ``(N,)`` scene index of each field.
        footprints: footprint polygon of each scene, in ``df``'s CRS.
        min_overlap: overlap (fraction of the smaller field) above which two fields are one.

    Returns:
        ``(N,)`` bool mask of the fields to keep, and ``(N,)`` geometries: a kept field that overlaps fields
        kept before it (of other scenes, farther inside their own) by less than ``min_overlap`` without the
        shared part (pieces under 1 % of what is left dropped), the others as they were.
    """
    import shapely

    geoms = np.asarray(df.geometry.values, dtype=object)
    out = geoms.copy()
    n = len(geoms)
    keep = np.zeros(n, bool)
    if n == 0:
        return keep, out
    scene = np.asarray(scene)
    geographic = bool(getattr(getattr(df, "crs", None), "is_geographic", False))
    edges = [shapely.boundary(f) for f in footprints]
    depth = np.array([shapely.distance(edges[s], g) for s, g in zip(scene, geoms, strict=True)])
    area = shapely.area(geoms)
    tree = shapely.STRtree(geoms)
    pairs = tree.query(geoms, predicate="intersects")  # (2, M): [input, tree] indices
    cross = pairs[:, scene[pairs[0]] != scene[pairs[1]]]
    neighbours: dict[int, list[int]] = {}
    for a, b in cross.T.tolist():
        neighbours.setdefault(a, []).append(b)
    for i in np.lexsort((np.arange(n), -depth)):  # deepest inside its scene first; ties: input order
        dup, shared = False, []
        for j in neighbours.get(int(i), []):
            if keep[j]:
                inter = shapely.area(shapely.intersection(out[i], out[j]))
                if inter > min_overlap * min(area[i], area[j]):
                    dup = True
                    break
                if inter > 0:
                    shared.append(j)
        if not dup and shared:  # cut a hair wider than the neighbours: a float cut left slivers of 1e-9 m2 in both
            clear = CLEARANCE_DEG if geographic else CLEARANCE_M
            out[i] = _without(out[i], shapely.buffer(shapely.union_all(out[shared]), clear, join_style="mitre"))
        keep[i] = not dup and not shapely.is_empty(out[i])
    return keep, out


def _without(field: Any, other: Any) -> Any:  # noqa: ANN401 - shapely geometries
    """``field`` minus ``other``: of each of its parts the largest piece left, and the others of 1 % of what is
    left of that part or more (smaller ones are slivers of the cut; a small part the field had stays)."""
    import shapely

    kept = []
    for part in shapely.get_parts(field):
        pieces = [p for p in shapely.get_parts(shapely.difference(part, other)) if p.geom_type == "Polygon"]
        pieces = sorted((p for p in pieces if not p.is_empty), key=lambda p: -p.area)
        total = sum(p.area for p in pieces)
        kept += pieces[:1] + [p for p in pieces[1:] if p.area >= 0.01 * total]
    if not kept:
        return shapely.Polygon()
    return kept[0] if len(kept) == 1 else shapely.MultiPolygon(kept)
