"""ftw-tools 2.0 parity through ``fields run`` / ``map``: season from crop calendars, land cover by STAC,
every registry model (a model of the same shape) from a bbox, DelineateAnything offline and trusted only."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agriseg.cli import main
from agriseg.fields import registry
from tests.fields.stac_server import ACQUISITIONS, NORTH, Loopback, bbox_deg, serve_yolo, tiny_ftw_checkpoint

rasterio = pytest.importorskip("rasterio")

REPO = Path(__file__).resolve().parents[2]
WEST = ",".join(f"{v:.6f}" for v in bbox_deg(500050, NORTH - 400, 500450, NORTH - 50))
EAST = bbox_deg(500650, NORTH - 400, 500850, NORTH - 50)
# the smallest model of each family runs by default, the others are slow
DEFAULT = {
    "FTW_PRUE_EFNET_B3", "FTW_PRUE_EFNET_B3_CCBY", "FTW_v2_3_Class_FULL_singleWindow", "FTW_v1_2_Class_CCBY",
    "DelineateAnything-S",
}  # fmt: skip
GUARD = """
import atexit, json, socket, sys
LOOPBACK = ("127.0.0.1", "::1", "localhost")
blocked = []
def _deny(what):
    blocked.append(str(what))
    raise OSError(f"network access blocked by the test: {what}")
_connect, _connect_ex, _gai = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
def connect(self, addr):
    if self.family in (socket.AF_INET, socket.AF_INET6) and addr[0] not in LOOPBACK:
        _deny(addr)
    return _connect(self, addr)
def connect_ex(self, addr):
    if self.family in (socket.AF_INET, socket.AF_INET6) and addr[0] not in LOOPBACK:
        _deny(addr)
    return _connect_ex(self, addr)
def getaddrinfo(host, *a, **k):
    if host is not None and host not in LOOPBACK:
        _deny(f"dns {host}")
    return _gai(host, *a, **k)
socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
atexit.register(lambda: print("GUARD " + json.dumps({"blocked": blocked, "ultralytics": "ultralytics" in sys.modules})))
from agriseg.cli import main
main(sys.argv[1:], prog_name="agriseg")
"""


def _serve(server: Loopback, name: str, yolo: bytes | None = None, monkeypatch: pytest.MonkeyPatch | None = None):
    """Serve a model of ``name``'s shape where the mirror keeps it; returns the digest to pin for pickles.

    Entries with a published digest get the test file's digest instead (the download checks it).
    """
    spec = registry.get_spec(name)
    if spec.kind == "instance":
        assert yolo is not None
        serve_yolo(server, yolo, spec.file)
        return hashlib.sha256(yolo).hexdigest()
    content = tiny_ftw_checkpoint(in_channels=4 * len(spec.windows), classes=len(spec.classes))
    server.add_file(f"/models/{spec.file}", content)
    if spec.sha256 and monkeypatch is not None:
        monkeypatch.setitem(
            registry.MODELS, name, spec.model_copy(update={"sha256": hashlib.sha256(content).hexdigest()})
        )
    return None


def _guarded(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    proc = subprocess.run(
        [sys.executable, "-c", GUARD, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("GUARD ")), "GUARD {}")
    return proc, json.loads(line[6:])


@pytest.mark.slow  # 16 s; DelineateAnything-S from a bbox and seasons run in the default tests too
def test_delineate_anything_from_a_bbox_with_season_and_landcover_offline(
    season_server: Loopback, yolo_bytes: bytes, tmp_path: Path
) -> None:
    import geopandas as gpd
    import shapely

    from agriseg.vector.fiboa import validate_fiboa
    from tests.fields.test_run import _official_validation

    digest = _serve(season_server, "DelineateAnything-S", yolo_bytes)
    stac = season_server.url + "/stac"
    args = [
        "fields", "run", "--bbox", WEST, "--season", "auto", "--year", "2023", "--landcover", "esa-worldcover",
        "--landcover-stac-url", stac, "-m", "DelineateAnything-S", "-o", str(tmp_path / "out"), "--stac-url", stac,
    ]  # fmt: skip
    refused = CliRunner().invoke(main, args)  # never trusted: refused before any imagery is fetched
    assert refused.exit_code == 2  # a model that cannot be used, as every bad --model (session 84)
    last = refused.output.strip().splitlines()[-1]  # after the model's download bar: one error line
    assert last.startswith("Error: ") and "`agriseg fields models trust DelineateAnything-S`" in last
    assert "Traceback" not in refused.output
    assert not (tmp_path / "out" / "scene.tif").exists()
    trusted = CliRunner().invoke(main, ["fields", "models", "trust", "DelineateAnything-S", "--sha256", digest])
    assert trusted.exit_code == 0, trusted.output

    proc, guard = _guarded(args, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert guard == {"blocked": [], "ultralytics": True}  # ultralytics ran, with no connection but loopback
    out = tmp_path / "out"
    with rasterio.open(out / "scene.tif") as src:  # one RGB window, around the calendar's start of season
        assert src.count == 3 and src.descriptions == ("win_a_red", "win_a_green", "win_a_blue")
        assert src.tags()["WIN_A_DATETIME"].startswith("2023-04-10T10:0") and "WIN_B_ITEM" not in src.tags()
    with rasterio.open(out / "scene_instances.tif") as src:
        assert src.tags()["agriseg_format"] == "agriseg-fields-instances-1" and src.read(1).max() > 0
    fields = out / "scene_fields.parquet"
    df = gpd.read_parquet(fields)
    assert len(df) > 0 and df.geometry.is_valid.all()
    geoms = df.geometry.values._data if hasattr(df.geometry.values, "_data") else df.geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = a < b
    overlap = shapely.area(shapely.intersection(geoms[a[pair]], geoms[b[pair]]))
    assert (overlap > 0.01).sum() == 0  # no two fields overlap (the within-scene merge)
    assert validate_fiboa(fields) == []
    _official_validation(fields)
    record = json.loads((out / "scene_run.json").read_text())["inputs"]
    season = record["season"]
    assert (season["start"], season["end"], season["crop_season"]) == ("2023-04-10", "2023-08-15", "summer")
    assert record["dates"] == {"a": ["2023-03-27", "2023-04-24"]} and record["windows"] == ["a"]
    assert record["stac"]["url"].startswith(season_server.url) and record["stac"]["collection"]  # where items are
    assert all(s["url"].startswith(season_server.url + "/calendar/") for s in season["sources"].values())
    lc = record["landcover"]
    assert (lc["collection"], lc["year"], lc["items"]) == ("esa-worldcover", 2021, ["esa-worldcover_2021_N48E015"])
    assert record["model"] == {"name": "DelineateAnything-S", "file": record["model"]["file"], "sha256": digest}
    # the land-cover COG was read by block, not fetched whole
    lc_path = "/files/esa-worldcover_2021_N48E015.tif"
    got = [r for m, p, r in season_server.log if p == lc_path and m == "GET"]
    assert got and all(r.startswith("bytes=") for r in got)
    fetched = sum(int(b) - int(a) + 1 for a, b in (r[6:].split("-") for r in got))
    assert fetched < len(season_server.files[lc_path]) / 2


@pytest.mark.parametrize(
    "name", [n if n in DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in registry.MODELS]
)
def test_every_registry_model_runs_from_a_bbox(
    name: str, season_server: Loopback, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geopandas as gpd

    spec = registry.get_spec(name)
    yolo = request.getfixturevalue("yolo_bytes") if spec.kind == "instance" else None
    digest = _serve(season_server, name, yolo, monkeypatch)
    out = tmp_path / "out"
    args = [
        "fields", "run", "--bbox", WEST, "--win-a-dates", "2023-04-01/2023-04-30", "--win-b-dates",
        "2023-08-01/2023-08-31", "-m", name, "-o", str(out), "--stac-url", season_server.url + "/stac",
        "--patch-size", "64", "--min-area", "0", *(["--sha256", digest] if digest else []),
    ]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    with rasterio.open(out / "scene.tif") as src:
        assert src.count == len(spec.windows) * len(spec.bands)
    raster = out / ("scene_instances.tif" if spec.kind == "instance" else "scene_probs.tif")
    assert raster.is_file() and (out / "scene_fields.parquet").is_file()
    assert gpd.read_parquet(out / "scene_fields.parquet").crs is not None
    if spec.windows == "a":  # window B's dates are not read: another of them keeps the outputs (they were
        # refused as "--win-b-dates: ... -> ...", session 104's sweep)
        other = [*args[:7], "2023-08-01/2023-08-10", *args[8:]]
        again = CliRunner().invoke(main, other)
        assert again.exit_code == 0 and "0 mapped, 1 skipped, 0 failed" in again.output, again.output
        # outputs an earlier agriseg recorded with window B's dates resume (its review: refused "-> not given")
        from agriseg.fields.mapping.commands import SceneRequest

        older = [str(tmp_path / "older") if a == str(out) else a for a in args]
        plain = SceneRequest.options
        monkeypatch.setattr(SceneRequest, "options", lambda self, windows=("a", "b"): plain(self))
        assert CliRunner().invoke(main, older).exit_code == 0
        monkeypatch.setattr(SceneRequest, "options", plain)
        again = CliRunner().invoke(main, older)
        assert again.exit_code == 0 and "0 mapped, 1 skipped, 0 failed" in again.output, again.output


def test_an_unchanged_map_keeps_each_scenes_land_cover_record(
    season_server: Loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unchanged re-run of `fields map --areas ... --landcover` wrote each kept scene's summary row without its
    land-cover items and year (session 104's sweep); so did one given -o as a relative path (its review)."""
    import geopandas as gpd
    from shapely.geometry import box

    _serve(season_server, "FTW_PRUE_EFNET_B3")
    west = [float(v) for v in WEST.split(",")]
    gpd.GeoDataFrame({"id": ["west"]}, geometry=[box(*west)], crs=4326).to_file(tmp_path / "areas.gpkg")
    stac = season_server.url + "/stac"
    args = [
        "fields", "map", "--areas", str(tmp_path / "areas.gpkg"), "--win-a-dates", "2023-04-01/2023-04-30",
        "--win-b-dates", "2023-08-01/2023-08-31", "--stac-url", stac, "-o", str(tmp_path / "map"), "-m",
        "FTW_PRUE_EFNET_B3", "--serial", "--patch-size", "64", "--min-area", "0", "--landcover", "esa-worldcover",
        "--landcover-stac-url", stac,
    ]  # fmt: skip
    rows, areas = [], []
    for i in range(2):
        if i:  # the same folder, named from inside its parent
            monkeypatch.chdir(tmp_path)
            args = ["map" if a == str(tmp_path / "map") else a for a in args]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
        (row,) = json.loads((tmp_path / "map" / "summary.json").read_text())["scenes"]
        rows.append(row)
        areas += json.loads((tmp_path / "map" / "scenes" / "areas.json").read_text())
    assert rows[1]["status"] == "skipped" and rows[0]["landcover"]["items"], rows
    assert rows[1]["landcover"] == rows[0]["landcover"]
    assert areas[1]["status"] == "skipped" and areas[1]["items"] == areas[0]["items"] and areas[0]["items"]
    # a file of yours where the scene's land cover goes: refused before its prediction (it failed after it)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "west_landcover.tif").write_text("my notes")
    at = args.index("-o") + 1
    res = CliRunner().invoke(main, [*args[:at], "mine", *args[at + 1 :]])
    assert res.exit_code == 2 and "west_landcover.tif: exists and was not written by agriseg" in res.output, res.output
    assert not (tmp_path / "mine" / "west_probs.tif").exists()
    assert (tmp_path / "mine" / "west_landcover.tif").read_text() == "my notes"


