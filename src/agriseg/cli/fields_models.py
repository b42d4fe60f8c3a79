"""``agriseg fields models list | show | download``: released field models by name, and ``-m NAME``."""

from __future__ import annotations

import click

from agriseg.cli.errors import finish, friendly_errors
from agriseg.cli.options import batch_options


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
@batch_options()
@friendly_errors
def download(names: tuple[str, ...], overwrite: bool, strict: bool) -> None:
    """Download models (NAMES, or all) into the cache; a partial download resumes, sha256 checked if recorded."""
    from agriseg.fields.registry import fetch_models

    finish(fetch_models(list(names), overwrite, strict), "downloaded")
