"""Outputs a command writes outside the per-item batch: single outputs, generated sets' records, tables."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agriseg.batch.errors import counted

if TYPE_CHECKING:
    from agriseg.data.files import FolderKind


def check_output(
    path: str | Path,
    overwrite: bool,
    empty_dir_ok: bool = False,
    inputs: Iterable[str | Path] = (),
    kind: FolderKind | None = None,
) -> Path:
    """Refuse to replace an existing single output unless ``overwrite`` (the one place this is said), and
    refuse an output that is one of the run's ``inputs`` even with it.

    Args:
        path: the output file or folder.
        overwrite: replacing it is allowed.
        empty_dir_ok: an existing empty folder does not count.
        inputs: files the run reads (:func:`agriseg.data.files.check_not_input`).
        kind: what the output folder is: a folder of another kind is never replaced by it, ``--overwrite`` or
            not (:func:`agriseg.data.files.check_replaceable`; make-synthetic deleted a trained model).

    Its folder is created here, before the run, and must be writable, so a run is not lost to a bad output
    path at its end.

    Raises:
        FileExistsError: ``<path>: exists (use --overwrite)``.
        ValueError: ``<path>: is one of the inputs ...``.
        agriseg.config.OptionError: its folder lies under a file, cannot be created or is not writable.
    """
    from agriseg.config import OptionError
    from agriseg.data.files import check_not_input, clean_stale_temporaries, make_parent

    check_not_input(path, inputs)
    path = Path(path)
    there = path.exists() and not (empty_dir_ok and path.is_dir() and not any(path.iterdir()))
    if there and path.is_dir() and not path.is_symlink():  # a user's folder: said so now, not after --overwrite
        from agriseg.data.files import check_replaceable

        check_replaceable(path, kind)
    if there and not overwrite:
        raise FileExistsError(f"{path}: exists (use --overwrite)")
    try:
        make_parent(path)
    except ValueError as err:  # a bad output path is a usage error (exit 2 on the command line)
        raise OptionError(str(err)) from err
    if path.is_dir() and not path.is_symlink() and os.path.ismount(path):  # an empty folder the finished set
        # replaces: a mount point cannot be (make-synthetic did all its work, then "Device or resource busy")
        raise OptionError(f"output folder: {path} is a mount point, which a finished set cannot replace; give a "
                          "folder inside it")  # fmt: skip
    clean_stale_temporaries(path.parent, [path.name])  # of a killed run of this command: none outlives the re-run
    return path


MADE = "made.json"  # what made a generated data set: the command and its settings (a re-run's check)


def already_there(folder: str | Path) -> str:
    """What a ``make-synthetic`` re-run with the same settings says (one wording for every pipeline)."""
    return f"{folder}: a set generated with these options is already there (--overwrite to generate again)"


def made_record(folder: str | Path, command: str, settings: Mapping[str, Any]) -> Path:
    """Record in ``folder`` (a data set ``command`` is writing, before it takes its final name) the settings
    it was made with and every file it holds (size and content hash), for :func:`already_made`."""
    from agriseg.data.files import write_json

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p != folder / MADE)
    made = {"command": command, "settings": dict(settings), "files": file_digests(folder, files)}
    return write_json(folder / MADE, made)


def already_made(folder: str | Path, command: str, settings: Mapping[str, Any]) -> bool:
    """Whether ``folder`` is a data set an earlier run of ``command`` finished with the same ``settings``:
    a re-run of the same command line then has nothing to do (other settings still need ``--overwrite``).

    Raises:
        agriseg.config.OptionError: it is, but files of it are gone or changed since (named; the set is kept).
        FileExistsError: a set of this command made with other settings, naming them (``--seed: 1 -> 2``); it
            had said only "exists (use --overwrite)".
    """
    import json

    try:
        earlier = json.loads((Path(folder) / MADE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(earlier, dict):
        return False
    same = json.loads(json.dumps({"command": command, "settings": dict(settings)}))  # tuples as JSON lists
    if earlier.get("command") == command and isinstance(before := earlier.get("settings"), dict):
        if changed := settings_changed(before, same["settings"]):
            raise FileExistsError(f"{folder}: made with other settings ({changed}); --overwrite makes it again")
    if {k: earlier.get(k) for k in same} != same:
        return False
    check_made_files(folder, earlier.get("files"))
    return True


def settings_changed(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """The settings of a generated set that differ, as a refused re-run names them (``--seed: 1 -> 2``)."""
    from agriseg.fingerprint import OPTION_FLAGS, setting_name, shown

    flags = OPTION_FLAGS.get() or {}
    keys = [k for k in dict.fromkeys([*before, *now]) if before.get(k) != now.get(k)]
    return ", ".join(f"{setting_name(k, flags)}: {shown(before.get(k))} -> {shown(now.get(k))}" for k in keys)


def file_digests(folder: str | Path, files: Iterable[str | Path]) -> dict[str, list[Any]]:
    """``{path relative to folder: [size, sha256]}`` of a generated set's files (see :func:`check_made_files`):
    no times, so that a set made again, or in chunks, has the same record byte for byte."""
    from agriseg.data.download import sha256_of

    return {Path(f).relative_to(folder).as_posix(): [Path(f).stat().st_size, sha256_of(f)] for f in files}


def check_made_files(folder: str | Path, recorded: Any) -> None:  # noqa: ANN401 - as read from JSON
    """Refuse a generated set whose files are gone or changed since it was made (a set recorded without its
    files, by an earlier agriseg, passes): "already there" would have been said of a set that is not. Each file
    of its recorded size is hashed (a set's record keeps no times: see :func:`file_digests`).

    Raises:
        agriseg.config.OptionError: naming the first few such files (the set is kept: ``--overwrite`` remakes it),
            or saying the record itself is damaged.
    """
    from agriseg.config import OptionError
    from agriseg.data.download import sha256_of

    if recorded is None:
        return
    folder = Path(folder)
    damaged = OptionError(f"{folder}: its record of the files it holds is damaged; --overwrite to generate it again")
    if not isinstance(recorded, dict):
        raise damaged
    gone, changed = [], []
    for rel, entry in recorded.items():
        path = folder / str(rel)
        shape_ok = isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, int | str) for v in entry)
        if not shape_ok or Path(str(rel)).is_absolute() or ".." in Path(str(rel)).parts:
            raise damaged
        if not path.is_file():
            gone.append(str(rel))
            continue
        if path.stat().st_size != entry[0] or sha256_of(path) != entry[1]:
            changed.append(str(rel))
    if gone or changed:
        said = [f"{counted(len(gone), 'file')} removed"] if gone else []
        said += [f"{len(changed) if gone else counted(len(changed), 'file')} changed"] if changed else []
        first = ", ".join((gone + changed)[:3]) + (", ..." if len(gone) + len(changed) > 3 else "")
        raise OptionError(
            f"{folder}: the set generated with these options is there, but {' and '.join(said)} since it was made "
            f"({first}); it is kept: --overwrite to generate it again"
        )


def measured_now(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records made with this run's inputs and settings (``ok``, or ``skipped``: resumed), the ones a
    table of values may hold: ``kept`` records were made with other settings (other units, model or regions)
    and ``error`` ones hold nothing."""
    return [r for r in records if r.get("status") in ("ok", "skipped")]


def drop_tables(
    folder: str | Path, names: Sequence[str], notes: list[str], command: str | None = None, why: str = ""
) -> None:
    """Remove tables an earlier run wrote into ``folder`` that this run does not write (``growth.csv`` after a
    re-run with a single date), so no table outlives the run it describes; each removal goes into ``notes``
    (``why``: the reason said, when it is not that the run was given too few inputs). A file agriseg did not
    write there (or edited since), and with ``command`` one another command claimed (crop plots' ``growth.csv``
    beside a ``crop traits`` run), is left as it is.
    Only in a folder agriseg writes (one with a manifest), after :func:`check_table` let the run start."""
    from agriseg.manifest import MANIFEST, own_table, table_owner

    if not (Path(folder) / MANIFEST).exists():
        return
    removed = []
    for name in names:
        path = Path(folder) / name
        # agriseg's own table as it wrote it; a user's file under its name, or one edited since, stays
        if command and (owner := table_owner(path)) and owner != command:
            continue
        if own_table(path):
            path.unlink()
            removed.append(path)
    if removed:  # one line for them all
        notes.append(_removed_table(*removed, why=why))


def _removed_table(*paths: Path, why: str = "") -> str:
    shown = ", ".join([str(paths[0]), *(p.name for p in paths[1:])])  # one folder: its name once
    them = ("an earlier run's table", "it") if len(paths) == 1 else ("an earlier run's tables", "them")
    why = (
        why or "a table covers the inputs of one run: name them all, and the finished ones are resumed, not made again"
    )
    return f"removed {shown}: {them[0]}; this run has nothing to put in {them[1]} ({why})"


def check_table(path: str | Path, overwrite: bool, command: str | None = None) -> Path:
    """Refuse to replace a user's file where a batch writes its table (``summary.csv``, ``traits.csv``), or
    another command's.

    A table is rewritten by every run of its command into its folder; a file under its name in a folder that no
    agriseg run has written (no manifest there) is the user's, and one in a folder whose manifest holds records
    of that another command claimed (``growth.csv`` of ``crop traits`` where ``crop plots`` would write its own) is
    theirs: only ``overwrite`` replaces either.

    Raises:
        FileExistsError: ``<path>: exists and was not written by agriseg ...`` or ``... written by agriseg
            <other command> ...``.
        agriseg.config.OptionError: a folder under the table's name.
    """
    from agriseg.manifest import MANIFEST, table_edited, table_owner

    path = Path(path)
    if path.is_dir():  # a folder under a table's name (empty or not): the table's write fails on it after the
        from agriseg.config import OptionError  # batch (crop traits --overwrite measured every photo, then stopped)

        raise OptionError(f"{path}: a folder where this command writes its table {path.name}; move or rename it")
    if not path.exists() or overwrite:
        return path
    if not (path.parent / MANIFEST).exists() and not _recorded_below(path.parent, command):
        raise FileExistsError(
            f"{path}: exists and was not written by agriseg (kept; --overwrite replaces it, or choose another "
            "output folder)"
        )
    owner = table_owner(path)
    if command and owner and owner != command:
        raise FileExistsError(
            f"{path}: written by `agriseg {owner}` (kept; give `agriseg {command}` another output folder, or "
            "--overwrite replaces it)"
        )
    if table_edited(path):  # e.g. notes typed into growth_wide.csv in a spreadsheet: the user's now
        raise FileExistsError(
            f"{path}: changed since agriseg wrote it (kept; move or rename it to keep your edits, or --overwrite "
            "replaces it)"
        )
    return path


def _recorded_below(folder: Path, command: str | None) -> bool:
    """Whether a folder inside ``folder`` holds records of ``command``: agriseg before session 55 kept the
    manifest of ``crop pseudolabel`` in ``masks/`` only, not beside its ``pseudolabels.json``."""
    from agriseg.manifest import MANIFEST, recorded_by

    if not command:
        return False
    return any(recorded_by(m.parent, command) for m in folder.glob(f"*/{MANIFEST}"))


def keep_unstamped_table(path: str | Path, overwrite: bool) -> str | None:
    """Copy a table that an agriseg before table stamps wrote (or a file put there under its name) to
    ``<stem>.earlier<suffix>`` before the run rewrites it, and say so: without a stamp, an edit cannot be told
    from agriseg's own file, and nothing a user wrote is written over, ``overwrite`` or not (``--overwrite``
    replaces the table; a user's notes under its name were lost with it). Returns the warning line (None when
    nothing was kept: no such table, or a stamp was kept)."""
    kept = keep_unstamped_copy(path, overwrite)
    return kept[0] if kept else None


def keep_unstamped_copy(path: str | Path, overwrite: bool) -> tuple[str, Path] | None:
    """:func:`keep_unstamped_table`, with the copy it made: a batch that then leaves the table as it was (a
    ``growth.csv`` of yours beside a run of one date) removes the copy and its warning again."""
    from agriseg.manifest import table_stamped

    path = Path(path)
    del overwrite  # (kept in the signature: a copy is made either way)
    if not path.is_file() or table_stamped(path):
        return None
    data = path.read_bytes()  # a table, small; a copy kept by an earlier run is not made again (nor said)
    if any(c.is_file() and c.read_bytes() == data for c in path.parent.glob(f"{path.stem}.earlier*{path.suffix}")):
        return None
    copy, n = path.with_name(f"{path.stem}.earlier{path.suffix}"), 1
    while copy.exists():
        n += 1
        copy = path.with_name(f"{path.stem}.earlier{n}{path.suffix}")
    from agriseg.data.files import atomic_write

    with atomic_write(copy) as tmp:
        shutil.copy2(path, tmp)
    return (
        f"warning: {path}: not stamped as written by agriseg (a file of yours, or one an agriseg before table "
        f"stamps wrote), so edits cannot be told; kept as {copy.name}"
    ), copy
