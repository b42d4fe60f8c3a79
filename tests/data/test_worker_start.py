"""Training with loader workers after the parent process used OpenCV's thread pool must not hang.

OpenCV's pool is not fork-safe: a worker forked after the parent ran a multithreaded OpenCV call can block
forever in its first pooled OpenCV call. Each case runs in a subprocess with a deadline, so a regression
fails the test instead of hanging the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_PRELUDE = """
import cv2, numpy as np
cv2.setNumThreads(2)
img = np.random.default_rng(0).random((1500, 1500), dtype=np.float32)
for _ in range(4):  # multithreaded OpenCV in the parent, as pseudo-labelling does
    cv2.GaussianBlur(img, (0, 0), 3)
    cv2.resize(img, (2500, 2500), interpolation=cv2.INTER_LINEAR)
"""

_CROP = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from crop.test_train import tiny_config
from agriseg.crop.train import train_crop
cfg = tiny_config(Path({tmp!r}))
cfg.train.num_workers = 1
res = train_crop(cfg)
assert Path(res["model"]).is_file()
print("TRAINED")
"""

_FIELDS = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
import yaml
from agriseg.fields.synthetic import SyntheticFTWConfig, make_synthetic_ftw
from agriseg.config import load_config
from agriseg.fields.config import FieldsTrainConfig
from agriseg.fields.train import train_fields
from fields.test_cli_fields import CONFIG
tmp = Path({tmp!r})
make_synthetic_ftw(tmp / "ftw", SyntheticFTWConfig(countries={{"austria": 8}}, size=64, seed=1))
cfg_path = tmp / "tiny.yaml"
text = CONFIG.format(out=tmp / "run", root="ftw").replace("[austria, kenya]", "[austria]")
cfg_path.write_text(text + "  num_workers: 1\\n")
cfg = load_config(cfg_path, FieldsTrainConfig)
assert cfg.train.num_workers == 1
res = train_fields(cfg, evaluate_test=False)
assert Path(res["model"]).is_file()
print("TRAINED")
"""


def _run(body: str, tmp_path: Path, timeout: float = 500) -> None:
    # a hang detector, not a speed bound: 82 s measured on a loaded 2-core machine (session 77's flake review)
    # workers are started from a server that imports the main script again: guard it, as users must
    code = _PRELUDE + textwrap.dedent(body).format(tests=str(Path(__file__).parents[1]), tmp=str(tmp_path))
    script = "def run():\n" + textwrap.indent(code, "    ") + '\n\nif __name__ == "__main__":\n    run()\n'
    path = tmp_path / "run_case.py"
    path.write_text(script)
    # own session, so a hung loader worker (a grandchild) is killed with the script
    proc = subprocess.Popen(
        [sys.executable, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"training with a loader worker did not finish within {timeout:.0f} s (worker hang)")
    assert proc.returncode == 0, stderr[-3000:]
    assert "TRAINED" in stdout


@pytest.mark.slow  # 30 s; the fields case below starts its workers through the same agriseg.data.loaders
@pytest.mark.timeout(600)
def test_crop_training_with_worker_after_parent_used_opencv(tmp_path: Path) -> None:
    _run(_CROP, tmp_path)


@pytest.mark.slow  # 27 s; loader workers start in the default run (test_loader_workers_end_when_..._killed)
@pytest.mark.timeout(600)
def test_fields_training_with_worker_after_parent_used_opencv(tmp_path: Path) -> None:
    _run(_FIELDS, tmp_path)


_KILLED_TRAINER = """
import os, sys, time
from agriseg.data.loaders import train_loader

class Pids:
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return os.getpid()

if __name__ == "__main__":
    batches = iter(train_loader(Pids(), 2, 1))
    print(int(next(batches)[0]), flush=True)
    time.sleep(120)
"""


@pytest.mark.slow  # 9 s: a trainer started and killed
@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 of a process")
def test_loader_workers_end_when_the_trainer_is_killed(tmp_path) -> None:
    """After a kill -9 of `crop train`, its loader worker and the forkserver (1.2 GB) ran on for ever: the
    worker held the forkserver's pipe open and watched the forkserver, not the trainer (session 70's sweep)."""
    from tests.killed import worker_outlives_kill

    assert not worker_outlives_kill(_KILLED_TRAINER, tmp_path, wait_s=15)


_SERVER_SIGINT = """
import signal, sys, time
from multiprocessing import forkserver
from agriseg.data.loaders import worker_context
before = signal.getsignal(signal.SIGINT)
worker_context()
pid = forkserver._forkserver._forkserver_pid
status = open(f"/proc/{pid}/status").read()  # at once: the server is still importing torch
ignored = int(next(l for l in status.splitlines() if l.startswith("SigIgn")).split()[1], 16)
print(bool(ignored & (1 << (signal.SIGINT - 1))), signal.getsignal(signal.SIGINT) is before)
"""


@pytest.mark.slow  # 10 s: a process started and interrupted
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads a process's signal state in /proc")
def test_ctrl_c_while_the_worker_server_starts_is_not_a_traceback(tmp_path: Path) -> None:
    """A Ctrl-C while the server imported torch printed a 40-line traceback from it under agriseg's one line
    (the sweep of session 81): the server ignored Ctrl-C only after its imports. It is started ignoring it."""
    res = subprocess.run([sys.executable, "-c", _SERVER_SIGINT], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["True", "True"]  # ignored in the server; the trainer's own handler is back
