"""Plants in a vegetation mask: connected components, touching plants split by watershed, traits per plant.

A plant is an 8-connected component of vegetation of at least ``min_size`` pixels; smaller specks still
count as green cover but are not plants. Touching plants meet at a neck: a component whose distance
transform has several peaks (plant centres) that rise at least ``split_depth`` pixels above the necks
between them (h-maxima) is split by a watershed of the distance transform seeded at those peaks, and kept
whole when a piece would fall under ``min_size``.

Shape traits follow scikit-image's ``regionprops`` definitions (see docs/traits.md for how they relate to
PlantCV's): area and convex hull area count pixels, perimeter is ``regionprops.perimeter`` (4-connected
contour, diagonal steps weighted sqrt(2)), ellipse axes are those of the ellipse with the region's second
moments, the angle is in degrees counter-clockwise from the image x axis.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage
from skimage import color, measure, segmentation

from agriseg.vector.watershed import distance_peaks, negative_distance, split_components

EIGHT = np.ones((3, 3), bool)  # 8-connectivity


def label_plants(
    mask: np.ndarray,
    min_size: int = 50,
    split_depth: float = 0.0,
    join: int = 0,
    group: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Label the plants of a boolean mask ``(H, W)``.

    Args:
        mask: vegetation.
        min_size: smallest plant (and smallest split piece) in pixels.
        split_depth: how far (px) the distance-transform peaks of two plants must rise above the neck
            between them for a split; 0 (``crop traits``' default, docs/traits.md says why) keeps touching
            plants together; 4 splits most touching rosettes and cuts some lobed plants in two.
        join: pieces of vegetation at most this many px apart are one plant (a leaf whose thin stem the
            mask missed); 0 joins nothing.
        group: component labels ``(H, W)`` -> the group (e.g. the pot) of each component, indexed by label
            (0 = none): only pieces of the same group are joined. None: any pieces are.

    Returns:
        int32 labels ``(H, W)``: 0 = not a plant, 1..N plants numbered in raster order of their first pixel.

    Raises:
        ValueError: a mask that is not 2-D (an RGB image or a stack), or of fractions (threshold it first).
    """
    if isinstance(mask, str | os.PathLike) or mask is None:  # "got shape ()" said nothing of a path
        raise TypeError(
            f"mask is a (H, W) array, not {type(mask).__name__}: read the file first, e.g. "
            "np.asarray(Image.open(path)) > 0"
        )
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D (H, W) vegetation mask; got shape {mask.shape}")
    from agriseg.config import check_numbers

    check_numbers(min_size=min_size, split_depth=split_depth, join=join)
    wrong = [f"{name} must be >= {least}, got {v}" for name, v, least in
             (("min_size", min_size, 1), ("split_depth", split_depth, 0), ("join", join, 0))
             if not v >= least]  # fmt: skip  # NaN fails these too
    if wrong:
        raise ValueError("; ".join(wrong))
    if mask.dtype.kind == "f" and not np.isin(mask, (0.0, 1.0)).all():  # a probability map: every pixel > 0
        raise ValueError("mask holds fractions (probabilities?): threshold it first, e.g. label_plants(p > 0.5)")
    comps, n = ndimage.label(mask, structure=EIGHT)
    if join > 0 and n > 1:
        comps, n = _join_pieces(comps, n, join, group)
    if n == 0:
        return comps.astype(np.int32)
    sizes = np.bincount(comps.ravel())
    keep = sizes >= min_size
    keep[0] = False
    comps = np.where(keep[comps], comps, 0)
    if split_depth > 0:
        comps, *_ = split_components(
            comps, distance_peaks(split_depth), negative_distance, min_piece_px=min_size, pack=False
        )
    ids, first = np.unique(comps.ravel(), return_index=True)
    order = ids[ids > 0][np.argsort(first[ids > 0])]
    lut = np.zeros(int(comps.max()) + 1, np.int32)
    lut[order] = np.arange(1, len(order) + 1)
    return lut[comps]


