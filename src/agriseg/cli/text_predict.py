"""``agriseg text predict | evaluate``: masks from a VLM, patch by patch, and their scores."""

from __future__ import annotations

from pathlib import Path

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.options import bands_option, config_from_params, outdir_option, output_option, overwrite_option
from agriseg.cli.text_helpers import _check_class_words, _class_list, _need_text_extra, _resolve_model


@click.command("predict")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@outdir_option("Output folder.", dest="out")
@click.option("--model", "-m", "model_name", required=True, help="trained model folder or HF id")
@click.option("--classes", default=None, help="comma-separated class words (default: from the model folder)")
@click.option("--patch", type=int, default=None, help="patch side in px (default: from the model folder)")
@click.option("--grid", type=int, default=None, help="RRLE grid per patch (default: from the model folder)")
@click.option("--overlap", default=0.0, type=float, help="patch overlap; > 0 votes per pixel")
@click.option("--vote", type=click.Choice(["count", "center"]), default="center")
@click.option("--batch-size", default=16, type=int, help="patches per generate() call")
@click.option("--max-new-tokens", default=512, type=click.IntRange(8), help="generation budget per patch")
@click.option("--sample/--greedy", default=False, help="sampled (T) or greedy decoding")
@click.option("--temperature", default=1.0, type=float)
@click.option("--instances/--no-instances", default=True, help="watershed instances + polygons")
@click.option("--chat-template", default=None, type=click.Path(path_type=Path), help="Jinja file if the model has none")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@bands_option()
@overwrite_option()
@friendly_errors
def predict_cmd(
    images: tuple[Path, ...],
    out: Path,
    model_name: str,
    classes: str | None,
    patch: int | None,
    grid: int | None,
    overlap: float,
    vote: str,
    batch_size: int,
    max_new_tokens: int,
    sample: bool,
    temperature: float,
    instances: bool,
    chat_template: Path | None,
    device: str,
    bands: tuple[int, ...] | None,
    overwrite: bool,
) -> None:
    """Segment IMAGES patch by patch: batched generation, repairing decode, stitching (GeoTIFF in -> GeoTIFF
    + GeoJSON polygons out; PNG otherwise). Writes <stem>.tif/.png, <stem>.json (per-patch repairs) and,
    with --instances, <stem>_instances.tif/.png and <stem>.geojson."""
    _need_text_extra()
    from agriseg.data.io import list_images
    from agriseg.text.config import PredictConfig
    from agriseg.text.infer import predict_files
    from agriseg.text.modeling import load_vlm
    from agriseg.text.sft import read_meta

    model_name = _resolve_model(model_name)  # a mistyped folder fails here, not after hub retries
    meta = read_meta(model_name) if Path(model_name).is_dir() else {}
    names = _class_list(classes) or meta.get("class_names")
    saved = meta.get("class_names")
    if saved and names != saved:
        raise click.BadParameter(
            f"{model_name}: --classes {','.join(names)} differs from the classes the model was trained with "
            f"({','.join(saved)}, in this order); leave --classes out to use them",
            param_hint="'--classes'",
        )
    if not names:
        raise click.BadParameter(
            f"{model_name}: no class names saved with the model; give --classes others,field,...",
            param_hint="'--classes'",
        )
    longest = meta.get("answer_tokens")
    if longest and max_new_tokens < longest:
        click.echo(
            f"warning: --max-new-tokens {max_new_tokens} is less than the longest answer {model_name} was trained "
            f"on ({longest} tokens): longer masks will be cut (repaired); give --max-new-tokens {longest} or more",
            err=True,
        )
    patch = patch or meta.get("patch")
    grid = grid or meta.get("grid")
    if not patch or not grid:
        raise ValueError(f"{model_name}: patch/grid not saved with the model; give --patch and --grid")
    params = {
        **click.get_current_context().params,
        "patch": patch,
        "grid": grid,
        "patch_image": bool(meta.get("patch_image", False)),
    }
    cfg = config_from_params(PredictConfig, params, {"sample": "do_sample"})
    files = list_images(list(images))
    model, proc = load_vlm(model_name, device=device, template_path=str(chat_template) if chat_template else None)
    _check_class_words(proc, names, model_name)
    rows = predict_files(model, proc, files, out, names, cfg, instances, overwrite, bands=bands)
    from agriseg import __version__
    from agriseg.data.files import write_json

    run = {"agriseg": __version__, "model": model_name, "classes": names, "options": cfg.model_dump()}
    write_json(out / "run.json", run)  # what made these outputs: model, classes, options
    for r in rows:
        if r["status"] == "ok":
            click.echo(f"{r['file']}: {r['valid_patches']}/{r['patches']} patches well-formed")
        elif r["status"] == "error":
            click.echo(f"  failed: {r['error']}", err=True)
    n = {k: sum(r["status"] == k for r in rows) for k in ("ok", "skipped", "error")}
    click.echo(f"{n['ok']} predicted, {n['skipped']} skipped, {n['error']} failed -> {out}")
    if n["error"]:
        raise SystemExit(1)


@click.command("evaluate")
@click.argument("predictions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--truth", "-t", required=True, type=click.Path(path_type=Path), help="folder of true semantic masks")
@click.option(
    "--truth-instances",
    type=click.Path(path_type=Path),
    default=None,
    help="folder of true instance maps (default: connected components of the truth)",
)
@click.option("--classes", "-c", required=True, help="comma-separated class words, background first")
@click.option("--match-iou", default=0.5, type=float, help="IoU at which a truth instance counts as found")
@click.option(
    "--min-size",
    default=4,
    type=int,
    help="instances under this many pixels are ignored (truth and predicted)",
)
@click.option(
    "--ignore-value",
    default=255,
    show_default=True,
    type=click.IntRange(0),
    help="truth value left out of every metric (nodata; as `text dataset`)",
)
@click.option("--model", "model_name", default=None, help="model to report the overhead of")
@output_option("Write the report as JSON (and the per-class table as CSV beside it).", required=False, dest="out")
@friendly_errors
def evaluate_cmd(
    predictions: tuple[Path, ...],
    truth: Path,
    truth_instances: Path | None,
    classes: str,
    match_iou: float,
    min_size: int,
    ignore_value: int,
    model_name: str | None,
    out: Path | None,
) -> None:
    """Pooled per-class Dice and IoU, overall accuracy, confusion matrix, instance metrics (per-class
    mean/median instance IoU with merge-and-match, FNR, FPR) and the overhead of PREDICTIONS (what `predict`
    wrote; its `<stem>_instances.*` files are scored when present)."""
    from agriseg.data.files import dumps_json, write_text
    from agriseg.data.io import list_images
    from agriseg.text.metrics import evaluate_files, report_table

    names = _class_list(classes)
    if not names or len(names) < 2:
        raise ValueError("--classes needs the background word and at least one class")
    if out and Path(out).suffix.lower() == ".csv":
        raise click.BadParameter(f"{out}: give the JSON report's name; the CSV is written beside it", param_hint="'-o'")
    model_name = _resolve_model(model_name) if model_name else None
    report = evaluate_files(
        list_images(list(predictions)), truth, names, truth_instances, match_iou, min_size, ignore_value
    )
    if model_name:
        _need_text_extra()
        from agriseg.text.metrics import overhead
        from agriseg.text.modeling import load_vlm

        m, _ = load_vlm(model_name, device="cpu")
        report["overhead"] = overhead(m)
    table, csv_text = report_table(report)
    if out:
        write_text(out, dumps_json(report))
        write_text(Path(out).with_suffix(".csv"), csv_text)
    click.echo(table)
