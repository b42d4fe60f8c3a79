"""The batch runner: names, skip / resume, strict, counts, executors, errors and the fingerprint interface."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agriseg.batch import (
    BatchAborted,
    BatchOptions,
    BatchResult,
    DaskCluster,
    DiskFull,
    Item,
    Serial,
    Threads,
    check_output,
    describe_error,
    run_batch,
    unique_names,
)
from agriseg.data.files import OutputIsInput, atomic_write
from agriseg.fingerprint import Fingerprint, Recipe, Verdict, model_identity

QUIET = BatchOptions(progress=False)


def _items(tmp_path: Path, names: Sequence[str]) -> list[Item]:
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    out = []
    for n in names:
        f = src / f"{n}.txt"
        f.write_text(n)
        out.append(Item(n, f, (tmp_path / "out" / f"{n}.res",), (f,)))
    return out


def _work(item: Item) -> dict:
    text = Path(item.source).read_text()
    if text.startswith("bad"):
        raise ValueError("not a readable input")
    with atomic_write(item.outputs[0]) as tmp:
        tmp.write_text(text.upper())
    return {"file": str(item.source), "status": "ok"}


def test_counts_summary_and_exit_code(tmp_path: Path) -> None:
    items = _items(tmp_path, ["a", "bad", "c"])
    res = run_batch(items, _work, options=QUIET, folders=[tmp_path / "out"])
    assert [r["status"] for r in res] == ["ok", "error", "ok"] and len(res) == 3
    assert res.counts == {"ok": 2, "skipped": 0, "failed": 1} and res.exit_code == 1
    assert res.failures == [f"{items[1].source}: not a readable input"]
    line = res.summary("done", tmp_path / "out")
    assert line.startswith("2 done, 0 skipped, 1 failed in ") and line.endswith(f"-> {tmp_path / 'out'}")
    assert (tmp_path / "out" / "a.res").read_text() == "A"
    assert re.fullmatch(r"BatchResult\(2 ok, 0 skipped, 1 failed, \d+\.\d s\)", repr(res))  # not every record
    bad = run_batch(items[1:2], _work, options=QUIET, folders=[tmp_path / "out"])
    assert bad.summary("done", tmp_path / "never.tif") == "0 done, 0 skipped, 1 failed"  # no arrow to nothing
    assert bad.summary("done", tmp_path / "out").endswith(f"-> {tmp_path / 'out'}")  # a folder there: pointed to


def test_a_rerun_resumes_and_overwrite_redoes(tmp_path: Path) -> None:
    items = _items(tmp_path, ["a", "b"])
    run_batch(items, _work, options=QUIET)
    (tmp_path / "out" / "b.res").unlink()  # an interrupted run
    calls: list[str] = []

    def work(item: Item) -> dict:
        calls.append(item.name)
        return _work(item)

    res = run_batch(items, work, options=QUIET, resume=lambda it: {"file": str(it.source), "status": "skipped"})
    assert calls == ["b"] and [r["status"] for r in res] == ["skipped", "ok"] and res.exit_code == 0
    run_batch(items, work, options=BatchOptions(overwrite=True, progress=False))
    assert calls == ["b", "a", "b"]
    # an earlier output that cannot be read back is made again
    run_batch(items, work, options=QUIET, resume=lambda it: None)
    assert calls == ["b", "a", "b", "a", "b"]  # (calls[-2:] already held a, b: it could not fail; session 75)


def test_a_full_disk_stops_the_batch_naming_the_file_and_what_was_kept(tmp_path: Path) -> None:
    """A full disk failed every later photo too: 283 of 300 reported as failed one by one, then the run ended
    on one line about its tables, with no summary. The batch stops at the first full write and says how to
    go on; the re-run does the rest."""
    import errno

    items = _items(tmp_path, ["a", "b", "c", "d"])
    ran: list[str] = []

    def work(item: Item) -> dict:
        ran.append(item.name)
        if item.name == "b":
            raise OSError(errno.ENOSPC, "No space left on device", str(item.outputs[0]))
        return _work(item)

    with pytest.raises(DiskFull) as caught:
        run_batch(items, work, options=QUIET)
    assert ran == ["a", "b"]
    assert str(caught.value) == (
        f"{items[1].source}: {items[1].outputs[0]}: No space left on device; the batch stopped (free some space "
        "first): 1 of 4 done (complete outputs); the same command resumes with the other 3"
    )
    again = run_batch(items, _work, options=QUIET)
    assert again.counts["skipped"] == 1 and again.counts["ok"] == 3


def test_a_full_disk_said_in_a_librarys_words_stops_the_batch_too(tmp_path: Path) -> None:
    """GeoPackage writes fail with SQLite's "database or disk is full" (pyogrio's DataLayerError, no errno):
    each item was reported as an internal error, "a bug in agriseg", and the batch went on."""

    class DataLayerError(RuntimeError):
        pass

    items = _items(tmp_path, ["a", "b"])

    def work(item: Item) -> dict:
        raise DataLayerError("sqlite3_exec(COMMIT) failed: database or disk is full")

    with pytest.raises(DiskFull) as caught:
        run_batch(items, work, options=QUIET)
    assert str(caught.value) == (
        f"{items[0].source}: {items[0].outputs[0]}: No space left on device; free some space, then run the "
        "command again (none of the 2 done)"
    )


def test_a_gdal_write_error_on_a_full_disk_names_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GDAL's error says only "Write failed" (why is in its own stderr line): a fields predict batch reported
    each scene as failed and went on; a disk left without room is taken as the reason."""
    import errno

    from rasterio.errors import RasterioIOError

    import agriseg.data.files as files
    from agriseg.fields.predict import full_disk

    out = tmp_path / "p.tif"
    assert full_disk(RasterioIOError("Write failed."), out) is None  # room left: another error
    monkeypatch.setattr(files, "out_of_room", lambda folder, blocks=1: True)
    said = full_disk(RasterioIOError("Write failed."), out)
    assert said is not None and said.errno == errno.ENOSPC and said.filename == str(out)
    assert full_disk(ValueError("not a scene"), out) is None  # a bad input is never taken for a full disk


def test_a_full_disk_while_the_tables_are_written_says_the_outputs_are_complete(tmp_path: Path) -> None:
    import errno

    items = _items(tmp_path, ["a", "b"])
    table = tmp_path / "out" / "summary.csv"

    def finish(result: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(table))

    with pytest.raises(DiskFull, match=r"summary\.csv: No space left on device; .*: all 2 done \(complete outputs\); "
                       "the same command skips them and writes the run's tables"):  # fmt: skip
        run_batch(items, _work, options=QUIET, tables=[table], finish=finish)
    assert all(it.outputs[0].is_file() for it in items)


def test_strict_stops_at_the_first_failure(tmp_path: Path) -> None:
    items = _items(tmp_path, ["a", "bad", "c"])
    done: list[str] = []

    def work(item: Item) -> dict:
        done.append(item.name)
        return _work(item)

    with pytest.raises(BatchAborted, match=r"bad\.txt: not a readable input"):
        run_batch(items, work, options=BatchOptions(strict=True, progress=False))
    assert done == ["a", "bad"]


def test_a_bug_fails_its_item_named_as_a_bug_and_the_batch_goes_on(tmp_path: Path) -> None:
    """A bug met by one photo (an IndexError on a 12 MP photo) stopped the batch with a traceback: no summary,
    the other photos never done, and a re-run stopped at the same photo again."""

    def work(item: Item) -> dict:
        if item.name == "b":
            raise IndexError("boolean index did not match")
        return _work(item)

    res = run_batch(_items(tmp_path, ["a", "b", "c"]), work, options=QUIET)
    assert res.counts == {"ok": 2, "skipped": 0, "failed": 1} and res.exit_code == 1
    assert "internal error (IndexError: boolean index did not match); this is a bug in agriseg" in res.failures[0]
    with pytest.raises(BatchAborted, match="internal error"):
        run_batch(_items(tmp_path, ["b"]), work, options=BatchOptions(strict=True, progress=False))


def test_an_item_out_of_memory_fails_alone_in_one_line(tmp_path: Path) -> None:
    """A photo too large for the memory left fails as its own item; the batch goes on."""
    import numpy as np

    def work(item: Item) -> dict:
        if item.name == "big":
            np.empty(2**62, np.uint8)  # numpy's MemoryError: "Unable to allocate 4.00 EiB ..."
        if item.name == "bare":
            raise MemoryError
        return _work(item)

    items = _items(tmp_path, ["a", "big", "bare", "c"])
    res = run_batch(items, work, options=QUIET)
    assert [r["status"] for r in res] == ["ok", "error", "error", "ok"] and res.exit_code == 1
    big, bare = res.failures
    assert big.startswith(f"{items[1].source}: out of memory (Unable to allocate ") and "\n" not in big
    assert bare == f"{items[2].source}: out of memory"


def test_names_must_be_unique_and_unique_names_makes_them(tmp_path: Path) -> None:
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "scene.tif").write_text(d)
    names = unique_names([tmp_path / "x" / "scene.tif", tmp_path / "y" / "scene.tif"])
    assert sorted(names.values()) == ["x_scene_tif", "y_scene_tif"]
    same = [Item("a", "1", (tmp_path / "a",)), Item("a", "2", (tmp_path / "b",))]
    with pytest.raises(ValueError, match=r"1 and 2 would write outputs of the same name \(a\)"):
        run_batch(same, _work, options=QUIET)
    case = [Item("North", "North", (tmp_path / "North.tif",)), Item("north", "north", (tmp_path / "north.tif",))]
    with pytest.raises(ValueError, match=r"North and north would write .*\(North and north, one name on macOS"):
        run_batch(case, _work, options=QUIET)


def test_inputs_are_protected(tmp_path: Path) -> None:
    items = _items(tmp_path, ["a"])

    def work(item: Item) -> dict:
        with atomic_write(item.source) as tmp:  # writes over its own input
            tmp.write_text("x")
        return {}

    res = run_batch(items, work, options=QUIET)
    assert res.exit_code == 1 and "is one of the inputs" in res.failures[0]
    assert Path(items[0].source).read_text() == "a"


@pytest.mark.parametrize("executor", [Serial(), Threads(3)], ids=["serial", "threads"])
def test_executors_keep_input_order(tmp_path: Path, executor: object) -> None:
    items = _items(tmp_path, [f"i{k}" for k in range(8)] + ["bad"])
    res = run_batch(items, _work, options=QUIET, executor=executor)  # type: ignore[arg-type]
    assert [r["file"] for r in res] == [str(it.source) for it in items]
    assert res.counts == {"ok": 8, "skipped": 0, "failed": 1}


