from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio

from agriseg.fields.dataset import FTW_COUNTRIES, FTWDataset, check_countries, list_chips


def test_synthetic_layout_matches_ftw(ftw_root) -> None:
    c = ftw_root / "austria"
    table = pq.read_table(c / "chips_austria.parquet")
    assert {"aoi_id", "split", "geometry"} <= set(table.column_names)
    assert set(table.column("split").to_pylist()) == {"train", "val", "test"}
    aoi = table.column("aoi_id")[0].as_py()
    for sub in (
        "s2_images/window_a",
        "s2_images/window_b",
        "label_masks/semantic_2class",
        "label_masks/semantic_3class",
        "label_masks/instance",
    ):
        assert (c / sub / f"{aoi}.tif").is_file(), sub
    with rasterio.open(c / "s2_images/window_a" / f"{aoi}.tif") as src:
        assert src.count == 4 and src.dtypes[0] == "uint16" and src.crs is not None
    with rasterio.open(c / "label_masks/semantic_3class" / f"{aoi}.tif") as src:
        assert set(np.unique(src.read(1))) <= {0, 1, 2}


def test_window_order_is_explicit(ftw_root) -> None:
    ab = FTWDataset(ftw_root, "austria", "train", windows="ab", divisor=None)
    ba = FTWDataset(ftw_root, "austria", "train", windows="ba", divisor=None)
    a_only = FTWDataset(ftw_root, "austria", "train", windows="a", divisor=None)
    x_ab, x_ba, x_a = ab[0]["image"], ba[0]["image"], a_only[0]["image"]
    with rasterio.open(ab.chips[0].window_a) as src:
        wa = src.read().astype(np.float32)
    assert x_ab.shape[0] == 8 and x_a.shape[0] == 4
    np.testing.assert_array_equal(x_ab[:4].numpy(), wa)
    np.testing.assert_array_equal(x_ba[4:].numpy(), wa)
    np.testing.assert_array_equal(x_a.numpy(), wa)
    default = FTWDataset(ftw_root, "austria", "train", divisor=None)[0]["image"]  # "ab" unless told
    np.testing.assert_array_equal(default.numpy(), x_ab.numpy())
    scaled = FTWDataset(ftw_root, "austria", "train", windows="ab")[0]["image"]
    np.testing.assert_allclose(scaled.numpy(), x_ab.numpy() / 3000.0, rtol=1e-6)


def test_targets_and_presence_only(ftw_root) -> None:
    m3 = FTWDataset(ftw_root, "austria", "all", target="3-class")[0]["mask"]
    m2 = FTWDataset(ftw_root, "austria", "all", target="2-class")[0]["mask"]
    assert 2 in m3.unique().tolist() and set(m2.unique().tolist()) <= {0, 1}
    ken = FTWDataset(ftw_root, ["kenya"], "all")
    assert any(3 in ken[i]["mask"].unique().tolist() for i in range(len(ken)))
    assert ken[0]["country"] == "kenya"
    both = FTWDataset(ftw_root, ["austria", "kenya"], "all")
    assert len(both) == 14


def test_unknown_country_lists_valid_names(ftw_root) -> None:
    with pytest.raises(ValueError, match="unknown FTW country 'atlantis'.*austria"):
        FTWDataset(ftw_root, ["atlantis"], "train")
    assert check_countries("all") == list(FTW_COUNTRIES)
    assert check_countries(["South Africa"]) == ["south_africa"]
    # session 85's sweep: `fields evaluate --countries austria,austria,kenya` scored every Austrian chip twice
    with pytest.raises(ValueError, match="FTW country 'austria' given twice \\('Austria'\\)"):
        check_countries(["austria", "Austria"])


