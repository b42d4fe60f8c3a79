"""``agriseg fields import-checkpoint | export``: released FTW / PRUE checkpoints in, safetensors / ONNX out."""

from __future__ import annotations

from pathlib import Path

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.fields_models import resolve_model_option
from agriseg.cli.options import output_option, overwrite_option


@click.command("import-checkpoint")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@output_option("Output .safetensors. [default: <checkpoint stem>.safetensors beside it]", required=False)
@overwrite_option("Replace an existing output.")
@friendly_errors
def import_checkpoint(checkpoint: str, output: str | None, overwrite: bool) -> None:
    """Convert an ftw-tools / PRUE .ckpt (e.g. prue_efnet7_checkpoint.ckpt) into an agriseg model."""
    from agriseg.fields.checkpoints import import_ftw_checkpoint

    dst = Path(output) if output else Path(checkpoint).with_suffix(".safetensors")
    path, cfg = import_ftw_checkpoint(checkpoint, dst, overwrite=overwrite)
    click.echo(f"{path}: smp.Unet({cfg.encoder}), {cfg.in_channels} channels, {cfg.num_classes} classes")


@click.command()
@click.argument("model_path", type=click.Path(dir_okay=False), callback=resolve_model_option)
@output_option("Output file: .safetensors (weights + config) or .onnx.", required=True)
@click.option("--size", type=click.IntRange(32), default=256, help="ONNX example input side (multiple of 32).")
@click.option("--opset", type=click.IntRange(11), default=17, help="ONNX opset.")
@overwrite_option("Replace an existing output.")
@friendly_errors
def export(model_path: str, output: str, size: int, opset: int, overwrite: bool) -> None:
    """Export a field model (.ckpt / .safetensors, or a released model's name) as safetensors or ONNX (checked)."""
    from agriseg.fields.checkpoints import export_onnx, load_fields_model, write_model_card
    from agriseg.models.io import save_model

    out = Path(output)
    if out.suffix not in (".safetensors", ".onnx"):
        raise ValueError(f"{out}: output must end in .safetensors or .onnx")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: exists (use --overwrite)")
    model, cfg, info = load_fields_model(model_path)
    if out.suffix == ".onnx":
        res = export_onnx(model, out, cfg.in_channels, size, opset, overwrite=overwrite)
        click.echo(f"{out}: ONNX, onnxruntime vs PyTorch max |diff| {res['max_abs_diff']:.2e}")
    else:
        save_model(model, cfg, out, half=False, extra={k: v for k, v in info.items() if v is not None})
        click.echo(f"{out}: safetensors")
    click.echo(f"config: {write_model_card(out, cfg, info)}")
