"""The one model runner: device, memory format, precision, tracing, and test-time augmentation.

Photos (``agriseg.crop.predictor.Predictor``) and Sentinel-2 scenes (``agriseg.fields.predict.ScenePredictor``)
run their models through :class:`ModelRunner` and average test-time augmentations with
:func:`tta_average`, whose operations share one vocabulary (:data:`TTA_OPS`).

Inputs may be numpy arrays or torch tensors, and outputs are of the input's kind. A model that comes as an
ONNX file (the packaged crop models, :attr:`agriseg.models.io.LazyModel.onnx_path`) runs with numpy and
ONNX Runtime alone: this module imports torch only when a PyTorch model has to run.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, cast

import numpy as np

from agriseg.config import DEVICE_PATTERN  # its home until this release: still importable from here

P = ParamSpec("P")
R = TypeVar("R")

_SAID: set[str] = set()  # warnings given once per process

if TYPE_CHECKING:  # torch is imported only where a PyTorch model runs
    import torch
    from torch import nn

Array = Any  # a numpy array or a torch tensor; functions return the kind they were given
Precision = Literal["fp32", "bf16"]
Optimize = Literal["none", "jit", "onnxruntime"]
TTAOp = Literal["flip_h", "flip_v", "swap_windows"]
# inputs with a side under this are padded by repeating their edge pixels before a model sees them
MIN_SIDE = 32


def keeps_torch_threads(fn: Callable[P, R]) -> Callable[P, R]:
    """Give back PyTorch's thread count after ``fn`` (a library entry point that sets it from ``--threads``):
    a notebook's later torch code keeps its own."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import torch

        before = torch.get_num_threads()
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapper


def tune_allocator(mode: Literal["train", "stream"] = "train") -> bool:
    """Set glibc's allocator for the work ahead; returns whether the setting was applied.

    - ``train``: keep freed memory in the heap during CPU training. By default glibc serves large blocks (the
      batch tensors and activations) with ``mmap`` and trims the heap after frees, so every training step maps,
      faults in and unmaps the same hundreds of megabytes. ``mallopt`` turns mmap off for the heap's blocks
      and raises the trim threshold to 2 GB. Measured effect with the equivalent environment variables:
      ``benchmarks/train_allocator.py``.
    - ``stream``: a long streaming prediction (``fields predict``) that must not grow with its input. glibc
      raises its mmap threshold each time a large block is freed (up to 32 MB), after which the few-MB arrays
      of every strip come from the heap and fragment it: a 6000 x 6000 px scene peaked at 2.3 GB, and more the
      taller the scene. A fixed threshold of 4 MB (which also stops the raising) gives every such array back
      when freed: 1.5 GB, whatever the height (``benchmarks/fields_predict_memory.py``).

    Linux / glibc only; set ``AGRISEG_MALLOPT=0`` to leave the allocator alone. Written by hand: no library
    exposes ``mallopt``.
    """
    import ctypes
    import os
    import sys

    if sys.platform != "linux" or os.environ.get("AGRISEG_MALLOPT", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # musl or another libc
        return False
    m_trim_threshold, m_mmap_threshold, m_mmap_max = -1, -3, -4  # <malloc.h>
    if mode == "stream":
        return bool(libc.mallopt(m_mmap_threshold, ctypes.c_int(4 << 20)))
    ok = libc.mallopt(m_trim_threshold, ctypes.c_int(2**31 - 1))
    # no mmap at all: a threshold above mallopt's 32 MB cap (what MALLOC_MMAP_THRESHOLD_ sets) is not
    # accepted here, and the largest activations exceed it
    ok &= libc.mallopt(m_mmap_max, ctypes.c_int(0))
    return bool(ok)


def _flip(x: Array, axis: int) -> Array:
    """``x`` mirrored along ``axis`` (a contiguous copy for numpy, so ONNX Runtime can take it)."""
    return np.ascontiguousarray(np.flip(x, axis)) if isinstance(x, np.ndarray) else x.flip(axis)


def _swap_windows(x: Array) -> Array:
    """Window B before window A of an 8-band two-window input ``(N, 8, H, W)``."""
    if isinstance(x, np.ndarray):
        return np.concatenate([x[:, 4:], x[:, :4]], 1)
    import torch

    return torch.cat([x[:, 4:], x[:, :4]], 1)


def _same(x: Array) -> Array:
    return x


def softmax(x: Array, axis: int = 1) -> Array:
    """Softmax over ``axis`` (the classes of ``(N, K, H, W)`` logits) of a numpy array or torch tensor."""
    if not isinstance(x, np.ndarray):
        return x.softmax(axis)
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


# name -> (transform of the input (N, C, H, W), inverse applied to the output (N, K, H, W))
TTA_OPS: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "flip_h": (lambda t: _flip(t, -1), lambda t: _flip(t, -1)),  # mirror left-right
    "flip_v": (lambda t: _flip(t, -2), lambda t: _flip(t, -2)),  # mirror top-bottom
    "swap_windows": (_swap_windows, _same),  # the prediction stays in place
}


