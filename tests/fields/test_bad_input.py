"""Bad input to the scene commands (``fields predict | polygonize | download | run | map``): a usage error
(exit status 2, one line naming the option or file) before any work, never a traceback or a failed item."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from agriseg.cli import main

rasterio = pytest.importorskip("rasterio")

DATES = ["--win-a-dates", "2024-03-01/2024-05-01", "--win-b-dates", "2024-06-01/2024-08-01"]
# a closed port: a command that got past its checks fails at once instead of reaching the network
NOWHERE = ["--stac-url", "http://127.0.0.1:9/stac", "--retries", "0"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 8-band, 3-class agriseg model file."""
    from tests.fields.synth_scenes import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "model.safetensors")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64 x 64 two-window scene."""
    from tests.fields.synth_scenes import write_scene

    return write_scene(tmp_path_factory.mktemp("scene") / "s2.tif", h=64, w=64)


def _run(*args: object) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["fields", *map(str, args)])
    assert res.exception is None or isinstance(res.exception, SystemExit), f"{res.output}{res.exception!r}"
    return res.exit_code, res.output


def _usage_error(code: int, out: str, message: str) -> None:
    """Exit status 2, the message on one ``Error:`` line, no item reported as failed."""
    assert code == 2, out
    assert any(line.startswith("Error: ") and message in line for line in out.splitlines()), out
    assert "failed:" not in out and "Traceback" not in out and "RuntimeError" not in out, out


# 1. --device


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("tpu", "--device: not a torch device; use auto, cpu, cuda or cuda:N"),
        ("cuda", "--device cuda: no CUDA GPU is available on this machine"),
        ("cuda:1", "--device cuda:1: no CUDA GPU is available on this machine"),
    ],
)
def test_device_is_checked_before_any_work(
    tmp_path: Path, model: Path, scene: Path, monkeypatch: pytest.MonkeyPatch, device: str, message: str
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same answer on a machine with a GPU
    code, out = _run("predict", scene, "-m", model, "--outdir", tmp_path / "fp", "--device", device)
    _usage_error(code, out, message)
    assert not (tmp_path / "fp").exists()
    code, out = _run("run", "--bbox", "9,48,9.01,48.01", *DATES, "-m", model, "-o", tmp_path / "r", "--device", device,
                     *NOWHERE)  # fmt: skip
    _usage_error(code, out, message)
    assert not (tmp_path / "r" / "scene.tif").exists()
    code, out = _run("map", scene, "-m", model, "-o", tmp_path / "m", "--serial", "--device", device)
    _usage_error(code, out, message)


def test_check_device_counts_the_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from agriseg.config import OptionError
    from agriseg.runtime import check_device

    check_device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    check_device("cuda")
    check_device("cuda:0")
    with pytest.raises(OptionError, match=r"--device cuda:3: this machine has 1 CUDA GPU \(cuda:0\)"):
        check_device("cuda:3")


# 2. input files named on the command line


def test_missing_input_file_is_a_usage_error_an_unreadable_one_a_failed_item(
    tmp_path: Path, model: Path, scene: Path
) -> None:
    code, out = _run("predict", tmp_path / "missing.tif", "-m", model, "--outdir", tmp_path / "fp")
    _usage_error(code, out, "missing.tif: scene file not found")
    code, out = _run("predict", scene, tmp_path / "missing.tif", "-m", model, "--outdir", tmp_path / "fp")
    _usage_error(code, out, "missing.tif: scene file not found")  # before the scene that is there is predicted
    assert not (tmp_path / "fp").exists()
    code, out = _run("polygonize", tmp_path / "missing.tif")
    _usage_error(code, out, "missing.tif: raster not found")
    code, out = _run("map", tmp_path / "missing.tif", "-m", model, "-o", tmp_path / "m", "--serial")
    _usage_error(code, out, "missing.tif: scene file not found")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00broken")
    code, out = _run("predict", bad, "-m", model, "--outdir", tmp_path / "fp")
    assert code == 1 and "failed: " in out and "bad.tif: the file is truncated or corrupt" in out, out
    code, out = _run("polygonize", bad, "-o", tmp_path / "f.gpkg")
    assert code == 1 and "failed: " in out and "bad.tif: the file is truncated or corrupt" in out, out
    code, out = _run("map", bad, "-m", model, "-o", tmp_path / "m", "--serial")
    assert code == 1 and "bad.tif: the file is truncated or corrupt" in out, out
    assert "merged: nothing (no scene succeeded)" in out and "merged: None" not in out, out


# 3. the area, the dates and the name of fields download / run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bbox", "1,2,3"], "--bbox '1,2,3': expected four numbers W,S,E,N in degrees"),
        (["--bbox", "a,b,c,d"], "--bbox 'a,b,c,d': expected four numbers W,S,E,N in degrees"),
        (["--bbox", "10,48,9,47"], "--bbox '10,48,9,47': inverted (expected W < E and S < N)"),
        (["--bbox", "200,48,201,49"], "--bbox '200,48,201,49': not in degrees"),
        (["--bbox", "nan,48,9,49"], "--bbox 'nan,48,9,49': expected four numbers W,S,E,N in degrees"),
        (["--bbox", "9,48,9,48"], "--bbox '9,48,9,48': empty"),
        (["--bbox", "{tmp}/areas.geojson"], "--bbox {tmp}/areas.geojson: no such file"),
        (["--win-a-dates", "2024-13-01/2024-05-01"], "--win-a-dates '2024-13-01/2024-05-01': 2024-13-01 is not a"),
        (["--win-a-dates", "2024-02-30/2024-05-01"], "--win-a-dates '2024-02-30/2024-05-01': 2024-02-30 is not a"),
        (["--win-b-dates", "2024-08-01/2024-06-01"], "--win-b-dates '2024-08-01/2024-06-01': END is before START"),
        (["--win-a-dates", "yesterday"], "--win-a-dates 'yesterday': expected START/END"),
        (["--no-dates"], "window A: give --win-a ITEM, or --bbox with --win-a-dates or --season auto"),
    ],
)
@pytest.mark.parametrize("command", ["download", "run"])
def test_bad_area_or_dates_are_usage_errors(
    tmp_path: Path, model: Path, command: str, args: list[str], message: str
) -> None:
    given = {"--bbox": "9,48,9.01,48.01", **dict(zip(DATES[::2], DATES[1::2], strict=True))}
    if args == ["--no-dates"]:
        given = {"--bbox": given["--bbox"]}
    else:
        given[args[0]] = args[1].format(tmp=tmp_path)
    request = [v for kv in given.items() for v in kv]
    if command == "download":
        code, out = _run("download", *request, "-o", tmp_path / "d.tif", *NOWHERE)
    else:
        code, out = _run("run", *request, "-m", model, "-o", tmp_path / "r", *NOWHERE)
    _usage_error(code, out, message.format(tmp=tmp_path))
    assert "d.tif:" not in out and not (tmp_path / "d.tif").exists() and not (tmp_path / "r" / "scene.tif").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "--name '': give the outputs' file name stem"),
        ("../escape", "--name '../escape': a file name stem, not a path"),
        ("sub/scene", "--name 'sub/scene': a file name stem, not a path"),
    ],
)
def test_run_name_stays_inside_the_output_folder(tmp_path: Path, model: Path, name: str, message: str) -> None:
    out = tmp_path / "out"
    code, text = _run("run", "--bbox", "9,48,9.01,48.01", *DATES, "-m", model, "-o", out, "--name", name, *NOWHERE)
    _usage_error(code, text, message)
    assert not (tmp_path / "escape.tif").exists() and not (tmp_path / "escape_run.json").exists()
    assert not out.exists()


def test_parse_dates_and_check_area() -> None:
    from agriseg.fields.stac import check_area, parse_dates

    assert parse_dates("2023-03-01/2023-05-31T12:00:00Z") == ("2023-03-01", "2023-05-31T12:00:00Z")
    with pytest.raises(ValueError, match=r"^date range '2023-03-01T99/2023-04-01': 2023-03-01T99 is not a valid"):
        parse_dates("2023-03-01T99/2023-04-01")
    # which part is no date, and why (both were "expected START/END"; session 95's sweep)
    for text, said in (("20230401/20230430", "'20230401' is not a date (write days as YYYY-MM-DD)"),
                       ("2023-04-01/..", "'..' is not a date (an open end is not taken: give both days)"),
                       ("2023-04-01/", "an empty part is not a date (an open end")):  # fmt: skip
        with pytest.raises(ValueError, match=re.escape(f"date range {text!r}: {said}")):
            parse_dates(text)
    check_area("9,48,10,49")
    with pytest.raises(FileNotFoundError, match=r"--bbox area\.gpkg: no such file"):
        check_area("area.gpkg")


# 4. fields polygonize's options


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--datetime", "notadate"], "--datetime: 'notadate' is not an ISO 8601 datetime"),
        (["--datetime", "2024-13-45T00:00:00Z"], "--datetime: '2024-13-45T00:00:00Z' is not an ISO 8601 datetime"),
        (["-o", "{tmp}/g.xyz"], "{tmp}/g.xyz: unsupported vector format '.xyz'"),
        (["-o", "{tmp}/probs.tif"], "{tmp}/probs.tif: unsupported vector format '.tif'"),
        (["--landcover", "{tmp}/missing.tif"], "--landcover {tmp}/missing.tif: no such file"),
        (["--landcover", "{scene}"], "--landcover {scene}: a land-cover raster needs the classes"),
    ],
)
def test_polygonize_options_are_checked_before_the_work(
    tmp_path: Path, scene: Path, args: list[str], message: str
) -> None:
    fmt = {"tmp": tmp_path, "scene": scene}
    out = tmp_path / "f.gpkg"
    extra = ["-o", out] if "-o" not in args else []
    code, text = _run("polygonize", scene, *[a.format(**fmt) for a in args], *extra)
    _usage_error(code, text, message.format(**fmt))
    assert not out.exists() and not (tmp_path / "g.xyz").exists()


# 5. rasterio's warnings


def test_raster_without_georeference_fails_in_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import numpy as np

    path = tmp_path / "nogeo8.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", width=32, height=32, count=8, dtype="uint8") as ds:
            ds.write(np.ones((8, 32, 32), np.uint8))
    with warnings.catch_warnings(record=True) as seen, caplog.at_level(logging.DEBUG, logger="agriseg"):
        warnings.simplefilter("always")
        code, out = _run("polygonize", path, "-o", tmp_path / "f.gpkg")
    assert code == 1 and "failed: " in out and "has no CRS" in out, out
    assert "Warning" not in out and len(out.strip().splitlines()) == 2, out  # the summary and the failure
    assert not [w for w in seen if issubclass(w.category, rasterio.errors.NotGeoreferencedWarning)]
    assert "no geotransform" in caplog.text  # kept in the debug log


# 6. fields predict -o


def test_predict_dash_o_is_the_output_file_of_one_scene(tmp_path: Path, model: Path, scene: Path) -> None:
    fast = ["-m", model, "--tile", "64", "--optimize", "none"]
    code, out = _run("predict", scene, "-o", tmp_path / "out.png", *fast)
    _usage_error(code, out, f"-o {tmp_path / 'out.png'}: the output is a GeoTIFF (COG); name it .tif")
    assert not (tmp_path / "out.png").exists() and "deprecated" not in out
    code, out = _run("predict", scene, scene, "-o", tmp_path / "two.tif", *fast)
    _usage_error(code, out, f"-o {tmp_path / 'two.tif'}: one output file for 2 scenes; use --outdir FOLDER")
    code, out = _run("predict", scene, "-o", tmp_path / "o.tif", "--outdir", tmp_path / "d", *fast)
    _usage_error(code, out, "give -o FILE (one scene) or --outdir FOLDER")
    code, out = _run("predict", scene, "-o", tmp_path / "out.tif", *fast)
    assert code == 0 and (tmp_path / "out.tif").is_file() and "deprecated" not in out, out


def test_predict_old_dash_o_folder_resumes_on_a_re_run(tmp_path: Path, model: Path, scene: Path) -> None:
    """Found in session 84: ``-o out/`` (the old spelling of --outdir) ran once, then the re-run was refused
    ("File 'out/' is a directory") because the folder it made now existed."""
    fast = ["-m", model, "--tile", "64", "--optimize", "none"]
    out_dir = f"{tmp_path / 'out'}/"
    code, out = _run("predict", scene, "-o", out_dir, *fast)
    assert code == 0 and (tmp_path / "out" / f"{scene.stem}_probs.tif").is_file(), out
    code, out = _run("predict", scene, "-o", out_dir, *fast)
    assert code == 0 and "0 predicted, 1 skipped" in out, out
    code, out = _run("predict", scene, "-o", tmp_path / "out", *fast)  # without the slash: the folder made before
    assert code == 0 and "0 predicted, 1 skipped" in out, out


def test_a_re_run_with_other_options_names_the_flags_the_user_typed(tmp_path: Path, model: Path, scene: Path) -> None:
    """Found by a bad-input sweep (session 57): the refusal named config keys (--patch-size, --min-area-m2)."""
    probs = tmp_path / "p.tif"
    assert _run("predict", scene, "-m", model, "-o", probs, "--tile", "64")[0] == 0
    code, out = _run("predict", scene, "-m", model, "-o", probs, "--tile", "32")
    assert code == 2 and "(--tile: 64 -> 32)" in out and "--patch-size" not in out, out
    assert _run("polygonize", probs, "-o", tmp_path / "f.gpkg", "--min-area", "500")[0] == 0
    code, out = _run("polygonize", probs, "-o", tmp_path / "f.gpkg", "--min-area", "100")
    assert code == 2 and "--min-area: 500.0 -> 100.0" in out and "--min-area-m2" not in out, out
    when = ["--min-area", "500", "--datetime", "2020-01-01T00:00:00Z"]
    code, out = _run("polygonize", probs, "-o", tmp_path / "f.gpkg", *when)  # session 85: "--determined: ..."
    assert code == 2 and "--datetime: " in out and "determined" not in out, out
    code, out = _run("predict", scene, "-m", model, "-o", tmp_path / "q.tif", "--tile", "8")
    _usage_error(code, out, "--tile")  # a bad value is named by its flag too
    assert "--patch-size" not in out


def test_map_refuses_a_model_that_is_not_one_and_a_patch_that_cannot_fit_before_any_scene(
    tmp_path: Path, model: Path, scene: Path
) -> None:
    """Found by a bad-input sweep (session 58): both failed every scene in turn (exit 1)."""
    text = tmp_path / "model.txt"
    text.write_text("hello")
    code, out = _run("map", scene, "-m", text, "-o", tmp_path / "m", "--serial")
    _usage_error(code, out, "model.txt: cannot read model file")
    code, out = _run("predict", scene, "-m", text, "--outdir", tmp_path / "p")
    _usage_error(code, out, "model.txt: cannot read model file")
    code, out = _run("map", scene, "-m", model, "-o", tmp_path / "m", "--serial", "--tile", "100000")
    _usage_error(code, out, "s2.tif with --tile 100000 would need about")
    # a checkpoint of Python objects failed each scene in turn, exit 1, a summary written (session 101's sweep)
    import torch

    torch.save({"state_dict": {}, "hyper_parameters": {"x": open}}, tmp_path / "evil.ckpt")
    code, out = _run("map", scene, "-m", tmp_path / "evil.ckpt", "-o", tmp_path / "m", "--serial")
    _usage_error(code, out, "evil.ckpt: cannot read as a checkpoint (it holds Python objects")
    assert not (tmp_path / "m").exists() and not (tmp_path / "p").exists()


def test_an_area_file_that_is_no_vector_file_and_an_unknown_catalogue_are_usage_errors(
    tmp_path: Path, model: Path
) -> None:
    """Found by a bad-input sweep (session 58): each failed its item (exit 1), the catalogue after a lookup."""
    text = tmp_path / "areas.txt"
    text.write_text("hello")
    code, out = _run("download", "-o", tmp_path / "d.tif", "--bbox", text, *DATES)
    _usage_error(code, out, "--bbox ")
    assert "areas.txt: not a readable vector file" in out and "It might help" not in out
    code, out = _run("map", "-m", model, "-o", tmp_path / "m", "--areas", text, *DATES, "--serial")
    _usage_error(code, out, "--areas ")
    code, out = _run(
        "download", "-o", tmp_path / "d.tif", "--bbox", "11,47,11.01,47.01", *DATES, "--stac-url", "nosuch"
    )
    _usage_error(code, out, "--stac-url: not a STAC API name (planetary-computer, earth-search)")


def test_a_sha256_that_is_not_64_hex_digits_is_refused_before_any_download(tmp_path: Path) -> None:
    """Found by a bad-input sweep (session 57): `models trust NAME --sha256 zz` downloaded first (exit 1)."""
    code, out = _run("models", "trust", "DelineateAnything", "--sha256", "zz")
    assert code == 2 and "'zz': expected 64 hexadecimal digits" in out and "download" not in out, out


def test_areas_with_one_id_twice_or_split_at_the_180th_meridian_are_usage_errors(tmp_path: Path, model: Path) -> None:
    """Found by a bad-input sweep (session 78): ids given twice said "a: given twice", naming neither the file nor
    what; an area file split at the 180th meridian was searched as a strip around the globe."""
    import geopandas as gpd
    from shapely.geometry import MultiPolygon, box

    one = box(11.0, 47.0, 11.01, 47.01)
    gpd.GeoDataFrame({"id": ["a", "b", "a"]}, geometry=[one] * 3, crs=4326).to_file(tmp_path / "dup.geojson")
    code, out = _run("map", "-m", model, "-o", tmp_path / "m", "--areas", tmp_path / "dup.geojson", *DATES, "--serial")
    _usage_error(code, out, "dup.geojson: id 'a' is given twice (features 1 and 3); each area's id names its scene")
    gpd.GeoDataFrame({"id": ["a b", "a_b"]}, geometry=[one] * 2, crs=4326).to_file(tmp_path / "same.geojson")
    code, out = _run("map", "-m", model, "-o", tmp_path / "m", "--areas", tmp_path / "same.geojson", *DATES)
    _usage_error(code, out, "ids 'a b' and 'a_b' name one scene (features 1 and 2)")
    fiji = MultiPolygon([box(179.95, -17, 180, -16.95), box(-180, -17, -179.95, -16.95)])
    gpd.GeoDataFrame({"id": ["fiji"]}, geometry=[fiji], crs=4326).to_file(tmp_path / "fiji.geojson")
    code, out = _run("download", "-o", tmp_path / "d.tif", "--bbox", tmp_path / "fiji.geojson", *DATES)
    _usage_error(code, out, "fiji.geojson: spans 360 degrees of longitude (-180 to 180), as an area split at the 180th")
    assert not (tmp_path / "m").exists()
    # metres in a file without a CRS (read as degrees) were said to span 2000 degrees (session 88's sweep)
    (tmp_path / "utm.geojson").write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {"type": '
        '"Polygon", "coordinates": [[[360000, 5349000], [362000, 5349000], [362000, 5351000], [360000, 5349000]]]}}]}'
    )
    code, out = _run("download", "-o", tmp_path / "d.tif", "--bbox", tmp_path / "utm.geojson", *DATES)
    _usage_error(code, out, "utm.geojson: coordinates (360000,5349000,362000,5351000) are not degrees")
    assert "look projected" in out


def test_a_scheduler_refused_leaves_no_output_folder(tmp_path: Path, model: Path, scene: Path) -> None:
    """Session 85's fields sweep: `fields map --scheduler nonsense -o out/` exited 2 but left out/ with a pending
    manifest in it."""
    code, out = _run("map", scene, "-o", tmp_path / "out", "-m", model, "--scheduler", "nonsense")
    _usage_error(code, out, "--scheduler nonsense: not a scheduler address")
    assert not (tmp_path / "out").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")  # a folder that was there is left as it was
    code, out = _run("map", scene, "-o", tmp_path / "mine", "-m", model, "--scheduler", "nonsense")
    assert code == 2 and sorted(p.name for p in (tmp_path / "mine").iterdir())[-1] == "notes.txt"


# 7. an output folder no file can be made in


def test_an_output_folder_that_takes_no_file_is_a_usage_error(
    tmp_path: Path, model: Path, scene: Path, read_only
) -> None:
    """Found by a bug sweep: ``fields predict SCENE -o /proc/x.tif`` said "[Errno 2] No such file or directory:
    '/proc/.agriseg-lock'" (the permission check passes there, every file is refused)."""
    import os

    if os.path.isdir("/proc/self"):  # Linux: a virtual file system
        code, out = _run("predict", scene, "-m", model, "-o", "/proc/x.tif")
        _usage_error(code, out, "output folder: folder /proc is not writable (no file can be made there)")
        code, out = _run("download", "-o", "/proc/x.tif", "--bbox", "9,48,9.01,48.01", *DATES, *NOWHERE)
        _usage_error(code, out, "output folder: folder /proc is not writable (no file can be made there)")
    ro = tmp_path / "ro"
    ro.mkdir()
    read_only(ro)
    message = f"output folder: folder {ro} is not writable (read-only file system)"
    code, out = _run("predict", scene, "-m", model, "-o", ro / "x.tif", "--tile", "64", "--optimize", "none")
    _usage_error(code, out, message)
    code, out = _run("predict", scene, "-m", model, "--outdir", ro / "sub", "--tile", "64", "--optimize", "none")
    _usage_error(code, out, message)
    assert not (ro / "sub").exists()  # refused before any folder is made
    code, out = _run("run", "--bbox", "9,48,9.01,48.01", *DATES, "-m", model, "-o", ro, *NOWHERE)
    _usage_error(code, out, message)


