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


def test_warm_start_position_task_teaches_where_each_token_is() -> None:
    from agriseg.text.synthetic import SYNTH_CLASSES
    from agriseg.text.tinyvlm import TinyVLMConfig, build_tiny_vlm, warm_start_vision

    cfg = TinyVLMConfig(image_size=32, vision_patch=8, mm_tokens_per_image=16, hidden=32, intermediate=64, layers=1)
    model, proc = build_tiny_vlm(SYNTH_CLASSES, cfg, seed=0)
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(16)]  # noise: no class to see
    masks = [np.zeros((32, 32), dtype=np.int64)] * 16  # one class, so the class term goes to 0 at once
    losses = warm_start_vision(model, proc, imgs, masks, 4, steps=80, batch=8, lr=1e-2, position_weight=1.0)
    # the position term starts near 2 ln 4 (4 rows, 4 columns, chance) and the tokens learn where they are
    assert np.mean(losses[:3]) > 2.0
    assert np.mean(losses[-5:]) < 0.5


def test_warmup_samples_add_one_lattice_patch_per_image() -> None:
    from agriseg.text.synthetic import LandscapeConfig, make_landscapes
    from agriseg.text.tinyvlm import warmup_samples

    imgs, sems, _ = make_landscapes(6, 1, LandscapeConfig(size=32))
    whole, whole_masks = warmup_samples(imgs, sems, None, 8, seed=0)
    assert len(whole) == 6 and all(np.array_equal(a, b) for a, b in zip(whole, imgs, strict=True))
    images, masks = warmup_samples(imgs, sems, 16, 8, seed=0)
    assert len(images) == len(masks) == 12
    for im, m, crop, crop_mask in zip(imgs, sems, images[6:], masks[6:], strict=True):
        assert crop.shape == (16, 16, 3) and crop_mask.shape == (16, 16)
        found = [
            (y, x)
            for y in (0, 8, 16)
            for x in (0, 8, 16)
            if np.array_equal(im[y : y + 16, x : x + 16], crop) and np.array_equal(m[y : y + 16, x : x + 16], crop_mask)
        ]
        assert found  # the patch and its mask are cut at the same corner of the 8-px lattice
