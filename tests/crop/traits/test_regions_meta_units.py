"""Regions (grid and file), file-name metadata and the reference-object scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from skimage.draw import disk

from agriseg.crop.traits.meta import parse_date, parse_name
from agriseg.crop.traits.plants import label_plants, plant_traits
from agriseg.crop.traits.regions import (
    assign_plants,
    detect_pots,
    detect_tray,
    grid_regions,
    parse_grid,
    read_regions,
    region_traits,
)
from agriseg.crop.traits.units import reference_scale


def _tray(rows: int, cols: int, pitch: int = 60, radius: int = 12) -> np.ndarray:
    m = np.zeros((rows * pitch + 40, cols * pitch + 40), bool)
    for r in range(rows):
        for c in range(cols):
            m[disk((20 + pitch // 2 + r * pitch, 20 + pitch // 2 + c * pitch), radius + r, shape=m.shape)] = True
    return m


def test_auto_grid_one_plant_per_cell() -> None:
    mask = _tray(2, 3)
    labels = label_plants(mask)
    plants = plant_traits(labels)
    regions = grid_regions((20, 20, 180, 120), *parse_grid("2x3"))
    assert [r.id for r in regions] == ["1", "2", "3", "4", "5", "6"]
    plants = [{**p, "region": r} for p, r in zip(plants, assign_plants(regions, plants), strict=True)]
    out = region_traits(regions, mask, plants)
    assert [r["plant_count"] for r in out] == [1] * 6
    # row 2 plants are larger (radius + 1)
    assert out[3]["plant_area"] > out[0]["plant_area"]
    assert sum(r["plant_area"] for r in out) == mask.sum()


def _tray_photo(empty_col: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A dark tray of 3 x 4 pots on a blue mat with a seedling per pot (none in ``empty_col``)."""
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[:] = (40, 90, 190)  # blue mat
    rgb[40:280, 60:380] = (30, 30, 32)  # the tray: 4 columns of 80 px, 3 rows of 80 px
    veg = np.zeros((300, 400), bool)
    for r in range(3):
        for c in range(4):
            if c != empty_col:
                veg[disk((80 + r * 80, 100 + c * 80), 14, shape=veg.shape)] = True
    rgb[veg] = (60, 170, 50)
    rgb[10:30, 100:160] = 245  # a white label on the mat
    return rgb, veg


@pytest.mark.parametrize("empty_col", [None, 0, 3])
def test_grid_anchored_to_tray_keeps_empty_pots_empty(empty_col: int | None) -> None:
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.runner import measure

    rgb, veg = _tray_photo(empty_col)
    box = detect_tray(rgb, veg)
    assert box is not None and all(abs(a - b) <= 4 for a, b in zip(box, (60, 40, 320, 240), strict=True))
    m = measure(veg.astype(np.uint8), rgb, TraitsConfig(grid="3x4"))
    counts = [r["plant_count"] for r in m.regions]
    want = [0 if c == empty_col else 1 for _ in range(3) for c in range(4)]
    assert counts == want  # the empty column stays empty, its neighbours are not shifted into it
    assert [r["status"] for r in m.regions] == ["empty" if w == 0 else "ok" for w in want]
    assert all(p["id"] == f"{p['region']}.1" for p in m.plants)
    assert [p["region"] for p in m.plants] == [str(i + 1) for i, w in enumerate(want) if w]
    assert {"green_area_index", "vegetation_area", "mean_hue", "in_frame"} <= set(m.regions[1])


def _black_tray_photo(
    empty_col: int | None, bench: tuple[int, int, int] = (4, 4, 4), tray: tuple[int, int, int] = (16, 16, 19)
) -> tuple[np.ndarray, np.ndarray]:
    """A tray of 3 x 4 pots of nearly the bench's colour (by default black on black, 8 Lab units apart), pot soil
    of three shades (one nearly black), a seedling per pot (none in ``empty_col``), labels on the bench."""
    rng = np.random.default_rng(3)
    rgb = np.full((320, 440, 3), bench, np.int32)
    rgb[30:270, 60:380] = tray  # 4 columns of 80 px, 3 rows of 80 px, from (60, 30)
    rgb = (rgb + rng.integers(-6, 7, rgb.shape)).clip(0, 255).astype(np.uint8)  # sensor noise
    veg = np.zeros((320, 440), bool)
    shades = [(120, 95, 70), (60, 45, 35), (150, 130, 110)]
    for r in range(3):
        for c in range(4):
            y, x = 30 + r * 80 + 8, 60 + c * 80 + 8
            soil = np.array(shades[(r + c) % 3]) + rng.integers(-15, 15, (64, 64, 3))
            rgb[y : y + 64, x : x + 64] = soil.clip(0, 255)
            if c != empty_col:
                veg[disk((y + 32, x + 32), 10 + 2 * r, shape=veg.shape)] = True
    rgb[veg] = (70, 160, 50)
    rgb[285:300, 100:150] = 240  # white labels on the bench
    rgb[285:300, 300:350] = 240
    return rgb, veg


@pytest.mark.parametrize("empty_col", [None, 0, 3])
def test_grid_on_a_tray_of_the_bench_colour_follows_the_pots(empty_col: int | None) -> None:
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.runner import measure

    rgb, veg = _black_tray_photo(empty_col)
    assert detect_tray(rgb, veg) is None  # the tray does not stand out: the pots do
    box = detect_pots(rgb, 3, 4, veg)
    assert box is not None and all(abs(a - b) <= 4 for a, b in zip(box, (60, 30, 320, 240), strict=True)), box
    m = measure(veg.astype(np.uint8), rgb, TraitsConfig(grid="3x4"))
    want = [0 if c == empty_col else 1 for _ in range(3) for c in range(4)]
    assert [r["plant_count"] for r in m.regions] == want
    assert not m.warnings, m.warnings
    assert detect_pots(rgb, 3, 5, veg) is None  # the photo holds no 3 x 5 layout
    assert detect_pots(rgb, 4, 4, veg) is None


