"""Green area index: the closed form of the Poisson model, saturation, and bad arguments."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from agriseg.crop.traits.gai import green_area_index


@pytest.mark.parametrize("gai", [0.0, 0.3, 1.0, 2.5, 6.0])
@pytest.mark.parametrize("zenith", [0.0, 30.0, 57.5])
def test_inverts_the_gap_fraction_model(gai: float, zenith: float) -> None:
    g = 0.5
    gap = math.exp(-g * gai / math.cos(math.radians(zenith)))  # the forward model
    out = green_area_index(1.0 - gap, zenith, g)
    assert not out.saturated
    assert out.value == pytest.approx(gai, abs=1e-9)


def test_closed_form_on_synthetic_gap_fractions() -> None:
    rng = np.random.default_rng(0)
    for gap in rng.uniform(1e-4, 1.0, 50):
        g = float(rng.uniform(0.3, 1.0))
        theta = float(rng.uniform(0, 80))
        want = -math.cos(math.radians(theta)) * math.log(gap) / g
        assert green_area_index(1.0 - gap, theta, g).value == pytest.approx(want, rel=1e-12)


def test_nadir_spherical_default() -> None:
    assert green_area_index(0.5).value == pytest.approx(2 * math.log(2))
    assert green_area_index(0.0).value == 0.0


def test_full_cover_is_saturated_not_infinite() -> None:
    out = green_area_index(1.0)
    assert out.saturated and out.value is None


@pytest.mark.parametrize("args", [(-0.1,), (1.1,), (float("nan"),), (0.5, 90.0), (0.5, 0.0, 0.0), (0.5, 0.0, 1.5)])
def test_bad_arguments(args: tuple) -> None:
    with pytest.raises(ValueError):
        green_area_index(*args)


def test_nearly_full_cover_has_a_finite_gai_not_saturated() -> None:
    """Only full cover (no gap at all) is saturated: a green fraction of 0.9999 has GAI -ln(1e-4) / 0.5."""
    g = green_area_index(0.9999)
    assert not g.saturated and g.value == pytest.approx(-math.log(1e-4) / 0.5)


def test_a_fraction_that_is_not_one_number_is_a_type_error() -> None:
    """Session 92's API sweep: an array said "The truth value of an array ... is ambiguous"."""
    assert green_area_index(np.float32(0.3)).value == pytest.approx(green_area_index(0.3).value)
    assert green_area_index(np.array(0.3)).value == pytest.approx(green_area_index(0.3).value)
    for wrong, said in ((np.array([0.3, 0.4]), "an array of shape (2,)"), ("0.3", "str"), (True, "bool")):
        with pytest.raises(TypeError, match=re.escape(f"green_fraction is one number, not {said}")):
            green_area_index(wrong)  # type: ignore[arg-type]
