"""Instance rasters hold every id: no wrap at 255 (issue: feature 300 sat on id 45)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agriseg.text.io import GeoRef, read_mask, write_mask, write_polygons


def _many_instances(n: int = 300) -> np.ndarray:
    side = int(np.ceil(np.sqrt(n)))
    labels = np.zeros((side * 4, side * 4), np.int64)  # (H, W): 2x2 squares on a 4-px grid
    for i in range(n):
        r, c = divmod(i, side)
        labels[r * 4 : r * 4 + 2, c * 4 : c * 4 + 2] = i + 1
    return labels


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_instance_ids_beyond_255_survive(tmp_path: Path, suffix: str) -> None:
    labels = _many_instances(300)
    geo = GeoRef("EPSG:32633", (0.5, 0.0, 500000.0, 0.0, -0.5, 5000000.0)) if suffix == ".tif" else None
    out = write_mask(labels, tmp_path / f"inst{suffix}", geo, ids=True)
    back = read_mask(out)
    assert back.max() == 300
    assert np.array_equal(back, labels)
    doc = write_polygons(labels, (labels > 0).astype(np.int64), ["background", "field"], tmp_path / "i.geojson", geo)
    import json

    feats = json.loads(doc.read_text())["features"]
    assert sorted(f["properties"]["id"] for f in feats) == list(range(1, 301))


def test_class_ids_that_do_not_fit_8_bits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sem.png: class ids up to 300"):
        write_mask(np.full((4, 4), 300), tmp_path / "sem.png")
