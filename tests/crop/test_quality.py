"""Warnings about photos a model should not be trusted on (``agriseg.crop.quality``)."""

from __future__ import annotations

from agriseg.crop.predict import _other_crops
from agriseg.crop.quality import other_crop


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
