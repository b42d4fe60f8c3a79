"""crop predict on awkward batches: re-runs, collisions, earlier outputs, odd encodings, kills."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from agriseg.batch import BatchOptions
from agriseg.crop.predict import predict_files
from agriseg.crop.predictor import Predictor
from agriseg.models import build_model
from agriseg.models.config import ModelConfig


@pytest.fixture(scope="module")
def pred() -> Predictor:
    import torch

    torch.manual_seed(0)
    return Predictor(build_model(encoder_weights=None), 2, long_side=64, batch_size=2)


def _photo(path: Path, seed: int, size: tuple[int, int] = (48, 64)) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size, 3), np.uint8)).save(path)
    return path


def _summary(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_rerun_keeps_the_summary_rows(pred, tmp_path):
    files = [_photo(tmp_path / f"p{i}.png", i) for i in range(3)]
    predict_files(pred, files, tmp_path / "o", batch=BatchOptions(progress=False))
    first = _summary(tmp_path / "o" / "summary.csv")
    predict_files(pred, files, tmp_path / "o", batch=BatchOptions(progress=False))
    again = _summary(tmp_path / "o" / "summary.csv")
    assert [{**r, "status": "ok"} for r in again] == first  # the same values, read back
    assert all(r["status"] == "ok" and r["vegetation_fraction"] != "" for r in first)
    assert all(r["status"] == "skipped" for r in again)


def test_a_photo_that_comes_down_to_nothing_fails_alone(pred, tmp_path):
    """A 5000 x 3 strip at --long-side 256 came down to 0 px across: an empty mask reported "ok" beside a warning
    (session 95's sweep). It fails, saying how to read it; the other photos are predicted."""
    files = [_photo(tmp_path / "strip.png", 0, (2, 400)), _photo(tmp_path / "p.png", 1)]
    res = predict_files(pred, files, tmp_path / "o", batch=BatchOptions(progress=False))  # long side 64
    assert [r["status"] for r in res] == ["error", "ok"]
    assert res.failures == [f"{files[0]}: 400x2 px comes down to under 1 px across at the working size "
                            "(--long-side 64): nothing to segment; --long-side 0 reads it at its own size"]  # fmt: skip
    assert not (tmp_path / "o" / "strip_mask.png").exists()


def test_a_photo_is_done_only_with_all_outputs(pred, tmp_path):
    files = [_photo(tmp_path / f"p{i}.png", i) for i in range(2)]
    out = tmp_path / "o"
    predict_files(pred, files, out, batch=BatchOptions(progress=False))
    overlay = (out / "p1_overlay.jpg").read_bytes()
    (out / "p1_overlay.jpg").unlink()
    stale = out / ".p0_overlay.jpg.agriseg-tmp-999999.jpg"  # left by a killed run (no such process)
    stale.write_bytes(b"half")
    notes = out / ".notes.tmp-2024.txt"  # a user's hidden file of a like name: not ours to remove
    notes.write_text("mine")
    rows = predict_files(pred, files, out, batch=BatchOptions(progress=False))
    assert (out / "p1_overlay.jpg").read_bytes() == overlay
    assert [r["status"] for r in rows] == ["skipped", "ok"]
    assert not stale.exists() and notes.read_text() == "mine"


def test_a_photo_counts_as_done_once_written_not_a_batch_later(tmp_path):
    """Each photo is reported (progress bar, manifest, a Ctrl-C's count) as soon as its outputs are written: it
    waited until two batches more were queued, so a Ctrl-C said "none of 12 done" with six masks on disk."""
    import torch

    from agriseg.batch import Item
    from agriseg.crop.predict import _predict_stream, photo_outputs

    torch.manual_seed(0)
    one = Predictor(build_model(encoder_weights=None), 2, long_side=64, batch_size=1)
    seen: list[str] = []
    at_call: list[int] = []
    real = one.probabilities

    def slow(images):  # the model pass: long enough for the previous photo's write to finish
        at_call.append(len(seen))
        time.sleep(0.3)
        return real(images)

    one.probabilities = slow  # type: ignore[method-assign]
    files = [_photo(tmp_path / f"p{i}.png", i) for i in range(4)]
    out = tmp_path / "o"
    out.mkdir()
    items = [Item(f.stem, f, tuple(photo_outputs(out, f.stem, 2, False).all()), (f,),
                  payload=photo_outputs(out, f.stem, 2, False)) for f in files]  # fmt: skip
    for it, _ in _predict_stream(one, items, 2, []):
        seen.append(it.name)
    assert seen == ["p0", "p1", "p2", "p3"]
    assert at_call[2] >= 1  # p0 reported before the third photo's model pass (0 before)

    def interrupted(images):  # Ctrl-C in the third model pass: the two photos given to the writer still count
        if len(at_call) == 6:
            raise KeyboardInterrupt
        return slow(images)

    one.probabilities = interrupted  # type: ignore[method-assign]
    seen.clear()
    at_call[:] = [0, 0, 0, 0]
    with pytest.raises(KeyboardInterrupt):
        for it, _ in _predict_stream(one, items, 2, []):
            seen.append(it.name)
    assert seen == ["p0", "p1"]


def test_name_collisions_keep_every_result(pred, tmp_path):
    files = [_photo(tmp_path / "a.jpg", 0), _photo(tmp_path / "a.png", 1), _photo(tmp_path / "a_1.jpg", 2)]
    rows = predict_files(pred, files, tmp_path / "o", write_overlay=False, batch=BatchOptions(progress=False))
    masks = sorted(p.name for p in (tmp_path / "o").glob("*_mask.png"))
    assert masks == ["a_1_mask.png", "a_jpg_mask.png", "a_png_mask.png"]
    assert [r["status"] for r in rows] == ["ok"] * 3


def test_outputs_in_the_input_folder_are_not_read_back(pred, tmp_path):
    _photo(tmp_path / "p.png", 0)
    runner = CliRunner()
    model = tmp_path / "m" / "tiny.safetensors"
    _save_tiny(model)
    args = ["crop", "predict", str(tmp_path), "-o", str(tmp_path), "--model", str(model)]
    from agriseg.cli import main

    for _ in range(2):
        res = runner.invoke(main, args)
        assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.glob("p*.*")) == ["p.png", "p_mask.png", "p_overlay.jpg"]
    assert "1 skipped" in res.output and "(2 outputs of an earlier run not read as photos)" in res.output


