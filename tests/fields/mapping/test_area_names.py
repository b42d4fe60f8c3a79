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
