"""Batch pseudo-labelling, keep files, resume, the CLI commands and the screening page file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import agriseg
from agriseg.cli import main as cli
from agriseg.crop.pseudolabel.pipeline import PseudoLabelConfig, pseudolabel_files, read_keep
from agriseg.crop.pseudolabel.screen import write_screen_page
from agriseg.crop.pseudolabel.synthetic import write_scenes


@pytest.fixture()
def scenes(tmp_path: Path) -> Path:
    return write_scenes(tmp_path / "syn", n=4, size=(72, 96), depth_format="npy")


def _jpeg_copy(scenes: Path, dst: Path) -> list[Path]:
    dst.mkdir()
    out = []
    for p in sorted((scenes / "images").glob("*.png")):
        q = dst / f"{p.stem}.jpg"
        cv2.imwrite(str(q), cv2.imread(str(p)), [cv2.IMWRITE_JPEG_QUALITY, 95])
        out.append(q)
    return out


def test_index_pipeline_outputs_and_resume(scenes: Path, tmp_path: Path) -> None:
    files = _jpeg_copy(scenes, tmp_path / "jpg")
    bad = tmp_path / "jpg" / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    recs = pseudolabel_files(files + [bad], out, PseudoLabelConfig(index="exg", plot=True), progress=False)
    ok = [r for r in recs if r["status"] == "ok"]
    assert len(ok) == 4
    err = [r for r in recs if r["status"] == "error"]
    assert len(err) == 1 and err[0]["error"].startswith(str(bad))
    for r in ok:
        mask = cv2.imread(str(out / r["mask"]), cv2.IMREAD_UNCHANGED)
        truth = cv2.imread(str(scenes / "masks" / f"{r['stem']}.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == truth.shape and set(np.unique(mask)) <= {0, 255}
        assert ((mask > 0) & (truth > 0)).sum() / ((mask > 0) | (truth > 0)).sum() > 0.8
        assert (out / r["overlay"]).is_file() and (out / r["plot"]).is_file()
        rec = json.loads((out / "records" / f"{r['stem']}.json").read_text())
        assert {"threshold", "curve", "fit_quality", "full_coverage"} <= rec.keys() and rec["index"] == "exg"
    again = pseudolabel_files(files, out, PseudoLabelConfig(index="exg", plot=True), progress=False)
    assert all(r["status"] == "skipped" for r in again)
    # a mask and an overlay removed since, re-run without --plot: made again, not "skipped" (session 101's sweep)
    (out / ok[0]["mask"]).unlink()
    (out / ok[1]["overlay"]).unlink()
    again = pseudolabel_files(files, out, PseudoLabelConfig(index="exg"), progress=False)
    assert [r["status"] for r in again] == ["ok", "ok", "skipped", "skipped"]
    assert (out / ok[0]["mask"]).is_file() and (out / ok[1]["overlay"]).is_file()
    # a mask edited by hand whose overlay was removed, and another option with one overlay removed: the edit and
    # the folder's one setting were replaced, exit 0 (session 105's sweep); both are refused and kept now
    mask = out / ok[0]["mask"]
    edited = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)
    edited[:10] = 255
    cv2.imwrite(str(mask), edited)
    (out / ok[0]["overlay"]).unlink()
    (out / ok[2]["overlay"]).unlink()
    again = pseudolabel_files(files, out, PseudoLabelConfig(index="exg"), progress=False)
    assert [r["status"] for r in again] == ["error", "skipped", "ok", "skipped"]
    assert "was changed after it was written" in again[0]["error"]
    assert (cv2.imread(str(mask), cv2.IMREAD_UNCHANGED) == edited).all()
    (out / ok[3]["overlay"]).unlink()
    again = pseudolabel_files(files, out, PseudoLabelConfig(index="cive"), progress=False)
    assert [r["status"] for r in again] == ["error", "kept", "kept", "kept"], again  # refused, by name
    assert json.loads((out / "records" / f"{ok[3]['stem']}.json").read_text())["index"] == "exg"


def test_keep_file_filters(scenes: Path, tmp_path: Path) -> None:
    keep = tmp_path / "accepted.json"
    keep.write_text(json.dumps({"accepted": ["0001", "0003"], "rejected": ["0000"]}))
    assert read_keep(keep) == {"0001", "0003"}
    files = sorted((scenes / "images").glob("*.png"))
    recs = pseudolabel_files(files, tmp_path / "o", PseudoLabelConfig(), keep=read_keep(keep), progress=False)
    assert sorted(r["stem"] for r in recs) == ["0001", "0003"]
    n = len(files) - 2  # the others are left out, and the run says how many (it said nothing)
    assert recs.notes == [f"({n} photos not in the --keep list were left out)"]
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json"):
        read_keep(tmp_path / "bad.json")
    none = tmp_path / "none.json"
    none.write_text(json.dumps({"accepted": ["nonexistent"]}))
    r = CliRunner().invoke(
        cli, ["crop", "pseudolabel", str(scenes / "images"), "-o", str(tmp_path / "n"), "--keep", str(none)]
    )
    assert r.exit_code == 2 and "--keep " in r.output and "names none of the" in r.output, r.output


def test_keep_names_matching_no_photo_are_said(scenes: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Session 88's sweep: names of an export that match no photo given (renamed since, or another folder's)
    were dropped without a word."""
    keep = tmp_path / "accepted.json"
    keep.write_text(json.dumps({"accepted": ["0001", "0001.png", "IMG_9", "IMG_8"]}))
    with caplog.at_level("WARNING", logger="agriseg"):
        r = CliRunner().invoke(
            cli, ["crop", "pseudolabel", str(scenes / "images"), "-o", str(tmp_path / "o"), "--keep", str(keep)]
        )
    assert r.exit_code == 0 and "1 pseudo-labelled" in r.output, r.output
    assert f"--keep {keep}: 2 names are accepted there but no photo given (IMG_8, IMG_9)" in caplog.text
    assert caplog.text.count("accepted there") == 1


