"""crop evaluate on labels that are partial, mismatched or oddly encoded: errors name the file, never NaN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from agriseg.cli import main
from agriseg.crop.evaluate import evaluate_folder
from agriseg.crop.labels import parse_colormap, read_label


def _said(res: dict) -> str:
    """The report's warning lines, as the CLI prints them on stderr."""
    from agriseg.crop.evaluate import report_warnings

    return "\n".join(report_warnings(res))


def _pair(root, stem: str, label: np.ndarray | None, rgb: bool = False) -> None:
    (root / "img").mkdir(exist_ok=True)
    (root / "lab").mkdir(exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(root / "img" / f"{stem}.png")
    if label is not None:
        Image.fromarray(label).save(root / "lab" / f"{stem}.png")


def _ones(stem: str, rgb: np.ndarray) -> np.ndarray:
    return np.ones(rgb.shape[:2], np.uint8)


def test_missing_labels_are_reported(tmp_path):
    _pair(tmp_path, "a", np.full((8, 8), 255, np.uint8))
    _pair(tmp_path, "b", None)
    _pair(tmp_path, "c", None)
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False)
    assert res["images"] == 1 and res["images_without_label"] == ["b.png", "c.png"]

    assert "warning: 2 images have no label and were not scored (e.g. b.png, c.png)" in _said(res)
    res["images_without_label"] = ["b.png"]  # it said "1 images have no label" (session 71)
    assert "warning: 1 image has no label and was not scored (b.png)" in _said(res)


def test_strict_stops_at_a_photo_without_a_label(tmp_path):
    """--strict scored the labelled photos and only warned about the others (exit 0): every photo, or none."""
    _pair(tmp_path, "a", np.full((8, 8), 255, np.uint8))
    _pair(tmp_path, "b", None)
    _pair(tmp_path, "c", None)
    args = ["--images", tmp_path / "img", "--masks", tmp_path / "lab", "--strict"]
    res = CliRunner().invoke(main, ["crop", "evaluate", *map(str, args)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "b.png: no label of the same name in" in res.output and "(and 1 more)" in res.output


def test_a_label_named_on_a_mac_finds_its_photo(tmp_path):
    """Labels saved on a Mac name "é" as "e" and an accent: "no image has a label of the same name"."""
    import unicodedata

    from agriseg.crop.dataset import match_pairs

    _pair(tmp_path, unicodedata.normalize("NFC", "café"), None)
    (tmp_path / "lab" / unicodedata.normalize("NFD", "café.png")).write_bytes(
        (tmp_path / "img" / unicodedata.normalize("NFC", "café.png")).read_bytes()
    )
    assert len(match_pairs(tmp_path / "img", tmp_path / "lab")) == 1
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False)
    assert res["images"] == 1 and res["images_without_label"] == [] and res["labels_without_image"] == []


def test_colormap_labels_matching_no_colour_are_an_error_naming_the_file(tmp_path):
    _pair(tmp_path, "a", np.full((8, 8, 3), 7, np.uint8))
    from agriseg.config import OptionError

    # no label fits the colormap: a usage error (exit 2), as labels of class ids the model lacks (it exited 1,
    # where the README says 2; session 98's documentation check)
    with pytest.raises(OptionError, match=r"a\.png: no pixel has a colour of the colormap .*7,7,7"):
        evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "colormap", {"0,255,0": 1}, progress=False)


def test_16_bit_index_labels_above_255_do_not_wrap(tmp_path):
    lab = np.zeros((8, 8), np.uint16)
    lab[0, 0] = 256  # would wrap to 0 in 8 bits
    Image.fromarray(lab).save(tmp_path / "l.png")
    with pytest.raises(ValueError, match=r"l\.png: label value 256 is not a class id"):
        read_label(tmp_path / "l.png", "index")


def test_out_of_range_class_names_the_label_file(tmp_path):
    _pair(tmp_path, "a", np.full((8, 8), 3, np.uint8))
    with pytest.raises(ValueError, match=r"lab/a\.png: label has class id 3, but 2 classes are scored .*label-mode$"):
        evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "index", progress=False)
    # ids a colormap gave: the colormap is named, not --label-mode (session 103's sweep)
    _pair(tmp_path, "a", np.zeros((8, 8, 3), np.uint8), rgb=True)
    with pytest.raises(ValueError, match=r"label has class id 5, but 2 classes are scored .*; check --colormap$"):
        evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "colormap", {"0,0,0": 5}, progress=False)


