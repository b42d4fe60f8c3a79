"""A tiny random Gemma 3 built offline: tokenizer, generation, SFT, GRPO and predict for a few CPU steps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("trl")
pytest.importorskip("peft")
pytest.importorskip("datasets")

from click.testing import CliRunner  # noqa: E402

from agriseg.cli import main  # noqa: E402
from agriseg.text.dataset import PatchConfig, records_from_arrays, to_hf_dataset  # noqa: E402
from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscapes  # noqa: E402
from agriseg.text.tinyvlm import TinyVLMConfig, build_tiny_vlm, build_tokenizer, save_tiny_vlm  # noqa: E402

TINY = TinyVLMConfig(
    image_size=16,
    vision_patch=8,
    mm_tokens_per_image=4,
    vision_hidden=32,
    vision_layers=1,
    hidden=64,
    intermediate=128,
    layers=2,
    heads=2,
    kv_heads=1,
    head_dim=32,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny model and a small dataset (random 8-px patches, 4x4 grid, of 16-px landscapes)."""
    d = tmp_path_factory.mktemp("tinyvlm")
    model, proc = build_tiny_vlm(SYNTH_CLASSES, TINY, seed=0)
    save_tiny_vlm(model, proc, d / "base")
    imgs, sems, _ = make_landscapes(8, 0, LandscapeConfig(size=16))
    spec = PatchConfig(patch=8, grid=4, mode="random", per_image=2, align=8)
    to_hf_dataset(records_from_arrays(imgs, sems, SYNTH_CLASSES, spec)).save_to_disk(str(d / "data"))
    return d


def test_tokenizer_round_trips_masks() -> None:
    tok = build_tokenizer(SYNTH_CLASSES)
    text = "<seg>others *12| field *3\n tree *4\n</seg>"
    ids = tok(text)["input_ids"]
    assert tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.convert_tokens_to_ids("<start_of_turn>") != tok.unk_token_id


def test_generate_and_reload(workdir: Path) -> None:
    from agriseg.text.config import PredictConfig
    from agriseg.text.infer import predict_image
    from agriseg.text.modeling import count_parameters, load_vlm

    model, proc = load_vlm(str(workdir / "base"), device="cpu")
    assert count_parameters(model) < 300_000
    assert model.model.multi_modal_projector.mm_input_projection_weight.abs().sum() > 0
    img = make_landscapes(1, 5, LandscapeConfig(size=16))[0][0]
    sem, preds = predict_image(model, proc, img, SYNTH_CLASSES, PredictConfig(patch=8, grid=4, max_new_tokens=12))
    assert sem.shape == (16, 16) and len(preds) == 4
    assert all(p.grid.shape == (4, 4) for p in preds)  # random weights -> repaired, never a crash
    sem, preds = predict_image(model, proc, img[:4], SYNTH_CLASSES, PredictConfig(patch=8, grid=4, max_new_tokens=8))
    assert sem.shape == (4, 16) and len(preds) == 2  # an edge strip is padded to the patch, then cropped back


def test_rope_base_is_set_and_saved(tmp_path: Path) -> None:
    from agriseg.text.modeling import load_vlm
    from agriseg.text.tinyvlm import TinyVLMConfig, build_tiny_vlm, save_tiny_vlm

    cfg = TinyVLMConfig(image_size=16, mm_tokens_per_image=4, hidden=32, intermediate=64, layers=1, rope_theta=1e4)
    model, proc = build_tiny_vlm(SYNTH_CLASSES, cfg)
    assert model.config.text_config.rope_parameters["full_attention"]["rope_theta"] == 1e4
    reloaded, _ = load_vlm(str(save_tiny_vlm(model, proc, tmp_path / "m")), device="cpu")
    assert reloaded.config.text_config.rope_parameters["full_attention"]["rope_theta"] == 1e4


def test_model_without_chat_template_is_a_clear_error(workdir: Path, tmp_path: Path) -> None:
    from agriseg.text.modeling import load_vlm

    d = tmp_path / "notemplate"
    model, proc = build_tiny_vlm(SYNTH_CLASSES, TINY)
    proc.chat_template = None
    proc.tokenizer.chat_template = None
    save_tiny_vlm(model, proc, d)
    for f in d.glob("*.jinja"):
        f.unlink()
    for f in d.glob("*.json"):
        data = json.loads(f.read_text())
        if isinstance(data, dict) and "chat_template" in data:
            data.pop("chat_template")
            f.write_text(json.dumps(data))
    from agriseg.config import OptionError

    with pytest.raises(OptionError, match="no chat template"):  # a usage error (exit 2): the user gives one
        load_vlm(str(d), device="cpu")
    from agriseg.text.tinyvlm import CHAT_TEMPLATE

    (tmp_path / "roles.jinja").write_text("{% for m in messages %}{{ m['role'] }}{% endfor %}")
    with pytest.raises(OptionError, match="roles.jinja: not a chat template for this model"):  # no text, no image
        load_vlm(str(d), device="cpu", template_path=str(tmp_path / "roles.jinja"))
    # a model folder given for its template said "chat template file not found" of a folder there (session 103)
    with pytest.raises(OptionError, match=r"base: a folder; chat_template names a Jinja template file"):
        load_vlm(str(d), device="cpu", template_path=str(workdir / "base"))
    (tmp_path / "t.jinja").write_text(CHAT_TEMPLATE)
    _, p = load_vlm(str(d), device="cpu", template_path=str(tmp_path / "t.jinja"))
    assert p.chat_template == CHAT_TEMPLATE