def test_a_users_file_named_like_an_output_is_never_replaced(pred, tmp_path):
    """Predicting into the photo folder: a file of the user's named like an output (a hand-drawn z_mask.png, a
    photo called z_overlay.jpg) was taken for an earlier run's output and --overwrite replaced it (session 83's
    sweep). Without a record that agriseg wrote it, it is kept, and the photo whose output it would be fails."""
    from agriseg.cli import main

    _photo(tmp_path / "z.jpg", 0)
    _photo(tmp_path / "y.jpg", 1)
    mine = _photo(tmp_path / "z_overlay.jpg", 2).read_bytes()
    model = tmp_path / "m" / "tiny.safetensors"
    _save_tiny(model)
    args = ["crop", "predict", str(tmp_path), "-o", str(tmp_path), "--model", str(model)]
    for extra in ([], ["--overwrite"]):
        res = CliRunner().invoke(main, [*args, *extra])
        assert res.exit_code == 1, res.output
        assert f"failed: {tmp_path / 'z.jpg'}: its output {tmp_path / 'z_overlay.jpg'} is named like" in res.output
        assert "kept, even with --overwrite" in res.output and "not read as photos: z_overlay.jpg)" in res.output
        assert (tmp_path / "z_overlay.jpg").read_bytes() == mine and (tmp_path / "y_mask.png").is_file()
    # given alone, into its own folder: it said the folder "holds only outputs of an earlier run" (session 103)
    res = CliRunner().invoke(main, ["crop", "predict", str(tmp_path / "z_overlay.jpg"), "-o", str(tmp_path),
                                    "--model", str(model)])  # fmt: skip
    assert res.exit_code == 2, res.output
    assert f"{tmp_path / 'z_overlay.jpg'}: named like a crop predict output in the output folder" in res.output


