import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from agriseg.data.files import atomic_write, atomic_writes, dumps_json, write_json


def test_undefined_numbers_are_null_and_numpy_is_plain() -> None:
    obj = {"fpr": float("nan"), "x": [np.float32("inf"), np.int64(3), np.float64(2.5)], "a": np.array([1.0, np.nan])}
    text = dumps_json(obj)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"fpr": None, "x": [None, 3, 2.5], "a": [1.0, None]}


def test_atomic_write_replaces_only_on_success(tmp_path) -> None:
    out = tmp_path / "sub" / "report.json"
    write_json(out, {"a": 1})
    with pytest.raises(RuntimeError), atomic_write(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert json.loads(out.read_text()) == {"a": 1}
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.json"]  # no temporary left


def test_atomic_write_of_a_folder_replaces_the_old_one(tmp_path) -> None:
    from agriseg.data.files import FOLDER_MARK

    out = tmp_path / "model"
    with atomic_write(out) as tmp:
        tmp.mkdir()
        (tmp / "old.bin").write_text("old")
    with atomic_write(out) as tmp:
        assert tmp.name.startswith(".model.") and tmp.parent == tmp_path
        tmp.mkdir()
        (tmp / "new.bin").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == sorted([FOLDER_MARK, "new.bin"])
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_a_folder_link_is_written_through_a_file_link_replaced(tmp_path) -> None:
    """-o a link to a folder on a data disk: the link was removed and the data written beside it, on the wrong
    disk, the target left empty."""
    target, link = tmp_path / "disk" / "data", tmp_path / "data"
    target.mkdir(parents=True)
    link.symlink_to(target, target_is_directory=True)
    with atomic_write(link) as tmp:
        tmp.mkdir()
        (tmp / "a.txt").write_text("x")
    assert link.is_symlink() and (target / "a.txt").read_text() == "x"
    # a link to a file is replaced, its target never written: a link in an output folder to a label elsewhere
    # was overwritten through with --overwrite (session 95's sweep)
    file_link, file_target = tmp_path / "out.csv", tmp_path / "disk" / "out.csv"
    file_target.write_text("old")
    file_link.symlink_to(file_target)
    with atomic_write(file_link) as tmp:
        tmp.write_text("new")
    assert not file_link.is_symlink() and file_link.read_text() == "new" and file_target.read_text() == "old"
    # a link to a folder not made yet is written through, the folder made there (the review's find: a folder
    # output to it failed after the work, "Not a directory")
    later = tmp_path / "synth"
    later.symlink_to(tmp_path / "disk" / "synth", target_is_directory=True)
    with atomic_write(later) as tmp:
        tmp.mkdir()
        (tmp / "a.txt").write_text("x")
    assert later.is_symlink() and (tmp_path / "disk" / "synth" / "a.txt").read_text() == "x"


def test_user_cache_reads_agriseg_cache_dir_with_a_tilde(tmp_path, monkeypatch) -> None:
    """A quoted ``AGRISEG_CACHE_DIR="~/cache"`` (the shell does not expand it) made a folder named ``~``."""
    from agriseg.data.files import user_cache

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AGRISEG_CACHE_DIR", "~/cache")
    assert user_cache("models") == tmp_path / "cache" / "models"
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path / "c"))
    assert user_cache("onnx") == tmp_path / "c" / "onnx"


def test_a_folder_output_never_replaces_a_users_folder_or_the_working_folder(tmp_path, monkeypatch) -> None:
    """`text dataset -o .. --overwrite` emptied the parent folder (the user's files and the working folder)."""
    from agriseg.config import OptionError
    from agriseg.data.files import FOLDER_MARK, atomic_write

    def write(folder):
        with atomic_write(folder) as tmp:
            tmp.mkdir()
            (tmp / "data.arrow").write_text("new")

    inner = tmp_path / "proj" / "inner"
    inner.mkdir(parents=True)
    (tmp_path / "proj" / "precious.txt").write_text("mine")
    monkeypatch.chdir(inner)
    for target in (".", "..", str(tmp_path)):
        with pytest.raises(OptionError, match="(is|holds) the working folder, which this output would replace"):
            write(target)
    assert (tmp_path / "proj" / "precious.txt").read_text() == "mine"
    users = tmp_path / "victim"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    with pytest.raises(OptionError, match=r"victim: a folder agriseg did not write \(it holds notes.txt\)"):
        write(users)
    assert (users / "notes.txt").read_text() == "mine"
    ours = tmp_path / "ours"
    write(ours)  # a folder agriseg made is marked, and replaced by the next write
    assert (ours / FOLDER_MARK).is_file()
    (ours / "data.arrow").write_text("old")
    write(ours)
    assert (ours / "data.arrow").read_text() == "new"
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty")  # an empty folder holds nothing to lose
    assert (tmp_path / "empty" / "data.arrow").is_file()


