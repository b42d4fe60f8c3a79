"""Typed configs of the ``agriseg fields`` commands (training: the PRUE / FTW recipes), validated on load.

>>> from agriseg.config import load_config
>>> from agriseg.fields.config import FieldsTrainConfig
>>> cfg = load_config("configs/fields/prue_efnetb7.yaml", FieldsTrainConfig)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from agriseg.config import MAX_DN, MAX_LOADER_WORKERS, MAX_SEED, OptionError, StrictModel, device_name, renamed_names
from agriseg.models.config import ModelConfig
from agriseg.training.config import TrainOptions

# FTW / ftw-tools / PRUE divide Sentinel-2 reflectance x10000 by this (the one place it is written)
FTW_DIVISOR: float = 3000.0


# the class names of FTW's 2-class and 3-class targets (models without their own, imported checkpoints)
FTW_CLASS_NAMES: dict[int, list[str]] = {2: ["background", "field"], 3: ["background", "field", "boundary"]}


def _fields_model() -> ModelConfig:
    return ModelConfig(
        arch="smp_unet",
        encoder="tu-efficientnet_lite0",
        encoder_weights="imagenet",
        in_channels=8,
        num_classes=3,
        class_names=FTW_CLASS_NAMES[3],
        mean=[0.0] * 8,
        std=[1.0] * 8,
        infer_long_side=0,
    )


Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]


MAX_THREADS = 1024  # threads or worker processes one option may ask for


FTW_COUNTRIES: tuple[str, ...] = (
    "austria", "belgium", "brazil", "cambodia", "corsica", "croatia", "denmark", "estonia", "finland",
    "france", "germany", "india", "kenya", "latvia", "lithuania", "luxembourg", "netherlands", "portugal",
    "rwanda", "slovakia", "slovenia", "south_africa", "spain", "sweden", "vietnam",
)  # fmt: skip


def check_countries(countries: str | list[str] | tuple[str, ...]) -> list[str]:
    """Normalise a country list (``"all"`` = the 25 FTW countries).

    Raises:
        OptionError: an unknown country (a usage error; the message lists the valid names), or one given twice
            (by any spelling: ``Austria,austria``).
    """
    if isinstance(countries, str):
        countries = list(FTW_COUNTRIES) if countries == "all" else [countries]
    out = []
    for c in countries:
        key = c.strip().lower().replace(" ", "_").replace("-", "_")
        if key not in FTW_COUNTRIES:
            raise OptionError(f"unknown FTW country {c!r}; valid names: {', '.join(FTW_COUNTRIES)} (or 'all')")
        if key in out:  # its chips would be read, trained on and scored twice
            raise OptionError(f"FTW country {key!r} given twice ({c!r})")
        out.append(key)
    if not out:
        raise OptionError("no countries given")
    return out


class FieldsDataConfig(StrictModel):
    """Where the FTW-layout data lives and how chips become model inputs."""

    root: str
    train_countries: list[str] | Literal["all"] = "all"
    val_countries: list[str] | Literal["all"] | None = None  # None = train_countries
    test_countries: list[str] | Literal["all"] | None = None  # None = train_countries
    target: Literal["2-class", "3-class"] = "3-class"
    windows: Literal["ab", "ba", "a", "b"] = "ab"
    divisor: float = Field(FTW_DIVISOR, gt=0)
    # FTW chips are harmonised; -1000 for raw processing-baseline >= 04.00 data
    offset: float = Field(0.0, ge=-MAX_DN, le=MAX_DN)
    missing: Literal["error", "skip"] = "error"
    cache: bool = True

    @field_validator("train_countries", "val_countries", "test_countries", mode="before")
    @classmethod
    def _country_text(cls, v: Any) -> Any:
        """``france`` or ``austria,kenya`` (as ``--set data.train_countries=france`` gives it): a list."""
        if isinstance(v, str) and v.strip().lower() != "all":
            return [c.strip() for c in v.split(",") if c.strip()]
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("train_countries", "val_countries", "test_countries")
    @classmethod
    def _some_country(cls, v: list[str] | str | None) -> list[str] | str | None:
        if isinstance(v, list) and not v:
            raise ValueError("an empty list names no country: list some, or write all")
        if isinstance(v, list):  # an unknown one: said with the config file and key, not when the data set is read
            check_countries(v)
        return v

    @field_validator("root")
    @classmethod
    def _resolve(cls, v: str, info: ValidationInfo) -> str:
        context = info.context or {}
        # in the file: relative to the config's folder; given with --set data.root=DIR: to the working directory
        base = Path.cwd() if "data.root" in context.get("set", ()) else context.get("base")
        p = Path(os.path.expanduser(v))  # not Path.expanduser: ~nosuchuser raises RuntimeError there
        return str(p if p.is_absolute() or base is None else (Path(base) / p).resolve())


class FieldsAugmentConfig(StrictModel):
    """PRUE augmentations, applied on the fly by :class:`agriseg.fields.transforms.FieldAugment`.

    Attributes:
        enabled: augment at all.
        divisor_range: per-sample normalisation divisor range (the "brightness" robustness); None = off.
        rotate_p: probability of a rotation by an angle from U(-max_degrees, max_degrees).
        hflip_p: horizontal flip probability.
        vflip_p: vertical flip probability.
        sharpness_p: probability of a sharpness change (PIL semantics: 0 blurred, 1 unchanged, 2 sharpened).
        resized_crop_p: probability of a random resized crop back to full size (the "resize" robustness).
        crop_scale: area fraction range of that crop.
        crop_ratio: aspect ratio range of that crop.
        swap_p: probability of swapping window A and window B (8-channel inputs only).
    """

    enabled: bool = True
    divisor_range: tuple[Positive, Positive] | None = (1500.0, 4500.0)
    rotate_p: float = Field(0.5, ge=0, le=1)
    max_degrees: float = Field(90.0, ge=0, le=180)
    hflip_p: float = Field(0.5, ge=0, le=1)
    vflip_p: float = Field(0.5, ge=0, le=1)
    sharpness_p: float = Field(0.5, ge=0, le=1)
    sharpness_range: tuple[NonNegative, NonNegative] = (0.5, 1.5)
    resized_crop_p: float = Field(0.5, ge=0, le=1)
    crop_scale: tuple[Fraction, Fraction] = (0.3, 0.9)
    crop_ratio: tuple[Positive, Positive] = (3 / 4, 4 / 3)
    swap_p: float = Field(0.5, ge=0, le=1)

    @field_validator("divisor_range", "sharpness_range", "crop_scale", "crop_ratio")
    @classmethod
    def _low_high(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and v[0] > v[1]:
            raise ValueError(f"the range goes low to high: [{v[1]}, {v[0]}], not [{v[0]}, {v[1]}]")
        return v


class FieldsLossConfig(StrictModel):
    """``logcosh_dice`` (PRUE) or ``ce`` (FTW baseline); class weights from omega or explicit."""

    name: Literal["logcosh_dice", "ce"] = "logcosh_dice"
    omega: float | None = Field(0.75, gt=0, lt=0.95)  # weights [0.05, 0.95 - omega, omega]
    class_weights: list[NonNegative] | None = None  # overrides omega when given

    @field_validator("class_weights")
    @classmethod
    def _some_weight(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and not any(w > 0 for w in v):
            raise ValueError("at least one class weight must be above 0")
        return v

    ignore_index: int = Field(3, ge=0, le=255)  # label masks are uint8

    def weights(self, num_classes: int) -> list[float] | None:
        """The class weights to use (None = unweighted)."""
        from agriseg.models.losses import omega_class_weights

        if self.class_weights is not None:
            if len(self.class_weights) != num_classes:
                raise ValueError(f"{len(self.class_weights)} class_weights for {num_classes} classes")
            return list(self.class_weights)
        if self.omega is not None and num_classes == 3:
            return omega_class_weights(self.omega)
        return None


class FieldsOptimConfig(TrainOptions):
    """Optimisation (PRUE: AdamW amsgrad lr 1e-3, cosine to 1e-6 over 100 epochs, batch 32, seed 7).

    The shared training options (re-defaulted for PRUE) plus the fields schedule and checkpoint metric.
    """

    epochs: int = Field(100, ge=1)
    batch_size: int = Field(32, ge=1)
    weight_decay: float = Field(1e-2, ge=0)
    amsgrad: bool = True
    num_workers: int = Field(0, ge=0, le=MAX_LOADER_WORKERS)
    min_lr: float = Field(1e-6, ge=0)
    # cosine over the planned steps, or over max_minutes of wall time (for time-boxed CPU runs; the rate follows the
    # clock, so a seed alone does not repeat such a run's weights)
    schedule: Literal["cosine_steps", "cosine_time"] = "cosine_steps"
    iou_threshold: float = Field(0.5, ge=0.5, lt=1.0)
    monitor: Literal["val/object_f1", "val/pixel_iou"] = "val/object_f1"

    @model_validator(mode="after")
    def _time_budget(self) -> FieldsOptimConfig:
        if self.schedule == "cosine_time" and not self.max_minutes:
            raise ValueError("schedule 'cosine_time' needs max_minutes")
        return self


class FieldsTrainConfig(StrictModel):
    """A whole ``agriseg fields train`` run."""

    name: str = Field("fields", min_length=1)
    output_dir: str = Field("runs/fields", min_length=1)
    model: ModelConfig = Field(default_factory=_fields_model)
    data: FieldsDataConfig
    augment: FieldsAugmentConfig = FieldsAugmentConfig()
    loss: FieldsLossConfig = FieldsLossConfig()
    train: FieldsOptimConfig = FieldsOptimConfig()

    @model_validator(mode="after")
    def _check(self) -> FieldsTrainConfig:
        from agriseg.fields.sentinel2 import channels_for

        need = channels_for(self.data.windows)
        if self.model.in_channels != need:
            raise ValueError(
                f"data.windows={self.data.windows!r} gives {need} channels, model.in_channels is "
                f"{self.model.in_channels}"
            )
        want = 3 if self.data.target == "3-class" else 2
        if self.model.num_classes != want:
            raise ValueError(f"data.target={self.data.target!r} needs model.num_classes={want}")
        # the names the exported model and its card carry: a model block without them took the crop models'
        if "class_names" not in self.model.model_fields_set:  # default (background, vegetation): FTW's instead
            self.model = self.model.model_copy(update={"class_names": FTW_CLASS_NAMES[want]})
        elif len(self.model.class_names) != want:
            raise ValueError(
                f"model.class_names has {len(self.model.class_names)} names for model.num_classes={want}; "
                f"give one per class (FTW: {', '.join(FTW_CLASS_NAMES[want])})"
            )
        weights = self.loss.class_weights
        if weights is not None and len(weights) != want:  # said at once, in the config's words, not as the model's
            raise ValueError(
                f"loss.class_weights has {len(weights)} weights for model.num_classes={want}; give one per class"
            )
        return self


TTA = Literal["flip_h", "flip_v", "swap_windows"]
OffsetMode = Literal["auto", "none", "apply"]
# --offset of every fields command: a word of OffsetMode, or a DN offset (added to every DN before scaling)
OffsetOrDN = OffsetMode | Annotated[float, Field(ge=-MAX_DN, le=MAX_DN)]


def offset_or_dn(v: object) -> object:
    """``--offset``'s value: ``auto``, ``none``, ``apply`` or a DN offset (a number, also as text).

    Raises:
        ValueError: anything else, or a DN offset outside +-MAX_DN.
    """
    if v in ("auto", "none", "apply"):
        return v
    try:
        dn = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError("give auto, none, apply or a DN offset") from None
    if not -MAX_DN <= dn <= MAX_DN:  # NaN fails this too
        raise ValueError(f"a DN offset is from -{MAX_DN} to {MAX_DN}")
    return dn


def offset_of(settings: dict[str, object]) -> object:
    """The ``--offset`` value of :func:`offset_settings`' fields (``apply`` with a value of its own: that DN)."""
    offset = settings.get("offset", "auto")
    return settings["offset_value"] if offset == "apply" and "offset_value" in settings else offset


