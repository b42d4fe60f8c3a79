"""Keeping rasterio's own warnings off the terminal: agriseg reports a raster's problems in one line itself."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("agriseg")


def _from_rasterio(w: warnings.WarningMessage) -> bool:
    """A warning rasterio raised (``NotGeoreferencedWarning`` and its kin), by category or by the file it came from."""
    module = getattr(w.category, "__module__", "") or ""
    return module.split(".")[0] == "rasterio" or "rasterio" in Path(w.filename).parts


@contextlib.contextmanager
def quiet_rasterio(what: str | Path = "") -> Iterator[None]:
    """Send rasterio's warnings raised inside the block to the ``agriseg`` log (debug) instead of the terminal.

    A raster without a geotransform makes rasterio print two raw ``NotGeoreferencedWarning`` lines on every
    open, before agriseg's own one-line message about the file (``has no CRS``). Other warnings are passed on
    unchanged when the block ends (also when it raises).

    Args:
        what: the file (or files) the block reads, named in the log lines.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            caught = record if record is not None else []
            yield
    finally:  # outside catch_warnings: the warnings passed on reach the filters in force
        for w in caught:
            if _from_rasterio(w):
                log.debug("%s: %s", what or "rasterio", w.message)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


__all__ = ["quiet_rasterio"]
