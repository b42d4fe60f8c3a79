"""Regions of a photo (tray cells, plots): an automatic grid over the plants, or rectangles from a file.

The automatic grid follows PlantCV's ``roi.auto_grid`` idea: the extent of all plants is divided into
``ROWS x COLS`` equal cells, numbered row by row from 1 at the top left. Each plant belongs to the region
that holds its centroid; a region's green fraction is measured on its own pixels.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Region:
    """A pixel rectangle ``[x, x + width) x [y, y + height)`` with an id."""

    id: str
    x: int
    y: int
    width: int
    height: int


def parse_grid(text: str) -> tuple[int, int]:
    """``"ROWSxCOLS"`` -> (rows, cols), both >= 1."""
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise ValueError(f"grid must be ROWSxCOLS (e.g. 3x4), got {text!r}") from err
    if rows < 1 or cols < 1:
        raise ValueError(f"grid must be ROWSxCOLS with both >= 1, got {text!r}")
    return rows, cols


def grid_regions(labels: np.ndarray, rows: int, cols: int) -> list[Region]:
    """``rows x cols`` equal cells over the bounding box of the plants (the whole image when there are none)."""
    ys, xs = np.nonzero(labels)
    if len(ys):
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    else:
        y0, y1, x0, x1 = 0, labels.shape[0], 0, labels.shape[1]
    ye = np.linspace(y0, y1, rows + 1).round().astype(int)
    xe = np.linspace(x0, x1, cols + 1).round().astype(int)
    return [
        Region(str(r * cols + c + 1), int(xe[c]), int(ye[r]), int(xe[c + 1] - xe[c]), int(ye[r + 1] - ye[r]))
        for r in range(rows)
        for c in range(cols)
    ]


def read_regions(path: str | Path) -> list[Region]:
    """Rectangles from a CSV file with the columns ``id,x,y,width,height`` (pixels).

    Raises:
        FileNotFoundError: missing file.
        ValueError: missing columns or values that are not whole numbers, naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: regions file not found")
    out = []
    with path.open(newline="", encoding="utf-8-sig") as fh:  # Excel's "CSV UTF-8" starts with a BOM
        reader = csv.DictReader(fh)
        need = {"id", "x", "y", "width", "height"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise ValueError(f"{path}: regions CSV needs the columns id,x,y,width,height, has {reader.fieldnames}")
        for i, row in enumerate(reader, start=2):
            try:
                x, y, w, h = (int(row[k]) for k in ("x", "y", "width", "height"))
            except (TypeError, ValueError) as err:
                raise ValueError(f"{path}: line {i}: x, y, width, height must be whole numbers") from err
            if w < 1 or h < 1:
                raise ValueError(f"{path}: line {i}: width and height must be >= 1")
            out.append(Region(row["id"], x, y, w, h))
    if not out:
        raise ValueError(f"{path}: no regions")
    return out


def region_traits(
    regions: list[Region], vegetation: np.ndarray, plants: list[dict[str, Any]], px_per_mm: float | None = None
) -> list[dict[str, Any]]:
    """Per region: green fraction, plant count and plant area (plants assigned by centroid).

    Args:
        regions: the rectangles (clipped to the image).
        vegetation: boolean mask ``(H, W)``.
        plants: rows of :func:`agriseg.crop.traits.plants.plant_traits` (centroid and area in the same units).
        px_per_mm: the scale of ``plants`` (None: pixels), to place centroids in pixel rectangles.
    """
    h, w = vegetation.shape
    s = px_per_mm or 1.0
    out = []
    for reg in regions:
        x0, y0 = max(0, reg.x), max(0, reg.y)
        x1, y1 = min(w, reg.x + reg.width), min(h, reg.y + reg.height)
        cell = vegetation[y0:y1, x0:x1]
        inside = [p for p in plants if x0 <= p["centroid_x"] * s < x1 and y0 <= p["centroid_y"] * s < y1]
        out.append(
            {
                "id": reg.id,
                "green_fraction": float(cell.mean()) if cell.size else None,
                "plant_count": len(inside),
                "plant_area": float(sum(p["area"] for p in inside)),
                "x": x0,
                "y": y0,
                "width": max(0, x1 - x0),
                "height": max(0, y1 - y0),
            }
        )
    return out
