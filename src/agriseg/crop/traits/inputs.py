"""What ``agriseg crop traits`` measures: photos, masks written by ``agriseg crop predict``, or both.

Inputs are matched by name: ``<name>_classes.png`` (class ids 0 background, 1 crop, 2 weed) or
``<name>_mask.png`` (0/255 or 0/1 vegetation) is the mask of the photo ``<name>.<ext>``; a class map is
preferred over a mask of the same name. ``<name>_overlay.jpg`` and ``<name>_plants.png`` files an agriseg run
recorded writing are ignored (a user's photo of such a name is a photo). A photo without a mask is
segmented with the model; a mask without a photo is measured without colour traits.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from agriseg.crop.quality import MODEL_CROPS
from agriseg.data.io import ImageReadError, apply_orientation, exif_orientation, open_image, read_rgb

MASK_SUFFIXES = ("_classes", "_mask")
IGNORED_SUFFIXES = ("_overlay", "_plants")  # predict overlays and our own debug images


@dataclass
class Item:
    """One image to measure: its name, photo and/or mask file."""

    name: str
    photo: Path | None = None
    mask: Path | None = None

    @property
    def stem(self) -> str:
        """The file's own name (the photo's stem, or the mask's without ``_mask``): what ``--meta`` and dates
        read, never :attr:`name`, which may carry folders to tell photos of one name apart."""
        return self.photo.stem if self.photo is not None else _split(self.path)[0]

    @property
    def path(self) -> Path:
        """The file that names this item in tables and errors (the mask when there is one)."""
        path = self.mask or self.photo
        if path is None:
            raise ValueError(f"{self.name}: neither a photo nor a mask")
        return path


def mask_kind(path: Path) -> str | None:
    """``"_mask"`` or ``"_classes"`` for a mask written by ``crop predict`` (by its name), else None."""
    kind = _split(path)[1]
    return kind if kind in MASK_SUFFIXES else None


def _split(path: Path) -> tuple[str, str]:
    """(base name, kind) with kind ``photo``, ``_classes``, ``_mask`` or ``ignore``."""
    stem = path.stem
    for suf in MASK_SUFFIXES + IGNORED_SUFFIXES:
        if stem.endswith(suf) and len(stem) > len(suf):
            return stem[: -len(suf)], ("ignore" if suf in IGNORED_SUFFIXES else suf)
    return stem, "photo"


def pair_inputs(files: list[Path]) -> list[Item]:
    """Group photos and masks by name (see the module docstring), in input order.

    Photos of one name get the names ``crop predict`` gives them (``x/a.jpg``, ``y/a.jpg`` -> ``x_a_jpg``,
    ``y_a_jpg``), and a mask pairs with the photo of its name: ``x_a_jpg_mask.png``, as ``crop predict`` wrote
    it. Masks of one name without a photo are measured each alone, named the same way.

    Raises:
        OptionError: a mask whose name two photos have (``a_mask.png`` beside ``x/a.jpg`` and ``y/a.jpg``), or
            two masks of one kind for one photo: which belongs to which cannot be told.
    """
    from agriseg.config import OptionError
    from agriseg.data.io import output_names

    order = {f: i for i, f in enumerate(files)}
    ours = _recorded(files)

    def split(f: Path) -> tuple[str, str]:  # a user's photo named like our pictures (x_plants.jpg) is a photo
        base, kind = _split(f)
        return (f.stem, "photo") if kind == "ignore" and f.resolve() not in ours else (base, kind)

    photos = [f for f in files if split(f)[1] == "photo"]
    made = _made_from(files)
    given = {source: name for (_, name), source in made.items()}  # the names crop predict gave them
    clash = len({p.stem for p in photos}) < len(photos)
    names = output_names(photos, given) if clash or given else {p: p.stem for p in photos}
    by_name = {names[p]: Item(names[p], photo=p) for p in photos}
    by_photo = {p.resolve(): by_name[names[p]] for p in photos}
    by_stem: dict[str, list[Path]] = {}
    for p in photos:
        by_stem.setdefault(p.stem, []).append(p)
    alone: dict[str, list[Path]] = {}  # masks without a photo, by their photo's name
    for f in files:
        base, kind = split(f)
        if kind in ("photo", "ignore"):
            continue
        source = made.get((f.parent.resolve(), base))  # the photo its record says crop predict made it from
        if source is not None:
            item = by_photo.get(source)  # that photo, given or not: whatever names say
        elif base not in by_name and len(by_stem.get(base, ())) > 1:
            both = " and ".join(str(p) for p in by_stem[base])
            raise OptionError(
                f"{f}: the mask of which photo? {both} have its name; measure each folder of photos with its "
                "own masks, or give the masks crop predict wrote for them together"
            )
        else:
            item = by_name.get(base)
        if item is None:
            alone.setdefault(base, []).append(f)
        elif item.mask is None or (kind == "_classes" and item.mask.stem.endswith("_mask")):
            item.mask = f  # a class map is preferred over a mask of the same name
        elif _split(item.mask)[1] == kind:
            raise OptionError(f"{f}: {item.mask} is a {kind[1:]} of the photo {item.photo} too; keep one")
    out = list(by_name.values())
    for base, masks in alone.items():
        mine: dict[Path, Path] = {}  # one mask per folder: its class map where it has both
        for m in masks:
            if (had := mine.get(m.parent)) is None or (m.stem.endswith("_classes") and had.stem.endswith("_mask")):
                mine[m.parent] = m
            elif _split(had)[1] == _split(m)[1]:
                raise OptionError(f"{m}: {had} is a {_split(m)[1][1:]} of the same name; keep one")
        # masks of one name in several folders (two days' predictions): each measured, named as photos are
        # beside a photo of this name whose mask it is not (its record says), the photo keeps the name
        photo = by_name[base].photo if base in by_name else None
        keep = {photo.resolve(): base} if photo is not None else {}
        paths = [d / base for d in mine] + ([photo] if photo is not None else [])
        named = output_names(paths, keep) if len(paths) > 1 else {d / base: base for d in mine}
        out += [Item(named[d / base], mask=m) for d, m in mine.items()]
    return sorted(out, key=lambda it: min(order[f] for f in (it.photo, it.mask) if f is not None))


def _recorded(files: list[Path]) -> set[Path]:
    """The files among ``files`` that an agriseg run recorded writing (overlays, pictures of plants): never photos."""
    from agriseg.manifest import recorded_outputs

    out: set[Path] = set()
    for d in {f.parent.resolve() for f in files if _split(f)[1] == "ignore"}:
        out |= {(d / o).resolve() for outs in recorded_outputs(d).values() for o in outs}
    return out


def _made_from(files: list[Path]) -> dict[tuple[Path, str], Path]:
    """(mask folder, photo name) -> the photo ``crop predict`` made the masks of that name there from, as the
    folder's records say (see :func:`agriseg.manifest.recorded_inputs`)."""
    from agriseg.manifest import recorded_inputs

    folders = {f.parent.resolve() for f in files if _split(f)[1] in MASK_SUFFIXES}
    return {(d, name): src for d in folders for name, src in recorded_inputs(d, "crop predict").items()}


