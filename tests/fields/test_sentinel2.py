from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch

from agriseg.fields import sentinel2 as s2


def test_boa_offset_from_baseline_and_date() -> None:
    assert s2.boa_offset("04.00") == -1000.0
    assert s2.boa_offset("N0509") == -1000.0
    assert s2.boa_offset("03.01") == 0.0
    assert s2.boa_offset(date="2022-03-01") == -1000.0
    assert s2.boa_offset(date=dt.date(2021, 6, 1)) == 0.0
    assert s2.boa_offset() == 0.0
    with pytest.raises(ValueError, match="baseline"):
        s2.boa_offset("latest")


def test_prepare_input_applies_offset_clip_and_divisor() -> None:
    dn = np.array([[[500, 1000, 4000]]], np.uint16)  # (1, 1, 3)
    out = s2.prepare_input(dn, offset=-1000.0, divisor=3000.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [0.0, 0.0, 1.0])
    t = s2.prepare_input(torch.tensor(dn.astype(np.int32)), offset=0.0, divisor=1000.0)
    torch.testing.assert_close(t[0, 0], torch.tensor([0.5, 1.0, 4.0]))
    with pytest.raises(ValueError):
        s2.scale_for_model(dn, divisor=0)


def test_stack_and_swap_windows_order() -> None:
    a = np.full((4, 2, 2), 1, np.uint16)
    b = np.full((4, 2, 2), 2, np.uint16)
    ab = s2.stack_windows(a, b, "ab")
    ba = s2.stack_windows(a, b, "ba")
    assert ab.shape == (8, 2, 2) and ab[0, 0, 0] == 1 and ab[4, 0, 0] == 2
    np.testing.assert_array_equal(s2.swap_windows(ab), ba)
    torch.testing.assert_close(
        s2.swap_windows(torch.from_numpy(ab.astype(np.float32))), torch.from_numpy(ba.astype(np.float32))
    )
    assert s2.stack_windows(a, None, "a").shape == (4, 2, 2)
    with pytest.raises(ValueError, match="window B"):
        s2.stack_windows(a, None, "ab")
    with pytest.raises(ValueError, match="bands"):
        s2.stack_windows(a[:3], b, "ab")


def test_minmax_per_band_range() -> None:
    x = np.random.default_rng(0).uniform(100, 5000, (2, 8, 16, 16)).astype(np.float32)
    y = s2.minmax_per_band(x)
    np.testing.assert_allclose(y.min(axis=(-2, -1)), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.max(axis=(-2, -1)), 1.0, atol=1e-6)


def test_read_s2_wrong_band_count_names_file(tmp_path) -> None:
    from agriseg.fields.synthetic import _write_tif

    p = tmp_path / "three.tif"
    _write_tif(p, np.ones((3, 8, 8), np.uint16), (0.0, 0.0))
    with pytest.raises(ValueError, match=r"three\.tif: has 3 bands, expected 8"):
        s2.read_s2(p, bands=8)
    arr, profile = s2.read_s2(p, bands=(3, 4))
    assert arr.shape == (3, 8, 8) and profile["count"] == 3
    with pytest.raises(FileNotFoundError, match="nope.tif"):
        s2.read_s2(tmp_path / "nope.tif")


@pytest.mark.parametrize(
    ("descriptions", "said"),
    [
        (["B04", "B03", "B02", "B08"] * 2, None),
        ([f"win_{w}_{b}" for w in "ab" for b in s2.BAND_NAMES], None),  # fields download's own names
        (["Red (B4)", "Green (B3)", "Blue (B2)", "NIR (B8)"], None),
        ([None] * 8, None),  # undescribed: read as given
        (["B02", "B03", "B04", "B08"] * 2, "gdal_translate -b 3 -b 2 -b 1 -b 4 -b 7 -b 6 -b 5 -b 8 IN.tif OUT.tif"),
        (["B8", "B4", "B3", "B2"], "gdal_translate -b 2 -b 3 -b 4 -b 1 IN.tif OUT.tif"),
        (["B04", "B03", "B02", "B11"], "described as B04, B03, B02, B11, the model reads R, G, B, NIR"),
        # window B's bands first, named as fields download names them: read as window A unsaid (session 86's sweep)
        (
            [f"win_{w}_{b}" for w in "ba" for b in s2.BAND_NAMES],
            "reads window A's four bands, then window B's; reorder them: gdal_translate -b 5 -b 6 -b 7 -b 8 -b 1",
        ),
        ([f"window {w.upper()} {b}" for w in "ab" for b in ("B04", "B03", "B02", "B08")], None),
    ],
)
def test_bands_described_in_another_order_are_said(descriptions: list, said: str | None) -> None:
    """A stack of B02, B03, B04, B08 labelled so was read as R, G, B, NIR without a word (session 71)."""
    problem = s2.band_order_problem(descriptions)
    assert problem is None if said is None else said in problem, problem


