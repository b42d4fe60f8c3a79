"""The GGHT histogram picture of ``crop pseudolabel --plot``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from agriseg.crop.pseudolabel.gght import GGHTConfig, gght
from agriseg.crop.pseudolabel.plot import plot_histogram


def test_a_name_the_font_lacks_draws_without_warnings(tmp_path: Path) -> None:
    """A photo named 田地_15 printed two raw matplotlib "Glyph ... missing" warnings per picture (session 73)."""
    res = gght(np.random.default_rng(0).random((64, 64)), GGHTConfig())
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        out = plot_histogram(res, tmp_path / "h.png", title="田地_15")
    assert not [str(w.message) for w in said]
    assert Image.open(out).size[0] > 100
