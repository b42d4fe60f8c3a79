"""Instruction dataset (records, HF dataset, GeoTIFF georeference) and the light CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from agriseg.cli import main
from agriseg.text.codec import decode_rrle
from agriseg.text.dataset import PatchConfig, patch_records, records_from_arrays
from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscapes


def _write_pairs(tmp: Path, n: int = 2, size: int = 32) -> tuple[Path, Path, np.ndarray]:
    imgs, sems, _ = make_landscapes(n, 3, LandscapeConfig(size=size))
    (tmp / "img").mkdir()
    (tmp / "msk").mkdir()
    for i in range(n):
        Image.fromarray(imgs[i]).save(tmp / "img" / f"a{i}.png")
        Image.fromarray(sems[i].astype(np.uint8)).save(tmp / "msk" / f"a{i}.png")
    return tmp / "img", tmp / "msk", sems


def test_records_are_trl_conversational() -> None:
    imgs, sems, _ = make_landscapes(2, 0, LandscapeConfig(size=32))
    recs = records_from_arrays(imgs, sems, SYNTH_CLASSES, PatchConfig(patch=16, grid=4, mode="grid"))
    assert len(recs) == 8
    r = recs[1]
    content = r["prompt"][0]["content"]
    assert r["prompt"][0]["role"] == "user" and content[:2] == [{"type": "image"}, {"type": "image"}]
    assert "x 16 y 0 to x 32 y 16" in content[2]["text"]
    answer = r["completion"][0]["content"][0]["text"]
    truth = np.array(json.loads(r["truth"]))
    g, rep = decode_rrle(answer, (4, 4), SYNTH_CLASSES)
    assert rep.valid and np.array_equal(g, truth)
    patch, whole = r["images"]  # the patch at full resolution, then the whole image
    assert patch.size == (16, 16) and whole.size == (32, 32)
    assert np.array_equal(np.asarray(patch), imgs[0][0:16, 16:32])
    only = records_from_arrays(imgs, sems, SYNTH_CLASSES, PatchConfig(patch=16, grid=4, patch_image=False))[1]
    assert [im.size for im in only["images"]] == [(32, 32)]
    assert only["prompt"][0]["content"][0] == {"type": "image"} and only["prompt"][0]["content"][1]["type"] == "text"


def test_record_errors() -> None:
    imgs, sems, _ = make_landscapes(1, 0, LandscapeConfig(size=32))
    rng = np.random.default_rng(0)
    recs = patch_records(imgs[0], sems[0], SYNTH_CLASSES, PatchConfig(patch=64, grid=4), rng)  # padded
    assert recs and recs[0]["box"] == [0, 0, 64, 64]
    with pytest.raises(ValueError, match="mask shape"):
        patch_records(imgs[0], sems[0][:16], SYNTH_CLASSES, PatchConfig(patch=16, grid=4), rng)
    with pytest.raises(ValueError, match="outside the 2 class names"):
        patch_records(imgs[0], sems[0] * 0 + 3, ["others", "field"], PatchConfig(patch=16, grid=4), rng)


def test_unknown_class_id_names_the_label_file(tmp_path: Path) -> None:
    """The line named ``a1.png``, the image's name, which the label shares: the label is the file to fix."""
    from agriseg.text.dataset import records_from_files

    img, msk, sems = _write_pairs(tmp_path)
    bad = sems[1].astype(np.uint8)
    bad[:2, :2] = 9
    Image.fromarray(bad).save(msk / "a1.png")
    failed: list[str] = []
    recs = records_from_files(img, msk, SYNTH_CLASSES, PatchConfig(patch=16, grid=4), failed=failed)
    assert recs and len(failed) == 1
    assert failed[0].startswith(f"{msk / 'a1.png'}: class ids [9] outside the")


