"""PRUE's change map between two years' probability rasters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from agriseg.fields.change import change_map, field_logit
from agriseg.raster.io import is_cog


def _probs(path: Path, field: np.ndarray, nodata: np.ndarray | None = None, shift: float = 0.0) -> Path:
    h, w = field.shape
    cls = np.where(field > 127, 1, 0).astype(np.uint8)
    if nodata is not None:
        cls[nodata] = 255
    arr = np.stack([cls, 255 - field, field, np.zeros_like(field)])
    prof = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": 4,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": from_origin(359130.0 + shift, 5352340.0, 10, 10),
    }
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr)
    return path


def test_change_map_marks_the_changed_field(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = np.clip(rng.normal(200, 5, (120, 90)), 0, 255).astype(np.uint8)
    b = a.copy()
    b[20:60, 30:70] = 10  # a field disappeared
    nd = np.zeros(a.shape, bool)
    nd[:, :5] = True
    stats = change_map(_probs(tmp_path / "a.tif", a, nd), _probs(tmp_path / "b.tif", b), tmp_path / "c.tif", block=50)
    assert is_cog(tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as ds:
        mag, mask = ds.read(1), ds.read(2)
        assert ds.scales == (pytest.approx(1 / 254), 1.0)  # GIS tools show 0-1 (0-254 unscaled, session 80)
    assert (mask[20:60, 30:70] == 1).all() and (mask[:, :5] == 255).all()
    rest = np.ones(a.shape, bool)
    rest[20:60, 30:70] = False
    rest[:, :5] = False
    assert (mask[rest] == 0).all() and mag[:, 5:].max() == 254 and (mag[:, :5] == 255).all()  # 255 = NoData
    assert stats["changed_fraction"] == pytest.approx(40 * 40 / (120 * 85))
    assert stats["max"] == pytest.approx(float(np.abs(field_logit(a) - field_logit(b))[:, 5:].max()), rel=1e-5)


def test_change_map_needs_the_same_grid(tmp_path: Path) -> None:
    a = np.full((20, 20), 200, np.uint8)
    with pytest.raises(ValueError, match="not on the same grid"):
        change_map(_probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", a, shift=10), tmp_path / "c.tif")
    flipped = _probs(tmp_path / "s.tif", a)  # the same pixel size, rows running south (session 90's sweep: "pixels of
    with rasterio.open(flipped, "r+") as ds:  # 10 x 10 and 10 x 10")
        ds.transform = rasterio.Affine(10, 0, 359130.0, 0, 10, 5352140.0)
    with pytest.raises(ValueError, match=r"\(a north-up and a south-up grid\)"):
        change_map(tmp_path / "a.tif", flipped, tmp_path / "c.tif")


def test_change_cog_declares_nodata_and_no_colour_bands(tmp_path: Path) -> None:
    from rasterio.enums import ColorInterp

    a = np.full((64, 64), 200, np.uint8)
    b = a.copy()
    b[10:30, 10:30] = 20
    nd = np.zeros(a.shape, bool)
    nd[:, :4] = True
    later = _probs(tmp_path / "b.tif", b)
    with rasterio.open(later, "r+") as ds:
        ds.update_tags(WIN_A_DATETIME="2025-05-02T10:00:00Z", WIN_B_DATETIME="2025-08-01T10:00:00Z")
    change_map(_probs(tmp_path / "a.tif", a, nd), later, tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as ds:
        assert ds.nodata == 255 and ds.descriptions == ("change_magnitude", "change_mask")
        assert ds.colorinterp == (ColorInterp.gray, ColorInterp.undefined)
        assert ColorInterp.alpha not in ds.colorinterp
        for band in (1, 2):
            valid = ds.read_masks(band) > 0
            assert valid[:, 4:].all() and not valid[:, :4].any()
        assert ds.tags()["WIN_B_DATETIME"] == "2025-08-01T10:00:00Z"  # dated by the later year's imagery


def test_change_polygons_are_dated_by_the_last_image(tmp_path: Path) -> None:
    import geopandas as gpd

    from agriseg.fields.change import polygonize_change

    a = np.full((64, 64), 200, np.uint8)
    b = a.copy()
    b[10:40, 10:40] = 20
    later = _probs(tmp_path / "b.tif", b)
    with rasterio.open(later, "r+") as ds:
        ds.update_tags(WIN_A_DATETIME="2025-05-02T10:00:00Z", WIN_B_DATETIME="2025-08-01T10:00:00Z")
    change_map(_probs(tmp_path / "a.tif", a), later, tmp_path / "c.tif")
    df = polygonize_change(tmp_path / "c.tif", tmp_path / "c.parquet")
    assert len(df) == 1 and str(df["determination:datetime"].iloc[0]) == "2025-08-01 10:00:00+00:00"
    assert len(gpd.read_parquet(tmp_path / "c.parquet")) == 1


def test_a_bad_date_tag_or_years_in_the_wrong_order_are_said_of_the_inputs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The later year's tag that is no date was blamed on the change map's temporary file, after the map was made;
    years given the wrong way round went unsaid, their polygons dated by the earlier year (session 107's sweep)."""
    from agriseg.config import OptionError

    a = np.full((64, 64), 200, np.uint8)
    b = a.copy()
    b[10:40, 10:40] = 20
    early, late = _probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", b)
    with rasterio.open(late, "r+") as ds:
        ds.update_tags(WIN_B_DATETIME="yesterday")
    with pytest.raises(OptionError, match=r"b\.tif: tag WIN_B_DATETIME: 'yesterday' is not an ISO 8601"):
        change_map(early, late, tmp_path / "c.tif")
    assert not (tmp_path / "c.tif").exists()
    with rasterio.open(late, "r+") as ds:
        ds.update_tags(WIN_B_DATETIME="2023-08-01T10:00:00Z")
    with rasterio.open(early, "r+") as ds:
        ds.update_tags(WIN_B_DATETIME="2024-08-01T10:00:00Z")
    with caplog.at_level("WARNING", logger="agriseg"):
        change_map(early, late, tmp_path / "c.tif")
    assert "a.tif (images up to 2024-08-01) comes after" in caplog.text and "give the earlier year first" in caplog.text


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the test writes a plain raster
def test_change_refuses_wrong_inputs_naming_the_file(tmp_path: Path) -> None:
    field = np.full((16, 16), 200, np.uint8)
    a = _probs(tmp_path / "a.tif", field)
    b = _probs(tmp_path / "b.tif", field)
    before = a.read_bytes()
    with pytest.raises(ValueError, match=r"a\.tif: is one of the inputs"):
        change_map(a, b, a)
    assert a.read_bytes() == before
    cls_only = tmp_path / "classes.tif"
    with rasterio.open(
        cls_only,
        "w",
        driver="GTiff",
        width=16,
        height=16,
        count=1,
        dtype="uint8",
        crs="EPSG:32633",
        transform=from_origin(359130.0, 5352340.0, 10, 10),
    ) as dst:
        dst.write(np.ones((1, 16, 16), np.uint8))
    with pytest.raises(ValueError, match=r"classes\.tif: 1-band uint8 raster; change needs the probability COG"):
        change_map(a, cls_only, tmp_path / "c.tif")
    no_crs = tmp_path / "nocrs.tif"
    with rasterio.open(no_crs, "w", driver="GTiff", width=16, height=16, count=4, dtype="uint8") as dst:
        dst.write(np.ones((4, 16, 16), np.uint8))
    with pytest.raises(ValueError, match=r"nocrs\.tif: raster has no CRS"):
        change_map(a, no_crs, tmp_path / "c.tif")
    with pytest.raises(ValueError, match=r"nocrs\.tif: raster has no CRS"):
        change_map(no_crs, a, tmp_path / "c.tif")
    empty = np.ones((16, 16), bool)
    na = _probs(tmp_path / "na.tif", field, nodata=empty)
    nb = _probs(tmp_path / "nb.tif", field, nodata=empty)
    with pytest.raises(ValueError, match=r"no pixel has data in both rasters"):
        change_map(na, nb, tmp_path / "c.tif")
    assert not (tmp_path / "c.tif").exists()


