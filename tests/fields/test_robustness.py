from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from agriseg.fields.robustness import (
    RobustnessConfig,
    corner_consistency,
    format_robustness,
    robustness_report,
    scene_chips,
)


class RatioModel(nn.Module):
    """Pointwise NDVI of the mean of both windows: scale-free, order-free, translation-equivariant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 8, H, W) -> (B, 3, H, W)
        r = (x[:, 0] + x[:, 4]) / 2
        n = (x[:, 3] + x[:, 7]) / 2
        ndvi = (n - r) / (n + r + 1e-6)
        return torch.stack([torch.zeros_like(ndvi), 20 * (ndvi - 0.4), torch.full_like(ndvi, -5.0)], 1)


class WindowABrightness(nn.Module):
    """Field where window A's NIR is bright in model units: depends on order and divisor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x[:, 3] - 1.0
        return torch.stack([torch.zeros_like(v), 20 * v, torch.full_like(v, -5.0)], 1)


class ContextModel(nn.Module):
    """Compares each pixel with the crop's mean: predictions depend on the surrounding context."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x[:, 3] - x[:, 3].mean(dim=(-2, -1), keepdim=True)
        return torch.stack([torch.zeros_like(v), 20 * v, torch.full_like(v, -5.0)], 1)


def _chips(n: int = 3, s: int = 64) -> torch.Tensor:
    from agriseg.fields.synthetic import SyntheticFTWConfig, make_chip

    rng = np.random.default_rng(0)
    cfg = SyntheticFTWConfig(size=s, fields_per_chip=(3, 6))
    out = []
    for _ in range(n):
        c = make_chip(rng, cfg)
        out.append(np.concatenate([c["window_a"], c["window_b"]]).astype(np.float32))
    return torch.from_numpy(np.stack(out))


def test_invariant_model_scores_perfectly() -> None:
    refl = _chips()
    cfg = RobustnessConfig(crop=48, divisors=(1500.0, 4500.0), scales=(1.0,))
    res = robustness_report(RatioModel(), refl, cfg=cfg)
    assert res["mode"] == "agreement"
    assert res["corner_consistency"] == pytest.approx(1.0)
    assert res["order"]["variants"]["windows_swapped"]["agreement"] == pytest.approx(1.0)
    for name in ("divisor_1500", "divisor_4500"):
        assert res["preprocessing"]["variants"][name]["agreement"] == pytest.approx(1.0)
    assert res["scale"]["variants"]["resize_1"]["agreement"] == pytest.approx(1.0)
    assert res["preprocessing"]["variants"]["missing_offset"]["agreement"] < 1.0  # offset breaks ratios
    assert "corner consistency" in format_robustness(res)


def test_sensitive_models_are_detected() -> None:
    refl = _chips()
    refl[:, 4:] = refl[:, :4].flip(-1)  # window B differs from A
    cfg = RobustnessConfig(crop=48, scales=(0.5,))
    res = robustness_report(WindowABrightness(), refl, cfg=cfg)
    assert res["order"]["sensitivity"]["disagreement"] > 0.01
    assert res["preprocessing"]["variants"]["divisor_1500"]["agreement"] < 1.0
    assert corner_consistency(ContextModel(), refl / 3000, crop=40).mean() < 1.0
    assert corner_consistency(WindowABrightness(), refl / 3000, crop=40).mean() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="S/2 < p < S"):
        corner_consistency(RatioModel(), refl / 3000, crop=20)


def test_with_labels_reports_metric_deltas() -> None:
    refl = _chips()
    labels = RatioModel()(refl / 3000).argmax(1)  # the reference prediction is perfect
    res = robustness_report(RatioModel(), refl, labels, RobustnessConfig(crop=48, scales=(1.0,)))
    assert res["mode"] == "labels"
    assert res["reference"]["pixel_iou"] == pytest.approx(1.0)
    assert res["order"]["sensitivity"]["delta_pixel_iou"] == pytest.approx(0.0)
    assert res["preprocessing"]["variants"]["divisor_4500"]["pixel_iou"] == pytest.approx(1.0)
    assert res["preprocessing"]["sensitivity"]["delta_pixel_iou"] > 0.0  # min-max / missing offset hurt


def test_a_chip_with_nothing_to_count_is_left_out_not_scored_0(capsys) -> None:
    """A chip without any true or predicted field scored object F1 0 in the reference and |0 - 0| = 0 in every
    delta, pulling both down, where evaluate says null (session 103's sweep); the passes show a bar."""
    import json
    import math

    from agriseg.data.files import dumps_json

    refl = _chips(2)
    labels = RatioModel()(refl / 3000).argmax(1)  # (2, S, S): perfect on both chips
    one = robustness_report(RatioModel(), refl[:1], labels[:1], RobustnessConfig(crop=48, scales=(1.0,)))
    labels[1] = 0  # no field in truth ...
    refl[1, [3, 7]] = refl[1, [0, 4]]  # ... nor in the prediction (NIR = red: NDVI 0)
    two = robustness_report(RatioModel(), refl, labels, RobustnessConfig(crop=48, scales=(1.0,)))
    assert two["reference"]["object_f1"] == one["reference"]["object_f1"] == pytest.approx(1.0)
    for fam in ("order", "preprocessing"):
        assert two[fam]["sensitivity"] == pytest.approx(one[fam]["sensitivity"])
    empty = robustness_report(RatioModel(), refl[1:], labels[1:], RobustnessConfig(crop=48, scales=(1.0,)))
    assert math.isnan(empty["reference"]["object_f1"]) and "object_f1 n/a" in format_robustness(empty)
    assert json.loads(dumps_json(empty))["reference"]["object_f1"] is None
    assert "robustness: 100%" in capsys.readouterr().err
    # fields on one side only score 0, not n/a: a model finding none of the true fields (the review)
    from agriseg.fields.robustness import _chip_scores

    truth = np.zeros((8, 8), np.int64)
    truth[2:5, 2:5] = 1
    assert _chip_scores(np.zeros_like(truth), truth, 0.5) == {"pixel_iou": 0.0, "object_f1": 0.0}


def test_scene_chips_cover_the_edges() -> None:
    arr = np.arange(1 * 100 * 150, dtype=np.float32).reshape(1, 100, 150)
    chips, pos = scene_chips(arr, 64, 48)
    assert chips.shape == (len(pos), 1, 64, 64)
    assert max(y for y, _ in pos) == 36 and max(x for _, x in pos) == 86
    np.testing.assert_array_equal(chips[-1], arr[:, 36:, 86:])
    with pytest.raises(ValueError, match="smaller than one"):
        scene_chips(arr, 128)


def test_real_scene_agreement(shared_dir) -> None:
    from agriseg.fields.sentinel2 import read_s2, to_reflectance

    arr, profile = read_s2(shared_dir / "data/sentinel2/austria-inn-2window.tif", bands=8)
    chips, _ = scene_chips(to_reflectance(arr), 128, 128)
    res = robustness_report(RatioModel(), torch.from_numpy(chips), cfg=RobustnessConfig(crop=96, scales=(0.5, 2.0)))
    assert res["chips"] == len(chips) >= 8
    assert res["order"]["variants"]["windows_swapped"]["agreement"] == pytest.approx(1.0)
    assert 0.0 <= res["scale"]["sensitivity"]["disagreement"] <= 1.0
