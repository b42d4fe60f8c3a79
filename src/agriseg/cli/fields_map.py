"""``agriseg fields predict | polygonize | map | change``: scenes to field polygons, one or many (Dask)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.fields_models import MODEL_HELP, resolve_model_option
from agriseg.cli.fields_stac_options import date_options, stac_options
from agriseg.cli.options import choice_options, config_from_params, outdir_option, overwrite_option, stack

TTA_CHOICES = ("flip_h", "flip_v", "swap_windows")


_predict_options = stack(
    click.option(
        "--model",
        "-m",
        "model",
        required=True,
        type=click.Path(dir_okay=False),
        callback=resolve_model_option,
        help=MODEL_HELP,
    ),
    click.option("--patch-size", default=256, show_default=True, help="patch side in scene pixels"),
    click.option("--overlap", default=0.25, show_default=True, help="patch overlap fraction"),
    click.option("--blend", type=click.Choice(["gaussian", "mean"]), default="gaussian", show_default=True),
    click.option("--batch-size", default=4, show_default=True, help="patches per forward pass"),
    click.option(
        "--resize",
        type=float,
        default=None,
        help="patch resize factor before the model [default: 2 for ftw checkpoints, else 1]",
    ),
    click.option("--tta", type=click.Choice(TTA_CHOICES), multiple=True, help="test-time augmentation(s)"),
    click.option(
        "--divisor",
        type=float,
        default=None,
        help="reflectance x10000 divisor [default: the model's; FTW 3000]",
    ),
    click.option("--swap-input-windows", is_flag=True, help="feed window B before window A"),
    choice_options(
        "",
        ("--offset", ("auto", "none", "apply"), "auto", "Sentinel-2 BOA_ADD_OFFSET (-1000 from baseline 04.00)"),
        ("--nan", ("error", "mask"), "error", "NaN pixels not declared nodata"),
        ("--precision", ("fp32", "bf16"), "fp32", "bf16 autocast"),
        (
            "--optimize",
            ("onnxruntime", "jit", "none"),
            "onnxruntime",
            "how the model runs: ONNX Runtime (exported once per patch size, cached), TorchScript, PyTorch eager",
        ),
    ),
    click.option("--device", default="cpu", show_default=True),
    click.option("--threads", default=0, show_default=True, help="torch threads (0 = torch default)"),
    click.option(
        "--sha256",
        default=None,
        help="SHA-256 the pickled model file (.pt, DelineateAnything) must have; instead of "
        "`agriseg fields models trust`",
    ),
)


class MissingExtra(click.ClickException):
    """An optional dependency group is missing: a usage problem (exit 2), with the pip command."""

    exit_code = 2


def check_model_trust(model: str, sha256: str | None) -> str | None:
    """A pickled (``.pt``) model must be trusted and ultralytics installed; returns its SHA-256 (else None).

    Raises:
        MissingExtra: ultralytics missing (exit 2, names ``pip install "agriseg[delineate]"``).
        click.ClickException: an untrusted pickle (one line naming the trust command).
    """
    from agriseg.fields.delineate import MissingExtraError, import_ultralytics, is_instance_model
    from agriseg.fields.registry import spec_for
    from agriseg.fields.trust import require_trusted

    if not Path(model).is_file():
        raise FileNotFoundError(f"{model}: model file not found")
    if not is_instance_model(model):
        return None
    spec = spec_for(model)
    try:
        import_ultralytics()
    except MissingExtraError as err:
        raise MissingExtra(str(err)) from err
    return require_trusted(model, sha256, spec.name if spec else None)


def _classes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """A comma-separated list of land-cover class values."""
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError as err:
        raise click.BadParameter(f"{value!r}: give class values as integers, e.g. 40 or 10,40") from err


_polygon_options = stack(
    choice_options(
        "",
        ("--separation", ("watershed", "components"), "watershed", "split touching fields, or 4-connected regions"),
    ),
    click.option("--core-threshold", default=0.7, show_default=True),
    click.option("--poly-block-size", default=2048, show_default=True, help="polygonisation block side"),
    click.option(
        "--simplify",
        type=float,
        default=None,
        help="tolerance of the field edges (each shared edge simplified once for both fields): metres on "
        "projected CRSs, the raster's units on geographic ones; 0 = unsimplified sub-pixel outlines "
        "[default: 1 pixel]",
    ),
    click.option(
        "--split-boundary",
        "split_boundary_px",
        default=2.0,
        show_default=True,
        help="boundary pixels within this many pixels of a field are split between the nearest fields, so "
        "touching fields share one edge (0 = keep the boundary gap between them)",
    ),
    click.option("--min-area", "min_area_m2", default=500.0, show_default=True, help="m2"),
    click.option("--max-area", "max_area_m2", default=0.0, show_default=True, help="m2 (0 = no limit)"),
    click.option(
        "--min-confidence", default=0.0, show_default=True, help="minimum mean field probability (0 = keep all)"
    ),
    click.option("--fill-holes", "fill_holes_m2", default=1000.0, show_default=True, help="m2"),
    click.option(
        "--landcover",
        default=None,
        help="land cover fields must lie on: esa-worldcover or io-lulc (found by STAC for the scene, cropland "
        "kept) or a class raster file (any CRS)",
    ),
    click.option(
        "--landcover-keep",
        default="",
        callback=_classes,
        help="allowed land-cover classes, e.g. 40 [default with esa-worldcover: 40, io-lulc: 5]",
    ),
    click.option(
        "--landcover-drop", default="", callback=_classes, help="forbidden classes (when --landcover-keep is empty)"
    ),
    click.option(
        "--landcover-min-fraction",
        default=0.5,
        show_default=True,
        help="share of a field's land-cover pixels that must be allowed",
    ),
    click.option(
        "--landcover-stac-url",
        default="planetary-computer",
        show_default=True,
        help="STAC API of --landcover esa-worldcover / io-lulc: planetary-computer, or its URL",
    ),
    click.option("--collection", default="agriseg-fields", show_default=True, help="fiboa collection id"),
)


def _preprocess_overrides(kw: dict) -> dict[str, object]:
    """CLI options that override the model's preprocessing spec (only those the user set)."""
    update: dict[str, object] = {"offset": kw["offset"]}
    if kw["divisor"] is not None:
        update["divisor"] = kw["divisor"]
    if kw["swap_input_windows"]:
        update["swap_input_windows"] = True
    return update