def test_one_misfit_label_among_good_ones_fails_alone(tmp_path):
    """One label of class id 5 (or of colours in index mode) among good ones stopped the whole evaluation with
    exit 2 and no report (session 95's sweep): it fails as its own pair; only when every label misfits is it a
    usage error."""
    from agriseg.config import OptionError

    _pair(tmp_path, "a", np.ones((8, 8), np.uint8))
    _pair(tmp_path, "b", np.full((8, 8), 5, np.uint8))
    _pair(tmp_path, "c", np.full((8, 8, 3), (0, 200, 0), np.uint8))
    _pair(tmp_path, "d", np.zeros((8, 8), np.uint8))
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "index", progress=False)
    assert res["images"] == 2 and len(res["failed"]) == 2, res["failed"]
    assert "b.png: label has class id 5" in res["failed"][0] and "c.png: label mode 'index'" in res["failed"][1]
    # the label mode is judged on three readable labels: a misfit then two unreadable ones before good labels
    # refused the whole run (the review's find)
    other = tmp_path / "other"
    other.mkdir()
    _pair(other, "a", np.full((8, 8, 3), (0, 200, 0), np.uint8))
    for stem in ("b", "c"):
        _pair(other, stem, None)
        (other / "lab" / f"{stem}.png").write_bytes(b"")
    for stem in ("d", "e", "f"):
        _pair(other, stem, np.ones((8, 8), np.uint8))
    res = evaluate_folder(other / "img", other / "lab", _ones, 2, "index", progress=False)
    assert res["images"] == 3 and len(res["failed"]) == 3, res["failed"]
    for stem in ("a", "d"):
        (tmp_path / "lab" / f"{stem}.png").unlink()
    with pytest.raises(OptionError, match=r"lab/b\.png: label has class id 5.*\(and 1 more\)$"):
        evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "index", progress=False)


def test_bad_colormap_text_says_what_is_wrong():
    assert parse_colormap("0,0,0=0; 0,255,0=1") == {"0,0,0": 0, "0,255,0": 1}
    for bad in ("0,0,0", "0,0=1", "a,b,c=1", "0,0,0=x", ""):
        with pytest.raises(ValueError, match="--colormap"):
            parse_colormap(bad)


def test_report_json_is_strict_without_nan(tmp_path):
    # no vegetation in label nor prediction: its IoU undefined -> null in the JSON report, never NaN (a label all
    # 255 is no longer scored at all: its pair fails)
    _pair(tmp_path, "a", np.zeros((8, 8), np.uint8))
    out = tmp_path / "r.json"
    res = CliRunner().invoke(
        main,
        [
            "crop",
            "evaluate",
            "--images",
            str(tmp_path / "img"),
            "--masks",
            str(tmp_path / "lab"),
            "--pred-masks",
            str(tmp_path / "img"),
            "--label-mode",
            "index",
            "-o",
            str(out),
        ],
    )
    # no <stem>_mask.png predictions exist in img/: a one-line error naming the missing file
    assert res.exit_code != 0 and "a_mask.png" in res.output and "Traceback" not in res.output
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "img" / "a_mask.png")
    res = CliRunner().invoke(
        main,
        [
            "crop",
            "evaluate",
            "--images",
            str(tmp_path / "img"),
            "--masks",
            str(tmp_path / "lab"),
            "--pred-masks",
            str(tmp_path / "img"),
            "--label-mode",
            "index",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    text = out.read_text()
    report = json.loads(text)
    assert "NaN" not in text and list(report["per_class_iou"].values())[1] is None, text


def test_cli_bad_colormap_is_one_line(tmp_path):
    _pair(tmp_path, "a", np.zeros((8, 8), np.uint8))
    res = CliRunner().invoke(
        main,
        [
            "crop",
            "evaluate",
            "--images",
            str(tmp_path / "img"),
            "--masks",
            str(tmp_path / "lab"),
            "--label-mode",
            "colormap",
            "--colormap",
            "green",
        ],
    )
    assert res.exit_code != 0 and "--colormap: 'green' is not R,G,B=class" in res.output


def test_two_images_of_one_name_are_an_error_naming_both(tmp_path):
    _pair(tmp_path, "a", np.ones((8, 8), np.uint8))
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(tmp_path / "img" / "a.jpg")
    with pytest.raises(ValueError, match=r"a\.jpg and a\.png: two images of one name in .*img; keep one"):
        evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False)


def test_a_missing_predicted_mask_is_called_a_prediction(tmp_path):
    _pair(tmp_path, "a", np.ones((8, 8), np.uint8))
    (tmp_path / "pred").mkdir()
    args = ["--images", tmp_path / "img", "--masks", tmp_path / "lab", "--pred-masks", tmp_path / "pred"]
    res = CliRunner().invoke(main, ["crop", "evaluate", *map(str, args)])
    assert res.exit_code == 1 and "a_mask.png: predicted mask not found (--pred-masks" in res.output, res.output
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "pred" / "a_mask.png")
    (tmp_path / "pred" / "a_mask.png").write_bytes((tmp_path / "pred" / "a_mask.png").read_bytes()[:45])
    res = CliRunner().invoke(main, ["crop", "evaluate", *map(str, args)])  # a damaged one: not "label" (s106)
    assert res.exit_code == 1 and "a_mask.png: truncated predicted mask" in res.output, res.output


