"""``agriseg text make-synthetic | tiny-model | dataset``: data and a tiny offline model to try the workflow."""

from __future__ import annotations

from pathlib import Path

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.options import bands_option, config_from_params, outdir_option, overwrite_option
from agriseg.cli.text_helpers import _check_class_words, _class_list, _need_text_extra, _resolve_model


@click.command("make-synthetic")
@outdir_option("Output folder (images/, masks/, instances/, classes.txt).")
@click.option("-n", "--count", default=64, type=click.IntRange(1), help="Number of landscapes.")
@click.option("--size", default=64, type=click.IntRange(16), help="Image side in pixels.")
@click.option("--seed", default=0, type=int, help="Random seed (the same seed gives the same images).")
@overwrite_option("Replace an existing output folder.")
@friendly_errors
def make_synthetic_cmd(outdir: Path, count: int, size: int, seed: int, overwrite: bool) -> None:
    """Synthetic satellite-like landscapes (fields, trees, water) with class and instance masks.

    Writes OUTDIR/images/<id>.png (RGB), OUTDIR/masks/<id>.png (class ids, see classes.txt) and
    OUTDIR/instances/<id>.png (instance ids), ready for `agriseg text dataset` and `text evaluate`.
    """
    from agriseg.text.synthetic import SYNTH_CLASSES, write_landscapes

    if outdir.exists() and not overwrite:
        raise FileExistsError(f"{outdir}: exists (use --overwrite)")
    write_landscapes(outdir, count, size, seed)
    click.echo(f"{outdir}: {count} landscapes of {size} px; classes {','.join(SYNTH_CLASSES)}")


@click.command("tiny-model")
@outdir_option("Output model folder (loads with the transformers Auto classes).")
@click.option(
    "--classes", "-c", default="others,field,tree,water", help="Comma-separated class words, background first."
)
@click.option("--image-size", default=64, type=click.IntRange(8), help="Side the processor resizes images to.")
@click.option("--vision-patch", default=8, type=click.IntRange(1), help="Vision-encoder patch side in pixels.")
@click.option(
    "--image-tokens",
    default=64,
    type=click.IntRange(1),
    help="Image tokens per image (a square number, at most the number of vision patches).",
)
@click.option("--seed", default=0, type=int, help="Seed of the random weights.")
@overwrite_option("Replace an existing output folder.")
@friendly_errors
def tiny_model_cmd(
    outdir: Path, classes: str, image_size: int, vision_patch: int, image_tokens: int, seed: int, overwrite: bool
) -> None:
    """A tiny random-weight Gemma 3 VLM (about 0.7 M parameters) built offline, to try the text workflow.

    It knows only the class words and the instruction vocabulary, and it segments nothing until it is
    trained (`agriseg text sft`, then `agriseg text grpo`).
    """
    _need_text_extra()
    from agriseg.text.tinyvlm import TinyVLMConfig, build_tiny_vlm, check_tiny_vlm_config, save_tiny_vlm

    names = _class_list(classes)
    if not names or len(names) < 2:
        raise ValueError("--classes needs the background word and at least one class, e.g. others,field")
    cfg = TinyVLMConfig(image_size=image_size, vision_patch=vision_patch, mm_tokens_per_image=image_tokens)
    check_tiny_vlm_config(cfg)
    if outdir.exists() and not overwrite:
        raise FileExistsError(f"{outdir}: exists (use --overwrite)")
    model, proc = build_tiny_vlm(names, cfg, seed=seed)
    save_tiny_vlm(model, proc, outdir)
    n = sum(p.numel() for p in model.parameters())
    click.echo(f"{outdir}: tiny Gemma 3, {n / 1e6:.2f} M parameters, classes {','.join(names)}")


