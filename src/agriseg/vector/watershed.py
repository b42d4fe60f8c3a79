"""The one watershed splitter: touching objects of a label image split by flooding from their seeds.

Every labelled component is split on its own: its seeds (cores, plant centres, pieces away from image
edges) are flooded over an elevation inside the component, 4-connected, with scikit-image's marker
watershed. A component with fewer than two seeds keeps its label. The callers choose the seeds and the
elevation:

- field instances (:func:`agriseg.vector.instances.split_instances`): confident, eroded field cores over
  ``255 - field probability`` (or the taxicab distance to the edge), with a tie-breaker that makes the
  result independent of the block a component is cut from;
- plants (:func:`agriseg.crop.traits.plants.label_plants`): distance-transform peaks deeper than
  ``split_depth`` (:func:`distance_peaks`) over the negated distance (:func:`negative_distance`), kept whole
  when a piece would be a speck (``min_piece_px``);
- text-mask instances (:func:`agriseg.text.instances.semantic_to_instances`): pieces of a class away from
  strong image edges over the image's gradient magnitude.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

# (h, w) bool mask of one component in its window -> (h, w) int seed labels (0 = none)
SeedFn = Callable[[np.ndarray], np.ndarray]
# (h, w) bool mask of one component, (row, col) of its window in the label image -> (h, w) float elevation
ElevationFn = Callable[[np.ndarray, tuple[int, int]], np.ndarray]


def split_components(
    components: np.ndarray,
    seeds: np.ndarray | SeedFn,
    elevation: np.ndarray | ElevationFn,
    min_seed_px: int = 1,
    min_piece_px: int = 0,
    pack: bool = True,
) -> tuple[np.ndarray, int, list[tuple[int, int, int, int, int]]]:
    """Split every component that holds two or more seeds by a watershed from those seeds.

    Args:
        components: ``(H, W)`` int labels (0 = none; numbers may skip), each split on its own.
        seeds: ``(H, W)`` int seed labels (each seed inside one component), or a function giving the seeds
            of one component from its mask (then called for every component).
        elevation: ``(H, W)`` flooding priority (lower floods first), or a function giving it for one
            component's window.
        min_seed_px: seeds smaller than this many pixels do not count.
        min_piece_px: a component whose split leaves a piece smaller than this stays whole.
        pack: flood all components in one call (:func:`flood_many`; fast for many small components).
            scikit-image breaks ties between seed pixels of equal elevation by its queue's layout, so with
            an elevation that has ties (a plain distance transform) a packed flood can assign a few tied
            pixels differently from one call per component; ``False`` makes one call per component.

    Returns:
        int32 labels ``(H, W)``: a split component keeps its label for the piece of its first seed (in seed
        label order) and for pixels no seed reaches 4-connected (8-connected components), its other pieces
        get new labels after the largest; that largest label; and ``(component label, y0, y1, x0, x1)`` of
        every component that was split (its box, end-exclusive).
    """
    comps = np.asarray(components).astype(np.int32, copy=False)
    used = int(comps.max(initial=0))
    if not used:
        return comps, used, []
    if callable(seeds):
        split = np.flatnonzero(np.bincount(comps.ravel())[1:]) + 1
    else:
        split = _seeded_twice(comps, seeds, min_seed_px)
    if not split.size:
        return comps, used, []
    boxes, _ = label_boxes(comps, split)
    todo = []
    for c, (by0, by1, bx0, bx1) in zip(split.tolist(), boxes.tolist(), strict=True):
        # one pixel of margin: a distance to the component's edge needs its ring of neighbours
        y0, y1 = max(by0 - 1, 0), min(by1 + 1, comps.shape[0])
        x0, x1 = max(bx0 - 1, 0), min(bx1 + 1, comps.shape[1])
        own = comps[y0:y1, x0:x1] == c
        cores = seeds(own) if callable(seeds) else seeds[y0:y1, x0:x1]
        cores = np.where(own, cores, 0)
        ids, sizes = np.unique(cores[cores > 0], return_counts=True)
        ids = ids[sizes >= min_seed_px]
        if len(ids) < 2:
            continue
        # 1..k for this component's seeds, 0 elsewhere
        pos = np.searchsorted(ids, cores)
        hit = (cores > 0) & (ids[np.minimum(pos, len(ids) - 1)] == cores)
        markers = np.where(hit, pos + 1, 0).astype(np.int32)
        elev = elevation(own, (y0, x0)) if callable(elevation) else elevation[y0:y1, x0:x1]
        todo.append((c, y0, x0, own, markers, np.asarray(elev, np.float64), len(ids)))
    jobs = [(own, markers, elev) for _, _, _, own, markers, elev, _ in todo]
    floods = flood_many(jobs) if pack else [flood_many([job])[0] for job in jobs]
    labels, done = comps.copy(), []
    for (c, y0, x0, own, _, _, k), flooded in zip(todo, floods, strict=True):
        if min_piece_px and np.bincount(flooded[own], minlength=k + 1)[1:].min() < min_piece_px:
            continue
        done.append((c, y0, y0 + own.shape[0], x0, x0 + own.shape[1]))
        # pixels no seed reaches (4-connected) stay with the first piece
        lut = np.concatenate([[c, c], np.arange(used + 1, used + k, dtype=np.int32)]).astype(np.int32)
        win = labels[y0 : y0 + own.shape[0], x0 : x0 + own.shape[1]]
        win[own] = lut[flooded[own]]
        used += k - 1
    return labels, used, done


def _seeded_twice(comps: np.ndarray, seeds: np.ndarray, min_seed_px: int) -> np.ndarray:
    """The components holding two or more seeds of ``min_seed_px`` pixels, without a per-component pass.

    Seeds are sized only in the components that hold two or more seeds of any size (usually few), so the
    common case costs no count over every pixel.
    """
    flat = np.asarray(seeds).ravel()
    n_seeds = int(flat.max(initial=0))
    comp_flat = comps.ravel()
    # scipy numbers labels in raster order of their first pixel, so a seed's first pixel is where the running
    # maximum of the seed labels grows; the component there is the seed's component
    grows = np.flatnonzero(flat[1:] > np.maximum.accumulate(flat)[:-1]) + 1
    if flat.size and flat[0] > 0:
        grows = np.concatenate([[0], grows])
    comp_of_seed = np.zeros(n_seeds + 1, np.int32)
    if len(grows) == n_seeds:
        comp_of_seed[flat[grows]] = comp_flat[grows]
    else:  # numbered in another order: look at every seed pixel
        on = flat > 0
        comp_of_seed[flat[on]] = comp_flat[on]
    n_comps = int(comps.max(initial=0)) + 1
    cand = np.flatnonzero(np.bincount(comp_of_seed[1:], minlength=n_comps) >= 2)
    cand = cand[cand > 0]
    if not cand.size or min_seed_px <= 1:
        return cand
    in_cand = np.zeros(n_comps, bool)
    in_cand[cand] = True
    wanted = in_cand[comp_of_seed]
    wanted[0] = False
    on = wanted[flat]  # the pixels of the seeds in candidate components
    keep = np.bincount(flat[on], minlength=n_seeds + 1) >= min_seed_px
    keep[0] = False
    seeds_per_comp = np.bincount(comp_of_seed[keep], minlength=n_comps)
    return np.flatnonzero(seeds_per_comp[1:] >= 2) + 1


def distance_peaks(depth: float) -> SeedFn:
    """Seeds at the peaks of a component's Euclidean distance transform that rise ``depth`` pixels above
    the necks between them (h-maxima, 8-connected): the centres of touching round objects."""
    from skimage import morphology

    def seeds(own: np.ndarray) -> np.ndarray:
        dist = ndimage.distance_transform_edt(own)
        return ndimage.label(morphology.h_maxima(dist, depth), structure=np.ones((3, 3), bool))[0]

    return seeds


def negative_distance(own: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """Elevation: minus the Euclidean distance to the component's edge (centres flood first)."""
    return -ndimage.distance_transform_edt(own)