def test_a_pair_that_cannot_be_scored_is_named_and_the_others_are_scored(tmp_path):
    """A label of another size stopped the whole evaluation (exit 1, nothing scored)."""
    for stem in ("a", "b", "c"):
        _pair(tmp_path, stem, np.ones((8, 8), np.uint8))
    Image.fromarray(np.ones((6, 8), np.uint8)).save(tmp_path / "lab" / "b.png")  # another size than its photo
    (tmp_path / "pred").mkdir()
    for stem in ("a", "b"):  # c has no predicted mask
        Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "pred" / f"{stem}_mask.png")
    args = ["--images", tmp_path / "img", "--masks", tmp_path / "lab", "--pred-masks", tmp_path / "pred"]
    res = CliRunner().invoke(main, ["crop", "evaluate", *map(str, args), "-o", str(tmp_path / "r.json")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    failed = [ln for ln in res.output.splitlines() if ln.startswith("  failed: ")]
    assert len(failed) == 2, res.output
    assert "b.png: label is 8x6 px, its photo" in failed[0]
    assert "c_mask.png: predicted mask not found" in failed[1]
    got = json.loads((tmp_path / "r.json").read_text())
    assert got["images"] == 1 and got["miou"] == 1.0 and len(got["failed"]) == 2
    res = CliRunner().invoke(main, ["crop", "evaluate", *map(str, args), "--strict"])
    assert res.exit_code == 1 and "b.png: label is 8x6 px, its photo" in res.output and "  failed: " not in res.output


def test_an_unreadable_first_label_is_one_failed_pair(tmp_path):
    """The label-mode check read the first label before the loop: a truncated one stopped the whole evaluation
    (nothing scored) where the same file second in the list was named and the others scored."""
    for stem in ("a", "b"):
        _pair(tmp_path, stem, np.ones((8, 8), np.uint8))
    (tmp_path / "lab" / "a.png").write_bytes((tmp_path / "lab" / "b.png").read_bytes()[:40])  # truncated
    (tmp_path / "pred").mkdir()
    for stem in ("a", "b"):
        Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "pred" / f"{stem}_mask.png")
    args = ["--images", tmp_path / "img", "--masks", tmp_path / "lab", "--pred-masks", tmp_path / "pred"]
    res = CliRunner().invoke(main, ["crop", "evaluate", *map(str, args), "-o", str(tmp_path / "r.json")])
    assert res.exit_code == 1 and "  failed: " in res.output and "a.png: not a readable label" in res.output, res.output
    assert json.loads((tmp_path / "r.json").read_text())["images"] == 1


def test_0_255_masks_read_as_class_ids_say_to_use_binary(tmp_path):
    """--label-mode index on 0/255 masks scored every plant pixel as 'not scored' and gave vegetation 0.00 with
    only a vague warning about ignored pixels."""

    label = np.zeros((8, 8), np.uint8)
    label[2:6, 2:6] = 255
    _pair(tmp_path, "a", label)
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "index", progress=False)
    assert res["labels_only_0_255"] and "use --label-mode binary" in _said(res)
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "binary", progress=False)
    assert not res["labels_only_0_255"] and "--label-mode" not in _said(res)
    # a label all 255: nothing of it scored; its scores were nan with exit 0 and "labels hold only 0 and 255"
    _pair(tmp_path, "b", np.full((8, 8), 255, np.uint8))
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "index", progress=False)
    assert res["images"] == 1 and res["failed"] == []  # a void tile among scored ones: counted as ignored pixels
    assert res["void_labels"] == [str(tmp_path / "lab" / "b.png")]
    assert "1 label all 255, nothing in it scored: b.png" in _said(res)
    assert "no label holds" not in _said(res)  # said by the 0/255 line alone (session 103's sweep)
    ids = np.ones((8, 8), np.uint8)
    ids[0] = 0
    _pair(tmp_path, "a", ids)  # class ids: the all-255 label is why pixels were not scored
    said = _said(evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "index", progress=False))
    assert "nothing in it scored: b.png (50.0 % of all label pixels not scored)" in said and said.count("\n") == 0
    with pytest.raises(ValueError, match=r"b\.png: every pixel is 255"):  # --strict: every photo scored, or none
        evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "index", progress=False, strict=True)
    (tmp_path / "lab" / "a.png").unlink()
    with pytest.raises(ValueError, match=r"nothing to score: .*b\.png: every pixel is 255 \(not scored\)"):
        evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "index", progress=False)


