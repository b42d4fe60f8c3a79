"""The one config mechanism: a strict pydantic base and one YAML loader.

Everything a user sets in a YAML file or on the command line is a :class:`StrictModel` subclass, so a typo
in an option name fails at load time, and string options are ``Literal`` types whose errors list the valid
choices. Each pipeline keeps its configs next to its code (``agriseg.crop.config``, ``agriseg.fields.config``,
``agriseg.text.config``); the model config is ``agriseg.models.config.ModelConfig``.
"""

from __future__ import annotations

import copy
import decimal
import numbers
import os
import re
import types
import typing
import warnings
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator

# the largest seed: NumPy's legacy seeding and Lightning's ``seed_everything`` take 32-bit seeds
MAX_SEED = 2**32 - 1
# the torch devices a model can run on (whether this machine has one is agriseg.runtime.check_device)
DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?|mps")
# the largest Sentinel-2 digital number (uint16): a DN offset beyond it leaves no valid pixel
MAX_DN = 65535


def device_name(value: str, auto: bool = False) -> str:
    """A config's ``device`` checked against :data:`DEVICE_PATTERN`. ``auto`` is kept where the pipeline picks
    the device itself (``auto=True``: text), else made ``cuda`` where PyTorch sees a CUDA GPU and ``cpu`` where
    not (or where PyTorch is not installed), as ``text`` picks it.

    Raises:
        ValueError: not a torch device name (pydantic reports it against the field).
    """
    v = value.strip()
    if v == "auto" and not auto:
        return _auto_device()
    if not (DEVICE_PATTERN.fullmatch(v) or v == "auto"):
        raise ValueError("not a torch device; use auto, cpu, cuda or cuda:N (e.g. cuda:1), or mps")
    return v


def _auto_device() -> str:
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # the light install runs on the CPU (ONNX Runtime)
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# a config's torch device (cpu, cuda, cuda:N, mps), checked when the config is made
TorchDevice = Annotated[str, AfterValidator(device_name)]
MAX_LOADER_WORKERS = 256  # loader worker processes a training config may ask for (5,000 took all memory)


def check_numbers(**values: Any) -> None:  # noqa: ANN401 - what a caller passed
    """Refuse a Python argument that is no number (``min_size="50"``, ``zenith=True``), by its name: the range
    checks after it failed with Python's own "'>=' not supported between 'str' and 'int'".

    Raises:
        TypeError: ``<name> is a number, not '50'``.
    """
    for name, value in values.items():
        if getattr(value, "shape", None) == ():  # a 0-d array: its one value
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real | decimal.Decimal):  # numpy's too; no 1j
            raise TypeError(f"{name} is a number, not {value!r}")


class OptionError(ValueError):
    """A bad option value or combination of options, found by a pipeline (on the command line: exit status 2)."""


class ConfigError(OptionError):
    """A config file (or a ``--set`` override of it) that cannot be used: a usage problem, exit status 2."""


class ModelOptionError(OptionError):
    """A model setting of a config that no registry builds (an unknown encoder...): ``model: <what is wrong>``;
    the command line names the config file before it (:func:`agriseg.cli.errors.config_named`)."""


class RenamedOptionWarning(FutureWarning):
    """A config key renamed in this release, still read until the next one.

    A ``FutureWarning`` (shown by default, unlike ``DeprecationWarning``): the person who wrote the config needs
    to see it. The command line prints it as one ``agriseg: ...`` line (``agriseg.cli.main``).
    """


class InvalidOptions(ValidationError):
    """Pydantic's ``ValidationError`` of a config made in Python (``PredictConfig(patch_size=8)``), caught as one,
    whose message is one line naming each option and its problem (not pydantic's dump with a URL per error)."""

    config: type[BaseModel] | None = None

    def __str__(self) -> str:
        name = self.config.__name__ if self.config is not None else self.title
        return f"{name}: {describe_errors(self, model=self.config)}"


def one_line_errors(err: ValidationError, config: type[BaseModel]) -> ValidationError:
    """``err`` as an :class:`InvalidOptions` of ``config`` (the same errors, said in one line), or ``err`` itself
    for an error kind pydantic cannot rebuild."""
    try:
        one_line = InvalidOptions.from_exception_data(err.title, err.errors(include_url=False))  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - its own words then
        return err
    one_line.config = config
    return one_line


