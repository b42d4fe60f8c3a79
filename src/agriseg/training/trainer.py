"""``fit``: the one Lightning training loop (checkpoints, CSV log, progress bar, no chatter)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import re
import signal
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import lightning as L
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint, Timer, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from agriseg import quiet
from agriseg.batch.progress import interactive
from agriseg.training.config import TrainOptions
from agriseg.training.task import BaseTask

T = TypeVar("T", bound=BaseTask)
INTERRUPTED_NAME = "interrupted.ckpt"  # the run where Ctrl-C stopped it
log = logging.getLogger(__name__)

# Lightning's loggers: device lines, seeding, tips, "Trainer(limit_train_batches=1.0) was configured ..."
_CHATTY = ("lightning.pytorch", "lightning.fabric")


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Hide Lightning's info lines, tips and advice warnings; its progress bar goes to stderr.

    Lightning reports through ``logging`` (INFO) and ``warnings`` (``PossibleUserWarning`` advice such as
    "few loader workers", deprecation notices of its own dependencies); none of it is for the user of a
    finished command, whose own warnings (raised from agriseg code) are not filtered. Errors still raise.
    Lightning's tqdm bars write to ``sys.stdout``, which is pointed at stderr meanwhile, so stdout holds
    the command's result only (like every other progress bar of agriseg).
    """
    saved = {name: logging.getLogger(name).level for name in _CHATTY}
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            for module in ("lightning", "torch", "torchmetrics"):
                warnings.filterwarnings("ignore", module=module)
            yield
    finally:  # also after a failed run: a notebook's later Lightning use keeps its own levels
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


FINAL_PASS = "scoring the chosen checkpoint"  # the bar of the validation pass after training (:func:`validate`)


class _ProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, one line per epoch: without the logger's version number (``v_num``), which means
    nothing to a user, and without the second bar Lightning opens under it for each validation pass (the
    epoch bar shows the validation metrics when the pass ends)."""

    _started = False  # an epoch has begun (its line is on the bar)
    final = False  # the score of the model chosen at the end (:func:`validate`): its pass has a bar of its own
    label = ""  # what the run is to the user, before "Epoch N" (a stage of crop selftrain / adapt)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items

    def init_validation_tqdm(self) -> Tqdm:
        if self.final:  # minutes on a CPU for 60 photos: silent, the run looked stuck after its last step
            return Tqdm(desc=FINAL_PASS, disable=self.is_disabled, leave=False, dynamic_ncols=True, file=sys.stderr,
                        bar_format=self.BAR_FORMAT)  # fmt: skip
        return Tqdm(disable=True)

    def on_validation_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self.final:
            super().on_validation_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)
            return
        if not self.has_dataloader_changed(dataloader_idx):  # as Lightning's, but for its name ("Validation
            return  # DataLoader 0", drawn once before ours)
        from lightning.pytorch.callbacks.progress.tqdm_progress import convert_inf

        bar = self.val_progress_bar
        bar.reset()
        bar.total, bar.initial = convert_inf(self.total_val_batches_current_dataloader), 0
        bar.set_description(FINAL_PASS)

    def init_sanity_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        # in a log file (no terminal to move back up) the one bar Lightning reuses for every epoch wrote all of
        # them on one line of carriage returns: the line of the epoch before, with its validation metrics, ends
        # here (the last one's when the bar closes)
        bar = self._train_progress_bar if self._started else None
        if bar is not None and not bar.disable and not interactive(bar.fp):
            bar.fp.write("\n")
            bar.fp.flush()
        self._started = True
        super().on_train_epoch_start(trainer, *_)
        if self.label:  # two runs of "Epoch 0" in a row said nothing of which stage was which
            self.train_progress_bar.set_description(f"{self.label}: Epoch {trainer.current_epoch}")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        # the bar ends its line before the error is printed (it was glued to the end of the bar)
        bar = self._train_progress_bar
        if bar is not None and not bar.disable:
            bar.close()


class _WholeSteps(Callback):
    """A Ctrl-C (or SIGTERM) that comes while the optimiser updates the weights is held until Lightning has counted
    the step and stepped the schedule (the end of the batch): one then saved ``interrupted.ckpt`` with some
    parameters stepped and others not (a resume failed on AdamW's half-written amsgrad state). One during the
    forward and backward passes stops the run at once, as before."""

    def __init__(self) -> None:
        self._held = contextlib.ExitStack()

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:  # noqa: ANN401
        from agriseg.batch import signals_deferred

        self._held.close()  # (a step without a batch end between: never nested)
        self._held.enter_context(signals_deferred())

    def on_train_batch_end(self, *_: Any) -> None:  # noqa: ANN401
        self._held.close()  # a Ctrl-C held now acts: KeyboardInterrupt, after the step was counted

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        try:
            self._held.close()  # the handlers back; a Ctrl-C held while the run failed stops nothing more
        except KeyboardInterrupt:
            pass


class _SiblingCheckpointIO(TorchCheckpointIO):
    """Checkpoints written beside their name and renamed into place. Lightning's own write goes through fsspec's
    transaction, whose temporary file is in ``$TMPDIR``: on another file system (``/tmp`` on tmpfs, runs on disk)
    the rename fails and fsspec copies into the checkpoint's name, so a kill during the copy left a truncated
    ``last.ckpt`` (84 MB for fields). Hand-written: Lightning has no option for where that file goes."""

    def save_checkpoint(  # noqa: D102 - TorchCheckpointIO's
        self,
        checkpoint: dict[str, Any],
        path: Any,  # noqa: ANN401 - a path, as Lightning passes it
        storage_options: Any = None,  # noqa: ANN401 - never given here
    ) -> None:
        import torch

        from agriseg.data.files import temporary_sibling

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()  # in memory first, as Lightning does: a full disk is then an OSError (ENOSPC), where
        torch.save(checkpoint, buffer)  # torch.save into a file raised "RuntimeError: unexpected pos" (a traceback)
        tmp = temporary_sibling(path)
        try:
            with open(tmp, "wb") as fh:
                fh.write(buffer.getbuffer())
            # by hand, not atomic_write: the checkpoint a run resumed from (a protected input) is rewritten here
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


class _RunCheckpoint(ModelCheckpoint):
    """Lightning's checkpoint callback that follows its run folder when it is copied or moved: a resume there kept
    only the old folder's best path and forgot its score, so a worse epoch became "best" and was exported (session
    101's sweep). The paths are taken into the new folder when the checkpoint resumed from is in it (the run's own
    folder, moved) and so is the best file; else Lightning's own rule (a resume of another folder's run into this
    one never takes a file of this folder's earlier run for its best)."""

    resumed_from: Path | None = None  # the checkpoint the run resumes from (set before fit)

    @property
    def state_key(self) -> str:
        """As Lightning's ``ModelCheckpoint`` keys its state (the class name is part of the key): checkpoints
        written before this class, and by it, restore its best score alike."""
        return super().state_key.replace(type(self).__qualname__, "ModelCheckpoint", 1)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # noqa: D102 - ModelCheckpoint's
        old, now = state_dict.get("dirpath"), self.dirpath
        best = state_dict.get("best_model_path")
        own = (
            self.resumed_from is not None
            and now is not None
            and self.resumed_from.resolve().parent == Path(now).resolve()
        )
        if own and old and now and old != now and best and (Path(now) / Path(best).name).is_file():

            def moved(path: Any) -> Any:  # noqa: ANN401 - a path Lightning kept, or an empty one
                return str(Path(now) / Path(path).name) if path else path

            top = {moved(k): v for k, v in (state_dict.get("best_k_models") or {}).items()}
            state_dict = {**state_dict, "dirpath": now, "best_model_path": moved(best), "best_k_models": top,
                          "kth_best_model_path": moved(state_dict.get("kth_best_model_path")),
                          "last_model_path": moved(state_dict.get("last_model_path"))}  # fmt: skip
        super().load_state_dict(state_dict)


