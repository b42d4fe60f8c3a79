"""``agriseg crop pseudolabel | screen | selftrain | adapt``: training without hand labels."""

from __future__ import annotations

from pathlib import Path

import click

from agriseg.cli.errors import friendly_errors, report_failures
from agriseg.cli.options import (
    choice_options,
    config_from_params,
    config_option,
    keep_option,
    outdir_option,
    output_option,
    overwrite_option,
    pseudolabel_source_options,
)


@click.command()
@click.argument("paths", nargs=-1, required=True)
@outdir_option()
@pseudolabel_source_options()
@choice_options(
    "",
    (
        "--depth-convention",
        ("depth", "inverse"),
        None,
        "depth: larger = farther; inverse: larger = nearer. [default: depth for files, inverse otherwise]",
    ),
    ("--detrend", ("plane", "none"), "plane", "Subtract a fitted ground plane from (inverse) depth."),
    ("--device", str, "cpu", "Torch device for depth estimation."),
)
@choice_options(
    "GGHT option: ",
    ("--normaliser", ("percentile", "minmax", "zscore"), "percentile", "normalisation."),
    ("--edge-operator", ("sobel", "scharr", "laplacian"), "sobel", "edge operator."),
    ("--weighting", ("magnitude", "squared", "edges", "none"), "squared", "gradient weighting of the histogram."),
    ("--sigmoid", ("logistic", "erf", "gompertz"), "logistic", "sigmoid fitted to the weighted CDF."),
    ("--point", ("inflection", "knee"), "inflection", "threshold at the curve's inflection (max F') or knee (F'')."),
    ("--smooth-sigma", click.FloatRange(0), 1.0, "Gaussian smoothing (px at the fitting size)."),
    ("--full-coverage", ("auto", "off"), "auto", "detect dense-canopy photos and give them all-ones masks."),
)
@keep_option()
@click.option("--plot", is_flag=True, help="Save histogram + fitted curve PNGs (plots/).")
@click.option("--no-overlay", is_flag=True, help="Do not write overlay JPEGs (the screening page needs them).")
@overwrite_option("Redo photos that already have a record.")
@friendly_errors
def pseudolabel(
    paths: tuple[str, ...],
    outdir: str,
    source: str,
    index_name: str,
    depth_dir: str | None,
    depth_model: str,
    depth_convention: str | None,
    detrend: str,
    device: str,
    normaliser: str,
    edge_operator: str,
    weighting: str,
    sigmoid: str,
    point: str,
    smooth_sigma: float,
    full_coverage: str,
    keep: str | None,
    plot: bool,
    no_overlay: bool,
    overwrite: bool,
) -> None:
    """Pseudo-masks by gradient-guided histogram thresholding (masks/, records/, overlays/, plots/)."""
    from agriseg.crop.pseudolabel.gght import GGHTConfig
    from agriseg.crop.pseudolabel.pipeline import PseudoLabelOptions, pseudolabel_files, read_keep
    from agriseg.data.io import list_images

    files = list_images(list(paths))
    params = click.get_current_context().params
    gght = config_from_params(GGHTConfig, params)
    opts = config_from_params(
        PseudoLabelOptions, {**params, "gght": gght, "overlays": not no_overlay}, {"index_name": "index"}
    )
    recs = pseudolabel_files(files, Path(outdir), opts, keep=read_keep(keep) if keep else None)
    n = {s: sum(r["status"] == s for r in recs) for s in ("ok", "skipped", "error")}
    full = sum(bool(r.get("full_coverage")) for r in recs if r["status"] == "ok")
    click.echo(
        f"{n['ok']} pseudo-labelled ({full} full-coverage), {n['skipped']} skipped, {n['error']} failed -> {outdir}"
    )
    report_failures(recs)


@click.command()
@click.argument("outdir", type=click.Path(file_okay=False, exists=True))
@click.option("--title", default=None, help="Page title. [default: the folder name]")
@friendly_errors
def screen(outdir: str, title: str | None) -> None:
    """Write OUTDIR/screen.html: accept/reject pseudo-masks (keys a/r, j/k), export accepted.json."""
    from agriseg.crop.pseudolabel.screen import write_screen_page

    path = write_screen_page(outdir, title)
    click.echo(f"screening page: {path}\nopen it in a browser; Export saves accepted.json for --keep")


