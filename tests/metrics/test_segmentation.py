import numpy as np
import pytest

from agriseg.metrics import SegmentationMetrics, boundary_band, boundary_iou, confusion_matrix, miou


def test_miou_hand_computed():
    truth = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 0, 1]])
    # class 0: inter 3, union 5 (truth 4 + pred 4 - 3); class 1: inter 3, union 5
    m, per = miou(pred, truth, num_classes=2)
    assert per == pytest.approx([0.6, 0.6])
    assert m == pytest.approx(0.6)


def test_miou_ignores_255_and_accumulates_over_the_set():
    acc = SegmentationMetrics(2, boundary_ratio=0.02)
    acc.update(np.array([[1, 1]]), np.array([[1, 255]]))  # ignored pixel predicted 1: no effect
    acc.update(np.array([[0, 0]]), np.array([[0, 1]]))
    res = acc.compute()
    # class 0: inter 1, union 2; class 1: inter 1, union 2 -> 0.5 each (per-image averaging would differ)
    assert res["per_class_iou"] == {"0": pytest.approx(0.5), "1": pytest.approx(0.5)}
    assert res["pixel_accuracy"] == pytest.approx(2 / 3)
    assert res["boundary_ratio"] == 0.02


def test_confusion_rejects_size_mismatch():
    with pytest.raises(ValueError, match="one shape"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((3, 3)), 2)
    with pytest.raises(ValueError, match="one shape"):  # same size, other shape: compared pixel by pixel before
        confusion_matrix(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8), 2)


def test_scores_refuse_what_is_no_class_map_and_warn_of_a_0_255_truth():
    """Probabilities were truncated to ids (mIoU 0.375 for a correct mask x 0.9), negative ids landed in the wrong
    cell, a 3-D pair scored 0.909 against 0.661 in 2-D, and a 0/255 truth scored 1.0 (255 = ignore_index)."""
    p = np.zeros((20, 20), np.uint8)
    p[5:15, 5:15] = 1
    with pytest.raises(ValueError, match="not class ids"):
        miou(p * 0.9, p)
    with pytest.raises(ValueError, match="negative"):
        confusion_matrix(np.array([-1, 0]), np.array([1, 1]), 2)
    with pytest.raises(ValueError, match="2-D"):
        boundary_iou(np.dstack([p] * 3), np.dstack([p] * 3))
    with pytest.warns(UserWarning, match=r"0/255 mask pass \(target > 0\)"):
        miou(p, p * 255)
    assert miou(p.astype(np.float32), p)[0] == 1.0  # whole numbers in a float array are ids


def test_boundary_band_of_square_by_hand():
    m = np.zeros((7, 7), bool)
    m[1:6, 1:6] = True  # 5x5 square
    band1 = boundary_band(m, 1)
    inner = np.zeros_like(m)
    inner[2:5, 2:5] = True
    assert np.array_equal(band1, m & ~inner)  # 16-pixel ring
    assert boundary_band(m, 2).sum() == 24  # 25 - the single centre pixel


def test_boundary_band_touching_image_edge_uses_zero_padding():
    m = np.ones((4, 4), bool)
    assert boundary_band(m, 1).sum() == 12  # the outer ring counts as boundary


def test_boundary_iou_hand_computed():
    truth = np.zeros((10, 10), np.uint8)
    truth[2:8, 2:8] = 1
    pred = np.zeros_like(truth)
    pred[2:8, 3:9] = 1  # shifted right by one
    # d = max(1, round(0.02 * diag 14.1)) = 1; class-1 bands are 20-pixel rings
    g, p = boundary_band(truth == 1, 1), boundary_band(pred == 1, 1)
    expected1 = (g & p).sum() / (g | p).sum()
    m, per = boundary_iou(pred, truth, 2, ratio=0.02)
    assert per[1] == pytest.approx(expected1)
    assert (g & p).sum() == 10 and (g | p).sum() == 30
    assert boundary_iou(truth, truth, 2)[0] == pytest.approx(1.0)


