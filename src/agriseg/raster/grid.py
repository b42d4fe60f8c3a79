"""The global patch grid of a scene and the Gaussian blending window.

Patch positions are fixed for the whole scene, so streamed (and resumed) runs see exactly the patches a
single in-memory pass over the scene would.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def patch_starts(length: int, patch: int, stride: int) -> list[int]:
    """Start offsets of patches covering ``[0, length)``; the last patch ends flush with the scene.

    A scene shorter than a patch gets one patch at 0 (the read is padded).
    """
    if length <= patch:
        return [0]
    starts = list(range(0, length - patch, stride))
    return [*starts, length - patch]


@lru_cache(maxsize=8)
def gaussian_window(size: int, sigma_scale: float = 0.125, floor: float = 1e-4) -> np.ndarray:
    """Separable Gaussian weights ``(size, size)`` peaking at 1 in the patch centre.

    Args:
        size: patch side in pixels.
        sigma_scale: sigma as a fraction of ``size`` (0.125 = nnU-Net-style apodisation).
        floor: minimum weight, so pixels covered by one patch only (scene edges) stay well defined.
    """
    c = (size - 1) / 2.0
    x = np.arange(size, dtype=np.float64) - c
    g = np.exp(-0.5 * (x / (sigma_scale * size)) ** 2)
    w = np.outer(g, g)
    w /= w.max()
    return np.maximum(w, floor).astype(np.float32)  # (size, size)
