"""Released field-boundary models by name: the FTW baselines, PRUE and DelineateAnything, cached on first use.

The registry lists the 15 models of ftw-tools 2.0.0b5. :func:`resolve_model` turns a name into a local file
(downloading it into the user cache once) and leaves paths alone, so every ``-m`` option accepts either.

- U-Nets (FTW v1/v2, PRUE v3/v3.1): ftw-tools Lightning ``.ckpt`` files on the Fields of The World
  baselines release page, only ever read with ``torch.load(weights_only=True)``
  (:mod:`agriseg.fields.checkpoints`). They predict classes that are polygonised afterwards.
- DelineateAnything (v1 x / S n, v2): ultralytics YOLO11 instance-segmentation ``.pt`` files. They are
  whole pickled Python objects that only ultralytics can load, and nobody publishes their digests: they
  load only after the user trusted the file (:mod:`agriseg.fields.trust`). They need the optional
  ``agriseg[delineate]`` extra (ultralytics, AGPL-3.0) and give field instances directly.

Each entry names the imagery it needs (``windows`` and ``bands``), so ``fields download`` / ``run`` fetch
one window of RGB + NIR for a single-window U-Net and one RGB window for DelineateAnything.

Environment variables:

- ``AGRISEG_CACHE_DIR``: cache root (models go to ``<root>/models``); default: the platform's user cache
  folder for ``agriseg`` (``~/.cache/agriseg`` on Linux).
- ``AGRISEG_MODELS_BASE_URL``: a mirror (or a test server) that replaces every download address. A
  release file is fetched from ``<base>/<file>`` (e.g. ``<base>/v3/prue_efnet3_checkpoint.ckpt``) and an
  entry with a full URL from ``<base>/<host>/<path>`` (e.g. ``<base>/hf.co/torchgeo/...``), the layout
  ``wget -x URL`` leaves in a mirror folder. Default: the original addresses.

Licences: the PRUE v3 and "FULL" models were trained on FTW countries under a mix of open licences, some
of them non-commercial (CC-BY-NC-SA); the "CCBY" models (v1, v3.1) are CC-BY 4.0 throughout. The
DelineateAnything weights and ultralytics are AGPL-3.0: agriseg itself stays MIT and never installs them
unless asked (``pip install "agriseg[delineate]"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from agriseg.batch import BatchOptions, batch_keywords
from agriseg.config import OptionError, StrictModel

RELEASE_URL = "https://github.com/fieldsoftheworld/ftw-baselines/releases/download/"
MIXED = "Mixed Open Licenses (includes CC-BY-NC-SA: non-commercial)"
CCBY = "CC-BY-4.0"
AGPL = "AGPL-3.0"
THREE = ["background", "field", "boundary"]
TWO = ["background", "field"]
RGBN = ("red", "green", "blue", "nir")
RGB = ("red", "green", "blue")

Kind = Literal["semantic", "instance"]
Windows = Literal["ab", "a"]


class ModelSpec(StrictModel):
    """One released model."""

    name: str = Field(description="registry name, used with -m")
    title: str
    file: str = Field(description="path under the release base URL, or a full http(s) URL")
    licence: str
    commercial_use: bool = Field(
        description="whether attribution alone allows commercial use (every training-data licence does; no copyleft)"
    )
    classes: list[str]
    kind: Kind = Field("semantic", description="semantic = class raster, then polygonised; instance = fields directly")
    windows: Windows = Field("ab", description="imagery windows: ab = start and end of season, a = one window")
    bands: tuple[str, ...] = Field(RGBN, description="Sentinel-2 bands of each window, in model order")
    default: bool = False
    legacy: bool = False
    sha256: str | None = Field(default=None, description="hex digest; checked after download when set")
    size: int | None = Field(default=None, ge=1, description="bytes, where known")
    sha256_prefix: str | None = Field(
        default=None, description="leading hex digits of the sha256 that the published file name carries"
    )

    @property
    def needs_polygonize(self) -> bool:
        """Whether the model's output is polygonised (semantic) or already field instances."""
        return self.kind == "semantic"

    @property
    def pickle(self) -> bool:
        """Whether the file is a full pickle that loads only after the user trusted it."""
        return self.kind == "instance"

    @property
    def url(self) -> str:
        """The download address; ``AGRISEG_MODELS_BASE_URL`` replaces it with a mirror (see the module)."""
        from agriseg.data.download import base_url

        base = base_url("AGRISEG_MODELS_BASE_URL", "")
        full = self.file.startswith(("http://", "https://"))
        if not base:
            return self.file if full else RELEASE_URL + self.file
        return base.rstrip("/") + "/" + (self.file.split("://", 1)[1] if full else self.file)

    @property
    def filename(self) -> str:
        """Cached file name (the release file's own name)."""
        return self.file.rsplit("/", 1)[-1]


