"""Streaming, Gaussian-blended, resumable inference over a whole Sentinel-2 scene.

Patches lie on one *global* grid (stride = patch x (1 - overlap), the last patch flush with the scene
edge). The scene is streamed one patch row at a time: each row reads a full-width strip of ``patch``
rows (the overlap with the previous strip is the halo), its patches run in fixed batches, and their
Gaussian-weighted softmax probabilities are added to a rolling buffer. Rows above the next patch row can
receive nothing more, so they are finalised and written, and the buffer only ever holds about one patch
height of the scene. Every patch is computed exactly once.

Finished rows land in a hidden tiled GeoTIFF (``.<stem>.partial.tif``) with a progress file next to it; a
killed run resumes at the next patch row, first recomputing the earlier patch rows that still overlap
unwritten rows (same batches, same order, so the result is bit-identical). When all rows are done
the partial file is converted to a Cloud-Optimized GeoTIFF under a temporary name and renamed onto the
output, so a half-written output never exists under the final name.

Output bands (uint8): 1 = class id, 2.. = probability of each class x 255 (valid pixels: 0..254). NoData
is declared as 255 (pixels outside the scene's valid data are 255 in every band); every band is marked
gray/undefined, never RGB(A), and described ("class", "prob_<name>"). The scene's imagery tags (window item
ids and acquisition datetimes, processing baseline) are copied so polygons can name their imagery time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from agriseg.config import as_config
from agriseg.data.files import lock_exclusively
from agriseg.fields.config import PredictConfig, PreprocessConfig
from agriseg.fields.writes import full_disk as full_disk  # where agriseg had it
from agriseg.fields.writes import write_failure, writing
from agriseg.fingerprint import NOT_OUTPUT_OPTIONS
from agriseg.raster.io import (
    SceneInfo,
    describe_bands,
    open_scene,
    read_mask_window,
    read_window,
    scene_tags,
    tiled_profile,
    to_cog,
)
from agriseg.runtime import ModelRunner, tune_allocator
from agriseg.tiling import blend_weights, window_starts

log = logging.getLogger("agriseg")

NODATA_CLASS = 255
# a U-Net's activations during a forward pass, counted in float32 planes at the patch's full size: a rough
# estimate for the up-front memory check, meant to refuse only sizes that cannot fit
ACTIVATION_PLANES = 64
FORMAT_VERSION = "agriseg-fields-probs-2"
DEFAULT_CLASS_NAMES = ("background", "field", "boundary")


@dataclass
class PredictResult:
    """Summary of one scene prediction."""

    scene: Path
    output: Path
    status: str  # "ok" (made now), "skipped" (made earlier by this run's settings), "kept" (made otherwise, left
    # alone: overwrite=True remakes it), "resumed" (finished from a kept part)
    blocks: int = 0  # patch rows
    blocks_resumed: int = 0  # patch rows already done before this run
    patches: int = 0
    seconds: float = 0.0
    area_km2: float = 0.0
    empty: bool = False  # every pixel nodata or NaN (said by predict, with what to check)

    @property
    def km2_per_s(self) -> float:
        """Throughput of this run (0 when nothing was computed)."""
        return self.area_km2 / self.seconds if self.seconds > 0 else 0.0


def scene_offset(info: SceneInfo, spec: PreprocessConfig) -> float:
    """The additive DN offset for a scene under ``spec.offset`` (``auto`` reads the file's tags)."""
    if spec.offset == "none":
        return 0.0
    if spec.offset == "apply":
        return spec.offset_value
    tags = {k.upper(): v for k, v in info.tags.items()}
    for key, value in tags.items():
        if key.startswith("BOA_ADD_OFFSET"):
            try:
                return float(value)
            except ValueError:
                raise ValueError(
                    f"{info.path}: its tag {key}={value!r} is not a number; fix the tag, or give --offset none or "
                    "--offset apply"
                ) from None
    from agriseg.fields.sentinel2 import boa_offset

    baseline = tags.get("PROCESSING_BASELINE")
    return boa_offset(baseline=baseline) if baseline else 0.0


def model_fingerprint(model: nn.Module) -> str:
    """A short hash of a model's weights (a resumed run must use the same model)."""
    h = hashlib.sha1()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if v.numel() else b"")
    return h.hexdigest()[:16]


