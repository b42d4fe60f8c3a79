"""Trimaps, model combination, configs, and two-stage self-training / adapt end to end (tiny, slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agriseg.crop.selftrain import (
    SelfTrainConfig,
    TrimapConfig,
    combine_with_model,
    load_selftrain_config,
    make_trimap,
)

REPO = Path(__file__).resolve().parents[3]


def _probs(pred: np.ndarray, conf: float = 0.8) -> np.ndarray:
    p1 = np.where(pred == 1, conf, 1 - conf).astype(np.float32)
    return np.stack([1 - p1, p1])  # (2, H, W)


def test_trimap_ignores_disagreement_band_and_low_confidence() -> None:
    pseudo = np.zeros((20, 20), np.uint8)
    pseudo[5:15, 5:15] = 1
    pred = pseudo.copy()
    pred[0:2, 0:2] = 1  # disagreement
    tri = make_trimap(pseudo, _probs(pred))
    assert (tri[0:2, 0:2] == 255).all() and (tri[5:15, 5:15] == 1).all() and tri[18, 18] == 0
    assert (tri == 255).sum() == 4
    band = make_trimap(pseudo, _probs(pred), TrimapConfig(boundary_px=1))
    assert band[5, 10] == 255 and band[10, 10] == 1 and band[4, 10] == 255 and band[2, 10] == 0
    low = make_trimap(pseudo, _probs(pred, conf=0.6), TrimapConfig(min_confidence=0.7))
    assert (low == 255).all()


def test_combine_with_model_modes() -> None:
    pseudo = np.array([[0, 1, 1]], np.uint8)
    probs = np.stack([np.array([[0.95, 0.6, 0.05]]), np.array([[0.05, 0.4, 0.95]])]).astype(np.float32)
    assert combine_with_model(pseudo, probs, "none").tolist() == [[0, 1, 1]]
    assert combine_with_model(pseudo, probs, "agree").tolist() == [[0, 255, 1]]
    assert combine_with_model(pseudo, probs, "confident", 0.9).tolist() == [[0, 1, 1]]
    assert combine_with_model(pseudo, probs, "confident", 0.55).tolist() == [[0, 0, 1]]


def test_confidence_exactly_at_the_limit_counts_as_confident() -> None:
    """A probability equal to min_confidence / confidence is confident enough ("at least"), not ignored."""
    pseudo = np.array([[0, 1]], np.uint8)
    probs = np.stack([np.array([[0.75, 0.25]]), np.array([[0.25, 0.75]])]).astype(np.float32)
    assert make_trimap(pseudo, probs, TrimapConfig(min_confidence=0.75)).tolist() == [[0, 1]]
    flipped = np.array([[1, 0]], np.uint8)
    assert combine_with_model(flipped, probs, "confident", 0.75).tolist() == [[0, 1]]


def test_peanut_selftrain_config_is_valid() -> None:
    cfg = load_selftrain_config(REPO / "configs" / "crop" / "selftrain_peanut.yaml")
    assert cfg.pseudo.source == "index" and cfg.exclude_list and cfg.evaluate is not None
    assert cfg.evaluate.stems == cfg.exclude_list  # scored only on photos never trained on
    with pytest.raises(ValueError):
        SelfTrainConfig.model_validate({"images": "x", "stage2_init": "warm"})


def _tiny_cfg(tmp_path: Path, **kw: object) -> SelfTrainConfig:
    from agriseg.crop.pseudolabel.synthetic import write_scenes

    root = write_scenes(tmp_path / "syn", n=6, size=(64, 96), depth_format="png")
    base = {
        "name": "tiny",
        "output_dir": str(tmp_path / "run"),
        "images": str(root / "images"),
        "select_fraction": 0.3,
        "pseudo": {"source": "depth", "depth_dir": str(root / "depth")},
        "model": {"encoder_weights": None, "infer_long_side": 0},
        "data": {"crop_size": 64, "scale_min": 0.6, "augment": "none"},
        "train": {"batch_size": 2, "num_workers": 0, "accelerator": "cpu", "warmup_epochs": 0},
        "stage1_epochs": 1,
        "stage2_epochs": 1,
        "trimap": {"boundary_px": 1},
        "evaluate": {"images": str(root / "images"), "labels": str(root / "masks"), "label_mode": "binary"},
    }
    base.update(kw)
    return SelfTrainConfig.model_validate(base)


@pytest.mark.slow
def test_two_stage_selftrain_end_to_end(tmp_path: Path) -> None:
    from agriseg.crop.selftrain import selftrain
    from agriseg.models.io import load_model

    rep = selftrain(_tiny_cfg(tmp_path), progress=False)
    out = tmp_path / "run"
    assert (out / "model.safetensors").is_file()
    load_model(out / "model.safetensors")
    stats = json.loads((out / "labels" / "stage2_trimap_stats.json").read_text())
    assert len(stats["per_image"]) == 6 and 0 <= stats["mean_ignored"] <= 1
    tri = np.unique(
        np.concatenate(
            [
                np.unique(np.asarray(__import__("PIL.Image").Image.open(p)))
                for p in (out / "labels" / "stage2").glob("*.png")
            ]
        )
    )
    assert set(tri.tolist()) <= {0, 1, 255}
    assert "evaluate" in rep["stage1"] and "evaluate" in rep["stage2"]
    assert rep["stage2"]["init"].endswith("model.safetensors")
    from safetensors.torch import load_file

    paths = (out / "model.safetensors", rep["stage1"]["model"], rep["stage2"]["model"])
    shipped, s1, s2 = (load_file(p) for p in paths)
    assert all(np.array_equal(shipped[k].numpy(), s2[k].numpy()) for k in s2)  # the stage-2 model, not stage 1's
    assert not all(np.array_equal(shipped[k].numpy(), s1[k].numpy()) for k in s1)
    # session 87's sweep: a re-run without stage 2 left the earlier stage-2 model and labels beside the new model
    rep = selftrain(_tiny_cfg(tmp_path, stage2_epochs=0), progress=False, overwrite=True)
    assert "stage2" not in rep and not (out / "stage2").exists() and not (out / "labels" / "stage2").exists()
    assert not (out / "labels" / "stage2_trimap_stats.json").exists() and (out / "labels" / "stage1").is_dir()


@pytest.mark.slow
def test_adapt_writes_a_model_predict_can_load(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from agriseg.cli import main as cli
    from agriseg.crop.pseudolabel.synthetic import write_scenes
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    root = write_scenes(tmp_path / "syn", n=5, size=(64, 96))
    mc = ModelConfig(encoder_weights=None, infer_long_side=0)
    base = save_model(build_model(mc), mc, tmp_path / "base.safetensors")
    out = tmp_path / "adapted.safetensors"
    r = CliRunner().invoke(
        cli,
        [
            "crop",
            "adapt",
            str(root / "images"),
            "-o",
            str(out),
            "--model",
            str(base),
            "--index",
            "exg",
            "--stage1-epochs",
            "1",
            "--stage2-epochs",
            "1",
            "--crop-size",
            "64",
            "--batch-size",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        cli, ["crop", "predict", str(root / "images"), "-o", str(tmp_path / "pred"), "--model", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "pred").glob("*_mask.png"))) == 5


def test_depth_guided_postprocess_drops_unsupported_components() -> None:
    from agriseg.crop.selftrain import depth_guided_postprocess

    pred = np.zeros((20, 20), np.uint8)
    pred[2:6, 2:6] = 1  # supported by depth
    pred[12:16, 12:16] = 1  # flat (a green mat on the ground): not supported
    depth = np.zeros((20, 20), bool)
    depth[2:6, 2:5] = True
    out = depth_guided_postprocess(pred, depth, 0.5)
    assert out[3, 3] == 1 and out[13, 13] == 0 and out.sum() == 16


def test_pool_honours_exclude_and_keep(tmp_path: Path) -> None:
    from agriseg.crop.selftrain import SelfTrainer

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    import cv2

    for s in ("a", "b", "c", "d"):
        cv2.imwrite(str(imgs / f"{s}.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "ex.txt").write_text("d\n")
    (tmp_path / "keep.json").write_text(json.dumps({"accepted": ["a", "b", "d"]}))
    cfg = SelfTrainConfig(images=str(imgs), exclude_list=str(tmp_path / "ex.txt"), keep=str(tmp_path / "keep.json"))
    assert [p.stem for p in SelfTrainer(cfg).pool()] == ["a", "b"]
    tl, sl = SelfTrainer(cfg.model_copy(update={"output_dir": str(tmp_path / "o")})).split(["a", "b", "c"])
    assert set(tl.read_text().split()) | set(sl.read_text().split()) == {"a", "b", "c"}
    assert not set(tl.read_text().split()) & set(sl.read_text().split())


def test_selftrain_cli_missing_config_is_a_clean_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from agriseg.cli import main as cli

    r = CliRunner().invoke(cli, ["crop", "selftrain", "-c", str(tmp_path / "none.yaml")])
    assert r.exit_code != 0 and "none.yaml" in r.output and "Traceback" not in r.output


def test_a_missing_evaluation_folder_stops_selftrain_before_any_work(tmp_path: Path) -> None:
    from agriseg.crop.selftrain import selftrain

    cfg = _tiny_cfg(tmp_path, evaluate={"images": str(tmp_path / "syn" / "images"), "labels": str(tmp_path / "no")})
    with pytest.raises(FileNotFoundError, match=r"no: folder not found \(evaluate in the config\)"):
        selftrain(cfg, progress=False)
    assert not (tmp_path / "run" / "pseudo").exists()  # nothing pseudo-labelled or trained first


def test_an_unknown_encoder_stops_selftrain_before_any_work(tmp_path: Path) -> None:
    """It pseudo-labelled every photo and wrote its lists, then said the encoder was unknown (session 102's
    sweep); in a finished run's folder it sent the user to --overwrite for a model that can never build."""
    from agriseg.config import OptionError
    from agriseg.crop.selftrain import selftrain

    cfg = _tiny_cfg(tmp_path, model={"encoder": "effnet", "encoder_weights": None, "infer_long_side": 0})
    with pytest.raises(OptionError, match=r"^model: unknown encoder 'effnet'"):
        selftrain(cfg, progress=False)
    assert not (tmp_path / "run").exists()  # nothing pseudo-labelled, listed or trained first


