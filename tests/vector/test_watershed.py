"""The one watershed splitter (:mod:`agriseg.vector.watershed`) and its three callers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from scipy import ndimage

from agriseg.vector.watershed import distance_peaks, negative_distance, split_components

SRC = Path(__file__).resolve().parents[2] / "src" / "agriseg"


def _two_discs(r: int = 12, gap: int = 20) -> np.ndarray:
    yy, xx = np.mgrid[:40, :60]
    return ((yy - 20) ** 2 + (xx - 18) ** 2 <= r * r) | ((yy - 20) ** 2 + (xx - 18 - gap) ** 2 <= r * r)


def test_touching_discs_split_at_the_neck() -> None:
    mask = _two_discs()
    comps, n = ndimage.label(mask)
    assert n == 1
    labels, top, split = split_components(comps, distance_peaks(2.0), negative_distance)
    assert split == [(1, 7, 34, 5, 52)]  # the box of its pixels with a one-pixel margin
    assert top == 2 and set(np.unique(labels).tolist()) == {0, 1, 2}
    assert labels[20, 10] != labels[20, 45]  # one disc each
    assert labels[20, 10] == 1  # the first seed's piece keeps the component's label
    sizes = np.bincount(labels.ravel())[1:]
    assert abs(int(sizes[0]) - int(sizes[1])) <= 0.05 * sizes.sum()
    # a piece under min_piece_px keeps the component whole
    whole, top, _ = split_components(comps, distance_peaks(2.0), negative_distance, min_piece_px=int(mask.sum()))
    assert top == 1 and np.array_equal(whole, comps)
    # a split depth deeper than the neck: one seed, nothing split
    assert split_components(comps, distance_peaks(30.0), negative_distance)[1] == 1


def test_given_seeds_split_only_components_with_two() -> None:
    comps = np.zeros((10, 30), np.int32)
    comps[2:8, 1:12] = 4  # numbers may skip
    comps[2:8, 15:28] = 7
    seeds = np.zeros_like(comps)
    seeds[4, 2], seeds[4, 10] = 1, 2  # two seeds in component 4
    seeds[4, 20] = 3  # one in component 7
    elev = np.zeros(comps.shape)
    labels, top, split = split_components(comps, seeds, elev)
    assert [c for c, *_ in split] == [4]
    assert top == 8 and labels[4, 2] == 4 and labels[4, 10] == 8
    assert (labels[comps == 7] == 7).all()
    # seeds smaller than min_seed_px do not count
    assert split_components(comps, seeds, elev, min_seed_px=2)[1] == 7


def test_packed_and_separate_floods_agree_on_unique_elevations() -> None:
    rng = np.random.default_rng(3)
    mask = ndimage.gaussian_filter(rng.random((80, 80)), 3) > 0.5
    comps, _ = ndimage.label(mask)
    seeds, _ = ndimage.label(ndimage.binary_erosion(mask, iterations=3))
    elev = rng.random(mask.shape)  # no ties
    packed = split_components(comps, seeds, elev)
    separate = split_components(comps, seeds, elev, pack=False)
    assert packed[1] > comps.max() and np.array_equal(packed[0], separate[0])


def test_diagonal_parts_stay_with_the_first_piece() -> None:
    mask = _two_discs()
    assert mask[20, 6] and not mask[21, 6] and not mask[20, 5]
    mask[21, 5] = mask[22, 4] = True  # touch the first disc only diagonally
    comps, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    assert n == 1
    labels, top, _ = split_components(comps, distance_peaks(2.0), negative_distance)
    assert top == 2 and labels[21, 5] == labels[22, 4] == labels[20, 10] == 1 and labels[20, 45] == 2


def test_the_callers_use_it() -> None:
    """No other module runs scikit-image's watershed; the three splitters call split_components."""
    runs = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if re.search(r"\bwatershed\(", p.read_text()))
    assert runs == ["vector/watershed.py"], runs
    for caller in ("vector/instances.py", "crop/traits/plants.py", "text/instances.py"):
        assert "split_components(" in (SRC / caller).read_text(), caller


def test_pixels_exactly_at_the_core_threshold_seed_fields() -> None:
    """``core_threshold`` is the probability a pixel needs to seed a core: pixels exactly at it seeded none, so
    two fields joined by a neck stayed one."""
    from agriseg.vector import PolygonizeConfig, label_instances

    mask = np.zeros((12, 26), bool)
    mask[1:11, 1:11] = mask[1:11, 15:25] = True
    mask[5:7, 11:15] = True  # a 2-px neck joins the two squares
    cfg = PolygonizeConfig(core_threshold=0.8, progress=False)  # 204 of 255
    labels, n = label_instances(mask, np.where(mask, 204, 0).astype(np.uint8), cfg)
    assert n == 2 and labels[5, 5] != labels[5, 20]
    _, n = label_instances(mask, np.where(mask, 203, 0).astype(np.uint8), cfg)
    assert n == 1  # below the threshold: no core, one field


def test_the_tie_breaker_never_outweighs_one_probability_step() -> None:
    """Pixels flood in order of field probability, the scene index only breaking ties: a tie-breaker larger
    than one step of 1/255 moved split lines off the probability minimum."""
    from agriseg.vector.instances import _elevation

    rng = np.random.default_rng(0)
    prob = rng.integers(100, 104, (6, 8)).astype(np.uint8)  # (h, w) many ties, steps of one
    mask = np.ones(prob.shape, bool)
    elev = _elevation(mask, prob, (0, 0), (6, 8)).ravel()  # the component is the whole scene
    index = np.arange(prob.size)  # scene index of each pixel
    expected = np.lexsort((index, 255 - prob.ravel().astype(int)))  # higher probability first, then index
    assert np.argsort(elev, kind="stable").tolist() == expected.tolist()
