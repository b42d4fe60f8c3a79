"""Helpers shared by the ``agriseg text`` commands."""

from __future__ import annotations

from typing import Any

import click


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


def _resolve_model(name: str) -> str:
    """``--model`` checked at once: a mistyped folder is a usage error (exit 2), not a minute of Hub retries."""
    from agriseg.text.modeling import resolve_model_name

    try:
        return resolve_model_name(name)
    except FileNotFoundError as err:
        raise click.BadParameter(str(err), param_hint="'--model'") from err


def _check_class_words(processor: Any, names: list[str], model: str) -> None:
    """``--classes`` words the model's vocabulary lacks are a usage error (exit 2) naming them."""
    from agriseg.text.modeling import check_class_words

    try:
        check_class_words(processor, names, model)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="'--classes'") from err
