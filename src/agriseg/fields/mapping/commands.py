"""What ``agriseg fields download | predict | polygonize | run | map`` do, one function each.

Every one is a batch of :func:`agriseg.batch.run_batch` (one scene, raster or area per item), so they skip
finished outputs, resume, count and report failures the same way; ``map`` runs its scenes on a Dask cluster
(:class:`agriseg.batch.DaskCluster`) or in this process.
"""

from __future__ import annotations

import dataclasses
import json
import math
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from agriseg.batch import BatchOptions, BatchResult, Item, batch_keywords, counted, run_batch, unique_names
from agriseg.config import OptionError
from agriseg.data.files import check_inputs, check_writable
from agriseg.data.io import NoInputError
from agriseg.fields.config import DaskConfig, DownloadConfig, FieldsRunConfig, PredictConfig
from agriseg.fields.registry import resize_option
from agriseg.fingerprint import Recipe
from agriseg.runtime import check_device, keeps_torch_threads
from agriseg.vector.config import PolygonizeConfig

# agriseg's versions of what each command writes from the same inputs and options (part of the fingerprints);
# polygonize / run 2: fields of Web Mercator rasters measured in metres of ground, holes filled on geographic CRSs
# keep the edges neighbours share; polygonize 3: fields of <scene>_probs.tif named <scene>-<row>-<col>, GeoJSON
# fields across the 180th meridian keep every hole; polygonize 4 / run 3: the arcs of fields whose edges crossed are
# simplified less, step by step (they were left unsimplified), and polygonize records --simplify in metres as used
ALGORITHM = {"fields predict": "1", "fields polygonize": "4", "fields download": "1", "fields run": "3"}
TWO_WINDOWS_RGBN = (("a", "b"), ("red", "green", "blue", "nir"))


@dataclass(frozen=True)
class SceneRequest:
    """Which Sentinel-2 scene to download: an area and date ranges (or the crop calendar's), or items.

    Attributes:
        bbox: ``W,S,E,N`` in degrees, or a vector file (its bounds).
        win_a_dates: window A date range ``START/END``.
        win_b_dates: window B date range.
        win_a: window A item ids or URLs (instead of a search; several are mosaicked).
        win_b: window B items.
        season: ``{"year", "crop_season", "window_days"}`` to take the dates not given from the crop calendar
            over the area (``--season auto``).
    """

    bbox: str | None = None
    win_a_dates: str | None = None
    win_b_dates: str | None = None
    win_a: tuple[str, ...] = ()
    win_b: tuple[str, ...] = ()
    season: Mapping[str, Any] | None = None

    def dates(self) -> dict[str, tuple[str, str] | None]:
        """``{"a": (start, end) or None, "b": ...}`` as given.

        Raises:
            OptionError: a range that is not ``START/END`` of two real days, or ends before it starts (the
                message names the option, ``--win-a-dates``).
        """
        from agriseg.fields.stac import parse_dates

        out: dict[str, tuple[str, str] | None] = {}
        for w, v in (("a", self.win_a_dates), ("b", self.win_b_dates)):
            try:
                out[w] = parse_dates(v, f"--win-{w}-dates") if v is not None else None
            except ValueError as err:
                raise OptionError(str(err)) from err
        return out

    def say_unread(self, windows: Sequence[str]) -> None:
        """Warn of a window's options that a model of ``windows`` does not read: a single-window model reads
        window A alone, said, not ignored (a script that runs every model with both windows' options goes on)."""
        dates = self.dates()
        for w in "ab":
            if w not in windows and (getattr(self, f"win_{w}") or dates[w] is not None):
                from agriseg.data.io import log

                given = f"--win-{w}" if getattr(self, f"win_{w}") else f"--win-{w}-dates"
                log.warning("%s: not read: the model reads window %s only", given, "A" if "a" in windows else "B")

    def check(self, windows: Sequence[str]) -> None:
        """Check the request before any work, without the network: what :meth:`resolve` would refuse later.

        ``--bbox`` is four numbers in degrees or a vector file that is there (read later, with the work), the
        date ranges are real ``START/END`` days, and every window of ``windows`` has items, or an area with
        dates (or ``--season auto``).

        Raises:
            OptionError: a bad ``--bbox`` or date range, ``--season auto`` without ``--bbox``, or a window
                with neither items nor an area with dates (the message names the options).
            FileNotFoundError: ``--bbox`` names a vector file that is not there.
        """
        from agriseg.fields.stac import check_area

        if self.bbox is not None:
            try:
                check_area(self.bbox, "--bbox")
            except ValueError as err:
                raise OptionError(str(err)) from err
        dates = self.dates()
        if self.season is not None and self.bbox is None:
            raise OptionError("--season auto needs --bbox (the calendar is read over the area)")
        self.say_unread(windows)
        for w in windows:
            if not getattr(self, f"win_{w}") and (self.bbox is None or (dates[w] is None and self.season is None)):
                raise OptionError(
                    f"window {w.upper()}: give --win-{w} ITEM, or --bbox with --win-{w}-dates or --season auto"
                )

    def resolve(
        self, windows: Sequence[str], progress: bool = True, retries: int = 4
    ) -> tuple[Any, dict, dict[str, Any]]:
        """``(bbox or None, dates per window, what was asked)``: the calendar fills the dates not given (downloaded
        once, with ``retries``: ``--retries``).

        Raises:
            OptionError: a window with neither items nor an area with dates (or ``--season auto``).
        """
        from agriseg.fields.stac import area_bbox

        bbox = area_bbox(self.bbox) if self.bbox else None
        dates = self.dates()
        asked: dict[str, Any] = {"bbox": list(bbox) if bbox else None, "windows": list(windows)}
        if self.season is not None:
            if bbox is None:
                raise OptionError("--season auto needs --bbox (the calendar is read over the area)")
            from agriseg.fields.calendar import season_dates

            chosen = season_dates(bbox, progress=progress, retries=retries, **self.season)
            asked["season"] = chosen.record()
            asked["season"]["manual_windows"] = sorted(w for w in ("a", "b") if dates[w] is not None)
            dates = {"a": dates["a"] or chosen.win_a, "b": dates["b"] or chosen.win_b}
        for w in windows:
            if not getattr(self, f"win_{w}") and (bbox is None or dates[w] is None):
                raise OptionError(
                    f"window {w.upper()}: give --win-{w} ITEM, or --bbox with --win-{w}-dates or --season auto"
                )
        asked["dates"] = {w: list(d) if (d := dates[w]) else None for w in windows}
        return bbox, dates, asked

    def options(self, windows: Sequence[str] = ("a", "b")) -> dict[str, Any]:
        """The request as fingerprint options, each in one spelling: ``--bbox "15.0, 47, 15.1, 47.1"`` is the
        area of ``15,47,15.1,47.1`` and `` 2023-04-01 / 2023-04-30`` the dates of ``2023-04-01/2023-04-30``, so a
        re-run that writes them another way resumes instead of being refused as changed. Window B's dates and
        items are left out for a model of one window (``windows``): not read, a change of them was refused."""
        dates = {w: "/".join(d) if d else None for w, d in self.dates().items()}
        b = "b" in windows  # (outputs an earlier agriseg recorded with window B's dates: see fields run's same_as)
        return {"bbox": _one_spelling(self.bbox), "win_a_dates": dates["a"],
                "win_b_dates": dates["b"] if b else "not read", "win_a": self.win_a,
                "win_b": self.win_b if b else (), "season": dict(self.season or {})}  # fmt: skip


