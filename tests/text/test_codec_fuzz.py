"""The RRLE decoder on hostile model output: huge counts, long inputs, random text.

It must never raise, never allocate more than the grid (plus a bounded multiple of its input), and stay
linear in its input.
"""

from __future__ import annotations

import json
import time
import tracemalloc

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agriseg.text.codec import decode_rrle, encode_answer
from agriseg.text.reward import DiceReward

NAMES = ["others", "field", "water"]
SHAPE = (16, 16)


def _peak_bytes(text: str) -> tuple[int, float]:
    """Peak traced allocation and CPU seconds of one decode (CPU time: other work on a loaded machine does not
    count)."""
    tracemalloc.start()
    t0 = time.process_time()
    grid, _ = decode_rrle(text, SHAPE, NAMES)
    seconds = time.process_time() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert grid.shape == SHAPE
    assert grid.min() >= 0 and grid.max() < len(NAMES)
    return peak, seconds


def test_reported_hostile_counts_are_cheap() -> None:
    cases = [
        "<seg>field *300000000\n</seg>",
        "<seg>" + "field *20000000| " * 50 + "\n</seg>",
        "<seg>field *1000000000000\n</seg>",
        "<seg>field *" + "9" * 5000 + "\n</seg>",
    ]
    for text in cases:
        peak, seconds = _peak_bytes(text)
        assert peak < 2_000_000, (text[:40], peak)
        assert seconds < 0.5, (text[:40], seconds)
        grid, report = decode_rrle(text, SHAPE, NAMES)
        assert (grid[0] == 1).all()  # the run fills the row and is cut there
        assert "long_row" in report.kinds()


def test_leading_zeros_keep_their_value() -> None:
    grid, report = decode_rrle("<seg>field *" + "0" * 5000 + "7| others *9\n</seg>", (1, 16), NAMES)
    assert grid[0].tolist() == [1] * 7 + [0] * 9


def test_dice_reward_never_raises_on_huge_counts() -> None:
    truth = np.zeros(SHAPE, dtype=int)
    truth[:, :8] = 1
    reward = DiceReward(class_names=NAMES)
    completions = ["<seg>field *1000000000000\n</seg>", "<seg>field *" + "9" * 5000 + "\n</seg>"]
    out = reward([None, None], completions, truth=[json.dumps(truth.tolist())] * 2)
    assert all(0.0 <= r <= 1.0 for r in out)


def test_long_input_is_linear() -> None:
    row = "field *1| " * 200_000  # one row of 200,000 runs
    small, big = "<seg>" + row[: len(row) // 10] + "\n</seg>", "<seg>" + row + "\n</seg>"

    def cpu_seconds(text: str) -> float:  # best of three, without tracemalloc's overhead
        times = []
        for _ in range(3):
            t0 = time.process_time()
            decode_rrle(text, SHAPE, NAMES)
            times.append(time.process_time() - t0)
        return min(times)

    t_small, t_big = cpu_seconds(small), cpu_seconds(big)
    assert t_big < 25 * t_small + 0.05 and t_big < 2.0  # ten times the input: about ten times the time
    peak_big, _ = _peak_bytes(big)
    assert peak_big < 64 * len(row)  # bounded by a constant times the input


_token = st.one_of(
    st.sampled_from(NAMES + ["feild", "Water", "", " ", "|", "*", "\n", "\n ", "<seg>", "</seg>"]),
    st.integers(min_value=0, max_value=10**30).map(lambda n: f" *{n}"),
    st.text(max_size=8),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_token, max_size=200))
def test_decoder_never_raises_and_stays_small(tokens: list[str]) -> None:
    text = "".join(tokens)
    peak, seconds = _peak_bytes(text)
    assert peak < 1_000_000 + 200 * len(text)
    assert seconds < 1.0


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_round_trip_is_valid(h: int, w: int, seed: int) -> None:
    grid = np.random.default_rng(seed).integers(0, len(NAMES), (h, w))
    decoded, report = decode_rrle(encode_answer(grid, NAMES, "Here."), (h, w), NAMES)
    assert report.valid, report.summary()
    assert (decoded == grid).all()
