"""The size rule for a user's own tiles (agriseg.text.sizes)."""

from __future__ import annotations

import pytest

from agriseg.text.sizes import suggest_sizes


def test_a_256_px_tile_is_one_patch_not_refused() -> None:
    s = suggest_sizes(256)
    assert s["patch"] == 256 and s["grid"] == 16 and s["image_size"] % s["vision_patch"] == 0


def test_grid_keeps_objects_of_the_given_size() -> None:
    s = suggest_sizes(256, resolution=0.5, min_object=10)
    assert s["cell_m"] <= 5  # cells at most half the smallest object
    assert suggest_sizes(256, 0.5)["grid"] == 16


def test_large_tiles_and_impossible_objects_are_explained() -> None:
    s = suggest_sizes(2048, resolution=0.5, min_object=20)
    assert s["patch"] == 448 and s["grid"] == 24
    assert any("cut into 448-px patches" in n for n in s["notes"])
    # 20 m objects in 10 m pixels: no 32-cell grid of a 448-px patch keeps them; the patch was kept at 448 px
    # while the note said "use smaller tiles" (session 103's list): the patch proposed is the one that does
    s = suggest_sizes(2048, resolution=10, min_object=20)
    assert s["patch"] == 32 and s["grid"] == 32 and s["cell_m"] <= 10
    assert any("cut into 32-px patches" in n for n in s["notes"])
    s = suggest_sizes(256, resolution=1, min_object=5)
    assert s["patch"] == 80 and s["grid"] == 32 and s["cell_m"] == 2.5
    assert "need cells of at most 2.5 m: 32 cells of 80-px patches" in s["notes"][0], s["notes"]
    # a 20-px tile of 1 m pixels keeps 2.1 m objects with one cell per pixel: it was made a 33-px tile of 1.65 m
    # cells, larger than the image and too coarse (the review of session 104's change)
    s = suggest_sizes(20, resolution=1, min_object=2.1)
    assert (s["patch"], s["grid"], s["cell_m"], s["notes"]) == (20, 20, 1.0, [])
    with pytest.raises(ValueError, match="too small"):
        suggest_sizes(4)


def test_objects_under_two_pixels_are_said_to_need_a_finer_image() -> None:
    """5 m objects in 10 m pixels were said to "need 256 cells per 64-px patch", more cells than pixels."""
    (note,) = suggest_sizes(64, resolution=10, min_object=5)["notes"]
    assert "under two pixels of 10 m" in note and "cells per" not in note


def test_extreme_ratios_are_explained_not_an_overflow() -> None:
    """Found by a bad-input sweep (session 78): 1e300 m/px over 1e-300 m objects overflowed to a traceback."""
    (note,) = suggest_sizes(256, resolution=1e300, min_object=1e-300)["notes"]
    assert "no grid resolves them" in note


def test_the_help_gives_the_smallest_size_it_takes() -> None:
    """`--size` said x>=1 in its help and refused 7 (session 95's sweep): the range is the smallest grid's."""
    from click.testing import CliRunner

    from agriseg.cli import main
    from agriseg.text.sizes import GRIDS

    assert "x>=8" in CliRunner().invoke(main, ["text", "suggest-sizes", "--help"]).output and GRIDS[0] == 8
    res = CliRunner().invoke(main, ["text", "suggest-sizes", "--size", "7"])
    assert res.exit_code == 2 and "7 is not in the range x>=8" in res.output
    assert CliRunner().invoke(main, ["text", "suggest-sizes", "--size", "8"]).exit_code == 0
