from __future__ import annotations

import numpy as np
import pytest

from agriseg.fields.metrics import (
    FieldMetrics,
    average_precision,
    coco_detections,
    format_report,
    object_counts,
    pixel_counts,
)


def _two_fields() -> np.ndarray:
    t = np.zeros((20, 20), np.uint8)
    t[2:10, 2:18] = 1
    t[12:18, 2:18] = 1
    t[10:12, 2:18] = 2  # boundary strip between them
    return t


def test_perfect_and_merged_objects() -> None:
    t = _two_fields()
    assert object_counts(t, t) == (2, 0, 0)
    merged = t.copy()
    merged[10:12, 2:18] = 1  # the boundary predicted as field merges both into one object
    assert object_counts(t, merged) == (0, 1, 2)
    boundary_pred = np.where(t == 1, 1, 0)
    boundary_pred[10:12] = 2  # class 2 predictions count as background
    assert object_counts(t, boundary_pred) == (2, 0, 0)


def test_iou_must_exceed_threshold_strictly() -> None:
    t = np.zeros((10, 10), np.uint8)
    t[0:2, 0:5] = 1  # 10 px
    p = np.zeros_like(t)
    p[0:2, 0:5] = 1
    p[2:4, 0:5] = 1  # 20 px, IoU exactly 0.5
    assert object_counts(t, p) == (0, 1, 1)
    p[3, 4] = 0  # 19 px -> IoU 10/19 > 0.5
    assert object_counts(t, p) == (1, 0, 0)
    with pytest.raises(ValueError):
        object_counts(t, p, iou_threshold=0.4)


def test_objects_are_4_connected() -> None:
    t = np.zeros((6, 6), np.uint8)
    t[0:3, 0:3] = 1
    t[3:6, 3:6] = 1  # touches the first only diagonally: two objects
    assert object_counts(t, t) == (2, 0, 0)


def test_pixel_counts_ignore_unknown() -> None:
    t = np.array([[1, 1, 0, 3], [2, 0, 3, 1]])
    p = np.array([[1, 0, 1, 1], [1, 2, 1, 1]])
    assert pixel_counts(t, p) == (2, 2, 1)  # unknown pixels (3) never count


def test_a_country_labelled_in_part_is_scored_by_the_ftw_rule_and_marked() -> None:
    """A field predicted on a presence-only chip's unknown land is a false positive, as ftw-tools counts it, so
    Kenya's object precision was 0.036 beside Austria's 0.5 with nothing to say why (session 79's sweep); the
    report marks such countries."""
    t = np.full((16, 16), 3, np.uint8)
    t[2:6, 2:6] = 1
    p = np.zeros_like(t)
    p[2:6, 2:6] = 1
    p[10:14, 10:14] = 1  # on unknown land
    assert object_counts(t, p) == (1, 1, 0) and pixel_counts(t, p) == (16, 0, 0)
    m = FieldMetrics(n_boot=0)
    m.update(p, t, country="kenya")
    m.update(_two_fields(), _two_fields(), country="austria")
    res = m.compute()
    assert (
        res["per_country"]["kenya"]["partly_labelled"] is True
        and "partly_labelled" not in res["per_country"]["austria"]
    )
    assert "partly_labelled" not in res["country_mean"]
    text = format_report(res)
    assert "\nkenya*" in text and "\naustria " in text and "* labelled in part (unknown land: class 3" in text


def test_aggregate_per_country_mean_and_ci() -> None:
    t = _two_fields()
    empty = np.zeros_like(t)
    m = FieldMetrics(n_boot=200, seed=0)
    for _ in range(3):
        m.update(t, t, country="austria")
        m.update(empty, t, country="kenya")
    res = m.compute()
    assert res["per_country"]["austria"]["object_f1"] == pytest.approx(1.0)
    assert res["per_country"]["kenya"]["object_f1"] == 0.0
    assert res["country_mean"]["object_f1"] == pytest.approx(0.5)
    assert res["overall"]["object_f1"] == pytest.approx(2 / 3)  # pooled: P 1, R 0.5
    lo, hi = res["ci95"]["object_f1"]
    assert 0.0 <= lo <= 2 / 3 <= hi <= 1.0 and hi > lo
    assert res["counts"]["object_tp"] == 6 and res["counts"]["object_fn"] == 6
    head, *rows = format_report(res).splitlines()
    assert head.split() == ["country", "chips", "px_iou", "px_precision", "px_recall", "obj_precision",
                            "obj_recall", "obj_f1", "ap50", "ap50_95"]  # fmt: skip
    assert rows[0].split()[:2] == ["austria", "3"] and len(rows[0].split()) == 10  # every header apart


