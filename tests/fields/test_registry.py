"""Released models by name: cache, resumed downloads, checksums, -m NAME in the commands."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from agriseg.cli import main
from agriseg.data.download import part_path
from agriseg.fields import registry
from tests.fields.stac_server import Loopback

NAME = "FTW_PRUE_EFNET_B3"
PATH = "/models/v3/prue_efnet3_checkpoint.ckpt"


def test_registry_lists_the_prue_models_and_their_licences() -> None:
    for b in (3, 5, 7):
        spec = registry.get_spec(f"FTW_PRUE_EFNET_B{b}")
        assert spec.url.endswith(f"v3/prue_efnet{b}_checkpoint.ckpt") and not spec.commercial_use
        assert spec.classes == ["background", "field", "boundary"]
    assert registry.default_model().name == "FTW_PRUE_EFNET_B5"
    assert registry.get_spec("FTW_v1_3_Class_CCBY").commercial_use
    with pytest.raises(ValueError, match=r"NOPE: not a known model name \(valid: FTW_PRUE_EFNET_B3, "):
        registry.get_spec("NOPE")


def test_fetch_caches_and_the_cached_model_loads(model_cache: Path, loopback: Loopback, ftw_ckpt_bytes: bytes) -> None:
    from agriseg.fields.checkpoints import load_for_scenes

    assert registry.status(registry.get_spec(NAME)) == "not downloaded"
    path = registry.fetch(NAME, progress=False)
    assert path.read_bytes() == ftw_ckpt_bytes and path.is_relative_to(model_cache)
    assert registry.status(registry.get_spec(NAME)) == "cached"
    n = len(loopback.log)
    assert registry.resolve_model(NAME) == str(path) and len(loopback.log) == n  # no second download
    loaded = load_for_scenes(path)
    assert loaded.num_classes == 3 and loaded.preprocess.resize == 2.0
    res = CliRunner().invoke(main, ["fields", "models", "list"])
    assert res.exit_code == 0 and f"{NAME}" in res.output
    line = next(ln for ln in res.output.splitlines() if NAME in ln)
    assert "cached" in line and "not downloaded" not in line
    assert res.output.splitlines()[0].split() == ["name", "state", "licence", "input", "output", "title"]
    assert "classes, polygonised  PRUE" in res.output  # columns as wide as their values (they ran together)


def test_models_download_of_a_model_another_command_fetched_is_skipped(
    model_cache: Path, loopback: Loopback, ftw_ckpt_bytes: bytes
) -> None:
    """``fields run -m NAME`` cached the model; ``fields models download NAME`` then failed it as "exists and was
    not written by this command" with exit 1 (session 84's sweep)."""
    registry.fetch(NAME, progress=False)  # as -m NAME does
    n = len(loopback.log)
    res = CliRunner().invoke(main, ["fields", "models", "download", NAME])
    assert res.exit_code == 0 and "0 downloaded, 1 skipped, 0 failed" in res.output, res.output
    assert len(loopback.log) == n  # nothing fetched again


def test_a_damaged_cached_model_is_said_and_fetched_again(
    model_cache: Path, loopback: Loopback, ftw_ckpt_bytes: bytes
) -> None:
    """A cached .ckpt cut short stayed "cached" in `models list`, and `models download` skipped it; only a later
    load failed (session 100's sweep)."""
    path = registry.fetch(NAME, progress=False)
    path.write_bytes(ftw_ckpt_bytes[:5000])
    spec = registry.get_spec(NAME)
    assert registry.status(spec) == "damaged" and not registry.is_cached(spec)
    line = next(ln for ln in CliRunner().invoke(main, ["fields", "models", "list"]).output.splitlines() if NAME in ln)
    assert "damaged" in line
    res = CliRunner().invoke(main, ["fields", "models", "download", NAME])
    assert res.exit_code == 0 and "1 downloaded, 0 skipped, 0 failed" in res.output, res.output
    assert path.read_bytes() == ftw_ckpt_bytes and registry.status(spec) == "cached"
    # a flipped byte in a file name of the zip's directory: zipfile's UnicodeDecodeError ended `models list`
    # with a raw error (the review); damaged too, and a load names the file in one line
    from agriseg.models.io import ModelLoadError, cut_short_zip, torch_load

    data = bytearray(ftw_ckpt_bytes)
    at = data.rfind(b"PK\x01\x02") + 46  # the first byte of the last central directory entry's name
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    assert registry.status(spec) == "damaged"
    assert CliRunner().invoke(main, ["fields", "models", "list"]).exit_code == 0
    with pytest.raises(ModelLoadError, match="a zip archive cut short"):
        torch_load(path)
    assert not cut_short_zip(path.parent)  # a file it cannot read (a folder here): not taken for damaged


