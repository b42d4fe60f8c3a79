"""Configs of ``agriseg crop train``: data folders, optimisation and run control (hyperparameters in one place)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from agriseg.config import MAX_SEED, StrictModel, TorchDevice
from agriseg.models.config import ModelConfig
from agriseg.training.config import TrainOptions


class ExtraDataConfig(StrictModel):
    """A further training source (e.g. generated scenes from ``agriseg crop make-synthetic``).

    Its labels are read with the main source's ``label_mode`` and ``colormap``; all its images train (none
    validates), and they are never boundary-refined (generated labels are exact).
    """

    images: str = Field(min_length=1)  # "" read as the working folder ("." has no images), said of the key
    labels: str = Field(min_length=1)
    repeat: int = Field(1, ge=1)  # each image appears this many times per epoch


class DataConfig(StrictModel):
    """Image + label folders matched by file stem, and how label files map to class ids."""

    images: str = Field(min_length=1)  # "" read as the working folder ("." has no images), said of the key
    labels: str = Field(min_length=1)
    train_list: str | None = None  # text file of stems; None = all stems not in val_list
    val_list: str | None = None
    val_fraction: float = Field(0.2, gt=0, lt=1)  # used when no val_list: a seeded random split
    # label encoding: "binary" (0 / >0), "index" (pixel value = class id), "colormap" (RGB -> id)
    label_mode: Literal["binary", "index", "colormap"] = "binary"
    colormap: dict[str, int] = {}  # "R,G,B" -> class id, for label_mode="colormap"; unlisted colours -> 255
    crop_size: int = Field(384, ge=32, le=4096)
    scale_min: float = Field(0.35, gt=0, le=1)  # random-resized-crop area fraction range
    scale_max: float = Field(1.0, gt=0, le=4)  # 4 = the 960-px reference photo drawn at 3840 px
    augment: Literal["none", "mild", "strong"] = "strong"
    cache: bool = True  # keep decoded images in memory
    # re-decide the band of this many px around every hand outline from the photo's colour (0 = off);
    # training images only: see agriseg.crop.refine
    refine_band: int = Field(0, ge=0, le=10)
    repeat: int = Field(1, ge=1)  # each training photo appears this many times per epoch (balance with extra)
    extra: list[ExtraDataConfig] = []

    @field_validator("colormap")
    @classmethod
    def _colours(cls, v: dict[str, int]) -> dict[str, int]:
        return _check_colormap(v)

    @model_validator(mode="after")
    def _scale_range(self) -> DataConfig:  # a range high to low sampled nothing the user meant, silently
        if self.scale_min > self.scale_max:
            raise ValueError(
                f"data.scale_min {self.scale_min:g} > data.scale_max {self.scale_max:g}: a range low to high"
            )
        return self


class TrainConfig(TrainOptions):
    """Optimisation and run control: the shared training options plus crop's own."""

    warmup_epochs: int = Field(1, ge=0)
    dice_weight: float = Field(1.0, ge=0)
    # cross-entropy weight of vegetation pixels deeper than interior_depth px inside their (refined) outline;
    # 1 = off. Aimed at the pale and dark leaf interiors a model is unsure of (see models.losses.CEDiceLoss)
    interior_weight: float = Field(1.0, ge=1, le=100)
    interior_depth: int = Field(3, ge=1, le=20)
    ignore_index: int = Field(255, ge=0, le=255)
    init_weights: str | None = None  # start from an agriseg model file (.safetensors / .ckpt) of the same config
    channels_last: bool = False  # with bf16-mixed: about 2.9x faster than fp32 on a CPU with AVX-512 BF16
    boundary_ratio: float = Field(0.02, gt=0, le=1)
    # which weights become model.safetensors: "best" on validation mIoU, or "last" (the end of the schedule;
    # no checkpoint is picked on the split that the model is then scored on)
    export: Literal["best", "last"] = "best"


def _check_colormap(colormap: dict[str, int]) -> dict[str, int]:
    from agriseg.crop.labels import parse_colour

    for colour, cls in colormap.items():
        parse_colour(colour)
        if not 0 <= cls <= 254:
            raise ValueError(f"colormap class id {cls} of {colour!r} is outside 0-254")
    return colormap


def check_rgb_model(model: ModelConfig) -> None:
    """A crop model reads RGB photos: ``model.in_channels`` other than 3 trained until its first batch, then
    stopped in a traceback (session 106's sweep).

    Raises:
        ValueError: naming ``model.in_channels``.
    """
    if model.in_channels != 3:
        raise ValueError(f"model.in_channels {model.in_channels}: crop models read RGB photos (3 channels)")


