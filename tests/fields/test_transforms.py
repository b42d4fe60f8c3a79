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