def test_selftrain_keeps_a_users_file_of_a_name_it_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """train_stems.txt, selftrain_report.json, labels/stage1 of the user's in output_dir were replaced without
    --overwrite (only model.safetensors was guarded); a missing accelerator was said after pseudo-labelling
    (session 75's error-path review)."""
    from agriseg.config import OptionError
    from agriseg.crop.selftrain import selftrain

    run = tmp_path / "run"
    run.mkdir()
    mine = run / "train_stems.txt"
    mine.write_text("my own notes\n", encoding="utf-8")
    with pytest.raises(OptionError, match=r"train_stems\.txt: exists and was not written by agriseg"):
        selftrain(_tiny_cfg(tmp_path), progress=False)
    assert mine.read_text(encoding="utf-8") == "my own notes\n" and not (run / "pseudo").exists()
    mine.unlink()
    from lightning.pytorch.accelerators import MPSAccelerator

    monkeypatch.setattr(MPSAccelerator, "is_available", staticmethod(lambda: False))  # as on any machine but a Mac
    gpu = _tiny_cfg(tmp_path, train={"batch_size": 2, "num_workers": 0, "accelerator": "mps"})
    with pytest.raises(OptionError, match="train.accelerator: mps, but this machine has no such device"):
        selftrain(gpu, progress=False)
    assert list(run.iterdir()) == []  # nothing pseudo-labelled, listed or trained first


