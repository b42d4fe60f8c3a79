"""Streaming scene inference: blending, block independence, COG output, resume, and bad input."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from agriseg.fields import PredictConfig, PreprocessConfig, ScenePredictor
from agriseg.fields.predict import partial_paths, read_probabilities, scene_offset
from agriseg.raster.io import is_cog, open_scene
from agriseg.tiling import blend_weights, window_starts
from tests.fields.synth_scenes import TinyNet, write_scene  # tests/fields/synth_scenes.py


@pytest.fixture()
def scene(tmp_path: Path) -> Path:
    return write_scene(tmp_path / "scene.tif")


@pytest.fixture()
def tiny_model() -> torch.nn.Module:
    return TinyNet()


FAST = {"patch_size": 64, "overlap": 0.25, "batch_size": 4, "progress": False, "overviews": False}


def _pred(model: torch.nn.Module, **kw: object) -> ScenePredictor:
    spec = kw.pop("spec", PreprocessConfig())
    return ScenePredictor(model, 3, spec, PredictConfig(**{**FAST, **kw}))  # type: ignore[arg-type]


def test_gaussian_blend_peaks_in_centre_and_is_symmetric() -> None:
    w = blend_weights(64)
    assert w.shape == (64, 64)
    assert np.allclose(w, w.T) and np.allclose(w, w[::-1, ::-1])
    assert w[31:33, 31:33].min() > 0.99 and w[0, 0] < 0.01 and w.min() > 0


def test_patch_grid_covers_the_scene() -> None:
    assert window_starts(200, 64, 48) == [0, 48, 96, 136]
    assert window_starts(50, 64, 48) == [0]
    starts = window_starts(1000, 256, 192)
    assert starts[-1] + 256 == 1000 and all(b - a <= 192 for a, b in zip(starts, starts[1:], strict=False))


def _reference(p: ScenePredictor, scene: Path) -> tuple[np.ndarray, np.ndarray]:
    """Whole scene in memory: every patch of the global grid, same batches, one blended array."""
    with rasterio.open(scene) as ds:
        x = torch.from_numpy(ds.read().astype(np.float32) / 3000.0)  # (C, H, W)
    c, h, w = x.shape
    P, S = p.config.patch_size, p.config.stride
    acc = np.zeros((3, h, w), np.float32)
    norm = np.zeros((h, w), np.float32)
    win = blend_weights(P)
    xs = window_starts(w, P, S)
    for y in window_starts(h, P, S):
        for i in range(0, len(xs), p.config.batch_size):
            chunk = xs[i : i + p.config.batch_size]
            probs = p.patch_probabilities(torch.stack([x[:, y : y + P, x0 : x0 + P] for x0 in chunk])).numpy()
            for x0, pr in zip(chunk, probs, strict=True):
                acc[:, y : y + P, x0 : x0 + P] += pr * win
                norm[y : y + P, x0 : x0 + P] += win
    prob = acc / norm
    return prob.argmax(0).astype(np.uint8), np.clip(np.rint(prob * 255), 0, 254).astype(np.uint8)  # 255 = nodata


def test_streamed_output_equals_whole_scene_in_memory(scene: Path, tiny_model: torch.nn.Module, tmp_path: Path) -> None:
    p = _pred(tiny_model)
    res = p.predict(scene, tmp_path / "a.tif")
    assert res.blocks == 4 and res.patches == 4 * 6  # every patch of the 4 x 6 grid exactly once
    ca, pa, _ = read_probabilities(tmp_path / "a.tif")
    cr, pr = _reference(p, scene)
    assert np.array_equal(ca, cr) and np.array_equal(pa, pr)


@pytest.mark.parametrize("optimize", ["none", "onnxruntime"])
def test_weights_changed_in_place_are_not_run_nor_resumed_as_the_old(
    scene: Path, tiny_model: torch.nn.Module, tmp_path: Path, optimize: str
) -> None:
    """A notebook training on between two scenes: the predictor kept its export of the old weights and its hash
    of them, so a re-run was "skipped" and a new output held the old model's probabilities (session 103)."""
    if optimize == "onnxruntime":
        pytest.importorskip("onnxruntime")
    p = _pred(tiny_model, optimize=optimize)
    assert p.predict(scene, tmp_path / "a.tif").status == "ok"
    assert p.predict(scene, tmp_path / "a.tif").status == "skipped"
    late = _pred(tiny_model, optimize=optimize)  # its first call only skips: nothing prepared (the review)
    assert late.predict(scene, tmp_path / "a.tif").status == "skipped"
    with torch.no_grad():
        for w in tiny_model.parameters():
            w.mul_(-3.0).add_(0.5)
    assert p.predict(scene, tmp_path / "a.tif").status == "kept"  # the old model's: not resumed as this one's
    assert late.predict(scene, tmp_path / "a.tif").status == "kept"
    p.predict(scene, tmp_path / "b.tif")
    _pred(tiny_model, optimize=optimize).predict(scene, tmp_path / "c.tif")
    a, b, c = (read_probabilities(tmp_path / f"{n}.tif")[1] for n in "abc")
    assert np.array_equal(b, c) and not np.array_equal(a, b)
    # a model_id given is the user's: kept, also by a copy of the predictor (it became a hash, its review)
    import copy

    named = ScenePredictor(tiny_model, 3, PreprocessConfig(), PredictConfig(**{**FAST, "optimize": optimize}),
                           model_id="mine-v1")  # fmt: skip
    named.predict(scene, tmp_path / "d.tif")
    twin = copy.deepcopy(named)
    assert twin.predict(scene, tmp_path / "d.tif").status == "skipped" and twin.model_id == "mine-v1"


