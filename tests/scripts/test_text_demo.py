"""The text demonstration script: floors and scores without a model (fast), the whole run on a toy config (slow)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

TOY = """\
landscape: {size: 32}
model: {image_size: 32, vision_patch: 8, mm_tokens_per_image: 16, hidden: 32, intermediate: 64, layers: 1,
        heads: 1, kv_heads: 1, head_dim: 32, vision_hidden: 32, vision_layers: 1}
patch: 16
grid: 4
train_align: 8
train_images: 4
per_image: 2
val_images: 2
eval_images: 3
calib_images: 4
vision_warmup_steps: 5
vision_warmup_batch: 4
sft_steps: 2
sft_batch: 4
sft_warmup: 0
grpo_steps: 1
grpo_prompts_per_step: 1
grpo_generations: 2
grpo_iterations: 1
max_new_tokens: 64
eval_batch: 16
min_instance_px: 4
"""


def _demo():
    spec = importlib.util.spec_from_file_location("text_demo", REPO / "scripts" / "text_demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _toy_cfg(tmp_path: Path):
    from agriseg.config import load_config
    from agriseg.text.config import DemoConfig

    (tmp_path / "toy.yaml").write_text(TOY)
    return load_config(tmp_path / "toy.yaml", DemoConfig)


def test_floors_and_scores(tmp_path: Path) -> None:
    demo = _demo()
    cfg = _toy_cfg(tmp_path)
    fl = demo.floors(cfg, tmp_path, "eval")
    assert {"all others", "all field", "all tree", "all water", "nearest colour", "truth"} <= set(fl)
    truth = fl["truth"]
    assert truth["grid_dice"] == 1.0 and truth["pixel_dice"] == 1.0 and truth["seam_artefacts"] == 0.0
    assert len(fl["all field"]["grid_dice_per_image"]) == cfg.eval_images
    assert all(0.0 <= fl[k]["grid_dice"] <= 1.0 for k in fl if k != "class_colours")
    assert (tmp_path / "floors_eval.json").is_file()  # cached: a second call reads it
    assert demo.floors(cfg, tmp_path, "eval") == fl
    imgs, sems, insts = demo.load_split(cfg, "eval")
    worse = demo.score_masks(np.zeros_like(sems), imgs, sems, insts, cfg)
    assert worse["grid_dice"] == pytest.approx(fl["all others"]["grid_dice"])
    assert worse["instances"]["all"]["fnr"] == 1.0  # nothing predicted, every instance missed


def test_seed_wall_counts_one_split() -> None:
    demo = _demo()
    t = {"data_s": 1.0, "sft_s": 10.0, "grpo_s": 2.0, "eval_eval_sft_s": 3.0, "score_eval_sft_s": 0.5}
    t_val = {**t, "eval_val_sft_s": 100.0, "score_val_sft_s": 7.0}
    assert demo.seed_wall(t_val, "eval") == pytest.approx(16.5)  # the validation evaluation is not counted
    assert demo.seed_wall(t_val, "val") == pytest.approx(120.0)


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(TOY)
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO / "scripts" / "text_demo.py"), "--out", str(out), "-c", str(cfg), "--seeds", "0"]
    subprocess.run(cmd, check=True, capture_output=True)
    res = json.loads((out / "results.json").read_text())
    assert res["seeds"] == [0] and res["images"] == 3
    assert {"sft_greedy", "sft_sampled", "grpo_greedy", "grpo_sampled", "grpo_greedy_vote"} <= set(res["aggregate"])
    assert "floor: nearest colour" in (out / "results.md").read_text()
    with pytest.raises(subprocess.CalledProcessError):  # another config in the same folder is refused
        cfg.write_text(TOY.replace("sft_steps: 2", "sft_steps: 3"))
        subprocess.run(cmd, check=True, capture_output=True)
    # a GRPO-only change: refused while GRPO results exist, redone with --redo-grpo (SFT and its scores kept)
    cfg.write_text(TOY.replace("grpo_steps: 1", "grpo_steps: 2"))
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run(cmd, check=True, capture_output=True)
    sd = out / "seed0"
    sft_time = (sd / "sft" / "model.safetensors").stat().st_mtime
    sft_eval = (sd / "eval_eval_sft_greedy.json").read_text()
    subprocess.run([*cmd, "--redo-grpo"], check=True, capture_output=True)
    assert (sd / "sft" / "model.safetensors").stat().st_mtime == sft_time
    assert (sd / "eval_eval_sft_greedy.json").read_text() == sft_eval
    assert json.loads((sd / "grpo" / "agriseg_train_config.json").read_text())["max_steps"] == 2
    timings = json.loads((sd / "timings.json").read_text())
    assert {"sft_s", "grpo_s", "eval_eval_sft_s", "eval_eval_grpo_s"} <= set(timings)
    assert set(json.loads((sd / "threads.json").read_text()).values()) == {1}  # the script's default
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["grpo_steps"] == 2 and res["threads"] == [[1]]
    wall = _demo().seed_wall(timings, "eval")
    assert wall > 0 and res["wall_s"][0] == pytest.approx(wall)
    # the cell-error benchmark scores the same greedy masks as the demo and compares GRPO with SFT
    bench = [sys.executable, str(REPO / "benchmarks" / "text_probes.py"), "rows", str(sd / "sft"), str(sd / "grpo")]
    rows_path = tmp_path / "cells.json"
    subprocess.run(
        [*bench, "-c", str(cfg), "--split", "eval", "--images", "3", "--out", str(rows_path)],
        check=True,
        capture_output=True,
    )
    rows = json.loads(rows_path.read_text())
    for row, name in zip(rows, ["sft", "grpo"], strict=True):
        demo_eval = json.loads((sd / f"eval_eval_{name}_greedy.json").read_text())
        assert row["grid_dice"] == pytest.approx(demo_eval["grid_dice"], abs=1e-4)
        assert row["grid_dice_pure_errors_fixed"] >= row["grid_dice"] - 1e-9
        assert row["cells_mixed"] + row["cells_pure"] == 3 * 4 * 4 * 4  # images x patches x cells
        assert row["errors_mixed"] + row["errors_pure"] == round(row["cell_error"] * 192)
    assert "versus_first" in rows[1] and "versus_first" not in rows[0]
    bad = subprocess.run([*bench, "-c", str(cfg), "--images", "9"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--images must be between 1 and 2" in bad.stderr
