"""Phenotyping trays with per-pot truth: ``ROWS x COLS`` pots on a mat, one seedling or none per pot.

A tray scene is what a lab photographs over time: pots in a tray on a mat (blue, black, grey or white), one
Peanut plant cut-out per pot (several sizes) except for the empty pots, a white plant label stuck in some
pots, pot labels with writing and coloured markers on the mat, a thin strip of a neighbouring tray's plant
at the left image edge, and the plant of the top-right pot hanging over the image edge. The same ``seed``
draws the same tray; ``grow`` scales every plant, so a series of growth factors is one tray photographed on
several dates. The truth of every pot (its box, plant count and the vegetation pixels of its plants) is
exact: it is counted on the label the scene is drawn with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from agriseg.crop.scenes.lab import Background, _draw_layout, _fit_cutout, _paste_plant, _rect, background
from agriseg.crop.scenes.shapes import camera
from agriseg.crop.scenes.sources import Cutout


@dataclass
class TraySettings:
    """One tray.

    Attributes:
        rows: pot rows.
        cols: pot columns.
        size: (width, height) of the photo.
        mat: the mat's colour.
        empty: how many pots stay empty.
        grow: plant size factor (1 = the first date).
    """

    rows: int = 3
    cols: int = 6
    size: tuple[int, int] = (720, 420)
    mat: Background = "blue"
    empty: int = 2
    grow: float = 1.0


def tray_scene(
    seed: int, cutouts: list[Cutout], soils: list[np.ndarray], settings: TraySettings | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One tray photo and its truth (see the module docstring).

    Args:
        seed: the tray (layout, plants, labels, camera).
        cutouts: plants to paste (crop cut-outs are preferred).
        soils: soil canvases for the substrate (may be empty: dark peat).
        settings: rows, columns, size, mat, empty pots, growth.

    Returns:
        ``(rgb, label, truth)``: ``uint8`` photo, ``uint8`` class ids (0 background, the cut-outs' classes)
        and ``truth`` with ``tray`` (x, y, width, height of the pot grid in px) and ``pots``: per pot (numbered
        row by row from 1 at the top left) ``id``, ``box``, ``plant_count``, ``area_px`` (its plants' visible
        vegetation pixels) and ``in_frame`` (its plant lies wholly inside the photo).
    """
    s = settings or TraySettings()
    rng = np.random.default_rng(seed)
    w, h = s.size
    img = background(rng, s.mat, h, w)
    cell = min((w - 60) / s.cols, (h * 0.82) / s.rows)
    x0 = w - 4 - cell * s.cols  # the tray reaches the right edge: its top-right plant is cut by it
    y0 = (h - cell * s.rows) / 2 - h * 0.04
    spots = [(x0 + (c + 0.5) * cell, y0 + (r + 0.5) * cell, cell / 2) for r in range(s.rows) for c in range(s.cols)]
    _draw_layout(img, rng, "tray", spots, soils)
    _mat_extras(img, rng, int(x0), int(y0 + cell * s.rows))
    crops = [c for c in cutouts if (c.classes == 1).sum() >= (c.classes == 2).sum()] or cutouts
    n = len(spots)
    edge = s.cols - 1  # the top-right pot
    empty = set(rng.choice([i for i in range(n) if i != edge], size=min(s.empty, n - 1), replace=False).tolist())
    label = np.zeros((h, w), np.uint8)
    inst = np.zeros((h, w), np.int32)
    pots = []
    for i, (x, y, room) in enumerate(spots):
        size = (1.3, 1.6) if i == edge else (0.7, 1.6)
        cut = _fit_cutout(crops[int(rng.integers(len(crops)))], room, rng, size, s.grow)
        side = max(cut.rgb.shape[:2])
        jitter = rng.uniform(-0.12, 0.12, 2) * room
        if i == edge:
            jitter = np.array([w - x - side * 0.3, 0.0])  # reaches past the right edge
        else:  # stays inside its own pot
            limit = max(0.0, room * 0.92 - side / 2)
            jitter = np.clip(jitter, -limit, limit)
        stake = rng.random() < 0.35
        if i not in empty:
            one = np.zeros((h, w), np.uint8)
            _paste_plant(img, one, cut, x + jitter[0], y + jitter[1], bool(rng.random() < 0.5))
            label[one > 0] = one[one > 0]
            inst[one > 0] = i + 1
        if stake:  # a white plant label stuck in the pot, in a corner away from the plant
            sx = int(x + room * 0.55 * (1 if jitter[0] < 0 else -1))
            sy = int(y + room * 0.55 * (1 if jitter[1] < 0 else -1))
            white = np.full(3, rng.uniform(225, 250))
            if (inst[sy - 12 : sy + 12, sx - 5 : sx + 5] == 0).all():
                _rect(img, sx - 3, sy - 10, sx + 3, sy + 10, white)
    _edge_strip(img, label, rng, crops)
    gain = rng.uniform(0.85, 1.1) * rng.uniform(0.95, 1.05, 3)
    img = np.clip(img * gain, 0, 255)
    area = np.bincount(inst.ravel(), minlength=n + 1)
    for i, (x, y, room) in enumerate(spots):
        ys, xs = np.nonzero(inst == i + 1) if i not in empty else (np.zeros(0), np.zeros(0))
        pots.append(
            {
                "id": str(i + 1),
                "box": [round(x - room), round(y - room), round(2 * room), round(2 * room)],
                "plant_count": 0 if i in empty else 1,
                "area_px": int(area[i + 1]),
                "in_frame": bool(i in empty or (xs.max() < w - 1 and ys.min() > 0 and xs.min() > 0)),
            }
        )
    truth = {
        "rows": s.rows,
        "cols": s.cols,
        "size": [w, h],
        "mat": s.mat,
        "grow": s.grow,
        "tray": [round(x0), round(y0), round(cell * s.cols), round(cell * s.rows)],
        "pots": pots,
    }
    return camera(img.astype(np.float32), rng), label, truth


