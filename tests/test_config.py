"""The one config loader: --set overrides (agriseg.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agriseg.config import apply_overrides, load_config
from agriseg.text.config import SFTRunConfig

REPO = Path(__file__).resolve().parents[1]


def test_overrides_set_paths_and_nested_values_without_editing_the_file() -> None:
    cfg = load_config(
        REPO / "configs/text/tiny_demo_sft.yaml",
        SFTRunConfig,
        ["dataset=my/data", "output_dir=my/out", "max_steps=7", "lora.enabled=true", "lora.r=4"],
    )
    assert str(cfg.dataset) == "my/data" and str(cfg.output_dir) == "my/out" and cfg.max_steps == 7
    assert cfg.lora.enabled and cfg.lora.r == 4


def test_bad_overrides_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="expected key=value"):
        apply_overrides({}, ["max_steps"])
    with pytest.raises(ValueError, match="max_steps is not a group"):
        apply_overrides({"max_steps": 3}, ["max_steps.x=1"])
    with pytest.raises(ValueError, match="invalid config: max_stepz"):
        load_config(REPO / "configs/text/tiny_demo_sft.yaml", SFTRunConfig, ["max_stepz=3"])