def offset_settings(offset: object) -> dict[str, object]:
    """The :class:`PreprocessConfig` fields of an ``--offset`` value (a DN offset is ``apply`` with that value)."""
    return {"offset": offset} if isinstance(offset, str) else {"offset": "apply", "offset_value": float(offset)}  # type: ignore[arg-type]


NanPolicy = Literal["error", "mask"]
Precision = Literal["fp32", "bf16"]
Compression = Literal["deflate", "zstd", "lzw", "none"]


class PreprocessConfig(StrictModel):
    """How raw scene pixels become model input (the contract between a checkpoint and the scene).

    FTW / PRUE models take ``max(DN + offset, 0) / 3000`` for 8 bands: window A (R, G, B, NIR) then B.
    """

    bands: int = Field(8, ge=1, description="bands the scene must have (= model input channels)")
    divisor: float = Field(FTW_DIVISOR, gt=0, description="reflectance x10000 is divided by this")
    offset: OffsetMode = Field(
        "auto",
        description="Sentinel-2 BOA_ADD_OFFSET: auto = from the file's tags (PROCESSING_BASELINE / "
        "BOA_ADD_OFFSET), none = 0, apply = offset_value",
    )
    offset_value: float = Field(-1000.0, ge=-MAX_DN, le=MAX_DN, description="DN offset of offset: apply")
    swap_input_windows: bool = Field(
        False, description="feed window B first (models trained with ftw-tools' B,A dataset order)"
    )
    resize: float = Field(1.0, ge=0.25, le=4.0, description="patches are resized by this before the model (FTW: 2)")


