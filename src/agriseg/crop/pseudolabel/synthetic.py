"""Synthetic RGB-D field scenes with known plant masks, for testing depth pseudo-labels.

A pinhole camera looks down (optionally tilted) at a rough ground plane; plants are unions of leaf-shaped
ellipses raised above the ground (dome-shaped canopies). The depth map (metres along the optical axis) has
sensor noise growing with distance squared, blurred edges, and optional dropout holes (depth 0, as RGB-D
cameras report missing readings). The RGB photo has textured soil, shaded green leaves and a soft shadow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agriseg.data.files import atomic_write
from agriseg.data.io import cv_write


@dataclass
class SyntheticScene:
    """One scene: ``rgb`` uint8 ``(H, W, 3)``, ``depth`` float32 metres ``(H, W)``, ``mask`` bool."""

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Low-frequency noise in about [-1, 1] ``(H, W)``."""
    h, w = shape
    small = rng.standard_normal((max(2, int(h / scale)), max(2, int(w / scale)))).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return big / (np.abs(big).max() + 1e-6)


def _plants(rng: np.random.Generator, shape: tuple[int, int], n_plants: int, coverage: float) -> np.ndarray:
    """Dome-shaped canopy height in [0, 1] ``(H, W)`` (0 = ground), unions of leaf ellipses."""
    h, w = shape
    height = np.zeros(shape, np.float32)
    base_r = 0.5 * min(h, w) * np.sqrt(coverage / max(n_plants, 1))
    for _ in range(n_plants):
        cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
        plant = np.zeros(shape, np.uint8)
        for _ in range(int(rng.integers(4, 9))):
            ang = rng.uniform(0, 360)
            length = base_r * rng.uniform(0.5, 1.0)
            off = length * 0.6
            ex = int(cx + off * np.cos(np.radians(ang)))
            ey = int(cy + off * np.sin(np.radians(ang)))
            axes = (max(2, int(length * 0.6)), max(1, int(length * rng.uniform(0.2, 0.35))))
            cv2.ellipse(plant, (ex, ey), axes, ang, 0, 360, 1, -1)
        dist = cv2.distanceTransform(plant, cv2.DIST_L2, 5)
        dome = 0.55 + 0.45 * np.clip(dist / (dist.max() + 1e-6), 0, 1)  # leaves start well above ground
        height = np.maximum(height, dome * plant * rng.uniform(0.6, 1.0))
    return height


