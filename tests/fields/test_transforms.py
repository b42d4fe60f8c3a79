from __future__ import annotations

import torch

from agriseg.fields.config import FieldsAugmentConfig as FieldAugmentConfig
from agriseg.fields.transforms import FieldAugment, adjust_sharpness, rotate

OFF = dict(divisor_range=None, rotate_p=0, hflip_p=0, vflip_p=0, sharpness_p=0, resized_crop_p=0, swap_p=0)


def _batch(b: int = 4, s: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(b, 8, s, s, generator=g), torch.randint(0, 3, (b, s, s), generator=g)


def test_all_off_is_identity() -> None:
    x, m = _batch()
    y, n = FieldAugment(FieldAugmentConfig(**OFF), seed=0)(x, m)
    torch.testing.assert_close(y, x)
    assert torch.equal(n, m)


def test_divisor_draw_rescales_within_range() -> None:
    x, m = _batch(64)
    cfg = FieldAugmentConfig(**{**OFF, "divisor_range": (1500.0, 4500.0)})
    y, _ = FieldAugment(cfg, seed=0)(x, m)
    ratio = (y / x).flatten(1).mean(1)  # 3000 / d per sample
    assert ratio.min() >= 3000 / 4500 - 1e-5 and ratio.max() <= 3000 / 1500 + 1e-5
    assert ratio.std() > 0.1  # per sample, not per batch


def test_window_swap_per_sample() -> None:
    x, m = _batch(32)
    y, n = FieldAugment(FieldAugmentConfig(**{**OFF, "swap_p": 0.5}), seed=1)(x, m)
    swapped = [bool(torch.equal(y[i, :4], x[i, 4:]) and torch.equal(y[i, 4:], x[i, :4])) for i in range(32)]
    same = [bool(torch.equal(y[i], x[i])) for i in range(32)]
    assert all(a or b for a, b in zip(swapped, same, strict=True))
    assert 5 < sum(swapped) < 27
    assert torch.equal(n, m)


def test_full_pipeline_keeps_shapes_and_label_values() -> None:
    x, m = _batch(8)
    aug = FieldAugment(seed=0)
    for _ in range(3):
        y, n = aug(x, m)
        assert y.shape == x.shape and n.shape == m.shape and n.dtype == m.dtype
        assert set(n.unique().tolist()) <= {0, 1, 2, 3}
        assert torch.isfinite(y).all() and (y >= 0).all()
    a = FieldAugment(seed=5)(x, m)[0]
    b = FieldAugment(seed=5)(x, m)[0]
    torch.testing.assert_close(a, b)


def test_rotation_90_matches_rot90_and_fills_ignore() -> None:
    x, m = _batch(1, 16)
    y, n = rotate(x[0], m[0], 90.0)
    torch.testing.assert_close(y, x[0].rot90(1, (-2, -1)), atol=1e-4, rtol=0)
    assert torch.equal(n, m[0].rot90(1, (-2, -1)))
    _, n45 = rotate(x[0], m[0], 45.0, ignore_index=3)
    assert n45[0, 0] == 3 and (n45 == 3).float().mean() > 0.05


def test_sharpness_factor_one_is_identity() -> None:
    x = torch.rand(8, 12, 12)
    torch.testing.assert_close(adjust_sharpness(x, 1.0), x)
    assert not torch.allclose(adjust_sharpness(x, 0.0), x)
    # borders are kept, the inside moves away from the smoothed image when sharpening
    sharp = adjust_sharpness(x, 2.0)
    torch.testing.assert_close(sharp[:, 0], x[:, 0])
    assert (sharp[:, 1:-1, 1:-1] - x[:, 1:-1, 1:-1]).abs().mean() > 0.01


def test_flips_turn_image_and_mask_the_same_way() -> None:
    """A flip of the image alone (or along another axis) trains on labels that no longer fit their pixels."""
    x, m = _batch(2, 8)
    y, n = FieldAugment(FieldAugmentConfig(**{**OFF, "hflip_p": 1.0}), seed=0)(x, m)
    assert torch.equal(y, x.flip(-1)) and torch.equal(n, m.flip(-1))
    y, n = FieldAugment(FieldAugmentConfig(**{**OFF, "vflip_p": 1.0}), seed=0)(x, m)
    assert torch.equal(y, x.flip(-2)) and torch.equal(n, m.flip(-2))


def test_resized_crop_cuts_the_mask_where_it_cuts_the_image() -> None:
    """A mask cropped at (left, top) instead of (top, left) labels another part of the chip."""
    from agriseg.fields.transforms import resized_crop

    ids = torch.arange(16 * 16).reshape(16, 16)  # every pixel its own class: the mask is a map of the image
    top, left, ch, cw = 2, 6, 8, 4
    y, n = resized_crop(ids[None].float(), ids, top, left, ch, cw)
    assert y.shape == (1, 16, 16) and n.shape == (16, 16)
    assert set(n.unique().tolist()) == set(ids[top : top + ch, left : left + cw].unique().tolist())
    assert y.min() >= ids[top, left] and y.max() <= ids[top + ch - 1, left + cw - 1]


def test_rotation_angles_are_drawn_both_ways(monkeypatch) -> None:
    """Angles drawn from U(0, max) instead of U(-max, max) rotate every chip one way only."""
    from agriseg.fields import transforms

    angles: list[float] = []
    real = transforms.rotate

    def spy(x: torch.Tensor, m: torch.Tensor, degrees: float, ignore_index: int = 3):
        angles.append(degrees)
        return real(x, m, degrees, ignore_index)

    monkeypatch.setattr(transforms, "rotate", spy)
    x, m = _batch(16, 4)
    FieldAugment(FieldAugmentConfig(**{**OFF, "rotate_p": 1.0, "max_degrees": 30.0}), seed=0)(x, m)
    assert len(angles) == 16 and all(abs(a) <= 30.0 for a in angles)
    assert min(angles) < -5.0 and max(angles) > 5.0


def test_random_crops_reach_the_last_row_and_column() -> None:
    """A crop whose corner is drawn one short never sees the chip's bottom row or right column."""
    from agriseg.fields.transforms import sample_crop

    gen = torch.Generator().manual_seed(0)
    boxes = [sample_crop(8, 8, (0.3, 0.5), (1.0, 1.0), gen) for _ in range(200)]
    assert all(t >= 0 and lf >= 0 and t + ch <= 8 and lf + cw <= 8 for t, lf, ch, cw in boxes)
    assert any(t + ch == 8 for t, _, ch, _ in boxes) and any(lf + cw == 8 for _, lf, _, cw in boxes)
    assert any(t == 0 for t, *_ in boxes) and any(lf == 0 for _, lf, *_ in boxes)
