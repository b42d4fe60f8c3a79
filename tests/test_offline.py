"""agriseg opens no network connection it was not asked for: importing the pipelines and their libraries works
the same on a machine offline (a field laptop, a compute node) as online, with no delay and no warning."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Every socket connection of the child is recorded and refused, as on a machine without network; then the
# modules that import third-party libraries at their top are imported, with every warning an error.
CHILD = """
import socket, sys, warnings
tried = []
def refuse(self, address, *a, **k):
    tried.append(address)
    raise OSError("network is unreachable")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
warnings.simplefilter("error")
import importlib
for m in sys.argv[1:]:
    importlib.import_module(m)
print("tried", tried)
"""

MODULES = ["agriseg.crop.transforms", "agriseg.crop.train"]


@pytest.mark.slow  # 18 s on the CI machine (two cold interpreter imports of the training stack)
def test_importing_the_training_modules_asks_no_server() -> None:
    # albumentations asked PyPI for a newer version of itself at import, in the main process and in every
    # spawned loader worker: 2 s and a UserWarning ("Error fetching version info") offline (GPU check, session 85)
    pytest.importorskip("albumentations")
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    res = subprocess.run([sys.executable, "-c", CHILD, *MODULES], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().endswith("tried []"), res.stdout


def test_a_users_own_setting_is_kept() -> None:
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="0")
    code = "import agriseg, os; print(os.environ['NO_ALBUMENTATIONS_UPDATE'])"
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.stdout.strip() == "0", res.stderr