class _SaveOnCtrlC(Callback):
    """Ctrl-C: the run as it stands goes to ``interrupted.ckpt``, which ``--resume`` continues."""

    def __init__(self, path: Path, resume: str | Path | None = None) -> None:
        self.path = path
        self.resume = Path(resume) if resume is not None else None
        self.saved = False
        self.stepped = False  # a training step ran in this process
        self.finished: Path | None = None  # last.ckpt once training ended (the final validation follows)

    def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - Lightning's hook
        self.stepped = True

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, KeyboardInterrupt):
            return
        if self.finished is not None:  # in the final validation: the task holds the best weights now, not the
            self.path, self.saved = self.finished, True  # run's end; last.ckpt does, and finishes the run
            return
        if self.resume is not None and not self.stepped:  # stopped before its first step, maybe before the
            # checkpoint was even read: the trainer's state is a fresh one, which replaced the interrupted run's
            # checkpoint it resumed (epoch 0, no optimizer: the earlier training lost, session 108's sweep)
            self.path, self.saved = self.resume, True
            return
        try:  # written beside its name and renamed into place by _SiblingCheckpointIO (the checkpoint a resumed
            # run started from may be this file: its later state replacing it is what the next --resume needs)
            trainer.save_checkpoint(self.path)
        except OSError as err:
            log.warning("%s: could not save the interrupted run (%s)", self.path, err.strerror or err)
            return
        self.saved = True


def _other_pipeline(before: Any, now: Any) -> str:  # noqa: ANN401 - configs as checkpoints hold them
    """``; a crop model's checkpoint: resume it with agriseg crop train`` when the two configs' models take the
    other pipeline's channels (3: RGB photos; 4 or 8: Sentinel-2 windows), else ``""``."""

    def channels(cfg: Any) -> Any:  # noqa: ANN401
        return (cfg.get("model") or {}).get("in_channels") if isinstance(cfg, dict) else None

    was, is_now = channels(before), channels(now)
    if was == 3 and is_now in (4, 8):
        return "; an RGB crop model's checkpoint: resume it with agriseg crop train"
    if was in (4, 8) and is_now == 3:
        return "; a field-boundary model's checkpoint: resume it with agriseg fields train"
    return ""


