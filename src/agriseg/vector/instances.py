"""Field instances from a field mask: touching fields split by watershed from field cores.

Every step is a function of one 4-connected field component alone (pointwise thresholds, 4-neighbour
erosion that cannot cross into another component, watershed restricted to the component), so a component
gives the same instances whether it is processed inside a small block, a large block or the whole scene.
That is what makes blockwise polygonisation seamless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from agriseg.vector.config import PolygonizeConfig
from agriseg.vector.watershed import split_components

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
    components: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Split a field mask into field instances.

    Args:
        mask: ``(H, W)`` bool, field-class pixels (only whole components; see the module docstring).
        field_prob: ``(H, W)`` uint8 field probability x255, or None for class-only rasters.
        config: separation method, core threshold, erosion and minimum seed size.
        origin: ``(row, col)`` of the window in the scene.
        scene_shape: ``(H, W)`` of the scene (default: the window's).
        components: int32 labels of the 4-connected components of ``mask`` when already known (numbers
            may skip); they are kept as the labels of components that are not split.

    The flooding priority is the elevation plus a tie-breaker that grows with the pixel's *scene* index,
    so no two pixels share a priority and the flood order inside a component never depends on the
    window (the watershed's own tie-breaking depends on everything in its queue).

    Returns:
        int32 labels ``(H, W)`` (0 = not a field) and the largest label (the number of instances when
        ``components`` is not given).
    """
    if components is not None:
        comps, n_comps = components, int(components.max(initial=0))
    else:
        comps, n_comps = label_components(mask)
    if config.separation == "components" or not n_comps:
        return comps, n_comps
    seeds, _ = _cores(mask, field_prob, config)
    hs, ws = scene_shape or mask.shape

    def elevation(own: np.ndarray, at: tuple[int, int]) -> np.ndarray:
        y0, x0 = at
        prob = field_prob[y0 : y0 + own.shape[0], x0 : x0 + own.shape[1]] if field_prob is not None else None
        return _elevation(own, prob, (origin[0] + y0, origin[1] + x0), (hs, ws))

    # a component with no core or one core is one field: only components with several cores are flooded
    return split_components(comps, seeds, elevation, min_seed_px=config.min_seed_px)


def _cores(mask: np.ndarray, field_prob: np.ndarray | None, config: PolygonizeConfig) -> tuple[np.ndarray, int]:
    """Field cores: labels ``(H, W)`` of the confident, eroded regions, and their count."""
    core = mask if field_prob is None else mask & (field_prob >= np.uint8(round(config.core_threshold * 255)))
    erosion = config.core_erosion if field_prob is not None else config.class_only_erosion
    for _ in range(erosion):
        core = _erode4(core)
    return label_components(core)


def _erode4(mask: np.ndarray) -> np.ndarray:
    """One 4-neighbour erosion, outside the array counting as background.

    Equals ``scipy.ndimage.binary_erosion(mask, CROSS, border_value=0)``; written with array slices
    because scipy's is about five times slower and OpenCV's runs a thread pool, which is unsafe in the
    forked block workers.
    """
    out = mask.copy()
    out[1:] &= mask[:-1]
    out[:-1] &= mask[1:]
    out[:, 1:] &= mask[:, :-1]
    out[:, :-1] &= mask[:, 1:]
    out[[0, -1]] = False
    out[:, [0, -1]] = False
    return out


def _elevation(
    mask: np.ndarray, field_prob: np.ndarray | None, origin: tuple[int, int], scene_shape: tuple[int, int]
) -> np.ndarray:
    """Flooding priority of one component ``mask`` ``(h, w)`` float64: lower floods first.

    Low field probability (near a boundary) floods last; class-only rasters flood by taxicab distance to
    the field edge. The tie-breaker is the pixel's scene index, so no two pixels share a priority and the
    result does not depend on the window the component is cut from.
    """
    if field_prob is not None:
        base = 255.0 - field_prob.astype(np.float64)
    else:  # taxicab distance to the field edge: set by the component's own ring of neighbours
        base = -ndimage.distance_transform_cdt(mask, metric="taxicab").astype(np.float64)
    hs, ws = scene_shape
    gy = np.arange(origin[0], origin[0] + mask.shape[0], dtype=np.float64)[:, None]
    gx = np.arange(origin[1], origin[1] + mask.shape[1], dtype=np.float64)[None, :]
    return base + (gy * ws + gx) / (float(hs) * ws + 1.0) * 0.5


