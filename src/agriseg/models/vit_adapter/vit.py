"""The plain ViT inside the adapter: any timm VisionTransformer, with timm or local-file weights."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

if TYPE_CHECKING:
    from timm.models.vision_transformer import VisionTransformer

# encoder_weights values that mean "random init" and "timm's own pretrained weights"
RANDOM_WEIGHTS = (None, "none", "random")
TIMM_WEIGHTS = ("imagenet", "timm")
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


def is_weight_file(weights: str) -> bool:
    """Whether an ``encoder_weights`` value names a local file rather than a tag."""
    return weights.endswith(WEIGHT_SUFFIXES) or "/" in weights or "\\" in weights


def create_vit(name: str, in_channels: int, weights: str | None, drop_path: float) -> VisionTransformer:
    """Create a timm ViT (no head, any input size) and load its weights.

    Args:
        name: timm model name of a ``VisionTransformer`` (DeiT, AugReg, DINOv2, ...).
        in_channels: image channels (pretrained patch embeddings are adapted as timm does).
        weights: ``None``/``"none"`` = random; ``"imagenet"``/``"timm"`` = timm's pretrained weights for
            ``name`` (network or the local timm/Hugging Face cache); a path to ``.safetensors``/``.pth``.
        drop_path: stochastic depth rate.

    Returns:
        The timm model.

    Raises:
        ValueError: for a model that is not a plain ViT, or an unknown ``weights`` tag.
        FileNotFoundError: if a weights file does not exist.
        RuntimeError: if timm cannot fetch its pretrained weights.
    """
    import timm

    from agriseg.models.encoders import download_failed, hub_offline_unless_reachable

    if weights not in RANDOM_WEIGHTS and weights not in TIMM_WEIGHTS and not is_weight_file(weights):
        raise ValueError(
            f"encoder_weights {weights!r} for a ViT-Adapter: use null (random), "
            "'imagenet' (timm's pretrained "
            f"weights for {name}) or a path to a .safetensors/.pth file"
        )
    pretrained = weights in TIMM_WEIGHTS
    kwargs: dict[str, Any] = dict(num_classes=0, in_chans=in_channels, drop_path_rate=drop_path, dynamic_img_size=True)
    try:
        # duck-typed below: any model with a ViT's patch embedding, blocks and position embedding
        with hub_offline_unless_reachable(
            pretrained
        ) as unreached:  # no network: the error at once, not a minute of retries
            vit = cast("VisionTransformer", timm.create_model(name, pretrained=pretrained, **kwargs))
    except TypeError as err:  # a non-ViT timm model rejects the ViT keyword arguments
        raise ValueError(f"{name!r} is not a plain ViT (timm VisionTransformer): {err}") from err
    except Exception as err:  # download failures surface as many types (OSError, HTTP/hub errors)
        if isinstance(err, RuntimeError) and "Unknown model" in str(err):
            raise ValueError(f"unknown timm model {name!r} for the ViT-Adapter") from err
        if not pretrained:
            raise
        raise download_failed(name, str(weights), err, unreached) from err
    if not all(hasattr(vit, a) for a in ("patch_embed", "blocks", "pos_embed")) or vit.pos_embed is None:
        raise ValueError(f"{name!r} is not a plain ViT with absolute position embeddings (timm VisionTransformer)")
    if weights is not None and is_weight_file(weights):
        load_vit_file(vit, Path(weights))
    vit.norm = nn.Identity()  # the adapter normalises its own outputs; the ViT's final norm is unused
    vit.fc_norm = nn.Identity()
    for token in ("cls_token", "reg_token", "dist_token"):  # prefix tokens are dropped: keep them, frozen
        if isinstance(getattr(vit, token, None), nn.Parameter):
            getattr(vit, token).requires_grad_(False)
    return vit


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        from agriseg.models.io import ModelLoadError

        try:
            sd: object = load_file(str(path))
        except Exception as err:  # noqa: BLE001 - safetensors' own error type (a file that is none)
            raise ModelLoadError(f"{path}: cannot read as ViT weights ({str(err).strip()[:160]})") from err
    else:
        from agriseg.models.io import torch_load

        sd = torch_load(path, "cannot read as ViT weights")
    for key in ("model", "state_dict", "module"):  # common checkpoint wrappers
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: not a state dict (got {type(sd).__name__})")
    for prefix in ("module.", "backbone.", "model."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items()}
    return sd


def load_vit_file(vit: VisionTransformer, path: Path) -> None:
    """Load a local ViT checkpoint (timm, DeiT, AugReg, DINOv2 layouts) into ``vit``.

    The file is read with ``weights_only=True`` (or as safetensors); timm's own checkpoint filter converts
    foreign layouts and resamples the position embedding; the classifier head is ignored.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file does not match the ViT (names the file and some missing tensors).
    """
    from timm.models import adapt_input_conv
    from timm.models.vision_transformer import checkpoint_filter_fn

    if not path.is_file():
        raise FileNotFoundError(f"{path}: ViT weights file not found")
    sd = checkpoint_filter_fn(_read_state_dict(path), vit)
    own = vit.state_dict()
    key = "patch_embed.proj.weight"
    if key in sd and key in own and sd[key].shape[1] != own[key].shape[1]:
        sd[key] = adapt_input_conv(own[key].shape[1], sd[key])
    sd = {k: v for k, v in sd.items() if k in own and v.shape == own[k].shape}
    missing = [k for k in own if k not in sd and not k.startswith(("head.", "norm.", "fc_norm."))]
    if missing:
        raise ValueError(
            f"{path}: does not fit the ViT ({len(missing)} tensors missing or mis-shaped, e.g. {missing[:3]})"
        )
    vit.load_state_dict(sd, strict=False)