def test_cli_pseudolabel_depth_and_screen(scenes: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    r = CliRunner().invoke(
        cli,
        [
            "crop",
            "pseudolabel",
            str(scenes / "images"),
            "-o",
            str(out),
            "--source",
            "depth",
            "--depth-dir",
            str(scenes / "depth"),
            "--sigmoid",
            "erf",
            "--point",
            "knee",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "4 pseudo-labelled" in r.output
    rec = json.loads((out / "records" / "0000.json").read_text())
    assert rec["curve"]["form"] == "erf" and rec["curve"]["point"] == "knee"
    r = CliRunner().invoke(cli, ["crop", "screen", str(out)])
    assert r.exit_code == 0, r.output
    page = (out / "screen.html").read_text()
    assert page.count('"overlay": ') == 4 and "overlays/0000.jpg" in page
    # a mask removed: its card could be accepted for no file; left off and said (session 101's sweep)
    (out / "masks" / "0001.png").unlink()
    r = CliRunner().invoke(cli, ["crop", "screen", str(out), "--overwrite"])
    assert r.exit_code == 0 and "left off the page: its overlay or mask is gone (0001)" in r.output, r.output
    assert (out / "screen.html").read_text().count('"overlay": ') == 3


def test_an_edited_depth_file_is_never_resumed_and_a_new_file_beside_it_changes_nothing(
    scenes: Path, tmp_path: Path
) -> None:
    """With --depth-dir the folder was the input: an edited depth file left the folder's size and time as they
    were, and the stale mask was skipped as current; a README added to the folder failed every photo as "input
    changed" (session 79's sweep). Each photo's own depth file is its input now."""
    args = ["crop", "pseudolabel", str(scenes / "images"), "-o", str(tmp_path / "o"), "--source", "depth"]
    args += ["--depth-dir", str(scenes / "depth")]
    assert CliRunner().invoke(cli, args).exit_code == 0
    (scenes / "depth" / "README.txt").write_text("notes")
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "0 pseudo-labelled, 4 skipped" in again.output, again.output
    depth = np.load(scenes / "depth" / "0001.npy")
    np.save(scenes / "depth" / "0001.npy", depth[::-1].copy())  # another depth map for one photo
    edited = CliRunner().invoke(cli, args)
    assert edited.exit_code == 1 and "0 pseudo-labelled, 3 skipped, 1 failed" in edited.output, edited.output
    assert "0001.npy changed since" in edited.output
    # no setting changed: said so (it read "made with other settings" until session 83)
    assert ": its outputs were made before an input changed (input " in edited.output


def test_the_green_floor_is_no_setting_of_depth_pseudo_labels(scenes: Path, tmp_path: Path) -> None:
    """Depth is never floored: --green-floor changes no depth output, so a depth run of before the option (or
    with it off) resumes; for a colour index it is a setting (session 91's review)."""
    args = ["crop", "pseudolabel", str(scenes / "images"), "-o", str(tmp_path / "o"), "--source", "depth"]
    args += ["--depth-dir", str(scenes / "depth")]
    assert CliRunner().invoke(cli, [*args, "--green-floor", "off"]).exit_code == 0
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "0 pseudo-labelled, 4 skipped" in again.output, again.output
    # the default convention given by name makes the same masks: it failed every photo as "made with other
    # settings (--depth-convention: not given -> depth)" (session 103's sweep); the other one is a setting
    named = CliRunner().invoke(cli, [*args, "--depth-convention", "depth"])
    assert named.exit_code == 0 and "0 pseudo-labelled, 4 skipped" in named.output, named.output
    inverse = CliRunner().invoke(cli, [*args, "--depth-convention", "inverse"])
    assert inverse.exit_code == 1 and "--depth-convention" in inverse.output, inverse.output
    index = ["crop", "pseudolabel", str(scenes / "images"), "-o", str(tmp_path / "i")]
    assert CliRunner().invoke(cli, [*index, "--green-floor", "off"]).exit_code == 0
    other = CliRunner().invoke(cli, index)
    assert other.exit_code == 1 and "--green-floor" in other.output, other.output


def test_cli_reports_bad_input_cleanly(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["crop", "screen", str(tmp_path)])
    assert r.exit_code != 0 and "pseudolabels.json" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["crop", "pseudolabel", str(tmp_path / "nope"), "-o", str(tmp_path / "o")])
    assert r.exit_code != 0 and "nope" in r.output


def test_screen_page_escapes_script_end(tmp_path: Path) -> None:
    (tmp_path / "overlays").mkdir()
    cv2.imwrite(str(tmp_path / "overlays" / "a.jpg"), np.zeros((4, 4, 3), np.uint8))
    rec = {
        "stem": "a</script>",
        "status": "ok",
        "overlay": "overlays/a.jpg",
        "fit_quality": 0.5,
        "threshold": 0.4,
        "foreground_fraction": 0.2,
        "full_coverage": False,
    }
    (tmp_path / "pseudolabels.json").write_text(json.dumps({"records": [rec]}))
    page = write_screen_page(tmp_path).read_text()
    assert "a</script>" not in page


def test_a_record_without_a_fit_quality_is_shown_not_a_crash(tmp_path: Path) -> None:
    """A hand-edited record with ``fit_quality: null`` crashed the page's writing (float(None)), and one with NaN
    wrote a bare ``NaN`` into the page's data, which JSON.parse refuses: no card showed (session 88)."""
    import re

    (tmp_path / "overlays").mkdir()
    for stem in ("a", "b"):
        cv2.imwrite(str(tmp_path / "overlays" / f"{stem}.jpg"), np.zeros((4, 4, 3), np.uint8))
    recs = [
        {"stem": "a", "status": "ok", "overlay": "overlays/a.jpg", "fit_quality": None},
        {"stem": "b", "status": "ok", "overlay": "overlays/b.jpg", "fit_quality": float("nan"), "threshold": 0.3},
    ]
    (tmp_path / "pseudolabels.json").write_text(json.dumps({"records": recs}))
    page = write_screen_page(tmp_path).read_text()
    data = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    assert data is not None
    items = json.loads(data.group(1), parse_constant=lambda c: pytest.fail(f"{c} in the page's data"))
    assert [(it["stem"], it["quality"], it["threshold"]) for it in items] == [("a", None, None), ("b", None, 0.3)]


def _one_card(folder: Path) -> None:
    (folder / "overlays").mkdir()
    cv2.imwrite(str(folder / "overlays" / "a.jpg"), np.zeros((4, 4, 3), np.uint8))
    rec = {"stem": "a", "status": "ok", "overlay": "overlays/a.jpg", "fit_quality": 0.5}
    (folder / "pseudolabels.json").write_text(json.dumps({"records": [rec]}))


def test_screen_refuses_a_record_without_its_photo_name_in_one_line(tmp_path: Path) -> None:
    """A hand-edited record without ``stem`` was a KeyError traceback (session 75's error-path review)."""
    _one_card(tmp_path)
    record = {"status": "ok", "overlay": "overlays/a.jpg"}
    (tmp_path / "pseudolabels.json").write_text(json.dumps({"records": [record]}))
    res = CliRunner().invoke(cli, ["crop", "screen", str(tmp_path)])
    assert res.exit_code == 2 and "record 1 has no photo name" in res.output and "Traceback" not in res.output


def test_screen_of_masks_made_without_overlays_is_a_usage_error_that_says_how(tmp_path: Path) -> None:
    """`crop pseudolabel --no-overlay` then `crop screen` exited 1, as if a photo had failed (session 79's sweep)."""
    record = {"status": "ok", "stem": "a", "mask": "masks/a.png", "overlay": None}
    (tmp_path / "pseudolabels.json").write_text(json.dumps({"records": [record]}))
    res = CliRunner().invoke(cli, ["crop", "screen", str(tmp_path)])
    assert res.exit_code == 2 and "made without overlays (--no-overlay)" in res.output, res.output
    (tmp_path / "pseudolabels.json").write_text(json.dumps({"records": [{**record, "status": "error"}]}))
    res = CliRunner().invoke(cli, ["crop", "screen", str(tmp_path)])  # nothing was labelled: not a usage error
    assert res.exit_code == 1 and "no pseudo-labelled image with an overlay" in res.output, res.output


def test_a_page_of_masks_of_two_settings_says_so_and_the_table_counts_as_the_line(scenes: Path, tmp_path: Path) -> None:
    """A re-run with --index exg kept two cive masks: the line said "2 failed", pseudolabels.json "kept": 2 with no
    failed count, and the page mixed cive and exg masks unsaid (session 101's sweep)."""
    files = _jpeg_copy(scenes, tmp_path / "jpg")[:3]
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["crop", "pseudolabel", *map(str, files), "-o", str(out)]).exit_code == 0
    for sub, suffix in (("masks", "png"), ("records", "json"), ("overlays", "jpg")):
        (out / sub / f"{files[2].stem}.{suffix}").unlink()
    res = CliRunner().invoke(cli, ["crop", "pseudolabel", *map(str, files), "-o", str(out), "--index", "exg"])
    assert res.exit_code == 1 and "1 pseudo-labelled, 0 skipped, 2 failed" in res.output, res.output
    assert json.loads((out / "pseudolabels.json").read_text())["counts"]["failed"] == 2
    res = CliRunner().invoke(cli, ["crop", "screen", str(out)])
    assert res.exit_code == 0 and "masks were made with different settings (cive, exg)" in res.output, res.output


def test_screen_of_a_stopped_run_shows_its_finished_photos(scenes: Path, tmp_path: Path) -> None:
    """A run stopped by Ctrl-C writes no pseudolabels.json: `crop screen` refused the folder (exit 2) though its
    records, masks and overlays were complete (session 101's sweep)."""
    files = _jpeg_copy(scenes, tmp_path / "jpg")[:2]
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["crop", "pseudolabel", *map(str, files), "-o", str(out)]).exit_code == 0
    (out / "pseudolabels.json").unlink()  # as a stopped run leaves the folder
    res = CliRunner().invoke(cli, ["crop", "screen", str(out)])
    assert res.exit_code == 0 and "pseudolabels.json not found (a run stopped before writing it?)" in res.output
    assert "the page shows the 2 photos of" in res.output
    assert (out / "screen.html").read_text().count('"overlay": ') == 2
    try:  # -q: no warnings, the page still said (they printed, session 103's sweep)
        res = CliRunner().invoke(cli, ["-q", "crop", "screen", str(out), "--overwrite"])
    finally:
        agriseg.quiet(False)
    assert res.exit_code == 0 and "warning" not in res.output and "screening page:" in res.output, res.output
    # a stopped run of --no-overlay: said as such, as with its table (it named a pseudolabels.json not there)
    plain = tmp_path / "plain"
    assert (
        CliRunner().invoke(cli, ["crop", "pseudolabel", *map(str, files), "-o", str(plain), "--no-overlay"]).exit_code
        == 0
    )
    (plain / "pseudolabels.json").unlink()
    res = CliRunner().invoke(cli, ["crop", "screen", str(plain)])
    assert res.exit_code == 2 and f"{plain / 'records'}: its masks were made without overlays" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(cli, ["crop", "screen", str(empty)])
    assert res.exit_code == 2 and "pseudolabels.json: not found (run `agriseg crop pseudolabel" in res.output


