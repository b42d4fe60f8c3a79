"""Class and instance masks of text-mask segmentation: reading labels, writing masks with a georeference.

Images are read by the shared :func:`agriseg.raster.image.read_image` and polygons written by the shared
:func:`agriseg.vector.geojson.write_geojson`. Masks of GeoTIFF inputs go through rasterio, so the CRS and
affine transform survive; without rasterio, TIFFs are handled by PIL with no georeference.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agriseg.data.files import atomic_write
from agriseg.raster.image import GEO_SUFFIXES, GeoRef, is_geo_image, rasterio_or_none, read_georef

NODATA = 255  # the ignore value of `text dataset` labels; never a class id


LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")  # formats whose compression changes values along edges


def warn_lossy_masks(files: Sequence[Path], what: str = "masks") -> None:
    """Say once when class masks are saved in a lossy format (JPEG): their class ids change along edges (ids
    0-3 saved at quality 50 read back as 0 and 2), which no check of the ids can catch."""
    lossy = [f for f in files if f.suffix.lower() in LOSSY_SUFFIXES]
    if lossy:
        import logging

        logging.getLogger("agriseg").warning(
            "%d %s saved as JPEG / WebP (the first: %s): lossy compression changes class ids along edges; save "
            "masks as PNG or TIFF",
            len(lossy), what if len(lossy) > 1 else what.removesuffix("s"), lossy[0],
        )  # fmt: skip


def files_by_stem(files: Sequence[Path], what: str) -> dict[str, Path]:
    """Files by stem; two files of one stem (``a.png`` and ``a.tif``, or ``x/a.png`` and ``y/a.png``) are
    refused, because matching by stem could not tell which one is meant: a usage error, as in the crop
    commands (:func:`agriseg.crop.dataset.match_pairs`).

    Raises:
        OptionError: naming both files.
    """
    from agriseg.config import OptionError
    from agriseg.data.io import stem_key

    out: dict[str, Path] = {}
    for f in files:
        key = stem_key(f)  # a label saved on a Mac ("e" and an accent) matches its image ("é")
        if key in out and out[key] != f:
            raise OptionError(f"{f}: another {what} has the stem {f.stem!r} ({out[key]}); files are matched by stem")
        out[key] = f
    return out


def check_same_georef(path: str | Path, other: str | Path, other_geo: GeoRef | None, role: str) -> None:
    """Refuse a raster whose georeference differs from the one it is paired with (a label of another
    area or resolution would be used silently). Rasters without a georeference are not compared.

    Args:
        path: the raster checked (a label, a truth mask).
        other: the raster it belongs to (its image, its prediction).
        other_geo: ``other``'s georeference.
        role: what ``other`` is, for the message ("its image").

    Raises:
        ValueError: ``<path>: georeference differs from <role> <name> (...)``.
    """
    geo = read_georef(path)
    if geo is None or other_geo is None:
        return
    same = np.allclose(geo.transform, other_geo.transform, rtol=0, atol=1e-6)
    if same and geo.crs != other_geo.crs:
        from rasterio.crs import CRS  # one CRS can be spelled two ways (EPSG code, WKT)

        same = geo.crs is not None and other_geo.crs is not None
        same = same and CRS.from_user_input(geo.crs) == CRS.from_user_input(other_geo.crs)
    if not same:
        raise ValueError(
            f"{path}: georeference differs from {role} {Path(other).name} "
            f"({geo.crs} {geo.transform[:3]} vs {other_geo.crs} {other_geo.transform[:3]})"
        )


def read_mask(path: str | Path, classes: int | None = None, nodata: int = NODATA) -> np.ndarray:
    """Read a single-band mask of class ids: (H, W) int64.

    With ``classes``, the pixels of the nodata value a raster's header declares (-1, 15, NaN...) read as
    ``nodata`` when that value is not a class id (0..classes-1); a declared value that is a class id (the 0 of
    many label rasters written with GDAL's defaults) stays that class.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: if it is not a single-band integer raster.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: mask not found")
    rio = rasterio_or_none() if is_geo_image(p) else None
    try:
        if rio is not None:
            with rio.open(p) as src:
                arr = src.read()  # (C, H, W): an image given as a mask must not pass as its band 1
                declared = src.nodata
                if classes is not None and declared is not None and not 0 <= declared < classes:
                    arr = np.where(src.read_masks() > 0, arr.astype(np.float64), nodata)  # (C, H, W), unwrapped
            arr = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, -1)
        else:
            from agriseg.data.io import open_image

            with open_image(p, "mask") as im:  # its words: "empty file", "not a readable mask", "truncated mask"
                arr = np.asarray(im)
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{p}: cannot read mask ({err})") from err
    if arr.ndim != 2:
        raise ValueError(f"{p}: mask must be one band of class ids, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():  # NaN is no data, declared or not (as
        if classes is None:  # in images); where no nodata id applies, it is said as what it is
            raise ValueError(f"{p}: mask holds NaN where class ids belong")
        arr = np.where(np.isnan(arr), nodata, arr)  # (H, W)
    if not np.issubdtype(arr.dtype, np.integer) and not np.all(np.mod(arr, 1) == 0):
        raise ValueError(f"{p}: mask must hold integer class ids")
    return arr.astype(np.int64)


def id_dtype(max_id: int, suffix: str) -> np.dtype:
    """The smallest unsigned dtype that holds ids up to ``max_id`` in a file of this suffix.

    GeoTIFF holds up to uint32; PNG up to 16 bits (65,535 ids).

    Raises:
        ValueError: if the ids do not fit the format.
    """
    for dt in (np.uint8, np.uint16, np.uint32):
        if max_id <= np.iinfo(dt).max:
            if dt is np.uint32 and suffix not in GEO_SUFFIXES:
                raise ValueError(f"{max_id} ids do not fit a PNG (at most 65,535); write a .tif")
            return np.dtype(dt)
    raise ValueError(f"{max_id} ids do not fit a 32-bit raster")


# Class colours for palette PNGs and GeoTIFF colour maps: background black, then well-separated colours
# (a GIS shows class ids 0-3 as near-black grey otherwise).
CLASS_COLOURS = [
    (0, 0, 0), (230, 159, 0), (0, 158, 115), (86, 180, 233), (240, 228, 66), (213, 94, 0),
    (204, 121, 167), (0, 114, 178), (153, 153, 153), (128, 64, 0), (255, 255, 255),
]  # fmt: skip


def write_mask(
    mask: np.ndarray,
    path: str | Path,
    geo: GeoRef | None = None,
    *,
    ids: bool = False,
    class_names: list[str] | None = None,
) -> Path:
    """Write (H, W) class ids atomically: GeoTIFF (with georeference, needs rasterio) for .tif, else PNG.

    Args:
        mask: (H, W) non-negative integer ids.
        path: output file; its suffix picks the format.
        geo: georeference for GeoTIFFs.
        ids: instance ids rather than class ids: written as uint32 in a GeoTIFF and in the smallest
            dtype that holds them in a PNG (8 or 16 bit), never wrapped. Class ids are written as uint8.
        class_names: names of the class ids: the PNG gets a palette, the GeoTIFF a colour map, nodata 255
            and the names as band description and tags, so a GIS shows the classes.

    Raises:
        ValueError: if the ids do not fit the format (the message names the file).
    """
    p = Path(path)
    a = np.asarray(mask)
    suffix = p.suffix.lower()
    try:
        if ids:
            dt = np.dtype(np.uint32) if suffix in GEO_SUFFIXES else id_dtype(int(a.max(initial=0)), suffix)
        else:
            dt = id_dtype(int(a.max(initial=0)), ".png")
            if dt != np.uint8:
                raise ValueError(f"class ids up to {int(a.max())} do not fit 8 bits")
    except ValueError as err:
        raise ValueError(f"{p}: {err}") from err
    m = a.astype(dt)
    rio = rasterio_or_none() if suffix in GEO_SUFFIXES else None
    with atomic_write(p) as tmp:
        _write_mask_file(m, tmp, p.suffix.lower(), rio, geo, None if ids else class_names, ids=ids)
    return p


def _colour(i: int) -> tuple[int, int, int]:
    return CLASS_COLOURS[i % len(CLASS_COLOURS)]


def _write_mask_file(
    m: np.ndarray,
    tmp: Path,
    suffix: str,
    rio: Any,
    geo: GeoRef | None,
    names: list[str] | None = None,
    ids: bool = False,
) -> None:
    if rio is not None:
        from rasterio.transform import Affine

        profile: dict[str, Any] = {
            "driver": "GTiff",
            "height": m.shape[0],
            "width": m.shape[1],
            "count": 1,
            "dtype": m.dtype.name,
            "compress": "deflate",
        }
        if geo is not None:
            profile["transform"] = Affine(*geo.transform)
            if geo.crs:
                profile["crs"] = geo.crs
        if names:
            profile["nodata"] = NODATA
        elif ids:
            profile["nodata"] = 0  # no object, as the fields instance rasters declare it
        with warnings.catch_warnings():  # a tile without a geotransform (a plain TIFF) is written as one, unsaid
            warnings.simplefilter("ignore", rio.errors.NotGeoreferencedWarning)
            dst = rio.open(tmp, "w", **profile)
        with dst:
            dst.write(m, 1)
            if names:
                dst.write_colormap(1, {i: (*_colour(i), 255) for i in range(len(names))})
                dst.set_band_description(1, "class: " + ", ".join(f"{i} {n}" for i, n in enumerate(names)))
                dst.update_tags(1, **{f"CLASS_{i}": n for i, n in enumerate(names)})
            elif ids:
                dst.set_band_description(1, "instance id (0 = none; the id of its feature in the GeoJSON)")
    else:
        from PIL import Image

        im = Image.fromarray(m)
        extra: dict[str, Any] = {}
        if names and m.dtype == np.uint8 and suffix not in GEO_SUFFIXES:
            im = im.convert("P")  # values are kept: the palette maps id -> colour
            # nodata (255) transparent, as the GeoTIFF's: in the colour of a class it read as that class
            im.putpalette([c for i in range(256) for c in (_colour(i) if i != NODATA else (0, 0, 0))])
            extra["transparency"] = bytes(255 if i != NODATA else 0 for i in range(256))
        im.save(tmp, format="PNG" if suffix not in GEO_SUFFIXES else "TIFF", **extra)
