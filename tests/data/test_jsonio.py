import json

import numpy as np

from agriseg.data.jsonio import dumps


def test_undefined_numbers_are_null_and_numpy_is_plain() -> None:
    obj = {"fpr": float("nan"), "x": [np.float32("inf"), np.int64(3), np.float64(2.5)], "a": np.array([1.0, np.nan])}
    text = dumps(obj)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"fpr": None, "x": [None, 3, 2.5], "a": [1.0, None]}
