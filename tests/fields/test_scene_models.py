"""Model files for scene inference: ftw-tools and agriseg models -> a module + preprocessing spec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agriseg.fields.checkpoints import load_for_scenes


def _ftw_ckpt(path: Path) -> Path:
    import segmentation_models_pytorch as smp

    torch.manual_seed(0)
    model = smp.Unet(encoder_name="resnet18", encoder_weights=None, in_channels=8, classes=3)
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": {
                "model": "unet",
                "backbone": "resnet18",
                "in_channels": 8,
                "num_classes": 3,
                "loss": "ce",
                "ignore_index": 3,
            },
        },
        path,
    )
    return path


def test_ftw_checkpoint_gets_ftw_preprocessing(tmp_path: Path) -> None:
    m = load_for_scenes(_ftw_ckpt(tmp_path / "ftw.ckpt"))
    assert m.num_classes == 3 and m.class_names == ("background", "field", "boundary")
    assert m.preprocess.bands == 8 and m.preprocess.resize == 2.0 and m.preprocess.divisor == 3000.0
    assert not m.preprocess.swap_input_windows
    with torch.no_grad():
        assert m.module(torch.rand(1, 8, 64, 64)).shape == (1, 3, 64, 64)
    assert load_for_scenes(tmp_path / "ftw.ckpt", resize=1.0).preprocess.resize == 1.0


def test_agriseg_model_defaults_to_native_resolution(tmp_path: Path) -> None:
    from tests.fields.synth_scenes import write_tiny_model

    path = write_tiny_model(tmp_path / "m.safetensors")
    m = load_for_scenes(path)
    assert m.preprocess.resize == 1.0 and m.num_classes == 3 and m.preprocess.bands == 8


def test_bad_model_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt: model file not found"):
        load_for_scenes(tmp_path / "nope.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match=r"junk\.ckpt"):
        load_for_scenes(junk)


def test_a_scene_predictor_is_one_line_from_a_model_file_and_a_name_is_checked_first(tmp_path: Path) -> None:
    """Session 92's API sweep: a notebook had to load a model and copy its classes and preprocessing into
    ScenePredictor by hand; a name given as the model failed only after the scene was read."""
    from agriseg.fields import PredictConfig, ScenePredictor, load_scene_predictor

    p = load_scene_predictor(_ftw_ckpt(tmp_path / "ftw.ckpt"), {"overlap": 0.5})
    assert p.num_classes == 3 and p.preprocess.resize == 2.0 and p.config.overlap == 0.5
    assert p.class_names == ("background", "field", "boundary")
    assert load_scene_predictor(tmp_path / "ftw.ckpt", resize=1.0).preprocess.resize == 1.0
    with pytest.raises(ValueError, match=r"ftw_prue_efnet_b5: .*\(did you mean FTW_PRUE_EFNET_B5\? valid: "):
        load_scene_predictor("ftw_prue_efnet_b5")
    with pytest.raises(TypeError, match=r"^model is a torch module, not str 'FTW_PRUE_EFNET_B5': load_scene_pre"):
        ScenePredictor("FTW_PRUE_EFNET_B5", 3, config=PredictConfig())  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"not OrderedDict: .*; weights \(a state_dict\) go into their module with load_state_"
    ):
        ScenePredictor(torch.nn.Conv2d(8, 3, 1).state_dict(), 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^scene is a file name \(str or Path\), not ndarray$"):
        p.predict(np.zeros((8, 16, 16), np.float32), tmp_path / "probs.tif")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^model is a released name or a model file, not Conv2d \(a module: "):
        load_scene_predictor(torch.nn.Conv2d(8, 3, 1))  # type: ignore[arg-type]