def test_tray_nearer_the_mat_than_its_pots_is_found_below_otsu() -> None:
    """A navy tray on a blue mat: Otsu's threshold of the colour distance keeps only the pots (no tray there),
    the lower thresholds find the tray, and the pots' layout agrees with it."""
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.regions import _mat_distance, _tray_box
    from agriseg.crop.traits.runner import measure

    rgb, veg = _black_tray_photo(3, bench=(40, 90, 190), tray=(25, 50, 120))
    dist, step, levels = _mat_distance(rgb) or (None, 0, [])
    assert _tray_box((dist > levels[0]) & ~veg[::step, ::step], step, rgb.shape[:2], veg) is None
    for box in (detect_tray(rgb, veg), detect_pots(rgb, 3, 4, veg)):
        assert box is not None and all(abs(a - b) <= 4 for a, b in zip(box, (60, 30, 320, 240), strict=True)), box
    m = measure(veg.astype(np.uint8), rgb, TraitsConfig(grid="3x4"))
    assert [r["plant_count"] for r in m.regions] == [1, 1, 1, 0] * 3
    assert not m.warnings, m.warnings


def test_no_pots_found_in_a_field_photo() -> None:
    rng = np.random.default_rng(0)
    soil = (rng.normal(120, 25, (300, 400, 1)) * np.array([1.0, 0.85, 0.7])).clip(0, 255).astype(np.uint8)
    soil[_clods(rng)] = (30, 25, 20)  # dark clods of several sizes
    for grid in [(2, 2), (2, 3), (3, 4)]:
        assert detect_pots(soil, *grid) is None, grid


def _clods(rng: np.random.Generator) -> np.ndarray:
    """Random dark clods: smoothed noise above a threshold."""
    from scipy import ndimage

    return ndimage.gaussian_filter(rng.normal(size=(300, 400)), 6) > 0.12


def test_grid_box_and_regions_outside_warn() -> None:
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.runner import measure

    rgb, veg = _tray_photo()
    m = measure(veg.astype(np.uint8), rgb, TraitsConfig(grid="3x4", grid_box="300,40,320,240"))
    assert m.box == (300, 40, 320, 240)
    assert [r["status"] for r in m.regions][:4] == ["ok", "partly outside", "outside", "outside"]
    outside = [w for w in m.warnings if " outside the 400x300 image" in w]
    assert len(outside) == 2, m.warnings  # one line per kind, however many regions
    assert any(w.startswith("regions 3, 4, 7, 8, 11 and 1 more are outside") for w in outside), outside
    assert any(w.startswith("regions 2, 6, 10 are partly outside") for w in outside), outside
    with pytest.raises(ValueError, match="the 100x100 grid over a 320x40 px box gives cells under 1 px"):
        measure(veg.astype(np.uint8), rgb, TraitsConfig(grid="100x100", grid_box="300,40,320,40"))
    m = measure(veg.astype(np.uint8), None, TraitsConfig(grid="3x4"))  # no photo: the whole image, said so
    assert m.box == (0, 0, 400, 300) and "no photo" in m.warnings[0]


def test_plants_join_pieces_within_pot_edge_strips_and_in_frame() -> None:
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.runner import measure

    rgb, veg = _tray_photo()
    veg[:, 96:106] = False  # the plant of pot 1 in two pieces, 10 px apart: one plant
    veg[75:85, 128:138] = True  # a leaf in pot 1 and one in pot 2, 4 px apart across the pots' border:
    veg[75:85, 142:152] = True  # not joined (each is 14 px from its pot's plant: a plant of its own)
    veg[100:160, 0:6] = True  # a 6-px strip at the left edge
    veg[120:140, 388:400] = True  # a plant cut by the right edge (outside the tray: not a tray plant)
    m = measure(veg.astype(np.uint8), rgb, TraitsConfig(grid="3x4"))
    assert [r["plant_count"] for r in m.regions][:2] == [2, 2]
    assert m.image["objects_outside_regions"] == 1  # the cut plant; the strip is no object at all
    one = measure(veg.astype(np.uint8), rgb, TraitsConfig(grid="3x4", join=0))
    assert one.regions[0]["plant_count"] == 3
    labels = label_plants(veg, 50, 0)
    plants = plant_traits(labels)
    assert [p["in_frame"] for p in plants].count(False) == 2  # the strip and the cut plant


@pytest.mark.parametrize("join", [1, 2, 3, 9, 10])
def test_join_joins_gaps_of_at_most_join_px_whatever_their_parity(join: int) -> None:
    for gap in (join, join + 1):
        m = np.zeros((40, 80), bool)
        m[10:30, 5:25] = True
        m[10:30, 25 + gap : 45 + gap] = True  # ``gap`` empty columns between the two pieces
        assert label_plants(m, 50, 0, join=join).max() == (1 if gap == join else 2), gap


def test_join_does_not_depend_on_the_direction_in_which_pieces_lie() -> None:
    m = np.zeros((60, 60), bool)
    m[10:14, 40:44] = True
    m[19:23, 29:33] = True  # down-left of the first, nearest corners (13, 40) and (19, 32): 10 px apart
    counts = {label_plants(f, 4, 0, join=9).max() for f in (m, m[:, ::-1], m[::-1], m.T, m[::-1, ::-1])}
    assert counts == {1}
    assert label_plants(m, 4, 0, join=8).max() == 2


