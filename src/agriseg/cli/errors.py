"""Turning library errors into clean CLI messages."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agriseg import quiet
from agriseg.batch import BatchResult, describe_memory_error, describe_os_error, interrupted

if TYPE_CHECKING:
    from agriseg.extras import Extra

log = logging.getLogger("agriseg")

# parameters that name what a command writes (and any ``*_output``, e.g. ``fields change --polygons``); every
# other file given on the command line is an input
OUTPUT_PARAMS = frozenset({"output", "outdir", "out", "output_dir", "out_dir"})


def input_files(params: dict[str, Any]) -> list[Path]:
    """Existing files among a command's parameters (outputs excepted): no output may replace them."""
    found: list[Path] = []
    for name, value in params.items():
        if name in OUTPUT_PARAMS or name.endswith("_output"):
            continue
        for v in value if isinstance(value, list | tuple) else (value,):
            if isinstance(v, str | Path) and str(v) and len(str(v)) < 4096:
                try:
                    if Path(v).is_file():
                        found.append(Path(v))
                except OSError:
                    continue
    return found


@contextlib.contextmanager
def config_named(path: str | Path, overrides: Sequence[str] = ()) -> Iterator[None]:
    """A model setting no registry builds (``model: unknown encoder ...``) named with the config file it is in,
    as every other config error is, and with the ``--set`` keys of the model that came with it."""
    from agriseg.config import ConfigError, ModelOptionError
    from agriseg.data.io import NoInputError

    try:
        yield
    except (FileNotFoundError, NoInputError) as err:  # a folder a config key names: the file named too, as
        said = str(err)  # its other errors are (session 108's sweep: "nowhere: folder not found (data.labels)")
        if not re.search(r"\((?:[a-z_]+\.[a-z_.]+|images|labels)\)$", said) or said.startswith(f"{path}:"):
            raise
        raise type(err)(f"{path}: {said}") from None
    except ModelOptionError as err:
        said = str(err)  # the --set keys of the model whose option the error names (model.encoder: "encoder")
        keys = [k for o in overrides if (k := o.partition("=")[0].strip()).split(".")[0] == "model"
                and k.split(".")[-1] in said]  # fmt: skip
        where = f"{path} with --set {', '.join(keys)}" if keys else str(path)
        raise ConfigError(f"{where}: {err}") from None


class MissingDependency(click.ClickException):
    """An optional dependency group is missing: a usage problem (exit status 2), in one line."""

    exit_code = 2


class MissingInput(click.ClickException):
    """A file or folder named on the command line is not there: a usage problem (exit status 2), in one line."""

    exit_code = 2


class OutputInTheWay(click.ClickException):
    """An output the command would write is a user's file, another command's, or one of its inputs, before any
    item ran: a usage problem (exit status 2; another output name or ``--overwrite``), in one line."""

    exit_code = 2


class BadModelFile(click.ClickException):
    """A model file named with ``--model`` cannot be read (truncated, not a model): exit status 2, in one line."""

    exit_code = 2


