"""Writing outputs so that nothing half-written ever carries a final name, and JSON every reader accepts.

Every output of agriseg (images, rasters, tables, models, folders) is written through :func:`atomic_write`:
the writer fills a temporary sibling, which replaces the final name only when the writer finished without
an error; on an error the temporary is removed and the final name is untouched.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import deprecated

if TYPE_CHECKING:  # pragma: no cover
    from agriseg.config import OptionError

NAME_MAX = 255  # bytes of one file name on Linux, macOS and Windows file systems
TEMP_MARGIN = 16  # bytes kept free for suffixes writers add to a temporary name

# inputs of the running command, one list per protected_inputs block: no output may replace one of them
_PROTECTED: list[list[tuple[Path, tuple[int, int] | None]]] = []
# their finder, built once per change: each output of a batch of n photos was checked by building it again (n^2)
_PROTECTED_FINDER: list[Callable[[str | Path], Path | None]] = []
_PROTECTED_LOCK = threading.Lock()
_KEPT: dict[Path, str] = {}  # resolved path -> why the run keeps it, for files protected with a reason


def file_path(value: object, what: str) -> Path:
    """``value`` as a :class:`~pathlib.Path` when it is a file name (``str`` or ``os.PathLike``).

    Raises:
        TypeError: anything else (an array, an open file), naming ``what`` (``"scene"``): pathlib's own error
            names neither the argument nor what it should be.
    """
    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise TypeError(f"{what} is a file name (str or Path), not {type(value).__name__}")


def _read_umask() -> int:
    """The process's umask, read once at import (setting it to read it is not thread-safe; no thread runs yet)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _usual_modes(tmp: Path) -> None:
    """Give an output the modes the user's umask gives new files (0644 / 0755 with the usual 022).

    Writers that work through a private temporary of their own (safetensors' ``save_file``, temporary folders)
    leave their file 0600 or folder 0700: a model trained on a shared lab server could not be read by the
    group, while every other output beside it could. Only those private modes are widened; a mode a writer
    chose on purpose stays.
    """
    top = tmp.lstat().st_mode
    for p in (tmp, *(tmp.rglob("*") if stat.S_ISDIR(top) else ())):
        mode = p.lstat().st_mode  # links are left as they are
        if stat.S_ISDIR(mode) and stat.S_IMODE(mode) == 0o700:
            p.chmod(0o777 & ~_UMASK)
        elif stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o600:
            p.chmod(0o666 & ~_UMASK)


def temporary_sibling(path: str | Path, tag: str = "tmp") -> Path:
    """A hidden name next to ``path`` for work in progress (``.<name>.agriseg-<tag>-<pid><suffix>``).

    It keeps the suffix, because writers pick the format by it, and says whose it is: only such names are
    removed by :func:`clean_stale_temporaries` (``.notes.tmp-2024.txt`` is a user's file).
    """
    path = Path(path)
    name, tail = path.name, f".agriseg-{tag}-{os.getpid()}{path.suffix}"
    # a file name may have 255 bytes: a long one is shortened (with a digest, so names stay distinct),
    # leaving room for what writers append to a temporary (GDAL's ".ovr.tmp")
    # (bytes as the file system stores them: a name from another system's encoding is kept as it is)
    room = NAME_MAX - TEMP_MARGIN - 1 - len(tail.encode())
    raw = os.fsencode(name)
    if len(raw) > room:
        digest = hashlib.sha1(raw).hexdigest()[:12]
        name = os.fsdecode(raw[: room - len(digest) - 1]) + "~" + digest
    return path.with_name(f".{name}{tail}")


FOLDER_MARK = ".agriseg-output"  # in every folder atomic_write makes: a later --overwrite may replace it
AGRISEG_FILES = frozenset({FOLDER_MARK, "agriseg_text.json", "agriseg_train_config.json"})  # agriseg's alone
SYSTEM_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})  # what a file browser leaves: no user data


