"""Seamless blockwise polygonisation of a field class / probability raster with bounded memory.

Pass 1 reads one block at a time and labels 4-connected field components. Components that do not touch
an inner block edge are complete: they are split into field instances and polygonised at once. Components
touching an inner edge are recorded (bounding box, first pixel, edge labels). Union-find over the shared
block edges joins the pieces of every component that crosses block lines; pass 2 reads each joined
component's bounding box once and polygonises it whole. The result equals a single-pass polygonisation:
no field is split by a block edge (memory is bounded by the block size and the largest field's box).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agriseg.vector.config import PolygonizeConfig
from agriseg.vector.instances import instance_polygons, label_components, label_instances


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
        config: polygonisation settings (``block_size`` bounds the memory).

    Returns:
        Records sorted by each field's first pixel (row-major) and the raster's rasterio profile.
    """
    from tqdm import tqdm

    cfg = config or PolygonizeConfig()
    src = RasterSource(Path(path), cfg)
    try:
        h, w, b = src.ds.height, src.ds.width, cfg.block_size
        nby, nbx = -(-h // b), -(-w // b)
        records: list[dict[str, Any]] = []
        opens: dict[tuple[int, int], _Open] = {}
        edges: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        bar = tqdm(total=nby * nbx, desc=f"polygonize {Path(path).name}", unit="block", disable=not cfg.progress)
        for by in range(nby):
            for bx in range(nbx):
                y0, x0 = by * b, bx * b
                y1, x1 = min(h, y0 + b), min(w, x0 + b)
                cls, prob = src.read(y0, y1, x0, x1)
                mask = cls == cfg.field_class
                lab, _ = label_components(mask)
                bi = by * nbx + bx
                e: dict[str, np.ndarray] = {}
                if y0 > 0:
                    e["top"] = lab[0].copy()
                if y1 < h:
                    e["bottom"] = lab[-1].copy()
                if x0 > 0:
                    e["left"] = lab[:, 0].copy()
                if x1 < w:
                    e["right"] = lab[:, -1].copy()
                edges[(by, bx)] = e
                open_ids = np.unique(np.concatenate([v for v in e.values()] or [np.zeros(0, np.int32)]))
                open_ids = open_ids[open_ids > 0]
                if open_ids.size:
                    is_open = np.zeros(int(lab.max()) + 1, bool)
                    is_open[open_ids] = True
                    closed = mask & ~is_open[lab]
                else:
                    closed = mask
                inst, _ = label_instances(closed, prob, cfg, (y0, x0), (h, w))
                records += instance_polygons(inst, x0, y0, prob)
                if open_ids.size:
                    _record_open(lab, open_ids, bi, y0, x0, opens)
                bar.update(1)
        bar.close()
        records += _join_open(src, opens, edges, nby, nbx, cfg)
        profile = dict(src.ds.profile, tags=src.ds.tags())
    finally:
        src.close()
    records.sort(key=lambda r: r["key"])
    return records, profile


def _record_open(lab: np.ndarray, ids: np.ndarray, bi: int, y0: int, x0: int, opens: dict) -> None:
    from scipy import ndimage

    objs = ndimage.find_objects(lab)
    for i in ids.tolist():
        sl = objs[i - 1]
        r, c0 = sl[0].start, sl[1].start
        c = c0 + int(np.argmax(lab[r, c0 : sl[1].stop] == i))  # first pixel in raster order
        opens[(bi, i)] = _Open([y0 + sl[0].start, y0 + sl[0].stop, x0 + sl[1].start, x0 + sl[1].stop], (y0 + r, x0 + c))


def _join_open(
    src: RasterSource, opens: dict, edges: dict, nby: int, nbx: int, cfg: PolygonizeConfig
) -> list[dict[str, Any]]:
    """Join components crossing block edges and polygonise each one whole."""
    from tqdm import tqdm

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
    out: list[dict[str, Any]] = []
    h, w = src.ds.height, src.ds.width
    for g in tqdm(list(groups.values()), desc="join cross-block fields", unit="field", disable=not cfg.progress):
        y0, y1 = max(0, g.bbox[0] - 1), min(h, g.bbox[1] + 1)
        x0, x1 = max(0, g.bbox[2] - 1), min(w, g.bbox[3] + 1)
        cls, prob = src.read(y0, y1, x0, x1)
        lab, _ = label_components(cls == cfg.field_class)
        comp = lab[g.first[0] - y0, g.first[1] - x0]
        inst, _ = label_instances(lab == comp, prob, cfg, (y0, x0), (h, w))
        out += instance_polygons(inst, x0, y0, prob)
    return out