@contextlib.contextmanager
def _ctrl_c(trainer: L.Trainer) -> Iterator[None]:
    """Lightning answers Ctrl-C by saving (our callback), then ``sys.exit(1)``: turned into :class:`Interrupted`,
    whose one line says where the run stopped and how to continue it (exit status 130 in the CLI)."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        yield
    except SystemExit as err:
        if not trainer.interrupted:
            raise
        raise _interrupted(trainer) from err
    except RuntimeError as err:  # a Ctrl-C while the loader started its workers: Lightning's shutdown failed
        # ("Please call `iter(combined_loader)` first"), a traceback with status 1. Lightning marks the trainer
        # interrupted on any error, so only one raised while it handled a Ctrl-C is one (an error of the data,
        # "Class values must be smaller than num_classes", was said as a Ctrl-C, exit 130, its cause hidden)
        from agriseg.batch import interrupted

        if not trainer.interrupted or not interrupted(err):
            raise
        raise _interrupted(trainer) from err
    finally:  # Lightning ignores further Ctrl-Cs while it shuts down; a caller that goes on gets them back
        signal.signal(signal.SIGINT, handler)


def _interrupted(trainer: L.Trainer) -> KeyboardInterrupt:
    """The one-line account of a run stopped by Ctrl-C: where it stood and how to continue it."""
    from agriseg.batch import Interrupted

    bar = getattr(trainer.progress_bar_callback, "_train_progress_bar", None)
    if bar is not None:  # closed before the message, so that the terminal does not redraw it below
        bar.close()
    where = f"after step {trainer.global_step} (epoch {trainer.current_epoch}, as the bar counts)"
    saved = next((c for c in trainer.callbacks if isinstance(c, _SaveOnCtrlC) and c.saved), None)  # type: ignore[attr-defined]
    if saved is not None and saved.resume is not None and not saved.stepped and saved.finished is None:
        where = "before its first step (the checkpoint it resumed is kept as it was)"
    if saved is not None:
        return Interrupted(f"{where}; the same command with --resume {saved.path} continues it")
    return Interrupted(f"{where}; nothing saved")


@dataclass
class FitResult:
    """What :func:`fit` leaves: the trainer, the checkpoint callback and the training wall time."""

    trainer: L.Trainer
    checkpoint: ModelCheckpoint
    seconds: float

    @property
    def best_path(self) -> str:
        """The best checkpoint on the task's monitored metric (the last one when none was scored)."""
        return self.checkpoint.best_model_path or self.checkpoint.last_model_path

    @property
    def last_path(self) -> str:
        """The checkpoint at the end of training (``last.ckpt``)."""
        return self.checkpoint.last_model_path


def build_task(task_class: type[T], config: dict[str, Any]) -> T:
    """``task_class(config)``, before a run writes anything: a model its config cannot build is a usage error.

    The model's settings that only the registries can check (an encoder name timm and smp do not know, an
    encoder file that does not fit) fail here, with the registry's message, rather than after the data split
    was written.

    Raises:
        OptionError: ``model: <what is wrong>``.
    """
    with _model_errors():
        return task_class(config)


def check_model_builds(model: Any) -> None:  # noqa: ANN401 - a ModelConfig
    """Build the model of a config once, without pretrained weights (no download), so that a command that works
    before it trains (``crop selftrain``'s pseudo-labels) refuses a model it cannot build first.

    Raises:
        OptionError: as :func:`build_task`.
    """
    from agriseg.models import build_model

    with _model_errors():
        build_model(model, encoder_weights=None)


@contextlib.contextmanager
def _model_errors() -> Iterator[None]:
    """A registry's ``ValueError`` / ``KeyError`` of a model's settings as ``ModelOptionError("model: ...")``."""
    from agriseg.config import ModelOptionError

    try:
        yield
    except (ValueError, KeyError) as err:
        msg = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        raise ModelOptionError(f"model: {msg}") from err


# what a training run writes in its output_dir that marks a folder as a run's (test_metrics.json too, but only with
# one of these: a folder holding only a file of that name is a user's, and was written over)
RUN_FILES = ("last.ckpt", "model.safetensors", "split.json", INTERRUPTED_NAME)

# the checkpoints a training run writes (ModelCheckpoint's best and last, Ctrl-C's): any other .ckpt in its folder is
# a user's, which neither marks the folder as a run's nor is removed by --overwrite (both were: session 106's sweep)
RUN_CHECKPOINT = re.compile(r"(last|best-epoch=\d+|interrupted(-\d+)?)\.ckpt")


def _a_runs_logs(path: Path) -> bool:
    """Whether ``path`` is the ``logs`` folder a run writes (Lightning's CSV logger: ``logs/version_<n>``); a user's
    own ``logs`` folder made any folder a run's."""
    return path.is_dir() and any(p.name.startswith("version_") for p in path.iterdir())


