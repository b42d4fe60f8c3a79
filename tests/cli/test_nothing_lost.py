"""Bad input, re-runs and collisions, tried as a user types them: nothing lost, nothing misread.

Each test is one case of a sweep of bad inputs (numbered as in the sweep); each checks the answer a user
needs: a refusal naming the file or option (exit 2 for usage errors), a failed item (exit 1) that leaves the
others done, or outputs that are really this run's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from agriseg.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "agriseg" / "samples" / "peanut" / "images"


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, [str(a) for a in args])
    out = r.output
    assert "Traceback" not in out, out
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"{args}: raised {r.exception!r}\n{out}")
    assert "pydantic" not in out and "errors.pydantic.dev" not in out, out
    return r.exit_code, out


def _photos(folder: Path, n: int = 2) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src in sorted(SAMPLES.glob("*.jpg"))[:n]:
        dst = folder / src.name
        dst.write_bytes(src.read_bytes())
        out.append(dst)
    return out


def _photo_and_mask(folder: Path) -> Path:
    """A gray photo ``a.png`` and its mask ``a_mask.png`` (one 40 x 40 px plant) in ``folder``."""
    folder.mkdir(parents=True)
    Image.fromarray(np.full((60, 80, 3), 120, np.uint8)).save(folder / "a.png")
    m = np.zeros((60, 80), np.uint8)
    m[10:50, 20:60] = 255
    Image.fromarray(m).save(folder / "a_mask.png")
    return folder


# 1. outputs into the photo folder never replace (or read back) a user's own <photo>_mask.png
def test_01_users_mask_in_the_photo_folder_is_kept_and_not_read_back(tmp_path: Path) -> None:
    photos = _photos(tmp_path)
    label = tmp_path / f"{photos[0].stem}_mask.png"
    Image.fromarray(np.full((720, 960), 7, np.uint8)).save(label)
    before = label.read_bytes()
    code, out = _run("crop", "predict", tmp_path, "--outdir", tmp_path, "--no-overlay")
    assert label.read_bytes() == before  # the hand label is untouched
    assert code == 1 and str(label) in out and "--overwrite" in out
    rows = (tmp_path / "summary.csv").read_text()
    assert "skipped" not in rows and "resumed" not in rows.split("\n")[1]  # not reported as this run's result
    assert (tmp_path / f"{photos[1].stem}_mask.png").is_file()  # the other photo is done


# 2. a re-run with anything changed refuses (naming it) or redoes with --overwrite; unchanged: a no-op
def test_02_rerun_with_other_options_or_model_is_refused(tmp_path: Path) -> None:
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    cfg = ModelConfig(encoder_weights=None)

    photos = _photos(tmp_path / "in", 1)
    out = tmp_path / "out"
    model = tmp_path / "default.safetensors"
    save_model(build_model(cfg), cfg, model)
    args = ["crop", "predict", photos[0], "--outdir", out, "-m", model, "--long-side", "64", "--optimize", "none"]
    assert _run(*args)[0] == 0
    mask = out / f"{photos[0].stem}_mask.png"
    state = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code, text = _run(*args)
    assert code == 0 and "0 predicted, 1 skipped" in text  # unchanged: a no-op
    now = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    table = now.pop("summary.csv").decode()  # the outputs as they were; the table says this run skipped them
    now.pop(".agriseg-tables.json")  # and the table's new stamp
    assert now == {k: v for k, v in state.items() if k not in ("summary.csv", ".agriseg-tables.json")}
    assert table == state["summary.csv"].decode().replace(",ok,", ",skipped,")
    code, text = _run(*args[:-3], "96", "--optimize", "none")
    assert code == 1 and "--long-side: 64 -> 96" in text and mask.read_bytes() == state[mask.name]
    save_model(build_model(cfg), cfg, model)  # retrained under the same name
    code, text = _run(*args)
    assert code == 1 and "model" in text and "--overwrite" in text
    photos[0].write_bytes((SAMPLES / "0150.jpg").read_bytes())  # another photo under the same name
    code, text = _run(*args)
    assert code == 1 and f"input {photos[0]}" in text
    code, text = _run(*args, "--overwrite")
    assert code == 0 and "1 predicted" in text and _run(*args)[0] == 0


def test_02_traits_rerun_with_other_scale_or_grid_is_refused(tmp_path: Path) -> None:
    d = _photo_and_mask(tmp_path / "in")
    out = tmp_path / "out"
    assert _run("crop", "traits", d, "--outdir", out, "--px-per-mm", "2")[0] == 0
    assert "1 skipped" in _run("crop", "traits", d, "--outdir", out, "--px-per-mm", "2")[1]
    code, text = _run("crop", "traits", d, "--outdir", out, "--px-per-mm", "3")
    assert code == 1 and "--px-per-mm: 2.0 -> 3.0" in text
    code, text = _run("crop", "traits", d, "--outdir", out, "--px-per-mm", "2", "--grid", "2x2")
    assert code == 1 and "--grid: not given -> 2x2" in text


# 6. / 8. / 13. numbers out of range are refused with the option, the value and what is allowed
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["crop", "traits", "{photo}", "--px-per-mm", "inf"], "--px-per-mm: Input should be a finite number (got inf)"),
        (["crop", "traits", "{photo}", "--px-per-mm", "nan"], "--px-per-mm: Input should be a finite number"),
        (["crop", "predict", "{photo}", "--long-side", "1"], "--long-side: must be 0 (native size) or at least 32"),
        (
            ["fields", "predict", "{photo}", "-m", "{model}", "--divisor", "inf"],
            "--divisor: Input should be a finite number",
        ),
        (["fields", "predict", "{photo}", "-m", "{model}", "--divisor", "nan"], "--divisor: Input should be"),
        (
            ["fields", "predict", "{photo}", "-m", "{model}", "--threads", "-1"],
            "--threads: Input should be greater than or equal to 0",
        ),
        (["crop", "traits", "{photo}", "--meta", ""], "--meta: empty: give a value"),
        (
            ["fields", "map", "{photo}", "-m", "{model}", "--workers", "0"],
            "--workers: Input should be greater than or equal to 1",
        ),
        (
            ["fields", "map", "{photo}", "-m", "{model}", "--workers", "-1"],
            "--workers: Input should be greater than or equal to 1",  # not "0" (the polygoniser's bound)
        ),
    ],
)
def test_06_07_08_13_bad_numbers_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    photo = _photos(tmp_path / "in", 1)[0]
    model = tmp_path / "m.ckpt"
    model.write_bytes(b"never loaded: the options are refused first")
    code, out = _run(*[a.format(photo=photo, model=model) for a in args], "--outdir", tmp_path / "out")
    assert code == 2 and message in out, out
    assert "Value error" not in out and "Config" not in out and "http" not in out
    assert not any((tmp_path / "out").glob("*.tif")) if (tmp_path / "out").exists() else True


# 9. a resize or a download far larger than memory is refused up front with the figure
def test_09_resize_beyond_memory_is_refused_with_the_figure(tmp_path: Path) -> None:
    photo = _photos(tmp_path / "in", 1)[0]
    code, out = _run("crop", "predict", photo, "--outdir", tmp_path / "out", "--long-side", "100000")
    assert code == 2 and f"{photo} (" in out and "px) at --long-side 100000 would need about" in out, out
    assert "GiB" in out
    assert "AGRISEG_MEMORY_CHECK=0" in out and "--no-memory-check" in out
    assert not (tmp_path / "out").exists()  # refused before the output folder is made (session 98's check)


def _error_lines(out: str) -> list[str]:
    """The lines of a refusal that are not click's usage hint."""
    return [ln for ln in out.splitlines() if ln.strip() and not ln.startswith(("Usage:", "Try "))]