def test_hf_dataset_features() -> None:
    datasets = pytest.importorskip("datasets")
    from agriseg.text.dataset import to_hf_dataset

    imgs, sems, _ = make_landscapes(2, 0, LandscapeConfig(size=32))
    recs = records_from_arrays(imgs, sems, SYNTH_CLASSES, PatchConfig(patch=16, grid=4, mode="random", per_image=3))
    ds = to_hf_dataset(recs)
    assert len(ds) == 6
    assert isinstance(ds.features["images"].feature, datasets.Image)
    assert len(ds[0]["images"]) == 2
    assert ds[0]["prompt"][0]["content"][2]["type"] == "text"
    assert ds[0]["completion"][0]["role"] == "assistant"
    # a stream of records, taken a few at a time (a list of them held every image decoded: session 69's sweep)
    parts = to_hf_dataset(iter(recs), chunk=4)
    assert len(parts) == 6 and [parts[i]["truth"] for i in range(6)] == [ds[i]["truth"] for i in range(6)]
    assert parts[5]["images"][0].tobytes() == ds[5]["images"][0].tobytes()


def test_cli_dataset_and_missing_classes(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    img, msk, _ = _write_pairs(tmp_path)
    runner = CliRunner()
    out = tmp_path / "ds"
    args = ["text", "dataset", str(img), "--masks", str(msk), "-o", str(out), "-p", "16", "-g", "4"]
    res = runner.invoke(main, [*args, "--classes", "others"])
    assert res.exit_code != 0 and "--classes needs the background word" in res.output
    res = runner.invoke(main, [*args, "--classes", ",".join(SYNTH_CLASSES), "--per-image", "3"])
    assert res.exit_code == 0, res.output
    assert "6 samples" in res.output
    assert "samples: 100%" in res.output and "2/2" in res.output  # a bar over the images (minutes, silent)
    res = runner.invoke(main, [*args, "--classes", ",".join(SYNTH_CLASSES)])
    assert res.exit_code == 2 and "--per-image: 3 -> 8" in res.output, res.output
    res = runner.invoke(main, [*args, "--classes", ",".join(SYNTH_CLASSES), "--per-image", "100000000"])
    assert res.exit_code == 2 and "--per-image: Input should be less than or equal to 10000" in res.output
    # a mask with ids beyond the class list names the file
    res = runner.invoke(main, [*args, "--classes", "others,field", "--overwrite"])
    assert res.exit_code != 0 and "class ids" in res.output


def test_cli_dataset_reruns_are_fingerprinted(tmp_path: Path) -> None:
    """Unchanged: a no-op; another option or input: refused, naming it; --overwrite: made again; a folder
    that this command did not make: kept."""
    pytest.importorskip("datasets")
    img, msk, _ = _write_pairs(tmp_path)
    out = tmp_path / "ds"
    args = ["text", "dataset", str(img), "--masks", str(msk), "-o", str(out), "-p", "16", "-g", "4"]
    args += ["--classes", ",".join(SYNTH_CLASSES), "--per-image", "3"]

    def run(*extra: str) -> tuple[int, str]:
        res = CliRunner().invoke(main, [*args, *extra])
        assert "Traceback" not in res.output and not isinstance(res.exception, AssertionError), res.output
        return res.exit_code, res.output

    assert run()[0] == 0
    state = {p.relative_to(out): p.stat().st_mtime_ns for p in out.rglob("*")}
    code, text = run()
    assert code == 0 and "6 samples, unchanged" in text, text
    assert {p.relative_to(out): p.stat().st_mtime_ns for p in out.rglob("*")} == state  # nothing written
    code, text = run("--seed", "5")
    assert code == 2 and f"{out}: its outputs were made with other settings (--seed: 0 -> 5)" in text, text
    code, text = run("--sentence", "Here:")
    assert code == 2 and "--sentence:  -> Here:" in text, text
    (img / "a1.png").write_bytes((img / "a0.png").read_bytes())  # another image under the same name
    code, text = run()
    assert code == 2 and f"input {img / 'a1.png'}" in text, text
    assert {p.relative_to(out): p.stat().st_mtime_ns for p in out.rglob("*")} == state  # refused: kept
    code, text = run("--overwrite")
    assert code == 0 and "6 samples (random tiles" in text, text
    assert run()[0] == 0
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("a user's folder")
    res = CliRunner().invoke(main, [*args[:6], str(other), *args[7:]])
    # said as left alone at once: "kept; --overwrite replaces it" offered what was then refused (session 99)
    assert res.exit_code == 2 and f"{other}: a folder agriseg did not write" in res.output, res.output
    assert "--overwrite" not in res.output
    assert (other / "notes.txt").read_text() == "a user's folder"


def test_geotiff_keeps_georeference(tmp_path: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    from agriseg.raster.image import GeoRef, read_image
    from agriseg.text.dataset import records_from_files
    from agriseg.text.io import write_mask

    imgs, sems, _ = make_landscapes(1, 1, LandscapeConfig(size=32))
    tr = from_origin(500000.0, 4000000.0, 0.5, 0.5)
    prof = {
        "driver": "GTiff",
        "height": 32,
        "width": 32,
        "dtype": "uint8",
        "crs": "EPSG:32643",
        "transform": tr,
    }
    with rasterio.open(tmp_path / "s.tif", "w", count=3, **prof) as dst:
        dst.write(np.moveaxis(imgs[0], -1, 0))
    with rasterio.open(tmp_path / "m.tif", "w", count=1, **prof) as dst:
        dst.write(sems[0].astype(np.uint8), 1)
    (tmp_path / "m.tif").rename(tmp_path / "mm.tif")
    (tmp_path / "masks").mkdir()
    (tmp_path / "mm.tif").rename(tmp_path / "masks" / "s.tif")
    recs = records_from_files([tmp_path / "s.tif"], [tmp_path / "masks"], SYNTH_CLASSES, PatchConfig(patch=16, grid=4))
    geo = GeoRef.from_json(recs[0]["georef"])
    assert geo is not None and "32643" in (geo.crs or "") and geo.transform[2] == 500000.0
    _, geo2 = read_image(tmp_path / "s.tif")
    write_mask(sems[0], tmp_path / "out.tif", geo2)
    with rasterio.open(tmp_path / "out.tif") as src:
        assert src.crs.to_epsg() == 32643 and src.transform == tr


def test_cli_evaluate(tmp_path: Path) -> None:
    import shutil

    _, msk, sems = _write_pairs(tmp_path)
    pred = shutil.copytree(msk, tmp_path / "pred")  # a perfect prediction (the truth itself is refused)
    out = tmp_path / "rep.json"
    res = CliRunner().invoke(
        main, ["text", "evaluate", str(pred), "--masks", str(msk), "--classes", ",".join(SYNTH_CLASSES), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "mean over present classes but others: Dice 100.00" in res.output
    rep = json.loads(out.read_text())
    assert rep["mean_dice"] == pytest.approx(1.0) and rep["overall_accuracy"] == 1.0
    assert rep["instances"]["field"]["fnr"] == 0.0
    assert out.with_suffix(".csv").read_text().startswith("class,dice_pct,iou_pct,truth_px")


def _eval(tmp: Path, pred: np.ndarray, truth: np.ndarray, classes: str, *extra: str) -> dict:
    for d, a in (("p", pred), ("t", truth)):
        (tmp / d).mkdir(exist_ok=True)
        Image.fromarray(a.astype(np.uint8)).save(tmp / d / "x.png")
    out = tmp / "r.json"  # written again by every call: --overwrite
    res = CliRunner().invoke(
        main,
        [
            "text",
            "evaluate",
            str(tmp / "p"),
            "--masks",
            str(tmp / "t"),
            "--classes",
            classes,
            "-o",
            str(out),
            "--overwrite",
        ]
        + list(extra),
    )
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


def test_evaluate_pools_classes_and_does_not_reward_absent_ones(tmp_path: Path) -> None:
    """A class absent from truth and prediction is not scored 1; listing fewer classes cannot raise the mean."""
    truth = np.zeros((20, 20), np.uint8)
    truth[:10] = 1  # field
    pred = truth.copy()
    pred[:10, :5] = 0  # a quarter of the field missed
    rep = _eval(tmp_path, pred, truth, "others,field,tree,water")
    rep2 = _eval(tmp_path, pred, truth, "others,field")
    assert rep["mean_dice"] == pytest.approx(2 * 150 / (200 + 150))  # field only (absent ones counted 1)
    assert rep2["mean_dice"] == pytest.approx(rep["mean_dice"])
    assert rep["per_class"]["water"]["dice"] is None and rep["per_class"]["tree"]["iou"] is None
    assert rep["per_class"]["field"]["iou"] == pytest.approx(150 / 200)
    assert rep["confusion"]["counts"][1][0] == 50


def test_truth_under_a_predictions_nodata_is_counted_and_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A prediction's 255 (the image's nodata) took the truth under it out of every metric without a word: a
    prediction all nodata scored nothing and the run said 1 image (session 83's sweep)."""
    truth = np.zeros((30, 40), np.uint8)
    truth[5:15, 5:20], truth[20:28, 25:38] = 1, 2
    pred = np.full_like(truth, 255)
    pred[5:15, 5:20] = 1
    rep = _eval(tmp_path, pred, truth, "others,field,tree")
    assert rep["truth_px_without_prediction"] == 30 * 40 - 150
    assert "1050 labelled truth pixels of 1 image were not scored: the prediction has no data there" in caplog.text


def test_evaluate_ignores_nodata(tmp_path: Path) -> None:
    truth = np.zeros((20, 20), np.uint8)
    truth[:10] = 1
    truth[15:] = 255  # nodata
    pred = truth.copy()
    pred[15:] = 2  # anything under nodata
    rep = _eval(tmp_path, pred, truth, "others,field,tree")
    assert rep["mean_dice"] == pytest.approx(1.0)  # nodata was scored as a wrong class
    assert rep["overall_accuracy"] == 1.0
    assert rep["per_class"]["tree"]["predicted_pixels"] == 0


def test_evaluate_scores_the_written_instances(tmp_path: Path) -> None:
    """Predicted instances are the ones predict wrote (as in its GeoJSON), not rebuilt from the mask."""
    truth = np.zeros((20, 20), np.uint8)
    truth[:, :] = 1  # one field covering the tile
    inst = np.zeros((20, 20), np.uint8)
    inst[:, :10], inst[:, 10:] = 1, 2  # predict split it into two instances
    rep = _eval(tmp_path, truth, truth, "others,field")
    assert rep["instances"]["field"]["pred_instances"] == 1
    Image.fromarray(inst).save(tmp_path / "p" / "x_instances.png")
    rep = _eval(tmp_path, truth, truth, "others,field")
    assert rep["instances"]["field"]["pred_instances"] == 2
    assert rep["instances_from"].startswith("1 written")


def test_dataset_pads_edge_tiles_and_accepts_nodata(tmp_path: Path) -> None:
    """A tile smaller than the patch is padded (not a stop of the whole build); 255 is nodata, not an error."""
    (tmp_path / "i").mkdir()
    (tmp_path / "m").mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("big", 32), ("edge", 12)):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(tmp_path / "i" / f"{name}.png")
        m = np.ones((size, size), np.uint8)
        m[0, 0] = 255
        Image.fromarray(m).save(tmp_path / "m" / f"{name}.png")
    args = ["text", "dataset", str(tmp_path / "i"), "--masks", str(tmp_path / "m"), "-o", str(tmp_path / "d")]
    res = CliRunner().invoke(
        main, [*args, "--classes", "others,field", "--patch", "16", "--grid", "4", "--mode", "grid"]
    )
    assert res.exit_code == 0, res.output
    from datasets import load_from_disk

    ds = load_from_disk(str(tmp_path / "d"))
    edge = [json.loads(r["truth"]) for r in ds if r["source"] == "edge.png"]
    assert len(edge) == 1
    assert np.array(edge[0])[:3, :3].min() == 1  # the tile's own cells keep their class


def test_tiles_the_size_of_the_tile_give_one_sample_each_and_smaller_ones_are_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A user's 16-px tiles at --tile 16 gave --per-image (8) copies of one sample each; tiles smaller than the
    tile were padded without a word."""
    rng = np.random.default_rng(0)
    for d in ("i", "m"):
        (tmp_path / d).mkdir()
    for name, size in (("a", 16), ("b", 16), ("c", 12)):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(tmp_path / "i" / f"{name}.png")
        Image.fromarray(np.ones((size, size), np.uint8)).save(tmp_path / "m" / f"{name}.png")
    args = ["text", "dataset", str(tmp_path / "i"), "--masks", str(tmp_path / "m"), "-o", str(tmp_path / "d")]
    res = CliRunner().invoke(main, [*args, "--classes", "others,field", "--tile", "16", "--grid", "4"])
    assert res.exit_code == 0 and "3 samples" in res.output, res.output
    assert "1 of 3 images are smaller than the 16-px tile (the first: " in caplog.text
    assert "c.png, 12x12 px)" in caplog.text and "a tile of at most 12 px (--tile)" in caplog.text
    assert "(one smaller on both sides gives one tile, however many are asked)" in caplog.text  # was unsaid


def test_an_image_that_gives_no_sample_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An image whose label is all nodata (255) gave no sample and was dropped without a word."""
    pytest.importorskip("datasets")
    img, msk, _ = _write_pairs(tmp_path, n=3, size=16)
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(msk / "a1.png")
    args = ["text", "dataset", str(img), "--masks", str(msk), "-o", str(tmp_path / "d"), "--tile", "16", "--grid", "4"]
    res = CliRunner().invoke(main, [*args, "--classes", ",".join(SYNTH_CLASSES)])
    assert res.exit_code == 0 and "2 samples" in res.output, res.output
    assert "a1.png: gave no sample (no labelled pixel where the image has data" in caplog.text


def test_two_files_of_one_stem_are_refused(tmp_path: Path) -> None:
    """Matched by stem, x/a.png and y/a.png would both take one mask (dataset) or one truth (evaluate): a usage
    error (exit 2), as in the crop commands."""
    img, msk, _ = _write_pairs(tmp_path)
    (tmp_path / "img2").mkdir()
    (tmp_path / "msk2").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "img2" / "a0.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "msk2" / "a0.png")
    opts = ["-o", str(tmp_path / "d"), "--classes", ",".join(SYNTH_CLASSES), "-p", "16"]
    res = CliRunner().invoke(
        main, ["text", "dataset", str(img), "--masks", str(msk), "--masks", str(tmp_path / "msk2"), *opts]
    )
    assert res.exit_code == 2 and "msk2/a0.png: another mask has the stem 'a0'" in res.output, res.output
    res = CliRunner().invoke(main, ["text", "dataset", str(img), str(tmp_path / "img2"), "--masks", str(msk), *opts])
    assert res.exit_code == 2 and "img2/a0.png: another image has the stem 'a0'" in res.output, res.output
    assert not (tmp_path / "d").exists()
    args = [
        "text",
        "evaluate",
        str(msk),
        str(tmp_path / "msk2"),
        "--masks",
        str(msk),
        "--classes",
        ",".join(SYNTH_CLASSES),
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "another prediction has the stem 'a0'" in res.output, res.output


def test_evaluate_scores_tiles_whose_name_holds_instances(tmp_path: Path) -> None:
    """Only predict's `<stem>_instances` files are passed over, not a tile named field_instances_2."""
    truth = np.ones((8, 8), np.uint8)
    _eval(tmp_path, truth, truth, "others,field")
    for d in ("p", "t"):
        (tmp_path / d / "x.png").rename(tmp_path / d / "field_instances_2.png")
    out = tmp_path / "r2.json"
    args = [
        "text",
        "evaluate",
        str(tmp_path / "p"),
        "-t",
        str(tmp_path / "t"),
        "--classes",
        "others,field",
        "-o",
        str(out),
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["images"] == 1
    # -t / --truth: the true masks are --masks in every command now; the old flags work for a release
    assert "-t is deprecated and goes in the next release; use --masks" in res.output


def test_evaluate_report_name_is_the_json(tmp_path: Path) -> None:
    _, msk, _ = _write_pairs(tmp_path)
    args = ["text", "evaluate", str(msk), "--masks", str(msk), "--classes", ",".join(SYNTH_CLASSES), "-o"]
    res = CliRunner().invoke(main, [*args, str(tmp_path / "r.csv")])
    assert res.exit_code == 2 and "r.csv: written as JSON; name it .json" in res.output


def test_dataset_output_never_replaces_the_working_folder_or_a_users_folder(tmp_path: Path, monkeypatch) -> None:
    """`-o .. --overwrite` emptied the parent (the user's files and the working folder, then failed);
    `-o victim --overwrite` removed a folder of notes."""
    img, msk, _ = _write_pairs(tmp_path)
    classes = ",".join(SYNTH_CLASSES)
    inner = tmp_path / "proj" / "inner"
    inner.mkdir(parents=True)
    (tmp_path / "proj" / "precious.txt").write_text("mine")
    monkeypatch.chdir(inner)
    for out in ("..", "."):
        res = CliRunner().invoke(main, ["text", "dataset", str(img), "--masks", str(msk), "-o", out,
                                        "--classes", classes, "--overwrite"])  # fmt: skip
        assert res.exit_code == 2 and "the working folder, which this output would replace" in res.output, res.output
    assert (tmp_path / "proj" / "precious.txt").read_text() == "mine" and inner.is_dir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("mine")
    args = ["text", "dataset", str(img), "--masks", str(msk), "-o", str(victim), "--classes", classes]
    res = CliRunner().invoke(main, [*args, "--overwrite"])
    assert res.exit_code == 2 and "a folder agriseg did not write (it holds notes.txt)" in res.output, res.output
    assert (victim / "notes.txt").read_text() == "mine"
    (victim / "notes.txt").unlink()  # an empty folder is used; the data set in it is replaced by --overwrite
    assert CliRunner().invoke(main, args).exit_code == 0
    res = CliRunner().invoke(main, [*args, "--overwrite", "--seed", "3"])
    assert res.exit_code == 0, res.output


def test_a_data_set_folder_of_an_earlier_version_is_still_replaced_by_overwrite(tmp_path: Path) -> None:
    """Folders written before the .agriseg-output mark were refused as 'a folder agriseg did not write', while
    the re-run asked for --overwrite: a loop. The manifest's finished record, or an agriseg file, vouches."""
    from agriseg.data.files import FOLDER_MARK

    img, msk, _ = _write_pairs(tmp_path)
    out = tmp_path / "ds"
    args = ["text", "dataset", str(img), "--masks", str(msk), "-o", str(out), "--classes", ",".join(SYNTH_CLASSES)]
    assert CliRunner().invoke(main, args).exit_code == 0
    (out / FOLDER_MARK).unlink()  # as an earlier version left it
    res = CliRunner().invoke(main, [*args, "--overwrite", "--seed", "5"])
    assert res.exit_code == 0, res.output
    (out / FOLDER_MARK).unlink()
    (out / ".DS_Store").write_bytes(b"x")
    model = tmp_path / "model"  # a text model folder of an earlier version: agriseg_text.json is agriseg's
    model.mkdir()
    (model / "agriseg_text.json").write_text("{}")
    from agriseg.data.files import check_replaceable

    check_replaceable(model)
    shown = tmp_path / "only_finder"
    shown.mkdir()
    (shown / ".DS_Store").write_bytes(b"x")  # what a file browser leaves is no user data
    check_replaceable(shown)


def test_make_synthetic_into_an_empty_folder_made_ready(tmp_path: Path) -> None:
    """`mkdir out` first, then `text make-synthetic -o out`: it said 'exists (use --overwrite)'."""
    (tmp_path / "syn").mkdir()
    res = CliRunner().invoke(main, ["text", "make-synthetic", "-o", str(tmp_path / "syn"), "-n", "2", "--size", "32"])
    assert res.exit_code == 0 and (tmp_path / "syn" / "images").is_dir(), res.output


def test_an_edge_tile_pads_its_mask_with_nodata_below_and_right() -> None:
    """A padded mask of 0 taught background where the tile had no pixels; swapped pads misshaped a tile."""
    from agriseg.text.dataset import NODATA, pad_edge_tile

    image = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)  # (H, W, 3), H != W
    mask = np.ones((3, 5), np.uint8)
    img, m = pad_edge_tile(image, mask, 8)
    assert img.shape == (8, 8, 3) and m.shape == (8, 8)
    assert (m[:3, :5] == 1).all() and (m[3:] == NODATA).all() and (m[:, 5:] == NODATA).all()
    np.testing.assert_array_equal(img[:3, :5], image)
    np.testing.assert_array_equal(img[7, :5], image[2])  # edge pixels repeated


@pytest.mark.parametrize(
    ("given", "flag"),
    [
        (["--overlap", "0.5"], "--overlap: read with --mode grid only"),
        (["--mode", "grid", "--per-image", "3"], "--per-image: read with --mode random only"),
        (["--mode", "grid", "--align", "8"], "--align: read with --mode random only"),
    ],
)
def test_tile_options_of_the_other_mode_are_refused(tmp_path: Path, given: list[str], flag: str) -> None:
    """``--overlap`` with random tiles and ``--per-image`` / ``--align`` with the grid gave the same samples as
    without them, with exit 0 (session 80)."""
    args = ["text", "dataset", str(tmp_path / "i"), "--masks", str(tmp_path / "m"), "-o", str(tmp_path / "d")]
    res = CliRunner().invoke(main, [*args, "--classes", "others,field", *given])
    assert res.exit_code == 2 and flag in res.output, res.output
    assert not (tmp_path / "d").exists()


def test_jpeg_masks_and_swapped_sides_are_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A JPEG label (class ids changed along edges by compression) was taken without a word; a mask of an
    EXIF-rotated photo failed as a size mismatch with no hint why (session 83's sweep)."""
    pytest.importorskip("datasets")
    for d in ("i", "m"):
        (tmp_path / d).mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "i" / "a.png")
    Image.fromarray(np.ones((16, 16), np.uint8)).save(tmp_path / "m" / "a.jpg")
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(tmp_path / "i" / "b.png")
    Image.fromarray(np.ones((24, 16), np.uint8)).save(tmp_path / "m" / "b.png")
    args = ["text", "dataset", str(tmp_path / "i"), "--masks", str(tmp_path / "m"), "-o", str(tmp_path / "d")]
    res = CliRunner().invoke(main, [*args, "--classes", "others,field", "--tile", "16", "--grid", "4"])
    assert res.exit_code == 1, res.output
    assert "1 mask saved as JPEG / WebP (the first: " in caplog.text
    assert "b.png: mask is (24, 16), image b.png is (16, 24) (sides swapped: an EXIF-rotated photo" in res.output


def test_an_image_without_a_truth_instance_map_is_named(tmp_path: Path) -> None:
    """With --mask-instances, an image whose map is missing took its true instances from the mask's connected
    components, pooled with the others' maps without a word (session 102's sweep)."""
    truth = np.zeros((20, 20), np.uint8)
    truth[:, :] = 1
    for d, name in (("p", "a"), ("p", "b"), ("t", "a"), ("t", "b")):
        (tmp_path / d).mkdir(exist_ok=True)
        Image.fromarray(truth).save(tmp_path / d / f"{name}.png")
    (tmp_path / "inst").mkdir()
    inst = np.zeros((20, 20), np.uint8)
    inst[:, :10], inst[:, 10:] = 1, 2
    Image.fromarray(inst).save(tmp_path / "inst" / "a.png")
    args = ["text", "evaluate", str(tmp_path / "p"), "--masks", str(tmp_path / "t"), "--classes", "others,field"]
    res = CliRunner().invoke(main, [*args, "--mask-instances", str(tmp_path / "inst"), "-o", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert "1 of the 2 images scored have no truth instance map in" in res.output and "(b.png)" in res.output
    assert json.loads((tmp_path / "r.json").read_text())["images_without_truth_instance_map"] == ["b.png"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "instance map" not in res.output, res.output  # none asked for: no word


def test_an_ignore_value_that_is_a_class_id_gets_no_advice_to_write_0_and_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``--ignore-value 1`` on 0/1 masks advised "for a 0/1 mask, write its classes as 0 and 1" (session 102)."""
    truth = np.zeros((20, 20), np.uint8)
    truth[:10] = 1
    with caplog.at_level("WARNING", logger="agriseg"):
        _eval(tmp_path, truth * 2, truth, "others,field,tree", "--ignore-value", "1")
    assert "is the id of class 'field'" in caplog.text and "write its classes as 0 and 1" not in caplog.text
