"""Finding Sentinel-2 L2A items in a STAC API: the area, the date ranges, the least cloudy scenes.

- :func:`parse_bbox` / :func:`area_bbox` - ``W,S,E,N`` in degrees, or the bounds of a vector file;
  :func:`check_area` checks one before any work.
- :func:`parse_dates` - ``START/END`` (ISO dates).
- :func:`open_api` - a pystac-client ``Client`` with retries (Planetary Computer items are signed).
- :func:`items_by_reference` - explicit items (ids in the collection, or item URLs).
- :func:`select_items` - the least cloudy acquisition under the cloud limit, with the neighbouring tiles of
  the same day when the area spans several tiles (then further items until the area is covered).
- :func:`band_href` - the asset of a band (Planetary Computer ``B04`` or Earth Search ``red`` naming).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agriseg.config import OptionError
from agriseg.fields.config import DownloadConfig

BBox = tuple[float, float, float, float]

# asset keys per output band, in the order the models expect (sentinel2.BAND_NAMES): Planetary Computer
# names first, then Earth Search's
BAND_ASSETS: dict[str, tuple[str, ...]] = {
    "red": ("B04", "red"),
    "green": ("B03", "green"),
    "blue": ("B02", "blue"),
    "nir": ("B08", "nir"),
}


def parse_bbox(text: str, what: str = "bbox") -> BBox:
    """``"W,S,E,N"`` in degrees (EPSG:4326) -> a tuple.

    Args:
        text: the four numbers, separated by commas (or spaces).
        what: how the messages name it (``--bbox`` on the command line).

    Raises:
        ValueError: not four finite numbers, empty or inverted, or outside [-180, 180] x [-90, 90] (projected
            coordinates); the message starts with ``what`` and the bbox as given.
    """
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError as err:
        raise ValueError(f"{what} {text!r}: expected four numbers W,S,E,N in degrees") from err
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise ValueError(f"{what} {text!r}: expected four numbers W,S,E,N in degrees (not nan or inf)")
    if not all(-180 <= x <= 180 for x in (w, e)) or not all(-90 <= y <= 90 for y in (s, n)):
        raise ValueError(
            f"{what} {text!r}: not in degrees (longitude -180..180, latitude -90..90); give W,S,E,N in EPSG:4326"
        )
    if w > e and s < n and w > 90 and e < -90:  # e.g. 179.9,-17,-179.9,-16.8: an area across the 180th meridian
        raise ValueError(
            f"{what} {text!r}: crosses the 180th meridian (W > E), which one scene cannot span; download each side "
            f"({w},{s},180,{n} and -180,{s},{e},{n}) on its own"
        )
    if w >= e or s >= n:
        why = "empty" if w == e or s == n else "inverted"
        raise ValueError(f"{what} {text!r}: {why} (expected W < E and S < N)")
    return (w, s, e, n)


def read_areas(path: str | Path) -> Any:
    """The features of a vector file as a GeoDataFrame in EPSG:4326.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unreadable file, or one without features or CRS (naming the file).
    """
    from agriseg.vector.read import read_vector, reproject

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: areas file not found")
    df = read_vector(path)
    if df.empty:
        raise ValueError(f"{path}: no features")
    if df.crs is None:  # a CSV of WKT polygons: its features read, the CRS unsaid ("no features, or no CRS")
        raise ValueError(f"{path}: no CRS (save the areas as GeoJSON, which is longitude / latitude, or as a "
                         "GeoPackage with its CRS)")  # fmt: skip
    return reproject(df, 4326, path, "longitude/latitude (EPSG:4326)")


def bounds_bbox(bounds: Sequence[float], what: str) -> BBox:
    """The bbox of an area's bounds in degrees (a feature's, or a whole vector file's).

    Raises:
        ValueError: no geometry (empty or null: NaN bounds), or wider than half the globe, as an area split at
            the 180th meridian into two parts (RFC 7946) is; the message starts with ``what``.
    """
    w, s, e, n = (float(v) for v in bounds)
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise ValueError(f"{what}: no geometry")
    if not all(-180 <= x <= 180 for x in (w, e)) or not all(-90 <= y <= 90 for y in (s, n)):
        # before the span: projected metres read as degrees spanned "2000 degrees", as an area split at 180 does
        raise ValueError(
            f"{what}: coordinates ({w:.10g},{s:.10g},{e:.10g},{n:.10g}) are not degrees (longitude -180..180, "
            "latitude -90..90): they look projected; give the file its CRS (a GeoJSON "
            "file without one is read as longitude/latitude)"
        )
    if e - w > 180:  # one Sentinel-2 scene spans about 1.5 degrees: this is two parts, each side of 180
        raise ValueError(
            f"{what}: spans {e - w:g} degrees of longitude ({w:g} to {e:g}), as an area split at the 180th meridian "
            "does, which one scene cannot span; give each side as an area of its own"
        )
    if w == e or s == n:  # a point or a line drawn in a GIS (parse_bbox would call it an "empty" bbox)
        raise ValueError(f"{what}: a point or a line ({w:g},{s:g},{e:g},{n:g}), not an area; give the area's polygon")
    return parse_bbox(f"{w},{s},{e},{n}", what)


def area_bbox(value: str) -> BBox:
    """A bbox from ``W,S,E,N`` or from an existing vector file (its bounds, reprojected to EPSG:4326)."""
    if not Path(value).is_file():
        return parse_bbox(value)
    return bounds_bbox(read_areas(value).total_bounds, value)


# what makes an area argument a file name rather than W,S,E,N
VECTOR_SUFFIXES = frozenset({".geojson", ".json", ".gpkg", ".shp", ".fgb", ".parquet", ".geoparquet", ".kml", ".gml"})


def check_area(value: str, what: str = "--bbox") -> None:
    """Check an area argument before any work: four numbers in degrees, or a vector file that reads.

    Raises:
        FileNotFoundError: a vector file name (by its suffix, or a word without commas) that is not there.
        OptionError: not four numbers in degrees, an empty or inverted box, or a file that is not a vector
            file with features and a CRS (the message names ``what``).
    """
    path = Path(value)
    if value.strip() and path.exists():
        if not path.is_file():
            raise OptionError(f"{what} {value}: a folder; give W,S,E,N in degrees or a vector file")
        try:
            bounds_bbox(read_areas(path).total_bounds, str(path))
        except ValueError as err:
            raise OptionError(f"{what} {err}") from None
        return
    if path.suffix.lower() in VECTOR_SUFFIXES:
        raise FileNotFoundError(f"{what} {value}: no such file")
    if value.strip() and "," not in value and " " not in value.strip():
        raise FileNotFoundError(f"{what} {value}: no such file, and not W,S,E,N (four numbers in degrees)")
    parse_bbox(value, what)


def _iso_day(text: str) -> dt.date:
    """The day of an ISO date or datetime (``2023-03-01``, ``2023-03-01T10:00:00Z``); ValueError if it is none."""
    if len(text) > 10:
        return dt.datetime.fromisoformat(text).date()
    return dt.date.fromisoformat(text)


def parse_dates(text: str, what: str = "date range") -> tuple[str, str]:
    """``"START/END"`` (ISO dates or datetimes, START <= END) -> the two strings.

    Args:
        text: the range.
        what: how the messages name it (``--win-a-dates`` on the command line).

    Raises:
        ValueError: not two ISO dates (or not real calendar days), or END before START; the message starts
            with ``what`` and the range as given.
    """
    parts = [p.strip() for p in text.split("/")]
    if len(parts) != 2:
        raise ValueError(f"{what} {text!r}: expected START/END, e.g. 2023-03-01/2023-05-31")
    for p in parts:  # which part, and why: "20230401/20230430" and "2023-04-01/.." were both "expected START/END"
        if not re.match(r"\d{4}-\d{2}-\d{2}([T ]|$)", p):
            how = "an open end is not taken: give both days" if p in ("", "..") else "write days as YYYY-MM-DD"
            part = repr(p) if p else "an empty part"
            raise ValueError(f"{what} {text!r}: {part} is not a date ({how}), e.g. 2023-03-01/2023-05-31")
    days = []
    for p in parts:
        try:
            days.append(_iso_day(p))
        except ValueError as err:
            raise ValueError(f"{what} {text!r}: {p} is not a valid date or ISO datetime ({err})") from err
    from agriseg.raster.io import parse_utc

    # by the instant, in UTC, as the search sends them: "2023-04-10T12:00/2023-04-10T08:00" is one day, and was
    # sent to the API as an interval that ends before it starts (session 106's sweep)
    start, end = (parse_utc(_rfc3339(p, end_of_day)) for p, end_of_day in zip(parts, (False, True), strict=True))
    if end < start:  # (not by local days: 01:00+05:00 on the 11th is the 10th, 20:00 UTC)
        raise ValueError(f"{what} {text!r}: END is before START")
    return parts[0], parts[1]


def _search_range(dates: tuple[str, str]) -> str:
    """A range :func:`parse_dates` accepted, as the RFC 3339 interval a STAC search takes: a day spans the whole
    day; a datetime written with a space or without seconds (``2023-04-01 00:00``) is written in full, in UTC (no
    time zone: UTC), or the API refused what the command's check had accepted."""
    start, end = (_rfc3339(d, end_of_day) for d, end_of_day in zip(dates, (False, True), strict=True))
    return f"{start}/{end}"


