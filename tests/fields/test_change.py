"""PRUE's change map between two years' probability rasters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from agriseg.fields.change import change_map, field_logit
from agriseg.raster.io import is_cog


def _probs(path: Path, field: np.ndarray, nodata: np.ndarray | None = None, shift: float = 0.0) -> Path:
    h, w = field.shape
    cls = np.where(field > 127, 1, 0).astype(np.uint8)
    if nodata is not None:
        cls[nodata] = 255
    arr = np.stack([cls, 255 - field, field, np.zeros_like(field)])
    prof = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": 4,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": from_origin(359130.0 + shift, 5352340.0, 10, 10),
    }
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr)
    return path


def test_change_map_marks_the_changed_field(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = np.clip(rng.normal(200, 5, (120, 90)), 0, 255).astype(np.uint8)
    b = a.copy()
    b[20:60, 30:70] = 10  # a field disappeared
    nd = np.zeros(a.shape, bool)
    nd[:, :5] = True
    stats = change_map(
        _probs(tmp_path / "a.tif", a, nd), _probs(tmp_path / "b.tif", b), tmp_path / "c.tif", block=50
    )
    assert is_cog(tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as ds:
        mag, mask = ds.read(1), ds.read(2)
    assert (mask[20:60, 30:70] == 1).all() and (mask[:, :5] == 255).all()
    rest = np.ones(a.shape, bool)
    rest[20:60, 30:70] = False
    rest[:, :5] = False
    assert (mask[rest] == 0).all() and mag.max() == 255
    assert stats["changed_fraction"] == pytest.approx(40 * 40 / (120 * 85))
    assert stats["max"] == pytest.approx(
        float(np.abs(field_logit(a) - field_logit(b))[:, 5:].max()), rel=1e-5
    )


def test_change_map_needs_the_same_grid(tmp_path: Path) -> None:
    a = np.full((20, 20), 200, np.uint8)
    with pytest.raises(ValueError, match="not on the same grid"):
        change_map(_probs(tmp_path / "a.tif", a), _probs(tmp_path / "b.tif", a, shift=10), tmp_path / "c.tif")