def test_dask_cluster_runs_items_as_tasks(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    items = _items(tmp_path, ["a", "bad", "c"])
    res = run_batch(items, _work, options=QUIET, executor=DaskCluster(workers=1, processes=False))
    assert [r["status"] for r in res] == ["ok", "error", "ok"] and "bad.txt" in res.failures[0]
    assert (tmp_path / "out" / "c.res").read_text() == "C"


def test_a_failed_dask_item_is_one_line_not_a_worker_dump(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """The worker logged "Compute Failed / Key / Task: <the item and every setting> / Traceback" for each failed
    item, before the item's own failed line (session 62's sweep, fields map on a text file named .tif)."""
    pytest.importorskip("distributed")
    items = _items(tmp_path, ["a", "bad"])
    res = run_batch(items, _work, options=QUIET, executor=DaskCluster(workers=1))  # a worker process, as fields map
    assert res.counts["failed"] == 1 and "bad.txt" in res.failures[0]
    err = capfd.readouterr().err
    assert "Compute Failed" not in err and "Traceback" not in err, err


def test_a_local_cluster_does_not_warn_where_port_8787_is_taken(tmp_path: Path) -> None:
    """``fields map`` printed distributed's "Port 8787 is already in use" UserWarning when another program (or
    another cluster) held the port, though it shows no dashboard."""
    import socket
    import warnings

    pytest.importorskip("distributed")
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:
        pass  # taken already: as the test needs
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            res = run_batch(
                _items(tmp_path, ["a"]), _work, options=QUIET, executor=DaskCluster(workers=1, processes=False)
            )
    finally:
        holder.close()
    assert res.counts["ok"] == 1
    assert not [w for w in said if "already in use" in str(w.message)], [str(w.message) for w in said]


def test_a_scheduler_address_where_none_answers_is_a_usage_error(tmp_path: Path) -> None:
    """``--scheduler tcp://127.0.0.1:9`` failed as an item (exit 1) with distributed's own words."""
    pytest.importorskip("distributed")
    import socket

    import dask

    from agriseg.config import OptionError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    addr = f"tcp://127.0.0.1:{port}"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(OptionError) as err:
        run_batch(_items(tmp_path, ["a"]), _work, options=QUIET, executor=DaskCluster(scheduler=addr))
    assert str(err.value).startswith(f"--scheduler {addr}: no Dask scheduler answers there (")


def test_a_stream_batches_items_itself(tmp_path: Path) -> None:
    items = _items(tmp_path, ["a", "bad", "c"])
    seen: list[list[str]] = []

    def stream(todo: Sequence[Item]):
        seen.append([it.name for it in todo])
        for it in todo:
            try:
                yield it, _work(it)
            except ValueError as err:
                yield it, err

    res = run_batch(items, stream=stream, options=QUIET)
    assert seen == [["a", "bad", "c"]] and res.counts["failed"] == 1
    res = run_batch(items, stream=stream, options=QUIET)
    assert seen[-1] == ["bad"] and res.counts == {"ok": 0, "skipped": 2, "failed": 1}


def test_error_messages_name_the_file(tmp_path: Path) -> None:
    item = Item("a", tmp_path / "a.jpg", (tmp_path / "a.png",))
    assert describe_error(item, ValueError("truncated")) == f"{tmp_path / 'a.jpg'}: truncated"
    assert describe_error(item, ValueError(f"{tmp_path}/mask.png: wrong size")) == f"{tmp_path}/mask.png: wrong size"
    err = OSError(28, "No space left on device", str(tmp_path / "a.png"))
    assert describe_error(item, err) == f"{tmp_path / 'a.jpg'}: {tmp_path / 'a.png'}: No space left on device"
    assert "\n" not in describe_error(item, ValueError("two\nlines"))


def test_check_output_is_the_one_refusal(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(FileExistsError, match=r"r\.json: exists \(use --overwrite\)"):
        check_output(tmp_path / "r.json", overwrite=False)
    assert check_output(tmp_path / "r.json", overwrite=True) == tmp_path / "r.json"
    (tmp_path / "empty").mkdir()
    assert check_output(tmp_path / "empty", overwrite=False, empty_dir_ok=True)


def test_an_empty_output_folder_that_is_a_mount_point_is_refused_before_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """text / fields make-synthetic into an empty read-only folder (a mount) made the whole set, then failed
    replacing it ("Device or resource busy", exit 1; session 108's sweep). The folder is probed first."""
    import os

    from agriseg.config import OptionError

    (tmp_path / "mnt").mkdir()
    real = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == tmp_path / "mnt" or real(p))  # (tests cannot mount)
    with pytest.raises(OptionError, match="mnt is a mount point, which a finished set cannot replace"):
        check_output(tmp_path / "mnt", overwrite=False, empty_dir_ok=True)
    (tmp_path / "plain").mkdir()  # an empty folder of its own (read-only or not: its parent replaces it)
    assert check_output(tmp_path / "plain", overwrite=False, empty_dir_ok=True) == tmp_path / "plain"


# ----------------------------------------------------------------------------------------------------------
# the fingerprint interface


def test_fingerprints_name_what_changed(tmp_path: Path) -> None:
    model = tmp_path / "default.safetensors"
    model.write_bytes(b"weights v1")
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"photo")
    item = Item("p", photo, (tmp_path / "p_mask.png",), (photo,), {"season": ("2024-04-01", "2024-08-31")})
    recipe = Recipe("crop predict", "1", {"tta": "flip", "batch_size": 4, "threads": 2}, model)
    a = recipe.fingerprint(item)
    assert "batch_size" not in a.options and "threads" not in a.options  # never part of what is written
    assert Fingerprint.from_dict(a.to_dict()) == a and a.changes(a) == []
    model.write_bytes(b"weights v2, retrained")  # a retrained model under the same name
    b = Recipe("crop predict", "1", {"tta": "none", "batch_size": 8}, model).fingerprint(item)
    assert b.changes(a) == ["model: not the one they were made with", "--tta: flip -> none"]
    photo.write_bytes(b"another photo")
    c = Recipe("crop predict", "2", {"tta": "none"}, model).fingerprint(item)
    assert c.changes(b) == ["agriseg's crop predict algorithm: version 1 -> 2", f"input {photo} changed since"]
    # -m given to one run only: said so, not "not the one they were made with" (session 106's sweep)
    bare = Recipe("crop predict", "2", {"tta": "none"}, None).fingerprint(item)
    assert bare.changes(c) == ["model: default.safetensors -> none"] and c.changes(bare) == [
        "model: none -> default.safetensors"
    ]


def test_the_models_own_resize_is_named_in_words_and_not_beside_another_model(tmp_path: Path) -> None:
    """``fields predict`` with another model file said "--model-resize: not given -> 2.0", a flag there is not
    (session 96's sweep): beside a changed model it is not said; alone it is the model's own resize."""
    m1, m2 = tmp_path / "a.ckpt", tmp_path / "a.safetensors"
    m1.write_bytes(b"one")
    m2.write_bytes(b"two")
    before = Recipe("fields predict", "1", {"resize": None}, m1).fingerprint(
        Item("s", "s.tif", (tmp_path / "s_probs.tif",), resolved={"model_resize": None})
    )
    other = Recipe("fields predict", "1", {"resize": None}, m2).fingerprint(
        Item("s", "s.tif", (tmp_path / "s_probs.tif",), resolved={"model_resize": 2.0})
    )
    assert other.changes(before) == ["model: a.ckpt -> a.safetensors"]  # by name where names differ (session 101)
    same = Recipe("fields predict", "1", {"resize": None}, m1).fingerprint(
        Item("s", "s.tif", (tmp_path / "s_probs.tif",), resolved={"model_resize": 2.0})
    )
    assert same.changes(before) == ["the model's own resize (--resize not given): not given -> 2.0"]


def test_a_change_inside_a_group_of_settings_is_named_alone(tmp_path: Path) -> None:
    """fields map records its predict and polygon settings as groups: a changed --min-area is one phrase."""
    from agriseg.fingerprint import OPTION_FLAGS

    item = Item("s", "s.tif", (tmp_path / "s.parquet",))
    group = {"field_class": 1, "min_area_m2": 500.0, "simplify": 0.0}
    a = Recipe("fields map", "1", {"polygonize": group, "predict": {"patch_size": 256}}).fingerprint(item)
    changed = {"polygonize": {**group, "min_area_m2": 100.0}, "predict": {"patch_size": 128}}
    b = Recipe("fields map", "1", changed).fingerprint(item)
    token = OPTION_FLAGS.set({"min_area_m2": "--min-area", "patch_size": "--tile"})
    try:
        assert b.changes(a) == ["--min-area: 500.0 -> 100.0", "--tile: 256 -> 128"]
    finally:
        OPTION_FLAGS.reset(token)
    assert b.changes(a) == ["polygonize.min_area_m2: 500.0 -> 100.0", "predict.patch_size: 256 -> 128"]  # no CLI


def test_a_fingerprint_recorded_on_windows_matches_here(tmp_path: Path) -> None:
    """An output folder first made on Windows (inputs recorded as ``case\\a.jpg``) refused every item on
    Linux and macOS as "made from another file"."""
    photo = tmp_path / "case" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"photo")
    item = Item("a", photo, (tmp_path / "a_mask.png",), (photo,))
    now = Recipe("crop predict").fingerprint(item)
    assert list(now.inputs) == [photo.as_posix()]  # recorded with "/" on every system
    ((key, identity),) = now.inputs.items()
    windows = Fingerprint.from_dict({**now.to_dict(), "inputs": {"C:\\data\\case\\a.jpg": identity}})
    assert now.changes(windows) == []
    other = Fingerprint.from_dict({**now.to_dict(), "inputs": {"C:\\data\\case\\b.jpg": identity}})
    assert now.changes(other) and "b.jpg" in now.changes(other)[0]


def test_model_identity_is_the_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    a.write_bytes(b"same")
    b.write_bytes(b"same")
    assert model_identity(a) == model_identity(b) != model_identity(tmp_path / "missing")
    assert model_identity(None) is None


def test_an_item_no_model_makes_is_the_same_whichever_model_a_run_has(tmp_path: Path) -> None:
    """A mask measured as it is (``uses_model=False``): its outputs resume under a run with another model or
    none, as they were recorded with a model (an earlier run of photos and masks, or an older agriseg)."""
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    mask = tmp_path / "p_mask.png"
    mask.write_bytes(b"mask")
    item = Item("p", mask, (tmp_path / "p.json",), (mask,), uses_model=False)
    photo = Item("p", mask, (tmp_path / "p.json",), (mask,))
    earlier = Recipe("crop traits", model=a).fingerprint(photo)  # recorded with the model
    assert Recipe("crop traits", model=b).fingerprint(item).model is None
    assert Recipe("crop traits", model=b).changes(item, earlier) == []
    assert Recipe("crop traits").changes(item, earlier) == []
    assert Recipe("crop traits", model=b).changes(photo, earlier) == ["model: a.safetensors -> b.safetensors"]
    assert Recipe("crop traits", options={"tta": "flip"}, model=b).changes(item, earlier)  # a setting still counts


class DictStore:
    """A store that keeps fingerprints in memory, as a recording store would in a manifest."""

    def __init__(self) -> None:
        self.records: dict[str, Fingerprint] = {}
        self.calls: list[str] = []

    def open(self, items: Sequence[Item], recipe: Recipe | None) -> None:
        self.calls.append("open")

    def check(self, item: Item, recipe: Recipe | None) -> Verdict:
        assert recipe is not None
        if not all(p.exists() for p in item.outputs):
            return Verdict("missing")
        earlier = self.records.get(item.name)
        if earlier is None:
            return Verdict("unrecorded", str(item.outputs[0]))
        changed = recipe.fingerprint(item).changes(earlier)
        return Verdict("changed", ", ".join(changed)) if changed else Verdict("same")

    def record(self, item: Item, recipe: Recipe | None) -> None:
        assert recipe is not None
        self.records[item.name] = recipe.fingerprint(item)

    def close(self) -> None:
        self.calls.append("close")


def test_a_recording_store_refuses_changed_outputs_and_keeps_a_users_file(tmp_path: Path) -> None:
    items = _items(tmp_path, ["a", "b"])
    store = DictStore()
    r1 = Recipe("demo", "1", {"level": 1})
    assert run_batch(items, _work, options=QUIET, recipe=r1, store=store).counts["ok"] == 2
    assert set(store.records) == {"a", "b"} and store.calls == ["open", "close"]
    assert run_batch(items, _work, options=QUIET, recipe=r1, store=store).counts["skipped"] == 2
    r2 = Recipe("demo", "1", {"level": 2})
    res = run_batch(items, _work, options=QUIET, recipe=r2, store=store)
    assert res.counts == {"ok": 0, "skipped": 0, "failed": 2} and res.outcomes[0].reason == "changed"
    assert "--level: 1 -> 2" in res.failures[0] and "use --overwrite" in res.failures[0]
    # the refused items' outputs stand, so the folder's tables keep their records, marked as kept
    kept = [o.record for o in res.outcomes]
    assert [r["status"] for r in kept] == ["kept", "kept"] and kept[0]["error"] == res.failures[0]
    res = run_batch(items, _work, options=BatchOptions(overwrite=True, progress=False), recipe=r2, store=store)
    assert res.counts["ok"] == 2 and store.records["a"].options == {"level": 2}
    # a file under an output name that this command did not write: kept, reported
    c = _items(tmp_path, ["c"])
    (tmp_path / "out" / "c.res").write_text("the user's own")
    res = run_batch(c, _work, options=QUIET, recipe=r2, store=store)
    assert res.outcomes[0].reason == "unrecorded" and "was not written by this command" in res.failures[0]
    assert (tmp_path / "out" / "c.res").read_text() == "the user's own"
    with pytest.raises(BatchAborted):
        run_batch(c, _work, options=BatchOptions(strict=True, progress=False), recipe=r2, store=store)
    assert store.calls[-2:] == ["open", "close"]  # closed (lock released) also when a batch stops


# ----------------------------------------------------------------------------------------------------------
# the manifest store


def test_manifest_store_resumes_refuses_and_survives_a_kill(tmp_path: Path) -> None:
    from agriseg.manifest import MANIFEST, ManifestStore

    items = _items(tmp_path, ["a", "b"])
    r1 = Recipe("demo", "1", {"level": 1})
    assert run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["ok"] == 2
    lines = (tmp_path / "out" / MANIFEST).read_text().splitlines()
    assert len(lines) == 2 and not (tmp_path / "out" / ".agriseg-lock").exists()
    assert run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["skipped"] == 2
    res = run_batch(items, _work, options=QUIET, recipe=Recipe("demo", "1", {"level": 2}), store=ManifestStore())
    assert res.counts["failed"] == 2 and "--level: 1 -> 2" in res.failures[0]
    # a killed run: records appended so far are kept (close never ran)
    store = ManifestStore()
    c = _items(tmp_path, ["c"])
    store.open(c, r1)
    _work(c[0])
    store.record(c[0], r1)
    again = run_batch(c, _work, options=QUIET, recipe=r1, store=ManifestStore())  # the lock's process is us
    assert again.counts["skipped"] == 1
    # a user's file under an output name is kept; an output folder without a manifest (legacy) trusts names
    d = _items(tmp_path, ["d"])
    (tmp_path / "out" / "d.res").write_text("mine")
    assert run_batch(d, _work, options=QUIET, recipe=r1, store=ManifestStore()).outcomes[0].reason == "unrecorded"
    old = [Item("e", tmp_path / "in" / "a.txt", (tmp_path / "old" / "e.res",), (tmp_path / "in" / "a.txt",))]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "e.res").write_text("from an earlier agriseg")
    assert run_batch(old, _work, options=QUIET, recipe=r1, store=ManifestStore(legacy=True)).counts["skipped"] == 1


def test_an_item_killed_before_its_record_is_made_again(tmp_path: Path) -> None:
    """Outputs written by a run killed between writing them and recording them are the store's own: the next
    run makes them again (a user's file under the same name is still kept)."""
    from agriseg.manifest import ManifestStore

    r1 = Recipe("demo", "1", {"level": 1})
    items = _items(tmp_path, ["a", "b"])
    store = ManifestStore()
    store.open(items, r1)
    store.begin(items)
    _work(items[0])  # written, then killed before store.record (close never runs either)
    (tmp_path / "out" / "b.res").write_text("half")  # b cut off halfway
    res = run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore())
    assert res.counts["ok"] == 2 and res.exit_code == 0
    assert (tmp_path / "out" / "b.res").read_text() == "B"
    assert run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["skipped"] == 2
    mine = _items(tmp_path, ["c"])
    (tmp_path / "out" / "c.res").write_text("mine")
    assert run_batch(mine, _work, options=QUIET, recipe=r1, store=ManifestStore()).outcomes[0].reason == "unrecorded"


