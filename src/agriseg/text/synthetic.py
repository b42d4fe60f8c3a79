"""Synthetic smallholder landscapes with masks: fields, trees and water on textured ground.

Each image is drawn from a seed (nothing is downloaded) to resemble a satellite view of a smallholder
landscape: ``others`` is bare soil and scrub with multi-scale mottling and an occasional track; ``field``
parcels are irregular polygons with crop rows at any angle (green, ripening yellow or ploughed brown, the
last close to the soil's colour); ``tree`` clumps are unions of speckled crowns with shadowed edges; ``water``
is one irregular pond with a ragged shore (clear blue or turbid green-brown, close to the trees' colour).
Used by tests, ``agriseg text make-synthetic`` and ``scripts/text_demo.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agriseg.text.config import SYNTH_CLASSES, LandscapeConfig


def _smooth_noise(rng: np.random.Generator, s: int, sigma: float) -> np.ndarray:
    """(S, S) Gaussian-filtered white noise scaled to unit std (mottling, ragged shores)."""
    from scipy import ndimage as ndi

    n = ndi.gaussian_filter(rng.normal(size=(s, s)), sigma, mode="wrap")
    return n / (n.std() + 1e-9)


def _blob(rng: np.random.Generator, s: int, radius: float, roughness: float, vertices: int) -> np.ndarray:
    """(S, S) bool irregular polygon: ``vertices`` corners at jittered angles and radii around a random centre."""
    from skimage.draw import polygon

    cy, cx = rng.uniform(0.1 * s, 0.9 * s, 2)
    ang = np.sort(
        rng.uniform(0, 2 * np.pi)
        + np.linspace(0, 2 * np.pi, vertices, endpoint=False)
        + rng.uniform(-0.3, 0.3, vertices)
    )
    r = radius * s * rng.uniform(1 - roughness, 1 + roughness, vertices) * rng.uniform(0.7, 1.3)
    rr, cc = polygon(cy + r * np.sin(ang), cx + r * np.cos(ang) * rng.uniform(0.7, 1.4), (s, s))
    out = np.zeros((s, s), dtype=bool)
    out[rr, cc] = True
    return out


def make_landscape(
    rng: np.random.Generator, cfg: LandscapeConfig | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one landscape.

    Args:
        rng: random generator.
        cfg: sizes, counts and probabilities.

    Returns:
        ``(image, semantic, instances)``: (S, S, 3) uint8 RGB, (S, S) int64 class ids indexing
        :data:`SYNTH_CLASSES`, (S, S) int64 instance ids (0 = none, unique per object; an object's visible
        part, possibly split by objects drawn over it).
    """
    cfg = cfg or LandscapeConfig()
    s = cfg.size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)  # (S, S)
    # ground: soil colour, large-scale mottling, fine grain
    soil = np.array([150.0, 122.0, 92.0]) + rng.normal(0, 14, 3)
    mottle = _smooth_noise(rng, s, s / 10)[..., None] * np.array([14.0, 12.0, 9.0])  # (S, S, 3)
    scrub = (_smooth_noise(rng, s, 1.0) > 1.2)[..., None] * np.array([-45.0, -25.0, -35.0])  # dark bushes
    img = soil + mottle + scrub  # (S, S, 3)
    sem = np.zeros((s, s), dtype=np.int64)
    inst = np.zeros((s, s), dtype=np.int64)
    nid = 1

    def paint(region: np.ndarray, texture: np.ndarray, cls: int) -> None:
        nonlocal nid
        img[region] = texture[region]
        sem[region], inst[region] = cls, nid
        nid += 1

    if rng.random() < cfg.track_prob:  # a straight track: lighter soil, class others
        a = rng.uniform(0, np.pi)
        d = (yy - rng.uniform(0, s)) * np.cos(a) - (xx - rng.uniform(0, s)) * np.sin(a)
        img[np.abs(d) < max(1.0, s / 40)] = soil + 35.0
    for _ in range(int(rng.integers(1, cfg.max_fields + 1))):
        region = _blob(rng, s, float(rng.uniform(*cfg.field_radius)), 0.25, int(rng.integers(4, 7)))
        kind = rng.choice(3, p=[0.5, 0.25, 0.25])  # green crop, ripening, ploughed
        base = [np.array([85.0, 140.0, 60.0]), np.array([185.0, 170.0, 95.0]), soil - 20.0][kind]
        base = base + rng.normal(0, 10, 3)
        a, period = rng.uniform(0, np.pi), rng.uniform(2.5, 5.0)
        rows = np.sin(2 * np.pi * (yy * np.cos(a) + xx * np.sin(a)) / period)[..., None]  # (S, S, 1)
        tex = base + rows * np.array([16.0, 20.0, 12.0]) + _smooth_noise(rng, s, 2.0)[..., None] * 5.0
        paint(region, tex, 1)
    if rng.random() < cfg.water_prob:
        rad = float(rng.uniform(*cfg.water_radius)) * s
        cy, cx = rng.uniform(0.15 * s, 0.85 * s, 2)
        shore = np.hypot((yy - cy) / rng.uniform(0.7, 1.3), (xx - cx) / rng.uniform(0.7, 1.3))
        region = shore + 0.35 * rad * _smooth_noise(rng, s, s / 12) < rad
        turbid = rng.random() < 0.35
        base = (np.array([70.0, 85.0, 65.0]) if turbid else np.array([45.0, 75.0, 125.0])) + rng.normal(0, 8, 3)
        tex = base + _smooth_noise(rng, s, s / 8)[..., None] * 6.0
        paint(region, tex, 3)
    for _ in range(int(rng.integers(0, cfg.max_tree_clumps + 1))):
        rad = float(rng.uniform(*cfg.clump_radius)) * s
        cy, cx = rng.uniform(0, s, 2)
        region = np.zeros((s, s), dtype=bool)
        shade = np.zeros((s, s))
        for _ in range(int(rng.integers(3, 8))):  # crowns
            oy, ox = rng.normal(0, rad * 0.6, 2)
            cr = rad * rng.uniform(0.35, 0.7)
            d2 = ((yy - cy - oy) ** 2 + (xx - cx - ox) ** 2) / (cr * cr)
            crown = d2 <= 1.0
            shade = np.where(crown, np.maximum(shade, 1.0 - d2), shade)
            region |= crown
        base = np.array([38.0, 78.0, 38.0]) + rng.normal(0, 6, 3)
        speckle = rng.normal(0, 1, (s, s))[..., None] * np.array([10.0, 16.0, 10.0])
        tex = base + shade[..., None] * np.array([20.0, 30.0, 15.0]) + speckle
        paint(region, tex, 2)
    img += rng.normal(0, cfg.noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), sem, inst