def _configs(kw: dict) -> tuple[object, object]:
    from agriseg.vector.config import PolygonizeConfig

    pc = None
    if "patch_size" in kw:  # the prediction config imports torch: only commands that predict pay for it
        from agriseg.fields.config import PredictConfig

        pc = config_from_params(PredictConfig, kw)
    vc = config_from_params(PolygonizeConfig, kw, {"poly_block_size": "block_size"}) if "separation" in kw else None
    return pc, vc


@click.command()
@click.argument("scenes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--output",
    "-o",
    default=None,
    type=click.Path(),
    help="output COG (one scene) or folder (several scenes: <stem>_probs.tif) [default: <stem>_probs.tif "
    "next to each scene]",
)
@_predict_options
@overwrite_option("recompute existing outputs")
@click.option(
    "--strict", is_flag=True, help="Stop at the first scene that fails (otherwise it is reported and skipped)."
)
@friendly_errors
def predict(scenes: tuple[str, ...], output: str | None, overwrite: bool, strict: bool, **kw: object) -> None:
    """Predict field probabilities of Sentinel-2 scenes into Cloud-Optimized GeoTIFFs.

    Streams the scene one patch row at a time (full-width strips with a halo), blends overlapping patches
    with Gaussian weights, and resumes an interrupted run.
    Output bands: class, then one uint8 probability band per class (x255); NoData 255.
    """
    import torch

    from agriseg.data.io import output_names

    if kw["threads"]:
        torch.set_num_threads(int(kw["threads"]))
    model = str(kw["model"])
    check_model_trust(model, kw["sha256"])
    predictor, kind = _scene_predictor(model, kw)
    out = Path(output) if output else None
    many = out is None or len(scenes) > 1 or out.suffix.lower() not in (".tif", ".tiff")
    names = output_names([Path(s) for s in scenes]) if out is not None else {Path(s): Path(s).stem for s in scenes}
    failed = 0
    for s in scenes:
        folder = out if out is not None else Path(s).parent
        target = folder / f"{names[Path(s)]}_{kind}.tif" if many else out
        try:
            res = predictor.predict(s, target, overwrite=overwrite)
        except (ValueError, OSError) as err:
            if strict:
                raise
            failed += 1
            click.echo(f"  failed: {err}", err=True)
            continue
        if res.status == "skipped":
            click.echo(f"{target}: exists, skipped (use --overwrite)")
        elif kind == "instances":
            click.echo(
                f"{target}: {res.status}, {res.patches} patches, {res.detections} detections -> {res.fields} fields, "
                f"{res.area_km2:.1f} km2 in {res.seconds:.1f} s"
            )
        else:
            click.echo(
                f"{target}: {res.status}, {res.blocks} patch rows ({res.blocks_resumed} resumed), "
                f"{res.area_km2:.1f} km2 in {res.seconds:.1f} s = {res.km2_per_s:.2f} km2/s"
            )
    if failed:
        click.echo(f"{failed} of {len(scenes)} scenes failed", err=True)
        raise SystemExit(1)