def test_pseudolabel_masks_are_scored_by_their_own_names(tmp_path):
    """`crop pseudolabel` writes masks/<name>.png: --pred-masks looked for <name>_mask.png only, so
    pseudo-labels could not be scored against labels."""
    truth = np.zeros((8, 8), np.uint8)
    truth[:, 4:] = 1
    _pair(tmp_path, "a", truth)
    (tmp_path / "masks").mkdir()
    Image.fromarray(truth * 255).save(tmp_path / "masks" / "a.png")
    args = ["--images", tmp_path / "img", "--masks", tmp_path / "lab", "--pred-masks", tmp_path / "masks"]
    res = CliRunner().invoke(main, ["crop", "evaluate", *map(str, args), "--label-mode", "index"])
    assert res.exit_code == 0 and "failed" not in res.output, res.output
    assert "mean" in res.output and "100.00" in res.output


def test_pred_masks_of_the_labels_folder_are_not_scored_as_themselves(tmp_path):
    """The <name>.png fallback scored the labels against themselves (100%) when --pred-masks was --masks."""
    _pair(tmp_path, "a", np.zeros((8, 8), np.uint8))
    args = ["--images", tmp_path / "img", "--masks", tmp_path / "lab", "--pred-masks", tmp_path / "lab"]
    res = CliRunner().invoke(main, ["crop", "evaluate", *map(str, args), "--label-mode", "index"])
    assert res.exit_code == 2 and "the labels' own folder; give the folder crop predict wrote" in res.output, res.output


@pytest.mark.slow  # 9 s: two evaluations of the crop-weed model
def test_a_crop_weed_model_is_scored_on_its_classes_or_its_vegetation(tmp_path):
    """`-m crop-weed --peanut` scored the labels' vegetation against the model's crop and printed weed 0.00,
    mIoU 54.70 (its own masks scored 86.91): its three classes are scored now, and against 0 / non-zero labels
    its vegetation, as its `crop predict` mask (session 71's sweep)."""
    from agriseg.batch import BatchOptions
    from agriseg.crop.config import CropEvaluateConfig
    from agriseg.crop.evaluate import evaluate_model
    from agriseg.crop.predict import predict_paths

    samples = Path(__file__).parents[2] / "src" / "agriseg" / "samples" / "peanut"
    images, labels = tmp_path / "images", samples / "labels"
    images.mkdir()
    for label in labels.iterdir():  # the photos that have a label
        (images / f"{label.stem}.jpg").write_bytes((samples / "images" / f"{label.stem}.jpg").read_bytes())
    cw = CropEvaluateConfig(model_name="crop-weed")
    three = evaluate_model(images, labels, cw, peanut=True, progress=False)
    assert list(three["per_class_iou"]) == ["background", "crop", "weed"], three["per_class_iou"]
    assert three["per_class_iou"]["crop"] > 0.5
    predict_paths(images, tmp_path / "pred", {"model_name": "crop-weed"}, BatchOptions(progress=False))
    vegetation = evaluate_model(images, labels, cw, progress=False)  # binary labels: 0 / non-zero
    saved = evaluate_model(images, labels, CropEvaluateConfig(), pred_masks=tmp_path / "pred", progress=False)
    assert list(vegetation["per_class_iou"]) == ["background", "vegetation"]
    assert vegetation["miou"] == pytest.approx(saved["miou"], abs=1e-9) and vegetation["miou"] > 0.7
    # its saved class maps with --peanut: the three classes, as `-m crop-weed --peanut` scores them
    saved3 = evaluate_model(images, labels, CropEvaluateConfig(), pred_masks=tmp_path / "pred", peanut=True,
                            progress=False)  # fmt: skip
    assert list(saved3["per_class_iou"]) == ["background", "crop", "weed"]
    assert saved3["miou"] == pytest.approx(three["miou"], abs=1e-9)
    # the report says which masks and which model (the masks' PNG text), not the folder as the model (session 75)
    assert (saved3["masks"], saved3["model"]) == (str(tmp_path / "pred"), "crop-weed") and "options" not in saved3
    # how the labels were read, so reports of other label modes are told apart (session 103's sweep)
    assert saved3["labels"]["label_mode"] == "colormap" and saved3["labels"]["stems"] is None
    assert saved["labels"] == {"label_mode": "binary", "colormap": None, "stems": None}


def test_stems_score_only_the_listed_photos(tmp_path):
    """The docs' "the 60 validation photos (configs/crop/peanut_val.txt)" had no command: crop evaluate scored
    every photo of the folder (session 73's sweep). --stems takes a split file."""
    for stem, value in (("a", 1), ("b", 0), ("c", 1)):
        _pair(tmp_path, stem, np.full((8, 8), value, np.uint8))
    _pair(tmp_path, "d", None)  # a photo without a label, not listed: not reported either
    (tmp_path / "val.txt").write_text("# the split\na\nc.png\n")
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "index", stems=tmp_path / "val.txt")
    assert res["miou"] == 1.0 and res["images_without_label"] == []  # b (all background) left out
    every = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "index")
    assert every["miou"] < 1.0 and every["images_without_label"] == ["d.png"]
    (tmp_path / "bad.txt").write_text("a\nd\nzz\n")
    args = ["crop", "evaluate", "--images", str(tmp_path / "img"), "--masks", str(tmp_path / "lab")]
    r = CliRunner().invoke(main, [*args, "--stems", str(tmp_path / "bad.txt")])
    # d's photo is there: it lacks its label (it said "no photo and label", session 103's sweep)
    said = f"d has no label in {tmp_path / 'lab'} (and 1 more lacks other files)"
    assert r.exit_code == 2 and "--stems" in r.output and said in r.output, r.output
    r = CliRunner().invoke(main, [*args, "--stems", str(tmp_path / "nope.txt")])
    assert r.exit_code == 2 and "nope.txt: list of photo names not found" in r.output, r.output


