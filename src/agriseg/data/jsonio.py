"""JSON that every reader accepts: undefined numbers (NaN, infinity) are written as ``null``."""

from __future__ import annotations

import json
import math
from typing import Any


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


def dumps(obj: Any, indent: int | None = 1) -> str:
    """Serialise ``obj`` as strict JSON (RFC 8259): NaN and infinities become ``null``.

    Python's ``json`` writes ``NaN``, which JavaScript, jq and most JSON parsers reject; an undefined
    metric (e.g. a false-positive rate with no predictions) is ``null`` instead.
    """
    return json.dumps(finite(obj), indent=indent, allow_nan=False)
