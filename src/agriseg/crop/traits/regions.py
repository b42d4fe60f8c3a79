"""Regions of a photo (tray pots, plots): a grid anchored to the tray, or rectangles from a file.

``--grid ROWSxCOLS`` divides a box into ``ROWS x COLS`` equal cells, numbered row by row from 1 at the top
left. The box is the tray, not the plants, so an empty pot stays empty and never shifts its neighbours:
``--grid-box X,Y,W,H`` gives it, or else :func:`detect_tray` finds it in the photo (the largest object that
differs from the mat the tray stands on), or, for a tray of the mat's own colour, :func:`detect_pots` finds the
``ROWS x COLS`` layout of its pots; without a photo (a mask alone) the grid spans the image.

Each plant belongs to the region that holds its centroid; a region is measured on its own pixels and on
its plants (:func:`region_traits`). A region partly or wholly outside the image is measured on what is
inside and said so in its ``status`` (and a warning names it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    from agriseg.crop.traits.gai import GreenAreaIndex


@dataclass(frozen=True)
class Region:
    """A pixel rectangle ``[x, x + width) x [y, y + height)`` with an id."""

    id: str
    x: int
    y: int
    width: int
    height: int
    # the other columns of its row in a regions CSV (genotype, rep...), as the header names them
    extra: tuple[tuple[str, str], ...] = field(default=(), compare=False)


# regions whose plant pixels the model was sure of (Predictor.sure) for under this share are named in a warning:
# fixed on generated development trays (seed 35000: 110 of the 139 pots under 0.5 were more than 10 % off in
# area, 94 of the 703 others), confirmed on fresh ones (seed 36000: 85 of 126, 150 of 719;
# benchmarks/results/crop_tray_sure_flag_rule.md, crop_tray_sure_flag_fresh.json)
CHECK_SURE = 0.5


def needs_check(row: dict[str, Any]) -> bool:
    """Whether a region (or plant) row's ``model_sure`` is under :data:`CHECK_SURE` (False without one)."""
    sure = row.get("model_sure")
    return isinstance(sure, int | float) and sure < CHECK_SURE


def parse_grid(text: str) -> tuple[int, int]:
    """``"ROWSxCOLS"`` -> (rows, cols), both >= 1 (the messages leave the value to the caller, which names it)."""
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise ValueError("grid must be ROWSxCOLS (e.g. 3x4)") from err
    if rows < 1 or cols < 1:
        raise ValueError("grid must be ROWSxCOLS with both >= 1")
    return rows, cols


def grid_regions(box: tuple[int, int, int, int], rows: int, cols: int) -> list[Region]:
    """``rows x cols`` equal cells over ``box`` = (x, y, width, height) in pixels, numbered row by row."""
    x0, y0, x1, y1 = box[0], box[1], box[0] + box[2], box[1] + box[3]
    ye = np.linspace(y0, y1, rows + 1).round().astype(int)
    xe = np.linspace(x0, x1, cols + 1).round().astype(int)
    return [
        Region(str(r * cols + c + 1), int(xe[c]), int(ye[r]), int(xe[c + 1] - xe[c]), int(ye[r + 1] - ye[r]))
        for r in range(rows)
        for c in range(cols)
    ]


MAX_COORDINATE = 2**31 - 1
"""The largest region coordinate or size (px): what image libraries index (PIL draws with 32-bit ints)."""


def region_positions(regions: list[Region]) -> dict[str, tuple[int, int]] | None:
    """``{id: (row, column)}`` of regions laid out in rows (pots of a tray), from where their boxes lie: a new row
    where a centre lies over half a box height below the row above. None when they form no grid (a row of
    another length, two regions in one place, fewer than two rows or columns)."""
    import statistics

    if len(regions) < 4:
        return None
    half = statistics.median(r.height for r in regions) / 2
    rows: list[list[Region]] = []
    for r in sorted(regions, key=lambda r: r.y + r.height / 2):
        cy = r.y + r.height / 2
        if rows and cy - statistics.mean(q.y + q.height / 2 for q in rows[-1]) <= half:
            rows[-1].append(r)
        else:
            rows.append([r])
    cols = {len(row) for row in rows}
    if len(rows) < 2 or len(cols) != 1 or cols == {1}:
        return None
    return {r.id: (i, j) for i, row in enumerate(rows) for j, r in enumerate(sorted(row, key=lambda r: r.x))}


