"""``run_traits`` on generated masks and photos: tables, JSON, debug images, errors, resume."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.draw import disk

from agriseg.batch import BatchOptions
from agriseg.crop.config import TraitsConfig
from agriseg.crop.traits.inputs import Segmentation
from agriseg.crop.traits.runner import run_traits


def _strict(path: Path) -> dict:
    def bad(token: str) -> None:
        raise AssertionError(f"{token} in {path}")

    return json.loads(path.read_text(), parse_constant=bad)


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    m = np.zeros((120, 160), np.uint8)
    for c in [(30, 30), (30, 110), (90, 70)]:
        m[disk(c, 12, shape=m.shape)] = 255
    Image.fromarray(m).save(d / "A1_20240601_mask.png")
    Image.fromarray((m > 0).astype(np.uint8)).save(d / "A2_20240602_mask.png")  # 0/1
    cls = (m > 0).astype(np.uint8)
    cls[60:, :] *= 2  # the lower plant is a weed
    Image.fromarray(cls).save(d / "A3_20240603_classes.png")
    photo = np.zeros((120, 160, 3), np.uint8)
    photo[..., 0], photo[..., 1], photo[..., 2] = 120, 90, 60  # soil
    photo[m > 0] = (40, 160, 40)
    Image.fromarray(photo).save(d / "A1_20240601.png")  # A1's photo: colour traits
    Image.fromarray(photo[:100]).save(d / "A4_20240604.png")
    Image.fromarray(m[:, :150]).save(d / "A4_20240604_mask.png")  # does not match its photo
    (d / "A5_20240605_mask.png").write_bytes(b"not a png")
    Image.fromarray(m).save(d / "notemplate_mask.png")
    return d


def test_tables_json_debug_and_errors(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = TraitsConfig(meta="plant_date", grid="1x2")
    recs = run_traits([inputs], out, cfg, batch=BatchOptions(progress=False))
    status = {r["name"]: r["status"] for r in recs}
    assert status == {
        "A1_20240601": "ok",
        "A2_20240602": "ok",
        "A3_20240603": "ok",
        "A4_20240604": "error",
        "A5_20240605": "error",
        "notemplate": "error",
    }
    errors = {r["name"]: r["error"] for r in recs if r["status"] == "error"}
    assert errors["A4_20240604"].startswith(str(inputs / "A4_20240604_mask.png"))
    assert "150x120" in errors["A4_20240604"] and errors["A5_20240605"].startswith(str(inputs / "A5_20240605_mask.png"))
    assert "does not match the template" in errors["notemplate"]
    by = {r["name"]: r for r in recs}
    for name in ("A1_20240601", "A2_20240602"):
        img = by[name]["image"]
        assert img["plant_count"] == 3 and img["green_fraction"] == pytest.approx(
            (np.asarray(Image.open(inputs / "A1_20240601_mask.png")) > 0).mean(), rel=1e-5
        )
    assert "mean_hue" in by["A1_20240601"]["image"] and "mean_hue" not in by["A2_20240602"]["image"]
    a3 = by["A3_20240603"]["image"]
    assert a3["weed_fraction"] > 0 and a3["crop_fraction"] + a3["weed_fraction"] == pytest.approx(
        a3["green_fraction"], rel=1e-5
    )
    assert by["A1_20240601"]["meta"] == {"plant": "A1", "date": "2024-06-01"}
    # no photo: the grid spans the whole image (x 0-80 | 80-160), with a warning
    assert [r["plant_count"] for r in by["A1_20240601"]["regions"]] == [2, 1]  # x = 30, 70 | 110
    assert "no photo" in by["A2_20240602"]["warnings"][0]
    assert [p["id"] for p in by["A2_20240602"]["plants"]] == ["1.1", "1.2", "2.1"]
    assert [p["region"] for p in by["A2_20240602"]["plants"]] == ["1", "1", "2"]
    # outputs
    data = _strict(out / "traits.json")
    assert len(data["images"]) == 6
    assert data["settings"]["model_name"] is None  # masks only: the settings name no model that did not run
    assert (out / "A1_20240601_plants.png").is_file() and not (out / "A4_20240604_plants.png").exists()
    with (out / "traits.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert set(rows[0]) == {"file", "plant", "date", "level", "id", "region", "trait", "value", "unit", "quality"}
    saved = np.asarray(Image.open(out / "A2_20240602_mask.png"))
    assert ((saved > 0) == (np.asarray(Image.open(inputs / "A1_20240601_mask.png")) > 0)).all()
    # per-region growth over the three dated images
    with (out / "growth.csv").open() as fh:
        growth = list(csv.DictReader(fh))
    assert [(g["region_id"], g["date"]) for g in growth] == [
        (r, d) for r in ("1", "2") for d in ("2024-06-01", "2024-06-02", "2024-06-03")
    ]
    assert growth[1]["plant_area_px2_change_per_day"] == "0" and growth[0]["relative_growth_rate_per_day"] == ""
    with (out / "growth_wide.csv").open() as fh:
        wide = list(csv.DictReader(fh))
    assert len(wide) == 2 and list(wide[0])[1] == "plant_area_px2 2024-06-01"
    assert (out / "growth.png").stat().st_size > 1000
    areas = [r for r in rows if r["level"] == "plant" and r["trait"] == "area" and r["plant"] == "A1"]
    assert len(areas) == 3 and all(r["unit"] == "px2" for r in areas)
    # a re-run keeps the measured images, and measures again with --overwrite
    before = (out / "A1_20240601_traits.json").stat().st_mtime_ns
    recs2 = run_traits([inputs], out, cfg, batch=BatchOptions(progress=False))
    assert sum(r["status"] == "skipped" for r in recs2) == 3
    assert (out / "A1_20240601_traits.json").stat().st_mtime_ns == before
    run_traits([inputs], out, cfg, batch=BatchOptions(overwrite=True, progress=False))
    with pytest.raises(ValueError):
        run_traits([inputs], out, cfg, batch=BatchOptions(overwrite=True, strict=True, progress=False))


def test_millimetres_and_saturated_gai(tmp_path: Path) -> None:
    full = np.full((40, 40), 255, np.uint8)
    Image.fromarray(full).save(tmp_path / "full_mask.png")
    recs = run_traits(
        [tmp_path / "full_mask.png"], tmp_path / "o", TraitsConfig(px_per_mm=4.0), batch=BatchOptions(progress=False)
    )
    img = recs[0]["image"]
    assert img["gai_saturated"] and img["green_area_index"] is None
    assert img["vegetation_area"] == pytest.approx(1600 / 16)
    assert recs[0]["plants"][0]["area"] == pytest.approx(100.0)
    data = _strict(tmp_path / "o" / "traits.json")
    assert data["images"][0]["image"]["green_area_index"] is None
    with (tmp_path / "o" / "traits.csv").open() as fh:
        units = {r["trait"]: r["unit"] for r in csv.DictReader(fh) if r["level"] == "plant"}
    assert units["area"] == "mm2" and units["perimeter"] == "mm" and units["ellipse_angle"] == "deg"


class _AllWeed:
    """A crop / weed segmenter that calls every green pixel weed, like the crop-weed model on brassica."""

    crop = "peanut"

    def __call__(self, rgb: np.ndarray) -> Segmentation:
        return Segmentation((rgb[..., 1] > 120).astype(np.uint8) * 2, True)


def test_crop_weed_names_its_crop_and_warns_without_crop(tmp_path: Path) -> None:
    from agriseg.crop.traits.inputs import Item
    from agriseg.crop.traits.runner import measure_item

    photo = np.zeros((80, 80, 3), np.uint8)
    photo[20:60, 20:60] = (40, 160, 40)
    Image.fromarray(photo).save(tmp_path / "tray.png")
    rec, _, _ = measure_item(Item("tray", photo=tmp_path / "tray.png"), TraitsConfig(), _AllWeed())
    assert rec["image"]["crop"] == "peanut" and rec["image"]["weed_fraction"] == 0.25
    assert "found no peanut" in rec["warnings"][0] and "--model default" in rec["warnings"][0]


class _Green:
    """A vegetation segmenter at the model's working size of 800 px."""

    long_side = 800

    def __call__(self, rgb: np.ndarray) -> Segmentation:
        return Segmentation((rgb[..., 1] > 120).astype(np.uint8), False)


def test_a_panorama_read_as_a_sliver_is_warned_of(tmp_path: Path) -> None:
    """A tray photo repeated 12 times side by side (8640 x 420) was segmented 39 px high: green fraction 0.006
    against 0.05, 1 plant against 192, and no word (``crop predict`` warned; session 94's sweep)."""
    from agriseg.crop.traits.inputs import Item
    from agriseg.crop.traits.runner import measure_item

    for name, shape in (("wide", (420, 8640)), ("tray", (420, 720))):
        Image.fromarray(np.zeros((*shape, 3), np.uint8)).save(tmp_path / f"{name}.png")
        rec, _, _ = measure_item(Item(name, photo=tmp_path / f"{name}.png"), TraitsConfig(), _Green())
        said = [w for w in rec["warnings"] if "where plants are specks" in w]
        assert len(said) == (name == "wide"), rec["warnings"]
    assert said == [] and "8640x420 px comes down to 39 px across at the model's working size (800 px)" in " ".join(
        w for w in measure_item(Item("wide", photo=tmp_path / "wide.png"), TraitsConfig(), _Green())[0]["warnings"]
    )


def test_a_thumbnail_enlarged_many_times_is_warned_of(tmp_path: Path) -> None:
    """crop predict warned of a 60 px photo enlarged 13 times to 800 px; crop traits measured it without a word
    (session 103's list; a 320 px photo at 10x: IoU 0.81 -> 0.58, benchmarks/crop_enlargement.py)."""
    from agriseg.crop.traits.inputs import Item
    from agriseg.crop.traits.runner import measure_item

    said = {}
    for name, side in (("thumb", 60), ("small", 200)):
        Image.fromarray(np.zeros((side, side, 3), np.uint8)).save(tmp_path / f"{name}.png")
        rec, _, _ = measure_item(Item(name, photo=tmp_path / f"{name}.png"), TraitsConfig(), _Green())
        said[name] = [w for w in rec["warnings"] if "enlarged" in w]
    assert said["small"] == [] and len(said["thumb"]) == 1, said
    assert "60x60 px enlarged 13 times to the model's working size (800 px)" in said["thumb"][0]


