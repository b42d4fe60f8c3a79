"""agriseg.data.download: a host that has no address is answered at once, not after retries with backoff."""

from __future__ import annotations

from pathlib import Path

import pytest

from agriseg.data import download as dl

NOWHERE = "https://stac.agriseg-test.invalid/api/v1"  # .invalid never resolves (RFC 2606)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every sleep of the download module, recorded instead of slept."""
    got: list[float] = []
    monkeypatch.setattr(dl.time, "sleep", got.append)
    return got


def test_a_host_without_an_address_is_named_after_one_second_try(sleeps: list[float]) -> None:
    assert dl.unreachable(NOWHERE) == ("cannot resolve stac.agriseg-test.invalid: no network, or a wrong host name")
    assert sleeps == [1.0]  # asked twice, one second apart
    assert dl.unreachable("catalog.json") is None and dl.unreachable("file:///tmp/x") is None
    import socket

    with socket.socket() as listening:  # a port something listens on: reachable
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert dl.unreachable(f"http://127.0.0.1:{listening.getsockname()[1]}/x") is None
        assert dl.unreachable(f"http://localhost:{listening.getsockname()[1]}/x") is None
    assert sleeps == [1.0]


def test_download_of_an_unresolvable_host_fails_before_its_retries(sleeps: list[float], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.invalid/api/v1/m\.ckpt: download failed \(cannot resolve stac\."):
        dl.download(NOWHERE + "/m.ckpt", tmp_path / "m.ckpt", retries=4, progress=False)
    assert sleeps == [1.0] and not list(tmp_path.iterdir())  # no backoff waits, no part file


def test_a_stac_api_of_an_unresolvable_host_fails_before_its_retries(sleeps: list[float]) -> None:
    pytest.importorskip("pystac_client")
    from agriseg.fields.config import DownloadConfig
    from agriseg.fields.stac import open_api

    with pytest.raises(ValueError, match=r"api/v1: STAC API not reachable \(cannot resolve stac\.agriseg-test"):
        open_api(DownloadConfig(stac_url=NOWHERE))
    assert sleeps == [1.0]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_connection_is_said_in_words_not_the_library_dump(tmp_path: Path, sleeps: list[float]) -> None:
    """It said ``STAC API not reachable (APIError: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries
    exceeded ... NewConnectionError(...[Errno 111] Connection refused))`` (session 62's sweep); and it was retried
    with backoff, 256 s for --retries 8 (session 104's sweep): now one second try, a second apart."""
    pytest.importorskip("pystac_client")
    from agriseg.fields.config import DownloadConfig
    from agriseg.fields.stac import open_api

    port = _closed_port()
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ValueError) as err:
        open_api(DownloadConfig(stac_url=url + "/stac", retries=8))
    assert (
        str(err.value)
        == f"{url}/stac: STAC API not reachable (connection refused: nothing answers at 127.0.0.1:{port})"
    )
    assert sleeps == [1.0]
    with pytest.raises(ValueError) as err:
        dl.download(url + "/m.ckpt", tmp_path / "m.ckpt", retries=8, progress=False)
    assert str(err.value) == f"{url}/m.ckpt: download failed (connection refused: nothing answers at 127.0.0.1:{port})"
    assert sleeps == [1.0, 1.0]
    # said as before where the refusal comes after the check (a server stopped between the two)
    assert dl.network_problem(ConnectionRefusedError("[Errno 111] Connection refused")).startswith("connection refused")
    with pytest.raises(ValueError):
        dl.download(url + "/m.ckpt", tmp_path / "cache" / "models" / "m.ckpt", retries=0, progress=False)
    assert not (tmp_path / "cache").exists()  # refused before any folder is made


class _Files:
    """A loopback HTTP server of in-memory files that answers ``Range`` and ``If-Range`` as servers do."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.files: dict[str, tuple[bytes, str]] = {}  # path -> (bytes, ETag)
        self.busy: dict[str, int] = {}  # path -> how many more times to answer 429 (Retry-After: 7)
        files, busy = self.files, self.busy

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if busy.get(self.path, 0) > 0:
                    busy[self.path] -= 1
                    self.send_response(429)
                    self.send_header("Retry-After", "7")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, etag = files[self.path]
                rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
                start = int(rng.split("=")[1].split("-")[0]) if rng and (not if_range or if_range == etag) else 0
                if start >= len(body) and rng and start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def files() -> object:
    server = _Files()
    yield server
    server.server.shutdown()


def test_a_kept_part_of_another_version_or_longer_than_the_file_is_not_resumed(files, tmp_path: Path) -> None:
    """A part longer than the file (416) was taken as complete; a part of an earlier version of the file was
    resumed into a file that matched neither version (the sweep of session 68)."""
    new = bytes(range(256)) * 4  # 1,024 bytes, version 2
    files.files["/m.pt"] = (new, '"v2"')
    dst = tmp_path / "m.pt"
    part = dl.part_path(dst)
    part.write_bytes(b"x" * 2000)  # longer than the file: left by another file of this name
    assert dl.download(files.url + "/m.pt", dst, retries=1, backoff_s=0, progress=False).read_bytes() == new
    dst.unlink()
    part.write_bytes(b"old version " * 20)  # 240 bytes of version 1, whose ETag was kept beside them
    part.with_name(part.name + ".validator").write_text('"v1"', encoding="utf-8")
    assert dl.download(files.url + "/m.pt", dst, retries=0, progress=False).read_bytes() == new
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no part, no validator left


def test_a_part_of_the_same_version_resumes(files, tmp_path: Path) -> None:
    body = bytes(range(256)) * 4
    files.files["/m.pt"] = (body, '"v2"')
    dst = tmp_path / "m.pt"
    part = dl.part_path(dst)
    part.write_bytes(body[:300])
    part.with_name(part.name + ".validator").write_text('"v2"', encoding="utf-8")
    assert dl.download(files.url + "/m.pt", dst, retries=0, progress=False).read_bytes() == body


def test_a_web_page_or_a_wrong_digest_is_never_kept(files, tmp_path: Path) -> None:
    """An HTML error page sent with status 200 was cached as the model, and every later run used it."""
    files.files["/m.pt"] = (b"\n<!DOCTYPE html><html><body>Sign in</body></html>", '"p"')
    with pytest.raises(ValueError, match=r"m\.pt: the server sent a web page, not the file"):
        dl.download(files.url + "/m.pt", tmp_path / "m.pt", retries=0, progress=False)
    files.files["/w.pt"] = (b"weights", '"w"')
    with pytest.raises(ValueError, match=r"w\.pt: sha256 mismatch \(expected 0000, got "):
        dl.download(files.url + "/w.pt", tmp_path / "w.pt", retries=0, sha256="0000", progress=False)
    right = dl.hashlib.sha256(b"weights").hexdigest()
    assert dl.download(files.url + "/w.pt", tmp_path / "w.pt", sha256=right, progress=False).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"]


def test_network_problems_in_words() -> None:
    """A proxy that refuses was reported as the STAC API refusing; urllib3's give-up and a cut transfer came
    through as the library's nested text (session 68's sweep)."""
    import requests
    from urllib3.exceptions import MaxRetryError, ProxyError, ResponseError

    proxy = requests.exceptions.ProxyError(
        MaxRetryError(None, "/stac", ProxyError("Unable to connect to proxy", ConnectionRefusedError(111)))
    )
    assert dl.network_problem(proxy).startswith("cannot connect to the proxy (the http_proxy")
    gave_up = requests.exceptions.RetryError(
        MaxRetryError(None, "/stac", ResponseError("too many 503 error responses"))
    )
    assert dl.network_problem(gave_up) == "HTTP 503 on every attempt"
    cut = requests.exceptions.ChunkedEncodingError("('Connection broken: IncompleteRead(10 bytes read)', ...)")
    assert dl.network_problem(cut) == "the transfer was cut off (connection broken)"


def test_a_part_that_cannot_be_checked_is_not_resumed(files, tmp_path: Path) -> None:
    """Bytes kept by an earlier run without an ETag / Last-Modified or a digest were resumed blindly: a file
    that changed on the server in between came back as the old start joined to the new end."""
    new = bytes(range(256)) * 4
    files.files["/m.pt"] = (new, '"v2"')
    dst = tmp_path / "m.pt"
    dl.part_path(dst).write_bytes(b"old version " * 25)  # 300 bytes of another version, no validator kept
    assert dl.download(files.url + "/m.pt", dst, retries=0, progress=False).read_bytes() == new
    dst.unlink()
    dl.part_path(dst).write_bytes(new[:300])  # with a digest, the kept bytes are resumed and checked at the end
    right = dl.hashlib.sha256(new).hexdigest()
    assert dl.download(files.url + "/m.pt", dst, sha256=right, retries=0, progress=False).read_bytes() == new


def test_too_many_requests_is_retried_after_the_wait_the_server_asks(files, tmp_path: Path, sleeps) -> None:
    """A 429 ended the download at once ("failed after 1 attempt(s)"), as a 404 does; the STAC search retried it
    (session 100's sweep). Retried now, after the Retry-After the server sent."""
    files.files["/m.ckpt"] = (b"weights" * 100, '"v1"')
    files.busy["/m.ckpt"] = 2
    got = dl.download(files.url + "/m.ckpt", tmp_path / "m.ckpt", retries=3, progress=False, backoff_s=1.0)
    assert got.read_bytes() == b"weights" * 100 and sleeps == [7.0, 7.0]
    assert dl.retry_after("100000") == dl.MAX_RETRY_AFTER_S and dl.retry_after("soon") == 0.0
    assert dl.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date gone by: no wait


def test_a_cache_folder_made_for_a_download_of_which_nothing_came_is_removed(files, tmp_path: Path) -> None:
    files.files["/m.ckpt"] = (b"x", '"v1"')
    files.busy["/m.ckpt"] = 1  # 429: the one attempt fails
    with pytest.raises(ValueError, match="HTTP 429"):
        dl.download(files.url + "/m.ckpt", tmp_path / "cache" / "models" / "m.ckpt", retries=0, progress=False)
    assert (tmp_path / "cache").is_dir() and not (tmp_path / "cache" / "models").exists()


def test_a_url_reached_through_a_proxy_is_left_to_the_proxy(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    """With ALL_PROXY set, a closed local port was said to refuse connections though requests went through the
    proxy, and a name only the proxy resolves failed before any request (the review of session 104's change)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    url = f"http://127.0.0.1:{_closed_port()}/m.ckpt"
    assert dl.unreachable(url).startswith("connection refused: nothing answers at 127.0.0.1:")  # type: ignore[union-attr]
    monkeypatch.setenv("ALL_PROXY", "http://proxy.example:3128")
    assert dl.unreachable(url) is None and dl.unreachable(NOWHERE) is None
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # bypassed: this machine's own connection counts again
    assert dl.unreachable(url) is not None
