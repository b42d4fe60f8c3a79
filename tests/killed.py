"""A script whose process prints a worker's pid, then is killed with SIGKILL: does the worker outlive it?"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def worker_outlives_kill(script_text: str, folder: Path, wait_s: float, settle_s: float = 0.0) -> bool:
    """Run ``script_text`` (it prints its worker's pid on its first line), kill it with SIGKILL after
    ``settle_s``, and say whether the worker still runs ``wait_s`` later (a survivor is then killed)."""
    from agriseg.data.files import pid_alive

    script = folder / "killed_parent.py"
    script.write_text(script_text, encoding="utf-8")
    cmd = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert cmd.stdout is not None
    worker = int(cmd.stdout.readline())
    time.sleep(settle_s)
    assert worker != cmd.pid and pid_alive(worker)
    cmd.send_signal(signal.SIGKILL)
    cmd.wait()
    deadline = time.time() + wait_s
    while pid_alive(worker) and time.time() < deadline:
        time.sleep(0.2)
    alive = pid_alive(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)
    return alive
