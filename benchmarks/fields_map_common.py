"""Shared pieces of the field-mapping benchmarks: paths, the ftw-format checkpoint, and a
process-tree memory sampler.

Generated data goes to ``data_cache/fields_map/`` (git-ignored). ftw-tools runs from its own virtualenv
(``FTW_VENV``, default ``data_cache/ftw-venv``: ``python -m venv --system-site-packages data_cache/ftw-venv &&
data_cache/ftw-venv/bin/pip install ftw-tools==1.4.3 "torchgeo<0.8"``); :func:`ftw_executable` says so when it
is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AGRISEG_SHARED", REPO.parent / "shared"))
SCENE = SHARED / "data" / "sentinel2" / "austria-inn-2window.tif"
CACHE = REPO / "data_cache" / "fields_map"
FTW_VENV = Path(os.environ.get("FTW_VENV", REPO / "data_cache" / "ftw-venv"))


def ftw_executable() -> str:
    """ftw-tools' ``ftw`` command in ``FTW_VENV``; exits with how to install it when it is not there."""
    exe = FTW_VENV / "bin" / "ftw"
    if not exe.exists():
        raise SystemExit(
            f"ftw-tools not found at {exe}: python -m venv --system-site-packages {FTW_VENV} && "
            f'{FTW_VENV}/bin/pip install ftw-tools==1.4.3 "torchgeo<0.8" (or set FTW_VENV)'
        )
    return str(exe)


CKPT = CACHE / "ftw_efficientnet-b3_seed0.ckpt"


def write_ftw_checkpoint(path: Path = CKPT, seed: int = 0) -> Path:
    """An EfficientNet-B3 U-Net (random weights, seed ``seed``) saved in ftw-tools' Lightning format.

    Keys ``model.*`` of ``smp.Unet("efficientnet-b3", in_channels=8, classes=3)``; hyper-parameters as
    ftw-tools' ``CustomSemanticSegmentationTask`` stores them, so ``ftw inference run`` loads it.
    """
    import segmentation_models_pytorch as smp
    import torch

    if path.is_file():
        return path
    torch.manual_seed(seed)
    model = smp.Unet(encoder_name="efficientnet-b3", encoder_weights=None, in_channels=8, classes=3)
    ckpt = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "hyper_parameters": {
            "model": "unet",
            "backbone": "efficientnet-b3",
            "weights": None,
            "in_channels": 8,
            "num_classes": 3,
            "num_filters": 64,
            "loss": "ce",
            "class_weights": None,
            "ignore_index": 3,
            "lr": 1e-3,
            "patience": 10,
            "patch_weights": False,
            "freeze_backbone": False,
            "freeze_decoder": False,
            "model_kwargs": {},
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path


class TreeMemory:
    """Samples the summed PSS (RSS where PSS is unavailable) of a process and all its children."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    mi = p.memory_full_info()
                    total += getattr(mi, "pss", 0) or mi.rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak = max(self.peak, total)
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._t.join(timeout=2)
        return self.peak


def timed_run(cmd: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> dict[str, Any]:
    """Run ``cmd``; return wall seconds, peak process-tree memory (GB) and the exit code."""
    t0 = time.perf_counter()
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    mem = TreeMemory(proc.pid)
    rc = proc.wait()
    peak = mem.stop()
    if log:
        out.close()  # type: ignore[union-attr]
    return {"cmd": " ".join(cmd), "rc": rc, "wall_s": time.perf_counter() - t0, "peak_gb": peak / 2**30}


def save_result(name: str, result: dict[str, Any]) -> Path:
    """Append a result to ``data_cache/fields_map/results.jsonl`` and print it."""
    CACHE.mkdir(parents=True, exist_ok=True)
    row = {"name": name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **result}
    with open(CACHE / "results.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))
    return CACHE / "results.jsonl"


def measured_run(cmd: list[str], env: dict[str, str] | None = None, drop_env: tuple[str, ...] = ()) -> dict[str, Any]:
    """One whole process under ``/usr/bin/time -v``: wall seconds, summed PSS peak of the process tree (GB),
    the largest single process's maximum RSS (GB), the 1-minute load average before it started, exit code.

    ``env`` is added to this process's environment; ``drop_env`` names variables removed from it.
    """
    import re
    import tempfile

    load = os.getloadavg()[0]
    full = {k: v for k, v in os.environ.items() if k not in drop_env}
    full.update(env or {})
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            ["/usr/bin/time", "-v", "-o", tf.name, *cmd],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full,
        )
        mem = TreeMemory(proc.pid)
        out, _ = proc.communicate()
        wall = time.perf_counter() - t0
        pss = mem.stop()
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", tf.read())
    if proc.returncode:
        print(out[-3000:])
    return {
        "rc": proc.returncode,
        "wall_s": round(wall, 2),
        "peak_tree_pss_gb": round(pss / 2**30, 3),
        "max_rss_gb": round(int(m.group(1)) / 2**20, 3) if m else None,
        "load_1min_before": round(load, 2),
    }
