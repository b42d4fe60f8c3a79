"""Loading VLMs for text masks: Hugging Face ids or local folders, full models or LoRA adapters.

Needs the ``text`` extra. Every failure a user can cause (missing folder, model without a chat template, a
processor that is not multimodal) becomes a ``ValueError``/``FileNotFoundError`` naming the model.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from agriseg.batch.progress import library_bars_off

Precision = Literal["auto", "fp32", "bf16", "fp16"]
Device = str  # auto, cpu, cuda or cuda:N (training: auto, cpu or cuda)


def resolve_device(device: Device, option: str = "--device") -> str:
    """The device asked for; ``auto``: ``cuda`` where there is one, else ``cpu``.

    Raises:
        OptionError: a device this machine does not have (:func:`agriseg.runtime.check_device`; the message
            names ``option``).
    """
    import torch

    from agriseg.runtime import check_device

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    check_device(device, option)
    return device


def resolve_dtype(precision: Precision, device: str) -> Any:
    """torch dtype: fp32 on CPU for ``auto`` (bf16 on CPU is slow or unsupported), bf16 on GPU."""
    import torch

    if precision == "auto":
        return torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def ensure_chat_template(processor: Any, name: str, template_path: str | None = None) -> None:
    """Make sure the processor (and its tokenizer) has a chat template.

    Args:
        processor: a multimodal processor.
        name: the model id/path, for messages.
        template_path: a Jinja file to install when given.

    Raises:
        FileNotFoundError: if ``template_path`` is missing.
        OptionError: ``template_path`` is not a chat template this processor can use
            (:func:`check_chat_template`), a usage error said once instead of a failure of every image.
        ValueError: if no template exists and none was given.
    """
    from agriseg.config import OptionError

    tok = getattr(processor, "tokenizer", None)
    if template_path:
        p = Path(template_path)
        if p.is_dir():  # a model folder given for its template: "not found" of a folder that is there
            raise OptionError(f"{p}: a folder; chat_template names a Jinja template file (e.g. chat_template.jinja)")
        if not p.is_file():
            raise FileNotFoundError(f"{p}: chat template file not found")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise OptionError(f"{p}: not a chat template (not UTF-8 text)") from None
        processor.chat_template = text
        if tok is not None:
            tok.chat_template = text
        check_chat_template(processor, p)
        return
    has = getattr(processor, "chat_template", None) or (tok is not None and getattr(tok, "chat_template", None))
    if not has:
        raise OptionError(  # the user gives one: a usage error (exit 2), as a bad template file is
            f"{name}: the model has no chat template; give one with `chat_template: path/to/template.jinja` "
            "in the training config (text sft, text grpo) or --chat-template FILE (text predict)"
        )
    if getattr(processor, "chat_template", None) is None and tok is not None:
        processor.chat_template = tok.chat_template


#: the user text of the conversation a chat template file is tried on
_PROBE_TEXT = "Segment the patch x 0 y 0 to x 8 y 8 of the image into field."


def check_chat_template(processor: Any, source: str | Path) -> None:
    """Refuse a chat template that cannot prompt the model, once, before any image or sample.

    The template renders a one-image user turn, which must keep the user's text, and the processor takes the
    result with one small image, as ``text predict`` and training do for every tile.

    Args:
        processor: a multimodal processor holding the template.
        source: where the template came from (its file), for messages.

    Raises:
        OptionError: ``<source>: not a chat template for this model (<why>)``.
    """
    from PIL import Image

    from agriseg.config import OptionError

    turn = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": _PROBE_TEXT}]}]
    try:
        text = processor.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
    except Exception as err:  # noqa: BLE001 - a Jinja syntax or rendering error of the file given
        raise OptionError(f"{source}: not a chat template for this model ({_one_line(err)})") from None
    if not isinstance(text, str) or _PROBE_TEXT not in text:
        raise OptionError(f"{source}: not a chat template for this model (it leaves out the user's message)")
    try:
        processor(text=[text], images=[[Image.new("RGB", (32, 32))]], return_tensors="pt")
    except Exception as err:  # noqa: BLE001 - e.g. no image placeholder: the processor's own message
        raise OptionError(f"{source}: not a chat template for this model ({_one_line(err)})") from None


def load_processor(name: str, template_path: str | None = None) -> Any:
    """Load a multimodal processor and check its chat template and image processing.

    Raises:
        FileNotFoundError: for a name that is neither a model folder nor an ``org/name`` Hub id.
        ModelLoadError: a missing or damaged file of the processor, or one that is not multimodal (exit status 2
            on the command line: the model given cannot be used).
        ValueError: if it lacks a chat template.
    """
    from transformers import AutoProcessor

    from agriseg.models.io import ModelLoadError

    name = resolve_model_name(name)
    _check_model_folder(name)
    try:
        proc = AutoProcessor.from_pretrained(name)
    except Exception as err:  # noqa: BLE001 - a missing or damaged file of the model is a bad input
        raise ModelLoadError(f"{name}: cannot load a processor ({_one_line(err)})") from err
    if not hasattr(proc, "image_processor") or not hasattr(proc, "tokenizer"):
        raise ModelLoadError(f"{name}: the processor is not multimodal (no image processor): a VLM is needed")
    ensure_chat_template(proc, name, template_path)
    proc.tokenizer.padding_side = "left"
    return proc


def _one_line(err: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, with its type when the message alone says little, cut at ``limit``
    characters (transformers lists every model class it knows in one message: 3,000 characters)."""
    text = " ".join(str(err).split())
    text = text if isinstance(err, OSError | ValueError) and text else f"{type(err).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _check_model_folder(name: str) -> None:
    """A model folder's JSON files read, and its ``model_type`` one that reads images: a damaged ``config.json``
    was said as "cannot load a processor (Expecting property name ...)", a text-only model with transformers'
    list of every model class (session 103's sweep).

    Raises:
        ModelLoadError: naming the damaged file, or the model type.
    """
    import json

    from agriseg.models.io import ModelLoadError

    folder = Path(name)
    if not folder.is_dir():
        return
    for f in sorted(folder.glob("*.json")):
        if f.stat().st_size > 2**21:  # a tokenizer of tens of MB: its loader reads it (and says a damaged one)
            continue
        try:
            json.loads(f.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ModelLoadError(f"{f}: damaged: not JSON ({_one_line(err)})") from None
        except OSError as err:
            raise ModelLoadError(f"{f}: cannot be read ({_one_line(err)})") from None
    config = folder / "config.json"
    try:  # transformers' own tables of model types (a private module: without them, its loader says it)
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES as VLMS
    except ImportError:
        return
    own = json.loads(config.read_text(encoding="utf-8")) if config.is_file() else {}
    if not isinstance(own, dict):  # [1, 2]: valid JSON, no config ("'list' object has no attribute 'get'")
        raise ModelLoadError(f"{config}: not a model config (a JSON object of settings)")
    kind = own.get("model_type")
    if isinstance(kind, str) and kind in CONFIG_MAPPING_NAMES and kind not in VLMS:  # a known text-only model
        raise ModelLoadError(f"{name}: a {kind} model (its config.json), not an image-text-to-text model (a VLM)")


def resolve_model_name(name: str) -> str:
    """A local model folder (expanded) or a Hub id of the form ``org/name``; anything else fails at once.

    The Hub is only worth asking for ``org/name`` ids that are not local folders, and never when
    ``HF_HUB_OFFLINE`` is set (then only its cache is read): a mistyped local path would otherwise spend
    about a minute in download retries and end in "check your internet connection". An ``org/name`` whose
    ``org`` is a local folder (``runs/sfft`` beside ``runs/``) is a mistyped path too. A local folder must
    hold a model (``config.json``) or a LoRA adapter (``adapter_config.json``).

    Raises:
        FileNotFoundError: ``<name>: no such model folder`` for a name that is neither, ``<name>: not a
            model folder`` for a file or a folder without a model.
    """
    p = Path(os.path.expanduser(name))  # not Path.expanduser: ~nosuchuser raises RuntimeError there
    if p.is_dir():
        if not (p / "config.json").is_file() and not (p / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{name}: not a model folder (no config.json)")
        return str(p)
    if p.exists():
        raise FileNotFoundError(f"{name}: not a model folder (a model is a folder with config.json)")
    from agriseg.models.hub import is_hub_id, resolve_hub_id

    if not is_hub_id(name):
        raise FileNotFoundError(f"{name}: no such model folder")
    if p.parent.is_dir():  # runs/sfft with a local runs/: a mistyped folder, not the Hub organisation "runs"
        raise FileNotFoundError(f"{name}: no such model folder (there is a local folder {p.parent})")
    return resolve_hub_id(name)


def resolve_model_option(name: str) -> str:
    """:func:`resolve_model_name` for ``--model``: a name that is no model is a usage error (exit status 2)."""
    from agriseg.config import OptionError

    try:
        return resolve_model_name(name)
    except FileNotFoundError as err:
        raise OptionError(f"--model {err}") from err


def unknown_words(processor: Any, words: Sequence[str]) -> list[str]:
    """The words the model's tokenizer can only spell with its unknown token (they would be lost silently).

    Args:
        processor: a processor (or a bare tokenizer).
        words: class words.
    """
    tok = getattr(processor, "tokenizer", processor)
    unk = getattr(tok, "unk_token_id", None)
    if unk is None:  # byte-level tokenizers spell every word
        return []
    return [w for w in words if unk in tok(w, add_special_tokens=False)["input_ids"]]


def check_class_words(processor: Any, words: Sequence[str], model: str) -> None:
    """Refuse class words the model's vocabulary lacks, naming them.

    Raises:
        OptionError: ``<model>: class words not in the model's vocabulary: ...`` (a usage error).
    """
    from agriseg.config import OptionError

    bad = unknown_words(processor, words)
    if bad:
        raise OptionError(
            f"{model}: class words not in the model's vocabulary: {', '.join(bad)} (they would all read as "
            "<unk>; use the model's words, or build the model with them: text tiny-model --classes ...)"
        )


def _adapter_base(name: str) -> str:
    """The base model a LoRA adapter folder names in its ``adapter_config.json``.

    Raises:
        OptionError: the file is not JSON, or names no base model (one line naming the file).
    """
    from agriseg.config import OptionError

    path = Path(name) / "adapter_config.json"
    try:
        base = json.loads(path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as err:
        problem = " ".join(str(err).split()) if not isinstance(err, AttributeError) else "not a JSON object"
        raise OptionError(f"{path}: not a readable adapter config ({problem})") from None
    if not isinstance(base, str) or not base:
        raise OptionError(f"{path}: names no base model (base_model_name_or_path)")
    from agriseg.models.hub import is_hub_id

    # a relative folder is read from the current folder (as peft reads it): one the adapter was not trained on,
    # or none, whose name then went to the Hub ("Repo id must be in the form ...")
    if not Path(base).is_dir() and (Path(base).is_absolute() or not is_hub_id(base) or Path(base).parent.is_dir()):
        raise OptionError(
            f"{path}: its base model {base} is no folder here (an adapter written before agriseg named its base by "
            "full path is read from the folder it was trained in: run there, or write the full path in that file)"
        )
    return base


def absolute_adapter_base(folder: str | Path) -> None:
    """Write the base model of the LoRA adapter in ``folder`` by its full path when it is a local folder: peft
    writes the name it was loaded by (``runs/text/tiny_sft``), which another working folder reads as another
    model, or as none."""
    path = Path(folder) / "adapter_config.json"
    conf = json.loads(path.read_text(encoding="utf-8"))
    base = conf.get("base_model_name_or_path")
    if isinstance(base, str) and base and Path(base).is_dir():
        conf["base_model_name_or_path"] = str(Path(base).resolve())
        path.write_text(json.dumps(conf, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def is_adapter(name: str | Path) -> bool:
    """Whether ``name`` is a folder holding a LoRA adapter (peft's ``adapter_config.json``), not a whole model."""
    return (Path(name) / "adapter_config.json").is_file()


def load_vlm(
    name: str,
    device: Device = "auto",
    precision: Precision = "auto",
    merge_adapter: bool = True,
    template_path: str | None = None,
) -> tuple[Any, Any]:
    """Load a VLM and its processor.

    A folder holding a LoRA adapter (``adapter_config.json``) is loaded onto its base model and, with
    ``merge_adapter``, merged, so a later LoRA stage (GRPO) uses it as the KL reference.

    Args:
        name: Hugging Face id or local folder.
        device: where to put the model.
        precision: weights dtype.
        merge_adapter: merge a LoRA adapter into the base weights.
        template_path: chat template file for models without one.

    Returns:
        ``(model, processor)`` with the model in eval mode.

    Raises:
        FileNotFoundError: for a name that is neither a model folder nor an ``org/name`` Hub id.
        OptionError: a ``.safetensors`` file of the folder is truncated or damaged (naming it); a chat
            template file that is not one (:func:`check_chat_template`).
        ValueError: for models that cannot be loaded as image-text-to-text.
    """
    from transformers import AutoModelForImageTextToText

    from agriseg.config import OptionError
    from agriseg.models.io import ModelLoadError, check_safetensors

    name = resolve_model_name(name)
    if Path(name).is_dir():  # a truncated weights file is named before transformers fails on it
        for f in sorted(Path(name).glob("*.safetensors")):
            try:
                check_safetensors(f)
            except ModelLoadError as err:  # the model given cannot be used: a usage error (exit status 2)
                raise OptionError(str(err)) from None
    dev = resolve_device(device)
    dtype = resolve_dtype(precision, dev)
    base = _adapter_base(name) if is_adapter(name) else None
    own_processor = (Path(name) / "processor_config.json").is_file() or (Path(name) / "tokenizer.json").is_file()
    # the processor (and a chat template file given) before the weights: a bad template fails at once
    proc = load_processor(name if base is None or own_processor else base, template_path)
    model: Any  # a transformers model, or a peft wrapper of one
    if base is not None:
        from peft import PeftModel

        with library_bars_off(Path(base).is_dir()):  # a Hub id may download: its bar shows
            model = AutoModelForImageTextToText.from_pretrained(base, dtype=dtype)
        # peft asks transformers' deprecated is_gradient_checkpointing: not the user's
        with warnings.catch_warnings(), library_bars_off(Path(name).is_dir()):
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = PeftModel.from_pretrained(model, name)
        if merge_adapter:
            # as a model loaded whole: PeftModel froze every weight (for inference), and training from it (LoRA
            # off) had nothing to train
            model = model.merge_and_unload().requires_grad_(True)
    else:
        try:
            with library_bars_off(Path(name).is_dir()):  # a Hub id may download: its bar shows
                model = AutoModelForImageTextToText.from_pretrained(name, dtype=dtype)
        except Exception as err:  # noqa: BLE001 - a truncated weights file raises the loader's own errors
            raise ModelLoadError(f"{name}: cannot load as an image-text-to-text model ({_one_line(err)})") from err
    model.to(dev)
    model.eval()
    fix_generation_config(model, proc)
    return model, proc


def check_answer_length(model: Any, max_new_tokens: int, name: str, option: str = "--max-new-tokens") -> None:
    """Refuse an answer longer than the model's context (its position embeddings), before any image.

    Generating that far runs for hours on a tile whose answer ended long before (1e8 ran until killed).

    Raises:
        OptionError: ``max_new_tokens`` above the context length the model's config declares.
    """
    from agriseg.config import OptionError

    cfg = model.config
    for c in (getattr(cfg, "text_config", None), cfg):
        context = getattr(c, "max_position_embeddings", None)
        if isinstance(context, int) and context > 0:
            if max_new_tokens > context:
                raise OptionError(
                    f"{option} {max_new_tokens}: more than {name} can hold ({context} tokens of context, prompt and "
                    f"answer together); give at most {context}"
                )
            return


def fix_generation_config(model: Any, processor: Any) -> None:
    """Stop generation on ``<end_of_turn>`` as well as EOS, and set the pad token."""
    tok = processor.tokenizer
    gc = model.generation_config
    eos = gc.eos_token_id
    eos_ids = list(eos) if isinstance(eos, (list, tuple)) else ([eos] if eos is not None else [])
    for t in ("<end_of_turn>", tok.eos_token):
        if t is None:
            continue
        tid = tok.convert_tokens_to_ids(t)
        if isinstance(tid, int) and tid != tok.unk_token_id and tid not in eos_ids:
            eos_ids.append(tid)
    gc.eos_token_id = eos_ids
    if gc.pad_token_id is None:
        gc.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else eos_ids[0]


def count_parameters(model: Any) -> int:
    """Total parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters()))
