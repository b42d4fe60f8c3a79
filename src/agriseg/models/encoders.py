"""Encoders: agriseg's own (e.g. ViT-Adapter), any timm model (through smp) or smp's own encoders.

An encoder returns the feature pyramid at strides 2, 4, 8, 16, 32 and exposes ``out_channels``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

if TYPE_CHECKING:
    from agriseg.models.pretrained import LiteVariant

# name -> factory(name, in_channels, weights) of encoders that are not smp's; consulted before smp.
# A name may carry an option after a colon (``vit_adapter_small:vit_small_patch14_dinov2``).
EncoderFactory = Callable[[str, int, str | None], nn.Module]
CUSTOM_ENCODERS: dict[str, EncoderFactory] = {}
# name prefixes that belong to the custom registry: an unknown name with one of them never reaches smp
CUSTOM_PREFIXES: tuple[str, ...] = ("vit_adapter",)


def _vit_adapter(name: str, in_channels: int, weights: str | None) -> nn.Module:
    from agriseg.models.vit_adapter import build_vit_adapter

    return build_vit_adapter(name, in_channels, weights)


for _size in ("tiny", "small", "base", "large"):
    CUSTOM_ENCODERS[f"vit_adapter_{_size}"] = _vit_adapter


def custom_encoder_factory(name: str) -> EncoderFactory | None:
    """The custom factory for ``name`` (``None`` means: let smp handle it).

    Raises:
        ValueError: for an unknown name in a custom family; the message lists the valid custom names.
    """
    base = name.partition(":")[0]
    if base in CUSTOM_ENCODERS:
        return CUSTOM_ENCODERS[base]
    if base.startswith(CUSTOM_PREFIXES):
        raise ValueError(f"unknown encoder {name!r}; valid names: {', '.join(sorted(CUSTOM_ENCODERS))}")
    return None


# smp / timm weight tags that are names, not files
_WEIGHT_TAGS = (
    "imagenet",
    "ssl",
    "swsl",
    "advprop",
    "noisy-student",
    "instagram",
    "imagenet+5k",
    "imagenet+background",
)


def check_smp_encoder(name: str, weights: str | None) -> str | None:
    """Validate an smp / timm encoder name and its weights before anything is built or downloaded.

    Returns:
        ``weights`` when it is a tag (or None), or None when it is a local file that the caller loads.

    Raises:
        ValueError: for a ``tu-`` name timm does not know (with the closest names).
        FileNotFoundError: for ``weights`` that looks like a file path and does not exist.
    """
    import difflib

    if name.startswith("tu-"):
        import timm

        if not timm.is_model(name[3:]):
            close = difflib.get_close_matches(name[3:], timm.list_models(), n=4, cutoff=0.7)
            hint = f"; closest timm names: {', '.join('tu-' + c for c in close)}" if close else ""
            raise ValueError(f"unknown encoder {name!r}: timm has no model {name[3:]!r}{hint}")
    if weights is not None and weights not in _WEIGHT_TAGS and _looks_like_file(weights):
        from pathlib import Path

        if not Path(weights).is_file():
            raise FileNotFoundError(f"{weights}: encoder_weights file not found")
        return None
    if weights is not None:  # a tag: one the encoder has, before any download (a typo was fetched for a minute)
        import segmentation_models_pytorch as smp

        known = ["imagenet"] if name.startswith("tu-") else list(
            smp.encoders.encoders.get(name, {}).get("pretrained_settings", {})
        )  # fmt: skip
        if known and weights not in known:
            raise ValueError(
                f"encoder_weights {weights!r} for {name}: use null (random), {' or '.join(map(repr, known))}, or a "
                "path to a .safetensors / .pth file"
            )
    return weights


def download_failed(name: str, weights: str, err: BaseException, unreached: str | None = None) -> Exception:
    """The one-line error of pretrained encoder weights that could not be downloaded (offline, or a hub's
    error): what to set instead. A :class:`agriseg.models.io.ModelLoadError` (exit status 2 on the CLI).

    Args:
        name: the encoder.
        weights: the weights asked for.
        err: the download's error.
        unreached: why the hub could not be reached (:func:`hub_offline_unless_reachable`), said instead of
            ``err``.
    """
    from agriseg.models.io import ModelLoadError

    first = unreached or (str(err).strip().splitlines() or [type(err).__name__])[0]
    if len(first) > 160:  # the hub's sentence cut at a word, not mid-word ("try aga")
        first = first[:160].rsplit(" ", 1)[0].rstrip(".,;:") + "..."
    return ModelLoadError(
        f"encoder {name}: its {weights!r} weights could not be downloaded ({first}); without a network set "
        "model.encoder_weights to null or a local .safetensors / .pth file, or use tu-efficientnet_lite0/1/2, whose "
        "weights install with agriseg"
    )


@contextmanager
def hub_offline_unless_reachable(downloads: bool) -> Iterator[str | None]:
    """The Hugging Face hub in offline mode (its cache only) while weights are fetched, when it cannot be reached:
    it retried each address with backoff for a minute, printing each retry, before the error (session 105's
    sweep). smp's advice to set a timm encoder's weights to True, printed on the way, is left out too. Every
    model that downloads weights (smp encoders, smp_unet, the ViT-Adapter's ViT) fetches them under it.

    Yields:
        Why the hub cannot be reached (``"cannot resolve huggingface.co: ..."``), or None: what a failed
        download says in place of the hub's "check your connection" (:func:`download_failed`).
    """
    import warnings

    if not downloads:
        yield None
        return
    from huggingface_hub import constants

    from agriseg.data.download import unreachable

    reason = None if constants.HF_HUB_OFFLINE else unreachable(constants.ENDPOINT)
    constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE or bool(reason)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*should be set to True to download", category=UserWarning)
            yield reason or None
    finally:
        if reason:
            constants.HF_HUB_OFFLINE = False


def _looks_like_file(weights: str) -> bool:
    return "/" in weights or "\\" in weights or weights.endswith((".pth", ".pt", ".bin", ".safetensors", ".ckpt"))


def load_encoder_file(encoder: nn.Module, path: str) -> None:
    """Load a local encoder weights file (safetensors, or a torch state dict read with ``weights_only``).

    Raises:
        ValueError: naming the file when it cannot be read or its tensors do not fit the encoder.
    """
    from agriseg.models.io import ModelLoadError, torch_load

    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            sd: Any = load_file(path)
        else:
            sd = torch_load(path, "cannot load as encoder weights")
            sd = sd.get("state_dict", sd) if isinstance(sd, dict) else sd
        encoder.load_state_dict(sd)
    except ModelLoadError:  # names the file already
        raise
    except Exception as err:  # noqa: BLE001 - safetensors' own error type too (a file that is none)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(f"{path}: cannot load as encoder weights ({first})") from err


class Encoder(nn.Module):
    """Wrap a custom or smp encoder so that it returns the five stride-2..32 features (no identity level).

    Args:
        name: a custom encoder (``CUSTOM_ENCODERS``, e.g. ``vit_adapter_tiny``), or an smp encoder name:
            timm models as ``tu-<timm name>`` (e.g. ``tu-efficientnet_lite0``), or smp's own (e.g.
            ``efficientnet-b3``, ``resnet34``).
        in_channels: input channels (any number; pretrained stems are adapted).
        weights: ``"imagenet"``, ``None`` (random) or an smp/timm weight tag (custom encoders document theirs,
            e.g. a local weights file).
    """

    def __init__(self, name: str, in_channels: int = 3, weights: str | None = None) -> None:
        super().__init__()
        self.name = name
        custom = custom_encoder_factory(name)
        self.custom = custom is not None
        if custom is not None:  # returns the five levels itself
            self.body = custom(name, in_channels, weights)
            self.out_channels: list[int] = list(cast("list[int]", self.body.out_channels))
            return
        import segmentation_models_pytorch as smp

        from agriseg.models.pretrained import LOCAL_LITE_ENCODERS

        local_lite = weights == "imagenet" and name in LOCAL_LITE_ENCODERS
        tag = check_smp_encoder(name, weights)
        try:
            with hub_offline_unless_reachable(tag is not None and not local_lite) as unreached:
                self.body = smp.encoders.get_encoder(
                    name, in_channels=in_channels, depth=5, weights=None if local_lite else tag
                )
        except KeyError as err:
            raise ValueError(
                f"unknown encoder {name!r}: use an smp encoder name "
                f"({', '.join(sorted(smp.encoders.encoders)[:8])}, ...), 'tu-<any timm model>' "
                f"or one of {', '.join(sorted(CUSTOM_ENCODERS))}"
            ) from err
        except (ValueError, TypeError):
            raise
        except Exception as err:  # noqa: BLE001 - hub and HTTP errors of a download alike
            if tag is None or local_lite:
                raise
            raise download_failed(name, tag, err, unreached) from err
        if local_lite:
            load_lite_into(self.body, in_channels, LOCAL_LITE_ENCODERS[name])
        elif weights is not None and tag is None:
            load_encoder_file(self.body, weights)
        self.out_channels = list(cast("list[int]", self.body.out_channels)[1:])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # x: (B, Cin, H, W) -> [(B, C1, H/2, W/2), ..., (B, C5, H/32, W/32)]
        feats = self.body(x)
        return list(feats) if self.custom else list(feats[1:])


def load_lite_into(smp_encoder: nn.Module, in_channels: int, variant: LiteVariant = "lite0") -> None:
    """Copy offline EfficientNet-Lite ImageNet weights into an smp ``tu-efficientnet_lite{0,1,2}`` encoder.

    For ``in_channels != 3`` the stem is adapted the way timm does it (channel weights cycled and rescaled).
    """
    from timm.models import adapt_input_conv

    from agriseg.models.pretrained import lite_timm_state_dict

    model = cast(nn.Module, smp_encoder.model)
    own = model.state_dict()
    sd = {k: v for k, v in lite_timm_state_dict(variant).items() if k in own}
    sd["conv_stem.weight"] = adapt_input_conv(in_channels, sd["conv_stem.weight"])
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    if missing:
        raise RuntimeError(f"{variant} weights miss {len(missing)} encoder tensors, e.g. {missing[:3]}")
    model.load_state_dict(sd, strict=False)
