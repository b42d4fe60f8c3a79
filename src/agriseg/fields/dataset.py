"""Reader for the Fields of The World (FTW) data set in its released folder layout.

Layout (as torchgeo and ftw-tools read it)::

    <root>/<country>/chips_<country>.parquet            columns aoi_id, split (train / val / test)
    <root>/<country>/s2_images/window_a/<aoi_id>.tif    4-band R, G, B, NIR uint16, 256 x 256
    <root>/<country>/s2_images/window_b/<aoi_id>.tif
    <root>/<country>/label_masks/semantic_2class/<aoi_id>.tif   0 background, 1 field
    <root>/<country>/label_masks/semantic_3class/<aoi_id>.tif   0 background, 1 interior, 2 boundary
    <root>/<country>/label_masks/instance/<aoi_id>.tif

Presence-only countries (kenya, rwanda, brazil, india) label only some fields: their unlabelled pixels are
3 (unknown), which every loss and metric of ``agriseg.fields`` ignores.

Window order is explicit: ``"ab"`` (A then B, what FTW scenes and PRUE use) is our default; ftw-tools'
training dataset stacks B before A (``"ba"``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from agriseg.config import OptionError
from agriseg.fields.config import FTW_COUNTRIES, check_countries
from agriseg.fields.sentinel2 import FTW_DIVISOR, WindowOrder, prepare_input, read_s2, scale_problems

PRESENCE_ONLY: frozenset[str] = frozenset({"kenya", "rwanda", "brazil", "india"})
IGNORE_INDEX = 3  # "unknown" in FTW masks
SPLITS = ("train", "val", "test")

Split = Literal["train", "val", "test"]
Target = Literal["2-class", "3-class"]
_MASK_DIR: dict[str, str] = {"2-class": "semantic_2class", "3-class": "semantic_3class"}


@dataclass(frozen=True)
class FTWChip:
    """Paths of one chip."""

    country: str
    aoi_id: str
    window_a: Path
    window_b: Path
    mask: Path


def countries_present(root: str | Path) -> tuple[list[str], list[str]]:
    """Split the 25 FTW countries into those with a chips table under ``root`` and those missing.

    A partial FTW download holds only some countries; ``"all"`` means the ones that are there.

    Raises:
        FileNotFoundError: ``root`` is not a folder, or it holds none of the countries.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: FTW root folder not found")
    present = [c for c in FTW_COUNTRIES if (root / c / f"chips_{c}.parquet").is_file()]
    if not present:
        raise FileNotFoundError(f"{root}: no FTW country found (expected <root>/<country>/chips_<country>.parquet)")
    return present, [c for c in FTW_COUNTRIES if c not in present]


def read_chip_table(root: str | Path, country: str) -> list[tuple[str, str]]:
    """``(aoi_id, split)`` rows of ``<root>/<country>/chips_<country>.parquet``.

    Raises:
        FileNotFoundError: the country folder or its chips file is missing (message starts with the path).
        agriseg.config.OptionError: (a usage error: the data set given) the file lacks the ``aoi_id`` / ``split``
            columns, or a split is not ``train``, ``val`` or ``test`` (``Train`` or ``validation`` would otherwise
            leave those chips out of every split unsaid). An empty split (null, ``""`` or ``none``) leaves its
            chip out on purpose. A chip listed twice, or without an id.
    """
    import pyarrow.parquet as pq

    cdir = Path(root) / country
    if not cdir.is_dir():
        raise FileNotFoundError(f"{cdir}: country folder not found (FTW layout: <root>/<country>/...)")
    path = cdir / f"chips_{country}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: chips table not found (expected columns aoi_id, split)")
    try:
        table = pq.read_table(path)
    except Exception as err:  # noqa: BLE001 - report any unreadable parquet clearly
        raise OptionError(f"{path}: not a readable parquet file ({err})") from err
    missing = {"aoi_id", "split"} - set(table.column_names)
    if missing:
        raise OptionError(f"{path}: missing column(s) {sorted(missing)} (has {table.column_names})")
    rows = list(zip(table.column("aoi_id").to_pylist(), table.column("split").to_pylist(), strict=True))
    if unnamed := [i for i, (aoi, s) in enumerate(rows) if aoi in (None, "") and not _no_split(s)]:  # "None.tif"
        more = f" (and {len(unnamed) - 1} more)" if len(unnamed) > 1 else ""
        raise OptionError(f"{path}: row {unnamed[0]} has no aoi_id{more}; give each chip its id, or no split")
    unknown = Counter(s for _, s in rows if s not in SPLITS and not _no_split(s))
    if unknown:
        counts = sorted(unknown.items(), key=lambda kv: str(kv[0]))
        found = ", ".join(f"{s!r} ({n} chip{'s' * (n != 1)})" for s, n in counts)
        valid = ", ".join(SPLITS)
        raise OptionError(f"{path}: split values must be {valid} (or empty to leave a chip out); found {found}")
    rows = [(aoi, s) for aoi, s in rows if not _no_split(s)]
    twice = [aoi for aoi, n in Counter(aoi for aoi, _ in rows).items() if n > 1]
    if twice:  # one chip in two splits trains on what it is scored on; in one split twice, it weighs double
        splits = sorted({s for aoi, s in rows if aoi == twice[0]})
        raise OptionError(
            f"{path}: aoi_id {twice[0]!r} is listed more than once (splits {', '.join(splits)})"
            + (f", and {len(twice) - 1} more" if len(twice) > 1 else "")
            + "; list each chip once"
        )
    return rows


