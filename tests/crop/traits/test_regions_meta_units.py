"""Regions (grid and file), file-name metadata and the reference-object scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.draw import disk

from agriseg.crop.traits.meta import parse_date, parse_name
from agriseg.crop.traits.plants import label_plants, plant_traits
from agriseg.crop.traits.regions import grid_regions, parse_grid, read_regions, region_traits
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
    regions = grid_regions(labels, *parse_grid("2x3"))
    assert [r.id for r in regions] == ["1", "2", "3", "4", "5", "6"]
    out = region_traits(regions, mask, plants)
    assert [r["plant_count"] for r in out] == [1] * 6
    # row 2 plants are larger (radius + 1)
    assert out[3]["plant_area"] > out[0]["plant_area"]
    assert sum(r["plant_area"] for r in out) == mask.sum()


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


@pytest.mark.parametrize("text", ["3", "0x2", "axb"])
def test_bad_grid(text: str) -> None:
    with pytest.raises(ValueError, match="ROWSxCOLS"):
        parse_grid(text)


def test_meta_template_and_dates() -> None:
    meta = parse_name(Path("x/A12_20240601_cam1.jpg"), "plant_date_camera")
    assert meta == {"plant": "A12", "date": "2024-06-01", "camera": "cam1"}
    assert parse_name(Path("p3-2024-06-01.png"), "plot-date") == {"plot": "p3", "date": "2024-06-01"}
    assert parse_date("2024-06-01T101500") == "2024-06-01T10:15:00"
    with pytest.raises(ValueError, match=r"^x/A12\.jpg: .*does not match"):
        parse_name(Path("x/A12.jpg"), "plant_date_camera")
    with pytest.raises(ValueError, match=r"A12_2024-13-45_c\.jpg: field 'date'"):
        parse_name(Path("A12_2024-13-45_c.jpg"), "plant_date_camera")


def test_reference_object_scale() -> None:
    rgb = np.full((200, 300, 3), 90, np.uint8)  # brown-gray soil
    rr, cc = disk((100, 230), 25, shape=rgb.shape)
    rgb[rr, cc] = 250  # a white disc
    across = cc.max() - cc.min() + 1
    s = reference_scale(rgb, (190, 60, 80, 80), size_mm=25.0)
    assert s == pytest.approx(across / 25.0)
    rgb2 = np.full((200, 300, 3), 230, np.uint8)
    rgb2[80:120, 200:230] = 10  # a dark 40 x 30 marker on a light background
    assert reference_scale(rgb2, (180, 60, 80, 80), size_mm=20) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="uniform"):
        reference_scale(rgb, (0, 0, 50, 50), size_mm=10)