def _write_yaml(path: Path, cfg: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(cfg))
    return path


def _sft_cfg(workdir: Path, out: Path) -> dict:
    return {
        "model": str(workdir / "base"),
        "dataset": str(workdir / "data"),
        "output_dir": str(out),
        "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "learning_rate": 1e-3,
        "max_steps": 3,
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "device": "cpu",
    }


@pytest.fixture(scope="module")
def sft_dir(workdir: Path) -> Path:
    """LoRA SFT for 3 steps through the CLI; the adapter is merged on save."""
    cfg = _write_yaml(workdir / "sft.yaml", _sft_cfg(workdir, workdir / "sft"))
    res = CliRunner().invoke(main, ["text", "sft", "-c", str(cfg)])
    assert res.exit_code == 0, res.output
    # what the loss did is said (the last line said only where the model went; session 95)
    assert re.search(r"training loss [\d.]+ -> [\d.]+ \(steps 1 to 3\); 3 steps in \d+ s\n", res.output), res.output
    return workdir / "sft"


def test_half_precision_asked_on_the_cpu_trains_and_saves_fp32(workdir: Path, tmp_path: Path, caplog) -> None:
    """``precision: bf16`` on the CPU said it trained in fp32, but the weights were loaded, trained (30x slower)
    and saved in bf16 (session 103's sweep)."""
    from safetensors import safe_open

    cfg = {**_sft_cfg(workdir, tmp_path / "bf16"), "precision": "bf16", "max_steps": 1, "lora": {"enabled": False}}
    with caplog.at_level("WARNING", logger="agriseg"):
        res = CliRunner().invoke(main, ["text", "sft", "-c", str(_write_yaml(tmp_path / "b.yaml", cfg))])
    assert res.exit_code == 0, res.output
    assert "precision bf16: training on the CPU runs in fp32" in caplog.text
    with safe_open(str(tmp_path / "bf16" / "model.safetensors"), "pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float32"}


def test_sft_lora_runs_and_merges(sft_dir: Path) -> None:
    hist = json.loads((sft_dir / "log_history.json").read_text())
    losses = [h["loss"] for h in hist if "loss" in h]
    assert losses and all(np.isfinite(losses))
    assert not (sft_dir / "adapter_config.json").exists()  # merged: GRPO's KL reference is the SFT model
    said = json.loads((sft_dir / "agriseg_train_config.json").read_text())  # "auto": what ran is said too
    assert said["precision_used"] == "fp32" and said["max_steps"] == 3, said
    meta = json.loads((sft_dir / "agriseg_text.json").read_text())
    assert 8 < meta.pop("answer_tokens") <= 64  # the longest answer of a 4x4 grid, for predict's budget
    assert meta == {"class_names": list(SYNTH_CLASSES), "grid": 4, "patch": 8, "patch_image": True}


def test_training_goes_on_from_an_adapter_only_folder(workdir: Path, tmp_path: Path) -> None:
    """Session 85's text sweep: sft with lora.merge_on_save false wrote an adapter folder; training from it (LoRA
    off) was a 23-frame traceback "element 0 of tensors does not require grad": the merged adapter left every
    weight frozen."""
    cfg = {**_sft_cfg(workdir, tmp_path / "adapter"), "max_steps": 1}
    cfg["lora"] = {**cfg["lora"], "merge_on_save": False}
    res = CliRunner().invoke(main, ["text", "sft", "-c", str(_write_yaml(tmp_path / "a.yaml", cfg))])
    assert res.exit_code == 0 and (tmp_path / "adapter" / "adapter_config.json").is_file(), res.output
    full = {**cfg, "model": str(tmp_path / "adapter"), "output_dir": str(tmp_path / "full"), "lora": {"enabled": False}}
    res = CliRunner().invoke(main, ["text", "sft", "-c", str(_write_yaml(tmp_path / "f.yaml", full))])
    assert res.exit_code == 0 and (tmp_path / "full" / "agriseg_text.json").is_file(), res.output


