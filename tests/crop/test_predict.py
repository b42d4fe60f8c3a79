import csv
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from agriseg.batch import BatchOptions
from agriseg.crop.predict import predict_files
from agriseg.crop.predictor import Predictor
from agriseg.models import build_model
from agriseg.models.config import ModelConfig


@pytest.fixture(scope="module")
def tiny_predictor():
    model = build_model(encoder_weights=None)
    return Predictor(model, 2, long_side=96, tile=64, batch_size=2)


def test_predict_any_size_and_mode(tiny_predictor):
    for shape in [(50, 70, 3), (300, 41, 3)]:
        mask = tiny_predictor.predict(np.random.randint(0, 255, shape, np.uint8))
        assert mask.shape == shape[:2] and mask.dtype == np.uint8


def test_large_image_is_tiled_and_blended(tiny_predictor):
    big = Predictor(tiny_predictor.model, 2, long_side=0, tile=64, batch_size=4)
    probs = big.probabilities([np.random.randint(0, 255, (150, 200, 3), np.uint8)])[0]
    assert probs.shape == (2, 150, 200)
    assert np.allclose(probs.sum(0), 1, atol=1e-4)


def test_predict_files_outputs_summary_and_goes_on_past_bad_files(tiny_predictor, samples_dir, tmp_path):
    files = sorted((samples_dir / "peanut" / "images").glob("*.jpg"))[:2]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(files[0].read_bytes()[:300])
    gray = tmp_path / "gray16.png"
    Image.fromarray(np.full((40, 60), 30000, np.uint16)).save(gray)
    out = tmp_path / "out"
    rows = predict_files(tiny_predictor, [*files, bad, gray], out, batch=BatchOptions(progress=False))
    status = {r["file"]: r["status"] for r in rows}
    assert status[str(bad)] == "error" and sum(s == "ok" for s in status.values()) == 3
    for f in files:
        m = np.asarray(Image.open(out / f"{f.stem}_mask.png"))
        assert m.shape == (720, 960) and set(np.unique(m)) <= {0, 255}
        assert (out / f"{f.stem}_overlay.jpg").is_file()
    with open(out / "summary.csv") as fh:
        summary = list(csv.DictReader(fh))
    assert len(summary) == 4 and "broken.jpg" in next(r["error"] for r in summary if r["status"] == "error")
    ok = [r for r in summary if r["status"] == "ok"]
    assert all(0 <= float(r["vegetation_fraction"]) <= 1 for r in ok)
    # re-running keeps existing outputs (resume) unless overwrite
    again = predict_files(tiny_predictor, files, out, batch=BatchOptions(progress=False))
    assert [r["status"] for r in again] == ["skipped", "skipped"]
    with open(out / "summary.csv") as fh:  # the table says so too, as every command's does
        assert [r["status"] for r in csv.DictReader(fh)] == ["skipped", "skipped"]
    assert not list(out.glob(".*tmp*"))


def test_strict_stops_at_bad_file(tiny_predictor, tmp_path):
    bad = tmp_path / "x.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="x.png"):
        predict_files(tiny_predictor, [bad], tmp_path / "o", batch=BatchOptions(strict=True, progress=False))


def test_same_stem_in_two_folders_gets_two_outputs(tiny_predictor, samples_dir, tmp_path):
    src = sorted((samples_dir / "peanut" / "images").glob("*.jpg"))[0]
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(src, tmp_path / d / "img.jpg")
    predict_files(
        tiny_predictor,
        [tmp_path / "a" / "img.jpg", tmp_path / "b" / "img.jpg"],
        tmp_path / "o",
        write_overlay=False,
        batch=BatchOptions(progress=False),
    )
    assert (tmp_path / "o" / "a_img_jpg_mask.png").is_file() and (tmp_path / "o" / "b_img_jpg_mask.png").is_file()


def test_file_mode_without_proc_follows_the_umask(tmp_path, monkeypatch):
    """Where there is no /proc (macOS) saved models were 0644 whatever the umask (077 or 002)."""
    import os
    from pathlib import Path

    from agriseg.models import io

    real = Path.read_text

    def no_proc(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        if str(self).startswith("/proc/"):
            raise FileNotFoundError(self)
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", no_proc)
    old = os.umask(0o077)
    try:
        assert io._default_file_mode(tmp_path) == 0o600
        os.umask(0o002)
        assert io._default_file_mode(tmp_path) == 0o664
    finally:
        os.umask(old)
    assert not list(tmp_path.iterdir())  # the probe is gone


def test_model_config_roundtrip(tmp_path):
    from agriseg.models.io import ModelLoadError, _default_file_mode, load_model, save_model

    cfg = ModelConfig(encoder_weights=None, upsampler="dysample")
    model = build_model(cfg)
    path = save_model(model, cfg, tmp_path / "m.safetensors")
    assert path.stat().st_mode & 0o777 == _default_file_mode(tmp_path)  # the umask's mode, not safetensors' 0600
    loaded, cfg2 = load_model(path)
    assert cfg2.upsampler == "dysample"
    x = np.random.randint(0, 255, (64, 64, 3), np.uint8)
    a = Predictor(model.eval(), 2, long_side=0).probabilities([x])[0]
    b = Predictor(loaded, 2, long_side=0).probabilities([x])[0]
    assert np.abs(a - b).max() < 0.05  # fp16 storage
    with pytest.raises(ModelLoadError, match="m.safetensors: model takes 3 input channels, the data has 8"):
        load_model(path, in_channels=8)
    with pytest.raises(ModelLoadError, match="predicts 2 classes, expected 3"):
        load_model(path, num_classes=3)
    bands = ModelConfig(encoder_weights=None, in_channels=8, mean=[0.5] * 8, std=[0.25] * 8)  # a field model: said
    field_model = save_model(build_model(bands), bands, tmp_path / "f.safetensors")
    with pytest.raises(
        ModelLoadError, match="the data has 3; a field-boundary model .*for the agriseg fields commands"
    ):
        load_model(field_model, in_channels=3)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 50)
    with pytest.raises(ModelLoadError, match="junk.safetensors"):
        load_model(junk)


