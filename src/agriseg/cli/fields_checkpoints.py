"""``agriseg fields import-checkpoint | export``: released FTW / PRUE checkpoints in, safetensors / ONNX out."""

from __future__ import annotations

from pathlib import Path

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.options import (
    InputPath,
    memory_check_option,
    output_option,
    overwrite_option,
    refuse_unread,
)


@click.command("import-checkpoint")
@click.argument("checkpoint", type=InputPath(dir_okay=False))
@output_option("Output .safetensors. [default: <checkpoint stem>.safetensors beside it]", required=False)
@overwrite_option()
@friendly_errors
def import_checkpoint(checkpoint: str, output: Path | None, overwrite: bool) -> None:
    """Convert an ftw-tools / PRUE .ckpt (e.g. prue_efnet7_checkpoint.ckpt) into an agriseg model."""
    from agriseg.fields.checkpoints import import_ftw_checkpoint

    dst = Path(output) if output else Path(checkpoint).with_suffix(".safetensors")
    path, cfg = import_ftw_checkpoint(checkpoint, dst, overwrite=overwrite)
    click.echo(f"{path}: smp.Unet({cfg.encoder}), {cfg.in_channels} channels, {cfg.num_classes} classes")


@click.command()
@click.argument("model_path", type=InputPath(dir_okay=False))
@output_option("Output file: .safetensors (weights + config) or .onnx.", required=True)
@click.option(
    "--size", type=click.IntRange(32), default=256, show_default=True, help="ONNX example input side (multiple of 32)."
)
# 20: the highest opset of torch's TorchScript exporter (torch.onnx._constants, checked by a test)
@click.option("--opset", type=click.IntRange(11, 20), default=17, show_default=True, help="ONNX opset.")
@overwrite_option()
@memory_check_option()
@friendly_errors
def export(model_path: str, output: Path, size: int, opset: int, overwrite: bool) -> None:
    """Export a field model (.ckpt / .safetensors, or a released model's name) as safetensors or ONNX (checked)."""
    from agriseg.fields.checkpoints import export_model

    if Path(output).suffix.lower() != ".onnx":
        refuse_unread(["size", "opset"], "read for an .onnx output only (safetensors hold the weights as they are)")
    res = export_model(model_path, output, size, opset, overwrite)
    if "max_abs_diff" in res:
        diff = res["max_abs_diff"]
        click.echo(f"{output}: ONNX, onnxruntime vs PyTorch logits differ by at most {diff:.2e} (of their size)")
    else:
        click.echo(f"{output}: safetensors")
    click.echo(f"config: {res['card']}")