def test_grpo_refuses_answers_of_another_format_and_sft_says_it(
    workdir: Path, sft_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Session 85's text sweep: GRPO from a 4x4-grid SFT model on an 8x8-grid data set ran without a word and
    saved a model described as 8x8, which predict then used as such."""
    imgs, sems, _ = make_landscapes(4, 1, LandscapeConfig(size=16))
    spec = PatchConfig(patch=8, grid=2, mode="random", per_image=2, align=8)
    to_hf_dataset(records_from_arrays(imgs, sems, SYNTH_CLASSES, spec)).save_to_disk(str(tmp_path / "g2"))
    cfg = {**_sft_cfg(workdir, tmp_path / "grpo"), "model": str(sft_dir), "dataset": str(tmp_path / "g2")}
    cfg |= {"num_generations": 2, "max_completion_length": 64, "max_steps": 1}
    res = CliRunner().invoke(main, ["text", "grpo", "-c", str(_write_yaml(tmp_path / "g.yaml", cfg))])
    assert res.exit_code == 2 and "(grid 4 -> 2" in res.output and "GRPO refines" in res.output, res.output
    assert not (tmp_path / "grpo").exists()
    from agriseg.config import OptionError
    from agriseg.text.config import GRPORunConfig, SFTRunConfig
    from agriseg.text.sft import check_format

    sft = SFTRunConfig.model_validate({**_sft_cfg(workdir, tmp_path / "s"), "model": str(sft_dir), "dataset": "x"})
    with caplog.at_level("WARNING", logger="agriseg"):
        check_format(sft, {"grid": 2, "patch_image": True, "class_names": list(SYNTH_CLASSES)})
    assert "(grid 4 -> 2); this run trains the model on the new ones" in caplog.text
    # another tile size changes what a cell covers as much (session 103's sweep)
    from agriseg.text.sft import read_meta

    own = read_meta(sft_dir)
    with pytest.raises(OptionError, match=rf"\(tile {own['patch']} -> {2 * own['patch']}\); GRPO refines"):
        grpo = {"model": str(sft_dir), "dataset": "x", "output_dir": str(tmp_path / "g2r"), "num_generations": 2}
        check_format(GRPORunConfig.model_validate(grpo), {**own, "patch": 2 * own["patch"]})


def test_grpo_runs_with_kl_and_logs_reward(workdir: Path, sft_dir: Path, tmp_path: Path) -> None:
    cfg = {
        **_sft_cfg(workdir, tmp_path / "grpo"),
        "model": str(sft_dir),
        "max_steps": 100,  # --max-steps 2 below wins, as in crop and fields train (text had only --set)
        "num_generations": 2,
        "per_device_train_batch_size": 4,
        "max_completion_length": 64,
        "beta": 0.04,
        "validity_weight": 0.1,
        "repaired_rows": "wrong",
    }
    args = ["text", "grpo", "-c", str(_write_yaml(tmp_path / "grpo.yaml", cfg)), "--max-steps", "2"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    hist = json.loads((tmp_path / "grpo" / "log_history.json").read_text())
    assert hist[-1]["step"] == 2
    logged = [h for h in hist if "rewards/dice_reward/mean" in h]
    assert logged and "rewards/format_valid/mean" in logged[0] and "kl" in logged[0]
    assert 0.0 <= logged[0]["rewards/dice_reward/mean"] <= 1.0
    # one value logged is said as one, not as a change "0.7207 -> 0.7207" (session 94's sweep)
    said = "(one logged value)" if len(logged) == 1 else " -> "
    assert "reward (mean Dice)" in res.output and said in res.output, (len(logged), res.output)
    flat = all(h.get("frac_reward_zero_std") == 1.0 for h in hist if "frac_reward_zero_std" in h)
    assert ("nothing to learn from" in res.output) == flat, res.output  # said exactly when no step had a signal
    assert "Loading weights" not in res.output and "model shards" not in res.output  # transformers' (session 101)


def test_a_diverged_sft_or_a_grpo_of_no_step_saves_nothing(workdir: Path, sft_dir: Path, tmp_path: Path) -> None:
    """learning_rate 1e12: the log showed loss 0, the run exited 0 and saved a model of NaN weights; GRPO on one
    sample took no step and saved its input as the result (session 68's sweep)."""
    cfg = {**_sft_cfg(workdir, tmp_path / "nan"), "learning_rate": 1e12, "lora": {"enabled": False}, "max_steps": 4}
    res = CliRunner().invoke(main, ["text", "sft", "-c", str(_write_yaml(tmp_path / "nan.yaml", cfg))])
    assert res.exit_code == 1 and "training diverged (" in res.output and "nothing saved" in res.output, res.output
    assert not (tmp_path / "nan").exists()  # the folder transformers made for it is gone too
    cfg = {**_sft_cfg(workdir, tmp_path / "g1"), "model": str(sft_dir), "max_samples": 1, "max_steps": 1}
    cfg |= {"num_generations": 2, "per_device_train_batch_size": 4, "max_completion_length": 64}
    res = CliRunner().invoke(main, ["text", "grpo", "-c", str(_write_yaml(tmp_path / "g1.yaml", cfg))])
    # a usage error before the model is loaded (it was exit 1 after it, "no training step was taken")
    assert res.exit_code == 2 and "1 sample, fewer than the 2 prompts of one step" in res.output, res.output
    assert not (tmp_path / "g1").exists()


def test_lora_target_modules_the_model_lacks_are_a_usage_error(workdir: Path, tmp_path: Path) -> None:
    """peft's "Target modules {'nonexistent_proj'} not found in the base model" (exit 1) named no key; an empty list
    passed the config and failed in peft too (session 94's sweep). An empty ``lora:`` group is its defaults."""
    for targets, said in (
        (["nonexistent_proj"], "lora.target_modules: 'nonexistent_proj' name no layer of the model that LoRA adapts"),
        (["self_attn"], "lora.target_modules: 'self_attn' name no layer"),  # a module, but no layer peft adapts
        ([], "lora.target_modules"),
    ):
        cfg = {**_sft_cfg(workdir, tmp_path / "s"), "lora": {"target_modules": targets}, "max_steps": 1}
        res = CliRunner().invoke(main, ["text", "sft", "-c", str(_write_yaml(tmp_path / "s.yaml", cfg))])
        assert res.exit_code == 2 and said in res.output and "Traceback" not in res.output, res.output
        assert not (tmp_path / "s").exists()
    # one name that matches is enough for peft (a list shared across models): the others are warned of
    cfg = {**_sft_cfg(workdir, tmp_path / "s"), "lora": {"target_modules": ["q_proj", "nope_proj"]}, "max_steps": 1}
    res = CliRunner().invoke(main, ["text", "sft", "-c", str(_write_yaml(tmp_path / "s.yaml", cfg))])
    assert res.exit_code == 0 and "lora.target_modules: nope_proj names no layer of this model" in res.output
    from agriseg.text.config import SFTRunConfig

    assert SFTRunConfig.model_validate({**_sft_cfg(workdir, tmp_path / "s"), "lora": None}).lora.r == 16


def test_an_output_dir_that_is_a_file_is_said_in_words(workdir: Path, tmp_path: Path) -> None:
    """It said "[Errno 17] File exists" (exit 2) or "Not a directory" (exit 1)."""
    (tmp_path / "afile").write_text("x")
    for out, words in ((tmp_path / "afile", "is an existing file"), (tmp_path / "afile" / "sub", "lies under")):
        cfg = _write_yaml(tmp_path / "s.yaml", _sft_cfg(workdir, out))
        res = CliRunner().invoke(main, ["text", "sft", "-c", str(cfg)])
        assert res.exit_code == 2 and f"output_dir {out}: {words}" in res.output, res.output


def test_grpo_config_errors(workdir: Path, tmp_path: Path) -> None:
    cfg = {**_sft_cfg(workdir, tmp_path / "g"), "beta": 0.0}
    res = CliRunner().invoke(main, ["text", "grpo", "-c", str(_write_yaml(tmp_path / "g.yaml", cfg))])
    assert res.exit_code != 0 and "beta" in res.output and "Traceback" not in res.output
    cfg = {**_sft_cfg(workdir, tmp_path / "g"), "num_generations": 3}
    res = CliRunner().invoke(main, ["text", "grpo", "-c", str(_write_yaml(tmp_path / "g.yaml", cfg))])
    assert res.exit_code != 0 and "multiple of num_generations" in res.output


def test_grpo_refuses_a_completion_budget_shorter_than_the_answers(workdir: Path, tmp_path: Path) -> None:
    """Rollouts cut before the mask ends teach nothing: the budget must hold the data set's longest answer."""
    cfg = {**_sft_cfg(workdir, tmp_path / "g"), "num_generations": 2, "max_completion_length": 16}
    res = CliRunner().invoke(main, ["text", "grpo", "-c", str(_write_yaml(tmp_path / "g.yaml", cfg))])
    assert res.exit_code == 2 and "its longest answer is" in res.output and "max_completion_length (16)" in res.output
    assert not (tmp_path / "g").exists()


def test_sft_refuses_a_max_length_that_cuts_the_answers(workdir: Path, tmp_path: Path) -> None:
    """TRL's collator cut image + prompt + answer to max_length unsaid: 30 of 36 answer tokens gone, "SFT model
    saved", exit 0 (session 86's text sweep). A limit that holds the samples trains as before."""
    cfg = {**_sft_cfg(workdir, tmp_path / "s"), "max_length": 40, "max_steps": 1}
    res = CliRunner().invoke(main, ["text", "sft", "-c", str(_write_yaml(tmp_path / "s.yaml", cfg))])
    assert res.exit_code == 2 and "tokens (image, prompt and answer), more than max_length (40)" in res.output
    assert not (tmp_path / "s").exists()
    need = int(res.output.split("set max_length: ")[1].split()[0])
    cfg["max_length"] = need
    res = CliRunner().invoke(main, ["text", "sft", "-c", str(_write_yaml(tmp_path / "s.yaml", cfg))])
    assert res.exit_code == 0, res.output


def test_cli_predict_png_with_overlap(sft_dir: Path, tmp_path: Path, answering: str) -> None:
    img = make_landscapes(1, 9, LandscapeConfig(size=16))[0][0]
    Image.fromarray(img).save(tmp_path / "scene.png")
    args = ["text", "predict", str(tmp_path / "scene.png"), "-o", str(tmp_path / "pred"), "-m", str(sft_dir)]
    res = CliRunner().invoke(main, [*args, "--max-new-tokens", "16", "--overlap", "0.5", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    with Image.open(tmp_path / "pred" / "scene.png") as im:
        assert im.mode == "P"  # palette PNG: the classes show in any viewer
        pred = np.asarray(im)
    assert pred.shape == (16, 16) and pred.max() < len(SYNTH_CLASSES)
    rep = json.loads((tmp_path / "pred" / "scene.json").read_text())
    assert rep["patches"] == 9  # 8-px patches at 50 % overlap over 16 px
    assert (tmp_path / "pred" / "scene.geojson").is_file()
    res = CliRunner().invoke(main, [*args, "--max-new-tokens", "16", "--overlap", "0.5"])  # a re-run resumes
    assert res.exit_code == 0 and "0 predicted, 1 skipped" in res.output
    res = CliRunner().invoke(main, [*args, "--max-new-tokens", "16"])  # another --overlap: refused, named
    assert res.exit_code == 1 and "--overlap: 0.5 -> " in res.output
    Image.fromarray(img[:4, :4]).save(tmp_path / "tiny.png")
    res = CliRunner().invoke(
        main,
        [
            "text",
            "predict",
            str(tmp_path / "tiny.png"),
            "-o",
            str(tmp_path / "p2"),
            "-m",
            str(sft_dir),
            "--max-new-tokens",
            "8",
        ],
    )
    assert res.exit_code == 0, res.output  # an edge tile smaller than the patch is padded, not refused
    assert np.asarray(Image.open(tmp_path / "p2" / "tiny.png")).shape == (4, 4)


def test_cli_predict_geotiff_keeps_georeference(sft_dir: Path, tmp_path: Path, answering: str) -> None:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    img = make_landscapes(1, 4, LandscapeConfig(size=16))[0][0]
    tr = from_origin(300000.0, 1500000.0, 0.3, 0.3)
    prof = {"driver": "GTiff", "height": 16, "width": 16, "dtype": "uint8", "crs": "EPSG:32648", "transform": tr}
    with rasterio.open(tmp_path / "geo.tif", "w", count=3, **prof) as dst:
        dst.write(np.moveaxis(img, -1, 0))
    args = ["text", "predict", str(tmp_path / "geo.tif"), "-o", str(tmp_path / "out"), "-m", str(sft_dir)]
    res = CliRunner().invoke(main, [*args, "--max-new-tokens", "16", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "out" / "geo.tif") as src:
        assert src.crs.to_epsg() == 32648 and src.transform == tr and src.shape == (16, 16)
        assert src.nodata == 255 and src.colormap(1)[1][:3] != (0, 0, 0)  # a GIS shows the classes
        assert src.descriptions[0].startswith("class: 0 " + SYNTH_CLASSES[0])
        assert src.tags(1)["CLASS_1"] == SYNTH_CLASSES[1]
    with rasterio.open(tmp_path / "out" / "geo_instances.tif") as src:
        assert src.dtypes[0] == "uint32"
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["model"] == str(sft_dir) and run["classes"] == list(SYNTH_CLASSES) and "tile" in run["options"]
    res = CliRunner().invoke(main, [*args, "--max-new-tokens", "16", "--device", "cpu", "--bands", "3,2,1"])
    assert res.exit_code == 1 and "other settings (--bands: not given -> 3,2,1)" in res.output, (
        res.output
    )  # not skipped
    gj = json.loads((tmp_path / "out" / "geo.geojson").read_text())
    assert "crs" not in gj  # RFC 7946: WGS 84 longitude, latitude
    from pyproj import Transformer

    to_utm = Transformer.from_crs(4326, 32648, always_xy=True)
    assert gj["features"]  # the scripted answer's field half
    eps = 0.02  # m: coordinates are written to 1e-7 degrees (about 1 cm)
    for feat in gj["features"]:
        for lon, lat in feat["geometry"]["coordinates"][0]:
            x, y = to_utm.transform(lon, lat)
            assert 300000.0 - eps <= x <= 300000.0 + 16 * 0.3 + eps
            assert 1500000.0 - 16 * 0.3 - eps <= y <= 1500000.0 + eps


def test_cli_predict_keeps_instance_ids_beyond_255(
    sft_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, answering: str
) -> None:
    """A mosaic with more instances than 8 bits hold: every GeoJSON feature has its own raster id (they
    wrapped at 255, so feature 300 shared id 45 with another instance)."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    import agriseg.text.instances as instances

    def many(sem: np.ndarray, image: object = None, cfg: object = None) -> tuple[np.ndarray, dict]:
        labels = np.zeros(sem.shape, np.int64)  # (H, W): 300 one-pixel instances, then none
        labels.flat[:300] = np.arange(1, 301)
        return labels, {}

    monkeypatch.setattr(instances, "semantic_to_instances", many)
    img = make_landscapes(1, 4, LandscapeConfig(size=32))[0][0]
    prof = {"driver": "GTiff", "height": 32, "width": 32, "dtype": "uint8", "crs": "EPSG:32633"}
    with rasterio.open(tmp_path / "m.tif", "w", count=3, transform=from_origin(0, 320, 10, 10), **prof) as dst:
        dst.write(np.moveaxis(img, -1, 0))
    args = ["text", "predict", str(tmp_path / "m.tif"), "-o", str(tmp_path / "out"), "-m", str(sft_dir)]
    res = CliRunner().invoke(main, [*args, "--max-new-tokens", "8", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "out" / "m_instances.tif") as src:
        ids = src.read(1)
    assert ids.max() == 300 and len(np.unique(ids[ids > 0])) == 300
    feats = json.loads((tmp_path / "out" / "m.geojson").read_text())["features"]
    assert len(feats) == 300
    for f in feats:  # each feature's id sits on exactly its own pixel
        assert (ids == f["properties"]["id"]).sum() == f["properties"]["pixels"] == 1
    assert "--max-new-tokens 8 is less than the longest answer" in caplog.text  # masks will be cut


def test_cli_predict_goes_on_past_a_bad_image_and_resumes(sft_dir: Path, tmp_path: Path, answering: str) -> None:
    img = make_landscapes(1, 9, LandscapeConfig(size=16))[0][0]
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(img).save(src / "a.png")
    (src / "b.png").write_bytes((src / "a.png").read_bytes()[:40])  # truncated
    Image.fromarray(img).save(src / "c.png")
    args = ["text", "predict", str(src), "-o", str(tmp_path / "pred"), "-m", str(sft_dir), "--max-new-tokens", "8"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and "b.png" in res.output and "2 predicted, 0 skipped, 1 failed" in res.output
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and "0 predicted, 2 skipped, 1 failed" in res.output
    hidden = sorted(p.name for p in (tmp_path / "pred").glob(".*"))
    assert hidden == [".agriseg-manifest.jsonl", ".agriseg-tables.json"]  # no temporaries left


def test_cli_predict_into_its_input_folder_never_reads_its_own_outputs(
    sft_dir: Path, tmp_path: Path, answering: str
) -> None:
    """a.jpg and a.png in one folder, -o that folder: a re-run read a_jpg.png and a_png.png as images (11 files
    became 27) and predicted a.jpg again under new names."""
    img = make_landscapes(1, 9, LandscapeConfig(size=16))[0][0]
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(img).save(src / "a.jpg")
    Image.fromarray(img).save(src / "a.png")
    args = ["text", "predict", str(src), "-o", str(src), "-m", str(sft_dir), "--max-new-tokens", "8"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "2 predicted, 0 skipped, 0 failed" in res.output, res.output
    before = sorted(p.name for p in src.iterdir())
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and "0 predicted, 2 skipped, 0 failed" in res.output, res.output
    assert "of an earlier run among the images not read as images" in res.output
    assert sorted(p.name for p in src.iterdir()) == before


def test_unknown_words_are_the_ones_spelt_with_unk(workdir: Path) -> None:
    from agriseg.text.modeling import load_processor, unknown_words

    proc = load_processor(str(workdir / "base"))
    assert unknown_words(proc, ["field", "cropland", "forest", "Field"]) == ["cropland", "forest", "Field"]


def test_unknown_class_words_are_refused_by_sft_grpo_and_predict(workdir: Path, sft_dir: Path, tmp_path: Path) -> None:
    """The tiny model built without --classes, then a data set with one's own words: the words would all
    read as <unk> (predict then wrote all-background masks). Refused, naming them, before any training."""
    imgs, sems, _ = make_landscapes(4, 0, LandscapeConfig(size=16))
    spec = PatchConfig(patch=8, grid=4, mode="random", per_image=2, align=8)
    words = ["background", "cropland", "forest", "water"]
    to_hf_dataset(records_from_arrays(imgs, sems, words, spec)).save_to_disk(str(tmp_path / "data"))
    for cmd, extra in (("sft", {}), ("grpo", {"num_generations": 2, "max_completion_length": 64})):
        cfg = {**_sft_cfg(workdir, tmp_path / cmd), "dataset": str(tmp_path / "data"), **extra}
        res = CliRunner().invoke(main, ["text", cmd, "-c", str(_write_yaml(tmp_path / f"{cmd}.yaml", cfg))])
        assert res.exit_code == 2, res.output  # a usage error, as in predict
        assert "class words not in the model's vocabulary: background, cropland, forest" in res.output
        assert not (tmp_path / cmd).exists()
    Image.fromarray(imgs[0]).save(tmp_path / "scene.png")
    res = CliRunner().invoke(
        main,
        ["text", "predict", str(tmp_path / "scene.png"), "-o", str(tmp_path / "p"), "-m", str(workdir / "base")]
        + ["--classes", "others,cropland", "--tile", "8", "--grid", "4", "--device", "cpu"],
    )
    assert res.exit_code == 2 and "vocabulary: cropland (" in res.output, res.output  # a usage error
    assert not (tmp_path / "p" / "scene.png").exists()


def test_tiny_model_adds_its_class_words(tmp_path: Path) -> None:
    """Every word given to tiny-model can be spelt, hyphenated, with digits or accents too."""
    from agriseg.text.modeling import load_processor, unknown_words

    words = ["background", "cover-crop", "maize2", "forêt", "water"]
    res = CliRunner().invoke(main, ["text", "tiny-model", "-o", str(tmp_path / "m"), "--classes", ",".join(words)])
    assert res.exit_code == 0, res.output
    assert "model shards" not in res.output, res.output  # transformers' bar of its save step (session 101)
    proc = load_processor(str(tmp_path / "m"))
    assert unknown_words(proc, words) == []
    text = "<seg>background *2| cover-crop *2\n maize2 *3| forêt *1\n</seg>"
    assert proc.tokenizer.decode(proc.tokenizer(text)["input_ids"], skip_special_tokens=True) == text
    # its classes are saved as a training run saves them: predict needs no --classes (session 95's sweep)
    assert json.loads((tmp_path / "m" / "agriseg_text.json").read_text())["class_names"] == words
    # an unchanged re-run makes nothing new (it refused the folder, exit 2, where `text dataset` said "unchanged");
    # another seed still is refused (session 101's sweep)
    before = (tmp_path / "m" / "model.safetensors").stat().st_mtime_ns
    again = CliRunner().invoke(main, ["text", "tiny-model", "-o", str(tmp_path / "m"), "--classes", ",".join(words)])
    assert again.exit_code == 0 and "(made by a run with these options: unchanged)" in again.output, again.output
    assert res.output.split(",")[1] == again.output.split(",")[1]  # the same parameter count, read from the file
    assert (tmp_path / "m" / "model.safetensors").stat().st_mtime_ns == before
    other = ["text", "tiny-model", "-o", str(tmp_path / "m"), "--classes", ",".join(words), "--seed", "3"]
    refused = CliRunner().invoke(main, other)
    assert refused.exit_code == 2 and "made with other settings (--seed: 0 -> 3)" in refused.output, refused.output
    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    res = CliRunner().invoke(main, ["text", "predict", str(tmp_path / "a.png"), "-o", str(tmp_path / "p"),
                                    "-m", str(tmp_path / "m")])  # fmt: skip
    assert res.exit_code == 2 and "no tile, grid saved with the model" in res.output, res.output


def test_predict_classes_must_match_the_trained_ones(sft_dir: Path, tmp_path: Path) -> None:
    img = make_landscapes(1, 9, LandscapeConfig(size=16))[0][0]
    Image.fromarray(img).save(tmp_path / "scene.png")
    swapped = [SYNTH_CLASSES[0], *reversed(SYNTH_CLASSES[1:])]
    for names in (swapped, SYNTH_CLASSES[:-1]):
        res = CliRunner().invoke(
            main,
            ["text", "predict", str(tmp_path / "scene.png"), "-o", str(tmp_path / "p"), "-m", str(sft_dir)]
            + ["--classes", ",".join(names), "--device", "cpu"],
        )
        assert res.exit_code == 2 and "differs from the classes the model was trained with" in res.output
        assert not (tmp_path / "p" / "scene.png").exists()


def test_dataset_checks_class_words_against_a_model(workdir: Path, tmp_path: Path) -> None:
    imgs, sems, _ = make_landscapes(1, 0, LandscapeConfig(size=16))
    (tmp_path / "i").mkdir()
    (tmp_path / "m").mkdir()
    Image.fromarray(imgs[0]).save(tmp_path / "i" / "a.png")
    Image.fromarray(sems[0].astype(np.uint8)).save(tmp_path / "m" / "a.png")
    base = ["text", "dataset", str(tmp_path / "i"), "--masks", str(tmp_path / "m"), "--patch", "8", "--grid", "4"]
    bad = [*base, "-o", str(tmp_path / "d1"), "--classes", "others,cropland,forest,water", "--model"]
    res = CliRunner().invoke(main, [*bad, str(workdir / "base")])
    assert res.exit_code == 2 and "not in the model's vocabulary: cropland, forest" in res.output
    assert not (tmp_path / "d1").exists()
    good = [*base, "-o", str(tmp_path / "d2"), "--classes", ",".join(SYNTH_CLASSES), "--model", str(workdir / "base")]
    res = CliRunner().invoke(main, good)
    assert res.exit_code == 0, res.output
    n = int(res.output.split("longest answer: ")[1].split()[0])  # the generation budget it needs
    assert 8 < n <= 64


def test_max_minutes_ends_a_text_run_as_it_ends_a_crop_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    import agriseg.text.sft as sft

    clock = iter([100.0, 130.0, 161.0])
    monkeypatch.setattr("time.monotonic", lambda: next(clock))
    limit, control = sft._time_limit(1.0), SimpleNamespace(should_training_stop=False)
    state = SimpleNamespace(global_step=5, max_steps=1000)
    limit.on_train_begin(None, state, control)
    limit.on_step_end(None, state, control)  # 30 s in
    assert not control.should_training_stop
    with caplog.at_level("WARNING"):
        limit.on_step_end(None, state, control)  # 61 s in: the run ends after this step, and is saved
    assert control.should_training_stop
    assert "training stopped by --max-minutes 1 at step 5 of 1000" in caplog.text  # said (it was not)


def test_the_training_flags_set_the_text_config_keys() -> None:
    from agriseg.cli.options import train_overrides

    said = train_overrides(("seed=3",), epochs=2, max_steps=5, max_minutes=1.5, kind="trl")
    assert said == ("seed=3", "num_train_epochs=2", "max_steps=5", "max_minutes=1.5")
    assert train_overrides(epochs=2) == ("train.epochs=2", "train.max_steps=null")


def test_epochs_given_win_over_the_configs_max_steps() -> None:
    """Session 85's text sweep: `text sft -c sft.yaml --epochs 1` with max_steps in the config (the bundled tiny
    configs have 400 / 80) stopped at step 2, epoch 0.125, without a word: TRL's max_steps wins over epochs."""
    from agriseg.cli.options import train_overrides

    assert train_overrides(epochs=1, kind="trl") == ("num_train_epochs=1", "max_steps=-1")
    assert train_overrides(("max_steps=7",), epochs=1, kind="trl") == ("max_steps=7", "num_train_epochs=1")
    assert train_overrides(epochs=1, max_steps=3, kind="trl") == ("num_train_epochs=1", "max_steps=3")
    group = ("train={max_steps: 10, lr: 0.001}",)  # the step limit set inside its group is kept too
    assert train_overrides(group, epochs=5) == (*group, "train.epochs=5")


@pytest.mark.parametrize(
    ("sets", "flags", "said"),
    [
        (("max_steps=5",), {"max_steps": 2, "kind": "trl"}, "--max-steps 2 and --set max_steps=5"),
        (("train.epochs=3",), {"epochs": 2}, "--epochs 2 and --set train.epochs=3"),
        (("train={max_steps: 10, epochs: 3}",), {"epochs": 5}, "--epochs 5 and --set train={max_steps: 10, epochs: 3}"),
        (("max_minutes=0",), {"max_minutes": 1.0, "kind": "trl"}, "--max-minutes 1.0 and --set max_minutes=0"),
        (("train.max_time_minutes=3",), {"max_minutes": 5}, "--max-minutes 5 and --set train.max_time_minutes=3"),
    ],
)
def test_a_flag_and_a_set_of_one_setting_are_refused(sets: tuple, flags: dict, said: str) -> None:
    """`--max-steps 2 --set max_steps=5` trained 2 steps without a word (the flag won; session 107's sweep), and
    `--max-steps 1 --set max_steps=0` trained where `--set max_steps=0` alone is refused."""
    from agriseg.cli.options import train_overrides
    from agriseg.config import OptionError

    with pytest.raises(OptionError, match=re.escape(said) + ": two values of one setting; give one of them"):
        train_overrides(sets, **flags)


@pytest.mark.parametrize(
    ("sets", "flags"),
    [
        (("train={warmup_epochs: 0}",), {"epochs": 3}),  # a key with the flag's name inside it
        (("train={init_weights: runs/epochs_40/model.safetensors}",), {"epochs": 5}),  # in a value
        (("train={lr: 0.1}",), {"max_steps": 3}),
        (("train.max_steps=null",), {"epochs": 3}),
    ],
)
def test_a_flag_beside_a_set_of_other_keys_is_taken(sets: tuple, flags: dict) -> None:
    """The first form of the check read the group's text: `--epochs 3 --set "train={warmup_epochs: 0}"` was
    refused (session 107's review)."""
    from agriseg.cli.options import train_overrides

    said = train_overrides(sets, **flags)
    assert said[: len(sets)] == sets and len(said) > len(sets)


def test_an_adapter_names_its_base_by_full_path_and_grpo_is_anchored_at_it(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session 87's text sweep: an adapter (lora.merge_on_save false) named its base as given (`runs/...`), which
    predict from another folder read as another model or sent to the Hub; full GRPO from it took the base model
    as its KL reference (step 1's KL 0.11, not 0); retraining the base left predict's outputs "done"."""
    import shutil

    from agriseg.fingerprint import model_identity

    shutil.copytree(workdir / "base", tmp_path / "runs" / "base")
    monkeypatch.chdir(tmp_path)
    cfg = {**_sft_cfg(workdir, Path("runs/adapter")), "model": "runs/base", "max_steps": 1}
    cfg["lora"] = {**cfg["lora"], "merge_on_save": False}
    res = CliRunner().invoke(main, ["text", "sft", "-c", str(_write_yaml(tmp_path / "a.yaml", cfg))])
    assert res.exit_code == 0, res.output
    conf = json.loads((tmp_path / "runs" / "adapter" / "adapter_config.json").read_text())
    assert conf["base_model_name_or_path"] == str(tmp_path / "runs" / "base")
    grpo = {**cfg, "model": "runs/adapter", "output_dir": "runs/grpo", "lora": {"enabled": False}}
    grpo |= {"num_generations": 2, "max_completion_length": 64, "beta": 0.04, "logging_steps": 1}
    res = CliRunner().invoke(main, ["text", "grpo", "-c", str(_write_yaml(tmp_path / "g.yaml", grpo))])
    assert res.exit_code == 0, res.output
    kl = [h["kl"] for h in json.loads((tmp_path / "runs" / "grpo" / "log_history.json").read_text()) if "kl" in h]
    assert kl and abs(kl[0]) < 1e-6, kl  # the reference is the model GRPO starts from
    assert not [p for p in (tmp_path / "runs").iterdir() if "reference" in p.name]  # its folder removed
    before = model_identity(tmp_path / "runs" / "adapter")
    (tmp_path / "runs" / "base" / "extra.txt").write_text("retrained")  # the base changed
    assert model_identity(tmp_path / "runs" / "adapter") != before
    conf["base_model_name_or_path"] = "runs/nowhere/base"  # an adapter naming a folder that is not here
    (tmp_path / "runs" / "adapter" / "adapter_config.json").write_text(json.dumps(conf))
    img = tmp_path / "tile.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(img)
    res = CliRunner().invoke(main, ["text", "predict", str(img), "-o", "pred", "-m", "runs/adapter"])
    assert res.exit_code == 2 and "its base model runs/nowhere/base is no folder here" in res.output, res.output


def test_a_text_only_model_is_a_model_that_cannot_be_used(tmp_path: Path) -> None:
    """Session 87's text sweep: a folder of a text-only model exited 1 ("the processor is not multimodal"), where
    a folder of no model exits 2: both are the model given, unusable."""
    from agriseg.models.io import ModelLoadError
    from agriseg.text.modeling import load_processor

    build_tokenizer(SYNTH_CLASSES).save_pretrained(tmp_path / "gpt")
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelLoadError, match=r"gpt: a gpt2 model \(its config.json\), not an image-text-to-text"):
        load_processor(str(tmp_path / "gpt"))
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "its_own"}))  # a type not known
    with pytest.raises(ModelLoadError, match="the processor is not multimodal"):  # here: the processor's own check
        load_processor(str(tmp_path / "gpt"))
