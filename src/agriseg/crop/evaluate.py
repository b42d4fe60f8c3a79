"""Scoring predicted masks (or a model's predictions) against label files."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agriseg.config import OptionError
from agriseg.crop.config import CropEvaluateConfig
from agriseg.crop.dataset import match_pairs
from agriseg.crop.labels import ColormapMisfit, LabelMode, read_label
from agriseg.data.io import ImageReadError
from agriseg.metrics.segmentation import SegmentationMetrics


def evaluate_folder(
    images: str | Path,
    masks: str | Path,
    predict_fn: Callable[[str, np.ndarray], np.ndarray],
    num_classes: int,
    label_mode: LabelMode = "binary",
    colormap: dict[str, int] | None = None,
    boundary_ratio: float = 0.02,
    class_names: list[str] | None = None,
    progress: bool = True,
    strict: bool = False,
    stems: str | Path | None = None,
) -> dict:
    """Predict each image with a label of the same stem and accumulate mIoU / bIoU / accuracy.

    ``predict_fn(stem, rgb)`` returns the class-id mask of one image. Images without a label (and labels
    without an image) are not scored; the report lists them (``images_without_label``,
    ``labels_without_image``) so a partial label folder is never mistaken for a full one; nor are photos or
    labels that cannot be read or whose sizes differ (``failed``: one line each; the others are scored, unless
    ``strict``). With ``stems`` (a file of photo names, one per line: a split such as
    ``configs/crop/peanut_val.txt``), only those photos are scored.

    Raises:
        OptionError: every label holds a class id the model does not predict, misfits the label mode, or has
            no colour of the colormap (naming the first; one such label among good ones fails as its own pair);
            a name of ``stems`` without a photo and a label.
        ValueError: every pair failed; with ``strict``, the first pair that cannot be scored, or the first photo
            without a label.
    """
    from agriseg.batch import progress_bar

    if Path(images).resolve() == Path(masks).resolve():  # each photo would be scored against itself: 100 %
        raise OptionError(f"--masks {masks}: the photos' own folder; give the folder of the labels")
    pairs = match_pairs(images, masks)
    unmatched = unpaired(images, masks)
    if stems is not None:
        pairs, unmatched = _listed(pairs, unmatched, stems, images, masks)
    if strict and unmatched["images_without_label"]:  # --strict: every photo is scored, or none
        missing = unmatched["images_without_label"]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ImageReadError(f"{Path(images) / missing[0]}: no label of the same name in {masks}{more}")
    metrics = SegmentationMetrics(num_classes, boundary_ratio, 255, class_names)
    ignored = pixels = 0  # label pixels of value 255 or of colours the colormap does not list
    no_photo = 0  # label pixels where the photo holds no data (a mosaic's transparent edge): not scored either
    classes_seen = False  # a label pixel of a class other than background
    in_labels = np.zeros(max(num_classes, 1), bool)  # the classes some label holds
    _check_label_mode([lp for _, lp in pairs.values()], label_mode, colormap)
    failed: list[str] = []  # pairs that cannot be scored: named in the report, the others scored
    misfits = 0  # of them, labels whose encoding does not fit the model or the label mode
    void: list[str] = []  # labels all 255: nothing in them to score (counted as ignored pixels)
    unlisted: list[tuple[str, float]] = []  # colour labels with many pixels of colours the colormap does not list
    for stem, (ip, lp) in progress_bar(pairs.items(), desc="evaluate", unit="img", disable=not progress):
        try:
            pred, truth, blank = _pair(stem, ip, lp, predict_fn, num_classes, label_mode, colormap)
        except ValueError as err:  # ImageReadError too; one label of class id 5 among good ones stopped all
            if strict:
                raise
            failed.append(str(err))
            misfits += isinstance(err, OptionError)
            continue
        if truth.size and (truth == 255).all():  # nothing of it to score (a wholly-void tile of an index set)
            why = f"{lp}: every pixel is 255 (not scored)"
            if blank:  # a photo of no data where its label is: the photo is what to name (session 105's review)
                why = f"{ip}: no data in the photo where its label is (transparent or nodata; not scored)"
            if strict:  # every photo scored, or none
                raise ValueError(why)
            (failed if blank else void).append(why)
            ignored += truth.size - blank
            no_photo += blank
            pixels += truth.size
            continue
        with warnings.catch_warnings():  # the report says what was left out, and why, for the whole set
            warnings.filterwarnings("ignore", message="the truth holds only 0 and", category=UserWarning)
            metrics.update(pred, truth)
        ignored += int((truth == 255).sum()) - blank
        no_photo += blank
        pixels += truth.size
        if label_mode == "colormap" and (share := float((truth == 255).sum() - blank) / truth.size) > IGNORED_WARN:
            unlisted.append((str(lp), share))  # named in the report: which labels, and a JPEG's blurred colours
        classes_seen = classes_seen or bool(((truth > 0) & (truth != 255)).any())
        in_labels[np.unique(truth[truth < num_classes])] = True
    if failed and len(failed) == len(pairs):
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        if misfits == len(failed):  # no label fits the model or the label mode: a usage error (exit status 2)
            raise OptionError(f"{failed[0]}{more}")
        raise ImageReadError(f"nothing to score: {failed[0]}{more}")
    if void and len(void) + len(failed) == len(pairs):  # every label void: scores of nothing were nan, exit 0
        said = [*failed, *void]  # the failures' reasons first, then the void labels
        more = f" (and {len(said) - 1} more)" if len(said) > 1 else ""
        raise ImageReadError(f"nothing to score: {said[0]}{more}")
    res = metrics.compute()
    res["ignored_label_fraction"] = round(ignored / pixels, 6) if pixels else 0.0
    res["no_photo_fraction"] = round(no_photo / pixels, 6) if pixels else 0.0
    res["labels_with_unlisted_colours"] = [{"label": lp, "share": round(v, 4)} for lp, v in unlisted]
    res["void_labels"] = [v.split(": every pixel", 1)[0] for v in void]  # all 255: counted as ignored pixels
    # 0/255 masks read as class ids: every plant pixel is 255, "not scored", and the scores mean nothing
    res["labels_only_0_255"] = label_mode == "index" and ignored > 0 and not classes_seen
    # a class the model predicts that no label holds: its IoU is 0 whatever the model does (0/1 vegetation
    # labels read as class ids against a crop / weed model: 1 is crop, weed never appears)
    names = list(res.get("per_class_iou", {})) or [str(c) for c in range(num_classes)]
    # background too: labels of a white or coloured background read in binary mode hold vegetation alone
    res["classes_not_in_labels"] = [names[c] for c in range(num_classes) if pairs and not in_labels[c]]
    res["images_dir"], res["masks_dir"] = str(images), str(masks)
    res["label_mode"] = label_mode
    res.update(unmatched)
    res["failed"] = failed
    return res


def _holding(folder: Path, names: list[str]) -> str:
    """``its subfolder day2/ (2) holds files of those names``: where files of ``names`` (those left unpaired) lie
    one level down in ``folder``, which is read without its subfolders; "" when none does (a subfolder of other
    files was named beside them, the review's find)."""
    from agriseg.data.io import stem_key

    wanted = {stem_key(Path(n)) for n in names}
    try:
        subs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
        have = [(d.name, sum(stem_key(f) in wanted for f in d.iterdir() if f.is_file())) for d in subs[:20]]
    except OSError:
        return ""
    have = [(n, k) for n, k in have if k]
    if not have:
        return ""
    shown = ", ".join(f"{n}/ ({k})" for n, k in have[:3]) + (f" and {len(have) - 3} more" if len(have) > 3 else "")
    return f"its subfolder{'s' * (len(have) > 1)} {shown} {'hold' if len(have) > 1 else 'holds'} files of those names"


def _listed(
    pairs: dict[str, tuple[Path, Path]],
    unmatched: dict[str, list[str]],
    stems: str | Path,
    images: str | Path,
    masks: str | Path,
) -> tuple[dict[str, tuple[Path, Path]], dict[str, list[str]]]:
    """The pairs of the names listed in ``stems``; the files left unpaired among them (``--stems``)."""
    from agriseg.batch import listed
    from agriseg.crop.dataset import read_stem_list
    from agriseg.data.io import stem_key

    try:
        wanted = list(dict.fromkeys(read_stem_list(stems)))
    except (FileNotFoundError, ValueError) as err:
        raise OptionError(f"--stems {err}") from None
    if not wanted:
        raise OptionError(f"--stems {stems}: names no photo")
    missing = [s for s in wanted if s not in pairs]
    if missing:
        # what each lacks: a photo there without its label was said to have "no photo and label" (session 103)
        photos = {stem_key(Path(n)) for n in unmatched.get("images_without_label", [])}
        labels = {stem_key(Path(n)) for n in unmatched.get("labels_without_image", [])}
        lacks = [f"no label in {masks}", f"no photo in {images}", f"no photo and label of that name in {images} "
                 f"and {masks}"]  # fmt: skip
        kinds = [0 if s in photos else 1 if s in labels else 2 for s in missing]
        which = kinds[0]
        same = [s for s, k in zip(missing, kinds, strict=True) if k == which]
        n = len(missing) - len(same)
        more = f" (and {n} more {'lacks' if n == 1 else 'lack'} other files)" if n else ""
        raise OptionError(
            f"--stems {stems}: {listed(same, 3)} {'has' if len(same) == 1 else 'have'} {lacks[which]}{more}"
        )
    keep = set(wanted)
    return {s: pairs[s] for s in wanted}, {k: [n for n in v if stem_key(Path(n)) in keep] for k, v in unmatched.items()}


def _check_label_mode(labels: list[Path], label_mode: LabelMode, colormap: dict[str, int] | None) -> None:
    """Refuse, before the progress bar, a label mode that fits none of the first three readable labels (read
    as the label mode says); one odd label among them fails as its own pair, the others scored.

    Raises:
        OptionError: the first label's misfit, when every one read misfits.
    """
    misfit: OptionError | None = None
    read = 0
    for lp in labels:
        if read == 3:
            break
        try:
            read_label(lp, label_mode, colormap)
        except ColormapMisfit:  # (a blank frame of no listed colour) fails as its own pair; all of them: exit 2
            read += 1
        except OptionError as err:  # photos and labels swapped (PhotoAsLabel) too: refused before any photo
            misfit, read = misfit or err, read + 1
        except ImageReadError:
            continue  # an unreadable label fails as its own pair, and is not one of the three
        else:
            return
    if misfit is not None:
        raise misfit


def _pair(
    stem: str,
    ip: Path,
    lp: Path,
    predict_fn: Callable[[str, np.ndarray], np.ndarray],
    num_classes: int,
    label_mode: LabelMode,
    colormap: dict[str, int] | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The prediction and the label of one photo, both (H, W) class ids, checked against each other, and how many
    label pixels lie where the photo holds no data (transparent, nodata: set to 255, not scored).

    Raises:
        ImageReadError: the photo or the label cannot be read.
        ValueError: sizes differ.
        OptionError: the label holds a class id the model does not predict.
    """
    from agriseg.crop.quality import colour_label
    from agriseg.data.io import read_rgb
    from agriseg.raster.image import photo_valid, read_georef

    rgb = read_rgb(ip)  # (H, W, 3), turned upright, its size checked before it is read
    if said := colour_label(rgb):  # a label folder given as --images was scored as photos, unsaid (89.89 mIoU)
        raise OptionError(f"{ip}: {said}: check that --images names the photos")
    truth = read_label(lp, label_mode, colormap)
    if label_mode == "colormap" and colormap and (truth == 255).any() and not ((truth != 0) & (truth != 255)).any():
        _refuse_grey_label(lp, colormap)
    if truth.shape != rgb.shape[:2]:
        from agriseg.crop.dataset import size_differs

        raise ValueError(size_differs(lp, truth.shape, ip, rgb.shape))
    # a georeferenced label of another place (another mosaic's, 100 km away) scored as a perfect pair, unsaid
    geo = read_georef(ip)
    at = read_georef(lp) if geo is not None and geo.placed else None
    if at is not None and at.placed and (differ := _other_place(geo, at)):
        raise ValueError(f"{lp}: not on its photo's pixel grid ({ip.name}: its {differ} differs)")
    blank = 0  # a mosaic's transparent or nodata pixels: no photo there, not scored (they were counted as
    if (valid := photo_valid(ip, rgb.shape[:2])) is not None:  # predicted background, session 105's sweep)
        blank = int((~valid & (truth != 255)).sum())
        truth = np.where(valid, truth, 255)
    bad = np.unique(truth[(truth >= num_classes) & (truth != 255)])
    if bad.size:  # the labels' encoding given does not fit the model: a usage error (exit status 2)
        given = "--colormap" if label_mode == "colormap" and colormap else "--label-mode"  # what decided the ids
        raise OptionError(  # "the model predicts" where saved masks are scored, and --label-mode for a colormap's
            f"{lp}: label has class id {int(bad[0])}, but {num_classes} classes are scored "
            f"(0-{num_classes - 1}; 255 = ignore); check {given}"
        )
    pred = np.asarray(predict_fn(stem, rgb))
    if pred.shape != truth.shape:
        (ph, pw), (th, tw) = pred.shape[:2], truth.shape[:2]
        raise ValueError(f"prediction for {stem} is {pw}x{ph} px, its label {lp} {tw}x{th}")
    return pred, truth, blank


def _other_place(a: Any, b: Any) -> str:  # noqa: ANN401 - two GeoRefs
    """What puts two georeferenced rasters' pixels on other grids ("CRS", "transform"), "" when they share one;
    a CRS is compared only where both have one, the corners to a thousandth of a pixel."""
    if a.crs and b.crs and a.crs != b.crs:
        return "CRS"
    pixel = abs(a.transform[0] * a.transform[4] - a.transform[1] * a.transform[3]) ** 0.5  # a 90-degree turn too
    tol = 1e-3 * max(pixel, 1e-12)
    return "" if all(abs(x - y) <= tol for x, y in zip(a.transform, b.transform, strict=True)) else "transform"


def _refuse_grey_label(path: Path, colormap: dict[str, int]) -> None:
    """A grey label (a 0/255 mask) scored with a colormap of colours (``--peanut``): only its black matched, its
    white was "not scored", and vegetation scored 0.00 with exit 0 (session 101's sweep). A misfit of the label
    mode, named; a colormap that lists greys reads it."""
    from PIL import Image

    from agriseg.crop.labels import ColormapMisfit, parse_colour
    from agriseg.crop.traits.inputs import MASK_MODES
    from agriseg.data.io import quiet_pil

    try:
        with quiet_pil(path), Image.open(path) as im:  # the header only
            grey = im.mode in (*MASK_MODES, "LA")  # one band (and its alpha)
    except Exception:  # noqa: BLE001 - read a moment ago
        return
    if grey and any(len(set(parse_colour(c))) > 1 for c in colormap):
        raise ColormapMisfit(f"{path}: a grey label (0/255?), and the colormap's classes are colours: a vegetation "
                             "mask is scored with --label-mode binary (no --peanut or --colormap)")  # fmt: skip


def _fits_header(path: Path, rgb: np.ndarray) -> None:
    """:func:`_fits` from the file's header (turned by its EXIF orientation, as it is read), before it is read."""
    from agriseg.raster.image import image_size

    size = image_size(path, oriented=True)
    if size is not None:  # unreadable: said by its reading, which follows
        _fits(np.empty(size, bool), path, rgb)


def _fits(pred: np.ndarray, path: Path, rgb: np.ndarray) -> np.ndarray:
    """A saved prediction of its photo's size, else a ValueError naming the file (not the photo's stem)."""
    if pred.shape != rgb.shape[:2]:
        raise ValueError(
            f"{path}: predicted mask is {pred.shape[1]}x{pred.shape[0]} px, its photo {rgb.shape[1]}x{rgb.shape[0]}"
        )
    return pred


def unpaired(images: str | Path, masks: str | Path) -> dict[str, list[str]]:
    """Files of each folder without a partner of the same stem in the other."""
    from agriseg.crop.dataset import folder_images
    from agriseg.data.io import stem_key

    imgs = {stem_key(p): p.name for p in folder_images(Path(images), photos=True)}
    labs = {stem_key(p): p.name for p in folder_images(Path(masks))}
    return {
        "images_without_label": sorted(imgs[s] for s in imgs.keys() - labs.keys()),
        "labels_without_image": sorted(labs[s] for s in labs.keys() - imgs.keys()),
    }


def _class_maps_model(folder: Path) -> Any:  # noqa: ANN401 - the model's ModelConfig
    """The config of the model of more than two classes whose ``crop predict`` wrote ``folder``'s
    ``<name>_classes.png`` (the model named in the first one's PNG text); None without such maps or model."""
    from agriseg.crop.predict import read_model_name
    from agriseg.models.io import LazyModel

    first = next(iter(sorted(folder.glob("*_classes.png"))), None)
    name = read_model_name(first) if first is not None else None
    if name is None:
        return None
    try:
        config = LazyModel(name, in_channels=3).config
    except Exception:  # noqa: BLE001 - a model no longer there: the vegetation masks are scored
        return None
    return config if config.num_classes > 2 else None


def format_table(res: dict) -> str:
    """A plain-text report of :func:`evaluate_folder`'s result (its warnings: :func:`report_warnings`)."""
    lines = [
        f"images: {res['images']}   boundary IoU dilation ratio: {res['boundary_ratio']}",
        f"{'class':<16}{'IoU':>8}{'bIoU':>8}",
    ]
    for name, v in res["per_class_iou"].items():
        lines.append(f"{name:<16}{100 * v:>8.2f}{100 * res['per_class_biou'][name]:>8.2f}")
    lines.append(f"{'mean':<16}{100 * res['miou']:>8.2f}{100 * res['biou']:>8.2f}")
    lines.append(f"pixel accuracy: {100 * res['pixel_accuracy']:.2f}")
    return "\n".join(lines)


def report_warnings(res: dict) -> list[str]:
    """The ``warning: ...`` lines of :func:`evaluate_folder`'s result: photos or labels not scored, odd labels.

    Apart from :func:`format_table`: the CLI prints them on stderr, as every command's warnings, and ``-q`` hides
    them (the JSON report holds the same keys).
    """
    from agriseg.batch import counted

    lines: list[str] = []
    for key, noun, what in (
        ("images_without_label", "image", "no label"),
        ("labels_without_image", "label", "no image"),
    ):
        missing = res.get(key) or []
        if missing:
            was, some = ("was", "") if len(missing) == 1 else ("were", "e.g. ")
            shown = ", ".join(missing[:3])
            line = f"warning: {counted(len(missing), noun, 'has/have')} {what} and {was} not scored ({some}{shown})"
            folder = res.get("images_dir" if noun == "label" else "masks_dir")
            if folder and (subs := _holding(Path(folder), missing)):  # as crop predict says of its subfolders
                line += f"; {folder}: {subs}, not read (folders are read without their subfolders)"
            lines.append(line)
    # 0/255 masks read as class ids: said once, by the line that says how to read them (not also "no label holds
    # vegetation", session 103's sweep)
    absent = list(res.get("classes_not_in_labels") or [])
    background = next(iter(res.get("per_class_iou") or {}), "background")
    if background in absent and not res.get("labels_only_0_255"):  # scores of nothing: 4.5 mIoU, no word before
        absent.remove(background)
        why = {  # by the label mode (the review: a colormap user was told to give a colormap)
            "colormap": "does the colormap list the background's colour as class 0?",
            "index": "is the background class 0 in these labels?",
        }.get(
            res.get("label_mode", "binary"),
            "a white or coloured background? --label-mode binary reads every "
            "non-black pixel as vegetation; give --label-mode colormap with --colormap naming the labels' colours",
        )
        lines.append(f"warning: no label holds {background}: every scored label pixel is of another class ({why})")
    if absent and not res.get("labels_only_0_255"):
        # every class but background absent: the labels hold no plant, and scoring vegetation is no way out
        only_background = (
            len(absent) == len(res.get("per_class_iou") or absent) - 1
            and not res.get("ignored_label_fraction")  # 255 or unlisted colours: plants maybe, not scored
        )
        why = "the labels hold only background" if only_background else (
            "labels of vegetation only? --label-mode binary scores vegetation")  # fmt: skip
        lines.append(
            f"warning: no label holds {' or '.join(absent)}: {'its' if len(absent) == 1 else 'their'} IoU is 0 "
            f"where the model finds some and undefined (nan) where it finds none ({why})"
        )
    ignored = res.get("ignored_label_fraction", 0.0)
    most = sorted(res.get("labels_with_unlisted_colours") or [], key=lambda u: -u["share"])
    if void := res.get("void_labels"):  # labels all 255: nothing in them scored
        names = ", ".join(Path(v).name for v in void[:3]) + (f" and {len(void) - 3} more" if len(void) > 3 else "")
        them = "them" if len(void) > 1 else "it"
        # the pixels not scored in all, said here where these labels are why (not in a second warning)
        share = (
            f" ({100 * ignored:.1f} % of all label pixels not scored)" if ignored > IGNORED_WARN and not most else ""
        )
        lines.append(f"warning: {counted(len(void), 'label')} all 255, nothing in {them} scored: {names}{share}")
    if far := res.get("resized_far"):  # as crop predict warns of each photo, once for the set
        more = f" (and {len(far) - 1} more)" if len(far) > 1 else ""
        lines.append(f"warning: {far[0]}{more}")
    if (blank := res.get("no_photo_fraction", 0.0)) > IGNORED_WARN:
        lines.append(f"warning: {100 * blank:.1f} % of label pixels lie where the photos hold no data (transparent "
                     "or nodata): not scored")  # fmt: skip
    if res.get("labels_only_0_255"):
        lines.append(
            "warning: the labels hold only 0 and 255, and --label-mode index reads 255 as not scored: "
            "for 0/255 masks use --label-mode binary"
        )
    elif ignored > IGNORED_WARN and (most or not void):
        where = ""
        if most:  # which labels: a JPEG's blurred colours at every edge, or a colour the colormap misses
            named = ", ".join(f"{Path(u['label']).name} {100 * u['share']:.0f} %" for u in most[:3])
            more = f" and {len(most) - 3} more" if len(most) > 3 else ""
            jpeg = any(Path(u["label"]).suffix.lower() in (".jpg", ".jpeg") for u in most)
            where = f"; most in {named}{more}" + ("; JPEG blends colours at every edge: save labels as PNG" * jpeg)
        lines.append(
            f"warning: {100 * ignored:.1f} % of label pixels were not scored (value 255, or colours the colormap "
            f"does not list){where}"
        )
    return lines


# a report says so when more than this share of label pixels was not scored (a colormap missing a colour)
IGNORED_WARN = 0.01


# the settings of the model that runs: none is read when saved masks are scored (pred_masks)
MODEL_OPTIONS = ("model_name", "long_side", "tta", "optimize", "device")


def evaluate_model(
    images: str | Path,
    masks: str | Path,
    config: CropEvaluateConfig,
    pred_masks: str | Path | None = None,
    colormap: str | None = None,
    peanut: bool = False,
    progress: bool = True,
    strict: bool = False,
    stems: str | Path | None = None,
) -> dict:
    """``agriseg crop evaluate``: score a model (or saved ``<name>_mask.png`` predictions) against labels.

    Args:
        images: photo folder.
        masks: label folder (matched by stem).
        config: the model, how it runs, and how labels encode classes.
        pred_masks: score these saved predictions instead of running the model.
        colormap: ``"R,G,B=id;..."`` for ``label_mode="colormap"``.
        peanut: the Peanut colour labels (crop + weed = vegetation; with a model of three classes, crop and weed).
            A model of more than two classes scored against ``binary`` labels is scored on its vegetation.
        progress: show a tqdm bar.
        strict: stop at the first photo that cannot be scored (otherwise it is named and left out).
        stems: score only the photos named in this file (one name per line).

    Returns:
        :func:`evaluate_folder`'s report, with ``model``.
    """
    from agriseg.crop.labels import PEANUT_CROP_WEED, PEANUT_VEGETATION, parse_colormap

    label_mode, cmap = config.label_mode, None
    if label_mode == "colormap" and not (colormap or peanut):
        raise OptionError('--label-mode colormap needs --colormap (e.g. "0,0,0=0;0,255,0=1") or --peanut')
    if peanut and colormap:
        raise OptionError("--peanut and --colormap: give one (--peanut is the Peanut labels' colour map)")
    if colormap and label_mode != "colormap":
        raise OptionError(f"--colormap is read with --label-mode colormap only (not {label_mode}); add it")
    if peanut:
        label_mode, cmap = "colormap", PEANUT_VEGETATION
    elif colormap:
        cmap = parse_colormap(colormap)
    if pred_masks:  # no model runs: a model or how it runs, set in a library call, would be ignored
        if Path(pred_masks).resolve() == Path(masks).resolve():  # each label would be scored against itself
            raise OptionError(f"--pred-masks {pred_masks}: the labels' own folder; give the folder crop predict wrote")
        fields = type(config).model_fields
        unread = [k for k in MODEL_OPTIONS if getattr(config, k) != fields[k].default]
        if unread:
            raise OptionError(f"{', '.join(unread)}: not read with pred_masks (no model runs)")
        num_classes, names = 2, ["background", "vegetation"]
        made_by = None if label_mode == "binary" else _class_maps_model(Path(pred_masks))
        if made_by is not None:  # a crop / weed model's folder: its class maps, scored as `-m` that model is
            num_classes, names = made_by.num_classes, list(made_by.class_names)
            cmap = PEANUT_CROP_WEED if peanut and num_classes == 3 else cmap

        made_with: set[str | None] = set()  # the models the scored masks name in their PNG text
        from agriseg.manifest import made_from_earlier, made_from_other, recorded_names

        # the name crop predict gave each photo's outputs there (day2/IMG_1.jpg -> day2_IMG_1_jpg when day1's
        # IMG_1.jpg was predicted into the folder first): by name alone, day 1's mask was scored against day 2
        named = recorded_names(pred_masks, "crop predict")
        pseudo_named = recorded_names(pred_masks, "crop pseudolabel")  # its masks/ folder: <name>.png
        photos = {s: ip.resolve() for s, (ip, _) in match_pairs(images, masks).items()}

        def predict_fn(stem: str, rgb: np.ndarray) -> np.ndarray:
            from agriseg.crop.predict import read_model_name

            photo = photos.get(stem)
            plain_stem = pseudo_named.get(photo or Path(), stem)
            stem = named.get(photo or Path(), stem)
            folder = Path(pred_masks)
            for made, cmd in ((folder / f"{stem}_mask.png", "crop predict"),
                              (folder / f"{stem}_classes.png", "crop predict"),
                              (folder / f"{plain_stem}.png", "crop pseudolabel")):  # fmt: skip
                if photo is not None and made_from_earlier(made, cmd, photo):  # scored the old photo's
                    raise ValueError(
                        f"{made}: made by {cmd} from an earlier version of {photo} (the photo was replaced or "
                        f"edited since); run {cmd} on it again"
                    )
                if photo is not None and (other := made_from_other(made, cmd, photo)) is not None:
                    raise ValueError(  # another folder's photo of this name: its mask says nothing of this one
                        f"{made}: made by {cmd} from {other}, not from {photo}; give the folder {cmd} wrote for "
                        "these photos"
                    )
            if made_by is not None:
                classes = Path(pred_masks) / f"{stem}_classes.png"
                if not classes.is_file():
                    raise ValueError(f"{classes}: predicted class map not found (the folder's others have one)")
                made_with.add(read_model_name(classes))
                return _fits(read_label(classes, "index"), classes, rgb)
            mask = Path(pred_masks) / f"{stem}_mask.png"  # crop predict's name; crop pseudolabel's masks/<name>.png
            plain = Path(pred_masks) / f"{plain_stem}.png"  # never the photo itself (--pred-masks of photos' folder)
            given = {Path(images).resolve(), Path(masks).resolve()}  # never a photo or a label scored as itself
            if not mask.is_file() and plain.is_file() and Path(pred_masks).resolve() not in given:
                mask = plain
            if not mask.is_file():
                raise ValueError(
                    f"{mask}: predicted mask not found (--pred-masks holds <name>_mask.png or <name>.png files)"
                )
            made_with.add(read_model_name(mask))
            _fits_header(mask, rgb)  # its size first: a file that fails is not warned about as well
            return _fits(read_label(mask, "binary", kind="predicted mask"), mask, rgb)
    else:
        from agriseg.crop.predictor import load_predictor
        from agriseg.runtime import check_device

        far: list[str] = []  # photos read at a working size far from their own (a sliver, or enlarged many times)

        check_device(config.device)  # a GPU this machine lacks: said as the option it came from
        pred = load_predictor(config.model_name, config.long_side, config.tta, config.optimize, device=config.device)
        assert pred.config is not None
        num_classes, names = pred.config.num_classes, pred.config.class_names

        from agriseg.crop.predict import enlarged_photo, thin_photo

        def predict_fn(stem: str, rgb: np.ndarray) -> np.ndarray:
            for said in (thin_photo(rgb.shape[:2], pred.long_side), enlarged_photo(rgb.shape[:2], pred.long_side)):
                if said:  # as crop predict warns of each; the report says it once (session 104's sweep)
                    far.append(f"photo {stem}: {said}")
            return pred.predict(rgb)

        if peanut and num_classes == 3:  # a crop / weed model: the Peanut colours are its three classes
            cmap = PEANUT_CROP_WEED
        elif num_classes > 2 and label_mode == "binary":  # 0 / non-zero labels: its vegetation is scored
            model_classes = predict_fn
            num_classes, names = 2, ["background", "vegetation"]

            def predict_fn(stem: str, rgb: np.ndarray) -> np.ndarray:
                return (model_classes(stem, rgb) > 0).astype(np.uint8)

    res = evaluate_folder(
        images, masks, predict_fn, num_classes, label_mode, cmap, config.boundary_ratio, names, progress, strict,
        stems,
    )  # fmt: skip
    if pred_masks:  # the saved masks scored, and the model their PNG text names (None: not crop predict's)
        res["masks"] = str(pred_masks)
        res["model"] = next(iter(made_with)) if len(made_with) == 1 else None
    else:  # what made the masks scored (the model's defaults resolved): reports told apart
        res["model"] = str(config.model_name)
        res["options"] = {"long_side": pred.long_side, "tta": pred.tta, "optimize": pred.optimize}
        res["resized_far"] = far
    # how the labels were read and which photos were scored: two reports of other label modes or splits told
    # apart (none of it was recorded, session 103's sweep)
    res["labels"] = {"label_mode": label_mode, "colormap": cmap, "stems": None if stems is None else str(stems)}
    return res