class StrictModel(BaseModel):
    """Base of every user-facing config: unknown fields are errors; a path may be given as a ``pathlib.Path``
    (any ``os.PathLike``) where the field holds its text."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    def __init__(self, /, **data: Any) -> None:  # noqa: ANN401 - any field's value
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise one_line_errors(err, type(self)) from None

    # pydantic calls a model's own __init__ for each nested config too, without the validation context (a fields
    # config's data.root is then not read against the config file's folder): marked as pydantic's own, it is
    # called only for a config made in Python, as here
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @model_validator(mode="before")
    @classmethod
    def _paths_as_text(cls, data: Any) -> Any:  # noqa: ANN401 - whatever the caller passed
        if not isinstance(data, dict):
            return data
        return {
            k: os.fspath(v)
            if isinstance(v, os.PathLike)
            else cls._group_default(k)
            if v is None
            else YesNo(v)
            if isinstance(v, bool) and cls._number_field(k) == "number"
            else _yes_no_items(v)
            if isinstance(v, list | tuple | dict) and cls._number_field(k) == "items"
            else v
            for k, v in data.items()
        }

    @classmethod
    def _number_field(cls, key: str) -> Literal["number", "items", ""]:
        """``"number"`` for a field of a number and no yes/no value: pydantic reads ``True`` there as 1, so ``lr:
        yes`` (YAML's true) trained at a learning rate of 1 and ``epochs: true`` for one epoch (session 96's
        sweep); ``"items"`` for a list, tuple or dict of such numbers (``bands: [yes, 2, 3]`` read as 1, 2, 3);
        ``""`` otherwise."""
        info = cls.model_fields.get(key)
        if info is None:
            return ""
        kinds = _scalar_kinds(info.annotation)
        if _numeric(kinds):
            return "number"
        items = [k for k in kinds if typing.get_origin(k) in (list, tuple, set, dict)]
        if any(_numeric(_scalar_kinds(typing.get_args(k)[-1 if typing.get_origin(k) is dict else 0])) for k in items):
            return "items"
        return ""

    @classmethod
    def _group_default(cls, key: str) -> Any:  # noqa: ANN401 - a group's default, or None as given
        """``key: None`` for a group of options (a nested config): ``lora:`` with nothing under it in a YAML file
        reads as the field's own default (a fields config's ``model:`` is its 8-band U-Net, not ModelConfig()),
        as leaving the key out does; None for any other field (an optional group stays off)."""
        info = cls.model_fields.get(key)
        kind = info.annotation if info is not None else None
        if info is None or not (isinstance(kind, type) and issubclass(kind, BaseModel)):
            return None
        default = info.get_default(call_default_factory=True)
        return default if default is not None else {}


class YesNo:
    """A yes/no value (YAML's ``true``, ``yes``, ``on``) given where a number goes: no number to pydantic, so
    the field's error names it (see :meth:`StrictModel._number_field`)."""

    def __init__(self, value: bool) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "true" if self.value else "false"


def _scalar_kinds(annotation: Any) -> set[Any]:  # noqa: ANN401 - a type annotation
    """The types a field's annotation allows, through ``X | None`` and ``Annotated`` (not into containers:
    ``list[int]`` stays one kind)."""
    kinds, todo = set(), [annotation]
    while todo:
        kind = todo.pop()
        origin = typing.get_origin(kind)
        if origin is typing.Annotated:
            todo.append(typing.get_args(kind)[0])
        elif origin is typing.Union or origin is types.UnionType:
            todo += typing.get_args(kind)
        else:
            kinds.add(kind)
    return kinds


def _numeric(kinds: set[Any]) -> bool:
    """Whether these allowed types take a number and no yes/no value."""
    return bool(kinds & {int, float}) and bool not in kinds


def _yes_no_items(value: list[Any] | tuple[Any, ...] | dict[Any, Any]) -> Any:  # noqa: ANN401 - the same container
    """A container with each yes/no item as :class:`YesNo` (see :meth:`StrictModel._number_field`)."""
    if isinstance(value, dict):
        return {k: YesNo(v) if isinstance(v, bool) else v for k, v in value.items()}
    return type(value)(YesNo(v) if isinstance(v, bool) else v for v in value)


T = TypeVar("T", bound=BaseModel)


def with_updates(model: T, update: Mapping[str, Any]) -> T:
    """A copy of ``model`` with ``update`` applied and validated again.

    Use it instead of ``model.model_copy(update=...)``, which copies values past validation (a ``nan``
    divisor or a negative thread count would get through).

    Raises:
        pydantic.ValidationError: for an invalid value (said in one line: :class:`InvalidOptions`).
    """
    try:
        return type(model).model_validate({**model.model_dump(), **update})
    except ValidationError as err:
        raise one_line_errors(err, type(model)) from None


def as_config(cls: type[T], value: T | Mapping[str, Any] | None) -> T:
    """``value`` as a ``cls``: the config itself, a mapping of its fields (validated), or None for the defaults.

    The library's entry points take any of the three, as :func:`agriseg.models.build_model` does.

    Raises:
        ConfigError: a mapping with a key that is not a field (``config: model: not an option (did you mean
            model_name?)``) or an invalid value (``config: tta: Input should be 'none', 'flip' or 'flip+scale'
            (got 'flips')``).
        TypeError: anything else.
    """
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        try:
            return cls.model_validate(dict(value))
        except ValidationError as err:  # one line naming the key (a misspelt one: the near names), not pydantic's
            # dump with a URL (session 96's sweep: {"tta": "flips"})
            raise ConfigError(f"config: {describe_errors(err, model=cls)}") from None
    raise TypeError(f"config: a {cls.__name__}, a dict of its fields or None, not {type(value).__name__}")


def apply_overrides(
    raw: dict[str, Any], overrides: Sequence[str], source: str = "--set", model: type[BaseModel] | None = None
) -> dict[str, Any]:
    """``key.sub=value`` overrides applied to a config mapping; values are parsed as YAML (numbers, lists).

    With the config ``model``, an override into a group the file gave a value that is no mapping (``train:
    [1, 2]``) is left out: validation then names the file's value, not an override the user may never have
    typed (a flag such as ``--epochs`` is one).

    Raises:
        ConfigError: for an override without ``=`` or one that descends into a non-mapping.
    """
    out = copy.deepcopy(raw)
    set_by: dict[str, str] = {}  # a key given a value by an override: the override, to name it (train=5)
    for item in overrides:
        if not _into_group_of_file(out, item, set_by, model):
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{source} {item!r}: expected key=value (e.g. output_dir=runs/try)")
        node = out
        parts = key.strip().split(".")
        if not all(p.strip() for p in parts):
            raise ConfigError(f"{source} {item!r}: {key.strip()!r} has an empty part (e.g. train.lr=0.001)")
        for i, part in enumerate(parts[:-1]):
            if node.get(part) is None:  # a group left empty in the YAML (``lora:``) loads as null: fill it
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                group = ".".join(parts[: i + 1])
                if group in set_by:  # --set train=5, then a flag's train.max_steps: the first is the mistake
                    raise ConfigError(
                        f"{source} {set_by[group]!r}: {group} is a group of options, not a value (set one of "
                        f"them, e.g. {group}.{parts[i + 1]}=...)"
                    )
                raise ConfigError(f"{source} {item!r}: {part} is not a group of options")
        set_by[key.strip()] = item
        typed = value.strip()
        if _text_option(model, parts):  # a path or a name is text as typed (session 105's sweep): YAML read
            # `output_dir=try #1` as try, 2024 and yes as a number and a flag, and refused @runs or %TEMP%
            quoted = len(typed) >= 2 and typed[0] == typed[-1] and typed[0] in "'\""
            new = None if typed in ("null", "~") else _unquoted(typed) if quoted else typed
        else:
            try:
                new = yaml.safe_load(value) if typed else ""
            except yaml.YAMLError as err:
                raise ConfigError(f"{source} {item!r}: the value is not valid YAML: {_yaml_problem(err)}") from None
            if "#" in value and "#" not in str(new):  # YAML read the rest as a comment
                raise ConfigError(f"{source} {item!r}: # starts a YAML comment; quote the value to keep it")
        if new is None and (opts := _fields_at(model, parts)) and not _nullable(model, parts):  # lora=null: the
            # group's defaults, which turned on the LoRA the file had turned off (session 105's sweep); an optional
            # group (selftrain's evaluate) is left out with null
            raise ConfigError(
                f"{source} {item!r}: {key.strip()} is a group of options, not a value; set one of them "
                f"(e.g. {key.strip()}.{'enabled=false' if 'enabled' in opts else opts[0] + '=...'})"
            )
        node[parts[-1]] = _into_group(node.get(parts[-1]), new, model, parts)
    return out


def _unquoted(text: str) -> str:
    """A quoted scalar as YAML reads it (``'a b'`` -> ``a b``, escapes in double quotes), else as typed."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, str) else text


def _field_at(model: type[BaseModel] | None, loc: Sequence[str]) -> Any:  # noqa: ANN401 - pydantic's FieldInfo
    """The field of ``model`` at the dotted ``loc`` (``["lora", "r"]``), through its groups; None for no such option."""
    field = None
    for key in loc:
        field = model.model_fields.get(key) if model is not None else None
        if field is None:
            return None
        model = next((k for k in _members(field.annotation) if isinstance(k, type) and issubclass(k, BaseModel)), None)
    return field


def _text_option(model: type[BaseModel] | None, loc: Sequence[str]) -> bool:
    """Whether the option at ``loc`` of ``model`` takes text only (a path or a name; ``None`` allowed)."""
    if (field := _field_at(model, loc)) is None:
        return False
    kinds = [k for k in _members(field.annotation) if k is not type(None)]
    return bool(kinds) and all(isinstance(k, type) and issubclass(k, str | Path) for k in kinds)


def _members(annotation: Any) -> list[Any]:  # noqa: ANN401 - a type annotation
    """The types an annotation allows: the members of a union (``str | None``) and the type an ``Annotated``
    wraps, each once; a generic (``list[str]``) is one type, not its items (a list option read as text)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    return [annotation]


def _nullable(model: type[BaseModel] | None, loc: Sequence[str]) -> bool:
    """Whether the option at ``loc`` of ``model`` may be left out with null (``SelfTrainConfig.evaluate``); one
    that is no option of the model is left to validation, which says what is wrong with it."""
    field = _field_at(model, loc)
    return field is None or type(None) in _members(field.annotation)


def _keys_set(override: str, model: type[BaseModel] | None) -> list[str]:
    """The dotted keys an override sets: ``train.lr=0.1`` -> ``train.lr``; a group given as a mapping, merged into
    the file's (``train={epochs: 3}``), its keys only (``train.epochs``): an error of the file's own keys in it is
    the file's, not the override's."""
    key, _, value = override.partition("=")
    try:
        new = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        return [key.strip()]
    return _group_keys(key.strip().split("."), new, model)


def _group_keys(loc: list[str], new: Any, model: type[BaseModel] | None) -> list[str]:  # noqa: ANN401
    """The dotted keys a value set at ``loc`` gives: its own, or those of a mapping given to a group."""
    if not (isinstance(new, dict) and new and _fields_at(model, loc)):
        return [".".join(loc)]
    return [k for sub, v in new.items() for k in _group_keys([*loc, str(sub)], v, model)]


def _into_group(old: Any, new: Any, model: type[BaseModel] | None, loc: Sequence[str]) -> Any:  # noqa: ANN401
    """``--set 'lora={r: 4}'``: the options given set into the file's group, its other options kept (the group was
    replaced: the file's ``lora: {enabled: false}`` dropped unsaid, a full fine-tune turned into LoRA, session
    103's sweep). Only a group of options is merged; a mapping that is one option's value (a colormap) is
    replaced as any value is."""
    if not (isinstance(old, dict) and isinstance(new, dict) and _fields_at(model, loc)):
        return new
    return {**old, **{k: _into_group(old.get(k), v, model, [*loc, str(k)]) for k, v in new.items()}}


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping.

    PyYAML keeps the last of two equal keys without a word, so a second ``train:`` group at the end of a
    file silently dropped every option of the first (written by hand: PyYAML has no option for it).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if not isinstance(key, Hashable):  # `? [a, b]` is valid YAML but no option name
                raise ConfigError(f"line {line}: a list or mapping is used as a key; keys are option names")
            if key in seen:
                raise ConfigError(f"key {key!r} is given twice (lines {seen[key]} and {line}); keep one")
            seen[key] = line
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _expand_home(value: Any, within: tuple[int, ...] = ()) -> Any:
    """``~`` and ``~/...`` in every string value expanded to the user's home (paths in any config key).

    Raises:
        ConfigError: a list or mapping that holds itself (a YAML anchor used inside its own value,
            ``a: &x [*x]``), which no option can take.
    """
    if isinstance(value, (dict, list)):
        if id(value) in within:
            raise ConfigError("a YAML anchor is used inside its own value (*alias within &anchor)")
        within = (*within, id(value))
    if isinstance(value, dict):
        return {k: _expand_home(v, within) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_home(v, within) for v in value]
    if isinstance(value, str) and (value == "~" or value.startswith(("~/", "~" + os.sep))):
        return os.path.expanduser(value)
    return value


def _into_group_of_file(
    raw: dict[str, Any], item: str, set_by: Mapping[str, str], model: type[BaseModel] | None
) -> bool:
    """False for an override ``group.key=...`` whose group (a group of ``model``'s) the file gave a value that is
    no mapping and no earlier override set (see :func:`apply_overrides`); True otherwise."""
    parts = item.partition("=")[0].strip().split(".")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or node.get(part) is None:
            return True
        node = node[part]
        group = ".".join(parts[: i + 1])
        if not isinstance(node, dict) and group not in set_by and _model_group(model, parts[: i + 1]):
            return False
    return True


def _model_group(model: type[BaseModel] | None, loc: Sequence[str]) -> bool:
    """Whether ``loc`` in ``model`` is a group of options (a config, or a config or None), not a value, a list or
    a mapping of configs (``data.extra``, whose items are groups)."""
    for key in loc:
        field = model.model_fields.get(key) if model is not None else None
        groups = [k for k in _scalar_kinds(field.annotation) if k is not type(None)] if field is not None else []
        model = (
            groups[0] if len(groups) == 1 and isinstance(groups[0], type) and issubclass(groups[0], BaseModel) else None
        )
    return model is not None


def load_config(path: str | Path, cls: type[T], overrides: Sequence[str] = ()) -> T:
    """Load and validate a YAML config file.

    Paths inside crop and text configs are relative to the working directory (the bundled configs expect
    the repository root); a fields config's ``data.root`` written in the file is resolved against the config
    file's folder, which validators receive as ``context["base"]`` (one given with ``--set``, against the
    working directory: ``context["set"]`` holds the overridden keys). A value ``~/...`` or a quoted ``"~"`` is
    the user's home, in the file and in an override (a bare ``~`` is YAML's null).

    Args:
        path: the YAML file.
        cls: the config class to validate against.
        overrides: ``key.sub=value`` items applied over the file (``--set`` on the command line), so a
            bundled config takes a user's paths without being copied and edited.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ConfigError: one line that starts with the path: not YAML text, or each invalid field (a field set
            by an override is named as ``--set key``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}  # noqa: S506 (safe)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a YAML text file (it is not UTF-8 text)") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(err)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of options at the top level")
    empty = not raw  # an empty file, or one of comments only
    file_raw, raw = raw, apply_overrides(raw, overrides, model=cls)
    try:
        raw = _expand_home(raw)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    # the keys overrides set (one into a group the file holds no mapping for is left out: the file is named)
    set_keys = {k for o in overrides if _into_group_of_file(file_raw, o, {}, cls) for k in _keys_set(o, cls)}
    try:
        return cls.model_validate(raw, context={"base": path.parent, "set": set_keys})
    except ValidationError as err:
        said = describe_errors(err, overridden=set_keys, model=cls)
        if empty:  # said so, with what it must hold
            raise ConfigError(f"{path}: an empty config file ({said})") from None
        raise ConfigError(f"{path}: invalid config: {said}") from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: ``mapping values are not allowed here (line 2, column 6)``."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else problem


def _fields_at(model: type[BaseModel] | None, loc: Sequence[str]) -> list[str]:
    """The option names of the config group at ``loc`` in ``model`` (``["train"]`` -> epochs, lr...), or []."""
    for key in loc:
        field = model.model_fields.get(key) if model is not None else None
        kinds = [field.annotation, *typing.get_args(field.annotation)] if field is not None else []
        model = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
    return list(model.model_fields) if model is not None else []


def _union_tag(part: str) -> bool:
    """Whether a part of an error's location is pydantic's name of a union member (``constrained-float``, ``int``),
    not a key of the config."""
    return part.startswith(("constrained-", "function-")) or part in {"int", "float", "str", "bool", "none"}


def _merged_choices(errors: list[Any]) -> list[Any]:
    """Pydantic's errors with the members of a union of ``Literal`` choices made one error (a model name that
    is no choice read ``model.arch.literal['unet','fpn','upernet']: ...; model.arch.literal['smp_unet']: ...``)."""
    out: list[Any] = []
    seen: dict[tuple[str, ...], Any] = {}
    members: dict[tuple[str, ...], Any] = {}  # the first error of a union's members (float | int) at a key
    for e in errors:
        tagged = any(_union_tag(str(x)) for x in e["loc"])
        loc = tuple(str(x) for x in e["loc"] if not ("[" in str(x) or "'" in str(x) or _union_tag(str(x))))
        e = {**e, "loc": loc}
        if tagged and e["type"] != "literal_error":  # each member's error: one line, "... or ..."
            if loc in members:
                first = members[loc]
                first["msg"] = f"{first['msg']}, or {e['msg'][:1].lower()}{e['msg'][1:]}"
                continue
            members[loc] = e
        if e["type"] == "literal_error" and loc in seen:
            first = seen[loc]
            first["ctx"] = {"expected": f"{first['ctx']['expected']}, {e['ctx']['expected']}"}
            first["msg"] = f"Input should be one of {first['ctx']['expected'].replace(' or ', ', ')}"
            continue
        if e["type"] == "literal_error":
            seen[loc] = e
        out.append(e)
    return out


def near_names(value: str, names: Collection[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The ``names`` nearest to ``value`` (at most ``n``), as spelt in ``names``, for "did you mean" hints.

    Compared without case and with ``-`` as ``_`` (``Default`` -> ``default``, ``crop_weed`` -> ``crop-weed``,
    ``ftw_prue_efnet_b5`` -> ``FTW_PRUE_EFNET_B5``), then by :func:`difflib.get_close_matches` (``defualt``).
    """
    import difflib

    norm = {str(k).lower().replace("-", "_"): str(k) for k in names}
    key = value.lower().replace("-", "_")
    if key in norm:  # the name itself, spelt otherwise: no other guess beside it
        return [norm[key]]
    close = [norm[m] for m in difflib.get_close_matches(key, list(norm), n, cutoff)]
    # else the names holding every part of it (PRUE_B3 -> FTW_PRUE_EFNET_B3, weed -> crop-weed), when few do
    parts = [p for p in key.split("_") if p]
    holding = [v for k, v in norm.items() if parts and all(p in k.split("_") for p in parts)]
    return close or (holding if len(holding) <= n else [])


