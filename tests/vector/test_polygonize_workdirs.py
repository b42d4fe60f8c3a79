"""The polygoniser's label files of a process that is gone are removed by the next run (session 66's Dask
sweep: a Ctrl-C stops Dask workers without their TemporaryDirectory cleanup, leaving 4 bytes per pixel)."""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path

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