def test_flip_tta_is_flip_equivariant(tiny_predictor):
    from agriseg.crop.predictor import Predictor

    tta = Predictor(tiny_predictor.model, 2, long_side=0, tta="flip")
    img = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    p = tta.probabilities([img])[0]
    q = tta.probabilities([np.flip(img, 1).copy()])[0]
    # TTA over {identity, vflip, hflip} of a flipped photo = flipped TTA result up to the vflip+hflip term
    assert p.shape == (2, 48, 64) and np.allclose(p.sum(0), 1, atol=1e-5)
    plain = Predictor(tiny_predictor.model, 2, long_side=0)
    ref = (
        plain.probabilities([img])[0]
        + np.flip(plain.probabilities([np.flip(img, 0).copy()])[0], 1)
        + np.flip(plain.probabilities([np.flip(img, 1).copy()])[0], 2)
    ) / 3
    assert np.allclose(p, ref, atol=1e-5)
    assert q.shape == p.shape


def test_channels_last_gives_the_same_probabilities():
    import torch

    torch.manual_seed(0)
    model = build_model(ModelConfig(encoder_weights=None))
    img = np.random.default_rng(0).integers(0, 255, (90, 130, 3), dtype=np.uint8)
    a = Predictor(model, 2, long_side=0, channels_last=False).probabilities([img])[0]
    b = Predictor(model, 2, long_side=0, channels_last=True).probabilities([img])[0]
    assert a.shape == b.shape == (2, 90, 130)
    assert np.allclose(a, b, atol=1e-4)


def test_multiclass_summary_has_a_fraction_per_class(tmp_path):
    model = build_model(encoder_weights=None, num_classes=3)
    pred = Predictor(model, 3, long_side=64, batch_size=1)
    img = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), np.uint8)).save(img)
    predict_files(
        pred, [img], tmp_path / "o", class_names=["background", "crop", "weed"], batch=BatchOptions(progress=False)
    )
    with open(tmp_path / "o" / "summary.csv") as fh:
        row = next(csv.DictReader(fh))
    classes = np.asarray(Image.open(tmp_path / "o" / "a_classes.png"))
    assert float(row["crop_fraction"]) == pytest.approx((classes == 1).mean(), abs=1e-6)
    assert float(row["weed_fraction"]) == pytest.approx((classes == 2).mean(), abs=1e-6)
    assert float(row["vegetation_fraction"]) == pytest.approx((classes > 0).mean(), abs=1e-6)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_class_map_equals_argmax_with_ties_to_the_lower_class(k: int) -> None:
    from agriseg.crop.predictor import class_map
    from agriseg.runtime import softmax

    p = softmax(np.random.default_rng(k).random((k, 37, 53), dtype=np.float32), 0)
    p[:, :4, :4] = 1.0 / k  # exact ties
    p[:, 5, 5] = [0.0] * (k - 2) + [0.5, 0.5]  # a tie between the last two classes
    got = class_map(p)
    assert got.dtype == np.uint8 and got.shape == (37, 53)
    assert np.array_equal(got, p.argmax(0).astype(np.uint8))
    assert (got[:4, :4] == 0).all() and got[5, 5] == k - 2


def test_predict_traits_and_plots_segment_a_photo_alike(samples_dir, tmp_path):
    """One inference rule: crop predict, traits and plots give one photo the same mask."""
    from agriseg.crop.predictor import load_predictor
    from agriseg.crop.traits.inputs import ModelSegmenter
    from agriseg.data.io import read_rgb

    rgb = read_rgb(samples_dir / "peanut" / "images" / "0003.jpg")
    mask = load_predictor("default").predict(rgb)
    segment = ModelSegmenter("default")
    seg = segment(rgb)
    assert np.array_equal(seg.classes, mask) and not seg.crop_weed
    # the pixels the model was sure of (model_sure of crop traits) are vegetation in the mask
    assert seg.sure is not None and seg.sure.shape == mask.shape and seg.sure.any()
    assert (seg.sure & (mask > 0)).sum() >= 0.99 * seg.sure.sum()
    pytest.importorskip("geopandas", reason="crop plots needs the geo extra")
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import box

    from agriseg.crop.config import PlotsConfig
    from agriseg.crop.traits.orthomosaic import plot_stats

    h, w = rgb.shape[:2]
    tif = tmp_path / "photo.tif"
    profile = {"driver": "GTiff", "width": w, "height": h, "count": 3, "dtype": "uint8", "crs": "EPSG:32633"}
    with rasterio.open(tif, "w", **profile, transform=from_origin(500000, 4000000, 0.01, 0.01)) as ds:
        ds.write(rgb.transpose(2, 0, 1))
    gpd.GeoDataFrame({"plot_id": ["all"]}, geometry=[box(500000, 4000000 - h * 0.01, 500000 + w * 0.01, 4000000)],
                     crs="EPSG:32633").to_file(tmp_path / "plots.gpkg")  # fmt: skip
    stats = plot_stats(tif, PlotsConfig(plots=str(tmp_path / "plots.gpkg")), segment)
    assert stats["green_fraction"].iloc[0] == pytest.approx((mask > 0).mean(), abs=1e-9)


