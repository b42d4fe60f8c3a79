"""Running many scenes through the batch runner: serially in-process, or as Dask tasks on a cluster.

Each scene is one item of :func:`agriseg.batch.run_batch`; ``run_dask`` runs them on
:class:`agriseg.batch.DaskCluster`, which starts a local cluster (``n_workers`` processes,
``threads_per_worker`` threads each) unless a scheduler address or an existing ``Client`` is given. Each
scene is one task (:func:`run_scene`), so a failed or killed worker only costs its scene, and re-running
skips finished scenes. The per-scene
GeoParquets are merged into one fiboa GeoParquet at the end, with each field of overlapping scenes once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from agriseg.batch import BatchOptions, BatchResult, DaskCluster, Executor, Item, Serial, run_batch
from agriseg.config import OptionError
from agriseg.data.files import write_json
from agriseg.fields.mapping.scene import SceneJob, run_scene
from agriseg.fields.registry import known_resize, resize_option
from agriseg.fingerprint import Recipe
from agriseg.manifest import remove_unused, seal_tables

Backend = Literal["serial", "dask"]


# agriseg's version of what a scene task writes from a scene, model and options (part of every fingerprint)
# 2: fields of Web Mercator scenes measured in metres of ground; holes filled on geographic CRSs keep shared edges;
# 3: the arcs of fields whose edges crossed are simplified less, step by step (they were left unsimplified)
ALGORITHM = "3"


MERGED_NAME = "fields.parquet"  # the merged GeoParquet of `fields map` in its output folder
SUMMARY_NAME = "summary.json"  # ... and its table of scenes


def _error_row(item: Item, message: str) -> dict[str, Any]:
    return {"scene": str(item.source), "status": "error", "error": message, "seconds": 0.0}


def _done_row(item: Item, earlier: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The row of a scene mapped before, read back (as a fresh run writes it, without the timings), with the
    land-cover record of ``earlier`` (its row in the earlier run's summary, an unchanged re-run dropped it);
    None when its outputs cannot be read (the scene is mapped again)."""
    import pyarrow.parquet as pq
    import rasterio

    from agriseg.raster.io import pixel_area_m2

    probs, fields = item.outputs
    try:  # the footer only: a resumed map of many scenes does not read every scene's polygons to count them
        count = pq.read_metadata(fields).num_rows
        with rasterio.open(probs) as ds:  # the header only: the area a fresh row gives
            km2 = pixel_area_m2(ds.crs, ds.transform, ds.height, ds.width) * ds.width * ds.height / 1e6
            km2 = float(ds.tags().get("agriseg_valid_km2", km2))  # instance rasters: their valid pixels only
    except (OSError, ValueError, rasterio.errors.RasterioError):  # ArrowInvalid (not a parquet file) is a ValueError
        return None
    row = {"scene": str(item.source), "probs": str(probs), "fields": str(fields), "error": "", "status": "skipped",
           "fields_count": count, "predict_s": 0.0, "polygonize_s": 0.0, "seconds": 0.0, "area_km2": km2}  # fmt: skip
    same = earlier and Path(str(earlier.get("fields"))).resolve() == Path(fields).resolve()  # -o given another way
    if earlier and same and isinstance(earlier.get("landcover"), dict):
        row["landcover"] = earlier["landcover"]
    return row


