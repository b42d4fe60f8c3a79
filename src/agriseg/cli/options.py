"""The option vocabulary of every command, each option defined once.

Rules every command follows (``tests/cli/test_options.py`` walks the click tree and checks them):

- ``-o/--output`` names a file and ``-o/--outdir`` a folder; ``-c/--config`` is a YAML run config;
  ``-m/--model`` is a model.
- A shared option (:data:`SHARED`) comes from its factory here, with at most one help text per pipeline
  (``--model`` is a packaged name or file in crop, a released name or checkpoint in fields, a model folder
  in text).
- A default lives in the pipeline's config class, never here: :class:`ConfigOption` reads it from the config
  field the option sets (on first use, so ``agriseg --help`` imports no pipeline) and ``--help`` shows it;
  choices of ``Literal`` fields come from the config too, and so does the help text where the field has a
  ``description`` and the option gives none. The config validates the values, and a bad value
  is a usage error (exit status 2) naming the flag.
- Per-item commands take :func:`batch_options` (``--overwrite``, ``--strict``, passed on as one
  :class:`agriseg.batch.BatchOptions`) and run through :func:`agriseg.batch.run_batch`.
- A renamed flag keeps its old spelling for one release (:func:`renamed`): hidden, with a one-line
  deprecation warning.
"""

from __future__ import annotations

import functools
import importlib
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import click
from pydantic import BaseModel

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
T = TypeVar("T", bound=BaseModel)
Pipeline = Literal["crop", "fields", "text"]

# the shared options: one factory each below, at most one help text per pipeline
SHARED = (
    "--model",
    "--output",
    "--outdir",
    "--config",
    "--overwrite",
    "--strict",
    "--device",
    "--threads",
    "--batch-size",
    "--tile",
    "--overlap",
    "--tta",
    "--blend",
    "--iou-threshold",
    "--classes",
    "--optimize",
    "--precision",
    "--resume",
    "--epochs",
    "--max-steps",
    "--max-minutes",
    "--no-memory-check",
)

# configs of the commands (module:class): option defaults and choices are read from them
CROP_PREDICT = "agriseg.crop.config:CropPredictConfig"
CROP_TRAITS = "agriseg.crop.config:TraitsConfig"
CROP_PLOTS = "agriseg.crop.config:PlotsConfig"
CROP_ADAPT = "agriseg.crop.config:AdaptConfig"
CROP_EVALUATE = "agriseg.crop.config:CropEvaluateConfig"
CROP_SYNTHETIC = "agriseg.crop.config:SyntheticPhotosConfig"
PSEUDOLABEL = "agriseg.crop.pseudolabel.pipeline:PseudoLabelConfig"
GGHT = "agriseg.crop.pseudolabel.gght:GGHTConfig"
FIELDS_PREDICT = "agriseg.fields.config:PredictConfig"
FIELDS_DOWNLOAD = "agriseg.fields.config:DownloadConfig"
FIELDS_RUN = "agriseg.fields.config:FieldsRunConfig"
FIELDS_DASK = "agriseg.fields.config:DaskConfig"
FIELDS_EVALUATE = "agriseg.fields.config:FieldsEvaluateConfig"
FIELDS_SEASON = "agriseg.fields.config:SeasonConfig"
FIELDS_CHANGE = "agriseg.fields.config:ChangeConfig"
FIELDS_SYNTHETIC = "agriseg.fields.config:SyntheticFTWConfig"
POLYGONIZE = "agriseg.vector.config:PolygonizeConfig"
TEXT_PREDICT = "agriseg.text.config:TextPredictConfig"
TEXT_DATASET = "agriseg.text.dataset:TextDatasetConfig"
TEXT_EVALUATE = "agriseg.text.config:TextEvaluateConfig"
TEXT_SFT = "agriseg.text.config:SFTRunConfig"
TEXT_GRPO = "agriseg.text.config:GRPORunConfig"
TEXT_TINY_MODEL = "agriseg.text.tinyvlm:TinyVLMConfig"
TEXT_LANDSCAPES = "agriseg.text.config:LandscapeConfig"