def test_plots_on_a_photo_with_a_regions_csv_equal_traits(tmp_path: Path) -> None:
    from agriseg.crop.config import PlotsConfig
    from agriseg.crop.traits.growth import photo_plots
    from agriseg.crop.traits.inputs import Item
    from agriseg.crop.traits.runner import measure_item

    photo = np.zeros((80, 120, 3), np.uint8)
    for c in (20, 60, 100):
        photo[disk((40, c), 9 + c // 20)] = (40, 160, 40)
    Image.fromarray(photo).save(tmp_path / "p.png")
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\na,0,0,40,80\nb,40,0,40,80\nc,80,0,40,80\n")

    def green(rgb: np.ndarray) -> Segmentation:
        return Segmentation((rgb[..., 1] > 120).astype(np.uint8), False)

    rows = photo_plots(tmp_path / "p.png", PlotsConfig(plots=str(tmp_path / "pots.csv")), green)  # type: ignore[arg-type]
    rec, _, _ = measure_item(
        Item("p", photo=tmp_path / "p.png"), TraitsConfig(regions=str(tmp_path / "pots.csv")), green
    )
    assert [r["plot_id"] for r in rows] == ["a", "b", "c"]
    for row, reg in zip(rows, rec["regions"], strict=True):
        assert row["plant_count"] == reg["plant_count"] == 1
        assert row["plant_area_px2"] == reg["plant_area"] and row["green_fraction"] == reg["green_fraction"]


def test_photo_plot_tables_keep_their_columns_when_a_photo_has_no_plant(tmp_path: Path) -> None:
    """A plant-free photo's table had 15 columns where the others had 26 (no model_sure, no colour): tables of
    one run concatenated out of line (session 71's sweep)."""
    from agriseg.crop.traits.plants import colour_traits
    from agriseg.crop.traits.regions import Region, region_columns, region_traits

    rows = region_traits([Region("a", 0, 0, 4, 4)], np.ones((4, 4), bool), [{"region": "a", "area": 16.0,
                         "model_sure": 1.0}], rgb=np.full((4, 4, 3), 90, np.uint8), gai=None)  # fmt: skip
    assert tuple(rows[0]) == region_columns() and set(colour_traits(np.ones((1, 3), np.uint8))) < set(rows[0])
    photo = np.zeros((60, 80, 3), np.uint8)
    photo[disk((30, 20), 9)] = (40, 160, 40)
    Image.fromarray(photo).save(tmp_path / "with.png")
    Image.fromarray(np.zeros_like(photo)).save(tmp_path / "bare.png")
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\na,0,0,40,60\nb,40,0,40,60\n")
    from click.testing import CliRunner

    from agriseg.cli import main

    args = [
        "crop",
        "plots",
        str(tmp_path / "with.png"),
        str(tmp_path / "bare.png"),
        "--plots",
        str(tmp_path / "pots.csv"),
    ]
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    headers = {p.name: p.read_text().splitlines()[0] for p in (tmp_path / "o").glob("*_plots.csv")}
    assert len(headers) == 2 and len(set(headers.values())) == 1, headers
    assert "model_sure" in headers["bare_plots.csv"] and "mean_hue_deg" in headers["bare_plots.csv"]


def test_plots_refuses_plot_id_with_a_regions_csv(tmp_path: Path) -> None:
    """--plot-id names a column of a plots vector file; with a regions CSV it would be silently ignored."""
    from click.testing import CliRunner

    from agriseg.cli import main

    Image.fromarray(np.zeros((80, 120, 3), np.uint8)).save(tmp_path / "p.png")
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\na,0,0,40,80\n")
    args = ["crop", "plots", str(tmp_path / "p.png"), "--plots", str(tmp_path / "pots.csv"), "-o", str(tmp_path / "o")]
    res = CliRunner().invoke(main, [*args, "--plot-id", "pot"])
    assert res.exit_code == 2 and "--plot-id: " in res.output and "is a regions CSV" in res.output, res.output


def test_a_mask_given_twice_is_a_usage_error(inputs: Path, tmp_path: Path) -> None:
    """The same file named twice (directly, or by a second name) is refused before anything is measured."""
    from agriseg.config import OptionError

    mask = inputs / "A1_20240601_mask.png"
    with pytest.raises(OptionError, match=r"A1_20240601_mask\.png: given twice$"):
        run_traits([mask, mask], tmp_path / "o", TraitsConfig())
    other = inputs / ".." / "in" / mask.name
    with pytest.raises(OptionError, match=r"given twice \(also as .*A1_20240601_mask\.png\)"):
        run_traits([inputs, other], tmp_path / "o", TraitsConfig())
    assert not (tmp_path / "o").exists()


def _dated_masks(d: Path, days: tuple[int, ...]) -> None:
    d.mkdir(exist_ok=True)
    for day in days:
        m = np.zeros((60, 120), np.uint8)
        m[disk((30, 30), 6 + day // 2, shape=m.shape)] = 255
        m[disk((30, 90), 4 + day // 2, shape=m.shape)] = 255
        Image.fromarray(m).save(d / f"tray_2024-06-{day:02d}_mask.png")


def test_a_resumed_run_of_moved_inputs_names_them_where_they_are_now(tmp_path: Path) -> None:
    """``mv in in2`` and the same command: every photo resumed, but traits.csv and traits.json named the old
    paths, which no longer exist (session 83's sweep)."""
    import csv

    d, out = tmp_path / "in", tmp_path / "out"
    _dated_masks(d, (1, 8))
    quiet = BatchOptions(progress=False)
    run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)
    moved = d.rename(tmp_path / "in2")
    recs = run_traits([moved], out, TraitsConfig(grid="1x2"), batch=quiet)
    assert [r["status"] for r in recs] == ["skipped", "skipped"]
    assert all(r["file"].startswith(str(moved)) and r["mask"].startswith(str(moved)) for r in recs)
    with (out / "traits.csv").open() as fh:
        assert {Path(r["file"]).parent for r in csv.DictReader(fh)} == {moved}


def test_a_rerun_with_other_settings_leaves_earlier_records_out_of_the_tables(tmp_path: Path) -> None:
    """Records measured with another scale are refused (kept, listed in traits.json) and never mixed into
    traits.csv or growth.csv; growth tables of an earlier run go when this run has under two dates."""
    d, out = tmp_path / "in", tmp_path / "out"
    _dated_masks(d, (1, 8))
    quiet = BatchOptions(progress=False)
    run_traits([d], out, TraitsConfig(grid="1x2", px_per_mm=2.0), batch=quiet)
    assert (out / "growth.csv").exists() and "mm2" in (out / "growth.csv").read_text().splitlines()[0]
    _dated_masks(d, (15,))
    recs = run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)  # the scale dropped: px now
    assert [r["status"] for r in recs] == ["kept", "kept", "ok"]
    with open(out / "traits.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["file"] for r in rows} == {str(d / "tray_2024-06-15_mask.png")}
    assert not (out / "growth.csv").exists() and not (out / "growth_wide.csv").exists()
    # the photos named (session 99's sweep: "photos measured with other settings" named none)
    assert (
        "2 photos measured with other settings (tray_2024-06-01_mask.png, tray_2024-06-08_mask.png) are "
        "listed in traits.json but left out of the tables" in recs.notes
    )
    assert [i["status"] for i in _strict(out / "traits.json")["images"]] == ["kept", "kept", "ok"]


def test_a_rerun_that_measures_nothing_leaves_the_earlier_tables(tmp_path: Path) -> None:
    """Every photo refused (one option changed): the earlier run's tables still describe the outputs in the
    folder, so they stay as they were (they were removed, and traits.csv rewritten as a header)."""
    d, out = tmp_path / "in", tmp_path / "out"
    _dated_masks(d, (1, 8))
    quiet = BatchOptions(progress=False)
    run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)
    before = {n: (out / n).read_bytes() for n in ("traits.csv", "traits.json", "growth.csv", "growth_wide.csv")}
    recs = run_traits([d], out, TraitsConfig(grid="1x2", min_plant_size=80), batch=quiet)
    assert [r["status"] for r in recs] == ["kept", "kept"]
    assert {n: (out / n).read_bytes() for n in before} == before
    assert any("left as an earlier run wrote them" in n for n in recs.notes)
    recs = run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)  # the first settings again: resumed
    assert [r["status"] for r in recs] == ["skipped", "skipped"] and (out / "growth.csv").read_bytes()


def test_plots_with_a_regions_csv_resumes(tmp_path: Path) -> None:
    """A second run of crop plots on photos with a regions CSV skips them (it raised IndexError)."""
    from click.testing import CliRunner

    from agriseg.cli import main

    photo = np.zeros((80, 120, 3), np.uint8)
    photo[..., 0], photo[..., 1], photo[..., 2] = 120, 90, 60
    photo[disk((40, 60), 15)] = (40, 160, 40)
    for day in (1, 8):
        Image.fromarray(photo).save(tmp_path / f"p_2024-06-0{day}.png")
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\na,0,0,60,80\nb,60,0,60,80\n")
    args = ["crop", "plots", str(tmp_path / "p_2024-06-01.png"), str(tmp_path / "p_2024-06-08.png")]
    args += ["--plots", str(tmp_path / "pots.csv"), "-o", str(tmp_path / "o")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "2 skipped" in again.output, again.output
    assert (tmp_path / "o" / "growth.csv").exists()


def test_growth_dates_stay_dates_and_rates_survive_a_resume(tmp_path: Path) -> None:
    """Two photos of one date and an undated photo are warned about, and no rate is taken to or from that date
    (the next date's came from whichever photo sorted last: another tray's, session 69's sweep); the date column
    holds dates only; plots resumed from their tables keep their growth rates (read back as numbers, ids as
    text)."""
    from click.testing import CliRunner

    from agriseg.cli import main

    photo = np.zeros((80, 120, 3), np.uint8)
    photo[..., 0], photo[..., 1], photo[..., 2] = 120, 90, 60
    names = ["a_2024-06-01", "a_2024-06-08", "b_2024-06-08", "a_2024-06-15", "a_2024-06-22", "nodate"]
    for i, n in enumerate(names):
        p = photo.copy()
        p[disk((40, 60), 8 + 2 * i)] = (40, 160, 40)
        Image.fromarray(p).save(tmp_path / f"{n}.png")
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\n007,0,0,120,80\n")
    args = ["crop", "plots", *[str(tmp_path / f"{n}.png") for n in names], "--plots", str(tmp_path / "pots.csv")]
    args += ["-o", str(tmp_path / "o")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "2 photos dated 2024-06-08" in first.output and "nodate.png: no date in its name" in first.output
    table = (tmp_path / "o" / "growth.csv").read_text()
    with open(tmp_path / "o" / "growth.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["date"] for r in rows] == ["2024-06-01", "2024-06-08", "2024-06-08", "2024-06-15", "2024-06-22", ""]
    assert {r["plot_id"] for r in rows} == {"007"}
    rates = [r["relative_growth_rate_per_day"] for r in rows]
    assert rates[:4] == ["", "", "", ""] and rates[4] != "" and rates[5] == ""
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "6 skipped" in again.output, again.output
    assert (tmp_path / "o" / "growth.csv").read_text() == table


def test_traits_of_predict_masks_carry_the_photos_model_sure(samples_dir: Path, tmp_path: Path) -> None:
    """A mask written by crop predict carries the photo's model_sure; crop traits reports it for the image."""
    from agriseg.crop.predict import predict_files
    from agriseg.crop.predictor import load_predictor

    photo = samples_dir / "peanut" / "images" / "0003.jpg"
    rows = predict_files(load_predictor("default"), [photo], tmp_path / "p", batch=BatchOptions(progress=False))
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "0003_mask.png").write_bytes((tmp_path / "p" / "0003_mask.png").read_bytes())
    recs = run_traits([masks], tmp_path / "t", TraitsConfig(), batch=BatchOptions(progress=False))
    assert recs[0]["image"]["model_sure"] == rows[0]["model_sure"] > 0.5
    assert all("model_sure" not in p for p in recs[0]["plants"])  # per plant it needs the model's probabilities
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(masks / "0003_mask.png")  # a mask of the user's own
    recs = run_traits([masks], tmp_path / "t2", TraitsConfig(), batch=BatchOptions(progress=False))
    assert "model_sure" not in recs[0]["image"]


def test_traits_growth_keeps_undated_and_warns_of_sizes(tmp_path: Path) -> None:
    """An undated photo goes into growth.csv after the dated ones with a warning (as in crop plots), not left
    out silently; photos of two sizes in one series are warned about; slow rates keep their digits."""
    d, out = tmp_path / "in", tmp_path / "out"
    _dated_masks(d, (1, 8))
    m = np.zeros((60, 120), np.uint8)
    m[disk((30, 30), 9, shape=m.shape)] = 255
    Image.fromarray(m).save(d / "extra_mask.png")
    recs = run_traits([d], out, TraitsConfig(grid="1x2"), batch=BatchOptions(progress=False))
    with open(out / "growth.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["date"] for r in rows if r["region_id"] == "1"] == ["2024-06-01", "2024-06-08", ""]
    assert any("extra_mask.png: no date in its name" in n for n in recs.notes), recs.notes
    assert not any("sizes" in n for n in recs.notes)
    big = np.zeros((120, 240), np.uint8)
    big[disk((60, 60), 20, shape=big.shape)] = 255
    Image.fromarray(big).save(d / "tray_2024-06-15_mask.png")
    recs = run_traits([d], tmp_path / "out2", TraitsConfig(grid="1x2"), batch=BatchOptions(progress=False))
    said = [n for n in recs.notes if "of 2 sizes" in n]
    assert len(said) == 1 and "240x120 px: tray_2024-06-15_mask.png" in said[0], recs.notes


def test_regions_over_undated_photos_say_why_there_are_no_growth_tables(tmp_path: Path) -> None:
    """US-style dates (tray_06-01-2024) are not read: crop traits wrote no growth tables and said nothing
    (session 69's sweep)."""
    d = tmp_path / "in"
    d.mkdir()
    for i, name in enumerate(("tray_06-01-2024", "tray_06-08-2024")):
        m = np.zeros((60, 120), np.uint8)
        m[disk((30, 30), 8 + i, shape=m.shape)] = 255
        Image.fromarray(m).save(d / f"{name}_mask.png")
    recs = run_traits([d], tmp_path / "out", TraitsConfig(grid="1x2"), batch=BatchOptions(progress=False))
    said = [n for n in recs.notes if n.startswith("warning: no growth tables")]
    assert said and "0 of the 2 photos with regions" in said[0], recs.notes
    assert not (tmp_path / "out" / "growth.csv").exists()
    one = run_traits([d / "tray_06-01-2024_mask.png"], tmp_path / "one", TraitsConfig(grid="1x2"),
                     batch=BatchOptions(progress=False))  # fmt: skip
    assert not any("no growth tables" in n for n in one.notes)  # one photo: no series expected
    plain = tmp_path / "plain"  # names with no date in them (0003, 0150): no series expected either (session 73)
    plain.mkdir()
    for name in ("0003", "0150"):
        (plain / f"{name}_mask.png").write_bytes((d / "tray_06-01-2024_mask.png").read_bytes())
    two = run_traits([plain], tmp_path / "two", TraitsConfig(grid="1x2"), batch=BatchOptions(progress=False))
    assert not any("no growth tables" in n for n in two.notes), two.notes


def test_crop_plots_of_photos_warns_of_sizes_and_trays_as_crop_traits_does(tmp_path: Path) -> None:
    """crop plots with a regions CSV gave growth tables over photos of two sizes, or of two trays, without the
    warnings crop traits gives of the same photos (session 69's sweep)."""
    from click.testing import CliRunner

    from agriseg.cli import main

    for name, (h, w) in (
        ("trayA_2024-06-01", (80, 120)),
        ("trayA_2024-06-08", (100, 150)),
        ("trayB_2024-06-08", (80, 120)),
    ):
        p = np.zeros((h, w, 3), np.uint8)
        p[..., 0], p[..., 1], p[..., 2] = 120, 90, 60
        p[disk((40, 60), 10, shape=p.shape[:2])] = (40, 160, 40)
        Image.fromarray(p).save(tmp_path / f"{name}.png")
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\n1,0,0,120,80\n", encoding="utf-8")
    args = ["crop", "plots", *sorted(map(str, tmp_path.glob("*.png"))), "--plots", str(tmp_path / "pots.csv")]
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "o"), "--meta", "tray_date"])
    assert res.exit_code == 0, res.output
    assert (
        "are of 2 sizes (120x80 px: trayA_2024-06-01.png, trayB_2024-06-08.png; 150x100 px: trayA_2024-06-08.png)"
        in res.output
    ), res.output
    assert "the photos differ in tray (trayA, trayB)" in res.output


def test_a_grid_found_elsewhere_on_one_date_is_warned_of() -> None:
    """The tray not found on one date: the grid spanned the whole photo there and growth.csv joined its pot ids
    with other pots' of the other dates without a word (session 69's sweep)."""
    from agriseg.crop.traits.runner import _grid_moves

    size = {"width": 800, "height": 400}
    recs = [
        {"file": "t_2024-06-01.jpg", "grid_box": [100, 50, 600, 300], "image": size},
        {"file": "t_2024-06-08.jpg", "grid_box": [104, 47, 596, 305], "image": size},  # moved a little: no warning
        {"file": "t_2024-06-15.jpg", "grid_box": [101, 52, 603, 298], "image": size},
    ]
    assert _grid_moves(recs, (3, 6)) == []
    # a photo of twice the size, the grid on the same pots (session 90's sweep: warned as lying elsewhere)
    double = {"file": "t_2024-06-16.jpg", "grid_box": [200, 100, 1200, 600], "image": {"width": 1600, "height": 800}}
    assert _grid_moves([*recs, double], (3, 6)) == []
    recs.append({"file": "t_2024-06-22.jpg", "grid_box": [0, 0, 800, 400], "image": size})  # the whole photo
    said = _grid_moves(recs, (3, 6))
    assert len(said) == 1 and "grid lies elsewhere on t_2024-06-22.jpg than" in said[0], said
    # two photos: each is off the middle of both; neither is "the other photos" (session 72's sweep)
    said = _grid_moves([recs[0], recs[-1]], (3, 6))
    assert len(said) == 1 and "lies in different places on t_2024-06-01.jpg, t_2024-06-22.jpg:" in said[0], said


def test_growth_rates_keep_six_significant_digits(tmp_path: Path) -> None:
    from agriseg.crop.traits.growth import write_growth

    regions = [[{"id": "1", "green_fraction": 0.0100}], [{"id": "1", "green_fraction": 0.010366}]]
    dated = [("2024-06-01", "a.png", regions[0]), ("2024-06-02", "b.png", regions[1])]
    write_growth(dated, tmp_path, "plot_id", value="green_fraction")
    with open(tmp_path / "growth.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[1]["green_fraction_change_per_day"]) == pytest.approx(0.000366)
    assert float(rows[1]["relative_growth_rate_per_day"]) == pytest.approx(0.0359461, rel=1e-5)


def test_growth_columns_name_their_units_and_write_yes_no_as_1_0(tmp_path: Path) -> None:
    """Every column of growth.csv states its unit (angles too), yes/no values read as in traits.csv (1 / 0), and a
    whole number is written without ".0" (session 90's sweep: 37.0 mm beside counts of 847)."""
    from agriseg.crop.traits.growth import write_growth

    rows = [{"id": "1", "plant_area": 10.0, "mean_hue": 95.5, "gai_saturated": False, "in_frame": np.bool_(True)}]
    write_growth([("2024-06-01", "a.png", rows)], tmp_path)
    with open(tmp_path / "growth.csv") as fh:
        row = next(csv.DictReader(fh))
    assert row["mean_hue_deg"] == "95.5" and row["plant_area_px2"] == "10" and "mean_hue" not in row
    assert (row["gai_saturated"], row["in_frame"]) == ("0", "1")


def test_a_missing_plots_file_is_a_usage_error(tmp_path: Path) -> None:
    """``crop plots --plots`` naming no file said every photo "has no CRS" (exit 1); it is a usage error."""
    from click.testing import CliRunner

    from agriseg.cli import main

    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "p.png")
    args = ["crop", "plots", str(tmp_path / "p.png"), "--plots", str(tmp_path / "nothere.gpkg")]
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "nothere.gpkg: plots file not found (--plots)" in res.output, res.output
    assert not (tmp_path / "o").exists()


def test_a_plots_file_that_is_no_vector_file_is_a_usage_error_and_a_photo_says_why_polygons_do_not_fit(
    tmp_path: Path,
) -> None:
    """Found by a bad-input sweep (session 58): a text file as --plots failed every mosaic in turn (exit 1), and
    polygons on a photo said only "has no CRS"."""
    import geopandas as gpd
    from click.testing import CliRunner
    from shapely.geometry import box

    from agriseg.cli import main

    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "p.png")
    (tmp_path / "plots.gpkg").write_text("not a geopackage")
    args = ["crop", "plots", str(tmp_path / "p.png"), "--plots", str(tmp_path / "plots.gpkg")]
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--plots " in res.output and "plots.gpkg: not a readable vector file" in res.output
    assert "It might help" not in res.output and not (tmp_path / "o").exists()
    gpd.GeoDataFrame({"id": ["a"]}, geometry=[box(0, 0, 1, 1)], crs=32633).to_file(tmp_path / "ok.gpkg")
    args = ["crop", "plots", str(tmp_path / "p.png"), "--plots", str(tmp_path / "ok.gpkg")]
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "o2")])
    assert res.exit_code == 1 and "p.png: has no CRS, so the polygons of ok.gpkg cannot be placed on it" in res.output


