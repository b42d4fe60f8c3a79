"""A loopback HTTP server for offline tests of downloads: a tiny STAC API, COGs and model files.

It honours ``Range`` requests (GDAL reads remote COGs block by block, and model downloads resume with
them), logs every request, and can be told to fail: answer 500 a number of times, or drop a file transfer
half-way. :func:`make_s2_catalog` writes small Sentinel-2-like single-band COGs (two adjacent UTM tiles, two
dates per window) and registers their STAC items; :func:`make_landcover_catalog` adds a land-cover collection
(a WorldCover-like COG larger than the tiles), :func:`make_calendar` serves crop-calendar rasters with two
zones, and :func:`tiny_yolo_seg` builds a DelineateAnything-shaped YOLO model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np

COLLECTION = "sentinel-2-l2a"
CONFORMS = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


@dataclass
class Loopback:
    """State of the server: what it serves and how it misbehaves."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)  # "/path" -> content
    items: list[dict] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # path prefix -> 500 answers left
    fail_get: dict[str, int] = field(default_factory=dict)  # path prefix -> 503 answers left to GETs (HEADs answered)
    drop: dict[str, int] = field(default_factory=dict)  # path -> truncated transfers left
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Range header)
    page: int = 0  # search results per page (0: all on one page)
    loop: bool = False  # the last page's "next" link leads back to the first
    etags: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (bytes, their ETag): hashed once

    def etag(self, path: str) -> str:
        """A strong ETag of the file at ``path`` (its content hash), as a file server sends: computed once per
        content, not at each of GDAL's range requests."""
        data = self.files[path]
        kept = self.etags.get(path)
        if kept is None or kept[0] is not data:
            kept = self.etags[path] = (data, f'"{hashlib.sha256(data).hexdigest()[:16]}"')
        return kept[1]

    def add_file(self, path: str, content: bytes) -> str:
        """Serve ``content`` at ``path``; returns its URL."""
        self.files[path] = content
        return self.url + path

    # ------------------------------------------------------------------ STAC
    def landing(self) -> dict:
        base = self.url + "/stac"
        return {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "loopback",
            "description": "test STAC API",
            "conformsTo": CONFORMS,
            "links": [
                {"rel": "self", "href": base, "type": "application/json"},
                {"rel": "root", "href": base, "type": "application/json"},
                {"rel": "conformance", "href": base + "/conformance", "type": "application/json"},
                {"rel": "data", "href": base + "/collections", "type": "application/json"},
                {"rel": "search", "href": base + "/search", "type": "application/geo+json", "method": "GET"},
                {"rel": "search", "href": base + "/search", "type": "application/geo+json", "method": "POST"},
            ],
        }

    def collection(self, cid: str = COLLECTION) -> dict:
        base = self.url + "/stac"
        return {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": cid,
            "description": f"test {cid}",
            "license": "proprietary",
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
            "links": [
                {"rel": "self", "href": f"{base}/collections/{cid}"},
                {"rel": "root", "href": base},
                {"rel": "items", "href": f"{base}/collections/{cid}/items"},
            ],
        }

    def search(self, params: dict[str, Any]) -> dict:
        def listed(v: Any) -> list[str] | None:
            if v is None:
                return None
            return v.split(",") if isinstance(v, str) else list(v)

        ids, colls = listed(params.get("ids")), listed(params.get("collections"))
        bbox = params.get("bbox")
        if isinstance(bbox, str):
            bbox = [float(v) for v in bbox.split(",")]
        when = params.get("datetime")
        out = []
        for it in self.items:
            if ids is not None and it["id"] not in ids:
                continue
            if colls is not None and it["collection"] not in colls:
                continue
            b = it["bbox"]
            if bbox and (b[0] > bbox[2] or b[2] < bbox[0] or b[1] > bbox[3] or b[3] < bbox[1]):
                continue
            if when:
                start, _, end = when.partition("/")
                t = _parse_time(it["properties"]["datetime"])
                if start not in ("", "..") and t < _parse_time(start):
                    continue
                if end not in ("", "..") and t > _parse_time(end):
                    continue
            out.append(it)
        if not self.page:
            return {"type": "FeatureCollection", "features": out, "links": []}
        start = int(params.get("token", 0))
        following = start + self.page if start + self.page < len(out) else (0 if self.loop else None)
        links = []
        if following is not None:
            query = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in params.items()}
            href = f"{self.url}/stac/search?{urlencode({**query, 'token': following})}"
            links.append({"rel": "next", "href": href, "type": "application/geo+json", "method": "GET"})
        return {"type": "FeatureCollection", "features": out[start : start + self.page], "links": links}


