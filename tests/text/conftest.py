"""Fixtures of the text tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agriseg.text.synthetic import SYNTH_CLASSES


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> str:
    """Tiny models that answer: a tile the model leaves without mask text gets a scripted 4x4 mask instead.

    The tiny test models have random (or 3-step) weights and rarely write mask text; an image with no mask text
    in any tile fails as an item. The real generation still runs (prompts, chat template, the model), and its
    answer is kept where it holds a mask. Returns the scripted answer (``others`` left, ``field`` right).
    """
    import agriseg.text.infer as infer
    from agriseg.text.codec import decode_rrle, encode_answer

    grid = np.zeros((4, 4), np.int64)
    grid[:, 2:] = 1
    scripted = encode_answer(grid, SYNTH_CLASSES)
    real = infer.generate_batch

    def generate(*args: Any, **kwargs: Any) -> list[str]:  # noqa: ANN401
        texts = real(*args, **kwargs)
        return [scripted if "no_mask" in decode_rrle(t, (4, 4), SYNTH_CLASSES)[1].kinds() else t for t in texts]

    monkeypatch.setattr(infer, "generate_batch", generate)
    return scripted