def test_masks_of_the_crop_weed_model_say_what_its_crop_is(tmp_path: Path) -> None:
    """`crop traits` of the class maps `crop predict --model crop-weed` wrote: the model is read from the PNG,
    so the record names the crop and warns when there is none of it but much weed, as for the photos."""
    from agriseg.crop.predict import _write_outputs, photo_outputs, read_model_name

    cls = np.zeros((60, 80), np.uint8)
    cls[disk((30, 40), 15, shape=cls.shape)] = 2  # weed only
    for model, folder in (("crop-weed", "cw"), ("my_model.onnx", "own")):
        out = photo_outputs(tmp_path / folder, "p", 3, False)
        out.mask.parent.mkdir()
        _write_outputs(out, np.zeros((60, 80, 3), np.uint8), cls, 0.9, model)
        assert read_model_name(out.classes) == model
    recs = run_traits(
        [tmp_path / "cw" / "p_classes.png"], tmp_path / "t1", TraitsConfig(), BatchOptions(progress=False)
    )
    assert recs[0]["image"]["crop"] == "peanut"
    assert any("found no peanut (the only crop it knows)" in w for w in recs[0]["warnings"])
    recs = run_traits(
        [tmp_path / "own" / "p_classes.png"], tmp_path / "t2", TraitsConfig(), BatchOptions(progress=False)
    )
    assert "crop" not in recs[0]["image"] and not [w for w in recs[0]["warnings"] if "only crop" in w]


def test_growth_warns_when_its_photos_are_of_other_plots(tmp_path: Path) -> None:
    """``--meta plot_date`` over A_2024-06-01, A_2024-06-08 and B_2024-06-15 computed plot B's rate from plot A's
    area without a word (session 62's sweep)."""
    d = tmp_path / "in"
    d.mkdir()
    m = np.zeros((60, 120), np.uint8)
    m[disk((30, 30), 9, shape=m.shape)] = 255
    for name in ("A_2024-06-01", "A_2024-06-08", "B_2024-06-15"):
        Image.fromarray(m).save(d / f"{name}_mask.png")
    cfg = TraitsConfig(grid="1x2", meta="plot_date")
    recs = run_traits([d], tmp_path / "out", cfg, batch=BatchOptions(progress=False))
    said = [n for n in recs.notes if "differ in plot" in n]
    assert len(said) == 1 and "(A, B)" in said[0] and "measure each plot into its own output folder" in said[0]
    (d / "B_2024-06-15_mask.png").unlink()
    recs = run_traits([d], tmp_path / "out2", cfg, batch=BatchOptions(progress=False))
    assert not [n for n in recs.notes if "differ in" in n], recs.notes


def test_a_table_edited_by_hand_is_not_written_over(tmp_path: Path) -> None:
    """Notes typed into growth_wide.csv (saved from a spreadsheet) were lost to the next run, which rewrote it."""
    from agriseg.batch import BatchOptions

    d, out = tmp_path / "in", tmp_path / "out"
    _dated_masks(d, (1, 8))
    quiet = BatchOptions(progress=False)
    run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)
    run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)  # its own tables: rewritten, no complaint
    with open(out / "growth_wide.csv", "a") as fh:
        fh.write("note,watered late\n")
    with pytest.raises(FileExistsError, match=r"growth_wide\.csv: changed since agriseg wrote it"):
        run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)
    assert (out / "growth_wide.csv").read_text().endswith("note,watered late\n")
    (out / "growth_wide.csv").rename(out / "mine.csv")
    recs = run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)
    assert [r["status"] for r in recs] == ["skipped", "skipped"] and (out / "growth_wide.csv").is_file()
    run_traits([d], out, TraitsConfig(grid="1x2"), batch=BatchOptions(overwrite=True, progress=False))


