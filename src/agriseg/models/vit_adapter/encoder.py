"""The ViT-Adapter encoder (Chen et al., ICLR 2023): a plain ViT plus a multi-scale spatial branch."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from agriseg.models.upsamplers import UpsamplerName, build_upsampler
from agriseg.models.vit_adapter.blocks import InteractionBlock
from agriseg.models.vit_adapter.deform_attn import reference_points
from agriseg.models.vit_adapter.sizes import SIZES, AdapterSize, AdapterSizeName, interaction_groups
from agriseg.models.vit_adapter.spm import SpatialPriorModule
from agriseg.models.vit_adapter.vit import create_vit


class ViTAdapterEncoder(nn.Module):
    """ViT-Adapter returning agriseg's five-level pyramid (strides 2, 4, 8, 16, 32).

    The spatial prior module gives stride-4..32 features; injectors push them into the ViT tokens (stride
    16) before each group of ViT blocks, extractors pull the ViT tokens back after it. The stride-8/16/32
    maps plus the ViT features of each group (resized to the level) are batch-normalised into the outputs;
    stride 4 is the transposed-conv upsampled stride-8 map plus the stem feature; stride 2 is the stem's own
    stride-2 map (``conv_inplane`` channels), which UperNet ignores.

    Inputs must have sides that are multiples of 32 (``SegmentationModel`` pads them). ViTs with another
    patch size (e.g. 14 for DINOv2) see the image resized so that their token grid stays at stride 16.

    Args:
        size: ``tiny``, ``small``, ``base`` or ``large`` (adapter hyperparameters and default ViT).
        in_channels: image channels.
        weights: ViT weights: ``None`` (random), ``"imagenet"`` (timm's pretrained weights) or a file path.
        vit_name: a timm ViT to use instead of the size's default (its width and depth are taken from it).
        vit_upsampler: x2 upsampler for bringing the ViT features to strides 8 and 4 (``bilinear`` in
            ViT-Adapter; DepthCropSeg++ describes replacing these steps with FADE too).
    """

    def __init__(
        self,
        size: AdapterSizeName = "tiny",
        in_channels: int = 3,
        weights: str | None = None,
        vit_name: str | None = None,
        vit_upsampler: UpsamplerName = "bilinear",
    ) -> None:
        super().__init__()
        if size not in SIZES:
            raise ValueError(f"unknown ViT-Adapter size {size!r}; valid sizes: {', '.join(SIZES)}")
        spec: AdapterSize = SIZES[size]
        self.size, self.spec = size, spec
        self.vit = create_vit(vit_name or spec.vit, in_channels, weights, spec.drop_path)
        dim: int = self.vit.embed_dim
        depth = len(self.vit.blocks)
        self.patch_size: int = cast("tuple[int, int]", self.vit.patch_embed.patch_size)[0]
        self.no_embed_class: bool = bool(getattr(self.vit, "no_embed_class", False))
        self.num_prefix_tokens: int = int(getattr(self.vit, "num_prefix_tokens", 1))
        self.groups = interaction_groups(depth, spec.n_interactions)
        self.level_embed = nn.Parameter(torch.zeros(3, dim))  # strides 8, 16, 32
        nn.init.normal_(self.level_embed)
        self.spm = SpatialPriorModule(in_channels, spec.conv_inplane, dim)
        self.interactions = nn.ModuleList(
            InteractionBlock(dim, spec, last=i == spec.n_interactions - 1) for i in range(spec.n_interactions)
        )
        self.up = nn.ConvTranspose2d(dim, dim, 2, 2)
        # x2 steps bringing ViT features 16 -> 8 and 16 -> 8 -> 4; None = one bilinear resize (ViT-Adapter)
        self.vit_up = (
            None
            if vit_upsampler == "bilinear"
            else nn.ModuleList(build_upsampler(vit_upsampler, dim) for _ in range(3))
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(dim) for _ in range(4))
        self.out_channels: list[int] = [spec.conv_inplane, dim, dim, dim, dim]
        self._init_adapter()

    def _init_adapter(self) -> None:
        """Initialise the adapter: truncated-normal linears, fan-out normal convs.

        The ViT, the deformable attention and the upsamplers keep their own initialisation (or weights).
        """
        for name, m in self.named_modules():
            if name.startswith("vit") or "attn" in name.split("."):
                continue  # deformable attention has its own init
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _tokens(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Patch-embed ``x`` to an ``(h, w)`` grid, add the resampled position embedding: ``(B, hw, D)``."""
        from timm.layers import resample_abs_pos_embed

        p = self.patch_size
        if (x.shape[-2], x.shape[-1]) != (h * p, w * p):  # patch size != 16
            x = F.interpolate(x, size=(h * p, w * p), mode="bilinear", align_corners=False)
        t = self.vit.patch_embed(x)  # (B, h, w, D) with dynamic_img_size
        t = t.reshape(t.shape[0], h * w, -1)  # (B, hw, D)
        prefix = 0 if self.no_embed_class else self.num_prefix_tokens
        pos = resample_abs_pos_embed(
            self.vit.pos_embed,
            new_size=(h, w),
            old_size=self.vit.patch_embed.grid_size,
            num_prefix_tokens=prefix,
        )  # (1, prefix + hw, D)
        t = self.vit.pos_drop(t + pos[:, prefix:])
        return self.vit.norm_pre(t)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encode a normalised image.

        Args:
            x: ``(B, Cin, H, W)`` with ``H`` and ``W`` multiples of 32.

        Returns:
            ``[(B, conv_inplane, H/2, W/2), (B, D, H/4, W/4), (B, D, H/8, W/8), (B, D, H/16, W/16),
            (B, D, H/32, W/32)]``.
        """
        b, _, hh, ww = x.shape
        if hh % 32 or ww % 32:
            raise ValueError(f"ViT-Adapter input sides must be multiples of 32, got {hh}x{ww}")
        h, w = hh // 16, ww // 16
        c_shapes = [(2 * h, 2 * w), (h, w), (h // 2, w // 2)]  # strides 8, 16, 32
        s2, c1, c2, c3, c4 = self.spm(x)
        c = torch.cat(
            [lvl.flatten(2).transpose(1, 2) + self.level_embed[i] for i, lvl in enumerate((c2, c3, c4))], 1
        )  # (B, 4hw + hw + hw/4, D)
        tokens = self._tokens(x, h, w)  # (B, hw, D)
        x_refs = reference_points([(h, w)], x.device).to(x.dtype)  # ViT tokens query the three c levels
        c_refs = reference_points(c_shapes, x.device).to(x.dtype)  # c tokens query the ViT tokens
        vit_outs = []
        for block, idx in zip(self.interactions, self.groups, strict=True):
            tokens, c = block(tokens, c, [self.vit.blocks[i] for i in idx], (h, w), c_shapes, x_refs, c_refs)
            vit_outs.append(tokens.transpose(1, 2).reshape(b, -1, h, w))  # (B, D, h, w)
        d = c.shape[-1]
        n2, n3 = 4 * h * w, h * w
        f2 = c[:, :n2].transpose(1, 2).reshape(b, d, 2 * h, 2 * w)  # stride 8
        f3 = c[:, n2 : n2 + n3].transpose(1, 2).reshape(b, d, h, w)  # stride 16
        f4 = c[:, n2 + n3 :].transpose(1, 2).reshape(b, d, h // 2, w // 2)  # stride 32
        f1 = self.up(f2) + c1  # stride 4
        v1, v2, v3, v4 = vit_outs
        if self.vit_up is None:
            v1 = F.interpolate(v1, scale_factor=4, mode="bilinear", align_corners=False)  # (B, D, H/4, W/4)
            v2 = F.interpolate(v2, scale_factor=2, mode="bilinear", align_corners=False)  # (B, D, H/8, W/8)
        else:  # guided x2 steps: the adapter's own stride-8 and stride-4 maps are the guides
            v1 = self.vit_up[2](self.vit_up[1](v1, f2), f1)  # (B, D, H/4, W/4)
            v2 = self.vit_up[0](v2, f2)  # (B, D, H/8, W/8)
        v4 = F.interpolate(v4, scale_factor=0.5, mode="bilinear", align_corners=False)  # (B, D, H/32, W/32)
        feats = [f1 + v1, f2 + v2, f3 + v3, f4 + v4]
        return [s2, *(norm(f) for norm, f in zip(self.norms, feats, strict=True))]
