"""Synthetic plants of known area on real soil: where does a model put the edge of a plant?

Each plant is a polygon (disc, ellipse, lobed rosette, or two leaves on a thin stem) rendered at 4x and
averaged down, so its edge pixels carry the true partial coverage, then given a green of its own (hue,
saturation, brightness, texture), an optional cast shadow, and finally the whole photo gets the camera's blur,
noise and JPEG compression. The truth mask is coverage >= 0.5, and its area is what a tight outline measures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import cv2
import numpy as np

PlantKind = Literal["disc", "ellipse", "lobed", "stemmed"]
KINDS: tuple[PlantKind, ...] = ("disc", "ellipse", "lobed", "stemmed")
SS = 4  # supersampling factor of the coverage


@dataclass
class ShapeSettings:
    """What the generated photos hold (sizes in pixels at the inference scale, ``infer_long_side``).

    Attributes:
        long_sides: long side of the photos (their short side is 3/4 of it); one is drawn per photo.
        infer_long_side: the model's inference size, at which ``radius`` is given.
        radius: range of the plants' equivalent radius.
        plants: range of the number of plants per photo.
        kinds: plant shapes to draw from.
        touching: share of photos whose plants touch or overlap.
        shadow: share of plants with a cast shadow.
    """

    long_sides: tuple[int, ...] = (640, 960, 1440)
    infer_long_side: int = 800
    radius: tuple[float, float] = (8.0, 45.0)
    plants: tuple[int, int] = (1, 5)
    kinds: tuple[PlantKind, ...] = KINDS
    touching: float = 0.3
    shadow: float = 0.5


@dataclass
class Plant:
    """One generated plant: its shape, where it is, and its true area in the photo's pixels."""

    kind: str
    cx: float
    cy: float
    radius: float
    area: float = 0.0
    params: dict = field(default_factory=dict)


def _outline(kind: PlantKind, r: float, rng: np.random.Generator) -> tuple[list[np.ndarray], float, dict]:
    """Polygons (in px, centred on 0) of one plant, the stem width (0 = none) and the shape's parameters."""
    t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    if kind == "disc":
        return [np.stack([r * np.cos(t), r * np.sin(t)], 1)], 0.0, {}
    if kind == "ellipse":
        e, ang = rng.uniform(1.3, 2.5), rng.uniform(0, np.pi)
        a, b = r * np.sqrt(e), r / np.sqrt(e)  # same area as the disc of radius r
        pts = np.stack([a * np.cos(t), b * np.sin(t)], 1)
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        return [pts @ rot.T], 0.0, {"elongation": e, "angle": ang}
    if kind == "lobed":
        k, amp, ph = int(rng.integers(3, 8)), rng.uniform(0.15, 0.4), rng.uniform(0, 2 * np.pi)
        rr = r * (1 + amp * np.cos(k * t + ph))
        return [np.stack([rr * np.cos(t), rr * np.sin(t)], 1)], 0.0, {"lobes": k, "depth": amp}
    # stemmed: two leaves (ellipses) at the ends of a thin stem
    ang, length = rng.uniform(0, np.pi), rng.uniform(1.6, 2.4) * r
    leaf = r * 0.6
    polys = []
    for sgn in (-1, 1):
        cx, cy = sgn * length / 2 * np.cos(ang), sgn * length / 2 * np.sin(ang)
        la = ang + rng.uniform(-0.6, 0.6)
        a, b = leaf * 1.3, leaf / 1.3
        pts = np.stack([a * np.cos(t), b * np.sin(t)], 1)
        rot = np.array([[np.cos(la), -np.sin(la)], [np.sin(la), np.cos(la)]])
        polys.append(pts @ rot.T + [cx, cy])
    return polys, float(rng.uniform(2.0, 4.0)), {"stem_length": length, "angle": ang}


