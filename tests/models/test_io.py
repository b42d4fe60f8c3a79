"""Reading pickled PyTorch files: ``weights_only=True`` always, and a refusal in one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agriseg.models.io import ModelLoadError, torch_load


class Custom:
    """An arbitrary class: unpickling it needs code that ``weights_only=True`` refuses to run."""


def test_torch_load_reads_tensors(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"w": torch.ones(2)}, path)
    assert torch_load(path)["w"].tolist() == [1.0, 1.0]


def test_a_file_holding_python_objects_is_refused_in_one_line_naming_the_class(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "obj": Custom()}, path)
    with pytest.raises(ModelLoadError) as info:
        torch_load(path, "cannot read as a checkpoint")
    msg = str(info.value)
    assert msg.startswith(f"{path}: cannot read as a checkpoint (it holds Python objects")
    assert "Custom" in msg and "\n" not in msg and "PyTorch 2.6" not in msg


def test_garbage_is_not_a_pytorch_file(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelLoadError, match=r"junk\.pt: cannot read as a PyTorch file \(") as info:
        torch_load(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
    for name, data, reason in (("text.ckpt", b"hello world\n", "neither a zip archive nor a pickle"),
                               ("empty.ckpt", b"", "an empty file")):  # fmt: skip
        (tmp_path / name).write_bytes(data)  # they said "(KeyError: 101)" and "(EOFError)" (session 62's sweep)
        with pytest.raises(ModelLoadError) as info:
            torch_load(tmp_path / name, "cannot read as a checkpoint")
        assert str(info.value) == f"{tmp_path / name}: cannot read as a checkpoint ({reason})"
    import torch

    torch.save({"w": torch.zeros(1000)}, tmp_path / "whole.ckpt")
    data = (tmp_path / "whole.ckpt").read_bytes()
    # torch's line broke off at half ("...checkpoint file is)"); cut after its first tensor's bytes, torch said
    # "(OSError: [Errno 22] Invalid argument)" (session 100's sweep)
    torch.save({"a": torch.zeros(100), "b": torch.zeros(20000)}, tmp_path / "two.ckpt")
    for cut in (data[: len(data) // 2], (tmp_path / "two.ckpt").read_bytes()[:5000]):
        (tmp_path / "cut.ckpt").write_bytes(cut)
        with pytest.raises(ModelLoadError) as info:
            torch_load(tmp_path / "cut.ckpt", "cannot read as a checkpoint")
        assert str(info.value).endswith(
            "cut.ckpt: cannot read as a checkpoint (a zip archive cut short (an interrupted copy or download?))"
        )


def test_a_plain_pickle_or_another_zip_is_one_line_without_torchs_warning(tmp_path, recwarn):
    """A pickle.dump file printed torch's "Detected pickle protocol 4" warning before the error; a zip of other
    files said "[enforce fail at inline_container.cc:180] ..." (session 79's sweep)."""
    import pickle
    import zipfile

    with open(tmp_path / "raw.ckpt", "wb") as fh:
        pickle.dump({"w": 1}, fh, protocol=4)
    with pytest.raises(ModelLoadError, match=r"raw\.ckpt: cannot read as a PyTorch file \(not a PyTorch file: a "
                                             r"plain Python pickle, not a torch.save file\)"):  # fmt: skip
        torch_load(tmp_path / "raw.ckpt")  # torch said "Unsupported operand 149" (session 84's sweep)
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]
    with zipfile.ZipFile(tmp_path / "zip.ckpt", "w") as z:
        z.writestr("weights.txt", "1 2 3")
    with pytest.raises(ModelLoadError) as info:
        torch_load(tmp_path / "zip.ckpt")
    assert (
        str(info.value)
        == f"{tmp_path / 'zip.ckpt'}: cannot read as a PyTorch file (a zip archive, but not one torch.save wrote)"
    )


class _Payload:
    def __reduce__(self):  # what a malicious checkpoint does: a call when unpickled (here a harmless one)
        import os

        return (os.getcwd, ())


def test_a_file_that_would_run_code_is_refused_without_torchs_advice_to_load_it_anyway(tmp_path):
    """Torch's message advises ``weights_only=False``; for such a file that advice runs the attacker's code."""
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "x": _Payload()}, path)
    with pytest.raises(ModelLoadError) as info:
        torch_load(path, "cannot read as a checkpoint")
    msg = str(info.value)
    assert "getcwd" in msg and "weights_only` set to `False" not in msg and "\n" not in msg