@dataclass
class ScenePredictor:
    """Runs any segmentation module over GeoTIFF scenes and writes probability COGs.

    Args:
        model: maps ``(N, C, h, w)`` model input to logits ``(N, K, h, w)``.
        num_classes: K.
        preprocess: how scene pixels become model input (bands, divisor, offset, window order, resize).
        config: patching, blending, batching, TTA, masking, output options.
        class_names: band descriptions of the probability bands.
        model_id: identifies the model in resume fingerprints (default: a hash of its weights).
    """

    model: nn.Module
    num_classes: int = 3
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    config: PredictConfig = field(default_factory=PredictConfig)
    class_names: tuple[str, ...] = DEFAULT_CLASS_NAMES
    model_id: str | None = None
    _ready: bool = field(default=False, repr=False)
    _runner: ModelRunner | None = field(default=None, repr=False)
    _id_of: tuple[tuple[int, int], ...] | None = field(default=None, repr=False)  # the weights model_id hashes
    _auto_id: bool = field(default=False, repr=False)  # model_id is that hash (not one given)

    def __repr__(self) -> str:  # the module's own repr is hundreds of lines of layers
        c = self.config
        return (
            f"ScenePredictor(model={type(self.model).__name__}, num_classes={self.num_classes}, "
            f"class_names={self.class_names}, patch_size={c.patch_size}, overlap={c.overlap}, device={c.device!r})"
        )

    def __post_init__(self) -> None:
        if not callable(self.model):  # a name, a path or weights: said here, not after the scene is read
            what = type(self.model).__name__
            if isinstance(self.model, (str, os.PathLike)):
                what += f" {os.fspath(self.model)!r}"
            hint = (
                "; weights (a state_dict) go into their module with load_state_dict"
                if isinstance(self.model, Mapping)
                else ""
            )
            raise TypeError(
                f"model is a torch module, not {what}: load_scene_predictor takes a released name or a model file{hint}"
            )
        # a notebook passes plain dicts (config={"patch_size": 256}); checked here, as the CLI's YAML is
        if isinstance(self.config, Mapping):
            self.config = as_config(PredictConfig, self.config)
        if isinstance(self.preprocess, Mapping):
            self.preprocess = as_config(PreprocessConfig, self.preprocess)
        if not isinstance(self.config, PredictConfig) or not isinstance(self.preprocess, PreprocessConfig):
            raise TypeError("config is a PredictConfig (or a dict of its fields), preprocess a PreprocessConfig")
        k = self.num_classes  # "3" failed at the first scene with a TypeError of string concatenation
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise TypeError(f"num_classes is the number of the model's output classes (an int >= 1), not {k!r}")
        self.num_classes = int(k)  # np.int64(3) failed in the run's fingerprint (JSON), np.uint8 overflowed
        from agriseg.runtime import check_device

        check_device(str(self.config.device), "device")  # a GPU this machine lacks: here, not deep in torch
        if isinstance(self.class_names, str):  # "abc" named three bands a, b and c
            raise TypeError(f"class_names is a list of names, one per class, not one string ({self.class_names!r})")
        given = tuple(self.class_names)
        if given != DEFAULT_CLASS_NAMES and len(given) != self.num_classes:  # the names given: never dropped unsaid
            log.warning(
                "class_names %s: %d names for %d classes; the probability bands are named class0..class%d",
                ",".join(given), len(given), self.num_classes, self.num_classes - 1,
            )  # fmt: skip

    # ---------------------------------------------------------------- model
    def _prepare(self) -> ModelRunner:
        if self._runner is None:
            c = self.config
            self._runner = ModelRunner(
                self.model, c.device, c.precision, c.channels_last, c.optimize, c.batch_size, memory_arena=False
            )
        if not self._ready:
            self._runner.prepare()
            if "swap_windows" in self.config.tta and self.preprocess.bands != 8:
                raise ValueError("the swap_windows test-time augmentation needs 8-band (two-window) input")
            self._ready = True
        self._identify()
        return self._runner

    def _identify(self) -> None:
        """``model_id``: a hash of the weights unless given, made anew when they changed since (a notebook training
        on between two scenes: a re-run is then not resumed from the old weights' output); a ``model_id`` given
        is kept."""
        from agriseg.runtime import weights_version

        version = weights_version(self.model)  # of the weights hashed now (moving them to a device: hashed again)
        if self.model_id is None:
            self.model_id, self._auto_id = model_fingerprint(self.model), True
        elif self._auto_id and None not in (version, self._id_of) and version != self._id_of:
            self.model_id = model_fingerprint(self.model)
        if version is not None:
            self._id_of = version

    @torch.inference_mode()
    def patch_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities of a batch of patches at scene resolution, TTA-averaged.

        Args:
            x: ``(N, C, P, P)`` model input at scene resolution.

        Returns:
            ``(N, K, P, P)`` float32.
        """
        runner = self._prepare()
        x = x.to(self.config.device)
        p = x.shape[-1]
        r = self.preprocess.resize
        if r != 1.0:
            x = F.interpolate(x, scale_factor=r, mode="bilinear", align_corners=False)  # (N, C, rP, rP)
        try:
            acc = runner.probabilities(x, self.config.tta)  # (N, K, rP, rP)
        except RuntimeError as err:  # torch's "weight of size [..], expected input[..] to have 4 channels"
            if not re.search(r"expected input\[.*\] to have \d+ channels", str(err)):
                raise
            raise ValueError(
                f"the model does not take the {x.shape[1]} input channels of this scene ({' '.join(str(err).split())})"
            ) from err
        if acc.shape[1] != self.num_classes:  # numpy's broadcast error said it a few steps later, naming neither
            raise ValueError(f"the model returns {acc.shape[1]} classes, num_classes is {self.num_classes}")
        if acc.shape[-1] != p:
            integer = float(r).is_integer()
            acc = F.interpolate(acc, size=(p, p), mode="area" if integer else "bilinear")  # (N, K, P, P)
        return acc.float().cpu()

    # ---------------------------------------------------------------- pixels
    def _to_input(self, raw: np.ndarray, info: SceneInfo, offset: float, row0: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw window ``(C, h, w)`` whose first row is the scene's ``row0`` -> model input ``(C, h, w)`` float32
        and nodata mask ``(h, w)``."""
        from agriseg.fields.sentinel2 import prepare_input, swap_windows

        cfg = self.config
        invalid = np.zeros(raw.shape[1:], dtype=bool)
        if raw.dtype.kind == "f":
            nan = ~np.isfinite(raw).all(0)
            if nan.any():
                declared = info.nodata is not None and np.isnan(info.nodata)
                if cfg.nan == "error" and not declared:
                    rows = row0 + np.flatnonzero(nan.any(1))  # the rows that hold them, not the strip read
                    where = f"row {rows[0]}" if rows[0] == rows[-1] else f"rows {rows[0]}-{rows[-1]}"
                    raise ValueError(
                        f"{info.path}: {int(nan.sum())} NaN pixels in {where}; declare NaN as the file's "
                        'nodata, or pass --nan mask (PredictConfig(nan="mask") in Python) to treat them as nodata'
                    )
                invalid |= nan
                raw = np.where(np.isfinite(raw), raw, 0)
        nd = cfg.nodata if cfg.nodata is not None else info.nodata
        if nd is None:
            nd = 0  # Sentinel-2 L2A: 0 in every band = no data (also in a float export: a zero border was data)
        if nd is not None and not np.isnan(nd):
            invalid |= (raw == nd).all(0)
        x = prepare_input(raw, offset=offset, divisor=self.preprocess.divisor)  # (C, h, w) float32
        if self.preprocess.swap_input_windows:
            x = swap_windows(x)
        x[:, invalid] = 0.0
        return np.ascontiguousarray(x, dtype=np.float32), invalid

    def _strip_patches(
        self, ds: Any, info: SceneInfo, y: int, xs: list[int], offset: float
    ) -> tuple[list[tuple[int, np.ndarray]], np.ndarray, int]:
        """Probabilities of the patch row starting at scene row ``y``.

        Returns:
            ``[(x, probs (K, P, P))]`` for patches with valid pixels, the strip's nodata mask ``(P', W)``
            (``P' = min(P, H - y)``), and the number of patches run. Batches are formed in a fixed order
            (left to right), so a recomputed row is bit-identical.
        """
        cfg, P = self.config, self.config.patch_size
        y1 = min(info.height, y + P)
        raw = read_window(ds, info.path, y, y1, 0, info.width)
        x, invalid = self._to_input(raw, info, offset, y)  # (C, h, W), (h, W)
        if (masked := read_mask_window(ds, info.path, y, y1, 0, info.width)) is not None:  # its .msk / internal mask
            invalid |= masked
            x[:, masked] = 0.0
        need_w = max(xs) + P
        ph, pw = P - x.shape[1], need_w - x.shape[2]
        xin, inv_in = x, invalid
        if ph > 0 or pw > 0:  # scene smaller than a patch: mirror-pad the context
            xin = np.pad(x, ((0, 0), (0, max(0, ph)), (0, max(0, pw))), mode="symmetric")
            inv_in = np.pad(invalid, ((0, max(0, ph)), (0, max(0, pw))), constant_values=True)
        todo = [x0 for x0 in xs if not inv_in[:, x0 : x0 + P].all()]
        xt = torch.from_numpy(xin)
        out: list[tuple[int, np.ndarray]] = []
        for i in range(0, len(todo), cfg.batch_size):
            chunk = todo[i : i + cfg.batch_size]
            batch = torch.stack([xt[:, :P, x0 : x0 + P] for x0 in chunk])  # (N, C, P, P)
            probs = self.patch_probabilities(batch).numpy()  # (N, K, P, P)
            out += list(zip(chunk, probs, strict=True))
        return out, invalid, len(todo)

    @staticmethod
    def _finish(acc: np.ndarray, norm: np.ndarray, invalid: np.ndarray) -> np.ndarray:
        """Blended sums -> ``(K + 1, h, W)`` uint8: class band, then probabilities x255; 255 = nodata."""
        k = acc.shape[0]
        bad = invalid | (norm <= 0)
        prob = acc / np.maximum(norm, 1e-12)  # (K, h, W)
        out = np.empty((k + 1, *norm.shape), dtype=np.uint8)
        out[0] = prob.argmax(0)
        # 255 is the declared NoData of every band, so a valid probability tops out at 254 (0.996)
        out[1:] = np.clip(np.rint(prob * 255.0), 0, NODATA_CLASS - 1)
        out[:, bad] = NODATA_CLASS
        return out

    def check_memory(self, scenes: Sequence[str | Path]) -> None:
        """:func:`check_scene_memory` at this predictor's settings."""
        check_scene_memory(scenes, self.config, self.preprocess.resize, self.num_classes, self.preprocess.bands)

    # ---------------------------------------------------------------- scenes
    def fingerprint(self, info: SceneInfo, legacy: bool = False) -> str:
        """Identity of a run: scene file + settings + model; a resume needs the same fingerprint.

        ``legacy``: as agriseg computed it before the batch size was left out (:meth:`fingerprints`)."""
        self._identify()  # by _prepare too; a check before any prediction needs it here
        st = info.path.stat()
        # options that never change outputs are left out: another --batch-size resumes (README)
        cfg = self.config.model_dump(exclude={"progress", "device"} if legacy else set(NOT_OUTPUT_OPTIONS))
        payload = {
            "scene": str(info.path.resolve()),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "config": cfg,
            "preprocess": self.preprocess.model_dump(),
            "model": self.model_id,
            "classes": self.num_classes,
            "format": FORMAT_VERSION,
        }
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def fingerprints(self, info: SceneInfo) -> tuple[str, str]:
        """This run's fingerprint, then the one earlier releases gave the same run (it held the batch size): a
        COG or an interrupted run of either is this run's."""
        return self.fingerprint(info), self.fingerprint(info, legacy=True)

    def predict(
        self,
        scene: str | Path,
        output: str | Path,
        overwrite: bool = False,
        on_block: Callable[[int], None] | None = None,
        keep_current: bool = False,
    ) -> PredictResult:
        """Predict one scene into a probability COG; resumes an interrupted run of the same settings.

        Args:
            scene: input GeoTIFF (``preprocess.bands`` bands, georeferenced).
            output: the COG to write (existing output is kept unless ``overwrite``, with a warning when it was
                made from another scene, model or settings).
            overwrite: recompute even if ``output`` exists.
            on_block: called with each completed patch-row index (tests use it to simulate a crash).
            keep_current: with ``overwrite``, still keep an ``output`` that this predictor made from this scene
                file with these settings (its ``agriseg_run`` tag holds the same :meth:`fingerprint`); status
                ``"resumed"``. For a batch that remakes an unfinished item whose probabilities were complete,
                e.g. a ``fields map`` scene interrupted while its polygons were written.

        Raises:
            FileNotFoundError: missing scene.
            ValueError: wrong band count, missing CRS, NaNs (with ``nan="error"``), truncated file.
            FileExistsError: another process is writing the same output.
            agriseg.config.OptionError: ``output`` is a folder or not named ``.tif`` / ``.tiff``.
        """
        from agriseg.batch import progress_bar
        from agriseg.data.files import check_not_input, clean_stale_temporaries, file_path

        t0 = time.perf_counter()
        scene, output = file_path(scene, "scene"), file_path(output, "output")
        check_not_input(output, [scene])
        from agriseg.config import OptionError

        if output.is_dir():  # it was "kept" as an output made otherwise, or a GeoTIFF named .png was written
            raise OptionError(f"{output}: a folder; output is the GeoTIFF to write ({output / scene.stem}_probs.tif)")
        if output.suffix.lower() not in (".tif", ".tiff"):
            raise OptionError(f"{output}: the probabilities are written as a GeoTIFF (COG): give a .tif name")
        from agriseg.fields.sentinel2 import band_order_problem, bands_to_take

        info = open_scene(scene, bands=None)
        if info.count != self.preprocess.bands:  # a full L2A stack: which of its bands the model reads
            open_scene(scene, bands=self.preprocess.bands, hint=bands_to_take(info.descriptions, self.preprocess.bands))
        if problem := band_order_problem(info.descriptions):  # a B, G, R stack labelled so: refused, not misread
            raise ValueError(f"{scene}: {problem}")
        warn_if_reflectance(scene, scene_offset(info, self.preprocess), info)
        self.check_memory([scene])
        result = PredictResult(scene, output, "skipped", area_km2=info.area_km2)
        if output.exists() and not overwrite:
            if not _made_by_run(output, self.fingerprints(info), info, self.num_classes + 1):  # e.g. a new model
                result.status = "kept"  # as every command's table says it: not this run's, left alone
                log.warning(
                    "%s: exists and was not made from %s with this model and these settings; kept, not predicted "
                    "(overwrite=True remakes it)", output, scene.name,
                )  # fmt: skip
            else:
                _remove_work_files(output)
            return result
        if (
            output.exists()
            and keep_current
            and _made_by_run(output, self.fingerprints(info), info, self.num_classes + 1)
        ):
            result.status = "resumed"
            result.blocks = result.blocks_resumed = len(window_starts(info.height, self.config.patch_size,
                                                                      self.config.stride))  # fmt: skip
            _remove_work_files(output)
            return result
        clean_stale_temporaries(output.parent, [output.name])
        self._prepare()
        cfg, P = self.config, self.config.patch_size
        ys = window_starts(info.height, P, cfg.stride)
        xs = window_starts(info.width, P, cfg.stride)
        partial, progress = partial_paths(output)
        offset = scene_offset(info, self.preprocess)
        with _exclusive(output), writing(output):
            fps = self.fingerprints(info)
            fp = fps[0]  # this run's, written to a new work file and its progress
            state = _load_progress(progress, fps) if partial.exists() else None
            if state is not None and not _partial_usable(partial, info, self.num_classes + 1, state["rows_done"]):
                log.warning("%s: work file of an interrupted run is damaged; predicting %s again", partial, scene)
                state = None
            if state is None:
                self._create_partial(partial, info, offset, fp)
                state = {"rows_done": 0, "next_row": 0}
                _save_progress(progress, fp, state)
            first = int(state["next_row"])
            result.blocks, result.blocks_resumed = len(ys), first
            result.status = "resumed" if first else "ok"
            import rasterio
            from rasterio.windows import Window

            win = blend_weights(P, "gaussian" if cfg.blend == "gaussian" else "ones", cfg.sigma_scale)
            k, width = self.num_classes, info.width
            y_lo = int(state["rows_done"])  # rows [y_lo, ...) are still accumulating
            acc = np.zeros((k, 0, width), np.float32)  # (K, rows, W)
            norm = np.zeros((0, width), np.float32)
            invalid = np.zeros((0, width), bool)

            def add(y: int, patches: list[tuple[int, np.ndarray]], inv: np.ndarray) -> None:
                nonlocal acc, norm, invalid
                top = y_lo + acc.shape[1]
                end_row = min(info.height, y + P)
                if end_row > top:  # grow the rolling buffer downwards
                    grow = end_row - top
                    acc = np.concatenate([acc, np.zeros((k, grow, width), np.float32)], 1)
                    norm = np.concatenate([norm, np.zeros((grow, width), np.float32)], 0)
                    invalid = np.concatenate([invalid, np.zeros((grow, width), bool)], 0)
                r0 = max(y, y_lo)  # rows before y_lo are already written
                if r0 >= end_row:
                    return
                sy, by = r0 - y, r0 - y_lo
                h = end_row - r0
                invalid[by : by + h] = inv[sy : sy + h]
                for x0, pr in patches:
                    x1 = min(width, x0 + P)
                    acc[:, by : by + h, x0:x1] += pr[:, sy : sy + h, : x1 - x0] * win[sy : sy + h, : x1 - x0]
                    norm[by : by + h, x0:x1] += win[sy : sy + h, : x1 - x0]

            has_data = first > 0  # a resumed run's earlier rows are not looked at again
            tune_allocator("stream")  # freed strips go back to the system: memory does not grow with the height
            try:
                with _small_block_cache(info, P, k + 1), rasterio.open(scene) as src:
                    # resuming: rebuild the carried sums of earlier patch rows that reach past the written rows
                    for j in range(first):
                        if ys[j] + P > y_lo:
                            patches, inv, _ = self._strip_patches(src, info, ys[j], xs, offset)
                            add(ys[j], patches, inv)
                    with progress_bar(  # closed by an interrupt too: not redrawn after its message
                        total=len(ys),
                        initial=first,
                        desc=f"predict {scene.name}",
                        unit="row",
                        disable=not cfg.progress,
                    ) as bar:
                        for j in range(first, len(ys)):
                            patches, inv, n = self._strip_patches(src, info, ys[j], xs, offset)
                            result.patches += n
                            add(ys[j], patches, inv)
                            final = ys[j + 1] if j + 1 < len(ys) else info.height  # later patches start below
                            if final > y_lo:
                                h = final - y_lo
                                arr = self._finish(acc[:, :h], norm[:h], invalid[:h])
                                has_data = has_data or not invalid[:h].all()
                                with rasterio.open(partial, "r+") as dst:  # closing flushes the rows to disk
                                    dst.write(arr, window=Window(0, y_lo, width, h))
                                acc, norm, invalid = acc[:, h:], norm[h:], invalid[h:]
                                y_lo = final
                            _save_progress(progress, fp, {"rows_done": y_lo, "next_row": j + 1})
                            bar.update(1)
                            if on_block is not None:
                                on_block(j)
            except Exception as err:  # noqa: BLE001 - re-raised: a scene that failed before its first row keeps no work file
                # asked before the work file goes: it may be what filled the disk
                failed = write_failure(err, output)
                if y_lo == 0:  # no finished row: nothing a re-run could resume
                    partial.unlink(missing_ok=True)
                    progress.unlink(missing_ok=True)
                if failed is not None:
                    raise failed from err
                raise
            with rasterio.open(partial, "r+") as dst:  # declared only now: unwritten rows must read as 0
                dst.nodata = NODATA_CLASS
            to_cog(partial, output, compress=cfg.compress, overviews=cfg.overviews)
            partial.unlink(missing_ok=True)
            progress.unlink(missing_ok=True)
        if not has_data:  # made, but says nothing: the user should know before polygons come back empty
            result.empty = True
            log.warning("%s: every pixel is nodata or NaN, so %s is all nodata (check the scene's nodata value)",
                        scene, output)  # fmt: skip
        result.seconds = time.perf_counter() - t0
        return result

    def _create_partial(self, partial: Path, info: SceneInfo, offset: float, run: str) -> None:
        import rasterio

        bands = self.num_classes + 1
        profile = tiled_profile("uint8", bands, info.width, info.height, info.crs, info.transform,
                                compress="none", interleave="pixel", BIGTIFF="IF_SAFER")  # fmt: skip
        from agriseg.data.files import atomic_write

        with atomic_write(partial) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            describe_bands(dst, ("class", *(f"prob_{n}" for n in self._names())))
            # GIS tools read probabilities 0-1 from the stored 0-254 (QGIS shows the scaled value, gdalinfo -stats)
            dst.scales = (1.0, *[1.0 / 255.0] * self.num_classes)
            dst.update_tags(**scene_tags(info.tags))
            dst.update_tags(
                agriseg_format=FORMAT_VERSION,
                classes=json.dumps(list(self._names())),
                nodata_class=str(NODATA_CLASS),
                probability_scale="255",
                model=str(self.model_id),
                predict_config=self.config.model_dump_json(exclude=set(NOT_OUTPUT_OPTIONS)),
                # offset_value only where it was applied (--offset apply): beside auto it read as the -1000 used
                preprocess=self.preprocess.model_dump_json(
                    exclude=set() if self.preprocess.offset == "apply" else {"offset_value"}
                ),
                boa_offset=str(offset),
                agriseg_run=run,  # the fingerprint of this run: keep_current keeps only an output it matches
            )

    def _names(self) -> tuple[str, ...]:
        names = tuple(self.class_names)
        if len(names) != self.num_classes:
            names = tuple(f"class{i}" for i in range(self.num_classes))
        return names