def _spec(name: str, title: str, file: str, ccby: bool, classes: list[str], **kw: Any) -> ModelSpec:
    return ModelSpec(
        name=name,
        title=title,
        file=file,
        licence=CCBY if ccby else MIXED,
        commercial_use=ccby,
        classes=classes,
        **kw,
    )


def _yolo(name: str, title: str, url: str, **kw: Any) -> ModelSpec:
    """A DelineateAnything entry: YOLO11 instance segmentation of one RGB window, AGPL-3.0."""
    return ModelSpec(
        name=name, title=title, file=url, licence=AGPL, commercial_use=False, classes=["field"], kind="instance",
        windows="a", bands=RGB, **kw,
    )  # fmt: skip


HF = "https://hf.co/"


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        _spec("FTW_PRUE_EFNET_B3", "PRUE EfficientNet-B3 U-Net, 3 classes, two windows (fastest)",
              "v3/prue_efnet3_checkpoint.ckpt", False, THREE),
        _spec("FTW_PRUE_EFNET_B5", "PRUE EfficientNet-B5 U-Net, 3 classes, two windows",
              "v3/prue_efnet5_checkpoint.ckpt", False, THREE, default=True),
        _spec("FTW_PRUE_EFNET_B7", "PRUE EfficientNet-B7 U-Net, 3 classes, two windows (most accurate)",
              "v3/prue_efnet7_checkpoint.ckpt", False, THREE, size=270_119_641,
              sha256="2b1b34a17b85b8f70da6ff737529743b6bc6049e987bce5a1fcdd7279eb3b120"),
        _spec("FTW_PRUE_EFNET_B3_CCBY", "PRUE EfficientNet-B3 U-Net, 3 classes, two windows, CC-BY data only",
              "v3.1/prue_efnetb3_ccby_checkpoint.ckpt", True, THREE, size=53_242_827,
              sha256="cd51f020168e66ddd1eff501e81da347b39632af34bebf19a6a20d6c73c5a6d4"),
        _spec("FTW_PRUE_EFNET_B5_CCBY", "PRUE EfficientNet-B5 U-Net, 3 classes, two windows, CC-BY data only",
              "v3.1/prue_efnetb5_ccby_checkpoint.ckpt", True, THREE),
        _spec("FTW_PRUE_EFNET_B7_CCBY", "PRUE EfficientNet-B7 U-Net, 3 classes, two windows, CC-BY data only",
              "v3.1/prue_efnetb7_ccby_checkpoint.ckpt", True, THREE),
        _spec("FTW_v2_3_Class_FULL_multiWindow", "FTW v2 U-Net, 3 classes, two windows",
              "v2/3_Class_FULL_FTW_Pretrained_v2.ckpt", False, THREE, legacy=True),
        _spec("FTW_v2_3_Class_FULL_singleWindow", "FTW v2 U-Net, 3 classes, one window (window A)",
              "v2/3_Class_FULL_FTW_Pretrained_singleWindow_v2.ckpt", False, THREE, windows="a", legacy=True),
        _spec("FTW_v1_3_Class_FULL", "FTW v1 U-Net, 3 classes, two windows",
              "v1/3_Class_FULL_FTW_Pretrained.ckpt", False, THREE, legacy=True),
        _spec("FTW_v1_3_Class_CCBY", "FTW v1 U-Net, 3 classes, two windows, CC-BY training data only",
              "v1/3_Class_CCBY_FTW_Pretrained.ckpt", True, THREE, legacy=True),
        _spec("FTW_v1_2_Class_FULL", "FTW v1 U-Net, 2 classes, two windows",
              "v1/2_Class_FULL_FTW_Pretrained.ckpt", False, TWO, legacy=True),
        _spec("FTW_v1_2_Class_CCBY", "FTW v1 U-Net, 2 classes, two windows, CC-BY training data only",
              "v1/2_Class_CCBY_FTW_Pretrained.ckpt", True, TWO, legacy=True),
        _yolo("DelineateAnything-S", "DelineateAnything v1 small (YOLO11n-seg), field instances from one RGB window",
              HF + "torchgeo/delineate-anything-s/resolve/69cd440b0c5bd450ced145e68294aa9393ddae05/"
              "delineate_anything_s_rgb_yolo11n-b879d643.pt", sha256_prefix="b879d643"),
        _yolo("DelineateAnything", "DelineateAnything v1 (YOLO11x-seg), field instances from one RGB window",
              HF + "torchgeo/delineate-anything/resolve/60bea7b2f81568d16d5c75e4b5b06289e1d7efaf/"
              "delineate_anything_rgb_yolo11x-88ede029.pt", sha256_prefix="88ede029"),
        _yolo("DelineateAnythingV2", "DelineateAnything v2 (YOLO11x-seg), field instances from one RGB window",
              HF + "MykolaL/DelineateAnything/resolve/369d0b4c44cf9bec2bd3a27bc81810cadd2c963e/DelineateAnythingv2.pt"),
    )
}  # fmt: skip