@click.command()
@config_option("Self-training YAML (see configs/crop/selftrain_peanut.yaml).")
@keep_option("Train only on photos accepted in this screening export (overrides the config's keep).")
@click.option("--stage1-epochs", type=click.IntRange(1), default=None, help="Override the config.")
@click.option("--stage2-epochs", type=click.IntRange(0), default=None, help="Override the config (0 = stage 1 only).")
@friendly_errors
def selftrain(config_path: str, keep: str | None, stage1_epochs: int | None, stage2_epochs: int | None) -> None:
    """Two-stage self-training on pseudo-labels; writes <output_dir>/model.safetensors and a report."""
    from agriseg.crop.selftrain import load_selftrain_config
    from agriseg.crop.selftrain import selftrain as run

    cfg = load_selftrain_config(config_path)
    upd = {
        k: v
        for k, v in {"keep": keep, "stage1_epochs": stage1_epochs, "stage2_epochs": stage2_epochs}.items()
        if v is not None
    }
    cfg = cfg.model_copy(update=upd)
    rep = run(cfg)
    click.echo(f"model: {rep['model']}")
    for st in ("stage1", "stage2"):
        if st in rep and "evaluate" in rep[st]:
            ev = rep[st]["evaluate"]
            click.echo(f"{st}: mIoU {100 * ev['miou']:.2f}  bIoU {100 * ev['biou']:.2f} (true labels)")
    if "trimap" in rep:
        click.echo(f"trimaps: {100 * rep['trimap']['mean_ignored']:.1f}% of pixels ignored on average")


@click.command()
@click.argument("photos", nargs=-1, required=True)
@output_option("Adapted model (.safetensors).")
@click.option("--model", "base_model", default="default", show_default=True, help="Model to start from.")
@pseudolabel_source_options()
@click.option(
    "--combine",
    type=click.Choice(["none", "agree", "confident"]),
    default="agree",
    show_default=True,
    help="Merge pseudo-labels with the model's own predictions: agree = ignore disagreements; "
    "confident = take the model's class where it is confident.",
)
@click.option("--confidence", type=click.FloatRange(0.5, 1.0), default=0.9, show_default=True)
@keep_option("Screening export: train only on accepted photos.")
@click.option("--stage1-epochs", type=click.IntRange(1), default=4, show_default=True)
@click.option("--stage2-epochs", type=click.IntRange(0), default=4, show_default=True)
@click.option("--crop-size", type=click.IntRange(32), default=256, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Intermediate outputs. [default: <output stem>_adapt next to the output]",
)
@overwrite_option("Replace an existing output model.")
@friendly_errors
def adapt(
    photos: tuple[str, ...],
    output: str,
    base_model: str,
    source: str,
    index_name: str,
    depth_dir: str | None,
    depth_model: str,
    combine: str,
    confidence: float,
    keep: str | None,
    stage1_epochs: int,
    stage2_epochs: int,
    crop_size: int,
    batch_size: int,
    workdir: str | None,
    overwrite: bool,
) -> None:
    """Adapt a model to a new field from unlabelled photos: pseudo-label, self-train, write -o MODEL."""
    from agriseg.crop.config import TrainConfig
    from agriseg.crop.pseudolabel.pipeline import PseudoLabelOptions
    from agriseg.crop.selftrain import DataSpec
    from agriseg.crop.selftrain import adapt as run
    from agriseg.data.io import list_images

    if Path(output).exists() and not overwrite:
        raise FileExistsError(f"{output}: exists (use --overwrite)")
    rep = run(
        list_images(list(photos)),
        output,
        base_model,
        PseudoLabelOptions(source=source, index=index_name, depth_dir=depth_dir, depth_model=depth_model),
        combine,
        confidence,
        keep,
        stage1_epochs,
        stage2_epochs,
        train=TrainConfig(batch_size=batch_size),
        data=DataSpec(crop_size=crop_size),
        workdir=workdir,
    )
    click.echo(f"adapted model: {rep['adapted_model']}  (use: agriseg crop predict --model {output} ...)")
