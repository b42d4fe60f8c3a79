"""Reading images robustly: RGB, RGBA, grayscale, palette, 16-bit; clear errors that name the file.

Conventions every reader here follows:

- EXIF orientation is applied, so arrays (and every mask made from them) match the photo as viewers
  show it.
- Integer images are scaled by their bit depth: 16-bit values ``v`` become ``round(v * 255 / 65535)``,
  whatever the content (a 16-bit file holding 0-255 data therefore comes out dark, and a warning says so).
- Images larger than :data:`MAX_PIXELS` are refused with a one-line error (a decompression bomb, or an
  orthomosaic that must be read as a raster in windows).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".jp2", ".bmp", ".webp", ".gif", ".avif")
# photos a camera or phone writes that agriseg cannot read (HEIC needs pillow-heif; raw files a raw converter): a
# folder's listing names them as left out rather than passing them over without a word
UNREAD_PHOTO_SUFFIXES = (".heic", ".heif", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".pef")
# PIL's own bomb limit (twice MAX_IMAGE_PIXELS, about 179 MP): far above any camera's photo
MAX_PIXELS = 2 * (Image.MAX_IMAGE_PIXELS or 89_478_485)

log = logging.getLogger("agriseg")


class ImageReadError(ValueError):
    """An image file could not be read; the message names the file and the problem."""


class ImageNotFoundError(ImageReadError, FileNotFoundError):
    """An image file that is not there: an :class:`ImageReadError` (a batch's item fails) that
    ``except FileNotFoundError`` catches too, as it catches every other missing input."""


@contextmanager
def quiet_warnings(what: str | Path, library: str) -> Iterator[None]:
    """Send the warnings one library raises inside the block to the ``agriseg`` log (debug), naming ``what``.

    A library's own warnings about one file print raw lines before agriseg's one-line message about it; warnings
    from elsewhere are passed on unchanged when the block ends (also when it raises).

    Args:
        what: the file (or files) the block reads, named in the log lines.
        library: the top-level package whose warnings are kept off the terminal (by category or source file).
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            caught = record if record is not None else []
            yield
    finally:  # outside catch_warnings: the warnings passed on reach the filters in force
        for w in caught:
            module = getattr(w.category, "__module__", "") or ""
            if module.split(".")[0] == library or library in Path(w.filename).parts:
                log.debug("%s: %s", what, w.message)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def quiet_pil(path: str | Path) -> AbstractContextManager[None]:
    """PIL's warnings about one image (a large photo's ``DecompressionBombWarning``, a corrupt EXIF block's
    ``UserWarning``) to the log: agriseg has its own size limit (:data:`MAX_PIXELS`) and reads past bad EXIF."""
    return quiet_warnings(path, "PIL")


def quiet_rasterio(what: str | Path = "rasterio") -> AbstractContextManager[None]:
    """rasterio's warnings to the log: a raster without a geotransform prints two raw ``NotGeoreferencedWarning``
    lines on every open, before agriseg's own one-line message about the file."""
    return quiet_warnings(what, "rasterio")


def open_image(path: str | Path, kind: str = "image") -> Image.Image:
    """Open and decode an image file, with one-line errors that name the file.

    Args:
        path: the file.
        kind: what the file is, for the messages (``image``, ``label``, ...).

    Raises:
        ImageReadError: missing file, not an image, or unreadable / truncated.
    """
    path = Path(path)
    if _broken_link(path):
        raise ImageReadError(f"{path}: a link to {os.readlink(path)}, which is missing")
    if path.is_dir():
        raise ImageReadError(f"{path}: a folder, not {'an image' if kind == 'image' else 'a ' + kind} file")
    if not path.is_file():
        raise ImageNotFoundError(f"{path}: {'file' if kind == 'image' else kind + ' file'} not found")
    try:
        with quiet_pil(path):
            im = Image.open(path)
            _check_size(im, path, kind)
            sixteen = _stored_16bit_colour(im)  # PIL forgets how the pixels were stored once it decodes them
            im.load()
        if sixteen:
            im.info[SIXTEEN_BIT_COLOUR] = True
        return im
    except Image.DecompressionBombError as err:
        raise ImageReadError(f"{path}: {kind} is too large to read whole (over {MAX_PIXELS / 1e6:.0f} MP)") from err
    except UnidentifiedImageError as err:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)") from err
        raise ImageReadError(f"{path}: not a readable {kind}{_raster_hint(path) or _format_hint(path)}") from err
    except PermissionError as err:
        raise ImageReadError(f"{path}: cannot read it: permission denied") from err
    except (OSError, SyntaxError, ValueError) as err:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)") from err
        if "truncated" in str(err):  # Pillow: "image file is truncated (33 bytes not processed)"
            raise ImageReadError(
                f"{path}: truncated {kind}: the file ends before its pixels do (copy it again?)"
            ) from err
        if path.suffix.lower() == ".webp" or "decoder" in str(err):  # libwebp's "could not create decoder object"
            raise ImageReadError(f"{path}: unreadable or truncated {kind} (its pixels cannot be decoded)") from err
        raise ImageReadError(f"{path}: unreadable or truncated {kind} ({err})") from err


# the ISO base media brands of HEIF files (iPhone photos) and RAW formats that start the same way
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


