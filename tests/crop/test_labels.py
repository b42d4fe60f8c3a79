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
    assert caplog.text.count("index 0 (background in label mode binary) is 0,255,0 and not black") == 1
    assert "a.png" in caplog.text
    assert "give --label-mode colormap" in caplog.text


@pytest.mark.parametrize("mode", ["binary", "index"])
def test_a_grey_label_with_an_alpha_band_is_read_by_its_grey(tmp_path: Path, mode: str) -> None:
    """An LA label's opaque alpha (255 everywhere) made every pixel vegetation in binary mode, and index mode
    refused it as a label of colours (session 80)."""
    truth = np.zeros((6, 8), np.uint8)
    truth[2:4, 3:6] = 1
    grey = truth * (255 if mode == "binary" else 1)
    Image.fromarray(np.stack([grey, np.full_like(grey, 255)], -1), "LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_label(tmp_path / "la.png", mode), truth)


def test_a_label_mode_not_known_is_refused(tmp_path: Path) -> None:
    """``label_mode='Binary'`` (a library call) read 0/255 labels as class ids: vegetation was 'ignore' and an
    all-background prediction scored mIoU 1.0 (session 80)."""
    from agriseg.config import OptionError

    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "l.png")
    with pytest.raises(OptionError, match="label mode 'Binary': not one of binary, index, colormap"):
        read_label(tmp_path / "l.png", "Binary")  # type: ignore[arg-type]


