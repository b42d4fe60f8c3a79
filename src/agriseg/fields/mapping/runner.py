"""Running many scenes: serially in-process, or as Dask tasks on a ``distributed`` cluster.

``run_dask`` starts a local cluster (``n_workers`` processes, ``threads_per_worker`` threads each) unless a
scheduler address or an existing ``Client`` is given. Each scene is one task (:func:`run_scene`), so a
failed or killed worker only costs its scene, and re-running skips finished scenes. The per-scene
GeoParquets are merged into one fiboa GeoParquet at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from agriseg.data.files import write_json
from agriseg.fields.mapping.scene import SceneJob, run_scene

Backend = Literal["serial", "dask"]


def _error_row(job: SceneJob, err: BaseException) -> dict[str, Any]:
    return {"scene": job.scene, "status": "error", "error": f"{type(err).__name__}: {err}", "seconds": 0.0}


def run_serial(jobs: Sequence[SceneJob], progress: bool = True, strict: bool = False) -> list[dict[str, Any]]:
    """Run scene jobs one after another in this process.

    Args:
        jobs: scene jobs.
        progress: show a tqdm bar.
        strict: raise the first error instead of recording it and going on.
    """
    from tqdm import tqdm

    rows = []
    for job in tqdm(jobs, desc="scenes", unit="scene", disable=not progress):
        try:
            rows.append(run_scene(job))
        except (ValueError, FileNotFoundError) as err:
            if strict:
                raise
            rows.append(_error_row(job, err))
    return rows


def run_dask(
    jobs: Sequence[SceneJob],
    scheduler: str | None = None,
    client: Any = None,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    processes: bool = True,
    memory_limit: str | None = "auto",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run scene jobs as Dask tasks.

    Args:
        jobs: scene jobs (their ``threads`` is set to ``threads_per_worker``).
        scheduler: address of a running scheduler (``tcp://host:8786``); None = a local cluster.
        client: an existing ``distributed.Client`` (takes precedence; left open).
        n_workers: workers of the local cluster.
        threads_per_worker: Dask and torch threads per worker.
        processes: local cluster workers as processes (True) or threads of this process.
        memory_limit: per-worker memory limit of the local cluster.
        progress: show a tqdm bar as scenes complete.

    Returns:
        One summary row per scene, in input order (failed scenes have ``status="error"``).
    """
    from distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm

    own: list[Any] = []
    if client is None:
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=processes,
                memory_limit=memory_limit,
                dashboard_address=None,
            )
            own.append(cluster)
            client = Client(cluster)
        own.insert(0, client)
    try:
        jobs = [replace(j, threads=threads_per_worker) for j in jobs]
        # one task per scene; pure=False so a re-run re-checks the outputs on disk
        futures = {
            client.submit(run_scene, j, pure=False, key=f"scene-{i}-{Path(j.scene).stem}"): i
            for i, j in enumerate(jobs)
        }
        rows: list[dict[str, Any] | None] = [None] * len(jobs)
        bar = tqdm(total=len(jobs), desc="scenes", unit="scene", disable=not progress)
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                rows[i] = fut.result()
            except Exception as err:  # recorded per scene; the others go on
                rows[i] = _error_row(jobs[i], err)
            bar.update(1)
        bar.close()
    finally:
        for obj in own:
            obj.close()
    return [r for r in rows if r is not None]


def merge_fields(
    parquets: Sequence[str | Path], output: str | Path, collection: str = "agriseg-fields"
) -> Path:
    """Merge per-scene fiboa GeoParquets into one (reprojected to EPSG:4326 when their CRSs differ)."""
    import geopandas as gpd
    import pandas as pd

    from agriseg.vector.fiboa import write_fields

    frames = []
    meta: dict[str, Any] = {}
    for p in parquets:
        df = gpd.read_parquet(p)
        import pyarrow.parquet as pq

        md = pq.read_schema(p).metadata or {}
        coll = json.loads(md.get(b"collection", b"{}"))
        for k in ("determination:method", "determination:datetime"):
            if k in coll and k not in df:
                df[k] = coll[k]
        frames.append(df)
        meta.update(coll)
    if not frames:
        raise ValueError(f"{output}: nothing to merge (no per-scene field files)")
    crss = {str(f.crs) for f in frames}
    if len(crss) > 1:
        frames = [f.to_crs(4326) for f in frames]
    merged = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
    if "determination:datetime" in merged:
        merged["determination:datetime"] = pd.to_datetime(merged["determination:datetime"], utc=True)
    merged["collection"] = collection
    return write_fields(merged, output, collection)


def run_map(
    scenes: Sequence[str | Path],
    outdir: str | Path,
    model: str | Path,
    backend: Backend = "dask",
    merged_name: str = "fields.parquet",
    **kwargs: Any,
) -> tuple[list[dict[str, Any]], Path | None]:
    """Predict + polygonise many scenes and merge their fields.

    Args:
        scenes: input GeoTIFFs.
        outdir: output folder (per-scene outputs + merged GeoParquet + ``summary.json``).
        model: model file.
        backend: ``dask`` (local cluster or ``scheduler=``) or ``serial``.
        merged_name: name of the merged GeoParquet in ``outdir``.
        **kwargs: ``SceneJob`` fields (predict, polygonize, resize, preprocess, overwrite, collection) and
            :func:`run_dask` options (scheduler, client, n_workers, threads_per_worker, processes, progress).

    Returns:
        The per-scene summary rows and the merged file (None when no scene succeeded).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    stems = [Path(s).stem for s in scenes]
    dup = {s for s in stems if stems.count(s) > 1}
    if dup:
        raise ValueError(f"{sorted(dup)[0]}: two scenes share this file name; outputs would collide")
    job_keys = {"predict", "polygonize", "resize", "preprocess", "overwrite", "collection"}
    jkw = {k: v for k, v in kwargs.items() if k in job_keys}
    rkw = {k: v for k, v in kwargs.items() if k not in job_keys}
    jobs = [SceneJob(str(s), str(outdir), str(model), **jkw) for s in scenes]
    t0 = time.perf_counter()
    if backend == "serial":
        rows = run_serial(jobs, progress=rkw.get("progress", True))
    else:
        rows = run_dask(jobs, **rkw)
    wall = time.perf_counter() - t0
    ok = [r["fields"] for r in rows if r.get("status") in ("done", "resumed", "skipped")]
    merged = merge_fields(ok, outdir / merged_name, jkw.get("collection", "agriseg-fields")) if ok else None
    summary = {"wall_s": wall, "scenes": rows, "merged": str(merged) if merged else None}
    write_json(outdir / "summary.json", summary)
    return rows, merged
