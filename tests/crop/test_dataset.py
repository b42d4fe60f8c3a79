"""The training / validation split of ``crop train`` (``agriseg.crop.dataset.split_stems``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agriseg.config import OptionError
from agriseg.crop.dataset import split_stems

STEMS = [f"{i:04d}" for i in range(1, 11)]


def test_a_photo_in_both_lists_is_refused(tmp_path: Path) -> None:
    """Validation on photos the model trained on was accepted with exit 0 (session 80)."""
    (tmp_path / "t.txt").write_text("0001\n0002\n0003\n")
    (tmp_path / "v.txt").write_text("0001\n0002\n")
    with pytest.raises(OptionError, match=r"2 photo\(s\) in both the training and the validation list, e.g. 0001"):
        split_stems(STEMS, str(tmp_path / "t.txt"), str(tmp_path / "v.txt"), 0.2, 0)


@pytest.mark.parametrize("seed", range(5))
def test_a_random_validation_share_is_drawn_outside_the_training_list(tmp_path: Path, seed: int) -> None:
    """With ``train_list`` and ``val_fraction`` the validation photos were drawn from every photo, training ones
    too (session 80)."""
    (tmp_path / "t.txt").write_text("\n".join(STEMS[:6]))
    train, val = split_stems(STEMS, str(tmp_path / "t.txt"), None, 0.3, seed)
    assert train == STEMS[:6] and len(val) == 3 and not set(val) & set(train)
    (tmp_path / "all.txt").write_text("\n".join(STEMS))
    with pytest.raises(OptionError, match="names every photo, so none is left to validate on"):
        split_stems(STEMS, str(tmp_path / "all.txt"), None, 0.3, seed)


def test_without_lists_the_split_is_seeded_and_disjoint() -> None:
    train, val = split_stems(STEMS, None, None, 0.2, 7)
    assert split_stems(STEMS, None, None, 0.2, 7) == (train, val)
    assert len(val) == 2 and sorted(train + val) == STEMS


def test_a_list_naming_a_photo_that_is_not_there_is_a_usage_error_naming_the_list(tmp_path: Path) -> None:
    """``val_list names 1 stems without image+label, e.g. ['not_a_stem']``: exit 1, the list not named
    (session 84's sweep)."""
    (tmp_path / "v.txt").write_text("0001\nnot_a_stem\n")
    with pytest.raises(OptionError, match=r"data.val_list: .*v.txt names 1 photo\(s\) without .*\(not_a_stem\)"):
        split_stems(STEMS, None, str(tmp_path / "v.txt"), 0.2, 0)
    with pytest.raises(OptionError, match=r"data.val_list: .*: a folder, not a list of photo names"):
        split_stems(STEMS, None, str(tmp_path), 0.2, 0)


def test_label_colours_the_colormap_does_not_name_are_said(tmp_path: Path, caplog) -> None:
    """Session 89's training sweep: greyscale copies of colour labels trained on background alone (every plant
    colour unlisted, read as ignored), exit 0; one label with an unlisted colour was ignored in part, unsaid."""
    import numpy as np
    from PIL import Image

    from agriseg.config import OptionError
    from agriseg.crop.dataset import CropSegDataset

    colormap = {"0,0,0": 0, "0,255,0": 1}
    pairs = {}
    for i in range(2):
        Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / f"{i}.jpg")
        label = np.zeros((20, 30, 3), np.uint8)
        label[5:15, 5:15] = (0, 255, 0)
        Image.fromarray(label).convert("L").save(tmp_path / f"{i}.png")  # green saved as grey 150
        pairs[str(i)] = (tmp_path / f"{i}.jpg", tmp_path / f"{i}.png")
    grey = CropSegDataset(pairs, ["0", "1"], "colormap", colormap, num_classes=2)
    with pytest.raises(OptionError, match=r"0.png: 17% of its pixels \(150,150,150\) and every other label hold no"):
        grey.check()
    label = np.zeros((20, 30, 3), np.uint8)
    label[5:15, 5:15] = (0, 255, 0)
    label[0:2, 0:30] = (0, 0, 255)  # a blue stroke the colormap does not name
    Image.fromarray(label).save(tmp_path / "1.png")
    with caplog.at_level("WARNING", logger="agriseg"):
        CropSegDataset(pairs, ["0", "1"], "colormap", colormap, num_classes=2).check()
    assert (
        "colours not in data.colormap are ignored in training" in caplog.text
        and "1.png: 10% of its pixels (0,0,255)" in caplog.text
        and "JPEG" not in caplog.text
    )
    caplog.clear()  # a JPEG label (session 97's sweep): its blended edge colours are said to be JPEG's, per set
    Image.fromarray(label).save(tmp_path / "1.jpg.label.jpg", quality=70)
    pairs["1"] = (tmp_path / "1.jpg", tmp_path / "1.jpg.label.jpg")
    with caplog.at_level("WARNING", logger="agriseg"):
        CropSegDataset(pairs, ["0", "1"], "colormap", colormap, num_classes=2).check("the validation photos")
    assert "ignored in training (the validation photos): " in caplog.text and "save colour labels as PNG" in caplog.text
    for i in range(2):  # labels of no colour the colormap lists: all named at once, not the first alone
        Image.fromarray(np.full((20, 30, 3), 7, np.uint8)).save(tmp_path / f"{i}.png")
        pairs[str(i)] = (tmp_path / f"{i}.jpg", tmp_path / f"{i}.png")
    with pytest.raises(OptionError, match=r"0.png: no pixel has a colour of the colormap .* \(and 1 more in the set\)"):
        CropSegDataset(pairs, ["0", "1"], "colormap", colormap, num_classes=2).check("the set")


