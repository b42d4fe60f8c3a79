"""agriseg: agricultural image segmentation toolkit and CLI."""

from __future__ import annotations

import os as _os
from collections.abc import Callable, Collection, Mapping
from typing import Any

# albumentations (crop training) asks PyPI for a newer version of itself whenever it is imported, in this process
# and in every spawned loader worker: a 2-s wait and a UserWarning on a machine offline, a warning on every run
# when a newer one exists. Set before any agriseg module imports it; a user who set the variable keeps their value.
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
__all__ = ["__version__", "lazy_exports", "quiet"]

QUIET_ENV = "AGRISEG_QUIET"
"""Set (to 1) by ``agriseg -q``, or by a user: no progress bar and no warning, in this process and in every
worker process it starts (they import agriseg, and so apply it too)."""
OFF = ("", "0", "false", "no", "off")  # values of QUIET_ENV that mean no


def quiet(on: bool | None = None) -> bool:
    """Whether progress bars and warnings are off (``agriseg -q``, or :data:`QUIET_ENV` set, not to a value of
    :data:`OFF`).

    Args:
        on: ``True`` turns them off from a script or notebook (agriseg's log warnings, progress bars and the
            warnings Python shows, in this process and the workers it starts), ``False`` on again; None (the
            default) only says whether they are off.

    >>> import agriseg
    >>> agriseg.quiet(True)
    True
    """
    import logging
    import os
    import warnings

    if on is not None:  # 1, numpy's True too; "off" is no boolean (it would be true)
        if isinstance(on, str) or on not in (True, False):
            raise TypeError(f"quiet(on): True, False or None, not {on!r}")
        on = bool(on)
    if on is True and not quiet():  # what quiet(False) puts back: the state the caller had
        env = {v: os.environ.get(v) for v in (QUIET_ENV, *_BARS_OFF)}
        _BEFORE[:] = [(logging.getLogger("agriseg").level, env, list(warnings.filters))]
        os.environ[QUIET_ENV] = "1"
        be_quiet_if_asked()
    elif on is False and quiet():
        level, env, filters = _BEFORE.pop() if _BEFORE else (logging.NOTSET, {}, None)
        logging.getLogger("agriseg").setLevel(level)
        for var in (QUIET_ENV, *_BARS_OFF):
            if env.get(var) is not None:
                os.environ[var] = env[var]  # type: ignore[assignment]  # not None here
            elif var == QUIET_ENV or os.environ.get(var) == "1":  # set by agriseg (quiet before import: guessed)
                os.environ.pop(var, None)
        # take out the one filter quiet(True) added, keeping every filter added since (the caller's, a library's):
        # the earlier ones are the last in the list (filters go in at the front), so it is the first before them
        now = list(warnings.filters)
        older = sum(f == _IGNORE_ALL for f in filters) if filters is not None else 0  # (quiet from before import: 0)
        at = [i for i, f in enumerate(now) if f == _IGNORE_ALL]
        if len(at) > older:
            del now[at[len(at) - older - 1]]
        warnings.filters[:] = now  # type: ignore[index]  # a list at run time
        changed = getattr(warnings, "_filters_mutated", None)  # as warnings.simplefilter itself does
        if changed is not None:
            changed()
    return os.environ.get(QUIET_ENV, "").strip().lower() not in OFF  # false / no / off too, as AGRISEG_MEMORY_CHECK


_IGNORE_ALL = ("ignore", None, Warning, None, 0)  # the filter warnings.simplefilter("ignore") puts first
_BARS_OFF = ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")
_BEFORE: list[tuple[int, dict[str, str | None], list[Any]]] = []  # what quiet(True) changed, for quiet(False)


def be_quiet_if_asked() -> bool:
    """Apply :data:`QUIET_ENV` to this process: agriseg's log shows errors only, Python's warnings and the
    progress bars of the libraries agriseg runs (tqdm, Hugging Face) are off. Returns whether it is set."""
    if not quiet():
        return False
    import logging
    import os
    import warnings

    logging.getLogger("agriseg").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    for var in _BARS_OFF:  # inherited by the workers too
        os.environ.setdefault(var, "1")
    return True


be_quiet_if_asked()


def lazy_exports(
    package: str, exports: Mapping[str, str], hidden: Collection[str] = (), extra: str | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` of a package whose names are imported on first use.

    A pipeline package offers its main names (``from agriseg.crop import load_predictor``) without importing
    the modules that hold them, so importing it loads neither torch, onnxruntime nor rasterio.

    Args:
        package: the package's ``__name__``.
        exports: name -> the module that defines it.
        hidden: names still importable but left out of ``__all__`` and ``dir()`` (deprecated aliases).
        extra: the install extra the names need (:mod:`agriseg.extras`): a name whose module cannot be imported
            for want of one of its libraries raises :class:`agriseg.extras.MissingExtra` saying what to install.

    Returns:
        The three module attributes, e.g. ``__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)``.
    """
    import importlib
    import sys

    public = sorted(n for n in exports if n not in hidden)

    def __getattr__(name: str) -> Any:
        if name in exports:
            try:
                module = importlib.import_module(exports[name])
            except ModuleNotFoundError as err:
                from agriseg.extras import EXTRAS, MissingExtra, install_hint

                if extra is None or (err.name or "").split(".")[0] not in EXTRAS[extra][1]:
                    raise
                raise MissingExtra(install_hint(extra, f"{package}.{name}")) from err  # type: ignore[arg-type]
            return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:  # the lazy names too, for a notebook's tab completion
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__, public
