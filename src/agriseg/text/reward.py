"""MAgSeg's reward: mean Dice over classes between a decoded completion and the truth grid."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from agriseg.text.codec import decode_rrle


def mean_dice(
    pred: np.ndarray,
    truth: np.ndarray,
    num_classes: int,
    include_background: bool = False,
    smooth: float = 1.0,
) -> float:
    """Mean over classes of (2 |P_c & G_c| + s) / (|P_c| + |G_c| + s) (MAgSeg eq. 4).

    A class absent from both prediction and truth scores 1 (the smoothing term makes it s / s).

    Args:
        pred: (H, W) predicted class ids.
        truth: (H, W) true class ids.
        num_classes: number of classes including background (id 0).
        include_background: also average class 0.
        smooth: the smoothing term s.

    Returns:
        Mean Dice in [0, 1].

    A negative id in ``pred`` is a pixel of no class (counted wrong for every class: a repaired row).

    Raises:
        ValueError: shapes that differ, empty masks, values that are not whole numbers (NaN, probabilities),
            ids of ``num_classes`` or more, negative truth ids, ``num_classes`` under 1, ``smooth`` not above 0.
        TypeError: ``num_classes`` that is no whole number (``2.0``, ``"2"``).

    A bool mask reads as class ids 0 / 1.
    """
    if getattr(num_classes, "shape", None) == () and np.issubdtype(np.asarray(num_classes).dtype, np.integer):
        num_classes = int(num_classes)  # a 0-d array of an int, as np.max gives it
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):  # 2.0, "2": a TypeError
        raise TypeError(f"mean_dice: num_classes is a whole number of classes, not {num_classes!r}")  # of numpy's
    if num_classes < 1 or not smooth > 0:  # smooth 0 divides 0 by 0 for an absent class; NaN passes no test
        raise ValueError(f"mean_dice: num_classes {num_classes} must be >= 1 and smooth {smooth} > 0")
    p, t = np.asarray(pred), np.asarray(truth)
    p, t = (a.astype(np.uint8) if a.dtype == bool else a for a in (p, t))  # a bool mask: 0 / 1, as mask_to_grid
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {p.shape} != truth shape {t.shape}")
    if not t.size:  # an empty pair scored 1.0, a perfect score of nothing
        raise ValueError(f"mean_dice: empty masks (shape {t.shape})")
    for name, a in (("prediction", p), ("truth", t)):
        if not a.size:
            continue
        if not np.issubdtype(a.dtype, np.number) or not np.array_equal(a, np.round(a)):  # NaN fails too
            raise ValueError(f"{name} holds {a.dtype} values that are not class ids (argmax or threshold first)")
        if a.max() >= num_classes or (name == "truth" and a.min() < 0):
            raise ValueError(f"{name} holds class ids outside 0-{num_classes - 1} ({a.min()}..{a.max()})")
    classes = range(0 if include_background else 1, num_classes)
    scores = []
    for c in classes:
        pc, tc = p == c, t == c
        scores.append((2.0 * np.logical_and(pc, tc).sum() + smooth) / (pc.sum() + tc.sum() + smooth))
    return float(np.mean(scores)) if scores else 1.0


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a plain string or ``[{"role": "assistant", "content": str}]``."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        last = completion[-1]
        if isinstance(last, dict):
            content = last.get("content", "")
            if isinstance(content, list):  # [{"type": "text", "text": ...}]
                return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
            return str(content)
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return str(completion)


def names_a_class(text: str, class_names: Sequence[str]) -> bool:
    """Whether ``text`` holds one of ``class_names`` as a word (a mask that says anything at all)."""
    import re

    return any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text) for n in class_names)


@dataclass
class DiceReward:
    """A TRL reward function: mean Dice of each decoded completion against the ``truth`` column.

    TRL passes every dataset column as a keyword list (one entry per generation). The truth column holds
    the grid as JSON (``[[0, 1, ...], ...]``); the class names come from ``class_names`` (JSON list column)
    or from this object.

    Attributes:
        class_names: class words, background first (used when the dataset has no ``class_names`` column).
        validity_weight: weight of an extra +1 reward for a completion that needed no repair.
            A completion holding no mask text, or none naming a class, scores 0, whatever the options.
        repaired_rows: ``"keep"`` scores the repaired decode (a row running past the patch edge is cut and
            scores as if well-formed, so the reward cannot see it); ``"wrong"`` scores every cell of a
            repaired row as no class (the row's truth is missed), a penalty in proportion to the damage.
        include_background: average the background class too.
        smooth: Dice smoothing term.
    """

    class_names: Sequence[str]
    validity_weight: float = 0.0
    repaired_rows: Literal["keep", "wrong"] = "keep"
    include_background: bool = False
    smooth: float = 1.0

    def __post_init__(self) -> None:
        self.__name__ = "dice_reward"  # TRL logs rewards/<__name__>/mean

    def score(self, text: str, truth: np.ndarray, class_names: Sequence[str]) -> tuple[float, bool]:
        """Reward and validity of one completion."""
        grid, report = decode_rrle(text, truth.shape, class_names)
        if "no_mask" in report.kinds() or not names_a_class(text, class_names):
            # no mask text, or none that names a class (`<seg>\n</seg>`): the decoder's made-up background is no
            # answer (it scored 0.83 against a mostly-background truth, and GRPO learnt to write nothing)
            return 0.0, False
        if self.repaired_rows == "wrong":
            # rows the decoder changed; a row written other than canonically (runs not merged, no leading space)
            # decodes to what it says and is scored as that
            bad = sorted({r.row for r in report.repairs if 0 <= r.row < grid.shape[0] and r.kind not in AS_WRITTEN})
            grid = grid.copy()
            grid[bad] = -1  # no class: these cells count for none
        d = mean_dice(grid, truth, len(class_names), self.include_background, self.smooth)
        return d + self.validity_weight * float(report.valid), report.valid

    def __call__(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        """Rewards for a batch of completions (TRL's reward-function signature)."""
        truths = columns.get("truth")
        if truths is None:
            raise ValueError("the dataset has no 'truth' column (the grid as JSON) needed by the Dice reward")
        names_col = columns.get("class_names")
        out = []
        for i, comp in enumerate(completions):
            names = json.loads(names_col[i]) if names_col is not None else list(self.class_names)
            truth = np.asarray(json.loads(truths[i]) if isinstance(truths[i], str) else truths[i])
            out.append(self.score(completion_text(comp), truth, names)[0])
        return out


# repairs of the text's form only: the row holds what it says
AS_WRITTEN = frozenset({"noncanonical", "missing_leading_space"})


@dataclass
class ValidityReward:
    """A zero-weight-friendly TRL reward that is 1 for a well-formed mask, else 0 (logged as validity)."""

    class_names: Sequence[str]

    def __post_init__(self) -> None:
        self.__name__ = "format_valid"  # TRL logs rewards/<__name__>/mean

    def __call__(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        """1.0 for each completion that decodes without repair."""
        truths = columns["truth"]
        names_col = columns.get("class_names")
        out = []
        for i, comp in enumerate(completions):
            names = json.loads(names_col[i]) if names_col is not None else list(self.class_names)
            truth = np.asarray(json.loads(truths[i]) if isinstance(truths[i], str) else truths[i])
            out.append(float(decode_rrle(completion_text(comp), truth.shape, names)[1].valid))
        return out
