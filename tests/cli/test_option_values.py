"""Option values that ran wrong, crashed or failed with exit 1 are usage errors naming the option (session 80's
sweep of the shared options)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from agriseg.cli import main
from agriseg.config import OptionError


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args), env=env)
    return res.exit_code, res.output


def test_a_test_time_augmentation_given_twice_is_refused(tmp_path: Path) -> None:
    """``--tta flip_h,flip_h`` averaged flip_h twice with the plain pass (probabilities up to 41/255 off)."""
    for tta in (["--tta", "flip_h,flip_h"], ["--tta", "flip_h", "--tta", "flip_h"]):
        code, out = _run("fields", "predict", *tta, str(tmp_path / "s.tif"), "-o", str(tmp_path / "p.tif"))
        assert code == 2 and "'flip_h' is given twice" in out, out
    from agriseg.fields.config import PredictConfig

    with pytest.raises(ValueError, match="flip_v is given twice"):
        PredictConfig(tta=["flip_v", "swap_windows", "flip_v"])


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["fields", "predict", "--threads", "100000"], "--threads"),  # a segmentation fault
        (["fields", "map", "--threads-per-worker", "100000"], "--threads-per-worker"),  # Dask hung
    ],
)
def test_thread_counts_have_a_ceiling(tmp_path: Path, args: list[str], flag: str) -> None:
    (tmp_path / "m.safetensors").write_bytes(b"")  # refused after the options are read
    code, out = _run(*args, str(tmp_path / "s.tif"), "-o", str(tmp_path / "o"), "-m", str(tmp_path / "m.safetensors"))
    assert code == 2 and f"{flag}: Input should be less than or equal to 1024" in out, out


@pytest.mark.parametrize("device", ["CPU", "cuda:7"])
def test_a_depth_device_the_machine_lacks_is_refused_before_the_model_loads(tmp_path: Path, device: str) -> None:
    """``crop pseudolabel --source depth --device CPU`` (or a GPU this machine lacks) was a traceback, exit 1."""
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has that GPU")
    photo = Path(__file__).parents[2] / "src/agriseg/samples/peanut/images/0399.jpg"
    code, out = _run(
        "crop", "pseudolabel", str(photo), "-o", str(tmp_path / "o"), "--source", "depth", "--device", device
    )
    said = "Error: --device: not a torch device" if device == "CPU" else "Error: --device cuda:7"
    assert code == 2 and out.startswith(said) and device in out, out
    assert "Traceback" not in out


SAMPLES = Path(__file__).parents[2] / "src/agriseg/samples/peanut"


@pytest.mark.parametrize(
    "args",
    [
        ["crop", "predict", str(SAMPLES / "images"), "-o", "OUT"],
        ["crop", "traits", str(SAMPLES / "images"), "-o", "OUT"],
        ["crop", "evaluate", "--images", str(SAMPLES / "images"), "--masks", str(SAMPLES / "labels"), "--peanut"],
    ],
    ids=["predict", "traits", "evaluate"],
)
def test_the_crop_model_runs_on_the_device_asked_for(tmp_path: Path, args: list[str]) -> None:
    """crop predict, evaluate and traits had no --device (fields and text commands have one): a GPU went unused.
    One the machine lacks is a usage error naming the flag, before any output is made."""
    import torch

    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has that GPU")
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    code, out = _run(*args, "--device", "cuda:7")
    assert code == 2 and out.startswith("Error: --device cuda:7: no CUDA GPU"), out
    code, out = _run(*args, "--device", "gpu")
    assert code == 2 and "--device: not a torch device" in out, out
    assert not (tmp_path / "out").exists()


def test_a_crop_predictor_gets_the_device(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import agriseg.crop.predict as predict

    seen: dict[str, object] = {}
    real = predict.load_predictor

    def spy(*args: object, **kw: object) -> object:
        seen.update(kw)
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(predict, "load_predictor", spy)
    code, out = _run(
        "crop", "predict", str(SAMPLES / "images" / "0399.jpg"), "-o", str(tmp_path / "o"), "--device", "cpu"
    )
    assert code == 0 and seen["device"] == "cpu", out


def test_an_output_folder_name_too_long_is_a_usage_error(tmp_path: Path) -> None:
    """A 300-byte folder name failed with exit 1 (ENAMETOOLONG from exists(), before the folder check)."""
    photo = Path(__file__).parents[2] / "src/agriseg/samples/peanut/images/0399.jpg"
    code, out = _run("crop", "predict", str(photo), "-o", str(tmp_path / ("x" * 300)))
    assert code == 2 and "a 300-byte name, over the 255 a file system allows; give a shorter one" in out, out


def test_models_download_with_a_mirror_address_that_is_no_url_is_one_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each model failed with the same line, exit 1 (session 108's sweep): the setting is the mistake."""
    monkeypatch.setenv("AGRISEG_MODELS_BASE_URL", "notaurl")
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path))
    code, out = _run("fields", "models", "download", "FTW_PRUE_EFNET_B3", "FTW_PRUE_EFNET_B5")
    assert code == 2 and out.count("AGRISEG_MODELS_BASE_URL='notaurl'") == 1 and "failed:" not in out, out


