"""RRLE codec: Text4Seg byte compatibility, round trips, and the repairing decoder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from agriseg.text.codec import (
    check_class_names,
    decode_rrle,
    encode_answer,
    encode_rrle,
    is_valid_rrle,
    wrap_seg,
)

NAMES = ["others", "field", "tree", "water"]


def test_text4seg_example_bytes() -> None:
    grid = np.array([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert encode_answer(grid, ["others", "field"]) == "<seg>others *2| field *2\n field *4\n</seg>"
    assert wrap_seg("x *1\n", "Sure.") == "Sure.\n<seg>x *1\n</seg>"


def test_multiword_labels_round_trip() -> None:
    names = ["others", "paddy field"]
    grid = np.array([[1, 0], [0, 0]])
    text = encode_answer(grid, names, "Here it is.")
    assert "paddy field *1| others *1" in text
    out, rep = decode_rrle(text, (2, 2), names)
    assert rep.valid and np.array_equal(out, grid)


@settings(max_examples=150, deadline=None)
@given(
    arrays(np.int64, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.integers(0, 3)),
    st.sampled_from(["", "Sure, here is the mask."]),
)
def test_round_trip_random_grids(grid: np.ndarray, sentence: str) -> None:
    text = encode_answer(grid, NAMES, sentence)
    out, rep = decode_rrle(text, grid.shape, NAMES)
    assert rep.valid, rep.summary()
    assert np.array_equal(out, grid)
    # without the wrapper too
    out2, rep2 = decode_rrle(encode_rrle(grid, NAMES), grid.shape, NAMES)
    assert np.array_equal(out2, grid)
    assert rep2.kinds() <= {"missing_open_tag", "missing_close_tag"}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.integers(1, 9), st.integers(1, 9))
def test_arbitrary_text_never_raises(text: str, h: int, w: int) -> None:
    out, rep = decode_rrle(text, (h, w), NAMES)
    assert out.shape == (h, w)
    assert out.min() >= 0 and out.max() < len(NAMES)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "others",
                "field",
                "tree",
                "water",
                "fie1d",
                "|",
                " *",
                "*",
                "3",
                "12",
                "\n",
                " ",
                "<seg>",
                "</seg>",
                "x",
            ]
        ),
        max_size=80,
    )
)
def test_token_soup_never_raises(tokens: list[str]) -> None:
    out, _ = decode_rrle("".join(tokens), (4, 5), NAMES)
    assert out.shape == (4, 5)


def _kinds(text: str, shape: tuple[int, int] = (2, 4)) -> tuple[np.ndarray, set[str]]:
    out, rep = decode_rrle(text, shape, NAMES)
    return out, rep.kinds()


def test_repairs_missing_tags_and_leading_space() -> None:
    out, kinds = _kinds("others *2| field *2\nfield *4\n")
    assert np.array_equal(out, [[0, 0, 1, 1], [1, 1, 1, 1]])
    assert kinds == {"missing_open_tag", "missing_close_tag", "missing_leading_space"}


def test_repairs_bad_and_missing_counts() -> None:
    out, kinds = _kinds("<seg>others *x| field *2\n tree\n</seg>")
    assert np.array_equal(out, [[0, 0, 1, 1], [2, 2, 2, 2]])
    assert kinds == {"bad_count", "missing_count"}


def test_short_row_does_not_shift_later_rows() -> None:
    # Text4Seg's decoder would shift row 2 left by two cells; ours pads row 1 only
    out, kinds = _kinds("<seg>field *2\n tree *4\n water *4\n</seg>", (3, 4))
    assert np.array_equal(out, [[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]])
    assert kinds == {"short_row"}


def test_long_row_missing_and_extra_rows() -> None:
    out, kinds = _kinds("<seg>field *9\n</seg>", (2, 4))
    assert np.array_equal(out, [[1] * 4, [1] * 4])
    assert kinds == {"long_row", "missing_row"}
    out, kinds = _kinds("<seg>tree *4\n tree *4\n water *4\n</seg>", (2, 4))
    assert kinds == {"extra_row"} and out.tolist() == [[2] * 4, [2] * 4]


def test_unknown_labels_closest_or_previous() -> None:
    out, kinds = _kinds("<seg>Field *2| fieldd *2\n tree *2| banana *2\n</seg>")
    assert np.array_equal(out, [[1, 1, 1, 1], [2, 2, 2, 2]])
    assert kinds == {"unknown_label"}


def test_no_mask_gives_background() -> None:
    out, rep = decode_rrle("I cannot see anything.", (3, 3), NAMES)
    assert not rep.valid and "no_mask" in rep.kinds()
    assert (out == 0).all()
    assert "no_mask" in rep.summary()


def test_text_after_the_mask_is_not_a_well_formed_answer() -> None:
    """A second mask (or words) after </seg> decoded as valid: GRPO's format reward counted it well-formed
    (session 83's sweep). The first mask is still read; the answer is marked repaired."""
    t = "<seg>others *1\n</seg>"
    grid, rep = decode_rrle(t + t, (1, 1), NAMES)
    assert grid.tolist() == [[0]] and not rep.valid and "text after </seg> ignored" in str(rep.repairs)
    assert decode_rrle(t + "\n ", (1, 1), NAMES)[1].valid  # whitespace after it is nothing


def test_is_valid() -> None:
    assert is_valid_rrle("<seg>others *1\n</seg>", (1, 1), NAMES)
    assert not is_valid_rrle("<seg>others *2\n</seg>", (1, 1), NAMES)


@pytest.mark.parametrize("names", [[], ["others", "others"], ["a|b"], ["a *b"], [" pad"], ["x*"]])
def test_bad_class_names_are_clear_errors(names: list[str]) -> None:
    with pytest.raises(ValueError):
        check_class_names(names)


def test_at_most_255_classes_as_class_id_255_is_nodata() -> None:
    """256 class words were taken, and class 255 then read as nodata in every mask (session 83's sweep)."""
    words = ["others", *(f"c{i}" for i in range(1, 255))]
    assert len(check_class_names(words)) == 255
    with pytest.raises(ValueError, match=r"256 classes: at most 255 \(class ids 0-254; 255 is nodata"):
        check_class_names([*words, "c255"])


def test_encode_errors() -> None:
    with pytest.raises(ValueError, match="grid ids"):
        encode_rrle(np.array([[0, 5]]), NAMES)
    with pytest.raises(ValueError, match="2-D"):
        encode_rrle(np.zeros(3, dtype=int), NAMES)
    with pytest.raises(ValueError, match="shape"):
        decode_rrle("x", (0, 2), NAMES)


def test_codec_arguments_that_are_easy_to_get_wrong_give_clear_errors():
    """'others,field' as class_names listed its letters as duplicates; decode_rrle(text, 4, names) failed deep
    inside; bytes were decoded as their repr and 'repaired' into a grid; a uint8 mask holding 255 overflowed
    in mask_to_grid, and a numpy int grid size was refused."""
    import numpy as np
    import pytest

    from agriseg.text import decode_rrle, encode_answer, mask_to_grid

    g = np.array([[0, 1], [1, 1]])
    with pytest.raises(TypeError, match="list of words"):
        encode_answer(g, "others,field")
    with pytest.raises(TypeError, match="list of words, one per class id, not NoneType"):  # "not iterable"
        encode_answer(g, None)  # type: ignore[arg-type]
    text = encode_answer(g, ["others", "field"])
    with pytest.raises(TypeError, match=r"\(rows, cols\)"):
        decode_rrle(text, 2, ["others", "field"])
    with pytest.raises(TypeError, match="bytes"):
        decode_rrle(text.encode(), (2, 2), ["others", "field"])
    assert np.array_equal(decode_rrle(text, (2, 2), ["others", "field"])[0], g)
    # session 105's API sweep: numpy's "Unable to allocate 74.5 GiB", and "got shape ()" for None
    with pytest.raises(ValueError, match=r"at most 4096 cells a side"):
        decode_rrle(text, (100_000, 100_000), ["others", "field"])
    from agriseg.text import encode_rrle

    with pytest.raises(TypeError, match="grid is a .H, W. array of class ids, not NoneType"):
        encode_rrle(None, ["others", "field"])  # type: ignore[arg-type]
    m = np.zeros((8, 8), np.uint8)
    m[:4] = 255
    assert mask_to_grid(m, np.int64(2)).tolist() == [[255, 255], [0, 0]]
    with pytest.raises(ValueError, match="not class ids"):
        mask_to_grid(np.full((8, 8), 0.4), 2)


def test_a_grid_of_fractions_is_not_written_as_classes():
    """encode_answer(g * 0.7, ...) wrote 0.7 as class 0."""
    import numpy as np
    import pytest

    from agriseg.text import encode_answer

    with pytest.raises(ValueError, match="fractions"):
        encode_answer(np.array([[0, 1], [1, 1]]) * 0.7, ["others", "field"])
    assert "field" in encode_answer(np.array([[0.0, 1.0], [1.0, 1.0]]), ["others", "field"])


@pytest.mark.parametrize(
    "text",
    [
        "<seg>others*2|field*2\n field*4\n</seg>",  # no spaces
        "<seg> others *2| field *2\n field *4\n</seg>",  # a space before the first row
        "<seg>others *02| field *2\n field *4\n</seg>",  # a zero-padded count
        "<seg>others *2| field *2\r\n field *4\r\n</seg>",  # CRLF
        "<seg>others *2| field *2\n field *4</seg>",  # no newline before </seg>
        "<seg>others *1| others *1| field *2\n field *4\n</seg>",  # runs of one label not merged
    ],
)
def test_text_the_encoder_never_writes_is_not_valid(text: str) -> None:
    """Each decoded to the right grid with valid=True: the format reward overstated format-keeping."""
    out, rep = decode_rrle(text, (2, 4), NAMES)
    assert np.array_equal(out, [[0, 0, 1, 1], [1, 1, 1, 1]]) and rep.kinds() == {"noncanonical"}
    assert is_valid_rrle("<seg>others *2| field *2\n field *4\n</seg>", (2, 4), NAMES)


def test_a_blank_line_shifts_no_row() -> None:
    """A blank line between rows became row 1 (background) and pushed the real row 1 out as an extra row."""
    out, rep = decode_rrle("<seg>others *2| field *2\n\n field *4\n</seg>", (2, 4), NAMES)
    assert np.array_equal(out, [[0, 0, 1, 1], [1, 1, 1, 1]]) and rep.kinds() == {"blank_line"}
    # a blank row in place of a row: the row above, as for a missing row (was the background)
    out, rep = decode_rrle("<seg>field *4\n  \n field *4\n</seg>", (3, 4), NAMES)
    assert (out == 1).all() and rep.kinds() == {"empty_row"}


def test_repairs_that_a_changed_rule_would_get_wrong() -> None:
    """Cases that let a changed repair rule through (session 75's mutation sweep)."""
    names = ["others", "field"]
    # two runs without counts share a row of 5: the first gets the odd cell, so the boundary stays put
    grid, _ = decode_rrle("<seg>others| field\n</seg>", (1, 5), names)
    assert grid.tolist() == [[0, 0, 0, 1, 1]]
    # one line more than rows: only that one blank line is dropped, the other is an empty row in its place
    grid, report = decode_rrle("<seg>others *2\n\n\n field *2\n</seg>", (3, 2), names)
    assert grid.tolist() == [[0, 0], [0, 0], [1, 1]]
    assert sorted(r.kind for r in report.repairs) == ["blank_line", "empty_row"]
    # a misspelt class word is read as that class; a word like no class is not made one
    assert decode_rrle("<seg>others *2| feld *3\n</seg>", (1, 5), names)[0].tolist() == [[0, 0, 1, 1, 1]]
    assert decode_rrle("<seg>others *2| weed *3\n</seg>", (1, 5), names)[0].tolist() == [[0, 0, 0, 0, 0]]


def test_a_mask_of_ids_outside_the_classes_is_refused_not_dropped() -> None:
    """Session 85's API sweep: `mask_to_grid(mask_0_255, 4, num_classes=2)` dropped the 255 pixels silently (no
    field cell where 63 were), and without num_classes a 960x720 0/255 mask took 4 GB (256 one-hot planes)."""
    from agriseg.text import mask_to_grid

    m = np.zeros((720, 960), np.uint8)
    m[:360] = 255
    with pytest.raises(ValueError, match="class id 255, not one of the 2 classes"):
        mask_to_grid(m, 4, 2)
    assert mask_to_grid(m > 0, 4, 2).tolist() == [[1] * 4] * 2 + [[0] * 4] * 2
    assert mask_to_grid(m, 4, 2, ignore=255).tolist() == [[0] * 4] * 4  # nodata votes for no class
    assert mask_to_grid(m, 4).max() == 255  # the ids as given, in little memory