class Group(click.Group):
    """A group of commands (``agriseg crop``): a usage error that click's parser raises without the command it
    belongs to (``-o`` with no value, ``--overlay=yes``) names that command, so the line points to its help
    (``see agriseg crop predict --help``), not to ``agriseg --help``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            sub = self.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
            if err.ctx is None and sub is not None:
                err.ctx = click.Context(sub, parent=ctx, info_name=ctx.invoked_subcommand)
            raise


class _NotEmpty(click.ParamType):
    """A parameter type that refuses an empty (or blank) value with :attr:`empty`, then converts as its base."""

    empty = "empty: give a value"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail(self.empty, param, ctx)
        return super().convert(value, param, ctx)


class InputPath(_NotEmpty, click.Path):
    """A ``click.Path`` that refuses an empty value: ``Path("")`` is the working folder, so ``crop predict ""``
    segmented the photos there and ``-c ""`` was "./: config file not found"."""

    empty = "an empty path (name a file or folder; '.' for the working folder)"


class NameOrPath(_NotEmpty, click.types.StringParamType):
    """A model's name or path (``-m``): an empty value is refused, as :class:`InputPath` refuses one (``-m ""``
    read the working folder as the model)."""

    empty = "empty: give a model name or path"


class OutputPath(InputPath):
    """A ``click.Path`` for outputs that refuses an empty value: ``-o ""`` would write into the working folder.

    Args:
        suffixes: where the file has one format, its suffixes (``(".json",)``): another is a usage error, since
            ``-o report.txt`` holding JSON is not what the name says.
        **kwargs: passed to ``click.Path``.
    """

    def __init__(self, suffixes: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suffixes = suffixes

    def checked(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> None:
        """Refuse what no output can be named: another option taken as the value (``-o --overwrite`` wrote into a
        folder named ``--overwrite``, the flag not applied) and a name the file system refuses (over 255 bytes: a
        traceback from the folder test, or exit 1 after the checks; session 108's sweep)."""
        import os
        import re

        from agriseg.data.files import NAME_MAX

        if not isinstance(value, (str, Path)):
            return
        text = str(value)
        if re.fullmatch(r"--?[A-Za-z][\w-]*", text) and not os.path.lexists(text):
            self.fail(f"got the option {text}, not a name: give the output's name (a file named so: ./{text})",
                      param, ctx)  # fmt: skip
        long = next((part for part in Path(text).parts if len(os.fsencode(part)) > NAME_MAX), None)
        if long is not None:
            self.fail(f"{long[:24]}...{long[-16:]}: a {len(os.fsencode(long))}-byte name, over the {NAME_MAX} a file "
                      "system allows; give a shorter one", param, ctx)  # fmt: skip

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        self.checked(value, param, ctx)
        out = super().convert(value, param, ctx)
        if self.suffixes and Path(out).suffix.lower() not in self.suffixes:
            want = " or ".join(self.suffixes)
            self.fail(f"{value}: written as {want.lstrip('.').upper()}; name it {want}", param, ctx)
        return out


class FileOrOldFolder(OutputPath):
    """An output file for which an existing folder also passes: where ``-o FOLDER`` is the old spelling of
    ``--outdir FOLDER`` (kept one release), the folder the first run made must not fail the re-run. The command
    turns such a value into its ``--outdir``."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        self.checked(value, param, ctx)
        if isinstance(value, (str, Path)) and str(value).strip() and Path(value).is_dir():
            return Path(value)
        return super().convert(value, param, ctx)


class PositiveFloat(click.FloatRange):
    """A number above 0 and finite: ``click.FloatRange`` lets ``inf`` and ``nan`` through."""

    name = "positive number"

    def __init__(self) -> None:
        super().__init__(0, min_open=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        out = super().convert(value, param, ctx)
        if out != out or out in (float("inf"), float("-inf")):  # nan is the one value unequal to itself
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return out


def stack(*decorators: Decorator) -> Decorator:
    """Apply several option decorators as one (in the order listed, top to bottom)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        for d in reversed(decorators):
            fn = d(fn)
        return fn

    return wrap


# ----------------------------------------------------------------------------------------------------------
# options whose defaults and choices live in a config class


@functools.cache
def config_class(ref: str) -> type[BaseModel]:
    """The config class named ``module:Class``."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


# the commands that read a YAML run config (``-c``), and its class
RUN_CONFIGS = {
    "crop train": "agriseg.crop.config:CropTrainConfig",
    "crop selftrain": "agriseg.crop.selftrain:SelfTrainConfig",
    "fields train": "agriseg.fields.config:FieldsTrainConfig",
    "text sft": "agriseg.text.config:SFTRunConfig",
    "text grpo": "agriseg.text.config:GRPORunConfig",
}


def config_of_another_command(path: Path, command: str) -> str | None:
    """The command whose run config ``path`` is when ``command`` found options in it that are none of its own
    (a crop config given to ``text sft``): the first of :data:`RUN_CONFIGS` that knows every key of the file.
    None when none does, or the file cannot be read."""
    import yaml
    from pydantic import ValidationError

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(raw, dict):
        return None
    for other, ref in RUN_CONFIGS.items():
        if other == command:
            continue
        try:
            config_class(ref).model_validate(raw, context={"base": Path(path).parent, "set": set()})
        except ValidationError as err:
            if any(e["type"] == "extra_forbidden" for e in err.errors()):
                continue
        except (ImportError, ValueError):  # its pipeline's extra missing, a check of its own: not that one
            continue
        return other
    return None


def config_default(ref: str, name: str) -> Any:
    """The default of field ``name`` of the config class ``ref`` (a list as a tuple, a mapping as a tuple
    of ``key:value`` items)."""
    info = config_class(ref).model_fields[name]
    if info.is_required():
        return None
    value = info.get_default(call_default_factory=True)
    if isinstance(value, dict):
        return tuple(f"{k}:{v}" for k, v in value.items())
    return tuple(value) if isinstance(value, list) else value


def _literal_values(annotation: Any) -> list[str]:
    """The string values of a ``Literal`` (also inside ``X | None`` or ``list[...]``)."""
    if typing.get_origin(annotation) is Literal:
        return [str(v) for v in typing.get_args(annotation)]
    return [v for arg in typing.get_args(annotation) for v in _literal_values(arg)]


class ConfigChoice(click.Choice):
    """A ``click.Choice`` whose choices are the ``Literal`` values of a config field (read on first use)."""

    def __init__(self, ref: str, name: str) -> None:
        self._ref, self._name = ref, name
        self._choices: list[str] | None = None
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        if not self._choices:
            self._choices = _literal_values(config_class(self._ref).model_fields[self._name].annotation)
        return self._choices

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        self._choices = list(value) or None


# a default described at the end of an option's help text, in either way it was written
_SAID_DEFAULT = re.compile(r"\s*[\[(]default: ([^\])]+)[\])]\.?$")


class ConfigOption(click.Option):
    """An option of the shared vocabulary or of a pipeline config.

    Args:
        config: ``module:Class`` of the config whose field gives the default (read on first use).
        field: that field (default: the parameter name).
        shared: the shared option this is (its long flag), recognised by the click-tree test.
        help_fn: computes the help text on first use (e.g. listing a registry's names).
    """

    def __init__(
        self,
        *args: Any,
        config: str | None = None,
        field: str | None = None,
        shared: str | None = None,
        help_fn: Callable[[], str | None] | None = None,
        **kw: Any,
    ) -> None:
        self._help_fn = help_fn
        super().__init__(*args, **kw)
        self.config_ref, self.shared = config, shared
        self.config_field = field or self.name
        self._default_read = config is None

    _help: str | None

    @property
    def help(self) -> str | None:
        if self._help_fn is not None:
            self._help, self._help_fn = self._help_fn(), None
        said = _SAID_DEFAULT.search(self._help or "")
        if said is not None:  # "... [default: the model's own]" written in the text: shown as every default is
            self._help = self._help[: said.start()] if self._help else self._help
            if self.show_default is None or self.show_default is False or self.show_default is True:
                self.show_default = said.group(1)
        return self._help

    @help.setter
    def help(self, value: str | None) -> None:
        self._help = value

    def get_help_extra(self, ctx: click.Context) -> Any:  # noqa: ANN401 - click's OptionHelpExtra
        """Click's, with a default described in words shown as a value is (``[default: the model's]``, not
        click's ``[default: (the model's)]``): one way for every option of every command."""
        _ = self.help  # a default written in the help text becomes the one shown
        extra = super().get_help_extra(ctx)
        if isinstance(self.show_default, str):
            extra["default"] = self.show_default
        if "range" not in extra and self.config_ref is not None:  # the limits its config checks, as click shows
            limits = field_range(self.config_ref, str(self.config_field))
            if limits:
                extra["range"] = limits
        return extra

    def get_default(self, ctx: click.Context, call: bool = True) -> Any:
        if not self._default_read:
            assert self.config_ref is not None
            value = config_default(self.config_ref, str(self.config_field))
            if isinstance(value, tuple) and not self.multiple:  # a list typed as "a,b,c"
                value = ",".join(map(str, value))
            self.default = value
            self._default_read = True
        return super().get_default(ctx, call=call)


def option(*decls: str, config: str | None = None, field: str | None = None, **kw: Any) -> Decorator:
    """A ``click.option`` whose default (and ``Literal`` choices, with ``type="choice"``) come from ``config``,
    and its help from the field's ``description`` when it is not given.

    >>> option("--window", config=CROP_PLOTS, help="Window side in pixels.")
    """
    name = field or _param_name(decls)
    if kw.get("type") == "choice":
        assert config is not None
        kw["type"] = ConfigChoice(config, name)
    if config is not None and "help" not in kw and "help_fn" not in kw:
        kw["help_fn"] = functools.partial(field_help, config, name)
    return click.option(*decls, cls=ConfigOption, config=config, field=field, **kw)


def field_help(ref: str, name: str) -> str | None:
    """The help text of an option setting field ``name`` of config ``ref``: its ``description``, as a sentence."""
    text = config_class(ref).model_fields[name].description
    if not text:
        return None
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else f"{text}."


def field_range(ref: str, name: str) -> str | None:
    """The bounds config ``ref`` puts on field ``name`` (pydantic's ``ge`` / ``gt`` / ``le`` / ``lt``), written as
    click writes an ``IntRange`` / ``FloatRange`` (``0<=x<1``, ``x>=1``), or None when it has none."""
    import annotated_types as at

    f = config_class(ref).model_fields.get(name)
    if f is None:
        return None

    def num(v: Any) -> str:  # noqa: ANN401 - a bound: int or float
        return str(int(v)) if float(v).is_integer() else f"{v:g}"

    low = high = None  # (bound, strict)
    for m in f.metadata:
        if isinstance(m, at.Ge | at.Gt):
            low = (num(m.ge), False) if isinstance(m, at.Ge) else (num(m.gt), True)
        elif isinstance(m, at.Le | at.Lt):
            high = (num(m.le), False) if isinstance(m, at.Le) else (num(m.lt), True)
    if low and high:
        return f"{low[0]}{'<' if low[1] else '<='}x{'<' if high[1] else '<='}{high[0]}"
    if low:
        return f"x{'>' if low[1] else '>='}{low[0]}"
    return f"x{'<' if high[1] else '<='}{high[0]}" if high else None


def _param_name(decls: Sequence[str]) -> str:
    names = [d for d in decls if not d.startswith("-")]
    if names:
        return names[0]
    longest = max(decls, key=len)
    return longest.lstrip("-").split("/")[0].replace("-", "_")


def shared(flag: str, *decls: str, **kw: Any) -> Decorator:
    """A shared option (``flag`` is its entry in :data:`SHARED`)."""
    assert flag in SHARED, flag
    return option(*decls, shared=flag, **kw)


# ----------------------------------------------------------------------------------------------------------
# files


def config_option(pipeline: Pipeline) -> Decorator:
    """``-c/--config`` (required; the parameter is ``config_path``)."""
    return shared(
        "--config",
        "-c",
        "--config",
        "config_path",
        required=True,
        type=InputPath(dir_okay=False, path_type=Path),
        help=f"YAML run config (examples in configs/{pipeline}/).",
    )


def output_option(
    help: str, required: bool = True, dest: str = "output", old_folder: bool = False, suffixes: tuple[str, ...] = ()
) -> Decorator:
    """``-o/--output``: a file (``help`` says which); ``old_folder``: an existing folder passes too
    (:class:`FileOrOldFolder`); ``suffixes``: the only ones it may have (:class:`OutputPath`)."""
    kind = FileOrOldFolder if old_folder else OutputPath
    return shared(
        "--output",
        "-o",
        "--output",
        dest,
        required=required,  # no default=None: click 8.3 then skips the required check (a traceback followed)
        type=kind(dir_okay=False, path_type=Path, suffixes=suffixes),
        help=help,
    )


def outdir_option(
    help: str = "Output folder.", dest: str = "outdir", short: bool = True, required: bool | None = None
) -> Decorator:
    """``-o/--outdir``: a folder (``help`` says what goes in it); ``short=False`` when ``-o`` is a file.

    Required unless ``required=False`` (or ``short=False``).
    """
    flags = ("-o", "--outdir") if short else ("--outdir",)
    required = short if required is None else required
    return shared(
        "--outdir", *flags, dest, required=required, type=OutputPath(file_okay=False, path_type=Path), help=help
    )


OVERWRITE_HELP = (
    "Replace outputs that already exist. Without it they are kept: a batch skips finished items (a re-run "
    "resumes), a single output (a training run's model) is refused."
)
TRAIN_OVERWRITE_HELP = (
    "Replace the model an earlier run left in output_dir, when this run ends (without it that folder is refused)."
)
STRICT_HELP = "Stop at the first item that fails (without it, failures are reported and the batch goes on)."


def seed_option(help: str, config: str | None = None) -> Decorator:
    """``--seed``: a whole number 0 to 2**32 - 1 everywhere (numpy's range); the default from ``config``, else 0.

    Args:
        help: what the seed decides in this command.
        config: the config whose ``seed`` field the option sets.
    """
    from agriseg.config import MAX_SEED

    kind = click.IntRange(0, MAX_SEED)
    if config is None:
        return click.option("--seed", default=0, show_default=True, type=kind, help=help)
    return option("--seed", config=config, type=kind, show_default=True, help=help)


def overwrite_option(help: str = OVERWRITE_HELP) -> Decorator:
    """``--overwrite`` (one help text everywhere, but where a command's output is rewritten on every run)."""
    return shared("--overwrite", "--overwrite", is_flag=True, default=False, help=help)


def strict_option() -> Decorator:
    """``--strict`` (one help text everywhere)."""
    return shared("--strict", "--strict", is_flag=True, default=False, help=STRICT_HELP)


def batch_options() -> Decorator:
    """``--overwrite`` and ``--strict`` of a per-item command, which runs through :func:`agriseg.batch.run_batch`:
    the command receives them as one ``batch`` parameter, the :class:`agriseg.batch.BatchOptions` it passes on."""

    def fold(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def command(*args: Any, overwrite: bool, strict: bool, **kw: Any) -> Any:
            from agriseg.batch import BatchOptions

            return fn(*args, batch=BatchOptions(overwrite=overwrite, strict=strict), **kw)

        command.agriseg_batch = True  # type: ignore[attr-defined]
        return command

    return stack(overwrite_option(), strict_option(), fold)


def _skip_memory_check(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        from agriseg.data.memory import memory_check_skipped

        ctx.with_resource(memory_check_skipped())  # for this command's run, restored when it ends
    return value


def memory_check_option() -> Decorator:
    """``--no-memory-check``: skip the up-front memory check (:mod:`agriseg.data.memory`) for this run.

    The command itself never sees the flag: it turns the check off (as ``AGRISEG_MEMORY_CHECK=0``) while the
    command runs.
    """
    return shared(
        "--no-memory-check",
        "--no-memory-check",
        is_flag=True,
        default=False,
        expose_value=False,
        callback=_skip_memory_check,
        help="Skip the check that refuses, before starting, work larger than the available memory "
        "(as AGRISEG_MEMORY_CHECK=0; for a machine whose swap you trust).",
    )


# ----------------------------------------------------------------------------------------------------------
# models and how they run


def _crop_model_help() -> str:
    from agriseg.models.io import PACKAGED

    names = ", ".join(n for n in PACKAGED if "@" not in n)
    return (
        f"Model: a packaged name ({names}; older versions as NAME@N; `agriseg crop models list`) "
        "or a model file (an agriseg .onnx, .safetensors or .ckpt). Older versions, .safetensors and .ckpt "
        'files run in PyTorch: pip install "agriseg[train]".'
    )


def _fields_model_help() -> str:
    from agriseg.fields.registry import MODELS

    default = next((n for n, s in MODELS.items() if s.default), next(iter(MODELS)))
    return (
        f"Model: a released name (e.g. {default}; `agriseg fields models list`), downloaded once into the "
        "cache, or a file (agriseg .safetensors/.ckpt, ftw-tools/PRUE .ckpt)."
    )


MODEL_HELP: dict[str, Callable[[], str]] = {
    "crop": _crop_model_help,
    "fields": _fields_model_help,
    "text": lambda: "Model: a folder written by `agriseg text sft | grpo | tiny-model`, or a Hugging Face id.",
}


def _crop_model_name(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``default@5``, the current version pinned by number, is ``default``: one name in outputs and
    fingerprints (and the ONNX file of the base install)."""
    from agriseg.models.io import packaged_name

    return value if value is None else packaged_name(str(value))


def resolve_fields_model(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A released field model's name becomes its cached file (downloaded once)."""
    if value is None:
        return None
    from agriseg.config import OptionError
    from agriseg.fields.registry import released

    try:
        return released(str(value))
    except OptionError as err:  # not a file, not a released name
        raise click.BadParameter(str(err).removeprefix("--model: "), ctx, param) from err
    except ValueError as err:  # a failed download
        raise click.ClickException(str(err)) from err


def model_option(
    pipeline: Pipeline,
    dest: str = "model_name",
    config: str | None = None,
    required: bool = False,
    resolve: bool = True,
) -> Decorator:
    """``-m/--model`` with its pipeline's help.

    A fields registry name is resolved to its cached file (downloaded once) unless ``resolve=False`` (a
    command that only needs to know what the model reads).
    """
    fields = pipeline == "fields"
    return shared(
        "--model",
        "-m",
        "--model",
        dest,
        config=config,
        required=required,
        type=NameOrPath(),
        callback=resolve_fields_model if fields and resolve else _crop_model_name if pipeline == "crop" else None,
        help_fn=MODEL_HELP[pipeline],
    )


BATCH_HELP = {
    "crop": "Photos (or tiles) per model pass.",
    "fields": "Tiles (or chips) per model pass.",
    "text": "Tiles per generate() call.",
}


def batch_size_option(pipeline: Pipeline, config: str, help: str | None = None) -> Decorator:
    """``--batch-size`` (never part of what a command writes, but where it is a training step's size)."""
    return shared("--batch-size", "--batch-size", config=config, type=int, help=help or BATCH_HELP[pipeline])


DEVICE_HELP = {
    "crop": "Where the model runs: cpu, a GPU (cuda, cuda:1, mps), or auto (a GPU when there is one).",
    "fields": "Torch device: cpu, cuda, cuda:1, mps, or auto (a GPU when there is one).",
    "text": "Torch device: auto (a GPU when there is one), cpu, cuda, cuda:1, mps.",
}


def device_option(pipeline: Pipeline, config: str, help: str | None = None) -> Decorator:
    """``--device``."""
    return shared("--device", "--device", config=config, type=str, help=help or DEVICE_HELP[pipeline])


def threads_option(config: str) -> Decorator:
    """``--threads``: torch threads of this process."""
    return shared("--threads", "--threads", config=config, type=int, help="Torch threads (0 = torch's default).")


OPTIMIZE_HELP = {
    "crop": "How the model runs: ONNX Runtime (the packaged model's ONNX file; no PyTorch needed), or PyTorch "
    'eager / TorchScript (none, jit: need pip install "agriseg[train]").',
    "fields": "How the model runs: ONNX Runtime (exported once per tile size, cached), TorchScript (jit) or "
    "PyTorch eager (none).",
}


def optimize_option(pipeline: Literal["crop", "fields"], config: str) -> Decorator:
    """``--optimize``: how the model runs."""
    return shared("--optimize", "--optimize", config=config, type="choice", help=OPTIMIZE_HELP[pipeline])


def precision_option(config: str) -> Decorator:
    """``--precision``."""
    return shared(
        "--precision",
        "--precision",
        config=config,
        type="choice",
        help="fp32, or bf16 autocast (in PyTorch: ONNX Runtime runs fp32).",
    )


TILE_HELP = {
    "crop": "Tile side in px: photos larger than this (after --long-side) are predicted tile by tile.",
    "fields": "Tile side in scene pixels (the model sees the tile times the model's resize factor).",
    "text": "Tile side in px; each tile is answered as one RRLE grid.",
}
OVERLAP_HELP = {
    "crop": "Fraction of a tile shared with its neighbour (blended).",
    "fields": "Fraction of a tile shared with its neighbour (blended).",
    "text": "Fraction of a tile shared with its neighbour (> 0: every pixel takes the blended vote).",
}


def tiling_options(
    pipeline: Pipeline, config: str, tile_field: str = "tile", show: str | None = None, overlap_help: str | None = None
) -> Decorator:
    """``--tile`` and ``--overlap``.

    Args:
        pipeline: whose help texts.
        config: the config holding both.
        tile_field: the config field of the tile side.
        show: the default shown for ``--tile`` when the config's is None (e.g. "from the model folder").
        overlap_help: ``--overlap``'s help where it is not the pipeline's (``text dataset``: its grid tiles).
    """
    extra = {"show_default": show} if show else {}
    return stack(
        shared(
            "--tile", "--tile", "tile", config=config, field=tile_field, type=int, help=TILE_HELP[pipeline], **extra
        ),  # fmt: skip
        shared("--overlap", "--overlap", config=config, type=float, help=overlap_help or OVERLAP_HELP[pipeline]),
    )


def _split_values(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Repeated and comma-separated values as one tuple (``--tta flip_h,flip_v`` = ``--tta flip_h --tta flip_v``)."""
    if not value:
        return None if _crop(param) else ()
    parts = [v.strip() for s in value for v in str(s).split(",")]
    if "" in parts:  # "flip," or ",flip": a value left out, not one to skip silently
        raise click.BadParameter(f"{','.join(map(str, value))!r} has an empty value", ctx, param)
    items = tuple(parts)
    choices = _literal_values(config_class(str(param.config_ref)).model_fields[str(param.config_field)].annotation)  # type: ignore[attr-defined]
    bad = [v for v in items if v not in choices]
    if bad:
        raise click.BadParameter(f"{bad[0]!r} is not one of {', '.join(choices)}", ctx, param)
    twice = sorted({v for v in items if items.count(v) > 1})
    if twice:  # flip_h,flip_h: averaged as two passes, weighting that one over the plain pass
        raise click.BadParameter(f"{twice[0]!r} is given twice", ctx, param)
    if _crop(param):
        if len(items) != 1:
            raise click.BadParameter("give one of " + ", ".join(choices), ctx, param)
        return items[0]
    return items


def _crop(param: click.Parameter) -> bool:
    return str(getattr(param, "config_ref", "")).startswith("agriseg.crop")


TTA_HELP = {
    "crop": "Test-time augmentation: none, flip (3 passes) or flip+scale (9 passes). [default: the model's own]",
    "fields": "Test-time augmentations averaged with the plain pass: flip_h, flip_v, swap_windows "
    "(comma-separated or repeated).",
}


def tta_option(pipeline: Literal["crop", "fields"], config: str) -> Decorator:
    """``--tta``: comma-separated or repeated values (crop takes one preset, fields a list of flips)."""
    return shared(
        "--tta",
        "--tta",
        config=config,
        multiple=True,
        callback=_split_values,
        metavar="TTA" if pipeline == "crop" else "TTA[,TTA]",  # crop: one preset (flip+scale holds flip)
        show_default=pipeline != "crop",
        help=TTA_HELP[pipeline],
    )


BLEND_HELP = {
    "fields": "How overlapping tiles combine: Gaussian weights, or the mean.",
    "text": "How overlapping tiles vote: count (equal votes) or center (votes weighted to tile centres).",
}


def blend_option(pipeline: Literal["fields", "text"], config: str, field: str = "blend") -> Decorator:
    """``--blend``: how overlapping tiles combine."""
    return shared("--blend", "--blend", "blend", config=config, field=field, type="choice", help=BLEND_HELP[pipeline])


IOU_HELP = {
    "fields": "Object IoU at which a predicted field matches a true one (FTW: 0.5).",
    "text": "IoU at which a true instance counts as found.",
}


def iou_threshold_option(pipeline: Literal["fields", "text"], config: str, field: str = "iou_threshold") -> Decorator:
    """``--iou-threshold``: object matching."""
    return shared(
        "--iou-threshold", "--iou-threshold", "iou_threshold", config=config, field=field, type=float,
        help=IOU_HELP[pipeline],
    )  # fmt: skip


def classes_option(required: bool = False, default: str | None = None) -> Decorator:
    """``--classes``: comma-separated class words, background first (text)."""
    # no default=None: click 8.3 takes an explicit None as a value given, and skips the required check
    given = {"default": default} if default is not None else {}
    return shared(
        "--classes",
        "--classes",
        required=required,
        show_default=default is not None,
        help="Comma-separated class words, background first (e.g. others,field,tree).",
        callback=_some_classes,
        **given,
    )


def _some_classes(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--classes ''`` (or only commas) is refused: it was taken as not given."""
    if value is not None and not value.replace(",", "").strip():
        raise click.BadParameter("no class words: give them comma-separated, background first", ctx, param)
    return value


# ----------------------------------------------------------------------------------------------------------
# renamed flags


_WARNED: set[str] = set()


def warn_renamed(old: str, new: str) -> None:
    """One line on stderr, once per process: ``old`` is deprecated, use ``new``."""
    from agriseg import quiet

    if old not in _WARNED and not quiet():
        _WARNED.add(old)
        click.echo(f"agriseg: {old} is deprecated and goes in the next release; use {new}", err=True)


def _rewrite(args: list[str], mapping: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for i, tok in enumerate(args):
        if tok == "--":
            return out + args[i:]
        head, sep, rest = tok.partition("=")
        if head in mapping and head.startswith("--"):
            warn_renamed(head, mapping[head])
            out.append(mapping[head] + sep + rest)
            continue
        short = tok[:2]
        if short in mapping and not tok.startswith("--"):
            warn_renamed(short, mapping[short])
            out += [mapping[short]] + ([tok[2:]] if len(tok) > 2 else [])
            continue
        out.append(tok)
    return out


def _concerns(err: click.UsageError, flag: str, old: str) -> bool:
    """Whether a usage error is about a retired short ``flag`` or the option ``old`` it meant (``--grid abc``
    beside a right ``-m`` is not)."""
    if isinstance(err, click.NoSuchOption):
        return err.option_name == flag
    return old in (getattr(getattr(err, "param", None), "opts", None) or [])


def renamed(
    mapping: Mapping[str, str], retired: Mapping[str, str] | None = None
) -> Callable[[click.Command], click.Command]:
    """Keep old flags working for one release: ``{"--patch": "--tile", "-p": "--tile"}``.

    Applied above ``@click.command``; the old spellings are not shown in ``--help``, and using one prints
    :func:`warn_renamed`'s line. ``retired``: short flags that meant another option before (``{"-m": "--masks"}``):
    a usage error where one was typed says so (``text dataset -m masks/`` was "Missing option '--masks'" alone).
    """

    def deco(cmd: click.Command) -> click.Command:
        parse = cmd.parse_args
        cmd.renamed = dict(mapping)  # type: ignore[attr-defined]

        def parse_args(ctx: click.Context, args: list[str]) -> list[str]:
            ours = args[: args.index("--") if "--" in args else None]
            if any(a in ("-q", "--quiet") for a in ours):
                from agriseg import quiet  # -q after the command's name: quiet before the renamed flags' lines

                quiet(True)
            try:
                return parse(ctx, _rewrite(list(args), mapping))
            except click.UsageError as err:
                before = dict(retired or {})
                typed = [f for f in before if any(a[:2] == f and not a.startswith("--") for a in ours)
                         and _concerns(err, f, before[f])]  # fmt: skip
                if typed:
                    said = "; ".join(f"{f} no longer means {before[f]}: spell that out" for f in typed)
                    raise click.UsageError(f"{err.format_message().rstrip('. ')}; {said}", err.ctx) from None
                raise

        cmd.parse_args = parse_args  # type: ignore[method-assign]
        return cmd

    return deco


# ----------------------------------------------------------------------------------------------------------
# other options shared by a few commands


def set_option() -> Decorator:
    """``--set key=value`` (repeatable): override a config option without editing the file."""
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config option (repeatable; nested keys with dots), e.g. --set output_dir=runs/try.",
    )


# the config keys the training flags set: Lightning runs (crop, fields) and TRL runs (text sft, grpo)
TRAIN_KEYS: dict[str, dict[str, str]] = {
    "lightning": {"epochs": "train.epochs", "max_steps": "train.max_steps", "max_minutes": "train.max_minutes"},
    "trl": {"epochs": "num_train_epochs", "max_steps": "max_steps", "max_minutes": "max_minutes"},
}


def train_options(kind: Literal["lightning", "trl"] = "lightning") -> Decorator:
    """The options of every training command: ``--resume`` (Lightning runs, which keep checkpoints),
    ``--overwrite`` (of an earlier run's model), ``--epochs``, ``--max-steps``, ``--max-minutes``, ``--set``; the
    last four end up in the config (see :func:`train_overrides`), so the run's saved config says what was
    trained."""
    keys = TRAIN_KEYS[kind]
    resume = shared(
        "--resume",
        "--resume",
        type=InputPath(dir_okay=False),
        default=None,
        help="Lightning checkpoint (e.g. <output_dir>/last.ckpt) to continue from.",
    )
    return stack(
        *([resume] if kind == "lightning" else []),
        overwrite_option(TRAIN_OVERWRITE_HELP + (" --resume continues a run instead." if kind == "lightning" else "")),
        shared("--epochs", "--epochs", type=click.IntRange(1), default=None, help=f"Override {keys['epochs']}."),
        shared(
            "--max-steps",
            "--max-steps",
            type=click.IntRange(1),
            default=None,
            help=f"Override {keys['max_steps']}: stop after this many optimiser steps (a quick check of a config).",
        ),
        shared(
            "--max-minutes",
            "--max-minutes",
            type=PositiveFloat(),
            default=None,
            help=f"Override {keys['max_minutes']}: stop training after this wall time.",
        ),
        set_option(),
    )


def train_overrides(
    overrides: Sequence[str] = (),
    epochs: int | None = None,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    kind: Literal["lightning", "trl"] = "lightning",
) -> tuple[str, ...]:
    """``--set`` items plus the config items of the training flags that were given (a flag and a ``--set`` of one
    key are refused: :class:`agriseg.config.OptionError`); takes the
    parameters of :func:`train_options` but ``resume`` and ``overwrite``."""
    from agriseg.config import OptionError
    from agriseg.training.config import TrainOptions

    keys = TRAIN_KEYS[kind]
    flags: dict[str, object] = {"epochs": epochs, "max_steps": max_steps, "max_minutes": max_minutes}

    def set_by(name: str) -> str | None:  # the --set item that sets the flag's key, also inside its group
        # (--set "train={max_steps: 10}") or by its former name (train.max_time_minutes)
        group, _, leaf = keys[name].rpartition(".")
        names = {leaf, *(old for old, new in TrainOptions.RENAMED.items() if new == leaf)}
        for o in overrides:
            k, _, v = (part.strip() for part in o.partition("="))
            if group and k in {f"{group}.{n}" for n in names} or not group and k in names:
                return o
            if group and k == group and names & set(_yaml_keys(v)):
                return o
        return None

    for name, value in flags.items():  # two values of one setting: which one wins was said nowhere
        if value is not None and (item := set_by(name)) is not None:
            flag = "--" + name.replace("_", "-")
            raise OptionError(f"{flag} {value} and --set {item}: two values of one setting; give one of them")
    set_steps = set_by("max_steps") is not None
    if epochs is not None and max_steps is None and not set_steps:
        # --epochs wins over the config's max_steps too (both trainers stop at whichever limit comes first): no
        # step limit (TRL's -1, Lightning's none)
        flags["max_steps"] = -1 if kind == "trl" else "null"
    return (*overrides, *(f"{keys[k]}={v}" for k, v in flags.items() if v is not None))


def _yaml_keys(text: str) -> list[str]:
    """The keys of a ``--set`` group's YAML mapping (``{lr: 0.1, epochs: 3}``); none for other text."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    return [str(k) for k in value] if isinstance(value, dict) else []


def _parse_bands(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if not value:
        return None
    try:
        bands = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: three comma-separated band numbers, e.g. 3,2,1") from None
    if len(bands) != 3 or min(bands) < 1:
        raise click.BadParameter(f"{value!r}: three band numbers from 1, e.g. 3,2,1")
    return bands


def _parse_sha256(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from agriseg.config import OptionError
    from agriseg.fields.trust import check_sha256

    if value is None:
        return None
    try:
        return check_sha256(value)
    except OptionError as err:
        raise click.BadParameter(str(err).removeprefix("--sha256 ")) from None


def sha256_option(help: str) -> Decorator:
    """``--sha256 HEX``: the digest a pickled model file must have; checked (64 hex digits) before any work."""
    return click.option("--sha256", default=None, metavar="HEX", callback=_parse_sha256, help=help)


class OffsetType(click.ParamType):
    """``--offset``: ``fields predict``'s words (auto, none, apply) or a DN offset."""

    name = "offset"
    WORDS = ("auto", "none", "apply")

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.WORDS) + "|DN]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:  # noqa: ANN401
        if isinstance(value, int | float) or value in self.WORDS:
            return value
        try:
            return float(value)
        except ValueError:
            self.fail(f"{value!r} is not one of {', '.join(self.WORDS)} or a number", param, ctx)


def bands_option(config: str | None = None) -> Decorator:
    """``--bands R,G,B``: which bands of a multi-band raster are red, green and blue (1-based); ``config``: the
    config whose ``bands`` field it sets (its default from there)."""
    return option(
        "--bands",
        config=config,
        callback=_parse_bands,
        show_default=False,
        help="Bands of a multi-band GeoTIFF / JPEG 2000 read as red, green, blue, e.g. 3,2,1 for BGRN "
        "(default: bands described red/green/blue, else those whose colour interpretation is red/green/blue, "
        "else 1,2,3).",
    )


def keep_option(help: str = "Only photos accepted in this screening export (accepted.json).") -> Decorator:
    """``--keep``: a screening export."""
    return click.option("--keep", type=InputPath(dir_okay=False, exists=True), default=None, help=help)


def stage_epochs_options(config: str | None = None) -> Decorator:
    """``--stage1-epochs`` and ``--stage2-epochs`` of the two-stage trainers: defaults from ``config`` (``crop
    adapt``), or none, overriding the run's config file (``crop selftrain``)."""
    said = "" if config else " (overrides the config)"
    return stack(
        option("--stage1-epochs", config=config, type=click.IntRange(1), help=f"Epochs on the pseudo-labels{said}."),
        option(
            "--stage2-epochs",
            config=config,
            type=click.IntRange(0),
            help=f"Epochs on the refined labels, 0 = stage 1 only{said}.",
        ),
    )


def stems_option(help: str, show_default: str | None = None) -> Decorator:
    """``--stems``: a text file of photo names, one per line (which of the photos a command uses)."""
    return option(
        "--stems",
        type=InputPath(dir_okay=False, path_type=Path),  # a missing one: crop.dataset.read_stem_list's words
        show_default=show_default,
        help=help,
    )


def pseudolabel_source_options() -> Decorator:
    """Where pseudo-labels come from: ``--source``, ``--index``, ``--depth-dir``, ``--depth-model``."""
    return stack(
        option(
            "--source",
            config=PSEUDOLABEL,
            type="choice",
            help="Threshold a vegetation index of the photo, or its depth map.",
        ),
        option(
            "--index",
            "index_name",
            config=PSEUDOLABEL,
            field="index",
            type="choice",
            help="Vegetation index (--source index); auto = best fit per image.",
        ),
        option(
            "--depth-dir",
            config=PSEUDOLABEL,
            type=InputPath(file_okay=False, exists=True),
            help="Depth files matched by image name (16-bit PNG, TIFF, .npy). Without it, depth is estimated.",
        ),
        option(
            "--depth-model",
            config=PSEUDOLABEL,
            help="Depth Anything V2 model id or local directory (when no --depth-dir).",
        ),
    )


# ----------------------------------------------------------------------------------------------------------
# parameters -> config


def option_flags(ctx: click.Context | None) -> dict[str, str]:
    """Config field (and parameter name) -> the flag that sets it, for the current command's messages
    (``patch_size`` -> ``--tile``)."""
    out: dict[str, str] = {}
    if ctx is None:
        return out
    named = [p for p in ctx.command.params if isinstance(p, click.Option) and p.name]
    for p in named:  # a parameter's own name first: fields map's --collection, not --stac-collection's field
        out.setdefault(str(p.name), max(p.opts, key=len))
    for p in named:
        out.setdefault(str(getattr(p, "config_field", None) or p.name), max(p.opts, key=len))
    return out


def refuse_unread(names: Sequence[str], why: str) -> None:
    """Refuse the first of ``names`` (parameter names) given on the command line (or by its environment
    variable): an option the command would not read with the others given is a usage error, never silently
    ignored. ``why`` ends the message: ``--tta: not read with --pred-masks (no model runs)``."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    for name in names:
        if ctx.get_parameter_source(name) in given:
            raise click.UsageError(f"{option_flags(ctx).get(name, name)}: {why}", ctx)


def config_from_params(cls: type[T], params: Mapping[str, Any], renames: Mapping[str, str] | None = None) -> T:
    """Build a config from a command's parameters: those named like a field of ``cls`` (or renamed to one).

    Options are named after the config fields they set, so commands pass click's parameters on instead of
    listing every field again. The config validates them; a bad value is a usage error (exit status 2) that
    names the flag.
    """
    from pydantic import ValidationError

    from agriseg.config import describe_errors

    renames = renames or {}
    data = {renames.get(k, k): list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    for k, v in params.items():  # a required option left out: click's own words, not pydantic's "got None"
        f = cls.model_fields.get(renames.get(k, k))
        if v is None and f is not None and f.is_required():
            ctx = click.get_current_context(silent=True)
            raise click.UsageError(f"Missing option '{option_flags(ctx).get(k, k)}'.", ctx)
    try:
        return cls.model_validate({k: v for k, v in data.items() if k in cls.model_fields})
    except ValidationError as err:
        ctx = click.get_current_context(silent=True)
        back = {renames.get(k, k): k for k in params}
        names = {f: option_flags(ctx).get(back.get(f, f), f) for f in cls.model_fields}
        raise click.UsageError(describe_errors(err, names), ctx) from None
