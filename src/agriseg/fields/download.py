"""Sentinel-2 L2A from a STAC API into the scene a field model reads: two windows or one, RGB + NIR or RGB.

:func:`download_scene` picks the items of window A and window B (:mod:`agriseg.fields.stac`), lays one
output grid over the area (the CRS of window A's first item, ``resolution`` metres, snapped to whole pixels),
and reads each band of each item through a GDAL warped view of that grid: only the blocks of the remote
COGs that overlap the area are fetched, with HTTP range requests. Items of a window are mosaicked in order
(the first item's pixels win; later ones fill its no-data), which joins tiles across MGRS boundaries.

Output: a uint16 Cloud-Optimized GeoTIFF, bands window A red, green, blue, NIR then window B red, green,
blue, NIR (the order of :mod:`agriseg.fields.sentinel2`), NoData 0; a single-window model gets window A
only (4 bands), DelineateAnything window A's red, green, blue (3 bands). Tags ``WIN_A_ITEM``,
``WIN_A_DATETIME``, ``WIN_B_ITEM``, ``WIN_B_DATETIME`` (ISO 8601 UTC, the latest item of the window),
``PROCESSING_BASELINE`` and ``BOA_ADD_OFFSET`` (what ``agriseg fields predict`` adds before scaling). If the
items carry different offsets (e.g. one window before baseline 04.00), the DNs are harmonised to offset 0
at download and ``BOA_ADD_OFFSET`` is 0.

Resuming: the chosen items and the grid are recorded in a hidden ``.<name>.parts/`` folder next to the
output together with every finished band, so an interrupted download continues with the missing bands
(the same items, even if the catalogue changed meanwhile). The output appears under its final name only
when complete; then the folder is removed.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from agriseg.data.files import atomic_write, write_json
from agriseg.fields.config import DownloadConfig
from agriseg.fields.sentinel2 import BAND_NAMES
from agriseg.fields.stac import BBox
from agriseg.fields.writes import writing

WINDOWS = ("a", "b")

R = TypeVar("R")


@dataclass
class DownloadResult:
    """What :func:`download_scene` did."""

    output: Path
    status: str  # "ok", "resumed" (some bands were already there) or "skipped" (output existed)
    items: dict[str, list[str]] = field(default_factory=dict)  # window -> item ids
    width: int = 0
    height: int = 0
    valid_fraction: dict[str, float] = field(default_factory=dict)  # window -> pixels with data
    seconds: float = 0.0


@dataclass
class Grid:
    """The output grid: CRS (WKT), affine transform (6 numbers), size."""

    crs: str
    transform: tuple[float, ...]
    width: int
    height: int


PART_COVER_WARNED = 0.5
"""A window with data on less of the area than this is warned of (its items cover part of it)."""


def _read_part(part: Path, grid: Any) -> np.ndarray | None:  # noqa: ANN401 - the download's grid
    """A band an interrupted run kept, or None to download it (again): a part damaged since (cut short, of
    another size) stopped every re-run with numpy's words and no file named, until ``--overwrite``."""
    if not part.is_file():
        return None
    try:
        arr = np.load(part, allow_pickle=False)
        if arr.shape == (grid.height, grid.width):
            return arr
        problem = f"{arr.shape[1]}x{arr.shape[0]} px, not the scene's {grid.width}x{grid.height}"
    except (OSError, ValueError, EOFError, IndexError) as err:
        problem = " ".join(str(err).split())
    from agriseg.data.io import log

    log.warning("%s: a band kept by an interrupted run is damaged (%s): downloaded again", part, problem)
    part.unlink(missing_ok=True)
    return None


def parts_dir(output: Path) -> Path:
    """The hidden folder where an unfinished download keeps its items, grid and finished bands."""
    return output.with_name(f".{output.name}.parts")


def _request(
    cfg: DownloadConfig,
    bbox: BBox | None,
    dates: dict[str, Any],
    refs: dict[str, Any],
    windows: Sequence[str],
    bands: Sequence[str],
) -> dict:
    return {
        "windows": list(windows),
        "bands": list(bands),
        "stac_url": cfg.stac_url,
        "collection": cfg.collection,
        "cloud_max": cfg.cloud_max,
        "resolution": cfg.resolution,
        "bbox": list(bbox) if bbox else None,
        "dates": dates,
        "refs": refs,
    }


