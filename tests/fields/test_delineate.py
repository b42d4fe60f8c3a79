"""DelineateAnything: trusted pickles only, the within-scene instance merge, offline ultralytics, mirrors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from agriseg.cli import main
from agriseg.fields import registry
from agriseg.fields.delineate import InstanceConfig, _Instance, merge_instances
from agriseg.fields.trust import UntrustedModelError, require_trusted, trust_file
from tests.fields.stac_server import Loopback, serve_yolo

DA = "DelineateAnything-S"


def _inst(y0: int, x0: int, mask: np.ndarray, conf: float, owned: bool, k: int) -> _Instance:
    return _Instance(y0, x0, mask, conf, owned, (k, 0))


def test_merge_joins_copies_of_one_field_and_keeps_neighbours_apart() -> None:
    cfg = InstanceConfig(min_pixels=1)
    field = np.ones((20, 30), bool)
    cut = np.ones((20, 12), bool)  # the same field cut by another patch's edge
    other = np.ones((20, 10), bool)  # the neighbour, overlapping the field by 2 columns
    found = [
        _inst(0, 0, cut, 0.9, False, 1),
        _inst(0, 0, field, 0.6, True, 0),
        _inst(0, 28, other, 0.5, True, 2),  # less confident: the shared columns stay the field's
    ]
    labels, conf = merge_instances(found, (25, 45), cfg)
    ids = np.unique(labels[labels > 0])
    assert len(ids) == 2  # the cut copy joined its field; the neighbour is its own field
    first = labels[5, 5]
    assert (labels[:20, :30] == first).all() and conf[first] == pytest.approx(0.9)
    assert (labels[:20, 30:38] != first).all() and (labels[:20, 30:38] > 0).all()  # only its free pixels
    assert labels[20:].max() == 0


def test_merge_keeps_the_largest_piece_of_a_split_field() -> None:
    cfg = InstanceConfig(min_pixels=1)
    wall = np.ones((30, 2), bool)
    wide = np.ones((10, 30), bool)
    labels, _ = merge_instances([_inst(0, 10, wall, 0.9, True, 0), _inst(10, 0, wide, 0.5, True, 1)], (30, 30), cfg)
    wide_id = labels[15, 20]
    assert labels[15, 5] == 0 and (labels[10:20, 12:] == wide_id).all()  # the 10-px stub left of the wall is gone


def test_an_untrusted_pickle_is_refused_then_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "m.pt"
    f.write_bytes(b"\x80not really a model")  # a pickle's first byte: what trust checks of the format
    with pytest.raises(UntrustedModelError, match=r"you have not trusted; .*`agriseg fields models trust .*m.pt`"):
        require_trusted(f)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert require_trusted(f, sha256=digest) == digest  # a pin given on the command line
    with pytest.raises(UntrustedModelError, match="not the --sha256"):
        require_trusted(f, sha256="0" * 64)
    res = CliRunner().invoke(main, ["fields", "models", "trust", str(f), "--sha256", "1" * 64])
    # exit 2 as fields predict -m FILE --sha256 gives for the same digest (it was 1: session 99's sweep)
    assert res.exit_code == 2 and "not the " + "1" * 64 + " given; not trusted" in res.output
    res = CliRunner().invoke(main, ["fields", "models", "trust", str(f)])
    assert res.exit_code == 0 and digest in res.output
    assert require_trusted(f) == digest
    f.write_bytes(b"\x80changed")  # trust follows the content
    with pytest.raises(UntrustedModelError):
        require_trusted(f)
    with pytest.raises(ValueError, match="does not start with abcdef12"):
        trust_file(f, prefix="abcdef12")
    (tmp_path / "notes.txt").write_text("hello")  # any file was trusted (bad-input sweep, session 58)
    res = CliRunner().invoke(main, ["fields", "models", "trust", str(tmp_path / "notes.txt")])
    assert res.exit_code == 2 and "notes.txt: not a PyTorch model file" in res.output
    # a U-Net checkpoint is read with weights_only: it was trusted (recorded) all the same (session 94's sweep)
    (tmp_path / "unet.ckpt").write_bytes(b"\x80a pickle")
    res = CliRunner().invoke(main, ["fields", "models", "trust", str(tmp_path / "unet.ckpt")])
    assert res.exit_code == 2 and "unet.ckpt: not a DelineateAnything (.pt) model" in res.output, res.output
    res = CliRunner().invoke(main, ["fields", "models", "trust", "FTW_PRUE_EFNET_B3"])  # before any download
    assert res.exit_code == 2 and "a U-Net checkpoint, read with weights_only=True" in res.output, res.output


def test_full_url_entries_follow_the_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = registry.get_spec(DA)
    monkeypatch.delenv("AGRISEG_MODELS_BASE_URL", raising=False)
    assert spec.url.startswith("https://hf.co/torchgeo/delineate-anything-s/resolve/")
    monkeypatch.setenv("AGRISEG_MODELS_BASE_URL", "http://mirror.local/m/")
    assert (
        spec.url
        == "http://mirror.local/m/hf.co/torchgeo/delineate-anything-s/resolve/" + spec.file.split("/resolve/")[1]
    )
    assert registry.get_spec("FTW_PRUE_EFNET_B3").url == "http://mirror.local/m/v3/prue_efnet3_checkpoint.ckpt"


def test_registry_matches_ftw_tools_2(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {
        "FTW_v1_2_Class_CCBY", "FTW_v1_2_Class_FULL", "FTW_v1_3_Class_CCBY", "FTW_v1_3_Class_FULL",
        "FTW_v2_3_Class_FULL_singleWindow", "FTW_v2_3_Class_FULL_multiWindow", "DelineateAnything-S",
        "DelineateAnything", "DelineateAnythingV2", "FTW_PRUE_EFNET_B3", "FTW_PRUE_EFNET_B5", "FTW_PRUE_EFNET_B7",
        "FTW_PRUE_EFNET_B3_CCBY", "FTW_PRUE_EFNET_B5_CCBY", "FTW_PRUE_EFNET_B7_CCBY",
    }  # fmt: skip
    assert set(registry.MODELS) == names
    for b in (3, 5, 7):
        s = registry.get_spec(f"FTW_PRUE_EFNET_B{b}_CCBY")
        assert s.licence == "CC-BY-4.0" and s.commercial_use and s.file.startswith("v3.1/") and s.needs_polygonize
    assert registry.get_spec("FTW_PRUE_EFNET_B3_CCBY").sha256.startswith("cd51f020")
    assert registry.get_spec("FTW_PRUE_EFNET_B7").sha256.startswith("2b1b34a1")
    for n in ("DelineateAnything", "DelineateAnything-S", "DelineateAnythingV2"):
        s = registry.get_spec(n)
        assert s.licence == "AGPL-3.0" and s.pickle and not s.needs_polygonize
        assert (s.windows, s.bands) == ("a", ("red", "green", "blue"))
    assert registry.get_spec("FTW_v2_3_Class_FULL_singleWindow").windows == "a"
    res = CliRunner().invoke(main, ["fields", "models", "list"])
    line = next(ln for ln in res.output.splitlines() if ln.split()[:1] == [DA])
    assert "AGPL-3.0" in line and "1 window RGB" in line and "instances" in line


def test_models_trust_downloads_then_records(season_server: Loopback, yolo_bytes: bytes) -> None:
    spec = registry.get_spec(DA)
    serve_yolo(season_server, yolo_bytes, spec.file)
    res = CliRunner().invoke(main, ["fields", "models", "trust", DA])  # test bytes lack the published prefix
    assert res.exit_code == 1 and "does not start with b879d643" in res.output
    digest = hashlib.sha256(yolo_bytes).hexdigest()
    res = CliRunner().invoke(main, ["fields", "models", "trust", DA, "--sha256", digest])
    assert res.exit_code == 0, res.output
    assert require_trusted(registry.cached_path(spec)) == digest


def test_missing_extra_exits_2_naming_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ultralytics", None)  # as if [delineate] were not installed
    (tmp_path / "m.pt").write_bytes(b"x")
    res = CliRunner().invoke(main, ["fields", "predict", str(tmp_path / "s.tif"), "-m", str(tmp_path / "m.pt")])
    assert res.exit_code == 2 and 'pip install "agriseg[delineate]"' in res.output
    assert res.output.strip().count("\n") == 0


def test_importing_ultralytics_leaves_pil_and_torch_alone() -> None:
    from tests.fields.stac_server import require_ultralytics

    require_ultralytics()
    import PIL.Image
    import torch

    from agriseg.fields.delineate import import_ultralytics

    before = (PIL.Image.open, torch.save)
    import_ultralytics()
    assert (PIL.Image.open, torch.save) == before


def test_instance_settings_are_checked_like_every_config() -> None:
    """InstanceConfig was a plain dataclass: offset="Auto" or conf=5 were taken and failed later, or never."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="offset"):
        InstanceConfig(offset="Auto")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="conf"):
        InstanceConfig(conf=5)
    assert InstanceConfig(padding=8).pad == 8 and InstanceConfig().pad == InstanceConfig().predict.patch_size // 4


