"""Where a batch's work runs: in this process, in threads, or as tasks of a Dask cluster."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from agriseg.batch.errors import RemoteError, describe_error, finishing, signals_deferred
from agriseg.batch.items import Item, Result


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
            yield from finishing((it, _result(fut)) for fut, it in running.items())
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
        _quiet_cancelled_sync()  # any client's calls: a local cluster's, a scheduler's, the caller's
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
            finished = [(item, fut) for fut, item in futures.items() if fut not in handed and fut.status == "finished"]
            handed.update(fut for _, fut in finished)
            yield from finishing((item, fut.result()) for item, fut in finished)
            raise
        finally:
            with signals_deferred():  # a second Ctrl-C (impatience) left the cluster to close at exit, with
                self._close(futures, own, stopped)  # distributed's warnings after the "interrupted" line

    def _close(self, futures: Mapping[Any, Item], own: list[Any], stopped: bool) -> None:
        """Cancel what has not run and close what this run started (its own client and local cluster)."""
        for fut in futures:
            fut.cancel()
        if stopped and len(own) > 1:  # our local cluster: its workers ignore Ctrl-C and a cancelled task
            _stop_workers(own[1])  # ran on, finishing outputs after "none of the 4 done" (the re-run redid them)
        # every result is in: a worker that takes over 4 s to stop (torch / ONNX Runtime threads) is killed
        # by its nanny, which says so as a WARNING on stderr after a run that went well; kept to errors here
        nanny = logging.getLogger("distributed.nanny")
        level = nanny.level
        nanny.setLevel(logging.ERROR)
        local = stopped and len(own) > 1  # our own local cluster, its workers killed above
        if local:  # the command ends with its one "interrupted" line: not distributed's own error of a
            # cancelled call ("Exception in callback ... NameError", through tornado's log) nor its warnings of
            # workers killed, which its event loop sends while and after the cluster closes (so not restored:
            # a Python session that goes on after the Ctrl-C keeps distributed's log at CRITICAL)
            # (tornado.application: distributed sets its own level, which its parent's does not override)
            for name in ("distributed", "tornado", "tornado.application"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        try:
            for obj in own:
                obj.close()
        finally:
            if not local:
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


def _quiet_cancelled_sync() -> None:
    """Drop distributed's own error when a Ctrl-C cuts one of its calls short: its clean-up callback fails with
    "NameError: cannot access free variable 'future'" (a bug of ``distributed.utils.sync``), logged with a
    traceback through tornado after the command's "interrupted" line. Any other callback error is still logged."""
    app = logging.getLogger("tornado.application")
    if not any(isinstance(f, _CancelledSyncFilter) for f in app.filters):
        app.addFilter(_CancelledSyncFilter())


class _CancelledSyncFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, NameError) and "sync.<locals>.cancel" in record.getMessage())


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


def _portable(work: Callable[[Item], Any], item: Item) -> Any:
    """Run ``work`` on a worker; an error comes back as a :class:`RemoteError` (it always pickles)."""
    try:
        return work(item)
    except Exception as err:  # noqa: BLE001 - every error of an item is reported as that item's
        message = describe_error(item, err)
    # raised outside the handler, so it carries no chained errors (Dask pickles the chain, which can fail)
    raise RemoteError(message)
