"""What ``agriseg fields download | predict | polygonize | run | map`` do, one function each.

Every one is a batch of :func:`agriseg.batch.run_batch` (one scene, raster or area per item), so they skip
finished outputs, resume, count and report failures the same way; ``map`` runs its scenes on a Dask cluster
(:class:`agriseg.batch.DaskCluster`) or in this process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agriseg.batch import BatchOptions, BatchResult, Item, run_batch, unique_names
from agriseg.config import OptionError
from agriseg.fields.config import DaskConfig, DownloadConfig, FieldsRunConfig, PredictConfig
from agriseg.fingerprint import Recipe
from agriseg.vector.config import PolygonizeConfig

# agriseg's versions of what each command writes from the same inputs and options (part of the fingerprints)
ALGORITHM = {"fields predict": "1", "fields polygonize": "1", "fields download": "1", "fields run": "1"}


@dataclass(frozen=True)
class SceneRequest:
    """Which Sentinel-2 scene to download: an area and two date ranges, or explicit items per window.

    Attributes:
        bbox: ``W,S,E,N`` in degrees, or a vector file (its bounds).
        win_a_dates: window A date range ``START/END``.
        win_b_dates: window B date range.
        win_a: window A item ids or URLs (instead of a search; several are mosaicked).
        win_b: window B items.
    """

    bbox: str | None = None
    win_a_dates: str | None = None
    win_b_dates: str | None = None
    win_a: tuple[str, ...] = ()
    win_b: tuple[str, ...] = ()

    def dates(self) -> dict[str, tuple[str, str] | None]:
        """``{"a": (start, end) or None, "b": ...}``."""
        from agriseg.fields.stac import parse_dates

        return {w: parse_dates(v) if v else None for w, v in (("a", self.win_a_dates), ("b", self.win_b_dates))}

    def check(self) -> None:
        """Each window needs its items, or the area with its dates.

        Raises:
            OptionError: naming the window and the options it needs.
        """
        dates = self.dates()
        for w, items in (("a", self.win_a), ("b", self.win_b)):
            if not items and (self.bbox is None or dates[w] is None):
                raise OptionError(f"window {w.upper()}: give --win-{w} ITEM, or --bbox with --win-{w}-dates")

    def options(self) -> dict[str, Any]:
        """The request as fingerprint options."""
        dates = self.dates()
        return {"bbox": self.bbox, "win_a_dates": dates["a"], "win_b_dates": dates["b"], "win_a": self.win_a,
                "win_b": self.win_b}  # fmt: skip


def _download_one(output: Path, cfg: DownloadConfig, request: SceneRequest, overwrite: bool, progress: bool) -> dict:
    from agriseg.fields.download import download_scene
    from agriseg.fields.stac import area_bbox

    dates = request.dates()
    res = download_scene(
        output,
        cfg,
        bbox=area_bbox(request.bbox) if request.bbox else None,
        win_a_dates=dates["a"],
        win_b_dates=dates["b"],
        win_a=request.win_a,
        win_b=request.win_b,
        overwrite=overwrite,
        progress=progress,
    )
    cover = ", ".join(f"{w.upper()} {v:.0%}" for w, v in res.valid_fraction.items())
    return {
        "scene": str(output),
        "status": res.status,
        "size": f"{res.width}x{res.height} px",
        "items": res.items,
        "valid": cover,
    }


def _downloads(items: list[Item], config: DownloadConfig, opts: BatchOptions) -> BatchResult:
    """Download the scene of each item (its ``payload``, a :class:`SceneRequest`) into its output."""

    def work(item: Item) -> dict:
        row = _download_one(item.outputs[0], config, item.payload, opts.overwrite, opts.progress)
        return {"area": item.name, **row, "error": ""}

    recipe = Recipe("fields download", ALGORITHM["fields download"], config.model_dump())
    return run_batch(
        items,
        work,
        options=opts,
        recipe=recipe,
        resume=lambda it: {"area": it.name, "scene": str(it.outputs[0]), "status": "skipped", "error": ""},
        failed=lambda it, msg: {"area": it.name, "scene": str(it.outputs[0]), "status": "error", "error": msg},
    )


def download(
    output: str | Path, config: DownloadConfig, request: SceneRequest, overwrite: bool = False, strict: bool = False
) -> BatchResult:
    """``agriseg fields download``: one two-window scene into ``output`` (an interrupted download resumes)."""
    request.check()
    output = Path(output)
    if output.suffix.lower() not in (".tif", ".tiff"):
        raise OptionError(f"{output}: the scene is a GeoTIFF, name it .tif")
    item = Item(output.stem, output, (output,), resolved=request.options(), payload=request)
    return _downloads([item], config, BatchOptions(overwrite, strict, True, "download", "scene"))


def load_predictor(model: str | Path, predict: PredictConfig, run: FieldsRunConfig) -> Any:
    """A :class:`agriseg.fields.predict.ScenePredictor` of ``model`` with ``run``'s preprocessing overrides."""
    import torch

    from agriseg.fields.checkpoints import load_for_scenes
    from agriseg.fields.config import PreprocessSpec
    from agriseg.fields.predict import ScenePredictor

    if run.threads:
        torch.set_num_threads(run.threads)
    loaded = load_for_scenes(str(model), resize=run.resize)
    spec = PreprocessSpec.model_validate({**loaded.preprocess.model_dump(), **run.preprocess()})
    return ScenePredictor(loaded.module, loaded.num_classes, spec, predict, loaded.class_names)