def test_09_no_memory_check_option_and_the_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import agriseg.data.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 10_000)  # a machine with 10 kB free
    monkeypatch.delenv(memory.OVERRIDE, raising=False)
    photo = _photos(tmp_path / "in", 1)[0]
    args = ("crop", "predict", photo, "--outdir", tmp_path / "out", "--long-side", "64", "--no-overlay")
    code, out = _run(*args)
    assert code == 2 and "px) at --long-side 64 would need about" in out, out
    code, out = _run(*args, "--no-memory-check")
    assert code == 0 and "1 predicted" in out, out
    assert memory.OVERRIDE not in os.environ  # the option lasts for its own run only
    assert _run(*args, "--overwrite")[0] == 2
    monkeypatch.setenv(memory.OVERRIDE, "0")  # the environment variable still works
    code, out = _run(*args, "--overwrite")
    assert code == 0 and "1 predicted" in out, out


def _fake_text_model(folder: Path) -> Path:
    """A text model folder whose weights are never read (the command refuses before loading them)."""
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    meta = {"class_names": ["background", "cropland", "forest", "water"], "patch": 16, "grid": 8}
    (folder / "agriseg_text.json").write_text(json.dumps(meta))
    return folder


def test_09_crop_traits_refuses_a_photo_beyond_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """crop traits had no memory check: a photo crop predict refuses at once ran to its end (or out of memory)."""
    import agriseg.data.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 10_000)  # a machine with 10 kB free
    monkeypatch.delenv(memory.OVERRIDE, raising=False)
    photo = _photos(tmp_path / "in", 1)[0]
    code, out = _run("crop", "traits", photo, "--outdir", tmp_path / "out")
    assert code == 2 and f"{photo} (" in out and "px) at the model's working size 800 would need about" in out, out
    assert not (tmp_path / "out").exists()
    code, out = _run("crop", "traits", photo, "--outdir", tmp_path / "out", "--no-memory-check")
    assert code == 0 and "1 measured" in out, out


def test_09_text_predict_refuses_an_image_beyond_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    import agriseg.data.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 2**20)  # 1 MiB free
    monkeypatch.delenv(memory.OVERRIDE, raising=False)
    model = _fake_text_model(tmp_path / "m")
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(small)
    Image.fromarray(np.zeros((400, 600, 3), np.uint8)).save(big)
    code, out = _run("text", "predict", big, "--outdir", tmp_path / "pred", "-m", model)
    assert code == 2 and "Traceback" not in out, out  # none fits: refused (with others, it fails alone)
    (line,) = _error_lines(out)
    assert line.startswith(f"Error: {big} (600 x 400 px) would need about 33 MiB of memory; 1 MiB is available")
    assert "--no-memory-check" in line
    assert not (tmp_path / "pred").exists()  # refused before anything was written
    code, out = _run("text", "predict", small, big, "--outdir", tmp_path / "pred", "-m", model, "--no-memory-check")
    assert "would need" not in out  # checked no more: it goes on to load the (fake) model


