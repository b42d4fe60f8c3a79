"""``agriseg crop predict | evaluate | models``: segment photos, score models against labels, list models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from agriseg.cli.errors import echo_failures, finish, friendly_errors
from agriseg.cli.options import (
    CROP_EVALUATE,
    CROP_PREDICT,
    Decorator,
    Group,
    InputPath,
    batch_options,
    batch_size_option,
    config_from_params,
    device_option,
    memory_check_option,
    model_option,
    optimize_option,
    option,
    outdir_option,
    output_option,
    overwrite_option,
    precision_option,
    refuse_unread,
    stack,
    stems_option,
    strict_option,
    tiling_options,
    tta_option,
)

if TYPE_CHECKING:
    from agriseg.batch import BatchOptions


def _inference_options(config: str) -> Decorator:
    """The model and how it runs (predict and evaluate)."""
    return stack(
        model_option("crop", config=config),
        option("--long-side", config=config, type=int, show_default="the model's own"),
        tta_option("crop", config),
        optimize_option("crop", config),
        device_option("crop", config),
    )


@click.command()
@click.argument("paths", nargs=-1, required=True, type=InputPath())
@outdir_option("Output folder: <name>_mask.png, <name>_overlay.jpg, summary.csv.")
@_inference_options(CROP_PREDICT)
@batch_size_option("crop", CROP_PREDICT)
@tiling_options("crop", CROP_PREDICT)
@precision_option(CROP_PREDICT)
@option("--overlay/--no-overlay", config=CROP_PREDICT, help="Write overlay JPEGs.")
@memory_check_option()
@batch_options()
@friendly_errors
def predict(paths: tuple[str, ...], outdir: Path, batch: BatchOptions, **params: object) -> None:
    """Segment photos (files or folders): <name>_mask.png, <name>_overlay.jpg, summary.csv.

    Exits with status 1 when any photo failed (the others are still written).
    """
    from agriseg.crop.config import CropPredictConfig
    from agriseg.crop.predict import predict_paths

    cfg = config_from_params(CropPredictConfig, params)
    finish(predict_paths(paths, outdir, cfg, batch), "predicted", outdir)


@click.command()
@click.option("--images", required=True, type=InputPath(file_okay=False, exists=True), help="Image folder.")
@click.option("--masks", required=True, type=InputPath(file_okay=False, exists=True), help="Label folder.")
@_inference_options(CROP_EVALUATE)
@click.option(
    "--pred-masks",
    type=InputPath(file_okay=False, exists=True),
    default=None,
    help="Score existing masks instead of running a model: <name>_mask.png (crop predict) or <name>.png (crop "
    "pseudolabel's masks/).",
)
@option("--label-mode", config=CROP_EVALUATE, type="choice", help="How label files encode classes.")
@click.option("--colormap", default=None, help='Colour map for --label-mode colormap, e.g. "0,0,0=0;0,255,0=1".')
@click.option(
    "--peanut",
    is_flag=True,
    help="Shortcut for the Peanut colour labels: crop + weed = vegetation (a crop / weed model: its three classes).",
)
@option("--boundary-ratio", config=CROP_EVALUATE, type=float, help="Boundary IoU dilation ratio of the diagonal.")
@stems_option("Score only the photos named in this file, one per line (a split, e.g. configs/crop/peanut_val.txt).")
@output_option("Write the report as JSON.", required=False, suffixes=(".json",))
@overwrite_option()
@strict_option()
@friendly_errors
def evaluate(
    images: str,
    masks: str,
    pred_masks: str | None,
    colormap: str | None,
    peanut: bool,
    stems: str | None,
    output: Path | None,
    overwrite: bool,
    strict: bool,
    **params: object,
) -> None:
    """Score a model (or saved masks) against labels: mIoU, per-class IoU, boundary IoU, accuracy."""
    from agriseg import quiet
    from agriseg.batch import check_output
    from agriseg.crop.config import CropEvaluateConfig
    from agriseg.crop.evaluate import MODEL_OPTIONS, evaluate_model, format_table, report_warnings
    from agriseg.data.files import write_json

    if pred_masks:
        refuse_unread(MODEL_OPTIONS, "not read with --pred-masks (no model runs)")
    if peanut:
        refuse_unread(["label_mode"], "not read with --peanut (the Peanut labels are colour-coded)")
    if output:  # before the evaluation runs: never a file of the folders read, an existing one only with --overwrite
        check_output(output, overwrite, inputs=[f for d in (images, masks, pred_masks) if d for f in Path(d).iterdir()])
    cfg = config_from_params(CropEvaluateConfig, params)
    res = evaluate_model(images, masks, cfg, pred_masks, colormap, peanut, strict=strict, stems=stems)
    click.echo(format_table(res))
    for line in [] if quiet() else report_warnings(res):  # on stderr, as every command's warnings
        click.echo(line, err=True)
    if output:
        write_json(output, res)
        click.echo(f"report: {output}")
    echo_failures(res["failed"])  # not scored / left out; the others are
    if res["failed"]:
        raise SystemExit(1)


@click.group(cls=Group)
def models() -> None:
    """The packaged crop models: list them, show a model card."""


@models.command("list")
@friendly_errors
def list_() -> None:
    """One line per packaged model: name, classes, working size, what it is (* = the default)."""
    from agriseg.crop.models import packaged_models
    from agriseg.models.io import CURRENT_VERSIONS

    for i, m in enumerate(packaged_models()):
        classes = "/".join(m.get("classes", ["?"]))
        size = f"{m['long_side']} px" if m.get("long_side") else "native"
        click.echo(f"{'*' if i == 0 else ' '} {m['name']:14s} {classes:28s} {size:8s} {m['title']}")
    pins = ", ".join(f"{name}@{v} is {name}" for name, v in CURRENT_VERSIONS.items())
    click.echo(f"(the current versions pinned by number: {pins})")


@models.command()
@click.argument("name")
@friendly_errors
def show(name: str) -> None:
    """The model card of one packaged model: what it was trained on, how well it does, its licence."""
    from agriseg.crop.models import model_card

    click.echo(model_card(name))
