"""Seamless blockwise polygonisation of a field class / probability raster with bounded memory.

Two passes over blocks of the raster, each shared by a pool of worker processes (one per core by default:
GDAL's polygoniser, scipy's labelling and the watershed hold Python's lock, so threads would not run them
side by side):

1. **Instances.** Each block's 4-connected field components that do not touch an inner block edge are
   split into field instances at once (watershed, :mod:`agriseg.vector.instances`); components touching
   an inner edge are joined across block edges with union-find and split whole from their bounding box.
   Every instance is written into a temporary label file (one integer per pixel: the instance's first
   pixel's scene index + 1, -1 for boundary pixels, 0 elsewhere), the only place the scene is held whole;
   it is read and written one window at a time through short-lived memory maps.
2. **Polygons.** Each block is read back with a halo; boundary pixels are split between neighbouring
   fields and the outlines traced, smoothed and simplified arc by arc (:mod:`agriseg.vector.coverage`).
   Fields inside the block are done; fields crossing block lines are traced whole from their bounding box
   (many boxes packed into one canvas per GDAL call).

Every step depends only on pixels near the field (each instance on its own component, the gap split on
pixels within the halo, the arcs on their own points in scene coordinates), so the result equals a
single pass for any block size and number of workers. The fields form a valid polygon coverage; the few
whose arcs crossed after simplification are recomputed with those arcs unsimplified (:func:`_repair`).
Memory: each process holds a block and the largest field's box.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from scipy import ndimage

from agriseg.vector.config import PolygonizeConfig
from agriseg.vector.coverage import GAP, OUTSIDE, Traced, gap_halo, split_gaps, trace_coverage
from agriseg.vector.instances import (
    InstanceTable,
    first_pixels,
    label_components,
    split_instances,
)

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.context import BaseContext


@dataclass
class _Open:
    bbox: list[int]  # y0, y1, x0, x1 (global, end-exclusive)
    first: tuple[int, int]


@dataclass
class _UnionFind:
    parent: dict[Any, Any] = field(default_factory=dict)

    def find(self, a: Any) -> Any:
        p = self.parent.setdefault(a, a)
        while p != a:
            self.parent[a] = self.parent.setdefault(p, p)
            a, p = p, self.parent[p]
        return a

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def check_class_raster(path: Path, ds: Any) -> None:
    """Refuse rasters that are not class maps, which would otherwise give zero fields without a word.

    Raises:
        ValueError: band 1 is not integer class ids (a probability or float raster), or the raster is an
            image (a multi-band scene without agriseg's prediction tags).
    """
    dtype = np.dtype(ds.dtypes[0])
    is_prediction = "agriseg_format" in {k.lower() for k in ds.tags()}
    if not np.issubdtype(dtype, np.integer):
        raise ValueError(
            f"{path}: band 1 is {dtype}, not class ids; polygonize needs a class raster (the COG written by "
            "`agriseg fields predict`, or one band of integer class ids)"
        )
    if not is_prediction and ds.count >= 4 and dtype.itemsize >= 2:
        from agriseg.raster.image import bands_phrase

        raise ValueError(
            f"{path}: {bands_phrase(ds.count, dtype)} image, not a class raster; run `agriseg fields predict` on "
            "it and polygonize the result"
        )
    from agriseg.raster.io import band_values

    colours = [c.name for c in ds.colorinterp[:3]]
    if not is_prediction and ds.count >= 3 and colours == ["red", "green", "blue"] and len(band_values(ds)) > 32:
        # GDAL marks any 3-band byte TIFF red, green, blue (a class band with two probability bands too): an
        # image's band 1 holds many values, a class band a few
        raise ValueError(
            f"{path}: an RGB image (its bands are red, green, blue), not a class raster; polygonize needs the COG "
            "written by `agriseg fields predict`, or one band of integer class ids"
        )


def _finite_max(values: np.ndarray) -> float:
    """The largest finite value (0 for none: a window of nodata NaN says nothing of the scale)."""
    return float(np.max(values, initial=0, where=np.isfinite(values)))


_GDAL_CACHE = 32 * 2**20  # bytes
_INT32_PIXELS = 2**31  # label files of larger scenes hold int64 labels


@dataclass
class RasterSource:
    """Reads the class band and (if present) the field-probability band of a raster, by window."""

    path: Path
    config: PolygonizeConfig
    prob_scale: float | None = None  # what a probability band that is not uint8 is multiplied by; None: found
    probe: bool = True  # read its last pixels first (a truncated file); a worker's copy of a probed source: False

    def __post_init__(self) -> None:
        import rasterio

        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: raster not found")
        # each block is read once (joined fields again, in groups): GDAL's default block cache (5 % of the
        # machine's memory) would only keep decoded blocks no one reads again, in every worker process
        self._env = rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE)
        self._env.__enter__()
        try:
            from agriseg.raster.image import open_plain_or_geo

            self.ds = open_plain_or_geo(rasterio, self.path)  # no CRS: said below, not by rasterio's warning
        except rasterio.errors.RasterioIOError as err:
            self._env.__exit__(None, None, None)
            from agriseg.raster.io import unreadable_raster

            raise ValueError(unreadable_raster(self.path, err)) from err
        try:
            from agriseg.raster.io import probe_readable

            if self.probe:  # a file cut short reads as one without a CRS: said as what it is
                probe_readable(self.ds, self.path)
            if self.ds.crs is None:
                from agriseg.raster.io import photo_format

                kind = photo_format(self.ds)
                raise ValueError(f"{self.path}: has no CRS{kind}; polygons need a georeferenced raster")
            check_class_raster(self.path, self.ds)
        except ValueError:
            self.close()
            raise
        # nodata (or a mask) that reads as the field or boundary class: those pixels are set to background when
        # read (nodata 1 turned a raster of nodata into one field, and its warning said there were none)
        from agriseg.raster.io import has_own_mask

        nodata = self.ds.nodata
        classes = (self.config.field_class, self.config.boundary_class)
        self.masked = (nodata is not None and nodata in classes) or has_own_mask(self.ds)
        # band 1 = class; bands 2.. = per-class probabilities (agriseg fields predict output)
        self.prob_band = 2 + self.config.field_class if self.ds.count >= 2 + self.config.field_class else None
        if self.config.separation == "watershed" and self.ds.count == 1:
            self.prob_band = None
        if self.prob_scale is None:
            self.prob_scale = self._find_prob_scale()

    def _find_prob_scale(self) -> float:
        """1 for a uint8 band (0-255) and 255 for a band of 0-1 values, decided once from the band's maximum.

        Decided window by window, a window of a 0-255 band whose values are all 0 or 1 would have been read as
        fully sure; one pass over a band that is not uint8 (rare: agriseg writes uint8) keeps one scale.
        """
        if not self.prob_band or np.dtype(self.ds.dtypes[self.prob_band - 1]) == np.uint8:
            return 1.0
        try:
            top = max(
                (_finite_max(self.ds.read(self.prob_band, window=w)) for _, w in self.ds.block_windows(self.prob_band)),
                default=0.0,
            )
        except Exception as err:
            self.close()
            raise ValueError(f"{self.path}: cannot read band {self.prob_band} ({err})") from err
        return 255.0 if top <= 1 else 1.0

    def read(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray | None]:
        from rasterio.windows import Window

        win = Window(x0, y0, x1 - x0, y1 - y0)
        try:
            cls = self.ds.read(1, window=win)
            if self.masked:
                cls[self.ds.read_masks(1, window=win) == 0] = 0  # (h, w): no data is no field and no boundary
            prob = self.ds.read(self.prob_band, window=win) if self.prob_band else None
        except Exception as err:
            raise ValueError(f"{self.path}: cannot read rows {y0}-{y1}, cols {x0}-{x1} ({err})") from err
        if prob is not None and prob.dtype != np.uint8:
            prob = np.clip(np.rint(prob.astype(np.float32) * (self.prob_scale or 1.0)), 0, 255).astype(np.uint8)
        return cls, prob

    def close(self) -> None:
        self.ds.close()
        self._env.__exit__(None, None, None)


@dataclass
class LabelStore:
    """A scene-sized label raster in a temporary file, read and written by window from any process.

    Each access maps only the rows it needs and unmaps them at once, so no process keeps the scene in its
    memory; writes go through shared maps, so processes writing different pixels of one page do not
    overwrite each other.
    """

    path: Path
    height: int
    width: int
    dtype: str

    @classmethod
    def create(cls, folder: str | Path, height: int, width: int) -> LabelStore:
        """An all-zero store; int32 while every pixel index fits, int64 beyond 2**31 pixels."""
        dtype = "int32" if height * width + 1 < _INT32_PIXELS else "int64"
        fd, name = tempfile.mkstemp(prefix="labels-", suffix=".bin", dir=folder)
        os.ftruncate(fd, height * width * np.dtype(dtype).itemsize)  # sparse: zeros cost no disk
        os.close(fd)
        return cls(Path(name), height, width, dtype)

    def _rows(self, y0: int, y1: int, mode: Literal["r", "r+"]) -> np.memmap:
        item = np.dtype(self.dtype).itemsize
        return np.memmap(
            self.path, np.dtype(self.dtype), mode, offset=y0 * self.width * item, shape=(y1 - y0, self.width)
        )

    def read(self, y0: int, y1: int, x0: int, x1: int, out: np.ndarray | None = None) -> np.ndarray:
        """Labels of a window (a copy, into ``out`` when given)."""
        rows = self._rows(y0, y1, "r")
        if out is None:
            out = np.array(rows[:, x0:x1])
        else:
            out[...] = rows[:, x0:x1]
        del rows
        return out

    def write(self, y0: int, x0: int, values: np.ndarray, where: np.ndarray | None = None) -> None:
        """Write a window at ``(y0, x0)``; only the pixels of ``where`` when given."""
        h, w = values.shape
        rows = self._rows(y0, y0 + h, "r+")
        view = rows[:, x0 : x0 + w]
        if where is None:
            view[...] = values
        else:
            view[where] = values[where]
        del view, rows


@dataclass
class ArrayStore:
    """:class:`LabelStore`'s interface over a label array in memory."""

    labels: np.ndarray

    @property
    def height(self) -> int:
        return self.labels.shape[0]

    @property
    def width(self) -> int:
        return self.labels.shape[1]

    @property
    def dtype(self) -> str:
        return str(self.labels.dtype)

    def read(self, y0: int, y1: int, x0: int, x1: int, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            return self.labels[y0:y1, x0:x1].copy()
        out[...] = self.labels[y0:y1, x0:x1]
        return out


def coverage_from_labels(
    labels: np.ndarray,
    transform: Any,
    crs: Any,
    gap: np.ndarray | None = None,
    split_px: float = 2.0,
    simplify: float | None = None,
    block_size: int = 2048,
) -> Any:
    """Clean field polygons that form a valid coverage, from an instance-label raster in memory.

    The entry point for instance models (e.g. DelineateAnything's masks burnt into one label raster per
    scene): the same polygoniser as :func:`agriseg.vector.polygonize`, after its instance step. Pixels of
    ``gap`` (e.g. the unlabelled pixels between two instances' masks) within ``split_px`` pixels of an
    instance go to the nearest one, so instances that touch share one edge; outlines get sub-pixel edges
    and each shared edge is simplified once for both fields (:mod:`agriseg.vector.coverage`). Processed in
    blocks of ``block_size`` pixels in this process.

    Args:
        labels: ``(H, W)`` int instance ids (> 0; any values, not necessarily consecutive), 0 = no field.
            An id in several separate parts gives a MultiPolygon.
        transform: the raster's affine transform (an ``affine.Affine``, as rasterio gives it; a GDAL
            geotransform tuple is refused, as rasterio refuses one).
        crs: the raster's CRS.
        gap: ``(H, W)`` bool, pixels that may be split between the instances around them (default: none).
        split_px: largest distance of a split pixel from its instance, in pixels.
        simplify: tolerance in metres on every CRS (None = one pixel, 0 = sub-pixel outlines unsimplified).
        block_size: pixels per block side.

    Returns:
        A GeoDataFrame in ``crs`` with the column ``label`` (the instance id), one row per id, sorted by id;
        ``shapely.coverage_is_valid`` holds for its geometries.

    Raises:
        ValueError: ``labels`` is not a 2-D integer array with ids >= 0, or ``gap`` has another shape.
        TypeError: ``transform`` is no ``affine.Affine``.
    """
    import geopandas as gpd
    from affine import Affine

    from agriseg.vector.geometry import pixel_to_crs, pixel_tolerance

    if not isinstance(transform, Affine):  # a tuple failed on .a deep inside
        hint = (
            "; a GDAL geotransform: affine.Affine.from_gdal(*t), affine's own order (a, b, c, d, e, f): Affine(*t)"
            if isinstance(transform, (tuple, list))
            else ""
        )
        raise TypeError(
            f"transform is an affine.Affine (rasterio's dataset.transform), not {type(transform).__name__}{hint}"
        )
    tol = pixel_tolerance(simplify, transform, crs, labels.shape)
    ids, geoms, _ = label_coverage(labels, gap, split_px, tol, block_size)
    crs_geoms = pixel_to_crs(geoms, transform)
    return gpd.GeoDataFrame({"label": ids}, geometry=gpd.GeoSeries(crs_geoms, crs=crs), crs=crs)


def label_coverage(
    labels: np.ndarray,
    gap: np.ndarray | None = None,
    split_px: float = 2.0,
    tolerance: float = 1.0,
    block_size: int = 2048,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`coverage_from_labels` in pixel units: ids (sorted), (multi)polygons in global pixel coordinates
    (x = column, y = row), and each id's first pixel ``(N, 2)`` (row, col) in raster order.

    Raises:
        ValueError: as :func:`coverage_from_labels`.
    """
    import shapely
    from skimage.measure import label as label_regions

    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 2-D integer array, got {labels.dtype} with shape {labels.shape}")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be >= 0 (0 = no field)")
    if gap is not None and np.shape(gap) != labels.shape:
        raise ValueError(f"gap has shape {np.shape(gap)}, labels {labels.shape}")
    # each 4-connected part of an id is traced as a field of its own (a field is one region everywhere else
    # in the polygoniser), then the parts of an id are joined
    parts = label_regions(labels, background=0, connectivity=1).astype(np.int32)
    id_of = np.zeros(int(parts.max(initial=0)) + 1, labels.dtype)
    id_of[parts.ravel()] = labels.ravel()
    values = parts if gap is None else np.where(np.asarray(gap, bool) & (parts == 0), GAP, parts).astype(np.int32)
    cfg = PolygonizeConfig(block_size=block_size, split_boundary_px=split_px, workers=1, progress=False)
    job = _Job(None, cfg, ArrayStore(values), tolerance)
    with _Pool(job, None, 0) as pool:
        traced = _repair(job, _polygons(job, pool, *values.shape))
    ids = id_of[traced.values]
    order = np.lexsort((traced.first[:, 1], traced.first[:, 0], ids))  # by id, then first pixel
    ids, geoms, first = ids[order], traced.geoms[order], traced.first[order]
    u, starts = np.unique(ids, return_index=True)
    if len(u) < len(ids):  # ids in several parts: one (multi)polygon each
        ends = np.r_[starts[1:], len(ids)]
        geoms = np.asarray(
            [shapely.union_all(geoms[a:b]) if b - a > 1 else geoms[a] for a, b in zip(starts, ends, strict=True)],
            object,
        )
    return u, np.asarray(geoms, object), first[starts]


def polygonize_pixels(path: str | Path, config: PolygonizeConfig | None = None) -> tuple[list[dict[str, Any]], Any]:
    """Field polygons of a raster in global pixel coordinates (x = column, y = row), blockwise and seamless.

    Args:
        path: class raster (1 band) or ``agriseg fields predict`` output (class + probability bands).
        config: polygonisation settings (``block_size`` bounds the memory of each process, ``workers``
            sets how many processes share the blocks).

    Returns:
        Records sorted by each field's first pixel (row-major) and the raster's rasterio profile.
    """
    table, profile = polygonize_table(path, config)
    return table.records(), profile


@dataclass
class _Job:
    """What every worker needs: the raster, the label file, the settings."""

    path: Path | None  # None: labels in memory
    config: PolygonizeConfig
    store: LabelStore | ArrayStore
    tolerance: float  # Douglas-Peucker tolerance in pixels
    prob_scale: float = 1.0  # RasterSource.prob_scale, found once by the caller


def polygonize_table(path: str | Path, config: PolygonizeConfig | None = None) -> tuple[InstanceTable, Any]:
    """:func:`polygonize_pixels` as one :class:`InstanceTable`, sorted by first pixel.

    ``pixels`` counts each field's pixels before the gap split, ``confidence`` is their mean field
    probability; geometries are in global pixel coordinates and form a valid coverage.
    """
    from agriseg.vector.geometry import pixel_tolerance

    cfg = config or PolygonizeConfig()
    src = RasterSource(Path(path), cfg)
    try:
        h, w = src.ds.height, src.ds.width
        profile = dict(src.ds.profile, tags=src.ds.tags())
        tol = pixel_tolerance(cfg.simplify, src.ds.transform, src.ds.crs, (h, w))
        _remove_dead_workdirs()
        with tempfile.TemporaryDirectory(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-") as tmp:
            job = _Job(src.path, cfg, LabelStore.create(tmp, h, w), tol, src.prob_scale or 1.0)
            with _Pool(job, src, h * w) as pool:
                stats = _instances(job, pool, h, w)
                traced = _polygons(job, pool, h, w)
                _SOURCE.update(job=job, src=src)  # the repair runs in this process
                traced = _repair(job, traced)
    finally:
        src.close()
    keys = np.stack(np.divmod(traced.values - 1, w), 1)
    pos = np.searchsorted(stats[0], traced.values)
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    table = InstanceTable(keys[order], traced.geoms[order], stats[1][pos][order], stats[2][pos][order])
    return table, profile


_POOL_MIN_PIXELS = 4 * 2**20

# Each process's raster reader and job: the caller's own in-process, opened copies in worker processes.
_SOURCE: dict[str, Any] = {}


def _open_worker(job: _Job, parent: int) -> None:
    assert job.path is not None  # workers are started only for a raster file
    from agriseg.data.files import end_with

    end_with(parent)
    _SOURCE.update(job=job, src=RasterSource(job.path, job.config, job.prob_scale, probe=False))


class _Pool:
    """Runs tasks in ``config.workers`` processes (0 = one per CPU core), or in this process."""

    def __init__(self, job: _Job, src: RasterSource | None, pixels: int) -> None:
        import multiprocessing as mp

        n = job.config.workers
        if not n:  # auto: small rasters are done before worker processes would have started
            big = pixels >= _POOL_MIN_PIXELS
            n = len(os.sched_getaffinity(0)) if big and hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            n = n if big else 1
        if mp.current_process().daemon:  # e.g. a Dask worker: it may not start processes, and is one itself
            n = 1
        bs, st = job.config.block_size, job.store
        self.n = max(1, min(n, -(-st.height // bs) * -(-st.width // bs)))
        self.job, self.src = job, src
        self.ex: ProcessPoolExecutor | None = None

    def __enter__(self) -> _Pool:
        if self.n > 1:
            import multiprocessing as mp
            import threading
            from concurrent.futures import ProcessPoolExecutor

            # fork starts workers at once (they inherit the imports) but is only safe while this process runs
            # no other thread, and never on macOS (its system frameworks, e.g. the proxy lookup of a download,
            # may crash a forked child); otherwise workers start from a fresh server process
            methods = mp.get_all_start_methods()
            if "fork" in methods and threading.active_count() == 1 and sys.platform != "darwin":
                ctx: BaseContext = mp.get_context("fork")
            else:
                ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
            self.ex = ProcessPoolExecutor(
                self.n, mp_context=ctx, initializer=_open_worker, initargs=(self.job, os.getpid())
            )
        else:
            _SOURCE.update(job=self.job, src=self.src)
        return self

    def map(self, fn: Any, items: list) -> Any:
        return self._said(self.ex.map(fn, items)) if self.ex is not None else map(fn, items)

    def _said(self, results: Iterator[Any]) -> Iterator[Any]:
        """The workers' results; workers that died while starting (a script without ``if __name__ ==
        "__main__":`` run again in each of them) said in one line, with the cure."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            yield from results
        except BrokenProcessPool as err:
            raise RuntimeError(
                "polygonize: its worker processes could not start: a script that calls it must keep its work under "
                'if __name__ == "__main__": (they start by importing the script; so on Windows and macOS, and on '
                "Linux when the script runs other threads), or pass workers=1"
            ) from err

    def __exit__(self, *exc: object) -> None:
        if self.ex is not None:
            self.ex.shutdown(cancel_futures=True)
        _SOURCE.clear()


def _release_memory() -> None:
    """Return the heap memory freed by a task to the system (glibc's ``malloc_trim``).

    A block's arrays are tens of megabytes; once glibc has raised its mmap threshold it serves them from the
    heap, and freed heap memory stays with the process, so each worker would keep its largest block's worth
    of memory between tasks. No library exposes ``malloc_trim``; on other C libraries this does nothing.
    """
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _blocks(h: int, w: int, b: int) -> list[tuple[int, int, int, int, int, int]]:
    nby, nbx = -(-h // b), -(-w // b)
    return [(by, bx, by * b, min(h, by * b + b), bx * b, min(w, bx * b + b)) for by in range(nby) for bx in range(nbx)]


def _groups(boxes: list[tuple[int, int, int, int]], most: int = 256) -> list[list[int]]:
    """Indices of boxes ``(y0, y1, x0, x1)`` in groups of neighbours, each read and processed as one window.

    The boxes of fields crossing block lines lie along those lines; sorted by band of rows, then column,
    neighbours follow each other, and a group grows while its union box stays within four times the
    summed area of its boxes (and 2048 x 2048 pixels), so a group costs one read and one call where a box
    each would cost many, without reading much more than the boxes.
    """
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][0] // 512, boxes[i][2], boxes[i][0]))
    groups: list[list[int]] = []
    cur: list[int] = []
    u = [0, 0, 0, 0]
    area = 0
    for i in order:
        y0, y1, x0, x1 = boxes[i]
        if cur:
            v = [min(u[0], y0), max(u[1], y1), min(u[2], x0), max(u[3], x1)]
            a = area + (y1 - y0) * (x1 - x0)
            union = (v[1] - v[0]) * (v[3] - v[2])
            if len(cur) < most and union <= max(4 * a, 64 * 64) and union <= 2048 * 2048:
                cur.append(i)
                u, area = v, a
                continue
            groups.append(cur)
        cur, u, area = [i], [y0, y1, x0, x1], (y1 - y0) * (x1 - x0)
    if cur:
        groups.append(cur)
    return groups


def _bar(total: int, desc: str, unit: str, cfg: PolygonizeConfig) -> Any:
    from agriseg.batch import progress_bar

    # no bar where there is nothing to do (a raster without fields crossing blocks)
    return progress_bar(total=total, desc=desc, unit=unit, disable=not cfg.progress or total == 0)


# ---- pass 1: instances -> label file ----------------------------------------------------------------------


def _instances(job: _Job, pool: _Pool, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write every instance into the label file; returns labels (sorted), pixel counts, mean probability."""
    cfg = job.config
    blocks = _blocks(h, w, cfg.block_size)
    nby, nbx = blocks[-1][0] + 1, blocks[-1][1] + 1
    stats, opens, edges = [], {}, {}
    bar = _bar(len(blocks), f"fields {job.path.name if job.path else 'labels'}", "block", cfg)
    for (by, bx, *_), (st, e, o) in zip(blocks, pool.map(_instances_block, blocks), strict=True):
        stats.append(st)
        edges[(by, bx)] = e
        opens.update(o)
        bar.update(1)
    bar.close()
    windows = _join_open(opens, edges, nby, nbx, h, w)
    chunks = [[windows[i] for i in g] for g in _groups([cast("tuple[int, int, int, int]", w_[:4]) for w_ in windows])]
    bar = _bar(len(windows), "join cross-block fields", "field", cfg)
    for chunk, st in zip(chunks, pool.map(_instances_join, chunks), strict=True):
        stats.append(st)
        bar.update(len(chunk))
    bar.close()
    labels = np.concatenate([s[0] for s in stats]) if stats else np.zeros(0, np.int64)
    order = np.argsort(labels)
    pixels = np.concatenate([s[1] for s in stats])[order] if stats else np.zeros(0, np.int64)
    conf = np.concatenate([s[2] for s in stats])[order] if stats else np.zeros(0)
    return labels[order], pixels, conf


def _instance_stats(
    inst: np.ndarray, ids: np.ndarray, first: np.ndarray, prob: np.ndarray | None, y0: int, x0: int, w: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scene labels (first pixel's scene index + 1) of a window's instances, a lookup table from window
    labels to them, pixel counts and mean field probability (NaN without probabilities)."""
    r, c = np.divmod(first, inst.shape[1])
    scene = (r + y0).astype(np.int64) * w + (c + x0) + 1
    lut = np.zeros(int(inst.max(initial=0)) + 1, np.int64)
    lut[ids] = scene
    counts = np.bincount(inst.ravel(), minlength=len(lut))[ids]
    if prob is not None:
        sums = np.bincount(inst.ravel(), weights=prob.ravel(), minlength=len(lut))[ids]
        conf = sums / np.maximum(counts, 1) / 255.0
    else:
        conf = np.full(len(ids), np.nan)
    return scene, lut, counts.astype(np.int64), conf


def _instances_block(block: tuple[int, ...]) -> tuple[tuple, dict[str, np.ndarray], dict]:
    """One block: instances of the components inside it into the label file; edge labels and boxes of the
    components that touch an inner block edge."""
    job, src = _SOURCE["job"], _SOURCE["src"]
    cfg = job.config
    h, w = src.ds.height, src.ds.width
    by, bx, y0, y1, x0, x1 = block
    nbx = -(-w // cfg.block_size)
    cls, prob = src.read(y0, y1, x0, x1)
    mask = cls == cfg.field_class
    lab, _ = label_components(mask)
    e: dict[str, np.ndarray] = {}
    if y0 > 0:
        e["top"] = lab[0].copy()
    if y1 < h:
        e["bottom"] = lab[-1].copy()
    if x0 > 0:
        e["left"] = lab[:, 0].copy()
    if x1 < w:
        e["right"] = lab[:, -1].copy()
    open_ids = np.unique(np.concatenate([v for v in e.values()] or [np.zeros(0, np.int32)]))
    open_ids = open_ids[open_ids > 0]
    comp_first = first_pixels(lab, lab, [])  # scipy numbers components in raster order of their first pixel
    opens: dict = {}
    if open_ids.size:
        slices = ndimage.find_objects(lab)
        firsts = np.zeros(int(lab.max()) + 1, np.int64)
        firsts[comp_first[0]] = comp_first[1]
        for i in open_ids.tolist():
            sy, sx = slices[i - 1]
            r, col = divmod(int(firsts[i]), x1 - x0)
            opens[(by * nbx + bx, i)] = _Open(
                [y0 + sy.start, y0 + sy.stop, x0 + sx.start, x0 + sx.stop], (y0 + r, x0 + col)
            )
        is_open = np.zeros(int(lab.max()) + 1, bool)
        is_open[open_ids] = True
        lab[is_open[lab]] = 0
        mask = lab > 0
        keep = ~is_open[comp_first[0]]
        comp_first = comp_first[0][keep], comp_first[1][keep]
    inst, _, split = split_instances(mask, prob, cfg, (y0, x0), (h, w), components=lab)
    ids, first = first_pixels(inst, lab, split, comp_first)
    scene, lut, counts, conf = _instance_stats(inst, ids, first, prob, y0, x0, w)
    values = lut.astype(job.store.dtype)[inst]
    values[cls == cfg.boundary_class] = GAP  # never a field pixel
    job.store.write(y0, x0, values)
    del values, inst, lab, cls, prob, mask
    _release_memory()
    return (scene, counts, conf), e, opens


def _instances_join(windows: list[tuple[int, int, int, int, int, int]]) -> tuple:
    """Components crossing block lines, each split whole; a group of them read and labelled as one window.

    Each window is a component's box plus a 1-px margin, so the group's union window holds every one of
    its components whole.
    """
    job, src = _SOURCE["job"], _SOURCE["src"]
    cfg = job.config
    h, w = src.ds.height, src.ds.width
    y0, y1 = min(t[0] for t in windows), max(t[1] for t in windows)
    x0, x1 = min(t[2] for t in windows), max(t[3] for t in windows)
    cls, prob = src.read(y0, y1, x0, x1)
    lab, n = label_components(cls == cfg.field_class)
    wanted = np.zeros(n + 1, bool)
    wanted[[lab[fy - y0, fx - x0] for *_, fy, fx in windows]] = True
    own = wanted[lab]
    comps = np.where(own, lab, 0)
    inst, _, split = split_instances(own, prob, cfg, (y0, x0), (h, w), components=comps)
    ids, first = first_pixels(inst, comps, split)
    scene, lut, counts, conf = _instance_stats(inst, ids, first, prob, y0, x0, w)
    job.store.write(y0, x0, lut[inst].astype(job.store.dtype, copy=False), where=own)
    del inst, lab, own, comps, cls, prob
    _release_memory()
    return scene, counts, conf


def _join_open(opens: dict, edges: dict, nby: int, nbx: int, h: int, w: int) -> list[tuple[int, ...]]:
    """Join components crossing block edges: one window (box + 1-px margin, first pixel) per field."""
    uf = _UnionFind()
    for key in opens:
        uf.find(key)
    for by in range(nby):
        for bx in range(nbx):
            e, bi = edges[(by, bx)], by * nbx + bx
            if by + 1 < nby:
                a, c = e["bottom"], edges[(by + 1, bx)]["top"]
                for la, lc in np.unique(np.stack([a, c], 1)[(a > 0) & (c > 0)], axis=0).tolist():
                    uf.union((bi, la), (bi + nbx, lc))
            if bx + 1 < nbx:
                a, c = e["right"], edges[(by, bx + 1)]["left"]
                for la, lc in np.unique(np.stack([a, c], 1)[(a > 0) & (c > 0)], axis=0).tolist():
                    uf.union((bi, la), (bi + 1, lc))
    groups: dict[Any, _Open] = {}
    for key, o in opens.items():
        r = uf.find(key)
        g = groups.get(r)
        if g is None:
            groups[r] = _Open(list(o.bbox), o.first)
        else:
            g.bbox = [
                min(g.bbox[0], o.bbox[0]),
                max(g.bbox[1], o.bbox[1]),
                min(g.bbox[2], o.bbox[2]),
                max(g.bbox[3], o.bbox[3]),
            ]
            g.first = min(g.first, o.first)
    return [
        (max(0, g.bbox[0] - 1), min(h, g.bbox[1] + 1), max(0, g.bbox[2] - 1), min(w, g.bbox[3] + 1), *g.first)
        for g in groups.values()
    ]


# ---- pass 2: label file -> polygons -----------------------------------------------------------------------


def _split_window(job: _Job, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, int, int]:
    """Gap-split labels of a window plus a halo, and the window's offset in them.

    The halo is as wide as the gap split needs, and one pixel more (the nodes on the window's edge see the
    pixels beyond it); outside the scene the labels are :data:`OUTSIDE`.
    """
    st = job.store
    halo = gap_halo(job.config.split_boundary_px) + 1
    # beyond the scene's edge a frame as wide as the split reaches is enough: OUTSIDE pixels pass nothing on, so
    # more of them change no label (a halo of a 1000-px split, 3 million px, was 1.3 TiB on a 578 px scene)
    frame = int(np.ceil(job.config.split_boundary_px)) + 1
    Y0, Y1 = max(y0 - halo, -frame), min(y1 + halo, st.height + frame)
    X0, X1 = max(x0 - halo, -frame), min(x1 + halo, st.width + frame)
    raw = np.full((Y1 - Y0, X1 - X0), OUTSIDE, st.dtype)
    r0, r1, c0, c1 = max(0, Y0), min(st.height, Y1), max(0, X0), min(st.width, X1)
    st.read(r0, r1, c0, c1, out=raw[r0 - Y0 : r1 - Y0, c0 - X0 : c1 - X0])
    return split_gaps(raw, job.config.split_boundary_px, in_place=True), y0 - Y0, x0 - X0


def _polygons(job: _Job, pool: _Pool, h: int, w: int) -> Traced:
    """Every field's polygon: blocks first, then the fields that cross block lines."""
    cfg = job.config
    blocks = _blocks(h, w, cfg.block_size)
    parts: list[Traced] = []
    crossing: dict[int, tuple[int, int, int, int]] = {}
    bar = _bar(len(blocks), "polygons", "block", cfg)
    for tr, cross in pool.map(_polygons_block, blocks):
        parts.append(tr)
        for v, (a, b, c, d) in cross.items():
            g = crossing.get(v)
            crossing[v] = (a, b, c, d) if g is None else (min(g[0], a), max(g[1], b), min(g[2], c), max(g[3], d))
        bar.update(1)
    bar.close()
    items = sorted((v, *box) for v, box in crossing.items())
    chunks = _groups_of(items)
    bar = _bar(len(items), "polygons of cross-block fields", "field", cfg)
    for chunk, tr in zip(chunks, pool.map(_polygons_join, chunks), strict=True):
        parts.append(tr)
        bar.update(len(chunk))
    bar.close()
    return _concat(parts)


def _concat(parts: list[Traced]) -> Traced:
    import shapely

    if not parts:
        return Traced(np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0, bool), np.zeros((0, 2), np.int64))
    geoms = np.concatenate([shapely.from_wkb(p.geoms) if len(p.geoms) else p.geoms for p in parts])
    return Traced(
        np.concatenate([p.values for p in parts]),
        np.asarray(geoms, object),
        np.concatenate([p.bad for p in parts]),
        np.concatenate([p.first for p in parts]),
    )


def _wkb(tr: Traced) -> Traced:
    """The same polygons as WKB (cheap to send between processes), multi-part fields joined."""
    import shapely

    values, geoms, bad, first = tr.values, tr.geoms, tr.bad, tr.first
    if len(values) and len(np.unique(values)) < len(values):  # a field traced as several parts
        u, inv = np.unique(values, return_inverse=True)
        geoms = np.asarray(
            [
                shapely.multipolygons(geoms[inv == i]) if (inv == i).sum() > 1 else geoms[inv == i][0]
                for i in range(len(u))
            ],
            object,
        )
        bad = np.bincount(inv, weights=bad, minlength=len(u)) > 0
        first = np.stack([first[inv == i].min(0) for i in range(len(u))])
        values = u
    return Traced(values, shapely.to_wkb(geoms) if len(geoms) else geoms, bad, first)


def _polygons_block(block: tuple[int, ...]) -> tuple[Traced, dict[int, tuple[int, int, int, int]]]:
    """Polygons of the fields inside one block, and the boxes (in the scene) of those crossing its edges."""
    job = _SOURCE["job"]
    st = job.store
    _, _, y0, y1, x0, x1 = block
    lab, oy, ox = _split_window(job, y0, y1, x0, x1)
    inner = lab[oy : oy + y1 - y0, ox : ox + x1 - x0]
    edges = []
    if y0 > 0:
        edges.append(inner[0])
    if y1 < st.height:
        edges.append(inner[-1])
    if x0 > 0:
        edges.append(inner[:, 0])
    if x1 < st.width:
        edges.append(inner[:, -1])
    cross = np.unique(np.concatenate(edges)) if edges else np.zeros(0, inner.dtype)
    cross = cross[cross > 0]
    framed = lab[oy - 1 : oy + y1 - y0 + 1, ox - 1 : ox + x1 - x0 + 1]
    # the fields crossing the block are traced whole later, from the union of their boxes in every block
    tr, _ = trace_coverage(framed, (x0, y0), job.tolerance, drop=cross)
    labels, b = tr.dropped
    boxes = {
        int(v): (y0 + int(a), y0 + int(bb), x0 + int(c), x0 + int(d))
        for v, (a, bb, c, d) in zip(labels.tolist(), b.tolist(), strict=True)
    }
    del lab, framed, inner
    _release_memory()
    return _wkb(tr), boxes


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _polygons_join(
    items: list[tuple[int, int, int, int, int]], frozen: Mapping[Any, float] | None = None, arcs: bool = False
):
    """Fields crossing block lines (``(label, y0, y1, x0, x1)``, box of their pixels), traced whole from
    the union of their boxes: one read, one gap split and one tracing call for the group."""
    job = _SOURCE["job"]
    st = job.store
    y0, y1 = max(0, min(t[1] for t in items) - 1), min(st.height, max(t[2] for t in items) + 1)
    x0, x1 = max(0, min(t[3] for t in items) - 1), min(st.width, max(t[4] for t in items) + 1)
    lab, oy, ox = _split_window(job, y0, y1, x0, x1)
    framed = lab[oy - 1 : oy + y1 - y0 + 1, ox - 1 : ox + x1 - x0 + 1]
    keep = np.asarray(sorted(t[0] for t in items), dtype=lab.dtype)
    tr, arc_lists = trace_coverage(framed, (x0, y0), job.tolerance, frozen, arcs, keep=keep)
    del lab, framed
    _release_memory()
    if arcs:
        return tr, arc_lists
    return _wkb(tr)


def _repair(job: _Job, traced: Traced, rounds: int = 24) -> Traced:
    """Recompute fields whose simplified arcs crossed, with the arcs involved simplified less.

    A field is bad when its polygon is invalid, a ring collapsed, or the coverage check finds an edge of it
    that does not match its neighbours'. Its arcs get a tolerance of their own (:data:`REPAIR_STEPS` of the
    job's, one step further each time the field is bad again, down to none), and it and every field touching
    it are traced again, so the fields on the other side of such an arc use the same line; a field still bad with
    every arc unsimplified gets the arcs of the fields touching it unsimplified too. Its arcs were left
    unsimplified at once before: at --simplify 20-50 m every field of a cluster of crossings kept each pixel
    step, and a larger tolerance gave more vertices than a smaller one (session 107's sweep).
    """
    import shapely

    geoms, bad = traced.geoms, traced.bad.copy()
    if len(geoms) == 0:
        return traced
    bad |= _coverage_bad(geoms)  # over every field, so the fields found bad do not depend on the blocks
    # the tolerances an arc of a bad field gets, px: shares of the job's, then one pixel where that is less than
    # the last share (at --simplify 500 m the last share is 6 px), then none
    ladder = [job.tolerance * f for f in REPAIR_STEPS if f > 0]
    ladder += [1.0] if ladder and ladder[-1] > 1.0 else []
    ladder.append(0.0)
    frozen: dict[Any, float] = {}  # arc key -> its tolerance (px)
    steps: dict[Any, int] = {}  # arc key -> how many times a field of it was bad
    for _ in range(rounds):
        if not bad.any():
            return traced
        idx = np.flatnonzero(bad)
        keys: set = set()
        for group in _groups_of(_items(traced, idx, job)):
            _, arc_lists = _polygons_join(group, arcs=True)
            for arcs in arc_lists:
                keys.update(arcs)
        lowered = False
        for k in keys:
            steps[k] = steps.get(k, 0) + 1
            tol = min(ladder[min(steps[k], len(ladder)) - 1], frozen.get(k, math.inf))  # never raised again (an
            lowered |= frozen.get(k) != tol  # arc a neighbour's escalation left unsimplified went back up: the
            frozen[k] = tol  # repair swung between two states at --simplify 500 m until its rounds ran out)
        tree = shapely.STRtree(geoms)
        near = np.unique(np.concatenate([idx, tree.query(geoms[idx], predicate="intersects")[1]]))
        if not lowered:  # bad with every arc unsimplified already: so are the arcs of every field touching them
            # (a field around a bad one kept its simplified ring and lost the hole: overlaps at --simplify 500 m)
            for group in _groups_of(_items(traced, near, job)):
                for arcs in _polygons_join(group, arcs=True)[1]:
                    frozen.update(dict.fromkeys(arcs, 0.0))
        new = _concat([_polygons_join(group, frozen=frozen) for group in _groups_of(_items(traced, near, job))])
        pos = np.searchsorted(traced.values, new.values) if _sorted(traced.values) else None
        if pos is None:
            order = np.argsort(traced.values)
            pos = order[np.searchsorted(traced.values, new.values, sorter=order)]
        geoms[pos] = new.geoms
        bad[:] = False
        bad[pos] = new.bad
        local = np.unique(np.concatenate([pos, tree.query(geoms[pos], predicate="intersects")[1]]))
        bad[local] |= _coverage_bad(geoms[local])
    if bad.any():  # never expected: keep the fields valid at least
        geoms[bad] = shapely.make_valid(geoms[bad])
    return traced


REPAIR_STEPS = (0.7, 0.5, 0.35, 0.25, 0.125, 0.0)
"""The tolerance of an arc of a field found bad (crossed arcs), as a share of the job's: the first time, the
second, ... (then one pixel, then none). On 2,143 fields polygonized from the real Sentinel-2 scene, arcs left
unsimplified at once gave 31,088 coordinates at --simplify 10 m and 41,391 at 50 m; these steps (with small
rings simplified less rather than kept as traced) give 19,481 and 22,894."""


def _groups_of(items: list[tuple[int, int, int, int, int]]) -> list[list[tuple[int, int, int, int, int]]]:
    return [[items[i] for i in g] for g in _groups([it[1:] for it in items])]


def _sorted(a: np.ndarray) -> bool:
    return bool(len(a) < 2 or (a[1:] >= a[:-1]).all())


def _items(traced: Traced, idx: np.ndarray, job: _Job) -> list[tuple[int, int, int, int, int]]:
    """Boxes to trace fields again from: their polygon's bounds, widened by the simplification tolerance."""
    import shapely

    b = shapely.bounds(traced.geoms[idx])
    m = int(np.ceil(job.tolerance)) + 2
    st = job.store
    return [
        (
            int(v),
            max(0, int(np.floor(y0)) - m),
            min(st.height, int(np.ceil(y1)) + m),
            max(0, int(np.floor(x0)) - m),
            min(st.width, int(np.ceil(x1)) + m),
        )
        for v, (x0, y0, x1, y1) in zip(traced.values[idx].tolist(), b.tolist(), strict=True)
    ]


def _coverage_bad(geoms: np.ndarray) -> np.ndarray:
    """Polygons with an edge that crosses or partly matches a neighbour's (``shapely.coverage_invalid_edges``)."""
    import shapely

    if len(geoms) < 2:
        return np.zeros(len(geoms), bool)
    edges = shapely.coverage_invalid_edges(geoms)
    return ~shapely.is_empty(edges)


WORKDIR_PREFIX = "agriseg-polygonize-"


def _remove_dead_workdirs() -> None:
    """Remove the label files of polygonisers whose process is gone: a Dask worker stopped by a Ctrl-C (or
    killed) does not run its ``TemporaryDirectory`` cleanup, and each file holds 4 bytes per pixel of a scene
    (about 480 MB for a whole Sentinel-2 tile). Work folders are named ``agriseg-polygonize-<pid>-...``."""
    import shutil

    from agriseg.data.files import pid_alive

    for d in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        pid = d.name.removeprefix(WORKDIR_PREFIX).split("-", 1)[0]
        if pid.isdigit() and d.is_dir() and not pid_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
