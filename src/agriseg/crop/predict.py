"""Batch prediction of field photos: masks, overlays and a per-image summary (the model itself, one photo at a
time: :mod:`agriseg.crop.predictor`)."""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from PIL import Image
from typing_extensions import deprecated

from agriseg.batch import BatchOptions, batch_keywords, counted, disk_full, finishing, signals_deferred
from agriseg.crop.config import CropPredictConfig
from agriseg.crop.predictor import Predictor, load_predictor
from agriseg.data.files import TABLE_ERRORS, atomic_write, atomic_writes
from agriseg.data.io import ImageReadError, PathsLike, photo_reading_rules, read_rgb

if TYPE_CHECKING:
    from agriseg.batch import BatchResult, Item
    from agriseg.fingerprint import Recipe
    from agriseg.models.io import LazyModel

OVERLAY_COLOURS = np.array([[0, 0, 0], [0, 255, 0], [255, 0, 255], [0, 200, 255], [255, 200, 0]], np.uint16)
OVERLAY_QUALITY = 90  # JPEG quality of overlays: 25x faster to encode than PNG and a quarter of the size


def overlay(rgb: np.ndarray, classes: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Tint class pixels over the photo: vegetation / crop green, weed magenta, other classes cyan-ish.

    Integer blend ``(photo * (256 - a) + colour * a + 128) >> 8`` with ``a = round(alpha * 256)``, done as one
    Pillow lookup table per class and a masked paste (C loops: a tenth of the time of the numpy expression).
    """
    a = round(alpha * 256)
    photo = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    out = photo.copy()
    levels = np.arange(256, dtype=np.uint16) * (256 - a)
    for k in range(1, int(classes.max(initial=0)) + 1):
        col = OVERLAY_COLOURS[min(k, len(OVERLAY_COLOURS) - 1)]
        lut = np.concatenate([(levels + int(c) * a + 128) >> 8 for c in col]).astype(np.uint8)  # (768,)
        out.paste(photo.point(lut.tolist()), mask=Image.fromarray(classes == k))
    return np.asarray(out)


# class-map palette: background black, then vegetation / crop green, weed magenta, further classes
CLASS_PALETTE = [(0, 0, 0), (0, 200, 0), (230, 0, 230), (0, 170, 255), (255, 200, 0)]
# names of what predict writes per photo; inputs in the output folder with these endings are never read
OUTPUT_SUFFIXES = ("_mask.png", "_classes.png", "_overlay.jpg", "_overlay.png")


@deprecated("save_png_atomic: unused, removed in the next release; use agriseg.data.files.atomic_write")
def save_png_atomic(arr: np.ndarray, path: Path) -> None:
    """Write a PNG via a temporary file + rename, so a killed run never leaves a half-written image."""
    with atomic_write(path) as tmp:
        Image.fromarray(arr).save(tmp)


def class_map_image(classes: np.ndarray) -> Image.Image:
    """A class-id map as a palette PNG image: pixel values stay the class ids, viewers show colours."""
    im = Image.fromarray(classes.astype(np.uint8), mode="P")
    flat = [c for rgb in CLASS_PALETTE for c in rgb]
    im.putpalette(flat + [128] * (768 - len(flat)))
    return im


SUMMARY_FIELDS = ["file", "status", "width", "height", "vegetation_fraction", "model_sure", "quality", "error"]
# the mask PNG's text key holding model_sure, so a resumed run writes the row a fresh one would
SURE_KEY = "agriseg:model_sure"
# ... and the model that made it (a packaged name as given, or a model file's name), so that `crop traits` of
# the mask knows what the classes mean (the crop of crop-weed is peanut)
MODEL_KEY = "agriseg:model"
PICTURE_COMMANDS = ("crop predict", "crop traits")  # the commands whose images in a folder are never photos
QUALITY_KEY = "agriseg:quality"  # the photo's quality flags (crop.quality.photo_quality), for a re-run's summary


@dataclass
class PhotoOutputs:
    """The files written for one photo; the photo is done only when all of them exist."""

    mask: Path
    classes: Path | None
    overlay: Path | None
    georeferenced: bool = False  # each image gets a GDAL ``.aux.xml`` sidecar with its photo's CRS and transform
    sidecar: str = ""  # the sidecars' text (read on the main thread: a reader of the photo's header on the writer
    # thread met the reader thread's warning filters, which are not thread-safe)

    def images(self) -> list[Path]:
        """The output images (mask, class map, overlay)."""
        return [p for p in (self.mask, self.classes, self.overlay) if p is not None]

    def sidecars(self) -> list[Path]:
        """The georeference sidecars of the images (none for a photo without georeference)."""
        return [p.with_name(p.name + ".aux.xml") for p in self.images()] if self.georeferenced else []

    def all(self) -> list[Path]:
        """Every output path."""
        return self.images() + self.sidecars()

    def complete(self) -> bool:
        """True when every output exists under its final name."""
        return all(p.is_file() for p in self.all())


def photo_outputs(outdir: Path, stem: str, num_classes: int, write_overlay: bool, sidecar: str = "") -> PhotoOutputs:
    """Where the outputs of the photo named ``stem`` go (``sidecar``: the ``.aux.xml`` text of a GeoTIFF or JPEG
    2000 photo's georeference, which its outputs carry; empty for a photo without one)."""
    return PhotoOutputs(
        outdir / f"{stem}_mask.png",
        outdir / f"{stem}_classes.png" if num_classes > 2 else None,
        outdir / f"{stem}_overlay.jpg" if write_overlay else None,
        bool(sidecar),
        sidecar,
    )


def _write_outputs(
    out: PhotoOutputs,
    rgb: np.ndarray,
    classes: np.ndarray,
    sure: float | None = None,
    model: str | None = None,
    quality: str | None = None,
) -> None:
    """Write all outputs of one photo, renaming them only once every one was written in full (the mask and the
    class map carry ``sure``, the photo's ``model_sure``, the ``model``'s name and the photo's ``quality`` in
    PNG text chunks: a re-run reads its summary row back without decoding the photo). Outputs of a
    georeferenced photo get their ``.aux.xml`` sidecars (``out.sidecar``)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(SURE_KEY, "" if sure is None else repr(sure))
    if model:
        info.add_text(MODEL_KEY, model)
    if quality is not None:
        info.add_text(QUALITY_KEY, quality)
    with atomic_writes(out.all()) as tmp:
        Image.fromarray((classes > 0).astype(np.uint8) * 255).save(tmp[out.mask], pnginfo=info)
        if out.classes is not None:
            class_map_image(classes).save(tmp[out.classes], pnginfo=info)
        if out.overlay is not None:
            Image.fromarray(overlay(rgb, classes)).save(tmp[out.overlay], format="JPEG", quality=OVERLAY_QUALITY)
        for side in out.sidecars():
            Path(tmp[side]).write_text(out.sidecar, encoding="utf-8")


def model_sure(classes: np.ndarray, sure: np.ndarray) -> float | None:
    """The share of a photo's vegetation whose probability the model itself put at the sure level
    (:meth:`Predictor.sure`), rounded to 4 decimals; None without vegetation."""
    veg = classes > 0
    return round(float(sure[veg].mean()), 4) if veg.any() else None


def read_model_sure(path: Path) -> float | None:
    """The ``model_sure`` a mask or class map written by :func:`predict_files` carries (None: none, or not
    such a file)."""
    text = _png_text(path).get(SURE_KEY)
    try:
        return float(text) if text else None
    except ValueError:
        return None


def read_model_name(path: Path) -> str | None:
    """The name of the model that made a mask or class map :func:`predict_files` wrote (None: not recorded,
    as in masks written before it was, or not such a file)."""
    return _png_text(path).get(MODEL_KEY) or None


def _png_text(path: Path) -> dict[str, str]:
    """The text chunks of a PNG (empty for another or an unreadable file)."""
    try:
        with Image.open(path) as im:
            return dict(getattr(im, "text", {}))
    except (OSError, ValueError):
        return {}


MIN_WORKING_SHORT_SIDE = 96
"""Fewer pixels than this across a photo at the working size, and its plants are specks there (a 10000 x 300
panorama at 800 px: 24 px high, cover 0.034 for a strip of cover 0.21): said, with the option that reads it."""


def thin_photo(shape: tuple[int, int], long_side: int, option: str = "--long-side") -> str | None:
    """What to say of a very wide or tall photo ``(H, W)`` that comes down to a sliver at the working size
    ``long_side`` (``option`` names how it is set; "": the model's, as ``crop traits`` reads photos), else None."""
    h, w = shape
    short = round(min(h, w) * long_side / max(h, w)) if long_side else min(h, w)
    # a photo already thinner than that at its own size counts too when it shrinks (a 20000x50 strip became 2 px)
    if short < MIN_WORKING_SHORT_SIDE and short < min(h, w):
        at = f"the working size ({option} {long_side})" if option else f"the model's working size ({long_side} px)"
        fix = "--long-side 0 reads it at its own size" if option else "`agriseg crop plots` reads it at its own size"
        return (
            f"{w}x{h} px comes down to {short} px across at {at}, where plants are specks; {fix}, or cut it into pieces"
        )
    return None


# a photo enlarged more than this many times for the model gets a warning: its plants are blurred far beyond any
# size the model was trained at. 12 Peanut validation photos shrunk to 320 px, mean IoU with their labels: 0.805 at
# their own size, 0.810 enlarged 5x, 0.575 at 10x; shrunk to 160 px: 0.797, 0.801 at 5x, 0.759 at 10x
# (benchmarks/crop_enlargement.py, results/crop_enlargement.json)
ENLARGEMENT_WARNED = 8


def enlarged_photo(shape: tuple[int, int], long_side: int, option: str = "--long-side") -> str | None:
    """What to say of a photo ``(H, W)`` enlarged more than :data:`ENLARGEMENT_WARNED` times to the working size
    ``long_side`` (``option`` as in :func:`thin_photo`; "": the model's, as ``crop traits`` reads photos), else
    None."""
    h, w = shape
    if long_side <= ENLARGEMENT_WARNED * max(h, w):
        return None
    at = f"the working size ({option} {long_side})" if option else f"the model's working size ({long_side} px)"
    fix = (
        "--long-side 0 reads it at its own size"
        if option
        else "`agriseg crop predict --long-side 0` reads it at its own size, and traits measures its masks"
    )
    return (
        f"{w}x{h} px enlarged {long_side / max(h, w):.0f} times to {at}, where the model sees blurred shapes: "
        f"masks and cover can be wrong; {fix}"
    )


def _warn_thin(source: str | Path, shape: tuple[int, int], long_side: int) -> None:
    """Warn when a very wide or tall photo comes down to a sliver at the working size, or is enlarged many times."""
    from agriseg.data.io import log

    for said in (thin_photo(shape, long_side), enlarged_photo(shape, long_side)):
        if said:
            log.warning("%s: %s", source, said)


# an orthomosaic read this many times smaller than its own size gets a warning: its plants are a few pixels at
# the working size (a 10000 px mosaic at 800 px gave cover 0.147 against 0.175 at its own size)
MOSAIC_REDUCTION_WARNED = 4


def _warn_mosaic(source: str | Path, shape: tuple[int, int], long_side: int) -> None:
    """Warn when a georeferenced photo (an orthomosaic) is reduced far below its own size for the model."""
    from agriseg.data.io import log

    h, w = shape
    if long_side and max(h, w) > MOSAIC_REDUCTION_WARNED * long_side:
        log.warning(
            "%s: an orthomosaic of %dx%d px read at --long-side %d (%.0f times smaller), where small plants are a "
            "few pixels and cover reads low; --long-side 0 reads it at its own size (in tiles), and `agriseg crop "
            "plots` measures its plots",
            source, w, h, long_side, max(h, w) / long_side,
        )  # fmt: skip


def _decide_and_write(
    decide: Callable[[], np.ndarray], sure: np.ndarray, f: Path, out: PhotoOutputs, rgb: np.ndarray, *rest: Any
) -> dict:
    """Decide one photo's class map (:meth:`Predictor.outline`'s second step) and write its outputs (run on the
    writer thread while the main thread runs the model on the next photos)."""
    classes = decide()  # (H, W)
    return _write_and_row(f, out, rgb, classes, model_sure(classes, sure), *rest)


def _write_and_row(
    f: Path,
    out: PhotoOutputs,
    rgb: np.ndarray,
    classes: np.ndarray,
    sure: float | None,
    k: int,
    class_fields: list[str],
    model: str | None = None,
) -> dict:
    """Write one photo's outputs and return its summary row (run on the writer thread)."""
    from agriseg.crop.quality import photo_quality

    quality = photo_quality(rgb)
    _write_outputs(out, rgb, classes, sure, model, quality)
    return {**_row(f, classes, sure, k, class_fields), "quality": quality}


def _row(f: Path, classes: np.ndarray, sure: float | None, k: int, class_fields: list[str]) -> dict:
    """The summary row of one photo, from its class map and ``model_sure`` (the same whether predicted now or
    read back)."""
    counts = np.bincount(classes.ravel(), minlength=k)[:k] / classes.size
    return {
        "file": str(f),
        "status": "ok",
        "width": classes.shape[1],
        "height": classes.shape[0],
        "vegetation_fraction": round(float((classes > 0).mean()), 6),
        "model_sure": "" if sure is None else sure,
        "error": "",
        **{n: round(float(c), 6) for n, c in zip(class_fields, counts[1:], strict=False)},
    }


def _read_back(f: Path, out: PhotoOutputs, k: int, class_fields: list[str]) -> dict | None:
    """The summary row of a photo done by an earlier run, from its outputs (None if they are unreadable)."""
    from agriseg.crop.labels import read_label
    from agriseg.crop.quality import photo_quality

    if out.classes is not None and not out.classes.exists() and out.mask.exists():
        k, class_fields = 2, []  # a vegetation model's outputs, listed as kept by a crop / weed run: no classes
    try:
        classes = read_label(out.classes, "index") if k > 2 and out.classes else read_label(out.mask, "binary")
        quality = _png_text(out.mask).get(QUALITY_KEY)  # masks written before it was kept: from the photo
        if quality is None:
            quality = photo_quality(read_rgb(f))
    except ValueError:
        return None
    sure = read_model_sure(out.mask)  # None: no vegetation, or a mask of an earlier version (a "kept" record)
    return {**_row(f, classes, sure, k, class_fields), "status": "skipped", "quality": quality}


# agriseg's version of what crop predict writes from a photo, model and options (part of every fingerprint)
# 2: outlines re-decided at the photo's resolution on reduced photos; 3: unsure pixels by colour; 4: plants the model
# half saw decided against their own soil; 5: those steps rise above the model's background floor; 6: faint
# stems traced at the photo's own size around gaps; 7: each object's unsure pixels decided against its own soil
# (refine.LOCAL_RING); 8: grey objects the model was never sure of dropped; 9: model_sure in the summary;
# 10: blue and saturated orange / yellow objects the model was never sure of dropped too (refine._no_plant_colour);
# 11: the half-seen step starts from 10 colour-decided pixels (refine.MIN_HALF_SEEN, 20 before); 12: tiles of a
# photo larger than --tile spaced by tiling.overlap_stride (rounded, as for fields and text; floored before)
ALGORITHM = "12"


@batch_keywords
def predict_files(
    predictor: Predictor,
    files: list[Path],
    outdir: Path,
    *,
    write_overlay: bool = True,
    class_names: list[str] | None = None,
    recipe: Recipe | None = None,
    batch: BatchOptions | None = None,
    too_large: Mapping[Path, str] | None = None,
) -> BatchResult:
    """Predict every file; write ``<name>_mask.png``, ``<name>_overlay.jpg`` and ``summary.csv``.

    ``<name>_mask.png`` is 0/255 vegetation (every class but 0). A model with more than two classes also
    writes ``<name>_classes.png`` (a palette PNG whose pixel values are the class ids) and a
    ``<class>_fraction`` column per class in the summary (e.g. ``crop_fraction``, ``weed_fraction``).
    Output names come from :func:`agriseg.batch.unique_names`, so inputs that share a stem never
    overwrite each other's results.

    The photos go through :func:`agriseg.batch.run_batch` (``batch``: overwrite, strict, progress): a photo
    whose outputs are there is skipped (unless ``overwrite``) and its summary row is read back from them, so
    an interrupted and resumed batch ends with the same files and the same ``summary.csv`` values as an
    uninterrupted one (its ``status`` says which rows the earlier run made); work files left by a killed run
    are removed; a bad file is reported in the summary and the batch goes on, unless ``strict``.

    Returns:
        The summary rows in input order, with the batch's counts; ``status`` is ``ok`` (predicted now),
        ``skipped`` (done by an earlier run of the same photo, model and options: the row is read back from its
        outputs), ``kept`` (made with other options, left alone) or ``error``, as in every command's table.
    """
    from agriseg.batch import Item, run_batch, unique_names
    from agriseg.raster.image import sidecar_of

    names = unique_names(files, outdir, recipe.command if recipe else None)  # earlier names kept
    k = predictor.num_classes
    labels = list(class_names) if class_names and len(class_names) == k else [f"class{i}" for i in range(k)]
    class_fields = [f"{n}_fraction" for n in labels[1:]] if k > 2 else []
    items = []
    for f in files:
        out = photo_outputs(Path(outdir), names[f], k, write_overlay, sidecar_of(f))
        items.append(Item(names[f], f, tuple(out.all()), (f,), resolved=photo_reading_rules(f), payload=out))
    from agriseg.manifest import seal_tables

    def finish(result: BatchResult) -> None:
        fields = SUMMARY_FIELDS[:5] + class_fields + SUMMARY_FIELDS[5:]
        write_csv_atomic(list(result), Path(outdir) / "summary.csv", fields)
        seal_tables([Path(outdir) / "summary.csv"])  # a later run keeps a table edited by hand

    return run_batch(
        items,
        stream=lambda todo: _predict_stream(predictor, todo, k, class_fields, _model_name(predictor), too_large),
        options=(batch or BatchOptions()).labelled("predict", "img"),
        recipe=recipe,
        resume=lambda it: _read_back(Path(it.source), it.payload, k, class_fields),
        tables=[Path(outdir) / "summary.csv"],
        finish=finish,
    )


# photos above this many pixels are decided before the model reads the next ones (their probabilities are large)
DECIDE_AHEAD_PIXELS = 12_000_000


def _predict_stream(
    predictor: Predictor,
    todo: Sequence[Item],
    k: int,
    class_fields: list[str],
    model: str | None = None,
    too_large: Mapping[Path, str] | None = None,
) -> Iterator[tuple[Item, dict | Exception]]:
    """Predict the photos of ``todo``, yielding ``(item, summary row or error)`` as each is written (a photo
    of ``too_large`` fails with its line, unread).

    Three stages overlap: a thread decodes the next photos, the main thread runs the model on batches of
    photos of one size, a thread encodes and writes outputs (PIL and numpy release the GIL). Outputs do
    not depend on the timing.
    """
    lookahead = 2 * predictor.batch_size
    refused = dict(too_large or {})

    def read(f: str | Path) -> np.ndarray:
        if Path(f) in refused:
            raise ImageReadError(refused[Path(f)])
        rgb = read_rgb(f)
        h, w = rgb.shape[:2]
        if predictor.long_side and round(min(h, w) * predictor.long_side / max(h, w)) < 1:
            # a 5000 x 3 strip at 256 px: 0 px across, an empty mask reported "ok" beside a warning
            raise ImageReadError(
                f"{f}: {w}x{h} px comes down to under 1 px across at the working size (--long-side "
                f"{predictor.long_side}): nothing to segment; --long-side 0 reads it at its own size"
            )
        return rgb

    with ThreadPoolExecutor(1, "agriseg-read") as reader, ThreadPoolExecutor(1, "agriseg-write") as writer:
        reads = deque((it, reader.submit(read, it.source)) for it in todo[:lookahead])
        queued = lookahead
        writes: deque[tuple[Item, Future]] = deque()
        pending: list[tuple[Item, np.ndarray]] = []

        def written(limit: int) -> Iterator[tuple[Item, dict | Exception]]:
            # every finished write at once (the progress bar, the manifest and a Ctrl-C count it); wait only
            # while more than ``limit`` are queued
            while writes and (len(writes) > limit or writes[0][1].done()):
                it, fut = writes[0]
                res: dict | Exception
                try:
                    res = fut.result()
                except OSError as err:
                    where = str(err.filename or it.payload.mask)  # the output that could not be written
                    said = err.strerror or str(err)  # a full disk is said as every command says it
                    res = OSError(err.errno, said if disk_full(err) else f"cannot write ({said})", where)
                except Exception as err:  # noqa: BLE001 - the runner fails this photo (a bug: named so), not the run
                    res = err
                writes.popleft()  # only now: a Ctrl-C while it was written leaves it for the drain below
                yield it, res

        def flush() -> Iterator[tuple[Item, dict | Exception]]:
            big = False
            if pending:
                try:
                    probs = predictor.probabilities([rgb for _, rgb in pending])
                except Exception as err:  # noqa: BLE001 - these photos fail (the runner names a bug so); others go on
                    failed = list(pending)
                    pending.clear()
                    for it, _ in failed:
                        yield it, err
                    return
                for (it, rgb), p in zip(pending, probs, strict=True):
                    _warn_thin(it.source, rgb.shape[:2], predictor.long_side)
                    if it.payload.georeferenced:
                        _warn_mosaic(it.source, rgb.shape[:2], predictor.long_side)
                    decide = predictor.outline(p, rgb)  # the model's second look, here; the rest on the writer
                    args = (Path(it.source), it.payload, rgb, k, class_fields, model)
                    sure = predictor.sure(p)
                    with signals_deferred():  # a photo given to the writer is written: it must be in the queue
                        writes.append((it, writer.submit(_decide_and_write, decide, sure, *args)))
                big = pending[0][1].size > DECIDE_AHEAD_PIXELS * 3
                pending.clear()
            # the writer's queue holds each photo's probabilities until its decision: one batch of them beside
            # the batch the model reads next, none for large photos (the memory check counts one batch)
            yield from written(0 if big else predictor.batch_size)

        try:
            while reads:
                it, fut = reads.popleft()
                if queued < len(todo):
                    reads.append((todo[queued], reader.submit(read, todo[queued].source)))
                    queued += 1
                try:
                    rgb = fut.result()
                except Exception as err:  # noqa: BLE001 - this photo fails (a bug: the runner names it so); others go on
                    # the photos before it first (the model's batch waiting for more): --strict stops at this one
                    # and kept none of them, though they came before it
                    yield from flush()
                    yield from written(0)
                    yield it, err
                    continue
                yield from written(lookahead)
                if pending and pending[0][1].shape != rgb.shape:
                    yield from flush()
                pending.append((it, rgb))
                if len(pending) >= predictor.batch_size:
                    yield from flush()
            yield from flush()
            yield from written(0)
        except KeyboardInterrupt:  # mostly in a model pass: the photos already given to the writer still count
            yield from finishing(written(0))
            raise


def _model_name(predictor: Predictor) -> str | None:
    """What the masks record of the model: a packaged name as given (``crop-weed``), or a model file's name."""
    from agriseg.models.io import PACKAGED

    given = getattr(predictor.model, "name", None)  # a LazyModel's name as given: a packaged name or a path
    return None if given is None else (given if given in PACKAGED else Path(given).name)


@batch_keywords
def predict_paths(
    paths: PathsLike,
    outdir: str | Path,
    config: CropPredictConfig | Mapping[str, Any] | None = None,
    batch: BatchOptions | None = None,
) -> BatchResult:
    """``agriseg crop predict``: segment the photos under ``paths`` into ``outdir`` (see :func:`predict_files`).

    Files in ``outdir`` named like outputs of an earlier run are never read as photos. ``config``: a
    :class:`CropPredictConfig`, a dict of its fields, or None for the defaults.

    Raises:
        ValueError: no photos (only earlier outputs), or a model that cannot be used.
    """
    from agriseg.config import as_config
    from agriseg.data.files import ensure_outdir, protected_inputs
    from agriseg.data.io import NoInputError, drop_outputs, list_images_once
    from agriseg.fingerprint import NOT_OUTPUT_OPTIONS, Recipe
    from agriseg.manifest import drop_recorded
    from agriseg.runtime import check_device

    config = as_config(CropPredictConfig, config)
    photos = list_images_once(paths)  # a missing or empty input is refused before the output folder is made
    # an earlier run's masks in a photo folder, and crop traits' pictures when its -o was the photos' folder
    photos, recorded = drop_recorded(photos, PICTURE_COMMANDS, tables=True)
    if not photos:  # before the output folder is made
        raise NoInputError(f"{recorded[0]}: an output of an earlier agriseg run, not a photo")
    check_device(config.device)  # a GPU this machine lacks: said as the option it came from
    pred = load_predictor(  # a model that is missing or needs an extra: said before the output folder is made
        config.model_name,
        config.long_side,
        config.tta,
        config.optimize,
        tile=config.tile,
        overlap=config.overlap,
        batch_size=config.batch_size,
        precision=config.precision,
        device=config.device,
    )
    # photos too large for the memory: refused when none fits before the output folder is made (it was left empty)
    too_large = check_photo_memory(photos, pred.long_side, pred.num_classes, "--long-side", config.batch_size)
    out = ensure_outdir(outdir)
    files, named_like = drop_outputs(photos, out, OUTPUT_SUFFIXES)  # no record says agriseg wrote them
    if not files:  # each one named like an output (_mask.png, _overlay.jpg...) in the output folder
        raise NoInputError(
            f"{named_like[0]}: named like a crop predict output in the output folder, so not read as a photo there "
            "(rename it, or predict into another folder)"
            if len(named_like) == 1
            else f"{outdir}: holds only files named like crop predict outputs ({named_like[0].name}...), no photos to "
            "read there (predict into another folder)"
        )
    kept = set(map(Path, files))
    too_large = {p: why for p, why in too_large.items() if p in kept}
    pred.progress = batch is None or batch.progress  # a photo in many tiles takes minutes on a CPU: its tiles get a bar
    cfg = pred.config
    assert cfg is not None
    options = config.model_dump(exclude={"model_name", "batch_size", "optimize"})
    options.update(long_side=pred.long_side, tta=pred.tta)
    # --overlay only chooses whether the overlay is written: turned on, the item runs for it
    recipe = Recipe(
        "crop predict", ALGORITHM, options, cast("LazyModel", pred.model).path, ignore=NOT_OUTPUT_OPTIONS | {"overlay"}
    )  # the model: load_predictor's
    # a file named like an output that no record says agriseg wrote may be the user's (a hand-drawn a_mask.png
    # beside a.jpg): kept even with --overwrite, as an input is
    why = "named like a crop predict output, with no record that agriseg wrote it: kept, even with --overwrite "
    with protected_inputs(named_like, why + "(rename it, or predict into another folder)"):
        result = predict_files(
            pred,
            files,
            out,
            write_overlay=config.overlay,
            class_names=cfg.class_names,
            recipe=recipe,
            batch=batch,
            too_large=too_large,
        )
    if recorded:
        result.notes.append(f"({counted(len(recorded), 'output')} of an earlier run not read as photos)")
    if named_like:
        n, first = len(named_like), named_like[0].name
        more = f" and {n - 1} more" if n > 1 else ""
        result.notes.append(f"({counted(n, 'file')} named like outputs, not read as photos: {first}{more})")
    result.notes += _other_crops(result, _model_name(pred))
    flagged = [r for r in result if r.get("status") in ("ok", "skipped") and r.get("quality")]
    if flagged:  # only summary.csv said so: a labels folder given as photos ran with exit 0 and not a word
        more = f" (and {len(flagged) - 1} more)" if len(flagged) > 1 else ""
        result.notes.append(
            f"warning: {flagged[0]['file']}: a photo not to trust ({flagged[0]['quality']}): its mask means "
            f"little{more}; see summary.csv's quality column"
        )
    return result


def _other_crops(rows: Iterable[dict], model: str | None) -> list[str]:
    """``crop traits``' warning (:func:`agriseg.crop.quality.other_crop`) for each photo of this run where a crop /
    weed model called most of the vegetation weed."""
    from agriseg.crop.quality import MODEL_CROPS, other_crop

    crop = MODEL_CROPS.get(model or "")
    if crop is None:  # a model that does not say its crop
        return []
    out = []
    for row in rows:
        if row.get("status") in ("ok", "skipped") and "weed_fraction" in row:
            if said := other_crop(crop, float(row["crop_fraction"]), float(row["weed_fraction"])):
                out.append(f"warning: {row['file']}: {said}")
    return out


# bytes per pixel of a photo at its full size while it is finished (measured, benchmarks/crop_photo_memory.py):
# the uint8 photo, its float32 copy before it is resized to the working size, the probabilities back at full
# size, the outline refinement at full resolution and the overlay
FULL_SIZE_BYTES = 44
# bytes per pixel of each further photo held at once: the probabilities of the others of a batch (2 classes
# at 4 bytes, and the uint8 photo) and the photos read ahead (uint8 RGB)
BATCHED_BYTES, READ_AHEAD_BYTES = 11, 3


def check_photo_memory(
    files: Sequence[Path], long_side: int, num_classes: int, option: str, batch_size: int = 1
) -> dict[Path, str]:
    """The photos that would not fit in memory, each with the line saying so (they fail as items, the batch goes
    on with the others); refused up front (:class:`agriseg.config.OptionError`) when none would fit.

    The estimate: the photo being finished at its full size (:data:`FULL_SIZE_BYTES` a pixel), the others of its
    batch and the photos read ahead as large, and its float32 planes at the working size ``long_side`` (3
    inputs, the class logits, the probabilities and a blending weight).
    """
    from agriseg.data.memory import refused_for_memory
    from agriseg.raster.image import image_size

    needs: dict[Path, tuple[float, str]] = {}
    batched = max(0, min(batch_size, len(files)) - 1)
    ahead = min(2 * batch_size, max(0, len(files) - 1))
    for f in files:
        size = image_size(f)  # from the header; a GeoTIFF only GDAL reads (16-bit RGB) too
        if size is None:
            continue  # an unreadable photo fails as its own item
        h, w = size
        s = long_side / max(h, w) if long_side else 1.0
        working = 4.0 * h * w * s * s * (4 + 2 * num_classes)
        need = working + h * w * (FULL_SIZE_BYTES + batched * BATCHED_BYTES + ahead * READ_AHEAD_BYTES)
        needs[Path(f)] = (need, f"{f} ({w} x {h} px)" + (f" at {option} {long_side}" if long_side else ""))
    return refused_for_memory(needs)


def write_csv_atomic(rows: list[dict], path: Path, fields: list[str]) -> None:
    """Write rows as CSV via a temporary file + rename."""
    with atomic_write(path) as tmp, open(tmp, "w", newline="", encoding="utf-8", errors=TABLE_ERRORS) as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})
