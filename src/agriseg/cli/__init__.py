"""The ``agriseg`` command line: one click group per pipeline, heavy imports inside the commands.

``agriseg --help`` imports nothing beyond click, so it answers instantly.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from typing import Any

import click

from agriseg import __version__
from agriseg.cli.crop import crop
from agriseg.cli.fields import fields
from agriseg.cli.text import text


class _UsageLine(click.ClickException):
    """A usage error as one line, status 2 (click's own adds the usage and a hint on lines of their own)."""

    exit_code = 2


# click >= 8.2 raises this for a group called without a command (older versions print the help themselves)
_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    t for t in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if isinstance(t, type)
)


class _Main(click.Group):
    """The ``agriseg`` group: Ctrl-C ends any command with one line and exit status 130 (128 + SIGINT), as
    shells expect, instead of click's ``Aborted!`` and status 1 (the status of a failed item); a usage error is
    one line, status 2, naming the command's help."""

    def invoke(self, ctx: click.Context) -> Any:
        from agriseg import batch

        batch.forget_batches()  # a Ctrl-C after this command's batch speaks of it, not of an earlier command's
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            raise _one_line(err, ctx) from err
        except KeyboardInterrupt as err:
            detail = err.detail if isinstance(err, batch.Interrupted) else batch.after_batch()
            stop = "terminated" if batch.terminated(err) else "interrupted"
            msg = f"{stop}: {detail}" if detail else stop
            click.echo(f"\nagriseg: {msg}", err=True)
            ctx.exit(143 if stop == "terminated" else 130)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:  # agriseg's own options (agriseg --bogus): one line too
            return super().parse_args(ctx, args)
        except click.UsageError as err:
            raise _one_line(err, ctx) from err


def _one_line(err: click.UsageError, ctx: click.Context) -> click.ClickException:
    """A usage error as :class:`_UsageLine`; a group called without a command stays as it is (click shows its
    help, status 2)."""
    if isinstance(err, _NO_ARGS_IS_HELP):
        return err
    if err.__cause__ is not None:  # agriseg's own check (OptionError): its message says what to change
        return _UsageLine(err.format_message())
    where = err.ctx.command_path if err.ctx is not None else ctx.command_path
    if isinstance(err, click.NoSuchOption):  # a file whose name starts with "-" (click reads "-x.jpg" as -x)
        # (-q.jpg reads as agriseg's -q, then "-.": any argument starting with "-" that is a file is the one)
        named = [a for a in sys.argv[1:] if a.startswith("-") and len(a) > 2 and os.path.exists(a)]
        if named:
            return _UsageLine(f"No such option {err.option_name!r}: for the file {named[0]}, give ./{named[0]}")
        return _UsageLine(f"{_no_such_option(err)} (see {where} --help)")
    # one line: click lists a choice argument's values on lines of their own (a path's own spaces stay)
    said = re.sub(r"\s*\n\s*", " ", err.format_message())
    return _UsageLine(f"{said.rstrip('.')} (see {where} --help)")


def _no_such_option(err: click.NoSuchOption) -> str:
    """click's message with its guess taken from the options ``--help`` shows, compared without their dashes:
    click also guesses the hidden ``-q`` / ``-v`` every command accepts and counts the shared ``--`` as a match
    (``--bogus``: "Did you mean '--verbose'?", ``--tiel``: "'--tile' or '--help' or '--optimize'?")."""
    message = err.message.rstrip(".")
    if err.ctx is None or not err.option_name.startswith("--"):
        return message
    from agriseg.config import near_names

    shown = [o for p in err.ctx.command.get_params(err.ctx) if not getattr(p, "hidden", False) for o in p.opts]
    longs = [o for o in shown if o.startswith("--")]  # --h: -h is no guess for a long option (nor in by_name)
    by_name = {o[2:]: o for o in [*longs, "--quiet", "--verbose"]}
    typed = err.option_name[2:]
    shorts = {o[1:]: o for o in shown if not o.startswith("--")}
    if typed in shorts:  # --o: the short option -o typed with two dashes
        return f"{message}. Did you mean {shorts[typed]!r}?"
    near = near_names(typed, ["quiet", "verbose"], cutoff=0.8) or near_names(typed, [o[2:] for o in longs])
    return f"{message}. Did you mean {' or '.join(repr(by_name[n]) for n in near)}?" if near else message


TRACKER_QUIET = "ignore:resource_tracker:UserWarning"  # a -W option of the resource tracker's process


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="agriseg")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also print agriseg's debug log: where an error came from (its traceback), what was left out and why.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no warnings; errors and results still print.")
def main(verbose: bool, quiet: bool) -> None:
    """agriseg: agricultural image segmentation.

    \b
    crop    vegetation / crop / weed masks in field photos (DepthCropSeg++)
    fields  field boundaries from Sentinel-2 (PRUE)
    text    multimodal-LLM segmentation with masks as text (MAgSeg)
    """
    if verbose and quiet:
        raise click.UsageError("-v and -q: give one of them")
    # Pillow logs why it cannot identify a file (e.g. "More samples per pixel than can be decoded: 8" for a
    # multi-band TIFF) through Python's last-resort handler; agriseg's own one-line error says it instead
    logging.getLogger("PIL").addHandler(logging.NullHandler())
    warnings.showwarning = _one_line_for_renamed_options
    # rasterio's NotGeoreferencedWarning on a plain TIFF (two lines with a site-packages path); such a file is a
    # supported input, read and written in pixel coordinates
    for message in ("Dataset has no geotransform", "The given matrix is equal to Affine.identity"):
        warnings.filterwarnings("ignore", message=message)
    # a run stopped with Ctrl-C leaves its worker pools' semaphores to multiprocessing's resource tracker, which
    # printed a UserWarning ("2 leaked semaphore objects") after agriseg's one-line message; the tracker is a
    # process of its own, started with this interpreter's -W options
    if TRACKER_QUIET not in sys.warnoptions:
        sys.warnoptions.append(TRACKER_QUIET)
    _verbosity(verbose, quiet)


