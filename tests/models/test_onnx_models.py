"""The packaged ONNX crop models: current with their safetensors, and giving PyTorch's masks.

After retraining a packaged model, ``python scripts/export_onnx.py`` re-exports the ONNX files and runs
this file.
"""

from __future__ import annotations

import numpy as np
import pytest

from agriseg.crop.predictor import Predictor, load_predictor, to_classes
from agriseg.data.io import read_rgb
from agriseg.models.io import (
    ONNX_CONFIG_KEY,
    ONNX_SOURCE_KEY,
    PACKAGED_ONNX,
    file_sha1,
    onnx_metadata,
    packaged_onnx,
    read_model_config,
    resolve,
)


@pytest.mark.parametrize("name", PACKAGED_ONNX)
def test_onnx_file_is_exported_from_the_packaged_weights(name: str) -> None:
    meta = onnx_metadata(packaged_onnx(name))
    assert meta[ONNX_SOURCE_KEY] == file_sha1(resolve(name)), (
        f"{packaged_onnx(name).name} is stale: re-export with python scripts/export_onnx.py"
    )
    assert read_model_config(packaged_onnx(name)) == read_model_config(name)
    assert meta[ONNX_CONFIG_KEY] == read_model_config(name).model_dump_json()


@pytest.mark.parametrize("name", PACKAGED_ONNX)
def test_onnx_gives_pytorch_probabilities_and_masks_on_the_samples(name: str, samples_dir) -> None:
    pytest.importorskip("torch")
    from agriseg.models.io import load_model

    photos = sorted((samples_dir / "peanut" / "images").glob("*.jpg"))
    assert photos
    onnx = load_predictor(name)
    assert onnx.runner.onnx_path == packaged_onnx(name)
    model, cfg = load_model(name)
    torch_pred = Predictor(model, cfg.num_classes, cfg.infer_long_side, tta=cfg.infer_tta, channels_last=False)
    for path in photos:
        rgb = read_rgb(path)
        a, b = onnx.probabilities([rgb])[0], torch_pred.probabilities([rgb])[0]
        assert a.shape == b.shape == (cfg.num_classes, *rgb.shape[:2])
        assert float(np.abs(a - b).max()) < 1e-3, path
        assert np.array_equal(to_classes(a, rgb), to_classes(b, rgb)), path


def test_onnx_takes_any_size_and_batch(samples_dir) -> None:
    pytest.importorskip("torch")
    import torch

    from agriseg.models.io import load_model
    from agriseg.runtime import OnnxModule

    module = OnnxModule.from_file(packaged_onnx("default"))
    model = load_model("default")[0]
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 333, 517), (3, 3, 64, 96)]:
        x = rng.random(shape, dtype=np.float32)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        out = module(x)
        assert out.shape == ref.shape
        assert float(np.abs(out - ref).max()) < 1e-3


def test_an_exported_model_file_runs_as_onnx(tmp_path) -> None:
    pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import export_onnx, save_model

    torch.manual_seed(0)
    cfg = ModelConfig(encoder_weights=None, num_classes=3, class_names=["background", "crop", "weed"])
    model = build_model(cfg).eval()
    path = save_model(model, cfg, tmp_path / "mine.safetensors", half=False)
    onnx_path = export_onnx(path, tmp_path / "mine.onnx")
    assert onnx_metadata(onnx_path)[ONNX_SOURCE_KEY] == file_sha1(path)
    pred = load_predictor(onnx_path, long_side=0)
    assert pred.runner.onnx_path == onnx_path and pred.config == read_model_config(path)
    rgb = np.random.default_rng(0).integers(0, 255, (50, 70, 3), np.uint8)
    ref = Predictor(model, 3, long_side=0, channels_last=False).probabilities([rgb])[0]
    assert float(np.abs(pred.probabilities([rgb])[0] - ref).max()) < 1e-4
