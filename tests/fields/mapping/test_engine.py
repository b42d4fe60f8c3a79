"""Per-scene tasks on an in-process Dask cluster, idempotent re-runs, merged fiboa output, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from agriseg.fields.config import PredictConfig
from agriseg.fields.mapping import SceneJob, merge_fields, run_dask, run_map, run_scene
from agriseg.vector import validate_fiboa
from tests.fields.synth_scenes import write_scene

PREDICT = PredictConfig(patch_size=64, progress=False, overviews=False)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fields.synth_scenes import write_tiny_model

    # the head biased towards "field" so there are polygons to merge
    return write_tiny_model(tmp_path_factory.mktemp("m") / "tiny.safetensors", field_bias=True, half=False)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("scenes")
    # side by side, not overlapping (2 km apart)
    return [
        write_scene(d / f"s{i}.tif", h=120, w=150, seed=i, origin=(359130.0 + 2000 * i, 5352340.0)) for i in range(2)
    ]


def test_dask_in_process_cluster_maps_scenes_and_merges(model_file: Path, scenes: list[Path], tmp_path: Path) -> None:
    rows, merged = run_map(
        scenes,
        tmp_path,
        model_file,
        backend="dask",
        predict=PREDICT,
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        progress=False,
    )
    assert [r["status"] for r in rows] == ["ok", "ok"]
    for s in scenes:
        assert (tmp_path / f"{s.stem}_probs.tif").is_file() and (tmp_path / f"{s.stem}_fields.parquet").is_file()
    assert merged is not None and validate_fiboa(merged) == []
    total = sum(len(gpd.read_parquet(tmp_path / f"{s.stem}_fields.parquet")) for s in scenes)
    all_fields = gpd.read_parquet(merged)
    assert len(all_fields) == total > 0 and all_fields["id"].is_unique
    assert (tmp_path / "summary.json").is_file()
    # idempotent: a second run skips both scenes and leaves the outputs untouched
    before = (tmp_path / "s0_probs.tif").stat().st_mtime_ns
    rows2, _ = run_map(
        scenes,
        tmp_path,
        model_file,
        backend="dask",
        predict=PREDICT,
        n_workers=1,
        processes=False,
        progress=False,
    )
    assert [r["status"] for r in rows2] == ["skipped", "skipped"]
    assert (tmp_path / "s0_probs.tif").stat().st_mtime_ns == before
    # a resumed row has the keys of a fresh one (summary.json changed shape on a re-run), the same area
    fresh = {r["scene"]: r for r in rows}
    for r in rows2:
        assert set(fresh[r["scene"]]) - set(r) <= {"warnings"}
        assert r["area_km2"] == pytest.approx(fresh[r["scene"]]["area_km2"]) and r["predict_s"] == 0.0


def test_serial_and_dask_give_the_same_outputs(model_file: Path, scenes: list[Path], tmp_path: Path) -> None:
    a, b = tmp_path / "serial", tmp_path / "dask"
    run_map(scenes[:1], a, model_file, backend="serial", predict=PREDICT, progress=False)
    run_map(
        scenes[:1],
        b,
        model_file,
        backend="dask",
        predict=PREDICT,
        n_workers=1,
        processes=False,
        progress=False,
    )
    with rasterio.open(a / "s0_probs.tif") as x, rasterio.open(b / "s0_probs.tif") as y:
        assert np.array_equal(x.read(), y.read())
    fa, fb = gpd.read_parquet(a / "s0_fields.parquet"), gpd.read_parquet(b / "s0_fields.parquet")
    assert fa["id"].tolist() == fb["id"].tolist() and fa.geometry.geom_equals_exact(fb.geometry, 0).all()


def test_scenes_kept_with_other_settings_are_said_to_be_left_out_of_the_merged_file(
    model_file: Path, scenes: list[Path], tmp_path: Path
) -> None:
    """A re-run with one scene's settings changed rewrote fields.parquet without that scene's fields, while
    summary.json listed it as kept, and nothing said so (session 93's sweep)."""
    out, mine = tmp_path / "o", tmp_path / "in"
    mine.mkdir()
    for s in scenes:
        (mine / s.name).write_bytes(s.read_bytes())
    mine_scenes = sorted(mine.glob("*.tif"))
    run_map(mine_scenes, out, model_file, backend="serial", predict=PREDICT, progress=False)
    write_scene(mine / "s0.tif", h=120, w=150, seed=7, origin=(359130.0, 5352340.0))  # another s0.tif
    rows, _ = run_map(mine_scenes, out, model_file, backend="serial", predict=PREDICT, progress=False)
    assert [r["status"] for r in rows] == ["error", "skipped"], rows
    said = [n for n in rows.notes if "left out" in n]
    assert said and "1 scene left out (s0.tif)" in said[0], rows.notes


def test_a_bad_scene_fails_alone(model_file: Path, scenes: list[Path], tmp_path: Path) -> None:
    bad = write_scene(tmp_path / "four.tif", bands=4)
    jobs = [SceneJob(str(s), str(tmp_path / "o"), str(model_file), predict=PREDICT) for s in (scenes[0], bad)]
    rows = run_dask(jobs, n_workers=1, processes=False, progress=False)
    assert rows[0]["status"] == "ok" and rows[1]["status"] == "error"
    assert "four.tif: has 4 bands" in rows[1]["error"]


def test_lock_files_that_stopped_workers_left_are_removed(model_file: Path, scenes: list[Path], tmp_path: Path) -> None:
    """A Ctrl-C of a Dask run left 0-byte .<scene>_probs.lock files (its workers were stopped before their own
    clean-up); the run removes those no process holds, and never one that is held (session 62's sweep)."""
    import fcntl

    from agriseg.fields.mapping.runner import run_serial

    out = tmp_path / "o"
    jobs = [SceneJob(str(s), str(out), str(model_file), predict=PREDICT) for s in scenes[:2]]
    run_serial(jobs, progress=False)
    stale, held = (j.outputs()[0].with_name(f".{j.outputs()[0].stem}.lock") for j in jobs)
    stale.write_bytes(b"")
    held.write_bytes(b"")
    with open(held, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process writing that scene
        rows = run_serial(jobs, progress=False)
        assert [r["status"] for r in rows] == ["skipped", "skipped"]
        assert not stale.exists() and held.exists()


def test_merge_reprojects_mixed_crs(model_file: Path, tmp_path: Path) -> None:
    s1 = write_scene(tmp_path / "utm33.tif", h=100, w=100, seed=1)
    s2 = write_scene(tmp_path / "utm32.tif", h=100, w=100, seed=2, crs="EPSG:32632")
    outs = [run_scene(SceneJob(str(s), str(tmp_path / "o"), str(model_file), predict=PREDICT)) for s in (s1, s2)]
    merged = merge_fields([o["fields"] for o in outs], tmp_path / "all.parquet")
    df = gpd.read_parquet(merged)
    assert df.crs.to_epsg() == 4326 and validate_fiboa(merged) == []


def test_cli_predict_polygonize_change_map(model_file: Path, scenes: list[Path], tmp_path: Path) -> None:
    from agriseg.cli import main

    r = CliRunner()
    probs = tmp_path / "p.tif"
    res = r.invoke(
        main,
        ["fields", "predict", str(scenes[0]), "-o", str(probs), "-m", str(model_file), "--patch-size", "64"],
    )
    assert res.exit_code == 0, res.output
    assert "km2/s" in res.output and probs.is_file()
    res = r.invoke(main, ["fields", "predict", str(scenes[0]), "-o", str(probs), "-m", str(model_file)])
    assert res.exit_code == 2 and "made with other settings (--tile: 64 -> 256)" in res.output, res.output
    for ext in (".parquet", ".gpkg", ".fgb"):
        res = r.invoke(
            main,
            ["fields", "polygonize", str(probs), "-o", str(tmp_path / f"f{ext}"), "--poly-block-size", "50"],
        )
        assert res.exit_code == 0, res.output
        assert (tmp_path / f"f{ext}").is_file()
    probs2 = tmp_path / "p2.tif"
    r.invoke(
        main,
        [
            "fields",
            "predict",
            str(scenes[0]),
            "-o",
            str(probs2),
            "-m",
            str(model_file),
            "--patch-size",
            "64",
            "--tta",
            "flip_h",
        ],
    )
    res = r.invoke(
        main,
        [
            "fields",
            "change",
            str(probs),
            str(probs2),
            "-o",
            str(tmp_path / "c.tif"),
            "--polygons",
            str(tmp_path / "c.parquet"),
            "--min-area",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c.tif").is_file() and (tmp_path / "c.parquet").is_file()
    res = r.invoke(
        main,
        [
            "fields",
            "map",
            str(scenes[1]),
            "-o",
            str(tmp_path / "m"),
            "-m",
            str(model_file),
            "--serial",
            "--patch-size",
            "64",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m" / "fields.parquet").is_file()
    # default output name: <stem>_probs.tif next to the scene
    res = r.invoke(main, ["fields", "predict", str(scenes[1]), "-m", str(model_file), "--patch-size", "64"])
    assert res.exit_code == 0, res.output
    assert (scenes[1].parent / f"{scenes[1].stem}_probs.tif").is_file()


def test_cli_errors_are_clean(model_file: Path, tmp_path: Path) -> None:
    from agriseg.cli import main

    r = CliRunner()
    four = write_scene(tmp_path / "four.tif", bands=4)
    res = r.invoke(main, ["fields", "predict", str(four), "-o", str(tmp_path / "o.tif"), "-m", str(model_file)])
    assert res.exit_code == 1 and "four.tif: has 4 bands" in res.output and "Traceback" not in res.output
    res = r.invoke(
        main,
        [
            "fields",
            "predict",
            str(four),
            "-o",
            str(tmp_path / "o.tif"),
            "-m",
            str(tmp_path / "none.safetensors"),
        ],
    )
    assert res.exit_code == 2 and "none.safetensors: model file not found" in res.output
    res = r.invoke(main, ["fields", "polygonize", str(four), "-o", str(tmp_path / "x.shp")])
    assert res.exit_code == 2 and "unsupported vector format" in res.output  # a usage error


def test_outputs_an_interrupted_overwrite_left_are_mapped_again(scenes: list[Path], tmp_path: Path, monkeypatch):
    """After `fields map --overwrite` with another model was interrupted, a plain re-run reported the old model's
    outputs as mapped (and recorded them with the new model's fingerprint): the runner remade the scene, the scene
    job kept the existing files."""
    from agriseg.cli import main
    from agriseg.fields.mapping.runner import MERGED_NAME
    from agriseg.fields.predict import ScenePredictor
    from tests.fields.synth_scenes import write_tiny_model

    m1 = write_tiny_model(tmp_path / "m1.safetensors")
    m2 = write_tiny_model(tmp_path / "m2.safetensors", field_bias=True, half=False)
    run = ["fields", "map", str(scenes[0]), "--serial", "--tile", "64", "-o"]
    r = CliRunner()
    assert r.invoke(main, [*run, str(tmp_path / "ref"), "-m", str(m2)]).exit_code == 0
    out = tmp_path / "out"
    assert r.invoke(main, [*run, str(out), "-m", str(m1)]).exit_code == 0
    probs = out / f"{scenes[0].stem}_probs.tif"
    before = probs.read_bytes()

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(ScenePredictor, "predict", interrupted)
        res = r.invoke(main, [*run, str(out), "-m", str(m2), "--overwrite"])
    assert res.exit_code == 130 and probs.read_bytes() == before  # interrupted: the old outputs are still there
    assert not (out / MERGED_NAME).exists() and not (out / "summary.json").exists()  # they described the old ones
    res = r.invoke(main, [*run, str(out), "-m", str(m2)])
    assert res.exit_code == 0 and "1 mapped, 0 skipped" in res.output, res.output
    with rasterio.open(probs) as a, rasterio.open(tmp_path / "ref" / probs.name) as b:
        assert np.array_equal(a.read(), b.read())
    want = gpd.read_parquet(tmp_path / "ref" / MERGED_NAME)
    assert len(gpd.read_parquet(out / MERGED_NAME)) == len(want) > 0
    res = r.invoke(main, [*run, str(out), "-m", str(m2)])  # nothing to do: the rows are read back
    assert res.exit_code == 0 and "0 mapped, 1 skipped" in res.output, res.output
    (row,) = json.loads((out / "summary.json").read_text())["scenes"]
    assert row["status"] == "skipped" and row["fields_count"] == len(want)


def test_a_scene_interrupted_while_its_polygons_were_written_keeps_its_probabilities(
    scenes: list[Path], tmp_path: Path, monkeypatch
):
    """A scene killed after its prediction, in polygonisation, was predicted again on the re-run (the runner hands
    it over as unfinished and every output there counted as stale). The probability COG now carries its run's
    fingerprint: the re-run keeps it and only writes the polygons; another model or --overwrite predicts again."""
    from agriseg.cli import main
    from agriseg.fields.mapping.runner import MERGED_NAME
    from agriseg.fields.predict import ScenePredictor
    from tests.fields.synth_scenes import write_tiny_model

    m1 = write_tiny_model(tmp_path / "m1.safetensors")
    m2 = write_tiny_model(tmp_path / "m2.safetensors", field_bias=True, half=False)
    out = tmp_path / "out"
    run = ["fields", "map", str(scenes[0]), "--serial", "--tile", "64", "-o", str(out)]
    r = CliRunner()

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr("agriseg.vector.api.polygonize", interrupted)
        assert r.invoke(main, [*run, "-m", str(m2)]).exit_code == 130
    probs = out / f"{scenes[0].stem}_probs.tif"
    assert probs.is_file() and not (out / f"{scenes[0].stem}_fields.parquet").exists()
    stamp = probs.stat().st_mtime_ns
    calls = []
    real = ScenePredictor._strip_patches

    def counted(self, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ScenePredictor, "_strip_patches", counted)
    res = r.invoke(main, [*run, "-m", str(m2)])
    assert res.exit_code == 0 and "1 mapped, 0 skipped" in res.output, res.output
    assert not calls and probs.stat().st_mtime_ns == stamp  # kept: no patch was predicted again
    (row,) = json.loads((out / "summary.json").read_text())["scenes"]
    assert row["status"] == "resumed" and row["fields_count"] == len(gpd.read_parquet(out / MERGED_NAME)) > 0
    # the same interruption with another model: its probabilities are not this run's, so they are made again
    with monkeypatch.context() as m:
        m.setattr("agriseg.vector.api.polygonize", interrupted)
        assert r.invoke(main, [*run, "-m", str(m1), "--overwrite"]).exit_code == 130
    n = len(calls)
    assert n > 0
    with monkeypatch.context() as m:
        m.setattr("agriseg.vector.api.polygonize", interrupted)
        assert r.invoke(main, [*run, "-m", str(m2), "--overwrite"]).exit_code == 130
    n2 = len(calls)
    assert n2 > n  # --overwrite predicts again even where the probabilities would be kept
    assert r.invoke(main, [*run, "-m", str(m2)]).exit_code == 0
    assert len(calls) == n2  # and what it predicted is kept by the plain re-run


def test_a_scenes_warning_is_kept_for_its_row_not_printed_twice_with_verbose() -> None:
    """With `agriseg -v fields map --serial` a scene's warning printed as it was logged and again with the
    summary (session 71's note): it is kept for the row only; -v's debug lines still print."""
    import io
    import logging

    from agriseg.fields.mapping.runner import _warnings_kept

    log, shown = logging.getLogger("agriseg"), io.StringIO()
    handler = logging.StreamHandler(shown)
    log.addHandler(handler)
    level = log.level
    log.setLevel(logging.DEBUG)  # (not log.level =: the logger caches what it had enabled)
    try:
        with _warnings_kept() as said:
            log.warning("scene a: offset left in")
            log.debug("reading scene a")
        log.warning("after the scene")
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    assert said == ["scene a: offset left in"]
    assert shown.getvalue().splitlines() == ["reading scene a", "after the scene"]
