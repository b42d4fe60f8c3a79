"""Downloading one file over HTTP(S): resumable, retried with backoff, checksummed, atomic.

The bytes go to a stable hidden sibling ``.<name>.part``; an interrupted transfer (dropped connection,
server error, killed process) leaves it there and the next attempt or the next run asks the server for the
rest with an HTTP ``Range`` request (the next run only when the kept bytes can be checked: an ETag /
Last-Modified the server sent, sent back as ``If-Range``, or a sha256 to check the whole file by). Only a
complete file whose sha256 matches (when one is given) is renamed onto the final name; a file with the wrong
checksum is deleted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
import re
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def base_url(variable: str, default: str) -> str:
    """The address an environment variable sets for a mirror (``AGRISEG_MODELS_BASE_URL``), else ``default``.

    Raises:
        OptionError: a value that is no http(s) address (``notaurl`` was tried five times over 22 s and named
            only in the download's error).
    """
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        from agriseg.config import OptionError

        raise OptionError(f"{variable}={value!r}: not an http(s) address (e.g. http://mirror.example/ftw/)")
    return value


def unreachable(url: str, wait_s: float = 1.0) -> str | None:
    """Why nothing can answer at ``url`` (asked twice, ``wait_s`` apart), or None when something may.

    Its host has no address, or its port refuses connections: without a network a name never resolves, and a
    server that is not running refuses at once, so retrying with backoff only delays the answer (16-21 s measured
    for five STAC attempts, 256 s for nine downloads of a refused port); one short second try still covers a
    resolver or a server restarting. Anything else (a connection that times out, a network unreachable) is left
    to the caller's retries. None for what is no http(s) URL, and for a URL reached through a proxy (only the
    proxy's answer counts there: a cluster's proxy resolves names this machine cannot).
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host or parts.scheme not in ("http", "https") or _proxied(url):
        return None
    try:
        port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port out of range: the request itself says so
        return None
    problem = None
    for attempt in range(2):
        try:
            socket.getaddrinfo(host, port)
        except (socket.gaierror, UnicodeError):
            problem = f"cannot resolve {host}: no network, or a wrong host name"
        else:
            if not _refused(host, port):
                return None
            problem = f"connection refused: nothing answers at {f'[{host}]' if ':' in host else host}:{port}"
        if attempt == 0:
            time.sleep(wait_s)
    return problem


def _proxied(url: str) -> bool:
    """Whether requests to ``url`` go through a proxy (http_proxy, https_proxy or all_proxy, not bypassed by
    no_proxy), as requests, pystac-client and GDAL's curl send them."""
    from requests.utils import get_environ_proxies  # (requests downloads every file this module fetches)

    return bool(get_environ_proxies(url))