def test_regions_file(tmp_path: Path) -> None:
    f = tmp_path / "regions.csv"
    f.write_text("id,x,y,width,height\nleft,0,0,100,200\nright,100,0,100,200\n")
    regs = read_regions(f)
    mask = np.zeros((200, 200), bool)
    mask[:, :50] = True
    out = region_traits(regs, mask, [])
    assert out[0]["green_fraction"] == 0.5 and out[1]["green_fraction"] == 0.0
    bad = tmp_path / "bad.csv"
    bad.write_text("id,x,y\n1,2,3\n")
    with pytest.raises(ValueError, match=str(bad)):
        read_regions(bad)
    bad.write_text("id,x,y,width,height\nA1,0,0,10,10\nA2,10,0,10,10\nA1,20,0,10,10\n")
    with pytest.raises(ValueError, match="line 4: region id 'A1' is also on line 2"):
        read_regions(bad)
    bad.write_text("id,x,y,width,height\n ,0,0,10,10\n")
    with pytest.raises(ValueError, match="line 2: the region has no id"):
        read_regions(bad)
    # 150.0 as spreadsheets and ImageJ write whole numbers was refused (session 72's sweep); 150.5 still is
    f.write_text("id,x,y,width,height\nA1,150.0,0,10.0,10\n")
    assert [(r.x, r.width) for r in read_regions(f)] == [(150, 10)]
    bad.write_text("id,x,y,width,height\nA1,150.5,0,10,10\n")
    with pytest.raises(ValueError, match="line 2: x, y, width, height must be whole numbers"):
        read_regions(bad)
    for typo in ("1_10", "+56", " 5 5"):  # Python's float() read "1_10" as 110 (session 102's sweep)
        bad.write_text(f"id,x,y,width,height\nA1,{typo},0,10,10\n")
        with pytest.raises(ValueError, match="line 2: x, y, width, height must be whole numbers"):
            read_regions(bad)
    f.write_text("id,x,y,width,height\nA1, 150 ,-2,1.5e1,10\n")  # spaces, a sign, an exponent: numbers still
    assert [(r.x, r.y, r.width) for r in read_regions(f)] == [(150, -2, 15)]
    plots = tmp_path / "plots.gpkg"
    plots.write_bytes(b"SQLite format 3\x00")
    with pytest.raises(ValueError, match=r"plots\.gpkg: a GPKG file; --regions takes a CSV of pixel boxes"):
        read_regions(plots)


@pytest.mark.parametrize(
    ("text", "said"),
    [("id,id,x,y,width,height\nA,B,0,0,10,10\n", "the column 'id' is in the header twice"),
     ("id,x,y,width,height\nA,0,0,100,100,1,2\n", "line 2: 7 values under the header's 5 columns"),
     ("id,x,y,width,height\nA,10000000000000000000,0,10,100\n", "line 2: x, y, width, height beyond any photo")],
    ids=["column-twice", "more-values", "beyond-any-photo"],
)  # fmt: skip
def test_regions_files_the_reader_cannot_take_as_meant_are_refused(tmp_path: Path, text: str, said: str) -> None:
    """Each was read with a guess, or crashed (session 79's sweep): the last of two id columns was taken, a row's
    extra values were dropped, and a coordinate of 1e19 became an internal error drawing the debug picture."""
    f = tmp_path / "regions.csv"
    f.write_text(text)
    with pytest.raises(ValueError, match=f"{f}: {said}"):
        read_regions(f)
    f.write_text("id,x,y,width,height,\nA,0,0,10,10,\n")  # empty cells after the last column are no values
    assert [r.id for r in read_regions(f)] == ["A"]


@pytest.mark.parametrize(
    "text",
    ["id;x;y;width;height\r\nA1;0;0;10;10\r\nA2;10;0;10;10\r\n",
     "ID\tX\tY\tWidth\tHeight\nA1\t0\t0\t10\t10\nA2\t10\t0\t10\t10\n",
     "Id, X, Y, Width, Height\nA1,0,0,10,10\nA2,10,0,10,10\n",
     # Excel: a "sep=" line first, rows of separators below the data, a BOM pasted in (session 84's sweep)
     "sep=;\nid;x;y;width;height\nA1;0;0;10;10\nA2;10;0;10;10\n;;;;\n;;;;;;;\n",
     "id,x,y,width,height\nA1,0,0,10,10\n,,,,\nA2,10,0,10,10\n\ufeff\n"],
    ids=["semicolons", "tabs", "capitals", "excel-sep-line-and-empty-rows", "empty-row-and-bom"],
)  # fmt: skip
def test_regions_files_saved_by_spreadsheets_in_other_locales(tmp_path: Path, text: str) -> None:
    f = tmp_path / "regions.csv"
    f.write_text(text)
    assert [(r.id, r.x) for r in read_regions(f)] == [("A1", 0), ("A2", 10)]


@pytest.mark.parametrize("text", ["3", "0x2", "axb"])
def test_bad_grid(text: str) -> None:
    with pytest.raises(ValueError, match="ROWSxCOLS"):
        parse_grid(text)


def test_one_grid_has_one_spelling() -> None:
    """``--grid 3X6`` and ``--grid 3x6`` are one setting: a re-run with the other spelling resumes."""
    from agriseg.crop.config import TraitsConfig

    assert TraitsConfig(grid=" 3X6").grid == TraitsConfig(grid="3x6").grid == "3x6"


def test_date_found_inside_the_name() -> None:
    from agriseg.crop.traits.meta import name_date

    assert parse_name(Path("tray_2024-06-01.jpg"), "date") == {"date": "2024-06-01"}
    assert parse_name(Path("t1_20240601.jpg"), "tray_date") == {"tray": "t1", "date": "2024-06-01"}
    assert name_date("tray_2024-06-01") == "2024-06-01" and name_date("tray_1") is None
    # an eight-digit barcode or plant id before the date is not the date; an impossible date is skipped, as
    # ``--meta date`` skips it
    for stem in ("tray12345678_2024-06-01", "P_10000123_2024-06-01", "x_2024-02-30_2024-06-01"):
        assert name_date(stem) == "2024-06-01" == parse_name(Path(f"{stem}.jpg"), "date")["date"], stem
    assert name_date("P_10000123") is None and name_date("img_20240601") == "2024-06-01"
    from agriseg.crop.traits.meta import impossible_date  # eight digits of a date's shape that are no day: a typo

    assert impossible_date("e_20240230") == "20240230" and impossible_date("P_10000123") is None
    assert impossible_date("img_20240601") is None and impossible_date("x_12345678") is None
    with pytest.raises(ValueError, match="does not match"):
        parse_name(Path("tray_x.jpg"), "date")


