"""The batch runner itself: :func:`run_batch`, its options and its result."""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar, overload

from agriseg.batch.errors import (
    _FULL,
    OTHER_FILE,
    OTHER_SETTINGS,
    OTHER_VERSION,
    BatchAborted,
    BatchInterrupted,
    InternalError,
    _CtrlC,
    _drain,
    _full_disk_stop,
    _same_command,
    describe_error,
    describe_os_error,
    disk_full,
    edited_reason,
    interrupted,
    signals_deferred,
)
from agriseg.batch.executors import Executor, Serial
from agriseg.batch.items import Item, Result
from agriseg.batch.outputs import _removed_table, check_table, keep_unstamped_copy
from agriseg.batch.progress import progress_bar
from agriseg.fingerprint import EDITED, INPUTS_CHANGED, FingerprintStore, Recipe, default_store

log = logging.getLogger("agriseg")

Status = Literal["ok", "skipped", "failed"]


@dataclass
class Outcome:
    """What became of one item: ``ok`` (produced now), ``skipped`` (done before) or ``failed``.

    ``reason`` says why an item failed: ``error`` (its work raised), ``changed`` (its outputs were made from
    another record) or ``unrecorded`` (a file not made by this command is in the way).
    """

    item: Item
    status: Status
    record: dict[str, Any]
    error: str = ""
    reason: Literal["", "error", "changed", "unrecorded"] = ""


@dataclass
class BatchResult(Sequence[dict[str, Any]]):
    """The outcome of a batch: a sequence of the pipeline's records in input order, with counts.

    Attributes:
        outcomes: one per item, in input order.
        seconds: wall time of the items that ran.
        unit: what an item is, for the rate (``img``, ``scene``).
        notes: lines for the user before the summary (e.g. inputs that were left out, and why).
        note: what the summary adds after the count of produced items (e.g. the area per second).
    """

    outcomes: list[Outcome]
    seconds: float = 0.0
    unit: str = "item"
    notes: list[str] = field(default_factory=list)
    note: str = ""

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [o.record for o in self.outcomes[i]]
        return self.outcomes[i].record

    def __len__(self) -> int:
        return len(self.outcomes)

    def __repr__(self) -> str:  # a notebook's cell: the counts, not every record of thousands of items
        n = self.counts
        return f"BatchResult({n['ok']} ok, {n['skipped']} skipped, {n['failed']} failed, {self.seconds:.1f} s)"

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(
            self.outcomes + other.outcomes,
            self.seconds + other.seconds,
            self.unit,
            self.notes + other.notes,
            " ".join(n for n in (self.note, other.note) if n),
        )

    @property
    def counts(self) -> dict[Status, int]:
        """Items per status: ``{"ok": 3, "skipped": 2, "failed": 1}``."""
        return {s: sum(o.status == s for o in self.outcomes) for s in ("ok", "skipped", "failed")}

    @property
    def failures(self) -> list[str]:
        """The one-line message of every failed item."""
        return [o.error for o in self.outcomes if o.status == "failed"]

    @property
    def exit_code(self) -> int:
        """0 when every item was produced (now or before), 1 when one failed."""
        return 1 if self.counts["failed"] else 0

    def summary(self, verb: str, where: str | Path = "", note: str = "") -> str:
        """One line: ``3 predicted, 2 skipped, 1 failed in 4.1 s (0.73 img/s) -> out/``."""
        n = self.counts
        ok, note = n["ok"], note or self.note
        rate = ""
        if ok and self.seconds > 0:  # a slow item (a mosaic of minutes) as seconds each: "0.00 mosaic/s" said nothing
            each = (
                f"{ok / self.seconds:.2f} {self.unit}/s"
                if ok / self.seconds >= 0.1
                else f"{self.seconds / ok:.1f} s/{self.unit}"
            )
            rate = f" in {self.seconds:.1f} s ({each})"
        line = f"{ok} {verb}, {n['skipped']} skipped, {n['failed']} failed{rate}{note}"
        # nothing there to point to when every item failed ("-> out.tif" named a file never written); a folder
        # holding what the run wrote of them (crop traits' tables of failures) is pointed to
        there = ok or n["skipped"] or Path(where).exists()
        return f"{line} -> {where}" if str(where) and there else line