def test_09_a_photo_beyond_memory_fails_alone_in_a_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Session 88's sweep: one photo too large for the memory refused a whole batch (exit 2); it fails as an
    item now and the others are predicted (all of them too large: refused, as before)."""
    import agriseg.data.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 40 * 2**20)  # 40 MiB free
    monkeypatch.delenv(memory.OVERRIDE, raising=False)
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    Image.fromarray(np.full((8, 16, 3), 90, np.uint8)).save(small)
    Image.fromarray(np.full((1500, 2000, 3), 90, np.uint8)).save(big)
    for cmd, done in (("predict", "1 predicted"), ("traits", "1 measured")):
        args = ("crop", cmd, small, big, "--outdir", tmp_path / cmd, "--long-side", "0")
        code, out = _run(*(args if cmd == "predict" else args[:-2]))
        assert code == 1 and done in out and "1 failed" in out, out
        assert f"{big} (2000 x 1500 px)" in out and "would need about" in out and "Traceback" not in out, out


# 11. a grid over plants 1 px wide (zero-width cells) is measured, and the batch goes on
def test_11_grid_with_zero_width_cells(tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    for name, cols in (("a", slice(200, 201)), ("b", slice(100, 300))):
        Image.fromarray(np.full((300, 400, 3), 120, np.uint8)).save(d / f"{name}.png")
        m = np.zeros((300, 400), np.uint8)
        m[20:280, cols] = 255
        Image.fromarray(m).save(d / f"{name}_mask.png")
    code, out = _run("crop", "traits", d, "--outdir", tmp_path / "out", "--grid", "2x2")
    assert code == 0 and "2 measured" in out, out
    recs = json.loads((tmp_path / "out" / "traits.json").read_text())["images"]
    assert [len(r["regions"]) for r in recs] == [4, 4]
    assert sum(r["plant_count"] for r in recs[0]["regions"]) == 1


# 15. a missing --model is refused once, before the batch
def test_15_missing_model_refused_once(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "in", 2)
    code, out = _run("crop", "traits", *photos, "--outdir", tmp_path / "out", "-m", tmp_path / "nope.safetensors")
    assert code == 2 and out.count("nope.safetensors") == 1 and "failed" not in out, out


# 4. blank, dark or burnt frames are flagged (and still measured); plants, also before white walls, never
LAB = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "lab_set" / "images"


def test_04_quality_rule_on_the_lab_set() -> None:
    from agriseg.crop.quality import photo_quality
    from agriseg.data.io import read_rgb

    flagged = {f.name: photo_quality(read_rgb(f)) for f in sorted(LAB.glob("*.jpg"))}
    assert len(flagged) == 34
    assert all(flagged[n] for n in flagged if n.startswith("uniform_")), flagged
    assert not any(flagged[n] for n in flagged if n.startswith("lab_")), flagged
    assert not any(photo_quality(read_rgb(f)) for f in SAMPLES.glob("*.jpg"))
    assert "underexposed" in photo_quality(np.full((100, 100, 3), 3, np.uint8))
    assert "overexposed" in photo_quality(np.full((100, 100, 3), 255, np.uint8))
    grey = read_rgb(next(SAMPLES.glob("*.jpg"))).mean(-1, keepdims=True).astype(np.uint8).repeat(3, -1)
    assert photo_quality(grey) == "greyscale (vegetation is found by its colour)"  # session 62's sweep


def test_03_a_greyscale_photo_is_said_by_pseudolabel(tmp_path: Path) -> None:
    """A grey photo got a confident pseudo-mask (foreground 0.62 against 0.04 in colour) without a word."""
    from PIL import Image

    photo = tmp_path / "grey.png"
    Image.open(next(SAMPLES.glob("*.jpg"))).convert("L").convert("RGB").save(photo)
    for i in range(5):  # 30 greyscale photos gave 30 lines (session 107's sweep): 3 named, the rest counted
        shutil.copy(photo, tmp_path / f"grey{i}.png")
    code, out = _run("crop", "pseudolabel", *sorted(tmp_path.glob("grey*.png")), "-o", tmp_path / "pl")
    said = " ".join(out.split())
    assert code == 0 and "grey.png: a greyscale photo: a colour index cannot find vegetation in it" in said, out
    assert out.count("a greyscale photo") == 4 and "warning: 3 more files: a greyscale photo" in said, out
    # an index constant on it fails the photo, said as what the photo is (a bare "signal is constant" before)
    code, out = _run("crop", "pseudolabel", photo, "-o", tmp_path / "exg", "--index", "exg")
    assert code == 1, out  # (exg of a grey photo is constant: 2 g - r - b = 0)
    assert "grey.png: a greyscale photo: a colour index cannot find vegetation in it (exg: " in " ".join(out.split())


def test_04_flagged_frames_are_measured_and_reported(tmp_path: Path) -> None:
    d = tmp_path / "in"
    _photos(d, 1)
    for name in ("uniform_white.jpg", "lab_20008.jpg"):  # a plain frame; plants before a white wall
        (d / name).write_bytes((LAB / name).read_bytes())
    code, out = _run("crop", "predict", d, "--outdir", tmp_path / "p", "--no-overlay")
    assert code == 0 and "3 predicted" in out, out
    import csv

    rows = {Path(r["file"]).name: r for r in csv.DictReader((tmp_path / "p" / "summary.csv").open())}
    assert rows["uniform_white.jpg"]["quality"].startswith("no texture") and rows["uniform_white.jpg"]["status"] == "ok"
    assert rows["lab_20008.jpg"]["quality"] == "" and rows["0003.jpg"]["quality"] == ""
    code, out = _run("crop", "traits", d, "--outdir", tmp_path / "t")
    assert code == 0 and "3 measured" in out, out
    q = {(Path(r["file"]).name, r["quality"]) for r in csv.DictReader((tmp_path / "t" / "traits.csv").open())}
    assert ("uniform_white.jpg", "no texture (blank frame, lens cap, sky or out of focus)") in q
    assert ("lab_20008.jpg", "") in q and ("0003.jpg", "") in q


# 5. index labels that are really RGB colour labels are refused, not scored as IoU 0
def test_05_index_mode_on_colour_labels_is_refused(tmp_path: Path) -> None:
    labels = SAMPLES.parent / "labels"
    code, out = _run("crop", "evaluate", "--images", SAMPLES, "--masks", labels, "--label-mode", "index")
    assert code == 2 and "label mode 'index' needs one class id per pixel" in out and "labels/0003.png" in out, out
    (line,) = _error_lines(out)  # one line, and no progress bar before it
    assert line.startswith("Error: ") and "evaluate:" not in out, out


# 12. adapt on only unreadable photos names them (exit 2); 2 photos and a leftover work folder work
def test_12_adapt_on_unreadable_photos_names_them(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a photo")
    (bad / "b.png").write_bytes(b"nor this")
    code, out = _run("crop", "adapt", bad, "-o", tmp_path / "x.safetensors")
    assert code == 2 and f"{bad / 'a.jpg'}: not a readable image" in out and f"{bad / 'b.png'}" in out, out
    assert "Sample larger" not in out


def test_12_adapt_refuses_a_model_of_crop_and_weed(tmp_path: Path) -> None:
    """Session 106's sweep: ``crop adapt -m crop-weed`` trained every plant of the vegetation pseudo-labels as
    crop (crop IoU 84 -> 7), exit 0, and the adapted file still named three classes."""
    out_model = tmp_path / "cw.safetensors"
    code, out = _run("crop", "adapt", SAMPLES, "-o", out_model, "-m", "crop-weed")
    assert code == 2 and "-m crop-weed: a model of 3 classes (background, crop, weed)" in out, out
    assert "adapt a 2-class model" in out and not out_model.exists() and not (tmp_path / "cw_adapt").exists()


@pytest.mark.slow
def test_12_adapt_two_photos_and_a_leftover_work_folder(tmp_path: Path) -> None:
    from agriseg.crop.pseudolabel.synthetic import write_scenes
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    root = write_scenes(tmp_path / "syn", n=2, size=(64, 96))
    mc = ModelConfig(encoder_weights=None, infer_long_side=0)
    base = save_model(build_model(mc), mc, tmp_path / "base.safetensors")
    out_model = tmp_path / "adapted.safetensors"
    args = ["crop", "adapt", root / "images", "-o", out_model, "--model", base, "--index", "exg"]
    args += ["--stage1-epochs", "1", "--stage2-epochs", "1", "--crop-size", "64", "--batch-size", "2"]
    code, out = _run(*args)
    assert code == 0 and out_model.is_file(), out
    out_model.unlink()  # as if killed before the model was written: the work folder is left behind
    assert (tmp_path / "adapted_adapt").is_dir()
    code, out = _run(*args)
    assert code == 0 and out_model.is_file(), out


def test_12_adapt_on_too_few_photos_with_colour_says_which_are_greyscale(tmp_path: Path) -> None:
    """Greyscale photos left out of training leave too few: the error said "could be pseudo-labelled
    (training needs 2): " and nothing after it (session 73's review)."""
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    rgb = np.asarray(Image.open(SAMPLES / "0003.jpg").convert("RGB"))[::4, ::4]
    Image.fromarray(rgb).save(photos / "colour.png")
    for name in ("g1", "g2"):
        grey = np.repeat(rgb.mean(2, keepdims=True), 3, 2).astype(np.int16)
        grey += np.random.default_rng(len(name)).integers(0, 3, grey.shape)
        Image.fromarray(grey.clip(0, 255).astype(np.uint8)).save(photos / f"{name}.png")
    code, out = _run("crop", "adapt", photos, "-o", tmp_path / "x.safetensors")
    assert code == 2 and f"{photos / 'g1.png'}: a greyscale photo: left out of training" in out, out