def test_a_file_of_yours_under_a_table_name_this_run_does_not_write_is_left_alone(tmp_path: Path) -> None:
    """A hand-made growth.csv beside the outputs of a run of one date: ``--overwrite`` deleted it ("removed ...
    an earlier run's table": the run writes no growth table), and a resumed run removed it too, after keeping a
    copy and saying both (session 93's sweep). Each run kept one more copy of it."""
    d, out = tmp_path / "in", tmp_path / "out"
    _dated_masks(d, (1,))
    quiet = BatchOptions(progress=False)
    out.mkdir()
    (out / "growth.csv").write_text("my notes\n")
    with pytest.raises(FileExistsError, match="not written by agriseg"):
        run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)
    recs = run_traits([d], out, TraitsConfig(grid="1x2"), batch=BatchOptions(overwrite=True, progress=False))
    assert (out / "growth.csv").read_text() == "my notes\n", recs.notes
    assert not any("removed" in n for n in recs.notes), recs.notes
    assert any("growth.csv: not written by this run, left as it was" in n for n in recs.notes), recs.notes
    for _ in range(2):  # resumed (agriseg's folder now): the file left where it is, said once, and no copy of it
        # kept (session 100's sweep: "kept as growth.earlier.csv" beside "left as it was")
        recs = run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)
        assert [r["status"] for r in recs] == ["skipped"] and (out / "growth.csv").read_text() == "my notes\n"
        assert not any("removed" in n or "kept as" in n for n in recs.notes), recs.notes
        assert sum("left as it was" in n for n in recs.notes) == 1, recs.notes
    assert not list(out.glob("growth.earlier*"))
    _dated_masks(d, (8,))  # two dates: growth.csv is this run's now, written over the copied file
    recs = run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)
    assert (out / "growth.csv").read_text().startswith("region_id"), recs.notes
    assert (out / "growth.earlier.csv").read_text() == "my notes\n"


def test_a_run_that_writes_no_table_keeps_no_copy_of_an_unstamped_one(tmp_path: Path) -> None:
    """A run refused for other settings (it writes no table) copied an unstamped traits.csv to
    traits.earlier.csv and said both "kept as" and "left as an earlier run wrote them" (the review)."""
    from agriseg.manifest import unseal_tables

    d, out = tmp_path / "in", tmp_path / "out"
    _dated_masks(d, (1, 8))
    run_traits([d], out, TraitsConfig(grid="1x2"), batch=BatchOptions(progress=False))
    unseal_tables([out / "traits.csv"])  # as an agriseg before table stamps left it
    recs = run_traits([d], out, TraitsConfig(grid="1x3"), batch=BatchOptions(progress=False))
    assert not list(out.glob("traits.earlier*")), recs.notes
    assert not any("kept as" in n for n in recs.notes), recs.notes


def test_traits_without_regions_leaves_crop_plots_growth_tables_alone(tmp_path: Path) -> None:
    """``crop traits`` without --grid / --regions (it writes no growth table) was refused over the growth.csv
    crop plots wrote in the folder; and a traits run's own growth tables are still removed by a re-run without
    regions."""
    from agriseg.manifest import MANIFEST, seal_tables

    d, out = tmp_path / "in", tmp_path / "out"
    _dated_masks(d, (1, 8))
    quiet = BatchOptions(progress=False)
    out.mkdir()
    (out / "growth.csv").write_text("plot_id,date\n")
    (out / MANIFEST).write_text(json.dumps({"command": "crop plots", "table": "growth.csv"}) + "\n")
    seal_tables([out / "growth.csv"])
    with pytest.raises(FileExistsError, match="written by `agriseg crop plots`"):
        run_traits([d], out, TraitsConfig(grid="1x2"), batch=quiet)  # it would write growth.csv: refused
    recs = run_traits([d], out, TraitsConfig(), batch=quiet)
    assert [r["status"] for r in recs] == ["ok", "ok"] and (out / "growth.csv").read_text() == "plot_id,date\n"
    assert not any("growth" in n for n in recs.notes), recs.notes
    own = tmp_path / "own"
    run_traits([d], own, TraitsConfig(grid="1x2"), batch=quiet)
    assert (own / "growth.csv").is_file()
    (d / "zz_2024-06-20_mask.png").write_bytes(b"not a mask")  # a run stopped at it (--strict): the review found
    with pytest.raises(Exception, match="zz_2024-06-20_mask.png"):  # its growth tables left, describing regions
        run_traits([d], own, TraitsConfig(), batch=BatchOptions(overwrite=True, strict=True, progress=False))
    assert not (own / "growth.csv").exists()  # the remade records no longer hold
    (d / "zz_2024-06-20_mask.png").unlink()
    run_traits([d], own, TraitsConfig(grid="1x2"), batch=BatchOptions(overwrite=True, progress=False))
    assert (own / "growth.csv").is_file()
    recs = run_traits([d], own, TraitsConfig(), batch=BatchOptions(overwrite=True, progress=False))
    assert not (own / "growth.csv").exists() and any("removed" in n for n in recs.notes), recs.notes
    run_traits([d], own, TraitsConfig(grid="1x2"), batch=BatchOptions(overwrite=True, progress=False))
    with open(own / "growth.csv", "a") as fh:  # yours now: a run without regions, which writes no growth table,
        fh.write("note,watered late\n")  # was refused over it (the second review)
    run_traits([d], own, TraitsConfig(), batch=BatchOptions(overwrite=True, progress=False))
    assert (own / "growth.csv").read_text().endswith("note,watered late\n")


