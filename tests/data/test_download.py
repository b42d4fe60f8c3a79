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
    assert dl.unresolved_host(NOWHERE) == ("cannot resolve stac.agriseg-test.invalid: no network, or a wrong host name")
    assert sleeps == [1.0]  # asked twice, one second apart
    assert dl.unresolved_host("http://127.0.0.1:9/x") is None and dl.unresolved_host("http://localhost/x") is None
    assert dl.unresolved_host("catalog.json") is None and dl.unresolved_host("file:///tmp/x") is None


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


def test_a_refused_connection_is_said_in_words_not_the_library_dump(tmp_path: Path) -> None:
    """It said ``STAC API not reachable (APIError: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries
    exceeded ... NewConnectionError(...[Errno 111] Connection refused))`` (session 62's sweep)."""
    pytest.importorskip("pystac_client")
    from agriseg.fields.config import DownloadConfig
    from agriseg.fields.stac import open_api

    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(ValueError) as err:
        open_api(DownloadConfig(stac_url=url + "/stac", retries=0))
    assert (
        str(err.value)
        == f"{url}/stac: STAC API not reachable (connection refused: nothing answers at that address and port)"
    )
    with pytest.raises(ValueError) as err:
        dl.download(url + "/m.ckpt", tmp_path / "m.ckpt", retries=0, progress=False)
    assert str(err.value) == (
        f"{url}/m.ckpt: download failed after 1 attempt(s) (connection refused: nothing answers at that address and "
        "port)"
    )