def _a_runs_split(path: Path) -> bool:
    """Whether ``path`` is the ``split.json`` a run writes: ``{"train": [...], "val": [...]}`` of names."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and set(data) == {"train", "val"} and all(isinstance(v, list) for v in data.values())


def check_run_folder(
    output_dir: str | Path, replaces: bool = True, overwrite: bool = False, resume: str | Path | None = None
) -> Path:
    """Create ``output_dir`` for a training run, refusing a file in the way and a folder of someone else's
    files (a folder holding none of :data:`RUN_FILES` nor a checkpoint, or a ``model.safetensors`` that is no
    agriseg model). An earlier run's folder holding its model is refused to a run that ``replaces`` it (one
    that does not resume) unless ``overwrite``; then a warning says its model will be replaced. So is one a
    ``resume`` of an older checkpoint would replace (the model of a run made after that checkpoint), and a folder
    of a run that did not end (checkpoints, no model) to a run that replaces it unless ``overwrite``: the message
    names the checkpoint ``--resume`` continues. A file under a checkpoint's name that is no checkpoint (not a
    PyTorch zip file) is a user's: kept, and the run refused.

    Raises:
        OptionError: naming ``output_dir``.
    """
    from agriseg.config import OptionError
    from agriseg.data.files import SYSTEM_FILES, ensure_outdir

    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise OptionError(f"output_dir {out}: an existing file, not a folder")
    held = [c.name for c in out.iterdir() if c.name not in SYSTEM_FILES] if out.is_dir() else []
    marks = [n for n in held if n in RUN_FILES or RUN_CHECKPOINT.fullmatch(n) or n == "logs" and _a_runs_logs(out / n)]
    if held and not marks:
        from agriseg.batch import listed

        shown = listed(sorted(held), 3)
        raise OptionError(
            f"output_dir {out}: exists and was not written by a training run (it holds {shown}); choose another"
        )
    import zipfile

    if out.is_dir():  # a killed run's half-written checkpoints: agriseg's own, not a user's file
        from agriseg.data.files import clean_stale_temporaries

        clean_stale_temporaries(out)
    for ckpt in _checkpoints(out) if out.is_dir() else ():  # last.ckpt, interrupted.ckpt: rewritten by the run
        # (every PyTorch checkpoint is a zip file; an empty one, of a run killed as it began to save, holds nothing)
        if ckpt.is_file() and ckpt.stat().st_size and not zipfile.is_zipfile(ckpt):
            raise OptionError(
                f"output_dir {out}: its {ckpt.name} is no checkpoint agriseg wrote (kept); choose another"
            )
    split = out / "split.json"
    if split.is_file() and not _a_runs_split(split):  # a user's own split list under the run's name: kept
        raise OptionError(
            f"output_dir {out}: its split.json was not written by a training run (kept); choose another output_dir"
        )
    model = out / "model.safetensors"
    if model.is_file():  # a user's file under the run's model name is never replaced
        from safetensors import safe_open

        try:  # agriseg's metadata key, whatever the version that wrote it (its config may not validate today)
            with safe_open(str(model), "numpy") as f:
                ours = "agriseg_model_config" in (f.metadata() or {})
        except Exception:  # noqa: BLE001 - not a safetensors file at all
            ours = False
        if not ours:
            raise OptionError(
                f"output_dir {out}: its model.safetensors was not written by agriseg (kept); choose another output_dir"
            )
        from agriseg.manifest import output_owner

        if owner := output_owner(model):  # another command's model (crop selftrain's): not a training run's to replace
            raise OptionError(
                f"output_dir {out}: its model.safetensors is the output of `agriseg {owner}`; choose another"
            )
        # a stopped run's checkpoint older than the model: another run finished after it (its own last.ckpt, of the
        # run that then wrote the model, continues that run)
        resumed = Path(resume) if resume is not None and Path(resume).name.startswith("interrupted") else None
        later = resumed is not None and resumed.is_file() and model.stat().st_mtime > resumed.stat().st_mtime
        if resumed is not None and later and not replaces and not overwrite:  # a fresh run's hint after a stop led here
            raise OptionError(
                f"output_dir {out}: holds the model of a run made after {resumed.name}; resuming it would replace that "
                "model when it ends: --overwrite replaces it (or give another output_dir)"
            )
        stopped = [c for c in _held_checkpoints(out) if c.name.startswith("interrupted")
                   and c.stat().st_mtime > model.stat().st_mtime]  # fmt: skip
        if replaces and not overwrite and stopped:  # a run started after the model (--overwrite), then stopped:
            cont = max(stopped, key=lambda c: c.stat().st_mtime)  # its checkpoint named, as README says
            raise OptionError(
                f"output_dir {out}: holds the model of an earlier run and {cont.name}, of a run stopped after it: "
                f"--resume {cont} continues that run, --overwrite starts afresh (or give another output_dir)"
            )
        if replaces and not overwrite:  # a model the user trained is not replaced unasked (it was, with a warning)
            raise OptionError(
                f"output_dir {out}: holds the model of an earlier run; --overwrite replaces it when this run ends "
                "(or give another output_dir; --resume continues a run)"
            )
        if replaces:
            log.warning("%s: holds the model of an earlier run, which this run replaces when it ends", out)
    elif replaces and not overwrite and (ckpts := _held_checkpoints(out)):
        # a run that did not end (Ctrl-C, kill -9, out of memory): the same command again replaced its best and
        # last checkpoints (hours of training) with a warning
        stops = sorted((c for c in ckpts if c.name.startswith("interrupted")), key=lambda c: c.stat().st_mtime)
        cont = stops[-1] if stops else out / "last.ckpt" if (out / "last.ckpt").is_file() else ckpts[-1]
        raise OptionError(
            f"output_dir {out}: holds the checkpoints of a run that did not end ({', '.join(c.name for c in ckpts)}); "
            f"--resume {cont} continues it, --overwrite starts afresh (or give another output_dir)"
        )
    return ensure_outdir(out)


def _held_checkpoints(out: Path) -> list[Path]:
    """The checkpoints in ``out`` that hold something (an empty one, of a run killed as it began to save, holds
    nothing to lose)."""
    return sorted(c for c in _checkpoints(out) if c.is_file() and c.stat().st_size) if out.is_dir() else []


def _checkpoints(out: Path) -> list[Path]:
    """The checkpoints a run wrote in ``out`` (:data:`RUN_CHECKPOINT`), not agriseg's work-in-progress ones (a run
    killed while it wrote one left ``.last.ckpt.agriseg-tmp-<pid>.ckpt``, which then refused the folder as "no
    checkpoint agriseg wrote"), nor a user's ``mine.ckpt``."""
    return [c for c in out.glob("*.ckpt") if RUN_CHECKPOINT.fullmatch(c.name)]


