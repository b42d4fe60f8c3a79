"""MAgSeg instruction samples as a Hugging Face ``datasets`` dataset in TRL's conversational form.

One row per patch: ``prompt`` (user turn: image placeholders + the patch box + instruction), ``completion``
(assistant turn: the patch's RRLE answer), ``images`` (the patch cut from the image and the whole image, or
the whole image only; PIL), ``truth`` (the patch grid as
JSON, for the Dice reward), ``box`` (x0, y0, x1, y1), ``class_names`` (JSON), ``source`` (file name) and
``georef`` (JSON, empty for non-georeferenced inputs). Training uses random patches, evaluation a fixed grid.
The record builders need only numpy and PIL; :func:`to_hf_dataset` needs ``datasets``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, field_validator

from agriseg.batch.progress import library_bars_off
from agriseg.config import MAX_SEED, StrictModel, renamed_names
from agriseg.data.io import IMAGE_SUFFIXES, NoInputError, PathsLike, list_images, list_images_once, stem_key
from agriseg.raster.image import read_image_valid
from agriseg.text.codec import check_class_names, encode_answer, parse_class_words
from agriseg.text.config import grid_within_patch
from agriseg.text.grid import mask_to_grid
from agriseg.text.io import NODATA, check_same_georef, files_by_stem, read_mask, warn_lossy_masks
from agriseg.text.patches import Box, grid_boxes, random_boxes
from agriseg.text.prompts import assistant_message, user_message

log = logging.getLogger("agriseg")
PatchMode = Literal["random", "grid"]


#: random patches per image at most (MAgSeg takes 8; 1e8 of a small image ran for hours before writing one)
MAX_PER_IMAGE = 10_000


class PatchConfig(StrictModel):
    """How samples are cut.

    Attributes:
        patch: patch side in pixels (the paper's P).
        grid: RRLE grid cells per patch side (16, 24, 32 or any).
        mode: ``random`` boxes (training) or a fixed ``grid`` of boxes (evaluation).
        per_image: random boxes per image (mode ``random``).
        align: random box corners on a lattice of this many pixels (1 = any pixel, as in the paper).
        overlap: overlap of grid boxes (mode ``grid``).
        sentence: answer sentence before ``<seg>`` (empty: none).
        patch_image: pass the patch itself, at full resolution, as a first image before the whole image
            (MAgSeg: "the entire high-resolution image is passed with every patch"; a VLM resizes each image
            to its input size, so the whole image alone loses the patch's detail); ``False``: the whole
            image and the patch's coordinates only.
    """

    model_config = ConfigDict(frozen=True)  # merged with StrictModel's by pydantic

    patch: int = Field(32, ge=2)
    grid: int = Field(16, ge=1, le=4096)  # codec.MAX_GRID_SIDE
    mode: PatchMode = "grid"
    per_image: int = Field(4, ge=1, le=MAX_PER_IMAGE)
    align: int = Field(1, ge=1)
    overlap: float = Field(0.0, ge=0.0, lt=1.0)
    sentence: str = ""
    patch_image: bool = True

    _grid = field_validator("grid")(grid_within_patch)

    @field_validator("sentence")
    @classmethod
    def _sentence_outside_the_mask(cls, v: str) -> str:
        """The sentence precedes the mask in every answer: a tag, a run separator, a count mark or a line
        break in it would be read as part of the mask, and no answer would decode."""
        bad = [c for c in ("<", "|", "*", "\n") if c in v]
        if bad:
            raise ValueError(f"{v!r} holds {bad[0]!r}, which answers reserve for the mask")
        return v


class TextDatasetConfig(PatchConfig):
    """``agriseg text dataset``: :class:`PatchConfig` with MAgSeg's training sizes (448-px patches, 8 random
    patches per image) and the seed of the random patches."""

    patch: int = Field(448, ge=2)
    mode: PatchMode = "random"
    per_image: int = Field(8, ge=1, le=MAX_PER_IMAGE)
    seed: int = Field(0, ge=0, le=MAX_SEED)


def boxes_for(height: int, width: int, spec: PatchConfig, rng: np.random.Generator) -> list[Box]:
    """Patch boxes of one image according to ``spec``."""
    if spec.mode == "grid":
        return grid_boxes(height, width, spec.patch, spec.overlap)
    if spec.mode == "random":
        return random_boxes(height, width, spec.patch, spec.per_image, rng, spec.align)
    raise ValueError(f"mode must be 'random' or 'grid', got {spec.mode!r}")


def patch_records(
    image: np.ndarray,
    mask: np.ndarray,
    class_names: Sequence[str],
    spec: PatchConfig,
    rng: np.random.Generator,
    source: str = "",
    georef: str = "",
) -> list[dict[str, Any]]:
    """Instruction samples of one image.

    Args:
        image: (H, W, 3) uint8.
        mask: (H, W) class ids indexing ``class_names``, or 255 (nodata: counted in no cell).
        class_names: class words, background first.
        spec: patch cutting.
        rng: random generator (random boxes).
        source: name of the image (kept in the ``source`` column).
        georef: JSON georeference of the image ('' when none).

    Returns:
        Records with the dataset's columns (``images``: a list of PIL images).

    Raises:
        ValueError: on size mismatches or class ids outside ``class_names``.
    """
    from PIL import Image

    names = check_class_names(class_names)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{source or 'image'}: expected (H, W, 3) RGB, got shape {image.shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"{source or 'mask'}: mask shape {mask.shape} != image shape {image.shape[:2]}")
    check_class_ids(mask, names, source or "mask")
    image, mask = pad_edge_tile(image, mask, spec.patch)
    pil = Image.fromarray(image)
    out = []
    for box in boxes_for(image.shape[0], image.shape[1], spec, rng):
        x0, y0, x1, y1 = box
        if (mask[y0:y1, x0:x1] == NODATA).all():  # no data, or no label: its answer would be all background
            continue
        g = mask_to_grid(mask[y0:y1, x0:x1], spec.grid, len(names), ignore=NODATA)  # (G, G), nodata voting for none
        images = [pil.crop((x0, y0, x1, y1)), pil] if spec.patch_image else [pil]
        out.append(
            {
                "prompt": user_message(box, names, spec.patch_image),
                "completion": assistant_message(encode_answer(g, names, spec.sentence)),
                "images": images,
                "truth": json.dumps(g.tolist()),
                "box": list(box),
                "class_names": json.dumps(names),
                "source": source,
                "georef": georef,
            }
        )
    return out


def pad_edge_tile(image: np.ndarray, mask: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """An image smaller than the patch padded on the right and bottom: its edge pixels repeated, the mask
    filled with the nodata value, which no cell counts (a cell of nodata only reads as class 0)."""
    h, w = mask.shape
    if h >= patch and w >= patch:
        return image, mask
    ph, pw = max(0, patch - h), max(0, patch - w)
    image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge")  # (patch, patch, 3)
    mask = np.pad(mask, ((0, ph), (0, pw)), constant_values=NODATA)
    return image, mask


def records_from_arrays(
    images: Iterable[np.ndarray],
    masks: Iterable[np.ndarray],
    class_names: Sequence[str],
    spec: PatchConfig,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Records for in-memory images and masks (named ``array-<i>``)."""
    items = ((img, m, f"array-{i}", "") for i, (img, m) in enumerate(zip(images, masks, strict=True)))
    return list(_iter_records(items, class_names, spec, seed))


def check_class_ids(mask: np.ndarray, names: Sequence[str], where: str | Path) -> None:
    """Raise ``ValueError`` naming ``where`` when ``mask`` holds ids that are neither a class of ``names`` nor
    nodata (255)."""
    bad = (mask < 0) | ((mask >= len(names)) & (mask != NODATA))
    if bad.any():
        raise ValueError(
            f"{where}: class ids {sorted(np.unique(mask[bad]).tolist())[:5]} outside the {len(names)} "
            f"class names {list(names)} (and not the nodata value {NODATA})"
        )


def warn_zero_and_nodata(mask: np.ndarray, valid: np.ndarray | None, where: str | Path) -> None:
    """Log a warning when ``mask`` holds only class 0 and nodata (255) where the image has data: a 0/255 mask
    whose 255 was meant as a class would teach nothing but background, unsaid."""
    labelled = (mask != NODATA) if valid is None else (mask != NODATA) | ~valid
    if not labelled.all() and not (mask[labelled] > 0).any():
        log.warning(
            "%s: holds only 0 and %d, and %d is nodata (left out of every sample): for a 0/%d mask, write its "
            "classes as 0 and 1",
            where, NODATA, NODATA, NODATA,
        )  # fmt: skip


def _iter_records(
    items: Iterable[tuple[np.ndarray, np.ndarray, str, str]],
    class_names: Sequence[str],
    spec: PatchConfig,
    seed: int,
    failed: list[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of ``(image, mask, source, georef)`` items, their random boxes drawn from one seeded stream.

    With ``failed``, an item that cannot be cut is left out and its one-line reason appended there."""
    rng = np.random.default_rng(seed)
    empty: list[str] = []  # images that gave no sample: every tile all nodata or unlabelled
    for img, m, source, georef in items:
        try:
            recs = patch_records(img, m, class_names, spec, rng, source=source, georef=georef)
        except ValueError as err:
            if failed is None:
                raise
            failed.append(str(err))
            continue
        if not recs:
            empty.append(source or "an image")
        yield from recs
    if empty:
        more = f" (and {len(empty) - 1} more: {', '.join(empty[1:4])}{', ...' if len(empty) > 4 else ''})"
        log.warning(
            "%s%s: gave no sample (no labelled pixel where the image has data: its tiles are all nodata or 255)",
            empty[0], more if len(empty) > 1 else "",
        )  # fmt: skip


def pair_files(
    images: Sequence[Path], masks: Sequence[Path], failed: list[str] | None = None
) -> list[tuple[Path, Path]]:
    """Match image and mask files by stem.

    With ``failed``, an image without a mask is left out and named there; without it, it raises.

    Raises:
        ValueError: naming the first image without a mask.
        OptionError: two images (or masks) of one stem.
    """
    by_stem = files_by_stem(masks, "mask")
    files_by_stem(images, "image")  # two images of one stem would share one mask
    pairs = []
    for im in images:
        msg = ""
        if im.suffix.lower() not in IMAGE_SUFFIXES:  # named on the command line: not listed, so never checked
            msg = f"{im}: not a readable image (image files: {', '.join(IMAGE_SUFFIXES)})"
        elif stem_key(im) not in by_stem:
            msg = f"{im}: no mask with the stem {im.stem!r} among {len(masks)} mask files"
        elif im.resolve() == by_stem[stem_key(im)].resolve():  # images and --masks name one folder
            msg = f"{im}: is its own mask (the images and --masks name the same file); keep masks in their own folder"
        if msg:
            if failed is None:
                raise ValueError(msg)
            failed.append(msg)
            continue
        pairs.append((im, by_stem[stem_key(im)]))
    return pairs


def iter_records_from_files(
    images: PathsLike,
    masks: PathsLike,
    class_names: Sequence[str],
    spec: PatchConfig,
    seed: int = 0,
    bands: Sequence[int] | None = None,
    failed: list[str] | None = None,
    progress: bool = False,
) -> Iterator[dict[str, Any]]:
    """Records for image and mask files (or folders) matched by stem; GeoTIFFs keep their georeference.

    A georeferenced label must share its image's CRS and transform (a label of another area or resolution
    would teach the wrong classes silently). ``bands``: 1-based R, G, B band numbers of multi-band rasters.
    With ``failed``, a pair that cannot be read or used is left out and its one-line reason appended there;
    without it, the first such pair raises. Made one image at a time, as they are read (a list of them held
    every image and patch decoded: 80 kB of memory per 10 kB sample written). ``progress``: a bar over the
    images.
    """
    from agriseg.batch import describe_os_error, progress_bar

    names = check_class_names(class_names)

    def items() -> Iterator[tuple[np.ndarray, np.ndarray, str, str]]:
        pairs = pair_files(list_images(images), list_images(masks))
        warn_lossy_masks([m for _, m in pairs])
        small: list[tuple[str, int, int]] = []  # images smaller than the tile: padded to it
        for im_path, m_path in progress_bar(pairs, desc="samples", unit="img", disable=not progress or len(pairs) < 2):
            try:
                img, geo, valid = read_image_valid(im_path, bands)  # valid: None when every pixel holds data
                m = read_mask(m_path, len(names))
                if m.shape != img.shape[:2]:
                    swapped = m.shape == img.shape[1::-1]  # a photo agriseg turns upright by its EXIF orientation
                    turned = " (sides swapped: an EXIF-rotated photo, or a transposed mask)" if swapped else ""
                    raise ValueError(f"{m_path}: mask is {m.shape}, image {im_path.name} is {img.shape[:2]}{turned}")
                check_same_georef(m_path, im_path, geo, "its image")
                check_class_ids(m, names, m_path)  # the label file is the one to fix
                warn_zero_and_nodata(m, valid, m_path)
                if valid is not None:  # the image's nodata is the label's too: predict asks nothing there
                    m = np.where(valid, m, NODATA)  # (H, W)
            except (ValueError, OSError) as err:
                if failed is None:
                    raise
                failed.append(describe_os_error(err) if isinstance(err, OSError) else str(err))
                continue
            if min(img.shape[:2]) < spec.patch:
                small.append((str(im_path), *img.shape[:2]))
            yield img, m, im_path.name, geo.to_json() if geo and geo.placed else ""  # a plain TIFF: none
        _warn_small(small, len(pairs), spec.patch)

    return _iter_records(items(), class_names, spec, seed, failed)


def _warn_small(small: Sequence[tuple[str, int, int]], n: int, patch: int) -> None:
    """Say once how many images were smaller than the tile (each padded to it by repeating its edge pixels)."""
    if not small:
        return
    name, h, w = small[0]
    side = min(min(hh, ww) for _, hh, ww in small)
    log.warning(
        "%d of %d images are smaller than the %d-px tile (the first: %s, %dx%d px): each is padded to it by "
        "repeating its edge pixels (one smaller on both sides gives one tile, however many are asked); a tile of "
        "at most %d px (--tile) cuts them unpadded",
        len(small), n, patch, name, w, h, side,
    )  # fmt: skip


def records_from_files(
    images: PathsLike,
    masks: PathsLike,
    class_names: Sequence[str],
    spec: PatchConfig,
    seed: int = 0,
    bands: Sequence[int] | None = None,
    failed: list[str] | None = None,
) -> list[dict[str, Any]]:
    """:func:`iter_records_from_files` as a list."""
    return list(iter_records_from_files(images, masks, class_names, spec, seed, bands, failed))


def to_hf_dataset(records: Iterable[dict[str, Any]], chunk: int = 256) -> Any:
    """A ``datasets.Dataset`` of the records with ``images`` as a list of Image features.

    The records are taken ``chunk`` at a time into Arrow tables (images encoded), so a stream of them is never
    all held decoded at once.

    Raises:
        ValueError: on no records.
    """
    from datasets import concatenate_datasets

    parts, buf = [], []
    for rec in records:
        buf.append(rec)
        if len(buf) == chunk:
            parts.append(_hf_part(buf))
            buf = []
    if buf:
        parts.append(_hf_part(buf))
    if not parts:
        raise ValueError("no samples: every input was empty")
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def _hf_part(records: list[dict[str, Any]]) -> Any:
    from datasets import Dataset, Features, Image, Value
    from datasets import Sequence as HFSequence

    msg = [{"role": Value("string"), "content": [{"type": Value("string"), "text": Value("string")}]}]
    feats = Features(
        {
            "prompt": msg,
            "completion": msg,
            "images": [Image()],
            "truth": Value("string"),
            "box": HFSequence(Value("int32")),
            "class_names": Value("string"),
            "source": Value("string"),
            "georef": Value("string"),
        }
    )
    cols = {k: [r[k] for r in records] for k in feats}
    return Dataset.from_dict(cols, features=feats)


# agriseg's version of what text dataset writes from its inputs and options (part of its fingerprint)
# a data set of float tiles: its reading rule is in its fingerprint; 2: an image with no more places for a
# random tile than --per-image gives each place once
ALGORITHM = "2"
# in a data set folder: the images left out of it, one line each (a re-run that changes nothing reports them)
FAILED_FILE = "agriseg_failed.json"


@dataclass(frozen=True)
class BuiltDataset:
    """What :func:`build_dataset` made.

    Attributes:
        samples: the number of samples in the dataset folder.
        longest: the longest answer in tokens of the model's tokenizer (None without a model): GRPO's
            ``max_completion_length`` and predict's ``--max-new-tokens`` must fit it.
        skipped: the folder was made before from the same inputs and options (the run changed nothing).
        failed: one line per image left out (unreadable, without a mask, a mask that does not fit); kept in the folder
            (:data:`FAILED_FILE`), so a re-run that changes nothing reports them again.
    """

    samples: int
    longest: int | None
    skipped: bool = False
    failed: list[str] = field(default_factory=list)


def build_dataset(
    images: PathsLike,
    masks: PathsLike,
    out: str | Path,
    class_words: str,
    config: TextDatasetConfig,
    model: str | None = None,
    bands: Sequence[int] | None = None,
    overwrite: bool = False,
    strict: bool = False,
) -> BuiltDataset:
    """``agriseg text dataset``: instruction samples of image / mask files saved as a HF dataset folder.

    The folder is one item of the batch runner (:func:`agriseg.batch.run_batch`), so its fingerprint (every
    image and mask file, the class words, the patch options, the seed and the bands) is recorded: a re-run
    with the same ones leaves the folder as it is, one with another refuses naming what changed, and
    ``overwrite`` makes it again. ``model`` only checks the vocabulary; it does not change the samples.

    Args:
        images: image files or folders.
        masks: mask files or folders (class ids), matched to images by stem.
        out: the dataset folder (``datasets.save_to_disk``).
        class_words: comma-separated class words, background first.
        config: how patches are cut (and the seed).
        model: the model the data set is for: its vocabulary must hold every class word.
        bands: R, G, B band numbers (1-based) of multi-band rasters.
        overwrite: replace an existing folder (also one made with other inputs or options).
        strict: stop at the first image that cannot be used; otherwise it is left out, reported in
            :attr:`BuiltDataset.failed`, and the data set made from the rest.

    Raises:
        OptionError: fewer than two class words or one given twice (:func:`parse_class_words`); words the
            model's vocabulary lacks; two files of one stem.
        ValueError: an image without a mask; with the folder's path first, a folder
            made from other inputs or options, or not by this command (kept unless ``overwrite``).
    """
    from agriseg.batch import BatchOptions, Item, run_batch
    from agriseg.data.files import atomic_write, check_output_folder, check_replaceable, write_json
    from agriseg.fingerprint import Recipe

    check_output_folder(out)  # -o . or -o ..: a usage error before anything is read
    if Path(out).is_dir():  # a folder of the user's (or a model) is never replaced: said so, --overwrite or not
        check_replaceable(Path(out), "data set")
    names = parse_class_words(class_words)
    unpaired: list[str] = []  # images without a mask: left out and named, unless strict
    pairs = pair_files(list_images_once(images), list_images_once(masks), None if strict else unpaired)
    if not pairs:
        raise NoInputError(
            f"no image to use: none of the {len(unpaired)} given pairs with a mask (the first: {unpaired[0]})"
        )
    proc = None
    if model:
        from agriseg.text.modeling import check_class_words, load_processor, resolve_model_option

        model = resolve_model_option(model)
        proc = load_processor(model)
        check_class_words(proc, names, model)
    spec = PatchConfig.model_validate(config.model_dump(exclude={"seed"}))
    from agriseg.raster.image import check_bands_apply
    from agriseg.text.infer import PIXEL_BYTES, check_image_memory

    check_bands_apply([p[0] for p in pairs], bands)

    too_large = check_image_memory([p[0] for p in pairs], PIXEL_BYTES, spec.patch)  # a small image pads to a tile
    if too_large:  # one data set: any image that would not fit refuses it
        from agriseg.config import OptionError

        raise OptionError(next(iter(too_large.values())))
    out = Path(out)

    def longest(ds: Any) -> int | None:  # noqa: ANN401 - a datasets.Dataset
        from agriseg.text.sft import answer_tokens

        return None if proc is None else max(answer_tokens(ds, proc))

    def work(item: Item) -> dict[str, Any]:
        failed: list[str] | None = None if strict else list(unpaired)
        ims, mks = [p[0] for p in pairs], [p[1] for p in pairs]
        try:
            ds = to_hf_dataset(
                iter_records_from_files(ims, mks, names, spec, config.seed, bands, failed, progress=True)
            )
        except ValueError as err:
            if not failed or not str(err).startswith("no samples"):
                raise
            for line in failed[1:6]:  # the first is in the error; the others named too (a few, then counted)
                log.warning("failed: %s", line)
            if len(failed) > 6:
                log.warning("failed: %d more images", len(failed) - 6)
            raise ValueError(f"no samples: every image failed ({len(failed)}; the first: {failed[0]})") from None
        with atomic_write(out) as tmp:
            with library_bars_off():
                ds.save_to_disk(str(tmp))
            if failed:  # what was left out when pairing (found again by a re-run), then what failed to read
                n = len(unpaired)
                write_json(Path(tmp) / FAILED_FILE, {"unpaired": failed[:n], "failed": failed[n:]})
        return {"samples": len(ds), "longest": longest(ds), "skipped": False, "failed": failed or []}

    def resume(item: Item) -> dict[str, Any] | None:
        from datasets import load_from_disk

        try:
            ds = load_from_disk(str(out))
            failed_file = out / FAILED_FILE
            said = json.loads(failed_file.read_text(encoding="utf-8")) if failed_file.is_file() else []
        except Exception:  # noqa: BLE001 - an unreadable folder of this command's is made again
            return None
        # images without a mask (and files that are no image) are no input of the data set: one added later
        # leaves it as it is. They are the ones found now, not those of the run that made it (a photo added
        # without its mask went unnamed); a plain list (an earlier agriseg's) held both kinds: its pairing ones dropped
        if isinstance(said, dict):
            failed = list(said.get("failed", []))
        else:
            failed = [f for f in said if "no mask with the stem" not in f and "not a readable image (image" not in f]
        failed += list(unpaired) if not strict else []
        return {"samples": len(ds), "longest": longest(ds), "skipped": True, "failed": failed}

    options = {**config.model_dump(), "classes": names, "bands": list(bands) if bands else None}
    from agriseg.raster.image import reading_rules

    # rules that changed how some images read (floats by range, palettes as colours, nodata left out of the
    # labels): a dataset built from such images before them is built again; one of plain images keeps its fingerprint
    rules = {k: v for im, _ in pairs for k, v in reading_rules(im).items() if k in ("floats", "palette", "nodata")}
    item = Item(out.name, out, (out,), tuple(f for pair in pairs for f in pair), dict(sorted(rules.items())))
    result = run_batch(
        [item],
        work,
        options=BatchOptions(overwrite, strict=True, progress=False, named_output=True),
        recipe=Recipe("text dataset", ALGORITHM, options),
        resume=resume,
    )
    return BuiltDataset(**result[0])


# renamed to the *Config suffix: the old names work for one more release, with a warning
__getattr__ = renamed_names(globals(), {"PatchSpec": "PatchConfig"})