def _coverage(polys: list[np.ndarray], stem: float, half: int) -> np.ndarray:
    """Anti-aliased coverage ``float32`` ``(2 half, 2 half)`` of polygons centred in the patch."""
    big = np.zeros((2 * half * SS, 2 * half * SS), np.uint8)
    pts = [np.round((p + half) * SS).astype(np.int32) for p in polys]
    cv2.fillPoly(big, pts, 255)
    if stem > 0:  # the stem joins the two leaf centres
        c0, c1 = polys[0].mean(0), polys[1].mean(0)
        a, b = tuple(np.round((c0 + half) * SS).astype(int)), tuple(np.round((c1 + half) * SS).astype(int))
        cv2.line(big, a, b, 255, max(1, round(stem * SS)))
    return cv2.resize(big, (2 * half, 2 * half), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _paste(dst: np.ndarray, patch: np.ndarray, x0: int, y0: int, op: str = "max") -> None:
    """Paste ``patch`` at (x0, y0) into ``dst`` (clipped to ``dst``), combining by max or by union."""
    h, w = dst.shape[:2]
    ya, yb, xa, xb = max(0, y0), min(h, y0 + patch.shape[0]), max(0, x0), min(w, x0 + patch.shape[1])
    if ya >= yb or xa >= xb:
        return
    sub = patch[ya - y0 : yb - y0, xa - x0 : xb - x0]
    if op == "max":
        np.maximum(dst[ya:yb, xa:xb], sub, out=dst[ya:yb, xa:xb])
    else:
        dst[ya:yb, xa:xb] = 1 - (1 - dst[ya:yb, xa:xb]) * (1 - sub)


def _green(rng: np.random.Generator) -> np.ndarray:
    """A leaf colour (RGB 0-255) drawn from yellow-green to blue-green, pale to dark (OpenCV's HSV units)."""
    hsv = np.array([[[rng.uniform(35, 70), rng.uniform(60, 170), rng.uniform(70, 210)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _texture(rng: np.random.Generator, h: int, w: int, scale: float, amount: float) -> np.ndarray:
    """Smooth multiplicative noise ``(h, w)`` around 1."""
    n = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), scale)
    return 1 + amount * n / max(float(n.std()), 1e-6)


def _leaf_texture(rng: np.random.Generator, h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    """Leaf-like brightness ``(h, w)`` around 1: fine grain, blotches, a light gradient and pale veins."""
    tex = _texture(rng, h, w, rng.uniform(0.6, 1.0), rng.uniform(0.04, 0.09))
    tex *= _texture(rng, h, w, rng.uniform(2, 5), rng.uniform(0.04, 0.1))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    tex *= 1 + rng.uniform(0.05, 0.15) * np.clip(((xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)) / max(r, 1), -1, 1)
    veins = np.zeros((h, w), np.float32)
    for k in range(int(rng.integers(4, 9))):  # a midrib and lateral veins from the centre
        a = ang + k * 2 * np.pi / 7 + rng.uniform(-0.2, 0.2)
        end = (round(cx + 0.85 * r * np.cos(a)), round(cy + 0.85 * r * np.sin(a)))
        cv2.line(veins, (round(cx), round(cy)), end, 1.0, 1, cv2.LINE_AA)
    return tex * (1 + rng.uniform(0.06, 0.16) * cv2.GaussianBlur(veins, (0, 0), 0.6))


def _place(
    rng: np.random.Generator, n: int, radii: np.ndarray, h: int, w: int, touching: bool
) -> list[tuple[float, float]] | None:
    """Plant centres inside the photo: apart by at least 12 px beyond their extent, or touching in a chain."""
    pts: list[tuple[float, float]] = []
    for i in range(n):
        reach = 2.6 * radii[i]  # stemmed plants reach farthest: ~2.2 r
        for _ in range(200):
            if touching and pts:
                j = int(rng.integers(len(pts)))
                d, a = rng.uniform(0.75, 1.0) * (radii[i] + radii[j]), rng.uniform(0, 2 * np.pi)
                cx, cy = pts[j][0] + d * np.cos(a), pts[j][1] + d * np.sin(a)
            else:
                cx, cy = rng.uniform(reach + 4, w - reach - 4), rng.uniform(reach + 4, h - reach - 4)
            inside = reach + 4 <= cx <= w - reach - 4 and reach + 4 <= cy <= h - reach - 4
            far = all(np.hypot(cx - x, cy - y) > 2.6 * (radii[i] + radii[k]) + 12 for k, (x, y) in enumerate(pts))
            if inside and (touching and pts or far):
                pts.append((cx, cy))
                break
        else:
            return None
    return pts


def plant_photo(
    soil: np.ndarray, rng: np.random.Generator, settings: ShapeSettings | None = None
) -> tuple[np.ndarray, np.ndarray, list[Plant], bool]:
    """One photo of synthetic plants on a soil canvas.

    Args:
        soil: a plant-free soil photo ``uint8`` ``(H, W, 3)``; resized to the drawn photo size.
        rng: random generator (the photo is a function of its state).
        settings: sizes, counts and kinds.

    Returns:
        ``(rgb, truth, plants, touching)``: the photo, the truth mask (``uint8`` 0/1), the plants with their
        true areas (px at the photo's size), and whether its plants touch.
    """
    settings = settings or ShapeSettings()
    long_side = int(rng.choice(settings.long_sides))
    w, h = long_side, round(long_side * 3 / 4)
    base = cv2.resize(soil, (w, h), interpolation=cv2.INTER_AREA if w < soil.shape[1] else cv2.INTER_CUBIC)
    k = long_side / settings.infer_long_side
    touching = bool(rng.random() < settings.touching)
    while True:
        n = int(rng.integers(settings.plants[0] + touching, settings.plants[1] + 1))
        lo, hi = np.log(settings.radius)
        radii = np.exp(rng.uniform(lo, hi, n)) * k
        centres = _place(rng, n, radii, h, w, touching)
        if centres is not None:
            break
    img = base.astype(np.float32)
    shade, union = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    layers, plants = [], []
    for (cx, cy), r in zip(centres, radii, strict=True):
        kind = KINDS[int(rng.integers(len(KINDS)))] if settings.kinds == KINDS else rng.choice(settings.kinds)
        polys, stem, params = _outline(kind, float(r), rng)
        half = int(np.ceil(np.abs(np.concatenate(polys)).max() + 3))
        cov = _coverage(polys, stem, half)
        x0, y0 = round(cx) - half, round(cy) - half
        full = np.zeros((h, w), np.float32)
        _paste(full, cov, x0, y0)
        if rng.random() < settings.shadow:
            dx, dy = rng.integers(2, 9, 2) * rng.choice([-1, 1], 2)
            _paste(shade, cv2.GaussianBlur(cov, (0, 0), 2.5), x0 + int(dx), y0 + int(dy))
        colour = _green(rng)
        tex = _leaf_texture(rng, h, w, cx, cy, float(r))
        layers.append((full, colour, tex))
        plants.append(Plant(str(kind), float(cx), float(cy), float(r), 0.0, params))
        _paste(union, cov, x0, y0, op="union")
    img *= (1 - 0.4 * shade)[..., None]
    for full, colour, tex in layers:
        img = img * (1 - full[..., None]) + (colour * tex[..., None]) * full[..., None]
    truth = (union >= 0.5).astype(np.uint8)
    for p, (full, _, _) in zip(plants, layers, strict=True):
        p.area = float((full >= 0.5).sum())
    return camera(img, rng), truth, plants, touching


def camera(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lens blur, sensor noise and JPEG compression of a float RGB image; returns ``uint8``."""
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 0.8))
    img = img + rng.normal(0, rng.uniform(1.0, 3.0), img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(85, 96))])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert ok and decoded is not None, "JPEG round trip of an in-memory image failed"
    return decoded[..., ::-1].copy()


def disc_photo(
    soil: np.ndarray, n: int = 6, radius: float = 30.0, size: tuple[int, int] = (960, 720), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[Plant]]:
    """``n`` green discs of one radius, apart from each other, on a soil photo (the README's example).

    Returns:
        ``(rgb, truth, plants)`` as :func:`plant_photo`; every disc's area is about ``pi * radius**2``.
    """
    settings = ShapeSettings(
        long_sides=(size[0],), infer_long_side=size[0], radius=(radius, radius + 1e-6), plants=(n, n),
        kinds=("disc",), touching=0.0, shadow=0.0,
    )  # fmt: skip
    rgb, truth, plants, _ = plant_photo(soil, np.random.default_rng(seed), settings)
    return rgb, truth, plants


def plant_records(plants: list[Plant]) -> list[dict]:
    """Plants as JSON-ready dicts."""
    return [asdict(p) for p in plants]
