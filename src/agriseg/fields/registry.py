"""Released field-boundary models by name: the FTW baselines and PRUE checkpoints, cached on first use.

Every entry is an ftw-tools Lightning ``.ckpt`` published on the Fields of The World baselines release page;
:func:`resolve_model` turns a name into a local file (downloading it into the user cache once) and leaves
paths alone, so every ``-m`` option accepts either. Checkpoints are only ever read with
``torch.load(weights_only=True)`` (:mod:`agriseg.fields.checkpoints`).

Environment variables:

- ``AGRISEG_CACHE_DIR``: cache root (models go to ``<root>/models``); default: the platform's user cache
  folder for ``agriseg`` (``~/.cache/agriseg`` on Linux).
- ``AGRISEG_MODELS_BASE_URL``: where the release files are fetched from (a mirror, or a test server);
  each entry's ``file`` is appended to it. Default: :data:`RELEASE_URL`.

Licences: the PRUE and "FULL" models were trained on FTW countries under a mix of open licences, some of
them non-commercial (CC-BY-NC-SA); only the "CCBY" models are CC-BY 4.0 throughout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from agriseg.config import StrictModel
from agriseg.fields.sentinel2 import WindowOrder

RELEASE_URL = "https://github.com/fieldsoftheworld/ftw-baselines/releases/download/"
MIXED = "Mixed Open Licenses (includes CC-BY-NC-SA: non-commercial)"
CCBY = "CC-BY-4.0"
THREE = ["background", "field", "boundary"]
TWO = ["background", "field"]


class ModelSpec(StrictModel):
    """One released model."""

    name: str = Field(description="registry name, used with -m")
    title: str
    file: str = Field(description="path under the release base URL, or a full http(s) URL")
    licence: str
    commercial_use: bool = Field(description="whether every licence of its training data allows commercial use")
    classes: list[str]
    windows: WindowOrder = "ab"
    default: bool = False
    legacy: bool = False
    sha256: str | None = Field(default=None, description="hex digest; checked after download when set")

    @property
    def url(self) -> str:
        """The download address (``AGRISEG_MODELS_BASE_URL`` replaces the release base)."""
        if self.file.startswith(("http://", "https://")):
            return self.file
        base = os.environ.get("AGRISEG_MODELS_BASE_URL", RELEASE_URL)
        return base.rstrip("/") + "/" + self.file

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


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        _spec("FTW_PRUE_EFNET_B3", "PRUE EfficientNet-B3 U-Net, 3 classes, two windows (fastest)",
              "v3/prue_efnet3_checkpoint.ckpt", False, THREE),
        _spec("FTW_PRUE_EFNET_B5", "PRUE EfficientNet-B5 U-Net, 3 classes, two windows",
              "v3/prue_efnet5_checkpoint.ckpt", False, THREE, default=True),
        _spec("FTW_PRUE_EFNET_B7", "PRUE EfficientNet-B7 U-Net, 3 classes, two windows (most accurate)",
              "v3/prue_efnet7_checkpoint.ckpt", False, THREE),
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
        ValueError: unknown name; the message lists the valid ones.
    """
    if name not in MODELS:
        raise ValueError(f"{name}: not a known model name (valid: {', '.join(MODELS)})")
    return MODELS[name]


def cached_path(spec: ModelSpec) -> Path:
    """Where ``spec`` is (or would be) cached."""
    return cache_dir() / spec.name / spec.filename


def is_cached(spec: ModelSpec) -> bool:
    """Whether ``spec`` has been downloaded."""
    return cached_path(spec).is_file()


def fetch(name: str, overwrite: bool = False, progress: bool = True, retries: int = 4) -> Path:
    """Download a registry model into the cache (resuming a partial download); return its file.

    Raises:
        ValueError: unknown name, failed download (re-run resumes), or checksum mismatch (file deleted).
    """
    from agriseg.data.download import download

    spec = get_spec(name)
    dst = cached_path(spec)
    if dst.is_file() and not overwrite:
        return dst
    return download(spec.url, dst, sha256=spec.sha256, retries=retries, progress=progress)


def looks_like_name(value: str) -> bool:
    """A value that is meant as a registry name rather than a file (no folder, no file extension)."""
    return "/" not in value and "\\" not in value and "." not in value


def resolve_model(value: str, progress: bool = True) -> str:
    """A model argument as a local file: registry names are fetched (once), anything else is a path.

    Raises:
        ValueError: a name that is neither an existing file nor in the registry (lists the valid names), or
            a failed download.
    """
    if value in MODELS:
        return str(fetch(value, progress=progress))
    if looks_like_name(value) and not Path(value).exists():
        raise ValueError(f"{value}: no such model file, and not a known model name (valid: {', '.join(MODELS)})")
    return value


Status = Literal["cached", "not downloaded"]


def status(spec: ModelSpec) -> Status:
    """``cached`` or ``not downloaded``."""
    return "cached" if is_cached(spec) else "not downloaded"


def fetch_models(names: list[str], overwrite: bool = False, strict: bool = False) -> Any:
    """``agriseg fields models download``: fetch several models (``["all"]``: every one) through the batch runner.

    Every name is checked before anything is downloaded.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    from agriseg.batch import BatchOptions, Item, run_batch

    wanted = list(MODELS) if names == ["all"] else list(names)
    specs = [get_spec(n) for n in wanted]
    items = [Item(s.name, s.name, (cached_path(s),)) for s in specs]
    return run_batch(
        items,
        lambda it: {"file": str(fetch(it.name, overwrite=overwrite)), "status": "ok"},
        options=BatchOptions(overwrite, strict, False, "models", "model"),
        resume=lambda it: {"file": str(it.outputs[0]), "status": "skipped"},
    )


__all__ = [
    "MODELS",
    "RELEASE_URL",
    "ModelSpec",
    "cache_dir",
    "cached_path",
    "default_model",
    "fetch",
    "fetch_models",
    "get_spec",
    "is_cached",
    "resolve_model",
    "status",
]