def test_map_areas_in_two_calendar_zones(season_server: Loopback, tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    from tests.fields.stac_server import make_s2_catalog

    extra = [("a", "2022-04-10", 5.0), ("b", "2022-08-15", 5.0), ("a", "2022-10-27", 5.0)]
    make_s2_catalog(season_server, acquisitions=ACQUISITIONS + extra)
    _serve(season_server, "FTW_PRUE_EFNET_B3")
    west = [float(v) for v in WEST.split(",")]
    gpd.GeoDataFrame({"id": ["west", "east"]}, geometry=[box(*west), box(*EAST)], crs=4326).to_file(
        tmp_path / "areas.gpkg"
    )
    out = tmp_path / "map"
    args = [
        "fields", "map", "--areas", str(tmp_path / "areas.gpkg"), "--season", "auto", "--year", "2022",
        "--stac-url", season_server.url + "/stac", "-o", str(out), "-m", "FTW_PRUE_EFNET_B3", "--serial",
        "--patch-size", "64", "--min-area", "0",
    ]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    tags = {}
    for area in ("west", "east"):
        with rasterio.open(out / "scenes" / f"{area}.tif") as src:
            tags[area] = (src.tags()["WIN_A_DATETIME"][:10], src.tags()["WIN_B_DATETIME"][:10])
    assert tags["west"] == ("2022-04-10", "2022-08-15")  # season 100 -> 227
    assert tags["east"] == ("2022-10-27", "2023-04-10")  # season 300 -> 100: harvest in the next year
    rows = {r["area"]: r for r in json.loads((out / "scenes" / "areas.json").read_text())}
    assert not rows["west"]["season"]["crosses_year"] and rows["east"]["season"]["crosses_year"]
    assert rows["east"]["win_b_dates"] == ["2023-03-27", "2023-04-24"]
    assert "east: crop calendar season 2022-10-27 to 2023-04-10" in res.output
    assert (out / "fields.parquet").is_file()
    # an unchanged re-run kept the scenes but wrote bare "skipped" rows over their items and dates (session 104)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    kept = {r["area"]: r for r in json.loads((out / "scenes" / "areas.json").read_text())}
    assert kept["east"]["status"] == "skipped" and kept["east"]["win_b_dates"] == ["2023-03-27", "2023-04-24"]
    assert kept["west"]["items"] == rows["west"]["items"] and kept["west"]["season"] == rows["west"]["season"]
    # a file of yours: scenes/areas.json was written over unsaid, and a fields.parquet refused only after every
    # area's scene was downloaded (session 100's sweep)
    for i, (mine, other) in enumerate(((Path("scenes", "areas.json"), None), (Path("fields.parquet"), "scenes"))):
        user = tmp_path / f"user{i}"
        (user / mine).parent.mkdir(parents=True, exist_ok=True)
        (user / mine).write_text('{"my": "notes"}')
        # a model not cached (nor served): the file of yours is named before it is fetched
        typed = [str(user) if a == str(out) else "FTW_PRUE_EFNET_B7" if a == "FTW_PRUE_EFNET_B3" else a for a in args]
        res = CliRunner().invoke(main, typed)
        assert res.exit_code == 2 and f"{mine}: exists and was not written by agriseg" in res.output, res.output
        assert (user / mine).read_text() == '{"my": "notes"}'
        assert other is None or not (user / other).exists()  # nothing fetched
    # every area failing was one joined "Error:" line: each area is its own failed item now, exit 1
    gpd.GeoDataFrame({"id": ["far"]}, geometry=[box(100.0, 0.0, 100.01, 0.01)], crs=4326).to_file(tmp_path / "far.gpkg")
    far = [a if a != str(tmp_path / "areas.gpkg") else str(tmp_path / "far.gpkg") for a in args]
    res = CliRunner().invoke(main, [a if a != str(out) else str(tmp_path / "far") for a in far])
    assert res.exit_code == 1 and "failed: far" in res.output and "Error:" not in res.output, res.output
    assert "merged: nothing (no scene succeeded)" in res.output


def test_the_land_cover_is_tried_as_often_as_retries_says(season_server: Loopback, tmp_path: Path) -> None:
    """`fields map --areas ... --landcover esa-worldcover --retries 1`: the imagery was tried twice, the land
    cover five times ("after 5 attempt(s)"): --retries never reached it (session 108's sweep)."""
    import geopandas as gpd
    from shapely.geometry import box

    _serve(season_server, "FTW_PRUE_EFNET_B3")
    west = [float(v) for v in WEST.split(",")]
    gpd.GeoDataFrame({"id": ["west"]}, geometry=[box(*west)], crs=4326).to_file(tmp_path / "areas.gpkg")
    stac = season_server.url + "/stac"
    season_server.fail["/files/esa-worldcover"] = -1  # the land cover's files always fail
    res = CliRunner().invoke(main, [
        "fields", "map", "--areas", str(tmp_path / "areas.gpkg"), "--win-a-dates", "2023-04-01/2023-04-30",
        "--win-b-dates", "2023-08-01/2023-08-31", "--stac-url", stac, "-o", str(tmp_path / "map"), "-m",
        "FTW_PRUE_EFNET_B3", "--serial", "--patch-size", "64", "--min-area", "0", "--landcover", "esa-worldcover",
        "--landcover-stac-url", stac, "--retries", "1",
    ])  # fmt: skip
    assert res.exit_code == 1 and "after 2 attempt(s)" in res.output, res.output
