"""``agriseg crop plots``: per-plot tables of each orthomosaic (or photo), and growth over dates.

Per mosaic ``<name>``: ``<name>_plots.gpkg`` (the plots with their statistics, in the mosaic's CRS) and
``<name>_plots.csv`` (the same without geometry, with the mosaic and its date). Given a regions CSV
(``id,x,y,width,height`` in pixels, as ``crop traits --regions`` takes) instead of polygons, the inputs are
photos without georeference, measured as ``crop traits`` measures them (:func:`photo_plots`), and only the
CSV is written. With two or more dates: ``growth.csv`` (one row per plot and date), ``growth_wide.csv`` (one
row per plot, one column per date) and ``growth.png`` (green fraction over time), see :func:`write_growth`.
The date of a mosaic comes from its file name: the ``date`` field of the ``meta`` template, or else the
first ``YYYY-MM-DD`` / ``YYYYMMDD`` / ``DD.MM.YYYY`` in the name, else in its folder's or the one above
(``2024-06-01/odm_orthophoto/odm_orthophoto.tif``); mosaics without a date are ordered as given.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

import numpy as np

from agriseg.batch import BatchOptions, batch_keywords, counted, drop_tables, edited_reason, listed, measured_now
from agriseg.crop.config import PlotsConfig
from agriseg.crop.traits.inputs import (
    ModelSegmenter,
    mask_kind,
    one_band_mask,
    one_band_notes,
    one_band_rule,
    read_mask,
    read_one_band_mask,
)
from agriseg.crop.traits.meta import DATE_FORMS, check_template, file_date, looks_dated, meta_date, parse_name
from agriseg.crop.traits.orthomosaic import PLOT_COLUMNS, plot_stats
from agriseg.crop.traits.regions import needs_check, region_columns
from agriseg.crop.traits.units import ANGLES, table_cell, tidy
from agriseg.data.files import TABLE_ERRORS, TEXT_ERRORS, atomic_write
from agriseg.data.io import PathsLike, as_paths, list_images_once
from agriseg.manifest import seal_tables

if TYPE_CHECKING:
    from agriseg.batch import BatchResult


def mosaic_date(path: Path, template: str | None) -> str | None:
    """The date of a mosaic from its file name (see the module docstring), ISO 8601, or None.

    Raises:
        ValueError: when ``template`` is given and the name does not match it or has no date field.
    """
    if template:
        meta = parse_name(path, template)
        date = meta_date(meta)
        if date is None:  # (crop plots refuses such a template before any work: check_template)
            raise ValueError(f"{path}: the template {template!r} has no date field")
        return date
    # a mosaic named by its software in a folder named by its flight: 2024-06-01/odm_orthophoto.tif, or ODM's
    # project layout 2024-06-01/odm_orthophoto/odm_orthophoto.tif
    return file_date(path)


# agriseg's version of what crop plots writes from a mosaic, plots and options (part of every fingerprint)
# 2: crop predict's outlines re-decided on reduced photos; 3: unsure pixels by colour; 4: half-seen plants;
# 5: object-level steps above the model's background floor; 6: faint stems traced at the photo's size;
# 7: per-object colour decision; 8: grey objects the model was never sure of dropped; 9: model_sure (photos);
# 10: photos' tables name mean_hue's unit (mean_hue_deg) and write yes/no columns as 1 / 0; 11: blue and
# saturated orange / yellow objects the model was never sure of dropped; 12: half-seen plants from 10 px;
# 13: mosaics' tables and GeoPackages rounded to 6 significant digits like every other table; 14: dates as
# YYYY_MM_DD and times after a date in file names; 15: --join by the exact distance between pieces (any
# direction, gaps of at most --join px), mean hue never 360, geodesic pixel areas of EPSG:4326 mosaics; 16: a
# one-band mask's nodata 0 read as its background (it came one commit after 15, which kept the wrong values);
# 17: plots partly outside the mosaic's data say so (status, coverage), no plant count without data, the plots
# file's own columns kept, a band 4 is alpha only when declared so, colour bands by description, dates of
# DD.MM.YYYY names and of a mosaic's folder; 18: the --meta field named date before others ending in date,
# times written 10-00 with no UTC offset; 19: --meta as crop traits' 17 (every start of a name tried, the last
# field anchored to the name's end); 20: plant ids 1..N after edge strips (crop traits' 18)
ALGORITHM = "20"
GROWTH_TABLES = ("growth.csv", "growth_wide.csv", "growth.png")  # what crop plots and crop traits write over dates


def failed_dates_note(n_dated: int, records: Sequence[dict[str, Any]], what: str) -> list[str]:
    """The warning of a run left with fewer than two dates for its growth tables when items failed (one of them
    may be the missing date), as ``crop plots`` and ``crop traits`` say it; empty when none failed, and when none
    was dated and none of the failed holds a date in its name or its folder's (undated mosaics refused by a
    changed plots file were said to have cost the growth tables, session 108's sweep). A failed photo dated by
    its EXIF alone counts beside a dated one (its date cannot be read from a file that failed)."""

    def dated(r: dict[str, Any]) -> bool:
        path = Path(r["file"])
        return n_dated > 0 or looks_dated(path.stem) or looks_dated(path.parent.name)

    n_failed = sum(r.get("status") == "error" and dated(r) for r in records)
    if not n_failed or n_dated + n_failed < 2:
        return []
    return [f"warning: no growth tables: {n_dated} dated {what} measured, {counted(n_failed, what)} failed (below)"]


@batch_keywords
def run_plots(
    mosaics: PathsLike, outdir: str | Path, config: PlotsConfig | dict[str, Any], batch: BatchOptions | None = None
) -> BatchResult:
    """Plot statistics of every mosaic, then the growth table and plot (see the module docstring).

    The mosaics go through :func:`agriseg.batch.run_batch` (``batch``: overwrite, strict, progress; skip /
    resume, counts).

    Returns:
        One record per mosaic: ``file``, ``date``, ``status`` (ok / skipped / error), ``error``, ``rows``.
    """
    from agriseg.batch import Item, run_batch, unique_names
    from agriseg.config import as_config
    from agriseg.data.files import check_inputs
    from agriseg.fingerprint import Recipe

    config = as_config(PlotsConfig, config)  # a dict of its fields too, as every entry point takes
    batch = batch or BatchOptions()
    outdir = Path(outdir)
    given = as_paths(mosaics)  # one path or many
    check_inputs(given, "mosaic or photo")  # a path mistyped on the command line: a usage error, before any work
    if "://" not in config.plots and not Path(config.plots).is_file():
        raise FileNotFoundError(f"{config.plots}: plots file not found (--plots)")  # not "has no CRS" for every photo
    chart = (Path(outdir) / "growth.png").resolve()  # an earlier run's chart, where -o is an input folder
    files = [str(m) for m in list_images_once(given) if m.resolve() != chart]  # folders: their photos
    from agriseg.manifest import drop_recorded

    # pictures earlier runs wrote there (crop predict's overlays, crop traits' plant pictures, masks and charts)
    # are no photos; crop predict's masks are measured as masks
    _, traits_made = drop_recorded([Path(f) for f in files], ("crop traits",), tables=True)
    _, predict_made = drop_recorded([Path(f) for f in files], ("crop predict",))
    left_out = set(traits_made) | {p for p in predict_made if not mask_kind(p)}
    files = [f for f in files if Path(f) not in left_out]
    if left_out and not files:
        from agriseg.data.io import NoInputError

        raise NoInputError(f"{sorted(left_out)[0]}: an output of an earlier agriseg run, not a photo or mosaic")
    check_template(config.meta, dated=True)
    photos = Path(config.plots).suffix.lower() == ".csv"  # pixel regions of photos, not polygons of mosaics
    # each mosaic window is segmented as crop predict segments a photo; masks are measured as they are
    segment = ModelSegmenter(config.model_name, config.device)
    segmented = {Path(f): _segmented(Path(f), photos) for f in files}
    if any(segmented.values()):
        segment.check()
    elif config.model_name != PlotsConfig.model_fields["model_name"].default:  # it would be silently ignored
        from agriseg.config import OptionError

        raise OptionError(f"--model {config.model_name}: not read, every input is a vegetation mask (no model runs)")
    names = unique_names(files, outdir, "crop plots")  # the names an earlier run gave are kept
    overlap = numbered = positions = None
    photo_rules: dict[str, str] = {}
    if photos:
        from agriseg.config import OptionError
        from agriseg.crop.traits.regions import overlaps, region_positions
        from agriseg.crop.traits.runner import read_regions_option

        if config.plot_id:  # it would be silently ignored: a regions CSV has one id column
            raise OptionError(
                f"--plot-id: {config.plots} is a regions CSV, whose ids are its 'id' column (or plot_id, name)"
            )
        if config.bands:
            raise OptionError(f"--bands: {config.plots} is a regions CSV of photos, read as photos (RGB)")
        if config.window != PlotsConfig.model_fields["window"].default:
            raise OptionError(f"--window: {config.plots} is a regions CSV of photos, each segmented whole")
        pots = read_regions_option(config.plots, "--plots")  # a bad file stops the batch first
        if any(p.extra for p in pots):  # its own columns are in the tables now: not those of outputs made before
            photo_rules = {"plots file columns": "kept"}
        overlap, positions = overlaps(pots), region_positions(pots)  # positions: the chart's, as crop traits
    else:
        from agriseg.config import OptionError
        from agriseg.crop.traits.orthomosaic import plot_overlaps, read_plots

        try:
            given_plots = read_plots(config.plots, None, config.plot_id)  # a bad file stops the batch first
        except ValueError as err:
            raise OptionError(f"--plots {err}") from None
        overlap = plot_overlaps(given_plots)  # (in the file's CRS: a share of area does not depend on it)
        if given_plots.attrs["id_column"] is None:  # ids the user cannot join back to the trial design
            others = ", ".join(given_plots.attrs["columns"]) or "none"
            numbered = (f"warning: {config.plots}: no plot id column (plot_id, id, name, any case, each plot "
                        f"named once), so the plots are numbered 1-{len(given_plots)} in file order; give --plot-id "
                        f"COLUMN (columns: {others})")  # fmt: skip
    items = [
        Item(
            n,
            m,
            ((outdir / f"{n}_plots.csv",) if photos else (outdir / f"{n}_plots.gpkg", outdir / f"{n}_plots.csv")),
            (m,),
            resolved=(_photo_rules(m) | photo_rules) if photos else _mosaic_rules(m, config.window),
            uses_model=segmented[Path(m)],  # a mask's outputs: the same whichever model a run has
        )
        for m, n in names.items()
    ]
    from agriseg.models.io import resolve

    recipe = Recipe("crop plots", ALGORITHM, config.model_dump(exclude={"model_name", "plots"}),
                    lambda: resolve(config.model_name), [config.plots])  # fmt: skip

    def work(item: Item) -> dict[str, Any]:
        m = Path(item.source)
        date = mosaic_date(m, config.meta)
        if photos:
            said: list[str] = []
            rows = [{"mosaic": str(m), "date": date or "", **r} for r in photo_plots(m, config, segment, said)]
            columns = ["mosaic", "date", "plot_id", *(_with_unit(k, "px2") for k in region_columns()[1:])]
            _write_csv(item.outputs[-1], rows, list(dict.fromkeys([*columns, *(k for r in rows for k in r)])))
            return {"file": str(m), "date": date, "status": "ok", "rows": rows, "warnings": said}
        said = []
        gdf = plot_stats(m, config, segment, batch.progress, said)
        if len(gdf) and (gdf["status"] == "outside mosaic").all():
            raise ValueError(
                f"{m}: none of the {len(gdf)} plots of {config.plots} overlaps this mosaic "
                "(check that both cover the same place and that the plots file's CRS is right)"
            )
        if len(gdf) and gdf["status"].isin(["outside mosaic", "no data", "empty"]).all():
            raise ValueError(f"{m}: none of the {len(gdf)} plots of {config.plots} has data in this mosaic "
                             "(each is under its nodata or transparent pixels, outside it, or smaller than a "
                             "pixel)")  # fmt: skip
        gpkg, table = item.outputs
        for col in [c for c in PLOT_COLUMNS if gdf[c].dtype.kind == "f"]:  # no 0.48000000000000004
            gdf[col] = gdf[col].map(tidy)  # agriseg's numbers only: the plots file's own are written as read
        with atomic_write(gpkg) as tmp:
            gdf.to_file(tmp, driver="GPKG", layer="plots")
        own = gdf.drop(columns="geometry")
        for col in [c for c in own.columns if own[c].dtype.kind == "M"]:  # a date of the plots file, as text
            own[col] = _dates_as_text(own[col])
        rows = [{"mosaic": str(m), "date": date or "", **r} for r in own.to_dict("records")]
        _write_csv(table, rows, ["mosaic", "date", *[c for c in gdf.columns if c != "geometry"]])
        return {"file": str(m), "date": date, "status": "ok", "rows": rows, "warnings": said}

    def resume(item: Item) -> dict[str, Any] | None:
        try:
            date = mosaic_date(Path(item.source), config.meta)
            with item.outputs[-1].open(
                newline="", encoding="utf-8", errors=TEXT_ERRORS
            ) as fh:  # the table (photos write only the table)
                rows = [{k: v if k in TEXT_COLUMNS else _number(v) for k, v in r.items()} for r in csv.DictReader(fh)]
        except (OSError, ValueError):
            return None
        if photos and rows and all(r.get("status") == "outside" for r in rows):  # a photo measured nothing
            return None  # (written before such a photo failed): made again, not resumed as measured
        return {"file": str(item.source), "date": date, "status": "skipped", "rows": rows}

    tables = [outdir / n for n in GROWTH_TABLES]

    def finish(result: BatchResult) -> None:  # run while the folder is still locked
        said = (f"warning: {w}" for r in result for w in r.get("warnings", []))
        result.notes += list(dict.fromkeys(said))  # one of the plots file (a repaired plot) once, not per mosaic
        if overlap:
            result.notes.append(f"warning: {config.plots}: {overlap}")
        if numbered:
            result.notes.append(numbered)
        measured = [
            r["file"] for r in result if r.get("status") in ("ok", "skipped") and segmented.get(Path(r["file"]))
        ]
        if photos and (geo := _georeferenced(measured)):  # photos segmented (a mask GeoTIFF is read as it is)
            result.notes.append(
                f"warning: {listed([str(g) for g in geo], 3)}: georeferenced, measured as "
                f"{'a photo' if len(geo) == 1 else 'photos'} in the pixel regions of {config.plots} (at the model's "
                "working size, areas in px2, no ground units); give the plots as polygons (a GeoPackage or GeoJSON) "
                "to measure a mosaic at its own resolution in m2"
            )
        if left_out:
            what = "photos" if photos else "mosaics"
            result.notes.append(f"({counted(len(left_out), 'output')} of an earlier run not read as {what})")
        done = measured_now(list(result))  # not the records made with other settings (kept)
        if (n_dated := sum(bool(r.get("date")) for r in done)) < 2:  # as crop traits: growth needs two dates (a
            # chart of undated photos was an empty plot titled "no dates")
            # said only where a name seems to hold a date it did not read, as crop traits says it (not 0003)
            unread = [Path(r["file"]).name for r in done if not r.get("date") and looks_dated(Path(r["file"]).stem)]
            if len(done) > 1 and unread:
                kind = "photos" if photos else "mosaics"
                has = "has a date in its name" if n_dated == 1 else "have a date in their names"
                result.notes.append(f"warning: no growth tables: {n_dated} of the {len(done)} {kind} {has} "
                                    f"({listed(unread, 3)}: no date read; {DATE_FORMS})")  # fmt: skip
            result.notes += failed_dates_note(n_dated, list(result), "photo" if photos else "mosaic")
            drop_tables(
                outdir,
                GROWTH_TABLES,
                result.notes,
                "crop plots",
                edited_reason(list(result), "photo" if photos else "mosaic"),
            )
        else:
            dated = [(r["date"], r["file"], [{**x, "id": x["plot_id"]} for x in r["rows"]]) for r in done]
            if photos:  # every region trait, as crop traits' growth.csv of the same regions has, and the regions
                # file's own columns (genotype, rep) as its "columns" (they were dropped: session 107's sweep)
                traits = {"id", *(_with_unit(k, "px2") for k in region_columns())}
                dated = [(d, f, [{**{k: v for k, v in x.items() if k in traits},
                                  "columns": {k: v for k, v in x.items() if k not in traits and k not in PHOTO_KEYS}}
                                 for x in rows]) for d, f, rows in dated]  # fmt: skip
            else:  # a mosaic's rows also hold the plots file's own columns: its tables have them
                fields = ("id", "status", "coverage", "green_fraction", "green_area_index", "plant_count")
                dated = [(d, f, [{k: v for k, v in x.items() if k in fields} for x in rows]) for d, f, rows in dated]
            written = write_growth(dated, outdir, "plot_id", value="green_fraction", notes=result.notes,
                                   positions=positions, kind="photo" if photos else "mosaic")  # fmt: skip
            missing = "" if len(written) > 2 else ' (growth.png needs matplotlib: pip install "agriseg[geo]")'
            result.notes.append("growth: " + ", ".join(map(str, written)) + missing)
            from agriseg.crop.traits.runner import refused_note

            result.notes += refused_note(list(result), "photo" if photos else "mosaic")  # as crop traits says it
            if photos:  # pixel regions: the warnings crop traits gives of the same photos (sizes, other trays)
                result.notes += _photo_warnings([r["file"] for r in done], config.meta)
        seal_tables(tables)  # a later run keeps a table edited by hand

    return run_batch(
        items,
        work,
        options=batch.labelled("plots", "img" if photos else "mosaic", progress=len(items) > 1),
        recipe=recipe,
        resume=resume,
        failed=lambda it, msg: {"file": str(it.source), "date": None, "status": "error", "error": msg, "rows": []},
        tables=tables,
        finish=finish,
    )


PHOTO_KEYS = ("mosaic", "date", "plot_id")  # what a photo's table adds to the traits of its regions


def _mosaic_rules(mosaic: str | Path, window: int) -> dict[str, str]:
    """The reading rule of an RGB mosaic whose numbers it changed, for its fingerprint: ``{"scale": "one per
    mosaic"}`` for one larger than a ``window`` or than :data:`~agriseg.crop.traits.inputs.PHOTO_MOSAIC` (each
    window was brought to the model's working size before: such tables are not resumed as this run's). Empty
    for a mask mosaic, a smaller RGB one (segmented as before), and an unreadable file (it fails as its item)."""
    from agriseg.crop.traits.inputs import PHOTO_MOSAIC
    from agriseg.raster.image import open_plain_or_geo, rasterio_or_none

    rio = rasterio_or_none()
    try:
        with open_plain_or_geo(rio, Path(mosaic)) as ds:
            changed = ds.count >= 3 and max(ds.height, ds.width) > min(window, PHOTO_MOSAIC)
            return {"scale": "one per mosaic"} if changed else {}
    except Exception:  # noqa: BLE001 - an unreadable mosaic fails as its own item
        return {}


def _photo_warnings(files: list[str], meta: str | None) -> list[str]:
    """What ``crop traits`` warns of photos measured into one growth table: sizes in pixels that differ, and
    ``--meta`` fields other than the date that differ (two trays)."""
    from PIL import Image

    from agriseg.crop.traits.meta import parse_name
    from agriseg.crop.traits.runner import _other_trays, _size_changes

    sized = []
    for f in files:
        try:
            with Image.open(f) as im:  # the header only; turned by its EXIF orientation as the photo is read
                w, h = im.size[::-1] if im.getexif().get(0x0112) in (5, 6, 7, 8) else im.size
                sized.append({"file": f, "image": {"width": w, "height": h}})
        except (OSError, ValueError):  # a format only the photo reader knows: no size to compare
            continue
    named = [{"file": f, "meta": parse_name(Path(f), meta)} for f in files] if meta else []
    return _size_changes(sized) + _other_trays(named)


def _georeferenced(files: Sequence[str | Path]) -> list[Path]:
    """The files among ``files`` with a CRS (a mosaic given with a pixel regions CSV is read as a photo)."""
    from agriseg.raster.image import read_georef

    out = []
    for f in files:
        try:
            geo = read_georef(f)
        except Exception:  # noqa: BLE001, S112 - an unreadable file failed as its item already
            continue
        if geo is not None and geo.crs:
            out.append(Path(f))
    return out


def _segmented(path: Path, photos: bool) -> bool:
    """Whether an input of ``crop plots`` is segmented by the model: a photo (not ``crop predict``'s mask of
    one) with a regions CSV, a mosaic of three bands or more with a plots file (one band: a vegetation mask). An
    unreadable mosaic counts as segmented (it fails as its own item)."""
    if photos:
        return not mask_kind(path) and not one_band_mask(path)
    from agriseg.raster.io import import_rasterio

    rasterio = import_rasterio()
    try:
        with rasterio.open(path) as ds:
            return bool(ds.count >= 3)
    except Exception:  # noqa: BLE001 - read again, and said, as its item
        return True


def photo_plots(
    photo: Path, config: PlotsConfig, segment: ModelSegmenter, warnings: list[str] | None = None
) -> list[dict[str, Any]]:
    """The regions of ``config.plots`` (a pixel regions CSV) in a photo without georeference, measured
    exactly as ``crop traits --regions`` measures them (the same mask, plants and region traits).

    Args:
        warnings: collects what the user should know (regions outside the photo), naming the photo.

    Returns:
        One row per region: ``plot_id`` then the region traits (areas in px2, named with their unit).
    """
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.runner import measure
    from agriseg.data.io import read_rgb

    rgb: np.ndarray | None
    said = []
    if mask_kind(photo):  # crop predict's mask of a photo: measured as crop traits measures it, no model run
        classes, rgb, sure = read_mask(photo), None, None
        crop_weed = photo.stem.endswith("_classes")
    elif (one_band := read_one_band_mask(photo)) is not None:  # a mask of another name (0/255 GeoTIFF): as crop
        classes, rgb, sure, crop_weed = one_band, None, None, False  # traits and a plots file read it
        said += one_band_notes(photo)
    else:
        rgb = read_rgb(photo)
        classes, crop_weed, sure = segment(rgb)
    traits = TraitsConfig(
        model_name=config.model_name,
        min_plant_size=config.min_plant_size,
        zenith=config.zenith,
        leaf_projection=config.leaf_projection,
        regions=config.plots,
    )
    m = measure(classes, rgb, traits, None, crop_weed, sure)
    if warnings is not None:
        warnings += [f"{photo}: {w}" for w in said + m.warnings]
    own = {r.id: r.extra for r in m.rects}  # the file's other columns (read with its regions), after the traits
    rows = []
    for r in m.regions:
        row = {"plot_id": r["id"], **{_with_unit(k, "px2"): v for k, v in tidy(r).items() if k != "id"}}
        for name, value in own.get(r["id"], ()):  # a column named like a trait, or like the photo's name, date and
            # file in its tables, kept apart (its date was written over the photo's; session 107's review)
            row[f"{name} (plots file)" if name in row or name in (*PHOTO_KEYS, "file") else name] = value
        rows.append(row)
    return rows


def _photo_rules(path: Path) -> dict[str, str]:
    """How ``crop plots`` reads a file given with a regions CSV, for its fingerprint: ``<name>_mask.png`` and
    ``<name>_classes.png`` (written by ``crop predict``) as masks (earlier versions segmented them as photos, so
    their outputs are not resumed); ``{}`` for a photo."""
    return {"read as": "mask"} if mask_kind(path) else one_band_rule(path)


def _write_csv(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> None:
    with atomic_write(path) as tmp, open(tmp, "w", newline="", encoding="utf-8", errors=TABLE_ERRORS) as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows({k: table_cell(r.get(k)) for k in fields} for r in rows)


def _dates_as_text(col: Any) -> list[str | None]:
    """A date or time column of the plots file (GDAL reads a GeoJSON's ``"2024-04-01"`` as a time) as the text
    a spreadsheet reads: ``2024-04-01`` when every value is a whole day, else ISO date and time; a missing value
    is None (an empty cell, never ``NaT``)."""
    import pandas as pd

    col = pd.Series(col)
    days = bool((col.dropna() == col.dropna().dt.normalize()).all())
    return [None if pd.isna(v) else (v.date().isoformat() if days else v.isoformat()) for v in col]


def _days(a: str, b: str) -> float | None:
    """Days from ISO date ``a`` to ``b`` (None when either is not a date or they are equal)."""
    from datetime import datetime

    try:
        d = (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() / 86400
    except ValueError:
        return None
    return d or None


def write_growth(
    dated: list[tuple[str | None, str, list[dict[str, Any]]]],
    outdir: Path,
    id_field: str = "region_id",
    units: dict[int, str] | None = None,
    value: str = "plant_area",
    layout: tuple[int, int] | None = None,
    notes: list[str] | None = None,
    positions: dict[str, tuple[int, int]] | None = None,
    kind: Literal["photo", "mosaic"] = "photo",
) -> list[Path]:
    """``growth.csv``, ``growth_wide.csv`` and ``growth.png`` of regions (pots, plots) over dates.

    The chart needs matplotlib (the ``[geo]`` extra); without it the tables are written and the chart skipped
    (the base install measures traits; it does not draw charts). Returns the files written.

    Args:
        dated: per image or mosaic: (its date or None, its file, its region rows with ``id``). Images are
            ordered by date (undated ones as given, after the dated ones, labelled by their file name).
        outdir: where to write.
        id_field: the name of the region id column (``region_id``, ``plot_id``).
        units: dimension -> unit (``{1: "px", 2: "px2"}``) of the area columns, which carry it in their name.
        value: the trait of the wide table and the chart (``plant_area``, ``green_fraction``).
        layout: (rows, cols) of the regions (a tray), to lay out the chart's panels like the pots.
        notes: where to say what the tables cannot show: photos without a date, several photos of one date.
        kind: what ``dated`` holds (photos of a tray, or mosaics of a trial), as the notes name them.

    ``growth.csv`` has one row per region and date: the traits, and between a date and the one before:
    ``<value>_change_per_day`` and ``relative_growth_rate_per_day`` (``ln(a2 / a1) / days``, when both are
    above 0). ``growth_wide.csv`` has one row per region and one column per date (of ``value``).
    ``growth.png``: one small panel per region (regions laid out like the tray), or one chart with a
    labelled legend for a few regions.
    """
    area_unit = (units or {2: "px2"})[2]
    order = sorted(range(len(dated)), key=lambda i: (dated[i][0] is None, dated[i][0] or "", i))
    labels = _unique([dated[i][0] or Path(dated[i][1]).stem for i in order])
    if notes is not None:
        notes += _date_problems(dated, kind)
    key = _with_unit(value, area_unit)
    rate = f"{key}_change_per_day"
    ids: dict[str, None] = {}
    by_id: dict[str, list[dict[str, Any]]] = {}
    own: dict[str, dict[str, Any]] = {}  # region id -> its regions CSV's own columns (genotype, rep...), as named
    for i, label in zip(order, labels, strict=True):
        date, file, regions = dated[i]
        for r in regions:
            rid = str(r["id"])
            ids.setdefault(rid)
            # "date" is the photo's date or empty (never a file name); the wide table and chart use the label
            row: dict[str, Any] = {id_field: rid, "date": date or "", "file": file, "_label": label}
            row.update({_with_unit(k, area_unit): v for k, v in r.items() if k not in ("id", "plot_id", "columns")})
            taken = {*row, rate, "relative_growth_rate_per_day", *(f"{key} {d}" for d in labels)}
            for name, v in r.get("columns", {}).items():  # a regions CSV's own columns (crop traits' records)
                column = f"{name} (regions file)" if name in taken else name  # never over one of the table's
                row[column] = own.setdefault(rid, {})[column] = v
            by_id.setdefault(rid, []).append(row)
    photos_of: dict[str, int] = {}
    for d, _, _ in dated:
        photos_of[d or ""] = photos_of.get(d or "", 0) + 1
    rows = []
    for rid in ids:
        prev = None
        for row in by_id[rid]:
            row[rate], row["relative_growth_rate_per_day"] = None, None
            # no rate to or from a date of several photos (two trays): which one came before is unknown
            if prev is not None and photos_of[prev["date"]] == photos_of[row["date"]] == 1:
                days = _days(prev["date"], row["date"])
                a1, a2 = prev.get(key), row.get(key)
                if days and _finite(a1) and _finite(a2):
                    row[rate] = tidy((a2 - a1) / days)  # 6 significant digits (a slow change is not 0.0)
                    if a1 > 0 and a2 > 0:
                        row["relative_growth_rate_per_day"] = tidy(math.log(a2 / a1) / days)
            rows.append(row)
            prev = row
    # one column order whatever the first row holds (an empty pot has no colour): the region columns' order,
    # anything else after them, the rates last, so tables of two runs line up
    columns = [_with_unit(k, area_unit) for k in region_columns()[1:] if k != "status"]
    known = [id_field, "date", "file", "status", "coverage", *columns]
    present = [k for k in dict.fromkeys(k for r in rows for k in r) if k != "_label"]
    rates = [rate, "relative_growth_rate_per_day"]
    fields = [
        *(k for k in known if k in present),
        *(k for k in present if k not in known and k not in rates),
        *rates,
    ]
    _write_csv(outdir / "growth.csv", rows, fields)
    dates = [f"{key} {d}" for d in labels]
    own_names = [k for k in dict.fromkeys(k for cols in own.values() for k in cols) if k not in (id_field, *dates)]
    wide = [
        {**own.get(rid, {}), id_field: rid, **{f"{key} {r['_label']}": r.get(key) for r in by_id[rid]}} for rid in ids
    ]
    _write_csv(outdir / "growth_wide.csv", wide, [id_field, *own_names, *dates])
    written = [outdir / "growth.csv", outdir / "growth_wide.csv"]
    if importlib.util.find_spec("matplotlib") is not None:
        _chart(by_id, key, outdir / "growth.png", layout, "plot" if id_field == "plot_id" else "region", positions)
        written.append(outdir / "growth.png")
    return written


# columns of a plots table that stay text when read back (a plot id "007" is not the number 7)
TEXT_COLUMNS = frozenset({"plot_id", "id", "mosaic", "date", "status", "file"})


def _number(text: str | None) -> Any:
    """A value read back from a table: int or float where it is one (a resumed run's rates need numbers),
    None where empty, else the text."""
    if text is None or text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _finite(value: Any) -> TypeGuard[float]:
    """A number that a rate can be computed from (not None, not NaN)."""
    return isinstance(value, int | float) and math.isfinite(value)


def _date_problems(
    dated: list[tuple[str | None, str, list[dict[str, Any]]]], kind: Literal["photo", "mosaic"] = "photo"
) -> list[str]:
    """Warnings about photos (or mosaics) the growth rates cannot use: undated ones, and several of one date."""
    whole = "tray" if kind == "photo" else "trial"
    from agriseg.crop.traits.meta import impossible_date

    def undated(f: str) -> str:  # a date of the calendar's own forms that is no day (2024-02-30) is named
        typo = impossible_date(Path(f).stem)
        return f"{typo} in its name is no date (a typo?)" if typo else f"no date in its name ({DATE_FORMS})"

    out = [f"warning: {f}: {undated(f)}; in the growth tables after the dated ones, without rates"
           for d, f, _ in dated if d is None]  # fmt: skip
    by_date: dict[str, list[str]] = {}
    for d, f, _ in dated:
        if d is not None:
            by_date.setdefault(d, []).append(Path(f).name)
    out += [
        f"warning: {len(fs)} {kind}s dated {d} ({', '.join(fs)}): no growth rate to, from or between them (the "
        f"growth tables follow one {whole} over dates: measure each {whole} into its own output folder)"
        for d, fs in by_date.items() if len(fs) > 1
    ]  # fmt: skip
    from datetime import date, timedelta

    tomorrow = (date.today() + timedelta(days=1)).isoformat()  # a day of grace for time zones
    out += [
        f"warning: {f}: dated {d[:10]}, after today (a typo in its name?); the chart's days run to it"
        for d, f, _ in dated if d is not None and d[:10] > tomorrow
    ]  # fmt: skip
    timed = [Path(f).name for d, f, _ in dated if d is not None and "T" in d]
    if timed and len(timed) < sum(d is not None for d, _, _ in dated):
        out.append(
            f"warning: {counted(len(timed), kind)} "
            f"{'has a time of day' if len(timed) == 1 else 'have a time of day'} "
            f"({', '.join(timed[:3])}{', ...' if len(timed) > 3 else ''}; in the name or the camera's EXIF) "
            "and the others only a date: rates count those from midnight"
        )
    return out


def _unique(labels: list[str]) -> list[str]:
    """Column labels of the wide table, made unique (two undated photos of one name: ``0003``, ``0003 (2)``),
    never taking a label another photo has: ``plot``, ``plot``, ``plot (2)`` (a copy as Windows names it) ->
    ``plot``, ``plot (3)``, ``plot (2)``."""
    taken = set(labels)
    out = []
    for label in labels:
        if label in out:
            n = 2
            while f"{label} ({n})" in taken:
                n += 1
            label = f"{label} ({n})"
            taken.add(label)
        out.append(label)
    return out


def _with_unit(name: str, area_unit: str) -> str:
    """Area, length and angle columns carry their unit: ``plant_area`` -> ``plant_area_px2``, ``x`` -> ``x_px``,
    ``mean_hue`` -> ``mean_hue_deg``."""
    if name in AREA_COLUMNS:
        return f"{name}_{area_unit}"
    if name in ANGLES:
        return f"{name}_deg"
    return f"{name}_{area_unit[:-1]}" if name in LENGTH_COLUMNS else name


AREA_COLUMNS = ("plant_area", "vegetation_area")
LENGTH_COLUMNS = ("x", "y", "width", "height")


# line styles of the one-chart view: each region's line differs by colour (Okabe-Ito, safe for colour-blind
# readers), by marker and by dash, so no two of 12 lines look alike even where colours are hard to tell apart
LINE_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
LINE_MARKERS = ("o", "s", "^", "D", "v", "P")
MAX_PANELS = 384  # regions drawn a panel each (four 96-pot trays); more: their median and spread over time


def _chart(
    by_id: dict[str, list[dict[str, Any]]],
    key: str,
    path: Path,
    layout: tuple[int, int] | None,
    what: str = "region",
    positions: dict[str, tuple[int, int]] | None = None,
) -> None:
    """Small multiples (one panel per region, shared axes) or, for up to 12 regions, one labelled chart (over
    :data:`MAX_PANELS`: the regions' median and 10-90 % range), over
    days since the first date (photos spaced by time; undated ones are in the tables, not on a time axis).
    Values of a region whose plants the model was mostly unsure of (``model_sure`` under
    :data:`agriseg.crop.traits.regions.CHECK_SURE`) are ringed in magenta: check them; a region empty on
    every date is titled so. ``what``: the word for a region in titles (``plot`` for ``crop plots``)."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # a name in a script the font lacks (field 田地_15) is drawn as boxes; matplotlib's warning of it printed two
    # raw lines with its source paths per picture
    warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from", UserWarning)
    from matplotlib.ticker import MaxNLocator

    days = sorted({r["date"] for rows in by_id.values() for r in rows if r.get("date")})
    start = days[0] if days else ""

    def x(r: dict[str, Any]) -> float:
        return _days(start, r["date"]) or 0.0  # None: the first date itself

    def series(rows: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
        rows = [r for r in rows if r.get("date")]
        return [x(r) for r in rows], [float("nan") if r.get(key) in (None, "") else float(r[key]) for r in rows]

    def unsure(rows: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
        rows = [r for r in rows if r.get("date") and needs_check(r)]
        return series(rows)

    def ring(ax: Any, rows: list[dict[str, Any]], size: float, width: float) -> None:
        xs, ys = unsure(rows)
        if xs:  # an empty scatter still rescales every shared panel (0.15 s each of 100)
            ax.scatter(xs, ys, s=size, linewidths=width, marker="o", facecolors="none", edgecolors="magenta")

    def title(rid: str, rows: list[dict[str, Any]]) -> str:
        if rows and all(r.get("status") == "empty" for r in rows):
            return f"{rid} (empty)"
        # a plot outside every mosaic: named in the legend with no line, it read as a drawing error
        return f"{rid} (no data)" if rows and all(v != v for v in series(rows)[1]) else rid

    flagged = any(unsure(rows)[0] for rows in by_id.values())
    note = " (ringed: model unsure, check)" if flagged else ""
    undated = len({r["_label"] for rows in by_id.values() for r in rows if not r.get("date")})
    note += f"; {undated} undated photo{'s' * (undated > 1)} in the tables only" if undated else ""
    span = f"dates {days[0]} .. {days[-1]}" if days else "no dates"
    xlabel = f"days since {start}"

    n = len(by_id)
    heading = f"{key} per {what} ({n}), {span}{note}"
    if n <= 12:
        fig, ax = plt.subplots(figsize=(8.5, 4), dpi=120)
        for i, (rid, rows) in enumerate(by_id.items()):
            colour, marker, dash = LINE_COLOURS[i % 8], LINE_MARKERS[i % 6], "-" if i < 8 else "--"
            ax.plot(*series(rows), lw=1.2, ms=4, label=title(rid, rows), color=colour, marker=marker, ls=dash)
            ring(ax, rows, 110, 1.5)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(key)
        ax.set_title(textwrap.fill(heading, 80), fontsize=9)  # a long title wraps, never cut at the edges
        # beside the chart, never over a line
        ax.legend(title=what, fontsize=7, ncols=2 if n > 6 else 1, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
    elif n > MAX_PANELS:  # a panel each: 6,000 were a 115-megapixel picture, 8 minutes and 3.4 GB to draw
        import numpy as np

        at: dict[float, list[float]] = {}
        for rows in by_id.values():
            for d, v in zip(*series(rows), strict=True):
                if v == v:  # not NaN
                    at.setdefault(d, []).append(v)
        xs = sorted(at)
        q = np.array([np.percentile(at[d], (10, 50, 90)) for d in xs]).reshape(-1, 3)  # (dates, 3)
        fig, ax = plt.subplots(figsize=(8.5, 4), dpi=120)
        ax.fill_between(xs, q[:, 0], q[:, 2], color="tab:green", alpha=0.25, lw=0, label="10-90 % of them")
        ax.plot(xs, q[:, 1], marker="o", ms=4, lw=1.2, color="tab:green", label="median")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(key)
        heading += f": too many for a panel each (the tables hold every {what})"
        if flagged:  # no rings here: how many, and where to look
            n_unsure = sum(bool(unsure(rows)[0]) for rows in by_id.values())
            heading = heading.replace(" (ringed: model unsure, check)", f" ({n_unsure} with values the model was "
                                      "unsure of: see model_sure in growth.csv)")  # fmt: skip
        if not xs:
            ax.text(0.5, 0.5, f"no {key} value on any date", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(textwrap.fill(heading, 80), fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
    else:
        side = math.ceil(math.sqrt(n))
        if positions and set(by_id) <= set(positions):  # regions of a file: where their boxes lie, as pots do
            layout = (max(r for r, _ in positions.values()) + 1, max(c for _, c in positions.values()) + 1)
        rows_, cols = layout if layout and layout[0] * layout[1] >= n else (math.ceil(n / side), side)
        slot = dict(enumerate(by_id))  # row by row, in the order of the regions
        if positions and set(by_id) <= set(positions) and layout == (rows_, cols):
            slot = {r * cols + c: rid for rid, (r, c) in positions.items() if rid in by_id}
        size = (1.3 * cols + 1.0, 1.0 * rows_ + 1.1)
        # the same limits on every panel, set by hand: shared axes cost n x n when drawn (7 s for 100 panels)
        values = [v for rows in by_id.values() for v in series(rows)[1] if v == v]  # v == v: not NaN
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        pad = 0.08 * (hi - lo) or 0.5
        last = x({"date": days[-1]}) if days else 0.0
        xpad = 0.08 * last or 0.5
        fig, axes = plt.subplots(rows_, cols, figsize=size, dpi=120, squeeze=False)
        for i, ax in enumerate(axes.ravel()):
            if i not in slot:
                ax.set_visible(False)
                continue
            rid = slot[i]
            rows = by_id[rid]
            ax.plot(*series(rows), marker=".", lw=1, color="tab:green")
            ring(ax, rows, 30, 1)
            name = title(rid, rows)
            ax.set_title(name, fontsize=7, pad=2, color="grey" if name != rid else "black")
            ax.tick_params(labelsize=5, length=2)
            ax.set_xlim(-xpad, last + xpad)
            ax.set_ylim(lo - pad, hi + pad)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))  # a few ticks: labels never overlap
            if any(j in slot for j in range(i + cols, rows_ * cols, cols)):
                ax.tick_params(labelbottom=False)  # labels under each column's last panel
            if any(j in slot for j in range(i - i % cols, i)):
                ax.tick_params(labelleft=False)  # and beside each row's first
        fig.suptitle(textwrap.fill(heading, int(12 * size[0])), fontsize=9)
        fig.supxlabel(xlabel, fontsize=8)
        fig.supylabel(key, fontsize=8, x=0.1 / size[0])
        # margins in inches, set by hand: tight_layout ignores the figure's own labels (the y label sat on the
        # left panels' ticks) and took 4 s for 96 panels
        w, h = size
        fig.subplots_adjust(left=0.55 / w, right=1 - 0.1 / w, bottom=0.5 / h, top=1 - 0.55 / h, wspace=0.12,
                            hspace=0.45)  # fmt: skip
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