# peak bytes per pixel while one landscape is made (tracemalloc: 179-201 at sides 256-512)
LANDSCAPE_BYTES_PER_PX = 250


def make_landscapes(n: int, seed: int, cfg: LandscapeConfig | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` landscapes from one seed: (N, S, S, 3) uint8, (N, S, S) int64, (N, S, S) int64."""
    cfg = cfg or LandscapeConfig()
    rng = np.random.default_rng(seed)
    items = [make_landscape(rng, cfg) for _ in range(n)]
    return (
        np.stack([i[0] for i in items]),
        np.stack([i[1] for i in items]),
        np.stack([i[2] for i in items]),
    )


MADE_BY = "text make-synthetic"


def landscape_settings(count: int, size: int | None, seed: int) -> dict[str, int]:
    """What a set of :func:`write_landscapes` is made with (``size`` None: the default side)."""
    return {"count": count, "size": LandscapeConfig().size if size is None else size, "seed": seed}


def write_landscapes(
    outdir: str | Path, count: int, size: int | None = None, seed: int = 0, progress: bool = False
) -> Path:
    """Write ``count`` landscapes as a folder (atomically): ``images/<id>.png`` (RGB), ``masks/<id>.png``
    (class ids indexing :data:`SYNTH_CLASSES`, named in ``classes.txt``) and ``instances/<id>.png`` (16-bit
    instance ids); ``size``: image side (default: :class:`LandscapeConfig`'s).

    One landscape at a time (the same images as :func:`make_landscapes` with the same seed), so memory does not
    grow with ``count``; a size whose one landscape cannot fit is refused first (:func:`check_memory`). The
    folder records what made it (:func:`agriseg.batch.made_record`: a re-run with the same settings is done).
    """
    from PIL import Image

    from agriseg.batch import made_record, progress_bar
    from agriseg.data.files import atomic_write
    from agriseg.data.memory import check_memory

    cfg = LandscapeConfig() if size is None else LandscapeConfig(size=size)
    check_memory(LANDSCAPE_BYTES_PER_PX * cfg.size**2, f"--size {cfg.size}")
    rng = np.random.default_rng(seed)
    with atomic_write(Path(outdir)) as tmp:
        for sub in ("images", "masks", "instances"):
            (tmp / sub).mkdir(parents=True)
        for i in progress_bar(range(count), desc="landscapes", unit="image", disable=not progress):
            img, sem, inst = make_landscape(rng, cfg)
            Image.fromarray(img).save(tmp / "images" / f"{i:04d}.png")
            Image.fromarray(sem.astype(np.uint8)).save(tmp / "masks" / f"{i:04d}.png")
            Image.fromarray(inst.astype(np.uint16)).save(tmp / "instances" / f"{i:04d}.png")
        (tmp / "classes.txt").write_text(",".join(SYNTH_CLASSES) + "\n", encoding="utf-8")
        made_record(tmp, MADE_BY, landscape_settings(count, cfg.size, seed))
    return Path(outdir)
