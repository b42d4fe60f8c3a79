"""The GPU bundle must reproduce the training data and libraries exactly."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("classes", [True, False])
def test_labels_round_trip(tmp_path, classes):
    bundle = _load("gpu_bundle")
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 3, (40, 50))
    rgb = np.array([(0, 0, 0), (0, 255, 0), (255, 0, 0)], np.uint8)[ids]
    (tmp_path / "src").mkdir()
    Image.fromarray(rgb).save(tmp_path / "src/a.png")
    bundle.pack_labels(tmp_path / "src", tmp_path / "dst", ["a"], classes)
    back = np.asarray(Image.open(tmp_path / "dst/a.png").convert("RGB"))
    want = rgb if classes else np.where(ids[..., None] > 0, np.array([0, 255, 0], np.uint8), 0)
    assert np.array_equal(back, want)


def test_labels_with_unknown_colours_are_refused(tmp_path):
    bundle = _load("gpu_bundle")
    (tmp_path / "src").mkdir()
    Image.fromarray(np.full((4, 4, 3), 7, np.uint8)).save(tmp_path / "src/a.png")
    with pytest.raises(SystemExit, match="a.png"):
        bundle.pack_labels(tmp_path / "src", tmp_path / "dst", ["a"], True)


def test_stringzilla_stand_in_matches_the_library():
    bundle = _load("gpu_bundle")
    ns: dict = {}
    exec(bundle.STRINGZILLA_SHIM, ns)
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (33, 47), dtype=np.uint8)
    lut = rng.integers(0, 256, 256, dtype=np.uint8)
    mine = img.copy()
    ns["translate"](memoryview(mine), memoryview(lut), inplace=True)
    assert np.array_equal(mine, lut[img])
    sz = pytest.importorskip("stringzilla")
    theirs = img.copy()
    sz.translate(memoryview(theirs), memoryview(lut), inplace=True)
    assert np.array_equal(mine, theirs)


def test_configs_are_pointed_at_the_bundle(tmp_path):
    train = _load("gpu_train")
    cfg = {
        "data": {"images": "x", "labels": "y", "val_list": "v"},
        "train": {"init_weights": "runs/a/model.safetensors"},
    }
    out = train.point_at_bundle(cfg, "run1", tmp_path)
    assert out["data"]["images"].endswith("peanut/images") and out["data"]["train_list"].endswith("train.txt")
    assert out["train"]["init_weights"] == str(Path(".gpu/init/model.safetensors"))
    assert out["output_dir"] == str(tmp_path / "run1")