def test_a_dn_offset_is_taken_by_predict_as_by_evaluate(tmp_path: Path, model: Path, scene: Path) -> None:
    """Session 90's sweep: ``fields evaluate --offset 1000`` worked, ``fields predict --offset 1000`` was refused
    ("not one of 'auto', 'none', 'apply'"). A DN offset of -1000 is what ``apply`` adds."""
    import json

    import rasterio

    made, said = {}, {}
    for offset in ("-1000", "apply", "1000", "auto"):
        out = tmp_path / f"p{offset}.tif"
        assert _run("predict", scene, "-m", model, "-o", out, "--offset", offset)[0] == 0
        with rasterio.open(out) as ds:
            made[offset] = (ds.read(), float(ds.tags()["boa_offset"]))
            said[offset] = json.loads(ds.tags()["preprocess"])
    # the tag said offset_value -1000 beside auto, where 0 was applied (session 108's sweep)
    assert "offset_value" not in said["auto"] and made["auto"][1] == 0.0 and said["apply"]["offset_value"] == -1000
    assert made["-1000"][1] == made["apply"][1] == -1000.0 and made["1000"][1] == 1000.0
    assert (made["-1000"][0] == made["apply"][0]).all()
    code, out = _run("predict", scene, "-m", model, "-o", tmp_path / "x.tif", "--offset", "99999")
    assert code == 2 and "--offset: a DN offset is from -65535 to 65535" in out, out