@click.command("dataset")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--masks",
    "-m",
    "masks",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="mask files or folders (class ids, matched to images by stem)",
)
@outdir_option("Output dataset folder.", dest="out")
@click.option(
    "--classes", "-c", required=True, help="comma-separated class words, background first (e.g. others,field)"
)
@click.option("--patch", "-p", default=448, type=int, help="patch side in pixels")
@click.option("--grid", "-g", default=16, type=int, help="RRLE cells per patch side (16, 24, 32 or any)")
@click.option(
    "--mode",
    type=click.Choice(["random", "grid"]),
    default="random",
    help="random patches (training) or the fixed grid (evaluation)",
)
@click.option("--per-image", default=8, type=int, help="random patches per image")
@click.option("--align", default=1, type=int, help="random patch corners on a lattice of this many pixels")
@click.option("--overlap", default=0.0, type=float, help="overlap of grid patches (mode grid)")
@click.option("--sentence", default="", help="answer sentence before <seg> (empty: none)")
@click.option(
    "--patch-image/--no-patch-image",
    default=True,
    show_default=True,
    help="pass each patch at full resolution as a first image, before the whole image",
)
@click.option(
    "--model",
    "model_name",
    default=None,
    help="model folder or org/name the data set is for: its vocabulary must hold every class word",
)
@bands_option()
@click.option("--seed", default=0, type=int)
@overwrite_option("replace an existing output folder")
@friendly_errors
def dataset_cmd(
    images: tuple[Path, ...],
    masks: tuple[Path, ...],
    out: Path,
    classes: str,
    patch: int,
    grid: int,
    mode: str,
    per_image: int,
    align: int,
    overlap: float,
    sentence: str,
    patch_image: bool,
    model_name: str | None,
    bands: tuple[int, ...] | None,
    seed: int,
    overwrite: bool,
) -> None:
    """Build MAgSeg instruction samples (whole image + patch box -> RRLE of the patch) as a HF dataset.

    IMAGES are files or folders; use --masks for the matching masks.
    """
    _need_text_extra()
    from agriseg.data.files import atomic_write
    from agriseg.text.dataset import PatchSpec, records_from_files, to_hf_dataset

    names = _class_list(classes)
    if not names or len(names) < 2:
        raise ValueError("--classes needs the background word and at least one class, e.g. others,field,tree")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: exists (use --overwrite)")
    proc = None
    if model_name:
        from agriseg.text.modeling import load_processor

        model_name = _resolve_model(model_name)
        proc = load_processor(model_name)
        _check_class_words(proc, names, model_name)
    spec = config_from_params(PatchSpec, click.get_current_context().params)
    ds = to_hf_dataset(records_from_files(list(images), list(masks), names, spec, seed, bands))
    with atomic_write(out) as tmp:
        ds.save_to_disk(str(tmp))
    click.echo(f"{out}: {len(ds)} samples ({mode} patches of {patch} px, {grid}x{grid} grid)")
    if proc is not None:
        from agriseg.text.sft import answer_tokens

        n = max(answer_tokens(ds, proc))
        click.echo(f"longest answer: {n} tokens (GRPO max_completion_length and predict --max-new-tokens must fit it)")


@click.command("suggest-sizes")
@click.option("--tile", required=True, type=click.IntRange(1), help="Tile side in pixels (the shorter one).")
@click.option("--resolution", type=click.FloatRange(0, min_open=True), default=None, help="Metres per pixel.")
@click.option(
    "--min-object",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Smallest object to keep, in metres (with --resolution).",
)
@friendly_errors
def suggest_sizes_cmd(tile: int, resolution: float | None, min_object: float | None) -> None:
    """Propose --patch, --grid and the tiny model's --image-size / --vision-patch for your tiles."""
    from agriseg.text.sizes import suggest_sizes

    s = suggest_sizes(tile, resolution, min_object)
    cell = f"{s['cell_px']:g} px" + (f" = {s['cell_m']:g} m" if s["cell_m"] is not None else "")
    click.echo(f"patch {s['patch']}  grid {s['grid']}  (one answer cell: {cell})")
    click.echo(f"tiny model: --image-size {s['image_size']} --vision-patch {s['vision_patch']}")
    click.echo(f"dataset / predict: --patch {s['patch']} --grid {s['grid']}")
    for n in s["notes"]:
        click.echo(f"note: {n}")
