"""Smoke suite, text masks: every ``agriseg text`` command shown in docs/text.md, run as typed.

The CLI alone builds the data (``make-synthetic``) and a tiny offline VLM (``tiny-model``), trains it
briefly (SFT, then GRPO) and predicts and scores masks; nothing here needs a model hub.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.cli.smoke import agriseg, read_json, read_png

pytest.importorskip("trl", reason="agriseg text needs the 'text' extra")
pytestmark = pytest.mark.timeout(600)

SFT = """\
model: runs/text/tiny_base
dataset: runs/text/tiny_train
output_dir: runs/text/tiny_sft
lora: {enabled: false}
learning_rate: 2.0e-3
warmup_steps: 1
per_device_train_batch_size: 8
max_steps: 2
logging_steps: 1
device: cpu
"""

GRPO = """\
model: runs/text/tiny_sft
dataset: runs/text/tiny_train
output_dir: runs/text/tiny_grpo
lora: {enabled: false}
learning_rate: 3.0e-5
beta: 0.01
num_generations: 2
per_device_train_batch_size: 4
max_steps: 2
max_completion_length: 48
logging_steps: 1
device: cpu
"""

CLASSES = "others,field,tree,water"


def test_text_workflow(tmp_path: Path) -> None:
    wd = tmp_path
    agriseg("text make-synthetic -o runs/text/synth -n 16 --size 32", cwd=wd)
    agriseg("text make-synthetic -o runs/text/synth_test -n 2 --size 32 --seed 1", cwd=wd)
    synth = wd / "runs" / "text" / "synth"
    assert (synth / "classes.txt").read_text().strip() == CLASSES
    assert read_png(synth / "images" / "0000.png").shape == (32, 32, 3)
    assert read_png(synth / "masks" / "0000.png").max() <= 3
    sizes = agriseg("text suggest-sizes --size 32 --resolution 0.5", cwd=wd)
    assert "tile 32" in sizes.output and "--image-size 32 --vision-patch 4" in sizes.output
    agriseg("text tiny-model -o runs/text/tiny_base --image-size 32 --vision-patch 4", cwd=wd)
    assert (wd / "runs" / "text" / "tiny_base" / "config.json").is_file()
    agriseg(
        f"text dataset runs/text/synth/images --masks runs/text/synth/masks -o runs/text/tiny_train "
        f"--classes {CLASSES} --tile 16 --grid 4 --align 8",
        cwd=wd,
    )
    (wd / "sft.yaml").write_text(SFT)
    (wd / "grpo.yaml").write_text(GRPO)
    res = agriseg("text sft -c sft.yaml", cwd=wd)
    assert read_json(wd / "runs" / "text" / "tiny_sft" / "agriseg_text.json")["grid"] == 4
    assert "step 1/2  loss=" in res.output and "{'loss'" not in res.output  # one line per log, not a dict
    res = agriseg("text grpo -c grpo.yaml", cwd=wd)
    assert "reward (mean Dice)" in res.output
    agriseg(
        "text predict runs/text/synth_test/images -o runs/text/pred -m runs/text/tiny_grpo "
        "--overlap 0.5 --blend center --max-new-tokens 48",
        cwd=wd,
    )
    pred = wd / "runs" / "text" / "pred"
    # two inputs with one name keep apart; --strict stops at a bad image
    other = wd / "other"
    other.mkdir()
    (other / "0000.png").write_bytes((wd / "runs/text/synth_test/images/0000.png").read_bytes())
    res = agriseg(
        "text predict runs/text/synth_test/images/0000.png other/0000.png -o runs/text/pred2 -m runs/text/tiny_grpo "
        "--max-new-tokens 48 --strict",
        cwd=wd,
    )
    assert "2 predicted, 0 skipped, 0 failed" in res.output
    assert sorted(
        p.name for p in (wd / "runs/text/pred2").glob("*.json") if p.name != "run.json" and not p.name.startswith(".")
    ) == [
        "images_0000_png.json",
        "other_0000_png.json",
    ]
    (other / "bad.png").write_bytes(b"not an image")
    res = agriseg("text predict other -o runs/text/pred3 -m runs/text/tiny_grpo --strict", cwd=wd, expect=1)
    assert "bad.png" in res.output
    sem = read_png(pred / "0000.png")
    assert sem.shape == (32, 32) and int(sem.max()) <= 3
    assert read_json(pred / "0000.json")["patches"] > 0
    assert (pred / "0000.geojson").is_file()
    agriseg(
        f"text evaluate runs/text/pred --masks runs/text/synth_test/masks --classes {CLASSES} "
        "--mask-instances runs/text/synth_test/instances -o runs/text/eval.json",
        cwd=wd,
    )
    rep = read_json(wd / "runs" / "text" / "eval.json")
    assert rep["images"] == 2 and 0.0 <= rep["mean_dice"] <= 1.0 and np.isfinite(rep["mean_dice"])
