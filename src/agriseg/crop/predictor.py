"""The crop model as a photo predictor: one photo in, its class probabilities and mask out (any size, tiles,
test-time augmentation, outlines re-decided at the photo's resolution)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from PIL import Image

from agriseg.crop.config import DEFAULT_OPTIMIZE, MIN_LONG_SIDE
from agriseg.data.io import as_rgb
from agriseg.runtime import ModelRunner, Optimize, softmax, tta_average
from agriseg.tiling import predict_tiled

if TYPE_CHECKING:
    from torch import nn

    from agriseg.models.config import ModelConfig


Precision = Literal["fp32", "bf16"]
TTA = Literal["none", "flip", "flip+scale"]
# the reduction (photo px per working px) from which Predictor re-decides outlines at the photo's resolution
OUTLINE_MIN_SCALE = 2.0
# vegetation probabilities between which a pixel is re-decided by the photo's colours (to_classes); chosen on
# development sets (benchmarks/crop_unsure_pixels.py), never on a benchmark set
UNSURE = (0.05, 0.9)
# with UNSURE: pieces of vegetation joined by a trace of vegetation probability above this are one plant (a stem
# thinner than the working pixel); chosen on the same development sets. Two-class models only: the crop-weed
# model's background probability spreads wider, and on the development plants and trays 13 of its 37 bridges
# joined different plants (the vegetation model: 2 of 31)
FAINT_STEM = 0.02
# with FAINT_STEM: photos larger than the working size, up to this long side, get a second pass at their own size
# around the gaps between nearby pieces (Predictor.trace_long_side): a 2-3 px stem is under one working pixel.
# On the development plants exact counts 38 -> 41 of 50, other development sets within 0.005; 32 Peanut photos at
# 960x720 took 16 % longer (crop_predict_speed_trace.json); larger photos (an 8 MP one was 2.2x slower at
# 1600 px) keep the working size (benchmarks/crop_unsure_pixels.py, suffix /traceN)
TRACE_LONG_SIDE = 1600
# the second pass runs only in boxes around gaps of at most TRACE_REACH working px between pieces, with
# TRACE_MARGIN working px of context around each gap (agriseg.crop.refine.gap_windows)
TRACE_REACH = 32
TRACE_MARGIN = 32
# extra inference sizes of "flip+scale", relative to long_side
TTA_SCALES = (0.8, 1.25)
# test-time augmentation presets of crop models -> flips of the shared vocabulary (agriseg.runtime.TTA_OPS)
TTA_FLIPS = ("flip_v", "flip_h")


def resize_planes(planes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of float32 planes ``(C, H, W)`` to ``(C, h, w)`` (``size`` = ``(h, w)``).

    Pillow's float-image resize: pixel centres aligned (``align_corners=False``), and when shrinking the
    filter widens with the scale (antialiasing), as ``torch.nn.functional.interpolate(..., antialias=True)``.
    """
    h, w = size
    if planes.shape[1:] == (h, w):
        return planes
    out = np.empty((planes.shape[0], h, w), np.float32)
    for i, plane in enumerate(planes):
        im = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
        out[i] = np.asarray(im.resize((w, h), Image.Resampling.BILINEAR))
    return out


