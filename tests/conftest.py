"""Shared fixtures. Tests never need a network; real data from ../shared is optional."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Two PyTorch threads where PyTorch is installed (a base install runs the crop tests without it)."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(max(1, min(2, int(os.environ.get("AGRISEG_TEST_THREADS", "2")))))


REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AGRISEG_SHARED", REPO.parent / "shared"))
SAMPLES = REPO / "src" / "agriseg" / "samples"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Caches (exported ONNX models, downloaded checkpoints) go to a folder of this test session."""
    os.environ.setdefault("AGRISEG_CACHE_DIR", str(tmp_path_factory.mktemp("agriseg_cache")))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` (real data); the test is skipped with a reason when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"real data not available: {SHARED}/data is absent (set AGRISEG_SHARED to its location)")
    return SHARED


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """Real sample photos bundled in the package (always present)."""
    return SAMPLES


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch):
    """``read_only(folder)``: no file can be made in ``folder`` from now on (EROFS from ``tempfile.mkstemp``, the
    probe agriseg's output-folder check makes), as on a read-only disk; tests run as root, where modes do not."""
    import errno
    import tempfile

    folders: set[Path] = set()
    mkstemp = tempfile.mkstemp

    def refusing(*args: object, dir: object = None, **kw: object) -> tuple[int, str]:  # noqa: A002 - mkstemp's name
        if dir is not None and Path(str(dir)) in folders:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))
        return mkstemp(*args, dir=dir, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(tempfile, "mkstemp", refusing)
    return folders.add