def test_files_a_user_put_in_an_output_folder_are_never_deleted_with_it(tmp_path) -> None:
    """Session 85's text sweep: a re-run of `text sft` into its earlier output_dir deleted the README.md and
    eval/ folder the user had put there (the folder was agriseg's, so all of it was replaced)."""
    from agriseg.config import OptionError
    from agriseg.data.files import FOLDER_MARK, atomic_write

    def write(folder):
        with atomic_write(folder) as tmp:
            (tmp / "sub").mkdir(parents=True)
            (tmp / "model.bin").write_text("new")
            (tmp / "sub" / "a.json").write_text("{}")

    out = tmp_path / "model"
    write(out)
    (out / ".DS_Store").write_text("finder")  # what a file browser leaves is no user data
    write(out)  # agriseg's files only: replaced
    (out / "README.md").write_text("my notes")
    (out / "eval").mkdir()
    (out / "eval" / "r.json").write_text("x")
    with pytest.raises(OptionError, match=r"model: holds files agriseg did not write \(README.md, eval/r.json\)"):
        write(out)
    assert (out / "README.md").read_text() == "my notes" and (out / "eval" / "r.json").is_file()
    # a mark written before marks listed files: the files changed after it are the user's (they were deleted)
    mark = out / FOLDER_MARK
    mark.write_text("written by agriseg: --overwrite replaces this folder\n")  # an older mark
    old = mark.stat().st_mtime - 60
    for f in (mark, out / "model.bin", out / "sub" / "a.json"):
        os.utime(f, (old, old))
    with pytest.raises(OptionError, match=r"model: holds files agriseg did not write \(README.md, eval/r.json\)"):
        write(out)
    (out / "README.md").unlink()
    shutil.rmtree(out / "eval")
    write(out)  # agriseg's files only, unchanged since the mark: replaced
    assert (out / "model.bin").read_text() == "new" and not (out / "README.md").exists()


def test_one_file_named_twice_is_refused_by_any_name(tmp_path) -> None:
    """`fields predict s.tif $PWD/s.tif` predicted one scene twice. Hard links stay files of their own (a
    shell glob over `cp -al` snapshots)."""
    import os

    from agriseg.config import OptionError
    from agriseg.data.files import check_inputs

    a = tmp_path / "a.tif"
    a.write_bytes(b"x")
    os.link(a, tmp_path / "hard.tif")
    os.symlink(a, tmp_path / "soft.tif")
    for pair in ([a, a], [a, tmp_path / ".." / tmp_path.name / "a.tif"], [a, tmp_path / "soft.tif"]):
        with pytest.raises(OptionError, match="given twice"):
            check_inputs(pair, "scene file")
    check_inputs([a, tmp_path / "hard.tif"], "scene file")


def test_pid_alive_tells_ended_processes_and_never_fails(monkeypatch) -> None:
    """A process that ended but was not waited for (a zombie) held its lock for ever; an OSError other than
    "no such process" (what Windows raises for an id that runs nothing) stopped every run into the folder."""
    import os
    import subprocess
    import sys
    import time

    from agriseg.data.files import pid_alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while pid_alive(child.pid) and time.monotonic() < deadline:  # ends, not yet waited for: a zombie
        time.sleep(0.05)
    assert not pid_alive(child.pid)
    child.wait()
    assert pid_alive(os.getpid())

    def refuse(pid: int, sig: int) -> None:
        raise OSError(22, "The parameter is incorrect")

    monkeypatch.setattr(os, "kill", refuse)
    assert pid_alive(12345678)  # cannot tell: running, so nothing of it is removed