def _one_spelling(bbox: str | None) -> str | None:
    """``W,S,E,N`` as the shortest numbers that read back the same (``15.0`` -> ``15``); a vector file's name
    with the area it gives now (``field.geojson = 15,47,15.1,47.1``: the file edited to another area is another
    request, where its name alone kept the old area's scene); text that is no bbox, as given."""
    from agriseg.fields.stac import area_bbox, parse_bbox

    if bbox is None:
        return bbox
    try:
        numbers = area_bbox(bbox) if Path(bbox).is_file() else parse_bbox(bbox)
    except ValueError:
        return bbox
    area = ",".join(r[:-2] if (r := repr(v)).endswith(".0") else r for v in numbers)
    return f"{bbox} = {area}" if Path(bbox).is_file() else area


def season_line(asked: Mapping[str, Any], name: str = "") -> str | None:
    """The line that says which dates the crop calendar chose (None without ``--season auto``)."""
    s = asked.get("season")
    if not s:
        return None
    dates = asked["dates"]
    wins = ", ".join(f"window {w.upper()} {'/'.join(dates[w])}" for w in asked["windows"] if dates.get(w))
    across = " (crosses the new year)" if s.get("crosses_year") else ""
    head = f"{name}: crop calendar season" if name else f"crop calendar ({s['crop_season']} crops, {s['how']}): season"
    return f"{head} {s['start']} to {s['end']}{across}; {wins}"