def _refused(host: str, port: int) -> bool:
    """Whether a TCP connection to ``host:port`` is refused (a closed port answers at once)."""
    try:
        with socket.create_connection((host, port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:  # timed out, network unreachable: the caller's retries and their messages
        return False


# what the usual network failures say deep inside requests / urllib3 / pystac-client messages, in a user's words
_NETWORK_WORDS = (
    ("unable to connect to proxy", "cannot connect to the proxy (the http_proxy / https_proxy settings)"),
    ("proxyerror", "the proxy refused or failed the request (the http_proxy / https_proxy settings)"),
    ("connection refused", "connection refused: nothing answers at that address and port"),
    ("connection broken", "the transfer was cut off (connection broken)"),
    ("incompleteread", "the transfer was cut off (connection broken)"),
    ("timed out", "no answer in time (timed out)"),
    ("name or service not known", "cannot resolve the host name"),
    ("temporary failure in name resolution", "cannot resolve the host name"),
    ("certificate verify failed", "its TLS certificate could not be verified"),
    ("connection reset", "the connection was reset"),
    ("remote end closed connection", "the server closed the connection"),
)


def network_problem(err: BaseException) -> str:
    """One short line for a network error (``HTTP 404 Not Found``, ``connection refused: ...``) instead of the
    library's nested ``HTTPConnectionPool(host=..., port=...): Max retries exceeded ... NewConnectionError(...)``."""
    response = getattr(err, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"HTTP {response.status_code} {getattr(response, 'reason', '') or ''}".strip()
    text = " ".join(str(err).split())
    low = text.lower()
    if m := re.search(r"too many (\d{3}) error responses", low):  # urllib3 gave up retrying one status
        return f"HTTP {m.group(1)} on every attempt"
    for needle, words in _NETWORK_WORDS:
        if needle in low:
            return words
    return text if len(text) <= 160 else text[:157] + "..."


def part_path(dst: str | Path) -> Path:
    """Where the bytes of ``dst`` collect while it downloads (kept between runs, for resuming)."""
    dst = Path(dst)
    return dst.with_name(f".{dst.name}.part")


def sha256_of(path: str | Path) -> str:
    """The sha256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _fetch_rest(url: str, part: Path, timeout: float, progress: bool, desc: str) -> None:
    """Append the missing bytes of ``url`` to ``part``: resumed only while the file on the server is the one
    the part began with (``If-Range`` with the validator kept beside the part); otherwise from the start."""
    import requests

    from agriseg.batch import progress_bar

    validator = part.with_name(part.name + ".validator")  # the ETag / Last-Modified the part's bytes came with
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    if have and validator.is_file():
        headers["If-Range"] = validator.read_text(encoding="utf-8").strip()
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as r:
        if r.status_code == 416:  # the range starts at or past the end: complete only if the sizes agree
            size = r.headers.get("Content-Range", "").rpartition("/")[2]
            if size.isdigit() and int(size) == have:
                return
            part.unlink(missing_ok=True)  # longer than the file on the server (or size unknown): start over
            raise ConnectionError(f"the {have} bytes kept do not fit the file on the server; starting over")
        r.raise_for_status()
        if have and r.status_code != 206:
            have = 0  # the server sent the whole file (it changed since the part began, or ignores Range)
        if not have:
            tag = r.headers.get("ETag") or r.headers.get("Last-Modified")
            if tag and not tag.startswith("W/"):  # a weak ETag cannot validate a range
                validator.write_text(tag, encoding="utf-8")
            else:
                validator.unlink(missing_ok=True)
        length = r.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with (
            open(part, "ab" if have else "wb") as f,
            progress_bar(total=total, initial=have, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar,
        ):
            for block in r.iter_content(CHUNK):
                f.write(block)
                bar.update(len(block))
    if total is not None and part.stat().st_size != total:
        raise ConnectionError(f"transfer ended at {part.stat().st_size} of {total} bytes")


def _web_page(path: Path) -> bool:
    """Whether a downloaded file is an HTML page (a login, error or "moved" page sent with status 200)."""
    with open(path, "rb") as f:
        head = f.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def download(
    url: str,
    dst: str | Path,
    sha256: str | None = None,
    retries: int = 4,
    backoff_s: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dst``, resuming a partial download left by an earlier attempt.

    Args:
        url: an ``http(s)://`` address.
        dst: the final file (its folder is created).
        sha256: expected hex digest; None skips the check.
        retries: attempts after the first one; attempt ``i`` waits ``backoff_s * 2**i`` seconds first.
        timeout: seconds to wait for the server to answer or send more bytes.
        progress: show a tqdm bar of bytes.

    Returns:
        ``dst``.

    Raises:
        ValueError: the host name does not resolve or its port refuses connections (checked before any
            attempt), the download failed on every attempt (the partial file is kept for a re-run to resume
            when it can be checked: the server sent an ETag / Last-Modified, or ``sha256`` is given; otherwise
            it is deleted), or the checksum differs or a web page came instead of the file (the file is
            deleted). The message starts with the URL.
    """
    dst = Path(dst)
    problem = unreachable(url)
    if problem:
        raise ValueError(f"{url}: download failed ({problem})")
    made = not dst.parent.exists()
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _download(url, dst, sha256, retries, backoff_s, timeout, progress)
    except BaseException:
        if made and not any(dst.parent.iterdir()):  # nothing came: no empty cache folder left behind
            dst.parent.rmdir()
        raise


MAX_RETRY_AFTER_S = 120.0  # the longest wait a server's Retry-After is granted between two attempts


def retry_after(value: str | None) -> float:
    """The seconds a ``Retry-After`` header asks for (a number of seconds or an HTTP date), at most
    :data:`MAX_RETRY_AFTER_S`; 0 when there is none or it cannot be read."""
    if not value:
        return 0.0
    try:
        seconds = float(value)
        if not math.isfinite(seconds):
            return 0.0
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return 0.0
        if when.tzinfo is None:  # "-0000" (no zone said): HTTP dates are GMT
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _download(
    url: str, dst: Path, sha256: str | None, retries: int, backoff_s: float, timeout: float, progress: bool
) -> Path:
    """:func:`download` once its folder exists."""
    import requests

    part = part_path(dst)
    validator = part.with_name(part.name + ".validator")
    if part.exists() and not validator.is_file() and not sha256:
        # bytes an earlier run kept, with nothing to tell whether the file on the server is still the one they
        # came from (no ETag / Last-Modified, no digest): resuming could join two versions, so start over
        log.info(
            "%s: the %d bytes kept in %s cannot be checked against the server; downloading afresh",
            url,
            part.stat().st_size,
            part,
        )
        part.unlink()
    last: Exception | None = None
    attempts = 0
    asked = 0.0  # the wait a server asked for (Retry-After), at most MAX_RETRY_AFTER_S
    from agriseg.batch.errors import stop_if_interrupted

    for attempt in range(retries + 1):
        if attempt:
            stop_if_interrupted()  # a Ctrl-C a library swallowed during the failed attempt
            if asked >= 10:  # minutes of silence otherwise (asked: at most MAX_RETRY_AFTER_S, so said as waited)
                log.warning("%s: waiting %.0f s before trying again, as the server asked (Retry-After)", url, asked)
            time.sleep(max(backoff_s * 2 ** (attempt - 1), asked))
        attempts, asked = attempts + 1, 0.0  # a wait asked is for the attempt after its answer only
        try:
            _fetch_rest(url, part, timeout, progress, dst.name)
            last = None
            break
        except requests.HTTPError as err:
            last = err
            status = err.response.status_code if err.response is not None else 0
            if err.response is not None and (status in (408, 429) or status >= 500):  # a timeout, "too many
                asked = retry_after(err.response.headers.get("Retry-After"))  # requests", 503: as long as asked
            if 400 <= status < 500 and status not in (408, 429):
                break  # not found / forbidden: retrying will not help
        except (requests.RequestException, OSError) as err:  # ConnectionError is an OSError
            last = err
    if last is not None:
        resumable = part.exists() and (validator.is_file() or bool(sha256))
        kept = f"; {part.stat().st_size} bytes kept in {part}, re-run to resume" if resumable else ""
        if not resumable:
            part.unlink(missing_ok=True)  # a later run could not check them (see above)
        raise ValueError(f"{url}: download failed after {attempts} attempt(s) ({network_problem(last)}){kept}")
    if _web_page(part):
        part.unlink(missing_ok=True)
        validator.unlink(missing_ok=True)
        raise ValueError(f"{url}: the server sent a web page, not the file (a login or error page?); nothing kept")
    if sha256:
        got = sha256_of(part)
        if got.lower() != sha256.lower():
            part.unlink(missing_ok=True)
            validator.unlink(missing_ok=True)
            raise ValueError(f"{url}: sha256 mismatch (expected {sha256}, got {got}); the download was deleted")
    os.replace(part, dst)
    validator.unlink(missing_ok=True)
    return dst
