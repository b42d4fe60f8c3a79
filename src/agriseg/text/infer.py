"""Patch-grid inference: batched generation of every patch's RRLE, decoding, stitching, optional voting.

MAgSeg runs the disjoint patches of an image as one batch and concatenates the decoded masks. With
``overlap > 0`` neighbouring patches share pixels and every pixel takes the class with the most votes
(``vote="center"`` weights each patch's vote by closeness to its centre), which is our answer to the
stitching artefacts MAgSeg lists as its main limitation. Needs the ``text`` extra (torch + transformers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from agriseg.batch import NAMED_LINES, BatchOptions, batch_keywords, counted
from agriseg.text.codec import DecodeReport, check_class_names, decode_rrle, parse_class_words
from agriseg.text.config import OPTION_FIELDS, PredictConfig, TextPredictConfig
from agriseg.text.grid import grid_to_mask
from agriseg.text.patches import Box, grid_boxes
from agriseg.text.prompts import user_message
from agriseg.tiling import blend_weights

if TYPE_CHECKING:
    from agriseg.batch import BatchResult
    from agriseg.data.io import PathsLike
    from agriseg.fingerprint import Recipe

VoteMode = Literal["count", "center"]


@dataclass
class PatchPrediction:
    """One patch's result.

    Attributes:
        box: (x0, y0, x1, y1) in pixels.
        text: the raw generated text.
        grid: (G, G) decoded class ids.
        report: what the decoder repaired.
    """

    box: Box
    text: str
    grid: np.ndarray
    report: DecodeReport


def _as_pil(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got shape {arr.shape} dtype {arr.dtype}")
    return Image.fromarray(arr)


def generate_batch(
    model: Any,
    processor: Any,
    images: Sequence[Any],
    prompts: Sequence[list[dict[str, Any]]],
    max_new_tokens: int = 512,
    do_sample: bool = False,
    temperature: float = 1.0,
) -> list[str]:
    """Generate one answer per (image, conversational prompt) pair in a single padded batch.

    Args:
        model: a VLM with ``generate``.
        processor: its processor (chat template required).
        images: per prompt, one PIL image (or (H, W, 3) uint8 array) or a list of them (one per image
            placeholder of the prompt).
        prompts: conversational prompts (``user_message``).
        max_new_tokens: generation budget (must fit a whole mask).
        do_sample: sample instead of greedy decoding.
        temperature: sampling temperature.

    Returns:
        The generated texts (special tokens removed).
    """
    import torch

    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
    if not getattr(processor, "chat_template", None):
        raise ValueError("the processor has no chat template (see agriseg.text.modeling.ensure_chat_template)")
    texts = [processor.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    enc = processor(
        text=texts,
        images=[[_as_pil(i) for i in im] if isinstance(im, list | tuple) else [_as_pil(im)] for im in images],
        return_tensors="pt",
        padding=True,
        padding_side="left",
        add_special_tokens=False,
    )
    dev = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    enc = {k: (v.to(dev, dtype) if k == "pixel_values" else v.to(dev)) for k, v in enc.items()}
    kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": do_sample}
    if do_sample:
        kw.update(temperature=temperature, top_k=0, top_p=1.0)
    with torch.inference_mode():
        out = model.generate(**enc, **kw)  # (B, L_prompt + L_new)
    new = out[:, enc["input_ids"].shape[1] :]  # (B, L_new)
    return processor.tokenizer.batch_decode(new, skip_special_tokens=True)


def vote_weights(patch: int, mode: VoteMode) -> np.ndarray:
    """(P, P) per-pixel vote weight of a patch: ones, or a tent peaking at the centre (never zero)."""
    return blend_weights(patch, "ones" if mode == "count" else "tent")


def stitch(
    preds: Sequence[PatchPrediction],
    size: tuple[int, int],
    num_classes: int,
    vote: VoteMode = "count",
) -> np.ndarray:
    """Paste patch predictions into a full mask; overlapping pixels take the weighted majority class.

    Args:
        preds: patch predictions whose boxes cover the image.
        size: (H, W) of the image.
        num_classes: number of classes.
        vote: ``count`` (equal votes) or ``center`` (votes weighted towards patch centres).

    Returns:
        (H, W) int64 class ids.
    """
    h, w = size
    votes = np.zeros((num_classes, h, w))  # (K, H, W)
    for p in preds:
        x0, y0, x1, y1 = p.box
        m = grid_to_mask(p.grid, (y1 - y0, x1 - x0))  # (P, P)
        wts = vote_weights(y1 - y0, vote) if (y1 - y0) == (x1 - x0) else np.ones((y1 - y0, x1 - x0))
        onehot = m[None] == np.arange(num_classes)[:, None, None]  # (K, P, P)
        votes[:, y0:y1, x0:x1] += onehot * wts[None]
    return votes.argmax(0).astype(np.int64)


def predict_many(
    model: Any,
    processor: Any,
    images: Sequence[Any],
    class_names: Sequence[str],
    cfg: PredictConfig,
    progress: str | None = None,
) -> list[tuple[np.ndarray, list[PatchPrediction]]]:
    """Segment several images; patches of all images share generation batches of ``cfg.batch_size``.

    Args:
        model: a VLM.
        processor: its processor.
        images: PIL images or (H, W, 3) uint8 arrays.
        class_names: class words, background first.
        cfg: patch size, grid, overlap and vote, batching and decoding.
        progress: a name to show a bar of patches under (while more than one generation batch is left; a
            large tile takes minutes), or None for no bar.

    Returns:
        Per image: (H, W) int64 mask and its patch predictions.

    Raises:
        ValueError: if the class names are invalid. (An image smaller than the patch is padded.)
    """
    names = check_class_names(class_names)
    pils = [_pad_to_patch(_as_pil(im), cfg.patch) for im in images]
    sizes = [_as_pil(im).size for im in images]  # (W, H) before padding
    jobs = [(i, b) for i, pil in enumerate(pils) for b in grid_boxes(pil.size[1], pil.size[0], cfg.patch, cfg.overlap)]
    per_image: list[list[PatchPrediction]] = [[] for _ in pils]
    from agriseg.batch import progress_bar

    shown = progress is not None and len(jobs) > cfg.batch_size
    bar = progress_bar(total=len(jobs), desc=progress, unit="patch", leave=False, disable=not shown)
    for k in range(0, len(jobs), cfg.batch_size):
        chunk = jobs[k : k + cfg.batch_size]
        texts = generate_batch(
            model,
            processor,
            [[pils[i].crop(b), pils[i]] if cfg.patch_image else pils[i] for i, b in chunk],
            [user_message(b, names, cfg.patch_image) for _, b in chunk],
            cfg.max_new_tokens,
            cfg.do_sample,
            cfg.temperature,
        )
        for (i, b), t in zip(chunk, texts, strict=True):
            g, rep = decode_rrle(t, (cfg.grid, cfg.grid), names)
            per_image[i].append(PatchPrediction(b, t, g, rep))
        bar.update(len(chunk))
    bar.close()
    return [
        (stitch(preds, (pil.size[1], pil.size[0]), len(names), cfg.vote)[: wh[1], : wh[0]], preds)
        for pil, wh, preds in zip(pils, sizes, per_image, strict=True)
    ]


def _pad_to_patch(pil: Any, patch: int) -> Any:
    """An edge tile smaller than the patch, padded on the right and bottom by repeating its edge pixels
    (the mask is cropped back afterwards), so a mosaic's last, partial tiles are segmented, not refused."""
    w, h = pil.size
    if w >= patch and h >= patch:
        return pil
    from PIL import Image

    a = np.asarray(pil)  # (H, W, 3)
    a = np.pad(a, ((0, max(0, patch - h)), (0, max(0, patch - w)), (0, 0)), mode="edge")
    return Image.fromarray(a)