def default_model() -> ModelSpec:
    """The registry's default model (PRUE EfficientNet-B5, as in ftw-tools)."""
    return next(s for s in MODELS.values() if s.default)


def cache_dir() -> Path:
    """The folder cached models live in (``$AGRISEG_CACHE_DIR/models`` or the user cache)."""
    from agriseg.data.files import user_cache

    return user_cache("models")


def get_spec(name: str) -> ModelSpec:
    """The entry called ``name``.

    Raises:
        OptionError: unknown name (a usage error); the message lists the valid ones.
    """
    if name not in MODELS:
        raise OptionError(f"{name}: not a known model name ({_near(name)}valid: {', '.join(MODELS)})")
    return MODELS[name]


def _near(name: str) -> str:
    """``did you mean NAME? `` for a registry name near ``name`` (another case, - for _, a typo), else ""."""
    from agriseg.config import did_you_mean

    hint = did_you_mean(name, MODELS, cutoff=0.75)
    return f"{hint} " if hint else ""


def cached_path(spec: ModelSpec) -> Path:
    """Where ``spec`` is (or would be) cached."""
    return cache_dir() / spec.name / spec.filename


def is_cached(spec: ModelSpec) -> bool:
    """Whether ``spec`` has been downloaded (and is not :func:`damaged`)."""
    return cached_path(spec).is_file() and not damaged(spec)


def damaged(spec: ModelSpec) -> bool:
    """Whether the cached file of ``spec`` is there but cut short or damaged (a zip archive whose directory
    cannot be read, or of another size than the one recorded): ``fields models download`` fetches it again,
    ``list`` says so. A file that cannot be read here (permissions) is not taken for damaged."""
    from agriseg.models.io import cut_short_zip

    path = cached_path(spec)
    if not path.is_file():
        return False
    if spec.size is not None and path.stat().st_size != spec.size:
        return True
    return cut_short_zip(path)  # its directory only: milliseconds


def fetch(name: str, overwrite: bool = False, progress: bool = True, retries: int = 4) -> Path:
    """Download a registry model into the cache (resuming a partial download); return its file.

    Raises:
        ValueError: unknown name, failed download (re-run resumes), or checksum mismatch (file deleted).
    """
    from agriseg.data.download import download

    spec = get_spec(name)
    dst = cached_path(spec)
    broken = damaged(spec)
    if dst.is_file() and not overwrite and not broken:
        return dst
    if broken:  # not resumed: a damaged file need not be a prefix of the right one
        try:
            dst.unlink()
        except OSError as err:  # a read-only cache: what to do, not the errno alone
            raise ValueError(
                f"{dst}: the cached {name} is cut short or damaged and cannot be removed ({err.strerror or err}); "
                f"remove it, or run `agriseg fields models download {name} --overwrite` where the cache is writable"
            ) from None
    # a release's digest prefix (DelineateAnything) is checked by `fields models trust`, which also takes the
    # user's own --sha256 for a file of theirs under this name
    from agriseg.models.io import cut_short_zip

    got = download(spec.url, dst, sha256=spec.sha256, retries=retries, progress=progress)
    # a whole answer of an archive cut short (no digest to check it by): said now, not by its use; a file of
    # another size than the release's (a mirror's own build) is left to the load's checks of what it is
    if got.suffix.lower() == ".ckpt" and cut_short_zip(got):
        got.unlink(missing_ok=True)
        raise ValueError(
            f"{spec.url}: the server sent a file cut short or damaged (not a whole {name} checkpoint); nothing "
            "kept: a re-run downloads it again"
        )
    return got


