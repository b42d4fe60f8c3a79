"""DelineateAnything (ultralytics YOLO11 instance segmentation) over whole scenes, into an instance raster.

The models see one RGB window: reflectance x10000 (BOA offset applied as for the U-Nets) divided by 3000 and
clipped to [0, 1], each patch resized by ``resize`` (ftw-tools: 256 px patches, x2). Patches overlap: each
one's inner core (the patch less ``padding`` on each side, or up to the scene edge) is where it sees its
fields with the most context.

Within-scene merge: instances of all patches are painted into one scene-wide label raster, the most
reliable first (an instance whose centre lies in its patch's core, then by confidence). An instance that
overlaps a painted field by IoU >= ``merge_iou`` or covers >= ``merge_contain`` of the smaller of the two
is the same field seen from another patch (often cut by that patch's edge): it adds its free pixels to
that field. Any other instance takes only the pixels still free. Each field keeps its largest 4-connected
piece. Every pixel belongs to at most one field, so the polygons drawn from the raster cannot overlap.

Output (``<stem>_instances.tif``, a COG): band 1 = field id (uint32, 0 = no field, declared NoData), band
2 = the model's confidence of that field x 254, with the scene's imagery tags and
``agriseg_format=agriseg-fields-instances-1``; ``agriseg fields polygonize`` and ``fields run`` / ``map``
turn it into fiboa polygons.

ultralytics makes no network call here: it is imported with ``YOLO_OFFLINE`` (no connectivity probe, no
settings sync or analytics, no update check or automatic ``pip install``), ``YOLO_AUTOINSTALL=false`` and
its settings in agriseg's cache folder; the functions it patches process-wide on import (``PIL.Image.open``,
``torch.save``) are put back, so the rest of agriseg in the same process is unaffected. Prediction goes
through ultralytics' own predictor, not
:class:`agriseg.runtime.ModelRunner`: non-maximum suppression and the mask assembly of YOLO heads live
there.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from agriseg.config import StrictModel
from agriseg.extras import MissingExtra, install_hint
from agriseg.fields.config import FTW_DIVISOR, OffsetOrDN, PredictConfig, offset_or_dn, offset_settings

INSTANCE_FORMAT = "agriseg-fields-instances-1"
CONF_SCALE = 254


MissingExtraError = MissingExtra  # the name this module exported before extras.py held the one class


def is_instance_model(path: str | Path) -> bool:
    """Whether a model file is an ultralytics ``.pt`` (DelineateAnything) rather than a U-Net checkpoint."""
    return Path(path).suffix.lower() == ".pt"


def import_ultralytics() -> Any:
    """``ultralytics`` imported so that it makes no network call (see the module docstring).

    Raises:
        MissingExtraError: ultralytics is not installed.
    """
    from agriseg.data.files import user_cache

    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLO_VERBOSE"] = "false"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(user_cache("ultralytics")))
    patched = _process_wide_functions()
    omp = os.environ.get("OMP_NUM_THREADS")  # ultralytics sets it to 1 on import when unset
    try:
        import ultralytics
        import ultralytics.utils.patches  # noqa: F401 - its import-time patches, applied now to be undone
        from ultralytics import YOLO  # noqa: F401 - the predictor's modules, imported while patching is undone
        from ultralytics.utils import checks, events
    except ImportError as err:
        raise MissingExtra(install_hint("delineate", "A DelineateAnything model")) from err
    finally:
        # importing ultralytics replaces PIL.Image.open and torch.save (and cv2's image I/O on Windows) for the
        # whole process; the rest of agriseg running in the same process keeps the originals
        for (mod, name), fn in patched.items():
            setattr(mod, name, fn)
        if omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)
    _unpatch(sys.modules["ultralytics.utils.patches"])
    # imported earlier in this process without the variables: switch the probes off where they are read
    # (analytics, crash reports and update checks all wait for ONLINE; the user's settings file is left alone)
    for mod in (sys.modules["ultralytics.utils"], checks, events):
        if hasattr(mod, "ONLINE"):
            setattr(mod, "ONLINE", False)  # noqa: B010 - not every one of these modules declares it
    return ultralytics


def _process_wide_functions() -> dict[tuple[Any, str], Any]:
    """The library functions ultralytics monkey-patches on import, as they are now."""
    import importlib

    out: dict[tuple[Any, str], Any] = {}
    for module, names in (("PIL.Image", ("open",)), ("torch", ("save",)), ("cv2", ("imread", "imwrite", "imshow"))):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        out.update({(mod, n): getattr(mod, n) for n in names if hasattr(mod, n)})
    return out


def _unpatch(patches: Any) -> None:
    """Undo the patches of an ultralytics imported before :func:`import_ultralytics` (it keeps the originals)."""
    import PIL.Image
    import torch

    if PIL.Image.open is getattr(patches, "image_open", None) and hasattr(patches, "_image_open"):
        PIL.Image.open = patches._image_open
    if torch.save is getattr(patches, "torch_save", None) and hasattr(patches, "_torch_save"):
        torch.save = patches._torch_save


def load_yolo(path: str | Path, sha256: str | None = None, name: str | None = None) -> Any:
    """An ultralytics YOLO model from a ``.pt`` the user trusted (:mod:`agriseg.fields.trust`).

    The file is first read with ``torch.load(weights_only=True)`` and ultralytics' allow-list of model
    classes; a checkpoint that needs other globals is unpickled in full, which the trusted digest permits.

    Raises:
        UntrustedModelError: the file's digest was never trusted (one line naming the trust command).
        MissingExtraError: ultralytics is not installed.
        ValueError: not a YOLO segmentation checkpoint.
    """
    from agriseg.fields.trust import require_trusted

    require_trusted(path, sha256, name)
    import_ultralytics()
    import ultralytics.nn.tasks as tasks
    from ultralytics import YOLO

    from agriseg.models.io import ModelLoadError

    restricted = getattr(tasks, "_SafeLoad", None) is not None and tasks._SafeLoad.SUPPORTED
    before = getattr(tasks, "SAFE_LOAD", False)
    try:
        with warnings.catch_warnings():  # a plain pickle: torch warns of its protocol before it refuses it
            warnings.filterwarnings("ignore", message=r"Detected pickle protocol", category=UserWarning)
            try:
                tasks.SAFE_LOAD = restricted
                model = YOLO(str(path), task="segment")
            except TypeError:
                if not restricted:
                    raise
                tasks.SAFE_LOAD = False  # the documented exception: a full unpickling of a trusted file
                model = YOLO(str(path), task="segment")
    except (TypeError, RuntimeError, KeyError, AttributeError, ModuleNotFoundError) as err:
        raise ModelLoadError(f"{path}: not an ultralytics YOLO checkpoint ({type(err).__name__}: {err})") from err
    finally:
        tasks.SAFE_LOAD = before
    if getattr(model, "task", "segment") != "segment":
        raise ModelLoadError(f"{path}: a YOLO {model.task} model; DelineateAnything models segment instances")
    return model


class InstanceConfig(StrictModel):
    """Settings of :class:`InstancePredictor` (defaults: ftw-tools' ``run-instance-segmentation``).

    The patch side (scene pixels), patches per model call, device and progress bar are those of any scene
    prediction: ``predict`` (:class:`agriseg.fields.config.PredictConfig`; its blending options do not apply).
    """

    predict: PredictConfig = Field(default_factory=PredictConfig)
    padding: int | None = Field(None, ge=0)  # pixels of each side another patch sees better; None = patch_size // 4
    resize: float = Field(2.0, ge=0.25, le=4.0)  # as PreprocessConfig.resize
    divisor: float = Field(FTW_DIVISOR, gt=0)
    offset: OffsetOrDN = "auto"  # BOA_ADD_OFFSET: auto (scene tags), none, apply (-1000), or a DN offset
    conf: float = Field(0.05, ge=0, le=1)
    iou: float = Field(0.3, ge=0, le=1)  # non-maximum suppression within a patch
    max_det: int = Field(100, ge=1)
    merge_iou: float = Field(0.2, ge=0, le=1)
    merge_contain: float = Field(0.8, ge=0, le=1)
    min_pixels: int = Field(4, ge=0)

    _offset = field_validator("offset", mode="before")(offset_or_dn)

    @property
    def pad(self) -> int:
        """Padding in pixels."""
        return self.predict.patch_size // 4 if self.padding is None else self.padding


@dataclass
class _Instance:
    y0: int
    x0: int
    mask: np.ndarray  # (h, w) bool crop in scene pixels
    conf: float
    owned: bool  # centre inside its patch's core
    order: tuple[int, int]  # (patch, detection) for stable ties


@dataclass
class InstanceResult:
    """What :meth:`InstancePredictor.predict` did."""

    scene: Path
    output: Path
    status: str  # ok / skipped
    patches: int = 0
    detections: int = 0
    fields: int = 0
    seconds: float = 0.0
    area_km2: float = 0.0


def _cores(starts: list[int], patch: int, length: int) -> list[tuple[int, int]]:
    """Along one axis, the core of each patch: the scene split halfway between neighbouring patch centres."""
    centres = [s + patch / 2 for s in starts]
    cuts = [0] + [int(round((a + b) / 2)) for a, b in zip(centres, centres[1:], strict=False)] + [length]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


@dataclass
class InstancePredictor:
    """Runs a YOLO segmentation model over a scene and writes the merged instance raster.

    Args:
        model: an ultralytics ``YOLO`` (see :func:`load_yolo`).
        config: patching, thresholds and merge rule.
        model_id: recorded in the output's tags.
    """

    model: Any
    config: InstanceConfig = field(default_factory=InstanceConfig)
    model_id: str = ""

    def _input(self, raw: np.ndarray, offset: float) -> tuple[np.ndarray, np.ndarray]:
        """Raw RGB window ``(3, h, w)`` -> model input ``(3, h, w)`` in [0, 1] and its nodata mask ``(h, w)``."""
        from agriseg.fields.sentinel2 import prepare_input

        invalid = (raw == 0).all(0)
        x = np.clip(prepare_input(raw, offset=offset, divisor=self.config.divisor), 0.0, 1.0)
        x[:, invalid] = 0.0
        return x.astype(np.float32), invalid

    def _detect(self, batch: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(N, 3, P, P)`` -> per patch ``(masks (n, P, P) bool, confidences (n,))`` at scene resolution."""
        import torch
        import torch.nn.functional as F

        c = self.config
        p = batch.shape[-1]
        x = torch.from_numpy(batch)
        size = int(round(p * c.resize / 32)) * 32  # YOLO needs multiples of its stride
        if size != p:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)  # (N, 3, S, S)
        results = self.model.predict(
            x, conf=c.conf, iou=c.iou, max_det=c.max_det, device=c.predict.device, half=False, verbose=False
        )
        out = []
        for r in results:
            if r.masks is None or r.boxes is None or len(r.boxes) == 0:
                out.append((np.zeros((0, p, p), bool), np.zeros(0)))
                continue
            m = r.masks.data.float()[None]  # (1, n, s, s) at the network's size
            m = F.interpolate(m, size=(p, p), mode="bilinear", align_corners=False)[0]  # (n, P, P)
            out.append(((m > 0.5).cpu().numpy(), r.boxes.conf.float().cpu().numpy()))
        return out

    def predict(self, scene: str | Path, output: str | Path, overwrite: bool = False) -> InstanceResult:
        """Detect fields in ``scene`` (bands 1-3 = red, green, blue) and write the instance raster.

        Raises:
            FileNotFoundError: missing scene.
            ValueError: unreadable scene, fewer than 3 bands, no CRS.
        """
        import rasterio

        from agriseg.batch import progress_bar
        from agriseg.fields.config import PreprocessConfig
        from agriseg.fields.predict import scene_offset
        from agriseg.raster.io import open_scene, pixel_area_m2, read_window
        from agriseg.tiling import window_starts

        t0 = time.perf_counter()
        scene, output = Path(scene), Path(output)
        if output.exists() and not overwrite:
            return InstanceResult(scene, output, "skipped")
        info = open_scene(scene)
        if info.count < 3:
            raise ValueError(f"{scene}: has {info.count} bands; DelineateAnything needs red, green, blue (bands 1-3)")
        c = self.config
        P, pad, batch = c.predict.patch_size, c.pad, c.predict.batch_size
        if P - 2 * pad < 1:
            raise ValueError(f"padding {pad} leaves no core in patches of {P} px")
        offset = scene_offset(info, PreprocessConfig(bands=info.count, **offset_settings(c.offset)))
        ys = window_starts(info.height, P, P - 2 * pad)
        xs = window_starts(info.width, P, P - 2 * pad)
        ycores, xcores = _cores(ys, P, info.height), _cores(xs, P, info.width)
        found: list[_Instance] = []
        valid = np.zeros((info.height, info.width), bool)
        n_patches = 0
        with rasterio.open(scene) as ds:
            tiles = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
            bar = progress_bar(
                total=len(tiles), desc=f"delineate {scene.name}", unit="patch", disable=not c.predict.progress
            )
            for k in range(0, len(tiles), batch):
                chunk, inputs = [], []
                for i, j in tiles[k : k + batch]:
                    y0, x0 = ys[i], xs[j]
                    y1, x1 = min(info.height, y0 + P), min(info.width, x0 + P)
                    raw = read_window(ds, scene, y0, y1, x0, x1)[:3]
                    x, invalid = self._input(raw, offset)
                    valid[y0:y1, x0:x1] |= ~invalid
                    if invalid.all():
                        continue
                    full = np.zeros((3, P, P), np.float32)  # scenes smaller than a patch: zero-padded
                    full[:, : y1 - y0, : x1 - x0] = x
                    chunk.append((i, j, y0, x0, y1, x1, invalid))
                    inputs.append(full)
                if inputs:
                    for (i, j, y0, x0, y1, x1, invalid), (masks, confs) in zip(
                        chunk, self._detect(np.stack(inputs)), strict=True
                    ):
                        found += self._instances(masks, confs, (i, j), (y0, x0, y1, x1), invalid, ycores, xcores)
                    n_patches += len(inputs)
                bar.update(len(tiles[k : k + batch]))
            bar.close()
            profile = ds.profile
            tags = ds.tags()
        labels, conf = merge_instances(found, (info.height, info.width), c)
        labels[~valid] = 0
        area = pixel_area_m2(info.crs, info.transform, info.height, info.width) * float(valid.sum()) / 1e6
        n_fields = _write(output, labels, conf, profile, tags, self.model_id, area)
        return InstanceResult(scene, output, "ok", n_patches, len(found), n_fields, time.perf_counter() - t0, area)

    def _instances(
        self,
        masks: np.ndarray,
        confs: np.ndarray,
        tile: tuple[int, int],
        box: tuple[int, int, int, int],
        invalid: np.ndarray,
        ycores: list[tuple[int, int]],
        xcores: list[tuple[int, int]],
    ) -> list[_Instance]:
        y0, x0, y1, x1 = box
        (cy0, cy1), (cx0, cx1) = ycores[tile[0]], xcores[tile[1]]
        out = []
        for d, (m, cf) in enumerate(zip(masks, confs, strict=True)):
            m = m[: y1 - y0, : x1 - x0] & ~invalid
            rows, cols = np.nonzero(m)
            if rows.size < self.config.min_pixels:
                continue
            r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
            cy, cx = y0 + rows.mean(), x0 + cols.mean()
            owned = bool(cy0 <= cy < cy1 and cx0 <= cx < cx1)
            crop = m[r0:r1, c0:c1].copy()
            out.append(_Instance(int(y0 + r0), int(x0 + c0), crop, float(cf), owned, (tile[0] * 100000 + tile[1], d)))
        return out


