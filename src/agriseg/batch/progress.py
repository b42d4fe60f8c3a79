"""Progress bars of the batch runner: tqdm, quiet when asked, a line every LOG_INTERVAL_S in a log file."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from agriseg import quiet

log = logging.getLogger("agriseg")


LOG_INTERVAL_S = 30.0
"""Seconds between a bar's updates when stderr is a file or a pipe (a scheduler's log), not a terminal."""


def progress_bar(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    """A tqdm bar (``iterable`` and ``kwargs`` as tqdm's) that starts no monitor thread and keeps logs short.

    Every progress bar of agriseg is made here. tqdm starts a monitor thread with its first bar, even a
    disabled one, and a process with a second thread can no longer fork its workers safely: the polygoniser's
    block workers then start from a fresh ``forkserver`` process and import everything again (slower, and
    their memory is not shared with the parent). The monitor only corrects bars whose updates stall for
    longer than ``miniters`` allows; the bars here update once per item or block.

    When stderr is not a terminal (a batch job's log file), the bar is redrawn every
    :data:`LOG_INTERVAL_S` seconds (and at its end) instead of up to ten times a second, so a long run adds
    a few hundred bytes to the log rather than megabytes; ``TQDM_MININTERVAL`` (tqdm's own variable) sets
    another interval.
    """
    from tqdm import tqdm

    if quiet():
        kwargs["disable"] = True
    if not interactive(kwargs.get("file") or sys.stderr):
        if "mininterval" not in kwargs and "TQDM_MININTERVAL" not in os.environ:
            kwargs["mininterval"] = LOG_INTERVAL_S
        kwargs.setdefault("position", 0)  # a bar inside another (a download's) wrote cursor-up codes into logs
    return _quiet_tqdm(tqdm)(iterable, **kwargs)


def interactive(stream: Any) -> bool:  # noqa: ANN401 - a text stream, or None
    """Whether ``stream`` is a terminal (bars redraw in place) rather than a log file or a pipe."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False


_DREW = [False]  # a bar of agriseg's has written to its stream since bar_drew() was last asked


def bar_drew() -> bool:
    """Whether one of agriseg's bars has been drawn (or cleared) since the last call: a log line written after it
    must start a new line first (a bar in a log file ends with ``\r``, not a newline). Resets the flag."""
    drew, _DREW[0] = _DREW[0], False
    return drew


@functools.cache
def _quiet_tqdm(base: type) -> type:
    def display(self: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - tqdm's own signature
        _DREW[0] = True  # a closing bar's clearing counts too: it leaves its line without a newline
        return shown(self, *args, **kwargs)

    def close(self: Any) -> None:
        left = not getattr(self, "disable", True) and (abs(self.pos) == 0 if self.leave is None else self.leave)
        closed(self)
        if left:  # a bar kept on screen ends its line with a newline: the next line needs none
            _DREW[0] = False

    shown: Any = getattr(base, "display")  # noqa: B009 - base is any tqdm class; mypy sees a bare type
    closed: Any = getattr(base, "close")  # noqa: B009
    return type("ProgressBar", (base,), {"monitor_interval": 0, "display": display, "close": close})


@contextlib.contextmanager
def library_bars_off(local: bool = True) -> Iterator[None]:
    """Hide the bars Hugging Face libraries draw for a short step of theirs (``Loading weights``, ``Writing model
    shards``, ``Saving the dataset``): agriseg's own line says what the step did, and two more bars per load or
    save only made a run's output longer. Training's bar (from tqdm itself, not these switches) stays.

    Args:
        local: whether the step reads or writes local files only; False (a model named by its Hub id, which
            may be downloaded) leaves every bar on: a first download of 100 MB or more shows its progress.

    Written by hand: transformers and datasets have only global on / off switches, not a scoped one; this puts
    back what each had, the Hub's download bars too (a library not installed is left alone).
    """
    import importlib

    if quiet() or not local:  # quiet: every bar is off already (by environment)
        yield
        return
    try:  # transformers' switch moves the Hub's too: its state before anything is switched
        hub: Any = importlib.import_module("huggingface_hub.utils")
        hub_was_off = bool(hub.are_progress_bars_disabled())
    except ImportError:
        hub, hub_was_off = None, False
    undo = []
    for module in ("transformers.utils.logging", "datasets.utils.logging"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        if mod.is_progress_bar_enabled():
            mod.disable_progress_bar()
            undo.append(mod.enable_progress_bar)
    try:
        yield
    finally:
        for put_back in undo:
            put_back()
        if hub is not None and undo:  # as it was before: enable_progress_bar turned the Hub's bars on as well
            (hub.disable_progress_bars if hub_was_off else hub.enable_progress_bars)()
