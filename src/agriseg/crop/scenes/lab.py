"""Phenotyping-lab scenes: cut-out field plants on the backgrounds that labs photograph plants against.

A scene is a background (white, grey, blue or black, lit unevenly, with a little texture), a layout (pots seen
from above, a tray of cells, pots seen from the side before a wall, or plants lying on a plate), optional
metal frame bars, white labels with writing, coloured markers and specular reflections, then plants cut from
labelled photos (:class:`~agriseg.crop.scenes.sources.Cutout`) pasted with their soft edges and cast shadows,
and finally exposure, white balance and the camera (:func:`~agriseg.crop.scenes.shapes.camera`). A share
of scenes holds no plant at all (a vegetation-free frame). The label is exact: coverage >= 0.5 of a plant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from agriseg.crop.scenes.shapes import _texture, camera
from agriseg.crop.scenes.sources import Cutout

Background = Literal["white", "grey", "blue", "black"]
PlantColours = Literal["mild", "wide"]
Layout = Literal["pots", "tray", "side", "plate", "field"]
BACKGROUNDS: tuple[Background, ...] = ("white", "grey", "blue", "black")
LAYOUTS: tuple[Layout, ...] = ("pots", "tray", "side", "plate")  # "field": plants on a soil canvas
POT_COLOURS = [(25, 25, 28), (170, 85, 50), (120, 120, 125), (225, 225, 220), (40, 70, 160), (200, 60, 40)]


@dataclass
class LabSettings:
    """Scene sizes and the share of frames without plants.

    Attributes:
        sizes: (width, height) of the scenes; one is drawn per scene.
        negatives: share of scenes with no plant.
        backgrounds: background colours to draw from.
        layouts: layouts to draw from.
        plant_colours: how far pasted plants are recoloured. ``mild`` (hue +-6, saturation and brightness
            x0.8-1.2) keeps the look of the source field; ``wide`` adds dark, pale, yellowish and bluish greens
            (hue +-12, saturation x0.6-1.3, brightness x0.45-1.25), flattens the leaf texture of a quarter of
            the plants (uniform leaves, as lab lighting often shows them) and tints some reflections green or
            yellow (glare on a bench is not a leaf).
        distractors: 0, or 1-3 rounds of extra hard negatives drawn before the plants
            (:func:`_distractors`: markers and tape of many colours, glare, labels).
    """

    sizes: tuple[tuple[int, int], ...] = ((640, 480), (800, 600), (960, 720))
    negatives: float = 0.15
    backgrounds: tuple[Background, ...] = BACKGROUNDS
    layouts: tuple[Layout, ...] = LAYOUTS
    plant_colours: PlantColours = "mild"
    distractors: int = 0


# recolouring of pasted plants: hue shift (OpenCV hue units, 180 = full turn), saturation and brightness gains,
# share of plants whose texture is flattened, share of reflections tinted
PLANT_COLOURS: dict[str, tuple[float, tuple[float, float], tuple[float, float], float, float]] = {
    "mild": (6.0, (0.8, 1.2), (0.8, 1.2), 0.0, 0.0),
    "wide": (12.0, (0.6, 1.3), (0.45, 1.25), 0.25, 0.5),
}


def background(rng: np.random.Generator, kind: Background, h: int, w: int) -> np.ndarray:
    """An unevenly lit, slightly textured plain background, ``float32`` RGB ``(h, w, 3)``."""
    base = {
        "white": rng.uniform(215, 252, 3),
        "grey": np.full(3, rng.uniform(90, 185)) + rng.uniform(-8, 8, 3),
        "blue": np.array([rng.uniform(15, 80), rng.uniform(60, 130), rng.uniform(140, 225)]),
        "black": np.full(3, rng.uniform(4, 40)) + rng.uniform(-3, 3, 3),
    }[kind]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gx, gy = rng.uniform(-0.25, 0.25, 2)
    light = 1 + gx * (xx / w - 0.5) + gy * (yy / h - 0.5)
    r2 = ((xx - w * rng.uniform(0.3, 0.7)) / w) ** 2 + ((yy - h * rng.uniform(0.3, 0.7)) / h) ** 2
    light *= 1 - rng.uniform(0, 0.35) * r2
    tex = _texture(rng, h, w, rng.uniform(0.8, 3), rng.uniform(0.0, 0.04))
    return np.clip(base[None, None] * (light * tex)[..., None], 0, 255).astype(np.float32)


def _disc(img: np.ndarray, cx: float, cy: float, r: float, colour: np.ndarray | tuple, soft: float = 1.0) -> None:
    """Paint an anti-aliased filled disc."""
    h, w = img.shape[:2]
    m: np.ndarray = np.zeros((h, w), np.float32)
    cv2.circle(m, (round(cx * 4), round(cy * 4)), max(1, round(r * 4)), 1.0, -1, cv2.LINE_AA, shift=2)
    m = cv2.GaussianBlur(m, (0, 0), soft)[..., None]
    img[:] = img * (1 - m) + np.asarray(colour, np.float32) * m


def _rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour: np.ndarray | tuple) -> None:
    img[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = np.asarray(colour, np.float32)


def _soil_patch(rng: np.random.Generator, soils: list[np.ndarray], h: int, w: int) -> np.ndarray:
    """Potting substrate: a crop of a soil canvas or dark peat, ``float32`` ``(h, w, 3)``."""
    if soils and rng.random() < 0.6:
        s = soils[int(rng.integers(len(soils)))]
        k = max(h / s.shape[0], w / s.shape[1], rng.uniform(0.3, 1.0))
        s = cv2.resize(s, (max(w, round(s.shape[1] * k)), max(h, round(s.shape[0] * k))), interpolation=cv2.INTER_AREA)
        y, x = int(rng.integers(s.shape[0] - h + 1)), int(rng.integers(s.shape[1] - w + 1))
        return s[y : y + h, x : x + w].astype(np.float32)
    peat = np.array([rng.uniform(35, 80), rng.uniform(25, 55), rng.uniform(15, 40)], np.float32)
    return peat[None, None] * _texture(rng, h, w, 1.2, 0.25)[..., None]


def _spots(rng: np.random.Generator, h: int, w: int, layout: Layout) -> list[tuple[float, float, float]]:
    """Where plants may stand: (x, y, room radius) per pot, cell or free spot; pots and cells are drawn."""
    if layout == "tray":
        rows, cols = int(rng.integers(2, 5)), int(rng.integers(3, 7))
        cell = min(w * 0.9 / cols, h * 0.9 / rows)
        x0, y0 = (w - cell * cols) / 2, (h - cell * rows) / 2
        return [(x0 + (c + 0.5) * cell, y0 + (r + 0.5) * cell, cell / 2) for r in range(rows) for c in range(cols)]
    if layout == "pots":
        n = int(rng.integers(1, 7))
        cols = int(np.ceil(np.sqrt(n * w / h)))
        rows = int(np.ceil(n / cols))
        room = min(w / cols, h / rows) / 2 * rng.uniform(0.7, 0.92)
        return [(w * (c + 0.5) / cols, h * (r + 0.5) / rows, room) for r in range(rows) for c in range(cols)][:n]
    if layout == "field":
        return [
            (rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h, min(w, h) * rng.uniform(0.05, 0.2))
            for _ in range(int(rng.integers(1, 9)))
        ]
    if layout == "side":
        return [(w * rng.uniform(0.35, 0.65), h * rng.uniform(0.3, 0.45), min(w, h) * rng.uniform(0.18, 0.3))]
    return [(w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7), min(w, h) * rng.uniform(0.2, 0.4))]


def _draw_layout(
    img: np.ndarray, rng: np.random.Generator, layout: Layout, spots: list, soils: list[np.ndarray]
) -> None:
    """Pots, tray cells or a side-view pot, with substrate, under the plant spots."""
    h, w = img.shape[:2]
    colour = np.asarray(POT_COLOURS[int(rng.integers(len(POT_COLOURS)))], np.float32) * rng.uniform(0.8, 1.1)
    if layout == "field":
        img[:] = _soil_patch(rng, soils, h, w) if soils else img
        return
    if layout == "tray":
        cell = spots[0][2] * 2
        tray = [(min(s[0] for s in spots) - cell / 2, min(s[1] for s in spots) - cell / 2)]
        x0, y0 = tray[0]
        x1, y1 = max(s[0] for s in spots) + cell / 2, max(s[1] for s in spots) + cell / 2
        _rect(img, int(x0) - 6, int(y0) - 6, int(x1) + 6, int(y1) + 6, colour)
        for x, y, r in spots:
            rin = int(r * 0.82)
            img[int(y) - rin : int(y) + rin, int(x) - rin : int(x) + rin] = _soil_patch(rng, soils, 2 * rin, 2 * rin)
    elif layout == "pots":
        for x, y, r in spots:
            _disc(img, x, y, r, colour)
            _disc(img, x, y, r * 0.93, colour * rng.uniform(0.75, 1.25))  # rim
            rin = int(r * 0.8)
            soil = _soil_patch(rng, soils, 2 * rin, 2 * rin)
            m = np.zeros((2 * rin, 2 * rin), np.float32)
            cv2.circle(m, (rin, rin), rin, 1.0, -1, cv2.LINE_AA)
            sub = img[int(y) - rin : int(y) + rin, int(x) - rin : int(x) + rin]
            m = m[: sub.shape[0], : sub.shape[1], None]
            sub[:] = sub * (1 - m) + soil[: sub.shape[0], : sub.shape[1]] * m
    elif layout == "side":
        x, y, r = spots[0]
        top, bot = y + r * 0.6, min(h - 2, y + r * 0.6 + r * rng.uniform(1.4, 2.2))
        pts = np.array([[x - r * 1.1, top], [x + r * 1.1, top], [x + r * 0.8, bot], [x - r * 0.8, bot]], np.int32)
        cv2.fillPoly(img, [pts], colour.tolist(), cv2.LINE_AA)
        _rect(img, int(x - r * 1.15), int(top), int(x + r * 1.15), int(top + max(4, r * 0.12)), colour * 1.2)
    else:  # plate
        x, y, r = spots[0]
        _disc(img, x, y, r * 1.15, np.asarray(POT_COLOURS[int(rng.integers(len(POT_COLOURS)))], np.float32))


def _extras(img: np.ndarray, rng: np.random.Generator, tinted: float = 0.0) -> None:
    """Metal frame bars, white labels with writing, coloured markers and specular reflections.

    ``tinted``: share of reflections coloured pale green or yellow instead of white.
    """
    h, w = img.shape[:2]
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 3))):
            t = int(rng.integers(8, 36))
            grey = rng.uniform(110, 210)
            ramp = np.clip(grey * (0.75 + 0.5 * np.abs(np.linspace(-1, 1, t))), 0, 255).astype(np.float32)
            if rng.random() < 0.5:
                y = int(rng.integers(0, h - t))
                img[y : y + t] = ramp[:, None, None]
            else:
                x = int(rng.integers(0, w - t))
                img[:, x : x + t] = ramp[None, :, None]
    for _ in range(int(rng.integers(0, 4))):  # labels with writing
        lw, lh = int(rng.integers(30, 90)), int(rng.integers(14, 40))
        x, y = int(rng.integers(0, w - lw)), int(rng.integers(0, h - lh))
        _rect(img, x, y, x + lw, y + lh, np.full(3, rng.uniform(215, 250)))
        for k in range(int(rng.integers(1, 4))):
            yy = y + 4 + k * 9
            if yy < y + lh - 3:
                cv2.line(img, (x + 4, yy), (x + int(rng.integers(10, lw - 3)), yy), (20, 20, 20), 2)
    for _ in range(int(rng.integers(0, 3))):  # markers: yellow, orange, red, white
        col = [(235, 210, 30), (240, 140, 20), (210, 30, 30), (245, 245, 245)][int(rng.integers(4))]
        _disc(img, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 12), col)
    if rng.random() < 0.3:  # reflections
        m = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(1, 4))):
            axes = (int(rng.integers(5, 40)), int(rng.integers(3, 15)))
            cv2.ellipse(m, (int(rng.integers(w)), int(rng.integers(h))), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
        m = cv2.GaussianBlur(m, (0, 0), 3)[..., None] * rng.uniform(0.4, 0.9)
        glare = np.full(3, 255.0, np.float32)
        if tinted and rng.random() < tinted:  # light through leaves or a coloured lamp: pale green or yellow glare
            glare = np.array([rng.uniform(150, 235), rng.uniform(225, 255), rng.uniform(90, 200)], np.float32)
        img[:] = img * (1 - m) + glare * m


# marker and tape colours of the extra distractors: yellow, orange, red, white, light and mid grey, blue, pink,
# purple, black (no green: a uniform green shape can be a leaf, as the synthetic-plant benchmark draws them)
DISTRACTOR_COLOURS = [
    (235, 210, 30), (240, 140, 20), (210, 30, 30), (245, 245, 245), (200, 200, 205), (140, 140, 145),
    (50, 90, 200), (235, 150, 190), (120, 60, 150), (20, 20, 20),
]  # fmt: skip


def _distractors(img: np.ndarray, rng: np.random.Generator, rounds: int) -> None:
    """Hard negatives for training: per round 2-7 markers or pieces of tape, white glare in half the rounds and a
    label with writing. (Glare tinted pale green, as in ``wide`` scenes, was tried here: a model fine-tuned with it
    cut faint leaves and stems, and development plants were counted right in 33 of 50 photos against 41.)"""
    h, w = img.shape[:2]
    for _ in range(rounds):
        for _ in range(int(rng.integers(2, 8))):
            col = DISTRACTOR_COLOURS[int(rng.integers(len(DISTRACTOR_COLOURS)))]
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            if rng.random() < 0.7:
                _disc(img, x, y, rng.uniform(3, 14), col)
            else:
                tw, th = int(rng.integers(6, 40)), int(rng.integers(3, 12))
                _rect(img, int(x), int(y), int(x) + tw, int(y) + th, col)
        if rng.random() < 0.5:
            m = np.zeros((h, w), np.float32)
            for _ in range(int(rng.integers(1, 5))):
                axes = (int(rng.integers(4, 40)), int(rng.integers(3, 15)))
                centre = (int(rng.integers(w)), int(rng.integers(h)))
                cv2.ellipse(m, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
            m = cv2.GaussianBlur(m, (0, 0), rng.uniform(1.5, 4))[..., None] * rng.uniform(0.4, 0.95)
            img[:] = img * (1 - m) + 255.0 * m
        lw, lh = int(rng.integers(20, 80)), int(rng.integers(10, 36))
        x, y = int(rng.integers(0, max(1, w - lw))), int(rng.integers(0, max(1, h - lh)))
        _rect(img, x, y, x + lw, y + lh, np.full(3, rng.uniform(200, 250)))
        cv2.line(img, (x + 3, y + lh // 2), (x + max(4, lw - 5), y + lh // 2), (30, 30, 30), 2)


def _fit_cutout(
    cut: Cutout,
    room: float,
    rng: np.random.Generator,
    size: tuple[float, float] = (0.6, 1.8),
    grow: float = 1.0,
    colours: PlantColours = "mild",
) -> Cutout:
    """Scale a cut-out so its larger side is ``size`` (0.6-1.8) times the room's radius, times ``grow`` (at
    most 2x the cut-out), recolour (``colours``), flip and turn it."""
    s = min(2.0, room * rng.uniform(*size) * grow / max(cut.rgb.shape[:2]))  # never blown up past 2x
    wh = (max(3, round(cut.rgb.shape[1] * s)), max(3, round(cut.rgb.shape[0] * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    rgb, alpha = cv2.resize(cut.rgb, wh, interpolation=interp), cv2.resize(cut.alpha, wh, interpolation=interp)
    classes = cv2.resize(cut.classes, wh, interpolation=cv2.INTER_NEAREST)
    hue, sat, val, flat, _ = PLANT_COLOURS[colours]
    if flat and rng.random() < flat:  # uniform leaves: the texture inside the plant smoothed away, its edge kept
        rgb = cv2.bilateralFilter(np.ascontiguousarray(rgb), 9, 40, 9)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)  # a plant of another colour
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-hue, hue)) % 180
    hsv[..., 1] *= rng.uniform(*sat)
    hsv[..., 2] *= rng.uniform(*val)
    rgb = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    k = int(rng.integers(4))
    rgb, alpha, classes = (np.rot90(a, k) for a in (rgb, alpha, classes))
    if rng.random() < 0.5:
        rgb, alpha, classes = (a[:, ::-1] for a in (rgb, alpha, classes))
    return Cutout(np.ascontiguousarray(rgb), np.ascontiguousarray(alpha), np.ascontiguousarray(classes), cut.source)


def _paste_plant(img: np.ndarray, label: np.ndarray, cut: Cutout, cx: float, cy: float, shadow: bool) -> None:
    """Blend a cut-out centred at (cx, cy) into the scene; its pixels of coverage >= 0.5 take its classes."""
    h, w = label.shape
    ph, pw = cut.alpha.shape
    x0, y0 = round(cx - pw / 2), round(cy - ph / 2)
    ya, yb, xa, xb = max(0, y0), min(h, y0 + ph), max(0, x0), min(w, x0 + pw)
    if ya >= yb or xa >= xb:
        return
    sl = (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0))
    a = cut.alpha[sl][..., None]
    if shadow:
        sh = cv2.GaussianBlur(cut.alpha, (0, 0), 3)
        dy, dx = 5, 4
        ys, xs = slice(max(0, ya + dy), min(h, yb + dy)), slice(max(0, xa + dx), min(w, xb + dx))
        part = sh[sl][: ys.stop - ys.start, : xs.stop - xs.start]
        img[ys, xs] *= 1 - 0.35 * part[..., None]
    img[ya:yb, xa:xb] = img[ya:yb, xa:xb] * (1 - a) + cut.rgb[sl].astype(np.float32) * a
    on = cut.alpha[sl] >= 0.5
    label[ya:yb, xa:xb][on] = cut.classes[sl][on]


def lab_scene(
    rng: np.random.Generator, cutouts: list[Cutout], soils: list[np.ndarray], settings: LabSettings | None = None
) -> tuple[np.ndarray, np.ndarray, dict]:
    """One lab scene.

    Args:
        rng: random generator (the scene is a function of its state).
        cutouts: plants to paste (drawn at random).
        soils: soil canvases for the pots' substrate (may be empty: dark peat then).
        settings: sizes, negatives, backgrounds and layouts.

    Returns:
        ``(rgb, label, info)``: ``uint8`` photo, ``uint8`` class ids (0 background, the cut-outs' classes), and
        what was drawn (background, layout, plant count, sources).
    """
    settings = settings or LabSettings()
    w, h = settings.sizes[int(rng.integers(len(settings.sizes)))]
    bg = settings.backgrounds[int(rng.integers(len(settings.backgrounds)))]
    layout = settings.layouts[int(rng.integers(len(settings.layouts)))]
    img = background(rng, bg, h, w)
    spots = _spots(rng, h, w, layout)
    _draw_layout(img, rng, layout, spots, soils)
    _extras(img, rng, PLANT_COLOURS[settings.plant_colours][4])
    if settings.distractors:  # its own generator: scenes without distractors stay as they were
        _distractors(img, np.random.default_rng(int(rng.integers(2**31))), settings.distractors)
    label = np.zeros((h, w), np.uint8)
    negative = rng.random() < settings.negatives or not cutouts
    sources = []
    if not negative:
        for x, y, room in spots:
            if len(spots) > 1 and rng.random() < 0.2:
                continue  # an empty pot
            cut = _fit_cutout(cutouts[int(rng.integers(len(cutouts)))], room, rng, colours=settings.plant_colours)
            jitter = rng.uniform(-0.2, 0.2, 2) * room
            _paste_plant(img, label, cut, x + jitter[0], y + jitter[1], bool(rng.random() < 0.5))
            sources.append(cut.source)
    gain = rng.uniform(0.75, 1.2) * rng.uniform(0.9, 1.1, 3)
    img = 255 * (np.clip(img * gain, 0, 255) / 255) ** rng.uniform(0.8, 1.25)
    info = {"background": bg, "layout": layout, "plants": len(sources), "sources": sources, "size": [w, h]}
    return camera(img.astype(np.float32), rng), label, info


def uniform_frame(colour: Background, size: tuple[int, int] = (640, 480), seed: int = 0) -> np.ndarray:
    """A plain frame of one background colour (lit unevenly, through the camera), ``uint8`` RGB."""
    rng = np.random.default_rng(seed)
    return camera(background(rng, colour, size[1], size[0]), rng)
