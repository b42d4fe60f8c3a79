"""The training base: shared options (and their old names), the task hooks, and a quiet ``fit``."""

from __future__ import annotations

import csv
import shutil
import signal
import sys
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from agriseg.config import RenamedOptionWarning, StrictModel, load_config
from agriseg.crop.config import CropTrainConfig
from agriseg.crop.selftrain import SelfTrainConfig
from agriseg.fields.config import FieldsTrainConfig
from agriseg.text.config import GRPORunConfig, SFTRunConfig
from agriseg.training import TrainOptions
from agriseg.training.task import BaseTask
from agriseg.training.trainer import fit, summary_line, validate

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _config_class(path: Path) -> type[StrictModel]:
    if path.parent.name == "fields":
        return FieldsTrainConfig
    if path.parent.name == "text":
        return GRPORunConfig if "grpo" in path.stem else SFTRunConfig
    return SelfTrainConfig if path.stem.startswith("selftrain") else CropTrainConfig


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_bundled_config_loads_unchanged(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RenamedOptionWarning)  # a bundled config uses today's names
        cfg = load_config(path, _config_class(path))
    assert cfg.model_dump()


def test_the_old_time_limit_key_loads_as_max_minutes(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(
        (CONFIGS / "fields" / "synthetic_lite0_cpu.yaml").read_text().replace("max_minutes:", "max_time_minutes:")
    )
    with pytest.warns(RenamedOptionWarning, match="train.max_time_minutes is now train.max_minutes"):
        cfg = load_config(old, FieldsTrainConfig)
    assert cfg.train.max_minutes == 18 and cfg.train.schedule == "cosine_time"
    with pytest.raises(ValueError, match="one option"):
        TrainOptions.model_validate({"max_time_minutes": 3, "max_minutes": 4})
    with pytest.raises(ValueError, match="max_minutes"):
        FieldsTrainConfig.model_validate({"data": {"root": "x"}, "train": {"schedule": "cosine_time"}})
    with pytest.raises(ValueError, match="max_mintues"):  # a typo is still an error
        TrainOptions.model_validate({"max_mintues": 3})


def test_both_pipelines_share_the_option_names() -> None:
    crop = set(CropTrainConfig.model_fields["train"].annotation.model_fields)
    fields = set(FieldsTrainConfig.model_fields["train"].annotation.model_fields)
    assert set(TrainOptions.model_fields) <= crop & fields
    assert "max_time_minutes" not in fields and "max_minutes" in fields


def test_crop_and_fields_tasks_are_base_tasks() -> None:
    from agriseg.crop.task import SegmentationTask
    from agriseg.fields.task import FieldsTask

    assert issubclass(SegmentationTask, BaseTask) and issubclass(FieldsTask, BaseTask)
    cfg = FieldsTrainConfig.model_validate({"data": {"root": "x"}, "train": {"monitor": "val/pixel_iou"}}).model_dump()
    cfg["model"]["encoder_weights"] = None  # offline
    task = FieldsTask(cfg)
    assert task.monitor == "val/pixel_iou"
    # the ftw-tools keys that agriseg.fields.checkpoints reads
    assert {"config", "model", "backbone", "in_channels", "num_classes", "loss"} <= set(task.hparams)


class _TinyConfig(StrictModel):
    train: TrainOptions = TrainOptions(epochs=2, batch_size=4, num_workers=0, accelerator="cpu")


class _TinyTask(BaseTask):
    config_class = _TinyConfig
    monitor = "val/score"

    def configure_models(self) -> torch.nn.Module:
        return torch.nn.Conv2d(3, 2, 1)

    def configure_loss(self) -> torch.nn.Module:
        return torch.nn.CrossEntropyLoss()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        pred = self(batch["image"]).argmax(1)  # (B, H, W)
        self.log("val/score", (pred == batch["mask"]).float().mean(), batch_size=pred.shape[0])


class _Data(L.LightningDataModule):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        img = torch.rand(16, 3, 8, 8, generator=g)
        self.items = [{"image": img[i], "mask": (img[i, 0] > 0.5).long()} for i in range(16)]

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.items, batch_size=4)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.items, batch_size=4)