class PredictConfig(StrictModel):
    """Streaming, blended, resumable inference over one GeoTIFF scene.

    Sizes are in scene (native) pixels; the model sees ``patch_size * resize`` pixels per patch.
    """

    patch_size: int = Field(256, ge=16, description="patch side in scene pixels")
    overlap: float = Field(0.25, ge=0.0, le=0.9, description="fraction of a patch shared with its neighbour")
    # 4: as fast as 8 with ONNX Runtime on a CPU, with 0.5 GB less peak memory on a 350 km2 scene
    batch_size: int = Field(4, ge=1)
    blend: Literal["gaussian", "mean"] = "gaussian"
    # above 1 the weights are all but flat over a patch (the "mean" blend)
    sigma_scale: float = Field(0.125, gt=0, le=1, description="Gaussian sigma as a fraction of the patch side")
    tta: list[TTA] = Field(default_factory=list, description="test-time augmentations averaged with the plain pass")

    nan: NanPolicy = Field("error", description="NaN pixels not declared nodata: raise, or mask them as nodata")
    nodata: float | None = Field(
        None,
        description="input value meaning 'no data' in every band; None = the file's nodata, else 0 for ints",
    )
    precision: Precision = "fp32"
    channels_last: bool = True
    optimize: Literal["none", "jit", "onnxruntime"] = Field(
        "onnxruntime",
        description="onnxruntime = export once per patch size (cached) and run with ONNX Runtime (CPU; fused "
        "convolutions); jit = trace + freeze + optimize_for_inference; none = PyTorch eager. Falls back to "
        "eager with a warning when the model cannot be exported; bf16 precision always runs in PyTorch",
    )
    compress: Compression = "deflate"
    overviews: bool = True
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:N (or mps)")
    progress: bool = True

    @field_validator("device")
    @classmethod
    def _device_name(cls, v: str) -> str:
        return device_name(v)

    @field_validator("tta")
    @classmethod
    def _tta_once(cls, v: list[TTA]) -> list[TTA]:
        twice = sorted({t for t in v if v.count(t) > 1})
        if twice:  # averaged as two passes, weighting that one over the plain pass
            raise ValueError(f"{twice[0]} is given twice")
        return v

    @model_validator(mode="after")
    def _check(self) -> PredictConfig:
        if round(self.patch_size * (1 - self.overlap)) < 1:  # agriseg.tiling.overlap_stride's rounding
            raise ValueError(f"overlap {self.overlap} leaves no stride for patch_size {self.patch_size}")
        return self

    @property
    def stride(self) -> int:
        """Distance between patch starts in scene pixels."""
        from agriseg.tiling import overlap_stride  # numpy: not at import (the CLI's --help reads this config)

        return overlap_stride(self.patch_size, self.overlap)


