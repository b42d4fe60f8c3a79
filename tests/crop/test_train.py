import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from agriseg.config import load_config
from agriseg.crop.config import CropTrainConfig
from agriseg.crop.train import train_crop


def make_fields(root, n=6, size=96, seed=0):
    """Green blobs on brown textured soil, with 0/255 masks."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        mask = np.zeros((size, size), bool)
        for _ in range(rng.integers(2, 5)):
            cy, cx, r = rng.integers(10, size - 10, 2).tolist() + [int(rng.integers(6, 16))]
            mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        img = np.stack(
            [
                rng.normal(120, 15, (size, size)),
                rng.normal(90, 15, (size, size)),
                rng.normal(60, 15, (size, size)),
            ],
            -1,
        )
        img[mask] = rng.normal((50, 150, 40), 15, (mask.sum(), 3))
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / "images" / f"{i:02d}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "labels" / f"{i:02d}.png")


def tiny_config(tmp_path) -> CropTrainConfig:
    make_fields(tmp_path / "data", n=4, size=64)
    return CropTrainConfig.model_validate(
        {
            "output_dir": str(tmp_path / "run"),
            "model": {"encoder_weights": None, "infer_long_side": 0},
            "data": {
                "images": str(tmp_path / "data/images"),
                "labels": str(tmp_path / "data/labels"),
                "val_fraction": 0.25,
                "crop_size": 64,
                "scale_min": 0.5,
                "augment": "mild",
            },
            "train": {"epochs": 1, "batch_size": 2, "num_workers": 0, "lr": 0.003},
        }
    )


@pytest.mark.slow  # 8 s: the smoke test trains and resumes in the default run
def test_train_exports_model_and_resumes(tmp_path):
    from agriseg.models.io import load_model

    cfg = tiny_config(tmp_path)
    res = train_crop(cfg)
    run = tmp_path / "run"
    assert (run / "model.safetensors").is_file() and (run / "last.ckpt").is_file()
    assert 0.0 <= res["val"]["val/miou"] <= 1.0
    split = json.loads((run / "split.json").read_text())
    assert len(split["val"]) == 1 and not set(split["val"]) & set(split["train"])
    model, mcfg = load_model(run / "model.safetensors")
    assert mcfg.num_classes == 2
    _, ck_cfg = load_model(run / "last.ckpt")  # our own Lightning checkpoints load too
    assert ck_cfg.arch == "unet"
    import torch

    steps = torch.load(run / "last.ckpt", weights_only=True)["global_step"]
    res2 = train_crop(cfg, resume=str(run / "last.ckpt"), max_epochs=2)
    assert torch.load(run / "last.ckpt", weights_only=True)["global_step"] == 2 * steps  # one more epoch
    assert res2["model"]
    # with max_steps, Lightning took the next epoch of an ended run as done and trained nothing (session 80)
    capped = cfg.model_copy(update={"train": cfg.train.model_copy(update={"max_steps": 3 * steps})})
    train_crop(capped, resume=str(run / "last.ckpt"), max_epochs=3)
    assert torch.load(run / "last.ckpt", weights_only=True)["global_step"] == 3 * steps


def test_config_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml", CropTrainConfig)
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {images: a, labels: b}\nmodel: {upsampler: fad}\n")
    with pytest.raises(ValueError, match="bad.yaml: invalid config"):
        load_config(bad, CropTrainConfig)


def test_bundled_configs_validate():
    from pathlib import Path

    bundled = [*sorted(Path("configs/crop").glob("*.yaml")), *sorted(Path("configs/archive/crop").glob("*.yaml"))]
    paths = [p for p in bundled if not p.name.startswith("selftrain")]
    assert len(paths) >= 10
    for path in paths:
        load_config(path, CropTrainConfig)


def test_bf16_channels_last_training_runs(tmp_path):
    from agriseg.models.io import load_model

    cfg = tiny_config(tmp_path)
    cfg = cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"precision": "bf16-mixed", "channels_last": True})}
    )
    res = train_crop(cfg)
    model, _ = load_model(res["model"])
    assert next(model.parameters()).dtype == torch.float32  # exported weights load as fp32
    assert 0.0 <= res["val"]["val/miou"] <= 1.0


def test_init_from_keeps_all_but_a_resized_head(tmp_path):
    from agriseg.crop.train import init_from
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    two = ModelConfig(encoder_weights=None, num_classes=2)
    src = build_model(two)
    path = save_model(src, two, tmp_path / "veg.safetensors", half=False)
    three = build_model(two.model_copy(update={"num_classes": 3, "class_names": ["bg", "crop", "weed"]}))
    skipped = init_from(three, str(path), 3)
    assert skipped == ["head.bias", "head.weight"]
    a, b = src.state_dict(), three.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("head."))
    assert b["head.weight"].shape[0] == 3

    other = build_model(two.model_copy(update={"encoder": "tu-resnet18"}))
    with pytest.raises(ValueError, match="veg.safetensors: its weights do not fit"):
        init_from(other, str(path), 3)


def test_export_last_writes_the_last_checkpoint(tmp_path):
    from safetensors.torch import load_file

    cfg = tiny_config(tmp_path)
    # lr ~0: validation never improves after the first epoch, so the best checkpoint stays the first one; the
    # exported model must still be the one at the end of training (Lightning 2.6 rewrites its own last.ckpt
    # only with a new best)
    cfg.train.epochs, cfg.train.export, cfg.train.lr = 3, "last", 1e-12
    res = train_crop(cfg)
    assert res["best_checkpoint"].endswith("last.ckpt")
    state = torch.load(tmp_path / "run/last.ckpt", weights_only=True)
    best = torch.load(next((tmp_path / "run").glob("best-*.ckpt")), weights_only=True)
    assert state["global_step"] > best["global_step"]  # the end of training, not the best epoch
    last = state["state_dict"]
    exported = load_file(tmp_path / "run/model.safetensors")
    for k, v in exported.items():
        assert torch.equal(v, last[f"model.{k}"].half()), k


def test_max_minutes_cuts_a_long_schedule_short(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.train.epochs, cfg.train.max_minutes = 500, 0.001  # 0.06 s: stops after the first step or so
    res = train_crop(cfg)
    steps = torch.load(tmp_path / "run/last.ckpt", weights_only=True)["global_step"]
    assert steps < 500 and res["model"]
    with pytest.raises(ValueError):
        CropTrainConfig.model_validate({"data": {"images": "a", "labels": "b"}, "train": {"max_minutes": 0}})


def test_index_labels_that_hold_only_0_and_255_are_refused_before_training(tmp_path):
    """The project's own smoke test trained on 0/255 masks with label_mode: index for many sessions: 255 is
    ignore, so every plant pixel was left out and the model learned no plant, silently."""
    import numpy as np
    from PIL import Image

    from agriseg.config import OptionError
    from agriseg.crop.labels import check_label_mode

    for i in range(3):
        m = np.zeros((8, 8), np.uint8)
        m[2:5, 2:5] = 255
        Image.fromarray(m).save(tmp_path / f"{i}.png")
    paths = sorted(tmp_path.glob("*.png"))
    with pytest.raises(OptionError, match="for 0/255 masks use binary"):
        check_label_mode(paths, "index", "data.label_mode")
    check_label_mode(paths, "binary")  # the right mode
    m[0, 0] = 1  # an index label with an ignore band: a class id besides 0 and 255
    Image.fromarray(m).save(paths[0])
    check_label_mode(paths, "index")


def test_a_run_whose_loss_turns_nan_stops_and_writes_no_model(tmp_path):
    """lr 1e9: every weight NaN, yet the run exited 0 and saved the model, which scored val/miou 0.42 (all
    background) and predicted nothing without a word (session 68's sweep)."""
    from agriseg.training.task import TrainingDiverged

    cfg = tiny_config(tmp_path)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"lr": 1e9, "warmup_epochs": 0, "epochs": 8})})
    with pytest.raises(TrainingDiverged, match=r"train/loss is (nan|inf) at step \d+ \(epoch \d\): training diverged"):
        train_crop(cfg, progress=False)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_the_divergence_line_starts_its_own_line_after_the_bar(tmp_path):
    """The error was printed at the end of the epoch bar's line (session 68's sweep, left then)."""
    import yaml
    from click.testing import CliRunner

    from agriseg.cli import main

    cfg = tiny_config(tmp_path).model_dump(mode="json")
    cfg["train"].update(lr=1e9, warmup_epochs=0, epochs=8)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    res = CliRunner().invoke(main, ["crop", "train", "-c", str(tmp_path / "cfg.yaml")])
    assert res.exit_code == 1, res.output
    assert "it/s" in res.stderr  # the bar was shown
    assert re.search(r"\nError: train/loss is (nan|inf) at step", res.stderr), res.stderr[-400:]