def test_delineate_models_given_where_they_cannot_be_used_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session 84's sweep: ``fields export DelineateAnything-S`` downloaded the pickle first, then called it "not a
    model agriseg reads"; an untrusted or wrong .pt given to ``fields predict`` exited 1 where every other bad
    --model exits 2."""
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AGRISEG_MODELS_BASE_URL", "http://127.0.0.1:9/")  # nothing listens: a download fails
    res = CliRunner().invoke(main, ["fields", "export", "DelineateAnything-S", "-o", str(tmp_path / "da.onnx")])
    assert res.exit_code == 2 and "a DelineateAnything (ultralytics YOLO) instance model" in res.output, res.output
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.pt"))
    (tmp_path / "m.pt").write_bytes(b"\x80not really a model")
    scene = tmp_path / "s.tif"
    scene.write_bytes(b"")
    res = CliRunner().invoke(main, ["fields", "predict", str(scene), "-m", str(tmp_path / "m.pt"), "-o",
                                    str(tmp_path / "o.tif")])  # fmt: skip
    assert res.exit_code == 2 and "you have not trusted" in res.output, res.output


@pytest.mark.parametrize(("given", "offset"), [("500", 500.0), ("apply", "apply"), ("none", "none")])
def test_a_dn_offset_reaches_an_instance_model_in_map_and_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, given: str, offset: object
) -> None:
    """Session 90's review: ``fields map --offset 500`` with a DelineateAnything model ran with -1000 (the job
    carried only "apply", the preprocessing's word for a DN offset)."""
    import agriseg.fields.delineate as delineate
    import agriseg.fields.mapping.scene as scene
    from agriseg.fields.config import FieldsRunConfig

    seen = {}

    class Capture:
        def __init__(self, model: object, cfg: delineate.InstanceConfig, name: str) -> None:
            seen["offset"] = cfg.offset

        def predict(self, *args: object, **kwargs: object) -> None:
            return None

    monkeypatch.setattr(delineate, "InstancePredictor", Capture)
    monkeypatch.setattr(scene, "_cached_yolo", lambda *args: None)
    job = scene.SceneJob("s.tif", str(tmp_path), "m.pt", preprocess=FieldsRunConfig(offset=given).preprocess())
    scene._predict_instances(job, tmp_path / "r.tif")
    assert seen["offset"] == offset


def test_a_mistyped_released_name_to_trust_is_named_with_the_valid_ones() -> None:
    """``fields models trust delineateanything`` said "model file not found" (session 99's sweep)."""
    res = CliRunner().invoke(main, ["fields", "models", "trust", "delineateanything"])
    assert res.exit_code == 2 and "did you mean DelineateAnything?" in res.output, res.output


def test_a_folder_to_trust_is_said_to_be_one(tmp_path: Path) -> None:
    """``fields models trust <folder>`` said "model file not found" of a folder that is there (session 103)."""
    res = CliRunner().invoke(main, ["fields", "models", "trust", str(tmp_path)])
    assert res.exit_code == 2 and f"{tmp_path}: a folder, not a model file" in res.output, res.output