def test_fit_trains_through_the_hooks_quietly(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    task = _TinyTask(_TinyConfig().model_dump())
    before = task.model.weight.detach().clone()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        res = fit(task, _Data(), task.cfg.train, tmp_path, progress=False)
        val = validate(res.trainer, task, _Data())
    out, err = capfd.readouterr()
    assert not out  # stdout is the command's result only
    for chatter in ("GPU available", "Tip", "Params", "LOCAL_RANK", "Seed set", "limit_train_batches"):
        assert chatter not in err, err
    assert not [w for w in seen if "agriseg" not in str(w.filename)], [str(w.message) for w in seen]
    assert res.trainer.global_step == 8 and not torch.equal(before, task.model.weight)
    assert Path(res.best_path).is_file() and (tmp_path / "last.ckpt").is_file()
    assert (tmp_path / "logs").is_dir() and 0.0 <= val["val/score"] <= 1.0
    with next((tmp_path / "logs").rglob("metrics.csv")).open() as fh:
        scores = [r for r in csv.DictReader(fh) if r["val/score"]]
    assert len(scores) == 2  # one per epoch: the closing validate() is no third row at the last step
    line = summary_line("tiny", res, {"val/score": val["val/score"]}, "m.safetensors")
    assert line.startswith("tiny: 2 epochs, 8 steps in ") and line.endswith("; model: m.safetensors")


def test_max_steps_stops_a_run(tmp_path: Path) -> None:
    cfg = _TinyConfig(train=TrainOptions(epochs=50, max_steps=3, batch_size=4, num_workers=0, accelerator="cpu"))
    res = fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    assert res.trainer.global_step == 3


def test_a_run_stopped_before_its_first_validation_keeps_its_model(tmp_path: Path) -> None:
    """val_every beyond the epochs (or a time / step limit hit first): no validation ever saved a checkpoint."""
    cfg = _TinyConfig(train=TrainOptions(epochs=1, val_every=5, batch_size=4, num_workers=0, accelerator="cpu"))
    task = _TinyTask(cfg.model_dump())
    res = fit(task, _Data(), cfg.train, tmp_path, progress=False)
    assert res.last_path and Path(res.last_path).is_file() and res.best_path == res.last_path
    state = torch.load(res.last_path, map_location="cpu", weights_only=True)["state_dict"]
    assert all(torch.equal(v, task.state_dict()[k]) for k, v in state.items())


def test_resuming_with_fewer_epochs_than_done_is_a_usage_error(tmp_path: Path) -> None:
    """``--resume last.ckpt --epochs 1`` after a 3-epoch run ended in Lightning's traceback (session 83's sweep)."""
    from agriseg.config import OptionError

    cfg = _TinyConfig(train=TrainOptions(epochs=3, batch_size=4, num_workers=0, accelerator="cpu"))
    fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    (tmp_path / "model.safetensors").write_bytes(b"exported")  # as crop / fields train export it when a run ends
    with pytest.raises(OptionError, match=r"--epochs 1: .*last\.ckpt is at epoch 3 of its run already, nothing is"):
        fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, resume=tmp_path / "last.ckpt", max_epochs=1,
            progress=False)  # fmt: skip
    # as many as done: nothing trained, and the run rewrote its model saying "3 epochs" (session 101's sweep)
    with pytest.raises(OptionError, match=r"--epochs 3: .*at epoch 3 of its run already, nothing is left to train"):
        fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, resume=tmp_path / "last.ckpt", progress=False)
    # but a run stopped by Ctrl-C after its last epoch (in the final validation, no model exported since) is finished
    (tmp_path / "model.safetensors").unlink()
    fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, resume=tmp_path / "last.ckpt", progress=False)
    # one stopped inside an epoch and resumed with no more epochs: refused, said as such (not "finished" by name)
    cut = _TinyConfig(train=TrainOptions(epochs=2, max_steps=2, batch_size=4, num_workers=0, accelerator="cpu"))
    fit(_TinyTask(cut.model_dump()), _Data(), cut.train, tmp_path / "cut", progress=False)
    shutil.copy(tmp_path / "cut" / "last.ckpt", tmp_path / "cut" / "interrupted.ckpt")
    with pytest.raises(OptionError, match=r"interrupted\.ckpt stopped after 2 batches of epoch 1, which Lightning"):
        fit(_TinyTask(cut.model_dump()), _Data(), cut.train, tmp_path / "cut", resume=tmp_path / "cut" /
            "interrupted.ckpt", max_epochs=1, progress=False)  # fmt: skip


def test_a_run_cut_by_its_time_limit_says_so(tmp_path: Path) -> None:
    """``--epochs 100 --max-minutes 0.1`` ended after 4 epochs with a summary that did not say why (session 83)."""
    import time

    class _Slow(_TinyTask):
        def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
            time.sleep(0.25)
            return super().training_step(batch, batch_idx)

    opts = {"batch_size": 4, "num_workers": 0, "accelerator": "cpu"}
    cfg = _TinyConfig(train=TrainOptions(epochs=100, max_minutes=0.01, **opts))
    res = fit(_Slow(cfg.model_dump()), _Data(), cfg.train, tmp_path / "a", progress=False)
    assert res.trainer.current_epoch < 100 and "(stopped by --max-minutes)" in summary_line("t", res, {}, "m")
    cfg = _TinyConfig(train=TrainOptions(epochs=1, max_minutes=5, **opts))
    res = fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path / "b", progress=False)
    assert "stopped by" not in summary_line("t", res, {}, "m")