def test_screen_into_a_folder_it_cannot_write_is_a_usage_error(tmp_path: Path, read_only) -> None:
    """`crop screen` of a read-only folder exited 1 (the page's write failed), where every other command's
    unwritable output folder is a usage error, exit 2 (session 98's sweep)."""
    _one_card(tmp_path)
    read_only(tmp_path)
    r = CliRunner().invoke(cli, ["crop", "screen", str(tmp_path)])
    assert r.exit_code == 2 and f"folder {tmp_path} is not writable (read-only file system)" in r.output, r.output
    assert not (tmp_path / "screen.html").exists()


def test_screen_keeps_a_page_someone_wrote(tmp_path: Path) -> None:
    _one_card(tmp_path)
    page = tmp_path / "screen.html"
    page.write_text("my own page")  # not written by agriseg: kept under another name first
    r = CliRunner().invoke(cli, ["crop", "screen", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "screen.earlier.html").read_text() == "my own page"
    assert "kept as screen.earlier.html" in r.output
    assert "<html" in page.read_text()
    r = CliRunner().invoke(cli, ["crop", "screen", str(tmp_path)])  # its own page: rewritten quietly
    assert r.exit_code == 0 and "kept as" not in r.output
    page.write_text(page.read_text() + "<!-- my notes -->")  # edited after agriseg wrote it: refused
    r = CliRunner().invoke(cli, ["crop", "screen", str(tmp_path)])
    assert r.exit_code == 2 and "changed since agriseg wrote it" in r.output
    assert page.read_text().endswith("<!-- my notes -->")
    r = CliRunner().invoke(cli, ["crop", "screen", str(tmp_path), "--overwrite"])
    assert r.exit_code == 0 and "my notes" not in page.read_text()


def test_reduced_fitting_size_keeps_full_size_masks_and_overlays(scenes: Path, tmp_path: Path) -> None:
    from agriseg.crop.pseudolabel.gght import GGHTConfig

    files = _jpeg_copy(scenes, tmp_path / "jpg")
    opts = PseudoLabelConfig(index="cive", gght=GGHTConfig(fit_long_side=48), overlay_long_side=64)
    recs = pseudolabel_files(files, tmp_path / "o", opts, progress=False)
    assert all(r["status"] == "ok" for r in recs), [r["error"] for r in recs]
    for r in recs:
        assert cv2.imread(str(tmp_path / "o" / r["mask"]), cv2.IMREAD_UNCHANGED).shape == (72, 96)
        ov = cv2.imread(str(tmp_path / "o" / r["overlay"]))
        assert max(ov.shape[:2]) <= 64 and ov.shape[0] * 4 == ov.shape[1] * 3  # reduced photo, same aspect


def test_phone_photo_orientation_and_visible_masks(tmp_path: Path) -> None:
    """A photo stored 40x60 with EXIF orientation 6 shows as 60x40: its mask and overlay are 60x40, 0/255."""
    rng = np.random.default_rng(0)
    stored = rng.integers(60, 120, (40, 60, 3), np.uint8)
    stored[:, :20, 1] = 230  # green band at the stored left: after the turn, at the top
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    recs = pseudolabel_files([tmp_path / "phone.jpg"], tmp_path / "o", PseudoLabelConfig(index="exg"), progress=False)
    assert recs[0]["status"] == "ok", recs[0]
    mask = np.asarray(Image.open(tmp_path / "o" / recs[0]["mask"]))
    assert mask.shape == (60, 40) and set(np.unique(mask)) <= {0, 255}
    assert mask[:15].mean() > mask[-15:].mean()  # vegetation where the viewer sees it: the top
    w, h = Image.open(tmp_path / "o" / recs[0]["overlay"]).size
    assert h > w  # portrait, as shown


def test_a_transparent_phone_photo_is_measured_upright(tmp_path: Path) -> None:
    """An RGBA (or 16-bit) photo with EXIF orientation 6 gave the stored size: a 40x80 photo, 80x40 upright, got
    a stretched 40-high, 80-wide mask."""
    from agriseg.crop.pseudolabel.pipeline import read_rgb_for_index

    stored = np.zeros((40, 80, 4), np.uint8)
    stored[..., :3], stored[..., 3] = (120, 90, 60), 255
    stored[10:30, 20:60, :3] = (30, 160, 30)
    stored[0, 0, 3] = 0  # one transparent pixel: the shared reader's path
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored, "RGBA").save(tmp_path / "p.png", exif=exif.tobytes())
    arr, full = read_rgb_for_index(tmp_path / "p.png", 480)
    assert arr.shape[:2] == full == (80, 40)
    recs = pseudolabel_files([tmp_path / "p.png"], tmp_path / "o", PseudoLabelConfig(index="exg"), progress=False)
    assert recs[0]["status"] == "ok", recs[0]
    assert np.asarray(Image.open(tmp_path / "o" / recs[0]["mask"])).shape == (80, 40)