@pytest.mark.parametrize(
    ("name", "message"), [("x.txt", "unsupported vector format"), ("a.tif", "unsupported"), ("p.gpkg", "exists")]
)
def test_change_refuses_bad_polygons_before_writing_the_map(tmp_path: Path, name: str, message: str) -> None:
    from click.testing import CliRunner

    from agriseg.cli import main

    a = np.full((20, 20), 200, np.uint8)
    pa, pb = _probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", 255 - a)
    (tmp_path / "p.gpkg").write_text("a user's file")
    res = CliRunner().invoke(
        main, ["fields", "change", str(pa), str(pb), "-o", str(tmp_path / "c.tif"), "--polygons", str(tmp_path / name)]
    )
    assert res.exit_code != 0 and message in res.output, res.output
    assert not (tmp_path / "c.tif").exists()  # nothing written for a run that cannot finish


def test_change_map_must_be_named_tif(tmp_path: Path) -> None:
    """``-o j.png`` wrote a GeoTIFF under a PNG name (session 62's sweep)."""
    from click.testing import CliRunner

    from agriseg.cli import main

    a = np.full((20, 20), 200, np.uint8)
    pa, pb = _probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", 255 - a)
    res = CliRunner().invoke(main, ["fields", "change", str(pa), str(pb), "-o", str(tmp_path / "j.png")])
    assert res.exit_code == 2 and "name it .tif" in res.output, res.output
    assert not (tmp_path / "j.png").exists()