def _mat_extras(img: np.ndarray, rng: np.random.Generator, tray_x: int, tray_bottom: int) -> None:
    """Pot labels with writing and coloured markers on the mat, left of and below the tray."""
    h, w = img.shape[:2]
    for k in range(3):  # white labels with writing below the tray
        lw, lh = int(rng.integers(40, 70)), int(rng.integers(14, 22))
        x, y = int(tray_x + 20 + k * (w - tray_x) / 3), min(h - lh - 2, tray_bottom + 8)
        _rect(img, x, y, x + lw, y + lh, np.full(3, rng.uniform(220, 250)))
        cv2.line(img, (x + 4, y + lh // 2), (x + lw - 6, y + lh // 2), (20, 20, 20), 2)
    for k, col in enumerate([(235, 210, 30), (210, 30, 30), (240, 140, 20)]):  # markers left of the tray
        cx, cy = tray_x / 2 + 6, h * (0.25 + 0.25 * k)
        cv2.circle(img, (round(cx), round(cy)), int(rng.integers(6, 10)), col, -1, cv2.LINE_AA)


def _edge_strip(img: np.ndarray, label: np.ndarray, rng: np.random.Generator, cutouts: list[Cutout]) -> None:
    """A 6-px-wide strip of a neighbouring plant along the left image edge (vegetation, but no plant)."""
    h = img.shape[0]
    cut = max(cutouts, key=lambda c: c.rgb.shape[0])
    tall = min(h // 3, 80)
    y = int(rng.integers(5, h - tall - 5))
    strip = cv2.resize(cut.rgb, (max(6, cut.rgb.shape[1]), tall))[:, :6].astype(np.float32)
    green = np.array([60, 140, 50], np.float32)
    img[y : y + tall, :6] = 0.5 * strip + 0.5 * green
    label[y : y + tall, :6] = 1
