"""LoRA SFT of a VLM on MAgSeg instruction data with TRL's ``SFTTrainer`` (completion-only loss).

Needs the ``text`` extra.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agriseg.batch.progress import library_bars_off
from agriseg.config import OptionError
from agriseg.data.files import atomic_write, dumps_json
from agriseg.text.config import LoraAdapterConfig, SFTRunConfig, TrainCommon
from agriseg.text.modeling import (
    absolute_adapter_base,
    check_class_words,
    is_adapter,
    load_vlm,
    resolve_device,
    resolve_model_name,
)


def load_dataset_dir(path: str, max_samples: int | None = None) -> Any:
    """Load a dataset written by ``agriseg text dataset`` (``datasets.save_to_disk``).

    Raises:
        FileNotFoundError: if the folder is missing.
        OptionError: a file, a folder that is not a saved data set, or one without the prompt/completion/image
            columns.
    """
    from datasets import load_from_disk

    p = Path(path)
    if p.is_file():  # "not found" of a file that is there misled (session 96's sweep)
        raise OptionError(f"{p}: a file, not a data set folder (write one with `agriseg text dataset`)")
    if not p.is_dir():
        raise FileNotFoundError(f"{p}: dataset folder not found (write one with `agriseg text dataset`)")
    try:
        ds = load_from_disk(str(p))
    except IndexError:  # datasets' reader of a saved set of no rows
        raise OptionError(f"{p}: holds no samples (write one with `agriseg text dataset`)") from None
    except (FileNotFoundError, ValueError, OSError) as err:  # a folder, but not a saved data set
        raise OptionError(f"{p}: not a data set folder (write one with `agriseg text dataset`)") from err
    missing = {"prompt", "completion", "images", "truth", "box", "class_names"} - set(ds.column_names)
    if missing:
        raise OptionError(f"{p}: not a data set of `agriseg text dataset` (no {', '.join(sorted(missing))} column)")
    if len(ds) == 0:
        raise OptionError(f"{p}: holds no samples (write one with `agriseg text dataset`)")
    if max_samples is not None:
        ds = ds.select(range(min(max_samples, len(ds))))
    return ds


def check_lora_targets(spec: LoraAdapterConfig, model: Any) -> None:
    """Refuse ``lora.target_modules`` naming no module of ``model`` (peft matches a name to the end of a module's
    dotted name), before training starts: peft's own error named neither the key nor the valid names.

    Raises:
        OptionError: the names that match nothing, with the model's linear layers' names.
    """
    if not spec.enabled or spec.target_modules == "all-linear":
        return
    import torch

    # the layers peft can adapt (a name that matches only others, self_attn or norm, fails inside peft)
    kinds = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    layers = [n for n, m in model.named_modules() if isinstance(m, kinds)]
    found = [t for t in spec.target_modules if t and any(n == t or n.endswith("." + t) for n in layers)]
    missing = [t for t in spec.target_modules if t not in found]
    from agriseg.batch import listed

    if not found:  # peft needs one name that matches: a list shared across models may hold others
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
        raise OptionError(
            f"lora.target_modules: {listed([repr(t) for t in missing], 3)} name no layer of the model that LoRA "
            f"adapts (its linear layers: {listed(linear, 8)}; or all-linear)"
        )
    if missing:
        logging.getLogger("agriseg").warning(
            "lora.target_modules: %s name%s no layer of this model (LoRA adapts %s)",
            listed(missing, 3), "s" if len(missing) == 1 else "", ", ".join(found),
        )  # fmt: skip


def peft_config(spec: LoraAdapterConfig) -> Any | None:
    """A peft ``LoraConfig`` for causal-LM training, or None when LoRA is disabled."""
    if not spec.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=spec.target_modules,
        task_type="CAUSAL_LM",
    )


def _checkpointing_key() -> str:
    """``activation_checkpointing`` where transformers has it (5.x: the old name warns), else the old name."""
    from transformers import TrainingArguments

    fields = TrainingArguments.__dataclass_fields__
    return "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"


def precision_used(cfg: TrainCommon) -> str:
    """The precision a run of ``cfg`` trains in: ``fp32`` on the CPU whatever was asked, ``bf16`` for ``auto`` on
    a GPU (recorded in ``agriseg_train_config.json``, whose ``precision`` is what was asked)."""
    if resolve_device(cfg.device) == "cpu":
        return "fp32"
    return "bf16" if cfg.precision == "auto" else cfg.precision


def common_args(cfg: TrainCommon) -> dict[str, Any]:
    """TrainingArguments shared by SFT and GRPO, with the CPU-safe choices applied."""
    dev = resolve_device(cfg.device)
    on_cpu = dev == "cpu"
    bf16 = precision_used(cfg) == "bf16"
    if on_cpu and cfg.precision in ("bf16", "fp16"):  # half precision is for GPUs here: said, not silently dropped
        import logging

        logging.getLogger("agriseg").warning(
            "precision %s: training on the CPU runs in fp32 (agriseg uses %s on a GPU only)",
            cfg.precision,
            cfg.precision,
        )
    return {
        "output_dir": cfg.output_dir,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler_type,
        "warmup_steps": cfg.warmup_steps,
        "weight_decay": cfg.weight_decay,
        "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "max_steps": cfg.max_steps,
        "num_train_epochs": cfg.num_train_epochs,
        "seed": cfg.seed,
        "logging_steps": cfg.logging_steps,
        "use_cpu": on_cpu,
        "bf16": bf16 and not on_cpu,
        "fp16": cfg.precision == "fp16" and not on_cpu,
        _checkpointing_key(): cfg.gradient_checkpointing,
        "dataloader_num_workers": cfg.dataloader_num_workers,
        "report_to": [],
        "save_strategy": "no",
        "disable_tqdm": False,  # a bar over the steps (show_progress makes its log lines readable)
    }


TEXT_META = "agriseg_text.json"


def dataset_meta(ds: Any, path: str | Path = "the data set") -> dict[str, Any]:
    """Class names, grid and patch size of an instruction dataset (from its first row), every row checked:
    its ``truth`` (GRPO's reward reads it), ``class_names`` and images, as `agriseg text dataset` writes them. A
    row edited by hand stopped a run midway, after the model was loaded, with a traceback or numpy's words.

    Raises:
        OptionError: a row whose ``truth``, ``class_names`` or images are not as `agriseg text dataset` writes
            them (a grid of another size, a class id outside its classes, an image missing), naming ``path``
            and the row.
    """

    def refuse(where: str, problem: str) -> OptionError:
        return OptionError(f"{path}: {where} {problem}")

    grids = [(f"row {i}, truth", t) for i, t in enumerate(ds["truth"], 1)]
    names = [(f"row {i}, class_names", t) for i, t in enumerate(ds["class_names"], 1)]
    parsed: list[Any] = []
    for where, text in [*names[:1], *grids, *names[1:]]:  # row 1's class names first: the ids are checked by them
        try:
            value = json.loads(text)
        except (TypeError, ValueError) as err:
            raise refuse(where, f"is not the JSON `agriseg text dataset` writes ({err})") from None
        if not isinstance(value, list) or not value:
            raise refuse(where, "is not a list, as `agriseg text dataset` writes it")
        parsed.append(value)
    classes, truths, others = parsed[0], parsed[1 : len(grids) + 1], parsed[len(grids) + 1 :]
    for (where, _), value in zip(names[1:], others, strict=True):
        if value != classes:  # one data set, one set of classes: the model learns one list
            raise refuse(where, f"are {', '.join(map(str, value))}, not row 1's {', '.join(map(str, classes))}")
    grid = len(truths[0])
    for (where, _), value in zip(grids, truths, strict=True):
        if not all(isinstance(r, list) and len(r) == len(value) for r in value):
            raise refuse(where, "is not a square grid of class ids")
        if len(value) != grid:
            raise refuse(where, f"is a {len(value)}x{len(value)} grid, not row 1's {grid}x{grid}")
        if bad := [v for r in value for v in r if type(v) is not int or not 0 <= v < len(classes)][:1]:
            raise refuse(where, f"holds {json.dumps(bad[0])}, not a class id 0-{len(classes) - 1} of its class_names")
    _check_images(ds, refuse)
    row = ds[0]
    box = row["box"]
    return {
        "class_names": classes,
        "grid": grid,
        "patch": int(box[2] - box[0]),
        "patch_image": len(row["images"]) == 2,
    }


def _check_images(ds: Any, refuse: Callable[[str, str], OptionError]) -> None:  # noqa: ANN401 - a Dataset
    """Every row has one image per image placeholder of its prompt, none missing, and as many as row 1 (read as
    Arrow lists: no image is decoded)."""
    import numpy as np
    import pyarrow.compute as pc

    column = ds.with_format("arrow")["images"]  # (rows,) lists of images, undecoded
    counts = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(column)
    if flat.null_count:  # an image given as None: "only a single or a list of entries is supported", a traceback
        rows = pc.list_parent_indices(column).filter(flat.is_null()).to_numpy(zero_copy_only=False)
        raise refuse(f"row {int(rows[0]) + 1}", "has an image missing (null)")
    wanted = np.array([sum(c.get("type") == "image" for m in p for c in (m.get("content") or []) if isinstance(c, dict))
                       for p in ds["prompt"]])  # fmt: skip
    for i in np.flatnonzero((counts != wanted) | (counts != counts[0]))[:1]:
        if counts[i] != wanted[i]:
            raise refuse(f"row {i + 1}", f"has {counts[i]} image(s) for the {wanted[i]} its prompt shows")
        raise refuse(f"row {i + 1}", f"has {counts[i]} image(s), row 1 {counts[0]}")


def answer_tokens(ds: Any, processor: Any) -> list[int]:
    """The length in tokens of every answer (the assistant's RRLE) of an instruction dataset, counted with
    the model's tokenizer: the generation budget (GRPO ``max_completion_length``, predict
    ``--max-new-tokens``) must fit the longest, or masks are cut."""
    tok = getattr(processor, "tokenizer", processor)
    texts = []
    for turns in ds["completion"]:
        content = turns[-1]["content"]
        texts.append(content if isinstance(content, str) else "".join(c.get("text") or "" for c in content))
    return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    """The ``agriseg_text.json`` a training run saved next to the model ({} when absent)."""
    p = Path(model_dir) / TEXT_META
    if not p.is_file():
        return {}
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise OptionError(f"{p}: not a readable {TEXT_META} ({' '.join(str(err).split())})") from None
    if not isinstance(meta, dict):
        raise OptionError(f"{p}: not a readable {TEXT_META} (a JSON object is expected)")
    for key, (ok, want) in _META_TYPES.items():  # a hand-edited file: each value as the type a run writes
        if key in meta and not ok(meta[key]):
            raise OptionError(f"{p}: {key} is {json.dumps(meta[key])}, not {want}")
    return meta


def _positive_int(v: Any) -> bool:  # noqa: ANN401 - any JSON value
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _names(v: Any) -> bool:  # noqa: ANN401 - any JSON value
    return isinstance(v, list) and bool(v) and all(isinstance(n, str) for n in v)


# the keys of agriseg_text.json that predict and GRPO read: a check of each value and what it should be
_META_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "class_names": (_names, "a list of names"),
    "grid": (_positive_int, "a positive integer"),
    "patch": (_positive_int, "a positive integer"),
    "answer_tokens": (_positive_int, "a positive integer"),
    "patch_image": (lambda v: isinstance(v, bool), "true or false"),
}


def save_trained(trainer: Any, processor: Any, cfg: TrainCommon, meta: dict[str, Any] | None = None) -> Path:
    """Save the trained model (LoRA merged when ``merge_on_save``) + processor + log history, atomically.

    ``meta`` (class names, grid, patch, the longest answer in tokens) goes to ``agriseg_text.json`` so
    ``predict`` needs no options."""
    out = Path(cfg.output_dir)
    if trainer.state.global_step == 0:  # e.g. GRPO with fewer samples than the prompts of one step
        raise ValueError(
            f"output_dir {out}: no training step was taken (the data set's {len(trainer.train_dataset)} samples "
            "are fewer than one step takes); nothing saved"
        )
    model = trainer.model
    if cfg.lora.enabled and cfg.lora.merge_on_save and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    import torch

    broken = [n for n, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if broken:  # a diverged run's loss shows as 0; its model would mark nothing, silently
        raise ValueError(
            f"output_dir {out}: training diverged ({len(broken)} weight tensors are NaN or infinite); nothing "
            "saved; lower learning_rate"
        )
    with atomic_write(out) as tmp:  # the trainer writes nothing into output_dir (save_strategy "no")
        with library_bars_off():
            model.save_pretrained(tmp)
        if is_adapter(tmp):  # an adapter not merged: its base by full path
            absolute_adapter_base(tmp)
        processor.save_pretrained(tmp)
        (tmp / "log_history.json").write_text(dumps_json(trainer.state.log_history), encoding="utf-8")
        said = {**cfg.model_dump(mode="json"), "precision_used": precision_used(cfg)}  # "auto" said as what ran
        (tmp / "agriseg_train_config.json").write_text(dumps_json(said), encoding="utf-8")
        if meta:
            (tmp / TEXT_META).write_text(dumps_json(meta), encoding="utf-8")
    return out


def check_output_dir(cfg: TrainCommon, overwrite: bool = False) -> None:
    """Refuse, before any work, an ``output_dir`` that would replace what the run reads or a folder of the
    user's: the model or the data set (or a folder holding either), or an existing folder with files that no
    training run wrote; an earlier run's output (with ``agriseg_train_config.json``) is replaced only with
    ``overwrite``.

    Raises:
        agriseg.config.OptionError: naming ``output_dir`` and what it holds.
    """
    from agriseg.config import OptionError
    from agriseg.data.files import input_finder

    out = Path(cfg.output_dir).resolve()
    blocker = next((a for a in (out, *out.parents) if a.exists() and not a.is_dir()), None)
    if blocker is not None:  # it said "[Errno 17] File exists" after the model was loaded
        where = "is an existing file" if blocker == out else f"lies under {blocker}, a file"
        raise OptionError(f"output_dir {cfg.output_dir}: {where}, not a folder")
    for what, value in (("model", cfg.model), ("dataset", cfg.dataset)):
        if input_finder([str(value)])(out) is not None:  # the batch runner's test: the same, or a folder holding it
            raise OptionError(f"output_dir {cfg.output_dir}: is or holds the {what} ({value}); choose another")
    if out.is_dir() and any(out.iterdir()) and not (out / "agriseg_train_config.json").is_file():
        raise OptionError(
            f"output_dir {cfg.output_dir}: exists and was not written by a training run; choose another "
            "(an earlier run's output is replaced with --overwrite)"
        )
    earlier = (out / "agriseg_train_config.json").is_file()
    if earlier and not overwrite:  # a model the user trained: never replaced unasked
        raise OptionError(
            f"output_dir {cfg.output_dir}: holds the model of an earlier run; --overwrite replaces it when this run "
            "ends (or give another output_dir)"
        )
    if out.is_dir():
        from agriseg.data.files import check_replaceable

        check_replaceable(out, "model")  # the same test as when the model is saved: said before training, not after


def say_replaced(cfg: TrainCommon) -> None:
    """Warn, once the run's model and data set are checked (a bad one is refused without it), that
    ``output_dir`` holds an earlier run's model, which this run replaces (as crop and fields train say it)."""
    if (Path(cfg.output_dir) / "agriseg_train_config.json").is_file():
        logging.getLogger("agriseg").warning(
            "%s: holds the model of an earlier run, which this run replaces when it ends", cfg.output_dir
        )


# of the answers: the tile too, as what a cell covers (a data set of 8 px tiles refined a model of 16 px ones and
# recorded 8, which text predict then used unsaid, session 103's sweep)
FORMAT_KEYS = {"grid": "grid", "patch_image": "patch_image", "class_names": "classes", "patch": "tile"}


def check_format(cfg: TrainCommon, meta: dict[str, Any]) -> None:
    """A data set whose answers are in another format than the starting model was trained on (another grid,
    tile size, tile image or class list): GRPO refuses it (it rewards the format the model learned, and the model saved
    would be described by the data set's format); SFT, which can teach a new format, says it.

    Raises:
        OptionError: GRPO with such a data set, naming what differs.
    """
    trained = read_meta(cfg.model) if Path(cfg.model).is_dir() else {}
    differ = [
        f"{word} {json.dumps(trained[key])} -> {json.dumps(meta[key])}"
        for key, word in FORMAT_KEYS.items()
        if key in trained and key in meta and trained[key] != meta[key]
    ]
    if not differ:
        return
    said = f"{cfg.dataset}: its answers differ from those {cfg.model} was trained on ({', '.join(differ)})"
    from agriseg.text.config import GRPORunConfig

    if isinstance(cfg, GRPORunConfig):
        raise OptionError(f"{said}; GRPO refines a model on the answers it learned: give a data set made like its own")
    from agriseg.data.io import log

    log.warning("%s; this run trains the model on the new ones", said)


@contextmanager
def _config_key(key: str, value: str) -> Iterator[None]:
    """A path of the run config not found: said with its key, and, for a relative one, where it was looked for
    (``tiny_base: no such model folder`` named neither, run from another folder than the config's)."""
    try:
        yield
    except FileNotFoundError as err:
        where = (
            ""
            if Path(value).is_absolute()
            else f"; the paths of a config are read from the working folder, {Path.cwd()}"
        )
        raise FileNotFoundError(f"{key}: {err}{where}") from err


def prepare_run(
    cfg: TrainCommon,
    model: Any = None,
    processor: Any = None,
    overwrite: bool = False,
    check_data: Callable[[Any], None] | None = None,
) -> tuple[Any, Any, Any, dict]:
    """The data set, the model in training mode, its processor and the data set's metadata of an SFT or GRPO
    run (the model is loaded from ``cfg.model`` unless given; an earlier run's ``output_dir`` is replaced only
    with ``overwrite``). ``check_data(ds)`` refuses a data set the run cannot use, before the model is loaded."""
    check_output_dir(cfg, overwrite)
    resolve_device(cfg.device, "device:")  # a config key (or --set device=...), named so
    with _config_key("model", cfg.model):
        if model is None:
            resolve_model_name(cfg.model)  # a mistyped folder fails before the data set is read
    if cfg.lora.enabled and not cfg.lora.merge_on_save and is_adapter(str(cfg.model)):
        # the adapter is merged into its base on loading: a new adapter on top would name that base, not the
        # model trained here, and its folder would then load without the starting adapter's training
        raise OptionError(
            f"lora.merge_on_save false: the model {cfg.model} is itself a LoRA adapter, merged when loaded; an "
            "adapter of it would name its base and lose it: keep merge_on_save true (or train with lora.enabled false)"
        )
    with _config_key("dataset", cfg.dataset):
        ds = load_dataset_dir(cfg.dataset, cfg.max_samples)
    meta = dataset_meta(ds, cfg.dataset)  # a row edited by hand: before the model is loaded
    if check_data is not None:
        check_data(ds)
    if model is None:
        check_format(cfg, meta)
        # the weights in the precision the run trains in: fp32 on the CPU, as said (bf16 asked was loaded in bf16
        # there, trained 30x slower and saved in bf16, session 103's sweep)
        loaded = "fp32" if precision_used(cfg) == "fp32" else cfg.precision
        model, processor = load_vlm(cfg.model, cfg.device, loaded, template_path=cfg.chat_template)
    elif processor is None:
        raise ValueError("a processor must be given with a prebuilt model")
    check_class_words(processor, meta["class_names"], str(cfg.model))
    check_lora_targets(cfg.lora, model)
    meta["answer_tokens"] = max(answer_tokens(ds, processor))  # predict's --max-new-tokens must fit it
    say_replaced(cfg)
    model.train()
    return ds, model, processor, meta


def check_max_length(cfg: SFTRunConfig, ds: Any, processor: Any) -> None:
    """Refuse a ``max_length`` that cuts answers: TRL's collator truncates image + prompt + answer to it without a
    word, so the model learns masks cut off mid-row (GRPO's ``max_completion_length`` is checked the same way).

    Raises:
        OptionError: the longest samples (by answer) do not fit, naming the length that does.
    """
    if cfg.max_length is None:
        return
    try:  # the collator SFTTrainer uses for image + text data: the lengths it will cut
        from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling
    except ImportError:  # another TRL layout: nothing to measure with, TRL's own checks remain
        return
    lengths = answer_tokens(ds, processor)
    longest = sorted(range(len(lengths)), key=lambda i: -lengths[i])[:3]  # prompts differ little; answers do
    collate = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    need = max(int(collate([dict(ds[i])])["input_ids"].shape[1]) for i in longest)
    if need > cfg.max_length:
        raise OptionError(
            f"{cfg.dataset}: its longest sample is {need} tokens (image, prompt and answer), more than max_length "
            f"({cfg.max_length}), which would cut its answer; set max_length: {need} or more, or null for no limit "
            f"(or --set max_length={need})"
        )


def run_sft(cfg: SFTRunConfig, model: Any | None = None, processor: Any | None = None, overwrite: bool = False) -> Path:
    """Train with SFT and save to ``cfg.output_dir``.

    Args:
        cfg: validated config.
        model: an already-built model (tests, demo); loaded from ``cfg.model`` when None.
        processor: its processor (required with ``model``).
        overwrite: replace the model of an earlier run in ``output_dir`` (refused without it).

    Returns:
        The output folder (a full model, loadable with :func:`agriseg.text.modeling.load_vlm`).
    """
    ds, model, processor, meta = prepare_run(cfg, model, processor, overwrite)
    from trl import SFTConfig, SFTTrainer  # after the checks: a mistyped model fails at once

    ds = ds.select_columns(["prompt", "completion", "images"])
    from agriseg.data.loaders import warn_batch_above_data

    warn_batch_above_data("per_device_train_batch_size", cfg.per_device_train_batch_size, len(ds))  # as crop, fields
    check_max_length(cfg, ds, processor)
    args = SFTConfig(**common_args(cfg), max_length=cfg.max_length, completion_only_loss=True)
    with removed_if_left_empty(cfg.output_dir), trl_quiet():
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=ds,
            processing_class=processor,
            peft_config=peft_config(cfg.lora),
        )
        show_progress(trainer)
        train_or_say(trainer, cfg)
        return save_trained(trainer, processor, cfg, meta)


