"""Explicit trust of pickled model files: the one place agriseg loads a file without ``weights_only=True``.

DelineateAnything's ``.pt`` files are ultralytics checkpoints: pickles of whole Python objects, and nobody
publishes their digests. A pickle can run any code while it loads, so agriseg loads one only when the user
has said which exact file they trust:

- ``agriseg fields models trust NAME|FILE [--sha256 HEX]`` records the file's SHA-256 in
  ``<cache>/models/trusted.json`` (after checking it against ``--sha256`` or the digest prefix that the
  published file name carries, where there is one); every later load computes the digest again and
  refuses a file whose digest was never trusted;
- or ``--sha256 HEX`` on the command that loads it: the file must have exactly that digest.

Anything else is refused with a one-line error naming both. Trust follows the file's content, not its
name or place: a trusted file that is copied elsewhere stays trusted, a changed file does not.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from agriseg.config import OptionError
from agriseg.models.io import ModelLoadError

TRUST_FILE = "trusted.json"


class UntrustedModelError(ModelLoadError):
    """A pickled model file whose digest the user has not trusted (a model file that cannot be used: exit 2)."""


def trust_store() -> Path:
    """Where trusted digests are recorded (``<cache>/models/trusted.json``)."""
    from agriseg.fields.registry import cache_dir

    return cache_dir() / TRUST_FILE


def trusted() -> dict[str, dict[str, Any]]:
    """The recorded digests: ``{sha256: {"name", "file", "trusted_at"}}`` (empty when none)."""
    path = trust_store()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); delete it and trust the models again") from err
    return data if isinstance(data, dict) else {}


def check_sha256(value: str) -> str:
    """A SHA-256 digest as 64 lower-case hex digits (``--sha256``); :class:`OptionError` otherwise."""
    v = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", v):
        raise OptionError(f"--sha256 {value!r}: expected 64 hexadecimal digits")
    return v


def trust_file(path: str | Path, name: str | None = None, sha256: str | None = None, prefix: str | None = None) -> str:
    """Record ``path``'s SHA-256 as trusted and return it.

    Args:
        path: the model file.
        name: registry name (for the record and messages).
        sha256: the digest the user expects; the file must match it.
        prefix: leading digits of the digest published in the file name; checked when ``sha256`` is None.

    Raises:
        FileNotFoundError: missing file.
        OptionError: a file that is no PyTorch model file, or whose digest differs from ``sha256`` (a usage error).
        ValueError: the file's digest differs from ``prefix`` (a released file not as published).
    """
    import zipfile

    from agriseg.data.download import sha256_of
    from agriseg.data.files import write_json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {'a folder, not a model file' if path.is_dir() else 'model file not found'}")
    with path.open("rb") as fh:
        pickled = fh.read(1) == b"\x80"  # a pickle's protocol opcode (torch's legacy format)
    if not pickled and not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        raise OptionError(f"{path}: not a PyTorch model file (neither a torch zip archive nor a pickle); not trusted")
    if path.suffix.lower() != ".pt":  # a U-Net .ckpt (or a crop model's) was recorded, as if it needed trust
        raise OptionError(
            f"{path}: not a DelineateAnything (.pt) model; U-Net checkpoints are read with weights_only=True (no "
            "code runs), so they need no trust; not trusted"
        )
    digest = sha256_of(path)
    if sha256 is not None and digest != check_sha256(sha256):
        # the digest given does not fit the file given: a usage error (exit 2), as with fields predict --sha256
        raise OptionError(f"{path}: sha256 is {digest}, not the {sha256} given; not trusted")
    if sha256 is None and prefix and not digest.startswith(prefix.lower()):
        raise ValueError(
            f"{path}: sha256 {digest} does not start with {prefix}, the digest its published file name carries; "
            "not trusted (pass --sha256 if you checked this file otherwise)"
        )
    records = trusted()
    records[digest] = {
        "name": name,
        "file": str(path.resolve()),
        "trusted_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_json(trust_store(), records)
    return digest


def trust_model(model: str, sha256: str | None = None) -> tuple[Path, str]:
    """``agriseg fields models trust``: a released DelineateAnything name (downloaded first if needed) or a file,
    trusted (:func:`trust_file`); returns the file and its SHA-256.

    Raises:
        OptionError: a released U-Net name (before any download: it loads with ``weights_only=True`` and needs
            no trust), or a file :func:`trust_file` refuses.
    """
    from agriseg.fields.registry import MODELS, fetch

    spec = MODELS.get(model)
    if spec is not None and spec.kind != "instance":
        raise OptionError(f"{model}: a U-Net checkpoint, read with weights_only=True (no code runs): it needs no trust")
    if spec is None:  # a file, or a released name mistyped: named with the valid names, as fields models show does
        from agriseg.fields.registry import resolve_model

        try:
            resolve_model(model, progress=False)
        except ValueError as err:
            raise OptionError(str(err)) from None
    path = fetch(model) if spec is not None else Path(model)
    return path, trust_file(path, spec.name if spec else None, sha256, spec.sha256_prefix if spec else None)


def require_trusted(path: str | Path, sha256: str | None = None, name: str | None = None) -> str:
    """Return ``path``'s digest if the user trusted it (``sha256`` given, or recorded); refuse it otherwise.

    Raises:
        FileNotFoundError: missing file.
        UntrustedModelError: one line naming the file and the trust command.
    """
    from agriseg.data.download import sha256_of

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {'a folder, not a model file' if path.is_dir() else 'model file not found'}")
    digest = sha256_of(path)
    if sha256 is not None:
        if digest != check_sha256(sha256):
            raise UntrustedModelError(f"{path}: sha256 is {digest}, not the --sha256 {sha256} given; refusing to load")
        return digest
    if digest in trusted():
        return digest
    what = name or str(path)
    raise UntrustedModelError(
        f"{path}: a pickled model (runs code when loaded) whose sha256 {digest[:12]}... you have not trusted; "
        f"check where it came from, then run `agriseg fields models trust {what}` or pass --sha256 HEX"
    )


__all__ = ["UntrustedModelError", "require_trusted", "trust_file", "trust_model", "trust_store", "trusted"]
