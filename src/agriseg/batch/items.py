"""A batch's items and their output names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Item:
    """One unit of a batch.

    Args:
        name: the item's unique output name (see :func:`unique_names`).
        source: what the user gave (a file, or an area's name); every message about the item starts with it.
        outputs: every file the item writes; the item is done only when all of them are there.
        inputs: the files its outputs are made from (the photo, its mask, the scene...).
        resolved: values decided for this item that change its outputs (e.g. season dates).
        payload: whatever the work function needs (must pickle for a Dask executor).
        uses_model: whether the run's model makes its outputs; ``False`` for an input measured as it is (a mask
            file in ``crop traits``), whose fingerprint then names no model, so a run with or without a model
            resumes it.
        same_as: other ``resolved`` values whose outputs are these (as an earlier agriseg recorded them): outputs
            recorded with one resume (:meth:`agriseg.fingerprint.Recipe.changes`).
    """

    name: str
    source: str | Path
    outputs: tuple[Path, ...]
    inputs: tuple[Path, ...] = ()
    resolved: Mapping[str, Any] = field(default_factory=dict)
    payload: Any = None
    uses_model: bool = True
    same_as: tuple[Mapping[str, Any], ...] = ()

    def replaces(self, overwrite: bool) -> bool:
        """Whether the work function must replace outputs it finds: with ``overwrite``, or when one is there.

        The runner hands work only the items it remakes (new, unfinished, or ``--overwrite``), so an output
        already there is stale, e.g. one that an interrupted ``--overwrite`` run left (its record says unfinished).
        A pipeline that keeps an existing output of its own accord must not keep that one, unless the output
        itself shows it was made from the same inputs and settings and the user did not ask for ``--overwrite``
        (``fields``: the run fingerprint a probability COG carries, the request digest of a downloaded scene).
        """
        return overwrite or any(p.exists() for p in self.outputs)


def unique_names(
    files: Iterable[str | Path], outdir: str | Path | None = None, command: str | None = None, item_suffix: str = ""
) -> dict[Path, str]:
    """A distinct output name per input file (inputs sharing a stem get their suffix, then folders added).

    With ``outdir`` and ``command``: a file ``command`` gave outputs in ``outdir`` before keeps their name
    (see :func:`agriseg.data.io.output_names`); ``item_suffix``: what the command's item names add to the name
    (``fields predict`` names its items ``<name>_probs``).
    """
    from agriseg.data.io import output_names

    given = None
    if outdir is not None and command:
        from agriseg.manifest import recorded_names

        given = {
            src: name.removesuffix(item_suffix)
            for src, name in recorded_names(outdir, command).items()
            if name.endswith(item_suffix) and name != item_suffix
        }
    names = output_names((Path(f) for f in files), given)
    _say_renamed(names)
    return names


_SAID_RENAMED: set[frozenset[tuple[Path, str]]] = set()  # each set of renamings is said once per process


def _say_renamed(names: Mapping[Path, str]) -> None:
    """Warn of inputs whose outputs take a longer name than their stem (two inputs share it): ``dup.jpg`` and
    ``dup.png`` were written as ``dup_jpg`` and ``dup_png`` without a word, and a later match by stem (the
    truth masks of ``text evaluate``) found neither."""
    from collections import Counter

    from agriseg.data.io import name_key

    # among these inputs only: a name an earlier run gave (day2/IMG_1.jpg given alone) is no news
    shared = Counter(name_key(f.stem) for f in names)
    renamed = [(f, n) for f, n in names.items() if n != f.stem and shared[name_key(f.stem)] > 1]
    if not renamed or (key := frozenset(renamed)) in _SAID_RENAMED:
        return
    _SAID_RENAMED.add(key)
    import logging

    # a stem shared: its folder too (none for a file of the working folder: "/west.tif" read as the root's)
    shown = ", ".join(f"{Path(f.parent.name, f.name) if f.parent.name else f.name} as {n}" for f, n in renamed[:3])
    more = f" and {len(renamed) - 3} more" if len(renamed) > 3 else ""
    logging.getLogger("agriseg").warning(
        "inputs that share a stem are written under longer names: %s%s (where outputs are matched by name later, "
        "as to truth masks, give each input its own stem)", shown, more,
    )  # fmt: skip


Result = tuple[Item, Any]  # (item, its record, or the exception it raised)