@pytest.mark.parametrize("shape", [(20, 1000), (1000, 12), (1, 1500)])
def test_packaged_model_segments_very_thin_photos(shape: tuple[int, int]) -> None:
    """A strip photo whose short side becomes 16 px or less at the working size: the packaged ONNX graph pads
    by reflection, which ONNX Runtime refuses there; the runner pads such inputs itself (a crash before)."""
    from agriseg.crop.predictor import load_predictor

    rgb = np.zeros((*shape, 3), np.uint8)
    rgb[...] = (120, 95, 70)
    rgb[: max(1, shape[0] // 2), : max(1, shape[1] // 2)] = (60, 150, 50)
    mask = load_predictor("default").predict(rgb)
    assert mask.shape == shape


def test_summary_says_how_sure_the_model_was_and_a_resume_says_the_same(samples_dir, tmp_path):
    """model_sure: the share of the photo's vegetation the model itself was sure of; a resumed run reads it back
    from the mask (its PNG text), so its summary row is the fresh one."""
    from agriseg.crop.predict import model_sure
    from agriseg.crop.predictor import load_predictor

    pred = load_predictor("default")
    f = samples_dir / "peanut" / "images" / "0003.jpg"
    rows = predict_files(pred, [f], tmp_path / "o", batch=BatchOptions(progress=False))
    rgb = np.asarray(Image.open(f).convert("RGB"))
    probs = pred.probabilities([rgb])[0]
    want = model_sure(pred.classes(probs, rgb), pred.sure(probs))
    assert want is not None and 0.5 < want <= 1.0 and rows[0]["model_sure"] == want
    again = predict_files(pred, [f], tmp_path / "o", batch=BatchOptions(progress=False))
    assert again[0]["status"] == "skipped" and again[0]["model_sure"] == want
    with open(tmp_path / "o" / "summary.csv") as fh:
        assert float(next(csv.DictReader(fh))["model_sure"]) == want
    assert model_sure(np.zeros((4, 4), np.uint8), np.ones((4, 4), bool)) is None  # no vegetation, no share


def test_predict_paths_takes_the_old_batch_keywords_with_a_warning(samples_dir, tmp_path):
    from agriseg.crop.config import CropPredictConfig
    from agriseg.crop.predict import predict_paths

    photo = samples_dir / "peanut" / "images" / "0003.jpg"
    with pytest.warns(DeprecationWarning, match=r"overwrite=, strict=\) is deprecated"):
        res = predict_paths([photo], tmp_path, CropPredictConfig(long_side=256), overwrite=True, strict=True)
    assert res.counts["ok"] == 1


def test_predict_takes_a_photo_in_any_common_form_and_refuses_what_is_no_photo(tiny_predictor, tmp_path):
    """A float photo in [0, 1] gave an all-zero mask, uint16 a wrong one, and a PIL image or a path a deep
    traceback: a library caller now gets the same mask from each form, or a clear error."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "p.png")
    base = tiny_predictor.predict(rgb)
    same = {
        "float in [0, 1]": rgb.astype(np.float32) / 255,
        "float in [0, 255]": rgb.astype(np.float64),
        "uint16": rgb.astype(np.uint16) * 257,
        "int64": rgb.astype(np.int64),
        "RGBA": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
        "PIL image": Image.fromarray(rgb),
        "path": tmp_path / "p.png",
        "str path": str(tmp_path / "p.png"),
    }
    for name, image in same.items():
        assert np.array_equal(tiny_predictor.predict(image), base), name
    grey = tiny_predictor.predict(rgb[..., 0])
    assert grey.shape == rgb.shape[:2]
    for bad, words in [
        (rgb > 100, "mask"),
        (rgb.transpose(2, 0, 1), "channels first"),
        (rgb.astype(np.float32) - 300, "[0, 1] or [0, 255]"),
        (rgb.astype(np.int32) * 4, "0-255"),
        (np.zeros((4, 4, 3, 2), np.uint8), "shape"),
    ]:
        with pytest.raises(ValueError, match=re.escape(words)):
            tiny_predictor.predict(bad)
    with pytest.raises(TypeError, match="numpy array"):
        tiny_predictor.predict([[1, 2], [3, 4]])
    assert np.array_equal(same["float in [0, 1]"], rgb.astype(np.float32) / 255)  # the input is left as it was


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ({"long_side": -5}, "long_side"),
        ({"overlap": -1.0}, "overlap"),
        ({"overlap": 0.99}, "overlap"),
        ({"tta": "flips"}, "none, flip, flip+scale"),
        ({"precision": "fp16"}, "fp32, bf16"),
        ({"device": "gpu"}, "cuda"),
        ({"batch_size": 0}, "batch_size"),
        ({"tile": 8}, "tile"),
    ],
)
def test_predictor_refuses_settings_that_give_wrong_masks_silently(tiny_predictor, option, words):
    """long_side=-5 gave an all-zero mask, a negative overlap left untiled gaps (NaN), 'flips' ran as no TTA."""
    settings = {"long_side": 96, "tile": 64, **option}
    with pytest.raises(ValueError, match=re.escape(words)):
        Predictor(tiny_predictor.model, 2, **settings)


def test_one_photo_spelt_two_ways_is_refused_not_predicted_twice(samples_dir, tmp_path, monkeypatch):
    """images/0003.jpg and /abs/.../0003.jpg gave '2 predicted' under two path-based names."""
    from agriseg.config import OptionError
    from agriseg.crop.config import CropPredictConfig
    from agriseg.crop.predict import predict_paths

    photo = sorted((samples_dir / "peanut" / "images").glob("*.jpg"))[0]
    monkeypatch.chdir(photo.parent.parent)
    with pytest.raises(OptionError, match="given twice"):
        predict_paths(
            [f"images/{photo.name}", photo, f"./images/../images/{photo.name}"], tmp_path, CropPredictConfig()
        )


def test_ambiguous_photo_arrays_are_refused_not_read_as_black_or_white(tiny_predictor, tmp_path):
    """Found re-checking the array fix: 8-bit values in a uint16 array and a [0, 1] photo a little over 1 (white
    balance) gave all-zero masks; a 16-bit grey PIL image came out white; probabilities(one_photo) iterated
    over its rows."""
    from agriseg.data.io import as_rgb

    rgb = np.random.default_rng(1).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"astype\(np.uint8\)"):
        tiny_predictor.predict(rgb.astype(np.uint16))
    with pytest.raises(ValueError, match="ambiguous"):
        tiny_predictor.predict(rgb.astype(np.float32) / 255 * 1.1)
    grey16 = (rgb[..., 0].astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as im:
        assert np.array_equal(as_rgb(im), as_rgb(tmp_path / "g16.png"))
        assert abs(float(as_rgb(im).mean()) - float(rgb[..., 0].mean())) < 1
    with pytest.raises(TypeError, match=r"\[photo\]"):
        tiny_predictor.probabilities(rgb)
    with pytest.raises(ValueError, match="unsure"):
        Predictor(tiny_predictor.model, 2, long_side=96, tile=64, unsure=(0.9, 0.05))


def test_a_12_bit_cameras_values_in_16_bits_are_said_to_read_nearly_black(tmp_path, caplog):
    """A 12-bit frame in a uint16 array (or a 16-bit PNG) gave an empty mask without a word (session 72's
    sweep): it is read by the bit depth as before, with a warning saying how to scale it."""
    from agriseg.data.io import as_rgb, read_rgb

    twelve = np.random.default_rng(2).integers(0, 4096, (20, 24, 3)).astype(np.uint16)
    with caplog.at_level("WARNING", logger="agriseg"):
        as_rgb(twelve)
    assert "values are all <= 4095 reads nearly black" in caplog.text and "(arr << 4)" in caplog.text
    Image.fromarray(twelve[..., 0]).save(tmp_path / "f12.png")
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        read_rgb(tmp_path / "f12.png")
    assert "f12.png: 16-bit image whose values are all <= 4095" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        as_rgb(twelve << 4)  # 16-bit values: nothing to say
    assert not caplog.text


def test_48_bit_colour_photos_are_read_by_their_16_bits(tmp_path, caplog):
    """Session 85's traits sweep: a 12-bit camera's frame in a 48-bit colour TIFF or PNG read as its high byte
    (PIL's own conversion, values 0-15): every pot "empty" without a word, because the check for 16-bit colour
    looked at the image after it was decoded, when PIL no longer says how it was stored."""
    import png
    import tifffile

    from agriseg.data.io import photo_reading_rules, read_rgb

    twelve = np.random.default_rng(3).integers(0, 4096, (20, 24, 3)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "t12.tif", twelve)
    with open(tmp_path / "p12.png", "wb") as f:
        png.Writer(24, 20, greyscale=False, bitdepth=16).write(f, twelve.reshape(20, -1).tolist())
    for name in ("t12.tif", "p12.png"):
        caplog.clear()
        with caplog.at_level("WARNING", logger="agriseg"):
            rgb = read_rgb(tmp_path / name)
        assert f"{name}: 16-bit image whose values are all <= 4095" in caplog.text, name
        assert np.array_equal(rgb, np.round(twelve * (255 / 65535)).astype(np.uint8)), name  # the type's range
        assert photo_reading_rules(tmp_path / name) == {"colour": "16-bit"}  # earlier outputs are made again
    # its planes stored apart (PlanarConfiguration 2): PIL read them scrambled (0.6 % of pixels right), no word
    planar = (np.arange(20 * 24 * 3).reshape(20, 24, 3) * 97).astype(np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(planar, -1, 0), photometric="rgb", planarconfig="separate")
    assert np.array_equal(read_rgb(tmp_path / "planar.tif"), np.round(planar * (255 / 65535)).astype(np.uint8))
    full = (np.arange(20 * 24 * 3).reshape(20, 24, 3) * 113).astype(np.uint16)
    tifffile.imwrite(tmp_path / "full.tif", full)
    assert np.array_equal(read_rgb(tmp_path / "full.tif"), np.round(full * (255 / 65535)).astype(np.uint8))


def test_a_rerun_that_skips_every_photo_never_decodes_the_photos(tiny_predictor, samples_dir, tmp_path, monkeypatch):
    """Skipping 3,000 done photos took 31 s, nearly all of it decoding each photo again for its quality flags
    (about 2 hours for 3,000 48 MP photos); the flags now travel in the mask, and the row is the same."""
    import agriseg.crop.quality as quality

    photos = sorted((samples_dir / "peanut" / "images").glob("*.jpg"))[:2]
    first = predict_files(tiny_predictor, photos, tmp_path, batch=BatchOptions(progress=False))
    monkeypatch.setattr(quality, "photo_quality", lambda rgb: pytest.fail("a skipped photo was decoded"))
    again = predict_files(tiny_predictor, photos, tmp_path, batch=BatchOptions(progress=False))
    assert again.counts["skipped"] == 2
    assert [r["quality"] for r in again] == [r["quality"] for r in first]


def test_a_gpu_this_machine_lacks_is_refused_when_the_predictor_is_made(tiny_predictor):
    """load_predictor(device="cuda") on a machine without one returned a predictor whose first predict failed
    13 frames deep in torch (session 72's sweep)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(ValueError, match="device cuda: no CUDA GPU is available on this machine"):
        Predictor(tiny_predictor.model, 2, long_side=96, tile=64, device="cuda")
    with pytest.raises(ValueError, match="device 'gpu': not a torch device"):
        Predictor(tiny_predictor.model, 2, long_side=96, tile=64, device="gpu")


def test_a_predictor_that_has_run_can_be_pickled_and_copied(samples_dir):
    """After its first photo a predictor held an ONNX Runtime session: pickle, copy.deepcopy and
    Pool.map(predictor.predict, photos) failed (session 72's sweep). The copies make their session again."""
    import copy
    import pickle

    from agriseg.crop import load_predictor

    photo = np.asarray(
        Image.open(sorted((samples_dir / "peanut" / "images").glob("*.jpg"))[0]).convert("RGB").resize((240, 180))
    )
    pred = load_predictor("default")
    mask = pred.predict(photo)
    for other in (pickle.loads(pickle.dumps(pred)), copy.deepcopy(pred)):
        assert np.array_equal(other.predict(photo), mask)


def test_easy_mistakes_of_a_library_caller_say_what_is_wrong(tiny_predictor, samples_dir):
    """load_predictor(None) said "None: model file not found"; long_side=800.0 "0 ... or at least 32 px"."""
    from agriseg.crop import load_predictor

    with pytest.raises(TypeError, match="model_name is a packaged name or a model file, not NoneType"):
        load_predictor(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"long_side=800.0: a whole number of pixels"):
        Predictor(tiny_predictor.model, 2, long_side=800.0, tile=64)  # type: ignore[arg-type]
    # session 87's API sweep: the names listed left out default@5 / crop-weed@5, which load
    with pytest.raises(FileNotFoundError, match=r"nope: model file not found \(packaged names: .*, crop-weed@5\)"):
        load_predictor("nope")
    # a packaged name in another case or with a typo gets the name it was near (session 92)
    for wrong, right in (("Default", "default"), ("crop_weed", "crop-weed"), ("defualt", "default")):
        with pytest.raises(FileNotFoundError, match=rf"^{wrong}: model file not found \(did you mean {right}\? "):
            load_predictor(wrong)
    # session 87's selftrain sweep: a photo given as the model said "SafetensorError: header too large"
    photo = samples_dir / "peanut" / "images" / "0003.jpg"
    with pytest.raises(ValueError, match=r"0003.jpg: an image, not a model file"):
        load_predictor(photo)
    # session 103's API sweep: tta="" ran the model's own TTA; no photos was an IndexError; None "not iterable"
    with pytest.raises(ValueError, match=r"tta='' is not one of: none, flip, flip\+scale"):
        load_predictor("default", tta="")
    assert tiny_predictor.probabilities([]) == []
    from agriseg.crop import predict_paths

    with pytest.raises(TypeError, match="paths: a file or folder, or a list of them, not NoneType"):
        predict_paths(None, samples_dir / "out")  # type: ignore[arg-type]


def test_the_working_size_keeps_the_photos_shape_rounded_not_floored(tiny_predictor):
    """A 1000x481 photo run at 640 px was made 640x307 (floored) instead of 640x308: the mask came back stretched."""
    x = tiny_predictor.to_array(np.zeros((481, 1000, 3), np.uint8), 640)  # 481 * 0.64 = 307.84
    assert x.shape == (3, 308, 640)
    assert tiny_predictor.to_array(np.zeros((1000, 481, 3), np.uint8), 640).shape == (3, 640, 308)


def test_overlay_tints_every_class_by_the_integer_blend() -> None:
    """The overlay's tint is (photo * (256 - a) + colour * a + 128) >> 8 on every class pixel, the highest class too;
    background pixels stay the photo's."""
    from agriseg.crop.predict import OVERLAY_COLOURS, overlay

    rgb = np.array([[[200, 50, 120]] * 6], np.uint8)  # (1, 6, 3)
    classes = np.array([[0, 1, 2, 3, 4, 5]], np.uint8)
    out = overlay(rgb, classes)
    a = round(0.45 * 256)
    for k in range(6):
        col = OVERLAY_COLOURS[min(k, len(OVERLAY_COLOURS) - 1)].astype(int)
        want = rgb[0, k] if k == 0 else (rgb[0, k].astype(int) * (256 - a) + col * a + 128) >> 8
        assert out[0, k].tolist() == list(want), k


def test_model_sure_counts_every_vegetation_class_and_keeps_4_decimals() -> None:
    """model_sure of a crop / weed photo left the weed out (or was rounded to 0.33): it is the share of all the
    vegetation's pixels the model was sure of, to 4 decimals; None without vegetation."""
    from agriseg.crop.predict import model_sure

    classes = np.array([[0, 1, 2, 2]], np.uint8)
    sure = np.array([[True, False, True, False]])
    assert model_sure(classes, sure) == 0.3333
    assert model_sure(np.zeros((2, 2), np.uint8), np.ones((2, 2), bool)) is None


def test_summary_row_gives_width_and_height_the_right_way_round() -> None:
    """summary.csv gave a 5 px wide, 3 px tall photo as 3 wide and 5 tall."""
    from pathlib import Path

    from agriseg.crop.predict import _row

    row = _row(Path("a.jpg"), np.zeros((3, 5), np.uint8), None, 2, [])
    assert (row["width"], row["height"]) == (5, 3)


def test_the_memory_check_counts_the_batch_the_read_ahead_and_the_working_planes(tmp_path, monkeypatch) -> None:
    """crop predict's memory estimate of the largest photo: its working planes (at the long side, scaled by the
    long side), its full-size work, the other photos of its batch and the photos read ahead; leaving one out
    let a batch that does not fit start and die mid-run."""
    import agriseg.data.memory as memory
    from agriseg.crop.predict import BATCHED_BYTES, FULL_SIZE_BYTES, READ_AHEAD_BYTES, check_photo_memory

    asked = []
    monkeypatch.setattr(memory, "refused_for_memory", lambda needs: asked.append(max(needs.values())) or {})
    files = []
    for i, (w, h) in enumerate([(100, 50), (60, 40), (30, 30)]):
        files.append(tmp_path / f"p{i}.png")
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(files[-1])
    check_photo_memory(files, 80, 3, "--long-side", batch_size=2)
    working = 4.0 * 80 * 40 * (4 + 2 * 3)  # float32 planes at 80 x 40: 3 inputs, a weight, logits, probabilities
    full = 100 * 50 * (FULL_SIZE_BYTES + 1 * BATCHED_BYTES + 2 * READ_AHEAD_BYTES)  # 1 more of the batch, 2 ahead
    assert asked == [(pytest.approx(working + full), f"{files[0]} (100 x 50 px) at --long-side 80")]


def test_sure_pixels_are_those_reaching_the_level_exactly_too(tiny_predictor) -> None:
    """A vegetation probability exactly at the sure level counts as sure (model_sure), with or without ``unsure``."""
    import copy

    pred = copy.copy(tiny_predictor)
    probs = np.array([[[0.25, 0.5, 0.3]], [[0.75, 0.5, 0.7]]], np.float32)  # (2, 1, 3), exact in float32
    pred.unsure = (0.05, 0.75)
    assert pred.sure(probs).tolist() == [[True, False, False]]
    pred.unsure = None  # the level is then 0.5
    assert pred.sure(probs).tolist() == [[True, True, True]]


def test_a_photo_exactly_twice_the_working_size_has_its_outline_redecided(tiny_predictor) -> None:
    """From OUTLINE_MIN_SCALE photo px per working px (inclusive) the outline is re-decided within a band of photo px
    and faint traces followed on the working pixel's grid; a photo just under it keeps the model's outline."""
    import copy

    pred = copy.copy(tiny_predictor)  # long side 96
    pred.trace_long_side = None  # no second pass: the decision's settings alone
    probs = np.full((2, 192, 100), 0.5, np.float32)
    rgb = np.zeros((192, 100, 3), np.uint8)
    band, unsure, step = pred.outline(probs, rgb).args[2:5]  # to_classes(probs, rgb, band, unsure, step, ...)
    assert (band, step) == (2, 2)
    band, unsure, step = pred.outline(probs[:, :191], rgb[:191]).args[2:5]
    assert (band, step) == (0, 1)


def test_a_photo_exactly_trace_long_side_long_gets_the_second_pass(tiny_predictor) -> None:
    """trace_long_side is the longest photo traced at its own size (inclusive): one of exactly that size was not."""
    import copy

    pred = copy.copy(tiny_predictor)  # long side 96
    pred.trace_long_side = 192
    probs = np.full((2, 192, 100), 0.5, np.float32)  # no vegetation: no gap to look at again, a quick second pass
    rgb = np.zeros((192, 100, 3), np.uint8)
    args = pred.outline(probs, rgb).args  # to_classes(probs, rgb, band, unsure, step, faint_stem, trace)
    assert args[4] == 1 and args[6] is not None  # traced at the photo's own grid
    args = pred.outline(np.full((2, 193, 100), 0.5, np.float32), np.zeros((193, 100, 3), np.uint8)).args
    assert args[4] == 2 and args[6] is None  # longer: the working size only


def test_a_photos_scales_are_its_own_in_a_list_of_other_sizes() -> None:
    """Session 85's API sweep: with long_side 0 and tta flip+scale, every photo of a list was scaled from the
    first photo's size: a photo's probabilities depended on the photos before it (up to 0.43)."""
    import torch

    torch.manual_seed(0)
    pred = Predictor(build_model(encoder_weights=None), 2, long_side=0, tile=256, tta="flip+scale")
    rng = np.random.default_rng(0)
    small, photo = rng.integers(0, 255, (40, 56, 3), np.uint8), rng.integers(0, 255, (96, 128, 3), np.uint8)
    alone = pred.probabilities([photo])[0]
    after = pred.probabilities([small, photo])[1]
    assert np.allclose(alone, after, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"faint_stem": -1.0}, ValueError, "faint_stem=-1.0: a probability between 0 and 1"),
        ({"faint_stem": 5}, ValueError, "faint_stem=5"),
        ({"trace_long_side": -5}, ValueError, "trace_long_side=-5"),
        ({"outline_band": -3}, ValueError, "outline_band=-3"),
        ({"unsure": 0.5}, TypeError, "unsure=0.5: a pair (low, high)"),
        ({"overlap": "0.2"}, ValueError, "overlap='0.2': a fraction"),
        ({"tile": 512.0}, TypeError, "tile=512.0: a whole number"),
    ],
)
def test_predictor_options_that_would_change_masks_silently_are_refused(kwargs, error, says) -> None:
    """Session 85's API sweep: faint_stem=-1 changed 1873 px without a word, unsure=0.5 was "'float' object is
    not subscriptable", tile=512.0 "at least 32 px"."""
    with pytest.raises(error, match=re.escape(says)):
        Predictor(build_model(encoder_weights=None), 2, **kwargs)


def test_an_onnx_model_with_settings_it_cannot_run_is_a_usage_error(samples_dir, tmp_path) -> None:
    """``-m mine.onnx --optimize none`` (or ``--precision bf16``) failed every photo, exit 1, saying "crop predict
    takes it" (session 103's sweep)."""
    from click.testing import CliRunner

    from agriseg.cli import main
    from agriseg.config import OptionError
    from agriseg.crop import load_predictor
    from agriseg.models.io import resolve

    onnx = resolve("default").with_suffix(".onnx")
    with pytest.raises(OptionError, match=r"an ONNX model runs only in ONNX Runtime, on the CPU in float32; for"):
        load_predictor(onnx, optimize="none")
    photo = samples_dir / "peanut" / "images" / "0003.jpg"
    res = CliRunner().invoke(main, ["crop", "predict", str(photo), "-o", str(tmp_path / "o"), "-m", str(onnx),
                                    "--optimize", "jit"])  # fmt: skip
    assert res.exit_code == 2 and "runs only in ONNX Runtime" in res.output, res.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("model", "says"), [("default", "not str 'default'"), (None, "not NoneType")])