def _choose_items(
    cfg: DownloadConfig,
    bbox: BBox | None,
    dates: dict[str, tuple[str, str] | None],
    refs: dict[str, Sequence[str]],
    windows: Sequence[str] = WINDOWS,
) -> dict[str, list[Any]]:
    from agriseg.fields.stac import items_by_reference, open_api, select_items

    client = None
    chosen: dict[str, list[Any]] = {}
    for w in windows:
        name = w.upper()
        if refs[w]:
            chosen[w] = items_by_reference(client, refs[w], cfg, name)
            continue
        d = dates[w]
        if d is None or bbox is None:
            raise ValueError(f"window {name}: give item ids/URLs (--win-{w}) or --bbox with --win-{w}-dates")
        if client is None:
            client = open_api(cfg)
        chosen[w] = select_items(client, bbox, d, cfg, name)
    return chosen


@lru_cache(maxsize=1)
def _gdal_library() -> Any:
    import ctypes
    import ctypes.util
    import glob

    import rasterio

    bundled = glob.glob(os.path.join(os.path.dirname(rasterio.__file__), os.pardir, "rasterio.libs", "libgdal*"))
    name = bundled[0] if bundled else ctypes.util.find_library("gdal")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def _forget_remote(href: str) -> None:
    """Drop GDAL's cached answers about ``href``, so that a retry asks the server again.

    GDAL remembers a failed HTTP answer per URL for the life of the process and rasterio has no binding to
    ``VSICurlPartialClearCache``, so it is called through ctypes on the GDAL library rasterio loaded. Where
    that library cannot be found, retries within one run see the cached failure (a new run still resumes).
    """
    lib = _gdal_library()
    if lib is not None and href.startswith(("http://", "https://")):
        lib.VSICurlPartialClearCache(("/vsicurl/" + href).encode())


class BrokenRaster(ValueError):
    """A remote raster that answered but cannot be used (not found, not a raster, no georeference): asking
    again gives the same answer, so it is not retried."""


# GDAL's words for answers that retrying cannot change: a client error other than 408 (timeout) and 429 (too
# many requests). ("not recognized as a supported file format" is not one: GDAL says it too of a file whose
# first read failed, a 503 or a dropped connection; the file's first bytes tell, see _not_a_raster.)
_PERMANENT = re.compile(r"HTTP response code: 4(?!08|29)\d\d")


# how the rasters a STAC asset may be start: TIFF / BigTIFF (COG) in either byte order, JPEG 2000
_RASTER_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+", b"\x00\x00\x00\x0cjP", b"\xff\x4f\xff\x51")


def _not_a_raster(href: str, cfg: DownloadConfig) -> str | None:
    """Why the file at ``href`` is no raster (an HTML page, another format), read from its first bytes; None when
    it starts as a raster or cannot be read (GDAL says "not recognized" of a cut transfer too: retried then)."""
    import urllib.request

    url = href.removeprefix("/vsicurl/")
    try:
        if url.startswith(("http://", "https://")):
            req = urllib.request.Request(url, headers={"Range": "bytes=0-511"})
            with urllib.request.urlopen(req, timeout=cfg.timeout_s) as resp:  # noqa: S310 - the asset's own URL
                head = resp.read(512)
        else:
            with open(url, "rb") as fh:
                head = fh.read(512)
    except (OSError, ValueError):
        return None
    if not head or head.startswith(_RASTER_MAGIC):
        return None
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<")):
        return "the server sent a web page or XML, not a raster: check the asset's URL and any sign-in it needs"
    return f"not a GeoTIFF or JPEG 2000 file (it starts {head[:8]!r})"


