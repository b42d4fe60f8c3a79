"""Smoke suite, crop pipeline: every ``agriseg crop`` command shown in README.md and docs/, run as typed.

One workflow on tiny data (the bundled photos, generated RGB-D scenes), with loader workers in every
training run, as users have them. Each step checks the outputs a user would open. Steps that need an extra
skip without it (``.ci/run`` also runs this file in a base install: predict, evaluate and traits run there).
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli.smoke import agriseg, chatter, read_json, read_png

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(600)

CROP_TRAIN = """\
name: smoke
output_dir: runs/crop/smoke
model: {{encoder_weights: null, infer_long_side: 0}}
data:
  images: {data}/images
  labels: {data}/masks
  label_mode: binary
  val_fraction: 0.25
  crop_size: 64
  scale_min: 0.6
train: {{epochs: 1, batch_size: 2, num_workers: 1, warmup_epochs: 0}}
"""

SELFTRAIN = """\
name: smoke_selftrain
output_dir: runs/crop/smoke_selftrain
images: {data}/images
select_fraction: 0.3
pseudo: {{source: index, index: exg}}
model: {{encoder_weights: null, infer_long_side: 0}}
data: {{crop_size: 64, scale_min: 0.6}}
train: {{batch_size: 2, num_workers: 1, warmup_epochs: 0}}
stage1_epochs: 1
stage2_epochs: 1
evaluate: {{images: {data}/images, labels: {data}/masks, label_mode: binary}}
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with generated RGB-D field scenes (photos/, depth/) and a tiny depth model."""
    torch = pytest.importorskip("torch", reason="the train extra is not installed")
    transformers = pytest.importorskip("transformers", reason="the depth extra is not installed")

    from agriseg.crop.pseudolabel.depth import tiny_depth_anything_config
    from agriseg.crop.pseudolabel.synthetic import write_scenes

    wd = tmp_path_factory.mktemp("smoke_crop")
    write_scenes(wd / "syn", n=8, size=(64, 96), depth_format="png")
    torch.manual_seed(0)  # some random tiny depth models output a constant map (nothing to threshold)
    transformers.DepthAnythingForDepthEstimation(tiny_depth_anything_config()).save_pretrained(wd / "depth_model")
    return wd


def _summary(path: Path) -> list[dict[str, str]]:
    assert path.is_file(), f"{path} was not written"
    with path.open() as f:
        return list(csv.DictReader(f))


def test_predict_and_evaluate_bundled_photos(samples_dir: Path, tmp_path: Path) -> None:
    work = tmp_path
    images, labels = samples_dir / "peanut" / "images", samples_dir / "peanut" / "labels"
    # README Quickstart
    agriseg(f"crop predict {images} -o outputs/quickstart", cwd=work)
    out = work / "outputs" / "quickstart"
    rows = _summary(out / "summary.csv")
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
    for r in rows:
        stem = Path(r["file"]).stem
        mask = read_png(out / f"{stem}_mask.png")
        assert set(np.unique(mask).tolist()) <= {0, 255} and mask.shape == (720, 960)
        assert read_png(out / f"{stem}_overlay.jpg").shape == (720, 960, 3)
        assert 0.0 < float(r["vegetation_fraction"]) < 0.9  # plants on soil
    agriseg(f"crop predict {images} -o outputs/cw --model crop-weed --no-overlay", cwd=work)
    assert len(list((work / "outputs" / "cw").glob("*_classes.png"))) == 3
    # README: the packaged models by name, and one model's card
    listed = agriseg("crop models list", cwd=work).output
    assert "* default" in listed and "crop-weed" in listed and "background/crop/weed" in listed
    assert "Model card: `crop-weed`" in agriseg("crop models show crop-weed", cwd=work).output
    agriseg("crop models show nope", cwd=work, expect=2)  # an unknown name is a usage error
    # a batch with one bad photo: the others are written, one summary line, exit status 1
    (work / "bad").mkdir(exist_ok=True)
    (work / "bad" / "broken.jpg").write_bytes(b"not a photo")
    res = agriseg(f"crop predict {images} bad -o outputs/bad --tile 512 --overlap 0.2 --tta flip", cwd=work, expect=1)
    assert "3 predicted, 0 skipped, 1 failed" in res.output and "broken.jpg" in res.output
    assert len(_summary(work / "outputs" / "bad" / "summary.csv")) == 4
    # README: crop evaluate (on the bundled labels instead of ../shared)
    res = agriseg(f"crop evaluate --images {images} --masks {labels} --peanut -o report.json", cwd=work)
    rep = read_json(work / "report.json")
    assert rep["miou"] > 0.8 and "biou" in rep and "mean " in res.output
    assert rep["options"] == {"long_side": 800, "tta": "none", "optimize": "onnxruntime"}  # what made the masks
    agriseg(f"crop evaluate --images {images} --masks {labels} --pred-masks {out} --peanut", cwd=work)


def test_pseudolabel_and_screen(work: Path) -> None:
    syn = work / "syn"
    photos = syn / "images"
    # docs/pseudolabels.md step 1, the three sources
    agriseg(f"crop pseudolabel {photos} -o pl/ --source index --index cive --plot", cwd=work)
    recs = sorted((work / "pl" / "records").glob("*.json"))
    assert len(recs) == 8 and list((work / "pl" / "plots").glob("*.png"))
    masks = sorted((work / "pl" / "masks").glob("*.png"))
    assert len(masks) == 8 and any(read_png(m).any() for m in masks)
    agriseg(f"crop pseudolabel {photos} -o pl_depth/ --source depth --depth-dir {syn / 'depth'}", cwd=work)
    assert len(list((work / "pl_depth" / "masks").glob("*.png"))) == 8
    agriseg(f"crop pseudolabel {photos} -o pl_est/ --source depth --depth-model {work / 'depth_model'}", cwd=work)
    assert len(list((work / "pl_est" / "masks").glob("*.png"))) == 8
    # step 2: screening page; a user's export keeps six photos
    agriseg("crop screen pl/", cwd=work)
    assert "<html" in (work / "pl" / "screen.html").read_text().lower()


def _accepted(work: Path) -> str:
    """A screening page's export that keeps six of the eight photos (docs/pseudolabels.md step 2)."""
    keep = sorted(p.stem for p in (work / "syn" / "images").glob("*.png"))[:6]
    (work / "accepted.json").write_text(json.dumps({"accepted": keep}))
    return "accepted.json"


