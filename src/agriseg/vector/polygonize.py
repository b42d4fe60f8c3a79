"""Seamless blockwise polygonisation of a field class / probability raster with bounded memory.

Pass 1 reads one block at a time and labels 4-connected field components. Components that do not touch
an inner block edge are complete: they are split into field instances and polygonised at once. Components
touching an inner edge are recorded (bounding box, first pixel, edge labels). Union-find over the shared
block edges joins the pieces of every component that crosses block lines; pass 2 reads each joined
component's bounding box once and polygonises it whole. The result equals a single-pass polygonisation:
no field is split by a block edge (memory is bounded by the block size and the largest field's box).

Blocks and joined fields are independent tasks, shared by a pool of worker processes (one per core by
default): GDAL's polygoniser, scipy's labelling and the watershed hold Python's lock, so threads would
not run them side by side. Workers return polygons as WKB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agriseg.vector.config import PolygonizeConfig
from agriseg.vector.instances import (
    InstanceTable,
    instance_table,
    instance_table_many,
    label_components,
    label_instances,
)
from agriseg.vector.watershed import label_boxes


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
        raise ValueError(
            f"{path}: a {ds.count}-band {dtype} image, not a class raster; run `agriseg fields predict` on it "
            "and polygonize the result"
        )


@dataclass
class RasterSource:
    """Reads the class band and (if present) the field-probability band of a raster, by window."""

    path: Path
    config: PolygonizeConfig

    def __post_init__(self) -> None:
        import rasterio

        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: raster not found")
        try:
            self.ds = rasterio.open(self.path)
        except rasterio.errors.RasterioIOError as err:
            raise ValueError(f"{self.path}: not a readable raster ({err})") from err
        if self.ds.crs is None:
            raise ValueError(f"{self.path}: has no CRS; polygons need a georeferenced raster")
        check_class_raster(self.path, self.ds)
        # band 1 = class; bands 2.. = per-class probabilities (agriseg fields predict output)
        self.prob_band = 2 + self.config.field_class if self.ds.count >= 2 + self.config.field_class else None
        if self.config.separation == "watershed" and self.ds.count == 1:
            self.prob_band = None

    def read(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray | None]:
        from rasterio.windows import Window

        win = Window(x0, y0, x1 - x0, y1 - y0)
        try:
            cls = self.ds.read(1, window=win)
            prob = self.ds.read(self.prob_band, window=win) if self.prob_band else None
        except Exception as err:
            raise ValueError(f"{self.path}: cannot read rows {y0}-{y1}, cols {x0}-{x1} ({err})") from err
        if prob is not None and prob.dtype != np.uint8:
            prob = np.clip(np.rint(prob.astype(np.float32) * (255 if prob.max() <= 1 else 1)), 0, 255).astype(np.uint8)
        return cls, prob

    def close(self) -> None:
        self.ds.close()


def polygonize_pixels(path: str | Path, config: PolygonizeConfig | None = None) -> tuple[list[dict[str, Any]], Any]:
    """Field polygons of a raster in global pixel coordinates, blockwise and seamless.

    Args:
        path: class raster (1 band) or ``agriseg fields predict`` output (class + probability bands).
        config: polygonisation settings (``block_size`` bounds the memory of each process, ``workers``
            sets how many processes share the blocks).

    Returns:
        Records sorted by each field's first pixel (row-major) and the raster's rasterio profile.
    """
    table, profile = polygonize_table(path, config)
    return table.records(), profile


def polygonize_table(path: str | Path, config: PolygonizeConfig | None = None) -> tuple[InstanceTable, Any]:
    """:func:`polygonize_pixels` as one :class:`InstanceTable`, sorted by first pixel."""
    from tqdm import tqdm

    cfg = config or PolygonizeConfig()
    src = RasterSource(Path(path), cfg)
    try:
        h, w, b = src.ds.height, src.ds.width, cfg.block_size
        nby, nbx = -(-h // b), -(-w // b)
        profile = dict(src.ds.profile, tags=src.ds.tags())
        blocks = [
            (by, bx, by * b, min(h, by * b + b), bx * b, min(w, bx * b + b)) for by in range(nby) for bx in range(nbx)
        ]
        tables: list[InstanceTable] = []
        opens: dict[tuple[int, int], _Open] = {}
        edges: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        with _Pool(src, cfg, len(blocks)) as pool:
            bar = tqdm(total=len(blocks), desc=f"polygonize {Path(path).name}", unit="block", disable=not cfg.progress)
            for (by, bx, *_), (table, e, o) in zip(blocks, pool.map(_block_task, blocks), strict=True):
                tables.append(table.from_wkb())
                edges[(by, bx)] = e
                opens.update(o)
                bar.update(1)
            bar.close()
            windows = _join_open(opens, edges, nby, nbx, h, w)
            chunks = [windows[i : i + 64] for i in range(0, len(windows), 64)]
            bar = tqdm(total=len(windows), desc="join cross-block fields", unit="field", disable=not cfg.progress)
            for chunk, table in zip(chunks, pool.map(_join_task, chunks), strict=True):
                tables.append(table.from_wkb())
                bar.update(len(chunk))
            bar.close()
    finally:
        src.close()
    table = InstanceTable.concat(tables)
    order = np.lexsort((table.keys[:, 1], table.keys[:, 0]))
    return InstanceTable(table.keys[order], table.geoms[order], table.pixels[order], table.confidence[order]), profile


_POOL_MIN_PIXELS = 4 * 2**20

# The raster each process reads: the caller's own in-process, an opened copy in each worker process.
_SOURCE: RasterSource | None = None


def _open_worker(path: Path, config: PolygonizeConfig) -> None:
    global _SOURCE
    _SOURCE = RasterSource(path, config)


class _Pool:
    """Runs block tasks in ``config.workers`` processes (0 = one per CPU core), or in this process."""

    def __init__(self, src: RasterSource, config: PolygonizeConfig, n_blocks: int) -> None:
        import os

        n = config.workers
        if not n:  # auto: small rasters are done before worker processes would have started
            big = src.ds.height * src.ds.width >= _POOL_MIN_PIXELS
            n = len(os.sched_getaffinity(0)) if big and hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            n = n if big else 1
        import multiprocessing as mp

        if mp.current_process().daemon:  # e.g. a Dask worker: it may not start processes, and is one itself
            n = 1
        self.n = max(1, min(n, n_blocks))
        self.src, self.config, self.ex = src, config, None

    def __enter__(self) -> _Pool:
        global _SOURCE
        if self.n > 1:
            import multiprocessing as mp
            import threading
            from concurrent.futures import ProcessPoolExecutor

            # fork starts workers at once (they inherit the imports) but is only safe while this process runs
            # no other thread; otherwise workers start from a fresh server process
            methods = mp.get_all_start_methods()
            if "fork" in methods and threading.active_count() == 1:
                ctx = mp.get_context("fork")
            else:
                ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
            self.ex = ProcessPoolExecutor(
                self.n, mp_context=ctx, initializer=_open_worker, initargs=(self.src.path, self.config)
            )
        else:
            _SOURCE = self.src
        return self

    def map(self, fn: Any, items: list) -> Any:
        return self.ex.map(fn, items) if self.ex is not None else map(fn, items)

    def __exit__(self, *exc: object) -> None:
        global _SOURCE
        if self.ex is not None:
            self.ex.shutdown(cancel_futures=True)
        _SOURCE = None


def _block_task(block: tuple[int, ...]) -> tuple[InstanceTable, dict[str, np.ndarray], dict]:
    """Pass 1 on one block: polygons of the components inside it, edge labels and boxes of the others."""
    src = _SOURCE
    assert src is not None
    cfg = src.config
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
    opens: dict = {}
    if open_ids.size:
        boxes, firsts = label_boxes(lab, open_ids)
        for i, (a, b_, c, d), (r, col) in zip(open_ids.tolist(), boxes.tolist(), firsts.tolist(), strict=True):
            opens[(by * nbx + bx, i)] = _Open([y0 + a, y0 + b_, x0 + c, x0 + d], (y0 + r, x0 + col))
        is_open = np.zeros(int(lab.max()) + 1, bool)
        is_open[open_ids] = True
        lab[is_open[lab]] = 0
        mask = lab > 0
    inst, _ = label_instances(mask, prob, cfg, (y0, x0), (h, w), components=lab)
    return instance_table(inst, x0, y0, prob).to_wkb(), e, opens


def _join_task(windows: list[tuple[int, int, int, int, int, int]]) -> InstanceTable:
    """Pass 2: each joined component polygonised whole from its bounding box (plus a 1-px margin)."""
    src = _SOURCE
    assert src is not None
    cfg = src.config
    h, w = src.ds.height, src.ds.width
    out = []
    for y0, y1, x0, x1, fy, fx in windows:
        cls, prob = src.read(y0, y1, x0, x1)
        lab, _ = label_components(cls == cfg.field_class)
        comp = lab[fy - y0, fx - x0]
        inst, _ = label_instances(lab == comp, prob, cfg, (y0, x0), (h, w))
        out.append((inst, x0, y0, prob))
    return instance_table_many(out).to_wkb()


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