def test_a_file_put_under_the_output_name_of_an_item_that_failed_is_kept(tmp_path: Path) -> None:
    """Session 106's sweep: `crop predict` of a truncated photo failed; the user then put their own mask under its
    output name and mended the photo; the re-run wrote over their mask (the failed item's pending record made every
    file there "missing", the store's own). A failed item's outputs of an earlier run are still remade."""
    from agriseg.manifest import ManifestStore

    r1 = Recipe("demo", "1", {"level": 1})
    (item,) = _items(tmp_path, ["a"])
    Path(item.source).write_text("bad input")
    assert run_batch([item], _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["failed"] == 1
    mine = tmp_path / "out" / "a.res"
    mine.write_text("mine, drawn by hand")
    Path(item.source).write_text("mended")
    res = run_batch([item], _work, options=QUIET, recipe=r1, store=ManifestStore())
    assert (
        res.counts["failed"] == 1
        and res.outcomes[0].reason == "unrecorded"
        and mine.read_text() == "mine, drawn by hand"
    )
    mine.unlink()
    assert run_batch([item], _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["ok"] == 1
    # an output of a run that finished, then a run with --overwrite that failed: the old output is the store's own
    Path(item.source).write_text("bad again")
    over = dataclasses.replace(QUIET, overwrite=True)
    assert run_batch([item], _work, options=over, recipe=r1, store=ManifestStore()).counts["failed"] == 1
    Path(item.source).write_text("mended again")
    assert run_batch([item], _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["ok"] == 1
    assert mine.read_text() == "MENDED AGAIN"


def test_a_folder_output_of_a_failed_redo_is_still_the_commands(tmp_path: Path) -> None:
    """Session 106's review: after a failed `text dataset --overwrite`, the data set folder (not stamped as a file)
    was refused as a user's: "exists and was not written by this command"."""
    from agriseg.manifest import ManifestStore

    src = tmp_path / "in.txt"
    src.write_text("good")
    item = Item("ds", src, (tmp_path / "out" / "ds",), (src,))

    def build(it: Item) -> dict:
        if src.read_text() == "bad":
            raise ValueError("no samples")
        with atomic_write(it.outputs[0]) as tmp:
            tmp.mkdir()
            (tmp / "data.arrow").write_text(src.read_text())
        return {"status": "ok"}

    r = Recipe("demo", "1")
    assert run_batch([item], build, options=QUIET, recipe=r, store=ManifestStore()).counts["ok"] == 1
    src.write_text("bad")
    over = dataclasses.replace(QUIET, overwrite=True)
    assert run_batch([item], build, options=over, recipe=r, store=ManifestStore()).counts["failed"] == 1
    src.write_text("good")  # the input as the folder was made from: the folder stands (refused before)
    res = run_batch([item], build, options=QUIET, recipe=r, store=ManifestStore())
    assert res.counts["skipped"] == 1 and (item.outputs[0] / "data.arrow").read_text() == "good", res.failures
    src.write_text("other")  # another input: the failed redo's own command goes on, or is said changed
    res = run_batch([item], build, options=QUIET, recipe=r, store=ManifestStore())
    assert res.counts["failed"] == 1 and "changed since" in res.failures[0], res.failures
    assert run_batch([item], build, options=over, recipe=r, store=ManifestStore()).counts["ok"] == 1


def test_outputs_a_stopped_redo_left_standing_keep_the_record_that_made_them(tmp_path: Path) -> None:
    """Session 106's sweep: `text dataset --overwrite --seed 5`, stopped before it replaced the seed-0 data set,
    left it "pending": the next run with any options replaced it without --overwrite, and the seed-0 run itself
    rebuilt it. What the earlier run made stands as that run's until it is replaced."""
    from agriseg.manifest import ManifestStore

    r0, r5, r7 = (Recipe("demo", "1", {"seed": n}) for n in (0, 5, 7))
    items = _items(tmp_path, ["a"])
    assert run_batch(items, _work, options=QUIET, recipe=r0, store=ManifestStore()).counts["ok"] == 1
    store = ManifestStore()
    store.open(items, r5)
    store.begin(items)  # the --overwrite run with seed 5 starts, then is killed (close never runs either)
    res = run_batch(items, _work, options=QUIET, recipe=r7, store=ManifestStore())
    assert res.counts["failed"] == 1 and "seed: 0 -> 7" in res.outcomes[0].error, res.outcomes[0].error  # kept
    assert run_batch(items, _work, options=QUIET, recipe=r0, store=ManifestStore()).counts["skipped"] == 1
    # the stopped redo's own settings: the same command without --overwrite goes on, as its Ctrl-C line says
    assert run_batch(items, _work, options=QUIET, recipe=r5, store=ManifestStore()).counts["ok"] == 1
    # one that had replaced the output before it was killed: its output is not the earlier run's (made again)
    store = ManifestStore()
    store.open(items, r0)
    store.begin(items)
    _work(items[0])
    assert run_batch(items, _work, options=QUIET, recipe=r7, store=ManifestStore()).counts["ok"] == 1


def test_an_items_record_is_found_by_its_outputs_under_an_earlier_name(tmp_path: Path) -> None:
    """An item named otherwise when it was written (``fields polygonize`` named items by the output's stem) is
    found by its outputs, also for records put after that lookup was first indexed (it scanned every record
    for each item: n^2 for a batch, session 69's sweep)."""
    from agriseg.manifest import MANIFEST, ManifestStore

    r1 = Recipe("demo", "1", {"level": 1})
    old = [Item(f"old{n}", tmp_path / "in" / f"{n}.txt", (tmp_path / "out" / f"{n}.res",)) for n in "ab"]
    _items(tmp_path, ["a", "b"])
    assert run_batch(old[:1], _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["ok"] == 1
    store = ManifestStore()
    new = _items(tmp_path, ["a", "b"])
    store.open(new, r1)
    store.begin(new[:1])  # indexes the folder: "a" takes the record of "olda"
    store.record(old[1], r1)  # put after the index was built, under the old name, without the file yet
    store.begin(new[1:])  # "b" takes it
    store.close()
    items = [line.split('"item": ')[1].split(",")[0] for line in (tmp_path / "out" / MANIFEST).read_text().splitlines()]
    assert sorted(items) == ['"a"', '"b"']


def test_manifest_store_locks_the_folder(tmp_path: Path) -> None:
    import os

    from agriseg.manifest import LOCK, FolderLocked, ManifestStore

    items = _items(tmp_path, ["a"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / LOCK).write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(FolderLocked, match="another agriseg run"):
        run_batch(items, _work, options=QUIET, store=ManifestStore())
    (tmp_path / "out" / LOCK).write_text("999999999")  # left by a process that is gone
    assert run_batch(items, _work, options=QUIET, store=ManifestStore()).counts["ok"] == 1


def test_old_batch_keywords_still_work_with_a_deprecation_warning() -> None:
    from agriseg.batch import BatchOptions, batch_keywords

    @batch_keywords
    def entry(paths: list[str], batch: BatchOptions | None = None) -> BatchOptions | None:
        return batch

    with pytest.warns(DeprecationWarning, match=r"entry\(overwrite=, strict=\) is deprecated"):
        got = entry(["a"], overwrite=True, strict=True)
    assert got == BatchOptions(overwrite=True, strict=True, progress=True)
    with pytest.warns(DeprecationWarning):
        got = entry(["a"], batch=BatchOptions(strict=True), progress=False)
    assert got == BatchOptions(strict=True, progress=False)
    assert entry(["a"]) is None  # the new form: no warning, nothing added
    # a dict of its fields, as config takes one (it failed with "'dict' object has no attribute 'progress'")
    assert entry(["a"], {"overwrite": True}) == BatchOptions(overwrite=True)
    assert entry(["a"], batch={"strict": True}) == BatchOptions(strict=True)
    with pytest.raises(TypeError, match=r"batch: no option 'overwrit' \(options: overwrite, strict, progress"):
        entry(["a"], batch={"overwrit": True})
    with pytest.raises(TypeError, match="batch: a BatchOptions or a dict of its fields, not int"):
        entry(["a"], batch=3)
    # "no" is a true value: it remade every finished output (session 103's sweep)
    with pytest.raises(TypeError, match="batch: overwrite is True or False, not 'no'"):
        entry(["a"], batch={"overwrite": "no"})
    with pytest.raises(TypeError, match="batch: desc is text, not 3"):
        BatchOptions(desc=3)  # type: ignore[arg-type]
    import numpy as np

    assert BatchOptions(overwrite=np.True_).overwrite is True  # a flag computed with numpy (the review)


def test_labelled_options_keep_the_callers_choices() -> None:
    from agriseg.batch import BatchOptions

    opts = BatchOptions(overwrite=True, strict=True, progress=False).labelled("predict", "img")
    assert (opts.overwrite, opts.strict, opts.progress, opts.desc, opts.unit) == (True, True, False, "predict", "img")
    assert not BatchOptions().labelled("plots", "mosaic", progress=False).progress
    assert BatchOptions().labelled("plots", "mosaic").progress


def test_inputs_sharing_an_output_name_are_a_usage_error_naming_both(tmp_path: Path) -> None:
    """The same file twice says so; two files that would write one output name are both named (OptionError:
    exit status 2 on the command line)."""
    from agriseg.config import OptionError

    (a,) = _items(tmp_path, ["a"])
    with pytest.raises(OptionError, match=r"a\.txt: given twice$"):
        run_batch([a, a], _work, options=QUIET)
    other = tmp_path / "b.txt"
    other.write_text("b")
    b = Item("a", other, (tmp_path / "out" / "a2.res",), (other,))
    with pytest.raises(OptionError, match=r"in/a\.txt and .*b\.txt would write outputs of the same name \(a\)"):
        run_batch([a, b], _work, options=QUIET)


def test_one_input_named_by_another_path_is_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-run given the folder by its absolute path, or from another working directory, resumes; a changed
    file still counts as changed."""
    from agriseg.batch import Item

    (tmp_path / "in").mkdir()
    photo = tmp_path / "in" / "a.jpg"
    photo.write_bytes(b"one")
    monkeypatch.chdir(tmp_path)
    recipe = Recipe("crop traits", "1", {"grid": "3x6"}, None)

    def fp(src: Path) -> Fingerprint:
        return recipe.fingerprint(Item("a", src, (tmp_path / "out" / "a.json",), (src,)))

    relative = fp(Path("in/a.jpg"))
    assert fp(photo.resolve()).changes(relative) == []
    photo.write_bytes(b"changed")
    assert fp(photo.resolve()).changes(relative) != []


def test_two_commands_in_one_folder_keep_their_own_records_and_tables(tmp_path: Path) -> None:
    """``crop predict`` then ``crop traits`` into one folder: neither replaces the other's records, a file one
    wrote is, to the other, a file it did not write, and a table of one is not rewritten by the other."""
    import json

    from agriseg.manifest import MANIFEST, ManifestStore

    items = _items(tmp_path, ["a"])
    other = [Item("a", items[0].source, (tmp_path / "out" / "a.other",), items[0].inputs)]
    first, second = Recipe("demo first", "1"), Recipe("demo second", "1")
    table = tmp_path / "out" / "table.csv"

    def write_table() -> None:
        table.write_text("first's table")

    assert run_batch(items, _work, options=QUIET, recipe=first, store=ManifestStore(), tables=[table]).exit_code == 0
    write_table()
    assert run_batch(other, _work, options=QUIET, recipe=second, store=ManifestStore()).counts["ok"] == 1
    recs = [json.loads(x) for x in (tmp_path / "out" / MANIFEST).read_text().splitlines()]
    assert sorted((r["command"], r["item"]) for r in recs if "item" in r) == [("demo first", "a"), ("demo second", "a")]
    assert [r for r in recs if "table" in r] == [{"command": "demo first", "table": "table.csv"}]
    assert run_batch(items, _work, options=QUIET, recipe=first, store=ManifestStore()).counts["skipped"] == 1
    # the same output name from the other command: refused, the first one's file kept
    clash = run_batch(items, _work, options=QUIET, recipe=second, store=ManifestStore())
    assert clash.outcomes[0].reason == "unrecorded" and "not written by this command" in clash.failures[0]
    with pytest.raises(FileExistsError, match="written by `agriseg demo first`"):
        run_batch(other, _work, options=QUIET, recipe=second, store=ManifestStore(), tables=[table])
    assert table.read_text() == "first's table" and (tmp_path / "out" / "a.res").read_text() == "A"


def _made_with_an_extra(tmp_path: Path, extra: Path) -> Item:
    """Item ``a`` made once (a ``demo`` run) with an extra output ``extra`` (an overlay), then returned with only
    its main output: what a redo with fewer outputs makes."""
    from agriseg.manifest import ManifestStore

    (item,) = _items(tmp_path, ["a"])

    def both(it: Item) -> dict:
        extra.parent.mkdir(parents=True, exist_ok=True)
        extra.write_text("old overlay")
        return _work(it)

    wide = Item("a", item.source, (item.outputs[0], extra), item.inputs)
    assert run_batch([wide], both, options=QUIET, recipe=Recipe("demo", "1"), store=ManifestStore()).exit_code == 0
    return item


@pytest.mark.parametrize("edited", [False, True])
def test_a_redo_with_fewer_outputs_removes_the_earlier_runs_extra_files(tmp_path: Path, edited: bool) -> None:
    """``crop predict --model crop-weed``, then ``--overwrite --no-overlay``: the crop/weed class map and the
    overlay of the first run stayed beside the new mask, and ``crop traits`` measured them as this run's. A
    leftover changed since it was written is kept."""
    from agriseg.manifest import ManifestStore

    extra = tmp_path / "out" / "sub" / "a.extra"  # in a subfolder, as pseudolabel's overlays/
    item = _made_with_an_extra(tmp_path, extra)
    recipe = Recipe("demo", "1")
    if edited:
        extra.write_text("my notes on it")
    again = run_batch([item], _work, options=BatchOptions(overwrite=True, progress=False), recipe=recipe,
                      store=ManifestStore())  # fmt: skip
    assert again.counts["ok"] == 1
    assert extra.exists() == edited and (not edited or extra.read_text() == "my notes on it")


def test_leftovers_of_a_redo_that_failed_are_removed_by_the_next_run(tmp_path: Path) -> None:
    """The earlier outputs' stamps lived in memory only: a redo killed or failed before its record left the
    old class map and overlay for good (and ``crop traits`` measured them)."""
    from agriseg.manifest import ManifestStore

    extra = tmp_path / "out" / "a.extra"
    item = _made_with_an_extra(tmp_path, extra)

    def broken(it: Item) -> dict:
        raise OSError(28, "No space left on device", str(it.outputs[0]))

    recipe = Recipe("demo", "1")
    redo = BatchOptions(overwrite=True, progress=False)
    with pytest.raises(DiskFull, match="No space left on device; free some space, then run the command again"):
        run_batch([item], broken, options=redo, recipe=recipe, store=ManifestStore())
    assert extra.exists()
    again = run_batch([item], _work, options=QUIET, recipe=recipe, store=ManifestStore())
    assert again.counts["ok"] == 1 and not extra.exists()


def test_a_leftover_that_the_run_reads_is_kept(tmp_path: Path) -> None:
    """``crop pseudolabel out/overlays -o out --overwrite --no-overlay`` removed the overlays it was reading."""
    from agriseg.manifest import ManifestStore

    extra = tmp_path / "out" / "a.extra"
    item = _made_with_an_extra(tmp_path, extra)
    reads = Item("a", item.source, item.outputs, (*item.inputs, extra))
    redo = BatchOptions(overwrite=True, progress=False)
    assert run_batch([reads], _work, options=redo, recipe=Recipe("demo", "1"), store=ManifestStore()).counts["ok"] == 1
    assert extra.read_text() == "old overlay"  # read by this run: kept


def test_a_users_flock_on_the_folder_is_waited_for_then_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``flock FOLDER job`` (a common way to serialise jobs) made the lock take-over wait forever, silently."""
    import fcntl
    import os

    import agriseg.manifest as manifest

    monkeypatch.setattr(manifest, "TAKE_WAIT_S", 0.3)
    fd = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(manifest.FolderLocked, match="another process holds a lock on this folder"):
            manifest.ManifestStore()._lock(tmp_path)
    finally:
        os.close(fd)
    manifest.ManifestStore()._lock(tmp_path)  # free again: taken


def test_an_item_of_the_same_name_with_other_outputs_does_not_remove_the_first(tmp_path: Path) -> None:
    """``fields polygonize -o f.parquet`` then ``-o f.geojson``: one item name, two products; neither is a
    leftover of the other."""
    from agriseg.manifest import ManifestStore

    (item,) = _items(tmp_path, ["a"])
    other = Item("a", item.source, (tmp_path / "out" / "a.other",), item.inputs)
    recipe = Recipe("demo", "1")
    assert run_batch([item], _work, options=QUIET, recipe=recipe, store=ManifestStore()).exit_code == 0
    assert run_batch([other], _work, options=QUIET, recipe=recipe, store=ManifestStore()).exit_code == 0
    assert item.outputs[0].exists() and other.outputs[0].exists()


def test_tables_are_written_while_the_folder_is_still_locked(tmp_path: Path) -> None:
    """The tables were written after the lock was released: a second run could start in between, replace
    outputs, and leave the first run's table describing them."""
    from agriseg.manifest import LOCK, ManifestStore

    items = _items(tmp_path, ["a", "b"])
    seen: list[bool] = []
    lock = tmp_path / "out" / LOCK
    run_batch(items, _work, options=QUIET, recipe=Recipe("demo", "1"), store=ManifestStore(),
              tables=[tmp_path / "out" / "t.csv"], finish=lambda r: seen.append(lock.exists()))  # fmt: skip
    assert seen == [True] and not lock.exists()


def test_a_table_above_the_items_folder_keeps_other_commands_records_there(tmp_path: Path) -> None:
    """``crop pseudolabel`` writes items into ``out/masks`` and its table into ``out``: closing its store
    rewrote ``out``'s manifest with its own table line only, so ``crop predict``'s records there were lost
    (and ``out`` was not locked against a second run)."""
    import json

    from agriseg.manifest import LOCK, MANIFEST, ManifestStore

    items = _items(tmp_path, ["a"])
    assert (
        run_batch(items, _work, options=QUIET, recipe=Recipe("demo first", "1"), store=ManifestStore()).exit_code == 0
    )
    sub = [Item("a", items[0].source, (tmp_path / "out" / "masks" / "a.res",), items[0].inputs)]
    table = tmp_path / "out" / "table.json"
    store = ManifestStore()

    seen: list[bool] = []  # the table's folder is this run's while it runs: locked
    run_batch(sub, _work, options=QUIET, recipe=Recipe("demo second", "1"), store=store, tables=[table],
              finish=lambda r: seen.append((tmp_path / "out" / LOCK).exists()))  # fmt: skip
    assert seen == [True]
    recs = [json.loads(x) for x in (tmp_path / "out" / MANIFEST).read_text().splitlines()]
    assert [(r["command"], r["item"]) for r in recs if "item" in r] == [("demo first", "a")]
    assert [r for r in recs if "table" in r] == [{"command": "demo second", "table": "table.json"}]
    assert (
        run_batch(items, _work, options=QUIET, recipe=Recipe("demo first", "1"), store=ManifestStore()).counts[
            "skipped"
        ]
        == 1
    )


def test_an_output_that_is_an_input_fails_before_anything_is_written(tmp_path: Path) -> None:
    """Even with ``overwrite``: the item fails in one line naming both, and none of its outputs is written."""
    src = tmp_path / "in" / "a.png"
    src.parent.mkdir()
    src.write_text("the user's mask")
    first = tmp_path / "in" / "a_picture.png"
    item = Item("a", src, (first, src), (src,))
    other = tmp_path / "in" / "b.png"
    other.write_text("b")
    fine = Item("b", other, (tmp_path / "out" / "b.png",), (other,))  # one item fails alone, the others run

    def work(it: Item) -> dict:
        for out in it.outputs:
            with atomic_write(out) as tmp:
                tmp.write_text("new")
        return {"status": "ok"}

    for overwrite in (False, True):
        res = run_batch([item, fine], work, options=BatchOptions(progress=False, overwrite=overwrite))
        assert res.exit_code == 1 and res.failures == [
            f"{src}: is one of the inputs ({src}); choose another output folder"
        ]
        assert not first.exists() and src.read_text() == "the user's mask"
    # every item would replace its own input (-o the input folder): a usage error before any work (session 85)
    with pytest.raises(
        OutputIsInput,
        match="is one of the inputs \\(the file it would be made from\\), as every input.s output would be",
    ):
        run_batch([item], work, options=BatchOptions(progress=False))
    assert not first.exists() and not any(p.name.startswith(".agriseg") for p in src.parent.iterdir())


def test_a_manifest_written_before_commands_were_kept_still_resumes(tmp_path: Path) -> None:
    """Records without a ``command`` (earlier agriseg) are read by their fingerprint's command: a re-run skips."""
    import json

    from agriseg.manifest import MANIFEST, ManifestStore

    items = _items(tmp_path, ["a"])
    r1 = Recipe("demo", "1", {"level": 1})
    assert run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["ok"] == 1
    path = tmp_path / "out" / MANIFEST
    old = [{k: v for k, v in json.loads(x).items() if k != "command"} for x in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in old if "item" in r))  # no command, no table lines
    assert run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["skipped"] == 1
    other = run_batch(items, _work, options=QUIET, recipe=Recipe("other", "1"), store=ManifestStore())
    assert other.outcomes[0].reason == "unrecorded"


def test_an_output_replaced_after_it_was_written_is_not_resumed(tmp_path: Path) -> None:
    """A re-run reported an output that was later replaced (garbage, a user's edit) as done ("skipped"); each
    record keeps a stamp of its files, so it is refused naming the file and kept; --overwrite redoes it."""
    from agriseg.manifest import ManifestStore

    items = _items(tmp_path, ["a", "b"])
    r1 = Recipe("demo", "1", {"level": 1})
    assert run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["ok"] == 2
    edited = tmp_path / "out" / "a.res"
    edited.write_text("MY EDIT")

    def resume(it: Item) -> dict:  # the row of a finished item, read back from its output
        return {"file": str(it.source), "status": "skipped", "value": it.outputs[0].read_text()}

    res = run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore(), resume=resume)
    assert res.counts == {**res.counts, "skipped": 1, "failed": 1}
    assert f"{edited} was changed after it was written" in res.failures[0] and edited.read_text() == "MY EDIT"
    # its row holds nothing read from the edited file (crop traits took a user's JSON in as its own record)
    assert res[0]["status"] == "error" and "value" not in res[0] and res[1]["value"] == "B", res[:]
    redo = run_batch(items, _work, options=BatchOptions(overwrite=True, progress=False), recipe=r1,
                     store=ManifestStore())  # fmt: skip
    assert redo.counts["ok"] == 2 and edited.read_text() == "A"
    assert run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["skipped"] == 2


def test_an_item_replaces_outputs_it_finds_or_with_overwrite(tmp_path: Path) -> None:
    """The runner hands work only items it remakes, so an output already there is stale (an interrupted
    --overwrite left it) and the work function must replace it."""
    from agriseg.batch import Item

    item = Item("a", tmp_path / "a.tif", (tmp_path / "a.tif", tmp_path / "a.parquet"))
    assert not item.replaces(False) and item.replaces(True)
    (tmp_path / "a.parquet").write_text("x")
    assert item.replaces(False)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times are read from Linux's /proc")
def test_a_lock_whose_pid_another_process_has_taken_is_taken_over(tmp_path: Path) -> None:
    import os
    import socket

    from agriseg.manifest import LOCK, FolderLocked, ManifestStore

    items = _items(tmp_path, ["a"])
    lock = tmp_path / "out" / LOCK
    lock.parent.mkdir()
    lock.write_text(f"{os.getppid()} {socket.gethostname()}")
    os.utime(lock, (1e9, 1e9))  # written in 2001, long before the live process with that pid started
    assert run_batch(items, _work, options=QUIET, store=ManifestStore()).counts["ok"] == 1
    assert not lock.exists()  # released at the end
    lock.write_text("")  # another run's, created this instant: its pid is not written yet
    now = time.time() + 30  # "this instant" for 35 s: a loaded machine may take over 5 s to reach the check
    os.utime(lock, (now, now))
    with pytest.raises(FolderLocked, match="another agriseg run is starting to write this folder"):
        run_batch(_items(tmp_path, ["b"]), _work, options=QUIET, store=ManifestStore())
    os.utime(lock, (1e9, 1e9))  # an empty lock of long ago: taken over
    assert run_batch(_items(tmp_path, ["b"]), _work, options=QUIET, store=ManifestStore()).counts["ok"] == 1
    lock.write_text(f"{os.getppid()} another-host")  # a run on another machine writing a shared folder
    with pytest.raises(FolderLocked, match=rf"pid {os.getppid()} on another-host\) .* or, if no run is writing "):
        run_batch(_items(tmp_path, ["b"]), _work, options=QUIET, store=ManifestStore())


def test_ctrl_c_says_how_far_a_batch_got_and_how_to_resume(tmp_path: Path) -> None:
    from agriseg.batch import BatchInterrupted

    def work(item: Item) -> dict:
        if item.name == "c":
            raise KeyboardInterrupt
        return _work(item)

    items = _items(tmp_path, ["a", "b", "c", "d"])
    with pytest.raises(
        BatchInterrupted, match=r"^2 of 4 done \(complete outputs\); the same command resumes with the other 2$"
    ):
        run_batch(items, work, options=QUIET)
    with pytest.raises(BatchInterrupted, match="the same command without --overwrite resumes with the other 2"):
        run_batch(items, work, options=BatchOptions(overwrite=True, progress=False))
    said = "^stopped before its output was written; the same command makes it, from the start$"  # --overwrite
    with pytest.raises(BatchInterrupted, match=said):
        run_batch(_items(tmp_path, ["c"]), work, options=BatchOptions(overwrite=True, progress=False))
    # no promise of kept work, which holds for some commands only (crop plots measures a mosaic again)
    assert str(BatchInterrupted(0, 1)) == "stopped before its output was written; the same command makes it"
    # none done: still how to go on (it had said "none of the 2 done" alone)
    assert str(BatchInterrupted(0, 2)) == "none of the 2 done; the same command runs them"
    assert str(BatchInterrupted(0, 2, overwrite=True)).endswith("the same command without --overwrite runs them")
    # stopped after its last item (a table being written): not "resumes with the other 0"
    assert (
        str(BatchInterrupted(3, 3))
        == "all 3 done (complete outputs); the same command skips them and writes the run's tables"
    )


class _CtrlCInRecord(DictStore):
    """A store whose first record meets a Ctrl-C (the signal arrives while the runner writes it)."""

    def record(self, item: Item, recipe: Recipe | None) -> None:
        if not self.records:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)  # the handler runs at once in the main thread; the sleep only makes sure
        super().record(item, recipe)


def test_a_ctrl_c_while_an_item_is_recorded_counts_it_and_what_the_stream_had_finished(tmp_path: Path) -> None:
    """CI, session 76: SIGTERM while crop predict recorded its first photo said "none of the 12 done" beside
    four complete masks (the writer thread finished its queue after the count); the re-run redid them."""
    from agriseg.batch import BatchInterrupted

    items = _items(tmp_path, ["a", "b", "c", "d"])

    def stream(todo: Sequence[Item]) -> Iterator[tuple[Item, Any]]:  # one item at a time
        for it in todo:
            yield it, _work(it)

    store = _CtrlCInRecord()
    recipe = Recipe("demo", "1", {})
    with pytest.raises(BatchInterrupted, match=r"^1 of 4 done"):
        run_batch(items, stream=stream, options=QUIET, recipe=recipe, store=store)
    assert set(store.records) == {"a"}  # recorded, though the Ctrl-C came in its record

    def stream2(todo: Sequence[Item]) -> Iterator[tuple[Item, Any]]:
        queued = [(it, _work(it)) for it in todo[:3]]  # three outputs written before the first is handed over
        try:
            while queued:
                yield queued[0]
                queued.pop(0)
        except KeyboardInterrupt:
            queued.pop(0)  # the one handed over when the Ctrl-C came
            yield from queued
            raise

    store = _CtrlCInRecord()
    with pytest.raises(BatchInterrupted, match=r"^3 of 4 done"):
        run_batch(_items(tmp_path, ["e", "f", "g", "h"]), stream=stream2, options=QUIET, recipe=recipe, store=store)
    assert set(store.records) == {"e", "f", "g"}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_inside_the_stream_counts_every_item_it_had_finished(tmp_path: Path) -> None:
    """Session 105's sweep: a Ctrl-C in crop predict's model pass said "1 of 22 done" beside 4-5 complete masks:
    the runner, seeing the Ctrl-C noted after the first item the stream handed over in its drain, threw one into
    the stream, which stopped its drain. The stream hands over the rest whatever is thrown in."""
    from agriseg.batch import BatchInterrupted, finishing

    def stream(todo: Sequence[Item]) -> Iterator[tuple[Item, Any]]:
        queued = [(it, _work(it)) for it in todo[:3]]  # three outputs written, none handed over yet
        try:
            os.kill(os.getpid(), signal.SIGINT)  # in the model pass of the next ones
            time.sleep(0.5)
            yield todo[3], _work(todo[3])
        except KeyboardInterrupt:
            yield from finishing(iter(queued))
            raise

    store = DictStore()
    with pytest.raises(BatchInterrupted, match=r"^3 of 4 done"):
        run_batch(_items(tmp_path, ["a", "b", "c", "d"]), stream=stream, options=QUIET, recipe=Recipe("d", "1", {}),
                  store=store)  # fmt: skip
    assert set(store.records) == {"a", "b", "c"}


def test_a_ctrl_c_just_after_an_item_is_handed_over_still_counts_it(tmp_path: Path, monkeypatch) -> None:
    """The Ctrl-C can come after the stream gave an item and before the runner began its record."""
    from contextlib import contextmanager

    from agriseg import batch
    from agriseg.batch import BatchInterrupted

    calls = []

    @contextmanager
    def ctrl_c_on_entry():  # the Ctrl-C lands as the record's block begins, the first time
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        yield

    monkeypatch.setattr(batch.runner, "signals_deferred", ctrl_c_on_entry)  # as run_batch finds it

    def stream(todo: Sequence[Item]) -> Iterator[tuple[Item, Any]]:
        queued = [(it, _work(it)) for it in todo[:2]]  # two outputs written before the first is handed over
        try:
            while queued:
                yield queued.pop(0)
        except KeyboardInterrupt:
            yield from queued
            raise

    store = DictStore()
    with pytest.raises(BatchInterrupted, match=r"^2 of 3 done"):
        run_batch(_items(tmp_path, ["a", "b", "c"]), stream=stream, options=QUIET, recipe=Recipe("d", "1", {}),
                  store=store)  # fmt: skip
    assert set(store.records) == {"a", "b"}


def test_a_signal_while_the_handlers_are_held_leaves_none_of_them_swapped(monkeypatch) -> None:
    from agriseg.batch import signals_deferred

    before, term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    real = signal.signal
    count = []

    def second_install_interrupted(sig, handler):  # a SIGTERM lands between the two installs
        count.append(sig)
        if len(count) == 2:
            raise KeyboardInterrupt
        return real(sig, handler)

    monkeypatch.setattr(signal, "signal", second_install_interrupted)
    monkeypatch.setattr(signal, "getsignal", lambda sig: before)  # both held (callable handlers)
    with pytest.raises(KeyboardInterrupt), signals_deferred():
        pass
    monkeypatch.undo()
    held_term = signal.signal(signal.SIGTERM, term)  # pytest's own put back (the test held the default as Python's)
    assert signal.getsignal(signal.SIGINT) is before  # not the block's noting handler, which swallows Ctrl-C
    assert held_term is before


def test_a_ctrl_c_in_a_threads_batch_counts_the_items_still_running(tmp_path: Path) -> None:
    from agriseg.batch import BatchInterrupted, Threads

    def work(item: Item) -> dict:
        if item.name == "b":
            time.sleep(0.5)  # still running when the Ctrl-C comes: a thread finishes it anyway
        return _work(item)

    store = _CtrlCInRecord()
    items = _items(tmp_path, ["a", "b"])
    with pytest.raises(BatchInterrupted, match=r"^all 2 done"):
        run_batch(items, work, options=QUIET, recipe=Recipe("demo", "1", {}), store=store, executor=Threads(2))
    assert set(store.records) == {"a", "b"}


def test_a_ctrl_c_in_a_dask_batch_counts_the_tasks_already_finished(tmp_path: Path) -> None:
    """fields map on a local cluster: a Ctrl-C said "1 of 4 done" beside three scenes' complete outputs, and the
    re-run made two of them again. Tasks finished before it was seen are counted; a running one is not."""
    from agriseg.batch import BatchInterrupted

    def work(item: Item) -> dict:
        time.sleep({"a": 0.0, "b": 0.2, "c": 2.0}[item.name])
        return _work(item)

    store = _CtrlCInRecord()
    items = _items(tmp_path, ["a", "b", "c"])
    with pytest.raises(BatchInterrupted, match=r"^2 of 3 done"):
        run_batch(items, work, options=QUIET, recipe=Recipe("demo", "1", {}), store=store,
                  executor=DaskCluster(workers=3, processes=False))  # fmt: skip
    assert set(store.records) == {"a", "b"}


def _slow_b(item: Item) -> dict:
    if item.name == "b":
        time.sleep(2.0)  # still running when the Ctrl-C comes
    return _work(item)


@pytest.mark.slow  # 10 s: a local cluster of worker processes, as fields map starts
def test_a_ctrl_c_stops_the_task_a_dask_worker_was_running(tmp_path: Path) -> None:
    """The workers ignore Ctrl-C (they would print tracebacks) and a cancelled task runs on: fields map said
    "none of the 4 done", then two scenes' outputs appeared while the cluster closed, and the re-run made them
    again. The task still running is stopped with its worker: the count matches the files."""
    from agriseg.batch import BatchInterrupted

    store = _CtrlCInRecord()
    items = _items(tmp_path, ["a", "b"])
    with pytest.raises(BatchInterrupted, match=r"^1 of 2 done"):
        run_batch(items, _slow_b, options=QUIET, recipe=Recipe("demo", "1", {}), store=store,
                  executor=DaskCluster(workers=2))  # fmt: skip
    time.sleep(3.0)  # longer than the task had left
    assert set(store.records) == {"a"} and not items[1].outputs[0].exists()


@pytest.mark.slow  # 10 s: as the test above
def test_a_second_ctrl_c_while_the_cluster_closes_still_stops_its_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A second Ctrl-C (an impatient user, or `timeout`'s signal to the whole process group) came while the
    cancelled tasks were cancelled: the clean-up stopped there, the running task's worker lived on, and
    distributed's "Worker process still alive ... killing" warnings came after the "interrupted" line."""
    import distributed

    from agriseg.batch import BatchInterrupted

    cancel, again = distributed.Future.cancel, []

    def cancel_and_press_again(self: distributed.Future, *a: Any, **kw: Any) -> Any:  # noqa: ANN401
        if not again:
            again.append(1)
            os.kill(os.getpid(), signal.SIGINT)
        return cancel(self, *a, **kw)

    monkeypatch.setattr(distributed.Future, "cancel", cancel_and_press_again)
    items = _items(tmp_path, ["a", "b"])
    with pytest.raises((BatchInterrupted, KeyboardInterrupt)):
        run_batch(items, _slow_b, options=QUIET, recipe=Recipe("demo", "1", {}), store=_CtrlCInRecord(),
                  executor=DaskCluster(workers=2))  # fmt: skip
    assert again
    time.sleep(3.0)  # longer than the task had left: its worker was stopped, so no output appears
    assert not items[1].outputs[0].exists()
    assert "still alive" not in capfd.readouterr().err


def test_distributeds_error_of_a_cancelled_call_is_not_logged() -> None:
    """distributed's clean-up of a call cut short by Ctrl-C fails with a NameError, logged with a traceback
    through tornado; other callback errors still are."""
    from agriseg.batch.executors import _CancelledSyncFilter

    def record(msg: str, exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord("tornado.application", logging.ERROR, "", 0, msg, (), (type(exc), exc, None))

    f = _CancelledSyncFilter()
    bug = NameError("cannot access free variable 'future' where it is not associated with a value")
    assert not f.filter(record("Exception in callback functools.partial(<function sync.<locals>.cancel at 0x1>)", bug))
    assert f.filter(record("Exception in callback functools.partial(<function other at 0x1>)", bug))
    assert f.filter(record("Exception in callback functools.partial(<function sync.<locals>.cancel>)", ValueError()))


def test_a_ctrl_c_a_library_turned_into_its_own_error_stops_the_batch(tmp_path: Path) -> None:
    """matplotlib, interrupted mid-call, raised "Invalid bounding box": the photo failed with that error and the
    batch went on to the end, exit 1 rather than 130 (session 73's sweep)."""
    import os
    import signal

    from agriseg.batch import BatchInterrupted

    def work(item: Item) -> dict:
        if item.name == "c":
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)
            except KeyboardInterrupt:
                pass  # swallowed, as a C extension's own error handling may
            raise ValueError("Invalid bounding box")
        return _work(item)

    items = _items(tmp_path, ["a", "b", "c", "d"])
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(BatchInterrupted, match=r"^2 of 4 done"):
        run_batch(items, work, options=QUIET)
    assert not (tmp_path / "out" / "d.res").exists() and signal.getsignal(signal.SIGINT) is before
    # a caller's handler that notes a Ctrl-C and carries on: a later item's own error is that item's failure
    noted = []
    signal.signal(signal.SIGINT, lambda *_: noted.append(1))
    try:

        def work2(item: Item) -> dict:
            if item.name == "b":
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)
            return _work(item)

        (tmp_path / "2").mkdir()
        res = run_batch(_items(tmp_path / "2", ["a", "b", "bad", "d"]), work2, options=QUIET)
    finally:
        signal.signal(signal.SIGINT, before)
    assert noted and [o.status for o in res.outcomes] == ["ok", "ok", "failed", "ok"]


def test_dask_workers_start_with_ctrl_c_ignored() -> None:
    import signal

    from agriseg.batch.executors import _workers_ignore_ctrl_c

    before = signal.getsignal(signal.SIGINT)
    with _workers_ignore_ctrl_c():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # what the worker processes inherit
    assert signal.getsignal(signal.SIGINT) is before


def test_an_output_name_too_long_for_the_file_system_fails_its_item_and_the_batch_goes_on(tmp_path: Path) -> None:
    """A 252-byte input name (legal) gives a 257-byte output name: ENAMETOOLONG stopped the whole batch."""
    items = _items(tmp_path, ["a", "L" * 248])
    items[1] = Item(items[1].name, items[1].source, (tmp_path / "out" / f"{'L' * 248}_mask.res",), items[1].inputs)
    result = run_batch(items, _work, options=QUIET)
    by_name = {Path(r["file"]).stem: r for r in result}
    assert by_name["a"]["status"] == "ok" and (tmp_path / "out" / "a.res").read_text() == "A"
    long = by_name["L" * 248]
    assert long["status"] == "error" and "255" in long["error"] and "rename" in long["error"]
    assert result.counts["failed"] == 1


def test_a_file_name_in_another_encoding_is_processed_and_written_in_tables(tmp_path: Path) -> None:
    """A Latin-1 name (``caf\\xe9.jpg`` from an old archive) stopped the batch: the temporary name and the
    summary table could not encode it."""
    import os

    from agriseg.data.files import TEXT_ERRORS, temporary_sibling, write_text

    name = os.fsdecode(b"caf\xe9" * 60)  # long enough to be shortened too
    try:
        (tmp_path / name).write_text("x")
    except (OSError, UnicodeError):
        pytest.skip("this file system takes UTF-8 names only")
    assert temporary_sibling(tmp_path / name).parent == tmp_path
    src = tmp_path / os.fsdecode(b"caf\xe9.txt")
    src.write_text("caf")
    items = [Item(src.stem, src, (tmp_path / "out" / os.fsdecode(b"caf\xe9.res"),), (src,))]
    result = run_batch(items, _work, options=QUIET)
    assert result.counts["failed"] == 0 and (tmp_path / "out" / os.fsdecode(b"caf\xe9.res")).is_file()
    write_text(tmp_path / "t.csv", f"file\n{items[0].source}\n")
    assert (tmp_path / "t.csv").read_text(errors=TEXT_ERRORS).splitlines()[1] == str(items[0].source)


def test_outputs_of_another_file_under_the_same_name_are_refused_without_its_values(tmp_path: Path) -> None:
    """x/a.jpg then y/a.jpg into one folder: y's row was 'kept' with x's numbers under y's name, and the
    message spoke of 'other settings (input x/a.jpg, input y/a.jpg)'."""
    sources = []
    for folder, text in (("x", "first"), ("y", "second")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.txt").write_text(text)
        sources.append(tmp_path / folder / "a.txt")
    recipe = Recipe("demo", "1", {})

    def item(src: Path) -> Item:
        return Item("a", src, (tmp_path / "out" / "a.res",), (src,))

    def resume(it: Item) -> dict:
        return {"file": str(it.source), "status": "skipped", "value": (tmp_path / "out" / "a.res").read_text()}

    assert run_batch([item(sources[0])], _work, options=QUIET, recipe=recipe, resume=resume).counts["ok"] == 1
    res = run_batch([item(sources[1])], _work, options=QUIET, recipe=recipe, resume=resume)
    assert res.counts["failed"] == 1
    assert f"made from another file (made from {sources[0]}, not {sources[1]})" in res.failures[0]
    assert res[0]["file"] == str(sources[1]) and "value" not in res[0]  # never the other file's numbers
    assert (tmp_path / "out" / "a.res").read_text() == "FIRST"  # kept


def test_a_library_refusing_a_name_of_another_encoding_says_to_rename_the_file(tmp_path: Path) -> None:
    """rasterio (GDAL) cannot open a Latin-1 name: the item said `'utf-8' codec can't encode character '\\udce9'
    in position 5: surrogates not allowed`."""
    import os

    src = tmp_path / os.fsdecode(b"champ\xe9.tif")
    try:
        os.fsdecode(b"champ\xe9").encode()
    except UnicodeEncodeError as err:
        msg = describe_error(Item("champ", src, (tmp_path / "o.parquet",), (src,)), err)
    assert msg.startswith(str(src)) and "not UTF-8" in msg and "rename the file" in msg


def _take_lock(folder: str, results: Any, inherited: int) -> None:
    import os

    from agriseg.manifest import FolderLocked, ManifestStore

    os.close(inherited)  # the parent's locked descriptor, copied by fork: not this run's
    try:
        ManifestStore()._lock(Path(folder))
        results.put("took it")
    except FolderLocked:
        results.put("refused")


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_two_runs_that_find_one_stale_lock_do_not_both_take_it(tmp_path: Path) -> None:
    """Each read the dead run's lock, removed it by name and created its own: the second removed the lock the
    first had just taken, and both wrote the folder (120 of 300 tries). The check-and-take is one step now:
    here this process is in the middle of its take-over while another run arrives."""
    import fcntl
    import multiprocessing as mp
    import os
    import time

    from agriseg.manifest import LOCK

    (tmp_path / LOCK).write_text(f"999999999 {os.uname().nodename}")  # left by a killed run (no such pid)
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    fd = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # this process is taking the stale lock over
    child = ctx.Process(target=_take_lock, args=(str(tmp_path), results, fd))
    child.start()
    time.sleep(0.5)
    assert (tmp_path / LOCK).read_text().startswith("999999999")  # the other run waits for the take-over
    (tmp_path / LOCK).write_text(f"{os.getpid()} {os.uname().nodename}")  # taken: this process holds it
    os.close(fd)
    assert results.get(timeout=30) == "refused"
    child.join()


def test_a_progress_bar_in_a_log_file_is_redrawn_every_30_s_not_ten_times_a_second(tmp_path, monkeypatch) -> None:
    """A scheduler's log got a redraw per item (megabytes over a long run); a terminal still does."""
    import io

    from agriseg.batch import LOG_INTERVAL_S, progress_bar

    monkeypatch.delenv("TQDM_MININTERVAL", raising=False)
    log = io.StringIO()  # not a terminal
    bar = progress_bar(range(5), file=log, desc="x")
    assert bar.mininterval == LOG_INTERVAL_S == 30.0
    assert list(bar) == [0, 1, 2, 3, 4] and log.getvalue().count("\r") <= 2  # the start and the end

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_bar(range(2), file=Terminal()).mininterval == 0.1  # tqdm's own
    monkeypatch.setenv("TQDM_MININTERVAL", "5")  # tqdm reads it when imported (a user sets it before the run)
    assert progress_bar(range(2), file=io.StringIO()).mininterval != LOG_INTERVAL_S


def test_a_scene_dask_gave_up_on_is_not_said_to_be_retried() -> None:
    """After its fourth lost worker an item fails (KilledWorker), yet the notes said it was retried."""
    from agriseg.batch import lost_workers

    class Client:
        def get_events(self, topic: str) -> list:
            lost = [{"action": "remove-worker", "worker": f"tcp://w{i}", "processing-tasks": ["k0", "k1"]}
                    for i in range(2)]  # fmt: skip
            return [(0.0, e) for e in lost] + [(1.0, {"action": "remove-worker", "expected": True})]

    notes = lost_workers(Client(), {"k0": "g0", "k1": "g1"}, given_up={"g0"})
    assert notes == [
        "Dask worker tcp://w0 was lost; retried on another worker: g1",
        "Dask worker tcp://w1 was lost; retried on another worker: g1",
        "Dask workers were lost while running g0 until Dask gave up on it (see its error)",
    ]


def test_a_local_dask_cluster_starts_no_more_workers_than_items(monkeypatch) -> None:
    """``--workers 64`` for 2 scenes started 64 processes (38 s before the first scene, 1.2 GB idle)."""
    import distributed

    from agriseg.batch import DaskCluster, Item

    started: dict = {}

    class Stop(Exception):
        pass

    def cluster(**kw):
        started.update(kw)
        raise Stop

    monkeypatch.setattr(distributed, "LocalCluster", cluster)
    items = [Item(f"s{i}", f"s{i}.tif", ()) for i in range(2)]
    with pytest.raises(Stop):
        next(iter(DaskCluster(workers=64).map(lambda it: it.name, items)))
    assert started["n_workers"] == 2


@pytest.mark.parametrize("earlier_run", [True, False])
def test_a_run_killed_while_writing_its_tables_is_resumed_by_the_same_command(tmp_path: Path, earlier_run) -> None:
    """Killed after the table was rewritten, before its stamp: the re-run refused ("changed since agriseg wrote
    it", exit 2) or, on a first run, kept the run's own table aside as written "before stamps" (session 68)."""
    from agriseg.manifest import ManifestStore, seal_tables

    items = _items(tmp_path, ["a", "b"])
    table = tmp_path / "out" / "t.csv"
    recipe = Recipe("demo", "1")

    def finish(result: Any, killed: bool = False) -> None:
        table.write_text(f"{len(result)} rows, {result.counts}")
        if killed:
            raise KeyboardInterrupt  # as SIGINT / SIGKILL between the write and the seal
        seal_tables([table])

    if earlier_run:
        run_batch(items[:1], _work, options=QUIET, recipe=recipe, store=ManifestStore(), tables=[table], finish=finish)
    with pytest.raises(KeyboardInterrupt):
        run_batch(items, _work, options=QUIET, recipe=recipe, store=ManifestStore(), tables=[table],
                  finish=lambda r: finish(r, killed=True))  # fmt: skip
    again = run_batch(items, _work, options=QUIET, recipe=recipe, store=ManifestStore(), tables=[table], finish=finish)
    assert again.counts["skipped"] == 2 and not again.notes  # no "kept as t.earlier.csv"
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "a.res",
        "b.res",
        "t.csv",
    ]


def test_a_refused_rerun_leaves_the_tables_of_the_run_that_made_the_outputs(tmp_path: Path) -> None:
    """`crop pseudolabel --index exg` over a cive run was refused, yet rewrote pseudolabels.json with the exg
    options and every record "kept": `crop screen` then found nothing to screen."""
    from agriseg.manifest import ManifestStore

    items = _items(tmp_path, ["a", "b"])
    table = tmp_path / "out" / "t.json"

    def finish(opts: str) -> Any:
        return lambda r: table.write_text(opts + ":" + ",".join(o.status for o in r.outcomes))

    run_batch(items, _work, options=QUIET, recipe=Recipe("demo", "1", {"index": "cive"}), store=ManifestStore(),
              tables=[table], finish=finish("cive"))  # fmt: skip
    res = run_batch(items, _work, options=QUIET, recipe=Recipe("demo", "1", {"index": "exg"}), store=ManifestStore(),
                    tables=[table], finish=finish("exg"))  # fmt: skip
    assert res.exit_code == 1 and {o.reason for o in res.outcomes} == {"changed"}
    assert table.read_text() == "cive:ok,ok"
    res = run_batch(items, _work, options=QUIET, recipe=Recipe("demo", "1", {"index": "cive"}), store=ManifestStore(),
                    tables=[table], finish=finish("cive"))  # fmt: skip
    assert table.read_text() == "cive:skipped,skipped"  # a re-run with the same options still writes them


def test_an_edited_output_among_skipped_items_still_updates_the_tables(tmp_path: Path) -> None:
    """The tables were left as they were when one output had been edited and the others skipped (same
    options): its row kept the values of the file it no longer is."""
    from agriseg.manifest import ManifestStore

    items = _items(tmp_path, ["a", "b"])
    table = tmp_path / "out" / "t.json"
    finish = lambda r: table.write_text(",".join(o.status for o in r.outcomes))  # noqa: E731
    run_batch(items, _work, options=QUIET, recipe=Recipe("demo", "1"), store=ManifestStore(), tables=[table],
              finish=finish)  # fmt: skip
    (tmp_path / "out" / "a.res").write_text("edited by hand")
    res = run_batch(items, _work, options=QUIET, recipe=Recipe("demo", "1"), store=ManifestStore(), tables=[table],
                    finish=finish)  # fmt: skip
    assert [o.reason for o in res.outcomes] == ["changed", ""] and table.read_text() == "failed,skipped"


def test_every_batch_entry_point_takes_the_old_keywords() -> None:
    """run_traits lost its @batch_keywords when a helper was put above it (session 72's review): every public
    batch function keeps the wrapper."""
    import importlib

    for module, name in (("agriseg.crop.traits.runner", "run_traits"), ("agriseg.crop.traits.growth", "run_plots"),
                         ("agriseg.crop.predict", "predict_paths")):  # fmt: skip
        fn = getattr(importlib.import_module(module), name)
        assert getattr(fn, "__wrapped__", None) is not None, f"{module}.{name} has no @batch_keywords"


def test_a_manifest_that_is_not_text_is_one_line_naming_it(tmp_path: Path) -> None:
    """A manifest of bytes that are not UTF-8 stopped every command in the folder with the codec's message, no
    file named, exit 1 (session 75's error-path review)."""
    from click.testing import CliRunner
    from PIL import Image

    from agriseg.cli import main
    from agriseg.manifest import MANIFEST

    (tmp_path / "in").mkdir()
    Image.new("RGB", (32, 32), (60, 140, 40)).save(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_bytes(b"\xff\xfe garbage\n")
    res = CliRunner().invoke(main, ["crop", "pseudolabel", str(tmp_path / "in"), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert f"{out / MANIFEST}: not an agriseg manifest (not UTF-8 text)" in res.output
    assert (out / MANIFEST).read_bytes() == b"\xff\xfe garbage\n"


def test_an_input_rewritten_to_the_same_size_and_a_new_resolved_setting_are_changes(tmp_path: Path) -> None:
    """Each let a changed fingerprint through (session 75's mutation sweep): an edited input that kept its size
    (only its time changed) and a value decided per item (fields download's date windows)."""
    import os

    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"abcd")
    recipe = Recipe("crop predict", "1", {"tile": 512})
    item = Item("a", photo, (tmp_path / "a_mask.png",), (photo,), {"dates": "2023-04-01/2023-05-01"})
    before = recipe.fingerprint(item)
    photo.write_bytes(b"wxyz")  # same size, other content
    st = photo.stat()
    os.utime(photo, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert any("a.jpg" in c for c in recipe.fingerprint(item).changes(before))
    later = Item("a", photo, item.outputs, (photo,), {"dates": "2023-06-01/2023-07-01"})
    now = recipe.fingerprint(later).changes(recipe.fingerprint(item))
    assert now == ["dates: 2023-04-01/2023-05-01 -> 2023-06-01/2023-07-01"]


def test_recorded_by_reads_lines_written_before_they_named_their_command(tmp_path: Path) -> None:
    """Manifest lines of a few early commits name their command only in the fingerprint: a self-training folder
    of then was refused as a user's (session 75's review)."""
    import json

    from agriseg.manifest import MANIFEST, recorded_by

    line = {"item": "model.safetensors", "outputs": ["model.safetensors"], "fingerprint": {"command": "crop selftrain"}}
    (tmp_path / MANIFEST).write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert recorded_by(tmp_path, "crop selftrain") and not recorded_by(tmp_path, "crop adapt")


def test_an_output_edited_past_its_first_64_kb_keeping_its_size_is_not_resumed(tmp_path: Path) -> None:
    """The stamp of a large output hashes its first and last 64 KB: an edit near its end (a GeoTIFF's tags or
    overviews) that keeps the size, only its time moved, must not be resumed as the run's own output."""
    import os

    from agriseg.manifest import ManifestStore

    items = _items(tmp_path, ["a"])
    items[0].source.write_text("x" * 200_000)
    r1 = Recipe("demo", "1", {"level": 1})
    assert run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["ok"] == 1
    out = items[0].outputs[0]
    data = bytearray(out.read_bytes())
    data[-100] = ord("y")  # 199,900 bytes in: past the first 64 KB, same size
    st = out.stat()
    out.write_bytes(bytes(data))
    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    res = run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore())
    assert res.counts["failed"] == 1 and "a.res was changed after it was written" in res.failures[0], res.failures


def test_the_latest_record_of_an_item_is_the_one_read(tmp_path: Path) -> None:
    """A run killed after redoing an item with other options leaves its old record above the new one in the
    manifest: the old one, if read, would make the next run refuse the item it had just made."""
    from agriseg.manifest import MANIFEST, ManifestStore

    items = _items(tmp_path, ["a"])
    r1, r2 = Recipe("demo", "1", {"level": 1}), Recipe("demo", "1", {"level": 2})
    assert run_batch(items, _work, options=QUIET, recipe=r1, store=ManifestStore()).counts["ok"] == 1
    store = ManifestStore()  # a redo at level 2, killed before the store was closed
    store.open(items, r2)
    store.begin(items)
    _work(items[0])
    store.record(items[0], r2)
    assert len((tmp_path / "out" / MANIFEST).read_text().splitlines()) == 3  # old, pending, new
    assert run_batch(items, _work, options=QUIET, recipe=r2, store=ManifestStore()).counts["skipped"] == 1


def test_a_strict_run_stopped_before_it_made_anything_leaves_the_tables(tmp_path: Path) -> None:
    """`fields map --strict` over a folder with an unreadable scene removed the merged fields.parquet and
    summary.json an earlier run wrote, although it stopped at that scene before making anything."""
    from agriseg.manifest import ManifestStore, seal_tables

    items = _items(tmp_path, ["a", "bad", "c"])
    table = tmp_path / "out" / "t.csv"
    recipe = Recipe("demo", "1")

    def finish(result: Any) -> None:
        table.write_text(f"{result.counts}")
        seal_tables([table])

    first = run_batch(items, _work, options=QUIET, recipe=recipe, store=ManifestStore(), tables=[table], finish=finish)
    assert first.exit_code == 1 and table.is_file()
    written = table.read_text()
    strict = BatchOptions(progress=False, strict=True)
    with pytest.raises(BatchAborted, match="bad"):
        run_batch(items, _work, options=strict, recipe=recipe, store=ManifestStore(), tables=[table], finish=finish)
    assert table.read_text() == written
    again = run_batch(items, _work, options=QUIET, recipe=recipe, store=ManifestStore(), tables=[table], finish=finish)
    assert again.counts["skipped"] == 2 and not again.notes  # the table put back is the run's own, stamped
    (tmp_path / "in" / "bad.txt").write_text("good now")
    with pytest.raises(BatchAborted):  # one made before the stop: the table no longer holds, so it goes
        run_batch([*items, *_items(tmp_path, ["bad2"])], _work, options=strict, recipe=recipe, store=ManifestStore(),
                  tables=[table], finish=finish)  # fmt: skip
    assert not table.exists()


def test_items_whose_outputs_meet_in_one_file_are_refused_before_any_work(tmp_path: Path) -> None:
    """Distinct names can still share a file (text predict: a.png's a_instances.png, the mask of a_instances.png)."""
    from agriseg.config import OptionError

    a, b = tmp_path / "a.png", tmp_path / "a_instances.png"
    items = [
        Item("a", a, (tmp_path / "o" / "a.png", tmp_path / "o" / "a_instances.png")),
        Item("a_instances", b, (tmp_path / "o" / "A_Instances.png",)),  # one file on macOS and Windows disks
    ]
    with pytest.raises(OptionError, match=r"a\.png and .*a_instances\.png would both write .*A_Instances\.png"):
        run_batch(items, _work, options=QUIET)
    assert not (tmp_path / "o").exists()


def test_a_lock_that_cannot_be_written_is_not_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a full disk the lock file was created empty and left: the next run was told another run was 'starting
    to write this folder', and the error named no file (session 80)."""
    import errno

    from agriseg import manifest
    from agriseg.manifest import ManifestStore

    class Full:
        def __init__(self, fd: int, mode: str) -> None:
            os.close(fd)

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def write(self, text: str) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    items = _items(tmp_path, ["a"])
    monkeypatch.setattr(manifest.os, "fdopen", Full)
    with pytest.raises(OSError, match=r"out: cannot write there \(No space left on device\)"):
        run_batch(items, _work, options=QUIET, recipe=Recipe("demo"), store=ManifestStore())
    assert not (tmp_path / "out" / ".agriseg-lock").exists()
    monkeypatch.undo()
    assert run_batch(items, _work, options=QUIET, recipe=Recipe("demo"), store=ManifestStore()).counts["ok"] == 1


def test_inputs_copied_without_their_times_resume_and_an_edit_of_the_same_size_does_not(tmp_path: Path) -> None:
    """``cp -r photos photos2`` gives every file a new modification time: a re-run from the copy into the same
    output folder resumes (it was refused as "input changed since" until --overwrite); a file edited to the same
    size is still a change, and so is a file a record from before content hashes saw (size and time only)."""
    import os
    import shutil

    from agriseg.fingerprint import same_input
    from agriseg.manifest import ManifestStore

    recipe = Recipe("demo copy", "1", {"tile": 512})
    items = _items(tmp_path, ["a", "b"])
    assert run_batch(items, _work, options=QUIET, recipe=recipe, store=ManifestStore()).counts["ok"] == 2
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "in", copy, copy_function=shutil.copyfile)  # new times, as plain cp
    for f in copy.iterdir():
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 5_000_000_000))
    moved = [Item(it.name, copy / f"{it.name}.txt", it.outputs, (copy / f"{it.name}.txt",)) for it in items]
    again = run_batch(moved, _work, options=QUIET, recipe=recipe, store=ManifestStore())
    assert again.counts["skipped"] == 2 and again.exit_code == 0
    (copy / "a.txt").write_text("z")  # same size, other content, a new time
    edited = run_batch(moved, _work, options=QUIET, recipe=recipe, store=ManifestStore())
    assert edited.counts["skipped"] == 1 and edited.failures[0].startswith(f"{copy / 'a.txt'}: outputs of the same")
    f = copy / "b.txt"
    assert not same_input(f, f"size:1,mtime:{f.stat().st_mtime_ns}", "size:1,mtime:1")  # an old record's


def test_an_edit_given_back_its_size_and_time_is_still_a_change(tmp_path: Path) -> None:
    """Session 91's sweep: bytes changed inside a photo, its modification time set back (``touch -r``): the
    re-run skipped it. The status-change time moves with any write; the content is compared then. A file
    whose status alone changed (``chmod``) is the same input; a record without ctime (earlier agriseg) too."""
    import os

    from agriseg.fingerprint import file_identity, same_input
    from agriseg.manifest import ManifestStore

    recipe = Recipe("demo ctime", "1", {"tile": 512})
    items = _items(tmp_path, ["a", "b"])
    assert run_batch(items, _work, options=QUIET, recipe=recipe, store=ManifestStore()).counts["ok"] == 2
    a, b = items[0].inputs[0], items[1].inputs[0]
    st = a.stat()
    a.write_text("z" * st.st_size)  # the same size
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same modification time
    assert file_identity(a).split(",ctime")[0] == f"size:{st.st_size},mtime:{st.st_mtime_ns}"
    b.chmod(0o600)  # its status changed, not its content
    again = run_batch(items, _work, options=QUIET, recipe=recipe, store=ManifestStore())
    assert again.counts["skipped"] == 1 and "an input changed (input" in again.failures[0], again.failures
    old = f"size:{b.stat().st_size},mtime:{b.stat().st_mtime_ns}"  # recorded before ctime was kept
    assert same_input(b, file_identity(b), old)


def test_an_input_renamed_or_a_shared_input_copied_under_another_name_is_the_same_input(tmp_path: Path) -> None:
    """``mv 0002.jpg 0002.JPG`` or ``cp plots.csv plots_final.csv``: the outputs' record names the old file; its
    content is the same, so the re-run resumes (it was refused: "made from 0002.jpg, not 0002.JPG"). A renamed
    file with other content is still another file."""
    photo, plots = tmp_path / "0002.jpg", tmp_path / "plots.csv"
    photo.write_bytes(b"a photo")
    plots.write_text("id,x\n1,2\n")
    out = (tmp_path / "o" / "0002_mask.png",)
    before = Recipe("demo", "1", {}, None, [plots]).fingerprint(Item("0002", photo, out, (photo,)), with_hash=True)
    renamed, copied = tmp_path / "0002.JPG", tmp_path / "plots_final.csv"
    photo.rename(renamed)
    copied.write_text(plots.read_text())
    now = Recipe("demo", "1", {}, None, [copied]).fingerprint(Item("0002", renamed, out, (renamed,)))
    assert now.changes(before) == []
    renamed.write_bytes(b"another")
    now = Recipe("demo", "1", {}, None, [copied]).fingerprint(Item("0002", renamed, out, (renamed,)))
    assert now.changes(before) == [f"made from {photo.as_posix()}, not {renamed.as_posix()}"]


def test_a_list_file_changed_with_its_setting_is_said_by_the_setting(tmp_path: Path) -> None:
    """selftrain with another exclude list: "(exclude_list: val.txt -> val_alt.txt, made from val.txt, not
    0006.jpg, val_alt.txt)": files of other names read as one file moved, and the list said twice (session 108's
    sweep). The setting names the lists; a photo now read is added."""
    photos = [tmp_path / f"{n}.jpg" for n in ("0005", "0006")]
    lists = [tmp_path / "val.txt", tmp_path / "val_alt.txt"]
    for f in (*photos, *lists):
        f.write_text(f.name)
    item = Item("m", photos[0], (tmp_path / "m.safetensors",), ())
    before = Recipe("demo", "1", {"exclude_list": str(lists[0])}, None, [photos[0], lists[0]]).fingerprint(item)
    now = Recipe("demo", "1", {"exclude_list": str(lists[1])}, None, photos + [lists[1]]).fingerprint(item)
    assert now.changes(before) == [f"--exclude-list: {lists[0]} -> {lists[1]}", f"input {photos[1].as_posix()} added"]
    # a named file still read and edited since is said (its review: the setting's change hid the edit)
    both = Recipe("demo", "1", {"exclude_list": str(lists[1])}, None, [photos[0], lists[0], lists[1]])
    before = Recipe("demo", "1", {"exclude_list": str(lists[0])}, None, [photos[0], lists[0], lists[1]])
    was = before.fingerprint(item)
    lists[0].write_text("edited, longer")
    assert f"input {lists[0].as_posix()} changed since" in both.fingerprint(item).changes(was)


def test_changed_settings_are_shown_as_typed() -> None:
    """``--overlay: True -> False`` and ``--tta: [] -> ['flip_h']`` were Python's words for what the user typed
    (session 83's sweep)."""
    item = Item("a", Path("a.jpg"), (Path("o/a_mask.png"),), ())
    a = Recipe("demo", "1", {"overlay": True, "tta": [], "bands": None}).fingerprint(item)
    b = Recipe("demo", "1", {"overlay": False, "tta": ["flip_h", "flip_v"], "bands": [3, 2, 1]}).fingerprint(item)
    assert b.changes(a) == ["--bands: not given -> 3,2,1", "--overlay: on -> off", "--tta: none -> flip_h,flip_v"]


def test_a_reading_rule_is_not_said_as_an_option() -> None:
    """A crop plots re-run with a smaller --window said "scale: not given -> one per mosaic", a setting no option
    names (session 98's sweep): a rule of how the input is read is said as one; with a flag, as the flag."""
    from agriseg.fingerprint import OPTION_FLAGS

    a = Recipe("demo", "1", {"window": 2048}).fingerprint(Item("a", Path("m.tif"), (Path("o/a.csv"),), ()))
    b = Recipe("demo", "1", {"window": 512}).fingerprint(
        Item("a", Path("m.tif"), (Path("o/a.csv"),), (), resolved={"scale": "one per mosaic", "bands": "3,2,1"})
    )
    token = OPTION_FLAGS.set({"window": "--window", "bands": "--bands"})
    try:
        said = b.changes(a)
    finally:
        OPTION_FLAGS.reset(token)
    assert said == [
        "--window: 2048 -> 512",
        "--bands: not given -> 3,2,1",
        "how the input is read (scale): plain -> one per mosaic",
    ]
    # a setting recorded without an option of its own (fields polygonize's simplify unit): not said as a flag
    a = Recipe("demo", "1", {"simplify": None}).fingerprint(Item("a", Path("m.tif"), (Path("o/a.csv"),), ()))
    b = Recipe("demo", "1", {"simplify": 30.0, "simplify_unit": "m"}).fingerprint(
        Item("a", Path("m.tif"), (Path("o/a.csv"),), ())
    )
    token = OPTION_FLAGS.set({"simplify": "--simplify"})
    try:
        assert b.changes(a) == ["--simplify: not given -> 30.0", "simplify unit: not given -> m"]
    finally:
        OPTION_FLAGS.reset(token)


def test_an_input_added_or_removed_is_named_so() -> None:
    """A data set built from images and masks: one more image was "input x.png changed since" (session 83's
    sweep); it is added, and one left out is removed."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        a, b = Path(d) / "a.png", Path(d) / "b.png"
        a.write_bytes(b"a")
        b.write_bytes(b"b")
        out = (Path(d) / "ds",)
        one = Recipe("demo", "1").fingerprint(Item("ds", out[0], out, (a,)))
        two = Recipe("demo", "1").fingerprint(Item("ds", out[0], out, (a, b)))
        assert two.changes(one) == [f"input {b.as_posix()} added"]
        # still there but no longer read (an image whose mask was taken away): not "removed" (session 94's sweep)
        assert one.changes(two) == [f"input {b.as_posix()} no longer read"]
        b.unlink()
        assert one.changes(two) == [f"input {b.as_posix()} removed"]


def test_bars_inside_bars_write_no_cursor_codes_into_a_log() -> None:
    """Session 85's fields sweep: the nested bars of `fields map --areas` downloads wrote cursor-up escape codes
    (ESC [A) into redirected stderr and log files."""
    import io

    from agriseg.batch import progress_bar

    log = io.StringIO()
    with progress_bar(range(2), file=log, mininterval=0) as outer:
        for _ in outer:
            for _ in progress_bar(range(3), file=log, mininterval=0):
                pass
    assert "inner" not in log.getvalue() and "\x1b[A" not in log.getvalue() and "2/2" in log.getvalue()


def test_an_output_name_too_long_for_the_disk_fails_its_item_alone(tmp_path: Path) -> None:
    """A first photo whose output name would pass 255 bytes stopped the whole batch ("File name too long", exit 1,
    nothing made): the check that an output is not an input raised (session 86's sweep)."""
    from agriseg.batch import Item, run_batch

    long = tmp_path / ("M" * 250 + ".jpg")
    long.write_bytes(b"x")
    ok = tmp_path / "ok.jpg"
    ok.write_bytes(b"y")
    (tmp_path / "o").mkdir()  # made before the batch, as every command makes its output folder
    items = [Item(f.stem, f, (tmp_path / "o" / f"{f.stem}_mask.png",)) for f in (long, ok)]

    def work(item: Item) -> dict:
        out = item.outputs[0]
        out.parent.mkdir(exist_ok=True)
        out.write_bytes(b"m")
        return {"status": "ok"}

    res = run_batch(items, work, options=BatchOptions(progress=False))
    assert [r["status"] for r in res] == ["error", "ok"] and (tmp_path / "o" / "ok_mask.png").is_file()


def test_a_slow_item_is_summed_up_in_seconds_each(tmp_path: Path) -> None:
    """Session 87's plots sweep: one 6000 x 6000 mosaic measured in 269 s was summed up "(0.00 mosaic/s)"."""
    res = run_batch(_items(tmp_path, ["a", "b"]), _work, options=QUIET)
    res.seconds, res.unit = 269.3, "mosaic"
    assert res.summary("measured").endswith("in 269.3 s (134.7 s/mosaic)")
    res.seconds = 4.0
    assert res.summary("measured").endswith("in 4.0 s (0.50 mosaic/s)")


@pytest.mark.parametrize(
    "files",
    [{"a.png": [1]}, {"a.png": None}, {"/etc/hostname": [3, "zz"]}, {"../x.png": [3, "zz"]}, ["a.png"]],
)
def test_a_damaged_record_of_a_sets_files_is_said_so(tmp_path: Path, files: object) -> None:
    """Session 91's review: "not enough values to unpack", a TypeError traceback, or a file outside the set hashed."""
    from agriseg.batch import check_made_files
    from agriseg.config import OptionError

    (tmp_path / "a.png").write_bytes(b"png")
    with pytest.raises(OptionError, match="its record of the files it holds is damaged"):
        check_made_files(tmp_path, files)


def test_a_sets_record_keeps_no_times(tmp_path: Path) -> None:
    """A set made again (or in chunks, scripts/gpu_scenes.py) has the same record byte for byte; a file touched
    since is still the set's, one edited is not."""
    import agriseg.batch as batch
    from agriseg.config import OptionError

    (tmp_path / "a.png").write_bytes(b"png")
    recorded = batch.file_digests(tmp_path, [tmp_path / "a.png"])
    os.utime(tmp_path / "a.png", ns=(1, 1))
    assert batch.file_digests(tmp_path, [tmp_path / "a.png"]) == recorded
    batch.check_made_files(tmp_path, recorded)
    (tmp_path / "a.png").write_bytes(b"PNG")
    with pytest.raises(OptionError, match=r"but 1 file changed since it was made \(a.png\)"):
        batch.check_made_files(tmp_path, recorded)


def test_a_file_given_for_a_folder_is_not_said_to_be_a_folder_agriseg_makes(tmp_path: Path) -> None:
    from agriseg.batch import describe_os_error

    (tmp_path / "in.jpg").write_bytes(b"x")
    try:
        os.listdir(tmp_path / "in.jpg")
    except OSError as err:
        assert "cannot create this folder" not in describe_os_error(err)
    try:
        os.mkdir(tmp_path / "in.jpg")
    except OSError as err:
        assert "cannot create this folder: " in describe_os_error(err)


@pytest.mark.parametrize("stop", ["ctrl_c", "strict"])
def test_a_file_of_yours_under_a_table_name_survives_an_overwrite_run_that_stops(tmp_path: Path, stop: str) -> None:
    """``--overwrite`` set a hand-made ``growth.csv`` aside in memory when the batch began and lost it when the
    batch stopped (Ctrl-C, ``--strict``) before the tables were written (session 93's review)."""
    from agriseg.manifest import seal_tables

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    tables = [out / "summary.csv", out / "growth.csv"]

    def work(item: Item) -> dict:
        if Path(item.source).read_text() == "stop":
            raise KeyboardInterrupt if stop == "ctrl_c" else ValueError("not a readable input")
        with atomic_write(item.outputs[0]) as tmp:
            tmp.write_text("made")
        return {"file": str(item.source), "status": "ok"}

    def finish(result: BatchResult) -> None:  # writes summary.csv only, as a run of one date writes no growth table
        with atomic_write(out / "summary.csv") as tmp:
            tmp.write_text("summary\n")
        seal_tables(tables)

    def run(names: Sequence[str], **kw: Any) -> BatchResult:
        items = []
        for n in names:
            (src / f"{n}.txt").write_text("stop" if n == "c" else n)
            items.append(Item(n, src / f"{n}.txt", (out / f"{n}.res",), (src / f"{n}.txt",)))
        opts = BatchOptions(progress=False, **kw)
        return run_batch(items, work, options=opts, recipe=Recipe("t", "1", {}), tables=tables, finish=finish)

    run(["a", "b"])
    (out / "growth.csv").write_text("my notes\n")
    with pytest.raises((KeyboardInterrupt, BatchAborted)):
        run(["a", "b", "c"], overwrite=True, strict=stop == "strict")
    assert (out / "growth.csv").read_text() == "my notes\n"


def test_a_recipe_resumes_outputs_recorded_with_options_it_counts_the_same(tmp_path: Path) -> None:
    """``fields predict --resize 2`` on an ftw model is recorded as not given since session 93 (the model's own
    value); outputs an earlier agriseg recorded with the typed value resume through ``same_as``."""
    (item,) = _items(tmp_path, ["a"])
    earlier = Recipe("fields predict", "1", {"resize": 2.0, "tile": 256}).fingerprint(item)
    now = Recipe("fields predict", "1", {"resize": None, "tile": 256})
    assert now.changes(item, earlier) == ["--resize: 2.0 -> not given"]
    alike = Recipe("fields predict", "1", {"resize": None, "tile": 256}, same_as=[{"resize": 2.0, "tile": 256}])
    assert alike.changes(item, earlier) == []
    other = Recipe("fields predict", "1", {"resize": None, "tile": 128}, same_as=[{"resize": 2.0, "tile": 128}])
    # still refused, naming only what changed under the form that differs least (the resize is the same one;
    # session 107: an output of an earlier algorithm named a --simplify no run was given)
    assert other.changes(item, earlier) == ["--tile: 256 -> 128"]


def test_a_redo_with_other_settings_that_fails_removes_the_earlier_outputs(tmp_path: Path) -> None:
    """``crop pseudolabel --index exg --overwrite`` failing on a photo left its CIVE mask in masks/, where a
    training set read it as this run's (session 97's sweep). Outputs of this run's settings stay, also when
    the store answers "missing" for them (another output removed by hand, a pending record of a failed run)."""
    from agriseg.manifest import ManifestStore

    def fails_on_a(item: Item) -> dict:
        if item.name == "a":
            raise MemoryError("out of memory")
        return _work(item)

    items = _items(tmp_path, ["a", "b"])
    level1, level2 = Recipe("demo", "1", {"level": 1}), Recipe("demo", "1", {"level": 2})
    assert run_batch(items, _work, options=QUIET, recipe=level1, store=ManifestStore()).counts["ok"] == 2
    redo = BatchOptions(overwrite=True, progress=False)
    other = run_batch(items, fails_on_a, options=redo, recipe=level2, store=ManifestStore())
    assert other.counts == {"ok": 1, "skipped": 0, "failed": 1}
    assert other.failures[0].endswith("; the outputs an earlier run made for it were removed")
    assert not items[0].outputs[0].exists() and items[1].outputs[0].read_text() == "B"
    # this run's settings: kept through a failed redo, and through a failed run after it (a pending record)
    assert run_batch(items, _work, options=QUIET, recipe=level2, store=ManifestStore()).counts["ok"] == 1
    same = run_batch(items, fails_on_a, options=redo, recipe=level2, store=ManifestStore())
    again = run_batch(items, fails_on_a, options=QUIET, recipe=level2, store=ManifestStore())
    for res in (same, again):
        assert res.counts["failed"] == 1 and "removed" not in res.failures[0]
    assert items[0].outputs[0].read_text() == "A"


def test_a_work_folder_makes_again_the_outputs_of_an_edited_input(tmp_path: Path) -> None:
    """``crop selftrain``'s pseudo/ refused a photo edited since its pseudo-label, trained without it, then
    called the model of all the photos unchanged (session 97's sweep); a user's folder still refuses it."""
    from agriseg.batch.errors import OTHER_VERSION
    from agriseg.manifest import ManifestStore

    items = _items(tmp_path, ["a"])
    recipe = Recipe("demo", "1")
    assert run_batch(items, _work, options=QUIET, recipe=recipe, store=ManifestStore()).counts["ok"] == 1
    time.sleep(0.01)
    items[0].source.write_text("edited")
    refused = run_batch(items, _work, options=QUIET, recipe=recipe, store=ManifestStore())
    assert refused.counts["failed"] == 1 and OTHER_VERSION in refused.failures[0]
    work = BatchOptions(progress=False, redo_inputs=True)
    assert run_batch(items, _work, options=work, recipe=recipe, store=ManifestStore()).counts["ok"] == 1
    assert items[0].outputs[0].read_text() == "EDITED"
    assert run_batch(items, _work, options=QUIET, recipe=recipe, store=ManifestStore()).counts["skipped"] == 1


def test_a_generated_sets_other_settings_are_named_as_typed() -> None:
    """`make-synthetic` into a set of other settings said only "exists (use --overwrite)"; the settings are named
    by their flags, a setting without one by its name (never an option that does not exist)."""
    from agriseg.batch.outputs import settings_changed
    from agriseg.fingerprint import OPTION_FLAGS

    before = {"seed": 1, "countries": {"austria": 2}, "noise_dn": 0, "splits": ["train"]}
    now = {"seed": 2, "countries": {"austria": 2, "kenya": 1}, "noise_dn": 5, "splits": ["train"]}
    token = OPTION_FLAGS.set({"seed": "--seed", "countries": "--countries"})
    try:
        said = settings_changed(before, now)
    finally:
        OPTION_FLAGS.reset(token)
    assert said == "--seed: 1 -> 2, --countries: austria:2 -> austria:2,kenya:1, noise dn: 0 -> 5"


def test_a_renamed_input_of_the_working_folder_is_not_shown_at_the_root(tmp_path: Path, monkeypatch, caplog) -> None:
    """``fields map west.tif --areas ...`` (an area called west too) said "/west.tif as ...": a file of the working
    folder shown as if at the file system's root (session 100's sweep)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenes").mkdir()
    for f in ("west.tif", "scenes/west.tif"):
        (tmp_path / f).write_text("x")
    with caplog.at_level("WARNING", logger="agriseg"):
        unique_names([Path("west.tif"), Path("scenes/west.tif")])
    assert "longer names: west.tif as " in caplog.text and "/west.tif as" not in caplog.text.replace("scenes/", "")


def test_a_failure_at_a_server_names_the_item_too() -> None:
    """Two areas that failed at one STAC API printed the same line twice: "https://...: STAC API not reachable"
    (session 102's docs sweep). A server's URL is no file of the item's: the item is named before it."""
    item = Item("north", "north-field", ())
    said = describe_error(item, ValueError("https://stac.example/api: STAC API not reachable (timeout)"))
    assert said == "north-field: https://stac.example/api: STAC API not reachable (timeout)"
    other = describe_error(Item("a", "a.tif", ()), ValueError("lab/a.png: not a label"))
    assert other == "lab/a.png: not a label"  # a file the message names: as it is


def test_a_ctrl_c_a_c_library_swallowed_stops_the_retries_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C during a stalled COG read was raised inside rasterio's GDAL log callback, which cannot pass it on:
    Python printed its traceback, and the read was retried with backoff for minutes (session 104's sweep)."""
    import signal
    import sys

    from rasterio.errors import RasterioIOError

    from agriseg.batch.errors import _CtrlC, interrupt_pending
    from agriseg.fields import download
    from agriseg.fields.config import DownloadConfig

    hooks = (sys.excepthook, sys.unraisablehook)
    ctrl = _CtrlC()
    try:
        with pytest.raises(KeyboardInterrupt):
            ctrl._note(signal.SIGINT, None)  # as the signal comes: noted, then Python's handler raises
        assert ctrl.pressed and interrupt_pending()
        sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)  # as Cython prints what it cannot raise
        assert capsys.readouterr().err == ""
        reads: list[int] = []

        def stalled() -> None:
            reads.append(1)
            raise RasterioIOError("CURL error: Operation timed out after 60000 milliseconds")

        monkeypatch.setattr(download.time, "sleep", lambda s: None)
        with pytest.raises(KeyboardInterrupt):
            download._retrying("http://h/b.tif", DownloadConfig(retries=4), (RasterioIOError,), stalled, "b")
        assert reads == [1]  # no retry after the Ctrl-C
    finally:
        ctrl.restore()
    assert not interrupt_pending() and (sys.excepthook, sys.unraisablehook) == hooks
    sys.excepthook(ValueError, ValueError("shown"), None)  # other errors are printed as ever
    assert "ValueError: shown" in capsys.readouterr().err


def test_a_batch_stops_after_the_item_in_which_a_library_swallowed_a_ctrl_c(tmp_path: Path) -> None:
    """A Ctrl-C swallowed inside an item (raised in a C callback that cannot pass it on) was silent and the batch
    went on with every item (the review of session 104's change): it stops after that item, as interrupted; a
    batch in another thread or within it leaves the outer batch's note alone."""
    import threading

    from agriseg.batch.errors import BatchInterrupted, _CtrlC, interrupt_pending

    class Swallower:  # an exception raised in __del__ is "ignored", as in GDAL's log callback
        def __del__(self) -> None:
            time.sleep(1.0)

    def work(item: Item) -> dict:
        if item.name == "a0":
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
            s = Swallower()
            del s  # the Ctrl-C comes inside __del__
        item.outputs[0].write_text("x")
        return {}

    items = [Item(name=f"a{i}", source=f"src{i}", outputs=(tmp_path / f"a{i}.txt",)) for i in range(4)]
    with pytest.raises(BatchInterrupted, match="1 of 4 done"):
        run_batch(items, work, options=BatchOptions(progress=False))
    assert sorted(p.name for p in tmp_path.glob("a*.txt")) == ["a0.txt"] and not interrupt_pending()
    outer = _CtrlC()
    try:
        with pytest.raises(KeyboardInterrupt):
            outer._note(signal.SIGINT, None)
        other = threading.Thread(target=lambda: _CtrlC().restore())
        other.start()
        other.join()
        _CtrlC().restore()  # a batch within this one
        assert interrupt_pending() and outer.pressed
    finally:
        outer.restore()
    assert not interrupt_pending()


def test_a_packaged_model_is_named_as_a_user_types_it(tmp_path: Path) -> None:
    """Another packaged model was named by its weight files (``crop_default.safetensors -> crop_weed.safetensors``),
    not as ``-m`` takes it (session 104's sweep)."""
    from agriseg.models.io import resolve

    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"photo")
    item = Item("p", photo, (tmp_path / "p_mask.png",))
    earlier = Recipe("crop predict", model=resolve("default")).fingerprint(item)
    assert Recipe("crop predict", model=resolve("crop-weed")).changes(item, earlier) == ["model: default -> crop-weed"]
    assert Recipe("crop predict", model=resolve("default@5")).changes(item, earlier) == []


def test_a_table_finish_did_not_write_is_not_left_stamped_as_being_written(tmp_path: Path) -> None:
    """Session 105's sweep: text predict with every image failed wrote no run.json, and its stamp stayed
    "writing", as a killed run leaves it."""
    import json

    from agriseg.manifest import ManifestStore

    items = _items(tmp_path, ["bad1", "bad2"])
    table = tmp_path / "out" / "run.json"
    res = run_batch(items, _work, options=QUIET, store=ManifestStore(), tables=[table], finish=lambda r: None)
    assert res.exit_code == 1 and not table.exists()
    stamps = tmp_path / "out" / ".agriseg-tables.json"
    assert "run.json" not in (json.loads(stamps.read_text()) if stamps.exists() else {})


def test_a_ctrl_c_while_thread_items_run_counts_every_one_they_finish(tmp_path: Path) -> None:
    """Session 105's review: with Threads, a Ctrl-C while four items ran said "1 of 4 done" beside 4 outputs
    (the runner's drain threw into the executor's own drain)."""
    import threading

    from agriseg.batch import BatchInterrupted, Threads

    def work(item: Item) -> dict:
        time.sleep(0.6)
        return _work(item)

    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(BatchInterrupted, match=r"^all 4 done"):
            run_batch(_items(tmp_path, ["a", "b", "c", "d"]), work, options=QUIET, executor=Threads(4))
    finally:
        timer.cancel()
    assert len(list((tmp_path / "out").glob("*.res"))) == 4
