"""Fixtures of the field-boundary tests: a small synthetic FTW-layout data set generated in code."""

from __future__ import annotations

from pathlib import Path

import pytest

from agriseg.fields.synthetic import SyntheticFTWConfig, make_synthetic_ftw


@pytest.fixture(scope="session")
def ftw_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny FTW-layout root: austria (10 chips) and presence-only kenya (4 chips), 64 x 64 px."""
    root = tmp_path_factory.mktemp("ftw")
    make_synthetic_ftw(
        root,
        SyntheticFTWConfig(countries={"austria": 10, "kenya": 4}, size=64, fields_per_chip=(3, 6), seed=1),
    )
    return root


@pytest.fixture
def loopback():
    """A loopback STAC API serving the Sentinel-2-like test catalogue (two tiles, four acquisitions)."""
    from tests.fields.stac_server import LoopbackServer, make_s2_catalog

    with LoopbackServer() as state:
        make_s2_catalog(state)
        yield state


@pytest.fixture(scope="session")
def ftw_ckpt_bytes() -> bytes:
    """A tiny FTW-layout checkpoint, as bytes."""
    from tests.fields.stac_server import tiny_ftw_checkpoint

    return tiny_ftw_checkpoint()


@pytest.fixture
def model_cache(loopback, ftw_ckpt_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The loopback server also serves the release files; the model cache is a temporary folder."""
    from tests.fields.stac_server import serve_models

    monkeypatch.setenv("AGRISEG_MODELS_BASE_URL", serve_models(loopback, ftw_ckpt_bytes))
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def yolo_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A DelineateAnything-shaped YOLO11n-seg model (random weights), built once, as bytes."""
    from tests.fields.stac_server import require_ultralytics

    require_ultralytics()
    from tests.fields.stac_server import tiny_yolo_seg

    return tiny_yolo_seg(tmp_path_factory.mktemp("yolo"))


@pytest.fixture
def season_server(loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The loopback STAC API plus crop calendars (two zones) and an esa-worldcover collection; empty cache."""
    from tests.fields.stac_server import make_calendar, make_landcover_catalog

    make_landcover_catalog(loopback)
    monkeypatch.setenv("AGRISEG_CALENDAR_BASE_URL", make_calendar(loopback))
    monkeypatch.setenv("AGRISEG_MODELS_BASE_URL", loopback.url + "/models")
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "cache" / "ultralytics"))
    return loopback
