"""The per-scene task: predict + polygonise one scene, idempotently (a pure function of its inputs).

Outputs for ``<stem>`` in ``outdir``: ``<stem>_probs.tif`` (COG; ``<stem>_instances.tif`` for
DelineateAnything models, see :mod:`agriseg.fields.delineate`) and ``<stem>_fields.parquet`` (fiboa). A
named land-cover source (``esa-worldcover``, ``io-lulc``) is fetched for the scene's grid into
``<stem>_landcover.tif`` first.
A task whose outputs exist returns ``status="skipped"`` without loading the model, so re-running a whole
map job only does the missing scenes; an interrupted prediction resumes from its last block.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from typing_extensions import deprecated

from agriseg.fields.config import FTW_DIVISOR, PredictConfig, PreprocessConfig, offset_of
from agriseg.vector.config import PolygonizeConfig


@dataclass(frozen=True)
class SceneJob:
    """Everything one scene task needs; it pickles to Dask workers as it is.

    Args:
        scene: input GeoTIFF.
        outdir: output folder.
        model: model file (agriseg safetensors/ckpt or ftw-tools/PRUE ckpt).
        predict: scene inference settings.
        polygonize: polygonisation settings.
        resize: override of the model's patch resize factor (None = the model's default).
        preprocess: ``PreprocessConfig`` fields that override the model's (offset, divisor, swap_input_windows).
        threads: torch threads inside the task.
        overwrite: recompute existing outputs.
        collection: fiboa collection id.
        name: the stem of the outputs (default: the scene's).
        model_sha256: the digest the user pinned for a pickled (DelineateAnything) model.
        model_name: the registry name the model came from (for messages).
        landcover_stac: STAC API of a named land-cover source.
        landcover_retries: retries of its search and reads (the download's --retries).
        keep_current: with ``overwrite``, keep a probability COG this scene's prediction made with these settings
            (see :meth:`agriseg.fields.predict.ScenePredictor.predict`); the batch runner sets it when it remakes
            an unfinished scene the user did not ask to overwrite.
    """

    scene: str
    outdir: str
    model: str
    predict: PredictConfig = field(default_factory=PredictConfig)
    polygonize: PolygonizeConfig = field(default_factory=PolygonizeConfig)
    resize: float | None = None
    preprocess: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    overwrite: bool = False
    collection: str = "agriseg-fields"
    name: str = ""
    model_sha256: str | None = None
    model_name: str | None = None
    landcover_stac: str = "planetary-computer"
    landcover_retries: int = 4
    keep_current: bool = False

    def output_name(self) -> str:
        """The stem of this scene's outputs (and of its field ids)."""
        return self.name or Path(self.scene).stem

    def outputs(self) -> tuple[Path, Path]:
        """``(probability or instance COG, fields GeoParquet)`` paths of this scene."""
        from agriseg.fields.delineate import is_instance_model

        stem = self.output_name()
        out = Path(self.outdir)
        kind = "instances" if is_instance_model(self.model) else "probs"
        return out / f"{stem}_{kind}.tif", out / f"{stem}_fields.parquet"


@lru_cache(maxsize=4)
def _cached_model(path: str, resize: float | None) -> Any:
    from agriseg.fields.checkpoints import load_for_scenes

    return load_for_scenes(path, resize=resize)


@lru_cache(maxsize=2)
def _cached_yolo(path: str, sha256: str | None, name: str | None) -> Any:
    from agriseg.fields.delineate import load_yolo

    return load_yolo(path, sha256, name)


def _predict_instances(job: SceneJob, raster: Path) -> Any:
    """Run a DelineateAnything model over the scene into its instance raster."""
    from agriseg.fields.delineate import InstanceConfig, InstancePredictor

    cfg = InstanceConfig(
        predict=job.predict.model_copy(update={"progress": False}),
        resize=job.resize if job.resize is not None else 2.0,
        divisor=float(job.preprocess.get("divisor", FTW_DIVISOR)),
        offset=offset_of(job.preprocess),  # a DN offset too, not only its "apply"
    )
    model = _cached_yolo(job.model, job.model_sha256, job.model_name)
    return InstancePredictor(model, cfg, job.model_name or Path(job.model).name).predict(
        job.scene, raster, overwrite=job.overwrite
    )


def run_scene(job: SceneJob) -> dict[str, Any]:
    """Run one scene (predict, then polygonise); safe to call again after a crash or on another worker.

    Returns:
        A summary dict: scene, status (ok/skipped/resumed), outputs, field count, seconds, km2.
    """
    import torch

    from agriseg.fields.delineate import is_instance_model
    from agriseg.fields.landcover import landcover_config
    from agriseg.fields.predict import ScenePredictor
    from agriseg.vector.api import polygonize

    t0 = time.perf_counter()
    probs, fields = job.outputs()
    row: dict[str, Any] = {"scene": job.scene, "probs": str(probs), "fields": str(fields), "error": ""}
    if probs.exists() and fields.exists() and not job.overwrite:
        return {**row, "status": "skipped", "seconds": 0.0}
    torch.set_num_threads(max(1, job.threads))
    instances = is_instance_model(job.model)
    if instances:
        res = _predict_instances(job, probs)
    else:
        loaded = _cached_model(job.model, job.resize)
        pcfg = job.predict.model_copy(update={"progress": False})
        spec = PreprocessConfig.model_validate({**loaded.preprocess.model_dump(), **job.preprocess})
        predictor = ScenePredictor(loaded.module, loaded.num_classes, spec, pcfg, loaded.class_names)
        res = predictor.predict(job.scene, probs, overwrite=job.overwrite, keep_current=job.keep_current)
    t1 = time.perf_counter()
    # one scene is one task: the scheduler runs scenes side by side, so the polygons use this process only
    vcfg = job.polygonize.model_copy(update={"progress": False, "workers": 1})
    vcfg, landcover = landcover_config(
        vcfg, probs, job.outdir, job.landcover_stac, job.overwrite, job.landcover_retries
    )
    # (the batch runner hands over only scenes to make again: a fields file there is stale, never a user's)
    df = polygonize(
        probs,
        fields,
        vcfg,
        collection=job.collection,
        id_prefix=job.output_name(),
        labels=instances,
        overwrite=True,
        empty_said=getattr(res, "empty", False),
    )  # predict said why: not said twice
    if landcover:
        row["landcover"] = landcover
    return {
        **row,
        "status": res.status,
        "fields_count": len(df),
        "predict_s": round(t1 - t0, 3),
        "polygonize_s": round(time.perf_counter() - t1, 3),
        "seconds": round(time.perf_counter() - t0, 3),
        "area_km2": res.area_km2,
    }


@deprecated("job_dict: unused, removed in the next release; use dataclasses.asdict(job)")
def job_dict(job: SceneJob) -> dict[str, Any]:
    """A job as a plain dict (for logs)."""
    return asdict(job)