def test_a_library_call_scoring_saved_masks_refuses_a_model_it_would_not_run(tmp_path):
    """``evaluate_model(..., pred_masks=...)`` with ``model_name='crop-weed', tta='flip'`` scored the masks and
    said nothing, where the command line refuses those options (session 80)."""
    from agriseg.config import OptionError
    from agriseg.crop.config import CropEvaluateConfig
    from agriseg.crop.evaluate import evaluate_model

    _pair(tmp_path, "a", np.ones((8, 8), np.uint8))
    (tmp_path / "pred").mkdir()
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "pred" / "a_mask.png")
    cfg = CropEvaluateConfig(model_name="crop-weed", tta="flip")
    with pytest.raises(OptionError, match="model_name, tta: not read with pred_masks"):
        evaluate_model(tmp_path / "img", tmp_path / "lab", cfg, tmp_path / "pred", progress=False)
    got = evaluate_model(tmp_path / "img", tmp_path / "lab", CropEvaluateConfig(), tmp_path / "pred", progress=False)
    assert got["miou"] == 1.0


def test_a_saved_mask_of_another_size_is_named_by_its_file(tmp_path, caplog, monkeypatch):
    """The line said ``prediction for a has size (6, 8)``: the photo's stem, not the mask file (session 80)."""
    _pair(tmp_path, "a", np.ones((8, 8), np.uint8))
    (tmp_path / "pred").mkdir()
    Image.fromarray(np.full((6, 8), 255, np.uint8)).save(tmp_path / "pred" / "a_mask.png")
    args = ["--images", tmp_path / "img", "--masks", tmp_path / "lab", "--pred-masks", tmp_path / "pred"]
    res = CliRunner().invoke(main, ["crop", "evaluate", *map(str, args)])
    assert res.exit_code == 1 and "a_mask.png: predicted mask is 8x6 px, its photo 8x8" in res.output, res.output
    # a smoothed one of another size: failed for its size, not also warned about as a "label" (session 101's sweep)
    import agriseg.crop.labels as labels

    monkeypatch.setattr(labels, "_SMOOTHED", [])  # said once a process
    grey = np.tile(np.linspace(0, 255, 60).astype(np.uint8), (40, 1))
    Image.fromarray(grey).save(tmp_path / "pred" / "a_mask.png")
    with caplog.at_level("WARNING", logger="agriseg"):
        res = CliRunner().invoke(main, ["crop", "evaluate", *map(str, args)])
    assert res.exit_code == 1 and "predicted mask is 60x40 px" in res.output and "grey values" not in caplog.text


def test_a_folders_mac_files_own_outputs_and_emptiness_are_said_as_such(tmp_path):
    """Session 84's sweep: a photo folder copied from a Mac (``._0001.jpg``) failed as an unreadable image (exit
    1); crop predict's outputs in the photos' folder were listed as photos without a label; an empty labels
    folder said "no image has a label of the same name"."""
    from agriseg.crop.dataset import match_pairs

    _pair(tmp_path, "a", np.zeros((8, 8), np.uint8))
    (tmp_path / "img" / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / "lab" / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "img" / "a_mask.png")
    (tmp_path / "img" / ".agriseg-manifest.jsonl").write_text(
        json.dumps({"command": "crop predict", "item": "a", "outputs": ["a_mask.png"], "fingerprint": {}}) + "\n"
    )
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False)
    assert res["images"] == 1 and res["failed"] == [] and res["images_without_label"] == [], res
    assert res["labels_without_image"] == []
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match=r"none: folder has no label images \(.jpg"):
        match_pairs(tmp_path / "img", tmp_path / "none")


def test_a_label_fitting_the_stored_pixels_of_a_turned_photo_says_so(tmp_path):
    """A photo stored 12x8 with EXIF orientation 6 (shown 8x12) and its label drawn on the stored pixels: "mask
    size (12, 8) differs from image (8, 12)", of a file that is 12x8 (session 84's sweep)."""
    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    photo = Image.fromarray(np.full((8, 12, 3), 90, np.uint8))
    exif = photo.getexif()
    exif[0x0112] = 6
    photo.save(tmp_path / "img" / "a.jpg", exif=exif)
    Image.fromarray(np.zeros((8, 12), np.uint8)).save(tmp_path / "lab" / "a.png")
    with pytest.raises(ValueError, match=r"a.png: label is 12x8 px, its photo .* 8x12 \(the photo is read turned by"):
        evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False)