def test_a_model_of_nan_weights_is_refused(tmp_path):
    from agriseg.models import build_model
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import ModelLoadError, load_model, save_model

    cfg = ModelConfig(encoder_weights=None)
    model = build_model(cfg)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = save_model(model, cfg, tmp_path / "m.safetensors")
    with pytest.raises(ModelLoadError, match=r"m\.safetensors: 1 of its \d+ weight tensors hold NaN"):
        load_model(path)


def test_data_that_leaves_no_photo_to_train_or_validate_is_refused_before_any_output(tmp_path):
    """An empty val_list trained every epoch, then failed with an IndexError traceback; one labelled photo
    failed with PyTorch's "num_samples=0" after split.json was written."""
    from agriseg.config import OptionError

    cfg = tiny_config(tmp_path)
    (tmp_path / "empty.txt").write_text("# no photo\n", encoding="utf-8")
    no_val = cfg.model_copy(update={"data": cfg.data.model_copy(update={"val_list": str(tmp_path / "empty.txt")})})
    with pytest.raises(OptionError, match=r"data\.val_list: .*empty\.txt names no photo"):
        train_crop(no_val, progress=False)
    for p in list((tmp_path / "data" / "images").iterdir())[1:]:
        p.unlink()
    with pytest.raises(OptionError, match=r"images: only 1 labelled photo\(s\), all for validation: at least 2"):
        train_crop(cfg, progress=False)
    assert not (tmp_path / "run").exists()  # not even an empty run folder (session 80)


