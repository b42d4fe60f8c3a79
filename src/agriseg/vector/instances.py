"""Field instances from a field mask: touching fields split by watershed from field cores.

Every step is a function of one 4-connected field component alone (pointwise thresholds, 4-neighbour
erosion that cannot cross into another component, watershed restricted to the component), so a component
gives the same instances whether it is processed inside a small block, a large block or the whole scene.
That is what makes blockwise polygonisation seamless.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from agriseg.vector.config import PolygonizeConfig

CROSS = ndimage.generate_binary_structure(2, 1)  # 4-connectivity


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of a boolean mask ``(H, W)`` -> int32 labels, count."""
    lab, n = ndimage.label(mask, structure=CROSS)
    return lab.astype(np.int32, copy=False), int(n)


def label_instances(
    mask: np.ndarray,
    field_prob: np.ndarray | None,
    config: PolygonizeConfig,
    origin: tuple[int, int] = (0, 0),
    scene_shape: tuple[int, int] | None = None,
) -> tuple[np.ndarray, int]:
    """Split a field mask into field instances.

    Args:
        mask: ``(H, W)`` bool, field-class pixels (only whole components; see the module docstring).
        field_prob: ``(H, W)`` uint8 field probability x255, or None for class-only rasters.
        config: separation method, core threshold, erosion and minimum seed size.
        origin: ``(row, col)`` of the window in the scene.
        scene_shape: ``(H, W)`` of the scene (default: the window's).

    The flooding priority is the elevation plus a tie-breaker that grows with the pixel's *scene* index,
    so no two pixels share a priority and the flood order inside a component never depends on the
    window (the watershed's own tie-breaking depends on everything in its queue).

    Returns:
        int32 labels ``(H, W)`` (0 = not a field) and the number of labels used.
    """
    if config.separation == "components" or not mask.any():
        return label_components(mask)
    from skimage.segmentation import watershed

    core = mask.copy()
    if field_prob is not None:
        core &= field_prob >= np.uint8(round(config.core_threshold * 255))
    erosion = config.core_erosion if field_prob is not None else config.class_only_erosion
    if erosion:
        core = ndimage.binary_erosion(core, CROSS, iterations=erosion, border_value=0)
    seeds, n = label_components(core)
    if n:
        sizes = np.bincount(seeds.ravel(), minlength=n + 1)
        keep = sizes >= config.min_seed_px
        keep[0] = False
        remap = np.zeros(n + 1, dtype=np.int32)
        remap[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
        seeds, n = remap[seeds], int(keep.sum())
    if n:
        # flood from the cores through the field mask: low field probability (near a boundary) floods last
        if field_prob is not None:
            base = 255.0 - field_prob.astype(np.float64)
        else:  # taxicab distance to the field edge: set by the component's own ring of neighbours
            base = -ndimage.distance_transform_cdt(mask, metric="taxicab").astype(np.float64)
        hs, ws = scene_shape or mask.shape
        gy = np.arange(origin[0], origin[0] + mask.shape[0], dtype=np.float64)[:, None]
        gx = np.arange(origin[1], origin[1] + mask.shape[1], dtype=np.float64)[None, :]
        elev = base + (gy * ws + gx) / (float(hs) * ws + 1.0) * 0.5  # unique priorities
        labels = watershed(elev, markers=seeds, mask=mask, connectivity=1).astype(np.int32, copy=False)
    else:
        labels = np.zeros(mask.shape, np.int32)
    rest = mask & (labels == 0)  # components without a core keep one instance each
    if rest.any():
        extra, m = label_components(rest)
        labels = np.where(extra > 0, extra + n, labels)
        n += m
    return labels, n


def first_pixels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels present in ``labels`` (> 0) and the row, col of each one's first pixel in raster order."""
    objs = ndimage.find_objects(labels)
    ids, rows, cols = [], [], []
    for i, sl in enumerate(objs, start=1):
        if sl is None:
            continue
        r, c0 = sl[0].start, sl[1].start
        ids.append(i)
        rows.append(r)
        cols.append(c0 + int(np.argmax(labels[r, c0 : sl[1].stop] == i)))
    return np.asarray(ids, np.int64), np.asarray(rows, np.int64), np.asarray(cols, np.int64)


def _polygons_from_rings(rings_per_geom: list[list[Any]]) -> np.ndarray:
    """Shapely polygons from GeoJSON-style ring lists, built in one vectorised call."""
    import shapely

    coords, ring_of_pt, poly_of_ring = [], [], []
    r = 0
    for g, rings in enumerate(rings_per_geom):
        for ring in rings:
            a = np.asarray(ring, dtype=np.float64)
            coords.append(a)
            ring_of_pt.append(np.full(len(a), r, np.int64))
            poly_of_ring.append(g)
            r += 1
    lr = shapely.linearrings(np.concatenate(coords), indices=np.concatenate(ring_of_pt))
    return shapely.polygons(lr, indices=np.asarray(poly_of_ring, np.int64))


def instance_polygons(
    labels: np.ndarray, x0: int, y0: int, field_prob: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Polygons of labelled instances in *global pixel* coordinates (exact integers).

    Args:
        labels: ``(H, W)`` int32 instance labels of a window.
        x0: window column offset in the scene.
        y0: window row offset in the scene.
        field_prob: ``(H, W)`` uint8 field probability for each instance's mean confidence.

    Returns:
        Records ``{"key": (row, col) of the instance's first pixel, "geometry": shapely Polygon,
        "pixels": int, "confidence": float}``.
    """
    import shapely
    from affine import Affine
    from rasterio.features import shapes

    ids, rows, cols = first_pixels(labels)
    if not len(ids):
        return []
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=int(ids.max()) + 1)
    conf = None
    if field_prob is not None:
        sums = np.bincount(flat, weights=field_prob.ravel().astype(np.float64), minlength=int(ids.max()) + 1)
        conf = sums / np.maximum(counts, 1) / 255.0
    values, rings = [], []
    for geom, value in shapes(labels, mask=labels > 0, connectivity=4, transform=Affine.translation(x0, y0)):
        values.append(int(value))
        rings.append(geom["coordinates"])
    polys = _polygons_from_rings(rings)
    parts: dict[int, list[Any]] = {}
    for v, poly in zip(values, polys, strict=True):
        parts.setdefault(v, []).append(poly)
    out = []
    for i, r, c in zip(ids.tolist(), rows.tolist(), cols.tolist(), strict=True):
        geoms = parts[i]
        geom = geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)
        out.append(
            {
                "key": (y0 + r, x0 + c),
                "geometry": geom,
                "pixels": int(counts[i]),
                "confidence": float(conf[i]) if conf is not None else float("nan"),
            }
        )
    return out
