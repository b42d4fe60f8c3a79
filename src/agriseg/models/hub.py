"""Hugging Face Hub ids: answered from the cache or the network, or refused at once.

transformers retries every file of a Hub id for minutes when there is no network (2 min 25 s measured for a VLM,
52 s for Depth Anything) before saying "check your internet connection". :func:`resolve_hub_id` asks the Hub once,
with a short timeout, before any loader runs; the text models (``agriseg.text.modeling``) and the depth estimator
of the crop pseudo-labels (``agriseg.crop.pseudolabel.depth``) both go through it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # org/name, as the Hugging Face Hub spells ids


def is_hub_id(name: str) -> bool:
    """True for an ``org/name`` id as the Hub spells it (never a path starting with ``.``, ``/`` or ``~``)."""
    return bool(_HUB_ID.match(name))


def hub_unreachable(endpoint: str, timeout: float = 5.0) -> str | None:
    """None if ``endpoint`` answers an HTTP request within ``timeout`` seconds (any status), else the reason."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:  # it answered
        return None
    except (OSError, ValueError) as err:  # no route, no name resolution, refused, timed out
        reason = getattr(err, "reason", err)
        return " ".join(str(reason).split()) or type(err).__name__
    return None


def resolve_hub_id(name: str, what: str = "model folder") -> str:
    """``name`` (an ``org/name`` Hub id that is not a local folder) as a loader should be given it.

    With ``HF_HUB_OFFLINE`` set, only the cache is read. Otherwise the Hub is probed once: reachable, the id is
    returned as is (the loader downloads or refreshes it); unreachable, a cached snapshot is returned as its
    local folder, and a model that is not cached is refused.

    Raises:
        FileNotFoundError: ``<name>: no such <what>, not in the Hugging Face cache, and <endpoint> cannot be
            reached (<reason>)`` (or ``HF_HUB_OFFLINE is set``).
    """
    from huggingface_hub import constants, try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        if not isinstance(cached, str):
            raise FileNotFoundError(f"{name}: no such {what}, and HF_HUB_OFFLINE is set (not in the cache)")
        return name
    problem = hub_unreachable(constants.ENDPOINT)
    if problem is None:
        return name
    if isinstance(cached, str):  # the cached snapshot, read as a local folder
        return str(Path(cached).parent)
    raise FileNotFoundError(
        f"{name}: no such {what}, not in the Hugging Face cache, and {constants.ENDPOINT} cannot be reached ({problem})"
    )
