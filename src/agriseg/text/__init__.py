"""Multimodal-LLM segmentation with masks as text (MAgSeg / Text4Seg).

Importing this package (and the codec, grid, patch, prompt, reward, synthetic and metric modules) needs only
numpy; the training and inference modules (``tinyvlm``, ``modeling``, ``sft``, ``grpo``, ``infer``) import
transformers / peft / trl / datasets inside their functions and need the ``text`` extra.
"""

from __future__ import annotations

from agriseg import lazy_exports

# imported lazily: `agriseg text ... --help` reads the configs without loading numpy
_EXPORTS = {
    "BACKGROUND": "agriseg.text.codec",
    "DecodeReport": "agriseg.text.codec",
    "Repair": "agriseg.text.codec",
    "decode_rrle": "agriseg.text.codec",
    "encode_answer": "agriseg.text.codec",
    "encode_rrle": "agriseg.text.codec",
    "is_valid_rrle": "agriseg.text.codec",
    "wrap_seg": "agriseg.text.codec",
    "grid_to_mask": "agriseg.text.grid",
    "mask_to_grid": "agriseg.text.grid",
    "mean_dice": "agriseg.text.reward",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