def _earlier_scenes(tables: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """The scene rows, by scene, of the ``summary.json`` among ``tables`` an earlier run wrote (not one edited
    since, nor a file of yours)."""
    from agriseg.manifest import own_table

    summary = next((Path(t) for t in tables if Path(t).name == SUMMARY_NAME), None)
    if summary is None or not own_table(summary):
        return {}
    try:
        rows = json.loads(summary.read_text(encoding="utf-8")).get("scenes")
    except (OSError, ValueError, AttributeError):
        return {}
    ok = [r for r in rows or [] if isinstance(r, dict) and isinstance(r.get("scene"), str)]
    return {str(Path(r["scene"]).resolve()): r for r in ok}


def _run_item(item: Item) -> dict[str, Any]:
    """The task of one scene item (a module-level function, so Dask workers can import it).

    The runner hands it only scenes to remake, so outputs already there are stale (:meth:`Item.replaces`),
    except probabilities this scene's prediction made with the same settings, which an interruption while the
    polygons were written leaves complete (kept unless the user asked for ``--overwrite``).
    """
    job: SceneJob = item.payload
    with _warnings_kept() as said:
        row = run_scene(replace(job, overwrite=item.replaces(job.overwrite), keep_current=not job.overwrite))
    return {**row, "warnings": said} if said else row


@contextmanager
def _warnings_kept() -> Iterator[list[str]]:
    """agriseg's warnings while a scene runs, kept for its row instead of printed: a Dask worker's log lines
    never reached the user (a scene with the baseline offset left in was mapped without a word), and the
    parent prints every row's warnings with the summary, once, wherever the scene ran."""
    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    def below_warning(record: logging.LogRecord) -> bool:  # -v's debug lines still print as the scene runs
        return record.levelno < logging.WARNING

    log, handler = logging.getLogger("agriseg"), Keep(logging.WARNING)
    shown = list(log.handlers)  # -v's handler: a warning printed now would print again with the summary
    for h in shown:
        h.addFilter(below_warning)
    log.addHandler(handler)
    try:
        yield said
    finally:
        log.removeHandler(handler)
        for h in shown:
            h.removeFilter(below_warning)


def scene_recipe(job: SceneJob) -> Recipe:
    """What the fingerprints of scene tasks share: the model and the options that change the outputs."""

    def options(resize: float | None) -> dict[str, Any]:
        return {
            "predict": job.predict.model_dump(exclude={"progress", "device", "batch_size"}),
            "polygonize": job.polygonize.fingerprint(),
            "resize": resize,
            "preprocess": dict(job.preprocess),
            "collection": job.collection,
            **resize_option(job.model, resize),
        }

    inputs = [job.polygonize.landcover] if job.polygonize.landcover else []
    # `--resize 2` on a model that runs at 2 anyway makes the same outputs as no --resize: recorded as not given,
    # so either resumes the other (outputs an earlier agriseg recorded with the value typed resume too)
    if job.resize is not None and float(job.resize) == known_resize(job.model):
        return Recipe("fields map", ALGORITHM, options(None), job.model, inputs, same_as=[options(job.resize)])
    return Recipe("fields map", ALGORITHM, options(job.resize), job.model, inputs)


def run_jobs(
    jobs: Sequence[SceneJob],
    executor: Executor | None = None,
    progress: bool = True,
    strict: bool = False,
    tables: Sequence[Path] = (),
    finish: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """Run scene jobs through :func:`agriseg.batch.run_batch` (one item per scene, outputs named by the job).

    Args:
        jobs: scene jobs (one output folder; their ``overwrite`` applies to all).
        executor: where the tasks run (default: this process, one after another).
        progress: show a tqdm bar.
        strict: stop at the first scene that fails.
        tables: the files written from all scenes after the batch (the merged GeoParquet, ``summary.json``):
            checked before any scene runs, removed when one does (see :func:`agriseg.batch.run_batch`).
        finish: writes those tables from the result while the output folder is still locked.

    Returns:
        One summary row per scene, in input order (failed scenes have ``status="error"``).
    """
    from agriseg.raster.io import scene_reading_rules

    items = [
        Item(j.output_name(), j.scene, j.outputs(), (Path(j.scene),), resolved=scene_reading_rules(j.scene), payload=j)
        for j in jobs
    ]
    earlier = _earlier_scenes(tables)  # read before the batch, which removes its tables when a scene runs
    try:
        result = run_batch(
            items,
            _run_item,
            executor=executor,
            options=BatchOptions(any(j.overwrite for j in jobs), strict, progress, "scenes", "scene"),
            recipe=scene_recipe(jobs[0]) if jobs else None,
            resume=lambda it: _done_row(it, earlier.get(str(Path(it.source).resolve()))),
            failed=_error_row,
            tables=tables,
            finish=finish,
        )
        result.notes += [f"warning: {w}" for row in result for w in row.get("warnings", [])]
        return result
    finally:  # workers stopped by a Ctrl-C leave their scenes' lock files; none of ours runs any more
        from agriseg.fields.predict import remove_unheld_lock

        for it in items:
            remove_unheld_lock(it.outputs[0])


def run_serial(
    jobs: Sequence[SceneJob],
    progress: bool = True,
    strict: bool = False,
    tables: Sequence[Path] = (),
    finish: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """Run scene jobs one after another in this process (see :func:`run_jobs`)."""
    return run_jobs(jobs, Serial(), progress, strict, tables, finish)


def run_dask(
    jobs: Sequence[SceneJob],
    scheduler: str | None = None,
    client: Any = None,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    processes: bool = True,
    memory_limit: str | None = "auto",
    progress: bool = True,
    strict: bool = False,
    tables: Sequence[Path] = (),
    finish: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """Run scene jobs as Dask tasks (see :func:`run_jobs` and :class:`agriseg.batch.DaskCluster`).

    Args:
        jobs: scene jobs (their ``threads`` is set to ``threads_per_worker``).
        scheduler: address of a running scheduler (``tcp://host:8786``); None = a local cluster.
        client: an existing ``distributed.Client`` (takes precedence; left open).
        n_workers: workers of the local cluster.
        threads_per_worker: Dask and torch threads per worker.
        processes: local cluster workers as processes (True) or threads of this process.
        memory_limit: per-worker memory limit of the local cluster.
        progress: show a tqdm bar as scenes complete.
        strict: stop at the first scene that fails (the others are cancelled).
        tables: see :func:`run_jobs`.

    Returns:
        One summary row per scene, in input order (failed scenes have ``status="error"``).
    """
    jobs = [replace(j, threads=threads_per_worker) for j in jobs]
    cluster = DaskCluster(client, scheduler, n_workers, threads_per_worker, processes, memory_limit)
    return run_jobs(jobs, cluster, progress, strict, tables, finish)


def merge_fields(
    parquets: Sequence[str | Path],
    output: str | Path,
    collection: str = "agriseg-fields",
    rasters: Sequence[str | Path] | None = None,
    min_overlap: float = 0.1,
) -> Path:
    """Merge per-scene fiboa GeoParquets into one, writing fields found in overlapping scenes once.

    Args:
        parquets: per-scene field files.
        output: merged GeoParquet.
        collection: fiboa collection id of the merged file.
        rasters: each scene's raster (same order), whose extent decides which copy of a duplicated field
            is kept (the one farthest inside its scene); None = the file extents of the fields.
        min_overlap: fields of different scenes overlapping by more than this fraction of the smaller
            one are the same field.

    Frames are reprojected to EPSG:4326 when their CRSs differ (duplicates are found in the first
    frame's local UTM zone then).
    """
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq
    import shapely

    from agriseg.fields.mapping.dedupe import resolve_overlaps, scene_footprint
    from agriseg.vector.fiboa import write_fields
    from agriseg.vector.geometry import clean_fields

    frames = []
    meta: dict[str, Any] = {}
    for p in parquets:
        df = gpd.read_parquet(p)
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
    work = frames[0].crs
    found = [f for f in frames if len(f)]
    if len(crss) > 1 and found:  # a UTM zone needs geometry to estimate from; with no fields any CRS will do
        work = found[0].to_crs(4326).estimate_utm_crs()
    local = [f.to_crs(work) if len(crss) > 1 else f for f in frames]
    if rasters is not None:
        footprints = [scene_footprint(str(r), work) for r in rasters]
    else:
        from shapely.geometry import Polygon, box

        footprints = [box(*f.total_bounds) if len(f) else Polygon() for f in local]  # a scene with no fields: none
    scene = np.concatenate([np.full(len(f), i) for i, f in enumerate(local)])
    both = gpd.GeoDataFrame(pd.concat(local, ignore_index=True), crs=work)
    keep, geoms = resolve_overlaps(both, scene, footprints, min_overlap)
    # the fields that gave up a part a neighbour of another scene holds
    trimmed = np.flatnonzero(keep & ~shapely.equals_exact(geoms, both.geometry.to_numpy(), tolerance=0.0))
    if len(trimmed):
        _, area, perimeter, _ = clean_fields(geoms[trimmed], work, min_area_m2=0.0, fill_holes_m2=0.0)
        both = both.set_geometry(gpd.GeoSeries(geoms, index=both.index, crs=work))
        for column, value in (("metrics:area", area), ("metrics:perimeter", perimeter)):
            both.loc[trimmed, column] = value.astype(both[column].dtype)  # float32, as fiboa writes them
    merged = both[keep].reset_index(drop=True)
    if len(crss) > 1:  # the one reprojection to WGS 84: fields across the 180th meridian cut there
        from agriseg.vector.geojson import to_wgs84

        wgs84 = to_wgs84(merged.geometry.to_numpy(), merged.crs)
        merged = merged.set_geometry(gpd.GeoSeries(wgs84, index=merged.index, crs=4326))
    if "determination:datetime" in merged:
        merged["determination:datetime"] = pd.to_datetime(merged["determination:datetime"], utc=True)
    merged["collection"] = collection
    merged.attrs["duplicates_removed"] = int((~keep).sum())
    merged.attrs["overlaps_trimmed"] = len(trimmed)
    return write_fields(merged, output, collection)


def _inputs_record(model: str | Path, polygonize: Any) -> dict[str, Any]:  # noqa: ANN401 - a PolygonizeConfig
    """What ``summary.json`` records of the run's model and land-cover source, as ``fields run``'s ``_run.json``
    does: :func:`agriseg.fields.registry.model_record`, and ``{"file": ...}`` or ``{"source": ...}`` (a land-cover
    product fetched by STAC) for ``--landcover``."""
    from agriseg.fields.registry import model_record

    landcover = getattr(polygonize, "landcover", None)
    if landcover:
        landcover = {"file" if Path(landcover).is_file() else "source": str(landcover)}
    return {"model": model_record(model), "landcover": landcover or None}


def run_map(
    scenes: Sequence[str | Path],
    outdir: str | Path,
    model: str | Path,
    backend: Backend = "dask",
    merged_name: str = MERGED_NAME,
    downloads: BatchResult | None = None,
    **kwargs: Any,
) -> tuple[BatchResult, Path | None]:
    """Predict + polygonise many scenes and merge their fields.

    Args:
        scenes: input GeoTIFFs.
        outdir: output folder (per-scene outputs + merged GeoParquet + ``summary.json``).
        model: model file.
        backend: ``dask`` (local cluster or ``scheduler=``) or ``serial``.
        merged_name: name of the merged GeoParquet in ``outdir``.
        downloads: the areas whose scene could not be downloaded (``fields map --areas``): listed first in
            ``summary.json``, as the scenes that failed are.
        **kwargs: ``SceneJob`` fields (predict, polygonize, resize, preprocess, overwrite, collection),
            :func:`run_dask` options (scheduler, client, n_workers, threads_per_worker, processes, progress) and
            ``strict`` (serial: stop at the first failed scene).

    Scenes sharing a file name get distinct output names (:func:`agriseg.batch.unique_names`).

    Returns:
        The per-scene summary rows and the merged file (None when no scene succeeded).
    """
    from agriseg.batch import unique_names

    outdir = Path(outdir)
    made_here = not outdir.exists()
    outdir.mkdir(parents=True, exist_ok=True)
    names = unique_names(scenes, outdir, "fields map")  # the names an earlier run gave are kept
    job_keys = {
        "predict", "polygonize", "resize", "preprocess", "overwrite", "collection", "model_sha256", "landcover_stac",
        "landcover_retries",
    }  # fmt: skip
    jkw = {k: v for k, v in kwargs.items() if k in job_keys}
    rkw = {k: v for k, v in kwargs.items() if k not in job_keys}
    # a scheduler's workers run in their own working folders (often on other machines sharing the files): they
    # get absolute paths; a local cluster's and the serial run's keep the paths as typed, for their messages
    remote = rkw.get("scheduler") is not None or rkw.get("client") is not None

    def where(p: str | Path) -> str:
        return str(Path(p).absolute()) if remote and (p == outdir or Path(p).exists()) else str(p)

    poly = jkw.get("polygonize")
    if remote and poly is not None and getattr(poly, "landcover", None) and Path(poly.landcover).is_file():
        jkw["polygonize"] = poly.model_copy(update={"landcover": where(poly.landcover)})  # a land-cover file
    jobs = [SceneJob(where(s), where(outdir), where(model), name=names[Path(s)], **jkw) for s in scenes]
    if poly is not None:  # a file of yours where a scene's land cover goes, by the names the outputs get: now
        from agriseg.fields.landcover import check_landcover_output

        for j in jobs:
            check_landcover_output(poly, j.outputs()[0], outdir, bool(jkw.get("overwrite")))
    t0 = time.perf_counter()
    tables = [outdir / merged_name, outdir / SUMMARY_NAME]
    merged: list[Path | None] = [None]

    def finish(rows: BatchResult) -> None:  # run while the folder is still locked
        wall = time.perf_counter() - t0
        ok = [r for r in rows if r.get("status") in ("ok", "resumed", "skipped")]
        if ok:
            merged[0] = merge_fields(
                [r["fields"] for r in ok],
                outdir / merged_name,
                jkw.get("collection", "agriseg-fields"),
                rasters=[r["probs"] for r in ok],
            )
            # scenes whose fields an earlier run made, refused now (other settings, an input changed since): not
            # in the merged file, which summary.json lists them beside (session 93's sweep)
            done = ("ok", "resumed", "skipped")
            # (a file of yours under a scene's fields name is no output of other settings: its failure says so)
            kept = [Path(j.scene).name for j, r in zip(jobs, rows, strict=True)
                    if r.get("status") not in done and j.outputs()[1].exists()
                    and "not written by" not in str(r.get("error", ""))]  # fmt: skip
            if kept:
                from agriseg.batch import counted
                from agriseg.batch import listed as named

                rows.notes.append(
                    f"{outdir / merged_name}: {counted(len(kept), 'scene')} left out ({named(kept, 3)}): their fields "
                    "were made with other settings or inputs (kept as they are; --overwrite makes them again)"
                )
        listed = downloads + rows if downloads is not None else rows  # an area that failed is said there too
        summary = {"wall_s": round(wall, 3), "scenes": list(listed), "merged": str(merged[0]) if merged[0] else None,
                   "notes": listed.notes, **_inputs_record(model, jkw.get("polygonize"))}  # fmt: skip
        write_json(outdir / SUMMARY_NAME, summary)
        seal_tables(tables)  # a later run keeps a table edited since (or a file of yours put there) and says so

    try:
        if backend == "serial":
            rows = run_serial(jobs, rkw.get("progress", True), rkw.get("strict", False), tables, finish)
        else:
            rows = run_dask(jobs, **rkw, tables=tables, finish=finish)
    except OptionError:  # e.g. no scheduler at --scheduler: the output folder it made is not left behind
        if made_here:
            remove_unused(outdir)
        raise
    return rows, merged[0]