def _verbosity(verbose: bool, quiet: bool) -> None:
    """``-v``: agriseg's debug log on stderr; ``-q``: no bar and no warning (here and in the workers started)."""
    import os

    from agriseg import QUIET_ENV, be_quiet_if_asked

    log = logging.getLogger("agriseg")
    if quiet:
        os.environ[QUIET_ENV] = "1"
    if be_quiet_if_asked():  # -q, or AGRISEG_QUIET=1 set by the user
        return
    if not any(isinstance(h, _BesideBars) for h in log.handlers):  # once per process (tests call main again)
        log.addHandler(_BesideBars())
    for handler in log.handlers:
        if isinstance(handler, _BesideBars):
            handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if verbose:
        log.setLevel(logging.DEBUG)


class _BesideBars(logging.Handler):
    """agriseg's warnings (and with ``-v`` its debug log) on stderr, each on a line of its own above the
    progress bars: Python's last-resort handler writes them straight after a bar's last redraw, which in a
    log file (no terminal to move back to the line's start) glues the warning to the end of the bar."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(_DebugFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            beside_bars(self.format(record))
        except Exception:  # noqa: BLE001  # as logging's own handlers: a failing log line never stops the run
            self.handleError(record)


_SAID_AT = [0.0]  # when the last line was written by beside_bars (time.time(), as tqdm times its redraws)


def beside_bars(text: str) -> None:
    """``text`` as a line of its own on stderr beside the progress bars. On a terminal the bars are cleared and
    drawn again below it (tqdm.write); in a log file, where a redraw is a line more, it starts a new line only
    when a bar was drawn since the last one (the bar's line is left as it is, each warning below it)."""
    import time

    from tqdm import tqdm

    try:
        terminal = sys.stderr.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if terminal:
        tqdm.write(text, file=sys.stderr)  # clears the bars, writes the line, draws them again
    else:
        from agriseg.batch import bar_drew

        # agriseg's own bars say when they drew, even one closed since (a per-image bar clears its line with a
        # \r and leaves); another library's open bars by when they last drew
        bars = [b for b in list(getattr(tqdm, "_instances", ())) if getattr(b, "fp", None) is not None]
        drawn = any(getattr(b, "last_print_t", 0.0) >= _SAID_AT[0] and not getattr(b, "disable", False) for b in bars)
        drawn = bar_drew() or drawn
        sys.stderr.write(("\n" if drawn else "") + text + "\n")
        sys.stderr.flush()
    _SAID_AT[0] = time.time()


class _DebugFormatter(logging.Formatter):
    """agriseg's log as its commands print their own notes: warnings marked ``warning:`` (the warnings a command
    collects and prints itself were, the logged ones not: two dialects in one run, session 106's sweep), debug
    lines ``debug:``, anything else the message alone."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno < logging.INFO:
            return f"debug: {text}"
        # (a batch's failure lines, "failed: ...", as its summary says them)
        if record.levelno == logging.WARNING and not text.startswith(("warning: ", "failed: ")):
            return f"warning: {text}"
        return text


_show = warnings.showwarning


def _one_line_for_renamed_options(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """A renamed config key as one ``agriseg:`` line, like a renamed flag; other warnings as Python shows them,
    on a line of their own above the progress bars (as :class:`_BesideBars` writes agriseg's log)."""
    from agriseg.config import RenamedOptionWarning

    if issubclass(category, RenamedOptionWarning):
        click.echo(f"agriseg: {message}", err=True)
    elif file is None:  # stderr
        beside_bars(warnings.formatwarning(message, category, filename, lineno, line).rstrip("\n"))
    else:
        _show(message, category, filename, lineno, file, line)


def _late_verbosity(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``-q`` / ``-v`` given after a command's name (``agriseg crop predict photo.jpg -q``), as where they are
    first given (``agriseg -q crop predict ...``): the same flags, the same checks."""
    if not value:
        return
    given = ctx.find_root().meta.setdefault("agriseg.verbosity", set(k for k, v in ctx.find_root().params.items() if v))
    given.add(param.name)
    if {"verbose", "quiet"} <= given:
        raise click.UsageError("-v and -q: give one of them")
    _verbosity("verbose" in given, "quiet" in given)


def _accept_verbosity_anywhere(command: click.Command) -> None:
    """Give ``command`` and every command under it agriseg's ``-q`` / ``-v`` (hidden: the root's help shows
    them), so a flag typed at the end of a command line is not refused as an unknown option."""
    for flags, name in ((("-q", "--quiet"), "quiet"), (("-v", "--verbose"), "verbose")):
        command.params.append(
            click.Option(flags, name, is_flag=True, hidden=True, expose_value=False, callback=_late_verbosity)
        )
    for sub in getattr(command, "commands", {}).values():
        _accept_verbosity_anywhere(sub)


for _group in (crop, fields, text):
    _accept_verbosity_anywhere(_group)
    main.add_command(_group)
