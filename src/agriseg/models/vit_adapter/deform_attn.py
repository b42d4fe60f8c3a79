"""Multi-scale deformable attention (Zhu et al., Deformable DETR, ICLR 2021) in pure PyTorch.

Each query attends to ``n_points`` sampled locations per head and per value level, placed around its
reference point by learned offsets; the samples are read with bilinear ``grid_sample`` (zeros outside the
map) and mixed with softmax weights. No compiled extension is needed, so it runs on any device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

Shapes = Sequence[tuple[int, int]]


def reference_points(shapes: Shapes, device: torch.device | None = None) -> torch.Tensor:
    """Normalised pixel centres of every cell of every level, in token order.

    Args:
        shapes: ``(H_l, W_l)`` of each query level.
        device: where to create the tensor.

    Returns:
        ``(1, sum H_l*W_l, 1, 2)`` with ``(x, y)`` in ``(0, 1)``: ``((j + 0.5) / W_l, (i + 0.5) / H_l)``.
    """
    refs = []
    for h, w in shapes:
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h  # (H,)
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w  # (W,)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
        refs.append(torch.stack([gx.reshape(-1), gy.reshape(-1)], -1))  # (H*W, 2)
    return torch.cat(refs, 0)[None, :, None]  # (1, Q, 1, 2)


def ms_deform_attn_sample(
    value: torch.Tensor, shapes: Shapes, locations: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Sample and mix multi-scale values at fractional locations (the core of deformable attention).

    Args:
        value: ``(B, S, M, D)``: M heads of D channels over the flattened levels, ``S = sum H_l*W_l``.
        shapes: ``(H_l, W_l)`` of each of the L value levels, in the order they are flattened in ``value``.
        locations: ``(B, Q, M, L, P, 2)`` sampling positions ``(x, y)`` normalised to ``[0, 1]`` over each
            level (0 and 1 are the outer edges of the border pixels; outside reads zeros).
        weights: ``(B, Q, M, L, P)`` attention weights (usually a softmax over ``L*P``).

    Returns:
        ``(B, Q, M*D)``, the heads concatenated.
    """
    b, s, m, d = value.shape
    _, q, _, n_levels, p, _ = locations.shape
    if s != sum(h * w for h, w in shapes) or n_levels != len(shapes):
        raise ValueError(f"value has {s} tokens over {n_levels} levels; shapes {list(shapes)} disagree")
    grids = 2.0 * locations - 1.0  # (B, Q, M, L, P, 2) in grid_sample's [-1, 1]
    per_level = value.split([h * w for h, w in shapes], dim=1)
    sampled = []
    for lvl, (v, (h, w)) in enumerate(zip(per_level, shapes, strict=True)):
        v = v.permute(0, 2, 3, 1).reshape(b * m, d, h, w)  # (B*M, D, H_l, W_l)
        g = grids[:, :, :, lvl].transpose(1, 2).reshape(b * m, q, p, 2)  # (B*M, Q, P, 2)
        sampled.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
    stacked = torch.stack(sampled, dim=3)  # (B*M, D, Q, L, P)
    wt = weights.transpose(1, 2).reshape(b * m, 1, q, n_levels, p)  # (B*M, 1, Q, L, P)
    out = (stacked * wt).sum(dim=(3, 4))  # (B*M, D, Q)
    return out.view(b, m * d, q).transpose(1, 2)  # (B, Q, M*D)


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention with linear value/output projections.

    Offsets are initialised so that head ``k`` samples along direction ``2*pi*k/M`` at distances 1..P
    (in cells of each level), attention weights start uniform, as in Deformable DETR.

    Args:
        dim: query (and output) channels.
        n_levels: number of value levels.
        n_heads: attention heads; ``int(dim * ratio)`` must be divisible by it.
        n_points: sampling points per head and level.
        ratio: value channels as a fraction of ``dim`` (ViT-Adapter's ``deform_ratio``).
    """

    def __init__(self, dim: int, n_levels: int = 1, n_heads: int = 6, n_points: int = 4, ratio: float = 1.0) -> None:
        super().__init__()
        value_dim = int(dim * ratio)
        if value_dim % n_heads:
            raise ValueError(f"value channels {value_dim} (dim {dim} x ratio {ratio}) not divisible by {n_heads} heads")
        self.n_levels, self.n_heads, self.n_points = n_levels, n_heads, n_points
        self.head_dim = value_dim // n_heads
        self.sampling_offsets = nn.Linear(dim, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(dim, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(dim, value_dim)
        self.output_proj = nn.Linear(value_dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Directional offset initialisation, uniform attention, Xavier projections."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        dirs = torch.stack([angles.cos(), angles.sin()], -1)  # (M, 2)
        dirs = dirs / dirs.abs().max(-1, keepdim=True).values  # on the unit square's border
        dist = torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)  # (1, 1, P, 1)
        bias = dirs.view(self.n_heads, 1, 1, 2) * dist  # (M, 1, P, 2)
        bias = bias.expand(self.n_heads, self.n_levels, self.n_points, 2)  # (M, L, P, 2)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(bias.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, query: torch.Tensor, refs: torch.Tensor, value: torch.Tensor, shapes: Shapes) -> torch.Tensor:
        """Attend from ``query`` tokens to the multi-level ``value`` tokens.

        Args:
            query: ``(B, Q, dim)``.
            refs: ``(B or 1, Q, 1, 2)`` reference points ``(x, y)`` in ``[0, 1]`` (see ``reference_points``).
            value: ``(B, S, dim)``, the levels of ``shapes`` flattened and concatenated.
            shapes: ``(H_l, W_l)`` of each value level.

        Returns:
            ``(B, Q, dim)``.
        """
        b, q, _ = query.shape
        m, n_levels, p = self.n_heads, self.n_levels, self.n_points
        v = self.value_proj(value).view(b, value.shape[1], m, self.head_dim)  # (B, S, M, Dh)
        offsets = self.sampling_offsets(query).view(b, q, m, n_levels, p, 2)  # in cells of each level
        attn = self.attention_weights(query).view(b, q, m, n_levels * p).softmax(-1).view(b, q, m, n_levels, p)
        size = torch.tensor([[w, h] for h, w in shapes], dtype=query.dtype, device=query.device)  # (L, 2) as (x, y)
        locs = refs[:, :, None, :, None, :] + offsets / size[None, None, None, :, None, :]  # (B, Q, M, L, P, 2)
        return self.output_proj(ms_deform_attn_sample(v, shapes, locs, attn))  # (B, Q, dim)
