"""Segmentation models: one line to build, any timm encoder, any number of input channels.

>>> model = build_model({"arch": "unet", "encoder": "tu-efficientnet_lite0", "upsampler": "fade"})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agriseg.models.config import ModelConfig

if TYPE_CHECKING:  # torch is imported when a model is built, so reading model files needs no PyTorch
    from torch import nn

    from agriseg.models.segmentation import SegmentationModel

MODELS: dict[str, Callable[[ModelConfig], nn.Module]] = {}


def register_model(
    name: str, overwrite: bool = False
) -> Callable[[Callable[[ModelConfig], nn.Module]], Callable[[ModelConfig], nn.Module]]:
    """Decorator: register a factory ``ModelConfig -> nn.Module`` under ``name``.

    Args:
        name: the ``arch`` name the factory answers to.
        overwrite: replace a factory already registered under ``name`` (a built-in one included).

    Raises:
        ValueError: ``name`` is taken and ``overwrite`` is not set (a built-in model replaced by mistake
            would change every later ``build_model`` of that name).
    """

    def deco(fn: Callable[[ModelConfig], nn.Module]) -> Callable[[ModelConfig], nn.Module]:
        if name in MODELS and MODELS[name] is not fn and not overwrite:
            raise ValueError(f"a model is already registered as {name!r}; pick another name or pass overwrite=True")
        MODELS[name] = fn
        return fn

    return deco


def _segmentation_model(cfg: ModelConfig) -> nn.Module:
    from agriseg.models.segmentation import SegmentationModel

    return SegmentationModel(cfg)


for _arch in ("unet", "fpn", "upernet"):
    register_model(_arch)(_segmentation_model)


def __getattr__(name: str) -> Any:
    if name == "SegmentationModel":
        from agriseg.models.segmentation import SegmentationModel

        return SegmentationModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_model(config: ModelConfig | dict[str, Any] | str | None = None, **overrides: Any) -> nn.Module:
    """Build a segmentation model: ``build_model("fpn", encoder="tu-efficientnet_lite0", num_classes=3)``.

    Args:
        config: a :class:`ModelConfig`, a dict of its fields, or an architecture name (``unet``, ``fpn``,
            ``upernet``, ...); None for the default U-Net.
        overrides: fields of :class:`ModelConfig` that replace the config's.

    Returns:
        The model, taking ``(B, C, H, W)`` images and returning ``(B, K, H, W)`` logits.

    Raises:
        ValueError: for an unknown architecture (the message lists the valid names) or invalid fields.
        agriseg.extras.MissingExtra: PyTorch is not installed (``pip install "agriseg[train]"``).
    """
    from agriseg.extras import require

    require("train", "build_model")
    if isinstance(config, ModelConfig):
        data = config.model_dump()
    elif isinstance(config, str):
        data = {"arch": config}
    else:
        data = dict(config or {})
    data.update(overrides)
    arch = data.get("arch", "unet")
    if arch not in MODELS:
        raise ValueError(f"unknown model {arch!r}; valid names: {', '.join(sorted(MODELS))}")
    from agriseg.config import as_config

    return MODELS[arch](as_config(ModelConfig, data))  # a misspelt key: the near names


@register_model("smp_unet")
def _smp_unet(cfg: ModelConfig) -> nn.Module:
    from agriseg.models.smp_unet import SmpUnet

    return SmpUnet(cfg)


__all__ = ["MODELS", "SegmentationModel", "build_model", "register_model"]