def load_scene_predictor(
    model: str | Path,
    config: PredictConfig | Mapping[str, Any] | None = None,
    resize: float | None = None,
    progress: bool = True,
) -> ScenePredictor:
    """A :class:`ScenePredictor` of a released model by name (downloaded once into the cache) or a model file.

    Args:
        model: a released name (``FTW_PRUE_EFNET_B5``; :data:`agriseg.fields.registry.MODELS`), an agriseg
            ``.safetensors`` / ``.ckpt`` or an ftw-tools / PRUE ``.ckpt``.
        config: patching, blending, batching, TTA, device (a :class:`PredictConfig` or a dict of its fields).
        resize: patch resize factor before the model (default: 2 for ftw-tools checkpoints, else 1).
        progress: a bar of the download.

    Raises:
        ValueError: an unknown name (the valid ones listed), a missing file or a failed download.
        agriseg.models.io.ModelLoadError: a file in neither format.

    Example:
        >>> predictor = load_scene_predictor("FTW_PRUE_EFNET_B5", {"overlap": 0.25})
        >>> predictor.predict("scene.tif", "probs.tif")
    """
    from agriseg.fields.checkpoints import load_for_scenes
    from agriseg.fields.registry import resolve_model

    if not isinstance(model, (str, os.PathLike)):  # a module: ScenePredictor runs it as it is
        raise TypeError(
            f"model is a released name or a model file, not {type(model).__name__} (a module: ScenePredictor)"
        )
    # the settings first: a misspelt key cost a whole checkpoint download before it was said
    cfg = as_config(PredictConfig, config) if isinstance(config, Mapping) else config or PredictConfig()
    if not isinstance(cfg, PredictConfig):
        raise TypeError(f"config is a PredictConfig (or a dict of its fields), not {type(cfg).__name__}")
    from agriseg.runtime import check_device

    check_device(str(cfg.device), "device")
    if resize is not None:  # before the download, in one line (pydantic's dump of PreprocessConfig came after it)
        from pydantic import ValidationError

        from agriseg.config import ConfigError, describe_errors
        from agriseg.fields.config import PreprocessConfig

        try:
            PreprocessConfig(resize=resize)
        except ValidationError as err:
            raise ConfigError(describe_errors(err, model=PreprocessConfig)) from None
    loaded = load_for_scenes(resolve_model(os.fspath(model), progress=progress), resize=resize)
    return ScenePredictor(loaded.module, loaded.num_classes, loaded.preprocess, cfg, loaded.class_names)


