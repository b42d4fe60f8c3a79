"""An up-front memory budget: refuse work that would not fit before allocating it.

Resizing a photo to ``--long-side 100000`` or downloading a scene at ``--resolution 0.001`` asks for arrays
of tens or thousands of GiB; numpy then fails deep inside (or the machine swaps). Commands estimate the
bytes of their largest arrays first and call :func:`check_memory`, which refuses with the figure when it
exceeds the memory available: ``MemAvailable`` of ``/proc/meminfo``, or the cgroup's limit minus its usage
when that is lower (a container). ``AGRISEG_MEMORY_CHECK=0`` turns the check off (the override, for a
machine whose swap or overcommit the user trusts); on the command line, ``--no-memory-check`` of the commands
that check (:func:`memory_check_skipped`, for the run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from agriseg.config import OptionError

OVERRIDE = "AGRISEG_MEMORY_CHECK"


def available_memory() -> int | None:
    """Bytes this process can still allocate (None where the system does not say)."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),  # v1
    ):
        try:
            limit = Path(limit_file).read_text(encoding="utf-8").strip()
            usage = int(Path(usage_file).read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:  # "max" or a huge number: no limit
            found.append(max(int(limit) - usage, 0))
    return min(found) if found else None


@contextmanager
def memory_check_skipped() -> Iterator[None]:
    """``--no-memory-check``: :func:`check_memory` refuses nothing inside (as ``AGRISEG_MEMORY_CHECK=0``).

    The override is the environment variable, set for the run and restored after it, so the processes the
    run starts (Dask workers) skip the check too.
    """
    before = os.environ.get(OVERRIDE)
    os.environ[OVERRIDE] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(OVERRIDE, None)
        else:
            os.environ[OVERRIDE] = before


def gib(n: float) -> str:
    """``12.3 GiB``, or ``33 MiB`` under 1 GiB (``8 KiB`` under 1 MiB)."""
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def check_memory(nbytes: float, what: str, smaller: str = "a smaller size") -> None:
    """Refuse (:class:`agriseg.config.OptionError`, exit 2) when ``nbytes`` exceed the available memory.

    Args:
        nbytes: the estimated peak of the work.
        what: the file and option that ask for it (``photo.jpg at --long-side 100000``).
        smaller: what would fit (an area: ``a smaller area or a coarser --resolution``).
    """
    if os.environ.get(OVERRIDE, "1").strip().lower() in ("0", "false", "no", "off"):
        return
    free = available_memory()
    if free is not None and nbytes > free:
        raise OptionError(_too_much(nbytes, what, free, smaller))


def _too_much(nbytes: float, what: str, free: int, smaller: str = "a smaller size") -> str:
    return (
        f"{what} would need about {gib(nbytes)} of memory; {gib(free)} is available "
        f"({smaller} fits; --no-memory-check or {OVERRIDE}=0 skips this check)"
    )


def refused_for_memory(needs: Mapping[Path, tuple[float, str]]) -> dict[Path, str]:
    """The inputs of a batch that would not fit in memory, each with the line saying so, for the batch to fail
    them as items and go on with the others (as it goes on past any bad input).

    Args:
        needs: per input, the estimated peak bytes of its work and how it is named (``photo.jpg at --long-side
            100000``).

    Raises:
        OptionError: (exit 2) when no input fits: nothing could run, as :func:`check_memory` refuses one.
    """
    if not needs or os.environ.get(OVERRIDE, "1").strip().lower() in ("0", "false", "no", "off"):
        return {}
    free = available_memory()
    if free is None:
        return {}
    over = {p: _too_much(n, what, free) for p, (n, what) in needs.items() if n > free}
    if over and len(over) == len(needs):
        worst = max(needs, key=lambda p: needs[p][0])
        raise OptionError(over[worst])
    return over