def test_dates_with_underscores_and_times_in_names() -> None:
    """``2024_06_08_tray`` (a camera's or a script's style) is dated; a time after the date is read with it, the
    same with and without ``--meta date``; a plot number after a date is not a time."""
    from agriseg.crop.traits.meta import name_date

    cases = {
        "2024_06_08_tray": "2024-06-08",
        "tray_2024-06-01T09-00": "2024-06-01T09:00:00",
        "tray_20240602_120000": "2024-06-02T12:00:00",
        "x_20240601T0930": "2024-06-01T09:30:00",
        "tray_20240601_12": "2024-06-01",
        "plot_2026-11-01T10:00": "2026-11-01T10:00:00",  # with colons (macOS, Linux): its time was dropped
    }
    for stem, iso in cases.items():
        assert (
            name_date(stem) == iso == parse_name(Path(f"{stem}.jpg"), "plot_date" if ":" in stem else "date")["date"]
        ), stem
    assert name_date("tray_20240601_0102") == "2024-06-01"  # four digits after an underscore: a plot id
    assert parse_name(Path("20240601_12.jpg"), "date_plot") == {"date": "2024-06-01", "plot": "12"}
    assert parse_name(Path("A1_20240601.jpg"), "date") == {"date": "2024-06-01"}


def test_photos_with_and_without_times_are_warned_about() -> None:
    from agriseg.crop.traits.growth import _date_problems

    out = _date_problems([("2024-06-01T09:00:00", "a.jpg", []), ("2024-06-02", "b.jpg", [])])
    assert len(out) == 1 and "1 photo has a time of day (a.jpg; in the name or the camera's EXIF)" in out[0]
    assert _date_problems([("2024-06-01T09:00:00", "a.jpg", []), ("2024-06-02T09:00:00", "b.jpg", [])]) == []


def test_tidy_rounds_float_noise() -> None:
    from agriseg.crop.traits.runner import tidy

    assert tidy({"a": [1200.0000000000002, 0.1234567891], "b": 123456789.25, "c": True}) == {
        "a": [1200.0, 0.123457],
        "b": 123456789.0,
        "c": True,
    }


def test_meta_template_and_dates() -> None:
    meta = parse_name(Path("x/A12_20240601_cam1.jpg"), "plant_date_camera")
    assert meta == {"plant": "A12", "date": "2024-06-01", "camera": "cam1"}
    assert parse_name(Path("p3-2024-06-01.png"), "plot-date") == {"plot": "p3", "date": "2024-06-01"}
    assert parse_date("2024-06-01T101500") == "2024-06-01T10:15:00"
    # four digits of a time are hours and minutes (read as %H%M%S they were 10:03:00, session 69's sweep)
    assert parse_date("2024-06-01T1030") == "2024-06-01T10:30:00"
    assert parse_name(Path("tray_2024-06-08T1045.jpg"), "tray_date") == {"tray": "tray", "date": "2024-06-08T10:45:00"}
    with pytest.raises(ValueError, match="is not a date"):
        parse_date("2024611")  # seven digits: no fixed-width reading
    assert parse_date("2024-6-1T103000") == parse_date("2024_6_1_103000") == "2024-06-01T10:30:00"  # unpadded dates
    assert parse_date("202406011030") == "2024-06-01T10:30:00"
    with pytest.raises(ValueError, match=r"^x/A12\.jpg: .*does not match"):
        parse_name(Path("x/A12.jpg"), "plant_date_camera")
    with pytest.raises(ValueError, match=r"A12_2024-13-45_c\.jpg: field 'date'"):
        parse_name(Path("A12_2024-13-45_c.jpg"), "plant_date_camera")


def test_reference_object_scale() -> None:
    rgb = np.full((200, 300, 3), 90, np.uint8)  # brown-gray soil
    rr, cc = disk((100, 230), 25, shape=rgb.shape)
    rgb[rr, cc] = 250  # a white disc
    across = cc.max() - cc.min() + 1
    said: list[str] = []
    s = reference_scale(rgb, (190, 60, 80, 80), size_mm=25.0, warnings=said)
    assert s == pytest.approx(across / 25.0) and said == []
    rgb2 = np.full((200, 300, 3), 230, np.uint8)
    rgb2[80:120, 200:230] = 10  # a dark 40 x 30 marker on a light background: its longer side, with a warning
    assert reference_scale(rgb2, (180, 60, 80, 80), size_mm=20, warnings=said) == pytest.approx(2.0)
    assert said == ["the object in reference box (180, 60, 80, 80) is 30x40 px, no disc or square: its longer side "
                    "is taken as 20 mm"]  # fmt: skip
    with pytest.raises(ValueError, match="uniform"):
        reference_scale(rgb, (0, 0, 50, 50), size_mm=10)
    with pytest.raises(ValueError, match=r"reference size 0 mm: the object's size, above 0"):  # was ZeroDivisionError
        reference_scale(rgb, (190, 60, 80, 80), size_mm=0)
    with pytest.raises(ValueError, match=r"reaches outside the 300x200 image"):
        reference_scale(rgb, (250, 60, 80, 80), size_mm=25.0)  # clipped, it would measure a cut disc
    with pytest.raises(ValueError, match="touches the box's edge"):
        reference_scale(rgb, (215, 60, 60, 80), size_mm=25.0)  # the box cuts the disc


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--px-per-mm", "2", "--reference-box", "1,1,5,5", "--reference-mm", "3"], "both set the scale"),
        (["--reference-box", "1,1,5,5"], "--reference-box and --reference-mm go together"),
        (["--reference-box", "1,1,5", "--reference-mm", "3"], "1,1,5"),
        (["--grid", "0x5"], "--grid: grid must be ROWSxCOLS with both >= 1 (got '0x5')"),
        (["--grid", "abc"], "--grid: grid must be ROWSxCOLS (e.g. 3x4) (got 'abc')"),
        (["--grid", "2x2", "--grid-box", "1,2,3"], "--grid-box: a box is X,Y,W,H"),
    ],
)
def test_scale_options_that_clash_or_lack_each_other_are_usage_errors(tmp_path, args, message) -> None:
    from click.testing import CliRunner
    from PIL import Image

    from agriseg.cli import main

    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "a_mask.png")
    res = CliRunner().invoke(main, ["crop", "traits", str(tmp_path / "a_mask.png"), "-o", str(tmp_path / "o"), *args])
    assert res.exit_code == 2 and message in res.output, res.output


