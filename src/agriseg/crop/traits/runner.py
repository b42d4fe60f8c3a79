"""``agriseg crop traits``: measure photos or masks, write per-image JSON, debug images and the tables.

Outputs in the output folder, each written atomically:

- ``<name>_traits.json``: the record of one image (metadata, image traits, plants, regions);
- ``<name>_plants.png``: the debug image (plants with their ids, regions);
- ``traits.csv``: long format, one row per image / plant / region and trait
  (``file, <metadata fields>, level, id, trait, value, unit``);
- ``traits.json``: the settings and every record, failed ones with their error.

An image whose ``<name>_traits.json`` exists is not measured again unless ``overwrite`` (a re-run resumes);
a bad image is recorded with its error and the batch goes on unless ``strict``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from agriseg.crop.config import TraitsConfig
from agriseg.crop.traits.debug import debug_image
from agriseg.crop.traits.gai import green_area_index
from agriseg.crop.traits.inputs import Item as Pair
from agriseg.crop.traits.inputs import ModelSegmenter, pair_inputs, read_item
from agriseg.crop.traits.meta import parse_name
from agriseg.crop.traits.plants import SHAPE_TRAITS, colour_traits, label_plants, plant_traits
from agriseg.crop.traits.regions import Region, grid_regions, parse_grid, read_regions, region_traits
from agriseg.crop.traits.units import parse_box, reference_scale, unit_names
from agriseg.data.files import atomic_write, write_json
from agriseg.data.io import list_images

if TYPE_CHECKING:
    from agriseg.batch import BatchResult

# image-level trait -> dimension (0 none, 1 length, 2 area, -2 per area)
IMAGE_TRAITS: dict[str, int] = {
    "width": 0,
    "height": 0,
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
}
REGION_TRAITS: dict[str, int] = {"green_fraction": 0, "plant_count": 0, "plant_area": 2}
CSV_FIELDS = ["file", "level", "id", "trait", "value", "unit", "quality"]


@dataclass
class Measurement:
    """Everything measured on one image."""

    image: dict[str, Any]
    plants: list[dict[str, Any]]
    regions: list[dict[str, Any]]
    labels: np.ndarray = field(repr=False)
    rects: list[Region] = field(default_factory=list, repr=False)


def image_scale(rgb: np.ndarray | None, config: TraitsConfig, path: Path) -> float | None:
    """Pixels per millimetre of one image: ``px_per_mm``, a reference object, or None (pixels)."""
    if config.px_per_mm:
        return config.px_per_mm
    if config.reference_box and config.reference_mm:
        if rgb is None:
            raise ValueError(f"{path}: a reference object needs the photo, only a mask was given")
        try:
            return reference_scale(rgb, parse_box(config.reference_box), config.reference_mm)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
    return None


def measure(
    classes: np.ndarray,
    rgb: np.ndarray | None,
    config: TraitsConfig,
    px_per_mm: float | None = None,
    crop_weed: bool = False,
) -> Measurement:
    """Measure one image.

    Args:
        classes: uint8 class ids ``(H, W)``: 0 background, > 0 vegetation (1 crop, 2 weed when ``crop_weed``).
        rgb: the photo ``(H, W, 3)`` for colour traits, or None.
        config: settings (plant size, splitting, GAI angles, regions).
        px_per_mm: scale (None: pixels).
        crop_weed: the classes are crop / weed, so their fractions are reported.
    """
    veg = classes > 0
    h, w = veg.shape
    gf = float(veg.mean())
    gai = green_area_index(gf, config.zenith, config.leaf_projection)
    labels = label_plants(veg, config.min_plant_size, config.split_depth)
    plants = plant_traits(labels, rgb, px_per_mm)
    s2 = (px_per_mm or 1.0) ** 2
    image: dict[str, Any] = {
        "width": w,
        "height": h,
        "green_fraction": gf,
        "gap_fraction": 1.0 - gf,
        "green_area_index": gai.value,
        "gai_saturated": gai.saturated,
        "vegetation_area": float(veg.sum()) / s2,
        "plant_count": len(plants),
        # plants per m2 (mm units) or per megapixel (pixel units)
        "plant_density": len(plants) / (h * w / s2 / 1e6),
        "px_per_mm": px_per_mm,
    }
    if crop_weed:
        image["crop_fraction"] = float((classes == 1).mean())
        image["weed_fraction"] = float((classes == 2).mean())
    if rgb is not None and veg.any():
        image.update(colour_traits(rgb[veg]))
    rects: list[Region] = []
    if config.regions:
        rects = read_regions(config.regions)
    elif config.grid:
        rects = grid_regions(labels, *parse_grid(config.grid))
    regions = region_traits(rects, veg, plants, px_per_mm) if rects else []
    return Measurement(image, plants, regions, labels, rects)


ANGLES = ("ellipse_angle", "mean_hue")  # in degrees


def _unit(dim: int, px_per_mm: float | None, trait: str = "") -> str:
    if trait in ANGLES:
        return "deg"
    if dim == -2:
        return "1/m2" if px_per_mm else "1/Mpx"
    return unit_names(px_per_mm)[dim]


def long_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The long-format CSV rows of one record (image, plant and region traits)."""
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
    for level, items, dims in (("plant", record["plants"], SHAPE_TRAITS), ("region", record["regions"], REGION_TRAITS)):
        for it in items:
            for k, v in it.items():
                if k != "id":
                    rows.append(
                        {
                            **base,
                            "level": level,
                            "id": it["id"],
                            "trait": k,
                            "value": v,
                            "unit": _unit(dims.get(k, 0), s, k),
                        }
                    )
    for r in rows:
        if isinstance(r["value"], bool):
            r["value"] = int(r["value"])
        elif r["value"] is None:
            r["value"] = ""
    return rows


