"""Model names: a mistyped folder fails at once with one line; the Hub is asked only for org/name ids."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agriseg.cli import main


@pytest.mark.parametrize("name", ["runs/text/sft/modle", "./tiny", "~/no/such/model", "tinymodel", "a/b/c"])
def test_names_that_are_not_folders_or_hub_ids_fail_at_once(name: str) -> None:
    from agriseg.text.modeling import resolve_model_name

    with pytest.raises(FileNotFoundError, match="no such model folder"):
        resolve_model_name(name)


def test_existing_folder_and_hub_id_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agriseg.text.modeling import resolve_model_name

    (tmp_path / "config.json").write_text("{}")
    assert resolve_model_name(str(tmp_path)) == str(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("agriseg.models.hub.hub_unreachable", lambda endpoint: None)
    monkeypatch.chdir(tmp_path)
    assert resolve_model_name("HuggingFaceTB/SmolVLM-256M-Instruct") == "HuggingFaceTB/SmolVLM-256M-Instruct"


def test_hub_id_without_a_network_fails_at_once_or_reads_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers retried each file for minutes (2 min 25 s measured) before saying "check your connection"."""
    import huggingface_hub

    from agriseg.text.modeling import resolve_model_name

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("agriseg.models.hub.hub_unreachable", lambda endpoint: "Name or service not known")
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, file: None)
    with pytest.raises(FileNotFoundError, match=r"someorg/model: no such model folder, not in the Hugging Face cache"):
        resolve_model_name("someorg/model")
    snapshot = tmp_path / "snapshots/abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, file: str(snapshot / file))
    assert resolve_model_name("someorg/model") == str(snapshot)


def test_org_name_beside_a_local_folder_of_that_name_is_a_mistyped_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """runs/sfft next to a local runs/ is a typo of a folder, not the Hub organisation "runs"."""
    from agriseg.text.modeling import resolve_model_name

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(FileNotFoundError, match="runs/sfft: no such model folder"):
        resolve_model_name("runs/sfft")
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        resolve_model_name("runs")  # a folder without config.json


def test_offline_hub_id_not_in_cache_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from agriseg.text.modeling import resolve_model_name

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        resolve_model_name("someorg/not-cached-model")


@pytest.mark.parametrize("classes", [[], ["--classes", "others,field", "--patch", "8", "--grid", "4"]])
def test_predict_with_a_mistyped_model_is_one_line_and_quick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, classes: list[str]
) -> None:
    """Without --classes it used to say "no class names saved", with them it asked the Hub for a minute."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs/text/sft").mkdir(parents=True)
    img = tmp_path / "a.png"
    img.write_bytes(b"")
    t0 = time.perf_counter()
    for model in ("runs/text/sft/modle", "runs/sfft"):
        res = CliRunner().invoke(
            main, ["text", "predict", str(img), "-o", str(tmp_path / "o"), "--model", model, *classes]
        )
        assert res.exit_code == 2, res.output  # a usage error
        assert f"{model}: no such model folder" in res.output and "Traceback" not in res.output
        assert "class names" not in res.output
    assert time.perf_counter() - t0 < 10


def test_sft_with_a_mistyped_model_in_its_config_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It used to spend about a minute in Hub retries and end in "check your internet connection"."""
    pytest.importorskip("trl")
    from agriseg.text.dataset import PatchConfig, records_from_arrays, to_hf_dataset
    from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscapes

    monkeypatch.chdir(tmp_path)
    imgs, sems, _ = make_landscapes(1, 0, LandscapeConfig(size=16))
    recs = records_from_arrays(imgs, sems, SYNTH_CLASSES, PatchConfig(patch=8, grid=4, per_image=1))
    to_hf_dataset(recs).save_to_disk("runs/data")
    for model in ("runs/tiny_bse", "runs/text/tiny_bse"):
        cfg = tmp_path / "sft.yaml"
        cfg.write_text(f"model: {model}\ndataset: runs/data\noutput_dir: runs/sft\n")
        t0 = time.perf_counter()
        res = CliRunner().invoke(main, ["text", "sft", "-c", str(cfg)])
        assert time.perf_counter() - t0 < 10
        assert res.exit_code == 2 and f"{model}: no such model folder" in res.output, res.output
        assert "internet" not in res.output and "Traceback" not in res.output


def _trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("trl")
    from agriseg.text.synthetic import SYNTH_CLASSES
    from agriseg.text.tinyvlm import TinyVLMConfig, build_tiny_vlm, save_tiny_vlm

    d = tmp_path_factory.mktemp("models")
    model, proc = build_tiny_vlm(SYNTH_CLASSES, TinyVLMConfig(image_size=16, vision_patch=4, mm_tokens_per_image=16))
    save_tiny_vlm(model, proc, d / "ok")
    return d / "ok"


@pytest.mark.parametrize(
    "damage", ["empty", "no_config", "truncated_weights", "no_tokenizer", "bad_json", "bert", "list_config"]
)
def test_a_damaged_model_folder_is_one_line(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, damage: str
) -> None:
    """A model folder with a file missing or cut short: one line naming the folder, no traceback."""
    ok = _trained_model(tmp_path_factory)
    bad = tmp_path / "bad"
    if damage == "empty":
        bad.mkdir()
    else:
        shutil.copytree(ok, bad)
    if damage == "no_config":
        (bad / "config.json").unlink()
    elif damage == "truncated_weights":
        w = bad / "model.safetensors"
        w.write_bytes(w.read_bytes()[:1000])
    elif damage == "no_tokenizer":
        for f in bad.glob("tokenizer*"):
            f.unlink()
    elif damage == "bad_json":  # said as the processor's "Expecting property name" (session 103's sweep)
        (bad / "config.json").write_text("{")
    elif damage == "bert":  # said with transformers' 3,000-character list of model classes
        (bad / "config.json").write_text('{"model_type": "bert"}')
    elif damage == "list_config":  # JSON, but no settings: a traceback (the review)
        (bad / "config.json").write_text("[1, 2]")
    from PIL import Image

    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    args = ["text", "predict", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "-m", str(bad)]
    res = CliRunner().invoke(main, [*args, "--classes", "others,field,tree,water", "--patch", "8", "--grid", "4"])
    assert res.exit_code in (1, 2) and isinstance(res.exception, SystemExit), res.output  # no crash
    lines = [ln for ln in res.output.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and str(bad) in lines[0] and len(lines[0]) < 500, res.output
    assert "Traceback" not in res.output
    said = {"bad_json": "config.json: damaged: not JSON", "bert": "a bert model (its config.json), not an image-text",
            "list_config": "config.json: not a model config"}  # fmt: skip
    assert said.get(damage, "") in lines[0], res.output


def test_a_config_path_not_found_names_its_key_and_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tiny_base: no such model folder`` named neither the config key nor where a relative path is read from."""
    from click.testing import CliRunner

    from agriseg.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("model: tiny_base\ndataset: d\noutput_dir: o\n")
    res = CliRunner().invoke(main, ["text", "sft", "-c", "c.yaml"])
    assert res.exit_code == 2, res.output
    said = "model: tiny_base: no such model folder; the paths of a config are read from the working folder,"
    assert f"{said} {tmp_path}" in " ".join(res.output.split())
