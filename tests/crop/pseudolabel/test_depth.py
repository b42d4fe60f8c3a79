"""Depth sources: files, conventions, ground plane, synthetic RGB-D scenes, Depth Anything offline."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from agriseg.crop.pseudolabel.depth import (
    DepthAnythingEstimator,
    find_depth_file,
    fit_ground_plane,
    read_depth,
    relief,
    to_nearness,
)
from agriseg.crop.pseudolabel.gght import GGHTConfig, gght
from agriseg.crop.pseudolabel.pipeline import PseudoLabelConfig, pseudolabel_files
from agriseg.crop.pseudolabel.synthetic import make_scene, write_scenes
from agriseg.metrics import SegmentationMetrics
from agriseg.models.io import ModelLoadError


def test_read_depth_formats_roundtrip(tmp_path: Path) -> None:
    d = np.random.default_rng(0).uniform(0.5, 2.0, (30, 40)).astype(np.float32)
    mm = np.round(d * 1000).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), mm)
    cv2.imwrite(str(tmp_path / "b.tif"), d)
    np.save(tmp_path / "c.npy", d)
    assert np.array_equal(read_depth(tmp_path / "a.png"), mm.astype(np.float32))
    assert np.allclose(read_depth(tmp_path / "b.tif"), d)
    assert np.allclose(read_depth(tmp_path / "c.npy"), d)
    assert find_depth_file(tmp_path, "b").name == "b.tif"
    with pytest.raises(FileNotFoundError, match="zzz"):
        find_depth_file(tmp_path, "zzz")


def test_depth_maps_of_no_numbers_or_nearly_no_readings_are_said_as_they_are(tmp_path: Path) -> None:
    """Session 103's sweep: a map of text said "must be single-channel, got shape (2,)", a complex one was read
    without its imaginary part, 4 readings of 10800 said "100% of depth pixels are missing"."""
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    np.save(tmp_path / "complex.npy", np.ones((4, 4), np.complex64))
    for name, kind in (("text.npy", "<U1"), ("complex.npy", "complex64")):
        with pytest.raises(ValueError, match=rf"{name}: depth must be a map of numbers, not of {kind} values"):
            read_depth(tmp_path / name)
    sparse = np.zeros((90, 120), np.float32)
    sparse[:2, :2] = 1.0
    with pytest.raises(ValueError, match=r"^d: all but 4 of the depth pixels are missing \(<= 0\)$"):
        to_nearness(sparse, "depth", "d")
    sparse[:30] = 1.0
    with pytest.raises(ValueError, match=r"^d: 67% of the depth pixels are missing"):
        to_nearness(sparse, "depth", "d")


def test_depth_files_match_as_the_user_sees_their_names(tmp_path: Path) -> None:
    """``IMG_1.PNG`` from a camera, and a name written in Unicode NFD (macOS) beside a photo named in NFC, were
    "no depth file" (session 85's sweep)."""
    import unicodedata

    (tmp_path / "IMG_1_depth.PNG").touch()
    assert find_depth_file(tmp_path, "IMG_1").name == "IMG_1_depth.PNG"
    (tmp_path / unicodedata.normalize("NFD", "parcelle_é.tif")).touch()
    assert find_depth_file(tmp_path, unicodedata.normalize("NFC", "parcelle_é")).is_file()
    (tmp_path / "IMG_1.npy").touch()  # the search order holds: <stem>.* before <stem>_depth.*
    assert find_depth_file(tmp_path, "IMG_1").name == "IMG_1.npy"
    with pytest.raises(FileNotFoundError, match="IMG_2"):
        find_depth_file(tmp_path, "IMG_2")


def test_conventions_make_near_larger() -> None:
    depth = np.array([[1.0, 2.0]], np.float32)
    near, valid = to_nearness(depth, "depth")
    assert near[0, 0] > near[0, 1] and valid.all()
    inv, _ = to_nearness(np.array([[5.0, 1.0]], np.float32), "inverse")
    assert inv[0, 0] > inv[0, 1]
    near0, valid0 = to_nearness(np.array([[0.0, 1.0, 2.0]], np.float32), "depth")
    assert not valid0[0, 0]


def test_plane_fit_removes_tilted_ground() -> None:
    H, W = 60, 80
    vv, uu = np.mgrid[0:H, 0:W].astype(np.float32)
    inv = 0.5 + 0.2 * vv / H - 0.1 * uu / W
    plane = fit_ground_plane(inv, np.ones_like(inv, bool))
    assert np.abs(plane - inv).max() < 1e-4


def _scenes(n: int) -> list:
    out = []
    for i in range(n):
        r = np.random.default_rng(10_000 + i)
        out.append(
            make_scene(
                seed=i,
                size=(180, 240),
                n_plants=int(r.integers(2, 9)),
                coverage=float(r.uniform(0.1, 0.45)),
                tilt=float(r.uniform(0, 0.6)),
            )
        )
    return out


def test_gght_recovers_synthetic_rgbd_masks() -> None:
    m = SegmentationMetrics(2)
    for sc in _scenes(8):
        assert sc.mask.any() and not sc.mask.all()
        sig, valid = relief(sc.depth, "depth", "plane")
        m.update(gght(sig, GGHTConfig(), valid=valid).mask.astype(np.uint8), sc.mask.astype(np.uint8))
    assert m.compute()["miou"] >= 0.95


def test_plane_detrend_matters_on_tilted_scenes() -> None:
    sc = make_scene(seed=3, size=(180, 240), tilt=0.6)
    scores = {}
    for detrend in ("plane", "none"):
        sig, valid = relief(sc.depth, "depth", detrend)  # type: ignore[arg-type]
        res = gght(sig, GGHTConfig(), valid=valid)
        scores[detrend] = SegmentationMetrics(2)
        scores[detrend].update(res.mask.astype(np.uint8), sc.mask.astype(np.uint8))
    assert scores["plane"].compute()["miou"] > scores["none"].compute()["miou"] + 0.1


def test_depth_files_pipeline_and_bad_inputs_do_not_stop_the_batch(tmp_path: Path) -> None:
    root = write_scenes(tmp_path / "syn", n=6, size=(90, 120), depth_format="png")
    dd = root / "depth"
    (dd / "0001.png").unlink()  # missing
    cv2.imwrite(str(dd / "0002.png"), np.full((40, 50), 1500, np.uint16))  # wrong size
    cv2.imwrite(str(dd / "0003.png"), np.full((90, 120), 1500, np.uint16))  # constant
    (dd / "0004.png").unlink()
    nan = np.full((90, 120), 1.5, np.float32)
    nan[5, 5] = np.nan
    np.save(dd / "0004.npy", nan)  # NaN
    (dd / "0005.png").write_text("not a picture")  # unreadable: said without Pillow's words (session 90)
    files = sorted((root / "images").glob("*.png"))
    recs = pseudolabel_files(
        files, tmp_path / "out", PseudoLabelConfig(source="depth", depth_dir=str(dd)), progress=False
    )
    by = {r["stem"]: r for r in recs}
    assert by["0000"]["status"] == "ok"
    assert by["0005"]["error"] == f"{dd / '0005.png'}: not a readable depth image", by["0005"]
    assert by["0001"]["status"] == "error" and "no depth file" in by["0001"]["error"]
    assert by["0001"]["error"].startswith(by["0001"]["image"])  # the photo, not a made-up path in the depth folder
    assert "0002.png" in by["0002"]["error"] and "sizes must match" in by["0002"]["error"]
    assert by["0003"]["error"].startswith(str(dd / "0003.png")) and "constant" in by["0003"]["error"]
    assert by["0004"]["error"].startswith(str(dd / "0004.npy")) and "NaN" in by["0004"]["error"]
    summary = json.loads((tmp_path / "out" / "pseudolabels.json").read_text())
    assert summary["counts"] == {"ok": 1, "skipped": 0, "kept": 0, "error": 5, "failed": 5}
    mask = cv2.imread(str(tmp_path / "out" / "masks" / "0000.png"), cv2.IMREAD_UNCHANGED)
    truth = cv2.imread(str(root / "masks" / "0000.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(mask)) <= {0, 255}
    inter, union = ((mask > 0) & (truth > 0)).sum(), ((mask > 0) | (truth > 0)).sum()
    assert inter / union > 0.85


def test_depth_anything_tiny_random_weights_offline_with_cache(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    from agriseg.crop.pseudolabel.depth import DepthAnythingEstimator, tiny_depth_anything_config

    model_dir = tmp_path / "da-tiny"
    transformers.DepthAnythingForDepthEstimation(tiny_depth_anything_config()).save_pretrained(model_dir)
    est = DepthAnythingEstimator(str(model_dir), input_size=56)
    rgb = make_scene(seed=1, size=(60, 80)).rgb
    inv = est(rgb)
    assert inv.shape == (60, 80) and inv.dtype == np.float32 and np.isfinite(inv).all()

    root = write_scenes(tmp_path / "syn", n=2, size=(60, 80))
    files = sorted((root / "images").glob("*.png"))
    opts = PseudoLabelConfig(source="depth", depth_model=str(model_dir), depth_input_size=56)
    recs = pseudolabel_files(files, tmp_path / "out", opts, progress=False)
    for r in recs:  # random weights: either a mask or a clear per-image error (e.g. constant output)
        assert r["status"] in ("ok", "error")
        if r["status"] == "ok":
            assert r["depth_convention"] == "inverse" and r["depth_cached"] is False
    cached = list((tmp_path / "out" / "depth_cache").glob("*.npy"))
    assert len(cached) == 2
    meta = json.loads((tmp_path / "out" / "depth_cache" / "cache.json").read_text())
    assert list(meta.values())[0]["model"] == str(model_dir)
    opts2 = PseudoLabelConfig(source="depth", depth_model=str(model_dir), depth_input_size=56, overwrite=True)
    recs2 = pseudolabel_files(files, tmp_path / "out", opts2, progress=False)
    assert all(r.get("depth_cached") for r in recs2 if r["status"] == "ok")
    # session 85's sweep: the cache gave other masks (float16) and served a replaced photo or model its old depth
    ok = [r for r in recs if r["status"] == "ok"]
    assert [r["foreground_fraction"] for r in ok] == [r["foreground_fraction"] for r in recs2 if r["status"] == "ok"]
    other = make_scene(seed=7, size=(60, 80)).rgb
    cv2.imwrite(str(files[0]), other[..., ::-1])  # another photo under the first one's name
    recs3 = pseudolabel_files(files[:1], tmp_path / "out", opts2, progress=False)
    assert recs3[0].get("depth_cached") is not True, recs3[0]
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)  # other weights under the model's name
    transformers.DepthAnythingForDepthEstimation(tiny_depth_anything_config()).save_pretrained(model_dir)
    recs4 = pseudolabel_files(files[1:], tmp_path / "out", opts2, progress=False)
    assert recs4[0].get("depth_cached") is not True, recs4[0]


def test_depth_model_that_cannot_load_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from agriseg.crop.pseudolabel.depth import DepthAnythingEstimator

    with pytest.raises(ValueError, match="cannot load a Depth Anything model"):
        DepthAnythingEstimator(str(tmp_path / "no-such-model"))
    # through the command: refused before its output folder is made (it left masks/, records/, overlays/)
    from click.testing import CliRunner

    from agriseg.cli import main

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "a.png")
    args = ["crop", "pseudolabel", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--source", "depth"]
    res = CliRunner().invoke(main, [*args, "--depth-model", str(tmp_path / "no-such-model")])
    assert res.exit_code in (1, 2) and "cannot load a Depth Anything model" in res.output, res.output
    assert not (tmp_path / "out").exists()


def test_a_hub_id_without_a_network_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers retried the default Depth Anything id for 52 s before failing (bad-input sweep, session 58)."""
    import huggingface_hub

    pytest.importorskip("transformers")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("agriseg.models.hub.hub_unreachable", lambda endpoint: "Name or service not known")
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, file: None)
    with pytest.raises(ModelLoadError, match=r"someorg/depth: no such Depth Anything model folder, not in the Hugging"):
        DepthAnythingEstimator("someorg/depth")


def test_a_pickled_npy_is_refused_without_numpys_advice_to_load_it_unsafely(tmp_path: Path) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="holds Python objects") as info:
        read_depth(path)
    assert "allow_pickle" not in str(info.value)
    path.write_bytes(b"depth in metres, see notes")  # no .npy at all: was also said to hold Python objects
    with pytest.raises(ValueError, match="a.npy: not a NumPy .npy file"):
        read_depth(path)


def test_pixels_without_depth_are_never_vegetation_whatever_they_hold() -> None:
    """Pixels without depth came out as plants, and their raw value (0, a sentinel) moved the threshold."""
    rng = np.random.default_rng(0)
    s = np.where(np.arange(40)[None, :] < 24, 1.0, 0.0) + rng.normal(0, 0.05, (40, 40))  # plants on the left
    valid = np.zeros((40, 40), bool)
    valid[:, 12:30] = True  # most pixels have no depth; two thirds of the rest are plants
    cfg = GGHTConfig(full_coverage="off")
    high, low = (gght(np.where(valid, s, fill).astype(np.float32), cfg, valid=valid) for fill in (100.0, -100.0))
    assert not high.mask[~valid].any() and high.mask[valid].any()
    assert np.array_equal(high.mask, low.mask) and high.threshold == pytest.approx(low.threshold, abs=1e-6)


def test_a_disparity_files_dropouts_are_no_readings() -> None:
    """Session 105's sweep: `--depth-convention inverse` read a disparity map's 0 (no reading) as the farthest
    ground: 2 % dropouts took the mask's IoU from 0.94 to 0.66. A file's 0 is missing in either convention; an
    estimate's (Depth Anything's farthest pixel) still counts."""
    disparity = np.array([[0.0, 1.0, 2.0, 3.0]], np.float32)
    near, valid = to_nearness(disparity, "inverse")
    assert valid.tolist() == [[False, True, True, True]] and near[0, 0] == 0
    _, estimated = to_nearness(disparity, "inverse", measured=False)
    assert estimated.all()
    with pytest.raises(ValueError, match="75% of the depth pixels are missing"):
        to_nearness(np.array([[0.0, 0.0, 0.0, 3.0]], np.float32), "inverse", "d.png")


def test_a_truncated_depth_file_is_one_line_without_opencvs_log(tmp_path: Path) -> None:
    """Session 105's sweep: a cut-short depth TIFF printed OpenCV's libtiff errors ("[ERROR:0@0.03] global
    grfmt_tiff.cpp ...") on stderr before agriseg's one line."""
    import subprocess
    import sys

    import tifffile

    tifffile.imwrite(tmp_path / "whole.tif", np.random.default_rng(0).random((300, 400)).astype(np.float32) + 1)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "p.tif").write_bytes((tmp_path / "whole.tif").read_bytes()[:1000])
    code = "from agriseg.crop.pseudolabel.depth import read_depth; read_depth(__import__('sys').argv[1])"
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "d" / "p.tif")], capture_output=True, text=True)
    assert res.returncode == 1 and "truncated depth image" in res.stderr.splitlines()[-1], res.stderr
    assert "grfmt" not in res.stderr and "[ERROR" not in res.stderr, res.stderr


