"""The training / validation split of ``crop train`` (``agriseg.crop.dataset.split_stems``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agriseg.config import OptionError
from agriseg.crop.dataset import split_stems

STEMS = [f"{i:04d}" for i in range(1, 11)]


def test_a_photo_in_both_lists_is_refused(tmp_path: Path) -> None:
    """Validation on photos the model trained on was accepted with exit 0 (session 80)."""
    (tmp_path / "t.txt").write_text("0001\n0002\n0003\n")
    (tmp_path / "v.txt").write_text("0001\n0002\n")
    with pytest.raises(OptionError, match=r"2 photo\(s\) in both the training and the validation list, e.g. 0001"):
        split_stems(STEMS, str(tmp_path / "t.txt"), str(tmp_path / "v.txt"), 0.2, 0)


@pytest.mark.parametrize("seed", range(5))
def test_a_random_validation_share_is_drawn_outside_the_training_list(tmp_path: Path, seed: int) -> None:
    """With ``train_list`` and ``val_fraction`` the validation photos were drawn from every photo, training ones
    too (session 80)."""
    (tmp_path / "t.txt").write_text("\n".join(STEMS[:6]))
    train, val = split_stems(STEMS, str(tmp_path / "t.txt"), None, 0.3, seed)
    assert train == STEMS[:6] and len(val) == 3 and not set(val) & set(train)
    (tmp_path / "all.txt").write_text("\n".join(STEMS))
    with pytest.raises(OptionError, match="names every photo, so none is left to validate on"):
        split_stems(STEMS, str(tmp_path / "all.txt"), None, 0.3, seed)


def test_without_lists_the_split_is_seeded_and_disjoint() -> None:
    train, val = split_stems(STEMS, None, None, 0.2, 7)
    assert split_stems(STEMS, None, None, 0.2, 7) == (train, val)
    assert len(val) == 2 and sorted(train + val) == STEMS


def test_a_list_naming_a_photo_that_is_not_there_is_a_usage_error_naming_the_list(tmp_path: Path) -> None:
    """``val_list names 1 stems without image+label, e.g. ['not_a_stem']``: exit 1, the list not named
    (session 84's sweep)."""
    (tmp_path / "v.txt").write_text("0001\nnot_a_stem\n")
    with pytest.raises(OptionError, match=r"data.val_list: .*v.txt names 1 photo\(s\) without .*\(not_a_stem\)"):
        split_stems(STEMS, None, str(tmp_path / "v.txt"), 0.2, 0)
    with pytest.raises(OptionError, match=r"data.val_list: .*: a folder, not a list of photo names"):
        split_stems(STEMS, None, str(tmp_path), 0.2, 0)
