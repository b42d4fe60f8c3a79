"""scripts/interpolate_models.py: weight interpolation of two models of one configuration."""

import importlib.util
from pathlib import Path

import pytest
import torch

from agriseg.models import build_model

REPO = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("interpolate_models", REPO / "scripts" / "interpolate_models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_interpolation_ends_at_each_model_and_averages_between() -> None:
    script = _load()
    torch.manual_seed(0)
    b = build_model(encoder_weights=None)
    sa = build_model(encoder_weights=None).state_dict()
    sb = b.state_dict()
    key = next(k for k, v in sa.items() if v.is_floating_point() and not torch.equal(v, sb[k]))

    def blended(alpha: float) -> dict[str, torch.Tensor]:
        a = build_model(encoder_weights=None)
        a.load_state_dict(sa)
        return script.interpolate(a, b, alpha).state_dict()

    assert torch.equal(blended(0.0)[key], sa[key]) and torch.allclose(blended(1.0)[key], sb[key])
    half = blended(0.5)
    assert torch.allclose(half[key], (sa[key] + sb[key]) / 2)
    counters = [k for k, v in sa.items() if not v.is_floating_point()]  # batch-norm step counters: the first's
    assert counters and all(torch.equal(half[k], sa[k]) for k in counters)


def test_models_of_other_shapes_are_refused() -> None:
    script = _load()
    with pytest.raises(SystemExit, match="shapes|different layers"):
        script.interpolate(build_model(encoder_weights=None), build_model(encoder_weights=None, num_classes=3), 0.5)