def _made_by_run(output: Path, runs: Sequence[str], info: SceneInfo, bands: int) -> bool:
    """Whether ``output`` is a complete probability COG of the run with a fingerprint of ``runs`` (its tag), of the
    scene's size and ``bands`` bands, whose last rows read (a file cut short since it was written does not)."""
    import rasterio
    from rasterio.windows import Window

    try:
        with rasterio.open(output) as ds:
            if ds.tags().get("agriseg_run") not in runs or (ds.count, ds.width, ds.height) != (
                bands,
                info.width,
                info.height,
            ):
                return False
            ds.read(window=Window(0, max(0, ds.height - 1), ds.width, 1))
            return True
    except Exception:  # noqa: BLE001 - any reader error means: not that run's output
        return False


def _small_block_cache(info: SceneInfo, patch: int, out_bands: int) -> Any:
    """A GDAL block cache of what one pass needs: two strips of the scene (a block row may serve two patch
    rows) and one of the output. Each block is read once, so GDAL's default (5 % of the machine's memory)
    only kept blocks that were never used again, and grew with the scene (180 MB of a 3000 x 6000 px scene).
    A ``GDAL_CACHEMAX`` the user set is kept."""
    import rasterio

    if "GDAL_CACHEMAX" in os.environ:
        return nullcontext()
    itemsize = np.dtype(info.dtype).itemsize
    need = 2 * info.count * max(patch, 512) * info.width * itemsize + out_bands * patch * info.width
    return rasterio.Env(GDAL_CACHEMAX=max(64, math.ceil(need / 2**20)))  # in MB