@dataclass
class BatchOptions:
    """How a batch runs (none of these change what it writes).

    Attributes:
        overwrite: run items whose outputs exist (and replace files in the way).
        strict: stop at the first failed item (raises :class:`BatchAborted`).
        progress: show a tqdm bar.
        desc: the bar's label.
        unit: what an item is (``img``, ``scene``).
        named_output: the batch is one item whose output the user named (``-o FILE``): a file in its way
            that this command did not write is a usage error (:class:`agriseg.config.OptionError`, exit 2),
            not a failed item.
        redo_inputs: the outputs are in a work folder of the command's own (``crop selftrain``'s ``pseudo/``):
            those made from other input files (a photo edited since, another photo of that name) are made
            again, not refused; the user never reads them, so there is no one to ask.
    """

    overwrite: bool = False
    strict: bool = False
    progress: bool = True
    desc: str = "items"
    unit: str = "item"
    named_output: bool = False
    redo_inputs: bool = False

    def __post_init__(self) -> None:
        # overwrite="no" is a true value: it remade (and replaced) every finished output
        from dataclasses import fields

        for f in fields(self):
            value, flag = getattr(self, f.name), f.type in ("bool", bool)
            if flag and getattr(getattr(value, "dtype", None), "kind", "") == "b" and getattr(value, "ndim", 1) == 0:
                value = bool(value)  # numpy's True (a flag computed with numpy)
                setattr(self, f.name, value)
            if not isinstance(value, bool if flag else str):
                raise TypeError(f"batch: {f.name} is {'True or False' if flag else 'text'}, not {value!r}")

    def labelled(self, desc: str, unit: str, progress: bool = True) -> BatchOptions:
        """These options for a pipeline's items: the bar's label and unit; ``progress=False`` hides the bar."""
        return replace(self, desc=desc, unit=unit, progress=self.progress and progress)


P = ParamSpec("P")
R = TypeVar("R")
LEGACY_KEYWORDS = ("overwrite", "strict", "progress")


def batch_keywords(fn: Callable[P, R]) -> Callable[P, R]:
    """Let an entry point that takes ``batch: BatchOptions`` still take the ``overwrite=``, ``strict=`` and
    ``progress=`` keywords it took before (deprecated: they go in the next release), and take ``batch`` as a dict
    of :class:`BatchOptions` fields too, as it takes its ``config`` (a dict failed deep inside with
    ``AttributeError: 'dict' object has no attribute 'progress'``)."""
    import inspect

    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:  # the call's own mistake: said by the call itself
            bound = None
        given = bound.arguments.get("batch") if bound is not None else None
        if isinstance(given, Mapping):
            bound.arguments["batch"] = batch_options(given)  # type: ignore[union-attr]  # not None here
            args, kwargs = bound.args, bound.kwargs  # type: ignore[union-attr,assignment]
        elif given is not None and not isinstance(given, BatchOptions):
            raise TypeError(f"batch: a BatchOptions or a dict of its fields, not {type(given).__name__}")
        old = {k: kwargs.pop(k) for k in LEGACY_KEYWORDS if k in kwargs}
        if old:
            warnings.warn(
                f"{fn.__name__}({'=, '.join(old)}=) is deprecated and goes in the next release; pass "
                "batch=BatchOptions(...)",
                DeprecationWarning,
                stacklevel=2,
            )
            kwargs["batch"] = replace(kwargs.get("batch") or BatchOptions(), **old)  # type: ignore[type-var]
        return fn(*args, **kwargs)

    return call


