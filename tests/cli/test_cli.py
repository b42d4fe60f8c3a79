import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from agriseg import __version__
from agriseg.cli import main


def test_help_and_version_are_instant():
    import resource

    def cpu_of_children() -> float:  # CPU seconds, not wall: a loaded CI machine took 8.9 s of wall for 3 s of work
        use = resource.getrusage(resource.RUSAGE_CHILDREN)
        return use.ru_utime + use.ru_stime

    t0 = cpu_of_children()
    out = subprocess.run([sys.executable, "-m", "agriseg", "--help"], capture_output=True, text=True, check=True)
    assert "crop" in out.stdout
    ver = subprocess.run([sys.executable, "-m", "agriseg", "--version"], capture_output=True, text=True, check=True)
    assert __version__ in ver.stdout
    assert cpu_of_children() - t0 < 8  # importing torch alone takes more
    probe = "import agriseg.cli, sys; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"


def test_predict_missing_path_and_empty_folder(tmp_path):
    r = CliRunner().invoke(main, ["crop", "predict", str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "nope.jpg: no such file or folder" in r.output
    (tmp_path / "empty").mkdir()
    for command in ("predict", "traits"):  # nothing to work on is a usage error, not a failed item
        r = CliRunner().invoke(main, ["crop", command, str(tmp_path / "empty"), "-o", str(tmp_path / "o")])
        assert r.exit_code == 2 and "empty: folder has no images" in r.output, r.output


def test_a_missing_folder_a_config_key_names_is_said_with_the_config_file():
    """`data.labels: nowhere` said "nowhere: folder not found (data.labels)", the config file unnamed, where every
    other config error names it (session 108's sweep); an error of no config key is left as it is."""
    import pytest

    from agriseg.cli.errors import config_named
    from agriseg.data.io import NoInputError

    with pytest.raises(FileNotFoundError, match=r"^run\.yaml: nowhere: folder not found \(data\.labels\)$"):
        with config_named("run.yaml"):
            raise FileNotFoundError("nowhere: folder not found (data.labels)")
    with pytest.raises(NoInputError, match=r"^st\.yaml: empty: folder has no images \(images\)$"):
        with config_named("st.yaml"):
            raise NoInputError("empty: folder has no images (images)")
    with pytest.raises(FileNotFoundError, match=r"^a\.tif: no such file$"):
        with config_named("run.yaml"):
            raise FileNotFoundError("a.tif: no such file")


def test_predict_rejects_wrong_channel_model(tmp_path, samples_dir):
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    cfg = ModelConfig(encoder_weights=None, in_channels=4, mean=[0.5] * 4, std=[0.5] * 4)
    save_model(build_model(cfg), cfg, tmp_path / "m4.safetensors")
    r = CliRunner().invoke(
        main,
        [
            "crop",
            "predict",
            str(samples_dir / "peanut" / "images"),
            "-o",
            str(tmp_path / "o"),
            "--model",
            str(tmp_path / "m4.safetensors"),
        ],
    )
    assert r.exit_code != 0 and "m4.safetensors: model takes 4 input channels" in r.output


def test_evaluate_saved_masks_and_size_mismatch(tmp_path):
    imgs, labs, preds = (tmp_path / d for d in ("img", "lab", "pred"))
    for d in (imgs, labs, preds):
        d.mkdir()
    truth = np.zeros((20, 30), np.uint8)
    truth[5:15, 5:20] = 255
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(imgs / "a.png")
    Image.fromarray(truth).save(labs / "a.png")
    Image.fromarray(truth).save(preds / "a_mask.png")
    out = tmp_path / "r.json"
    r = CliRunner().invoke(
        main,
        [
            "crop",
            "evaluate",
            "--images",
            str(imgs),
            "--masks",
            str(labs),
            "--pred-masks",
            str(preds),
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert res["miou"] == pytest.approx(1.0) and res["boundary_ratio"] == 0.02
    Image.fromarray(truth[:10]).save(labs / "a.png")
    r = CliRunner().invoke(
        main, ["crop", "evaluate", "--images", str(imgs), "--masks", str(labs), "--pred-masks", str(preds)]
    )
    assert r.exit_code != 0 and "a.png: label is " in r.output
    # a report path that cannot be written is refused before anything is scored (it was said after the table)
    (tmp_path / "note").write_text("mine")
    args = ["crop", "evaluate", "--images", str(imgs), "--masks", str(labs), "--pred-masks", str(preds)]
    r = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "note" / "r.json")])
    assert r.exit_code == 2 and "note is a file" in r.output and "mIoU" not in r.output, r.output


def test_default_model_on_bundled_samples(samples_dir, tmp_path):
    """The shipped model segments the bundled real photos well (2 of the 3 are validation photos)."""
    from agriseg.crop.labels import PEANUT_VEGETATION, read_label
    from agriseg.metrics import SegmentationMetrics

    out = tmp_path / "pred"
    r = CliRunner().invoke(main, ["crop", "predict", str(samples_dir / "peanut" / "images"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    m = SegmentationMetrics(2)
    for lab in sorted((samples_dir / "peanut" / "labels").glob("*.png")):
        pred = (np.asarray(Image.open(out / f"{lab.stem}_mask.png")) > 0).astype(np.uint8)
        m.update(pred, read_label(lab, "colormap", PEANUT_VEGETATION))
    assert m.compute()["miou"] > 0.85
    assert (out / "summary.csv").read_text().count("ok") == 3


def test_crop_weed_model_on_bundled_samples(samples_dir, tmp_path):
    """The packaged crop/weed model writes class maps and per-class cover, and gets the crop right."""
    import csv

    from agriseg.crop.labels import read_label
    from agriseg.metrics import SegmentationMetrics

    out = tmp_path / "pred"
    r = CliRunner().invoke(
        main, ["crop", "predict", str(samples_dir / "peanut" / "images"), "-o", str(out), "--model", "crop-weed"]
    )
    assert r.exit_code == 0, r.output
    cmap = {"0,0,0": 0, "0,255,0": 1, "255,0,0": 2}
    m = SegmentationMetrics(3, class_names=["background", "crop", "weed"])
    for lab in sorted((samples_dir / "peanut" / "labels").glob("*.png")):
        m.update(np.asarray(Image.open(out / f"{lab.stem}_classes.png")), read_label(lab, "colormap", cmap))
    res = m.compute()
    assert res["per_class_iou"]["background"] > 0.9 and res["per_class_iou"]["crop"] > 0.8
    from agriseg.crop.predict import read_model_name

    assert {read_model_name(p) for p in out.glob("*_*.png")} == {"crop-weed"}  # what `crop traits` reads back
    with open(out / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {"crop_fraction", "weed_fraction"} <= set(rows[0])
    for row in rows:
        total = float(row["crop_fraction"]) + float(row["weed_fraction"])
        assert total == pytest.approx(float(row["vegetation_fraction"]), abs=2e-6)


def test_ctrl_c_ends_a_batch_with_status_130_saying_how_far_it_got_and_no_stale_table(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from agriseg import batch

    for name in ("a", "b", "c"):
        mask = np.zeros((20, 20), np.uint8)
        mask[5:15, 5:15] = 1
        Image.fromarray(mask).save(tmp_path / f"{name}_mask.png")
    args = ["crop", "traits", *(str(tmp_path / f"{n}_mask.png") for n in "abc"), "-o", str(tmp_path / "o")]
    map_ = batch.Serial.map

    def ctrl_c_at_the_second(self, work, items):
        for i, res in enumerate(map_(self, work, items)):
            if i == 1:
                raise KeyboardInterrupt
            yield res

    assert CliRunner().invoke(main, args).exit_code == 0
    assert (tmp_path / "o" / "traits.csv").is_file()
    monkeypatch.setattr(batch.Serial, "map", ctrl_c_at_the_second)
    r = CliRunner().invoke(main, [*args, "--overwrite"])
    assert r.exit_code == 130, r.output
    assert not (tmp_path / "o" / "traits.csv").exists()  # it would describe the outputs being replaced
    assert r.output.strip().splitlines()[-1] == (
        "agriseg: interrupted: 1 of 3 done (complete outputs); "
        "the same command without --overwrite resumes with the other 2"
    )
    monkeypatch.setattr(batch.Serial, "map", map_)
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "2 measured, 1 skipped, 0 failed" in r.output, r.output


def test_ctrl_c_after_the_batch_says_its_outputs_are_complete(tmp_path, monkeypatch):
    """A Ctrl-C while a command wrote its tables after the batch printed a bare `agriseg: interrupted`; it now
    says the items are done and what the same command does. A later command in the same process that is
    stopped before any batch does not inherit that line."""
    import numpy as np
    from PIL import Image

    from agriseg.crop.traits import runner

    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 1
    for name in ("a", "b"):
        Image.fromarray(mask).save(tmp_path / f"{name}_mask.png")
    args = ["crop", "traits", str(tmp_path / "a_mask.png"), str(tmp_path / "b_mask.png"), "-o", str(tmp_path / "o")]

    def ctrl_c(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(runner, "write_tables", ctrl_c)
        r = CliRunner().invoke(main, args)
    assert r.exit_code == 130, r.output
    assert r.output.strip().splitlines()[-1] == (
        "agriseg: interrupted: after its batch (2 of 2 done, complete outputs); the same command skips them and "
        "does the rest"
    )
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "0 measured, 2 skipped" in r.output and (tmp_path / "o" / "traits.csv").is_file()
    with monkeypatch.context() as m:  # stopped before its batch: nothing to say about an earlier command's
        m.setattr(runner, "run_traits", ctrl_c)
        r = CliRunner().invoke(main, args)
    assert r.exit_code == 130 and r.output.strip().splitlines()[-1] == "agriseg: interrupted", r.output


def test_ctrl_c_during_an_import_is_an_interruption_not_a_missing_library(monkeypatch):
    import click

    from agriseg.cli.errors import friendly_errors

    @click.command()
    @friendly_errors
    def importing() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:  # what an extension module's init turns a Ctrl-C into
            raise ImportError("initialization failed") from err

    r = _invoke_added(importing)
    assert r.exit_code == 130 and r.output.strip() == "agriseg: interrupted", r.output


def test_ctrl_c_while_the_command_loads_is_one_line_too(monkeypatch, capsys):
    import builtins

    from agriseg.__main__ import run

    real = builtins.__import__

    def ctrl_c_in_the_cli_import(name, *args, **kwargs):
        if name == "agriseg.cli":
            raise KeyboardInterrupt
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", ctrl_c_in_the_cli_import)
    with pytest.raises(SystemExit) as exit_:
        run()
    assert exit_.value.code == 130 and capsys.readouterr().err.strip() == "agriseg: interrupted"


def test_ctrl_c_while_python_shuts_down_after_a_command_is_one_line(tmp_path):
    """A Ctrl-C after a command finished, while Python joined its thread pools or ran atexit callbacks, printed
    `Exception ignored in ... KeyboardInterrupt` tracebacks and exited with status 0 (seen after `fields map`)."""
    import subprocess
    import sys

    prog = (
        "import atexit, os, signal, sys, time\n"
        "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(5)))\n"  # Ctrl-C in the shutdown
        "sys.argv = ['agriseg', '--version']\n"
        "from agriseg.__main__ import run\n"
        "run()\n"
    )
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=60)
    assert r.returncode == 130, (r.returncode, r.stderr)
    assert r.stderr.strip() == "agriseg: interrupted" and "Traceback" not in r.stderr
    assert "agriseg" in r.stdout  # the command's own output came first


def test_a_usage_error_is_one_line_with_status_2() -> None:
    """click printed ``Usage: ...`` and ``Try '... --help' for help.`` on lines of their own before the error."""
    from click.testing import CliRunner

    from agriseg.cli import main

    res = CliRunner().invoke(main, ["crop", "traits"])
    assert res.exit_code == 2
    assert res.output.strip() == "Error: Missing argument 'PATHS...' (see main crop traits --help)", res.output
    res = CliRunner().invoke(main, ["fields", "robustness", "-m", "x.safetensors", "--scene", "nope.tif"])
    assert res.exit_code == 2 and res.output.strip() == "Error: nope.tif: no such file (--scene)", res.output
    for args in (["--bogus"], ["-q", "--bogus", "crop"]):  # agriseg's own options were click's three lines
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and res.output.startswith("Error: No such option '--bogus'"), res.output
        assert len(res.output.strip().splitlines()) == 1 and "(see main --help)" in res.output, res.output


@pytest.mark.parametrize(
    ("typed", "guess"),
    [
        ("--bogus", None),  # click guessed the hidden --verbose
        ("--tiel", "'--tile'"),  # click: '--tile' or '--help' or '--optimize'
        ("--Model", "'--model'"),
        ("--quiett", "'--quiet'"),  # the hidden -q / -v are guessed only when typed nearly right
        ("--verbos", "'--verbose'"),
        ("--h", "'-h'"),  # a short option typed with two dashes: a KeyError's traceback (session 93's review)
        ("--o", "'-o'"),
        ("--mo", None),
    ],
)
def test_an_unknown_option_is_guessed_from_the_options_help_shows(typed: str, guess: str | None) -> None:
    res = CliRunner().invoke(main, ["crop", "predict", typed, "x.jpg"])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    if guess is None:
        assert line == f"Error: No such option '{typed}' (see main crop predict --help)", line
    else:
        assert line == f"Error: No such option '{typed}'. Did you mean {guess}? (see main crop predict --help)", line


@pytest.mark.parametrize("args", [["crop"], ["crop", "models"], ["fields"], ["text"]])
def test_a_group_without_a_command_shows_its_help_with_status_2(args: list[str]) -> None:
    """It printed the whole help as one ``Error: Usage: ...`` message."""
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert res.output.startswith("Usage: main " + " ".join(args)) and "Error" not in res.output, res.output
    assert "Commands:" in res.output


@pytest.mark.slow  # 7 s: batches in subprocesses
def test_a_closed_or_broken_stderr_does_not_stop_a_batch(samples_dir, tmp_path):
    """With stderr closed (``2>&-``) or read by a program that went away, the progress bar's first write
    failed, and with it the run: no summary.csv, exit 1."""
    photo = tmp_path / "photos"  # two photos: one alone gets no progress bar
    photo.mkdir()
    for f in sorted((samples_dir / "peanut" / "images").glob("*.jpg"))[:2]:
        (photo / f.name).write_bytes(f.read_bytes())
    closed = subprocess.run(
        f'"{sys.executable}" -m agriseg crop predict "{photo}" -o "{tmp_path / "a"}" 2>&-',
        shell=True, capture_output=False, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert closed.returncode == 0 and "2 predicted" in closed.stdout
    assert (tmp_path / "a" / "summary.csv").is_file()
    cmd = [sys.executable, "-m", "agriseg", "crop", "predict", str(photo), "-o", str(tmp_path / "b")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    proc.stderr.close()  # the reader went away before the first line
    assert proc.wait(timeout=300) == 0
    assert (tmp_path / "b" / "summary.csv").is_file()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_lost_to_a_full_disk_is_said_and_fails_but_a_closed_pipe_does_not() -> None:
    """Every write error on stdout was taken for a reader that went away: ``crop models list > /dev/full`` (a
    full disk) printed nothing, said nothing and exited 0; ``crop evaluate``'s table was lost so."""
    cmd = f'"{sys.executable}" -m agriseg crop models list'
    full = subprocess.run(cmd + " > /dev/full", shell=True, capture_output=True, text=True)
    assert full.returncode == 1 and "could not write to standard output (No space left on device)" in full.stderr
    piped = subprocess.run(cmd + " | head -1", shell=True, capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stdout.startswith("* default") and "could not" not in piped.stderr


def test_warnings_of_a_batch_go_to_stderr_once_per_kind(capsys: pytest.CaptureFixture[str]) -> None:
    """``crop traits`` printed its warnings on stdout among what a script reads, one line per photo (50
    greyscale photos: 50 lines)."""
    from agriseg.batch import BatchResult
    from agriseg.cli.errors import finish

    notes = [f"warning: g{i}.jpg: a greyscale photo" for i in range(50)] + ["growth: growth.csv"]
    finish(BatchResult([], notes=notes), "measured", "out")
    out, err = capsys.readouterr()
    assert "warning" not in out and "growth: growth.csv" in out and "0 measured" in out
    assert err.splitlines() == [*notes[:3], "warning: 47 more files: a greyscale photo"]
    # one warning of other numbers per photo (a region, a share) is one kind too (session 84's sweep); one
    # left over is "1 more file", not "1 more files"
    notes = [f"warning: p{i}.jpg: region {i % 4}: the model was sure of {40 + i}% of it" for i in range(10)]
    finish(BatchResult([], notes=[*notes, *[f"warning: g{i}.jpg: a greyscale photo" for i in range(4)]]), "m", "o")
    err = capsys.readouterr().err.splitlines()
    assert err[:4] == [*notes[:3], "warning: 7 more like the above (other files or values)"]
    assert err[-1] == "warning: 1 more file: a greyscale photo"


def test_many_failed_items_name_three_of_each_problem(capsys):
    """3,000 unreadable files gave 3,000 ``failed:`` lines that hid the one item with another problem."""
    from agriseg.cli.errors import FAILED_LINES, echo_failures

    few = [f"b{i}.jpg: not a readable image" for i in range(FAILED_LINES)]
    echo_failures(few)
    assert capsys.readouterr().err.splitlines() == [f"  failed: {m}" for m in few]  # every one while few
    many = [*few, "x.png: is 2x2 px", "b99.jpg: not a readable image"]
    echo_failures(many)
    assert capsys.readouterr().err.splitlines() == [
        *[f"  failed: {m}" for m in few[:3]],
        f"  failed: {FAILED_LINES - 2} more files: not a readable image",
        "  failed: x.png: is 2x2 px",
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_a_batch_as_ctrl_c_does_with_status_143(samples_dir, tmp_path):
    """Slurm's scancel or time limit (SIGTERM) killed a run with no line and left its lock behind."""
    import signal

    photo = sorted((samples_dir / "peanut" / "images").glob("*.jpg"))[0]
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for i in range(12):
        (photos / f"p{i}.jpg").write_bytes(photo.read_bytes())
    cmd = [sys.executable, "-m", "agriseg", "crop", "predict", str(photos), "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not list(out.glob("*_mask.png")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    done = len(list(out.glob("*_mask.png")))
    if done == 12:
        pytest.skip("the batch finished before the signal")
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith(f"agriseg: terminated: {done} of 12 done (complete outputs)")
    assert not (out / ".agriseg-lock").exists()


def test_crop_predict_refuses_a_missing_or_empty_input_before_making_the_output_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    for src in (tmp_path / "nothere", tmp_path / "empty"):
        out = tmp_path / f"out_{src.name}"
        res = CliRunner().invoke(main, ["crop", "predict", str(src), "-o", str(out)])
        assert res.exit_code == 2 and not out.exists(), res.output


def test_a_photo_gone_while_a_command_reads_it_fails_the_run_not_the_usage() -> None:
    """A missing photo became a FileNotFoundError too (session 72): `crop evaluate --strict` with a photo
    deleted mid-run then exited 2 (a usage error) instead of 1 (the review): a photo that cannot be read is 1."""
    import click

    from agriseg.cli.errors import friendly_errors
    from agriseg.data.io import ImageNotFoundError

    @click.command()
    @friendly_errors
    def reading() -> None:
        raise ImageNotFoundError("photos/a.jpg: file not found")

    r = _invoke_added(reading)
    assert r.exit_code == 1 and r.output.strip() == "Error: photos/a.jpg: file not found", r.output


class _BadChips:
    """A data set whose one chip cannot be read, as a damaged GeoTIFF of an FTW root."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> None:
        from agriseg.data.io import ImageReadError

        raise ImageReadError("ftw/austria/s2_images/window_a/g00.tif: not a readable raster")


def test_an_error_in_a_loader_worker_is_its_own_line_not_the_workers_traceback():
    """With `train.num_workers` >= 1 a damaged chip printed torch's "Caught ... in DataLoader worker process 1."
    and 45 lines of the worker's traceback, where without workers it is one line (session 79's sweep)."""
    import click
    from torch.utils.data import DataLoader

    from agriseg.cli.errors import friendly_errors

    @click.command()
    @friendly_errors
    def loading() -> None:
        next(iter(DataLoader(_BadChips(), num_workers=1)))  # type: ignore[arg-type]

    r = _invoke_added(loading)
    assert r.exit_code == 1, r.output
    assert r.output.strip() == "Error: ftw/austria/s2_images/window_a/g00.tif: not a readable raster", r.output


class _BadChipsOfGdal:
    """A chip whose error's cause was made but never raised (rasterio's CPLE_AppDefinedError): torch's message
    then reads "Original rasterio._err.CPLE...", not "Original Traceback", and 50 lines were printed (session 94's
    fields sweep)."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> None:
        cause = OSError("TIFFReadEncodedStrip() failed")
        raise ValueError("g00.tif: cannot read its pixels: the file is truncated or corrupt") from cause


def test_an_error_with_an_unraised_cause_in_a_loader_worker_is_its_own_line() -> None:
    import click
    from torch.utils.data import DataLoader

    from agriseg.cli.errors import friendly_errors

    @click.command()
    @friendly_errors
    def loading2() -> None:
        next(iter(DataLoader(_BadChipsOfGdal(), num_workers=1)))  # type: ignore[arg-type]

    r = _invoke_added(loading2)
    assert r.exit_code == 1, r.output
    assert r.output.strip() == "Error: g00.tif: cannot read its pixels: the file is truncated or corrupt", r.output


def _invoke_added(command):  # noqa: ANN001, ANN202 - a click command; click's Result
    """Run a command a test defines as `agriseg <its name>`, then take it off the group again."""
    main.add_command(command)
    try:
        return CliRunner().invoke(main, [command.name])
    finally:
        main.commands.pop(command.name)


def test_a_file_whose_name_starts_with_a_dash_is_told_how_to_give_it(tmp_path: Path) -> None:
    """``agriseg crop predict -x.jpg``: click's "No such option '-x'" gave no hint that it was a file."""
    (tmp_path / "-x.jpg").write_bytes(b"")
    run = subprocess.run(
        [sys.executable, "-m", "agriseg", "crop", "predict", "-x.jpg", "-o", "out"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 2 and "No such option '-x': for the file -x.jpg, give ./-x.jpg" in run.stderr, run.stderr


def test_the_resource_trackers_leak_notice_is_kept_from_an_interrupted_run() -> None:
    """Session 87's sweep: Ctrl-C in `fields map` ended with multiprocessing's "There appear to be 2 leaked
    semaphore objects" UserWarning (two lines with a library path) after agriseg's one-line message. The tracker
    is a process of its own that takes the interpreter's -W options: the CLI gives it one ignoring that notice."""
    import sys

    from agriseg.cli import TRACKER_QUIET

    res = CliRunner().invoke(main, ["crop", "models", "list"])
    assert res.exit_code == 0, res.output
    assert TRACKER_QUIET in sys.warnoptions
    import warnings

    with warnings.catch_warnings():  # the option as the tracker's interpreter reads it: the notice is ignored
        warnings.resetwarnings()
        warnings._processoptions([TRACKER_QUIET])  # type: ignore[attr-defined]
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn("resource_tracker: There appear to be 2 leaked semaphore objects", UserWarning, stacklevel=1)
        assert not seen


@pytest.mark.parametrize(
    ("command", "config", "other"),
    [
        ("text sft", "configs/crop/peanut_vegetation.yaml", "crop train"),
        ("fields train", "configs/text/tiny_demo_grpo.yaml", "text grpo"),
        ("crop train", "configs/fields/prue_lite0_cpu.yaml", "fields train"),
        ("crop train", "configs/crop/selftrain_peanut.yaml", "crop selftrain"),
        ("text sft", "configs/text/tiny_demo_grpo.yaml", "text grpo"),
    ],
)
def test_a_config_of_another_command_is_named_so(command: str, config: str, other: str) -> None:
    """A crop config given to ``text sft`` listed every key as "not an option" with the whole option list each time
    and guesses such as train -> per_device_train_batch_size (session 94's sweep)."""
    path = Path(__file__).resolve().parents[2] / config
    res = CliRunner().invoke(main, [*command.split(), "-c", str(path)])
    assert res.exit_code == 2, res.output
    assert f"a run config of `agriseg {other}`, not of `agriseg {command}`: run agriseg {other} -c" in res.output


def test_an_unknown_set_key_is_not_taken_for_another_commands_config() -> None:
    """``text sft -c tiny_demo_sft.yaml --set typo=1`` was "a run config of agriseg text grpo" (an SFT file reads
    as a GRPO one): the override is named (the review's find)."""
    path = Path(__file__).resolve().parents[2] / "configs/text/tiny_demo_sft.yaml"
    res = CliRunner().invoke(main, ["text", "sft", "-c", str(path), "--set", "typo=1"])
    assert res.exit_code == 2 and "--set typo: not an option" in res.output and "run config of" not in res.output


def test_fields_models_show_reads_as_text():
    """``fields models show`` printed Python values (``sha256: None``, ``bands: ('red', ...)``, ``True``)."""
    out = CliRunner().invoke(main, ["fields", "models", "show", "FTW_PRUE_EFNET_B5"]).output
    assert "bands: red, green, blue, nir" in out and "sha256: not recorded" in out and "default: yes" in out
    assert "windows: 2 (start and end of season)" in out
    assert "None" not in out and "(" not in out.split("url:")[0].replace("(start", "").replace("(includes", "")
