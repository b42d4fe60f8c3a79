"""``agriseg fields make-synthetic | train | evaluate | robustness``: the PRUE recipe on FTW data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agriseg import quiet
from agriseg.batch import counted
from agriseg.cli.errors import config_named, echo_failures, friendly_errors
from agriseg.cli.options import (
    FIELDS_EVALUATE,
    FIELDS_SYNTHETIC,
    InputPath,
    OffsetType,
    batch_size_option,
    config_from_params,
    config_option,
    iou_threshold_option,
    memory_check_option,
    model_option,
    option,
    outdir_option,
    output_option,
    overwrite_option,
    refuse_unread,
    seed_option,
    stack,
    train_options,
    train_overrides,
    warn_renamed,
)


def _check_report(path: Path | None, overwrite: bool, root: str | None = None) -> None:
    """Refuse a report path that cannot be written before the work starts (it may take minutes), or that lies
    among the files of the FTW ``root`` the run reads (``<root>/<country>/``: its chips table, images, labels)
    or is the root's record of what made it, ``--overwrite`` or not."""
    if not path:
        return
    from agriseg.batch import check_output
    from agriseg.config import OptionError
    from agriseg.data.files import ensure_outdir
    from agriseg.fields.dataset import FTW_COUNTRIES

    if root is not None:
        target = Path(path).resolve()
        read = next((d for c in FTW_COUNTRIES if (d := Path(root, c).resolve()) in target.parents), None)
        if read is not None:
            raise OptionError(f"-o {path}: inside {read}, whose files the run reads; write the report elsewhere")
        from agriseg.batch.outputs import MADE

        if target == Path(root, MADE).resolve():  # the data set's record of what made it (make-synthetic's check)
            raise OptionError(f"-o {path}: the record of what made {root}; write the report elsewhere")
    check_output(path, overwrite)
    ensure_outdir(Path(path).parent)


def _write_report(path: Path | None, res: dict, overwrite: bool) -> None:
    if not path:
        return
    from agriseg.batch import check_output
    from agriseg.data.files import write_json

    write_json(check_output(path, overwrite), res)
    click.echo(f"report: {path}")


_chips = stack(
    option("--countries", config=FIELDS_EVALUATE, help="Comma-separated FTW countries, or 'all'."),
    option("--split", config=FIELDS_EVALUATE, type="choice", help="Split to score."),
    option(
        "--offset",
        config=FIELDS_EVALUATE,
        type=OffsetType(),
        help="Sentinel-2 BOA_ADD_OFFSET, as fields predict takes it: auto (a scene's BOA_ADD_OFFSET / "
        "processing-baseline tags; FTW chips, harmonised: none), none, apply (-1000), or a DN offset.",
    ),
    batch_size_option("fields", FIELDS_EVALUATE),
)


@click.command()
@config_option("fields")
@train_options()
@click.option("--no-test", is_flag=True, help="Skip scoring the test split at the end.")
@friendly_errors
def train(config_path: Path, resume: str | None, overwrite: bool, no_test: bool, **flags: Any) -> None:
    """Train a field-boundary model (PRUE / FTW recipe) from a config."""
    from agriseg.config import load_config
    from agriseg.fields.config import FieldsTrainConfig

    overrides = train_overrides(**flags)
    cfg = load_config(config_path, FieldsTrainConfig, overrides)  # before Lightning's 10 s import
    from agriseg.fields.metrics import format_report
    from agriseg.fields.train import train_fields

    with config_named(config_path, overrides):
        res = train_fields(cfg, resume=resume, evaluate_test=not no_test, overwrite=overwrite)
    click.echo(res["summary"])
    if res["test"]:
        click.echo("test split:\n" + format_report(res["test"]))


@click.command()
@model_option("fields", dest="model_path", required=True, resolve=False)  # downloaded after the checks
@click.option("--root", required=True, type=InputPath(file_okay=False), help="FTW root folder.")
@_chips
@option("--target", config=FIELDS_EVALUATE, type="choice", help="Label masks to score against.")
@option(
    "--windows", config=FIELDS_EVALUATE, type="choice", show_default="the model's", help="Window order of the input."
)
@iou_threshold_option("fields", FIELDS_EVALUATE)
@option(
    "--bootstrap", config=FIELDS_EVALUATE, type=int, help="Bootstrap resamples for 95% intervals (0: none; else >= 20)."
)
@option("--missing", config=FIELDS_EVALUATE, type="choice", help="Chips with missing files: an error, or skipped.")
@output_option("Write the report as JSON.", required=False, suffixes=(".json",))
@overwrite_option()
@friendly_errors
def evaluate(model_path: str, root: str, output: Path | None, overwrite: bool, **params: object) -> None:
    """Score a model on FTW chips: pixel/object metrics (FTW rules), COCO AP, per country, 95% CIs."""
    from agriseg.fields.config import FieldsEvaluateConfig
    from agriseg.fields.metrics import format_report
    from agriseg.fields.scoring import evaluate_ftw

    _check_report(output, overwrite, root)
    res = evaluate_ftw(model_path, root, config_from_params(FieldsEvaluateConfig, params))
    missing = res["countries_missing"]
    # the countries asked for by name that the root lacks; "all" of a root of one country listed the other 24 at
    # every run, under -q too (session 103's sweep)
    if missing and str(params.get("countries") or "all").strip().lower() != "all" and not quiet():
        click.echo(f"{root}: {len(missing)} FTW countries not present, not scored: {', '.join(missing)}", err=True)
    click.echo(format_report(res))
    _write_report(output, res, overwrite)
    echo_failures(res["failed"])  # chips that could not be scored; the others are
    if res["failed"]:
        raise SystemExit(1)


