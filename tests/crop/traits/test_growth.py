"""The growth tables of regions over dates (agriseg.crop.traits.growth.write_growth)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from agriseg.crop.traits.growth import write_growth


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_rates_are_per_day_and_per_region_and_the_wide_table_has_every_date(tmp_path: Path) -> None:
    """Each case let a changed rule through (session 75's mutation sweep): the tests had 1-day gaps only, so a
    rate not divided by the days passed; a region's first date took the previous region's last as its start;
    the wide table's later dates were never read."""
    dated = [
        ("2024-06-01", "a.jpg", [{"id": "1", "plant_area": 10.0}, {"id": "2", "plant_area": 50.0}]),
        ("2024-06-08", "b.jpg", [{"id": "1", "plant_area": 24.0}, {"id": "2", "plant_area": 60.0}]),
    ]
    write_growth(dated, tmp_path)
    rows = {(r["region_id"], r["date"]): r for r in _rows(tmp_path / "growth.csv")}
    later = rows[("1", "2024-06-08")]
    assert float(later["plant_area_px2_change_per_day"]) == pytest.approx(2.0)  # (24 - 10) / 7 days
    assert float(later["relative_growth_rate_per_day"]) == pytest.approx(math.log(2.4) / 7, rel=1e-5)
    first_of_2 = rows[("2", "2024-06-01")]
    assert first_of_2["plant_area_px2_change_per_day"] == "" and first_of_2["relative_growth_rate_per_day"] == ""
    wide = {r["region_id"]: r for r in _rows(tmp_path / "growth_wide.csv")}
    assert float(wide["1"]["plant_area_px2 2024-06-08"]) == 24.0 and float(wide["2"]["plant_area_px2 2024-06-01"]) == 50


def test_the_wide_table_never_gives_two_photos_one_column(tmp_path: Path) -> None:
    """plot.jpg twice (two folders) and "plot (2).jpg", undated: the second plot.jpg was labelled "plot (2)", the
    label of the third photo, so the wide table had two columns of one name and lost a photo's values (session
    79's sweep)."""
    dated = [(None, f, [{"id": "1", "green_fraction": v}]) for f, v in
             (("A/plot.jpg", 0.1), ("B/plot.jpg", 0.2), ("C/plot (2).jpg", 0.3))]  # fmt: skip
    write_growth(dated, tmp_path, value="green_fraction")
    with (tmp_path / "growth_wide.csv").open(encoding="utf-8") as f:
        header, row = list(csv.reader(f))[:2]
    assert len(set(header)) == len(header) == 4, header
    assert sorted(float(v) for v in row[1:]) == [0.1, 0.2, 0.3]


def test_a_date_after_today_is_warned_about(tmp_path: Path) -> None:
    """tray_2099-06-15.jpg was taken as it said: the chart's days ran to 27,000, the real dates in one spot."""
    dated = [
        ("2024-06-01", "tray_2024-06-01.jpg", [{"id": "1", "plant_area": 10.0}]),
        ("2099-06-15", "tray_2099-06-15.jpg", [{"id": "1", "plant_area": 24.0}]),
    ]
    notes: list[str] = []
    write_growth(dated, tmp_path, notes=notes)
    assert [n for n in notes if "after today" in n] == [
        "warning: tray_2099-06-15.jpg: dated 2099-06-15, after today (a typo in its name?); the chart's days run to it"
    ]


def test_mosaics_of_one_date_are_named_as_mosaics_of_a_trial(tmp_path: Path) -> None:
    """Session 87's plots sweep: two orthomosaics of one date were warned about as "photos" of "one tray"."""
    rows = [{"id": "1", "green_fraction": 0.5}]
    dated = [("2024-06-01", "a_2024-06-01.tif", rows), ("2024-06-01", "b_2024-06-01.tif", rows)]
    notes: list[str] = []
    write_growth(dated, tmp_path, "plot_id", value="green_fraction", notes=notes, kind="mosaic")
    said = " ".join(notes)
    assert "2 mosaics dated 2024-06-01" in said and "follow one trial over dates" in said
    assert "photo" not in said and "tray" not in said
