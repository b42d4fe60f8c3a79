"""Imported in the loader workers' server process only (:data:`agriseg.data.loaders._WORKER_PRELOAD`).

A worker is forked from the server, then reads what the trainer sent it (its dataset, its queues). A trainer
stopped by Ctrl-C while a worker was still reading had already removed the worker's queues: the worker printed
a ``FileNotFoundError`` traceback from ``SemLock._rebuild`` under agriseg's one-line ``interrupted`` message
(4 of 15 tries of session 81's Ctrl-C sweep). Python's forkserver prints such errors through
``sys.excepthook``; this module sets one in the server, which its workers inherit, that says nothing when a
worker's start fails because the trainer let it go (its queues gone, its data cut short). The worker still
exits with status 1, so a trainer that is still waiting for it reports it as it would. Every other error is
printed as before. No library offers this, hence by hand.
"""

from __future__ import annotations

import pickle
import sys
from types import TracebackType

# what reading a worker's start-up data raises once the trainer has removed its queues or stopped sending
_LET_GO = (FileNotFoundError, EOFError, pickle.UnpicklingError, ConnectionError)


def _starting(tb: TracebackType | None) -> bool:
    """Whether the traceback passes through the worker's start (``multiprocessing.spawn._main``)."""
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "_main" and frame.f_globals.get("__name__") == "multiprocessing.spawn":
            return True
        tb = tb.tb_next
    return False


_previous = sys.excepthook


def quiet_when_let_go(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """``sys.excepthook`` of the server: silent for a start the trainer abandoned, the one before otherwise."""
    if isinstance(value, _LET_GO) and _starting(tb):
        return
    _previous(kind, value, tb)


def _in_the_server() -> bool:
    """Whether this import is the server's preload (``multiprocessing.forkserver.main`` is running): a process
    that imports every module (a test of them all) keeps its own hook."""
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == "main" and frame.f_globals.get("__name__") == "multiprocessing.forkserver":
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


if _in_the_server():
    sys.excepthook = quiet_when_let_go
