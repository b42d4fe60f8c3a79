"""``agriseg crop plots``: per-plot tables of each orthomosaic, and growth over dates.

Per mosaic ``<name>``: ``<name>_plots.gpkg`` (the plots with their statistics, in the mosaic's CRS) and
``<name>_plots.csv`` (the same without geometry, with the mosaic and its date). With mosaics of two or more
dates: ``growth.csv`` (one row per plot and date) and ``growth.png`` (green fraction over time, one line per
plot). The date of a mosaic comes from its file name: the ``date`` field of the ``meta`` template, or else
the first ``YYYY-MM-DD`` / ``YYYYMMDD`` in the name; mosaics without a date are ordered as given.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agriseg.crop.config import PlotsConfig
from agriseg.crop.traits.inputs import ModelSegmenter
from agriseg.crop.traits.meta import parse_date, parse_name
from agriseg.crop.traits.orthomosaic import plot_stats
from agriseg.data.files import atomic_write

if TYPE_CHECKING:
    from agriseg.batch import BatchResult

_DATE = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2}|\d{8})(?!\d)")
GROWTH_FIELDS = ["plot_id", "date", "mosaic", "status", "green_fraction", "green_area_index", "plant_count"]


def mosaic_date(path: Path, template: str | None) -> str | None:
    """The date of a mosaic from its file name (see the module docstring), ISO 8601, or None.

    Raises:
        ValueError: when ``template`` is given and the name does not match it or has no date field.
    """
    if template:
        meta = parse_name(path, template)
        dates = [v for k, v in meta.items() if k.lower().endswith("date")]
        if not dates:
            raise ValueError(f"{path}: the template {template!r} has no date field")
        return dates[0]
    m = _DATE.search(path.stem)
    if m is None:
        return None
    try:
        return parse_date(m.group(1))
    except ValueError:
        return None


# agriseg's version of what crop plots writes from a mosaic, plots and options (part of every fingerprint)
ALGORITHM = "1"


def run_plots(
    mosaics: list[str | Path],
    outdir: str | Path,
    config: PlotsConfig,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
) -> BatchResult:
    """Plot statistics of every mosaic, then the growth table and plot (see the module docstring).

    The mosaics go through :func:`agriseg.batch.run_batch` (skip / resume, strict, counts).

    Returns:
        One record per mosaic: ``file``, ``date``, ``status`` (ok / skipped / error), ``error``, ``rows``.
    """
    from agriseg.batch import BatchOptions, Item, run_batch, unique_names
    from agriseg.fingerprint import Recipe

    outdir = Path(outdir)
    segment = ModelSegmenter(config.model_name)  # each mosaic window is segmented as crop predict segments a photo
    names = unique_names(mosaics)
    items = [Item(n, m, (outdir / f"{n}_plots.gpkg", outdir / f"{n}_plots.csv"), (m,)) for m, n in names.items()]
    from agriseg.models.io import resolve

    recipe = Recipe("crop plots", ALGORITHM, config.model_dump(exclude={"model_name", "plots"}),
                    lambda: resolve(config.model_name), [config.plots])  # fmt: skip

    def work(item: Item) -> dict[str, Any]:
        m = Path(item.source)
        date = mosaic_date(m, config.meta)
        gdf = plot_stats(m, config, segment, progress)
        if len(gdf) and (gdf["status"] == "outside mosaic").all():
            raise ValueError(
                f"{m}: none of the {len(gdf)} plots of {config.plots} overlaps this mosaic "
                "(check that both cover the same place and that the plots file's CRS is right)"
            )
        gpkg, table = item.outputs
        with atomic_write(gpkg) as tmp:
            gdf.to_file(tmp, driver="GPKG", layer="plots")
        rows = [{"mosaic": str(m), "date": date or "", **r} for r in gdf.drop(columns="geometry").to_dict("records")]
        _write_csv(table, rows, ["mosaic", "date", *[c for c in gdf.columns if c != "geometry"]])
        return {"file": str(m), "date": date, "status": "ok", "rows": rows}

    def resume(item: Item) -> dict[str, Any] | None:
        try:
            date = mosaic_date(Path(item.source), config.meta)
            with item.outputs[1].open(newline="") as fh:
                rows = list(csv.DictReader(fh))
        except (OSError, ValueError):
            return None
        return {"file": str(item.source), "date": date, "status": "skipped", "rows": rows}

    result = run_batch(
        items,
        work,
        options=BatchOptions(overwrite, strict, progress and len(items) > 1, "plots", "mosaic"),
        recipe=recipe,
        resume=resume,
        failed=lambda it, msg: {"file": str(it.source), "date": None, "status": "error", "error": msg, "rows": []},
    )
    done = [r for r in result if r["status"] != "error"]
    if len(done) >= 2:
        write_growth(done, outdir)
    return result


def _write_csv(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> None:
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows({k: ("" if r.get(k) is None else r.get(k)) for k in fields} for r in rows)


def write_growth(records: list[dict[str, Any]], outdir: Path) -> None:
    """``growth.csv`` and ``growth.png`` from the per-mosaic records (in date order, undated ones as given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = sorted(range(len(records)), key=lambda i: (records[i]["date"] is None, records[i]["date"] or "", i))
    rows = []
    for i in order:
        rec = records[i]
        label = rec["date"] or Path(rec["file"]).stem
        rows += [{**r, "date": label, "mosaic": rec["file"]} for r in rec["rows"]]
    rows.sort(key=lambda r: str(r["plot_id"]))  # stable: dates stay in order within a plot
    _write_csv(outdir / "growth.csv", rows, GROWTH_FIELDS)
    labels = [records[i]["date"] or Path(records[i]["file"]).stem for i in order]
    series: dict[str, list[float | None]] = {}
    for r in rows:
        v = r.get("green_fraction")
        series.setdefault(str(r["plot_id"]), []).append(float(v) if v not in (None, "") else None)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for pid, ys in series.items():
        ax.plot(labels[: len(ys)], [float("nan") if y is None else y for y in ys], marker="o", lw=1, label=pid)
    ax.set_xlabel("date")
    ax.set_ylabel("green fraction")
    ax.set_ylim(0, 1)
    ax.set_title(f"green fraction per plot ({len(series)} plots)")
    if len(series) <= 12:
        ax.legend(title="plot", fontsize=7, ncols=2)
    fig.autofmt_xdate()
    fig.tight_layout()
    with atomic_write(outdir / "growth.png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)
