"""The one reader of RGB images that may carry a georeference (text tiles, orthophotos, photos).

GeoTIFF and JPEG 2000 files go through rasterio (GDAL), so the CRS and affine transform survive to the
outputs; every other format (and TIFFs when rasterio is not installed) goes through the photo reader
:func:`agriseg.data.io.read_rgb` (EXIF orientation, bit depth, size limit) with no georeference.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agriseg.data.io import has_alpha

log = logging.getLogger(__name__)
GEO_SUFFIXES = {".tif", ".tiff", ".jp2"}  # read through rasterio / GDAL, georeference kept
_RGB_NAMES = ("red", "green", "blue")


@dataclass
class GeoRef:
    """Georeference of a raster: CRS as WKT/EPSG text and the 6 affine coefficients (rasterio order)."""

    crs: str | None
    transform: tuple[float, float, float, float, float, float]

    @property
    def placed(self) -> bool:
        """Whether it says where the raster lies: a CRS, or a geotransform other than the identity (a TIFF
        without georeference reads as no CRS and the identity)."""
        return self.crs is not None or self.transform != (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

    def to_json(self) -> str:
        """JSON text (stored in dataset columns)."""
        return json.dumps({"crs": self.crs, "transform": list(self.transform)})

    @staticmethod
    def from_json(text: str | None) -> GeoRef | None:
        """Inverse of :meth:`to_json`; None for empty text."""
        if not text:
            return None
        d = json.loads(text)
        return GeoRef(d["crs"], tuple(d["transform"]))


def rasterio_or_none() -> Any | None:  # noqa: ANN401 - the rasterio module
    """The ``rasterio`` module, or None when it is not installed."""
    try:
        import rasterio
    except ImportError:
        return None
    return rasterio


def open_plain_or_geo(rio: Any, path: str | Path) -> Any:  # noqa: ANN401 - rasterio module and dataset
    """Open a raster that may be a plain image: rasterio's NotGeoreferencedWarning is dropped (a TIFF or
    JPEG 2000 without georeference is a valid photo here; outputs then carry no georeference)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rio.errors.NotGeoreferencedWarning)
        return rio.open(path)


def bands_phrase(count: int, dtype: str | np.dtype) -> str:
    """``"an 8-band uint16"``: a raster's band count and type with the right article, for messages."""
    article = "an" if count in (8, 11, 18) else "a"  # "an eight-band", "an eleven-band", "an eighteen-band"
    return f"{article} {count}-band {dtype}"


def pick_rgb_bands(
    descriptions: Sequence[str | None],
    count: int,
    bands: Sequence[int] | None,
    p: Path,
    colours: Sequence[str] = (),
    said: list[str] | None = None,
) -> list[int]:
    """1-based band indexes to read as R, G, B: ``bands`` if given, else bands described red / green / blue,
    else the bands whose colour interpretation is red / green / blue (``colours``: rasterio's ``colorinterp``
    names), else the first three (with a warning when more bands than R, G, B and an alpha band are there:
    logged, or added to ``said`` when given)."""
    if bands:
        if len(bands) != 3 or any(b < 1 or b > count for b in bands):
            raise ValueError(f"{p}: --bands needs three band numbers in 1..{count}, got {list(bands)}")
        return list(bands)
    desc = [(d or "").strip().lower() for d in descriptions]
    if all(n in desc for n in _RGB_NAMES):
        return [desc.index(n) + 1 for n in _RGB_NAMES]
    if (by_colour := _colour_bands(desc, colours)) is not None:  # a BGR raster labelled as such: R, G, B
        return by_colour
    extra = count - 3 - has_alpha_band(colours)
    text = ""
    if extra > 0 and not any(desc):
        # crop predict and traits have no --bands (session 108's sweep: the hint named an option they lack)
        text = (f"{p}: {count} bands without descriptions or colours read as R, G, B (bands 1-3); if they are not, "
                "describe the bands as red, green and blue in the file, or give --bands where the command has it "
                "(e.g. --bands 3,2,1 for a multispectral camera's blue, green, red, red edge, NIR; --bands 4,3,2 "
                "for Sentinel-2 in band order)")  # fmt: skip
    elif count == 2 and not has_alpha_band(colours):  # grey + alpha is a grey image; two bands of data are not
        text = f"{p}: 2 bands read as a grey image of band 1 (band 2 left out); an RGB image needs three bands"
    if text and said is None:
        log.warning(text)
    elif text and said is not None:
        said.append(text)
    return [1, 2, 3] if count >= 3 else [1] * 3


