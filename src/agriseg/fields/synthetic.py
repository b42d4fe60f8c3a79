"""Realistic synthetic chips in the exact Fields of The World (FTW) layout, for tests and pipeline checks.

Each chip is a distorted Voronoi tessellation: most cells are fields (instances), the rest are forest,
settlement or water. Fields carry a crop state per date (bare soil, green crop, ripe/senescent crop, stubble)
drawn independently for window A and window B, with per-field brightness, tillage/row texture, tracks and
hedges on some field edges, a slight optical blur and sensor noise. Labels follow FTW: ``semantic_3class``
(0 background, 1 interior, 2 boundary), ``semantic_2class`` (0/1), ``instance`` (field id), and for
presence-only countries only some fields are labelled and everything else is 3 (unknown).

    >>> from agriseg.fields.synthetic import SyntheticFTWConfig, make_synthetic_ftw
    >>> make_synthetic_ftw("/tmp/ftw", SyntheticFTWConfig(countries={"austria": 20}, size=128))

Generated data belongs outside git (``scripts/make_fake_ftw.py`` writes it where you say).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agriseg.fields.config import SyntheticFTWConfig  # defined with the other configs (cheap to import)
from agriseg.fields.dataset import PRESENCE_ONLY

# mean reflectance x10000 of each surface in (R, G, B, NIR)
SURFACES: dict[str, tuple[float, float, float, float]] = {
    "bare_soil": (1500.0, 1200.0, 950.0, 2200.0),
    "green_crop": (350.0, 750.0, 400.0, 4300.0),
    "ripe_crop": (1300.0, 1150.0, 800.0, 2900.0),
    "stubble": (1900.0, 1650.0, 1300.0, 2600.0),
    "grass": (500.0, 900.0, 500.0, 3400.0),
    "forest": (250.0, 450.0, 250.0, 2800.0),
    "urban": (1600.0, 1500.0, 1450.0, 2000.0),
    "water": (300.0, 400.0, 550.0, 150.0),
    "track": (2100.0, 1900.0, 1700.0, 2300.0),
    "hedge": (300.0, 550.0, 300.0, 3100.0),
}
CROP_STATES = ("bare_soil", "green_crop", "ripe_crop", "stubble", "grass")
NON_FIELD = ("forest", "urban", "water")


# peak bytes per chip pixel while one chip is made (tracemalloc: 352-362 at sizes 256-1024)
CHIP_BYTES_PER_PX = 400


def _smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    # (H, W) zero-mean unit-ish noise with correlation length ~ scale px
    small = max(2, int(size / scale))
    n = rng.standard_normal((small, small)).astype(np.float32)
    return cv2.resize(n, (size, size), interpolation=cv2.INTER_CUBIC)


def _tessellation(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """Cell id per pixel ``(H, W)`` of a randomly stretched, slightly warped Voronoi tessellation."""
    pts = rng.uniform(-0.1 * size, 1.1 * size, size=(n, 2)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # warp the coordinates a little so field edges are not perfectly straight
    yy = yy + 3.0 * _smooth_noise(rng, size, size / 3)
    xx = xx + 3.0 * _smooth_noise(rng, size, size / 3)
    theta = rng.uniform(0, np.pi)
    stretch = rng.uniform(1.0, 2.2)
    c, s = np.cos(theta), np.sin(theta)
    u = (c * xx + s * yy) / stretch
    v = -s * xx + c * yy
    pu = (c * pts[:, 0] + s * pts[:, 1]) / stretch
    pv = -s * pts[:, 0] + c * pts[:, 1]
    d = (u[None] - pu[:, None, None]) ** 2 + (v[None] - pv[:, None, None]) ** 2  # (n, H, W)
    return d.argmin(0).astype(np.int32)


def _edges(cells: np.ndarray) -> np.ndarray:
    """Pixels whose 4-neighbourhood holds another cell id ``(H, W)`` bool."""
    e = np.zeros(cells.shape, bool)
    e[:-1] |= cells[:-1] != cells[1:]
    e[1:] |= cells[1:] != cells[:-1]
    e[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    e[:, 1:] |= cells[:, 1:] != cells[:, :-1]
    return e


def make_chip(rng: np.random.Generator, cfg: SyntheticFTWConfig, presence_only: bool = False) -> dict[str, np.ndarray]:
    """One synthetic chip.

    Returns:
        ``window_a``, ``window_b`` ``(4, S, S)`` uint16; ``semantic_3class``, ``semantic_2class`` ``(S, S)``
        uint8; ``instance`` ``(S, S)`` int32 (0 = no field).
    """
    size = cfg.size
    n = int(rng.integers(cfg.fields_per_chip[0], cfg.fields_per_chip[1] + 1))
    cells = _tessellation(rng, size, n)
    kinds = ["field" if rng.random() > cfg.non_field_fraction else str(rng.choice(NON_FIELD)) for _ in range(n)]

    # labels: instance ids for field cells; boundary = the field's own edge band of boundary_width px
    is_field = np.array([k == "field" for k in kinds])[cells]  # (S, S)
    edge = _edges(cells) & is_field
    if cfg.boundary_width > 1:
        k = np.ones((cfg.boundary_width, cfg.boundary_width), np.uint8)
        grown = cv2.dilate(_edges(cells).astype(np.uint8), k).astype(bool)
        edge = grown & is_field
    instance = np.where(is_field, cells + 1, 0).astype(np.int32)
    sem3 = np.zeros((size, size), np.uint8)
    sem3[is_field] = 1
    sem3[edge] = 2
    sem2 = (sem3 == 1).astype(np.uint8)
    if presence_only:
        labelled = {c for c in range(n) if kinds[c] == "field" and rng.random() < cfg.presence_labelled_fraction}
        lab = np.isin(cells, list(labelled))
        sem3 = np.where(lab, sem3, 3).astype(np.uint8)
        sem2 = np.where(lab, sem2, 3).astype(np.uint8)
        instance = np.where(lab, instance, 0).astype(np.int32)

    # images: per cell a surface per window, per-cell brightness, texture, tracks/hedges on edges
    windows = []
    edge_kind = rng.choice(["none", "track", "hedge"], size=n, p=[0.2, 0.5, 0.3])
    all_edges = _edges(cells)
    for _w in range(2):
        base = np.stack(
            [
                np.array(SURFACES[str(rng.choice(CROP_STATES)) if kinds[c] == "field" else kinds[c]], np.float32)
                * np.float32(rng.uniform(0.8, 1.2))
                * rng.uniform(0.92, 1.08, size=4).astype(np.float32)
                for c in range(n)
            ]
        )  # (n, 4) surface reflectance per cell
        img = np.ascontiguousarray(base[cells].transpose(2, 0, 1))  # (4, S, S)
        tex = _smooth_noise(rng, size, 12.0)  # (S, S) within-field variation
        fine = _smooth_noise(rng, size, 2.0)
        theta = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:size, 0:size]
        rows = np.sin((np.cos(theta) * xx + np.sin(theta) * yy) * rng.uniform(0.8, 1.6)).astype(np.float32)
        img *= 1.0 + 0.06 * tex[None] + 0.04 * fine[None] + 0.03 * rows[None]
        # visible field edges: tracks (bright) or hedges (dark green), on ~75% of cells per date
        shown = (edge_kind != "none") & (rng.random(n) >= 0.25)
        edge_refl = np.stack([np.array(SURFACES.get(str(k), (0, 0, 0, 0)), np.float32) for k in edge_kind])
        m = all_edges & shown[cells]  # (S, S)
        img[:, m] = edge_refl[cells[m]].T
        img = np.stack([cv2.GaussianBlur(b, (0, 0), 0.6) for b in img])
        img *= rng.uniform(0.85, 1.15)  # scene illumination / atmosphere
        img += rng.normal(0.0, cfg.noise_dn, img.shape).astype(np.float32)
        img += cfg.offset_dn
        windows.append(np.clip(img, 1, 65535).astype(np.uint16))
    return {
        "window_a": windows[0],
        "window_b": windows[1],
        "semantic_3class": sem3,
        "semantic_2class": sem2,
        "instance": instance,
    }


def _write_tif(path: Path, arr: np.ndarray, origin: tuple[float, float]) -> None:
    import rasterio
    from rasterio.transform import from_origin

    arr = arr if arr.ndim == 3 else arr[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": arr.shape[1],
        "width": arr.shape[2],
        "count": arr.shape[0],
        "dtype": arr.dtype.name,
        "crs": "EPSG:32633",
        "transform": from_origin(origin[0], origin[1], 10.0, 10.0),
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)


MADE_BY = "fields make-synthetic"


def synthetic_settings(cfg: SyntheticFTWConfig) -> dict[str, Any]:
    """What a set of :func:`make_synthetic_ftw` is made with (country names normalised, as the set holds them).

    Raises:
        ValueError: an unknown country (the message lists the valid names).
    """
    from agriseg.fields.dataset import check_countries

    settings = cfg.model_dump(mode="json")
    settings["countries"] = {check_countries([name])[0]: n for name, n in cfg.countries.items()}
    return settings


def make_synthetic_ftw(root: str | Path, cfg: SyntheticFTWConfig | None = None) -> dict[str, int]:
    """Write a synthetic data set in the FTW layout under ``root``.

    Layout per country: ``chips_<country>.parquet`` (``aoi_id``, ``split``), ``s2_images/window_a|window_b``,
    ``label_masks/semantic_2class|semantic_3class|instance`` GeoTIFFs named ``<aoi_id>.tif``.

    Returns:
        Number of chips written per country.
    """
    import geopandas as gpd
    from shapely.geometry import box

    from agriseg.batch import made_record
    from agriseg.data.files import atomic_write, check_output_folder
    from agriseg.data.memory import check_memory

    cfg = cfg or SyntheticFTWConfig()
    check_output_folder(root)  # -o .: said before the progress bar starts (atomic_write says it too)
    check_memory(CHIP_BYTES_PER_PX * cfg.size**2, f"--size {cfg.size}")
    _check_disk(Path(root), cfg)
    rng = np.random.default_rng(cfg.seed)
    from agriseg import quiet
    from agriseg.batch import progress_bar

    bar = progress_bar(total=sum(cfg.countries.values()), desc="chips", unit="chip", disable=quiet())
    written: dict[str, int] = {}
    with atomic_write(Path(root)) as tmp:  # a killed run leaves no half data set under the final name
        for ci, (country, count) in enumerate(sorted(cfg.countries.items())):
            cdir = tmp / country
            presence = country in PRESENCE_ONLY
            n_train = int(round(cfg.splits[0] * count))
            n_val = int(round(cfg.splits[1] * count))
            rows = []
            for i in range(count):
                aoi = f"g{ci:02d}_{i:05d}_{country[:3]}"
                split = "train" if i < n_train else "val" if i < n_train + n_val else "test"
                chip = make_chip(rng, cfg, presence_only=presence)
                origin = (400000.0 + 3000.0 * (i % 50), 5300000.0 - 3000.0 * (i // 50) - 100000.0 * ci)
                _write_tif(cdir / "s2_images" / "window_a" / f"{aoi}.tif", chip["window_a"], origin)
                _write_tif(cdir / "s2_images" / "window_b" / f"{aoi}.tif", chip["window_b"], origin)
                for kind in ("semantic_2class", "semantic_3class"):
                    _write_tif(cdir / "label_masks" / kind / f"{aoi}.tif", chip[kind], origin)
                _write_tif(cdir / "label_masks" / "instance" / f"{aoi}.tif", chip["instance"], origin)
                side = 10.0 * cfg.size
                geom = box(origin[0], origin[1] - side, origin[0] + side, origin[1])
                rows.append({"aoi_id": aoi, "split": split, "geometry": geom})
                bar.update()
            # GeoParquet like the released chips tables (ftw-tools reads them with geopandas)
            gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:32633").to_parquet(cdir / f"chips_{country}.parquet")
            written[country] = count
        made_record(tmp, MADE_BY, synthetic_settings(cfg))
    bar.close()
    return written


# bytes on disk per chip pixel, at the least (deflated windows and masks: 13.5 measured at 256 px)
CHIP_DISK_BYTES_PER_PX = 10


def _check_disk(root: Path, cfg: SyntheticFTWConfig) -> None:
    """Refuse a data set larger than the free space where it goes (a billion chips ran for 10 minutes, wrote
    nothing one could use, said nothing).

    Raises:
        OptionError: naming the chips, their size and the space they need.
    """
    import shutil

    from agriseg.config import OptionError

    chips = sum(cfg.countries.values())
    need = CHIP_DISK_BYTES_PER_PX * cfg.size**2 * chips
    where = next((p for p in (root, *root.absolute().parents) if p.exists()), Path.cwd())
    free = shutil.disk_usage(where).free
    if need > free:
        raise OptionError(
            f"--countries / --size: {chips:,} chips of {cfg.size} px need at least {need / 2**30:,.1f} GiB on disk, "
            f"and {where} has {free / 2**30:,.1f} GiB free"
        )


__all__ = ["SURFACES", "SyntheticFTWConfig", "make_chip", "make_synthetic_ftw"]
