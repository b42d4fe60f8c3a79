"""A Dask worker killed in the middle of ``fields map``: the run finishes with the same polygons, and says so.

A worker plugin makes the worker that starts the Nth task of the run exit at once (``os._exit``, as a
killed process would); the cluster is a real ``distributed.LocalCluster`` of worker processes, whose nanny
starts a new worker. The scheduler gives the lost worker's task to another one.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner

from agriseg.cli import main
from tests.fields.synth_scenes import write_scene

distributed = pytest.importorskip("distributed")


class KillOnNthTask(distributed.WorkerPlugin):
    """Exit the worker process that starts the ``n``-th task (counted over all workers, once per run)."""

    def __init__(self, n: int, folder: str) -> None:
        self.n, self.folder = n, folder

    def transition(self, key: str, start: str, finish: str, **kwargs: object) -> None:
        if finish != "executing":
            return
        d = Path(self.folder)
        (d / f"started-{uuid.uuid4().hex}").touch()
        if len(list(d.glob("started-*"))) < self.n:
            return
        try:
            fd = os.open(d / "killed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # one kill per run: the restarted workers finish the job
        os.write(fd, str(key).encode())
        os.close(fd)
        os._exit(1)


def _polygons(folder: Path, names: list[str]) -> dict[str, list]:
    out = {}
    for n in names:
        df = gpd.read_parquet(folder / f"{n}_fields.parquet")
        out[n] = sorted(g.normalize().wkb_hex for g in df.geometry)
    return out


@pytest.mark.slow  # 25 s: a local cluster of worker processes, one killed and restarted by its nanny
def test_a_killed_worker_is_survived_and_reported(tmp_path: Path) -> None:

    from tests.fields.synth_scenes import write_tiny_model

    model_path = write_tiny_model(tmp_path / "tiny.safetensors", field_bias=True, half=False)
    scenes_dir = tmp_path / "scenes"
    scenes_dir.mkdir()
    scenes = [
        write_scene(scenes_dir / f"s{i}.tif", h=64, w=80, seed=i, origin=(359130.0 + 2000 * i, 5352340.0))
        for i in range(3)
    ]
    names = [s.stem for s in scenes]
    common = ["--tile", "64", "-m", str(model_path), *map(str, scenes)]
    serial = tmp_path / "serial"
    r = CliRunner().invoke(main, ["fields", "map", "--outdir", str(serial), "--serial", *common])
    assert r.exit_code == 0, r.output

    marks = tmp_path / "marks"
    marks.mkdir()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.register_plugin(KillOnNthTask(2, str(marks)), name="kill-on-nth-task")
        out = tmp_path / "dask"
        r = CliRunner().invoke(
            main, ["fields", "map", "--outdir", str(out), "--scheduler", cluster.scheduler_address, *common]
        )
    assert (marks / "killed").is_file()  # a worker really died mid-run
    killed_key = (marks / "killed").read_text()
    assert r.exit_code == 0 and "3 mapped, 0 skipped, 0 failed" in r.output, r.output
    assert "was lost; retried on another worker:" in r.output, r.output
    retried = next(n for n in names if f"-{n}-" in killed_key)
    assert retried in r.output.split("was lost; retried on another worker:")[1]
    assert _polygons(out, names) == _polygons(serial, names)
    notes = json.loads((out / "summary.json").read_text())["notes"]
    assert len(notes) == 1 and retried in notes[0]


@pytest.mark.slow  # a local cluster of worker processes
def test_a_scheduler_s_workers_get_the_paths_the_user_meant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Session 85's fields sweep: with --scheduler, relative scene, model and output paths went to the workers
    as typed, so each worker looked for them (and wrote the outputs) in its own working folder: "model file not
    found" with the file right there, then outputs outside the user's -o."""
    from tests.fields.synth_scenes import write_tiny_model

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    write_tiny_model(work / "tiny.safetensors", field_bias=True, half=False)
    write_scene(work / "s0.tif", h=64, w=80, seed=0)
    monkeypatch.chdir(elsewhere)  # the workers start here, as on another machine or from another shell
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit=None
    ) as cluster:
        monkeypatch.chdir(work)
        args = ["fields", "map", "s0.tif", "-o", "out", "-m", "tiny.safetensors", "--tile", "64"]
        r = CliRunner().invoke(main, [*args, "--scheduler", cluster.scheduler_address])
    assert r.exit_code == 0 and "1 mapped" in r.output, r.output
    assert (work / "out" / "s0_probs.tif").is_file() and (work / "out" / "fields.parquet").is_file()
    assert not list(elsewhere.rglob("*.tif")) and not list(elsewhere.rglob("*.parquet"))