def partial_paths(output: Path) -> tuple[Path, Path]:
    """The in-progress raster and its progress file for ``output``."""
    return (
        output.with_name(f".{output.stem}.partial.tif"),
        output.with_name(f".{output.stem}.partial.json"),
    )


def _partial_usable(partial: Path, info: SceneInfo, bands: int, rows_done: int) -> bool:
    """Whether an interrupted run's raster can be resumed: it opens, has the scene's shape, and its last
    finished row and its very last row read back (a truncated file fails one of these)."""
    import rasterio
    from rasterio.windows import Window

    try:
        with rasterio.open(partial) as ds:
            if (ds.width, ds.height, ds.count) != (info.width, info.height, bands):
                return False
            for row in {max(0, rows_done - 1), info.height - 1}:
                ds.read(window=Window(0, row, info.width, 1))
    except Exception:  # noqa: BLE001 - any reader error means: not resumable
        return False
    return True


def scene_memory_need(info: SceneInfo, config: PredictConfig, resize: float, num_classes: int = 3) -> float:
    """Estimated peak bytes of this machine's memory when predicting a scene: a row strip of the scene (and its
    padded copy), the blending sums of a strip, and one batch of patches (inputs and logits; on the CPU also the
    model's activations, which a GPU holds in its own memory)."""
    P, W = config.patch_size, info.width
    side = P * resize  # pixels per patch side the model sees
    strip = 2 * info.count * P * max(P, W)  # (C, P, W) read, padded when the scene is narrower than P
    sums = (num_classes + 1) * P * W
    planes = info.count + num_classes + (ACTIVATION_PLANES if config.device == "cpu" else 0)
    # batches are cut from one row of patches: never more patches than a row holds (--batch-size 1000 of a
    # 3-patch-wide scene was refused as needing 73 GiB, session 104's sweep)
    per_row = len(window_starts(W, P, config.stride))
    batch = min(config.batch_size, per_row) * side * side * planes
    return 4.0 * (strip + sums + batch)