def test_a_run_stopped_in_an_epoch_says_how_much_of_it_ran(tmp_path: Path) -> None:
    """`crop train --max-steps 2` of a 30-batch epoch said "1 epoch, 2 steps" (session 101's sweep)."""
    opts = {"batch_size": 4, "num_workers": 0, "accelerator": "cpu"}
    cfg = _TinyConfig(train=TrainOptions(epochs=2, max_steps=2, **opts))  # 4 batches an epoch
    res = fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path / "a", progress=False)
    assert summary_line("t", res, {}, "m").startswith("t: 2 of 4 batches of epoch 1, 2 steps in ")
    cfg = _TinyConfig(train=TrainOptions(epochs=3, max_steps=6, **opts))
    res = fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path / "b", progress=False)
    assert summary_line("t", res, {}, "m").startswith("t: 1 epoch and 2 of 4 batches of epoch 2, 6 steps in ")
    cfg = _TinyConfig(train=TrainOptions(epochs=2, **opts))
    res = fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path / "c", progress=False)
    assert summary_line("t", res, {}, "m").startswith("t: 2 epochs, 8 steps in ")


def test_training_flags_become_config_overrides() -> None:
    from agriseg.cli.options import train_overrides

    assert train_overrides(("output_dir=x",), epochs=3, max_minutes=0.5) == (
        "output_dir=x",
        "train.epochs=3",
        "train.max_steps=null",  # --epochs given: a max_steps of the config would stop the run first
        "train.max_minutes=0.5",
    )
    assert train_overrides() == ()


class _StoppedByCtrlC(_TinyTask):
    """Ctrl-C while the third batch trains."""

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if self.global_step == 2:
            raise KeyboardInterrupt
        return super().training_step(batch, batch_idx)


def test_ctrl_c_saves_the_run_and_resume_continues_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from agriseg.batch import Interrupted
    from agriseg.data.files import protected_inputs

    cfg = _TinyConfig(train=TrainOptions(epochs=2, batch_size=4, num_workers=0, accelerator="cpu"))
    match = r"after step 2 \(epoch 0, as the bar counts\); the same command with --resume .*interrupted.ckpt"
    with pytest.raises(Interrupted, match=match):
        fit(_StoppedByCtrlC(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C works again afterwards
    saved = tmp_path / "interrupted.ckpt"
    assert torch.load(saved, map_location="cpu", weights_only=True)["global_step"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left

    class _StoppedAgain(_TinyTask):  # Ctrl-C again in the resumed run
        def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
            if self.global_step == 5:
                raise KeyboardInterrupt
            return super().training_step(batch, batch_idx)

    with protected_inputs([saved]), pytest.raises(Interrupted, match="after step 5"):  # as the CLI protects it
        fit(_StoppedAgain(cfg.model_dump()), _Data(), cfg.train, tmp_path, resume=saved, progress=False)
    assert torch.load(saved, map_location="cpu", weights_only=True)["global_step"] == 5  # the later state

    with caplog.at_level("WARNING"):  # a run that does not resume it keeps it, and says so
        fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path / "x", progress=False, max_epochs=1)
        (tmp_path / "x" / "interrupted.ckpt").write_bytes(saved.read_bytes())
        fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path / "x", progress=False, max_epochs=1)
    assert "interrupted run, kept; this run starts afresh" in caplog.text
    assert (tmp_path / "x" / "interrupted.ckpt").is_file()

    res = fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, resume=saved, progress=False)
    assert res.trainer.global_step == 8  # 5 before Ctrl-C, 3 after
    assert not saved.exists()  # the run it held has finished


