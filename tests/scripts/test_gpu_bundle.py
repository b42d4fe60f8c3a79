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


def test_configs_are_pointed_at_the_bundle(tmp_path, monkeypatch):
    train = _load("gpu_train")
    monkeypatch.setattr(train, "BUNDLE", tmp_path / ".gpu")

    def cfg():
        return {
            "data": {"images": "x", "labels": "y", "val_list": "v"},
            "train": {"init_weights": "runs/a/m.safetensors"},
        }

    out = train.point_at_bundle(cfg(), "run1", tmp_path)
    assert out["data"]["images"].endswith("peanut/images") and out["data"]["train_list"].endswith("train.txt")
    assert out["train"]["init_weights"] == "runs/a/m.safetensors"  # not bundled: the repository's own copy travels
    assert out["output_dir"] == str(tmp_path / "run1")
    (tmp_path / ".gpu/init").mkdir(parents=True)
    (tmp_path / ".gpu/init/m.safetensors").write_bytes(b"x")
    out = train.point_at_bundle(cfg(), "run1", tmp_path)
    assert out["train"]["init_weights"] == str(tmp_path / ".gpu/init/m.safetensors")


def test_planned_epochs_count_every_set_a_config_trains_on(tmp_path, monkeypatch):
    train = _load("gpu_train")
    monkeypatch.setattr(train, "BUNDLE", tmp_path / ".gpu")
    (tmp_path / ".gpu/peanut").mkdir(parents=True)
    (tmp_path / ".gpu/peanut/train.txt").write_text("a\nb\nc\n")
    scenes, labels = tmp_path / "scenes/images", tmp_path / "scenes/labels"
    scenes.mkdir(parents=True)
    labels.mkdir()
    for i in range(5):
        (scenes / f"s{i}.jpg").write_bytes(b"")
        (labels / f"s{i}.png").write_bytes(b"")
    (scenes / "unlabelled.jpg").write_bytes(b"")  # no label: training does not pair it
    cfg = {"data": {"repeat": 2, "extra": [{"images": str(scenes), "labels": str(labels), "repeat": 3}]}}
    assert train.train_items(cfg) == 3 * 2 + 5 * 3
    assert train.train_items({"data": {}}) == 3
