"""Helpers of the smoke suite: run a command line as a user types it, and check what it wrote."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result
from PIL import Image

# Lightning's own output, which training commands do not show (their progress bar and summary line stay)
CHATTER = ("GPU available", "Tip:", "LOCAL_RANK", "Total params", "Warning", "warn")


def chatter(output: str) -> list[str]:
    """The words of :data:`CHATTER` in ``output``, outside agriseg's own ``warning: `` lines."""
    theirs = "\n".join(line for line in output.splitlines() if not line.startswith("warning: "))
    return [w for w in CHATTER if w in theirs]


def agriseg(command: str, cwd: Path | None = None, expect: int = 0) -> Result:
    """Run ``agriseg <command>`` in this process (the line is split like a shell does) and check its exit code.

    Args:
        command: the command line after ``agriseg``, e.g. ``"crop predict photos -o out"``.
        cwd: working directory (relative paths in the line and in configs resolve against it).
        expect: the exit code the command must end with.
    """
    import os

    from agriseg.cli import main

    old = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        res = CliRunner().invoke(main, shlex.split(command), catch_exceptions=True)
    finally:
        os.chdir(old)
    detail = res.output[-4000:]
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        import traceback

        detail += "".join(traceback.format_exception(res.exception))[-4000:]
    assert res.exit_code == expect, f"agriseg {command}\nexit {res.exit_code}\n{detail}"
    return res


def read_png(path: Path) -> np.ndarray:
    """The pixels of an image file (asserting that it exists and decodes)."""
    assert path.is_file(), f"{path} was not written"
    with Image.open(path) as im:
        return np.asarray(im)


def read_json(path: Path) -> dict:
    """A JSON file, parsed strictly: NaN or Infinity are not JSON and fail."""
    assert path.is_file(), f"{path} was not written"

    def _bad(token: str) -> None:
        raise AssertionError(f"{path}: {token} is not valid JSON")

    return json.loads(path.read_text(), parse_constant=_bad)