def test_train_and_resume(work: Path) -> None:
    syn = work / "syn"
    # README: crop train, then resume from its last checkpoint
    (work / "train.yaml").write_text(CROP_TRAIN.format(data=syn))
    res = agriseg("crop train -c train.yaml", cwd=work)
    run = work / "runs" / "crop" / "smoke"
    assert (run / "model.safetensors").is_file() and (run / "last.ckpt").is_file()
    assert "smoke (best checkpoint): 1 epoch, " in res.output and "val/miou" in res.output
    assert not chatter(res.output), res.output
    res = agriseg("crop train -c train.yaml --resume runs/crop/smoke/last.ckpt --epochs 2", cwd=work)
    assert ": 2 epochs, " in res.output
    # the shared training options: a quick check of a config
    res = agriseg("crop train -c train.yaml --max-steps 2 --max-minutes 5 --set output_dir=runs/crop/steps", cwd=work)
    assert ", 2 steps in " in res.output and (work / "runs" / "crop" / "steps" / "model.safetensors").is_file()


@pytest.mark.slow  # about two minutes on two cores: two-stage training twice, each with a loader worker
def test_selftrain_and_adapt(work: Path) -> None:
    syn = work / "syn"
    photos = syn / "images"
    _accepted(work)
    # docs/pseudolabels.md step 3: two-stage self-training on the accepted photos
    (work / "selftrain.yaml").write_text(SELFTRAIN.format(data=syn))
    res = agriseg("crop selftrain -c selftrain.yaml --keep accepted.json", cwd=work)
    assert "stage2: mIoU" in res.output
    assert (work / "runs" / "crop" / "smoke_selftrain" / "model.safetensors").is_file()

    # step 4: adapt the default model to a new field, then predict with the result
    res = agriseg(
        f"crop adapt {photos} -o adapted.safetensors --keep accepted.json "
        "--stage1-epochs 1 --stage2-epochs 1 --crop-size 64 --batch-size 2",
        cwd=work,
    )
    assert (work / "adapted.safetensors").is_file()
    assert not chatter(res.output), res.output
    agriseg(f"crop predict {photos} -o masks/ --model adapted.safetensors", cwd=work)
    rows = _summary(work / "masks" / "summary.csv")
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)
    assert read_png(work / "masks" / "0000_mask.png").shape == (64, 96)