def test_a_release_the_server_sends_cut_short_is_not_said_downloaded(
    model_cache: Path, loopback: Loopback, ftw_ckpt_bytes: bytes
) -> None:
    """A whole answer (its Content-Length right) of half the checkpoint: `models download` said "1 downloaded",
    exit 0, and `models list` then called it damaged (session 104's sweep)."""
    loopback.add_file(PATH, ftw_ckpt_bytes[:5000])
    res = CliRunner().invoke(main, ["fields", "models", "download", NAME])
    assert res.exit_code == 1 and "0 downloaded, 0 skipped, 1 failed" in res.output, res.output
    assert "the server sent a file cut short or damaged" in res.output and "a re-run downloads it again" in res.output
    assert not registry.cached_path(registry.get_spec(NAME)).exists()
    loopback.add_file(PATH, ftw_ckpt_bytes)  # the server mended: the re-run downloads it
    res = CliRunner().invoke(main, ["fields", "models", "download", NAME])
    assert res.exit_code == 0 and "1 downloaded, 0 skipped, 0 failed" in res.output, res.output


def test_a_file_under_a_release_name_that_is_another_model_is_refused(model_cache: Path) -> None:
    """A mirror serving a 2-class checkpoint as a 3-class release loaded it as the release, unsaid."""
    from agriseg.fields.checkpoints import load_for_scenes
    from agriseg.models.io import ModelLoadError
    from tests.fields.stac_server import tiny_ftw_checkpoint

    dst = registry.cached_path(registry.get_spec(NAME))
    dst.parent.mkdir(parents=True)
    dst.write_bytes(tiny_ftw_checkpoint(classes=2))
    with pytest.raises(ModelLoadError, match=rf"2 classes from 8 bands, where {NAME} has 3 from 8: not that release"):
        load_for_scenes(dst)
    dst.write_bytes(tiny_ftw_checkpoint())
    assert load_for_scenes(dst).num_classes == 3


def test_interrupted_download_resumes(model_cache: Path, loopback: Loopback, ftw_ckpt_bytes: bytes) -> None:
    loopback.drop[PATH] = 1  # the server drops the connection half-way, once
    with pytest.raises(ValueError, match=r"download failed after 1 attempt.*re-run to resume"):
        registry.fetch(NAME, progress=False, retries=0)
    dst = registry.cached_path(registry.get_spec(NAME))
    assert not dst.exists() and 0 < part_path(dst).stat().st_size < len(ftw_ckpt_bytes)
    have = part_path(dst).stat().st_size
    path = registry.fetch(NAME, progress=False)
    assert path.read_bytes() == ftw_ckpt_bytes and not part_path(dst).exists()
    assert ("GET", PATH, f"bytes={have}-") in loopback.log  # only the rest was fetched


def test_retries_within_one_call(model_cache: Path, loopback: Loopback, ftw_ckpt_bytes: bytes) -> None:
    from agriseg.data.download import download

    loopback.drop[PATH] = 2
    out = download(loopback.url + PATH, model_cache / "x.ckpt", retries=3, backoff_s=0.01, progress=False)
    assert out.read_bytes() == ftw_ckpt_bytes