def test_traits_csv_has_the_date_found_in_a_name(tmp_path: Path) -> None:
    """The date was read from the names (growth.csv has it) but traits.csv had no date column without --meta."""
    d, out = tmp_path / "in", tmp_path / "out"
    _dated_masks(d, (1, 8))
    run_traits([d], out, TraitsConfig(grid="1x2"), batch=BatchOptions(progress=False))
    with open(out / "traits.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:3] == ["file", "date", "level"]
    assert {r["date"] for r in rows} == {"2024-06-01", "2024-06-08"}


def test_the_grid_box_is_in_the_records_one_unit(tmp_path: Path) -> None:
    """With a scale every box of traits.json was in mm but grid_box, which stayed in px."""
    d, out = tmp_path / "in", tmp_path / "out"
    _dated_masks(d, (1,))
    recs = run_traits([d], out, TraitsConfig(grid="1x2", grid_box="0,0,120,60", px_per_mm=2.0),
                      batch=BatchOptions(progress=False))  # fmt: skip
    assert recs[0]["grid_box"] == [0.0, 0.0, 60.0, 30.0]
    recs = run_traits([d], tmp_path / "px", TraitsConfig(grid="1x2", grid_box="0,0,120,60"),
                      batch=BatchOptions(progress=False))  # fmt: skip
    assert recs[0]["grid_box"] == [0, 0, 120, 60]


def test_plant_density_is_per_megapixel_or_per_square_metre() -> None:
    """plant_density is plants per Mpx (pixels) or per m2 (mm): 2 plants on 100x100 px are 200 per Mpx, and at
    2 px/mm (2500 mm2) 800 per m2; a grid keeps the same density for the plants inside it."""
    from agriseg.crop.traits.runner import measure

    classes = np.zeros((100, 100), np.uint8)
    classes[20:40, 20:40] = 1
    classes[60:80, 60:80] = 1
    assert measure(classes, None, TraitsConfig()).image["plant_density"] == pytest.approx(200.0)
    assert measure(classes, None, TraitsConfig(), px_per_mm=2.0).image["plant_density"] == pytest.approx(800.0)
    gridded = measure(classes, None, TraitsConfig(grid="1x1", grid_box="0,0,50,50"))  # one plant inside the grid
    assert gridded.image["plant_count"] == 1 and gridded.image["plant_density"] == pytest.approx(100.0)


def test_plants_of_a_pot_are_numbered_top_to_bottom_then_left_to_right() -> None:
    """Plant ids ``<region>.<k>`` count a region's plants top to bottom: the upper plant of pot 1 is 1.1 even when
    it lies right of the lower one."""
    from agriseg.crop.traits.regions import Region
    from agriseg.crop.traits.runner import tie_plants

    labels = np.zeros((50, 50), np.int32)
    labels[5:10, 30:35] = 1  # upper right
    labels[30:35, 5:10] = 2  # lower left
    plants = [{"id": 1, "centroid_x": 32.0, "centroid_y": 7.0}, {"id": 2, "centroid_x": 7.0, "centroid_y": 32.0}]
    out, relabelled, outside = tie_plants([Region("1", 0, 0, 50, 50)], plants, labels, None)
    assert [(p["id"], p["centroid_y"]) for p in out] == [("1.1", 7.0), ("1.2", 32.0)]
    assert relabelled[7, 32] == 1 and relabelled[32, 7] == 2 and outside == 0


def test_join_applies_only_with_regions() -> None:
    """--join joins the pieces of one plant within a pot; without regions pieces 3 px apart stay two plants."""
    from agriseg.crop.traits.runner import measure

    classes = np.zeros((40, 60), np.uint8)
    classes[10:30, 10:25] = 1
    classes[10:30, 28:43] = 1  # 3 px apart, within the default join of 10 px
    assert measure(classes, None, TraitsConfig()).image["plant_count"] == 2
    assert measure(classes, None, TraitsConfig(grid="1x1", grid_box="0,0,60,40")).image["plant_count"] == 1


def test_a_grid_finer_than_its_box_is_refused_either_way_round() -> None:
    """A grid with more rows than the box has pixels of height (or more columns than of width) is refused; a
    grid that fits a wide, low box is not."""
    from agriseg.crop.traits.runner import measure

    classes = np.zeros((20, 20), np.uint8)
    for grid, box in (("3x1", "0,0,10,2"), ("1x3", "0,0,2,10")):
        with pytest.raises(ValueError, match="cells under 1 px"):
            measure(classes, None, TraitsConfig(grid=grid, grid_box=box))
    assert len(measure(classes, None, TraitsConfig(grid="2x5", grid_box="0,0,10,2", min_plant_size=2)).regions) == 10
    # cells smaller than a plant: --grid 300x600 for a 3x6 tray measured 180,000 empty cells, exit 0 (session 99)
    with pytest.raises(ValueError, match=r"cells of 2\.0x1\.0 px, smaller than a plant \(--min-plant-size 3 px\)"):
        measure(classes, None, TraitsConfig(grid="2x5", grid_box="0,0,10,2", min_plant_size=3))
    with pytest.raises(ValueError, match="is it the tray's rows x columns of pots"):
        measure(np.zeros((400, 700), np.uint8), None, TraitsConfig(grid="300x600"))


def test_dates_and_meta_are_read_from_the_files_own_name_and_folder_as_crop_plots_reads_them(tmp_path: Path) -> None:
    """Session 79's sweep: photos in dated folders (2024-06-01/IMG_0001.jpg) had no date in crop traits (no
    growth tables, no warning) where crop plots dated them; and with one name in two folders, --meta parsed
    the made-up output name (plant "A_P1", camera "cam2_jpg")."""
    quiet = BatchOptions(progress=False)
    for day, radius in (("2024-06-01", 8), ("2024-06-08", 12)):
        m = np.zeros((60, 120), np.uint8)
        m[disk((30, 30), radius, shape=m.shape)] = 255
        (tmp_path / "in" / day).mkdir(parents=True)
        Image.fromarray(m).save(tmp_path / "in" / day / "IMG_0001_mask.png")
        (tmp_path / day[-2:]).mkdir()
        Image.fromarray(m).save(tmp_path / day[-2:] / "P1_2024-06-01_cam2_mask.png")  # one name, two folders
    folders = [tmp_path / "in" / "2024-06-01", tmp_path / "in" / "2024-06-08"]
    recs = run_traits(folders, tmp_path / "out", TraitsConfig(grid="1x2"), batch=quiet)
    assert [r["date"] for r in recs] == ["2024-06-01", "2024-06-08"]
    with open(tmp_path / "out" / "growth.csv") as fh:
        assert [r["date"] for r in csv.DictReader(fh) if r["region_id"] == "1"] == ["2024-06-01", "2024-06-08"]
    cfg = TraitsConfig(meta="plant_date_camera")
    recs = run_traits([tmp_path / "01", tmp_path / "08"], tmp_path / "meta", cfg, batch=quiet)
    assert [r["name"] for r in recs] == ["01_P1_2024-06-01_cam2", "08_P1_2024-06-01_cam2"]  # told apart
    assert [r["meta"] for r in recs] == [{"plant": "P1", "date": "2024-06-01", "camera": "cam2"}] * 2


def test_plots_measures_a_predict_mask_as_a_mask_not_as_a_photo(tmp_path: Path) -> None:
    """crop plots with a regions CSV segmented <name>_mask.png files as photos (greyscale ones) and gave other
    numbers than crop traits of the same masks, with exit 0 (session 79's sweep)."""
    from agriseg.crop.config import PlotsConfig
    from agriseg.crop.traits.growth import photo_plots
    from agriseg.crop.traits.inputs import Item
    from agriseg.crop.traits.runner import measure_item

    m = np.zeros((80, 120), np.uint8)
    m[disk((40, 20), 9, shape=m.shape)] = 255
    m[disk((40, 90), 14, shape=m.shape)] = 255
    Image.fromarray(m).save(tmp_path / "p_mask.png")
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\na,0,0,60,80\nb,60,0,60,80\n")

    def no_model(rgb: np.ndarray) -> Segmentation:
        raise AssertionError("a mask is not segmented")

    rows = photo_plots(tmp_path / "p_mask.png", PlotsConfig(plots=str(tmp_path / "pots.csv")), no_model)  # type: ignore[arg-type]
    rec, _, _ = measure_item(
        Item("p", mask=tmp_path / "p_mask.png"), TraitsConfig(regions=str(tmp_path / "pots.csv")), no_model
    )
    assert (
        [r["plant_area_px2"] for r in rows]
        == [r["plant_area"] for r in rec["regions"]]
        == [
            int((m[:, :60] > 0).sum()),
            int((m[:, 60:] > 0).sum()),
        ]
    )


def test_a_rerun_that_refuses_photos_says_what_its_tables_lost(tmp_path: Path) -> None:
    """Edited copies of dated photos in a new folder, with a third date: the two were refused (made from
    another file), growth.csv, growth_wide.csv and growth.png of the earlier run vanished without a word and
    traits.csv shrank to the new photo (session 82's sweep of the tray workflow)."""
    import shutil

    from click.testing import CliRunner

    from agriseg.cli import main

    photo = np.zeros((80, 120, 3), np.uint8)
    photo[..., 0], photo[..., 1], photo[..., 2] = 120, 90, 60
    first_dir, second_dir = tmp_path / "in1", tmp_path / "in2"
    first_dir.mkdir()
    for i, day in enumerate((1, 8)):
        p = photo.copy()
        p[disk((40, 60), 10 + 4 * i)] = (40, 160, 40)
        Image.fromarray(p).save(first_dir / f"p_2024-06-0{day}.png")
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\na,0,0,60,80\nb,60,0,60,80\n")
    out = tmp_path / "o"
    base = ["crop", "traits", "--regions", str(tmp_path / "pots.csv"), "-o", str(out)]
    assert CliRunner().invoke(main, [*base[:2], str(first_dir), *base[2:]]).exit_code == 0
    assert (out / "growth.csv").exists()
    second_dir.mkdir()
    for f in first_dir.iterdir():  # new files of the same names (other content): other inputs to the fingerprints
        edited = np.asarray(Image.open(f)).copy()
        edited[0, 0] = 0
        Image.fromarray(edited).save(second_dir / f.name)
    shutil.copy(second_dir / "p_2024-06-08.png", second_dir / "p_2024-06-15.png")
    res = CliRunner().invoke(main, [*base[:2], str(second_dir), *base[2:]])
    assert res.exit_code == 1
    assert f"removed {out / 'growth.csv'}, growth_wide.csv, growth.png: an earlier run's tables" in res.output
    assert "the tables leave out 2 photos whose earlier outputs stand (p_2024-06-01.png, p_2024-06-08.png" in (
        " ".join(res.output.split())
    )


def test_an_earlier_runs_pictures_in_an_input_folder_are_not_photos(tmp_path: Path) -> None:
    """``crop traits out1 in1 -o out2``: out1's growth.png was measured as a photo (a growth column named
    after it) and its _plants.png pictures too; in -o itself they were already left out."""
    from click.testing import CliRunner

    from agriseg.cli import main

    photo = np.zeros((80, 120, 3), np.uint8)
    photo[..., 0], photo[..., 1], photo[..., 2] = 120, 90, 60
    (tmp_path / "in").mkdir()
    for i, day in enumerate((1, 8)):
        p = photo.copy()
        p[disk((40, 60), 10 + 4 * i)] = (40, 160, 40)
        Image.fromarray(p).save(tmp_path / "in" / f"p_2024-06-0{day}.png")
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\na,0,0,60,80\nb,60,0,60,80\n")
    regions = ["--regions", str(tmp_path / "pots.csv")]
    first = CliRunner().invoke(main, ["crop", "traits", str(tmp_path / "in"), *regions, "-o", str(tmp_path / "o1")])
    assert first.exit_code == 0 and (tmp_path / "o1" / "growth.png").exists(), first.output
    args = ["crop", "traits", str(tmp_path / "o1"), str(tmp_path / "in"), *regions, "-o", str(tmp_path / "o2")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "2 measured" in res.output, res.output
    assert "5 files written by an earlier agriseg run (pictures, charts) were not read as inputs" in res.output
    # its own mask given alone: said to be an output (it was "no photos or masks to measure"; session 107's sweep)
    mask = tmp_path / "o1" / "p_2024-06-01_mask.png"
    res = CliRunner().invoke(main, ["crop", "traits", str(mask), "-o", str(tmp_path / "o3")])
    assert res.exit_code == 2 and f"{mask}: written by an earlier agriseg run (a mask, picture or table of its " in (
        " ".join(res.output.split())
    ), res.output


def test_plots_of_undated_photos_make_no_growth_chart(tmp_path: Path) -> None:
    """crop plots drew an empty chart titled "no dates" (x axis -0.045 to 0.045 days) from two undated photos,
    where crop traits writes no growth tables."""
    from click.testing import CliRunner

    from agriseg.cli import main

    photo = np.zeros((80, 120, 3), np.uint8)
    photo[..., 0], photo[..., 1], photo[..., 2] = 120, 90, 60
    photo[disk((40, 60), 15)] = (40, 160, 40)
    for n in ("a", "b", "tray_06-01-2024", "tray_06-02-2024"):
        Image.fromarray(photo).save(tmp_path / f"{n}.png")
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\np,0,0,120,80\n")
    plain = ["crop", "plots", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--plots", str(tmp_path / "pots.csv")]
    res = CliRunner().invoke(main, [*plain, "-o", str(tmp_path / "p")])
    # names that hold no date (a, b) are no series: no warning, as crop traits (session 98's sweep)
    assert res.exit_code == 0 and "no growth tables" not in res.output, res.output
    assert not (tmp_path / "p" / "growth.png").exists() and not (tmp_path / "p" / "growth.csv").exists()
    args = [*plain[:2], str(tmp_path / "tray_06-01-2024.png"), str(tmp_path / "tray_06-02-2024.png"), *plain[4:]]
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "warning: no growth tables: 0 of the 2 photos have a date in their names (tray_06-01-2024.png" in res.output
    assert not (tmp_path / "o" / "growth.png").exists() and not (tmp_path / "o" / "growth.csv").exists()
    import subprocess
    import sys

    # -q: no warnings (it printed); in a process of its own, as -q quiets the whole process
    quiet = subprocess.run(
        [sys.executable, "-m", "agriseg", "-q", *args, "-o", str(tmp_path / "q")], capture_output=True, text=True
    )
    assert quiet.returncode == 0 and "no growth tables" not in quiet.stdout + quiet.stderr, quiet.stderr


def test_a_frame_counter_in_the_names_is_not_taken_for_other_trays(tmp_path: Path) -> None:
    """``--meta cam_seq_date`` over IMG_0001_20240601, IMG_0002_20240608, ...: "the photos differ in seq; measure
    each seq into its own output folder" (a camera's counter differs in every photo; a tray repeats)."""
    d = tmp_path / "in"
    d.mkdir()
    m = np.zeros((60, 120), np.uint8)
    m[disk((30, 30), 9, shape=m.shape)] = 255
    for seq, day in (("0001", "01"), ("0002", "08"), ("0003", "15")):
        Image.fromarray(m).save(d / f"IMG_{seq}_202406{day}_mask.png")
    recs = run_traits([d], tmp_path / "out", TraitsConfig(grid="1x2", meta="cam_seq_date"),
                      batch=BatchOptions(progress=False))  # fmt: skip
    assert not [n for n in recs.notes if "differ in" in n], recs.notes
    assert (tmp_path / "out" / "growth.csv").exists()


def test_names_that_hold_no_real_date_are_named(tmp_path: Path) -> None:
    """tray_2024-02-30.jpg and tray_2024-13-01.jpg: "no growth tables: 0 of the 3 photos has a date", the files
    and their dates unnamed (session 82's tray sweep)."""
    d = tmp_path / "in"
    d.mkdir()
    m = np.zeros((60, 120), np.uint8)
    m[disk((30, 30), 9, shape=m.shape)] = 255
    for name in ("tray_2024-02-30", "tray_2024-13-01"):
        Image.fromarray(m).save(d / f"{name}_mask.png")
    recs = run_traits([d], tmp_path / "out", TraitsConfig(grid="1x2"), batch=BatchOptions(progress=False))
    said = [n for n in recs.notes if "no growth tables" in n]
    assert len(said) == 1 and "(tray_2024-02-30_mask.png, tray_2024-13-01_mask.png: no date read;" in said[0]


def test_a_users_file_named_like_a_table_or_a_picture_is_never_removed_nor_skipped(inputs: Path) -> None:
    """Session 84's sweep: a photo called growth.png in the folder given as -o was removed by --overwrite (the
    run clears its tables first) and, once a run had written there, skipped as the chart; a user's
    peanut_plants.jpg was skipped as agriseg's picture of plants, and their field_plants.png replaced."""
    from agriseg.data.files import OutputIsInput

    chart = inputs / "growth.png"
    Image.open(inputs / "A1_20240601.png").save(chart)
    before = chart.read_bytes()
    for overwrite in (True, False):
        with pytest.raises(OutputIsInput, match=r"growth.png: is one of the inputs .* choose another output folder"):
            grid = TraitsConfig(grid="1x2")  # a run that writes growth tables (one without regions writes none)
            run_traits([inputs], inputs, grid, batch=BatchOptions(overwrite=overwrite, progress=False))
        assert chart.read_bytes() == before
    from agriseg.crop.traits.inputs import pair_inputs

    d = inputs.parent / "users"
    d.mkdir()
    names = ["peanut_plants.jpg", "plot3_overlay.jpg", "field.jpg"]
    assert [it.photo.name for it in pair_inputs([d / n for n in names]) if it.photo] == names  # all photos


def test_a_meta_template_naming_a_column_or_a_file_is_a_usage_error() -> None:
    """``--meta id_date_camera`` wrote two ``id`` columns into traits.csv (the plot id lost); ``--meta meta.csv``
    failed every photo as "does not match the template" (session 84's sweep)."""
    from agriseg.config import OptionError
    from agriseg.crop.traits.meta import check_template
    from agriseg.crop.traits.runner import CSV_FIELDS

    for template in ("id_date_camera", "plot_date_Unit"):
        with pytest.raises(OptionError, match=r"is a column of the table already"):
            check_template(template, reserved=CSV_FIELDS)
    check_template("plot_date_camera", reserved=CSV_FIELDS)
    for template in ("meta.csv", "plot_date_camera.jpg"):
        with pytest.raises(OptionError, match=r"a template of the photos' names .*not a file"):
            check_template(template)


def test_photos_named_by_their_camera_are_dated_by_exif(tmp_path: Path) -> None:
    """Session 85's traits sweep: IMG_0001.jpg ... with their EXIF DateTimeOriginal were undated (no growth
    tables, not a word why); a name's own date still comes first."""
    photo = np.zeros((80, 120, 3), np.uint8)
    photo[..., 0], photo[..., 1], photo[..., 2] = 120, 90, 60
    stamps = {
        "IMG_0001": "2026:05:03 10:00:00",
        "IMG_0002": "2026:05:10 10:30:00",
        "tray_2026-05-17": "2020:01:01 00:00:00",
    }
    for i, (name, stamp) in enumerate(stamps.items()):
        p = photo.copy()
        p[disk((40, 60), 10 + 3 * i)] = (40, 160, 40)
        exif = Image.Exif()
        exif.get_ifd(0x8769)[36867] = stamp
        Image.fromarray(p).save(tmp_path / f"{name}.jpg", exif=exif, quality=95)
    config = TraitsConfig(grid="1x1", grid_box="0,0,120,80")
    recs = run_traits([tmp_path], tmp_path / "o", config, batch=BatchOptions(progress=False))
    assert {r["name"]: r["date"] for r in recs} == {
        "IMG_0001": "2026-05-03T10:00:00",
        "IMG_0002": "2026-05-10T10:30:00",
        "tray_2026-05-17": "2026-05-17",
    }
    assert (tmp_path / "o" / "growth.csv").is_file()


def test_the_meta_field_named_date_dates_the_photo(tmp_path: Path) -> None:
    """Session 85's traits sweep: with --meta plant_sowdate_date every photo was dated by its sowing date."""
    photo = np.zeros((60, 80, 3), np.uint8)
    photo[20:40, 30:50] = (40, 160, 40)
    for day in ("20260503", "20260510"):
        Image.fromarray(photo).save(tmp_path / f"A12_20260401_{day}.png")
    recs = run_traits(
        [tmp_path], tmp_path / "o", TraitsConfig(meta="plant_sowdate_date"), batch=BatchOptions(progress=False)
    )
    assert sorted(r["date"] for r in recs) == ["2026-05-03", "2026-05-10"]
    assert all(r["meta"]["sowdate"] == "2026-04-01" for r in recs)


def test_a_run_where_every_photo_fails_keeps_the_failures_in_traits_json(tmp_path: Path) -> None:
    """Session 85's traits sweep: with every input failing, the folder held only agriseg's manifest files, not
    the traits.json the docs say keeps each failure with its error."""
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    recs = run_traits([tmp_path], tmp_path / "o", TraitsConfig(), batch=BatchOptions(progress=False))
    assert [r["status"] for r in recs] == ["error", "error"]
    saved = _strict(tmp_path / "o" / "traits.json")["images"]
    assert [(Path(r["file"]).name, r["status"]) for r in saved] == [("empty.jpg", "error"), ("text.jpg", "error")]
    assert "empty file (0 bytes)" in saved[0]["error"]


def _grey_photo_and_mask(folder: Path, stem: str) -> Path:
    """A greyscale photo ``<stem>.png`` in ``folder`` and its mask in ``folder/m`` (returned): one 10 x 10 plant."""
    Image.fromarray(np.full((40, 60), 120, np.uint8)).save(folder / f"{stem}.png")
    masks = folder / "m"
    masks.mkdir()
    mask = np.zeros((40, 60), np.uint8)
    mask[10:20, 10:20] = 1
    Image.fromarray(mask).save(masks / f"{stem}_mask.png")
    return masks


def test_a_masks_warnings_name_its_photo(tmp_path: Path) -> None:
    """Session 85's traits sweep: a greyscale photo measured with its mask was said as "<mask>: a greyscale
    photo"."""
    masks = _grey_photo_and_mask(tmp_path, "g_2026-05-03")
    recs = run_traits([masks, tmp_path / "g_2026-05-03.png"], tmp_path / "o", TraitsConfig(),
                      batch=BatchOptions(progress=False))  # fmt: skip
    said = [n for n in recs.notes if "not to trust" in n]
    assert said and all(n.startswith(f"warning: {tmp_path / 'g_2026-05-03.png'}: ") for n in said), recs.notes


def _tray_photo(path: Path) -> Path:
    a = np.full((300, 480, 3), (40, 60, 160), np.uint8)  # a blue mat, one green plant
    a[100:150, 100:150] = (40, 160, 40)
    Image.fromarray(a).save(path)
    return path


def test_regions_all_outside_a_photo_fail_it(tmp_path: Path) -> None:
    """Session 89's traits sweep: a regions file of another photo size (every region outside) measured every photo
    as done, exit 0, with empty growth tables."""
    photo = _tray_photo(tmp_path / "tray.jpg")
    regions = tmp_path / "r.csv"
    regions.write_text("id,x,y,width,height\n1,1000,1000,50,50\n2,2000,0,10,10\n")
    rows = run_traits([photo], tmp_path / "o", TraitsConfig(regions=str(regions)), batch=BatchOptions(progress=False))
    assert [r["status"] for r in rows] == ["error"]
    assert "every region of" in rows[0]["error"] and "lies outside the 480x300 image" in rows[0]["error"]
    regions.write_text("id,x,y,width,height\n1,1000,1000,50,50\n2,0,0,100,100\n")  # one inside: measured
    rows = run_traits([photo], tmp_path / "p", TraitsConfig(regions=str(regions)), batch=BatchOptions(progress=False))
    assert [r["status"] for r in rows] == ["ok"]


def test_an_output_that_is_another_photo_names_the_photo_that_failed(tmp_path: Path) -> None:
    """Session 89's traits sweep: pot.jpg, whose picture pot_plants.png is another photo of the folder, failed as
    "failed: pot_plants.png: is one of the inputs", though pot_plants.png was measured."""
    import subprocess
    import sys

    folder = tmp_path / "w"
    folder.mkdir()
    _tray_photo(folder / "pot.jpg")
    _tray_photo(folder / "pot_plants.png")
    res = subprocess.run([sys.executable, "-m", "agriseg", "crop", "traits", str(folder), "-o", str(folder)],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"failed: {folder / 'pot.jpg'}: its output {folder / 'pot_plants.png'}: is one of the inputs" in (
        res.stdout + res.stderr
    )


def test_a_blank_frame_is_said_as_one_not_as_a_grey_photo(tmp_path: Path) -> None:
    """Session 89's traits sweep: a black frame was said to be "a greyscale photo", where its quality said no
    texture and underexposed."""
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(tmp_path / "black.png")
    rows = run_traits([tmp_path / "black.png"], tmp_path / "o", TraitsConfig(), batch=BatchOptions(progress=False))
    said = [n for n in rows.notes if "black.png" in n and "not to trust" in n]  # (and that it was enlarged 10x)
    assert said and "no texture" in said[0] and "underexposed" in said[0] and "greyscale" not in said[0], said
    assert not any("greyscale" in n for n in rows.notes if "black.png" in n)


def test_an_impossible_date_is_named_and_sizes_are_said_in_pixels_with_a_scale(tmp_path: Path) -> None:
    """Session 89's traits sweep: tray_2024-02-30.jpg was said to have "no date in its name"; with --px-per-mm 2
    the photo sizes of growth.csv were said in mm without a unit (240x150: a user reads pixels)."""
    for name, size in (
        ("tray_2024-06-01", (300, 480)),
        ("tray_2024-06-08", (400, 640)),
        ("tray_2024-02-30", (300, 480)),
    ):
        a = np.full((*size, 3), (40, 60, 160), np.uint8)
        a[100:150, 100:150] = (40, 160, 40)
        Image.fromarray(a).save(tmp_path / f"{name}.png")
    rows = run_traits(sorted(tmp_path.glob("*.png")), tmp_path / "o", TraitsConfig(px_per_mm=2.0, grid="1x1"),
                      batch=BatchOptions(progress=False))  # fmt: skip
    said = "\n".join(rows.notes)
    assert "tray_2024-02-30.png: 2024-02-30 in its name is no date (a typo?)" in said, said
    assert "(480x300 px: tray_2024-02-30.png, tray_2024-06-01.png; 640x400 px: tray_2024-06-08.png)" in said, said


def test_a_regions_csv_keeps_its_own_columns_in_the_plots_table(tmp_path: Path) -> None:
    """Session 89's traits sweep: `crop plots photo --plots pots.csv` dropped the file's genotype column (the
    README says a plots file's own columns are kept); a column named like a trait is kept apart."""
    import subprocess
    import sys

    photo = _tray_photo(tmp_path / "tray.jpg")
    pots = tmp_path / "pots.csv"
    pots.write_text("ID,x,y,width,height,genotype,status\n1,40,30,133,120,WT,sown\n2,173,30,134,120,mut,late\n")
    cmd = [
        sys.executable,
        "-m",
        "agriseg",
        "crop",
        "plots",
        str(photo),
        "--plots",
        str(pots),
        "-o",
        str(tmp_path / "o"),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    with open(tmp_path / "o" / "tray_plots.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["plot_id"], r["genotype"], r["status (plots file)"]) for r in rows] == [
        ("1", "WT", "sown"), ("2", "mut", "late")
    ]  # fmt: skip
    assert rows[0]["status"] in ("ok", "empty")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)  # the same run again: resumed
    assert res.returncode == 0 and "0 measured, 1 skipped" in res.stdout, res.stdout + res.stderr


def test_crop_traits_keeps_the_regions_csvs_own_columns_in_every_table(tmp_path: Path) -> None:
    """Session 90's traits sweep: `crop traits --regions pots.csv` dropped its genotype column from traits.csv,
    growth.csv, growth_wide.csv and the records, where `crop plots` kept it; a column named like one of the
    table's is kept apart."""
    import json
    import subprocess
    import sys

    (tmp_path / "in").mkdir()
    for day in ("2024-06-01", "2024-06-08"):
        _tray_photo(tmp_path / "in" / f"tray_{day}.jpg")
    pots = tmp_path / "pots.csv"
    pots.write_text("id,x,y,width,height,genotype,trait\n1,40,30,133,120,WT,a\n2,173,30,134,120,mut,b\n")
    cmd = [sys.executable, "-m", "agriseg", "crop", "traits", str(tmp_path / "in"), "--regions", str(pots),
           "-o", str(tmp_path / "o")]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = tmp_path / "o"
    with open(out / "traits.csv", newline="") as fh:
        long = [r for r in csv.DictReader(fh) if r["level"] == "region" and r["trait"] == "plant_count"]
    assert {(r["id"], r["genotype"], r["trait (regions file)"]) for r in long} == {("1", "WT", "a"), ("2", "mut", "b")}
    with open(out / "growth.csv", newline="") as fh:
        assert {(r["region_id"], r["genotype"]) for r in csv.DictReader(fh)} == {("1", "WT"), ("2", "mut")}
    with open(out / "growth_wide.csv", newline="") as fh:
        wide = list(csv.DictReader(fh))
    assert list(wide[0])[:2] == ["region_id", "genotype"] and [r["genotype"] for r in wide] == ["WT", "mut"]
    record = json.loads((out / "tray_2024-06-01_traits.json").read_text())
    assert record["regions"][0]["columns"] == {"genotype": "WT", "trait": "a"}


def test_an_earlier_output_of_regions_all_outside_is_not_resumed(tmp_path: Path, monkeypatch) -> None:
    """Session 89's review: outputs written before a photo with every region outside failed were resumed as
    measured by a re-run; they are made again (and fail now)."""
    import agriseg.crop.traits.runner as runner

    photo = _tray_photo(tmp_path / "tray.jpg")
    regions = tmp_path / "r.csv"
    regions.write_text("id,x,y,width,height\n1,1000,1000,50,50\n")
    real = runner.measured_regions

    def before(config, rgb, vegetation):  # noqa: ANN001, ANN202 - agriseg before session 89: measured, not failed
        from agriseg.crop.traits.regions import read_regions

        return read_regions(config.regions), None, []

    cfg = TraitsConfig(regions=str(regions))
    with monkeypatch.context() as m:
        m.setattr(runner, "measured_regions", before)
        rows = run_traits([photo], tmp_path / "o", cfg, batch=BatchOptions(progress=False))
    assert [r["status"] for r in rows] == ["ok"]
    assert runner.measured_regions is real
    rows = run_traits([photo], tmp_path / "o", cfg, batch=BatchOptions(progress=False))
    assert [r["status"] for r in rows] == ["error"] and "lies outside" in rows[0]["error"]


def test_the_photos_of_masks_given_alone_come_from_the_photos_folder(tmp_path: Path) -> None:
    """Session 90's API sweep: ``run_traits(masks, out, {"photos": folder})`` read no photo (no colour traits),
    and a folder that is not there passed too."""
    from agriseg.config import OptionError
    from agriseg.crop import run_traits

    (tmp_path / "photos").mkdir()
    _tray_photo(tmp_path / "photos" / "tray.jpg")
    mask = np.zeros((300, 480), np.uint8)
    mask[100:150, 100:150] = 255
    (tmp_path / "masks").mkdir()
    Image.fromarray(mask).save(tmp_path / "masks" / "tray_mask.png")

    def colour(out: str, settings: dict) -> bool:
        run_traits(tmp_path / "masks", tmp_path / out, settings)
        with open(tmp_path / out / "traits.csv", newline="") as fh:
            return any(r["trait"] == "mean_g" for r in csv.DictReader(fh))

    assert not colour("alone", {}) and colour("with", {"photos": str(tmp_path / "photos")})
    with pytest.raises(OptionError, match="photos: .*nope is not a folder"):
        run_traits(tmp_path / "masks", tmp_path / "x", {"photos": str(tmp_path / "nope")})


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"reference_box": "0,0,10,10"}, "--reference-box and --reference-mm go together"),
        ({"grid": "2x3", "regions": "r.csv"}, "use --grid or --regions, not both"),
        ({"grid_box": "0,0,10,10"}, "--grid-box goes with --grid"),
    ],
)
def test_options_missing_their_partner_are_refused_from_python_too(tmp_path: Path, settings: dict, says: str) -> None:
    """Session 90's API sweep: ``run_traits(..., {"reference_box": ...})`` measured in pixels without a word (the
    command line's check only)."""
    from agriseg.config import OptionError
    from agriseg.crop import run_traits

    with pytest.raises(OptionError, match=re.escape(says)):
        run_traits(tmp_path, tmp_path / "o", settings)
    assert not (tmp_path / "o").exists()


