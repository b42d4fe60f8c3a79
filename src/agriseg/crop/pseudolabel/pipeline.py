"""Batch pseudo-labelling: photos -> GGHT masks + per-image JSON records (+ overlays, plots).

Output layout under ``outdir``::

    masks/<stem>.png       0/255 mask PNG (255 = vegetation), full image size
    overlays/<stem>.jpg    photo with the mask tinted green (screening page thumbnails)
    records/<stem>.json    per-image record: threshold, fitted curve, fit quality, full-coverage flag, ...
    plots/<stem>.png       histogram + fitted curve (``plot=True``)
    depth_cache/           Depth Anything estimates (``<stem>.<model key>.<pixels hash>.npy``), reused on re-runs
    pseudolabels.json      the options and every record (what ``agriseg crop screen`` reads)

A bad input (unreadable photo, missing depth file, depth of the wrong size, constant depth, NaNs) gives a
record with ``status="error"`` and a message that starts with the offending path; the batch goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from PIL import Image
from pydantic import Field

from agriseg.batch import counted
from agriseg.config import OptionError, StrictModel, TorchDevice, renamed_names
from agriseg.crop.pseudolabel.depth import (
    DEFAULT_DEPTH_MODEL,
    DepthConvention,
    Detrend,
    find_depth_file,
    other_depth_files,
    read_depth,
    relief,
)
from agriseg.crop.pseudolabel.gght import GGHTConfig, GGHTResult, gght
from agriseg.crop.pseudolabel.indices import INDICES, IndexName, green_floor, vegetation_index
from agriseg.data.files import atomic_write, write_json
from agriseg.data.io import cv_write, photo_reading_rules
from agriseg.manifest import seal_tables

if TYPE_CHECKING:
    from agriseg.batch import BatchResult
    from agriseg.data.io import PathsLike

Source = Literal["index", "depth"]
IndexChoice = Literal["exg", "exg_exr", "cive", "lab_a", "auto"]
DEFAULT_INDEX: IndexChoice = "cive"


class PseudoLabelConfig(StrictModel):
    """How pseudo-labels are made.

    Attributes:
        source: ``index`` (a vegetation index from RGB; needs no model) or ``depth``.
        index: vegetation index for ``source="index"``; ``auto`` runs GGHT on all four indices and keeps,
            per image, the one with the best fit quality (an unsupervised choice; about 3x slower).
        depth_dir: folder of depth files matched by image stem (``source="depth"``); if None, depth is
            estimated with ``depth_model``.
        depth_model: Depth Anything V2 model id or local directory.
        depth_convention: ``depth`` (larger = farther) or ``inverse`` (larger = nearer); None = ``depth``
            for files, ``inverse`` for Depth Anything estimates.
        detrend: remove the ground plane from depth (``plane``) or not (``none``).
        depth_input_size: short side of the photo fed to Depth Anything.
        device: torch device for depth estimation.
        gght: the thresholding choices.
        plot: save histogram plots.
        overlays: save overlay JPEGs (needed by the screening page).
        overlay_long_side: long side of overlay JPEGs (px).
        overwrite: redo images that already have a record.
    """

    source: Source = "index"
    index: IndexChoice = DEFAULT_INDEX
    depth_dir: str | None = None
    depth_model: str = DEFAULT_DEPTH_MODEL
    depth_convention: DepthConvention | None = None
    detrend: Detrend = "plane"
    depth_input_size: int = Field(518, ge=14)  # Depth Anything's patch is 14 px
    device: TorchDevice = "cpu"
    gght: GGHTConfig = GGHTConfig()
    plot: bool = False
    overlays: bool = True
    overlay_long_side: int = Field(480, ge=16)
    overwrite: bool = False


# PIL modes whose pixels are 8-bit, which the fast reduced-size JPEG path can decode directly (with alpha: the
# shared reader, which reads a transparent pixel as black as every crop command does)
_EIGHT_BIT_MODES = ("RGB", "RGBX", "L", "P", "CMYK", "YCbCr", "1")


def read_rgb_for_index(path: str | Path, long_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Read a photo reduced to about ``long_side`` px (JPEG DCT scaling, then area resize).

    Returns:
        ``(uint8 RGB (h, w, 3), full size (H, W))``.

    Raises:
        ValueError: starting with the path when the file is missing or unreadable.
    """
    import cv2  # OpenCV comes with the [train] extra: imported on use so the configs load without it

    from agriseg.data.io import (
        MAX_PIXELS,
        apply_orientation,
        exif_orientation,
        open_image,
        quiet_pil,
        read_rgb,
        warn_pages,
    )

    path = Path(path)
    if not path.is_file():
        open_image(path)  # the words every command says of it (a broken link, a folder, not found)
    arr: np.ndarray | None = None
    try:
        with quiet_pil(path), Image.open(path) as im:  # PIL's own size warning: agriseg's limit is below
            W, H = im.size
            if W < 2 or H < 2:  # as crop predict says it (it was "cive: signal is constant")
                raise ValueError(f"{path}: the image is {W}x{H} px, too small to segment (at least 2x2)")
            if W * H > MAX_PIXELS:
                raise ValueError(f"{path}: image is {W}x{H} px, over the {MAX_PIXELS / 1e6:.0f} MP limit for one image")
            orientation = exif_orientation(im)
            if im.mode in _EIGHT_BIT_MODES and "transparency" not in im.info:
                if long_side and max(W, H) > long_side:
                    s = long_side / max(W, H)
                    im.draft("RGB", (max(1, round(W * s)), max(1, round(H * s))))
                arr = apply_orientation(np.asarray(im.convert("RGB")), orientation)
                warn_pages(im, path)  # as crop predict says it (the first page was read unsaid); read_rgb says it below
    except ValueError:
        raise
    except Exception:  # noqa: BLE001 - PIL cannot: the shared reader reads what it can (a float TIFF) or says why
        arr = None
    if arr is None:  # 16-bit, float or alpha: the shared reader (bit depth, transparent pixels), turned upright
        arr = read_rgb(path)
        H, W = arr.shape[:2]
    elif orientation in (5, 6, 7, 8):
        H, W = W, H
    if long_side and max(arr.shape[:2]) > long_side:
        s = long_side / max(arr.shape[:2])
        size = (max(2, round(arr.shape[1] * s)), max(2, round(arr.shape[0] * s)))
        arr = cv2.resize(arr, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(arr), (H, W)


def index_pseudolabel(
    rgb: np.ndarray,
    index: IndexChoice = DEFAULT_INDEX,
    cfg: GGHTConfig | None = None,
    out_shape: tuple[int, int] | None = None,
) -> tuple[GGHTResult, dict]:
    """GGHT on a vegetation index of ``rgb`` ``(h, w, 3)``; the mask has ``out_shape`` (default ``(h, w)``).

    Returns:
        ``(result, extra record fields: index used and, for auto, every index's fit quality)``.
    """
    cfg = cfg or GGHTConfig()
    names = cast("list[IndexName]", list(INDICES) if index == "auto" else [index])
    best: tuple[GGHTResult, str] | None = None
    qualities: dict[str, float] = {}
    errors: list[str] = []
    for n in names:
        try:
            floor = green_floor(n, rgb) if cfg.green_floor == "auto" else None
            res = gght(vegetation_index(rgb, n), cfg, rgb=rgb, out_shape=out_shape, floor=floor)
        except ValueError as err:
            errors.append(f"{n}: {err}")
            continue
        qualities[n] = round(res.quality, 6)
        if best is None or res.quality > best[0].quality:
            best = (res, n)
    if best is None:
        raise ValueError("; ".join(errors))
    extra: dict[str, Any] = {"index": best[1]}
    if index == "auto":
        extra["index_qualities"] = qualities
    return best[0], extra


class _DepthSource:
    """Depth per image: a matched file, or a cached Depth Anything estimate."""

    def __init__(self, opts: PseudoLabelConfig, outdir: Path) -> None:
        self.opts, self.outdir = opts, outdir
        self.estimator = None
        if opts.depth_dir is None:
            from agriseg.crop.pseudolabel.depth import DepthAnythingEstimator

            self.estimator = DepthAnythingEstimator(opts.depth_model, opts.device, opts.depth_input_size)
        self.convention: DepthConvention = opts.depth_convention or ("depth" if opts.depth_dir else "inverse")

    def __call__(self, stem: str, rgb: np.ndarray, image_path: Path) -> tuple[np.ndarray, dict]:
        if self.estimator is None:
            assert self.opts.depth_dir is not None  # no estimator is made when depth files are given
            # by the photo's own name, not the one the run gives it (A_0001_jpg beside B/0001.jpg: session 105)
            p = find_depth_file(self.opts.depth_dir, image_path.stem, image_path)  # a missing one: its failure
            if others := other_depth_files(self.opts.depth_dir, image_path.stem, p, image_path):
                from agriseg.data.io import log

                log.warning("%s: depth read from %s; %s beside it not read", image_path, p.name,
                            ", ".join(o.name for o in others))  # fmt: skip
            d = read_depth(p)
            if d.shape != rgb.shape[:2]:
                raise ValueError(
                    f"{p}: depth is {d.shape[1]}x{d.shape[0]}, its image {image_path.name} is "
                    f"{rgb.shape[1]}x{rgb.shape[0]} (sizes must match)"
                )
            return d, {"depth_file": str(p), "depth_convention": self.convention}
        from agriseg.crop.pseudolabel.depth import cached_estimate

        d, hit = cached_estimate(self.estimator, rgb, self.outdir / "depth_cache", stem)
        return d, {
            "depth_model": self.estimator.model_id,
            "depth_cached": hit,
            "depth_convention": self.convention,
        }


def _save_png(arr: np.ndarray, path: Path) -> None:
    import cv2  # OpenCV comes with the [train] extra: imported on use so the configs load without it

    with atomic_write(path) as tmp:
        cv_write(tmp, arr, [cv2.IMWRITE_PNG_COMPRESSION, 1])


def _save_json(obj: object, path: Path) -> None:
    write_json(path, obj)


def overlay_jpeg(rgb: np.ndarray, mask: np.ndarray, path: Path, long_side: int = 480) -> None:
    """Write the photo with the mask tinted green and its outline drawn, at ``long_side`` px (atomic)."""
    import cv2  # OpenCV comes with the [train] extra: imported on use so the configs load without it

    h, w = rgb.shape[:2]
    s = min(1.0, long_side / max(h, w))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    im = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if s < 1 else rgb.copy()
    m: np.ndarray = mask.astype(np.uint8)
    if m.shape != im.shape[:2]:  # the photo may be a reduced copy of the mask's full size
        m = cv2.resize(m, size, interpolation=cv2.INTER_NEAREST)
    out = im.astype(np.float32)
    fg = m > 0
    out[fg] = 0.55 * out[fg] + 0.45 * np.array([0, 255, 0], np.float32)
    out = out.clip(0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 0, 255), 1)
    with atomic_write(path) as tmp:
        cv_write(tmp, cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


def read_keep(path: str | Path) -> set[str]:
    """The photos accepted in a screening export, as written there: ``{"accepted": [...]}`` or a plain JSON
    list of the page's names, file names or stems (:func:`kept_files` matches them to photos).

    Raises:
        FileNotFoundError / OptionError: naming the file (usage errors on the command line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: keep file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (Windows editors) as the CSV readers
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise OptionError(f"--keep {path}: not valid JSON ({err})") from None
    items = data.get("accepted") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise OptionError(f"--keep {path}: expected a list or an object with an 'accepted' list")
    return {str(s) for s in items}


_WARNED_KEEP: set[tuple[str, ...]] = set()  # exports whose unmatched names were said (a command reads one twice)


def kept_files(
    files: list[Path], keep: set[str], said: str | Path | None = None, names: Mapping[Path, str] | None = None
) -> list[Path]:
    """The ``files`` a screening export accepts: each by the name the pseudo-label page gave it (its output
    name: ``a_png`` where ``a.jpg`` and ``a.png`` share a stem), its file name, or its stem (``plot.1.2023``
    is one stem, not a name with an extension to strip). ``said``: the export's path, to warn about its names
    that match no photo (a photo renamed or moved since the screening, or an export of another folder).
    ``names``: the output names the run gives (with an earlier run's, :func:`agriseg.batch.unique_names`);
    by default as a first run names ``files``."""
    from agriseg.batch import counted, listed
    from agriseg.data.io import output_names

    names = names if names is not None else output_names(files)
    screened = set(names.values())
    kept, matched = [], set()
    for f in files:
        # a name the page gave another photo is that photo's: "a_png" (a.png beside a.jpg) kept a_png.png too
        if hits := ({names[f]} | ({f.name, f.stem} - screened)) & keep:
            kept.append(f)
            matched |= hits
    unknown = sorted(keep - matched)
    if said is not None and unknown and kept and (str(said), *unknown) not in _WARNED_KEEP:  # once per run
        _WARNED_KEEP.add((str(said), *unknown))  # (none kept: the callers refuse, naming the export)
        import logging

        logging.getLogger("agriseg").warning(
            "--keep %s: %s accepted there but no photo given (%s): renamed since the screening, or screened in "
            "another folder?",
            said, counted(len(unknown), "name", "is/are"), listed(unknown, 3),
        )  # fmt: skip
    return kept


# agriseg's version of what crop pseudolabel writes from a photo and options (part of every fingerprint)
ALGORITHM = "1"


def pseudolabel_files(
    files: list[Path],
    outdir: str | Path,
    opts: PseudoLabelConfig | None = None,
    keep: set[str] | None = None,
    progress: bool = True,
    strict: bool = False,
    work_folder: bool = False,
) -> BatchResult:
    """Pseudo-label every photo; write masks, overlays, records and ``pseudolabels.json``.

    The photos go through :func:`agriseg.batch.run_batch`: a photo whose mask and record (and overlay,
    plot when asked) are there is skipped unless ``opts.overwrite``; a failed photo gets a record with its
    error and the batch goes on unless ``strict``.

    Args:
        files: photos.
        outdir: output folder.
        opts: options.
        keep: if given, only the photos it accepts are processed (:func:`kept_files`).
        progress: show a tqdm bar.
        strict: stop at the first photo that fails.
        work_folder: ``outdir`` is a command's own work folder (``crop selftrain``'s ``pseudo/``): the masks of
            a photo edited since (or of another photo of that name) are made again, not refused.

    Returns:
        One record per photo (``status`` ok / skipped / error), with the batch's counts.
    """
    from agriseg.batch import BatchOptions, Item, run_batch, unique_names
    from agriseg.data.files import ensure_outdir
    from agriseg.fingerprint import NOT_OUTPUT_OPTIONS, Recipe

    opts = opts or PseudoLabelConfig()
    if opts.source != "depth" and opts.depth_dir is not None:  # never read: say so rather than ignore it
        raise OptionError(f"--depth-dir {opts.depth_dir}: depth files are read with --source depth only")
    # the depth model first: one that cannot be loaded (offline, misspelt) is a usage error that makes no folder
    depth_src = _DepthSource(opts, Path(outdir)) if opts.source == "depth" else None
    out = ensure_outdir(outdir)  # a folder that cannot be written is a usage error, before any work
    for sub in ("masks", "records") + (("overlays",) if opts.overlays else ()) + (("plots",) if opts.plot else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)
    # the names an earlier run gave are kept; --overwrite names the photos afresh (a clash since removed: 0001);
    # named among all the photos given, before --keep: the names the screening page showed (a.png kept alone
    # beside a.jpg was a.png, not the a_png the page had shown)
    files, depths = photos_and_depths(files, opts)  # (crop adapt's and selftrain's photos too)
    _one_depth_each(files, opts)
    names = unique_names(files, None if opts.overwrite else out / "masks", "crop pseudolabel")
    left_out = 0
    if keep is not None:
        chosen = kept_files(files, keep, names=names)
        left_out, files = len(files) - len(chosen), chosen
    items = []
    for f in files:
        stem = names[f]
        outputs = [out / "masks" / f"{stem}.png", out / "records" / f"{stem}.json"]
        outputs += [out / "overlays" / f"{stem}.jpg"] if opts.overlays else []
        outputs += [out / "plots" / f"{stem}.png"] if opts.plot else []
        # its depth file is an input of its own (the folder's time says nothing of an edited file in it)
        depth = _given_depth(opts, f)
        items.append(Item(stem, f, tuple(outputs), (f, depth) if depth else (f,), resolved=photo_reading_rules(f)))
    model = opts.depth_model if opts.source == "depth" and opts.depth_dir is None else None
    unread: dict[str, Any] = {"overwrite": True, "device": True, "depth_model": True}
    if opts.source == "depth":  # depth is never floored: depth outputs of before the option resume
        unread["gght"] = {"green_floor"}
    options = opts.model_dump(exclude=unread)
    default = "depth" if opts.depth_dir else "inverse"
    if opts.source != "depth" or opts.depth_convention == default:
        options["depth_convention"] = None  # its default given by name makes the same masks: resumed, not refused
    # outputs an earlier agriseg recorded with the default given by name (it recorded what was typed) resume too
    alike = [{**options, "depth_convention": default}] if options["depth_convention"] is None else []
    if opts.depth_dir:  # which depth file each photo read is its input (path and content): the folder's spelling
        # is no setting (./ddp/ against ddp was "other settings"; session 107's sweep); recorded as typed before
        alike += [{**o, "depth_dir": opts.depth_dir} for o in (options, *alike)]
        options["depth_dir"] = "given"
    # --plot and --overlay only choose which files are written: turned on, the item runs for them
    recipe = Recipe("crop pseudolabel", ALGORITHM, options, model, [], ignore=NOT_OUTPUT_OPTIONS | {"plot", "overlays"},
                    same_as=alike)  # fmt: skip

    def work(item: Item) -> dict:
        return _pseudolabel_one(Path(item.source), item.name, out, opts, depth_src)

    def resume(item: Item) -> dict | None:
        try:
            rec = json.loads(item.outputs[1].read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return {**rec, "image": str(item.source), "status": "skipped"}  # where it is now (moved since)

    def failed(item: Item, msg: str) -> dict:
        # reported in pseudolabels.json only: a file under the item's output name would read as someone else's
        return {"image": str(item.source), "stem": item.name, "source": opts.source, "status": "error", "error": msg}

    def finish(records: BatchResult) -> None:  # run while the folders are still locked
        summary = {
            "options": opts.model_dump(),
            "records": list(records),
            # failed: as the command's line counts them (error, and kept: outputs of other settings refused)
            "counts": {
                **{s: sum(r["status"] == s for r in records) for s in ("ok", "skipped", "kept", "error")},
                "failed": sum(r["status"] in ("kept", "error") for r in records),
            },  # fmt: skip
        }
        _save_json(summary, out / "pseudolabels.json")
        seal_tables([out / "pseudolabels.json"])  # a later run keeps a table edited by hand

    records = run_batch(
        items,
        work,
        options=BatchOptions(
            opts.overwrite, strict, progress, f"pseudolabel ({opts.source})", "img", redo_inputs=work_folder
        ),
        recipe=recipe,
        resume=resume,
        failed=failed,
        tables=[out / "pseudolabels.json"],  # a user's file of that name is kept: the run is refused first
        finish=finish,
    )
    if left_out:
        verb = "was" if left_out == 1 else "were"
        records.notes.append(f"({counted(left_out, 'photo')} not in the --keep list {verb} left out)")
    if depths:
        records.notes.append(f"({counted(len(depths), 'depth file')} of the photos not read as photos)")
    return records


def _given_depth(opts: PseudoLabelConfig, photo: Path) -> Path | None:
    """The depth file of ``--depth-dir`` a photo is labelled from; None without one (a missing file fails the
    photo, as :class:`_DepthSource` says)."""
    if opts.source != "depth" or opts.depth_dir is None:
        return None
    try:
        return find_depth_file(opts.depth_dir, photo.stem, photo)
    except FileNotFoundError:
        return None


def _one_depth_each(files: Sequence[Path], opts: PseudoLabelConfig) -> None:
    """Refuse photos of one name in several folders that would read one depth file of ``--depth-dir``.

    Raises:
        OptionError: naming two such photos and the file.
    """
    by_depth: dict[Path, list[Path]] = {}
    for f in files:
        if (depth := _given_depth(opts, f)) is not None:
            by_depth.setdefault(depth.resolve(), []).append(f)
    for depth, photos in by_depth.items():
        if len(photos) > 1:
            raise OptionError(
                f"{photos[0]} and {photos[1]}: photos of one name would read one depth file, {depth}; label each "
                "folder in a run of its own, with its own --depth-dir"
            )


def photos_and_depths(files: Sequence[Path], opts: PseudoLabelConfig) -> tuple[list[Path], list[Path]]:
    """``files`` without those that are another photo's depth file (``--depth-dir`` the photos' own folder, as
    ``<name>_depth.png`` beside ``<name>.jpg``: each was labelled as a photo, from itself as its depth), and those
    left out. ``a.png`` and ``a.tif`` each find the other as its depth: the one-band file is the depth (else the
    likelier depth format: .npy, then TIFF, then PNG). Only depth-like files: all are kept (each fails, naming
    what is missing)."""
    if opts.source != "depth" or opts.depth_dir is None:
        return list(files), []
    given = {f.resolve(): f for f in files}
    pick = {f.resolve(): d.resolve() for f in files if (d := _given_depth(opts, f)) is not None}
    depths = {d for d in pick.values() if d in given}
    for f, d in pick.items():
        if f in depths and d in depths and pick.get(d) == f:  # each the other's depth: keep the photo of the two
            photo = min((f, d), key=_depth_likeness)
            depths.discard(photo)
    photos = [f for f in files if f.resolve() not in depths]
    if not photos:
        return list(files), []
    return photos, sorted(given[d] for d in depths)


def _depth_likeness(path: Path) -> tuple[bool, int]:
    """Sorts a photo before a depth file: more than one band first, then by format (JPEG, PNG, TIFF, .npy)."""
    from agriseg.raster.image import band_count

    order = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".npy")
    suffix = path.suffix.lower()
    return band_count(path) == 1, order.index(suffix) if suffix in order else 0


GREYSCALE = "a greyscale photo: a colour index cannot find vegetation in it"


def _pseudolabel_one(f: Path, stem: str, out: Path, opts: PseudoLabelConfig, depth_src: _DepthSource | None) -> dict:
    """Pseudo-label one photo: write its mask, record (and overlay, plot) together; returns the record.

    The files take their names at once (:func:`~agriseg.data.files.atomic_writes`): a run stopped while a
    photo was labelled leaves none of its files, so the masks in the folder are the photos counted as done.

    Raises:
        ValueError / OSError: starting with the offending path (the photo or its depth file).
    """
    from agriseg.crop.quality import greyscale
    from agriseg.data.files import atomic_writes
    from agriseg.data.io import read_rgb

    t0 = time.perf_counter()
    rec: dict = {"image": str(f), "stem": stem, "source": opts.source}
    if opts.source == "index":
        small, full = read_rgb_for_index(f, opts.gght.fit_long_side)
        grey = greyscale(small)  # the index finds nothing real; the mask still comes back, from noise and shading
        if grey:  # said after the batch, one line per photo that the CLI collapses (30 photos gave 30 lines)
            rec["quality"] = "greyscale"
        try:
            res, extra = index_pseudolabel(small, opts.index, opts.gght, out_shape=full)
        except ValueError as err:  # an index constant on a greyscale photo (exg): said as what the photo is
            if grey:
                raise ValueError(f"{f}: {GREYSCALE} ({opts.index}: {err})") from err
            raise
        rgb_for_overlay = small
    else:
        assert depth_src is not None
        rgb = read_rgb(f)
        depth, extra = depth_src(stem, rgb, f)
        try:
            measured = "depth_file" in extra  # a file's 0 is no reading; an estimate's, its farthest pixel
            source = extra.get("depth_file", str(f))
            signal, valid = relief(depth, extra["depth_convention"], opts.detrend, source, measured)
            res = gght(signal, opts.gght, rgb=rgb, valid=valid)
        except ValueError as err:
            src = extra.get("depth_file") or f"{f} (estimated depth)"
            msg = str(err)
            raise ValueError(msg if msg.startswith(src) else f"{src}: {msg}") from err
        rgb_for_overlay = rgb
    rec.update(extra)
    rec.update(res.record())
    rec.update(
        {
            "status": "ok",
            "error": "",
            "width": int(res.mask.shape[1]),
            "height": int(res.mask.shape[0]),
            "mask": f"masks/{stem}.png",
        }
    )
    mask, record = out / "masks" / f"{stem}.png", out / "records" / f"{stem}.json"
    overlay, plot = out / "overlays" / f"{stem}.jpg", out / "plots" / f"{stem}.png"
    with atomic_writes([mask, record] + [overlay] * opts.overlays + [plot] * opts.plot) as tmp:
        _save_png(res.mask.astype(np.uint8) * 255, tmp[mask])
        if opts.overlays:
            overlay_jpeg(rgb_for_overlay, res.mask, tmp[overlay], opts.overlay_long_side)
            rec["overlay"] = f"overlays/{stem}.jpg"
        if opts.plot:
            from agriseg.crop.pseudolabel.plot import plot_histogram

            plot_histogram(res, tmp[plot], title=f"{stem} ({extra.get('index', opts.source)})")
            rec["plot"] = f"plots/{stem}.png"
        rec["seconds"] = round(time.perf_counter() - t0, 4)
        _save_json(rec, tmp[record])
    return rec


def photos_only(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """``(photos, outputs)``: ``files`` without the masks, overlays and pictures that ``crop predict`` or
    ``crop traits`` recorded writing beside them (a photo folder used as ``-o``): they were pseudo-labelled and
    trained on as photos."""
    from agriseg.manifest import drop_recorded

    return drop_recorded(files, ("crop predict", "crop traits"))


def pseudolabel_paths(
    paths: PathsLike,
    outdir: str | Path,
    opts: PseudoLabelConfig,
    keep: str | Path | None = None,
    strict: bool = False,
    progress: bool = True,
) -> BatchResult:
    """``agriseg crop pseudolabel``: the photos under ``paths`` (only those in the ``keep`` export, if given)."""
    from agriseg.batch import unique_names
    from agriseg.data.io import NoInputError, list_images_once

    files, recorded = photos_only(list_images_once(paths))
    if not files:
        raise NoInputError(f"{recorded[0]}: an output of an earlier agriseg run, not a photo")
    files, depths = photos_and_depths(files, opts)  # depth files in a photo folder: no photos
    _one_depth_each(files, opts)  # before the names are given (and their warning of photos of one name)
    kept = read_keep(keep) if keep else None
    # the names the run gives, an earlier run's kept: those the screening page showed
    names = unique_names(files, None if opts.overwrite else Path(outdir) / "masks", "crop pseudolabel")
    if kept is not None and not kept_files(files, kept, keep, names):  # nothing would be done, silently
        from agriseg.config import OptionError

        raise OptionError(f"--keep {keep}: names none of the {len(files)} photos given ({len(kept)} names)")
    result = pseudolabel_files(files, outdir, opts, kept, progress, strict)
    full = sum(bool(r.get("full_coverage")) for r in result if r["status"] == "ok")
    if full:
        taken = "was" if full == 1 else "were"
        result.notes.append(f"{counted(full, 'photo')} {taken} taken as full canopy cover (all-vegetation masks)")
    result.notes += [f"warning: {r['image']}: {GREYSCALE}; leave it out" for r in result
                     if r["status"] == "ok" and r.get("quality") == "greyscale"]  # fmt: skip
    if recorded:
        result.notes.append(f"({counted(len(recorded), 'output')} of an earlier run not read as photos)")
    if depths:
        result.notes.append(f"({counted(len(depths), 'depth file')} of the photos not read as photos)")
    return result


# renamed to the *Config suffix: the old names work for one more release, with a warning
__getattr__ = renamed_names(globals(), {"PseudoLabelOptions": "PseudoLabelConfig"})