STAC_APIS = {
    "planetary-computer": "https://planetarycomputer.microsoft.com/api/stac/v1",
    "earth-search": "https://earth-search.aws.element84.com/v1",
}


class DownloadConfig(StrictModel):
    """How ``agriseg fields download`` finds and reads Sentinel-2 L2A imagery from a STAC API."""

    stac_url: str = Field("planetary-computer", validate_default=True)  # a key of STAC_APIS, or a URL
    collection: str = Field("sentinel-2-l2a", min_length=1)
    cloud_max: float = Field(20.0, ge=0, le=100)  # % (item property eo:cloud_cover)
    resolution: float = Field(10.0, gt=0)  # output pixel size in metres
    max_items: int = Field(500, ge=1)  # search results considered per date range
    retries: int = Field(4, ge=0)  # attempts after the first, per STAC request and per band read
    backoff_s: float = Field(1.0, ge=0)  # wait before retry i: backoff_s * 2**i
    timeout_s: float = Field(60.0, gt=0)
    sign: Literal["auto", "planetary-computer", "none"] = "auto"  # auto: sign Planetary Computer items

    # how the requests are made, not what is downloaded: a re-run with other values resumes
    NETWORK: ClassVar[frozenset[str]] = frozenset({"retries", "backoff_s", "timeout_s", "sign"})

    def output_options(self) -> dict[str, object]:
        """The options that change what is downloaded (for a fingerprint): all but :attr:`NETWORK`."""
        return self.model_dump(exclude=set(self.NETWORK))

    @field_validator("stac_url")
    @classmethod
    def _named_api(cls, v: str) -> str:
        return stac_api(v)