def test_selftrain_refuses_a_folder_of_the_users_and_train_a_selftrain_model(tmp_path: Path) -> None:
    """``output_dir`` of a user's notes.txt: selftrain wrote its model and work files among them, and a later
    ``crop train`` (or ``fields train``) into that folder replaced selftrain's model with a warning (session 83's
    sweep). Both are refused now."""
    from agriseg.config import OptionError
    from agriseg.crop.selftrain import selftrain
    from agriseg.manifest import MANIFEST
    from agriseg.training.trainer import check_run_folder

    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("precious\n", encoding="utf-8")
    with pytest.raises(OptionError, match=r"output_dir .*run: exists and was not written by agriseg \(it holds notes"):
        selftrain(_tiny_cfg(tmp_path), progress=False)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]
    sel = tmp_path / "sel"
    sel.mkdir()
    import json

    from safetensors.numpy import save_file

    save_file({"w": np.zeros(1, np.float32)}, str(sel / "model.safetensors"), metadata={"agriseg_model_config": "{}"})
    line = {"command": "crop selftrain", "item": "model.safetensors", "outputs": ["model.safetensors"]}
    (sel / MANIFEST).write_text(json.dumps(line) + "\n", encoding="utf-8")
    with pytest.raises(OptionError, match=r"its model.safetensors is the output of `agriseg crop selftrain`"):
        check_run_folder(sel)


def test_adapt_with_a_file_that_is_no_model_leaves_nothing(tmp_path: Path) -> None:
    """``crop adapt ... -m rand.pt`` exited 2 but left its work folder (the photos copied) and a manifest."""
    import torch

    from agriseg.crop.pseudolabel.synthetic import write_scenes

    root = write_scenes(tmp_path / "syn", n=2, size=(64, 96))
    torch.save({"w": torch.ones(2)}, tmp_path / "rand.pt")
    out = tmp_path / "out" / "a.safetensors"
    code, said = _cli("crop", "adapt", root / "images", "-o", out, "-m", tmp_path / "rand.pt", "--index", "exg")
    assert code == 2 and "rand.pt: a .pt file is not a model agriseg reads" in said, said
    assert not (tmp_path / "out").exists()


def test_adapt_keeps_a_users_file_in_its_work_folder(tmp_path: Path) -> None:
    from agriseg.crop.pseudolabel.synthetic import write_scenes

    root = write_scenes(tmp_path / "syn", n=2, size=(64, 96))
    work = tmp_path / "work"
    work.mkdir()
    (work / "select_stems.txt").write_text("mine\n", encoding="utf-8")
    out = tmp_path / "adapted.safetensors"
    code, said = _cli("crop", "adapt", root / "images", "-o", out, "--workdir", work, "--index", "exg")
    assert code == 2 and "select_stems.txt: exists and was not written by agriseg" in said, said
    assert (work / "select_stems.txt").read_text(encoding="utf-8") == "mine\n" and not out.exists()


@pytest.mark.slow  # two adapt runs of the default model: 40 s
def test_an_adapt_work_folder_is_its_own_for_any_output_folder(tmp_path: Path) -> None:
    """An earlier adapt run's work folder was refused as a user's when -o named another folder (session 75's
    review): the folder's own pseudo-label manifest says it is an agriseg run's."""
    from agriseg.crop.pseudolabel.synthetic import write_scenes

    root, work = write_scenes(tmp_path / "syn", n=2, size=(64, 96)), tmp_path / "work"
    first = tmp_path / "o1" / "a.safetensors"
    args = ["--workdir", work, "--index", "exg", "--stage1-epochs", "1", "--stage2-epochs", "0", "--crop-size", "64"]
    assert _cli("crop", "adapt", root / "images", "-o", first, *args)[0] == 0
    code, said = _cli("crop", "adapt", root / "images", "-o", tmp_path / "o2" / "a.safetensors", *args)
    assert code == 0, said