def test_traits_bundled_photos_and_predicted_masks(samples_dir: Path, tmp_path: Path) -> None:
    images = samples_dir / "peanut" / "images"
    # docs/traits.md: photos -> traits with the default model, regions on a 2x2 grid
    agriseg(f"crop traits {images} -o outputs/traits --grid 2x2", cwd=tmp_path)
    out = tmp_path / "outputs" / "traits"
    data = read_json(out / "traits.json")
    assert [r["status"] for r in data["images"]] == ["ok"] * 3 and data["settings"]["model_name"] == "default"
    for rec in data["images"]:
        assert 0.0 < rec["image"]["green_fraction"] < 0.9 and rec["image"]["green_area_index"] > 0
        assert rec["image"]["plant_count"] == len(rec["plants"]) > 0 and len(rec["regions"]) == 4
        assert read_png(out / f"{rec['name']}_plants.png").shape == (720, 960, 3)
    rows = _summary(out / "traits.csv")
    assert {r["level"] for r in rows} == {"image", "plant", "region"}
    # docs/traits.md: crop/weed masks from `crop predict`, matched with their photos by name
    agriseg(f"crop predict {images} -o outputs/cw --model crop-weed", cwd=tmp_path)
    res = agriseg(f"crop traits outputs/cw {images} -o outputs/traits_cw --meta plot --px-per-mm 2.5", cwd=tmp_path)
    assert "3 measured" in res.output
    data = read_json(tmp_path / "outputs" / "traits_cw" / "traits.json")
    assert data["settings"]["model_name"] is None  # masks measured: crop predict's model is in each mask's PNG text
    for rec in data["images"]:
        assert rec["mask"].endswith("_classes.png") and rec["photo"] and "excess_green" in rec["image"]
        assert rec["image"]["crop_fraction"] + rec["image"]["weed_fraction"] == pytest.approx(
            rec["image"]["green_fraction"], rel=1e-5
        )
        assert rec["meta"]["plot"] == rec["name"]
    rows = _summary(tmp_path / "outputs" / "traits_cw" / "traits.csv")
    assert {r["unit"] for r in rows if r["trait"] == "area"} == {"mm2"}
    # a bad input: listed as failed, the others measured, exit code 1
    (tmp_path / "broken.jpg").write_bytes(b"no image")
    res = agriseg("crop traits outputs/cw broken.jpg -o outputs/traits_bad", cwd=tmp_path, expect=1)
    assert "3 measured" in res.output and "broken.jpg" in res.output