def _retrying(
    href: str, cfg: DownloadConfig, errors: tuple[type[Exception], ...], fn: Callable[[], R], failed: str
) -> R:
    """``fn()``, tried ``cfg.retries + 1`` times with exponential backoff, GDAL's cached answer about ``href``
    dropped before each retry; ``ValueError("<failed> after N attempt(s) (<last error>)")`` when none worked.
    The one retry loop of a remote read (GDAL's own retries are off): a :class:`BrokenRaster` or an answer
    that cannot change (HTTP 404) fails at once."""
    from agriseg.batch.errors import stop_if_interrupted

    last, slow = "", False
    for attempt in range(cfg.retries + 1):
        if attempt:
            stop_if_interrupted()  # a Ctrl-C GDAL's callback swallowed during the failed read
            time.sleep(cfg.backoff_s * 2 ** (attempt - 1))
            _forget_remote(href)
        start = time.monotonic()
        try:
            return fn()
        except BrokenRaster as err:
            raise ValueError(f"{failed} ({err})") from None
        except errors as err:
            last, slow = str(err), time.monotonic() - start >= 0.9 * cfg.timeout_s
            if _PERMANENT.search(last):
                raise ValueError(f"{failed} ({last})") from None
            if attempt == 0 and "could not connect" in last.lower():  # GDAL's words for a refused connection too
                from agriseg.data.download import unreachable

                if problem := unreachable(href):  # a closed port: retrying with backoff cannot help
                    raise ValueError(f"{failed} ({problem})") from None
            if "not recognized as being in a supported file format" in last and (why := _not_a_raster(href, cfg)):
                raise ValueError(f"{failed} ({why})") from None
            if slow and attempt < cfg.retries:  # said on each retry, as a search's (a minute of silence each)
                from agriseg.data.io import log

                log.warning("%s: no answer within %g s; trying again (attempt %d of %d)", href.split("?")[0],
                            cfg.timeout_s, attempt + 2, cfg.retries + 1)  # fmt: skip
    # GDAL's words for a stalled transfer ("Failed to read directory at offset 192") or a body cut short ("Read
    # failed. See previous exception for details.") say neither
    if slow:
        last = f"no answer within {cfg.timeout_s:g} s; {last}"
    elif "see previous exception" in last.lower():
        last = "the transfer was cut off, or the file on the server is damaged"
    raise ValueError(f"{failed} after {cfg.retries + 1} attempt(s) ({last})")


def _open_remote(href: str, cfg: DownloadConfig, what: str) -> Any:
    """Open a remote raster, retrying with backoff."""
    import rasterio

    def open_it() -> Any:
        return rasterio.open(href)

    return _retrying(
        href, cfg, (rasterio.errors.RasterioIOError,), open_it, f"{what}: cannot open {href.split('?')[0]}"
    )


def _check_georeferenced(src: Any, href: str) -> None:
    """Refuse a band without CRS or geotransform: warped into the grid, it lands nowhere and reads as no data
    (a file cut short on the server reads so), which would pass as a scene with one empty band."""
    if src.crs is None or src.transform.is_identity:
        raise BrokenRaster(f"{href.split('?')[0]} has no CRS or georeference (a file cut short?)")


def _native_bounds(items: list[Any], crs: Any, cfg: DownloadConfig) -> tuple[float, float, float, float]:
    """Bounds (in ``crs``) of the red bands of ``items`` together (read from the rasters' headers)."""
    from rasterio.warp import transform_bounds

    from agriseg.fields.stac import band_href

    boxes = []
    for item in items:
        with _env(cfg), _open_remote(band_href(item, "red"), cfg, item.id) as src:
            boxes.append(transform_bounds(src.crs, crs, *src.bounds) if src.crs != crs else tuple(src.bounds))
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _grid(items: dict[str, list[Any]], bbox: BBox | None, cfg: DownloadConfig) -> Grid:
    """Output grid: window A's first item's CRS over ``bbox`` (or where both windows' items overlap)."""
    from rasterio.warp import transform_bounds

    from agriseg.fields.stac import band_href

    first = items["a"][0]
    with _env(cfg), _open_remote(band_href(first, "red"), cfg, first.id) as src:
        crs = src.crs
    if crs is None:  # a GeoTIFF cut short loses its georeference keys first: said as the other reads say it
        raise ValueError(
            f"{first.id}: its red band has no CRS ({band_href(first, 'red').split('?')[0]}: the transfer was cut "
            "off, or the file on the server is damaged)"
        )
    if bbox is None:
        boxes = [_native_bounds(its, crs, cfg) for its in items.values()]
        x0, y0 = max(b[0] for b in boxes), max(b[1] for b in boxes)
        x1, y1 = min(b[2] for b in boxes), min(b[3] for b in boxes)
        if x0 >= x1 or y0 >= y1:
            raise ValueError(
                f"{', '.join(i.id for i in items['a'])} and {', '.join(i.id for i in items['b'])}: "
                "window A and window B items do not overlap"
            )
    else:
        x0, y0, x1, y1 = transform_bounds("EPSG:4326", crs, *bbox, densify_pts=21)
    r = cfg.resolution
    x0, y0 = math.floor(x0 / r) * r, math.floor(y0 / r) * r
    x1, y1 = math.ceil(x1 / r) * r, math.ceil(y1 / r) * r
    width, height = round((x1 - x0) / r), round((y1 - y0) / r)
    return Grid(crs.to_wkt(), (r, 0.0, x0, 0.0, -r, y1), width, height)