def test_selftrain_takes_set_overrides(tmp_path: Path) -> None:
    """README: -c configs take --set overrides; selftrain had no --set, so its output went where the config said."""
    config = Path(__file__).parents[3] / "configs" / "crop" / "selftrain_peanut.yaml"
    (tmp_path / "img").mkdir()
    code, out = _cli("crop", "selftrain", "-c", config, "--set", f"images={tmp_path / 'img'}",
                     "--set", f"output_dir={tmp_path / 'run'}")  # fmt: skip
    assert code == 2 and f"{tmp_path / 'img'}: folder has no images" in out, out  # the override was read
    assert not (tmp_path / "run").exists()
    code, out = _cli("crop", "selftrain", "-c", config, "--set", "nosuch=1")
    assert code == 2 and "--set nosuch" in out, out
    code, out = _cli("crop", "selftrain", "-c", config, "--set", f"images={tmp_path / 'nosuch'}",
                     "--set", f"output_dir={tmp_path / 'run'}")  # fmt: skip
    assert code == 2 and f"{tmp_path / 'nosuch'}: no such file or folder (images)" in out, out  # the key named


def _cli(*args: object) -> tuple[int, str]:
    from click.testing import CliRunner

    from agriseg.cli import main as cli

    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in r.output and (r.exception is None or isinstance(r.exception, SystemExit)), r.output
    return r.exit_code, r.output


@pytest.mark.slow  # 20 s; the fingerprint path (_once) is the one test_selftrain_reruns_are_fingerprinted runs
def test_adapt_reruns_are_fingerprinted(tmp_path: Path) -> None:
    """The adapted model records photos, start model and options: the same ones again is a no-op, others
    are refused naming them (the batch size too: it changes the model), --overwrite adapts again."""
    import torch

    from agriseg.crop.pseudolabel.synthetic import write_scenes
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    root = write_scenes(tmp_path / "syn", n=2, size=(64, 96))
    mc = ModelConfig(encoder_weights=None, infer_long_side=0)
    base = save_model(build_model(mc), mc, tmp_path / "base.safetensors")
    out = tmp_path / "adapted.safetensors"
    args = ["crop", "adapt", root / "images", "-o", out, "--model", base, "--index", "exg", "--stage1-epochs", "1"]
    args += ["--stage2-epochs", "0", "--crop-size", "64", "--batch-size", "2"]
    code, text = _cli(*args)
    assert code == 0 and out.is_file(), text
    made = (out.read_bytes(), out.stat().st_mtime_ns)
    code, text = _cli(*args)
    assert code == 0 and "unchanged: made before from the same photos, model and options" in text, text
    assert "Epoch" not in text and (out.read_bytes(), out.stat().st_mtime_ns) == made  # nothing trained
    for extra, change in (
        (["--combine", "none"], "--combine: agree -> none"),
        (["--batch-size", "1"], "--batch-size: 2 -> 1"),
        (["--index", "cive"], "--index: exg -> cive"),
    ):
        code, text = _cli(*args, *extra)
        assert code == 2 and f"{out}: its outputs were made with other settings ({change})" in text, text
    # another start model under the same name (every weight moved: a second random model is not always another
    # one, as a training run earlier in the process may have left the random generator where the first began)
    other = build_model(mc)
    with torch.no_grad():
        for w in other.parameters():
            w.add_(0.5)
    save_model(other, mc, base)
    code, text = _cli(*args)
    assert code == 2 and "(model: not the one they were made with)" in text and "--overwrite" in text, text
    assert (out.read_bytes(), out.stat().st_mtime_ns) == made  # every refusal kept the model
    code, text = _cli(*args, "--combine", "none", "--overwrite")
    assert code == 0 and "unchanged" not in text and out.read_bytes() != made[0], text
    code, text = _cli(*args, "--combine", "none")
    assert code == 0 and "unchanged" in text, text
    mine = tmp_path / "mine.safetensors"  # a file this command did not write is kept
    mine.write_bytes(b"a user's file")
    code, text = _cli(*[mine if a == out else a for a in args])
    assert code == 2 and f"{mine}: exists and was not written by this command" in text, text  # the name given
    assert mine.read_bytes() == b"a user's file"
    # a screening export given with --keep: the same photos exported again (another "exported" time) is the same
    # run, where its bytes made the finished model refused (session 84's sweep); other photos are another run
    import json

    stems = sorted(f.stem for f in (root / "images").iterdir())
    keep = tmp_path / "accepted.json"
    keep.write_text(json.dumps({"accepted": stems, "exported": "2026-01-01T00:00:00Z"}))
    kept = [*args, "--combine", "none", "--keep", keep, "-o", tmp_path / "kept.safetensors"]
    assert _cli(*kept)[0] == 0
    keep.write_text(json.dumps({"accepted": stems[::-1], "exported": "2026-01-02T09:30:00Z"}))
    code, text = _cli(*kept)
    assert code == 0 and "unchanged" in text, text
    keep.write_text(json.dumps({"accepted": [*stems, "other"]}))  # one more photo accepted
    code, text = _cli(*kept)
    assert code == 2 and "(--keep: 2 accepted photos (" in text, text