@click.command()
@model_option("fields", dest="model_path", required=True, resolve=False)  # downloaded after the checks
@click.option(
    "--scene",
    type=InputPath(dir_okay=False),
    default=None,
    help="An 8-band (or 4-band) Sentinel-2 GeoTIFF without labels: reports prediction agreement.",
)
@click.option("--root", type=InputPath(file_okay=False), default=None, help="FTW root (with labels: metric deltas).")
@_chips
@option("--max-chips", config=FIELDS_EVALUATE, type=int, help="Use at most this many chips.")
@option("--missing", config=FIELDS_EVALUATE, type="choice", help="Chips with missing files: an error, or skipped.")
@option("--chip", config=FIELDS_EVALUATE, type=int, help="Chip size S for scenes.")
@option("--stride", config=FIELDS_EVALUATE, type=int, help="Chip stride for scenes.")
@option(
    "--crop",
    config=FIELDS_EVALUATE,
    type=int,
    show_default="3/4 of the chip side",
    help="Corner-crop size p (S/2 < p < S).",
)
@output_option("Write the report as JSON.", required=False, suffixes=(".json",))
@overwrite_option()
@friendly_errors
def robustness(
    model_path: str, scene: str | None, root: str | None, output: Path | None, overwrite: bool, **params: object
) -> None:
    """PRUE deployment metrics: corner consistency, input-order, preprocessing and scale sensitivity."""
    from agriseg.fields.config import FieldsEvaluateConfig
    from agriseg.fields.robustness import format_robustness
    from agriseg.fields.scoring import robustness as run

    if root is not None:
        refuse_unread(["chip", "stride"], "read with --scene only (--root reads the FTW chips as they are)")
    if scene is not None:
        refuse_unread(["countries", "split", "missing"], "read with --root only (FTW chips)")
    _check_report(output, overwrite, root)
    res = run(model_path, scene, root, config_from_params(FieldsEvaluateConfig, params))
    click.echo(format_robustness(res))
    _write_report(output, res, overwrite)
    echo_failures(res.get("failed", []))  # chips that could not be read; the others are scored
    if res.get("failed"):
        raise SystemExit(1)


class _HiddenRoot(click.Command):
    """Hides the old positional ROOT of make-synthetic from the usage line (it still works, deprecated)."""

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [p for p in super().collect_usage_pieces(ctx) if p not in ("[ROOT]", "ROOT")]


@click.command("make-synthetic", cls=_HiddenRoot)
@click.argument("root", required=False, type=InputPath(file_okay=False, path_type=Path))
@outdir_option("Output FTW root folder (required).", short=True, required=False)  # ROOT, deprecated, may stand in
@option("--countries", config=FIELDS_SYNTHETIC, help="country:chips pairs, comma-separated (a country alone: 20).")
@option("--size", config=FIELDS_SYNTHETIC, type=int, help="Chip side in pixels (FTW: 256).")
@option("--fields-per-chip", config=FIELDS_SYNTHETIC, help="min,max Voronoi cells per chip.")
@seed_option("Random seed (the same seed, the same chips).", FIELDS_SYNTHETIC)
@overwrite_option()
@memory_check_option()
@friendly_errors
def make_synthetic(root: Path | None, outdir: Path | None, overwrite: bool, **params: object) -> None:
    """Write synthetic chips in the exact FTW layout (for tests and pipeline checks; not for accuracy)."""
    from agriseg.batch import already_made, already_there, check_output
    from agriseg.fields.config import SyntheticFTWConfig
    from agriseg.fields.scoring import make_synthetic as run
    from agriseg.fields.synthetic import MADE_BY, synthetic_settings

    if root is not None and outdir is not None:
        raise click.UsageError(f"{root} and -o {outdir}: give the folder once, as -o (ROOT is deprecated)")
    if root is not None:
        warn_renamed("the positional ROOT", "-o ROOT")
    folder = outdir or root
    if folder is None:
        raise click.UsageError("Missing option '-o' / '--outdir'.")
    cfg = config_from_params(SyntheticFTWConfig, params)
    if not overwrite and already_made(folder, MADE_BY, synthetic_settings(cfg)):
        click.echo(already_there(folder))
        return
    check_output(folder, overwrite, empty_dir_ok=True)
    done = run(folder, cfg)
    click.echo(f"{counted(sum(done.values()), 'chip')} -> {folder} ({', '.join(f'{k} {v}' for k, v in done.items())})")