def test_photos_that_join_a_run_leave_the_names_of_its_outputs_alone(tmp_path):
    """Day 1: ``crop predict d1 -o out`` wrote IMG_1_mask.png; day 2: ``crop predict d1 d2 -o out`` (d2 has an
    IMG_1.jpg too) renamed day 1's photo d1_IMG_1_jpg, predicted it again and left IMG_1_mask.png beside it: a
    traits run over out/ then measured that photo twice (session 84). A name given before is kept now."""
    from agriseg.cli import main

    for day in ("d1", "d2"):
        (tmp_path / day).mkdir()
        _photo(tmp_path / day / "IMG_1.jpg", 1 if day == "d1" else 2)
    _photo(tmp_path / "d1" / "IMG_2.jpg", 3)
    model = tmp_path / "m" / "tiny.safetensors"
    _save_tiny(model)
    out = tmp_path / "out"
    args = ["crop", "predict", "--model", str(model), "-o", str(out), "--no-overlay"]
    first = CliRunner().invoke(main, [*args, str(tmp_path / "d1")])
    assert first.exit_code == 0, first.output
    day1 = (out / "IMG_1_mask.png").read_bytes()
    res = CliRunner().invoke(main, [*args, str(tmp_path / "d1"), str(tmp_path / "d2")])
    assert res.exit_code == 0 and "1 predicted, 2 skipped" in res.output, res.output
    masks = sorted(p.name for p in out.glob("*_mask.png"))
    assert masks == ["IMG_1_mask.png", "IMG_2_mask.png", "d2_IMG_1_jpg_mask.png"]
    assert (out / "IMG_1_mask.png").read_bytes() == day1
    assert [r["file"] for r in _summary(out / "summary.csv")] == [
        str(tmp_path / "d1" / "IMG_1.jpg"), str(tmp_path / "d1" / "IMG_2.jpg"), str(tmp_path / "d2" / "IMG_1.jpg")
    ]  # fmt: skip
    again = CliRunner().invoke(main, [*args, str(tmp_path / "d1"), str(tmp_path / "d2")])
    assert "0 predicted, 3 skipped" in again.output, again.output
    fresh = CliRunner().invoke(main, [*args[:-2], str(tmp_path / "fresh"), str(tmp_path / "d1"), str(tmp_path / "d2")])
    assert fresh.exit_code == 0, fresh.output  # a first run into another folder names both by their folders
    fresh_masks = {p.name for p in (tmp_path / "fresh").glob("*_mask.png")}
    assert fresh_masks >= {"d1_IMG_1_jpg_mask.png", "d2_IMG_1_jpg_mask.png"}