@pytest.mark.slow
def test_12_adapt_says_which_photos_it_could_not_use(tmp_path: Path) -> None:
    """An unreadable photo was only in the report (under its link in the work folder) and adapt exited 0; a
    greyscale one was warned about ("leave it out") and trained on (session 73's sweep)."""
    from PIL import Image

    from agriseg.crop.pseudolabel.synthetic import write_scenes
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    root = write_scenes(tmp_path / "syn", n=3, size=(64, 96))
    images = root / "images"
    (images / "broken.jpg").write_bytes(b"not a photo")
    first = sorted(images.glob("*.png"))[0]
    grey = np.repeat(np.asarray(Image.open(first).convert("L"))[..., None], 3, 2).astype(np.int16)  # (H, W, 3)
    grey += np.random.default_rng(0).integers(0, 3, grey.shape)  # a JPEG's noise: no colour, but no constant index
    Image.fromarray(grey.clip(0, 255).astype(np.uint8)).save(images / "grey.png")
    mc = ModelConfig(encoder_weights=None, infer_long_side=0)
    base = save_model(build_model(mc), mc, tmp_path / "base.safetensors")
    out_model = tmp_path / "adapted.safetensors"
    args = ["crop", "adapt", images, "-o", out_model, "--model", base, "--index", "exg"]
    code, out = _run(*args, "--stage1-epochs", "1", "--stage2-epochs", "1", "--crop-size", "64", "--batch-size", "2")
    assert code == 1 and out_model.is_file(), out
    assert f"failed: {images / 'broken.jpg'}: not a readable image" in out, out
    assert f"warning: {images / 'grey.png'}: a greyscale photo: left out of training" in out, out
    assert "adapted_adapt" not in out  # the user's photos are named, not their links in the work folder
    trained = (tmp_path / "adapted_adapt" / "train_stems.txt").read_text().split()
    trained += (tmp_path / "adapted_adapt" / "select_stems.txt").read_text().split()
    assert "grey" not in trained and len(trained) == 3


