"""The HTTP retries of STAC requests (pystac-client's requests session): urllib3's ``Retry``, waiting as every
other download of agriseg does. A module of its own: urllib3 comes with the ``fields`` extra, and a class at
module level can be pickled (a client holding it sent to a Dask worker)."""

from __future__ import annotations

import logging
from itertools import takewhile
from types import TracebackType
from typing import Any, Self

from urllib3.util.retry import Retry

log = logging.getLogger("agriseg")


class StacRetry(Retry):
    """urllib3's ``Retry`` with the waits of every other download of agriseg (:mod:`agriseg.data.download`):
    ``backoff_s * 2**i`` before retry ``i`` (urllib3 retried the first time at once), and a server's
    ``Retry-After`` granted up to ``MAX_RETRY_AFTER_S`` and said when long (urllib3 waited as long as a server
    asked, an hour with no word). At module level: a client holding it can be pickled."""

    def get_backoff_time(self) -> float:
        errors = len(list(takewhile(lambda x: x.redirect_location is None, reversed(self.history))))
        top = getattr(self, "backoff_max", getattr(self, "DEFAULT_BACKOFF_MAX", 120))  # (urllib3 1.26: the latter)
        return 0.0 if errors < 1 else float(min(top, self.backoff_factor * 2 ** (errors - 1)))

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,  # noqa: ANN401 - urllib3's BaseHTTPResponse
        error: Exception | None = None,
        _pool: Any = None,  # noqa: ANN401 - urllib3's ConnectionPool
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        """urllib3's step to the next attempt, saying a request that got no answer in time (a hung search was
        minutes of silence, session 104's sweep)."""
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        if error is not None and "timed out" in str(error).lower():
            if url and url.startswith("/") and _pool is not None:  # urllib3 passes the path alone
                url = f"{_pool.scheme}://{_pool.host}:{_pool.port}{url}"
            made = len(new.history)
            left = new.total if isinstance(new.total, int) else 0
            log.warning("%s: no answer in time; trying again (attempt %d of %d)", url or "the STAC API", made + 1,
                        made + left + 1)  # fmt: skip
        return new

    def parse_retry_after(self, retry_after: str) -> float:
        from agriseg.data.download import MAX_RETRY_AFTER_S

        asked = super().parse_retry_after(retry_after)
        seconds = min(asked, MAX_RETRY_AFTER_S)
        if seconds >= 10:
            cut = f"; waiting {seconds:.0f} s, the most agriseg waits" if asked > seconds else ""
            log.warning("the STAC API asked to wait %.0f s before trying again (Retry-After)%s", asked, cut)
        return seconds