def batch_options(values: Mapping[str, Any]) -> BatchOptions:
    """:class:`BatchOptions` from a dict of its fields; an unknown key is a ``TypeError`` listing the valid ones."""
    from dataclasses import fields

    names = [f.name for f in fields(BatchOptions) if f.init]
    if unknown := [k for k in values if k not in names]:
        raise TypeError(f"batch: no option {unknown[0]!r} (options: {', '.join(names)})")
    return BatchOptions(**values)


def _default_failed(item: Item, message: str) -> dict[str, Any]:
    return {"file": str(item.source), "status": "error", "error": message}


def _default_skipped(item: Item) -> dict[str, Any] | None:
    return {"file": str(item.source), "status": "skipped"}


def _same_file(path: Path, inputs: Sequence[Path | str]) -> bool:
    """Whether ``path`` is one of ``inputs`` (the file itself, by any name; not a folder holding one)."""
    here = Path(path)
    try:
        if not here.exists():
            return False
        return any(Path(i).exists() and os.path.samefile(here, i) for i in inputs)
    except OSError:  # a name too long for the file system: no file of it, and the item says why when it is made
        return False


def run_batch(
    items: Sequence[Item],
    work: Callable[[Item], dict[str, Any]] | None = None,
    *,
    stream: Callable[[Sequence[Item]], Iterable[Result]] | None = None,
    options: BatchOptions | None = None,
    recipe: Recipe | None = None,
    store: FingerprintStore | None = None,
    executor: Executor | None = None,
    resume: Callable[[Item], dict[str, Any] | None] = _default_skipped,
    failed: Callable[[Item, str], dict[str, Any]] = _default_failed,
    expected: tuple[type[BaseException], ...] = (ValueError, OSError, MemoryError),
    format_error: Callable[[Item, BaseException], str] = describe_error,
    folders: Sequence[str | Path] | None = None,
    tables: Sequence[str | Path] = (),
    finish: Callable[[BatchResult], None] | None = None,
    prepare: Callable[[], None] | None = None,
) -> BatchResult:
    """Run a batch (see the module docstring).

    Args:
        items: the items, in input order (names unique).
        work: produces one item's outputs and returns its record (run by ``executor``).
        stream: instead of ``work``: takes the items to run and yields ``(item, record or exception)`` as
            each completes (a pipeline that batches items itself).
        options: overwrite, strict, progress.
        recipe: what the run's fingerprints share (None: a store that needs one treats items as unrecorded).
        store: the fingerprint store (default: :func:`agriseg.fingerprint.default_store`).
        executor: where ``work`` runs (default :class:`Serial`).
        resume: the record of an item done before (None: run it again).
        failed: the record of a failed item, from its one-line message.
        expected: exceptions that fail one item as a bad input; any other exception fails its item as an
            internal error (named as a bug in agriseg, its traceback in the debug log) and the batch goes on.
            An executor's own errors (a lost Dask worker) count as expected. ``()``: every error is raised
            as it is (a command of one output, whose usage errors must stay usage errors).
        format_error: the one-line message of a failed item (names its file).
        folders: output folders to create and clean of temporaries left by killed runs (default: the
            folders of the items' outputs).
        tables: files the command writes once per folder after the batch (``summary.csv``): checked by
            :func:`check_table` before anything runs.
        finish: writes those tables from the result (it may add notes), called while the output folders are
            still locked: a second run cannot start between the last item and the tables and leave them
            describing outputs it replaced.
        prepare: called once after the checks of the outputs and tables, before any folder or file is made:
            a model that takes minutes to load is loaded after those usage errors are said, and its own errors
            stop the run with nothing written.

    Returns:
        The records in input order, with counts.

    Raises:
        BatchAborted: ``strict`` and an item failed (its message).
    """
    from agriseg.data.files import clean_stale_temporaries, ensure_outdir, input_finder, protected_inputs

    if (work is None) == (stream is None):
        raise TypeError("run_batch needs exactly one of work or stream")
    opts = options or BatchOptions()
    store = store or default_store()
    _check_distinct(items)
    from agriseg.data.files import OutputIsInput, is_or_holds

    inputs = [p for it in items for p in it.inputs] + list(recipe.inputs if recipe else ())
    find = input_finder(inputs)  # built once: the tables below, then every item's outputs (_plan)
    for table in tables:
        if (src := find(table)) is not None:  # a photo called growth.png: the run removes its tables first,
            raise OutputIsInput(  # and --overwrite removed it; refused before any work
                f"{table}: {is_or_holds(table, src)} one of the inputs ({src}); this command writes its "
                f"{Path(table).name} there: choose another output folder"
            )
        check_table(table, opts.overwrite, recipe.command if recipe is not None else None)
    # every item would write over the very file it reads (-o the input folder of a command that names its outputs
    # like its inputs): the output folder is wrong, a usage error before any work; one such item fails alone
    own = (next((p for p in it.outputs if _same_file(p, it.inputs)), None) for it in items)  # lazily: a resumed
    first = next(own, None)  # batch of thousands stops at its first item, which writes over none of its inputs
    if first is not None and all(o is not None for o in own) and not (opts.named_output and len(items) == 1):
        raise OutputIsInput(  # (-o FILE: said below, with its name)
            f"{first}: is one of the inputs (the file it would be made from), as every input's output would be: "
            f"choose another output folder than {Path(first).parent}"
        )
    if prepare is not None and items:  # after the checks above, before anything is made or written
        prepare()
    names: dict[Path, list[str]] = {}  # output file names by folder: an earlier agriseg's temporaries of them
    for it in items:
        for p in it.outputs:
            names.setdefault(p.parent, []).append(p.name)
    for folder in sorted(names) if folders is None else map(Path, folders):
        ensure_outdir(folder)
        clean_stale_temporaries(folder, names.get(folder, ()))
    outcomes: dict[int, Outcome] = {}
    index = {id(it): i for i, it in enumerate(items)}
    with protected_inputs(inputs):
        store.open(items, recipe)
        try:
            claim = getattr(store, "claim_tables", None)  # stores without records have no tables to claim
            if claim is not None and tables:
                claim([Path(t) for t in tables])
            stale: set[int] = set()  # items run again over outputs of other settings or files
            todo = _plan(items, store, recipe, opts, resume, failed, outcomes, find, stale)
            begin = getattr(store, "begin", None)  # optional in the protocol: stores written before it lack it
            if begin is not None and todo:
                begin(todo)
            from agriseg.manifest import table_edited, table_stamped

            held: dict[Path, bytes] = {}  # put back if this run makes nothing after all (every item fails)
            for table in tables if todo else ():
                # agriseg's table as it wrote it: rewritten when the batch ends, and until then it would describe
                # outputs this run replaces (e.g. on Ctrl-C). A file of yours under its name (or one edited since, or
                # a table of an agriseg before table stamps) describes none of them: it stays where it is, written
                # over only by the table itself (copied aside first, --overwrite or not: keep_unstamped_table)
                if Path(table).is_file() and table_stamped(table) and not table_edited(table):
                    held[Path(table)] = Path(table).read_bytes()
                    Path(table).unlink()
            bar = progress_bar(total=len(items), initial=len(items) - len(todo), desc=opts.desc, unit=opts.unit,
                       disable=not opts.progress or len(todo) < 2)  # fmt: skip
            t0 = time.perf_counter()
            ctrl_c = _CtrlC()
            results = stream(todo) if stream is not None else (executor or Serial()).map(work, todo)  # type: ignore[arg-type]

            def take(item: Item, res: Any) -> None:  # noqa: ANN401 - a record or an exception
                i = index[id(item)]
                if isinstance(res, BaseException):
                    if not isinstance(res, Exception):  # KeyboardInterrupt, SystemExit: not an item's
                        raise res
                    if ctrl_c.pressed or interrupted(res):  # a library turned the Ctrl-C into its own error
                        raise KeyboardInterrupt from res
                    if not expected:  # a one-output command: its error is raised as it is
                        raise res
                    log.debug("%s: failed, where it came from:", item.source, exc_info=res)  # agriseg -v
                    full = disk_full(res, item.outputs)
                    if full and not (isinstance(res, OSError) and res.errno in _FULL and res.filename):
                        # a library's words for it (SQLite's "database or disk is full"): said as every full disk
                        res = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(item.outputs[0]))
                    elif not isinstance(res, expected) and not getattr(executor, "remote", False):
                        # a bug met by one item: that item fails, named as a bug, and the batch goes on (a
                        # 12 MP photo that hit one stopped a folder that could then never finish)
                        res = InternalError(f"internal error ({type(res).__name__}: {res}); this is a bug in "
                                            "agriseg, please report it (agriseg -v shows where)")  # fmt: skip
                    msg = format_error(item, res)
                    discard = getattr(store, "discard", None)  # optional in the protocol, as begin
                    if id(item) in stale and discard is not None and discard(item):
                        # left there, the earlier outputs were read as this run's (a mask of the old settings
                        # in the folder a training set is made from)
                        msg += "; the outputs an earlier run made for it were removed"
                    if (mark := getattr(store, "failed", None)) is not None:  # optional in the protocol too
                        with contextlib.suppress(OSError):  # (a full disk is said below, as it is)
                            mark(item)  # a file put under its output's name later is a user's
                    outcomes[i] = Outcome(item, "failed", failed(item, msg), msg, "error")
                    if full:
                        raise _full_disk_stop(msg, done(), len(items), opts.overwrite) from res
                    if opts.strict:
                        raise BatchAborted(msg) from res
                else:
                    try:
                        store.record(item, recipe)
                    except OSError as err:  # its outputs are complete, but not known as this run's
                        if disk_full(err):
                            raise _full_disk_stop(describe_os_error(err), done(), len(items), opts.overwrite) from err
                        raise
                    outcomes[i] = Outcome(item, "ok", res)
                bar.update(1)

            def done() -> int:
                return sum(o.status != "failed" for o in outcomes.values())

            handed: Result | None = None  # the last item the results handed over
            try:
                try:
                    for handed in results:
                        with signals_deferred():  # a Ctrl-C here waits for the item's record: its outputs are done
                            take(*handed)
                        if ctrl_c.pressed:  # a Ctrl-C a library swallowed (raised in its C callback): stopped now
                            raise KeyboardInterrupt
                except KeyboardInterrupt as err:
                    if handed is not None and index[id(handed[0])] not in outcomes:
                        if not isinstance(handed[1], BaseException):  # the Ctrl-C came before its record began
                            take(*handed)
                    _drain(results, take)
                    raise BatchInterrupted(done(), len(items), opts.overwrite) from err
            except (BatchAborted, BatchInterrupted):
                # stopped (--strict, Ctrl-C) before it made anything, and no outputs they count were to be remade
                # (--overwrite): they still describe what is there
                if held and not opts.overwrite and not any(o.status == "ok" for o in outcomes.values()):
                    _put_back_tables(held)
                raise
            finally:
                ctrl_c.restore()
                close = getattr(results, "close", None)
                if close is not None:
                    close()  # strict or an error: cancel what has not started
                bar.close()
            seconds = time.perf_counter() - t0
            notes = list(getattr(executor, "notes", None) or [])  # e.g. Dask workers lost, retried
            result = BatchResult([outcomes[i] for i in range(len(items)) if i in outcomes], seconds, opts.unit,
                                 notes)  # fmt: skip
            _FINISHED[:] = [sum(o.status != "failed" for o in result.outcomes), len(items), opts.overwrite]
            # nothing made, and items refused for other options or other input files (another plots file; others may
            # have failed, e.g. an unreadable photo): the outputs stand as they were, and the tables still describe
            # the run that made them. Not for an input edited in place since: the tables' rows then held the values
            # of a file that is no more as ok (session 103's sweep); their rows say the refusal, as the README says
            said = [any(w in (o.error or "") for w in (OTHER_SETTINGS, OTHER_FILE)) for o in result.outcomes]
            # (one refused for an input edited since among them: the tables said its old values ok; session 107)
            edited = sum(OTHER_VERSION in (o.error or "") for o in result.outcomes)
            refused = any(said) and not edited and all(o.status == "failed" for o in result.outcomes)
            if finish is not None and refused and tables and all(Path(t).is_file() or Path(t) in held for t in tables):
                _put_back_tables(held)
                shown = ", ".join(str(t) for t in tables)
                them = "them" if len(tables) > 1 else "it"
                result.notes.append(f"{shown}: left as an earlier run wrote {them} (this run made nothing)")
            elif finish is not None:
                try:
                    from agriseg.manifest import mark_tables_writing, seal_tables, unseal_tables

                    # a file of yours (or an unstamped table) copied aside now, as the tables are about to be written
                    # (a run stopped or refused before this keeps no copy); a kill while they are written: the re-run
                    # rewrites them, and a file of yours this run does not write stays theirs
                    kept_tables = {Path(t): k for t in tables if (k := keep_unstamped_copy(t, opts.overwrite))}
                    result.notes[:0] = [line for line, _ in kept_tables.values()]
                    mine = [t for t in tables if not Path(t).exists() or (table_stamped(t) and not table_edited(t))]
                    theirs = {Path(t): _identity(t) for t in tables if t not in mine and Path(t).is_file()}
                    mark_tables_writing(mine)
                    finish(result)  # it stamps the tables in its folder as agriseg's (seal_tables): not theirs
                    # a table it did not write (text predict's run.json when every image failed) was left stamped
                    # "writing", as a killed run leaves it (session 105's sweep)
                    seal_tables([t for t in mine if not Path(t).is_file()])
                    left = [t for t, b in theirs.items() if t.is_file() and _identity(t) == b]  # not written now
                    unseal_tables(left)
                    for t in (t for t in left if t in kept_tables):  # not written over: its copy was not needed
                        line, copy = kept_tables[t]
                        copy.unlink(missing_ok=True)
                        result.notes.remove(line)
                    result.notes += [_left_table(t) for t in left]
                    # an earlier run's table this one did not write again (growth.csv of one date): said, as
                    # drop_tables says it (it was set aside when the batch began, so never silently gone)
                    gone = [t for t in held if not t.exists()]
                    noun = {"img": "photo"}.get(opts.unit, opts.unit)  # why: items refused for an edited input
                    result.notes += [_removed_table(*gone, why=edited_reason(edited, noun))] if gone else []
                except OSError as err:  # the items' outputs are complete: say so, and how to get the tables
                    if disk_full(err):
                        raise _full_disk_stop(describe_os_error(err), done(), len(items), opts.overwrite) from err
                    raise
        finally:
            if sys.exc_info()[1] is None:
                store.close()
            else:  # a full disk: the error of the write that failed first says more than the record's own
                with contextlib.suppress(OSError):
                    store.close()
    return result


