"""Per-plot statistics of drone orthomosaics, read in windows so a mosaic of any size fits in memory.

The mosaic is a GeoTIFF: one band (a vegetation mask, > 0 = vegetation, e.g. a predicted mosaic) or a colour
mosaic (segmented window by window with the crop model, each window read with some context around it): its
bands described or coloured red, green, blue, else bands 1-3 (``bands`` picks others: a multispectral mosaic),
read as every agriseg reader reads pixels (integers by their bit depth, floats by their range). The
plots are polygons in any vector format and CRS (reprojected to the mosaic's). The mosaic is walked in
windows placed by :func:`agriseg.tiling.window_starts`; each pixel is counted once, in the window whose
core holds it. A pixel belongs to every plot that holds its centre: overlapping plots (a plot nested in
another) are each measured on their own full area, by walking the mosaic once per layer of plots that do
not overlap (:func:`plot_layers`; one walk when no plots overlap).
Pixels outside the mosaic, under the mosaic's nodata value or transparent (a band declared alpha, or GDAL's
mask) are not counted; a plot with data on less than 99 % of its area is ``partly outside``, with a warning
naming it. A one-band mask whose nodata is 0 (its background) reads 0 as background, with a warning.

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

from agriseg.batch import listed
from agriseg.crop.config import PlotsConfig
from agriseg.crop.traits.gai import green_area_index
from agriseg.crop.traits.inputs import Segmentation
from agriseg.raster.image import has_alpha_band, pick_rgb_bands
from agriseg.raster.io import band_values, open_scene, pixel_area_m2, read_window
from agriseg.tiling import window_starts

Segment = Callable[[np.ndarray], Segmentation]


# id columns looked for when --plot-id is not given, in this order, by name in any case, "_", "-" or " " left out
ID_COLUMNS = ("plotid", "plot", "id", "name", "plotname", "label")
ID_NAMED = frozenset({"plotid", "plot", "id"})  # columns called ids: one naming a plot twice is a mistake


def read_plots(path: str | Path, crs: Any, plot_id: str | None = None) -> Any:
    """Plot polygons reprojected to ``crs``, with a unique ``plot_id`` column first and the file's other
    columns after it (one that agriseg's tables also write is prefixed ``input_``).

    The id column is ``plot_id`` if given, else the first of :data:`ID_COLUMNS` the file has, else the row
    number (``gdf.attrs["id_column"]`` says which: None for row numbers).

    Raises:
        FileNotFoundError: missing file.
        ValueError: unreadable file, no CRS, no plots (or none with a geometry), geometries other than polygons,
            duplicate ids or a missing id column.
    """
    import geopandas as gpd

    from agriseg.vector.read import read_vector, reproject

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: plots file not found")
    gdf = read_vector(path)
    if len(gdf) == 0:
        raise ValueError(f"{path}: has no plots")
    if (gdf.geometry.isna() | gdf.geometry.is_empty).all():  # rows of a table whose shapes were not saved
        which = "its one plot has no geometry" if len(gdf) == 1 else f"none of its {len(gdf)} plots has a geometry"
        raise ValueError(f"{path}: {which} (null or empty)")
    if gdf.crs is None:
        raise ValueError(f"{path}: has no CRS (set one, e.g. ogr2ogr -a_srs EPSG:...)")
    x0, y0, x1, y1 = gdf.total_bounds
    if gdf.crs.is_geographic and not (-360 <= x0 <= x1 <= 360 and -90 <= y0 <= y1 <= 90):
        # a GeoJSON without "crs" is read as longitude / latitude (RFC 7946): metres of UTM there matched no mosaic
        why = ("a GeoJSON without 'crs' is read as WGS84" if path.suffix.lower() in (".geojson", ".json")
               else "a CRS set wrongly?")  # fmt: skip
        raise ValueError(f"{path}: its coordinates (up to {max(abs(x0), abs(x1), abs(y0), abs(y1)):.0f}) are no "
                         f"longitude / latitude, as its CRS {gdf.crs.to_string()} says ({why}): save the plots with "
                         "their CRS, e.g. as GeoPackage")  # fmt: skip
    kinds = gdf.geometry.dropna().geom_type
    other = kinds[~kinds.isin(["Polygon", "MultiPolygon"])]
    if len(other):  # a point is measured as the one pixel under it
        kind = other.iloc[0]
        raise ValueError(
            f"{path}: plots must be polygons, found {kind} ({len(other)} of {len(gdf)}; give plot polygons, e.g. "
            'buffered points: ogr2ogr -dialect SQLite -sql "SELECT ST_Buffer(geometry, 0.5), * FROM layer" '
            "out.gpkg in.gpkg)"
        )
    by_key = {_key(c): c for c in reversed(list(gdf.columns)) if c != gdf.geometry.name}
    # a guessed column must name each plot once (a "name" column of varieties does not): else the next one;
    # a column called an id that names a plot twice (a typo) is refused below when no other one does
    candidates = [by_key[k] for k in ID_COLUMNS if k in by_key]
    col = plot_id or next((c for c in candidates if _repeated(gdf[c]) is None), None)
    if col is None:
        col = next((c for c in candidates if _key(c) in ID_NAMED), None)
    if col is None:
        ids = [str(i) for i in range(1, len(gdf) + 1)]
    elif col not in gdf.columns:
        raise ValueError(f"{path}: no column {col!r} (columns: {', '.join(map(str, gdf.columns))})")
    else:
        ids = [_id_text(v) for v in gdf[col].tolist()]
        if "" in ids:  # a plot without its id cannot be joined back to the trial design
            rows = [str(r) for r, v in enumerate(ids, start=1) if v == ""]
            raise ValueError(f"{path}: plot{'s' if len(rows) > 1 else ''} in row{'s' if len(rows) > 1 else ''} "
                             f"{listed(rows, 5)} {'have' if len(rows) > 1 else 'has'} no {col!r}; give each plot "
                             "its id")  # fmt: skip
    if col is not None and (twice := _repeated(gdf[col])) is not None:
        raise ValueError(f"{path}: plot ids in {col!r} are not unique: {twice}; give --plot-id another column")
    bad = ~gdf.geometry.is_valid & ~gdf.geometry.isna() & ~gdf.geometry.is_empty
    if bad.any():  # a self-crossing ("bow-tie") polygon: its two loops are measured, as GIS tools repair it
        gdf = gdf.copy()
        gdf.loc[bad, gdf.geometry.name] = gdf.geometry[bad].make_valid()
    gdf = reproject(gdf, crs, path, "the mosaic's CRS") if crs is not None else gdf
    kept = {f"input_{c}" if c in RESERVED else str(c): gdf[c].values for c in gdf.columns
            if c not in (col, gdf.geometry.name)}  # fmt: skip
    out = gpd.GeoDataFrame({"plot_id": ids, **kept}, geometry=gdf.geometry.values, crs=gdf.crs)
    out.attrs["id_column"] = col
    out.attrs["repaired"] = [ids[i] for i in np.flatnonzero(bad.to_numpy())]
    out.attrs["columns"] = [str(c) for c in gdf.columns if c != gdf.geometry.name]  # the file's own names
    return out


def plot_overlaps(plots: Any, share: float = 0.01) -> str | None:  # noqa: ANN401 - read_plots' GeoDataFrame
    """A warning naming overlapping plots (sharing more than ``share`` of the smaller one's area; plots that only
    touch do not), as :func:`agriseg.crop.traits.regions.overlaps` names overlapping regions; None when none do."""
    import shapely

    ok = ~(plots.geometry.isna() | plots.geometry.is_empty).to_numpy()
    idx = np.flatnonzero(ok)
    if len(idx) < 2:
        return None
    geoms = plots.geometry.values[idx]
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")  # candidate pairs
    keep = left < right
    a, b = geoms[left[keep]], geoms[right[keep]]
    shared = shapely.area(shapely.intersection(a, b))
    real = shared > share * np.minimum(shapely.area(a), shapely.area(b))
    if not real.any():
        return None
    first = int(np.flatnonzero(real)[0])
    ids = plots["plot_id"].to_numpy()[idx]
    pa, pb = ids[left[keep][first]], ids[right[keep][first]]
    others = int(real.sum()) - 1
    more = f" (and {others} more pair{'s' * (others > 1)})" if others else ""
    return (f"plots {pa!r} and {pb!r} overlap{more}: vegetation area and green fraction count the shared pixels in "
            "both")  # fmt: skip


def _id_text(value: Any) -> str:  # noqa: ANN401 - a cell of the file
    """A plot id as the file holds it: ``101``, not ``101.0`` (an integer column with a missing value reads as
    floats); ``""`` for a missing one."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _repeated(values: Any) -> str | None:  # noqa: ANN401 - a pandas Series
    """``'P1' is in rows 1 and 3`` for the first value of a column met twice (or empty); None when each is once."""
    seen: dict[str, int] = {}
    for row, v in enumerate(map(_id_text, values.tolist()), start=1):
        if v in seen:
            return f"{v!r} is in rows {seen[v]} and {row}"
        seen[v] = row
    return None


def _key(name: object) -> str:
    """A column name as :data:`ID_COLUMNS` spells it: ``Plot_ID`` -> ``plotid``."""
    return "".join(ch for ch in str(name).lower() if ch not in "_- ")


def _cores(length: int, window: int) -> list[tuple[int, int]]:
    """Non-overlapping cores ``[start, end)`` of the windows of :func:`window_starts` (stride = window)."""
    starts = window_starts(length, window, window)
    return list(zip(starts, [*starts[1:], length], strict=True))


class _Vegetation:
    """Reads the vegetation and valid pixels of one window of an open mosaic."""

    def __init__(
        self,
        ds: Any,
        path: Path,
        config: PlotsConfig,
        segment: Segment | None,
        warnings: list[str] | None = None,
    ) -> None:
        self.ds, self.path, self.margin, self.segment = ds, path, config.margin, segment
        self.rgb = ds.count >= 3
        self.nodata = ds.nodata
        if not self.rgb and self.nodata == 0:  # GDAL and QGIS tools often write masks so
            self.nodata = None  # 0 is the mask's background: read as nodata, every plot was 100 % green
            if warnings is not None:
                warnings.append(f"{path}: declares nodata 0, which is also the mask's background; 0 is read as "
                                "background (pixels outside the mosaic's footprint count as bare ground)")  # fmt: skip
        if self.rgb and segment is None:
            raise ValueError(f"{path}: an RGB mosaic needs a model to segment it")
        if not self.rgb and config.bands is not None:  # never silently ignored
            picked, n = ",".join(map(str, config.bands)), ds.count
            raise ValueError(f"{path}: --bands {picked} picks the colour bands of a mosaic to segment; this one has "
                             f"{n} band{'s' if n > 1 else ''}, read as a vegetation mask")  # fmt: skip
        from rasterio.enums import MaskFlags

        colours = [c.name for c in ds.colorinterp]
        # the bands described (or coloured) red, green, blue; a band 4 is alpha only when declared so (a
        # multispectral mosaic's band 4 is data: read as alpha, its zeros were left out of every plot)
        self.bands = (
            pick_rgb_bands(ds.descriptions, ds.count, config.bands, path, colours, warnings) if self.rgb else [1]
        )
        self.masked = has_alpha_band(colours) or any(f != [MaskFlags.all_valid] for f in ds.mask_flag_enums)
        # a mask's own transparency: a band declared alpha, or GDAL's internal mask (its nodata is read below)
        self.mask_band = not self.rgb and any(
            MaskFlags.per_dataset in f or MaskFlags.alpha in f for f in ds.mask_flag_enums[:1]
        )
        if not self.rgb:
            self._say_not_a_mask(ds, path, warnings)
        self.alpha4 = False  # an undeclared alpha band 4: read so, as before the declared-alpha rule
        if self.rgb and (ds.count >= 4 or ds.dtypes[0] == "uint16"):  # (a plain 8-bit RGB mosaic: nothing to see)
            self.alpha4 = self._look(ds, path, self.bands, warnings) and not self.masked and config.bands is None

    @staticmethod
    def _say_not_a_mask(ds: Any, path: Path, warnings: list[str] | None) -> None:  # noqa: ANN401
        """A warning for a one-band mosaic of many values (a greyscale photo, a probability or NDVI raster): it is
        read as a mask, every value above 0 vegetation. ``ds``: a rasterio dataset."""
        values = band_values(ds)
        if len(values) > 3 and warnings is not None:  # a mask: 0/255 or 0/1; a class map: 0/1/2
            warnings.append(f"{path}: one band of {len(values)}+ values, not a mask (0 and one value, or class ids "
                            "0/1/2): every value above 0 is read as vegetation; give a mask, or an RGB mosaic to "
                            "segment")  # fmt: skip

    @staticmethod
    def _look(ds: Any, path: Path, colours: list[int], warnings: list[str] | None) -> bool:  # noqa: ANN401
        """A look at a reduced copy of the mosaic: whether band 4 holds only 0 and its type's full value (255,
        65535; 1.0 for floats), both (an alpha band the file does not declare), and a warning for 16-bit colours
        all at or under 4095 (a 10- or 12-bit camera's: they read nearly black, scaled by 65535); ``colours``:
        the bands read as red, green, blue. ``ds``: a rasterio dataset."""
        from agriseg.data.io import LOW_BITS_TOP

        shape = (min(ds.height, 512), min(ds.width, 512))
        bands = [*colours, 4] if ds.count >= 4 else colours
        small = ds.read(bands, out_shape=(len(bands), *shape))  # (C, h, w), GDAL's nearest neighbour
        if small.dtype == np.uint16 and 0 < int(small[:3].max()) <= LOW_BITS_TOP and warnings is not None:
            warnings.append(f"{path}: 16-bit colours all <= {LOW_BITS_TOP} (a 10- or 12-bit camera's?) read nearly "
                            "black (scaled by 65535): scale them to 16 bits first (gdal_translate -scale)")  # fmt: skip
        if len(bands) < 4:
            return False
        values = np.unique(small[3])
        top = np.iinfo(small.dtype).max if small.dtype.kind in "ui" else 1.0  # opaque: 255, 65535 or 1.0
        return bool(len(values) == 2 and values[0] == 0 and values[1] == top)

    def __call__(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
        """(vegetation, valid) boolean ``(y1 - y0, x1 - x0)``."""
        ds, nodata = self.ds, self.nodata
        if not self.rgb:
            band = read_window(ds, self.path, y0, y1, x0, x1)[0]
            valid = np.isfinite(band) if nodata is None or np.isnan(nodata) else band != nodata
            if self.mask_band:  # transparent pixels of the mask: not counted
                from rasterio.windows import Window

                valid &= ds.read_masks(1, window=Window(x0, y0, x1 - x0, y1 - y0)) > 0
            return (band > 0) & valid, valid
        from rasterio.windows import Window

        from agriseg.data.io import scale_to_uint8

        m = self.margin
        ya, yb, xa, xb = max(0, y0 - m), min(ds.height, y1 + m), max(0, x0 - m), min(ds.width, x1 + m)
        data = read_window(ds, self.path, ya, yb, xa, xb, self.bands)  # (3, h, w)
        core = (slice(y0 - ya, y1 - ya), slice(x0 - xa, x1 - xa))
        valid = np.ones((y1 - y0, x1 - x0), bool)
        if self.masked:  # GDAL's mask of the mosaic: its alpha band, internal mask or nodata (all bands nodata)
            valid = ds.dataset_mask(window=Window(x0, y0, x1 - x0, y1 - y0)) > 0
        elif self.alpha4:
            valid = read_window(ds, self.path, y0, y1, x0, x1, [4])[0] > 0
        if data.dtype.kind == "f":
            valid &= np.isfinite(data[(slice(None), *core)]).all(0)  # NaN outside the footprint: no data
            data = np.where(np.isfinite(data), data, 0)
        assert self.segment is not None
        rgb = scale_to_uint8(np.ascontiguousarray(data.transpose(1, 2, 0)), self.path, warn=False)  # (h, w, 3)
        classes = self.segment(rgb).classes
        return (classes[core] > 0) & valid, valid


def plot_stats(
    mosaic: str | Path,
    config: PlotsConfig | dict[str, Any],
    segment: Segment | None = None,
    progress: bool = False,
    warnings: list[str] | None = None,
) -> Any:
    """Statistics of every plot of ``config.plots`` in one mosaic (see the module docstring).

    Args:
        mosaic: the GeoTIFF.
        config: plots file, window size, plant size, GAI angles.
        segment: photo -> (class ids, crop/weed?) for RGB mosaics (default: a
            :class:`agriseg.crop.traits.inputs.ModelSegmenter` of ``config.model_name`` on ``config.device``).
        progress: show a progress bar over windows.
        warnings: collects what the user should know about the mosaic (naming it).

    Returns:
        A GeoDataFrame in the mosaic's CRS: ``plot_id``, ``status`` (``ok``, ``partly outside``, ``outside
        mosaic``, ``empty``), ``coverage`` (share of the plot with data, 0-1), ``pixels``, ``area_m2``,
        ``green_fraction``, ``gap_fraction``, ``green_area_index``, ``gai_saturated``, ``plant_count`` (empty
        without data), the plots file's own columns, geometry.
    """
    import rasterio
    from rasterio import features, windows

    from agriseg.batch import progress_bar
    from agriseg.config import as_config
    from agriseg.crop.traits.inputs import ModelSegmenter

    config = as_config(PlotsConfig, config)  # a dict of its fields too, as every entry point takes
    segment = segment or ModelSegmenter(config.model_name, config.device)  # loaded only for an RGB mosaic
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
    pixels = np.zeros(n_plots + 1, np.int64)  # per plot (index 0: no plot): pixels with data
    placed = np.zeros(n_plots + 1, np.int64)  # pixels of the mosaic's grid, with data or not
    green = np.zeros(n_plots + 1, np.int64)
    comp_area: list[np.ndarray] = []  # per window: area of each local component
    comp_plot: list[np.ndarray] = []  # per window: plot index of each local component
    edges: list[np.ndarray] = []  # (2, E) global component ids joined across window borders
    n_comp = 0
    sindex = plots.sindex
    layer_of = plot_layers(plots.geometry)
    rows, cols = _cores(info.height, config.window), _cores(info.width, config.window)
    with rasterio.open(path) as ds:
        # the model (loaded for an RGB mosaic only: a mask needs none): one scale for the whole mosaic
        at_scale = getattr(segment, "for_mosaic", None) if ds.count >= 3 else None
        veg_of = _Vegetation(ds, path, config, at_scale(ds.height, ds.width) if at_scale else segment, warnings)
        n_layers = int(layer_of.max()) + 1 if n_plots else 1
        seen: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # overlapping plots: packed, per window

        def vegetation(y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
            """A window's vegetation and valid pixels, segmented once whichever layers of plots it holds."""
            shape = (y1 - y0, x1 - x0)
            if (y0, x0) in seen:
                veg, valid = (np.unpackbits(a, count=shape[0] * shape[1]).reshape(shape).astype(bool)
                              for a in seen[(y0, x0)])  # fmt: skip
                return veg, valid
            veg, valid = veg_of(y0, y1, x0, x1)
            if n_layers > 1:  # 1 bit a pixel: a 12,000 px mosaic's two masks take 36 MB
                seen[(y0, x0)] = (np.packbits(veg), np.packbits(valid))
            return veg, valid

        bar = progress_bar(total=n_layers * len(rows) * len(cols), desc=path.name, unit="win", disable=not progress)
        for layer in range(n_layers):
            bottom = np.zeros(info.width, np.int64)  # global ids of the last row of the band above (0 = none)
            for y0, y1 in rows:
                new_bottom = np.zeros_like(bottom)
                right = np.zeros(0, np.int64)
                for x0, x1 in cols:
                    win = windows.Window(x0, y0, x1 - x0, y1 - y0)
                    tf = windows.transform(win, info.transform)
                    hits = sindex.query(_footprint(tf, win.width, win.height))
                    shapes = [
                        (plots.geometry.iloc[i], i + 1)
                        for i in sorted(hits)
                        if layer_of[i] == layer and not plots.geometry.iloc[i].is_empty
                    ]
                    pid = np.zeros((y1 - y0, x1 - x0), np.int32)
                    if shapes:
                        pid = features.rasterize(shapes, out_shape=pid.shape, transform=tf, fill=0, dtype="int32")
                        veg, valid = vegetation(y0, y1, x0, x1)
                    else:  # no plot of this layer here: nothing to measure, no model to run (a sparse mosaic's
                        veg = valid = np.zeros(pid.shape, bool)  # empty windows took as long as the others)
                    placed += np.bincount(pid.ravel(), minlength=n_plots + 1)
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
    table = _table(plots, pixels, placed, green, counts, info, config)
    if warnings is not None:
        if repaired := plots.attrs.get("repaired"):
            shown = f"plot {repaired[0]} crosses" if len(repaired) == 1 else f"plots {listed(repaired, 5)} cross"
            warnings.append(f"{config.plots}: {shown} itself; measured as repaired (its loops as separate parts)")
        warnings += _coverage_warnings(path, table)
    return table


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


def _footprint(transform: Any, width: int, height: int) -> Any:
    """The polygon a window of ``width`` x ``height`` pixels at ``transform`` covers: its four corners, so a
    rotated or sheared grid's window is found by the plots under it (the box of two opposite corners, as
    ``rasterio.windows.bounds`` gives, misses most of them)."""
    from shapely.geometry import Polygon

    return Polygon([transform * xy for xy in ((0, 0), (width, 0), (width, height), (0, height))])


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


# the columns of a mosaic's plot table, in order (then the plots file's own columns, then the geometry)
PLOT_COLUMNS = ("plot_id", "status", "coverage", "pixels", "area_m2", "green_fraction", "gap_fraction",
                "green_area_index", "gai_saturated", "plant_count")  # fmt: skip
# the names of the plots file's own columns that the tables also write get "input_" in front
RESERVED = frozenset({*PLOT_COLUMNS, "mosaic", "date", "file", "id"})
# a plot with data on less than this share of its area is "partly outside" (rasterising a polygon's edge
# on the grid moves its pixel count by far less)
FULL_COVERAGE = 0.99


def _table(
    plots: Any,
    pixels: np.ndarray,
    placed: np.ndarray,
    green: np.ndarray,
    counts: np.ndarray,
    info: Any,
    config: PlotsConfig,
) -> Any:
    """The per-plot GeoDataFrame: its ``coverage`` is the share of the plot's area inside the mosaic times the
    share of its pixels there that hold data (not nodata, not transparent)."""
    import pandas as pd
    from shapely.geometry import Polygon

    px_m2 = pixel_area_m2(info.crs, info.transform, info.height, info.width)
    corners = [(0, 0), (info.width, 0), (info.width, info.height), (0, info.height)]
    footprint = Polygon([info.transform * c for c in corners])  # rotated grids too
    out = plots.copy()
    status, cover, gf, gai, sat, count = [], [], [], [], [], []
    for i, geom in enumerate(plots.geometry, start=1):
        n = int(pixels[i])
        inside = geom.intersection(footprint).area / geom.area if geom is not None and geom.area > 0 else 0.0
        c = inside * n / placed[i] if placed[i] else 0.0
        if geom is None or geom.is_empty:
            status.append("empty")
        elif not geom.intersects(footprint) or inside < 1e-6:  # touching its edge from outside (a millionth of it:
            status.append("outside mosaic")  # reprojection's noise): was "empty", "without a shape" (session 105)
        elif n == 0 and placed[i]:  # pixel centres inside, every one under nodata or transparent
            status.append("no data")
        elif n == 0:
            status.append("empty")
        else:
            status.append("ok" if c >= FULL_COVERAGE else "partly outside")
        f = green[i] / n if n else None
        g = green_area_index(float(f), config.zenith, config.leaf_projection) if f is not None else None
        cover.append(round(c, 4))
        gf.append(f)
        gai.append(g.value if g else None)
        sat.append(g.saturated if g else None)
        count.append(int(counts[i]) if n else None)  # no data, no count (not 0 plants)
    out["status"] = status
    out["coverage"] = cover
    out["pixels"] = pixels[1:]
    out["area_m2"] = pixels[1:] * px_m2
    out["green_fraction"] = gf
    out["gap_fraction"] = [None if f is None else 1.0 - f for f in gf]
    out["green_area_index"] = gai
    # a whole number and a yes/no column, with gaps: not floats (0.0), nor text in the GeoPackage
    out["gai_saturated"] = pd.array(sat, dtype="boolean")
    out["plant_count"] = pd.array(count, dtype="Int64")
    own = [c for c in plots.columns if c not in ("plot_id", plots.geometry.name)]
    return out[[*PLOT_COLUMNS, *own, "geometry"]]


def _coverage_warnings(path: Path, table: Any) -> list[str]:
    """One line per kind naming the plots partly or wholly outside the mosaic (or its data)."""
    out = []
    for status, what in (("partly outside", "partly outside the mosaic or its data: measured on the part "
                          "covered (coverage"), ("outside mosaic", "outside the mosaic: not measured"),
                         ("no data", "under the mosaic's nodata or transparent pixels: not measured"),
                         ("empty", "without a shape, or smaller than a pixel: not measured")):  # fmt: skip
        rows = table[table["status"] == status]
        if not len(rows):
            continue
        ids = [str(i) for i in rows["plot_id"]]
        if not all(i.isdigit() for i in ids):  # "plots none, empty are without a shape": ids of words quoted
            ids = [repr(i) for i in ids]
        shown = f"plot {ids[0]} is" if len(ids) == 1 else f"plots {listed(ids, 5)} are"
        if status == "partly outside":
            shares = ", ".join(f"{100 * c:.0f}%" for c in rows["coverage"][:5])
            out.append(f"{path}: {shown} {what} {shares})")
        else:
            out.append(f"{path}: {shown} {what}")
    return out
