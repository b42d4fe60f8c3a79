"""Opening and checking input scenes, and writing Cloud-Optimized GeoTIFFs atomically.

Every error names the offending file first, so CLI users see which scene is wrong.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agriseg.data.files import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    import rasterio


@dataclass(frozen=True)
class SceneInfo:
    """What inference needs to know about a scene without reading its pixels."""

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    crs: Any  # rasterio CRS
    transform: Any  # affine.Affine
    nodata: float | None
    tags: dict[str, str]
    descriptions: tuple[str | None, ...] = ()

    @property
    def area_km2(self) -> float:
        """Scene area in km2 (exact for metric CRSs; approximate at the centre latitude otherwise)."""
        return pixel_area_m2(self.crs, self.transform, self.height, self.width) * self.width * self.height / 1e6


def pixel_area_m2(crs: Any, transform: Any, height: int = 0, width: int = 0) -> float:
    """Area of one pixel in m2 at the raster's centre: geographic CRSs at its latitude; projected ones in their
    unit (feet too), divided by the projection's areal scale there where it is off by over 1 % (a Web Mercator
    pixel of 10 x 10 m at 48 degrees north covers 44 m2 of ground; a UTM one is taken as 100 m2). A rotated
    grid's pixel is the parallelogram of its geotransform (``|a e - b d|``)."""
    a, e = abs(transform.a), abs(transform.e)
    cell = abs(transform.a * transform.e - transform.b * transform.d)  # |a| |e| without rotation
    if crs is None:
        return float(cell)
    from pyproj import CRS, Geod

    if crs.is_geographic:  # the geodesic area of the centre pixel on the CRS's ellipsoid
        geod = CRS.from_user_input(crs).get_geod()
        lon = transform.c + transform.a * (width // 2)
        lat = transform.f + transform.e * (height // 2)
        lons, lats = [lon, lon + a, lon + a, lon], [lat, lat, lat - e, lat - e]
        area, _ = (geod or Geod(ellps="WGS84")).polygon_area_perimeter(lons, lats)
        return float(abs(area))

    from agriseg.vector.geometry import MAX_SCALE_ERROR, areal_scale

    c = CRS.from_user_input(crs)
    unit = float(c.axis_info[0].unit_conversion_factor) if c.axis_info else 1.0
    col, row = width / 2, height / 2  # the centre (affine's `*` on a point is deprecated, `@` is new in 2.4)
    x, y = transform.c + transform.a * col + transform.b * row, transform.f + transform.d * col + transform.e * row
    scale = areal_scale(c, np.array([x]), np.array([y]))
    # within 1 % (a UTM zone) the grid's own area, as the field polygons measure (agriseg.vector.geometry)
    s = 1.0 if scale is None or abs(scale[0] - 1.0) <= MAX_SCALE_ERROR else float(scale[0])
    return float(cell * unit * unit / s)


def ground_sides_m(crs: Any, transform: Any, height: int = 0, width: int = 0) -> tuple[float, float]:
    """The ground length in m of a geographic CRS's centre pixel across (east-west) and down (north-south):
    a pixel square in degrees is 1.5 times taller than wide at 48 degrees north."""
    from pyproj import CRS, Geod

    geod = CRS.from_user_input(crs).get_geod() or Geod(ellps="WGS84")
    col, row = width // 2, height // 2
    lon = transform.c + transform.a * col + transform.b * row
    lat = transform.f + transform.d * col + transform.e * row
    across = geod.inv(lon, lat, lon + transform.a, lat + transform.d)[2]  # one column on: a rotated grid's too
    down = geod.inv(lon, lat, lon + transform.b, lat + transform.e)[2]  # one row on
    return float(across), float(down)


def scene_reading_rules(scene: str | Path) -> dict[str, str]:
    """The reading rules a scene's header says apply to it, for fingerprints: ``{"zeros": "nodata"}`` for a
    float scene without a nodata value (0 in every band is no data since this rule came, as in integer
    scenes; an earlier run's output of it is not resumed as this run's); ``{"mask": "nodata"}`` for a scene
    with its own mask (:func:`read_mask_window`). Empty otherwise, or unreadable."""
    rasterio = import_rasterio()
    out = {}
    try:
        with rasterio.open(scene) as ds:
            if ds.nodata is None and np.dtype(ds.dtypes[0]).kind == "f":
                out["zeros"] = "nodata"
            if has_own_mask(ds):
                out["mask"] = "nodata"
    except Exception:  # noqa: BLE001 - an unreadable scene fails as its own item
        return {}
    return out


def import_rasterio() -> Any:
    """rasterio, or :class:`agriseg.extras.MissingExtra` saying how to install it (the base install has none)."""
    try:
        import rasterio
    except ModuleNotFoundError as err:
        from agriseg.extras import MissingExtra, install_hint

        raise MissingExtra(install_hint("geo", "reading GeoTIFF scenes (agriseg.raster)")) from err
    return rasterio


def open_scene(path: str | Path, bands: int | None = None, require_crs: bool = True, hint: str = "") -> SceneInfo:
    """Open and validate a scene: existence, readability, band count, CRS, and a truncation probe.

    Args:
        path: GeoTIFF (or any GDAL raster).
        bands: required band count (None: any).
        require_crs: fail when the file has no CRS or no geotransform.
        hint: added to the message of a wrong band count (what to do with this file's bands).

    Raises:
        FileNotFoundError: missing file.
        ValueError: unreadable/truncated file, wrong band count, missing CRS.
    """
    rasterio = import_rasterio()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: scene file not found")
    from agriseg.raster.image import open_plain_or_geo

    try:
        with open_plain_or_geo(rasterio, path) as ds:  # no CRS: our own error below, not rasterio's warning
            info = SceneInfo(
                path,
                ds.width,
                ds.height,
                ds.count,
                ds.dtypes[0],
                ds.crs,
                ds.transform,
                ds.nodata,
                ds.tags(),
                tuple(ds.descriptions),
            )
            if bands is not None and ds.count != bands:
                what = {8: "window A R,G,B,NIR then window B R,G,B,NIR", 4: "R,G,B,NIR of one window"}.get(bands)
                raise ValueError(
                    f"{path}: has {ds.count} band{'s' * (ds.count != 1)}, the model needs {bands}"
                    + (f" ({what})" if what else "")
                    + hint
                )
            probe_readable(ds, path)  # first: a file cut short after its header reads as one without a CRS
            if require_crs and ds.crs is None:
                if kind := photo_format(ds):
                    raise ValueError(f"{path}: has no CRS{kind}")
                raise ValueError(f"{path}: has no CRS (georeference the scene, e.g. gdal_edit.py -a_srs EPSG:...)")
            if require_crs and ds.transform.is_identity:
                raise ValueError(f"{path}: has no geotransform (pixel grid is not georeferenced)")
    except rasterio.errors.RasterioIOError as err:
        raise ValueError(unreadable_raster(path, err)) from err
    return info


def photo_format(ds: Any) -> str:  # noqa: ANN401 - a rasterio dataset
    """`` (a PNG image, not a GeoTIFF)`` for a photo format GDAL opened (a PNG renamed .tif), whose missing CRS
    says less than what it is; empty for a GeoTIFF and the other raster formats."""
    photo = {"PNG": "PNG", "JPEG": "JPEG", "GIF": "GIF", "BMP": "BMP", "WEBP": "WebP"}.get(ds.driver)
    return f" (a {photo} image, not a GeoTIFF)" if photo else ""


def unreadable_raster(path: str | Path, err: BaseException) -> str:
    """What a raster that GDAL cannot open is: cut short (its header read fails half-way), or no raster at all."""
    reason = gdal_reason(err)
    cut = any(w in reason for w in ("IO error", "truncat", "Read failed", "short read", "Failed to read directory"))
    return f"{path}: {'the file is truncated or corrupt' if cut else 'not a readable raster'} ({reason})"


def gdal_reason(err: BaseException) -> str:
    """What a rasterio error says, with GDAL's own words where rasterio says only "Read failed. See previous
    exception for details." (the reason is in the error it was raised from)."""
    text = str(err)
    if "See previous exception" in text and (err.__cause__ or err.__context__) is not None:
        text = str(err.__cause__ or err.__context__)
    return text.replace(" See previous exception for details.", "").strip() or type(err).__name__


def probe_readable(ds: rasterio.DatasetReader, path: Path) -> None:
    """Read the last row and the last block so a truncated file fails now, not after an hour (and is not
    blamed for what its lost tags held: a CRS, a geotransform)."""
    from rasterio.windows import Window

    h, w = ds.height, ds.width
    bh, bw = ds.block_shapes[0]
    for win in (Window(0, h - 1, w, 1), Window(max(0, w - bw), max(0, h - bh), min(bw, w), min(bh, h))):
        try:
            ds.read(window=win)
        except Exception as err:  # rasterio raises RasterioIOError / CPLE_* on short reads
            reason = gdal_reason(err)
            local = [f for f in (ds.files or [])[1:] if not f.startswith("/vsi") and "://" not in f]
            files = [f for f in local if not os.path.exists(f)]  # a VRT's sources (a URL's failure: said as is)
            if files:  # not this file's fault: a VRT whose source was moved
                raise ValueError(f"{path}: cannot read its pixels: its source {files[0]} is missing") from err
            raise ValueError(
                f"{path}: cannot read its last pixels: the file is truncated or corrupt ({reason})"
            ) from err


def read_window(
    ds: rasterio.DatasetReader, path: Path, y0: int, y1: int, x0: int, x1: int, bands: list[int] | None = None
) -> np.ndarray:
    """Read ``(C, y1 - y0, x1 - x0)`` from an open dataset (``bands``: these 1-based bands, else all); read
    errors name the file and window."""
    from rasterio.windows import Window

    try:
        return np.asarray(ds.read(bands, window=Window(x0, y0, x1 - x0, y1 - y0)))
    except Exception as err:
        raise ValueError(
            f"{path}: cannot read rows {y0}-{y1}, cols {x0}-{x1}: truncated or corrupt file ({gdal_reason(err)})"
        ) from err


def has_own_mask(ds: rasterio.DatasetReader) -> bool:
    """Whether a raster has a mask of its own (GDAL's internal mask or ``.msk`` file), not only a nodata value."""
    from rasterio.enums import MaskFlags

    return any(MaskFlags.per_dataset in flags for flags in ds.mask_flag_enums)


def read_mask_window(ds: rasterio.DatasetReader, path: Path, y0: int, y1: int, x0: int, x1: int) -> np.ndarray | None:
    """Where a scene's own mask (a GDAL ``.msk`` file or internal mask: what QGIS shows as no data) says
    there is no data, ``(y1 - y0, x1 - x0)`` bool; None for a scene without one (its nodata value, if any, is
    read from the pixels)."""
    from rasterio.windows import Window

    if not has_own_mask(ds):
        return None
    try:
        masks = np.asarray(ds.read_masks(1, window=Window(x0, y0, x1 - x0, y1 - y0)))
    except Exception as err:
        raise ValueError(
            f"{path}: cannot read its mask at rows {y0}-{y1}: truncated or corrupt file ({gdal_reason(err)})"
        ) from err
    out: np.ndarray = masks == 0
    return out


def band_values(ds: Any, band: int = 1, side: int = 512) -> np.ndarray:  # noqa: ANN401 - a rasterio dataset
    """The distinct values of a band on a reduced read (its longer side at most ``side``, GDAL's nearest
    neighbour: values as they are), without NaN and the declared nodata: what tells a mask or class map (a few
    values) from an image or a probability raster (many)."""
    s = min(1.0, side / max(ds.width, ds.height))
    try:
        small = ds.read(band, out_shape=(max(1, round(ds.height * s)), max(1, round(ds.width * s))))
    except Exception as err:  # a damaged block: "Read failed. See previous exception for details." said nothing
        why = gdal_reason(err)
        raise ValueError(f"{ds.name}: cannot read band {band}: truncated or corrupt file ({why})") from None
    values = np.unique(small[np.isfinite(small)] if small.dtype.kind == "f" else small)
    return values[values != ds.nodata] if ds.nodata is not None else values


def tiled_profile(
    dtype: str, count: int, width: int, height: int, crs: Any, transform: Any, **options: Any
) -> dict[str, Any]:
    """The rasterio profile of a tiled GeoTIFF (256 x 256 blocks, deflate, grey bands), the form every raster
    is written in before :func:`to_cog` copies it; ``options`` add or replace creation options (``nodata``,
    ``compress``, ``interleave``, ``BIGTIFF``)."""
    profile = {"driver": "GTiff", "dtype": dtype, "count": count, "width": width, "height": height, "crs": crs,
               "transform": transform, "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
               "photometric": "MINISBLACK"}  # fmt: skip
    return {**profile, **options}


def to_cog(src: Path, dst: Path, compress: str = "deflate", overviews: bool = True) -> Path:
    """Copy a (tiled) GeoTIFF to a Cloud-Optimized GeoTIFF at ``dst``, atomically; ``src`` is not changed.

    Overviews use nearest-neighbour resampling, so class maps stay valid at every zoom level. They are built
    into the ``.ovr`` of a hidden second name of ``src`` (a hard link, or a copy; BigTIFF when large), removed
    afterwards: in ``src`` itself a classic TIFF near 4 GB stopped taking overview tiles without a word, and a
    fixed ``<src>.ovr`` left by a killed run was copied into the next run's COG. Overviews ``src`` holds itself are
    copied (or, with ``overviews=False``, left out).

    Written with GDAL's GTiff driver and ``COPY_SRC_OVERVIEWS``, the layout the COG driver writes (GDAL reads it
    as ``LAYOUT=COG``), because the COG driver cannot be told the photometric interpretation: it tags every 3- or
    4-band uint8 raster as RGB, the 4th band as alpha, so readers that go by the TIFF tags alone (PIL, libtiff,
    geotiff.js viewers) showed a probability band as transparency. Here every band is grey data (``MINISBLACK``),
    or a palette where ``src`` has one.
    """
    import shutil

    from rasterio.enums import ColorInterp, Resampling
    from rasterio.shutil import copy as rio_copy

    from agriseg.data.files import temporary_sibling

    rasterio = import_rasterio()
    block = 512
    work = temporary_sibling(src, "cog")  # its name: killed runs' leftovers are removed by the next run
    side = [work, Path(f"{work}.ovr"), Path(f"{work}.aux.xml")]
    try:
        try:
            os.link(src, work)
        except OSError:  # a file system without hard links
            shutil.copyfile(src, work)
        with rasterio.open(work) as ds:
            kind, size, built = np.dtype(ds.dtypes[0]).kind, max(ds.width, ds.height), bool(ds.overviews(1))
            palette = ds.count == 1 and ds.colorinterp[0] == ColorInterp.palette
        photometric = "PALETTE" if palette else "MINISBLACK"
        if built and not overviews:  # overviews src holds: copied without them (src opened without its
            plain = temporary_sibling(dst, "plain")  # overviews has no band descriptions, tags or scales either)
            side.append(plain)
            rio_copy(str(work), str(plain), driver="GTiff", TILED="YES", BIGTIFF="IF_SAFER", COPY_SRC_OVERVIEWS="NO",
                     PHOTOMETRIC=photometric)  # fmt: skip
            return to_cog(plain, dst, compress, overviews=False)
        opts: dict[str, Any] = {"TILED": "YES", "BLOCKXSIZE": block, "BLOCKYSIZE": block, "BIGTIFF": "IF_SAFER",
                                "PHOTOMETRIC": photometric, "COPY_SRC_OVERVIEWS": "YES"}  # fmt: skip
        opts["COMPRESS"] = "NONE" if compress == "none" else compress.upper()
        if compress in ("deflate", "zstd", "lzw"):
            opts["PREDICTOR"] = 3 if kind == "f" else 2  # the COG driver's PREDICTOR=YES
        factors: list[int] = []
        while overviews and not built and size / (2 ** len(factors)) > block:  # halving until one block holds
            factors.append(2 ** (len(factors) + 1))  # it (the COG driver's)
        if factors:
            with rasterio.Env(TIFF_USE_OVR=True, BIGTIFF_OVERVIEW="IF_SAFER", GDAL_TIFF_OVR_BLOCKSIZE=block):
                with rasterio.open(work, "r+") as ds:  # (opened for update, as GDAL needs: src's bytes unchanged)
                    ds.build_overviews(factors, Resampling.nearest)
        with atomic_write(dst) as tmp:
            rio_copy(str(work), str(tmp), driver="GTiff", **opts)
    finally:
        for p in side:
            p.unlink(missing_ok=True)
    return dst


def is_cog(path: Path) -> bool:
    """Whether GDAL reports ``path`` as a Cloud-Optimized GeoTIFF layout."""
    rasterio = import_rasterio()
    with rasterio.open(path) as ds:
        return bool(ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "").upper() == "COG")


# Tags of an 8-band two-window scene (written by ``agriseg fields download``) that describe its imagery;
# ``agriseg fields predict`` copies them into its output so polygons can name their imagery time.
SCENE_TAGS = ("WIN_A_ITEM", "WIN_A_DATETIME", "WIN_B_ITEM", "WIN_B_DATETIME", "PROCESSING_BASELINE")
IMAGE_TIME_TAGS = ("WIN_A_DATETIME", "WIN_B_DATETIME")


def scene_tags(tags: dict[str, str]) -> dict[str, str]:
    """The imagery tags (:data:`SCENE_TAGS`, any case) of a raster's tags, upper-cased."""
    upper = {k.upper(): v for k, v in tags.items()}
    return {k: upper[k] for k in SCENE_TAGS if k in upper}


def latest_image_time(tags: dict[str, str], path: str | Path = "") -> dt.datetime | None:
    """The acquisition time of the last image used (max of the windows' datetime tags), UTC; None if absent.

    Raises:
        ValueError: a datetime tag that is not ISO 8601 (the message names ``path`` and the tag).
    """
    found = []
    for key, value in scene_tags(tags).items():
        if key in IMAGE_TIME_TAGS and value.strip():
            found.append(parse_utc(value, f"{path}: tag {key}"))
    return max(found) if found else None


def parse_utc(value: str, where: str = "datetime") -> dt.datetime:
    """An ISO 8601 string as an aware UTC datetime (no zone = UTC).

    Raises:
        ValueError: not ISO 8601 (the message starts with ``where``).
    """
    try:
        t = dt.datetime.fromisoformat(value.strip())
    except ValueError as err:
        raise ValueError(f"{where}: {value!r} is not an ISO 8601 datetime (e.g. 2024-06-01T10:15:00Z)") from err
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def describe_bands(ds: Any, descriptions: tuple[str, ...]) -> None:
    """Name the bands of a dataset open for writing and mark them as data, never as colour or alpha.

    Without an explicit colour interpretation GDAL, rasterio and QGIS read a 4-band uint8 GeoTIFF as RGBA
    and band 4 becomes a transparency mask; gray (band 1) and undefined (the rest) avoid that.
    """
    from rasterio.enums import ColorInterp

    ds.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * (ds.count - 1)
    ds.descriptions = descriptions