def read_mask(path: Path) -> np.ndarray:
    """A mask or class map -> uint8 class ids ``(H, W)``: 0 background, 1 vegetation / crop, 2 weed.

    0/255 and 0/1 masks become 0/1, as does any mask of 0 and one other value (0/65535 of a 16-bit export,
    0/100), as a one-band file given as a photo is read; ``_classes`` files keep their ids (at most 2). A mask is
    turned by its EXIF orientation, as photos are (it fits the photo as viewers show both).

    Raises:
        ImageReadError: unreadable file, or values that are not a mask / class map.
    """
    with open_image(path, "mask") as im:
        orientation = exif_orientation(im)
        arr = apply_orientation(np.asarray(im), orientation)
    if arr.ndim == 3:
        if not (arr[..., :3] == arr[..., :1]).all():
            raise ImageReadError(f"{path}: a mask must be single-channel (or gray), this one has colours")
        arr = arr[..., 0]
    values = set(np.unique(arr).tolist())
    if path.stem.endswith("_classes") and values <= {0, 1, 2}:
        return arr.astype(np.uint8)
    if values <= {0, 255} or values <= {0, 1} or (len(values) == 2 and 0 in values):
        return (arr > 0).astype(np.uint8)
    shown = sorted(values)[:6]
    raise ImageReadError(f"{path}: not a 0/255 or 0/1 mask, nor a 0/1/2 class map (values {shown})")


