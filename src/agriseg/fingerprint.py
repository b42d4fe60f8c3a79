"""The fingerprint interface of the batch runner (:mod:`agriseg.batch`): skip, resume or refuse.

Every item's outputs carry, in principle, a record of what made them, a :class:`Fingerprint`:

- ``inputs``: each input file's identity (:func:`file_identity`: size + mtime, or a content hash); a store
  records its content hash too, so a copy that did not keep modification times (``cp -r``, a download again) is
  the same input (:func:`same_input`);
- ``model``: the model's identity, a content hash (:func:`model_identity`), so a retrained ``default`` is a
  different model under the same name;
- ``algorithm``: agriseg's version of the command's algorithm (bumped when the same inputs and options
  would give other outputs);
- ``resolved``: values the run decided for the item (e.g. season dates, the model's own ``--long-side``);
- ``options``: the options that change outputs; each command declares which (:class:`Recipe`);
  ``--batch-size``, ``--threads``, ``--strict``, ``--overwrite`` and the like never count.

A command builds one :class:`Recipe` (command, algorithm version, output-changing options, model file,
shared input files such as a plots file); :meth:`Recipe.fingerprint` adds an :class:`Item`'s inputs and
resolved values. A :class:`FingerprintStore` answers, for an item's outputs, one :class:`Verdict`:

- ``missing``: some output is not there -> the item runs;
- ``same``: all there, made from the same record -> skipped (the pipeline's ``resume`` hook reads its
  record back; returning None runs it again);
- ``changed``: made from a different record -> failed with a one-line message naming what changed
  (:meth:`Fingerprint.changes`), or run again with ``overwrite``;
- ``unrecorded``: a file under an output name with no record (a user's file, or an earlier agriseg's) ->
  kept and reported as failed; replaced only with ``overwrite``, and never when it is an input of the same
  run (:func:`agriseg.data.files.protected_inputs`).

The store is opened once per run (:meth:`FingerprintStore.open`, where a store takes its lock on the output
folders), asked for each item (:meth:`~FingerprintStore.check`), told of each produced item
(:meth:`~FingerprintStore.record`, always in the parent process: Dask workers return their results and the
parent records them) and closed (:meth:`~FingerprintStore.close`, where a manifest is written). The
store used unless a command passes another is :func:`default_store`'s, :class:`agriseg.manifest.ManifestStore`,
which keeps records (one manifest per output folder, appended by the parent process only, and a lock against
two runs writing one folder). :class:`NameStore` records nothing and answers from file names alone (``same``
when all outputs exist, else ``missing``): the behaviour of every command before fingerprints. A store keeping
records in the files' own metadata (GeoTIFF tags, Parquet metadata, PNG text chunks) implements the same four
methods. Nothing else changes when :func:`default_store` returns another store.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from agriseg.batch import Item

State = Literal["missing", "same", "changed", "unrecorded"]
MODEL_PREFIX = "model: "  # :meth:`Fingerprint.changes`: another model file, by name ("model: a.onnx -> b.onnx")
MODEL_CHANGED = MODEL_PREFIX + "not the one they were made with"  # ... or one of the same name
INPUT_EDITED = "input "  # how :meth:`Fingerprint.changes` starts the phrase of an input edited since
INPUTS_CHANGED = "made from "  # how :meth:`Fingerprint.changes` starts the phrase of outputs made from other files
EDITED = " was changed after it was written"  # a store's phrase for an output replaced or edited since (by hand)
# the command-line flag of each option a running command fills from its config (``patch_size`` -> ``--tile``),
# set by the CLI for the command's run: what changed is named as the user types it
OPTION_FLAGS: ContextVar[Mapping[str, str] | None] = ContextVar("agriseg_option_flags", default=None)
# options that never change what a command writes: left out of every fingerprint
NOT_OUTPUT_OPTIONS = frozenset({"batch_size", "threads", "strict", "overwrite", "progress", "workers", "device"})


_HASHES: dict[tuple[str, int, int, int], str] = {}


def file_identity(path: str | Path, content: bool = False, with_hash: bool = False, ctime: bool = True) -> str:
    """``size:<bytes>,mtime:<ns>,ctime:<ns>`` of a file, or ``sha256:<hex>`` of its content; ``absent`` if missing.

    The status-change time (``ctime``; on POSIX systems one a user cannot set) moves with an edit that keeps the
    file's size and is given its old modification time back (``touch -r``): :func:`same_input` then compares
    content. ``ctime=False`` leaves it out (an identity kept as a cache key: a ``chmod`` is no new file there).

    ``with_hash`` adds ``,sha256:<hex>`` of its content: what a record keeps, so that a later run can tell a copy
    with a new modification time from an edited file (:func:`same_input`). The whole file is read (a sample of
    its bytes would miss an edit inside a raster that keeps its size and header); a record is written once per
    output, just after the input was read, and a re-run hashes a file only when its time moved."""
    p = Path(path)
    try:
        stats = [f.stat() for f in _parts(p)]
    except OSError:
        return "absent"
    if content:
        return "sha256:" + _sha256(p)
    ident = f"size:{sum(st.st_size for st in stats)},mtime:{max(st.st_mtime_ns for st in stats)}"
    if ctime:
        ident += f",ctime:{max(st.st_ctime_ns for st in stats)}"
    if with_hash:
        try:
            ident += ",sha256:" + _content_hash(p)
        except OSError:  # unreadable now (a folder input, a file being replaced): size and time are all there is
            pass
    return ident


def same_input(path: str | Path, now: str, recorded: str) -> bool:
    """Whether input ``path``, of identity ``now``, is the file a record saw as ``recorded``: the same identity,
    or the same size and content under another modification time (a copy that did not keep times)."""
    if now == recorded:
        return True
    n, r = identity_fields(now), identity_fields(recorded)
    if "size" not in n or n["size"] != r.get("size"):
        return False
    if n.get("mtime") == r.get("mtime") and (n.get("ctime") == r.get("ctime") or "ctime" not in r or "sha256" not in r):
        return True  # the same file (a record without ctime, or without a hash to compare: size and time)
    if "sha256" not in r:
        return False  # recorded by an earlier agriseg: size and time were all it kept
    try:
        return _content_hash(Path(path)) == r["sha256"]
    except OSError:
        return False


def identity_fields(identity: str) -> dict[str, str]:
    """``{"size": .., "mtime": .., "sha256": ..}`` of a :func:`file_identity` (empty for a content hash)."""
    if identity.startswith("sha256:") or identity == "absent":
        return {}
    return dict(part.split(":", 1) for part in identity.split(",") if ":" in part)


SIDECARS = (".dbf", ".shx", ".prj", ".cpg")
"""The files a shapefile (``.shp``) is read with: its attributes (the plot ids), index, CRS and encoding."""


def _parts(p: Path) -> list[Path]:
    """The files one input is: a shapefile and its :data:`SIDECARS` beside it (an edited ``.dbf`` renames the
    plots, an edited ``.prj`` moves them), else the file alone."""
    if p.suffix.lower() != ".shp":
        return [p]
    found = (next((f for f in (p.with_suffix(s), p.with_suffix(s.upper())) if f.is_file()), None) for s in SIDECARS)
    return [p, *(f for f in found if f is not None)]


def _sha256(p: Path, adapters: bool = True) -> str:
    h = hashlib.sha256()
    if len(parts := _parts(p)) > 1:  # a shapefile: each of its files, by suffix
        for f in parts:
            h.update(f"{f.suffix.lower()}:{_file_sha256(f)}".encode())
        return h.hexdigest()
    if p.is_dir():  # a model folder: every file in it, by relative name
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(os.fsencode(f.relative_to(p)))
            h.update(_sha256(f).encode())
        if adapters and (base := _adapter_base_folder(p)) is not None:  # applied to its base: retrained, another
            h.update(b"base:" + _sha256(base, adapters=False).encode())  # (a base that is an adapter: not followed)
        return h.hexdigest()
    return _file_sha256(p)


def _adapter_base_folder(folder: Path) -> Path | None:
    """The local base model folder a LoRA adapter folder names (peft's ``adapter_config.json``), or None."""
    try:
        base = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(base, str) or not base or not Path(base).is_dir() or Path(base).resolve() == folder.resolve():
        return None
    return Path(base)


def _file_sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_identity(path: str | Path | None) -> str | None:
    """The content hash of a model file or folder (cached per path, size and mtime); None for no model."""
    if path is None:
        return None
    try:
        return "sha256:" + _content_hash(Path(path))
    except OSError:
        return str(path)  # not a local file (e.g. a hub id): its name is all there is


def _content_hash(p: Path) -> str:
    """:func:`_sha256` of a file or folder, once per path, size and mtime (a plots file or a land-cover raster
    every item reads is hashed once a run)."""
    parts = _parts(p)
    if p.is_dir() and (base := _adapter_base_folder(p)) is not None:  # a LoRA adapter: its base model's changes too
        parts = [*parts, base]
    stats = [f.stat() for f in parts]
    key = (
        str(p.resolve()),
        sum(st.st_size for st in stats),
        max(st.st_mtime_ns for st in stats),
        max(st.st_ctime_ns for st in stats),
    )
    if key not in _HASHES:
        _HASHES[key] = _sha256(p)
    return _HASHES[key]


def _plain(value: Any) -> Any:
    """A JSON-comparable form of an option value (paths as strings, tuples as lists)."""
    return json.loads(json.dumps(value, default=str))


@dataclass(frozen=True)
class Fingerprint:
    """What made one item's outputs (see the module docstring)."""

    command: str
    algorithm: str
    options: Mapping[str, Any]
    model: str | None
    inputs: Mapping[str, str]
    resolved: Mapping[str, Any]
    # name options by their config keys (``train.lr``) in :meth:`changes`, not as flags (``--long-side``)
    config_keys: bool = field(default=False, compare=False)
    # options left out of this fingerprint (the recipe's ``ignore``): left out of an earlier one compared with it
    # too (a record written before an option was left out, e.g. --plot, is not another setting for it)
    ignored: frozenset[str] = field(default=frozenset(), compare=False)
    # the model file's name, to say which model made them when the model (its content) differs
    model_name: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        out = {
            "command": self.command,
            "algorithm": self.algorithm,
            "options": _plain(dict(self.options)),
            "model": self.model,
            "inputs": dict(self.inputs),
            "resolved": _plain(dict(self.resolved)),
        }
        return {**out, "model_name": self.model_name} if self.model_name else out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Fingerprint:
        """The inverse of :meth:`to_dict`."""
        return cls(
            d["command"], d["algorithm"], d["options"], d.get("model"), d.get("inputs", {}), d.get("resolved", {}),
            model_name=d.get("model_name"),
        )  # fmt: skip

    def changes(self, earlier: Fingerprint) -> list[str]:
        """What differs from ``earlier``, one short phrase each (empty when both are the same).

        >>> a.changes(b)
        ['model: not the one they were made with', '--tta: flip -> none', 'input photo.jpg changed since']
        """
        now, before = self.to_dict(), earlier.to_dict()
        before["options"] = {k: v for k, v in before["options"].items() if k not in self.ignored}
        out = []
        if now["command"] != before["command"]:
            out.append(f"command: {before['command']} -> {now['command']}")
        if now["algorithm"] != before["algorithm"]:
            out.append(f"agriseg's {now['command']} algorithm: version {before['algorithm']} -> {now['algorithm']}")
        if now["model"] != before["model"]:  # retrained, replaced, or another --model (its content, not its name)
            a, b = before.get("model_name"), now.get("model_name")  # by name where the names differ (crop-weed's)
            if a and b and a != b:
                out.append(f"{MODEL_PREFIX}{a} -> {b}")
            elif bool(before["model"]) != bool(now["model"]):  # -m given to one run only (session 106's sweep)
                out.append(f"{MODEL_PREFIX}{a or 'a model'} -> none" if before["model"] else f"{MODEL_PREFIX}none -> "
                           f"{b or 'a model'}")  # fmt: skip
            else:
                out.append(MODEL_CHANGED)
        flags = OPTION_FLAGS.get() or {}
        before["inputs"] = _copies_as_now(now["inputs"], before["inputs"])
        named: set[str] = set()  # files a changed setting names (exclude_list: a.txt -> b.txt): said by it
        for kind in ("options", "resolved"):
            changed = list(_leaf_changes(before[kind], now[kind]))
            named |= {v for _, a, b in changed for v in (a, b) if isinstance(v, str)}
            for path, a, b in changed:
                # in a group of settings (fields map's predict / polygonize), the one setting that changed
                key, leaf, nested = ".".join(path), path[-1], len(path) > 1
                if leaf == "model_resize":  # no option of its own: the model's default resize, recorded when
                    # --resize is not given; said with --resize, or with another model, it is said already
                    if now["model"] != before["model"] or any(p[-1] == "resize" for p, _, _ in changed):
                        continue
                    out.append(f"the model's own resize (--resize not given): {shown(a)} -> {shown(b)}")
                    continue
                if kind == "options" and not self.config_keys:
                    name = key if nested and leaf not in flags else setting_name(leaf, flags)
                elif kind == "resolved" and flags and leaf not in flags:  # a rule of how the input is read
                    # (crop plots' "scale" when --window became smaller than the mosaic): no option a user set
                    was, now_is = (shown(v) if v is not None else "plain" for v in (a, b))
                    out.append(f"how the input is read ({key}): {was} -> {now_is}")
                    continue
                elif kind == "resolved":  # a resolved setting the command line gives too (--win-a-dates): its flag
                    name = flags.get(leaf, key)
                else:  # a config's key stays one (train.lr)
                    name = key
                out.append(f"{name}: {shown(a)} -> {shown(b)}")
        if _by_name(now["inputs"]) != _by_name(before["inputs"]):  # one file named by another path is the same
            gone, new = (
                sorted(set(before["inputs"]) - set(now["inputs"]) - named),
                sorted(set(now["inputs"]) - set(before["inputs"]) - named),
            )
            # made from another file (x/a.jpg, now y/a.jpg): one phrase, never one per file; among several, those
            # of one name: another is added or no longer read (selftrain's new exclude list and the photo it no
            # longer left out read "made from val.txt, not 0006.jpg, val_alt.txt", session 108's sweep)
            if len(gone) != 1 or len(new) != 1:
                names = {_stem(k) for k in gone} & {_stem(k) for k in new}  # (0002.jpg, now 0002.JPG: one file)
                gone, new = [k for k in gone if _stem(k) in names], [k for k in new if _stem(k) in names]
            moved = set(gone) | set(new)
            if moved:
                out.append(f"{INPUTS_CHANGED}{', '.join(gone)}, not {', '.join(new)}")
            # a file a changed setting names is said by it when it came or went, never when it was edited
            said = named - (set(now["inputs"]) & set(before["inputs"]))
            for k in sorted((set(now["inputs"]) | set(before["inputs"])) - moved - said):
                if now["inputs"].get(k) != before["inputs"].get(k):
                    if k not in before["inputs"]:  # an input the outputs were not made from (a data set's new image)
                        out.append(f"{INPUT_EDITED}{k} added")
                    elif k not in now["inputs"]:  # still there: left out of the inputs (an image whose mask went)
                        out.append(f"{INPUT_EDITED}{k} {'no longer read' if Path(k).exists() else 'removed'}")
                    else:  # the same path: its size, time or content
                        out.append(f"{INPUT_EDITED}{k} changed since")
        return out


def _stem(path: str) -> str:
    """A file's name without its suffix, in any case: how two inputs are known as one file moved or renamed."""
    return Path(path).stem.casefold()


def setting_name(key: str, flags: Mapping[str, str]) -> str:
    """A setting as a message names it: its flag (``--tile``); in a command whose flags are known, a setting it has
    no option for by its name (``simplify unit``: "--simplify-unit" named an option there is not); elsewhere (a
    library call) the flag its name would have."""
    if key in flags:
        return flags[key]
    return key.replace("_", " ") if flags else "--" + key.replace("_", "-")


def shown(value: Any) -> str:
    """A setting's value as a user types it: an option left out is ``not given`` (not Python's ``None``), a flag
    ``on`` / ``off`` (not ``True`` / ``False``), a list its items with commas (``flip_h,flip_v``; none: ``none``),
    a mapping as ``austria:2,kenya:1``."""
    if value is None:
        return "not given"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(shown(v) for v in value) or "none"
    if isinstance(value, Mapping):
        return ",".join(f"{k}:{shown(v)}" for k, v in value.items())
    return str(value)


def _leaf_changes(before: Any, now: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    """``(keys, before, now)`` for each setting that differs, inside groups of settings too.

    A group (a dict on both sides) is compared setting by setting, so a changed ``--min-area`` inside
    ``polygonize`` is named alone rather than as the whole group before and after.
    """
    if isinstance(before, dict) and isinstance(now, dict):
        for k in sorted(set(before) | set(now), key=str):
            yield from _leaf_changes(before.get(k), now.get(k), (*path, str(k)))
    elif before != now:
        yield path, before, now


def _copies_as_now(now: dict[str, str], before: dict[str, str]) -> dict[str, str]:
    """``before``'s inputs with each file that is still the same input given its identity now: untouched, or
    copied without its modification time (:func:`same_input`), at this path or under the same name elsewhere;
    or renamed (``0002.jpg`` now ``0002.JPG``, ``plots.csv`` copied to ``plots_final.csv``), its content the
    same, under its name now."""
    by_name: dict[str, list[str]] = {}
    for k in before:
        by_name.setdefault(PureWindowsPath(k).name, []).append(k)
    out, taken, unmatched = dict(before), set(), []
    for path, ident in now.items():
        candidates = [path] if path in before else by_name.get(PureWindowsPath(path).name, [])
        for k in candidates:
            if k not in taken and same_input(path, ident, before[k]):
                out[k] = ident
                taken.add(k)
                break
        else:
            unmatched.append((path, ident))
    for path, ident in unmatched:  # a file by another name: the same if its content is (hashed only here)
        size = identity_fields(ident).get("size")
        for k, rec in before.items():
            r = identity_fields(rec)
            if k in taken or "sha256" not in r or r.get("size") != size or size is None:
                continue
            try:
                same = _content_hash(Path(path)) == r["sha256"]
            except OSError:
                same = False
            if same:
                del out[k]
                out[path] = ident
                taken.add(k)
                break
    return out


def _by_name(inputs: dict[str, Any]) -> list[tuple[str, str]]:
    """Input files by file name and identity, not by the path they were given as (``ser2/a.jpg`` and
    ``/tmp/x/ser2/a.jpg``, or the same folder from another working directory, are one input). A path
    recorded on Windows (``ser2\\a.jpg``) has the same name on every system."""
    return sorted((PureWindowsPath(k).name, json.dumps(v, sort_keys=True, default=str)) for k, v in inputs.items())


@dataclass
class Recipe:
    """What a whole run shares in its fingerprints: the command and everything that changes its outputs.

    Args:
        command: the command, e.g. ``"crop predict"``.
        algorithm: agriseg's version of that command's algorithm (a string the pipeline bumps).
        options: the options that change outputs, by config name (those in ``ignore`` are dropped).
        model: the model file or folder, or a function giving it (called and hashed only when a store asks).
        inputs: files every item reads (a plots file, a regions table, a land-cover raster).
        content_hash: identify input files by content instead of size + mtime.
        ignore: options left out of the fingerprint (a training command keeps ``batch_size``: it changes
            the model), among them options that only choose which files are written (``--plot``, an
            overlay): turning one on makes the files it adds (the item runs), turning it off keeps them
            (the item is skipped); see :meth:`agriseg.manifest.ManifestStore.check`.
        config_keys: the options are a config file's keys (``train.lr``), named so when they change.
        same_as: other sets of ``options`` whose outputs are these (options as an earlier agriseg recorded them,
            before a value typed at its default was recorded as not given): outputs recorded with one resume.
    """

    command: str
    algorithm: str = "1"
    options: Mapping[str, Any] = field(default_factory=dict)
    model: str | Path | Callable[[], str | Path] | None = None
    inputs: Sequence[str | Path] = ()
    content_hash: bool = False
    ignore: frozenset[str] = NOT_OUTPUT_OPTIONS
    config_keys: bool = False
    same_as: Sequence[Mapping[str, Any]] = ()

    def changes(self, item: Item, earlier: Fingerprint) -> list[str]:
        """What differs between ``item``'s fingerprint now and ``earlier`` (:meth:`Fingerprint.changes`), or nothing
        when ``earlier`` was recorded with one of :attr:`same_as`."""
        from dataclasses import replace

        said = self.fingerprint(item).changes(earlier)
        if not item.uses_model:  # no model makes them: one recorded by a run that had one (or an older agriseg)
            said = [s for s in said if not s.startswith(MODEL_PREFIX)]
        if not said:
            return said
        # each other form of these settings: none changed when one matches, else the fewest changes said (an
        # output of an earlier algorithm named a --simplify no run was given next to the algorithm's version)
        alts = [replace(self, options=o, same_as=()).fingerprint(item).changes(earlier) for o in self.same_as]
        alts += [self.fingerprint(replace(item, resolved=r, same_as=())).changes(earlier) for r in item.same_as]
        if not item.uses_model:
            alts = [[s for s in a if not s.startswith(MODEL_PREFIX)] for a in alts]
        return min([said, *alts], key=len)

    def fingerprint(self, item: Item, with_hash: bool = False) -> Fingerprint:
        """The fingerprint of one item's outputs; ``with_hash``: as a store records it (:func:`file_identity`)."""
        from agriseg.models.io import model_label

        files = [*item.inputs, *self.inputs]
        model = (self.model() if callable(self.model) else self.model) if item.uses_model else None
        return Fingerprint(
            self.command,
            self.algorithm,
            _plain({k: v for k, v in self.options.items() if k not in self.ignore}),
            model_identity(model),
            {Path(f).as_posix(): file_identity(f, self.content_hash, with_hash) for f in files},  # "/" on every system
            _plain(dict(item.resolved)),
            self.config_keys,
            frozenset(self.ignore),
            model_label(model) if model is not None else None,
        )


@dataclass(frozen=True)
class Verdict:
    """A store's answer for one item's outputs.

    Attributes:
        state: ``missing`` / ``same`` / ``changed`` / ``unrecorded`` (see the module docstring).
        detail: for ``changed``, what changed (comma-separated); for ``unrecorded``, the file in the way.
        inputs_only: for ``changed``, whether only input files changed (no setting, no model): its outputs
            are another file's, not the same file's under other settings.
    """

    state: State
    detail: str = ""
    inputs_only: bool = False  # ``changed`` by its input files alone (another file, or an edited one)


class FingerprintStore(Protocol):
    """Where fingerprints are kept (see the module docstring); :class:`NameStore` is the default."""

    def open(self, items: Sequence[Item], recipe: Recipe | None) -> None:
        """Called once before the first ``check`` (lock the output folders, read their records)."""

    def check(self, item: Item, recipe: Recipe | None) -> Verdict:
        """Whether ``item``'s outputs are there and what made them."""
        ...

    def begin(self, items: Sequence[Item]) -> None:
        """``items`` are about to be produced: a run killed before their ``record`` leaves outputs that are
        still this store's (optional; the batch runner calls it when the store has it)."""

    def record(self, item: Item, recipe: Recipe | None) -> None:
        """``item``'s outputs were just produced (called in the parent process only)."""

    def discard(self, item: Item) -> list[Path]:
        """``item`` was run again over outputs of other settings or files and failed: remove those outputs
        and return them (optional, as ``begin``)."""
        ...

    def close(self) -> None:
        """Called once after the last item, also on errors (write the records, release the lock)."""


class NameStore:
    """The store that records nothing: outputs that all exist are taken as done (trusting their names)."""

    def open(self, items: Sequence[Item], recipe: Recipe | None) -> None:
        """Nothing to open."""

    def check(self, item: Item, recipe: Recipe | None) -> Verdict:
        """``same`` when every output exists, else ``missing``."""
        return Verdict("same" if all(p.exists() for p in item.outputs) else "missing")

    def begin(self, items: Sequence[Item]) -> None:
        """Nothing is recorded."""

    def record(self, item: Item, recipe: Recipe | None) -> None:
        """Nothing is recorded."""

    def discard(self, item: Item) -> list[Path]:
        """Nothing is known of earlier outputs: none is removed."""
        return []

    def close(self) -> None:
        """Nothing to close."""


def default_store() -> FingerprintStore:
    """The store of every batch that names none: :class:`agriseg.manifest.ManifestStore`.

    A file under an output name that its folder's manifest does not record (a user's file, or an output of
    an agriseg before fingerprints) is kept and reported, and replaced only with ``--overwrite``.
    """
    from agriseg.manifest import ManifestStore

    return ManifestStore()