def test_saved_masks_are_scored_under_the_names_crop_predict_gave_their_photos(tmp_path):
    """``crop predict day1 -o out``, then ``day1 day2``: day 2's IMG_1 is out/day2_IMG_1_jpg_mask.png, but
    ``crop evaluate --images day2 --pred-masks out`` scored day 1's out/IMG_1_mask.png against day 2's label by
    name (vegetation IoU 3.82 where the model scores 69.89; session 84's check of its own fixes)."""
    import json

    from agriseg.cli import main

    samples = sorted(
        (Path(__file__).resolve().parents[2] / "src" / "agriseg" / "samples" / "peanut" / "images").iterdir()
    )
    for day, sample in (("d1", samples[0]), ("d2", samples[1])):  # two fields: two masks (the default model)
        (tmp_path / day).mkdir()
        Image.open(sample).convert("RGB").resize((200, 150)).save(tmp_path / day / "IMG_1.jpg")
    out = tmp_path / "out"
    args = ["crop", "predict", "-o", str(out), "--no-overlay"]
    assert CliRunner().invoke(main, [*args, str(tmp_path / "d1")]).exit_code == 0
    assert CliRunner().invoke(main, [*args, str(tmp_path / "d1"), str(tmp_path / "d2")]).exit_code == 0
    (tmp_path / "lab").mkdir()
    Image.open(out / "d2_IMG_1_jpg_mask.png").save(tmp_path / "lab" / "IMG_1.png")  # day 2's own mask as label
    report = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["crop", "evaluate", "--images", str(tmp_path / "d2"), "--masks",
                                    str(tmp_path / "lab"), "--pred-masks", str(out), "-o", str(report)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(report.read_text())["pixel_accuracy"] == 1.0  # its own mask, not day 1's


def test_masks_of_a_photo_replaced_since_are_not_measured_or_scored(tmp_path):
    """`crop predict dir -o dir`, then the photo replaced by another of its name: `crop traits` measured the new
    photo's colours under the old photo's outline, and `crop evaluate --pred-masks` scored the old mask against
    the new label (vegetation IoU 1.95 where the model scores 55.99), exit 0 (session 86's sweep)."""
    from agriseg.cli import main

    samples = sorted(
        (Path(__file__).resolve().parents[2] / "src" / "agriseg" / "samples" / "peanut" / "images").iterdir()
    )
    (tmp_path / "d").mkdir()
    Image.open(samples[0]).convert("RGB").resize((200, 150)).save(tmp_path / "d" / "x.jpg")
    res = CliRunner().invoke(main, ["crop", "predict", str(tmp_path / "d"), "-o", str(tmp_path / "d"), "--no-overlay"])
    assert res.exit_code == 0, res.output
    (tmp_path / "lab").mkdir()
    Image.open(tmp_path / "d" / "x_mask.png").save(tmp_path / "lab" / "x.png")
    Image.open(samples[1]).convert("RGB").resize((200, 150)).save(tmp_path / "d" / "x.jpg")  # another photo
    res = CliRunner().invoke(main, ["crop", "traits", str(tmp_path / "d"), "-o", str(tmp_path / "t")])
    assert res.exit_code == 1 and "x_mask.png: made by crop predict from an earlier version of" in res.output
    res = CliRunner().invoke(main, ["crop", "evaluate", "--images", str(tmp_path / "d"), "--masks",
                                    str(tmp_path / "lab"), "--pred-masks", str(tmp_path / "d")])  # fmt: skip
    assert res.exit_code != 0 and "x_mask.png: made by crop predict from an earlier version of" in res.output


def test_oversized_image_fails_alone(pred, tmp_path, monkeypatch):
    import agriseg.data.io as io

    monkeypatch.setattr(io, "MAX_PIXELS", 4000)
    big = _photo(tmp_path / "big.png", 0, (100, 100))
    good = _photo(tmp_path / "good.png", 1, (40, 40))
    rows = predict_files(pred, [big, good], tmp_path / "o", batch=BatchOptions(progress=False))
    assert rows[0]["status"] == "error" and "big.png" in rows[0]["error"] and "MP" in rows[0]["error"]
    assert rows[1]["status"] == "ok"


def test_pil_bomb_error_is_one_line(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    from agriseg.data.io import ImageReadError, read_rgb

    _photo(tmp_path / "x.png", 0, (100, 100))
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageReadError, match="x.png"):
        read_rgb(tmp_path / "x.png")


def test_exif_orientation_is_applied(pred, tmp_path):
    from agriseg.data.io import read_rgb

    stored = np.zeros((40, 30, 3), np.uint8)  # stored portrait 40x30, shown landscape 30x40
    stored[:5] = 255  # top rows of the stored image: after a 90 degree clockwise turn, the right columns
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "phone.jpg", exif=exif, quality=100)
    rgb = read_rgb(tmp_path / "phone.jpg")
    assert rgb.shape == (30, 40, 3)
    assert rgb[:, -3:].mean() > 200 and rgb[:, :30].mean() < 30
    predict_files(pred, [tmp_path / "phone.jpg"], tmp_path / "o", batch=BatchOptions(progress=False))
    assert Image.open(tmp_path / "o" / "phone_mask.png").size == (40, 30)
    assert Image.open(tmp_path / "o" / "phone_overlay.jpg").size == (40, 30)


