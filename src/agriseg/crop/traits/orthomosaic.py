"""Per-plot statistics of drone orthomosaics, read in windows so a mosaic of any size fits in memory.

The mosaic is a GeoTIFF: one band (a vegetation mask, > 0 = vegetation, e.g. a predicted mosaic) or RGB(A)
8-bit (segmented window by window with the crop model, each window read with some context around it). The
plots are polygons in any vector format and CRS (reprojected to the mosaic's). The mosaic is walked in
windows placed by :func:`agriseg.tiling.window_starts`; each pixel is counted once, in the window whose
core holds it. A pixel belongs to every plot that holds its centre: overlapping plots (a plot nested in
another) are each measured on their own full area, by walking the mosaic once per layer of plots that do
not overlap (:func:`plot_layers`; one walk when no plots overlap).
Pixels outside the mosaic, under the mosaic's nodata value or transparent (alpha 0) are not counted; a one-band
mask whose nodata is 0 (its background) reads 0 as background, with a warning.

Per plot: pixels, area, green fraction, gap fraction, green area index (:mod:`~agriseg.crop.traits.gai`)
and plant count: the 8-connected vegetation components inside the plot with at least ``min_plant_size``
pixels. A component crossing window borders is joined across them, so counts do not depend on the window.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from skimage import measure

from agriseg.crop.config import PlotsConfig
from agriseg.crop.traits.gai import green_area_index
from agriseg.crop.traits.inputs import Segmentation
from agriseg.raster.io import open_scene, pixel_area_m2, read_window
from agriseg.tiling import window_starts

Segment = Callable[[np.ndarray], Segmentation]


def read_plots(path: str | Path, crs: Any, plot_id: str | None = None) -> Any:
    """Plot polygons reprojected to ``crs``, with a unique ``plot_id`` column.

    Raises:
        FileNotFoundError: missing file.
        ValueError: unreadable file, no CRS, no polygons, duplicate ids or a missing id column.
    """
    import geopandas as gpd

    from agriseg.vector.read import read_vector

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: plots file not found")
    gdf = read_vector(path)
    if len(gdf) == 0:
        raise ValueError(f"{path}: has no plots")
    if gdf.crs is None:
        raise ValueError(f"{path}: has no CRS (set one, e.g. ogr2ogr -a_srs EPSG:...)")
    col = plot_id or next((c for c in ("plot_id", "id") if c in gdf.columns), None)
    if col is None:
        ids = [str(i) for i in range(1, len(gdf) + 1)]
    elif col not in gdf.columns:
        raise ValueError(f"{path}: no column {col!r} (columns: {', '.join(map(str, gdf.columns))})")
    else:
        ids = gdf[col].astype(str).tolist()
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: plot ids in {col!r} are not unique")
    gdf = gdf.to_crs(crs) if crs is not None else gdf
    return gpd.GeoDataFrame({"plot_id": ids}, geometry=gdf.geometry.values, crs=gdf.crs)


def _cores(length: int, window: int) -> list[tuple[int, int]]:
    """Non-overlapping cores ``[start, end)`` of the windows of :func:`window_starts` (stride = window)."""
    starts = window_starts(length, window, window)
    return list(zip(starts, [*starts[1:], length], strict=True))


class _Vegetation:
    """Reads the vegetation and valid pixels of one window of an open mosaic."""

    def __init__(
        self, ds: Any, path: Path, margin: int, segment: Segment | None, warnings: list[str] | None = None
    ) -> None:
        self.ds, self.path, self.margin, self.segment = ds, path, margin, segment
        self.rgb = ds.count >= 3
        self.nodata = ds.nodata
        if not self.rgb and self.nodata == 0:  # GDAL and QGIS tools often write masks so
            self.nodata = None  # 0 is the mask's background: read as nodata, every plot was 100 % green
            if warnings is not None:
                warnings.append(f"{path}: declares nodata 0, which is also the mask's background; 0 is read as "
                                "background (pixels outside the mosaic's footprint count as bare ground)")  # fmt: skip
        if self.rgb and ds.dtypes[0] != "uint8":
            raise ValueError(f"{path}: an RGB mosaic must be 8-bit, this one is {ds.dtypes[0]}")
        if self.rgb and segment is None:
            raise ValueError(f"{path}: an RGB mosaic needs a model to segment it")

    def __call__(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
        """(vegetation, valid) boolean ``(y1 - y0, x1 - x0)``."""
        ds, nodata = self.ds, self.nodata
        if not self.rgb:
            band = read_window(ds, self.path, y0, y1, x0, x1)[0]
            valid = np.isfinite(band) if nodata is None or np.isnan(nodata) else band != nodata
            return (band > 0) & valid, valid
        m = self.margin
        ya, yb, xa, xb = max(0, y0 - m), min(ds.height, y1 + m), max(0, x0 - m), min(ds.width, x1 + m)
        data = read_window(ds, self.path, ya, yb, xa, xb)  # (C, h, w)
        core = (slice(y0 - ya, y1 - ya), slice(x0 - xa, x1 - xa))
        valid = data[3][core] > 0 if ds.count >= 4 else np.ones((y1 - y0, x1 - x0), bool)
        if nodata is not None and not np.isnan(nodata):
            valid &= ~(data[:3][(slice(None), *core)] == nodata).all(0)
        assert self.segment is not None
        classes = self.segment(np.ascontiguousarray(data[:3].transpose(1, 2, 0))).classes
        return (classes[core] > 0) & valid, valid


def plot_stats(
    mosaic: str | Path,
    config: PlotsConfig,
    segment: Segment | None = None,
    progress: bool = False,
    warnings: list[str] | None = None,
) -> Any:
    """Statistics of every plot of ``config.plots`` in one mosaic (see the module docstring).

    Args:
        mosaic: the GeoTIFF.
        config: plots file, window size, plant size, GAI angles.
        segment: photo -> (class ids, crop/weed?) for RGB mosaics (e.g.
            :class:`agriseg.crop.traits.inputs.ModelSegmenter`).
        progress: show a progress bar over windows.
        warnings: collects what the user should know about the mosaic (naming it).

    Returns:
        A GeoDataFrame in the mosaic's CRS: ``plot_id``, ``status`` (``ok``, ``outside mosaic``, ``empty``),
        ``pixels``, ``area_m2``, ``green_fraction``, ``gap_fraction``, ``green_area_index``,
        ``gai_saturated``, ``plant_count``, geometry.
    """
    import rasterio
    from rasterio import features, windows

    from agriseg.batch import progress_bar

    path = Path(mosaic)
    try:
        info = open_scene(path)
    except ValueError as err:
        if "has no CRS" not in str(err):
            raise
        raise ValueError(
            f"{path}: has no CRS, so the polygons of {Path(config.plots).name} cannot be placed on it (a photo's "
            "regions are a CSV of pixel boxes: --plots regions.csv)"
        ) from None
    plots = read_plots(config.plots, info.crs, config.plot_id)
    n_plots = len(plots)
    pixels = np.zeros(n_plots + 1, np.int64)
    green = np.zeros(n_plots + 1, np.int64)
    comp_area: list[np.ndarray] = []  # per window: area of each local component
    comp_plot: list[np.ndarray] = []  # per window: plot index of each local component
    edges: list[np.ndarray] = []  # (2, E) global component ids joined across window borders
    n_comp = 0
    sindex = plots.sindex
    layer_of = plot_layers(plots.geometry)
    rows, cols = _cores(info.height, config.window), _cores(info.width, config.window)
    with rasterio.open(path) as ds:
        at_scale = getattr(segment, "for_mosaic", None)  # the model: one scale for the whole mosaic
        veg_of = _Vegetation(ds, path, config.margin, at_scale(ds.height, ds.width) if at_scale else segment, warnings)
        n_layers = int(layer_of.max()) + 1 if n_plots else 1
        bar = progress_bar(total=n_layers * len(rows) * len(cols), desc=path.name, unit="win", disable=not progress)
        for layer in range(n_layers):
            bottom = np.zeros(info.width, np.int64)  # global ids of the last row of the band above (0 = none)
            for y0, y1 in rows:
                new_bottom = np.zeros_like(bottom)
                right = np.zeros(0, np.int64)
                for x0, x1 in cols:
                    win = windows.Window(x0, y0, x1 - x0, y1 - y0)
                    tf = windows.transform(win, info.transform)
                    hits = sindex.query(_box(windows.bounds(win, info.transform)))
                    shapes = [
                        (plots.geometry.iloc[i], i + 1)
                        for i in sorted(hits)
                        if layer_of[i] == layer and not plots.geometry.iloc[i].is_empty
                    ]
                    pid = np.zeros((y1 - y0, x1 - x0), np.int32)
                    if shapes:
                        pid = features.rasterize(shapes, out_shape=pid.shape, transform=tf, fill=0, dtype="int32")
                    veg, valid = veg_of(y0, y1, x0, x1)
                    pid[~valid] = 0
                    pixels += np.bincount(pid.ravel(), minlength=n_plots + 1)
                    green += np.bincount(pid[veg].ravel(), minlength=n_plots + 1)
                    # 8-connected vegetation of one plot (pixels of two plots never join)
                    lab = measure.label(np.where(veg, pid, 0), connectivity=2, background=0)
                    n = int(lab.max())
                    gl = np.where(lab > 0, lab + n_comp, 0).astype(np.int64)
                    comp_area.append(np.bincount(lab.ravel(), minlength=n + 1)[1:])
                    plot_of = np.zeros(n + 1, np.int64)
                    plot_of[lab.ravel()] = pid.ravel()
                    comp_plot.append(plot_of[1:])
                    edges += _seams(gl, bottom, right, x0)
                    new_bottom[x0:x1] = gl[-1]
                    right = gl[:, -1]
                    n_comp += n
                    bar.update()
                bottom = new_bottom
        bar.close()
    counts = _plant_counts(comp_area, comp_plot, edges, n_comp, n_plots, config.min_plant_size)
    return _table(plots, pixels, green, counts, info, config)


def plot_layers(geoms: Any) -> np.ndarray:
    """A layer per plot such that no two plots of one layer overlap (greedy, in input order).

    Plots that only touch (a shared border) do not overlap; a plot nested in another goes to another layer.
    """
    from shapely import STRtree

    geoms = list(geoms)
    layer = np.zeros(len(geoms), np.int64)
    tree = STRtree([g for g in geoms])
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        taken = {
            int(layer[j]) for j in tree.query(g) if j < i and geoms[j] is not None and g.intersection(geoms[j]).area > 0
        }
        layer[i] = next(k for k in range(len(taken) + 1) if k not in taken)
    return layer


def _box(bounds: tuple[float, float, float, float]) -> Any:
    from shapely.geometry import box

    return box(*bounds)


def _seams(gl: np.ndarray, bottom: np.ndarray, right: np.ndarray, x0: int) -> list[np.ndarray]:
    """Pairs of global ids that touch (8-connectivity) across the top and left borders of a window core.

    The plot of each id is checked later; here ids just have to be vegetation on both sides.
    """
    out = []
    h, w = gl.shape
    top = gl[0]
    for dx in (-1, 0, 1):
        xs = np.arange(w) + x0 + dx
        ok = (xs >= 0) & (xs < len(bottom))
        a, b = top[ok], bottom[xs[ok]]
        keep = (a > 0) & (b > 0)
        out.append(np.stack([a[keep], b[keep]]))
    if len(right):
        left = gl[:, 0]
        for dy in (-1, 0, 1):
            ys = np.arange(h) + dy
            ok = (ys >= 0) & (ys < h)
            a, b = left[ok], right[ys[ok]]
            keep = (a > 0) & (b > 0)
            out.append(np.stack([a[keep], b[keep]]))
    return out


def _plant_counts(
    comp_area: list[np.ndarray],
    comp_plot: list[np.ndarray],
    edges: list[np.ndarray],
    n_comp: int,
    n_plots: int,
    min_size: int,
) -> np.ndarray:
    """Plants per plot: components joined across windows (within one plot), at least ``min_size`` pixels."""
    if n_comp == 0:
        return np.zeros(n_plots + 1, np.int64)
    area = np.concatenate([np.zeros(1, np.int64), *comp_area])
    plot = np.concatenate([np.zeros(1, np.int64), *comp_plot])
    e = np.concatenate(edges, axis=1) if edges else np.zeros((2, 0), np.int64)
    e = e[:, plot[e[0]] == plot[e[1]]]  # vegetation of two plots touching at a window border stays apart
    graph = sparse.coo_matrix((np.ones(e.shape[1]), (e[0], e[1])), shape=(n_comp + 1, n_comp + 1))
    _, root = connected_components(graph, directed=False)
    total = np.bincount(root, weights=area)
    plot_of_root = np.zeros(len(total), np.int64)
    plot_of_root[root] = plot
    is_plant = total >= min_size
    is_plant[root[0]] = False
    return np.bincount(plot_of_root[is_plant], minlength=n_plots + 1)


def _table(
    plots: Any, pixels: np.ndarray, green: np.ndarray, counts: np.ndarray, info: Any, config: PlotsConfig
) -> Any:
    """The per-plot GeoDataFrame."""
    px_m2 = pixel_area_m2(info.crs, info.transform, info.height, info.width)
    left, top = info.transform.c, info.transform.f
    from shapely.geometry import box

    extent = box(
        min(left, left + info.transform.a * info.width),
        min(top, top + info.transform.e * info.height),
        max(left, left + info.transform.a * info.width),
        max(top, top + info.transform.e * info.height),
    )
    out = plots.copy()
    status, gf, gai, sat = [], [], [], []
    for i, geom in enumerate(plots.geometry, start=1):
        n = int(pixels[i])
        if geom is None or geom.is_empty:
            status.append("empty")
        elif not geom.intersects(extent):
            status.append("outside mosaic")
        elif n == 0:
            status.append("empty")
        else:
            status.append("ok")
        f = green[i] / n if n else None
        g = green_area_index(float(f), config.zenith, config.leaf_projection) if f is not None else None
        gf.append(f)
        gai.append(g.value if g else None)
        sat.append(g.saturated if g else None)
    out["status"] = status
    out["pixels"] = pixels[1:]
    out["area_m2"] = pixels[1:] * px_m2
    out["green_fraction"] = gf
    out["gap_fraction"] = [None if f is None else 1.0 - f for f in gf]
    out["green_area_index"] = gai
    out["gai_saturated"] = sat
    out["plant_count"] = counts[1:]
    return out[
        [
            "plot_id",
            "status",
            "pixels",
            "area_m2",
            "green_fraction",
            "gap_fraction",
            "green_area_index",
            "gai_saturated",
            "plant_count",
            "geometry",
        ]
    ]
