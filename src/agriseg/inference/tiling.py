"""Sliding-window prediction with smooth blending, so any image size runs in bounded model memory."""

from __future__ import annotations

from collections.abc import Callable

import torch


def blend_window(size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """2-D weight window ``(size, size)``: a Hann-like ramp over the outer quarter, 1 in the middle.

    The floor of 1e-3 keeps image-edge pixels (covered by one tile only) well defined.
    """
    ramp = max(1, size // 4)
    x = torch.ones(size, device=device)
    r = 0.5 - 0.5 * torch.cos(torch.linspace(0, torch.pi, ramp + 2, device=device)[1:-1])
    x[:ramp], x[-ramp:] = r, r.flip(0)
    return (x[:, None] * x[None, :]).clamp_min(1e-3)


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``tile`` px, the last one flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


@torch.no_grad()
def predict_tiled(
    forward: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    num_classes: int,
    tile: int = 1024,
    overlap: float = 0.25,
    batch_size: int = 4,
) -> torch.Tensor:
    """Class probabilities of one image, tiled with Gaussian-like blending when larger than ``tile``.

    Args:
        forward: maps a batch ``(N, C, h, w)`` to logits ``(N, K, h, w)``.
        image: ``(C, H, W)`` float.
        num_classes: K.
        tile: tile side in pixels.
        overlap: fraction of the tile shared by neighbours.
        batch_size: tiles per forward pass.

    Returns:
        Softmax probabilities ``(K, H, W)``.
    """
    c, h, w = image.shape
    if h <= tile and w <= tile:
        return forward(image[None]).float().softmax(1)[0]
    th, tw = min(tile, h), min(tile, w)
    stride_h, stride_w = max(1, int(th * (1 - overlap))), max(1, int(tw * (1 - overlap)))
    boxes = [(y, x) for y in tile_starts(h, th, stride_h) for x in tile_starts(w, tw, stride_w)]
    acc = torch.zeros(num_classes, h, w, device=image.device)  # (K, H, W)
    norm = torch.zeros(1, h, w, device=image.device)
    win = blend_window(max(th, tw), image.device)[:th, :tw]  # (th, tw)
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i : i + batch_size]
        batch = torch.stack([image[:, y : y + th, x : x + tw] for y, x in chunk])  # (N, C, th, tw)
        probs = forward(batch).float().softmax(1)  # (N, K, th, tw)
        for (y, x), p in zip(chunk, probs, strict=True):
            acc[:, y : y + th, x : x + tw] += p * win
            norm[:, y : y + th, x : x + tw] += win
    return acc / norm