def test_a_float_tiff_is_read_as_crop_predict_reads_it(tmp_path: Path) -> None:
    """A 3-band float32 TIFF (0-1 or 0-255) that crop predict, traits and plots read was "not a readable image"
    to pseudolabel (session 95's sweep): PIL cannot open it; the shared reader can."""
    import tifffile

    from agriseg.crop.pseudolabel.pipeline import read_rgb_for_index
    from agriseg.data.io import read_rgb

    rgb = np.zeros((30, 50, 3), np.uint8)
    rgb[...] = (120, 90, 60)
    rgb[5:25, 10:40] = (30, 160, 30)
    for name, scale in (("unit.tif", 1 / 255), ("dn.tif", 1.0)):
        tifffile.imwrite(tmp_path / name, rgb.astype(np.float32) * np.float32(scale))
        arr, full = read_rgb_for_index(tmp_path / name, 480)
        assert full == (30, 50) and np.array_equal(arr, read_rgb(tmp_path / name)), name
    assert np.abs(arr.astype(int) - rgb).max() <= 1
    pages = [Image.fromarray(rgb), Image.fromarray(rgb[::-1])]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    import logging

    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("agriseg").addHandler(handler)
    try:  # a multi-page TIFF: only its first page is read, said as crop predict says it
        read_rgb_for_index(tmp_path / "pages.tif", 480)
    finally:
        logging.getLogger("agriseg").removeHandler(handler)
    assert said == [f"{tmp_path / 'pages.tif'}: a TIFF of 2 pages; only the first is read"], said
    Image.new("RGB", (1, 1)).save(tmp_path / "one.png")  # said as crop predict says it (not "cive: constant")
    with pytest.raises(ValueError, match=r"one\.png: the image is 1x1 px, too small to segment \(at least 2x2\)"):
        read_rgb_for_index(tmp_path / "one.png", 480)


