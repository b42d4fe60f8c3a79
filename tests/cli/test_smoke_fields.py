"""Smoke suite, field boundaries: every ``agriseg fields`` command shown in README.md and docs/, run as typed.

Synthetic FTW-layout chips and synthetic two-window scenes; the model is trained by the workflow itself
(with a loader worker) and then imported, exported, used for scenes and compared between two years.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.cli.smoke import agriseg, chatter, read_json
from tests.fields.test_cli_fields import CONFIG as FIELDS_CONFIG

pytest.importorskip("rasterio", reason="agriseg fields needs the 'fields' extra")
pytestmark = pytest.mark.timeout(600)

# the fields CLI test's tiny config, trained with a loader worker as users do
CONFIG = FIELDS_CONFIG.format(out="runs/fields/smoke", root="ftw") + "  num_workers: 1\n"


def read_collection(path: Path) -> str:
    """The fiboa ``collection`` metadata of a GeoParquet file, as JSON text."""
    import pyarrow.parquet as pq

    return pq.read_schema(path).metadata[b"collection"].decode()


def _landcover(path: Path) -> Path:
    """A WorldCover-like class raster over the synthetic scenes: cropland (40) everywhere."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=400,
        height=400,
        count=1,
        dtype="uint8",
        crs="EPSG:32633",
        transform=from_origin(359000.0, 5352500.0, 10.0, 10.0),
    ) as dst:
        dst.write(np.full((1, 400, 400), 40, np.uint8))
    return path


