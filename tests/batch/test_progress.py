"""Progress bars: agriseg's own, and the Hugging Face libraries' bars hidden for their short steps."""

from __future__ import annotations

import pytest

from agriseg import QUIET_ENV
from agriseg.batch.progress import library_bars_off


def test_library_bars_are_off_inside_and_as_they_were_after(monkeypatch: pytest.MonkeyPatch) -> None:
    hf_logging = pytest.importorskip("transformers.utils.logging")
    ds_logging = pytest.importorskip("datasets.utils.logging")
    hub = pytest.importorskip("huggingface_hub.utils")
    monkeypatch.delenv(QUIET_ENV, raising=False)  # quiet: every bar is off, and this leaves them alone
    hf_logging.enable_progress_bar()
    ds_logging.enable_progress_bar()
    assert hf_logging.is_progress_bar_enabled() and ds_logging.is_progress_bar_enabled()
    with library_bars_off():
        assert not hf_logging.is_progress_bar_enabled() and not ds_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled() and ds_logging.is_progress_bar_enabled()
    assert not hub.are_progress_bars_disabled()  # the Hub's download bars: on after, as before (session 101)
    with library_bars_off(local=False):  # a model named by its Hub id may download: every bar stays
        assert hf_logging.is_progress_bar_enabled() and not hub.are_progress_bars_disabled()
    hub.disable_progress_bars()  # a caller's own choice for the hub's bars survives transformers' switch
    try:
        with library_bars_off():
            pass
        assert hub.are_progress_bars_disabled()
    finally:
        hub.enable_progress_bars()
    hf_logging.disable_progress_bar()  # off before: left off
    try:
        with library_bars_off():
            pass
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.enable_progress_bar()