def test_checksum_mismatch_deletes_the_file(
    model_cache: Path, loopback: Loopback, ftw_ckpt_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = registry.get_spec(NAME)
    monkeypatch.setitem(registry.MODELS, NAME, spec.model_copy(update={"sha256": "0" * 64}))
    with pytest.raises(ValueError, match=r"sha256 mismatch \(expected 0000.*the download was deleted"):
        registry.fetch(NAME, progress=False)
    dst = registry.cached_path(spec)
    assert not dst.exists() and not part_path(dst).exists()
    good = hashlib.sha256(ftw_ckpt_bytes).hexdigest()
    monkeypatch.setitem(registry.MODELS, NAME, spec.model_copy(update={"sha256": good}))
    assert registry.fetch(NAME, progress=False).read_bytes() == ftw_ckpt_bytes


def test_missing_release_file_is_a_clear_error(model_cache: Path) -> None:
    with pytest.raises(ValueError, match=r"/models/v3/prue_efnet7_checkpoint.ckpt: download failed .*404"):
        registry.fetch("FTW_PRUE_EFNET_B7", progress=False, retries=0)
    # no empty folder is left in the cache, and -m NAME's failure names the model (session 99's sweep)
    assert not registry.cached_path(registry.get_spec("FTW_PRUE_EFNET_B7")).parent.exists()
    with pytest.raises(ValueError, match=r"^model FTW_PRUE_EFNET_B7: http.*prue_efnet7_checkpoint.ckpt: download fail"):
        registry.resolve_model("FTW_PRUE_EFNET_B7", progress=False, retries=0)


def test_unknown_model_name_in_a_command(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["fields", "predict", str(tmp_path / "s.tif"), "-m", "FTW_PRUE_B9"])
    assert res.exit_code == 2
    assert "FTW_PRUE_B9: no such model file, and not a known model name (valid: FTW_PRUE_EFNET_B3" in res.output
    res = CliRunner().invoke(main, ["fields", "models", "show", "FTW_PRUE_B9"])
    assert res.exit_code == 2 and "not a known model name" in res.output


def test_models_show_flags_the_licence() -> None:
    res = CliRunner().invoke(main, ["fields", "models", "show", "FTW_PRUE_EFNET_B7"])
    assert res.exit_code == 0 and "non-commercial" in res.output and "prue_efnet7_checkpoint.ckpt" in res.output


def test_a_missing_model_file_is_named_without_the_crop_models() -> None:
    """`fields evaluate -m nope.safetensors` listed the crop models' names (default, crop-weed...)."""
    from agriseg.config import OptionError
    from agriseg.fields.registry import released

    with pytest.raises(OptionError, match=r"^--model: nope.safetensors: model file not found$"):
        released("nope.safetensors")


def test_a_released_name_in_another_case_gets_its_spelling() -> None:
    from agriseg.fields.registry import resolve_model

    for wrong, right in (("ftw_prue_efnet_b5", "FTW_PRUE_EFNET_B5"), ("delineateanything-s", "DelineateAnything-S")):
        with pytest.raises(ValueError, match=rf"^{wrong}: no such model file, .*\(did you mean {right}\? valid: "):
            resolve_model(wrong)
    with pytest.raises(ValueError, match=r"^nope: no such model file, and not a known model name \(valid: "):
        resolve_model("nope")


def test_a_damaged_cached_release_says_how_to_fetch_it_again() -> None:
    """A release's checkpoint cut short in the cache failed every run ("cannot read as a checkpoint"), listed as
    cached, with nothing saying how to get it again (session 93's sweep)."""
    from agriseg.fields.checkpoints import load_fields_model
    from agriseg.fields.registry import MODELS, cached_path
    from agriseg.models.io import ModelLoadError

    spec = next(s for s in MODELS.values() if s.filename.endswith(".ckpt"))
    path = cached_path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 cut short")
    try:
        with pytest.raises(ModelLoadError, match=rf"`agriseg fields models download --overwrite {spec.name}`"):
            load_fields_model(path)
    finally:
        path.unlink()


def test_retries_reach_a_released_model_named_in_a_command(
    model_cache: Path, loopback: Loopback, ftw_ckpt_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fields run / map --retries N`` is the model download's too (it was always 4)."""
    from agriseg.fields.mapping.commands import model_file

    monkeypatch.setattr("agriseg.data.download.time.sleep", lambda s: None)
    loopback.drop[PATH] = 1
    with pytest.raises(ValueError, match=r"download failed after 1 attempt"):
        model_file(NAME, retries=0)
    part_path(registry.cached_path(registry.get_spec(NAME))).unlink()
    loopback.drop[PATH] = 2
    assert Path(model_file(NAME, retries=2)).read_bytes() == ftw_ckpt_bytes


def test_map_with_a_released_models_own_resize_resumes(model_cache: Path, tmp_path: Path) -> None:
    """``fields map -m NAME --resize 2`` (the release's own resize: the same pixels) resumed nothing of a run
    without ``--resize`` ("made with other settings"), as ``fields predict`` does since session 93."""
    from tests.fields.synth_scenes import write_scene

    (tmp_path / "in").mkdir()
    write_scene(tmp_path / "in" / "scene.tif", h=64, w=64)
    args = ["fields", "map", str(tmp_path / "in"), "--outdir", str(tmp_path / "out"), "-m", NAME, "--serial"]
    assert (res := CliRunner().invoke(main, args)).exit_code == 0, res.output
    res = CliRunner().invoke(main, [*args, "--resize", "2"])
    assert res.exit_code == 0 and "1 skipped" in res.output, res.output
    res = CliRunner().invoke(main, [*args, "--resize", "1"])  # another value: refused, naming the option
    assert res.exit_code == 1 and "--resize: not given -> 1.0" in res.output, res.output


def test_a_command_of_unet_models_refuses_a_released_instance_model_before_its_download(tmp_path: Path) -> None:
    """``fields evaluate -m DelineateAnything-S`` downloaded the model (exit 1 offline) before it could say that
    evaluate takes U-Net models, as ``fields export`` does (session 94's sweep)."""
    (tmp_path / "root" / "austria").mkdir(parents=True)
    (tmp_path / "root" / "austria" / "chips_austria.parquet").write_bytes(b"")  # what says a country is there
    for cmd in (["evaluate", "--root", str(tmp_path / "root")], ["robustness", "--root", str(tmp_path / "root")]):
        res = CliRunner().invoke(main, ["fields", *cmd, "-m", "DelineateAnything-S", "-o", str(tmp_path / "e.json")])
        assert res.exit_code == 2, res.output
        assert "DelineateAnything-S: a DelineateAnything (ultralytics YOLO) instance model" in res.output