def check_class_names(model: ModelConfig) -> None:
    """One name per class (``crop train`` and ``crop selftrain`` configs): a run would train, then fail naming
    nothing when the metrics are named.

    Raises:
        ValueError: ``model.class_names has 2 names for model.num_classes 3``.
    """
    if len(model.class_names) != model.num_classes:
        raise ValueError(
            f"model.class_names has {len(model.class_names)} names for model.num_classes {model.num_classes}"
        )


class CropTrainConfig(StrictModel):
    """A whole ``agriseg crop train`` run."""

    name: str = Field("crop", min_length=1)
    output_dir: str = Field("runs/crop", min_length=1)
    model: ModelConfig = ModelConfig()
    data: DataConfig
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _one_name_per_class(self) -> CropTrainConfig:
        check_class_names(self.model)
        check_rgb_model(self.model)
        n = self.model.num_classes
        if self.data.label_mode == "colormap" and not self.data.colormap:  # said of the config, not of each label
            raise ValueError(
                'data.colormap: label_mode colormap needs one ("R,G,B" -> class id, e.g. {"0,0,0": 0, "0,255,0": 1})'
            )
        if self.data.label_mode == "colormap":  # found at training time, after the run's folder was written
            for colour, cls in (self.data.colormap or {}).items():
                if cls >= n:
                    raise ValueError(f"data.colormap: class id {cls} of {colour!r} but model.num_classes is {n}")
        return self


# the scales crop traits takes (px per mm); a reference object's scale is checked against the same range
MIN_PX_PER_MM, MAX_PX_PER_MM = 1e-4, 1e4


class TraitsConfig(StrictModel):
    """``agriseg crop traits``: what is measured on each photo or mask, and in which units."""

    model_name: str = "default"  # packaged model (default, crop-weed) or a model file, for photos
    device: TorchDevice = "cpu"  # where that model runs
    # connected vegetation smaller than this (pixels) is not a plant (it still counts as green cover)
    min_plant_size: int = Field(50, ge=1)
    # touching plants are split where their distance-transform peaks rise this far (px) above the neck
    # between them; 0 = no splitting (the default: a seedling's leaflets meet at necks like two plants)
    split_depth: float = Field(0.0, ge=0)
    # with regions: pieces of vegetation of one region at most this many px apart are one plant
    join: int = Field(10, ge=0)
    # green area index: view zenith angle (degrees from nadir) and leaf projection G (0.5 = spherical leaves)
    zenith: float = Field(0.0, ge=0.0, lt=90.0)
    leaf_projection: float = Field(0.5, gt=0.0, le=1.0)
    # scale: from 1 px per 10 m to 10,000 px per mm (beyond, areas overflow or round to 0)
    px_per_mm: float | None = Field(None, ge=MIN_PX_PER_MM, le=MAX_PX_PER_MM)
    reference_box: str | None = None  # "X,Y,W,H": pixel box holding a reference object of known size
    # its size: the longer side of its bounding box, in mm (1 um to 1 km)
    reference_mm: float | None = Field(None, ge=1e-3, le=1e6)
    grid: str | None = None  # "ROWSxCOLS" grid over the tray (found in the photo, or grid_box)
    grid_box: str | None = None  # "X,Y,W,H": the box (px) the grid spans, instead of the tray found
    regions: str | None = None  # CSV of rectangles: id,x,y,width,height (pixels)
    meta: str | None = Field(None, min_length=1)  # file-name template, e.g. "plant_date_camera"
    photos: str | None = None  # folder of the photos that masks were predicted from (for colour traits)

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: str | None) -> str | None:
        from agriseg.crop.traits.regions import parse_grid

        if v is None:
            return v
        rows, cols = parse_grid(v)  # a bad grid is a usage error, found before any photo is read
        return f"{rows}x{cols}"  # one spelling (3X6, " 3x6"): a re-run with either resumes

    @field_validator("grid_box", "reference_box")
    @classmethod
    def _box(cls, v: str | None) -> str | None:
        from agriseg.crop.traits.units import parse_box

        if v is not None:
            parse_box(v)
        return v


