"""Segmentation losses: CE + Dice (crops), PRUE's log-cosh Dice and weighted CE (field boundaries)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def nothing_to_learn(logits: torch.Tensor) -> torch.Tensor:
    """The loss of a batch whose every pixel is ignored (a random crop inside a pseudo-label's ignore band):
    zero with zero gradients. Cross-entropy's mean over no pixel is NaN (its gradients are zero), which a
    training run cannot tell from a run whose weights diverged."""
    return logits.float().sum() * 0.0


class CEDiceLoss(nn.Module):
    """Cross-entropy + soft Dice (smp's multiclass Dice), both ignoring ``ignore_index``.

    Args:
        dice_weight: weight of the Dice term (0 = plain cross-entropy).
        ignore_index: label value excluded from both terms.
        class_weights: optional per-class cross-entropy weights.
        interior_weight: cross-entropy weight of foreground pixels (every class but 0) lying deeper than
            ``interior_depth`` px inside their labelled region; 1 = every pixel counts the same.
        interior_depth: how deep (px, square neighbourhood) a foreground pixel must lie to count as interior.
    """

    def __init__(
        self,
        dice_weight: float = 1.0,
        ignore_index: int = 255,
        class_weights: list[float] | None = None,
        interior_weight: float = 1.0,
        interior_depth: int = 3,
    ) -> None:
        super().__init__()
        from segmentation_models_pytorch.losses import DiceLoss

        w = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.ce = nn.CrossEntropyLoss(weight=w, ignore_index=ignore_index)
        self.dice = DiceLoss("multiclass", ignore_index=ignore_index) if dice_weight else None
        self.dice_weight = dice_weight
        self.ignore_index = ignore_index
        self.interior_weight, self.interior_depth = interior_weight, interior_depth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # logits: (B, K, H, W); target: (B, H, W) long
        if not bool((target != self.ignore_index).any()):
            return nothing_to_learn(logits)
        loss = self.ce(logits, target) if self.interior_weight == 1 else self._weighted_ce(logits, target)
        if self.dice is not None:
            loss = loss + self.dice_weight * self.dice(logits, target)
        return loss

    def _weighted_ce(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy with interior foreground pixels weighted up (a weighted mean, as torch weighs classes)."""
        valid = target != self.ignore_index  # (B, H, W)
        ce = F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction="none")  # (B, H, W)
        fg = (valid & (target != 0)).float()[:, None]  # (B, 1, H, W)
        d = self.interior_depth
        # erosion as a min-filter: max-pooling pads with -inf, so the image border does not erode
        inner = -F.max_pool2d(-fg, 2 * d + 1, stride=1, padding=d)[:, 0]  # (B, H, W), 1 = interior
        w = valid.float() * (1 + (self.interior_weight - 1) * inner)
        if self.ce.weight is not None:
            w = w * self.ce.weight.to(w)[torch.where(valid, target, 0)]  # class weight of each labelled pixel
        return (w * ce).sum() / w.sum().clamp_min(1e-6)


def omega_class_weights(omega: float = 0.75) -> list[float]:
    """PRUE's class weights ``[0.05, 0.95 - omega, omega]`` for (background, interior, boundary).

    Raises:
        ValueError: ``omega`` outside (0, 0.95).
    """
    if not 0.0 < omega < 0.95:
        raise ValueError(f"omega must lie in (0, 0.95), got {omega}")
    return [0.05, 0.95 - omega, omega]


def soft_dice_per_class(
    logits: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int | None = 3,
    smooth: float = 0.0,
    eps: float = 1e-7,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft Dice of each class over the whole batch, and which classes occur in the (non-ignored) target.

    Args:
        logits: ``(B, K, H, W)`` raw scores (softmax is applied here).
        target: ``(B, H, W)`` class ids; ``ignore_index`` pixels count in neither prediction nor truth.
        ignore_index: label excluded from the loss (None = none).
        smooth: added to numerator and denominator.
        eps: lower bound of the denominator.

    Returns:
        ``dice (K,)`` and ``present (K,)`` bool.
    """
    k = logits.shape[1]
    prob = logits.float().softmax(dim=1)  # (B, K, H, W)
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    t = torch.where(valid, target, torch.zeros_like(target))
    onehot = F.one_hot(t.long(), k).permute(0, 3, 1, 2).to(prob.dtype)  # (B, K, H, W)
    v = valid.unsqueeze(1).to(prob.dtype)  # (B, 1, H, W)
    prob, onehot = prob * v, onehot * v
    inter = (prob * onehot).sum(dim=(0, 2, 3))  # (K,)
    card = (prob + onehot).sum(dim=(0, 2, 3))  # (K,)
    dice = (2.0 * inter + smooth) / (card + smooth).clamp_min(eps)
    return dice, onehot.sum(dim=(0, 2, 3)) > 0


class LogCoshDiceLoss(nn.Module):
    """PRUE's weighted log-cosh Dice loss, as PRUE / ftw-tools compute it.

    ``L = log(cosh(mean_c(w_c * (1 - Dice_c)) / sum_c w_c))`` with the soft Dice of each class over the whole
    batch (softmax, smooth 0, eps 1e-7), ignored pixels removed, and the terms of classes absent from the
    batch's target set to 0.

    Args:
        class_weights: ``w``; default PRUE's ``omega_class_weights(0.75) = [0.05, 0.2, 0.75]``.
        ignore_index: label excluded (FTW unknown = 3).
        smooth: Dice smoothing (PRUE: 0).
        eps: Dice denominator floor (PRUE: 1e-7).
    """

    def __init__(
        self,
        class_weights: list[float] | None = None,
        ignore_index: int | None = 3,
        smooth: float = 0.0,
        eps: float = 1e-7,
    ) -> None:
        super().__init__()
        w = torch.tensor(class_weights if class_weights is not None else omega_class_weights(0.75))
        self.register_buffer("weights", w.float(), persistent=False)
        self.ignore_index, self.smooth, self.eps = ignore_index, smooth, eps

    weights: torch.Tensor  # (K,) the buffer registered above

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # logits: (B, K, H, W); target: (B, H, W) long
        if logits.shape[1] != self.weights.numel():
            raise ValueError(f"{logits.shape[1]} classes in the logits, {self.weights.numel()} class weights")
        dice, present = soft_dice_per_class(logits, target, self.ignore_index, self.smooth, self.eps)
        per_class = (1.0 - dice) * present.to(dice.dtype)  # (K,)
        x = (self.weights * per_class).mean() / self.weights.sum()
        return torch.log(torch.cosh(x))


class WeightedCELoss(nn.Module):
    """Class-weighted cross-entropy with an ignored label (the FTW baseline's loss).

    Args:
        class_weights: per-class weights (None = unweighted).
        ignore_index: label excluded (FTW unknown = 3).
    """

    def __init__(self, class_weights: list[float] | None = None, ignore_index: int | None = 3) -> None:
        super().__init__()
        w = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None
        self.ce = nn.CrossEntropyLoss(weight=w, ignore_index=-1000 if ignore_index is None else ignore_index)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # logits: (B, K, H, W); target: (B, H, W) long
        if self.ce.ignore_index >= 0 and not bool((target != self.ce.ignore_index).any()):
            return nothing_to_learn(logits)
        return self.ce(logits.float(), target.long())