@pytest.mark.slow  # 6 s: the default run keeps under 15 minutes
def test_selftrain_reruns_are_fingerprinted(tmp_path: Path) -> None:
    """The model records the photos and files it read and the config: the same ones again is a no-op,
    another value is refused naming its config key, --overwrite trains again."""
    import yaml

    cfg = _tiny_cfg(tmp_path, stage2_epochs=0, evaluate=None)
    path = tmp_path / "selftrain.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    model = Path(cfg.output_dir) / "model.safetensors"
    code, text = _cli("crop", "selftrain", "-c", path)
    assert code == 0 and model.is_file(), text
    made = (model.read_bytes(), model.stat().st_mtime_ns)
    code, text = _cli("crop", "selftrain", "-c", path)
    assert code == 0 and "(unchanged: made before from the same inputs and options)" in text, text
    assert (model.read_bytes(), model.stat().st_mtime_ns) == made
    code, text = _cli("crop", "selftrain", "-c", path, "--stage1-epochs", "2")
    assert code == 2 and f"{model}: its outputs were made with other settings (stage1_epochs: 1 -> 2)" in text, text
    path.write_text(yaml.safe_dump({**cfg.model_dump(mode="json"), "train": {**cfg.train.model_dump(), "lr": 0.01}}))
    code, text = _cli("crop", "selftrain", "-c", path)
    assert code == 2 and "(train.lr: 0.001 -> 0.01)" in text, text
    assert (model.read_bytes(), model.stat().st_mtime_ns) == made
    code, text = _cli("crop", "selftrain", "-c", path, "--overwrite")
    assert code == 0 and "unchanged" not in text and model.stat().st_mtime_ns != made[1], text
    assert _cli("crop", "selftrain", "-c", path)[1].count("unchanged") == 1


def test_score_model_reports_rule_and_argmax(tmp_path: Path) -> None:
    """``argmax_too`` scores the same probabilities twice: through the inference rule and as the plain argmax."""
    from agriseg.crop.predictor import Predictor, class_map
    from agriseg.crop.pseudolabel.synthetic import write_scenes
    from agriseg.crop.selftrain import SelfTrainEvalConfig, score_model
    from agriseg.data.io import read_rgb
    from agriseg.metrics import SegmentationMetrics
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import load_model, save_model

    root = write_scenes(tmp_path / "syn", n=3, size=(64, 96))
    mc = ModelConfig(encoder_weights=None, infer_long_side=0)
    path = save_model(build_model(mc), mc, tmp_path / "m.safetensors")
    spec = SelfTrainEvalConfig(images=str(root / "images"), labels=str(root / "masks"), label_mode="binary")
    res = score_model(path, spec, progress=False, argmax_too=True)
    model, cfg = load_model(path)
    pred = Predictor(model, cfg.num_classes, cfg.infer_long_side)
    plain = SegmentationMetrics(2, spec.boundary_ratio, 255, cfg.class_names)
    for ip in sorted((root / "images").glob("*.png")):
        rgb = read_rgb(ip)
        truth = (np.asarray(__import__("PIL.Image").Image.open(root / "masks" / ip.name)) > 0).astype(np.uint8)
        plain.update(class_map(pred.probabilities([rgb])[0]), truth)
    want = plain.compute()
    assert res["miou_argmax"] == pytest.approx(want["miou"]) and res["biou_argmax"] == pytest.approx(want["biou"])
    assert "miou_argmax" not in score_model(path, spec, progress=False)


def test_adapt_refuses_bad_options_before_any_photo_is_pseudo_labelled(tmp_path: Path) -> None:
    """Found by a bad-input sweep (session 58): --crop-size and a broken --keep were refused only after the
    pseudo-labels (30 s), two photos left named the work folder (exit 1), and -o a.txt was written."""
    from agriseg.crop.pseudolabel.synthetic import write_scenes

    root = write_scenes(tmp_path / "syn", n=2, size=(64, 96))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    common = ["crop", "adapt", root / "images", "--index", "exg"]
    for extra, message in (
        (["-o", tmp_path / "a.txt"], "a.txt: the adapted model is a .safetensors file"),
        (["-o", tmp_path / "a.safetensors", "--keep", bad], "bad.json: not valid JSON"),
        (["-o", tmp_path / "a.safetensors", "--crop-size", "100000"], "--crop-size"),
        # depth read as pseudolabel reads it (session 90's sweep: adapt had no --depth-convention / --detrend)
        (["-o", tmp_path / "a.safetensors", "--detrend", "none"], "--detrend: read with --source depth only"),
    ):
        code, text = _cli(*common, *extra)
        assert code == 2 and message in text, text
    assert not (tmp_path / "a_adapt").exists()  # nothing pseudo-labelled
    one = root / "images" / sorted(p.name for p in (root / "images").iterdir())[0]
    code, text = _cli("crop", "adapt", one, "-o", tmp_path / "b.safetensors", "--index", "exg")
    assert code == 2 and f"{one}: 1 photo given: at least 2 are needed to train on" in text, text
    assert not (tmp_path / "b_adapt").exists()  # its work folder (links to the photos) is not left behind
    assert not (tmp_path / ".agriseg-manifest.jsonl").exists()  # nor a manifest of a model never made (s68)