def test_coco_ap_uses_mean_probability_ranking() -> None:
    t = _two_fields()
    pred = np.where(t == 1, 1, 0).astype(np.uint8)
    pred[0:1, 0:1] = 1  # a false-positive speck
    prob = np.where(pred == 1, 0.9, 0.1)
    prob[0, 0] = 0.2  # ranked last -> AP stays 1
    scores, is_tp, nt = coco_detections(t, pred, prob)
    assert nt == 2 and is_tp.shape == (10, 3)
    assert average_precision(scores, is_tp[0], nt) == pytest.approx(1.0)
    prob[0, 0] = 0.99  # ranked first -> precision 0 at the first detection lowers AP
    scores, is_tp, nt = coco_detections(t, pred, prob)
    ap = average_precision(scores, is_tp[0], nt)
    assert 0.5 < ap < 1.0
    m = FieldMetrics(n_boot=0)
    m.update(pred, t, prob)
    r = m.compute()["overall"]
    assert r["ap50"] == pytest.approx(ap) and r["ap50_95"] <= r["ap50"]


def test_evaluate_model_takes_the_evaluate_config_and_the_old_keywords() -> None:
    torch = pytest.importorskip("torch")
    from agriseg.fields.config import FieldsEvaluateConfig
    from agriseg.fields.evaluate import evaluate_model

    mask = torch.zeros(16, 16, dtype=torch.long)
    mask[4:10, 4:10] = 1
    chips = [{"image": torch.zeros(8, 16, 16), "mask": mask, "country": "austria"}] * 2

    class Perfect(torch.nn.Module):
        def forward(self, x):  # logits whose argmax is the truth
            return torch.stack([1 - mask, mask, torch.zeros_like(mask)]).float()[None].expand(len(x), -1, -1, -1)

    res = evaluate_model(Perfect(), chips, FieldsEvaluateConfig(batch_size=1, iou_threshold=0.7, bootstrap=0))
    assert res["iou_threshold"] == 0.7 and res["chips"] == 2
    with pytest.warns(DeprecationWarning, match="n_boot"):
        old = evaluate_model(Perfect(), chips, batch_size=1, iou_threshold=0.7, n_boot=0)
    assert old == res


def test_coco_iou_exactly_at_the_threshold_is_a_true_positive() -> None:
    """COCO matches at IoU >= t (FTW's object rule is > 0.5): a detection at IoU exactly 0.5 was a false positive."""
    t = np.zeros((10, 10), np.uint8)
    t[0:2, 0:5] = 1  # 10 px
    p = np.zeros_like(t)
    p[0:4, 0:5] = 1  # 20 px holding them: IoU exactly 0.5
    scores, is_tp, nt = coco_detections(t, p, np.where(p == 1, 0.9, 0.1))
    assert nt == 1 and is_tp[:, 0].tolist() == [True] + [False] * 9  # AP@0.5 only
    assert average_precision(scores, is_tp[0], nt) == pytest.approx(1.0)


def test_ap_interpolates_precision_with_its_monotone_envelope() -> None:
    """Ranked TP, FP, TP, TP of 3 truths: COCO takes at each recall the best precision at that recall or beyond
    (3/4 after the false positive, not 2/3)."""
    is_tp = np.array([True, False, True, True])
    ap = average_precision(np.array([0.9, 0.8, 0.7, 0.6]), is_tp, 3)
    # recall points 0-0.33 at precision 1 (34 of 101), 0.34-1.0 at 3/4 (67 of 101)
    assert ap == pytest.approx((34 * 1.0 + 67 * 0.75) / 101)


def test_country_mean_ap_leaves_out_countries_without_truth_objects() -> None:
    """A country of chips without fields has no AP (NaN): the mean over countries was NaN, not the others' mean."""
    t = _two_fields()
    prob = np.where(t == 1, 0.9, 0.1)
    m = FieldMetrics(n_boot=0)
    m.update(t, t, prob, country="austria")
    speck = np.zeros_like(t)
    speck[0, 0] = 1  # a false positive on a chip without truth objects
    m.update(speck, np.zeros_like(t), prob, country="kenya")
    res = m.compute()
    assert np.isnan(res["per_country"]["kenya"]["ap50"])
    assert res["country_mean"]["ap50"] == pytest.approx(res["per_country"]["austria"]["ap50"]) == pytest.approx(1.0)


