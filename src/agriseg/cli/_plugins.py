"""Import optional CLI modules that attach commands to a group (absent modules are skipped)."""

from __future__ import annotations

import importlib


def load(*modules: str) -> None:
    """Import each module for its side effect of registering commands; skip ones not present."""
    for mod in modules:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as err:
            if err.name != mod:
                raise