def _tiny_model_file(path: Path, monkeypatch: pytest.MonkeyPatch, poison: float | None = None) -> Path:
    """A model file of a 1x1 convolution, which ``build_model`` (patched) builds for its config: a real
    encoder would only cost the import of smp and timm here."""
    import agriseg.models
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import save_model

    monkeypatch.setattr(agriseg.models, "build_model", lambda cfg: torch.nn.Conv2d(3, 2, 1))
    model = torch.nn.Conv2d(3, 2, 1)
    if poison is not None:
        with torch.no_grad():
            model.weight[1, 2, 0, 0] = poison
    return save_model(model, ModelConfig(encoder_weights=None), path, half=False)


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_a_model_whose_weights_hold_nan_is_refused_as_diverged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, poison: float
) -> None:
    """A model saved from a run that diverged is refused when loaded: its NaN outputs would mark nothing, silently."""
    from agriseg.models.io import load_model

    model, _ = load_model(_tiny_model_file(tmp_path / "ok.safetensors", monkeypatch))
    assert torch.isfinite(model.weight).all()
    path = _tiny_model_file(tmp_path / "bad.safetensors", monkeypatch, poison)
    with pytest.raises(ModelLoadError, match=r"bad\.safetensors: 1 of its 2 weight tensors hold NaN or infinite "
                                             r"values \(its training diverged\); train it again"):  # fmt: skip
        load_model(path)


def test_a_safetensors_file_with_bytes_past_its_tensors_is_refused_as_damaged(tmp_path: Path) -> None:
    """A file with bytes appended (two downloads written into one file) is not the file that was published."""
    from safetensors.torch import save_file

    from agriseg.models.io import check_safetensors

    path = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(4)}, str(path))
    check_safetensors(path)  # whole: taken
    data = path.read_bytes()
    path.write_bytes(data + b"\0" * 8)
    with pytest.raises(ModelLoadError, match=rf"truncated or damaged \(its tensors need {len(data)} bytes, the file "
                                             rf"has {len(data) + 8}\)"):  # fmt: skip
        check_safetensors(path)
    path.write_bytes(data[:-4])
    with pytest.raises(ModelLoadError, match="truncated or damaged"):
        check_safetensors(path)


@pytest.mark.parametrize("name", ["default", "crop-weed"])
def test_the_current_version_is_reachable_by_its_number_as_its_card_says(name: str, tmp_path: Path) -> None:
    """``default@5`` was refused while the card of ``default`` says version 5 and older ones are ``default@4``
    (session 80); the number comes from the card, so a new version cannot leave it behind."""
    import re

    from click.testing import CliRunner

    from agriseg.cli import main
    from agriseg.models.io import PACKAGED, WEIGHTS_DIR, LazyModel, packaged_name, resolve

    card = (WEIGHTS_DIR / PACKAGED[name]).with_suffix(".md").read_text(encoding="utf-8").splitlines()[0]
    version = re.search(r"version (\d+)$", card)
    assert version, card
    pinned = f"{name}@{version.group(1)}"
    assert packaged_name(pinned) == name and resolve(pinned) == resolve(name)
    assert LazyModel(pinned).onnx_path == LazyModel(name).onnx_path is not None  # the base install's file
    assert packaged_name(f"{name}@99") == f"{name}@99"
    res = CliRunner().invoke(main, ["crop", "models", "show", pinned])
    assert res.exit_code == 0 and res.output.splitlines()[0] == card
    listed = CliRunner().invoke(main, ["crop", "models", "list"]).output  # the pinned name is findable there
    assert f"{pinned} is {name}" in listed.splitlines()[-1], listed
    unknown = CliRunner().invoke(main, ["crop", "models", "show", "nope"]).output  # and named where one is wrong
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "x.jpg")
    predicted = CliRunner().invoke(
        main, ["crop", "predict", str(tmp_path / "x.jpg"), "-m", "nope", "-o", str(tmp_path / "o")]
    )
    assert pinned in unknown and pinned in predicted.output, (unknown, predicted.output)