def test_class_names_given_as_one_string_are_refused(tiny_model: torch.nn.Module) -> None:
    """``class_names="abc"`` named the probability bands prob_a, prob_b, prob_c (session 103's API sweep)."""
    with pytest.raises(TypeError, match=r"class_names is a list of names, one per class, not one string \('abc'\)"):
        ScenePredictor(tiny_model, 3, class_names="abc")  # type: ignore[arg-type]


def test_output_is_cog_with_georeference_and_bands(scene: Path, tiny_model: torch.nn.Module, tmp_path: Path) -> None:
    out = tmp_path / "p.tif"
    _pred(tiny_model, overviews=True).predict(scene, out)
    assert is_cog(out)
    with rasterio.open(scene) as s, rasterio.open(out) as o:
        assert o.crs == s.crs and o.transform == s.transform and (o.width, o.height) == (s.width, s.height)
        assert o.count == 4 and set(o.dtypes) == {"uint8"}
        assert o.descriptions == ("class", "prob_background", "prob_field", "prob_boundary")
        assert json.loads(o.tags()["classes"]) == ["background", "field", "boundary"]
        assert o.scales == (1.0, 1 / 255, 1 / 255, 1 / 255)  # GIS tools show probabilities 0-1, not 0-254
    cls, probs, _ = read_probabilities(out)
    assert np.abs(probs.astype(int).sum(0) - 255).max() <= 2  # probabilities x255 sum to 1
    assert (cls == probs.argmax(0)).mean() > 0.99  # argmax of float probs; uint8 ties may differ
    assert not list(tmp_path.glob(".*"))  # no partial / progress / lock files left


