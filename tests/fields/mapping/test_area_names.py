"""File names of the areas of ``fields download --areas`` / ``fields map --areas``, from their ids."""

from __future__ import annotations

import pytest

from agriseg.fields.mapping.commands import area_file_name


@pytest.mark.parametrize(
    ("area_id", "name"),
    [
        ("Müller", "Müller"),  # were both M_ller, refused as "given twice"
        ("Mäller", "Mäller"),
        ("Łąka 3/B", "Łąka_3_B"),
        ("CON", "_CON"),  # Windows cannot make CON.tif or aux.x.tif
        ("aux.x", "_aux.x"),
        ("COM1", "_COM1"),
        ("NUL1", "NUL1"),
        ("//", "area7"),
        ("..x..", "x"),  # no trailing dot, which Windows drops
    ],
)
def test_area_file_names_keep_letters_and_avoid_windows_devices(area_id: str, name: str) -> None:
    assert area_file_name(area_id, 7) == name


def test_an_area_file_edited_to_another_area_is_another_request(tmp_path) -> None:
    """``--bbox field.geojson`` edited to a smaller block and the same command again: the old area's scene and
    fields were kept as done (session 84's sweep). The file's area is part of the request; spellings of one
    area of numbers are one request."""
    import json

    from agriseg.fields.mapping.commands import SceneRequest

    def area(w: float, e: float) -> None:
        ring = [[w, 47.0], [e, 47.0], [e, 47.1], [w, 47.1], [w, 47.0]]
        feature = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        (tmp_path / "field.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))

    dates = "2023-04-01/2023-04-30"
    area(15.0, 15.1)
    before = SceneRequest(str(tmp_path / "field.geojson"), dates, dates).options()["bbox"]
    area(15.0, 15.05)
    after = SceneRequest(str(tmp_path / "field.geojson"), dates, dates).options()["bbox"]
    assert before != after and after == f"{tmp_path / 'field.geojson'} = 15,47,15.05,47.1"
    same = {SceneRequest(b, dates, dates).options()["bbox"] for b in ("15.0, 47, 15.05, 47.1", "15,47,15.05,47.1")}
    assert same == {"15,47,15.05,47.1"}


def test_areas_and_rates_are_said_to_three_significant_digits() -> None:
    """``fields predict`` of a chip said "0.0 km2 at 0.00 km2/s"; ``.3g`` would write 999.6 as ``1e+03``."""
    from agriseg.fields.mapping.commands import significant

    assert [significant(v) for v in (0.02134, 999.6, 6.67e-5, 87.6, 12345.6, 9.996, 0.0009996)] == [
        "0.0213", "1,000", "0.0000667", "87.6", "12,300", "10.0", "0.00100"
    ]  # fmt: skip