def measure_item(
    item: Pair, config: TraitsConfig, segment: Callable[[np.ndarray], tuple[np.ndarray, bool]]
) -> tuple[dict[str, Any], Measurement, np.ndarray | None]:
    """Read (and segment, for a photo without a mask) one item and measure it -> (record, measurement, photo)."""
    from agriseg.crop.quality import photo_quality

    meta = parse_name(item.path, config.meta, item.name) if config.meta else {}
    classes, rgb = read_item(item)
    if classes is None:
        assert rgb is not None
        classes, crop_weed = segment(rgb)
    else:
        crop_weed = item.mask is not None and item.mask.stem.endswith("_classes")
    scale = image_scale(rgb, config, item.path)
    m = measure(classes, rgb, config, scale, crop_weed)
    record = {
        "file": str(item.path),
        "name": item.name,
        "photo": str(item.photo) if item.photo else None,
        "mask": str(item.mask) if item.mask else "model " + config.model_name,
        "status": "ok",
        "quality": photo_quality(rgb) if rgb is not None else "",  # a mask alone is not checked
        "meta": meta,
        "image": m.image,
        "plants": m.plants,
        "regions": m.regions,
    }
    return record, m, rgb


# agriseg's version of what crop traits writes from an image and options (part of every fingerprint)
ALGORITHM = "1"


def run_traits(
    paths: list[str | Path],
    outdir: str | Path,
    config: TraitsConfig,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
) -> BatchResult:
    """Measure every photo / mask under ``paths`` and write the outputs (see the module docstring).

    The images go through :func:`agriseg.batch.run_batch` (skip / resume, strict, counts).

    Returns:
        One record per image, ``status`` ``ok``, ``skipped`` (measured before) or ``error`` (with ``error``).
    """
    from agriseg.batch import BatchOptions, Item, run_batch
    from agriseg.fingerprint import Recipe

    outdir = Path(outdir)
    files = list_images(list(paths))
    pairs = pair_inputs(files)  # our own debug images (_plants) are never inputs
    if config.regions:
        read_regions(config.regions)  # a bad regions file stops the batch before it starts
    if config.grid:
        parse_grid(config.grid)
    if not pairs:
        raise ValueError(f"{paths[0]}: no photos or masks to measure")
    model = None
    if any(p.mask is None for p in pairs):  # photos to segment: a missing model stops the batch at once
        from agriseg.config import OptionError
        from agriseg.models.io import ModelLoadError, resolve

        try:
            model = resolve(config.model_name)
        except (FileNotFoundError, ModelLoadError) as err:  # a usage error (exit 2), said once
            raise OptionError(f"--model {err}") from None
    segment = ModelSegmenter(config.model_name)
    items = [
        Item(
            p.name,
            p.path,
            (outdir / f"{p.name}_plants.png", outdir / f"{p.name}_traits.json"),
            tuple(f for f in (p.photo, p.mask) if f is not None),
            payload=p,
        )
        for p in pairs
    ]
    options = config.model_dump(exclude={"model_name", "regions", "photos"})
    recipe = Recipe("crop traits", ALGORITHM, options, model, [config.regions] if config.regions else [])

    def work(item: Item) -> dict[str, Any]:
        rec, m, rgb = measure_item(item.payload, config, segment)
        with atomic_write(item.outputs[0]) as tmp:
            Image.fromarray(debug_image(m.labels, rgb, m.plants, m.rects, m.image["px_per_mm"])).save(tmp)
        write_json(item.outputs[1], rec)  # written last: its presence marks the image done
        return rec

    def resume(item: Item) -> dict[str, Any] | None:
        try:
            return {**json.loads(item.outputs[1].read_text()), "status": "skipped"}
        except (OSError, ValueError):
            return None

    result = run_batch(
        items,
        work,
        options=BatchOptions(overwrite, strict, progress, "traits", "img"),
        recipe=recipe,
        resume=resume,
        failed=lambda it, msg: {"file": str(it.source), "name": it.name, "status": "error", "error": msg},
    )
    write_tables(list(result), outdir, config)
    return result


def write_tables(records: list[dict[str, Any]], outdir: Path, config: TraitsConfig) -> None:
    """``traits.csv`` (long format) and ``traits.json`` of all records."""
    rows = [r for rec in records if rec["status"] != "error" for r in long_rows(rec)]
    meta_fields = list(dict.fromkeys(k for rec in records for k in rec.get("meta", {})))
    fields = CSV_FIELDS[:1] + meta_fields + CSV_FIELDS[1:]
    with atomic_write(outdir / "traits.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    write_json(outdir / "traits.json", {"settings": config.model_dump(), "images": records})