def test_blending_of_constant_model_is_exact(scene: Path, tmp_path: Path) -> None:
    class Const(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = torch.zeros(x.shape[0], 3, *x.shape[-2:])  # (B, 3, H, W)
            out[:, 1] = 2.0
            return out

    _pred(Const()).predict(scene, tmp_path / "c.tif")
    cls, probs, _ = read_probabilities(tmp_path / "c.tif")
    expected = np.rint(255 * np.exp(2) / (np.exp(2) + 2))
    assert (cls == 1).all() and (probs[1] == expected).all()


def test_resize_and_tta_run_and_flip_tta_is_flip_invariant(scene: Path, tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = TinyNet(seed=3)
    spec = PreprocessConfig(resize=2.0)
    out = tmp_path / "r.tif"
    _pred(model, spec=spec, tta=["flip_h", "flip_v", "swap_windows"]).predict(scene, out)
    cls, probs, _ = read_probabilities(out)
    assert cls.shape == (200, 260) and probs.shape == (3, 200, 260)
    # with flip TTA, predicting the mirrored patch gives the mirrored probabilities
    p = _pred(model, tta=["flip_h"])
    x = torch.rand(2, 8, 64, 64)
    assert torch.allclose(p.patch_probabilities(x).flip(-1), p.patch_probabilities(x.flip(-1)), atol=1e-5)


def test_jit_optimisation_matches_eager(scene: Path, tiny_model: torch.nn.Module, tmp_path: Path) -> None:
    _pred(tiny_model).predict(scene, tmp_path / "e.tif")
    _pred(tiny_model, optimize="jit").predict(scene, tmp_path / "j.tif")
    _, pe, _ = read_probabilities(tmp_path / "e.tif")
    _, pj, _ = read_probabilities(tmp_path / "j.tif")
    assert np.abs(pe.astype(int) - pj.astype(int)).max() <= 1


def test_cog_declares_nodata_band_meaning_and_imagery_tags(tmp_path: Path, tiny_model: torch.nn.Module) -> None:
    from rasterio.enums import ColorInterp

    tags = {
        "WIN_A_ITEM": "S2A_A",
        "WIN_A_DATETIME": "2024-05-01T10:00:00Z",
        "WIN_B_ITEM": "S2B_B",
        "WIN_B_DATETIME": "2024-08-03T10:05:00Z",
        "PROCESSING_BASELINE": "05.10",
    }
    path = write_scene(tmp_path / "nd.tif", tags=tags)
    with rasterio.open(path, "r+") as ds:
        arr = ds.read()
        arr[:, :40, :50] = 0  # L2A nodata
        ds.write(arr)
    _pred(tiny_model).predict(path, tmp_path / "o.tif")
    with rasterio.open(tmp_path / "o.tif") as ds:
        assert ds.nodata == 255
        assert ds.colorinterp == (ColorInterp.gray,) + (ColorInterp.undefined,) * 3  # no RGB, no alpha
        assert ds.descriptions == ("class", "prob_background", "prob_field", "prob_boundary")
        for band in range(1, 5):  # GDAL's masks follow NoData, not a probability band read as alpha
            valid = ds.read_masks(band) > 0
            assert not valid[:40, :50].any() and valid.mean() == pytest.approx(1 - 40 * 50 / valid.size)
        assert {k: ds.tags()[k] for k in tags} == tags


def test_nodata_pixels_are_masked(tmp_path: Path, tiny_model: torch.nn.Module, caplog) -> None:
    path = write_scene(tmp_path / "nd.tif")
    with rasterio.open(path, "r+") as ds:
        arr = ds.read()
        arr[:, :40, :50] = 0  # L2A nodata: 0 in every band
        ds.write(arr)
    with caplog.at_level("WARNING", logger="agriseg"):
        _pred(tiny_model).predict(path, tmp_path / "o.tif")
    cls, probs, _ = read_probabilities(tmp_path / "o.tif")
    assert (cls[:40, :50] == 255).all() and (probs[:, :40, :50] == 255).all()  # NoData in every band
    assert (cls[40:, 50:] != 255).all() and "all nodata" not in caplog.text
    with rasterio.open(path, "r+") as ds:  # a scene of nodata only: made, and said (it was silent, exit 0)
        ds.write(np.zeros_like(arr))
    with caplog.at_level("WARNING", logger="agriseg"):
        _pred(tiny_model).predict(path, tmp_path / "o2.tif")
    assert "nd.tif: every pixel is nodata or NaN" in caplog.text


def test_nan_pixels_raise_clear_error_or_are_masked(tmp_path: Path, tiny_model: torch.nn.Module) -> None:
    path = write_scene(tmp_path / "f.tif", dtype="float32")
    with rasterio.open(path, "r+") as ds:
        arr = ds.read()
        arr[:, 10:20, 10:20] = np.nan
        ds.write(arr)
    with pytest.raises(ValueError, match=r"f\.tif: 100 NaN pixels in rows 10-19; .*--nan mask"):  # not the strip's
        _pred(tiny_model).predict(path, tmp_path / "o.tif")
    assert not (tmp_path / "o.tif").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.tif"]  # no work file of a scene that did no row
    _pred(tiny_model, nan="mask").predict(path, tmp_path / "o2.tif", overwrite=True)
    cls, _, _ = read_probabilities(tmp_path / "o2.tif")
    assert (cls[10:20, 10:20] == 255).all() and (cls[30:] != 255).all()


def test_wrong_band_count_missing_crs_truncated_missing_file(tmp_path: Path, tiny_model: torch.nn.Module) -> None:
    p4 = write_scene(tmp_path / "four.tif", bands=4)
    with pytest.raises(ValueError, match=r"four\.tif: has 4 bands, the model needs 8"):
        _pred(tiny_model).predict(p4, tmp_path / "o.tif")
    nocrs = write_scene(tmp_path / "nocrs.tif", crs=None)
    with pytest.raises(ValueError, match=r"nocrs\.tif: has no CRS"):
        _pred(tiny_model).predict(nocrs, tmp_path / "o.tif")
    full = write_scene(tmp_path / "full.tif", tiled=False)
    data = full.read_bytes()
    trunc = tmp_path / "trunc.tif"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"trunc\.tif: .*truncated or corrupt") as err:
        _pred(tiny_model).predict(trunc, tmp_path / "o.tif")
    assert "See previous exception" not in str(err.value)  # GDAL's own reason instead (session 83)
    trunc.write_bytes(data[:300])  # cut after its header: its georeferencing tags lost too (session 90's sweep)
    with pytest.raises(ValueError, match=r"trunc\.tif: .*truncated or corrupt"):
        _pred(tiny_model).predict(trunc, tmp_path / "o.tif")
    from click.testing import CliRunner

    from agriseg.cli import main

    res = CliRunner().invoke(main, ["fields", "polygonize", str(trunc), "-o", str(tmp_path / "f.geojson")])
    assert res.exit_code == 1 and "truncated or corrupt" in res.output and "no CRS" not in res.output, res.output
    with pytest.raises(FileNotFoundError, match=r"absent\.tif: scene file not found"):
        _pred(tiny_model).predict(tmp_path / "absent.tif", tmp_path / "o.tif")
    assert not (tmp_path / "o.tif").exists()


def test_sentinel2_offset_from_tags(tmp_path: Path) -> None:
    spec = PreprocessConfig()
    new = open_scene(write_scene(tmp_path / "n.tif", tags={"PROCESSING_BASELINE": "05.09"}))
    old = open_scene(write_scene(tmp_path / "o.tif", tags={"PROCESSING_BASELINE": "03.01"}))
    explicit = open_scene(write_scene(tmp_path / "e.tif", tags={"BOA_ADD_OFFSET_B04": "-1000"}))
    assert scene_offset(new, spec) == -1000 and scene_offset(old, spec) == 0
    assert scene_offset(explicit, spec) == -1000
    assert scene_offset(new, PreprocessConfig(offset="none")) == 0
    assert scene_offset(old, PreprocessConfig(offset="apply")) == -1000


def test_existing_output_is_kept_unless_overwrite(scene: Path, tiny_model: torch.nn.Module, tmp_path: Path) -> None:
    out = tmp_path / "k.tif"
    assert _pred(tiny_model).predict(scene, out).status == "ok"
    assert _pred(tiny_model).predict(scene, out).status == "skipped"
    assert _pred(tiny_model).predict(scene, out, overwrite=True).status == "ok"
    other = torch.nn.Conv2d(8, 3, 1)  # another model (a notebook cell re-run after retraining): said, not skipped
    assert _pred(other).predict(scene, out).status == "kept"


KILL_SCRIPT = """
import os, signal, sys, torch
from torch import nn
from agriseg.fields import ScenePredictor, PredictConfig, PreprocessConfig
{tinynet}
def kill(i):
    if i == 1:
        os.kill(os.getpid(), signal.SIGKILL)
cfg = PredictConfig(patch_size=64, overlap=0.25, batch_size=4, progress=False, overviews=False)
p = ScenePredictor(TinyNet(), 3, PreprocessConfig(), cfg)
p.predict(sys.argv[1], sys.argv[2], on_block=kill)
"""


def test_resume_after_sigkill_gives_identical_output(scene: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed.tif"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT).format(tinynet=inspect.getsource(TinyNet)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script), str(scene), str(out)], env=env, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    partial, progress = partial_paths(out)
    assert not out.exists() and partial.exists()  # half-written output never has the final name
    state = json.loads(progress.read_text())
    assert state["next_row"] == 2 and state["rows_done"] == 96  # rows above patch row 2 are on disk
    with rasterio.open(partial) as ds:
        assert ds.read(1, window=((0, 96), (0, 260))).any() and not ds.read(1, window=((96, 200), (0, 260))).any()
    res = ScenePredictor(TinyNet(), 3, PreprocessConfig(), PredictConfig(**FAST)).predict(scene, out)
    assert res.status == "resumed" and res.blocks_resumed == 2 and res.blocks == 4
    ref = tmp_path / "ref.tif"
    _pred(TinyNet()).predict(scene, ref)
    with rasterio.open(out) as a, rasterio.open(ref) as b:
        assert np.array_equal(a.read(), b.read())
    assert not partial.exists() and not progress.exists()


def test_outputs_and_work_of_the_earlier_fingerprint_are_this_runs(scene: Path, tmp_path: Path) -> None:
    """The fingerprint left the batch size out (session 76): COGs and interrupted runs made before are kept and
    resumed, not predicted again."""
    from agriseg.raster.io import open_scene

    p = _pred(TinyNet())
    out = tmp_path / "x.tif"
    assert p.predict(scene, out).status == "ok"
    now, legacy = p.fingerprints(open_scene(scene))
    assert legacy != now
    with rasterio.open(out, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        assert ds.tags()["agriseg_run"] == now
        ds.update_tags(agriseg_run=legacy)  # as an earlier release wrote it
    assert p.predict(scene, out).status == "skipped"
    assert p.predict(scene, out, overwrite=True, keep_current=True).status == "resumed"
    with rasterio.open(out, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        ds.update_tags(agriseg_run="another run")
    assert p.predict(scene, out).status == "kept"


def test_resume_ignores_progress_of_other_settings(scene: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.tif"
    partial, progress = partial_paths(out)
    partial.write_bytes(b"junk")
    progress.write_text(json.dumps({"fingerprint": "other", "rows_done": 96, "next_row": 2}))
    res = _pred(TinyNet()).predict(scene, out)
    assert res.status == "ok" and res.blocks_resumed == 0
    ref = tmp_path / "ref.tif"
    _pred(TinyNet()).predict(scene, ref, overwrite=True)
    with rasterio.open(out) as a, rasterio.open(ref) as b:
        assert np.array_equal(a.read(), b.read())


def test_work_files_left_by_a_kill_after_the_rename_are_removed(scene: Path, tmp_path: Path) -> None:
    """A run killed after its output took its name, before it removed its lock and work files, left them for
    good: every later run skipped the scene and kept them (session 69's sweep)."""
    from agriseg.fields.predict import _lock_path

    out = tmp_path / "x.tif"
    _pred(TinyNet()).predict(scene, out)
    partial, progress = partial_paths(out)
    partial.write_bytes(b"work")
    progress.write_text("{}")
    _lock_path(out).write_text("")
    assert _pred(TinyNet()).predict(scene, out).status == "skipped"
    assert not partial.exists() and not progress.exists() and not _lock_path(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".x")) == []


@pytest.mark.shared
def test_real_scene_streamed_equals_in_memory(shared_dir: Path, tmp_path: Path) -> None:
    scene = shared_dir / "data" / "sentinel2" / "austria-inn-2window.tif"
    p = _pred(TinyNet(seed=5), patch_size=128)
    a = p.predict(scene, tmp_path / "a.tif")
    assert a.blocks == 4 and abs(a.area_km2 - 21.9062) < 1e-3
    ca, pa, prof = read_probabilities(tmp_path / "a.tif")
    cr, pr = _reference(p, scene)
    assert np.array_equal(ca, cr) and np.array_equal(pa, pr)
    assert prof["crs"].to_epsg() == 32633 and (prof["width"], prof["height"]) == (578, 379)


def test_damaged_partial_of_a_killed_run_is_predicted_again(scene: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed.tif"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT).format(tinynet=inspect.getsource(TinyNet)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script), str(scene), str(out)], env=env, capture_output=True)
    assert proc.returncode == -9
    partial, progress = partial_paths(out)
    data = partial.read_bytes()
    partial.write_bytes(data[: len(data) // 3])  # truncated, as a full disk or a copy cut short leaves it
    stale = tmp_path / f".{out.name}.agriseg-tmp-999999.tif.ovr.tmp"  # GDAL's overview file of a killed COG write
    stale.write_bytes(b"x")
    for overwrite in (False, True):
        res = ScenePredictor(TinyNet(), 3, PreprocessConfig(), PredictConfig(**FAST)).predict(scene, out, overwrite)
        assert res.status == "ok" and res.blocks_resumed == 0
    ref = tmp_path / "ref.tif"
    _pred(TinyNet()).predict(scene, ref)
    with rasterio.open(out) as a, rasterio.open(ref) as b:
        assert np.array_equal(a.read(), b.read())
    assert not stale.exists() and not partial.exists()


def test_output_that_is_the_input_is_refused(scene: Path, tmp_path: Path) -> None:
    before = scene.read_bytes()
    link = tmp_path / "link.tif"
    link.symlink_to(scene)
    for target in (scene, link):
        with pytest.raises(ValueError, match="is one of the inputs"):
            _pred(TinyNet()).predict(scene, target, overwrite=True)
    assert scene.read_bytes() == before


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the test writes a plain raster
@pytest.mark.parametrize(
    ("dtype", "value", "message"),
    [
        ("float32", 0.2, "values look like 0-1 reflectance"),
        ("uint8", 200, "8-bit values (0-255), not Sentinel-2 L2A digital numbers"),  # a quick-look
    ],
)
def test_reflectance_or_8_bit_scene_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, dtype: str, value: float, message: str
) -> None:
    from agriseg.fields.predict import warn_if_reflectance

    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=8, dtype=dtype) as ds:
        ds.write(np.full((8, 8, 8), value, dtype))
    with caplog.at_level("WARNING", logger="agriseg"):
        warn_if_reflectance(path)
    assert f"scene.tif: {message}" in caplog.text


def test_a_scene_with_the_baseline_offset_left_in_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The real scene with +1000 on every value and no tag (a cut or a conversion drops them) was predicted
    without a word, every pixel 0.1 reflectance too bright for the model (session 71)."""
    from agriseg.fields.predict import warn_if_reflectance

    dark = np.random.default_rng(0).integers(50, 3000, (8, 16, 16)).astype(np.uint16)  # (C, H, W)
    for name, values in (("plain.tif", dark), ("offset.tif", dark + 1000)):
        geo = {"crs": "EPSG:32633", "transform": rasterio.transform.from_origin(500000, 5300000, 10, 10)}
        with rasterio.open(tmp_path / name, "w", driver="GTiff", width=16, height=16, count=8, dtype="uint16",
                           **geo) as ds:  # fmt: skip
            ds.write(values)
    with caplog.at_level("WARNING", logger="agriseg"):
        warn_if_reflectance(tmp_path / "plain.tif")
        assert not caplog.text
        warn_if_reflectance(tmp_path / "offset.tif", offset=-1000.0)  # the tag's offset is applied: nothing to say
        assert not caplog.text
        warn_if_reflectance(tmp_path / "offset.tif")
    assert "offset.tif: no pixel of bands 1-3 is darker than 1000" in caplog.text
    assert "give --offset apply" in caplog.text


def _scene(
    path: Path, values: np.ndarray, tags: dict | None = None, res: tuple[float, float] = (10, 10), crs: str = ""
) -> Path:
    origin = (11.0, 48.0) if crs == "EPSG:4326" else (500000, 5300000)
    geo = {"crs": crs or "EPSG:32633", "transform": rasterio.transform.from_origin(*origin, *res)}
    c, h, w = values.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=c, dtype=values.dtype, **geo) as ds:
        ds.write(values)
        ds.update_tags(**(tags or {}))
    return path


def test_offsets_left_in_or_applied_twice_and_odd_pixels_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Session 71's sweep: the +1000 left in a float32 or int16 scene went unsaid (only uint16 was checked), a
    harmonised scene whose baseline tag was copied lost two thirds of its visible pixels to 0 without a word, a
    60 m scene ran as if it were 10 m, and a tag BOA_ADD_OFFSET='n/a' failed as "could not convert string"."""
    from agriseg.fields.config import PreprocessConfig
    from agriseg.fields.predict import scene_offset, warn_if_reflectance
    from agriseg.raster.io import open_scene

    dark = np.random.default_rng(0).integers(50, 3000, (8, 16, 16))  # (C, H, W) digital numbers
    cases = {
        "f32.tif": ((dark + 1000).astype(np.float32), {}, (10, 10), "seems left in"),
        "i16.tif": ((dark + 1000).astype(np.int16), {}, (10, 10), "seems left in"),
        "harmonised.tif": (dark.astype(np.uint16), {"PROCESSING_BASELINE": "05.10"}, (10, 10), "harmonised already"),
        "s60.tif": (dark.astype(np.uint16), {}, (60, 60), "pixels of about 60 m of ground"),
        "tall.tif": (dark.astype(np.uint16), {}, (9, 11), "pixels are not square (9 x 11"),
        "plain.tif": (dark.astype(np.uint16), {"PROCESSING_BASELINE": "03.01"}, (10, 10), ""),
    }
    # square in degrees at 48 degrees north: 9.2 m across, 13.8 m down (session 73's sweep: no warning)
    cases["degrees.tif"] = (dark.astype(np.uint16), {}, (0.000124, 0.000124), "pixels are not square (9.25 x 13.8 m")
    for name, (values, tags, res, said) in cases.items():
        path = _scene(tmp_path / name, values, tags, res, "EPSG:4326" if name == "degrees.tif" else "")
        info = open_scene(path, bands=8)
        caplog.clear()
        with caplog.at_level("WARNING", logger="agriseg"):
            warn_if_reflectance(path, scene_offset(info, PreprocessConfig()), info)
        assert (said in caplog.text) if said else not caplog.text, (name, caplog.text)
    cloudy = np.random.default_rng(1).integers(50, 3000, (3, 1200, 1200)).astype(np.uint16)
    cloudy[:, 300:900, 300:900] = 6000  # a cloud over the centre (the one place sampled before): no offset to see
    cloudy = np.concatenate([cloudy, cloudy + 0, cloudy[:2]])  # (8, H, W)
    path = _scene(tmp_path / "cloudy.tif", cloudy)
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        warn_if_reflectance(path, 0.0, open_scene(path, bands=8))
    assert not caplog.text, caplog.text
    overcast = np.random.default_rng(2).integers(4500, 9000, (8, 64, 64)).astype(np.uint16)  # cloud everywhere
    path = _scene(tmp_path / "overcast.tif", overcast)
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        warn_if_reflectance(path, 0.0, open_scene(path, bands=8))
    assert "overcast.tif: no pixel of bands 1-3 is darker than 4000" in caplog.text, caplog.text
    assert "cloud or snow" in caplog.text and "seems left in" not in caplog.text  # not the offset first
    bad = open_scene(_scene(tmp_path / "bad.tif", dark.astype(np.uint16), {"BOA_ADD_OFFSET": "n/a"}), bands=8)
    with pytest.raises(ValueError, match=r"bad.tif: its tag BOA_ADD_OFFSET='n/a' is not a number"):
        scene_offset(bad, PreprocessConfig())


def test_an_output_an_interrupted_overwrite_left_is_predicted_again(tmp_path: Path, monkeypatch) -> None:
    """After --overwrite with another model was interrupted, a plain re-run reported the old model's output as
    predicted (and recorded it with the new model's fingerprint): the runner remade the item, the predictor kept
    the existing file."""
    from click.testing import CliRunner

    from agriseg.cli import main
    from tests.fields.synth_scenes import write_tiny_model

    scene = write_scene(tmp_path / "s.tif", 64, 64)
    m1 = write_tiny_model(tmp_path / "m1.safetensors")
    m2 = write_tiny_model(tmp_path / "m2.safetensors", field_bias=True)
    run = ["fields", "predict", str(scene), "--tile", "32", "--batch-size", "1", "-o"]
    assert CliRunner().invoke(main, [*run, str(tmp_path / "ref" / "p.tif"), "-m", str(m2)]).exit_code == 0
    out = tmp_path / "out" / "p.tif"
    assert CliRunner().invoke(main, [*run, str(out), "-m", str(m1)]).exit_code == 0
    before = out.read_bytes()

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(ScenePredictor, "predict", interrupted)
        res = CliRunner().invoke(main, [*run, str(out), "-m", str(m2), "--overwrite"])
    assert res.exit_code != 0 and out.read_bytes() == before  # interrupted: the old output is still there
    res = CliRunner().invoke(main, [*run, str(out), "-m", str(m2)])
    assert res.exit_code == 0 and "1 predicted" in res.output, res.output
    assert np.array_equal(read_probabilities(out)[0], read_probabilities(tmp_path / "ref" / "p.tif")[0])


def test_keep_current_keeps_only_an_output_of_the_same_run(
    scene: Path, tiny_model: torch.nn.Module, tmp_path: Path
) -> None:
    """``keep_current`` (a batch remaking an unfinished item) keeps a COG this predictor made from this scene with
    these settings, and predicts again over one of another model or setting, or of a scene since changed."""
    out = tmp_path / "p.tif"
    p = _pred(tiny_model)
    assert p.predict(scene, out).status == "ok"
    stamp = out.stat().st_mtime_ns
    res = p.predict(scene, out, overwrite=True, keep_current=True)
    assert res.status == "resumed" and res.blocks == res.blocks_resumed > 0 and out.stat().st_mtime_ns == stamp
    assert _pred(tiny_model).predict(scene, out, overwrite=True, keep_current=True).status == "resumed"  # a new run
    # options that never change outputs (README): a run with another batch size keeps it (was made again)
    assert _pred(tiny_model, batch_size=1).predict(scene, out, overwrite=True, keep_current=True).status == "resumed"
    assert p.predict(scene, out, overwrite=True).status == "ok"  # without keep_current: made again
    other = _pred(tiny_model, overlap=0.5)
    assert other.predict(scene, out, overwrite=True, keep_current=True).status == "ok"  # other settings
    assert p.predict(scene, out, overwrite=True, keep_current=True).status == "ok"  # ... so not p's
    os.utime(scene, ns=(scene.stat().st_atime_ns, scene.stat().st_mtime_ns + 10**9))  # the scene changed
    assert p.predict(scene, out, overwrite=True, keep_current=True).status == "ok"
    data = out.read_bytes()  # the same run's file, cut short since: predicted again
    out.write_bytes(data[: len(data) * 2 // 3])
    assert p.predict(scene, out, overwrite=True, keep_current=True).status == "ok"
    assert p.predict(scene, out, overwrite=True, keep_current=True).status == "resumed"


def test_a_library_rerun_with_another_model_warns_that_the_output_is_kept(
    scene: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Re-running a notebook cell after changing the model returned 'skipped' and the old probabilities silently;
    a plain dict as config failed with AttributeError."""
    out = tmp_path / "p.tif"
    first = ScenePredictor(TinyNet(), 3, {}, {**FAST})
    assert first.predict(scene, out).status == "ok"
    with caplog.at_level("WARNING", logger="agriseg"):
        assert first.predict(scene, out).status == "skipped"
    assert "was not made" not in caplog.text  # the same model and settings: no warning
    other = TinyNet()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.5)
    with caplog.at_level("WARNING", logger="agriseg"):
        assert ScenePredictor(other, 3, {}, {**FAST}).predict(scene, out).status == "kept"  # not a plain skip
    assert "p.tif: exists and was not made from scene.tif with this model" in caplog.text
    with pytest.raises(ValueError, match="patch_size"):
        ScenePredictor(TinyNet(), 3, {}, {"patch_size": "big"})


def test_a_rotated_geographic_grid_of_square_pixels_is_not_called_not_square(caplog) -> None:
    """A lon / lat grid turned 45 degrees whose pixels are 13 x 13 m of ground was "not square (11.1 x 16.5 m)"
    (session 73's review): the steps of a column and a row are measured as they lie."""
    import math

    from affine import Affine

    from agriseg.raster.io import ground_sides_m

    lat = 48.0
    k = 13 / 111_200  # degrees of latitude in 13 m
    east = k / math.cos(math.radians(lat))  # degrees of longitude in 13 m
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    t = Affine(east * c, -east * s, 11.0, k * s, -k * c, lat)  # (a, b, c, d, e, f): turned 45 degrees
    across, down = ground_sides_m("EPSG:4326", t)
    assert abs(across - down) < 0.2 and 12.5 < across < 13.5


def test_a_scenes_own_mask_is_nodata(scene: Path, tmp_path: Path) -> None:
    """A scene with a GDAL mask (internal, or a .msk file: what QGIS shows as no data) was predicted there as
    land: only a nodata value counted (session 83's sweep of users' rasters)."""
    with rasterio.open(scene) as src:
        values, profile = src.read(), src.profile
    masked = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(masked, "w", **profile) as dst:
        dst.write(values)
        mask = np.full(values.shape[1:], 255, np.uint8)
        mask[:40, :50] = 0
        dst.write_mask(mask)
    out = tmp_path / "masked_probs.tif"
    _pred(TinyNet()).predict(masked, out)
    with rasterio.open(out) as ds:
        classes = ds.read(1)
    assert (classes[:40, :50] == 255).all() and (classes[40:] != 255).all()


def test_reading_a_class_raster_as_probabilities_is_refused(tmp_path: Path) -> None:
    """Session 87's API sweep: a 1-band class raster gave probabilities of shape (0, H, W)."""
    path = tmp_path / "classes.tif"
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 1, "dtype": "uint8", "crs": "EPSG:32633"}
    profile["transform"] = rasterio.transform.from_origin(500000, 5000000, 10, 10)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="classes.tif: has 1 band; a probability raster holds the class map"):
        read_probabilities(path)


def test_an_interrupted_scene_closes_its_progress_bar(scene: Path, tiny_model: torch.nn.Module, tmp_path: Path) -> None:
    """Session 87's sweep: Ctrl-C in `fields predict` left the scene's bar open; tqdm drew it once more at exit,
    after the command's "interrupted" line."""
    from tqdm import tqdm

    def stop(i: int) -> None:
        if i == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stopped:  # its traceback (holding the frames) kept, as the CLI's is
        _pred(tiny_model, progress=True).predict(scene, tmp_path / "i.tif", on_block=stop)
    assert stopped.tb is not None and not [b for b in list(tqdm._instances) if not b.disable]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("cin", "k", "says"), [(8, 2, "the model returns 2 classes, num_classes is 3"),
                                                (4, 3, "the model does not take the 8 input channels")])  # fmt: skip
def test_a_model_that_does_not_fit_the_scene_or_its_classes_is_named(
    tmp_path: Path, cin: int, k: int, says: str
) -> None:
    """Session 90's API sweep: a model of other classes failed with numpy's broadcast error, one of other input
    channels with torch's convolution error."""
    scene = write_scene(tmp_path / "s.tif", h=64, w=64)
    model = torch.nn.Conv2d(cin, k, 3, padding=1)
    cfg = PredictConfig(patch_size=64, progress=False, optimize="none")
    with pytest.raises(ValueError, match=says):
        ScenePredictor(model, num_classes=3, config=cfg).predict(scene, tmp_path / "o.tif")


def test_read_probabilities_of_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    """Session 90's API sweep: a missing file raised rasterio's RasterioIOError, not FileNotFoundError."""
    with pytest.raises(FileNotFoundError, match="nope.tif: probability raster not found"):
        read_probabilities(tmp_path / "nope.tif")
    (tmp_path / "notes.tif").write_text("not a raster")
    with pytest.raises(ValueError, match="notes.tif: not a readable raster"):
        read_probabilities(tmp_path / "notes.tif")


def test_class_names_of_another_length_are_said_dropped(caplog: pytest.LogCaptureFixture) -> None:
    """Session 90's API sweep: two class names for a 3-class model were dropped without a word."""
    with caplog.at_level("WARNING", logger="agriseg"):
        ScenePredictor(TinyNet(), num_classes=3, class_names=("a", "b"))
    assert "class_names a,b: 2 names for 3 classes" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        ScenePredictor(TinyNet(), num_classes=2)  # the default names of a 2-class model: nothing to say
    assert "class_names" not in caplog.text


def test_read_probabilities_leaves_remote_paths_to_gdal(tmp_path: Path) -> None:
    """Session 90's review: the missing-file check refused GDAL's own paths (URLs, /vsizip/) as not found."""
    with pytest.raises(ValueError, match="not a readable raster|truncated or corrupt"):
        read_probabilities(f"/vsizip/{tmp_path / 'none.zip'}/p.tif")


def test_read_probabilities_refuses_a_raster_fields_predict_did_not_write(scene: Path) -> None:
    """An 8-band Sentinel-2 scene came back as a class map of values up to 2,998 and 7 "probability" bands of
    uint16, against the documented (H, W) / (K, H, W) uint8 (session 96's API sweep)."""
    with pytest.raises(ValueError, match=r"not a probability raster of agriseg fields predict"):
        read_probabilities(scene)


def test_read_probabilities_of_a_photo_warns_of_no_georeference(tmp_path: Path) -> None:
    """A photo given by mistake printed rasterio's NotGeoreferencedWarning before the error (session 101's sweep)."""
    import warnings

    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        with pytest.raises(ValueError, match=r"photo\.png: not a probability raster of agriseg fields predict"):
            read_probabilities(tmp_path / "photo.png")


def test_a_notebooks_mistakes_are_said_before_any_scene_is_read(tmp_path: Path, monkeypatch) -> None:
    """Session 99's API sweep: num_classes "3" and device "cuda" without a GPU failed deep inside the first scene;
    a folder as the output was "kept" unsaid, and "x.png" got a GeoTIFF; a misspelt config key was said only after
    the model was downloaded."""
    from agriseg.config import OptionError
    from agriseg.fields.predict import load_scene_predictor

    with pytest.raises(TypeError, match="num_classes is the number of the model's output classes.*'3'"):
        ScenePredictor(TinyNet(), "3")  # type: ignore[arg-type]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(OptionError, match="device"):
        ScenePredictor(TinyNet(), 3, PreprocessConfig(), {"device": "cuda"})
    scene = write_scene(tmp_path / "scene.tif", h=64, w=64)
    (tmp_path / "out").mkdir()
    for output, said in ((tmp_path / "out", "a folder; output is the GeoTIFF"), (tmp_path / "x.png", "give a .tif")):
        with pytest.raises(OptionError, match=said):
            _pred(TinyNet()).predict(scene, output)
    assert not (tmp_path / "x.png").exists()

    def no_download(*a: object, **k: object) -> None:
        raise AssertionError("the model was fetched before its settings were checked")

    monkeypatch.setattr("agriseg.fields.registry.resolve_model", no_download)
    with pytest.raises(ValueError, match="overlapp"):
        load_scene_predictor("FTW_PRUE_EFNET_B5", {"overlapp": 0.25})
    # resize out of range: pydantic's dump of PreprocessConfig, after the download (session 101's sweep)
    with pytest.raises(ValueError, match=r"^resize: Input should be less than or equal to 4 \(got 10\)$"):
        load_scene_predictor("FTW_PRUE_EFNET_B5", resize=10)


def test_a_predictor_shows_in_one_line() -> None:
    """Its repr printed the torch module's layers (a notebook cell of hundreds of lines)."""
    said = repr(ScenePredictor(TinyNet(), 3, PreprocessConfig(), PredictConfig(**FAST)))
    assert said.startswith("ScenePredictor(model=TinyNet, num_classes=3, ") and "\n" not in said, said


def test_sheared_pixels_are_warned_of_and_turned_ones_are_not(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A sheared geotransform (parallelogram pixels) ran without a word, though its pixels are no Sentinel-2
    grid's (session 102's sweep); a grid only turned is read as it is."""
    import math

    from affine import Affine

    from agriseg.fields.predict import _warn_pixel_size
    from agriseg.raster.io import open_scene

    turn = math.radians(30)
    grids = {
        "sheared.tif": Affine(10, 2, 500000, 1, -10, 5300000),
        "turned.tif": Affine(
            10 * math.cos(turn), 10 * math.sin(turn), 500000, 10 * math.sin(turn), -10 * math.cos(turn), 5300000
        ),  # fmt: skip
    }
    for name, transform in grids.items():
        with rasterio.open(tmp_path / name, "w", driver="GTiff", width=16, height=16, count=8, dtype="uint16",
                           crs="EPSG:32633", transform=transform) as dst:  # fmt: skip
            dst.write(np.full((8, 16, 16), 800, np.uint16))
        caplog.clear()
        with caplog.at_level("WARNING", logger="agriseg"):
            _warn_pixel_size(tmp_path / name, open_scene(tmp_path / name, bands=8))
        assert ("sheared pixels (their sides meet at" in caplog.text) == (name == "sheared.tif"), (name, caplog.text)