def _inputs(model: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(windows, bands)`` a model reads (a released model's name is not downloaded); default two windows of
    R, G, B, NIR."""
    from agriseg.fields.registry import model_inputs

    return model_inputs(model) if model else TWO_WINDOWS_RGBN


def _download_one(
    output: Path,
    cfg: DownloadConfig,
    request: SceneRequest,
    overwrite: bool,
    progress: bool,
    inputs: tuple[tuple[str, ...], tuple[str, ...]],
    keep_current: bool = False,
) -> dict:
    """Download one scene (``inputs``: the windows and bands the model reads); its row, with ``asked``.

    ``keep_current``: keep a scene downloaded for the same request (a batch remaking an unfinished item that the
    user did not ask to overwrite; see :func:`agriseg.fields.download.download_scene`)."""
    from agriseg.fields.download import download_scene

    windows, bands = inputs
    bbox, dates, asked = request.resolve(windows, progress, retries=cfg.retries)
    asked["bands"] = list(bands)
    res = download_scene(
        output,
        cfg,
        bbox=bbox,
        win_a_dates=dates["a"],
        win_b_dates=dates["b"],
        win_a=request.win_a,
        win_b=request.win_b,
        overwrite=overwrite,
        progress=progress,
        windows=windows,
        bands=bands,
        extra_tags={"AGRISEG_SEASON": json.dumps(asked["season"])} if "season" in asked else None,
        keep_current=keep_current,
    )
    asked["items"] = res.items
    asked["stac"] = {"url": cfg.stac_url, "collection": cfg.collection}  # where the items are (their ids alone
    # name no scene: the same ids in another catalogue are other files)
    # under 1 %: its digits ("0.003%"), not "0%" beside "ok"
    cover = ", ".join(f"{w.upper()} {f'{100 * v:.2g}%' if 0 < v < 0.01 else f'{v:.0%}'}"
                      for w, v in res.valid_fraction.items())  # fmt: skip
    items = "; ".join(f"window {w.upper()} {', '.join(i)}" for w, i in res.items.items())
    return {"scene": str(output), "status": res.status, "size": f"{res.width}x{res.height} px", "items": items,
            "valid": cover, "asked": asked}  # fmt: skip


def _downloads(
    items: list[Item],
    config: DownloadConfig,
    opts: BatchOptions,
    model: str | None,
    inputs: tuple[tuple[str, ...], tuple[str, ...]],
    table: Path | None = None,
) -> BatchResult:
    """Download the scene of each item (its ``payload``, a :class:`SceneRequest`) into its output; with
    ``table``, write the rows there (``areas.json``) as the batch's table (a file of yours there is kept)."""

    too_large = _too_large(items, config, inputs)  # a continent at 10 m: refused before any search

    def work(item: Item) -> dict:
        if isinstance(item.payload, ValueError):  # an area of --areas without a scene to download
            raise item.payload
        if item.outputs[0] in too_large:
            raise ValueError(too_large[item.outputs[0]])
        replace = item.replaces(opts.overwrite)
        row = _download_one(item.outputs[0], config, item.payload, replace, opts.progress, inputs, not opts.overwrite)
        dates = row["asked"]["dates"]
        return {"area": item.name, **row, "error": "", "season": row["asked"].get("season"),
                "win_a_dates": dates.get("a") or [], "win_b_dates": dates.get("b") or []}  # fmt: skip

    recipe = Recipe("fields download", ALGORITHM["fields download"], config.output_options(), model)
    earlier = _earlier_rows(table)

    def kept(it: Item) -> dict:
        """A scene kept from an earlier run: its row of that run (items, dates, season), as skipped; an unchanged
        re-run wrote a bare "skipped" row over the only record of the imagery (session 104's sweep)."""
        row = earlier.get(it.name)
        same = row is not None and Path(str(row.get("scene"))).resolve() == Path(it.outputs[0]).resolve()
        if row is not None and same and row.get("status") in ("ok", "resumed", "skipped"):  # (-o given another way)
            return {**row, "scene": str(it.outputs[0]), "status": "skipped", "error": ""}
        return {"area": it.name, "scene": str(it.outputs[0]), "status": "skipped", "error": ""}

    def finish(rows: BatchResult) -> None:  # the areas' record, while the folder is still locked
        from agriseg.data.files import write_json
        from agriseg.manifest import seal_tables

        assert table is not None  # passed only with one
        write_json(table, [{k: v for k, v in r.items() if k != "asked"} for r in rows])
        seal_tables([table])  # a later run keeps it if edited by hand

    result = run_batch(
        items,
        work,
        options=opts,
        recipe=recipe,
        resume=kept,
        failed=lambda it, msg: {"area": it.name, "scene": str(it.outputs[0]), "status": "error", "error": msg},
        tables=[table] if table is not None else (),
        finish=finish if table is not None else None,
    )
    for r in result:
        if r.get("asked"):
            line = season_line(r["asked"], r["area"] if len(items) > 1 else "")
            result.notes += [line] if line else []
            if len(items) == 1:
                result.notes.append(f"{r['scene']}: {r['status']}, {r['size']}, {r['items']}; pixels with data: "
                                    f"{r['valid']}")  # fmt: skip
    return result


def _too_large(
    items: Sequence[Item], config: DownloadConfig, inputs: tuple[tuple[str, ...], tuple[str, ...]]
) -> dict[Path, str]:
    """The outputs whose area could not fit in memory at ``config.resolution``, each with the line saying so
    (:func:`agriseg.data.memory.refused_for_memory`: exit 2 when none fits). An area that is not read here (bad
    text, a missing file: said by its item) is left to the download."""
    from agriseg.data.memory import refused_for_memory
    from agriseg.fields.download import area_memory
    from agriseg.fields.stac import area_bbox, parse_bbox

    needs: dict[Path, tuple[float, str]] = {}
    for it in items:
        request = it.payload
        if not isinstance(request, SceneRequest) or request.bbox is None:  # fails or goes on as its item: never
            needs[it.outputs[0]] = (0.0, str(it.outputs[0]))  # "none fits" while it is there (session 107's review)
            continue
        try:
            bbox = area_bbox(request.bbox) if Path(request.bbox).is_file() else parse_bbox(request.bbox)
        except (ValueError, OSError):
            needs[it.outputs[0]] = (0.0, str(it.outputs[0]))
            continue
        need, what = area_memory(bbox, config.resolution, *inputs)
        needs[it.outputs[0]] = (need, f"{it.outputs[0]}: {what}")
    return refused_for_memory(needs)


def _earlier_rows(table: Path | None) -> dict[str, dict]:
    """The rows by area of the ``areas.json`` an earlier run wrote (not one edited since, or a file of yours)."""
    import json

    from agriseg.manifest import own_table

    if table is None or not own_table(table):
        return {}
    try:
        rows = json.loads(table.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(rows, list):
        return {}
    return {r["area"]: r for r in rows if isinstance(r, dict) and isinstance(r.get("area"), str)}


@batch_keywords
def download(
    output: str | Path,
    config: DownloadConfig,
    request: SceneRequest,
    model: str | None = None,
    batch: BatchOptions | None = None,
) -> BatchResult:
    """``agriseg fields download``: one scene into ``output`` (the windows and bands ``model`` reads; default
    two windows of R, G, B, NIR); an interrupted download resumes."""
    output = Path(output)
    if output.suffix.lower() not in (".tif", ".tiff"):
        raise OptionError(f"{output}: the scene is a GeoTIFF, name it .tif")
    check_writable([output.parent])
    if model is not None:
        model_file(model, download=False)  # an unknown name lists the released ones
    inputs = _inputs(model)
    request.check(inputs[0])  # a bad --bbox or date range is a usage error before anything is fetched
    # named by the whole file name: scene.tif and scene.tiff in one folder are two downloads, each its own record
    # window B's dates are no setting of a one-window model's scene (its re-run with other ones was refused)
    item = Item(output.name, output, (output,), resolved=request.options(inputs[0]), payload=request,
                same_as=(request.options(),))  # fmt: skip  # recorded with them by an earlier agriseg: resumed
    opts = dataclasses.replace((batch or BatchOptions()).labelled("download", "scene"), named_output=True)
    return _downloads([item], config, opts, model, inputs)


def model_file(model: str | Path, download: bool = True, retries: int = 4) -> str:
    """``-m``'s value as a local file: a released model's name is fetched (once) into the cache, a path stays.

    Args:
        model: a released model's name (``agriseg fields models list``) or a model file.
        download: False: only check the value (nothing is downloaded; a name is returned as it is), so a
            command refuses its other bad options before a long download.
        retries: download attempts after the first (``--retries``), with backoff.

    Raises:
        OptionError: neither a file nor a released model's name (the message lists the names).
        ValueError: a failed download.
    """
    from agriseg.fields.registry import MODELS, resolve_model

    value = str(model)
    if value in MODELS:
        return resolve_model(value, retries=retries) if download else value
    try:
        return resolve_model(value)  # a path: nothing to fetch
    except ValueError as err:
        raise OptionError(str(err)) from err


def check_name(name: str) -> None:
    """``fields run --name``: a file name stem inside the output folder, never a path out of it.

    Raises:
        OptionError: empty, ``.``, or with ``..`` or a path separator.
    """
    if not name.strip():
        raise OptionError(f"--name {name!r}: give the outputs' file name stem, e.g. --name scene")
    if name == "." or ".." in name or any(c in name for c in ("/", "\\", "\0")):
        raise OptionError(f"--name {name!r}: a file name stem, not a path (no /, \\ or ..); the outputs go in -o")


def _checked_model(model: str | Path, sha256: str | None, inputs_ok: Callable[[], None], retries: int = 4) -> str:
    """The model file, checked (:func:`check_model`) and the inputs checked (``inputs_ok``) before anything
    is downloaded or read: a model file first (an untrusted pickle or a missing extra stops the command before
    its inputs are looked at), a released model's name after the inputs (it is fetched then)."""
    from agriseg.fields.registry import MODELS

    value = model_file(model, download=False)
    if value not in MODELS and Path(value).is_file():
        check_model(value, sha256)
        inputs_ok()
        return value
    inputs_ok()
    value = model_file(value, retries=retries)
    check_model(value, sha256)
    return value


def check_model(model: str | Path, sha256: str | None) -> str | None:
    """A pickled (``.pt``) model must be trusted and ultralytics installed; returns its SHA-256 (else None).

    Raises:
        FileNotFoundError: no such model file.
        ModelLoadError: a model file that is not one (its header, read without the weights).
        MissingExtraError: ultralytics missing (an ImportError naming ``pip install "agriseg[delineate]"``).
        ValueError: an untrusted pickle (one line naming the trust command).
    """
    from agriseg.fields.delineate import import_ultralytics, is_instance_model
    from agriseg.fields.registry import spec_for
    from agriseg.fields.trust import require_trusted

    model = str(model)
    if not model.strip():  # Path("") is the working directory: "a folder" would puzzle
        from agriseg.fields.registry import MODELS

        raise FileNotFoundError(f"--model '': no model named (released names: {', '.join(MODELS)})")
    if not Path(model).is_file():
        raise FileNotFoundError(
            f"{model}: {'a folder, not a model file' if Path(model).is_dir() else 'model file not found'}"
        )
    if Path(model).suffix.lower() == ".onnx":  # `fields export -o m.onnx` writes one: "not an agriseg model" puzzled
        from agriseg.models.io import ModelLoadError

        raise ModelLoadError(
            f"{model}: an ONNX file; the fields commands take a released model's name or a .safetensors / .ckpt "
            "file (they run it in ONNX Runtime themselves): give the model the .onnx was exported from"
        )
    if not is_instance_model(model):
        if Path(model).suffix != ".ckpt":  # its header, before any scene
            from agriseg.fields.checkpoints import refuse_image
            from agriseg.models.io import read_model_config

            refuse_image(model)
            read_model_config(model)
        else:  # its zip directory only (the tensors are read on load): a cut-short file stops before any scene
            from agriseg.models.io import ModelLoadError, check_torch_archive

            try:
                check_torch_archive(model, "cannot read as a checkpoint", unpickle=True)
            except ModelLoadError as err:
                spec = spec_for(model)  # a damaged download in the cache: say how to fetch it again
                again = f"; `agriseg fields models download {spec.name} --overwrite` fetches it again" if spec else ""
                raise ModelLoadError(f"{err}{again}") from None
        return None
    spec = spec_for(model)
    import_ultralytics()
    return require_trusted(model, sha256, spec.name if spec else None)


def load_predictor(model: str | Path, predict: PredictConfig, run: FieldsRunConfig, sha256: str | None) -> Any:
    """The scene predictor of a model file with ``run``'s overrides, its output kind, and the model's own
    ``resize`` / ``divisor`` (/ ``swap_input_windows``) the overrides replace.

    Returns:
        ``(predictor, "probs", own)`` for segmentation models (:class:`agriseg.fields.predict.ScenePredictor`),
        ``(predictor, "instances", own)`` for DelineateAnything (:class:`agriseg.fields.delineate.InstancePredictor`).
    """
    import torch

    from agriseg.fields.delineate import is_instance_model

    if run.threads:
        torch.set_num_threads(run.threads)
    model = str(model)
    if is_instance_model(model):
        from agriseg.fields.delineate import InstanceConfig, InstancePredictor, load_yolo
        from agriseg.fields.registry import spec_for

        spec = spec_for(model)
        cfg = InstanceConfig(
            predict=predict,
            resize=run.resize or 2.0,
            offset=run.offset,
            **({"divisor": run.divisor} if run.divisor is not None else cast("dict[str, Any]", {})),
        )
        yolo = load_yolo(model, sha256, spec.name if spec else None)
        own = InstanceConfig(predict=predict)
        predictor: Any = InstancePredictor(yolo, cfg, spec.name if spec else Path(model).name)
        return predictor, "instances", {"resize": own.resize, "divisor": own.divisor}
    from agriseg.fields.checkpoints import load_for_scenes
    from agriseg.fields.config import PreprocessConfig
    from agriseg.fields.predict import ScenePredictor

    loaded = load_for_scenes(model)  # the model's own preprocessing, then the options given
    given = {**run.preprocess(), **({"resize": run.resize} if run.resize is not None else {})}
    prep = PreprocessConfig.model_validate({**loaded.preprocess.model_dump(), **given})
    predictor = ScenePredictor(loaded.module, loaded.num_classes, prep, predict, loaded.class_names)
    return predictor, "probs", loaded.preprocess.model_dump(include={"resize", "divisor", "swap_input_windows"})


def _as_recorded(run: FieldsRunConfig, own: dict[str, Any]) -> dict[str, Any]:
    """``run``'s options for a fingerprint, an option typed at the value the model uses anyway recorded as not
    given (``--resize 2`` on an ftw model, ``--divisor 3000``): the outputs are the same, so a re-run resumes them
    instead of refusing them as made with other settings."""
    said = run.model_dump(exclude={"threads", "collection"})
    for key in ("resize", "divisor"):
        if said.get(key) is not None and own.get(key) is not None and float(said[key]) == float(own[key]):
            said[key] = None
    if said.get("swap_input_windows") and own.get("swap_input_windows"):  # a model read "ba" already
        said["swap_input_windows"] = False
    return said


@keeps_torch_threads  # --threads sets torch's for this call only
@batch_keywords
def predict(
    scenes: Sequence[str | Path],
    model: str | Path,
    predict: PredictConfig,
    run: FieldsRunConfig,
    output: str | Path | None = None,
    outdir: str | Path | None = None,
    sha256: str | None = None,
    batch: BatchOptions | None = None,
) -> BatchResult:
    """``agriseg fields predict``: probability COGs of scenes, streamed strip by strip, resumable.

    Args:
        scenes: input GeoTIFFs.
        model: model file (a DelineateAnything ``.pt`` writes instance rasters, ``<name>_instances.tif``), or a
            released model's name (fetched once, after the options are checked).
        predict: inference settings.
        run: preprocessing overrides and threads.
        output: the COG of a single scene (``.tif``).
        outdir: folder of ``<name>_probs.tif`` (names unique across the scenes); without it and ``output``,
            each ``<stem>_probs.tif`` goes next to its scene.
        sha256: the digest a pickled model must have.
        batch: overwrite (predict again over existing outputs), strict (stop at the first scene that fails),
            progress.

    Raises:
        OptionError: a device this machine lacks, an unknown model name, ``output`` with ``outdir``, with
            several scenes or not ``.tif`` (before anything is downloaded or read).
        FileNotFoundError: a scene or the model file is not there.
    """
    batch = batch or BatchOptions()
    check_device(predict.device)
    paths, earlier = scene_paths(scenes)
    if not paths and earlier:
        raise NoInputError(f"{earlier[0]}: an output of an earlier run, not a scene" + _more(earlier))
    if output is not None and outdir is not None:
        raise OptionError(f"-o {output} and --outdir {outdir}: give -o FILE (one scene) or --outdir FOLDER")
    if output is not None and len(paths) > 1:
        raise OptionError(f"-o {output}: one output file for {len(paths)} scenes; use --outdir FOLDER")
    if output is not None and Path(output).suffix.lower() not in (".tif", ".tiff"):
        raise OptionError(f"-o {output}: the output is a GeoTIFF (COG); name it .tif, or give a folder with --outdir")
    check_writable([Path(output).parent] if output is not None else [outdir] if outdir is not None else
                   [p.parent for p in paths])  # fmt: skip
    model = _checked_model(model, sha256, lambda: check_inputs(paths, "scene file"))
    predictor, kind, own = load_predictor(model, predict, run, sha256)
    if kind == "probs":
        predictor.check_memory(paths)  # a patch size that cannot fit is a usage error, before any scene
    if output is not None:
        targets = {paths[0]: Path(output)}
    elif outdir is not None:
        names = unique_names(paths, outdir, "fields predict", f"_{kind}")  # the names an earlier run gave are kept
        targets = {p: Path(outdir) / f"{names[p]}_{kind}.tif" for p in paths}
    else:
        targets = {p: p.parent / f"{p.stem}_{kind}.tif" for p in paths}
    from agriseg.raster.io import scene_reading_rules

    items = [Item(t.stem, p, (t,), (p,), resolved=scene_reading_rules(p)) for p, t in targets.items()]
    area = {"km2": 0.0}

    def work(item: Item) -> dict:
        replace = item.replaces(batch.overwrite)
        if kind == "probs":  # a COG of this very prediction (interrupted before its record) is kept
            res = predictor.predict(item.source, item.outputs[0], overwrite=replace, keep_current=not batch.overwrite)
        else:
            res = predictor.predict(item.source, item.outputs[0], overwrite=replace)
        area["km2"] += res.area_km2
        row = {"scene": str(item.source), "output": str(item.outputs[0]), "status": res.status}
        if kind == "instances":
            return {**row, "detections": res.detections, "fields": res.fields, "km2": res.area_km2}
        return {**row, "blocks": res.blocks, "blocks_resumed": res.blocks_resumed, "km2": res.area_km2}

    said = _as_recorded(run, own)
    options = {**predict.model_dump(exclude={"progress"}), **said, **resize_option(model, said["resize"])}
    # the same options with the model's own values typed out (--resize 2, --divisor 3000, or both), as agriseg
    # recorded them before it recorded such a value as not given: their outputs resume with or without it
    typed = {k: own[k] for k in ("resize", "divisor") if said[k] is None and own.get(k) is not None}
    alike = []
    for keys in [{k} for k in typed] + ([set(typed)] if len(typed) == 2 else []):
        alt = {**options, **{k: typed[k] for k in keys}}
        if "resize" in keys:
            alt.pop("model_resize", None)  # a --resize typed was recorded without the model's default
        alike.append(alt)
    result = run_batch(
        items,
        work,
        options=dataclasses.replace(
            batch.labelled("predict", "scene", progress=len(items) > 1), named_output=output is not None
        ),
        recipe=Recipe("fields predict", ALGORITHM["fields predict"], options, model, same_as=alike),
        resume=lambda it: {"scene": str(it.source), "output": str(it.outputs[0]), "status": "skipped"},
    )
    if area["km2"] and result.seconds > 0:
        result.note = f", {significant(area['km2'])} km2 at {significant(area['km2'] / result.seconds)} km2/s"
    if earlier:
        result.notes.append(_not_read(earlier))
    result.notes += [f"{r['output']}: {r['detections']} detections -> {r['fields']} fields" for r in result
                     if r.get("detections") is not None]  # fmt: skip
    resumed = [r for r in result if r.get("status") == "resumed"]  # counted as predicted: said how
    if resumed:
        rows = sum(int(r.get("blocks_resumed", 0)) for r in resumed)
        result.notes.append(f"({counted(len(resumed), 'scene')} resumed from an interrupted run's work file, "
                            f"{counted(rows, 'patch row')} not predicted again)")  # fmt: skip
    return result


@batch_keywords
def polygonize(
    raster: str | Path,
    output: str | Path | None,
    config: PolygonizeConfig,
    run: FieldsRunConfig,
    when: str | None = None,
    batch: BatchOptions | None = None,
) -> BatchResult:
    """``agriseg fields polygonize``: field polygons of a class / probability raster, or of an instance raster.

    Args:
        raster: the raster (``fields predict``'s COG, a class raster, or DelineateAnything's instances: every
            id is one field).
        output: ``.parquet`` (fiboa GeoParquet), ``.gpkg``, ``.fgb`` or ``.geojson``; default
            ``<stem>_fields.parquet`` beside the raster.
        config: polygonisation settings (``landcover`` esa-worldcover / io-lulc: fetched by STAC for the
            raster's extent into ``<stem>_landcover.tif`` next to the output).
        run: the fiboa collection id and the land cover's STAC API.
        when: ``determination:datetime`` (ISO 8601 UTC); default: the raster's latest window time.
        batch: overwrite (replace an existing output), strict (a failure is raised instead of counted).
    """
    batch = batch or BatchOptions()
    from agriseg.data.io import quiet_rasterio
    from agriseg.fields.landcover import check_landcover, landcover_config
    from agriseg.raster.io import parse_utc
    from agriseg.vector.api import polygonize as polygonize_raster
    from agriseg.vector.fiboa import output_format

    src = Path(raster)
    out = Path(output) if output else src.with_name(f"{src.stem}_fields.parquet")
    try:  # the options first: a usage error before anything is read
        output_format(out)
        determined = parse_utc(when, "--datetime") if when is not None else None
    except ValueError as err:
        raise OptionError(str(err)) from err
    check_inputs([src], "raster")
    check_landcover(config)

    def work(item: Item) -> dict:
        vc, landcover = landcover_config(config, src, out.parent, run.landcover_stac_url, batch.overwrite)
        # (the batch runner refused a file of yours there, or was told --overwrite)
        df = polygonize_raster(src, out, vc, collection=run.collection, determined=determined, overwrite=True)
        return {"raster": str(src), "output": str(out), "status": "ok", "fields": len(df),
                "raw_polygons": df.attrs["raw_polygons"], "dropped": df.attrs["dropped"],
                "landcover": landcover}  # fmt: skip

    options = {**config.fingerprint(), "collection": run.collection}
    recorded = dict(options)  # as agriseg recorded them before it recorded --simplify in metres as used
    options["simplify"] = _simplify_used(src, config.simplify)  # --simplify typed at its default is no other setting
    options.pop("simplify_unit", None)
    if options["simplify"]:  # as PolygonizeConfig.fingerprint says it: metres on every CRS
        options["simplify_unit"] = "m"
    options["determined"] = when
    inputs = [config.landcover] if config.landcover and Path(config.landcover).is_file() else []
    with quiet_rasterio(src):  # rasterio's raw warnings (no geotransform) would come before the one-line failure
        result = run_batch(
            [Item(out.name, src, (out,), (src,), resolved=_class_nodata_rule(src, config))],  # the name:
            # f.parquet and f.geojson are two products
            work,
            options=dataclasses.replace(batch.labelled("polygonize", "raster", progress=False), named_output=True),
            recipe=Recipe(
                "fields polygonize",
                ALGORITHM["fields polygonize"],
                options,
                None,
                inputs,
                same_as=[{**recorded, "determined": when}] if recorded != options else [],
            ),  # fmt: skip
        )
    for r in result:
        if r.get("landcover"):
            lc = r["landcover"]
            result.notes.append(f"land cover: {lc['collection']} {lc['year']} ({', '.join(lc['items'])})")
        if r.get("fields") is not None:
            dropped = r["raw_polygons"] - r["fields"]
            result.note = f" ({counted(r['fields'], 'field')}" + (
                f"; {dropped} of the {r['raw_polygons']} polygons found were dropped by {_filters(r['dropped'])})"
                if dropped
                else ")"
            )
    return result


@keeps_torch_threads  # --threads sets torch's for this call only
@batch_keywords
def run_area(
    outdir: str | Path,
    name: str,
    download_config: DownloadConfig,
    request: SceneRequest,
    model: str | Path,
    predict: PredictConfig,
    polygons: PolygonizeConfig,
    run: FieldsRunConfig,
    sha256: str | None = None,
    batch: BatchOptions | None = None,
) -> BatchResult:
    """``agriseg fields run``: an area and a season -> ``<name>.tif``, ``<name>_probs.tif`` (or
    ``_instances.tif``), ``<name>_fields.parquet`` and ``<name>_run.json`` (the inputs and options of the run:
    area, season dates and their source, items, model and its digest, land-cover source).

    Raises:
        OptionError: a bad ``name`` (a path), device, area, date range or model name, or a window without
            dates (all before anything is downloaded).
        FileNotFoundError: ``--bbox`` or ``--landcover`` names a file that is not there.
    """
    import torch

    from agriseg.data.files import write_json
    from agriseg.fields.landcover import check_landcover, check_landcover_output
    from agriseg.fields.mapping.runner import scene_recipe
    from agriseg.fields.mapping.scene import SceneJob, run_scene

    batch = batch or BatchOptions()
    check_name(name)
    check_device(predict.device)
    check_landcover(polygons)
    check_writable([outdir])
    check_landcover_output(polygons, Path(outdir) / f"{name}.tif", outdir, batch.overwrite)
    mine = Path(outdir) / f"{name}_run.json"
    if mine.exists() and not batch.overwrite and not _is_run_record(mine):  # a file of the user's: before any work
        raise OptionError(f"{mine}: exists and was not written by agriseg (kept; --overwrite replaces it, or "
                          "choose another output folder)")  # fmt: skip
    model = model_file(model, download=False)
    inputs = _inputs(model)
    request.check(inputs[0])
    area = Path(outdir) / f"{name}.tif"  # an area beyond memory: refused before the model or any search
    _too_large([Item(name, area, (area,), payload=request)], download_config, inputs)
    model = model_file(model, retries=download_config.retries)
    digest = check_model(model, sha256)  # refuse an untrusted pickle before downloading anything
    outdir = Path(outdir)
    scene = outdir / f"{name}.tif"
    run_json = outdir / f"{name}_run.json"
    job = SceneJob(
        str(scene),
        str(outdir),
        model,
        predict=predict,
        polygonize=polygons,
        resize=run.resize,
        preprocess=run.preprocess(),
        threads=run.threads or torch.get_num_threads(),
        overwrite=batch.overwrite,
        collection=run.collection,
        model_sha256=sha256,
        landcover_stac=run.landcover_stac_url,
        landcover_retries=(download_config or DownloadConfig()).retries,
    )

    def work(item: Item) -> dict:
        if run.threads:
            torch.set_num_threads(run.threads)
        replace = item.replaces(batch.overwrite)
        got = _download_one(scene, download_config, request, replace, True, inputs, not batch.overwrite)
        row = run_scene(dataclasses.replace(job, overwrite=replace, keep_current=not batch.overwrite))
        # every setting of the run: prediction (tile, overlap, TTA, ...) and download (cloud limit, resolution)
        # too, as its fingerprint holds them; resize and divisor as the scene was predicted (the model's own when
        # not given: they were recorded as null, session 104's sweep)
        said = {**predict.model_dump(exclude={"progress"}), **polygons.model_dump(), **run.model_dump(),
                **download_opts, **_preprocess_used(Path(row["probs"]))}  # fmt: skip
        row = {**row, "scene": str(scene)}
        write_json(run_json, run_record(got["asked"], model, digest, said, row))  # written when the scene is made
        return {**row, "download": got}

    recipe = scene_recipe(job)
    recipe.command, recipe.algorithm = "fields run", ALGORITHM["fields run"]
    download_opts = download_config.output_options()
    download_opts["stac_collection"] = download_opts.pop("collection")  # the fiboa collection id keeps its own key
    # window B's dates are no setting of a one-window model's outputs; outputs an earlier agriseg recorded with
    # them resume (same_as), as do those of a --resize typed at the model's own (scene_recipe's)
    alike = [{**o, **download_opts, **r} for o in (recipe.options, *recipe.same_as)
             for r in (request.options(inputs[0]), request.options())]  # fmt: skip
    recipe.options = {**recipe.options, **download_opts, **request.options(inputs[0])}
    recipe.same_as = [o for o in alike if o != recipe.options]
    result = run_batch(
        [Item(name, scene, (scene, *job.outputs()))],
        work,
        options=batch.labelled("run", "area", progress=False),
        recipe=recipe,
        resume=lambda it: {
            "scene": str(scene),
            "probs": str(job.outputs()[0]),
            "fields": str(job.outputs()[1]),
            "status": "skipped",
        },  # fmt: skip
    )
    for r in result:
        line = season_line(r["download"]["asked"]) if r.get("download") else None
        result.notes += [line] if line else []
        if r.get("fields_count") is not None:
            result.notes.append(f"{r['fields']}: {r['fields_count']} fields")
    return result


def _simplify_used(raster: Path, simplify: float | None) -> float | None:
    """The simplification tolerance in metres on the ground used for ``raster``: ``simplify`` as given, or the
    default's (one pixel), to 6 significant digits; as given when the raster cannot be read (it fails as its
    item)."""
    from agriseg.raster.io import import_rasterio, pixel_area_m2
    from agriseg.vector.coverage import DEFAULT_TOLERANCE_PX

    if simplify is not None:
        return float(f"{simplify:.6g}")
    rasterio = import_rasterio()
    try:
        with rasterio.open(raster) as ds:
            side_m = math.sqrt(pixel_area_m2(ds.crs, ds.transform, ds.height, ds.width))
    except Exception:  # noqa: BLE001 - an unreadable raster fails as its own item
        return simplify
    return float(f"{DEFAULT_TOLERANCE_PX * side_m:.6g}")


def _class_nodata_rule(raster: Path, config: PolygonizeConfig) -> dict[str, str]:
    """``{"nodata": "no field"}`` for a class raster whose nodata value is the field or boundary class, or that
    has a mask of its own: those pixels are no field since this rule came (they were read as their value), so
    an earlier output of it is not resumed as this run's. Empty otherwise, or unreadable."""
    from agriseg.raster.io import has_own_mask, import_rasterio

    rasterio = import_rasterio()
    try:
        with rasterio.open(raster) as ds:
            classes = (config.field_class, config.boundary_class)
            if (ds.nodata is not None and ds.nodata in classes) or has_own_mask(ds):
                return {"nodata": "no field"}
    except Exception:  # noqa: BLE001 - an unreadable raster fails as its own item
        return {}
    return {}


def _is_run_record(path: Path) -> bool:
    """Whether ``path`` holds what :func:`run_record` writes (a scene's ``<name>_run.json``), not a file of the
    user's under that name, which ``fields run`` had written over without a word. (Not stamped as a batch table:
    it is rewritten only when its scene is, and a held table was lost with a failed ``--overwrite``.)"""
    import json

    try:
        said = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(said, dict) and {"inputs", "options", "outputs"} <= said.keys()


def run_record(asked: Mapping[str, Any], model: str, digest: str | None, options: Mapping[str, Any],
               row: Mapping[str, Any]) -> dict:  # fmt: skip
    """The inputs and options of a run, in one dict (what a re-run compares)."""
    from agriseg.fields.registry import model_record

    return {
        "inputs": {
            **asked,
            "model": model_record(model, digest),
            "landcover": row.get("landcover") or ({"file": options["landcover"]} if options.get("landcover") else None),
        },
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()},
        "outputs": {k: str(Path(row[k]).resolve()) for k in ("scene", "probs", "fields") if k in row},
    }


def _preprocess_used(probs: Path) -> dict[str, Any]:
    """``{"resize": ..., "divisor": ...}`` a scene's probabilities were predicted with (their tags), or {}."""
    import json

    from agriseg.raster.io import import_rasterio

    rasterio = import_rasterio()
    try:
        with rasterio.open(probs) as ds:
            pre = json.loads(ds.tags().get("preprocess") or "{}")
    except (OSError, ValueError, rasterio.errors.RasterioError):
        return {}
    return {k: pre[k] for k in ("resize", "divisor") if isinstance(pre, dict) and k in pre}


# names Windows keeps for devices, with any extension: a file CON.tif cannot be made there
WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10))})


