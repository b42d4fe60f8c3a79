"""The one tiling rule of agriseg: where windows start, and how overlapping windows are weighted.

Photos (:func:`predict_tiled`), Sentinel-2 scenes (``agriseg.fields.predict``), text-mask patches
(``agriseg.text.patches`` / ``agriseg.text.infer``) and robustness chips (``agriseg.fields.robustness``) all
place windows with :func:`window_starts` and blend them with :func:`blend_weights`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Literal

import numpy as np

__all__ = ["BlendKind", "blend_weights", "overlap_stride", "predict_tiled", "window_starts"]

BlendKind = Literal["gaussian", "hann", "tent", "ones"]


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Start offsets of windows over ``[0, length)``: every ``stride`` px, the last flush with the end. They
    cover every pixel when ``stride`` is at most ``window``; a longer stride samples windows with gaps between
    them (``fields robustness`` chips).

    A length shorter than the window gets one window at 0 (callers pad the read or refuse the input).

    Args:
        length: pixels to cover.
        window: window side in pixels.
        stride: step between window starts (window x (1 - overlap)).

    Raises:
        ValueError: a window or a stride under 1 px.
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be at least 1 px, got window {window}, stride {stride}")
    if length <= window:
        return [0]
    starts = list(range(0, length - window, stride))
    return [*starts, length - window]


def overlap_stride(window: int, overlap: float) -> int:
    """The stride of windows sharing ``overlap`` (a fraction in [0, 1)) of their side, at least 1 px."""
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    return max(1, int(round(window * (1.0 - overlap))))


@lru_cache(maxsize=16)
def blend_weights(size: int, kind: BlendKind = "gaussian", sigma_scale: float = 0.125) -> np.ndarray:
    """Per-pixel weights ``(size, size)`` float32 of a window, never 0, peaking at 1 (``hann`` and ``tent`` on
    windows of 1-2 px, which have no middle, are flat below 1: all that matters is the ratio of the weights).

    Args:
        size: window side in pixels.
        kind: ``gaussian`` (separable, sigma = ``sigma_scale`` x size, nnU-Net-style apodisation; floor
            1e-4), ``hann`` (a raised-cosine ramp over the outer quarter, 1 in the middle; floor 1e-3),
            ``tent`` (linear from 0.1 at the edges to 1 in the centre) or ``ones`` (plain averaging).
        sigma_scale: sigma of ``gaussian`` as a fraction of ``size``.

    The floors keep pixels that only one window covers (image edges) well defined. The array is cached:
    do not modify it.

    Raises:
        ValueError: a size under 1 px, a ``sigma_scale`` not above 0, an unknown ``kind``.
    """
    if size < 1:
        raise ValueError(f"window size must be at least 1 px, got {size}")
    if kind == "gaussian":
        if not sigma_scale > 0:  # NaN included
            raise ValueError(f"sigma_scale must be above 0, got {sigma_scale}")
        x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
        g = np.exp(-0.5 * (x / (sigma_scale * size)) ** 2)
        w = np.outer(g, g)
        weights: np.ndarray = np.maximum(w / w.max(), 1e-4).astype(np.float32)
        return weights
    if kind == "hann":
        ramp = max(1, size // 4)
        r = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp + 2, dtype=np.float64)[1:-1])
        line = np.ones(size, dtype=np.float64)
        line[:ramp], line[-ramp:] = r, r[::-1]
        return np.maximum(np.outer(line, line), 1e-3).astype(np.float32)
    if kind == "tent":
        line = 1.0 - np.abs(np.linspace(-1, 1, size)) * 0.9
        return np.outer(line, line).astype(np.float32)
    if kind == "ones":
        return np.ones((size, size), dtype=np.float32)
    raise ValueError(f"unknown blend kind {kind!r}; valid: gaussian, hann, tent, ones")


def predict_tiled(
    forward: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    num_classes: int,
    tile: int = 1024,
    overlap: float = 0.25,
    batch_size: int = 4,
    blend: BlendKind = "hann",
    progress: bool = False,
) -> np.ndarray:
    """Class probabilities of one image, tiled with blending when it is larger than ``tile``.

    Args:
        forward: maps a batch ``(N, C, h, w)`` float32 to class probabilities ``(N, K, h, w)``.
        image: ``(C, H, W)`` float32.
        num_classes: K.
        tile: tile side in pixels.
        overlap: fraction of the tile shared by neighbours.
        batch_size: tiles per forward pass.
        blend: weights of overlapping tiles (:func:`blend_weights`).
        progress: a tqdm bar of the tiles (removed when done) when they take more than one model pass.

    Returns:
        Probabilities ``(K, H, W)`` float32: the blend of the tiles' probabilities.
    """
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W); got shape {image.shape}")
    c, h, w = image.shape
    if (c > 64 and w <= 16) or w <= 4 < c:  # many "channels" and a few columns: an RGB / multiband (H, W, C)
        raise ValueError(
            f"image must be (C, H, W); {image.shape} looks like (H, W, C): image.transpose(2, 0, 1) (an image "
            "really 4 px wide or narrower: pad it wider)"
        )
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)):
        raise TypeError(f"tile is a whole number of pixels, got {tile!r}")
    if tile < 1:  # no tile covers anything: every pixel's weight 0, its probabilities NaN
        raise ValueError(f"tile must be at least 1 px, got {tile}")
    if h <= tile and w <= tile:
        single: np.ndarray = _probabilities(forward(image[None]), num_classes, (h, w))[0]
        return single
    th, tw = min(tile, h), min(tile, w)
    stride_h, stride_w = overlap_stride(th, overlap), overlap_stride(tw, overlap)  # the one stride rule
    boxes = [(y, x) for y in window_starts(h, th, stride_h) for x in window_starts(w, tw, stride_w)]
    acc = np.zeros((num_classes, h, w), np.float32)  # (K, H, W)
    norm = np.zeros((h, w), np.float32)
    win = blend_weights(max(th, tw), blend)[:th, :tw]  # (th, tw)
    bar = None
    if progress and len(boxes) > batch_size:
        from agriseg.batch import progress_bar

        bar = progress_bar(total=len(boxes), unit="tile", desc=f"tiles of {h}x{w}", leave=False)
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i : i + batch_size]
        batch = np.stack([image[:, y : y + th, x : x + tw] for y, x in chunk])  # (N, C, th, tw)
        probs = _probabilities(forward(batch), num_classes, (th, tw))  # (N, K, th, tw)
        for (y, x), p in zip(chunk, probs, strict=True):
            acc[:, y : y + th, x : x + tw] += p * win
            norm[y : y + th, x : x + tw] += win
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return acc / norm


def _probabilities(out: np.ndarray, num_classes: int, size: tuple[int, int]) -> np.ndarray:
    """A forward function's output ``(N, K, h, w)`` as float32, checked against ``num_classes`` and the size."""
    out = np.asarray(out, dtype=np.float32)
    if out.ndim != 4 or out.shape[1] != num_classes or out.shape[2:] != size:
        raise ValueError(f"forward returned shape {out.shape}; expected (N, {num_classes}, {size[0]}, {size[1]})")
    return out
