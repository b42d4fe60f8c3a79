"""Reading images robustly: RGB, RGBA, grayscale, palette, 16-bit; clear errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


class ImageReadError(ValueError):
    """An image file could not be read; the message names the file and the problem."""


def open_image(path: str | Path, kind: str = "image") -> Image.Image:
    """Open and decode an image file, with one-line errors that name the file.

    Args:
        path: the file.
        kind: what the file is, for the messages (``image``, ``label``, ...).

    Raises:
        ImageReadError: missing file, not an image, or unreadable / truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: {'file' if kind == 'image' else kind + ' file'} not found")
    try:
        im = Image.open(path)
        im.load()
        return im
    except UnidentifiedImageError as err:
        raise ImageReadError(f"{path}: not a readable {kind}") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"{path}: unreadable or truncated {kind} ({err})") from err


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image as ``uint8`` RGB ``(H, W, 3)``.

    Grayscale is replicated to three channels, alpha is dropped, palette images are expanded and 16-bit
    or float images are rescaled to 0-255 (by the type's range for integers, by min/max for floats).

    Raises:
        ImageReadError: if the file is missing, not an image, truncated, or has an unusable shape.
    """
    path = Path(path)
    with open_image(path) as im:
        arr = _to_array(im)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ImageReadError(f"{path}: unsupported image shape {arr.shape}")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.shape[-1] == 2:  # gray + alpha
        arr = np.repeat(arr[..., :1], 3, axis=-1)
    elif arr.shape[-1] > 3:
        arr = arr[..., :3]
    return _to_uint8(arr, path)


def _to_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
    return np.asarray(im)


def _to_uint8(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr if arr.flags.writeable and arr.flags.c_contiguous else np.array(arr)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        top = 65535 if arr.max(initial=0) > 255 else 255
        return (arr.astype(np.float32) * (255.0 / top)).clip(0, 255).astype(np.uint8)
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ImageReadError(f"{path}: image has NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if 0.0 <= lo and hi <= 1.0:
        return (arr * 255).round().astype(np.uint8)
    return ((arr - lo) / max(hi - lo, 1e-12) * 255).round().astype(np.uint8)


def list_images(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders (non-recursive) into a sorted list of image files.

    Raises:
        FileNotFoundError: for a path that does not exist.
        ValueError: for a folder without images, or when nothing is found.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not found:
                raise ValueError(f"{p}: folder has no images ({', '.join(IMAGE_SUFFIXES)})")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    if not out:
        raise ValueError("no input images given")
    return out