def test_a_regions_files_column_named_like_a_tables_is_kept_apart(tmp_path: Path) -> None:
    """Session 90's review: a regions-file column named region_id replaced the id in growth_wide.csv, one named
    like a rate was overwritten in growth.csv, and ``long_rows`` of one record let one replace a --meta field."""
    from agriseg.crop.traits.growth import write_growth
    from agriseg.crop.traits.runner import long_rows

    cols = {"region_id": "X", "relative_growth_rate_per_day": "own", "genotype": "G1"}
    regions = [[{"id": "1", "plant_area": a, "columns": cols}] for a in (10.0, 20.0)]
    write_growth([("2024-06-01", "a.png", regions[0]), ("2024-06-02", "b.png", regions[1])], tmp_path)
    with open(tmp_path / "growth_wide.csv", newline="") as fh:
        (wide,) = list(csv.DictReader(fh))
    assert wide["region_id"] == "1" and wide["region_id (regions file)"] == "X" and wide["genotype"] == "G1"
    with open(tmp_path / "growth.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[1]["relative_growth_rate_per_day"] not in ("", "own")
    assert rows[1]["relative_growth_rate_per_day (regions file)"] == "own"
    record = {"file": "a.png", "name": "a", "meta": {"genotype": "M"}, "image": {}, "plants": [],
              "regions": [{"id": "1", "plant_count": 1, "columns": {"genotype": "G1", "value": "v"}}]}  # fmt: skip
    (row,) = long_rows(record)
    assert (row["genotype"], row["genotype (regions file)"], row["value"], row["value (regions file)"]) == (
        "M",
        "G1",
        1,
        "v",
    )


def test_the_pictures_of_a_georeferenced_mask_keep_its_georeference(tmp_path: Path) -> None:
    """``crop traits`` of a GeoTIFF (or of the mask ``crop predict`` wrote of one, with its .aux.xml) wrote
    ``_mask.png`` and ``_plants.png`` with no georeference, where predict's lie over the mosaic (session 97)."""
    import rasterio
    from rasterio.transform import from_origin

    from agriseg.raster.image import georef_sidecar, read_georef

    d, out = tmp_path / "in", tmp_path / "out"
    d.mkdir()
    m = np.zeros((60, 80), np.uint8)
    m[disk((30, 40), 10, shape=m.shape)] = 255
    geo = dict(crs="EPSG:32617", transform=from_origin(500000, 4000000, 0.01, 0.01))
    with rasterio.open(d / "tif_mask.tif", "w", driver="GTiff", height=60, width=80, count=1, dtype="uint8",
                       **geo) as ds:  # fmt: skip
        ds.write(m, 1)
    Image.fromarray(m).save(d / "png_mask.png")
    (d / "png_mask.png.aux.xml").write_text(georef_sidecar(read_georef(d / "tif_mask.tif")))
    Image.fromarray(m).save(d / "plain_mask.png")
    assert run_traits([d], out, TraitsConfig(), batch=BatchOptions(progress=False)).exit_code == 0
    for name in ("tif", "png"):  # named as the photo the mask is of
        for picture in ("mask", "plants"):
            with rasterio.open(out / f"{name}_{picture}.png") as ds:
                assert ds.crs == geo["crs"] and ds.transform == geo["transform"] and ds.shape == (60, 80)
    assert not list(out.glob("plain*.aux.xml"))


def test_a_photo_turned_by_its_exif_orientation_gives_no_sidecar_of_the_unturned_grid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A JPEG with an .aux.xml and EXIF orientation 6 is read upright (80x120) while GDAL's grid is 120x80: its
    outputs got the sidecar of the unturned grid, lying rotated and stretched in a GIS (session 97's review)."""
    from rasterio.transform import from_origin

    from agriseg.raster.image import GeoRef, georef_sidecar, sidecar_of

    geo = georef_sidecar(GeoRef("EPSG:32617", tuple(from_origin(500000, 4000000, 0.01, 0.01))[:6]))
    for name, orientation in (("upright.jpg", 1), ("turned.jpg", 6)):
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.new("RGB", (120, 80), (90, 140, 60)).save(tmp_path / name, exif=exif.tobytes())
        (tmp_path / f"{name}.aux.xml").write_text(geo)
    assert "<GeoTransform>" in sidecar_of(tmp_path / "upright.jpg")
    with caplog.at_level("WARNING", logger="agriseg"):
        assert sidecar_of(tmp_path / "turned.jpg") == ""
    assert "turned by its EXIF orientation" in caplog.text


def test_a_one_band_mask_named_as_a_photo_is_measured_as_a_mask(tmp_path: Path) -> None:
    """A 0/255 mask of another name than ``<name>_mask.png`` (a GIS tool's one-band GeoTIFF) was segmented as a
    greyscale photo by ``crop traits`` and by ``crop plots`` with a regions CSV: green fraction 0.024 where the
    mask holds 0.046 (session 98's sweep); ``crop plots`` with a plots file read the same file as a mask."""
    from click.testing import CliRunner

    from agriseg.cli import main

    m = np.zeros((120, 160), np.uint8)
    for c in [(30, 30), (30, 110), (90, 70)]:
        m[disk(c, 12, shape=m.shape)] = 255
    Image.fromarray(m).save(tmp_path / "field.png")
    grey = np.full((120, 160), 90, np.uint8)  # a greyscale photo (more than two values) stays a photo
    grey[m > 0] = 150
    grey[::7] = 20
    Image.fromarray(grey).save(tmp_path / "grey.png")
    recs = run_traits([tmp_path / "field.png"], tmp_path / "o", batch=BatchOptions(progress=False))
    rec = recs[0]
    assert rec["image"]["green_fraction"] == pytest.approx((m > 0).mean(), abs=1e-6), rec
    assert rec["photo"] is None and rec["mask"] == str(tmp_path / "field.png")
    assert any("measured as a vegetation mask" in w for w in rec["warnings"])
    assert not any("greyscale" in w for w in rec["warnings"])
    (tmp_path / "pots.csv").write_text("id,x,y,width,height\nleft,0,0,80,120\n")
    args = ["crop", "plots", str(tmp_path / "field.png"), "--plots", str(tmp_path / "pots.csv"), "-o"]
    res = CliRunner().invoke(main, [*args, str(tmp_path / "p")])
    assert res.exit_code == 0 and "measured as a vegetation mask" in res.output, res.output
    with (tmp_path / "p" / "field_plots.csv").open() as fh:
        row = next(csv.DictReader(fh))
    assert float(row["green_fraction"]) == pytest.approx((m[:, :80] > 0).mean(), abs=1e-5)
    from agriseg.crop.traits.inputs import one_band_mask, read_one_band_mask

    assert not one_band_mask(tmp_path / "grey.png")
    Image.fromarray(np.stack([m] * 3, -1)).save(tmp_path / "rgb.png")
    assert not one_band_mask(tmp_path / "rgb.png")  # a colour file is a photo, by its header
    # its raw values, whatever the depth (a 16-bit 0/1 mask read as a photo is black), palette indices, full canopy
    Image.fromarray((m > 0).astype(np.uint16)).save(tmp_path / "sixteen.png")
    Image.fromarray(np.full((20, 30), 1, np.uint8)).save(tmp_path / "canopy.png")  # 0/1 mask, all plant
    Image.fromarray(np.full((20, 30), 128, np.uint8)).save(tmp_path / "card.png")  # a grey card: a photo
    Image.fromarray(np.full((20, 30), 255, np.uint8)).save(tmp_path / "white.png")  # a blank frame: a photo
    # a palette image is a photo: its indices say nothing of which colour is the plant (session 98's review:
    # white at index 0 read as bare soil)
    Image.fromarray((m > 0).astype(np.uint8)).convert("P").save(tmp_path / "palette.png")
    got = read_one_band_mask(tmp_path / "sixteen.png")
    assert got is not None and (got == (m > 0)).all()
    assert read_one_band_mask(tmp_path / "canopy.png") is not None
    assert not any(one_band_mask(tmp_path / f"{n}.png") for n in ("card", "white", "palette"))
    # only masks: --model is refused (it would not be read), as for <name>_mask.png files
    from agriseg.config import OptionError

    with pytest.raises(OptionError, match="--model crop-weed: not read"):
        run_traits([tmp_path / "sixteen.png"], tmp_path / "m", {"model_name": "crop-weed"},
                   batch=BatchOptions(progress=False))  # fmt: skip


def test_a_one_band_image_too_large_to_open_fails_as_its_item_not_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mask test opened a one-band image past PIL's size guard: its DecompressionBombError stopped the whole
    batch with a traceback (session 98's review); the photo reader says why, for that photo only."""
    from PIL import Image as PILImage

    from agriseg.crop.traits.inputs import one_band_mask

    Image.fromarray(np.full((40, 40), 90, np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 100)  # 1600 px is "over twice the limit"
    assert not one_band_mask(tmp_path / "big.png")


def test_a_folder_under_a_table_name_is_refused_before_any_photo_even_with_overwrite(tmp_path: Path) -> None:
    """``crop traits --overwrite`` into a folder holding a user's folder ``traits.csv/`` measured every photo and
    wrote its pictures, then stopped at the table (exit 2): refused before any work now (session 98's sweep)."""
    from agriseg.config import OptionError

    m = np.zeros((60, 80), np.uint8)
    m[disk((30, 40), 10)] = 255
    Image.fromarray(m).save(tmp_path / "a_mask.png")
    out = tmp_path / "o"
    (out / "traits.csv").mkdir(parents=True)
    (out / "traits.csv" / "keep.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(OptionError, match="traits.csv: a folder where this command writes its table"):
            run_traits([tmp_path / "a_mask.png"], out, batch=BatchOptions(progress=False, overwrite=overwrite))
        assert sorted(p.name for p in out.iterdir()) == ["traits.csv"]
        (out / "traits.csv" / "keep.txt").unlink(missing_ok=True)  # an empty folder too (the review's case)


def test_masks_measured_beside_photos_resume_in_a_run_of_masks_alone(tmp_path: Path) -> None:
    """A folder measured with photos to segment, then a run of its masks alone into the same output: the masks'
    outputs resume. They had been refused as made with another model, though no model makes a mask's outputs."""
    d, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    d.mkdir()
    masks.mkdir()
    photo = np.zeros((60, 80, 3), np.uint8)
    photo[..., 0], photo[..., 1], photo[..., 2] = 120, 90, 60
    photo[20:40, 20:50] = (40, 160, 40)
    Image.fromarray(photo).save(d / "plot1.png")
    m = np.zeros((60, 80), np.uint8)
    m[20:40, 20:50] = 255
    Image.fromarray(m).save(d / "plot2_mask.png")
    (masks / "plot2_mask.png").write_bytes((d / "plot2_mask.png").read_bytes())
    quiet = BatchOptions(progress=False)
    assert [r["status"] for r in run_traits([d], out, TraitsConfig(), batch=quiet)] == ["ok", "ok"]
    assert [r["status"] for r in run_traits([d / "plot2_mask.png"], out, TraitsConfig(), batch=quiet)] == ["skipped"]
    # and the other way round: measured alone first, then beside a photo to segment
    out2 = tmp_path / "out2"
    run_traits([masks], out2, TraitsConfig(), batch=quiet)
    recs = run_traits([d], out2, TraitsConfig(), batch=quiet)
    assert sorted(r["status"] for r in recs) == ["ok", "skipped"]


def test_a_multi_page_one_band_mask_says_only_its_first_page_is_read(tmp_path: Path) -> None:
    """A photo's reader says a multi-page TIFF is read by its first page; a one-band mask's reader had said
    nothing (session 98's notes)."""
    m = np.zeros((60, 80), np.uint8)
    m[20:40, 20:50] = 255
    Image.fromarray(m).save(tmp_path / "stack.tif", save_all=True, append_images=[Image.fromarray(255 - m)])
    (rec,) = run_traits([tmp_path / "stack.tif"], tmp_path / "out", TraitsConfig(), batch=BatchOptions(progress=False))
    assert rec["image"]["green_fraction"] == 0.125
    assert "a TIFF of 2 pages; only the first is read" in rec["warnings"]
    Image.fromarray(m).save(tmp_path / "one.tif")
    (rec,) = run_traits([tmp_path / "one.tif"], tmp_path / "out", TraitsConfig(), batch=BatchOptions(progress=False))
    assert not any("pages" in w for w in rec["warnings"])


def test_other_commands_pictures_in_a_photo_folder_are_no_photos(samples_dir: Path, tmp_path: Path) -> None:
    """Session 99's chained sweep: crop traits -o into the photos' folder, then crop predict on that folder
    predicted its _mask.png and _plants.png as photos; crop plots with a regions CSV segmented crop predict's
    overlays. crop predict's masks stay inputs of crop plots (measured as masks)."""
    from agriseg.crop.config import PlotsConfig
    from agriseg.crop.predict import predict_paths
    from agriseg.crop.traits.growth import run_plots

    d = tmp_path / "wk"
    d.mkdir()
    photo = d / "0003.jpg"
    photo.write_bytes((samples_dir / "peanut" / "images" / "0003.jpg").read_bytes())
    quiet = BatchOptions(progress=False)
    run_traits([d], d, TraitsConfig(), batch=quiet)  # its pictures beside the photo
    rows = predict_paths([d], tmp_path / "p", batch=quiet)
    assert [Path(r["file"]).name for r in rows] == ["0003.jpg"]
    (tmp_path / "regions.csv").write_text("id,x,y,width,height\nA,0,0,200,200\n")
    cfg = PlotsConfig(plots=str(tmp_path / "regions.csv"))
    recs = run_plots([d, tmp_path / "p"], tmp_path / "pl", cfg, batch=quiet)
    assert sorted(Path(r["file"]).name for r in recs) == ["0003.jpg", "0003_mask.png"]
    assert any("of an earlier run not read as photos" in n for n in recs.notes)


def test_growth_tables_removed_as_a_date_failed_say_so(tmp_path: Path) -> None:
    """One of two dates failing removed the growth tables with "name them all", which the user had done; the
    failed item is why there is one date only (session 100's sweep)."""
    d, out = tmp_path / "in", tmp_path / "out"
    _dated_masks(d, (1, 8))
    run_traits([d], out, TraitsConfig(grid="1x2"), batch=BatchOptions(progress=False))
    (d / "tray_2024-06-08_mask.png").write_bytes(b"not a mask any more")
    recs = run_traits([d], out, TraitsConfig(grid="1x2"), batch=BatchOptions(overwrite=True, progress=False))
    assert "warning: no growth tables: 1 dated photo measured, 1 photo failed (below)" in recs.notes, recs.notes
    from agriseg.crop.traits.growth import failed_dates_note

    # undated items failing are not why there are no growth tables (session 108's sweep: two undated mosaics
    # refused after their plots file changed said "no growth tables: 0 dated mosaic measured, 2 mosaics failed")
    undated = [{"file": f"m/{n}.tif", "status": "error"} for n in ("mask", "mask_nd")]
    assert failed_dates_note(0, undated, "mosaic") == []


def test_a_resumed_photos_warnings_are_one_line(tmp_path: Path) -> None:
    """Session 104's sweep: a re-run that measured nothing said every warning of every resumed photo again (one
    line each, a page for a large folder); they are one line now, and the records keep them."""
    masks = _grey_photo_and_mask(tmp_path, "g")
    quiet = BatchOptions(progress=False)
    first = run_traits([masks, tmp_path / "g.png"], tmp_path / "o", TraitsConfig(), batch=quiet)
    assert any("g.png: a photo not to trust" in n for n in first.notes), first.notes
    again = run_traits([masks, tmp_path / "g.png"], tmp_path / "o", TraitsConfig(), batch=quiet)
    assert [r["status"] for r in again] == ["skipped"] and again[0]["warnings"]
    assert not any("not to trust" in n for n in again.notes), again.notes
    assert "warning: 1 photo measured by an earlier run (g.png) has warnings, kept in traits.json" in "\n".join(
        again.notes
    )


@pytest.mark.parametrize("command", ["traits", "plots"])
def test_a_regions_file_edited_in_place_leaves_no_table_of_its_old_boxes(tmp_path: Path, command: str) -> None:
    """Every photo refused because the regions file was edited since: `crop traits` left traits.json saying ok
    and the growth tables of the old boxes; `crop plots` removed its growth tables saying the user had not named
    every photo (session 107's sweep). Both now write the refusals and say why the growth tables went."""
    from click.testing import CliRunner

    from agriseg.cli import main

    photo = np.zeros((80, 120, 3), np.uint8)
    photo[..., 0], photo[..., 1], photo[..., 2] = 120, 90, 60
    folder = tmp_path / "in"
    folder.mkdir()
    for i, day in enumerate((1, 8)):
        p = photo.copy()
        p[disk((40, 60), 10 + 4 * i)] = (40, 160, 40)
        Image.fromarray(p).save(folder / f"p_2024-06-0{day}.png")
    pots = tmp_path / "pots.csv"
    pots.write_text("id,x,y,width,height\na,0,0,60,80\nb,60,0,60,80\n")
    out = tmp_path / "o"
    args = ["crop", command, str(folder), "--regions" if command == "traits" else "--plots", str(pots), "-o", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert (out / "growth.csv").exists()
    pots.write_text("id,x,y,width,height\na,0,0,50,80\nb,60,0,60,80\n")  # pot a's box edited
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and f"input {pots} changed since" in " ".join(res.output.split()), res.output
    said = " ".join(res.output.split())
    assert f"removed {out / 'growth.csv'}, growth_wide.csv, growth.png: an earlier run's tables; this run has " in said
    assert "(2 photos refused, made before an input changed: --overwrite redoes them)" in said, said
    if command == "traits":
        records = json.loads((out / "traits.json").read_text())["images"]
        assert [r["status"] for r in records] == ["error", "error"]


def test_a_mosaic_georeferenced_in_metres_names_the_scale_to_give(tmp_path: Path) -> None:
    """A 0.005 m drone mosaic measured 633,712 px2 and no word of its scale (session 108's sweep): the warning
    names --px-per-mm 0.2; with it given, or without a metre grid, nothing is said."""
    import rasterio
    from click.testing import CliRunner
    from rasterio.transform import from_origin

    from agriseg.cli import main

    mask = np.zeros((64, 80), np.uint8)
    mask[20:40, 20:50] = 255
    for name, crs, size in (("utm_mask.tif", "EPSG:32617", 0.005), ("geo_mask.tif", "EPSG:4326", 1e-7)):
        profile = {"driver": "GTiff", "height": 64, "width": 80, "count": 1, "dtype": "uint8", "crs": crs,
                   "transform": from_origin(500000 if size > 1e-3 else 15.0, 4000000 if size > 1e-3 else 48.0,
                                            size, size)}  # fmt: skip
        with rasterio.open(tmp_path / name, "w", **profile) as dst:
            dst.write(mask, 1)
    res = CliRunner().invoke(main, ["crop", "traits", str(tmp_path / "utm_mask.tif"), str(tmp_path / "geo_mask.tif"),
                                    "-o", str(tmp_path / "o")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "utm_mask.tif: a mosaic georeferenced at 0.005 m a pixel, measured in pixels: --px-per-mm 0.2" in res.output
    assert res.output.count("georeferenced at") == 1
    res = CliRunner().invoke(main, ["crop", "traits", str(tmp_path / "utm_mask.tif"), "-o", str(tmp_path / "o2"),
                                    "--px-per-mm", "0.2"])  # fmt: skip
    assert res.exit_code == 0 and "georeferenced at" not in res.output, res.output
    # a Web Mercator grid of 0.005 m on the ground at 50 degrees north (0.00778 m map units): its review found
    # the map unit taken as ground (--px-per-mm 0.129, areas 2.4 times too large)
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(15, 50)
    unit = 0.005 / np.cos(np.radians(50))
    with rasterio.open(tmp_path / "merc_mask.tif", "w", driver="GTiff", height=64, width=80, count=1,
                       dtype="uint8", crs="EPSG:3857", transform=from_origin(x, y, unit, unit)) as dst:  # fmt: skip
        dst.write(mask, 1)
    res = CliRunner().invoke(main, ["crop", "traits", str(tmp_path / "merc_mask.tif"), "-o", str(tmp_path / "o3")])
    assert res.exit_code == 0 and "at 0.005 m a pixel, measured in pixels: --px-per-mm 0.2 " in res.output, res.output