def test_scores_leave_out_an_unreadable_photo(tmp_path: Path) -> None:
    """One unreadable photo in the config's evaluate folder stopped self-training after stage 1 had trained
    (session 73's sweep): it is left out of the scores and named, as crop evaluate does."""
    from agriseg.crop.pseudolabel.synthetic import write_scenes
    from agriseg.crop.selftrain import SelfTrainEvalConfig, score_model
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    root = write_scenes(tmp_path / "syn", n=2, size=(64, 96))
    label = sorted((root / "masks").glob("*.png"))[0]
    (root / "images" / "broken.jpg").write_bytes(b"not a photo")
    (root / "masks" / "broken.png").write_bytes(label.read_bytes())
    mc = ModelConfig(encoder_weights=None, infer_long_side=0)
    model = save_model(build_model(mc), mc, tmp_path / "m.safetensors")
    spec = SelfTrainEvalConfig(images=str(root / "images"), labels=str(root / "masks"))
    res = score_model(model, spec, progress=False)
    assert 0 <= res["miou"] <= 1 and len(res["unreadable"]) == 1 and "broken.jpg" in res["unreadable"][0]
    only = tmp_path / "only"
    (only / "images").mkdir(parents=True)
    (only / "masks").mkdir()
    (only / "images" / "only.jpg").write_bytes(b"nor this")
    (only / "masks" / "only.png").write_bytes(label.read_bytes())
    with pytest.raises(ValueError, match="no photo to score could be read"):
        score_model(model, SelfTrainEvalConfig(images=str(only / "images"), labels=str(only / "masks")), progress=False)