def test_change_rerun_with_overwrite_replaces_its_polygons(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from agriseg.cli import main

    a = np.full((20, 20), 200, np.uint8)
    pa, pb = _probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", 255 - a)
    args = ["fields", "change", str(pa), str(pb), "-o", str(tmp_path / "c.tif"), "--polygons", str(tmp_path / "p.gpkg")]
    assert CliRunner().invoke(main, args).exit_code == 0
    res = CliRunner().invoke(main, [*args, "--overwrite"])  # its own earlier polygons are an output, not an input
    assert res.exit_code == 0, res.output


def test_change_names_a_file_that_is_not_a_raster(tmp_path: Path) -> None:
    field = np.full((16, 16), 200, np.uint8)
    a = _probs(tmp_path / "a.tif", field)
    text = tmp_path / "notes.tif"
    text.write_text("not a raster\n")
    with pytest.raises(ValueError, match=r"notes\.tif: not a readable raster"):
        change_map(a, text, tmp_path / "c.tif")
    assert not (tmp_path / "c.tif").exists()


def test_a_change_every_pixel_shares_is_not_reported_as_none(tmp_path: Path) -> None:
    """Found by a bad-input sweep (session 57): min-max normalisation mapped a uniform change to 0 %."""
    a = np.full((20, 20), 240, np.uint8)
    stats = change_map(_probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", 255 - a), tmp_path / "c.tif")
    assert stats["changed_fraction"] == 1.0
    with rasterio.open(tmp_path / "c.tif") as ds:
        assert (ds.read(2) == 1).all() and (ds.read(1) == 254).all()
    stats = change_map(_probs(tmp_path / "a.tif", a), _probs(tmp_path / "b2.tif", a), tmp_path / "c2.tif")
    assert stats["changed_fraction"] == 0.0  # no change at all


def test_a_pixel_whose_normalised_change_equals_the_threshold_is_changed(tmp_path: Path) -> None:
    """Changes at or above the threshold are changes: one exactly at 0.5 was marked unchanged.

    Field probability 170/255 has odds 2; 204/255 odds 4 and 85/255 odds 1/2, so the logit changes by ln 2 and
    2 ln 2: the first is exactly half the largest change.
    """
    a = np.full((8, 8), 170, np.uint8)
    b = a.copy()
    b[:2] = 204  # change ln 2: normalised 0.5
    b[-2:] = 85  # change 2 ln 2: the largest
    change_map(_probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", b), tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as ds:
        mag, mask = ds.read(1), ds.read(2)
    assert (mag[:2] == 127).all() and (mask[:2] == 1).all()
    assert (mask[-2:] == 1).all() and (mask[2:-2] == 0).all()


def test_a_uniform_change_exactly_at_the_uniform_limit_is_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change every pixel shares is real when at least UNIFORM_CHANGE: one exactly at it was reported as none."""
    from agriseg.fields import change

    a = np.full((8, 8), 170, np.uint8)
    b = np.full((8, 8), 85, np.uint8)
    monkeypatch.setattr(change, "UNIFORM_CHANGE", float(np.abs(field_logit(a) - field_logit(b)).max()))
    stats = change_map(_probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", b), tmp_path / "c.tif")
    assert stats["changed_fraction"] == 1.0


def test_a_uniform_non_change_keeps_a_scale_in_its_tags(tmp_path: Path) -> None:
    """The map's min / max tags are the change mapped to magnitude 0 and 254, as returned: without any change
    the tags said max = min (a scale of width 0), unlike the returned max."""
    a = np.full((8, 8), 200, np.uint8)
    stats = change_map(_probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", a), tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as ds:
        tags, mag = ds.tags(), ds.read(1)
    assert (mag == 0).all() and stats["changed_fraction"] == 0.0
    assert (float(tags["min"]), float(tags["max"])) == (stats["min"], stats["max"])
    assert stats["max"] > stats["min"]


def test_one_changed_region_with_a_neck_is_one_polygon(tmp_path: Path) -> None:
    """Changed regions are polygonised as connected components: the watershed split a region with a neck in two."""
    from agriseg.fields.change import polygonize_change

    a = np.full((30, 50), 200, np.uint8)
    b = a.copy()
    b[5:25, 3:20] = b[5:25, 30:47] = 20  # two changed blocks ...
    b[14:16, 20:30] = 20  # ... joined by a 2-px neck
    change_map(_probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", b), tmp_path / "c.tif")
    df = polygonize_change(tmp_path / "c.tif", tmp_path / "c.parquet")
    assert len(df) == 1 and df["metrics:area"].iloc[0] == pytest.approx((2 * 20 * 17 + 2 * 10) * 100, rel=0.05)


def test_an_inputs_own_nodata_is_no_data_and_a_grid_a_rounding_apart_is_one_grid(tmp_path: Path) -> None:
    """Session 84's sweep: the later year clipped in a GIS (nodata 0 declared, 0 in every band of the clipped
    block) was read as changed there (9.13 % where 2.31 %), the block in every pixel's min-max too; an origin
    1e-7 m off was "not on the same grid" with no word on what differs."""
    rng = np.random.default_rng(0)
    a = np.clip(rng.normal(200, 5, (60, 60)), 0, 255).astype(np.uint8)
    b = a.copy()
    b[10:20, 10:20] = 10  # a field disappeared
    _probs(tmp_path / "a.tif", a)
    _probs(tmp_path / "b.tif", b)
    ref = change_map(tmp_path / "a.tif", tmp_path / "b.tif", tmp_path / "ref.tif")
    with rasterio.open(tmp_path / "b.tif", "r+") as ds:
        arr = ds.read()
        arr[:, 40:, :] = 0  # the clipped block: 0 in every band
        ds.write(arr)
        ds.nodata = 0
    got = change_map(tmp_path / "a.tif", tmp_path / "b.tif", tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as ds:
        mask = ds.read(2)
    assert (mask[40:] == 255).all() and (mask[10:20, 10:20] == 1).all() and (mask[:40][mask[:40] != 1] == 0).all()
    assert got["max"] == pytest.approx(ref["max"]) and got["changed_fraction"] == pytest.approx(100 / (40 * 60))
    _probs(tmp_path / "near.tif", a, shift=1e-7)
    assert change_map(tmp_path / "a.tif", tmp_path / "near.tif", tmp_path / "n.tif")["changed_fraction"] == 0
    with pytest.raises(ValueError, match=r"not on the same grid as .*a.tif \(origins \(359130.00, 5352340.00\) and"):
        change_map(tmp_path / "a.tif", _probs(tmp_path / "far.tif", a, shift=10), tmp_path / "f.tif")
    with rasterio.open(tmp_path / "near.tif", "r+") as ds:  # a pixel 0.5 % larger: 30 cm apart at the far edge
        ds.transform = rasterio.Affine(10.05, 0, ds.transform.c, 0, -10, ds.transform.f)
    with pytest.raises(ValueError, match=r"not on the same grid as .*\(pixels of 10 x 10 and 10.05 x 10\)"):
        change_map(tmp_path / "a.tif", tmp_path / "near.tif", tmp_path / "n2.tif")


def test_a_change_run_stopped_while_polygonising_leaves_neither_output(tmp_path: Path, monkeypatch) -> None:
    """Stopped during --polygons, the map was left alone and the same command then refused it as existing."""
    import agriseg.fields.change as change

    a = np.full((40, 40), 200, np.uint8)
    b = a.copy()
    b[5:30, 5:30] = 10
    _probs(tmp_path / "a.tif", a)
    _probs(tmp_path / "b.tif", b)

    def stopped(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(change, "polygonize_change", stopped)
    with pytest.raises(KeyboardInterrupt):
        change.change_outputs(
            tmp_path / "a.tif", tmp_path / "b.tif", tmp_path / "c.tif", tmp_path / "c.parquet", 0.5, 0
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "b.tif"]
    monkeypatch.undo()
    _, df = change.change_outputs(tmp_path / "a.tif", tmp_path / "b.tif", tmp_path / "c.tif", tmp_path / "c.parquet",
                                  0.5, 0)  # fmt: skip
    assert len(df) == 1 and df["id"].iloc[0].startswith("c-") and (tmp_path / "c.tif").is_file()


def test_a_missing_input_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    """Session 87's fields sweep: `change missing.tif b.tif -o chm.tif` said "chm.tif: missing.tif: probability
    raster not found" and exited 1, where polygonize's missing raster is a usage error."""
    from click.testing import CliRunner

    from agriseg.cli import main

    pb = _probs(tmp_path / "b.tif", np.full((20, 20), 200, np.uint8))
    res = CliRunner().invoke(main, ["fields", "change", str(tmp_path / "missing.tif"), str(pb), "-o", "chm.tif"])
    assert res.exit_code == 2, res.output
    assert res.output.strip() == f"Error: {tmp_path / 'missing.tif'}: probability raster not found"


def test_a_threshold_of_zero_is_refused() -> None:
    """`--threshold 0` marked every pixel as changed (norm >= 0 everywhere): refused, as is a value above 1."""
    from pydantic import ValidationError

    from agriseg.fields.config import ChangeConfig

    for bad in (0.0, 1.5):
        with pytest.raises(ValidationError, match="threshold"):
            ChangeConfig(threshold=bad)
    assert ChangeConfig(threshold=1.0).threshold == 1.0


def test_grids_apart_are_said_by_their_sides_and_their_turn() -> None:
    """A rotated 10 m grid was said as pixels of 9.659; then (the review's find) two 10 m grids turned apart as
    "pixels of 10 x 10 and 10 x 10"."""
    import math
    from types import SimpleNamespace

    from rasterio.transform import Affine

    from agriseg.fields.change import grid_difference

    def grid(t: Affine) -> SimpleNamespace:
        return SimpleNamespace(crs="EPSG:32633", width=50, height=50, transform=t)

    north = Affine(10, 0, 0, 0, -10, 0)
    c, s = math.cos(math.radians(15)), math.sin(math.radians(15))
    turned = Affine(10 * c, 10 * s, 0, 10 * s, -10 * c, 0)
    assert grid_difference(grid(north), grid(turned)) == "grids rotated or sheared apart"
    assert grid_difference(grid(north), grid(Affine(20, 0, 0, 0, -20, 0))) == "pixels of 10 x 10 and 20 x 20"
    assert grid_difference(grid(north), grid(north)) == ""


def test_change_polygons_all_too_small_are_said_of_the_users_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning of a --min-area larger than every changed region named a staging file inside a temporary
    folder (`..c.tif.agriseg-tmp-25574.tif.agriseg-mask-25574.tif/c_mask.tif: 0 fields`; session 98's sweep):
    it names the polygons file, and its polygons as change polygons."""
    from agriseg.fields.change import change_outputs

    a = np.full((30, 50), 200, np.uint8)
    b = a.copy()
    b[5:25, 3:20] = 20
    _probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", b)
    with caplog.at_level("WARNING", logger="agriseg"):
        _, df = change_outputs(tmp_path / "a.tif", tmp_path / "b.tif", tmp_path / "c.tif", tmp_path / "c.parquet", 0.5,
                               1e8)  # fmt: skip
    assert len(df) == 0
    assert f"{tmp_path / 'c.parquet'}: 0 change polygons: 1 polygon found, smaller than --min-area" in caplog.text
    assert "agriseg-tmp" not in caplog.text and "0 fields" not in caplog.text


def test_a_damaged_input_is_named_not_the_output(tmp_path: Path) -> None:
    """Session 105's sweep: a probability raster cut short said "c.tif: Read failed. See previous exception for
    details." (the output, which does not exist), exit 1."""
    from agriseg.config import OptionError

    rng = np.random.default_rng(0)
    a = np.clip(rng.normal(200, 5, (300, 300)), 0, 255).astype(np.uint8)
    whole = _probs(tmp_path / "whole.tif", a)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(OptionError, match=r"cut.tif: (the file is truncated or corrupt|not a readable raster)"):
        change_map(_probs(tmp_path / "a.tif", a), cut, tmp_path / "c.tif")
    assert not (tmp_path / "c.tif").exists()