def test_cli_exit_status_says_a_photo_failed(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), np.uint8)).save(src / "ok.png")
    (src / "bad.jpg").write_bytes(b"not a photo")
    r = CliRunner().invoke(cli, ["crop", "pseudolabel", str(src), "-o", str(tmp_path / "o"), "--index", "exg"])
    assert r.exit_code == 1 and "bad.jpg" in r.output and "1 failed" in r.output


def test_a_users_pseudolabels_json_is_kept(scenes: Path, tmp_path: Path) -> None:
    """Replaced silently: pseudolabels.json was not claimed as the command's table like predict's summary.csv."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "pseudolabels.json").write_text('{"my": "notes"}')
    res = CliRunner().invoke(cli, ["crop", "pseudolabel", str(scenes / "images"), "-o", str(out)])
    assert res.exit_code == 2 and "pseudolabels.json: exists and was not written by agriseg" in res.output, res.output
    assert (out / "pseudolabels.json").read_text() == '{"my": "notes"}'
    res = CliRunner().invoke(cli, ["crop", "pseudolabel", str(scenes / "images"), "-o", str(tmp_path / "new")])
    assert res.exit_code == 0 and "records" in json.loads((tmp_path / "new" / "pseudolabels.json").read_text())


def test_a_screening_export_selects_the_photos_it_shows(tmp_path: Path) -> None:
    """The page exports its card names; --keep took their 'stem' again: `plot.1.2023-05-01` became `plot.1`
    (an accepted photo left out), and `a_png` (one of a.jpg / a.png) matched neither."""
    import json

    from agriseg.crop.pseudolabel.pipeline import kept_files, read_keep

    files = [tmp_path / n for n in ("plot.1.2023-05-01.jpg", "plot.1.2023-06-01.jpg", "a.jpg", "a.png", "b.jpg")]
    export = tmp_path / "accepted.json"
    export.write_text(json.dumps({"accepted": ["plot.1.2023-05-01", "a_png", "b.jpg"]}))
    chosen = kept_files(files, read_keep(export))
    assert [f.name for f in chosen] == ["plot.1.2023-05-01.jpg", "a.png", "b.jpg"]


def test_a_screening_export_of_file_names_is_not_refused(scenes: Path, tmp_path: Path) -> None:
    """An export naming photos by file name (`b.jpg`) selected them, yet the run was refused as naming none."""
    from agriseg.crop.pseudolabel.pipeline import pseudolabel_paths

    files = sorted(scenes.glob("images/*"))[:2]
    export = tmp_path / "accepted.json"
    export.write_text(json.dumps({"accepted": [files[1].name]}))
    recs = pseudolabel_paths([str(f) for f in files], tmp_path / "o", PseudoLabelConfig(), keep=export, progress=False)
    assert [r["stem"] for r in recs if r["status"] == "ok"] == [files[1].stem]


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_every_turned_exif_orientation_swaps_the_mask_size(tmp_path: Path, orientation: int) -> None:
    """Photos of EXIF orientation 5 and 7 (turned and mirrored) got a mask of the stored, unturned size."""
    from agriseg.crop.pseudolabel.pipeline import read_rgb_for_index

    im = Image.fromarray(np.full((40, 60, 3), 128, np.uint8))  # stored 60 wide, 40 high
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(tmp_path / "p.jpg", exif=exif)
    arr, size = read_rgb_for_index(tmp_path / "p.jpg", 1000)
    assert arr.shape[:2] == (60, 40) and size == (60, 40)


def test_auto_index_keeps_the_best_fitting_index() -> None:
    """index auto must keep the index whose threshold fits best, not the worst."""
    from agriseg.crop.pseudolabel.pipeline import index_pseudolabel

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:60, 0:80]
    plant = (yy - 30) ** 2 + (xx - 40) ** 2 < 18**2
    rgb = np.where(plant[..., None], np.array([60, 140, 45]), np.array([120, 100, 80])) + rng.normal(0, 8, (60, 80, 3))
    res, extra = index_pseudolabel(rgb.clip(0, 255).astype(np.uint8), "auto")
    qualities = extra["index_qualities"]
    assert len(set(qualities.values())) > 1  # the indices differ, so the choice matters
    assert extra["index"] == max(qualities, key=qualities.get)
    assert round(res.quality, 6) == max(qualities.values())


def test_a_ctrl_c_while_a_photo_is_written_leaves_none_of_its_files(
    scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C between a photo's mask and its record left the mask and overlay in the folder, not counted as
    done: masks/ held one file more than the run said it had made."""
    import agriseg.crop.pseudolabel.pipeline as pipeline
    from agriseg.batch import BatchInterrupted

    real, calls = pipeline.overlay_jpeg, []

    def overlay_then_ctrl_c(*args: object, **kw: object) -> None:
        real(*args, **kw)  # type: ignore[arg-type]
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "overlay_jpeg", overlay_then_ctrl_c)
    out = tmp_path / "out"
    photos = sorted((scenes / "images").glob("*.png"))
    with pytest.raises(BatchInterrupted, match="1 of 4 done"):
        pseudolabel_files(photos, out, PseudoLabelConfig(index="exg"), progress=False)
    stem = photos[0].stem
    for sub, suffix in (("masks", ".png"), ("overlays", ".jpg"), ("records", ".json")):  # and no temporaries
        assert sorted(p.name for p in (out / sub).iterdir() if p.name != ".agriseg-manifest.jsonl") == [stem + suffix]


