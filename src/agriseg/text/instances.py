"""Semantic mask -> instances: a boundary map and a marker watershed per class.

This is our own EPOC-like step (EPOC's code is unpublished, and we have no SegFormer boundary model): the
boundary map is the Sobel gradient magnitude of the lightly smoothed image, scaled to [0, 1]; seeds are the
connected pieces of each class mask that stay away from strong boundaries (``boundary < threshold``, then
eroded); every connected piece of the class with two or more seeds is split by the repository's watershed
(:func:`agriseg.vector.watershed.split_components`) flooding the boundary map (minus a small distance-to-edge
term) from those seeds, so touching fields split along the image edge between them; the others stay whole.
Without an image, the seeds are the eroded class mask: components joined by thin necks split there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import ConfigDict, Field

from agriseg.config import StrictModel

if TYPE_CHECKING:
    from agriseg.raster.image import GeoRef


class WatershedConfig(StrictModel):
    """Instance extraction settings.

    Attributes:
        boundary_threshold: boundary-map value above which a pixel cannot seed a marker.
        smooth_sigma: Gaussian sigma (pixels) applied to the image before the gradient.
        erosion: marker erosion in pixels (separates components joined by thin necks).
        min_size: instances (and markers) smaller than this many pixels are dropped.
        classes: class ids to split into instances (None: every non-background class).
    """

    boundary_threshold: float = Field(0.3, ge=0, le=1)  # the boundary map is scaled to [0, 1]
    smooth_sigma: float = Field(1.0, ge=0, le=100)  # 0 = no smoothing; 1e9 was a kernel that took all memory
    erosion: int = Field(1, ge=0)
    min_size: int = Field(4, ge=0)
    classes: tuple[int, ...] | None = None

    model_config = ConfigDict(frozen=True)  # merged with StrictModel's by pydantic


def boundary_map(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """(H, W) gradient magnitude of the smoothed grey image, scaled to [0, 1]."""
    from scipy import ndimage as ndi
    from skimage.filters import sobel

    img = np.asarray(image, dtype=np.float64)
    grey = img.mean(-1) if img.ndim == 3 else img  # (H, W)
    if sigma > 0:
        grey = ndi.gaussian_filter(grey, sigma)
    b = sobel(grey / 255.0)
    return b / b.max() if b.max() > 0 else b


def semantic_to_instances(
    semantic: np.ndarray, image: np.ndarray | None = None, cfg: WatershedConfig | None = None
) -> tuple[np.ndarray, dict[int, int]]:
    """Split each class of a semantic mask into instances.

    Args:
        semantic: (H, W) class ids, 0 = background.
        image: (H, W, 3) image for the boundary map (None: components only).
        cfg: settings.

    Returns:
        ``(labels, instance_class)``: (H, W) int64 instance ids (0 = none, unique over classes) and the class
        of each instance id.
    """
    cfg = cfg or WatershedConfig()
    from scipy import ndimage as ndi

    from agriseg.vector.watershed import split_components

    sem = np.asarray(semantic)
    if image is not None and np.asarray(image).shape[:2] != sem.shape:
        raise ValueError(f"image shape {np.asarray(image).shape[:2]} != mask shape {sem.shape}")
    bmap = boundary_map(image, cfg.smooth_sigma) if image is not None else np.zeros(sem.shape)
    labels = np.zeros(sem.shape, dtype=np.int64)
    cls_of: dict[int, int] = {}
    next_id = 1
    classes = cfg.classes if cfg.classes is not None else [int(c) for c in np.unique(sem) if c != 0]
    for c in classes:
        region = sem == c  # (H, W)
        if not region.any():
            continue
        seeds = region & (bmap < cfg.boundary_threshold)
        if cfg.erosion > 0:
            seeds = ndi.binary_erosion(seeds, iterations=cfg.erosion)
        dist = ndi.distance_transform_edt(region)
        elevation = bmap - 0.01 * dist / max(float(dist.max()), 1e-9)
        pieces, *_ = split_components(ndi.label(region)[0], ndi.label(seeds)[0], elevation, min_seed_px=cfg.min_size)
        # every piece of at least min_size pixels gets the next id, in piece order, in one pass over the pixels
        # (a mask per piece made a 2000 x 2000 tile of 980 instances take 30 s)
        uniq, inverse, counts = np.unique(pieces, return_inverse=True, return_counts=True)
        kept = (uniq != 0) & (counts >= cfg.min_size)
        ids = np.zeros(len(uniq), np.int64)
        ids[kept] = next_id + np.arange(int(kept.sum()))
        mapped = ids[inverse.reshape(pieces.shape)]  # (H, W)
        labels = np.where(mapped > 0, mapped, labels)
        cls_of.update((int(i), int(c)) for i in ids[kept])
        next_id += int(kept.sum())
    return labels, cls_of


def instances_from_ids(instance_map: np.ndarray, semantic: np.ndarray) -> dict[int, int]:
    """Class of every instance id of a truth instance map (majority semantic class of its pixels)."""
    inst, sem = np.asarray(instance_map).ravel(), np.asarray(semantic).ravel().astype(np.int64)
    on = inst != 0
    if not on.any():
        return {}
    span = int(sem[on].max()) + 1
    keys, counts = np.unique(inst[on].astype(np.int64) * span + sem[on], return_counts=True)  # (P,) each
    ids, classes = np.divmod(keys, span)
    # per instance the most common class, the lowest class id among equals (as bincount's argmax): one pass over
    # the pixels, where a mask per instance took pixels x instances
    order = np.lexsort((classes, -counts, ids))
    first = np.ones(len(order), bool)
    first[1:] = ids[order[1:]] != ids[order[:-1]]
    top = order[first]
    return {int(i): int(c) for i, c in zip(ids[top], classes[top], strict=True)}


def relabel(labels: np.ndarray, keep: Sequence[int]) -> np.ndarray:
    """Keep only the listed instance ids (others -> 0)."""
    return np.where(np.isin(labels, list(keep)), labels, 0)


def write_instances(
    labels: np.ndarray,
    classes: np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    geo: GeoRef | None,
    source: str | Path | None = None,
) -> Path:
    """Write instances as GeoJSON polygons through the shared polygoniser and GeoJSON writer.

    Polygons come from :func:`agriseg.vector.polygonize.label_coverage` (the fields polygoniser: touching
    instances share one edge, outlines unsimplified) and are written by :mod:`agriseg.vector.geojson`. With a
    georeference that has a CRS they are mapped with its transform and written in WGS 84 longitude /
    latitude (RFC 7946); otherwise their coordinates are pixel columns (x) and rows (y) from the image's
    top-left corner, with no ``crs`` member.

    Args:
        labels: (H, W) instance ids (0 = none).
        classes: (H, W) class ids (each instance's class is the most common one under it).
        class_names: names for the ``class`` property.
        path: output ``.geojson``.
        geo: georeference of the image, or None. A CRS with no way to longitude / latitude (a local site grid)
            is warned about, naming ``source``, and its polygons are written in pixel coordinates.
        source: the image, for that warning (default: ``path``).

    Returns:
        The written path. Features carry the instance id of the instance raster as their ``id`` (a string, as
        RFC 7946 allows) and in their properties (``id``, with ``class`` and ``pixels``).
    """
    from agriseg.vector.geojson import write_geojson
    from agriseg.vector.polygonize import label_coverage

    lab = np.asarray(labels).astype(np.int64)
    ids, geoms, _ = label_coverage(lab, tolerance=0.0)  # sorted ids, pixel coordinates
    on = lab > 0
    n_cls = int(classes.max(initial=0)) + 1
    pairs = np.bincount(
        np.searchsorted(ids, lab[on]) * n_cls + np.asarray(classes)[on].astype(np.int64), minlength=len(ids) * n_cls
    ).reshape(len(ids), n_cls)  # (instances, classes) pixel counts
    crs = None
    if geo is not None and geo.crs and _reaches_wgs84(geo.crs, source or path):
        from affine import Affine

        from agriseg.vector.geometry import pixel_to_crs

        geoms, crs = pixel_to_crs(geoms, Affine(*geo.transform)), geo.crs
    props = [
        {"id": int(i), "class": class_names[int(c)], "pixels": int(n)}
        for i, c, n in zip(ids, pairs.argmax(1), pairs.sum(1), strict=True)
    ]
    return write_geojson(path, geoms, props, crs=crs, ids=[int(i) for i in ids])  # Feature id too, as fields writes


def _reaches_wgs84(crs: str, source: str | Path) -> bool:
    """Whether polygons in ``crs`` can be written as RFC 7946 longitude / latitude; warns naming ``source`` when
    not (a photogrammetry export on a local site grid: the mask keeps its CRS, the GeoJSON gets pixels)."""
    from agriseg.data.io import log
    from agriseg.vector.geojson import NotReprojectable, wgs84_transformer

    try:
        wgs84_transformer(crs)
    except NotReprojectable as err:
        log.warning("%s: %s; its GeoJSON polygons are in pixel columns and rows", source, err)
        return False
    return True
