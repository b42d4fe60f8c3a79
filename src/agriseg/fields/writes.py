"""The rasters the fields commands write through GDAL: a write that fails is said in one line naming the output.

GDAL's exception for a failed write says little of why (``Write failed. See previous exception``, or
``TIFFAppendToStrip:Write error at scanline 0``); the reason (``No space left on device``) is only in libtiff's
own error line on stderr. :func:`writing` raises the failure as an ``OSError`` naming the output the user asked
for (never a work file whose name it borrows): ``ENOSPC`` for a full disk (the error says so, or the output's
disk is left without a few blocks; a batch stops there, as :func:`agriseg.batch.disk_full` says it), another
``OSError`` that fails the item for any other write error (it was taken for a bug in agriseg). (libtiff's raw
line stays on stderr: catching it means replacing libtiff's C error handler, which GDAL's threads call too.)
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agriseg.batch import error_chain

log = logging.getLogger("agriseg")

# how libtiff and GDAL say a write failed without saying why
_WRITE_WORDS = ("write failed", "write error", "tiffappendtostrip", "_tiffwriteproc", "tiffwritedirectory",
                "iwriteblock", "flushcache", "cannot write")  # fmt: skip
# a full disk or quota in a reason (strerror of ENOSPC / EDQUOT)
_FULL_WORDS = ("no space left on device", "disk quota exceeded")


def full_disk(err: BaseException, output: Path, said: list[str] | tuple[str, ...] = ()) -> OSError | None:
    """``err`` as the full disk it was, naming ``output`` (None: another error). GDAL's error says only ``Write
    failed``: the reason is libtiff's line (``said``), or, where that could not be kept, a disk of ``output``
    left without a few blocks."""
    from agriseg.batch import disk_full
    from agriseg.data.files import out_of_room

    gdal = any(type(e).__module__.startswith("rasterio") for e in error_chain(err))
    full = disk_full(err) or any(w in line.lower() for line in said for w in _FULL_WORDS)
    if full or (gdal and not isinstance(err, ValueError) and out_of_room(Path(output).parent, 16)):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(output))
    return None


def write_failure(err: BaseException, output: Path, said: list[str] | tuple[str, ...] = ()) -> OSError | None:
    """``err`` as the failed write of ``output`` it was (None: another error, raised as it is): a full disk
    (:func:`full_disk`), or a GDAL write error, with libtiff's reason where it gave one (``cannot write it
    (Input/output error)``)."""
    if (full := full_disk(err, output, said)) is not None:
        return full
    if isinstance(err, ValueError) or not any(type(e).__module__.startswith("rasterio") for e in error_chain(err)):
        return None  # a bad input, or an error of agriseg's own: said as it is
    words = " ".join([*(str(e) for e in error_chain(err)), *said]).lower()
    if not any(w in words for w in _WRITE_WORDS):
        return None  # a read error (a damaged scene) is the scene's, said by its reader
    reasons = [line.split(": ", 1)[-1].strip().rstrip(".") for line in said if "writeproc" in line.lower()]
    reason = reasons[-1] if reasons else " ".join(str(err).split()) or type(err).__name__
    return OSError(errno.EIO, f"cannot write it ({reason})", str(output))


def _same(err: BaseException, failure: OSError) -> bool:
    return isinstance(err, OSError) and (err.errno, err.strerror, err.filename) == (
        failure.errno,
        failure.strerror,
        failure.filename,
    )


@contextmanager
def writing(output: str | Path) -> Iterator[None]:
    """Writes of ``output`` (or of work files that borrow its name): a failed write is raised as
    :func:`write_failure`'s ``OSError`` naming ``output``."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - re-raised as it is unless a write failed
        if isinstance(err, OSError) and err.filename == str(output):  # said already, of this output
            raise
        failure = write_failure(err, Path(output))
        if failure is None or _same(err, failure):  # said already (a write inside another's block)
            raise
        raise failure from err


__all__ = ["full_disk", "write_failure", "writing"]
