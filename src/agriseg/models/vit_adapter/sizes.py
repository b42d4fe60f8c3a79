"""The published ViT-Adapter configurations (Chen et al., ICLR 2023; UperNet ADE20K configs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AdapterSizeName = Literal["tiny", "small", "base", "large"]


@dataclass(frozen=True)
class AdapterSize:
    """Hyperparameters of one ViT-Adapter size.

    Attributes:
        vit: default timm model name of the plain ViT (its width and depth come from timm).
        deform_heads: heads of every deformable attention.
        deform_ratio: value channels of the deformable attention as a fraction of the ViT width.
        drop_path: stochastic depth rate of the ViT blocks and the extractors' ConvFFN.
        n_points: sampling points per head and level.
        cffn_ratio: ConvFFN hidden width as a fraction of the ViT width.
        conv_inplane: width of the spatial-prior stem.
        init_gamma: initial injector gamma (0: the pretrained ViT is untouched at the start of training).
        extra_extractors: extractors added to the last interaction block.
        n_interactions: interaction blocks; the ViT blocks are split into this many equal groups.
    """

    vit: str
    deform_heads: int
    deform_ratio: float
    drop_path: float
    n_points: int = 4
    cffn_ratio: float = 0.25
    conv_inplane: int = 64
    init_gamma: float = 0.0
    extra_extractors: int = 2
    n_interactions: int = 4


# DeiT-T/S/B (ImageNet-1k) and AugReg ViT-L (ImageNet-21k, fine-tuned at 384) as in the published configs
SIZES: dict[str, AdapterSize] = {
    "tiny": AdapterSize("deit_tiny_patch16_224", deform_heads=6, deform_ratio=1.0, drop_path=0.1),
    "small": AdapterSize("deit_small_patch16_224", deform_heads=6, deform_ratio=1.0, drop_path=0.2),
    "base": AdapterSize("deit_base_patch16_224", deform_heads=12, deform_ratio=0.5, drop_path=0.3),
    "large": AdapterSize("vit_large_patch16_384", deform_heads=16, deform_ratio=0.5, drop_path=0.4),
}


def interaction_groups(depth: int, n: int = 4) -> list[list[int]]:
    """Split ``depth`` ViT blocks into ``n`` consecutive groups (12 -> [0-2], [3-5], [6-8], [9-11]).

    Raises:
        ValueError: if ``depth`` is not divisible by ``n``.
    """
    if depth % n:
        raise ValueError(f"ViT depth {depth} cannot be split into {n} equal interaction groups")
    k = depth // n
    return [list(range(i * k, (i + 1) * k)) for i in range(n)]