def _scene_predictor(model: str, kw: dict) -> tuple[Any, str]:
    """The predictor of a model file and its output kind (``probs`` or ``instances``)."""
    from agriseg.fields.delineate import is_instance_model

    pc, _ = _configs(kw)
    if is_instance_model(model):
        from dataclasses import replace

        from agriseg.fields.delineate import InstanceConfig, InstancePredictor, load_yolo
        from agriseg.fields.registry import spec_for

        spec = spec_for(model)
        cfg = replace(
            InstanceConfig(),
            patch_size=pc.patch_size,
            batch_size=pc.batch_size,
            device=pc.device,
            resize=kw["resize"] or 2.0,
            offset=kw["offset"],
            **({"divisor": kw["divisor"]} if kw["divisor"] is not None else {}),
        )
        yolo = load_yolo(model, kw["sha256"], spec.name if spec else None)
        return InstancePredictor(yolo, cfg, spec.name if spec else Path(model).name), "instances"
    from agriseg.fields.checkpoints import load_for_scenes
    from agriseg.fields.predict import ScenePredictor

    loaded = load_for_scenes(model, resize=kw["resize"])
    spec = loaded.preprocess.model_copy(update=_preprocess_overrides(kw))
    return ScenePredictor(loaded.module, loaded.num_classes, spec, pc, loaded.class_names), "probs"


