"""Synthetic Sentinel-2-like scenes and tiny deterministic models for scene-inference tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

CRS = "EPSG:32633"


def write_scene(
    path: Path,
    h: int = 200,
    w: int = 260,
    bands: int = 8,
    dtype: str = "uint16",
    crs: str | None = CRS,
    seed: int = 0,
    tags: dict[str, str] | None = None,
    nodata: float | None = None,
    tiled: bool = True,
    origin: tuple[float, float] = (359130.0, 5352340.0),
) -> Path:
    """A two-window scene of rectangular 'fields' with different reflectance per field and date."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    ys = np.sort(rng.choice(np.arange(10, h - 10), size=max(1, h // 40), replace=False))
    xs = np.sort(rng.choice(np.arange(10, w - 10), size=max(1, w // 40), replace=False))
    cell = np.searchsorted(ys, np.arange(h))[:, None] * 100 + np.searchsorted(xs, np.arange(w))[None, :]
    base = rng.uniform(300, 4000, size=(bands, int(cell.max()) + 1))
    img = base[:, cell] + rng.normal(0, 80, size=(bands, h, w))
    img = np.clip(img, 1, 12000).astype(dtype)
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": bands,
        "dtype": dtype,
        "transform": from_origin(*origin, 10.0, 10.0),
    }
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    if tiled:
        profile.update(tiled=True, blockxsize=64, blockysize=64)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(img)
        if tags:
            dst.update_tags(**tags)
    return path


class TinyNet(nn.Module):
    """A deterministic 3-class conv net (no batch norm, so batch composition never matters)."""

    def __init__(self, in_ch: int = 8, k: int = 3, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.c1 = nn.Conv2d(in_ch, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, k, 3, padding=1)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g) * 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) -> (B, K, H, W)
        return self.c2(torch.relu(self.c1(x)))


def write_tiny_model(
    path: Path, field_bias: bool = False, half: bool = True, encoder: str = "tu-mobilenetv3_small_050"
) -> Path:
    """A tiny 8-band, 3-class (background, field, boundary) agriseg model file, seeded.

    ``field_bias`` tilts the head towards "field", so scenes give polygons to merge; ``encoder`` another
    encoder (``efficientnet-b3``: the released FTW models' size, random weights).
    """
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    torch.manual_seed(0)
    cfg = ModelConfig(
        arch="unet",
        encoder=encoder,
        encoder_weights=None,
        in_channels=8,
        num_classes=3,
        mean=[0.0] * 8,
        std=[1.0] * 8,
        class_names=["background", "field", "boundary"],
    )
    model = build_model(cfg)
    if field_bias:
        with torch.no_grad():
            model.head.bias[:] = torch.tensor([0.0, 1.0, -0.5])
    return Path(save_model(model, cfg, path, half=half))