@dataclass
class InstanceTable:
    """Field instances of a window as columns (global pixel coordinates).

    Attributes:
        keys: ``(N, 2)`` int64 row, col of each instance's first pixel in raster order.
        geoms: ``(N,)`` shapely polygons, vertices on pixel corners.
        pixels: ``(N,)`` int64 pixel counts.
        confidence: ``(N,)`` float64 mean field probability (NaN without probabilities).
    """

    keys: np.ndarray
    geoms: np.ndarray
    pixels: np.ndarray
    confidence: np.ndarray

    @classmethod
    def empty(cls) -> InstanceTable:
        """A table with no instances."""
        return cls(np.zeros((0, 2), np.int64), np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0))

    @classmethod
    def concat(cls, tables: list[InstanceTable]) -> InstanceTable:
        """All rows of ``tables`` in order."""
        if not tables:
            return cls.empty()
        return cls(
            np.concatenate([t.keys for t in tables]),
            np.concatenate([t.geoms for t in tables]),
            np.concatenate([t.pixels for t in tables]),
            np.concatenate([t.confidence for t in tables]),
        )

    def to_wkb(self) -> InstanceTable:
        """The same table with geometries as WKB bytes (cheap to send between processes)."""
        import shapely

        return InstanceTable(self.keys, shapely.to_wkb(self.geoms), self.pixels, self.confidence)

    def from_wkb(self) -> InstanceTable:
        """Undo :meth:`to_wkb`."""
        import shapely

        return InstanceTable(self.keys, shapely.from_wkb(self.geoms), self.pixels, self.confidence)

    def records(self) -> list[dict[str, Any]]:
        """Rows as ``{"key", "geometry", "pixels", "confidence"}`` dicts."""
        return [
            {"key": (r, c), "geometry": g, "pixels": n, "confidence": f}
            for (r, c), g, n, f in zip(
                self.keys.tolist(), self.geoms, self.pixels.tolist(), self.confidence.tolist(), strict=True
            )
        ]


def _shapes_table(labels: np.ndarray, x0: int, y0: int) -> tuple[np.ndarray, np.ndarray]:
    """Label values and polygons of the 4-connected regions of ``labels`` (> 0), in global pixel coordinates.

    ``rasterio.features.shapes`` (GDAL's polygoniser) traces the rings; the polygons are built from all
    rings in one vectorised shapely call.
    """
    import shapely
    from affine import Affine
    from rasterio.features import shapes

    values, coords, ring_len, rings_per_poly = [], [], [], []
    for geom, value in shapes(labels, mask=labels > 0, connectivity=4, transform=Affine.translation(x0, y0)):
        rings = geom["coordinates"]
        values.append(value)
        rings_per_poly.append(len(rings))
        for ring in rings:
            ring_len.append(len(ring))
            coords.extend(ring)
    if not values:
        return np.zeros(0, np.int64), np.zeros(0, object)
    xy = np.asarray(coords, dtype=np.float64)  # (P, 2)
    n_rings = len(ring_len)
    lr = shapely.linearrings(xy, indices=np.repeat(np.arange(n_rings), ring_len))
    polys = shapely.polygons(lr, indices=np.repeat(np.arange(len(values)), rings_per_poly))
    return np.asarray(values, np.int64), polys


def first_pixel_keys(geoms: np.ndarray) -> np.ndarray:
    """``(N, 2)`` row, col of the first pixel (raster order) of pixel-corner polygons.

    The top-left corner of a region's first pixel is its vertex with the smallest row, then the smallest
    column: no vertex lies above the region's top row, and in that row the leftmost pixel's corner comes first.
    """
    import shapely

    xy, idx = shapely.get_coordinates(geoms, return_index=True)
    order = np.lexsort((xy[:, 0], xy[:, 1], idx))
    first = order[np.searchsorted(idx[order], np.arange(len(geoms)))]
    return np.rint(xy[first][:, ::-1]).astype(np.int64)