def test_fields_workflow(tmp_path: Path) -> None:
    import geopandas as gpd
    import rasterio
    from rasterio.enums import ColorInterp

    from agriseg.vector import validate_fiboa
    from tests.fields.synth_scenes import write_scene

    wd = tmp_path
    # docs/fields.md: data, training, checkpoints, evaluation, robustness
    agriseg("fields make-synthetic -o ftw --countries austria:8,kenya:2 --size 64 --fields-per-chip 3,6", cwd=wd)
    assert (wd / "ftw" / "austria" / "chips_austria.parquet").is_file()
    (wd / "smoke.yaml").write_text(CONFIG)
    res = agriseg("fields train -c smoke.yaml", cwd=wd)
    run = wd / "runs" / "fields" / "smoke"
    assert (run / "model.safetensors").is_file() and (run / "last.ckpt").is_file()
    assert read_json(run / "test_metrics.json")["chips"] > 0
    assert re.search(r"tiny \(best checkpoint\): \d+ epochs?, \d+ steps? in .*val/object_f1", res.output)
    assert not chatter(res.output), res.output
    # the shared training options: a quick check of a config
    res = agriseg(
        "fields train -c smoke.yaml --epochs 5 --max-steps 2 --max-minutes 5 "
        "--set output_dir=runs/fields/steps --no-test",
        cwd=wd,
    )
    assert ", 2 steps in " in res.output and (wd / "runs" / "fields" / "steps" / "model.safetensors").is_file()

    agriseg("fields import-checkpoint runs/fields/smoke/last.ckpt -o m.safetensors", cwd=wd)
    agriseg("fields export m.safetensors -o m.onnx", cwd=wd)
    agriseg("fields export runs/fields/smoke/last.ckpt -o x.safetensors", cwd=wd)
    for f in ("m.safetensors", "m.onnx", "x.safetensors", "x.safetensors.json"):
        assert (wd / f).is_file(), f
    agriseg("fields evaluate --model m.safetensors --root ftw --countries all --split test -o report.json", cwd=wd)
    rep = read_json(wd / "report.json")
    assert 0.0 <= rep["overall"]["pixel_iou"] <= 1.0 and "austria" in rep["per_country"]

    tags = {"WIN_A_DATETIME": "2024-05-01T10:00:00Z", "WIN_B_DATETIME": "2024-08-03T10:05:00Z"}
    write_scene(wd / "scene.tif", h=300, w=300, seed=0, tags=tags)
    agriseg("fields robustness --model m.safetensors --scene scene.tif -o robustness.json", cwd=wd)
    assert read_json(wd / "robustness.json")

    # docs/fields_mapping.md quick start
    agriseg("fields predict scene.tif -o scene_probs.tif -m runs/fields/smoke/last.ckpt", cwd=wd)
    with rasterio.open(wd / "scene_probs.tif") as src:
        assert src.count == 4 and src.crs is not None and src.width == 300
        cls = src.read(1)
        assert set(np.unique(cls).tolist()) <= {0, 1, 2, 255}
        assert src.nodata == 255 and ColorInterp.alpha not in src.colorinterp
        assert src.tags()["WIN_B_DATETIME"] == tags["WIN_B_DATETIME"]
    agriseg("fields polygonize scene_probs.tif -o scene_fields.parquet", cwd=wd)
    df = gpd.read_parquet(wd / "scene_fields.parquet")
    assert df.crs is not None and df.geometry.is_valid.all() and validate_fiboa(wd / "scene_fields.parquet") == []
    if len(df):  # the imagery time of the last window, from the scene's tags, in the collection metadata
        assert '"determination:datetime": "2024-08-03T10:05:00Z"' in read_collection(wd / "scene_fields.parquet")

    # docs/fields_mapping.md: ftw-tools' filters, a land-cover mask, GeoJSON, the imagery time given
    _landcover(wd / "worldcover.tif")
    agriseg(
        "fields polygonize scene_probs.tif -o scene_fields.geojson --max-area 2000000 --min-confidence 0.6 "
        "--landcover worldcover.tif --landcover-keep 40 --datetime 2024-08-03T10:05:00Z",
        cwd=wd,
    )
    assert validate_fiboa(wd / "scene_fields.geojson") == []
    agriseg(
        "fields polygonize scene_probs.tif -o lc_fields.gpkg --landcover worldcover.tif --landcover-drop 50 "
        "--landcover-min-fraction 0.5 --simplify 5 --fill-holes 1000",
        cwd=wd,
    )
    assert (wd / "lc_fields.gpkg").is_file()
    agriseg("fields polygonize scene_probs.tif -o scene_fields_gaps.gpkg --split-boundary 0 --simplify 20", cwd=wd)
    assert (wd / "scene_fields_gaps.gpkg").is_file()

    tiles = wd / "tiles"
    tiles.mkdir()
    for i in range(2):
        write_scene(tiles / f"t{i}.tif", h=128, w=160, seed=10 + i)
    agriseg(
        "fields map tiles/t0.tif tiles/t1.tif -o out/ -m m.safetensors --workers 2 --threads-per-worker 1 "
        "--max-area 5000000 --min-confidence 0.05",
        cwd=wd,
    )
    assert (wd / "out" / "summary.json").is_file()
    assert list((wd / "out").glob("*.parquet"))

    write_scene(wd / "scene_2024.tif", h=300, w=300, seed=5)
    agriseg("fields predict scene_2024.tif -o probs_2024.tif -m m.safetensors", cwd=wd)
    res = agriseg("fields predict scene.tif scene_2024.tif --outdir probs/ -m m.safetensors --tile 128 --strict", wd)
    assert "2 predicted, 0 skipped, 0 failed" in res.output and len(list((wd / "probs").glob("*_probs.tif"))) == 2
    agriseg("fields change scene_probs.tif probs_2024.tif -o change.tif --polygons change.parquet", cwd=wd)
    with rasterio.open(wd / "change.tif") as src:
        assert src.count >= 2 and src.width == 300
        assert src.nodata == 255 and ColorInterp.alpha not in src.colorinterp
    assert (wd / "change.parquet").is_file()


