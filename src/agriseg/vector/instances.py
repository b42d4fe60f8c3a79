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
    comps, n_comps = label_components(mask)
    seeds, n = _cores(mask, field_prob, config)
    if not n:
        return comps, n_comps
    # a component with no core or one core is one field: only components with several cores are flooded
    comp_of_seed = np.zeros(n + 1, np.int32)
    on_seed = seeds > 0
    comp_of_seed[seeds[on_seed]] = comps[on_seed]
    cores_per_comp = np.bincount(comp_of_seed[1:], minlength=n_comps + 1)
    split = np.flatnonzero(cores_per_comp[1:] >= 2) + 1
    if not split.size:
        return comps, n_comps
    labels = comps.copy()
    used = n_comps
    boxes = ndimage.find_objects(comps)
    hs, ws = scene_shape or mask.shape
    for c in split.tolist():
        sy, sx = boxes[c - 1]
        # one pixel of margin: the distance to the field edge needs the component's ring of neighbours
        y0, y1 = max(sy.start - 1, 0), min(sy.stop + 1, mask.shape[0])
        x0, x1 = max(sx.start - 1, 0), min(sx.stop + 1, mask.shape[1])
        own = comps[y0:y1, x0:x1] == c
        cores = np.where(own, seeds[y0:y1, x0:x1], 0)
        ids = np.unique(cores[cores > 0])
        # 1..k for this component's cores, 0 elsewhere
        markers = np.where(cores > 0, np.searchsorted(ids, cores) + 1, 0).astype(np.int32)
        prob = field_prob[y0:y1, x0:x1] if field_prob is not None else None
        flooded = _flood(own, markers, prob, (origin[0] + y0, origin[1] + x0), (hs, ws))
        # the component keeps its label for its first core's field; the others get new labels
        lut = np.concatenate([[0, c], np.arange(used + 1, used + len(ids), dtype=np.int32)]).astype(np.int32)
        win = labels[y0:y1, x0:x1]
        win[own] = lut[flooded[own]]
        used += len(ids) - 1
    return labels, used


def _cores(
    mask: np.ndarray, field_prob: np.ndarray | None, config: PolygonizeConfig
) -> tuple[np.ndarray, int]:
    """Field cores ``(H, W)`` int32 labels (confident, eroded, at least ``min_seed_px``) and their count."""
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
    return seeds, n


def _flood(
    mask: np.ndarray,
    markers: np.ndarray,
    field_prob: np.ndarray | None,
    origin: tuple[int, int],
    scene_shape: tuple[int, int],
) -> np.ndarray:
    """Watershed of one component ``mask`` from its cores ``markers``; labels 1..k inside the mask.

    Low field probability (near a boundary) floods last; class-only rasters flood by taxicab distance to
    the field edge. The priority's tie-breaker is the pixel's scene index, so the result does not depend on
    the window the component is cut from.
    """
    from skimage.segmentation import watershed

    if field_prob is not None:
        base = 255.0 - field_prob.astype(np.float64)
    else:  # taxicab distance to the field edge: set by the component's own ring of neighbours
        base = -ndimage.distance_transform_cdt(mask, metric="taxicab").astype(np.float64)
    hs, ws = scene_shape
    gy = np.arange(origin[0], origin[0] + mask.shape[0], dtype=np.float64)[:, None]
    gx = np.arange(origin[1], origin[1] + mask.shape[1], dtype=np.float64)[None, :]
    elev = base + (gy * ws + gx) / (float(hs) * ws + 1.0) * 0.5  # unique priorities
    return watershed(elev, markers=markers, mask=mask, connectivity=1).astype(np.int32, copy=False)


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