def _parse_time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def _handler(state: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _json(self, obj: Any, code: int = 200) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _failing(self, path: str) -> bool:
            for prefix, left in state.fail.items():
                if path.startswith(prefix) and left != 0:
                    state.fail[prefix] = left - 1
                    self._json({"code": "ServerError", "description": "injected failure"}, 500)
                    return True
            return False

        def _route(self, body: dict | None) -> None:
            u = urlparse(self.path)
            path = u.path.rstrip("/")
            state.log.append((self.command, path, self.headers.get("Range", "")))
            if self._failing(path):
                return
            if path in state.files:
                return self._file(path)
            if path == "/stac":
                return self._json(state.landing())
            if path == "/stac/conformance":
                return self._json({"conformsTo": CONFORMS})
            cids = sorted({i["collection"] for i in state.items} | {COLLECTION})
            if path == "/stac/collections":
                return self._json({"collections": [state.collection(c) for c in cids], "links": []})
            m = re.fullmatch(r"/stac/collections/([^/]+)", path)
            if m and m.group(1) in cids:
                return self._json(state.collection(m.group(1)))
            m = re.fullmatch(r"/stac/collections/[^/]+/items/(.+)", path)
            if m:
                found = [i for i in state.items if i["id"] == m.group(1)]
                return self._json(found[0]) if found else self._json({"code": "NotFound"}, 404)
            if path == "/stac/search":
                params = body if body is not None else {k: v[0] for k, v in parse_qs(u.query).items()}
                return self._json(state.search(params))
            self._json({"code": "NotFound", "description": path}, 404)

        def _file(self, path: str) -> None:
            data = state.files[path]
            size = len(data)
            etag = state.etag(path)
            rng = self.headers.get("Range")
            if self.headers.get("If-Range") not in (None, etag):
                rng = None  # the file changed since the client's bytes: the whole of it
            start, end, code = 0, size - 1, 200
            if rng:
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
                if m:
                    start = int(m.group(1))
                    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                    if start >= size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    code = 206
            chunk = data[start : end + 1]
            self.send_response(code)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(chunk)))
            if code == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if self.command == "HEAD":
                return
            if state.drop.get(path, 0) > 0:
                state.drop[path] -= 1
                self.wfile.write(chunk[: len(chunk) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # the peer sees the transfer end early
                return
            self.wfile.write(chunk)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urlparse(self.path).path.rstrip("/")
            for prefix, left in state.fail_get.items():
                if path.startswith(prefix) and left != 0:
                    state.fail_get[prefix] = left - 1
                    state.log.append(("GET", path, self.headers.get("Range", "")))
                    return self._json({"code": "Busy", "description": "injected 503"}, 503)
            self._route(None)

        def do_HEAD(self) -> None:  # noqa: N802
            self._route(None)

        def do_POST(self) -> None:  # noqa: N802
            n = int(self.headers.get("Content-Length", 0))
            self._route(json.loads(self.rfile.read(n) or b"{}"))

    return Handler


class LoopbackServer:
    """Context manager: ``with LoopbackServer() as state: ... state.url``."""

    def __enter__(self) -> Loopback:
        self.state = Loopback()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.httpd.daemon_threads = True
        self.state.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self.state

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------------- Sentinel-2-like catalogue
EPSG = 32633
PX = 10.0
TILE = 48  # pixels per tile side
TILES = {"T33UXP": 500000.0, "T33UYP": 500400.0}  # west edges (m); the tiles overlap by 8 px
NORTH = 5316480.0
# (window, date, cloud %): window A's least cloudy day is 04-10, window B's 08-15
ACQUISITIONS = [
    ("a", "2023-04-10", 5.0),
    ("a", "2023-04-20", 40.0),
    ("b", "2023-08-01", 15.0),
    ("b", "2023-08-15", 3.0),
]
ASSETS = {"red": "B04", "green": "B03", "blue": "B02", "nir": "B08"}


def band_value(band: str, tile: int, day: int) -> int:
    """The DN of a test COG, unique per band, tile and day (before the fields' texture)."""
    return 2000 + 1000 * list(ASSETS).index(band) + 100 * tile + 10 * day


def _texture(h: int, w: int, x0: float) -> np.ndarray:
    """Field-like blocks (in map coordinates, so tiles agree where they overlap): -150..150 DN."""
    xs = (x0 + PX * np.arange(w)) // 120
    ys = (NORTH - PX * np.arange(h)) // 120
    return ((ys[:, None] * 7 + xs[None, :] * 13) % 5 * 75 - 150).astype(np.int32)


def _cog(arr: np.ndarray, west: float) -> bytes:
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    profile = {
        "driver": "GTiff",
        "dtype": "uint16",
        "count": 1,
        "width": arr.shape[1],
        "height": arr.shape[0],
        "crs": rasterio.crs.CRS.from_epsg(EPSG),
        "transform": from_origin(west, NORTH, PX, PX),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(arr, 1)
        with MemoryFile() as out, mem.open() as src:
            from rasterio.shutil import copy

            copy(src, out.name, driver="COG", BLOCKSIZE=128)
            return out.read()


def tile_bounds_deg(west: float) -> tuple[float, float, float, float]:
    """A tile's footprint in degrees."""
    from rasterio.warp import transform_bounds

    return transform_bounds(f"EPSG:{EPSG}", "EPSG:4326", west, NORTH - TILE * PX, west + TILE * PX, NORTH)


def bbox_deg(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    """A UTM rectangle as a bbox in degrees."""
    from rasterio.warp import transform_bounds

    return transform_bounds(f"EPSG:{EPSG}", "EPSG:4326", x0, y0, x1, y1)


def make_s2_catalog(
    state: Loopback, drop_band: str | None = None, acquisitions: list[tuple[str, str, float]] = ACQUISITIONS
) -> list[dict]:
    """Write the test COGs and items (two tiles x the acquisitions); ``drop_band`` leaves that asset out."""
    items = []
    for day, (_, date, cloud) in enumerate(acquisitions):
        for t, (tile, west) in enumerate(TILES.items()):
            iid = f"S2B_MSIL2A_{date.replace('-', '')}_{tile}"
            assets = {}
            for band, key in ASSETS.items():
                if band == drop_band:
                    continue
                arr = (band_value(band, t, day) + _texture(TILE, TILE, west)).astype(np.uint16)
                url = state.add_file(f"/files/{iid}_{key}.tif", _cog(arr, west))
                assets[key] = {"href": url, "type": "image/tiff; application=geotiff; profile=cloud-optimized"}
            w, s, e, n = tile_bounds_deg(west)
            items.append(
                {
                    "type": "Feature",
                    "stac_version": "1.0.0",
                    "stac_extensions": [],
                    "id": iid,
                    "collection": COLLECTION,
                    "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
                    "bbox": [w, s, e, n],
                    "properties": {
                        "datetime": f"{date}T10:0{t}:00Z",
                        "eo:cloud_cover": cloud + t,
                        "s2:processing_baseline": "05.09",
                        "proj:epsg": EPSG,
                    },
                    "links": [],
                    "assets": assets,
                }
            )
    state.items[:] = [i for i in state.items if i["collection"] != COLLECTION] + items
    return items


def tiny_ftw_checkpoint(in_channels: int = 8, classes: int = 3) -> bytes:
    """A small smp.Unet checkpoint in ftw-tools' Lightning layout (what the release files look like)."""
    import io

    import segmentation_models_pytorch as smp
    import torch

    torch.manual_seed(0)
    net = smp.Unet(
        encoder_name="tu-mobilenetv3_small_050", encoder_weights=None, in_channels=in_channels, classes=classes
    )
    buf = io.BytesIO()
    torch.save(
        {
            "state_dict": {"model." + k: v for k, v in net.state_dict().items()},
            "hyper_parameters": {
                "model": "unet",
                "backbone": "tu-mobilenetv3_small_050",
                "in_channels": in_channels,
                "num_classes": classes,
            },
        },
        buf,
    )
    return buf.getvalue()


def serve_models(state: Loopback, content: bytes, files: tuple[str, ...] = ("v3/prue_efnet3_checkpoint.ckpt",)) -> str:
    """Serve ``content`` as release files under ``<url>/models/``; returns that base URL."""
    for f in files:
        state.add_file(f"/models/{f}", content)
    return state.url + "/models"


# ---------------------------------------------------------------------- land cover
LC_PX = 0.0001  # degrees (~10 m, like ESA WorldCover's 1/12000 degree)
LC_SIZE = 1024  # pixels per side: far larger than the test area, so a windowed read fetches a fraction


def _lc_cog(value: int, west: float, north: float) -> bytes:
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy
    from rasterio.transform import from_origin

    rng = np.random.default_rng(value)
    arr = np.full((LC_SIZE, LC_SIZE), value, np.uint8)
    arr[rng.random(arr.shape) < 0.01] = 80  # a little water, so blocks do not compress to nothing
    profile = {
        "driver": "GTiff", "dtype": "uint8", "count": 1, "width": LC_SIZE, "height": LC_SIZE, "crs": "EPSG:4326",
        "transform": from_origin(west, north, LC_PX, LC_PX), "nodata": 0, "tiled": True, "blockxsize": 256,
        "blockysize": 256,
    }  # fmt: skip
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(arr, 1)
        with MemoryFile() as out, mem.open() as src:
            copy(src, out.name, driver="COG", BLOCKSIZE=256, COMPRESS="DEFLATE")
            return out.read()


def make_landcover_catalog(
    state: Loopback, collection: str = "esa-worldcover", asset: str = "map", years: dict[int, int] | None = None
) -> list[dict]:
    """Land-cover items over the test tiles: one COG per year, every pixel of ``years[year]`` (class).

    Default: 2020 all tree cover (10), 2021 all cropland (40), as WorldCover's two maps.
    """
    years = years or {2020: 10, 2021: 40}
    w0, s0, e0, n0 = tile_bounds_deg(TILES["T33UXP"])
    west, north = round(w0 - 0.05, 4), round(n0 + 0.05, 4)
    east, south = west + LC_SIZE * LC_PX, north - LC_SIZE * LC_PX
    items = []
    for year, value in years.items():
        iid = f"{collection}_{year}_N48E015"
        url = state.add_file(f"/files/{iid}.tif", _lc_cog(value, west, north))
        items.append(
            {
                "type": "Feature", "stac_version": "1.0.0", "stac_extensions": [], "id": iid, "collection": collection,
                "geometry": {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                                                 [west, north], [west, south]]]},
                "bbox": [west, south, east, north],
                "properties": {"datetime": None, "start_datetime": f"{year}-01-01T00:00:00Z",
                               "end_datetime": f"{year}-12-31T23:59:59Z"},
                "links": [], "assets": {asset: {"href": url, "type": "image/tiff; application=geotiff"}},
            }
        )  # fmt: skip
    state.items[:] = [i for i in state.items if i["collection"] != collection] + items
    return items


# ---------------------------------------------------------------------- crop calendars
CAL_PX = 0.0005  # degrees per calendar cell (the real ones are 0.5 degree)
# (sos, eos) days of the west and east zone: the east zone's season crosses the new year
ZONES = {"summer": ((100, 227), (300, 100)), "winter": ((280, 190), (280, 190))}


def zone_split_lon() -> float:
    """The longitude where the calendar's west zone ends (between the test areas of the two tiles)."""
    return bbox_deg(500600, NORTH - 200, 500601, NORTH - 199)[0]


def make_calendar(state: Loopback) -> str:
    """Serve the four calendar rasters (two zones) under ``/calendar/``; returns that base URL."""
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    from agriseg.fields.calendar import FILES

    w0, s0, _, n0 = tile_bounds_deg(TILES["T33UXP"])
    west, north = w0 - 0.01, n0 + 0.01
    size = 80
    lons = west + CAL_PX * (np.arange(size) + 0.5)
    east_zone = np.broadcast_to(lons[None, :] >= zone_split_lon(), (size, size))
    for (season, part), name in FILES.items():
        k = 0 if part == "sos" else 1
        (ws, we) = ZONES[season]
        arr = np.where(east_zone, we[k], ws[k]).astype(np.float32)
        arr[:4] = 0  # a row of no-data cells (no crops)
        profile = {
            "driver": "GTiff", "dtype": "float32", "count": 1, "width": size, "height": size, "crs": "EPSG:4326",
            "transform": from_origin(west, north, CAL_PX, CAL_PX), "nodata": 0.0,
        }  # fmt: skip
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(arr, 1)
            state.add_file(f"/calendar/{name}", mem.read())
    return state.url + "/calendar/"


# ---------------------------------------------------------------------- DelineateAnything-shaped model
def tiny_yolo_seg(folder: Path) -> bytes:
    """A YOLO11n-seg with one class ("field") built from ultralytics' bundled model description, no download.

    DelineateAnything-S is this architecture with trained weights. The class scores are biased up so random
    weights still detect instances at the default confidence threshold.
    """
    import torch
    import yaml

    from agriseg.fields.delineate import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO
    from ultralytics.nn.tasks import yaml_model_load

    cfg = yaml_model_load("yolo11n-seg.yaml")
    cfg["nc"] = 1
    cfg.pop("yaml_file", None)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "yolo11n-seg.yaml").write_text(yaml.safe_dump(cfg))  # the scale (n) is read from the name
    torch.manual_seed(0)
    model = YOLO(str(folder / "yolo11n-seg.yaml"), task="segment")
    for branch in model.model.model[-1].cv3:
        branch[-1].bias.data.fill_(4.0)
    model.save(str(folder / "tiny-seg.pt"))
    return (folder / "tiny-seg.pt").read_bytes()


def serve_yolo(state: Loopback, content: bytes, spec_url: str) -> str:
    """Serve ``content`` where a mirror keeps the full URL ``spec_url`` (``<base>/<host>/<path>``)."""
    return state.add_file("/models/" + spec_url.split("://", 1)[1], content)


def require_ultralytics() -> None:
    """Skip unless ultralytics is installed, without importing it (agriseg imports it offline, first)."""
    import importlib.util

    import pytest

    if importlib.util.find_spec("ultralytics") is None:
        pytest.skip("DelineateAnything needs the 'delineate' extra (pip install \"agriseg[delineate]\")")
