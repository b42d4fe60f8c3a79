from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agriseg.models.losses import CEDiceLoss, LogCoshDiceLoss, WeightedCELoss, omega_class_weights


def reference_logcosh_dice(logits: np.ndarray, target: np.ndarray, w: list[float], ignore: int = 3) -> float:
    """The formula of REFERENCE.md written out with loops over classes (float64)."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # (B, K, H, W)
    valid = target != ignore
    terms = []
    for c in range(logits.shape[1]):
        t = ((target == c) & valid).astype(np.float64)
        pc = p[:, c] * valid
        inter = (pc * t).sum()
        card = pc.sum() + t.sum()
        dice = 2 * inter / max(card, 1e-7)
        terms.append(w[c] * (1 - dice) if t.sum() > 0 else 0.0)
    x = np.mean(terms) / sum(w)
    return math.log(math.cosh(x))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logcosh_dice_matches_reference_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (3, 3, 17, 19))
    target = rng.integers(0, 4, (3, 17, 19))
    w = omega_class_weights(0.75)
    got = LogCoshDiceLoss(w)(torch.tensor(logits, dtype=torch.float32), torch.tensor(target)).item()
    assert got == pytest.approx(reference_logcosh_dice(logits, target, w), rel=1e-5, abs=1e-9)


def test_absent_class_is_zeroed_and_ignore_is_excluded() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 1, (2, 3, 8, 8))
    target = rng.integers(0, 2, (2, 8, 8))  # class 2 absent
    w = [0.05, 0.2, 0.75]
    loss = LogCoshDiceLoss(w)
    got = loss(torch.tensor(logits, dtype=torch.float32), torch.tensor(target)).item()
    assert got == pytest.approx(reference_logcosh_dice(logits, target, w), rel=1e-5)
    # pixels labelled 3 do not change the loss, whatever the logits there
    t2 = target.copy()
    t2[:, :2] = 3
    l2 = logits.copy()
    a = loss(torch.tensor(l2, dtype=torch.float32), torch.tensor(t2)).item()
    l2[:, :, :2] = rng.normal(0, 5, l2[:, :, :2].shape)
    b = loss(torch.tensor(l2, dtype=torch.float32), torch.tensor(t2)).item()
    assert a == pytest.approx(b, rel=1e-6)
    assert a != pytest.approx(got, rel=1e-3)


def test_perfect_prediction_gives_zero_and_gradient_flows() -> None:
    target = torch.randint(0, 3, (2, 16, 16))
    logits = 40.0 * torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float()
    assert LogCoshDiceLoss()(logits, target).item() == pytest.approx(0.0, abs=1e-8)
    x = torch.zeros(2, 3, 16, 16, requires_grad=True)
    LogCoshDiceLoss()(x, target).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_omega_weights_and_weighted_ce() -> None:
    assert omega_class_weights(0.75) == pytest.approx([0.05, 0.2, 0.75])
    with pytest.raises(ValueError):
        omega_class_weights(0.99)
    logits = torch.randn(2, 3, 5, 5)
    target = torch.randint(0, 4, (2, 5, 5))
    w = torch.tensor([0.05, 0.2, 0.75])
    keep = target != 3
    lp = logits.log_softmax(1).permute(0, 2, 3, 1)[keep]  # (N, 3)
    t = target[keep]
    manual = -(w[t] * lp[torch.arange(len(t)), t]).sum() / w[t].sum()
    got = WeightedCELoss([0.05, 0.2, 0.75], ignore_index=3)(logits, target)
    torch.testing.assert_close(got, manual)
    with pytest.raises(ValueError, match="class weights"):
        LogCoshDiceLoss([0.5, 0.5])(logits, target)


def _disc_target(h: int = 24, r: float = 8.0) -> torch.Tensor:
    yy, xx = np.mgrid[:h, :h]
    return torch.tensor(((yy - h / 2) ** 2 + (xx - h / 2) ** 2 <= r * r).astype(np.int64))[None]  # (1, H, W)


def test_interior_weight_one_is_plain_cross_entropy() -> None:
    from agriseg.models.losses import CEDiceLoss

    target = _disc_target()
    target[0, :2] = 255
    logits = torch.randn(1, 2, 24, 24, generator=torch.Generator().manual_seed(0))
    plain = CEDiceLoss(0.0)(logits, target)
    # the weighted path with every weight 1 is the same mean
    weighted = CEDiceLoss(0.0, interior_weight=1.0 + 1e-9)(logits, target)
    assert weighted.item() == pytest.approx(plain.item(), rel=1e-5)


def test_interior_weight_counts_deep_foreground_pixels_more() -> None:
    from agriseg.models.losses import CEDiceLoss

    target = _disc_target()
    centre = torch.zeros(1, 2, 24, 24)
    centre[:, 1, :, :] = torch.where(target[0] == 1, 30.0, -30.0)  # right and sure everywhere ...
    edge = centre.clone()
    centre[0, :, 12, 12] = torch.tensor([3.0, -3.0])  # ... but one pixel deep inside the disc
    edge[0, :, 12, 4] = torch.tensor([3.0, -3.0])  # ... or one pixel on its outline
    loss = CEDiceLoss(0.0, interior_weight=4.0, interior_depth=3)
    plain = CEDiceLoss(0.0)
    # the same mistake costs the same without the weight, about 4x more deep inside with it
    assert plain(centre, target).item() == pytest.approx(plain(edge, target).item(), rel=1e-6)
    assert loss(centre, target).item() > 3 * loss(edge, target).item()
    with pytest.raises(ValueError):
        from agriseg.crop.config import TrainConfig

        TrainConfig(interior_weight=0.5)


@pytest.mark.parametrize("loss", [CEDiceLoss(1.0, 255), CEDiceLoss(0.0, 255, interior_weight=3.0)])
def test_a_batch_of_ignored_pixels_only_is_a_zero_loss(loss) -> None:
    """A random crop inside a pseudo-label's ignore band: cross-entropy's mean over no pixel is NaN (with zero
    gradients), which stopped training as diverged once non-finite losses did."""
    logits = torch.randn(2, 2, 8, 8, requires_grad=True)
    out = loss(logits, torch.full((2, 8, 8), 255))
    out.backward()
    assert out.item() == 0.0 and logits.grad is not None and not logits.grad.any()
    assert WeightedCELoss([0.1, 0.9], ignore_index=3)(logits, torch.full((2, 8, 8), 3)).item() == 0.0


def test_class_weights_apply_with_an_interior_weight_too() -> None:
    """With ``interior_weight`` set, the class weights (for a rare class) must still apply, not be dropped silently."""
    target = _disc_target()
    logits = torch.randn(1, 2, 24, 24, generator=torch.Generator().manual_seed(1))
    weighted = CEDiceLoss(0.0, class_weights=[1.0, 5.0])(logits, target)
    # every interior weight 1 (but on the weighted path): the class-weighted mean torch computes
    same = CEDiceLoss(0.0, class_weights=[1.0, 5.0], interior_weight=1.0 + 1e-9)(logits, target)
    assert same.item() == pytest.approx(weighted.item(), rel=1e-5)
    plain = CEDiceLoss(0.0, interior_weight=1.0 + 1e-9)(logits, target)
    assert abs(plain.item() - weighted.item()) > 1e-3  # the weights change this loss


def test_ignored_pixels_count_in_neither_loss_term() -> None:
    """Pixels labelled 255 (a pseudo-label's ignore band) must weigh nothing: the loss is that of the image
    with them cut away."""
    target = _disc_target()
    target[0, :5] = 255
    logits = torch.randn(1, 2, 24, 24, generator=torch.Generator().manual_seed(2))
    loss = CEDiceLoss(1.0)
    assert loss(logits, target).item() == pytest.approx(loss(logits[..., 5:, :], target[:, 5:]).item(), rel=1e-6)
    assert (loss(logits, target) - CEDiceLoss(0.0)(logits, target)).item() > 0.1  # the Dice term is in it
