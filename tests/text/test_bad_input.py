"""Bad input to the text commands: one line naming the option or file, exit status 2 for usage errors, and
nothing a user wrote is replaced."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from agriseg.cli import main
from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscapes

CLASSES = ",".join(SYNTH_CLASSES)


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(res: Result) -> str:
    """The ``Error:`` line of a failed command (and no traceback)."""
    assert "Traceback" not in res.output, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, res.output
    return lines[0]


@pytest.fixture
def masks(tmp_path: Path) -> tuple[Path, Path]:
    """Predictions and truth: two folders of the same two 16-px class masks."""
    _, sems, _ = make_landscapes(2, 3, LandscapeConfig(size=16))
    for d in ("pred", "truth"):
        (tmp_path / d).mkdir()
        for i, sem in enumerate(sems):
            Image.fromarray(sem.astype(np.uint8)).save(tmp_path / d / f"m{i}.png")
    return tmp_path / "pred", tmp_path / "truth"


def test_evaluate_keeps_an_existing_report_unless_overwrite(masks: tuple[Path, Path], tmp_path: Path) -> None:
    pred, truth = masks
    report = tmp_path / "mine.json"
    report.write_text("{}")
    args = ["text", "evaluate", pred, "--masks", truth, "--classes", CLASSES, "-o", report]
    res = _run(*args)
    assert res.exit_code == 2 and "mine.json: exists (use --overwrite)" in _one_line_error(res)
    assert report.read_text() == "{}" and not report.with_suffix(".csv").exists()
    report.unlink()
    report.with_suffix(".csv").write_text("mine\n")  # the CSV beside it is kept too
    res = _run(*args)
    assert res.exit_code == 2 and "mine.csv: exists (use --overwrite)" in _one_line_error(res)
    assert report.with_suffix(".csv").read_text() == "mine\n" and not report.exists()
    res = _run(*args, "--overwrite")
    assert res.exit_code == 0 and f"report: {report}" in res.output, res.output
    assert json.loads(report.read_text())["images"] == 2
    assert report.with_suffix(".csv").read_text().startswith("class,dice_pct,iou_pct,truth_px")


def test_evaluate_names_the_truth_option_that_is_not_a_folder(masks: tuple[Path, Path]) -> None:
    """``--mask-instances nowhere`` said only "nowhere: no such file or folder"; a file there was read as a
    folder of no instance maps, without a word."""
    pred, truth = masks
    for opt, value, said in (("--mask-instances", "nowhere", "'nowhere' does not exist"),
                             ("--mask-instances", truth / "m0.png", "is a file"),
                             ("--masks", "nowhere", "'nowhere' does not exist")):  # fmt: skip
        args = {"--masks": truth, opt: value}
        res = _run("text", "evaluate", pred, *[a for kv in args.items() for a in kv], "--classes", CLASSES)
        line = _one_line_error(res)
        assert res.exit_code == 2 and f"'{opt}'" in line and said in line, line


def test_a_report_among_the_predictions_can_be_written_again_with_overwrite(masks: tuple[Path, Path]) -> None:
    """`-o pred/report.json` ran once, then counted its own report as a file it reads: refused for ever, with
    --overwrite too (session 79's sweep). text predict's run.json there stays one of the inputs."""
    pred, truth = masks
    args = ["text", "evaluate", pred, "--masks", truth, "--classes", CLASSES]
    assert _run(*args, "-o", pred / "report.json").exit_code == 0
    again = _run(*args, "-o", pred / "report.json")
    assert again.exit_code == 2 and "report.json: exists (use --overwrite)" in _one_line_error(again)
    assert _run(*args, "-o", pred / "report.json", "--overwrite").exit_code == 0
    (pred / "run.json").write_text('{"images": 2}')
    (pred / "run.csv").write_text("x\n")
    res = _run(*args, "-o", pred / "run.json", "--overwrite")
    assert res.exit_code == 2 and "is one of the inputs" in _one_line_error(res)
    assert (pred / "run.json").read_text() == '{"images": 2}'


def test_evaluate_writes_report_and_table_together(
    masks: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill between the report and its CSV left the report alone, and every re-run refused it ("exists");
    a killed run's temporary stayed beside the finished report (session 69's sweep)."""
    import agriseg.text.metrics as metrics

    pred, truth = masks
    report = tmp_path / "r.json"
    dead = tmp_path / ".r.json.agriseg-tmp-999999999.json"  # of a process that no longer runs
    dead.write_text("{half")
    real = metrics.report_table
    monkeypatch.setattr(metrics, "report_table", lambda rep: (real(rep)[0], None))  # the table fails to write
    res = _run("text", "evaluate", pred, "--masks", truth, "--classes", CLASSES, "-o", report)
    assert res.exit_code != 0 and not report.exists() and not report.with_suffix(".csv").exists()
    monkeypatch.setattr(metrics, "report_table", real)
    res = _run("text", "evaluate", pred, "--masks", truth, "--classes", CLASSES, "-o", report)
    assert res.exit_code == 0 and report.exists() and report.with_suffix(".csv").exists(), res.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("which", ["truth", "pred"])
def test_evaluate_never_writes_over_an_input(masks: tuple[Path, Path], which: str) -> None:
    pred, truth = masks
    target = dict(zip(("pred", "truth"), masks, strict=True))[which] / "m0.png"
    before = target.read_bytes()
    res = _run("text", "evaluate", pred, "--masks", truth, "--classes", CLASSES, "-o", target, "--overwrite")
    # a usage error: a mask's name is no JSON report's (session 101), and before that, one of the inputs
    assert res.exit_code == 2 and "m0.png: written as JSON; name it .json" in _one_line_error(res)
    assert target.read_bytes() == before and not target.with_suffix(".csv").exists()


def test_evaluate_refuses_a_prediction_given_twice(masks: tuple[Path, Path]) -> None:
    pred, truth = masks
    for twice, named in (
        ([pred, pred], f"{pred}: given twice"),
        ([pred, pred / "m1.png"], f"{pred / 'm1.png'}: given twice (as a file and inside {pred})"),
        ([pred / "m0.png", pred / ".." / "pred" / "m0.png"], f"{pred / '..' / 'pred' / 'm0.png'}: given twice"),
    ):
        res = _run("text", "evaluate", *twice, "--masks", truth, "--classes", CLASSES)
        assert res.exit_code == 2 and named in _one_line_error(res), res.output


@pytest.mark.parametrize(
    ("classes", "says"),
    [
        ("others,field,field", "--classes others,field,field: field given twice"),
        ("field", "--classes needs the background word and at least one class"),
        ("others,Field,field", "--classes others,Field,field: Field and field differ only in case"),
    ],
)
def test_evaluate_and_dataset_refuse_bad_classes(
    masks: tuple[Path, Path], tmp_path: Path, classes: str, says: str
) -> None:
    pred, truth = masks
    res = _run("text", "evaluate", pred, "--masks", truth, "--classes", classes, "-o", tmp_path / "r.json")
    assert res.exit_code == 2 and says in _one_line_error(res)
    assert not (tmp_path / "r.json").exists()
    pytest.importorskip("datasets")
    res = _run("text", "dataset", pred, "--masks", truth, "--classes", classes, "-o", tmp_path / "ds", "--tile", "8",
               "--grid", "4")  # fmt: skip
    assert res.exit_code == 2 and says in _one_line_error(res)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("classes", ["others,field,field", "field"])
def test_tiny_model_refuses_bad_classes(tmp_path: Path, classes: str) -> None:
    res = _run("text", "tiny-model", "-o", tmp_path / "m", "--classes", classes)
    assert res.exit_code == 2 and "--classes" in _one_line_error(res)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("seed", ["-5", str(2**32)])
def test_seeds_are_checked_naming_the_option(tmp_path: Path, seed: str) -> None:
    for cmd in (["make-synthetic", "-n", "2"], ["tiny-model"]):
        res = _run("text", *cmd, "-o", tmp_path / "out", "--seed", seed)
        assert res.exit_code == 2 and "Invalid value for '--seed'" in _one_line_error(res), res.output
        assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------------------
# text predict, with a tiny random model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Gemma 3 (8-px images) and a 16-px landscape: ``<dir>/model``, ``<dir>/scene.png``."""
    pytest.importorskip("transformers")
    from agriseg.text.tinyvlm import TinyVLMConfig, build_tiny_vlm, save_tiny_vlm

    d = tmp_path_factory.mktemp("tiny")
    cfg = TinyVLMConfig(
        image_size=16, vision_patch=8, mm_tokens_per_image=4, vision_hidden=16, vision_layers=1, hidden=32,
        intermediate=64, layers=1, heads=2, kv_heads=1, head_dim=16,
    )  # fmt: skip
    model, proc = build_tiny_vlm(SYNTH_CLASSES, cfg, seed=0)
    save_tiny_vlm(model, proc, d / "model")
    Image.fromarray(make_landscapes(1, 9, LandscapeConfig(size=16))[0][0]).save(d / "scene.png")
    return d


def _predict(tiny: Path, out: Path, *extra: str | Path, model: Path | None = None) -> Result:
    opts = ["--tile", "8", "--grid", "4", "--max-new-tokens", "8", "--device", "cpu"]
    return _run("text", "predict", tiny / "scene.png", "-m", model or tiny / "model", "-o", out, *opts, *extra)


@pytest.mark.parametrize(
    ("classes", "says"),
    [
        ("others,field,field", "--classes others,field,field: field given twice"),
        ("field", "--classes needs the background word and at least one class"),
    ],
)
def test_predict_refuses_bad_classes_before_any_image(tiny: Path, tmp_path: Path, classes: str, says: str) -> None:
    res = _predict(tiny, tmp_path / "p", "--classes", classes)
    assert res.exit_code == 2 and says in _one_line_error(res)
    assert "failed:" not in res.output and not (tmp_path / "p").exists()


def test_predict_checks_the_chat_template_once(tiny: Path, tmp_path: Path, answering: str) -> None:
    (tmp_path / "text.png").write_text("hello world\n")  # renders neither the message nor the image
    (tmp_path / "syntax.jinja").write_text("{{ oops")
    (tmp_path / "binary.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    (tmp_path / "no_image.jinja").write_text(
        "{% for m in messages %}{% for c in m['content'] %}{{ c.get('text', '') }}{% endfor %}{% endfor %}"
    )
    for name, says in (
        ("text.png", "leaves out the user's message"),
        ("syntax.jinja", "TemplateSyntaxError"),
        ("binary.png", "not UTF-8 text"),
        ("no_image.jinja", "<start_of_image>"),
    ):
        res = _predict(tiny, tmp_path / "p", "--classes", CLASSES, "--chat-template", tmp_path / name)
        line = _one_line_error(res)
        assert res.exit_code == 2 and f"{tmp_path / name}: not a chat template" in line and says in line, res.output
        assert "failed:" not in res.output and not (tmp_path / "p").exists()
    template = tmp_path / "good.jinja"
    template.write_text((tiny / "model" / "chat_template.jinja").read_text())
    res = _predict(tiny, tmp_path / "p", "--classes", CLASSES, "--chat-template", template)
    assert res.exit_code == 0 and "1 predicted" in res.output, res.output


def test_predict_names_a_truncated_weights_file(tiny: Path, tmp_path: Path) -> None:
    """As docs/text.md says: a cut-short .safetensors file is a usage error (exit 2) naming the file."""
    import shutil

    shutil.copytree(tiny / "model", tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    res = _predict(tiny, tmp_path / "p", "--classes", CLASSES, model=tmp_path / "m")
    assert res.exit_code == 2 and f"{weights}: not a readable safetensors file" in _one_line_error(res)
    assert not (tmp_path / "p").exists()


def test_predict_names_a_damaged_model_folder(tiny: Path, tmp_path: Path) -> None:
    """A model folder whose tokenizer is cut short cannot be used: a usage error (exit 2) naming the folder."""
    import shutil

    shutil.copytree(tiny / "model", tmp_path / "m")
    tok = next(p for p in (tmp_path / "m").glob("tokenizer*.json"))
    tok.write_text(tok.read_text()[:200])
    res = _predict(tiny, tmp_path / "p", "--classes", CLASSES, model=tmp_path / "m")
    assert res.exit_code == 2 and f"{tok}: damaged: not JSON" in _one_line_error(res)  # the file named (session 103)


def test_dataset_never_replaces_the_folder_its_inputs_are_in(tmp_path: Path) -> None:
    """``text dataset -o <the folder holding its images> --overwrite`` replaced that folder with the data set
    and so deleted the images and masks it was made from (a bad-input sweep, session 57)."""
    from agriseg.text.synthetic import write_landscapes

    synth = tmp_path / "synth"
    write_landscapes(synth, 2, 16, 0)
    before = sorted(p.relative_to(synth) for p in synth.rglob("*"))
    args = ["text", "dataset", synth / "images", "--masks", synth / "masks", "--classes", CLASSES]
    res = _run(*args, "--tile", "8", "--grid", "4", "-o", synth, "--overwrite")
    # a generated set is never replaced by a data set (session 106), whatever it holds
    assert res.exit_code == 2 and "synth: holds a generated set (made.json), not a data set" in _one_line_error(res)
    assert sorted(p.relative_to(synth) for p in synth.rglob("*")) == before
    plain = tmp_path / "plain"  # the user's own folder of images and masks
    shutil.copytree(synth / "images", plain / "images")
    shutil.copytree(synth / "masks", plain / "masks")
    args = ["text", "dataset", plain / "images", "--masks", plain / "masks", "--classes", CLASSES]
    res = _run(*args, "--tile", "8", "--grid", "4", "-o", plain, "--overwrite")
    assert res.exit_code == 2 and "plain: " in _one_line_error(res) and (plain / "images").is_dir(), res.output


def test_training_refuses_an_output_dir_it_would_wipe(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``text sft`` / ``grpo`` with output_dir the model folder replaced the model; with a folder of the user's
    they deleted its files. Refused before any work, naming output_dir; an earlier run's output is replaced."""
    from agriseg.config import OptionError
    from agriseg.text.config import SFTRunConfig
    from agriseg.text.sft import check_output_dir, say_replaced

    model, data = tmp_path / "model", tmp_path / "data"
    model.mkdir()
    data.mkdir()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "agriseg_train_config.json").write_text("{}")

    def cfg(out: Path) -> SFTRunConfig:
        return SFTRunConfig.model_validate({"model": str(model), "dataset": str(data), "output_dir": str(out)})

    for out, says in ((model, "is or holds the model"), (data, "is or holds the dataset"), (tmp_path, "holds the"),
                      (mine, "exists and was not written by a training run")):  # fmt: skip
        with pytest.raises(OptionError, match=says):
            check_output_dir(cfg(out))
    with caplog.at_level("WARNING"):
        check_output_dir(cfg(tmp_path / "new"))
        say_replaced(cfg(tmp_path / "new"))
        assert not caplog.text
        with pytest.raises(OptionError, match="holds the model of an earlier run; --overwrite replaces it"):
            check_output_dir(cfg(earlier))  # session 87: an earlier run's model is not replaced unasked
        check_output_dir(cfg(earlier), overwrite=True)  # checked alone: said once the model and data set are
        assert not caplog.text
        say_replaced(cfg(earlier))  # replaced, and said (a re-run with other settings replaced it unsaid)
    assert "earlier: holds the model of an earlier run, which this run replaces when it ends" in caplog.text
    assert (mine / "notes.txt").read_text() == "keep"


def test_predict_keeps_a_users_run_json(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "p"
    out.mkdir()
    (out / "run.json").write_text("my notes")
    res = _predict(tiny, out, "--classes", CLASSES)
    assert res.exit_code == 2 and "run.json: exists and was not written by agriseg" in _one_line_error(res)
    assert (out / "run.json").read_text() == "my notes"


def test_a_run_json_edited_after_the_run_is_kept_as_every_commands_table_is(
    tiny: Path, tmp_path: Path, answering: str
) -> None:
    """run.json was no table of the batch runner: a note written into it was overwritten by the next run that
    made outputs, with exit 0, where crop predict's summary.csv is refused (session 79's sweep)."""
    out = tmp_path / "p"
    assert _predict(tiny, out, "--classes", CLASSES).exit_code == 0
    (out / "run.json").write_text('{"note": "my own run notes"}')
    shutil.copy(tiny / "scene.png", tmp_path / "scene2.png")
    res = _predict(tiny, out, tmp_path / "scene2.png", "--classes", CLASSES)  # one more image: run.json rewritten
    assert res.exit_code == 2 and "run.json" in _one_line_error(res) and "changed since" in res.output, res.output
    assert (out / "run.json").read_text() == '{"note": "my own run notes"}' and not (out / "scene2.png").exists()
    again = _predict(tiny, out, tmp_path / "scene2.png", "--classes", CLASSES, "--overwrite")  # as it says
    assert again.exit_code == 0 and json.loads((out / "run.json").read_text())["classes"], again.output


def test_images_whose_outputs_would_meet_in_one_file_are_refused(tiny: Path, tmp_path: Path) -> None:
    """Found by a bad-input sweep (session 78): a.png's a_instances.png was overwritten by the mask of an image
    named a_instances.png, and run.png's report by the run's run.json, both with exit 0."""
    import shutil

    imgs, out = tmp_path / "imgs", tmp_path / "out"
    imgs.mkdir()
    for name in ("a.png", "a_instances.png"):
        shutil.copy(tiny / "scene.png", imgs / name)
    opts = ["-m", tiny / "model", "-o", out, "--tile", "8", "--grid", "4", "--device", "cpu", "--classes", CLASSES]
    res = _run("text", "predict", imgs, *opts, "--max-new-tokens", "8")
    assert res.exit_code == 2 and "a.png and " in _one_line_error(res) and "would both write" in res.output
    assert not list(out.glob("*.png"))
    (imgs / "a_instances.png").rename(imgs / "run.png")
    res = _run("text", "predict", imgs, *opts, "--max-new-tokens", "8")
    assert res.exit_code == 2 and "run.png: its report would be" in _one_line_error(res) and "run.json" in res.output


def test_run_json_names_the_outputs_other_settings_made(tiny: Path, tmp_path: Path, answering: str) -> None:
    """A re-run with other options predicts the new image and keeps the earlier one's outputs: run.json
    described them all as made with the new options."""
    import json
    import shutil

    imgs, out = tmp_path / "imgs", tmp_path / "out"
    imgs.mkdir()
    shutil.copy(tiny / "scene.png", imgs / "a.png")
    opts = ["-m", tiny / "model", "-o", out, "--tile", "8", "--grid", "4", "--device", "cpu", "--classes", CLASSES]
    assert _run("text", "predict", imgs, *opts, "--max-new-tokens", "10").exit_code == 0
    shutil.copy(tiny / "scene.png", imgs / "b.png")
    res = _run("text", "predict", imgs, *opts, "--max-new-tokens", "8")
    assert res.exit_code == 1, res.output  # a.png refused: made with other settings
    run = json.loads((out / "run.json").read_text())
    assert run["options"]["max_new_tokens"] == 8
    assert run["options"]["tile"] == 8 and "patch" not in run["options"] and "blend" in run["options"]  # as typed
    assert run["options"]["instances"] is True  # it decides which files are written (session 75's sweep)
    assert "sample" in run["options"] and "do_sample" not in run["options"]  # --sample/--greedy (session 108)
    assert run["model"] == str((tiny / "model").resolve())
    assert [Path(f).name for f in run["made_with_other_settings"]] == ["a.png"]


def test_instances_turned_on_or_off_again_is_no_other_setting(tiny: Path, tmp_path: Path, answering: str) -> None:
    """`--no-instances`, then the default: "its outputs were made with other settings (--instances: off -> on)",
    exit 1, and only --overwrite (the model over every tile again) made the instance files (session 108's
    sweep). It chooses files, as crop predict's --no-overlay does."""
    out = tmp_path / "p"
    assert _predict(tiny, out, "--classes", CLASSES, "--no-instances").exit_code == 0
    assert not (out / "scene.geojson").exists()
    res = _predict(tiny, out, "--classes", CLASSES)
    assert res.exit_code == 0 and "1 predicted" in res.output, res.output
    assert (out / "scene.geojson").exists() and (out / "scene_instances.png").exists()
    res = _predict(tiny, out, "--classes", CLASSES, "--no-instances")
    assert res.exit_code == 0 and "1 skipped" in res.output and (out / "scene.geojson").exists(), res.output


@pytest.mark.parametrize("command", ["tiny-model", "dataset"])
def test_an_empty_class_word_is_refused_not_dropped(tmp_path: Path, command: str) -> None:
    """``others,,field`` was read as two classes, shifting every class id after the gap by one."""
    args = ["text", command, "-o", tmp_path / "out", "--classes", "others,,field"]
    if command == "dataset":
        args[2:2] = [tmp_path, "--masks", tmp_path]
    res = _run(*args)
    assert res.exit_code == 2 and "--classes others,,field: empty word at position 2" in _one_line_error(res)


def test_a_trailing_comma_after_the_class_words_is_fine() -> None:
    from agriseg.text.codec import parse_class_words

    assert parse_class_words("others,field,") == ["others", "field"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--grid", "4", "--sentence", "<seg>"], "--sentence: '<seg>' holds '<'"),
        (["--grid", "4", "--sentence", "a | b"], "--sentence: 'a | b' holds '|'"),
        (["--grid", "32"], "--grid: 32 cells cannot fit a patch of 8 px"),
    ],
)
def test_dataset_refuses_options_that_break_every_answer(tmp_path: Path, extra: list[str], says: str) -> None:
    """A sentence holding mask syntax made every answer undecodable (0 of 48 exact), silently."""
    from agriseg.text.synthetic import write_landscapes

    synth = write_landscapes(tmp_path / "synth", 1, 16, 0)
    args = ["text", "dataset", synth / "images", "--masks", synth / "masks", "--classes", CLASSES, "--tile", "8"]
    res = _run(*args, "-o", tmp_path / "ds", *extra)
    assert res.exit_code == 2 and says in _one_line_error(res), res.output
    assert not (tmp_path / "ds").exists()


def test_predict_refuses_a_grid_finer_than_the_tile(tiny: Path, tmp_path: Path) -> None:
    res = _predict(tiny, tmp_path / "p", "--classes", CLASSES, "--grid", "16")  # _predict's tile: 8 px
    assert res.exit_code == 2 and "--grid: 16 cells cannot fit a patch of 8 px" in _one_line_error(res)


def test_predict_refuses_a_grid_the_model_never_wrote_and_a_broken_meta_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a bad-input sweep (session 57): another --grid was taken silently, a broken agriseg_text.json gave a
    JSON error without the file's name, and a model without patch/grid exited 1."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    meta = model / "agriseg_text.json"
    meta.write_text(json.dumps({"class_names": list(SYNTH_CLASSES), "patch": 32, "grid": 16}))
    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    args = ["text", "predict", tmp_path / "a.png", "-o", tmp_path / "out", "--model", model]
    res = _run(*args, "--grid", "8")
    assert res.exit_code == 2, res.output
    assert "--grid 8 differs from the 16 x 16 mask text the model was trained to write" in _one_line_error(res)
    meta.write_text('{"class_names": ["others", "field"], ')
    res = _run(*args)
    assert res.exit_code == 2 and f"{meta}: not a readable agriseg_text.json (" in _one_line_error(res)
    meta.write_text(json.dumps({"class_names": list(SYNTH_CLASSES)}))
    res = _run(*args)
    assert res.exit_code == 2 and "no tile, grid saved with the model" in _one_line_error(res)
    assert "give --tile --grid" in _one_line_error(res)
    meta.write_text("{}")  # a model of the hub: one line for everything missing (it said one at a time)
    res = _run(*args)
    assert res.exit_code == 2 and "give --classes --tile --grid" in _one_line_error(res)
    meta.write_text(json.dumps({"class_names": list(SYNTH_CLASSES)}))
    meta.write_text(json.dumps({"class_names": list(SYNTH_CLASSES), "patch": 32, "grid": 16}))
    with caplog.at_level("WARNING", logger="agriseg"):
        _run(*args, "--tile", "64")  # allowed (imagery of another resolution), but said
    assert "--tile 64 differs from the 32-px tiles the model was trained on" in caplog.text
    # a tile smaller than the model's grid: said of --tile, not of a --grid never typed (session 106's sweep)
    caplog.clear()
    with caplog.at_level("WARNING", logger="agriseg"):
        res = _run(*args, "--tile", "8")
    assert res.exit_code == 2 and "--tile 8: smaller than the 16 x 16 grid of the model's mask text" in (
        _one_line_error(res)
    )
    assert "give --tile 16 or more" in _one_line_error(res) and "differs from" not in caplog.text


@pytest.mark.parametrize(
    ("meta", "says"),
    [
        ({"class_names": "others"}, 'class_names is "others", not a list of names'),
        ({"answer_tokens": "many"}, 'answer_tokens is "many", not a positive integer'),
        ({"grid": 4.5}, "grid is 4.5, not a positive integer"),
        ({"patch_image": "yes"}, 'patch_image is "yes", not true or false'),
    ],
)
def test_predict_names_a_value_of_the_wrong_type_in_the_meta_file(tmp_path: Path, meta: dict, says: str) -> None:
    """A hand-edited agriseg_text.json value of the wrong type was a TypeError traceback (session 75's review)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "agriseg_text.json").write_text(json.dumps({"class_names": list(SYNTH_CLASSES), "patch": 32, **meta}))
    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    res = _run("text", "predict", tmp_path / "a.png", "-o", tmp_path / "out", "--model", model)
    assert res.exit_code == 2 and f"agriseg_text.json: {says}" in _one_line_error(res)


@pytest.mark.parametrize(("config", "says"), [("{}", "names no base model"), ("not json", "not a readable adapter")])
def test_predict_names_a_broken_adapter_config(tmp_path: Path, config: str, says: str) -> None:
    """An adapter_config.json without its base model was a KeyError traceback, one not JSON a message without the
    file's name, exit 1 (session 75's review)."""
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(config)
    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    args = ["text", "predict", tmp_path / "a.png", "-o", tmp_path / "out", "-m", adapter, "--classes", CLASSES]
    res = _run(*args, "--tile", "16", "--grid", "4")
    assert res.exit_code == 2 and f"{adapter / 'adapter_config.json'}: {says}" in _one_line_error(res)


def test_a_home_folder_of_no_user_is_a_missing_path_not_a_traceback(tmp_path: Path) -> None:
    """``~nosuchuser/...`` raised RuntimeError from Path.expanduser (session 75's review)."""
    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    res = _run("text", "predict", tmp_path / "a.png", "-o", tmp_path / "out", "-m", "~nosuchuser/model")
    assert res.exit_code == 2 and "~nosuchuser/model: no such model folder" in _one_line_error(res)


def test_dataset_goes_on_past_a_bad_image_unless_strict(tmp_path: Path) -> None:
    """Found by a bad-input sweep (session 57): one unreadable image stopped the whole data set."""
    imgs, sems, _ = make_landscapes(2, 3, LandscapeConfig(size=32))
    for d in ("img", "msk"):
        (tmp_path / d).mkdir()
    for i, (img, sem) in enumerate(zip(imgs, sems, strict=True)):
        Image.fromarray(img).save(tmp_path / "img" / f"a{i}.png")
        Image.fromarray(sem.astype(np.uint8)).save(tmp_path / "msk" / f"a{i}.png")
    (tmp_path / "img" / "bad.png").write_bytes(b"not a png")
    Image.fromarray(sems[0].astype(np.uint8)).save(tmp_path / "msk" / "bad.png")
    Image.fromarray(imgs[0]).save(tmp_path / "img" / "nomask.png")  # and an image without a mask
    args = ["text", "dataset", tmp_path / "img", "--masks", tmp_path / "msk", "--classes", CLASSES, "--tile", "16"]
    res = _run(*args, "-o", tmp_path / "strict", "--strict")  # stops at the first: the image without a mask
    assert res.exit_code == 1 and "nomask.png: no mask with the stem" in _one_line_error(res)
    assert not (tmp_path / "strict").exists()
    for _ in range(2):  # made, then unchanged: the image left out is reported both times
        res = _run(*args, "-o", tmp_path / "ds")
        assert res.exit_code == 1, res.output
        assert "failed: " in res.output and "bad.png: not a readable image" in res.output
        assert "nomask.png: no mask with the stem 'nomask'" in res.output
        assert "2 images left out of the data set" in res.output
    from datasets import load_from_disk

    assert {s for s in load_from_disk(str(tmp_path / "ds"))["source"]} == {"a0.png", "a1.png"}
    # an image added without its mask, one removed: the unchanged data set names the images found now (the new
    # one went unnamed, the removed one stayed named: session 94's sweep)
    (tmp_path / "img" / "nomask.png").rename(tmp_path / "img" / "added.png")
    res = _run(*args, "-o", tmp_path / "ds")
    assert res.exit_code == 1 and "unchanged" in res.output, res.output
    assert res.output.count("added.png: no mask with the stem 'added'") == 1 and "nomask.png" not in res.output
    assert "bad.png: not a readable image" in res.output
    # a file that is no image, named on the command line: "no mask with the stem 'README'" (session 86's sweep)
    (tmp_path / "README.txt").write_text("notes")
    res = _run("text", "dataset", tmp_path / "README.txt", *args[3:], "-o", tmp_path / "r")
    assert res.exit_code == 2 and "README.txt: not a readable image (image files: .jpg" in _one_line_error(res)


def test_tiny_model_sizes_are_usage_errors_naming_the_flags(tmp_path: Path) -> None:
    """Found by a bad-input sweep (session 58): size errors exited 1, and --image-size 100000 blamed --image-tokens."""
    for extra, message in (
        (["--image-tokens", "50"], "--image-tokens 50: must be a square number dividing the 64 vision patches"),
        (["--image-size", "60"], "--image-size 60 is not a multiple of --vision-patch 8"),
        (["--image-size", "100000"], "--image-size 100000: 12500 vision patches per side"),
    ):
        res = _run("text", "tiny-model", "-o", tmp_path / "t", *extra)
        assert res.exit_code == 2 and message in _one_line_error(res), res.output
    assert not (tmp_path / "t").exists()


def test_evaluate_goes_on_past_a_prediction_it_cannot_score(masks: tuple[Path, Path], tmp_path: Path) -> None:
    """A bad truth file stopped the whole evaluation at the first one (exit 1, nothing scored)."""
    pred, truth = masks
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(truth / "m1.png")  # an RGB image among the truth masks
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(pred / "m2.png")  # another size than its truth
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(truth / "m2.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(pred / "m3.png")  # no truth of its name
    report = tmp_path / "r.json"
    res = _run("text", "evaluate", pred, "--masks", truth, "--classes", CLASSES, "-o", report)
    assert res.exit_code == 1 and "Traceback" not in res.output
    failed = [ln for ln in res.output.splitlines() if ln.startswith("  failed: ")]
    assert len(failed) == 3, res.output
    assert "m1.png: mask must be one band of class ids" in failed[0]
    assert f"m2.png: shape (8, 8) != its truth {truth / 'm2.png'} (16, 16)" in failed[1]  # both files named
    assert "m3.png: no truth mask named m3" in failed[2]
    got = json.loads(report.read_text())
    assert got["images"] == 1 and len(got["failed"]) == 3  # m0 alone is scored
    alone = _run("text", "evaluate", pred / "m0.png", "--masks", truth, "--classes", CLASSES, "-o", tmp_path / "a.json")
    assert alone.exit_code == 0
    assert json.loads((tmp_path / "a.json").read_text())["per_class"] == got["per_class"]
    res = _run("text", "evaluate", pred, "--masks", truth, "--classes", CLASSES, "-o", tmp_path / "s.json", "--strict")
    assert res.exit_code == 1 and "m1.png: mask must be one band" in _one_line_error(res)
    assert not (tmp_path / "s.json").exists()


def test_evaluate_with_no_truth_of_any_predictions_name_is_a_usage_error(
    masks: tuple[Path, Path], tmp_path: Path
) -> None:
    """Session 106's sweep: truth masks named `<stem>_mask.png` matched no prediction: exit 1 as if each image had
    failed, where --masks (or the names) is what is wrong, and nothing said the names that were there."""
    pred, truth = masks
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for f in truth.iterdir():
        shutil.copy(f, renamed / f"{f.stem}_mask{f.suffix}")
    res = _run("text", "evaluate", pred, "--masks", renamed, "--classes", CLASSES)
    said = _one_line_error(res)
    assert res.exit_code == 2 and "no truth mask named m0.* in" in said, res.output
    assert "(it holds m0_mask.png: truth masks are matched by the predictions' names)" in said, said
    numbered = tmp_path / "numbered"  # m00.png is another image than m0.png: no hint (session 106's review)
    numbered.mkdir()
    for f in truth.iterdir():
        shutil.copy(f, numbered / f"{f.stem}0{f.suffix}")
    res = _run("text", "evaluate", pred, "--masks", numbered, "--classes", CLASSES)
    assert res.exit_code == 2 and "it holds" not in _one_line_error(res), res.output


def test_evaluate_with_too_few_classes_is_a_usage_error(masks: tuple[Path, Path]) -> None:
    pred, truth = masks
    res = _run("text", "evaluate", pred, "--masks", truth, "--classes", "others,field")
    assert res.exit_code == 2 and "outside the 2 classes given (0-1" in _one_line_error(res)


def test_predictions_given_as_their_own_truth_are_refused(masks: tuple[Path, Path], tmp_path: Path) -> None:
    """``--masks`` naming the predictions' folder scored every mask against itself: 100 %, exit 0 (session 83's
    sweep). One such file fails its item; all of them is a usage error."""
    pred, _ = masks
    res = _run("text", "evaluate", pred, "--masks", pred, "--classes", CLASSES, "-o", tmp_path / "r.json")
    assert res.exit_code == 2 and f"m0.png: is its own truth mask (--masks {pred} holds" in _one_line_error(res)
    assert not (tmp_path / "r.json").exists()


def test_images_and_masks_of_one_folder_are_never_paired_with_themselves(tmp_path: Path) -> None:
    """``text dataset DIR --masks DIR``: each file was its own mask, a label map trained as an image."""
    pytest.importorskip("datasets")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "field1.png")
    Image.fromarray(np.ones((16, 16), np.uint8)).save(tmp_path / "field1_mask.png")
    res = _run("text", "dataset", tmp_path, "--masks", tmp_path, "-o", tmp_path / "d", "--classes", CLASSES)
    assert res.exit_code == 2 and "field1.png: is its own mask (the images and --masks name the same file)" in (
        _one_line_error(res)
    )
    assert not (tmp_path / "d").exists()


def test_a_data_set_whose_every_image_fails_names_each(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every image failed: only the first was named, and no folder was left to list the others (session 83)."""
    pytest.importorskip("datasets")
    for d in ("i", "m"):
        (tmp_path / d).mkdir()
    for n in "abc":
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "i" / f"{n}.png")
        Image.fromarray(np.full((16, 16), 9, np.uint8)).save(tmp_path / "m" / f"{n}.png")
    args = ["text", "dataset", tmp_path / "i", "--masks", tmp_path / "m", "-o", tmp_path / "d", "--classes", CLASSES]
    res = _run(*args, "--tile", "16", "--grid", "4")
    assert res.exit_code == 1 and "a.png: class ids [9]" in _one_line_error(res)
    assert "b.png: class ids [9]" in caplog.text and "c.png: class ids [9]" in caplog.text


def test_one_mislabelled_truth_among_many_fails_its_image_only(masks: tuple[Path, Path], tmp_path: Path) -> None:
    """A stray class id in one truth mask is that image's failure (exit 1, the others scored); it stopped the
    whole run as a usage error (exit 2), as when every truth says the class list is wrong."""
    pred, truth = masks
    sem = np.asarray(Image.open(truth / "m1.png")).copy()
    sem[0, 0] = 9
    Image.fromarray(sem).save(truth / "m1.png")
    report = tmp_path / "r.json"
    res = _run("text", "evaluate", pred, "--masks", truth, "--classes", CLASSES, "-o", report)
    assert res.exit_code == 1, res.output
    assert f"  failed: {truth / 'm1.png'}: class ids [9] outside the {len(SYNTH_CLASSES)} classes" in res.output
    assert json.loads(report.read_text())["images"] == 1


def test_predict_is_told_whether_the_tile_goes_first(tiny: Path, tmp_path: Path, answering: str) -> None:
    """A model folder without agriseg_text.json (a fresh tiny-model, a hub model) was always given the whole
    image only, with no way to say it was trained with the tile as a first image (text dataset's default)."""
    import shutil

    from agriseg.text.sft import TEXT_META

    for flag, used in (("--patch-image", True), ("--no-patch-image", False)):
        res = _predict(tiny, tmp_path / flag, "--classes", CLASSES, flag)
        assert res.exit_code == 0, res.output
        assert json.loads((tmp_path / flag / "run.json").read_text())["options"]["patch_image"] is used
    trained = tmp_path / "trained"
    shutil.copytree(tiny / "model", trained)
    meta = {"class_names": list(SYNTH_CLASSES), "patch": 8, "grid": 4, "patch_image": True}
    (trained / TEXT_META).write_text(json.dumps(meta))
    res = _predict(tiny, tmp_path / "p", "--no-patch-image", model=trained)
    assert res.exit_code == 2 and "--no-patch-image differs from how the model was trained" in _one_line_error(res)
    res = _predict(tiny, tmp_path / "p", model=trained)
    assert res.exit_code == 0 and json.loads((tmp_path / "p" / "run.json").read_text())["options"]["patch_image"]


def test_a_class_id_equal_to_the_class_count_is_refused() -> None:
    """Id 2 with two class words (0 and 1) was let through, to be counted as a class no answer can name."""
    from agriseg.text.dataset import check_class_ids

    check_class_ids(np.array([[0, 1, 255]]), ["others", "field"], "m.png")  # 255 is nodata
    with pytest.raises(ValueError, match=r"m\.png: class ids \[2\] outside the 2 class names"):
        check_class_ids(np.array([[0, 1, 2]]), ["others", "field"], "m.png")


def test_an_answer_longer_than_the_models_context_is_refused(tiny: Path, tmp_path: Path) -> None:
    """Found by a bad-input sweep (session 78): --max-new-tokens 100000000 generated on one tiny image until killed."""
    res = _predict(tiny, tmp_path / "p", "--classes", CLASSES, "--max-new-tokens", "100000000")
    line = _one_line_error(res)
    assert res.exit_code == 2 and "--max-new-tokens 100000000: more than" in line and "give at most 2048" in line
    assert not (tmp_path / "p").exists()


def test_an_empty_data_set_or_a_row_edited_by_hand_is_named_before_training(tmp_path: Path) -> None:
    """`text sft` / `grpo` on a data set of no rows printed datasets' IndexError traceback; a row whose truth is
    not JSON gave "Expecting property name ..." naming neither the folder nor the row (session 79's sweep)."""
    from datasets import Dataset

    from agriseg.config import OptionError
    from agriseg.text.sft import dataset_meta, load_dataset_dir

    row = {
        "prompt": [[{"role": "user", "content": "x"}]],
        "completion": [[{"role": "assistant", "content": "y"}]],
        "images": [[]],
        "truth": ["[[0, 1], [1, 0]]"],
        "box": [[0, 0, 8, 8]],
        "class_names": ['["a", "b"]'],
    }
    Dataset.from_dict({k: v[:0] for k, v in row.items()}).save_to_disk(str(tmp_path / "empty"))
    with pytest.raises(OptionError, match=f"{tmp_path / 'empty'}: holds no samples"):
        load_dataset_dir(str(tmp_path / "empty"))
    two = {k: v * 2 for k, v in row.items()}
    two["truth"] = ["[[0, 1], [1, 0]]", "{not json"]
    Dataset.from_dict(two).save_to_disk(str(tmp_path / "edited"))
    ds = load_dataset_dir(str(tmp_path / "edited"))
    with pytest.raises(OptionError, match=f"{tmp_path / 'edited'}: row 2, truth is not the JSON"):
        dataset_meta(ds, tmp_path / "edited")
    assert dataset_meta(ds.select([0]), "x")["class_names"] == ["a", "b"]
    (tmp_path / "c.yaml").write_text("x: 1\n")  # a file given as the data set was "dataset folder not found"
    with pytest.raises(OptionError, match=r"c\.yaml: a file, not a data set folder"):
        load_dataset_dir(str(tmp_path / "c.yaml"))


def test_predict_takes_a_numbered_gpu_as_the_other_pipelines_do() -> None:
    """``text predict --device cuda:1`` was refused ("not one of auto, cpu, cuda") where crop and fields take it
    (CLI review, session 81); a device this machine lacks is still named before any model loads."""
    import torch

    from agriseg.config import OptionError
    from agriseg.text.config import TextPredictConfig
    from agriseg.text.modeling import resolve_device

    assert TextPredictConfig(device="cuda:1").device == "cuda:1"
    with pytest.raises(ValueError, match="not a torch device"):
        TextPredictConfig(device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="--device cuda:1"):
            resolve_device("cuda:1")
    assert resolve_device("cpu") == "cpu"


def test_a_resume_that_makes_nothing_new_keeps_run_json(tiny: Path, tmp_path: Path, answering: str) -> None:
    """An image that fails beside one predicted before: the resume (0 predicted, 1 skipped, 1 failed) deleted the
    run.json that described the predicted one (session 82's sweep of users' own tiles)."""
    out = tmp_path / "p"
    assert _predict(tiny, out, "--classes", CLASSES).exit_code == 0
    before = json.loads((out / "run.json").read_text())
    (tmp_path / "broken.png").write_bytes(b"not an image")
    res = _predict(tiny, out, tmp_path / "broken.png", "--classes", CLASSES)
    assert res.exit_code == 1 and "1 skipped, 1 failed" in res.output, res.output
    assert json.loads((out / "run.json").read_text()) == before


def test_an_all_background_mask_from_repaired_answers_is_warned_about(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Masks all background from answers the decoder had to repair said only "0/4 tiles well-formed": nothing
    said the result was empty (session 82's sweep); a mask with no text at all was warned about already."""
    import numpy as np

    import agriseg.text.infer as infer
    from agriseg.text.codec import decode_rrle

    def broken(model, processor, img, names, cfg, progress=None):  # noqa: ANN001, ANN202, ARG001
        grid, report = decode_rrle("others *2| field", (4, 4), names)  # a short, repaired answer
        return np.zeros(img.shape[:2], np.int64), [infer.PatchPrediction((0, 0, 8, 8), "x", grid, report)]

    monkeypatch.setattr(infer, "predict_image", broken)
    res = _predict(tiny, tmp_path / "p", "--classes", CLASSES)
    assert res.exit_code == 0, res.output
    assert "scene.png: its mask is all background, and its one tile's answer needed repair (see its .json)" in (
        res.output
    )
    assert "tiles well-formed" not in res.output  # its repairs said once, with its empty mask (session 101)


def test_all_background_masks_are_said_three_by_name_then_counted() -> None:
    """Session 106's sweep: 40 images of a weak model gave 40 lines of "its mask is all background", where the
    repaired tiles' note stopped at 5 names; "1 of 1 tiles" read oddly. Session 107's: the 5 named lines were cut
    again to 3 by the CLI's collapse of warnings ("2 more files: its mask is all background ..." beside "... and
    1 more image"): one count of lines named, the CLI's."""
    from agriseg.cli.errors import collapse_warnings
    from agriseg.text.infer import empty_masks_said

    rows = [{"file": f"t/{i}.png", "patches": 4, "empty_repaired": 4 if i else 1} for i in range(7)]
    said = empty_masks_said(rows)
    assert len(said) == 4 and all(s.startswith("warning: ") for s in said), said
    assert "t/0.png: its mask is all background, and 1 of its 4 tiles' answers needed repair" in said[0]
    assert "t/1.png: its mask is all background, and all 4 tiles' answers needed repair" in said[1]
    assert said[-1] == (
        "warning: ... and 4 more images whose masks are all background from repaired answers (see their .json)"
    )
    assert collapse_warnings(said) == said


def test_two_runs_into_one_folder_are_never_scored_as_one(tiny: Path, tmp_path: Path, answering: str) -> None:
    """Session 85's text sweep: a second `text predict` into a folder (another class order) rewrote run.json,
    and `text evaluate` then read the first run's ids by the second run's words: wrong scores, exit 0."""
    other = tmp_path / "scene2.png"
    shutil.copy(tiny / "scene.png", other)
    out = tmp_path / "mixed"
    classes = ",".join(SYNTH_CLASSES)
    turned = ",".join([SYNTH_CLASSES[0], *SYNTH_CLASSES[:0:-1]])  # background first, the others reversed
    assert _predict(tiny, out, "--classes", classes).exit_code == 0
    opts = ["--tile", "8", "--grid", "4", "--max-new-tokens", "8", "--device", "cpu", "--classes", turned]
    res = _run("text", "predict", other, "-m", tiny / "model", "-o", out, *opts)
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    assert run["classes"] == turned.split(",") and run["made_with_other_settings"] == [str(tiny / "scene.png")]
    truth = tmp_path / "truth"
    truth.mkdir()
    for n in ("scene", "scene2"):
        Image.fromarray(np.ones((16, 16), np.uint8)).save(truth / f"{n}.png")
    for words in (classes, turned):
        res = _run("text", "evaluate", out, "--masks", truth, "--classes", words)
        assert res.exit_code == 2 and "made by runs with other settings" in _one_line_error(res), res.output
    res = _run("text", "evaluate", out / "scene.png", "--masks", truth, "--classes", classes)  # the first run alone
    assert res.exit_code == 0, res.output
    res = _run("text", "evaluate", out / "scene.png", "--masks", truth, "--classes", turned)
    assert res.exit_code == 2 and f"were made with {classes}" in _one_line_error(res), res.output
    copied = tmp_path / "copied"  # a plain copy leaves out the hidden manifest: run.json alone cannot tell them apart
    copied.mkdir()
    for f in ("scene.png", "scene2.png", "run.json"):
        shutil.copy(out / f, copied / f)
    res = _run("text", "evaluate", copied, "--masks", truth, "--classes", turned)
    assert res.exit_code == 2 and "made with other settings (made_with_other_settings)" in _one_line_error(res)


def test_predict_into_its_own_image_folder_is_a_usage_error(tiny: Path, tmp_path: Path) -> None:
    """Session 85's text sweep: `-o` the image folder failed each image ("is one of the inputs", exit 1) and
    left agriseg's manifest files among the user's images."""
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    shutil.copy(tiny / "scene.png", imgs / "scene.png")
    opts = ["--tile", "8", "--grid", "4", "--max-new-tokens", "8", "--device", "cpu", "--classes", CLASSES]
    res = _run("text", "predict", imgs, "-m", tiny / "model", "-o", imgs, *opts)
    assert res.exit_code == 2 and "is one of the inputs (the file it would be made from)" in _one_line_error(res), (
        res.output
    )
    assert sorted(p.name for p in imgs.iterdir()) == ["scene.png"]


def test_a_users_tile_named_instances_is_scored(tmp_path: Path) -> None:
    """`plot_instances.png` was passed over as if `predict` had written it beside `plot.png`: a wrong prediction
    of that name was never counted, and alone it gave "0 images", exit 0 (session 86's text sweep)."""
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    mask = np.zeros((32, 32), np.uint8)
    mask[4:20, 4:20] = 1
    for name in ("plot_instances", "other"):
        Image.fromarray(mask).save(truth / f"{name}.png")
        Image.fromarray(mask).save(pred / f"{name}.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(pred / "plot_instances.png")  # all wrong
    report = tmp_path / "r.json"
    res = _run("text", "evaluate", pred, "--masks", truth, "--classes", "others,field", "-o", report)
    assert res.exit_code == 0, res.output
    got = json.loads(report.read_text())
    assert got["images"] == 2 and got["per_class"]["field"]["iou"] == pytest.approx(0.5)


def test_a_lora_adapter_of_an_adapter_that_would_lose_it_is_refused(tmp_path: Path) -> None:
    """The review of session 87: LoRA training from an adapter folder (merged when loaded) with merge_on_save false
    saved an adapter naming the first base: loaded, it lost the starting adapter's training without a word."""
    from agriseg.config import OptionError
    from agriseg.text.config import SFTRunConfig
    from agriseg.text.sft import prepare_run

    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text('{"base_model_name_or_path": "/x"}')
    cfg = SFTRunConfig.model_validate(
        {
            "model": str(tmp_path / "adapter"),
            "dataset": str(tmp_path / "d"),
            "output_dir": str(tmp_path / "o"),
            "lora": {"merge_on_save": False},
        }  # fmt: skip
    )
    with pytest.raises(OptionError, match="is itself a LoRA adapter, merged when loaded; an adapter of it would"):
        prepare_run(cfg)


def test_an_image_without_mask_text_in_any_tile_fails_as_an_item(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session 88's sweep: an image for which the model wrote no mask text in any tile was written as an
    all-background mask (exit 0, also with --strict) and `text evaluate` scored it as a prediction. It fails as
    an item now, with nothing written; tiles without mask text among others are said apart from repairs."""
    import agriseg.text.infer as infer

    res = _predict(tiny, tmp_path / "p", "--classes", CLASSES)  # the random tiny model writes no mask text
    assert res.exit_code == 1 and "0 predicted, 0 skipped, 1 failed" in res.output, res.output
    assert "scene.png: the model wrote no mask text for any of its 4 tiles" in res.output
    assert not (tmp_path / "p" / "scene.png").exists()
    res = _predict(tiny, tmp_path / "s", "--classes", CLASSES, "--strict")
    assert res.exit_code == 1 and "no mask text" in res.output and not (tmp_path / "s" / "scene.png").exists()

    grid = np.zeros((4, 4), np.int64)
    grid[:, 2:] = 1
    from agriseg.text.codec import encode_answer

    answer = encode_answer(grid, SYNTH_CLASSES)
    monkeypatch.setattr(infer, "generate_batch", lambda *a, **k: [answer, "no mask", "", "no"][: len(a[3])])
    res = _predict(tiny, tmp_path / "q", "--classes", CLASSES, "--batch-size", "4")
    assert res.exit_code == 0 and "1 predicted" in res.output, res.output
    assert "1 of 4 tiles well-formed (3 without mask text, drawn as background; see its .json)" in res.output


def test_an_image_beyond_memory_fails_alone_in_a_batch(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answering: str
) -> None:
    """Session 88's sweep: one image too large for the memory refused the whole batch (exit 2); it fails as an
    item now and the others are predicted."""
    import agriseg.data.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 2**20)  # 1 MiB free
    monkeypatch.delenv(memory.OVERRIDE, raising=False)
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((400, 600, 3), np.uint8)).save(big)
    res = _predict(tiny, tmp_path / "p", "--classes", CLASSES, big)
    assert res.exit_code == 1 and "1 predicted, 0 skipped, 1 failed" in res.output, res.output
    assert f"{big} (600 x 400 px) would need about" in res.output and (tmp_path / "p" / "scene.png").is_file()


def test_an_earlier_all_background_mask_of_no_mask_text_is_not_resumed(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session 89's review: outputs agriseg wrote before an image without mask text failed as an item (an
    all-background mask) were resumed as a prediction by a re-run; they are made again (and fail now)."""
    from agriseg.text.codec import DecodeReport

    with monkeypatch.context() as m:  # agriseg before session 89: no mask text went on to a mask
        m.setattr(DecodeReport, "kinds", lambda self: set())
        res = _predict(tiny, tmp_path / "p", "--classes", CLASSES)
    assert res.exit_code == 0 and "1 predicted" in res.output, res.output
    assert "no_mask" in (tmp_path / "p" / "scene.json").read_text()
    res = _predict(tiny, tmp_path / "p", "--classes", CLASSES)
    assert res.exit_code == 1 and "0 predicted, 0 skipped, 1 failed" in res.output, res.output
    assert "no mask text" in res.output


def test_evaluate_says_truths_without_a_prediction_and_an_ignored_class(
    masks: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Session 89's text sweep: predictions for 1 of 2 truths scored as complete, without a word (a predict run
    that half failed scored perfectly); --ignore-value 0, the id of the first class, dropped it silently."""
    import logging

    from agriseg.text.metrics import evaluate_files

    pred, truth = masks
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        report = evaluate_files([pred / "m0.png"], truth, list(SYNTH_CLASSES))
    assert report["images"] == 1 and report["truths_without_prediction"] == [str(truth / "m1.png")]
    assert f"1 of the 2 truth masks in {truth} have no prediction (m1.png)" in caplog.text
    caplog.clear()  # a prediction without a truth fails: the count said is of the images scored (session 98's check)
    import shutil

    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(pred / "m0.png", other / "m0.png"), shutil.copy(pred / "m0.png", other / "x.png")
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        report = evaluate_files([other / "m0.png", other / "x.png"], truth, list(SYNTH_CLASSES))
    assert report["images"] == 1 and "left out of the scores (1 image scored)" in caplog.text, caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        evaluate_files(sorted(pred.iterdir()), truth, list(SYNTH_CLASSES), ignore_value=0)
    assert "--ignore-value 0 is the id of class 'others'" in caplog.text and "no prediction" not in caplog.text


def test_a_users_folder_as_an_output_is_said_at_once(tmp_path: Path) -> None:
    """Session 89's text sweep: `text make-synthetic -o userdir` said "exists (use --overwrite)", and the
    --overwrite it advised was then refused: the folder is the user's; said at once."""
    folder = tmp_path / "userdir"
    (folder / "images").mkdir(parents=True)
    (folder / "notes.txt").write_text("important")
    res = _run("text", "make-synthetic", "-o", folder, "-n", "2", "--size", "16")
    assert res.exit_code == 2 and "a folder agriseg did not write (it holds images, notes.txt)" in _one_line_error(res)
    assert (folder / "notes.txt").read_text() == "important"


def test_bands_without_a_raster_to_read_them_is_a_usage_error(tmp_path: Path, tiny: Path) -> None:
    """Session 89's text sweep: `--bands` on PNG images failed every image ("--bands applies to GeoTIFF and JPEG
    2000 files only", exit 1) instead of one usage error."""
    _, sems, _ = make_landscapes(1, 3, LandscapeConfig(size=16))
    for d in ("i", "m"):
        (tmp_path / d).mkdir()
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / "i" / "a.png")
    Image.fromarray(sems[0].astype(np.uint8)).save(tmp_path / "m" / "a.png")
    args = ["--classes", CLASSES, "--tile", "8", "--grid", "4", "--bands", "1,2,3"]
    res = _run("text", "dataset", tmp_path / "i", "--masks", tmp_path / "m", "-o", tmp_path / "ds", *args)
    assert res.exit_code == 2 and "--bands 1,2,3: applies to GeoTIFF and JPEG 2000 files; none of the 1 images" in (
        _one_line_error(res)
    )
    res = _predict(tiny, tmp_path / "p", "--classes", CLASSES, "--bands", "1,2,3")
    assert res.exit_code == 2 and "--bands 1,2,3: applies to GeoTIFF" in _one_line_error(res)


def test_evaluate_names_an_empty_or_unreadable_mask_in_plain_words(masks: tuple[Path, Path], tmp_path: Path) -> None:
    """Session 90's sweep: ``cannot read mask (cannot identify image file '...')``, Pillow's words."""
    pred, truth = masks
    (pred / "m1.png").write_bytes(b"")
    (truth / "m2.png").write_bytes((truth / "m0.png").read_bytes())
    (pred / "m2.png").write_text("not a picture")
    res = _run("text", "evaluate", pred, "--masks", truth, "--classes", "others,field,tree,water")
    assert res.exit_code == 1, res.output
    assert f"{pred / 'm1.png'}: empty file (0 bytes)" in res.output
    assert f"{pred / 'm2.png'}: not a readable mask" in res.output and "identify" not in res.output


def test_predictions_of_more_classes_than_given_are_a_usage_error(tmp_path: Path) -> None:
    """Every prediction with an id beyond --classes exited 1 with "Error: nothing to score" while the same for the
    truths was a usage error (exit 2); one among good ones fails alone (session 99's sweep)."""
    (tmp_path / "p").mkdir()
    (tmp_path / "lab").mkdir()
    pred, truth = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    pred[:4], truth[:4] = 3, 1
    Image.fromarray(pred).save(tmp_path / "p" / "a.png")
    Image.fromarray(truth).save(tmp_path / "lab" / "a.png")
    res = _run("text", "evaluate", tmp_path / "p" / "a.png", "--masks", tmp_path / "lab", "--classes", "others,field")
    assert res.exit_code == 2 and "a.png: predicted class id 3 beyond the 2 classes given" in res.output, res.output
    Image.fromarray(truth).save(tmp_path / "p" / "b.png")
    Image.fromarray(truth).save(tmp_path / "lab" / "b.png")
    res = _run("text", "evaluate", tmp_path / "p", "--masks", tmp_path / "lab", "--classes", "others,field")
    assert res.exit_code == 1 and "failed: " in res.output and "beyond the 2 classes" in res.output, res.output


def test_a_row_of_other_images_grid_or_classes_is_named_before_training(tmp_path: Path) -> None:
    """Session 105's sweep: a row whose image was None printed a traceback mid-run ("only a single or a list of
    entries is supported"); one image for two placeholders, a ragged or 8x8 truth in a 4x4 set, class id 9 and
    other class names stopped GRPO after the model loaded, in numpy's words, or trained on without a word."""
    import io
    import re

    from datasets import Dataset, Sequence
    from datasets import Image as ImageFeature

    from agriseg.config import OptionError
    from agriseg.text.sft import dataset_meta

    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    pic = {"bytes": png.getvalue(), "path": None}  # as Arrow holds an image, cast to datasets' Image below
    prompt = [{"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": "x"}]}]
    row = {"prompt": prompt, "completion": [{"role": "assistant", "content": "y"}], "images": [pic],
           "truth": "[[0, 1], [1, 0]]", "box": [0, 0, 8, 8], "class_names": '["a", "b"]'}  # fmt: skip

    def data_set(**edits: object) -> Dataset:
        rows = [row, {**row, **edits}]
        return Dataset.from_list(rows).cast_column("images", Sequence(ImageFeature()))

    assert dataset_meta(data_set(), "d")["grid"] == 2
    for edits, said in (
        ({"images": [pic, pic]}, "d: row 2 has 2 image(s) for the 1 its prompt shows"),
        ({"truth": "[[0, 1], [1]]"}, "d: row 2, truth is not a square grid of class ids"),
        ({"truth": "[[0, 1, 0], [1, 0, 0], [0, 0, 0]]"}, "d: row 2, truth is a 3x3 grid, not row 1's 2x2"),
        ({"truth": "[[0, 9], [1, 0]]"}, "d: row 2, truth holds 9, not a class id 0-1 of its class_names"),
        ({"truth": '[[0, "a"], [1, 0]]'}, 'd: row 2, truth holds "a", not a class id 0-1'),
        ({"class_names": '["a", "c"]'}, "d: row 2, class_names are a, c, not row 1's a, b"),
    ):
        with pytest.raises(OptionError, match=re.escape(said)):
            dataset_meta(data_set(**edits), "d")
    missing = Dataset.from_dict({k: [v, v] for k, v in row.items() if k != "images"})
    missing = missing.add_column("images", [[pic], [None]]).cast_column("images", Sequence(ImageFeature()))
    with pytest.raises(OptionError, match=re.escape("d: row 2 has an image missing (null)")):
        dataset_meta(missing, "d")


def test_make_synthetic_and_tiny_model_never_replace_a_model_or_a_data_set(tmp_path: Path) -> None:
    """Session 106's sweep: `text make-synthetic -o <an sft model> --overwrite` deleted the trained model, and
    `text tiny-model -o <it> --overwrite` put random weights over it; both replaced a `text dataset` folder too."""
    trained, data = tmp_path / "trained", tmp_path / "data"
    trained.mkdir()
    data.mkdir()
    for name in ("agriseg_text.json", "agriseg_train_config.json", "config.json"):
        (trained / name).write_text("{}")
    (trained / "model.safetensors").write_bytes(b"weights")
    (data / "dataset_info.json").write_text("{}")
    (data / "state.json").write_text("{}")
    synth = ["-n", "2", "--size", "16"]
    for cmd, said in (
        (["text", "make-synthetic", "-o", trained, *synth], "holds a model (agriseg_text.json), not a generated set"),
        (["text", "make-synthetic", "-o", data, *synth], "holds a data set (dataset_info.json), not a generated set"),
        (["text", "tiny-model", "-o", trained], "holds a trained model (agriseg_train_config.json)"),
        (["text", "tiny-model", "-o", data], "holds a data set (dataset_info.json), not a model"),
    ):  # fmt: skip
        res = _run(*cmd, "--overwrite")
        assert res.exit_code == 2 and said in _one_line_error(res), res.output
    assert (trained / "model.safetensors").read_bytes() == b"weights" and (data / "state.json").is_file()
