"""Index pseudo-labels on a few real Peanut photos (needs ../shared; labels used only to score)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agriseg.crop.labels import PEANUT_VEGETATION, read_label
from agriseg.crop.pseudolabel.gght import GGHTConfig
from agriseg.crop.pseudolabel.pipeline import index_pseudolabel, read_rgb_for_index
from agriseg.metrics import SegmentationMetrics


def test_cive_pseudolabels_on_real_photos(shared_dir: Path) -> None:
    root = shared_dir / "data" / "peanut"
    files = sorted((root / "images").glob("*.jpg"))[:300:25]  # 12 photos across the set
    m = SegmentationMetrics(2)
    for f in files:
        small, full = read_rgb_for_index(f, GGHTConfig().fit_long_side)
        res, extra = index_pseudolabel(small, "cive", out_shape=full)
        assert res.mask.shape == full == (720, 960) and extra["index"] == "cive"
        m.update(
            res.mask.astype(np.uint8),
            read_label(root / "labels" / f"{f.stem}.png", "colormap", PEANUT_VEGETATION),
        )
    assert m.compute()["miou"] > 0.7