def test_boundary_iou_draws_no_boundary_along_unscored_pixels() -> None:
    """A prediction right on every scored pixel scores 1, whatever it says where the truth is 255 (a band of
    255 across a plant drew class boundaries along it that no prediction has)."""
    truth = np.zeros((40, 40), np.uint8)
    truth[10:30, 10:30] = 1
    pred = truth.copy()
    truth[18:22, :] = 255  # a band left out, across the plant and the soil
    pred[18:22, :] = 0  # the prediction there: soil, where the plant goes on
    m, per = boundary_iou(pred, truth, 2, ratio=0.02)
    assert per == pytest.approx([1.0, 1.0]) and m == pytest.approx(1.0)
    metrics = SegmentationMetrics(2, 0.02)
    metrics.update(pred, truth)
    assert metrics.compute()["biou"] == pytest.approx(1.0)
    pred[10, 10:30] = 0  # a real miss is still seen
    assert boundary_iou(pred, truth, 2, ratio=0.02)[1][1] < 1.0


def test_metric_settings_are_checked_when_given() -> None:
    """Names for another class count failed only at compute(), after every update; a NaN ratio at update()
    ('cannot convert float NaN to integer'); ratio 0 or -1 was taken."""
    from agriseg.metrics.segmentation import SegmentationMetrics, boundary_iou

    for kwargs, match in (
        ({"class_names": ["a"]}, "1 class names for 2 classes"),
        ({"boundary_ratio": float("nan")}, "boundary_ratio nan"),
        ({"boundary_ratio": 0.0}, "boundary_ratio 0.0"),
    ):
        with pytest.raises(ValueError, match=match):
            SegmentationMetrics(2, **kwargs)
    with pytest.raises(ValueError, match="num_classes 0"):
        SegmentationMetrics(0)
    mask = np.zeros((8, 8), np.int64)
    for ratio in (0.0, -1.0):
        with pytest.raises(ValueError, match="boundary ratio"):
            boundary_iou(mask, mask, ratio=ratio)


def test_absent_classes_ignored_pixels_and_the_band_width() -> None:
    """Each let a changed metric through (session 75's mutation sweep): a class in neither truth nor prediction
    is NaN and left out of the mean; predicted edges inside ignored pixels cost nothing; the band is
    round(0.02 x diagonal), as Cheng et al. define it."""
    from agriseg.metrics.segmentation import boundary_dilation

    target = np.zeros((8, 8), np.int64)
    target[:, 4:] = 1
    mean, per = miou(target, target, num_classes=3)
    assert np.isnan(per[2]) and per[:2].tolist() == [1.0, 1.0] and mean == 1.0
    pred = target.copy()
    pred[0:2, 0:2] = 1  # a wrong patch, but only where the truth is ignored
    ignored = target.copy()
    ignored[0:3, 0:3] = 255
    # a prediction that differs from the truth only inside ignored pixels scores as the truth itself does
    assert boundary_iou(pred, ignored, num_classes=2)[0] == boundary_iou(target, ignored, num_classes=2)[0]
    assert boundary_dilation((100, 100), 0.02) == 3  # 2.83 rounds up, not down
    assert boundary_dilation((10, 10), 0.02) == 1


def test_boundary_iou_checks_class_ids_as_miou_does() -> None:
    """Session 87's API sweep: boundary_iou scored a 0/255 prediction 0.5 and a class 2 of a 2-class map 0.70
    where miou refused both; num_classes=0 gave NaN."""
    t = np.zeros((100, 100), np.uint8)
    t[20:80, 20:80] = 1
    with pytest.raises(ValueError, match=r"class id >= num_classes \(2\) found \(a 0/255 mask\? pass mask > 0\)"):
        boundary_iou(t * 255, t)
    p = t.copy()
    p[20:80, 20:50] = 2
    with pytest.raises(ValueError, match="class id >= num_classes"):
        boundary_iou(p, t)
    with pytest.raises(ValueError, match="num_classes 0: at least 1"):
        boundary_iou(t, t, num_classes=0)


def test_a_0_255_truth_is_warned_of_whatever_the_prediction() -> None:
    """An empty prediction against a 0/255 truth scored mIoU 1.0 without the warning a marked one gets."""
    t = np.zeros((100, 100), np.uint8)
    t[20:80, 20:80] = 1
    empty = np.zeros_like(t)
    with pytest.warns(UserWarning, match=r"0/255 mask pass \(target > 0\)"):
        miou(empty, t * 255)
    with pytest.warns(UserWarning, match=r"0/255 mask pass \(target > 0\)"):
        boundary_iou(empty, t * 255)
    acc = SegmentationMetrics(2)
    with pytest.warns(UserWarning) as seen:
        acc.update(empty, t * 255)
    assert len(seen) == 1  # once per image, not once per count
    import warnings

    with warnings.catch_warnings():  # the review: a tile ignored whole is no 0/255 mask
        warnings.simplefilter("error")
        miou(empty, np.full_like(t, 255))
