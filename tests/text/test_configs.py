"""The shipped text configs validate, and bad configs fail with the path and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from agriseg.config import load_config
from agriseg.text.config import GRPORunConfig, SFTRunConfig

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "text").glob("*.yaml"))


def test_configs_present() -> None:
    names = {p.name for p in CONFIGS}
    assert {"gemma3_4b_sft.yaml", "gemma3_12b_sft.yaml", "gemma3_4b_grpo.yaml", "gemma3_12b_grpo.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_validates(path: Path) -> None:
    cfg = load_config(path, GRPORunConfig if "grpo" in path.name else SFTRunConfig)
    if isinstance(cfg, GRPORunConfig):
        assert cfg.beta > 0 and cfg.loss_type == "grpo" and cfg.scale_rewards == "group"
    if "gemma3" in path.name:
        assert cfg.lora.enabled and ("gemma-3" in cfg.model or "gemma3" in cfg.model)


def test_bad_config_names_path_and_field(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("model: m\ndataset: d\noutput_dir: o\nloss_type: ppo\n")
    with pytest.raises(ValueError, match="bad.yaml: invalid config: loss_type"):
        load_config(p, GRPORunConfig)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml", SFTRunConfig)


def test_grpo_args_pass_sampling_settings(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from agriseg.text.grpo import grpo_args

    cfg = GRPORunConfig(model="m", dataset="d", output_dir=str(tmp_path), top_k=3, top_p=0.9, temperature=0.7)
    args = grpo_args(cfg)
    assert (args.top_k, args.top_p, args.temperature) == (3, 0.9, 0.7)
    assert grpo_args(GRPORunConfig(model="m", dataset="d", output_dir=str(tmp_path))).top_k == 0  # MAgSeg: all tokens
    with pytest.raises(ValueError, match="top_p"):
        GRPORunConfig(model="m", dataset="d", output_dir=str(tmp_path), top_p=0.0)
    from agriseg.text.grpo import TRL_GRPO_FIELDS

    odd = dict(beta=0.3, loss_type="dapo", scale_rewards="batch", num_generations=4, num_iterations=3, epsilon=0.1)
    cfg = GRPORunConfig(model="m", dataset="d", output_dir=str(tmp_path), max_completion_length=99, **odd)
    args = grpo_args(cfg)
    assert set(odd) < TRL_GRPO_FIELDS <= set(GRPORunConfig.model_fields)
    assert {k: getattr(args, k) for k in TRL_GRPO_FIELDS} == cfg.model_dump(include=TRL_GRPO_FIELDS)


def test_grpo_groups_are_checked_when_the_config_is_read_naming_what_sets_the_batch() -> None:
    """It failed after the model was loaded (exit 1), blaming the batch size when generation_batch_size was set."""
    from pydantic import ValidationError

    from agriseg.text.config import GRPORunConfig

    base = {"model": "m", "dataset": "d", "output_dir": "o", "num_generations": 4}
    assert GRPORunConfig(**base, per_device_train_batch_size=8).generation_batch() == 8
    with pytest.raises(ValidationError, match=r"generation batch 6 \(per_device_train_batch_size x gradient"):
        GRPORunConfig(**base, per_device_train_batch_size=6)
    with pytest.raises(ValidationError, match=r"generation batch 3 \(generation_batch_size\) must be a multiple"):
        GRPORunConfig(**base, generation_batch_size=3)
    # TRL's "must be divisible by the global batch size (4)" after the model loaded, exit 1 (session 103's sweep)
    with pytest.raises(ValidationError, match=r"generation_batch_size 4 must be a multiple of per_device_train_batch"):
        GRPORunConfig(**base, per_device_train_batch_size=3, generation_batch_size=4)
    assert GRPORunConfig(**base, per_device_train_batch_size=4, generation_batch_size=8).generation_batch() == 8


def test_a_warmup_the_constant_schedule_would_not_read_is_refused() -> None:
    """warmup_steps 50 with lr_scheduler_type constant trained at the full rate from step 1 (session 79's sweep)."""
    from pydantic import ValidationError

    from agriseg.text.config import GRPORunConfig, SFTRunConfig

    base = {"model": "m", "dataset": "d", "output_dir": "o", "warmup_steps": 50}
    for cls in (SFTRunConfig, GRPORunConfig):
        with pytest.raises(ValidationError, match="warmup_steps 50 is not read by lr_scheduler_type constant"):
            cls(**base, lr_scheduler_type="constant")
        assert cls(**base, lr_scheduler_type="constant_with_warmup").warmup_steps == 50


def test_dataset_defaults_are_magsegs_training_sizes() -> None:
    """The documented defaults (448-px patches, 8 random patches per image): another size mismatches the models."""
    from agriseg.text.dataset import TextDatasetConfig

    cfg = TextDatasetConfig()
    assert (cfg.patch, cfg.per_image, cfg.mode) == (448, 8, "random")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_on_the_cpu_is_said(tmp_path: Path, precision: str, caplog: pytest.LogCaptureFixture) -> None:
    """``precision: bf16`` on the CPU was dropped without a word (session 90): the run is fp32, and says so."""
    pytest.importorskip("transformers")
    from agriseg.text.sft import common_args

    cfg = SFTRunConfig(model="m", dataset="d", output_dir=str(tmp_path), device="cpu", precision=precision)
    with caplog.at_level("WARNING", logger="agriseg"):
        args = common_args(cfg)
    assert not args["bf16"] and not args["fp16"]
    assert f"precision {precision}: training on the CPU runs in fp32" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        common_args(SFTRunConfig(model="m", dataset="d", output_dir=str(tmp_path), device="cpu"))
    assert "precision" not in caplog.text
