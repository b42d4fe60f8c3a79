"""The one batch runner: every per-item command goes through :func:`run_batch`.

A per-item command turns each input (a photo, a mask, a scene, an area) into outputs of its own. The runner
does, once for all of them: unique output names (:func:`unique_names`), skip / resume / refuse through a
fingerprint store, the inputs of the run protected from being written over, a tqdm progress bar, one
error formatter for per-item failures (one line naming the file), ``strict`` (stop at the first failure),
ok / skipped / failed counts and one summary line (:meth:`BatchResult.summary`), and the exit code
(:attr:`BatchResult.exit_code`: 0 when every item was produced, 1 when one failed; usage errors are 2 and
are raised before a batch starts). Outputs are written by the pipeline's work function through
:func:`agriseg.data.files.atomic_write` (:func:`agriseg.data.files.atomic_writes` for an item's set of
files); the runner creates the output folder and removes the temporaries of killed runs.

Where the work runs is pluggable (:class:`Executor`): in this process (:class:`Serial`), in threads
(:class:`Threads`), or as tasks of a Dask cluster (:class:`DaskCluster`, used by ``fields map``). A
pipeline that batches items itself (``crop predict`` runs several photos per forward pass) passes a
``stream`` instead of a per-item ``work`` function.

Commands and where they go:

- through the runner (per item): ``crop predict``, ``crop traits``, ``crop plots``, ``crop pseudolabel``;
  ``fields download`` (one scene), ``fields predict``, ``fields polygonize`` (one raster), ``fields map``
  (scenes, and the downloads of ``--areas``), ``fields run`` (one area), ``fields models download``;
  ``text predict``.
- outside (they read a whole data set or write one result from all inputs): ``crop train | selftrain |
  adapt | evaluate | screen | make-synthetic``; ``fields train | evaluate | robustness | change |
  import-checkpoint | export | make-synthetic``; ``text dataset | sft | grpo | evaluate | make-synthetic |
  tiny-model``. Their single output is refused when it exists unless ``--overwrite``
  (:func:`check_output`, the one place that message is written). Three of them, whose one output takes
  long to make, run it as the one item of a batch so that it is fingerprinted like the per-item outputs
  (unchanged re-run: a no-op; changed option or input: refused naming it; ``--overwrite``: made again):
  ``text dataset`` (the dataset folder), ``crop adapt`` (the adapted model) and ``crop selftrain``
  (``output_dir/model.safetensors``). Four of them read their inputs as items: ``text dataset`` leaves out
  an image it cannot use, ``crop make-synthetic`` a source photo it cannot read, and ``crop evaluate`` /
  ``text evaluate`` a pair they cannot score; each reports it and exits with status 1 (``--strict``: stops at
  the first).

Skip / resume / refuse go through the fingerprint interface of :mod:`agriseg.fingerprint`: each command
builds a :class:`~agriseg.fingerprint.Recipe` (what changes its outputs) and passes it to :func:`run_batch`,
which asks a :class:`~agriseg.fingerprint.FingerprintStore` about every item before it runs and tells it of
every item produced, in this process only.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import shutil
import signal
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, ParamSpec, Protocol, TypeVar, overload

from agriseg import quiet
from agriseg.fingerprint import EDITED, INPUTS_CHANGED, FingerprintStore, Recipe, default_store

log = logging.getLogger("agriseg")

Status = Literal["ok", "skipped", "failed"]


# ----------------------------------------------------------------------------------------------------------
# progress


LOG_INTERVAL_S = 30.0
"""Seconds between a bar's updates when stderr is a file or a pipe (a scheduler's log), not a terminal."""


def progress_bar(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    """A tqdm bar (``iterable`` and ``kwargs`` as tqdm's) that starts no monitor thread and keeps logs short.

    Every progress bar of agriseg is made here. tqdm starts a monitor thread with its first bar, even a
    disabled one, and a process with a second thread can no longer fork its workers safely: the polygoniser's
    block workers then start from a fresh ``forkserver`` process and import everything again (slower, and
    their memory is not shared with the parent). The monitor only corrects bars whose updates stall for
    longer than ``miniters`` allows; the bars here update once per item or block.

    When stderr is not a terminal (a batch job's log file), the bar is redrawn every
    :data:`LOG_INTERVAL_S` seconds (and at its end) instead of up to ten times a second, so a long run adds
    a few hundred bytes to the log rather than megabytes; ``TQDM_MININTERVAL`` (tqdm's own variable) sets
    another interval.
    """
    from tqdm import tqdm

    if quiet():
        kwargs["disable"] = True
    if not _interactive(kwargs.get("file") or sys.stderr):
        if "mininterval" not in kwargs and "TQDM_MININTERVAL" not in os.environ:
            kwargs["mininterval"] = LOG_INTERVAL_S
        kwargs.setdefault("position", 0)  # a bar inside another (a download's) wrote cursor-up codes into logs
    return _quiet_tqdm(tqdm)(iterable, **kwargs)


def _interactive(stream: Any) -> bool:  # noqa: ANN401 - a text stream, or None
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False


_DREW = [False]  # a bar of agriseg's has written to its stream since bar_drew() was last asked


def bar_drew() -> bool:
    """Whether one of agriseg's bars has been drawn (or cleared) since the last call: a log line written after it
    must start a new line first (a bar in a log file ends with ``\r``, not a newline). Resets the flag."""
    drew, _DREW[0] = _DREW[0], False
    return drew


@functools.cache
def _quiet_tqdm(base: type) -> type:
    def display(self: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - tqdm's own signature
        _DREW[0] = True  # a closing bar's clearing counts too: it leaves its line without a newline
        return shown(self, *args, **kwargs)

    def close(self: Any) -> None:
        left = not getattr(self, "disable", True) and (abs(self.pos) == 0 if self.leave is None else self.leave)
        closed(self)
        if left:  # a bar kept on screen ends its line with a newline: the next line needs none
            _DREW[0] = False

    shown: Any = getattr(base, "display")  # noqa: B009 - base is any tqdm class; mypy sees a bare type
    closed: Any = getattr(base, "close")  # noqa: B009
    return type("ProgressBar", (base,), {"monitor_interval": 0, "display": display, "close": close})


# ----------------------------------------------------------------------------------------------------------
# items and names


@dataclass(frozen=True)
class Item:
    """One unit of a batch.

    Args:
        name: the item's unique output name (see :func:`unique_names`).
        source: what the user gave (a file, or an area's name); every message about the item starts with it.
        outputs: every file the item writes; the item is done only when all of them are there.
        inputs: the files its outputs are made from (the photo, its mask, the scene...).
        resolved: values decided for this item that change its outputs (e.g. season dates).
        payload: whatever the work function needs (must pickle for a Dask executor).
    """

    name: str
    source: str | Path
    outputs: tuple[Path, ...]
    inputs: tuple[Path, ...] = ()
    resolved: Mapping[str, Any] = field(default_factory=dict)
    payload: Any = None

    def replaces(self, overwrite: bool) -> bool:
        """Whether the work function must replace outputs it finds: with ``overwrite``, or when one is there.

        The runner hands work only the items it remakes (new, unfinished, or ``--overwrite``), so an output
        already there is stale, e.g. one that an interrupted ``--overwrite`` run left (its record says unfinished).
        A pipeline that keeps an existing output of its own accord must not keep that one, unless the output
        itself shows it was made from the same inputs and settings and the user did not ask for ``--overwrite``
        (``fields``: the run fingerprint a probability COG carries, the request digest of a downloaded scene).
        """
        return overwrite or any(p.exists() for p in self.outputs)


def unique_names(
    files: Iterable[str | Path], outdir: str | Path | None = None, command: str | None = None, item_suffix: str = ""
) -> dict[Path, str]:
    """A distinct output name per input file (inputs sharing a stem get their suffix, then folders added).

    With ``outdir`` and ``command``: a file ``command`` gave outputs in ``outdir`` before keeps their name
    (see :func:`agriseg.data.io.output_names`); ``item_suffix``: what the command's item names add to the name
    (``fields predict`` names its items ``<name>_probs``).
    """
    from agriseg.data.io import output_names

    given = None
    if outdir is not None and command:
        from agriseg.manifest import recorded_names

        given = {
            src: name.removesuffix(item_suffix)
            for src, name in recorded_names(outdir, command).items()
            if name.endswith(item_suffix) and name != item_suffix
        }
    return output_names((Path(f) for f in files), given)


# ----------------------------------------------------------------------------------------------------------
# executors

Result = tuple[Item, Any]  # (item, its record, or the exception it raised)


class Executor(Protocol):
    """Runs a work function over items and yields ``(item, record or exception)`` as each completes.

    Closing the generator early (``strict``) cancels the items not yet started.
    """

    def map(self, work: Callable[[Item], Any], items: Sequence[Item]) -> Iterator[Result]:
        """Run ``work`` on every item."""
        ...


class Serial:
    """One item after another, in this process."""

    def map(self, work: Callable[[Item], Any], items: Sequence[Item]) -> Iterator[Result]:
        """Run ``work`` on every item, in order."""
        for item in items:
            try:
                yield item, work(item)
            except Exception as err:  # noqa: BLE001 - handed to the runner, which decides
                yield item, err


@dataclass
class Threads:
    """Items in ``workers`` threads of this process (for work that releases the GIL: I/O, numpy, GDAL)."""

    workers: int = 2

    def map(self, work: Callable[[Item], Any], items: Sequence[Item]) -> Iterator[Result]:
        """Run ``work`` on every item, ``workers`` at a time."""
        pool = ThreadPoolExecutor(max(1, self.workers), "agriseg-batch")
        try:
            pending = {pool.submit(work, it): it for it in items}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    res = _result(fut)  # before the pop: a Ctrl-C in between leaves the item to the drain below
                    yield pending.pop(fut), res
        except KeyboardInterrupt:  # a thread cannot be stopped: the running items finish, and count as done
            running = {fut: it for fut, it in pending.items() if not fut.cancel()}
            wait(running)
            for fut, it in running.items():
                yield it, _result(fut)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _result(fut: Future[Any]) -> Any:  # noqa: ANN401 - a record or an exception
    err = fut.exception()
    return err if err is not None else fut.result()


@dataclass
class DaskCluster:
    """Items as tasks of a Dask ``distributed`` cluster: an existing client, a scheduler, or a local one.

    Each item is one task (``pure=False``, so a re-run looks at the outputs again); a lost worker costs
    only the items it was running, which Dask retries elsewhere. After a run, :attr:`notes` says which
    workers were lost and which items were retried (read from the scheduler's ``remove-worker`` events),
    and :func:`run_batch` passes them on to the summary.

    Args:
        client: an existing ``distributed.Client`` (left open).
        scheduler: address of a running scheduler (``tcp://host:8786``).
        workers: processes (or threads) of the local cluster started when neither is given.
        threads_per_worker: threads of each local worker.
        processes: local workers as processes (True) or threads of this process.
        memory_limit: per-worker memory limit of the local cluster.
    """

    remote = True  # a task's exception of any type is that item's failure (its traceback stays on the worker)

    client: Any = None
    scheduler: str | None = None
    workers: int = 2
    threads_per_worker: int = 1
    processes: bool = True
    memory_limit: str | None = "auto"
    notes: list[str] = field(default_factory=list)

    def map(self, work: Callable[[Item], Any], items: Sequence[Item]) -> Iterator[Result]:
        """Submit every item, then yield them as they complete."""
        from distributed import Client, LocalCluster, as_completed

        own: list[Any] = []
        client = self.client
        if client is None:
            if self.scheduler:
                try:
                    client = Client(self.scheduler)
                except (OSError, TimeoutError) as err:  # nothing there: the address given is wrong (a usage error)
                    from agriseg.config import OptionError

                    reason = " ".join(str(err).split()) or type(err).__name__
                    raise OptionError(
                        f"--scheduler {self.scheduler}: no Dask scheduler answers there ({reason})"
                    ) from None
                except ValueError as err:  # not an address at all ("missing port number")
                    from agriseg.config import OptionError

                    raise OptionError(f"--scheduler {self.scheduler}: not a scheduler address ({err})") from None
            else:
                with _workers_ignore_ctrl_c():
                    cluster = LocalCluster(
                        n_workers=max(1, min(self.workers, len(items))),  # no idle workers to start and hold
                        threads_per_worker=self.threads_per_worker,
                        processes=self.processes,
                        memory_limit=self.memory_limit,
                        dashboard_address=None,
                        # the scheduler still serves its health routes: on a free port, not on 8787 with a
                        # "Port 8787 is already in use" warning where another cluster or program holds it
                        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                    )
                own.append(cluster)
                client = Client(cluster)
                client.run(_quiet_cancelled_tasks)
            own.insert(0, client)
        futures: dict[Any, Item] = {}
        task = functools.partial(_portable, work)
        run = uuid.uuid4().hex[:8]  # keys of this run only, so the scheduler's events name our items
        self.notes = []
        handed: set[Any] = set()
        stopped = False
        try:
            for i, it in enumerate(items):
                futures[client.submit(task, it, pure=False, key=f"item-{i}-{it.name}-{run}")] = it
            given_up: set[str] = set()  # items whose workers kept dying: Dask stopped retrying them
            for fut in as_completed(futures):
                item = futures[fut]
                handed.add(fut)
                try:
                    yield item, fut.result()
                except Exception as err:  # noqa: BLE001 - a task's error, or a worker lost for good
                    if type(err).__name__ == "KilledWorker":
                        given_up.add(item.name)
                    yield item, err
            self.notes = lost_workers(client, {f.key: it.name for f, it in futures.items()}, given_up)
        except KeyboardInterrupt:
            # tasks that finished before the Ctrl-C was seen wrote complete outputs: handed over, so the count
            # matches the files; those still running are stopped with their workers below
            stopped = True
            for fut, item in futures.items():
                if fut not in handed and fut.status == "finished":
                    handed.add(fut)
                    yield item, fut.result()
            raise
        finally:
            for fut in futures:
                fut.cancel()
            if stopped and len(own) > 1:  # our local cluster: its workers ignore Ctrl-C and a cancelled task
                _stop_workers(own[1])  # ran on, finishing outputs after "none of the 4 done" (the re-run redid them)
            # every result is in: a worker that takes over 4 s to stop (torch / ONNX Runtime threads) is killed
            # by its nanny, which says so as a WARNING on stderr after a run that went well; kept to errors here
            nanny = logging.getLogger("distributed.nanny")
            level = nanny.level
            nanny.setLevel(logging.ERROR)
            try:
                for obj in own:
                    obj.close()
            finally:
                nanny.setLevel(level)


def _stop_workers(cluster: Any) -> None:  # noqa: ANN401 - a distributed LocalCluster
    """Kill the worker processes of a local cluster at once: a running task cannot be cancelled (Dask only stops
    waiting for it), and its worker, deaf to Ctrl-C, would finish it while the cluster closes. Its outputs are
    atomic: it leaves only temporaries, which the next run removes."""
    for nanny in list(getattr(cluster, "workers", {}).values()):
        pid = getattr(getattr(nanny, "process", None), "pid", None)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))  # SIGTERM: Windows has no SIGKILL


def _quiet_cancelled_tasks() -> None:
    """On a worker of our own cluster: tasks cancelled on Ctrl-C or ``strict`` are not logged as warnings, and an
    item's own error (a :class:`RemoteError`, reported as that item's ``failed:`` line) is not logged as a
    ``Compute Failed`` dump of the task and its settings."""
    logging.getLogger("distributed.worker.state_machine").setLevel(logging.ERROR)
    worker = logging.getLogger("distributed.worker")
    if not any(isinstance(f, _ItemErrorFilter) for f in worker.filters):
        worker.addFilter(_ItemErrorFilter())


class _ItemErrorFilter(logging.Filter):
    """Drops the worker's ``Compute Failed`` record of a task that raised :class:`RemoteError`; any other failure
    of a task (one agriseg did not describe) is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        failed = isinstance(record.msg, str) and record.msg.startswith("Compute Failed")
        return not (failed and any("RemoteError" in str(a) for a in args))


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with Ctrl-C ignored (they inherit it): a terminal's Ctrl-C reaches the whole process
    group, and workers that stopped on it each printed a traceback. This process stops and closes them."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers are set in the main thread
        yield
        return
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)


def lost_workers(client: Any, names: Mapping[str, str], given_up: Collection[str] = ()) -> list[str]:
    """One line per worker that died while running tasks of ``names`` (task key -> item name); the items in
    ``given_up`` (Dask stopped retrying them: ``KilledWorker``) are not said to be retried."""
    try:
        events = client.get_events("all")
    except Exception:  # noqa: BLE001 - a scheduler that keeps no events: nothing to report
        return []
    out = []
    for _, msg in events:
        if not isinstance(msg, dict) or msg.get("action") != "remove-worker" or msg.get("expected"):
            continue
        lost = sorted(names[k] for k in msg.get("processing-tasks", ()) if k in names)
        retried = [n for n in lost if n not in given_up]
        if retried:
            out.append(
                f"Dask worker {msg.get('worker', '?')} was lost; retried on another worker: {', '.join(retried)}"
            )
    for name in sorted(set(given_up) & set(names.values())):
        out.append(f"Dask workers were lost while running {name} until Dask gave up on it (see its error)")
    return out


class RemoteError(Exception):
    """An item's error in another process (a Dask worker), carried back as its one-line message."""


def _portable(work: Callable[[Item], Any], item: Item) -> Any:
    """Run ``work`` on a worker; an error comes back as a :class:`RemoteError` (it always pickles)."""
    try:
        return work(item)
    except Exception as err:  # noqa: BLE001 - every error of an item is reported as that item's
        message = describe_error(item, err)
    # raised outside the handler, so it carries no chained errors (Dask pickles the chain, which can fail)
    raise RemoteError(message)


# ----------------------------------------------------------------------------------------------------------
# errors


OTHER_SETTINGS = "its outputs were made with other settings"  # an item refused for its options, in its message
OTHER_FILE = "outputs of the same name were made from another file"  # one refused for its inputs, in its message
OTHER_VERSION = "its outputs were made before an input changed"  # one refused for an input edited since


def counted(n: int, word: str, verb: str = "") -> str:
    """``3 photos``, ``1 photo``: a count and its noun, for every summary and note (regular plurals only);
    with ``verb`` (``"has/have"``), the verb that agrees: ``1 name has``, ``2 names have``."""
    said = f"{n} {word}{'' if n == 1 else 's'}"
    if verb:
        one, many = verb.split("/")
        said += f" {one if n == 1 else many}"
    return said


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
    names_a_file = src in msg or ("/" in head or Path(head).suffix != "") and " " not in head
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


def disk_full(err: BaseException, outputs: Iterable[str | Path] = ()) -> bool:
    """Whether ``err`` (or what it was raised from) says the disk or the quota is full, or, for an error that
    does not say why (GDAL's ``Write failed``), the disk of one of the ``outputs`` has no block left."""
    from agriseg.data.files import out_of_room

    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError) and e.errno in _FULL:
            return True
        if any(w in str(e).lower() for w in _FULL_WORDS):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
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
        return "stopped before its output was written; the same command makes it"
    return f"none of the {total} done"


def _same_command(overwrite: bool) -> str:
    """How a Ctrl-C message names the command that goes on (a re-run with --overwrite would redo the kept)."""
    return "the same command" + (" without --overwrite" if overwrite else "")


class _CtrlC:
    """Notes a Ctrl-C while a batch runs, then lets Python raise KeyboardInterrupt as it does. A C extension
    interrupted mid-call may raise its own error instead (matplotlib's "Invalid bounding box" for a GGHT plot):
    that item then stops the batch as the Ctrl-C it was, not fail as a photo while the batch goes on (once in
    20 tries of session 73's sweep). Signal handlers can only be set from the main thread; elsewhere nothing
    is noted."""

    def __init__(self) -> None:
        self.pressed = False
        self.previous: Any = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):  # Python's default, or a caller's handler: chained, not replaced
                self.previous = previous
                signal.signal(signal.SIGINT, self._note)

    def _note(self, signum: int, frame: Any) -> None:  # noqa: ANN401 - a frame object
        self.pressed = True
        self.previous(signum, frame)  # Python's raises KeyboardInterrupt
        self.pressed = False  # a caller's handler that noted it and carried on: the batch goes on too

    def restore(self) -> None:
        if self.previous is not None and signal.getsignal(signal.SIGINT) == self._note:
            signal.signal(signal.SIGINT, self.previous)
        self.previous = None


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
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def check_output(
    path: str | Path, overwrite: bool, empty_dir_ok: bool = False, inputs: Iterable[str | Path] = ()
) -> Path:
    """Refuse to replace an existing single output unless ``overwrite`` (the one place this is said), and
    refuse an output that is one of the run's ``inputs`` even with it.

    Args:
        path: the output file or folder.
        overwrite: replacing it is allowed.
        empty_dir_ok: an existing empty folder does not count.
        inputs: files the run reads (:func:`agriseg.data.files.check_not_input`).

    Its folder is created here, before the run, and must be writable, so a run is not lost to a bad output
    path at its end.

    Raises:
        FileExistsError: ``<path>: exists (use --overwrite)``.
        ValueError: ``<path>: is one of the inputs ...``.
        agriseg.config.OptionError: its folder lies under a file, cannot be created or is not writable.
    """
    from agriseg.config import OptionError
    from agriseg.data.files import check_not_input, clean_stale_temporaries, make_parent

    check_not_input(path, inputs)
    path = Path(path)
    there = path.exists() and not (empty_dir_ok and path.is_dir() and not any(path.iterdir()))
    if there and path.is_dir() and not path.is_symlink():  # a user's folder: said so now, not after --overwrite
        from agriseg.data.files import check_replaceable

        check_replaceable(path)
    if there and not overwrite:
        raise FileExistsError(f"{path}: exists (use --overwrite)")
    try:
        make_parent(path)
    except ValueError as err:  # a bad output path is a usage error (exit 2 on the command line)
        raise OptionError(str(err)) from err
    clean_stale_temporaries(path.parent, [path.name])  # of a killed run of this command: none outlives the re-run
    return path


MADE = "made.json"  # what made a generated data set: the command and its settings (a re-run's check)


def already_there(folder: str | Path) -> str:
    """What a ``make-synthetic`` re-run with the same settings says (one wording for every pipeline)."""
    return f"{folder}: a set generated with these options is already there (--overwrite to generate again)"


def made_record(folder: str | Path, command: str, settings: Mapping[str, Any]) -> Path:
    """Record in ``folder`` (a data set ``command`` is writing, before it takes its final name) the settings
    it was made with and every file it holds (size and content hash), for :func:`already_made`."""
    from agriseg.data.files import write_json

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p != folder / MADE)
    made = {"command": command, "settings": dict(settings), "files": file_digests(folder, files)}
    return write_json(folder / MADE, made)


def already_made(folder: str | Path, command: str, settings: Mapping[str, Any]) -> bool:
    """Whether ``folder`` is a data set an earlier run of ``command`` finished with the same ``settings``:
    a re-run of the same command line then has nothing to do (other settings still need ``--overwrite``).

    Raises:
        agriseg.config.OptionError: it is, but files of it are gone or changed since (named; the set is kept).
    """
    import json

    try:
        earlier = json.loads((Path(folder) / MADE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(earlier, dict):
        return False
    same = json.loads(json.dumps({"command": command, "settings": dict(settings)}))  # tuples as JSON lists
    if {k: earlier.get(k) for k in same} != same:
        return False
    check_made_files(folder, earlier.get("files"))
    return True


def file_digests(folder: str | Path, files: Iterable[str | Path]) -> dict[str, list[Any]]:
    """``{path relative to folder: [size, sha256]}`` of a generated set's files (see :func:`check_made_files`):
    no times, so that a set made again, or in chunks, has the same record byte for byte."""
    from agriseg.data.download import sha256_of

    return {Path(f).relative_to(folder).as_posix(): [Path(f).stat().st_size, sha256_of(f)] for f in files}


def check_made_files(folder: str | Path, recorded: Any) -> None:  # noqa: ANN401 - as read from JSON
    """Refuse a generated set whose files are gone or changed since it was made (a set recorded without its
    files, by an earlier agriseg, passes): "already there" would have been said of a set that is not. Each file
    of its recorded size is hashed (a set's record keeps no times: see :func:`file_digests`).

    Raises:
        agriseg.config.OptionError: naming the first few such files (the set is kept: ``--overwrite`` remakes it),
            or saying the record itself is damaged.
    """
    from agriseg.config import OptionError
    from agriseg.data.download import sha256_of

    if recorded is None:
        return
    folder = Path(folder)
    damaged = OptionError(f"{folder}: its record of the files it holds is damaged; --overwrite to generate it again")
    if not isinstance(recorded, dict):
        raise damaged
    gone, changed = [], []
    for rel, entry in recorded.items():
        path = folder / str(rel)
        shape_ok = isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, int | str) for v in entry)
        if not shape_ok or Path(str(rel)).is_absolute() or ".." in Path(str(rel)).parts:
            raise damaged
        if not path.is_file():
            gone.append(str(rel))
            continue
        if path.stat().st_size != entry[0] or sha256_of(path) != entry[1]:
            changed.append(str(rel))
    if gone or changed:
        said = [f"{counted(len(gone), 'file')} removed"] if gone else []
        said += [f"{len(changed) if gone else counted(len(changed), 'file')} changed"] if changed else []
        first = ", ".join((gone + changed)[:3]) + (", ..." if len(gone) + len(changed) > 3 else "")
        raise OptionError(
            f"{folder}: the set generated with these options is there, but {' and '.join(said)} since it was made "
            f"({first}); it is kept: --overwrite to generate it again"
        )


def measured_now(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records made with this run's inputs and settings (``ok``, or ``skipped``: resumed), the ones a
    table of values may hold: ``kept`` records were made with other settings (other units, model or regions)
    and ``error`` ones hold nothing."""
    return [r for r in records if r.get("status") in ("ok", "skipped")]


def drop_tables(folder: str | Path, names: Sequence[str], notes: list[str]) -> None:
    """Remove tables an earlier run wrote into ``folder`` that this run does not write (``growth.csv`` after a
    re-run with a single date), so no table outlives the run it describes; each removal goes into ``notes``.
    Only in a folder agriseg writes (one with a manifest), after :func:`check_table` let the run start."""
    from agriseg.manifest import MANIFEST

    if not (Path(folder) / MANIFEST).exists():
        return
    for name in names:
        path = Path(folder) / name
        if path.is_file():
            path.unlink()
            notes.append(_removed_table(path))


def _removed_table(*paths: Path) -> str:
    shown = ", ".join([str(paths[0]), *(p.name for p in paths[1:])])  # one folder: its name once
    them = ("an earlier run's table", "it") if len(paths) == 1 else ("an earlier run's tables", "them")
    return (
        f"removed {shown}: {them[0]}; this run has nothing to put in {them[1]} (a table covers the inputs of one "
        "run: name them all, and the finished ones are resumed, not made again)"
    )


def check_table(path: str | Path, overwrite: bool, command: str | None = None) -> Path:
    """Refuse to replace a user's file where a batch writes its table (``summary.csv``, ``traits.csv``), or
    another command's.

    A table is rewritten by every run of its command into its folder; a file under its name in a folder that no
    agriseg run has written (no manifest there) is the user's, and one in a folder whose manifest holds records
    of that another command claimed (``growth.csv`` of ``crop traits`` where ``crop plots`` would write its own) is
    theirs: only ``overwrite`` replaces either.

    Raises:
        FileExistsError: ``<path>: exists and was not written by agriseg ...`` or ``... written by agriseg
            <other command> ...``.
    """
    from agriseg.manifest import MANIFEST, table_edited, table_owner

    path = Path(path)
    if not path.exists() or overwrite:
        return path
    if not (path.parent / MANIFEST).exists() and not _recorded_below(path.parent, command):
        raise FileExistsError(
            f"{path}: exists and was not written by agriseg (kept; --overwrite replaces it, or choose another "
            "output folder)"
        )
    owner = table_owner(path)
    if command and owner and owner != command:
        raise FileExistsError(
            f"{path}: written by `agriseg {owner}` (kept; give `agriseg {command}` another output folder, or "
            "--overwrite replaces it)"
        )
    if table_edited(path):  # e.g. notes typed into growth_wide.csv in a spreadsheet: the user's now
        raise FileExistsError(
            f"{path}: changed since agriseg wrote it (kept; move or rename it to keep your edits, or --overwrite "
            "replaces it)"
        )
    return path


def _recorded_below(folder: Path, command: str | None) -> bool:
    """Whether a folder inside ``folder`` holds records of ``command``: agriseg before session 55 kept the
    manifest of ``crop pseudolabel`` in ``masks/`` only, not beside its ``pseudolabels.json``."""
    from agriseg.manifest import MANIFEST, recorded_by

    if not command:
        return False
    return any(recorded_by(m.parent, command) for m in folder.glob(f"*/{MANIFEST}"))


def keep_unstamped_table(path: str | Path, overwrite: bool) -> str | None:
    """Copy a table that an agriseg before table stamps wrote (or a file put there under its name) to
    ``<stem>.earlier<suffix>`` before the run rewrites it, and say so: without a stamp, an edit cannot be told
    from agriseg's own file, and nothing a user wrote is written over. Returns the warning line (None when
    nothing was kept: no such table, a stamp was kept, or ``overwrite``)."""
    from agriseg.manifest import table_stamped

    path = Path(path)
    if overwrite or not path.is_file() or table_stamped(path):
        return None
    copy, n = path.with_name(f"{path.stem}.earlier{path.suffix}"), 1
    while copy.exists():
        n += 1
        copy = path.with_name(f"{path.stem}.earlier{n}{path.suffix}")
    from agriseg.data.files import atomic_write

    with atomic_write(copy) as tmp:
        shutil.copy2(path, tmp)
    return (
        f"warning: {path}: written before agriseg kept a stamp of its tables, so edits cannot be told; "
        f"kept as {copy.name}"
    )


# ----------------------------------------------------------------------------------------------------------
# the runner


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

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(
            self.outcomes + other.outcomes, self.seconds + other.seconds, self.unit, self.notes + other.notes
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
        return f"{line} -> {where}" if str(where) else line


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
    """

    overwrite: bool = False
    strict: bool = False
    progress: bool = True
    desc: str = "items"
    unit: str = "item"
    named_output: bool = False

    def labelled(self, desc: str, unit: str, progress: bool = True) -> BatchOptions:
        """These options for a pipeline's items: the bar's label and unit; ``progress=False`` hides the bar."""
        return replace(self, desc=desc, unit=unit, progress=self.progress and progress)


P = ParamSpec("P")
R = TypeVar("R")
LEGACY_KEYWORDS = ("overwrite", "strict", "progress")


def batch_keywords(fn: Callable[P, R]) -> Callable[P, R]:
    """Let an entry point that takes ``batch: BatchOptions`` still take the ``overwrite=``, ``strict=`` and
    ``progress=`` keywords it took before (deprecated: they go in the next release)."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
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
    kept_tables = [line for t in tables if (line := keep_unstamped_table(t, opts.overwrite))]
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
            todo = _plan(items, store, recipe, opts, resume, failed, outcomes, find)
            begin = getattr(store, "begin", None)  # optional in the protocol: stores written before it lack it
            if begin is not None and todo:
                begin(todo)
            held: dict[Path, bytes] = {}  # put back if this run makes nothing after all (every item fails)
            for table in tables if todo else ():  # rewritten when the batch ends: until then an earlier run's
                if Path(table).is_file():  # would describe outputs this one replaces (e.g. on Ctrl-C)
                    held[Path(table)] = Path(table).read_bytes()
                Path(table).unlink(missing_ok=True)
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
            notes = kept_tables + list(getattr(executor, "notes", None) or [])  # e.g. Dask workers lost, retried
            result = BatchResult([outcomes[i] for i in range(len(items)) if i in outcomes], seconds, opts.unit,
                                 notes)  # fmt: skip
            _FINISHED[:] = [sum(o.status != "failed" for o in result.outcomes), len(items), opts.overwrite]
            # nothing made, and items refused for other options or other input files (not for an edited output;
            # others may have failed, e.g. an unreadable photo): the outputs stand as they were, and the tables
            # still describe the run that made them
            refusals = (OTHER_SETTINGS, OTHER_FILE, OTHER_VERSION)
            said = [any(w in (o.error or "") for w in refusals) for o in result.outcomes]
            refused = any(said) and all(o.status == "failed" for o in result.outcomes)
            if finish is not None and refused and tables and all(Path(t).is_file() or Path(t) in held for t in tables):
                _put_back_tables(held)
                shown = ", ".join(str(t) for t in tables)
                them = "them" if len(tables) > 1 else "it"
                result.notes.append(f"{shown}: left as an earlier run wrote {them} (this run made nothing)")
            elif finish is not None:
                try:
                    if tables:
                        from agriseg.manifest import mark_tables_writing

                        mark_tables_writing(tables)  # a kill while they are written: the re-run rewrites them
                    finish(result)
                    # an earlier run's table this one did not write again (growth.csv of one date): said, as
                    # drop_tables says it (it was set aside when the batch began, so never silently gone)
                    gone = [t for t in held if not t.exists()]
                    result.notes += [_removed_table(*gone)] if gone else []
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
) -> list[Item]:
    """Ask the store about every item: the items to run; the others' outcomes go into ``outcomes``. An item
    with an output that ``is_input`` names fails (even with ``overwrite``)."""
    from agriseg.data.files import NAME_MAX, is_or_holds, kept_reason

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
        if verdict.state == "missing" or opts.overwrite:
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