def test_a_lock_is_taken_where_there_is_no_fcntl(tmp_path, monkeypatch) -> None:
    """Windows has no fcntl: the lock of a scene being written was no lock at all there (two runs wrote one
    scene). Windows' byte lock stands in, simulated here by a module that refuses a second holder."""
    import errno
    import sys
    import types

    from agriseg.data.files import lock_exclusively

    held: set[int] = set()

    def locking(fd: int, mode: int, nbytes: int) -> None:
        if held:  # one holder at a time, as Windows does across processes
            raise OSError(errno.EACCES, "Permission denied")
        held.add(fd)

    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl -> ImportError
    monkeypatch.setitem(sys.modules, "msvcrt", types.SimpleNamespace(LK_NBLCK=2, locking=locking))
    with (
        open(tmp_path / "a.lock", "w", encoding="utf-8") as first,
        open(tmp_path / "a.lock", "a", encoding="utf-8") as second,
    ):
        assert lock_exclusively(first.fileno(), 0.0, lambda: BlockingIOError("busy"))
        with pytest.raises(BlockingIOError, match="busy"):
            lock_exclusively(second.fileno(), 0.1, lambda: BlockingIOError("busy"))
    monkeypatch.setitem(sys.modules, "msvcrt", None)
    with open(tmp_path / "b.lock", "w", encoding="utf-8") as fh:
        assert not lock_exclusively(fh.fileno(), 0.0, lambda: BlockingIOError("busy"))  # no way to lock: said so


def test_pid_alive_of_a_process_whose_name_ends_inside_a_letter(tmp_path) -> None:
    """Linux cuts a process name at 15 bytes: "aaaaaaaaaaaaaaé" is cut inside the "é", and reading its
    /proc stat as UTF-8 stopped every run into a folder whose stale lock named that pid."""
    import os
    import subprocess
    import sys

    from agriseg.data.files import pid_alive, process_start_time

    if not os.path.isdir("/proc"):
        pytest.skip("no /proc here")
    exe = tmp_path / "aaaaaaaaaaaaaaé"
    exe.symlink_to(sys.executable)
    child = subprocess.Popen([str(exe), "-c", "import time; time.sleep(30)"])
    try:
        assert pid_alive(child.pid) and process_start_time(child.pid) is not None
    finally:
        child.kill()
        child.wait()


def test_protected_inputs_are_indexed_once_for_many_writes(tmp_path, monkeypatch) -> None:
    """Each file written rebuilt the index of every input of the run: n^2 for a batch (a 6,010-photo `crop
    predict` spent 31 of its 81 s there with the manifest's lookup, session 69's sweep)."""
    from agriseg.data import files
    from agriseg.data.files import OutputIsInput, protected_inputs

    inputs = [tmp_path / f"in{i}.jpg" for i in range(200)]
    for p in inputs:
        p.write_bytes(b"x")
    built = []
    finder = files._finder
    monkeypatch.setattr(files, "_finder", lambda ids: built.append(1) or finder(ids))
    with protected_inputs(inputs):
        for i in range(50):
            with atomic_write(tmp_path / f"out{i}.txt") as tmp:
                tmp.write_text("ok", encoding="utf-8")
        with pytest.raises(OutputIsInput, match="in7.jpg: is one of the inputs"):  # still refused
            with atomic_write(inputs[7]) as tmp:
                tmp.write_text("no", encoding="utf-8")
        assert len(built) == 1
        with protected_inputs([tmp_path / "more.jpg"]):  # a nested block: its inputs are protected too
            with pytest.raises(OutputIsInput, match="more.jpg"), atomic_write(tmp_path / "more.jpg") as tmp:
                tmp.write_text("no", encoding="utf-8")
    with atomic_write(inputs[7]) as tmp:  # outside the blocks nothing is protected
        tmp.write_text("yes", encoding="utf-8")
    assert inputs[7].read_text(encoding="utf-8") == "yes"


def test_a_write_that_fails_with_a_full_disk_leaves_no_temporary(tmp_path) -> None:
    """A changed rule left the hidden partial file behind on OSError (session 75's mutation sweep); the error
    names the output, not its temporary."""
    import errno

    out = tmp_path / "table.csv"
    with pytest.raises(OSError, match="table.csv") as err:
        with atomic_write(out) as tmp:
            tmp.write_text("half a table")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert err.value.filename == str(out) and not tmp.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_outputs_get_the_modes_of_the_users_umask_not_a_writers_private_ones(tmp_path: Path) -> None:
    """Found in session 78: safetensors' save_file writes 0600, so a model trained on a shared lab server could
    not be read by the group, while the files beside it (0644) could."""
    import stat

    from agriseg.data.files import _UMASK

    with atomic_write(tmp_path / "model.safetensors") as tmp:
        os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600))  # as safetensors and mkstemp create files
    with atomic_write(tmp_path / "run") as tmp:
        tmp.mkdir(mode=0o700)  # as mkdtemp
        os.close(os.open(tmp / "weights.bin", os.O_CREAT | os.O_WRONLY, 0o600))
        os.close(os.open(tmp / "chosen.txt", os.O_CREAT | os.O_WRONLY, 0o640))
        os.chmod(tmp / "chosen.txt", 0o640)  # a mode a writer chose on purpose stays

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(tmp_path / "model.safetensors") == mode(tmp_path / "run" / "weights.bin") == 0o666 & ~_UMASK
    assert mode(tmp_path / "run") == 0o777 & ~_UMASK and mode(tmp_path / "run" / "chosen.txt") == 0o640