def replaces_earlier_run(output_dir: str | Path, resume: str | Path | None) -> bool:
    """Whether a run into ``output_dir`` replaces the model of a run there: any run but one that continues that
    folder's own run (``--resume`` of a checkpoint in it); ``--resume`` of another folder's run replaces it too."""
    return resume is None or Path(resume).resolve().parent != Path(output_dir).resolve()


def earlier_checkpoints(out: Path, keep: Sequence[str | Path | None] = ()) -> dict[Path, tuple[int, int]]:
    """The checkpoints in ``out`` before a run starts, by (size, mtime), but those in ``keep`` (the files the run
    reads: ``train.init_weights``): :func:`drop_earlier_checkpoints` removes those the run did not rewrite."""
    kept = {Path(k).resolve() for k in keep if k}
    found = {}
    for ckpt in _checkpoints(out):
        try:
            st = ckpt.stat()
        except OSError:
            continue
        if ckpt.resolve() not in kept:
            found[ckpt] = (st.st_size, st.st_mtime_ns)
    return found


def drop_earlier_checkpoints(earlier: Mapping[Path, tuple[int, int]]) -> None:
    """Remove the checkpoints an earlier run left (:func:`earlier_checkpoints`) that this run did not rewrite:
    once ``--overwrite`` replaced its model, its ``best-epoch=09.ckpt`` beside this run's files was another
    model's."""
    for ckpt, stamp in earlier.items():
        try:
            st = ckpt.stat()
            if (st.st_size, st.st_mtime_ns) == stamp:
                ckpt.unlink()
        except OSError:  # gone already, or not ours to remove: it stays
            pass


def check_accelerator(accelerator: str, precision: str | None = None) -> None:
    """Refuse, before a run writes anything, an accelerator this machine does not have (Lightning's own refusal
    came after the run folder was made, as a 54-line traceback), and fp16 where the run is on the CPU.

    Raises:
        OptionError: naming ``train.accelerator`` and what the machine has; ``train.precision`` 16-mixed on a
            CPU (Lightning runs it as bf16-mixed there, with a warning the run hid, while the config said fp16).
    """
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator, XLAAccelerator

    from agriseg.config import OptionError

    have = {"cuda": CUDAAccelerator.is_available(), "mps": MPSAccelerator.is_available()}
    if accelerator == "tpu":  # (torch_xla imported only then; without it, Lightning's "Requirement not met" came)
        have["tpu"] = XLAAccelerator.is_available()
    missing = {"gpu": not any(have.values()), "cuda": not have["cuda"], "mps": not have["mps"],
               "tpu": not have.get("tpu", False)}  # fmt: skip
    if missing.get(accelerator, False):
        found = ", ".join(["cpu", *(k for k, v in have.items() if v)])
        raise OptionError(f"train.accelerator: {accelerator}, but this machine has no such device ({found} only); "
                          "use auto or cpu")  # fmt: skip
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not any(have.values()))
    if precision == "16-mixed" and on_cpu:
        raise OptionError("train.precision: 16-mixed runs on a GPU only (on a CPU it would be bf16-mixed); "
                          "use bf16-mixed or 32-true (--set train.precision=bf16-mixed)")  # fmt: skip