def stac_api(v: str) -> str:
    """A STAC API as given (a name of :data:`STAC_APIS`, an http(s) URL or a catalog file) as it is opened.

    Raises:
        ValueError: anything else; an empty value (the working folder) and a folder too.
    """
    if v in STAC_APIS:
        return STAC_APIS[v]
    if v.startswith(("http://", "https://")):  # one API however it ends: a re-run with ".../stac/" is the same
        return v.rstrip("/")
    if v.startswith("file://"):
        return v
    try:  # a catalog file: not "", the working folder, nor any other folder ("Is a directory" failed each item)
        if v.strip() and Path(os.path.expanduser(v)).is_file():
            return os.path.expanduser(v)  # "~/cat.json" opened as given was "./~/cat.json: not found"
    except OSError:  # a name too long for a file: no catalog either
        pass
    raise ValueError(f"not a STAC API name ({', '.join(STAC_APIS)}), an http(s) URL or a catalog file")


class FieldsRunConfig(StrictModel):
    """Options of ``fields predict | polygonize | map | run`` beside :class:`PredictConfig`.

    ``resize``, ``divisor``, ``offset`` and ``swap_input_windows`` override the model's own preprocessing
    (:class:`PreprocessConfig`; None = the model's); ``collection`` names the fiboa collection of the fields;
    ``landcover_stac_url`` is where ``--landcover esa-worldcover | io-lulc`` is found.
    """

    resize: float | None = Field(None, ge=0.25, le=4.0, description="tile resize factor before the model")
    divisor: float | None = Field(None, gt=0, description="reflectance x10000 divisor")
    offset: OffsetOrDN = Field(
        "auto", description="Sentinel-2 BOA_ADD_OFFSET (-1000 from baseline 04.00), or a DN offset"
    )
    swap_input_windows: bool = Field(False, description="feed window B before window A")
    # at most MAX_THREADS: 100,000 ran out of memory and crashed the process (segmentation fault)
    threads: int = Field(0, ge=0, le=MAX_THREADS, description="torch threads of this process (0 = torch's default)")
    collection: str = Field("agriseg-fields", min_length=1, description="fiboa collection id")
    landcover_stac_url: str = Field(
        "planetary-computer", description="STAC API of a named land-cover source (esa-worldcover, io-lulc)"
    )

    _offset = field_validator("offset", mode="before")(offset_or_dn)

    @field_validator("landcover_stac_url")
    @classmethod
    def _landcover_api(cls, v: str) -> str:
        stac_api(v)  # checked now, not when the first scene's land cover is fetched; kept as given (its name)
        return v

    def preprocess(self) -> dict[str, object]:
        """The :class:`PreprocessConfig` fields these options override (only those set)."""
        update: dict[str, object] = offset_settings(self.offset)
        if self.divisor is not None:
            update["divisor"] = self.divisor
        if self.swap_input_windows:
            update["swap_input_windows"] = True
        return update