def predict(
    scenes: Sequence[str | Path],
    model: str | Path,
    predict: PredictConfig,
    run: FieldsRunConfig,
    output: str | Path | None = None,
    outdir: str | Path | None = None,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
) -> BatchResult:
    """``agriseg fields predict``: probability COGs of scenes, streamed strip by strip, resumable.

    Args:
        scenes: input GeoTIFFs.
        model: model file.
        predict: inference settings.
        run: preprocessing overrides and threads.
        output: the COG of a single scene.
        outdir: folder of ``<name>_probs.tif`` (names unique across the scenes); without it and ``output``,
            each ``<stem>_probs.tif`` goes next to its scene.
        overwrite: predict again over existing outputs.
        strict: stop at the first scene that fails.
        progress: show progress bars.
    """
    paths = [Path(s) for s in scenes]
    if output is not None and len(paths) > 1:
        raise OptionError(f"-o {output}: one output file for {len(paths)} scenes; use --outdir FOLDER")
    if output is not None:
        targets = {paths[0]: Path(output)}
    elif outdir is not None:
        names = unique_names(paths)
        targets = {p: Path(outdir) / f"{names[p]}_probs.tif" for p in paths}
    else:
        targets = {p: p.parent / f"{p.stem}_probs.tif" for p in paths}
    predictor = load_predictor(model, predict, run)
    items = [Item(t.stem, p, (t,), (p,)) for p, t in targets.items()]
    area = {"km2": 0.0}

    def work(item: Item) -> dict:
        res = predictor.predict(item.source, item.outputs[0], overwrite=overwrite)
        area["km2"] += res.area_km2
        return {"scene": str(item.source), "output": str(item.outputs[0]), "status": res.status,
                "blocks": res.blocks, "blocks_resumed": res.blocks_resumed, "km2": res.area_km2}  # fmt: skip

    options = {**predict.model_dump(exclude={"progress"}), **run.model_dump(exclude={"threads", "collection"})}
    result = run_batch(
        items,
        work,
        options=BatchOptions(overwrite, strict, progress and len(items) > 1, "predict", "scene"),
        recipe=Recipe("fields predict", ALGORITHM["fields predict"], options, model),
        resume=lambda it: {"scene": str(it.source), "output": str(it.outputs[0]), "status": "skipped"},
    )
    if area["km2"] and result.seconds > 0:
        result.note = f", {area['km2']:.1f} km2 at {area['km2'] / result.seconds:.2f} km2/s"
    return result


def polygonize(
    raster: str | Path,
    output: str | Path | None,
    config: PolygonizeConfig,
    collection: str,
    when: str | None = None,
    overwrite: bool = False,
    strict: bool = False,
) -> BatchResult:
    """``agriseg fields polygonize``: field polygons of a class / probability raster.

    Args:
        raster: the raster (``fields predict``'s COG, or a class raster).
        output: ``.parquet`` (fiboa GeoParquet), ``.gpkg``, ``.fgb`` or ``.geojson``; default
            ``<stem>_fields.parquet`` beside the raster.
        config: polygonisation settings.
        collection: fiboa collection id.
        when: ``determination:datetime`` (ISO 8601 UTC); default: the raster's latest window time.
        overwrite: replace an existing output.
        strict: a failure is raised instead of counted.
    """
    from agriseg.raster.io import parse_utc
    from agriseg.vector.api import polygonize as run
    from agriseg.vector.fiboa import output_format

    src = Path(raster)
    out = Path(output) if output else src.with_name(f"{src.stem}_fields.parquet")
    output_format(out)
    determined = parse_utc(when, "--datetime") if when else None

    def work(item: Item) -> dict:
        df = run(src, out, config, collection=collection, determined=determined)
        return {"raster": str(src), "output": str(out), "status": "ok", "fields": len(df),
                "raw_polygons": df.attrs["raw_polygons"]}  # fmt: skip

    options = {**config.model_dump(exclude={"progress", "workers", "block_size"}), "collection": collection}
    options["determined"] = when
    inputs = [config.landcover] if config.landcover else []
    return run_batch(
        [Item(out.stem, src, (out,), (src,))],
        work,
        options=BatchOptions(overwrite, strict, False, "polygonize", "raster"),
        recipe=Recipe("fields polygonize", ALGORITHM["fields polygonize"], options, None, inputs),
    )


