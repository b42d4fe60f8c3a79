"""Tests of agriseg.crop.traits.checks: warnings about a photo's regions."""

from __future__ import annotations

import numpy as np


def test_a_grid_laid_the_wrong_way_round_is_warned_about() -> None:
    """``--grid 3x6`` on a tray of 6 rows and 3 columns: two plants in some cells, none in others (the counts
    the sweep saw); a right grid with a few empty pots and a pot of two seedlings stays quiet."""
    from agriseg.crop.traits.checks import crowded_cells

    wrong = [0, 2, 2, 0, 2, 0, 0, 2, 0, 1, 1, 1, 0, 2, 0, 2, 1, 0]
    (msg,) = crowded_cells([{"plant_count": c, "status": "ok"} for c in wrong], "3x6")
    assert msg == "--grid 3x6: 6 of 18 cells hold 2 or more plants and 8 are empty; is the tray 6x3 (rows x columns)?"
    right = [1] * 15 + [0, 0, 2]
    assert crowded_cells([{"plant_count": c, "status": "ok"} for c in right], "3x6") == []
    # a grid laid over the whole photo (no tray found) is off the tray, not turned (session 72's sweep)
    (msg,) = crowded_cells([{"plant_count": c, "status": "ok"} for c in wrong], "3x6", whole_image=True)
    assert "is the tray 6x3 (rows x columns)? (the grid spans the whole image: if the tray is smaller, give " in msg


def test_an_empty_pot_holding_a_neighbours_joined_plant_is_named() -> None:
    """Thin traces between plants of neighbouring pots joined them into one plant, counted in one pot; the
    others read `empty` without a word (session 72's sweep: 9 pots)."""
    from agriseg.crop.traits.checks import joined_across_regions
    from agriseg.crop.traits.regions import grid_regions

    rects = grid_regions((0, 0, 30, 10), 1, 3)  # three pots of 10 x 10 px
    labels = np.zeros((10, 30), np.int32)
    labels[2:8, 2:28] = 1  # one object over all three pots, its centre in pot 2
    labels[5, 0:2] = 0
    plants = [{"id": "2.1", "region": "2"}]
    regions = [{"id": "1", "status": "empty"}, {"id": "2", "status": "ok"}, {"id": "3", "status": "empty"}]
    (msg,) = joined_across_regions(rects, regions, plants, labels)
    assert msg.startswith("regions 1, 3 hold no plant of their own but much of plant 2.1: plants of neighbouring")
    labels[2:8, 2:8] = 0  # pot 1 now holds 3 px of it only (a leaf tip): no warning for it
    labels[2:8, 9] = 0
    labels[2:3, 8] = 1
    labels[2:8, 28:30] = 1  # as much of it in pot 3 as in pot 2
    (msg,) = joined_across_regions(rects, regions, plants, labels)
    assert msg.startswith("region 3 holds no plant of its own")
    # one plant leaning over into an empty neighbour pot (most of it at home): no alarm (session 72's review)
    labels[:] = 0
    labels[1:9, 11:23] = 1  # 10 x 8 px in pot 2, 3 x 8 px (30 % of the cell) in pot 3
    assert joined_across_regions(rects, regions, plants, labels) == []


def test_a_plant_with_half_of_it_in_its_own_pot_is_not_called_joined() -> None:
    """A plant leaning over into an empty neighbour pot with at least half of its pixels at home is no sign of
    plants joined across pots: only one with under half at home names the empty pot."""
    from agriseg.crop.traits.checks import joined_across_regions
    from agriseg.crop.traits.regions import Region

    rects = [Region("A", 0, 0, 10, 10), Region("B", 10, 0, 10, 10)]
    rows = [{"id": "A", "status": "ok"}, {"id": "B", "status": "empty"}]
    plants = [{"id": "A.1", "region": "A"}]
    labels = np.zeros((10, 20), np.int32)
    labels[:, 5:15] = 1  # 50 px in A, 50 in B
    assert joined_across_regions(rects, rows, plants, labels) == []
    labels[:, 5] = 0  # 40 px in A, 50 in B
    said = joined_across_regions(rects, rows, plants, labels)
    assert len(said) == 1 and said[0].startswith("region B holds no plant of its own but much of plant A.1")


def test_a_misfit_grid_says_sizes_that_differ(monkeypatch) -> None:  # noqa: ANN001
    """ "its cells are 7 px wide but the plants stand 7 px apart" gave no reason (session 94's sweep)."""
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits import checks

    config = TraitsConfig(grid="100x100")
    for cell, pitch, said in ((6.66, 7.21, "6.7 px wide but the plants stand 7.2 px"),
                              (40.0, 52.0, "40 px wide but the plants stand 52 px")):  # fmt: skip
        monkeypatch.setattr(checks, "grid_misfit", lambda *a, c=cell, p=pitch: ("wide", c, p))
        (line,) = checks.off_pitch(config, (0, 0, 666, 666), np.zeros((4, 4), int))
        assert said in line, line