def _rfc3339(text: str, end_of_day: bool) -> str:
    from agriseg.raster.io import parse_utc

    if len(text) == 10:  # a day
        return text + ("T23:59:59Z" if end_of_day else "T00:00:00Z")
    return parse_utc(text).isoformat().replace("+00:00", "Z")


def signer(cfg: DownloadConfig) -> Any:
    """The function that signs items in place (Planetary Computer), or None."""
    sign = cfg.sign
    if sign == "auto":
        sign = "planetary-computer" if "planetarycomputer" in cfg.stac_url else "none"
    if sign == "none":
        return None
    import planetary_computer

    return planetary_computer.sign_inplace


def stac_io(cfg: DownloadConfig) -> Any:
    """pystac-client's HTTP reader with ``cfg``'s retries (backoff, on 429 and 5xx answers) and timeout."""
    from pystac_client.stac_api_io import StacApiIO

    from agriseg.fields.retry import StacRetry

    class PagesChecked(StacApiIO):
        """pystac-client ends a search at a page without a ``features`` list: an API's error object
        (``{"error": "busy"}``) read as a search that found nothing. Here it is an answer of the wrong shape."""

        last: Any = None

        def read_json(self, *args: Any, **kwargs: Any) -> Any:
            self.last = super().read_json(*args, **kwargs)
            return self.last

        def get_pages(self, *args: Any, **kwargs: Any) -> Any:
            yield from super().get_pages(*args, **kwargs)
            if not any(isinstance(self.last.get(key), list) for key in ("features", "collections")):
                raise TypeError("a page without a features list")

    retry = StacRetry(
        total=cfg.retries,
        backoff_factor=cfg.backoff_s,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,  # POST searches too
    )
    return PagesChecked(max_retries=retry, timeout=cfg.timeout_s)


