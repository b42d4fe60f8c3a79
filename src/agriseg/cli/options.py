"""Options shared by several commands, defined once so their flags, defaults and help agree everywhere.

Conventions: ``-o/--output`` names a file, ``-o/--outdir`` a folder, ``-c/--config`` a YAML run config,
``--overwrite`` replaces existing outputs (otherwise they are kept, so re-running a batch resumes it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
T = TypeVar("T", bound=BaseModel)


def stack(*decorators: Decorator) -> Decorator:
    """Apply several option decorators as one (in the order listed, top to bottom)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        for d in reversed(decorators):
            fn = d(fn)
        return fn

    return wrap


def config_option(help: str = "YAML run config.") -> Decorator:
    """``-c/--config`` (required; the parameter is ``config_path``)."""
    return click.option(
        "-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help=help
    )


def output_option(help: str, required: bool = True, dest: str = "output") -> Decorator:
    """``-o/--output``: a file."""
    return click.option(
        "-o", "--output", dest, required=required, default=None, type=click.Path(dir_okay=False), help=help
    )


def outdir_option(help: str = "Output folder.", dest: str = "outdir") -> Decorator:
    """``-o/--outdir``: a folder (required)."""
    return click.option(
        "-o", "--outdir", dest, required=True, type=click.Path(file_okay=False, path_type=Path), help=help
    )


def overwrite_option(help: str = "Replace existing outputs (otherwise they are kept and skipped).") -> Decorator:
    """``--overwrite``."""
    return click.option("--overwrite", is_flag=True, help=help)


def model_file_option(
    help: str,
    flags: Sequence[str] = ("--model",),
    dest: str = "model_path",
    callback: Callable[[click.Context, click.Parameter, Any], Any] | None = None,
) -> Decorator:
    """A required model file option (``callback`` may turn a model name into a file)."""
    return click.option(*flags, dest, required=True, type=click.Path(dir_okay=False), callback=callback, help=help)


def choice_options(prefix: str, *specs: tuple[str, Sequence[str] | type | Any, Any, str]) -> Decorator:
    """One option per ``(flag, choices or click type, default, help)``; ``help`` is prefixed with ``prefix``.

    A sequence of strings becomes a ``click.Choice``; anything else is used as the click type.
    """
    decorators = []
    for flag, kind, default, text in specs:
        ptype = click.Choice(list(kind)) if isinstance(kind, list | tuple) else kind
        decorators.append(
            click.option(flag, type=ptype, default=default, show_default=default is not None, help=prefix + text)
        )
    return stack(*decorators)


INDEX_CHOICES = ("exg", "exg_exr", "cive", "lab_a", "auto")
DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"


def pseudolabel_source_options(
    index_help: str = "Vegetation index (--source index); auto = best fit per image.",
) -> Decorator:
    """Where pseudo-labels come from: ``--source``, ``--index``, ``--depth-dir``, ``--depth-model``."""
    return stack(
        click.option(
            "--source",
            type=click.Choice(["index", "depth"]),
            default="index",
            show_default=True,
            help="Threshold a vegetation index of the photo, or its depth map.",
        ),
        click.option(
            "--index",
            "index_name",
            type=click.Choice(list(INDEX_CHOICES)),
            default="cive",
            show_default=True,
            help=index_help,
        ),
        click.option(
            "--depth-dir",
            type=click.Path(file_okay=False, exists=True),
            default=None,
            help="Depth files matched by image name (16-bit PNG, TIFF, .npy). Without it, depth is estimated.",
        ),
        click.option(
            "--depth-model",
            default=DEPTH_MODEL,
            show_default=True,
            help="Depth Anything V2 model id or local directory (when no --depth-dir).",
        ),
    )


def set_option() -> Decorator:
    """``--set key=value`` (repeatable): override a config option without editing the file."""
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config option, e.g. --set dataset=runs/my_data --set lora.r=8 (repeatable).",
    )


def _parse_bands(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if not value:
        return None
    try:
        bands = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: three comma-separated band numbers, e.g. 3,2,1") from None
    if len(bands) != 3 or min(bands) < 1:
        raise click.BadParameter(f"{value!r}: three band numbers from 1, e.g. 3,2,1")
    return bands


def bands_option() -> Decorator:
    """``--bands R,G,B``: which bands of a multi-band raster are red, green and blue (1-based)."""
    return click.option(
        "--bands",
        default=None,
        callback=_parse_bands,
        help="Bands of a multi-band GeoTIFF / JPEG 2000 read as red, green, blue, e.g. 3,2,1 for BGRN "
        "(default: bands described red/green/blue, else 1,2,3).",
    )


def keep_option(help: str = "Only photos accepted in this screening export (accepted.json).") -> Decorator:
    """``--keep``: a screening export."""
    return click.option("--keep", type=click.Path(dir_okay=False, exists=True), default=None, help=help)


def config_from_params(cls: type[T], params: dict[str, Any], renames: dict[str, str] | None = None) -> T:
    """Build a config from a command's parameters: those named like a field of ``cls`` (or renamed to one).

    Options are named after the config fields they set, so commands pass ``click``'s parameters on instead of
    listing every field again; the config validates them (a bad value is a clear error).
    """
    renames = renames or {}
    data = {renames.get(k, k): list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    return cls.model_validate({k: v for k, v in data.items() if k in cls.model_fields})