def check_bands_apply(files: Sequence[str | Path], bands: Sequence[int] | None) -> None:
    """Refuse ``--bands`` where no input reads bands (no GeoTIFF or JPEG 2000 among them): a usage error, once,
    not every image failing with it.

    Raises:
        agriseg.config.OptionError: naming ``--bands``.
    """
    if not bands or not files:
        return
    from agriseg.config import OptionError

    given = ",".join(map(str, bands))
    geo = [f for f in files if is_geo_image(f)]
    if not geo:
        raise OptionError(
            f"--bands {given}: applies to GeoTIFF and JPEG 2000 files; none of the {len(files)} images is one"
        )
    if len(bands) != 3 or min(bands) < 1:
        raise OptionError(f"--bands {given}: three band numbers from 1, for red, green and blue")
    counts: list[int | None] = []
    for f in geo:  # up to the first that has the band (a folder of 1,000 headers took 1.5 s)
        counts.append(band_count(f))
        if counts[-1] is None or counts[-1] >= max(bands):
            return
    if counts:  # none has that band (an unreadable one may: it fails alone)
        most = max(c for c in counts if c is not None)
        widest = geo[counts.index(most)]
        raise OptionError(f"--bands {given}: {widest} has {most} band{'s' * (most > 1)}"
                          + (f" (the most of the {len(geo)} images)" if len(geo) > 1 else ""))  # fmt: skip


def has_alpha_band(colours: Sequence[str]) -> bool:
    """Whether a raster's colour interpretations (rasterio's ``colorinterp`` names) declare an alpha band."""
    return "alpha" in [c.lower() for c in colours]


def _colour_bands(desc: Sequence[str], colours: Sequence[str]) -> list[int] | None:
    """The 1-based bands whose colour interpretation is red, green, blue (each once), when the (lower-case)
    descriptions ``desc`` do not name them; None otherwise."""
    colours = [c.lower() for c in colours]
    if all(n in desc for n in _RGB_NAMES) or not all(colours.count(n) == 1 for n in _RGB_NAMES):
        return None
    return [colours.index(n) + 1 for n in _RGB_NAMES]


def read_image(path: str | Path, bands: Sequence[int] | None = None) -> tuple[np.ndarray, GeoRef | None]:
    """Read an RGB image: (H, W, 3) uint8 and its georeference (GeoTIFF / JPEG 2000 with rasterio) or None.

    See :func:`read_image_valid` (the same, with the image's valid pixels).
    """
    img, geo, _ = read_image_valid(path, bands)
    return img, geo


_GEO_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+", b"\x00\x00\x00\x0cjP  ", b"\xffO\xffQ")


def is_geo_image(path: str | Path) -> bool:
    """Whether ``path`` is read through rasterio: named as a GeoTIFF / JPEG 2000, or holding a TIFF (BigTIFF) or
    JPEG 2000 whatever its name says (a multi-band GeoTIFF saved as ``.png`` was "not a readable image": Pillow
    cannot decode 8 bands, rasterio reads it)."""
    if Path(path).suffix.lower() in GEO_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head.startswith(_GEO_MAGIC)


