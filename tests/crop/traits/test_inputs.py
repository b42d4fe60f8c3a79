"""agriseg.crop.traits.inputs: photos and masks paired by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from agriseg.config import OptionError
from agriseg.crop.traits.inputs import pair_inputs


def test_photos_of_one_name_are_named_as_crop_predict_names_them(tmp_path: Path) -> None:
    """good.jpg, good.png and good.bmp were measured as good, good_3 and good_4: numbers by position that did
    not say which file, where crop predict writes good_jpg, good_png, good_bmp (session 62's sweep)."""
    files = [tmp_path / n for n in ("good.bmp", "good.jpg", "good.png", "other.jpg")]
    items = pair_inputs(files)
    assert [(it.name, it.photo.name if it.photo else None) for it in items] == [
        ("good_bmp", "good.bmp"),
        ("good_jpg", "good.jpg"),
        ("good_png", "good.png"),
        ("other", "other.jpg"),
    ]
    assert all(it.mask is None for it in items)  # which photo good_mask.png belongs to cannot be told: below
    single = pair_inputs([tmp_path / "a.jpg", tmp_path / "a_mask.png"])
    assert [(it.name, it.mask) for it in single] == [("a", tmp_path / "a_mask.png")]


def test_a_mask_pairs_with_its_own_photo_never_with_another_folders(tmp_path: Path) -> None:
    """day1/IMG_0001.jpg and day2/IMG_0001.jpg with pred1/ and pred2/'s IMG_0001_mask.png: the first mask went
    to whichever photo came first and the second was dropped, with exit 0: day 1's mask measured on day 2's
    photo, or the user's edited mask ignored (session 79's sweep)."""
    d1, d2, p1, p2 = (tmp_path / n for n in ("day1", "day2", "pred1", "pred2"))
    photos = [d1 / "IMG_0001.jpg", d2 / "IMG_0001.jpg"]
    with pytest.raises(OptionError, match=r"pred1/IMG_0001_mask.png: the mask of which photo\? .*day1/IMG_0001.jpg"):
        pair_inputs([*photos, p1 / "IMG_0001_mask.png", p2 / "IMG_0001_mask.png"])
    # masks crop predict wrote for both photos in one run carry the names it gave them: each finds its photo
    masks = [tmp_path / "pred" / "day2_IMG_0001_jpg_mask.png", tmp_path / "pred" / "day1_IMG_0001_jpg_mask.png"]
    items = pair_inputs([*photos, *masks])
    assert [(it.name, it.photo, it.mask) for it in items] == [
        ("day1_IMG_0001_jpg", photos[0], masks[1]),
        ("day2_IMG_0001_jpg", photos[1], masks[0]),
    ]
    assert [it.stem for it in items] == ["IMG_0001", "IMG_0001"]  # what --meta and dates read
    # masks alone, one name in two folders (two days' predictions): both measured, named by their folders
    items = pair_inputs([p1 / "IMG_0001_mask.png", p2 / "IMG_0001_mask.png", p2 / "IMG_0001_classes.png"])
    assert [(it.name, it.mask) for it in items] == [
        ("pred1_IMG_0001", p1 / "IMG_0001_mask.png"),
        ("pred2_IMG_0001", p2 / "IMG_0001_classes.png"),  # a class map preferred over the mask of its name
    ]
    with pytest.raises(OptionError, match="IMG_0001_mask.tif: .*IMG_0001_mask.png is a mask of the photo"):
        pair_inputs([d1 / "IMG_0001.jpg", p1 / "IMG_0001_mask.png", p2 / "IMG_0001_mask.tif"])


def _predicted(photo: Path, mask: Path) -> None:
    """Write ``mask`` and the record ``crop predict`` keeps of it: made from ``photo``."""
    from agriseg.batch import Item as BatchItem
    from agriseg.fingerprint import Recipe
    from agriseg.manifest import ManifestStore

    for f in (photo, mask):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(f.name.encode())
    item, recipe = BatchItem(mask.name.removesuffix("_mask.png"), photo, (mask,), (photo,)), Recipe("crop predict", "1")
    store = ManifestStore()
    store.open([item], recipe)
    store.begin([item])
    store.record(item, recipe)
    store.close()


def test_a_mask_crop_predict_made_pairs_with_the_photo_its_record_names(tmp_path: Path) -> None:
    """Masks are paired by the records crop predict keeps beside them, where names cannot tell: day1/ and day2/
    predicted into pred1/ and pred2/ (both IMG_0001_mask.png) pair, where they were a usage error; a third
    day's IMG_0001.jpg was paired with day 1's IMG_0001_mask.png and measured with it (session 84)."""
    d1, d2, d3, p1, p2 = (tmp_path / n for n in ("day1", "day2", "day3", "pred1", "pred2"))
    _predicted(d1 / "IMG_0001.jpg", p1 / "IMG_0001_mask.png")
    _predicted(d2 / "IMG_0001.jpg", p2 / "IMG_0001_mask.png")
    items = pair_inputs([d1 / "IMG_0001.jpg", d2 / "IMG_0001.jpg", p2 / "IMG_0001_mask.png", p1 / "IMG_0001_mask.png"])
    assert [(it.photo, it.mask) for it in items] == [
        (d1 / "IMG_0001.jpg", p1 / "IMG_0001_mask.png"),
        (d2 / "IMG_0001.jpg", p2 / "IMG_0001_mask.png"),
    ]
    (d3 / "IMG_0001.jpg").parent.mkdir()
    (d3 / "IMG_0001.jpg").write_bytes(b"another day")
    items = pair_inputs([d3 / "IMG_0001.jpg", p1 / "IMG_0001_mask.png"])
    assert [(it.name, it.photo, it.mask) for it in items] == [
        ("IMG_0001", d3 / "IMG_0001.jpg", None),  # segmented by the model, not measured with day 1's mask
        ("pred1_IMG_0001", None, p1 / "IMG_0001_mask.png"),  # day 1's mask measured alone, named by its folder
    ]
    items = pair_inputs([d1 / "IMG_0001.jpg", p1 / "IMG_0001_mask.png"])
    assert [(it.name, it.photo, it.mask) for it in items] == [
        ("IMG_0001", d1 / "IMG_0001.jpg", p1 / "IMG_0001_mask.png")
    ]


def test_a_record_of_a_relative_photo_names_the_photo_where_it_was_not_one_here(tmp_path: Path, monkeypatch) -> None:
    """crop predict run in siteA (``day1/IMG_0001.jpg``), crop traits run in siteB over siteA's masks: the
    record's relative name was read from siteB, pairing siteA's mask with siteB's photo of that name (session 84's
    check of its own fixes). A record keeps where its photo is."""
    site_a, site_b = tmp_path / "siteA", tmp_path / "siteB"
    monkeypatch.chdir(tmp_path)
    site_a.mkdir()
    monkeypatch.chdir(site_a)
    _predicted(Path("day1") / "IMG_0001.jpg", tmp_path / "outA" / "IMG_0001_mask.png")
    (site_b / "day1").mkdir(parents=True)
    (site_b / "day1" / "IMG_0001.jpg").write_bytes(b"siteB's photo")
    monkeypatch.chdir(site_b)
    ours, theirs = site_a / "day1" / "IMG_0001.jpg", Path("day1") / "IMG_0001.jpg"
    items = pair_inputs([tmp_path / "outA" / "IMG_0001_mask.png", ours, theirs])
    by_photo = {it.photo.resolve() if it.photo else None: it.mask for it in items}
    assert by_photo[ours] == tmp_path / "outA" / "IMG_0001_mask.png" and by_photo[theirs.resolve()] is None


def test_a_mask_is_read_turned_by_its_exif_orientation_and_of_any_two_values(tmp_path: Path) -> None:
    """A mask saved turned with EXIF orientation 6 was measured as stored, its plants' positions in the turned
    frame; a `_mask` file of 0/65535 or 0/100 failed where the same file without the suffix was measured
    (session 101's sweep)."""
    import numpy as np
    from PIL import Image

    from agriseg.crop.traits.inputs import read_mask

    truth = np.zeros((6, 10), np.uint8)
    truth[1:3, 2:7] = 1
    stored = Image.fromarray(np.rot90(truth * 255, 1).copy())  # turned a quarter counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise: as truth
    stored.save(tmp_path / "r6_mask.png", exif=exif)
    np.testing.assert_array_equal(read_mask(tmp_path / "r6_mask.png"), truth)
    # a rule of its fingerprint: outputs an earlier run made of it as stored are not resumed as this reading's
    from agriseg.crop.traits.inputs import mask_reading_rules

    assert mask_reading_rules(tmp_path / "r6_mask.png") == {"mask orientation": "EXIF"}
    Image.fromarray(truth.astype(np.uint16) * 65535).save(tmp_path / "a16_mask.png")
    Image.fromarray(truth * 100).save(tmp_path / "c100_mask.png")
    for name in ("a16_mask.png", "c100_mask.png"):
        np.testing.assert_array_equal(read_mask(tmp_path / name), truth)
        assert mask_reading_rules(tmp_path / name) == {}
    two = (truth * 100 + (truth == 0) * 7).astype(np.uint8)  # 7 / 100: no background
    Image.fromarray(two).save(tmp_path / "two_mask.png")
    with pytest.raises(ValueError, match=r"two_mask\.png: not a 0/255 or 0/1 mask"):
        read_mask(tmp_path / "two_mask.png")
