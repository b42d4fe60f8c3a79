"""``polygonize``: raster -> cleaned, filtered, metric field polygons -> fiboa GeoParquet / GeoJSON / GPKG / FGB."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agriseg.config import as_config
from agriseg.data.files import file_path
from agriseg.raster.io import import_rasterio, latest_image_time
from agriseg.vector.config import PolygonizeConfig
from agriseg.vector.fiboa import fields_frame, output_format, write_fields
from agriseg.vector.geometry import clean_fields, pixel_to_crs
from agriseg.vector.polygonize import polygonize_table


def filter_fields(
    raster: Path,
    geoms: np.ndarray,
    crs: Any,
    area: np.ndarray,
    conf: np.ndarray,
    cfg: PolygonizeConfig,
    dropped: dict[str, int] | None = None,
) -> np.ndarray:
    """Keep mask of the maximum-area, minimum-confidence and land-cover filters (all off by default).

    Args:
        dropped: when given, filled with how many polygons each filter removed, keyed by its flag and value
            (``"--max-area 200000 m2"``; a polygon is counted by the first filter that removes it).

    Raises:
        ValueError: ``min_confidence`` on a raster without probabilities (the message names it).
    """
    keep = np.ones(len(geoms), bool)
    dropped = {} if dropped is None else dropped

    def apply(flag: str, ok: np.ndarray) -> None:
        dropped[flag] = int((keep & ~ok).sum())
        keep[:] &= ok

    if cfg.max_area_m2 > 0:
        apply(f"--max-area {cfg.max_area_m2:g} m2", area <= cfg.max_area_m2)
    if cfg.min_confidence > 0:
        if len(conf) and not np.isfinite(conf).any():
            raise ValueError(f"{raster}: has no probability band, so --min-confidence cannot be applied")
        apply(f"--min-confidence {cfg.min_confidence:g}", np.nan_to_num(conf, nan=0.0) >= cfg.min_confidence)
    if cfg.landcover and keep.any():
        from agriseg.vector.landcover import NoOverlapError, allowed_fraction

        idx = np.flatnonzero(keep)
        try:
            frac = allowed_fraction(geoms[idx], crs, cfg.landcover, cfg.landcover_keep, cfg.landcover_drop)
        except NoOverlapError as err:
            raise ValueError(f"{raster}: {err}") from None
        ok = np.ones(len(geoms), bool)
        ok[idx] = np.nan_to_num(frac, nan=0.0) >= cfg.landcover_min_fraction
        apply(f"--landcover {cfg.landcover}", ok)
    return keep


def polygonize(
    raster: str | Path,
    output: str | Path | None = None,
    config: PolygonizeConfig | Mapping[str, Any] | None = None,
    collection: str = "agriseg-fields",
    id_prefix: str | None = None,
    determined: dt.datetime | None = None,
    labels: bool | None = None,
    source: str | None = None,
    overwrite: bool = False,
    empty_said: bool = False,
) -> Any:
    """Polygonise a class / probability raster, or an instance-label raster, into field polygons.

    A class / probability raster is polygonised seamlessly, block by block: the fields form a valid polygon
    coverage, boundary pixels between touching fields are split between them, so they share one edge,
    simplified once for both (:mod:`agriseg.vector.coverage`). An instance-label raster (band 1 = field id,
    0 = none; band 2 = confidence x254), as instance models (DelineateAnything) write, has one id per field
    with no pixel in two fields: the ids are traced by the same polygoniser after its instance step
    (:func:`agriseg.vector.polygonize.label_coverage`: sub-pixel edges, each shared edge simplified once, a
    valid coverage; no boundary class, so no gap split, and ``separation``, ``core_threshold`` and
    ``split_boundary_px`` do not apply). Both go through the same clean-up, filters and writers.

    Args:
        raster: class raster, ``agriseg fields predict`` output, or instance-label raster.
        output: optional vector file (format from the extension); written atomically.
        config: polygonisation settings.
        collection: fiboa collection id.
        id_prefix: field ids are ``<prefix>-<row>-<col>`` of each field's first pixel (default: the raster's
            stem without ``_probs`` / ``_instances``), so ids are stable across runs, block sizes and commands.
        determined: ``determination:datetime``, the time of the last image used (default: the latest of the
            raster's ``WIN_A_DATETIME`` / ``WIN_B_DATETIME`` tags; left out when there are none).
        labels: the raster holds instance labels (default: when its ``AGRISEG_FORMAT`` tag says so, see
            :func:`is_instance_raster`).
        source: what warnings name (default: ``raster``): ``fields change`` polygonises a staging copy of its
            map's change band, whose temporary path meant nothing to a user.
        overwrite: replace ``output`` when it exists (refused otherwise: nothing of yours is written over).
        empty_said: a raster of nodata only was said already (``fields map``: its prediction said it, with what
            to check): not said again.

    Returns:
        The fields GeoDataFrame (in the raster's CRS), with ``attrs["timing"]`` seconds per stage and
        ``attrs["raw_polygons"]``.

    Raises:
        FileNotFoundError: missing raster.
        ValueError: unreadable raster, no CRS, or (labels) band 1 not integer ids.
        FileExistsError: ``output`` exists and ``overwrite`` is False.
        TypeError: ``config`` that is no PolygonizeConfig (or dict of its fields).
        agriseg.extras.MissingExtra: rasterio is not installed (``pip install "agriseg[geo]"``).
    """
    cfg = as_config(PolygonizeConfig, config) if isinstance(config, Mapping) else config or PolygonizeConfig()
    if not isinstance(cfg, PolygonizeConfig):  # "fast", a PredictConfig: an AttributeError deep inside before
        raise TypeError(f"config is a PolygonizeConfig (or a dict of its fields), not {type(cfg).__name__}")
    import_rasterio()  # the base install has none: said as the extra to install
    raster = file_path(raster, "raster")
    if output is not None:
        output_format(file_path(output, "output"))  # an unsupported extension is refused before the work, not after it
        if not overwrite and Path(output).exists():  # the commands' batch runner checks whose it is; here: refused
            raise FileExistsError(f"{output}: exists (overwrite=True replaces it)")
    t0 = time.perf_counter()
    if labels is None:
        labels = raster.is_file() and is_instance_raster(raster)
    table, profile = _label_table(raster, cfg) if labels else polygonize_table(raster, cfg)
    if not labels:  # classes it leaves out, or a raster that gave nothing: said, never a silent 0 fields
        _say_other_coding(raster, cfg.field_class, cfg.boundary_class, len(table.geoms), source, empty_said)
    # the field-probability band: band 2 of an instance raster, band 2 + field_class of a class raster
    has_probs = profile.get("count", 1) >= (2 if labels else 2 + cfg.field_class)
    return _fields(table, profile, raster, output, cfg, collection, id_prefix, determined, t0, has_probs, source)


def _say_other_coding(
    raster: Path,
    field_class: int,
    boundary_class: int,
    found: int = 0,
    source: str | None = None,
    empty_said: bool = False,
) -> None:
    """Warnings from a reduced read of a class raster's class band: a raster that gave no field yet holds classes
    other than background, field and boundary (another class coding); one that gave fields and holds other
    classes too (left out: only the field class is fields); one that is nodata everywhere. A raster of
    background only (a scene without fields) is not warned about: its 0 fields are the answer."""
    import logging

    import rasterio
    from rasterio.enums import Resampling

    with rasterio.open(raster) as ds:
        nodata = ds.nodata
        s = min(1.0, 2048 / max(ds.width, ds.height))  # nearest neighbour keeps the class ids
        shape = (max(1, round(ds.height * s)), max(1, round(ds.width * s)))
        cls = ds.read(1, out_shape=shape, resampling=Resampling.nearest, masked=True)
    kept = cls.compressed()
    raster_name = source or raster  # what the user gave (fields change: its map, not a staging copy)
    values, counts = np.unique(kept, return_counts=True)
    known = (0, field_class, boundary_class)
    others = [(int(v), int(n)) for v, n in zip(values, counts, strict=True) if v not in known]
    log = logging.getLogger("agriseg")
    # many ids beyond the classes: field ids (an FTW instance mask, make-synthetic's own), read only by its tag
    ids = (f" (an instance raster of field ids? tag it: rio edit-info --tag AGRISEG_FORMAT={INSTANCE_FORMAT} "
           f"{raster_name})" if len(others) >= 2 else "")  # fmt: skip
    if nodata is not None and nodata in (field_class, boundary_class):  # its pixels are no data, not fields
        what = "field" if nodata == field_class else "boundary"
        log.warning(
            "%s: its nodata value %g is the %s class: those pixels are read as no data", raster_name, nodata, what
        )
    if not kept.size and not empty_said:
        log.warning("%s: every pixel is nodata: no fields", raster_name)
    elif field_class not in values and others:
        listed = values.tolist()
        shown = ", ".join(map(str, listed[:8])) + (", ..." if len(listed) > 8 else "")
        log.warning(
            "%s: no pixel of the field class %d (its classes: %s): fields are class %d and boundaries %d, as in "
            "agriseg's and FTW's class rasters%s",
            raster_name, field_class, shown, field_class, boundary_class, ids,
        )  # fmt: skip
    elif found and others:
        share = 100 * sum(n for _, n in others) / kept.size
        shown = ", ".join(str(v) for v, _ in others[:8]) + (", ..." if len(others) > 8 else "")
        said = "under 1" if share < 0.5 else f"{share:.0f}"  # 100 px of 65,536: not "0 %"
        log.warning(
            "%s: classes %s (%s %% of its pixels) left out: only class %d is fields (boundaries %d), as in "
            "agriseg's and FTW's class rasters%s",
            raster_name, shown, said, field_class, boundary_class, ids,
        )  # fmt: skip


def polygonize_labels(raster: str | Path, *args: Any, **kwargs: Any) -> Any:
    """:func:`polygonize` of an instance-label raster, whatever its tags say (``labels=True``)."""
    return polygonize(raster, *args, **{**kwargs, "labels": True})


def _label_table(raster: Path, cfg: PolygonizeConfig) -> tuple[Any, dict]:
    """The instance table of an instance-label raster (field ids are the first pixel of each instance, as
    for class rasters), and its profile."""
    import rasterio

    from agriseg.vector.geometry import pixel_tolerance
    from agriseg.vector.instances import InstanceTable
    from agriseg.vector.polygonize import label_coverage

    if not raster.is_file():
        raise FileNotFoundError(f"{raster}: raster not found")
    from agriseg.raster.image import open_plain_or_geo

    try:
        with open_plain_or_geo(rasterio, raster) as ds:  # no CRS: said below, not by rasterio's warning
            from agriseg.raster.io import photo_format, probe_readable

            probe_readable(ds, raster)  # a file cut short reads as one without a CRS: said as what it is
            if ds.crs is None:
                raise ValueError(f"{raster}: has no CRS{photo_format(ds)}; polygons need a georeferenced raster")
            if not np.issubdtype(np.dtype(ds.dtypes[0]), np.integer):
                raise ValueError(f"{raster}: band 1 is {ds.dtypes[0]}, not integer field ids")
            labels = ds.read(1).astype(np.int64)  # (H, W)
            conf = ds.read(2) if ds.count >= 2 else None
            profile = dict(ds.profile, tags=ds.tags())
    except rasterio.errors.RasterioIOError as err:
        from agriseg.raster.io import unreadable_raster

        raise ValueError(unreadable_raster(raster, err)) from err
    # no boundary class: instances are traced as they are (no gap split), their shared edges simplified once
    tol = pixel_tolerance(cfg.simplify, profile["transform"], profile["crs"], labels.shape)
    ids, geoms, first = label_coverage(labels, None, 0.0, tol, cfg.block_size)
    flat = labels.ravel()
    dense = np.searchsorted(ids, flat)  # (H * W,) index of each pixel's id (pixels of no field: ignored)
    valid = (flat > 0) & (dense < len(ids))
    valid[valid] = ids[dense[valid]] == flat[valid]
    pixels = np.bincount(dense[valid], minlength=len(ids))
    confidence = np.full(len(ids), np.nan)
    if conf is not None:
        sums = np.bincount(dense[valid], weights=conf.ravel()[valid].astype(np.float64), minlength=len(ids))
        confidence = sums / np.maximum(pixels, 1) / 254.0
    return InstanceTable(first, geoms, pixels.astype(np.int64), confidence), profile


def _fields(
    table: Any,
    profile: dict,
    raster: Path,
    output: str | Path | None,
    cfg: PolygonizeConfig,
    collection: str,
    id_prefix: str | None,
    determined: dt.datetime | None,
    t0: float,
    has_probs: bool,
    source: str | None = None,
) -> Any:
    """An instance table in pixel coordinates -> cleaned, filtered fiboa fields (written when ``output``)."""
    if determined is None:
        determined = latest_image_time(profile.get("tags", {}), raster)
    t1 = time.perf_counter()
    geoms = pixel_to_crs(table.geoms, profile["transform"])
    cleaned, area, perim, keep = clean_fields(geoms, profile["crs"], cfg.min_area_m2, cfg.fill_holes_m2)
    # as fields map names the fields of its <scene>_probs.tif: one field, one id, whichever command polygonised it
    prefix = id_prefix if id_prefix is not None else raster.stem.removesuffix("_probs").removesuffix("_instances")
    keys, conf = table.keys[keep], table.confidence[keep]
    dropped = {f"--min-area {cfg.min_area_m2:g} m2": int((~keep).sum())}
    more = filter_fields(raster, cleaned, profile["crs"], area, conf, cfg, dropped)
    what = "change polygons" if collection == "agriseg-change" else "fields"
    _say_why_none(source or raster, len(table.keys), int(keep.sum()), int(more.sum()), cfg, what)
    cleaned, area, perim, conf, keys = cleaned[more], area[more], perim[more], conf[more], keys[more]
    ids = [f"{prefix}-{r}-{c}" for r, c in keys.tolist()]
    # a raster with probabilities has a confidence column, also where it has no field (one schema per run)
    extra = {"agriseg:confidence": conf} if has_probs else {}
    df = fields_frame(cleaned, profile["crs"], ids, area, perim, collection, determined, extra)
    t2 = time.perf_counter()
    if output is not None:
        write_fields(df, output, collection)
    df.attrs["timing"] = {"polygonize_s": t1 - t0, "clean_s": t2 - t1, "write_s": time.perf_counter() - t2}
    df.attrs["raw_polygons"] = len(table.keys)
    df.attrs["dropped"] = {flag: n for flag, n in dropped.items() if n}  # each filter that removed polygons
    return df


def _say_why_none(
    raster: Path | str, found: int, large: int, kept: int, cfg: PolygonizeConfig, what: str = "fields"
) -> None:
    """Warn when polygons were found but the options removed every one (0 fields, and no word of why: session
    93's sweep, a land-cover filter or a --min-area larger than the area)."""
    if not found or kept:
        return
    import logging

    if not large:
        why = f"{'' if found == 1 else 'all '}smaller than --min-area {cfg.min_area_m2:,.0f} m2"
    else:
        filters = (("--max-area", cfg.max_area_m2 > 0), ("--min-confidence", cfg.min_confidence > 0),
                   ("the land-cover filter (--landcover)", bool(cfg.landcover)))  # fmt: skip
        named = [name for name, on in filters if on]
        why = f"{large} over --min-area, then removed by {' / '.join(named) or 'the filters'}"
    from agriseg.batch import counted

    logging.getLogger("agriseg").warning("%s: 0 %s: %s found, %s", raster, what, counted(found, "polygon"), why)


INSTANCE_FORMAT = "agriseg-fields-instances"  # the AGRISEG_FORMAT tag of an instance raster


def is_instance_raster(path: str | Path) -> bool:
    """Whether a raster is an instance-label raster (its ``AGRISEG_FORMAT`` tag says so)."""
    import rasterio

    from agriseg.raster.image import open_plain_or_geo

    try:
        with open_plain_or_geo(rasterio, Path(path)) as ds:  # a raster without a CRS is said by its reader
            tags = {k.lower(): v for k, v in ds.tags().items()}
    except rasterio.errors.RasterioIOError:
        return False
    return tags.get("agriseg_format", "").startswith(INSTANCE_FORMAT)