def _no_split(value: Any) -> bool:
    """A chip left out of every split on purpose: null, empty or ``none``."""
    return value is None or (isinstance(value, str) and value.strip().lower() in ("", "none"))


def list_chips(
    root: str | Path,
    countries: str | list[str],
    split: Split | Literal["all"] = "train",
    target: Target = "3-class",
    missing: Literal["error", "skip"] = "error",
    skipped: list[str] | None = None,
) -> list[FTWChip]:
    """List the chips of ``split`` for ``countries`` with all their files (``skipped`` collects the ids of the
    chips ``missing="skip"`` leaves out, ``<country>/<aoi_id>``).

    Args:
        root: FTW root folder.
        countries: names or ``"all"``.
        split: ``train``, ``val``, ``test`` or ``all``.
        target: which semantic mask to use.
        missing: ``error`` raises on the first chip with a missing file; ``skip`` drops it (ftw-tools does).

    Raises:
        FileNotFoundError: naming the first missing file (``missing="error"``).
        ValueError: unknown country or split.
    """
    if split != "all" and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}, all")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: FTW root folder not found")
    chips = []
    for country in check_countries(countries):
        cdir = root / country
        for aoi, s in read_chip_table(root, country):
            if split != "all" and s != split:
                continue
            chip = FTWChip(
                country,
                str(aoi),
                cdir / "s2_images" / "window_a" / f"{aoi}.tif",
                cdir / "s2_images" / "window_b" / f"{aoi}.tif",
                cdir / "label_masks" / _MASK_DIR[target] / f"{aoi}.tif",
            )
            absent = [p for p in (chip.window_a, chip.window_b, chip.mask) if not p.is_file()]
            if absent:
                if missing == "error":
                    raise FileNotFoundError(
                        f"{absent[0]}: missing file of chip {aoi} ({country}, split {s}); "
                        "--missing skip (a training config: missing: skip) leaves out incomplete chips"
                    )
                if skipped is not None:
                    skipped.append(f"{country}/{aoi}")
                continue
            chips.append(chip)
    return chips


_Grid = tuple[Any, Any]  # (CRS, Affine) of a raster


def read_mask(path: str | Path) -> np.ndarray:
    """Read a one-band FTW label mask as ``(H, W)`` int64; values must be in 0..3.

    Raises:
        ValueError: naming the file, for a multi-band raster or values outside 0..3.
    """
    return _read_mask(path)[0]


