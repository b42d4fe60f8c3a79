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


def label_instances(mask: np.ndarray, *args: Any, **kwargs: Any) -> tuple[np.ndarray, int]:
    """:func:`split_instances` without the list of split components: labels and the largest label."""
    labels, used, _ = split_instances(mask, *args, **kwargs)
    return labels, used


def split_instances(
    mask: np.ndarray,
    field_prob: np.ndarray | None,
    config: PolygonizeConfig,
    origin: tuple[int, int] = (0, 0),
    scene_shape: tuple[int, int] | None = None,
    components: np.ndarray | None = None,
) -> tuple[np.ndarray, int, list[tuple[int, int, int, int, int]]]:
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
        int32 labels ``(H, W)`` (0 = not a field), the largest label (the number of instances when
        ``components`` is not given), and ``(component label, y0, y1, x0, x1)`` of every split component
        (its box in the window, end-exclusive): the pixels of a split component carry new labels, the
        others keep their component's.
    """
    if components is not None:
        comps, n_comps = components, int(components.max(initial=0))
    else:
        comps, n_comps = label_components(mask)
    if config.separation == "components" or not n_comps:
        return comps, n_comps, []
    seeds, _ = _cores(mask, field_prob, config)
    hs, ws = scene_shape or mask.shape

    def elevation(own: np.ndarray, at: tuple[int, int]) -> np.ndarray:
        y0, x0 = at
        prob = field_prob[y0 : y0 + own.shape[0], x0 : x0 + own.shape[1]] if field_prob is not None else None
        return _elevation(own, prob, (origin[0] + y0, origin[1] + x0), (hs, ws))

    # a component with no core or one core is one field: only components with several cores are flooded
    return split_components(comps, seeds, elevation, min_seed_px=config.min_seed_px)


def first_pixels(
    labels: np.ndarray,
    components: np.ndarray,
    split: list[tuple[int, int, int, int, int]],
    component_first: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels of a window and the flat index (in the window) of each one's first pixel in raster order.

    Args:
        labels: ``(H, W)`` instance labels from :func:`split_instances`.
        components: ``(H, W)`` the component labels it was given, numbered in raster order of their first
            pixel (as ``scipy.ndimage.label`` numbers them; numbers may skip).
        split: the split components it reported.
        component_first: this function's result for ``components`` alone, when known.

    Components that were not split keep their label, so their first pixels are where the running maximum
    of the labels grows (one pass); the instances of split components are found in their boxes.
    """
    if component_first is not None:
        ids0, first0 = component_first
        if split:
            whole = ~np.isin(ids0, [c for c, *_ in split])
            ids0, first0 = ids0[whole], first0[whole]
    else:
        base = labels
        if split:
            base = labels.copy()
            for c, y0, y1, x0, x1 in split:
                win = base[y0:y1, x0:x1]
                win[components[y0:y1, x0:x1] == c] = 0
        flat = base.ravel()
        first0 = np.flatnonzero(flat[1:] > np.maximum.accumulate(flat)[:-1]) + 1
        if flat.size and flat[0] > 0:
            first0 = np.concatenate([[0], first0])
        ids0 = flat[first0]
    ids, first = [ids0], [first0]
    w = labels.shape[1]
    for c, y0, y1, x0, x1 in split:
        win = np.where(components[y0:y1, x0:x1] == c, labels[y0:y1, x0:x1], 0)
        u, i = np.unique(win.ravel(), return_index=True)
        r, col = np.divmod(i[u > 0], x1 - x0)
        ids.append(u[u > 0])
        first.append((r + y0) * w + col + x0)
    return np.concatenate(ids).astype(np.int64), np.concatenate(first).astype(np.int64)


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
    """Fields of a raster as columns (global pixel coordinates: x = column, y = row).

    Attributes:
        keys: ``(N, 2)`` int64 row, col of each field's first pixel in raster order (before the gap split).
        geoms: ``(N,)`` shapely polygons forming a valid coverage.
        pixels: ``(N,)`` int64 pixel counts (before the gap split).
        confidence: ``(N,)`` float64 mean field probability (NaN without probabilities).
    """

    keys: np.ndarray
    geoms: np.ndarray
    pixels: np.ndarray
    confidence: np.ndarray

    def records(self) -> list[dict[str, Any]]:
        """Rows as ``{"key", "geometry", "pixels", "confidence"}`` dicts."""
        return [
            {"key": (r, c), "geometry": g, "pixels": n, "confidence": f}
            for (r, c), g, n, f in zip(
                self.keys.tolist(), self.geoms, self.pixels.tolist(), self.confidence.tolist(), strict=True
            )
        ]
