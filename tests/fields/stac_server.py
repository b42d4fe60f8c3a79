"""A loopback HTTP server for offline tests of downloads: a tiny STAC API, COGs and model files.

It honours ``Range`` requests (GDAL reads remote COGs block by block, and model downloads resume with
them), logs every request, and can be told to fail: answer 500 a number of times, or drop a file transfer
half-way. :func:`make_s2_catalog` writes small Sentinel-2-like single-band COGs (two adjacent UTM tiles, two
dates per window) and registers their STAC items.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

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
    drop: dict[str, int] = field(default_factory=dict)  # path -> truncated transfers left
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Range header)

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

    def collection(self) -> dict:
        base = self.url + "/stac"
        return {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": COLLECTION,
            "description": "test Sentinel-2 L2A",
            "license": "proprietary",
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
            "links": [
                {"rel": "self", "href": f"{base}/collections/{COLLECTION}"},
                {"rel": "root", "href": base},
                {"rel": "items", "href": f"{base}/collections/{COLLECTION}/items"},
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
        return {"type": "FeatureCollection", "features": out, "links": []}


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
            if path == "/stac/collections":
                return self._json({"collections": [state.collection()], "links": []})
            if path == f"/stac/collections/{COLLECTION}":
                return self._json(state.collection())
            m = re.fullmatch(rf"/stac/collections/{COLLECTION}/items/(.+)", path)
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
            rng = self.headers.get("Range")
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


def make_s2_catalog(state: Loopback, drop_band: str | None = None) -> list[dict]:
    """Write the test COGs and items (two tiles x four acquisitions); ``drop_band`` leaves that asset out."""
    items = []
    for day, (_, date, cloud) in enumerate(ACQUISITIONS):
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
    state.items[:] = items
    return items


def tiny_ftw_checkpoint() -> bytes:
    """A small smp.Unet checkpoint in ftw-tools' Lightning layout (what the release files look like)."""
    import io

    import segmentation_models_pytorch as smp
    import torch

    torch.manual_seed(0)
    net = smp.Unet(encoder_name="tu-mobilenetv3_small_050", encoder_weights=None, in_channels=8, classes=3)
    buf = io.BytesIO()
    torch.save(
        {
            "state_dict": {"model." + k: v for k, v in net.state_dict().items()},
            "hyper_parameters": {
                "model": "unet",
                "backbone": "tu-mobilenetv3_small_050",
                "in_channels": 8,
                "num_classes": 3,
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
