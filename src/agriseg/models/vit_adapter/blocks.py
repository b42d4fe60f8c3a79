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
from agriseg.models.vit_adapter.sizes import AdapterSize


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
    the injector and the extractor share (their parameters keep these names).

    Args:
        dim: token channels.
        spec: the adapter size (heads, sampling points and value ratio of the attention, ...).
        n_levels: levels of the value sequence.
    """

    def __init__(self, dim: int, spec: AdapterSize, n_levels: int) -> None:
        super().__init__()
        self.query_norm = _norm(dim)
        self.feat_norm = _norm(dim)
        self.attn = MSDeformAttn(dim, n_levels, spec.deform_heads, spec.n_points, spec.deform_ratio)

    def attend(self, q: torch.Tensor, refs: torch.Tensor, v: torch.Tensor, v_shapes: Shapes) -> torch.Tensor:
        # q: (B, Nq, D) queries; v: (B, Nv, D) values on the levels of v_shapes -> (B, Nq, D)
        return self.attn(self.query_norm(q), refs, self.feat_norm(v), v_shapes)


class Injector(_CrossAttention):
    """Spatial features -> ViT tokens: ``x + gamma * DeformAttn(norm(x), norm(c))``, the per-channel gamma
    starting at ``spec.init_gamma``; ``c`` has three levels (strides 8, 16, 32)."""

    def __init__(self, dim: int, spec: AdapterSize) -> None:
        super().__init__(dim, spec, n_levels=3)
        self.gamma = nn.Parameter(torch.full((dim,), float(spec.init_gamma)))

    def forward(self, x: torch.Tensor, refs: torch.Tensor, c: torch.Tensor, c_shapes: Shapes) -> torch.Tensor:
        # x: (B, hw, D) queries; c: (B, Nc, D) values
        return x + self.gamma * self.attend(x, refs, c, c_shapes)


class Extractor(_CrossAttention):
    """ViT tokens -> spatial features: ``c + DeformAttn(norm(c), norm(x))``, then ``c + ConvFFN(norm(c))``
    (hidden width ``spec.cffn_ratio * dim``, none at 0; stochastic depth ``spec.drop_path`` on that branch)."""

    def __init__(self, dim: int, spec: AdapterSize) -> None:
        super().__init__(dim, spec, n_levels=1)
        cffn = spec.cffn_ratio
        self.ffn = ConvFFN(dim, int(dim * cffn)) if cffn > 0 else None
        self.ffn_norm = _norm(dim) if cffn > 0 else None
        self.drop_path = DropPath(spec.drop_path) if spec.drop_path > 0 else nn.Identity()

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
        spec: the adapter size whose hyperparameters every attention and ConvFFN takes.
        last: the last block, which runs ``spec.extra_extractors`` more extractors (2 in ViT-Adapter).
    """

    def __init__(self, dim: int, spec: AdapterSize, last: bool = False) -> None:
        super().__init__()
        self.injector = Injector(dim, spec)
        extra = spec.extra_extractors if last else 0
        self.extractors = nn.ModuleList(Extractor(dim, spec) for _ in range(1 + extra))

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