def merge_instances(
    found: list[_Instance], shape: tuple[int, int], config: InstanceConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Paint instances into one label raster (see the module docstring for the rule).

    Returns:
        ``(labels (H, W) uint32, confidence per label (L + 1,) float64)``.
    """
    labels = np.zeros(shape, np.uint32)
    areas: list[int] = [0]
    confs: list[float] = [0.0]
    order = sorted(found, key=lambda t: (not t.owned, -t.conf, t.order))
    for inst in order:
        h, w = inst.mask.shape
        win = labels[inst.y0 : inst.y0 + h, inst.x0 : inst.x0 + w]  # (h, w) view
        under = win[inst.mask]
        n = int(inst.mask.sum())
        hit = np.bincount(under[under > 0].astype(np.int64))
        best, best_iou = 0, -1.0
        for lab in np.flatnonzero(hit):
            inter = int(hit[lab])
            iou = inter / (n + areas[lab] - inter)
            contain = inter / max(1, min(n, areas[lab]))
            if (iou >= config.merge_iou or contain >= config.merge_contain) and iou > best_iou:
                best, best_iou = int(lab), iou
        free = inst.mask & (win == 0)
        if best:
            win[free] = best
            areas[best] += int(free.sum())
            confs[best] = max(confs[best], inst.conf)
        elif free.sum() >= config.min_pixels:
            new = len(areas)
            win[free] = new
            areas.append(int(free.sum()))
            confs.append(inst.conf)
    return _largest_pieces(labels, config.min_pixels), np.asarray(confs)


def _largest_pieces(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """Keep each label's largest 4-connected piece (painting around other fields can split one)."""
    from skimage.measure import label

    if not labels.any():
        return labels
    pieces = label(labels, background=0, connectivity=1)  # (H, W) one id per connected piece of one value
    size = np.bincount(pieces.ravel())
    owner = np.zeros(len(size), np.int64)
    owner[pieces.ravel()] = labels.ravel()
    best = np.zeros(int(labels.max()) + 1, np.int64)
    best_size = np.zeros(int(labels.max()) + 1, np.int64)
    for p in np.argsort(size, kind="stable"):  # larger pieces last: they win
        if p and size[p] >= best_size[owner[p]]:
            best[owner[p]], best_size[owner[p]] = p, size[p]
    keep = np.zeros(len(size), bool)
    keep[best[best_size >= min_pixels]] = True
    keep[0] = False
    return np.where(keep[pieces], labels, 0).astype(np.uint32)


def _write(
    output: Path, labels: np.ndarray, conf: np.ndarray, profile: dict, tags: dict, model_id: str, km2: float
) -> int:
    """The instance COG (field ids, confidence x254; ``km2``, the area of its valid pixels, as a tag: a resumed
    ``fields map`` row reads it); returns the number of fields."""
    import tempfile

    import rasterio

    from agriseg.raster.io import describe_bands, scene_tags, tiled_profile, to_cog

    present = np.unique(labels)
    present = present[present > 0]
    cband = np.rint(np.clip(conf, 0, 1) * CONF_SCALE).astype(np.uint32)[labels]  # (H, W)
    cband[labels == 0] = 0
    h, w = labels.shape
    prof = tiled_profile("uint32", 2, w, h, profile["crs"], profile["transform"], nodata=0)
    from agriseg.fields.writes import writing

    output.parent.mkdir(parents=True, exist_ok=True)
    with writing(output), tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.") as tmp:
        tiled = Path(tmp) / "instances.tif"
        with rasterio.open(tiled, "w", **prof) as dst:
            dst.write(labels, 1)
            dst.write(cband, 2)
            describe_bands(dst, ("field_id", "confidence_x254"))
            dst.update_tags(**scene_tags(tags), agriseg_format=INSTANCE_FORMAT, agriseg_model=model_id,
                            agriseg_valid_km2=repr(km2))  # fmt: skip
        to_cog(tiled, output)
    return int(present.size)


__all__ = [
    "INSTANCE_FORMAT",
    "InstanceConfig",
    "InstancePredictor",
    "InstanceResult",
    "MissingExtraError",
    "import_ultralytics",
    "is_instance_model",
    "load_yolo",
    "merge_instances",
]