def test_a_predictor_of_a_models_name_is_refused_when_made(model, says) -> None:
    """``Predictor("default", 2)`` was made and failed at its first photo with "'str' object is not callable"
    (session 103's API sweep)."""
    with pytest.raises(TypeError, match=re.escape(says) + ".*load_predictor takes a packaged model's name"):
        Predictor(model, 2)


def test_masks_of_a_geotiff_carry_its_georeference(tiny_predictor, tmp_path):
    """Session 88's sweep: the mask of an orthomosaic was a PNG without georeference (no GIS could lay it over
    the mosaic). Each output image gets a GDAL .aux.xml sidecar with the mosaic's CRS and transform."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    tr = from_origin(500000.0, 4000000.0, 0.05, 0.05)
    prof = {"driver": "GTiff", "height": 40, "width": 60, "dtype": "uint16", "crs": "EPSG:32633", "transform": tr}
    with rasterio.open(tmp_path / "ortho.tif", "w", count=3, **prof) as dst:  # 16-bit RGB, as GDAL writes it
        dst.write(np.random.default_rng(0).integers(0, 65535, (3, 40, 60), dtype=np.uint16))
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "plain.png")
    out = tmp_path / "out"
    rows = predict_files(tiny_predictor, [tmp_path / "ortho.tif", tmp_path / "plain.png"], out,
                         batch=BatchOptions(progress=False))  # fmt: skip
    assert [r["status"] for r in rows] == ["ok", "ok"]
    for name in ("ortho_mask.png", "ortho_overlay.jpg"):
        with rasterio.open(out / name) as src:
            assert src.crs.to_epsg() == 32633 and src.transform == tr and src.shape == (40, 60)
    assert not list(out.glob("plain*.aux.xml"))  # a plain photo has none to give
    again = predict_files(tiny_predictor, [tmp_path / "ortho.tif"], out, batch=BatchOptions(progress=False))
    assert [r["status"] for r in again] == ["skipped"]


def test_an_orthomosaic_read_far_below_its_size_is_warned_about(tiny_predictor, tmp_path, caplog):
    """Session 88's sweep: a 10000 px mosaic read at 800 px gave cover 0.147 against 0.175 at its own size,
    without a word. A georeferenced photo reduced over 4 times is warned about; a plain photo is not."""
    import copy

    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    prof = {"driver": "GTiff", "height": 800, "width": 1000, "dtype": "uint8", "crs": "EPSG:32633",
            "transform": from_origin(500000.0, 4000000.0, 0.01, 0.01)}  # fmt: skip
    with rasterio.open(tmp_path / "ortho.tif", "w", count=3, **prof) as dst:
        dst.write(np.full((3, 800, 1000), 100, np.uint8))
    Image.fromarray(np.full((800, 1000, 3), 100, np.uint8)).save(tmp_path / "photo.png")
    pred = copy.copy(tiny_predictor)
    pred.long_side = 200  # 1000 px read at 200: 5 times smaller
    with caplog.at_level("WARNING", logger="agriseg"):
        predict_files(pred, [tmp_path / "ortho.tif", tmp_path / "photo.png"], tmp_path / "o",
                      batch=BatchOptions(progress=False))  # fmt: skip
    said = [r.getMessage() for r in caplog.records if "an orthomosaic of" in r.getMessage()]
    assert len(said) == 1 and "ortho.tif: an orthomosaic of 1000x800 px read at --long-side 200" in said[0], said


def test_the_memory_check_counts_a_geotiff_only_gdal_reads(tmp_path, monkeypatch) -> None:
    """Session 89's review: photos PIL cannot open (16-bit RGB GeoTIFFs, read through GDAL) were left out of the
    memory check, though they are read whole."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    import agriseg.data.memory as memory
    from agriseg.crop.predict import check_photo_memory

    prof = {"driver": "GTiff", "height": 40, "width": 60, "dtype": "uint16", "crs": "EPSG:32633",
            "transform": from_origin(500000.0, 4000000.0, 0.05, 0.05)}  # fmt: skip
    with rasterio.open(tmp_path / "o16.tif", "w", count=3, **prof) as dst:
        dst.write(np.zeros((3, 40, 60), np.uint16))
    asked = []
    monkeypatch.setattr(memory, "refused_for_memory", lambda needs: asked.append(needs) or {})
    check_photo_memory([tmp_path / "o16.tif"], 0, 2, "--long-side")
    assert [what for _, what in asked[0].values()] == [f"{tmp_path / 'o16.tif'} (60 x 40 px)"]