# 10. a truncated model.safetensors in a text model folder is named, without a traceback
def test_10_text_predict_truncated_safetensors(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    model = tmp_path / "m"
    code, out = _run("text", "tiny-model", "-o", model, "--classes", "background,cropland,forest,water")
    assert code == 0, out
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    img = tmp_path / "scene.png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(img)
    code, out = _run(
        "text",
        "predict",
        img,
        "--outdir",
        tmp_path / "pred",
        "-m",
        model,
        "--classes",
        "background,cropland,forest,water",
        "--tile",
        "16",
        "--grid",
        "8",
    )
    assert code == 2 and f"{weights}: truncated or damaged" in out and "SafetensorError" not in out, out
    (line,) = _error_lines(out)
    assert line.startswith(f"Error: {weights}: truncated or damaged"), out


# 14. long file names, a regions CSV with a byte-order mark, a full disk naming the file
def test_14_long_file_names(tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    for n in (231, 243):
        (d / ("p" * (n - 4) + ".jpg")).write_bytes((SAMPLES / "0003.jpg").read_bytes())
    code, out = _run("crop", "predict", d, "--outdir", tmp_path / "out", "--long-side", "64")
    assert code == 0 and "2 predicted" in out, out
    assert len(list((tmp_path / "out").glob("*_overlay.jpg"))) == 2
    code, out = _run("crop", "traits", d, "--outdir", tmp_path / "t")
    assert code == 0 and "2 measured" in out, out


def test_14_regions_csv_with_a_bom(tmp_path: Path) -> None:
    from agriseg.crop.traits.regions import read_regions

    f = tmp_path / "regions.csv"
    f.write_bytes("id,x,y,width,height\r\nA1,0,0,10,10\r\n".encode("utf-8-sig"))
    assert [(r.id, r.width) for r in read_regions(f)] == [("A1", 10)]


def test_14_full_disk_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    d = _photo_and_mask(tmp_path / "in")

    def full(*args: object, **kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    code, out = _run("crop", "traits", d, "--outdir", tmp_path / "out")
    assert code == 1 and f"{tmp_path / 'out' / 'a_plants.png'}: No space left on device" in out, out


def test_14_a_file_cut_short_by_a_full_disk_never_takes_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow ignores a short write: on a full disk the overlay JPEG was cut off, took its final name, was
    recorded as done, and the re-run skipped it. A disk left without a free block fails the item, naming
    the photo and the file."""
    import os
    from types import SimpleNamespace

    import agriseg.data.files as files

    photo = SAMPLES / "0003.jpg"
    full, real, calls = SimpleNamespace(f_bfree=0, f_bavail=0, f_frsize=4096, f_blocks=100), os.statvfs, []

    def statvfs(path: object) -> object:  # full once (the photo's first output), then room again
        calls.append(path)
        return full if len(calls) == 1 else real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "statvfs", statvfs)
    code, out = _run("crop", "predict", photo, "-o", tmp_path / "out")
    said = f"{photo}: {tmp_path / 'out' / '0003_overlay.jpg'}: No space left on device; free some space, then run"
    assert code == 1 and said in out, out
    assert not (tmp_path / "out" / "0003_mask.png").exists() and not (tmp_path / "out" / "0003_overlay.jpg").exists()
    monkeypatch.setattr(files.os, "statvfs", os.statvfs)
    code, out = _run("crop", "predict", photo, "-o", tmp_path / "out")
    assert code == 0 and "1 predicted" in out, out


def test_14_out_of_memory_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A photo that does not fit in memory fails alone; a MemoryError outside any photo is one line too."""
    import agriseg.crop.predict as predict

    first, second = _photos(tmp_path / "in")
    read = predict.read_rgb

    def tight(path: object) -> np.ndarray:
        if Path(str(path)).name == first.name:
            raise MemoryError("Unable to allocate 9.00 GiB for an array with shape (60000, 50000, 3)")
        return read(path)

    monkeypatch.setattr(predict, "read_rgb", tight)
    code, out = _run("crop", "predict", tmp_path / "in", "-o", tmp_path / "out")
    assert code == 1 and f"{first}: out of memory (Unable to allocate 9.00 GiB" in out, out
    assert (tmp_path / "out" / f"{second.stem}_mask.png").exists()

    def no_room(*args: object, **kw: object) -> None:
        raise MemoryError

    monkeypatch.setattr(predict, "load_predictor", no_room)
    code, out = _run("crop", "predict", second, "-o", tmp_path / "out2")
    assert code == 1 and out.strip().endswith("Error: out of memory"), out


# round 3 (a later sweep): the report of crop evaluate never replaces an input or an existing file
def test_evaluate_report_never_replaces_inputs_or_files(tmp_path: Path) -> None:
    labels = SAMPLES.parent / "labels"
    images = tmp_path / "images"
    _photos(images, 1)
    label = next(labels.glob("*.png"))
    before = label.read_bytes()
    for target in (label, images / sorted(p.name for p in images.iterdir())[0]):  # no report's name (session 101)
        code, out = _run(
            "crop", "evaluate", "--images", images, "--masks", labels, "--peanut", "-o", target, "--overwrite"
        )
        assert code == 2 and "written as JSON; name it .json" in out, out
    assert label.read_bytes() == before
    given = tmp_path / "given.json"  # a JSON among the inputs: still never the report
    given.write_text("{}")
    shutil.copy(next(images.iterdir()), tmp_path / "given.jpg")
    code, out = _run(
        "crop", "evaluate", "--images", tmp_path, "--masks", labels, "--peanut", "-o", given, "--overwrite"
    )
    assert code != 0 and "is one of the inputs" in out and given.read_text() == "{}", out
    notes = tmp_path / "notes.json"
    notes.write_text("mine")
    code, out = _run("crop", "evaluate", "--images", images, "--masks", labels, "--peanut", "-o", notes)
    assert code != 0 and "notes.json: exists (use --overwrite)" in out and notes.read_text() == "mine", out
    code, out = _run("crop", "evaluate", "--images", images, "--masks", labels, "--peanut", "-o", notes, "--overwrite")
    assert code == 0 and json.loads(notes.read_text())["miou"] > 0, out


# round 3: a summary.csv / traits.csv of the user's in the output folder is kept, not replaced by the table
@pytest.mark.parametrize(("command", "table"), [("predict", "summary.csv"), ("traits", "traits.csv")])
def test_users_table_in_the_output_folder_is_kept(tmp_path: Path, command: str, table: str) -> None:
    (photo,) = _photos(tmp_path / "out", 1)
    (tmp_path / "out" / table).write_text("USER DATA\n")
    code, out = _run("crop", command, photo, "-o", tmp_path / "out")
    assert code == 2 and f"{table}: exists and was not written by agriseg" in out, out
    assert (tmp_path / "out" / table).read_text() == "USER DATA\n"
    code, out = _run("crop", command, photo, "-o", tmp_path / "out", "--overwrite")
    assert code == 0 and (tmp_path / "out" / table).read_text().startswith("file,"), out
    code, out = _run("crop", command, photo, "-o", tmp_path / "out")  # agriseg's own table: rewritten on re-runs
    assert code == 0 and "1 skipped" in out, out


# round 3: make-synthetic counts and ranges are usage errors with a sentence, not numpy's or geopandas' words
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--countries", "austria:-1"], "--countries: every country needs at least one chip"),
        (["--countries", "austria:1", "--fields-per-chip", "5,2"], "--fields-per-chip: give min,max with 1 <= min"),
        (["--countries", "austria:1", "--fields-per-chip", "0,0"], "--fields-per-chip: give min,max with 1 <= min"),
    ],
)
def test_fields_make_synthetic_bad_counts(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = _run("fields", "make-synthetic", "-o", tmp_path / "ftw", "--size", "64", *args)
    assert code == 2 and message in out and not (tmp_path / "ftw").exists(), out


# round 3: a regions CSV that is not UTF-8 text, or empty, is named with what is wrong (no codec message)
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00garbage\n", "not a text CSV in UTF-8"),
        (b"", "regions CSV is empty"),
        (b"a,b\n1,2\n", "regions CSV needs the columns id,x,y,width,height, has a,b"),
        # QGIS's CSV of plot polygons (session 101): no coordinate system, said so
        (b'plot_id,WKT\np1,"POLYGON((0 0,1 0,1 1,0 0))"\n', "polygons as WKT text in a CSV (no coordinate system)"),
    ],
)
def test_regions_csv_unreadable(tmp_path: Path, content: bytes, message: str) -> None:
    (photo,) = _photos(tmp_path / "in", 1)
    regions = tmp_path / "pots.csv"
    regions.write_bytes(content)
    code, out = _run("crop", "traits", photo, "-o", tmp_path / "out", "--regions", regions)
    assert code == 2 and "--regions: " in out and f"pots.csv: {message}" in out and "codec" not in out, out


# round 3: a largest field area below the smallest is a usage error, not a run that keeps no field
def test_polygonize_max_area_below_min_area(tmp_path: Path) -> None:
    from agriseg.vector.config import PolygonizeConfig

    with pytest.raises(ValueError, match="at least the smallest area kept"):
        PolygonizeConfig(min_area_m2=1000, max_area_m2=10)
    assert PolygonizeConfig(min_area_m2=1000, max_area_m2=0).max_area_m2 == 0  # 0 = no limit


# round 4 (a sweep of the other commands): crop evaluate's label options are usage errors; unscored labels warn
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label-mode", "colormap"], "--label-mode colormap needs --colormap"),
        (["--label-mode", "colormap", "--colormap", "garbage"], "--colormap: 'garbage' is not R,G,B=class"),
        (["--label-mode", "colormap", "--colormap", "0,0,0=0;0,255,0=5"], "class id 5, but 2 classes are scored"),
    ],
)
def test_evaluate_label_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    labels = SAMPLES.parent / "labels"
    images = tmp_path / "images"
    _photos(images, 1)
    code, out = _run("crop", "evaluate", "--images", images, "--masks", labels, *args)
    assert code == 2 and message in out, out