def test_a_date_field_skips_digits_that_are_no_date() -> None:
    """``date`` looked for inside a name takes the first place that is a date, not the first digits."""
    from agriseg.crop.traits.meta import parse_name

    assert parse_name("A12_20240601_cam1.jpg", "date") == {"date": "2024-06-01"}
    assert parse_name("tray_2024-06-01T10-30.jpg", "date") == {"date": "2024-06-01T10:30:00"}
    with pytest.raises(
        ValueError, match=r"'x_12_y' does not match the template 'date' \(dates are read when written as 2024"
    ):
        parse_name("x_12_y.jpg", "date")  # (a date has 8 characters at least: 12 is none)
    with pytest.raises(ValueError, match=r"'tray_2024-06-01' does not match the template 'tray_date_x'$"):
        parse_name("tray_2024-06-01.jpg", "tray_date_x")  # its date is read: no hint of date forms (session 102)


def test_a_region_reaching_outside_the_photo_is_not_in_frame() -> None:
    """``in_frame`` of a region: the region and its plants inside the photo (an empty region wholly outside said
    True)."""
    from agriseg.crop.traits.regions import Region, region_traits

    veg = np.zeros((40, 60), bool)
    regions = [Region("in", 0, 0, 30, 40), Region("half", 45, 0, 30, 40), Region("out", 100, 0, 10, 10)]
    rows = region_traits(regions, veg, [])
    assert [(r["status"], r["in_frame"]) for r in rows] == [
        ("empty", True),
        ("partly outside", False),
        ("outside", False),
    ]
    # no numbers for a region wholly outside (an empty pot's 0 and 0.0 before, session 80); an empty one: 0
    assert [(r["plant_count"], r["plant_area"], r["vegetation_area"]) for r in rows[::2]] == [
        (0, 0.0, 0.0),
        (None, None, None),
    ]


def test_overlapping_regions_are_named() -> None:
    """Regions that share pixels count shared vegetation twice: named once; touching regions do not overlap."""
    from agriseg.crop.traits.regions import Region, overlaps

    tray = [Region(str(i), 10 * i, 0, 10, 10) for i in range(6)]  # a row of pots that touch
    assert overlaps(tray) is None
    said = overlaps([*tray, Region("x", 15, 5, 10, 10), Region("y", 100, 0, 5, 5)])
    assert said is not None and said.startswith("regions 1 and x overlap (and 1 more pairs):")


