"""``agriseg fields run``: from a bbox and two date ranges to field polygons, against the loopback STAC API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agriseg.cli import main
from tests.fields.stac_server import Loopback, bbox_deg

rasterio = pytest.importorskip("rasterio")


def _run_args(loopback: Loopback, out: Path) -> list[str]:
    """`fields run` of a small area of the loopback catalog into ``out``."""
    bbox = ",".join(f"{v:.6f}" for v in bbox_deg(500100, 5316050, 500800, 5316450))
    return [
        "fields", "run", "--bbox", bbox, "--win-a-dates", "2023-04-01/2023-04-30",
        "--win-b-dates", "2023-08-01/2023-08-31", "-m", "FTW_PRUE_EFNET_B3", "-o", str(out),
        "--stac-url", loopback.url + "/stac", "--patch-size", "64", "--min-area", "0",
    ]  # fmt: skip


def test_run_refuses_an_area_beyond_memory_before_the_model_or_a_search(loopback: Loopback, tmp_path: Path) -> None:
    """`fields run --bbox 0,-60,90,60` searched the catalogue (and fetched the model) before anything said the
    area could never fit in memory at 10 m; `fields download` refused it first (session 107's review)."""
    args = _run_args(loopback, tmp_path / "out")
    args[args.index("--bbox") + 1] = "0,-60,90,60"
    res = CliRunner().invoke(main, args)
    said = " ".join(res.output.split())
    assert res.exit_code == 2 and "scene.tif: the area 0,-60,90,60 at --resolution 10 (at least" in said, said
    assert not loopback.log  # neither the model nor the catalogue was asked


def test_run_bbox_and_dates_to_geoparquet(model_cache: Path, loopback: Loopback, tmp_path: Path) -> None:
    import geopandas as gpd
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    args = _run_args(loopback, out)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    with rasterio.open(out / "scene.tif") as src:
        assert src.count == 8 and src.tags()["WIN_B_DATETIME"] == "2023-08-15T10:01:00Z"
        size = (src.width, src.height)
    assert 70 <= size[0] <= 72 and 40 <= size[1] <= 42  # the bbox at 10 m, snapped to whole pixels
    with rasterio.open(out / "scene_probs.tif") as src:
        assert src.count == 4 and (src.width, src.height) == size
    df = gpd.read_parquet(out / "scene_fields.parquet")
    assert df.crs is not None and len(df) > 0 and df.geometry.is_valid.all()
    assert {"id", "collection"} <= set(df.columns)
    assert b"fiboa" in pq.read_schema(out / "scene_fields.parquet").metadata.get(b"geo", b"") + b"".join(
        pq.read_schema(out / "scene_fields.parquet").metadata.values()
    )
    from agriseg.vector.fiboa import validate_fiboa

    assert validate_fiboa(out / "scene_fields.parquet") == []
    _official_validation(out / "scene_fields.parquet")
    record = json.loads((out / "scene_run.json").read_text())
    assert record["outputs"]["fields"] == str((out / "scene_fields.parquet").resolve())
    # the download's options and the resize / divisor used were left out, or null (session 104's sweep)
    assert record["outputs"]["scene"] == str((out / "scene.tif").resolve())
    assert record["options"]["cloud_max"] == 20.0 and record["options"]["resolution"] == 10.0
    assert record["options"]["resize"] == 2.0 and record["options"]["divisor"] == 3000.0
    again = CliRunner().invoke(main, args)  # a re-run keeps everything
    assert again.exit_code == 0 and "0 mapped, 1 skipped, 0 failed" in again.output
    assert json.loads((out / "scene_run.json").read_text())["outputs"]["fields"].endswith("scene_fields.parquet")
    spelled = [*args]  # the same area and dates written another way: the same request, kept too
    spelled[3] = " " + ", ".join(f"{float(v):.8f}" for v in args[3].split(",")) + ","
    spelled[5] = " 2023-04-01 / 2023-04-30 "
    again = CliRunner().invoke(main, spelled)
    assert again.exit_code == 0 and "0 mapped, 1 skipped, 0 failed" in again.output, again.output
    other = ",".join(f"{v:.6f}" for v in bbox_deg(500200, 5316100, 500700, 5316400))
    moved = CliRunner().invoke(main, [*args[:3], other, *args[4:]])  # another area into the same folder
    assert moved.exit_code == 1 and "0 mapped, 0 skipped, 1 failed" in moved.output, moved.output
    assert "--bbox: " in moved.output and "--overwrite" in moved.output
    renamed = CliRunner().invoke(main, [*args, "--collection", "my-farms"])  # another fiboa collection id
    assert renamed.exit_code == 1 and "--collection: agriseg-fields -> my-farms" in renamed.output, renamed.output


def test_run_keeps_a_users_run_json(model_cache: Path, loopback: Loopback, tmp_path: Path) -> None:
    """`fields run` wrote its `<name>_run.json` over a file of the user's of that name, without a word (session
    97's sweep): refused before any work, as a file in the way of any output is."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "scene_run.json").write_text("my notes")
    res = CliRunner().invoke(main, _run_args(loopback, out))
    assert res.exit_code == 2 and "scene_run.json: exists and was not written by agriseg" in res.output, res.output
    assert (out / "scene_run.json").read_text() == "my notes" and not (out / "scene.tif").exists()


def test_run_refuses_a_cut_short_cached_model_before_downloading(
    model_cache: Path, loopback: Loopback, tmp_path: Path
) -> None:
    """A released .ckpt cut short in the cache (an interrupted copy) was found only when the scene had been
    downloaded (exit 1 after the whole download); then it was refused first (exit 2, "fields models download
    ... --overwrite"). Since session 100 the cache knows such a file as damaged, and fetches it again first."""
    from agriseg.fields import registry

    cached = registry.cached_path(registry.MODELS["FTW_PRUE_EFNET_B3"])
    cached.parent.mkdir(parents=True, exist_ok=True)
    full = registry.fetch("FTW_PRUE_EFNET_B3", progress=False)
    whole = full.read_bytes()
    cached.write_bytes(whole[: len(whole) // 2])
    before = len(loopback.log)
    res = CliRunner().invoke(main, _run_args(loopback, tmp_path / "out"))
    assert res.exit_code == 0, res.output
    fetched = [path for _, path, _ in loopback.log[before:]]
    assert fetched[0].endswith(".ckpt") and cached.read_bytes() == whole  # the model first, whole again


def test_run_interrupted_while_it_predicts_keeps_its_downloaded_scene(
    model_cache: Path, loopback: Loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fields run` stopped after its download (in prediction) downloaded the scene again on the re-run: the runner
    remakes the unfinished area and every file there counted as stale. The scene now carries a digest of its
    request (tag AGRISEG_REQUEST) and is kept; --overwrite downloads it again."""
    from agriseg.fields.predict import ScenePredictor

    out = tmp_path / "out"
    args = _run_args(loopback, out)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    def reads() -> int:  # requests for band files (the scene's pixels)
        return sum(1 for _, path, _ in loopback.log if path.endswith(".tif"))

    with monkeypatch.context() as m:
        m.setattr(ScenePredictor, "predict", interrupted)
        assert CliRunner().invoke(main, args).exit_code == 130
    scene = out / "scene.tif"
    assert scene.is_file() and not (out / "scene_fields.parquet").exists()
    stamp, n = scene.stat().st_mtime_ns, reads()
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "1 mapped" in res.output, res.output
    assert reads() == n and scene.stat().st_mtime_ns == stamp  # kept: not one band read again
    assert (out / "scene_fields.parquet").is_file()
    with monkeypatch.context() as m:  # --overwrite: downloaded again (GDAL may serve the bands from its cache)
        m.setattr(ScenePredictor, "predict", interrupted)
        assert CliRunner().invoke(main, [*args, "--overwrite"]).exit_code == 130
    assert scene.stat().st_mtime_ns != stamp


def test_map_areas_downloads_then_maps_and_goes_on_past_a_bad_area(
    model_cache: Path, loopback: Loopback, tmp_path: Path
) -> None:
    import geopandas as gpd
    from shapely.geometry import LineString, MultiPolygon, Point, box

    fiji = MultiPolygon([box(179.95, -17, 180, -16.95), box(-180, -17, -179.95, -16.95)])  # split at 180 (RFC 7946)
    areas = gpd.GeoDataFrame(
        {"id": ["west", "nowhere", "nogeom", "fiji", "pt", "road", "continent"]},
        geometry=[
            box(*bbox_deg(500050, 5316200, 500300, 5316450)),
            box(1.0, 40.0, 1.01, 40.01),
            None,
            fiji,
            Point(15, 48),
            LineString([(15, 48), (15.01, 48.01)]),
            box(0, -60, 90, 60),
        ],
        crs=4326,
    )
    areas.to_file(tmp_path / "areas.geojson")
    out = tmp_path / "map"
    args = [
        "fields", "map", "--areas", str(tmp_path / "areas.geojson"), "--win-a-dates", "2023-04-01/2023-04-30",
        "--win-b-dates", "2023-08-01/2023-08-31", "--stac-url", loopback.url + "/stac", "-o", str(out),
        "-m", "FTW_PRUE_EFNET_B3", "--serial", "--patch-size", "64", "--min-area", "0",
    ]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output  # one area failed
    assert "nowhere: window A 2023-04-01/2023-04-30: no sentinel-2-l2a item" in res.output
    # a feature without geometry (a traceback), one split at the 180th meridian (a search around the globe)
    assert "nogeom: feature 3: no geometry" in res.output and "Traceback" not in res.output
    assert "fiji: feature 4: spans 360 degrees of longitude (-180 to 180), as an area split at the 180th" in res.output
    assert "pt: feature 5: a Point, not an area" in res.output  # was "empty (W < E and S < N)"
    assert "road: feature 6: a LineString, not an area" in res.output  # a diagonal line was taken as its bbox
    # an area far beyond the memory at 10 m: refused with the figure before its search (the search went first)
    said = " ".join(res.output.split())
    assert f"{out / 'scenes' / 'continent.tif'}: the area 0,-60,90,60 at --resolution 10 (at least" in said, said
    assert not any("bbox=0" in path or "0.0%2C-60" in path for _, path, _ in loopback.log)
    assert (out / "scenes" / "west.tif").is_file() and not (out / "scenes" / "nowhere.tif").exists()
    assert (out / "west_fields.parquet").is_file() and (out / "fields.parquet").is_file()
    # summary.json lists the areas that could not be downloaded too (only the mapped scene, session 80)
    summary = json.loads((out / "summary.json").read_text())
    listed = summary["scenes"]
    assert [r["status"] for r in listed].count("ok") == 1 and len(listed) == 7, listed
    assert any("nowhere" in (r.get("error") or "") for r in listed), listed
    # the model that made them, as fields run's _run.json records it (the docs said so; nothing did)
    from agriseg.data.download import sha256_of

    model = summary["model"]
    assert model["name"] == "FTW_PRUE_EFNET_B3" and model["sha256"] == sha256_of(model["file"])
    assert summary["landcover"] is None


def _official_validation(path: Path) -> None:
    """``fiboa validate`` (fiboa-cli, offline schema copies) on the file, where the validator is installed."""
    import re
    import subprocess

    from tests.vector.test_fiboa import fiboa_python

    py = fiboa_python()
    if py is None:
        return  # tests/vector/test_fiboa.py reports the skip
    script = Path(__file__).parents[1] / "vector" / "fiboa_validate.py"
    proc = subprocess.run([str(py), str(script), str(path)], capture_output=True, text=True, timeout=300)
    text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert proc.returncode == 0 and ": VALID" in text, text[-3000:]


def test_window_b_options_of_a_single_window_model_are_said_not_read(caplog: pytest.LogCaptureFixture) -> None:
    """`fields download -m FTW_v2_3_Class_FULL_singleWindow --win-b-dates ...` downloaded window A alone and
    said nothing of window B's options (session 86's sweep)."""
    from agriseg.fields.mapping.commands import SceneRequest

    bbox = "15.0,47.99,15.01,48.0"
    with caplog.at_level("WARNING"):
        SceneRequest(bbox, "2023-04-01/2023-04-30", "2023-08-01/2023-08-31").check(["a"])
        SceneRequest(None, win_a=("A_ITEM",), win_b=("B_ITEM",)).check(["a"])
    assert "--win-b-dates: not read: the model reads window A only" in caplog.text
    assert "--win-b: not read: the model reads window A only" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        SceneRequest(bbox, "2023-04-01/2023-04-30").check(["a"])  # window A alone: nothing to say
        SceneRequest(bbox, "2023-04-01/2023-04-30", "2023-08-01/2023-08-31").check(["a", "b"])
    assert not caplog.text


def test_window_b_dates_of_a_single_window_model_are_no_setting_of_its_scenes(
    loopback: Loopback, tmp_path: Path
) -> None:
    """Session 106's sweep: with a one-window model, `fields download` recorded window B's dates as a setting of
    the scene (a re-run with other ones was refused), and `fields map --areas` neither said them unread nor
    resumed its areas without them."""
    import geopandas as gpd
    from shapely.geometry import box

    from tests.fields.stac_server import tiny_ftw_checkpoint

    model = tmp_path / "one_window.ckpt"
    model.write_bytes(tiny_ftw_checkpoint(in_channels=4))
    stac = ["--stac-url", loopback.url + "/stac", "-m", str(model), "--win-a-dates", "2023-04-01/2023-04-30"]
    bbox = ",".join(f"{v:.6f}" for v in bbox_deg(500050, 5316200, 500300, 5316450))
    got = CliRunner().invoke(main, ["fields", "download", "--bbox", bbox, *stac, "-o", str(tmp_path / "s.tif"),
                                    "--win-b-dates", "2023-08-01/2023-08-31"])  # fmt: skip
    assert got.exit_code == 0 and "--win-b-dates: not read: the model reads window A only" in got.output, got.output
    again = CliRunner().invoke(main, ["fields", "download", "--bbox", bbox, *stac, "-o", str(tmp_path / "s.tif"),
                                      "--win-b-dates", "2023-07-01/2023-08-31"])  # fmt: skip
    assert again.exit_code == 0 and "0 downloaded, 1 skipped" in again.output, again.output

    gpd.GeoDataFrame({"id": ["west"]}, geometry=[box(*bbox_deg(500050, 5316200, 500300, 5316450))], crs=4326).to_file(
        tmp_path / "areas.geojson"
    )
    args = ["fields", "map", "--areas", str(tmp_path / "areas.geojson"), *stac, "-o", str(tmp_path / "map"),
            "--serial", "--patch-size", "64", "--min-area", "0"]  # fmt: skip
    first = CliRunner().invoke(main, [*args, "--win-b-dates", "2023-08-01/2023-08-31"])
    assert first.exit_code == 0 and "--win-b-dates: not read: the model reads window A only" in first.output, (
        first.output
    )
    for other in (["--win-b-dates", "2023-07-01/2023-08-31"], []):  # other dates, or none: the same scenes
        res = CliRunner().invoke(main, [*args, *other])
        assert res.exit_code == 0 and "other settings" not in res.output, res.output


def test_a_one_window_scene_an_earlier_agriseg_recorded_with_window_b_dates_resumes(
    loopback: Loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session 106's review: scenes downloaded before window B's dates left a one-window model's fingerprint were
    refused on an identical re-run ("--win-b-dates: 2023-08-01/2023-08-31 -> not read")."""
    from agriseg.fields.mapping import commands
    from tests.fields.stac_server import tiny_ftw_checkpoint

    model = tmp_path / "one_window.ckpt"
    model.write_bytes(tiny_ftw_checkpoint(in_channels=4))
    bbox = ",".join(f"{v:.6f}" for v in bbox_deg(500050, 5316200, 500300, 5316450))
    args = ["fields", "download", "--bbox", bbox, "--stac-url", loopback.url + "/stac", "-m", str(model),
            "--win-a-dates", "2023-04-01/2023-04-30", "--win-b-dates", "2023-08-01/2023-08-31",
            "-o", str(tmp_path / "s.tif")]  # fmt: skip
    real = commands.SceneRequest.options
    with monkeypatch.context() as m:  # as the agriseg of before recorded the request: both windows' dates
        m.setattr(commands.SceneRequest, "options", lambda self, windows=("a", "b"): real(self))
        assert CliRunner().invoke(main, args).exit_code == 0
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "0 downloaded, 1 skipped" in again.output, again.output
