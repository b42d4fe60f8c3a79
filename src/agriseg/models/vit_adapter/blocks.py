"""Injector, extractor, ConvFFN and the interaction block that couples them with a group of ViT blocks.

Token layouts: ``x`` is the ViT sequence ``(B, h*w, D)`` at stride 16; ``c`` is the adapter's multi-scale
sequence ``(B, 4hw + hw + hw/4, D)``: the stride-8, 16 and 32 maps flattened and concatenated.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import DropPath
from torch import nn

from agriseg.models.vit_adapter.deform_attn import MSDeformAttn, Shapes


def _norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=1e-6)


class ConvFFN(nn.Module):
    """Linear -> depthwise 3x3 conv (each level reshaped to its map) -> GELU -> linear.

    Args:
        dim: token channels.
        hidden: hidden channels (``cffn_ratio * dim``).
        drop: dropout after the activation and the output.
    """

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, shapes: Shapes) -> torch.Tensor:
        # x: (B, N, D) with N = sum H_l*W_l over ``shapes``
        x = self.fc1(x)  # (B, N, Hd)
        b, _, c = x.shape
        levels = []
        for t, (h, w) in zip(x.split([h * w for h, w in shapes], 1), shapes, strict=True):
            m = self.dwconv(t.transpose(1, 2).reshape(b, c, h, w))  # (B, Hd, H_l, W_l)
            levels.append(m.flatten(2).transpose(1, 2))  # (B, H_l*W_l, Hd)
        x = self.drop(self.act(torch.cat(levels, 1)))
        return self.drop(self.fc2(x))  # (B, N, D)


class _CrossAttention(nn.Module):
    """Deformable attention of normalised queries over the normalised tokens of the other sequence: the part
    the injector and the extractor share (their parameters keep these names)."""

    def __init__(self, dim: int, n_heads: int, n_points: int, n_levels: int, ratio: float) -> None:
        super().__init__()
        self.query_norm = _norm(dim)
        self.feat_norm = _norm(dim)
        self.attn = MSDeformAttn(dim, n_levels, n_heads, n_points, ratio)

    def attend(self, q: torch.Tensor, refs: torch.Tensor, v: torch.Tensor, v_shapes: Shapes) -> torch.Tensor:
        # q: (B, Nq, D) queries; v: (B, Nv, D) values on the levels of v_shapes -> (B, Nq, D)
        return self.attn(self.query_norm(q), refs, self.feat_norm(v), v_shapes)


class Injector(_CrossAttention):
    """Spatial features -> ViT tokens: ``x + gamma * DeformAttn(norm(x), norm(c))``, gamma initialised at 0.

    Args:
        dim: token channels.
        n_heads: deformable attention heads.
        n_points: sampling points per head and level.
        n_levels: levels in ``c`` (3: strides 8, 16, 32).
        ratio: value-channel ratio of the attention.
        init_gamma: initial value of the learnable per-channel scale.
    """

    def __init__(
        self,
        dim: int,
        n_heads: int,
        n_points: int,
        n_levels: int = 3,
        ratio: float = 1.0,
        init_gamma: float = 0.0,
    ) -> None:
        super().__init__(dim, n_heads, n_points, n_levels, ratio)
        self.gamma = nn.Parameter(torch.full((dim,), float(init_gamma)))

    def forward(self, x: torch.Tensor, refs: torch.Tensor, c: torch.Tensor, c_shapes: Shapes) -> torch.Tensor:
        # x: (B, hw, D) queries; c: (B, Nc, D) values
        return x + self.gamma * self.attend(x, refs, c, c_shapes)


class Extractor(_CrossAttention):
    """ViT tokens -> spatial features: ``c + DeformAttn(norm(c), norm(x))``, then ``c + ConvFFN(norm(c))``.

    Args:
        dim: token channels.
        n_heads: deformable attention heads.
        n_points: sampling points per head.
        ratio: value-channel ratio of the attention.
        cffn_ratio: ConvFFN hidden width as a fraction of ``dim`` (0 = no ConvFFN).
        drop_path: stochastic depth on the ConvFFN branch.
    """

    def __init__(
        self,
        dim: int,
        n_heads: int,
        n_points: int,
        ratio: float = 1.0,
        cffn_ratio: float = 0.25,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__(dim, n_heads, n_points, 1, ratio)
        self.ffn = ConvFFN(dim, int(dim * cffn_ratio)) if cffn_ratio > 0 else None
        self.ffn_norm = _norm(dim) if cffn_ratio > 0 else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(
        self, c: torch.Tensor, refs: torch.Tensor, x: torch.Tensor, x_shape: tuple[int, int], c_shapes: Shapes
    ) -> torch.Tensor:
        # c: (B, Nc, D) queries; x: (B, hw, D) values on one level of shape x_shape
        c = c + self.attend(c, refs, x, [x_shape])
        if self.ffn is not None and self.ffn_norm is not None:
            c = c + self.drop_path(self.ffn(self.ffn_norm(c), c_shapes))
        return c


class InteractionBlock(nn.Module):
    """Injector -> a group of ViT blocks -> extractor (+ extra extractors in the last block).

    Args:
        dim: token channels.
        n_heads: deformable attention heads.
        n_points: sampling points per head and level.
        ratio: value-channel ratio of the deformable attention.
        cffn_ratio: ConvFFN hidden ratio.
        drop_path: stochastic depth of the extractors' ConvFFN.
        init_gamma: injector gamma initial value.
        extra_extractors: extractors run after the first one (2 in the last block of ViT-Adapter).
    """

    def __init__(
        self,
        dim: int,
        n_heads: int,
        n_points: int,
        ratio: float = 1.0,
        cffn_ratio: float = 0.25,
        drop_path: float = 0.0,
        init_gamma: float = 0.0,
        extra_extractors: int = 0,
    ) -> None:
        super().__init__()
        self.injector = Injector(dim, n_heads, n_points, 3, ratio, init_gamma)
        self.extractors = nn.ModuleList(
            Extractor(dim, n_heads, n_points, ratio, cffn_ratio, drop_path) for _ in range(1 + extra_extractors)
        )

    def forward(
        self,
        x: torch.Tensor,
        c: torch.Tensor,
        blocks: Sequence[nn.Module],
        x_shape: tuple[int, int],
        c_shapes: Shapes,
        x_refs: torch.Tensor,
        c_refs: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run one interaction.

        Args:
            x: ``(B, hw, D)`` ViT tokens.
            c: ``(B, Nc, D)`` spatial-prior tokens (strides 8, 16, 32).
            blocks: the ViT blocks of this group.
            x_shape: ``(h, w)`` of the ViT token grid.
            c_shapes: the three ``(H_l, W_l)`` of ``c``.
            x_refs: ``(1, hw, 1, 2)`` reference points of the ViT tokens.
            c_refs: ``(1, Nc, 1, 2)`` reference points of the spatial tokens.

        Returns:
            The updated ``(x, c)``.
        """
        x = self.injector(x, x_refs, c, c_shapes)
        for blk in blocks:
            x = blk(x)  # (B, hw, D)
        for ext in self.extractors:
            c = ext(c, c_refs, x, x_shape, c_shapes)
        return x, c
