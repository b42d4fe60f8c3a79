"""``agriseg text``: multimodal-LLM segmentation with masks written as text (MAgSeg / Text4Seg).

Heavy libraries (torch, transformers, peft, trl, datasets) are imported inside the commands.
"""

from __future__ import annotations

import click

from agriseg.cli.errors import requires_extra
from agriseg.cli.options import Group
from agriseg.cli.text_data import dataset_cmd, make_synthetic_cmd, suggest_sizes_cmd, tiny_model_cmd
from agriseg.cli.text_predict import evaluate_cmd, predict_cmd
from agriseg.cli.text_train import grpo_cmd, sft_cmd


@click.group(cls=Group, context_settings={"show_default": True})
def text() -> None:
    """Multimodal-LLM segmentation: masks written as text (RRLE), LoRA SFT, GRPO with a Dice reward."""


for _command in (
    make_synthetic_cmd,
    suggest_sizes_cmd,
    tiny_model_cmd,
    dataset_cmd,
    sft_cmd,
    grpo_cmd,
    predict_cmd,
    evaluate_cmd,
):
    text.add_command(_command)
requires_extra(text, "text")  # every command names the install line when the extra is missing