def test_unreadable_photos_are_said_as_every_command_says_them(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    """`crop pseudolabel` said "unreadable image (cannot identify image file ...)" of an empty file and "file not
    found" of a broken link, and printed PIL's raw DecompressionBombWarning over 89 MP (session 86's sweep)."""
    import PIL.Image

    from agriseg.crop.pseudolabel.pipeline import read_rgb_for_index

    (tmp_path / "zero.jpg").touch()
    (tmp_path / "broken.jpg").symlink_to("nonexistent.jpg")
    for name, words in (
        ("zero.jpg", "empty file (0 bytes)"),
        ("broken.jpg", "a link to nonexistent.jpg, which is missing"),
    ):
        with pytest.raises(ValueError, match=re.escape(f"{name}: {words}")):
            read_rgb_for_index(tmp_path / name, 800)
    big = tmp_path / "big.png"
    PIL.Image.new("RGB", (400, 300)).save(big)
    old = PIL.Image.MAX_IMAGE_PIXELS
    PIL.Image.MAX_IMAGE_PIXELS = 100_000  # PIL warns above this, as it does above 89 MP by default
    try:
        read_rgb_for_index(big, 800)
    finally:
        PIL.Image.MAX_IMAGE_PIXELS = old
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__]


def test_a_file_where_a_subfolder_goes_is_named_and_kept(scenes: Path, tmp_path: Path) -> None:
    """``-o pl`` with a user's file called ``pl/masks``: "[Errno 17] File exists: 'pl/masks'" (session 91's sweep)."""
    out = tmp_path / "pl"
    out.mkdir()
    (out / "masks").write_text("mine")
    res = CliRunner().invoke(cli, ["crop", "pseudolabel", str(scenes / "images"), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert f"{out / 'masks'}: cannot create this folder: {out / 'masks'} is a file (kept" in res.output, res.output
    assert "Errno" not in res.output and (out / "masks").read_text() == "mine"


def test_outputs_crop_predict_wrote_beside_the_photos_are_no_photos(scenes: Path, tmp_path: Path) -> None:
    """`crop predict photos -o photos` then `crop pseudolabel photos` pseudo-labelled the masks and overlays as
    photos (session 95's sweep); crop predict's own rule: recorded outputs are not read."""
    photos = tmp_path / "photos"
    _jpeg_copy(scenes, photos)
    res = CliRunner().invoke(cli, ["crop", "predict", str(photos / "0000.jpg"), "-o", str(photos)])
    assert res.exit_code == 0 and (photos / "0000_mask.png").is_file(), res.output
    res = CliRunner().invoke(cli, ["crop", "pseudolabel", str(photos), "-o", str(tmp_path / "pl")])
    assert res.exit_code == 0 and "(2 outputs of an earlier run not read as photos)" in res.output, res.output
    assert sorted(p.name for p in (tmp_path / "pl" / "masks").glob("*.png")) == [f"000{i}.png" for i in range(4)]


def test_keep_matches_the_screened_name_first_and_outputs_keep_it(tmp_path: Path) -> None:
    """a.png beside a.jpg and a_png.png is screened as a_png: accepting it kept a_png.png as well (its stem), and
    the masks were named a.png, not the names the page showed (session 95's sweep)."""
    from agriseg.crop.pseudolabel.pipeline import kept_files

    col = tmp_path / "col"
    col.mkdir()
    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3), np.uint8)
    files = []
    for name in ("a.png", "a.jpg", "a_png.png"):
        Image.fromarray(rgb).save(col / name)
        files.append(col / name)
    assert kept_files(files, {"a_png"}) == [col / "a.png"]
    assert kept_files(files, {"a_png_png"}) == [col / "a_png.png"]
    assert kept_files([col / "a_png.png"], {"a_png"}) == [col / "a_png.png"]  # alone, its stem is its name
    recs = pseudolabel_files(files, tmp_path / "o", PseudoLabelConfig(index="exg"), keep={"a_png"}, progress=False)
    assert [r["mask"] for r in recs if r["status"] == "ok"] == ["masks/a_png.png"], recs


def test_keep_and_the_renaming_warning_use_the_names_an_earlier_run_gave(tmp_path: Path, caplog) -> None:
    """day1/IMG_1.jpg named IMG_1 by a first run, day2/IMG_1.jpg day2_IMG_1_jpg by a second: --keep IMG_1 kept
    both (names made afresh), and day2 given alone was warned of a shared stem it shares with no input (the
    review's finds)."""
    from agriseg.crop.pseudolabel.pipeline import pseudolabel_paths

    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3), np.uint8)
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        Image.fromarray(rgb).save(tmp_path / day / "IMG_1.png")
    out, opts = tmp_path / "out", PseudoLabelConfig(index="exg")
    pseudolabel_paths([tmp_path / "day1"], out, opts, progress=False)
    with caplog.at_level("WARNING", logger="agriseg"):
        pseudolabel_paths([tmp_path / "day1", tmp_path / "day2"], out, opts, progress=False)
    assert "day2/IMG_1.png as day2_IMG_1_png" in caplog.text
    (tmp_path / "k.json").write_text('["IMG_1"]')
    res = pseudolabel_paths([tmp_path / "day1", tmp_path / "day2"], out, opts, keep=tmp_path / "k.json", progress=False)
    assert [(r["image"], r["status"]) for r in res] == [(str(tmp_path / "day1" / "IMG_1.png"), "skipped")], res
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        pseudolabel_paths([tmp_path / "day2"], out, opts, progress=False)
    assert "share a stem" not in caplog.text


