"""The polygoniser's label files of a process that is gone are removed by the next run (session 66's Dask
sweep: a Ctrl-C stops Dask workers without their TemporaryDirectory cleanup, leaving 4 bytes per pixel)."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path

import pytest

poly = importlib.import_module("agriseg.vector.polygonize")


def test_work_folders_of_dead_processes_are_removed_others_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / f"{poly.WORKDIR_PREFIX}{2**22 - 3}-abc"
    mine = tmp_path / f"{poly.WORKDIR_PREFIX}{os.getpid()}-def"
    other = tmp_path / f"{poly.WORKDIR_PREFIX}xyz"  # not named with a pid: not ours to judge
    for d in (dead, mine, other):
        d.mkdir()
        (d / "labels-0.bin").write_bytes(b"1234")
    poly._remove_dead_workdirs()
    assert not dead.exists() and mine.exists() and other.exists()


_ORPHAN = """
import os, sys, time, multiprocessing as mp
from agriseg.data.files import end_with

def child(parent):
    end_with(parent)
    time.sleep(120)

if __name__ == "__main__":
    p = mp.get_context("spawn").Process(target=child, args=(os.getpid(),))
    p.start()
    print(p.pid, flush=True)
    time.sleep(120)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 of a process")
def test_workers_end_when_the_command_is_killed(tmp_path) -> None:
    """After a kill -9 of `fields polygonize`, its worker processes waited for ever, holding the raster and the
    command's output pipe (session 69's sweep): they end within seconds of the command."""
    from tests.killed import worker_outlives_kill

    assert not worker_outlives_kill(_ORPHAN, tmp_path, wait_s=10, settle_s=1.0)  # settle: the watch has started