def area_file_name(area_id: str, i: int) -> str:
    """The file name (without suffix) of the ``i``-th area of ``--areas``, from its id: letters of any script,
    digits, ``_``, ``.`` and ``-`` kept, anything else ``_``; a Windows device name (``CON``, ``aux``) gets a
    ``_`` in front; an id with nothing left is ``area<i>``."""
    import re

    name = re.sub(r"[^\w.-]+", "_", unicodedata.normalize("NFC", area_id)).strip(".")
    if not name.strip("_"):
        return f"area{i}"
    return f"_{name}" if name.split(".")[0].upper() in WINDOWS_DEVICES else name


@batch_keywords
def download_areas(
    areas: str | Path, folder: str | Path, config: DownloadConfig, request: SceneRequest, model: str | None = None,
    batch: BatchOptions | None = None,
) -> BatchResult:  # fmt: skip
    """Download one scene per feature of a vector file (its bounds), going on past areas that fail.

    Scenes are named after the features' ``id`` column when there is one, else ``area<row>``; with
    ``request.season`` each area's dates come from the crop calendar over it. ``<folder>/areas.json``
    records each area's dates (and the calendar's choice).

    Returns:
        One row per area: ``area``, ``scene`` (path), ``status`` (ok/resumed/skipped/error), ``error``,
        ``win_a_dates``, ``win_b_dates`` and ``season``.

    Raises:
        OptionError: an unreadable vector file or one without features or CRS; neither date ranges nor
            ``--season auto``.
    """

    from agriseg.data.io import name_key
    from agriseg.fields.stac import bounds_bbox, read_areas

    inputs = _inputs(model)
    dates = request.dates()
    if request.season is None and any(dates[w] is None for w in inputs[0]):
        raise OptionError("--areas needs --win-a-dates and --win-b-dates, or --season auto --year YEAR")
    request.say_unread(inputs[0])  # as a --bbox download says it (it went unsaid: session 106's sweep)
    try:
        df = read_areas(areas)
    except ValueError as err:  # the file given is not one of areas: a usage error
        raise OptionError(f"--areas {err}") from None
    ids = [
        f"area{i}" if v is None or v != v else str(v)
        for i, v in enumerate(df["id"] if "id" in df else [None] * len(df))
    ]
    names = [area_file_name(a, i) for i, a in enumerate(ids)]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if (j := seen.setdefault(name_key(name), i)) != i:  # one scene file for two areas (a.tif, A.tif on macOS)
            two = (
                f"id {ids[i]!r} is given twice" if ids[i] == ids[j] else f"ids {ids[j]!r} and {ids[i]!r} name one scene"
            )
            raise OptionError(f"--areas {areas}: {two} (features {j + 1} and {i + 1}); each area's id names its "
                              f"scene file ({name}.tif), so ids must differ")  # fmt: skip
    items = []
    kinds = [getattr(g, "geom_type", None) for g in df.geometry]
    for i, bounds in enumerate(df.geometry.bounds.itertuples(index=False)):  # NaN for a feature without geometry
        payload: SceneRequest | ValueError
        try:
            if kinds[i] in ("Point", "MultiPoint", "LineString", "MultiLineString", "LinearRing"):
                # a diagonal line's bounds would be taken for an area: said whatever its shape
                raise ValueError(f"feature {i + 1}: a {kinds[i]}, not an area; give the area's polygon")
            bbox = ",".join(repr(v) for v in bounds_bbox(bounds, f"feature {i + 1}"))
        except ValueError as err:  # this area fails alone, named, and the others are downloaded
            payload, resolved = err, {}
        else:
            payload = SceneRequest(bbox, request.win_a_dates, request.win_b_dates, season=request.season)
            resolved = payload.options(inputs[0])  # a one-window model's: without window B's dates
        earlier = (payload.options(),) if isinstance(payload, SceneRequest) else ()  # an earlier agriseg's record
        items.append(Item(names[i], ids[i], (Path(folder) / f"{names[i]}.tif",), resolved=resolved, payload=payload,
                          same_as=earlier))  # fmt: skip
    opts = (batch or BatchOptions()).labelled("download", "area", progress=len(items) > 1)
    return _downloads(items, config, opts, model, inputs, table=Path(folder) / "areas.json")