def open_api(cfg: DownloadConfig) -> Any:
    """A pystac-client ``Client`` for ``cfg.stac_url`` (HTTP retries with backoff; items signed if needed).

    Raises:
        ValueError: the API does not answer or is not a STAC API (message starts with its URL).
    """
    import warnings

    from pystac_client import Client
    from pystac_client.warnings import NoConformsTo

    from agriseg.data.download import unreachable

    problem = unreachable(cfg.stac_url)
    if problem:  # before the retries with backoff, which cannot help
        raise ValueError(f"{cfg.stac_url}: STAC API not reachable ({problem})")
    try:
        io = stac_io(cfg)
        with warnings.catch_warnings():  # a static catalog's "NoConformsTo": its search fails later, in words
            warnings.simplefilter("ignore", NoConformsTo)
            return Client.open(cfg.stac_url, modifier=signer(cfg), stac_io=io, timeout=cfg.timeout_s)
    except Exception as err:  # noqa: BLE001 - requests, JSON and pystac errors alike
        code = getattr(err, "status_code", None)  # pystac-client's APIError: the server answered, with an error
        if code:
            raise ValueError(f"{cfg.stac_url}: no STAC API there (HTTP {code})") from err
        problem = api_problem(err)  # it answered, but not as a STAC API (a file, other JSON); or it did not answer
        said = "no STAC API there" if problem.startswith(ANSWERED_OTHERWISE) else "STAC API not reachable"
        raise ValueError(f"{cfg.stac_url}: {said} ({problem})") from err


ANSWERED_OTHERWISE = "it answered with"  # api_problem's words for a server that answered, but not as a STAC API


def api_problem(err: BaseException) -> str:
    """One short line for a failed STAC request: an answer that is not JSON (a web page), an HTTP error, or the
    network's (:func:`agriseg.data.download.network_problem`), never a library's nested dump."""
    import json

    from agriseg.batch import error_chain
    from agriseg.data.download import network_problem

    chain = list(error_chain(err))  # pystac-client wraps the decoding error in its own
    if any(isinstance(e, UnicodeDecodeError) for e in chain) or "codec can't decode" in str(err):
        return f"{ANSWERED_OTHERWISE} a file, not JSON"
    if any(type(e).__name__ == "STACTypeError" for e in chain) or "expected type=" in str(err):
        return f"{ANSWERED_OTHERWISE} JSON that is no STAC catalog"
    if isinstance(err, json.JSONDecodeError) or type(err).__name__ == "JSONDecodeError":
        return f"{ANSWERED_OTHERWISE} something that is not JSON (a web page, or an answer cut short)"
    code = getattr(err, "status_code", None)
    if code:
        return f"HTTP {code}"
    return network_problem(err)


