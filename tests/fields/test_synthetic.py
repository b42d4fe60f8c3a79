"""``agriseg.fields.synthetic``: chips in the FTW layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from agriseg.fields import synthetic
from agriseg.fields.synthetic import SyntheticFTWConfig, make_synthetic_ftw


def test_an_interrupted_run_leaves_no_half_data_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chips were written straight into the output: a killed run left chips without their chips table."""
    written = []
    real = synthetic._write_tif

    def write_then_stop(path: Path, *args: object) -> None:
        if len(written) == 7:
            raise KeyboardInterrupt
        written.append(path)
        real(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(synthetic, "_write_tif", write_then_stop)
    root = tmp_path / "ftw"
    with pytest.raises(KeyboardInterrupt):
        make_synthetic_ftw(root, SyntheticFTWConfig(countries={"austria": 3}, size=64, seed=1))
    assert written and not root.exists() and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(synthetic, "_write_tif", real)
    assert make_synthetic_ftw(root, SyntheticFTWConfig(countries={"austria": 3}, size=64, seed=1)) == {"austria": 3}
    assert len(list((root / "austria" / "s2_images" / "window_a").glob("*.tif"))) == 3
    assert (root / "austria" / "chips_austria.parquet").is_file()
