from __future__ import annotations

import collections

import pytest
import segmentation_models_pytorch as smp
import torch

from agriseg.fields.checkpoints import (
    export_onnx,
    import_ftw_checkpoint,
    load_fields_model,
    load_ftw_checkpoint,
)
from agriseg.models.io import ModelLoadError, save_model


class NotAllowed:
    """An arbitrary class: unpickling it needs code execution, which weights_only=True refuses."""


HP = {
    "model": "unet",
    "backbone": "resnet18",
    "weights": True,
    "in_channels": 8,
    "num_classes": 3,
    "loss": "ce",
    "class_weights": [0.04, 0.08, 0.88],
    "ignore_index": 3,
    "lr": 1e-3,
    "patience": 100,
}


@pytest.fixture(scope="module")
def ftw_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """A checkpoint in ftw-tools' layout (Lightning dict, ``model.``-prefixed smp.Unet keys) + its model."""
    torch.manual_seed(0)
    ref = smp.Unet(encoder_name="resnet18", encoder_weights=None, in_channels=8, classes=3)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
    ref.eval()
    path = tmp_path_factory.mktemp("ckpt") / "prue_efnet3_checkpoint.ckpt"
    sd = collections.OrderedDict(("model." + k, v) for k, v in ref.state_dict().items())
    torch.save(
        {
            "epoch": 3,
            "global_step": 10,
            "pytorch-lightning_version": "2.5.0",
            "state_dict": sd,
            "hyper_parameters": HP,
            "hparams_name": "kwargs",
        },
        path,
    )
    return path, ref


def test_ftw_checkpoint_gives_their_logits(ftw_ckpt) -> None:
    path, ref = ftw_ckpt
    model, cfg, info = load_ftw_checkpoint(path)
    assert cfg.arch == "smp_unet" and cfg.encoder == "resnet18" and cfg.in_channels == 8
    assert info["class_weights"] == [0.04, 0.08, 0.88] and info["windows"] == "ab"
    x = torch.rand(2, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=0)
        # sizes that are not multiples of 32 work too (padding), the 64x64 corner is unchanged in shape
        assert model(torch.rand(1, 8, 50, 70)).shape == (1, 3, 50, 70)


def test_import_to_safetensors_and_onnx(ftw_ckpt, tmp_path) -> None:
    path, ref = ftw_ckpt
    dst, cfg = import_ftw_checkpoint(path, tmp_path / "prue.safetensors")
    with pytest.raises(FileExistsError):
        import_ftw_checkpoint(path, dst)
    model, cfg2, info = load_fields_model(dst)
    assert cfg2 == cfg and info["windows"] == "ab" and info["divisor"] == 3000.0
    x = torch.rand(1, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))
    res = export_onnx(model, tmp_path / "prue.onnx", 8, size=64)
    assert res["max_abs_diff"] < 1e-3 and (tmp_path / "prue.onnx").is_file()


def test_non_ftw_checkpoints_are_refused(tmp_path, ftw_ckpt) -> None:
    p = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"net.conv.weight": torch.zeros(1)}}, p)
    with pytest.raises(ModelLoadError, match=r"other\.ckpt: not an FTW/PRUE smp.Unet checkpoint"):
        load_ftw_checkpoint(p)
    q = tmp_path / "plain.ckpt"
    torch.save({"weights": torch.zeros(1)}, q)
    with pytest.raises(ModelLoadError, match=r"plain\.ckpt: not an FTW checkpoint"):
        load_ftw_checkpoint(q)
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "obj": NotAllowed()}, evil)
    with pytest.raises(ModelLoadError, match=r"evil\.ckpt: cannot read as a checkpoint \(it holds Python objects"):
        load_ftw_checkpoint(evil)
    with pytest.raises(ModelLoadError, match="not found"):
        load_ftw_checkpoint(tmp_path / "missing.ckpt")
    path, _ = ftw_ckpt
    bad = torch.load(path, weights_only=True)
    bad["hyper_parameters"] = {**HP, "in_channels": 4}
    torch.save(bad, tmp_path / "mismatch.ckpt")
    with pytest.raises(ModelLoadError, match="in_channels=4, the weights have 8"):
        load_ftw_checkpoint(tmp_path / "mismatch.ckpt")
    bad["hyper_parameters"] = {**HP, "model": "deeplabv3+"}
    torch.save(bad, tmp_path / "dlv3.ckpt")
    with pytest.raises(ModelLoadError, match="not supported"):
        load_ftw_checkpoint(tmp_path / "dlv3.ckpt")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"hyper_parameters": [1, 2]}, "its hyper_parameters is a list, not names and values"),
        ({"hyper_parameters": {**HP, "config": [1, 2]}}, "its hyper_parameters 'config' is a list"),
        ({"hyper_parameters": {**HP, "in_channels": "eight"}}, "hyper_parameters in_channels='eight' is not a whole"),
        ({"hyper_parameters": {**HP, "backbone": "nosuch-encoder"}}, "unknown encoder 'nosuch-encoder'"),
        ({"hyper_parameters": {**HP, "config": {"model": {"mean": [0]}}}}, r"its model settings are not valid \(mean"),
        # session 85's sweep: a NaN divisor scored every chip 0 with exit 0; an int among the weights was a traceback
        ({"hyper_parameters": {**HP, "config": {"data": {"divisor": float("nan")}}}}, "its recorded divisor nan is"),
        ({"hyper_parameters": {**HP, "config": {"data": {"divisor": 0}}}}, "its recorded divisor 0 is not a positive"),
        ({"extra": 5}, r"its weights hold values that are no tensors \(encoder.extra: int\)"),
        ({"drop": "encoder"}, "no encoder convolution among its weights"),
        ({"drop": "decoder.blocks.0"}, r"weights do not fit smp.Unet\(resnet18\) \(\d+ tensors differ, e.g."),
    ],
)  # fmt: skip
def test_a_damaged_checkpoint_is_one_line_naming_it(tmp_path, ftw_ckpt, change, says) -> None:
    """Each printed a traceback (StopIteration, AttributeError, TypeError), named no file, blamed a command-line
    option the command does not have (--num-classes), or dumped torch's list of every key (session 79's sweep)."""
    path, _ = ftw_ckpt
    ckpt = torch.load(path, weights_only=True)
    if "drop" in change:  # weights left out (an encoder of no convolution keeps one tensor, so it is FTW's layout)
        drop = "model." + change["drop"]
        ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith(drop)}
        ckpt["state_dict"].setdefault("model.encoder.a", torch.zeros(3))
    elif "extra" in change:
        ckpt["state_dict"]["model.encoder.extra"] = change["extra"]
    else:
        ckpt.update(change)
    torch.save(ckpt, tmp_path / "bad.ckpt")
    with pytest.raises(ModelLoadError, match=f"{tmp_path / 'bad.ckpt'}: {says}"):
        load_ftw_checkpoint(tmp_path / "bad.ckpt")