def _env(cfg: DownloadConfig) -> Any:
    import rasterio

    return rasterio.Env(
        GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",  # no directory listings over HTTP
        GDAL_HTTP_MERGE_CONSECUTIVE_RANGES="YES",
        GDAL_HTTP_MAX_RETRY="0",  # the retries are _retrying's: one loop, with GDAL's cached answers dropped
        GDAL_HTTP_TIMEOUT=str(int(cfg.timeout_s)),
        CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif,.tiff,.TIF,.jp2",
    )


def _read_band(item: Any, band: str, grid: Grid, cfg: DownloadConfig) -> np.ndarray:
    """One band of one item in the output grid ``(H, W)`` uint16 (0 = no data), with retries."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    from agriseg.fields.stac import band_href

    href = band_href(item, band)

    def read() -> np.ndarray:
        with _env(cfg):
            with warnings.catch_warnings():  # a band without georeference is refused in one line, not warned of
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                src = rasterio.open(href)
            with src:
                _check_georeferenced(src, href)
                with WarpedVRT(
                    src,
                    crs=rasterio.crs.CRS.from_wkt(grid.crs),
                    transform=Affine(*grid.transform),
                    width=grid.width,
                    height=grid.height,
                    resampling=Resampling.nearest,
                    src_nodata=0,
                    nodata=0,
                ) as vrt:
                    return vrt.read(1, out_dtype="uint16")  # (H, W)

    errors = (rasterio.errors.RasterioIOError,)
    return _retrying(href, cfg, errors, read, f"{item.id}: reading band {band} ({href.split('?')[0]}) failed")


def _band_mosaic(items: list[Any], band: str, grid: Grid, cfg: DownloadConfig, harmonise: bool, bar: Any) -> np.ndarray:
    """The mosaic of ``band`` over ``items`` ``(H, W)``: the first item's pixels win, later ones fill gaps."""
    from agriseg.fields.stac import boa_offset_of

    out = np.zeros((grid.height, grid.width), dtype=np.uint16)  # (H, W)
    for item in items:
        data = _read_band(item, band, grid, cfg)
        if harmonise:
            off = boa_offset_of(item)
            shifted = np.clip(data.astype(np.int32) + int(off), 1, 65535).astype(np.uint16)
            data = np.where(data > 0, shifted, 0).astype(np.uint16)
        gap = out == 0
        out[gap] = data[gap]
        bar.update(1)
        if not gap.any():
            bar.update(len(items) - items.index(item) - 1)
            break
    return out


def _iso(t: Any) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tags(items: dict[str, list[Any]], harmonise: bool, cfg: DownloadConfig) -> dict[str, str]:
    from agriseg.fields.stac import boa_offset_of, item_datetime

    tags: dict[str, str] = {"STAC_API": cfg.stac_url, "STAC_COLLECTION": cfg.collection}
    baselines: list[str] = []
    for w, its in items.items():
        W = w.upper()
        tags[f"WIN_{W}_ITEM"] = ",".join(i.id for i in its)
        tags[f"WIN_{W}_DATETIME"] = _iso(max(item_datetime(i) for i in its))
        pbs = sorted({str(i.properties.get("s2:processing_baseline", "")) for i in its} - {""})
        if pbs:
            tags[f"WIN_{W}_PROCESSING_BASELINE"] = ",".join(pbs)
        baselines += pbs
    offsets = {boa_offset_of(i) for its in items.values() for i in its}
    tags["BOA_ADD_OFFSET"] = f"{0.0 if harmonise else offsets.pop():g}"
    if baselines:
        tags["PROCESSING_BASELINE"] = max(baselines)
    return tags