def predict_image(
    model: Any,
    processor: Any,
    image: Any,
    class_names: Sequence[str],
    cfg: PredictConfig,
    progress: str | None = None,
) -> tuple[np.ndarray, list[PatchPrediction]]:
    """Semantic mask of one image: (H, W) int64 class ids, and its patch predictions (:func:`predict_many`)."""
    return predict_many(model, processor, [image], class_names, cfg, progress)[0]


# agriseg's version of what text predict writes from an image, model and options (part of every fingerprint)
ALGORITHM = "1"  # images with nodata or floats: their reading rules are in each item's fingerprint

# bytes per pixel of segmenting one image, about: reading it (up to 4-byte samples, then uint8 RGB) and its
# padded PIL copies, the stitched mask (int64, and a copy); per class, a float64 vote plane
PIXEL_BYTES, CLASS_BYTES = 40, 8
# with instances: the boundary map (the image as float64 RGB, then float64 grey planes) and the labels
INSTANCE_BYTES = 72


def check_image_memory(
    files: Sequence[Path], per_pixel: float, tile: int = 0, option: str = "--tile"
) -> dict[Path, str]:
    """The images that would not fit in memory, each with the line saying so (a batch fails them as items and
    goes on); refused up front (:class:`agriseg.config.OptionError`) when none would fit.

    The size comes from each file's header (:func:`agriseg.raster.image.image_size`); no pixel is read. An
    image smaller than ``tile`` is padded to it, so its padded size counts (named by ``option``).
    """
    from agriseg.data.memory import refused_for_memory
    from agriseg.raster.image import image_size

    needs: dict[Path, tuple[float, str]] = {}
    for f in files:
        size = image_size(f)
        if size is None:
            continue
        h, w = max(size[0], tile), max(size[1], tile)
        name = f"{f} ({size[1]} x {size[0]} px)"
        if (h, w) != tuple(size[:2]):
            name += f" padded to {option} {tile}"
        needs[Path(f)] = (float(h) * w * per_pixel, name)
    return refused_for_memory(needs)