def _identity(path: str | Path) -> tuple[int, int, int]:
    """A file's inode, size and modification time: a table written (atomically: a new file renamed over it)
    differs, even with the same bytes."""
    st = Path(path).stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def _left_table(path: Path) -> str:
    return (
        f"{path}: not written by this run, left as it was (a file of yours, or a table an agriseg before table "
        "stamps wrote: it may describe an earlier run)"
    )


def _put_back_tables(held: Mapping[Path, bytes]) -> None:
    """Write back the tables an earlier run wrote (a run that made nothing leaves them describing that run)."""
    from agriseg.data.files import atomic_write
    from agriseg.manifest import seal_tables

    for table, data in held.items():
        with atomic_write(table) as tmp:
            tmp.write_bytes(data)
    seal_tables(list(held))


# [done, total, overwrite] of the last batch this process finished: what a Ctrl-C after it (while the command
# writes its tables or merges) can say was kept; see after_batch()
_FINISHED: list[Any] = []


def forget_batches() -> None:
    """Start a command with no finished batch for :func:`after_batch` to speak of (one process may run several
    commands, e.g. tests through click's runner)."""
    _FINISHED.clear()


def after_batch() -> str | None:
    """What a Ctrl-C that stopped a command after its last finished batch can say (None: no batch finished).

    A Ctrl-C inside a batch is a :class:`BatchInterrupted`; this is for the work a command does after one
    (its tables, a merge), where the batch's outputs are complete and recorded."""
    if not _FINISHED:
        return None
    done, total, overwrite = _FINISHED
    if not done:
        return None
    same = _same_command(overwrite)
    return f"after its batch ({done} of {total} done, complete outputs); {same} skips them and does the rest"


