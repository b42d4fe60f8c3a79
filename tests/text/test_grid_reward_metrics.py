"""Mask <-> grid, Dice reward, patches, stitching/voting, watershed instances and instance metrics."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agriseg.text.codec import DecodeReport, encode_answer
from agriseg.text.grid import cell_counts, grid_to_mask, mask_to_grid
from agriseg.text.infer import PatchPrediction, seam_disagreement, stitch
from agriseg.text.instances import semantic_to_instances
from agriseg.text.metrics import ClassInstanceStats, match_instances, overhead
from agriseg.text.patches import grid_boxes, random_boxes
from agriseg.text.reward import DiceReward, ValidityReward, completion_text, mean_dice

NAMES = ["others", "field", "tree"]


def test_codec_import_is_light() -> None:
    code = (
        "import sys, agriseg.text, agriseg.text.dataset, agriseg.text.infer, agriseg.cli.text;"
        "print([m for m in ('transformers','trl','peft','datasets','torch') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_majority_down() -> None:
    m = np.zeros((4, 4), dtype=int)
    m[0, 0:3] = 1  # 3 of 4 pixels of cell (0, 0) are class 1 -> 1; cell (0, 1) has 1 of 4
    m[1, 0] = 1
    g = mask_to_grid(m, 2, 2)
    assert g.tolist() == [[1, 0], [0, 0]]
    c = cell_counts(m, 2, 3)  # (K, 2, 2) pixels of each class per cell
    assert c.shape == (3, 2, 2)
    assert c[1].tolist() == [[3, 1], [0, 0]] and c[0].tolist() == [[1, 3], [4, 4]] and not c[2].any()
    assert ((c > 0).sum(0) > 1).tolist() == [[True, True], [False, False]]  # mixed cells


@pytest.mark.parametrize("n", [16, 24, 32, 7])
def test_nearest_up_round_trip(n: int) -> None:
    rng = np.random.default_rng(n)
    g = rng.integers(0, 3, (n, n))
    for size in [(n * 3, n * 3), (n * 2 + 1, n * 3 - 1)]:
        m = grid_to_mask(g, size)
        assert m.shape == size
        assert np.array_equal(mask_to_grid(m, n, 3), g)


def test_grid_errors() -> None:
    with pytest.raises(ValueError, match="cannot be split"):
        mask_to_grid(np.zeros((4, 4), dtype=int), 8)
    with pytest.raises(ValueError, match="2-D"):
        mask_to_grid(np.zeros((2, 4, 4), dtype=int), 2)
    # the documented error for ids over 255 without num_classes: 10**9 asked for 30 GB (session 101's sweep); a
    # 0/255 mask's ids stay as given (session 85); a negative nodata id given as ignore is no class id
    with pytest.raises(ValueError, match="class id 1000000000: over 255 without num_classes"):
        mask_to_grid(np.full((4, 4), 10**9), 2)
    assert mask_to_grid(np.array([[0, 255], [255, 1]], np.uint8), 1).tolist() == [[255]]
    nodata = np.zeros((4, 4), int)
    nodata[0, 0], nodata[2:, 2:] = -1, 2
    assert mask_to_grid(nodata, 2, 3, ignore=-1).tolist() == [[0, 0], [0, 2]]


def test_mean_dice() -> None:
    t = np.array([[1, 1], [0, 2]])
    assert mean_dice(t, t, 3) == pytest.approx(1.0)
    p = np.array([[1, 0], [0, 0]])
    # class 1: (2*1+1)/(1+2+1) = 0.75; class 2: (0+1)/(0+1+1) = 0.5
    assert mean_dice(p, t, 3) == pytest.approx(0.625)
    with pytest.raises(ValueError):
        mean_dice(p, t[:1], 3)


def test_dice_reward_trl_signature() -> None:
    truth = np.array([[1, 1], [0, 2]])
    good = [{"role": "assistant", "content": encode_answer(truth, NAMES)}]
    bad = [{"role": "assistant", "content": "<seg>others *2\n others *2\n</seg>"}]
    kw = {"truth": [json.dumps(truth.tolist())] * 3, "class_names": [json.dumps(NAMES)] * 3}
    r = DiceReward(NAMES, validity_weight=0.1)(prompts=[None] * 3, completions=[good, bad, "garbage"], **kw)
    assert r[0] == pytest.approx(1.1)
    assert r[1] < 0.6 and r[2] < 0.6
    v = ValidityReward(NAMES)(prompts=[None] * 3, completions=[good, bad, "garbage"], **kw)
    assert v == [1.0, 1.0, 0.0]
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "a"}]}]) == "a"
    with pytest.raises(ValueError, match="truth"):
        DiceReward(NAMES)(prompts=[None], completions=["x"])


def test_dice_reward_can_score_repaired_rows_as_wrong() -> None:
    truth = np.array([[1, 1], [0, 2]])
    overlong = "<seg>field *3\n others *1| tree *1\n</seg>"  # row 0 runs past the edge; the decoder cuts it
    kept = DiceReward(NAMES).score(overlong, truth, NAMES)
    wrong = DiceReward(NAMES, repaired_rows="wrong").score(overlong, truth, NAMES)
    assert kept == (pytest.approx(1.0), False)  # the cut row matches the truth: the reward cannot see it
    # row 0 counts for no class: field (0 + 1) / (0 + 2 + 1), tree (2 + 1) / (1 + 1 + 1)
    assert wrong == (pytest.approx((1 / 3 + 1.0) / 2), False)
    good = encode_answer(truth, NAMES)
    assert DiceReward(NAMES, repaired_rows="wrong").score(good, truth, NAMES) == (pytest.approx(1.0), True)


def test_a_completion_without_mask_text_scores_nothing() -> None:
    """ "hello world" scored 0.83 against a mostly-background truth (the decoder's made-up background), an empty
    completion 1.0 against an all-background one: a GRPO run's mean Dice rose while it learnt to write no mask
    (session 94's sweep)."""
    truth = np.zeros((4, 4), int)
    truth[0, 0] = 1
    for how in ("keep", "wrong"):
        reward = DiceReward(NAMES, validity_weight=0.5, repaired_rows=how)  # type: ignore[arg-type]
        assert reward.score("hello world", truth, NAMES) == (0.0, False)
        assert reward.score("", np.zeros((4, 4), int), NAMES) == (0.0, False)
        for empty in ("<seg>\n</seg>", "<seg>\n\n</seg>", "<seg>\nhello world\n</seg>"):  # tags round nothing
            assert reward.score(empty, truth, NAMES) == (0.0, False), empty
        assert reward.score("<seg>others *4\n</seg>", truth, NAMES)[0] > 0  # a mask, with rows missing
        assert reward.score(encode_answer(truth, NAMES), truth, NAMES) == (pytest.approx(1.5), True)


def test_patch_boxes() -> None:
    assert grid_boxes(64, 64, 32) == [(0, 0, 32, 32), (32, 0, 64, 32), (0, 32, 32, 64), (32, 32, 64, 64)]
    b = grid_boxes(70, 64, 32, overlap=0.5)
    assert max(x[3] for x in b) == 70 and all(x[2] - x[0] == 32 for x in b)
    with pytest.raises(ValueError, match="smaller than the patch"):
        grid_boxes(16, 64, 32)
    rb = random_boxes(64, 64, 32, 50, np.random.default_rng(0), align=8)
    assert all(x0 % 8 == 0 and y0 % 8 == 0 and x1 <= 64 and y1 <= 64 for x0, y0, x1, y1 in rb)
    assert len(rb) == 25 and len(set(rb)) == 25  # 5 x 5 corners on the lattice, fewer than 50: each once
    assert random_boxes(32, 32, 32, 8, np.random.default_rng(0)) == [(0, 0, 32, 32)]
    a, b = np.random.default_rng(0), np.random.default_rng(0)
    random_boxes(32, 32, 32, 8, a)
    b.integers(0, 1, 8), b.integers(0, 1, 8)
    assert random_boxes(64, 64, 16, 8, a) == random_boxes(64, 64, 16, 8, b)  # the stream goes on as it did
    assert len(random_boxes(64, 64, 32, 8, np.random.default_rng(0), align=16)) == 8  # 9 places: 8 drawn


def _pp(box: tuple[int, int, int, int], grid: np.ndarray) -> PatchPrediction:
    return PatchPrediction(box, "", grid, DecodeReport())


def test_stitch_and_overlap_vote() -> None:
    a, b = np.zeros((2, 2), dtype=int), np.ones((2, 2), dtype=int)
    m = stitch([_pp((0, 0, 4, 4), a), _pp((4, 0, 8, 4), b)], (4, 8), 2)
    assert (m[:, :4] == 0).all() and (m[:, 4:] == 1).all()
    assert seam_disagreement(m, 4) == pytest.approx(1.0)
    assert seam_disagreement(m, 4, truth=np.zeros((4, 8), dtype=int)) == pytest.approx(1.0)
    assert seam_disagreement(m, 4, truth=m) == 0.0
    # three overlapping patches, the middle one outvoted where two agree
    preds = [_pp((0, 0, 4, 4), a), _pp((2, 0, 6, 4), b), _pp((4, 0, 8, 4), a)]
    m2 = stitch(preds, (4, 8), 2, vote="count")
    assert (m2 == 0).all() or (m2[:, 2:4] == 0).all()
    m3 = stitch(preds, (4, 8), 2, vote="center")
    assert (m3[:, :2] == 0).all() and (m3[:, 6:] == 0).all()


def test_watershed_splits_touching_fields() -> None:
    sem = np.zeros((20, 40), dtype=int)
    sem[2:18, 2:38] = 1
    img = np.full((20, 40, 3), 100, dtype=np.uint8)
    img[:, 20:] = 200  # an image edge between two touching fields
    labels, cls = semantic_to_instances(sem, img)
    assert len(cls) == 2 and set(cls.values()) == {1}
    left, right = labels[10, 5], labels[10, 35]
    assert left != right and left > 0 and right > 0


def test_merge_and_match_rule() -> None:
    truth = np.zeros((10, 10), dtype=int)
    truth[0:5, 0:10] = 1  # truth instance 1 (class 1)
    truth[6:10, 0:4] = 2  # truth instance 2 (class 1), missed
    tcls = {1: 1, 2: 1}
    pred = np.zeros((10, 10), dtype=int)
    pred[0:5, 0:5], pred[0:5, 5:10] = 1, 2  # over-segmented: merged -> IoU 1
    pred[7:9, 6:9] = 3  # false positive
    pcls = {1: 1, 2: 1, 3: 1}
    stats: dict[int, ClassInstanceStats] = {}
    match_instances(pred, pcls, truth, tcls, stats)
    s = stats[1].summary()
    assert s["mean_iou"] == pytest.approx(0.5) and s["median_iou"] == pytest.approx(0.5)
    assert s["fnr"] == pytest.approx(0.5)
    assert s["fpr"] == pytest.approx(1 / 3)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_perfect_instances_score_one(seed: int) -> None:
    from agriseg.text.synthetic import LandscapeConfig, make_landscape

    _, sem, inst = make_landscape(np.random.default_rng(seed), LandscapeConfig(size=24))
    cls = {int(i): int(np.bincount(sem[inst == i]).argmax()) for i in np.unique(inst) if i}
    stats: dict[int, ClassInstanceStats] = {}
    match_instances(inst, cls, inst, cls, stats)
    for s in stats.values():
        if s.truths:
            assert s.summary()["mean_iou"] == pytest.approx(1.0) and s.summary()["fnr"] == 0.0


def test_overhead_counts_non_mllm_modules() -> None:
    torch = pytest.importorskip("torch")

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.language_model = torch.nn.Linear(4, 4)
            self.mask_decoder = torch.nn.Linear(4, 2)

    o = overhead(M())
    assert o["overhead"] == 10 and o["base"] == 20


def _write_png(path, a: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a.astype(np.uint8)).save(path)


@pytest.mark.parametrize("where", ["truth_instances", "written_prediction"])
def test_min_size_drops_specks_of_instance_maps_read_from_files(tmp_path, where: str) -> None:
    """--min-size applies to instance maps read from files as to those rebuilt from masks: a 2-px speck of a
    truth instance map (or of a prediction's written instances) is not a missed (or false) field."""
    from agriseg.text.metrics import evaluate_files

    field = np.zeros((64, 64), np.uint8)
    field[10:20, 10:20] = 1
    speck = field.copy()
    speck[40, 40:42] = 1
    ids = field.copy()
    ids[40, 40:42] = 2
    truth, pred = (speck, field) if where == "truth_instances" else (field, speck)
    _write_png(tmp_path / "truth" / "a.png", truth)
    _write_png(tmp_path / "pred" / "a.png", pred)
    _write_png(tmp_path / ("tinst" if where == "truth_instances" else "pred") / ("a.png" if where ==
               "truth_instances" else "a_instances.png"), ids)  # fmt: skip
    tinst = tmp_path / "tinst" if where == "truth_instances" else None
    field_stats = evaluate_files([tmp_path / "pred" / "a.png"], tmp_path / "truth", ["others", "field"], tinst,
                                 min_size=4)["instances"]["field"]  # fmt: skip
    assert field_stats["fnr"] == 0.0 and field_stats["fpr"] == 0.0
    assert field_stats["mean_iou"] == pytest.approx(1.0)


def test_truth_instances_of_a_uint8_map_do_not_wrap_past_255() -> None:
    from agriseg.text.metrics import truth_instances_from_semantic

    truth = np.zeros((60, 60), np.uint8)
    truth[::3, ::3] = 1  # 400 separate one-pixel fields
    assert len(np.unique(truth_instances_from_semantic(truth, 2, 1))) - 1 == 400


def test_mean_dice_refuses_what_is_no_class_map() -> None:
    """An all-NaN prediction scored 1.0, ids beyond the classes were ignored, smooth 0 gave NaN (notebook sweep)."""
    from agriseg.text.reward import mean_dice

    zeros = np.zeros((2, 2), np.int64)
    for args, match in (
        ((np.full((2, 2), np.nan), zeros, 2), "not class ids"),
        ((np.full((2, 2), 0.5), zeros, 2), "not class ids"),
        ((np.full((2, 2), 3), zeros, 2), "outside 0-1"),
        ((zeros, zeros - 1, 2), "outside 0-1"),
        ((zeros, zeros, 0), "num_classes 0"),
    ):
        with pytest.raises(ValueError, match=match):
            mean_dice(*args)
    with pytest.raises(ValueError, match="smooth 0.0"):
        mean_dice(zeros, zeros, 2, smooth=0.0)
    assert mean_dice(zeros - 1, zeros + 1, 2) == pytest.approx(1 / 5)  # -1: a pixel of no class, counted wrong


def test_the_csv_table_reads_as_numbers() -> None:
    """Missing values were "-" (pandas read the column as text) and the header did not say percent."""
    import io

    import pandas as pd

    from agriseg.text.metrics import ClassInstanceStats, report_table

    stats = ClassInstanceStats()
    assert stats.summary()["truth_instances"] == 0 and isinstance(stats.summary()["pred_instances"], int)
    per_class = {
        "others": {"dice": 0.5, "iou": 1 / 3, "truth_pixels": 10, "predicted_pixels": 12},
        "field": {"dice": 0.7109, "iou": 0.55, "truth_pixels": 20, "predicted_pixels": 18},
    }
    report = {"per_class": per_class, "instances": {"field": {"mean_iou": 0.5, "fnr": 0.25, "fpr": float("nan")}},
              "images": 2, "mean_dice": 0.7109, "mean_iou": 0.55, "overall_accuracy": 0.8, "ignore_value": 255,
              "instances_from": "0 written instance files, 2 rebuilt from the masks"}  # fmt: skip
    table, csv_text = report_table(report)
    assert "-" in table.splitlines()[1]  # the printed table keeps its dash
    df = pd.read_csv(io.StringIO(csv_text))
    assert list(df.columns) == ["class", "dice_pct", "iou_pct", "truth_px", "pred_px", "inst_mean_iou_pct",
                                "fnr_pct", "fpr_pct"]  # fmt: skip
    assert all(pd.api.types.is_float_dtype(df[c]) for c in df.columns if c.endswith("_pct"))
    assert df.loc[1, "dice_pct"] == 71.09 and df["inst_mean_iou_pct"].isna()[0] and df["fpr_pct"].isna()[1]


def _match(pred: np.ndarray, pcls: dict, truth: np.ndarray, tcls: dict) -> dict:
    stats: dict = {}
    match_instances(pred, pcls, truth, tcls, stats)
    return stats


def test_instance_matching_counts_class_overlap_size_and_the_threshold() -> None:
    """Each case below let a changed matching rule through (session 75's mutation sweep): the class check, the
    largest overlap, IoU (not recall), the threshold itself, and predictions given to a truth they miss."""
    truth = np.zeros((10, 10), np.int64)
    truth[0:5, 0:4] = 1  # truth A: 20 px
    truth[5:10, 0:4] = 2  # truth B: 20 px
    # a prediction of the wrong class over A: no match, A missed, the prediction false
    s = _match((truth == 1).astype(np.int64) * 7, {7: 2}, truth, {1: 1, 2: 1})
    assert s[1].unmatched_truths == 2 and s[1].ious == [0.0, 0.0] and s[2].false_preds == 1
    # a prediction overlapping A by 20 px and B by 5 px is A's (its larger overlap): A IoU 20/25
    pred = np.zeros_like(truth)
    pred[0:5, 0:4] = 3
    pred[5:10, 0:1] = 3
    s = _match(pred, {3: 1}, truth, {1: 1, 2: 1})
    assert s[1].ious == [pytest.approx(0.8), 0.0] and s[1].unmatched_truths == 1 and s[1].false_preds == 0
    # a prediction twice the size of its truth: IoU 0.5 (not its recall 1.0), matched at exactly the threshold
    pred = np.zeros_like(truth)
    pred[0:5, 0:8] = 4
    s = _match(pred, {4: 1}, truth, {1: 1})
    assert s[1].ious == [0.5] and s[1].unmatched_truths == 0 and s[1].false_preds == 0
    # under the threshold: the truth is missed and the prediction assigned to it is a false one
    pred[0:5, 0:9] = 4  # 20 / 45
    s = _match(pred, {4: 1}, truth, {1: 1})
    assert s[1].unmatched_truths == 1 and s[1].false_preds == 1 and s[1].preds == 1


def test_a_truth_instance_takes_the_class_of_most_of_its_pixels() -> None:
    """An instance whose first pixel (a stray label on its edge) is another class must not be scored as that class."""
    from agriseg.text.instances import instances_from_ids

    ids = np.zeros((6, 6), np.int64)
    ids[1:5, 1:5] = 7
    sem = np.where(ids > 0, 1, 0)
    sem[1, 1] = 2  # its first pixel, row-major
    assert instances_from_ids(ids, sem) == {7: 1}


def test_instance_ids_are_unique_over_classes() -> None:
    """A field and a tree, one blob each, are two instances: both numbered 1, one class would overwrite the other."""
    sem = np.zeros((20, 20), int)
    sem[2:8, 2:8] = 1
    sem[12:18, 12:18] = 2
    labels, cls = semantic_to_instances(sem)
    field, tree = int(labels[5, 5]), int(labels[15, 15])
    assert field > 0 and tree > 0 and field != tree
    assert cls == {field: 1, tree: 2} and set(np.unique(labels)) == {0, field, tree}


def test_horizontal_seams_are_counted_at_the_patch_row() -> None:
    """Rows compared one pixel below the seam saw no stitching artefact between stacked patches."""
    m = np.zeros((8, 4), dtype=int)
    m[4:] = 1  # the lower patch disagrees with the upper one along the seam at row 4
    assert seam_disagreement(m, 4) == pytest.approx(1.0)
    assert seam_disagreement(m.T, 4) == pytest.approx(1.0)
    assert seam_disagreement(m, 4, truth=m) == 0.0


def test_an_edge_tile_is_padded_after_its_own_pixels() -> None:
    """Padding on the top/left moved the tile's pixels, so the mask cropped back at [:h, :w] was shifted."""
    from PIL import Image

    from agriseg.text.infer import _pad_to_patch

    a = np.random.default_rng(0).integers(0, 255, (3, 5, 3), dtype=np.uint8)  # (H, W, 3), H != W
    out = np.asarray(_pad_to_patch(Image.fromarray(a), 8))
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[:3, :5], a)
    np.testing.assert_array_equal(out[3:, :5], np.broadcast_to(a[-1], (5, 5, 3)))  # the edge repeated
    np.testing.assert_array_equal(out[:3, 5:], np.broadcast_to(a[:, -1:], (3, 3, 3)))


def test_instance_classes_are_each_instances_most_common_class() -> None:
    """instances_from_ids reads every pixel once (a mask per instance took 45 s on a 2000 x 2000 tile of 980
    instances); it gives what a mask per instance gives, the lowest class among equally common ones."""
    from agriseg.text.instances import instances_from_ids

    rng = np.random.default_rng(3)
    inst, sem = rng.integers(0, 40, (50, 50)), rng.integers(0, 5, (50, 50))
    want = {int(i): int(np.bincount(sem[inst == i]).argmax()) for i in np.unique(inst) if i}
    assert instances_from_ids(inst, sem) == want
    assert instances_from_ids(np.array([[7, 7]]), np.array([[2, 1]])) == {7: 1}  # a tie: the lower class
    assert instances_from_ids(np.zeros((2, 2), int), np.ones((2, 2), int)) == {}


def test_wrong_repaired_rows_leaves_rows_written_otherwise_but_read_exactly() -> None:
    """`repaired_rows: wrong` scored unmerged runs (`field *2| field *2`) as no class, where a missing final newline,
    also not canonical, scored 1.0: both decode to the truth (session 86's text sweep)."""
    from agriseg.text.reward import DiceReward

    reward, truth, names = (
        DiceReward(["others", "field"], repaired_rows="wrong"),
        np.ones((4, 4), int),
        ["others", "field"],
    )
    assert reward.score("<seg>field *2| field *2\n field *4\n field *4\n field *4\n</seg>", truth, names)[0] == 1.0
    assert reward.score("<seg>field *4\nfield *4\n field *4\n field *4\n</seg>", truth, names)[0] == 1.0
    assert reward.score("<seg>field *3\n field *4\n field *4\n field *4\n</seg>", truth, names)[0] < 0.9  # cut short


def test_grid_to_mask_takes_one_side_as_mask_to_grid_does() -> None:
    grid = np.array([[0, 1], [1, 0]])
    assert grid_to_mask(grid, 4).tolist() == grid_to_mask(grid, (4, 4)).tolist()
    assert grid_to_mask(grid, (4, 6)).shape == (4, 6)
    with pytest.raises(ValueError, match=r"size must be positive"):  # an empty mask came back (session 96's sweep)
        grid_to_mask(grid, -3)
    with pytest.raises(ValueError, match=r"class ids \(whole numbers\), not values such as 0.7"):  # read as 0, 1
        grid_to_mask(np.array([[0.7, 1.6]]), 4)
    assert grid_to_mask(np.array([[0.0, 1.0]]), (1, 2)).tolist() == [[0, 1]]
    with pytest.raises(ValueError, match=r"not values such as inf"):  # class -9223372036854775808 (the review)
        grid_to_mask(np.array([[1.0, np.inf]]), 4)
    with pytest.raises(ValueError, match=r"grid non-empty"):  # was an IndexError from inside
        grid_to_mask(np.zeros((0, 0), int), (4, 4))


def test_a_grpo_run_whose_groups_never_differed_is_said_to_have_learned_nothing() -> None:
    """One step of two answers with equal rewards saved the starting model unchanged, without a word
    (session 97's sweep)."""
    from agriseg.text.grpo import no_signal

    flat = [{"step": 1, "frac_reward_zero_std": 1.0}, {"step": 2, "frac_reward_zero_std": 1.0}, {"train_loss": 0.0}]
    assert "each prompt's 2 answers got equal rewards at every step" in no_signal(flat, 2)
    assert no_signal([*flat, {"step": 3, "frac_reward_zero_std": 0.5}], 2) == ""
    assert no_signal([{"train_loss": 0.0}], 2) == ""  # nothing logged: nothing to say


def test_the_text_helpers_refuse_what_would_be_misread() -> None:
    """Session 99's API sweep: a sentence holding <seg> made an answer its own decoder misread; a grid given to
    wrap_seg was written as numpy's repr; mean_dice refused bool masks, scored empty ones 1.0 and failed inside
    numpy for num_classes 2.0; mask_to_grid(mask, 16.0) and decode_rrle(shape=(2.5, 4)) said nothing useful."""
    from agriseg.text.codec import decode_rrle, wrap_seg
    from agriseg.text.reward import mean_dice

    grid = np.array([[0, 0, 1, 1], [1, 1, 1, 1]])
    with pytest.raises(ValueError, match="holds a <seg> tag"):
        encode_answer(grid, ["background", "field"], sentence="Use <seg> tags")
    with pytest.raises(TypeError, match="rrle is text"):
        wrap_seg(grid)  # type: ignore[arg-type]
    truth = np.array([[True, False], [True, True]])
    assert mean_dice(truth, truth, 2) == 1.0
    with pytest.raises(ValueError, match="empty masks"):
        mean_dice(np.zeros((0, 0)), np.zeros((0, 0)), 2)
    for bad in (2.0, "2", True):
        with pytest.raises(TypeError, match="num_classes is a whole number"):
            mean_dice(truth, truth, bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="grid is cells per side"):
        mask_to_grid(np.zeros((32, 32), np.uint8), 16.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="whole cells"):
        decode_rrle("<seg></seg>", (2.5, 4), ["background", "field"])  # type: ignore[arg-type]
