"""The vision warm start of the from-scratch demo model: it trains the vision tower only."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")


def test_warm_start_trains_vision_and_leaves_the_language_model() -> None:
    import torch

    from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscapes
    from agriseg.text.tinyvlm import TinyVLMConfig, build_tiny_vlm, warm_start_vision

    cfg = TinyVLMConfig(image_size=32, vision_patch=8, mm_tokens_per_image=16, hidden=32, intermediate=64, layers=1)
    model, proc = build_tiny_vlm(SYNTH_CLASSES, cfg, seed=0)
    imgs, sems, _ = make_landscapes(24, 3, LandscapeConfig(size=32))
    crops = [im[:16, :16] for im in imgs]  # patches of any size are resized by the processor
    lm_before = {k: v.clone() for k, v in model.model.language_model.state_dict().items()}
    vis_before = model.model.vision_tower.embeddings.patch_embedding.weight.clone()
    losses = warm_start_vision(
        model, proc, [*imgs, *crops], [*sems, *(m[:16, :16] for m in sems)], len(SYNTH_CLASSES), steps=40, batch=8
    )
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert not torch.equal(vis_before, model.model.vision_tower.embeddings.patch_embedding.weight)
    after = model.model.language_model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in lm_before.items())