def instance_table(labels: np.ndarray, x0: int, y0: int, field_prob: np.ndarray | None = None) -> InstanceTable:
    """Polygons of labelled instances in *global pixel* coordinates (exact integers).

    Args:
        labels: ``(H, W)`` int32 instance labels of a window (0 = none; numbers may skip).
        x0: window column offset in the scene.
        y0: window row offset in the scene.
        field_prob: ``(H, W)`` uint8 field probability for each instance's mean confidence.

    Returns:
        One row per instance, in label order.
    """
    return instance_table_many([(labels, x0, y0, field_prob)])


def instance_table_many(windows: list[tuple[np.ndarray, int, int, np.ndarray | None]]) -> InstanceTable:
    """:func:`instance_table` of many small windows ``(labels, x0, y0, field_prob)`` with one polygoniser call.

    GDAL's polygoniser costs about a millisecond per call before any pixel, which dominates for the
    thousands of small windows of fields that cross block lines. The windows are packed side by side into
    one canvas (shelf packing, one empty pixel between windows, labels renumbered to stay unique), traced
    once, and each polygon is moved back to its window's place (integer shifts, so exact).

    Returns:
        One row per instance, window by window, in label order within a window.
    """
    import shapely

    windows = [w for w in windows if w[0].size]
    if not windows:
        return InstanceTable.empty()
    if len(windows) == 1:
        canvas, ox, oy = windows[0][0], [windows[0][1]], [windows[0][2]]
        bases = np.zeros(1, np.int64)
        prob = windows[0][3]
        values, polys = _shapes_table(canvas, 0, 0)
    else:
        width = max(max(w[0].shape[1] for w in windows), 1024)
        place, cx, cy, shelf = [], 0, 0, 0
        for lab, *_ in windows:
            h, w = lab.shape
            if cx + w > width:
                cy, cx, shelf = cy + shelf + 1, 0, 0
            place.append((cy, cx))
            cx, shelf = cx + w + 1, max(shelf, h)
        canvas = np.zeros((cy + shelf, width), np.int32)
        with_prob = windows[0][3] is not None
        prob = np.zeros(canvas.shape, np.uint8) if with_prob else None
        bases = np.zeros(len(windows), np.int64)
        ox, oy, base = [], [], 0
        for k, ((lab, x0, y0, fp), (py, px)) in enumerate(zip(windows, place, strict=True)):
            h, w = lab.shape
            bases[k] = base
            view = canvas[py : py + h, px : px + w]
            np.copyto(view, lab + base, where=lab > 0)
            if prob is not None and fp is not None:
                prob[py : py + h, px : px + w] = np.where(lab > 0, fp, 0)
            base += int(lab.max(initial=0))
            ox.append(x0 - px)
            oy.append(y0 - py)
        values, polys = _shapes_table(canvas, 0, 0)
    if not len(values):
        return InstanceTable.empty()
    ids, first, count = np.unique(values, return_index=True, return_counts=True)
    geoms = polys[first]
    for j in np.flatnonzero(count > 1):  # an instance traced as several pieces (not expected): one geometry
        geoms[j] = shapely.union_all(polys[values == ids[j]])
    win = np.searchsorted(bases, ids, side="left") - 1  # window of each label: bases[win] < id <= next base
    win = np.clip(win, 0, len(bases) - 1)
    xy, idx = shapely.get_coordinates(geoms, return_index=True)
    xy += np.stack([np.asarray(ox, np.float64)[win][idx], np.asarray(oy, np.float64)[win][idx]], 1)
    geoms = shapely.set_coordinates(geoms.copy(), xy)
    conf = np.full(len(ids), np.nan)
    if prob is not None:
        flat = canvas.ravel()
        sums = np.bincount(flat, weights=prob.ravel(), minlength=int(ids.max()) + 1)
        counts = np.bincount(flat, minlength=int(ids.max()) + 1)
        conf = sums[ids] / np.maximum(counts[ids], 1) / 255.0
    pixels = np.rint(shapely.area(geoms)).astype(np.int64)  # exact: integer vertices
    return InstanceTable(first_pixel_keys(geoms), geoms, pixels, conf)


def instance_polygons(
    labels: np.ndarray, x0: int, y0: int, field_prob: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """:func:`instance_table` as records ``{"key": (row, col) of the first pixel, "geometry", "pixels",
    "confidence"}``."""
    return instance_table(labels, x0, y0, field_prob).records()