def test_traits_tray_series_growth_and_plots_on_photos(tmp_path: Path) -> None:
    series = REPO / "benchmarks" / "data" / "trays" / "series"
    truth = json.loads((series / "index.json").read_text())["photos"]
    # docs/traits.md: three dated photos of one tray -> per-pot traits and growth in one command
    res = agriseg(f"crop traits {series / 'images'} -o outputs/tray --grid 3x6 --meta date", cwd=tmp_path)
    assert "3 measured" in res.output and "growth.csv" in res.output
    out = tmp_path / "outputs" / "tray"
    for name, t in truth.items():
        rec = read_json(out / f"{name}_traits.json")
        assert rec["date"] == name.removeprefix("tray_")
        empty = {p["id"] for p in t["pots"] if p["plant_count"] == 0}
        assert {r["id"] for r in rec["regions"] if r["status"] == "empty"} >= empty  # empty pots stay empty
        assert all(p["id"].startswith(p["region"] + ".") for p in rec["plants"])
        assert read_png(out / f"{name}_mask.png").shape == (420, 720)
    growth = _summary(out / "growth.csv")
    assert len(growth) == 18 * 3 and growth[0]["region_id"] == "1" and "plant_area_px2" in growth[0]
    wide = _summary(out / "growth_wide.csv")
    assert [w["region_id"] for w in wide] == [str(i) for i in range(1, 19)]
    if importlib.util.find_spec("matplotlib") is None:  # the base install: tables, no chart, no crop plots
        assert not (out / "growth.png").exists() and 'needs matplotlib: pip install "agriseg[geo]"' in res.output
        return
    assert read_png(out / "growth.png").shape[1] > 800
    # docs/traits.md: the same pots CSV in crop traits and crop plots gives the same numbers
    photo = series / "images" / "tray_2024-06-15.jpg"
    agriseg(f"crop traits {photo} -o outputs/tray_pots --regions {series / 'pots.csv'}", cwd=tmp_path)
    agriseg(f"crop plots {photo} --plots {series / 'pots.csv'} -o outputs/tray_plots", cwd=tmp_path)
    regions = read_json(tmp_path / "outputs" / "tray_pots" / "tray_2024-06-15_traits.json")["regions"]
    plots = _summary(tmp_path / "outputs" / "tray_plots" / "tray_2024-06-15_plots.csv")
    assert [(p["plot_id"], int(p["plant_count"]), float(p["plant_area_px2"])) for p in plots] == [
        (r["id"], r["plant_count"], r["plant_area"]) for r in regions
    ]