def run_area(
    outdir: str | Path,
    name: str,
    download_config: DownloadConfig,
    request: SceneRequest,
    model: str | Path,
    predict: PredictConfig,
    polygons: PolygonizeConfig,
    run: FieldsRunConfig,
    overwrite: bool = False,
    strict: bool = False,
) -> BatchResult:
    """``agriseg fields run``: an area and two date ranges -> ``<name>.tif``, ``_probs.tif``, ``_fields.parquet``."""
    import torch

    from agriseg.fields.mapping.scene import SceneJob, run_scene

    request.check()
    outdir = Path(outdir)
    scene = outdir / f"{name}.tif"
    job = SceneJob(
        str(scene),
        str(outdir),
        str(model),
        predict=predict,
        polygonize=polygons,
        resize=run.resize,
        preprocess=run.preprocess(),
        threads=run.threads or torch.get_num_threads(),
        overwrite=overwrite,
        collection=run.collection,
    )

    def work(item: Item) -> dict:
        if run.threads:
            torch.set_num_threads(run.threads)
        row = _download_one(scene, download_config, request, overwrite, True)
        return {**run_scene(job), "download": row}

    from agriseg.fields.mapping.runner import scene_recipe

    recipe = scene_recipe(job)
    recipe.command, recipe.algorithm = "fields run", ALGORITHM["fields run"]
    recipe.options = {**recipe.options, **download_config.model_dump(), **request.options()}
    return run_batch(
        [Item(name, request.bbox or name, (scene, *job.outputs()))],
        work,
        options=BatchOptions(overwrite, strict, False, "run", "area"),
        recipe=recipe,
        resume=lambda it: {
            "scene": str(scene),
            "probs": str(job.outputs()[0]),
            "fields": str(job.outputs()[1]),
            "status": "skipped",
        },  # fmt: skip
    )


def download_areas(
    areas: str | Path, folder: str | Path, config: DownloadConfig, request: SceneRequest, overwrite: bool = False,
    strict: bool = False,
) -> BatchResult:  # fmt: skip
    """Download one scene per feature of a vector file (its bounds), going on past areas that fail.

    Scenes are named after the features' ``id`` column when there is one, else ``area<row>``.

    Returns:
        One row per area: ``area``, ``scene`` (path), ``status`` (done/resumed/skipped/error), ``error``.

    Raises:
        ValueError: an unreadable vector file or one without features or CRS.
        OptionError: no date ranges.
    """
    import re

    from agriseg.fields.stac import read_areas

    dates = request.dates()
    if dates["a"] is None or dates["b"] is None:
        raise OptionError("--areas needs --win-a-dates and --win-b-dates")
    df = read_areas(areas)
    names = [re.sub(r"[^A-Za-z0-9_.-]+", "_", str(v)) for v in df["id"]] if "id" in df else None
    items = []
    for i, geom in enumerate(df.geometry):
        name = names[i] if names else f"area{i}"
        area = SceneRequest(",".join(str(v) for v in geom.bounds), request.win_a_dates, request.win_b_dates)
        items.append(Item(name, name, (Path(folder) / f"{name}.tif",), resolved=area.options(), payload=area))
    return _downloads(items, config, BatchOptions(overwrite, strict, len(items) > 1, "download", "area"))


def map_scenes(
    scenes: Sequence[str | Path],
    outdir: str | Path,
    model: str | Path,
    predict: PredictConfig,
    polygons: PolygonizeConfig,
    run: FieldsRunConfig,
    dask: DaskConfig,
    areas: str | Path | None = None,
    download_config: DownloadConfig | None = None,
    request: SceneRequest | None = None,
    overwrite: bool = False,
    strict: bool = False,
) -> tuple[BatchResult, Path | None]:
    """``agriseg fields map``: predict + polygonise many scenes (Dask tasks, or serially); one merged file.

    With ``areas``, each area's scene is first downloaded into ``<outdir>/scenes`` and mapped too; areas
    whose download failed are counted as failed items.

    Returns:
        Every item's outcome (failed downloads, then the scenes) and the merged GeoParquet (None if no scene
        succeeded).
    """
    from agriseg.fields.mapping.runner import run_map

    if not Path(str(model)).is_file():
        raise FileNotFoundError(f"{model}: model file not found")
    scene_list = [str(s) for s in scenes]
    downloads = BatchResult([], unit="scene")
    if areas:
        config = download_config or DownloadConfig()
        downloads = download_areas(areas, Path(outdir) / "scenes", config, request or SceneRequest(), overwrite, strict)
        scene_list += [r["scene"] for r in downloads if r["status"] != "error"]
        downloads = BatchResult([o for o in downloads.outcomes if o.status == "failed"], unit="scene")
        if not scene_list:
            raise ValueError("no scene to map: every area failed (" + "; ".join(downloads.failures) + ")")
    elif not scene_list:
        raise OptionError("give SCENES, or --areas with --win-a-dates and --win-b-dates")
    common = dict(predict=predict, polygonize=polygons, resize=run.resize, preprocess=run.preprocess(),
                  overwrite=overwrite, collection=run.collection, strict=strict)  # fmt: skip
    if dask.serial:
        rows, merged = run_map(scene_list, outdir, str(model), backend="serial", **common)
    else:
        rows, merged = run_map(
            scene_list,
            outdir,
            str(model),
            backend="dask",
            scheduler=dask.scheduler,
            n_workers=dask.workers,
            threads_per_worker=dask.threads_per_worker,
            **common,
        )
    return downloads + rows, merged
