"""Settings of streaming scene inference (``agriseg fields predict``), validated on construction."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TTA = Literal["flip_h", "flip_v", "swap_windows"]
OffsetMode = Literal["auto", "none", "apply"]
NanPolicy = Literal["error", "mask"]
Precision = Literal["fp32", "bf16"]
Compression = Literal["deflate", "zstd", "lzw", "none"]


class PreprocessSpec(BaseModel):
    """How raw scene pixels become model input (the contract between a checkpoint and the scene).

    FTW / PRUE models take ``max(DN + offset, 0) / 3000`` for 8 bands: window A (R, G, B, NIR) then B.
    """

    model_config = ConfigDict(extra="forbid")

    bands: int = Field(8, ge=1, description="bands the scene must have (= model input channels)")
    divisor: float = Field(3000.0, gt=0, description="reflectance x10000 is divided by this")
    offset: OffsetMode = Field(
        "auto",
        description="Sentinel-2 BOA_ADD_OFFSET: auto = from the file's tags (PROCESSING_BASELINE / "
        "BOA_ADD_OFFSET), none = 0, apply = offset_value",
    )
    offset_value: float = -1000.0
    swap_input_windows: bool = Field(
        False, description="feed window B first (models trained with ftw-tools' B,A dataset order)"
    )
    resize: float = Field(
        1.0, ge=0.25, le=4.0, description="patches are resized by this before the model (FTW: 2)"
    )


class PredictConfig(BaseModel):
    """Streaming, blended, resumable inference over one GeoTIFF scene.

    Sizes are in scene (native) pixels; the model sees ``patch_size * resize`` pixels per patch.
    """

    model_config = ConfigDict(extra="forbid")

    patch_size: int = Field(256, ge=16, description="patch side in scene pixels")
    overlap: float = Field(0.25, ge=0.0, lt=1.0, description="fraction of a patch shared with its neighbour")
    batch_size: int = Field(8, ge=1)
    blend: Literal["gaussian", "mean"] = "gaussian"
    sigma_scale: float = Field(0.125, gt=0, description="Gaussian sigma as a fraction of the patch side")
    tta: list[TTA] = Field(
        default_factory=list, description="test-time augmentations averaged with the plain pass"
    )
    nan: NanPolicy = Field(
        "error", description="NaN pixels not declared nodata: raise, or mask them as nodata"
    )
    nodata: float | None = Field(
        None,
        description="input value meaning 'no data' in every band; None = the file's nodata, else 0 for ints",
    )
    precision: Precision = "fp32"
    channels_last: bool = True
    optimize: Literal["none", "jit"] = Field(
        "none",
        description="jit = trace + freeze + optimize_for_inference (CPU: conv-BN folding, oneDNN); "
        "falls back to eager when the model cannot be traced",
    )
    compress: Compression = "deflate"
    overviews: bool = True
    device: str = "cpu"
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> PredictConfig:
        if int(self.patch_size * (1 - self.overlap)) < 1:
            raise ValueError(f"overlap {self.overlap} leaves no stride for patch_size {self.patch_size}")
        return self

    @property
    def stride(self) -> int:
        """Distance between patch starts in scene pixels."""
        return max(1, int(round(self.patch_size * (1 - self.overlap))))