def _read_mask(path: str | Path) -> tuple[np.ndarray, _Grid]:
    arr, profile = read_s2(path, bands=None)
    if arr.shape[0] != 1:
        raise ValueError(f"{path}: has {arr.shape[0]} bands, a label mask has 1 (class ids 0..3)")
    band = arr[0]
    if band.dtype.kind == "f":  # a cast turned 1.6 into class 1 unsaid (read_s2 refuses NaN)
        odd = band[~np.isfinite(band) | (band != np.round(band))]
        if odd.size:
            raise ValueError(f"{path}: label values must be whole class ids 0..3, found {float(odd[0])}")
    mask = band.astype(np.int64)
    if profile.get("nodata") is not None and np.isfinite(profile["nodata"]):  # declared no data: not scored
        nodata, gone = profile["nodata"], arr[0] == profile["nodata"]
        # in the main process: each loader worker had said it again (check() says it before training)
        if nodata in CLASS_WORDS and gone.any() and torch.utils.data.get_worker_info() is None:
            _say_class_as_nodata(Path(path), nodata, float(gone.mean()))
        mask[gone] = IGNORE_INDEX
    if mask.size and (mask.min() < 0 or mask.max() > IGNORE_INDEX):
        raise ValueError(f"{path}: label values must be 0..3, found {int(mask.min())}..{int(mask.max())}")
    return mask, _grid(profile)


def _check_target(mask: np.ndarray, path: str | Path, target: Target) -> None:
    """Refuse a ``2-class`` label holding class 2: a two-class model has no such class, and the loss stopped
    training part-way through an epoch on it."""
    if target == "2-class" and (mask == 2).any():
        raise ValueError(
            f"{path}: a 2-class label holds class 2; its values are 0 (background), 1 (field), 3 (unknown)"
        )


CLASS_WORDS = {0: "background", 1: "field", 2: "boundary"}
_SAID_NODATA: set[tuple[str, float]] = set()  # (folder, nodata) already warned of, in this process


def _say_class_as_nodata(path: Path, nodata: float, share: float | None = None) -> None:
    """Warn, once per folder and value, of a label declaring a class id as its nodata: a mask written with its
    image's profile (nodata 0) had every background pixel read as no data, so neither scored (a fully labelled
    country was marked labelled in part, and a model's false fields there were never counted) nor trained on."""
    key = (str(path.parent.resolve()), float(nodata))
    if key not in _SAID_NODATA:
        _SAID_NODATA.add(key)
        import logging

        logging.getLogger("agriseg").warning(
            "%s: declares nodata %g, class %d (%s): its %s pixels%s are read as no data, neither scored nor "
            "trained on (so in every label of its folder declaring it); if they are %s, remove the declaration "
            "(gdal_edit.py -unsetnodata)", path, nodata, int(nodata), CLASS_WORDS[int(nodata)],
            CLASS_WORDS[int(nodata)], "" if share is None else f" ({100 * share:.0f}%)", CLASS_WORDS[int(nodata)],
        )  # fmt: skip


def _grid(profile: dict[str, Any]) -> _Grid:
    return profile.get("crs"), profile.get("transform")


def _same_grid(a: _Grid, b: _Grid) -> bool:
    """Same CRS and pixel grid, to a hundredth of a pixel (a label written by another tool may round). A raster
    without a CRS or geotransform is not compared: there is nothing to tell."""
    (crs_a, t_a), (crs_b, t_b) = a, b
    if crs_a is None or crs_b is None or t_a is None or t_b is None or t_a.is_identity or t_b.is_identity:
        return True
    if crs_a != crs_b:
        return False
    pixel = max(abs(t_a.a), abs(t_a.e), 1e-12)
    scale = max(abs(t_a.a - t_b.a), abs(t_a.b - t_b.b), abs(t_a.d - t_b.d), abs(t_a.e - t_b.e))
    return scale <= 1e-6 * pixel and max(abs(t_a.c - t_b.c), abs(t_a.f - t_b.f)) <= 0.01 * pixel


def read_chip_image(chip: FTWChip, windows: WindowOrder = "ab") -> np.ndarray:
    """Raw DN image ``(4 * len(windows), H, W)`` float32 of one chip in the requested window order.

    Raises:
        ValueError: naming the file with the wrong band count, size or grid.
    """
    return _read_chip_image(chip, windows)[0]


