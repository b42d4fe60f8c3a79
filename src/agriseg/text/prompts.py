"""MAgSeg's instruction format: whole image + the patch's pixel box + instruction -> RRLE of the patch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agriseg.text.codec import check_class_names

#: words the instruction uses (the tiny offline tokenizer must know them)
INSTRUCTION_WORDS: tuple[str, ...] = ("Segment", "the", "patch", "x", "y", "to", "of", "image", "into", "and")


def patch_instruction(box: tuple[int, int, int, int], class_names: Sequence[str]) -> str:
    """The text of one instruction.

    Args:
        box: the patch in pixels of the whole image, ``(x0, y0, x1, y1)`` (x1, y1 exclusive).
        class_names: class words, background first (the background is not listed).

    Returns:
        e.g. ``"Segment the patch x 0 y 32 to x 32 y 64 of the image into field, tree and water."``
    """
    names = check_class_names(class_names)[1:]
    if not names:
        raise ValueError("class_names needs at least one class besides the background")
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    x0, y0, x1, y1 = (int(v) for v in box)
    return f"Segment the patch x {x0} y {y0} to x {x1} y {y1} of the image into {listed}."


def user_message(
    box: tuple[int, int, int, int], class_names: Sequence[str], patch_image: bool = False
) -> list[dict[str, Any]]:
    """The conversational prompt TRL expects: one user turn with image placeholders and the instruction.

    Args:
        box: the patch in pixels of the whole image, ``(x0, y0, x1, y1)``.
        class_names: class words, background first.
        patch_image: two images, the patch cut from the image at full resolution and then the whole image
            (MAgSeg passes the whole image with every patch); otherwise the whole image only.
    """
    images = [{"type": "image"}] * (2 if patch_image else 1)
    return [
        {
            "role": "user",
            "content": [*images, {"type": "text", "text": patch_instruction(box, class_names)}],
        }
    ]


def assistant_message(answer: str) -> list[dict[str, Any]]:
    """The conversational completion: one assistant turn holding the answer text."""
    return [{"role": "assistant", "content": [{"type": "text", "text": answer}]}]
