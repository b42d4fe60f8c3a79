"""``agriseg fields models list | show | download``: released field models by name, and ``-m NAME``."""

from __future__ import annotations

from typing import Any

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.options import overwrite_option

MODEL_HELP = (
    "model file (agriseg .safetensors/.ckpt, ftw-tools/PRUE .ckpt) or a released model's name "
    "(agriseg fields models list), downloaded once into the cache"
)


def resolve_model_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Click callback of every ``-m/--model``: a registry name becomes the cached file (fetched once)."""
    if value is None:
        return None
    from agriseg.fields.registry import MODELS, resolve_model

    try:
        return resolve_model(str(value))
    except ValueError as err:
        if str(value) not in MODELS:
            raise click.BadParameter(str(err), ctx, param) from err
        raise click.ClickException(str(err)) from err


@click.group()
def models() -> None:
    """Released field-boundary models (FTW baselines, PRUE): list, show, download into the cache.

    The cache is the user cache folder (AGRISEG_CACHE_DIR overrides it); AGRISEG_MODELS_BASE_URL replaces
    the release address (a mirror).
    """


@models.command("list")
@friendly_errors
def list_() -> None:
    """One line per model: name, whether it is cached, licence, title (* = default; NC = non-commercial data)."""
    from agriseg.fields.registry import MODELS, cache_dir, status

    for spec in MODELS.values():
        mark = "*" if spec.default else " "
        licence = spec.licence if spec.commercial_use else "mixed, NC"
        click.echo(f"{mark} {spec.name:34s} {status(spec):15s} {licence:10s} {spec.title}")
    click.echo(f"cache: {cache_dir()}")


@models.command()
@click.argument("name")
@friendly_errors
def show(name: str) -> None:
    """Everything recorded about one model, with its URL and cache path."""
    from agriseg.fields.registry import cached_path, get_spec, status

    spec = get_spec(name)
    for key, value in spec.model_dump().items():
        click.echo(f"{key}: {value}")
    click.echo(f"url: {spec.url}\ncache: {cached_path(spec)} ({status(spec)})")
    if not spec.commercial_use:
        click.echo("note: trained partly on non-commercial data (CC-BY-NC-SA): check the licences for commercial use")


@models.command()
@click.argument("names", nargs=-1, required=True)
@overwrite_option("Download again even if cached.")
@friendly_errors
def download(names: tuple[str, ...], overwrite: bool) -> None:
    """Download models (NAMES, or all) into the cache; a partial download resumes, sha256 checked if recorded."""
    from agriseg.fields.registry import MODELS, fetch, get_spec

    wanted = list(MODELS) if names == ("all",) else list(names)
    for n in wanted:
        get_spec(n)  # every name valid before any download
    for n in wanted:
        click.echo(f"{n}: {fetch(n, overwrite=overwrite)}")