def test_16_bit_is_scaled_by_bit_depth(tmp_path):
    import cv2

    from agriseg.data.io import read_rgb

    a = np.full((8, 8), 200, np.uint16)
    b = a.copy()
    b[0, 0] = 256  # one pixel differs: both must read the same elsewhere
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    ra, rb = read_rgb(tmp_path / "a.png"), read_rgb(tmp_path / "b.png")
    assert (ra[1:, 1:] == rb[1:, 1:]).all()
    rgb16 = np.zeros((8, 8, 3), np.uint16)
    rgb16[..., 1] = 40000
    rgb16[..., 0] = 257 * 10
    cv2.imwrite(str(tmp_path / "c.png"), rgb16[..., ::-1])  # 48-bit PNG
    c = read_rgb(tmp_path / "c.png")
    assert tuple(c[0, 0]) == (10, round(40000 * 255 / 65535), 0)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the test writes a plain raster
def test_multiband_tiff_error_names_what_it_is(pred, tmp_path):
    import rasterio

    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=16, height=16, count=8, dtype="uint16") as ds:
        ds.write(np.ones((8, 16, 16), np.uint16) * 1000)
    rows = predict_files(pred, [path], tmp_path / "o", batch=BatchOptions(progress=False))
    assert "8-band" in rows[0]["error"] and "fields predict" in rows[0]["error"]


def test_class_map_is_a_palette_png(tmp_path):
    pred3 = Predictor(build_model(encoder_weights=None, num_classes=3), 3, long_side=64)
    predict_files(pred3, [_photo(tmp_path / "a.png", 0)], tmp_path / "o", batch=BatchOptions(progress=False))
    im = Image.open(tmp_path / "o" / "a_classes.png")
    assert im.mode == "P" and im.getpalette()[3:6] != [1, 1, 1]
    assert set(np.unique(np.asarray(im))) <= {0, 1, 2}


def _save_tiny(path: Path) -> None:
    import torch

    from agriseg.models.io import save_model

    torch.manual_seed(0)
    cfg = ModelConfig(encoder_weights=None, infer_long_side=64)
    save_model(build_model(cfg), cfg, path)


