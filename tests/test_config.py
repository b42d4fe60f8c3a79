"""The one config loader: --set overrides (agriseg.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agriseg.config import ConfigError, apply_overrides, as_config, load_config
from agriseg.text.config import SFTRunConfig

REPO = Path(__file__).resolve().parents[1]


def test_overrides_set_paths_and_nested_values_without_editing_the_file() -> None:
    cfg = load_config(
        REPO / "configs/text/tiny_demo_sft.yaml",
        SFTRunConfig,
        ["dataset=my/data", "output_dir=my/out", "max_steps=7", "lora.enabled=true", "lora.r=4"],
    )
    assert str(cfg.dataset) == "my/data" and str(cfg.output_dir) == "my/out" and cfg.max_steps == 7
    assert cfg.lora.enabled and cfg.lora.r == 4


def test_a_group_given_as_a_mapping_keeps_the_files_other_options_in_it(tmp_path: Path) -> None:
    """``--set 'lora={r: 4}'`` replaced the group: the file's ``lora: {enabled: false}`` dropped unsaid, a full
    fine-tune turned into LoRA (session 103's sweep); a mapping that is one option's value is replaced."""
    from agriseg.crop.config import CropTrainConfig

    cfg = load_config(REPO / "configs/text/tiny_demo_sft.yaml", SFTRunConfig, ["lora={r: 4}"])
    assert not cfg.lora.enabled and cfg.lora.r == 4
    crop = load_config(REPO / "configs/crop/peanut_vegetation.yaml", CropTrainConfig,
                       ["data.colormap={'1,1,1': 1}", "train={epochs: 2}"])  # fmt: skip
    assert crop.data.colormap == {"1,1,1": 1} and crop.train.epochs == 2 and crop.train.lr == 0.002
    # the file's own mistake in that group is the file's, not the override's (its review)
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {images: a, labels: b}\ntrain: {epochs: 2, lr: -1}\n")
    with pytest.raises(ConfigError, match=r"invalid config: train.lr: Input should be greater than 0"):
        load_config(bad, CropTrainConfig, ["train={epochs: 3}"])
    with pytest.raises(ConfigError, match=r"invalid config: --set train.lr: Input should be greater than 0 \(got -2\)"):
        load_config(bad, CropTrainConfig, ["train={lr: -2}"])


def test_a_group_left_empty_in_the_file_takes_set_values(tmp_path: Path) -> None:
    """``lora:`` with nothing under it loads as null; ``--set lora.r=4`` said "lora is not a group of options"."""
    text = (REPO / "configs/text/tiny_demo_sft.yaml").read_text()
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(text.replace("lora: {enabled: false}", "lora:"))
    cfg = load_config(cfg_file, SFTRunConfig, ["lora.r=4"])
    assert cfg.lora.r == 4
    # and without an override: the group's defaults ("lora: Input should be a valid dictionary or instance of
    # LoraAdapterConfig (got None)", session 94's sweep)
    assert load_config(cfg_file, SFTRunConfig).lora.r == 16


def test_bad_overrides_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="expected key=value"):
        apply_overrides({}, ["max_steps"])
    with pytest.raises(ValueError, match="max_steps is not a group"):
        apply_overrides({"max_steps": 3}, ["max_steps.x=1"])
    # --set train=5, then the value a flag sets (train.max_steps=2): the error named the flag's, not the user's
    with pytest.raises(ConfigError, match=r"--set 'train=5': train is a group of options, not a value"):
        apply_overrides({"train": {"lr": 1}}, ["train=5", "train.max_steps=2"])
    with pytest.raises(ConfigError, match=r"invalid config: --set max_stepz: not an option \(did you mean max_steps"):
        load_config(REPO / "configs/text/tiny_demo_sft.yaml", SFTRunConfig, ["max_stepz=3"])
    with pytest.raises(ConfigError, match=r"invalid config: --set max_steps: .*\(got 'abc'\)$"):
        load_config(REPO / "configs/text/tiny_demo_sft.yaml", SFTRunConfig, ["max_steps=abc"])


def test_unreadable_config_files_are_one_line_usage_errors(tmp_path: Path) -> None:
    """Binary files and YAML syntax errors: one line naming the file (exit status 2 on the command line)."""
    from click.testing import CliRunner

    from agriseg.cli import main

    binary, broken, bad = tmp_path / "b.yaml", tmp_path / "c.yaml", tmp_path / "d.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    broken.write_text("name: x\n  bad: [indent\n")
    bad.write_text("train:\n  lr: .nan\n")
    with pytest.raises(ConfigError, match=r"b\.yaml: not a YAML text file"):
        load_config(binary, SFTRunConfig)
    with pytest.raises(ConfigError, match=r"c\.yaml: not valid YAML: .* \(line 2, column \d+\)$"):
        load_config(broken, SFTRunConfig)
    for cfg in (binary, broken, bad):
        res = CliRunner().invoke(main, ["crop", "train", "-c", str(cfg)])
        assert res.exit_code == 2 and f"Error: {cfg}: " in res.output and "Traceback" not in res.output, res.output
    res = CliRunner().invoke(
        main, ["crop", "make-synthetic", "discs", "-o", str(tmp_path / "s"), "--seed", "99999999999"]
    )
    assert res.exit_code == 2 and "--seed': 99999999999 is not in the range 0<=x<=4294967295" in res.output, res.output
    assert "pydantic" not in res.output and not (tmp_path / "s").exists()


def test_a_flags_list_names_which_value_is_bad_or_missing() -> None:
    """Found by a bad-input sweep (session 58): ``--fields-per-chip.0: ... Field required`` leaked pydantic's path."""
    from click.testing import CliRunner

    from agriseg.cli import main

    res = CliRunner().invoke(main, ["fields", "make-synthetic", "-o", "unused", "--fields-per-chip", "3"])
    assert res.exit_code == 2, res.output
    assert "--fields-per-chip: value 2 is missing (give the values comma-separated)" in res.output
    res = CliRunner().invoke(main, ["fields", "make-synthetic", "-o", "unused", "--fields-per-chip", "3,a"])
    assert res.exit_code == 2 and "--fields-per-chip (value 2): Input should be a valid integer" in res.output
    assert "--fields-per-chip.1" not in res.output


# ----------------------------------------------------------------------------------------------------------
# session 66: the config sweep's finds, each a test that fails on the old code


def test_an_override_that_is_not_yaml_or_has_an_empty_key_part_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"--set 'train.epochs=\[1,': the value is not valid YAML"):
        apply_overrides({}, ["train.epochs=[1,"])
    with pytest.raises(ConfigError, match="has an empty part"):
        apply_overrides({}, [".=1"])


