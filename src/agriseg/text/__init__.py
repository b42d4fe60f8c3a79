"""Multimodal-LLM segmentation with masks as text (MAgSeg / Text4Seg).

Importing this package (and the codec, grid, patch, prompt, reward, synthetic and metric modules) needs only
numpy; the training and inference modules (``tinyvlm``, ``modeling``, ``sft``, ``grpo``, ``infer``) import
transformers / peft / trl / datasets inside their functions and need the ``text`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agriseg import lazy_exports

if TYPE_CHECKING:  # what type checkers and editors see; at run time each name is imported on first use
    from agriseg.text.codec import BACKGROUND as BACKGROUND
    from agriseg.text.codec import DecodeReport as DecodeReport
    from agriseg.text.codec import Repair as Repair
    from agriseg.text.codec import decode_rrle as decode_rrle
    from agriseg.text.codec import encode_answer as encode_answer
    from agriseg.text.codec import encode_rrle as encode_rrle
    from agriseg.text.codec import is_valid_rrle as is_valid_rrle
    from agriseg.text.codec import wrap_seg as wrap_seg
    from agriseg.text.grid import grid_to_mask as grid_to_mask
    from agriseg.text.grid import mask_to_grid as mask_to_grid
    from agriseg.text.reward import mean_dice as mean_dice

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