def test_an_index_label_beyond_the_classes_names_its_file(tmp_path):
    """Class id 3 for a 2-class model: a 49-frame traceback ("Target 3 is out of bounds")."""
    cfg = tiny_config(tmp_path)
    label = tmp_path / "data" / "labels" / "01.png"
    m = (np.asarray(Image.open(label)) > 0).astype(np.uint8)
    m[:8, :8] = 3
    Image.fromarray(m).save(label)
    for p in (tmp_path / "data" / "labels").glob("*.png"):  # the others as index labels too
        if p != label:
            Image.fromarray((np.asarray(Image.open(p)) > 0).astype(np.uint8)).save(p)
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"label_mode": "index", "cache": False})})
    with pytest.raises(ValueError, match=r"labels/01\.png: class id 3 but model\.num_classes is 2"):
        train_crop(cfg, progress=False)
    # found before the run's folder, not when the loader met it (a validation label: after an epoch; session 84)
    assert not (tmp_path / "run").exists()
    small = tmp_path / "data" / "labels" / "02.png"
    Image.fromarray(np.asarray(Image.open(small))[:10, :10]).save(small)
    with pytest.raises(ValueError, match=r"labels/01\.png: class id 3 .*\(and 1 more in the (training|validation)"):
        train_crop(cfg, progress=False)