def test_a_scene_of_nodata_is_said_once_by_map(tmp_path: Path, model: Path) -> None:
    """An all-nodata scene mapped: predict's warning (what to check), then polygonize's "every pixel is nodata:
    no fields" of the same scene (session 108's sweep). Said once."""
    import numpy as np
    import rasterio

    from tests.fields.synth_scenes import write_scene

    path = write_scene(tmp_path / "z.tif", h=64, w=64)
    with rasterio.open(path, "r+") as ds:
        ds.write(np.zeros((ds.count, 64, 64), ds.dtypes[0]))
    code, out = _run("map", path, "--outdir", tmp_path / "o", "-m", model, "--serial", "--tile", "64")
    assert code == 0 and out.count("every pixel is nodata") == 1, out
    assert "z.tif: every pixel is nodata or NaN" in out


def test_an_areas_file_without_a_crs_is_said_so(tmp_path: Path) -> None:
    """A CSV of WKT polygons: "no features, or no CRS", though it holds features (session 108's sweep)."""
    from agriseg.fields.stac import read_areas

    csv = tmp_path / "areas.csv"
    csv.write_text('id,WKT\na,"POLYGON ((15 48, 15.01 48, 15.01 48.01, 15 48.01, 15 48))"\n')
    with pytest.raises(ValueError, match=r"areas\.csv: no CRS \(save the areas as GeoJSON"):
        read_areas(csv)