def test_a_key_given_twice_in_a_file_is_refused_naming_both_lines(tmp_path: Path) -> None:
    """PyYAML kept the last ``train:`` group without a word: the first group's options vanished."""
    path = tmp_path / "dup.yaml"
    path.write_text("model: m\ndataset: d\noutput_dir: o\nlora:\n  r: 4\nmax_steps: 3\nlora:\n  alpha: 8\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml: key 'lora' is given twice \(lines 4 and 7\)"):
        load_config(path, SFTRunConfig)


def test_a_tilde_is_the_home_folder_in_the_file_and_in_overrides(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "c.yaml"
    path.write_text("model: ~/m\ndataset: d\noutput_dir: ~/out\n")
    cfg = load_config(path, SFTRunConfig, ["dataset=~/data"])
    assert (cfg.model, cfg.dataset, cfg.output_dir) == (f"{tmp_path}/m", f"{tmp_path}/data", f"{tmp_path}/out")


def test_an_empty_output_dir_or_zero_steps_is_refused(tmp_path: Path) -> None:
    """``output_dir=`` wrote the run into the working directory; ``max_steps=0`` trained one step."""
    path = tmp_path / "c.yaml"
    path.write_text("model: m\ndataset: d\noutput_dir: o\n")
    with pytest.raises(ConfigError, match="--set output_dir: empty: give a value"):
        load_config(path, SFTRunConfig, ["output_dir="])
    with pytest.raises(ConfigError, match="--set max_steps: 0 steps trains nothing"):
        load_config(path, SFTRunConfig, ["max_steps=0"])


def test_a_check_across_a_group_is_not_blamed_on_another_key_set_in_it(tmp_path: Path) -> None:
    from agriseg.crop.config import CropTrainConfig

    path = tmp_path / "c.yaml"
    path.write_text("data: {images: i, labels: l}\nmodel: {mean: [0.5]}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, CropTrainConfig, ["model.infer_long_side=640"])
    assert "model: mean and std need 3 values each" in str(err.value) and "--set" not in str(err.value)
    with pytest.raises(ConfigError, match=r"--set model\.std\.0: Input should be greater than 0"):  # the cause
        load_config(tmp_path / "c.yaml", CropTrainConfig, ["model.mean=[0.5,0.5,0.5]", "model.std=[0,1,1]"])


def test_a_config_is_taken_as_itself_a_dict_or_none() -> None:
    from agriseg.config import as_config
    from agriseg.crop.config import CropPredictConfig

    cfg = CropPredictConfig(overlap=0.5)
    assert as_config(CropPredictConfig, None) == CropPredictConfig()
    assert as_config(CropPredictConfig, {"overlap": 0.5}) == cfg and as_config(CropPredictConfig, cfg) is cfg
    with pytest.raises(TypeError, match="a CropPredictConfig, a dict of its fields or None, not str"):
        as_config(CropPredictConfig, "long_side=3")


def test_config_errors_name_the_nearest_options_and_merge_choices(tmp_path: Path) -> None:
    """A misspelt key read "Extra inputs are not permitted", a model name that is no choice showed pydantic's
    union tags (``model.arch.literal['unet','fpn','upernet']``), and a list given for a number hid what it got."""
    from agriseg.crop.config import CropTrainConfig

    path = tmp_path / "c.yaml"
    path.write_text("trian: {}\ntrain: {epoch: 3, batch_size: [2]}\nmodel: {arch: unetx}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, CropTrainConfig)
    msg = str(err.value)
    assert "trian: not an option (did you mean train?)" in msg
    assert "train.epoch: not an option (did you mean epochs?)" in msg
    assert "train.batch_size: Input should be a valid integer (got [2])" in msg
    assert "model.arch: Input should be one of 'unet', 'fpn', 'upernet', 'smp_unet' (got 'unetx')" in msg
    assert "literal[" not in msg and "Extra inputs" not in msg


@pytest.mark.parametrize(
    ("text", "overrides", "says"),
    [
        ("? [a, b]\n: 1\n", [], r"c\.yaml: line 1: a list or mapping is used as a key"),  # was a TypeError
        ("a: &x [*x]\n", [], r"c\.yaml: a YAML anchor is used inside its own value"),  # was a RecursionError
        ("max_steps: 3\n", ["lora=&x [*x]"], r"c\.yaml: a YAML anchor is used inside its own value"),
    ],
)
def test_yaml_no_option_can_take_is_one_line_naming_the_file(
    tmp_path: Path, text: str, overrides: list[str], says: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=says):
        load_config(path, SFTRunConfig, overrides)


# ----------------------------------------------------------------------------------------------------------
# the config/runtime/models/plots mutation sweep's survivors, each a test that fails with its mutation


def test_an_override_value_may_hold_an_equals_sign() -> None:
    """``--set name=a=b`` splits at the first ``=``: at the last, the key would be ``name=a`` and the value ``b``."""
    assert apply_overrides({}, ["name=a=b", "train.note=x=1=2"]) == {"name": "a=b", "train": {"note": "x=1=2"}}


def test_a_quoted_tilde_alone_is_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``output_dir: "~"`` (a bare ``~`` is YAML's null) is the home folder, not a folder named ``~``."""
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "c.yaml"
    path.write_text('model: "~"\ndataset: d\noutput_dir: o\n')
    cfg = load_config(path, SFTRunConfig, ["output_dir='~'"])
    assert (cfg.model, cfg.output_dir) == (str(tmp_path), str(tmp_path))
    assert load_config(path, SFTRunConfig, ["output_dir=~x"]).output_dir == "~x"  # not a home: kept as written


def test_a_typo_close_to_two_options_names_both(tmp_path: Path) -> None:
    """``max_time`` meant ``max_minutes``: offering only the nearest name would read "did you mean max_steps?"."""
    from agriseg.crop.config import CropTrainConfig

    path = tmp_path / "c.yaml"
    path.write_text("data: {images: i, labels: l}\ntrain: {max_time: 5}\n")
    with pytest.raises(ConfigError, match=r"train\.max_time: not an option \(did you mean max_steps or max_minutes\?"):
        load_config(path, CropTrainConfig)


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("agriseg.text.config", "LoraSpec", "LoraAdapterConfig"),
        ("agriseg.text.dataset", "PatchSpec", "PatchConfig"),
        ("agriseg.fields.config", "PreprocessSpec", "PreprocessConfig"),
        ("agriseg.crop.pseudolabel.pipeline", "PseudoLabelOptions", "PseudoLabelConfig"),
        ("agriseg.crop.selftrain", "TrimapSpec", "TrimapConfig"),
        ("agriseg.crop.selftrain", "DataSpec", "SelfTrainDataConfig"),
        ("agriseg.crop.selftrain", "EvalSpec", "SelfTrainEvalConfig"),
    ],
)
def test_a_renamed_public_class_is_still_importable_with_a_deprecation_warning(module: str, old: str, new: str) -> None:
    """A user's ``from agriseg.text.config import LoraSpec`` must keep working for one release, and say the new name."""
    import importlib

    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{old} is now {new}"):
        cls = getattr(mod, old)
    assert cls is getattr(mod, new)
    with pytest.raises(AttributeError, match=f"has no attribute 'NoSuch{old}'"):
        getattr(mod, f"NoSuch{old}")


def test_updates_to_a_config_are_validated_again() -> None:
    """``model_copy(update=...)`` would let a negative learning rate (or a nan) through to the optimiser."""
    from pydantic import ValidationError

    from agriseg.config import with_updates
    from agriseg.training.config import TrainOptions

    base = TrainOptions()
    assert with_updates(base, {"lr": 0.5}).lr == 0.5 and base.lr == 1e-3
    for bad in ({"lr": -1}, {"lr": float("nan")}, {"epochs": 0}):
        with pytest.raises(ValidationError):
            with_updates(base, bad)


def test_an_empty_config_file_is_said_to_be_empty(tmp_path: Path) -> None:
    """An empty file (or one of comments only) read "invalid config: model: Field required" (session 83)."""
    for text in ("", "# to fill in\n"):
        (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=r"c\.yaml: an empty config file \(.*Field required"):
            load_config(tmp_path / "c.yaml", SFTRunConfig)


def test_a_value_no_member_of_a_union_takes_is_one_error() -> None:
    """``train.limit_train_batches=1.5`` (a fraction or a whole number of batches) read as two errors of pydantic's
    members, ``limit_train_batches.constrained-float: ...; limit_train_batches.constrained-int: ...``
    (session 84's sweep)."""
    from typing import Annotated

    from pydantic import BaseModel, Field, ValidationError

    from agriseg.config import describe_errors

    class Train(BaseModel):
        limit: Annotated[float, Field(gt=0, le=1)] | Annotated[int, Field(ge=1)] = 1.0

    try:
        Train(limit=1.5)
    except ValidationError as err:
        said = describe_errors(err)
    assert said.count("limit") == 1 and "constrained" not in said, said
    assert said.startswith("limit: Input should be less than or equal to 1, or input should be a valid integer"), said


def test_a_renamed_name_warns_once_where_the_user_imports_it(tmp_path) -> None:
    """Session 85's API sweep: `from agriseg.fields import PreprocessSpec` showed no DeprecationWarning under
    Python's default filters (it was attributed to agriseg's lazy package __getattr__), and twice with -W always."""
    import subprocess
    import sys

    script = tmp_path / "old.py"
    script.write_text("from agriseg.fields import PreprocessSpec\n")
    for flags in ([], ["-W", "always"]):
        done = subprocess.run([sys.executable, *flags, str(script)], capture_output=True, text=True)
        said = [line for line in done.stderr.splitlines() if "DeprecationWarning" in line]
        assert done.returncode == 0 and len(said) == 1 and said[0].startswith(f"{script}:1: "), done.stderr


def test_a_misspelt_key_given_to_the_python_api_names_the_near_ones() -> None:
    """Session 87's API sweep: `predict_paths(..., config={"model": "crop-weed"})` raised pydantic's "Extra
    inputs are not permitted" where the field is `model_name`."""
    from agriseg.config import ConfigError, as_config
    from agriseg.crop.config import CropPredictConfig
    from agriseg.vector.config import PolygonizeConfig

    with pytest.raises(ConfigError, match=r"^config: model: not an option \(did you mean model_name\?\)$"):
        as_config(CropPredictConfig, {"model": "crop-weed"})
    with pytest.raises(ConfigError, match=r"simplfy: not an option \(did you mean simplify\?\)"):
        as_config(PolygonizeConfig, {"simplfy": 1})
    assert as_config(CropPredictConfig, {"model_name": "crop-weed"}).model_name == "crop-weed"


def test_a_config_made_in_python_says_its_problems_in_one_line(tmp_path: Path) -> None:
    """``PredictConfig(patch_size=8)``, as the docs build configs, raised pydantic's four-line dump with a URL
    (session 103's API sweep); still a ``ValidationError`` to code that catches one, and nested configs still
    read their paths against the config file's folder."""
    from pydantic import ValidationError

    from agriseg.config import load_config
    from agriseg.fields import PredictConfig
    from agriseg.fields.config import FieldsTrainConfig

    with pytest.raises(ValidationError) as caught:
        PredictConfig(patch_size=8, patchsize=3)  # type: ignore[call-arg]
    said = str(caught.value)
    assert said == (
        "PredictConfig: patch_size: Input should be greater than or equal to 16 (got 8); "
        "patchsize: not an option (did you mean patch_size or batch_size?)"
    ), said
    assert [e["loc"] for e in caught.value.errors()] == [("patch_size",), ("patchsize",)]
    (tmp_path / "c.yaml").write_text("data: {root: chips}\n")
    assert load_config(tmp_path / "c.yaml", FieldsTrainConfig).data.root == str((tmp_path / "chips").resolve())


def test_a_path_may_be_given_as_a_pathlib_path() -> None:
    """Session 90's API sweep: ``run_traits(..., {"regions": Path("r.csv")})`` was refused ("Input should be a
    valid string"); nested configs take them too."""
    from pathlib import Path

    from agriseg.crop.config import CropTrainConfig, TraitsConfig

    assert TraitsConfig(regions=Path("r.csv")).regions == "r.csv"
    cfg = CropTrainConfig.model_validate({"data": {"images": Path("a"), "labels": Path("b")}})
    assert (cfg.data.images, cfg.data.labels) == ("a", "b")


def test_device_auto_is_a_gpu_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--device auto`` worked in text only (session 91's CLI sweep); crop and fields pick the device too."""
    import torch

    from agriseg.config import device_name
    from agriseg.crop.config import CropPredictConfig

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert CropPredictConfig(device="auto").device == "cpu" and device_name("auto", auto=True) == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_name("auto") == "cuda"


def test_a_name_is_guessed_from_its_parts_when_no_spelling_is_near() -> None:
    """``-m PRUE_B3`` listed every released name but guessed none (``FTW_PRUE_EFNET_B4`` was guessed: a near
    spelling; session 93's sweep)."""
    from agriseg.config import near_names

    names = ["FTW_PRUE_EFNET_B3", "FTW_PRUE_EFNET_B5", "FTW_PRUE_EFNET_B7", "DELINEATE_ANYTHING"]
    assert near_names("PRUE_B3", names) == ["FTW_PRUE_EFNET_B3"]
    assert near_names("efnet", names) == ["FTW_PRUE_EFNET_B3", "FTW_PRUE_EFNET_B5", "FTW_PRUE_EFNET_B7"]
    assert near_names("prue", names + ["FTW_PRUE_X"]) == []  # four hold it: no guess rather than a list
    assert near_names("weed", ["default", "crop-weed"]) == ["crop-weed"]


def test_unknown_keys_list_a_groups_options_once(tmp_path: Path) -> None:
    """Every unknown key repeated the group's whole option list: one line of 1,500 characters."""
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("model: m\ndataset: d\noutput_dir: o\nfoo: 1\nbar: 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, SFTRunConfig)
    said = str(err.value)
    assert said.count("the options here:") == 1 and "foo: not an option (the options here: model," in said
    assert said.endswith("; bar: not an option"), said


def test_blank_paths_and_a_step_count_of_true_are_refused(tmp_path: Path) -> None:
    """``output_dir: "   "`` trained into a folder named three spaces; ``max_steps: true`` trained 1 step;
    ``chat_template: ""`` was read as no template."""
    cfg_file = tmp_path / "c.yaml"
    for line, said in (('output_dir: "   "', "output_dir: give a folder (the value is blank)"),
                       ("max_steps: true", "max_steps: a number, not a yes/no value (true, false, on, off, yes, no)"),
                       ('chat_template: ""', "chat_template: give a template file (the value is blank)")):  # fmt: skip
        cfg_file.write_text(f"model: m\ndataset: d\n{'' if 'output_dir' in line else 'output_dir: o'}\n{line}\n")
        with pytest.raises(ConfigError) as err:
            load_config(cfg_file, SFTRunConfig)
        assert said in str(err.value)


def test_an_empty_group_is_the_fields_own_default(tmp_path: Path) -> None:
    """``model:`` left empty in a fields config read as the crop ModelConfig() (3 channels), not the fields
    default a config without the key gets (the review's find)."""
    import yaml

    from agriseg.fields.config import FieldsTrainConfig

    raw = yaml.safe_load((REPO / "configs/fields/synthetic_lite0_cpu.yaml").read_text())
    raw.pop("model", None)
    (tmp_path / "none.yaml").write_text(yaml.safe_dump({**raw, "model": None}))
    (tmp_path / "out.yaml").write_text(yaml.safe_dump(raw))
    empty, left_out = (load_config(tmp_path / n, FieldsTrainConfig) for n in ("none.yaml", "out.yaml"))
    assert empty.model == left_out.model and empty.model.in_channels == 8


def test_a_group_given_one_value_names_the_group_and_its_options(tmp_path: Path) -> None:
    """`--set train=3` said "Input should be a valid dictionary or instance of TrainConfig (got 3)" (session 95's
    sweep): pydantic's class name, not the option group."""
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("model: m\ndataset: d\noutput_dir: o\nlora: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, SFTRunConfig)
    assert "lora: a group of options, not 3 (its options: enabled, r, alpha, dropout, ...)" in str(err.value)
    assert "LoraAdapterConfig" not in str(err.value)


def test_a_yes_no_value_is_no_number_in_any_config(tmp_path: Path) -> None:
    """``lr: yes`` (YAML's true) passed as a learning rate of 1 and ``epochs: true`` trained one epoch: pydantic
    reads True as 1 (session 96's sweep). Every number field of every config refuses it, naming the key."""
    from agriseg.crop.config import CropTrainConfig, PlotsConfig

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("data: {images: i, labels: l}\ntrain: {lr: yes, epochs: on}\nmodel: {num_classes: true}\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, CropTrainConfig)
    for key in ("train.lr", "train.epochs", "model.num_classes"):
        assert f"{key}: a number, not a yes/no value (true, false, on, off, yes, no)" in str(err.value)
    with pytest.raises(
        ConfigError, match=r"^config: margin: a number, not a yes/no value \(true, false, on, off, yes, no\)$"
    ):
        as_config(PlotsConfig, {"plots": "p.gpkg", "margin": False})  # the Python API's dict of options
    assert PlotsConfig(plots="p.gpkg", margin=3).margin == 3
    with pytest.raises(
        ConfigError, match=r"^config: bands.0: a number, not a yes/no value \(true, false, on, off, yes, no\)$"
    ):
        as_config(PlotsConfig, {"plots": "p.gpkg", "bands": [True, 2, 3]})  # read as bands 1, 2, 3 (the review)
    cfg_file.write_text("data: {images: i, labels: l, extra: [{images: s/i, labels: s/l}]}\n")
    with pytest.raises(ConfigError, match=r"extra is not a group of options"):  # a list of groups: not left out
        load_config(cfg_file, CropTrainConfig, ["data.extra.repeat=3"])


def test_a_group_the_file_gives_one_value_is_the_files_mistake_whatever_the_flags(tmp_path: Path) -> None:
    """``train: [1, 2]`` in the file with ``--max-steps 1`` said "--set 'train.max_steps=1': train is not a group of
    options", naming neither the file nor anything the user typed (session 96's sweep)."""
    from agriseg.crop.config import CropTrainConfig

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("data: {images: i, labels: l}\ntrain: [1, 2]\n")
    for overrides in ((), ("train.max_steps=1",), ("train.epochs=1", "model.num_classes=2")):
        with pytest.raises(ConfigError) as err:
            load_config(cfg_file, CropTrainConfig, overrides)
        assert str(err.value).startswith(f"{cfg_file}: invalid config: train: a group of options, not [1, 2]")
    cfg_file.write_text("data: {images: i, labels: l}\noutput_dir: runs/x\n")
    with pytest.raises(ConfigError, match=r"--set 'output_dir.x=1': output_dir is not a group of options"):
        load_config(cfg_file, CropTrainConfig, ["output_dir.x=1"])  # a value, not a group: the override's mistake


def test_a_path_set_on_the_command_line_is_text_as_typed() -> None:
    """Session 105's sweep: `--set 'output_dir=try #1'` saved into try/ (YAML read `#1` as a comment), and
    `output_dir=2024`, `=yes`, `='a: b'` were refused as "not a valid string"; a number's `#` is said."""
    demo = REPO / "configs/text/tiny_demo_sft.yaml"
    cfg = load_config(demo, SFTRunConfig, ["output_dir=try #1", "dataset=2024", "model=yes", "chat_template=a: b"])
    assert (cfg.output_dir, cfg.dataset, cfg.model, cfg.chat_template) == ("try #1", "2024", "yes", "a: b")
    assert load_config(demo, SFTRunConfig, ["output_dir='x #2'", "lora.r=4"]).output_dir == "x #2"  # quoted
    with pytest.raises(ConfigError, match=r"--set 'max_steps=3 #4': # starts a YAML comment; quote the value"):
        load_config(demo, SFTRunConfig, ["max_steps=3 #4"])
    with pytest.raises(ConfigError, match="max_steps"):
        load_config(demo, SFTRunConfig, ["max_steps=yes"])  # a number's yes/no is still refused


def test_a_path_yaml_reads_as_a_number_says_to_quote_it(tmp_path: Path) -> None:
    """Session 105's sweep: `output_dir: 2024` in a file was "Input should be a valid string (got 2024)"."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: m\ndataset: d\noutput_dir: 2024\n")
    with pytest.raises(ConfigError, match=r"output_dir: .*\(got 2024\): YAML reads it as a number or yes/no; quote"):
        load_config(cfg, SFTRunConfig)


def test_a_group_set_to_null_is_refused_not_reset_to_its_defaults() -> None:
    """Session 105's sweep: `--set lora=null` over the file's `lora: {enabled: false}` trained with LoRA on."""
    demo = REPO / "configs/text/tiny_demo_sft.yaml"
    for value in ("null", "~"):  # (an empty value is refused as a group given a value already)
        with pytest.raises(ConfigError, match=r"lora is a group of options, not a value; .*e.g. lora.enabled=false"):
            load_config(demo, SFTRunConfig, [f"lora={value}"])


def test_lora_target_modules_of_neither_kind_is_one_message() -> None:
    """Session 105's sweep: `lora.target_modules=q_proj` was two messages at odds ("a valid list"; "'all-linear'")."""
    demo = REPO / "configs/text/tiny_demo_sft.yaml"
    for value in ("q_proj", "[]", "[q_proj, 3]"):
        with pytest.raises(ConfigError) as err:
            load_config(demo, SFTRunConfig, [f"lora.target_modules={value}"])
        assert str(err.value).count("target_modules") == 1 and "a list of layer names" in str(err.value), err.value
    assert load_config(demo, SFTRunConfig, ["lora.target_modules=[q_proj]"]).lora.target_modules == ["q_proj"]


def test_list_options_and_optional_groups_are_still_set_from_the_command_line(tmp_path: Path) -> None:
    """Session 105's review: reading a path option's text as typed took `list[str]` for text
    (`--set model.class_names=[soil, crop, weed]` was refused), and refusing a group set to null refused
    selftrain's optional `evaluate=null`; a path that is no YAML (`@runs`, `%TEMP%/x`) was refused."""
    from agriseg.crop.config import CropTrainConfig
    from agriseg.crop.selftrain import SelfTrainConfig

    crop = REPO / "configs/crop/peanut_vegetation.yaml"
    cfg = load_config(crop, CropTrainConfig, ["model.class_names=[soil, crop, weed]", "model.num_classes=3"])
    assert cfg.model.class_names == ["soil", "crop", "weed"]
    raw = apply_overrides({"evaluate": {"images": "a"}}, ["evaluate=null"], model=SelfTrainConfig)
    assert raw["evaluate"] is None
    demo = REPO / "configs/text/tiny_demo_sft.yaml"
    got = load_config(demo, SFTRunConfig, ["output_dir=@runs", "dataset=%TEMP%/x", 'model="a b"', "chat_template=null"])
    assert (got.output_dir, got.dataset, got.model, got.chat_template) == ("@runs", "%TEMP%/x", "a b", None)