@batch_keywords
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
    sha256: str | None = None,
    batch: BatchOptions | None = None,
) -> tuple[BatchResult, Path | None]:
    """``agriseg fields map``: predict + polygonise many scenes (Dask tasks, or serially); one merged file.

    With ``areas``, each area's scene is first downloaded into ``<outdir>/scenes`` and mapped too; areas
    whose download failed are counted as failed items.

    Returns:
        Every item's outcome (failed downloads, then the scenes) and the merged GeoParquet (None if no scene
        succeeded).
    """
    from agriseg.fields.landcover import check_landcover
    from agriseg.fields.mapping.runner import run_map

    batch = batch or BatchOptions()
    request = request or SceneRequest()
    if not dask.scheduler:  # the workers of a cluster elsewhere may have the GPU this machine lacks
        check_device(predict.device)
    check_landcover(polygons)
    kept, earlier = scene_paths(scenes)
    if earlier and not kept and not areas:
        raise NoInputError(f"{earlier[0]}: an output of an earlier run, not a scene" + _more(earlier))
    scene_list = [str(s) for s in kept]  # a glob over the output folder: its outputs are no scenes

    def check_inputs_and_dates() -> None:
        check_inputs(scene_list, "scene file")
        if areas:
            check_inputs([areas], "areas file")
            request.dates()  # a bad date range is a usage error before anything is fetched
        elif not scene_list:
            raise OptionError("give SCENES, or --areas with --win-a-dates and --win-b-dates (or --season auto)")

    if areas:  # a file of yours where a table goes: refused before the model or any scene is fetched
        check_inputs_and_dates()  # (after the areas file and the dates, as a run without it says them)
        from agriseg.batch import check_table
        from agriseg.fields.mapping.runner import MERGED_NAME, SUMMARY_NAME

        for name in (MERGED_NAME, SUMMARY_NAME):
            check_table(Path(outdir) / name, batch.overwrite, "fields map")
        check_table(Path(outdir) / "scenes" / "areas.json", batch.overwrite, "fields download")
    retries = (download_config or DownloadConfig()).retries
    model = _checked_model(model, sha256, check_inputs_and_dates, retries)
    from agriseg.fields.predict import check_scene_memory
    from agriseg.fields.registry import default_resize

    # the scenes given, before any runs (the model is loaded only in the workers: its resize read from the file)
    check_scene_memory(scene_list, predict, run.resize or default_resize(model))
    downloads = BatchResult([], unit="scene")
    if areas:
        config = download_config or DownloadConfig()
        got = download_areas(areas, Path(outdir) / "scenes", config, request, str(model), batch)
        scene_list += [r["scene"] for r in got if r["status"] not in ("error", "kept")]  # kept: other settings
        downloads = BatchResult([o for o in got.outcomes if o.status == "failed"], unit="scene", notes=got.notes)
        if not scene_list:  # every area failed: each said on its own line, exit 1 (not one joined error line)
            if earlier:
                downloads.notes.append(_not_read(earlier))
            return downloads, None
    common: dict[str, Any] = dict(predict=predict, polygonize=polygons, resize=run.resize, preprocess=run.preprocess(),
                  overwrite=batch.overwrite, collection=run.collection, strict=batch.strict, model_sha256=sha256,
                  landcover_stac=run.landcover_stac_url, landcover_retries=retries,
                  downloads=downloads)  # fmt: skip
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
    result = downloads + rows
    if earlier:
        result.notes.append(_not_read(earlier))
    return result, merged


