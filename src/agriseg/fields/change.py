"""PRUE's field-change map between two years' predictions (section 5, "Field boundary change").

The field score of each year is the logit of the field-class probability, ``log(p / (1 - p))`` (the
softmax logits themselves are shift-invariant, so this is the logit that the stored probabilities define).
Change magnitude = ``|score_A - score_B|``, min-max normalised over the pixels valid in both years, and
thresholded at 0.5. Two streaming passes over blocks: the min/max, then the normalised map.
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from agriseg.config import OptionError
from agriseg.data.files import temporary_sibling
from agriseg.raster.io import describe_bands, latest_image_time, scene_tags, tiled_profile, to_cog

FIELD_BAND = 3  # band 1 = class, 2 = background, 3 = field, 4 = boundary
# a change of the field score (logit) that every pixel shares is real when at least this large (p 0.5 <-> 0.88);
# min-max normalisation maps a uniform change to 0, so it would be reported as none
UNIFORM_CHANGE = 2.0

log = logging.getLogger("agriseg")


def field_logit(prob_u8: np.ndarray, eps: float = 0.5 / 255) -> np.ndarray:
    """uint8 probability (x255) -> logit, clipped away from 0 and 1."""
    p = np.clip(prob_u8.astype(np.float32) / 255.0, eps, 1 - eps)
    return np.log(p / (1 - p))


def change_map(
    a: str | Path,
    b: str | Path,
    output: str | Path,
    threshold: float = 0.5,
    block: int = 1024,
    field_band: int = FIELD_BAND,
) -> dict[str, float]:
    """Write a 2-band COG: normalised change magnitude x254, then the change mask (0 / 1 changed).

    NoData is declared as 255 (both bands are 255 where either year has no data), the bands are marked
    gray/undefined (never RGB/alpha) and described; the later year's imagery tags are copied, so change
    polygons are dated by the last image used.

    Args:
        a: probability COG of the earlier year (from ``agriseg fields predict``).
        b: probability COG of the later year, on the same grid.
        output: change COG path.
        threshold: on the min-max normalised magnitude (PRUE: 0.5).
        block: rows/cols per streamed block.
        field_band: band holding the field-class probability.

    Returns:
        ``{"min": .., "max": .., "changed_fraction": ..}``: ``min`` and ``max`` are the magnitudes mapped to 0
        and 254 (the scale of band 1, also in its tags), the smallest and largest change seen, except where
        every pixel changed alike by ``d``: 0 and ``d`` when ``d`` is at least ``UNIFORM_CHANGE`` (all
        changed), ``d`` and ``d + 1`` otherwise (none changed).

    Raises:
        OptionError: rasters that cannot be read, on different grids or CRSs, without a CRS or that are not
            probability COGs (usage errors, before any work).
        ValueError: no pixel valid in both, or an output that is one of the inputs.
    """
    import rasterio
    from rasterio.windows import Window

    from agriseg.data.files import check_not_input
    from agriseg.raster.image import open_plain_or_geo

    a, b, output = Path(a), Path(b), Path(output)
    for p in (a, b):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: probability raster not found")
    check_not_input(output, [a, b])

    def open_input(p: Path):  # noqa: ANN202 - a rasterio dataset
        try:
            return open_plain_or_geo(rasterio, p)
        except rasterio.errors.RasterioIOError as err:
            from agriseg.raster.io import unreadable_raster

            raise OptionError(unreadable_raster(p, err)) from err

    with open_input(a) as da, open_input(b) as db:
        for p, ds in ((a, da), (b, db)):
            if ds.count < field_band or ds.dtypes[0] != "uint8":
                raise OptionError(
                    f"{p}: {ds.count}-band {ds.dtypes[0]} raster; change needs the probability COG of "
                    "`agriseg fields predict` (band 1 classes, then one uint8 probability band per class)"
                )
            if ds.crs is None:
                raise OptionError(f"{p}: raster has no CRS")
        if differs := grid_difference(da, db):
            raise OptionError(f"{b}: not on the same grid as {a} ({differs}); predict both years on one grid")
        _check_order(a, da.tags(), b, db.tags())
        wins = [
            Window(x, y, min(block, da.width - x), min(block, da.height - y))
            for y in range(0, da.height, block)
            for x in range(0, da.width, block)
        ]

        def read(ds: Any, path: str | Path, band: int, w: Window) -> tuple[np.ndarray, np.ndarray | None]:
            """One band of a window and, with band 1, where it holds data; a damaged file named (it was said as
            the output's "Read failed", session 105's sweep)."""
            try:
                return ds.read(band, window=w), _has_data(ds, w) if band == 1 else None
            except rasterio.errors.RasterioIOError as err:
                from agriseg.raster.io import unreadable_raster

                raise OptionError(unreadable_raster(path, err)) from None

        def diff(w: Window) -> tuple[np.ndarray, np.ndarray]:
            (ca, ha), (cb, hb) = read(da, a, 1, w), read(db, b, 1, w)
            # 255: no prediction; the inputs' own no-data too (a GIS clip's 0s were read as a change to
            # background, and entered the min-max of every other pixel)
            valid = (ca != 255) & (cb != 255) & ha & hb  # (band 1: its mask is read)
            d = np.abs(field_logit(read(da, a, field_band, w)[0]) - field_logit(read(db, b, field_band, w)[0]))
            return d, valid

        lo, hi = np.inf, -np.inf
        for w in wins:
            d, valid = diff(w)
            if valid.any():
                lo, hi = min(lo, float(d[valid].min())), max(hi, float(d[valid].max()))
        if not np.isfinite(lo):
            raise ValueError(f"{a} and {b}: no pixel has data in both rasters (all NoData); nothing to compare")
        if hi - lo < 1e-6:  # every pixel changed alike: min-max has nothing to rank; decide on the size itself
            changed_all = hi >= UNIFORM_CHANGE
            log.warning(
                "%s and %s: every pixel's field score changed by the same amount (%.2f); reported as %s",
                a,
                b,
                hi,
                f"changed everywhere (at least {UNIFORM_CHANGE:g})" if changed_all else "no change",
            )
            lo, span = (0.0, max(hi, 1e-6)) if changed_all else (hi, 1.0)
        else:
            span = hi - lo
        profile = tiled_profile("uint8", 2, da.width, da.height, da.crs, da.transform, compress="none", nodata=255)
        later_tags = scene_tags(db.tags())
        changed = total = 0
        output.parent.mkdir(parents=True, exist_ok=True)
        staging = temporary_sibling(output.with_suffix(".tif"), "staging")
        try:
            with rasterio.open(staging, "w", **profile) as dst:
                describe_bands(dst, ("change_magnitude", "change_mask"))
                dst.scales = (1.0 / 254.0, 1.0)  # GIS tools show the magnitude 0-1 from the stored 0-254
                dst.update_tags(**later_tags)
                dst.update_tags(threshold=str(threshold), min=str(lo), max=str(lo + span), method="prue-logit-diff")
                for w in wins:
                    d, valid = diff(w)
                    norm = (d - lo) / span  # (h, w) in [0, 1]
                    mask = (norm >= threshold).astype(np.uint8)
                    mag = np.clip(np.rint(norm * 254), 0, 254).astype(np.uint8)  # 255 = nodata
                    mask[~valid], mag[~valid] = 255, 255
                    changed += int((mask == 1).sum())
                    total += int(valid.sum())
                    dst.write(np.stack([mag, mask]), window=w)
            to_cog(staging, output)
        finally:
            staging.unlink(missing_ok=True)
    return {"min": lo, "max": lo + span, "changed_fraction": changed / max(1, total)}


def _has_data(ds: Any, w: Any) -> np.ndarray:  # noqa: ANN401 - a rasterio dataset and window
    """Where a window of a probability raster holds data by its own mask: GDAL's internal mask, or a declared
    nodata other than 255 where every band holds it (a clip fills all bands so; a background pixel's class is 0
    too, but its background probability is not). A band marked alpha is no mask here: every band of the raster
    is a class's probability (GDAL marks a plain 4-band byte TIFF's band 4 so)."""
    from rasterio.enums import MaskFlags

    flags = ds.mask_flag_enums[0]
    if MaskFlags.per_dataset in flags and MaskFlags.alpha not in flags:
        return ds.read_masks(1, window=w) > 0
    if ds.nodata is not None and ds.nodata != 255:
        return ~(ds.read(window=w) == ds.nodata).all(0)
    return np.ones((int(w.height), int(w.width)), bool)


def grid_difference(da: Any, db: Any) -> str:  # noqa: ANN401 - rasterio datasets
    """What differs between the grids of two rasters ("" when none): their CRS, size, orientation, pixel size or
    origin. Grids whose pixel corners lie within 1 % of a pixel of each other everywhere are one (another tool's
    float rounding of one grid)."""
    if da.crs != db.crs:
        return f"CRS {da.crs} and {db.crs}"
    if (da.width, da.height) != (db.width, db.height):
        return f"{da.width}x{da.height} and {db.width}x{db.height} pixels"
    ta, tb = da.transform, db.transform
    pixel = min(abs(ta.a), abs(ta.e)) or 1.0
    near = 0.01 * pixel  # at the far corner too: a pixel size a little off drifts by its difference x the size
    if (ta.a > 0) != (tb.a > 0) or (ta.e > 0) != (tb.e > 0):  # the same pixel size, one grid flipped
        a, b = (f"{'north' if t.e < 0 else 'south'}-up{'' if t.a > 0 else ' mirrored'}" for t in (ta, tb))
        return f"a {a} and a {b} grid"
    # the sides' lengths: a rotated grid's pixel of 10 m was said as 9.659 (its a and e alone)
    (wa, ha), (wb, hb) = ((math.hypot(t.a, t.d), math.hypot(t.b, t.e)) for t in (ta, tb))
    if abs(wa - wb) * da.width > near or abs(ha - hb) * da.height > near:
        return f"pixels of {wa:.4g} x {ha:.4g} and {wb:.4g} x {hb:.4g}"
    if max(abs(ta.a - tb.a), abs(ta.d - tb.d)) * da.width > near or (
        max(abs(ta.b - tb.b), abs(ta.e - tb.e)) * da.height > near
    ):  # sides of one length, turned apart
        return "grids rotated or sheared apart"
    if abs(ta.c - tb.c) > near or abs(ta.f - tb.f) > near:
        return f"origins ({ta.c:.2f}, {ta.f:.2f}) and ({tb.c:.2f}, {tb.f:.2f})"
    return ""


def check_polygons_output(polygons: str | Path, inputs: list[str | Path], overwrite: bool) -> Path:
    """Refuse a change-polygon output before anything is written: an unsupported extension, one of ``inputs``
    (the rasters and the change map), or an existing file without ``overwrite``."""
    from agriseg.batch import check_output
    from agriseg.vector.fiboa import output_format

    output_format(polygons)
    return check_output(polygons, overwrite, inputs=inputs)


def _check_order(a: Path, tags_a: dict[str, str], b: Path, tags_b: dict[str, str]) -> None:
    """Before any work: a date tag of either input that is no date is refused naming that input (the later one's
    was said of the change map's temporary file, after the map was made), and inputs given in the wrong order
    are warned of (their map says the change backwards, and its polygons took the earlier year's date)."""
    from agriseg.config import OptionError
    from agriseg.data.io import log
    from agriseg.raster.io import latest_image_time

    try:
        ta, tb = latest_image_time(tags_a, a), latest_image_time(tags_b, b)
    except ValueError as err:
        raise OptionError(str(err)) from None
    if ta is not None and tb is not None and ta > tb:
        log.warning("%s (images up to %s) comes after %s (up to %s): give the earlier year first; the map says "
                    "what changed from EARLIER to LATER", a, ta.date(), b, tb.date())  # fmt: skip


def polygonize_change(
    change_tif: str | Path,
    output: str | Path,
    min_area_m2: float = 500.0,
    name: str | None = None,
    overwrite: bool = False,
) -> Any:
    """Polygons of the changed regions (band 2 of a change COG written by :func:`change_map`); ``name``: the
    stem their ids start with (default: the change map's); ``overwrite``: replace an existing ``output``
    (refused otherwise).

    The change mask is copied to a single-band staging raster and polygonised as connected components
    (the same polygoniser as fields: sub-pixel outlines simplified by one pixel, regions under
    ``min_area_m2`` dropped), written by extension like field polygons.

    Returns:
        The GeoDataFrame written.
    """
    import rasterio

    from agriseg.vector.api import polygonize
    from agriseg.vector.config import PolygonizeConfig

    change_tif = Path(change_tif)
    cfg = PolygonizeConfig(separation="components", min_area_m2=min_area_m2)
    name = name or change_tif.stem
    work = temporary_sibling(change_tif, "mask")  # a folder, so the progress bar names the change map's mask
    work.mkdir()
    staging = work / f"{name}_mask.tif"
    try:
        with rasterio.open(change_tif) as src:
            when = latest_image_time(src.tags(), change_tif)
            prof = dict(src.profile, count=1, driver="GTiff")
            prof.pop("blockxsize", None), prof.pop("blockysize", None)
            with rasterio.open(staging, "w", **{**prof, "tiled": True}) as dst:
                for _, win in src.block_windows(1):
                    dst.write(src.read(2, window=win), 1, window=win)
        return polygonize(staging, Path(output), cfg, collection="agriseg-change", id_prefix=name, determined=when,
                          source=str(output), overwrite=overwrite)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def change_outputs(
    a: str | Path, b: str | Path, output: str | Path, polygons: str | Path | None, threshold: float, min_area_m2: float
) -> tuple[dict[str, float], Any]:
    """``agriseg fields change``: the change COG (:func:`change_map`) and, with ``polygons``, its polygons
    (:func:`polygonize_change`, written atomically by the vector writer), the map named last: a run stopped while
    polygonising left the map alone, which the same command then refused as an existing file.

    Returns:
        ``(the change map's stats, the polygons' GeoDataFrame or None)``.
    """
    from agriseg.data.files import atomic_write

    output = Path(output)
    with atomic_write(output) as tmp:
        stats = change_map(a, b, tmp, threshold=threshold)
        # the command refused an existing --polygons before any work (check_polygons_output), or was told to
        df = polygonize_change(tmp, polygons, min_area_m2, output.stem, overwrite=True) if polygons else None
    return stats, df