def tta_average(probabilities: Callable[[Array], Array], x: Array, ops: Sequence[str] = ()) -> Array:
    """Mean of ``probabilities`` over the input and each test-time augmentation of it, mapped back.

    Args:
        probabilities: maps an input batch ``(N, C, H, W)`` to per-pixel outputs ``(N, K, H, W)``.
        x: the input batch.
        ops: names from :data:`TTA_OPS` (the identity always comes first).

    Raises:
        ValueError: an unknown operation (the message lists the valid ones).
    """
    for op in ops:
        if op not in TTA_OPS:
            raise ValueError(f"unknown test-time augmentation {op!r}; valid: {', '.join(TTA_OPS)}")
    acc = probabilities(x)
    for op in ops:
        fwd, back = TTA_OPS[op]
        acc = acc + back(probabilities(fwd(x)))
    return acc / (1 + len(ops))


def check_device(device: str, option: str = "--device") -> None:
    """Refuse a device this machine does not have, before any model is loaded or scene read.

    Args:
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        option: how the messages name the setting.

    Raises:
        OptionError: not a device name, or CUDA (that GPU) / MPS asked for where there is none.
    """
    from agriseg.config import OptionError

    if not DEVICE_PATTERN.fullmatch(device):
        raise OptionError(f"{option} {device!r}: not a torch device; use cpu, cuda or cuda:N (e.g. cuda:1), or mps")
    if device == "cpu":
        return
    from agriseg.extras import require

    require("train", f"{option} {device} (PyTorch runs the model there)")  # the base install has no PyTorch
    import torch

    if device == "mps":
        if not torch.backends.mps.is_available():
            raise OptionError(f"{option} mps: this machine has no Apple MPS device; use {option} cpu")
        return
    if not torch.cuda.is_available():
        raise OptionError(f"{option} {device}: no CUDA GPU is available on this machine; use {option} cpu")
    index, count = int(device.partition(":")[2] or 0), torch.cuda.device_count()
    if index >= count:
        have = ", ".join(f"cuda:{i}" for i in range(count))
        raise OptionError(f"{option} {device}: this machine has {count} CUDA GPU{'s' * (count > 1)} ({have})")


def weights_version(model: Any) -> tuple[tuple[int, int], ...] | None:  # noqa: ANN401 - any model
    """A cheap mark of a PyTorch module's weights that changes when one is changed in place (an optimiser step,
    ``load_state_dict``, ``weight.mul_``: PyTorch counts each tensor's in-place changes) or replaced by another
    tensor; None for a model that is not a built module (an ONNX file, a lazy model not built yet) or one made
    under ``torch.inference_mode`` (its tensors keep no count). A change through ``.data`` (``p.data.mul_()``)
    is not counted: make the predictor again after one."""
    import sys

    if "torch" not in sys.modules:  # no module was ever built: never imports PyTorch for this
        return None
    from torch import nn

    if not isinstance(model, nn.Module):
        return None
    from itertools import chain

    try:
        return tuple((t._version, t.data_ptr()) for t in chain(model.parameters(), model.buffers()))
    except RuntimeError:  # "Inference tensors do not track version counter"
        return None


