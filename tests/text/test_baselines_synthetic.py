"""Synthetic landscapes and the floors a text-mask model must beat (constant, nearest colour)."""

from __future__ import annotations

import numpy as np
import pytest

from agriseg.text.baselines import cell_colours, class_colours, nearest_colour_grid
from agriseg.text.grid import mask_to_grid
from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscapes


def test_landscapes_are_reproducible_and_consistent() -> None:
    a = make_landscapes(6, 3, LandscapeConfig(size=48))
    b = make_landscapes(6, 3, LandscapeConfig(size=48))
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    imgs, sems, insts = a
    assert imgs.shape == (6, 48, 48, 3) and imgs.dtype == np.uint8
    assert sems.min() >= 0 and sems.max() < len(SYNTH_CLASSES)
    assert ((insts > 0) == (sems > 0)).all()  # every object pixel belongs to an instance, and only those
    for img_inst, img_sem in zip(insts, sems, strict=True):
        for i in np.unique(img_inst[img_inst > 0]):
            assert len(np.unique(img_sem[img_inst == i])) == 1  # an instance has one class


def test_every_class_occurs_and_fields_are_irregular() -> None:
    _, sems, _ = make_landscapes(60, 0, LandscapeConfig(size=64))
    present = [(sems == c).any((1, 2)).mean() for c in range(len(SYNTH_CLASSES))]
    assert min(present) > 0.2 and present[1] == 1.0  # every image has a field
    # irregular parcels: a field's pixels do not fill its bounding box
    fill = []
    for s in sems[:20]:
        ys, xs = np.nonzero(s == 1)
        fill.append(len(ys) / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1)))
    assert np.mean(fill) < 0.9


def test_cell_colours_and_nearest_colour() -> None:
    img = np.zeros((8, 8, 3), dtype=np.uint8)
    img[:, 4:] = (0, 0, 200)
    img[:4, :4] = (0, 200, 0)
    cols = cell_colours(img, 2)
    assert cols.shape == (2, 2, 3) and cols[0, 0, 1] == 200 and cols[1, 1, 2] == 200
    mask = np.zeros((8, 8), dtype=np.int64)
    mask[:, 4:] = 3
    mask[:4, :4] = 1
    colours = class_colours([img], [mask], 2, 4)
    assert np.isnan(colours[2]).all()  # tree fills no cell: never predicted
    assert np.allclose(colours[1], (0, 200, 0)) and np.allclose(colours[3], (0, 0, 200))
    assert np.array_equal(nearest_colour_grid(img, 2, colours), mask_to_grid(mask, 2, 4))


def test_nearest_colour_beats_constants_on_landscapes() -> None:
    from agriseg.text.reward import mean_dice

    imgs, sems, _ = make_landscapes(40, 1, LandscapeConfig(size=64))
    c_imgs, c_sems, _ = make_landscapes(40, 2, LandscapeConfig(size=64))
    colours = class_colours(c_imgs, c_sems, 16, 4)
    near = np.mean(
        [
            mean_dice(nearest_colour_grid(i, 16, colours), mask_to_grid(s, 16, 4), 4)
            for i, s in zip(imgs, sems, strict=True)
        ]
    )
    const = max(np.mean([mean_dice(np.full((16, 16), c), mask_to_grid(s, 16, 4), 4) for s in sems]) for c in range(4))
    assert near > const


def test_demo_config_checks_sizes() -> None:
    from agriseg.text.config import DemoConfig

    cfg = DemoConfig()
    assert cfg.model.image_size == cfg.landscape.size and cfg.patch % cfg.grid == 0
    with pytest.raises(ValueError, match="image_size"):
        DemoConfig(landscape={"size": 32})
    with pytest.raises(ValueError, match="nest"):
        DemoConfig(patch=24)
