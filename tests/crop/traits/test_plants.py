"""Plants on generated masks: counts, areas and shapes of discs, ellipses and touching pairs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from skimage.draw import disk, ellipse

from agriseg.crop.traits.plants import colour_traits, label_plants, plant_traits


def _discs(centres: list[tuple[int, int]], radius: int, shape: tuple[int, int] = (200, 300)) -> np.ndarray:
    m = np.zeros(shape, bool)
    for c in centres:
        m[disk(c, radius, shape=shape)] = True
    return m


def test_separate_discs_exact_count_and_area() -> None:
    centres = [(40, 40), (40, 150), (150, 80), (150, 240)]
    mask = _discs(centres, 18)
    one = _discs([(40, 40)], 18).sum()
    labels = label_plants(mask)
    plants = plant_traits(labels)
    assert len(plants) == 4
    assert [p["area"] for p in plants] == [one] * 4  # exact pixel counts
    assert abs(one - math.pi * 18**2) / (math.pi * 18**2) < 0.02
    for p in plants:  # a disc: round, full, as wide as high
        assert p["solidity"] > 0.97
        assert p["width"] == p["height"] == 35
        assert p["ellipse_major_axis"] == pytest.approx(p["ellipse_minor_axis"], rel=0.03)
    got = sorted((round(p["centroid_y"]), round(p["centroid_x"])) for p in plants)
    assert got == sorted(centres)


def test_touching_pair_split_into_two_plants() -> None:
    mask = _discs([(60, 60), (60, 96)], 20)  # centres 36 px apart: they overlap
    assert label_plants(mask).max() == 1  # by default (as crop traits) touching plants stay one component
    labels = label_plants(mask, split_depth=4)
    plants = plant_traits(labels)
    assert len(plants) == 2
    total = mask.sum()
    assert sum(p["area"] for p in plants) == total  # nothing lost
    for p in plants:  # each half within 2% of half the union
        assert p["area"] == pytest.approx(total / 2, rel=0.02)
    assert sorted(round(p["centroid_x"]) for p in plants) == pytest.approx([58, 98], abs=2)


def test_ellipse_axes_angle_and_no_oversplit() -> None:
    mask = np.zeros((200, 300), bool)
    rr, cc = ellipse(100, 150, 15, 50)  # 30 x 100 px, along x
    mask[rr, cc] = True
    plants = plant_traits(label_plants(mask))
    assert len(plants) == 1
    p = plants[0]
    assert p["ellipse_major_axis"] == pytest.approx(100, rel=0.02)
    assert p["ellipse_minor_axis"] == pytest.approx(30, rel=0.03)
    assert p["ellipse_angle"] == pytest.approx(0, abs=1) or p["ellipse_angle"] == pytest.approx(180, abs=1)
    # rising to the right (towards the top of the image): 45 degrees counter-clockwise from x
    diag = np.zeros((200, 200), bool)
    for t in range(-60, 61):
        diag[100 - t - 3 : 100 - t + 3, 100 + t] = True
    q = plant_traits(label_plants(diag))[0]
    assert q["ellipse_angle"] == pytest.approx(45, abs=1)


def test_min_size_and_units() -> None:
    mask = _discs([(50, 50)], 15) | _discs([(150, 200)], 3)  # a plant and a speck
    labels = label_plants(mask, min_size=50)
    assert labels.max() == 1
    px = plant_traits(labels)[0]
    mm = plant_traits(labels, px_per_mm=2.0)[0]
    assert mm["area"] == pytest.approx(px["area"] / 4)
    assert mm["width"] == pytest.approx(px["width"] / 2)
    assert mm["solidity"] == pytest.approx(px["solidity"])


def test_colour_traits_of_pure_green() -> None:
    c = colour_traits(np.tile(np.array([[0, 200, 0]], np.uint8), (10, 1)))
    assert c["mean_g"] == 200 and c["mean_r"] == 0
    assert c["mean_hue"] == pytest.approx(120)
    assert c["excess_green"] == pytest.approx(2.0)
    assert c["mean_a"] < -50  # green is negative a*
    gray = colour_traits(np.full((5, 3), 128, np.uint8))
    assert gray["excess_green"] == pytest.approx(0.0)


def test_mean_hue_of_hues_either_side_of_red_is_0_not_360() -> None:
    import colorsys

    def rgb(deg: float) -> list[int]:
        return [round(255 * v) for v in colorsys.hsv_to_rgb(deg / 360, 0.8, 0.8)]

    c = colour_traits(np.array([rgb(350)] * 50 + [rgb(10)] * 50, np.uint8))
    assert 0.0 <= c["mean_hue"] < 359.9995  # a table rounds to 6 digits: 359.99999997 would read 360


def test_plant_functions_refuse_arguments_that_give_wrong_numbers():
    """label_plants of an RGB mask failed in scipy ('structure and input must have equal rank'); plant_traits
    with a photo of another size raised IndexError deep inside, and px_per_mm=0 silently reported pixels."""
    import numpy as np
    import pytest

    from agriseg.crop.traits import label_plants, plant_traits

    mask = np.zeros((40, 50), bool)
    mask[10:30, 10:30] = True
    with pytest.raises(ValueError, match="2-D"):
        label_plants(np.dstack([mask] * 3))
    labels = label_plants(mask, min_size=10)
    with pytest.raises(ValueError, match="rgb is"):
        plant_traits(labels, rgb=np.zeros((30, 50, 3), np.uint8))
    for bad in (0, -2.0):
        with pytest.raises(ValueError, match="px_per_mm"):
            plant_traits(labels, px_per_mm=bad)
    assert plant_traits(labels, px_per_mm=2.0)[0]["area"] == 100.0  # 400 px at 2 px/mm
    with pytest.raises(TypeError, match=r"px_per_mm is a number of pixels per mm, or None for pixels; got '4'"):
        plant_traits(labels, px_per_mm="4")  # was "'<' not supported between 'int' and 'str'"


def test_probability_maps_and_float_photos_are_not_measured_wrongly():
    """label_plants(p) of a 0.1 probability map made every pixel one plant; plant_traits with a float photo in
    [0, 1] reported mean_g 0.63 where the uint8 photo gives 160."""
    import numpy as np
    import pytest

    from agriseg.crop.traits import label_plants, plant_traits

    with pytest.raises(ValueError, match="threshold it first"):
        label_plants(np.full((20, 20), 0.1))
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    labels = label_plants(mask.astype(np.float32), min_size=10)  # a 0/1 float mask is a mask
    rgb = np.full((20, 20, 3), 160, np.uint8)
    assert plant_traits(labels, rgb=rgb / 255.0)[0]["mean_g"] == plant_traits(labels, rgb=rgb)[0]["mean_g"]


def test_settings_out_of_range_are_refused() -> None:
    """min_size 0, a NaN or negative split depth, a negative join and an infinite scale were taken silently."""
    mask = _discs([(40, 40)], 10)
    for kwargs in ({"min_size": 0}, {"split_depth": float("nan")}, {"split_depth": -1.0}, {"join": -2}):
        with pytest.raises(ValueError, match=r"must be >= [01], got "):
            label_plants(mask, **kwargs)
    with pytest.raises(ValueError, match="positive and finite"):
        plant_traits(label_plants(mask), px_per_mm=float("inf"))


def test_edge_strips_of_exactly_the_limit_are_dropped_on_every_border() -> None:
    """A strip exactly ``thickness`` px wide was kept on one border by a changed rule (session 75's sweep)."""
    import numpy as np

    from agriseg.crop.traits.plants import drop_edge_strips

    labels = np.zeros((40, 40), np.int32)
    labels[10:20, 0:8] = 1  # left, 8 px
    labels[10:20, 32:40] = 2  # right, 8 px
    labels[0:8, 22:30] = 3  # top
    labels[32:40, 22:30] = 4  # bottom
    labels[22:30, 10:19] = 5  # inside: kept
    labels[0:9, 5:9] = 6  # top, 9 px: a plant
    out = drop_edge_strips(labels, thickness=8)
    # the plants kept numbered 1..N again, in their order: ids skipped the strips, so plant tables began at 2
    # while the count said 11 (session 108's sweep, the bundled sample 0003)
    assert sorted(set(np.unique(out).tolist()) - {0}) == [1, 2]
    assert (out[labels == 5] == 1).all() and (out[labels == 6] == 2).all()
    kept = np.zeros((40, 40), np.int32)
    kept[10:20, 10:20] = 5  # nothing dropped: a caller's ids stay as they were (the review's find)
    assert (drop_edge_strips(kept, thickness=8) == kept).all()


def test_a_piece_of_exactly_min_size_is_a_plant() -> None:
    """min_size is the smallest plant: a piece of exactly that many pixels was dropped as a speck."""
    mask = np.zeros((20, 40), bool)
    mask[2:7, 2:12] = True  # 50 px
    mask[10:17, 20:27] = True  # 49 px
    labels = label_plants(mask, min_size=50)
    assert labels.max() == 1 and (labels == 1).sum() == 50


def test_split_plants_are_numbered_in_raster_order_of_their_first_pixel() -> None:
    """The second half of a split pair was numbered after a plant lying wholly below it (plant ids in the tables
    did not follow the documented raster order)."""
    mask = _discs([(30, 30), (30, 66)], 20, (120, 120)) | _discs([(90, 40)], 20, (120, 120))
    labels = label_plants(mask, split_depth=4)
    cents = [tuple(np.argwhere(labels == i).mean(0).round()) for i in range(1, int(labels.max()) + 1)]
    assert cents == [(30, 30), (30, 66), (90, 40)]


def test_join_never_joins_pieces_outside_every_group() -> None:
    """With ``group`` (crop traits' regions), pieces of no group (0: outside every pot) were joined to each other."""
    mask = np.zeros((20, 40), bool)
    mask[5:15, 5:15] = True
    mask[5:15, 17:27] = True  # 2 px apart
    no_group = lambda comps: np.zeros(int(comps.max()) + 1, np.int64)  # noqa: E731
    one_group = lambda comps: np.ones(int(comps.max()) + 1, np.int64)  # noqa: E731
    assert label_plants(mask, min_size=10, join=3, group=no_group).max() == 2
    assert label_plants(mask, min_size=10, join=3, group=one_group).max() == 1


def test_excess_green_of_black_pixels_is_0_not_nan() -> None:
    """Black pixels (R + G + B = 0) have no chromatic coordinates: they count as 0 excess green, not NaN that
    turned a plant's whole mean into NaN."""
    c = colour_traits(np.array([[0, 0, 0], [0, 200, 0]], np.uint8))
    assert c["excess_green"] == pytest.approx(1.0)  # (0 + 2) / 2


def test_lab_colour_traits_of_pure_blue() -> None:
    """mean_b_lab is CIE b* (blue negative), not a*: pure blue is L* 32.3, a* 79.2, b* -107.9 (D65)."""
    c = colour_traits(np.array([[0, 0, 255]] * 3, np.uint8))
    assert (c["mean_l"], c["mean_a"], c["mean_b_lab"]) == pytest.approx((32.30, 79.19, -107.86), abs=0.01)


def test_a_plant_touching_any_border_is_not_in_frame() -> None:
    """in_frame was True for a plant touching the bottom (or another) border of the photo."""
    labels = np.zeros((40, 50), np.int32)
    labels[30:40, 20:30] = 1  # bottom border
    labels[0:10, 20:30] = 2  # top
    labels[15:25, 0:10] = 3  # left
    labels[15:25, 40:50] = 4  # right
    labels[15:25, 20:30] = 5  # inside, one pixel off every border
    labels[12, 20:30] = 0
    got = {p["id"]: p["in_frame"] for p in plant_traits(labels)}
    assert got == {1: False, 2: False, 3: False, 4: False, 5: True}


def test_every_shape_trait_is_in_its_own_unit_with_a_scale() -> None:
    """With px_per_mm, lengths (perimeter, width, axes, centroid) are divided by it, areas (area, convex hull) by its
    square, and ratios and angles not at all: a convex hull area in mm (not mm2) was 2x off at 2 px/mm."""
    mask = np.zeros((60, 80), bool)
    mask[10:30, 20:60] = True
    mask[30:40, 20:30] = True  # an L: its convex hull is larger than it
    labels = label_plants(mask, min_size=10)
    px, mm = plant_traits(labels)[0], plant_traits(labels, px_per_mm=2.0)[0]
    dims = {"area": 2, "convex_hull_area": 2, "perimeter": 1, "width": 1, "height": 1, "ellipse_major_axis": 1,
            "ellipse_minor_axis": 1, "centroid_x": 1, "centroid_y": 1, "solidity": 0, "ellipse_angle": 0}  # fmt: skip
    for k, d in dims.items():
        assert mm[k] == pytest.approx(px[k] / 2.0**d), k


def test_api_arguments_that_are_no_plants_are_refused() -> None:
    """Session 87's API sweep: a bool mask leaked scikit-image's "Non-integer image types are ambiguous", and
    a negative strip thickness was taken."""
    from agriseg.crop.traits.plants import drop_edge_strips

    mask = _discs([(100, 100)], 20)
    with pytest.raises(ValueError, match=r"not a bool mask: pass label_plants\(mask\)"):
        plant_traits(mask)
    assert len(plant_traits(label_plants(mask))) == 1
    with pytest.raises(ValueError, match="thickness must be 0 or more px, got -1"):
        drop_edge_strips(label_plants(mask), thickness=-1)


def test_pixel_counts_are_whole_numbers_without_a_scale() -> None:
    """Session 87's plots sweep: pixel counts and boxes were written as floats (`plant_area_px2 31951.0`,
    `width_px 200.0`); with a scale they are millimetres, fractions."""
    from agriseg.crop.traits.regions import Region, region_traits

    mask = _discs([(100, 100)], 20)
    (px,) = plant_traits(label_plants(mask))
    assert all(type(px[k]) is int for k in ("area", "convex_hull_area", "width", "height")), px
    (mm,) = plant_traits(label_plants(mask), px_per_mm=2.0)
    assert mm["area"] == pytest.approx(px["area"] / 4) and isinstance(mm["area"], float)
    plants = [{**px, "region": "1"}]
    (row,) = region_traits([Region("1", 50, 50, 100, 100)], mask, plants, None)
    assert all(type(row[k]) is int for k in ("plant_area", "vegetation_area", "x", "y", "width", "height")), row


@pytest.mark.parametrize(
    ("labels", "says"),
    [
        (np.zeros((4, 4), bool), "not a bool mask: pass label_plants(mask)"),
        (np.zeros((2, 4, 4), int), "one (H, W) image of plant ids, got shape (2, 4, 4)"),
        (np.zeros((0, 0), int), "labels are an empty (0, 0) image"),
        (np.array([[0, 255], [255, 0]], np.uint8), "a 0/255 vegetation mask? pass label_plants(mask > 0)"),
        (np.array([[0, -1], [1, 0]]), "plant ids from 1 (0 = none), not -1"),
    ],
)
def test_labels_that_are_no_plant_ids_are_said_plainly(labels: np.ndarray, says: str) -> None:
    """Session 90's API sweep: scipy's and numpy's own errors (a bool mask, a 3-D or an empty array); session
    105's: crop predict's 0/255 mask as it reads from its PNG was one plant of id 255, negative ids went by, and
    None was "not a object mask"."""
    from agriseg.crop.traits.plants import drop_edge_strips, plant_traits

    for fn in (drop_edge_strips, plant_traits):
        with pytest.raises(TypeError, match="labels are a .H, W. array of plant ids, not NoneType"):
            fn(None)
    assert len(plant_traits(np.array([[0, 255], [0, 0]], np.int32))) == 1  # int32 ids agriseg made: plant 255

    for fn in (drop_edge_strips, plant_traits):
        with pytest.raises(ValueError, match=re.escape(says)):
            fn(labels)


def test_colour_traits_and_region_traits_read_a_float_photo_as_plant_traits_does() -> None:
    """Session 92's API sweep: a photo / 255 gave mean_g 0.63 in region_traits and colour_traits (160 in
    plant_traits); no pixels gave eight numpy warnings and NaN; plants straight from plant_traits (no
    ``region`` key) left every region "empty"."""
    from agriseg.crop.traits.regions import grid_regions, region_traits

    assert colour_traits(np.array([[0.1, 0.6, 0.2]]))["mean_g"] == colour_traits(np.array([[26, 153, 51]]))["mean_g"]
    with pytest.raises(ValueError, match=r"RGB pixels \(N, 3\) with N > 0; got an array of shape \(0, 3\)"):
        colour_traits(np.zeros((0, 3), np.uint8))
    mask = np.zeros((60, 80), bool)
    mask[10:30, 10:30] = mask[40:50, 50:70] = True
    photo = np.zeros((60, 80, 3), np.uint8)
    photo[mask] = (30, 160, 40)
    plants = plant_traits(label_plants(mask))
    rows = region_traits(grid_regions((0, 0, 80, 60), 2, 2), mask, plants, rgb=photo / 255.0)
    assert [(r["status"], r["plant_count"], r.get("mean_g")) for r in rows] == [
        ("ok", 1, 160.0), ("empty", 0, None), ("empty", 0, None), ("ok", 1, 160.0)
    ]  # fmt: skip


def test_traits_of_a_numpy_scale_are_plain_floats_and_a_0_255_sure_mask_is_a_share() -> None:
    """px_per_mm=np.float32(4) made every trait a float32 (json.dumps refused them); a 0/255 sure mask gave
    model_sure 255 (session 99's API sweep)."""
    import json

    labels = np.zeros((20, 20), np.int32)
    labels[5:10, 5:12] = 1
    (row,) = plant_traits(labels, px_per_mm=np.float32(4), sure=(labels > 0).astype(np.uint8) * 255)
    assert type(row["area"]) is float and row["area"] == 35 / 16 and row["model_sure"] == 1.0
    json.dumps(row)


def test_a_number_given_as_text_is_named() -> None:
    """``min_size="50"`` failed with Python's "'>=' not supported between 'str' and 'int'" (session 99)."""
    from agriseg.crop.traits.gai import green_area_index
    from agriseg.crop.traits.plants import drop_edge_strips

    with pytest.raises(TypeError, match="min_size is a number, not '50'"):
        label_plants(np.zeros((5, 5), np.uint8), min_size="50")  # type: ignore[arg-type]
    # a file name was "got shape ()" (session 103's API sweep)
    with pytest.raises(TypeError, match=r"mask is a \(H, W\) array, not str: read the file first"):
        label_plants("mask.png")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="thickness is a number, not '3'"):
        drop_edge_strips(np.zeros((5, 5), np.int32), "3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="zenith is a number, not '10'"):
        green_area_index(0.3, zenith="10")  # type: ignore[arg-type]
    assert green_area_index(0.3, zenith=np.float32(10)).value > 0


def test_label_plants_names_the_setting_out_of_range() -> None:
    """Session 105's API sweep: `split_depth=-1` was said as "min_size 50 must be >= 1, split_depth -1 and join 0
    >= 0", naming the valid setting first."""
    mask = np.zeros((8, 8), bool)
    with pytest.raises(ValueError, match=r"^split_depth must be >= 0, got -1$"):
        label_plants(mask, split_depth=-1)
    with pytest.raises(ValueError, match=r"^min_size must be >= 1, got 0; join must be >= 0, got -2$"):
        label_plants(mask, min_size=0, join=-2)
