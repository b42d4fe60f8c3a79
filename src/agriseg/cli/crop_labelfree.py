"""``agriseg crop pseudolabel | screen | selftrain | adapt``: training without hand labels."""

from __future__ import annotations

from pathlib import Path
from shlex import quote
from typing import TYPE_CHECKING

import click

from agriseg import quiet
from agriseg.cli.errors import config_named, finish, friendly_errors
from agriseg.cli.options import (
    CROP_ADAPT,
    GGHT,
    PSEUDOLABEL,
    InputPath,
    OutputPath,
    batch_options,
    batch_size_option,
    config_from_params,
    config_option,
    device_option,
    keep_option,
    model_option,
    option,
    outdir_option,
    output_option,
    overwrite_option,
    pseudolabel_source_options,
    refuse_unread,
    set_option,
    stack,
    stage_epochs_options,
)

if TYPE_CHECKING:
    from agriseg.batch import BatchOptions
    from agriseg.crop.pseudolabel.pipeline import PseudoLabelConfig


# how depth (files of --depth-dir, or the depth model's) is read: pseudolabel and adapt
_depth_reading = stack(
    option(
        "--depth-convention",
        config=PSEUDOLABEL,
        type="choice",
        show_default="depth for files, inverse otherwise",
        help="depth: larger = farther; inverse: larger = nearer.",
    ),
    option("--detrend", config=PSEUDOLABEL, type="choice", help="Subtract a fitted ground plane from (inverse) depth."),
)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=InputPath())
@outdir_option("Output folder: masks/, records/, overlays/, plots/, pseudolabels.json.")
@pseudolabel_source_options()
@_depth_reading
@device_option("crop", PSEUDOLABEL, "Where the depth model runs: cpu, or a GPU (cuda, cuda:1).")
@option("--normaliser", config=GGHT, type="choice", help="GGHT option: normalisation.")
@option("--edge-operator", config=GGHT, type="choice", help="GGHT option: edge operator.")
@option("--weighting", config=GGHT, type="choice", help="GGHT option: gradient weighting of the histogram.")
@option("--sigmoid", config=GGHT, type="choice", help="GGHT option: sigmoid fitted to the weighted CDF.")
@option(
    "--point",
    config=GGHT,
    type="choice",
    help="GGHT option: threshold at the curve's inflection (max F') or knee (F'').",
)
@option("--smooth-sigma", config=GGHT, type=float, help="GGHT option: Gaussian smoothing (px at the fitting size).")
@option(
    "--full-coverage",
    config=GGHT,
    type="choice",
    help="GGHT option: detect dense-canopy photos and give them all-ones masks.",
)
@option(
    "--green-floor",
    config=GGHT,
    type="choice",
    help="GGHT option: auto: where the fit is weak, an index threshold never below a barely green pixel's (bare "
    "soil stays bare); off: the fitted threshold alone.",
)
@keep_option()
@option("--plot", config=PSEUDOLABEL, is_flag=True, help="Save histogram + fitted curve PNGs (plots/).")
@option(
    "--overlay/--no-overlay",
    "overlays",
    config=PSEUDOLABEL,
    help="Write overlay JPEGs (the screening page needs them).",
)
@batch_options()
@friendly_errors
def pseudolabel(paths: tuple[str, ...], outdir: Path, keep: str | None, batch: BatchOptions, **params: object) -> None:
    """Pseudo-masks by gradient-guided histogram thresholding (masks/, records/, overlays/, plots/)."""
    from agriseg.crop.pseudolabel.gght import GGHTConfig
    from agriseg.crop.pseudolabel.pipeline import PseudoLabelConfig, pseudolabel_paths

    gght = config_from_params(GGHTConfig, params)
    params = {**params, "gght": gght, "overwrite": batch.overwrite}
    opts = config_from_params(PseudoLabelConfig, params, {"index_name": "index"})
    _refuse_other_sources(opts)
    finish(pseudolabel_paths(list(paths), outdir, opts, keep, batch.strict), "pseudo-labelled", outdir)


def _refuse_other_sources(opts: PseudoLabelConfig) -> None:
    """The pseudo-label options the chosen source does not read are usage errors (pseudolabel, adapt)."""
    if opts.source == "index":
        refuse_unread(["depth_model", "depth_convention", "detrend", "device"], "read with --source depth only")
    else:
        refuse_unread(["index_name"], "read with --source index only")
        if opts.depth_dir is not None:
            refuse_unread(["depth_model", "device"], "not read with --depth-dir (no depth model runs)")
        else:  # --device CPU or cuda on a machine without one: a traceback once the depth model was loaded
            from agriseg.runtime import check_device

            check_device(opts.device)


@click.command()
@click.argument("outdir", type=InputPath(file_okay=False, exists=True))
@option("--title", default=None, show_default="the folder name", help="Page title.")
@overwrite_option(
    "Replace a screen.html edited since agriseg wrote it (the page agriseg wrote is rewritten on every run; one "
    "it did not write is first kept as screen.earlier.html)."
)
@friendly_errors
def screen(outdir: str, title: str | None, overwrite: bool) -> None:
    """Write OUTDIR/screen.html: accept/reject pseudo-masks (keys a/r, j/k), export accepted.json."""
    from agriseg.crop.pseudolabel.screen import write_screen_page

    notes: list[str] = []
    path = write_screen_page(outdir, title, overwrite=overwrite, notes=notes)
    for line in notes:
        if not (quiet() and line.startswith("warning: ")):  # -q: no warnings (a kept earlier page still said)
            click.echo(line, err=True)
    click.echo(f"screening page: {path}\nopen it in a browser; Export saves accepted.json for --keep")