def test_atomic_writes_names_the_file_a_writer_failed_on(tmp_path: Path) -> None:
    """Pillow's error on a full disk names no file: ``crop traits`` said its record (the last of its files) was
    the one that could not be written, when its picture was."""
    import errno

    picture, record = tmp_path / "a_plants.png", tmp_path / "a_traits.json"
    with pytest.raises(OSError) as caught, atomic_writes([picture, record]) as tmp:
        tmp[record].write_text("{}")
        _ = tmp[picture]
        raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.filename == str(picture) and caught.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []  # neither file, nor a temporary


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, a folder no file can be made in")
def test_an_output_folder_that_takes_no_file_is_one_line_for_every_command(tmp_path: Path) -> None:
    """Session 89's fields sweep: `-o /proc` passed the permission check and then failed on the lock file with
    a raw errno ("[Errno 2] No such file or directory: '/proc/.agriseg-lock'"); the same for every command."""
    import subprocess
    import sys

    from PIL import Image

    from agriseg.config import OptionError
    from agriseg.data.files import check_writable

    with pytest.raises(OptionError, match=r"^output folder: folder /proc is not writable \(no file can be made"):
        check_writable([Path("/proc/sub/x")])
    check_writable([tmp_path / "not" / "yet"])  # a folder to be made under a writable one passes
    photo = tmp_path / "p.png"
    Image.fromarray(np.full((32, 48, 3), 90, np.uint8)).save(photo)
    for cmd in (["crop", "predict"], ["crop", "traits"]):
        res = subprocess.run([sys.executable, "-m", "agriseg", *cmd, str(photo), "-o", "/proc"],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        lines = (res.stdout + res.stderr).strip().splitlines()
        assert res.returncode == 2 and lines[-1] == (
            "Error: output folder: folder /proc is not writable (no file can be made there)"
        ), res.stdout + res.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full, a device that is always full")
def test_a_manifest_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    """A disk full as a run began said `Error: No space left on device`, naming no file (the manifest's)."""
    import errno

    from agriseg.manifest import _append

    with pytest.raises(OSError) as err:
        _append(Path("/dev/full"), "x" * 100_000)
    assert err.value.errno == errno.ENOSPC and err.value.filename == "/dev/full"


def test_a_model_folder_is_never_replaced_by_a_data_set_nor_the_other_way_round(tmp_path: Path) -> None:
    """``text dataset -o <a GRPO run's folder> --overwrite`` deleted the trained model (session 99's sweep)."""
    from agriseg.config import OptionError
    from agriseg.data.files import check_replaceable

    model, data = tmp_path / "model", tmp_path / "data"
    model.mkdir()
    data.mkdir()
    (model / "agriseg_text.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"")
    (data / "dataset_info.json").write_text("{}")
    (data / "state.json").write_text("{}")
    with pytest.raises(OptionError, match=r"model: holds a model \(agriseg_text.json\), not a data set"):
        check_replaceable(model, "data set")
    with pytest.raises(OptionError, match=r"data: holds a data set \(dataset_info.json\), not a model"):
        check_replaceable(data, "model")
    check_replaceable(model, "model")  # its own kind: replaced by --overwrite as before
    check_replaceable(model)


def test_an_unmarked_run_folder_holding_a_users_files_is_not_replaced(tmp_path: Path) -> None:
    """Session 105's sweep: a text sft folder without its mark (an older agriseg, or `cp -r run/* new/`) holding
    notes.txt and a folder of predictions: `--overwrite` deleted them; one agriseg_train_config.json beside a
    LOG.md sufficed."""
    from agriseg.config import OptionError
    from agriseg.data.files import check_replaceable

    run = tmp_path / "run"
    run.mkdir()
    for name in ("agriseg_train_config.json", "config.json", "model.safetensors", "chat_template.jinja",
                 "merges.txt", "README.md", ".DS_Store"):  # fmt: skip
        (run / name).write_text("x")
    check_replaceable(run, "model")  # a model's files: replaced by --overwrite
    (run / "notes.txt").write_text("mine")
    (run / "preds").mkdir()
    with pytest.raises(OptionError, match=r"run: holds files no agriseg model or data set has \(notes.txt, preds/\)"):
        check_replaceable(run, "model")
