"""Synthetic satellite-like landscapes with masks: fields, trees and water on textured ground.

Used by tests and by ``scripts/text_demo.py``; everything is generated from a seed, nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import ConfigDict

from agriseg.config import StrictModel

SYNTH_CLASSES: tuple[str, ...] = ("others", "field", "tree", "water")


class LandscapeConfig(StrictModel):
    """Parameters of the synthetic landscapes.

    Attributes:
        size: image side in pixels.
        max_fields: most rectangular fields per image (at least 1).
        max_trees: most tree clumps per image.
        water_prob: probability of one pond.
        noise: std of the per-pixel colour noise (0-255 scale).
    """

    size: int = 64
    max_fields: int = 3
    max_trees: int = 3
    water_prob: float = 0.5
    noise: float = 12.0

    model_config = ConfigDict(StrictModel.model_config, frozen=True)


def make_landscape(
    rng: np.random.Generator, cfg: LandscapeConfig | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one landscape.

    Args:
        rng: random generator.
        cfg: sizes and counts.

    Returns:
        ``(image, semantic, instances)``: (S, S, 3) uint8 RGB, (S, S) int64 class ids indexing
        :data:`SYNTH_CLASSES`, (S, S) int64 instance ids (0 = none, unique per object).
    """
    cfg = cfg or LandscapeConfig()
    s = cfg.size
    yy, xx = np.mgrid[0:s, 0:s]  # (S, S)
    ground = np.array([150, 120, 90], dtype=np.float64) + rng.normal(0, 10, 3)
    img = np.broadcast_to(ground, (s, s, 3)).copy()  # (S, S, 3)
    sem = np.zeros((s, s), dtype=np.int64)
    inst = np.zeros((s, s), dtype=np.int64)
    nid = 1
    for _ in range(int(rng.integers(1, cfg.max_fields + 1))):
        h, w = (int(v) for v in rng.integers(s // 5, s // 2 + 1, 2))
        y0, x0 = int(rng.integers(0, s - h + 1)), int(rng.integers(0, s - w + 1))
        region = (yy >= y0) & (yy < y0 + h) & (xx >= x0) & (xx < x0 + w)
        colour = np.array([90, 150, 60], dtype=np.float64) + rng.normal(0, 15, 3)
        period = int(rng.integers(3, 6))
        stripes = ((yy if rng.random() < 0.5 else xx) % period < period // 2)[..., None] * 18.0  # (S, S, 1)
        img[region] = (colour + stripes)[region]
        sem[region], inst[region] = 1, nid
        nid += 1
    if rng.random() < cfg.water_prob:
        cy, cx = (float(v) for v in rng.uniform(0.2 * s, 0.8 * s, 2))
        ry, rx = (float(v) for v in rng.uniform(0.08 * s, 0.2 * s, 2))
        region = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        img[region] = np.array([40, 70, 140], dtype=np.float64) + rng.normal(0, 8, 3)
        sem[region], inst[region] = 3, nid
        nid += 1
    for _ in range(int(rng.integers(0, cfg.max_trees + 1))):
        cy, cx = (float(v) for v in rng.uniform(0, s, 2))
        r = float(rng.uniform(0.05 * s, 0.12 * s))
        region = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        img[region] = np.array([30, 80, 35], dtype=np.float64) + rng.normal(0, 6, 3)
        sem[region], inst[region] = 2, nid
        nid += 1
    img += rng.normal(0, cfg.noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), sem, inst


def make_landscapes(
    n: int, seed: int, cfg: LandscapeConfig | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` landscapes from one seed: (N, S, S, 3) uint8, (N, S, S) int64, (N, S, S) int64."""
    cfg = cfg or LandscapeConfig()
    rng = np.random.default_rng(seed)
    items = [make_landscape(rng, cfg) for _ in range(n)]
    return (
        np.stack([i[0] for i in items]),
        np.stack([i[1] for i in items]),
        np.stack([i[2] for i in items]),
    )


def write_landscapes(outdir: str | Path, count: int, size: int = 64, seed: int = 0) -> Path:
    """Write ``count`` landscapes as a folder (atomically): ``images/<id>.png`` (RGB), ``masks/<id>.png``
    (class ids indexing :data:`SYNTH_CLASSES`, named in ``classes.txt``) and ``instances/<id>.png`` (16-bit
    instance ids)."""
    from PIL import Image

    from agriseg.data.files import atomic_write

    imgs, sems, insts = make_landscapes(count, seed, LandscapeConfig(size=size))
    with atomic_write(Path(outdir)) as tmp:
        for sub in ("images", "masks", "instances"):
            (tmp / sub).mkdir(parents=True)
        for i, (img, sem, inst) in enumerate(zip(imgs, sems, insts, strict=True)):
            Image.fromarray(img).save(tmp / "images" / f"{i:04d}.png")
            Image.fromarray(sem.astype(np.uint8)).save(tmp / "masks" / f"{i:04d}.png")
            Image.fromarray(inst.astype(np.uint16)).save(tmp / "instances" / f"{i:04d}.png")
        (tmp / "classes.txt").write_text(",".join(SYNTH_CLASSES) + "\n")
    return Path(outdir)
