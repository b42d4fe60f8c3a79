"""A tiny random-weight Gemma 3 VLM built entirely offline (tokenizer in code, config in code).

For tests and the CPU demonstration: a word-level tokenizer over the mask vocabulary, a Gemma 3 processor
with a small PIL image processor, and a ``Gemma3ForConditionalGeneration`` of a few hundred thousand
parameters. Every text layer uses full attention (Gemma 3's sliding-window layers make later mask rows lose
sight of the image) and the multimodal projector is re-initialised (transformers initialises it to zeros).
Needs the ``text`` extra.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ConfigDict, Field

from agriseg.batch.progress import library_bars_off
from agriseg.config import OptionError, StrictModel
from agriseg.text.codec import SEG_CLOSE, SEG_OPEN, check_class_names, parse_class_words
from agriseg.text.prompts import INSTRUCTION_WORDS

SPECIAL_TOKENS: tuple[str, ...] = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
)

#: a Gemma-style chat template: images become ``<start_of_image>`` (the processor expands it)
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<start_of_image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

# words, single digits and "*", each with an optional leading space (as SentencePiece tokenizers such as
# Gemma's attach it: about a third fewer tokens per mask and prompt), then single whitespace and punctuation
_PRETOKENIZE_PATTERN = r" ?[A-Za-z_]+| ?\d| ?\*|\s|[^\sA-Za-z\d]"


class TinyVLMConfig(StrictModel):
    """Sizes of the tiny Gemma 3 (defaults: the 721 k-parameter recipe checked in REFERENCE.md).

    Attributes:
        image_size: side of the square image the processor resizes to.
        vision_patch: SigLIP patch side; ``(image_size / vision_patch) ** 2`` patches.
        mm_tokens_per_image: image tokens the projector pools the patches to (a square number).
        vision_hidden: SigLIP width.
        vision_layers: SigLIP depth.
        hidden: text width.
        intermediate: text MLP width.
        layers: text depth (all full attention).
        heads: attention heads.
        kv_heads: key/value heads.
        head_dim: per-head width.
        rope_theta: rotary base of the text layers (Gemma 3's global layers use 1e6; the demo keeps it, as
            1e4 scored lower on its validation images, docs/text.md).
        extra_words: further words the tokenizer must know (answer sentences).
    """

    image_size: int = Field(64, ge=1)
    vision_patch: int = Field(8, ge=1)
    mm_tokens_per_image: int = Field(64, ge=1)
    vision_hidden: int = Field(64, ge=1)
    vision_layers: int = Field(2, ge=1)
    hidden: int = Field(128, ge=1)
    intermediate: int = Field(256, ge=1)
    layers: int = Field(4, ge=1)
    heads: int = Field(4, ge=1)
    kv_heads: int = Field(2, ge=1)
    head_dim: int = Field(32, ge=1)
    rope_theta: float = Field(1_000_000.0, gt=0)
    extra_words: tuple[str, ...] = ()

    model_config = ConfigDict(frozen=True)  # merged with StrictModel's by pydantic


def build_tokenizer(class_names: Sequence[str], extra_words: Sequence[str] = ()) -> Any:
    """A word-level ``PreTrainedTokenizerFast`` knowing the specials, class words, digits and punctuation.

    Args:
        class_names: class words, background first (phrases, hyphenated words and words with digits or
            accents are split into the pieces the pre-tokenizer makes, and every piece is known).
        extra_words: more words (answer sentences, other prompts).

    Returns:
        The tokenizer, with Gemma 3's ``boi``/``eoi``/``image`` token attributes and the chat template.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    names = check_class_names(class_names)
    digits = [str(d) for d in range(10)]
    punct = [*digits, " ", "\n", "*", "|", ",", ".", ":", "-", "'"]
    words: list[str] = []
    for w in [*names, *INSTRUCTION_WORDS, "user", "model", *extra_words]:
        # the pieces the pre-tokenizer cuts a word into ("cover-crop": cover, -, crop; "maize2": maize, 2)
        for part in re.findall(_PRETOKENIZE_PATTERN, w):
            part = part.strip()
            if part and part not in punct and part not in words:
                words.append(part)
    spaced = [" " + t for t in [*digits, "*", *words]]
    vocab: dict[str, int] = {}
    for word in [*SPECIAL_TOKENS, SEG_OPEN, SEG_CLOSE, *punct, *words, *spaced]:
        vocab.setdefault(word, len(vocab))
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(_PRETOKENIZE_PATTERN), behavior="isolated")
    tk.decoder = decoders.Fuse()
    tk.add_special_tokens(list(SPECIAL_TOKENS))
    tk.add_tokens([SEG_OPEN, SEG_CLOSE])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=list(SPECIAL_TOKENS[4:]),
        extra_special_tokens={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
        },
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok


def build_processor(tokenizer: Any, cfg: TinyVLMConfig | None = None) -> Any:
    """A ``Gemma3Processor`` with a small PIL image processor (no pan-and-scan)."""
    cfg = cfg or TinyVLMConfig()
    from transformers import Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    ip = Gemma3ImageProcessorPil(
        size={"height": cfg.image_size, "width": cfg.image_size},
        do_pan_and_scan=False,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return Gemma3Processor(
        image_processor=ip,
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
        image_seq_length=cfg.mm_tokens_per_image,
    )


def build_tiny_vlm(class_names: Sequence[str], cfg: TinyVLMConfig | None = None, seed: int = 0) -> tuple[Any, Any]:
    """A random-weight ``Gemma3ForConditionalGeneration`` and its processor, built offline.

    Args:
        class_names: class words, background first.
        cfg: sizes.
        seed: torch seed for the weights.

    Returns:
        ``(model, processor)``; generation stops on ``<eos>`` or ``<end_of_turn>``.
    """
    cfg = cfg or TinyVLMConfig()
    import torch
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3TextConfig,
        SiglipVisionConfig,
    )

    tok = build_tokenizer(class_names, cfg.extra_words)
    proc = build_processor(tok, cfg)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text_cfg = Gemma3TextConfig(
        vocab_size=len(tok),
        hidden_size=cfg.hidden,
        intermediate_size=cfg.intermediate,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads,
        head_dim=cfg.head_dim,
        max_position_embeddings=2048,
        sliding_window=4096,
        layer_types=["full_attention"] * cfg.layers,
        rope_parameters={
            kind: {"rope_type": "default", "rope_theta": cfg.rope_theta}
            for kind in ("full_attention", "sliding_attention")
        },
        pad_token_id=ids["<pad>"],
        bos_token_id=ids["<bos>"],
        eos_token_id=ids["<eos>"],
    )
    vision_cfg = SiglipVisionConfig(
        hidden_size=cfg.vision_hidden,
        intermediate_size=cfg.vision_hidden * 2,
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=max(1, cfg.vision_hidden // 32),
        image_size=cfg.image_size,
        patch_size=cfg.vision_patch,
    )
    # the token ids are not in Gemma3Config's typed signature; PreTrainedConfig keeps extra keys as attributes
    config = Gemma3Config(  # type: ignore[call-arg]
        text_config=text_cfg,
        vision_config=vision_cfg,
        mm_tokens_per_image=cfg.mm_tokens_per_image,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
        pad_token_id=ids["<pad>"],
        bos_token_id=ids["<bos>"],
        eos_token_id=[ids["<eos>"], ids["<end_of_turn>"]],
    )
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    proj = model.model.multi_modal_projector
    with torch.no_grad():
        torch.nn.init.normal_(proj.mm_input_projection_weight, std=cfg.vision_hidden**-0.5)
    gc = model.generation_config
    gc.eos_token_id = [ids["<eos>"], ids["<end_of_turn>"]]
    gc.pad_token_id = ids["<pad>"]
    gc.bos_token_id = ids["<bos>"]
    gc.do_sample = False
    for k in ("top_k", "top_p", "temperature"):
        if hasattr(gc, k):
            setattr(gc, k, None)
    model.float()
    return model, proc


def save_tiny_vlm(
    model: Any,  # noqa: ANN401 - a transformers model
    processor: Any,  # noqa: ANN401
    path: str | Path,
    class_names: Sequence[str] | None = None,
    made_with: dict[str, Any] | None = None,
) -> Path:
    """Save model + processor to a folder loadable with the Auto classes (or :func:`load_vlm`), atomically;
    with ``class_names``, the classes its tokenizer was built for, in ``agriseg_text.json`` as a training run
    saves them (``text predict -m`` it then needs no ``--classes``, and refuses other ones); ``made_with``: the
    settings that built it, kept there too (an unchanged re-run of ``tiny-model`` makes nothing new)."""
    from agriseg.data.files import atomic_write, dumps_json
    from agriseg.text.sft import TEXT_META

    with atomic_write(Path(path)) as tmp:
        tmp.mkdir()
        with library_bars_off():
            model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        if class_names:
            meta = {"class_names": list(class_names), **({"tiny_model": made_with} if made_with else {})}
            (tmp / TEXT_META).write_text(dumps_json(meta), encoding="utf-8")
    return Path(path)


# vision patches per image side of the tiny model (4096 patches): it is for tests and demos, not for accuracy
MAX_PATCHES_PER_SIDE = 64


def check_tiny_vlm_config(cfg: TinyVLMConfig) -> None:
    """Raise :class:`agriseg.config.OptionError` (a usage error) unless the image, patch and token sizes fit."""
    import math

    if cfg.image_size % cfg.vision_patch:
        raise OptionError(f"--image-size {cfg.image_size} is not a multiple of --vision-patch {cfg.vision_patch}")
    side = cfg.image_size // cfg.vision_patch
    if side > MAX_PATCHES_PER_SIDE:  # a test model: more patches only cost memory (100000 px: 156 M of them)
        raise OptionError(
            f"--image-size {cfg.image_size}: {side} vision patches per side; the tiny model takes at most "
            f"{MAX_PATCHES_PER_SIDE} (a larger --vision-patch or a smaller --image-size)"
        )
    n_patches = side**2
    t = cfg.mm_tokens_per_image
    if math.isqrt(t) ** 2 != t or t > n_patches or n_patches % t:
        raise OptionError(
            f"--image-tokens {t}: must be a square number dividing the {n_patches} vision patches "
            f"(--image-size / --vision-patch, squared)"
        )


def warmup_samples(
    images: np.ndarray, masks: np.ndarray, patch: int | None, align: int, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Images and masks for :func:`warm_start_vision`: every whole image, plus (with ``patch``) one patch of
    each cut at a random corner on the ``align`` lattice, since the model also sees patches as images.

    Args:
        images: (N, S, S, 3) uint8 images.
        masks: (N, S, S) class ids.
        patch: patch side in pixels, or None for whole images only.
        align: patch corners lie on this lattice.
        seed: seed of the corners.

    Returns:
        ``(images, masks)`` lists.
    """
    out_i, out_m = list(images), list(masks)
    if patch:
        rng = np.random.default_rng(seed)
        n = (images.shape[1] - patch) // align + 1
        for im, m in zip(images, masks, strict=True):
            y, x = rng.integers(n, size=2) * align
            out_i.append(im[y : y + patch, x : x + patch])
            out_m.append(m[y : y + patch, x : x + patch])
    return out_i, out_m


def warm_start_vision(
    model: Any,
    processor: Any,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    num_classes: int,
    steps: int = 300,
    batch: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    position_weight: float = 0.0,
    class_head: Any | None = None,
) -> list[float]:
    """Pre-train the vision tower and projector of a from-scratch tiny VLM to tell classes apart per token.

    A real Gemma 3 brings a pretrained SigLIP encoder; a random tiny one must learn to see and to segment
    from the text loss alone, which takes far more samples than a CPU budget allows. This stands in for
    the pretrained encoder: a temporary linear head on the projected image tokens is trained with
    cross-entropy against the majority class of each token's pixels, then dropped. The language model is
    not touched. Written here because no library pre-trains a Gemma 3 vision tower on dense labels.

    Args:
        model: a ``Gemma3ForConditionalGeneration`` (changed in place).
        processor: its processor (images are normalised exactly as in training and inference).
        images: (H, W, 3) uint8 training images (any sizes: the processor resizes them, as for the model;
            whole images and patches cut from them).
        masks: their (H, W) class ids.
        num_classes: number of classes.
        steps: optimiser steps.
        batch: images per step.
        lr: AdamW learning rate (cosine decay).
        seed: sampling seed.
        position_weight: weight of a second task, telling each token's row and column from its features (a
            pretrained encoder's tokens keep where they are; a class-only objective lets a from-scratch tower
            drop it, and the language model then has to find a patch row without it). 0: classes only.
        class_head: a ``torch.nn.Linear(hidden, num_classes)`` to train as the class head and keep (to score
            the tower on its own, as ``benchmarks/text_probes.py vision`` does); default: a temporary one.

    Returns:
        The training loss of every step (classes plus the weighted position term).
    """
    import torch

    from agriseg.text.grid import mask_to_grid

    tokens = int(model.config.mm_tokens_per_image)
    side = int(round(tokens**0.5))
    pix = processor.image_processor(images=list(images), return_tensors="pt")["pixel_values"]  # (N, 3, S, S)
    target = torch.from_numpy(np.stack([mask_to_grid(m, side, num_classes).ravel() for m in masks]))  # (N, T)
    hidden = int(model.config.text_config.hidden_size)
    head = class_head if class_head is not None else torch.nn.Linear(hidden, num_classes)
    pos_head = torch.nn.Linear(hidden, 2 * side) if position_weight > 0 else None  # row logits, column logits
    rows = torch.arange(tokens) // side  # (T,)
    cols = torch.arange(tokens) % side  # (T,)
    core = model.model
    params = [*core.vision_tower.parameters(), *core.multi_modal_projector.parameters(), *head.parameters()]
    if pos_head is not None:
        params += [*pos_head.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    core.vision_tower.train()
    for _ in range(steps):
        idx = torch.randint(len(pix), (batch,), generator=gen)
        feats = core.get_image_features(pix[idx]).pooler_output  # (B, T, hidden)
        loss = torch.nn.functional.cross_entropy(head(feats).flatten(0, 1), target[idx].flatten())
        if pos_head is not None:
            pos = pos_head(feats)  # (B, T, 2 * side)
            ce = torch.nn.functional.cross_entropy
            row_loss = ce(pos[..., :side].flatten(0, 1), rows.repeat(batch))
            col_loss = ce(pos[..., side:].flatten(0, 1), cols.repeat(batch))
            loss = loss + position_weight * (row_loss + col_loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return losses


def build_tiny_model(
    outdir: str | Path,
    class_names: Sequence[str],
    cfg: TinyVLMConfig | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> tuple[int, bool]:
    """``agriseg text tiny-model``: build, check and save a tiny VLM; returns its parameter count and whether
    it was made now (False: the folder holds the model these settings make, unchanged, as ``text dataset`` and
    ``make-synthetic`` leave their unchanged outputs).

    Raises:
        OptionError: fewer than two class words or one given twice (:func:`parse_class_words`), or sizes
            that do not fit together.
        FileExistsError: ``outdir`` exists, holds something else, and not ``overwrite``.
    """
    from agriseg.batch import check_output
    from agriseg.text.sft import read_meta

    class_names = parse_class_words(class_names)
    cfg = cfg or TinyVLMConfig()
    check_tiny_vlm_config(cfg)
    made_with = {**cfg.model_dump(mode="json"), "seed": seed}
    out = Path(outdir)
    if not overwrite and (out / "config.json").is_file() and not (out / "agriseg_train_config.json").exists():
        try:
            meta = read_meta(out)
        except OptionError:
            meta = {}
        before = meta.get("tiny_model")
        if isinstance(before, dict) and (before != made_with or meta.get("class_names") != list(class_names)):
            # a tiny model of other settings: they are named (it had said "exists (use --overwrite)" alone)
            from agriseg.batch.outputs import settings_changed

            changed = settings_changed({**before, "classes": meta.get("class_names")},
                                       {**made_with, "classes": list(class_names)})  # fmt: skip
            raise FileExistsError(f"{outdir}: a tiny model made with other settings ({changed}); --overwrite makes "
                                  "it again")  # fmt: skip
        if meta.get("tiny_model") == made_with and meta.get("class_names") == list(class_names):
            try:  # its weights and tokenizer there and whole (a folder missing them is no unchanged model)
                n = _parameters(out) if (out / "tokenizer.json").is_file() else 0
            except Exception:  # noqa: BLE001 - a damaged weights file: refused below as an existing folder
                n = 0
            if n:
                return n, False
    if (out / "agriseg_train_config.json").is_file():  # --overwrite put random weights over a trained model
        raise OptionError(
            f"{outdir}: holds a trained model (agriseg_train_config.json), which tiny-model never replaces with an "
            "untrained one: name another output"
        )
    check_output(outdir, overwrite, empty_dir_ok=True, kind="model")
    model, proc = build_tiny_vlm(class_names, cfg, seed=seed)
    n = sum(p.numel() for p in model.parameters())
    save_tiny_vlm(model, proc, outdir, class_names, made_with)
    return n, True


def _parameters(folder: Path) -> int:
    """The parameter count of a saved model, from its safetensors headers (no weights read)."""
    from safetensors import safe_open

    n = 0
    for f in folder.glob("*.safetensors"):
        with safe_open(str(f), "numpy") as st:
            for key in st.keys():  # noqa: SIM118 - safe_open has keys(), no iteration
                shape = st.get_slice(key).get_shape()
                n += int(np.prod(shape)) if shape else 1
    return n
