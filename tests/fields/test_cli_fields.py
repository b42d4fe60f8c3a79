from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from agriseg.cli import main

CONFIG = """
name: tiny
output_dir: {out}
model:
  arch: smp_unet
  encoder: tu-mobilenetv3_small_050
  encoder_weights: null
  in_channels: 8
  num_classes: 3
  class_names: [background, field, boundary]
  mean: [0, 0, 0, 0, 0, 0, 0, 0]
  std: [1, 1, 1, 1, 1, 1, 1, 1]
  infer_long_side: 0
data:
  root: {root}
  train_countries: [austria, kenya]
  test_countries: [austria]
train:
  epochs: 1
  batch_size: 4
  limit_train_batches: 2
  accelerator: cpu
"""


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory):
    """A small smp.Unet checkpoint in ftw-tools' layout."""
    import segmentation_models_pytorch as smp
    import torch

    net = smp.Unet(encoder_name="tu-mobilenetv3_small_050", encoder_weights=None, in_channels=8, classes=3)
    path = tmp_path_factory.mktemp("tiny") / "tiny.ckpt"
    torch.save(
        {
            "state_dict": {"model." + k: v for k, v in net.state_dict().items()},
            "hyper_parameters": {
                "model": "unet",
                "backbone": "tu-mobilenetv3_small_050",
                "in_channels": 8,
                "num_classes": 3,
            },
        },
        path,
    )
    return path


