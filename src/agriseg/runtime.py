"""The one model runner: device, memory format, precision, tracing, and test-time augmentation.

Photos (``agriseg.crop.predict.Predictor``) and Sentinel-2 scenes (``agriseg.fields.predict.ScenePredictor``)
run their models through :class:`ModelRunner` and average test-time augmentations with
:func:`tta_average`, whose operations share one vocabulary (:data:`TTA_OPS`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

Precision = Literal["fp32", "bf16"]
Optimize = Literal["none", "jit"]
TTAOp = Literal["flip_h", "flip_v", "swap_windows"]


def _swap_windows(x: torch.Tensor) -> torch.Tensor:
    """Window B before window A of an 8-band two-window input ``(N, 8, H, W)``."""
    return torch.cat([x[:, 4:], x[:, :4]], 1)


def _same(x: torch.Tensor) -> torch.Tensor:
    return x


# name -> (transform of the input (N, C, H, W), inverse applied to the output (N, K, H, W))
TTA_OPS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "flip_h": (lambda t: t.flip(-1), lambda t: t.flip(-1)),  # mirror left-right
    "flip_v": (lambda t: t.flip(-2), lambda t: t.flip(-2)),  # mirror top-bottom
    "swap_windows": (_swap_windows, _same),  # the prediction stays in place
}


def tta_average(
    probabilities: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, ops: Sequence[str] = ()
) -> torch.Tensor:
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


@dataclass
class ModelRunner:
    """Runs a segmentation model for inference.

    Args:
        model: maps ``(N, C, H, W)`` to logits ``(N, K, H, W)``.
        device: torch device.
        precision: ``fp32``, or ``bf16`` autocast.
        channels_last: the channels-last memory format (faster convolutions on CPUs, same results).
        optimize: ``jit`` traces and freezes one copy of the model per input shape (falls back to eager
            with a warning when the model cannot be traced); ``none`` runs it eagerly.
        batch_size: with ``jit``, smaller batches are zero-padded to this size so one trace serves them all.
    """

    model: nn.Module
    device: str = "cpu"
    precision: Precision = "fp32"
    channels_last: bool = True
    optimize: Optimize = "none"
    batch_size: int = 1
    _ready: bool = field(default=False, repr=False)
    _traced: dict[tuple[int, ...], Any] = field(default_factory=dict, repr=False)

    def prepare(self) -> None:
        """Put the model in eval mode on its device and memory format (once)."""
        if self._ready:
            return
        self.model.eval().to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self._ready = True

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """float32 logits ``(N, K, H, W)`` of an input batch ``(N, C, H, W)``."""
        self.prepare()
        x = x.to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast(x.device.type, dtype=torch.bfloat16) if self.precision == "bf16" else nullcontext()
        n = x.shape[0]
        if self.optimize == "jit" and n < self.batch_size:  # one traced shape per input size
            x = torch.cat([x, x.new_zeros((self.batch_size - n, *x.shape[1:]))])
        with ctx:
            return self._module_for(x)(x)[:n].float()

    def probabilities(self, x: torch.Tensor, tta: Sequence[str] = ()) -> torch.Tensor:
        """Softmax probabilities ``(N, K, H, W)``, averaged over test-time augmentations ``tta``."""
        return tta_average(lambda t: self.logits(t).softmax(1), x, tta)

    def _module_for(self, x: torch.Tensor) -> Any:
        """The eager model, or its traced + frozen copy for this input shape (``optimize="jit"``)."""
        if self.optimize != "jit":
            return self.model
        key = tuple(x.shape)
        if key not in self._traced:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    traced = torch.jit.trace(self.model, x, check_trace=False)
                    self._traced[key] = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
            except Exception as err:  # untraceable model: stay eager
                warnings.warn(f"optimize='jit' failed ({type(err).__name__}: {err}); running eager", stacklevel=2)
                self._traced[key] = self.model
        return self._traced[key]
