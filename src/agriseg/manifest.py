"""A fingerprint store that keeps records: one manifest per output folder, and a lock on it.

:class:`ManifestStore` implements :class:`agriseg.batch.FingerprintStore`. Each output folder holds
``.agriseg-manifest.jsonl``: one JSON line per produced item (``{"command", "item", "outputs", "fingerprint"}``),
appended by the parent process as items complete, so a killed run keeps the records of everything it finished;
a later line for the same command and item replaces an earlier one, and closing the store rewrites the file with
one line per command and item. Records are kept per command: two commands given one folder (``crop predict``,
then ``crop traits`` of its masks) keep each other's records, and a file one of them wrote is, to the other, a
file it did not write. The tables a command rewrites on every run (``summary.csv``, ``growth.csv``) are claimed by
it (``{"command", "table"}`` lines, :meth:`ManifestStore.claim_tables`), so another command does not replace
them (:func:`agriseg.batch.check_table`). Before a run starts its items, each gets a ``"pending"`` line:
outputs that a killed run wrote before their record (an item cut off halfway, or finished in the instant before
the kill) are then known as this store's, and made again by the next run rather than kept as a user's files.
``.agriseg-lock`` (the pid and host of the run) keeps a second run from writing the same folder at once; a lock
left by a process that no longer exists, or whose pid a later process now has, is taken over, by one run only
(the check-and-take holds an ``flock`` on the folder). The folder of a table outside the items' folders is locked
and read too. When an item is made again, the files of its earlier outputs that its new ones do not include
(an overlay after ``--no-overlay``) are removed, unless changed since or read by the run; the pending line keeps
their stamps, so a redo that is killed or fails leaves them known.

Answers, for an item's outputs (see :mod:`agriseg.batch`): ``missing`` when none is there, or when the files
there are this store's but not complete (an item recorded as pending, or recorded and partly removed);
``same`` / ``changed`` when all are there and recorded, by comparing fingerprints (and ``changed`` when an output
was replaced or edited since its record: each record keeps a :func:`stamp` of its files); ``unrecorded`` when a file
under an output name has no record. With ``legacy=True``, a folder that has no manifest at all is answered
from file names alone (``same`` when all outputs are there), as before fingerprints existed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from agriseg.data.files import lock_exclusively, pid_alive, process_start_time
from agriseg.fingerprint import EDITED, INPUT_EDITED, INPUTS_CHANGED, Fingerprint, Recipe, Verdict

if TYPE_CHECKING:
    from agriseg.batch import Item

log = logging.getLogger("agriseg")
MANIFEST = ".agriseg-manifest.jsonl"
LOCK = ".agriseg-lock"
TAKE_WAIT_S = 10.0  # the longest wait for another process's flock on a folder before giving up
Key = tuple[str, str]  # (command, item)


def stamp(path: Path, block: int = 65536) -> list[Any]:
    """What tells a file agriseg wrote from one put in its place later: ``[size, hash, mtime_ns]``, the hash a
    SHA-1 of its first and last ``block`` bytes (a whole hash of a multi-GB raster would cost a re-run seconds;
    a replaced or edited file differs in its size or in those bytes)."""
    import hashlib

    st = path.stat()
    h = hashlib.sha1()
    with path.open("rb") as fh:
        h.update(fh.read(block))
        if st.st_size > block:
            fh.seek(max(block, st.st_size - block))
            h.update(fh.read(block))
    return [st.st_size, h.hexdigest()[:16], st.st_mtime_ns]


def _altered(path: Path, recorded: list[Any]) -> bool:
    """Whether ``path`` differs from its :func:`stamp` ``recorded``: by size, or, when its modification time moved
    (an edit, or a copy that did not keep times), by hash. An untouched file is not read (a re-run resumes
    thousands of outputs)."""
    st = path.stat()
    if st.st_size != recorded[0]:
        return True
    if len(recorded) > 2 and st.st_mtime_ns == recorded[2]:
        return False
    return bool(stamp(path)[1] != recorded[1])


def _output_state(path: Path) -> list[Any]:
    """What an output is when a run begins or an item fails: ``[kind, inode, mtime_ns, size]``. Every output is
    written under a temporary name and renamed, so one written since has another inode; an edit in place moves
    its time (exact and cheap, where a :func:`stamp`'s hash of its ends missed a change in a raster's middle)."""
    st = path.stat()
    return ["dir" if path.is_dir() else "file", st.st_ino, st.st_mtime_ns, 0 if path.is_dir() else st.st_size]


def _still_held(path: Path, held: list[Any]) -> bool:
    """Whether ``path`` is still what :func:`_output_state` found."""
    try:
        return _output_state(path) == list(held)
    except OSError:
        return False


def _key(path: Path, folder: Path) -> str:
    """An output's name in its record's stamps: its path from the item's folder (outputs may lie in subfolders
    with one name: ``masks/0001.png``, ``plots/0001.png``)."""
    return os.path.relpath(path.resolve(), folder)


class FolderLocked(ValueError):
    """Another run is writing the same output folder."""


class ManifestStore:
    """Fingerprints in one manifest per output folder (see the module docstring).

    Args:
        legacy: answer folders without a manifest from file names alone (outputs of an earlier agriseg).
    """

    def __init__(self, legacy: bool = False) -> None:
        self.legacy = legacy
        self._records: dict[Path, dict[Key, dict[str, Any]]] = {}  # folder -> (command, item) -> record
        self._command = ""
        self._recipe: Recipe | None = None
        self._tables: dict[Path, dict[str, str]] = {}  # folder -> table name -> the command that writes it
        self._had_manifest: dict[Path, bool] = {}
        self._locks: list[Path] = []
        self._earlier: dict[tuple[Path, str], dict[str, Any]] = {}  # (folder, item) -> stamps of its old outputs
        self._inputs: set[Path] = set()  # what the items read: never removed as leftovers
        # folder -> (command, sorted outputs) -> keys put with them, for _record_of's lookup by outputs: a scan of
        # every record for each item without one made a batch of n new photos n^2 (14.9 s of 3,000 into 3,000)
        self._by_outputs: dict[Path, dict[tuple[str, tuple[str, ...]], list[Key]]] = {}

    # -- the FingerprintStore methods ---------------------------------------------------------------------

    def open(self, items: Sequence[Item], recipe: Recipe | None) -> None:
        """Lock every output folder of ``items`` and read its manifest."""
        folders = sorted({p.parent.resolve() for it in items for p in it.outputs})
        self._command = recipe.command if recipe is not None else ""
        self._recipe = recipe
        try:
            for folder in folders:
                self._open_folder(folder)
        except BaseException:
            self.close()
            raise

    def _open_folder(self, folder: Path) -> None:
        """Lock ``folder`` and read its manifest, once."""
        if folder in self._records:
            return
        self._lock(folder)
        self._had_manifest[folder] = (folder / MANIFEST).is_file()
        lines = _lines(folder / MANIFEST)
        self._records[folder], self._tables[folder] = _records_of(lines), _tables_of(lines)

    def check(self, item: Item, recipe: Recipe | None) -> Verdict:
        """Whether ``item``'s outputs are there and what made them."""
        present = [p for p in item.outputs if p.exists() and not _empty_folder(p)]  # an empty one holds nothing
        folder = item.outputs[0].parent.resolve()
        if not present:
            return Verdict("missing")
        recs = self._records.get(folder, {})
        rec = self._record_of(folder, recs, item)[1]
        if self.legacy and not self._had_manifest.get(folder, False):
            return Verdict("same" if len(present) == len(item.outputs) else "missing")
        # every output there must be one this store recorded for the item; other options may write other files
        # (crop predict --model crop-weed adds <name>_classes.png, --no-overlay drops the overlay)
        ours = set() if rec is None else {*rec["outputs"], *(Path(k).name for k in rec.get("earlier", {}))}
        foreign = [p for p in present if p.name not in ours]
        if foreign:
            return Verdict("unrecorded", str(foreign[0]))
        assert rec is not None
        if rec.get("pending"):
            left = rec.get("failed")  # the item failed: the outputs there then (:meth:`failed`)
            if isinstance(left, dict):  # a file put under an output's name since is someone's: kept (session 106)
                new = [p for p in present if (k := _key(p, folder)) not in left or not _still_held(p, left[k])]
                if new:
                    return Verdict("unrecorded", str(new[0]))
            was, held, redo = rec.get("was"), rec.get("held") or {}, rec.get("redo")
            if not isinstance(was, dict) or not all(
                (k := _key(p, folder)) in held and _still_held(p, held[k]) for p in present
            ):
                return Verdict("missing")  # outputs of an item a killed run had started: made again
            if recipe is not None and isinstance(redo, dict) and not recipe.changes(item, Fingerprint.from_dict(redo)):
                return Verdict("missing")  # the stopped redo's own settings (--overwrite): the same command goes on
            rec = was  # a run stopped (or failed) before it replaced them: they are what the earlier run made
        same_outputs = sorted(rec["outputs"]) == sorted(p.name for p in item.outputs)
        stamps = rec.get("stamps", {})
        altered = [p for p in present if (k := _key(p, folder)) in stamps and _altered(p, stamps[k])]
        if altered:  # replaced or edited since it was written (perhaps by hand): never silently resumed, nor
            # made again over the edit when another of its outputs was removed (session 105's sweep)
            return Verdict("changed", f"{altered[0]}{EDITED}")  # by its path: masks/0001.png, not 0001.png
        if recipe is None or "fingerprint" not in rec:
            return Verdict("same" if same_outputs and len(present) == len(item.outputs) else "missing")
        changes = recipe.changes(item, Fingerprint.from_dict(rec["fingerprint"]))
        if same_outputs and not changes and len(present) < len(item.outputs):
            # partly removed since: made again with the settings that made the rest (with other settings it is
            # refused below, as the rest would be: a folder of one setting, session 105's sweep)
            return Verdict("missing")
        if not same_outputs and not changes:
            # only which files are written differs (--plot, --no-overlay): fewer are there already, more are made
            if len(present) < len(item.outputs):  # one of them removed since (a mask after a --plot run): made again
                return Verdict("missing")
            earlier, now = set(stamps), {_key(p, folder) for p in item.outputs}
            if stamps and now <= earlier:
                return Verdict("same")
            if stamps and earlier <= now:
                return Verdict("missing")
            changes = [
                "outputs: " + ", ".join(sorted(rec["outputs"])) + " -> " + ", ".join(p.name for p in item.outputs)
            ]
        if not changes:
            return Verdict("same")
        inputs_only = all(c.startswith((INPUTS_CHANGED, INPUT_EDITED)) for c in changes)
        return Verdict("changed", ", ".join(changes), inputs_only)

    def begin(self, items: Sequence[Item]) -> None:
        """Append a pending record for each of ``items`` (replaced by :meth:`record` when it is produced)."""
        by_folder: dict[Path, list[str]] = {}
        for item in items:
            folder = item.outputs[0].parent.resolve()
            rec = {"command": self._command, "item": item.name, "outputs": [p.name for p in item.outputs],
                   "pending": True}  # fmt: skip
            recs = self._records.setdefault(folder, {})
            key, earlier = self._record_of(folder, recs, item)
            if key is not None and key != (self._command, item.name):
                del recs[key]  # the files' record under another name is this item's now
            earlier = earlier or {}
            # what the run that made the old outputs wrote, kept in the pending line too: a run killed (or an
            # item failed) before its record still leaves them known as this command's leftovers
            old = earlier.get("stamps") or earlier.get("earlier")
            if old:
                self._earlier[(folder, item.name)] = rec["earlier"] = old
            # the finished record of the outputs there now, and what they are: a run stopped before it replaced
            # them leaves them standing as that record says (an interrupted --overwrite made them "missing", and
            # a later run with other options replaced them unasked: session 106's sweep)
            was = earlier.get("was") if earlier.get("pending") else earlier
            held = {_key(p, folder): _output_state(p) for p in item.outputs if p.exists()}
            if isinstance(was, dict) and "fingerprint" in was and held:
                rec["was"] = {k: was[k] for k in ("outputs", "fingerprint", "stamps") if k in was}
                rec["held"] = earlier.get("held", held) if earlier.get("pending") else held
                if self._recipe is not None:  # the redo's own settings: the same command goes on with it
                    rec["redo"] = self._recipe.fingerprint(item).to_dict()
            self._put(folder, recs, (self._command, item.name), rec)
            self._inputs.update(Path(f).resolve() for f in item.inputs)
            by_folder.setdefault(folder, []).append(json.dumps(rec) + "\n")
        for folder, lines in by_folder.items():
            _append(folder / MANIFEST, "".join(lines))

    def record(self, item: Item, recipe: Recipe | None) -> None:
        """Append ``item``'s record to its folder's manifest."""
        folder = item.outputs[0].parent.resolve()
        fp = recipe.fingerprint(item, with_hash=True) if recipe is not None else Fingerprint("", "", {}, None, {}, {})
        stamps = {_key(p, folder): stamp(p) for p in item.outputs if p.is_file()}
        self._remove_leftovers(folder, item.name, stamps)
        rec = {"command": self._command, "item": item.name, "outputs": [p.name for p in item.outputs],
               "fingerprint": fp.to_dict(), "stamps": stamps}  # fmt: skip
        if item.inputs:  # where its input is, whatever folder the command ran from (its key is as given)
            rec["source"] = str(Path(item.inputs[0]).resolve())
        recs = self._records.setdefault(folder, {})
        recs.pop(("", item.name), None)  # a record from before commands were kept is now this command's
        self._put(folder, recs, (self._command, item.name), rec)
        _append(folder / MANIFEST, json.dumps(rec) + "\n")

    def _put(self, folder: Path, recs: dict[Key, dict[str, Any]], key: Key, rec: dict[str, Any]) -> None:
        """``recs[key] = rec``, indexed by its outputs once :meth:`_record_of` has indexed the folder."""
        recs[key] = rec
        index = self._by_outputs.get(folder)
        if index is not None:
            index.setdefault((key[0], tuple(sorted(rec.get("outputs", [])))), []).append(key)

    def _record_of(
        self, folder: Path, recs: dict[Key, dict[str, Any]], item: Item
    ) -> tuple[Key | None, dict[str, Any] | None]:
        """``item``'s record in a folder's ``recs`` and its key: by the item's name (``""``: written before
        commands were kept), else the record of this command that lists exactly the item's outputs (the item
        went by another name when it was written: ``fields polygonize`` named its item by the output's stem
        before the ``.parquet`` and ``.geojson`` of one stem were told apart)."""
        for key in ((self._command, item.name), ("", item.name)):
            if key in recs:
                return key, recs[key]
        names = sorted(p.name for p in item.outputs)
        index = self._by_outputs.get(folder)
        if index is None:
            index = self._by_outputs[folder] = {}
            for key, rec in recs.items():
                index.setdefault((key[0], tuple(sorted(rec.get("outputs", [])))), []).append(key)
        for command in (self._command, ""):
            for key in index.get((command, tuple(names)), []):  # put there once; it may be gone or changed since
                found = recs.get(key)
                if found is not None and sorted(found.get("outputs", [])) == names:
                    return key, found
        return None, None

    def _remove_leftovers(self, folder: Path, name: str, stamps: dict[str, Any]) -> None:
        """Remove the files an item's earlier outputs had and its new ones do not (an overlay, a class map of
        another model): left there, they were read as this run's. A file changed since it was written is
        kept, and said. Only when the new outputs share a file with the earlier ones (the mask): an item of
        the same name whose outputs are all others (``-o fields.geojson`` after ``-o fields.parquet``) is
        another product, not a redo."""
        earlier = self._earlier.pop((folder, name), {})
        if not set(earlier) & set(stamps):
            return
        for key, recorded in earlier.items():
            path = folder / key
            if key in stamps or not path.is_file() or path.resolve() in self._inputs:  # never what the run reads
                continue
            if _altered(path, recorded):
                log.warning("%s: left from an earlier run with other options, and changed since; kept", path)
            else:
                path.unlink(missing_ok=True)

    def discard(self, item: Item) -> list[Path]:
        """``item`` was run again over outputs of other settings or files and failed: remove those outputs
        (unless changed since, or read by the run) and return them; left there, they were read as this run's.
        Its pending record stays: the next run makes it again."""
        folder = item.outputs[0].parent.resolve()
        gone = []
        for key, recorded in self._earlier.pop((folder, item.name), {}).items():
            path = folder / key
            if not path.is_file() or path.resolve() in self._inputs or _altered(path, recorded):
                continue
            path.unlink(missing_ok=True)
            gone.append(path)
        return gone

    def failed(self, item: Item) -> None:
        """``item`` failed: its pending record says so, with the outputs there now (earlier runs', or none). A file
        put under one of its output names after that is a user's, refused as such (not "missing", which the next
        run replaced: a mask drawn by hand after a truncated photo failed, session 106's sweep). A run killed
        before this leaves the record pending without it: its outputs are made again, as before."""
        folder = item.outputs[0].parent.resolve()
        recs = self._records.get(folder, {})
        key = (self._command, item.name)
        rec = recs.get(key)
        if rec is None or not rec.get("pending"):
            return
        left = {_key(p, folder): _output_state(p) for p in item.outputs if p.exists()}
        rec = {**rec, "failed": left}
        self._put(folder, recs, key, rec)
        _append(folder / MANIFEST, json.dumps(rec) + "\n")

    def claim_tables(self, tables: Sequence[Path]) -> None:
        """Record ``tables`` (files the run writes once per folder) as this command's."""
        for table in tables:
            folder = table.parent.resolve()
            # a table outside the items' folders (pseudolabel's table above its masks/): that folder is locked
            # and its manifest read too, or closing would rewrite it with this command's lines only
            self._open_folder(folder)
            if self._tables[folder].get(table.name) == self._command:
                continue
            self._tables[folder][table.name] = self._command
            _append(folder / MANIFEST, json.dumps({"command": self._command, "table": table.name}) + "\n")

    def close(self) -> None:
        """Rewrite each manifest with one line per item and release the locks."""
        from agriseg.data.files import write_text

        try:
            for folder in {*self._records, *self._tables}:
                recs, tables = self._records.get(folder, {}), self._tables.get(folder, {})
                lines = [json.dumps(r) + "\n" for r in recs.values()]
                lines += [json.dumps({"command": c, "table": t}) + "\n" for t, c in tables.items()]
                if lines:
                    write_text(folder / MANIFEST, "".join(lines))
        finally:
            for lock in self._locks:
                lock.unlink(missing_ok=True)
            self._locks.clear()

    # -- helpers -----------------------------------------------------------------------------------------

    def _lock(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with _one_taker(folder):
            self._take(folder)

    def _take(self, folder: Path) -> None:
        lock = folder / LOCK
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                fd = -1
            except OSError as err:  # no file can be made there (/proc, a read-only disk), or a full one
                _unwritable(folder, lock, err)
            if fd < 0:
                pid, host = _holder(lock)
                if pid is None and _age(lock) < 5.0:  # created this instant by another run, its pid not written yet
                    raise FolderLocked(f"{folder}: another agriseg run is starting to write this folder") from None
                if pid is not None and pid != os.getpid() and _held(lock, pid, host):
                    by = f"pid {pid}" + (f" on {host}" if host and host != socket.gethostname() else "")
                    raise FolderLocked(
                        f"{folder}: another agriseg run ({by}) is writing this folder; wait for it to end, or, "
                        f"if no run is writing there, remove {lock}"
                    ) from None
                lock.unlink(missing_ok=True)  # left by a run that no longer exists
                continue
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(f"{os.getpid()} {socket.gethostname()}")
            except OSError as err:  # a full disk: an empty lock left behind said a run was "starting" there
                lock.unlink(missing_ok=True)
                raise OSError(err.errno, f"{folder}: cannot write there ({err.strerror or err})") from None
            self._locks.append(lock)
            return
        raise FolderLocked(f"{folder}: could not take the lock {lock}")


def _append(path: Path, text: str) -> None:
    """Append ``text`` to a manifest; a write that fails (a full disk) names the manifest, not nothing."""
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
    except OSError as err:
        if err.filename:
            raise
        raise OSError(err.errno, err.strerror or str(err), str(path)) from err


def _unwritable(folder: Path, lock: Path, err: OSError) -> NoReturn:
    """Raise the failure to create ``folder``'s lock: a full disk as it is (naming the lock), any other as
    the usage error it is (``-o /proc``: said as the raw errno of the lock file)."""
    from agriseg.data.files import not_writable

    if (refusal := not_writable(folder, err)) is None:
        raise OSError(err.errno, err.strerror or str(err), str(lock)) from None
    raise refusal from None


@contextmanager
def _one_taker(folder: Path) -> Iterator[None]:
    """Serialise the check-and-take of a folder's lock between processes (an ``flock`` on the folder itself,
    held for the instant of the check): two runs that both found a stale lock each removed it and took it, so
    both wrote the folder. Where folders cannot be locked (no ``fcntl``, some network file systems), the check
    runs unserialised, as before."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        # waits out another run's check (an instant); a user's `flock FOLDER job` (hours) is said after a while
        lock_exclusively(fd, TAKE_WAIT_S, lambda: FolderLocked(
            f"{folder}: another process holds a lock on this folder (flock); wait for it to end"))  # fmt: skip
        yield
    finally:
        os.close(fd)  # releases the flock


def recorded_outputs(folder: str | Path, command: str | None = None) -> dict[str, list[str]]:
    """Item -> the output file names the manifest of ``folder`` records for it (empty without a manifest), of
    one ``command`` or of all."""
    recs = _records_of(_lines(Path(folder) / MANIFEST))
    return {name: list(rec.get("outputs", [])) for (cmd, name), rec in recs.items() if command in (None, cmd)}


def _made_from(rec: dict[str, Any], cmd: str, command: str) -> tuple[Path, str] | None:
    """``(the input as recorded, its recorded identity)`` of a finished record of ``command``; None for others.
    The input is where the record says it was (``source``, absolute; an earlier agriseg's records: their input's
    key), never a relative name read from here: run from another folder, it named another site's photo."""
    fp = rec.get("fingerprint")
    inputs = fp.get("inputs") if isinstance(fp, dict) and cmd == command and not rec.get("pending") else None
    if not isinstance(inputs, dict) or not inputs:
        return None
    key = next(iter(inputs))
    return (Path(rec["source"]) if isinstance(rec.get("source"), str) else Path(key)), str(inputs[key])


def recorded_inputs(folder: str | Path, command: str) -> dict[str, Path]:
    """Item name -> the input file (resolved) that a finished record of ``command`` in ``folder`` made its
    outputs from, for records whose outputs are still there and whose input is where the record says (its
    ``source``, absolute), unedited. Records of an earlier agriseg, without ``source``, count only where their
    input was given as an absolute path."""
    from agriseg.fingerprint import file_identity, same_input

    folder = Path(folder)
    out: dict[str, Path] = {}
    for (cmd, name), rec in _records_of(_lines(folder / MANIFEST)).items():
        made = _made_from(rec, cmd, command)
        if made is None or not any((folder / o).exists() for o in rec.get("outputs", [])):
            continue
        source, identity = made
        if source.is_absolute() and source.is_file() and same_input(source, file_identity(source), identity):
            out[name] = source.resolve()  # the file it was made from, unedited
    return out


def _recorded_source(output: Path, command: str) -> tuple[Path, str] | None:
    """``(the input, its recorded identity)`` of the finished record of ``command`` that made ``output``."""
    for (cmd, _), rec in _records_cached(output.parent / MANIFEST).items():
        made = _made_from(rec, cmd, command)
        if made is not None and output.name in rec.get("outputs", []):
            return made
    return None


def made_from_other(output: str | Path, command: str, source: str | Path) -> Path | None:
    """The file ``output`` is recorded as made by ``command`` from, where that is another file than ``source``
    and held other content (a copy or a moved photo is the same); None without such a record. ``crop evaluate
    --pred-masks`` scored another folder's masks of photos of the same names without a word."""
    from agriseg.fingerprint import file_identity, identity_fields, same_input

    source = Path(source).resolve()
    made = _recorded_source(Path(output), command)
    if made is None:
        return None
    was, identity = made
    if not was.is_absolute() or was.resolve() == source or not source.is_file():
        return None
    if same_input(source, file_identity(source), identity):
        return None
    # another photo only where it shows: another size, or other content than a recorded hash (a record of an
    # agriseg before hashes, of a copy that did not keep its time, cannot tell: scored)
    now, then = identity_fields(file_identity(source)), identity_fields(identity)
    return was if now.get("size") != then.get("size") or "sha256" in then else None


def made_from_earlier(output: str | Path, command: str, source: str | Path) -> bool:
    """Whether ``output`` is recorded as made by ``command`` from ``source`` (the same file) when it held other
    content: the photo was replaced or edited since (``crop traits`` and ``crop evaluate --pred-masks`` would
    measure the old photo's mask against the new photo). False without such a record."""
    from agriseg.fingerprint import file_identity, same_input

    source = Path(source).resolve()
    made = _recorded_source(Path(output), command)
    if made is None:
        return False
    was, identity = made
    if was.is_absolute() and was.resolve() == source and source.is_file():
        return not same_input(source, file_identity(source), identity)
    return False


_STAMPS: dict[Path, tuple[dict[Key, dict[str, Any]], dict[str, Any]]] = {}  # manifest -> (its records, their stamps)
_CACHE: dict[Path, tuple[tuple[int, int], dict[Key, dict[str, Any]]]] = {}


def _records_cached(path: Path) -> dict[Key, dict[str, Any]]:
    """:func:`_records_of` a manifest, read again only when it changed (a check per photo of a folder of
    thousands read the whole manifest each time)."""
    try:
        st = path.stat()
    except OSError:
        return {}
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _CACHE.get(path)
    if hit is None or hit[0] != stamp:
        hit = (stamp, _records_of(_lines(path)))
        _CACHE[path] = hit
    return hit[1]


def recorded_names(folder: str | Path, command: str) -> dict[Path, str]:
    """Input file (resolved) -> the name ``command`` gave its outputs in ``folder`` (:func:`recorded_inputs`): a
    file keeps its name when other inputs join it (see :func:`agriseg.data.io.output_names`)."""
    return {source: name for name, source in recorded_inputs(folder, command).items()}


def recorded_settings(folder: str | Path, command: str) -> dict[str, tuple[str, str, str]]:
    """Output file name -> (item, settings, input) of the finished records of ``command`` in ``folder`` whose
    outputs are there: ``settings`` is what made them besides their input (agriseg's algorithm, the options, the
    model) as one JSON text ``[algorithm, options, model]``, equal for outputs of one run and of runs with the
    same settings; ``input`` the file they were made from, as recorded."""
    folder = Path(folder)
    out: dict[str, tuple[str, str, str]] = {}
    for (cmd, name), rec in _records_of(_lines(folder / MANIFEST)).items():
        fp = rec.get("fingerprint")
        if cmd != command or rec.get("pending") or not isinstance(fp, dict):
            continue
        made = json.dumps([fp.get("algorithm"), fp.get("options"), fp.get("model")], sort_keys=True, default=str)
        source = str(rec.get("source") or next(iter(fp.get("inputs") or {}), ""))
        out |= {o: (name, made, source) for o in rec.get("outputs", []) if (folder / o).exists()}
    return out


def remove_unused(folder: str | Path) -> bool:
    """Remove ``folder`` when it holds nothing but agriseg's bookkeeping of a run that finished no item (a run
    refused as a usage error after it made its output folder); True when it was removed."""
    folder = Path(folder)
    ours = {MANIFEST, LOCK, TABLE_STAMPS}
    try:
        held = list(folder.iterdir())
    except OSError:
        return False
    if any(p.name not in ours or p.is_dir() for p in held):
        return False
    if any(not rec.get("pending") for rec in _records_of(_lines(folder / MANIFEST)).values()):
        return False
    for p in held:
        p.unlink(missing_ok=True)
    folder.rmdir()
    return True


def ever_recorded(folder: str | Path, name: str) -> bool:
    """Whether the manifest of ``folder`` holds a finished record (not a pending one) with the output
    ``name``: a file or folder an agriseg run made there, before the record a new run is writing."""
    return any(name in rec.get("outputs", []) and not rec.get("pending") for rec in _lines(Path(folder) / MANIFEST))


def drop_recorded(
    paths: Sequence[Path], commands: Sequence[str], inputs_first: Sequence[str] = (), tables: bool = False
) -> tuple[list[Path], list[Path]]:
    """``paths`` without the files that the manifests of their folders record as outputs of ``commands``:
    inputs given by a glob over a folder the command also writes (``fields predict scenes/*.tif`` puts
    ``<name>_probs.tif`` beside each scene) must not take a run's own outputs as inputs.

    Args:
        paths: the inputs given.
        commands: the commands whose outputs are no inputs.
        inputs_first: those of ``commands`` whose first output is an input of the others (``fields run``
            downloads the scene it then predicts): that one is kept.
        tables: also drop a table agriseg stamped as its own there and no one edited since (``growth.png``
            of ``crop traits``); a photo named so by its user is no stamped table.

    Returns:
        ``(kept, dropped)``, each in the order given.
    """
    own: set[Path] = set()
    for folder in {Path(p).parent.resolve() for p in paths}:  # each manifest read once
        for (cmd, _), rec in _records_of(_lines(folder / MANIFEST)).items():
            if cmd in commands:
                outputs = rec.get("outputs", [])[1 if cmd in inputs_first else 0 :]
                own |= {(folder / o).resolve() for o in outputs}
    if tables:
        own |= {Path(p).resolve() for p in paths if table_owner(p) is not None and table_stamped(p)
                and not table_edited(p)}  # fmt: skip
    kept = [p for p in paths if Path(p).resolve() not in own]
    return kept, [p for p in paths if Path(p).resolve() in own]


TABLE_STAMPS = ".agriseg-tables.json"  # table name -> its stamp when the run that wrote it finished


WRITING = "writing"  # the stamp of a table while its command writes it (a run killed then left it so)


def mark_tables_writing(tables: Sequence[str | Path]) -> None:
    """Before a command rewrites its tables: stamp each as being written, so that a run killed while it wrote
    them leaves tables the re-run knows as its own (rewritten, not taken for a user's edit nor kept aside)."""
    _restamp(tables, lambda t: WRITING)


def seal_tables(tables: Sequence[str | Path]) -> None:
    """After a command wrote its tables (``summary.csv``, ``growth_wide.csv``...): keep each one's :func:`stamp`
    beside them, so a later run tells a table someone edited (notes typed into a spreadsheet) from its own and
    does not write over it (:func:`table_edited`). A table that is gone loses its stamp."""
    _restamp(tables, lambda t: stamp(t) if t.is_file() else None)


def unseal_tables(tables: Sequence[str | Path]) -> None:
    """Drop the kept stamps of ``tables``: files under a table's name that agriseg did not write (a user's, put
    back as they were), which a later run copies aside before it writes its table there."""
    _restamp(tables, lambda t: None)


def _restamp(tables: Sequence[str | Path], new: Callable[[Path], Any]) -> None:
    """Set the kept stamp of each table to ``new(table)`` (None: drop it), one stamps file per folder."""
    from agriseg.data.files import write_json

    by_folder: dict[Path, list[Path]] = {}
    for t in tables:
        by_folder.setdefault(Path(t).parent, []).append(Path(t))
    for folder, paths in by_folder.items():
        if not folder.is_dir():
            continue
        stamps = _table_stamps(folder)
        for t in paths:
            value = new(t)
            if value is None:
                stamps.pop(t.name, None)
            else:
                stamps[t.name] = value
        if stamps or (folder / TABLE_STAMPS).exists():
            write_json(folder / TABLE_STAMPS, stamps)


def table_edited(table: str | Path) -> bool:
    """Whether ``table`` differs from the stamp :func:`seal_tables` kept of it (False where none was kept)."""
    table = Path(table)
    kept = _table_stamps(table.parent).get(table.name)
    return isinstance(kept, list) and table.is_file() and _altered(table, kept)  # WRITING: its own, unfinished


def table_stamped(table: str | Path) -> bool:
    """Whether a stamp of ``table`` was kept (False for a table of agriseg before stamps, or a user's file)."""
    return Path(table).name in _table_stamps(Path(table).parent)


def own_table(table: str | Path) -> bool:
    """Whether ``table`` is there as agriseg wrote it: stamped (:func:`seal_tables`) and not edited since."""
    return Path(table).is_file() and table_stamped(table) and not table_edited(table)


def recorded_by(folder: str | Path, command: str) -> bool:
    """Whether ``folder``'s manifest holds a line of ``command`` (a line written before lines named their command
    counts by its fingerprint's, as :func:`_records_of` reads it)."""
    lines = _lines(Path(folder) / MANIFEST)
    return any(rec.get("command") == command for rec in lines) or any(c == command for c, _ in _records_of(lines))


def edited_since_written(path: str | Path) -> bool:
    """Whether ``path``, an output whose record in its folder's manifest stamped it, changed since it was
    written (edited by hand); False for a file no record stamps."""
    p = Path(path)
    folder = p.parent.resolve()
    recorded = _stamps_cached(folder / MANIFEST).get(_key(p, folder))
    return recorded is not None and _altered(p, recorded)


def _stamps_cached(path: Path) -> dict[str, Any]:
    """Output key -> its stamp, over every record of a manifest (a pending one's: what it held), built once per
    version of the file (a screening page of thousands of masks looked through every record for each)."""
    records = _records_cached(path)
    hit = _STAMPS.get(path)
    if hit is None or hit[0] is not records:
        index: dict[str, Any] = {}
        for rec in records.values():
            for stamps in ((rec.get("was") or {}).get("stamps"), rec.get("stamps")):  # a record's own win
                if isinstance(stamps, dict):
                    index.update(stamps)
        hit = _STAMPS[path] = (records, index)
    return hit[1]


def output_owner(path: str | Path) -> str | None:
    """The command whose record in its folder's manifest lists the file ``path`` as an output (None: none)."""
    p = Path(path)
    for (command, _), rec in _records_of(_lines(p.parent / MANIFEST)).items():
        if p.name in rec.get("outputs", []):
            return command or "an earlier agriseg command"
    return None


def _table_stamps(folder: Path) -> dict[str, Any]:  # name -> stamp, or WRITING
    try:
        stamps = json.loads((folder / TABLE_STAMPS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) else {}


def table_owner(table: str | Path) -> str | None:
    """The command that claimed the table ``table`` in its folder's manifest (None: none did)."""
    return _tables_of(_lines(Path(table).parent / MANIFEST)).get(Path(table).name)


def _tables_of(lines: list[dict[str, Any]]) -> dict[str, str]:
    """Table name -> the command that writes it, from a manifest's ``{"command", "table"}`` lines."""
    out: dict[str, str] = {}
    for rec in lines:
        if "table" in rec and "item" not in rec:
            out[str(rec["table"])] = str(rec.get("command", ""))
    return out


def _lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a manifest's lines (a torn last line is skipped)."""
    if not path.is_file():
        return []
    out = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        from agriseg.config import OptionError  # the output folder given cannot be used: exit status 2

        raise OptionError(f"{path}: not an agriseg manifest (not UTF-8 text); move it away to start afresh") from None
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _records_of(lines: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """The item records of a manifest's lines, one per command and item (later lines win). A record written
    before commands were kept gets its fingerprint's command, or ``""`` (a pending one)."""
    out: dict[Key, dict[str, Any]] = {}
    for rec in lines:
        if "item" in rec:
            fp = rec.get("fingerprint")
            command = rec.get("command") or (fp.get("command") if isinstance(fp, dict) else None) or ""
            out[(str(command), str(rec["item"]))] = rec
    return out


def _empty_folder(path: Path) -> bool:
    """Whether ``path`` is a folder with nothing in it (a folder output the user made ready with mkdir)."""
    try:
        return path.is_dir() and not any(path.iterdir())
    except OSError:
        return False


def _holder(lock: Path) -> tuple[int | None, str]:
    """The pid and host written in a lock (``"1234 host"``; locks of earlier versions hold the pid only)."""
    try:
        words = lock.read_text(encoding="utf-8").split()
        return int(words[0]), (words[1] if len(words) > 1 else "")
    except (OSError, ValueError, IndexError):
        return None, ""


def _age(path: Path) -> float:
    """Seconds since ``path`` was last written (infinite when it is gone)."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _held(lock: Path, pid: int, host: str) -> bool:
    """Whether the run that wrote ``lock`` may still be running: a lock of another host always may (its
    processes cannot be seen from here); here, its pid must be alive and not a process that started after the
    lock was written (the pid of a run lost with a reboot or a container, taken by another process since)."""
    if host and host != socket.gethostname():
        return True
    if not pid_alive(pid):
        return False
    started = process_start_time(pid)
    try:
        written = lock.stat().st_mtime
    except OSError:
        return False
    return started is None or started <= written + 2.0  # /proc's boot time is in whole seconds
