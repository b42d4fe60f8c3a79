"""Segmentation losses."""

from __future__ import annotations

import torch
from torch import nn


class CEDiceLoss(nn.Module):
    """Cross-entropy + soft Dice (smp's multiclass Dice), both ignoring ``ignore_index``.

    Args:
        dice_weight: weight of the Dice term (0 = plain cross-entropy).
        ignore_index: label value excluded from both terms.
        class_weights: optional per-class cross-entropy weights.
    """

    def __init__(
        self, dice_weight: float = 1.0, ignore_index: int = 255, class_weights: list[float] | None = None
    ) -> None:
        super().__init__()
        from segmentation_models_pytorch.losses import DiceLoss

        w = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.ce = nn.CrossEntropyLoss(weight=w, ignore_index=ignore_index)
        self.dice = DiceLoss("multiclass", ignore_index=ignore_index) if dice_weight else None
        self.dice_weight = dice_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # logits: (B, K, H, W); target: (B, H, W) long
        loss = self.ce(logits, target)
        if self.dice is not None:
            loss = loss + self.dice_weight * self.dice(logits, target)
        return loss
