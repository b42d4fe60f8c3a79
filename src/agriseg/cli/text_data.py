"""``agriseg text make-synthetic | tiny-model | dataset | suggest-sizes``: data and a tiny offline model."""

from __future__ import annotations

from pathlib import Path

import click

from agriseg.batch import counted
from agriseg.cli.errors import echo_failures, friendly_errors
from agriseg.cli.options import (
    TEXT_DATASET,
    TEXT_LANDSCAPES,
    TEXT_TINY_MODEL,
    InputPath,
    PositiveFloat,
    bands_option,
    classes_option,
    config_from_params,
    memory_check_option,
    model_option,
    option,
    outdir_option,
    overwrite_option,
    refuse_unread,
    renamed,
    seed_option,
    stack,
    strict_option,
    tiling_options,
)
from agriseg.cli.text_helpers import _class_list, _need_text_extra


@click.command("make-synthetic")
@outdir_option("Output folder (images/, masks/, instances/, classes.txt).")
@click.option(
    "-n", "--count", default=64, show_default=True, type=click.IntRange(1, 100_000), help="Number of landscapes."
)
@option("--size", config=TEXT_LANDSCAPES, show_default=True, type=click.IntRange(8), help="Image side in pixels.")
@seed_option("Random seed (the same seed, the same images).")
@overwrite_option()
@memory_check_option()
@friendly_errors
def make_synthetic_cmd(outdir: Path, count: int, size: int, seed: int, overwrite: bool) -> None:
    """Synthetic satellite-like landscapes (fields, trees, water) with class and instance masks.

    Writes OUTDIR/images/<id>.png (RGB), OUTDIR/masks/<id>.png (class ids, see classes.txt) and
    OUTDIR/instances/<id>.png (instance ids), ready for `agriseg text dataset` and `text evaluate`.
    """
    from agriseg.batch import already_made, already_there, check_output
    from agriseg.text.synthetic import MADE_BY, SYNTH_CLASSES, landscape_settings, write_landscapes

    if not overwrite and already_made(outdir, MADE_BY, landscape_settings(count, size, seed)):
        click.echo(already_there(outdir))
        return
    out = check_output(outdir, overwrite, empty_dir_ok=True, kind="generated set")  # never a model's folder
    write_landscapes(out, count, size, seed, progress=True)
    click.echo(f"{outdir}: {counted(count, 'landscape')} of {size} px; classes {','.join(SYNTH_CLASSES)}")


@click.command("tiny-model")
@outdir_option("Output model folder (loads with the transformers Auto classes).")
@classes_option(default="others,field,tree,water")
@stack(
    *(
        option(flag, config=TEXT_TINY_MODEL, field=field, show_default=True, type=click.IntRange(low), help=text)
        for flag, field, low, text in (
            ("--image-size", "image_size", 1, "Side the processor resizes images to."),
            ("--vision-patch", "vision_patch", 1, "Vision-encoder patch side in pixels."),
            ("--image-tokens", "mm_tokens_per_image", 1,
             "Image tokens per image (a square number, at most the number of vision patches)."),
        )
    )
)  # fmt: skip
@seed_option("Seed of the random weights.")
@overwrite_option()
@friendly_errors
def tiny_model_cmd(
    outdir: Path, classes: str, image_size: int, vision_patch: int, image_tokens: int, seed: int, overwrite: bool
) -> None:
    """A tiny random-weight Gemma 3 VLM (about 0.7 M parameters) built offline, to try the text workflow.

    It knows only the class words and the instruction vocabulary, and it segments nothing until it is
    trained (`agriseg text sft`, then `agriseg text grpo`).
    """
    _need_text_extra()
    from agriseg.text.tinyvlm import TinyVLMConfig, build_tiny_model

    cfg = TinyVLMConfig(image_size=image_size, vision_patch=vision_patch, mm_tokens_per_image=image_tokens)
    n, made = build_tiny_model(outdir, _class_list(classes) or [], cfg, seed, overwrite)
    said = "" if made else " (made by a run with these options: unchanged)"
    click.echo(f"{outdir}: tiny Gemma 3, {n / 1e6:.2f} M parameters, classes {classes}{said}")


