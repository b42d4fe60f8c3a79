"""Boundary refinement of hand labels (agriseg.crop.refine)."""

from __future__ import annotations

import cv2
import numpy as np

from agriseg.crop.refine import fit_lda, refine_labels


def _disc_photo(r: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A green disc (anti-aliased, blurred) on textured brown soil, and its exact 0/1 truth."""
    rng = np.random.default_rng(seed)
    h = w = 160
    soil = np.array([120, 95, 70], np.float32) * (1 + 0.15 * rng.standard_normal((h, w, 1))).astype(np.float32)
    big = np.zeros((h * 4, w * 4), np.uint8)
    cv2.circle(big, (w * 2, h * 2), r * 4, 255, -1)
    cov = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255
    img = soil * (1 - cov) + np.array([70, 150, 60], np.float32) * cov
    img = cv2.GaussianBlur(img, (0, 0), 0.7)
    return np.clip(img, 0, 255).astype(np.uint8), (cov[..., 0] >= 0.5).astype(np.uint8)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_generous_outline_is_pulled_to_the_edge() -> None:
    rgb, truth = _disc_photo()
    generous = cv2.dilate(truth, np.ones((3, 3), np.uint8), iterations=2)  # drawn 2 px too wide
    refined = refine_labels(rgb, generous, band=3)
    assert _iou(refined > 0, truth > 0) > _iou(generous > 0, truth > 0) + 0.05
    assert abs(int(refined.sum()) / int(truth.sum()) - 1) < 0.03
    tight = cv2.erode(truth, np.ones((3, 3), np.uint8), iterations=2)  # drawn 2 px too tight: grows back
    assert abs(int(refine_labels(rgb, tight, band=3).sum()) / int(truth.sum()) - 1) < 0.03


def test_classes_kept_and_ignore_untouched() -> None:
    rgb, truth = _disc_photo()
    label = cv2.erode(truth, np.ones((3, 3), np.uint8), iterations=2) * 2  # a "weed" drawn too tight
    label[:5, :5] = 255
    out = refine_labels(rgb, label, band=3)
    assert set(np.unique(out)) == {0, 2, 255}  # grown pixels take the nearest plant's class
    assert (out[:5, :5] == 255).all()
    assert (refine_labels(rgb, label, band=0) == label).all()


def test_too_few_sure_pixels_leaves_the_label() -> None:
    rgb, truth = _disc_photo(r=3)
    assert (refine_labels(rgb, truth, band=3) == truth).all()


def test_lda_splits_two_clouds_at_the_middle() -> None:
    rng = np.random.default_rng(0)
    pos, neg = rng.normal([2, 0], 0.3, (500, 2)), rng.normal([0, 0], 0.3, (500, 2))
    w, c = fit_lda(pos, neg)
    assert np.array([1.05, 0]) @ w > c > np.array([0.95, 0]) @ w
