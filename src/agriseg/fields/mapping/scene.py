"""The per-scene task: predict + polygonise one scene, idempotently (a pure function of its inputs).

Outputs for ``<stem>`` in ``outdir``: ``<stem>_probs.tif`` (COG) and ``<stem>_fields.parquet`` (fiboa).
A task whose outputs exist returns ``status="skipped"`` without loading the model, so re-running a whole
map job only does the missing scenes; an interrupted prediction resumes from its last block.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from agriseg.fields.config import PredictConfig, PreprocessSpec
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
        preprocess: ``PreprocessSpec`` fields that override the model's (offset, divisor, swap_input_windows).
        threads: torch threads inside the task.
        overwrite: recompute existing outputs.
        collection: fiboa collection id.
        name: the stem of the outputs (default: the scene's).
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

    def output_name(self) -> str:
        """The stem of this scene's outputs (and of its field ids)."""
        return self.name or Path(self.scene).stem

    def outputs(self) -> tuple[Path, Path]:
        """``(probability COG, fields GeoParquet)`` paths of this scene."""
        stem = self.output_name()
        out = Path(self.outdir)
        return out / f"{stem}_probs.tif", out / f"{stem}_fields.parquet"


@lru_cache(maxsize=4)
def _cached_model(path: str, resize: float | None) -> Any:
    from agriseg.fields.checkpoints import load_for_scenes

    return load_for_scenes(path, resize=resize)


def run_scene(job: SceneJob) -> dict[str, Any]:
    """Run one scene (predict, then polygonise); safe to call again after a crash or on another worker.

    Returns:
        A summary dict: scene, status (done/skipped/resumed), outputs, field count, seconds, km2.
    """
    import torch

    from agriseg.fields.predict import ScenePredictor
    from agriseg.vector.api import polygonize

    t0 = time.perf_counter()
    probs, fields = job.outputs()
    row: dict[str, Any] = {"scene": job.scene, "probs": str(probs), "fields": str(fields), "error": ""}
    if probs.exists() and fields.exists() and not job.overwrite:
        return {**row, "status": "skipped", "seconds": 0.0}
    torch.set_num_threads(max(1, job.threads))
    loaded = _cached_model(job.model, job.resize)
    pcfg = job.predict.model_copy(update={"progress": False})
    spec = PreprocessSpec.model_validate({**loaded.preprocess.model_dump(), **job.preprocess})
    predictor = ScenePredictor(loaded.module, loaded.num_classes, spec, pcfg, loaded.class_names)
    res = predictor.predict(job.scene, probs, overwrite=job.overwrite)
    t1 = time.perf_counter()
    # one scene is one task: the scheduler runs scenes side by side, so the polygons use this process only
    vcfg = job.polygonize.model_copy(update={"progress": False, "workers": 1})
    df = polygonize(probs, fields, vcfg, collection=job.collection, id_prefix=job.output_name())
    return {
        **row,
        "status": res.status,
        "fields_count": len(df),
        "predict_s": t1 - t0,
        "polygonize_s": time.perf_counter() - t1,
        "seconds": time.perf_counter() - t0,
        "area_km2": res.area_km2,
    }


def job_dict(job: SceneJob) -> dict[str, Any]:
    """A job as a plain dict (for logs)."""
    return asdict(job)