def _read_chip_image(chip: FTWChip, windows: WindowOrder) -> tuple[np.ndarray, _Grid, np.ndarray | None]:
    """The chip's image ``(C, H, W)``, its pixel grid, and its pixels of no data ``(H, W)`` (None: none declared):
    those where every band of every window holds its window's declared nodata, as ``fields predict`` reads a
    scene (they were scored and trained on as imagery, session 105's sweep)."""
    paths = {"a": chip.window_a, "b": chip.window_b}
    parts: list[np.ndarray] = []
    grid: _Grid = (None, None)
    gone: list[np.ndarray] = []  # (H, W) per window: all its bands at its declared nodata
    declared = False
    for w in windows:
        arr, profile = read_s2(paths[w], bands=4, chip=True)
        if parts and arr.shape[1:] != parts[0].shape[1:]:  # which one is odd, the chip's mask says (read later)
            (h0, w0), (h1, w1) = parts[0].shape[1:], arr.shape[1:]
            raise ValueError(
                f"{paths[windows[0]]} is {w0}x{h0} px and {paths[w]} {w1}x{h1} px: a chip's two windows have one size"
            )
        if parts and not _same_grid(_grid(profile), grid):
            raise ValueError(f"{paths[w]}: not on the other window's pixel grid (CRS or transform differ)")
        nd = profile.get("nodata")
        has = nd is not None and bool(np.isfinite(nd))
        declared = declared or has
        gone.append((arr == nd).all(0) if has else np.zeros(arr.shape[1:], bool))
        grid = _grid(profile)
        parts.append(arr.astype(np.float32))
    empty = np.logical_and.reduce(gone) if declared else None
    return np.concatenate(parts, axis=0), grid, empty


_SAID_SCALE: set[tuple[str, str, float]] = set()  # (root, first window, offset) warned of, in this process