def check_resume(task: BaseTask, resume: str | Path | None) -> None:
    """Check a checkpoint to resume from before a run writes anything: readable and safe, holding this task's
    model (its tensors by name and shape), and say which settings differ from the run it continues.

    Resuming continues the checkpoint's optimiser and learning-rate schedule, so changed ``train`` settings
    (``lr``, ``epochs``...) do not all apply: each one is named in a warning.

    Raises:
        ModelLoadError: naming ``resume``: missing, unreadable or unsafe, not a training checkpoint, or a
            checkpoint of another model.
        OptionError: a setting of :data:`MEANING` (the windows, divisor, classes...) other than the run's.
    """
    from agriseg.models.io import ModelLoadError, check_training_checkpoint, tensors_misfit

    if resume is None or getattr(task, "_checked_resume", None) == str(resume):  # checked once per run
        return
    ckpt = check_training_checkpoint(resume)  # read once (weights_only=True)
    task._resume_epoch = int(ckpt.get("epoch") or 0)  # type: ignore[assignment]  # fit: --epochs must reach it
    # batches done of an epoch it stopped inside (--max-steps, Ctrl-C): 0 at an epoch's end
    progress = ((ckpt.get("loops") or {}).get("fit_loop") or {}).get("epoch_loop.batch_progress") or {}
    task._resume_mid_epoch = int((progress.get("current") or {}).get("completed") or 0)  # type: ignore[assignment]
    before = (ckpt.get("hyper_parameters") or {}).get("config")
    now = dict(task.hparams).get("config")
    if misfit := tensors_misfit(task.state_dict(), ckpt["state_dict"], "the checkpoint", "this config's model"):
        raise ModelLoadError(
            f"{resume}: a checkpoint of another model ({misfit}); resume with the config it was trained with"
            + _other_pipeline(before, now)
        )
    if isinstance(before, dict) and isinstance(now, dict):
        changes = _changed(before, now).items()
        if meaning := [(k, a, b) for k, (a, b) in changes if _means(k) and _holds(before, _means(k))]:
            from agriseg.config import OptionError

            # the model was exported with the new value, contradicting what its weights learned (session 103)
            key, a, b = meaning[0]
            if (whole := _means(key)) != key:  # a colour of data.colormap: the whole map, as the config gives it
                key, a, b = whole, _at(before, whole), _at(now, whole)
            raise OptionError(
                f"{resume}: its run read {key} {a}, this config {b}, which changes what the model's inputs or "
                f"classes mean: resume with {key}: {a}, or train afresh"
            )
        # every section: loss, augment and the model's mean / std changed the run unsaid (session 101's sweep)
        changed = [f"{k}: {a} -> {b}" for k, (a, b) in changes if k not in APPLY]
        if (epochs := dict(changes).get("train.epochs")) is not None:  # applied, but its schedule is not the plan
            planned, now_epochs = (f"{n} epoch{'s' * (n != 1)}" for n in epochs)
            log.warning(
                "%s: resuming a run planned for %s with %s: it stops when %s are done in all, and its learning "
                "rate follows neither plan's schedule exactly (train afresh for a whole schedule of %s)",
                resume, planned, now_epochs, now_epochs, now_epochs,
            )  # fmt: skip
        if changed:
            log.warning(
                "%s: resuming with settings that differ from its run (%s); the run continues its own optimiser "
                "and learning-rate schedule, so not all of them apply",
                resume, "; ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else ""),
            )  # fmt: skip
    task._checked_resume = str(resume)  # type: ignore[assignment]


# settings that say what a model's inputs and classes are: a resumed run cannot change them (its weights learned
# the checkpoint's, and the model it exports is described by the new ones)
MEANING = frozenset({"data.windows", "data.divisor", "data.offset", "data.target", "model.mean", "model.std",
                     "model.class_names", "model.in_channels",
                     # a crop label's colours or ids: which class each pixel trains (session 106's sweep)
                     "data.colormap", "data.label_mode"})  # fmt: skip


def _means(dotted: str) -> str:
    """The :data:`MEANING` setting a changed key is or lies in (``data.colormap.255,0,0`` is in ``data.colormap``),
    or ``""``."""
    return next((m for m in MEANING if dotted == m or dotted.startswith(m + ".")), "")


def _at(config: Mapping[str, Any], dotted: str) -> Any:
    """The value at ``dotted`` of a nested config dict (None where it has none)."""
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


# settings a resumed run takes as given (when it stops, how it loads and exports): not worth a warning
APPLY = frozenset({"train.epochs", "train.max_steps", "train.max_minutes", "train.num_workers", "train.export",
                   "output_dir", "name", "model.infer_long_side", "model.infer_tta",  # inference: the export's own
                   "model.encoder_weights"})  # fmt: skip


def _holds(config: Mapping[str, Any], dotted: str) -> bool:
    """Whether a nested config dict has the key ``dotted`` (a checkpoint of a release before an option has not)."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _changed(before: Mapping[str, Any], now: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two nested config dicts: ``{"train.lr": (0.002, 0.5)}``."""
    out: dict[str, tuple[Any, Any]] = {}
    for k in sorted(before.keys() | now.keys()):
        a, b = before.get(k), now.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.update(_changed(a, b, f"{prefix}{k}."))
        elif a != b:
            out[f"{prefix}{k}"] = (a, b)
    return out


def _exported_since(checkpoint: str | Path) -> bool:
    """Whether the run folder of ``checkpoint`` holds a model exported after it was written (the run ended)."""
    model = Path(checkpoint).parent / "model.safetensors"
    try:
        return model.stat().st_mtime_ns >= Path(checkpoint).stat().st_mtime_ns
    except OSError:
        return False


