"""Multimodal-LLM segmentation with masks as text (MAgSeg / Text4Seg).

Importing this package (and the codec, grid, patch, prompt, reward, synthetic and metric modules) needs only
numpy; the training and inference modules (``tinyvlm``, ``modeling``, ``sft``, ``grpo``, ``infer``) import
transformers / peft / trl / datasets inside their functions and need the ``text`` extra.
"""

from __future__ import annotations

from agriseg.text.codec import (
    BACKGROUND,
    DecodeReport,
    Repair,
    decode_rrle,
    encode_answer,
    encode_rrle,
    is_valid_rrle,
    wrap_seg,
)
from agriseg.text.grid import grid_to_mask, mask_to_grid
from agriseg.text.reward import mean_dice

__all__ = [
    "BACKGROUND",
    "DecodeReport",
    "Repair",
    "decode_rrle",
    "encode_answer",
    "encode_rrle",
    "grid_to_mask",
    "is_valid_rrle",
    "mask_to_grid",
    "mean_dice",
    "wrap_seg",
]
