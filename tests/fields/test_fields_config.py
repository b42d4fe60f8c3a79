from __future__ import annotations

import pytest

from agriseg.config import load_config
from agriseg.fields.config import FieldsTrainConfig
from agriseg.fields.task import build_augment, build_loss
from agriseg.models.losses import LogCoshDiceLoss, WeightedCELoss

CONFIGS = ["ftw_baseline_efnetb3", "prue_efnetb7", "prue_lite0_cpu", "synthetic_lite0_cpu"]


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_validate(name: str) -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "configs" / "fields" / f"{name}.yaml"
    cfg = load_config(path, FieldsTrainConfig)
    assert cfg.model.arch == "smp_unet" and cfg.model.in_channels == 8 and cfg.model.num_classes == 3
    loss = build_loss(cfg)
    if name == "ftw_baseline_efnetb3":
        assert isinstance(loss, WeightedCELoss) and cfg.augment.swap_p == 0
    else:
        assert isinstance(loss, LogCoshDiceLoss)
        assert loss.weights.tolist() == pytest.approx([0.05, 0.2, 0.75])
        aug = build_augment(cfg)
        assert aug is not None and aug.cfg.divisor_range == (1500.0, 4500.0) and aug.cfg.swap_p == 0.5
    if name == "prue_efnetb7":
        assert cfg.model.encoder == "efficientnet-b7" and cfg.train.batch_size == 32 and cfg.train.epochs == 100


def _written(tmp_path, text: str):
    (tmp_path / "c.yaml").write_text(text)
    return tmp_path / "c.yaml"


def test_config_checks_channels_and_classes(tmp_path) -> None:
    with pytest.raises(ValueError, match="gives 4 channels"):
        FieldsTrainConfig.model_validate({"data": {"root": "x", "windows": "a"}})
    with pytest.raises(ValueError, match="num_classes=2"):
        FieldsTrainConfig.model_validate({"data": {"root": "x", "target": "2-class"}})
    from agriseg.fields.config import FieldsEvaluateConfig

    with pytest.raises(ValueError, match=r"bootstrap: 0 \(no intervals\) or at least 20 resamples"):
        FieldsEvaluateConfig(bootstrap=1)  # "95% CI [0.5375, 0.5375]" (session 103's sweep)
    # said when the data set was read, without the config file or key (session 103's sweep)
    with pytest.raises(ValueError, match=r"data.train_countries: unknown FTW country 'narnia'"):
        load_config(_written(tmp_path, "data: {root: x, train_countries: [austria, narnia]}\n"), FieldsTrainConfig)
    # said as the model's ("model: 2 class_weights for 3 classes") after the config was read (session 85's sweep)
    with pytest.raises(ValueError, match="loss.class_weights has 2 weights for model.num_classes=3"):
        FieldsTrainConfig.model_validate({"data": {"root": "x"}, "loss": {"class_weights": [1, 2]}})
    # `--set data.train_countries=france` was "Input should be a valid list ...; Input should be 'all'"
    data = {"root": "x", "train_countries": "france", "test_countries": "All"}
    one = FieldsTrainConfig.model_validate({"data": data})
    assert one.data.train_countries == ["france"] and one.data.test_countries == "all"
    two = FieldsTrainConfig.model_validate({"data": {"root": "x", "val_countries": "austria, kenya"}})
    assert two.data.val_countries == ["austria", "kenya"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {root: x}\nloss: {name: focal}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: invalid config"):
        load_config(bad, FieldsTrainConfig)
    good = tmp_path / "good.yaml"
    good.write_text("data: {root: chips}\n")
    assert load_config(good, FieldsTrainConfig).data.root == str((tmp_path / "chips").resolve())


def test_class_names_are_one_per_class_or_ftws() -> None:
    """`model.class_names: [a]` with 3 classes was accepted, and a model block without names took the crop
    models' (background, vegetation) into the exported model and its card (session 79's sweep)."""
    model = {"arch": "smp_unet", "encoder_weights": None, "in_channels": 8, "num_classes": 3, "mean": [0] * 8,
             "std": [1] * 8}  # fmt: skip
    cfg = FieldsTrainConfig.model_validate({"data": {"root": "x"}, "model": model})
    assert cfg.model.class_names == ["background", "field", "boundary"]
    two = {**model, "num_classes": 2}
    cfg = FieldsTrainConfig.model_validate({"data": {"root": "x", "target": "2-class"}, "model": two})
    assert cfg.model.class_names == ["background", "field"]
    with pytest.raises(ValueError, match=r"model.class_names has 1 names for model.num_classes=3; give one per"):
        FieldsTrainConfig.model_validate({"data": {"root": "x"}, "model": {**model, "class_names": ["a"]}})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("augment.divisor_range=[0,0]", "augment.divisor_range.0: Input should be greater than 0"),
        ("augment.divisor_range=[4500,1500]", "augment.divisor_range: the range goes low to high"),
        ("augment.crop_scale=[-1,5]", "augment.crop_scale.0: Input should be greater than 0"),
        ("augment.crop_ratio=[0,0]", "augment.crop_ratio.0: Input should be greater than 0"),
        ("augment.sharpness_range=[-5,-1]", "augment.sharpness_range.0: Input should be greater than or equal"),
        ("loss.class_weights=[0,0,0]", "loss.class_weights: at least one class weight"),
        ("data.train_countries=[]", "data.train_countries: an empty list names no country"),
    ],
)
def test_nonsense_ranges_are_refused_when_the_config_is_read(override: str, message: str) -> None:
    """They trained to NaN or died in a worker with ZeroDivisionError (session 66's config sweep)."""
    from pathlib import Path

    from agriseg.config import ConfigError

    path = Path(__file__).resolve().parents[2] / "configs" / "fields" / "synthetic_lite0_cpu.yaml"
    with pytest.raises(ConfigError, match=f"--set {message}"):
        load_config(path, FieldsTrainConfig, [override])