def test_evaluate_robustness_import_export(tmp_path, ftw_root, tiny_ckpt) -> None:
    runner = CliRunner()
    r = runner.invoke(
        main,
        [
            "fields",
            "evaluate",
            "--model",
            str(tiny_ckpt),
            "--root",
            str(ftw_root),
            "--countries",
            "austria,kenya",
            "--split",
            "train",
            "--bootstrap",
            "50",
            "-o",
            str(tmp_path / "e.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "e.json").read_text())
    assert set(rep["per_country"]) == {"austria", "kenya"} and 0.0 <= rep["overall"]["pixel_iou"] <= 1.0
    assert rep["windows"] == "ab" and "ci95" in rep
    r = runner.invoke(
        main,
        [
            "fields",
            "evaluate",
            "--model",
            str(tiny_ckpt),
            "--root",
            str(ftw_root),
            "--countries",
            "austria",
            "-o",
            str(tmp_path / "e.json"),
        ],
    )
    assert r.exit_code != 0 and "exists" in r.output

    r = runner.invoke(
        main,
        [
            "fields",
            "robustness",
            "--model",
            str(tiny_ckpt),
            "--root",
            str(ftw_root),
            "--countries",
            "austria",
            "--split",
            "train",
            "--max-chips",
            "3",
            "--crop",
            "48",
            "-o",
            str(tmp_path / "rob.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    rob = json.loads((tmp_path / "rob.json").read_text())
    assert rob["mode"] == "labels" and rob["chips"] == 3
    assert set(rob["preprocessing"]["variants"]) >= {"divisor_1500", "missing_offset", "minmax_per_band"}

    out = tmp_path / "imp.safetensors"
    r = runner.invoke(main, ["fields", "import-checkpoint", str(tiny_ckpt), "-o", str(out)])
    assert r.exit_code == 0 and out.is_file(), r.output
    # an agriseg model given back, and a damaged .safetensors: said as such (session 105's sweep: "expected a
    # Lightning .ckpt", and safetensors' own words)
    r = runner.invoke(main, ["fields", "import-checkpoint", str(out)])
    assert r.exit_code == 2 and "an agriseg model already: give it to -m as it is" in r.output, r.output
    (tmp_path / "cut.safetensors").write_bytes(out.read_bytes()[:100])
    r = runner.invoke(main, ["fields", "import-checkpoint", str(tmp_path / "cut.safetensors")])
    assert r.exit_code == 2 and "no Lightning .ckpt (a .safetensors file, damaged or of another kind)" in r.output
    r = runner.invoke(main, ["fields", "export", str(out), "-o", str(tmp_path / "m.onnx"), "--size", "64"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.onnx").is_file() and (tmp_path / "m.onnx.json").is_file()


@pytest.mark.slow
def test_train_evaluate_robustness_import_export(tmp_path, monkeypatch) -> None:
    runner = CliRunner()
    root = tmp_path / "ftw"
    r = runner.invoke(
        main,
        [
            "fields",
            "make-synthetic",
            str(root),
            "--countries",
            "austria:12,kenya:4",
            "--size",
            "64",
            "--fields-per-chip",
            "3,6",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (root / "kenya" / "chips_kenya.parquet").is_file()
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(CONFIG.format(out=tmp_path / "run", root="ftw"))  # relative to the config's folder
    r = runner.invoke(main, ["fields", "train", "-c", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "test split" in r.output and (tmp_path / "run" / "model.safetensors").is_file()
    ckpt = tmp_path / "run" / "last.ckpt"

    r = runner.invoke(
        main,
        [
            "fields",
            "evaluate",
            "--model",
            str(ckpt),
            "--root",
            str(root),
            "--countries",
            "austria",
            "--bootstrap",
            "50",
            "-o",
            str(tmp_path / "eval.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "eval.json").read_text())
    assert rep["chips"] > 0 and 0.0 <= rep["overall"]["pixel_iou"] <= 1.0 and "austria" in rep["per_country"]

    r = runner.invoke(
        main,
        [
            "fields",
            "robustness",
            "--model",
            str(tmp_path / "run" / "model.safetensors"),
            "--root",
            str(root),
            "--countries",
            "austria",
            "--crop",
            "48",
            "-o",
            str(tmp_path / "rob.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    rob = json.loads((tmp_path / "rob.json").read_text())
    assert rob["mode"] == "labels" and set(rob["preprocessing"]["variants"]) >= {
        "divisor_1500",
        "minmax_per_band",
    }

    r = runner.invoke(main, ["fields", "import-checkpoint", str(ckpt), "-o", str(tmp_path / "imp.safetensors")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["fields", "export", str(ckpt), "-o", str(tmp_path / "m.onnx"), "--size", "64"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.onnx").is_file() and (tmp_path / "m.onnx.json").is_file()
    # a run over it that fails keeps the earlier model's scores beside it (they were deleted first, session 103)
    model = (tmp_path / "run" / "model.safetensors").read_bytes()

    def diverged(*args, **kwargs):
        raise RuntimeError("diverged")

    with monkeypatch.context() as m:
        m.setattr("agriseg.training.trainer.fit", diverged)
        assert runner.invoke(main, ["fields", "train", "-c", str(cfg), "--overwrite"]).exit_code == 1
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == model
    # a resumed run without the test: the earlier model's test_metrics.json stayed beside the new model (session 101)
    assert (tmp_path / "run" / "test_metrics.json").is_file()
    r = runner.invoke(main, ["fields", "train", "-c", str(cfg), "--resume", str(ckpt), "--epochs", "2", "--no-test"])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "run" / "test_metrics.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["evaluate", "--model", "{ckpt}", "--root", "{root}", "--countries", "atlantis"],
            "unknown FTW country",
        ),
        (["evaluate", "--model", "{root}/nope.ckpt", "--root", "{root}"], "nope.ckpt: model file not found"),
        (  # the crop models' names were offered (session 105's sweep)
            ["robustness", "--model", "{root}", "--root", "{root}"],
            "a folder, not a model file (a .ckpt or .safetensors file, or a released name: agriseg fields models list)",
        ),
        (["import-checkpoint", "{bad}"], "bad.ckpt: not an FTW checkpoint"),
        (["robustness", "--model", "{ckpt}", "--scene", "{scene}"], "scene.tif: has 3 bands, expected 8"),
        (["evaluate", "--model", "{ckpt}", "--root", "{root}/missing"], "missing"),
    ],
)
def test_bad_input_gives_clear_errors(tmp_path, ftw_root, tiny_ckpt, args, message) -> None:
    import numpy as np
    import torch

    from agriseg.fields.synthetic import _write_tif

    ckpt = tiny_ckpt
    bad = tmp_path / "bad.ckpt"
    torch.save({"something": torch.zeros(1)}, bad)
    scene = tmp_path / "scene.tif"
    _write_tif(scene, np.ones((3, 300, 300), np.uint16), (0.0, 0.0))
    fmt = {"ckpt": ckpt, "root": ftw_root, "bad": bad, "scene": scene}
    r = CliRunner().invoke(main, ["fields", *[a.format(**fmt) for a in args]])
    assert r.exit_code != 0
    assert message in r.output, r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("countries", ["all", "austria,france,kenya"])
def test_evaluate_scores_the_countries_of_a_partial_download(tmp_path, ftw_root, tiny_ckpt, countries, caplog) -> None:
    args = ["fields", "evaluate", "--model", str(tiny_ckpt), "--root", str(ftw_root), "--countries", countries]
    r = CliRunner().invoke(main, [*args, "--split", "train", "--bootstrap", "0", "-o", str(tmp_path / "e.json")])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "e.json").read_text())
    assert set(rep["per_country"]) == {"austria", "kenya"}
    assert "france" in rep["countries_missing"] and "austria" not in rep["countries_missing"]
    assert rep["offset"] == 0.0 and rep["bootstrap"] == 0  # they change the scores: recorded (session 107's sweep)
    # asked by name: said; "all" of a partial download: the report says which (the line listed 23 at every run)
    assert ("not present, not scored:" in r.output) == (countries != "all"), r.output
    r = CliRunner().invoke(main, [*args[:-1], "france,spain"])
    assert r.exit_code != 0 and "none of the asked countries is there (france, spain)" in r.output
    if countries == "all":  # kenya has no test chip: left out of the test split's scores, and said (it was not)
        out = tmp_path / "t.json"
        r = CliRunner().invoke(main, [*args, "--split", "test", "--bootstrap", "0", "-o", str(out)])
        assert r.exit_code == 0 and "no test chips for kenya: not scored" in caplog.text, r.output
        assert json.loads(out.read_text())["countries_without_chips"] == ["kenya"]


def test_predict_batch_keeps_same_named_scenes_apart_and_goes_on(tmp_path, tiny_ckpt) -> None:
    from tests.fields.synth_scenes import write_scene

    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        write_scene(tmp_path / d / "scene.tif", h=64, w=64)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00broken")
    out = tmp_path / "out"
    args = ["fields", "predict", str(tmp_path / "a" / "scene.tif"), str(bad), str(tmp_path / "b" / "scene.tif")]
    res = CliRunner().invoke(main, [*args, "-o", str(out), "-m", str(tiny_ckpt), "--patch-size", "64"])
    assert res.exit_code == 1, res.output
    assert sorted(p.name for p in out.glob("*.tif")) == ["a_scene_tif_probs.tif", "b_scene_tif_probs.tif"]
    assert "bad.tif" in res.output and "2 predicted" in res.output and "1 failed" in res.output
    # the same again: skipped under their names (the records' item names, <name>_probs, were taken for the names
    # and another _probs added: scene_probs_probs.tif, every run anew; session 84's check of its own fixes)
    res = CliRunner().invoke(main, [*args, "--outdir", str(out), "-m", str(tiny_ckpt), "--patch-size", "64"])
    assert "0 predicted, 2 skipped" in res.output, res.output
    assert sorted(p.name for p in out.glob("*.tif")) == ["a_scene_tif_probs.tif", "b_scene_tif_probs.tif"]
    scene = tmp_path / "a" / "scene.tif"
    before = scene.read_bytes()
    res = CliRunner().invoke(
        main, ["fields", "predict", str(scene), "-o", str(scene), "-m", str(tiny_ckpt), "--overwrite"]
    )
    assert res.exit_code != 0 and "is one of the inputs" in res.output and scene.read_bytes() == before


def test_export_writes_model_and_card_together_and_removes_a_killed_runs_temporary(
    tmp_path, tiny_ckpt, monkeypatch
) -> None:
    """A kill between the model and its card left a model without the card, which every re-run refused
    ("exists"); a kill during the export left its temporary ONNX file for good (session 69's sweep)."""
    from agriseg.fields import checkpoints

    dead = tmp_path / ".m.onnx.agriseg-tmp-999999999.onnx"  # of a process that no longer runs
    dead.write_bytes(b"half an onnx file")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(checkpoints, "write_model_card", killed)
        with pytest.raises(KeyboardInterrupt):
            checkpoints.export_model(tiny_ckpt, tmp_path / "m.onnx", size=64)
    assert not (tmp_path / "m.onnx").exists() and not dead.exists()
    res = checkpoints.export_model(tiny_ckpt, tmp_path / "m.onnx", size=64)
    assert res["path"] == str(tmp_path / "m.onnx") and res["card"] == tmp_path / "m.onnx.json"
    assert (tmp_path / "m.onnx").stat().st_size > 0 and "model" in json.loads((tmp_path / "m.onnx.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_and_import_refuse_what_they_would_mislabel_or_overwrite(tmp_path, tiny_ckpt) -> None:
    """Found by a bad-input sweep (session 57): an opset the exporter lacks gave a 596-line traceback; the model
    card ``<output>.json`` replaced a user's file of that name; ``import-checkpoint -o x.onnx`` wrote
    safetensors under an ONNX name."""
    import torch.onnx._constants as onnx_constants

    runner = CliRunner()
    base = ["fields", "export", str(tiny_ckpt), "--size", "64"]
    r = runner.invoke(main, [*base, "-o", str(tmp_path / "m.onnx"), "--opset", "99"])
    assert r.exit_code == 2 and "--opset" in r.output and "Traceback" not in r.output, r.output
    top = str(onnx_constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)
    assert f"11<=x<={top}" in r.output  # the bound is the installed exporter's highest opset
    mine = tmp_path / "m.safetensors.json"
    mine.write_text('{"mine": true}')
    r = runner.invoke(main, [*base[:-2], "-o", str(tmp_path / "m.safetensors")])  # (--size is of ONNX outputs)
    assert r.exit_code == 2 and "m.safetensors.json: exists" in r.output, r.output
    assert mine.read_text() == '{"mine": true}' and not (tmp_path / "m.safetensors").exists()
    r = runner.invoke(main, [*base[:-1], "48", "-o", str(tmp_path / "n.onnx")])
    assert r.exit_code == 2 and "multiple of 32" in r.output, r.output
    r = runner.invoke(main, ["fields", "import-checkpoint", str(tiny_ckpt), "-o", str(tmp_path / "imp.onnx")])
    assert r.exit_code == 2 and "must end in .safetensors" in r.output and not (tmp_path / "imp.onnx").exists()


def test_export_of_a_released_name_checks_its_options_before_downloading(tmp_path, monkeypatch) -> None:
    """The name was resolved (downloaded) while the command line was parsed: a wrong --opset or --size was a
    failed download (exit 1, or minutes of download) instead of a usage error (CLI review, session 81)."""
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path / "cache"))  # nothing cached
    monkeypatch.setenv("AGRISEG_MODELS_BASE_URL", "http://127.0.0.1:9/models")  # nothing listens there
    base = ["fields", "export", "FTW_PRUE_EFNET_B5"]
    for extra, said in (
        (["-o", "x.safetensors", "--opset", "12"], "--opset"),
        (["-o", "x.onnx", "--size", "33"], "--size 33"),
    ):
        r = CliRunner().invoke(main, [*base, *extra])
        assert r.exit_code == 2 and said in r.output and "download" not in r.output, r.output
    r = CliRunner().invoke(main, ["fields", "export", "NOPE", "-o", str(tmp_path / "x.onnx")])
    assert r.exit_code == 2 and "NOPE: no such model file, and not a known model name" in r.output, r.output


def test_robustness_refuses_a_scene_without_valid_pixels(tmp_path, tiny_ckpt) -> None:
    """An all-nodata (or all-NaN) scene scored every agreement 1.0; it is refused, naming the file."""
    import numpy as np

    from agriseg.fields.synthetic import _write_tif

    scene = tmp_path / "empty.tif"
    _write_tif(scene, np.zeros((8, 128, 128), np.uint16), (0.0, 0.0))
    args = ["fields", "robustness", "--model", str(tiny_ckpt), "--scene", str(scene), "--chip", "64", "--crop", "48"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "empty.tif: no 64x64 chip without nodata" in r.output, r.output
    assert "Traceback" not in r.output


def test_robustness_reads_a_scene_as_predict_does(tmp_path, tiny_ckpt) -> None:
    """Session 105's sweep: a scene of 30 m pixels went without predict's warning, and NaN pixels were refused in a
    chip's words ("no FTW chip does") though the chips holding them are left out as nodata."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    dn = np.random.default_rng(0).integers(100, 3000, (8, 128, 128)).astype(np.float32)
    dn[:, :10, :10] = np.nan
    scene = tmp_path / "s30.tif"
    profile = {"driver": "GTiff", "height": 128, "width": 128, "count": 8, "dtype": "float32", "crs": "EPSG:32633",
               "transform": from_origin(500000, 5000000, 30, 30)}  # fmt: skip
    with rasterio.open(scene, "w", **profile) as dst:
        dst.write(dn)
    args = ["fields", "robustness", "--model", str(tiny_ckpt), "--scene", str(scene), "--chip", "64", "--crop", "48"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "s30.tif: pixels of about 30 m of ground" in r.output and "NaN" not in r.output
    for flag in (["--missing", "skip"], ["--split", "val"]):  # the chips' options: refused, not read (--missing was)
        r = CliRunner().invoke(main, [*args, *flag])
        assert r.exit_code == 2 and f"{flag[0]}: read with --root only (FTW chips)" in r.output, r.output


def test_robustness_crop_follows_the_chip_by_default(tmp_path, tiny_ckpt) -> None:
    """``--chip 64`` alone was refused: "--crop 192: must lie between half of --chip 64 and --chip" (a default)."""
    import numpy as np

    from agriseg.fields.synthetic import _write_tif

    scene = tmp_path / "s.tif"
    _write_tif(scene, np.random.default_rng(0).integers(100, 3000, (8, 64, 64)).astype(np.uint16), (0.0, 0.0))
    out = tmp_path / "r.json"
    args = ["fields", "robustness", "--model", str(tiny_ckpt), "--scene", str(scene), "--chip", "64", "-o", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "corner" in out.read_text()


def test_robustness_reads_a_scenes_offset_tags_as_predict_does(tmp_path, tiny_ckpt) -> None:
    """A scene tagged BOA_ADD_OFFSET=-1000 (as fields download writes it) was robustness-tested on DN 1000 too
    bright, while predict applied the tag (session 69's sweep)."""
    import numpy as np
    import rasterio

    from agriseg.fields.synthetic import _write_tif

    dn = np.random.default_rng(0).integers(100, 3000, (8, 64, 64)).astype(np.uint16)
    plain, tagged = tmp_path / "plain.tif", tmp_path / "tagged.tif"
    _write_tif(plain, dn, (0.0, 0.0))
    _write_tif(tagged, dn + 1000, (0.0, 0.0))
    with rasterio.open(tagged, "r+") as ds:
        ds.update_tags(BOA_ADD_OFFSET="-1000", PROCESSING_BASELINE="05.09")
    reports = []
    for scene in (plain, tagged):
        out = tmp_path / f"{scene.stem}.json"
        args = [
            "fields",
            "robustness",
            "--model",
            str(tiny_ckpt),
            "--scene",
            str(scene),
            "--chip",
            "64",
            "-o",
            str(out),
        ]
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
        reports.append(json.loads(out.read_text()))
    assert reports[1]["offset"] == -1000.0 and reports[0]["offset"] == 0.0
    # the words of fields predict --offset (a number was the only way, and 0 meant "the tags")
    for scene, word, dn in ((tagged, "none", 0.0), (plain, "apply", -1000.0), (tagged, "-500", -500.0)):
        out = tmp_path / f"{scene.stem}_{word}.json"
        r = CliRunner().invoke(main, [*args[:-1], str(out), "--scene", str(scene), "--offset", word])
        assert r.exit_code == 0, r.output
        assert json.loads(out.read_text())["offset"] == dn
    drop = ("input", "offset", "model")
    assert {k: v for k, v in reports[0].items() if k not in drop} == {
        k: v for k, v in reports[1].items() if k not in drop
    }


def test_predict_onto_its_own_scene_is_a_usage_error(tmp_path, tiny_ckpt) -> None:
    """`-o SCENE` (the input) failed as the item (exit 1) telling to "choose another output folder" (session 69)."""
    import numpy as np

    from agriseg.fields.synthetic import _write_tif

    scene = tmp_path / "s.tif"
    _write_tif(scene, np.full((8, 64, 64), 900, np.uint16), (0.0, 0.0))
    before = scene.read_bytes()
    r = CliRunner().invoke(
        main, ["fields", "predict", str(scene), "-m", str(tiny_ckpt), "-o", str(scene), "--overwrite"]
    )
    assert r.exit_code == 2 and "s.tif: is one of the inputs" in r.output and "another output name" in r.output, (
        r.output
    )
    assert scene.read_bytes() == before


def test_a_report_path_that_cannot_be_written_is_refused_before_the_work(tmp_path, ftw_root, tiny_ckpt) -> None:
    mine = tmp_path / "notes.json"
    mine.write_text("mine")
    args = ["fields", "evaluate", "--model", str(tiny_ckpt), "--root", str(ftw_root), "--split", "train"]
    r = CliRunner().invoke(main, [*args, "-o", str(mine)])
    assert r.exit_code == 2 and "notes.json: exists" in r.output, r.output
    assert "px_" not in r.output  # refused before any chip was scored (no metrics table printed)
    assert mine.read_text() == "mine"


@pytest.mark.parametrize("command", ["evaluate", "robustness"])
def test_a_report_among_the_files_of_the_root_it_reads_is_refused_even_with_overwrite(
    ftw_root, tiny_ckpt, command
) -> None:
    """`-o <root>/austria/chips_austria.parquet --overwrite` replaced the data set's chips table with the JSON
    report (session 79's sweep); a report beside the countries, in the root itself, is still fine."""
    table = ftw_root / "austria" / "chips_austria.parquet"
    before = table.read_bytes()
    args = ["fields", command, "--model", str(tiny_ckpt), "--root", str(ftw_root), "--overwrite"]
    r = CliRunner().invoke(main, [*args, "-o", str(table)])
    assert r.exit_code == 2 and "chips_austria.parquet: written as JSON; name it .json" in r.output, r.output
    r = CliRunner().invoke(main, [*args, "-o", str(ftw_root / "austria" / "report.json")])
    assert r.exit_code == 2 and f"inside {ftw_root / 'austria'}, whose files the run reads" in r.output, r.output
    assert table.read_bytes() == before and not (ftw_root / "austria" / "report.json").exists()
    made = ftw_root / "made.json"  # make-synthetic's record of the set: replaced by the report (session 103)
    kept = made.read_bytes() if made.exists() else None
    r = CliRunner().invoke(main, [*args, "-o", str(made)])
    assert r.exit_code == 2 and f"-o {made}: the record of what made {ftw_root}" in r.output, r.output
    assert (made.read_bytes() if made.exists() else None) == kept


def test_windows_the_model_cannot_take_are_a_usage_error(ftw_root, tiny_ckpt) -> None:
    """`--windows a` for a model of both windows' 8 channels exited 1, as if a chip had failed (session 79)."""
    r = CliRunner().invoke(
        main, ["fields", "evaluate", "-m", str(tiny_ckpt), "--root", str(ftw_root), "--windows", "a"]
    )
    assert r.exit_code == 2 and "model takes 8 channels, --windows a gives 4" in r.output, r.output


def test_a_patch_too_large_for_memory_is_refused_up_front(tmp_path, tiny_ckpt) -> None:
    """Found by a bad-input sweep (session 57): ``--tile 100000`` padded a 64-px scene to 100000 px, out of memory."""
    from tests.fields.synth_scenes import write_scene

    write_scene(tmp_path / "scene.tif", h=64, w=64)
    args = ["fields", "predict", str(tmp_path / "scene.tif"), "--outdir", str(tmp_path / "out"), "-m", str(tiny_ckpt)]
    res = CliRunner().invoke(main, [*args, "--tile", "100000"])
    assert res.exit_code == 2, res.output
    assert "scene.tif with --tile 100000 would need about" in res.output and "GiB of memory" in res.output
    assert not list((tmp_path / "out").glob("*.tif"))
    res = CliRunner().invoke(main, [*args, "--tile", "64"])
    assert res.exit_code == 0, res.output


def test_robustness_names_chip_and_crop_and_a_photo_is_not_a_scene(tmp_path, tiny_ckpt) -> None:
    """Found by a bad-input sweep (session 58): each failed after reading the scene (exit 1), one with two raw
    rasterio warning lines, none naming the option."""
    from PIL import Image

    from tests.fields.synth_scenes import write_scene

    scene = write_scene(tmp_path / "s.tif", h=96, w=96)
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (96, 96)).save(photo)
    base = ["fields", "robustness", "--model", str(tiny_ckpt)]
    for extra, message in (
        (["--scene", str(scene), "--crop", "100"], "--crop 100: must lie between half of --chip 256 and --chip"),
        (["--scene", str(scene), "--chip", "128", "--crop", "100"], "--chip 128: "),
        (["--scene", str(photo)], "photo.jpg: has 3 bands, expected 8"),
    ):
        res = CliRunner().invoke(main, [*base, *extra])
        assert res.exit_code == 2 and message in res.output, res.output
        assert "NotGeoreferencedWarning" not in res.output


def test_the_memory_estimate_leaves_the_activations_of_a_gpu_run_to_the_gpu() -> None:
    """A large batch of large patches on a GPU keeps its activations in GPU memory, not in this machine's."""
    from pathlib import Path

    from agriseg.fields.config import PredictConfig
    from agriseg.fields.predict import ACTIVATION_PLANES, scene_memory_need
    from agriseg.raster.io import SceneInfo

    info = SceneInfo(Path("s.tif"), 10980, 10980, 8, "uint16", None, None, None, {})
    cpu = PredictConfig(patch_size=1024, batch_size=32)
    gpu = PredictConfig.model_construct(**{**cpu.model_dump(), "device": "cuda"})  # no GPU needed to build it
    from agriseg.tiling import window_starts

    per_row = len(window_starts(10980, 1024, cpu.stride))  # 14 patches: a batch is cut from one row
    planes = min(32, per_row) * 2048**2 * ACTIVATION_PLANES * 4.0
    assert scene_memory_need(info, cpu, 2.0) - scene_memory_need(info, gpu, 2.0) == planes
    assert scene_memory_need(info, gpu, 2.0) < 8 * 2**30  # fits a 16 GB host


def test_the_memory_estimate_counts_no_more_patches_than_a_row_holds() -> None:
    """Batches are cut from one row of patches: --batch-size 1000 of a scene 3 patches wide was refused as needing
    73 GiB, where its real peak was that of --batch-size 4 (session 104's sweep)."""
    from pathlib import Path

    from agriseg.fields.config import PredictConfig
    from agriseg.fields.predict import scene_memory_need
    from agriseg.raster.io import SceneInfo
    from agriseg.tiling import window_starts

    info = SceneInfo(Path("s.tif"), 578, 379, 8, "uint16", None, None, None, {})  # width, height
    row = PredictConfig(patch_size=256)
    assert len(window_starts(578, 256, row.stride)) == 3
    three, huge = (scene_memory_need(info, PredictConfig(patch_size=256, batch_size=b), 2.0) for b in (3, 1000))
    assert huge == three and scene_memory_need(info, PredictConfig(patch_size=256, batch_size=2), 2.0) < three


def test_train_names_a_renamed_key_in_one_line_and_checks_its_data_before_writing(tmp_path: Path) -> None:
    """The renamed-key warning was a DeprecationWarning Python hides; a missing data root left config.json behind."""
    import warnings

    old = tmp_path / "old.yaml"
    config = Path(__file__).parents[2] / "configs" / "fields" / "synthetic_lite0_cpu.yaml"
    old.write_text(config.read_text().replace("max_minutes:", "max_time_minutes:"))
    out = tmp_path / "run"
    args = [
        "fields",
        "train",
        "-c",
        str(old),
        "--set",
        f"data.root={tmp_path / 'nowhere'}",
        "--set",
        f"output_dir={out}",
    ]
    shown = warnings.showwarning
    try:
        res = CliRunner().invoke(main, args)
    finally:
        warnings.showwarning = shown  # the command line installs its own
    assert "agriseg: train.max_time_minutes is now train.max_minutes" in res.output, res.output
    assert res.exit_code == 2 and "Traceback" not in res.output
    # the config file and its key named, as its other errors are (session 108's sweep)
    assert f"Error: {old}: {tmp_path / 'nowhere'}: FTW root folder not found (data.root)" in res.output
    assert not out.exists()


def test_an_empty_collection_id_is_refused(tmp_path) -> None:
    """``--collection ""`` wrote fiboa files with an empty collection id (session 62's sweep)."""
    (tmp_path / "c.tif").write_bytes(b"")
    r = CliRunner().invoke(main, ["fields", "polygonize", str(tmp_path / "c.tif"), "--collection", ""])
    assert r.exit_code == 2 and "--collection: empty: give a value" in r.output, r.output


@pytest.mark.parametrize("command", ["evaluate", "robustness"])
def test_a_released_model_is_downloaded_only_after_the_other_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """``fields evaluate -m FTW_PRUE_EFNET_B7 --root wrong/`` fetched 270 MB before saying the root was missing."""
    from click.testing import CliRunner

    from agriseg.cli import main
    from agriseg.fields import registry

    fetched: list[str] = []
    monkeypatch.setattr(registry, "fetch", lambda name, **_: fetched.append(name))
    res = CliRunner().invoke(main, ["fields", command, "-m", "FTW_PRUE_EFNET_B7", "--root", str(tmp_path / "no")])
    assert res.exit_code == 2 and "FTW root folder not found" in res.output and fetched == [], res.output
    (tmp_path / "austria").mkdir()
    (tmp_path / "austria" / "chips_austria.parquet").touch()  # a root that passes the check
    res = CliRunner().invoke(main, ["fields", command, "-m", "FTW_PRUE_EFNET_B9", "--root", str(tmp_path)])
    assert res.exit_code == 2 and "not a known model name" in res.output, res.output


def test_predict_over_a_glob_never_reads_its_own_outputs(tmp_path, tiny_ckpt) -> None:
    """`fields predict scenes/*.tif` writes `<name>_probs.tif` beside each scene: the same glob again took them
    as scenes (each failed: 4 bands). One scene given twice (by two names, or a link) was predicted twice."""
    import os

    from tests.fields.synth_scenes import write_scene

    write_scene(tmp_path / "s.tif", h=64, w=64)
    args = ["-m", str(tiny_ckpt), "--patch-size", "64"]
    res = CliRunner().invoke(main, ["fields", "predict", str(tmp_path / "s.tif"), *args])
    assert res.exit_code == 0 and (tmp_path / "s_probs.tif").is_file(), res.output
    glob = sorted(str(p) for p in tmp_path.glob("*.tif"))  # s.tif and s_probs.tif
    res = CliRunner().invoke(main, ["fields", "predict", *glob, *args])
    assert res.exit_code == 0 and "1 skipped, 0 failed" in res.output, res.output
    assert "1 output of an earlier run among the scenes given not read as scenes" in res.output
    os.symlink(tmp_path / "s.tif", tmp_path / "again.tif")
    for twice in (
        [tmp_path / "s.tif", f"{tmp_path}/../{tmp_path.name}/s.tif"],
        [tmp_path / "s.tif", tmp_path / "again.tif"],
    ):
        res = CliRunner().invoke(main, ["fields", "predict", *map(str, twice), "--outdir", str(tmp_path / "o"), *args])
        assert res.exit_code == 2 and "given twice" in res.output, res.output


def test_a_folder_of_scenes_is_read_for_its_geotiffs(tmp_path, tiny_ckpt) -> None:
    """`fields predict scenes/` was refused ("is a directory") where every crop and text command takes
    folders: now its GeoTIFFs are the scenes, never the outputs an earlier run wrote beside them."""
    from tests.fields.synth_scenes import write_scene

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for name in ("a.tif", "b.TIFF"):
        write_scene(scenes / name, h=64, w=64)
    (scenes / "notes.txt").write_text("field visit")
    (scenes / "quicklook.png").write_bytes(b"")
    args = ["-m", str(tiny_ckpt), "--patch-size", "64"]
    res = CliRunner().invoke(main, ["fields", "predict", str(scenes), *args])
    assert res.exit_code == 0 and "2 predicted" in res.output, res.output
    assert (scenes / "a_probs.tif").is_file() and (scenes / "b_probs.tif").is_file()
    res = CliRunner().invoke(main, ["fields", "predict", str(scenes), *args])  # the outputs are beside the scenes
    assert res.exit_code == 0 and "2 skipped, 0 failed" in res.output, res.output
    assert "2 outputs of an earlier run among the scenes given not read as scenes" in res.output
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["fields", "predict", str(tmp_path / "empty"), *args])
    assert res.exit_code == 2 and "empty: folder has no scenes (.tif, .tiff, .vrt)" in res.output, res.output


def test_a_scene_whose_bands_are_described_in_another_order_fails_by_name(tmp_path, tiny_ckpt) -> None:
    """Blue, green, red, NIR labelled B02, B03, B04, B08 were read as red, green, blue, NIR (session 71)."""
    import rasterio

    from tests.fields.synth_scenes import write_scene

    write_scene(tmp_path / "bgr.tif", h=64, w=64)
    with rasterio.open(tmp_path / "bgr.tif", "r+") as ds:
        ds.descriptions = ("B02", "B03", "B04", "B08") * 2
    res = CliRunner().invoke(main, ["fields", "predict", str(tmp_path / "bgr.tif"), "-m", str(tiny_ckpt)])
    assert res.exit_code == 1 and "bgr.tif: its bands are described as B02, B03, B04, B08" in res.output, res.output
    assert (
        "gdal_translate -b 3 -b 2 -b 1 -b 4 -b 7 -b 6 -b 5 -b 8" in res.output
        and not (tmp_path / "bgr_probs.tif").exists()
    )


def test_a_zero_border_of_a_float_scene_is_no_data(tmp_path, tiny_ckpt) -> None:
    """0 in every band was no data in integer scenes only: a float32 export's zero border was predicted as
    land (session 71's sweep). An output made before the rule is not resumed as this run's."""
    import rasterio

    from tests.fields.synth_scenes import write_scene

    write_scene(tmp_path / "u16.tif", h=64, w=64)
    with rasterio.open(tmp_path / "u16.tif") as src:
        profile, values = src.profile, src.read().astype(np.float32)
    values[:, :, :16] = 0.0
    profile.update(dtype="float32", nodata=None)
    with rasterio.open(tmp_path / "f32.tif", "w", **profile) as dst:
        dst.write(values)
    args = ["fields", "predict", str(tmp_path / "f32.tif"), "-m", str(tiny_ckpt), "-o", str(tmp_path / "p.tif")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "p.tif") as out:
        classes = out.read(1)
    assert (classes[:, :16] == 255).all() and (classes[:, 16:] != 255).all()
    from agriseg.raster.io import scene_reading_rules

    assert scene_reading_rules(tmp_path / "f32.tif") == {"zeros": "nodata"}
    assert scene_reading_rules(tmp_path / "u16.tif") == {}


def test_an_onnx_export_given_as_the_model_says_what_to_give(tmp_path, tiny_ckpt) -> None:
    """`fields export -o m.onnx` then `fields predict -m m.onnx`: "not an agriseg model" of agriseg's own file."""
    from tests.fields.synth_scenes import write_scene

    write_scene(tmp_path / "s.tif", h=64, w=64)
    res = CliRunner().invoke(main, ["fields", "export", str(tiny_ckpt), "--size", "64", "-o", str(tmp_path / "m.onnx")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["fields", "predict", str(tmp_path / "s.tif"), "-m", str(tmp_path / "m.onnx")])
    assert res.exit_code == 2 and "m.onnx: an ONNX file; the fields commands take" in res.output, res.output
    # a scene given as the model was "an image, not a model file (a .safetensors, .ckpt or .onnx file)": the crop
    # commands' words, offering the .onnx refused above (session 104's sweep)
    res = CliRunner().invoke(main, ["fields", "predict", str(tmp_path / "s.tif"), "-m", str(tmp_path / "s.tif")])
    assert res.exit_code == 2, res.output
    assert "s.tif: an image, not a model file (a .safetensors or .ckpt file, or a released name)" in res.output


# on Dask workers: 15 s of cluster start, slow (the smoke suite's `fields map --workers 2` runs Dask by default)
@pytest.mark.parametrize("serial", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_a_scenes_warnings_reach_the_user_of_fields_map(tmp_path, tiny_ckpt, serial: bool) -> None:
    """The baseline-offset warning of a scene was logged in a Dask worker, where nobody saw it (session 71's
    review): each scene's warnings come back with its row and are printed once with the summary."""
    import rasterio

    from tests.fields.synth_scenes import write_scene

    (tmp_path / "in").mkdir()
    write_scene(tmp_path / "plain.tif", h=64, w=64)
    with rasterio.open(tmp_path / "plain.tif") as src:
        profile, values = src.profile, src.read()
    values[:, :8, :8] = 60  # water: dark in every band
    for name, shift in (("plain.tif", 0), ("shifted.tif", 1000)):
        with rasterio.open(tmp_path / "in" / name, "w", **profile) as dst:
            dst.write(values + shift)
    args = ["fields", "map", str(tmp_path / "in"), "--outdir", str(tmp_path / "out"), "-m", str(tiny_ckpt)]
    args += ["--serial"] if serial else ["--workers", "1", "--threads-per-worker", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert res.output.count("seems left in") == 1 and "warning: " in res.output, res.output
    assert "shifted.tif: no pixel of bands 1-3 is darker than 1000" in res.output


def test_export_names_in_capitals_are_taken(tmp_path, tiny_ckpt) -> None:
    """`fields export -o OUT.ONNX` was refused while `.TIF` and `.GPKG` outputs were taken elsewhere."""
    res = CliRunner().invoke(main, ["fields", "export", str(tiny_ckpt), "-o", str(tmp_path / "M.SAFETENSORS")])
    assert res.exit_code == 0 and (tmp_path / "M.SAFETENSORS").is_file(), res.output


def test_a_library_call_gives_back_torchs_thread_count(tmp_path, tiny_ckpt) -> None:
    """`predict(..., FieldsRunConfig(threads=1))` in a notebook left torch on one thread for the session."""
    import torch

    from agriseg.fields.config import FieldsRunConfig, PredictConfig
    from agriseg.fields.mapping.commands import predict
    from tests.fields.synth_scenes import write_scene

    write_scene(tmp_path / "s.tif", h=64, w=64)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        res = predict([tmp_path / "s.tif"], tiny_ckpt, PredictConfig(patch_size=64), FieldsRunConfig(threads=1),
                      outdir=tmp_path / "o")  # fmt: skip
        assert res.counts["ok"] == 1 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_scene_resumed_from_its_work_file_is_said_so(tmp_path, tiny_ckpt, monkeypatch) -> None:
    """A scene finished from an interrupted run's work file was counted as predicted, no word of the rows it did
    not predict again (session 82's interrupt sweep); fields map's summary.json alone said resumed."""
    import agriseg.fields.predict as predict
    from tests.fields.synth_scenes import write_scene

    write_scene(tmp_path / "scene.tif", h=64, w=64)
    real = predict.ScenePredictor.predict

    def as_if_resumed(self, *args, **kw):  # noqa: ANN001, ANN202 - the method's own signature
        res = real(self, *args, **kw)
        res.status, res.blocks_resumed = "resumed", 2
        return res

    monkeypatch.setattr(predict.ScenePredictor, "predict", as_if_resumed)
    args = ["fields", "predict", str(tmp_path / "scene.tif"), "-o", str(tmp_path / "p.tif"), "-m", str(tiny_ckpt)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "(1 scene resumed from an interrupted run's work file, 2 patch rows" in res.output


def test_evaluate_scores_every_chip_it_can_and_names_the_others(tmp_path, ftw_root, tiny_ckpt, caplog) -> None:
    """Session 84's sweep: chips of two sizes in one root ended evaluate and robustness in a torch traceback;
    one chip whose mask is another size stopped the whole evaluation with no report; --missing skip left chips
    out without a word; robustness advised --missing skip, an option it did not have."""
    import shutil

    import rasterio

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root, root)
    from agriseg.fields.dataset import read_chip_table

    train = sorted(aoi for aoi, split in read_chip_table(root, "austria") if split == "train")
    masks = [root / "austria" / "label_masks" / "semantic_3class" / f"{aoi}.tif" for aoi in train]
    n = len(train) + sum(split == "train" for _, split in read_chip_table(root, "kenya"))

    def resize(path: Path, side: int) -> None:  # the file at another size, on its grid
        with rasterio.open(path) as src:
            arr, prof = src.read(out_shape=(src.count, side, side)), src.profile
        prof.update(width=side, height=side, transform=src.transform * src.transform.scale(64 / side))
        with rasterio.open(path, "w", **prof) as dst:
            dst.write(arr)

    big = masks[1].name  # one chip wholly at 96 px: scored with the others
    for part in ("s2_images/window_a", "s2_images/window_b", "label_masks/semantic_3class"):
        resize(root / "austria" / part / big, 96)
    resize(masks[2], 32)  # a mask of another size than its images: that chip fails, by name
    masks[3].unlink()  # an incomplete chip: refused, or left out and said with --missing skip
    out = tmp_path / "e.json"
    args = [
        "fields",
        "evaluate",
        "--model",
        str(tiny_ckpt),
        "--root",
        str(root),
        "--split",
        "train",
        "--bootstrap",
        "0",
    ]
    r = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert r.exit_code == 2 and f"{masks[3]}: missing file of chip" in r.output, r.output
    r = CliRunner().invoke(main, [*args, "-o", str(out), "--missing", "skip"])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert f"failed: {masks[2]}: mask is 32x32 px, its image 64x64" in r.output
    rep = json.loads(out.read_text())
    assert rep["chips"] == n - 2 and rep["chips_skipped"] == [f"austria/{masks[3].stem}"]
    assert f"1 incomplete train chip left out (--missing skip): austria/{masks[3].stem}" in caplog.text
    r = CliRunner().invoke(main, ["fields", "robustness", "--model", str(tiny_ckpt), "--root", str(root),
                                  "--split", "train", "--missing", "skip", "--max-chips", "14"])  # fmt: skip
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output  # the chip of another mask size: failed
    assert f"failed: {masks[2]}: mask is 32x32 px" in r.output and "corner consistency" in r.output


def test_a_missing_test_country_is_refused_before_training(tmp_path: Path) -> None:
    """Session 85's sweep: `data.test_countries: [france]` (not in the data) failed after the whole training had
    run and written its model, though missing data is refused before anything is written."""
    res = CliRunner().invoke(main, ["fields", "make-synthetic", "-o", str(tmp_path / "ftw"), "--countries",
                                    "austria:4,kenya:2", "--size", "32", "--fields-per-chip", "2,3"])  # fmt: skip
    assert res.exit_code == 0, res.output
    (tmp_path / "c.yaml").write_text(CONFIG.format(out=tmp_path / "run", root=tmp_path / "ftw"))
    args = ["fields", "train", "-c", str(tmp_path / "c.yaml"), "--set", "data.test_countries=[france]"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "france: country folder not found" in res.output, res.output
    assert not (tmp_path / "run").exists()


def test_training_names_the_chips_missing_skip_left_out(tmp_path: Path) -> None:
    """Session 105's sweep: a chip left out by `data.missing: skip` went unsaid in training (evaluate names it)."""
    import pandas as pd

    res = CliRunner().invoke(main, ["fields", "make-synthetic", "-o", str(tmp_path / "ftw"), "--countries",
                                    "austria:10", "--size", "32", "--fields-per-chip", "2,3"])  # fmt: skip
    assert res.exit_code == 0, res.output
    (tmp_path / "c.yaml").write_text(CONFIG.format(out=tmp_path / "run", root=tmp_path / "ftw"))
    chips = pd.read_parquet(tmp_path / "ftw" / "austria" / "chips_austria.parquet")
    gone = str(chips[chips["split"] == "train"]["aoi_id"].iloc[0])
    (tmp_path / "ftw" / "austria" / "s2_images" / "window_b" / f"{gone}.tif").unlink()
    args = ["fields", "train", "-c", str(tmp_path / "c.yaml"), "--set", "data.missing=skip", "--max-steps", "1"]
    res = CliRunner().invoke(main, [*args, "--set", "data.train_countries=[austria]", "--no-test"])
    assert res.exit_code == 0, res.output
    assert f"1 incomplete train chip left out (missing: skip), not trained on: austria/{gone}" in res.output


def test_robustness_on_chips_reports_a_chip_it_could_not_read_and_the_offset(tmp_path, ftw_root, tiny_ckpt) -> None:
    """Session 87's fields sweep: a chip whose mask was no raster was left out with a warning and exit 0, the
    report not saying it rests on fewer chips; reports of chips carried no `offset` (scenes did)."""
    import shutil

    import pandas as pd

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root, root)
    chips = pd.read_parquet(root / "austria" / "chips_austria.parquet")
    bad = str(chips[chips["split"] == "train"]["aoi_id"].iloc[0])
    (mask := root / "austria" / "label_masks" / "semantic_3class" / f"{bad}.tif").write_text("not a raster")
    out = tmp_path / "rob.json"
    args = ["fields", "robustness", "-m", str(tiny_ckpt), "--root", str(root), "--split", "train", "--crop", "48"]
    r = CliRunner().invoke(main, [*args, "--offset", "500", "-o", str(out)])
    assert r.exit_code == 1, r.output
    assert f"failed: {mask}" in r.output
    rep = json.loads(out.read_text())
    assert len(rep["failed"]) == 1 and str(mask) in rep["failed"][0] and rep["offset"] == 500.0
    # the chips it rests on, as evaluate's report says them (session 105's sweep)
    assert (rep["split"], rep["countries"], rep["max_chips"]) == ("train", ["austria", "kenya"], 256)
    assert rep["chips_other_size"] == [] and rep["chips_skipped"] == []


def test_evaluate_fails_a_chip_whose_window_holds_no_data(tmp_path, ftw_root, tiny_ckpt) -> None:
    """Session 87's fields sweep: a chip whose window was 0 in every band was scored as imagery (pixel IoU 0.906
    -> 0.800, exit 0); fields predict reads such pixels as nodata."""
    import shutil

    import pandas as pd
    import rasterio

    root = tmp_path / "ftw"
    shutil.copytree(ftw_root, root)
    chips = pd.read_parquet(root / "austria" / "chips_austria.parquet")
    bad = str(chips[chips["split"] == "train"]["aoi_id"].iloc[0])
    window = root / "austria" / "s2_images" / "window_b" / f"{bad}.tif"
    with rasterio.open(window, "r+") as ds:
        ds.write(np.zeros((ds.count, ds.height, ds.width), ds.dtypes[0]))
    args = ["fields", "evaluate", "-m", str(tiny_ckpt), "--root", str(root), "--split", "train", "--bootstrap", "0"]
    r = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "e.json")])
    assert r.exit_code == 1, r.output
    assert f"failed: {window}: 0 in every band and pixel (no data): not scored" in r.output


def test_an_option_typed_at_the_models_own_value_resumes(tmp_path, tiny_ckpt) -> None:
    """``--resize 2`` / ``--divisor 3000`` on an ftw model (its own values: the same pixels) were refused as "made
    with other settings (--model-resize: 2.0 -> not given, --resize: not given -> 2.0)" (session 93's sweep)."""
    from tests.fields.synth_scenes import write_scene

    write_scene(tmp_path / "scene.tif", h=64, w=64)
    args = ["fields", "predict", str(tmp_path / "scene.tif"), "--outdir", str(tmp_path / "out"), "-m", str(tiny_ckpt)]
    assert CliRunner().invoke(main, args).exit_code == 0
    for same in (["--resize", "2.0", "--divisor", "3000"],):  # both at once: either recorded as given refuses
        res = CliRunner().invoke(main, [*args, *same])
        assert res.exit_code == 0 and "0 predicted, 1 skipped" in res.output, (same, res.output)
    res = CliRunner().invoke(main, [*args, "--resize", "1"])  # another value: refused, naming the option alone
    assert res.exit_code == 1 and "(--resize: not given -> 1.0)" in res.output, res.output


def test_make_synthetic_refuses_more_chips_than_the_disk_holds(tmp_path) -> None:
    """``--countries austria:1000000000 --size 4096`` ran for 10 minutes, wrote nothing usable and said nothing
    (session 94's sweep): refused at once, with the space it needs."""
    res = CliRunner().invoke(
        main,
        ["fields", "make-synthetic", "-o", str(tmp_path / "s"), "--countries", "austria:1000000000", "--size", "4096"],
    )
    assert res.exit_code == 2 and "1,000,000,000 chips of 4096 px need at least" in res.output, res.output
    assert not (tmp_path / "s").exists()


def test_a_users_fields_file_in_the_way_is_not_called_other_settings(tmp_path, tiny_ckpt) -> None:
    """A file of yours under a scene's `<name>_fields.parquet` failed that scene, and the merge line said its
    fields "were made with other settings or inputs" (session 104's sweep)."""
    from tests.fields.synth_scenes import write_scene

    (tmp_path / "scenes").mkdir()
    for name in ("a", "b"):
        write_scene(tmp_path / "scenes" / f"{name}.tif", h=64, w=64)
    out = tmp_path / "out"
    out.mkdir()
    (out / "b_fields.parquet").write_text("mine")
    args = ["fields", "map", str(tmp_path / "scenes"), "-m", str(tiny_ckpt), "--serial", "--patch-size", "64", "-o",
            str(out)]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and "b_fields.parquet: exists and was not written by" in res.output, res.output
    assert "other settings or inputs" not in res.output and (out / "b_fields.parquet").read_text() == "mine"


def test_train_names_data_root_only_when_the_root_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing chip file was said with "(data.root)" beside its own remedy (data.missing: skip); so was a
    missing country (the review of session 108's change)."""
    import agriseg.fields.train as train
    from agriseg.fields.config import FieldsTrainConfig

    said = ["r/austria/x.tif: missing file of chip g1 (austria, split train); data.missing: skip leaves it out",
            "r: FTW root folder not found"]  # fmt: skip

    class _Missing:
        def __init__(self, *args: object) -> None:
            raise FileNotFoundError(said[0])

    monkeypatch.setattr(train, "FieldsDataModule", _Missing)
    cfg = FieldsTrainConfig.model_validate({"data": {"root": "r"}})
    with pytest.raises(FileNotFoundError) as err:
        train.train_fields(cfg)
    assert str(err.value) == said[0]
    _Missing.__init__ = lambda self, *a: (_ for _ in ()).throw(FileNotFoundError(said[1]))  # type: ignore[method-assign]
    with pytest.raises(FileNotFoundError, match=r"^r: FTW root folder not found \(data\.root\)$"):
        train.train_fields(cfg)