def model_record(model: str | Path, digest: str | None = None) -> dict[str, Any]:
    """A model as run records name it (``fields run``'s ``_run.json``, ``fields map``'s ``summary.json``): its
    released name (None for a file of yours), file and SHA-256 (``digest`` when known; a file's hashed once a
    process, as fingerprints hash it; None for a folder, which has no one digest)."""
    from agriseg.fingerprint import model_identity

    spec = spec_for(str(model))
    if digest is None and Path(model).is_file():
        digest = (model_identity(model) or "").removeprefix("sha256:") or None
    return {"name": spec.name if spec else None, "file": str(model), "sha256": digest}


def spec_for(value: str) -> ModelSpec | None:
    """The registry entry a ``-m`` value names, or whose cached file it is; None for other files."""
    if value in MODELS:
        return MODELS[value]
    path = Path(value)
    for spec in MODELS.values():
        if path.name == spec.filename and path.parent.name == spec.name:
            return spec
    return None


def model_inputs(value: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(windows, bands)`` of the imagery a model needs: from its registry entry, else from the file.

    A ``.pt`` file is a DelineateAnything-style YOLO model (one RGB window); a U-Net checkpoint with 4 input
    channels reads one window, with 8 two.
    """
    spec = spec_for(value)
    if spec is not None:
        return tuple(spec.windows), spec.bands
    if Path(value).suffix.lower() == ".pt":
        return ("a",), RGB
    from agriseg.fields.checkpoints import load_for_scenes

    bands = load_for_scenes(value).preprocess.bands
    return (("a",) if bands == len(RGBN) else ("a", "b")), RGBN


def looks_like_name(value: str) -> bool:
    """A value that is meant as a registry name rather than a file (no folder, no file extension)."""
    return "/" not in value and "\\" not in value and "." not in value


def resolve_model(value: str, progress: bool = True, retries: int = 4) -> str:
    """A model argument as a local file: registry names are fetched (once, ``retries`` attempts after the
    first with backoff), anything else is a path.

    Raises:
        ValueError: a name that is neither an existing file nor in the registry (lists the valid names), or
            a failed download.
    """
    if value in MODELS:
        try:
            return str(fetch(value, progress=progress, retries=retries))
        except ValueError as err:  # the address alone did not say which model (-m NAME) could not be fetched
            # (its own class where it takes one message, as OptionError does; a UnicodeDecodeError does not)
            try:
                named = type(err)(f"model {value}: {err}")
            except TypeError:
                named = ValueError(f"model {value}: {err}")
            raise named from None
    if looks_like_name(value) and not Path(value).exists():
        raise ValueError(
            f"{value}: no such model file, and not a known model name ({_near(value)}valid: {', '.join(MODELS)})"
        )
    if not Path(value).exists():  # named here: the crop loader would list the crop models' names
        raise ValueError(f"{value}: model file not found")
    if Path(value).is_dir():  # (the crop loader's words listed the crop models, session 105's sweep)
        raise ValueError(
            f"{value}: a folder, not a model file (a .ckpt or .safetensors file, or a released name: "
            "agriseg fields models list)"
        )
    return value


def released(model: str | Path, unet_for: str | None = None) -> str:
    """``--model`` as a local file (:func:`resolve_model`); a name that is neither a file nor a released model is
    a usage error (:class:`agriseg.config.OptionError`), a failed download stays a ``ValueError``.

    ``unet_for``: the command, which takes U-Net field models only: a released DelineateAnything model is a
    usage error before it is downloaded (it was fetched, then refused or failed)."""
    from agriseg.config import OptionError

    spec = MODELS.get(str(model))
    if unet_for and spec is not None and spec.kind == "instance":
        raise OptionError(
            f"--model {model}: a DelineateAnything (ultralytics YOLO) instance model; {unet_for} takes U-Net "
            "field models (a released FTW name, .ckpt, .safetensors)"
        )
    try:
        return resolve_model(str(model))
    except ValueError as err:
        if str(model) not in MODELS:
            raise OptionError(f"--model: {err}") from None
        raise  # a failed download: the command failed, not its options


Status = Literal["cached", "damaged", "not downloaded"]


def status(spec: ModelSpec) -> Status:
    """``cached``, ``damaged`` (there, but cut short: download it again) or ``not downloaded``."""
    if not cached_path(spec).is_file():
        return "not downloaded"
    return "damaged" if damaged(spec) else "cached"


@batch_keywords
def fetch_models(names: list[str], batch: BatchOptions | None = None) -> Any:
    """``agriseg fields models download``: fetch several models (``["all"]``: every one) through the batch runner.

    Every name is checked before anything is downloaded.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    from agriseg.batch import Item, run_batch
    from agriseg.fingerprint import NameStore

    batch = batch or BatchOptions()
    wanted = list(MODELS) if names == ["all"] else list(names)
    specs = [get_spec(n) for n in wanted]
    for spec in specs:  # a mirror address that is no URL: one usage error, not every model failing with it
        if batch.overwrite or not cached_path(spec).is_file() or damaged(spec):
            _ = spec.url
    items = [Item(s.name, s.name, (cached_path(s),)) for s in specs]
    return run_batch(
        items,
        lambda it: {"file": str(fetch(it.name, overwrite=batch.overwrite)), "status": "ok"},
        options=batch.labelled("models", "model", progress=False),
        # the cache is agriseg's: a model there is cached, whichever command fetched it (`fields run -m NAME`
        # keeps no record; taken for a user's file, it failed the download with exit 1)
        store=NameStore(),
        # a damaged file (cut short since) is fetched again, not skipped
        resume=lambda it: None if damaged(get_spec(it.name)) else {"file": str(it.outputs[0]), "status": "skipped"},
    )


def safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a ``.safetensors`` file, read without its weights."""
    from safetensors import safe_open

    with safe_open(str(path), "numpy") as f:
        return dict(f.metadata() or {})


def default_resize(path: str | Path, info: dict[str, Any] | None = None) -> float:
    """The patch resize factor a fields model runs at without ``--resize``: 2 for ftw-tools checkpoints
    (ftw-tools' inference default) and agriseg imports of them, else 1.

    Args:
        path: the model file.
        info: its loading info (``source_format``); without it a ``.safetensors``' metadata is read (no
            weights loaded) and any other file is taken at 2, the larger (a check made before loading).
    """
    if info is None:
        try:
            suffix = Path(path).suffix.lower()
            info = safetensors_metadata(path) if suffix == ".safetensors" else {"source_format": "ftw-tools"}
        except Exception:  # unreadable: its loading fails later, naming the file
            info = {"source_format": "ftw-tools"}
        info = {"source_format": info.get("source_format") or info.get("format")}
    return 2.0 if info.get("source_format") == "ftw-tools" else 1.0


def known_resize(model: str | Path) -> float | None:
    """The resize a fields model runs at without ``--resize`` when that is known without loading it: a released
    model, a DelineateAnything ``.pt`` (2) or a ``.safetensors`` (its metadata); None for other checkpoints."""
    spec = spec_for(str(model))
    suffix = Path(model).suffix.lower()
    if suffix == ".pt" or (spec is not None and suffix != ".safetensors"):
        return 2.0  # DelineateAnything (InstanceConfig's default) and the ftw-tools releases
    if suffix == ".safetensors" and Path(model).is_file():
        return default_resize(model)
    return None


def resize_option(model: str | Path, resize: float | None) -> dict[str, float]:
    """``{"model_resize": 2.0}`` for an agriseg import of an ftw-tools checkpoint run at its default resize,
    else nothing: for fingerprints. Such imports ran at 1 before their origin was read (agriseg 0.x); their
    outputs' records lack the key, so a re-run does not take them as this run's."""
    if resize is None and Path(model).suffix.lower() == ".safetensors" and default_resize(model) == 2.0:
        return {"model_resize": 2.0}
    return {}


__all__ = [
    "MODELS",
    "RELEASE_URL",
    "ModelSpec",
    "cache_dir",
    "cached_path",
    "default_model",
    "default_resize",
    "fetch",
    "fetch_models",
    "get_spec",
    "is_cached",
    "known_resize",
    "model_inputs",
    "released",
    "resize_option",
    "resolve_model",
    "safetensors_metadata",
    "spec_for",
    "status",
]