def _join_pieces(
    comps: np.ndarray, n: int, join: int, group: Callable[[np.ndarray], np.ndarray] | None
) -> tuple[np.ndarray, int]:
    """Components joined when at most ``join`` px apart (and of one group), i.e. when their nearest pixels'
    centres lie at most ``join + 1`` apart in a straight line: ``join`` empty pixels between them along a row or
    column, about 0.7 ``join`` along a diagonal.

    Candidates are labels grown by a little more than half that distance (scikit-image's ``expand_labels``,
    which never lets two labels overlap) that touch in any of the 8 directions; each candidate pair is then
    kept only if its exact distance (nearest outline pixels, a k-d tree) is within reach, so the rule does not
    depend on the parity of ``join`` or on the direction in which two pieces lie.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    grown = segmentation.expand_labels(comps, distance=(join + 1) / 2 + 1)
    pairs = [
        np.stack([a[(a > 0) & (b > 0) & (a != b)], b[(a > 0) & (b > 0) & (a != b)]])
        for a, b in (
            (grown[:, :-1], grown[:, 1:]),
            (grown[:-1], grown[1:]),
            (grown[:-1, :-1], grown[1:, 1:]),
            (grown[:-1, 1:], grown[1:, :-1]),
        )
    ]
    e = np.unique(np.sort(np.concatenate(pairs, axis=1), axis=0), axis=1)  # (2, E), each pair once
    if group is not None:
        g = group(comps)
        e = e[:, (g[e[0]] == g[e[1]]) & (g[e[0]] > 0)]
    boxes = ndimage.find_objects(comps)
    outlines: dict[int, tuple[np.ndarray, Any]] = {}  # each component's outline and its k-d tree, built once
    e = e[:, [_within(comps, boxes, a, b, join + 1, outlines) for a, b in e.T]] if e.size else e
    graph = coo_matrix((np.ones(e.shape[1]), (e[0], e[1])), shape=(n + 1, n + 1))
    _, root = connected_components(graph, directed=False)
    lut = np.unique(root[1:], return_inverse=True)[1] + 1
    lut = np.concatenate([[0], lut]).astype(np.int32)
    return lut[comps], int(lut.max())


def _within(
    comps: np.ndarray, boxes: list, a: int, b: int, reach: float, outlines: dict[int, tuple[np.ndarray, Any]]
) -> bool:
    """Whether components ``a`` and ``b`` (``boxes``: their slices) have pixels whose centres are at most
    ``reach`` apart.

    Only outline pixels can be nearest (an inner pixel has a neighbour of its own nearer to any other pixel), and
    each component's outline tree is built once in ``outlines``: rebuilt for every pair of a large plant and the
    specks around it, the trees took 400 s of a 48 MP photo's `crop traits --grid` (session 104's sweep).
    """
    from scipy.spatial import cKDTree

    def outline(i: int) -> tuple[np.ndarray, Any]:  # (N, 2) row, col of its outline pixels, and their tree
        if i not in outlines:
            sy, sx = boxes[i - 1]
            m = comps[sy, sx] == i
            edge = m & ~ndimage.binary_erosion(m, structure=np.ones((3, 3), bool), border_value=0)
            pts = np.argwhere(edge) + (sy.start, sx.start)
            outlines[i] = (pts, cKDTree(pts))
        return outlines[i]

    (pa, ta), (pb, tb) = outline(a), outline(b)
    tree, query = (tb, pa) if len(pa) < len(pb) else (ta, pb)
    d, _ = tree.query(query, k=1, distance_upper_bound=reach + 1e-9)
    return bool(np.isfinite(d).any())


EDGE_STRIP = 8  # plants reaching at most this many px into the image from its border are edge strips


def check_labels(labels: Any) -> np.ndarray:  # noqa: ANN401 - what a caller passes
    """``labels`` as a 2-D array of int plant ids (0 = none).

    Raises:
        ValueError: a mask of another type (bool: pass ``label_plants(mask)``), not 2-D, or empty.
    """
    if isinstance(labels, str | os.PathLike) or labels is None:  # "not a object mask" said nothing of it
        raise TypeError(f"labels are a (H, W) array of plant ids, not {type(labels).__name__}: see label_plants")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":  # regionprops' and scipy's own errors name neither
        raise ValueError(f"labels are plant ids (int), not a {labels.dtype} mask: pass label_plants(mask)")
    if labels.ndim != 2:
        raise ValueError(f"labels are one (H, W) image of plant ids, got shape {labels.shape}")
    if not labels.size:
        raise ValueError(f"labels are an empty {labels.shape} image")
    if labels.min() < 0:
        raise ValueError(f"labels are plant ids from 1 (0 = none), not {int(labels.min())}")
    if labels.dtype == np.uint8 and labels.max() == 255 and not np.isin(labels, (0, 255), invert=True).any():
        # crop predict's 0/255 mask read from its PNG: all its plants were one of id 255 (session 105's sweep);
        # ids agriseg makes are int32
        raise ValueError("labels hold only 0 and 255: a 0/255 vegetation mask? pass label_plants(mask > 0)")
    return labels


def drop_edge_strips(labels: np.ndarray, thickness: int = EDGE_STRIP) -> np.ndarray:
    """Labels with the thin strips along the image border removed (set to 0): plants touching a border of
    which only ``thickness`` px or less reach into the image (the edge of a neighbour's plant, not a plant). When
    some are dropped, the plants kept are numbered 1..N again, in their order (ids skipped the strips: plant 1
    missing from a table whose count said 11, session 108's sweep).

    Raises:
        ValueError: a negative ``thickness``, or ``labels`` that are no 2-D int ids (a bool mask).
    """
    from agriseg.config import check_numbers

    check_numbers(thickness=thickness)
    if thickness < 0:
        raise ValueError(f"thickness must be 0 or more px, got {thickness}")
    labels = check_labels(labels)
    h, w = labels.shape
    out, dropped = labels.copy(), False
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        (y0, y1), (x0, x1) = (sl[0].start, sl[0].stop), (sl[1].start, sl[1].stop)
        thin = (
            (x0 == 0 and x1 <= thickness)
            or (x1 == w and x0 >= w - thickness)
            or (y0 == 0 and y1 <= thickness)
            or (y1 == h and y0 >= h - thickness)
        )
        if thin:
            out[sl][labels[sl] == i] = 0
            dropped = True
    return segmentation.relabel_sequential(out)[0] if dropped else out


def _mean_hue(hue: np.ndarray) -> float:
    """Circular mean of hues in [0, 1) -> degrees in [0, 360)."""
    ang = hue * 2 * math.pi
    deg = math.degrees(math.atan2(float(np.sin(ang).mean()), float(np.cos(ang).mean()))) % 360.0
    return 0.0 if deg >= 359.9995 else deg  # e.g. 359.99999997 would be written (rounded) as 360


COLOUR_TRAITS = ("mean_r", "mean_g", "mean_b", "mean_hue", "mean_saturation", "mean_value", "mean_l", "mean_a",
                 "mean_b_lab", "excess_green")  # fmt: skip
"""The keys of :func:`colour_traits`, in its order."""


def colour_traits(pixels: np.ndarray) -> dict[str, float]:
    """Mean colour of RGB pixels ``(N, 3)`` (N > 0): RGB, HSV (hue in degrees, circular mean), Lab, ExG.

    Pixels are ``uint8`` (or other integers in 0-255) or floats in [0, 1]; the RGB means are in 0-255 either way.
    A photo in another range (16-bit, floats in 0-255) is converted as a whole by :func:`agriseg.data.io.as_rgb`
    first: a few pixels cannot tell its range. Excess green is ``2g - r - b`` on chromatic coordinates
    (``r = R / (R + G + B)``), averaged per pixel.

    Raises:
        ValueError: no pixels, not ``(N, 3)``, or values outside those ranges.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim != 2 or pixels.shape[1] != 3 or len(pixels) == 0:
        raise ValueError(f"colour_traits takes RGB pixels (N, 3) with N > 0; got an array of shape {pixels.shape}")
    floats = np.issubdtype(pixels.dtype, np.floating)
    top = 1.0 if floats else 255
    if not (np.issubdtype(pixels.dtype, np.integer) or floats) or not (
        np.isfinite(pixels).all() and pixels.min() >= 0 and pixels.max() <= top
    ):
        raise ValueError(
            "colour_traits takes uint8 pixels (0-255) or floats in [0, 1]; convert the photo with "
            "agriseg.data.io.as_rgb first"
        )
    px = pixels.astype(np.float64) / (1.0 if floats else 255.0)  # (N, 3) in [0, 1]
    hsv = color.rgb2hsv(px[None])[0]
    lab = color.rgb2lab(px[None])[0]
    total = px.sum(1)
    chrom = px / np.where(total > 0, total, 1.0)[:, None]
    exg = 2 * chrom[:, 1] - chrom[:, 0] - chrom[:, 2]
    r, g, b = (px * 255).mean(0)
    return {
        "mean_r": float(r),
        "mean_g": float(g),
        "mean_b": float(b),
        "mean_hue": _mean_hue(hsv[:, 0]),
        "mean_saturation": float(hsv[:, 1].mean()),
        "mean_value": float(hsv[:, 2].mean()),
        "mean_l": float(lab[:, 0].mean()),
        "mean_a": float(lab[:, 1].mean()),
        "mean_b_lab": float(lab[:, 2].mean()),
        "excess_green": float(exg.mean()),
    }


# trait -> dimension (0 = count or ratio, 1 = length, 2 = area), which picks the unit
SHAPE_TRAITS: dict[str, int] = {
    "area": 2,
    "perimeter": 1,
    "convex_hull_area": 2,
    "solidity": 0,
    "width": 1,
    "height": 1,
    "ellipse_major_axis": 1,
    "ellipse_minor_axis": 1,
    "ellipse_angle": 0,
    "centroid_x": 1,
    "centroid_y": 1,
    "in_frame": 0,
}


PIXEL_COUNTS = ("area", "convex_hull_area", "width", "height")  # traits in px that count pixels


def plant_traits(
    labels: np.ndarray, rgb: np.ndarray | None = None, px_per_mm: float | None = None, sure: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Shape (and colour, given the photo) traits of every labelled plant.

    Args:
        labels: int labels ``(H, W)`` from :func:`label_plants`.
        rgb: the photo ``(H, W, 3)`` uint8, for colour traits (None: no colour traits).
        px_per_mm: scale; lengths are divided by it and areas by its square (None: pixels).
        sure: ``(H, W)`` bool (or 0 / non-zero), the pixels the model was sure were vegetation (None: no
            ``model_sure``).

    Returns:
        One dict per plant: ``id`` then the traits of :data:`SHAPE_TRAITS` (and colour traits). Centroid and
        angle are in image coordinates (x right, y down; angle counter-clockwise from x, in degrees);
        ``in_frame`` is False for a plant touching the image border.

    Raises:
        ValueError: ``labels`` that are no int ids (a bool mask), ``rgb`` or ``sure`` of another size than
            ``labels``, or a scale that is not positive.
        TypeError: a scale that is no number (``"4"``).
    """
    labels = check_labels(labels)
    if rgb is not None:  # colour traits are in 0-255: a float photo in [0, 1] is scaled as predict takes it
        from agriseg.data.io import as_rgb

        rgb = as_rgb(rgb)  # a PIL image turned upright first, as predict turns it: then the sizes are compared
    for name, other in (("rgb", rgb), ("sure", sure)):
        if other is not None and np.shape(other)[:2] != labels.shape:
            raise ValueError(f"{name} is {np.shape(other)[:2]}, labels {labels.shape}: they must cover one photo")
    if px_per_mm is not None and (isinstance(px_per_mm, bool) or not isinstance(px_per_mm, (int, float, np.number))):
        raise TypeError(f"px_per_mm is a number of pixels per mm, or None for pixels; got {px_per_mm!r}")
    if px_per_mm is not None and not 0 < px_per_mm < math.inf:
        raise ValueError(f"px_per_mm must be positive and finite (None for pixels); got {px_per_mm}")
    scale = float(px_per_mm or 1.0)  # np.float32(4) made every trait a float32, which json.dumps refuses
    if sure is not None:  # a 0/255 mask of the sure pixels gave model_sure 255: any non-zero pixel is sure
        sure = np.asarray(sure) != 0
    out = []
    for rp in measure.regionprops(labels):
        y0, x0, y1, x1 = rp.bbox
        cy, cx = rp.centroid
        # regionprops' orientation is the angle between the row axis and the major axis
        angle = (math.degrees(rp.orientation) - 90.0) % 180.0 if rp.area > 1 else 0.0
        raw = {
            "area": float(rp.area),
            "perimeter": float(rp.perimeter),
            "convex_hull_area": float(rp.area_convex),
            "solidity": float(rp.solidity),
            "width": float(x1 - x0),
            "height": float(y1 - y0),
            "ellipse_major_axis": float(rp.axis_major_length),
            "ellipse_minor_axis": float(rp.axis_minor_length),
            "ellipse_angle": angle,
            "centroid_x": float(cx),
            "centroid_y": float(cy),
        }
        frame = y0 > 0 and x0 > 0 and y1 < labels.shape[0] and x1 < labels.shape[1]
        row: dict[str, Any] = {"id": int(rp.label)}
        row.update({k: v / scale ** SHAPE_TRAITS[k] for k, v in raw.items()})
        if px_per_mm is None:  # counts of pixels are whole numbers: 3376, not 3376.0
            row.update({k: int(raw[k]) for k in PIXEL_COUNTS})
        row["in_frame"] = bool(frame)  # False: the plant touches the image border (part may be outside)
        if sure is not None:  # the share of the plant's pixels the model itself was sure of
            row["model_sure"] = float(sure[rp.coords[:, 0], rp.coords[:, 1]].mean())
        if rgb is not None:
            row.update(colour_traits(rgb[rp.coords[:, 0], rp.coords[:, 1]]))
        out.append(row)
    return out