def read_image_valid(
    path: str | Path, bands: Sequence[int] | None = None
) -> tuple[np.ndarray, GeoRef | None, np.ndarray | None]:
    """Read an RGB image, its georeference and which of its pixels hold data.

    The valid pixels ``(H, W)`` bool are None when every pixel is: a raster's nodata value, alpha band or
    internal mask (in any of the three bands read), a float raster's NaN (declared nodata or not), a PNG's
    alpha 0 or transparent colour, mark the others.

    Integer pixel values are scaled by their bit depth, as every agriseg reader does (a 16-bit value ``v``
    reads as ``round(v * 255 / 65535)``), never stretched per image.

    Args:
        path: image file.
        bands: 1-based band numbers to read as red, green, blue (rasterio formats); default: the bands
            described red / green / blue, else the first three.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: if it cannot be read as an image (message starts with the path).
    """
    from agriseg.data.io import read_rgb, scale_to_uint8

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: image not found")
    rio = rasterio_or_none() if is_geo_image(p) else None
    if rio is None:
        if bands and tuple(bands) != (1, 2, 3):  # 1,2,3 is a PNG's or JPEG's reading: a mixed folder's PNGs pass
            raise ValueError(f"{p}: --bands applies to GeoTIFF and JPEG 2000 files only")
        return read_rgb(p), None, _alpha_valid(p)
    try:
        with open_plain_or_geo(rio, p) as src, warnings.catch_warnings():
            # an RGBN GeoTIFF with a nodata value: GDAL calls its 4th band alpha, and the nodata value is what
            # marks no data (rasterio's NodataShadowWarning says so, with a source line, for every file)
            warnings.simplefilter("ignore", rio.errors.NodataShadowWarning)
            geo = _georef(src, p)
            if not bands and _is_palette(src):
                index = src.read(1)  # (H, W) colour numbers
                arr = _palette_lut(src.colormap(1), int(index.max(initial=0)))[index]  # (H, W, 3) their colours
                return arr, geo, _valid_or_none(src.read_masks(1) > 0)
            idx = pick_rgb_bands(src.descriptions, src.count, bands, p, [c.name for c in src.colorinterp])
            arr = np.moveaxis(src.read(idx), 0, -1)  # (3, H, W) -> (H, W, 3)
            valid = src.read_masks(idx).min(axis=0) > 0  # (H, W): no band of the three is nodata there
        if arr.dtype.kind == "f":  # NaN (or inf) where no nodata is declared: no data there, as a GIS shows it
            valid &= np.isfinite(arr).all(axis=-1)
        if not valid.all():  # a nodata value (9999, NaN) neither sets the range of the values nor fails them
            arr = np.where(valid[..., None], arr, 0).astype(arr.dtype)
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad input file
        why = " ".join(str(err).split())
        if "see previous exception" in why.lower():  # GDAL's "Read failed. See previous exception": none shown
            why = "its pixels cannot be read: a damaged or cut-off file"
        raise ValueError(f"{p}: cannot read image ({why})") from err
    return np.ascontiguousarray(scale_to_uint8(arr, p)), geo, None if valid.all() else valid


def crs_text(crs: Any) -> str | None:  # noqa: ANN401 - a rasterio CRS or None
    """A CRS as text that reads back as the same CRS: its authority code where that is the CRS, else its WKT
    (``to_string`` alone named a custom Gauss-Krueger CRS with its own TOWGS84 ``EPSG:31467``, dropping the
    datum shift, and a LAEA on an unnamed GRS80 datum ``IGNF:ETRS89LAEA``)."""
    if crs is None:
        return None
    from rasterio.crs import CRS

    short = crs.to_string()
    return short if CRS.from_string(short) == crs else str(crs.to_wkt())


def _georef(src: Any, path: Path) -> GeoRef:  # noqa: ANN401 - a rasterio dataset
    """The georeference of an open raster: its CRS and geotransform; for one placed by ground control points
    (no geotransform), the affine fit of its GCPs where it matches them to a pixel, else none, with a warning
    (the outputs would sit beside the image's place unsaid)."""
    gcps, gcp_crs = src.gcps if src.crs is None and src.transform.is_identity else ([], None)
    if not gcps or gcp_crs is None:
        return GeoRef(crs_text(src.crs), tuple(src.transform)[:6])
    from rasterio.transform import from_gcps

    t = from_gcps(gcps)
    fit = np.array([~t * (g.x, g.y) for g in gcps])  # (N, 2) pixel positions the fit gives the points
    off = float(np.hypot(fit[:, 0] - [g.col for g in gcps], fit[:, 1] - [g.row for g in gcps]).max())
    if len(gcps) >= 3 and off <= 1.0:
        return GeoRef(crs_text(gcp_crs), tuple(t)[:6])
    log.warning(
        "%s: placed by %d ground control points that no geotransform fits (off by up to %.1f px); its outputs "
        "carry no georeference: warp it first (e.g. gdalwarp)",
        path,
        len(gcps),
        off,
    )
    return GeoRef(None, tuple(src.transform)[:6])


def _is_palette(src: Any) -> bool:  # noqa: ANN401 - a rasterio dataset
    """Whether ``src`` is one band of colour numbers with a colour table (a palette GeoTIFF)."""
    return bool(src.count == 1) and src.colorinterp[0].name == "palette" and np.dtype(src.dtypes[0]).kind == "u"


def _palette_lut(colormap: dict[int, tuple[int, ...]], top: int) -> np.ndarray:
    """``(N, 3)`` uint8 colours by number (0..``top`` at least) from rasterio's ``{number: (r, g, b, a)}``;
    numbers the table lacks read as black."""
    lut = np.zeros((max(max(colormap, default=0), top) + 1, 3), np.uint8)
    for k, rgba in colormap.items():
        lut[k] = rgba[:3]
    return lut