def _search(client: Any, cfg: DownloadConfig, what: str, **kw: Any) -> list[Any]:
    """The items of a search, each once, page by page up to ``cfg.max_items``. A page of items all seen
    before ends it: an API whose ``next`` link leads back (a loop) was followed to the item limit, listing one
    item hundreds of times and never reaching the others."""
    try:
        search = client.search(collections=[cfg.collection], max_items=cfg.max_items, **kw)
        items: dict[str, Any] = {}
        for page in search.pages():
            new = [i for i in page.items if i.id not in items]
            if page.items and not new:
                break
            items.update((i.id, i) for i in new)
            if cfg.max_items is not None and len(items) >= cfg.max_items:
                break
        return list(items.values())[: cfg.max_items]
    except Exception as err:  # noqa: BLE001 - the API failed after its retries
        if type(err).__name__ == "DoesNotConformTo":  # pystac-client's: a static catalog, or an API without search
            raise ValueError(
                f"{cfg.stac_url}: a STAC catalog without item search: it cannot be searched by area and dates; "
                "give its item files (or URLs) with --win-a and --win-b"
            ) from err
        # pystac-client reads a search answer as an ItemCollection without checking it: JSON of another shape
        # ([1, 2], an object without features) was "'list' object has no attribute 'get'" (session 104's sweep)
        problem = (
            f"{ANSWERED_OTHERWISE} JSON that is not a STAC ItemCollection (features)"
            if isinstance(err, (AttributeError, KeyError, TypeError))
            else api_problem(err)
        )
        if problem.startswith("no answer in time"):  # how long it was waited for, as a band's read says
            problem += f", {cfg.retries + 1} attempt(s) of up to {cfg.timeout_s:g} s each"
        raise ValueError(f"{cfg.stac_url}: search for {what} failed ({problem})") from err


