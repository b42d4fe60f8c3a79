"""``agriseg -q`` (no bars, no warnings) and ``agriseg -v`` (the debug log: where an error came from)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "agriseg" / "samples" / "peanut" / "images"


def _agriseg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agriseg", *args], capture_output=True, text=True, cwd=cwd)


def _probe_prints_ok(probe: str) -> None:
    """Run ``probe`` in a fresh Python without the quiet settings of this process's environment."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("AGRISEG_QUIET", "TQDM_DISABLE")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "ok", done.stderr


def test_quiet_hides_bars_and_warnings_but_not_results(tmp_path: Path) -> None:
    """A greyscale photo among two: its warning and the bar go with -q; the summary line stays on stdout."""
    photo = Image.open(sorted(SAMPLES.iterdir())[0]).convert("RGB").resize((320, 240))
    photo.save(tmp_path / "a.jpg")
    photo.convert("L").save(tmp_path / "grey.jpg")
    loud = _agriseg("crop", "traits", "a.jpg", "grey.jpg", "-o", "loud", cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    assert "warning: grey.jpg: a greyscale photo" in loud.stderr and "2/2" in loud.stderr, loud.stderr
    hushed = _agriseg("-q", "crop", "traits", "a.jpg", "grey.jpg", "-o", "hushed", cwd=tmp_path)
    assert hushed.returncode == 0 and hushed.stderr == "", hushed.stderr
    assert "2 measured, 0 skipped, 0 failed" in hushed.stdout, hushed.stdout


@pytest.mark.slow  # 7 s: the default run keeps under 15 minutes
def test_quiet_and_verbose_after_the_command(tmp_path: Path) -> None:
    """``-q`` typed at the end of the command line (found by a session: ``No such option '-q'``) hushes as
    ``agriseg -q`` does; ``-v`` there and ``-q`` first are still one usage error."""
    photo = Image.open(sorted(SAMPLES.iterdir())[0]).convert("RGB").resize((320, 240))
    photo.save(tmp_path / "a.jpg")
    photo.convert("L").save(tmp_path / "grey.jpg")
    hushed = _agriseg("crop", "traits", "a.jpg", "grey.jpg", "-o", "hushed", "-q", cwd=tmp_path)
    assert hushed.returncode == 0 and hushed.stderr == "", hushed.stderr
    assert "2 measured, 0 skipped, 0 failed" in hushed.stdout, hushed.stdout
    renamed = _agriseg("text", "suggest-sizes", "--tile", "448", "-q", cwd=tmp_path)  # a renamed flag's line too
    assert renamed.returncode == 0 and "deprecated" not in renamed.stderr, renamed.stderr
    assert "deprecated" in _agriseg("text", "suggest-sizes", "--tile", "448", cwd=tmp_path).stderr
    both = _agriseg("-q", "crop", "traits", "a.jpg", "-o", "both", "-v", cwd=tmp_path)
    assert both.returncode == 2 and "-v and -q: give one of them" in both.stderr, both.stderr
    assert not (tmp_path / "both").exists()


def test_a_warning_in_a_log_file_starts_a_line_of_its_own(tmp_path: Path) -> None:
    """stderr to a file (a batch job's log): a warning made while the bar is drawn was written straight after
    the bar's last redraw (``predict:   0%|   | 0/3 [00:00<?, ?img/s]b_dark.png: 16-bit image ...``); it starts
    a line now, and the bar is drawn again after it."""
    import os
    import re

    import numpy as np

    photo = Image.open(sorted(SAMPLES.iterdir())[0]).convert("RGB").resize((64, 48))
    photo.save(tmp_path / "a.jpg")
    Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16)).save(tmp_path / "b_dark.png")  # warned
    photo.save(tmp_path / "c.jpg")
    env = {**os.environ, "TQDM_MININTERVAL": "0"}  # every redraw written, as a long run's would be
    run = subprocess.run([sys.executable, "-m", "agriseg", "crop", "predict", ".", "-o", "out"],
                         capture_output=True, text=True, cwd=tmp_path, env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    pieces = re.split(r"[\r\n]", run.stderr)  # what a terminal shows: each \r starts the line again
    said = [p for p in pieces if "b_dark.png: 16-bit image" in p]
    assert said and all(p.startswith("warning: b_dark.png: 16-bit image") for p in said), run.stderr
    assert "3/3" in run.stderr.split("b_dark.png: 16-bit image", 1)[1], run.stderr  # the bar goes on below it
    line = next(ln for ln in run.stderr.split("\n") if "b_dark.png: 16-bit image" in ln)
    assert "\r" not in line, repr(line)  # in a file, the line alone: no bar cleared and drawn again around it


@pytest.mark.slow  # the default run keeps the test run under 15 minutes
def test_quiet_by_its_variable_also_hides_the_log_warnings(tmp_path: Path) -> None:
    """AGRISEG_QUIET=1 hid the bars but not agriseg's log warnings (session 71's review); the workers a command
    starts inherit it, and apply it when they import agriseg."""
    import os

    Image.open(sorted(SAMPLES.iterdir())[0]).convert("RGB").resize((64, 48)).save(tmp_path / "a.jpg")
    (tmp_path / "IMG_1.heic").write_bytes(b"\x00" * 16)  # said to be left out: a log warning
    loud = _agriseg("crop", "predict", ".", "-o", "loud", cwd=tmp_path)
    assert "left out 1 file (.heic)" in loud.stderr, loud.stderr
    env = {**os.environ, "AGRISEG_QUIET": "1"}
    hushed = subprocess.run([sys.executable, "-m", "agriseg", "crop", "predict", ".", "-o", "hushed"],
                            capture_output=True, text=True, cwd=tmp_path, env=env)  # fmt: skip
    assert hushed.returncode == 0 and hushed.stderr == "", hushed.stderr
    probe = "import agriseg, logging, os; print(logging.getLogger('agriseg').level, os.environ['TQDM_DISABLE'])"
    worker = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert worker.stdout.split() == ["40", "1"], worker.stderr  # ERROR, and tqdm's bars off


def test_verbose_shows_where_an_error_came_from(tmp_path: Path) -> None:
    """Without -v an error is one line; with it, the traceback comes first (for a bug report)."""
    plain = _agriseg("crop", "predict", "nope.jpg", "-o", "out", cwd=tmp_path)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr, plain.stderr
    assert plain.stderr.strip().splitlines()[-1].startswith("Error: nope.jpg"), plain.stderr
    told = _agriseg("-v", "crop", "predict", "nope.jpg", "-o", "out", cwd=tmp_path)
    assert told.returncode == 2, told.stderr
    assert "debug: the error below, where it came from:\nTraceback" in told.stderr, told.stderr
    assert told.stderr.strip().splitlines()[-1] == plain.stderr.strip().splitlines()[-1]
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not a photo")  # an item that fails: its traceback too
    Image.open(sorted(SAMPLES.iterdir())[0]).convert("RGB").resize((64, 48)).save(tmp_path / "good.jpg")
    item = _agriseg("-v", "crop", "predict", "bad.jpg", "good.jpg", "-o", "out", cwd=tmp_path)
    assert item.returncode == 1 and "debug: bad.jpg: failed, where it came from:\nTraceback" in item.stderr, item.stderr


def test_verbose_and_quiet_together_is_a_usage_error(tmp_path: Path) -> None:
    res = _agriseg("-v", "-q", "crop", "predict", "x.jpg", cwd=tmp_path)
    assert res.returncode == 2 and "-v and -q: give one of them" in res.stderr, res.stderr


def test_quiet_can_be_turned_on_and_off_from_python() -> None:
    """agriseg.quiet() only said whether AGRISEG_QUIET was set: a notebook had no way to go quiet (session 72's
    sweep). quiet(True) applies it here and for the workers; quiet(False) undoes it."""
    probe = (
        "import logging, os, warnings, agriseg\n"
        "log = logging.getLogger('agriseg')\n"
        "log.setLevel(logging.INFO)\n"
        "os.environ['HF_HUB_DISABLE_PROGRESS_BARS'] = '1'  # the user's own\n"
        "warnings.simplefilter('always')\n"
        "before = list(warnings.filters)\n"
        "assert not agriseg.quiet()\n"
        "assert agriseg.quiet(True) and log.level == logging.ERROR\n"
        "assert os.environ['AGRISEG_QUIET'] == '1' and os.environ['TQDM_DISABLE'] == '1'\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.warn('hidden')\n"
        "assert not seen\n"
        "assert agriseg.quiet(False) is False and log.level == logging.INFO\n"
        "assert 'TQDM_DISABLE' not in os.environ and os.environ['HF_HUB_DISABLE_PROGRESS_BARS'] == '1'\n"
        "assert list(warnings.filters) == before\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.warn('shown')\n"
        "assert len(seen) == 1\n"
        "print('ok')\n"
    )
    _probe_prints_ok(probe)


def test_quiet_false_keeps_the_filters_added_while_quiet() -> None:
    """Session 85's API sweep: quiet(False) put back the filter list of quiet(True)'s time, dropping the "error"
    filter the user added while quiet (and the filters of libraries imported then); quiet(1) did nothing."""
    probe = (
        "import warnings, agriseg\n"
        "warnings.simplefilter('ignore')  # the user's own, from before\n"
        "assert agriseg.quiet(1) is True\n"
        "warnings.filterwarnings('error', category=RuntimeWarning)\n"
        "agriseg.quiet(False)\n"
        "assert warnings.filters[0][:3:2] == ('error', RuntimeWarning), warnings.filters[:2]\n"
        "assert sum(f == ('ignore', None, Warning, None, 0) for f in warnings.filters) == 1  # the user's stays\n"
        "try:\n"
        "    agriseg.quiet('off')\n"
        "except TypeError as err:\n"
        "    assert 'True, False or None' in str(err)\n"
        "print('ok')\n"
    )
    _probe_prints_ok(probe)


@pytest.mark.parametrize(("value", "on"), [("false", False), ("No", False), ("off", False), ("0", False), ("1", True)])
def test_the_quiet_variable_reads_false_no_and_off_as_off(value: str, on: bool) -> None:
    """``AGRISEG_QUIET=false`` turned quiet mode on (session 80), where ``AGRISEG_MEMORY_CHECK`` reads it as off."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "AGRISEG_QUIET": value}
    probe = "import agriseg; print(agriseg.quiet())"
    got = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert got.stdout.strip() == str(on), got.stderr


def test_a_warning_after_a_closed_inner_bar_starts_a_line_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """An image's own bar (``leave=False``) clears its line with a ``\\r`` and is gone from tqdm's list when
    it closes: a warning made next was glued to that line in a log file (``text predict``, session 91's sweep)."""
    import io

    from agriseg.batch import bar_drew, progress_bar
    from agriseg.cli import beside_bars

    log = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.delenv("AGRISEG_QUIET", raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    bar_drew()
    inner = progress_bar(total=2, desc="img.tif", leave=False, file=log, mininterval=0)
    inner.update(2)
    inner.close()
    beside_bars("img.tif: its mask is all background")
    beside_bars("img.tif: a second warning")
    lines = log.getvalue().split("\n")
    assert "img.tif: its mask is all background" in lines and "img.tif: a second warning" in lines, lines
    assert lines.count("") == 1  # the one after the last line: no empty line between the two warnings


def test_a_warning_after_a_finished_bar_kept_on_screen_has_no_empty_line_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bar kept when it finishes ends its line itself (session 91's review: an empty line followed it)."""
    import io

    from agriseg.batch import bar_drew, progress_bar
    from agriseg.cli import beside_bars

    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.delenv("AGRISEG_QUIET", raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    bar_drew()
    for _ in progress_bar(range(3), desc="photos", file=log, mininterval=0):
        pass
    beside_bars("W")
    lines = log.getvalue().split("\n")
    assert lines[-2:] == ["W", ""] and "3/3" in lines[-3], lines  # the bar's line, then the warning: no empty line