def test_plots_generated_trial_100_plots(tmp_path: Path) -> None:
    import importlib.util

    pytest.importorskip("geopandas", reason="the geo extra is not installed")

    spec = importlib.util.spec_from_file_location("make_plot_mosaics", REPO / "scripts" / "make_plot_mosaics.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.make_trial(tmp_path / "outputs" / "trial")  # docs/traits.md: python scripts/make_plot_mosaics.py outputs/trial
    trial = "outputs/trial"
    agriseg(
        f"crop plots {trial}/trial_2024-06-01.tif {trial}/trial_2024-06-20.tif --plots {trial}/plots.gpkg "
        f"-o {trial}/plots",
        cwd=tmp_path,
    )
    out = tmp_path / "outputs" / "trial" / "plots"
    rows = _summary(out / "trial_2024-06-01_plots.csv")
    assert len(rows) == 100 and all(r["status"] == "ok" for r in rows)
    growth = _summary(out / "growth.csv")
    assert len(growth) == 200
    first = {r["plot_id"]: float(r["green_fraction"]) for r in growth if r["date"] == "2024-06-01"}
    later = {r["plot_id"]: float(r["green_fraction"]) for r in growth if r["date"] == "2024-06-20"}
    assert all(later[p] > first[p] > 0 for p in first)  # the plants grew
    assert read_png(out / "growth.png").ndim == 3
    assert (out / "trial_2024-06-20_plots.gpkg").is_file()
    agriseg(
        f"crop plots {trial}/trial_2024-06-01.tif --plots {trial}/plots.gpkg -o {trial}/plots_w --window 256 "
        "--meta trial_date",
        cwd=tmp_path,
    )
    assert _summary(out.parent / "plots_w" / "trial_2024-06-01_plots.csv") == rows


def test_traits_options_on_a_generated_tray(tmp_path: Path) -> None:
    from PIL import Image
    from skimage.draw import disk

    photo = np.zeros((200, 300, 3), np.uint8)
    photo[...] = (110, 85, 60)  # soil
    mask = np.zeros((200, 300), np.uint8)
    for r in range(2):
        for c in range(3):
            mask[disk((50 + 90 * r, 40 + 80 * c), 15 + 3 * r)] = 255
    photo[mask > 0] = (50, 150, 40)
    photo[disk((100, 275), 10)] = 250  # a white marker 19 px across, 10 mm in reality
    Image.fromarray(photo).save(tmp_path / "tray1_20240601.png")
    Image.fromarray(mask).save(tmp_path / "tray1_20240601_mask.png")
    (tmp_path / "cells.csv").write_text("id,x,y,width,height\ntop,0,0,300,100\nbottom,0,100,300,100\n")
    line = (
        "crop traits tray1_20240601.png tray1_20240601_mask.png -o out --regions cells.csv "
        "--reference-box 255,80,40,40 --reference-mm 10 --min-plant-size 30 --meta tray_date "
        "--zenith 30 --leaf-projection 0.6 --strict"
    )
    agriseg(line, cwd=tmp_path)
    rec = read_json(tmp_path / "out" / "traits.json")["images"][0]
    assert rec["meta"] == {"tray": "tray1", "date": "2024-06-01"}
    assert rec["image"]["px_per_mm"] == pytest.approx(1.9) and rec["image"]["plant_count"] == 6
    assert [r["plant_count"] for r in rec["regions"]] == [3, 3]
    agriseg(line + " --overwrite", cwd=tmp_path)
    agriseg("crop traits tray1_20240601_mask.png -o out_grid --grid 2x3 --split-depth 2", cwd=tmp_path)
    regions = read_json(tmp_path / "out_grid" / "traits.json")["images"][0]["regions"]
    assert [r["plant_count"] for r in regions] == [1] * 6


REFINED_TRAIN = """\
name: smoke_refined
output_dir: runs/crop/smoke_refined
model: {{encoder_weights: null, infer_long_side: 320}}
data:
  images: {samples}/images
  labels: {samples}/labels
  label_mode: colormap
  colormap: {{"0,0,0": 0, "0,255,0": 1, "255,0,0": 1}}
  val_fraction: 0.34
  crop_size: 64
  scale_min: 0.3
  scale_max: 0.4
  refine_band: 3
  extra: [{{images: scenes/images, labels: scenes/labels}}]
train: {{epochs: 1, batch_size: 2, num_workers: 1, warmup_epochs: 0, limit_train_batches: 4}}
"""


def test_generated_sets_disc_traits_and_training_on_refined_labels(samples_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the train extra is not installed")
    peanut = samples_dir / "peanut"
    # README: the disc example (six discs of radius 30 px), measured with crop traits
    agriseg("crop make-synthetic discs -o outputs/discs -n 1", cwd=tmp_path)
    agriseg("crop traits outputs/discs/images -o outputs/discs_traits", cwd=tmp_path)
    rec = read_json(tmp_path / "outputs/discs_traits/discs_00000_traits.json")
    assert rec["image"]["plant_count"] >= 1
    # lab scenes from the bundled photos, then a training run on refined labels plus those scenes
    agriseg("crop make-synthetic lab -o scenes -n 4 --layouts pots,field --uniform-frames", cwd=tmp_path)
    assert len(list((tmp_path / "scenes/images").glob("*.jpg"))) == 8
    (tmp_path / "train.yaml").write_text(REFINED_TRAIN.format(samples=peanut))
    agriseg("crop train -c train.yaml", cwd=tmp_path)
    assert (tmp_path / "runs/crop/smoke_refined/model.safetensors").is_file()