@pytest.mark.slow  # two adapt runs: 15 s
def test_adapt_says_its_photos_left_out_again_and_its_work_of_other_settings_once(tmp_path: Path) -> None:
    """Session 84's sweep: a greyscale photo was warned of twice and an unreadable one failed the run (exit 1),
    while the unchanged re-run exited 0 naming neither; a run stopped, then given another --index, refused each
    photo in one long line ("its outputs were made with other settings ... ; ad/0002.jpg: ...")."""
    import shutil

    from PIL import Image

    from agriseg.crop.pseudolabel.synthetic import write_scenes
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    root = write_scenes(tmp_path / "syn", n=3, size=(64, 96))
    photos = tmp_path / "photos"
    shutil.copytree(root / "images", photos)
    samples = Path(__file__).resolve().parents[3] / "src" / "agriseg" / "samples" / "peanut" / "images"
    Image.open(sorted(samples.iterdir())[0]).convert("L").save(photos / "grey.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    mc = ModelConfig(encoder_weights=None, infer_long_side=0)
    base = save_model(build_model(mc), mc, tmp_path / "base.safetensors")
    out = tmp_path / "adapted.safetensors"
    args = ["crop", "adapt", photos, "-o", out, "--model", base, "--stage1-epochs", "1"]  # the default index
    args += ["--stage2-epochs", "0", "--crop-size", "64", "--batch-size", "2", "--combine", "none"]
    for run in ("first", "again"):
        code, text = _cli(*args)
        assert code == 1 and text.count("grey.png: a greyscale photo") == 1, (run, text)
        assert f"failed: {photos / 'broken.jpg'}" in text, (run, text)
    assert "unchanged" in text
    # the pseudo-labels of a stopped run (here: of another model's folder) under other settings: one line
    work = tmp_path / "next_adapt"
    shutil.copytree(tmp_path / "adapted_adapt" / "pseudo", work / "pseudo")
    code, text = _cli(*[a for a in args if a != out], "-o", tmp_path / "next.safetensors", "--index", "exg")
    assert code == 2 and text.count("made with other settings") == 1 and " -> exg)" in text, text


def test_a_rerun_trains_on_this_runs_photos_only(tmp_path: Path) -> None:
    """Session 85's sweep: `selftrain --overwrite --keep` trained on a photo the screening rejected (its stage-1
    label from the earlier run stayed), and `adapt --overwrite` with other photos of the same names trained on
    the old ones (their links stayed)."""
    import cv2

    from agriseg.crop.selftrain import SelfTrainer, link_photos

    label = np.zeros((8, 8), np.uint8)
    masks = {}
    for s in ("a", "b", "c"):
        cv2.imwrite(str(tmp_path / f"{s}_mask.png"), label)
        masks[s] = tmp_path / f"{s}_mask.png"
    trainer = SelfTrainer(SelfTrainConfig(images=str(tmp_path), output_dir=str(tmp_path / "o")))
    trainer.stage1_labels(masks)
    d = trainer.stage1_labels({k: masks[k] for k in ("a", "c")})  # b rejected on the re-run
    assert sorted(p.stem for p in d.glob("*.png")) == ["a", "c"]

    old, new, img_dir = tmp_path / "A", tmp_path / "B", tmp_path / "work"
    for folder in (old, new, img_dir):
        folder.mkdir()
    for folder in (old, new):
        for s in ("x", "y"):
            cv2.imwrite(str(folder / f"{s}.png"), label)
    cv2.imwrite(str(new / "z.png"), label)
    link_photos([old / "x.png", old / "y.png"], img_dir)
    names = link_photos([new / "x.png", new / "z.png"], img_dir)
    assert names == {"x": new / "x.png", "z": new / "z.png"}
    assert {p.name: p.resolve() for p in img_dir.iterdir()} == {"x.png": new / "x.png", "z.png": new / "z.png"}


def test_a_file_in_the_work_folder_is_never_read_for_a_photo(tmp_path: Path) -> None:
    """Session 90's sweep: `crop adapt --workdir W` with a file W/images/0003.jpg of the user's read it in place
    of the photo 0003.jpg given (and blamed the photo when it was unreadable). An earlier run's copy (where links
    cannot be made) of the same photo is still used."""
    from agriseg.config import OptionError
    from agriseg.crop.selftrain import link_photos

    photos, img_dir = tmp_path / "photos", tmp_path / "work" / "images"
    photos.mkdir()
    img_dir.mkdir(parents=True)
    (photos / "a.jpg").write_bytes(b"the photo")
    (img_dir / "a.jpg").write_bytes(b"the photo")  # a copy of it: used
    assert link_photos([photos / "a.jpg"], img_dir) == {"a": photos / "a.jpg"}
    (img_dir / "a.jpg").write_bytes(b"another picture")
    with pytest.raises(OptionError, match=r"images/a.jpg: a file agriseg did not write, where it puts a link to "):
        link_photos([photos / "a.jpg"], img_dir)
    assert (img_dir / "a.jpg").read_bytes() == b"another picture"


def test_a_copy_made_where_links_cannot_be_follows_its_photo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Session 90's review: on a disk without symbolic links the photo is copied; once the photo was edited, the
    re-run called agriseg's own copy "a file agriseg did not write" and nothing but deleting it by hand helped."""
    import os

    from agriseg.crop.selftrain import link_photos

    def no_links(*args: object) -> None:
        raise OSError("links not supported here")

    monkeypatch.setattr(os, "symlink", no_links)
    photos, img_dir = tmp_path / "photos", tmp_path / "work" / "images"
    photos.mkdir()
    img_dir.mkdir(parents=True)
    (photos / "a.jpg").write_bytes(b"the photo")
    link_photos([photos / "a.jpg"], img_dir)
    assert not (img_dir / "a.jpg").is_symlink() and (img_dir / "a.jpg").read_bytes() == b"the photo"
    (photos / "a.jpg").write_bytes(b"the photo, edited")
    link_photos([photos / "a.jpg"], img_dir)
    assert (img_dir / "a.jpg").read_bytes() == b"the photo, edited"


def test_a_name_clash_since_removed_leaves_no_trace(tmp_path: Path) -> None:
    """Session 87's selftrain sweep: with 0001.jpg and 0001.png both there, the masks were named 0001_jpg and
    0001_png; once 0001.png was removed, selftrain failed ("train_stems.txt names 1 photo(s) without an image and
    a label of that name (0001_jpg)") and `crop pseudolabel --overwrite` kept the name. The clash itself is now
    said before any photo is pseudo-labelled."""
    from PIL import Image

    from agriseg.crop.pseudolabel.pipeline import PseudoLabelConfig, pseudolabel_files
    from agriseg.crop.selftrain import SelfTrainer

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for name in ("0001.jpg", "0001.png", "0002.jpg"):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(photos / name)
    cfg = SelfTrainConfig(images=str(photos), output_dir=str(tmp_path / "o"))
    with pytest.raises(ValueError, match=r"0001.jpg and 0001.png: two images of one name"):
        SelfTrainer(cfg).pool()
    files = sorted(photos.iterdir())
    pseudolabel_files(files, tmp_path / "o" / "pseudo", cfg.pseudo, progress=False)  # as the clash ran
    assert (tmp_path / "o" / "pseudo" / "masks" / "0001_jpg.png").is_file()
    (photos / "0001.png").unlink()
    trainer = SelfTrainer(cfg, progress=False)
    assert sorted(trainer.pseudolabel(trainer.pool())) == ["0001", "0002"]  # keyed as training pairs them
    overwrite = PseudoLabelConfig(overwrite=True)
    redone = pseudolabel_files(trainer.pool(), tmp_path / "o" / "pseudo", overwrite, progress=False)
    assert sorted(r["stem"] for r in redone) == ["0001", "0002"]  # --overwrite names the photos afresh


def test_a_class_count_without_its_names_is_said_when_the_config_is_read(tmp_path: Path) -> None:
    """Session 87's selftrain sweep: `--set model.num_classes=3` was refused after every photo was pseudo-labelled,
    leaving pseudo/, labels/ and the stem lists behind."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="model.class_names has 2 names for model.num_classes 3"):
        SelfTrainConfig.model_validate({"images": str(tmp_path), "model": {"num_classes": 3}})


@pytest.mark.slow  # three self-training runs: 60 s
def test_a_rerun_after_an_interruption_keeps_the_stages_it_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted self-training run trained stage 1 again from the start on its re-run (an hour on a CPU):
    a stage finished from the same inputs and options is kept; another setting, or --overwrite, trains it."""
    from agriseg.crop.selftrain import SelfTrainer, selftrain

    cfg = _tiny_cfg(tmp_path, evaluate=None)
    stage1 = Path(cfg.output_dir) / "stage1" / "model.safetensors"
    real = SelfTrainer.trimaps

    def stopped(*args: object, **kw: object) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(SelfTrainer, "trimaps", stopped)
    with pytest.raises(KeyboardInterrupt):
        selftrain(cfg, progress=False)
    made = stage1.stat().st_mtime_ns
    monkeypatch.setattr(SelfTrainer, "trimaps", real)
    rep = selftrain(cfg, progress=False)
    assert rep["stage1"]["kept"] and not rep["stage2"].get("kept") and stage1.stat().st_mtime_ns == made
    assert Path(rep["model"]).is_file()
    rep = selftrain(cfg, progress=False)  # finished: nothing runs
    assert rep.get("skipped")
    rep = selftrain(cfg, progress=False, overwrite=True)
    assert not rep["stage1"].get("kept") and stage1.stat().st_mtime_ns != made


@pytest.mark.slow  # two self-training runs: 40 s
def test_a_kept_stage_is_scored_with_this_runs_true_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Session 106's sweep: a re-run after an interruption kept stage 1 and reported its true-label scores of the
    earlier run's ``evaluate`` settings (mIoU 0.00 of another colormap) beside this run's settings."""
    from agriseg.crop import selftrain as st

    cfg = _tiny_cfg(tmp_path)
    scored: list[float] = []

    def score(model: str, ev: object, progress: bool = True) -> dict:
        scored.append(ev.boundary_ratio)  # type: ignore[attr-defined]
        return {"boundary_ratio": ev.boundary_ratio}  # type: ignore[attr-defined]

    def stopped(*args: object, **kw: object) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(st, "score_model", score)
    real = st.SelfTrainer.trimaps
    monkeypatch.setattr(st.SelfTrainer, "trimaps", stopped)
    with pytest.raises(KeyboardInterrupt):
        st.selftrain(cfg, progress=False)
    monkeypatch.setattr(st.SelfTrainer, "trimaps", real)
    other = cfg.model_copy(update={"evaluate": cfg.evaluate.model_copy(update={"boundary_ratio": 0.05})})
    rep = st.selftrain(other, progress=False)
    assert rep["stage1"]["kept"] and rep["stage1"]["evaluate"] == {"boundary_ratio": 0.05}, rep["stage1"]
    assert scored == [0.02, 0.05, 0.05]  # stage 1 of each run, then stage 2 of the second


@pytest.mark.slow  # two adapt runs: 30 s
def test_an_adapt_rerun_after_an_interruption_keeps_the_stages_it_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """crop adapt trained stage 1 again after an interruption, where crop selftrain kept it (session 95's sweep):
    the adapt command gave its self-trainer no fingerprint."""
    import torch

    from agriseg.crop.pseudolabel.synthetic import write_scenes
    from agriseg.crop.selftrain import SelfTrainer
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    torch.manual_seed(0)
    root = write_scenes(tmp_path / "syn", n=2, size=(64, 96))
    mc = ModelConfig(encoder_weights=None, infer_long_side=0)
    base = save_model(build_model(mc), mc, tmp_path / "base.safetensors")
    out, work = tmp_path / "adapted.safetensors", tmp_path / "work"
    args = ["crop", "adapt", root / "images", "-o", out, "--model", base, "--index", "exg", "--stage1-epochs", "1",
            "--stage2-epochs", "1", "--crop-size", "64", "--workdir", work]  # fmt: skip
    real = SelfTrainer.trimaps

    def stopped(*args: object, **kw: object) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(SelfTrainer, "trimaps", stopped)
    from click.testing import CliRunner

    from agriseg.cli import main as cli

    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code != 0 and not out.exists(), res.output
    stage1 = work / "stage1" / "model.safetensors"
    made = stage1.stat().st_mtime_ns
    monkeypatch.setattr(SelfTrainer, "trimaps", real)
    code, said = _cli(*args)
    assert code == 0 and "stage1: kept, as an interrupted run with the same inputs and options" in said, said
    assert stage1.stat().st_mtime_ns == made and out.is_file()


def test_adapt_names_a_file_that_is_no_photo(tmp_path: Path) -> None:
    """`crop adapt readme.txt` said "1 photo given: at least 2 are needed" (session 102's sweep)."""
    (tmp_path / "readme.txt").write_text("notes")
    code, out = _cli("crop", "adapt", tmp_path / "readme.txt", "-o", tmp_path / "ad" / "m.safetensors")
    assert code == 2 and "readme.txt: not a photo (.jpg" in out and "1 photo given" not in out, out
    assert not (tmp_path / "ad").exists()


def test_trimaps_ignoring_most_pixels_are_said_to_make_stage_2_scores_say_little() -> None:
    """A barely trained stage 1 gave trimaps ignoring 93 % of the pixels and a stage-2 score of 1.000 on the
    pseudo-labels (0.03 on the true labels) with no word beyond the percentage (session 104's sweep)."""
    from agriseg.crop.selftrain import trimap_summary

    assert trimap_summary(0.037) == "trimaps: 3.7% of pixels ignored on average"
    said = trimap_summary(0.928)
    assert said.startswith("trimaps: 92.8% of pixels ignored on average (most of each photo")
    assert "train stage 1 longer, --stage1-epochs" in said


def test_the_scoring_record_of_a_stage_follows_its_true_labels(tmp_path: Path) -> None:
    """Session 106's review: a kept stage's scores were redone when the `evaluate` settings changed, not when its
    true labels were edited since the interrupted run."""
    import os

    from agriseg.crop.selftrain import SelfTrainEvalConfig, _scoring

    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "a.png").write_bytes(b"label")
    ev = SelfTrainEvalConfig(images=str(tmp_path / "img"), labels=str(tmp_path / "lab"))
    before = _scoring(ev)
    assert _scoring(ev) == before
    os.utime(tmp_path / "lab" / "a.png", ns=(1, 1))  # edited (its time moved)
    assert _scoring(ev) != before