def _format_hint(path: Path) -> str:
    """For a file PIL cannot identify: what it is, when its first bytes say so (a HEIC photo saved as .jpg)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return ""
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return ": a HEIC / HEIF photo (an iPhone's format), which agriseg does not read; convert it to JPEG"
    return ""


def _check_size(im: Image.Image, path: Path, kind: str) -> None:
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageReadError(
            f"{path}: {kind} is {w}x{h} px ({w * h / 1e6:.0f} MP), over the {MAX_PIXELS / 1e6:.0f} MP limit "
            "for one image; split it into tiles"
        )


def _raster_hint(path: Path) -> str:
    """For a TIFF PIL cannot open: what it is, when it is a multi-band raster (e.g. a satellite scene)."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return ""
    try:
        import rasterio

        from agriseg.raster.image import bands_phrase, open_plain_or_geo

        with open_plain_or_geo(rasterio, path) as ds:
            return f" as a photo: it is {bands_phrase(ds.count, ds.dtypes[0])} raster, not an RGB photo" + (
                " (a Sentinel-2 scene goes to `agriseg fields predict`)" if ds.count >= 4 else ""
            )
    except Exception:  # noqa: BLE001 - only a hint; the caller's error stands without it
        return ""


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image as ``uint8`` RGB ``(H, W, 3)``.

    Grayscale is replicated to three channels, alpha is dropped (a transparent pixel is read as black: no
    plant), palette images are expanded and 16-bit or float images are rescaled to 0-255 (by the type's range
    for integers, by their range for floats: 0-1, 0-255 or 0-65535; never by an image's own minimum and
    maximum). Colour TIFFs of floats, which PIL cannot open, are read with tifffile.

    Raises:
        ImageReadError: if the file is missing, not an image, truncated, or has an unusable shape.
    """
    path = Path(path)
    try:
        with open_image(path) as im, quiet_pil(path):
            arr = _to_array(im, path)
            warn_pages(im, path)
    except ImageReadError as err:
        floats = _float_colour_tiff(path)
        if floats is None or not np.isfinite(floats).all():
            # GDAL reads what PIL and tifffile do not: 16-bit RGB GDAL wrote as MINISBLACK, compressed floats,
            # NaN nodata (read as black, as a transparent pixel is); None without rasterio or for another format
            gdal = _gdal_rgb(path)
            if gdal is not None:
                arr = gdal
            elif floats is not None:
                arr = floats  # NaN: said as such below
            else:
                raise err from None
        else:
            arr = floats
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim == 3 and (arr.shape[0] < 2 or arr.shape[1] < 2):
        raise ImageReadError(
            f"{path}: the image is {arr.shape[1]}x{arr.shape[0]} px, too small to segment (at least 2x2)"
        )
    if arr.ndim != 3:
        raise ImageReadError(f"{path}: unsupported image shape {arr.shape}")
    return _to_uint8(_three_channels(arr), path)


def warn_pages(im: Image.Image, path: Path) -> None:
    """Warn that only the first page of a multi-page TIFF (or frame of an animation) is read. ``im`` is left
    at its first page."""
    if said := pages_note(im):
        log.warning("%s: %s", path, said)


def pages_note(im: Image.Image) -> str:
    """``a TIFF of 3 pages; only the first is read`` (or of an animation's frames), or ``""`` for an image of
    one. ``im`` is left at its first page."""
    if getattr(im, "n_frames", 1) > 1 and im.format == "TIFF" and (pages := _full_pages(im)) > 1:
        counted = f"{pages} or more" if pages >= PAGES_LOOKED_AT else str(pages)  # a stack of 100 said "64"
        return f"a TIFF of {counted} pages; only the first is read"
    if (frames := getattr(im, "n_frames", 1)) > 1 and im.format in ("GIF", "PNG", "WEBP"):  # animated
        return f"an animation of {frames} frames; only the first is read"
    return ""


def photo_reading_rules(path: str | Path) -> dict[str, str]:
    """The reading rules of :func:`read_rgb` that a photo's header says apply to it, for the fingerprints of
    its outputs: ``{"transparent": "black"}`` for a photo with alpha (a transparent pixel has been read as black
    since this rule came: an earlier run's outputs of it are made again), ``{"colour": "16-bit"}`` for a 48/64-bit
    colour PNG or TIFF (read by its 16 bits, no longer by PIL's high byte); empty for any other photo, whose
    outputs no later rule changed, and for an unreadable one."""
    try:
        with quiet_pil(path), Image.open(path) as im:
            alpha, sixteen = has_alpha(im), _stored_16bit_colour(im)
    except Exception:  # noqa: BLE001 - an unreadable photo fails as its own item when it is read
        return {}
    # 48/64-bit colour: read by its 16 bits since session 85 (before, PIL's high byte)
    return ({"transparent": "black"} if alpha else {}) | ({"colour": "16-bit"} if sixteen else {})


def has_alpha(im: Image.Image) -> bool:
    """Whether a PIL image has alpha: an alpha band, or a palette with transparent colours, or (a PNG's tRNS
    colour key) a grey or RGB image with a transparent value."""
    return im.mode in ("RGBA", "LA", "PA") or (im.mode in ("P", "L", "RGB") and "transparency" in im.info)


PAGES_LOOKED_AT = 64  # the pages of a TIFF counted for its note (each one is a seek through the file)


def _full_pages(im: Image.Image) -> int:
    """The pages of a TIFF at its first page's size (a stack, or bands stored page by page; not the reduced
    copies of a cloud-optimised GeoTIFF's overviews). ``im`` is left at its first page."""
    size, full = im.size, 0
    try:
        for i in range(min(getattr(im, "n_frames", 1), PAGES_LOOKED_AT)):
            im.seek(i)
            full += im.size == size
    finally:
        im.seek(0)
    return full


def _gdal_rgb(path: Path) -> np.ndarray | None:
    """``(H, W, 3)`` uint8 of a TIFF or JPEG 2000 of up to 4 bands that PIL cannot open, read through rasterio
    (GDAL) as :func:`agriseg.raster.image.read_image_valid` reads it, its nodata black; None without rasterio
    (the ``[geo]`` extra), for another format, more bands or a file GDAL cannot read either (the caller's error
    stands).

    Raises:
        ImageReadError: for a raster over the size limit.
    """
    from agriseg.raster.image import is_geo_image, open_plain_or_geo, rasterio_or_none, read_image_valid

    rio = rasterio_or_none() if is_geo_image(path) else None
    if rio is None:
        return None
    try:
        with open_plain_or_geo(rio, path) as ds:
            w, h, count = ds.width, ds.height, ds.count
    except Exception:  # noqa: BLE001 - GDAL cannot open it either
        return None
    if count > 4:  # a multispectral scene (Sentinel-2, a 5-band drone camera) is no photo: the caller says so
        return None
    if w * h > MAX_PIXELS:
        raise ImageReadError(
            f"{path}: image is {w}x{h} px ({w * h / 1e6:.0f} MP), over the {MAX_PIXELS / 1e6:.0f} MP limit for one "
            "image; split it into tiles"
        )
    try:
        rgb, _, valid = read_image_valid(path)
    except ValueError:
        return None
    if valid is not None and not valid.any():
        raise ImageReadError(f"{path}: every pixel is nodata (NaN or the file's nodata value): nothing to read")
    return rgb


def _float_colour_tiff(path: Path) -> np.ndarray | None:
    """``(H, W, 3 or 4)`` floats of an RGB(A) TIFF of floats (a camera's or a script's export), which PIL
    cannot open; None for any other file (its error from PIL stands)."""
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file():
        return None
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            if page.dtype is None or page.dtype.kind != "f" or page.samplesperpixel not in (3, 4):
                return None
            arr = page.asarray()
            planar = page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
            nodata = page.tags.get(42113)  # GDAL_NODATA: a mosaic's declared no-data value, as text
    except Exception:  # noqa: BLE001 - not a TIFF tifffile reads either: PIL's error stands
        return None
    if planar and arr.ndim == 3:  # (C, H, W)
        arr = np.moveaxis(arr, 0, -1)
    if nodata is not None:  # black, as GDAL reads it (a -9999 was read as a colour below 0 and warned of as
        try:  # such: session 106's sweep), with GDAL installed or not
            value = float(str(nodata.value).strip("\x00 "))
        except ValueError:
            value = None
        if value is not None and not np.isnan(value):
            arr = np.where(arr == np.float32(value), np.zeros((), arr.dtype), arr)
    return arr if arr.ndim == 3 and arr.shape[-1] in (3, 4) else None


def _three_channels(arr: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` -> ``(H, W, 3)``: grey (and grey + alpha) repeated, alpha and further bands dropped.

    A transparent pixel (alpha 0: outside a cut-out plant, outside an orthomosaic's footprint) is no photo:
    it is read as black, which no model or colour rule takes for a plant, whatever colour the file keeps
    under it."""
    if arr.shape[-1] in (2, 4):
        arr = np.where(arr[..., -1:] == 0, np.zeros((), arr.dtype), arr)
    return np.repeat(arr[..., :1], 3, axis=-1) if arr.shape[-1] <= 2 else arr[..., :3]


def as_rgb(image: Any) -> np.ndarray:
    """A photo given in memory or by name as ``uint8`` RGB ``(H, W, 3)``: what every crop model takes.

    Args:
        image: a file name (read with :func:`read_rgb`), a PIL image (both turned upright by their EXIF
            orientation; an array from ``np.asarray(Image.open(f))`` is not: pass the file or the image), or an
            array ``(H, W)`` (grey),
            ``(H, W, 1-4)`` (grey, grey + alpha, RGB, RGBA: alpha dropped, a transparent pixel read as black)
            of ``uint8``; ``uint16`` is
            scaled by its range (65535 is white; one whose values are all <= 255 is refused), other integers
            must hold 0-255, floats in [0, 1] are scaled by 255 and floats reaching over 2 taken as 0-255
            (a maximum between 1 and 2 is refused as ambiguous).

    Raises:
        ValueError: a mask (``bool``), a channels-first ``(C, H, W)`` array, another shape, an empty array, or
            values out of range (or not finite); ``TypeError`` for anything that is no photo.
    """
    if isinstance(image, (str, os.PathLike)):
        return read_rgb(os.fspath(image))
    if isinstance(image, Image.Image):  # 16-bit and float modes as arrays (convert() would clip them to white)
        deep = image.mode.startswith(("I", "F"))
        if image.mode == "La":  # premultiplied grey and alpha: PIL converts it to LA only
            image = image.convert("LA")
        alpha = {"A", "a"} & set(image.getbands())  # "a": premultiplied (RGBa), which PIL converts to RGBA
        pixels = np.asarray(image) if deep else np.asarray(image.convert("RGBA" if alpha else "RGB"))
        # turned by its EXIF orientation as read_rgb turns its file: Image.open(path) gives the mask of the path
        image = apply_orientation(pixels, exif_orientation(image))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"a photo is a file name, a PIL image or a numpy array, not {type(image).__name__}")
    arr = image
    if arr.dtype == bool:
        raise ValueError("a bool array is a mask, not a photo: pass the RGB photo (H, W, 3)")
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] > 4:
        raise ValueError(f"the array is {arr.shape}, channels first; pass (H, W, 3): arr.transpose(1, 2, 0)")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or not 1 <= arr.shape[-1] <= 4:
        raise ValueError(f"a photo is (H, W), (H, W, 3) or (H, W, 4); got an array of shape {image.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"the photo is empty: an array of shape {image.shape}")
    arr = _three_channels(arr)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:  # a 16-bit photo, scaled by its range as read_rgb scales such files
        top = int(arr.max()) if arr.size else 0
        if arr.size and top <= 255:  # 8-bit values in a 16-bit array: scaled, the photo would be black
            raise ValueError("a uint16 photo whose values are all <= 255 (8-bit values?): pass arr.astype(np.uint8)")
        if arr.size and top <= LOW_BITS_TOP:
            log.warning("a uint16 photo whose values are all <= %d reads nearly black (scaled by 65535): for a 10- or "
                        "12-bit camera's values pass (arr << 6) or (arr << 4)", LOW_BITS_TOP)  # fmt: skip
        return (arr.astype(np.float32) * (255.0 / 65535.0)).round().astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        least, most = int(arr.min()), int(arr.max())
        if least < 0 or most > 255:
            raise ValueError(f"an integer photo other than uint16 holds values 0-255; this one spans [{least}, {most}]")
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"a photo's values are numbers, not {arr.dtype}")
    if bad := int((~np.isfinite(arr)).sum()):  # "spans [nan, nan]" said nothing of where the trouble was
        raise ValueError(f"a float photo holds {bad} NaN or infinite value{'s' * (bad > 1)}: fill them first")
    lo, hi = float(arr.min()), float(arr.max())
    if not (0.0 <= lo and hi <= 255.0):
        raise ValueError(f"a float photo holds values in [0, 1] or [0, 255]; this one spans [{lo:g}, {hi:g}]")
    if 1.0 < hi <= 2.0:  # [0, 1] a little over (white balance, gain) or a nearly black 0-255 photo: say which
        raise ValueError(f"a float photo spanning [{lo:g}, {hi:g}] is ambiguous: clip it to [0, 1] or scale to 0-255")
    return (arr * (255.0 if hi <= 1.0 else 1.0)).round().astype(np.uint8)


def exif_orientation(im: Image.Image) -> int:
    """The EXIF orientation tag of an image (1 = as stored; 6 = rotate 90 degrees clockwise to view)."""
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block means no orientation
        return 1


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an ``(H, W, ...)`` array as EXIF ``orientation`` says, so it matches what viewers show."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(arr)) if op else arr


SIXTEEN_BIT_COLOUR = "agriseg_16bit_colour"  # im.info key set by open_image: a 48/64-bit colour PNG or TIFF


def _stored_16bit_colour(im: Image.Image) -> bool:
    """True for a 48/64-bit colour PNG or TIFF not yet decoded (its tiles say how its pixels are stored: a
    TIFF's raw mode ``RGB;16L`` is the first of its tile's arguments, a PNG's ``RGB;16B`` is all of them)."""
    if im.mode not in ("RGB", "RGBA"):
        return False
    if im.format == "TIFF" and max(_tuple(getattr(im, "tag_v2", {}).get(258)), default=8) == 16:
        return True  # a TIFF's bits per sample: its planes stored apart (PlanarConfiguration 2) say no ";16"
    for t in getattr(im, "tile", None) or []:
        raw = t.args if isinstance(t.args, str) else (t.args[0] if t.args else "")
        if ";16" in str(raw):
            return True
    return False


def _tuple(v: Any) -> tuple[int, ...]:  # noqa: ANN401 - a TIFF tag's value: a number or a tuple of them
    try:
        return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v),) if v is not None else ()
    except (TypeError, ValueError):
        return ()


def _is_16bit_colour(im: Image.Image) -> bool:
    """True for 48/64-bit colour PNG and TIFF, which PIL would silently cut to their high byte (a 12-bit
    camera's frame to values 0-15)."""
    return bool(im.info.get(SIXTEEN_BIT_COLOUR)) or _stored_16bit_colour(im)


def _to_array(im: Image.Image, path: Path) -> np.ndarray:
    orientation = exif_orientation(im)
    if _is_16bit_colour(im):
        arr = _read_16bit_colour(path, im.format)
        if arr is not None and arr.ndim == 3:
            return apply_orientation(arr, orientation)
    if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
    elif im.mode in ("L", "RGB") and "transparency" in im.info:  # a tRNS colour key: its pixels transparent
        im = im.convert("RGBA")
    return apply_orientation(np.asarray(im), orientation)


def _read_16bit_colour(path: Path, fmt: str | None) -> np.ndarray | None:
    """RGB(A) ``(H, W, C)`` uint16 of a 48/64-bit colour PNG or TIFF (None when it cannot be read so).

    OpenCV when it is installed (the ``train`` extra); otherwise tifffile (TIFF) or pypng (PNG), both small
    and part of the base install.
    """
    if fmt == "TIFF":  # tifffile: its planes stored apart too (OpenCV reads those, PIL does not)
        import importlib.util

        import tifffile

        planar = False
        try:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                planar = int(getattr(page, "planarconfig", 1)) == 2
                arr = page.asarray()
                if planar and arr.ndim == 3:  # (C, H, W) -> (H, W, C)
                    arr = np.moveaxis(arr, 0, -1)
            return np.ascontiguousarray(arr)
        except Exception as err:  # noqa: BLE001 - a compression tifffile leaves to imagecodecs (LZW: ValueError;
            # ZSTD: ModuleNotFoundError) stopped a whole crop predict batch, naming no file (session 106's sweep).
            # GDAL reads every one (read_rgb asks it after this error); OpenCV, without GDAL, those of pixel-
            # interleaved bands (it misreads planes stored apart and LZW-compressed: stripes, session 106's review)
            cv = not planar and importlib.util.find_spec("rasterio") is None and importlib.util.find_spec("cv2")
            read = _cv_colour(path) if cv else None
            if read is None or read.ndim != 3:
                raise ImageReadError(
                    f"{path}: a 16-bit colour TIFF this install cannot decode ({err}); save it uncompressed, or "
                    'pip install imagecodecs (or "agriseg[fields]", whose GDAL reads it)'
                ) from None
            return read
    try:
        import cv2  # noqa: F401
    except ImportError:
        import png

        width, height, rows, info = png.Reader(filename=str(path)).asDirect()
        planes = info["planes"]
        return np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(height, width, planes)
    return _cv_colour(path)


def _cv_colour(path: Path) -> np.ndarray | None:
    """A 16-bit colour file read by OpenCV (the ``train`` extra): RGB(A) ``(H, W, C)``, or as OpenCV read it
    when it has no bands (None: unreadable)."""
    import cv2

    read = cv_read(path, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if read is None or read.ndim != 3:
        return read
    return np.ascontiguousarray(read[..., [2, 1, 0, 3][: read.shape[-1]]])  # BGR(A) -> RGB(A)


def cv_write(path: str | Path, arr: np.ndarray, params: Sequence[int] = ()) -> None:
    """``cv2.imwrite`` through Python's file I/O: OpenCV crashes (segfault) on a path holding a file name of
    another encoding, so the image is encoded in memory and written by Python. The format is the suffix's.

    Raises:
        OSError: the file cannot be written; ``ValueError`` when OpenCV cannot encode the array.
    """
    import cv2

    ok, buf = cv2.imencode(Path(path).suffix or ".png", arr, list(params))
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode a {arr.dtype} array of shape {arr.shape}")
    Path(path).write_bytes(buf.tobytes())


def cv_read(path: str | Path, flags: int) -> np.ndarray | None:
    """``cv2.imread`` through Python's file I/O (see :func:`cv_write`); None when OpenCV cannot decode it."""
    import cv2

    # OpenCV logs a damaged file's libtiff / libpng complaints on stderr ("[ERROR:0@0.03] global grfmt_tiff.cpp
    # ..."), before the one line that says what is wrong with it (session 105's sweep): the None says it here.
    # Silenced for the decode only: a program that calls agriseg keeps its own OpenCV log level
    data = np.fromfile(os.fspath(path), np.uint8)
    if not data.size:
        return None
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(data, flags)
    finally:
        cv2.utils.logging.setLogLevel(level)


# 16-bit pixels all at or under this read nearly black (scaled by 65535): a 10- or 12-bit camera's values, said so
LOW_BITS_TOP = 4095
DARK_TOP = 16383  # 16-bit values nearly all under it (a quarter of full scale) read dark: Sentinel-2 L2A's x 10000


_SAID_DARK: set[str] = set()


def _warn_once(message: str, path: Path, *args: object) -> None:
    """``log.warning(message, path, *args)`` once per file (as it is now) and process: a training loader reads
    each photo every epoch, and said each dark one again each time. Pixels of no file are always said."""
    try:
        st = Path(path).stat()
        key = f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        key = None
    if key is None or key not in _SAID_DARK:
        if key is not None:
            _SAID_DARK.add(key)
        log.warning(message, path, *args)


def _warn_dark(arr: np.ndarray, path: Path, kind: str, fix: str) -> None:
    """Warn when ``arr``'s values (read on a 0-65535 scale) nearly all lie under :data:`DARK_TOP`: Sentinel-2 L2A
    reflectance x 10000 read at 1-8 % brightness without a word. "Nearly all" is the 99.5th percentile of about a
    million evenly strided values, which a few bright pixels (a cloud's, a glint's) do not lift as the maximum."""
    flat = arr.reshape(-1)
    p = int(np.percentile(flat[:: max(1, flat.size // 1_000_000)], 99.5))
    if p <= DARK_TOP:
        _warn_once(
            "%s: %s image whose values are nearly all <= %d (Sentinel-2 reflectance x 10000?) reads dark, at most %d "
            "of 255 (scaled by 65535, never stretched): scale it %s first", path, kind, p, round(p * 255 / 65535), fix
        )  # fmt: skip


def scale_to_uint8(arr: np.ndarray, path: str | Path, warn: bool = True) -> np.ndarray:
    """Pixel values as uint8, integers scaled by their bit depth, floats by their range (0-1, 0-255 or 0-65535),
    never stretched by an image's own values (the rule every reader here follows).

    Public for readers of other formats (GeoTIFF and JPEG 2000 through rasterio) so that one pixel value
    always reads the same, whatever else the image holds. ``warn``: say when 16-bit values are all low (read
    nearly black); off for the windows of a mosaic, whose dark parts are no sign of the whole.
    """
    return _to_uint8(arr, Path(path), warn)


def _to_uint8(arr: np.ndarray, path: Path, warn: bool = True) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr if arr.flags.writeable and arr.flags.c_contiguous else np.array(arr)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        # by the bit depth, never by the content: two photos differing in one pixel read the same
        top = float(np.iinfo(np.uint16).max if arr.dtype.itemsize >= 2 else 255)
        top_value = int(arr.max(initial=0)) if warn else 0
        if warn and arr.dtype.kind == "i" and (low := int(arr.min(initial=0))) < 0:  # int16 DEM-like values
            _warn_once("%s: signed %d-bit image with values down to %d, below 0, read as 0 (black): scale it to "
                       "unsigned values first (e.g. gdal_translate -ot Byte -scale)", path, 8 * arr.dtype.itemsize,
                       low)  # fmt: skip
        if arr.dtype.itemsize == 2 and 0 < top_value <= 255:
            _warn_once("%s: 16-bit image whose values are all <= 255 reads as nearly black (scaled by 65535)", path)
        elif arr.dtype.itemsize == 2 and 0 < top_value <= LOW_BITS_TOP:
            said = "(a 10- or 12-bit camera's, or reflectance x 10000?) reads nearly black (scaled by 65535, never "
            said += "stretched)"
            _warn_once(
                "%s: 16-bit image whose values are all <= %d %s: scale it to 16 bits first", path, LOW_BITS_TOP, said
            )
        elif arr.dtype.itemsize == 2 and top_value > LOW_BITS_TOP:
            _warn_dark(arr, path, "16-bit", "to 8-bit colour (e.g. gdal_translate -ot Byte -scale 0 3000 0 255)")
        return (arr.astype(np.float32) * (255.0 / top)).round().clip(0, 255).astype(np.uint8)
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ImageReadError(f"{path}: image has NaN or infinite values")
    # floats by their range, never by the content either (tiles of one mosaic read alike): reflectance
    # 0-1 (a little over 1, or under 0, is clipped), else 0-255 values, else 16-bit values (x 255 / 65535)
    hi = float(arr.max(initial=0.0))
    top = 1.0 if hi <= 2.0 else 255.0 if hi <= 255.0 else 65535.0
    if warn and top == 65535.0 and hi <= LOW_BITS_TOP:  # e.g. Sentinel-2 reflectance x 10000 stored as floats
        said = "(reflectance x 10000?) reads nearly black (scaled by 65535, never stretched)"
        _warn_once("%s: float image whose values are all <= %d %s: scale it to 0-1 first", path, LOW_BITS_TOP, said)
    elif warn and top == 65535.0:
        _warn_dark(arr, path, "float", "to 0-1")
    lo = float(arr.min(initial=0.0))
    if warn and lo < -0.02 * top:  # a centred or standardised image (-0.5..0.5): its lower half read black, unsaid
        _warn_once("%s: float image with values down to %.3g, below 0, read as 0 (black): scale it to 0-1 first",
                   path, lo)  # fmt: skip
    return (arr * (255.0 / top)).round().clip(0, 255).astype(np.uint8)


def output_names(files: Iterable[Path], given: Mapping[Path, str] | None = None) -> dict[Path, str]:
    """A distinct output name (stem) per input file, stable for a given list of inputs.

    ``given``: names that files had in an earlier run into the same folder (resolved path -> name, see
    :func:`agriseg.manifest.recorded_names`): such a file keeps its name, and the other files' names grow as
    below until they differ from it too, so adding ``day2/IMG_1.jpg`` to a run of ``day1/`` neither renames
    ``day1/IMG_1.jpg``'s outputs (leaving the old ones beside the new, to be counted twice) nor redoes it.

    A file keeps its stem when no other input has it. Inputs sharing a name get their suffix and then
    their parent folders added (``a.jpg``, ``a.png`` -> ``a_jpg``, ``a_png``; ``x/scene.tif``,
    ``y/scene.tif`` -> ``x_scene_tif``, ``y_scene_tif``) until every name differs; a number is added only
    if that still collides (``a.jpg``, ``a.JPG`` in one folder -> ``a_jpg``, ``a_jpg_2``: folders cannot
    tell them apart). Names differing only in case, or in the Unicode form of one letter ("é" as one character
    or as "e" and an accent, as macOS writes it), collide: on macOS and Windows disks they are one file.
    """
    files = list(dict.fromkeys(Path(f) for f in files))
    kept = _kept_names(files, given or {})
    if kept:
        from collections import Counter

        rest = [f for f in files if f not in kept]
        fresh = {f: n for f, n in output_names(files).items() if f not in kept}  # as a first run names them
        used = {name_key(n) for n in kept.values()}
        ahead = Counter(name_key(n) for n in fresh.values())  # the names of the new files still to place

        def clash(name: str) -> bool:
            return name_key(name) in used or ahead[name_key(name)] > 0

        for f in rest:
            ahead[name_key(fresh[f])] -= 1
            name, depth = fresh[f], 0
            while clash(name) and depth < 8:  # grown as a clash among new files is: suffix, then folders
                depth += 1
                name = _name_at(f, depth)
            base, number = name, 1
            while clash(name):
                number += 1
                name = f"{base}_{number}"
            fresh[f] = name
            used.add(name_key(name))
        return {f: kept.get(f) or fresh[f] for f in files}
    level = dict.fromkeys(files, 0)
    names = {f: _name_at(f, 0) for f in files}
    for _ in range(8):
        groups: dict[str, list[Path]] = {}
        for f in files:
            groups.setdefault(name_key(names[f]), []).append(f)
        clashing = [g for g in groups.values() if len(g) > 1]
        grow = [f for g in clashing for f in g if level[f] == 0 or len({x.resolve().parent for x in g}) > 1]
        if not grow:  # no clash, or only files of one folder, which their folders cannot tell apart
            break
        for f in grow:
            level[f] += 1
            names[f] = _name_at(f, level[f])
    taken: set[str] = set()
    for f in files:  # last resort: number the remaining duplicates in input order
        base, number, name = names[f], 1, names[f]
        while name_key(name) in taken:
            number += 1
            name = f"{base}_{number}"
        names[f] = name
        taken.add(name_key(name))
    return names


def _kept_names(files: list[Path], given: Mapping[Path, str]) -> dict[Path, str]:
    """The files of ``files`` that keep a ``given`` name: those whose name no other file is given."""
    if not given:
        return {}
    named = {f: given[f.resolve()] for f in files if f.resolve() in given}
    count: dict[str, int] = {}
    for name in named.values():
        count[name_key(name)] = count.get(name_key(name), 0) + 1
    return {f: n for f, n in named.items() if count[name_key(n)] == 1}


def name_key(name: str) -> str:
    """What a file name is on the disks of macOS and Windows, which ignore case and store "é" one way:
    two names with one key are one file there."""
    return unicodedata.normalize("NFC", name).casefold()


def stem_key(f: str | Path) -> str:
    """A file's stem as photos and labels are matched by: "é" written one way (macOS writes it as "e" and an
    accent), so a label saved on a Mac finds its photo."""
    return unicodedata.normalize("NFC", Path(f).stem)


def _name_at(f: Path, level: int) -> str:
    """``f``'s name at a level of detail: stem; stem_suffix; then parent folders in front, one per level."""
    if level == 0:
        return f.stem
    name = f"{f.stem}_{f.suffix.lstrip('.').lower()}" if f.suffix else f.stem
    parents = [re.sub(r"[^\w.-]", "_", p) for p in f.resolve().parent.parts if p not in ("/", "")]
    k = min(level - 1, len(parents))
    return "_".join([*parents[len(parents) - k :], name])


def drop_outputs(files: list[Path], outdir: Path, suffixes: Iterable[str]) -> tuple[list[Path], list[Path]]:
    """Split inputs into (inputs, earlier outputs): files inside ``outdir`` whose name ends with one of
    ``suffixes`` (e.g. ``_mask.png``) are what a previous run wrote there, never photos to process."""
    suffixes = tuple(suffixes)
    out_res = outdir.resolve()
    keep, dropped = [], []
    for f in files:
        if f.resolve().parent == out_res and f.name.endswith(suffixes):
            dropped.append(f)
        else:
            keep.append(f)
    return keep, dropped


class NoInputError(ValueError):
    """The paths given hold nothing to work on (an empty folder): a usage problem, exit status 2 on the CLI."""


PathsLike: TypeAlias = "str | os.PathLike[str] | Sequence[str | os.PathLike[str]]"
"""One file or folder, or a sequence of them: what every ``paths`` argument of the batch commands takes."""


def as_paths(paths: PathsLike) -> list[Path]:
    """One path or a sequence of them as a list of paths (a lone ``str`` is one path, never its characters)."""
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    if not isinstance(paths, Iterable) or isinstance(paths, bytes | Mapping):  # None: "not iterable" said nothing
        raise TypeError(f"paths: a file or folder, or a list of them, not {type(paths).__name__}")
    return [Path(p) for p in paths]


def list_images_once(paths: PathsLike) -> list[Path]:
    """:func:`list_images`, refusing a file that two arguments name: it would be counted or measured twice.

    Raises:
        NoInputError: no paths at all.
        OptionError: a file or folder given twice (by two names, or as a file and inside a folder given too),
            a usage error naming it; and what :func:`list_images` raises.
    """
    from agriseg.config import OptionError

    given = as_paths(paths)  # once: a generator (Path.glob) is read once
    if not given:  # before any output folder is made for nothing
        raise NoInputError("no photos given: name photo files or folders")
    seen: dict[Path, tuple[Path, Path, int]] = {}  # resolved file -> (file as listed, its argument, argument no.)
    files: list[Path] = []
    for i, arg in enumerate(given):
        for f in list_images([arg]):
            key = f.resolve()
            if key not in seen:
                seen[key] = (f, arg, i)
                files.append(f)
                continue
            first, where, j = seen[key]
            if j == i:  # two names in one folder (latest.jpg, a link to a.jpg): the user's own layout, kept
                files.append(f)
                continue
            if arg.resolve() == where.resolve():  # the same file or folder twice
                raise OptionError(f"{arg}: given twice" + (f" (also as {where})" if str(where) != str(arg) else ""))
            folder = where if where.is_dir() else arg
            also = f"also as {first}" if str(first) != str(f) else f"as a file and inside {folder}"
            raise OptionError(f"{f}: given twice ({also})")
    return files


def _broken_link(path: Path) -> bool:
    """True for a symbolic link whose target is missing."""
    return path.is_symlink() and not path.exists() and not _link_loop(path)


def _link_loop(path: Path) -> bool:
    """True for a symbolic link that leads back to itself (no file at its end)."""
    try:
        path.resolve(strict=True)
    except (RuntimeError, OSError) as err:  # Python < 3.13 raises RuntimeError for a loop, later ELOOP
        return isinstance(err, RuntimeError) or getattr(err, "errno", None) == errno.ELOOP
    return False


def _not_photo(path: Path) -> str:
    """Why a path given as a file is none (empty when it does not exist at all)."""
    if _link_loop(path):
        return "a link in a loop (it leads back to itself), no file"
    if path.exists():
        return "not a regular file (a pipe, socket or device)"
    return ""


_SAID_SUBFOLDERS: set[Path] = set()  # folders whose unread subfolders were said (a command lists a folder twice)


def _in_subfolders(
    folder: Path, suffixes: Sequence[str] = IMAGE_SUFFIXES, kind: str = "images", theirs: bool = False
) -> str:
    """``; its subfolder images/ (300) has images: name that folder``: where the images of a folder given one
    level too high are (folders are read without their subfolders). ``theirs``: only the user's subfolders
    (not one agriseg writes, holding its manifest), as ``its subfolders day1/ (4), day2/ (4) have images``."""
    from agriseg.manifest import MANIFEST

    try:
        subs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
        if theirs:  # not agriseg's: one holding its manifest, nor one a sibling's manifest records files in
            # (crop pseudolabel's overlays/ and records/, recorded in masks/'s as ../overlays/<name>.jpg)
            manifests = [d / MANIFEST for d in subs if (d / MANIFEST).exists()]
            ours = {m.parent.name for m in manifests}
            for m in manifests:
                text = m.read_text(encoding="utf-8", errors="replace")  # "../overlays/a.jpg" ("..\\" on Windows)
                ours.update(re.findall(r'"\.\.(?:/|\\\\)([^/\\"]+)(?:/|\\\\)', text))
            subs = [d for d in subs if d.name not in ours]
        counts = [(d.name, sum(f.suffix.lower() in suffixes for f in d.iterdir())) for d in subs[:20]]
    except OSError:
        return ""
    have = [f"{name}/ ({n})" for name, n in counts if n]
    if not have:
        return ""
    named = ", ".join(have[:3])  # past three, how many more: s4/ and s5/ went unsaid
    if len(have) > 3:
        named += f" and {len(have) - 3}{'+' if len(subs) > len(counts) else ''} more"  # + : past the 20 counted
    if theirs:
        many = len(have) > 1
        return f"its subfolder{'s' * many} {named} {'have' if many else 'has'} {kind}"
    if len(have) == 1:
        return f"; its subfolder {have[0]} has {kind}: name that folder"
    return f"; its subfolders {named} have {kind}: name one of them"


def list_images(paths: PathsLike, suffixes: Sequence[str] = IMAGE_SUFFIXES, kind: str = "images") -> list[Path]:
    """Expand files and folders (non-recursive) into a sorted list of image files.

    Args:
        paths: one file or folder, or a sequence of them.
        suffixes: the (lower-case) suffixes of the files a folder's listing keeps; a file named on its own is
            kept whatever its suffix.
        kind: what the files are, in messages ("images", "scenes").

    Raises:
        FileNotFoundError: for a path that does not exist.
        NoInputError: for a folder without images, or when nothing is found.
    """
    out: list[Path] = []
    for p in as_paths(paths):
        if p.is_dir():
            # a link to a missing file stays in: its item fails with a message naming it, the others go on;
            # macOS's "._name" files (resource forks on other disks), agriseg's own temporaries (a killed run's,
            # when it wrote into the photos' folder) and links in a loop are no photos
            from agriseg.data.files import is_temporary

            found, loops, unread = [], [], []
            try:
                entries = list(p.iterdir())
            except PermissionError:
                raise NoInputError(f"{p}: cannot read the folder: permission denied") from None
            for f in entries:
                if f.suffix.lower() not in suffixes or f.name.startswith("._") or is_temporary(f.name):
                    if suffixes == IMAGE_SUFFIXES and f.suffix.lower() in UNREAD_PHOTO_SUFFIXES:
                        unread.append(f.name)
                    continue
                if f.is_file() or _broken_link(f):
                    found.append(f)
                elif f.is_symlink() and _link_loop(f):
                    loops.append(f.name)
            found.sort()
            if loops:
                log.warning("%s: left out %s, a link in a loop (no file)", p, ", ".join(sorted(loops)[:3]))
            found_stems = {f.stem.casefold() for f in found}  # a camera's RAW + JPEG pair: its JPEG is read
            unread = [n for n in unread if Path(n).stem.casefold() not in found_stems]
            if unread:
                from agriseg.batch import counted

                kinds = ", ".join(sorted({Path(n).suffix.lower() for n in unread}))
                log.warning(
                    "%s: left out %s (%s) that agriseg cannot read: convert them to JPEG, PNG or TIFF first",
                    p, counted(len(unread), "file"), kinds,
                )  # fmt: skip
            if not found:
                where = _in_subfolders(p, suffixes, kind)
                raise NoInputError(f"{p}: folder has no {kind} ({', '.join(suffixes)}){where}")
            if p.resolve() not in _SAID_SUBFOLDERS and (subs := _in_subfolders(p, suffixes, kind, theirs=True)):
                _SAID_SUBFOLDERS.add(p.resolve())  # day1/, day2/ beside a photo: said once a run
                log.warning("%s: %s too, not read (folders are read without their subfolders; name them)", p, subs)
            out += found
        elif p.is_file():
            out.append(p)
        elif why := _not_photo(p):
            raise NoInputError(f"{p}: {why}")
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    if not out:
        raise NoInputError(f"no input {kind} given")
    return out