def test_a_class_no_label_holds_is_said(tmp_path):
    """0/1 vegetation labels read as class ids against a crop / weed model: weed IoU 0.00 and nothing said
    (session 84's sweep)."""

    label = np.zeros((8, 8), np.uint8)
    label[2:5, 2:5] = 1
    _pair(tmp_path, "a", label)
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 3, label_mode="index", progress=False,
                          class_names=["background", "crop", "weed"])  # fmt: skip
    assert res["classes_not_in_labels"] == ["weed"]
    assert (
        "warning: no label holds weed: its IoU is 0 where the model finds some and undefined (nan) where it finds none"
        in _said(res)
    )
    assert _said(res).endswith("(labels of vegetation only? --label-mode binary scores vegetation)")
    both = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, label_mode="index", progress=False)
    assert both["classes_not_in_labels"] == [] and "no label holds" not in _said(both)
    _pair(tmp_path, "a", np.zeros((8, 8), np.uint8))  # soil only: binary scoring is no way out (session 95)
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 3, label_mode="index", progress=False,
                          class_names=["background", "crop", "weed"])  # fmt: skip
    assert "warning: no label holds crop or weed: their IoU" in _said(res)
    assert "(the labels hold only background)" in _said(res) and "binary" not in _said(res)
    plants = np.zeros((8, 8), np.uint8)
    plants[2:6, 2:6] = 255  # 0/255 masks read as class ids: the plants are there, not scored (the review's find)
    _pair(tmp_path, "a", plants)
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, label_mode="index", progress=False)
    assert "only background" not in _said(res) and "use --label-mode binary" in _said(res)


def test_labels_without_background_are_said(tmp_path):
    """Labels of plants on a blue background (an annotation tool's export) read in binary mode: every pixel
    vegetation, 4.54 mIoU, exit 0 and no word; ``classes_not_in_labels`` never looked at background (session
    108's sweep)."""
    blue = np.zeros((8, 8, 3), np.uint8)
    blue[...] = (0, 0, 255)
    blue[2:5, 2:5] = (0, 255, 0)
    _pair(tmp_path, "a", blue)
    names = ["background", "vegetation"]
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False, class_names=names)
    assert res["classes_not_in_labels"] == ["background"]
    assert _said(res).startswith("warning: no label holds background: every scored label pixel is of another")
    assert "--label-mode colormap" in _said(res) and "no label holds vegetation" not in _said(res)
    res["label_mode"] = "colormap"  # a colormap without the background's colour: asked of the colormap
    assert "(does the colormap list the background's colour as class 0?)" in _said(res)
    blue[0, 0] = 0  # one background pixel: no warning
    _pair(tmp_path, "a", blue)
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False, class_names=names)
    assert res["classes_not_in_labels"] == [] and "no label holds" not in _said(res)


def test_colour_labels_given_as_photos_are_refused(tmp_path):
    """The Peanut label folder given as --images was scored as photos: 89.89 mIoU, exit 0 (session 108's sweep);
    ``crop predict`` said it of the same files."""
    from agriseg.config import OptionError

    label = np.zeros((8, 8, 3), np.uint8)
    label[2:5, 2:5] = (0, 255, 0)
    label[5:7, 5:7] = (255, 0, 0)
    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    Image.fromarray(label).save(tmp_path / "img" / "a.png")
    Image.fromarray(label).save(tmp_path / "lab" / "a.png")
    with pytest.raises(OptionError, match=r"img/a.png: a colour label \(3 flat colours.*check that --images names"):
        evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False)


def test_photos_in_subfolders_are_named_beside_the_labels_without_one(tmp_path):
    """Photos in subfolders of --images: "2 labels have no image" and no word of where they are; crop predict
    names such subfolders (session 108's sweep)."""
    label = np.zeros((8, 8), np.uint8)
    label[2:5, 2:5] = 1
    for stem in "abc":
        _pair(tmp_path, stem, label)
    (tmp_path / "img" / "day2").mkdir()
    for stem in "bc":
        (tmp_path / "img" / f"{stem}.png").rename(tmp_path / "img" / "day2" / f"{stem}.png")
    said = _said(evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False))
    assert said == (
        "warning: 2 labels have no image and were not scored (e.g. b.png, c.png); "
        f"{tmp_path / 'img'}: its subfolder day2/ (2) holds files of those names, not read (folders are read "
        "without their subfolders)"
    )
    (tmp_path / "img" / "day2" / "b.png").rename(tmp_path / "img" / "b.png")
    (tmp_path / "img" / "day2" / "c.png").rename(tmp_path / "img" / "day2" / "z.png")  # another photo: not named
    (tmp_path / "lab" / "c.png").unlink()
    said = _said(evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False))
    assert said == "", said


