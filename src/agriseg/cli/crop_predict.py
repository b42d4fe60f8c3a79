"""``agriseg crop predict | evaluate``: segment photos, score models against labels."""

from __future__ import annotations

from pathlib import Path

import click

from agriseg.cli.errors import friendly_errors, report_failures
from agriseg.cli.options import outdir_option, output_option, overwrite_option

# how crop models run by default (agriseg.crop.predict.DEFAULT_OPTIMIZE; see the README's benchmark)
DEFAULT_OPTIMIZE = "onnxruntime"

optimize_option = click.option(
    "--optimize",
    type=click.Choice(["none", "jit", "onnxruntime"]),
    default=DEFAULT_OPTIMIZE,
    show_default=True,
    help="How the model runs: ONNX Runtime (the packaged model's ONNX file; no PyTorch needed), "
    'or PyTorch eager / TorchScript (none, jit: need pip install "agriseg[train]").',
)


@click.command()
@click.argument("paths", nargs=-1, required=True)
@outdir_option("Output folder.")
@click.option("--model", "model_name", default="default", help="Packaged model name (default, crop-weed) or a file.")
@click.option("--batch-size", type=click.IntRange(1), default=4, help="Images (or tiles) per forward pass.")
@click.option(
    "--long-side",
    type=click.IntRange(0),
    default=None,
    help="Resize the long side to this before the model (0 = native). [default: the model's own]",
)
@click.option("--tile", type=click.IntRange(64), default=1024, help="Tile size for large images.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", help="Autocast precision.")
@click.option(
    "--tta",
    type=click.Choice(["none", "flip", "flip+scale"]),
    default=None,
    help="Test-time augmentation (3 or 9 passes). [default: the model's own]",
)
@optimize_option
@click.option("--no-overlay", is_flag=True, help="Do not write overlay JPEGs.")
@overwrite_option("Replace existing outputs (otherwise they are skipped).")
@click.option("--strict", is_flag=True, help="Stop at the first unreadable image.")
@friendly_errors
def predict(
    paths: tuple[str, ...],
    outdir: str,
    model_name: str,
    batch_size: int,
    long_side: int | None,
    tile: int,
    precision: str,
    tta: str | None,
    optimize: str,
    no_overlay: bool,
    overwrite: bool,
    strict: bool,
) -> None:
    """Segment photos (files or folders): <name>_mask.png, <name>_overlay.jpg, summary.csv.

    Exits with status 1 when any photo failed (the others are still written).
    """
    import time

    from agriseg.crop.predict import OUTPUT_SUFFIXES, load_predictor, predict_files
    from agriseg.data.files import ensure_outdir, protected_inputs
    from agriseg.data.io import drop_outputs, list_images

    out = ensure_outdir(outdir)
    files, earlier = drop_outputs(list_images(list(paths)), out, OUTPUT_SUFFIXES)
    if not files:
        raise click.ClickException(f"{outdir}: holds only outputs of an earlier run, no photos")
    pred = load_predictor(
        model_name, long_side, tta, optimize, tile=tile, batch_size=batch_size, precision=precision
    )  # fmt: skip
    cfg = pred.config
    t0 = time.perf_counter()
    with protected_inputs(files):
        rows = predict_files(pred, files, out, overwrite, strict, not no_overlay, cfg.class_names)
    seconds = time.perf_counter() - t0
    bad = [r for r in rows if r["status"] == "error"]
    resumed = sum(bool(r.get("resumed")) for r in rows)
    n_new = len(rows) - resumed - len(bad)
    rate = f" in {seconds:.1f} s ({n_new / seconds:.2f} img/s)" if n_new else ""
    click.echo(f"{n_new} predicted{rate}, {resumed} already done, {len(bad)} failed -> {outdir}")
    if earlier:
        click.echo(f"  ({len(earlier)} outputs of an earlier run in {outdir} were not read as photos)")
    report_failures(rows)


@click.command()
@click.option("--images", required=True, type=click.Path(file_okay=False, exists=True), help="Image folder.")
@click.option("--masks", required=True, type=click.Path(file_okay=False, exists=True), help="Label folder.")
@click.option("--model", "model_name", default="default", help="Packaged model name or a model file.")
@click.option(
    "--pred-masks",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Score existing <name>_mask.png predictions instead of running a model.",
)
@click.option(
    "--label-mode",
    type=click.Choice(["binary", "index", "colormap"]),
    default="binary",
    help="How label files encode classes.",
)
@click.option("--colormap", default=None, help='Colour map for --label-mode colormap, e.g. "0,0,0=0;0,255,0=1".')
@click.option("--peanut", is_flag=True, help="Shortcut for the Peanut colour labels (crop + weed = vegetation).")
@click.option("--boundary-ratio", type=float, default=0.02, help="Boundary IoU dilation ratio of the diagonal.")
@click.option("--long-side", type=click.IntRange(0), default=None, help="Inference size. [default: the model's]")
@click.option(
    "--tta",
    type=click.Choice(["none", "flip", "flip+scale"]),
    default=None,
    help="Test-time augmentation. [default: the model's own]",
)
@optimize_option
@output_option("Write the report as JSON.", required=False)
@friendly_errors
def evaluate(
    images: str,
    masks: str,
    model_name: str,
    pred_masks: str | None,
    label_mode: str,
    colormap: str | None,
    peanut: bool,
    boundary_ratio: float,
    long_side: int | None,
    tta: str | None,
    optimize: str,
    output: str | None,
) -> None:
    """Score a model (or saved masks) against labels: mIoU, per-class IoU, boundary IoU, accuracy."""
    import numpy as np

    from agriseg.crop.evaluate import evaluate_folder, format_table
    from agriseg.crop.labels import PEANUT_VEGETATION, parse_colormap, read_label
    from agriseg.data.files import write_json

    cmap = None
    if peanut:
        label_mode, cmap = "colormap", PEANUT_VEGETATION
    elif colormap:
        cmap = parse_colormap(colormap)
    if pred_masks:
        num_classes, names = 2, ["background", "vegetation"]

        def predict_fn(stem: str, rgb: np.ndarray) -> np.ndarray:
            return read_label(Path(pred_masks) / f"{stem}_mask.png", "binary")
    else:
        from agriseg.crop.predict import load_predictor

        pred = load_predictor(model_name, long_side, tta, optimize)
        cfg = pred.config
        num_classes, names = cfg.num_classes, cfg.class_names

        def predict_fn(stem: str, rgb: np.ndarray) -> np.ndarray:
            return pred.predict(rgb)

    res = evaluate_folder(images, masks, predict_fn, num_classes, label_mode, cmap, boundary_ratio, names)
    res["model"] = pred_masks or model_name
    click.echo(format_table(res))
    if output:
        write_json(output, res)
        click.echo(f"report: {output}")
