"""The "your own tiles" walkthrough of docs/text.md, from tiny-model to evaluate, with no file edited.

Own class words (not the tiny model's defaults), sizes from `suggest-sizes`, the bundled YAML configs with
`--set` overrides for every path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("trl")

from agriseg.cli import main  # noqa: E402

CLASSES = "background,cropland,forest,water"
REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str]) -> str:
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, f"{' '.join(args)}\n{res.output}"
    return res.output


def test_own_tiles_walkthrough(tmp_path: Path) -> None:
    d = tmp_path
    _run(["text", "make-synthetic", "-o", str(d / "tiles"), "-n", "8", "--size", "24", "--seed", "3"])
    _run(["text", "make-synthetic", "-o", str(d / "test"), "-n", "2", "--size", "24", "--seed", "4"])
    out = _run(["text", "suggest-sizes", "--size", "24", "--resolution", "0.5", "--min-object", "6"])
    patch, grid = (int(v) for v in re.search(r"--tile (\d+) --grid (\d+)", out).groups())
    image, vpatch = (int(v) for v in re.search(r"--image-size (\d+) --vision-patch (\d+)", out).groups())
    assert (patch, grid) == (24, 8)  # the whole tile is one patch; 3-px (1.5 m) cells
    base = ["--image-size", str(image), "--vision-patch", str(vpatch)]
    _run(["text", "tiny-model", "-o", str(d / "base"), "--classes", CLASSES, *base])
    out = _run(
        ["text", "dataset", str(d / "tiles/images"), "--masks", str(d / "tiles/masks"), "-o", str(d / "data")]
        + ["--classes", CLASSES, "--tile", str(patch), "--grid", str(grid), "--model", str(d / "base")]
    )
    tokens = int(re.search(r"longest answer: (\d+) tokens", out).group(1))
    sets = ["--set", f"dataset={d / 'data'}", "--set", "per_device_train_batch_size=4"]
    _run(
        ["text", "sft", "-c", str(REPO / "configs/text/tiny_demo_sft.yaml"), "--set", f"model={d / 'base'}"]
        + [*sets, "--set", f"output_dir={d / 'sft'}", "--set", "max_steps=4", "--set", "logging_steps=1"]
    )
    _run(
        ["text", "grpo", "-c", str(REPO / "configs/text/tiny_demo_grpo.yaml"), "--set", f"model={d / 'sft'}"]
        + [*sets, "--set", f"output_dir={d / 'grpo'}", "--set", "max_steps=1", "--set", "num_generations=2"]
        + ["--set", f"max_completion_length={tokens}", "--set", "logging_steps=1"]
    )
    _run(["text", "predict", str(d / "test/images"), "-o", str(d / "pred"), "-m", str(d / "grpo")]
         + ["--max-new-tokens", str(tokens), "--device", "cpu"])  # fmt: skip
    assert json.loads((d / "pred/run.json").read_text())["classes"] == CLASSES.split(",")
    out = _run(
        ["text", "evaluate", str(d / "pred"), "--masks", str(d / "test/masks"), "--classes", CLASSES]
        + ["-o", str(d / "eval.json")]
    )
    rep = json.loads((d / "eval.json").read_text())
    assert rep["images"] == 2 and rep["instances_from"].startswith("2 written")
    assert "mean over present classes" in out and (d / "eval.csv").is_file()
