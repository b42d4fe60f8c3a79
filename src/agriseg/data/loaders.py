"""The shuffled, seeded training loader shared by the crop and field-boundary data modules."""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.context
import os
from typing import Any, Protocol, cast

import torch
from torch.utils.data import DataLoader, Dataset

# Modules the worker server imports once, so each worker it forks starts warm instead of importing them.


class MapDataset(Protocol):
    """What the loaders need of a training set: a length and indexing (a torch ``Dataset`` or a plain class)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


_WORKER_PRELOAD = ("torch", "numpy", "cv2", "albumentations", "agriseg.data.loaders", "agriseg.data.worker_server")


def worker_context() -> multiprocessing.context.BaseContext:
    """How loader workers are started: from a clean server process, never forked from the trainer.

    A worker forked from the training process inherits the state of OpenCV's thread pool, which is not
    fork-safe: once the parent has run a multithreaded OpenCV call (pseudo-labelling, resizing, trimaps), the
    child's first pooled OpenCV call (``cv2.setNumThreads``, ``cv2.resize``, ...) can block forever. The
    ``forkserver`` method forks workers from a server process started fresh (it has never run OpenCV), so
    that cannot happen whatever the parent ran before; the heavy imports are done once in the server.
    ``spawn`` is the fallback where ``forkserver`` does not exist (Windows).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = _ForkServerContext()
        ctx.set_forkserver_preload(list(_WORKER_PRELOAD))  # takes effect when the server first starts
        _start_server_deaf_to_ctrl_c()
        return ctx
    return multiprocessing.get_context("spawn")


class _Worker(multiprocessing.context.ForkServerProcess):
    """A loader worker whose start is not cut by Ctrl-C: cut while the trainer sent it to the server, the new
    process printed a traceback (``pickle data was truncated``) under agriseg's one-line message."""

    def start(self) -> None:
        from agriseg.batch import signals_deferred

        with signals_deferred():
            super().start()


class _ForkServerContext(multiprocessing.context.ForkServerContext):
    Process = _Worker


def _start_server_deaf_to_ctrl_c() -> None:
    """Start the worker server now (its imports overlap the trainer's set-up) with Ctrl-C ignored in it.

    A Ctrl-C reaches every process of the terminal's group; the server ignores it only once its imports are
    done, so one pressed while it imported torch printed a 40-line traceback under agriseg's one-line message.
    An ignored signal stays ignored in a new program (a blocked one does not: the mask is reset), and so in
    the workers it forks, which end with the trainer. The trainer ignores Ctrl-C only while the server is
    started (a few ms). No library sets this, hence by hand.
    """
    import signal
    import threading
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():  # handlers are set from the main thread only
        forkserver.ensure_running()
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, old if old is not None else signal.default_int_handler)  # None: set from C


def init_worker(worker_id: int, trainer: int | None = None) -> None:
    """Loader worker set-up: the worker ends with the ``trainer`` process (its pid), one OpenCV thread per
    worker, and the workers of each rank of a multi-GPU run draw their own random numbers.

    OpenCV otherwise uses one thread per core in every worker, which oversubscribes a many-core machine: on
    a 16-core GPU machine running two trainings with 7 workers each, one thread per worker raised each
    run's throughput from about 85 to 108 samples/s.

    PyTorch already seeds ``torch``, ``random`` and NumPy in each worker from the loader's seeded generator and
    the worker id; what it leaves out is the rank. Lightning's ``pl_worker_init_function`` adds it, but
    importing Lightning in a worker took 7.5 s on a 2-core machine, before the first batch of every training
    run with workers, so the rank is mixed in here instead (rank 0 keeps PyTorch's seeds).
    """
    import cv2

    if trainer is not None:  # a kill -9 of the trainer otherwise left its workers and forkserver running
        from agriseg.data.files import end_with

        end_with(trainer)
    cv2.setNumThreads(1)
    rank = _rank()
    if rank:
        import random

        import numpy as np

        seeds = np.random.SeedSequence([torch.initial_seed(), worker_id, rank]).generate_state(4, dtype=np.uint64)
        torch.manual_seed(int(seeds[0]))
        random.seed(int(seeds[1]))
        np.random.seed(seeds[2:].view(np.uint32))


def _rank() -> int:
    """This process's global rank in a multi-device run, from the variables the launchers set (0 otherwise)."""
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):  # the order Lightning reads them
        value = os.environ.get(key, "")
        if value.isdigit():
            return int(value)
    return 0


def warn_batch_above_data(option: str, batch_size: int, n: int) -> None:
    """Say a batch larger than the training set (accepted without a word: one step an epoch, its batch the whole
    set), in every trainer's words: ``option`` names the setting (``train.batch_size``)."""
    if batch_size > n:
        import logging

        logging.getLogger("agriseg").warning(
            "%s %d is more than the %d training samples: each epoch is one batch of %d", option, batch_size, n, n
        )


def train_loader(
    dataset: MapDataset | Dataset[Any], batch_size: int, num_workers: int, seed: int = 0
) -> DataLoader[Any]:
    """Shuffled batches in a seeded order; the last short batch is dropped when there is more than one.

    Args:
        dataset: the training set (pickled to the workers, so it must be picklable).
        batch_size: samples per batch.
        num_workers: loader processes (kept alive between epochs, one OpenCV thread each, started by
            :func:`worker_context`).
        seed: seed of the shuffling order.
    """
    workers = num_workers > 0
    n = len(cast(MapDataset, dataset))
    warn_batch_above_data("train.batch_size", batch_size, n)
    return DataLoader(
        cast("Dataset[Any]", dataset),
        batch_size=batch_size,
        shuffle=True,
        drop_last=n > batch_size,
        num_workers=num_workers,
        persistent_workers=workers,
        worker_init_fn=functools.partial(init_worker, trainer=os.getpid()) if workers else None,
        multiprocessing_context=worker_context() if workers else None,
        generator=torch.Generator().manual_seed(seed),
    )