def test_a_label_mode_misfit_names_the_config_key(tmp_path: Path) -> None:
    """Training on colour labels with data.label_mode index said "use --label-mode colormap", a flag crop train
    has not (session 95's sweep): the run config's key is named."""
    import numpy as np
    from PIL import Image

    from agriseg.crop.dataset import CropSegDataset

    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "0.jpg")
    label = np.zeros((20, 30, 3), np.uint8)
    label[5:15, 5:15] = (0, 255, 0)
    Image.fromarray(label).save(tmp_path / "0.png")
    pairs = {"0": (tmp_path / "0.jpg", tmp_path / "0.png")}
    with pytest.raises(OptionError, match=r"this label has colours \(use data\.label_mode colormap, or binary"):
        CropSegDataset(pairs, ["0"], "index", None, num_classes=2).check()


def test_a_file_given_as_a_folder_is_said_to_be_one(tmp_path: Path) -> None:
    """`--set data.images=val.txt` (a file there) said "val.txt: folder not found" (session 95's sweep)."""
    from agriseg.crop.dataset import match_pairs

    (tmp_path / "val.txt").write_text("a\n")
    (tmp_path / "labels").mkdir()
    with pytest.raises(FileNotFoundError, match=r"val\.txt: a file, not a folder \(data\.images\)"):
        match_pairs(tmp_path / "val.txt", tmp_path / "labels", names=("data.images", "data.labels"))
    with pytest.raises(FileNotFoundError, match=r"nowhere: folder not found \(data\.images\)"):
        match_pairs(tmp_path / "nowhere", tmp_path / "labels", names=("data.images", "data.labels"))


