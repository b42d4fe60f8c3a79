"""Outputs the scene commands cannot write (``fields predict | download | run``): a full disk is one line naming
the output the user asked for, exit status 1, never "a bug in agriseg" nor libtiff's raw lines; a GDAL write that
fails otherwise fails its scene and the batch goes on. The disk is "filled" by making the writer fail as GDAL
does on a full disk, ``CPLE_AppDefinedError: TIFFAppendToStrip:Write error at scanline 0`` (what rasterio 1.4 /
GDAL 3.10 raised on a 400 KiB tmpfs), with the disk left without room (``out_of_room``)."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from agriseg.cli import main
from tests.fields.stac_server import Loopback, bbox_deg

rasterio = pytest.importorskip("rasterio")

FAST = ["--tile", "64", "--optimize", "none"]
BBOX = ",".join(map(repr, bbox_deg(500200, 5316100, 500700, 5316400)))
DATES = ["--win-a-dates", "2023-04-01/2023-04-30", "--win-b-dates", "2023-08-01/2023-08-31"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fields.synth_scenes import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "model.safetensors")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from tests.fields.synth_scenes import write_scene

    folder = tmp_path_factory.mktemp("scenes")
    return [write_scene(folder / f"s{i}.tif", h=64, w=64) for i in (1, 2)]


def _failing_cog():  # noqa: ANN202 - a to_cog stand-in
    from rasterio._err import CPLE_AppDefinedError

    def to_cog(src: Path, dst: Path, *args: object, **kw: object) -> None:
        raise CPLE_AppDefinedError(3, 1, "TIFFAppendToStrip:Write error at scanline 0")

    return to_cog


def _disk_full(monkeypatch: pytest.MonkeyPatch, full: bool = True) -> None:
    monkeypatch.setattr("agriseg.data.files.out_of_room", lambda folder, blocks=1: full)


def _run(*args: object) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["fields", *map(str, args)])
    assert res.exception is None or isinstance(res.exception, SystemExit), f"{res.output}{res.exception!r}"
    return res.exit_code, res.output


def _one_error_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, out
    assert "Traceback" not in out and "bug in agriseg" not in out and "CPLE_" not in out, out
    return lines[0]


def test_a_full_disk_while_predict_writes_its_cog_names_the_output(
    tmp_path: Path, model: Path, scenes: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a bug sweep: a full disk while the COG was written failed the scene as "internal error
    (CPLE_AppDefinedError: TIFFAppendToStrip:Write error at scanline 0); this is a bug in agriseg", and the batch
    went on to fail every scene."""
    monkeypatch.setattr("agriseg.fields.predict.to_cog", _failing_cog())
    _disk_full(monkeypatch)
    code, out = _run("predict", *scenes, "-m", model, "--outdir", tmp_path / "out", *FAST)
    assert code == 1, out
    assert _one_error_line(out) == (
        f"Error: {scenes[0]}: {tmp_path / 'out' / 's1_probs.tif'}: No space left on device; free some space, then "
        "run the command again (none of the 2 done)"
    )


def test_another_gdal_write_error_fails_its_scene_and_the_batch_goes_on(
    tmp_path: Path, model: Path, scenes: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agriseg.fields.predict.to_cog", _failing_cog())
    _disk_full(monkeypatch, False)  # room on the disk: another write error
    code, out = _run("predict", *scenes, "-m", model, "--outdir", tmp_path / "out", *FAST)
    assert code == 1 and "0 predicted, 0 skipped, 2 failed" in out, out
    why = "cannot write it (TIFFAppendToStrip:Write error at scanline 0)"
    said = f"{scenes[0]}: {tmp_path / 'out' / 's1_probs.tif'}: {why}"
    assert f"failed: {said}" in out and "bug in agriseg" not in out, out


def test_a_full_disk_while_a_scene_s_rows_are_written_names_the_output_not_the_work_file(
    tmp_path: Path, model: Path, scenes: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GDAL's "Write failed" while the work file ``.NAME.partial.tif`` is written: said of the output."""
    from rasterio.errors import RasterioIOError

    import agriseg.fields.predict as fp

    def no_room(*args: object, **kw: object) -> None:
        raise RasterioIOError("Write failed. See previous exception for details.")

    monkeypatch.setattr(fp.ScenePredictor, "_create_partial", no_room)
    _disk_full(monkeypatch)
    out_file = tmp_path / "o.tif"
    code, out = _run("predict", scenes[0], "-m", model, "-o", out_file, *FAST)
    assert code == 1, out
    assert _one_error_line(out) == (
        f"Error: {scenes[0]}: {out_file}: No space left on device; free some space, then run the command again"
    )


@pytest.mark.parametrize("where", ["band", "cog"])
def test_a_full_disk_while_download_writes_names_the_scene(
    loopback: Loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A full disk while a finished band was kept named the work file (``.scene.tif.parts/a_green.npy``) after
    the scene."""
    if where == "band":
        saves = [0]
        save = np.save

        def full(file: object, arr: np.ndarray, *args: object, **kw: object) -> None:
            saves[0] += 1
            if saves[0] == 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(file))
            save(file, arr, *args, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(np, "save", full)
    else:
        monkeypatch.setattr("agriseg.raster.io.to_cog", _failing_cog())
        _disk_full(monkeypatch)
    scene = tmp_path / "scene.tif"
    code, out = _run("download", "-o", scene, "--bbox", BBOX, *DATES, "--stac-url", loopback.url + "/stac",
                     "--retries", "0")  # fmt: skip
    assert code == 1, out
    said = f"Error: {scene}: No space left on device; free some space, then run the command again"
    assert _one_error_line(out) == said
    assert not scene.exists()


def test_a_write_error_of_a_scenes_rows_is_said_once(
    tmp_path: Path, model: Path, scenes: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session 89's review: a GDAL write error while the rows were written was turned into "cannot write it" twice
    (`cannot write it ([Errno 5] cannot write it (...): 'o.tif'): 'o.tif'`)."""
    from rasterio.errors import RasterioIOError

    import agriseg.fields.predict as fp

    def failed(*args: object, **kw: object) -> None:
        raise RasterioIOError("Write failed. See previous exception for details.")

    monkeypatch.setattr(fp, "_save_progress", failed)  # inside the loop over rows, after the first is written
    _disk_full(monkeypatch, False)
    out_file = tmp_path / "o.tif"
    code, out = _run("predict", scenes[0], "-m", model, "-o", out_file, *FAST)
    assert code == 1 and out.count("cannot write it") == 1, out
    assert f"{out_file}: cannot write it (Write failed. See previous exception for details.)" in out, out