@contextmanager
def removed_if_left_empty(folder: str | Path) -> Iterator[None]:
    """A run that ends in an error or Ctrl-C removes ``folder`` if it made it and left it empty (transformers
    makes ``output_dir`` before the first step; the model is saved into it only at the end)."""
    out = Path(folder)
    made_here = not out.exists()
    try:
        yield
    except BaseException:
        if made_here and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def train_or_say(trainer: Any, cfg: TrainCommon) -> None:
    """``trainer.train()``; generation from NaN probabilities (a diverged model, or one that was NaN from the
    start) is said in one line instead of transformers' traceback from ``torch.multinomial``."""
    if cfg.max_minutes is not None:
        trainer.add_callback(_time_limit(cfg.max_minutes))
    try:
        trainer.train()
    except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM: say what became of the run (it keeps no checkpoint)
        from agriseg.batch import Interrupted

        if isinstance(err, Interrupted):
            raise
        raise Interrupted(
            f"after step {trainer.state.global_step}; nothing saved (the same command trains from the start)"
        ) from err
    except RuntimeError as err:
        if "probability tensor contains" not in str(err):
            raise
        raise ValueError(
            f"output_dir {cfg.output_dir}: generation met NaN or infinite probabilities at step "
            f"{trainer.state.global_step} (diverged weights, or a model {cfg.model} that holds NaN); nothing "
            "saved; lower learning_rate"
        ) from None


