"""``agriseg text predict | evaluate``: masks from a VLM, patch by patch, and their scores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from agriseg.cli.errors import echo_failures, finish, friendly_errors
from agriseg.cli.options import (
    TEXT_EVALUATE,
    TEXT_PREDICT,
    InputPath,
    bands_option,
    batch_options,
    batch_size_option,
    blend_option,
    classes_option,
    config_from_params,
    device_option,
    iou_threshold_option,
    memory_check_option,
    model_option,
    option,
    outdir_option,
    output_option,
    overwrite_option,
    refuse_unread,
    renamed,
    strict_option,
    tiling_options,
)
from agriseg.cli.text_helpers import _need_text_extra

if TYPE_CHECKING:
    from collections.abc import Iterable

    from agriseg.batch import BatchOptions


@renamed({"--patch": "--tile", "--vote": "--blend"}, retired={"-c": "--classes"})
@click.command("predict")
@click.argument("images", nargs=-1, required=True, type=InputPath(path_type=Path))
@outdir_option("Output folder: <name>.png/.tif, <name>.json, <name>_instances.*, <name>.geojson, run.json.")
@model_option("text", required=True)
@classes_option()
@tiling_options("text", TEXT_PREDICT, tile_field="patch", show="the model folder's")
@option("--grid", config=TEXT_PREDICT, type=int, show_default="the model folder's", help="RRLE cells per tile side.")
@blend_option("text", TEXT_PREDICT, field="vote")
@batch_size_option("text", TEXT_PREDICT)
@option("--max-new-tokens", config=TEXT_PREDICT, type=int, help="Generation budget per tile.")
@option("--sample/--greedy", "do_sample", config=TEXT_PREDICT, help="Sampled (at --temperature) or greedy decoding.")
@option("--temperature", config=TEXT_PREDICT, type=float, help="Sampling temperature.")
@option(
    "--patch-image/--no-patch-image",
    config=TEXT_PREDICT,
    show_default="the model folder's, else off",
    help="Pass each tile at full resolution as a first image, before the whole image (as the model was trained).",
)
@option("--instances/--no-instances", config=TEXT_PREDICT, help="Watershed instances + polygons.")
@click.option("--chat-template", default=None, type=InputPath(path_type=Path), help="Jinja file if the model has none.")
@device_option("text", TEXT_PREDICT)
@bands_option()
@memory_check_option()
@batch_options()
@friendly_errors
def predict_cmd(
    images: tuple[Path, ...],
    outdir: Path,
    model_name: str,
    classes: str | None,
    chat_template: Path | None,
    bands: tuple[int, ...] | None,
    batch: BatchOptions,
    **params: object,
) -> None:
    """Segment IMAGES tile by tile: batched generation, repairing decode, stitching. A TIFF or JPEG 2000 in
    gives a GeoTIFF mask (its georeference kept), any other image a PNG. Writes <name>.tif/.png, <name>.json
    (per-tile repairs) and, with --instances (the default), <name>_instances.tif/.png and <name>.geojson
    (longitude / latitude for an image with a CRS, pixel columns and rows otherwise). The class words,
    --tile, --grid and --patch-image default to those saved in the model folder."""
    _need_text_extra()
    from agriseg.text.config import OPTION_FIELDS, TextPredictConfig
    from agriseg.text.infer import predict_paths

    if not params["do_sample"]:
        refuse_unread(["temperature"], "not read with greedy decoding (add --sample)")
    if not params["overlap"]:
        refuse_unread(["blend"], "not read with --overlap 0 (tiles that do not overlap have nothing to blend)")
    cfg = config_from_params(TextPredictConfig, params, OPTION_FIELDS)
    result = predict_paths(images, outdir, model_name, cfg, classes, chat_template, bands, batch)
    say_repairs(result)
    finish(result, "predicted", outdir)


def say_repairs(rows: Iterable[dict]) -> None:
    """On stderr, and only what needs a look (stdout is the summary a script reads), not with ``-q``: the
    images some of whose tiles were repaired (:func:`agriseg.text.infer.repairs_said`)."""
    from agriseg import quiet
    from agriseg.text.infer import repairs_said

    if not quiet():
        for line in repairs_said(rows):
            click.echo(line, err=True)


# --truth: the true masks are --masks in every command that reads them (crop evaluate, text dataset)
@renamed(
    {"--match-iou": "--iou-threshold", "--truth": "--masks", "-t": "--masks", "--truth-instances": "--mask-instances"},
    retired={"-c": "--classes"},
)
@click.command("evaluate")
@click.argument("predictions", nargs=-1, required=True, type=InputPath(path_type=Path))
@click.option(
    "--masks",
    "truth",
    required=True,
    type=InputPath(exists=True, file_okay=False, path_type=Path),  # as crop evaluate's: the option is named
    help="Folder of true semantic masks.",
)
@option(
    "--mask-instances",
    "truth_instances",
    type=InputPath(exists=True, file_okay=False, path_type=Path),
    default=None,
    show_default="connected components of the true masks",
    help="Folder of true instance maps.",
)
@classes_option(required=True)
@iou_threshold_option("text", TEXT_EVALUATE)
@option("--min-size", config=TEXT_EVALUATE, type=int)
@option("--ignore-value", config=TEXT_EVALUATE, type=int)
@model_option("text")
@output_option(
    "Write the report as JSON (and the per-class table as CSV beside it).", required=False, suffixes=(".json",)
)
@overwrite_option()
@strict_option()
@friendly_errors
def evaluate_cmd(
    predictions: tuple[Path, ...],
    truth: Path,
    truth_instances: Path | None,
    classes: str,
    model_name: str | None,
    output: Path | None,
    overwrite: bool,
    strict: bool,
    **params: object,
) -> None:
    """Pooled per-class Dice and IoU, overall accuracy, confusion matrix, instance metrics (per-class
    mean/median instance IoU with merge-and-match, FNR, FPR) of PREDICTIONS (what `predict` wrote; its
    `<name>_instances.*` files are scored when present); with --model, the model's parameter overhead.
    An existing report is replaced only with --overwrite, and never one of the files read."""
    from agriseg.text.config import TextEvaluateConfig
    from agriseg.text.metrics import evaluate_command

    cfg = config_from_params(TextEvaluateConfig, params)
    table, failed = evaluate_command(
        predictions, truth, classes, cfg, truth_instances, model_name, output, overwrite, strict
    )
    click.echo(table)
    if output is not None:
        click.echo(f"report: {output}")  # as crop evaluate says it
    echo_failures(failed)  # not scored / left out; the others are
    if failed:
        raise SystemExit(1)
