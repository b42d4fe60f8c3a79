"""Warnings about photos a model should not be trusted on (``agriseg.crop.quality``)."""

from __future__ import annotations

import numpy as np

from agriseg.crop.predict import _other_crops
from agriseg.crop.quality import MODEL_CROPS, other_crop, photo_quality


def test_a_crop_weed_model_calling_most_vegetation_weed_warns() -> None:
    """The sweep's brassica tray: 0.6 % crop against 4.7 % weed gave no warning (only a crop of 0 did)."""
    said = other_crop("peanut", 0.006071, 0.046772)
    assert said is not None and "11% of the vegetation peanut" in said and "89% weed" in said
    assert "found no peanut" in (other_crop("peanut", 0.0, 0.04) or "")
    assert other_crop("peanut", 0.2, 0.008) is None  # a peanut field with a few weeds
    assert other_crop("peanut", 0.02, 0.04) is None  # a weedy peanut field: a third of it peanut
    assert other_crop("peanut", 0.0, 0.005) is None  # too little vegetation to say


def test_crop_predict_gives_the_warning_for_the_crop_weed_model_only() -> None:
    rows = [
        {"file": "a.jpg", "status": "ok", "crop_fraction": 0.0, "weed_fraction": 0.05},
        {"file": "b.jpg", "status": "skipped", "crop_fraction": 0.006, "weed_fraction": 0.047},
        {"file": "c.jpg", "status": "ok", "crop_fraction": 0.2, "weed_fraction": 0.01},
        {"file": "d.jpg", "status": "error", "crop_fraction": "", "weed_fraction": ""},
    ]
    out = _other_crops(rows, "crop-weed")
    assert [w.split(":")[1].strip() for w in out] == ["a.jpg", "b.jpg"]
    assert _other_crops(rows, "my_model.safetensors") == []  # a model that does not say its crop


# the config/runtime/models/plots mutation sweep's survivors


def _checkerboard(low: int, high: int, side: int = 160, cell: int = 8) -> np.ndarray:
    """A textured ``(side, side)`` uint8 pattern of ``cell``-px squares alternating ``low`` and ``high``."""
    yy, xx = np.mgrid[:side, :side]
    return np.where((yy // cell + xx // cell) % 2 == 0, low, high).astype(np.uint8)


def test_a_photo_with_one_saturated_channel_is_not_overexposed() -> None:
    """A red-lit greenhouse photo (red clipped at 255, green and blue well exposed) is not to be flagged burnt white."""
    rgb = np.stack([np.full((160, 160), 255, np.uint8), _checkerboard(100, 200), _checkerboard(90, 190)], -1)
    assert photo_quality(rgb) == ""
    white = rgb.copy()
    white[:150] = 255  # 94 % of it clipped in every channel: overexposed indeed
    assert photo_quality(white).startswith("overexposed (")


def test_a_dark_or_blank_frame_is_not_also_called_greyscale() -> None:
    """A black frame has no colour either: "greyscale" added to its reasons would send the user after the wrong fix."""
    blank = "no texture (blank frame, lens cap, sky or out of focus)"
    assert photo_quality(np.full((100, 100, 3), 3, np.uint8)) == f"{blank}; underexposed"
    assert photo_quality(np.full((100, 100, 3), 128, np.uint8)) == blank
    grey = np.repeat(_checkerboard(60, 180)[..., None], 3, -1)  # textured and lit, but no colour
    assert photo_quality(grey) == "greyscale (vegetation is found by its colour)"


def test_every_version_of_the_crop_weed_model_warns_about_another_crop() -> None:
    """``--model crop-weed@3`` (an earlier version) must give the other-crop warning too, not the current name only."""
    from agriseg.models.io import PACKAGED

    versions = [name for name in PACKAGED if name.split("@")[0] == "crop-weed"]
    assert len(versions) >= 2 and all(MODEL_CROPS[name] == "peanut" for name in versions)
    assert not any(name.startswith("default") for name in MODEL_CROPS)
    rows = [{"file": "a.jpg", "status": "ok", "crop_fraction": 0.0, "weed_fraction": 0.05}]
    for name in ("crop-weed@3", "crop-weed@4"):
        assert [w.split(":")[1].strip() for w in _other_crops(rows, name)] == ["a.jpg"], name
    assert _other_crops(rows, "default@4") == []


def test_a_colour_label_given_as_a_photo_is_flagged_and_a_flat_synthetic_photo_is_not() -> None:
    """``crop traits labels/`` measured the Peanut labels as photos without a word (session 99's sweep)."""
    from agriseg.crop.quality import photo_quality

    label = np.zeros((120, 160, 3), np.uint8)
    label[20:60, 30:90] = (0, 255, 0)
    label[70:90, 100:140] = (255, 0, 0)
    assert photo_quality(label) == "a colour label (3 flat colours: 0,0,0; 0,255,0; 255,0,0), not a photo"
    photo = np.zeros((120, 160, 3), np.uint8)
    photo[...] = (120, 90, 60)
    photo[20:60, 30:90] = (40, 160, 40)
    assert "colour label" not in photo_quality(photo)
    assert "colour label" not in photo_quality(np.zeros((120, 160, 3), np.uint8))  # one colour: a blank frame
    stamped = np.zeros((120, 160, 3), np.uint8)
    stamped[110:, 100:] = 255  # a black frame with a white timestamp: black and white alone are no label
    assert photo_quality(stamped) == "greyscale (vegetation is found by its colour)"
