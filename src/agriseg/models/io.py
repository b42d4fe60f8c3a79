"""Saving and loading agriseg models: safetensors + the model config in the file's metadata.

The current packaged crop models also ship as ONNX files (``<stem>.onnx`` beside the safetensors, the
config in the ONNX metadata; written by ``scripts/export_onnx.py``), which run without PyTorch. This module
imports torch only to build or load a PyTorch model.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agriseg.data.files import atomic_write
from agriseg.models.config import ModelConfig

if TYPE_CHECKING:
    from collections.abc import Mapping

    import torch
    from torch import nn

# name -> file; "name@N" keeps an earlier version loadable for reproducibility (with PyTorch)
PACKAGED = {
    "default": "crop_default.safetensors",
    "crop-weed": "crop_weed.safetensors",
    "default@3": "crop_default_v3.safetensors",
    "default@4": "crop_default_v4.safetensors",
    "crop-weed@3": "crop_weed_v3.safetensors",
    "crop-weed@4": "crop_weed_v4.safetensors",
}
# the version of each current packaged model (its card's title): "default@5" names the same file as "default"
CURRENT_VERSIONS = {"default": 5, "crop-weed": 5}


def packaged_name(name: str) -> str:
    """A packaged name as :data:`PACKAGED` holds it: ``NAME@N`` of the current version N is ``NAME`` (the card
    says "version 5", so ``default@5`` is how a user pins it); anything else as given."""
    base, at, version = name.partition("@")
    return base if at and version == str(CURRENT_VERSIONS.get(base)) else name


# packaged names that also ship as ONNX (the current versions): <stem>.onnx beside the safetensors
PACKAGED_ONNX = ("default", "crop-weed")
WEIGHTS_DIR = Path(__file__).parent / "weights"  # the packaged models and their cards
ONNX_CONFIG_KEY = "agriseg_model_config"  # ONNX metadata entry holding the ModelConfig as JSON


def packaged_onnx(name: str) -> Path:
    """The ONNX file of a packaged model (``default`` -> ``.../weights/crop_default.onnx``)."""
    return WEIGHTS_DIR / Path(PACKAGED[name]).with_suffix(".onnx").name


class ModelLoadError(ValueError):
    """A model file could not be loaded; the message names the file and the problem."""


class ModelNotFoundError(ModelLoadError, FileNotFoundError):
    """The model file given is not there (on the command line: a usage error, exit status 2)."""


def tensors_misfit(
    own: Mapping[str, Any], theirs: Mapping[str, Any], file: str = "the file", model: str = "the model"
) -> str | None:
    """How a file's tensors differ from a model's, on one line (``315 tensors differ, e.g. head.weight:
    (3, 16) in the file, (2, 16) in the model``), or None when every name and shape matches. torch's own
    ``load_state_dict`` message lists every key, hundreds of lines for a U-Net."""
    mine = {k: tuple(v.shape) for k, v in own.items()}
    there = {k: tuple(v.shape) for k, v in theirs.items() if hasattr(v, "shape")}
    misfit = sorted(k for k in mine.keys() | there.keys() if mine.get(k) != there.get(k))
    if not misfit:
        return None
    k = misfit[0]
    return (
        f"{len(misfit)} tensors differ, e.g. {k}: {there.get(k, 'absent')} in {file}, {mine.get(k, 'absent')} in "
        f"{model}"
    )


# why a zip file is no torch.save file, in the words of torch_load and check_torch_archive alike
CUT_SHORT_ZIP = "a zip archive cut short (an interrupted copy or download?)"
NOT_TORCH_ZIP = "a zip archive, but not one torch.save wrote"


def torch_load(path: str | Path, what: str = "cannot read as a PyTorch file", mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; every failure is one :class:`ModelLoadError` line.

    The only way agriseg reads a pickled PyTorch file it did not write (a file that would run code when
    unpickled is refused). Torch's own refusal is several paragraphs; the message keeps the file, ``what``
    went wrong and the one fact the user needs (the Python class the file holds, or the first line).

    ``mmap``: the tensors are mapped, not read (a zip archive's only): what it holds is checked in milliseconds.

    Raises:
        ModelLoadError: naming the file.
    """
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # a plain pickle: torch warns of its protocol before it refuses the file
            warnings.filterwarnings("ignore", message=r"Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # noqa: BLE001 - pickle, zip and torch errors all mean: not a usable file
        text = str(err)
        found = re.search(r"GLOBAL (\S+)", text)  # "Unsupported global: GLOBAL x.Y", "unsupported GLOBAL posix.system"
        if found:
            reason = (
                f"it holds Python objects, not only tensors ({found.group(1)}); agriseg reads such files only "
                "with weights_only=True: save its state_dict, or convert it to .safetensors"
            )
        elif "WeightsUnpickler error:" in text:  # not a pickle torch can read (garbage, another format)
            detail = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()
            plain = _plain_pickle(path)  # pickle.dump's file: torch says "Unsupported operand 149"
            if plain:
                reason = "not a PyTorch file: a plain Python pickle, not a torch.save file"
            elif detail and "Unsupported operand" in detail[0]:  # torch's words for bytes of no pickle at all
                reason = "not a PyTorch file (damaged, or a file of another kind)"
            else:
                reason = f"not a PyTorch file: {(detail[0][:120] if detail else '') or 'unreadable pickle'}"
        elif isinstance(err, KeyError | EOFError) or (isinstance(err, RuntimeError) and "magic number" in text):
            # torch's reader of old pickles on a file that is none: a bare "KeyError: 101" or "EOFError"
            reason = "an empty file" if isinstance(err, EOFError) else "neither a zip archive nor a pickle"
        elif "file in archive is not in a subdirectory" in text:  # a zip of other files, not torch.save's
            reason = NOT_TORCH_ZIP
        elif "failed reading zip archive" in text or "failed finding central directory" in text:
            reason = CUT_SHORT_ZIP  # torch's own line breaks off
        elif cut_short_zip(path):  # cut where torch's reader gives "OSError: [Errno 22] Invalid argument"
            reason = CUT_SHORT_ZIP
        elif "Weights only load failed" in text:  # never torch's advice to load it with weights_only=False
            reason = "it cannot be read with weights_only=True; save its state_dict, or convert it to .safetensors"
        else:
            reason = f"{type(err).__name__}: {(text.strip().splitlines() or [''])[0][:200]}".rstrip(": ")
        raise ModelLoadError(f"{path}: {what} ({reason})") from err


def cut_short_zip(path: str | Path) -> bool:
    """Whether a file starts as a zip archive whose central directory (at its end) cannot be read: cut short or
    damaged. False for a file that cannot be read here at all (permissions, a disk error)."""
    import zipfile

    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                return False
        with zipfile.ZipFile(path):
            return False
    except OSError:  # unreadable here (permissions, a disk error): not a sign of the file itself
        return False
    except Exception:  # noqa: BLE001 - BadZipFile, or a damaged directory (UnicodeDecodeError of a name)
        return True


def check_torch_archive(path: str | Path, what: str = "cannot read as a PyTorch file", unpickle: bool = False) -> None:
    """Refuse a ``torch.save`` file whose zip archive is cut short or is not torch's, reading only its directory.

    A few milliseconds where :func:`torch_load` reads every tensor: a command checks its model this way before
    a long download or scene (``fields run`` had fetched a whole scene, then failed on a truncated cached
    ``.ckpt``). Files that are not zip archives (a legacy pickle) are left to :func:`torch_load`. ``unpickle``:
    its pickle is read too, with the tensors mapped (a file of Python objects is refused as :func:`torch_load`
    refuses it).

    Raises:
        ModelLoadError: naming the file, in :func:`torch_load`'s words.
    """
    import zipfile

    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":  # not a zip archive: torch_load tells what it is
                return
        with zipfile.ZipFile(path) as archive:  # reads the central directory at the end of the file
            names = archive.namelist()
    except OSError as err:
        raise ModelLoadError(f"{path}: {what} ({err.strerror or err})") from None
    except Exception:  # noqa: BLE001 - BadZipFile, or a damaged directory (UnicodeDecodeError of a name)
        raise ModelLoadError(f"{path}: {what} ({CUT_SHORT_ZIP})") from None
    if not any(n.endswith("/data.pkl") and n.count("/") == 1 for n in names):  # torch.save: <stem>/data.pkl
        raise ModelLoadError(f"{path}: {what} ({NOT_TORCH_ZIP})")
    if unpickle:  # what it holds, its tensors mapped, not read: Python objects are refused before any scene
        torch_load(path, what, mmap=True)


def _plain_pickle(path: str | Path) -> bool:
    """Whether ``path`` starts as ``pickle.dump`` writes (protocol 2 or later: ``\\x80`` and the protocol), not as
    ``torch.save`` does (a zip archive, or its legacy pickle of a magic number)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _default_file_mode(folder: Path) -> int:
    """0o666 minus the process umask: the mode ``open()`` would give a new file.

    safetensors writes its files with mode 0o600, which hides a shared model from colleagues on the same
    server; the umask is read from /proc (``os.umask`` can only be read by setting it, which races with
    threads), and where there is no /proc (macOS) from the mode of a file made in ``folder``.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    probe = folder / f".agriseg-umask-{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        return probe.stat().st_mode & 0o777
    except OSError:
        return 0o644
    finally:
        probe.unlink(missing_ok=True)


def save_model(
    model: nn.Module, config: ModelConfig, path: str | Path, half: bool = True, extra: dict | None = None
) -> Path:
    """Write ``model`` as safetensors (fp16 by default) with its config; atomic (temp file + rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    meta = {"agriseg_model_config": config.model_dump_json(), "format": "agriseg-1"}
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    with atomic_write(path) as tmp:
        save_file(sd, str(tmp), metadata=meta)
        os.chmod(tmp, _default_file_mode(Path(tmp).parent))
    return path


def packaged_names() -> str:
    """Every name a packaged model answers to (the current ones pinned by number too), for messages."""
    return ", ".join(_every_name())


def _every_name() -> list[str]:
    return [*PACKAGED, *(f"{n}@{v}" for n, v in CURRENT_VERSIONS.items())]


def model_label(path: str | Path) -> str:
    """How a message names a model file: a packaged model by the name a user types (``crop-weed``, ``default@4``),
    any other file by its file name."""
    p = Path(path)
    if p.parent == WEIGHTS_DIR:
        for name, file in PACKAGED.items():
            if p.name in (file, Path(file).with_suffix(".onnx").name):
                return name
    return p.name


def resolve(name_or_path: str | Path) -> Path:
    """Map a packaged model name (``default``, ``crop-weed``) or a path to a file path."""
    s = packaged_name(str(name_or_path))
    if s in PACKAGED:
        p = WEIGHTS_DIR / PACKAGED[s]
        if not p.is_file():
            raise ModelLoadError(f"packaged model {s!r} is not installed ({p} missing)")
        return p
    p = Path(s)
    names = packaged_names()
    if not s.strip():  # Path("") is "."
        raise ModelNotFoundError(f"'': no model named (packaged names: {names}; or a model file)")
    if p.is_dir():  # a training run's folder: its model named (session 106's sweep)
        inside = p / "model.safetensors"
        hint = f"its model is {inside}" if inside.is_file() else f"packaged names: {names}"
        raise ModelNotFoundError(f"{p}: is a folder, not a model file ({hint})")
    if not p.is_file():
        from agriseg.config import did_you_mean

        hint = did_you_mean(s, _every_name(), n=1, cutoff=0.75)  # Default, crop_weed, defualt
        raise ModelNotFoundError(f"{p}: model file not found ({hint + ' ' if hint else ''}packaged names: {names})")
    return p


def check_finite(sd: Mapping[str, Any], path: str | Path) -> None:
    """Refuse weights holding NaN or infinite values (a run that diverged): such a model marks nothing, and says
    nothing about it (``fields predict`` wrote an all-background map with exit 0).

    Raises:
        ModelLoadError: naming ``path`` and how many tensors are broken.
    """
    import torch

    if other := [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]:  # an int was an AttributeError
        raise ModelLoadError(
            f"{path}: its weights hold values that are no tensors ({other[0]}: {type(sd[other[0]]).__name__})"
        )
    broken = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise ModelLoadError(
            f"{path}: {len(broken)} of its {len(sd)} weight tensors hold NaN or infinite values (its training "
            "diverged); train it again"
        )


def load_model(
    name_or_path: str | Path,
    in_channels: int | None = None,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, ModelConfig]:
    """Load a model saved by agriseg (``.safetensors``) or an agriseg Lightning checkpoint (``.ckpt``).

    Args:
        name_or_path: packaged name or file path.
        in_channels: if given, the model must take this many channels.
        num_classes: if given, the model must predict this many classes.
        device: where to put the model.

    Returns:
        ``(model in eval mode, its config)``.

    Raises:
        ModelLoadError: missing/unreadable file, no agriseg config, mismatched channels or classes.
    """
    path = resolve(name_or_path)
    if path.suffix.lower() == ".onnx":
        raise ModelLoadError(
            f"{path}: an ONNX model runs in ONNX Runtime only (crop predict / evaluate / traits take it); here give "
            "its .safetensors or .ckpt"
        )
    from agriseg.extras import require

    require("train", f"loading {path.name} as a PyTorch model")
    from agriseg.models import build_model

    cfg, sd = _read_model_file(path, in_channels, num_classes, weights=True)
    assert sd is not None  # weights=True
    model = build_model(cfg.model_copy(update={"encoder_weights": None}))
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}
    check_finite(sd, path)
    if misfit := tensors_misfit(model.state_dict(), sd, model="the model its config builds"):
        raise ModelLoadError(f"{path}: weights do not fit the model in its config ({misfit})")
    model.load_state_dict(sd)
    return model.eval().to(device), cfg


class LazyModel:
    """A model file whose network is built only when first needed.

    A packaged model that ships as ONNX (:data:`PACKAGED_ONNX`), or an ``.onnx`` file written by
    ``scripts/export_onnx.py``, has an :attr:`onnx_path` and runs in ONNX Runtime without PyTorch. Other
    runners that can use a compiled copy of the model from the user cache need only the file's
    :attr:`fingerprint` to find it. Calling the object loads the PyTorch model with :func:`load_model` (once).

    Args:
        name_or_path: packaged name or file path.
        in_channels: if given, the model must take this many channels (checked at once).
        num_classes: if given, the model must predict this many classes (checked at once).
    """

    def __init__(self, name_or_path: str | Path, in_channels: int | None = None, num_classes: int | None = None):
        self.name = packaged_name(str(name_or_path))
        self.path = resolve(self.name)
        self.config = read_model_config(self.path, in_channels, num_classes)
        onnx = packaged_onnx(self.name) if self.name in PACKAGED_ONNX else None
        #: the ONNX file that runs this model without PyTorch (None: PyTorch only)
        self.onnx_path: Path | None = self.path if self.path.suffix.lower() == ".onnx" else onnx
        if self.onnx_path is not None and not self.onnx_path.is_file():
            raise ModelLoadError(f"packaged model {name_or_path!r} is not installed ({self.onnx_path} missing)")
        self._fingerprint: str | None = None
        self._model: nn.Module | None = None

    @property
    def fingerprint(self) -> str:
        """sha1 of the file's bytes (what a compiled copy of the model is cached under)."""
        if self._fingerprint is None:
            import hashlib

            h = hashlib.sha1(b"agriseg-model ")
            with open(self.path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def require_torch(self) -> None:
        """Raise :class:`agriseg.extras.MissingExtra` (naming the install command) when this model would run
        in PyTorch and PyTorch is not installed."""
        from agriseg.extras import require

        require("train", f"running model {self.name} in PyTorch")

    def __call__(self) -> nn.Module:
        """The model in eval mode (built and loaded on the first call)."""
        if self._model is None:
            self._model = load_model(self.path)[0]
        return self._model


def read_model_config(
    name_or_path: str | Path, in_channels: int | None = None, num_classes: int | None = None
) -> ModelConfig:
    """The config stored in a model file, without building the model.

    Raises:
        ModelLoadError: as :func:`load_model`.
    """
    return _read_model_file(resolve(name_or_path), in_channels, num_classes, weights=False)[0]


def _read_model_file(
    path: Path, in_channels: int | None, num_classes: int | None, weights: bool
) -> tuple[ModelConfig, dict[str, torch.Tensor] | None]:
    """The config of a model file (checked against ``in_channels``/``num_classes``) and, if ``weights``,
    its state dict; every failure is a :class:`ModelLoadError` naming the file."""
    from agriseg.data.io import IMAGE_SUFFIXES

    sd = None
    try:
        if path.suffix.lower() == ".ckpt":
            from agriseg.extras import require

            require("train", f"{path}: reading a .ckpt checkpoint")
            ckpt = torch_load(path, "cannot read as a checkpoint")
            cfg_dict = ckpt.get("hyper_parameters", {}).get("config", {}).get("model")
            if cfg_dict is None:
                raise ModelLoadError(f"{path}: not an agriseg checkpoint (no model config in hyper_parameters)")
            cfg = ModelConfig.model_validate(cfg_dict)
            if weights:
                sd = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
        elif path.suffix.lower() == ".onnx":
            meta, given, out = _onnx_info(path)
            if ONNX_CONFIG_KEY not in meta:
                raise ModelLoadError(f"{path}: not an agriseg model (no {ONNX_CONFIG_KEY} metadata)")
            cfg = ModelConfig.model_validate_json(meta[ONNX_CONFIG_KEY])
            _check_onnx_graph(path, cfg, given, out)
        elif path.suffix.lower() in (".pt", ".pth", ".bin"):  # read as safetensors: "header too large"
            raise ModelLoadError(
                f"{path}: a {path.suffix} file is not a model agriseg reads: give its .safetensors, .ckpt or .onnx "
                "(a model agriseg wrote)"
            )
        elif path.suffix.lower() in IMAGE_SUFFIXES:  # a photo given as -m: "SafetensorError: header too large"
            raise ModelLoadError(f"{path}: an image, not a model file (a .safetensors, .ckpt or .onnx file)")
        else:
            from safetensors import safe_open

            with safe_open(str(path), "np") as f:
                meta = f.metadata() or {}
            if "agriseg_model_config" not in meta:
                raise ModelLoadError(f"{path}: not an agriseg model (no agriseg_model_config metadata)")
            cfg = ModelConfig.model_validate_json(meta["agriseg_model_config"])
            if weights:
                from safetensors.torch import load_file

                sd = load_file(str(path))
    except (ModelLoadError, ImportError):
        raise
    except ValidationError as err:  # its config: one line, never pydantic's dump with a URL
        from agriseg.config import describe_errors

        raise ModelLoadError(f"{path}: its agriseg model config is not valid ({describe_errors(err)})") from None
    except Exception as err:  # corrupt file, wrong format
        if type(err).__name__ == "SafetensorError":  # "Error while deserializing header: header too large"
            raise ModelLoadError(
                f"{path}: cannot read model file (no .safetensors file: damaged, or a file of another kind)"
            ) from err
        raise ModelLoadError(f"{path}: cannot read model file ({type(err).__name__}: {err})") from err
    if in_channels is not None and cfg.in_channels != in_channels:
        hint = (  # a model of the other pipeline: said so (channels alone did not tell a user what to run)
            "; a field-boundary model of Sentinel-2 bands, for the agriseg fields commands"
            if in_channels == 3 and cfg.in_channels in (4, 8)
            else ""
        )
        raise ModelLoadError(f"{path}: model takes {cfg.in_channels} input channels, the data has {in_channels}{hint}")
    if num_classes is not None and cfg.num_classes != num_classes:
        raise ModelLoadError(f"{path}: model predicts {cfg.num_classes} classes, expected {num_classes}")
    return cfg, sd


ONNX_SOURCE_KEY = "agriseg_source_sha1"  # ONNX metadata entry: sha1 of the model file it was exported from
ONNX_EXPORT_SIZE = (600, 800)  # (H, W) of the example input of an export; the file takes any size


def check_safetensors(path: str | Path) -> None:
    """Refuse a truncated or damaged ``.safetensors`` file (its header must cover the file exactly).

    The format is an 8-byte little-endian header length, a JSON header giving each tensor's byte range,
    then the tensors; a file cut short by an interrupted copy or download has ranges past its end.

    Raises:
        ModelLoadError: ``<file>: truncated or damaged (...)``.
    """
    path = Path(path)
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if size < 8 or n <= 0 or 8 + n > size:
                raise ValueError(f"its header claims {n} bytes, the file has {size}")
            header = json.loads(fh.read(n))
        ends = [int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        raise ModelLoadError(f"{path}: not a readable safetensors file ({err}); copy or download it again") from None
    need = 8 + n + max(ends, default=0)
    if need != size:
        raise ModelLoadError(
            f"{path}: truncated or damaged (its tensors need {need} bytes, the file has {size}); "
            "copy or download it again"
        )


def file_sha1(path: str | Path) -> str:
    """sha1 of a file's bytes."""
    import hashlib

    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_onnx(name_or_path: str | Path, target: str | Path) -> Path:
    """Export a model file to ONNX with dynamic batch, height and width, its config in the metadata.

    The graph takes float32 ``(N, C, H, W)`` in [0, 1] (normalisation and padding to a multiple of 32 are
    inside it) and returns logits ``(N, K, H, W)``. The metadata holds the config (:data:`ONNX_CONFIG_KEY`)
    and the sha1 of the source file (:data:`ONNX_SOURCE_KEY`), so a stale export is detected. Needs PyTorch
    and the ``onnx`` package (the ``train`` extra); written atomically.

    Raises:
        agriseg.extras.MissingExtra: the ``train`` extra is not installed.
        ValueError: ``target`` is not named ``.onnx``, or is the model file itself (either was written over, the
            trained model lost: session 106's sweep).
    """
    from agriseg.extras import MissingExtra, require

    if Path(target).suffix.lower() != ".onnx":
        raise ValueError(f"{target}: the ONNX file is named .onnx; name it so")
    source = resolve(name_or_path)
    if Path(target).resolve() == Path(source).resolve():
        raise ValueError(f"{target}: is the model file being exported; name another output")
    require("train", "exporting a model to ONNX")  # one line naming the extra, not onnx's ModuleNotFoundError
    try:
        import onnx
    except ImportError:  # PyTorch without onnx (only the export needs it)
        raise MissingExtra('exporting a model to ONNX needs the onnx package: pip install "agriseg[train]"') from None
    import torch

    from agriseg.runtime import OnnxModule

    model, cfg = load_model(source)
    x = torch.rand(1, cfg.in_channels, *ONNX_EXPORT_SIZE)
    graph = onnx.load_from_string(OnnxModule.export(model, x, dynamic_size=True).onnx)
    for key, value in ((ONNX_CONFIG_KEY, cfg.model_dump_json()), (ONNX_SOURCE_KEY, file_sha1(source))):
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    target = Path(target)
    with atomic_write(target) as tmp:
        onnx.save(graph, str(tmp))
        os.chmod(tmp, _default_file_mode(Path(tmp).parent))
    return target


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The agriseg metadata of an ONNX file (config JSON, source sha1)."""
    return _onnx_metadata(Path(path))


def _onnx_metadata(path: Path) -> dict[str, str]:
    """The custom metadata of an ONNX file (read by ONNX Runtime without optimising the graph)."""
    return _onnx_info(path)[0]


def _onnx_info(path: Path) -> tuple[dict[str, str], list[Any], list[Any]]:
    """``(custom metadata, input shape, output shape)`` of an ONNX file; a shape's entries are ints or names
    (a dimension of any size)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    shapes = [list(node[0].shape) if node else [] for node in (session.get_inputs(), session.get_outputs())]
    return dict(session.get_modelmeta().custom_metadata_map), shapes[0], shapes[1]


def _check_onnx_graph(path: Path, cfg: ModelConfig, given: list[Any], out: list[Any]) -> None:
    """Refuse an ONNX graph that does not fit its agriseg config: other input channels or classes (every photo
    failed as an "internal error", or the table got columns of classes the graph has not), or a fixed size (the
    photos are read at any size; agriseg's exports take any)."""
    if len(given) != 4 or len(out) != 4:
        raise ModelLoadError(f"{path}: its graph takes {given} and gives {out}; an image model's are (N, C, H, W)")
    if isinstance(given[1], int) and given[1] != cfg.in_channels:
        raise ModelLoadError(f"{path}: its graph takes {given[1]} channels, its config says {cfg.in_channels}")
    if isinstance(out[1], int) and out[1] != cfg.num_classes:
        raise ModelLoadError(f"{path}: its graph gives {out[1]} classes, its config says {cfg.num_classes}")
    if isinstance(given[2], int) and isinstance(given[3], int):
        raise ModelLoadError(
            f"{path}: its graph takes images of {given[3]}x{given[2]} pixels only; export it with a height and "
            "width of any size (agriseg's exports do)"
        )


def check_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Check that ``path`` is a Lightning training checkpoint to resume from, reading it safely; returns it.

    The file is read with ``weights_only=True`` (tensors and plain containers only), so a file that would
    run code when unpickled is refused here; training then resumes from it with ``weights_only=True`` too.

    Raises:
        ModelLoadError: naming the file when it is missing, unsafe or unreadable, or not a training
            checkpoint (no ``state_dict`` / ``loops``).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: checkpoint to resume from not found")
    ckpt = torch_load(path, "not a readable training checkpoint")
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "loops" not in ckpt:
        raise ModelLoadError(f"{path}: not a Lightning training checkpoint (use <output_dir>/last.ckpt)")
    return ckpt
