"""Smoke suite, field boundaries: every ``agriseg fields`` command shown in README.md and docs/, run as typed.

Synthetic FTW-layout chips and synthetic two-window scenes; the model is trained by the workflow itself
(with a loader worker) and then imported, exported, used for scenes and compared between two years.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.cli.smoke import agriseg, read_json
from tests.fields.test_cli_fields import CONFIG as FIELDS_CONFIG

pytest.importorskip("rasterio", reason="agriseg fields needs the 'fields' extra")
pytestmark = pytest.mark.timeout(600)

# the fields CLI test's tiny config, trained with a loader worker as users do
CONFIG = FIELDS_CONFIG.format(out="runs/fields/smoke", root="ftw") + "  num_workers: 1\n"


def test_fields_workflow(tmp_path: Path) -> None:
    import geopandas as gpd
    import rasterio

    from tests.fields.synth_scenes import write_scene

    wd = tmp_path
    # docs/fields.md: data, training, checkpoints, evaluation, robustness
    agriseg("fields make-synthetic ftw --countries austria:8,kenya:2 --size 64 --fields-per-chip 3,6", cwd=wd)
    assert (wd / "ftw" / "austria" / "chips_austria.parquet").is_file()
    (wd / "smoke.yaml").write_text(CONFIG)
    agriseg("fields train -c smoke.yaml", cwd=wd)
    run = wd / "runs" / "fields" / "smoke"
    assert (run / "model.safetensors").is_file() and (run / "last.ckpt").is_file()
    assert read_json(run / "test_metrics.json")["chips"] > 0

    agriseg("fields import-checkpoint runs/fields/smoke/last.ckpt -o m.safetensors", cwd=wd)
    agriseg("fields export m.safetensors -o m.onnx", cwd=wd)
    agriseg("fields export runs/fields/smoke/last.ckpt -o x.safetensors", cwd=wd)
    for f in ("m.safetensors", "m.onnx", "x.safetensors", "x.safetensors.json"):
        assert (wd / f).is_file(), f
    agriseg("fields evaluate --model m.safetensors --root ftw --countries all --split test -o report.json", cwd=wd)
    rep = read_json(wd / "report.json")
    assert 0.0 <= rep["overall"]["pixel_iou"] <= 1.0 and "austria" in rep["per_country"]

    write_scene(wd / "scene.tif", h=300, w=300, seed=0)
    agriseg("fields robustness --model m.safetensors --scene scene.tif -o robustness.json", cwd=wd)
    assert read_json(wd / "robustness.json")

    # docs/fields_mapping.md quick start
    agriseg("fields predict scene.tif -o scene_probs.tif -m runs/fields/smoke/last.ckpt", cwd=wd)
    with rasterio.open(wd / "scene_probs.tif") as src:
        assert src.count == 4 and src.crs is not None and src.width == 300
        cls = src.read(1)
        assert set(np.unique(cls).tolist()) <= {0, 1, 2, 255}
    agriseg("fields polygonize scene_probs.tif -o scene_fields.parquet", cwd=wd)
    df = gpd.read_parquet(wd / "scene_fields.parquet")
    assert df.crs is not None and df.geometry.is_valid.all()

    tiles = wd / "tiles"
    tiles.mkdir()
    for i in range(2):
        write_scene(tiles / f"t{i}.tif", h=128, w=160, seed=10 + i)
    agriseg("fields map tiles/t0.tif tiles/t1.tif -o out/ -m m.safetensors --workers 2 --threads-per-worker 1", cwd=wd)
    assert (wd / "out" / "summary.json").is_file()
    assert list((wd / "out").glob("*.parquet"))

    write_scene(wd / "scene_2024.tif", h=300, w=300, seed=5)
    agriseg("fields predict scene_2024.tif -o probs_2024.tif -m m.safetensors", cwd=wd)
    agriseg("fields change scene_probs.tif probs_2024.tif -o change.tif --polygons change.parquet", cwd=wd)
    with rasterio.open(wd / "change.tif") as src:
        assert src.count >= 2 and src.width == 300
    assert (wd / "change.parquet").is_file()