def check_output_folder(path: str | Path) -> None:
    """Refuse an output folder that holds the working folder (``.``, ``..``): replacing it would remove the
    folder the command runs in, and everything in it.

    Raises:
        agriseg.config.OptionError: naming the folder (a usage error).
    """
    from agriseg.config import OptionError

    target, here = Path(path).resolve(), Path.cwd().resolve()
    if target == here or target in here.parents:
        what = "is the working folder" if target == here else "holds the working folder"
        raise OptionError(f"{path}: {what}, which this output would replace; name a new folder")


# what a folder of each kind holds: a command that writes one never replaces the other (text dataset --overwrite
# into a trained model's folder deleted the model)
FOLDER_KINDS = {
    "model": frozenset({"agriseg_text.json", "agriseg_train_config.json", "model.safetensors",
                        "adapter_model.safetensors"}),
    "data set": frozenset({"dataset_info.json", "state.json", "dataset_dict.json"}),
    "generated set": frozenset({"made.json"}),  # text make-synthetic's landscapes
}  # fmt: skip
FolderKind = Literal["model", "data set", "generated set"]


def check_replaceable(path: Path, kind: FolderKind | None = None) -> None:
    """Refuse to replace the folder ``path`` by a new output unless it is empty or agriseg wrote it: marked
    with :data:`FOLDER_MARK`, holding a file only agriseg writes (a text model's ``agriseg_text.json``, a
    training run's ``agriseg_train_config.json``), or recorded as a finished output in the manifest of the
    folder above (folders written before the mark). A user's folder under an output's name is never
    removed, ``--overwrite`` or not; with ``kind`` (what the command writes), neither is a folder of the other
    kind (:data:`FOLDER_KINDS`)."""
    check_output_folder(path)
    try:
        held = [c.name for c in path.iterdir() if c.name not in SYSTEM_FILES]
    except OSError:
        return  # unreadable: os.replace says why
    for other, files in FOLDER_KINDS.items():
        if kind is not None and other != kind and (found := sorted(files & set(held))):
            from agriseg.config import OptionError

            raise OptionError(
                f"{path}: holds a {other} ({found[0]}), not a {kind}; it is never replaced by one: name another output"
            )
    if FOLDER_MARK in held and (extra := _added_files(path)):
        from agriseg.batch import listed
        from agriseg.config import OptionError

        raise OptionError(
            f"{path}: holds files agriseg did not write ({listed(extra, 3)}), which replacing the folder would "
            "delete; move them out of it, or name another output"
        )
    if AGRISEG_FILES & set(held) and FOLDER_MARK not in held and (extra := _not_of_a_model(path)):
        # a run's folder from before the mark (or copied without it, `cp -r run/* new/`): what no model or data
        # set holds is someone's, and --overwrite deleted it (notes.txt, a folder of predictions: session 105)
        from agriseg.batch import listed
        from agriseg.config import OptionError

        raise OptionError(
            f"{path}: holds files no agriseg model or data set has ({listed(extra, 3)}), which replacing the "
            "folder would delete; move them out of it, or name another output"
        )
    if not held or AGRISEG_FILES & set(held):
        return
    from agriseg.manifest import ever_recorded

    if ever_recorded(path.parent, path.name):
        return
    from agriseg.batch import listed
    from agriseg.config import OptionError

    shown = listed(sorted(held), 3)
    raise OptionError(
        f"{path}: a folder agriseg did not write (it holds {shown}); left alone: remove it yourself or name "
        "another output"
    )


# what the folders of models and data sets hold (transformers', tokenizers', PEFT's and datasets' files)
MODEL_FOLDER_SUFFIXES = frozenset({".json", ".safetensors", ".jinja", ".arrow", ".model", ".bin"})
MODEL_FOLDER_NAMES = frozenset({"merges.txt", "vocab.txt", "README.md"})  # README.md: PEFT's adapter card