def _time_limit(minutes: float) -> Any:  # noqa: ANN401 - a transformers TrainerCallback
    """A callback that ends training (normally: the model is saved) at the first step after ``minutes``, as
    ``max_minutes`` ends a crop or fields run. transformers has no wall-time limit of its own."""
    import time

    from transformers import TrainerCallback

    class TimeLimit(TrainerCallback):
        start = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.start = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if time.monotonic() - self.start >= minutes * 60 and not control.should_training_stop:
                control.should_training_stop = True
                if state.global_step < state.max_steps:  # cut short: said (the saved model had said nothing)
                    logging.getLogger("agriseg").warning(
                        "training stopped by --max-minutes %g at step %d of %d", minutes, state.global_step,
                        state.max_steps,
                    )  # fmt: skip

    return TimeLimit()


def show_progress(trainer: Any) -> None:
    """A tqdm bar over the training steps, with each log as one line above it (``step 25/400  loss=0.87
    ...``: the values of :data:`SHOWN`; every value is in the run's ``log_history.json``) where transformers
    writes the raw log dict."""
    from transformers.trainer_callback import ProgressCallback

    class Progress(ProgressCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if not (state.is_world_process_zero and self.training_bar is not None and logs):
                return
            shown = "  ".join(f"{k}={_short(logs[k])}" for k in SHOWN if k in logs)
            # on stderr with the bar (tqdm.write's default is stdout, which holds the command's result only)
            self.training_bar.write(f"step {state.global_step}/{state.max_steps}  {shown}", file=sys.stderr)

    from agriseg import quiet

    trainer.remove_callback(ProgressCallback)
    if not quiet():  # agriseg -q: neither bar nor log lines (their values are in log_history.json)
        trainer.add_callback(Progress())


# what a log line shows: SFT's loss and token accuracy; GRPO's rewards and KL; the run's time at its end
SHOWN = ("loss", "mean_token_accuracy", "rewards/dice_reward/mean", "rewards/format_valid/mean", "kl",
         "learning_rate", "train_runtime")  # fmt: skip


def _short(value: Any) -> str:
    """A logged value in 4 significant digits (transformers logs some as text already)."""
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


@contextmanager
def trl_quiet() -> Iterator[None]:
    """Hide the FutureWarnings that PEFT and TRL trigger inside transformers 5 on every run (they read the
    deprecated ``is_gradient_checkpointing`` and call ``gradient_checkpointing_enable`` / ``_disable``, which a
    config's ``gradient_checkpointing: true`` turns on): nothing a user can change."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing_(en|dis)able.* is deprecated",
                                category=FutureWarning)  # fmt: skip
        yield


def loss_summary(log_history: list[dict[str, Any]]) -> str:
    """What the run's training loss did, for the command's last lines: ``training loss 2.3120 -> 0.4051
    (steps 10 to 400); 400 steps in 316 s``, or ``""`` when nothing was logged. The last line said only
    where the model was saved, though the trainer had logged the loss at every ``logging_steps``."""
    losses = [(int(r.get("step", 0)), float(r["loss"])) for r in log_history if isinstance(r.get("loss"), int | float)]
    end: dict[str, Any] = next((r for r in reversed(log_history) if "train_runtime" in r), {})
    said = []
    if len(losses) > 1:
        (s0, l0), (s1, l1) = losses[0], losses[-1]
        said.append(f"training loss {l0:.4f} -> {l1:.4f} (steps {s0} to {s1})")
    elif losses:
        said.append(f"training loss {losses[0][1]:.4f} (one logged value, step {losses[0][0]})")
    elif isinstance(end.get("train_loss"), int | float):
        said.append(f"mean training loss {float(end['train_loss']):.4f}")
    if end:
        from agriseg.batch import counted

        said.append(f"{counted(int(end.get('step', 0)), 'step')} in {float(end['train_runtime']):.0f} s")
    return "; ".join(said)