def _interrupted_path(out: Path, resume: str | Path | None) -> Path:
    """Where Ctrl-C saves this run: the checkpoint it resumed from when that was an interrupted run's (its
    later state replaces it), else ``interrupted.ckpt``, or the next free ``interrupted-<n>.ckpt`` beside
    another run's, which a second Ctrl-C would otherwise have replaced though the message said "kept"."""
    if (
        resume is not None
        and Path(resume).resolve().parent == out.resolve()
        and Path(resume).name.startswith("interrupted")
    ):
        return Path(resume)
    path, n = out / INTERRUPTED_NAME, 1
    while path.exists():
        n += 1
        path = out / f"interrupted-{n}.ckpt"
    return path


def fit(
    task: BaseTask,
    datamodule: L.LightningDataModule,
    train: TrainOptions,
    output_dir: str | Path,
    resume: str | Path | None = None,
    max_epochs: int | None = None,
    progress: bool = True,
    resumable: bool = True,
    label: str = "",
) -> FitResult:
    """Train ``task`` on ``datamodule``: ``best-*.ckpt`` (``task.monitor``, higher is better), ``last.ckpt``
    and ``logs/`` (CSV, with the learning rate) in ``output_dir``.

    Args:
        task: the training task.
        datamodule: its train / val loaders.
        train: the run options (epochs, time and step limits, precision, ...).
        output_dir: where checkpoints and logs go (created).
        resume: a Lightning checkpoint to continue from (read with ``weights_only=True``).
        max_epochs: override ``train.epochs``.
        progress: show the progress bar.
        resumable: on Ctrl-C, save the run as it stands for ``--resume`` (``interrupted.ckpt``, or
            ``interrupted-2.ckpt``... beside one this run did not start from). A caller without ``--resume``
            (a stage of ``selftrain``) passes False: nothing is saved, nothing suggests ``--resume``.
        label: put before the bar's "Epoch N" (``stage 1 of 2``).

    Raises:
        ModelLoadError: naming ``resume`` when it is not a readable training checkpoint.
    """
    from agriseg.data.files import ensure_outdir
    from agriseg.runtime import tune_allocator

    tune_allocator()  # before the first batch: see benchmarks/train_allocator.py
    out = ensure_outdir(output_dir)  # a file in the way is a usage error naming it
    check_resume(task, resume)
    epochs, done = max_epochs or train.epochs, getattr(task, "_resume_epoch", 0)
    mid = getattr(task, "_resume_mid_epoch", 0)
    # more: Lightning refuses it too, with a traceback of its own words; as many: Lightning trains nothing, and the
    # run rewrote its model and scores, saying "2 epochs" (session 101) -- but for a checkpoint at the end of a run
    # that exported no model since (stopped in its final validation): the run is finished from it
    if resume is not None and done >= epochs and not (done == epochs and not mid and not _exported_since(resume)):
        from agriseg.config import OptionError

        if mid:  # Lightning counts an epoch cut short as begun: it goes on with it only given more epochs
            raise OptionError(
                f"--epochs {epochs}: {resume} stopped after {mid} batches of epoch {done}, which Lightning finishes "
                f"only given more epochs (--epochs {done + 1} or more)"
            )
        raise OptionError(
            f"--epochs {epochs}: {resume} is at epoch {done} of its run already, nothing is left to train; give "
            f"more epochs to go on from it (--epochs {done + 1} or more)"
        )
    # no "-v1" copies beside an earlier run's checkpoints (84 MB each, and a glob picked the dead run's): this
    # run's replace them by name; the exported model comes from this run's own best_model_path
    ckpt = _RunCheckpoint(
        dirpath=out, filename="best-{epoch:02d}", monitor=task.monitor, mode="max", save_last=True, save_top_k=1,
        enable_version_counter=False,
    )  # fmt: skip
    ckpt.resumed_from = Path(resume) if resume is not None else None
    on_ctrl_c = _SaveOnCtrlC(_interrupted_path(out, resume), resume)
    resumed_interrupted = resume is not None and Path(resume).resolve() == on_ctrl_c.path.resolve()
    earlier = [p for p in out.glob("interrupted*.ckpt") if p.resolve() != Path(resume or out).resolve()]
    if earlier and resumable and resume is None:
        latest = max(earlier, key=lambda p: p.stat().st_mtime)  # the last interruption (names sort 10 before 2)
        log.warning(
            "%s: the checkpoint of an interrupted run, kept; this run starts afresh (--resume %s continues that one)",
            latest, latest,
        )  # fmt: skip
    elif resumable and resume is None and (out / "last.ckpt").is_file() and not (out / "model.safetensors").exists():
        log.warning(  # a run killed (kill -9, out of memory) before it ended: its last checkpoint is all it left
            "%s: the last checkpoint of a run that did not end; this run starts afresh and replaces it (--resume %s "
            "continues that one)",
            out / "last.ckpt", out / "last.ckpt",
        )  # fmt: skip
    callbacks: list = [ckpt, LearningRateMonitor("step"), _WholeSteps(), *([on_ctrl_c] if resumable else [])]
    progress = progress and not quiet()
    if progress:
        # in a log file a redraw is bytes for good: every 20th step there (each step on a terminal)
        bar = _ProgressBar(refresh_rate=1 if interactive(sys.stderr) else 20)
        bar.label = label
        callbacks.append(bar)
    with quiet_lightning():
        trainer = L.Trainer(
            max_epochs=max_epochs or train.epochs,
            max_steps=train.max_steps or -1,
            max_time=dt.timedelta(minutes=train.max_minutes) if train.max_minutes else None,
            accelerator=train.accelerator,
            precision=train.precision,
            callbacks=callbacks,
            plugins=[_SiblingCheckpointIO()],
            logger=CSVLogger(out, name="logs"),
            limit_train_batches=train.limit_train_batches,
            check_val_every_n_epoch=train.val_every,
            log_every_n_steps=5,
            num_sanity_val_steps=0,
            enable_progress_bar=progress,
            enable_model_summary=False,
            deterministic=False,
        )
        t0 = time.time()
        with _ctrl_c(trainer):
            trainer.fit(task, datamodule=datamodule, ckpt_path=resume, weights_only=True)
        # last.ckpt is always the model at the end of training, written here: since Lightning 2.6 the callback
        # rewrites it only when a new best is saved (so it was the best checkpoint, picked on validation),
        # and nothing is written when training stops (max_minutes, max_steps, val_every) before any validation
        last = out / "last.ckpt"
        batches = trainer.fit_loop.epoch_loop.batch_progress
        if batches.is_last_batch:  # the epoch ended: its batch count is that of a finished epoch, not of the next
            # one (a resume with max_steps took the next epoch as done and trained nothing, Lightning 2.6)
            batches.reset_on_run()
        trainer.save_checkpoint(last)
        ckpt.last_model_path = str(last)
        on_ctrl_c.finished = last  # a Ctrl-C from here on (the final validation) is continued from last.ckpt
        if resumed_interrupted:
            on_ctrl_c.path.unlink(missing_ok=True)  # the run it held has finished now
    return FitResult(trainer, ckpt, time.time() - t0)