class PlotsConfig(StrictModel):
    """``agriseg crop plots``: per-plot statistics of orthomosaics."""

    plots: str  # plot polygons: GeoPackage, GeoJSON, GeoParquet, Shapefile, ... in any CRS
    plot_id: str | None = None  # id column; default: plot_id, id, name (any case), or the row number
    bands: tuple[int, int, int] | None = None  # RGB mosaic bands read as red, green, blue (default: by description)
    model_name: str = "default"  # for RGB mosaics
    device: TorchDevice = "cpu"  # where that model runs
    window: int = Field(2048, ge=64)  # mosaics are read in windows of this side
    margin: int = Field(64, ge=0)  # context read around each window of an RGB mosaic before segmenting it
    min_plant_size: int = Field(50, ge=1)
    zenith: float = Field(0.0, ge=0.0, lt=90.0)
    leaf_projection: float = Field(0.5, gt=0.0, le=1.0)
    meta: str | None = Field(None, min_length=1)  # file-name template with a "date" field, for the growth table


# how crop models run by default (see the README's benchmark of crop predict)
# the smallest resize the models take: their encoders halve the image 5 times (32 px -> 1 px)
MIN_LONG_SIDE = 32
DEFAULT_OPTIMIZE: Literal["none", "jit", "onnxruntime"] = "onnxruntime"


class CropInferenceConfig(StrictModel):
    """Which crop model runs and how (shared by ``crop predict`` and ``crop evaluate``)."""

    model_name: str = "default"  # packaged model (default, crop-weed, NAME@N) or a model file
    long_side: int | None = Field(  # None = the model's own
        None,
        ge=0,
        description=f"resize the long side to this before the model (0 = native; else at least {MIN_LONG_SIDE})",
    )
    tta: Literal["none", "flip", "flip+scale"] | None = None  # test-time augmentation; None = the model's own
    optimize: Literal["none", "jit", "onnxruntime"] = DEFAULT_OPTIMIZE
    device: TorchDevice = "cpu"  # cpu runs ONNX Runtime; a GPU runs the model in PyTorch

    @field_validator("long_side")
    @classmethod
    def _long_side(cls, v: int | None) -> int | None:
        if v is not None and 0 < v < MIN_LONG_SIDE:
            raise ValueError(f"must be 0 (native size) or at least {MIN_LONG_SIDE} px")
        return v


class CropPredictConfig(CropInferenceConfig):
    """``agriseg crop predict``: photos -> masks, overlays and a summary."""

    batch_size: int = Field(4, ge=1)  # photos (or tiles) per forward pass
    tile: int = Field(1024, ge=64)  # photos larger than this after resizing are predicted in tiles
    overlap: float = Field(0.25, ge=0, le=0.9)  # tile overlap fraction (above 0.9 a pixel is run 100+ times)
    precision: Literal["fp32", "bf16"] = "fp32"
    overlay: bool = True  # write <name>_overlay.jpg


class CropEvaluateConfig(CropInferenceConfig):
    """``agriseg crop evaluate``: a model (or saved masks) scored against labels."""

    label_mode: Literal["binary", "index", "colormap"] = "binary"  # how label files encode classes
    boundary_ratio: float = Field(0.02, gt=0, le=1)  # boundary IoU band, as a fraction of the diagonal


class SyntheticPhotosConfig(StrictModel):
    """``agriseg crop make-synthetic``: how many photos, from which seed, and the lab layouts."""

    count: int = Field(20, ge=1, le=100_000)  # photos to generate
    seed: int = Field(0, ge=0, le=MAX_SEED)  # photo i uses seed + i
    layouts: str = "pots,tray,side,plate"  # lab: comma-separated layouts (pots, tray, side, plate, field)
    uniform_frames: bool = False  # lab: also write a plain white, grey, blue and black frame
    plant_colours: Literal["mild", "wide"] = "mild"  # lab: recolouring of the pasted plants
    # lab: 0 = the markers, glare and labels of every scene only; 1-3 = that many times more of them in each
    # scene, drawn on top (hard negatives: things that are not plants where plants stand)
    distractors: int = Field(0, ge=0, le=3)


class AdaptConfig(StrictModel):
    """``agriseg crop adapt``: adapting a model to a new field from unlabelled photos."""

    model_name: str = "default"  # the model to start from
    # merge pseudo-labels with the model's own predictions: agree = ignore pixels where they disagree;
    # confident = take the model's class where it is confident
    combine: Literal["none", "agree", "confident"] = "agree"
    confidence: float = Field(0.9, ge=0.5, le=1.0)
    stage1_epochs: int = Field(4, ge=1)
    stage2_epochs: int = Field(4, ge=0)
    crop_size: int = Field(256, ge=32, le=4096)  # as crop train's data.crop_size (its bound too)
    batch_size: int = Field(8, ge=1)