def items_by_reference(client: Any | None, refs: Sequence[str], cfg: DownloadConfig, window: str) -> list[Any]:
    """Items given by id (looked up in ``cfg.collection``) or by URL / path of the item JSON.

    Raises:
        ValueError: an id the API does not know, or an unreadable item URL.
    """
    import pystac

    urls = [r for r in refs if r.startswith(("http://", "https://")) or r.endswith(".json")]
    ids = [r for r in refs if r not in urls]
    items = []
    sign = signer(cfg)
    io = stac_io(cfg) if any(u.startswith(("http://", "https://")) for u in urls) else None
    for url in urls:
        try:  # an item URL is retried as the search is (one 503 failed the scene)
            item = pystac.Item.from_file(url, stac_io=io if url.startswith(("http://", "https://")) else None)
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"{url}: window {window} item not readable ({api_problem(err)})") from err
        if sign is not None:
            sign(item)
        items.append(item)
    if ids:
        if client is None:
            client = open_api(cfg)
        found = {i.id: i for i in _search(client, cfg, f"window {window} items {', '.join(ids)}", ids=ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValueError(
                f"{', '.join(missing)}: window {window} item not found in {cfg.collection} at {cfg.stac_url}"
            )
        items += [found[i] for i in ids]
    return items


def cloud_cover(item: Any) -> float:
    """``eo:cloud_cover`` of an item (100 when missing, so such items come last)."""
    value = item.properties.get("eo:cloud_cover")
    return float(value) if value is not None else 100.0


def footprint(item: Any) -> Any:
    """An item's footprint as a shapely geometry (degrees)."""
    from shapely.geometry import box, shape

    return shape(item.geometry) if item.geometry else box(*item.bbox)


def coverage(items: Sequence[Any], bbox: BBox) -> float:
    """Fraction of ``bbox`` covered by the union of the items' footprints (in degrees; for ordering only)."""
    from shapely import union_all
    from shapely.geometry import box

    area = box(*bbox)
    if not items:
        return 0.0
    return float(union_all([footprint(i) for i in items]).intersection(area).area / area.area)


def select_items(client: Any, bbox: BBox, dates: tuple[str, str], cfg: DownloadConfig, window: str) -> list[Any]:
    """The items of one window: the least cloudy acquisition day under ``cfg.cloud_max`` covering ``bbox``.

    Items are grouped by acquisition day (tiles of one satellite pass); days that cover the whole area come
    first, then the lowest mean cloud cover. If even the best day leaves part of the area uncovered, the
    least cloudy items of other days are added until it is covered (or nothing else intersects). The first
    item of the list is read first, so it wins where items overlap.

    Raises:
        ValueError: no item within the range under the cloud limit (the message names the window, the range,
            the cloud limit, the collection and the API).
    """
    found = _search(client, cfg, f"window {window} {dates[0]}/{dates[1]}", bbox=list(bbox),
                    datetime=_search_range(dates))  # fmt: skip
    ok = [i for i in found if cloud_cover(i) <= cfg.cloud_max]
    if not ok:
        import datetime as dt

        seen = f"{len(found)} item(s), least cloudy {min(map(cloud_cover, found)):.0f}%" if found else "no item"
        advice = "widen the dates or raise --cloud-max"
        if found and all(i.properties.get("eo:cloud_cover") is None for i in found):  # not cloudy: unsaid
            seen = f"{len(found)} item(s), none saying its cloud cover (eo:cloud_cover), read as 100%"
            advice = "--cloud-max 100 takes them"
        if not found and str(dates[0])[:10] > dt.date.today().isoformat():
            advice = f"the range starts after today, {dt.date.today().isoformat()}: no image was taken yet"
        elif not found and (known := _other_collections(client, cfg.collection)) is not None:
            advice = f"the API has no collection {cfg.collection!r}; its collections: {known}"
        raise ValueError(
            f"window {window} {dates[0]}/{dates[1]}: no {cfg.collection} item over bbox "
            f"{','.join(f'{v:g}' for v in bbox)} under {cfg.cloud_max:g}% cloud at {cfg.stac_url} ({seen}; "
            f"{advice})"
        )
    days: dict[str, list[Any]] = {}
    for item in ok:
        days.setdefault(str(item.properties.get("datetime", ""))[:10], []).append(item)

    def rank(day: str) -> tuple[bool, float]:
        its = days[day]
        return coverage(its, bbox) < 0.999, sum(map(cloud_cover, its)) / len(its)

    best = min(days, key=rank)
    chosen = sorted(days[best], key=cloud_cover)
    rest = sorted((i for i in ok if i not in chosen), key=cloud_cover)
    for item in rest:
        if coverage(chosen, bbox) >= 0.999:
            break
        if coverage([*chosen, item], bbox) > coverage(chosen, bbox):
            chosen.append(item)
    return chosen


def _other_collections(client: Any, collection: str) -> str | None:
    """The API's collection ids (the first 10) when it has no ``collection``; None when it has it, or cannot say
    (a search of an unknown ``--stac-collection`` found nothing and said "widen the dates")."""
    import warnings

    try:
        with warnings.catch_warnings():  # a static catalog's fallback warning: it is walked instead
            warnings.simplefilter("ignore")
            if client.get_collection(collection) is not None:
                return None
            ids = [c.id for _, c in zip(range(10), client.get_collections(), strict=False)]
    except Exception:  # noqa: BLE001 - any failure: the search's own message stands
        return None
    return ", ".join(ids) or "none"


def band_href(item: Any, band: str) -> str:
    """The URL of ``band`` (red/green/blue/nir) in an item.

    Raises:
        ValueError: the item has none of the band's asset keys (message names the item and the band).
    """
    for key in BAND_ASSETS[band]:
        if key in item.assets:
            asset = item.assets[key]
            # a static catalog's relative href is relative to its item (read from where the item is, not from
            # the working folder); None when the item has no location to resolve it against
            return str(asset.get_absolute_href() or asset.href)
    raise ValueError(
        f"{item.id}: no {band} band (looked for asset {' or '.join(BAND_ASSETS[band])}; "
        f"assets: {', '.join(sorted(item.assets)) or 'none'})"
    )


def boa_offset_of(item: Any) -> float:
    """The BOA offset to add to an item's DNs (0 when the provider already harmonised them)."""
    from agriseg.fields.sentinel2 import boa_offset

    props = item.properties
    if props.get("earthsearch:boa_offset_applied"):
        return 0.0
    baseline = props.get("s2:processing_baseline")
    return boa_offset(baseline=baseline) if baseline else boa_offset(date=str(props.get("datetime", ""))[:10])


def item_datetime(item: Any) -> dt.datetime:
    """Acquisition time of an item, in UTC."""
    t = item.datetime or dt.datetime.fromisoformat(str(item.properties.get("start_datetime")).replace("Z", "+00:00"))
    return t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC)


__all__ = [
    "BAND_ASSETS",
    "BBox",
    "area_bbox",
    "bounds_bbox",
    "band_href",
    "boa_offset_of",
    "check_area",
    "cloud_cover",
    "coverage",
    "footprint",
    "item_datetime",
    "items_by_reference",
    "open_api",
    "parse_bbox",
    "parse_dates",
    "select_items",
    "signer",
]