def test_fields_from_an_area_and_a_season(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README / docs/fields_mapping.md: download, models by name, run, map --areas (loopback STAC API)."""
    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    from tests.fields.stac_server import (
        LoopbackServer,
        bbox_deg,
        make_s2_catalog,
        serve_models,
        tiny_ftw_checkpoint,
    )

    wd = tmp_path
    prue = tuple(f"v3/prue_efnet{b}_checkpoint.ckpt" for b in (3, 5, 7))
    seasons = "--win-a-dates 2023-04-01/2023-04-30 --win-b-dates 2023-08-01/2023-08-31"
    with LoopbackServer() as api:
        make_s2_catalog(api)
        monkeypatch.setenv("AGRISEG_MODELS_BASE_URL", serve_models(api, tiny_ftw_checkpoint(), prue))
        monkeypatch.setenv("AGRISEG_CACHE_DIR", str(wd / "cache"))
        stac = f"--stac-url {api.url}/stac"
        bbox = ",".join(f"{v:.6f}" for v in bbox_deg(500100, 5316050, 500800, 5316450))

        agriseg(f"fields download --bbox {bbox} {seasons} --cloud-max 20 {stac} -o scene.tif", cwd=wd)
        with rasterio.open(wd / "scene.tif") as src:
            assert src.count == 8 and src.tags()["WIN_A_DATETIME"] == "2023-04-10T10:01:00Z"
        gpd.GeoDataFrame(geometry=[box(*bbox_deg(500100, 5316050, 500300, 5316250))], crs=4326).to_file(
            wd / "area.gpkg"
        )
        agriseg(f"fields download {stac} --stac-collection sentinel-2-l2a --bbox area.gpkg {seasons} -o a.tif", cwd=wd)
        item_b = f"{api.url}/stac/collections/sentinel-2-l2a/items/S2B_MSIL2A_20230801_T33UXP"
        agriseg(f"fields download --win-a S2B_MSIL2A_20230420_T33UXP --win-b {item_b} {stac} -o items.tif", cwd=wd)
        assert (wd / "a.tif").is_file() and (wd / "items.tif").is_file()

        res = agriseg("fields models list", cwd=wd)
        assert all(f"FTW_PRUE_EFNET_B{b}" in res.output for b in (3, 5, 7))
        assert "FTW_PRUE_EFNET_B7" in agriseg("fields models show FTW_PRUE_EFNET_B7", cwd=wd).output
        agriseg("fields models download FTW_PRUE_EFNET_B3 FTW_PRUE_EFNET_B5", cwd=wd)
        assert "cached" in agriseg("fields models list", cwd=wd).output
        agriseg("fields models download NOPE", cwd=wd, expect=2)  # an unknown name is a usage error

        agriseg("fields map scene.tif -o fields/ -m FTW_PRUE_EFNET_B5 --serial --tile 64", cwd=wd)
        assert (wd / "fields" / "fields.parquet").is_file()
        agriseg(f"fields run --bbox {bbox} {seasons} -m FTW_PRUE_EFNET_B5 -o out/ {stac} --tile 64", cwd=wd)
        assert len(gpd.read_parquet(wd / "out" / "scene_fields.parquet")) > 0
        gpd.GeoDataFrame(
            {"id": ["west"]}, geometry=[box(*bbox_deg(500100, 5316050, 500300, 5316250))], crs=4326
        ).to_file(wd / "areas.gpkg")
        agriseg(f"fields map --areas areas.gpkg {seasons} {stac} -m FTW_PRUE_EFNET_B5 -o many/ --serial", cwd=wd)
        assert (wd / "many" / "scenes" / "west.tif").is_file() and (wd / "many" / "fields.parquet").is_file()
        # a folder named on the command line is missing: a usage error
        agriseg("fields evaluate -m FTW_PRUE_EFNET_B3 --root nowhere", cwd=wd, expect=2)
        # an empty area is a usage error too, said before anything is fetched
        res = agriseg(f"fields download --bbox 10,50,10,51 {seasons} {stac} -o bad.tif", cwd=wd, expect=2)
        assert "--bbox '10,50,10,51': empty" in res.output and not (wd / "bad.tif").exists()


def test_fields_what_ftw_tools_2_users_have(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/fields.md and docs/fields_mapping.md: --season auto, --landcover by STAC, DelineateAnything, trust."""
    import hashlib

    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    from tests.fields.stac_server import require_ultralytics

    require_ultralytics()
    from agriseg.fields.registry import get_spec
    from tests.fields.stac_server import (
        NORTH,
        LoopbackServer,
        bbox_deg,
        make_calendar,
        make_landcover_catalog,
        make_s2_catalog,
        serve_models,
        serve_yolo,
        tiny_ftw_checkpoint,
        tiny_yolo_seg,
    )

    wd = tmp_path
    with LoopbackServer() as api:
        make_s2_catalog(api)
        make_landcover_catalog(api)
        make_landcover_catalog(api, "io-lulc-annual-v02", "data", {2022: 11, 2023: 5})
        monkeypatch.setenv(
            "AGRISEG_MODELS_BASE_URL", serve_models(api, tiny_ftw_checkpoint(), ("v3/prue_efnet5_checkpoint.ckpt",))
        )
        monkeypatch.setenv("AGRISEG_CALENDAR_BASE_URL", make_calendar(api))
        monkeypatch.setenv("AGRISEG_CACHE_DIR", str(wd / "cache"))
        monkeypatch.setenv("YOLO_CONFIG_DIR", str(wd / "cache" / "ultralytics"))
        yolo = tiny_yolo_seg(wd / "yolo")
        serve_yolo(api, yolo, get_spec("DelineateAnything-S").file)
        stac = f"--stac-url {api.url}/stac"
        lc_stac = f"--landcover-stac-url {api.url}/stac"
        bbox = ",".join(f"{v:.6f}" for v in bbox_deg(500050, NORTH - 400, 500450, NORTH - 50))

        agriseg(f"fields download --bbox {bbox} --season auto --year 2023 {stac} -o scene.tif", cwd=wd)
        with rasterio.open(wd / "scene.tif") as src:
            assert src.count == 8 and src.tags()["WIN_B_DATETIME"].startswith("2023-08-15")
            assert '"start": "2023-04-10"' in src.tags()["AGRISEG_SEASON"]
        agriseg(
            f"fields download --bbox {bbox} --season auto --year 2023 {stac} -m FTW_v2_3_Class_FULL_singleWindow "
            "-o one.tif",
            cwd=wd,
        )
        with rasterio.open(wd / "one.tif") as src:
            assert src.count == 4
        agriseg(
            f"fields run --bbox {bbox} --season auto --year 2022 --crop-season winter --season-window 21 "
            f"--win-a-dates 2023-04-01/2023-04-30 --win-b-dates 2023-08-01/2023-08-31 -m FTW_PRUE_EFNET_B5 -o w/ "
            f"{stac} --patch-size 64 --min-area 0 --landcover io-lulc {lc_stac}",
            cwd=wd,
        )  # dates given win over the (winter) calendar's
        rec = read_json(wd / "w" / "scene_run.json")["inputs"]
        assert read_json(wd / "w" / "scene_run.json")["options"]["patch_size"] == 64  # prediction settings too
        assert rec["dates"]["a"] == ["2023-04-01", "2023-04-30"] and rec["season"]["crop_season"] == "winter"
        assert rec["landcover"]["collection"] == "io-lulc-annual-v02" and rec["landcover"]["year"] == 2023
        agriseg("fields map scene.tif -o m/ -m FTW_PRUE_EFNET_B5 --serial --patch-size 64 --min-area 0 "
                f"--landcover esa-worldcover {lc_stac}", cwd=wd)  # fmt: skip
        assert (wd / "m" / "scene_landcover.tif").is_file() and (wd / "m" / "fields.parquet").is_file()
        agriseg(f"fields polygonize m/scene_probs.tif -o lc.parquet --landcover esa-worldcover {lc_stac}", cwd=wd)
        gpd.GeoDataFrame({"id": ["a"]}, geometry=[box(*[float(v) for v in bbox.split(",")])], crs=4326).to_file(
            wd / "areas.gpkg"
        )
        agriseg(f"fields map --areas areas.gpkg --season auto --year 2023 {stac} -m FTW_PRUE_EFNET_B5 -o many/ "
                "--serial --patch-size 64", cwd=wd)  # fmt: skip
        assert read_json(wd / "many" / "scenes" / "areas.json")  # the calendar's choice per area

        # DelineateAnything: refused until trusted, then one RGB window to instances to fiboa polygons
        agriseg(f"fields run --bbox {bbox} --season auto --year 2023 -m DelineateAnything-S -o da/ {stac}", cwd=wd,
                expect=2)  # a model that cannot be used yet: exit 2, as every bad --model  # fmt: skip
        digest = hashlib.sha256(yolo).hexdigest()
        agriseg(f"fields models trust DelineateAnything-S --sha256 {digest}", cwd=wd)
        agriseg(
            f"fields run --bbox {bbox} --season auto --year 2023 --landcover esa-worldcover {lc_stac} "
            f"-m DelineateAnything-S -o da/ {stac}",
            cwd=wd,
        )
        assert (wd / "da" / "scene_instances.tif").is_file() and (wd / "da" / "scene_fields.parquet").is_file()
        agriseg(f"fields run --win-a S2B_MSIL2A_20230410_T33UXP --bbox {bbox} -m DelineateAnything-S -o da2/ {stac}",
                cwd=wd)  # fmt: skip
        agriseg(f"fields download --bbox {bbox} --season auto --year 2023 -m DelineateAnything-S {stac} -o rgb.tif",
                cwd=wd)  # fmt: skip
        agriseg("fields predict rgb.tif -m DelineateAnything-S --outdir inst/", cwd=wd)
        agriseg("fields polygonize inst/rgb_instances.tif -o inst.parquet", cwd=wd)
        assert gpd.read_parquet(wd / "inst.parquet").geometry.is_valid.all()
        res = agriseg("fields models list", cwd=wd)
        assert "DelineateAnything-S" in res.output and "AGPL" in res.output