class DaskConfig(StrictModel):
    """Where ``fields map`` runs its scenes: a Dask cluster (a scheduler, or a local one), or this process."""

    scheduler: str | None = None  # address of a running scheduler; None = a local cluster
    workers: int = Field(2, ge=1, le=MAX_THREADS)  # local-cluster worker processes
    threads_per_worker: int = Field(1, ge=1, le=MAX_THREADS)  # 100,000: Dask hung, printing tracebacks
    serial: bool = False  # run in this process, without Dask


class FieldsEvaluateConfig(StrictModel):
    """``agriseg fields evaluate | robustness``: scoring a model on FTW chips (or one scene)."""

    countries: str = "all"  # comma-separated FTW countries, or all
    split: Literal["train", "val", "test"] = "test"
    target: Literal["2-class", "3-class"] = "3-class"  # label masks scored against
    windows: Literal["ab", "ba", "a", "b"] | None = None  # window order of the input; None = the model's
    # as fields predict's --offset (auto: a scene's tags; FTW chips, harmonised: none), or a DN offset
    offset: OffsetOrDN = "auto"
    batch_size: int = Field(8, ge=1)
    iou_threshold: float = Field(0.5, ge=0.5, lt=1.0)
    bootstrap: int = Field(1000, ge=0)  # resamples for 95% intervals
    missing: Literal["error", "skip"] = "error"  # chips with missing files
    max_chips: int = Field(256, ge=1)  # robustness: at most this many chips
    chip: int = Field(256, ge=64)  # robustness on a scene: chip side
    stride: int = Field(128, ge=16)  # robustness on a scene: chip stride
    crop: int | None = Field(None, ge=33)  # robustness: corner-crop size p (S/2 < p < S); None = 3/4 of the chip side

    _offset = field_validator("offset", mode="before")(offset_or_dn)

    @field_validator("bootstrap")
    @classmethod
    def _resamples(cls, v: int) -> int:
        if 0 < v < MIN_BOOTSTRAP:  # 1 gave "95% CI [0.5375, 0.5375]"
            raise ValueError(f"0 (no intervals) or at least {MIN_BOOTSTRAP} resamples for a 95% interval")
        return v


MIN_BOOTSTRAP = 20  # fewer resamples put both ends of a 95 % interval on the few extreme ones


class ChangeConfig(StrictModel):
    """``agriseg fields change``: PRUE's change map between two years' probability rasters, and its polygons."""

    threshold: float = Field(0.5, gt=0.0, le=1.0)  # on the min-max normalised change (PRUE: 0.5); 0 marked every pixel
    min_area_m2: float = Field(500.0, ge=0.0)  # smallest change polygon


