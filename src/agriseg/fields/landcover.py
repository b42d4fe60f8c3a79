"""Land cover for a scene from a STAC API: ESA WorldCover or the Impact Observatory annual LULC, by name.

``--landcover esa-worldcover`` or ``--landcover io-lulc`` (instead of a file) finds the land-cover items
over a prediction raster's extent in the STAC API (Planetary Computer by default, where both collections
live), reads only the blocks of their COGs that cover the raster (GDAL warped reads with HTTP range
requests: no tile is downloaded whole), reprojects them onto the raster's own grid (nearest neighbour:
classes stay classes) and writes that as ``<stem>_landcover.tif`` next to the fields. The polygon filter
(:mod:`agriseg.vector.landcover`) then keeps the fields whose land-cover pixels are at least
``--landcover-min-fraction`` cropland: class 40 in WorldCover, class 5 ("crops") in IO LULC, unless
``--landcover-keep`` / ``--landcover-drop`` say otherwise.

Which year: the items of the year closest to the imagery's (the raster's latest window datetime; ties go
to the later year), else the newest; the items of that year are mosaicked (the first wins where they
overlap, later ones fill its no-data). WorldCover has 2020 and 2021 maps, IO LULC one map a year.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agriseg.config import OptionError, with_updates


@dataclass(frozen=True)
class LandcoverSource:
    """A land-cover collection of a STAC API."""

    collection: str
    asset: str
    cropland: tuple[int, ...]
    title: str


SOURCES: dict[str, LandcoverSource] = {
    "esa-worldcover": LandcoverSource("esa-worldcover", "map", (40,), "ESA WorldCover 10 m (CC-BY-4.0)"),
    "io-lulc": LandcoverSource("io-lulc-annual-v02", "data", (5,), "Impact Observatory annual LULC 10 m (CC-BY-4.0)"),
}
ALIASES = {"io-lulc-annual-v02": "io-lulc"}


def source_name(value: str | None) -> str | None:
    """The :data:`SOURCES` key ``value`` names (a collection id works too), or None for a file path."""
    if value is None:
        return None
    value = ALIASES.get(value, value)
    return value if value in SOURCES else None


def check_landcover(vcfg: Any) -> None:
    """Check ``--landcover`` before any work: a source name, or a class raster that is there, readable, and has
    classes to keep or drop (the polygon filter would only find out after the whole polygonisation).

    Args:
        vcfg: a :class:`agriseg.vector.config.PolygonizeConfig`.

    Raises:
        FileNotFoundError: no such file (and not a source name).
        OptionError: a folder, or a file without ``--landcover-keep`` / ``--landcover-drop``.
        ValueError: a file that is not a readable raster, or one without CRS.
    """

    if not vcfg.landcover or source_name(vcfg.landcover) is not None:
        return
    path = Path(vcfg.landcover)
    names = " or ".join(SOURCES)
    if not path.exists():
        raise FileNotFoundError(f"--landcover {path}: no such file (give a class raster, or {names})")
    if not path.is_file():
        raise OptionError(f"--landcover {path}: a folder; give a class raster file, or {names}")
    if not vcfg.landcover_keep and not vcfg.landcover_drop:
        raise OptionError(
            f"--landcover {path}: a land-cover raster needs the classes fields may lie on (--landcover-keep, "
            "e.g. 40) or may not (--landcover-drop)"
        )
    import rasterio

    from agriseg.data.io import quiet_rasterio

    try:
        with quiet_rasterio(path), rasterio.open(path) as ds:
            crs = ds.crs
            from agriseg.raster.io import photo_format

            kind = photo_format(ds)
    except rasterio.errors.RasterioIOError as err:
        from agriseg.raster.io import unreadable_raster

        raise OptionError(f"--landcover {unreadable_raster(path, err)}") from err
    if crs is None:
        raise OptionError(f"--landcover {path}: the land-cover raster has no CRS{kind}")


def _year(item: Any) -> int:
    from agriseg.fields.stac import item_datetime

    return item_datetime(item).year


def choose_items(items: list[Any], year: int | None) -> list[Any]:
    """The items of the year closest to ``year`` (ties: the later year; None: the newest year)."""
    years = sorted({_year(i) for i in items})
    best = max(years) if year is None else min(years, key=lambda y: (abs(y - year), -y))
    return [i for i in items if _year(i) == best]


def fetch_landcover(
    raster: str | Path,
    name: str,
    output: str | Path,
    stac_url: str = "planetary-computer",
    retries: int = 4,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the land cover of ``raster``'s grid from a STAC collection into ``output``.

    Args:
        raster: the prediction (or instance) raster whose grid the land cover is reprojected onto.
        name: a :data:`SOURCES` key.
        output: the aligned land-cover GeoTIFF to write (kept and reused if it exists, unless ``overwrite``).
        stac_url: STAC API (``planetary-computer``, ``earth-search`` or a URL).
        retries: per request, with backoff.

    Returns:
        What was used: ``source``, ``collection``, ``stac_api``, ``items``, ``year``, ``cropland_classes``,
        ``file``.

    Raises:
        ValueError: no item over the raster, an item without the asset, or an API / read failure (the
            message names the collection and the API).
    """
    import json

    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    from agriseg.data.files import atomic_write
    from agriseg.fields.config import DownloadConfig
    from agriseg.fields.download import _env, _forget_remote, _open_remote
    from agriseg.fields.stac import _search, open_api
    from agriseg.raster.io import latest_image_time, tiled_profile

    src = SOURCES[ALIASES.get(name, name)]
    output = Path(output)
    cfg = DownloadConfig(stac_url=stac_url, collection=src.collection, retries=retries)
    if output.exists() and not overwrite:  # ours (its tag says what was used) is kept; another file is refused
        saved = landcover_record(output)
        if not isinstance(saved, dict):
            raise ValueError(f"{output}: exists and was not written by agriseg (kept; --overwrite replaces it)")
        if (saved.get("source"), saved.get("stac_api")) == (ALIASES.get(name, name), cfg.stac_url):
            return saved  # else made again: ours, from another source or API
    with rasterio.open(raster) as ds:
        crs, transform, width, height = ds.crs, ds.transform, ds.width, ds.height
        bbox = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
        when = latest_image_time(ds.tags(), raster)
    found = _search(open_api(cfg), cfg, f"{src.collection} over {Path(raster).name}", bbox=list(bbox))
    if not found:
        raise ValueError(
            f"{raster}: no {src.collection} item over bbox {','.join(f'{v:.5f}' for v in bbox)} at {cfg.stac_url}"
        )
    items = choose_items(found, when.year if when else None)
    out = np.zeros((height, width), np.uint8)  # (H, W) 0 = no data
    for item in items:
        if src.asset not in item.assets:
            raise ValueError(f"{item.id}: no '{src.asset}' asset in this {src.collection} item")
        href = str(item.assets[src.asset].href)
        last: Exception | None = None
        for attempt in range(cfg.retries + 1):
            if attempt:
                from agriseg.batch.errors import stop_if_interrupted

                stop_if_interrupted()  # a Ctrl-C GDAL's callback swallowed during the failed read
                _forget_remote(href)
            try:
                with _env(cfg), _open_remote(href, cfg, item.id) as lc:
                    with WarpedVRT(
                        lc,
                        crs=crs,
                        transform=transform,
                        width=width,
                        height=height,
                        resampling=Resampling.nearest,
                        src_nodata=lc.nodata if lc.nodata is not None else 0,
                        nodata=0,
                    ) as vrt:
                        data = vrt.read(1, out_dtype="uint8")  # (H, W)
                break
            except rasterio.errors.RasterioIOError as err:  # the read cut off: opened and read again
                last = err
            except ValueError as err:  # final: an open whose own retries are spent, an asset without a CRS
                said = str(err).removeprefix(f"{item.id}: ")
                raise ValueError(f"{item.id}: reading {src.collection}: {said}") from None
        else:
            raise ValueError(f"{item.id}: reading {src.collection} failed after {cfg.retries + 1} attempt(s) ({last})")
        gap = out == 0
        out[gap] = data[gap]
        if not gap.any():
            break
    record = {
        "source": ALIASES.get(name, name),
        "collection": src.collection,
        "stac_api": cfg.stac_url,
        "items": [i.id for i in items],
        "year": _year(items[0]),
        "cropland_classes": list(src.cropland),
        "file": str(output),
    }
    profile = tiled_profile("uint8", 1, width, height, crs, transform, nodata=0)
    with atomic_write(output) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(out, 1)
        dst.set_band_description(1, f"{src.collection} class")
        dst.update_tags(AGRISEG_LANDCOVER=json.dumps(record))
    return record


