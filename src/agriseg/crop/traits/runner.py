"""``agriseg crop traits``: measure photos or masks, write per-image JSON, debug images and the tables.

Outputs in the output folder, each written atomically:

- ``<name>_traits.json``: the record of one image (metadata, image traits, plants, regions);
- ``<name>_plants.png``: the debug image (plants with their ids, regions);
- ``<name>_mask.png``: the vegetation mask the traits were measured on (0 / 255);
- ``traits.csv``: long format, one row per image / plant / region and trait
  (``file, <metadata fields>, level, id, region, trait, value, unit``);
- ``traits.json``: the settings and every record, failed ones with their error;
- with regions and two or more dated images (by their names, else by their EXIF dates): ``growth.csv``,
  ``growth_wide.csv`` and ``growth.png`` (:func:`agriseg.crop.traits.growth.write_growth`).

With regions (``--grid`` / ``--regions``), plants are tied to them: every plant row names its region, and
plant ids are ``<region>.<k>``, ``k`` counting the region's plants top to bottom, so pot 5's plant is ``5.1``
on every date; objects outside every region (markers, labels, a neighbour's plant) are not plants of the
tray, only counted (``objects_outside_regions``). All lengths and areas of a file are in one
unit system (px or, with a scale, mm), and values are rounded to 6 significant digits.

An image whose ``<name>_traits.json`` exists is not measured again unless ``overwrite`` (a re-run resumes);
a bad image is recorded with its error and the batch goes on unless ``strict``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from agriseg.batch import (
    BatchOptions,
    batch_keywords,
    counted,
    edited_inputs,
    edited_reason,
    listed,
    measured_now,
    outputs_stand,
)
from agriseg.crop.config import TraitsConfig
from agriseg.crop.quality import MODEL_CROPS, other_crop, photo_quality
from agriseg.crop.traits.checks import region_warnings
from agriseg.crop.traits.debug import debug_image
from agriseg.crop.traits.gai import green_area_index
from agriseg.crop.traits.growth import GROWTH_TABLES, failed_dates_note, write_growth
from agriseg.crop.traits.inputs import Item as Pair
from agriseg.crop.traits.inputs import (
    ModelSegmenter,
    Segmentation,
    mask_reading_rules,
    one_band_mask,
    one_band_notes,
    one_band_rule,
    pair_inputs,
    read_item,
    read_one_band_mask,
)
from agriseg.crop.traits.meta import (
    DATE_FORMS,
    check_template,
    dotted_date,
    exif_date,
    file_date,
    looks_dated,
    meta_date,
    name_date,
    parse_name,
)
from agriseg.crop.traits.plants import (
    EDGE_STRIP,
    SHAPE_TRAITS,
    colour_traits,
    drop_edge_strips,
    label_plants,
    plant_traits,
)
from agriseg.crop.traits.regions import (
    Region,
    assign_plants,
    detect_pots,
    detect_tray,
    grid_regions,
    needs_check,
    overlaps,
    parse_grid,
    read_regions,
    region_positions,
    region_status,
    region_traits,
)
from agriseg.crop.traits.units import ANGLES, parse_box, reference_scale, table_cell, tidy, unit_names
from agriseg.data.files import TABLE_ERRORS, atomic_write, atomic_writes, write_json
from agriseg.data.io import NoInputError, PathsLike, as_paths, list_images_once, photo_reading_rules
from agriseg.manifest import seal_tables

if TYPE_CHECKING:
    from agriseg.batch import BatchResult

# image-level trait -> dimension (0 none, 1 length, 2 area, -2 per area)
IMAGE_TRAITS: dict[str, int] = {
    "width": 1,
    "height": 1,
    "green_fraction": 0,
    "gap_fraction": 0,
    "green_area_index": 0,
    "gai_saturated": 0,
    "crop_fraction": 0,
    "weed_fraction": 0,
    "vegetation_area": 2,
    "plant_count": 0,
    "plant_density": -2,
    "px_per_mm": 0,
    "model_sure": 0,
}
REGION_TRAITS: dict[str, int] = {
    "plant_area": 2,
    "vegetation_area": 2,
    "x": 1,
    "y": 1,
    "width": 1,
    "height": 1,
}
CSV_FIELDS = ["file", "level", "id", "region", "trait", "value", "unit", "quality"]


@dataclass
class Measurement:
    """Everything measured on one image."""

    image: dict[str, Any]
    plants: list[dict[str, Any]]
    regions: list[dict[str, Any]]
    labels: np.ndarray = field(repr=False)
    vegetation: np.ndarray = field(repr=False)
    rects: list[Region] = field(default_factory=list, repr=False)
    warnings: list[str] = field(default_factory=list)
    box: tuple[int, int, int, int] | None = None  # the box the grid spans (px)


def own_outputs(outdir: Path) -> set[Path]:
    """The files an earlier ``crop traits`` run wrote into ``outdir`` (its manifest's items with a
    ``_traits.json``, and ``growth.png``): with ``-o`` the input folder, a re-run must not measure them."""
    from agriseg.manifest import own_table, recorded_outputs

    recorded = recorded_outputs(outdir, COMMAND)
    own = {(outdir / o).resolve() for outs in recorded.values() if any(o.endswith("_traits.json") for o in outs)
           for o in outs}  # fmt: skip
    chart = outdir / "growth.png"  # the chart, when agriseg stamped it so (a photo called growth.png is a photo)
    return own | {chart.resolve()} if own and own_table(chart) else own


def read_regions_option(path: str, option: str) -> list[Any]:
    """:func:`read_regions` of a file named by an option: a bad file is a usage error (exit 2) naming it."""
    from agriseg.config import OptionError

    try:
        return read_regions(path)
    except ValueError as err:
        raise OptionError(f"{option}: {err}") from None


def check_scale_options(config: TraitsConfig) -> None:
    """Refuse scale and region options that contradict each other or lack their partner (one line naming them,
    exit status 2), from the command line and from Python alike."""
    from agriseg.config import OptionError

    if (config.reference_box is None) != (config.reference_mm is None):
        raise OptionError("--reference-box and --reference-mm go together")
    if config.grid and config.regions:
        raise OptionError("use --grid or --regions, not both")
    if config.grid_box and not config.grid:
        raise OptionError("--grid-box goes with --grid")
    if config.px_per_mm and (config.reference_box or config.reference_mm):
        raise OptionError("--px-per-mm and --reference-box/--reference-mm both set the scale: give one of them")
    if config.reference_box:
        try:
            parse_box(config.reference_box)
        except ValueError as err:
            raise OptionError(f"--reference-box: {err}") from None


def image_scale(
    rgb: np.ndarray | None, config: TraitsConfig, path: Path, warnings: list[str] | None = None
) -> float | None:
    """Pixels per millimetre of one image: ``px_per_mm``, a reference object, or None (pixels); what the reference
    object leaves in doubt goes into ``warnings``."""
    if config.px_per_mm:
        return config.px_per_mm
    if config.reference_box and config.reference_mm:
        if rgb is None:
            raise ValueError(f"{path}: a reference object needs the photo, only a mask was given")
        try:
            return reference_scale(rgb, parse_box(config.reference_box), config.reference_mm, warnings)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
    if warnings is not None and (said := _ground_pixel(path)):
        warnings.append(said)
    return None


def _ground_pixel(path: Path) -> str:
    """What to give for areas in real units, of a mosaic georeferenced on a grid of square ground pixels whose
    areas come out in pixels (a 0.005 m drone mosaic measured 633,712 px2, no word; session 108's sweep); "" for
    any other image. The pixel's ground size is :func:`agriseg.raster.io.pixel_area_m2`'s (a Web Mercator grid's
    scale and a geographic grid's latitude taken in). The scale is not taken from the file: a photo's mm and a
    mosaic's ground metres are other measures."""
    from agriseg.raster.image import is_geo_image, open_plain_or_geo, rasterio_or_none
    from agriseg.raster.io import ground_sides_m, pixel_area_m2

    rio = rasterio_or_none() if is_geo_image(path) else None
    if rio is None:
        return ""
    try:
        with open_plain_or_geo(rio, path) as ds:
            crs, t, h, w = ds.crs, ds.transform, ds.height, ds.width
        if crs is None or t.b or t.d:  # no place, or a turned grid: no one number
            return ""
        if crs.is_geographic:
            across, down = ground_sides_m(crs, t, h, w)
            square = abs(across - down) <= 0.01 * max(across, down)
        else:
            square = abs(abs(t.a) - abs(t.e)) <= 1e-9 * abs(t.a)
        side = pixel_area_m2(crs, t, h, w) ** 0.5
    except Exception:  # noqa: BLE001 - read as a photo a moment ago: its georeference is only a hint
        return ""
    if not square or not side:
        return ""
    return (f"a mosaic georeferenced at {side:.3g} m a pixel, measured in pixels: --px-per-mm "
            f"{1 / (side * 1000):.3g} gives mm and mm2 (crop plots measures plots of it in m2)")  # fmt: skip


def measure(
    classes: np.ndarray,
    rgb: np.ndarray | None,
    config: TraitsConfig,
    px_per_mm: float | None = None,
    crop_weed: bool = False,
    sure: np.ndarray | None = None,
) -> Measurement:
    """Measure one image.

    Args:
        classes: uint8 class ids ``(H, W)``: 0 background, > 0 vegetation (1 crop, 2 weed when ``crop_weed``).
        rgb: the photo ``(H, W, 3)`` for colour traits, or None.
        config: settings (plant size, splitting, GAI angles, regions).
        px_per_mm: scale (None: pixels).
        crop_weed: the classes are crop / weed, so their fractions are reported.
        sure: ``(H, W)`` bool, the pixels whose vegetation the model was sure of (None: a mask from a file):
            the image, each plant and each region get ``model_sure``, and regions whose plants the model was
            mostly unsure of are named in a warning (:data:`CHECK_SURE`).
    """
    veg = classes > 0
    h, w = veg.shape
    if rgb is not None:  # once per photo: a float or 16-bit photo's range is read from all of it
        from agriseg.data.io import as_rgb

        rgb = as_rgb(rgb)
    gf = float(veg.mean())
    gai = green_area_index(gf, config.zenith, config.leaf_projection)
    rects, box, warnings = measured_regions(config, rgb, veg)
    if rgb is not None and (flags := photo_quality(rgb)):  # a blank frame is said as one, not as a grey photo
        if flags.startswith("greyscale"):  # its only flag
            warnings.append("a greyscale photo: vegetation is found by its colour, so this mask and its traits mean "
                            "little")  # fmt: skip
        else:
            warnings.append(f"a photo not to trust ({flags}): its mask and traits mean little")
    group = _region_of_components(rects) if rects else None
    labels = label_plants(veg, config.min_plant_size, config.split_depth, config.join if rects else 0, group)
    labels = drop_edge_strips(labels, EDGE_STRIP)
    plants = plant_traits(labels, rgb, px_per_mm, sure)
    s2 = (px_per_mm or 1.0) ** 2
    image: dict[str, Any] = {
        "width": w / px_per_mm if px_per_mm else w,  # px: whole numbers (960, not 960.0)
        "height": h / px_per_mm if px_per_mm else h,
        "green_fraction": gf,
        "gap_fraction": 1.0 - gf,
        "green_area_index": gai.value,
        "gai_saturated": gai.saturated,
        "vegetation_area": float(veg.sum()) / s2 if px_per_mm else int(veg.sum()),
        "plant_count": len(plants),
        # plants per m2 (mm units) or per megapixel (pixel units)
        "plant_density": len(plants) / (h * w / s2 / 1e6),
        "px_per_mm": px_per_mm,
    }
    if sure is not None:
        from agriseg.crop.predict import model_sure

        image["model_sure"] = model_sure(classes, sure)
    if crop_weed:
        image["crop_fraction"] = float((classes == 1).mean())
        image["weed_fraction"] = float((classes == 2).mean())
    if rgb is not None and veg.any():
        image.update(colour_traits(rgb[veg]))
    regions: list[dict[str, Any]] = []
    if rects:
        plants, labels, outside = tie_plants(rects, plants, labels, px_per_mm)
        image["plant_count"] = len(plants)
        image["plant_density"] = len(plants) / (h * w / s2 / 1e6)
        image["objects_outside_regions"] = outside
        gai_of = lambda f: green_area_index(f, config.zenith, config.leaf_projection)  # noqa: E731
        regions = region_traits(rects, veg, plants, px_per_mm, rgb, gai_of)
        whole = box == (0, 0, w, h) and not config.grid_box  # no tray found: the grid laid over the whole photo
        warnings += region_warnings(config, rects, regions, plants, labels, None if whole else box)
    return Measurement(image, plants, regions, labels, veg, rects, warnings, box)


def _region_of_components(rects: list[Region]) -> Callable[[np.ndarray], np.ndarray]:
    """component labels -> the region (1-based, 0 none) holding each component's centroid, by label."""

    def group(comps: np.ndarray) -> np.ndarray:
        from scipy import ndimage

        n = int(comps.max())
        cents = ndimage.center_of_mass(comps > 0, comps, range(1, n + 1))
        out = np.zeros(n + 1, np.int64)
        for i, (cy, cx) in enumerate(cents, start=1):
            out[i] = next(
                (k for k, r in enumerate(rects, 1) if r.x <= cx < r.x + r.width and r.y <= cy < r.y + r.height), 0
            )
        return out

    return group


def measured_regions(
    config: TraitsConfig, rgb: np.ndarray | None, vegetation: np.ndarray
) -> tuple[list[Region], tuple[int, int, int, int] | None, list[str]]:
    """The regions of one image (``--regions``, or ``--grid`` over the tray), the grid's box, and warnings.

    The grid spans ``--grid-box``, else the tray found in the photo (:func:`detect_tray`), else the layout of its
    pots (:func:`detect_pots`, for a tray of the mat's own colour), else (no photo, or neither stands out) the
    whole image, with a warning. Regions partly or wholly outside the image warn.
    """
    h, w = vegetation.shape
    warnings: list[str] = []
    box = None
    if config.regions:
        rects = read_regions(config.regions)
    elif config.grid:
        rows, cols = parse_grid(config.grid)
        if config.grid_box:
            box = parse_box(config.grid_box)
            if box[0] >= w or box[1] >= h or box[0] + box[2] <= 0 or box[1] + box[3] <= 0:
                raise ValueError(f"--grid-box {config.grid_box} lies wholly outside the {w}x{h} image")
        elif rgb is not None:
            box = detect_tray(rgb, vegetation) or detect_pots(rgb, rows, cols, vegetation)
        if box is None:
            box = (0, 0, w, h)
            why = "no photo"
            if rgb is not None:
                why = f"no tray or {config.grid} layout of pots stands out from the background"
            warnings.append(f"{why}: the {config.grid} grid spans the whole image (give --grid-box X,Y,W,H)")
        if rows > box[3] or cols > box[2]:
            raise ValueError(
                f"the {config.grid} grid over a {box[2]}x{box[3]} px box gives cells under 1 px "
                "(fewer rows and columns, or a larger --grid-box)"
            )
        cell_w, cell_h = box[2] / cols, box[3] / rows
        if cell_w * cell_h < config.min_plant_size:  # --grid 300x600 for 3x6: 180,000 empty cells, exit 0
            raise ValueError(
                f"the {config.grid} grid over a {box[2]}x{box[3]} px box gives cells of {cell_w:.1f}x{cell_h:.1f} "
                f"px, smaller than a plant (--min-plant-size {config.min_plant_size} px): is it the tray's rows x "
                "columns of pots?"
            )
        rects = grid_regions(box, rows, cols)
    else:
        return [], None, []
    off: dict[str, list[str]] = {}  # "outside" / "partly outside" -> region ids
    for r in rects:
        where = region_status(r, (h, w))
        if where != "inside":
            off.setdefault(where, []).append(r.id)
    if rects and len(off.get("outside", [])) == len(rects):  # nothing measured: no row of numbers to trust
        raise ValueError(
            f"every region of {config.regions or '--grid'} lies outside the {w}x{h} image (boxes in the pixels of "
            "another size of the photo?)"
        )
    for where, ids in off.items():  # one line per kind, however many regions
        shown = listed(ids, 5)
        what = f"region {ids[0]} is" if len(ids) == 1 else f"regions {shown} are"
        warnings.append(f"{what} {where} the {w}x{h} image")
    return rects, box, warnings


def with_photos_of(pairs: list[Pair], folder: str | None) -> list[Pair]:
    """Masks given without their photo get the photo of their name in ``folder`` (``photos`` of the config: the
    photos they were predicted from), for the colour traits.

    Raises:
        OptionError: ``folder`` is not a folder.
    """
    if folder is None:
        return pairs
    from agriseg.config import OptionError
    from agriseg.data.io import IMAGE_SUFFIXES

    if not Path(folder).is_dir():
        raise OptionError(f"photos: {folder} is not a folder (the photos the masks were predicted from)")
    found: dict[str, Path] = {}
    for f in sorted(Path(folder).iterdir()):
        if f.suffix.lower() in IMAGE_SUFFIXES:
            found.setdefault(f.stem, f)
    out = [
        Pair(p.name, found[p.stem], p.mask) if p.photo is None and p.mask is not None and p.stem in found else p
        for p in pairs
    ]
    if alone := [p.path.name for p in out if p.photo is None and p.mask is not None]:
        import logging

        logging.getLogger("agriseg").warning(
            "photos %s: no photo named as %s (measured without colour traits)", folder, listed(alone, 3)
        )
    return out


def tie_plants(
    rects: list[Region], plants: list[dict[str, Any]], labels: np.ndarray, px_per_mm: float | None
) -> tuple[list[dict[str, Any]], np.ndarray, int]:
    """Plants with their ``region``, ordered by region then top to bottom (then left to right), with ids
    ``<region>.<k>``, and the labels renumbered in that order. Objects outside every region (a marker or a
    label on the mat, a neighbour's plant) are not plants of the tray: they are left out and counted.

    Returns:
        (plants, labels, objects outside every region).
    """
    where = assign_plants(rects, plants, px_per_mm)
    rank = {r.id: i for i, r in enumerate(rects)}
    inside = [i for i in range(len(plants)) if where[i]]
    order = sorted(inside, key=lambda i: (rank[where[i]], plants[i]["centroid_y"], plants[i]["centroid_x"]))
    lut = np.zeros(int(labels.max()) + 1, np.int32)
    out, seen = [], dict.fromkeys(rank, 0)
    for new, i in enumerate(order, start=1):
        reg = where[i]
        seen[reg] += 1
        lut[plants[i]["id"]] = new
        rest = {k: v for k, v in plants[i].items() if k != "id"}
        out.append({"id": f"{reg}.{seen[reg]}", "region": reg, **rest})
    return out, lut[labels], len(plants) - len(inside)


def _unit(dim: int, px_per_mm: float | None, trait: str = "") -> str:
    if trait in ANGLES:
        return "deg"
    if trait == "px_per_mm":
        return "px/mm"
    if dim == -2:
        return "1/m2" if px_per_mm else "1/Mpx"
    return unit_names(px_per_mm)[dim]


def long_rows(record: dict[str, Any], named: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The long-format CSV rows of one record (image, plant and region traits); a plant's or region's rows carry
    the regions CSV's own columns of its region, under the names ``named`` gives them (:func:`own_column_names`)."""
    base = {"file": record["file"], "quality": record.get("quality", ""), **record.get("meta", {})}
    s = record["image"].get("px_per_mm")
    rows = []
    for k, v in record["image"].items():
        rows.append(
            {
                **base,
                "level": "image",
                "id": record["name"],
                "trait": k,
                "value": v,
                "unit": _unit(IMAGE_TRAITS.get(k, 0), s, k),
            }
        )
    own = {str(reg["id"]): reg["columns"] for reg in record["regions"] if "columns" in reg}  # the regions CSV's
    if named is None:  # one record alone: its own columns never over a column of the table or of --meta
        named = own_column_names([record], {*CSV_FIELDS, "date", *record.get("meta", {})})
    for level, items, dims in (("plant", record["plants"], SHAPE_TRAITS), ("region", record["regions"], REGION_TRAITS)):
        for it in items:
            region = it.get("region", it["id"] if level == "region" else "")
            columns = {named.get(k, k): v for k, v in own.get(str(region), {}).items()}
            for k, v in it.items():
                if k not in ("id", "region", "columns"):
                    rows.append(
                        {
                            **base,
                            "level": level,
                            "id": it["id"],
                            "region": region,
                            **columns,
                            "trait": k,
                            "value": v,
                            "unit": _unit(dims.get(k, 0), s, k),
                        }
                    )
    for r in rows:
        r["value"] = table_cell(r["value"])  # as growth.csv writes it: 1 / 0, empty, 37 (not 37.0)
    return rows


def measure_item(
    item: Pair, config: TraitsConfig, segment: Callable[[np.ndarray], Segmentation]
) -> tuple[dict[str, Any], Measurement, np.ndarray | None]:
    """Read (and segment, for a photo without a mask) one item and measure it -> (record, measurement, photo)."""
    meta = parse_name(item.path, config.meta, item.stem) if config.meta else {}
    sure = None  # a mask read from a file says nothing of the model's sureness
    doubts: list[str] = []
    # the cached answer first: a greyscale photo is not decoded twice here (a one-band mask is, to be measured)
    as_mask = item.mask is None and item.photo is not None and one_band_mask(item.photo)
    mask = read_one_band_mask(item.photo) if as_mask and item.photo is not None else None
    classes: np.ndarray | None
    rgb: np.ndarray | None
    if mask is not None and item.photo is not None:  # (H, W) class ids from the file's own values
        classes, rgb = mask, None
        doubts += one_band_notes(item.photo)
    else:
        as_mask = False
        classes, rgb = read_item(item)
    if classes is None:
        assert rgb is not None
        classes, crop_weed, sure = segment(rgb)
        if (working := getattr(segment, "long_side", None)) is not None:  # a panorama of 8640x420 read 39 px high
            from agriseg.crop.predict import enlarged_photo, thin_photo

            doubts += [s for s in (thin_photo(rgb.shape[:2], working, ""), enlarged_photo(rgb.shape[:2], working, ""))
                       if s]  # fmt: skip
    else:
        crop_weed = item.mask is not None and item.mask.stem.endswith("_classes")
    scale = image_scale(rgb, config, item.path, doubts)
    m = measure(classes, rgb, config, scale, crop_weed, sure)
    m.warnings[:0] = doubts
    crop = getattr(segment, "crop", None)
    if item.mask is not None:
        from agriseg.crop.predict import read_model_name, read_model_sure

        if (written := read_model_sure(item.mask)) is not None:
            m.image["model_sure"] = written  # crop predict's value for the photo (plants and pots need the model)
        crop = MODEL_CROPS.get(read_model_name(item.mask) or "")  # the model crop predict recorded in the mask
    if crop_weed and crop:
        m.image["crop"] = crop  # what the model's "crop" class is
        if said := other_crop(crop, m.image["crop_fraction"], m.image["weed_fraction"]):
            m.warnings.append(said)
    record = {
        "file": str(item.path),
        "name": item.name,
        "photo": str(item.photo) if item.photo and not as_mask else None,
        "mask": str(item.mask or item.photo) if item.mask or as_mask else "model " + config.model_name,
        "status": "ok",
        "quality": photo_quality(rgb) if rgb is not None else "",  # a mask alone is not checked
        "meta": meta,
        "date": meta_date(meta)
        or file_date(item.photo or item.path, item.stem)  # as crop plots dates the same photo
        or exif_date(item.photo or item.path),  # a camera's own name (IMG_0001.jpg): when the camera says
        # the file's one unit: mm with a scale, like every other box of the record
        "grid_box": (tidy([v / scale for v in m.box]) if scale else list(m.box)) if m.box else None,
        "warnings": m.warnings,
        "image": tidy(m.image),
        "plants": tidy(m.plants),
        "regions": with_own_columns(tidy(m.regions), m.rects),
    }
    return record, m, rgb


def with_own_columns(regions: list[dict[str, Any]], rects: list[Region]) -> list[dict[str, Any]]:
    """Region rows with the other columns of their row in the regions CSV (genotype, rep...) under
    ``columns``, as the tables then show them beside the traits."""
    own = {r.id: dict(r.extra) for r in rects if r.extra}
    return [{**row, "columns": own[str(row["id"])]} if str(row["id"]) in own else row for row in regions]


def own_column_names(records: list[dict[str, Any]], taken: Collection[str]) -> dict[str, str]:
    """The regions CSV's own column names of ``records`` -> their table column (``<name> (regions file)`` where
    a column of that name is ``taken``)."""
    names = dict.fromkeys(k for rec in records for reg in rec.get("regions", []) for k in reg.get("columns", {}))
    return {k: f"{k} (regions file)" if k in taken else k for k in names}


# agriseg's version of what crop traits writes from an image and options (part of every fingerprint)
# 3: crop predict's outlines re-decided on reduced photos; 4: unsure pixels by colour; 5: half-seen plants;
# 6: object-level steps above the model's background floor; 7: faint stems traced at the photo's size;
# 8: per-object colour decision; 9: grey objects the model was never sure of dropped; 10: model_sure;
# 11: blue and saturated orange / yellow objects the model was never sure of dropped too; 12: half-seen
# plants from 10 colour-decided px; 13: dates as YYYY_MM_DD and times after a date; warnings of a grid laid the
# wrong way round and of a crop / weed model calling most vegetation weed; grid_box in mm with a scale; 14:
# --join by the exact distance between pieces (any direction, gaps of at most --join px), mean hue never 360;
# 15: the --meta field named date before others ending in date, times written 10-00 with no UTC offset, photos
# dated by EXIF where their names give no date; 16: a warning of a grid whose cells do not match its plants' spacing;
# 17: --meta tries every start of a name (a digit run before the date), a date of 8 characters or more, the last
# field anchored to the name's end (date_camera had saved camera "c"); 18: plant ids 1..N after edge strips
ALGORITHM = "18"
COMMAND = "crop traits"  # the command of its fingerprints and manifest records


def _item_rules(p: Any, config: TraitsConfig) -> dict[str, str]:  # noqa: ANN401 - a photo / mask pair
    """A photo's rules that changed its outputs since they came, for its fingerprint: how its pixels are read
    (:func:`photo_reading_rules`), and a date its name gives only as ``15.06.2024`` (undated before)."""
    rules = photo_reading_rules(p.photo) if p.mask is None and p.photo is not None else {}
    if p.mask is not None:
        rules |= mask_reading_rules(p.mask)
    if p.mask is None and p.photo is not None:
        rules |= one_band_rule(p.photo)
    if not config.meta and dotted_date(p.name):
        rules["name date"] = "dotted"
    if not config.meta and name_date(p.name) is None and file_date(p.photo or p.path, p.stem):
        rules["name date"] = "folder"  # dated by its folder (2024-06-01/IMG_0001.jpg); undated before
    if config.meta and p.stem != p.name:
        rules["meta"] = "file name"  # x/a.jpg: --meta reads a (it read the name x_a_jpg before)
    return rules


@batch_keywords
def run_traits(
    paths: PathsLike,
    outdir: str | Path,
    config: TraitsConfig | Mapping[str, Any] | None = None,
    batch: BatchOptions | None = None,
) -> BatchResult:
    """Measure every photo / mask under ``paths`` and write the outputs (see the module docstring).

    ``config``: a :class:`TraitsConfig`, a dict of its fields, or None for the defaults.

    The images go through :func:`agriseg.batch.run_batch` (``batch``: overwrite, strict, progress; skip /
    resume, counts).

    Returns:
        One record per image, ``status`` ``ok``, ``skipped`` (measured before), ``kept`` (measured before with
        other settings and refused: its outputs stand, the refusal in ``error``) or ``error`` (with ``error``).
    """
    from agriseg.batch import Item, drop_tables, run_batch
    from agriseg.config import as_config
    from agriseg.fingerprint import Recipe

    config = as_config(TraitsConfig, config)
    check_scale_options(config)  # options that contradict each other: before any file is read
    outdir = Path(outdir)
    files = list_images_once(paths)  # a file named twice is a usage error, not measured once silently
    from agriseg.manifest import table_owner, table_stamped

    # an earlier run's pictures and charts are never photos: in -o, or in another output folder given as input
    # (a table name claimed by a run but never stamped as written there is a user's file: a photo growth.png)
    own = set().union(*(own_outputs(d) for d in {outdir, *(Path(f).parent for f in files)}))
    left_out = [f for f in files if Path(f).resolve() in own or (table_owner(f) is not None and table_stamped(f))]
    files = [f for f in files if f not in left_out]
    pairs = with_photos_of(pair_inputs(files), config.photos)  # our own debug images (_plants) are never inputs
    overlap = positions = None
    own_columns: dict[str, str] = {}
    if config.regions:  # a bad regions file stops the batch before it starts
        regions = read_regions_option(config.regions, "--regions")
        overlap, positions = overlaps(regions), region_positions(regions)  # positions: the chart's, as a --grid's
        if any(r.extra for r in regions):  # its own columns are in the tables now: not in outputs made before
            own_columns = {"regions file columns": "kept"}
    if config.grid:
        parse_grid(config.grid)
    if config.grid_box:
        parse_box(config.grid_box)
    check_template(config.meta, reserved=CSV_FIELDS)  # a field named like a column: two of one name
    if not pairs:
        given = as_paths(paths)
        if left_out:  # its own mask given back ("no photos or masks to measure" said nothing of why)
            raise NoInputError(f"{left_out[0]}: written by an earlier agriseg run (a mask, picture or table of its "
                               "outputs), not read as an input; give the photo it was made from" + (
                                   f" (and {len(left_out) - 1} more)" if len(left_out) > 1 else ""))  # fmt: skip
        raise NoInputError(f"{given[0]}: no photos or masks to measure" if given else "no photos or masks given")
    segment = ModelSegmenter(config.model_name, config.device)
    to_segment = [p for p in pairs if p.mask is None and (p.photo is None or not one_band_mask(p.photo))]
    model = segment.check() if to_segment else None  # photos to segment (a one-band mask of any name is none)
    if model is None and config.model_name != TraitsConfig.model_fields["model_name"].default:
        from agriseg.config import OptionError  # it would be silently ignored

        raise OptionError(f"--model {config.model_name}: not read, every photo has its mask (no model runs)")
    too_large: dict[Path, str] = {}
    if model is not None:  # a photo too large for the memory fails as an item, as in crop predict (all: refused)
        from agriseg.crop.predict import check_photo_memory
        from agriseg.models.io import LazyModel

        spec = LazyModel(config.model_name, in_channels=3).config
        photos = [p.photo for p in to_segment if p.photo is not None]
        too_large = check_photo_memory(photos, spec.infer_long_side, spec.num_classes, "the model's working size")
    from agriseg.raster.image import sidecar_of

    items = []
    for p in pairs:
        # a GeoTIFF's (or a georeferenced mask's) pictures lie over it in a GIS, as crop predict's do
        geo = next((text for f in (p.photo, p.mask) if f is not None and (text := sidecar_of(f))), "")
        images = (outdir / f"{p.name}_plants.png", outdir / f"{p.name}_mask.png")
        sidecars = tuple(i.with_name(f"{i.name}.aux.xml") for i in images) if geo else ()
        reads = tuple(f for f in (p.photo, p.mask) if f is not None)
        outputs = (*images, outdir / f"{p.name}_traits.json", *sidecars)
        items.append(Item(p.name, p.path, outputs, reads, resolved=_item_rules(p, config) | own_columns,
                          payload=(p, geo), uses_model=p in to_segment))  # fmt: skip
    options = config.model_dump(exclude={"model_name", "regions", "photos"})
    recipe = Recipe(COMMAND, ALGORITHM, options, model, [config.regions] if config.regions else [])

    def work(item: Item) -> dict[str, Any]:
        pair, geo = item.payload
        if pair.photo is not None and Path(pair.photo) in too_large:
            raise ValueError(too_large[Path(pair.photo)])
        rec, m, rgb = measure_item(pair, config, segment)
        plants, mask, record = item.outputs[:3]
        with atomic_writes(item.outputs) as tmp:  # a photo's files take their names together, or none does
            check = {r["id"] for r in m.regions if needs_check(r)}
            picture = debug_image(m.labels, rgb, m.plants, m.rects, m.image["px_per_mm"], check)
            # zlib level 3: half the time of Pillow's default 6 for a picture ~10 % larger (0.04 s vs 0.08 s at 1 MP)
            Image.fromarray(picture).save(tmp[plants], format="PNG", compress_level=3)
            Image.fromarray(m.vegetation.astype(np.uint8) * 255).save(tmp[mask], format="PNG")
            write_json(tmp[record], rec)
            for side in item.outputs[3:]:  # each picture is at the photo's own size: its georeference as it is
                Path(tmp[side]).write_text(geo, encoding="utf-8")
        return rec

    def resume(item: Item) -> dict[str, Any] | None:
        try:
            rec = json.loads(item.outputs[2].read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        regions = rec.get("regions") if isinstance(rec, dict) else None
        if regions and all(r.get("status") == "outside" for r in regions):  # measured nothing (written before
            return None  # such a photo failed): made again, not resumed as measured
        # the files where they are now (moved or copied since: the same content), as a fresh run's tables say them
        pair: Pair = item.payload[0]
        now = {"file": str(item.source), "photo": str(pair.photo) if pair.photo else None}
        if pair.mask is not None:
            now["mask"] = str(pair.mask)
        return {**rec, **now, "status": "skipped"}

    # growth tables need regions: a run without --grid / --regions leaves another command's (crop plots') and a
    # file of yours under their names alone; an earlier traits run's own are this run's tables still (set aside
    # when it begins, as every table it rewrites: an aborted run leaves none describing other outputs)
    from agriseg.manifest import table_edited, table_owner, table_stamped

    def earlier_own(name: str) -> bool:  # as traits wrote it (one edited since is yours now: left alone)
        path = outdir / name
        return path.is_file() and table_owner(path) == "crop traits" and table_stamped(path) and not table_edited(path)

    growth = [n for n in GROWTH_TABLES if config.grid or config.regions or earlier_own(n)]
    tables = [outdir / n for n in ("traits.csv", "traits.json", *growth)]

    def finish(result: BatchResult) -> None:  # run while the folder is still locked
        if overlap:
            result.notes.append(f"warning: {config.regions}: {overlap}")
        if left_out:
            result.notes.append(
                f"({counted(len(left_out), 'file')} written by an earlier agriseg run (pictures, charts) were not "
                "read as inputs)"
            )
        records = list(result)
        # every photo refused or failed: the earlier run's tables still describe the outputs in the folder, which
        # stay; a header-only table would not. Not when an input was edited since (the regions file): the tables
        # held values of a file that is no more, as ok (session 107's sweep); their rows say the refusal
        if records and not measured_now(records) and not edited_inputs(records) and any(t.exists() for t in tables):
            result.notes.append(
                f"the tables in {outdir} are left as an earlier run wrote them: this run measured no photo"
            )
            return  # (without them, traits.json keeps each failure with its error, as always)
        write_tables(records, outdir, config)
        for rec in measured_now(records):  # not a refused photo's warnings of the earlier run (status kept)
            # a mask measured with its photo: the photo is what the warnings are about (a greyscale photo)
            said = rec.get("photo") or rec["file"]
            if rec["status"] == "ok":  # a resumed photo's were said by the run that measured it: one line for them
                result.notes += [f"warning: {said}: {w}" for w in rec.get("warnings", [])]
        if warned := [Path(r.get("photo") or r["file"]).name for r in records
                      if r["status"] == "skipped" and r.get("warnings")]:  # fmt: skip
            result.notes.append(
                f"warning: {counted(len(warned), 'photo')} measured by an earlier run ({listed(warned, 3)}) "
                f"{'has' if len(warned) == 1 else 'have'} warnings, kept in traits.json as that run said them"
            )
        if kept := [Path(r["file"]).name for r in records if r["status"] == "kept"]:
            result.notes.append(
                f"{counted(len(kept), 'photo')} measured with other settings ({listed(kept, 3)}) "
                f"{'is' if len(kept) == 1 else 'are'} listed in traits.json but left out of the tables"
            )
        result.notes += refused_note(records, "photo")
        # undated photos go in after the dated ones, with a warning (growth.write_growth), as in crop plots
        dated = [r for r in measured_now(records) if r.get("regions")]
        if (n_dated := sum(bool(r.get("date")) for r in dated)) < 2:
            # photos of regions over time, as names that look dated say: why no growth tables
            unread = [Path(r["file"]).name for r in dated if not r.get("date") and looks_dated(Path(r["file"]).stem)]
            if len(dated) > 1 and unread:
                result.notes.append(
                    f"warning: no growth tables: {n_dated} of the {len(dated)} photos with regions "
                    f"{'has a date in its name' if n_dated == 1 else 'have a date in their names'} "
                    f"({listed(unread, 3)}: no date read; real days only, a time after them or not: {DATE_FORMS})"
                )
            if config.grid or config.regions:  # a failed date may be why there is one
                result.notes += failed_dates_note(n_dated, records, "photo")
            drop_tables(outdir, GROWTH_TABLES, result.notes, "crop traits", edited_reason(records, "photo"))
        else:
            written = write_growth(
                [(r.get("date") or None, r["file"], r["regions"]) for r in dated],
                outdir,
                "region_id",
                unit_names(dated[0]["image"].get("px_per_mm")),
                layout=parse_grid(config.grid) if config.grid else None,
                notes=result.notes,
                positions=positions,
            )
            chart = "" if len(written) > 2 else ' (growth.png needs matplotlib: pip install "agriseg[geo]")'
            result.notes.append("growth: " + ", ".join(map(str, written)) + chart)
            result.notes += _size_changes(dated) + _other_trays(dated)
            if config.grid and not config.grid_box:
                result.notes += _grid_moves(dated, parse_grid(config.grid))
        seal_tables(tables)  # a later run keeps a table edited by hand

    return run_batch(
        items,
        work,
        options=(batch or BatchOptions()).labelled("traits", "img"),
        recipe=recipe,
        resume=resume,
        failed=lambda it, msg: {"file": str(it.source), "name": it.name, "status": "error", "error": msg},
        tables=tables,
        finish=finish,
    )


def _other_trays(records: list[dict[str, Any]]) -> list[str]:
    """A warning when the photos of one growth table differ in a ``--meta`` field other than their date (``plot``
    A and B): the table follows each region id across all of them, as photos of one tray. A field that differs
    in every photo (a camera's frame counter, ``IMG_0001``) names no tray: a tray is photographed more than once."""
    fields = dict.fromkeys(k for r in records for k in (r.get("meta") or {}) if not k.lower().endswith("date"))
    out = []
    for k in fields:
        values = sorted({str((r.get("meta") or {}).get(k, "")) for r in records})
        if 1 < len(values) < len(records):
            shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
            out.append(
                f"warning: the photos differ in {k} ({shown}): growth.csv follows each region across all of them as "
                f"one tray over dates; measure each {k} into its own output folder"
            )
    return out


def refused_note(records: list[dict[str, Any]], noun: str) -> list[str]:
    """The warning that a run's tables leave out the inputs refused because their earlier outputs stand (made
    from another file, or before an input was edited): none of their values is in a table of this run."""
    refused = [r for r in records if r["status"] == "error" and outputs_stand(r.get("error", ""))]
    if not refused:
        return []
    names = listed([Path(r["file"]).name for r in refused], 3)
    return [f"warning: the tables leave out {counted(len(refused), noun)} whose earlier outputs stand ({names}; "
            "failed, below): --overwrite measures them again"]  # fmt: skip


def _grid_moves(records: list[dict[str, Any]], grid: tuple[int, int]) -> list[str]:
    """A warning when the grid found on some photos of one growth table lies more than half a pot away from
    where it lies on most (the tray not found on one date, so the grid spans the whole photo): their pot ids
    name other pots there, and growth.csv joins them as one."""
    boxes = {}  # where the grid lies as a share of each photo's width and height: photos of two sizes compare
    for r in records:
        size = (r.get("image", {}).get("width"), r.get("image", {}).get("height"))  # the grid box's unit (px, mm)
        if r.get("grid_box") and all(size):
            boxes[r["file"]] = np.array(r["grid_box"], float) / np.array([*size, *size], float)
    if len(boxes) < 2:
        return []
    mid = np.median(np.array(list(boxes.values()), float), axis=0)  # (4,): x, y, w, h
    half = np.array([mid[2] / grid[1], mid[3] / grid[0]] * 2) / 2  # half a cell: x, y, then w, h
    moved = [Path(f).name for f, b in boxes.items() if (np.abs(b - mid) > half).any()]
    if not moved:
        return []
    shown = ", ".join(moved[:3]) + (", ..." if len(moved) > 3 else "")
    where = f"elsewhere on {shown} than on the other photos"
    if len(moved) == len(boxes):  # no photo agrees with most (two photos): none is "the other"
        where = f"in different places on {shown}"
    return [
        f"warning: the {grid[0]}x{grid[1]} grid lies {where}: its pot ids name other pots there, and growth.csv "
        "joins them (give --grid-box X,Y,W,H)"
    ]


def _size_changes(records: list[dict[str, Any]]) -> list[str]:
    """A warning when the photos of one growth table are of different sizes in pixels: regions drawn in pixels
    (a grid, a regions file) then cover other parts of the tray, and areas in px2 other scales."""
    sizes: dict[tuple[Any, Any], list[str]] = {}
    for r in records:  # in pixels, whatever the scale: regions are drawn in pixels
        img = r.get("image", {})
        s = img.get("px_per_mm") or 1.0
        size = (round(img.get("width", 0) * s), round(img.get("height", 0) * s))
        sizes.setdefault(size, []).append(Path(r["file"]).name)
    if len(sizes) < 2:
        return []
    said = "; ".join(f"{w}x{h} px: {', '.join(files)}" for (w, h), files in sizes.items())
    return [
        f"warning: the photos of growth.csv are of {len(sizes)} sizes ({said}): pots and areas compared across "
        "them may not match (photograph the tray at one size, or measure each size into its own folder)"
    ]


def write_tables(records: list[dict[str, Any]], outdir: Path, config: TraitsConfig) -> None:
    """``traits.csv`` (long format) and ``traits.json`` of all records."""
    done = measured_now(records)
    meta_fields = list(dict.fromkeys(k for rec in records for k in rec.get("meta", {})))
    # the date found in a name (no --meta date field): a column too, as growth.csv has it
    dated = any(r.get("date") for r in done) and not any(k.lower().endswith("date") for k in meta_fields)
    named = own_column_names(done, {*CSV_FIELDS, "date", *meta_fields})
    rows = [{**r, "date": rec.get("date") or ""} if dated else r for rec in done for r in long_rows(rec, named)]
    at = CSV_FIELDS.index("region") + 1  # the regions CSV's own columns after the region
    fields = CSV_FIELDS[:1] + ["date"] * dated + meta_fields + CSV_FIELDS[1:at] + list(named.values()) + CSV_FIELDS[at:]
    with (
        atomic_write(outdir / "traits.csv") as tmp,
        open(tmp, "w", newline="", encoding="utf-8", errors=TABLE_ERRORS) as fh,
    ):
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    settings = config.model_dump()
    if not any(str(r.get("mask", "")).startswith("model ") for r in done):  # not an earlier run's kept records
        settings["model_name"] = None  # only masks were measured: no model made them here (each record names its mask)
    write_json(outdir / "traits.json", {"settings": settings, "images": records})