@click.command()
@click.argument("raster", type=click.Path(dir_okay=False))
@click.option(
    "--output",
    "-o",
    default=None,
    type=click.Path(),
    help=".parquet (fiboa GeoParquet), .gpkg, .fgb or .geojson [default: <stem>_fields.parquet]",
)
@_polygon_options
@click.option(
    "--datetime",
    "when",
    default=None,
    help="determination:datetime, ISO 8601 UTC [default: the raster's latest WIN_A/WIN_B_DATETIME tag; "
    "left out when it has none]",
)
@overwrite_option()
@friendly_errors
def polygonize(
    raster: str, output: str | None, overwrite: bool, collection: str, when: str | None, **kw: object
) -> None:
    """Polygonise a class / probability raster (or an instance raster) into field polygons, blockwise and seamless.

    Instance rasters (DelineateAnything's <stem>_instances.tif) keep their fields as they are: every id is
    one field. With --landcover esa-worldcover or io-lulc the land cover of the raster's extent is fetched
    by STAC into <stem>_landcover.tif next to the output.
    """
    from agriseg.fields.landcover import landcover_config
    from agriseg.raster.io import parse_utc
    from agriseg.vector.api import is_instance_raster, polygonize_labels
    from agriseg.vector.api import polygonize as run
    from agriseg.vector.fiboa import output_format

    src = Path(raster)
    out = Path(output) if output else src.with_name(f"{src.stem}_fields.parquet")
    output_format(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: exists (use --overwrite)")
    determined = parse_utc(when, "--datetime") if when else None
    _, vc = _configs(kw)
    vc, landcover = landcover_config(vc, src, out.parent, str(kw["landcover_stac_url"]), overwrite)
    if landcover:
        click.echo(f"land cover: {landcover['collection']} {landcover['year']} ({', '.join(landcover['items'])})")
    if src.is_file() and is_instance_raster(src):
        run = polygonize_labels
    df = run(src, out, vc, collection=collection, determined=determined)
    t = df.attrs["timing"]
    click.echo(f"{out}: {len(df)} fields ({df.attrs['raw_polygons']} before filtering) in {sum(t.values()):.1f} s")


@click.command("map")
@click.argument("scenes", nargs=-1, required=False, type=click.Path(dir_okay=False))
@outdir_option("output folder")
@click.option(
    "--areas",
    type=click.Path(dir_okay=False),
    default=None,
    help="vector file of areas: download one scene per feature (into <outdir>/scenes) and map them too",
)
@date_options
@stac_options
@_predict_options
@_polygon_options
@click.option("--scheduler", default=None, help="Dask scheduler address; default: a local cluster")
@click.option("--workers", default=2, show_default=True, help="local-cluster worker processes")
@click.option("--threads-per-worker", default=1, show_default=True)
@click.option("--serial", is_flag=True, help="run in this process without Dask")
@overwrite_option()
@friendly_errors
def map_(
    scenes: tuple[str, ...],
    outdir: str,
    scheduler: str | None,
    workers: int,
    threads_per_worker: int,
    serial: bool,
    overwrite: bool,
    collection: str,
    **kw: object,
) -> None:
    """Predict + polygonise many scenes as Dask tasks; per-scene outputs and one merged GeoParquet.

    With --areas and the two date ranges, each area's scene is first downloaded from the STAC API (as
    `fields download` does), so a whole region goes from areas to polygons in one command.
    """
    from agriseg.fields.mapping.runner import run_map

    if not Path(str(kw["model"])).is_file():
        raise FileNotFoundError(f"{kw['model']}: model file not found")
    check_model_trust(str(kw["model"]), kw["sha256"])
    failed = []
    scenes_list = list(scenes)
    if kw["areas"]:
        downloaded, failed = _download_areas(kw, Path(outdir) / "scenes", overwrite)
        scenes_list += downloaded
        if not scenes_list:
            raise click.ClickException("no scene to map: every area failed (see above)")
    elif not scenes:
        raise click.UsageError("give SCENES, or --areas with --win-a-dates and --win-b-dates (or --season auto)")
    pc, vc = _configs(kw)
    rows, merged = run_map(
        scenes_list,
        outdir,
        str(kw["model"]),
        backend="serial" if serial else "dask",
        predict=pc,
        polygonize=vc,
        resize=kw["resize"],
        preprocess=_preprocess_overrides(kw),
        overwrite=overwrite,
        collection=collection,
        model_sha256=kw["sha256"],
        landcover_stac=str(kw["landcover_stac_url"]),
        **({} if serial else {"scheduler": scheduler, "n_workers": workers, "threads_per_worker": threads_per_worker}),
    )
    for r in rows:
        click.echo(f"{r['scene']}: {r['status']} {r.get('fields_count', '')} {r.get('error', '')}".rstrip())
    click.echo(f"merged: {merged}")
    if failed or any(r["status"] == "error" for r in rows):
        raise click.ClickException("some scenes failed (see above and summary.json)")


def _download_areas(kw: dict, folder: Path, overwrite: bool) -> tuple[list[str], list[dict]]:
    """Download the scenes of ``--areas``; returns (downloaded scenes, failed rows) and prints failures.

    ``<folder>/areas.json`` records each area's dates (with --season auto: the calendar's choice and source).
    """
    from agriseg.cli.fields_stac_options import download_config, season_request, window_dates
    from agriseg.data.files import write_json
    from agriseg.fields.download import download_areas
    from agriseg.fields.registry import model_inputs

    dates = window_dates(kw)
    season = season_request(kw)
    windows, bands = model_inputs(str(kw["model"]))
    if season is None and any(dates[w] is None for w in windows):
        raise click.UsageError("--areas needs --win-a-dates and --win-b-dates, or --season auto --year YEAR")
    rows = download_areas(
        kw["areas"], folder, download_config(kw), dates["a"], dates["b"], overwrite=overwrite, season=season,
        windows=windows, bands=bands,
    )  # fmt: skip
    write_json(folder / "areas.json", rows)
    for r in rows:
        if r["status"] == "error":
            click.echo(f"{r['scene']}: error {r['error']}")
        elif "season" in r:
            click.echo(
                f"{r['area']}: crop calendar season {r['season']['start']} to {r['season']['end']}, window A "
                f"{'/'.join(r['win_a_dates'])}" + (f", window B {'/'.join(r['win_b_dates'])}" if "b" in windows else "")
            )
    ok = [r["scene"] for r in rows if r["status"] != "error"]
    return ok, [r for r in rows if r["status"] == "error"]


@click.command()
@click.argument("earlier", type=click.Path(dir_okay=False))
@click.argument("later", type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(), help="change COG")
@click.option("--threshold", default=0.5, show_default=True, help="on the min-max normalised change")
@click.option("--polygons", default=None, type=click.Path(), help="also write change polygons here")
@click.option("--min-area", "min_area_m2", default=500.0, show_default=True)
@overwrite_option()
@friendly_errors
def change(
    earlier: str,
    later: str,
    output: str,
    threshold: float,
    polygons: str | None,
    min_area_m2: float,
    overwrite: bool,
) -> None:
    """PRUE's field change map between two years' probability rasters, and its polygons."""
    from agriseg.fields.change import change_map, polygonize_change

    out = Path(output)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: exists (use --overwrite)")
    stats = change_map(earlier, later, out, threshold=threshold)
    click.echo(f"{out}: {stats['changed_fraction']:.2%} of valid pixels changed")
    if polygons:
        df = polygonize_change(out, polygons, min_area_m2)
        click.echo(f"{polygons}: {len(df)} change polygons")