def test_regions_whose_plants_the_model_was_unsure_of_are_named() -> None:
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.regions import CHECK_SURE
    from agriseg.crop.traits.runner import measure

    rgb, veg = _tray_photo(None)
    sure = veg.copy()
    m0 = measure(veg.astype(np.uint8), rgb, TraitsConfig(grid="3x4"))
    box = next(r for r in m0.regions if r["id"] == "6")
    x, y, w, h = (int(box[k]) for k in ("x", "y", "width", "height"))
    sure[y : y + h, x : x + w // 2 + 3] = False  # the model was sure of under half of pot 6's plant
    m = measure(veg.astype(np.uint8), rgb, TraitsConfig(grid="3x4"), sure=sure)
    by_id = {r["id"]: r for r in m.regions}
    assert by_id["6"]["model_sure"] < CHECK_SURE and by_id["1"]["model_sure"] == 1.0
    assert all(0.0 <= p["model_sure"] <= 1.0 for p in m.plants)
    assert any("region 6: the model was sure of under 50% of its plant pixels" in w for w in m.warnings)
    assert 0.9 < m.image["model_sure"] < 1.0
    # a mask read from a file says nothing of the model's sureness: no column, no warning
    assert "model_sure" not in m0.regions[0] and not any("model_sure" in w for w in m0.warnings)


def test_a_grid_box_wholly_outside_the_photo_fails_the_photo(tmp_path: Path) -> None:
    """It measured 18 ``outside`` pots and exited 0, with warnings only."""
    from PIL import Image

    from agriseg.batch import BatchOptions
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.runner import run_traits

    m = np.zeros((60, 120), np.uint8)
    m[20:40, 20:40] = 255
    Image.fromarray(m).save(tmp_path / "a_mask.png")
    recs = run_traits([tmp_path / "a_mask.png"], tmp_path / "o", TraitsConfig(grid="1x2", grid_box="200,0,50,50"),
                      batch=BatchOptions(progress=False))  # fmt: skip
    assert recs.exit_code == 1 and "--grid-box 200,0,50,50 lies wholly outside the 120x60 image" in recs[0]["error"]
    assert not any("left as" in n for n in recs.notes)  # a fresh folder: no earlier tables to speak of


def test_plants_in_mm_go_to_the_cell_their_centroid_is_in_and_areas_are_mm2() -> None:
    """With a scale, plant centroids are in mm and regions in px: each let a changed rule through (session 75's
    mutation sweep): centroids not scaled back, a cell's right edge counted as its own, mm x px areas."""
    import numpy as np

    from agriseg.crop.traits.regions import Region, assign_plants, region_traits

    cells = [Region("1", 0, 0, 10, 10), Region("2", 10, 0, 10, 10)]  # px
    plants = [{"centroid_x": 7.5, "centroid_y": 2.0}, {"centroid_x": 5.0, "centroid_y": 2.0}]  # mm at 2 px/mm
    assert assign_plants(cells, plants, px_per_mm=2.0) == ["2", "2"]  # 15 px and 10 px: both in cell 2
    assert assign_plants(cells, [{"centroid_x": 9.99, "centroid_y": 2.0}]) == ["1"]
    vegetation = np.zeros((10, 20), bool)
    vegetation[:, 12:16] = True  # 40 px in cell 2
    rows = region_traits(cells, vegetation, [], px_per_mm=2.0)
    assert [r["vegetation_area"] for r in rows] == [0.0, 10.0]  # 40 px / (2 px/mm)^2


def test_grid_cell_edges_are_rounded_to_the_nearest_pixel() -> None:
    """A 10 px box in 3 cells is cut at 3.33 and 6.67 -> 3 and 7 (widths 3, 4, 3), not floored to 3, 3, 4."""
    cells = grid_regions((5, 0, 10, 10), 3, 3)
    assert [(r.x, r.width) for r in cells[:3]] == [(5, 3), (8, 4), (12, 3)]
    assert [(r.y, r.height) for r in cells[::3]] == [(0, 3), (3, 4), (7, 3)]


def test_a_region_only_touching_the_photos_edge_from_outside_is_outside() -> None:
    """A region that starts where the photo ends (or ends where it starts) holds none of its pixels: it is
    ``outside``, not ``partly outside`` (measured on an empty cell)."""
    from agriseg.crop.traits.regions import Region, region_status

    shape = (40, 60)  # (H, W)
    assert region_status(Region("r", 60, 0, 10, 10), shape) == "outside"
    assert region_status(Region("l", -10, 0, 10, 10), shape) == "outside"
    assert region_status(Region("b", 0, 40, 10, 10), shape) == "outside"
    assert region_status(Region("p", 55, 0, 10, 10), shape) == "partly outside"


def test_a_regions_model_sure_is_weighted_by_its_plants_areas() -> None:
    """A pot's model_sure is the share of all its plants' pixels the model was sure of: a small unsure plant
    beside a large sure one weighed as much as it (an unweighted mean of the plants)."""
    from agriseg.crop.traits.regions import Region, region_traits

    plants = [
        {"region": "1", "area": 300.0, "model_sure": 1.0, "in_frame": True},
        {"region": "1", "area": 100.0, "model_sure": 0.0, "in_frame": True},
    ]
    row = region_traits([Region("1", 0, 0, 40, 40)], np.zeros((40, 40), bool), plants)[0]
    assert row["model_sure"] == pytest.approx(0.75)


def test_a_region_exactly_at_the_sure_level_needs_no_check() -> None:
    """Regions are named for a check under CHECK_SURE, not at it; rows without a number never are."""
    from agriseg.crop.traits.regions import CHECK_SURE, needs_check

    assert not needs_check({"model_sure": CHECK_SURE})
    assert needs_check({"model_sure": CHECK_SURE - 1e-6})
    assert not needs_check({"model_sure": None}) and not needs_check({})


def test_two_overlapping_patches_are_no_tray() -> None:
    """An object filling under 3/4 of its box (two soil patches joined at a corner) is no tray: the grid was laid
    over it."""
    rgb = np.full((200, 300, 3), 60, np.uint8)  # a grey mat
    rgb[30:110, 50:130] = (180, 150, 110)
    rgb[102:182, 122:202] = (180, 150, 110)  # fills 0.55 of the box of both
    assert detect_tray(rgb) is None
    rgb[30:182, 50:202] = (180, 150, 110)  # the same box, filled: a tray
    assert detect_tray(rgb) == (50, 30, 152, 152)


def test_a_regions_box_is_in_mm_with_a_scale() -> None:
    """With px_per_mm every number of a region row is in mm: its x and y stayed in pixels beside a width in mm."""
    from agriseg.crop.traits.regions import Region, region_traits

    row = region_traits([Region("1", 10, 20, 30, 40)], np.zeros((100, 100), bool), [], px_per_mm=2.0)[0]
    assert (row["x"], row["y"], row["width"], row["height"]) == (5.0, 10.0, 15.0, 20.0)


def test_region_positions_lay_out_a_regions_file_like_its_tray() -> None:
    """growth.png laid a regions file's 18 pots out 5 a row, in file order; a --grid's were 3 x 6 like the tray."""
    import random

    from agriseg.crop.traits.regions import Region, region_positions

    pots = [Region(f"p{r}{c}", 10 + 60 * c + (r % 2) * 3, 20 + 55 * r + c, 50, 48) for r in range(3) for c in range(6)]
    shuffled = pots[:]
    random.Random(0).shuffle(shuffled)
    where = region_positions(shuffled)
    assert where is not None and where["p00"] == (0, 0) and where["p25"] == (2, 5) and where["p13"] == (1, 3)
    assert region_positions(pots[:-1]) is None  # a row of another length: no grid
    assert region_positions([Region(str(i), 60 * i, 0, 50, 50) for i in range(6)]) is None  # one row


def test_a_regions_file_may_name_its_id_column_as_a_plots_file_does(tmp_path) -> None:
    """crop plots --help names plot_id, id or name as the id column; a pixel regions CSV with plot_id was refused
    ("needs the columns id,x,y,width,height")."""
    from agriseg.crop.traits.regions import read_regions

    f = tmp_path / "pots.csv"
    f.write_text("Plot_ID,x,y,width,height\nA1,0,0,10,10\n")
    assert [r.id for r in read_regions(f)] == ["A1"]
    f.write_text("plot_id,name,x,y,width,height\nA1,pot one,0,0,10,10\n")  # plot_id first, as crop plots reads
    assert [r.id for r in read_regions(f)] == ["A1"]


def test_a_reference_coin_on_soil_with_bright_clods_is_measured() -> None:
    """A white 100 px coin on field soil failed in every box ("touches the box's edge"): Otsu's threshold put
    bright clods beside it on its side, and the largest part was the coin and the clods (session 84's sweep).
    The part at the box's centre, opened free of thin joins, is the coin."""
    from agriseg.crop.traits.units import reference_scale

    rng = np.random.default_rng(3)
    rgb = rng.integers(70, 120, (300, 300, 3)).astype(np.uint8)  # soil
    yy, xx = np.mgrid[:300, :300]
    for cy, cx in rng.integers(0, 300, (60, 2)):  # bright clods about it, some on the box's edge
        if (cy - 150) ** 2 + (cx - 150) ** 2 > 62**2:
            rgb[(yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(9, 60)] = 230
    rgb[(yy - 150) ** 2 + (xx - 150) ** 2 <= 50**2] = 240  # the coin: 100 px across
    rgb[148:153, 200:260] = 235  # a clod's thin join to the coin
    scale = reference_scale(rgb, (80, 80, 140, 140), 25.0)
    assert scale == pytest.approx(4.0, abs=0.15)  # 101-103 px: a stub of the join may stay


def test_a_speck_in_a_reference_box_is_no_marker_and_a_large_box_is_quick() -> None:
    """Session 89's traits sweep: a box on plain mat took a 1 px speck as the marker (0.033 px per mm: the photo
    "18 m" wide, exit 0); a box over a whole 600x400 photo took over a minute (openings by 40 px discs)."""
    import time

    from scipy import ndimage

    from agriseg.crop.traits.units import _open, reference_scale

    rng = np.random.default_rng(0)
    rgb = np.full((400, 600, 3), (40, 60, 160), np.uint8)  # a blue mat
    rgb[200, 20] = 255  # a speck
    with pytest.raises(ValueError, match=r"is 1 px across, too small to be the marker"):
        reference_scale(rgb, (2, 190, 30, 25), 30.0)
    yy, xx = np.mgrid[:400, :600]
    rgb[(yy - 200) ** 2 + (xx - 300) ** 2 <= 60**2] = 250  # a 121 px white disc in the middle
    start = time.perf_counter()
    assert reference_scale(rgb, (0, 0, 600, 400), 30.0) == pytest.approx(121 / 30, abs=0.1)
    assert time.perf_counter() - start < 10  # seconds where it took a minute
    for r in (1, 3, 8):  # the opening through distance transforms is binary_opening by a disc, exactly
        obj = ndimage.binary_dilation(rng.random((60, 70)) > 0.95, iterations=3)
        disc = np.add.outer(np.arange(-r, r + 1) ** 2, np.arange(-r, r + 1) ** 2) <= r * r
        assert np.array_equal(_open(obj, r), ndimage.binary_opening(obj, disc))


def test_a_time_written_with_dashes_is_no_utc_offset() -> None:
    """Session 85's traits sweep: ``--meta`` read 2026-05-03-10-00 as 10:00 at UTC-00 (ISO 8601), and growth
    tables then failed with a traceback subtracting it from a date without an offset; 10-30 was "not a date"."""
    from agriseg.crop.traits.meta import parse_date

    assert parse_date("2026-05-03-10-00") == "2026-05-03T10:00:00"
    assert parse_date("2026-05-03-10-30") == "2026-05-03T10:30:00"
    assert parse_date("2026-05-03-10-30-15") == "2026-05-03T10:30:15"
    assert parse_date("2026-05-03T10:00:00+02:00") == "2026-05-03T10:00:00"  # the clock time as written


def test_exif_dates_of_other_software_and_broken_blocks(tmp_path, recwarn) -> None:
    """Session 85's review: a date written 2024-06-01 10:00:00 was ignored, and a corrupt EXIF block printed
    PIL's raw "Corrupt EXIF data" warning."""
    from PIL import Image

    from agriseg.crop.traits.meta import exif_date

    exif = Image.Exif()
    exif[306] = "2024-06-01 10:00:00"
    Image.new("RGB", (4, 4)).save(tmp_path / "a.jpg", exif=exif)
    assert exif_date(tmp_path / "a.jpg") == "2024-06-01T10:00:00"
    Image.new("RGB", (4, 4)).save(tmp_path / "b.jpg", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\x00\x00")
    assert exif_date(tmp_path / "b.jpg") is None
    assert not [w for w in recwarn if "EXIF" in str(w.message)]


def test_a_white_marker_on_pale_speckled_soil_with_clods_pressed_against_it_is_measured() -> None:
    """Session 87's plots sweep: a white 101 px disc on pale soil measured 0.66 px/mm (a dark speck: Otsu's one
    threshold split the specks from all the rest) and on other soil 2.3 (a clod of its colour against it)."""
    rng = np.random.default_rng(7)
    rgb = rng.integers(190, 215, (300, 300, 3)).astype(np.uint8)  # pale soil
    rgb[rng.random((300, 300)) < 0.2] = 70  # dark specks everywhere, the box's centre too
    yy, xx = np.mgrid[:300, :300]
    rgb[(yy - 150) ** 2 + (xx - 150) ** 2 <= 50**2] = 250  # the marker: 101 px across
    rgb[135:165, 195:225] = 238  # a pale clod 30 px wide pressed against its side, out of the box
    rgb[60:80, 140:160] = 60  # a dark clod near it
    said: list[str] = []
    assert reference_scale(rgb, (80, 80, 140, 140), 50.0, said) == pytest.approx(101 / 50, rel=0.03)  # 0.02 before
    assert said == []
    with pytest.raises(ValueError, match="cannot be told from the background around it"):
        flat = np.full((100, 100, 3), 120, np.uint8) + (np.arange(100) % 2)[:, None, None].astype(np.uint8)
        reference_scale(flat, (10, 10, 80, 80), 20.0)
    # the review of that change: a marker of two tones was measured by its middle (a bimetallic coin 0.72x)
    coin = np.full((200, 200, 3), 90, np.uint8)
    yy, xx = np.mgrid[:200, :200]
    coin[(yy - 100) ** 2 + (xx - 100) ** 2 <= 23**2] = (200, 170, 60)  # a brass ring 47 px across
    coin[(yy - 100) ** 2 + (xx - 100) ** 2 <= 16**2] = (190, 190, 195)  # a silver middle
    assert reference_scale(coin, (50, 50, 100, 100), 25.75) == pytest.approx(47 / 25.75, rel=0.02)


def test_a_grid_squeezed_into_a_tray_cut_by_the_photo_is_warned_about() -> None:
    """A tray cut by the photo's left edge through its first column of pots is found as the part in view and the
    grid squeezed into it. Cut by half a pot, the plants of the second column lie 0.38 of a cell off their cell's
    centre (still in it: a plant nearer its pot's edge would not be); by three quarters, they land in the first
    cell. Both are warned about; a tray's rim (cells wider than the pots) and a right --grid-box stay quiet."""
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.regions import grid_misfit
    from agriseg.crop.traits.runner import measure

    def said(m: Any) -> list[str]:
        return [w for w in m.warnings if "px apart" in w]

    rgb, veg = _tray_photo()  # 3 x 4 pots of 80 px from x = 60, plants at x = 100, 180, 260, 340
    assert not said(measure(veg.astype(np.uint8), rgb, TraitsConfig(grid="3x4")))
    for cut, cell, counts in ((100, 70, [0, 1, 1, 1]), (120, 64, [1, 0, 1, 1])):  # half a pot, three quarters
        cut_rgb, cut_veg = rgb[:, cut:], veg[:, cut:].copy()
        cut_veg[:, : max(0, 115 - cut)] = False  # the first column's plants, cut away
        m = measure(cut_veg.astype(np.uint8), cut_rgb, TraitsConfig(grid="3x4"))
        assert [r["plant_count"] for r in m.regions] == counts * 3  # three quarters: pot 2's plant in cell 1
        (msg,) = said(m)
        assert msg.startswith(f"--grid 3x4: its cells are {cell} px wide but the plants stand 80 px apart, so "), msg
        assert msg.endswith("Give --grid-box X,Y,W,H spanning the whole tray (X and Y may be negative)")
        # the grid given whole (x from 60 - cut): cells of 80 px, quiet, the cut column partly outside
        whole = TraitsConfig(grid="3x4", grid_box=f"{60 - cut},40,320,240")
        m = measure(cut_veg.astype(np.uint8), cut_rgb, whole)
        assert not said(m) and [r["plant_count"] for r in m.regions] == [0, 1, 1, 1] * 3, m.warnings
        assert f"regions 1, 5, 9 are partly outside the {400 - cut}x300 image" in m.warnings
        # a --grid-box half a cell off says so in its own words
        m = measure(cut_veg.astype(np.uint8), cut_rgb, TraitsConfig(grid="3x4", grid_box=f"{100 - cut},40,320,240"))
        assert said(m)[0].endswith(
            "does --grid-box span the pots (the tray's inside), and is the grid's shape the tray's?"
        )
    rim = rgb.copy()  # the same tray with a rim of 12 px (0.15 of a pot) around its pots
    rim[28:292, 48:392] = (30, 30, 32)
    rim[veg] = (60, 170, 50)
    m = measure(veg.astype(np.uint8), rim, TraitsConfig(grid="3x4"))
    assert m.box is not None and m.box[2] > 330 and not said(m), (m.box, m.warnings)
    assert [r["plant_count"] for r in m.regions] == [1] * 12
    # a 3 x 3 grid over this 3 x 4 layout does not fit
    labels = label_plants(veg)
    assert grid_misfit((60, 40, 320, 240), labels, 3, 4) is None
    assert grid_misfit((60, 40, 320, 240), labels, 3, 3) == ("wide", 320 / 3, 80.0)


def test_a_field_at_an_end_of_a_template_found_inside_a_name_runs_to_that_end() -> None:
    """``--meta date_camera`` on ``A1_20240601_cam1`` wrote camera ``c``: the template was found inside the name and
    its last field took its shortest match (session 94's sweep)."""
    from agriseg.crop.traits.meta import parse_name

    assert parse_name("A1_20240601_cam1.jpg", "date_camera") == {"date": "2024-06-01", "camera": "cam1"}
    assert parse_name("A1_2024-06-08_cam1.jpg", "sowdate_camera") == {"sowdate": "2024-06-08", "camera": "cam1"}
    assert parse_name("cam1_20240601_x.jpg", "camera_date") == {"camera": "cam1", "date": "2024-06-01"}
    assert parse_name("tray_2024-06-01_top.jpg", "date") == {"date": "2024-06-01"}
    # digits before the date (a plot, a rep) are no date: they matched and failed the name (the review's find)
    assert parse_name("T12_R3_20240601_cam1.jpg", "date_camera") == {"date": "2024-06-01", "camera": "cam1"}
    assert parse_name("site_10_A1_20240601_rgb.jpg", "plot_date") == {"plot": "site_10_A1", "date": "2024-06-01"}
