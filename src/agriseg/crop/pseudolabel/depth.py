"""Depth maps for pseudo-labels: files matched by name, or Depth Anything V2 estimates (cached).

Conventions: ``depth`` maps hold distance (larger = farther; RGB-D cameras, 16-bit millimetre PNGs, 0 =
no reading); ``inverse`` maps hold inverse depth / disparity (larger = nearer; what Depth Anything V2
outputs, relative and affine-invariant). Both are turned into *nearness* (larger = nearer = plant).

Ground removal (``detrend="plane"``): the inverse depth of a plane is affine in pixel coordinates, so a
plane ``a*u + b*v + c`` is fitted to the inverse depth (robustly, refitting on the farther half of the
pixels a few times) and subtracted. What remains is relief above the ground, which a single threshold can
split even when the camera looks at the field obliquely.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any, Literal

import numpy as np
from typing_extensions import deprecated

from agriseg.batch.progress import library_bars_off
from agriseg.data.files import atomic_write, write_json
from agriseg.data.io import cv_read

DepthConvention = Literal["depth", "inverse"]
Detrend = Literal["plane", "none"]
DEPTH_SUFFIXES = (".png", ".tif", ".tiff", ".npy")
DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"


def find_depth_file(depth_dir: str | Path, stem: str, image: str | Path | None = None) -> Path:
    """The depth file of an image: ``<stem>.{png,tif,tiff,npy}`` or ``<stem>_depth.*`` in ``depth_dir``.

    Found as typed first, then as the user sees names: ``a.PNG`` from a camera, or a name in another Unicode form
    (macOS writes NFD, so ``é`` is two code points there and one in the photo's name). Never the image itself
    (a folder of PNG photos with their ``<stem>_depth.png`` beside them as ``--depth-dir``).

    Raises:
        FileNotFoundError: naming the image (``image``, else its stem in the folder) and the names searched.
    """
    d = Path(depth_dir)
    found = _candidates(d, stem, image)
    if found:
        return found[0]
    names = f"{stem}[_depth]{{{','.join(DEPTH_SUFFIXES)}}}"
    raise FileNotFoundError(f"{image or d / stem}: no depth file ({names}) in {d}")


def other_depth_files(depth_dir: str | Path, stem: str, chosen: Path, image: str | Path | None = None) -> list[Path]:
    """Depth files of the image besides ``chosen`` (:func:`find_depth_file`'s pick): ``a.png`` beside ``a.npy``
    of other content, one of them read without a word (session 105's sweep)."""
    return sorted(p for p in _candidates(Path(depth_dir), stem, image) if p.resolve() != chosen.resolve())


def _candidates(folder: Path, stem: str, image: str | Path | None) -> list[Path]:
    """The depth files of ``stem`` in ``folder``, in :func:`find_depth_file`'s order, the image left out."""
    order = [f"{n}{suf}" for n in (stem, f"{stem}_depth") for suf in DEPTH_SUFFIXES]
    exact, alike = _folder_index(folder)
    own = Path(image).resolve() if image is not None else None
    out = [exact[n] for n in order if n in exact]
    out += [p for n in order for p in alike.get(_same_name(n), []) if p not in out]
    return [p for p in out if p.resolve() != own]


def _folder_index(folder: Path) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """A folder's files of depth suffixes by name, and by the name as a user sees it (:func:`_same_name`): one
    listing per folder and change, where each lookup listed the folder again (3,000 photos with their depth
    files beside them took 42 s before the first was labelled, session 105's review)."""
    try:
        key = (str(folder.resolve()), folder.stat().st_mtime_ns)
    except OSError:
        return {}, {}
    if key not in _INDEX:
        files = [p for p in folder.iterdir() if p.suffix.lower() in DEPTH_SUFFIXES and p.is_file()]
        alike: dict[str, list[Path]] = {}
        for p in sorted(files):
            alike.setdefault(_same_name(p.name), []).append(p)
        _INDEX.clear()  # the folder of this run, not every folder ever read
        _INDEX[key] = ({p.name: p for p in files}, alike)
    return _INDEX[key]


_INDEX: dict[tuple[str, int], tuple[dict[str, Path], dict[str, list[Path]]]] = {}


def _same_name(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def read_depth(path: str | Path) -> np.ndarray:
    """Read a depth map as ``float32`` ``(H, W)`` (16-bit PNG, TIFF of any numeric type, or ``.npy``).

    Raises:
        FileNotFoundError: if missing.
        ValueError: naming the file when it is unreadable or not single-channel.
    """
    import cv2  # OpenCV comes with the [train] extra: imported on use so the configs load without it

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: depth file not found")
    if path.suffix.lower() == ".npy":
        with path.open("rb") as fh:
            if fh.read(6) != b"\x93NUMPY":  # numpy then tries it as a pickle and blames "pickled data"
                raise ValueError(f"{path}: not a NumPy .npy file (no .npy header); write depth with numpy.save")
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            pickled = "allow_pickle" in str(err)  # never numpy's advice to load it unsafely
            why = "it holds Python objects, not a numeric array" if pickled else " ".join(str(err).split())
            raise ValueError(f"{path}: unreadable .npy depth ({why})") from err
    else:
        arr = cv_read(path, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
        if arr is None:
            from agriseg.data.io import open_image

            with open_image(path, "depth image") as im:  # one-line errors: empty, not readable, truncated
                arr = np.asarray(im)
    arr = np.asarray(arr)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):  # text, complex
        raise ValueError(f"{path}: depth must be a map of numbers, not of {arr.dtype} values")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and np.ptp(arr[..., :3].astype(np.float32), axis=-1).max() == 0:
        arr = arr[..., 0]  # grey stored as RGB
    if arr.ndim != 2:
        raise ValueError(f"{path}: depth must be single-channel, got shape {arr.shape}")
    if arr.dtype == np.uint8:  # a picture of depth: 256 steps over the scene leave plants a step or two high
        from agriseg.data.io import log

        log.warning(
            "%s: an 8-bit depth image (256 levels), too coarse for plants' height above the ground; write depth as "
            "16-bit PNG (millimetres), TIFF or .npy", path,
        )  # fmt: skip
    return arr.astype(np.float32)


def to_nearness(
    depth: np.ndarray, convention: DepthConvention, source: str = "depth", measured: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Nearness (inverse depth, larger = nearer) and the valid-pixel mask.

    ``depth`` convention: nearness = 1 / depth. ``inverse``: used as is. In a ``measured`` map (a file: a
    sensor's, or a stereo disparity) 0 or negative is no reading (invalid) in either convention: a disparity map's
    dropouts read as the farthest ground and 2 % of them took the mask's IoU from 0.94 to 0.66 (session 105's
    sweep). An estimate (Depth Anything's relative inverse depth) has no dropouts: all its finite pixels count.

    Raises:
        ValueError: starting with ``source`` for NaN/inf values, no valid pixels, or a constant map.
    """
    bad = ~np.isfinite(depth)
    if bad.any():
        raise ValueError(f"{source}: depth has {int(bad.sum())} NaN or infinite pixels")
    if convention not in ("depth", "inverse"):
        raise ValueError(f"unknown depth convention {convention!r}; valid: depth, inverse")
    valid = depth > 0 if convention == "depth" or measured else np.ones(depth.shape, bool)
    if valid.sum() < 0.5 * depth.size:
        missing = 1 - float(valid.mean())  # 4 valid pixels of 10800 said "100%"
        share = f"{100 * missing:.0f}%" if missing < 0.995 else f"all but {n}" if (n := int(valid.sum())) else "all"
        raise ValueError(f"{source}: {share} of the depth pixels are missing (<= 0)")
    near = np.zeros_like(depth)
    near[valid] = 1.0 / depth[valid] if convention == "depth" else depth[valid]
    vals = near[valid]
    if float(vals.max() - vals.min()) <= 1e-6 * max(abs(float(vals.max())), 1e-12):
        raise ValueError(f"{source}: depth is constant (no relief to threshold)")
    return near.astype(np.float32), valid


def fit_ground_plane(near: np.ndarray, valid: np.ndarray, iterations: int = 4, step: int = 4) -> np.ndarray:
    """Robust affine plane ``a*u + b*v + c`` through the far (ground) pixels of a nearness map ``(H, W)``.

    Fits all valid pixels, then refits ``iterations`` times on the valid pixels whose residual is below
    the median (the farther half), on a ``step``-subsampled grid.
    """
    H, W = near.shape
    vv, uu = np.mgrid[0:H:step, 0:W:step].astype(np.float32)
    z = near[::step, ::step]
    m = valid[::step, ::step].copy()
    A = np.stack([uu / W, vv / H, np.ones_like(uu)], -1)  # (h, w, 3)
    coef = np.zeros(3, np.float32)
    for _ in range(iterations + 1):
        if m.sum() < 3:
            break
        coef, *_ = np.linalg.lstsq(A[m], z[m], rcond=None)
        res = z - A @ coef
        m = valid[::step, ::step] & (res <= np.median(res[valid[::step, ::step]]))
    v_full, u_full = np.mgrid[0:H, 0:W].astype(np.float32)
    return (coef[0] * u_full / W + coef[1] * v_full / H + coef[2]).astype(np.float32)


def relief(
    depth: np.ndarray,
    convention: DepthConvention,
    detrend: Detrend = "plane",
    source: str = "depth",
    measured: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The signal GGHT thresholds: nearness, minus the ground plane if ``detrend="plane"`` (``measured``: as
    :func:`to_nearness`).

    Returns:
        ``(signal (H, W) float32, valid (H, W) bool)``.
    """
    near, valid = to_nearness(depth, convention, source, measured)
    if detrend == "plane":
        near = near - fit_ground_plane(near, valid)
        near[~valid] = 0.0
    elif detrend != "none":
        raise ValueError(f"unknown detrend {detrend!r}; valid: plane, none")
    return near, valid


class DepthAnythingEstimator:
    """Relative inverse depth from RGB with Depth Anything V2 (``transformers``).

    Args:
        model: a Hugging Face model id (e.g. ``depth-anything/Depth-Anything-V2-Small-hf``) or a local
            directory saved with ``save_pretrained``.
        device: torch device.
        input_size: the short side the photo is resized to (rounded to a multiple of the patch size, 14).

    Raises:
        ImportError: if ``transformers`` is missing (``pip install agriseg[depth]``).
        agriseg.models.io.ModelLoadError: the model cannot be loaded (not a local folder, not cached and no network;
            or not a model); a usage error on the command line (exit status 2).
    """

    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, model: str = DEFAULT_DEPTH_MODEL, device: str = "cpu", input_size: int = 518) -> None:
        from agriseg.models.io import ModelLoadError

        try:
            from transformers import DepthAnythingForDepthEstimation
        except ImportError as err:
            raise ImportError("depth estimation needs transformers: pip install 'agriseg[depth]'") from err
        self.model_id, self.device, self.input_size = str(model), device, input_size
        source = str(model)
        if not Path(source).expanduser().exists():  # a Hub id: one short probe, not minutes of retries
            from agriseg.models.hub import is_hub_id, resolve_hub_id

            if not is_hub_id(source):
                raise ModelLoadError(f"{model}: cannot load a Depth Anything model (no such folder, not a Hub id)")
            try:
                source = resolve_hub_id(source, "Depth Anything model folder")
            except FileNotFoundError as err:
                raise ModelLoadError(f"{err}; pass a local folder holding config.json + weights") from None
        try:
            with library_bars_off(Path(source).expanduser().is_dir()):  # a Hub id may download: its bar shows
                self.model = DepthAnythingForDepthEstimation.from_pretrained(source).eval().to(device)
        except (OSError, ValueError, KeyError) as err:
            detail = " ".join(str(err).split())[:300]
            raise ModelLoadError(
                f"{model}: cannot load a Depth Anything model ({type(err).__name__}: {detail})"
            ) from err
        self.patch = int(getattr(self.model.config.backbone_config, "patch_size", 14))
        from agriseg.fingerprint import file_identity

        # the weights themselves (a folder retrained or replaced under one name gave the old depth from the cache)
        folder = Path(source).expanduser()
        files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        self.weights_id = "|".join(f"{p.relative_to(folder)}:{file_identity(p, ctime=False)}" for p in files)

    @property
    def cache_key(self) -> str:
        """Short hash of the model (id or path, and its files' identities) and input size (names cached depth
        files, with the photo's own pixels: :func:`cached_estimate`)."""
        made = f"{self.model_id}|{self.input_size}|{self.weights_id}"
        return hashlib.sha1(made.encode()).hexdigest()[:10]

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Inverse depth ``float32`` ``(H, W)`` (larger = nearer) at the photo's size."""
        import torch
        import torch.nn.functional as F

        H, W = rgb.shape[:2]
        s = self.input_size / min(H, W)
        h = max(self.patch, round(H * s / self.patch) * self.patch)
        w = max(self.patch, round(W * s / self.patch) * self.patch)
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()[None] / 255  # (1, 3, H, W)
        x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
        x = (x - torch.tensor(self.MEAN)[:, None, None]) / torch.tensor(self.STD)[:, None, None]
        with torch.no_grad():
            out = self.model(pixel_values=x.to(self.device)).predicted_depth  # (1, h', w')
        out = F.interpolate(out[:, None].float(), size=(H, W), mode="bilinear", align_corners=False)[0, 0]
        return out.cpu().numpy().astype(np.float32)


def cached_estimate(
    est: DepthAnythingEstimator, rgb: np.ndarray, cache_dir: Path, stem: str
) -> tuple[np.ndarray, bool]:
    """Estimated inverse depth of a photo, read from / written to ``cache_dir/<stem>.<model key>.<pixels>.npy``:
    a photo replaced under its name, or another model under the model's, is estimated again. Kept as float32,
    so a run from the cache gives the masks of the run that filled it.

    Returns:
        ``(inverse depth (H, W), came_from_cache)``. A cached map of the wrong size is recomputed.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    pixels = hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest()[:12]
    path = cache_dir / f"{stem}.{est.cache_key}.{pixels}.npy"
    if path.is_file():
        try:
            arr = np.load(path, allow_pickle=False)
            if arr.shape == rgb.shape[:2]:
                return arr.astype(np.float32), True
        except (OSError, ValueError):
            pass
    arr = est(rgb)
    with atomic_write(path) as tmp:
        np.save(tmp, arr.astype(np.float32))  # (float16 rounded small depths to a few values: other masks)
    meta = cache_dir / "cache.json"
    info = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
    info[est.cache_key] = {"model": est.model_id, "input_size": est.input_size, "convention": "inverse"}
    write_json(meta, info)
    return arr, False


# Depth Anything V2 sizes: (hidden, layers, heads, mlp, neck, fusion, reassemble, head); "small" is the released
# Small architecture (24.8 M parameters), "tiny" a ~0.2 M-parameter stand-in for offline tests
_DEPTH_SIZES = {
    "tiny": (32, 4, 2, 64, [8, 16, 32, 32], 16, 32, 8),
    "small": (384, 12, 6, 1536, [48, 96, 192, 384], 64, 384, None),
}


def depth_anything_config(size: Literal["tiny", "small"] = "small") -> object:
    """A Depth Anything V2 ``transformers`` config of a named size, for building random-weight models."""
    from transformers import DepthAnythingConfig, Dinov2Config

    hidden, layers, heads, mlp, neck, fusion, reassemble, head = _DEPTH_SIZES[size]
    backbone = Dinov2Config(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        mlp_ratio=mlp // hidden,  # Dinov2Config sizes the MLP by its ratio to the width
        patch_size=14,
        image_size=518,
        reshape_hidden_states=False,
    )
    backbone.out_indices = [layers // 4, layers // 2, 3 * layers // 4, layers]  # sets out_features too
    extra: dict[str, Any] = {"head_hidden_size": head} if head else {}
    return DepthAnythingConfig(
        backbone_config=backbone,
        neck_hidden_sizes=neck,
        fusion_hidden_size=fusion,
        reassemble_hidden_size=reassemble,
        patch_size=14,
        depth_estimation_type="relative",
        **extra,
    )


def tiny_depth_anything_config() -> object:
    """A ~0.2 M-parameter random-weight Depth Anything V2 config (offline tests)."""
    return depth_anything_config("tiny")


@deprecated("small_depth_anything_config: unused, removed in the next release; use depth_anything_config('small')")
def small_depth_anything_config() -> object:
    """The Depth Anything V2 Small architecture (24.8 M parameters)."""
    return depth_anything_config("small")