def test_ctrl_c_before_a_resumed_runs_first_step_keeps_its_checkpoint(tmp_path: Path) -> None:
    """Ctrl-C a few seconds into `crop train --resume interrupted.ckpt`, before Lightning had read it: the
    trainer's fresh state (epoch 0, no optimizer) replaced the checkpoint, the earlier training lost, and the
    message pointed to it (session 108's sweep)."""
    from agriseg.batch import Interrupted
    from agriseg.data.files import protected_inputs

    cfg = _TinyConfig(train=TrainOptions(epochs=2, batch_size=4, num_workers=0, accelerator="cpu"))
    with pytest.raises(Interrupted):
        fit(_StoppedByCtrlC(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    saved = tmp_path / "interrupted.ckpt"
    before = saved.read_bytes()
    match = r"before its first step \(the checkpoint it resumed is kept as it was\); the same command with --resume"
    with protected_inputs([saved]), pytest.raises(Interrupted, match=match):  # stopped in its first step again
        fit(_StoppedByCtrlC(cfg.model_dump()), _Data(), cfg.train, tmp_path, resume=saved, progress=False)
    assert saved.read_bytes() == before


def test_a_run_stopped_after_the_model_is_named_by_the_refusal(tmp_path: Path) -> None:
    """`crop train --overwrite` over a finished run, stopped by Ctrl-C: the same command without --overwrite said
    only "holds the model of an earlier run", not the checkpoint that continues the stopped run (README says it
    is named; session 108's sweep)."""
    import os

    from safetensors.numpy import save_file

    from agriseg.config import OptionError
    from agriseg.training.trainer import check_run_folder

    save_file({"w": np.zeros(1, np.float32)}, str(tmp_path / "model.safetensors"),
              metadata={"agriseg_model_config": "{}"})  # fmt: skip
    with pytest.raises(OptionError, match="holds the model of an earlier run; --overwrite replaces it"):
        check_run_folder(tmp_path)
    torch.save({"global_step": 4}, tmp_path / "interrupted.ckpt")
    later = (tmp_path / "model.safetensors").stat().st_mtime + 10
    os.utime(tmp_path / "interrupted.ckpt", (later, later))
    match = rf"and interrupted.ckpt, of a run stopped after it: --resume {tmp_path / 'interrupted.ckpt'} continues"
    with pytest.raises(OptionError, match=match):
        check_run_folder(tmp_path)


def test_a_second_interruption_keeps_the_first_and_a_run_without_resume_saves_none(tmp_path: Path) -> None:
    """A fresh run in a folder that held an interrupted run's checkpoint said "kept", then a second Ctrl-C
    replaced it (step 6 became step 2); selftrain's stages pointed to a --resume the command does not have."""
    from agriseg.batch import Interrupted

    cfg = _TinyConfig(train=TrainOptions(epochs=2, batch_size=4, num_workers=0, accelerator="cpu"))
    with pytest.raises(Interrupted):
        fit(_StoppedByCtrlC(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    first = (tmp_path / "interrupted.ckpt").read_bytes()
    with pytest.raises(Interrupted, match=r"--resume .*interrupted-2\.ckpt continues it"):
        fit(_StoppedByCtrlC(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    assert (tmp_path / "interrupted.ckpt").read_bytes() == first and (tmp_path / "interrupted-2.ckpt").is_file()
    with pytest.raises(Interrupted, match=r"after step 2 \(epoch 0, as the bar counts\); nothing saved$"):
        fit(_StoppedByCtrlC(cfg.model_dump()), _Data(), cfg.train, tmp_path / "stage", progress=False, resumable=False)
    assert not list((tmp_path / "stage").glob("interrupted*"))


def test_resuming_with_other_settings_names_them(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """--resume with --set train.lr=0.5 ran the checkpoint's schedule, silently."""
    from agriseg.training.trainer import check_resume

    cfg = _TinyConfig(train=TrainOptions(epochs=1, batch_size=4, num_workers=0, accelerator="cpu"))
    res = fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    other = _TinyConfig(train=TrainOptions(epochs=2, batch_size=4, num_workers=0, accelerator="cpu", lr=0.5))
    task = _TinyTask(other.model_dump())
    with caplog.at_level("WARNING"):
        check_resume(task, res.last_path)  # as crop train checks it before writing anything; fit does not again
        fit(task, _Data(), other.train, tmp_path, resume=res.last_path, progress=False)
    assert caplog.text.count("resuming with settings that differ from its run (train.lr: ") == 1, caplog.text
    assert "train.epochs" not in caplog.text  # a resumed run does take another epoch count, but its schedule:
    assert "resuming a run planned for 1 epoch with 2 epochs: it stops when 2 epochs are done in all" in caplog.text


class _SectionsConfig(_TinyConfig):
    output_dir: str = "run"
    loss: dict = {"omega": 0.1}


class _SectionsTask(_TinyTask):
    config_class = _SectionsConfig


def test_resuming_names_changes_of_every_section_but_where_it_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Only train.* and data.* were named: loss.*, augment.* and the model's mean / std changed a resumed run
    unsaid (session 101's sweep); a run folder moved since is no setting."""
    from agriseg.training.trainer import check_resume

    cfg = _SectionsConfig()
    res = fit(_SectionsTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    other = _SectionsConfig(output_dir="moved", loss={"omega": 0.5})
    with caplog.at_level("WARNING"):
        check_resume(_SectionsTask(other.model_dump()), res.last_path)
    assert "differ from its run (loss.omega: 0.1 -> 0.5)" in caplog.text, caplog.text


class _MeaningConfig(_SectionsConfig):
    data: dict = {"windows": "ab"}


class _MeaningTask(_TinyTask):
    config_class = _MeaningConfig


def test_resuming_with_other_inputs_or_classes_is_refused(tmp_path: Path) -> None:
    """``--resume ... --set data.windows=ba`` continued the run with a warning and exported the model described as
    ``ba``, its weights trained on ``ab`` (session 103's sweep); a checkpoint of a release before the key resumes."""
    from agriseg.config import OptionError
    from agriseg.training.trainer import check_resume

    cfg = _MeaningConfig()
    res = fit(_MeaningTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    with pytest.raises(OptionError, match=r"its run read data.windows ab, this config ba, .* resume with data.windows"):
        check_resume(_MeaningTask(_MeaningConfig(data={"windows": "ba"}).model_dump()), res.last_path)
    old = fit(_SectionsTask(_SectionsConfig().model_dump()), _Data(), cfg.train, tmp_path / "old", progress=False)
    check_resume(_MeaningTask(cfg.model_dump()), old.last_path)  # no data.windows in its run: nothing to differ


class _ColoursConfig(_SectionsConfig):
    data: dict = {"colormap": {"0,0,0": 0, "0,255,0": 1, "255,0,0": 2}}


class _ColoursTask(_TinyTask):
    config_class = _ColoursConfig


def test_resuming_with_other_label_colours_is_refused(tmp_path: Path) -> None:
    """Session 106's sweep: ``--resume ... --set data.colormap={..., '255,0,0': 1}`` trained weeds as crop with a
    warning, the exported model still naming crop and weed; the whole colormap is said, not one colour's key."""
    from agriseg.config import OptionError
    from agriseg.training.trainer import check_resume

    cfg = _ColoursConfig()
    res = fit(_ColoursTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    weeds_as_crop = _ColoursConfig(data={"colormap": {"0,0,0": 0, "0,255,0": 1, "255,0,0": 1}})
    with pytest.raises(OptionError, match=r"its run read data.colormap \{.*'255,0,0': 2\}, this config \{.*: 1\}"):
        check_resume(_ColoursTask(weeds_as_crop.model_dump()), res.last_path)


class _ValidationStoppedByCtrlC(_TinyTask):
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        if not self.trainer.training and self.trainer.state.fn == "validate":
            raise KeyboardInterrupt
        super().validation_step(batch, batch_idx)


def test_ctrl_c_in_the_validation_after_training_is_an_interruption_too(tmp_path: Path) -> None:
    from agriseg.batch import Interrupted

    cfg = _TinyConfig(train=TrainOptions(epochs=1, batch_size=4, num_workers=0, accelerator="cpu"))
    task = _ValidationStoppedByCtrlC(cfg.model_dump())
    res = fit(task, _Data(), cfg.train, tmp_path, progress=False)
    # the task holds the best weights in this pass: last.ckpt (the run's end) continues it, nothing else is saved
    with pytest.raises(Interrupted, match="after step 4 .* --resume .*last.ckpt continues it"):
        validate(res.trainer, task, _Data())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not (tmp_path / "interrupted.ckpt").exists()
    # and it does: no model was exported since, so the run is finished from it with the same --epochs
    fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, resume=tmp_path / "last.ckpt", progress=False)


def test_quiet_lightning_gives_the_logger_levels_back_after_a_failure():
    """After an exception inside, 'lightning.pytorch' stayed at WARNING for the rest of a notebook session."""
    import logging

    from agriseg.training.trainer import quiet_lightning

    log = logging.getLogger("lightning.pytorch")
    before = log.level
    log.setLevel(logging.INFO)
    try:
        with pytest.raises(RuntimeError), quiet_lightning():
            assert log.level == logging.WARNING
            raise RuntimeError("a failed fit")
        assert log.level == logging.INFO
    finally:
        log.setLevel(before)


def test_a_run_folder_of_someone_elses_files_or_a_file_is_refused(tmp_path: Path) -> None:
    """fields train wrote into a folder of a user's notes and replaced their config.json; an output_dir that is a
    file said "[Errno 17] File exists" (session 68's sweep)."""
    from agriseg.config import OptionError
    from agriseg.training.trainer import check_run_folder

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "config.json").write_text("{}", encoding="utf-8")
    (theirs / "notes.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(OptionError, match=r"theirs: exists and was not written by a training run \(it holds config"):
        check_run_folder(theirs)
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    with pytest.raises(OptionError, match=r"output_dir .*afile: an existing file, not a folder"):
        check_run_folder(tmp_path / "afile")
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.ckpt").write_bytes(b"")  # an earlier run's folder: used
    assert check_run_folder(run) == run and check_run_folder(tmp_path / "new").is_dir()
    # a user's own split.json (a folder of their lists) was taken for a run's and replaced (session 84's sweep)
    (theirs / "split.json").write_text('{"fold1": ["a", "b"]}', encoding="utf-8")
    with pytest.raises(OptionError, match=r"theirs: its split.json was not written by a training run \(kept\)"):
        check_run_folder(theirs)
    (run / "split.json").write_text('{"train": ["a"], "val": ["b"]}', encoding="utf-8")  # a run's own
    assert check_run_folder(run) == run
    # a checkpoint half-written by a killed run: agriseg's own temporary, removed, not "no checkpoint agriseg wrote"
    (run / ".last.ckpt.agriseg-tmp-999999999.ckpt").write_bytes(b"PK\x03\x04cut")
    assert check_run_folder(run) == run and not (run / ".last.ckpt.agriseg-tmp-999999999.ckpt").exists()
    # a folder of a user's test_metrics.json alone was taken for a run's and the file written over (session 101)
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "test_metrics.json").write_text("mine", encoding="utf-8")
    with pytest.raises(OptionError, match=r"metrics: exists and was not written by a training run \(it holds test_"):
        check_run_folder(metrics)


def test_a_users_logs_folder_or_checkpoint_is_no_mark_of_a_run_and_never_removed(tmp_path: Path) -> None:
    """Session 106's sweep: a folder of a user's notes.txt and logs/ was trained into (Lightning's logs among theirs),
    one with their mine.ckpt was "a run that did not end", and --overwrite then deleted mine.ckpt."""
    from agriseg.config import OptionError
    from agriseg.training.trainer import check_run_folder, drop_earlier_checkpoints, earlier_checkpoints

    for held in ("logs/field_log.txt", "mine.ckpt"):
        theirs = tmp_path / held.replace("/", "_")
        (theirs / held).parent.mkdir(parents=True)
        (theirs / held).write_bytes(b"PK\x03\x04")
        (theirs / "notes.txt").write_text("keep", encoding="utf-8")
        with pytest.raises(OptionError, match=r"exists and was not written by a training run"):
            check_run_folder(theirs, overwrite=True)
    run = tmp_path / "run"
    (run / "logs" / "version_0").mkdir(parents=True)  # a run's own log: its folder is a run's
    assert check_run_folder(run) == run
    for name in ("last.ckpt", "best-epoch=03.ckpt", "interrupted-2.ckpt", "mine.ckpt"):
        (run / name).write_bytes(b"PK\x03\x04")
    drop_earlier_checkpoints(earlier_checkpoints(run))  # as --overwrite does once the run's model is written
    assert sorted(p.name for p in run.glob("*.ckpt")) == ["mine.ckpt"]


def test_a_second_run_in_one_folder_leaves_no_versioned_copies(tmp_path: Path) -> None:
    """Each re-run added best-epoch=00-v1.ckpt, -v2 ... and last-v1.ckpt (84 MB each for fields), and a glob
    for best-*.ckpt could pick a killed run's file (session 68's sweeps)."""
    cfg = _TinyConfig(train=TrainOptions(epochs=1, batch_size=4, num_workers=0, accelerator="cpu"))
    for _ in range(2):
        res = fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == ["best-epoch=00.ckpt", "last.ckpt"]
    assert Path(res.best_path).name == "best-epoch=00.ckpt"


def test_checkpoints_are_renamed_into_place_from_beside_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning wrote last.ckpt through a temporary file in $TMPDIR and, on another file system, copied it into the
    checkpoint's name: a kill during the copy left a truncated checkpoint (session 101's sweep)."""
    import os

    renamed: list[tuple[Path, Path]] = []
    replace = os.replace

    def recording(src: str | Path, dst: str | Path) -> None:
        renamed.append((Path(src), Path(dst)))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", recording)
    cfg = _TinyConfig(train=TrainOptions(epochs=1, batch_size=4, num_workers=0, accelerator="cpu"))
    fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    into = {dst.name for src, dst in renamed if src.parent == dst.parent == tmp_path and src.name.startswith(".")}
    assert {"best-epoch=00.ckpt", "last.ckpt"} <= into, renamed
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_a_run_folder_moved_since_keeps_its_best_score(tmp_path: Path) -> None:
    """A resume in a copied run folder forgot the best score (Lightning keeps it only in the folder it was saved in):
    a worse epoch was exported as the best, the better file left beside it (session 101's sweep)."""
    from agriseg.training.trainer import _RunCheckpoint

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "best-epoch=12.ckpt").write_bytes(b"")
    cb = _RunCheckpoint(dirpath=tmp_path / "b", filename="best-{epoch:02d}", monitor="val/score", mode="max")
    old = str(tmp_path / "a")
    best, score = f"{old}/best-epoch=12.ckpt", torch.tensor(0.43)
    state = {"dirpath": old, "best_model_score": score, "best_model_path": best, "best_k_models": {best: score},
             "kth_best_model_path": best, "kth_value": score, "last_model_path": f"{old}/last.ckpt",
             "monitor": "val/score", "current_score": None}  # fmt: skip
    cb.resumed_from = tmp_path / "b" / "last.ckpt"  # the run's own folder, copied
    cb.load_state_dict(state)
    assert cb.best_model_path == str(tmp_path / "b" / "best-epoch=12.ckpt")
    assert cb.best_model_score is not None and float(cb.best_model_score) == pytest.approx(0.43)
    assert list(cb.best_k_models) == [str(tmp_path / "b" / "best-epoch=12.ckpt")]
    # another folder's run resumed into b: b's file of that name is b's earlier run's, never this run's best
    other = _RunCheckpoint(dirpath=tmp_path / "b", filename="best-{epoch:02d}", monitor="val/score", mode="max")
    other.resumed_from = tmp_path / "a" / "last.ckpt"
    with pytest.warns(UserWarning, match="dirpath has changed"):  # Lightning's (fit keeps its loggers quiet)
        other.load_state_dict(state)
    assert other.best_model_score is None and other.best_model_path == best  # Lightning's own rule
    # its state under Lightning's key: checkpoints of before this class restore it too
    assert cb.state_key.startswith("ModelCheckpoint{")


def test_a_failed_shutdown_after_ctrl_c_is_still_an_interruption() -> None:
    """A Ctrl-C while the loader started its workers: Lightning's own shutdown then failed ("Please call
    `iter(combined_loader)` first"), a traceback with status 1 instead of the one line and 130 (session 81)."""
    from types import SimpleNamespace

    from agriseg.batch import Interrupted
    from agriseg.training.trainer import _ctrl_c

    trainer = SimpleNamespace(
        interrupted=True, progress_bar_callback=None, global_step=3, current_epoch=1, callbacks=[]
    )
    with pytest.raises(Interrupted, match="after step 3 .*nothing saved"):
        with _ctrl_c(trainer):  # type: ignore[arg-type]
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:  # Lightning's shutdown, which it runs while it handles the Ctrl-C
                raise RuntimeError("Please call `iter(combined_loader)` first.") from None
    trainer.interrupted = False  # a RuntimeError of a run nobody stopped stays what it is
    with pytest.raises(RuntimeError, match="combined_loader"):
        with _ctrl_c(trainer):  # type: ignore[arg-type]
            raise RuntimeError("Please call `iter(combined_loader)` first.")


def test_an_error_of_the_run_is_not_said_as_a_ctrl_c() -> None:
    """Session 85's fields sweep: Lightning marks its trainer interrupted on any error, so a RuntimeError of the
    data ("Class values must be smaller than num_classes") was said as a Ctrl-C (exit 130), its cause hidden."""
    from types import SimpleNamespace

    from agriseg.training.trainer import _ctrl_c

    trainer = SimpleNamespace(
        interrupted=True, global_step=3, current_epoch=0, callbacks=[], progress_bar_callback=None
    )
    with pytest.raises(RuntimeError, match="Class values"), _ctrl_c(trainer):  # type: ignore[arg-type]
        raise RuntimeError("Class values must be smaller than num_classes.")


def test_loader_workers_have_an_upper_bound() -> None:
    """Session 85's fields sweep: `--set train.num_workers=5000` started thousands of processes and took the
    machine's memory (killed, exit 137); every training config caps its loader workers."""
    from pydantic import ValidationError

    from agriseg.config import MAX_LOADER_WORKERS
    from agriseg.fields.config import FieldsOptimConfig
    from agriseg.text.config import SFTRunConfig
    from agriseg.training.config import TrainOptions

    for make in (
        lambda n: TrainOptions(num_workers=n),
        lambda n: FieldsOptimConfig(num_workers=n),
        lambda n: SFTRunConfig(model="m", dataset="d", output_dir="o", dataloader_num_workers=n),
    ):
        make(MAX_LOADER_WORKERS)
        with pytest.raises(ValidationError, match="less than or equal to 256"):
            make(5000)


def test_a_resumed_time_schedule_goes_on_from_the_time_trained() -> None:
    """``fields train --resume`` with ``schedule: cosine_time`` started the cosine over at the full rate: the
    schedule had a clock of its own, the time limit Lightning's Timer (restored from the checkpoint)."""
    import datetime as dt

    from lightning.pytorch.callbacks import Timer

    from agriseg.fields.task import FieldsTask

    train = {"schedule": "cosine_time", "max_minutes": 10, "lr": 1e-3, "min_lr": 0.0, "accelerator": "cpu"}
    cfg = FieldsTrainConfig.model_validate({"data": {"root": "x"}, "train": train}).model_dump()
    cfg["model"]["encoder_weights"] = None  # offline
    task = FieldsTask(cfg)
    trainer = L.Trainer(max_time=dt.timedelta(minutes=10), logger=False, enable_checkpointing=False)
    task.trainer = trainer
    timer = next(c for c in trainer.callbacks if isinstance(c, Timer))
    timer.load_state_dict({"time_elapsed": {"train": 300.0}})  # what a checkpoint half-way through restores
    opt = torch.optim.SGD(task.parameters(), lr=1e-3)
    task.configure_scheduler(opt)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5e-3, rel=1e-3)  # half-way down the cosine, not 1e-3


def test_a_run_folder_keeps_a_users_checkpoint_and_a_later_model(tmp_path: Path) -> None:
    """Session 89's training sweep: a user's own last.ckpt in output_dir was overwritten by the run; and the
    `--resume .../interrupted.ckpt` a fresh run's note suggests replaced the model that fresh run had finished."""
    import os

    from safetensors.numpy import save_file

    from agriseg.config import OptionError
    from agriseg.training.trainer import check_run_folder

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "last.ckpt").write_text("precious")
    with pytest.raises(OptionError, match=r"its last.ckpt is no checkpoint agriseg wrote \(kept\)"):
        check_run_folder(mine)
    assert (mine / "last.ckpt").read_text() == "precious"

    run = tmp_path / "run"
    run.mkdir()
    stopped = run / "interrupted.ckpt"
    torch.save({"global_step": 2}, stopped)
    model = run / "model.safetensors"  # a run made after the stop finished
    save_file({"w": np.zeros(1, np.float32)}, str(model), metadata={"agriseg_model_config": "{}"})
    os.utime(stopped, (1_000_000, 1_000_000))
    with pytest.raises(OptionError, match=r"holds the model of a run made after interrupted.ckpt"):
        check_run_folder(run, replaces=False, resume=stopped)
    assert check_run_folder(run, replaces=False, overwrite=True, resume=stopped) == run
    os.utime(stopped)  # the stop after the model (a run with --overwrite stopped): resumed as before
    assert check_run_folder(run, replaces=False, resume=stopped) == run


def test_a_scale_range_high_to_low_is_refused() -> None:
    """Session 89's training sweep: data.scale_min above data.scale_max trained without a word."""
    from pydantic import ValidationError

    from agriseg.crop.config import DataConfig

    with pytest.raises(ValidationError, match=r"data.scale_min 0.35 > data.scale_max 0.2"):
        DataConfig(images="i", labels="l", scale_min=0.35, scale_max=0.2)


def test_the_training_bar_in_a_log_file_is_one_line_per_epoch(tmp_path: Path, monkeypatch, capsys) -> None:
    """In a log file the bar Lightning reuses for every epoch wrote all of them on one line of carriage returns
    (30 epochs: 302 of them and 2 newlines; session 93's sweep), each epoch's validation metrics overwritten."""
    import io

    log = io.StringIO()  # not a terminal, as a scheduler's log file
    monkeypatch.setattr(sys, "stderr", log)
    cfg = _TinyConfig(train=TrainOptions(epochs=3, batch_size=4, num_workers=0, accelerator="cpu"))
    fit(_TinyTask(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=True)
    lines = [ln for ln in log.getvalue().split("\n") if "Epoch" in ln]
    assert [ln.rsplit("\r", 1)[-1].split(":")[0].strip() for ln in lines] == ["Epoch 0", "Epoch 1", "Epoch 2"], lines


class _CtrlCInTheStep(torch.optim.SGD):
    """Ctrl-C (a real SIGINT) while the optimiser updates the weights: half of them, then the rest."""

    done = 0

    def step(self, closure=None):  # type: ignore[no-untyped-def]
        import os

        loss = closure() if closure is not None else None
        with torch.no_grad():
            first = self.param_groups[0]["params"][0]
            first.sub_(0.1 * first.grad)
        if _CtrlCInTheStep.done == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Python raises KeyboardInterrupt at its next instruction
        with torch.no_grad():
            for p in self.param_groups[0]["params"][1:]:
                p.sub_(0.1 * p.grad)
        _CtrlCInTheStep.done += 1
        return loss


class _SteppedByHand(_TinyTask):
    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return _CtrlCInTheStep(self.parameters(), lr=0.1)


def test_a_ctrl_c_inside_the_optimisers_update_waits_for_the_whole_step(tmp_path: Path) -> None:
    """Session 99's sweep: Ctrl-C while AdamW updated the weights saved interrupted.ckpt with some parameters
    stepped and others not, and the resume failed on a half-written amsgrad state."""
    from agriseg.batch import Interrupted

    _CtrlCInTheStep.done = 0
    cfg = _TinyConfig(train=TrainOptions(epochs=2, batch_size=4, num_workers=0, accelerator="cpu"))
    with pytest.raises(Interrupted):
        fit(_SteppedByHand(cfg.model_dump()), _Data(), cfg.train, tmp_path, progress=False)
    assert _CtrlCInTheStep.done == 2  # the interrupted step finished every parameter before the run stopped
    saved = torch.load(tmp_path / "interrupted.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == 2  # and was counted: a resume does not apply it twice (the review's find)


def test_the_other_pipelines_checkpoint_and_a_batch_larger_than_the_data_are_said(caplog) -> None:
    """Session 99's sweep: a fields checkpoint given to crop train --resume said only "another model"; a field
    model given to crop predict only "8 input channels, the data has 3"; a batch size above the training set
    ran one step an epoch without a word."""
    from agriseg.data.loaders import train_loader
    from agriseg.fields.checkpoints import check_field_channels
    from agriseg.models.io import ModelLoadError
    from agriseg.training.trainer import _other_pipeline

    crop, fields = {"model": {"in_channels": 3}}, {"model": {"in_channels": 8}}
    assert _other_pipeline(fields, crop).endswith("resume it with agriseg fields train")
    assert _other_pipeline(crop, fields).endswith("resume it with agriseg crop train")
    assert _other_pipeline(crop, crop) == ""
    with pytest.raises(ModelLoadError, match=r"\(R, G, B, NIR\).*an RGB crop model: run it with agriseg crop predict"):
        check_field_channels(3, "m.safetensors")
    with caplog.at_level("WARNING", logger="agriseg"):
        train_loader(list(range(5)), batch_size=50, num_workers=0)
    assert "train.batch_size 50 is more than the 5 training samples: each epoch is one batch of 5" in caplog.text


def test_a_ctrl_c_in_the_final_validation_points_to_last_ckpt(tmp_path: Path) -> None:
    """The final validation runs on the best weights: a Ctrl-C there saved them as interrupted.ckpt with the last
    epoch's optimiser, and finishing from it wrote the best weights into last.ckpt (session 101's review)."""
    from agriseg.training.trainer import _SaveOnCtrlC

    cb = _SaveOnCtrlC(tmp_path / "interrupted.ckpt")
    cb.finished = tmp_path / "last.ckpt"
    cb.on_exception(None, None, KeyboardInterrupt())  # type: ignore[arg-type]  # nothing of the trainer is read
    assert cb.saved and cb.path == tmp_path / "last.ckpt" and not (tmp_path / "interrupted.ckpt").exists()
