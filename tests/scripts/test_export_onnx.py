"""scripts/export_onnx.py: a user's file is never replaced; a model that is not there is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "export_onnx.py"

pytest.importorskip("onnx")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # the default run keeps the test run under 15 minutes
def test_an_existing_onnx_file_is_kept_and_a_missing_model_is_one_line(tmp_path: Path) -> None:
    """Session 87's sweep: `-o mine.onnx` replaced the user's file unasked; a missing or damaged model ended in a
    traceback (exit 1)."""
    (tmp_path / "mine.onnx").write_text("mine")
    (tmp_path / "junk.safetensors").write_text("junk")
    r = _run("junk.safetensors", "-o", "mine.onnx", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "error: mine.onnx: exists (use --overwrite)", r.stderr
    assert (tmp_path / "mine.onnx").read_text() == "mine"
    for model in ("nope.safetensors", "junk.safetensors"):
        r = _run(model, "-o", "x.onnx", cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith(f"error: {model}: "), r.stderr


def test_the_onnx_file_is_named_onnx_and_never_the_model_itself(tmp_path: Path) -> None:
    """Session 106's sweep: `-o runs/tiny/model.safetensors --overwrite` wrote the ONNX graph over the trained
    model, and `-o my.txt` or `-o photo.jpg --overwrite` took any name."""
    from agriseg.models.io import export_onnx

    (tmp_path / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(ValueError, match=r"my.txt: the ONNX file is named .onnx"):
        export_onnx(str(tmp_path / "model.safetensors"), tmp_path / "my.txt")
    (tmp_path / "model.onnx").write_bytes(b"graph")
    with pytest.raises(ValueError, match=r"model.onnx: is the model file being exported"):
        export_onnx(str(tmp_path / "model.onnx"), tmp_path / "model.onnx")
    assert (tmp_path / "model.safetensors").read_bytes() == b"weights"
