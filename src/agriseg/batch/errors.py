"""A failed item's one-line message, and how a batch stops: a full disk, Ctrl-C, SIGTERM."""

from __future__ import annotations

import errno
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from agriseg.batch.items import Item, Result

log = logging.getLogger("agriseg")


class RemoteError(Exception):
    """An item's error in another process (a Dask worker), carried back as its one-line message."""


OTHER_SETTINGS = "its outputs were made with other settings"  # an item refused for its options, in its message
OTHER_FILE = "outputs of the same name were made from another file"  # one refused for its inputs, in its message
OTHER_VERSION = "its outputs were made before an input changed"  # one refused for an input edited since


def outputs_stand(error: str) -> bool:
    """Whether an item failed only because outputs of its name stand (made from another file, before an input
    was edited, or edited since they were written): they are still there, as the run that made them left them."""
    from agriseg.fingerprint import EDITED

    return any(w in error for w in (OTHER_FILE, OTHER_VERSION, EDITED))


def edited_inputs(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records (rows with ``status`` and ``error``) of items refused because an input was edited since their
    outputs were made (:data:`OTHER_VERSION`)."""
    return [r for r in records if r.get("status") == "error" and OTHER_VERSION in str(r.get("error") or "")]


def edited_reason(records: Iterable[Mapping[str, Any]] | int, noun: str) -> str:
    """Why a table holds nothing when items were refused for an input edited since (empty when none was);
    ``records``: their rows, or how many there were."""
    n = records if isinstance(records, int) else len(edited_inputs(records))
    return f"{counted(n, noun)} refused, made before an input changed: --overwrite redoes them" if n else ""


def counted(n: int, word: str, verb: str = "") -> str:
    """``3 photos``, ``1 photo``: a count and its noun, for every summary and note (regular plurals only);
    with ``verb`` (``"has/have"``), the verb that agrees: ``1 name has``, ``2 names have``."""
    said = f"{n} {word}{'' if n == 1 else 's'}"
    if verb:
        one, many = verb.split("/")
        said += f" {one if n == 1 else many}"
    return said


NAMED_LINES = 3
"""Lines of one warning (or failure) named file by file before the rest are counted, in every command."""


def listed(names: Sequence[object], limit: int) -> str:
    """``a, b, c and 4 more``: the first ``limit`` names of a message and how many it leaves out."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(map(str, names[:limit])) + more


def describe_os_error(err: OSError) -> str:
    """``<file>: <reason>`` for an operating-system error (disk full, permission denied, ...)."""
    import errno

    reason = err.strerror or str(err) or type(err).__name__
    if err.errno == errno.EEXIST and err.filename and not err.filename2:
        # a folder agriseg makes (masks/ of an output folder) where a file of that name is (a read of a file
        # given for a folder is ENOTDIR: not this)
        path = Path(os.fsdecode(err.filename))
        blocker = next((a for a in (path, *path.parents) if a.exists() and not a.is_dir()), None)
        if blocker is not None:
            return f"{path}: cannot create this folder: {blocker} is a file (kept; move it or choose another output)"
    where = err.filename or ""
    if err.filename2:
        where = f"{err.filename} -> {err.filename2}"
    return f"{where}: {reason}" if where else reason


def describe_memory_error(err: MemoryError) -> str:
    """``out of memory (...)``: numpy's message says how much it asked for; a bare MemoryError says nothing."""
    detail = " ".join(str(err).split())
    return f"out of memory ({detail})" if detail else "out of memory"


def describe_error(item: Item, err: BaseException) -> str:
    """The one-line message of a failed item: it starts with the item's input (or names a file itself)."""
    if isinstance(err, RemoteError):
        return str(err)
    if isinstance(err, MemoryError):
        return f"{item.source}: {describe_memory_error(err)}"
    if isinstance(err, OSError) and not isinstance(err, FileNotFoundError | FileExistsError) and err.filename:
        msg = describe_os_error(err)
        if str(item.source) not in msg:  # an output of the item's (disk full): the input first, as every line
            msg = f"{item.source}: {msg}"
    elif isinstance(err, UnicodeEncodeError) and "surrogates" in str(err):  # GDAL / libraries wanting UTF-8
        msg = f"{item.source}: its name is not UTF-8 (a name from another system's encoding); rename the file"
    else:
        msg = str(err).strip() or type(err).__name__
        if not isinstance(err, ValueError | OSError):
            msg = f"{type(err).__name__}: {msg}"
    msg = " ".join(msg.split())  # one line
    src = str(item.source)
    head = msg.split(": ", 1)[0]
    # a path, or a file name that is there ("<COMPRESSION.LZW: 5> requires ..." is no file: session 106's sweep)
    names_a_file = src in msg or ("/" in head or Path(head).suffix != "" and Path(head).exists()) and " " not in head
    if head.startswith(("http://", "https://")):  # a server, not a file: which area or scene met it is said too
        names_a_file = src in msg  # (two areas' failures read as one line twice)
    return msg if names_a_file else f"{src}: {msg}"


class InternalError(ValueError):
    """An item met a bug in agriseg (an exception no input should cause): the item fails with this, and says so."""


class BatchAborted(ValueError):
    """``strict``: the first failed item stopped the batch; the message is that item's (one line)."""


class DiskFull(BatchAborted):
    """A write found the disk (or the user's quota) full: the batch stops there, as every later item would fail
    the same way (300 photos each reported as failed, the run's tables never written, hid the one problem). The
    message names the file and says what was kept; the CLI prints it in one line, with exit status 1."""


# a full disk, and a full quota where the system has quotas
_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


# how libraries say it without an errno: SQLite (GeoPackage), Arrow (Parquet), GDAL (in its log line only)
_FULL_WORDS = ("no space left on device", "disk is full", "disk quota exceeded")


def error_chain(err: BaseException) -> Iterator[BaseException]:
    """``err``, then what it was raised from or while handling (``__cause__``, else ``__context__``), each once:
    a library's own error often wraps the one that says what happened."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def disk_full(err: BaseException, outputs: Iterable[str | Path] = ()) -> bool:
    """Whether ``err`` (or what it was raised from) says the disk or the quota is full, or, for an error that
    does not say why (GDAL's ``Write failed``), the disk of one of the ``outputs`` has no block left."""
    from agriseg.data.files import out_of_room

    for e in error_chain(err):
        if (isinstance(e, OSError) and e.errno in _FULL) or any(w in str(e).lower() for w in _FULL_WORDS):
            return True
    if isinstance(err, ValueError):  # a bad input: said as such, however full the disk
        return False
    # a few blocks: a writer that failed may have removed what it wrote (16 blocks: 64 KiB on most disks)
    return any(out_of_room(p, 16) for p in {Path(o).parent for o in outputs} if p.is_dir())


def _full_disk_stop(what: str, done: int, total: int, overwrite: bool) -> DiskFull:
    """The :class:`DiskFull` of a batch that met a full disk (``what``: the write that failed, one line)."""
    if not done:
        tail = "" if total == 1 else f" (none of the {total} done)"
        return DiskFull(f"{what}; free some space, then run the command again{tail}")
    return DiskFull(f"{what}; the batch stopped (free some space first): {_progress(done, total, overwrite)}")


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's cancel or time limit, ``kill``) stopped a command: handled as a Ctrl-C (outputs kept
    complete, the folder released, one line), with exit status 143 (128 + SIGTERM)."""


def terminated(err: BaseException) -> bool:
    """Whether ``err`` (or what it was raised from) is a :class:`Terminated`."""
    while err is not None:
        if isinstance(err, Terminated):
            return True
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return False


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a command; ``detail`` says what was kept and how to go on (the CLI prints it in one line
    and exits with status 130)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BatchInterrupted(Interrupted):
    """Ctrl-C stopped a batch after ``done`` of its ``total`` items (now or before).

    Finished outputs are complete files with their records; the interrupted item left only a temporary,
    removed by the next run, which resumes with the items not done.
    """

    def __init__(self, done: int, total: int, overwrite: bool = False) -> None:
        super().__init__(_progress(done, total, overwrite))
        self.done, self.total = done, total


def _progress(done: int, total: int, overwrite: bool) -> str:
    """What a stopped batch kept and how to go on (``12 of 40 done (complete outputs); the same command ...``)."""
    same = _same_command(overwrite)
    if done and done >= total:  # stopped after the last item, while the run's tables were written
        return f"all {total} done (complete outputs); {same} skips them and writes the run's tables"
    if done:
        return f"{done} of {total} done (complete outputs); {same} resumes with the other {total - done}"
    if total == 1:  # a one-output command (a model of crop adapt): "none of the 1 done" read oddly
        # (self-training keeps its pseudo-labels and finished stages, adapt its pseudo-labels; crop plots keeps
        # nothing of a mosaic it did not finish: no promise of kept work that holds for one command only)
        return "stopped before its output was written; the same command makes it" + (
            ", from the start" if overwrite else ""
        )
    # (a fields scene keeps its predicted rows; a crop plots mosaic is measured again from its first window)
    return f"none of the {total} done; {same} runs them"


def _same_command(overwrite: bool) -> str:
    """How a Ctrl-C message names the command that goes on (a re-run with --overwrite would redo the kept)."""
    return "the same command" + (" without --overwrite" if overwrite else "")


_PENDING = threading.Event()  # a Ctrl-C noted by a running batch that no KeyboardInterrupt has carried out yet


def interrupt_pending() -> bool:
    """Whether a Ctrl-C came while a batch runs and was swallowed on its way (see :class:`_CtrlC`)."""
    return _PENDING.is_set()


def stop_if_interrupted() -> None:
    """Raise the KeyboardInterrupt of a Ctrl-C a library swallowed (:func:`interrupt_pending`): loops that wait
    or retry (downloads) call it before each retry, instead of retrying a stalled read for minutes."""
    if _PENDING.is_set():
        raise KeyboardInterrupt


class _CtrlC:
    """Notes a Ctrl-C while a batch runs, then lets Python raise KeyboardInterrupt as it does. A C extension
    interrupted mid-call may raise its own error instead (matplotlib's "Invalid bounding box" for a GGHT plot):
    that item then stops the batch as the Ctrl-C it was, not fail as a photo while the batch goes on (once in
    20 tries of session 73's sweep). One may swallow it: raised inside rasterio's GDAL log callback during a
    stalled read, the KeyboardInterrupt was printed as an "Exception ignored" traceback and the read retried
    for minutes (session 104's sweep): it stays noted (:func:`interrupt_pending`, which the retry loops read)
    and such a print is left out. Signal handlers can only be set from the main thread; elsewhere nothing is
    noted."""

    def __init__(self) -> None:
        import sys

        self.pressed = False
        self.previous: Any = None
        self.unraisable: Any = None
        self.excepthook: Any = None
        self.outermost = False  # the one batch whose end clears interrupt_pending (not a batch within it)
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):  # Python's default, or a caller's handler: chained, not replaced
                self.outermost = not isinstance(getattr(previous, "__self__", None), _CtrlC)
                self.previous = previous
                signal.signal(signal.SIGINT, self._note)
                # Cython prints an exception its callback cannot raise through sys.excepthook, then reports it
                # to sys.unraisablehook: the Ctrl-C noted is said by the batch instead, once
                self.unraisable, self.excepthook = sys.unraisablehook, sys.excepthook
                sys.unraisablehook, sys.excepthook = self._unraisable, self._excepthook

    def _note(self, signum: int, frame: Any) -> None:  # noqa: ANN401 - a frame object
        self.pressed = True
        _PENDING.set()
        self.previous(signum, frame)  # Python's raises KeyboardInterrupt
        self.pressed = False  # a caller's handler that noted it and carried on: the batch goes on too
        _PENDING.clear()

    def _unraisable(self, info: Any) -> None:  # noqa: ANN401 - sys.UnraisableHookArgs
        if not (issubclass(info.exc_type, KeyboardInterrupt) and self.pressed):
            self.unraisable(info)  # anything else is printed as Python prints it

    def _excepthook(self, kind: type[BaseException], value: BaseException, tb: Any) -> None:  # noqa: ANN401
        if not (issubclass(kind, KeyboardInterrupt) and self.pressed):
            self.excepthook(kind, value, tb)

    def restore(self) -> None:
        import sys

        if self.previous is not None and signal.getsignal(signal.SIGINT) == self._note:
            signal.signal(signal.SIGINT, self.previous)
        if self.unraisable is not None and sys.unraisablehook == self._unraisable:
            sys.unraisablehook = self.unraisable
        if self.excepthook is not None and sys.excepthook == self._excepthook:
            sys.excepthook = self.excepthook
        if self.outermost:  # a Ctrl-C noted is carried out (or the batch is over): not left for the next one
            _PENDING.clear()
        self.previous = self.unraisable = self.excepthook = None
        self.outermost = False


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold a Ctrl-C or SIGTERM that comes inside the block until it ends, then act on it as it would have.

    The batch runner records each finished item in here: a Ctrl-C between an item's outputs and its record left
    complete outputs the run did not count ("none of the 12 done" beside four masks) and the re-run redid.
    Only the Python-level handlers of the main thread can be held (elsewhere the block runs as it is).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[tuple[int, Any]] = []
    held: dict[int, Any] = {}
    sigs: list[int] = [int(signal.SIGINT)] + ([int(signal.SIGTERM)] if hasattr(signal, "SIGTERM") else [])
    try:  # a signal between two of these installs still finds the first put back
        for sig in sigs:
            handler = signal.getsignal(sig)
            if callable(handler):  # SIG_DFL / SIG_IGN are the OS's: not held
                held[sig] = handler
                signal.signal(sig, lambda signum, frame: noted.append((signum, frame)))
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
        if noted:
            signum, frame = noted[0]
            held[signum](signum, frame)  # Python's raises KeyboardInterrupt; agriseg's SIGTERM, Terminated


T = TypeVar("T")


def finishing(results: Iterator[T]) -> Iterator[T]:
    """``results`` (the items a stream or an executor finished before a Ctrl-C stopped it), each handed over
    whatever is thrown in meanwhile: the runner, seeing the Ctrl-C after the first of them, throws one in to
    make the stream hand over what it finished (:func:`_drain`), and that throw ended this very drain (crop
    predict said "1 of 22 done" beside 5 complete masks, session 105's sweep). A Ctrl-C while one of them is
    still being finished still stops it."""
    for res in results:
        try:
            yield res
        except KeyboardInterrupt:
            continue  # the runner's drain: it takes the next one


def _drain(results: Iterable[Result], take: Callable[[Item, Any], None]) -> None:
    """After a Ctrl-C outside the work (while a record was written), let ``results`` hand over the items it
    finished (``crop predict``'s queued writes, the running items of :class:`Threads`) so they count as done;
    each generator stops on the Ctrl-C it is given. Failed items are not taken: the batch stops anyway."""
    throw = getattr(results, "throw", None)
    if throw is None:
        return
    try:
        item, res = throw(KeyboardInterrupt())
        while True:
            if not isinstance(res, BaseException):
                with signals_deferred():
                    take(item, res)
            item, res = next(results)  # type: ignore[call-overload]  # a generator: it has throw
    except (KeyboardInterrupt, StopIteration):
        pass
    except Exception:  # noqa: BLE001 - stopping anyway: what was recorded stands
        log.debug("while the items finished before a Ctrl-C were recorded:", exc_info=True)


def interrupted(err: BaseException) -> bool:
    """Whether ``err`` is, or was raised while handling, a Ctrl-C (an import cut short by Ctrl-C raises an
    ImportError chained to the KeyboardInterrupt, which must stop the command, not read as a missing library)."""
    return any(isinstance(e, KeyboardInterrupt) for e in error_chain(err))
