"""Deprecated alias of :mod:`agriseg.text` (renamed); it will be removed in the next release.

``import agriseg.textmask.codec`` and ``from agriseg.textmask import decode_rrle`` keep working and give the
very same module objects as ``agriseg.text``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from agriseg.text import *  # noqa: F403
from agriseg.text import __all__  # noqa: F401

warnings.warn("agriseg.textmask is now agriseg.text", DeprecationWarning, stacklevel=2)


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``agriseg.textmask.<name>`` to the already-imported ``agriseg.text.<name>``."""

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN201 - importlib protocol
        if fullname.startswith(__name__ + "."):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):  # noqa: ANN001, ANN201
        return importlib.import_module("agriseg.text" + spec.name[len(__name__) :])

    def exec_module(self, module) -> None:  # noqa: ANN001
        sys.modules[module.__spec__.name] = module


sys.meta_path.insert(0, _Alias())