def _option_name(field: str, flags: dict[str, str]) -> str:
    """The command-line flag of a config field a command fills from its options: ``px_per_mm`` -> ``--px-per-mm``."""
    return flags.get(field) or "--" + field.replace("_", "-")


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Report expected errors (bad files, bad configs) as ``Error: <message>`` without a traceback.

    While the command runs, every existing file among its parameters (except the output ones) is a
    protected input: :func:`agriseg.data.files.atomic_write` refuses to replace it, even with
    ``--overwrite``.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pydantic import ValidationError

        from agriseg.cli.options import option_flags
        from agriseg.config import OptionError, describe_errors
        from agriseg.data.files import OutputIsInput, protected_inputs
        from agriseg.data.io import ImageReadError, NoInputError
        from agriseg.extras import MissingExtra
        from agriseg.fingerprint import OPTION_FLAGS
        from agriseg.models.io import ModelLoadError

        flags = option_flags(click.get_current_context(silent=True))
        token = OPTION_FLAGS.set(flags)
        try:
            try:
                with protected_inputs(input_files(kwargs)):
                    return fn(*args, **kwargs)
            except Exception as err:  # agriseg -v: where the error below came from, for a bug report
                log.debug("the error below, where it came from:", exc_info=True)
                _drop_worker_traceback(err)
                raise
        except MissingExtra as err:  # an optional dependency group is missing: the install line, exit 2
            if interrupted(err):  # Ctrl-C during the import it stands for: stop, as Ctrl-C anywhere else does
                raise KeyboardInterrupt from err
            click.echo(str(err), err=True)
            raise SystemExit(2) from err
        except OptionError as err:
            raise click.UsageError(_another_commands_config(err, kwargs) or str(err)) from err
        except ValidationError as err:  # a command's options checked by its config: name the flags, one line
            names = {str(e["loc"][0]): _option_name(str(e["loc"][0]), flags) for e in err.errors() if e["loc"]}
            raise click.UsageError(describe_errors(err, names)) from None
        except ModelLoadError as err:
            raise BadModelFile(str(err)) from err
        except ImportError as err:  # an optional dependency is missing: the message names the pip command
            if interrupted(err):  # Ctrl-C during an import: stop, as Ctrl-C anywhere else does
                raise KeyboardInterrupt from err
            raise MissingDependency(str(err)) from err
        except ImageReadError as err:  # a photo that cannot be read, or is gone (also a FileNotFoundError): exit 1
            raise click.ClickException(str(err)) from err
        except (FileNotFoundError, NoInputError) as err:  # before any item ran: a path given is wrong or empty
            raise MissingInput(str(err)) from err
        except (FileExistsError, OutputIsInput) as err:  # an errno's own words say little: the file in the way
            said = describe_os_error(err) if isinstance(err, OSError) and err.filename else str(err)
            raise OutputInTheWay(said) from err
        except ValueError as err:
            raise click.ClickException(str(err)) from err
        except OSError as err:  # full disk, read-only folder, unreadable file: one line naming the file
            raise click.ClickException(describe_os_error(err)) from err
        except MemoryError as err:  # outside any one item (a model, a mosaic): one line, not a traceback
            raise click.ClickException(describe_memory_error(err)) from err
        finally:
            OPTION_FLAGS.reset(token)

    return wrapper


def _another_commands_config(err: Exception, kwargs: dict[str, Any]) -> str | None:
    """For a run config with options of another command's (``-c`` of a crop config given to ``text sft``): what it
    is and the command that reads it, instead of every unknown key with the options of this one."""
    from agriseg.cli.options import config_of_another_command
    from agriseg.config import ConfigError

    path, ctx = kwargs.get("config_path"), click.get_current_context(silent=True)
    said = str(err)
    # an unknown key of a --set is the override's (the file may read as another command's without it)
    if not isinstance(err, ConfigError) or "not an option" not in said or "--set " in said or not path or not ctx:
        return None
    command = _command_name(ctx)  # (not the program's name: python -m agriseg)
    other = config_of_another_command(Path(path), command)
    if other is None:
        return None
    return f"{path}: a run config of `agriseg {other}`, not of `agriseg {command}`: run agriseg {other} -c {path}"


# torch's "Caught ValueError in DataLoader worker process 1.\nOriginal <the worker's formatted error>": a traceback,
# or, when the error's cause was never raised (rasterio's CPLE_AppDefinedError), that cause's one line first
_WORKER = re.compile(r"in DataLoader worker process \d+\.\nOriginal ")