def test_resuming_a_checkpoint_of_another_model_is_refused_before_any_output(tmp_path):
    """A 2-class checkpoint resumed with num_classes 3: a 22-frame RuntimeError after split.json was written."""
    from agriseg.models.io import ModelLoadError

    cfg = tiny_config(tmp_path)
    train_crop(cfg, progress=False)
    ckpt = tmp_path / "run" / "last.ckpt"
    other = cfg.model_copy(
        update={
            "model": cfg.model.model_copy(update={"num_classes": 3, "class_names": ["soil", "crop", "weed"]}),
            "output_dir": str(tmp_path / "run3"),
        }
    )
    with pytest.raises(ModelLoadError, match=r"last\.ckpt: a checkpoint of another model \(2 tensors differ, e\.g\."):
        train_crop(other, resume=str(ckpt), progress=False)
    assert not (tmp_path / "run3").exists()


@pytest.mark.slow  # 9 s: three training runs
def test_a_fresh_run_over_a_finished_one_is_refused_unless_it_overwrites(tmp_path, caplog):
    """A second run in a used output_dir rewrote split.json at once and left the earlier model until its end,
    without a word; then (session 87's sweep) it replaced the model with a warning only, `-q` said nothing, and the
    earlier run's best-epoch checkpoint stayed beside the new run's files."""
    from agriseg.config import OptionError

    cfg = tiny_config(tmp_path)
    train_crop(cfg, progress=False)
    run = tmp_path / "run"
    model = (run / "model.safetensors").read_bytes()
    import torch

    torch.save({"epoch": 99}, run / "best-epoch=99.ckpt")  # an earlier run's (a text file there is a user's)
    with pytest.raises(OptionError, match=r"holds the model of an earlier run; --overwrite replaces it"):
        train_crop(cfg, progress=False)
    assert (run / "model.safetensors").read_bytes() == model and (run / "best-epoch=99.ckpt").is_file()
    with caplog.at_level("WARNING"):
        train_crop(cfg, progress=False, overwrite=True)
    assert "holds the model of an earlier run, which this run replaces when it ends" in caplog.text
    assert not (run / "best-epoch=99.ckpt").exists() and (run / "last.ckpt").is_file()
    # the review of that change: --resume of another folder's run replaced this folder's model unasked
    other = cfg.model_copy(update={"output_dir": str(tmp_path / "other")})
    train_crop(other, progress=False)
    with pytest.raises(OptionError, match=r"holds the model of an earlier run; --overwrite replaces it"):
        train_crop(cfg, resume=str(tmp_path / "other" / "last.ckpt"), progress=False)
    train_crop(cfg, resume=str(run / "last.ckpt"), progress=False, max_epochs=2)  # its own run: continued


def test_augmentations_follow_the_seed(samples_dir) -> None:
    """Albumentations 2 draws from its own generator: the same seed gave other crops and colours on every
    run (session 70's sweep: per-step losses 1.41 1.43 1.53, then 1.49 1.52 1.29)."""
    import numpy as np

    from agriseg.crop.dataset import CropSegDataset
    from agriseg.crop.transforms import train_transform

    root = samples_dir / "peanut"
    pairs = {p.stem: (p, root / "labels" / f"{p.stem}.png") for p in sorted((root / "images").glob("*.jpg"))}
    cmap = {"0,0,0": 0, "0,255,0": 1, "255,0,0": 1}

    def crops(seed: int) -> list:
        ds = CropSegDataset(pairs, sorted(pairs), "colormap", cmap, train_transform(64), cache=False)
        np.random.seed(seed)
        return [ds[i]["image"].numpy() for i in (0, 1, 0)]

    a, b, c = crops(7), crops(7), crops(8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], a[2])  # one photo twice: two augmentations
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_an_accelerator_or_init_weights_the_run_cannot_use_is_refused_before_any_output(tmp_path, monkeypatch):
    """train.accelerator=gpu on a machine without one was a 54-line traceback after split.json was written; a
    train.init_weights that is no agriseg model was refused after it too."""
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

    from agriseg.config import OptionError
    from agriseg.models.io import ModelLoadError

    monkeypatch.setattr(CUDAAccelerator, "is_available", staticmethod(lambda: False))
    monkeypatch.setattr(MPSAccelerator, "is_available", staticmethod(lambda: False))
    cfg = tiny_config(tmp_path)
    gpu = cfg.model_copy(update={"train": cfg.train.model_copy(update={"accelerator": "gpu"})})
    with pytest.raises(OptionError, match=r"train.accelerator: gpu, but this machine has no such device \(cpu only\)"):
        train_crop(gpu, progress=False)
    (tmp_path / "other.safetensors").write_bytes(b"not a model")
    bad = cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"init_weights": str(tmp_path / "other.safetensors")})}
    )
    with pytest.raises(ModelLoadError, match=r"^train.init_weights: .*other.safetensors"):  # the key (session 106)
        train_crop(bad, progress=False)
    assert not (tmp_path / "run").exists()