def validate(trainer: L.Trainer, task: BaseTask, datamodule: L.LightningDataModule) -> dict[str, float]:
    """Validation metrics of ``task`` as it is now (e.g. after loading the exported checkpoint), quietly."""
    bar = trainer.progress_bar_callback
    if isinstance(bar, _ProgressBar):  # one bar for the pass, none of the training's
        bar.final = True
    elif bar is not None:
        bar.disable()
    loggers, trainer.loggers = trainer.loggers, []  # not a row of logs/.../metrics.csv: that is the training's
    # curve, and this score of the model chosen at its end came as one more row at the last step
    try:
        with quiet_lightning(), _ctrl_c(trainer):
            res = trainer.validate(task, datamodule=datamodule, verbose=False)[0]
    finally:
        trainer.loggers = loggers
    return {k: float(v) for k, v in res.items()}


def load_weights(task: BaseTask, checkpoint: str | Path) -> None:
    """Load the ``state_dict`` of one of this run's checkpoints into ``task`` (``weights_only=True``)."""
    from agriseg.models.io import torch_load

    state = torch_load(checkpoint, "cannot read as a checkpoint")
    task.load_state_dict(state["state_dict"])


def summary_line(what: str, res: FitResult, val: Mapping[str, float], model_path: str | Path) -> str:
    """One line for the user: ``<what>: 3 epochs, 120 steps in 2.4 min; val/miou 0.8123 ...; model: PATH``."""
    took = f"{res.seconds / 60:.1f} min" if res.seconds >= 60 else f"{res.seconds:.0f} s"  # (a short run: "0.0 min")
    t = res.trainer
    epochs = t.current_epoch
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in val.items())
    steps = f"{t.global_step} step{'s' if t.global_step != 1 else ''}"
    # stopped in an epoch (--max-steps 2 of 30 batches): Lightning counts it as begun ("1 epoch" said of 2 steps)
    done, per_epoch = t.fit_loop.epoch_loop.batch_progress.current.completed, t.num_training_batches
    if 0 < done < per_epoch < float("inf") and epochs > 0:
        # by the steps (one a batch): Lightning's epoch counter grows by one more at each resume of a cut epoch
        whole, left = divmod(t.global_step, int(per_epoch))
        whole, done = (whole, left) if left else (epochs - 1, done)
        part = f"{done} of {per_epoch} batches of epoch {whole + 1}"
        said = part if not whole else f"{whole} epoch{'s' if whole != 1 else ''} and {part}"
    else:
        said = f"{epochs} epoch{'s' if epochs != 1 else ''}"
    return f"{what}: {said}, {steps} in {took}{_cut(t)}; {metrics}; model: {model_path}"


def _cut(t: L.Trainer) -> str:
    """`` (stopped by --max-minutes)`` when the time limit ended the run, not its epochs or steps (a run cut at 4 of
    100 epochs said nothing of it); else ``""``."""
    timer = next((c for c in getattr(t, "callbacks", []) if isinstance(c, Timer)), None)
    left = timer.time_remaining() if timer is not None else None
    return " (stopped by --max-minutes)" if left is not None and left <= 0 else ""