def test_missing_files_are_named(ftw_root, tmp_path) -> None:
    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    chips = list_chips(root, "austria", "train")
    victim = chips[0].window_b
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=str(victim.name)):
        FTWDataset(root, "austria", "train")
    assert len(FTWDataset(root, "austria", "train", missing="skip")) == len(chips) - 1
    with pytest.raises(FileNotFoundError, match="chips_france.parquet|france: country folder"):
        FTWDataset(root, "france", "train")
    (root / "austria" / "chips_austria.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="chips_austria.parquet"):
        FTWDataset(root, "austria", "train")


def test_wrong_band_count_in_layout(ftw_root, tmp_path) -> None:
    from agriseg.fields.synthetic import _write_tif

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    ds = FTWDataset(root, "austria", "train")
    _write_tif(ds.chips[0].window_a, np.ones((3, 64, 64), np.uint16), (0.0, 0.0))
    with pytest.raises(ValueError, match=rf"{ds.chips[0].window_a.name}: has 3 bands, expected 4"):
        ds[0]


def test_a_label_off_its_images_grid_is_refused(ftw_root, tmp_path) -> None:
    """A label of the right size moved 500 m (or in another CRS) was scored as if it fitted; a 3-band label was
    explained as a Sentinel-2 scene (session 69's sweep)."""
    import rasterio

    from agriseg.fields.synthetic import _write_tif

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    ds = FTWDataset(root, "austria", "train")
    mask = ds.chips[0].mask
    with rasterio.open(mask) as src:
        arr, (x0, y0), pixel = src.read(), (src.transform.c, src.transform.f), src.transform.a
    _write_tif(mask, arr, (x0 + 500.0, y0))
    with pytest.raises(ValueError, match=rf"{mask.name}: not on its image's pixel grid"):
        ds[0]
    _write_tif(mask, arr, (x0 + 0.01, y0))  # a rounding, not a move: a thousandth of a pixel
    assert ds[0]["mask"].shape == (64, 64)
    _write_tif(mask, arr, (x0 + 0.5 * pixel, y0))  # half a pixel: every label on the wrong pixels
    with pytest.raises(ValueError, match=rf"{mask.name}: not on its image's pixel grid"):
        ds[0]
    _write_tif(mask, np.concatenate([arr] * 3), (x0, y0))
    with pytest.raises(ValueError, match=rf"{mask.name}: has 3 bands, a label mask has 1"):
        ds[0]


def test_check_finds_every_damaged_chip_before_training(ftw_root, tmp_path) -> None:
    """A zero-byte window stopped `fields train` part-way through its first epoch, after the run's folder was
    made; check() opens every chip first and says the first problem and how many more."""
    from agriseg.config import OptionError
    from agriseg.fields.synthetic import _write_tif

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    ds = FTWDataset(root, "austria", "train")
    ds.check("the training chips")  # a sound data set passes
    with rasterio.open(ds.chips[2].window_a) as src:
        at = (src.transform.c, src.transform.f)
    ds.chips[1].window_b.write_bytes(b"")
    _write_tif(ds.chips[2].window_a, np.ones((3, 64, 64), np.uint16), at)
    _write_tif(ds.chips[3].mask, np.ones((1, 32, 32), np.uint8), (0.0, 0.0))
    with pytest.raises(OptionError) as err:
        ds.check("the training chips")
    said = str(err.value)
    assert said.startswith(f"{ds.chips[1].window_b}: ") and said.endswith("(and 2 more in the training chips)")
    ds.chips[1].window_b.unlink()
    shutil.copy(ftw_root / "austria" / "s2_images/window_b" / ds.chips[1].window_b.name, ds.chips[1].window_b)
    with pytest.raises(OptionError, match=rf"{ds.chips[2].window_a.name}: has 3 bands, expected 4 \(and 1 more"):
        ds.check()
    _write_tif(ds.chips[2].window_a, np.ones((4, 64, 64), np.uint16), at)
    with pytest.raises(OptionError, match=r"files differ in size \(.*64x64 px, .*32x32 px\)$"):
        ds.check()
    # a whole chip of another size: torch's collate stopped training part-way with a traceback (session 101)
    with rasterio.open(ds.chips[3].window_a) as src:
        at = (src.transform.c, src.transform.f)
    for path in (ds.chips[3].window_a, ds.chips[3].window_b):
        _write_tif(path, np.ones((4, 32, 32), np.uint16), at)
    _write_tif(ds.chips[3].mask, np.ones((1, 32, 32), np.uint8), at)
    ds.check()  # chips scored by size (a test set) may differ
    with pytest.raises(OptionError, match=rf"{ds.chips[3].mask.name}: its chip is 32x32 px, \d+ other chips 64x64 px"):
        ds.check(one_size=True)
    # a float chip's NaN stopped training in the epoch that first read it, after checkpoints (session 105's sweep)
    nan = np.ones((4, 32, 32), np.float32)
    nan[0, 0, 0] = np.nan
    _write_tif(ds.chips[3].window_b, nan, at)
    with pytest.raises(OptionError, match=rf"{ds.chips[3].window_b.name}: holds NaN values \(no FTW chip does\)"):
        ds.check()


def test_a_label_declaring_a_class_as_nodata_is_said_once_per_folder(ftw_root, tmp_path, caplog) -> None:
    """Masks written with their image's profile declare nodata 0: every background pixel was read as no data,
    not scored (false fields there never counted; the country marked labelled in part) nor trained on, unsaid."""
    import logging

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    ds = FTWDataset(root, "austria", "train")
    for chip in ds.chips:
        with rasterio.open(chip.mask, "r+") as dst:
            dst.nodata = 0
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        masks = [ds[i]["mask"] for i in range(len(ds))]
    said = [r.getMessage() for r in caplog.records if "declares nodata" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith(f"{ds.chips[0].mask}: declares nodata 0, class 0 (background)")
    assert "-unsetnodata" in said[0] and all(0 not in m.unique().tolist() for m in masks)
    assert "background pixels (" in said[0]  # read: how many
    # before training, check() says it from the header, in the main process (each loader worker said it again)
    from agriseg.fields import dataset as module

    module._SAID_NODATA.clear()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        ds.check()
        ds[0]
    said = [r.getMessage() for r in caplog.records if "declares nodata" in r.getMessage()]
    assert len(said) == 1 and "its background pixels are read as no data" in said[0]


def test_a_four_channel_model_reads_window_a() -> None:
    """A 4-channel checkpoint was given windows "ab" (8 channels) and could not be evaluated (session 69)."""
    from agriseg.fields.checkpoints import model_windows

    assert model_windows(None, 4) == "a" and model_windows(None, 8) == "ab"
    assert model_windows("ab", 4) == "a"  # recorded by an import before the rule: it cannot fit 4 channels
    assert model_windows("b", 4) == "b" and model_windows("ba", 8) == "ba"


def test_countries_present_on_a_partial_download(ftw_root, tmp_path) -> None:
    from agriseg.fields.dataset import FTW_COUNTRIES, countries_present

    present, missing = countries_present(ftw_root)
    assert present == ["austria", "kenya"] and len(missing) == len(FTW_COUNTRIES) - 2
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        countries_present(tmp_path)


def test_chips_with_an_offset_left_in_another_band_order_or_nan_are_said(ftw_root, tmp_path, caplog) -> None:
    """`fields evaluate` scored chips with the +1000 left in (pixel IoU 0.67 for 0.78), chips labelled B02, B03,
    B04, B08 and chips holding NaN (every metric 0) with exit 0 and no word (session 71's sweep)."""
    import rasterio

    from agriseg.fields.synthetic import _write_tif

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    chips = list_chips(root, "austria", "all")
    with caplog.at_level("WARNING", logger="agriseg"):
        FTWDataset(root, "austria", "all")
    assert not caplog.text  # the synthetic chips are digital numbers as the models take them
    for chip in chips:
        for window in (chip.window_a, chip.window_b):
            with rasterio.open(window) as src:
                arr, origin = src.read(), (src.transform.c, src.transform.f)
            _write_tif(window, arr + 1000, origin)
    with caplog.at_level("WARNING", logger="agriseg"):
        ds = FTWDataset(root, "austria", "all")
    assert caplog.text.count("seems left in; if so, give --offset -1000") == 1  # once, not once per chip
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        FTWDataset(root, "austria", "all", offset=-1000.0)
    assert not caplog.text
    with rasterio.open(chips[0].window_a, "r+") as dst:
        dst.descriptions = ("B02", "B03", "B04", "B08")
    with pytest.raises(ValueError, match=rf"{chips[0].window_a.name}: its bands are described as B02, B03"):
        ds[0]
    with rasterio.open(chips[0].window_a) as src:
        arr, origin = src.read().astype(np.float32), (src.transform.c, src.transform.f)
    arr[:, :10] = np.nan
    _write_tif(chips[0].window_a, arr, origin)
    with pytest.raises(ValueError, match=rf"{chips[0].window_a.name}: holds NaN values"):
        ds[0]
    arr[:, :10] = np.inf  # scored without a word, or trained into a NaN loss (session 103's sweep)
    _write_tif(chips[0].window_a, arr, origin)
    with pytest.raises(ValueError, match=rf"{chips[0].window_a.name}: holds infinite values"):
        ds[0]


def test_reflectance_without_a_divisor_is_never_negative(ftw_root) -> None:
    """divisor=None (the divisor drawn per sample later) gave negative reflectance where the offset overshoots."""
    ds = FTWDataset(ftw_root, "austria", "train", divisor=None, offset=-5000.0)
    raw = FTWDataset(ftw_root, "austria", "train", divisor=None)[0]["image"].numpy()
    x = ds[0]["image"].numpy()
    assert x.min() == 0.0 and (raw < 5000).any()
    np.testing.assert_array_equal(x, np.maximum(raw - 5000.0, 0.0))


def test_scale_warning_reads_the_first_window_the_data_set_uses(ftw_root, tmp_path, caplog) -> None:
    """The offset check read window B for windows "ab" (and A for "b"): a +1000 left in window A went unsaid."""
    from agriseg.fields.synthetic import _write_tif

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    first = list_chips(root, "austria", "all")[0].window_a
    with rasterio.open(first) as src:
        arr, origin = src.read(), (src.transform.c, src.transform.f)
    _write_tif(first, arr + 1000, origin)  # window A only: the +1000 of baseline 04.00 left in
    with caplog.at_level("WARNING", logger="agriseg"):
        FTWDataset(root, "austria", "all", windows="ab")
    assert "seems left in" in caplog.text and first.name in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        FTWDataset(root, "austria", "all", windows="b")  # window A is never read
    assert not caplog.text


def test_unknown_split_values_are_refused(ftw_root, tmp_path) -> None:
    """A chips table with ``Train`` / ``validation`` left those chips out of every split, unsaid (session 85's
    sweep); an empty split still leaves a chip out on purpose."""
    import pyarrow as pa

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    path = root / "austria" / "chips_austria.parquet"
    table = pq.read_table(path)
    splits = table.column("split").to_pylist()
    n_train = splits.count("train")
    first = splits.index("train")
    column = table.column_names.index("split")
    pq.write_table(table.set_column(column, "split", pa.array(["Train" if s == "train" else s for s in splits])), path)
    with pytest.raises(ValueError, match=rf"chips_austria.parquet: split values must be .*'Train' \({n_train} chips\)"):
        list_chips(root, "austria", "train")
    left_out = list(splits)
    left_out[first] = None
    pq.write_table(table.set_column(column, "split", pa.array(left_out)), path)
    assert len(list_chips(root, "austria", "train")) == n_train - 1
    assert len(list_chips(root, "austria", "all")) == len(splits) - 1


def test_float_labels_with_fractions_are_refused(tmp_path) -> None:
    """A float label mask was cast: 1.6 became class 1 unsaid (session 85's sweep); whole floats still read."""
    from agriseg.fields.dataset import read_mask

    def write(name: str, values: list[list[float]]) -> str:
        path = tmp_path / name
        grid = {"crs": "EPSG:32633", "transform": rasterio.transform.from_origin(500000, 5300000, 10, 10)}
        with rasterio.open(path, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32", **grid) as dst:
            dst.write(np.array(values, np.float32), 1)
        return str(path)

    assert read_mask(write("whole.tif", [[0, 1], [2, 3]])).tolist() == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match=r"frac.tif: label values must be whole class ids 0..3, found 1.6"):
        read_mask(write("frac.tif", [[0, 1.6], [2, 1]]))
    with pytest.raises(ValueError, match=r"inf.tif: label values must be whole class ids 0..3, found inf"):
        read_mask(write("inf.tif", [[0, np.inf], [2, 1]]))


def test_a_chip_listed_twice_is_refused(ftw_root, tmp_path) -> None:
    """A chip in the train and the test split was trained on and scored, unsaid."""
    import pyarrow as pa

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    path = root / "austria" / "chips_austria.parquet"
    table = pq.read_table(path)
    train = table.filter(pa.compute.equal(table.column("split"), "train")).slice(0, 1)
    column = table.column_names.index("split")
    moved = train.set_column(column, table.schema.field("split"), pa.array(["test"], table.schema.field("split").type))
    pq.write_table(pa.concat_tables([table, moved]), path)
    aoi = train.column("aoi_id")[0].as_py()
    with pytest.raises(ValueError, match=rf"aoi_id '{aoi}' is listed more than once \(splits test, train\)"):
        list_chips(root, "austria", "test")


def test_a_country_named_in_capitals_is_not_said_to_be_without_chips(ftw_root) -> None:
    """``train_countries: [Austria]`` trained on austria's chips and said "no train chips for Austria" (the
    session 103 review)."""
    ds = FTWDataset(ftw_root, ["Austria"], "train")
    assert len(ds) > 0 and ds.without == []


def test_a_chip_without_an_id_is_a_usage_error_naming_its_row(ftw_root, tmp_path) -> None:
    """A null aoi_id was said as a missing file ``None.tif`` (session 103's sweep); a broken chips table is the
    data set given, a usage error (exit 2) as a missing file is, not a failed item (exit 1)."""
    import pyarrow as pa

    from agriseg.config import OptionError

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    path = root / "austria" / "chips_austria.parquet"
    table = pq.read_table(path)
    ids = table.column("aoi_id").to_pylist()
    ids[2] = None
    column = table.column_names.index("aoi_id")
    field = table.schema.field("aoi_id")
    pq.write_table(table.set_column(column, field, pa.array(ids, field.type)), path)
    with pytest.raises(OptionError, match=r"chips_austria.parquet: row 2 has no aoi_id; give each chip its id"):
        list_chips(root, "austria", "all")


def test_check_reads_each_labels_class_ids_and_grid_before_training(ftw_root, tmp_path) -> None:
    """A label holding class 5, or in another CRS, stopped `fields train` part-way through its first epoch
    (exit 1, the run's folder made); a mask of another size was said as three files of one name (session 97)."""
    import rasterio

    from agriseg.config import OptionError
    from agriseg.fields.synthetic import _write_tif

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    ds = FTWDataset(root, "austria", "train")
    mask = ds.chips[0].mask
    with rasterio.open(mask) as src:
        arr, origin = src.read(), (src.transform.c, src.transform.f)
    bad = arr.copy()
    bad[0, :5, :5] = 5
    _write_tif(mask, bad, origin)
    with pytest.raises(OptionError, match=rf"{mask.name}: label values must be 0..3, found 0..5$"):
        ds.check()
    _write_tif(mask, arr, (origin[0] + 500.0, origin[1]))
    with pytest.raises(OptionError, match=rf"{mask.name}: not on its image's pixel grid"):
        ds.check()
    _write_tif(mask, arr[:, :32, :32], origin)
    with pytest.raises(OptionError, match=r"differ in size \(window_a 64x64 px, window_b 64x64 px, mask 32x32 px\)"):
        ds.check()
    _write_tif(mask, arr, origin)
    ds.check()


def test_a_country_without_chips_of_a_split_is_named_and_said_once(ftw_root, tmp_path, caplog) -> None:
    """`fields train` with a country of no chips trained without a word; the train and val sets each said a
    0-1 reflectance warning, both as "the first chip" (session 97's sweep)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from agriseg.fields.synthetic import _write_tif

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    (root / "rwanda").mkdir()
    pq.write_table(pa.table({"aoi_id": pa.array([], pa.string()), "split": pa.array([], pa.string())}),
                   root / "rwanda" / "chips_rwanda.parquet")  # fmt: skip
    assert FTWDataset(root, ["austria", "rwanda"], "train").without == ["rwanda"]
    assert FTWDataset(root, ["austria", "rwanda"], "train").without_said() == "rwanda"
    shutil.copytree(ftw_root / "kenya", root / "kenya")
    gone = list_chips(root, "kenya", "all")
    for chip in gone:
        chip.window_b.unlink()
    ds = FTWDataset(root, ["austria", "kenya", "rwanda"], "all", missing="skip")
    assert ds.without_said() == f"kenya (its {len(gone)} chips incomplete: left out by missing: skip), rwanda"
    for chip in list_chips(root, "austria", "all"):
        for window in (chip.window_a, chip.window_b):
            with rasterio.open(window) as src:
                arr, origin = src.read(), (src.transform.c, src.transform.f)
            _write_tif(window, arr.astype(np.float32) / 10000, origin)
    with caplog.at_level("WARNING", logger="agriseg"):
        FTWDataset(root, "austria", "train")
        FTWDataset(root, "austria", "val")
    assert caplog.text.count("0-1 reflectance") == 1


def test_a_two_class_label_holding_class_2_is_refused_before_training(ftw_root, tmp_path) -> None:
    """check() passed a 2-class label holding a 2, which the two-class loss stops on (session 97's review)."""
    from agriseg.config import OptionError
    from agriseg.fields.synthetic import _write_tif

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    ds = FTWDataset(root, "austria", "train", target="2-class")
    ds.check()
    mask = ds.chips[0].mask
    with rasterio.open(mask) as src:
        arr, origin = src.read(), (src.transform.c, src.transform.f)
    arr[0, 0, 0] = 2
    _write_tif(mask, arr, origin)
    with pytest.raises(OptionError, match=rf"{mask.name}: a 2-class label holds class 2"):
        ds.check()
    with pytest.raises(ValueError, match="a 2-class label holds class 2"):
        ds[0]


def test_a_chip_images_declared_nodata_is_neither_scored_nor_trained_on(ftw_root, tmp_path) -> None:
    """Session 105's sweep: a chip whose windows declared nodata 0 over its top rows was scored and trained on there
    as imagery (pixel IoU 0.903 -> 0.875); `fields predict` reads a pixel of no data in all 8 bands as no data."""
    from agriseg.fields.dataset import IGNORE_INDEX

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root / "austria", root / "austria")
    ds = FTWDataset(root, "austria", "train")
    before = ds[0]["mask"].clone()

    def blank_rows(path, rows: int) -> None:  # the window's top rows at its declared nodata 0
        with rasterio.open(path, "r+") as dst:
            arr = dst.read()
            arr[:, :rows] = 0
            dst.write(arr)
            dst.nodata = 0

    blank_rows(ds.chips[0].window_b, 10)
    mask = FTWDataset(root, "austria", "train")[0]["mask"]
    assert (mask == before).all()  # window A still holds data there: read, as fields predict reads a scene
    blank_rows(ds.chips[0].window_a, 5)
    mask = FTWDataset(root, "austria", "train")[0]["mask"]
    assert (mask[:5] == IGNORE_INDEX).all() and (mask[5:] == before[5:]).all()