def make_scene(
    seed: int = 0,
    size: tuple[int, int] = (240, 320),
    n_plants: int = 5,
    coverage: float = 0.25,
    plant_height_m: float = 0.25,
    camera_height_m: float = 1.5,
    tilt: float = 0.3,
    noise_m: float = 0.004,
    edge_blur_px: float = 1.0,
    holes: float = 0.0,
) -> SyntheticScene:
    """Render one synthetic RGB-D scene.

    Args:
        seed: random seed (scenes are reproducible).
        size: ``(H, W)``.
        n_plants: plants in the scene.
        coverage: rough share of the image covered by plants.
        plant_height_m: canopy height above the ground (metres).
        camera_height_m: camera distance to the ground at the image centre.
        tilt: ground-plane tilt: relative change of inverse depth from top to bottom of the image.
        noise_m: depth noise (metres, at 1 m; grows with depth squared).
        edge_blur_px: Gaussian blur of the depth map (sensor edge smearing).
        holes: share of pixels with missing depth (0), in small clusters.

    Returns:
        The scene; ``mask`` is the true plant mask.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    yy = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    xx = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    # inverse depth of a plane is affine in pixel coordinates; tilt it top-to-bottom and a little sideways
    inv_ground = (1.0 / camera_height_m) * (1 + tilt * yy + 0.2 * tilt * rng.uniform(-1, 1) * xx)  # (H, W)
    ground = 1.0 / inv_ground + 0.01 * _smooth_noise(rng, size, 40)  # rough soil, +-1 cm
    canopy = _plants(rng, size, n_plants, coverage)  # (H, W) in [0, 1]
    mask = canopy > 0
    depth: np.ndarray = ground - plant_height_m * canopy
    if edge_blur_px > 0:
        depth = cv2.GaussianBlur(depth, (0, 0), edge_blur_px)
    depth = depth + noise_m * depth**2 * rng.standard_normal(size).astype(np.float32)
    if holes > 0:
        drop = cv2.dilate((rng.random(size) < holes / 9).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        depth[drop] = 0.0
    rgb = _render_rgb(rng, canopy, mask)
    return SyntheticScene(rgb=rgb, depth=depth.astype(np.float32), mask=mask)


def _render_rgb(rng: np.random.Generator, canopy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Field-like photo ``(H, W, 3)`` uint8: clumpy grey-brown soil with dark cracks, pebbles and straw,
    soft plant shadows, and shaded leaves whose green ranges from saturated to pale blue-green."""
    size = mask.shape
    h, w = size
    base = np.array([rng.uniform(105, 130), rng.uniform(95, 110), rng.uniform(75, 100)], np.float32)
    tex = 1 + 0.18 * _smooth_noise(rng, size, 6) + 0.10 * _smooth_noise(rng, size, 2)  # clumps
    cracks = _smooth_noise(rng, size, 3) < -0.55
    tex[cracks] *= 0.3  # dark crevices: low intensity, where chromatic indices get noisy
    soil = base * tex[..., None]
    pebbles = _smooth_noise(rng, size, 2) > 0.8
    soil[pebbles] = np.array([190, 188, 180], np.float32)
    straw = np.zeros(size, np.uint8)
    for _ in range(int(rng.integers(3, 12))):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (p0[0] + int(rng.integers(-60, 60)), p0[1] + int(rng.integers(-60, 60)))
        cv2.line(straw, p0, p1, 1, 1)
    soil[straw > 0] = np.array([165, 150, 100], np.float32)
    shadow = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 6)
    soil *= (1 - 0.45 * np.roll(shadow, (5, 5), (0, 1)))[..., None]
    t = rng.uniform(0, 1)  # leaf colour: saturated green (t=0) .. pale blue-green (t=1)
    leaf_col = (1 - t) * np.array([60, 140, 45], np.float32) + t * np.array([105, 165, 125], np.float32)
    leaf = leaf_col * (0.55 + 0.55 * canopy)[..., None]
    spec = (_smooth_noise(rng, size, 3) > 0.75) & mask
    leaf[spec] = leaf[spec] * 0.5 + 0.5 * np.array([220, 230, 220], np.float32)
    rgb = np.where(mask[..., None], leaf, soil)
    rgb += rng.normal(0, 7, (*size, 3)).astype(np.float32)  # sensor noise
    return rgb.clip(0, 255).astype(np.uint8)


def write_scenes(outdir: str | Path, n: int = 20, seed: int = 0, depth_format: str = "png", **kwargs: object) -> Path:
    """Write ``n`` scenes as ``images/NNNN.png``, ``depth/NNNN.<png|tif|npy>``, ``masks/NNNN.png``.

    Depth PNGs are 16-bit millimetres (0 = missing), TIFFs float32 metres, ``.npy`` float32 metres.
    Masks are 0/1 index PNGs. Scene ``i`` uses seed ``seed + i`` and varies plant count, coverage and tilt.

    Returns:
        ``outdir``.
    """
    from PIL import Image

    out = Path(outdir)
    for sub in ("images", "depth", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        r = np.random.default_rng(seed + 10_000 + i)
        params: dict[str, Any] = {
            "n_plants": int(r.integers(2, 9)),
            "coverage": float(r.uniform(0.1, 0.45)),
            "tilt": float(r.uniform(0.0, 0.6)),
            **kwargs,
        }
        sc = make_scene(seed=seed + i, **params)
        stem = f"{i:04d}"
        _save(Image.fromarray(sc.rgb), out / "images" / f"{stem}.png")
        _save(Image.fromarray(sc.mask.astype(np.uint8) * 255), out / "masks" / f"{stem}.png")
        dpath = out / "depth" / f"{stem}.{depth_format}"
        if depth_format not in ("png", "tif", "tiff", "npy"):
            raise ValueError(f"depth_format must be png, tif or npy, got {depth_format!r}")
        with atomic_write(dpath) as tmp:
            if depth_format == "png":  # 16-bit millimetres
                cv_write(tmp, np.clip(np.round(sc.depth * 1000), 0, 65535).astype(np.uint16))
            elif depth_format == "npy":
                np.save(tmp, sc.depth)
            else:
                cv_write(tmp, sc.depth)
    return out


def _save(im: Any, path: Path) -> None:  # a PIL image
    with atomic_write(path) as tmp:
        im.save(tmp)
