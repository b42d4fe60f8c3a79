"""GRPO post-training with the mean-Dice reward (TRL ``GRPOTrainer``), KL-anchored at the SFT model.

The reference model is the model GRPO starts from: with LoRA, TRL disables the adapter to get it, so the
SFT model must be merged (``agriseg text sft`` merges by default, and :func:`load_vlm` merges a saved
adapter); without LoRA, TRL reloads the starting folder (for an adapter folder, the merged model, written for it
to a temporary folder). Logged per step: ``rewards/dice_reward/mean`` and
``/std``, ``rewards/format_valid/mean`` (validity), ``kl``, ``clip_ratio/*``. Needs the ``text`` extra.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from agriseg.batch.progress import library_bars_off
from agriseg.text.config import GRPORunConfig
from agriseg.text.modeling import is_adapter
from agriseg.text.reward import DiceReward, ValidityReward
from agriseg.text.sft import (
    common_args,
    peft_config,
    prepare_run,
    removed_if_left_empty,
    save_trained,
    show_progress,
    train_or_say,
    trl_quiet,
)

# the GRPORunConfig fields that TRL's GRPOConfig takes under the same name and meaning
TRL_GRPO_FIELDS = {"beta", "loss_type", "scale_rewards", "num_generations", "num_iterations", "epsilon",
                   "temperature", "max_completion_length", "top_k", "top_p"}  # fmt: skip


def grpo_args(cfg: GRPORunConfig) -> Any:
    """A ``GRPOConfig`` with the paper's choices and CPU-safe settings."""
    from trl import GRPOConfig

    kw = common_args(cfg)
    gen_batch = cfg.generation_batch()  # a whole number of groups: checked when the config was read
    return GRPOConfig(
        **kw,
        **cfg.model_dump(include=TRL_GRPO_FIELDS),
        generation_batch_size=gen_batch,
        reward_weights=[1.0, cfg.validity_weight],
        log_completions=False,
    )


def run_grpo(
    cfg: GRPORunConfig, model: Any | None = None, processor: Any | None = None, overwrite: bool = False
) -> Path:
    """Post-train with GRPO and save to ``cfg.output_dir`` (log history in ``log_history.json``).

    Args:
        cfg: validated config; ``cfg.model`` is the SFT output folder (or any VLM).
        model: an already-loaded model (needs ``config._name_or_path`` for a full-weights KL reference).
        processor: its processor.
        overwrite: replace the model of an earlier run in ``output_dir`` (refused without it).

    Returns:
        The output folder.

    Raises:
        OptionError: ``max_completion_length`` cannot hold the longest answer of the data set (a usage error).
    """

    def enough_prompts(ds: Any) -> None:  # noqa: ANN401 - a datasets.Dataset
        # TRL's sampler takes whole generation batches of distinct prompts and drops a short last one
        need = cfg.generation_batch() // cfg.num_generations
        if len(ds) < need:
            from agriseg.config import OptionError

            raise OptionError(
                f"{cfg.dataset}: {len(ds)} sample{'s' if len(ds) != 1 else ''}, fewer than the {need} prompts of "
                f"one step (the generation batch {cfg.generation_batch()} / num_generations {cfg.num_generations}):"
                " no step could be taken; give more samples or a smaller batch"
            )

    ds, model, processor, meta = prepare_run(cfg, model, processor, overwrite, check_data=enough_prompts)
    from trl import GRPOTrainer  # after the checks: a mistyped model fails at once

    if meta["answer_tokens"] > cfg.max_completion_length:  # every longer rollout would be cut mid-mask
        from agriseg.config import OptionError

        need = 32 * math.ceil(1.25 * meta["answer_tokens"] / 32)  # room for a longer guess
        raise OptionError(
            f"{cfg.dataset}: its longest answer is {meta['answer_tokens']} tokens, more than "
            f"max_completion_length ({cfg.max_completion_length}); set max_completion_length: {need} "
            f"(or --set max_completion_length={need})"
        )
    class_names = meta["class_names"]
    dice = DiceReward(
        class_names,
        repaired_rows=cfg.repaired_rows,
        include_background=cfg.include_background,
        smooth=cfg.dice_smooth,
    )
    valid = ValidityReward(class_names)
    ds = ds.select_columns(["prompt", "images", "truth", "class_names"])
    with removed_if_left_empty(cfg.output_dir), trl_quiet(), _reference_folder(cfg, model):
        # TRL loads the KL reference model here: transformers' "Loading weights" bar (a Hub id's download shows)
        with library_bars_off(Path(str(cfg.model)).is_dir()):
            trainer = GRPOTrainer(
                model=model,
                # TRL types a reward as returning list[float | None]; ours list[float] (the stub's list is invariant)
                reward_funcs=cast("list[Any]", [dice, valid]),
                args=grpo_args(cfg),
                train_dataset=ds,
                processing_class=processor,
                peft_config=peft_config(cfg.lora),
            )
        show_progress(trainer)
        train_or_say(trainer, cfg)
        saved = save_trained(trainer, processor, cfg, meta)
    if said := no_signal(trainer.state.log_history, cfg.num_generations):
        import logging

        logging.getLogger("agriseg").warning("%s: %s", saved, said)
    return saved


@contextmanager
def _reference_folder(cfg: GRPORunConfig, model: Any) -> Iterator[None]:
    """Without LoRA, TRL loads the KL reference from the folder the model's config names: for a LoRA adapter
    folder (merged on loading) that is the adapter's *base* model, not the SFT model GRPO starts from (step 1's
    KL was 0.11 where it is 0). The merged starting model is written to a temporary folder beside
    ``output_dir`` for TRL to load, and removed after training."""
    if cfg.lora.enabled or not is_adapter(str(cfg.model)):
        yield
        return
    import shutil

    from agriseg.data.files import temporary_sibling

    folder, named = temporary_sibling(Path(cfg.output_dir), "reference"), model.config._name_or_path
    try:
        with library_bars_off():
            model.save_pretrained(folder)
        model.config._name_or_path = str(folder)
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        model.config._name_or_path = named


def no_signal(log_history: list[dict[str, Any]], num_generations: int) -> str:
    """Why a run learned nothing, or ``""``: every group of answers to a prompt got equal rewards at every
    logged step (TRL's ``frac_reward_zero_std`` 1), so every advantage was 0 and the model was saved as it
    started, which a quick check could not tell (session 97's sweep)."""
    fracs = [float(r["frac_reward_zero_std"]) for r in log_history if "frac_reward_zero_std" in r]
    if not fracs or min(fracs) < 1.0:
        return ""
    return (
        f"each prompt's {num_generations} answers got equal rewards at every step, so GRPO had nothing to learn "
        "from and the model is saved as it started; more num_generations, a higher temperature or more steps "
        "let the answers differ"
    )


def reward_curve(log_history: list[dict[str, Any]]) -> list[tuple[int, float, float, float]]:
    """``(step, dice mean, dice std, validity)`` per logged step from a trainer's log history."""
    out = []
    for rec in log_history:
        if "rewards/dice_reward/mean" in rec:
            out.append(
                (
                    int(rec.get("step", 0)),
                    float(rec["rewards/dice_reward/mean"]),
                    float(rec.get("rewards/dice_reward/std", float("nan"))),
                    float(rec.get("rewards/format_valid/mean", float("nan"))),
                )
            )
    return out
