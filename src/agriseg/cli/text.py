"""``agriseg text``: multimodal-LLM segmentation with masks as text (MAgSeg / Text4Seg).

Heavy libraries (torch, transformers, peft, trl, datasets) are imported inside the commands.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from agriseg.cli.errors import friendly_errors


def _class_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    return names or None


def _need_text_extra() -> None:
    import importlib.util

    missing = [m for m in ("transformers", "peft", "trl", "datasets") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"agriseg text needs the 'text' extra ({', '.join(missing)} missing): pip install 'agriseg[text]'"
        )


@click.group(context_settings={"show_default": True})
def text() -> None:
    """Multimodal-LLM segmentation: masks written as text (RRLE), LoRA SFT, GRPO with a Dice reward."""


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move a finished temporary folder to its final name (replacing an older one)."""
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


@text.command("make-synthetic")
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (images/, masks/, instances/, classes.txt).")
@click.option("-n", "--count", default=64, type=click.IntRange(1), help="Number of landscapes.")
@click.option("--size", default=64, type=click.IntRange(16), help="Image side in pixels.")
@click.option("--seed", default=0, type=int, help="Random seed (the same seed gives the same images).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@friendly_errors
def make_synthetic_cmd(outdir: Path, count: int, size: int, seed: int, overwrite: bool) -> None:
    """Synthetic satellite-like landscapes (fields, trees, water) with class and instance masks.

    Writes OUTDIR/images/<id>.png (RGB), OUTDIR/masks/<id>.png (class ids, see classes.txt) and
    OUTDIR/instances/<id>.png (instance ids), ready for `agriseg text dataset` and `text evaluate`.
    """
    import numpy as np
    from PIL import Image

    from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscapes

    if outdir.exists() and not overwrite:
        raise FileExistsError(f"{outdir}: exists (use --overwrite)")
    imgs, sems, insts = make_landscapes(count, seed, LandscapeConfig(size=size))
    tmp = outdir.with_name(f".{outdir.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    for sub in ("images", "masks", "instances"):
        (tmp / sub).mkdir(parents=True)
    for i, (img, sem, inst) in enumerate(zip(imgs, sems, insts, strict=True)):
        Image.fromarray(img).save(tmp / "images" / f"{i:04d}.png")
        Image.fromarray(sem.astype(np.uint8)).save(tmp / "masks" / f"{i:04d}.png")
        Image.fromarray(inst.astype(np.uint16)).save(tmp / "instances" / f"{i:04d}.png")
    (tmp / "classes.txt").write_text(",".join(SYNTH_CLASSES) + "\n")
    _replace_dir(tmp, outdir)
    click.echo(f"{outdir}: {count} landscapes of {size} px; classes {','.join(SYNTH_CLASSES)}")


@text.command("tiny-model")
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output model folder (loads with the transformers Auto classes).")
@click.option("--classes", "-c", default="others,field,tree,water",
              help="Comma-separated class words, background first.")
@click.option("--image-size", default=64, type=click.IntRange(8), help="Side the processor resizes images to.")
@click.option("--vision-patch", default=8, type=click.IntRange(1), help="Vision-encoder patch side in pixels.")
@click.option("--image-tokens", default=64, type=click.IntRange(1),
              help="Image tokens per image (a square number, at most the number of vision patches).")
@click.option("--seed", default=0, type=int, help="Seed of the random weights.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@friendly_errors
def tiny_model_cmd(
    outdir: Path, classes: str, image_size: int, vision_patch: int, image_tokens: int, seed: int, overwrite: bool
) -> None:
    """A tiny random-weight Gemma 3 VLM (about 0.7 M parameters) built offline, to try the text workflow.

    It knows only the class words and the instruction vocabulary, and it segments nothing until it is
    trained (`agriseg text sft`, then `agriseg text grpo`).
    """
    import math

    _need_text_extra()
    from agriseg.text.tinyvlm import TinyVLMConfig, build_tiny_vlm, save_tiny_vlm

    names = _class_list(classes)
    if not names or len(names) < 2:
        raise ValueError("--classes needs the background word and at least one class, e.g. others,field")
    if image_size % vision_patch:
        raise ValueError(f"--image-size {image_size} is not a multiple of --vision-patch {vision_patch}")
    n_patches = (image_size // vision_patch) ** 2
    side = math.isqrt(image_tokens)
    if side * side != image_tokens or image_tokens > n_patches or n_patches % image_tokens:
        raise ValueError(
            f"--image-tokens {image_tokens} must be a square number dividing the {n_patches} vision patches"
        )
    if outdir.exists() and not overwrite:
        raise FileExistsError(f"{outdir}: exists (use --overwrite)")
    cfg = TinyVLMConfig(image_size=image_size, vision_patch=vision_patch, mm_tokens_per_image=image_tokens)
    model, proc = build_tiny_vlm(names, cfg, seed=seed)
    tmp = outdir.with_name(f".{outdir.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    save_tiny_vlm(model, proc, tmp)
    _replace_dir(tmp, outdir)
    n = sum(p.numel() for p in model.parameters())
    click.echo(f"{outdir}: tiny Gemma 3, {n / 1e6:.2f} M parameters, classes {','.join(names)}")


@text.command("dataset")
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
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="output dataset folder")
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
@click.option("--seed", default=0, type=int)
@click.option("--overwrite", is_flag=True, help="replace an existing output folder")
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
    seed: int,
    overwrite: bool,
) -> None:
    """Build MAgSeg instruction samples (whole image + patch box -> RRLE of the patch) as a HF dataset.

    IMAGES are files or folders; use --masks for the matching masks.
    """
    _need_text_extra()
    from agriseg.text.dataset import PatchSpec, records_from_files, to_hf_dataset

    names = _class_list(classes)
    if not names or len(names) < 2:
        raise ValueError("--classes needs the background word and at least one class, e.g. others,field,tree")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: exists (use --overwrite)")
    spec = PatchSpec(
        patch=patch,
        grid=grid,
        mode=mode,
        per_image=per_image,
        align=align,
        overlap=overlap,  # type: ignore[arg-type]
        sentence=sentence,
    )
    ds = to_hf_dataset(records_from_files(list(images), list(masks), names, spec, seed))
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    ds.save_to_disk(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    click.echo(f"{out}: {len(ds)} samples ({mode} patches of {patch} px, {grid}x{grid} grid)")


@text.command("sft")
@click.option("--config", "-c", "config", required=True, type=click.Path(path_type=Path))
@friendly_errors
def sft_cmd(config: Path) -> None:
    """LoRA SFT (TRL SFTTrainer) of a VLM on an instruction dataset."""
    _need_text_extra()
    from agriseg.config import load_config
    from agriseg.text.config import SFTRunConfig
    from agriseg.text.sft import run_sft

    out = run_sft(load_config(config, SFTRunConfig))
    click.echo(f"{out}: SFT model saved")


@text.command("grpo")
@click.option("--config", "-c", "config", required=True, type=click.Path(path_type=Path))
@friendly_errors
def grpo_cmd(config: Path) -> None:
    """GRPO post-training (TRL GRPOTrainer) with the mean-Dice reward and a KL penalty to the SFT model."""
    _need_text_extra()
    from agriseg.config import load_config
    from agriseg.text.config import GRPORunConfig
    from agriseg.text.grpo import reward_curve, run_grpo

    out = run_grpo(load_config(config, GRPORunConfig))
    curve = reward_curve(json.loads((out / "log_history.json").read_text()))
    if curve:
        click.echo(f"reward (mean Dice) {curve[0][1]:.4f} -> {curve[-1][1]:.4f}; validity {curve[-1][3]:.3f}")
    click.echo(f"{out}: GRPO model saved")


@text.command("predict")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="output folder")
@click.option("--model", "-m", "model_name", required=True, help="trained model folder or HF id")
@click.option("--classes", default=None, help="comma-separated class words (default: from the model folder)")
@click.option("--patch", type=int, default=None, help="patch side in px (default: from the model folder)")
@click.option("--grid", type=int, default=None, help="RRLE grid per patch (default: from the model folder)")
@click.option("--overlap", default=0.0, type=float, help="patch overlap; > 0 votes per pixel")
@click.option("--vote", type=click.Choice(["count", "center"]), default="center")
@click.option("--batch-size", default=16, type=int, help="patches per generate() call")
@click.option("--max-new-tokens", default=512, type=int)
@click.option("--sample/--greedy", default=False, help="sampled (T) or greedy decoding")
@click.option("--temperature", default=1.0, type=float)
@click.option("--instances/--no-instances", default=True, help="watershed instances + polygons")
@click.option(
    "--chat-template", default=None, type=click.Path(path_type=Path), help="Jinja file if the model has none"
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--overwrite", is_flag=True)
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
    overwrite: bool,
) -> None:
    """Segment IMAGES patch by patch: batched generation, repairing decode, stitching (GeoTIFF in -> GeoTIFF
    + GeoJSON polygons out; PNG otherwise). Writes <stem>.tif/.png, <stem>.json (per-patch repairs) and,
    with --instances, <stem>_instances.tif/.png and <stem>.geojson."""
    _need_text_extra()
    from agriseg.text.dataset import list_files
    from agriseg.text.infer import predict_image
    from agriseg.text.instances import semantic_to_instances
    from agriseg.text.io import GEO_SUFFIXES, read_image, write_mask, write_polygons
    from agriseg.text.modeling import load_vlm
    from agriseg.text.sft import read_meta

    meta = read_meta(model_name) if Path(model_name).is_dir() else {}
    names = _class_list(classes) or meta.get("class_names")
    if not names:
        raise ValueError(
            f"{model_name}: no class names saved with the model; give --classes others,field,..."
        )
    patch = patch or meta.get("patch")
    grid = grid or meta.get("grid")
    if not patch or not grid:
        raise ValueError(f"{model_name}: patch/grid not saved with the model; give --patch and --grid")
    files = list_files(list(images))
    out.mkdir(parents=True, exist_ok=True)
    model, proc = load_vlm(
        model_name, device=device, template_path=str(chat_template) if chat_template else None
    )  # type: ignore[arg-type]
    for f in files:
        ext = ".tif" if f.suffix.lower() in GEO_SUFFIXES else ".png"
        target = out / f"{f.stem}{ext}"
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target}: exists (use --overwrite)")
        img, geo = read_image(f)
        sem, preds = predict_image(
            model,
            proc,
            img,
            names,
            patch,
            grid,
            overlap,
            vote,
            batch_size,  # type: ignore[arg-type]
            max_new_tokens,
            sample,
            temperature,
        )
        write_mask(sem, target, geo)
        report = {
            "image": str(f),
            "patches": len(preds),
            "valid_patches": sum(p.report.valid for p in preds),
            "repairs": [
                {"box": list(p.box), "repairs": p.report.summary()} for p in preds if not p.report.valid
            ],
        }
        (out / f"{f.stem}.json").write_text(json.dumps(report, indent=1))
        if instances:
            labels, _ = semantic_to_instances(sem, img)
            write_mask(np_clip_ids(labels), out / f"{f.stem}_instances{ext}", geo)
            write_polygons(labels, sem, names, out / f"{f.stem}.geojson", geo)
        click.echo(f"{target}: {report['valid_patches']}/{len(preds)} patches well-formed")


def np_clip_ids(labels: object) -> object:
    """Instance ids wrapped into 1..255 for an 8-bit raster (0 stays background)."""
    import numpy as np

    a = np.asarray(labels)
    return np.where(a > 0, (a - 1) % 255 + 1, 0)


@text.command("evaluate")
@click.argument("predictions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--truth", "-t", required=True, type=click.Path(path_type=Path), help="folder of true semantic masks"
)
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
@click.option("--model", "model_name", default=None, help="model to report the overhead of")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="write the report as JSON")
@friendly_errors
def evaluate_cmd(
    predictions: tuple[Path, ...],
    truth: Path,
    truth_instances: Path | None,
    classes: str,
    match_iou: float,
    min_size: int,
    model_name: str | None,
    out: Path | None,
) -> None:
    """Instance metrics (per-class mean/median instance IoU with merge-and-match, FNR, FPR), mean Dice and
    the overhead of PREDICTIONS (semantic masks written by `predict`)."""
    import numpy as np
    from scipy import ndimage as ndi

    from agriseg.data import jsonio
    from agriseg.text.dataset import list_files
    from agriseg.text.instances import WatershedConfig, instances_from_ids, semantic_to_instances
    from agriseg.text.io import read_mask
    from agriseg.text.metrics import ClassInstanceStats, instance_report, match_instances, overhead
    from agriseg.text.reward import mean_dice

    names = _class_list(classes)
    if not names or len(names) < 2:
        raise ValueError("--classes needs the background word and at least one class")
    preds = [p for p in list_files(list(predictions)) if "_instances" not in p.stem]
    truth_files = {p.stem: p for p in list_files([truth])}
    inst_files = {p.stem: p for p in list_files([truth_instances])} if truth_instances else {}
    stats: dict[int, ClassInstanceStats] = {}
    dices = []
    for pf in preds:
        if pf.stem not in truth_files:
            raise ValueError(f"{pf}: no truth mask named {pf.stem}.* in {truth}")
        sem = read_mask(pf)
        tsem = read_mask(truth_files[pf.stem])
        if sem.shape != tsem.shape:
            raise ValueError(f"{pf}: shape {sem.shape} != truth {tsem.shape}")
        dices.append(mean_dice(sem, tsem, len(names)))
        plabels, pcls = semantic_to_instances(sem, None, WatershedConfig(min_size=min_size))
        if pf.stem in inst_files:
            tl = read_mask(inst_files[pf.stem])
        else:
            tl = np.zeros_like(tsem)
            nxt = 1
            for c in range(1, len(names)):
                comp, n = ndi.label(tsem == c)
                sizes = np.bincount(comp.ravel(), minlength=n + 1)
                keep = (comp > 0) & (sizes[comp] >= min_size)
                tl[keep] = comp[keep] + nxt - 1
                nxt += n
        match_instances(plabels, pcls, tl, instances_from_ids(tl, tsem), stats, match_iou)
    report: dict = {
        "images": len(preds),
        "mean_dice": float(np.mean(dices)) if dices else float("nan"),
        "instances": instance_report(stats, names),
        "match_iou": match_iou,
    }
    if model_name:
        _need_text_extra()
        from agriseg.text.modeling import load_vlm

        m, _ = load_vlm(model_name, device="cpu")
        report["overhead"] = overhead(m)
    text_out = jsonio.dumps(report)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text_out)
    click.echo(text_out)
