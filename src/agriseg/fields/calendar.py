"""Season dates from global crop calendars: ``--season auto`` picks window A and B for an area and a year.

The calendars are the four rasters ftw-tools 2.0 uses: start (SOS) and end (EOS) of season of summer and
of winter crops, day of year 1-365, 0.5 degree cells (EPSG:4326), 0 = no crops / no data. They come from
the WorldCereal crop calendars (Franch et al. 2022, GIScience & Remote Sensing 59(1) 885-913,
doi:10.1080/15481603.2022.2079273; Moletto-Lobos et al., phase 2). Their source repository states no
licence, so agriseg does not ship them: they are fetched once into the user cache
(``<cache>/crop-calendar``; ``AGRISEG_CALENDAR_BASE_URL`` points at a mirror or a test server) and their
SHA-256 goes into the run record.

The rule (each part is recorded with the dates):

- **Year**: ``--year`` is the year the season starts (planting). When the end day is earlier than the
  start day the season crosses the new year (southern-hemisphere summer crops, northern winter crops) and
  the end date falls in ``year + 1``.
- **Crops**: ``--crop-season summer`` (default, as ftw-tools) or ``winter``.
- **Windows**: window A = start day +- ``--season-window`` days (default 14, as ftw-tools), window B = end
  day +- the same. Single-window models use window A.
- **Several cells**: an area over several calendar cells takes the circular median of its cells' days
  (days on a 365-day circle, cut at the widest gap between them, so 360 and 5 give a date around new
  year, not July); ftw-tools uses a circular mean of the first row of cells.
- **No-data cells**: cells without crops are ignored; an area with none takes the nearest cell with a
  value within ``max_cells`` cells (1 degree by default) and says so; farther than that it is an error
  naming the area (give ``--win-a-dates`` / ``--win-b-dates``).
- **Manual dates win**: ``--win-a-dates`` / ``--win-b-dates`` given with ``--season auto`` replace the
  calendar's window.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

CALENDAR_URL = "https://data.source.coop/ftw/ftw-inference-input/global-crop-calendar/"
FILES: dict[tuple[str, str], str] = {
    ("summer", "sos"): "sc-sos-3x3-v2-cog.tiff",
    ("summer", "eos"): "sc-eos-3x3-v2-cog.tiff",
    ("winter", "sos"): "wc-sos-3x3-v2-cog.tiff",
    ("winter", "eos"): "wc-eos-3x3-v2-cog.tiff",
}
CropSeason = Literal["summer", "winter"]
BBox = tuple[float, float, float, float]


@dataclass
class SeasonDates:
    """The dates ``--season auto`` chose for one area, and how."""

    year: int
    crop_season: str
    window_days: int
    sos_day: int
    eos_day: int
    start: str  # ISO date of the start of season
    end: str  # ISO date of the end of season
    crosses_year: bool
    win_a: tuple[str, str]
    win_b: tuple[str, str]
    cells: int  # calendar cells with a value that were combined
    how: str  # "median of N cells" / "1 cell" / "nearest cell, X km away"
    sources: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> url, sha256

    def record(self) -> dict[str, Any]:
        """As JSON-ready data (for the run record)."""
        d = asdict(self)
        d["win_a"], d["win_b"] = list(self.win_a), list(self.win_b)
        return d


def base_url() -> str:
    """Where the calendar files are fetched from (``AGRISEG_CALENDAR_BASE_URL`` or the ftw-tools address)."""
    from agriseg.data.download import base_url

    return base_url("AGRISEG_CALENDAR_BASE_URL", CALENDAR_URL).rstrip("/") + "/"


def calendar_files(crop_season: CropSeason, progress: bool = True, retries: int = 4) -> dict[str, Path]:
    """The start and end rasters of ``crop_season``, downloaded into the user cache on first use.

    Raises:
        ValueError: a failed download (the message names the URL; a re-run resumes).
    """
    from agriseg.data.download import download
    from agriseg.data.files import user_cache

    folder = user_cache("crop-calendar")
    out = {}
    for part in ("sos", "eos"):
        name = FILES[(crop_season, part)]
        dst = folder / name
        if dst.is_file() and not _readable(dst):  # damaged in the cache (a disk error, an edit): every later run
            from agriseg.data.io import log  # failed on it with GDAL's "not recognized"; fetched again instead

            log.warning("%s: the cached crop calendar is damaged (not a readable raster); downloading it again", dst)
            dst.unlink()
        if not dst.is_file():
            download(base_url() + name, dst, retries=retries, progress=progress)
        out[part] = dst
    return out


def _readable(path: Path) -> bool:
    """Whether a cached raster opens and its last pixel reads (a COG keeps its full-resolution tiles last, so a
    file cut short loses them first: its header alone opened, and every later run failed on "Read failed")."""
    import rasterio
    from rasterio.windows import Window

    try:
        with rasterio.open(path) as ds:
            return ds.count >= 1 and ds.read(1, window=Window(ds.width - 1, ds.height - 1, 1, 1)).size == 1
    except Exception:  # noqa: BLE001 - any reader failure is a damaged file
        return False


def circular_median(days: np.ndarray, period: int = 365) -> int:
    """The median of days of year on a circle: cut at the widest gap between values, then the median."""
    d = np.sort(np.asarray(days, dtype=np.float64) - 1) % period  # 0-based
    if d.size == 1:
        return int(d[0]) + 1
    gaps = np.diff(np.concatenate([d, [d[0] + period]]))  # gap after each value (the last wraps)
    cut = int(np.argmax(gaps))
    unwrapped = np.concatenate([d[cut + 1 :], d[: cut + 1] + period])  # ascending, no wrap inside
    return int(round(float(np.median(unwrapped)))) % period + 1


def area_days(path: Path, bbox: BBox, max_cells: int = 2) -> tuple[np.ndarray, str]:
    """Day values of the calendar cells under ``bbox`` (nodata ignored), or of the nearest cell with a value.

    Raises:
        ValueError: no value within ``max_cells`` cells of the area.
    """
    import rasterio
    from rasterio.windows import Window, from_bounds

    w, s, e, n = bbox
    with rasterio.open(path) as ds:
        win = from_bounds(w, s, e, n, transform=ds.transform)
        r0, c0 = int(math.floor(win.row_off)), int(math.floor(win.col_off))
        r1, c1 = int(math.ceil(win.row_off + win.height)), int(math.ceil(win.col_off + win.width))
        r1, c1 = max(r1, r0 + 1), max(c1, c0 + 1)
        for grow in range(max_cells + 1):
            rr0, cc0 = max(0, r0 - grow), max(0, c0 - grow)
            rr1, cc1 = min(ds.height, r1 + grow), min(ds.width, c1 + grow)
            if rr1 <= rr0 or cc1 <= cc0:
                break
            v = ds.read(1, window=Window(cc0, rr0, cc1 - cc0, rr1 - rr0)).astype(np.float64)  # (h, w)
            ok = np.isfinite(v) & (v >= 1) & (v <= 366)
            if ds.nodata is not None:
                ok &= v != ds.nodata
            if not ok.any():
                continue
            if grow == 0:
                return v[ok], f"{int(ok.sum())} cell(s) under the area"
            rows, cols = np.nonzero(ok)
            xs, ys = ds.xy(rows + rr0, cols + cc0)
            cx, cy = (w + e) / 2, (s + n) / 2
            km = np.hypot((np.asarray(xs) - cx) * math.cos(math.radians(cy)), np.asarray(ys) - cy) * 111.32
            k = int(np.argmin(km))
            return v[ok][k : k + 1], f"nearest cell with a value, {km[k]:.0f} km from the area's centre"
    raise ValueError(
        f"bbox {','.join(f'{x:g}' for x in bbox)}: no crop-calendar value within {max_cells} cell(s) of the area "
        f"in {path.name} (sea, desert or no crops of this season); give --win-a-dates and --win-b-dates"
    )


def _date(year: int, doy: int) -> dt.date:
    return dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)


def season_dates(
    bbox: BBox,
    year: int,
    crop_season: CropSeason = "summer",
    window_days: int = 14,
    max_cells: int = 2,
    progress: bool = True,
    retries: int = 4,
) -> SeasonDates:
    """Window A and B date ranges for ``bbox`` in the season that starts in ``year`` (see the module rule).

    Raises:
        ValueError: no calendar value near the area, or a failed calendar download.
    """
    import rasterio

    from agriseg.data.download import sha256_of

    files = calendar_files(crop_season, progress=progress, retries=retries)
    days = {}
    for key in ("sos", "eos"):
        try:
            days[key] = area_days(files[key], bbox, max_cells)
        except rasterio.errors.RasterioIOError as err:  # damaged where the check did not read: fetched again
            for f in files.values():
                f.unlink(missing_ok=True)
            # GDAL's "Read failed. See previous exception for details." of a file cut short says neither
            why = "cut short" if "previous exception" in str(err).lower() else " ".join(str(err).split())
            raise ValueError(
                f"{files[key]}: the crop calendar file is damaged ({why}; from {base_url() + files[key].name}); "
                "removed from the cache, the next run downloads it again"
            ) from err
    (sos_days, how), (eos_days, _) = days["sos"], days["eos"]
    sos, eos = circular_median(sos_days), circular_median(eos_days)
    crosses = eos < sos
    start, end = _date(year, sos), _date(year + 1 if crosses else year, eos)
    pad = dt.timedelta(days=window_days)
    iso = dt.date.isoformat
    return SeasonDates(
        year=year,
        crop_season=crop_season,
        window_days=window_days,
        sos_day=sos,
        eos_day=eos,
        start=iso(start),
        end=iso(end),
        crosses_year=crosses,
        win_a=(iso(start - pad), iso(start + pad)),
        win_b=(iso(end - pad), iso(end + pad)),
        cells=int(sos_days.size),
        how=("circular median of " if sos_days.size > 1 else "") + how,
        sources={p.name: {"url": base_url() + p.name, "sha256": sha256_of(p)} for p in files.values()},
    )


__all__ = ["CALENDAR_URL", "FILES", "SeasonDates", "area_days", "calendar_files", "circular_median", "season_dates"]
