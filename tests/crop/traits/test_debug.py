"""The debug picture of crop traits: readable when a large photo is seen shrunk to a screen."""

from __future__ import annotations

import numpy as np
import pytest

from agriseg.crop.traits.debug import debug_image

YELLOW = (255, 255, 0)


def _outline_width(size: int) -> int:
    labels = np.zeros((size, size), np.int32)
    labels[size // 4 : size // 2, size // 4 : size // 2] = 1  # one square plant
    pic = debug_image(labels, None, [])
    row = pic[size // 3, size // 4 : size // 2]  # across the plant's left edge
    return int(np.all(row == YELLOW, axis=-1)[: size // 8].sum())


@pytest.mark.slow  # 7 s: pictures of a 5,400 px photo
def test_outlines_and_ids_grow_with_the_photo() -> None:
    """On a 8000 px photo the outlines were 1 px and ids 8 px tall: nothing readable when it fits a screen."""
    assert _outline_width(900) == 1  # a photo that fits a screen: as it always was
    assert _outline_width(5400) == 3  # 3x larger than 1,800 px: 3 px
    labels = np.zeros((5400, 5400), np.int32)
    small = debug_image(labels[:900, :900], None, [{"id": "88", "centroid_x": 450.0, "centroid_y": 450.0}])
    large = debug_image(labels, None, [{"id": "88", "centroid_x": 2700.0, "centroid_y": 2700.0}])
    ink = [int((np.abs(p.astype(int) - 96).sum(-1) > 0).sum()) for p in (small, large)]  # pixels of the id
    assert ink[1] > 5 * ink[0]  # drawn about 3x taller and wider


def test_a_pillow_that_cannot_scale_its_font_still_draws(monkeypatch) -> None:
    """Pillow 10.0 (allowed by the requirements) has no load_default(size=): every photo of 2,700 px or more
    failed its item."""
    from PIL import ImageFont

    real = ImageFont.load_default

    def old_pillow(*args: object, **kwargs: object) -> object:
        if kwargs:
            raise TypeError("load_default() got an unexpected keyword argument 'size'")
        return real()

    monkeypatch.setattr(ImageFont, "load_default", old_pillow)
    monkeypatch.setattr("agriseg.crop.traits.debug.unicode_font", lambda: None)  # no font installed either
    labels = np.zeros((3600, 3600), np.int32)
    labels[100:200, 100:200] = 1
    pic = debug_image(labels, None, [{"id": "1", "centroid_x": 150.0, "centroid_y": 150.0}])
    assert pic.shape == (3600, 3600, 3)


def test_ids_with_accents_and_other_alphabets_are_drawn_as_letters() -> None:
    """Session 84: PIL's default font drew "é", "ö" and "Ж" as the same box, so pots "blé-1" and "Ж-1" looked
    alike in the picture."""
    import pytest

    from agriseg.crop.traits.debug import unicode_font

    if unicode_font() is None:
        pytest.skip("no font with these letters on this machine (DejaVu Sans, Arial, Segoe UI, matplotlib's)")
    labels = np.zeros((200, 200), np.int32)
    pics = [debug_image(labels, None, [{"id": t, "centroid_x": 100.0, "centroid_y": 100.0}]) for t in "éЖ"]
    assert (pics[0] != pics[1]).any()


def test_regions_far_larger_than_the_photo_are_drawn_clipped() -> None:
    """``--grid-box 0,0,2147483648,2147483648`` drew for minutes (PIL walks the whole outline); regions wholly
    outside the photo are not drawn at all (session 94's sweep)."""
    from agriseg.crop.traits.regions import Region

    labels = np.zeros((60, 80), np.int32)
    huge = 2**31
    regions = [Region("1", 0, 0, huge, huge), Region("2", huge, 0, 10, 10), Region("3", -huge, -huge, 5, 5)]
    pic = debug_image(labels, None, [], regions)
    assert pic.shape == (60, 80, 3)
    assert (pic[0, 40:] == (0, 200, 255)).all() and (pic[30:, 0] == (0, 200, 255)).all()  # region 1's seen sides
    assert (pic[30:, -1] == 96).all() and (pic[-1, 10:] == 96).all()  # its far sides lie beyond the picture
