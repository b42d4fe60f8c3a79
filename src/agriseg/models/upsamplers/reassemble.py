"""Content-aware reassembly shared by CARAFE and FADE.

Written by hand because no maintained library ships it without compiled CUDA ops (mmcv's CARAFE is a
CUDA kernel). The unfold + einsum form never materialises a (B, k*k, C, 2H, 2W) tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reassemble_x2(x: torch.Tensor, kernels: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Reassemble ``x`` to twice its size with per-output-pixel kernels.

    Output pixel (i, j) is the kernel-weighted sum over the k x k window of ``x`` centred at
    (i // 2, j // 2).

    Args:
        x: features ``(B, C, H, W)``.
        kernels: normalised kernels ``(B, k*k, 2H, 2W)``.
        k: kernel size (odd).

    Returns:
        ``(B, C, 2H, 2W)``.
    """
    b, c, h, w = x.shape
    patches = F.unfold(x, k, padding=k // 2).view(b, c, k * k, h * w)  # (B, C, k*k, HW)
    # kernels of the 4 sub-pixel positions: (B, 2, 2, k*k, H, W) -> (B, 4, k*k, HW)
    kern = kernels.view(b, k * k, h, 2, w, 2).permute(0, 3, 5, 1, 2, 4).reshape(b, 4, k * k, h * w)
    out = torch.einsum("bckn,bskn->bscn", patches, kern)  # (B, 4, C, HW)
    return out.view(b, 2, 2, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, c, 2 * h, 2 * w)