@click.command()
@config_option("crop")
@keep_option("Train only on photos accepted in this screening export (overrides the config's keep).")
@stage_epochs_options()
@set_option()
@overwrite_option()
@friendly_errors
def selftrain(
    config_path: str,
    keep: str | None,
    stage1_epochs: int | None,
    stage2_epochs: int | None,
    overrides: tuple[str, ...],
    overwrite: bool,
) -> None:
    """Two-stage self-training on pseudo-labels; writes <output_dir>/model.safetensors and a report."""
    from agriseg.config import with_updates
    from agriseg.crop.selftrain import load_selftrain_config
    from agriseg.crop.selftrain import selftrain as run

    cfg = load_selftrain_config(config_path, overrides)
    upd = {
        k: v
        for k, v in {"keep": keep, "stage1_epochs": stage1_epochs, "stage2_epochs": stage2_epochs}.items()
        if v is not None
    }
    cfg = with_updates(cfg, upd)
    with config_named(config_path, overrides):
        rep = run(cfg, overwrite=overwrite)
    if rep.get("skipped"):
        click.echo(f"model: {rep['model']} (unchanged: made before from the same inputs and options)")
        return
    click.echo(f"model: {rep['model']}")
    _stages_kept(rep)
    for st in ("stage1", "stage2"):
        if st in rep and "evaluate" in rep[st]:
            ev = rep[st]["evaluate"]
            click.echo(f"{st}: mIoU {100 * ev['miou']:.2f}  bIoU {100 * ev['biou']:.2f} (true labels)")
    if "trimap" in rep:
        from agriseg.crop.selftrain import trimap_summary

        click.echo(trimap_summary(rep["trimap"]["mean_ignored"]))
    _photos_left_out(rep)


def _stages_kept(rep: dict) -> None:
    """Name the stages a re-run after an interruption kept (not trained again)."""
    for st in ("stage1", "stage2"):
        if rep.get(st, {}).get("kept"):
            click.echo(f"{st}: kept, as an interrupted run with the same inputs and options had trained it")


def _photos_left_out(rep: dict) -> None:
    """The photos a self-training run could not use, on stderr: greyscale ones and unreadable scoring photos as
    warnings, photos that could not be pseudo-labelled as failures (exit status 1, as a batch whose item failed);
    they were only in the report and the run exited 0 (session 73's sweep)."""
    from agriseg.cli.errors import echo_failures

    said = rep.get("pseudolabel", {})
    scores = [rep.get(k, {}).get("evaluate", {}) for k in ("stage1", "stage2")] + [rep.get("base_evaluate", {})]
    unread = dict.fromkeys(e for ev in scores for e in ev.get("unreadable", []))  # each photo once, in order
    if not quiet():
        for line in [*said.get("left_out", []), *(f"{e} (left out of the scores)" for e in unread)]:
            click.echo(f"warning: {line}", err=True)
    echo_failures(said.get("errors", []))
    if said.get("errors"):
        raise SystemExit(1)


@click.command()
@click.argument("photos", nargs=-1, required=True, type=InputPath())
@output_option("Adapted model (.safetensors).")
@model_option("crop", config=CROP_ADAPT)
@pseudolabel_source_options()
@_depth_reading
@option(
    "--combine",
    config=CROP_ADAPT,
    type="choice",
    help="Merge pseudo-labels with the model's own predictions: agree = ignore disagreements; "
    "confident = take the model's class where it is confident.",
)
@option("--confidence", config=CROP_ADAPT, type=float, help="Model probability that counts as confident.")
@keep_option("Screening export: train only on accepted photos.")
@stage_epochs_options(CROP_ADAPT)
@option("--crop-size", config=CROP_ADAPT, type=int, help="Training crop side in px.")
@batch_size_option("crop", CROP_ADAPT, "Photo crops per optimiser step.")
@option(
    "--workdir",
    type=OutputPath(file_okay=False),
    default=None,
    show_default="<output stem>_adapt next to the output",
    help="Intermediate outputs.",
)
@overwrite_option()
@friendly_errors
def adapt(
    photos: tuple[str, ...], output: Path, keep: str | None, workdir: str | None, overwrite: bool, **params: object
) -> None:
    """Adapt a model to a new field from unlabelled photos: pseudo-label, self-train, write -o MODEL."""
    from agriseg.crop.config import AdaptConfig
    from agriseg.crop.pseudolabel.pipeline import PseudoLabelConfig
    from agriseg.crop.selftrain import adapt_photos

    cfg = config_from_params(AdaptConfig, params)
    pseudo = config_from_params(PseudoLabelConfig, params, {"index_name": "index"})
    _refuse_other_sources(pseudo)
    if cfg.combine != "confident":
        refuse_unread(["confidence"], "read with --combine confident only")
    rep = adapt_photos(list(photos), output, cfg, pseudo, keep, workdir, overwrite)
    same = " (unchanged: made before from the same photos, model and options)" if rep.get("skipped") else ""
    use = f"agriseg crop predict --model {quote(str(output))} ..."  # a path with a space pastes whole
    click.echo(f"adapted model: {rep['adapted_model']}{same}  (use: {use})")
    _stages_kept(rep)
    from agriseg.crop.selftrain import MOSTLY_IGNORED, trimap_summary

    if (ignored := rep.get("trimap", {}).get("mean_ignored", 0.0)) > MOSTLY_IGNORED:  # said only when it matters
        click.echo(trimap_summary(ignored))
    _photos_left_out(rep)