def check_scene_memory(
    scenes: Sequence[str | Path],
    config: PredictConfig,
    resize: float,
    num_classes: int = 3,
    bands: int | None = None,
) -> None:
    """Refuse (:class:`agriseg.config.OptionError`) when the largest of ``scenes`` would not fit in memory at
    ``config``'s patch size; unreadable scenes are left to fail as their own items."""
    from agriseg.data.memory import check_memory

    worst, name = 0.0, ""
    for scene in scenes:
        try:
            need = scene_memory_need(open_scene(scene, bands=bands), config, resize, num_classes)
        except (OSError, ValueError):
            continue
        if need > worst:
            worst, name = need, Path(scene).name
    if name:
        check_memory(worst, f"{name} with --tile {config.patch_size}")


def warn_if_reflectance(scene: Path, offset: float = 0.0, info: SceneInfo | None = None) -> None:
    """Warn when a scene's values (:func:`agriseg.fields.sentinel2.scale_problems`, on a sample of its visible
    bands) or its pixels (of ``info``'s geotransform: far from Sentinel-2's 10 m, or not square) are not what
    the models were trained on: each a likely cause of wrong fields, none certain enough to refuse the scene.
    ``offset``: the offset predict applies (a tag's, or ``--offset apply``)."""
    import rasterio
    from rasterio.windows import Window

    from agriseg.fields.sentinel2 import scale_problems

    # five samples (the centre and the middle of each quarter), so a cloud or snow over the centre is no scene
    spots = ((0.5, 0.5), (0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75))
    with rasterio.open(scene) as ds:
        h, w = min(ds.height, 256), min(ds.width, 256)
        at = {(min(max(round(fx * ds.width - w / 2), 0), ds.width - w),
               min(max(round(fy * ds.height - h / 2), 0), ds.height - h)) for fx, fy in spots}  # fmt: skip
        indexes = list(range(1, min(ds.count, 3) + 1))
        samples = [ds.read(indexes, window=Window(x, y, w, h), masked=True) for x, y in sorted(at)]
    bands = np.ma.concatenate(samples, axis=2)  # (<=3, h, w * samples)
    for problem in scale_problems(bands, offset):
        log.warning("%s: %s", scene, problem)
    if info is not None:
        _warn_pixel_size(scene, info)


