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