def test_evaluate_warns_when_the_colormap_leaves_label_pixels_unscored(tmp_path: Path) -> None:
    labels = SAMPLES.parent / "labels"
    images = tmp_path / "images"
    _photos(images, 1)
    args = ["--images", images, "--masks", labels, "--label-mode", "colormap", "--colormap", "0,0,0=0"]
    code, out = _run("crop", "evaluate", *args)
    assert code == 0 and "% of label pixels were not scored" in out, out
    r = CliRunner().invoke(main, [str(a) for a in ("crop", "evaluate", *args)])
    assert "not scored" in r.stderr and "not scored" not in r.stdout, r.output  # a warning: stderr, as all others
    import agriseg

    try:
        code, out = _run("-q", "crop", "evaluate", *args)
    finally:
        agriseg.quiet(False)  # -q holds for the process (a command's): not for the tests after this one
    assert code == 0 and "not scored" not in out and "pixel accuracy" in out, out  # -q: no warnings, the scores
    code, out = _run("crop", "evaluate", "--images", images, "--masks", labels, "--peanut")
    assert code == 0 and "label pixels were not scored" not in out, out


# round 4: a regions CSV with a missing value says so, a usage error (exit 2) for traits and plots alike
@pytest.mark.parametrize("command", ["traits", "plots"])
def test_regions_csv_missing_value(tmp_path: Path, command: str) -> None:
    (photo,) = _photos(tmp_path / "in", 1)
    regions = tmp_path / "pots.csv"
    regions.write_text("id,x,y,width,height\n1,0,0,100\n")
    flag = "--regions" if command == "traits" else "--plots"
    code, out = _run("crop", command, photo, "-o", tmp_path / "out", flag, regions)
    assert code == 2 and f"{flag}: " in out and "line 2: a value of x, y, width, height is missing" in out, out


# round 4: scales that overflow an area or round it to 0 are refused (they crashed or wrote inf)
@pytest.mark.parametrize(
    "args",
    [["--px-per-mm", "1e-300"], ["--px-per-mm", "1e155"], ["--reference-box", "0,0,40,40", "--reference-mm", "1e-300"]],
)
def test_traits_scale_out_of_range(tmp_path: Path, args: list[str]) -> None:
    (photo,) = _photos(tmp_path / "in", 1)
    code, out = _run("crop", "traits", photo, "-o", tmp_path / "out", *args)
    assert code == 2 and ("--px-per-mm: " in out or "--reference-mm: " in out), out


# round 4: a required option left out is click's "Missing option", not "got None"
def test_plots_without_plots_file(tmp_path: Path) -> None:
    (photo,) = _photos(tmp_path / "in", 1)
    code, out = _run("crop", "plots", photo, "-o", tmp_path / "out")
    assert code == 2 and "Missing option '--plots'" in out and "None" not in out, out


# round 4: an overlap that leaves tiles a few px apart is refused (0.99 ran 577 s on a 720x420 photo)
def test_predict_overlap_near_one(tmp_path: Path) -> None:
    (photo,) = _photos(tmp_path / "in", 1)
    code, out = _run("crop", "predict", photo, "-o", tmp_path / "out", "--overlap", "0.99")
    assert code == 2 and "--overlap: " in out, out


# round 4: a re-run with another model names the change (its outputs are its own)
@pytest.mark.parametrize(("args", "change"), [(["--model", "crop-weed"], "model")])
def test_predict_rerun_with_other_outputs_names_the_change(tmp_path: Path, args: list[str], change: str) -> None:
    photos = _photos(tmp_path / "in", 1)
    assert _run("crop", "predict", *photos, "-o", tmp_path / "out")[0] == 0
    before = (tmp_path / "out" / "summary.csv").read_text()
    code, out = _run("crop", "predict", *photos, "-o", tmp_path / "out", *args)
    assert code == 1 and "made with other settings" in out and change in out and "not written" not in out, out
    # refused, the run changes nothing: the table still describes the run that made the outputs (session 70)
    assert (tmp_path / "out" / "summary.csv").read_text() == before


def test_options_that_only_choose_files_make_the_missing_ones_and_keep_the_others(tmp_path: Path) -> None:
    """``--no-overlay`` after a run with overlays, or ``crop pseudolabel --plot`` after one without plots, refused
    every photo as "other settings" (--overlay: on -> off) though no mask would change (session 83's sweep): a
    re-run asking for fewer files skips, one asking for more makes them."""
    photos = _photos(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert _run("crop", "predict", *photos, "-o", out)[0] == 0
    code, text = _run("crop", "predict", *photos, "-o", out, "--no-overlay")
    assert code == 0 and "0 predicted, 2 skipped" in text, text
    assert len(list(out.glob("*_overlay.jpg"))) == 2  # the earlier run's overlays stand
    pl = tmp_path / "pl"
    assert _run("crop", "pseudolabel", *photos, "-o", pl)[0] == 0
    code, text = _run("crop", "pseudolabel", *photos, "-o", pl, "--plot")
    assert code == 0 and "2 pseudo-labelled" in text and len(list((pl / "plots").glob("*.png"))) == 2, text
    code, text = _run("crop", "pseudolabel", *photos, "-o", pl)
    assert code == 0 and "0 pseudo-labelled, 2 skipped" in text, text
    code, text = _run("crop", "pseudolabel", *photos, "-o", pl, "--index", "exg")  # a setting: still refused
    assert code == 1 and "--index: cive -> exg" in text, text


# round 4: crop traits into its own input folder: a re-run resumes and never measures its own outputs
def test_traits_into_the_input_folder_resumes(tmp_path: Path) -> None:
    _photos(tmp_path / "in", 2)
    assert _run("crop", "traits", tmp_path / "in", "-o", tmp_path / "in")[0] == 0
    code, out = _run("crop", "traits", tmp_path / "in", "-o", tmp_path / "in")
    assert code == 0 and "0 measured, 2 skipped" in out and "not read as inputs" in out, out
    code, out = _run("crop", "traits", tmp_path / "in", "-o", tmp_path / "in", "--overwrite")
    assert code == 0 and "2 measured" in out, out


# round 4: a bad --meta template is said once, a usage error, before any photo
@pytest.mark.parametrize("command", ["traits", "plots"])
def test_bad_meta_template_is_a_usage_error(tmp_path: Path, command: str) -> None:
    photos = _photos(tmp_path / "in", 2)
    extra = [] if command == "traits" else ["--plots", tmp_path / "pots.csv"]
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\n1,0,0,50,50\n")
    code, out = _run("crop", command, *photos, "-o", tmp_path / "out", "--meta", "date_date", *extra)
    assert code == 2 and out.count("appears twice") == 1 and "--meta: " in out, out


# round 4: a damaged model file is one usage error before any photo (it failed every photo, one line each)
@pytest.mark.parametrize("command", ["traits", "plots"])
def test_damaged_model_is_said_once(tmp_path: Path, command: str) -> None:
    photos = _photos(tmp_path / "in", 2)
    (tmp_path / "junk.safetensors").write_bytes(b"junkjunkjunk")
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\n1,0,0,50,50\n")
    extra = [] if command == "traits" else ["--plots", tmp_path / "pots.csv"]
    code, out = _run("crop", command, *photos, "-o", tmp_path / "out", "-m", tmp_path / "junk.safetensors", *extra)
    assert code == 2 and out.count("cannot read model file") == 1 and "--model " in out, out


# round 4: a photo without colour is measured with a warning naming it
def test_greyscale_photo_is_warned_about(tmp_path: Path) -> None:
    (photo,) = _photos(tmp_path / "in", 1)
    Image.open(photo).convert("L").save(tmp_path / "grey.jpg")
    code, out = _run("crop", "traits", tmp_path / "grey.jpg", "-o", tmp_path / "out")
    assert code == 0 and "grey.jpg: a greyscale photo" in out, out
    code, out = _run("crop", "traits", photo, "-o", tmp_path / "out2")
    assert code == 0 and "a greyscale photo" not in out, out


# round 4: crop evaluate scores the photos it can read and names the others (one truncated photo stopped it)
def test_evaluate_goes_on_past_an_unreadable_photo(tmp_path: Path) -> None:
    labels = SAMPLES.parent / "labels"
    photos = _photos(tmp_path / "im", 2)
    (tmp_path / "lb").mkdir()
    for p in photos:
        (tmp_path / "lb" / f"{p.stem}.png").write_bytes((labels / f"{p.stem}.png").read_bytes())
    (tmp_path / "im" / "trunc.jpg").write_bytes(photos[0].read_bytes()[:3000])
    (tmp_path / "lb" / "trunc.png").write_bytes((labels / f"{photos[0].stem}.png").read_bytes())
    code, out = _run("crop", "evaluate", "--images", tmp_path / "im", "--masks", tmp_path / "lb", "--peanut",
                     "-o", tmp_path / "r.json")  # fmt: skip
    assert (
        code == 1 and "trunc.jpg: truncated image: the file ends before its pixels do" in out and "vegetation" in out
    ), out
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report["failed"]) == 1 and report["miou"] > 0.5