def _drop_worker_traceback(err: BaseException) -> None:
    """An error raised in a data-loader worker comes back from torch with the worker's whole traceback in its
    message (``Caught ValueError in DataLoader worker process 1.`` and 40 lines); keep the error's own line,
    as the same error says without workers: ``g00.tif: not a readable raster``."""
    text = str(err)
    if not _WORKER.search(text):
        return
    name = re.escape(type(err).__name__)
    lines = text.rstrip().splitlines()
    own = next((i for i in range(len(lines) - 1, -1, -1) if re.match(rf"(?:[\w.]+\.)?{name}: ", lines[i])), None)
    if own is not None:
        first = lines[own].split(": ", 1)[1]
        err.args = ("\n".join([first, *lines[own + 1 :]]),)


def _command_name(ctx: click.Context) -> str:
    """``crop train``: the command's path below the program name."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def requires_extra(command: click.Command, extra: Extra) -> click.Command:
    """Mark a command (or every command of a group) as needing an optional dependency group.

    Its ``--help`` names the install command, and running it without the extra prints one line,
    ``<command> needs <libraries>: pip install "agriseg[<extra>]"``, and exits with status 2 (instead of
    failing on an import).
    """
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            requires_extra(sub, extra)
        return command
    callback = command.callback
    assert callback is not None

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        from agriseg.extras import install_hint, missing_modules

        if missing_modules(extra):
            ctx = click.get_current_context()
            click.echo(install_hint(extra, _command_name(ctx)), err=True)
            ctx.exit(2)
        return callback(*args, **kwargs)

    command.callback = run
    command.help = f'{inspect.cleandoc(command.help or "")}\n\nNeeds the {extra} extra: pip install "agriseg[{extra}]".'
    return command


def collapse_warnings(lines: list[str], keep: int | None = None, prefix: str = "warning: ") -> list[str]:
    """``<prefix><file>: <what>`` lines with one ``<what>`` for many files: the first ``keep`` of them (default
    :data:`agriseg.batch.NAMED_LINES`), then one line counting the rest (50 greyscale photos gave 50 lines of
    one warning)."""
    import re

    from agriseg.batch import NAMED_LINES

    keep = NAMED_LINES if keep is None else keep

    by_what: dict[str, list[tuple[str, str]]] = {}  # one warning whatever its numbers (a region, a share)
    for line in lines:
        _, _, what = line.removeprefix(prefix).partition(": ")
        by_what.setdefault(re.sub(r"\d[\d.,]*", "#", what or line), []).append((line, what or line))
    out = []
    for group in by_what.values():
        out += [line for line, _ in group[:keep]]
        if len(group) > keep:
            n, whats = len(group) - keep, {w for _, w in group}
            if len(whats) == 1:
                out.append(f"{prefix}{n} more file{'s' if n > 1 else ''}: {group[0][1]}")
            else:
                out.append(f"{prefix}{n} more like the above (other files or values)")
    return out


FAILED_LINES = 20  # more failed items than this: those of one problem are counted after the first 3


def echo_failures(lines: list[str]) -> None:
    """Each failed item's line on stderr (``  failed: <file>: <problem>``).

    Past :data:`FAILED_LINES` failures, 3 items of each problem are named and the rest counted (3,000 unreadable
    files gave 3,000 lines that hid any other problem); the summary table, where a command writes one, names all.
    """
    for line in collapse_warnings(lines, prefix="") if len(lines) > FAILED_LINES else lines:
        click.echo(f"  failed: {line}", err=True)


def finish(result: BatchResult, verb: str, where: str | Path = "", note: str = "") -> None:
    """Print a batch's summary line, then each failure on stderr, and exit with status 1 if one failed.

    Per-item commands call it last, so the exit code says whether everything was produced.
    """
    for line in result.notes:  # warnings on stderr: a script reads stdout (the summary, what was written)
        if not line.startswith("warning:"):
            click.echo(line)
    for line in [] if quiet() else collapse_warnings([n for n in result.notes if n.startswith("warning:")]):
        click.echo(line, err=True)
    click.echo(result.summary(verb, where, note))
    echo_failures(result.failures)
    if result.exit_code:
        raise SystemExit(result.exit_code)