class SeasonConfig(StrictModel):
    """Where the window dates of a download come from: as given, or (``auto``) the global crop calendar over
    the area (:mod:`agriseg.fields.calendar`) for the dates not given."""

    season: Literal["manual", "auto"] = "manual"
    year: int | None = Field(None, ge=2015, le=2100)  # auto: the year the season starts
    crop_season: Literal["summer", "winter"] = "summer"  # auto: the calendar of summer or winter crops
    window_days: int = Field(14, ge=0, le=180)  # auto: days before and after the start / end of season

    def calendar(self) -> dict[str, Any] | None:
        """The :func:`agriseg.fields.calendar.season_dates` settings of ``auto`` (None: manual dates).

        Raises:
            OptionError: ``auto`` without a year.
        """
        if self.season == "manual":
            return None
        if self.year is None:
            raise OptionError("--season auto needs --year (the year the season starts)")
        return {"year": self.year, "crop_season": self.crop_season, "window_days": self.window_days}


class SyntheticFTWConfig(StrictModel):
    """What :func:`make_synthetic_ftw` generates.

    Attributes:
        countries: chips per country (lower-case FTW names; presence-only ones get partial labels).
        size: chip side in pixels (FTW: 256).
        splits: fraction of chips per split, in order train, val, test.
        fields_per_chip: range of Voronoi cells per chip (more cells = smaller fields).
        non_field_fraction: probability that a cell is forest / settlement / water.
        boundary_width: width in pixels of the boundary class drawn on each field's edge.
        presence_labelled_fraction: fraction of fields labelled in presence-only countries.
        noise_dn: sensor noise standard deviation (DN).
        offset_dn: added to every DN (1000 emulates processing baseline >= 04.00 raw data; FTW chips: 0).
        seed: random seed (same seed = same data set).
    """

    countries: dict[str, int] = {"austria": 40, "kenya": 8}
    size: int = Field(256, ge=32)
    splits: tuple[float, float, float] = (0.7, 0.15, 0.15)
    fields_per_chip: tuple[int, int] = (8, 22)
    non_field_fraction: float = Field(0.2, ge=0, le=1)
    boundary_width: int = Field(2, ge=0)
    presence_labelled_fraction: float = Field(0.6, ge=0, le=1)
    noise_dn: float = Field(60.0, ge=0, le=MAX_DN)
    offset_dn: float = Field(0.0, ge=-MAX_DN, le=MAX_DN)
    seed: int = Field(0, ge=0, le=MAX_SEED)

    @field_validator("countries", mode="before")
    @classmethod
    def _countries_text(cls, v: Any) -> Any:
        """The command line's ``austria:40,kenya:8`` (a country without a count: 20 chips)."""
        if not isinstance(v, str):
            return v
        pairs = [item.partition(":") for item in v.split(",") if item.strip()]
        names = [name.strip().lower() for name, _, _ in pairs]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"{twice[0]} given twice; give each country once, with its number of chips")
        try:
            return {name.strip(): int(n or 20) for name, _, n in pairs}
        except ValueError:
            raise ValueError(f"{v!r}: give country:chips pairs, e.g. austria:40,kenya:8") from None

    @field_validator("fields_per_chip", mode="before")
    @classmethod
    def _range_text(cls, v: Any) -> Any:
        """The command line's ``8,22``."""
        return v.split(",") if isinstance(v, str) else v

    @field_validator("countries")
    @classmethod
    def _counts(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [f"{name}:{n}" for name, n in v.items() if n < 1]
        if not v or bad:
            raise ValueError("every country needs at least one chip")
        check_countries(list(v))  # narnia:3: said as this option's, as its other errors
        return v

    @field_validator("fields_per_chip")
    @classmethod
    def _fields_range(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= v[0] <= v[1]:
            raise ValueError("give min,max with 1 <= min <= max")
        return v

    @model_validator(mode="after")
    def _fields_fit(self) -> SyntheticFTWConfig:
        """A field needs room for its boundary and some inside: at least 6 x 6 px on average."""
        most = max(1, self.size**2 // 36)
        if self.fields_per_chip[1] > most:
            raise ValueError(
                f"fields per chip: at most {most} fit in a {self.size} px chip (6 x 6 px a field; got "
                f"{self.fields_per_chip[1]})"
            )
        return self


# renamed to the *Config suffix: the old names work for one more release, with a warning
__getattr__ = renamed_names(globals(), {"PreprocessSpec": "PreprocessConfig"})