def mask_reading_rules(path: Path) -> dict[str, str]:
    """The reading rules of :func:`read_mask` that changed a mask's outputs since they came, for its fingerprint:
    ``{"mask orientation": "EXIF"}`` for a mask with an EXIF orientation (read as stored before session 101: an
    earlier run's outputs of it are made again); empty otherwise, and for an unreadable mask."""
    from PIL import Image

    from agriseg.data.io import quiet_pil

    try:
        with quiet_pil(path), Image.open(path) as im:
            turned = exif_orientation(im) > 1
    except Exception:  # noqa: BLE001 - an unreadable mask fails as its own item when it is read
        return {}
    return {"mask orientation": "EXIF"} if turned else {}


# one band: a mask may be any of these (not palette: its indices say nothing of which colour is the plant)
MASK_MODES = ("1", "L", "I;16", "I;16B", "I;16L", "I", "F")
ONE_BAND_SAID = "one band of 0 and at most one other value: measured as a vegetation mask (not segmented as a photo)"


def one_band_rule(path: Path) -> dict[str, str]:
    """The fingerprint rule of a file given as a photo that is a one-band mask (segmented as a greyscale photo
    before this rule, so its earlier outputs are not resumed as this run's); ``{}`` otherwise."""
    return {"one band of two values": "a mask"} if one_band_mask(path) else {}


def one_band_mask(path: Path) -> bool:
    """Whether a file given as a photo is a vegetation mask (:func:`read_one_band_mask`); header first, so a colour
    photo costs nothing, and a one-band file is decoded once per process however often it is asked (a batch's
    listing, its model check and its fingerprints ask)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return _one_band_mask(str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@functools.lru_cache(maxsize=4096)
def _one_band_mask(path: str, *stat: int) -> bool:  # inode, size and times: a file replaced is read again
    return read_one_band_mask(Path(path)) is not None


def one_band_notes(path: Path) -> list[str]:
    """What a run says of a file it measures as a one-band mask: :data:`ONE_BAND_SAID`, and that only the first
    page of a multi-page TIFF is read (a photo's reader says so; a mask's had not)."""
    from PIL import Image

    from agriseg.data.io import pages_note, quiet_pil

    try:
        with quiet_pil(path), Image.open(path) as im:
            pages = pages_note(im)
    except (OSError, ValueError, Image.DecompressionBombError):  # read a moment ago: gone since, said elsewhere
        pages = ""
    return [ONE_BAND_SAID, *([pages] if pages else [])]


def read_one_band_mask(path: Path) -> np.ndarray | None:
    """A file given as a photo that is a vegetation mask, as uint8 ids ``(H, W)`` (1 where its value is above
    0), or None for a photo.

    A mask: one band (bilevel, grey, 16- or 32-bit, float) holding 0 and one other value only (0/255, 0/1,
    0/65535), or 0 or 1 alone (bare soil, full canopy; a frame of 255 alone may be a blank photo, segmented as
    one). A palette image is a photo (its indices say nothing of which colour is the plant). ``crop plots``
    reads a one-band mosaic as a mask; ``crop traits`` had segmented such a file as a greyscale photo and
    measured half its plants. A greyscale photo has more values. Only a one-band file is
    decoded (its header says); an unreadable or oversized one is left to the photo reader, which says why.
    """
    from PIL import Image

    from agriseg.data.io import apply_orientation, exif_orientation, quiet_pil

    try:
        with quiet_pil(path), Image.open(path) as im:  # the header only
            if im.mode not in MASK_MODES:
                return None
        with open_image(path) as im:
            arr = apply_orientation(np.asarray(im), exif_orientation(im))  # the raw values (16-bit 0/1 too)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    values = np.unique(arr)
    if arr.ndim != 2 or len(values) > 2 or (len(values) == 2 and values[0] != 0):
        return None
    if len(values) == 1 and float(values[0]) not in (0.0, 1.0):
        return None  # a uniform grey or white frame is no mask
    return (arr > 0).astype(np.uint8)


def read_item(item: Item) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(class ids or None, photo or None) of an item; a mask must match its photo's size.

    Raises:
        ImageReadError: unreadable files, a mask whose size is not its photo's, or one ``crop predict`` made from
            an earlier version of the photo.
    """
    if item.mask and item.photo:
        from agriseg.manifest import made_from_earlier

        if made_from_earlier(item.mask, "crop predict", item.photo):  # its outline over the new photo's colours
            raise ImageReadError(
                f"{item.mask}: made by crop predict from an earlier version of {item.photo} (the photo was replaced "
                "or edited since); run crop predict on it again"
            )
    classes = read_mask(item.mask) if item.mask else None
    rgb = read_rgb(item.photo) if item.photo else None
    if classes is not None and rgb is not None and classes.shape != rgb.shape[:2]:
        raise ImageReadError(
            f"{item.mask}: mask is {classes.shape[1]}x{classes.shape[0]} but its photo {item.photo} is "
            f"{rgb.shape[1]}x{rgb.shape[0]}"
        )
    return classes, rgb