def test_a_cache_setting_naming_a_file_is_said_of_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``AGRISEG_CACHE_DIR=afile``: "output folder: cannot create the folder afile/models/...", the variable
    unnamed (session 108's sweep)."""
    (tmp_path / "afile").write_text("mine")
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path / "afile"))
    code, out = _run("fields", "models", "download", "FTW_PRUE_EFNET_B3")
    assert code == 2 and "AGRISEG_CACHE_DIR=" in out and "a file, not a folder" in out, out
    assert (tmp_path / "afile").read_text() == "mine"
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path / "afile" / "sub"))  # a folder that cannot be made
    code, out = _run("fields", "models", "download", "FTW_PRUE_EFNET_B3")
    assert code == 2 and "AGRISEG_CACHE_DIR=" in out and f"under the file {tmp_path / 'afile'}" in out, out
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path / "new"))  # a listing makes no folder (the review's find)
    assert _run("fields", "models", "list")[0] == 0 and not (tmp_path / "new").exists()


def test_a_mirror_address_that_is_no_url_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``AGRISEG_MODELS_BASE_URL=notaurl`` was tried five times (22 s) and never named."""
    from agriseg.data.download import base_url
    from agriseg.fields.registry import MODELS

    monkeypatch.setenv("AGRISEG_MODELS_BASE_URL", "notaurl")
    with pytest.raises(OptionError, match="AGRISEG_MODELS_BASE_URL='notaurl': not an http"):
        _ = next(iter(MODELS.values())).url
    monkeypatch.setenv("AGRISEG_MODELS_BASE_URL", "http://127.0.0.1:9/m/")
    assert base_url("AGRISEG_MODELS_BASE_URL", "x") == "http://127.0.0.1:9/m/"
    monkeypatch.delenv("AGRISEG_MODELS_BASE_URL")
    assert base_url("AGRISEG_MODELS_BASE_URL", "https://default/") == "https://default/"


def test_fp16_training_on_a_cpu_is_refused() -> None:
    """``train.precision: 16-mixed`` on a CPU ran as bf16-mixed while the config said fp16, with no word."""
    import torch

    from agriseg.training.trainer import check_accelerator

    with pytest.raises(OptionError, match="train.precision: 16-mixed runs on a GPU only"):
        check_accelerator("cpu", "16-mixed")
    check_accelerator("cpu", "bf16-mixed")
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="16-mixed"):
            check_accelerator("auto", "16-mixed")


def test_an_accelerator_the_machine_lacks_is_refused_before_the_run_and_hpu_is_no_option() -> None:
    """``train.accelerator: tpu`` without torch_xla stopped with Lightning's "Requirement 'torch_xla>=1.13' not
    met" after the run folder was made; ``hpu``, a listed name Lightning no longer knows, exited 1 (session 96)."""
    from lightning.pytorch.accelerators import XLAAccelerator
    from pydantic import ValidationError

    from agriseg.training.config import TrainOptions
    from agriseg.training.trainer import check_accelerator

    if not XLAAccelerator.is_available():
        with pytest.raises(OptionError, match=r"^train.accelerator: tpu, but this machine has no such device"):
            check_accelerator("tpu")
    with pytest.raises(ValidationError, match="'mps' or 'tpu'"):
        TrainOptions(accelerator="hpu")


def test_a_scheduler_address_that_is_no_address_is_a_usage_error() -> None:
    """``fields map --scheduler notanaddr`` failed with exit 1 and dask's message naming no option."""
    from agriseg.batch import DaskCluster, Item

    with pytest.raises(OptionError, match="--scheduler notanaddr: not a scheduler address"):
        list(DaskCluster(scheduler="notanaddr").map(lambda item: None, [Item("a", Path("a"), (), ())]))
