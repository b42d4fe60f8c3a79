"""The one model runner: ONNX Runtime gives PyTorch's logits, for any batch size."""

from __future__ import annotations

import pytest
import torch

from agriseg.models import build_model
from agriseg.runtime import ModelRunner, OnnxModule

pytest.importorskip("onnxruntime")


def test_onnxruntime_matches_eager_for_any_batch() -> None:
    torch.manual_seed(0)
    model = build_model(encoder_weights=None).eval()
    eager = ModelRunner(model, channels_last=False)
    ort = ModelRunner(model, optimize="onnxruntime", batch_size=4)
    for n in (1, 3):
        x = torch.rand(n, 3, 64, 96)
        a, b = eager.logits(x), ort.logits(x)
        assert b.shape == a.shape == (n, 2, 64, 96)
        assert torch.allclose(a, b, atol=1e-3)
    assert len(ort._traced) == 1 and isinstance(next(iter(ort._traced.values())), OnnxModule)


def test_weights_changed_in_place_are_exported_again() -> None:
    """The runner kept its ONNX export of a module whose weights a notebook then changed (session 103)."""
    torch.manual_seed(0)
    model = build_model(encoder_weights=None).eval()
    ort = ModelRunner(model, optimize="onnxruntime", any_size=True)
    x = torch.rand(1, 3, 32, 32)
    before = ort.logits(x)
    assert torch.equal(ort.logits(x), before)  # the same weights: the same export, not another
    with torch.no_grad():
        model.head.bias.add_(torch.tensor([2.0, -2.0]))
    assert torch.allclose(ort.logits(x), ModelRunner(model).logits(x), atol=1e-3)
    assert not torch.allclose(ort.logits(x), before, atol=0.5)


def test_the_weights_check_costs_no_second_export_nor_fails_a_model_of_inference_mode(tmp_path, monkeypatch) -> None:
    """The check of session 103 traced a model with buffers twice (its device move replaced them), exported a
    copied runner again without its weights_key, and failed a model made under torch.inference_mode (its review)."""
    import copy

    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path))

    class WithBuffer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 3, padding=1)
            self.register_buffer("shift", torch.zeros(2, 2, 3, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) + self.shift.sum()

    traces = []
    trace = torch.jit.trace
    monkeypatch.setattr(torch.jit, "trace", lambda *a, **k: traces.append(1) or trace(*a, **k))
    runner = ModelRunner(WithBuffer(), optimize="jit")
    x = torch.rand(1, 3, 16, 16)
    for _ in range(3):
        runner.logits(x)
    assert len(traces) == 1
    exports = []
    export = OnnxModule.export.__func__
    counted = classmethod(lambda cls, *a, **k: exports.append(1) or export(cls, *a, **k))
    monkeypatch.setattr(OnnxModule, "export", counted)
    ort = ModelRunner(WithBuffer(), optimize="onnxruntime", weights_key="mine-v1")
    ort.logits(x)
    twin = copy.deepcopy(ort)
    twin.logits(x)
    assert twin.weights_key == "mine-v1" and len(exports) == 1
    # a cached export found without preparing the module: its weights changed since are still seen (the review)
    again = ModelRunner(ort.model, optimize="onnxruntime", weights_key="mine-v1")
    again.logits(x)
    with torch.no_grad():
        ort.model.conv.bias.add_(3.0)
    assert torch.allclose(again.logits(x), ModelRunner(ort.model).logits(x), atol=1e-4)
    with torch.inference_mode():
        frozen = torch.nn.Conv2d(3, 2, 1)
    assert ModelRunner(frozen, optimize="jit").logits(x).shape == (1, 2, 16, 16)


def test_exported_model_is_cached_per_weights_and_size(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    model = build_model(encoder_weights=None).eval()
    x = torch.rand(2, 3, 32, 64)
    first = OnnxModule.load_or_export(model, x)
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 1
    monkeypatch.setattr(OnnxModule, "export", classmethod(lambda cls, m, x, a=True: pytest.fail("exported again")))
    again = OnnxModule.load_or_export(model, x)
    assert torch.equal(first(x), again(x))
    monkeypatch.undo()
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path))
    OnnxModule.load_or_export(model, torch.rand(1, 3, 64, 64))  # another size: another entry
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 2


