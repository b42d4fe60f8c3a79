"""agriseg.crop.traits.inputs: photos and masks paired by name."""

from __future__ import annotations

from pathlib import Path

from agriseg.crop.traits.inputs import pair_inputs


def test_photos_of_one_name_are_named_as_crop_predict_names_them(tmp_path: Path) -> None:
    """good.jpg, good.png and good.bmp were measured as good, good_3 and good_4: numbers by position that did
    not say which file, where crop predict writes good_jpg, good_png, good_bmp (session 62's sweep)."""
    files = [tmp_path / n for n in ("good.bmp", "good.jpg", "good.png", "good_mask.png", "other.jpg")]
    items = pair_inputs(files)
    assert [(it.name, it.photo.name if it.photo else None) for it in items] == [
        ("good_bmp", "good.bmp"),
        ("good_jpg", "good.jpg"),
        ("good_png", "good.png"),
        ("other", "other.jpg"),
    ]
    assert items[0].mask == tmp_path / "good_mask.png"  # the mask stays with the first photo of its name
    single = pair_inputs([tmp_path / "a.jpg", tmp_path / "a_mask.png"])
    assert [(it.name, it.mask) for it in single] == [("a", tmp_path / "a_mask.png")]