@dataclass
class ModelRunner:
    """Runs a segmentation model for inference.

    Args:
        model: maps ``(N, C, H, W)`` to logits ``(N, K, H, W)``: a PyTorch module, or a callable returning it
            (such as :class:`agriseg.models.io.LazyModel`, called only when the network itself is needed).
            A model with an ``onnx_path`` (a packaged crop model, or an ``.onnx`` file) runs from that file
            with ``optimize="onnxruntime"``, without PyTorch.
        device: torch device.
        precision: ``fp32``, or ``bf16`` autocast (in PyTorch: with ``bf16`` or a GPU ``device``,
            ``onnxruntime`` means ``none``).
        channels_last: the channels-last memory format (faster convolutions on CPUs, same results).
        optimize: ``onnxruntime`` runs the model's ONNX file, or exports a PyTorch model to ONNX once per input
            shape (kept in the user cache), with ONNX Runtime on the CPU (float32; falls back to eager with a
            warning when export fails); ``jit`` traces and freezes one copy of the model per input shape (falls
            back to eager with a warning when the model cannot be traced); ``none`` runs it eagerly.
        batch_size: with ``jit``, smaller batches are zero-padded to this size so one trace serves them
            all (ONNX exports take any batch size).
        weights_key: a fingerprint of the weights (a lazy model's ``fingerprint`` by default): with
            ``onnxruntime``, a cached export is found under it without building the model.
        memory_arena: ONNX Runtime keeps freed buffers for reuse (faster for photos; scenes run as fast
            without it and peak 0.8 GB lower).
        any_size: with ``onnxruntime``, a PyTorch model is exported once for every input size (checked at two
            other sizes when exported; one export per shape where it does not hold): for inputs of many sizes,
            such as photos and the windows of their second passes.
    """

    model: nn.Module | Callable[[], nn.Module]
    device: str = "cpu"
    precision: Precision = "fp32"
    channels_last: bool = True
    optimize: Optimize = "none"
    batch_size: int = 1
    weights_key: str | None = None
    memory_arena: bool = True
    any_size: bool = False
    _ready: bool = field(default=False, repr=False)
    _traced: dict[tuple[int, ...], Any] = field(default_factory=dict, repr=False)
    _onnx_file: OnnxModule | None = field(default=None, repr=False)
    _eager_only: bool = field(default=False, repr=False)  # an ONNX export failed: no second try at other sizes
    _version: tuple[tuple[int, int], ...] | None = field(default=None, repr=False)  # the weights its copies hold

    def __post_init__(self) -> None:
        # ONNX Runtime runs here on the CPU in float32: a GPU, or bf16 autocast, stays with PyTorch
        on_cpu = str(self.device).split(":")[0] == "cpu"
        if self.optimize == "onnxruntime" and (self.precision == "bf16" or not on_cpu):
            self.optimize = "none"
            from agriseg.extras import missing_modules

            # 30x slower on a 2-core CPU: said, once per process (without PyTorch, the error that names its extra
            # is the one line)
            onnx_only = str(getattr(self.model, "path", "")).lower().endswith(".onnx")  # refused as such after
            if on_cpu and not onnx_only and "bf16" not in _SAID and "torch" not in missing_modules("train"):
                _SAID.add("bf16")
                logging.getLogger("agriseg").warning(
                    "--precision bf16 runs the model in PyTorch (ONNX Runtime runs float32 only), much slower on a "
                    "CPU; --precision fp32 keeps ONNX Runtime"
                )

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its ONNX Runtime sessions and traced copies (made again on first use), so a predictor
        that has run goes to a worker process (``Pool.map(predictor.predict, photos)``) and ``copy.deepcopy``."""
        return {**self.__dict__, "_traced": {}, "_onnx_file": None, "_version": None}  # the copy's tensors: its own

    @property
    def onnx_path(self) -> Path | None:
        """The model's own ONNX file, run when ``optimize`` is ``onnxruntime`` (None: a PyTorch model)."""
        return getattr(self.model, "onnx_path", None) if self.optimize == "onnxruntime" else None

    def prepare(self) -> None:
        """Put the model in eval mode on its device and memory format (once; not needed for an ONNX file)."""
        if self._ready or self.onnx_path is not None:
            return
        import torch
        from torch import nn

        if not isinstance(self.model, nn.Module):
            self.model = self.model()
        self.model.eval().to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self._ready = True
        self._version = weights_version(self.model)  # where its tensors are now

    def logits(self, x: Array) -> Array:
        """float32 logits ``(N, K, H, W)`` of an input batch ``(N, C, H, W)`` (numpy in, numpy out)."""
        h, w = x.shape[-2:]
        if min(h, w) < MIN_SIDE:
            # an exported graph keeps the pad mode it was traced with (reflect), which ONNX Runtime refuses for a
            # side of 16 px or less (a 20 x 1000 photo at 800 px is 16 px high): repeat the edge pixels up to
            # MIN_SIDE here and crop the logits back
            ph, pw = max(0, MIN_SIDE - h), max(0, MIN_SIDE - w)
            if isinstance(x, np.ndarray):
                big: Array = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge")
            else:
                import torch.nn.functional as F

                big = F.pad(x, (0, pw, 0, ph), mode="replicate")
            return self.logits(big)[..., :h, :w]
        if self.onnx_path is not None:
            if self._onnx_file is None:  # one session for every input size and batch size
                self._onnx_file = OnnxModule.from_file(self.onnx_path, self.memory_arena)
            return self._onnx_file(x)
        import torch

        if isinstance(x, np.ndarray):
            return self.logits(torch.from_numpy(x)).cpu().numpy()
        with torch.no_grad():  # inference only: tracing and exporting too
            return self._torch_logits(x)

    def _torch_logits(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        x = x.to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast(x.device.type, dtype=torch.bfloat16) if self.precision == "bf16" else nullcontext()
        n = x.shape[0]
        if self.optimize == "jit" and n < self.batch_size:  # one traced shape per input size
            x = torch.cat([x, x.new_zeros((self.batch_size - n, *x.shape[1:]))])
        module = self._module_for(x)
        if isinstance(module, OnnxModule):
            return module(x)[:n]
        with ctx:
            return module(x)[:n].float()

    def probabilities(self, x: Array, tta: Sequence[str] = ()) -> Array:
        """Softmax probabilities ``(N, K, H, W)``, averaged over test-time augmentations ``tta``."""
        return tta_average(lambda t: softmax(self.logits(t), 1), x, tta)

    def _any_size_module(self, x: torch.Tensor, wkey: str | None) -> OnnxModule | None:
        """The model's export for inputs of any size (cached, or made and checked now), or None."""
        if wkey:  # a cached export is found without building a lazy model
            cached = OnnxModule.load_cached(wkey, (x.shape[1], 0, 0), self.memory_arena)
            if cached is not None:
                return cached
        self.prepare()
        try:
            return OnnxModule.load_or_export_any_size(cast("nn.Module", self.model), x, wkey, self.memory_arena)
        except Exception as err:  # noqa: BLE001 - not exportable for any size: one export per shape decides (and warns)
            _reraise_ctrl_c(err)
            if "is not supported" in str(err) or "Unsupported" in type(err).__name__:  # an operator, at any size
                self._eager_only = True
                _say_eager(err)
            return None

    def _module_for(self, x: torch.Tensor) -> Any:
        """The eager model, or its compiled copy for this input shape (``jit`` or ``onnxruntime``)."""
        import torch

        key = tuple(x.shape) if self.optimize == "jit" else tuple(x.shape[1:])  # ONNX: any batch size
        if self.optimize != "none":  # prepare() records the version after moving the tensors: no false change
            version = weights_version(self.model)
            if self._version is not None and version != self._version:  # changed since (a notebook trains on)
                self._traced.clear()  # its traced and exported copies: made anew
                self.weights_key = None  # a cached export under it holds the old weights
            self._version = version
            if key in self._traced:
                return self._traced[key]
        wkey = self.weights_key or getattr(self.model, "fingerprint", None)
        if self.optimize == "onnxruntime" and self.any_size and not self._eager_only:
            any_key = (x.shape[1], 0, 0)  # (C, any, any)
            if any_key not in self._traced:
                self._traced[any_key] = self._any_size_module(x, wkey)
            if self._traced[any_key] is not None:
                return self._traced[any_key]
        if self._eager_only:  # an export failed once: every size of this model stays eager (no retry per shape)
            self.prepare()
            return self.model
        if self.optimize == "onnxruntime" and wkey:
            cached = OnnxModule.load_cached(wkey, key, self.memory_arena)
            if cached is not None:
                self._traced[key] = cached
                return cached
        self.prepare()
        model = cast("nn.Module", self.model)  # prepare() built it
        if self.optimize == "none":
            return model
        if self.optimize == "onnxruntime" and key not in self._traced:
            try:
                self._traced[key] = OnnxModule.load_or_export(model, x, wkey, self.memory_arena)
            except Exception as err:  # noqa: BLE001 - no onnxruntime, or an op it lacks: stay eager
                _reraise_ctrl_c(err)
                self._eager_only = True
                _say_eager(err)
                self._traced[key] = self.model
        if key not in self._traced:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    traced = torch.jit.trace(self.model, x, check_trace=False)
                    self._traced[key] = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
            except Exception as err:  # untraceable model: stay eager
                _reraise_ctrl_c(err)
                warnings.warn(f"optimize='jit' failed ({type(err).__name__}: {err}); running eager", stacklevel=2)
                self._traced[key] = self.model
        return self._traced[key]


@contextlib.contextmanager
def _stdout_dropped() -> Any:
    """Drop what is written on stdout meanwhile, by Python or by C++ code (the ONNX exporter's graph dump writes
    to file descriptor 1 itself); stdout stays for the command's results."""
    import os
    import sys

    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stdout without a descriptor (a test runner)
        with contextlib.redirect_stdout(None):
            yield
        return
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w", encoding="utf-8") as null:
            os.dup2(null.fileno(), fd)
            with contextlib.redirect_stdout(None):  # print() to no stream writes nothing
                yield
    finally:
        sys.stdout.flush()  # what Python buffered meanwhile goes to /dev/null, not after it
        os.dup2(saved, fd)
        os.close(saved)


def _say_eager(err: BaseException) -> None:
    """One warning line for a model that ONNX Runtime cannot run (never the exporter's graph dump)."""
    first = (str(err).strip().splitlines() or [""])[0][:200]
    logging.getLogger("agriseg").warning(
        "the model cannot run in ONNX Runtime (%s: %s); it runs in PyTorch (--optimize none skips the try)",
        type(err).__name__, first,
    )  # fmt: skip


def _reraise_ctrl_c(err: BaseException) -> None:
    """Stop on an error that a Ctrl-C caused (e.g. an ImportError of onnxruntime cut short), rather than fall
    back to the eager model as for an export that failed."""
    from agriseg.batch import interrupted

    if interrupted(err):
        raise KeyboardInterrupt from err


class OnnxModule:
    """A model in ONNX run by ONNX Runtime's CPU provider: numpy arrays in and out (torch tensors too).

    ONNX Runtime fuses the convolutions, batch norms and activations of convolutional segmentation models
    at load time, which PyTorch's eager CPU path does not. The packaged crop models are ONNX files with
    dynamic batch, height and width (:meth:`from_file`: one session serves every photo size); a PyTorch model
    is exported once for any size where its graph holds at another size (:meth:`load_or_export_any_size`) or
    per input shape (:meth:`load_or_export`), and the export kept in the user cache.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.onnx = b""
        self.input_name = session.get_inputs()[0].name

    @classmethod
    def from_file(cls, path: str | Path, memory_arena: bool = True) -> OnnxModule:
        """An inference session of an ONNX file (made once; it takes inputs of any size the file allows)."""
        return cls(cls._session(str(path), memory_arena))

    @staticmethod
    def cache_path(weights_key: str, shape: Sequence[int]) -> Path:
        """Where the export of weights ``weights_key`` for inputs ``(*, C, H, W)`` of ``shape`` is cached."""
        import hashlib

        import onnxruntime as ort

        from agriseg.data.files import user_cache

        h = hashlib.sha1(f"{tuple(shape)} {ort.__version__} {weights_key}".encode())
        return user_cache("onnx") / f"{h.hexdigest()[:20]}.onnx"

    @classmethod
    def load_cached(cls, weights_key: str, shape: Sequence[int], memory_arena: bool = True) -> OnnxModule | None:
        """The cached export for these weights and input ``(C, H, W)``, or None (a damaged one is removed)."""
        path = cls.cache_path(weights_key, shape)
        if not path.is_file():
            return None
        try:
            return cls(cls._session(path.read_bytes(), memory_arena))
        except Exception:  # noqa: BLE001 - a damaged cache entry is exported again
            path.unlink(missing_ok=True)
            return None

    @staticmethod
    def weights_fingerprint(model: nn.Module) -> str:
        """sha1 of a model's parameter names and bytes."""
        import hashlib

        import torch

        h = hashlib.sha1(b"agriseg-state ")
        for name, t in model.state_dict().items():
            h.update(name.encode())
            h.update(
                t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
            )
        return h.hexdigest()

    @classmethod
    def load_or_export(
        cls, model: nn.Module, x: torch.Tensor, weights_key: str | None = None, memory_arena: bool = True
    ) -> OnnxModule:
        """:meth:`export`, kept in the user cache (``onnx/``) under the weights' fingerprint (``weights_key``,
        or a hash of the parameters), the input's channels and size and the ONNX Runtime version, so later
        runs start without exporting again."""
        from agriseg.data.files import atomic_write

        weights_key = weights_key or cls.weights_fingerprint(model)
        path = cls.cache_path(weights_key, x.shape[1:])
        cached = cls.load_cached(weights_key, x.shape[1:], memory_arena)
        if cached is not None:
            return cached
        module = cls.export(model, x, memory_arena)
        try:
            with atomic_write(path) as tmp:
                tmp.write_bytes(module.onnx)
        except OSError:
            pass  # an unwritable cache only costs the next run an export
        return module

    @classmethod
    def load_or_export_any_size(
        cls, model: nn.Module, x: torch.Tensor, weights_key: str | None = None, memory_arena: bool = True
    ) -> OnnxModule | None:
        """One export for every input size of ``x``'s channels (kept in the user cache like
        :meth:`load_or_export`), or None for a model whose graph does not hold at other sizes.

        The graph is traced at a size that is not a multiple of 32 (so that padding to one is in it) and checked
        once, when it is made: model and graph must agree at a second such size and at a multiple of 32. A model
        that fails is remembered in the cache (a marker file), so later runs go straight to one export per shape.
        """
        import torch

        from agriseg.data.files import atomic_write

        weights_key = weights_key or cls.weights_fingerprint(model)
        c, h, w = x.shape[1], -(-x.shape[-2] // 32) * 32, -(-x.shape[-1] // 32) * 32  # sides up to a multiple of 32
        path = cls.cache_path(weights_key, (c, 0, 0))  # (C, any, any)
        if path.with_suffix(".static").is_file():
            return None
        cached = cls.load_cached(weights_key, (c, 0, 0), memory_arena)
        if cached is not None:
            return cached
        module = cls.export(model, torch.rand(1, c, h + 7, w + 11, device=x.device), memory_arena, dynamic_size=True)
        holds = all(cls._agrees(module, model, torch.rand(1, c, *hw)) for hw in ((h + 44, w + 30), (h, w)))
        try:
            with atomic_write(path if holds else path.with_suffix(".static")) as tmp:
                tmp.write_bytes(module.onnx if holds else b"")
        except OSError:
            pass  # an unwritable cache only costs the next run an export
        return module if holds else None

    @staticmethod
    def _agrees(module: OnnxModule, model: nn.Module, x: torch.Tensor) -> bool:
        """Whether the graph gives the model's logits for ``x`` ``(1, C, H, W)`` (to 1e-3 of their range)."""
        import torch

        try:
            with torch.no_grad():
                want = model(x).float().numpy()  # ONNX Runtime runs on the CPU only, so the model is there too
            got = module(x.numpy())  # (1, K, H, W)
        except Exception:  # noqa: BLE001 - the model or ONNX Runtime refuses this size: no export for any size
            return False
        return got.shape == want.shape and float(np.abs(got - want).max()) <= 1e-3 * max(1.0, float(np.abs(want).max()))

    @classmethod
    def export(
        cls, model: nn.Module, x: torch.Tensor, memory_arena: bool = True, dynamic_size: bool = False
    ) -> OnnxModule:
        """Export ``model`` for inputs of ``x``'s channels ``(*, C, H, W)``, any batch size, and open an inference
        session; the graph (:attr:`onnx`) takes ``x``'s height and width only, or any with ``dynamic_size``
        (for models whose forward pass has no size-dependent Python branches: check other sizes)."""
        import io

        import torch

        axes = {0: "batch", 2: "height", 3: "width"} if dynamic_size else {0: "batch"}
        buf = io.BytesIO()
        # the exporter prints the model's whole graph on stdout when an operator has no ONNX form (1.6 MB for a
        # ViT-Adapter, in the middle of what a script reads): its stdout is dropped; the error says the operator
        with torch.no_grad(), warnings.catch_warnings(), _stdout_dropped():
            warnings.simplefilter("ignore")
            # the stub types f as a path; the TorchScript exporter (dynamo=False) writes to a file object too
            torch.onnx.export(
                model.float(), (x.float().contiguous(),), buf,  # type: ignore[arg-type]
                input_names=["x"], output_names=["logits"],
                dynamic_axes={"x": axes, "logits": axes}, opset_version=17, dynamo=False,
            )  # fmt: skip
        module = cls(cls._session(buf.getvalue(), memory_arena))
        module.onnx = buf.getvalue()
        return module

    @staticmethod
    def _session(onnx: bytes | str, memory_arena: bool = True) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = _threads()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.enable_cpu_mem_arena = memory_arena
        return ort.InferenceSession(onnx, opts, providers=["CPUExecutionProvider"])

    def __call__(self, x: Array) -> Array:
        """float32 logits ``(N, K, H, W)`` of ``x`` ``(N, C, H, W)``, of ``x``'s kind (numpy or torch)."""
        if isinstance(x, np.ndarray):
            return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]
        import torch

        out = self.session.run(None, {self.input_name: x.detach().float().contiguous().cpu().numpy()})[0]
        return torch.from_numpy(out)


def _threads() -> int:
    """Threads of ONNX Runtime's convolutions: PyTorch's setting when torch is loaded, else the usable cores."""
    import os
    import sys

    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
