"""Label files read as class ids (``agriseg.crop.labels``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agriseg.crop import labels
from agriseg.crop.labels import read_label


def test_a_palette_label_coloured_against_its_indexes_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Index 0 green and index 1 black: binary mode read green as background, every class inverted, without a
    word (crop evaluate scored mIoU 0.96 where the colours give 86.87; session 71's sweep)."""
    monkeypatch.setattr(labels, "_SAID", set())
    ids = np.zeros((4, 6), np.uint8)
    ids[:, 3:] = 1
    palettes = (("usual.png", [0, 0, 0, 0, 255, 0]), ("padded.png", [255, 255, 255, 0, 255, 0]),
                ("a.png", [0, 255, 0, 0, 0, 0]), ("b.png", None))  # fmt: skip
    for name, palette in palettes:
        im = Image.fromarray(ids, "L").convert("P")
        im.putpalette((palette or [0, 255, 0, 0, 0, 0]) + [0] * (768 - 6))
        im.save(tmp_path / name)
    with caplog.at_level("WARNING", logger="agriseg"):
        assert np.array_equal(read_label(tmp_path / "usual.png"), ids) and not caplog.text
        read_label(tmp_path / "padded.png")  # white background, green plants, black only past the classes
        assert not caplog.text
        assert np.array_equal(read_label(tmp_path / "a.png"), ids)  # still by index: a warning, not a guess
        read_label(tmp_path / "b.png")  # the same palette: said once
    assert caplog.text.count("index 0 (background in --label-mode binary) is 0,255,0 and not black") == 1
    assert "a.png" in caplog.text and "give --label-mode colormap" in caplog.text
