import cv2
import torch
from torch.utils.data import Dataset

from agriseg.data.loaders import train_loader


class _Threads(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor(cv2.getNumThreads())


def test_workers_use_one_opencv_thread():
    cv2.setNumThreads(4)  # what a many-core machine gives every process by default
    try:
        seen = torch.cat(list(train_loader(_Threads(), batch_size=2, num_workers=2)))
    finally:
        cv2.setNumThreads(-1)
    assert seen.tolist() == [1, 1, 1, 1]


def test_loader_order_is_seeded():
    class _Idx(Dataset):
        def __len__(self) -> int:
            return 8

        def __getitem__(self, i: int) -> int:
            return i

    a = torch.cat(list(train_loader(_Idx(), 2, 0, seed=3)))
    b = torch.cat(list(train_loader(_Idx(), 2, 0, seed=3)))
    assert torch.equal(a, b) and sorted(a.tolist()) == list(range(8))


class _Idx(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def test_a_training_set_smaller_than_a_batch_is_one_short_batch() -> None:
    """3 photos with batch size 8: dropping the short last batch would leave no batch at all, so nothing trained."""
    batches = [b.tolist() for b in train_loader(_Idx(3), 8, 0)]
    assert len(batches) == 1 and sorted(batches[0]) == [0, 1, 2]
    assert [len(b) for b in train_loader(_Idx(11), 4, 0)] == [4, 4]  # with more than one, the short one is dropped


def test_another_seed_gives_another_order() -> None:
    """Runs meant to differ by their seed must not see the photos in one order."""
    orders = {tuple(torch.cat(list(train_loader(_Idx(16), 4, 0, seed=s))).tolist()) for s in range(4)}
    assert len(orders) == 4


def _draws() -> tuple[float, float, float]:
    import random

    import numpy as np

    return torch.rand(1).item(), random.random(), float(np.random.rand())


def _seeded_worker_draws(monkeypatch, rank: str | None) -> tuple[float, float, float]:
    """What worker 0 draws after PyTorch seeded it (as its worker loop does) and ``init_worker`` ran, at ``rank``."""
    import random

    import numpy as np

    from agriseg.data.loaders import init_worker

    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(key, raising=False)
    if rank is not None:
        monkeypatch.setenv("RANK", rank)
    torch.manual_seed(1234)
    random.seed(1234)
    np.random.seed(1234)
    try:
        init_worker(0)
    finally:
        cv2.setNumThreads(-1)
    return _draws()


def test_workers_of_each_rank_draw_their_own_numbers_without_importing_lightning(monkeypatch) -> None:
    """Lightning's worker seeding took 7.5 s to import in every worker; the rank it mixes in is mixed in here."""
    import sys

    monkeypatch.setenv("PL_SEED_WORKERS", "1")  # what seed_everything(workers=True) leaves set
    monkeypatch.setitem(sys.modules, "lightning.fabric.utilities.seed", None)  # an import of it fails
    single = _seeded_worker_draws(monkeypatch, None)
    assert _seeded_worker_draws(monkeypatch, "0") == single  # one process: PyTorch's own worker seeds stand
    rank1 = _seeded_worker_draws(monkeypatch, "1")
    assert rank1 == _seeded_worker_draws(monkeypatch, "1")  # seeded: the same on every run
    draws = {single, rank1, _seeded_worker_draws(monkeypatch, "2")}
    assert len({d[i] for d in draws for i in range(3)}) == 9  # torch, random and NumPy differ between ranks


def test_a_ctrl_c_while_a_worker_starts_is_raised_once_it_has_started(monkeypatch) -> None:
    """Cut while the trainer sent a worker to the server, the worker printed a traceback (``pickle data was
    truncated``) under agriseg's one line (session 81): the Ctrl-C is held until the start is done."""
    import multiprocessing.context
    import os
    import signal

    import pytest

    from agriseg.data.loaders import worker_context

    done = []

    def start(self) -> None:  # a Ctrl-C in the middle of sending the worker to the server
        os.kill(os.getpid(), signal.SIGINT)
        done.append("sent whole")

    monkeypatch.setattr(multiprocessing.context.ForkServerProcess, "start", start)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        worker_context().Process(target=print).start()
    assert done and signal.getsignal(signal.SIGINT) is handler


_START_FAILS = """
import multiprocessing, os, sys

class Gone:  # read in the new worker as the trainer's removed queue is: FileNotFoundError
    def __reduce__(self):
        return (os.stat, ("/nonexistent/agriseg-semaphore",))

class Bad:  # any other error while a worker starts
    def __reduce__(self):
        return (int, ("not a number",))

if __name__ == "__main__":
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["agriseg.data.worker_server"])
    p = ctx.Process(target=print, args=(Gone() if sys.argv[1] == "gone" else Bad(),))
    p.start()
    p.join()
    print("exit", p.exitcode)
"""


def test_a_worker_the_trainer_let_go_of_leaves_no_traceback(tmp_path) -> None:
    """Ctrl-C while a worker was still reading its start-up data printed a FileNotFoundError traceback from the
    worker (its queues already removed by the stopping trainer) under agriseg's one-line message."""
    import subprocess
    import sys

    script = tmp_path / "start.py"
    script.write_text(_START_FAILS)
    gone = subprocess.run([sys.executable, str(script), "gone"], capture_output=True, text=True, timeout=120)
    assert "exit 1" in gone.stdout and "Traceback" not in gone.stderr, gone.stderr
    bad = subprocess.run([sys.executable, str(script), "bad"], capture_output=True, text=True, timeout=120)
    assert "exit 1" in bad.stdout and "ValueError" in bad.stderr  # any other error is still shown