def test_onnxruntime_falls_back_to_eager_with_one_warning_and_no_retry(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model ONNX cannot export (a ViT-Adapter's bicubic resize) was exported again for every input size, each
    try printing its whole graph (1.6 MB) on stdout, and warned as a Python warning with its source line
    (session 84's sweep): one warning line now, stdout untouched, and no second try."""
    tries = []

    def broken(*args: object, **kwargs: object) -> None:
        tries.append(1)
        print("Torch IR graph at exception: graph(%x.1 : Float(*, 3, *, *)) ...")  # what the exporter prints
        raise RuntimeError("Exporting the operator 'aten::_upsample_bicubic2d_aa' to ONNX is not supported\n%x.1")

    monkeypatch.setattr(OnnxModule, "load_or_export", classmethod(lambda cls, m, x, k=None, a=True: broken()))
    monkeypatch.setattr(OnnxModule, "export", classmethod(lambda cls, m, x, a=True, dynamic_size=False: broken()))
    model = build_model(encoder_weights=None).eval()
    runner = ModelRunner(model, optimize="onnxruntime", any_size=True)
    with caplog.at_level("WARNING", logger="agriseg"):
        out = runner.logits(torch.rand(1, 3, 32, 32))
        runner.logits(torch.rand(1, 3, 64, 32))  # another size: eager at once
    assert out.shape == (1, 2, 32, 32)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "cannot run in ONNX Runtime (RuntimeError: Exporting the operator" in said[0], said
    assert "%x.1" not in said[0] and len(tries) == 1  # an operator ONNX lacks: no export of a size after it


def test_cached_export_runs_without_building_the_model(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lazy model file whose export is cached is never built (start-up without smp/timm)."""
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import LazyModel, save_model

    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = build_model(encoder_weights=None).eval()
    path = save_model(model, ModelConfig(encoder_weights=None), tmp_path / "m.safetensors", half=False)
    x = torch.rand(2, 3, 32, 64)
    lazy = LazyModel(path, in_channels=3)
    first = ModelRunner(lazy, optimize="onnxruntime").logits(x)
    assert lazy._model is not None  # the first run had to build and export it
    again_lazy = LazyModel(path, in_channels=3)
    monkeypatch.setattr(LazyModel, "__call__", lambda self: pytest.fail("model built although cached"))
    runner = ModelRunner(again_lazy, optimize="onnxruntime")
    again = runner.logits(x)
    assert torch.equal(first, again)
    assert torch.equal(runner.logits(x[:1]), again[:1])  # later batches use the same cached export
    assert torch.allclose(first, ModelRunner(model, channels_last=False).logits(x), atol=1e-3)
    with pytest.raises(ValueError, match="input channels"):
        LazyModel(path, in_channels=8)


def test_onnxruntime_is_for_cpu_float32_only() -> None:
    model = build_model(encoder_weights=None).eval()
    assert ModelRunner(model, optimize="onnxruntime").optimize == "onnxruntime"
    assert ModelRunner(model, optimize="onnxruntime", precision="bf16").optimize == "none"
    assert ModelRunner(model, device="cuda", optimize="onnxruntime").optimize == "none"


def test_tune_allocator_applies_on_glibc_and_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from agriseg.runtime import tune_allocator

    monkeypatch.setenv("AGRISEG_MALLOPT", "0")
    assert tune_allocator() is False
    monkeypatch.delenv("AGRISEG_MALLOPT")
    if sys.platform == "linux":
        import platform

        if platform.libc_ver()[0] == "glibc":
            assert tune_allocator() is True


@pytest.mark.parametrize("optimize", ["none", "jit"])
def test_pytorch_path_takes_numpy_and_runs_without_autograd(optimize: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    trace, grad_while_tracing = torch.jit.trace, []

    def spy(*args: object, **kwargs: object) -> object:
        grad_while_tracing.append(torch.is_grad_enabled())
        return trace(*args, **kwargs)

    monkeypatch.setattr(torch.jit, "trace", spy)
    torch.manual_seed(0)
    model = build_model(encoder_weights=None).eval()
    runner = ModelRunner(model, optimize=optimize, channels_last=False)
    x = torch.rand(1, 3, 32, 32)
    out = runner.logits(x)
    assert not out.requires_grad and not any(grad_while_tracing)  # traced under autograd: 3x memory and time
    assert len(grad_while_tracing) == (optimize == "jit")
    from_numpy = runner.logits(x.numpy())
    assert isinstance(from_numpy, np.ndarray) and np.allclose(from_numpy, out.numpy(), atol=1e-5)


@pytest.mark.parametrize("optimize", ["none", "onnxruntime"])
def test_inputs_thinner_than_the_models_stride_are_padded_by_their_edges(optimize: str) -> None:
    """A side of 16 px or less (a 20 x 1000 photo at 800 px is 16 px high) cannot be reflect-padded to a multiple
    of 32 in an exported graph: the runner repeats the edge pixels up to ``MIN_SIDE`` and crops the logits back,
    for numpy and torch inputs alike."""
    import numpy as np

    torch.manual_seed(0)
    runner = ModelRunner(build_model(encoder_weights=None).eval(), optimize=optimize, channels_last=False)
    for h, w in ((16, 800), (1, 40), (3, 3)):
        x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
        out = runner.logits(x)
        assert isinstance(out, np.ndarray) and out.shape == (1, 2, h, w) and np.isfinite(out).all()
    t = runner.logits(torch.rand(2, 3, 8, 64))
    assert isinstance(t, torch.Tensor) and t.shape == (2, 2, 8, 64)


class _SizeBranch(torch.nn.Module):
    """A model whose traced graph holds at the size it was traced at only (a Python branch on the width)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)  # (N, 2, H, W)
        return y * 2 if x.shape[-1] > 80 else y


def test_one_export_serves_every_size_where_the_graph_holds(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .safetensors crop model was exported once per input shape: 49 exports (716 MB) for 23 photos of one
    size, because the second passes run windows of many sizes."""
    from agriseg.models.config import ModelConfig
    from agriseg.models.io import LazyModel, save_model

    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    path = save_model(build_model(encoder_weights=None).eval(), ModelConfig(encoder_weights=None),
                      tmp_path / "m.safetensors", half=False)  # fmt: skip
    runner = ModelRunner(LazyModel(path, in_channels=3), optimize="onnxruntime", any_size=True)
    eager = ModelRunner(LazyModel(path, in_channels=3), channels_last=False)
    for shape in ((2, 3, 32, 64), (1, 3, 45, 71), (1, 3, 96, 40)):  # sizes not a multiple of 32 too
        x = torch.rand(*shape)
        assert torch.allclose(runner.logits(x), eager.logits(x), atol=1e-3)
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1
    monkeypatch.setattr(OnnxModule, "export", classmethod(lambda *a, **k: pytest.fail("exported again")))
    again = ModelRunner(LazyModel(path, in_channels=3), optimize="onnxruntime", any_size=True)
    x = torch.rand(1, 3, 50, 50)
    assert torch.allclose(again.logits(x), eager.logits(x), atol=1e-3)  # from the cache, at a size never seen


def test_a_graph_that_does_not_hold_at_another_size_is_exported_per_shape(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGRISEG_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    model = _SizeBranch().eval()
    runner = ModelRunner(model, optimize="onnxruntime", any_size=True, channels_last=False)
    for shape in ((1, 3, 32, 64), (1, 3, 32, 96)):  # the branch differs between them
        x = torch.rand(*shape)
        with torch.no_grad():
            assert torch.allclose(runner.logits(x), model(x), atol=1e-4)
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 2  # one per shape
    assert len(list((tmp_path / "onnx").glob("*.static"))) == 1  # remembered: the next run does not try again


def test_a_gpu_device_without_pytorch_names_the_install(monkeypatch) -> None:
    """Predictor(device="cuda") in the base install failed with a bare "No module named 'torch'" (session 72's
    review): the device check names the extra to install."""
    import pytest

    import agriseg.extras
    from agriseg.extras import MissingExtra
    from agriseg.runtime import check_device

    monkeypatch.setattr(agriseg.extras, "missing_modules", lambda extra: ["torch"] if extra == "train" else [])
    with pytest.raises(MissingExtra, match=r"device cuda \(PyTorch runs the model there\) needs .*agriseg\[train\]"):
        check_device("cuda", "device")
    check_device("cpu", "device")  # the CPU needs no PyTorch (ONNX Runtime)


# ----------------------------------------------------------------------------------------------------------
# the config/runtime/models/plots mutation sweep's survivors


def test_a_gpu_of_two_digit_index_is_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--device cuda:12`` on a 16-GPU machine is a device, not "not a torch device"."""
    from agriseg.config import OptionError
    from agriseg.fields.config import PredictConfig
    from agriseg.runtime import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 16)
    for device in ("cuda:12", "cuda:15", "cuda"):
        check_device(device)
    with pytest.raises(OptionError, match=r"--device cuda:16: this machine has 16 CUDA GPUs"):
        check_device("cuda:16")
    with pytest.raises(OptionError, match="not a torch device"):
        check_device("cuda:1x")
    assert PredictConfig(device=" cuda:12 ").device == "cuda:12"  # a fields config's device too


def test_swapping_the_windows_is_the_same_for_numpy_and_torch_inputs() -> None:
    """An ONNX model gets numpy input: its ``swap_windows`` augmentation must swap too, not average one order twice."""
    import numpy as np

    from agriseg.runtime import TTA_OPS, tta_average

    x = np.random.default_rng(0).random((2, 8, 4, 5), dtype=np.float32)
    swapped = TTA_OPS["swap_windows"][0](x)
    assert isinstance(swapped, np.ndarray) and np.array_equal(swapped, x[:, [4, 5, 6, 7, 0, 1, 2, 3]])

    def first_bands(t):  # noqa: ANN001, ANN202 - numpy or torch: the window order matters to it
        return t[:, :2] * 1.0

    got = tta_average(first_bands, x, ["swap_windows", "flip_h"])
    want = tta_average(first_bands, torch.from_numpy(x), ["swap_windows", "flip_h"])
    assert np.allclose(got, want.numpy()) and not np.allclose(got, x[:, :2])


def test_a_model_left_in_training_mode_runs_in_eval_mode() -> None:
    """A model handed over after training (BatchNorm in training mode) runs in eval mode: otherwise each batch is
    normalised by its own statistics, and a photo's mask depends on the other photos of its batch."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.BatchNorm2d(2))
    model.train()
    with torch.no_grad():
        model[1].running_mean.fill_(0.3)
        model[1].running_var.fill_(4.0)
    x = torch.rand(2, 3, 32, 32)
    got = ModelRunner(model, channels_last=False).logits(x)
    with torch.no_grad():
        want = model.eval()(x)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(ModelRunner(model, channels_last=False).logits(x[:1]), want[:1], atol=1e-6)


def test_bf16_leaving_onnx_runtime_on_a_cpu_is_said_once(caplog: pytest.LogCaptureFixture, monkeypatch) -> None:
    """``crop predict --precision bf16`` silently moved off ONNX Runtime to PyTorch: 2.7 s -> 91 s on one photo
    (CLI review, session 81). It still runs, and says so once per process."""
    from agriseg import runtime

    monkeypatch.setattr(runtime, "_SAID", set())
    net = torch.nn.Conv2d(3, 2, 1)
    with caplog.at_level("WARNING", logger="agriseg"):
        assert ModelRunner(net, optimize="onnxruntime").optimize == "onnxruntime"
        assert not caplog.records
        for _ in range(2):
            assert ModelRunner(net, precision="bf16", optimize="onnxruntime").optimize == "none"
        ModelRunner(net, device="cuda", optimize="onnxruntime")  # a GPU: PyTorch, as expected, nothing to say
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "--precision bf16 runs the model in PyTorch" in said[0], said