def _check_distinct(items: Sequence[Item]) -> None:
    """Refuse (a usage error) two inputs whose outputs would share a name, naming both inputs."""
    from agriseg.config import OptionError
    from agriseg.data.io import name_key

    seen: dict[str, Item] = {}
    for it in items:
        key = name_key(it.name)  # "North" and "north" are one file on macOS and Windows disks
        if key not in seen:
            seen[key] = it
            continue
        first = seen[key]
        a, b = Path(str(first.source)), Path(str(it.source))
        if a.resolve() == b.resolve():
            raise OptionError(f"{b}: given twice (also as {a})" if str(a) != str(b) else f"{b}: given twice")
        same = it.name if it.name == first.name else f"{first.name} and {it.name}, one name on macOS and Windows"
        raise OptionError(f"{a} and {b} would write outputs of the same name ({same})")
    # distinct names can still meet in one file: a.png's a_instances.png and the mask of a_instances.png
    owner: dict[str, Item] = {}
    for it in items:
        for p in it.outputs:
            key = name_key(os.path.abspath(p))
            if owner.setdefault(key, it) is not it:
                raise OptionError(f"{owner[key].source} and {it.source} would both write {p}; rename one of them")


def _plan(
    items: Sequence[Item],
    store: FingerprintStore,
    recipe: Recipe | None,
    opts: BatchOptions,
    resume: Callable[[Item], dict[str, Any] | None],
    failed: Callable[[Item, str], dict[str, Any]],
    outcomes: dict[int, Outcome],
    is_input: Callable[[Path], Path | None] = lambda p: None,
    stale: set[int] | None = None,
) -> list[Item]:
    """Ask the store about every item: the items to run; the others' outcomes go into ``outcomes``. An item
    with an output that ``is_input`` names fails (even with ``overwrite``). ``stale`` gets the ``id`` of each
    item run again over outputs recorded as made with other settings or from other files."""
    from agriseg.data.files import NAME_MAX, is_or_holds, kept_reason

    stale = set() if stale is None else stale

    todo: list[Item] = []
    for i, item in enumerate(items):
        long = next((out for out in item.outputs if len(os.fsencode(Path(out).name)) > NAME_MAX), None)
        clash = None if long else next(((o, src) for o in item.outputs if (src := is_input(o)) is not None), None)
        kept = next(((o, why) for o in item.outputs if (why := kept_reason(o))), None) if not clash else None
        if kept is not None and long is None:  # a file of the user's the command keeps (even with overwrite)
            msg = f"{item.source}: its output {kept[0]} is {kept[1]}"
            if opts.strict:
                raise BatchAborted(msg)
            outcomes[i] = Outcome(item, "failed", failed(item, msg), msg, "unrecorded")
            continue
        if clash is not None or long is not None:  # failed before anything is written; the batch goes on
            if long is not None:  # the file system would refuse it half-way (ENAMETOOLONG)
                name = Path(long).name
                msg = (
                    f"{item.source}: its output {name[:24]}...{name[-16:]} would have a {len(os.fsencode(name))}-byte "
                    f"name, over the {NAME_MAX} a file system allows; rename the input shorter"
                )
                if opts.named_output and len(items) == 1:  # the name given on the command line: a usage error
                    from agriseg.config import OptionError

                    raise OptionError(
                        f"{name[:24]}...{name[-16:]}: a {len(os.fsencode(name))}-byte output name, over the "
                        f"{NAME_MAX} a file system allows; give a shorter one"
                    )
            elif clash is not None:  # it would replace a file the run reads
                kind = "name" if opts.named_output and len(items) == 1 else "folder"
                msg = f"{clash[0]}: {is_or_holds(*clash)} one of the inputs ({clash[1]}); choose another output {kind}"
                if not _same_file(clash[0], item.inputs):  # another input's name: the line starts with this one's
                    msg = f"{item.source}: its output {msg}"
                if kind == "name":  # the output named on the command line: a usage error, as one in the way
                    from agriseg.config import OptionError

                    raise OptionError(msg)
            if opts.strict:
                raise BatchAborted(msg)
            outcomes[i] = Outcome(item, "failed", failed(item, msg), msg, "unrecorded")
            continue
        verdict = store.check(item, recipe)
        redo = verdict.state == "changed" and (verdict.inputs_only and opts.redo_inputs or opts.overwrite)
        if redo and EDITED not in verdict.detail:  # outputs of other settings or files: gone if the redo fails
            # (not "missing" ones: a store answers so before comparing settings, e.g. for an overlay removed by
            # hand, and a redo that ran out of memory then took the mask of this run's settings with it)
            stale.add(id(item))
        if verdict.state == "missing" or opts.overwrite or redo:
            todo.append(item)
            continue
        if verdict.state == "same":
            rec = resume(item)
            if rec is None:  # unreadable earlier outputs: made again
                todo.append(item)
            else:
                outcomes[i] = Outcome(item, "skipped", rec)
            continue
        record = None
        elsewhere = "another output name" if opts.named_output and len(items) == 1 else "another output folder"
        if verdict.state == "changed" and EDITED in verdict.detail:  # an output edited or replaced since
            msg = f"{item.source}: {verdict.detail} (kept; --overwrite replaces it, or move it to keep your edits)"
            # its row never shows values read from a file someone else wrote there
        elif verdict.state == "changed" and verdict.inputs_only:  # another file's outputs, or an earlier version's
            other = INPUTS_CHANGED in verdict.detail
            msg = (
                f"{item.source}: {OTHER_FILE if other else OTHER_VERSION} ({verdict.detail}); "
                f"use --overwrite to redo them{' from this one' if other else ''}, or {elsewhere}"
            )  # its row never shows the other file's values
        elif verdict.state == "changed":
            msg = f"{item.source}: {OTHER_SETTINGS} ({verdict.detail}); use --overwrite to redo them, or {elsewhere}"
            # its outputs stand and its record is listed, marked as kept from the other run; tables of values
            # (traits.csv, growth.csv) leave it out (:func:`measured_now`): made with other settings
            previous = resume(item)
            record = None if previous is None else {**previous, "status": "kept", "error": msg}
        else:
            where = verdict.detail or item.outputs[0]
            msg = f"{where}: exists and was not written by this command (kept; --overwrite replaces it)"
        if opts.named_output and len(items) == 1:  # the one output named (in the way, or made with other settings):
            from agriseg.config import OptionError  # refused before any work, a usage error (exit 2) as `crop train`

            raise OptionError(msg)
        if opts.strict:
            raise BatchAborted(msg)
        outcomes[i] = Outcome(item, "failed", record or failed(item, msg), msg, verdict.state)
    return todo