def _warn_pixel_size(scene: Path, info: SceneInfo) -> None:
    """Warn of pixels far from Sentinel-2's 10 m (8-12.5 m of ground) or not square (over 10 % apart)."""
    import math

    from agriseg.raster.io import ground_sides_m, pixel_area_m2

    t = info.transform
    ground = math.sqrt(pixel_area_m2(info.crs, t, info.height, info.width))
    geographic = info.crs is not None and info.crs.is_geographic
    if geographic:  # a pixel square in degrees is not square on the ground
        sides = ground_sides_m(info.crs, t, info.height, info.width)
    else:
        sides = (math.hypot(t.a, t.d), math.hypot(t.b, t.e))
    if not 8.0 <= ground <= 12.5:
        log.warning(
            "%s: pixels of about %.3g m of ground; the models were trained on Sentinel-2's 10 m bands: resample "
            "the scene to 10 m first (e.g. gdalwarp -tr 10 10 -r bilinear, in a metric CRS)",
            scene, ground,
        )  # fmt: skip
    elif max(sides) > 1.1 * min(sides):
        unit = "m of ground" if geographic else "in the CRS's units"
        log.warning(
            "%s: pixels are not square (%.3g x %.3g %s): resample the scene to 10 x 10 m first, in a metric CRS",
            scene, sides[0], sides[1], unit,
        )  # fmt: skip
    elif not geographic and abs(cos := (t.a * t.b + t.d * t.e) / (sides[0] * sides[1])) > 0.05:  # sides over 3
        angle = math.degrees(math.acos(max(-1.0, min(1.0, cos))))  # degrees off square (a turn alone: cos 0)
        log.warning(
            "%s: sheared pixels (their sides meet at %.0f degrees, not 90): resample the scene to a north-up grid "
            "first (e.g. gdalwarp -tr 10 10)", scene, angle,
        )  # fmt: skip