def _not_of_a_model(folder: Path) -> list[str]:
    """The entries of an unmarked model or data-set folder that none holds (a subfolder, notes.txt), sorted."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return sorted(
        e.name + "/" * e.is_dir() for e in entries
        if e.name not in SYSTEM_FILES and (e.is_dir() or (e.suffix.lower() not in MODEL_FOLDER_SUFFIXES
                                                           and e.name not in MODEL_FOLDER_NAMES))
    )  # fmt: skip


MARK_HEADER = "written by agriseg: --overwrite replaces this folder"
FILES_LINE = "files:"  # what follows in the mark: the folder's files as written, one relative path a line


def _mark(folder: Path) -> None:
    """Mark ``folder`` (a finished output folder, not yet renamed) as agriseg's, listing its files: a later
    replacement then tells a file the user put there from one agriseg wrote (:func:`_added_files`)."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink())
    (folder / FOLDER_MARK).write_text("\n".join([MARK_HEADER, FILES_LINE, *files]) + "\n", encoding="utf-8")


def _added_files(folder: Path) -> list[str]:
    """The files in an agriseg output folder that it did not write there (its mark lists those it did), sorted;
    in a folder marked before marks listed files, those changed after the mark was written (the mark is the
    last file a finished folder gets); empty for an unreadable one."""
    try:
        mark = folder / FOLDER_MARK
        lines = mark.read_text(encoding="utf-8").splitlines()
        found = [p for p in folder.rglob("*") if (p.is_file() or p.is_symlink()) and p.name not in SYSTEM_FILES]
        if FILES_LINE not in lines:
            marked = mark.stat().st_mtime + 2.0  # slack for coarse file-system clocks (FAT: 2 s)
            later = (p for p in found if p != mark and p.lstat().st_mtime > marked)
            return sorted(p.relative_to(folder).as_posix() for p in later)
        written = set(lines[lines.index(FILES_LINE) + 1 :]) | {FOLDER_MARK}
        return sorted(r for p in found if (r := p.relative_to(folder).as_posix()) not in written)
    except (OSError, ValueError):
        return []


def _check_room(tmp: Path) -> None:
    """Raise ``OSError(ENOSPC)`` when the disk of ``tmp`` is full after writing it. Some writers ignore a
    short write (Pillow's JPEG and PNG encoders write through the file descriptor and check only for
    errors): on a full disk they leave a cut-off file and no error, which would take its final name."""
    import errno

    if out_of_room(tmp.parent):  # not one block left: the last write may have been cut short
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))


def out_of_room(folder: str | Path, blocks: int = 1) -> bool:
    """Whether the disk of ``folder`` has fewer than ``blocks`` blocks free (False where that cannot be read).

    Blocks free to ordinary users: root in a container cannot write into the reserved ones either (real root
    on a disk over 95 % full is told the disk is full a little early)."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs (Windows), a folder that is gone, a file system that cannot say
        return False
    return bool(st.f_blocks) and st.f_bavail < blocks


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _identity(path: Path) -> tuple[Path, tuple[int, int] | None]:
    """A path's resolved form and (device, inode) when it exists, to recognise it through links."""
    try:
        st = path.stat()
        return path.resolve(), (st.st_dev, st.st_ino)
    except OSError:
        return path.resolve(), None