def test_one_folder_as_photos_and_labels_is_said_to_be_one(tmp_path: Path, samples_dir: Path) -> None:
    """Photos and labels in one folder said "0003.jpg and 0003.png: two images of one name; keep one" (training),
    and make-synthetic of the bundled photos as both said "the bundled samples' photos, not those of --labels"
    of the same folder (session 103's list)."""
    from click.testing import CliRunner

    from agriseg.cli import main
    from agriseg.crop.dataset import match_pairs

    for src in ("images", "labels"):
        for f in (samples_dir / "peanut" / src).iterdir():
            shutil.copy(f, tmp_path / f.name)
    with pytest.raises(OptionError, match=r"the photos' own folder \(data\.labels\); give the folder of the labels"):
        match_pairs(tmp_path, tmp_path, names=("data.images", "data.labels"))
    bundled = str(samples_dir / "peanut" / "images")
    for folder in (str(tmp_path), bundled):
        args = ["crop", "make-synthetic", "discs", "-o", str(tmp_path / "out"), "--photos", folder, "--labels", folder]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and "the photos' own folder (--photos)" in res.output, res.output


def test_a_photo_flipped_by_its_exif_orientation_is_said_before_training(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A photo of EXIF orientation 3 is read turned half round while its label (a PNG, no tag) is not: sizes
    agree, so the model trained on upside-down labels without a word (session 97's sweep)."""
    import numpy as np
    from PIL import Image

    from agriseg.crop.dataset import CropSegDataset

    pairs = {}
    for name, turn in (("up", 1), ("half", 3)):
        exif = Image.Exif()
        exif[0x0112] = turn
        Image.new("RGB", (40, 30), (60, 120, 40)).save(tmp_path / f"{name}.jpg", exif=exif.tobytes())
        Image.fromarray(np.zeros((30, 40), np.uint8)).save(tmp_path / f"{name}.png")
        pairs[name] = (tmp_path / f"{name}.jpg", tmp_path / f"{name}.png")
    with caplog.at_level("WARNING", logger="agriseg"):
        CropSegDataset(pairs, ["up"], "binary", None, num_classes=2).check()
        assert not caplog.text
        CropSegDataset(pairs, sorted(pairs), "binary", None, num_classes=2).check()
    assert "half.jpg: read flipped or turned by its EXIF orientation (3)" in caplog.text
    caplog.clear()  # a square photo turned a quarter (6): its size cannot tell either (session 97's sweep)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (30, 30), (60, 120, 40)).save(tmp_path / "quarter.jpg", exif=exif.tobytes())
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(tmp_path / "quarter.png")
    pairs["quarter"] = (tmp_path / "quarter.jpg", tmp_path / "quarter.png")
    Image.new("RGB", (40, 30), (60, 120, 40)).save(tmp_path / "wide.jpg", exif=exif.tobytes())
    Image.fromarray(np.zeros((40, 30), np.uint8)).save(tmp_path / "wide.png")  # drawn as shown: its size tells
    pairs["wide"] = (tmp_path / "wide.jpg", tmp_path / "wide.png")
    with caplog.at_level("WARNING", logger="agriseg"):
        CropSegDataset(pairs, ["wide"], "binary", None, num_classes=2).check()
        assert not caplog.text
        CropSegDataset(pairs, ["quarter"], "binary", None, num_classes=2).check()
    assert "quarter.jpg: read flipped or turned by its EXIF orientation (6)" in caplog.text


def test_photos_whose_names_differ_from_labels_only_in_case_are_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PLANTS_01.JPG beside plants_01.png was said as "1 photo without a label" and "1 label without a photo",
    two lists that looked unrelated, and half a set was left out of training (session 97's sweep)."""
    import numpy as np
    from PIL import Image

    from agriseg.crop.dataset import warn_unpaired

    for d in ("i", "l"):
        (tmp_path / d).mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "i" / "PLANTS_01.JPG")
    Image.new("RGB", (8, 8)).save(tmp_path / "i" / "b.jpg")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "l" / "plants_01.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "l" / "b.png")
    with caplog.at_level("WARNING", logger="agriseg"):
        warn_unpaired(tmp_path / "i", tmp_path / "l")
    assert "1 photo differs from a label's name only in letter case (e.g. PLANTS_01.JPG and plants_01.png)" in (
        caplog.text
    )