def _photo(seed: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    """A photo-like frame: soil and leaves of every shade (a label holds a few flat colours)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (*size, 3), dtype=np.uint8)


def test_photos_and_labels_swapped_are_refused_before_any_photo_is_segmented(tmp_path):
    """``--images labels/ --masks photos/`` exited 0 with mIoU 33 (session 99's sweep): each photo read as a binary
    label was vegetation nearly everywhere. Every label a photo: a usage error naming the first; one photo among
    good labels fails as its own pair. A JPEG'd colour label is still a label."""
    from agriseg.config import OptionError
    from agriseg.crop.labels import PhotoAsLabel

    calls: list[str] = []

    def counted(stem: str, rgb: np.ndarray) -> np.ndarray:
        calls.append(stem)
        return _ones(stem, rgb)

    for i, stem in enumerate("abc"):
        _pair(tmp_path, stem, _photo(i))
        Image.fromarray(_photo(i + 10)).save(tmp_path / "img" / f"{stem}.png")  # the labels' size
    for mode, colormap in (("binary", None), ("colormap", {"0,255,0": 1})):
        with pytest.raises(OptionError, match=r"lab/a\.png: a photo, not a label .*not swapped"):
            evaluate_folder(tmp_path / "img", tmp_path / "lab", counted, 2, mode, colormap, progress=False)
    assert calls == []
    label = np.zeros((48, 64, 3), np.uint8)
    label[10:30, 10:40] = (0, 255, 0)
    for stem in "bc":
        Image.fromarray(label).save(tmp_path / "lab" / f"{stem}.png")
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False)
    assert res["images"] == 2 and len(res["failed"]) == 1 and "a.png: a photo, not a label" in res["failed"][0]
    Image.fromarray(label).save(tmp_path / "jpeg.jpg", quality=50)
    assert read_label(tmp_path / "jpeg.jpg").sum() == 600
    Image.fromarray(_photo(5)).save(tmp_path / "photo.png")
    with pytest.raises(PhotoAsLabel):
        read_label(tmp_path / "photo.png")
    # a label of 16 classes (more colours than a photo's test counts) and one whose transparent pixels hold any
    # colour (a layer of an image editor) are labels (the review's finds)
    colours = np.random.default_rng(0).integers(0, 256, (16, 3)).astype(np.uint8)
    stripes = np.repeat(colours[None, :, :], 48, 0).repeat(4, 1)  # (48, 64, 3)
    Image.fromarray(stripes).save(tmp_path / "classes.png")
    assert read_label(tmp_path / "classes.png").shape == (48, 64)
    rgba = np.dstack([_photo(6), np.zeros((48, 64), np.uint8)])
    rgba[10:30, 10:40] = (0, 255, 0, 255)
    Image.fromarray(rgba).save(tmp_path / "layer.png")
    assert read_label(tmp_path / "layer.png").sum() == 600
    Image.fromarray(_photo(5)[..., 0]).save(tmp_path / "grey.png")
    assert read_label(tmp_path / "grey.png", "index").shape == (48, 64)  # one band: class ids, not colours


def test_a_grey_label_scored_with_a_colormap_of_colours_is_a_misfit(tmp_path):
    """`crop evaluate --peanut` on 0/255 masks scored vegetation 0.00 (white "not scored"), exit 0 (session 101's
    sweep); a colormap that lists the label's greys reads it (the review: anti-aliased greys are no misfit)."""
    from agriseg.config import OptionError
    from agriseg.crop.labels import PEANUT_VEGETATION

    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255
    _pair(tmp_path, "a", mask)
    with pytest.raises(OptionError, match=r"a\.png: a grey label \(0/255\?\), and the colormap's classes are colours"):
        evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "colormap", PEANUT_VEGETATION, progress=False)
    listed = {"0,0,0": 0, "255,255,255": 1, "255,0,0": 1}
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, "colormap", listed, progress=False)
    assert res["images"] == 1


def test_photos_enlarged_many_times_for_the_model_are_said_once(tmp_path):
    """64 x 48 px photos scored at the model's 800 px: vegetation IoU 1.7 against 39.1 at their own size, and no
    word of why (`crop predict` warns of each such photo; session 104's sweep)."""
    from agriseg.crop.config import CropEvaluateConfig
    from agriseg.crop.evaluate import evaluate_model

    for stem in ("a", "b"):
        _pair(tmp_path, stem, np.zeros((8, 8), np.uint8))
    res = evaluate_model(tmp_path / "img", tmp_path / "lab", CropEvaluateConfig(), progress=False)
    assert len(res["resized_far"]) == 2 and res["resized_far"][0].startswith("photo a: 8x8 px enlarged 100 times")
    assert _said(res).count("enlarged") == 1 and "(and 1 more)" in _said(res)
    own = evaluate_model(tmp_path / "img", tmp_path / "lab", CropEvaluateConfig(long_side=0), progress=False)
    assert own["resized_far"] == [] and "enlarged" not in _said(own)