def test_a_work_folder_labels_an_edited_photo_again_and_a_failed_redo_leaves_no_old_mask(
    scenes: Path, tmp_path: Path
) -> None:
    """``crop selftrain``'s pseudo/ refused a photo edited since, so the model left it out and was then called
    unchanged; ``--index exg --overwrite`` failing on a photo left its CIVE mask among the exg ones (session 97)."""
    files = _jpeg_copy(scenes, tmp_path / "jpg")[:2]
    out = tmp_path / "out"
    assert pseudolabel_files(files, out, PseudoLabelConfig(), progress=False).counts["ok"] == 2
    cv2.imwrite(str(files[0]), cv2.flip(cv2.imread(str(files[0])), 1))  # edited since
    refused = pseudolabel_files(files, out, PseudoLabelConfig(), progress=False)
    assert refused.counts == {"ok": 0, "skipped": 1, "failed": 1}
    again = pseudolabel_files(files, out, PseudoLabelConfig(), progress=False, work_folder=True)
    assert again.counts == {"ok": 1, "skipped": 1, "failed": 0}
    Image.new("L", (96, 72), 0).save(files[1])  # nothing to threshold
    redo = pseudolabel_files(files, out, PseudoLabelConfig(index="exg", overwrite=True), progress=False)
    assert redo.counts["failed"] == 1
    assert redo.failures[0].endswith("the outputs an earlier run made for it were removed")
    assert not (out / "masks" / f"{files[1].stem}.png").exists() and (out / "masks" / f"{files[0].stem}.png").exists()


def test_the_screening_page_keeps_the_cards_of_an_earlier_run_into_the_folder(scenes: Path, tmp_path: Path) -> None:
    """A folder pseudo-labelled, then one more photo pseudo-labelled into it: pseudolabels.json lists the later
    run's photo alone, and the page had lost every earlier card (session 99's sweep)."""
    from agriseg.crop.pseudolabel.screen import screen_items

    files = _jpeg_copy(scenes, tmp_path / "jpg")
    out = tmp_path / "out"
    pseudolabel_files(files[:3], out, PseudoLabelConfig(source="index"), progress=False)
    pseudolabel_files(files[3:], out, PseudoLabelConfig(source="index", overlays=False), progress=False)
    assert [r["stem"] for r in json.loads((out / "pseudolabels.json").read_text())["records"]] == [files[3].stem]
    assert sorted(i["stem"] for i in screen_items(out)) == sorted(f.stem for f in files[:3])  # those with overlays


def test_the_screening_page_shows_a_photo_kept_from_other_settings(scenes: Path, tmp_path: Path) -> None:
    """A photo pseudo-labelled with --index exg, then refused by a cive run (status kept): its overlay and record
    are in the folder, but the page left it out (session 99's chained sweep)."""
    from agriseg.crop.pseudolabel.screen import screen_items

    files = _jpeg_copy(scenes, tmp_path / "jpg")
    out = tmp_path / "out"
    pseudolabel_files(files[:2], out, PseudoLabelConfig(source="index"), progress=False)
    pseudolabel_files(files[2:3], out, PseudoLabelConfig(source="index", index="exg"), progress=False)
    recs = pseudolabel_files(files[:3], out, PseudoLabelConfig(source="index"), progress=False)
    assert [r["status"] for r in recs] == ["skipped", "skipped", "kept"]
    assert sorted(i["stem"] for i in screen_items(out)) == sorted(f.stem for f in files[:3])


def test_a_mask_edited_by_hand_keeps_its_card_marked_with_a_key_of_its_own(scenes: Path, tmp_path: Path) -> None:
    """A pseudo-mask edited by hand: its card showed the overlay of the mask as made under the same key (a
    decision made on that was kept for the edited file), and after a re-run refused it (changed after it was
    written) the card vanished from the page (session 107's sweep)."""
    import numpy as np
    from PIL import Image

    from agriseg.crop.pseudolabel.screen import screen_items, write_screen_page

    files = _jpeg_copy(scenes, tmp_path / "jpg")[:2]
    out = tmp_path / "out"
    pseudolabel_files(files, out, PseudoLabelConfig(source="index"), progress=False)
    before = {i["stem"]: i for i in screen_items(out)}
    assert not any(i["edited"] for i in before.values())
    mask = out / "masks" / f"{files[1].stem}.png"
    Image.fromarray(np.full((72, 96), 255, np.uint8)).save(mask)
    for rerun in (False, True):
        if rerun:  # refused: its mask was changed after it was written; the card stays
            recs = pseudolabel_files(files, out, PseudoLabelConfig(source="index"), progress=False)
            assert [r["status"] for r in recs] == ["skipped", "error"], recs
        after = {i["stem"]: i for i in screen_items(out)}
        assert sorted(after) == sorted(before), after
        assert after[files[0].stem]["key"] == before[files[0].stem]["key"] and not after[files[0].stem]["edited"]
        assert after[files[1].stem]["edited"] and after[files[1].stem]["key"] != before[files[1].stem]["key"]
    notes: list[str] = []
    write_screen_page(out, notes=notes)
    assert any(n.startswith(f"warning: 1 mask edited since pseudolabel wrote it ({files[1].stem})") for n in notes)


def test_evaluate_never_scores_a_pseudo_mask_of_a_photo_replaced_since(scenes: Path, tmp_path: Path) -> None:
    """`crop evaluate --pred-masks OUT/masks` scored the mask of an earlier photo of that name, exit 0; crop
    predict's masks were refused so (session 101's sweep)."""
    files = _jpeg_copy(scenes, tmp_path / "jpg")[:2]
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["crop", "pseudolabel", *map(str, files), "-o", str(out)]).exit_code == 0
    files[1].write_bytes((scenes / "images" / "0003.png").read_bytes())  # another photo under its name
    r = CliRunner().invoke(cli, ["crop", "evaluate", "--images", str(tmp_path / "jpg"), "--masks",
                                 str(scenes / "masks"), "--pred-masks", str(out / "masks")])  # fmt: skip
    assert r.exit_code == 1, r.output
    assert "masks/0001.png: made by crop pseudolabel from an earlier version of" in r.output
    assert "images: 1 " in r.output  # the other one is scored