def test_a_fresh_run_over_a_killed_one_names_its_last_checkpoint(tmp_path, caplog):
    """After a kill -9 the folder held last.ckpt and no model: the same command started afresh without a word;
    then (session 95's sweep) it replaced the killed run's best and last checkpoints with a warning. It is
    refused, naming the checkpoint --resume continues; --overwrite starts afresh."""
    from agriseg.config import OptionError

    cfg = tiny_config(tmp_path)
    train_crop(cfg, progress=False)
    run = tmp_path / "run"
    (run / "model.safetensors").unlink()  # as a run killed before its end leaves it
    before = {c.name: c.read_bytes() for c in run.glob("*.ckpt")}
    said = rf"--resume {re.escape(str(run / 'last.ckpt'))} continues it, --overwrite"
    with pytest.raises(OptionError, match=rf"holds the checkpoints of a run that did not end \(.*last\.ckpt\); {said}"):
        train_crop(cfg, progress=False)
    assert {c.name: c.read_bytes() for c in run.glob("*.ckpt")} == before
    with caplog.at_level("WARNING"):
        train_crop(cfg, progress=False, overwrite=True)
    assert "last.ckpt: the last checkpoint of a run that did not end; this run starts afresh" in caplog.text


def test_a_users_model_safetensors_in_output_dir_is_kept(tmp_path):
    """A model.safetensors the user put in output_dir was replaced by the run's (as an "earlier run's")."""
    from agriseg.config import OptionError

    cfg = tiny_config(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_text("USER")
    with pytest.raises(OptionError, match="its model.safetensors was not written by agriseg"):
        train_crop(cfg, progress=False)
    assert (tmp_path / "run" / "model.safetensors").read_text() == "USER"


def test_a_model_of_an_older_agriseg_in_output_dir_is_replaced_not_refused(tmp_path, caplog):
    """A model.safetensors whose config no longer validates (written by another version) was called "not
    written by agriseg"; only a file without agriseg's metadata is."""
    import json

    import torch
    from safetensors.torch import save_file

    cfg = tiny_config(tmp_path)
    (tmp_path / "run").mkdir()
    meta = {"agriseg_model_config": json.dumps({"arch": "unet", "infer_scale": 2}), "format": "agriseg-1"}
    save_file({"w": torch.zeros(1)}, str(tmp_path / "run" / "model.safetensors"), metadata=meta)
    with caplog.at_level("WARNING"):
        train_crop(cfg, progress=False, overwrite=True)
    assert "holds the model of an earlier run" in caplog.text


def _one_pair(tmp_path, img: np.ndarray, label: np.ndarray) -> dict:
    Image.fromarray(img).save(tmp_path / "a.png")
    Image.fromarray(label).save(tmp_path / "a_label.png")
    return {"a": (tmp_path / "a.png", tmp_path / "a_label.png")}


def test_a_landscape_photo_keeps_its_orientation_against_its_mask(tmp_path) -> None:
    """A non-square photo was turned into a (3, W, H) tensor, transposed against its (H, W) mask."""
    from agriseg.crop.dataset import CropSegDataset

    img = np.random.default_rng(0).integers(0, 255, (4, 6, 3), dtype=np.uint8)  # 4 high, 6 wide
    label = (np.arange(24).reshape(4, 6) % 2).astype(np.uint8)
    item = CropSegDataset(_one_pair(tmp_path, img, label), ["a"], "index", num_classes=2)[0]
    assert item["image"].shape == (3, 4, 6) and item["mask"].shape == (4, 6)
    np.testing.assert_allclose(item["image"].numpy(), img.transpose(2, 0, 1) / 255, atol=1e-6)


def test_a_label_id_equal_to_the_class_count_names_its_file(tmp_path) -> None:
    """Class id 2 for a 2-class model (ids 0 and 1) was let through to fail later in the loss."""
    from agriseg.crop.dataset import CropSegDataset

    label = np.array([[0, 1], [2, 255]], np.uint8)
    ds = CropSegDataset(_one_pair(tmp_path, np.zeros((2, 2, 3), np.uint8), label), ["a"], "index", num_classes=2)
    with pytest.raises(ValueError, match=r"a_label\.png: class id 2 but model\.num_classes is 2"):
        ds[0]


def test_a_photo_smaller_than_the_crop_is_padded_by_reflection_not_with_background() -> None:
    """Constant padding labels the border of every small photo class 0, whatever grows there."""
    from agriseg.crop.transforms import train_transform

    tf = train_transform(32, scale=(1.0, 1.0), strength="none", ref_long_side=20)
    tf.set_random_seed(0)
    out = tf(image=np.full((20, 20, 3), 100, np.uint8), mask=np.ones((20, 20), np.uint8))
    assert out["mask"].shape == (32, 32) and (out["mask"] == 1).all() and (out["image"] == 100).all()


def test_train_seed_reaches_the_training_order(tmp_path):
    """The training loader was always seeded with 0: every train.seed saw the photos in one order, and with loader
    workers drew one set of augmentations (the training sweep of session 81). The split is fixed here by lists,
    so only the loader's seed can change the order."""
    from agriseg.crop.train import CropDataModule

    make_fields(tmp_path / "data", n=8, size=64)
    stems = sorted(p.stem for p in (tmp_path / "data" / "images").iterdir())
    (tmp_path / "train.txt").write_text("\n".join(stems[:7]))
    (tmp_path / "val.txt").write_text(stems[7])
    data = tiny_config(tmp_path / "cfg").data.model_copy(
        update={
            "images": str(tmp_path / "data" / "images"),
            "labels": str(tmp_path / "data" / "labels"),
            "train_list": str(tmp_path / "train.txt"),
            "val_list": str(tmp_path / "val.txt"),
        }
    )

    def order(seed: int) -> list[str]:
        dm = CropDataModule(data, 1, 0, seed, 0)
        return [b["stem"][0] for b in dm.train_dataloader()]

    assert order(7) == order(7)
    assert len({tuple(order(s)) for s in (0, 7, 8)}) == 3


def test_a_validation_share_beside_a_validation_list_is_said_unread(tmp_path, caplog):
    """``data.val_fraction: 0.25`` with ``data.val_list`` was dropped without a word (session 89's notes)."""
    from agriseg.crop.train import CropDataModule

    cfg = tiny_config(tmp_path)
    (tmp_path / "val.txt").write_text("00\n")
    data = cfg.data.model_copy(update={"val_list": str(tmp_path / "val.txt")})
    with caplog.at_level("WARNING", logger="agriseg"):
        dm = CropDataModule(data, 2, 0, 0, 0)
    assert dm.val_stems == ["00"] and "data.val_fraction 0.25: not read, as data.val_list" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        CropDataModule(data.model_copy(update={"val_fraction": 0.2}), 2, 0, 0, 0)  # the default: nothing to say
    assert "val_fraction" not in caplog.text


def test_a_crop_larger_than_every_photo_is_warned_of(tmp_path, caplog):
    """``data.crop_size 2048`` on 960 x 720 photos: reflection padding and a process killed out of memory after
    75 s, with no word (session 93's sweep)."""
    cfg = tiny_config(tmp_path)
    cfg.data.crop_size, cfg.train.max_steps = 96, 1  # the photos are 64 x 64
    with caplog.at_level("WARNING", logger="agriseg"):
        train_crop(cfg)
    assert "data.crop_size 96 is larger than every training photo (the largest 64 x 64)" in caplog.text
    # (a crop within the photos, as every other run of this file trains: no word; checked by the size it compares)
    from agriseg.crop.dataset import CropSegDataset

    pairs = {p.stem: (p, tmp_path / "data/labels" / p.name) for p in (tmp_path / "data/images").glob("*.png")}
    assert CropSegDataset(pairs, sorted(pairs), "binary", None, num_classes=2).check() == (64, 64)


def test_a_photo_without_a_label_in_a_data_extra_folder_is_said(tmp_path, caplog):
    """A photo without its label in a ``data.extra`` folder was left out of training without a word, where one in
    ``data.images`` is warned of (session 100's sweep)."""
    cfg = tiny_config(tmp_path)
    make_fields(tmp_path / "more", n=2, size=64, seed=1)
    (tmp_path / "more" / "labels" / "01.png").unlink()
    extra = {"images": str(tmp_path / "more/images"), "labels": str(tmp_path / "more/labels")}
    cfg = CropTrainConfig.model_validate({**cfg.model_dump(), "data": {**cfg.data.model_dump(), "extra": [extra]}})
    cfg.train.max_steps = 1
    with caplog.at_level("WARNING", logger="agriseg"):
        train_crop(cfg)
    assert f"{tmp_path / 'more/images'}: 1 photo without a label left out of training (01.png)" in caplog.text


def test_a_generated_set_stopped_part_way_is_refused_as_data_extra(tmp_path):
    """A ``make-synthetic lab`` run stopped after 3 of 400 scenes trained on those 3 without a word (session 102's
    README sweep); a finished set trains."""
    import json

    from agriseg.config import OptionError

    cfg = tiny_config(tmp_path)
    make_fields(tmp_path / "more", n=2, size=64, seed=1)
    index = {"kind": "lab", "seed": 0, "photos": {"00": {}, "01": {}}, "planned": [f"{i:02d}" for i in range(400)]}
    (tmp_path / "more" / "index.json").write_text(json.dumps({**index, "complete": False}))
    extra = {"images": str(tmp_path / "more/images"), "labels": str(tmp_path / "more/labels")}
    cfg = CropTrainConfig.model_validate({**cfg.model_dump(), "data": {**cfg.data.model_dump(), "extra": [extra]}})
    cfg.train.max_steps = 1
    with pytest.raises(OptionError, match=r"more/images: a generated set stopped at about 2 of 400 photos \(its index"):
        train_crop(cfg)
    (tmp_path / "more" / "index.json").write_text(json.dumps(index))  # finished: no "complete": false
    train_crop(cfg)
    (tmp_path / "data" / "index.json").write_text(json.dumps({**index, "complete": False}))  # the main photos too
    with pytest.raises(OptionError, match=r"^data\.images .*data/images: a generated set stopped at about 2 of"):
        train_crop(cfg.model_copy(update={"output_dir": str(tmp_path / "run2")}))


def test_data_repeat_lists_each_training_photo_that_many_times(tmp_path):
    """Session 106's sweep: ``data.repeat`` was read and dropped (a refactor lost it), so the v5-v9 configs' "twice
    per epoch" trained each photo once, without a word."""
    from agriseg.crop.train import CropDataModule

    data = tiny_config(tmp_path).data
    once = CropDataModule(data, 2, 0, 7, 0)
    thrice = CropDataModule(data.model_copy(update={"repeat": 3}), 2, 0, 7, 0)
    assert len(once.train_set) > 0 and len(thrice.train_set) == 3 * len(once.train_set)
    assert thrice.val_stems == once.val_stems and len(thrice.val_set) == len(once.val_set)  # validation once
    assert thrice.train_set.check() == once.train_set.check()
