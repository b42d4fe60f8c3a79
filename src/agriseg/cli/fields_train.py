"""``agriseg fields make-synthetic | train | evaluate | robustness``: the PRUE recipe on FTW data."""

from __future__ import annotations

from pathlib import Path

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.fields_models import MODEL_HELP, resolve_model_option
from agriseg.cli.options import config_option, model_file_option, output_option, overwrite_option

_WINDOWS = click.Choice(["ab", "ba", "a", "b"])


def _countries(value: str, root: str | None = None) -> tuple[list[str] | str, list[str]]:
    """A --countries value; with a root, only the asked countries present there, and the missing ones.

    A partial FTW download holds only some countries: ``all`` (or a list) scores those that are there and
    names the others on stderr.

    Raises:
        FileNotFoundError: none of the asked countries is under ``root``.
    """
    from agriseg.fields.dataset import FTW_COUNTRIES, check_countries, countries_present

    asked = (
        list(FTW_COUNTRIES)
        if value.strip() == "all"
        else check_countries([c.strip() for c in value.split(",") if c.strip()])
    )
    if root is None:
        return ("all" if value.strip() == "all" else asked), []
    present, _ = countries_present(root)
    missing = [c for c in asked if c not in present]
    if len(missing) == len(asked):
        raise FileNotFoundError(f"{root}: none of the asked countries is there ({', '.join(asked)})")
    if missing:
        click.echo(f"{root}: {len(missing)} FTW countries not present, not scored: {', '.join(missing)}", err=True)
    return [c for c in asked if c in present], missing


def _write_json(path: str | None, res: dict, overwrite: bool) -> None:
    if not path:
        return
    from agriseg.data.files import write_json

    p = Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p}: exists (use --overwrite)")
    write_json(p, res)
    click.echo(f"report: {p}")


@click.command()
@config_option("YAML run config.")
@click.option("--resume", type=click.Path(dir_okay=False), default=None, help="Lightning checkpoint to resume from.")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Override the config's epochs.")
@click.option("--max-minutes", type=float, default=None, help="Override the config's training wall-time limit.")
@click.option("--no-test", is_flag=True, help="Skip scoring the test split at the end.")
@friendly_errors
def train(config_path: str, resume: str | None, epochs: int | None, max_minutes: float | None, no_test: bool) -> None:
    """Train a field-boundary model (PRUE / FTW recipe) from a config."""
    from agriseg.config import load_config
    from agriseg.fields.config import FieldsTrainConfig
    from agriseg.fields.metrics import format_report
    from agriseg.fields.train import train_fields

    cfg = load_config(config_path, FieldsTrainConfig)
    if max_minutes is not None:
        cfg.train.max_time_minutes = max_minutes
    res = train_fields(cfg, resume=resume, max_epochs=epochs, evaluate_test=not no_test)
    click.echo(f"best checkpoint: {res['best_checkpoint']}\nmodel: {res['model']}")
    click.echo(
        f"training time: {res['train_seconds'] / 60:.1f} min   validation: "
        + "  ".join(f"{k} {v:.4f}" for k, v in res["val"].items())
    )
    if res["test"]:
        click.echo("test split:\n" + format_report(res["test"]))


@click.command()
@model_file_option(MODEL_HELP, ("-m", "--model"), callback=resolve_model_option)
@click.option("--root", required=True, type=click.Path(file_okay=False), help="FTW root folder.")
@click.option("--countries", default="all", help="Comma-separated FTW countries, or 'all'.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", help="Split to score.")
@click.option(
    "--target",
    type=click.Choice(["2-class", "3-class"]),
    default="3-class",
    help="Label masks to score against.",
)
@click.option("--windows", type=_WINDOWS, default=None, help="Window order of the input. [default: the model's]")
@click.option("--offset", type=float, default=0.0, help="DN offset before scaling (FTW chips: 0).")
@click.option("--batch-size", type=click.IntRange(1), default=8)
@click.option("--iou-threshold", type=click.FloatRange(0.5, 1.0, max_open=True), default=0.5, help="Object IoU.")
@click.option("--bootstrap", type=click.IntRange(0), default=1000, help="Bootstrap resamples for 95% intervals.")
@click.option("--missing", type=click.Choice(["error", "skip"]), default="error", help="Chips with missing files.")
@output_option("Write the report as JSON.", required=False)
@overwrite_option("Replace an existing report.")
@friendly_errors
def evaluate(
    model_path: str,
    root: str,
    countries: str,
    split: str,
    target: str,
    windows: str | None,
    offset: float,
    batch_size: int,
    iou_threshold: float,
    bootstrap: int,
    missing: str,
    output: str | None,
    overwrite: bool,
) -> None:
    """Score a model on FTW chips: pixel/object metrics (FTW rules), COCO AP, per country, 95% CIs."""
    from agriseg.fields.checkpoints import load_fields_model
    from agriseg.fields.dataset import FTWDataset
    from agriseg.fields.evaluate import evaluate_model
    from agriseg.fields.metrics import format_report

    model, cfg, info = load_fields_model(model_path)
    order = windows or info.get("windows", "ab")
    present, absent = _countries(countries, root)
    ds = FTWDataset(root, present, split, target, order, float(info.get("divisor", 3000.0)), offset, missing)
    from agriseg.fields.sentinel2 import channels_for

    if channels_for(order) != cfg.in_channels:
        raise ValueError(
            f"{model_path}: model takes {cfg.in_channels} channels, --windows {order} gives {channels_for(order)}"
        )
    res = evaluate_model(model, ds, batch_size, iou_threshold=iou_threshold, n_boot=bootstrap, progress=True)
    res.update({"model": model_path, "root": root, "split": split, "target": target, "windows": order})
    res["countries_missing"] = absent
    click.echo(format_report(res))
    _write_json(output, res, overwrite)