@deprecated("is_same_file: unused, removed in the next release; compare Path.resolve() or os.path.samefile")
def is_same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name the same file or folder (also through symbolic or hard links)."""
    (ra, ia), (rb, ib) = _identity(Path(a)), _identity(Path(b))
    return ra == rb or (ia is not None and ia == ib)


class OutputIsInput(ValueError):
    """An output that is (or is a folder holding) one of the run's inputs: a failed item in a batch; before any
    work, on the command line, a usage error (exit status 2)."""


def check_not_input(output: str | Path, inputs: Iterable[str | Path] = ()) -> None:
    """Refuse to write ``output`` when it is one of ``inputs`` or of the :func:`protected_inputs`, or is a folder
    that holds one.

    Raises:
        OutputIsInput: ``<output>: is one of the inputs (...)``, so that no command, even with
            ``--overwrite``, replaces the data it reads.
    """
    inputs = list(inputs)
    src = (_finder([_identity(Path(p)) for p in inputs])(output) if inputs else None) or _protected_finder()(output)
    if src is not None and src in _KEPT:
        raise OutputIsInput(f"{output}: a file {_KEPT[src]}")
    if src is not None:
        raise OutputIsInput(
            f"{output}: {is_or_holds(output, src)} one of the inputs ({src}); choose another output name"
        )


def is_or_holds(output: str | Path, src: Path) -> str:
    """How an output relates to the input it would replace: "is" (the same file), or "holds" (a folder with it)."""
    return "holds" if Path(output).is_dir() and Path(output).resolve() in src.parents else "is"


def input_finder(inputs: Iterable[str | Path]) -> Callable[[str | Path], Path | None]:
    """A test, fast for many paths, of whether a path would write over one of ``inputs`` (as
    :func:`check_not_input` decides): it returns the input, or None."""
    return _finder([_identity(Path(p)) for p in inputs])


def _finder(identities: Iterable[tuple[Path, tuple[int, int] | None]]) -> Callable[[str | Path], Path | None]:
    """The input a path names (by resolved path, or by device and inode through links), of ``identities``, or for
    an existing folder the first input inside it (writing the folder would replace it)."""
    by_path: dict[Path, Path] = {}
    by_id: dict[tuple[int, int], Path] = {}
    for rp, ip in identities:
        by_path.setdefault(rp, rp)
        if ip is not None:
            by_id.setdefault(ip, rp)

    def find(path: str | Path) -> Path | None:
        ro, io = _identity(Path(path))
        found = by_path.get(ro) or (by_id.get(io) if io is not None else None)
        if found is None and Path(path).is_dir():  # a folder output replaces everything in it
            found = next((rp for rp in by_path if ro in rp.parents), None)
        return found

    return find


@contextmanager
def protected_inputs(paths: Iterable[str | Path], reason: str | None = None) -> Iterator[None]:
    """While inside, :func:`atomic_write` refuses to replace any of ``paths`` (commands wrap their work).

    ``reason``: why they are kept, when they are not inputs (a user's files named like the command's outputs):
    the refusal says it, and the batch runner fails an item that would write one before it runs
    (:func:`kept_reason`)."""
    added = [_identity(Path(p)) for p in paths]
    with _PROTECTED_LOCK:
        _PROTECTED.append(added)
        _PROTECTED_FINDER.clear()
        if reason is not None:
            _KEPT.update({rp: reason for rp, _ in added})
    try:
        yield
    finally:
        with _PROTECTED_LOCK:
            _PROTECTED[:] = [group for group in _PROTECTED if group is not added]
            _PROTECTED_FINDER.clear()
            if reason is not None:
                for rp, _ in added:
                    _KEPT.pop(rp, None)


def kept_reason(path: str | Path) -> str | None:
    """Why the running command keeps the file ``path`` names (:func:`protected_inputs`' ``reason``), or None."""
    return _KEPT.get(_identity(Path(path))[0]) if _KEPT else None


def _protected_finder() -> Callable[[str | Path], Path | None]:
    """The :func:`_finder` of every protected input, built once while they stay the same (under a lock: a
    finder built from the inputs before a block began must not be kept after it)."""
    with _PROTECTED_LOCK:
        if not _PROTECTED_FINDER:
            _PROTECTED_FINDER.append(_finder([item for group in _PROTECTED for item in group]))
        return _PROTECTED_FINDER[0]


_STALE = re.compile(r"^\..+\.agriseg-[a-z]+-(\d+)(?:\..*)?$")
_OLD_STALE = re.compile(r"^\.(.+)\.tmp-(\d+)(?:\..*)?$")  # agriseg's temporaries before session 65


def is_temporary(name: str) -> bool:
    """Whether a file name is one of agriseg's work-in-progress names (:func:`temporary_sibling`): never an
    input, even when a killed run left it among the photos."""
    return _STALE.match(name) is not None


def clean_stale_temporaries(folder: str | Path, outputs: Iterable[str] = ()) -> list[Path]:
    """Remove work-in-progress files left in ``folder`` by killed runs (their process no longer exists).

    Matches the names made by :func:`temporary_sibling` (``.<name>.agriseg-tmp-<pid><suffix>``) and what writers
    add to them (GDAL's ``.ovr.tmp`` overview files); files of a process that is still running (another
    run writing to the same folder) are left alone. Temporaries of agriseg before session 65
    (``.<name>.tmp-<pid><suffix>``) are removed only where ``<name>`` is one of ``outputs`` (file names in
    ``folder``) or starts with one's stem and a dot (``<stem>.partial.json``): a hidden file of the user's
    named like them (``.notes.tmp-2024.txt``) stays.

    Returns:
        The paths removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    names = set(outputs)
    stems = tuple(f"{Path(n).stem}." for n in names)
    for p in folder.iterdir():
        m = _STALE.match(p.name)
        if m is None:
            old = _OLD_STALE.match(p.name)
            if old is None or not (old.group(1) in names or old.group(1).startswith(stems)):
                continue
            m = old
        if pid_alive(int(m.group(m.lastindex or 1))):
            continue
        _remove(p)
        removed.append(p)
    return removed


def lock_exclusively(fd: int, wait_s: float, busy: Callable[[], BaseException]) -> bool:
    """Take an exclusive ``flock`` on the open file or folder ``fd`` (released when ``fd`` is closed), trying
    again for up to ``wait_s`` seconds while another process holds it, then raising ``busy()``. Returns False
    where flocks are not available (no ``fcntl``, some network file systems): the caller goes on unlocked."""
    import time

    try:
        import fcntl
    except ImportError:
        return _lock_windows(fd, wait_s, busy)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise busy() from None
            time.sleep(0.05)
        except OSError:
            return False


def _lock_windows(fd: int, wait_s: float, busy: Callable[[], BaseException]) -> bool:
    """:func:`lock_exclusively` where there is no ``fcntl`` (Windows): a lock on the file's first byte, which
    Windows releases when the file is closed; False where it cannot be taken (no ``msvcrt``, a folder)."""
    import errno
    import time

    try:
        import msvcrt
    except ImportError:
        return False
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError as err:
            if err.errno not in (errno.EACCES, errno.EDEADLK):  # not "held by another process"
                return False
            if time.monotonic() >= deadline:
                raise busy() from None
            time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id is running (this process counts as running; a process that ended but
    was not yet waited for, a zombie, does not). Where it cannot be told, running: a lock or temporary of a
    process that may still run is never removed."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except OSError:  # not ours to signal (PermissionError), or unknown
        return True
    try:  # bytes: the process name before ")" is cut at 15 bytes, maybe inside a UTF-8 letter
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): it exists
    return state not in (b"Z", b"X")  # zombie or dead: ended


def end_with(parent: int) -> None:
    """End this worker process when the ``parent`` process has ended (a thread polls it every second).

    Written here because the standard library does not do it: after a ``kill -9`` of the command, a worker of a
    ``ProcessPoolExecutor`` waits on a queue whose write end it holds itself, and a PyTorch loader worker
    started by a forkserver watches the forkserver, which waits for a pipe the worker holds open: both waited
    for ever (`fields polygonize` holding the command's output pipe, `crop train` 1.2 GB). ``prctl``'s
    parent-death signal would be Linux only, and names the forkserver, not the command, for forkserver workers.
    """
    import time

    def watch() -> None:
        while pid_alive(parent):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="agriseg-parent-watch", daemon=True).start()


def _windows_pid_alive(pid: int) -> bool:
    """``pid_alive`` on Windows, through the Win32 API: there ``os.kill(pid, 0)`` does not check a process but
    sends a Ctrl-C event, and raises a plain OSError for an id that runs no process. Written with ctypes
    because the standard library has no call for it (psutil has one, but is not a dependency)."""
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    query_limited_information, still_active, access_denied = 0x1000, 259, 5
    handle = kernel32.OpenProcess(query_limited_information, False, pid)
    if not handle:  # access denied: another user's process, which exists; any other error: none runs
        return bool(ctypes.get_last_error() == access_denied)  # type: ignore[attr-defined]
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started, in seconds since the epoch (to about a second), from ``/proc`` on Linux;
    None where that cannot be read (another system, no such process).

    Written here because the standard library has no call for it (psutil has one, but is not a dependency).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()  # bytes: a process name may end inside a UTF-8 letter
        ticks = int(stat.rsplit(b")", 1)[1].split()[19])  # field 22, starttime, counted after "pid (name)"
        lines = Path("/proc/stat").read_text(encoding="utf-8").splitlines()
        boot = next(int(x.split()[1]) for x in lines if x.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Write ``path`` (a file or a folder) all at once.

        >>> with atomic_write("out/mask.png") as tmp:
        ...     Image.fromarray(mask).save(tmp)

    Yields:
        The temporary path to write (a file, or a folder the writer creates). Its parent exists.

    On success the temporary replaces ``path`` (an existing folder is removed first, when agriseg wrote it:
    a folder written here is marked with :data:`FOLDER_MARK`); on any exception it is deleted and the
    exception propagates. A ``path`` that is a symbolic link is written through (``-o`` a link to a folder on a
    data disk, made or not yet made: its target is written, the link kept), unless its target is an existing
    file: that link is replaced itself, its target never written (``--overwrite`` in a folder holding a link to
    a label elsewhere had overwritten the label).

    Raises:
        agriseg.config.OptionError: ``path`` is a folder agriseg did not write (never removed), or holds the
            working folder.
    """
    path = Path(path)
    if path.is_symlink() and not path.resolve().is_file():  # -o a link to a data disk: the link is theirs, kept
        path = path.resolve()
    check_not_input(path)
    if path.is_dir():
        check_replaceable(path)  # before any work: a user's folder is never replaced
    make_parent(path)
    tmp = temporary_sibling(path)
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_file():
            _check_room(tmp)
        if tmp.is_dir():
            _mark(tmp)
            if path.is_dir():
                check_replaceable(path)
                _remove(path)
        if os.name == "posix":
            _usual_modes(tmp)
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        if err.filename is None or Path(err.filename) == tmp:  # a full disk: name the file, not its temporary
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def atomic_writes(paths: Iterable[str | Path]) -> Iterator[dict[Path, Path]]:
    """Write several files that belong together: none takes its final name until every one was written.

        >>> with atomic_writes([mask_path, overlay_path]) as tmp:
        ...     save(mask, tmp[mask_path]); save(overlay, tmp[overlay_path])

    Yields:
        ``{final path: temporary path}``; on an exception every temporary is removed.

    A Ctrl-C or SIGTERM while the files take their names waits until all have (a photo's mask without its
    record counted as not done, yet lay in the folder beside the done ones).
    """
    from agriseg.batch import signals_deferred

    with ExitStack() as stack:
        tmp = _Temporaries({Path(p): stack.enter_context(atomic_write(p)) for p in paths})
        try:
            yield tmp
        except OSError as err:  # a full disk: name the file being written (a writer's error may name none)
            final = {t: p for p, t in tmp.items()}.get(Path(err.filename)) if err.filename else tmp.last
            if final is None:
                raise
            raise OSError(err.errno, err.strerror or str(err), str(final)) from err
        with signals_deferred():
            stack.close()


class _Temporaries(dict[Path, Path]):
    """``{final path: temporary}`` that remembers the last file asked for: the one being written when a writer
    raises an error that names no file (Pillow's on a full disk)."""

    last: Path | None = None

    def __getitem__(self, key: Path) -> Path:
        self.last = key
        return super().__getitem__(key)


# why no file can be made in a folder, by errno
NOT_WRITABLE = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                errno.EROFS: "read-only file system", errno.ENOENT: "no file can be made there"}  # fmt: skip


def not_writable(folder: Path, err: OSError) -> OptionError | None:
    """The usage error of a file that could not be made in ``folder`` (``output folder: folder F is not writable
    (why)``), or None for a full disk or quota, which is no usage error."""
    from agriseg.config import OptionError

    if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return None
    why = NOT_WRITABLE.get(err.errno or 0) or err.strerror or str(err)
    return OptionError(f"output folder: folder {folder} is not writable ({why})")


_PROBED: set[Path] = set()  # folders found writable in this process: each is probed once, not per file written


def check_writable(folders: Iterable[str | Path]) -> None:
    """Refuse output folders no file can be made in, before any work (a usage error): the nearest existing
    folder of each is tried with an empty file, removed at once. (``os.access`` says yes for a virtual file
    system, ``-o /proc/x.tif``, which then refuses every file: the raw errno of a lock file said it.) A full disk
    passes here: it is said as one when the first write fails.

    Raises:
        agriseg.config.OptionError: ``output folder: folder F is not writable (why)``.
    """

    for folder in dict.fromkeys(Path(f) for f in folders):
        there = next((a for a in (folder, *folder.parents) if a.exists()), None)
        if there is None or not there.is_dir() or there in _PROBED:  # a file in the way: said when made
            continue
        try:
            fd, probe = tempfile.mkstemp(prefix=".agriseg-probe-", dir=there)
        except OSError as err:
            if (refusal := not_writable(there, err)) is None:
                continue  # a full disk: said as one when the first write fails
            raise refusal from None
        os.close(fd)
        with contextlib.suppress(OSError):  # a virus scanner holding it: the folder takes files all the same
            Path(probe).unlink()
        _PROBED.add(there)


def make_parent(path: Path, what: str | None = None) -> None:
    """Create ``path``'s folder, with one-line errors for the usual ways that fails (``what``: the name the
    messages start with; default ``path``)."""
    parent = path.parent
    what = what or str(path)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        # the file in the way: the nearest existing ancestor that is not a folder
        blocker = next((a for a in (parent, *parent.parents) if a.exists() and not a.is_dir()), parent)
        raise ValueError(f"{what}: cannot create the folder {parent}: {blocker} is a file") from err
    except PermissionError as err:
        raise ValueError(f"{what}: cannot create the folder {parent}: permission denied") from err
    except OSError as err:  # e.g. a read-only or virtual file system (/proc)
        raise ValueError(f"{what}: cannot create the folder {parent} ({err.strerror or err})") from err
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{what}: folder {parent} is not writable")
    try:
        check_writable([parent])  # a folder os.access passes where no file can be made (/proc)
    except ValueError as err:
        raise ValueError(f"{what}: {str(err).removeprefix('output folder: ')}") from None


def check_inputs(paths: Iterable[str | Path], what: str) -> None:
    """Refuse files named on the command line that are not there, before the batch (a usage error).

    A link whose target is missing, or a file that cannot be read, stays in: it fails as its own item.

    Raises:
        FileNotFoundError: ``<path>: <what> not found`` (and how many more are missing).
        agriseg.config.OptionError: one file named twice (:func:`refuse_twice`).
    """
    paths = [Path(p) for p in paths]
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        more = f" (and {len(missing) - 1} more missing)" if len(missing) > 1 else ""
        raise FileNotFoundError(f"{missing[0]}: {what} not found{more}")
    refuse_twice(paths)


def refuse_twice(paths: Iterable[str | Path]) -> None:
    """Refuse one file named twice (by the same name, another spelling or a link): its outputs would be made
    twice, under two names, or once for both without a word. Hard links are files of their own (snapshots
    made with ``cp -al`` name one file in many folders).

    Raises:
        agriseg.config.OptionError: naming both (a usage error).
    """
    from agriseg.config import OptionError

    seen: dict[Path, Path] = {}
    for p in map(Path, paths):
        key = p.resolve()
        if key in seen:
            first = seen[key]
            raise OptionError(f"{p}: given twice" + (f" (also as {first})" if str(first) != str(p) else ""))
        seen[key] = p


def ensure_outdir(folder: str | Path) -> Path:
    """Create an output folder (before any work starts) and check it can be written.

    Raises:
        agriseg.config.OptionError: naming the folder when it is a file, lies under a file, cannot be created or
            is not writable.
    """
    from agriseg.config import OptionError  # a bad output folder is a usage error (exit 2 on the command line)

    folder = Path(folder)
    try:
        if folder.exists() and not folder.is_dir():
            raise OptionError(f"{folder}: output folder is an existing file")
        make_parent(folder / "x", "output folder")  # "x": the folder itself is the parent to create
    except ValueError as err:
        raise OptionError(str(err)) from err
    except OSError as err:  # a name too long for the file system: exists() raises before any folder is made
        raise OptionError(f"{folder}: output folder: {err.strerror or err}") from err
    return folder


def user_cache(subdir: str) -> Path:
    """``<cache root>/<subdir>``: ``$AGRISEG_CACHE_DIR``, else the platform's user cache folder for agriseg."""
    root = os.path.expanduser(os.environ.get("AGRISEG_CACHE_DIR", ""))  # a quoted "~/cache" too
    # a file where the cache goes: said of the setting, not as an "output folder" (the folder is made only when
    # something is cached: a listing makes none)
    there = next((a for a in (Path(root), *Path(root).parents) if a.exists()), None) if root else None
    if there is not None and not there.is_dir():
        from agriseg.config import OptionError

        what = "a file" if there == Path(root) else f"under the file {there}"
        raise OptionError(f"AGRISEG_CACHE_DIR={root!r}: {what}, not a folder; name a folder for agriseg's cache")
    if not root:
        try:
            import platformdirs

            root = platformdirs.user_cache_dir("agriseg")
        except ImportError:
            root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "agriseg")
    return Path(root) / subdir