def _valid_or_none(valid: np.ndarray) -> np.ndarray | None:
    return None if valid.all() else valid


def reading_rules(path: str | Path) -> dict[str, str]:
    """The reading rules an image's header says apply to it, for fingerprints: ``{"nodata": "masked"}`` for
    a raster with a nodata value, alpha band or mask (a PNG with alpha), ``{"floats": "by range"}`` for
    float pixels, ``{"bands": "by colour"}`` for a raster whose colour interpretation puts red, green and
    blue elsewhere than bands 1-3; empty for a plain image (whose outputs no later rule changed).
    Unreadable: empty."""
    p = Path(path)
    out: dict[str, str] = {}
    rio = rasterio_or_none() if is_geo_image(p) else None
    try:
        if rio is not None:
            with open_plain_or_geo(rio, p) as src:
                flags = src.mask_flag_enums
                if src.nodata is not None or any(f != [rio.enums.MaskFlags.all_valid] for f in flags):
                    out["nodata"] = "masked"
                if any(np.dtype(d).kind == "f" for d in src.dtypes):
                    out["floats"] = "by range"
                desc = [(d or "").strip().lower() for d in src.descriptions]
                by_colour = _colour_bands(desc, [c.name for c in src.colorinterp])
                if by_colour not in (None, [1, 2, 3]):
                    out["bands"] = "by colour"  # read as labelled since this rule came
                if _is_palette(src):
                    out["palette"] = "colours"  # read as its colours, not as grey colour numbers
            return out
        from PIL import Image

        with Image.open(p) as im:
            if has_alpha(im):
                out["nodata"] = "masked"
            if im.mode == "F":
                out["floats"] = "by range"
    except Exception:  # noqa: BLE001 - an unreadable image fails as its own item when it is read
        return {}
    return out


def _alpha_valid(p: Path) -> np.ndarray | None:
    """The pixels of a PNG (or other PIL image) with alpha above 0; None without alpha or when all are."""
    from PIL import Image

    try:
        with Image.open(p) as im:
            if not has_alpha(im):
                return None
            from agriseg.data.io import apply_orientation, exif_orientation

            rgba = im if im.mode in ("RGBA", "LA") else im.convert("RGBA")  # a palette's transparent colours
            # (H, W), turned as the photo is read (a turned phone PNG's mask was of the stored pixels)
            alpha = apply_orientation(np.asarray(rgba.getchannel("A")) > 0, exif_orientation(im))
    except Exception:  # noqa: BLE001 - read_rgb already read it; a second look that fails marks nothing
        return None
    return None if alpha.all() else alpha


def image_size(path: str | Path, oriented: bool = False) -> tuple[int, int] | None:
    """``(H, W)`` of an image from its header, without reading its pixels (None when it cannot be read);
    ``oriented``: as it is read, turned by its EXIF orientation."""
    import warnings

    p = Path(path)
    rio = rasterio_or_none() if is_geo_image(p) else None
    try:
        if rio is not None:
            with open_plain_or_geo(rio, p) as src:
                return int(src.height), int(src.width)
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's size warning: the reader itself decides about large images
            with Image.open(p) as im:
                from agriseg.data.io import exif_orientation

                turned = oriented and exif_orientation(im) >= 5  # 5-8: a quarter turn
                return (int(im.width), int(im.height)) if turned else (int(im.height), int(im.width))
    except Exception:  # noqa: BLE001 - an unreadable image fails as its own item when it is read
        return None


def photo_valid(path: str | Path, shape: tuple[int, int]) -> np.ndarray | None:
    """Which pixels of a photo read as ``shape`` (:func:`agriseg.data.io.read_rgb`'s reading) hold data: ``(H, W)``
    bool, None when all do or it cannot be told. A raster's pixel is no data where none of its first three bands
    holds data (its nodata value, alpha or mask: a plant's 0 in red is data), as ``fields predict`` reads a scene;
    a PNG's where its alpha is 0."""
    p = Path(path)
    rio = rasterio_or_none() if is_geo_image(p) else None
    valid: np.ndarray | None
    try:
        if rio is not None:
            with open_plain_or_geo(rio, p) as src:
                flags = [src.mask_flag_enums[i] for i in range(min(src.count, 3))]
                if src.nodata is None and all(f == [rio.enums.MaskFlags.all_valid] for f in flags):
                    return None
                idx = list(range(1, min(src.count, 3) + 1))
                valid = src.read_masks(idx).max(axis=0) > 0  # (H, W): any band of data
        else:
            valid = _alpha_valid(p)
    except Exception:  # noqa: BLE001 - read a moment ago: a second look that fails marks nothing
        return None
    if valid is None or valid.shape != tuple(shape) or valid.all():  # another turn than the photo's: not guessed
        return None
    return valid