# what a cell of x, y, width, height may hold: digits, a sign, a decimal point (150.0), an exponent (1.5e2)
NUMBER = re.compile(r"-?\d+(\.\d*)?([eE][+-]?\d+)?", re.ASCII)
# files of polygons, for crop plots --plots, given to --regions
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb", ".kml", ".gml", ".parquet")


def read_regions(path: str | Path) -> list[Region]:
    """Rectangles from a CSV file with the columns ``id,x,y,width,height`` (pixels; any case; separated by commas,
    semicolons or tabs, as the header line is; the id column may be named ``plot_id`` or ``name``, as in a plots
    file).

    Raises:
        FileNotFoundError: missing file.
        ValueError: missing columns or one named twice, values that are not whole numbers (or beyond any
            photo), more values than columns, or a missing or repeated id, naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: regions file not found (--regions)")
    if path.suffix.lower() in VECTOR_SUFFIXES:  # "not a text CSV: save it as CSV UTF-8" sent the user astray
        kind = path.suffix.lower()[1:].upper()
        raise ValueError(f"{path}: a {kind} file; --regions takes a CSV of pixel boxes (id,x,y,width,height). "
                         "Plot polygons of a georeferenced mosaic go to `crop plots --plots`")  # fmt: skip
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text CSV in UTF-8 (byte {err.start}); save it as CSV UTF-8") from None
    out = []
    seen: dict[str, int] = {}  # id -> line
    lines = text.replace("\ufeff", "").splitlines(keepends=True)  # a BOM pasted in mid-file is no value either
    stated = re.fullmatch(r"sep=(.)\s*", lines[0]) if lines else None  # Excel's "sep=;" line names the separator
    skipped = 1 if stated else 0
    text = "".join(lines[skipped:])
    header = next((line for line in text.splitlines() if line.strip()), "")
    # a spreadsheet in a European locale saves CSV with ";", and some tools with tabs: the header's separator
    sep = stated.group(1) if stated else max((",", ";", "\t"), key=header.count)
    with io.StringIO(text, newline="") as fh:
        reader = csv.DictReader(fh, delimiter=sep)
        need = {"id", "x", "y", "width", "height"}
        if not reader.fieldnames:
            raise ValueError(f"{path}: regions CSV is empty; it needs the columns id,x,y,width,height")
        header_names = list(reader.fieldnames)
        names = [(n or "").strip().lower() for n in reader.fieldnames]  # ID, X, Width: any case
        if "id" not in names:  # the id column of a plots file (crop plots --plot-id's default): plot_id or name
            alias = next((n for n in ("plot_id", "name") if names.count(n) == 1), None)
            names = ["id" if n == alias else n for n in names]
        if not need <= set(names):
            has = ",".join(reader.fieldnames)
            if {"wkt", "geometry", "geom", "the_geom"} & set(names):  # QGIS's "Save Features As" CSV: AS_WKT
                raise ValueError(f"{path}: polygons as WKT text in a CSV (no coordinate system): a regions CSV "
                                 "holds boxes in pixels (id,x,y,width,height); plot polygons go to `crop plots "
                                 "--plots` as GeoPackage or GeoJSON (QGIS: Export > Save Features As)")  # fmt: skip
            raise ValueError(f"{path}: regions CSV needs the columns id,x,y,width,height, has {has}")
        if twice := sorted({n for n in names if n in need and names.count(n) > 1}):
            raise ValueError(f"{path}: the column {twice[0]!r} is in the header twice; keep one")
        reader.fieldnames = names
        own = [(n, (h or "").strip()) for n, h in zip(names, header_names, strict=True) if n not in need and n]
        for i, row in enumerate(reader, start=2 + skipped):
            extra = row.get(None) or []
            if not any((v or "").strip() for k, v in row.items() if k is not None) and not any(
                x.strip() for x in extra
            ):
                continue  # a row of separators only (",,,,": spreadsheets write them below the data)
            if any(v.strip() for v in row.get(None) or []):  # (empty cells after the last column are no values)
                more = len(names) + len(row[None])  # a value the header does not name: which column was meant?
                raise ValueError(f"{path}: line {i}: {more} values under the header's {len(names)} columns")
            if any(not (row[k] or "").strip() for k in ("x", "y", "width", "height")):
                raise ValueError(f"{path}: line {i}: a value of x, y, width, height is missing")
            try:  # 150.0 as spreadsheets and ImageJ write it is 150; 150.5 is no pixel
                cells = [(row[k] or "").strip() for k in ("x", "y", "width", "height")]
                if not all(NUMBER.fullmatch(c) for c in cells):  # Python's float() took "1_10" as 110, "+5" as 5
                    raise ValueError(cells)
                values = [float(c) for c in cells]
            except (TypeError, ValueError) as err:
                raise ValueError(f"{path}: line {i}: x, y, width, height must be whole numbers") from err
            if not all(np.isfinite(v) and v == int(v) for v in values):
                raise ValueError(f"{path}: line {i}: x, y, width, height must be whole numbers")
            if max(abs(v) for v in values) > MAX_COORDINATE:
                raise ValueError(
                    f"{path}: line {i}: x, y, width, height beyond any photo (at most {MAX_COORDINATE:,} px)"
                )
            x, y, w, h = (int(v) for v in values)
            if w < 1 or h < 1:
                raise ValueError(f"{path}: line {i}: width and height must be >= 1")
            rid = (row["id"] or "").strip()
            if not rid:
                raise ValueError(f"{path}: line {i}: the region has no id")
            if rid in seen:  # two rows of one id would report one region's traits twice under the same name
                raise ValueError(f"{path}: line {i}: region id {rid!r} is also on line {seen[rid]}; ids must be unique")
            seen[rid] = i
            out.append(Region(rid, x, y, w, h, tuple((h_, (row[n] or "").strip()) for n, h_ in own)))
    if not out:
        raise ValueError(f"{path}: no regions")
    return out


def _mat_distance(rgb: np.ndarray) -> tuple[np.ndarray, int, list[float]] | None:
    """The Lab distance of every pixel from the mat's colour (the median of the image border), on about 400 px;
    its pixel step; and the thresholds to try: Otsu's threshold of the distance (at least 12 Lab units), 12,
    and their midpoint, highest first. None for a photo of one colour."""
    from skimage import color
    from skimage.filters import threshold_otsu

    step = max(1, round(max(rgb.shape[:2]) / 400))  # the layout is coarse: work on about 400 px
    lab = color.rgb2lab(rgb[::step, ::step])  # (h', w', 3)
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    dist = np.linalg.norm(lab - np.median(border, axis=0), axis=-1)  # (h', w')
    if dist.max() - dist.min() < 1e-6:
        return None
    otsu = max(12.0, float(threshold_otsu(dist)))
    return dist, step, sorted({otsu, (12.0 + otsu) / 2, 12.0}, reverse=True)


def detect_tray(rgb: np.ndarray, vegetation: np.ndarray | None = None) -> tuple[int, int, int, int] | None:
    """The box (x, y, width, height) of the tray in a photo of a tray on a mat, or None when none stands out.

    Pixels farther from the mat's colour (:func:`_mat_distance`) than a threshold, vegetation left out so
    plants hanging over the tray's edge do not widen it, closed over small gaps, form objects: the largest is
    the tray. Its box spans the columns and rows where it covers at least half of its widest column / row, so
    thin bits sticking out (a label touching the tray) do not widen it either. It is not a tray when its box
    covers under a tenth of the image, when the object fills under 3/4 of its box (soil patches of a field
    photo), or when a tenth of the vegetation or more lies outside it. Otsu's threshold of the distance is
    tried first; a tray nearer the mat's colour than its pots are (a pale tray on a grey bench, whose dark pots
    take Otsu's split) is found at the lower thresholds.
    """
    found = _mat_distance(rgb)
    if found is None:
        return None
    dist, step, levels = found
    veg = None if vegetation is None else vegetation[::step, ::step]
    for level in levels:
        fg = dist > level
        if veg is not None:
            fg &= ~veg
        box = _tray_box(fg, step, rgb.shape[:2], vegetation)
        if box is not None:
            return box
    return None


def _tray_box(
    fg: np.ndarray, step: int, shape: tuple[int, ...], vegetation: np.ndarray | None
) -> tuple[int, int, int, int] | None:
    """The tray's box (full-size pixels) from the objects of ``fg`` (on the ``step`` grid), or None."""
    h, w = shape
    fg = ndimage.binary_fill_holes(ndimage.binary_closing(fg, np.ones((5, 5), bool)))
    comps, n = ndimage.label(fg)
    if n == 0:
        return None
    tray = comps == np.argmax(np.bincount(comps.ravel())[1:]) + 1
    cols, rows = tray.sum(0), tray.sum(1)
    xs, ys = np.nonzero(cols >= 0.5 * cols.max())[0], np.nonzero(rows >= 0.5 * rows.max())[0]
    x0, x1 = int(xs.min()) * step, min(w, (int(xs.max()) + 1) * step)
    y0, y1 = int(ys.min()) * step, min(h, (int(ys.max()) + 1) * step)
    if (x1 - x0) * (y1 - y0) < 0.1 * h * w or (x1 - x0) * (y1 - y0) > 0.98 * h * w:
        return None
    sy, sx = slice(y0 // step, -(-y1 // step)), slice(x0 // step, -(-x1 // step))
    if tray[sy, sx].mean() < 0.75:
        return None  # not a rectangle: soil patches or shadows of a field photo
    if vegetation is not None and vegetation.any() and vegetation[y0:y1, x0:x1].sum() < 0.9 * vegetation.sum():
        return None  # much of the vegetation lies outside it: the plants are not on this "tray"
    return x0, y0, x1 - x0, y1 - y0


def detect_pots(
    rgb: np.ndarray, rows: int, cols: int, vegetation: np.ndarray | None = None
) -> tuple[int, int, int, int] | None:
    """The box (x, y, width, height) of a ``rows x cols`` layout of pots, or None when the photo shows no such layout.

    For a tray :func:`detect_tray` does not find: one of nearly the mat's own colour (a black tray on a black
    bench), or one that differs from the mat less than the pots do (a navy tray on a blue mat, where Otsu's
    threshold keeps only the pots). The pots' soil still differs from the mat. Pixels farther from the mat's
    colour (:func:`_mat_distance`) than a threshold, vegetation left out, form objects; the pots are the
    objects of about one size (0.4-2x the median of the ``rows x cols`` largest). Their centres must fall
    into exactly ``cols`` columns and ``rows`` rows at a regular pitch (every step within 25 % of the median
    step), the pots alike (each one's width and height within 25 % of the median) and compact (filling 60 % of
    their box or more), at least half a pitch wide, one pot per cell, at least 3/4 of the cells with one, and
    the layout at least a tenth of the image, so labels, markers and soil patches of a field photo give None.
    The thresholds are tried lowest first (at 12 Lab units a tray between 12 and Otsu's threshold is one object
    with its pots; at Otsu's it is gone). The box spans half a pitch beyond the outer pots' centres, so each
    cell is centred on its pot whether or not a plant grows in it. No library fits a grid of a known shape to
    blobs, hence these lines.
    """
    found = _mat_distance(rgb) if rows * cols >= 2 else None  # one pot alone is no layout to check
    if found is None:
        return None
    dist, step, levels = found
    h, w = rgb.shape[:2]
    veg = None if vegetation is None else vegetation[::step, ::step]
    for level in reversed(levels):
        fg = dist > level
        if veg is not None:
            fg &= ~veg
        span = _pot_layout(fg, rows, cols)
        if span is not None and (span[0][1] - span[0][0]) * (span[1][1] - span[1][0]) >= 0.1 * fg.size:
            (x0, x1), (y0, y1) = ((a * step, b * step) for a, b in span)
            x0, y0, x1, y1 = max(0, round(x0)), max(0, round(y0)), min(w, round(x1)), min(h, round(y1))
            return x0, y0, x1 - x0, y1 - y0
    return None


def _pot_layout(fg: np.ndarray, rows: int, cols: int) -> list[tuple[float, float]] | None:
    """The (start, stop) of a ``rows x cols`` layout of pot objects in ``fg`` along x, then y, or None."""
    fg = ndimage.binary_fill_holes(ndimage.binary_closing(fg, np.ones((5, 5), bool)))
    fg = ndimage.binary_opening(fg, np.ones((3, 3), bool))  # specks of soil texture on the mat
    comps, n = ndimage.label(fg)
    if n < rows * cols / 2:
        return None
    sizes = np.bincount(comps.ravel())[1:]
    ref = float(np.median(np.sort(sizes)[-rows * cols :]))
    pots = np.flatnonzero((sizes >= 0.4 * ref) & (sizes <= 2.0 * ref)) + 1
    if len(pots) < max(rows, cols, rows * cols / 2):
        return None
    centres = np.array(ndimage.center_of_mass(fg, comps, pots))  # (N, 2): y, x
    slices = ndimage.find_objects(comps)
    extent = np.array([[s.stop - s.start for s in slices[i - 1]] for i in pots])  # (N, 2): height, width
    if np.any(np.abs(extent - np.median(extent, 0)) > 0.25 * np.median(extent, 0)):
        return None  # pots of a tray are made alike: blobs of several shapes are not pots
    if np.any(sizes[pots - 1] < 0.6 * extent.prod(1)):
        return None  # a pot fills its box (a round one 0.79 of it): ragged blobs are soil, not pots
    span, cell = [], []
    for axis, k in ((1, cols), (0, rows)):
        size = float(np.median(extent[:, axis]))
        lines = np.array(_lines(centres[:, axis], 0.5 * size))
        if len(lines) != k:
            return None
        if k > 1:
            d = np.diff(lines)
            pitch = float(np.median(d))
            if np.any(np.abs(d - pitch) > 0.25 * pitch) or size < 0.5 * pitch:
                return None  # irregular, or blobs far smaller than their spacing: not pots side by side
        else:
            pitch = 1.25 * size  # one row / column: the pot and a margin
        span.append((float(lines[0] - pitch / 2), float(lines[-1] + pitch / 2)))
        cell.append(np.abs(centres[:, axis, None] - lines).argmin(1))
    occupied = {(int(c), int(r)) for c, r in zip(*cell, strict=True)}
    if len(occupied) < len(pots) or len(occupied) < 0.75 * rows * cols:
        return None  # two pots in one cell, or too few cells with a pot
    return span


def _lines(values: np.ndarray, gap: float) -> list[float]:
    """Mean positions of the groups of sorted ``values`` that lie less than ``gap`` apart (pot columns or rows)."""
    v = np.sort(values)
    groups = np.split(v, np.flatnonzero(np.diff(v) >= gap) + 1)
    return [float(g.mean()) for g in groups]


# a column (row) of plants this far off its pot's cell's centre, in cells, is warned about: its plants near the
# pot's edge are counted in the neighbour's cell (a rim of 0.15 of a pot puts the outer columns about 0.13 off)
DRIFT = 0.35


def grid_misfit(
    box: tuple[int, int, int, int], labels: np.ndarray, rows: int, cols: int
) -> tuple[Literal["wide", "tall"], float, float] | None:
    """Whether a ``rows x cols`` grid over ``box`` has drifted off its pots: the cells' side and the plants'
    spacing (px) along the axis where it has, else None.

    Seedlings stand near their pots' centres, so the centres of the plants fall into columns (rows) one pot
    pitch apart (grouped as :func:`_pot_layout` groups pots; the pitch is the median step between neighbouring
    groups, of 0.6-1.6 cells, at least one). Each group's pot is counted from the first group by that pitch, and
    the pots are given cells one by one from where most groups lie. A group :data:`DRIFT` or more off its
    pot's cell's centre means the grid does not fit: squeezed into the part of a tray the photo shows, or a
    ``--grid-box`` or grid shape that does not match the tray; plants near their pots' edges (or whole columns)
    are then counted in a neighbour's cell. On 30 generated trays (``benchmarks/tray_cut_grid.py``, its report
    in ``benchmarks/results/tray_cut_grid.json``) none warned whole; the same trays cut by the photo's edge
    into their first column of pots are counted there.
    """
    n = int(labels.max())
    if n == 0:
        return None
    cents = np.array(ndimage.center_of_mass(labels > 0, labels, range(1, n + 1)))  # (n, 2): y, x
    for axis, name, count, start, extent in ((1, "wide", cols, box[0], box[2]), (0, "tall", rows, box[1], box[3])):
        cell = extent / count
        lines = np.array(_lines(cents[:, axis], 0.5 * cell))  # (m,) centres of the plants' columns (rows)
        steps = np.diff(lines)
        steps = steps[(steps > 0.6 * cell) & (steps < 1.6 * cell)]  # neighbours (an empty pot between: 2 steps)
        if count < 2 or len(steps) == 0:
            continue
        pitch = float(np.median(steps))
        pot = np.round((lines - lines[0]) / pitch)  # (m,) each group's pot, counted from the first
        at = (lines - start) / cell  # (m,) where each group's centre lies, in cells
        first = np.median(np.floor(at) - pot)  # the cell of the first group's pot (where most groups agree)
        if np.abs(at - (pot + first + 0.5)).max() >= DRIFT:  # off its pot's cell's centre
            return name, cell, pitch  # type: ignore[return-value]  # the loop's literals
    return None


def overlaps(regions: list[Region], limit: int = 3000) -> str | None:
    """A warning naming overlapping regions of a user's regions file (None when none overlap).

    A plant counts in the region holding its centroid, but vegetation area and green fraction count every
    pixel of each region, so overlapping regions count shared vegetation twice. Checked for up to ``limit``
    regions (all pairs at once: 9 M booleans at 3,000).
    """
    if len(regions) < 2 or len(regions) > limit:
        return None
    box = np.array([(r.x, r.y, r.x + r.width, r.y + r.height) for r in regions])  # (N, 4)
    w = np.minimum(box[:, None, 2], box[None, :, 2]) - np.maximum(box[:, None, 0], box[None, :, 0])  # (N, N)
    h = np.minimum(box[:, None, 3], box[None, :, 3]) - np.maximum(box[:, None, 1], box[None, :, 1])
    i, j = np.nonzero(np.triu((w > 0) & (h > 0), 1))
    if not len(i):
        return None
    a, b = regions[int(i[0])].id, regions[int(j[0])].id
    more = f" (and {len(i) - 1} more pairs)" if len(i) > 1 else ""
    return (f"regions {a} and {b} overlap{more}: a plant counts in the region holding its centre, but their "
            "vegetation area and green fraction count the shared pixels in both")  # fmt: skip


def region_status(reg: Region, shape: tuple[int, int]) -> str:
    """``inside``, ``partly outside`` or ``outside`` the image of ``shape`` (H, W)."""
    h, w = shape
    x0, y0, x1, y1 = max(0, reg.x), max(0, reg.y), min(w, reg.x + reg.width), min(h, reg.y + reg.height)
    if x1 <= x0 or y1 <= y0:
        return "outside"
    if (x0, y0, x1, y1) != (reg.x, reg.y, reg.x + reg.width, reg.y + reg.height):
        return "partly outside"
    return "inside"


def assign_plants(regions: list[Region], plants: list[dict[str, Any]], px_per_mm: float | None = None) -> list[str]:
    """The id of the region holding each plant's centroid ("" for none; the first region when they overlap)."""
    s = px_per_mm or 1.0
    out = []
    for p in plants:
        x, y = p["centroid_x"] * s, p["centroid_y"] * s
        out.append(next((r.id for r in regions if r.x <= x < r.x + r.width and r.y <= y < r.y + r.height), ""))
    return out


def region_columns() -> tuple[str, ...]:
    """Every key a row of :func:`region_traits` may hold, in its order: a table of regions keeps each column
    when a photo has no plant (no ``model_sure``, no colour), so tables of several photos line up."""
    from agriseg.crop.traits.plants import COLOUR_TRAITS

    return ("id", "status", "plant_count", "plant_area", "vegetation_area", "green_fraction", "green_area_index",
            "gai_saturated", "in_frame", "model_sure", *COLOUR_TRAITS, "x", "y", "width", "height")  # fmt: skip


def region_traits(
    regions: list[Region],
    vegetation: np.ndarray,
    plants: list[dict[str, Any]],
    px_per_mm: float | None = None,
    rgb: np.ndarray | None = None,
    gai: Callable[[float], GreenAreaIndex] | None = None,
) -> list[dict[str, Any]]:
    """Per region: status, plant count and area, vegetation area, green fraction, GAI, colour, box.

    Args:
        regions: the rectangles in pixels (measured on their part inside the image).
        vegetation: boolean mask ``(H, W)``.
        plants: plant rows (:func:`agriseg.crop.traits.plants.plant_traits`), areas in the units of
            ``px_per_mm``, and ``in_frame``; each counts in the region its ``region`` names, or, without that
            key, in the region holding its centroid (:func:`assign_plants`).
        px_per_mm: scale (None: pixels): areas and the box are in mm / mm2 with one.
        rgb: the photo, for the mean colour of each region's vegetation (None: no colour), read as
            :func:`agriseg.data.io.as_rgb` reads one (a float photo in [0, 1] is scaled to 0-255).
        gai: green fraction -> :class:`agriseg.crop.traits.gai.GreenAreaIndex`, e.g.
            ``functools.partial(green_area_index, zenith=57.5)`` (None: no green area index).

    Returns:
        One dict per region: ``id``, ``status`` (``ok``; ``empty`` when it holds no plant; ``partly
        outside`` / ``outside`` the image), ``plant_count``, ``plant_area``, ``vegetation_area`` (None for a
        region wholly outside),
        ``green_fraction``, ``green_area_index``, ``gai_saturated``, ``in_frame`` (the region and every plant
        of it inside the photo), ``model_sure`` (the share of its plants' pixels the model was sure of, where
        the plants have one), colour traits, and ``x``, ``y``, ``width``, ``height``.
    """
    from agriseg.crop.traits.plants import colour_traits

    h, w = vegetation.shape
    s = px_per_mm or 1.0
    if any("region" not in p for p in plants):  # plants straight from plant_traits: the region of their centroid
        found = assign_plants(regions, plants, px_per_mm)
        plants = [p if "region" in p else {**p, "region": r} for p, r in zip(plants, found, strict=True)]
    if rgb is not None:
        from agriseg.data.io import as_rgb

        rgb = as_rgb(rgb)
    out = []
    for reg in regions:
        where = region_status(reg, (h, w))
        x0, y0 = min(w, max(0, reg.x)), min(h, max(0, reg.y))
        x1, y1 = max(x0, min(w, reg.x + reg.width)), max(y0, min(h, reg.y + reg.height))
        cell = vegetation[y0:y1, x0:x1]
        inside = [p for p in plants if p.get("region") == reg.id]
        gf = float(cell.mean()) if cell.size else None
        g = gai(gf) if gai is not None and gf is not None else None
        row: dict[str, Any] = {
            "id": reg.id,
            "status": where if where != "inside" else ("ok" if inside else "empty"),
            # a region wholly outside the photo has no numbers (an empty cell), not those of an empty pot
            "plant_count": len(inside) if cell.size else None,
            "plant_area": sum(p["area"] for p in inside) if cell.size else None,  # whole pixels without a scale
            "vegetation_area": (float(cell.sum()) / s**2 if px_per_mm else int(cell.sum())) if cell.size else None,
            "green_fraction": gf,
            "green_area_index": g.value if g else None,
            "gai_saturated": g.saturated if g else None,
            # a region reaching outside the photo is not in the frame, whatever plants it holds
            "in_frame": where == "inside" and all(p.get("in_frame", True) for p in inside),
        }
        if inside and all("model_sure" in p for p in inside):  # the share of its plant pixels, area-weighted
            row["model_sure"] = sum(p["model_sure"] * p["area"] for p in inside) / sum(p["area"] for p in inside)
        if rgb is not None and cell.any():
            row.update(colour_traits(rgb[y0:y1, x0:x1][cell]))
        box = {"x": reg.x, "y": reg.y, "width": reg.width, "height": reg.height}  # px: whole numbers
        row.update({k: v / px_per_mm for k, v in box.items()} if px_per_mm else box)
        out.append(row)
    return out