def test_an_imported_checkpoint_runs_at_the_checkpoints_resize(ftw_ckpt, tmp_path) -> None:
    """The .safetensors import of an ftw-tools checkpoint ran at resize 1, the .ckpt itself at 2."""
    from agriseg.fields.checkpoints import load_for_scenes
    from agriseg.fields.registry import default_resize, resize_option

    path, _ = ftw_ckpt
    dst, _ = import_ftw_checkpoint(path, tmp_path / "prue.safetensors")
    assert load_for_scenes(path).preprocess.resize == load_for_scenes(dst).preprocess.resize == 2.0
    assert default_resize(dst) == 2.0 and resize_option(dst, None) == {"model_resize": 2.0}
    assert resize_option(dst, 1.5) == {} and resize_option(path, None) == {}  # the .ckpt's records never lacked it
    model, cfg, _ = load_ftw_checkpoint(path)
    own = tmp_path / "own.safetensors"  # an agriseg-trained model runs at 1
    save_model(model, cfg, own)
    assert default_resize(own) == load_for_scenes(own).preprocess.resize == 1.0 and resize_option(own, None) == {}


def test_a_diverged_or_not_field_checkpoint_is_refused_and_an_export_that_differs_is_not_written(
    tmp_path, ftw_ckpt, monkeypatch
) -> None:
    """Session 84's sweep: a .ckpt with NaN weights predicted an all-background map with exit 0 (and imported and
    exported, its check printing "max |diff| nan"); a crop model (3 channels) or a 5-band checkpoint exported
    with a card of two Sentinel-2 windows and then failed on every scene."""
    import agriseg.fields.checkpoints as checkpoints
    from agriseg.models.config import ModelConfig

    path, ref = ftw_ckpt
    ckpt = torch.load(path, weights_only=True)
    key = next(k for k in ckpt["state_dict"] if k.endswith("weight"))
    ckpt["state_dict"][key] = ckpt["state_dict"][key].clone().fill_(float("nan"))
    torch.save(ckpt, tmp_path / "nan.ckpt")
    with pytest.raises(ModelLoadError, match=r"nan\.ckpt: 1 of its \d+ weight tensors hold NaN .*diverged"):
        load_ftw_checkpoint(tmp_path / "nan.ckpt")
    crop = save_model(
        smp.Unet(encoder_name="resnet18", encoder_weights=None, in_channels=3, classes=2),
        ModelConfig(arch="smp_unet", encoder="resnet18", encoder_weights=None, in_channels=3, num_classes=2),
        tmp_path / "crop.safetensors",
    )
    with pytest.raises(ModelLoadError, match=r"crop\.safetensors: a model of 3 input channels; field models take 4"):
        load_fields_model(crop)
    monkeypatch.setattr(checkpoints, "EXPORT_TOLERANCE", -1.0)  # every export differs from its model
    with pytest.raises(ModelLoadError, match=r"x\.onnx: the exported graph's logits differ from PyTorch's"):
        export_onnx(ref, tmp_path / "x.onnx", 8, size=64)
    assert not list(tmp_path.glob("*x.onnx*")), list(tmp_path.iterdir())  # nor a temporary left


def test_exporting_an_onnx_file_names_what_to_give_instead(tmp_path) -> None:
    """``fields export m.onnx`` said "not an agriseg model (no agriseg_model_config metadata)" of a file
    ``fields export`` itself wrote (session 96's sweep)."""
    from agriseg.config import OptionError
    from agriseg.fields.checkpoints import export_model

    (tmp_path / "m.onnx").write_bytes(b"onnx")
    with pytest.raises(OptionError, match=r"m\.onnx: an ONNX file, which is exported already; give the"):
        export_model(tmp_path / "m.onnx", tmp_path / "out.safetensors")