def test_a_data_root_given_with_set_is_read_from_the_working_directory(tmp_path, monkeypatch) -> None:
    """The docs' ``--set data.root=DIR`` looked for DIR beside the config file."""
    from pathlib import Path

    configs = Path(__file__).resolve().parents[2] / "configs" / "fields"
    monkeypatch.chdir(tmp_path)
    cfg = load_config(configs / "prue_lite0_cpu.yaml", FieldsTrainConfig, ["data.root=data/ftw"])
    assert cfg.data.root == str(tmp_path / "data" / "ftw")
    cfg = load_config(configs / "prue_lite0_cpu.yaml", FieldsTrainConfig)  # in the file: from its folder
    assert cfg.data.root == str(configs.parent.parent / "data" / "ftw")


def test_a_home_folder_of_no_user_is_a_path_not_a_traceback(tmp_path) -> None:
    """``~nosuchuser/...`` raised RuntimeError from Path.expanduser (session 75's review): now a path that is
    not there, named by the check that reads it."""
    from agriseg.fields.config import DownloadConfig

    cfg = tmp_path / "c.yaml"
    cfg.write_text('data:\n  root: "~nosuchuser/data"\n', encoding="utf-8")
    got = load_config(cfg, FieldsTrainConfig)
    assert got.data.root.endswith("~nosuchuser/data")
    with pytest.raises(ValueError, match="not a STAC API name"):
        DownloadConfig(stac_url="~nosuchuser/catalog.json")


def test_a_stac_url_is_one_api_with_or_without_its_last_slash() -> None:
    """``--stac-url .../stac/`` was another setting than ``.../stac`` on a re-run (session 88's sweep)."""
    from agriseg.fields.config import DownloadConfig

    with_slash = DownloadConfig(stac_url="http://127.0.0.1:8765/stac/").output_options()
    assert with_slash == DownloadConfig(stac_url="http://127.0.0.1:8765/stac").output_options()
    assert with_slash["stac_url"] == "http://127.0.0.1:8765/stac"
