"""Image + label folders matched by file stem, with split lists."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agriseg.config import OptionError
from agriseg.crop.labels import LabelMisfit, LabelMode, read_label
from agriseg.data.files import TEXT_ERRORS
from agriseg.data.io import IMAGE_SUFFIXES, read_rgb, stem_key


def match_pairs(
    images: str | Path, labels: str | Path, names: tuple[str, str] | None = None
) -> dict[str, tuple[Path, Path]]:
    """Pair image and label files by stem; ``names``: where the two folders were given (``data.images``,
    ``data.labels``), for a missing one's message.

    Raises:
        FileNotFoundError: if a folder is missing.
        NoInputError: if no stem has both an image and a label (a usage error on the command line).
        OptionError: two images of one name in a folder (they would pair at random).
    """
    from agriseg.data.io import NoInputError

    images, labels = Path(images), Path(labels)
    for d, name in zip((images, labels), names or ("", ""), strict=True):
        if not d.is_dir():  # a file there was "folder not found" too
            what = "a file, not a folder" if d.exists() else "folder not found"
            raise FileNotFoundError(f"{d}: {what}" + (f" ({name})" if name else ""))
    if images.resolve() == labels.resolve():  # each photo and its label: "two images of one name; keep one"
        from agriseg.config import OptionError

        raise OptionError(f"{labels}: the photos' own folder" + (f" ({names[1]})" if names else "")
                          + "; give the folder of the labels")  # fmt: skip
    imgs, labs = images_by_stem(images, photos=True), images_by_stem(labels)
    for d, found, name, kind in ((images, imgs, names[0] if names else "", "images"),
                                 (labels, labs, names[1] if names else "", "label images")):  # fmt: skip
        if not found:
            shown = ", ".join(IMAGE_SUFFIXES[:4])
            raise NoInputError(f"{d}: folder has no {kind} ({shown}, ...)" + (f" ({name})" if name else ""))
    pairs = {s: (imgs[s], labs[s]) for s in sorted(imgs.keys() & labs.keys())}
    if not pairs:
        raise NoInputError(f"no image in {images} has a label of the same name in {labels}")
    return pairs


def warn_unpaired(images: str | Path, labels: str | Path, left_out: str = "left out") -> None:
    """Warn of the photos without a label and the labels without a photo (``1 photo without a label left out
    of training (b.jpg)``): what pairs by stem leaves out, said by every command that pairs them."""
    from agriseg.batch import counted, listed
    from agriseg.crop.evaluate import unpaired
    from agriseg.data.io import log

    lone = unpaired(images, labels)
    for what, names in lone.items():
        if names:
            photo = what == "images_without_label"  # "1 images without label" before
            noun, lacks = ("photo", "a label") if photo else ("label", "a photo")
            log.warning("%s: %s without %s %s (%s)", images if photo else labels, counted(len(names), noun), lacks,
                        left_out, listed(names, 3))  # fmt: skip
    # PLANTS_01.JPG beside plants_01.png: two lists of names that looked unrelated, half the set left out
    by_case = {Path(n).stem.casefold(): n for n in lone.get("labels_without_image", [])}
    cased = [(n, by_case[Path(n).stem.casefold()]) for n in lone.get("images_without_label", [])
             if Path(n).stem.casefold() in by_case]  # fmt: skip
    if cased:
        log.warning("%s: %s %s from a label's name only in letter case (e.g. %s and %s): names pair exactly, "
                    "so rename one side", images, counted(len(cased), "photo"),
                    "differs" if len(cased) == 1 else "differ", *cased[0])  # fmt: skip


def size_differs(label: Path, label_shape: tuple[int, ...], photo: Path, photo_shape: tuple[int, ...]) -> str:
    """The message for a label whose size is not its photo's (shapes ``(H, W, ...)``); where the photo is read
    turned by its EXIF orientation and the label fits the pixels as stored, it says so (the file itself is the
    label's size: the message alone could not be understood)."""
    (lh, lw), (ph, pw) = label_shape[:2], photo_shape[:2]
    text = f"{label}: label is {lw}x{lh} px, its photo {photo} {pw}x{ph}"  # as the other size messages say it
    if tuple(label_shape[:2]) == tuple(photo_shape[1::-1][:2]):
        from agriseg.data.io import exif_orientation, open_image

        try:
            with open_image(photo) as im:
                turned = exif_orientation(im) >= 5  # 5-8: a quarter turn
        except ValueError:
            turned = False
        if turned:
            text += (" (the photo is read turned by its EXIF orientation, as viewers show it; the label fits its "
                     "pixels as stored: save the label turned as the photo is shown)")  # fmt: skip
    return text


def folder_images(folder: Path, photos: bool = False) -> list[Path]:
    """The image files of one folder (not its subfolders), sorted, as every reader of a folder lists them: not
    macOS's ``._`` files nor agriseg's temporaries; with ``photos``, not the outputs an agriseg run recorded there
    either (``crop predict`` into the photos' own folder wrote ``<name>_mask.png``, ``<name>_overlay.jpg``)."""
    from agriseg.data.files import is_temporary
    from agriseg.manifest import recorded_outputs

    own = {n for outs in recorded_outputs(folder).values() for n in outs} if photos else set()
    return [
        p
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("._") and not is_temporary(p.name)
        and p.name not in own and p.is_file()
    ]  # fmt: skip


def images_by_stem(folder: Path, photos: bool = False) -> dict[str, Path]:
    """The images of a folder by name (:func:`folder_images`); two of one name (``0003.jpg``, ``0003.png``)
    would pair at random.

    Raises:
        OptionError: two images of one name, naming both.
    """
    out: dict[str, Path] = {}
    for p in folder_images(folder, photos):
        if (key := stem_key(p)) in out:
            raise OptionError(f"{out[key]} and {p.name}: two images of one name in {folder}; keep one")
        out[key] = p
    return out


def read_stem_list(path: str | Path) -> list[str]:
    """Read a split file: one stem (or file name) per line; blank lines and ``#`` comments ignored.

    Raises:
        FileNotFoundError: ``<path>: list of photo names not found``.
        OptionError: a file that is not text (a usage error, as an empty list is).
    """
    path = Path(path)
    if path.is_dir():  # "not found" of a folder that is there misled
        raise FileNotFoundError(f"{path}: a folder, not a list of photo names (a text file, one name per line)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: list of photo names not found")
    raw = path.read_bytes()
    if b"\0" in raw:
        raise OptionError(f"{path}: not a text file of photo names")
    # UTF-8 (a BOM allowed); a name in another encoding (a file name of raw bytes) is kept as those bytes
    lines = raw.decode("utf-8", errors=TEXT_ERRORS).removeprefix("\ufeff").splitlines()
    return [_listed_stem(s.strip()) for s in lines if s.strip() and not s.lstrip().startswith("#")]


def _listed_stem(name: str) -> str:
    """A listed name as a stem: a photo's extension is dropped (``a.jpg``), any other dot is part of the name
    (``plot.1.2023`` is the stem of ``plot.1.2023.jpg``, not ``plot.1``)."""
    return stem_key(name) if Path(name).suffix.lower() in IMAGE_SUFFIXES else stem_key(f"{name}.x")


def split_stems(
    stems: list[str], train_list: str | None, val_list: str | None, val_fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """Return (train, val) stems from split files or a seeded random split.

    Raises:
        ValueError: if a split file names a stem that has no image/label pair.
        OptionError: the two lists share photos, or the training list names every photo (none to validate).
    """
    have = set(stems)
    lists: dict[str, list[str] | None] = {}
    for key, given in (("val_list", val_list), ("train_list", train_list)):
        try:
            lists[key] = read_stem_list(given) if given else None
        except FileNotFoundError as err:  # named by its config key, as the lists' other problems are
            raise OptionError(f"data.{key}: {err}") from None
    val, train = lists["val_list"], lists["train_list"]
    for name, lst, path in (("val_list", val, val_list), ("train_list", train, train_list)):
        missing = sorted(set(lst or []) - have)
        if missing:  # the list given does not fit the data: a usage error (exit status 2), naming the file
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            raise OptionError(
                f"data.{name}: {path} names {len(missing)} photo(s) without an image and a label of that name ({shown})"
            )
    if val is not None and train is not None and set(val) & set(train):
        both = sorted(set(val) & set(train))
        raise OptionError(  # a model validated on photos it trained on: its scores and best checkpoint mislead
            f"{train_list} and {val_list}: {len(both)} photo(s) in both the training and the validation list, "
            f"e.g. {', '.join(both[:3])}"
        )
    if val is None:  # a random share of the photos not named for training
        rng = random.Random(seed)
        named = set(train or [])
        shuffled = [s for s in stems if s not in named]
        rng.shuffle(shuffled)
        val = sorted(shuffled[: max(1, round(len(stems) * val_fraction))])
        if not val:
            raise OptionError(f"data.train_list: {train_list} names every photo, so none is left to validate on")
    if train is None:
        train = [s for s in stems if s not in set(val)]
    return train, val


UNLISTED_WARNED = 0.01  # a label more than this share of whose pixels are colours data.colormap does not name


def _colours_of(label: Path, where: np.ndarray) -> str:
    """The commonest colours of a label's pixels ``where`` (``76,76,76; 150,150,150``)."""
    from PIL import Image

    from agriseg.data.io import apply_orientation, exif_orientation

    with Image.open(label) as im:  # turned as read_label turns it, so ``where`` fits
        rgb = apply_orientation(np.asarray(im.convert("RGB")), exif_orientation(im))[where]  # (N, 3)
    colours, counts = np.unique(rgb, axis=0, return_counts=True)
    return "; ".join(",".join(map(str, c)) for c in colours[np.argsort(-counts)][:3])


class CropSegDataset:
    """Field photos with class-id masks (a map-style dataset for ``torch.utils.data.DataLoader``).

    The pairing helpers above need no PyTorch (``crop evaluate`` uses them in the base install), so torch is
    imported where items become tensors.

    Items are dicts with ``image`` ``(3, H, W)`` float in [0, 1], ``mask`` ``(H, W)`` long, ``stem``.

    Args:
        pairs: stem -> (image path, label path).
        stems: which stems to use.
        label_mode: how label files encode classes.
        colormap: colour -> class id for ``colormap`` mode.
        transform: an albumentations transform applied to ``image``/``mask`` (uint8 HWC).
        cache: keep decoded images in memory.
        refine_band: re-decide the labels this many px around each outline from the photo
            (:func:`agriseg.crop.refine.refine_labels`; 0 = as labelled).
        extra: further ``(stem, image, label)`` items (exact labels: never refined).
        num_classes: the model's classes: a label with a higher class id (not 255, ignore) fails naming its
            file (0: not checked).
    """

    def __init__(
        self,
        pairs: dict[str, tuple[Path, Path]],
        stems: list[str],
        label_mode: LabelMode = "binary",
        colormap: dict[str, int] | None = None,
        transform: Callable | None = None,
        cache: bool = True,
        refine_band: int = 0,
        extra: list[tuple[str, Path, Path]] | None = None,
        num_classes: int = 0,
    ) -> None:
        self.num_classes = num_classes
        self.items = [(s, *pairs[s]) for s in stems]
        self.refined = [refine_band] * len(self.items) + [0] * len(extra or [])
        self.items += list(extra or [])
        self.label_mode, self.colormap, self.transform = label_mode, colormap, transform
        self._seeded_in = 0  # the process whose numpy generator seeded the transform's (0: none yet)
        # keyed by (image, label, refine band): an item repeated in an epoch is decoded and held once
        self._cache: dict[tuple[Path, Path, int], tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.items)

    def check(self, where: str = "") -> tuple[int, int]:
        """Read every label and each photo's header before training, so that a bad file is a usage error before
        the run's folder is made, not a stop after epochs were trained (a validation label of class 5 was found
        once the first epoch was done, and the epoch lost).

        Returns:
            The largest photo's ``(height, width)`` (``(0, 0)`` for none).

        Raises:
            agriseg.config.OptionError: the first label that is unreadable, of another size than its photo, or
                holding a class id of no class (naming it), with how many more there are.
        """
        from agriseg.data.io import exif_orientation, open_image

        problems = []
        largest = (0, 0)
        flipped: list[tuple[Path, int]] = []  # photos read flipped or turned by EXIF where sizes cannot tell
        unlisted: list[str] = []  # colormap labels with colours the colormap does not name (read as ignored)
        any_class = False
        for _, ip, lp in dict.fromkeys(self.items):  # each pair once: data.repeat lists a photo several times
            try:
                mask = read_label(lp, self.label_mode, self.colormap, "data.label_mode")
                any_class = any_class or bool(((mask > 0) & (mask != 255)).any())
                if self.label_mode == "colormap" and 255 not in (self.colormap or {}).values():
                    if (share := float((mask == 255).mean())) > UNLISTED_WARNED:
                        unlisted.append(f"{lp}: {share:.0%} of its pixels ({_colours_of(lp, mask == 255)})")
                with open_image(ip) as im:
                    w, h = im.size
                    if (turn := exif_orientation(im)) >= 5:  # read turned: its sides swap
                        w, h = h, w
                    if turn > 1 and (turn < 5 or w == h):  # a square photo's turn leaves its size as it was
                        flipped.append((ip, turn))
                if mask.shape != (h, w):
                    raise ValueError(size_differs(lp, mask.shape, ip, (h, w, 3)))
                largest = max(largest, (h, w), key=lambda s: s[0] * s[1])
                bad = np.unique(mask[(mask != 255) & (mask >= self.num_classes)]) if self.num_classes else ()
                if len(bad):
                    ids = ", ".join(map(str, bad[:3]))
                    raise ValueError(f"{lp}: class id {ids} but model.num_classes is {self.num_classes} (ids 0 to "
                                     "num_classes - 1, 255 ignored)")  # fmt: skip
            except LabelMisfit as err:  # one label's: listed with the others, "(and 4 more in ...)"
                problems.append(str(err))
            except OptionError:  # the label mode does not fit (a ValueError too): a usage error, not one label's
                raise
            except ValueError as err:  # ImageReadError too
                problems.append(str(err))
        if problems:
            more = f" (and {len(problems) - 1} more{' in ' + where if where else ''})" if len(problems) > 1 else ""
            raise OptionError(f"{problems[0]}{more}")
        if flipped:  # a label drawn on the stored pixels lies mirrored or upside down under the photo, unsaid
            import logging

            logging.getLogger("agriseg").warning(
                "%s%s: read flipped or turned by its EXIF orientation (%d), as viewers show it: its label must be "
                "drawn on the photo as shown (one drawn on the pixels as stored lies mirrored or turned under it)",
                flipped[0][0], f" and {len(flipped) - 1} more photos" if len(flipped) > 1 else "", flipped[0][1],
            )  # fmt: skip
        if unlisted and not any_class:  # every plant pixel was of a colour the colormap does not name
            raise OptionError(
                f"{unlisted[0]} and every other label hold no class but background: their colours are not in "
                "data.colormap (read as ignored); name them there"
            )
        if unlisted:
            from agriseg.batch import listed
            from agriseg.data.io import log

            jpeg = any(Path(u.split(": ", 1)[0]).suffix.lower() in (".jpg", ".jpeg") for u in unlisted)
            log.warning(
                "colours not in data.colormap are ignored in training%s: %s%s",
                f" ({where})" if where else "",
                listed(unlisted, 3),
                "; JPEG blends the colours at every edge: save colour labels as PNG" if jpeg else "",
            )
        return largest

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoded (image uint8 HWC, mask uint8 HW) of item ``i``; checks that their sizes match."""
        stem, ip, lp = self.items[i]
        key = (ip, lp, self.refined[i])
        if self._cache is not None and key in self._cache:
            return self._cache[key]
        img, mask = read_rgb(ip), read_label(lp, self.label_mode, self.colormap, "data.label_mode")
        if img.shape[:2] != mask.shape:
            raise ValueError(size_differs(lp, mask.shape, ip, img.shape))
        if self.num_classes and (mask[mask != 255] >= self.num_classes).any():
            bad = sorted(set(np.unique(mask[(mask != 255) & (mask >= self.num_classes)]).tolist()))
            raise ValueError(
                f"{lp}: class id {', '.join(map(str, bad[:3]))} but model.num_classes is {self.num_classes} "
                "(ids 0 to num_classes - 1, 255 ignored)"
            )
        if self.refined[i]:
            from agriseg.crop.refine import refine_labels

            mask = refine_labels(img, mask, self.refined[i])
        if self._cache is not None:
            self._cache[key] = (img, mask)
        return img, mask

    def __getitem__(self, i: int) -> dict:
        import torch

        img, mask = self.load(i)
        if self.transform is not None:
            if hasattr(self.transform, "set_random_seed") and self._seeded_in != os.getpid():
                # albumentations draws from its own generator, which seed_everything does not seed: a fixed
                # train.seed gave other crops on every run. Seeded once per process (the trainer, each loader
                # worker) from numpy's, which Lightning seeds there
                self.transform.set_random_seed(int(np.random.randint(2**31)))
                self._seeded_in = os.getpid()
            out = self.transform(image=img, mask=mask)
            img, mask = out["image"], out["mask"]
        image = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255  # (3, H, W)
        return {
            "image": image,
            "mask": torch.from_numpy(np.ascontiguousarray(mask)).long(),
            "stem": self.items[i][0],
        }
