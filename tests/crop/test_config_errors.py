"""Training configs and resume files that are wrong fail at once, in one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agriseg.config import load_config
from agriseg.crop.config import CropTrainConfig
from agriseg.models import build_model
from agriseg.models.io import ModelLoadError, check_training_checkpoint


def _config(tmp_path, body: str):
    p = tmp_path / "c.yaml"
    p.write_text(body)
    return p


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("data: {images: a, labels: b, val_fraction: 1.5}", "data.val_fraction"),
        ("data: {images: a, labels: b, crop_size: -5}", "data.crop_size"),
        ("data: {images: a, labels: b}\ntrain: {batch_size: 0}", "train.batch_size"),
        ("data: {images: a, labels: b, colormap: {'0,255': 1}}", "data.colormap"),
        ("data: {images: a, labels: b, crop_size: 1000000000}", "data.crop_size"),
        ("data: {images: a, labels: b}\nmodel: {num_classes: 5}", "model.class_names has 2 names for model.num"),
        # session 106's sweep: trained to the first batch, then a traceback; OpenCV's resize failed at validation
        (
            "data: {images: a, labels: b}\nmodel: {in_channels: 4, mean: [0, 0, 0, 0], std: [1, 1, 1, 1]}",
            "model.in_channels 4: crop models read RGB photos .3 channels.",
        ),
        ("data: {images: a, labels: b}\nmodel: {infer_long_side: 99999999}", "model.infer_long_side: Input should be"),
        ("data: {images: '', labels: b}", "data.images: empty"),  # was the working folder: ".: folder has no images"
        # session 66: read and then ignored, or failing only after the data split was written
        ("data: {images: a, labels: b}\nmodel: {std: [0, 0, 0]}", "model.std.0: Input should be greater than 0"),
        ("data: {images: a, labels: b}\nmodel: {mean: [0]}", "model: mean and std need 3 values each"),
        ("data: {images: a, labels: b}\nmodel: {decoder_channels: 64}", "model: decoder_channels applies to arch fpn"),
        ("data: {images: a, labels: b}\nmodel: {arch: smp_unet, upsampler: fade}", "model: upsampler .fade. needs"),
        ("data: {images: a, labels: b}\ntrain: {accelerator: gpuu}", "train.accelerator: Input should be"),
        # session 80: a class the model lacks failed at training time (exit 1), after split.json was written
        (
            "data: {images: a, labels: b, label_mode: colormap, colormap: {'0,0,0': 0, '0,255,0': 5}}",
            "data.colormap: class id 5 of '0,255,0' but model.num_classes is 2",
        ),
        # session 97: said as a problem of the first label file "(and 5 more in the training photos)"
        ("data: {images: a, labels: b, label_mode: colormap}", "data.colormap: label_mode colormap needs one"),
    ],
)
def test_bad_values_fail_when_the_config_is_read(tmp_path, body, where):
    with pytest.raises(ValueError, match=rf"c\.yaml: invalid config: {where}") as info:
        load_config(_config(tmp_path, body), CropTrainConfig)
    assert "\n" not in str(info.value)


def test_unknown_timm_encoder_names_close_ones():
    with pytest.raises(ValueError, match=r"tu-efficientnet_lite9.*closest timm names: .*tu-efficientnet_lite"):
        build_model(encoder="tu-efficientnet_lite9", encoder_weights=None)


def test_missing_encoder_weights_file_fails_at_once(tmp_path):
    import time

    import segmentation_models_pytorch  # noqa: F401 - imported before the clock: timed alone it took 7 s cold

    t0 = time.perf_counter()
    with pytest.raises(FileNotFoundError, match=r"nope/enc\.pth: encoder_weights file not found"):
        build_model(encoder="resnet18", encoder_weights=str(tmp_path / "nope" / "enc.pth"))
    assert time.perf_counter() - t0 < 5  # no model-hub retries


def test_local_encoder_weights_file_is_loaded(tmp_path):
    import segmentation_models_pytorch as smp

    enc = smp.encoders.get_encoder("resnet18", in_channels=3, depth=5, weights=None)
    sd = {k: torch.full_like(v, 0.5) if v.is_floating_point() else v for k, v in enc.state_dict().items()}
    torch.save(sd, tmp_path / "enc.pth")
    model = build_model(encoder="resnet18", encoder_weights=str(tmp_path / "enc.pth"))
    assert float(model.encoder.body.conv1.weight.detach().flatten()[0]) == 0.5


class _Payload:
    def __reduce__(self):
        return (print, ("payload ran",))


def test_resume_refuses_a_malicious_or_garbage_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    bad = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "loops": {}, "x": _Payload()}, bad)
    with pytest.raises(ModelLoadError, match=r"evil\.ckpt: not a readable training checkpoint"):
        check_training_checkpoint(bad)
    assert "payload ran" not in capsys.readouterr().out
    junk = tmp_path / "garbage.ckpt"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelLoadError, match=r"garbage\.ckpt: not a readable training checkpoint"):
        check_training_checkpoint(junk)
    plain = tmp_path / "weights.ckpt"
    torch.save({"w": torch.zeros(2)}, plain)
    with pytest.raises(ModelLoadError, match="not a Lightning training checkpoint"):
        check_training_checkpoint(plain)


def test_split_files_and_output_folders_are_named(tmp_path):
    """A missing or binary split list and an output folder that is a file: one line naming the file."""
    from agriseg.config import OptionError
    from agriseg.crop.dataset import read_stem_list
    from agriseg.data.files import ensure_outdir

    with pytest.raises(FileNotFoundError, match=r"nope\.txt: list of photo names not found"):
        read_stem_list(tmp_path / "nope.txt")
    from agriseg.crop.dataset import split_stems

    # session 87's sweep: a missing val_list was named without its config key
    with pytest.raises(OptionError, match=r"^data\.val_list: .*nope\.txt: list of photo names not found$"):
        split_stems(["a", "b"], None, str(tmp_path / "nope.txt"), 0.2, 0)
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match=r"bin\.txt: not a text file of photo names"):
        read_stem_list(tmp_path / "bin.txt")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OptionError, match=r"afile: output folder is an existing file"):
        ensure_outdir(tmp_path / "afile")


def test_a_missing_data_folder_names_its_config_key(tmp_path: Path) -> None:
    """``/nonexistent/imgs: folder not found`` did not say which key of the config gave it (session 83)."""
    from agriseg.crop.dataset import match_pairs

    (tmp_path / "labels").mkdir()
    with pytest.raises(FileNotFoundError, match=r"imgs: folder not found \(data\.images\)"):
        match_pairs(tmp_path / "imgs", tmp_path / "labels", ("data.images", "data.labels"))


def test_split_lists_read_utf8_bom_and_names_of_raw_bytes(tmp_path: Path) -> None:
    """Self-training writes its split lists as UTF-8 (they were in the locale's encoding: cp1252 on Windows,
    read back as UTF-8 there, "not a text file"); a name that is not UTF-8 (raw bytes) reads back as itself."""
    from agriseg.crop.dataset import read_stem_list

    raw = "parcelle_\udce9t\udce9"  # "parcelle_été" in Latin-1 bytes, as os.listdir gives it on Linux
    (tmp_path / "s.txt").write_text(f"parcelle_été.jpg\n{raw}\n", encoding="utf-8", errors="surrogateescape")
    assert read_stem_list(tmp_path / "s.txt") == ["parcelle_été", raw]
    (tmp_path / "bom.txt").write_bytes("\ufeffa.jpg\nb\n".encode())  # saved by Windows Notepad
    assert read_stem_list(tmp_path / "bom.txt") == ["a", "b"]
    # a listed stem with dots was cut at its last dot: "plot.1.2023" read as "plot.1" (session 85's sweep)
    (tmp_path / "dots.txt").write_text("plot.1.2023\nplot.1.2024.JPG\n", encoding="utf-8")
    assert read_stem_list(tmp_path / "dots.txt") == ["plot.1.2023", "plot.1.2024"]


def test_a_model_the_config_cannot_build_is_a_usage_error_before_any_output(tmp_path, samples_dir):
    """An unknown encoder failed with exit 1 after ``split.json`` was written; the message did not name the config
    file it was in, as every other config error does (session 103)."""
    from click.testing import CliRunner

    from agriseg.cli import main

    images, labels = samples_dir / "images", samples_dir / "labels"
    cfg = _config(tmp_path, f"output_dir: {tmp_path / 'out'}\ndata: {{images: {images}, labels: {labels}}}\n")
    res = CliRunner().invoke(main, ["crop", "train", "-c", str(cfg), "--set", "model.encoder=nosuch_encoder"])
    said = f"{cfg} with --set model.encoder: model: unknown encoder 'nosuch_encoder'"  # the key that brought it
    assert res.exit_code == 2 and said in res.output, res.output
    assert not (tmp_path / "out").exists()
    res = CliRunner().invoke(main, ["crop", "train", "-c", str(cfg), "--set", "model.encoder=nosuch_encoder",
                                    "--set", "model.infer_long_side=512"])  # fmt: skip
    assert f"{cfg} with --set model.encoder: model" in res.output, res.output  # not infer_long_side (the review)
    cfg = _config(tmp_path, f"images: {images}\noutput_dir: {tmp_path / 'st'}\nmodel: {{encoder: effnet}}\n")
    res = CliRunner().invoke(main, ["crop", "selftrain", "-c", str(cfg)])
    assert res.exit_code == 2 and f"{cfg}: model: unknown encoder 'effnet'" in res.output, res.output
    assert not (tmp_path / "st").exists()


def test_selftrain_refuses_the_train_keys_it_decides_per_stage(tmp_path):
    """``train.epochs`` and ``train.init_weights`` were ignored, yet recorded and fingerprinted."""
    from agriseg.config import ConfigError
    from agriseg.crop.selftrain import load_selftrain_config

    cfg = _config(tmp_path, "images: i\n")
    assert load_selftrain_config(cfg, ["train.batch_size=2"]).train.batch_size == 2
    with pytest.raises(ConfigError, match="train.epochs is not used by selftrain: set stage1_epochs"):
        load_selftrain_config(cfg, ["train.epochs=5"])
    with pytest.raises(ConfigError, match="train.init_weights is not used by selftrain: set init_model"):
        load_selftrain_config(cfg, ["train.init_weights=m.safetensors"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("manual_label_mode=colormap", "manual_label_mode: read with manual_labels only"),
        ('manual_colormap={"0,0,0": 0}', "manual_label_mode and manual_colormap: read with manual_labels only"),
        ('evaluate={"images": "a", "labels": "b", "colormap": {"0,0,0": 0}}', "colormap is read with label_mode"),
    ],
)
def test_selftrain_refuses_label_settings_it_would_not_read(tmp_path, override: str, message: str) -> None:
    """Manual-label settings without ``manual_labels`` and an evaluation colour map with binary labels were
    accepted and ignored, with exit 0 (session 80)."""
    from agriseg.config import ConfigError
    from agriseg.crop.selftrain import load_selftrain_config

    cfg = _config(tmp_path, "images: i\n")
    extra = ["manual_label_mode=colormap"] if override.startswith("manual_colormap") else []
    with pytest.raises(ConfigError, match=message):
        load_selftrain_config(cfg, [*extra, override])
    ok = load_selftrain_config(cfg, ["manual_labels=m", "manual_label_mode=colormap", 'manual_colormap={"0,0,0": 0}'])
    assert ok.manual_colormap == {"0,0,0": 0}
    assert load_selftrain_config(Path("configs/crop/selftrain_peanut.yaml"), ["stage2_epochs=0"]).stage2_epochs == 0