def did_you_mean(value: str, names: Collection[str], n: int = 3, cutoff: float = 0.6) -> str:
    """``"did you mean a or b?"`` of :func:`near_names`, or ``""`` when none is near."""
    near = near_names(value, names, n, cutoff)
    return f"did you mean {' or '.join(near)}?" if near else ""


def describe_errors(
    err: ValidationError,
    names: Mapping[str, str] | None = None,
    overridden: Collection[str] = (),
    model: type[BaseModel] | None = None,
) -> str:
    """Pydantic's errors on one line: ``data.val_fraction: Input should be less than 1 (got 1.5); ...``.

    ``names`` maps a top-level field to what the user typed for it (a command-line flag); a field in
    ``overridden`` (keys given with ``--set``) is named ``--set <key>``. With the config ``model``, an unknown
    key is answered with the nearest option names of its group.
    """
    parts = []
    listed: set[tuple[str, ...]] = set()  # groups whose options were listed: once (a line of 1,500 characters)
    for e in _merged_choices(err.errors()):
        loc = [str(x) for x in e["loc"]]
        if e["type"] == "extra_forbidden" and model is not None and loc:
            valid = _fields_at(model, loc[:-1])
            hint = did_you_mean(loc[-1], valid)
            if not hint and tuple(loc[:-1]) not in listed:
                listed.add(tuple(loc[:-1]))
                hint = f"the options here: {', '.join(valid)}"
            e = {**e, "msg": (f"not an option ({hint})" if hint else "not an option") if valid else e["msg"]}
        if names and loc and loc[0] in names:
            loc[0] = names[loc[0]]
        if loc and loc[0].startswith("--") and len(loc) == 2 and loc[1].isdigit():  # a flag's list: "a,b"
            if e["type"] == "missing":  # "3" for min,max
                parts.append(f"{loc[0]}: value {int(loc[1]) + 1} is missing (give the values comma-separated)")
                continue
            loc = [f"{loc[0]} (value {int(loc[1]) + 1})"]
        where = ".".join(loc) or "(top level)"
        given = [
            k
            for k in overridden  # an override at or above the error's key, or an unknown group it made
            if where == k or where.startswith(f"{k}.") or (k.startswith(f"{where}.") and e["type"] != "value_error")
        ]
        if given:  # named as typed: --set nosuch.key, whose "nosuch" is the key refused
            where = f"--set {max(given[0], where, key=len)}"
        got = e.get("input")
        if isinstance(got, YesNo):  # pydantic's "Input should be a valid number" for what YAML read as true
            e = {**e, "msg": "a number, not a yes/no value (true, false, on, off, yes, no)"}
        short = not isinstance(got, dict | list) or len(repr(got)) <= 40  # a short list is shown: [2]
        shown = "" if not short or e["type"] in ("missing", "extra_forbidden") else f" (got {got!r})"
        if isinstance(got, YesNo):  # what was typed is gone (on, yes, True): not echoed as a "true" never typed
            shown = ""
        msg = e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if e["type"] == "string_type" and isinstance(got, int | float | bool | YesNo):  # output_dir: 2024
            shown += ": YAML reads it as a number or yes/no; quote it"
        if e["type"] == "string_too_short" and e.get("ctx", {}).get("min_length") == 1:  # pydantic's words for ""
            msg, shown = "empty: give a value", ""
        if e["type"] in ("model_type", "model_attributes_type", "dict_type"):  # a group given one value (train=3):
            # not pydantic's "a valid dictionary or instance of TrainConfig"
            opts = _fields_at(model, [str(x) for x in e["loc"]]) if model is not None else []
            some = f" (its options: {', '.join(opts[:4])}{', ...' if len(opts) > 4 else ''})" if opts else ""
            value = repr(got) if short else "one value"
            msg, shown = f"a group of options, not {value}{some}", ""
        if not loc and e["type"] == "value_error":  # a check across fields: its message names them
            parts.append(msg)
            continue
        parts.append(f"{where}: {msg}{shown}")
    return "; ".join(parts)