TEXT_ERRORS = "surrogateescape"
"""How text files agriseg reads back (lists of names) write a file name that is no UTF-8 (a Latin-1 name from an
old archive): as the bytes the file system holds, so the name read back is the file's."""

TABLE_ERRORS = "agriseg-table"
"""How CSV tables write such a name: ``m_caf\\xe9.jpg`` (the byte, escaped), so that the table is UTF-8 that
pandas, spreadsheets and ``csv`` read (raw bytes made ``pandas.read_csv`` fail on the whole table)."""


def _escape_bytes(err: UnicodeError) -> tuple[str, int]:
    """The codec error handler :data:`TABLE_ERRORS`: a byte that was no UTF-8 (held as a surrogate) as ``\\xNN``,
    anything else as Python's ``backslashreplace`` writes it."""
    if not isinstance(err, UnicodeEncodeError):
        raise err
    bad = err.object[err.start : err.end]
    text = "".join(
        f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else c.encode("unicode_escape").decode() for c in bad
    )
    return text, err.end


codecs.register_error(TABLE_ERRORS, _escape_bytes)


def write_text(path: str | Path, text: str) -> Path:
    """Write a UTF-8 text file atomically (file names of another encoding kept as their bytes)."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8", errors=TEXT_ERRORS)
    return Path(path)


def finite(obj: Any) -> Any:
    """A copy of ``obj`` in plain Python types with every non-finite float replaced by ``None``.

    numpy scalars and arrays become Python numbers and lists.
    """
    if hasattr(obj, "tolist") and type(obj).__module__ == "numpy":
        obj = obj.tolist()  # numpy scalar -> number, array -> nested list
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps_json(obj: Any, indent: int | None = 1) -> str:
    """Serialise ``obj`` as strict JSON (RFC 8259): NaN and infinities become ``null``.

    Python's ``json`` writes ``NaN``, which JavaScript, jq and most JSON parsers reject; an undefined
    metric (e.g. a false-positive rate with no predictions) is ``null`` instead. Other objects (paths)
    are written as their string.
    """
    return json.dumps(finite(obj), indent=indent, allow_nan=False, default=str)


def write_json(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    """Write ``obj`` as strict JSON (:func:`dumps_json`), atomically."""
    return write_text(path, dumps_json(obj, indent))