@renamed({"--patch": "--tile", "-p": "--tile", "-g": "--grid"}, retired={"-m": "--masks", "-c": "--classes"})
@click.command("dataset")
@click.argument("images", nargs=-1, required=True, type=InputPath(path_type=Path))
@click.option(
    "--masks",
    "masks",
    multiple=True,
    required=True,
    type=InputPath(path_type=Path),
    help="Mask files or folders (class ids, matched to images by stem).",
)
@outdir_option("Output dataset folder.")
@classes_option(required=True)
@tiling_options(
    "text", TEXT_DATASET, tile_field="patch", overlap_help="Fraction of a tile shared with its neighbour (--mode grid)."
)
@option("--grid", config=TEXT_DATASET, type=int, help="RRLE cells per tile side (16, 24, 32 or any).")
@option("--mode", config=TEXT_DATASET, type="choice", help="Random tiles (training) or the fixed grid (evaluation).")
@option("--per-image", config=TEXT_DATASET, type=int, help="Random tiles per image.")
@option("--align", config=TEXT_DATASET, type=int, help="Random tile corners on a lattice of this many pixels.")
@option("--sentence", config=TEXT_DATASET, help="Answer sentence before <seg> (empty: none).")
@option(
    "--patch-image/--no-patch-image",
    config=TEXT_DATASET,
    help="Pass each tile at full resolution as a first image, before the whole image.",
)
@model_option("text")
@bands_option()
@seed_option("Seed of the random tiles.", TEXT_DATASET)
@overwrite_option()
@strict_option()
@memory_check_option()
@friendly_errors
def dataset_cmd(
    images: tuple[Path, ...],
    masks: tuple[Path, ...],
    outdir: Path,
    classes: str,
    model_name: str | None,
    bands: tuple[int, ...] | None,
    overwrite: bool,
    strict: bool,
    **params: object,
) -> None:
    """Build MAgSeg instruction samples (whole image + tile box -> RRLE of the tile) as a HF dataset.

    IMAGES are files or folders; use --masks for the matching masks. With --model, the model's vocabulary
    must hold every class word.
    """
    _need_text_extra()
    from agriseg.text.config import OPTION_FIELDS
    from agriseg.text.dataset import TextDatasetConfig, build_dataset

    cfg = config_from_params(TextDatasetConfig, params, OPTION_FIELDS)
    if cfg.mode == "grid":  # options of the other way of cutting tiles would be ignored
        refuse_unread(["per_image", "align", "seed"], "read with --mode random only (the grid's tiles are fixed)")
    else:
        refuse_unread(["overlap"], "read with --mode grid only (random tiles are drawn apart)")
    made = build_dataset(images, masks, outdir, classes, cfg, model_name, bands, overwrite, strict)
    samples = counted(made.samples, "sample")
    if made.skipped:
        click.echo(f"{outdir}: {samples}, unchanged (made before from the same inputs and options)")
    else:
        click.echo(f"{outdir}: {samples} ({cfg.mode} tiles of {cfg.patch} px, {cfg.grid}x{cfg.grid} grid)")
    if made.longest is not None:
        fit = "GRPO max_completion_length and predict --max-new-tokens must fit it"
        click.echo(f"longest answer: {made.longest} tokens ({fit})")
    echo_failures(made.failed)  # not scored / left out; the others are
    if made.failed:
        left = counted(len(made.failed), "image")
        click.echo(f"{left} left out of the data set (--strict stops at the first)", err=True)
        raise SystemExit(1)


@renamed({"--tile": "--size"})
@click.command("suggest-sizes")
@click.option(
    "--size",
    required=True,
    type=click.IntRange(8),  # the smallest answer grid (text.sizes.GRIDS): the help said x>=1
    help="Side of your images (tiles) in pixels, the shorter one.",
)
@click.option("--resolution", type=PositiveFloat(), default=None, help="Metres per pixel.")
@click.option(
    "--min-object",
    type=PositiveFloat(),
    default=None,
    help="Smallest object to keep, in metres (with --resolution).",
)
@friendly_errors
def suggest_sizes_cmd(size: int, resolution: float | None, min_object: float | None) -> None:
    """Propose --tile, --grid and the tiny model's --image-size / --vision-patch for your images."""
    from agriseg.text.sizes import suggest_sizes

    s = suggest_sizes(size, resolution, min_object)
    cell = f"{s['cell_px']:g} px" + (f" = {s['cell_m']:g} m" if s["cell_m"] is not None else "")
    click.echo(f"tile {s['patch']}  grid {s['grid']}  (one answer cell: {cell})")
    click.echo(f"tiny model: --image-size {s['image_size']} --vision-patch {s['vision_patch']}")
    click.echo(f"dataset / predict: --tile {s['patch']} --grid {s['grid']}")
    for n in s["notes"]:
        click.echo(f"note: {n}")
