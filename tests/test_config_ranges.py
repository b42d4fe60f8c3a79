"""Every numeric option of every config has a range (agriseg.config.StrictModel and all its subclasses).

``allow_inf_nan=False`` keeps nan and inf out; a range keeps out the numbers the code cannot handle (a
negative size, a probability of 3, a seed NumPy refuses). This test walks every config model of every
module under ``agriseg`` and fails on a numeric field (int or float, also inside ``X | None`` and unions)
without a lower bound, or without an upper bound unless the field is listed below with the reason it has
none. A field added without a range fails here, as does a stale entry of the lists.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

import agriseg
from agriseg.config import StrictModel

# fields with no upper bound, by why none is meaningful ("module.Class.field", module without "agriseg.")
NO_UPPER_BOUND: dict[str, tuple[str, ...]] = {
    # a number of things (epochs, steps, images, workers, retries...): more only takes longer
    "count": (
        "crop.config.AdaptConfig.batch_size",
        "crop.config.AdaptConfig.stage1_epochs",
        "crop.config.AdaptConfig.stage2_epochs",
        "crop.config.CropPredictConfig.batch_size",
        "crop.config.DataConfig.repeat",
        "crop.config.ExtraDataConfig.repeat",
        "crop.config.TrainConfig.warmup_epochs",
        "crop.pseudolabel.gght.GGHTConfig.bins",
        "crop.selftrain.SelfTrainConfig.stage1_epochs",
        "crop.selftrain.SelfTrainConfig.stage2_epochs",
        "fields.config.DownloadConfig.max_items",
        "fields.config.DownloadConfig.retries",
        "fields.config.FieldsEvaluateConfig.batch_size",
        "fields.config.FieldsEvaluateConfig.bootstrap",
        "fields.config.FieldsEvaluateConfig.max_chips",
        "fields.config.FieldsOptimConfig.batch_size",
        "fields.config.FieldsOptimConfig.epochs",
        "fields.config.PredictConfig.batch_size",
        "fields.robustness.RobustnessConfig.batch_size",
        "text.config.DemoConfig.calib_images",
        "text.config.DemoConfig.eval_batch",
        "text.config.DemoConfig.eval_images",
        "text.config.DemoConfig.grpo_generations",
        "text.config.DemoConfig.grpo_iterations",
        "text.config.DemoConfig.grpo_prompts_per_step",
        "text.config.DemoConfig.grpo_steps",
        "text.config.DemoConfig.max_new_tokens",
        "text.config.DemoConfig.per_image",
        "text.config.DemoConfig.sft_batch",
        "text.config.DemoConfig.sft_steps",
        "text.config.DemoConfig.sft_warmup",
        "text.config.DemoConfig.train_images",
        "text.config.DemoConfig.val_images",
        "text.config.DemoConfig.vision_warmup_batch",
        "text.config.DemoConfig.vision_warmup_steps",
        "text.config.GRPORunConfig.generation_batch_size",
        "text.config.GRPORunConfig.max_completion_length",
        "text.config.GRPORunConfig.num_generations",
        "text.config.GRPORunConfig.num_iterations",
        "text.config.SFTRunConfig.max_length",
        "text.config.TrainCommon.gradient_accumulation_steps",
        "text.config.TrainCommon.logging_steps",
        "text.config.TrainCommon.max_samples",
        "text.config.TrainCommon.max_steps",
        "text.config.TrainCommon.per_device_train_batch_size",
        "text.config.TrainCommon.warmup_steps",
        "text.config._PatchInference.batch_size",
        "text.config._PatchInference.max_new_tokens",
        "text.config.LandscapeConfig.max_fields",
        "text.config.LandscapeConfig.max_tree_clumps",
        "training.config.TrainOptions.batch_size",
        "training.config.TrainOptions.epochs",
        # as a number of batches (int); as a fraction (float) it is at most 1
        "training.config.TrainOptions.limit_train_batches",
        "training.config.TrainOptions.max_steps",
        "training.config.TrainOptions.val_every",
        "vector.config.PolygonizeConfig.workers",
    ),
    # a size or distance in pixels (or bytes): what fits is decided by the memory check up front
    # (agriseg.data.memory), not by a fixed cap
    "size in pixels": (
        "crop.config.CropInferenceConfig.long_side",
        "crop.config.CropPredictConfig.tile",
        "crop.config.PlotsConfig.margin",
        "crop.config.PlotsConfig.min_plant_size",
        "crop.config.PlotsConfig.window",
        "crop.config.TraitsConfig.join",
        "crop.config.TraitsConfig.min_plant_size",
        "crop.config.TraitsConfig.split_depth",
        "crop.pseudolabel.gght.GGHTConfig.fit_long_side",
        "crop.pseudolabel.pipeline.PseudoLabelConfig.depth_input_size",
        "crop.pseudolabel.pipeline.PseudoLabelConfig.overlay_long_side",
        "crop.selftrain.TrimapConfig.boundary_px",
        "fields.config.FieldsEvaluateConfig.chip",
        "fields.config.FieldsEvaluateConfig.crop",
        "fields.config.FieldsEvaluateConfig.stride",
        "fields.config.PredictConfig.patch_size",
        "fields.delineate.InstanceConfig.min_pixels",
        "fields.delineate.InstanceConfig.padding",
        "fields.registry.ModelSpec.size",
        "fields.robustness.RobustnessConfig.crop",
        "fields.config.SyntheticFTWConfig.boundary_width",
        "fields.config.SyntheticFTWConfig.size",
        "text.config.DemoConfig.min_instance_px",
        "text.config.DemoConfig.patch",
        "text.config.DemoConfig.train_align",
        "text.config.PredictConfig.patch",
        "text.config.TextEvaluateConfig.min_size",
        "text.config.TextPredictConfig.patch",
        "text.dataset.PatchConfig.align",
        "text.dataset.PatchConfig.patch",
        "text.dataset.TextDatasetConfig.patch",
        "text.instances.WatershedConfig.erosion",
        "text.instances.WatershedConfig.min_size",
        "text.config.LandscapeConfig.size",
        "vector.config.PolygonizeConfig.block_size",
        "vector.config.PolygonizeConfig.class_only_erosion",
        "vector.config.PolygonizeConfig.core_erosion",
        "vector.config.PolygonizeConfig.min_seed_px",
    ),
    # a grid or a network's width or depth: any positive number builds (memory permitting)
    "model or grid size": (
        "models.config.ModelConfig.decoder_channels",
        "models.config.ModelConfig.in_channels",
        "fields.config.PreprocessConfig.bands",
        "fields.delineate.InstanceConfig.max_det",
        "text.config.LoraAdapterConfig.alpha",
        "text.config.LoraAdapterConfig.r",
        "text.tinyvlm.TinyVLMConfig.head_dim",
        "text.tinyvlm.TinyVLMConfig.heads",
        "text.tinyvlm.TinyVLMConfig.hidden",
        "text.tinyvlm.TinyVLMConfig.image_size",
        "text.tinyvlm.TinyVLMConfig.intermediate",
        "text.tinyvlm.TinyVLMConfig.kv_heads",
        "text.tinyvlm.TinyVLMConfig.layers",
        "text.tinyvlm.TinyVLMConfig.mm_tokens_per_image",
        "text.tinyvlm.TinyVLMConfig.rope_theta",
        "text.tinyvlm.TinyVLMConfig.vision_hidden",
        "text.tinyvlm.TinyVLMConfig.vision_layers",
        "text.tinyvlm.TinyVLMConfig.vision_patch",
    ),
    # a physical quantity with no natural maximum (a scale, an area, a resolution, a duration, a divisor)
    "physical quantity": (
        "fields.config.DownloadConfig.backoff_s",
        "fields.config.DownloadConfig.resolution",
        "fields.config.DownloadConfig.timeout_s",
        "fields.config.FieldsDataConfig.divisor",
        "fields.delineate.InstanceConfig.divisor",
        "fields.config.FieldsRunConfig.divisor",
        "fields.config.PreprocessConfig.divisor",
        "fields.robustness.RobustnessConfig.divisor",
        "text.config.TrainCommon.max_minutes",
        "training.config.TrainOptions.max_minutes",
        "vector.config.PolygonizeConfig.fill_holes_m2",
        "vector.config.PolygonizeConfig.max_area_m2",
        "vector.config.PolygonizeConfig.min_area_m2",
        "fields.config.ChangeConfig.min_area_m2",
        "vector.config.PolygonizeConfig.simplify",
    ),
    # an optimiser's or a loss's coefficient (learning rate, decay, weight, temperature, clip): tuning them
    # past what trains well is the user's choice, and no value breaks the code
    "coefficient": (
        "crop.config.TrainConfig.dice_weight",
        "crop.pseudolabel.gght.GGHTConfig.zscore_clip",
        "fields.config.FieldsOptimConfig.min_lr",
        "fields.config.FieldsOptimConfig.weight_decay",
        "text.config.DemoConfig.grpo_beta",
        "text.config.DemoConfig.grpo_lr",
        "text.config.DemoConfig.grpo_temperature",
        "text.config.DemoConfig.grpo_top_k",
        "text.config.DemoConfig.grpo_validity_weight",
        "text.config.DemoConfig.sft_lr",
        "text.config.DemoConfig.vision_warmup_lr",
        "text.config.DemoConfig.vision_warmup_position",
        "text.config.GRPORunConfig.beta",
        "text.config.GRPORunConfig.dice_smooth",
        "text.config.GRPORunConfig.learning_rate",
        "text.config.GRPORunConfig.temperature",
        "text.config.GRPORunConfig.top_k",
        "text.config.GRPORunConfig.validity_weight",
        "text.config.TrainCommon.learning_rate",
        "text.config.TrainCommon.num_train_epochs",
        "text.config.TrainCommon.weight_decay",
        "text.config._PatchInference.temperature",
        "training.config.TrainOptions.lr",
        "training.config.TrainOptions.weight_decay",
    ),
}

# fields with no bound at all: any value of the data's own type can mean it
NO_BOUND: dict[str, str] = {
    "fields.config.PredictConfig.nodata": "any value of the scene's data type can be its nodata (e.g. -3.4e38)",
}


def _config_models() -> list[type[BaseModel]]:
    """Every subclass of the config base, after importing every module under agriseg."""
    for mod in pkgutil.walk_packages(agriseg.__path__, "agriseg."):
        if mod.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(mod.name)
        except ModuleNotFoundError as err:  # an optional extra not installed: its configs are checked where it is
            if (err.name or "").startswith("agriseg"):
                raise
    out: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [StrictModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in out:
                out.append(sub)
                todo.append(sub)
    return out


def _numeric_branches(annotation: Any) -> Iterator[list[Any]]:  # noqa: ANN401 - any type annotation
    """The metadata of each int or float member of an annotation (``int``, ``float | None``, unions)."""
    if annotation in (int, float):
        yield []
    elif typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        for branch in _numeric_branches(base):
            yield [*meta, *branch]
    elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _numeric_branches(arg)


def _bounds(metadata: list[Any]) -> tuple[bool, bool]:
    metadata = [x for m in metadata for x in (m.metadata if isinstance(m, FieldInfo) else [m])]
    lower = any(isinstance(m, annotated_types.Ge | annotated_types.Gt) for m in metadata)
    upper = any(isinstance(m, annotated_types.Le | annotated_types.Lt) for m in metadata)
    return lower, upper


def _numeric_fields() -> dict[str, list[tuple[bool, bool]]]:
    """``module.Class.field`` -> (has lower, has upper) per numeric branch, for fields a class defines."""
    out: dict[str, list[tuple[bool, bool]]] = {}
    for cls in _config_models():
        own = cls.__dict__.get("__annotations__", {})
        for name, info in cls.model_fields.items():
            if name not in own:
                continue  # inherited unchanged: checked on the class that defines it
            branches = [_bounds([*info.metadata, *meta]) for meta in _numeric_branches(info.annotation)]
            if branches:
                out[f"{cls.__module__.removeprefix('agriseg.')}.{cls.__qualname__}.{name}"] = branches
    return out


def test_every_numeric_config_field_has_a_range() -> None:
    fields = _numeric_fields()
    assert len(fields) > 150  # the walk found the configs of every pipeline
    no_upper = {name for names in NO_UPPER_BOUND.values() for name in names}
    missing = []
    for name, branches in sorted(fields.items()):
        if name in NO_BOUND:
            continue
        for lower, upper in branches:
            if not lower:
                missing.append(f"{name}: no lower bound (Field(ge=...) or gt=...)")
            if not upper and name not in no_upper:
                missing.append(f"{name}: no upper bound (Field(le=...) or lt=...), or list it in NO_UPPER_BOUND")
    assert not missing, "\n".join(missing)


def test_the_allow_lists_name_real_fields_without_that_bound() -> None:
    fields = _numeric_fields()
    listed = [name for names in NO_UPPER_BOUND.values() for name in names]
    assert len(listed) == len(set(listed)), "a field is listed twice"
    for name in [*listed, *NO_BOUND]:
        assert name in fields, f"{name}: not a numeric config field (renamed or removed?)"
    for name in listed:
        assert not all(upper for _, upper in fields[name]), f"{name}: has an upper bound; remove it from the list"


@pytest.mark.parametrize(
    ("model", "values"),
    [
        ("agriseg.training.config.TrainOptions", {"seed": -1}),
        ("agriseg.training.config.TrainOptions", {"seed": 2**32}),
        ("agriseg.training.config.TrainOptions", {"limit_train_batches": 1.5}),
        ("agriseg.training.config.TrainOptions", {"limit_train_batches": 0}),
        ("agriseg.crop.pseudolabel.gght.GGHTConfig", {"edge_quantile": 1.5}),
        ("agriseg.crop.pseudolabel.gght.GGHTConfig", {"smooth_sigma": -1}),
        ("agriseg.crop.pseudolabel.gght.GGHTConfig", {"smooth_sigma": 1e9}),  # a kernel that took all memory
        ("agriseg.crop.pseudolabel.gght.GGHTConfig", {"mask_sigma": 101}),
        ("agriseg.fields.config.FieldsAugmentConfig", {"max_degrees": 720}),
        ("agriseg.fields.config.FieldsDataConfig", {"root": "x", "offset": 1e9}),
        ("agriseg.text.instances.WatershedConfig", {"min_size": -4}),
        ("agriseg.text.config.GRPORunConfig", {"model": "m", "dataset": "d", "output_dir": "o", "epsilon": 1.5}),
        ("agriseg.vector.config.PolygonizeConfig", {"field_class": -1}),
        ("agriseg.models.config.ModelConfig", {"num_classes": 300}),
    ],
)
def test_out_of_range_values_are_refused(model: str, values: dict[str, Any]) -> None:
    module, name = model.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    with pytest.raises(ValidationError):
        cls.model_validate(values)


def test_limit_train_batches_is_a_fraction_or_a_count() -> None:
    from agriseg.training.config import TrainOptions

    assert TrainOptions(limit_train_batches=0.25).limit_train_batches == 0.25
    count = TrainOptions.model_validate({"limit_train_batches": 10}).limit_train_batches
    assert count == 10 and isinstance(count, int)


@pytest.mark.parametrize(
    "name", ["crop_default", "crop_default_v3", "crop_default_v4", "crop_weed", "crop_weed_v3", "crop_weed_v4"]
)
def test_the_shipped_models_configs_are_in_range(name: str) -> None:
    import json
    from pathlib import Path

    from safetensors import safe_open

    from agriseg.models.config import ModelConfig

    path = Path(agriseg.__file__).parent / "models" / "weights" / f"{name}.safetensors"
    with safe_open(str(path), "np") as f:
        raw = json.loads(f.metadata()["agriseg_model_config"])
    assert ModelConfig.model_validate(raw).model_dump() == raw  # loads, unchanged


def test_an_infinite_value_is_refused_where_only_a_lower_bound_is_set(tmp_path: Path) -> None:
    """``max_minutes: .inf`` passes ``gt=0``: taken, the run would have no time limit where the user meant one."""
    from agriseg.config import ConfigError, load_config
    from agriseg.crop.config import CropTrainConfig

    path = tmp_path / "c.yaml"
    path.write_text("data: {images: i, labels: l}\ntrain: {max_minutes: .inf}\n")
    with pytest.raises(ConfigError, match=r"train\.max_minutes: Input should be a finite number \(got inf\)"):
        load_config(path, CropTrainConfig)
    with pytest.raises(ConfigError, match=r"--set train\.lr: Input should be a finite number"):
        load_config(path, CropTrainConfig, ["train.max_minutes=5", "train.lr=.inf"])
