"""Model names: a mistyped folder fails at once with one line; the Hub is asked only for org/name ids."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agriseg.cli import main
from agriseg.text.modeling import resolve_model_name


@pytest.mark.parametrize("name", ["runs/text/sft/modle", "./tiny", "~/no/such/model", "tinymodel", "a/b/c"])
def test_names_that_are_not_folders_or_hub_ids_fail_at_once(name: str) -> None:
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        resolve_model_name(name)


def test_existing_folder_and_hub_id_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_model_name(str(tmp_path)) == str(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert resolve_model_name("HuggingFaceTB/SmolVLM-256M-Instruct") == "HuggingFaceTB/SmolVLM-256M-Instruct"


def test_offline_hub_id_not_in_cache_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        resolve_model_name("someorg/not-cached-model")


def test_predict_with_a_mistyped_model_is_one_line_and_quick(tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    img.write_bytes(b"")
    t0 = time.perf_counter()
    res = CliRunner().invoke(
        main, ["text", "predict", str(img), "-o", str(tmp_path / "o"), "--model", "runs/text/sft/modle"]
    )
    assert time.perf_counter() - t0 < 10
    assert res.exit_code != 0
    assert "no such model folder" in res.output and "Traceback" not in res.output
    assert "class names" not in res.output