SCENE_SUFFIXES = (".tif", ".tiff", ".vrt")
"""What a folder given as scenes is read for (a file named on its own is read whatever its suffix)."""


def scene_paths(scenes: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """The scene files of files and folders given (a folder: its GeoTIFFs and VRTs, sorted, not its
    subfolders), without what earlier runs of the fields commands wrote there: a glob or a folder an earlier
    run wrote into (the default: beside the scenes) holds its ``<name>_probs.tif``, which are no scenes.

    Returns:
        ``(scenes, dropped)``: the files to read, and the earlier outputs left out.

    Raises:
        NoInputError: a folder without scenes.
    """
    from agriseg.data.io import list_images
    from agriseg.manifest import drop_recorded

    files = [f for s in map(Path, scenes) for f in (list_images(s, SCENE_SUFFIXES, "scenes") if s.is_dir() else [s])]
    made_here = ("fields predict", "fields map", "fields polygonize", "fields run")
    return drop_recorded(files, made_here, inputs_first=("fields run",))  # a run's scene is one


def significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, never in scientific notation (a chip of 0.02 km2 was
    "0.0 km2 at 0.00 km2/s"; ``.3g`` writes 999.6 as ``1e+03``): ``0.0213``, ``12.3``, ``1,000``."""
    import math

    if value <= 0 or not math.isfinite(value):
        return f"{value:g}"
    value = float(f"{value:.{digits}g}")  # rounded first: 9.996 is 10.0, not "10.00"
    places = max(0, digits - 1 - math.floor(math.log10(value)))
    return f"{round(value, places):,.{places}f}"


def _more(items: Sequence[Any]) -> str:
    """`` (and 2 more)`` after the first of ``items`` named in a message; empty for one."""
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


def _not_read(earlier: Sequence[Path]) -> str:
    """The note of a run given some of its earlier outputs as scenes (:func:`agriseg.manifest.drop_recorded`)."""
    from agriseg.batch import counted

    return f"({counted(len(earlier), 'output')} of an earlier run among the scenes given not read as scenes)"


def _filters(dropped: dict[str, int]) -> str:
    """The polygon filters that removed polygons, as their flags say them (``--min-area 500 m2``)."""
    on = list(dropped)
    return " and ".join([", ".join(on[:-1]), on[-1]] if len(on) > 1 else on) or "the filters"
