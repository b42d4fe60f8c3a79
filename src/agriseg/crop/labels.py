"""Decoding label files into class-id masks (``uint8``, 255 = ignore)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from agriseg.config import OptionError
from agriseg.data.io import apply_orientation, exif_orientation, open_image

LabelMode = Literal["binary", "index", "colormap"]


class LabelMisfit(OptionError):
    """A label the label mode cannot read as one: it fails as its own pair or file; when no label fits, the
    setting (or the folders given) is the mistake (a usage error, exit 2)."""


class ColormapMisfit(LabelMisfit):
    """A label none of whose colours the colormap lists."""


class PhotoAsLabel(LabelMisfit):
    """A colour label whose colours vary as a photo's do (photos and labels swapped, or a photo among the
    labels): read in label mode binary, nearly every pixel of it was vegetation."""


# a label's pixels (a JPEG'd one's too: 0.97 at quality 50 on the Peanut labels) lie in a few colours: in 8 levels a
# channel, its 8 commonest colours hold nearly all of them; a field or lab photo's 0.38-0.82 (flat frames: 1.0) ...
PHOTO_TOP_COLOURS = 0.85
# ... and a label is flat but at its outlines (a label of 15 classes holds more than 8 colours): 0.87 or more of its
# pixels match their right neighbour within 6 levels (Peanut labels JPEG'd at quality 10 too); Peanut photos
# 0.15-0.48, the benchmark's synthetic plants on real soil 0.38 or more (lab scenes of flat walls more still)
PHOTO_FLAT = 0.6
FLAT_LEVELS = 6


# Peanut dataset colours (green crop, red weed, black background)
PEANUT_VEGETATION = {"0,0,0": 0, "0,255,0": 1, "255,0,0": 1}
PEANUT_CROP_WEED = {"0,0,0": 0, "0,255,0": 1, "255,0,0": 2}


def read_label(
    path: str | Path,
    mode: LabelMode = "binary",
    colormap: dict[str, int] | None = None,
    setting: str = "--label-mode",
    kind: str = "label",
) -> np.ndarray:
    """Read a label file as ``uint8`` class ids ``(H, W)``.

    Args:
        path: PNG/TIFF label file.
        mode: ``binary`` (0 = background, anything else = 1; 0/255 masks), ``index`` (value = class id),
            ``colormap`` (RGB colours mapped by ``colormap``; unlisted colours become 255 = ignore).
        colormap: ``{"R,G,B": class_id}`` for ``colormap`` mode.
        setting: where the user sets the label mode, named in warnings and errors (``crop evaluate``'s
            ``--label-mode``; ``data.label_mode`` in a training config, ``manual_label_mode`` in selftrain's).
        kind: what the file is, in its read errors and the warning of a smoothed mask (``predicted mask`` for
            saved predictions: a truncated one was called a "truncated label", session 106's sweep).

    Raises:
        ImageReadError: if the file is missing or unreadable, or a colormap label is not RGB.
        OptionError: ``index`` mode on a label of colours (the label mode does not fit the labels).
        ColormapMisfit: a :class:`LabelMisfit`: no pixel of the label has a colour of the colormap.
        PhotoAsLabel: a :class:`LabelMisfit`: a colour label (binary or colormap) of a photo's colours.
    """
    if mode not in get_args(LabelMode):  # a library call's typo read every label as class ids (mIoU 1.0)
        raise OptionError(f"label mode {mode!r}: not one of {', '.join(get_args(LabelMode))}")
    path = Path(path)
    with open_image(path, kind) as im:  # a palette label's index is its class id
        orientation = exif_orientation(im)
        lossy = im.format in LOSSY_FORMATS
        arr = np.asarray(im.convert("RGB")) if mode == "colormap" else np.asarray(im)
        if mode == "binary" and im.mode == "P":  # by index (0 = background), as a VOC-style label is drawn
            _warn_if_background_coloured(path, im.getpalette() or [], arr, setting, im.info.get("transparency"))
    arr = apply_orientation(arr, orientation)
    # binary: a transparent pixel is background, whatever colour it holds (a label drawn on a transparent layer
    # of an image editor keeps white or any colour there: read by colour, every pixel was vegetation)
    clear = arr[..., -1] == 0 if mode == "binary" and arr.ndim == 3 and arr.shape[-1] in (2, 4) else None
    if arr.ndim == 3 and arr.shape[-1] == 2:  # grey or palette with alpha (LA, PA): the alpha is no class
        arr = arr[..., 0]
    if arr.ndim == 3 and mode != "index" and arr.shape[-1] >= 3 and _photo_like(arr[..., :3], clear):
        raise PhotoAsLabel(
            f"{path}: a photo, not a label (its colours vary as a photo's; a label holds a few flat colours): "
            "check that photos and labels are not swapped"
        )
    if mode == "colormap":
        if not colormap:
            raise ValueError(f"{path}: label_mode 'colormap' needs a colormap")
        out = np.full(arr.shape[:2], 255, np.uint8)
        key = (arr[..., 0].astype(np.uint32) << 16) | (arr[..., 1].astype(np.uint32) << 8) | arr[..., 2]
        for colour, cls in colormap.items():
            r, g, b = parse_colour(colour)
            out[key == ((r << 16) | (g << 8) | b)] = cls
        if lossy and len(colormap) > 1:
            _nearest_colours(path, arr, out, colormap, kind)
        if (out == 255).all():
            found = np.unique(key)[:5]
            shown = ", ".join(f"{k >> 16},{(k >> 8) & 255},{k & 255}" for k in found.tolist())
            raise ColormapMisfit(f"{path}: no pixel has a colour of the colormap (label colours include {shown})")
        return out
    if arr.ndim == 3 and mode == "index" and not (arr[..., :3] == arr[..., :1]).all():
        raise OptionError(  # the label mode given does not fit the labels: a usage error (exit status 2)
            f"{path}: label mode 'index' needs one class id per pixel (a gray or palette PNG); this label has "
            f"colours (use {setting} colormap, or binary for vegetation / background)"
        )
    if arr.ndim == 3:
        arr = arr[..., :3].max(-1) if mode == "binary" else arr[..., 0]
    if mode == "binary":
        if clear is not None:
            arr = np.where(clear, 0, arr)
        if _smoothed_0_255(
            path, arr, setting, kind
        ):  # a JPEG'd 0/255 mask: its grey edges and specks split at mid-grey
            return (arr >= 128).astype(np.uint8)
        return (arr > 0).astype(np.uint8)
    if arr.dtype != np.uint8 and arr.size and (arr.min() < 0 or arr.max() > 255):
        bad = int(arr.max()) if arr.max() > 255 else int(arr.min())
        raise OptionError(  # the label mode given does not fit the labels: a usage error (exit status 2)
            f"{path}: label value {bad} is not a class id (0-254, 255 = ignore); check {setting}"
        )
    return arr.astype(np.uint8)


LOSSY_FORMATS = ("JPEG", "MPO", "WEBP")  # formats whose colours blur at a label's outlines (WebP: lossy or not)
_NEAREST: list[Path] = []  # the first colour label read by nearest colour in this process (said once)


JPEG_NOISE = 48.0  # a JPEG'd label's flat colours stray at most this far (RGB distance) from the colour drawn
EDGE_PX = 2  # ... and its outlines blur over about this many pixels on either side of an edge


def _nearest_colours(path: Path, rgb: np.ndarray, out: np.ndarray, colormap: dict[str, int], kind: str) -> None:
    """A colour label saved as JPEG: its outlines blur between the colours of the classes either side, which
    matched no colour and went unscored (15 % of the Peanut labels' pixels, all of them outlines: vegetation IoU
    77.28 -> 53.44). ``out`` ``(H, W)`` gets, where it is 255, the class of the nearest colormap colour: anywhere
    within :data:`JPEG_NOISE` of it, and within :data:`EDGE_PX` px of a pixel of a listed colour out to half the
    distance between the two closest colours (the blur of an edge), as a 0/255 mask saved as JPEG is split at
    mid-grey. A region of a colour the colormap does not list stays 255 but for that rim. Distances are taken
    once per distinct colour (a label of 60 classes took 30 s taken per pixel, the review's find)."""
    from scipy import ndimage

    left = out == 255  # (H, W)
    if not left.any():
        return
    cols = np.array([parse_colour(c) for c in colormap], np.float32)  # (K, 3)
    ids = np.array(list(colormap.values()), np.uint8)  # (K,)
    gaps = np.sqrt(((cols[:, None] - cols[None]) ** 2).sum(-1))  # (K, K)
    reach = float(gaps[~np.eye(len(cols), dtype=bool)].min()) / 2
    px = rgb[left]  # (N, 3) uint8
    keys = (px[:, 0].astype(np.uint32) << 16) | (px[:, 1].astype(np.uint32) << 8) | px[:, 2]  # (N,)
    colours, inverse = np.unique(keys, return_inverse=True)  # (U,), (N,)
    u = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], -1).astype(np.float32)  # (U, 3)
    d = np.sqrt(((u[:, None, :] - cols[None]) ** 2).sum(-1))  # (U, K)
    dist, nearest = d.min(-1)[inverse], ids[d.argmin(-1)][inverse]  # (N,) each
    snapped = np.where(dist <= min(JPEG_NOISE, reach), nearest, 255).astype(np.uint8)  # (N,)
    out[left] = snapped
    edge = ndimage.binary_dilation(out != 255, iterations=EDGE_PX)[left]  # (N,): near a pixel of a listed colour
    snapped = np.where((snapped == 255) & edge & (dist <= reach), nearest, snapped).astype(np.uint8)
    if (snapped == 255).all():
        return
    out[left] = snapped
    if not _NEAREST:
        import logging

        _NEAREST.append(path)
        logging.getLogger("agriseg").warning(
            "%s: a colour %s saved as JPEG: its blurred outlines read as the nearest colour of the colormap, as is "
            "every such file; save %ss as PNG to keep their edges exact", path, kind, kind,
        )  # fmt: skip


def _photo_like(rgb: np.ndarray, clear: np.ndarray | None = None) -> bool:
    """Whether an ``(H, W, 3)`` uint8 label's colours spread as a photo's: few of its pixels in its 8 commonest
    colours (:data:`PHOTO_TOP_COLOURS`) and few that match their neighbour (:data:`PHOTO_FLAT`); ``clear``:
    ``(H, W)`` transparent pixels, left out (their colour is no class). Hand-written: no library tells a photo
    from a label."""
    step = max(1, rgb.shape[0] // 128)  # every few rows (neighbours along a row): a fifth of a label's read
    rgb = rgb[::step]  # (h, W, 3)
    seen = np.ones(rgb.shape[:2], bool) if clear is None else ~clear[::step]  # (h, W)
    if rgb.dtype != np.uint8 or seen.sum() < 64:
        return False
    q = (rgb[seen] >> 5).astype(np.int32)  # (N, 3): 8 levels a channel, a JPEG's noise stays in one
    counts = np.bincount((q[:, 0] << 6) | (q[:, 1] << 3) | q[:, 2], minlength=512)
    if float(np.sort(counts)[-8:].sum()) >= PHOTO_TOP_COLOURS * counts.sum():
        return False
    a = rgb.astype(np.int16)
    pairs = seen[:, 1:] & seen[:, :-1]  # (h, W - 1): both pixels seen
    flat = np.abs(a[:, 1:] - a[:, :-1]).max(-1) <= FLAT_LEVELS
    return bool(pairs.any()) and float(flat[pairs].mean()) < PHOTO_FLAT


_SAID: set[tuple[int, ...]] = set()  # the palettes warned of in this process (once each, not once per label)
_SMOOTHED: list[Path] = []  # the first 0/255 label with grey edges read in this process (said once)
# a 0/255 label with more than this share of its pixels in between was saved as JPEG or smoothed
SMOOTHED_SHARE = 0.001
SMOOTHED_LEVELS = 16  # ... holding more than this many grey levels between 0 and 255 (class ids hold a few)
SMOOTHED_END = 32  # ... or greys within this of 0 and of 255 alike (a JPEG's ringing on both sides of an edge)


def _smoothed_0_255(path: Path, arr: np.ndarray, setting: str, kind: str = "label") -> bool:
    """Whether a label is a 0/255 mask saved as JPEG (or resized smoothly): it holds greys along every edge and
    speckle in the background, which read as 0 / non-zero were each vegetation (a JPEG'd mask scored 77 mIoU
    against itself; its plants trained 48-66 % too large); such a label is read with a threshold at 128. Said
    once per process, naming the first such label."""
    if arr.dtype != np.uint8 or not arr.size or not (arr == 255).any():
        return False
    between = (arr > 0) & (arr < 255)
    ids = np.unique(arr[between]) if between.any() else np.zeros(0, np.uint8)
    if ids.size and ids.max() < 32 and ids.size <= SMOOTHED_LEVELS:  # 0, 1 (2, ...) and 255: class ids, an ignore
        if _SMOOTHED:
            return False
        import logging

        _SMOOTHED.append(path)
        shown = ", ".join(map(str, [0, *ids.tolist()]))
        logging.getLogger("agriseg").warning(
            "%s: a label of %s and 255 (255 = ignore?): in label mode binary every value above 0 is vegetation, "
            "255 too; give %s index to read class ids (255 ignored)",
            path,
            shown,
            setting,
        )
        return False
    # a JPEG'd (or smoothed) mask: greys of every level along its edges; class ids (0, 1, 2 and 255 as ignore)
    # or the colours of an RGB label take a few values only, and keep the 0 / non-zero reading. A JPEG at high
    # quality holds few greys, but they hug both ends (1-8 and 247-254: 15 levels at quality 95, which read as
    # 0 / non-zero drew its plants 8-27 % too large); no class ids sit just below 255
    hugs_both = ids.size > 0 and ids.min() < SMOOTHED_END and ids.max() > 255 - SMOOTHED_END
    if not hugs_both and (between.mean() <= SMOOTHED_SHARE or ids.size <= SMOOTHED_LEVELS):
        return False
    if not _SMOOTHED:
        import logging

        _SMOOTHED.append(path)
        logging.getLogger("agriseg").warning(
            "%s: a 0/255 %s with grey values between (saved as JPEG, or smoothed?): read with a threshold at 128 "
            "(vegetation from 128 up), as is every such file; save %ss as PNG to keep their edges exact",
            path, kind, kind,
        )  # fmt: skip
    return True


def _warn_if_background_coloured(
    path: Path, palette: Sequence[int], indexes: np.ndarray, setting: str, transparency: object = None
) -> None:
    """A palette label read in binary mode is read by index (0 = background); when index 0 is a colour and not
    black, while black is another index that pixels use (``indexes``), the colours seen say the opposite: say
    so, once per palette (a palette padded with black past its classes is no such label, nor one whose index 0
    is transparent: a label drawn on a transparent layer). Read by colour instead, a white-background label
    of black plants came out inverted (session 101's review): which colour is the background, only its
    author knows."""
    import logging

    first, black = tuple(palette[:3]), (0, 0, 0)
    colours = [tuple(palette[i : i + 3]) for i in range(3, min(len(palette), 3 * 256), 3)]
    clear0 = transparency == 0 or (isinstance(transparency, bytes) and transparency[:1] == b"\x00")
    if not first or first == black or black not in colours or clear0 or tuple(palette) in _SAID:
        return
    if not (indexes == colours.index(black) + 1).any():
        return
    _SAID.add(tuple(palette))
    logging.getLogger("agriseg").warning(
        "%s: a palette label whose index 0 (background in label mode binary) is %s and not black, while black "
        "is index %d: read by index; if its colours are the classes, give %s colormap",
        path, ",".join(map(str, first)), colours.index(black) + 1, setting,
    )  # fmt: skip


def parse_colour(text: str) -> tuple[int, int, int]:
    """``"R,G,B"`` -> ``(R, G, B)``, each 0-255.

    Raises:
        ValueError: naming the text when it is not three integers 0-255.
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        rgb = tuple(int(p) for p in parts)
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(f"colour {text!r} is not R,G,B with three values 0-255 (e.g. 0,255,0)")
    return rgb[0], rgb[1], rgb[2]


def parse_colormap(text: str) -> dict[str, int]:
    """A colormap from the command line: ``"0,0,0=0;0,255,0=1"`` -> ``{"0,0,0": 0, "0,255,0": 1}``.

    Raises:
        OptionError: ``--colormap: ...`` naming the entry that is not ``R,G,B=class`` (a usage error).
    """
    out: dict[str, int] = {}
    for item in (i.strip() for i in text.split(";")):
        if not item:
            continue
        colour, sep, cls = item.partition("=")
        try:
            if not sep:
                raise ValueError("no '='")
            rgb = parse_colour(colour)
            cid = int(cls)
            if not 0 <= cid <= 254:
                raise ValueError("class id outside 0-254")
        except ValueError as err:
            raise OptionError(f'--colormap: {item!r} is not R,G,B=class ({err}); e.g. "0,0,0=0;0,255,0=1"') from None
        key = ",".join(map(str, rgb))
        if key in out and out[key] != cid:  # the last one won, silently
            raise OptionError(f"--colormap: colour {key} is given class {out[key]} and class {cid}; give it one")
        out[key] = cid
    if not out:
        raise OptionError(f'--colormap: {text!r} has no entries; e.g. "0,0,0=0;0,255,0=1"')
    return out


def check_label_mode(paths: Sequence[str | Path], mode: LabelMode, where: str = "label_mode", sample: int = 8) -> None:
    """Refuse index mode on 0/255 masks: 255 is ignore, so every plant pixel would be left out (a model trained
    on them learns no plant, a score counts none), silently.

    Reads up to ``sample`` labels spread over ``paths``; refuses only when every one holds 0 and 255 and no other
    value (a set whose labels hold a class id is index-coded).

    Raises:
        OptionError: naming ``where`` (the option or config key) and the fix (``binary``).
    """
    if mode != "index" or not paths:
        return
    picked = [paths[round(i * (len(paths) - 1) / max(1, sample - 1))] for i in range(min(sample, len(paths)))]
    for path in dict.fromkeys(picked):
        values = set(np.unique(read_label(path, "index", setting=where)).tolist())
        if values != {0, 255}:
            return
    raise OptionError(
        f"{where}: index reads 255 as 'ignore', and these labels hold only 0 and 255 (e.g. {Path(paths[0]).name}), "
        "so no plant pixel would count: for 0/255 masks use binary"
    )
