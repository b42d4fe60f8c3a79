"""The model config: architecture, encoder, upsampler, classes and input normalisation (saved with models)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from agriseg.config import StrictModel

# the names of the decoder and upsampler registries (agriseg.models.decoders.DECODERS,
# agriseg.models.upsamplers.UPSAMPLERS): written once here, where configs and --help read them without
# importing PyTorch; each registry checks on import that its keys are exactly these
DecoderName = Literal["unet", "fpn", "upernet"]
UpsamplerName = Literal["bilinear", "fade", "dysample", "carafe"]
# the decoders with one width (agriseg.models.segmentation.DECODER_WIDTH_ARG maps them to their argument)
WIDTH_DECODERS = ("fpn", "upernet")


# the largest long side a photo is resized to before a model: 4x a 4096-px photo (an unbounded one trained, then
# failed at validation in OpenCV's resize; a photo larger than this is predicted at its native size, 0)
MAX_LONG_SIDE = 16384


class ModelConfig(StrictModel):
    """A segmentation model: encoder + decoder + x2 upsampler + head."""

    # smp_unet = segmentation-models-pytorch's own smp.Unet (FTW / PRUE checkpoints load into it unchanged)
    arch: DecoderName | Literal["smp_unet"] = "unet"
    encoder: str = "tu-efficientnet_lite0"
    encoder_weights: str | None = "imagenet"
    upsampler: UpsamplerName = "bilinear"
    # width of the fpn/upernet decoder (None = the decoder's default, 128; mmseg's UperNet uses 512)
    decoder_channels: int | None = Field(None, ge=1)
    in_channels: int = Field(3, ge=1)
    num_classes: int = Field(2, ge=1, le=255)  # masks are uint8, and 255 is the ignore label
    class_names: list[str] = ["background", "vegetation"]
    # inputs arrive scaled to [0, 1]; the model normalises them itself
    mean: list[float] = [0.5, 0.5, 0.5]
    std: list[Annotated[float, Field(gt=0)]] = [0.5, 0.5, 0.5]  # inputs are divided by them
    # images are resized so their long side is this many pixels before the model (0 = native size);
    # training draws plants at 0.35-1x of a 960-px-wide photo, so 640 sits inside that range
    infer_long_side: int = Field(640, ge=0, le=MAX_LONG_SIDE)
    # test-time augmentation used by default at inference (chosen on validation)
    infer_tta: Literal["none", "flip", "flip+scale"] = "none"

    @field_validator("encoder_weights", mode="before")
    @classmethod
    def _no_weights(cls, v: Any) -> Any:
        """``none`` (YAML reads it as the word, not as null): random weights. It was taken as a pretrained tag
        and looked up on the model hub, a minute of retries offline before an error naming no key."""
        return None if isinstance(v, str) and v.strip().lower() in ("none", "null", "") else v

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        """Settings the model would ignore or fail on later, refused when the config is read."""
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ValueError(
                f"mean and std need {self.in_channels} values each (one per input channel, in_channels), "
                f"got {len(self.mean)} and {len(self.std)}"
            )
        if self.decoder_channels is not None and self.arch not in WIDTH_DECODERS:
            raise ValueError(
                f"decoder_channels applies to arch {' or '.join(WIDTH_DECODERS)}, not {self.arch!r} (leave it out)"
            )
        if self.arch == "smp_unet" and self.upsampler != "bilinear":
            raise ValueError(f"upsampler {self.upsampler!r} needs arch unet, fpn or upernet (smp_unet has its own)")
        return self