def label_boxes(labels: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounding boxes and first pixels of a few labels, reading only those labels' pixels.

    Args:
        labels: ``(H, W)`` int labels.
        ids: ``(K,)`` sorted labels present in ``labels``.

    Returns:
        ``(K, 4)`` int64 ``y0, y1, x0, x1`` (end-exclusive) and ``(K, 2)`` row, col of each label's first
        pixel in raster order.
    """
    wanted = np.zeros(int(labels.max()) + 1, bool)
    wanted[ids] = True
    rows, cols = np.nonzero(wanted[labels])  # raster order
    which = np.searchsorted(ids, labels[rows, cols])
    order = np.argsort(which, kind="stable")
    starts = np.searchsorted(which[order], np.arange(len(ids)))
    r, c = rows[order], cols[order]
    boxes = np.stack(
        [
            np.minimum.reduceat(r, starts),
            np.maximum.reduceat(r, starts) + 1,
            np.minimum.reduceat(c, starts),
            np.maximum.reduceat(c, starts) + 1,
        ],
        1,
    ).astype(np.int64)
    return boxes, np.stack([r[starts], c[starts]], 1).astype(np.int64)


def flood_many(items: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Watershed of each component ``(mask, markers 1..k, elevation)``; labels 1..k inside each mask (0 where
    no marker reaches, 4-connected: parts of an 8-connected mask that touch the rest only diagonally).

    One scikit-image call floods them all: the windows are packed side by side with an empty pixel between
    them (a flood never crosses it), and markers are renumbered to stay unique. Each result equals a separate
    call when no two pixels of a window share an elevation (scikit-image breaks ties between seed pixels by
    the layout of its whole queue).
    """
    from skimage.segmentation import watershed

    if not items:
        return []
    width = max(max(m.shape[1] for m, _, _ in items), 512)
    place, cx, cy, shelf = [], 0, 0, 0
    for m, _, _ in items:
        h, w = m.shape
        if cx + w > width:
            cy, cx, shelf = cy + shelf + 1, 0, 0
        place.append((cy, cx))
        cx, shelf = cx + w + 1, max(shelf, h)
    shape = (cy + shelf, width)
    mask_c = np.zeros(shape, bool)
    markers_c = np.zeros(shape, np.int32)
    elev_c = np.zeros(shape, np.float64)
    bases, base = [], 0
    for (m, mk, el), (py, px) in zip(items, place, strict=True):
        h, w = m.shape
        mask_c[py : py + h, px : px + w] = m
        markers_c[py : py + h, px : px + w] = np.where(mk > 0, mk + base, 0)
        elev_c[py : py + h, px : px + w] = el
        bases.append(base)
        base += int(mk.max(initial=0))
    flooded = watershed(elev_c, markers=markers_c, mask=mask_c, connectivity=1)
    out = []
    for (m, _, _), (py, px), b in zip(items, place, bases, strict=True):
        h, w = m.shape
        win = flooded[py : py + h, px : px + w]
        out.append(np.where(m & (win > 0), win - b, 0).astype(np.int32))
    return out