def renamed_names(namespace: dict[str, Any], renames: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that keeps renamed public names working for one release, with a warning.

    Use as ``__getattr__ = renamed_names(globals(), {"OldName": "NewName"})`` at the end of the module.
    """

    warned: set[str] = set()

    def __getattr__(name: str) -> Any:
        if name in renames:
            new = renames[name]
            if name not in warned:  # `from pkg import Old` asks twice (hasattr, then the import)
                warned.add(name)
                warnings.warn(
                    f"{namespace['__name__']}.{name} is now {new}", DeprecationWarning, stacklevel=_caller_level()
                )
            return namespace[new]
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")

    return __getattr__


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside agriseg and the import system: a DeprecationWarning is shown
    (by Python's default filters) only when it is attributed to the user's ``__main__``, not to agriseg's lazy
    package ``__getattr__`` it passed through."""
    import sys

    here = str(Path(__file__).resolve().parent)
    frame: Any = sys._getframe(2)  # the caller of the __getattr__ that warns: stacklevel 2
    level = 2
    while frame is not None:
        name = frame.f_code.co_filename
        if "importlib" in name and "_bootstrap" in name:
            frame = frame.f_back  # warnings.warn skips the import system's frames itself: not counted
        elif name.startswith(here):
            frame, level = frame.f_back, level + 1
        else:
            break
    return level