def landcover_record(path: str | Path) -> dict | None:
    """The record agriseg tagged its land-cover raster ``path`` with (None for a file of yours, or unreadable)."""
    import json

    import rasterio

    try:
        with rasterio.open(path) as ds:
            saved = json.loads(ds.tags().get("AGRISEG_LANDCOVER") or "null")
    except (rasterio.errors.RasterioIOError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def check_landcover_output(vcfg: Any, raster: str | Path, output_dir: str | Path, overwrite: bool) -> None:  # noqa: ANN401
    """Refuse, before any work, a file of yours where a named land-cover source's raster for ``raster`` goes
    (it was refused after the scene's download and prediction, session 104's sweep).

    Raises:
        OptionError: ``<path>: exists and was not written by agriseg ...``.
    """
    from agriseg.config import OptionError

    out = landcover_path(raster, output_dir)
    if source_name(vcfg.landcover) is not None and out.exists() and not overwrite and landcover_record(out) is None:
        raise OptionError(f"{out}: exists and was not written by agriseg (kept; --overwrite replaces it, or choose "
                          "another output folder)")  # fmt: skip


def landcover_path(raster: str | Path, output_dir: str | Path) -> Path:
    """Where the land-cover raster of ``raster`` (a scene, its probabilities or instances) goes."""
    return Path(output_dir) / f"{Path(raster).stem.removesuffix('_probs').removesuffix('_instances')}_landcover.tif"


def landcover_config(
    vcfg: Any, raster: str | Path, output_dir: str | Path, stac_url: str, overwrite: bool, retries: int = 4
) -> tuple[Any, dict | None]:
    """A polygonisation config whose named land-cover source is fetched for ``raster`` (files pass through),
    its search and reads tried ``retries`` more times (``fields run`` / ``map``'s --retries: it was always 4).

    Returns:
        ``(config with landcover = the aligned file and the cropland classes when none were given, record)``;
        the record is None when ``vcfg.landcover`` is a file or unset.
    """
    name = source_name(vcfg.landcover)
    if name is None:
        return vcfg, None
    out = landcover_path(raster, output_dir)
    record = fetch_landcover(raster, name, out, stac_url, retries=retries, overwrite=overwrite)
    update: dict[str, Any] = {"landcover": str(out)}
    if not vcfg.landcover_keep and not vcfg.landcover_drop:
        update["landcover_keep"] = list(SOURCES[name].cropland)
    return with_updates(vcfg, update), record


__all__ = [
    "SOURCES",
    "LandcoverSource",
    "check_landcover",
    "check_landcover_output",
    "choose_items",
    "fetch_landcover",
    "landcover_config",
    "landcover_path",
    "landcover_record",
    "source_name",
]