def test_a_pt_file_given_as_a_model_says_what_to_give(tmp_path):
    """``-m rand.pt``: read as safetensors, it said "SafetensorError: Error while deserializing header: header
    too large" (session 83's sweep)."""
    from agriseg.models.io import read_model_config

    path = tmp_path / "rand.pt"
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(ModelLoadError, match=r"rand\.pt: a \.pt file is not a model agriseg reads: give its \.safet"):
        read_model_config(path)


def test_an_onnx_model_whose_graph_does_not_fit_its_config_or_is_named_in_capitals(tmp_path: Path) -> None:
    """Session 84's sweep: a graph of 8 channels (or a fixed 64x64 input) under a 3-channel config failed every
    photo as an "internal error"; a config of 5 classes on a 2-class graph wrote made-up class columns; a
    ``CROP.ONNX`` was read as safetensors ("header too large"); a config that is not JSON was pydantic's dump."""
    import shutil

    import onnx

    from agriseg.models.config import ModelConfig
    from agriseg.models.io import ONNX_CONFIG_KEY, read_model_config

    def graph(path: Path, cin: int, classes: int, fixed: bool = False, config: str | None = None) -> Path:
        axes = {} if fixed else {"x": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n", 2: "h", 3: "w"}}
        torch.onnx.export(torch.nn.Conv2d(cin, classes, 1), (torch.rand(1, cin, 64, 64),), str(tmp_path / "g.onnx"),
                          input_names=["x"], output_names=["logits"], dynamic_axes=axes, dynamo=False)  # fmt: skip
        proto = onnx.load(str(tmp_path / "g.onnx"))
        entry = proto.metadata_props.add()
        entry.key = ONNX_CONFIG_KEY
        entry.value = config or ModelConfig(encoder_weights=None, in_channels=3, num_classes=2).model_dump_json()
        onnx.save(proto, str(path))
        return path

    assert read_model_config(graph(tmp_path / "ok.onnx", 3, 2)).in_channels == 3
    shutil.copy(tmp_path / "ok.onnx", tmp_path / "CROP.ONNX")
    assert read_model_config(tmp_path / "CROP.ONNX").num_classes == 2
    for name, args, says in (("c8.onnx", (8, 2), "its graph takes 8 channels, its config says 3"),
                             ("k5.onnx", (3, 5), "its graph gives 5 classes, its config says 2"),
                             ("fixed.onnx", (3, 2, True), "its graph takes images of 64x64 pixels only")):  # fmt: skip
        with pytest.raises(ModelLoadError, match=rf"{name}: {says}"):
            read_model_config(graph(tmp_path / name, *args))
    with pytest.raises(ModelLoadError, match=r"bad.onnx: its agriseg model config is not valid \(.*Invalid JSON"):
        read_model_config(graph(tmp_path / "bad.onnx", 3, 2, config="{oops"))


def test_a_text_file_given_as_a_checkpoint_or_model_says_so_in_plain_words(tmp_path: Path) -> None:
    """Session 89's training sweep: `--resume notes.json` said "(not a PyTorch file: Unsupported operand 109)";
    `-m mine.safetensors` holding text said "SafetensorError: Error while deserializing header: header too large"."""
    from agriseg.models.io import ModelLoadError, read_model_config, torch_load

    (tmp_path / "notes.json").write_text("my notes")
    with pytest.raises(ModelLoadError) as err:
        torch_load(tmp_path / "notes.json", "not a readable training checkpoint")
    assert str(err.value).endswith(
        "not a readable training checkpoint (not a PyTorch file (damaged, or a file of another kind))"
    )
    (tmp_path / "mine.safetensors").write_text("precious")
    with pytest.raises(
        ModelLoadError, match=r"mine.safetensors: cannot read model file \(no .safetensors file: damaged"
    ):
        read_model_config(tmp_path / "mine.safetensors")


def test_a_run_folder_given_as_a_model_names_the_model_in_it(tmp_path: Path) -> None:
    """Session 106's sweep: `crop predict -m runs/tiny` said "is a folder, not a model file" and the packaged
    names, where the run's runs/tiny/model.safetensors was the file meant."""
    from agriseg.models.io import ModelNotFoundError, resolve

    with pytest.raises(ModelNotFoundError, match="is a folder, not a model file .packaged names: default"):
        resolve(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match=f"is a folder, not a model file .its model is {tmp_path}/model"):
        resolve(str(tmp_path))