@click.command()
@model_file_option(MODEL_HELP, ("-m", "--model"), callback=resolve_model_option)
@click.option(
    "--scene",
    type=click.Path(dir_okay=False),
    default=None,
    help="An 8-band (or 4-band) Sentinel-2 GeoTIFF without labels: reports prediction agreement.",
)
@click.option("--root", type=click.Path(file_okay=False), default=None, help="FTW root (with labels: metric deltas).")
@click.option("--countries", default="all", help="Comma-separated FTW countries, or 'all' (with --root).")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", help="Split (with --root).")
@click.option("--max-chips", type=click.IntRange(1), default=256, help="Use at most this many chips.")
@click.option(
    "--offset",
    type=float,
    default=0.0,
    help="DN offset of the input (-1000 for raw processing-baseline >= 04.00 L2A).",
)
@click.option("--chip", type=click.IntRange(64), default=256, help="Chip size S for scenes.")
@click.option("--stride", type=click.IntRange(16), default=128, help="Chip stride for scenes.")
@click.option("--crop", type=click.IntRange(33), default=192, help="Corner-crop size p (S/2 < p < S).")
@click.option("--batch-size", type=click.IntRange(1), default=8)
@output_option("Write the report as JSON.", required=False)
@overwrite_option("Replace an existing report.")
@friendly_errors
def robustness(
    model_path: str,
    scene: str | None,
    root: str | None,
    countries: str,
    split: str,
    max_chips: int,
    offset: float,
    chip: int,
    stride: int,
    crop: int,
    batch_size: int,
    output: str | None,
    overwrite: bool,
) -> None:
    """PRUE deployment metrics: corner consistency, input-order, preprocessing and scale sensitivity."""
    import numpy as np
    import torch

    from agriseg.fields.checkpoints import load_fields_model
    from agriseg.fields.robustness import RobustnessConfig, format_robustness, robustness_report, scene_chips
    from agriseg.fields.sentinel2 import channels_for, read_s2, to_reflectance

    if (scene is None) == (root is None):
        raise ValueError("give exactly one of --scene (no labels) or --root (FTW chips with labels)")
    model, cfg, info = load_fields_model(model_path)
    divisor = float(info.get("divisor", 3000.0))
    labels = None
    if scene is not None:
        arr, _ = read_s2(scene, bands=cfg.in_channels)
        chips, _pos = scene_chips(to_reflectance(arr, offset), chip, stride)
        refl = torch.from_numpy(chips[:max_chips])
    else:
        from agriseg.fields.dataset import FTWDataset

        order = info.get("windows", "ab")
        if channels_for(order) != cfg.in_channels:
            raise ValueError(f"{model_path}: model takes {cfg.in_channels} channels, windows {order}")
        ds = FTWDataset(
            root,
            _countries(countries, root)[0],
            split,
            "3-class" if cfg.num_classes == 3 else "2-class",
            order,
            None,
            offset,
        )
        idx = np.linspace(0, len(ds) - 1, min(max_chips, len(ds))).round().astype(int)
        items = [ds[int(i)] for i in idx]
        refl = torch.stack([it["image"] for it in items])
        labels = torch.stack([it["mask"] for it in items])
    rcfg = RobustnessConfig(crop=crop, divisor=divisor, batch_size=batch_size)
    res = robustness_report(model, refl, labels, rcfg)
    res.update({"model": model_path, "input": scene or root})
    click.echo(format_robustness(res))
    _write_json(output, res, overwrite)


@click.command("make-synthetic")
@click.argument("root", type=click.Path(file_okay=False))
@click.option("--countries", default="austria:40,kenya:8", help="country:chips pairs, comma-separated.")
@click.option("--size", type=click.IntRange(32), default=256, help="Chip side in pixels (FTW: 256).")
@click.option("--fields-per-chip", default="8,22", help="min,max Voronoi cells per chip.")
@click.option("--seed", type=int, default=0)
@overwrite_option("Write into an existing non-empty folder.")
@friendly_errors
def make_synthetic(root: str, countries: str, size: int, fields_per_chip: str, seed: int, overwrite: bool) -> None:
    """Write synthetic chips in the exact FTW layout (for tests and pipeline checks; not for accuracy)."""
    from agriseg.fields.dataset import check_countries
    from agriseg.fields.synthetic import SyntheticFTWConfig, make_synthetic_ftw

    p = Path(root)
    if p.exists() and any(p.iterdir()) and not overwrite:
        raise FileExistsError(f"{p}: not empty (use --overwrite)")
    counts: dict[str, int] = {}
    for item in countries.split(","):
        name, _, n = item.partition(":")
        counts[check_countries([name])[0]] = int(n or 20)
    lo, hi = (int(v) for v in fields_per_chip.split(","))
    done = make_synthetic_ftw(p, SyntheticFTWConfig(countries=counts, size=size, fields_per_chip=(lo, hi), seed=seed))
    click.echo(f"{sum(done.values())} chips -> {p} ({', '.join(f'{k} {v}' for k, v in done.items())})")