def _write_cog(
    output: Path, bands: list[np.ndarray], grid: Grid, tags: dict[str, str], tmp_dir: Path, names: list[str]
) -> None:
    import rasterio
    from affine import Affine
    from rasterio.enums import ColorInterp

    from agriseg.raster.io import tiled_profile, to_cog

    tiled = tmp_dir / "stack.tif"
    crs, transform = rasterio.crs.CRS.from_wkt(grid.crs), Affine(*grid.transform)
    profile = tiled_profile("uint16", len(bands), grid.width, grid.height, crs, transform, nodata=0, interleave="band")
    with rasterio.open(tiled, "w", **profile) as dst:
        for i, (arr, name) in enumerate(zip(bands, names, strict=True), start=1):
            dst.write(arr, i)
            dst.set_band_description(i, name)
        dst.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * (len(bands) - 1)
        dst.update_tags(**tags)
    to_cog(tiled, output)


def _request_key(request: dict, cfg: DownloadConfig, extra_tags: dict[str, str] | None) -> str:
    """A digest of what a download writes: the request, the options that change the pixels, the extra tags."""
    import hashlib

    what = {"request": request, "options": cfg.output_options(), "tags": extra_tags or {}}
    return hashlib.sha1(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def _kept_scene(output: Path, key: str, windows: Sequence[str], seconds: float) -> DownloadResult | None:
    """The result of an earlier download of the same request into ``output`` (its tag), else None."""
    import rasterio

    try:
        with rasterio.open(output) as ds:
            tags = ds.tags()
            if tags.get("AGRISEG_REQUEST") != key:
                return None
            data = ds.read()  # (windows x bands, H, W)
            width, height = ds.width, ds.height
    except Exception:  # noqa: BLE001 - any reader error means: not a scene to keep
        return None
    per = data.shape[0] // max(1, len(windows))
    valid = {w: float((data[i * per : (i + 1) * per] > 0).any(0).mean()) for i, w in enumerate(windows)}
    items = {w: [i for i in tags.get(f"WIN_{w.upper()}_ITEM", "").split(",") if i] for w in windows}
    return DownloadResult(output, "resumed", items, width, height, valid, seconds)


def _load_state(pdir: Path, request: dict) -> dict | None:
    """The recorded items and grid of an unfinished download of the same request, else None."""
    manifest = pdir / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        state = json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return state if state.get("request") == request else None


def _warn_window_order(output: Path, chosen: Mapping[str, Sequence[Any]]) -> None:
    """Warn when window B is no later than window A: the models read A as the season's start (planting) and B
    as its end (harvest), so swapped or identical windows read a season that is not there (session 93's sweep)."""
    if not chosen.get("a") or not chosen.get("b"):
        return
    a, b = [sorted(i.datetime for i in chosen[w] if i.datetime is not None) for w in "ab"]
    same = {i.id for i in chosen["a"]} & {i.id for i in chosen["b"]}
    from agriseg.data.io import log

    if same:
        first = sorted(same)[0]
        log.warning("%s: windows A and B are the same acquisition (%s): give window B later dates", output, first)
    elif a and b and b[-1] <= a[0]:
        log.warning("%s: window B (%s) is not later than window A (%s): A is the season's start, B its end; swap "
                    "them if that was meant", output, b[-1].date(), a[0].date())  # fmt: skip


def download_scene(
    output: str | Path,
    cfg: DownloadConfig | None = None,
    bbox: BBox | None = None,
    win_a_dates: tuple[str, str] | None = None,
    win_b_dates: tuple[str, str] | None = None,
    win_a: Sequence[str] = (),
    win_b: Sequence[str] = (),
    overwrite: bool = False,
    progress: bool = True,
    windows: Sequence[str] = WINDOWS,
    bands: Sequence[str] = BAND_NAMES,
    extra_tags: dict[str, str] | None = None,
    keep_current: bool = False,
) -> DownloadResult:
    """Download a Sentinel-2 scene into a uint16 COG (default: two windows, 8 bands).

    Args:
        output: the ``.tif`` to write.
        cfg: STAC API, collection, cloud limit, resolution, retries.
        bbox: area ``(W, S, E, N)`` in degrees; without it the scene covers the items' common footprint.
        win_a_dates: ``(start, end)`` of window A (with ``bbox``; ignored when ``win_a`` is given).
        win_b_dates: the same for window B.
        win_a: explicit window A items (ids in ``cfg.collection`` or item URLs); several are mosaicked.
        win_b: the same for window B.
        overwrite: replace an existing output (and start over instead of resuming).
        progress: show a tqdm bar of band reads.
        windows: ``("a", "b")``, or ``("a",)`` for single-window models.
        bands: bands of each window, in output order (``red, green, blue, nir``; RGB for DelineateAnything).
        extra_tags: more GeoTIFF tags (e.g. how the dates were chosen).
        keep_current: with ``overwrite``, still keep an ``output`` downloaded for this very request and these
            options (its ``AGRISEG_REQUEST`` tag); status ``"resumed"``. For a batch that remakes an unfinished
            item whose scene was complete, e.g. ``fields run`` interrupted while it predicted.

    Raises:
        ValueError: bad request, nothing found, an item without a band, or a STAC API / read that failed
            after its retries (re-running resumes). The message names what was asked.
    """
    import pystac

    from agriseg.batch import progress_bar
    from agriseg.fields.stac import band_href, boa_offset_of, signer

    t0 = time.perf_counter()
    cfg = cfg or DownloadConfig()
    output = Path(output)
    if output.suffix.lower() not in (".tif", ".tiff"):
        raise ValueError(f"{output}: the scene is a GeoTIFF, name it .tif")
    if output.exists() and not overwrite:
        return DownloadResult(output, "skipped")
    pdir = parts_dir(output)
    if pdir.exists() and not pdir.is_dir():  # "[Errno 17] File exists" after the search
        raise ValueError(f"{pdir}: a file is in the way of the download's working folder; move or rename it")
    windows = tuple(windows)
    bands = tuple(bands)
    request = _request(
        cfg, bbox, {"a": win_a_dates, "b": win_b_dates}, {"a": list(win_a), "b": list(win_b)}, windows, bands
    )
    request = json.loads(json.dumps(request))  # tuples -> lists, as read back from the manifest
    key = _request_key(request, cfg, extra_tags)
    if output.exists() and keep_current:
        kept = _kept_scene(output, key, windows, time.perf_counter() - t0)
        if kept is not None:
            return kept
    state = None if overwrite else _load_state(pdir, request)
    if state is None:
        shutil.rmtree(pdir, ignore_errors=True)
        chosen = _choose_items(cfg, bbox, {"a": win_a_dates, "b": win_b_dates}, {"a": win_a, "b": win_b}, windows)
        _warn_window_order(output, chosen)
        for w in windows:  # fail before reading anything if an item lacks a band
            for item in chosen[w]:
                for b in bands:
                    band_href(item, b)
        grid = _grid(chosen, bbox, cfg)
        _check_memory(output, grid, cfg, windows, bands)  # before any part is kept: nothing to clean up
        signed = signer(cfg) is not None
        unsigned = {w: [_unsigned(i, signed) for i in chosen[w]] for w in windows}
        with writing(output):  # a full disk is said of the scene, not of its work files
            pdir.mkdir(parents=True, exist_ok=True)
            write_json(pdir / "manifest.json", {"request": request, "items": unsigned, "grid": grid.__dict__})
        resumed = False
    else:
        sign = signer(cfg)
        chosen = {w: [pystac.Item.from_dict(d) for d in state["items"][w]] for w in windows}
        if sign is not None:
            for w in windows:
                for item in chosen[w]:
                    sign(item)
        grid = Grid(**state["grid"])
        resumed = True
    if resumed:
        for w in windows:
            for item in chosen[w]:
                for b in bands:
                    _forget_remote(band_href(item, b))
        _check_memory(output, grid, cfg, windows, bands)
    harmonise = len({boa_offset_of(i) for w in windows for i in chosen[w]}) > 1
    total = sum(len(chosen[w]) * len(bands) for w in windows)
    arrays: list[np.ndarray] = []
    valid: dict[str, float] = {}
    with progress_bar(total=total, desc=output.name, unit="read", disable=not progress) as bar:
        for w in windows:
            # a pixel has data where every band has (0 is Sentinel-2's no data): a band its items cover only in
            # part (an asset of a smaller grid) left NIR 0 on 42 % of the area, said as "B 100%"
            all_data = np.ones((grid.height, grid.width), dtype=bool)
            for b in bands:
                part = pdir / f"{w}_{b}.npy"
                if (arr := _read_part(part, grid)) is not None:
                    bar.update(len(chosen[w]))
                else:
                    arr = _band_mosaic(chosen[w], b, grid, cfg, harmonise, bar)
                    with writing(output), atomic_write(part) as tmp:
                        np.save(tmp, arr)
                all_data &= arr > 0
                arrays.append(arr)
            valid[w] = float(all_data.mean())
    empty = [w for w in windows if valid[w] == 0.0]
    if empty:  # a scene of zeros, "ok": every later step found nothing and blamed the nodata value
        shutil.rmtree(pdir, ignore_errors=True)
        w = empty[0]
        raise ValueError(
            f"{output}: window {w.upper()} has no data anywhere over the area: its items "
            f"({', '.join(i.id for i in chosen[w])}) do not cover it (check the area and the items)"
        )
    if thin := [w for w in windows if valid[w] < PART_COVER_WARNED]:  # 0.003 % of the area was "ok"
        from agriseg.data.io import log

        w = thin[0]
        ids = ", ".join(i.id for i in chosen[w])
        log.warning("%s: window %s has data on only %.2g%% of the area: its items (%s) cover part of it; fields are "
                    "found only there", output, w.upper(), 100 * valid[w], ids)  # fmt: skip
    names = [f"win_{w}_{b}" for w in windows for b in bands]
    tags = {**_tags(chosen, harmonise, cfg), **(extra_tags or {}), "AGRISEG_REQUEST": key}
    with writing(output):
        _write_cog(output, arrays, grid, tags, pdir, names)
    shutil.rmtree(pdir, ignore_errors=True)
    return DownloadResult(
        output,
        "resumed" if resumed else "ok",
        {w: [i.id for i in chosen[w]] for w in windows},
        grid.width,
        grid.height,
        valid,
        time.perf_counter() - t0,
    )


def _check_memory(output: Path, grid: Grid, cfg: DownloadConfig, windows: Sequence[str], bands: Sequence[str]) -> None:
    """Refuse a scene whose bands would not fit in memory (the figure in the message)."""
    from agriseg.data.memory import check_memory

    need = float(grid.height) * grid.width * _pixel_bytes(windows, bands)
    check_memory(need, f"{output.name} at --resolution {cfg.resolution} ({grid.width} x {grid.height} px)",
                 "a smaller area or a coarser --resolution")  # fmt: skip


def _pixel_bytes(windows: Sequence[str], bands: Sequence[str]) -> int:
    """Bytes a pixel of the scene takes while it is made: every band is kept (uint16) until the GeoTIFF is
    written, plus one band being mosaicked and a mask."""
    return 2 * (len(windows) * len(bands) + 2) + 1


def area_memory(bbox: BBox, resolution: float, windows: Sequence[str], bands: Sequence[str]) -> tuple[float, str]:
    """The fewest bytes a scene over ``bbox`` needs, known before any search, and how to name it: the area on the
    sphere over the pixel's (any projected grid's rectangle around the box holds at least that many pixels)."""
    w, s, e, n = bbox
    radius = 6_371_008.8  # m, the mean Earth radius
    area = radius**2 * math.radians(e - w) * abs(math.sin(math.radians(n)) - math.sin(math.radians(s)))
    pixels = area / resolution**2
    what = f"the area {w:g},{s:g},{e:g},{n:g} at --resolution {resolution:g} (at least {pixels:,.0f} px)"
    return pixels * _pixel_bytes(windows, bands), what


def _unsigned(item: Any, signed: bool) -> dict:
    """An item as JSON; signing tokens are dropped from asset URLs (they expire; a resumed run signs again)."""
    d = item.to_dict()
    if signed:
        for a in d.get("assets", {}).values():
            a["href"] = a["href"].split("?")[0]
    return d


__all__ = ["DownloadResult", "area_memory", "download_scene", "parts_dir"]