def test_a_mask_saved_as_jpeg_is_said_once_in_binary_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 0/255 mask saved as JPEG was read with every grey edge and speck as vegetation, with no word: 77 mIoU
    against itself (session 80). Said once, naming the first such label; a clean 0/255 or 0/1 label is not."""
    import logging

    monkeypatch.setattr(labels, "_SMOOTHED", [])
    yy, xx = np.mgrid[:64, :64]
    disc = (((yy - 30) ** 2 + (xx - 33) ** 2) <= 15**2).astype(np.uint8)  # edges off JPEG's 8-px blocks
    truth = disc * 255
    Image.fromarray(truth).save(tmp_path / "clean.png")
    Image.fromarray(truth // 255).save(tmp_path / "ones.png")
    Image.fromarray(truth).save(tmp_path / "a.jpg", quality=75)
    Image.fromarray(truth).save(tmp_path / "b.jpg", quality=75)
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        read_label(tmp_path / "clean.png")
        read_label(tmp_path / "ones.png")
        assert not caplog.records
        read_label(tmp_path / "a.jpg")
        read_label(tmp_path / "b.jpg")
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith(f"{tmp_path / 'a.jpg'}: a 0/255 label with grey values"), said
    # session 87's sweep: read as 0 / non-zero, its plants were 48-66 % too large; split at mid-grey, as drawn
    read = read_label(tmp_path / "b.jpg")
    assert (read != disc).mean() < 0.005 and abs(int(read.sum()) / int(disc.sum()) - 1) < 0.02  # 1.31 before
    # the review of that change: class ids and the colours of an RGB label keep the 0 / non-zero reading
    ids = disc.copy()
    ids[:, :10], ids[:, -10:] = 2, 255  # classes 1, 2 and an ignore band
    Image.fromarray(ids).save(tmp_path / "ids.png")
    assert (read_label(tmp_path / "ids.png") == (ids > 0)).all()
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:20], rgb[40:] = (255, 0, 0), (0, 100, 0)  # red weeds, dark-green crop
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert read_label(tmp_path / "rgb.png").sum() == 44 * 64


@pytest.mark.parametrize("quality", [95, 100])
def test_a_mask_saved_as_jpeg_at_high_quality_is_split_at_mid_grey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quality: int
) -> None:
    """At quality 95 (OpenCV's default) a JPEG'd 0/255 mask holds about 15 greys, all within a few levels of 0
    or 255: fewer than the "many greys" test counted, so every grey was vegetation and the plants came out
    8-27 % too large, with no word (session 108's sweep)."""
    monkeypatch.setattr(labels, "_SMOOTHED", [])
    yy, xx = np.mgrid[:96, :128]
    disc = (((yy - 40) ** 2 + (xx - 45) ** 2) <= 21**2) | (((yy - 70) ** 2 + (xx - 100) ** 2) <= 13**2)
    Image.fromarray(disc.astype(np.uint8) * 255).save(tmp_path / "m.jpg", quality=quality)
    greys = np.asarray(Image.open(tmp_path / "m.jpg"))
    assert ((greys > 0) & (greys < 255)).any()  # the file holds such greys (else the test tests nothing)
    read = read_label(tmp_path / "m.jpg")
    assert abs(int(read.sum()) / int(disc.sum()) - 1) < 0.01 and (read != disc).mean() < 0.002


def test_a_colour_label_saved_as_jpeg_reads_its_outlines_by_nearest_colour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peanut colour labels saved as JPEG: every blurred outline pixel matched no colour and went unscored (15 %
    of the pixels; vegetation IoU 77.28 -> 53.44, session 108's sweep). Read by nearest colour; a colour the
    colormap does not list (blue) stays ignored, and a PNG label keeps the exact reading."""
    monkeypatch.setattr(labels, "_NEAREST", [])
    yy, xx = np.mgrid[:96, :128]
    truth = np.zeros((96, 128), np.uint8)
    truth[((yy - 40) ** 2 + (xx - 45) ** 2) <= 21**2] = 1
    truth[((yy - 70) ** 2 + (xx - 100) ** 2) <= 13**2] = 2
    rgb = np.zeros((96, 128, 3), np.uint8)
    rgb[truth == 1], rgb[truth == 2] = (0, 255, 0), (255, 0, 0)
    rgb[:6, :6] = (0, 0, 255)  # a colour of no class
    rgb[70:90, 10:30] = (0, 128, 0)  # another, half-way between two classes' (the review: it was read as plants)
    Image.fromarray(rgb).save(tmp_path / "l.jpg", quality=90)
    Image.fromarray(rgb).save(tmp_path / "l.png")
    cmap = {"0,0,0": 0, "0,255,0": 1, "255,0,0": 2}
    read = read_label(tmp_path / "l.jpg", "colormap", cmap)
    assert (read[:6, :6] == 255).all() and (read[74:86, 14:26] == 255).all()  # unlisted: not scored, but its rim
    truth[70:90, 10:30] = 255
    plain = np.ones_like(truth, bool)
    plain[68:92, 8:32] = False  # (the rim of the unlisted square: the nearest listed colour, as an outline's blur)
    assert (read[6:][plain[6:]] != truth[6:][plain[6:]]).mean() < 0.01  # 255 (ignored) along every outline before
    for cls in (1, 2):
        assert abs(int((read == cls).sum()) / int((truth == cls).sum()) - 1) < 0.03
    assert labels._NEAREST == [tmp_path / "l.jpg"]
    exact = read_label(tmp_path / "l.png", "colormap", cmap)
    assert (exact[:6, :6] == 255).all() and (exact[6:] == truth[6:]).all()


@pytest.mark.parametrize("band", ["LA", "RGBA"])
def test_a_labels_transparent_pixels_are_background_in_binary_mode(tmp_path: Path, band: str) -> None:
    """Plants drawn on an image editor's transparent layer (background white and transparent) were read by
    colour: every pixel vegetation, vegetation IoU 9.46 with exit 0 (session 84's sweep)."""
    truth = np.zeros((6, 8), np.uint8)
    truth[2:4, 3:6] = 1
    alpha = truth * 255
    if band == "LA":
        pixels = np.stack([np.where(truth > 0, 200, 255).astype(np.uint8), alpha], -1)
    else:
        colour = np.where(truth[..., None] > 0, np.array([0, 255, 0], np.uint8), np.uint8(255))
        pixels = np.concatenate([colour, alpha[..., None]], -1)
    Image.fromarray(pixels, band).save(tmp_path / "l.png")
    np.testing.assert_array_equal(read_label(tmp_path / "l.png"), truth)


def test_a_label_of_0_1_and_255_in_binary_mode_is_said_to_hold_an_ignore_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0/1 labels with 255 as ignore, read in binary mode: 255 was vegetation and the warning said "saved as
    JPEG, or smoothed?" (session 84's sweep). It names the ignore value and --label-mode index."""
    import logging

    monkeypatch.setattr(labels, "_SMOOTHED", [])
    label = np.zeros((64, 64), np.uint8)
    label[16:48, 20:40] = 1
    label[:4] = 255
    Image.fromarray(label).save(tmp_path / "l.png")
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        read_label(tmp_path / "l.png")
    assert "a label of 0, 1 and 255 (255 = ignore?)" in caplog.text
    assert "give --label-mode index" in caplog.text
    assert "JPEG" not in caplog.text
    monkeypatch.setattr(labels, "_SMOOTHED", [])  # read by selftrain's manual labels: its own key is named
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        read_label(tmp_path / "l.png", setting="manual_label_mode")
    assert "give manual_label_mode index" in caplog.text and "--label-mode" not in caplog.text


def test_a_colour_given_two_classes_in_a_colormap_is_refused() -> None:
    """``0,255,0=1;...;0,255,0=0``: the last one won, silently (vegetation IoU 11.76; session 84's sweep)."""
    from agriseg.config import OptionError

    with pytest.raises(OptionError, match="colour 0,255,0 is given class 1 and class 0"):
        labels.parse_colormap("0,0,0=0;0,255,0=1;255,0,0=1;0,255,0=0")
    assert labels.parse_colormap("0,0,0=0;0,255,0=1;0,255,0=1") == {"0,0,0": 0, "0,255,0": 1}


def test_a_palette_label_with_a_transparent_index_0_reads_by_index_unsaid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Black plants drawn on a transparent index 0 (white in the palette): the background is index 0, nothing to
    say (session 101's review: a rule reading such labels by colour inverted them)."""
    monkeypatch.setattr(labels, "_SAID", set())
    ids = np.zeros((4, 6), np.uint8)
    ids[:, 3:] = 1
    im = Image.fromarray(ids, "L").convert("P")
    im.putpalette([255, 255, 255, 0, 0, 0] + [0] * (768 - 6))
    im.save(tmp_path / "clear.png", transparency=0)
    with caplog.at_level("WARNING", logger="agriseg"):
        assert np.array_equal(read_label(tmp_path / "clear.png"), ids)
    assert not caplog.text