def test_an_8_bit_depth_image_is_warned_of(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Session 105's sweep: an 8-bit depth PNG gave a mask of 4.7 % where the photo had 43 % vegetation, and no
    word; 16-bit depth is read without one."""
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.tile(np.arange(64, dtype=np.uint8), (8, 1)))
    cv2.imwrite(str(tmp_path / "b.png"), np.tile(np.arange(64, dtype=np.uint16) * 100, (8, 1)))
    with caplog.at_level("WARNING", logger="agriseg"):
        read_depth(tmp_path / "a.png")
        read_depth(tmp_path / "b.png")
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith(f"{tmp_path / 'a.png'}: an 8-bit depth image"), said


def test_a_second_depth_file_of_a_photo_is_named(tmp_path: Path) -> None:
    """Session 105's sweep: `n.png` and `n.npy` of opposite content beside each other: the PNG was read without a
    word."""
    from agriseg.crop.pseudolabel.depth import other_depth_files

    for name in ("n.png", "n.npy", "n_depth.tif", "n2.png", "n[1].png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    chosen = find_depth_file(tmp_path, "n")
    assert chosen.name == "n.png"
    assert [p.name for p in other_depth_files(tmp_path, "n", chosen)] == ["n.npy", "n_depth.tif"]
    assert other_depth_files(tmp_path, "n[1]", tmp_path / "n[1].png") == []  # a glob character in the name
