"""Timing and memory helpers shared by the benchmarks."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable

import torch


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_it(fn: Callable[[], object], warmup: int = 1, repeat: int = 5) -> tuple[float, float]:
    """Median and spread (max - min) of ``fn``'s wall time in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times) - min(times)


def gflops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Forward GFLOPs (multiply-adds x 2) counted by ``torch.utils.flop_counter``."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 1e9