def test_a_georeferenced_label_of_another_place_and_a_mosaics_blank_edge_are_not_scored(tmp_path):
    """Session 105's sweep: a label 100 km from its mosaic scored as a perfect pair (exit 0), and a mosaic's
    transparent edge was scored as predicted background (mIoU 88.10 -> 83.41, ignored_label_fraction 0)."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    rgb = np.zeros((4, 32, 32), np.uint8)
    rgb[1] = 150  # green
    rgb[3] = 255  # opaque
    rgb[3, :, :8] = 0  # the left quarter transparent
    at = from_origin(500000, 5000000, 0.005, 0.005)
    common = {"driver": "GTiff", "height": 32, "width": 32, "dtype": "uint8", "crs": "EPSG:32632"}
    with rasterio.open(tmp_path / "img" / "m.tif", "w", count=4, transform=at, **common) as dst:
        dst.write(rgb)
        dst.colorinterp = [rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                           rasterio.enums.ColorInterp.blue, rasterio.enums.ColorInterp.alpha]  # fmt: skip
    label = np.ones((1, 32, 32), np.uint8)
    with rasterio.open(tmp_path / "lab" / "m.tif", "w", count=1, transform=at, **common) as dst:
        dst.write(label)
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False)
    assert res["no_photo_fraction"] == 0.25 and res["ignored_label_fraction"] == 0.0
    assert "25.0 % of label pixels lie where the photos hold no data" in _said(res)
    # a photo of no data at all: named as the photo, not as a label "all 255" (session 105's review)
    rgb[3] = 0
    with rasterio.open(tmp_path / "img" / "m.tif", "r+") as dst:
        dst.write(rgb)
    (tmp_path / "img" / "n.tif").write_bytes((tmp_path / "img" / "m.tif").read_bytes())
    (tmp_path / "lab" / "n.tif").write_bytes((tmp_path / "lab" / "m.tif").read_bytes())
    rgb[3] = 255
    with rasterio.open(tmp_path / "img" / "m.tif", "r+") as dst:
        dst.write(rgb)
    res = evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False)
    assert res["void_labels"] == [] and res["failed"] == [
        f"{tmp_path / 'img' / 'n.tif'}: no data in the photo where its label is (transparent or nodata; not scored)"
    ]
    (tmp_path / "img" / "n.tif").unlink()
    (tmp_path / "lab" / "n.tif").unlink()
    elsewhere = from_origin(600000, 5000000, 0.005, 0.005)
    with rasterio.open(tmp_path / "lab" / "m.tif", "w", count=1, transform=elsewhere, **common) as dst:
        dst.write(label)
    with pytest.raises(ValueError, match=r"lab/m.tif: not on its photo's pixel grid \(m.tif: its transform differs"):
        evaluate_folder(tmp_path / "img", tmp_path / "lab", _ones, 2, progress=False)


def test_a_plants_zero_band_is_data_and_a_turned_photos_transparency_turns_with_it(tmp_path):
    """Session 105's review: with nodata 0, a plant pixel (0, 160, 30) was read as no data (any band at nodata),
    and a turned RGBA phone PNG's transparent pixels were of the stored, unturned photo (numpy's broadcast
    error)."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    from agriseg.raster.image import photo_valid

    rgb = np.zeros((3, 20, 30), np.uint8)
    rgb[:, :, :] = np.array([120, 100, 80], np.uint8)[:, None, None]  # soil
    rgb[:, 5:10, 5:10] = np.array([0, 160, 30], np.uint8)[:, None, None]  # a plant: red 0
    rgb[:, :, 25:] = 0  # no data
    profile = {"driver": "GTiff", "height": 20, "width": 30, "count": 3, "dtype": "uint8", "nodata": 0,
               "crs": "EPSG:32632", "transform": from_origin(500000, 5000000, 0.01, 0.01)}  # fmt: skip
    with rasterio.open(tmp_path / "m.tif", "w", **profile) as dst:
        dst.write(rgb)
    valid = photo_valid(tmp_path / "m.tif", (20, 30))
    assert valid is not None and valid[5:10, 5:10].all() and not valid[:, 25:].any() and valid[:, :25].all()
    im = Image.fromarray(np.zeros((20, 30, 4), np.uint8) + 255)
    a = np.asarray(im).copy()
    a[:, :3, 3] = 0  # the stored photo's left columns transparent
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: those columns are its top rows
    im.save(tmp_path / "p.png", exif=exif)
    valid = photo_valid(tmp_path / "p.png", (30, 20))
    assert valid is not None and not valid[:3].any() and valid[3:].all()
