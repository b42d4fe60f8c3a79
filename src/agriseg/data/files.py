"""Writing outputs so that nothing half-written ever carries a final name, and JSON every reader accepts.

Every output of agriseg (images, rasters, tables, models, folders) is written through :func:`atomic_write`:
the writer fills a temporary sibling, which replaces the final name only when the writer finished without
an error; on an error the temporary is removed and the final name is untouched.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def temporary_sibling(path: str | Path, tag: str = "tmp") -> Path:
    """A hidden name next to ``path`` for work in progress (``.<name>.<tag>-<pid><suffix>``).

    It keeps the suffix, because writers pick the format by it.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}{path.suffix}")


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Write ``path`` (a file or a folder) all at once.

        >>> with atomic_write("out/mask.png") as tmp:
        ...     Image.fromarray(mask).save(tmp)

    Yields:
        The temporary path to write (a file, or a folder the writer creates). Its parent exists.

    On success the temporary replaces ``path`` (an existing folder is removed first); on any exception it is
    deleted and the exception propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():
            _remove(path)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def finite(obj: Any) -> Any:
    """A copy of ``obj`` in plain Python types with every non-finite float replaced by ``None``.

    numpy scalars and arrays become Python numbers and lists.
    """
    if hasattr(obj, "tolist") and type(obj).__module__ == "numpy":
        obj = obj.tolist()  # numpy scalar -> number, array -> nested list
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps_json(obj: Any, indent: int | None = 1) -> str:
    """Serialise ``obj`` as strict JSON (RFC 8259): NaN and infinities become ``null``.

    Python's ``json`` writes ``NaN``, which JavaScript, jq and most JSON parsers reject; an undefined
    metric (e.g. a false-positive rate with no predictions) is ``null`` instead. Other objects (paths)
    are written as their string.
    """
    return json.dumps(finite(obj), indent=indent, allow_nan=False, default=str)


def write_json(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    """Write ``obj`` as strict JSON (:func:`dumps_json`), atomically."""
    return write_text(path, dumps_json(obj, indent))