@batch_keywords
def predict_files(
    model: Any,
    processor: Any,
    files: Sequence[Path],
    outdir: Path,
    class_names: Sequence[str],
    cfg: PredictConfig,
    *,
    instances: bool = True,
    bands: Sequence[int] | None = None,
    recipe: Recipe | None = None,
    batch: BatchOptions | None = None,
    finish: Callable[[BatchResult], None] | None = None,
    tables: Sequence[Path] = (),
    too_large: Mapping[Path, str] | None = None,
    load: Callable[[], tuple[Any, Any]] | None = None,
) -> BatchResult:
    """Segment image files one by one and write their outputs (``bands``: R, G, B band numbers).

    With ``load``, ``model`` and ``processor`` are what it returns, called once after the outputs are checked
    (not when they are refused) and before anything is written.

    ``finish`` writes the run's ``tables`` (``run.json``) from the result while the output folder is still
    locked; the batch runner keeps them as :func:`agriseg.batch.run_batch` keeps every command's tables (one a
    user edited is refused, one a stopped run would leave describing other settings is removed first).

    Per image ``<name>`` (its stem, made unique across the inputs by :func:`agriseg.batch.unique_names`):
    the semantic mask ``<name>.png`` (``.tif`` with the input's georeference for GeoTIFFs), ``<name>.json``
    (patches and their repairs) and, with ``instances``, ``<name>_instances.*`` and ``<name>.geojson``
    (instance polygons). The images go through :func:`agriseg.batch.run_batch` (``batch``: overwrite,
    strict, progress): an image whose outputs all exist is skipped unless ``overwrite``; an unreadable image
    is reported and the batch goes on unless ``strict``.

    Returns:
        One row per file: ``file``, ``status`` (ok / skipped / kept / error), ``valid_patches``, ``patches``,
        ``error``; with the batch's counts.
    """
    from agriseg.batch import Item, run_batch, unique_names
    from agriseg.config import OptionError
    from agriseg.data.files import atomic_writes, write_json
    from agriseg.data.io import log
    from agriseg.raster.image import is_geo_image, read_image_valid, reading_rules
    from agriseg.text.instances import semantic_to_instances, write_instances
    from agriseg.text.io import NODATA, write_mask

    names = unique_names(files, outdir, recipe.command if recipe else None)  # earlier names kept
    items = []
    for f in files:
        ext = ".tif" if is_geo_image(f) else ".png"  # a GeoTIFF named .png too: its mask keeps the georeference
        n = names[Path(f)]
        outputs = [outdir / f"{n}{ext}", outdir / f"{n}.json"]
        if instances:
            outputs += [outdir / f"{n}_instances{ext}", outdir / f"{n}.geojson"]
        # how nodata and float pixels are read is the item's own setting: outputs of such an image made before
        # these rules are redone, those of a plain image stay current
        items.append(Item(n, Path(f), tuple(outputs), (Path(f),), resolved=reading_rules(f)))

    refused = dict(too_large or {})
    loaded = [model, processor]

    def prepare() -> None:
        if load is not None:
            loaded[:] = load()

    def work(item: Item) -> dict[str, Any]:
        if Path(item.source) in refused:  # would not fit in memory (check_image_memory): fails unread
            raise ValueError(refused[Path(item.source)])
        img, geo, valid = read_image_valid(item.source, bands)  # valid: None when every pixel holds data
        if valid is not None and not valid.any():  # all nodata: nothing to ask the model, nothing to find
            log.warning(
                "%s: every pixel is nodata; its mask is nodata (%d) and it has no polygons", item.source, NODATA
            )
            sem, preds = np.zeros(img.shape[:2], np.int64), list[PatchPrediction]()
        else:
            shown = Path(item.source).name if options.progress else None
            sem, preds = predict_image(loaded[0], loaded[1], img, class_names, cfg, progress=shown)
        if preds and all("no_mask" in p.report.kinds() for p in preds):  # a mask made up: no output at all
            raise ValueError(
                f"the model wrote no mask text for any of its {len(preds)} tiles, so there is no mask to write "
                "(a model not trained for masks as text, or --max-new-tokens too small)"
            )
        # background everywhere from answers the decoder had to repair: more likely a broken answer than an empty
        # tile; said for the batch, after it (its repaired tiles said there, not again by the command's line)
        empty_repaired = 0
        if preds and not sem[valid if valid is not None else ...].any():
            empty_repaired = sum(not p.report.valid for p in preds)
        report = {
            "image": str(item.source),
            "patches": len(preds),
            "valid_patches": sum(p.report.valid for p in preds),
            "repairs": [{"box": list(p.box), "repairs": p.report.summary()} for p in preds if not p.report.valid],
        }
        if valid is not None:
            report["nodata_pixels"] = int((~valid).sum())
        o = item.outputs
        with atomic_writes(o) as tmp:  # the image's outputs take their names together, or none does
            if instances:
                labels, _ = semantic_to_instances(sem, img)
                if valid is not None:
                    labels[~valid] = 0  # (H, W): no object (no polygon) made of nodata
                write_mask(labels, tmp[o[2]], geo, ids=True)  # never wrapped: ids match the GeoJSON's
                write_instances(labels, sem, class_names, tmp[o[3]], geo, source=item.source)
            if valid is not None:
                sem = np.where(valid, sem, NODATA)  # the mask's declared nodata where the image has none
            write_mask(sem, tmp[o[0]], geo, class_names=list(class_names))
            write_json(tmp[o[1]], report)
        return {
            "file": str(item.source),
            "status": "ok",
            "patches": len(preds),
            "valid_patches": report["valid_patches"],
            "no_mask_patches": sum("no_mask" in p.report.kinds() for p in preds),  # background made up, not repaired
            # its GeoJSON in pixel columns and rows: an image without a CRS (said once for the batch)
            "pixel_polygons": bool(instances and (geo is None or not geo.crs)),
            "repairs_said": bool(empty_repaired),
            "empty_repaired": empty_repaired,
        }

    options = (batch or BatchOptions()).labelled("predict", "img")
    for it in items if finish is not None else ():
        if outdir / "run.json" in it.outputs:
            raise OptionError(
                f"{it.source}: its report would be {outdir / 'run.json'}, the run's own record; rename it"
            )

    def resume(item: Item) -> dict[str, Any] | None:
        # outputs of an image whose model wrote no mask text in any tile (written, all background, by agriseg
        # before session 89; such an image fails now): made again, not resumed as a prediction
        import json

        try:
            report = json.loads(Path(item.outputs[1]).read_text(encoding="utf-8"))
            made_up = report["patches"] > 0 and len(report["repairs"]) == report["patches"]
            made_up = made_up and all("no_mask" in r["repairs"] for r in report["repairs"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if made_up:
            return None
        return {"file": str(item.source), "status": "skipped", "patches": report["patches"],
                "valid_patches": report.get("valid_patches", 0)}  # fmt: skip

    rows = run_batch(items, work, options=options, recipe=recipe, finish=finish, tables=tables, resume=resume,
                     prepare=prepare)  # fmt: skip
    rows.notes += empty_masks_said([r for r in rows if r["status"] == "ok" and r.get("empty_repaired")])
    if in_pixels := sum(bool(r.get("pixel_polygons")) for r in rows if r["status"] == "ok"):
        from agriseg.batch import counted

        its = "its" if in_pixels == 1 else "their"
        rows.notes.append(
            f"warning: {counted(in_pixels, 'image')} without a CRS (PNG, JPEG, or a TIFF without one): {its} "
            "<name>.geojson polygons are in pixel columns and rows from the top-left corner (y down), not longitude "
            "/ latitude: give GeoTIFFs with a CRS for polygons a GIS places"
        )
    return rows


def empty_masks_said(rows: list[dict]) -> list[str]:
    """The warnings of masks that are all background from answers that needed repair: one line an image for
    the first :data:`NAMED_LINES`, then how many more (a line an image, 40 for 40 images, buried the rest of a
    large batch's output: session 106's sweep)."""
    from agriseg.batch import counted

    out = []
    for r in rows[:NAMED_LINES]:
        n, fixed = r["patches"], r["empty_repaired"]
        which = "its one tile's answer" if n == 1 else f"all {n} tiles' answers" if fixed == n else (
            f"{fixed} of its {n} tiles' answers")  # fmt: skip
        out.append(f"warning: {r['file']}: its mask is all background, and {which} needed repair (see its .json): "
                   "check it before using it")  # fmt: skip
    if len(rows) > NAMED_LINES:
        more = counted(len(rows) - NAMED_LINES, "more image")
        out.append(f"warning: ... and {more} whose masks are all background from repaired answers (see their .json)")
    return out


def repairs_said(rows: Iterable[dict]) -> list[str]:
    """The lines naming the images some of whose tiles were repaired: at most :data:`NAMED_LINES` by name, then
    how many more; not an image whose empty mask :func:`empty_masks_said` named with its repairs already."""
    todo = [r for r in rows if r["status"] == "ok" and r["valid_patches"] < r["patches"] and not r.get("repairs_said")]
    out = []
    for r in todo[:NAMED_LINES]:
        empty = r.get("no_mask_patches", 0)  # tiles without mask text are background made up, not repaired
        ok, n = r["valid_patches"], r["patches"]
        fixed = n - ok - empty
        parts = ([f"{'all' if fixed == n else fixed} repaired"] if fixed else []) + (
            [f"{empty} without mask text, drawn as background"] if empty else [])  # fmt: skip
        well = f"none of its {n} tiles" if ok == 0 else f"{ok} of {n} tiles"
        out.append(f"{r['file']}: {well} well-formed ({'; '.join(parts)}; see its .json)")
    if len(todo) > NAMED_LINES:
        more = counted(len(todo) - NAMED_LINES, "more image")
        out.append(f"... and {more} with repaired tiles (see their .json)")
    return out


@batch_keywords
def predict_paths(
    images: PathsLike,
    outdir: str | Path,
    model_name: str,
    config: TextPredictConfig,
    classes: str | None = None,
    chat_template: str | Path | None = None,
    bands: Sequence[int] | None = None,
    batch: BatchOptions | None = None,
) -> BatchResult:
    """``agriseg text predict``: segment the images under ``images`` with a VLM (see :func:`predict_files`).

    The class words, patch and grid default to those the model folder was trained with; ``run.json`` in
    ``outdir`` records the model, classes and options.

    Raises:
        OptionError: a name that is no model; class words that are fewer than two, given twice
            (:func:`agriseg.text.codec.parse_class_words`), differ from the model's, or none known; a chat
            template file that is not one (:func:`agriseg.text.modeling.ensure_chat_template`).
        ValueError: no patch / grid known.
    """
    from agriseg import __version__
    from agriseg.batch import check_table
    from agriseg.config import OptionError
    from agriseg.data.files import write_json
    from agriseg.data.io import NoInputError, list_images_once
    from agriseg.fingerprint import NOT_OUTPUT_OPTIONS, Recipe
    from agriseg.text.modeling import check_answer_length, check_class_words, load_vlm, resolve_model_option
    from agriseg.text.sft import read_meta

    given = parse_class_words(classes) if classes else None  # checked once, before any image
    model_name = resolve_model_option(model_name)  # a mistyped folder fails here, not after hub retries
    meta = read_meta(model_name) if Path(model_name).is_dir() else {}
    names = given or meta.get("class_names")
    saved = meta.get("class_names")
    if saved and names != saved:
        raise OptionError(
            f"{model_name}: --classes {','.join(names or [])} differs from the classes the model was trained "
            f"with ({','.join(saved)}, in this order); leave --classes out to use them"
        )
    patch, grid = config.patch or meta.get("patch"), config.grid or meta.get("grid")
    missing = [flag for flag, known in (("--classes", names), ("--tile", patch), ("--grid", grid)) if not known]
    if missing:  # one line for all of them (a model agriseg did not train, e.g. a fresh text tiny-model)
        raise OptionError(
            f"{model_name}: no {', '.join(m.lstrip('-') for m in missing)} saved with the model (it was not trained "
            f"by agriseg text sft / grpo); give {' '.join(missing)}"
        )
    assert names is not None  # checked above
    if config.patch and not config.grid and grid and config.patch < grid:  # said of --tile, before its warning below
        raise OptionError(  # (it was said as "--grid: 4 cells cannot fit a patch of 2 px", a flag not typed)
            f"--tile {config.patch}: smaller than the {grid} x {grid} grid of the model's mask text (at most one "
            f"cell a pixel); give --tile {grid} or more"
        )
    longest = meta.get("answer_tokens")
    if longest and config.max_new_tokens < longest:
        from agriseg.data.io import log

        log.warning(
            "%s: --max-new-tokens %d is less than the longest answer it was trained on (%d tokens): longer masks "
            "will be cut (repaired); give --max-new-tokens %d or more",
            model_name,
            config.max_new_tokens,
            longest,
            longest,
        )
    if config.grid and meta.get("grid") and config.grid != meta["grid"]:
        raise OptionError(
            f"{model_name}: --grid {config.grid} differs from the {meta['grid']} x {meta['grid']} mask text the model "
            "was trained to write; leave --grid out to use it"
        )
    if config.patch_image is not None and "patch_image" in meta and config.patch_image != meta["patch_image"]:
        flag = "--patch-image" if config.patch_image else "--no-patch-image"
        raise OptionError(
            f"{model_name}: {flag} differs from how the model was trained (with{'' if meta['patch_image'] else 'out'} "
            "the tile as a first image); leave it out to use that"
        )
    if config.patch and meta.get("patch") and config.patch != meta["patch"]:
        from agriseg.data.io import log

        log.warning(
            "%s: --tile %d differs from the %d-px tiles the model was trained on: each cell of its mask text covers "
            "%.3g times the ground it learned",
            model_name,
            config.patch,
            meta["patch"],
            (config.patch / meta["patch"]) ** 2,
        )
    cfg = PredictConfig.model_validate(
        {
            **config.model_dump(exclude={"device", "instances"}),
            "patch": patch,
            "grid": grid,
            # a model agriseg did not train (no agriseg_text.json) sees the whole image only, unless told
            "patch_image": bool(meta.get("patch_image", False) if config.patch_image is None else config.patch_image),
        }
    )
    files = list_images_once(images)
    from agriseg.manifest import drop_recorded, seal_tables

    # what an earlier run wrote into an input folder (a_jpg.png ...: -o that folder) is never read as an image
    files, earlier = drop_recorded(files, ("text predict",))
    if not files:
        raise NoInputError(f"{earlier[0]}: an output of an earlier run, not an image (no other images given)")
    from agriseg.raster.image import check_bands_apply

    check_bands_apply(files, bands)
    per_pixel = PIXEL_BYTES + CLASS_BYTES * len(names) + (INSTANCE_BYTES if config.instances else 0)
    too_large = check_image_memory(files, per_pixel, cfg.patch)  # these fail as items; none fitting: refused
    check_table(Path(outdir) / "run.json", bool(batch and batch.overwrite), "text predict")  # not a user's file
    template = str(chat_template) if chat_template else None

    def load() -> tuple[Any, Any]:  # after the outputs are checked: a refused run loads no model
        model, proc = load_vlm(model_name, device=config.device, template_path=template)
        check_class_words(proc, names, model_name)
        check_answer_length(model, cfg.max_new_tokens, model_name)
        return model, proc

    out = Path(outdir)
    options = {**cfg.model_dump(exclude={"batch_size"}), "instances": config.instances, "classes": names}
    options["bands"] = list(bands) if bands else None  # the bands read change every mask (None: as before)
    # --instances chooses files, not what is in them (as crop predict's --no-overlay): turned on again, its files
    # are made; turned off, the earlier ones are kept (it was refused as another setting, session 108's sweep)
    recipe = Recipe("text predict", ALGORITHM, options, model_name, [template] if template else [],
                    ignore=NOT_OUTPUT_OPTIONS | {"instances"})  # fmt: skip

    def finish(rows: BatchResult) -> None:  # run while the folder is still locked
        # a run whose outputs are there, made now or resumed (the same settings), says what made them: a resume
        # that made nothing new deleted the run.json of the run before it
        if any(r["status"] in ("ok", "skipped") for r in rows):
            # the options named as the user types them (--sample/--greedy sets do_sample)
            typed = {field: flag for flag, field in OPTION_FIELDS.items()} | {"do_sample": "sample"}
            said = {typed.get(k, k): v for k, v in cfg.model_dump().items()} | {"instances": config.instances}
            here = Path(model_name)  # a model folder given relative to where the command ran: said in full
            shown = str(here.resolve()) if here.exists() else model_name  # (a hub id as given)
            run = {"agriseg": __version__, "model": shown, "classes": names, "options": said,
                   "bands": list(bands) if bands else None}  # fmt: skip
            kept = [r["file"] for r in rows if r["status"] == "kept"]
            kept += _earlier_runs_otherwise(out, {o.item.name for o in rows.outcomes})
            if kept:  # outputs left as another model or other options made them: not described by the above
                run["made_with_other_settings"] = kept
            write_json(out / "run.json", run)  # what made these outputs: model, classes, options
            seal_tables([out / "run.json"])  # a later run keeps it if edited by hand

    rows = predict_files(None, None, files, out, names, cfg, instances=config.instances, bands=bands,
                         recipe=recipe, batch=batch, finish=finish, tables=[out / "run.json"],
                         too_large=too_large, load=load)  # fmt: skip
    if earlier:
        said = counted(len(earlier), "output")
        rows.notes.append(f"({said} of an earlier run among the images not read as images)")
    return rows


def _earlier_runs_otherwise(folder: Path, items: set[str]) -> list[str]:
    """The images whose masks in ``folder`` earlier runs made with other settings (another model, other classes
    or options) than this run's ``items``: a second run into a folder rewrites its ``run.json``, which must not
    describe the first run's masks as its own."""
    from agriseg.manifest import recorded_settings

    made = recorded_settings(folder, "text predict")
    ours = {settings for item, settings, _ in made.values() if item in items}
    if len(ours) != 1:
        return []
    return sorted({source for item, settings, source in made.values() if item not in items and settings not in ours})


def seam_disagreement(mask: np.ndarray, patch: int, truth: np.ndarray | None = None) -> float:
    """A stitching-artefact score: share of label changes across patch seams that the truth does not have.

    Counts, along every vertical and horizontal seam of a disjoint ``patch`` grid, the neighbouring pixel
    pairs whose labels differ in ``mask`` but agree in ``truth`` (or, without truth, simply differ), divided
    by the number of seam pairs.

    Args:
        mask: (H, W) predicted class ids.
        patch: patch side of the disjoint grid the seams belong to.
        truth: (H, W) true class ids, optional.

    Returns:
        A rate in [0, 1] (0 when the image has no seam).
    """
    h, w = mask.shape
    bad, total = 0, 0
    for x in range(patch, w, patch):
        diff = mask[:, x - 1] != mask[:, x]  # (H,)
        if truth is not None:
            diff &= truth[:, x - 1] == truth[:, x]
        bad, total = bad + int(diff.sum()), total + h
    for y in range(patch, h, patch):
        diff = mask[y - 1] != mask[y]  # (W,)
        if truth is not None:
            diff &= truth[y - 1] == truth[y]
        bad, total = bad + int(diff.sum()), total + w
    return bad / total if total else 0.0