def test_exit_code_when_every_image_failed(tmp_path):
    from agriseg.cli import main

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.jpg").write_text("no")
    model = tmp_path / "tiny.safetensors"
    _save_tiny(model)
    res = CliRunner().invoke(
        main, ["crop", "predict", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--model", str(model)]
    )
    assert res.exit_code == 1 and "bad.jpg" in res.output


def test_output_under_a_file_is_one_line(tmp_path):
    from agriseg.cli import main

    (tmp_path / "f").write_text("x")
    _photo(tmp_path / "p.png", 0)
    res = CliRunner().invoke(main, ["crop", "predict", str(tmp_path / "p.png"), "-o", str(tmp_path / "f" / "out")])
    # a usage error (exit 2) naming the file in the way, not a made-up path inside the folder
    expected = f"output folder: cannot create the folder {tmp_path / 'f' / 'out'}: {tmp_path / 'f'} is a file"
    assert res.exit_code == 2 and "Traceback" not in res.output and expected in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def _run_killed(args: list[str], out: Path, kill_after: int) -> None:
    """Run the CLI and SIGKILL it once ``kill_after`` masks exist."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agriseg", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list(out.glob("*_mask.png"))) >= kill_after:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()


@pytest.mark.slow
def test_kill_and_resume_gives_the_uninterrupted_result(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(10):
        _photo(photos / f"p{i:02d}.png", i, (120, 160))
    model = tmp_path / "tiny.safetensors"
    _save_tiny(model)
    base = ["crop", "predict", str(photos), "--model", str(model), "--batch-size", "1"]
    ref = tmp_path / "ref"
    subprocess.run([sys.executable, "-m", "agriseg", *base, "-o", str(ref)], check=True, capture_output=True)
    out = tmp_path / "killed"
    done = []
    for kill_after in (1, 4, 7):
        _run_killed([*base, "-o", str(out)], out, kill_after)
        done.append(len(list(out.glob("*_mask.png"))))
    assert done[0] < 10 and not (out / "summary.csv").exists()  # the kills did interrupt the batch
    subprocess.run([sys.executable, "-m", "agriseg", *base, "-o", str(out)], check=True, capture_output=True)
    names = sorted(p.name for p in ref.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names  # no temporaries left
    for n in names:
        if n == ".agriseg-manifest.jsonl":  # the same records; each output's stamp holds its own write time
            assert _records(out / n) == _records(ref / n)
        elif n == ".agriseg-tables.json":  # the same tables stamped (their stamps differ with summary.csv's status)
            assert json.loads((out / n).read_text()).keys() == json.loads((ref / n).read_text()).keys()
        elif n == "summary.csv":  # the same values; the photos done before the kills are `skipped` this time
            resumed = (out / n).read_text().replace(",skipped,", ",ok,")
            assert resumed == (ref / n).read_text() and ",skipped," in (out / n).read_text()
        else:
            assert (out / n).read_bytes() == (ref / n).read_bytes(), n


def _records(manifest):
    """A manifest's records, each output's stamp without its modification time (size and content hash kept)."""
    import json

    recs = [json.loads(line) for line in manifest.read_text().splitlines()]
    for r in recs:
        r["stamps"] = {k: v[:2] for k, v in r.get("stamps", {}).items()}
    return recs


def test_a_rerun_refused_for_an_edited_photo_says_so_in_its_row(tmp_path):
    """Every photo refused for an edited input left summary.csv as the earlier run wrote it: the photo's row said
    ok with the values of the file as it was (session 103's sweep); the README says its row is an error."""
    import csv as _csv

    from agriseg.cli import main

    photo = _photo(tmp_path / "p.png", 0)
    args = ["crop", "predict", str(photo), "-o", str(tmp_path / "o")]
    assert CliRunner().invoke(main, args).exit_code == 0
    time.sleep(0.01)
    _photo(photo, 1)  # another photo under its name
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and "its outputs were made before an input changed" in res.output, res.output
    row = list(_csv.DictReader((tmp_path / "o" / "summary.csv").open()))[0]
    assert row["status"] == "error" and not row["vegetation_fraction"] and "input changed" in row["error"], row


def test_a_rerun_refused_for_other_settings_keeps_the_summary_row(tmp_path):
    """Refused because its outputs were made with other settings: the photo's outputs stand, and so does its row
    in summary.csv, instead of a bare error row; a run that made nothing leaves the table as it was."""
    import csv as _csv

    from agriseg.cli import main

    _photo(tmp_path / "p.png", 0)
    args = ["crop", "predict", str(tmp_path / "p.png"), "-o", str(tmp_path / "o")]
    assert CliRunner().invoke(main, args).exit_code == 0
    first = list(_csv.DictReader((tmp_path / "o" / "summary.csv").open()))[0]
    res = CliRunner().invoke(main, [*args, "--long-side", "320"])
    assert res.exit_code == 1 and "made with other settings (--long-side: 800 -> 320)" in res.output, res.output
    assert list(_csv.DictReader((tmp_path / "o" / "summary.csv").open()))[0] == first
    assert "summary.csv: left as an earlier run wrote it (this run made nothing)" in res.output
    (tmp_path / "bad.png").write_bytes(b"not a png")  # refused and unreadable: still nothing made (session 73)
    res = CliRunner().invoke(main, [*args, str(tmp_path / "bad.png"), "--long-side", "320"])
    assert res.exit_code == 1 and "summary.csv: left as an earlier run wrote it" in res.output, res.output
    assert list(_csv.DictReader((tmp_path / "o" / "summary.csv").open())) == [first]
    _photo(tmp_path / "q.png", 1)  # with a new photo made now, the refused one is listed as kept
    res = CliRunner().invoke(main, [*args, str(tmp_path / "q.png"), "--long-side", "320"])
    row = list(_csv.DictReader((tmp_path / "o" / "summary.csv").open()))[0]
    assert row["status"] == "kept" and "--overwrite" in row["error"]
    assert row["vegetation_fraction"] == first["vegetation_fraction"] and row["width"] == first["width"]


def test_a_crop_weed_rerun_over_vegetation_outputs_lists_them_as_kept_with_their_values(pred, tmp_path):
    """A folder of the default model's outputs, run again with ``--model crop-weed``: each photo's row was an
    error with no values (the kept outputs have no class map), where other changed options list them as kept."""
    import torch

    from agriseg.crop.predict import _read_back, photo_outputs

    files = [_photo(tmp_path / "p0.png", 0)]
    out = tmp_path / "o"
    from agriseg.fingerprint import Recipe

    quiet = BatchOptions(progress=False)
    first = predict_files(pred, files, out, batch=quiet, recipe=Recipe("crop predict", "1", {}, "default"))
    torch.manual_seed(0)
    crop_weed = Predictor(build_model(encoder_weights=None, num_classes=3), 3, long_side=64, batch_size=2)
    rows = predict_files(crop_weed, files, out, class_names=["soil", "crop", "weed"], batch=quiet,
                         recipe=Recipe("crop predict", "1", {}, "crop-weed"))  # fmt: skip
    assert rows[0]["status"] == "kept" and "other settings" in rows[0]["error"]
    assert rows[0]["vegetation_fraction"] == first[0]["vegetation_fraction"]
    assert "crop_fraction" not in rows[0]  # not measured by the run that made them
    assert _read_back(files[0], photo_outputs(out, "p0", 3, True), 3, ["crop_fraction", "weed_fraction"])


def _fails_on_the_odd_photo(real):
    """``real``, raising a bug's error for the photo 40 px high (b.png of :func:`_three_with_one_odd`)."""

    def call(x):
        first = x[0] if isinstance(x, list) else x  # the model pass takes a list, the quality step one photo
        if first.shape[0] == 40:
            raise RuntimeError("boom")
        return real(x)

    return call


def _three_with_one_odd(pred, tmp_path):
    files = [_photo(tmp_path / "a.png", 0), _photo(tmp_path / "b.png", 1, (40, 64)), _photo(tmp_path / "c.png", 2)]
    res = predict_files(pred, files, tmp_path / "o", batch=BatchOptions(progress=False))
    assert res.counts == {"ok": 2, "skipped": 0, "failed": 1}
    assert res.failures[0].startswith(f"{files[1]}: internal error (RuntimeError: boom); this is a bug in agriseg")
    assert (tmp_path / "o" / "c_mask.png").is_file() and not (tmp_path / "o" / "b_mask.png").exists()


def test_a_bug_met_while_one_photo_is_written_fails_that_photo_only(pred, tmp_path, monkeypatch):
    """An error other than a disk's on the writer thread (a bug in the outline step) ended the whole run with a
    traceback; the batch runner's rule is that the item fails, named as a bug, and the others go on."""
    import agriseg.crop.quality as quality

    monkeypatch.setattr(quality, "photo_quality", _fails_on_the_odd_photo(quality.photo_quality))
    _three_with_one_odd(pred, tmp_path)


def test_a_model_pass_that_fails_fails_its_photos_only(pred, tmp_path, monkeypatch):
    """A model pass that raised (one odd photo size) ended the whole run with a traceback."""
    monkeypatch.setattr(pred, "probabilities", _fails_on_the_odd_photo(pred.probabilities))
    _three_with_one_odd(pred, tmp_path)


def test_tables_are_utf8_whatever_the_photo_names(pred, tmp_path):
    """A Latin-1 photo name (`caf\\xe9.jpg` from an old archive) was written into summary.csv as its raw byte:
    pandas.read_csv failed on the whole table (session 86's sweep)."""
    from agriseg.crop.predict import write_csv_atomic

    name = os.fsdecode(b"caf\xe9.jpg")
    table = tmp_path / "summary.csv"
    write_csv_atomic([{"image": name, "status": "ok"}], table, ["image", "status"])
    text = table.read_bytes().decode("utf-8")  # strict: raised before
    assert "caf\\xe9.jpg" in text


def test_strict_keeps_the_photos_before_the_bad_one(pred, tmp_path):
    """`--strict` stopped at a bad photo and threw away the good ones before it that waited in the model's batch
    (a-d written, e lost; session 86's sweep)."""
    photos = [_photo(tmp_path / f"{n}.png", i, (40, 40)) for i, n in enumerate("abcde")]
    bad = tmp_path / "f.png"
    bad.write_bytes(b"\xff")
    with pytest.raises(ValueError, match="f.png"):
        predict_files(pred, [*photos, bad], tmp_path / "o", batch=BatchOptions(progress=False, strict=True))
    assert sorted(p.name for p in (tmp_path / "o").glob("*_mask.png")) == [f"{n}_mask.png" for n in "abcde"]


def test_a_panorama_that_comes_down_to_a_sliver_is_said(pred, tmp_path, caplog):
    """A 10000 x 300 strip at 800 px came down to 24 px high (cover 0.034 for a strip of cover 0.21), with an empty
    quality column and no word (session 86's sweep)."""
    from agriseg.crop.predict import _warn_thin

    with caplog.at_level("WARNING"):
        _warn_thin("strip.png", (300, 10000), 800)
        _warn_thin("photo.jpg", (720, 960), 800)
        _warn_thin("thumb.png", (20, 20), 800)
        _warn_thin("native.png", (300, 10000), 0)
        _warn_thin("thin.png", (50, 20000), 800)  # thinner than 96 px already: was not said (session 88)
        _warn_thin("small_thin.png", (50, 400), 800)  # enlarged, not shrunk
    assert "strip.png: 10000x300 px comes down to 24 px across at the working size (--long-side 800)" in caplog.text
    assert "thin.png: 20000x50 px comes down to 2 px across" in caplog.text and "small_thin" not in caplog.text
    assert "photo.jpg" not in caplog.text and "native.png" not in caplog.text
    # a 20 px thumbnail was read at 40 times its size without a word (a 320 px photo at 10x: IoU 0.81 -> 0.58)
    assert "thumb.png: 20x20 px enlarged 40 times to the working size (--long-side 800)" in caplog.text
    assert "comes down" not in caplog.text.split("thumb.png")[1].splitlines()[0]


def test_masks_of_another_folders_photos_of_the_same_names_are_not_scored(tmp_path):
    """`crop evaluate --pred-masks` of the masks `crop predict` made from a.jpg in another folder scored them
    against this folder's a.jpg (vegetation IoU 0.00, exit 0); a copy of the same photo still scores (session 97)."""
    import shutil

    from agriseg.cli import main

    samples = sorted(
        (Path(__file__).resolve().parents[2] / "src" / "agriseg" / "samples" / "peanut" / "images").iterdir()
    )
    for d in ("one", "two", "lab"):
        (tmp_path / d).mkdir()
    Image.open(samples[0]).convert("RGB").resize((200, 150)).save(tmp_path / "one" / "x.jpg")
    Image.open(samples[1]).convert("RGB").resize((200, 150)).save(tmp_path / "two" / "x.jpg")  # another photo
    out = tmp_path / "pred"
    res = CliRunner().invoke(main, ["crop", "predict", str(tmp_path / "one"), "-o", str(out), "--no-overlay"])
    assert res.exit_code == 0, res.output
    Image.open(out / "x_mask.png").save(tmp_path / "lab" / "x.png")
    args = ["crop", "evaluate", "--masks", str(tmp_path / "lab"), "--pred-masks", str(out), "--images"]
    res = CliRunner().invoke(main, [*args, str(tmp_path / "two")])
    said = f"x_mask.png: made by crop predict from {tmp_path / 'one' / 'x.jpg'}, not from"
    assert res.exit_code != 0 and said in res.output, res.output
    copied = tmp_path / "three"
    shutil.copytree(tmp_path / "one", copied)  # the same photo elsewhere: its mask, scored
    res = CliRunner().invoke(main, [*args, str(copied)])
    assert res.exit_code == 0 and "pixel accuracy: 100.00" in res.output, res.output