@dataclass
class Predictor:
    """Runs a segmentation model on RGB images of any size, with numpy (and PyTorch only for PyTorch models).

    The inference rule of every crop command (``predict``, ``evaluate``, ``traits``, ``plots``): the image is
    resized so its long side is ``long_side`` (antialiased bilinear), tiled with blending when larger than
    ``tile``, run through the model (with test-time augmentation ``tta``), the softmax probabilities resized
    back to the image's size (bilinear), and turned into a class map by :func:`to_classes`.

    For a packaged model or a model file, make it with :func:`load_predictor`: it takes the model's own
    settings (working size, TTA, ONNX Runtime), as every command does; a ``Predictor`` made here runs with the
    defaults below (640 px, no ONNX Runtime), whose masks differ a little from the commands'.

    Args:
        model: a model taking ``(B, 3, H, W)`` in [0, 1] and returning logits: a
            :class:`agriseg.models.io.LazyModel` (a packaged model runs from its ONNX file, without PyTorch),
            or a PyTorch module.
        num_classes: classes predicted by the model.
        long_side: images are resized so their long side is this (0 = native); masks come back at full size.
        tile: images larger than this (after resizing) are tiled with blending.
        overlap: tile overlap fraction.
        batch_size: images (or tiles) per forward pass.
        precision: ``fp32`` or ``bf16`` autocast (PyTorch).
        channels_last: use the channels-last memory format (PyTorch; 1.6x faster on this CPU, same masks).
        device: torch device (``cpu`` runs ONNX Runtime; others run PyTorch).
        tta: test-time augmentation: ``none``; ``flip`` averages the probabilities of the photo and its
            vertical and horizontal flips (3 passes); ``flip+scale`` also at 0.8x and 1.25x the size (9 passes).
        optimize: how the model runs (:class:`agriseg.runtime.ModelRunner`): ``onnxruntime`` (the model's
            ONNX file, or a PyTorch model exported once per photo size), ``none`` (PyTorch eager) or ``jit``.
        config: the model's config, when known (:func:`load_predictor` sets it).
        outline_band: where the model ran at under half the photo's resolution, the outline is re-decided at the
            photo's own resolution within this many working-size pixels of it (:func:`to_classes`); 0 = never.
        unsure: pixels whose vegetation probability lies between these two are re-decided by the photo's
            colours (:func:`to_classes`); None = never.
        faint_stem: pieces of vegetation joined by a trace of vegetation probability above this are joined
            into one plant (:func:`to_classes`); None = never (:func:`load_predictor` turns it off for models
            of more than two classes).
        trace_long_side: with ``faint_stem``, photos larger than the working size and at most this long are
            also searched for the trace between pieces in a second pass of the model at their own size (no
            test-time augmentation), in boxes around the gaps between nearby pieces only
            (:func:`agriseg.crop.refine.gap_windows`): a stem under one working pixel wide can be traced at the
            photo's size. 0 = photos of any size; None = the working size only.
        progress: a progress bar of the tiles of a photo tiled into more than one model pass.
    """

    model: nn.Module | Callable[[], nn.Module]
    num_classes: int
    long_side: int = 640
    tile: int = 1024
    overlap: float = 0.25
    batch_size: int = 4
    precision: Precision = "fp32"
    channels_last: bool = True
    device: str = "cpu"
    tta: TTA = "none"
    optimize: Optimize = "none"
    config: ModelConfig | None = field(default=None, repr=False)
    outline_band: int = 1
    unsure: tuple[float, float] | None = UNSURE
    faint_stem: float | None = FAINT_STEM
    trace_long_side: int | None = TRACE_LONG_SIDE
    progress: bool = False
    runner: ModelRunner = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._check()
        self.runner = ModelRunner(  # photos and their second-pass windows come in many sizes: one export
            self.model, self.device, self.precision, self.channels_last, self.optimize, self.batch_size, any_size=True
        )

    def _check(self) -> None:
        """Refuse settings that would give wrong masks silently (a library caller has no CLI checking them)."""
        from numbers import Integral
        from typing import get_args

        from agriseg.runtime import check_device

        if not callable(self.model):  # a name or a path: said here, not as "'str' object is not callable" later
            m = self.model
            what = f"{type(m).__name__} {os.fspath(m)!r}" if isinstance(m, str | os.PathLike) else type(m).__name__
            raise TypeError(
                f"model is a torch module or a LazyModel, not {what}: load_predictor takes a packaged model's name "
                "or a model file"
            )
        for name, kind in (("tta", TTA), ("precision", Precision), ("optimize", Optimize)):
            if getattr(self, name) not in get_args(kind):
                valid = ", ".join(get_args(kind))
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of: {valid}")
        if not isinstance(self.num_classes, Integral) or self.num_classes < 2:
            raise ValueError(f"num_classes={self.num_classes!r}: at least 2 (background and one class)")
        if not isinstance(self.long_side, Integral):
            raise TypeError(f"long_side={self.long_side!r}: a whole number of pixels (e.g. 800), or 0")
        if self.long_side < 0 or 0 < self.long_side < MIN_LONG_SIDE:
            raise ValueError(f"long_side={self.long_side!r}: 0 (the photo's own size) or at least {MIN_LONG_SIDE} px")
        from numbers import Real

        if not isinstance(self.tile, Integral):
            raise TypeError(f"tile={self.tile!r}: a whole number of pixels, at least 32")
        if self.tile < 32:
            raise ValueError(f"tile={self.tile!r}: at least 32 px")
        if not isinstance(self.overlap, Real) or not 0.0 <= self.overlap <= 0.9:
            raise ValueError(f"overlap={self.overlap!r}: a fraction from 0 to 0.9")
        if not isinstance(self.batch_size, Integral) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r}: at least 1")
        pair = self.unsure
        if pair is not None and not (
            isinstance(pair, Sequence) and len(pair) == 2 and all(isinstance(v, Real) for v in pair)
        ):
            raise TypeError(f"unsure={pair!r}: a pair (low, high) of probabilities, or None")
        if pair is not None and not 0.0 <= pair[0] < pair[1] <= 1.0:
            raise ValueError(f"unsure={pair!r}: (low, high) probabilities with 0 <= low < high <= 1")
        if not isinstance(self.outline_band, Integral) or self.outline_band < 0:
            raise ValueError(f"outline_band={self.outline_band!r}: a whole number of working pixels, 0 or more")
        if self.faint_stem is not None and not (isinstance(self.faint_stem, Real) and 0.0 < self.faint_stem < 1.0):
            raise ValueError(f"faint_stem={self.faint_stem!r}: a probability between 0 and 1, or None")
        if self.trace_long_side is not None and (
            not isinstance(self.trace_long_side, Integral) or self.trace_long_side < 0
        ):
            raise ValueError(f"trace_long_side={self.trace_long_side!r}: a whole number of pixels, 0 or more, or None")
        check_device(str(self.device), "device")  # a GPU this machine lacks: here, not at the first photo

    def to_array(self, rgb: np.ndarray, long_side: int | None = None) -> np.ndarray:
        """uint8 ``(H, W, 3)`` -> float32 ``(3, h, w)`` in [0, 1] with its long side at ``long_side``
        (default: the predictor's)."""
        long_side = self.long_side if long_side is None else long_side
        x = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)  # (3, H, W)
        x /= 255
        h, w = x.shape[-2:]
        if long_side and max(h, w) != long_side:
            s = long_side / max(h, w)
            x = resize_planes(x, (max(1, round(h * s)), max(1, round(w * s))))
        return x

    def probabilities(self, images: Sequence[Any]) -> list[np.ndarray]:
        """Class probabilities ``(K, H, W)`` float32 at each image's full size (averaged over TTA variants).

        Args:
            images: photos as :func:`agriseg.data.io.as_rgb` takes them (uint8 ``(H, W, 3)`` arrays, other
                arrays, PIL images or file names).
        """
        if isinstance(images, str | os.PathLike | Image.Image) or (isinstance(images, np.ndarray) and images.ndim < 4):
            raise TypeError("probabilities takes a list of photos; for one photo pass [photo] (or use predict)")
        images = [as_rgb(im) for im in images]
        if not images:  # nothing to run (an IndexError of the first photo's size before)
            return []
        sizes = [self.long_side]
        if self.tta == "flip+scale":
            if not self.long_side and len({im.shape[:2] for im in images}) > 1:  # each photo's scales its own
                return [self.probabilities([im])[0] for im in images]
            base = self.long_side or max(images[0].shape[:2])
            sizes += [round(base * f) for f in TTA_SCALES]
        flips = () if self.tta == "none" else TTA_FLIPS
        total = [self._probabilities(images, size, flips) for size in sizes]
        if len(sizes) == 1:
            return total[0]
        return [cast(np.ndarray, sum(ps)) / len(sizes) for ps in zip(*total, strict=True)]

    def _probabilities(self, images: list[np.ndarray], long_side: int, flips: tuple[str, ...]) -> list[np.ndarray]:
        xs = [self.to_array(im, long_side) for im in images]
        # images of one working size go through the model together; others one by one (tiled if large)
        if len({x.shape for x in xs}) == 1 and max(xs[0].shape[-2:]) <= self.tile:
            probs = list(self.runner.probabilities(np.stack(xs), flips))  # (K, h, w) each
            if probs[0].shape[0] != self.num_classes:  # as predict_tiled says it for a tiled photo
                h, w = xs[0].shape[-2:]
                raise ValueError(
                    f"forward returned shape {(len(xs), probs[0].shape[0], h, w)}; expected "
                    f"(N, {self.num_classes}, {h}, {w}) (num_classes={self.num_classes})"
                )
        else:

            def tiled(t: np.ndarray) -> np.ndarray:  # (1, 3, h, w) -> (1, K, h, w)
                forward = lambda b: softmax(self.runner.logits(b), 1)  # noqa: E731
                k, tile, overlap, bs = self.num_classes, self.tile, self.overlap, self.batch_size
                return predict_tiled(forward, t[0], k, tile, overlap, bs, progress=self.progress)[None]

            probs = [tta_average(tiled, x[None], flips)[0] for x in xs]
        return [resize_planes(p, im.shape[:2]) for im, p in zip(images, probs, strict=True)]

    def predict(self, image: Any) -> np.ndarray:
        """The class-id mask of one photo.

        Args:
            image: the photo: a uint8 ``(H, W, 3)`` array in RGB order, or what :func:`agriseg.data.io.as_rgb`
                takes (other arrays, a PIL image, a file name). An OpenCV array is BGR: pass
                ``cv2.cvtColor(a, cv2.COLOR_BGR2RGB)`` (its channels cannot be told apart from the values).

        Returns:
            ``(H, W)`` uint8 class ids (0 background; 1 vegetation, or the model's classes).

        Raises:
            ValueError: an array that is no photo (see :func:`agriseg.data.io.as_rgb`).
        """
        rgb = as_rgb(image)
        return self.classes(self.probabilities([rgb])[0], rgb)

    def segment(self, image: Any) -> tuple[np.ndarray, np.ndarray]:
        """The class map of one photo and where the model was sure of it.

        Args:
            image: the photo, as :meth:`predict` takes it.

        Returns:
            The class map ``(H, W)`` uint8 and :meth:`sure` of its probabilities ``(H, W)`` bool.
        """
        rgb = as_rgb(image)
        probs = self.probabilities([rgb])[0]
        return self.classes(probs, rgb), self.sure(probs)

    def sure(self, probs: np.ndarray) -> np.ndarray:
        """``(H, W)`` bool: the pixels whose vegetation probability (of ``(K, H, W)`` probabilities) reaches the
        level at which the inference rule keeps the model's own decision (``unsure[1]``; 0.5 without one)."""
        high = self.unsure[1] if self.unsure is not None else 0.5
        return (1.0 - probs[0]) >= high  # (H, W)

    def classes(self, probs: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """The class map ``(H, W)`` of the full-size probabilities ``(K, H, W)`` of the photo ``rgb``."""
        return self.outline(probs, rgb)()

    def outline(self, probs: np.ndarray, rgb: np.ndarray) -> Callable[[], np.ndarray]:
        """:meth:`classes` in two steps: this one runs the model where it must look again (the faint traces at
        the photo's size), the function it returns decides the class map without the model, so a thread can
        run it while the model reads the next photos."""
        scale = max(rgb.shape[:2]) / self.long_side if self.long_side else 1.0  # photo px per working px
        reduced = scale >= OUTLINE_MIN_SCALE
        band = round(self.outline_band * scale) if reduced else 0
        step, trace = int(scale) if reduced else 1, None
        side = max(rgb.shape[:2])
        bridges = self.unsure is not None and self.faint_stem is not None
        if bridges and self.trace_long_side is not None and self.long_side:
            if self.long_side < side <= (self.trace_long_side or side):  # a stem may be under one working pixel
                trace = self._trace(probs, rgb, scale)
                step = 1
        return partial(to_classes, probs, rgb, band, self.unsure, step, self.faint_stem, trace)

    def _trace(self, probs: np.ndarray, rgb: np.ndarray, scale: float) -> np.ndarray:
        """The background probability ``(H, W)`` with a second pass at the photo's own size in the boxes around
        gaps between pieces (a trace seen at either size: the lower background probability)."""
        from agriseg.crop.refine import FLOOR_FACTOR, background_floor, gap_windows

        classes = class_map(probs)
        p = 1.0 - probs[0]  # (H, W) vegetation probability
        faint = max(self.faint_stem or 0.0, FLOOR_FACTOR * background_floor(p, classes))  # as the bridges read it
        reach, margin = round(TRACE_REACH * scale), round(TRACE_MARGIN * scale)
        boxes = gap_windows(classes > 0, reach, margin, int(scale), traced=p > faint)
        trace = probs[0].copy()  # (H, W)
        for rows, cols in boxes:
            crop = rgb[rows, cols]  # (h, w, 3) with its context
            hi = self._probabilities([crop], max(crop.shape[:2]), ())[0][0]  # (h, w) at the photo's size
            np.minimum(trace[rows, cols], hi, out=trace[rows, cols])
        return trace


def load_predictor(
    model_name: str | Path,
    long_side: int | None = None,
    tta: TTA | None = None,
    optimize: Optimize = DEFAULT_OPTIMIZE,
    **options: Any,
) -> Predictor:
    """The predictor of a packaged model name or model file, with the model's own inference settings.

    Every crop command builds its predictor here, so one photo gets the same mask from each of them.

    Args:
        model_name: packaged name (``default``, ``crop-weed``, ...) or a ``.onnx`` / ``.safetensors`` /
            ``.ckpt`` file.
        long_side: working size (None: the model's ``infer_long_side``; 0: native resolution).
        tta: test-time augmentation (None: the model's ``infer_tta``).
        optimize: how the model runs (:class:`Predictor`).
        options: further :class:`Predictor` fields (``tile``, ``batch_size``, ``precision``, ``device``).

    Raises:
        agriseg.models.io.ModelLoadError: a missing or unreadable model, or one that does not take RGB;
            ``ImportError`` (with the install command) when the model needs PyTorch and it is missing.
    """
    from agriseg.models.io import LazyModel

    if not isinstance(model_name, (str, os.PathLike)):
        raise TypeError(f"model_name is a packaged name or a model file, not {type(model_name).__name__}")
    model = LazyModel(model_name, in_channels=3)  # the network is built only if it runs in PyTorch
    cfg = model.config
    pred = Predictor(
        model,
        cfg.num_classes,
        cfg.infer_long_side if long_side is None else long_side,
        tta=cfg.infer_tta if tta is None else tta,  # "" is refused as any other unknown value, not the default
        optimize=optimize,
        config=cfg,
        **options,
    )
    if cfg.num_classes > 2:
        pred.faint_stem = None  # see FAINT_STEM
    if pred.runner.onnx_path is None:
        if model.path.suffix.lower() == ".onnx":  # every photo failed on its first model pass (session 103)
            from agriseg.config import OptionError

            raise OptionError(
                f"{model.path}: an ONNX model runs only in ONNX Runtime, on the CPU in float32; for PyTorch's "
                "settings (--optimize none or jit, --precision bf16, a GPU) give its .safetensors or .ckpt"
            )
        model.require_torch()
    return pred


def to_classes(
    probs: np.ndarray,
    rgb: np.ndarray | None = None,
    band: int = 0,
    unsure: tuple[float, float] | None = None,
    step: int = 1,
    faint_stem: float | None = None,
    trace: np.ndarray | None = None,
) -> np.ndarray:
    """The class map ``(H, W)`` uint8 of full-size probabilities ``(K, H, W)`` of the photo ``rgb``.

    The one step from probabilities to classes of every crop command: :func:`class_map`, then the pixels the
    model leaves open are re-decided by the photo's own colours, with a per-photo discriminant fitted to the
    pixels it is sure of (:func:`agriseg.crop.refine.refine_outline`):

    - ``unsure = (low, high)``: pixels of vegetation probability between the two. A model's outline is soft
      over about one working pixel (on a 960x720 photo run at 800 px, a disc of radius 30 came out 5-9 % too
      large), and a leaf it half saw (dark green on pale soil) has a probability well under 0.5;
    - ``band`` > 0: the pixels within ``band`` photo pixels of the outline. A model run on a reduced photo draws
      its outline in working pixels; upsampled, the outline is uncertain by a few photo pixels, and on a 12 MP
      photo run at 800 px one working pixel is four photo pixels, most of them soil or leaf.
      :class:`Predictor` sets ``band`` only where a working pixel covers at least :data:`OUTLINE_MIN_SCALE`
      photo pixels across, and then ``step``: the working pixel's size in photo pixels (whole), the grid on
      which faint traces between pieces are followed.

    ``trace``: a background probability ``(H, W)`` in which the faint traces are followed instead of
    ``probs[0]`` (:attr:`Predictor.trace_long_side`).
    """
    classes = class_map(probs)
    if (band <= 0 and unsure is None) or rgb is None:
        return classes
    from agriseg.crop.refine import refine_outline

    return refine_outline(rgb, classes, probs, band, unsure, step=step, faint_stem=faint_stem, trace=trace)


def class_map(probs: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W)`` argmax over the classes of ``(K, H, W)`` probabilities (ties: the lower class).

    ``argmax(0)`` reduces across planes with strided reads (about 0.1 s for a 960x720 photo on a CPU);
    comparing whole planes is an order of magnitude faster and gives the same map.
    """
    p = np.asarray(probs)
    if p.shape[0] == 2:
        return (p[1] > p[0]).view(np.uint8)
    best, out = p[0].copy(), np.zeros(p.shape[1:], dtype=np.uint8)
    for k in range(1, p.shape[0]):
        higher = p[k] > best
        out[higher] = k
        np.maximum(best, p[k], out=best)
    return out