def _load_progress(progress: Path, fingerprints: Sequence[str]) -> dict[str, int] | None:
    """The saved state of an interrupted run with one of ``fingerprints``, else None (start afresh)."""
    try:
        data = json.loads(progress.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("fingerprint") not in fingerprints or "rows_done" not in data or "next_row" not in data:
        return None
    return {"rows_done": int(data["rows_done"]), "next_row": int(data["next_row"])}


def _save_progress(progress: Path, fingerprint: str, state: dict[str, int]) -> None:
    from agriseg.data.files import write_json

    write_json(progress, {"fingerprint": fingerprint, **state}, indent=None)


def _lock_path(output: Path) -> Path:
    """The lock file of ``output`` (:func:`_exclusive`)."""
    return output.with_name(f".{output.stem}.lock")


@contextmanager
def _exclusive(output: Path) -> Iterator[None]:
    """Hold a lock file next to ``output`` so two processes never write the same scene."""
    output.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock_path(output)
    fh = open(lock, "a", encoding="utf-8")  # never truncated: on Windows a held byte lock refuses that
    try:
        lock_exclusively(fh.fileno(), 0.0, lambda: FileExistsError(f"{output}: another process is writing this output"))
        yield
    finally:
        fh.close()
        with suppress(OSError):  # Windows: another process has it open (and waits for it); that one removes it
            lock.unlink(missing_ok=True)


def _remove_work_files(output: Path) -> None:
    """Remove the work files (lock, partial raster, progress) of a finished ``output``: a run killed after the
    output took its name, before it removed them, left them for good (they hold nothing of use then)."""
    partial, progress = partial_paths(output)
    if not any(p.exists() for p in (partial, progress, _lock_path(output))):
        return
    with suppress(OSError):  # FileExistsError: another process is writing this output (--overwrite); its files
        with _exclusive(output):
            partial.unlink(missing_ok=True)
            progress.unlink(missing_ok=True)


def remove_unheld_lock(output: Path) -> bool:
    """Remove the lock file of ``output`` (:func:`_exclusive`) when no process holds it: one left by a run whose
    workers were stopped before they could remove it (Ctrl-C of a Dask run). Returns whether it was removed."""
    lock = _lock_path(output)
    if not lock.is_file():
        return False
    try:
        with open(lock, "a", encoding="utf-8") as fh:
            lock_exclusively(fh.fileno(), 0.0, lambda: BlockingIOError())  # held by a running writer: left alone
            try:
                lock.unlink(missing_ok=True)  # while held (POSIX): no writer can take this file meanwhile
                return True
            except PermissionError:  # Windows removes no file that is open: once closed, below
                pass
        lock.unlink(missing_ok=True)
    except OSError:  # BlockingIOError (held) or a folder that cannot be written
        return False
    return True


def read_probabilities(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read a probability COG written by :class:`ScenePredictor` (small rasters / tests).

    Returns:
        class map ``(H, W)`` uint8, probabilities ``(K, H, W)`` uint8, rasterio profile.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a raster of one band (a class raster, not a probability one), one that ``fields predict``
            did not write (no ``agriseg_format`` tag of its probabilities: a Sentinel-2 scene, a photo), or no
            raster.
    """
    import rasterio

    from agriseg.raster.io import unreadable_raster

    local = "://" not in str(path) and not str(path).startswith("/vsi")  # GDAL reads URLs and archives too
    if local and not Path(path).is_file():
        raise FileNotFoundError(f"{path}: probability raster not found")
    from agriseg.raster.image import open_plain_or_geo

    try:  # a photo given by mistake: refused below, without rasterio's warning of its missing georeference first
        ds = open_plain_or_geo(rasterio, Path(path) if local else path)
    except rasterio.errors.RasterioIOError as err:
        raise ValueError(unreadable_raster(path, err)) from err
    with ds:
        if ds.count < 2:
            raise ValueError(f"{path}: has 1 band; a probability raster holds the class map and one band per class")
        if not ds.tags().get("agriseg_format", "").startswith(FORMAT_VERSION.rpartition("-")[0]) or ds.dtypes[0] != (
            "uint8"
        ):  # an 8-band scene was returned as 7 "probability" bands of uint16 (session 96's API sweep)
            raise ValueError(f"{path}: not a probability raster of agriseg fields predict (no agriseg_format tag of "
                             "one, or not 8-bit)")  # fmt: skip
        try:
            arr = ds.read()
        except rasterio.errors.RasterioIOError as err:
            raise ValueError(unreadable_raster(path, err)) from err
        return arr[0], arr[1:], dict(ds.profile)
