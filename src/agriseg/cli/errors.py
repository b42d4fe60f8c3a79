"""Turning library errors into clean CLI messages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Report expected errors (bad files, bad configs) as ``Error: <message>`` without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (FileNotFoundError, ValueError, FileExistsError, ImportError) as err:
            raise click.ClickException(str(err)) from err

    return wrapper