def test_a_model_of_other_classes_than_num_classes_is_named_at_any_size() -> None:
    """Session 90's API sweep: a photo that fits one pass (no tiles) returned masks from a 2-class model given
    ``num_classes=3`` (the tiled path said it); ``num_classes`` 0 or 1 gave all-zero masks."""
    import torch

    photo = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(ValueError, match=r"forward returned shape \(1, 2, 48, 64\); expected \(N, 3, 48, 64\)"):
        Predictor(torch.nn.Conv2d(3, 2, 1), 3, long_side=64).predict(photo)
    with pytest.raises(ValueError, match="num_classes=1: at least 2"):
        Predictor(torch.nn.Conv2d(3, 2, 1), 1, long_side=64)


def test_float_values_of_a_few_thousand_are_said_to_read_nearly_black(tmp_path, caplog):
    """Reflectance x 10000 stored as floats (0-3000) read nearly black with no word, where the same values
    as uint16 were warned about (session 91's sweep)."""
    import rasterio

    from agriseg.data.io import read_rgb

    arr = (np.random.default_rng(1).random((3, 16, 16)) * 3000).astype(np.float32)
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "width": 16, "height": 16, "count": 3, "dtype": "float32"}
    profile.update(crs="EPSG:32633", transform=from_origin(0, 0, 10, 10))
    with rasterio.open(tmp_path / "refl.tif", "w", **profile) as dst:
        dst.write(arr)
    with caplog.at_level("WARNING", logger="agriseg"):
        rgb = read_rgb(tmp_path / "refl.tif")
    assert rgb.max() <= 12
    assert "refl.tif: float image whose values are all <= 4095" in caplog.text and "scale it to 0-1" in caplog.text
    caplog.clear()
    with rasterio.open(tmp_path / "wide.tif", "w", **profile) as dst:
        dst.write(arr * 20)  # values up to 60000: a 16-bit range, nothing to say
    with caplog.at_level("WARNING", logger="agriseg"):
        read_rgb(tmp_path / "wide.tif")
    assert "nearly black" not in caplog.text