# round 4: crop plots takes a folder of photos, as crop predict and crop traits do ("file not found" before)
def test_plots_takes_a_folder(tmp_path: Path) -> None:
    _photos(tmp_path / "in", 2)
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\n1,0,0,50,50\n")
    code, out = _run("crop", "plots", tmp_path / "in", "--plots", tmp_path / "pots.csv", "-o", tmp_path / "in")
    assert code == 0 and "2 measured" in out, out
    code, out = _run("crop", "plots", tmp_path / "in", "--plots", tmp_path / "pots.csv", "-o", tmp_path / "in")
    assert code == 0 and "2 skipped" in out, out  # its own chart in the folder is not a photo


# round 4: "--tta flip," (a value left out) is a usage error, as "--tta none,flip" is
def test_tta_with_an_empty_value(tmp_path: Path) -> None:
    (photo,) = _photos(tmp_path / "in", 1)
    code, out = _run("crop", "predict", photo, "-o", tmp_path / "out", "--tta", "flip,")
    assert code == 2 and "'flip,' has an empty value" in out, out


# round 4: an empty --model or a folder given as the model says which (both said "model file not found")
@pytest.mark.parametrize(
    ("model", "message"), [("", "empty: give a model name or path"), ("in", "is a folder, not a model file")]
)
def test_model_empty_or_a_folder(tmp_path: Path, model: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (photo,) = _photos(tmp_path / "in", 1)
    monkeypatch.chdir(tmp_path)
    code, out = _run("crop", "predict", photo, "-o", tmp_path / "out", "-m", model)
    assert code == 2 and message in out, out
    assert not (tmp_path / "out").exists()  # a refused command leaves no empty output folder (session 73's sweep)


def test_outputs_an_earlier_run_left_in_a_photo_folder_are_no_photos(tmp_path: Path) -> None:
    """After `crop predict photos -o photos`, `crop predict photos -o other` segmented 0003_mask.png and
    0003_overlay.jpg as photos (0003_mask_mask.png ...)."""
    import shutil

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(SAMPLES / "0003.jpg", photos)
    assert _run("crop", "predict", photos, "-o", photos)[0] == 0
    code, out = _run("crop", "predict", photos, "-o", tmp_path / "other")
    assert code == 0 and "1 predicted" in out and "2 outputs of an earlier run" in out, out
    assert sorted(p.name for p in (tmp_path / "other").glob("*.png")) == ["0003_mask.png"]


def test_evaluate_with_the_photos_as_their_own_labels_is_refused(tmp_path: Path) -> None:
    """`crop evaluate --images X --masks X` scored every photo against itself: mean 100.00, exit 0."""
    code, out = _run("crop", "evaluate", "--images", SAMPLES, "--masks", f"{SAMPLES}/../images")
    assert code == 2 and "the photos' own folder" in out, out


# session 90: a re-run of a make-synthetic command with the same settings said "exists (use --overwrite)"
@pytest.mark.parametrize(
    ("pipeline", "args", "other"),
    [
        ("text", ["-n", "2", "--size", "32"], ["-n", "3", "--size", "32"]),
        ("fields", ["--countries", "austria:2", "--size", "64"], ["--countries", "austria:3", "--size", "64"]),
    ],
)
def test_make_synthetic_rerun_with_the_same_settings_is_done(
    tmp_path: Path, pipeline: str, args: list[str], other: list[str]
) -> None:
    out = tmp_path / "set"
    assert _run(pipeline, "make-synthetic", "-o", out, *args)[0] == 0
    made = sorted(p.relative_to(out) for p in out.rglob("*"))
    code, said = _run(pipeline, "make-synthetic", "-o", out, *args)
    assert code == 0 and "a set generated with these options is already there" in said, said
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == made
    code, said = _run(pipeline, "make-synthetic", "-o", out, *other)  # other settings: still refused, named
    assert code == 2 and "made with other settings (" in said and "; --overwrite makes it again" in said, said
    assert ("--count: 2 -> 3" if pipeline == "text" else "--countries: austria:2 -> austria:3") in said, said


# session 91's sweep: a set with a file removed or overwritten since was "already there" (exit 0)
@pytest.mark.parametrize(
    ("pipeline", "args", "gone", "changed"),
    [
        ("text", ["-n", "2", "--size", "32"], "images/0001.png", "masks/0000.png"),
        ("fields", ["--countries", "austria:2", "--size", "64"], "austria/s2_images/window_a/g00_00001_aus.tif",
         "austria/chips_austria.parquet"),
        ("crop", ["plants", "-n", "2"], "images/plants_00001.jpg", "labels/plants_00000.png"),
    ],
)  # fmt: skip
def test_make_synthetic_rerun_names_files_gone_or_changed_since(
    tmp_path: Path, pipeline: str, args: list[str], gone: str, changed: str
) -> None:
    out = tmp_path / "set"
    assert _run(pipeline, "make-synthetic", *args, "-o", out)[0] == 0
    (out / gone).unlink()
    (out / changed).write_bytes(b"junk")
    code, said = _run(pipeline, "make-synthetic", *args, "-o", out)
    assert code == 2 and "but 1 file removed and 1 changed since it was made" in said and gone in said, said
    assert (out / changed).read_bytes() == b"junk" and not (out / gone).exists()  # kept as it is
    assert _run(pipeline, "make-synthetic", *args, "-o", out, "--overwrite")[0] == 0
    code, said = _run(pipeline, "make-synthetic", *args, "-o", out)
    assert code == 0 and "already there" in said and (out / gone).is_file(), said


def test_fields_make_synthetic_more_fields_than_fit(tmp_path: Path) -> None:
    """5000 Voronoi cells in a 64 px chip made fields smaller than a pixel, without a word."""
    code, out = _run("fields", "make-synthetic", "-o", tmp_path / "ftw", "--size", "64", "--fields-per-chip", "50,5000")
    assert code == 2 and "fields per chip: at most 113 fit in a 64 px chip" in out and not (tmp_path / "ftw").exists()


# session 90's sweep: -o as the source photos' folder mixed the generated photos into the real ones
@pytest.mark.parametrize(("out", "says"), [("src", "holds"), ("src/images", "is"), ("src/images/new", "lies in")])
def test_crop_make_synthetic_never_writes_among_its_sources(tmp_path: Path, out: str, says: str) -> None:
    src = tmp_path / "src"
    photos = _photos(src / "images", 3)
    (src / "labels").mkdir()
    for p in photos:
        (src / "labels" / f"{p.stem}.png").write_bytes((SAMPLES.parent / "labels" / f"{p.stem}.png").read_bytes())
    before = sorted(src.rglob("*"))
    code, text = _run("crop", "make-synthetic", "plants", "-n", "1", "--photos", src / "images", "--labels",
                      src / "labels", "-o", tmp_path / out)  # fmt: skip
    assert code == 2 and f"{says} the --photos folder" in text, text
    assert sorted(src.rglob("*")) == before
    code, text = _run("crop", "make-synthetic", "plants", "-n", "1", "--photos", src / "images", "--labels",
                      src / "labels", "-o", tmp_path / "made")  # fmt: skip
    assert code == 0 and sorted(src.rglob("*")) == before, text


@pytest.mark.slow  # 10 s: the default run keeps the test run under 15 minutes
def test_crop_make_synthetic_goes_on_past_an_unreadable_source(tmp_path: Path) -> None:
    """Session 90's sweep: one empty photo among the sources stopped the whole set (and there was no --strict)."""
    src = tmp_path / "src"
    photos = _photos(src / "images", 3)
    (src / "labels").mkdir()
    for p in photos:
        (src / "labels" / f"{p.stem}.png").write_bytes((SAMPLES.parent / "labels" / f"{p.stem}.png").read_bytes())
    (src / "images" / "empty.jpg").write_bytes(b"")
    (src / "labels" / "empty.png").write_bytes((src / "labels" / f"{photos[0].stem}.png").read_bytes())
    args = ["crop", "make-synthetic", "plants", "-n", "2", "--photos", src / "images", "--labels", src / "labels"]
    code, text = _run(*args, "-o", tmp_path / "set")
    assert code == 1 and "wrote 2 plants photos" in text and "failed: " in text and "empty.jpg: empty file" in text
    made = {p: p.stat().st_mtime_ns for p in (tmp_path / "set").rglob("*.jpg")}
    code, text = _run(*args, "-o", tmp_path / "set")  # nothing changed: the set as it is, its failure said again
    assert code == 1 and "already there" in text and "empty.jpg: empty file" in text, text
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "set").rglob("*.jpg")} == made  # not rewritten
    label = src / "labels" / f"{photos[1].stem}.png"
    kept = label.read_bytes()
    label.write_bytes((src / "labels" / f"{photos[2].stem}.png").read_bytes())  # a source it read, edited
    code, text = _run(*args, "-o", tmp_path / "set")  # (session 100's sweep: the set was replaced unsaid)
    assert code == 2 and "source photos or labels changed since" in text, text
    label.write_bytes(kept)
    (src / "images" / "new1.jpg").write_bytes(photos[0].read_bytes())  # a photo added: a change too (the review)
    (src / "labels" / "new1.png").write_bytes((src / "labels" / f"{photos[0].stem}.png").read_bytes())
    code, text = _run(*args, "-o", tmp_path / "set")
    assert code == 2 and "source photos or labels changed since" in text, text
    (src / "images" / "new1.jpg").unlink()
    (src / "labels" / "new1.png").unlink()
    code, text = _run(*args, "-o", tmp_path / "gone")  # the unread photo removed instead: made again, not refused
    assert code == 1, text
    for f in ("images/empty.jpg", "labels/empty.png"):
        (src / f).rename(tmp_path / Path(f).name)
    code, text = _run(*args, "-o", tmp_path / "gone")
    assert code == 0 and "wrote 2 plants photos" in text, text
    for f in ("images/empty.jpg", "labels/empty.png"):
        (tmp_path / Path(f).name).rename(src / f)
    (src / "images" / "empty.jpg").write_bytes(photos[0].read_bytes())  # mended: the set is made again
    code, text = _run(*args, "-o", tmp_path / "set")
    assert code == 0 and "wrote 2 plants photos" in text and "failed" not in text, text
    assert "failed_sources" not in json.loads((tmp_path / "set" / "index.json").read_text())
    assert "already there" in _run(*args, "-o", tmp_path / "set")[1]
    code, text = _run(*args, "-o", tmp_path / "strict", "--strict")
    assert code == 0, text  # --strict on readable sources
    (src / "images" / "empty.jpg").write_bytes(b"")
    code, text = _run(*args, "-o", tmp_path / "strict2", "--strict")
    assert code == 1 and "Error: " in text and "empty.jpg: empty file" in text and "wrote" not in text, text
    for p in photos:
        p.write_bytes(b"")
    code, text = _run(*args, "-o", tmp_path / "none")  # none readable: said as such, not as "no bare soil"
    assert code == 1 and "none of the 4 photos could be read (" in text and "bare soil" not in text, text
    assert not (tmp_path / "none").exists()  # no empty folder left behind