def test_depth_files_beside_the_photos_are_no_photos(scenes: Path, tmp_path: Path) -> None:
    """Session 105's sweep: `--depth-dir` the photos' own folder, with `<name>_depth.*` beside them, pseudo-labelled
    each depth file as a photo, from itself; a PNG photo found itself as its depth (``<name>.png`` comes first)."""
    import shutil

    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in sorted((scenes / "images").glob("*.png"))[:2]:
        shutil.copy(p, folder / p.name)  # PNG photos: <name>.png is also a depth file's name
        depth = np.load(scenes / "depth" / f"{p.stem}.npy")
        cv2.imwrite(str(folder / f"{p.stem}_depth.png"), (depth * 1000).astype(np.uint16))
    r = CliRunner().invoke(cli, ["crop", "pseudolabel", str(folder), "-o", str(tmp_path / "o"), "--source", "depth",
                                 "--depth-dir", str(folder)])  # fmt: skip
    assert r.exit_code == 0 and "2 pseudo-labelled" in r.output, r.output
    assert "(2 depth files of the photos not read as photos)" in r.output
    assert sorted(p.name for p in (tmp_path / "o" / "masks").glob("*.png")) == ["0000.png", "0001.png"]
    recs = json.loads((tmp_path / "o" / "pseudolabels.json").read_text())["records"]
    assert [Path(r["depth_file"]).name for r in recs] == ["0000_depth.png", "0001_depth.png"]


def test_photos_of_one_name_reading_one_depth_file_are_refused(scenes: Path, tmp_path: Path) -> None:
    """Session 105's sweep: A/0001.jpg beside B/0001.jpg looked up its depth as `A_0001_jpg` (the name the run
    gave it), "no depth file" though `0001.png` was there; the two would read one file, which is refused now."""
    import shutil

    for sub in ("A", "B"):
        (tmp_path / sub).mkdir()
        shutil.copy(scenes / "images" / "0001.png", tmp_path / sub / "0001.png")
    args = [str(tmp_path / "A"), str(tmp_path / "B"), "-o", str(tmp_path / "o"), "--source", "depth"]
    r = CliRunner().invoke(cli, ["crop", "pseudolabel", *args, "--depth-dir", str(scenes / "depth")])
    assert r.exit_code == 2, r.output
    assert "photos of one name would read one depth file" in r.output and "0001.npy" in r.output


def test_a_disparity_map_with_dropouts_labels_as_one_without(scenes: Path, tmp_path: Path) -> None:
    """Session 105's sweep: 2 % zeros (no reading) in a disparity map took the mask's IoU from 0.94 to 0.66."""
    rng = np.random.default_rng(0)
    clean, holes = tmp_path / "clean", tmp_path / "holes"
    clean.mkdir()
    holes.mkdir()
    for p in sorted((scenes / "depth").glob("*.npy")):
        disparity = (1.0 / np.load(p)).astype(np.float32)
        np.save(clean / p.name, disparity)
        disparity[rng.random(disparity.shape) < 0.05] = 0
        np.save(holes / p.name, disparity)
    ious = {}
    for depth in (clean, holes):
        cfg = PseudoLabelConfig(source="depth", depth_dir=str(depth), depth_convention="inverse")
        recs = pseudolabel_files(sorted((scenes / "images").glob("*.png")), tmp_path / depth.name, cfg, progress=False)
        for r in recs:
            mask = cv2.imread(str(tmp_path / depth.name / r["mask"]), cv2.IMREAD_UNCHANGED) > 0
            truth = cv2.imread(str(scenes / "masks" / f"{r['stem']}.png"), cv2.IMREAD_UNCHANGED) > 0
            ious.setdefault(depth.name, []).append((mask & truth).sum() / (mask | truth).sum())
    assert np.mean(ious["clean"]) > 0.8
    assert np.mean(ious["holes"]) > np.mean(ious["clean"]) - 0.05, ious


def test_png_photos_with_tiff_depth_beside_them_and_the_library_call(scenes: Path, tmp_path: Path) -> None:
    """Session 105's review: `p.png` photos with `p.tif` depth in one folder each found the other as its depth
    (all read as photos, the PNGs failing as depth); `pseudolabel_files` (crop adapt's, selftrain's) left no
    depth file out."""
    import shutil

    import tifffile

    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in sorted((scenes / "images").glob("*.png"))[:2]:
        shutil.copy(p, folder / p.name)
        tifffile.imwrite(folder / f"{p.stem}.tif", np.load(scenes / "depth" / f"{p.stem}.npy").astype(np.float32))
    r = CliRunner().invoke(cli, ["crop", "pseudolabel", str(folder), "-o", str(tmp_path / "o"), "--source", "depth",
                                 "--depth-dir", str(folder)])  # fmt: skip
    assert r.exit_code == 0 and "2 pseudo-labelled" in r.output and "2 depth files" in r.output, r.output
    recs = json.loads((tmp_path / "o" / "pseudolabels.json").read_text())["records"]
    assert [Path(r["depth_file"]).suffix for r in recs] == [".tif", ".tif"]
    cfg = PseudoLabelConfig(source="depth", depth_dir=str(folder))
    got = pseudolabel_files(sorted(folder.iterdir()), tmp_path / "lib", cfg, progress=False)
    assert [r["status"] for r in got] == [
        "ok",
        "ok",
    ] and "(2 depth files of the photos not read as photos)" in got.notes


def test_depth_dir_spelled_another_way_resumes(scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--depth-dir ./depth/` after `--depth-dir depth` was refused as other settings (its text was compared; each
    depth file read is an input already, by path and content: session 107's sweep). Another folder is refused."""
    import shutil

    monkeypatch.chdir(scenes)
    base = ["crop", "pseudolabel", "images", "-o", str(tmp_path / "o"), "--source", "depth", "--depth-dir"]
    assert CliRunner().invoke(cli, [*base, "depth"]).exit_code == 0
    for spelled in ("./depth/", str(scenes / "depth")):
        r = CliRunner().invoke(cli, [*base, spelled])
        assert r.exit_code == 0 and "4 skipped" in r.output, (spelled, r.output)
    shutil.copytree(scenes / "depth", scenes / "other")
    (scenes / "other" / "0001.npy").write_bytes((scenes / "depth" / "0002.npy").read_bytes())  # another depth
    r = CliRunner().invoke(cli, [*base, "other"])
    assert r.exit_code == 1 and "0001" in r.output, r.output