class FTWDataset(Dataset):
    """FTW chips as ``{"image": (C, H, W) float32, "mask": (H, W) int64, "country", "aoi_id"}``.

    The image is ``max(DN + offset, 0) / divisor`` (FTW: offset 0 because the released chips are
    harmonised, divisor 3000); ``divisor=None`` returns reflectance x10000 so that an augmentation can draw
    the divisor per sample.

    Args:
        root: FTW root folder.
        countries: country names or ``"all"``.
        split: ``train``, ``val``, ``test`` or ``all``.
        target: ``3-class`` (background, interior, boundary) or ``2-class``.
        windows: window order (``ab``, ``ba``, ``a``, ``b``).
        divisor: scaling divisor or None.
        offset: added to DN before scaling (``agriseg.fields.sentinel2.boa_offset``).
        missing: ``error`` or ``skip`` chips with missing files.
        cache: keep decoded chips in memory.
        refuse_empty: a chip with a window of one value in every band (no data) fails as its own chip, naming
            the file, instead of being read as imagery (scores: a model's prediction on no data is no score).

    Raises:
        FileNotFoundError / ValueError: see :func:`list_chips`; also when the split holds no chip.
    """

    def __init__(
        self,
        root: str | Path,
        countries: str | list[str],
        split: Split | Literal["all"] = "train",
        target: Target = "3-class",
        windows: WindowOrder = "ab",
        divisor: float | None = FTW_DIVISOR,
        offset: float = 0.0,
        missing: Literal["error", "skip"] = "error",
        cache: bool = False,
        refuse_empty: bool = False,
    ) -> None:
        self.root, self.split, self.target, self.windows = Path(root), split, target, windows
        self.refuse_empty = refuse_empty
        self.divisor, self.offset, self.cache = divisor, offset, cache
        self.skipped: list[str] = []  # chips left out for a missing file (missing="skip")
        self.chips = list_chips(root, countries, split, target, missing, self.skipped)
        # the countries named that have no chip of this split (not "all"): left out, which callers say
        asked = check_countries(countries) if isinstance(countries, list) else []  # "Austria" is austria's chips
        self.without = sorted(set(asked) - {c.country for c in self.chips})
        if not self.chips:
            named = ", ".join(countries) if isinstance(countries, list) else countries
            raise OptionError(f"{self.root}: no {split} chips for {named}")
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._say_scale_problems()

    def _say_scale_problems(self) -> None:
        """Warn, once per data set, when the first chip's visible bands are not L2A digital numbers as the
        models take them (8-bit, 0-1 reflectance, an offset left in or removed twice): every chip was scored
        or trained on without a word (a +1000 left in: pixel IoU 0.67 against 0.78)."""
        import logging

        import rasterio

        chip = self.chips[0]
        path = chip.window_a if self.windows[0] == "a" else chip.window_b
        try:
            with rasterio.open(path) as src:
                bands = src.read(list(range(1, min(src.count, 3) + 1)), masked=True)  # (<=3, H, W)
        except Exception:  # noqa: BLE001 - an unreadable chip fails by name when it is read
            return
        key = (str(self.root.resolve()), self.windows[0], self.offset)
        if key in _SAID_SCALE:  # the train and val sets of one root: said once
            return
        for problem in scale_problems(bands, self.offset, ("--offset -1000 (a training config: data.offset)",
                                                           "--offset 0")):  # fmt: skip
            logging.getLogger("agriseg").warning("%s (the first chip of %s): %s", path, self.root, problem)
            _SAID_SCALE.add(key)

    def without_said(self) -> str:
        """:attr:`without` as a message names them: ``rwanda, togo (its 4 chips incomplete: left out by missing:
        skip)``; a country whose every chip was skipped had read as one with no chips."""
        said = []
        for country in self.without:
            n = sum(s.startswith(f"{country}/") for s in self.skipped)
            said.append(f"{country} (its {n} chip{'s' if n > 1 else ''} incomplete: left out by missing: skip)" if n
                        else country)  # fmt: skip
        return ", ".join(said)

    def check(self, where: str = "", one_size: bool = False) -> None:
        """Open every chip's files before training (header, band count, size and the last block), so that a
        damaged chip is a usage error before the run's folder is made, not a stop part-way through an epoch
        (a zero-byte window stopped training after checkpoints were written). As the crop trainer's
        :meth:`agriseg.crop.dataset.CropSegDataset.check`.

        Raises:
            agriseg.config.OptionError: the first chip file that is unreadable, of the wrong band count, of
                another size or pixel grid than the rest of its chip, or a mask of class ids outside 0..3, with
                how many more there are; with ``one_size`` (chips batched for training), then a chip of another
                size than most.
        """
        from agriseg import quiet
        from agriseg.batch.errors import counted
        from agriseg.batch.progress import progress_bar
        from agriseg.raster.io import open_scene

        problems: list[str] = []
        sizes: dict[tuple[int, int], list[str]] = {}  # (width, height) -> the masks of the chips of that size
        many = len(self.chips) > 500  # FTW's 70,000 chips take minutes: show it
        for chip in progress_bar(self.chips, desc=f"checking {where or 'chips'}", unit="chip",
                                 disable=quiet() or not many, leave=False):  # fmt: skip
            paths = {f"window_{w}": chip.window_a if w == "a" else chip.window_b for w in self.windows}
            try:
                infos = {p: open_scene(p, None, require_crs=False) for p in [*paths.values(), chip.mask]}
                if (nodata := infos[chip.mask].nodata) in CLASS_WORDS:  # said here, not by each loader worker
                    _say_class_as_nodata(Path(chip.mask), nodata)
                for p, info in infos.items():  # the words of read_s2 / _read_mask, which read them later
                    want, what = (1, "a label mask has 1 (class ids 0..3)") if p == chip.mask else (4, "expected 4")
                    if info.count != want:
                        raise ValueError(f"{p}: has {info.count} bands, {what}")
                named = {**paths, "mask": chip.mask}  # one file name in three folders: said by folder
                if len({(infos[p].width, infos[p].height) for p in named.values()}) > 1:
                    said = ", ".join(f"{k} {infos[p].width}x{infos[p].height} px" for k, p in named.items())
                    raise ValueError(f"{chip.mask}: chip {chip.aoi_id}'s files differ in size ({said})")
                first = infos[next(iter(paths.values()))]
                for p in [*list(paths.values())[1:], chip.mask]:  # the words of _read_chip_image / _load
                    if not _same_grid((infos[p].crs, infos[p].transform), (first.crs, first.transform)):
                        other = "its image's" if p == chip.mask else "the other window's"
                        raise ValueError(f"{p}: not on {other} pixel grid (CRS or transform differ)")
                # its class ids too: a 5 (or a 255 with no nodata declared) stopped training part-way (a mask
                # is a small file: FTW's 70,000 add about a minute to the check)
                _check_target(_read_mask(chip.mask)[0], chip.mask, self.target)
                for p in paths.values():  # a float chip's NaN stopped training in its epoch, after checkpoints
                    if np.dtype(infos[p].dtype).kind == "f":  # (FTW's are uint16: none of them is read here)
                        read_s2(p, chip=True)
                sizes.setdefault((infos[chip.mask].width, infos[chip.mask].height), []).append(str(chip.mask))
            except (ValueError, FileNotFoundError) as err:
                problems.append(str(err))
        if one_size and len(sizes) > 1 and not problems:  # a batch stacks its chips: torch's collate stopped an
            (w, h), most = max(sizes.items(), key=lambda kv: len(kv[1]))  # epoch part-way with a traceback
            (ow, oh), odd = next((k, v) for k, v in sizes.items() if v is not most)
            others = len(self.chips) - len(most) - 1  # besides the one named, chips not of the common size
            problems.append(f"{odd[0]}: its chip is {ow}x{oh} px, {counted(len(most), 'other chip')} {w}x{h} px; "
                            "a training batch stacks chips of one size: cut it to that size or leave it out"
                            + (f" ({counted(others, 'more chip')} not {w}x{h} px)" if others else ""))  # fmt: skip
        if problems:
            more = f" (and {len(problems) - 1} more{' in ' + where if where else ''})" if len(problems) > 1 else ""
            raise OptionError(f"{problems[0]}{more}")

    def __len__(self) -> int:
        return len(self.chips)

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i in self._cache:
            return self._cache[i]
        chip = self.chips[i]
        img, grid, empty = _read_chip_image(chip, self.windows)  # (C, H, W) raw DN, (H, W) no data or None
        if self.refuse_empty:
            for k, w in enumerate(self.windows):
                part = img[4 * k : 4 * k + 4]  # (4, H, W): one window's bands
                if part.size and (part == part.flat[0]).all():
                    path = chip.window_a if w == "a" else chip.window_b
                    raise ValueError(f"{path}: {part.flat[0]:g} in every band and pixel (no data): not scored")
        mask, mask_grid = _read_mask(chip.mask)  # (H, W)
        _check_target(mask, chip.mask, self.target)
        if mask.shape != img.shape[1:]:
            (mh, mw), (ih, iw) = mask.shape, img.shape[1:]
            raise ValueError(f"{chip.mask}: mask is {mw}x{mh} px, its image {iw}x{ih}")
        if not _same_grid(mask_grid, grid):  # a label of another place or CRS was scored as if it fitted
            raise ValueError(f"{chip.mask}: not on its image's pixel grid (CRS or transform differ)")
        if empty is not None and empty.any():  # no imagery there: neither scored nor trained on
            mask = mask.copy()
            mask[empty] = IGNORE_INDEX
        if self.cache:
            self._cache[i] = (img, mask)
        return img, mask

    def __getitem__(self, i: int) -> dict:
        img, mask = self._load(i)
        chip = self.chips[i]
        if self.divisor is None:
            x = np.maximum(img + np.float32(self.offset), 0.0)
        else:
            x = prepare_input(img, self.offset, self.divisor)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),  # (C, H, W)
            "mask": torch.from_numpy(mask),  # (H, W)
            "country": chip.country,
            "aoi_id": chip.aoi_id,
        }


__all__ = [
    "FTWChip",
    "FTWDataset",
    "FTW_COUNTRIES",
    "IGNORE_INDEX",
    "PRESENCE_ONLY",
    "check_countries",
    "countries_present",
    "list_chips",
    "read_chip_image",
    "read_chip_table",
    "read_mask",
]