def test_float_values_below_zero_are_said_to_read_black(tmp_path, caplog):
    """A centred float image (-0.5..0.5) read its lower half as 0 with no word (session 101's sweep); a little
    under 0 (a reflectance product's noise) is clipped unsaid."""
    import tifffile

    from agriseg.data.io import read_rgb

    arr = np.random.default_rng(2).random((16, 16, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "centred.tif", arr - 0.5, photometric="rgb")
    tifffile.imwrite(tmp_path / "noisy.tif", arr * 0.9 - 0.01, photometric="rgb")
    with caplog.at_level("WARNING", logger="agriseg"):
        read_rgb(tmp_path / "noisy.tif")
        assert not caplog.text
        read_rgb(tmp_path / "centred.tif")
    assert "centred.tif: float image with values down to -0.498, below 0, read as 0" in caplog.text


def test_signed_values_below_zero_are_said_to_read_black(tmp_path, caplog):
    """An int16 image's negatives read as 0 and the rest at most half bright, with no word (session 102's text
    sweep); an int16 image of positive values only is read as a 16-bit one."""
    import tifffile

    from agriseg.data.io import read_rgb

    arr = np.random.default_rng(3).integers(-3000, 3000, (16, 16, 3)).astype(np.int16)
    tifffile.imwrite(tmp_path / "signed.tif", arr, photometric="rgb")
    tifffile.imwrite(tmp_path / "positive.tif", np.abs(arr) + 5000, photometric="rgb")
    with caplog.at_level("WARNING", logger="agriseg"):
        read_rgb(tmp_path / "positive.tif")
        assert "below 0" not in caplog.text
        read_rgb(tmp_path / "signed.tif")
    assert "signed.tif: signed 16-bit image with values down to -" in caplog.text and "read as 0 (black)" in caplog.text