def test_bootstrap_interval_is_the_central_95_percent() -> None:
    """The interval's bounds are the 2.5th and 97.5th percentiles of the resampled scores.

    Two of ten chips miss all their field pixels: a resample holding k of them has pixel IoU (10 - k) / 10,
    k ~ Binomial(10, 0.2); P(k >= 5) = 3.3 % and P(k >= 4) = 12 %, so the 2.5th percentile is 0.5 (the 5th
    would be 0.6), and P(k = 0) = 11 % makes the 97.5th 1.0. Two of ten chips found: the mirror image.
    """
    field = np.ones((2, 5), np.uint8)

    def interval(found: int) -> list[float]:
        m = FieldMetrics(n_boot=2000, seed=0)
        for i in range(10):
            m.update(field if i < found else np.zeros_like(field), field)
        return m.compute()["ci95"]["pixel_iou"]

    assert interval(8) == pytest.approx([0.5, 1.0])
    assert interval(2) == pytest.approx([0.0, 0.5])  # the 95th percentile would be 0.4


def test_country_mean_ap_of_countries_some_scored_with_probabilities() -> None:
    """A country without probabilities after one with them raised KeyError 'ap50'; before it, AP was left out."""
    truth = np.zeros((12, 12), np.int64)
    truth[2:6, 2:6] = 1
    prob = np.where(truth == 1, 0.9, 0.1)
    for order in (["a", "b"], ["b", "a"]):
        m = FieldMetrics(n_boot=0)
        for country in order:
            m.update(truth, truth, prob if country == "a" else None, country=country)
        res = m.compute()
        assert res["country_mean"]["ap50"] == res["per_country"]["a"]["ap50"] == 1.0
        assert "ap50" not in res["per_country"]["b"]


def test_a_country_whose_fields_were_all_missed_counts_in_the_countries_mean() -> None:
    """No field predicted in France: its object F1 was undefined (precision 0 / 0), and the countries' mean
    skipped it: 1.0 for a model that missed every field there (session 107's sweep)."""
    truth = np.zeros((32, 32), np.uint8)
    truth[4:14, 4:14] = truth[18:28, 18:28] = 1
    m = FieldMetrics(n_boot=0, undefined=float("nan"))
    m.update(truth.copy(), truth, country="austria")
    m.update(np.zeros_like(truth), truth, country="france")
    res = m.compute()
    assert res["per_country"]["france"]["object_f1"] == 0.0
    assert res["country_mean"]["object_f1"] == pytest.approx(0.5)


def test_a_metric_with_nothing_to_count_is_undefined_in_a_report() -> None:
    """Session 89's fields sweep: `fields evaluate` on chips without true fields reported recall 0.0000 (0 / 0)."""
    import math

    truth = np.zeros((16, 16), np.uint8)
    pred = truth.copy()
    pred[2:8, 2:8] = 1  # a field predicted where there is none
    report = FieldMetrics(n_boot=0, undefined=float("nan"))
    report.update(pred, truth)
    o = report.compute()["overall"]
    assert math.isnan(o["pixel_recall"]) and math.isnan(o["object_recall"])
    assert o["object_f1"] == 0.0  # a false field is an error F1 counts (2 TP / (2 TP + FP + FN)), as robustness
    assert o["pixel_precision"] == 0.0 and o["object_precision"] == 0.0  # a false field: precision is defined
    logs = FieldMetrics(n_boot=0)  # training's validation logs stay numbers
    logs.update(pred, truth)
    assert logs.compute()["overall"]["object_recall"] == 0.0


def test_a_confidence_interval_is_kept_where_some_resamples_have_no_fields() -> None:
    """Session 89's review: with undefined metrics NaN, one bootstrap resample of chips without fields made the
    whole 95 % interval NaN (null), though the metric was defined."""
    import math

    truth = np.zeros((16, 16), np.uint8)
    truth[2:8, 2:8] = 1
    report = FieldMetrics(n_boot=200, undefined=float("nan"))
    for i in range(20):
        report.update(truth if i < 2 else truth * 0, truth if i < 2 else truth * 0)
    res = report.compute()
    assert res["overall"]["object_recall"] == 1.0
    lo, hi = res["ci95"]["object_recall"]
    assert not math.isnan(lo) and lo <= 1.0 <= hi
