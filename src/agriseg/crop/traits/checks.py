"""Warnings about a photo's regions that its numbers alone do not show: pots whose plants the model was unsure
of, plants of neighbouring pots joined into one, and grids laid over the wrong pots (turned, or not matching the
spacing of the plants).

Each function returns a list of warning lines (empty when all is well); :func:`agriseg.crop.traits.runner.measure`
adds them to the photo's warnings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agriseg.batch import listed
from agriseg.crop.config import TraitsConfig
from agriseg.crop.traits.regions import CHECK_SURE, Region, grid_misfit, needs_check, parse_grid


def region_warnings(
    config: TraitsConfig,
    rects: list[Region],
    regions: list[dict[str, Any]],
    plants: list[dict[str, Any]],
    labels: np.ndarray,
    box: tuple[int, int, int, int] | None,
) -> list[str]:
    """Every warning about one photo's regions.

    Args:
        config: the settings.
        rects: the regions (px).
        regions: their measured rows (:func:`agriseg.crop.traits.regions.region_traits`).
        plants: the plants, with their ``region``.
        labels: ``(H, W)`` plant labels, label ``k`` being ``plants[k - 1]``.
        box: the box a ``--grid`` spans; None when it spans the whole photo because no tray was found (a field
            photo, whose plants keep to no pots: the grid's fit is not checked).
    """
    out = unsure_regions(regions) + (crowded_cells(regions, config.grid, box is None) if config.grid else [])
    out += joined_across_regions(rects, regions, plants, labels, grid=bool(config.grid))
    if config.grid and box is not None:  # a grid over a whole field photo: its plants keep to no pots
        out += off_pitch(config, box, labels)
    return out


def unsure_regions(regions: list[dict[str, Any]]) -> list[str]:
    """A warning naming the regions whose plants the model was sure of for under :data:`CHECK_SURE` of their
    pixels (none without ``model_sure``)."""
    ids = [r["id"] for r in regions if needs_check(r)]
    if not ids:
        return []
    shown = listed(ids, 8)
    whose = (
        f"region {shown}: the model was sure of under {CHECK_SURE:.0%} of its"
        if len(ids) == 1
        else (f"regions {shown}: the model was sure of under {CHECK_SURE:.0%} of their")
    )
    return [f"{whose} plant pixels (model_sure; pale, dry or unusual plants): check their area in the mask"]


# an empty region holding at least this share of its area of another region's plant is named in a warning
FOREIGN_SHARE = 0.1


def joined_across_regions(
    rects: list[Region],
    regions: list[dict[str, Any]],
    plants: list[dict[str, Any]],
    labels: np.ndarray,
    grid: bool = True,
) -> list[str]:
    """A warning naming the regions reported empty that hold much of a plant of another region (at least
    :data:`FOREIGN_SHARE` of their area) of which less than half lies in its own region: plants of neighbouring
    pots touching (leaves, or thin traces the mask drew between them) were joined into one, counted in the pot of
    its centre, and the others read empty.

    ``labels``: the plants' labels as :func:`tie_plants` numbers them (label ``k`` is ``plants[k - 1]``);
    ``grid``: the regions are ``--grid``'s (its ``--grid-box`` is then named), not a ``--regions`` file's.
    """
    h, w = labels.shape
    found: dict[str, list[str]] = {}  # plant id -> the empty regions holding it
    # label -> whether at least half of the plant lies in its own region (a plant leaning over into an empty
    # neighbour pot does; plants of several pots joined into one do not)
    sizes = np.bincount(labels.ravel())
    by_id = {r.id: r for r in rects}
    home: dict[int, bool] = {}
    for k, plant in enumerate(plants, start=1):
        r = by_id.get(str(plant.get("region", "")))
        if r is None or k >= len(sizes):
            continue
        own = labels[max(0, r.y) : max(0, r.y + r.height), max(0, r.x) : max(0, r.x + r.width)] == k
        home[k] = int(own.sum()) >= 0.5 * sizes[k]
    for rect, row in zip(rects, regions, strict=True):
        x0, y0, x1, y1 = max(0, rect.x), max(0, rect.y), min(w, rect.x + rect.width), min(h, rect.y + rect.height)
        if row.get("status") != "empty" or x1 <= x0 or y1 <= y0:
            continue
        cell = labels[y0:y1, x0:x1]
        counts = np.bincount(cell.ravel())
        counts[0] = 0
        if counts.max(initial=0) >= FOREIGN_SHARE * cell.size and not home.get(int(counts.argmax()), True):
            found.setdefault(plants[int(counts.argmax()) - 1]["id"], []).append(rect.id)
    if not found:
        return []
    ids = [r for rs in found.values() for r in rs]
    shown = listed(ids, 6)
    whose = ", ".join(list(found)[:3]) + (", ..." if len(found) > 3 else "")
    return [
        f"region{'s' if len(ids) > 1 else ''} {shown} {'hold' if len(ids) > 1 else 'holds'} no plant of "
        f"{'their' if len(ids) > 1 else 'its'} own but much of plant {whose}: plants of neighbouring pots may "
        "be joined into one (see its _plants.png; --split-depth 3 splits more"
        + (", --grid-box places the grid)" if grid else ")")
    ]


def crowded_cells(regions: list[dict[str, Any]], grid: str, whole_image: bool = False) -> list[str]:
    """A warning when a grid's cells look laid over the wrong pots: at least a fifth of them (and 2) hold two or
    more plants while at least a fifth (and 2) are empty, as a ``3x6`` grid on a tray of 6 rows and 3 columns
    gives; the counts of such a grid land in the wrong pots without an error. A grid laid over the whole image
    (``whole_image``: no tray found) is more likely off the tray than turned: the hint says so."""
    counts = [r.get("plant_count", 0) for r in regions if r.get("status") != "outside"]
    crowded, empty = sum(c >= 2 for c in counts), sum(c == 0 for c in counts)
    need = max(2, len(counts) / 5)
    if crowded < need or empty < need:
        return []
    rows, cols = parse_grid(grid)
    other = f"; is the tray {cols}x{rows} (rows x columns)?" if rows != cols else "; is the grid right?"
    if whole_image:  # no tray found: the grid may lie off the tray as well
        other += " (the grid spans the whole image: if the tray is smaller, give --grid-box X,Y,W,H)"
    return [f"--grid {grid}: {crowded} of {len(counts)} cells hold 2 or more plants and {empty} are empty{other}"]


def off_pitch(config: TraitsConfig, box: tuple[int, int, int, int], labels: np.ndarray) -> list[str]:
    """A warning when the grid's cells drift off its plants' pots (:func:`grid_misfit`), with what to check.

    Args:
        config: the settings (``grid``, ``grid_box``).
        box: the box the grid spans (px): the tray or the pots found, or ``--grid-box``.
        labels: ``(H, W)`` plant labels.
    """
    rows, cols = parse_grid(config.grid or "")
    found = grid_misfit(box, labels, rows, cols)
    if found is None:
        return []
    side, cell, pitch = found
    if config.grid_box:
        advice = "does --grid-box span the pots (the tray's inside), and is the grid's shape the tray's?"
    else:
        advice = (
            "is the tray cut by the photo's edge, or the grid's shape wrong? Give --grid-box X,Y,W,H spanning the "
            "whole tray (X and Y may be negative)"
        )
    digits = 0 if round(cell) != round(pitch) else 1 if round(cell, 1) != round(pitch, 1) else 2  # "7 ... 7" said no
    return [
        f"--grid {config.grid}: its cells are {cell:.{digits}f} px {side} but the plants stand {pitch:.{digits}f} px "
        "apart, so "
        f"plants may be counted in a neighbour's cell; {advice}"
    ]