def band_count(path: str | Path) -> int | None:
    """The number of bands of an image (or of a ``.npy`` map: 1 for a 2-D array) from its header; None when it
    cannot be read."""
    p = Path(path)
    try:
        if p.suffix.lower() == ".npy":
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
            return 1 if arr.ndim == 2 else int(arr.shape[-1]) if arr.ndim == 3 else None
        rio = rasterio_or_none() if is_geo_image(p) else None
        if rio is not None:
            with open_plain_or_geo(rio, p) as src:
                return int(src.count)
        from PIL import Image

        with Image.open(p) as im:
            return len(im.getbands())
    except Exception:  # noqa: BLE001 - an unreadable file is said by its reading
        return None


def georef_sidecar(geo: GeoRef) -> str:
    """The text of a GDAL ``.aux.xml`` sidecar giving a plain image (a PNG mask) ``geo``'s CRS and transform.

    GDAL and QGIS read ``<image>.aux.xml`` beside an image as its georeference: a mask PNG of a GeoTIFF then
    lies over it in a GIS, and stays a PNG every viewer opens. (Written by hand: rasterio writes such a sidecar
    only through a GDAL dataset it opens for update.)
    """
    from xml.sax.saxutils import escape

    a, b, c, d, e, f = geo.transform  # rasterio's order; GDAL's GeoTransform is (c, a, b, f, d, e)
    lines = ["<PAMDataset>"]
    if geo.crs:
        from rasterio.crs import CRS

        wkt = CRS.from_user_input(geo.crs).to_wkt()
        # no dataAxisToSRSAxisMapping: GDAL then reads the transform in GIS order (x = easting / longitude), as
        # rasterio writes it; a fixed "1,2" swapped the axes of CRSs defined latitude first (EPSG:4326, 3035)
        lines.append(f"  <SRS>{escape(wkt)}</SRS>")
    lines.append(f"  <GeoTransform>{', '.join(repr(float(v)) for v in (c, a, b, f, d, e))}</GeoTransform>")
    lines.append("</PAMDataset>")
    return "\n".join(lines) + "\n"


def sidecar_of(path: str | Path) -> str:
    """The ``.aux.xml`` text that gives an output image at ``path``'s own size its georeference.

    That of a GeoTIFF or JPEG 2000 photo, or of the sidecar beside a plain image (a mask ``crop predict`` wrote
    of a GeoTIFF: ``crop traits`` of it keeps the georeference). Empty for an image without one, without
    rasterio, and for a file GDAL cannot open (that file fails as its own item when it is read).
    """
    p = Path(path)
    try:
        geo = read_georef(p)
        rio = rasterio_or_none() if geo is None and p.with_name(f"{p.name}.aux.xml").is_file() else None
        if rio is not None and _turned(p):  # read upright, its outputs are not on the grid GDAL gives the file
            log.warning("%s: turned by its EXIF orientation: its outputs do not carry its .aux.xml georeference", p)
            return ""
        if rio is not None:
            with open_plain_or_geo(rio, p) as src:  # GDAL reads the sidecar as the image's own
                if src.crs is not None or not src.transform.is_identity:
                    geo = GeoRef(crs_text(src.crs), tuple(src.transform)[:6])
        return georef_sidecar(geo) if geo is not None else ""
    except Exception:  # noqa: BLE001 - an unreadable file: said when it is read
        return ""


def _turned(path: Path) -> bool:
    """Whether a plain image has an EXIF orientation other than "as stored" (agriseg reads it upright)."""
    from PIL import Image

    from agriseg.data.io import exif_orientation

    with Image.open(path) as im:
        return exif_orientation(im) != 1


def read_georef(path: str | Path) -> GeoRef | None:
    """The georeference of a raster file (None when it has none or rasterio is absent)."""
    p = Path(path)
    rio = rasterio_or_none() if is_geo_image(p) else None
    if rio is None:
        return None
    with open_plain_or_geo(rio, p) as src:
        if src.crs is None and src.transform.is_identity:
            return None
        return GeoRef(crs_text(src.crs), tuple(src.transform)[:6])
