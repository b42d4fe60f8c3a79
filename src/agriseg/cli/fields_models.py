"""``agriseg fields models list | show | download | trust``: released field models by name, and ``-m NAME``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agriseg.cli.errors import finish, friendly_errors
from agriseg.cli.options import Group, NameOrPath, batch_options, sha256_option

if TYPE_CHECKING:
    from agriseg.batch import BatchOptions


@click.group(cls=Group)
def models() -> None:
    """Released field-boundary models (FTW baselines, PRUE, DelineateAnything): list, show, download, trust.

    The cache is the user cache folder (AGRISEG_CACHE_DIR overrides it); AGRISEG_MODELS_BASE_URL replaces
    every download address with a mirror (<base>/<release file>, or <base>/<host>/<path> for full URLs).
    DelineateAnything files are pickles: they load only after `agriseg fields models trust NAME`.
    """


@models.command("list")
@friendly_errors
def list_() -> None:
    """One line per model: name, cache state, licence, windows, whether it is polygonised, title (* = default).

    NC = trained partly on non-commercial data; AGPL-3.0 = weights run by ultralytics (AGPL-3.0 too,
    `pip install "agriseg[delineate]"`).
    """
    from agriseg.fields.registry import MODELS, cache_dir, status

    rows = [("", "name", "state", "licence", "input", "output", "title")]
    for spec in MODELS.values():
        licence = "mixed, NC" if not spec.commercial_use and spec.kind != "instance" else spec.licence
        windows = "2 windows" if spec.windows == "ab" else "1 window"
        inputs = f"{windows} {'RGBN' if 'nir' in spec.bands else 'RGB'}"
        output = "classes, polygonised" if spec.needs_polygonize else "instances"
        rows.append(("*" if spec.default else " ", spec.name, status(spec), licence, inputs, output, spec.title))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]  # columns as wide as their longest value
    for r in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + f"  {r[6]}")
    click.echo(f"cache: {cache_dir()}")


@models.command()
@click.argument("name")
@friendly_errors
def show(name: str) -> None:
    """Everything recorded about one model, with its URL and cache path."""
    from agriseg.fields.registry import cached_path, get_spec, status

    spec = get_spec(name)
    for key, value in spec.model_dump().items():
        if key == "sha256_prefix" and value is None:  # only a release whose file name carries one has it
            continue
        click.echo(f"{key}: {_readable(key, value)}")
    click.echo(f"needs_polygonize: {_readable('', spec.needs_polygonize)}")
    click.echo(f"url: {spec.url}\ncache: {cached_path(spec)} ({status(spec)})")
    if spec.kind == "instance":
        click.echo(
            'note: AGPL-3.0 weights, run by ultralytics (AGPL-3.0): pip install "agriseg[delineate]"; a pickle '
            f"with no published digest: load it after `agriseg fields models trust {spec.name}`"
        )
    elif not spec.commercial_use:
        click.echo("note: trained partly on non-commercial data (CC-BY-NC-SA): check the licences for commercial use")


def _readable(key: str, value: object) -> str:
    """One recorded value as a person reads it: lists joined, yes/no, "not published" for a missing digest."""
    if value is None:
        return "not recorded" if key.startswith("sha256") else "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if key == "windows":
        return {"ab": "2 (start and end of season)", "a": "1 (window A)"}.get(str(value), str(value))
    if key == "size" and isinstance(value, int):
        return f"{value:,} bytes"
    return str(value)


@models.command()
@click.argument("names", nargs=-1, required=True)
@batch_options()
@friendly_errors
def download(names: tuple[str, ...], batch: BatchOptions) -> None:
    """Download models (NAMES, or all) into the cache; a partial download resumes, sha256 checked if recorded."""
    from agriseg.fields.registry import fetch_models

    finish(fetch_models(list(names), batch), "downloaded")


@models.command()
@click.argument("model", type=NameOrPath())
@sha256_option("The digest you expect; the file must match it (64 hex digits).")
@friendly_errors
def trust(model: str, sha256: str | None) -> None:
    """Trust a pickled model (DelineateAnything .pt, a registry NAME or a FILE): record its SHA-256.

    A NAME is downloaded first if needed. Without --sha256 the file must match the digest prefix its
    published name carries, where it has one. Later loads check the file against the recorded digests.
    Only trust a file whose origin you checked: a pickle runs code when it is loaded.
    """
    from agriseg.fields.trust import trust_model, trust_store

    path, digest = trust_model(model, sha256)
    click.echo(f"{path}: trusted, sha256 {digest} (recorded in {trust_store()})")