def test_a_full_l2a_stack_is_told_which_bands_to_take() -> None:
    """A 12-band L2A stack was refused with "has 12 bands, the model needs 8" only (session 71's sweep)."""
    names = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
    eight = s2.bands_to_take(names, 8)
    assert "its bands 4, 3, 2, 8 are B04, B03, B02, B08: take them from each date (gdal_translate -b 4 -b 3" in eight
    assert s2.bands_to_take(names, 4).endswith("gdal_translate -b 4 -b 3 -b 2 -b 8 IN.tif OUT.tif")
    assert s2.bands_to_take([None] * 12, 8) == "" and s2.bands_to_take(names[:3], 8) == ""


def test_a_product_of_the_first_day_of_baseline_04_gets_the_offset() -> None:
    """Products of 25 January 2022 itself were read without the -1000: 0.1 reflectance too bright."""
    assert s2.boa_offset(date=s2.PB04_START) == -1000.0
    assert s2.boa_offset(date="2022-01-25T10:15:00Z") == -1000.0
    assert s2.boa_offset(date=s2.PB04_START - dt.timedelta(days=1)) == 0.0


def test_swapping_windows_of_a_numpy_batch_matches_torch() -> None:
    """A batched (B, 8, H, W) numpy stack was concatenated along the batch axis: twice the samples, unswapped."""
    x = np.arange(2 * 8 * 3 * 3, dtype=np.float32).reshape(2, 8, 3, 3)
    got = s2.swap_windows(x)
    assert got.shape == x.shape
    np.testing.assert_array_equal(got, s2.swap_windows(torch.from_numpy(x)).numpy())
    np.testing.assert_array_equal(got[:, :4], x[:, 4:])


def test_an_offset_that_darkens_a_fifth_of_the_pixels_to_nothing_is_said() -> None:
    """Harmonised data given the -1000 (a fifth of its pixels taken to 0) were read on without a word."""
    bands = np.full((3, 10, 10), 2000, np.uint16)
    bands[:, :2] = 800  # 20 % of the pixels at 800: at 0 or below once 1000 is taken off
    said = s2.scale_problems(bands, offset=-1000.0)
    assert len(said) == 1 and "takes 20% of the pixels" in said[0] and "--offset none" in said[0]
    bands[:, :2] = 2000
    bands[:, 0, :3] = 800  # 3 %: the darkest water of a real product, not harmonised data
    assert s2.scale_problems(bands, offset=-1000.0) == []


def test_a_baseline_written_as_a_product_name_part_before_04_has_no_offset() -> None:
    """``N0301`` (the product name's baseline) was read as 301, so -1000 was applied to a product without it."""
    assert s2.boa_offset("N0301") == 0.0
    assert s2.boa_offset("N0400") == -1000.0


def test_windows_of_different_sizes_are_refused_whatever_the_order() -> None:
    """A window B of another size went through unnoticed for order "a" (mutation sweep)."""
    a = np.ones((4, 4, 4), np.uint16)
    for order in ("a", "ab"):
        with pytest.raises(ValueError, match=r"window sizes differ: A \(4, 4\), B \(2, 4\)"):
            s2.stack_windows(a, a[:, :2], order)


def test_an_all_nan_scene_has_no_scale_problem_said_and_no_numpy_warning() -> None:
    """`fields robustness --scene` of an all-NaN scene printed numpy's "All-NaN slice encountered" with a source
    path before its one-line error (session 107's sweep); nor is it "0-1 reflectance"."""
    import warnings

    from agriseg.fields.sentinel2 import scale_problems

    bands = np.full((4, 8, 8), np.nan, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scale_problems(bands) == []