class Segmentation(NamedTuple):
    """A photo segmented by a model: class ids ``(H, W)`` uint8, whether they are crop / weed, and the pixels
    whose vegetation the model was sure of (``(H, W)`` bool, :meth:`agriseg.crop.predictor.Predictor.sure`)."""

    classes: np.ndarray
    crop_weed: bool
    sure: np.ndarray | None = None


PHOTO_MOSAIC = 2048
"""The long side up to which a GeoTIFF given to ``crop plots`` is segmented as a photo (at the model's working
size, as every crop command segments a photo); larger mosaics run at their own resolution."""


class ModelSegmenter:
    """Runs the crop model (loaded on first use) by the rule of every crop command
    (:func:`agriseg.crop.predictor.load_predictor`), so a photo gets the mask ``crop predict`` gives it.

    Args:
        model_name: packaged model name or model file.
        device: torch device (``cpu`` runs ONNX Runtime; a GPU runs the model in PyTorch).
    """

    def __init__(self, model_name: str, device: str = "cpu") -> None:
        self.model_name, self.device = model_name, device
        self.predictor: Any = None
        self.crop: str | None = MODEL_CROPS.get(model_name)  # None: a model that does not say

    def check(self) -> Path:
        """The model's file; a missing or unreadable model is a usage error (exit 2), said once before any
        photo (its header is read: a damaged file failed every photo, one line each), and so is a model that
        runs in PyTorch without PyTorch installed (:class:`agriseg.extras.MissingExtra`: each photo failed as
        an internal error)."""
        from agriseg.config import OptionError
        from agriseg.models.io import LazyModel, ModelLoadError, resolve

        try:
            path = resolve(self.model_name)
            model = LazyModel(self.model_name, in_channels=3)
            model.config  # noqa: B018 (reads the header)
        except (FileNotFoundError, ModelLoadError) as err:
            raise OptionError(f"--model {err}") from None
        if model.onnx_path is None:  # as crop predict, which runs an ONNX file when the model has one
            model.require_torch()
        from agriseg.runtime import check_device

        check_device(self.device)  # a GPU this machine lacks: a usage error here, not every photo failing
        self._loaded()  # the predictor (no network built yet): an .onnx model with a GPU is said here too
        return path

    def _loaded(self) -> Any:  # noqa: ANN401 - a Predictor (its module imported on use)
        if self.predictor is None:
            from agriseg.crop.predictor import load_predictor

            self.predictor = load_predictor(self.model_name, device=self.device)
        return self.predictor

    @property
    def long_side(self) -> int:
        """The model's working size (px along a photo's long side; 0: each photo's own)."""
        return int(self._loaded().long_side)

    def __call__(self, rgb: np.ndarray, long_side: int | None = None) -> Segmentation:
        """The class ids of a photo ``(H, W, 3)``, whether they are crop / weed, and where the model was sure.

        Args:
            rgb: the photo.
            long_side: the working size of this photo (0: its own; None: the model's, as every crop command).
        """
        pred = self._loaded()
        working = pred.long_side
        try:
            pred.long_side = working if long_side is None else long_side
            classes, sure = pred.segment(rgb)
        finally:
            pred.long_side = working
        return Segmentation(classes, pred.num_classes > 2, sure)

    def for_mosaic(self, height: int, width: int) -> Callable[[np.ndarray], Segmentation]:
        """The segmenter of the windows of one ``height`` x ``width`` mosaic, all at one scale, so that its
        numbers do not depend on ``--window``: a mosaic up to :data:`PHOTO_MOSAIC` px is segmented as that
        photo is (``crop predict`` and ``crop traits`` give it the same numbers), a larger one at its own
        resolution (each window was brought to the working size: 2,176 px to 800, plants 2.7 times smaller, and
        by another factor at the mosaic's edge)."""
        working = self._loaded().long_side
        side = max(height, width)
        scale = working / side if working and side <= PHOTO_MOSAIC else 1.0

        def segment(rgb: np.ndarray) -> Segmentation:  # (h, w, 3) window with its context
            at = 0 if scale == 1.0 else max(1, round(max(rgb.shape[:2]) * scale))
            return self(rgb, long_side=at)

        return segment
