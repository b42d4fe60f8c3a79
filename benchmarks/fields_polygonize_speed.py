"""Field polygons against known truth: ``agriseg fields polygonize`` vs ``ftw inference polygonize``.

One script makes the truth and measures both tools on it in the same run.

**Truth.** Voronoi fields from known seeds on a jittered grid (``--spacing`` 50 px apart, jitter +-0.45
spacing: cells of ~25 ha at 10 m with 6 corners on average; 10 % of the cells are background), rasterised
at 10 m (EPSG:32633) by pixel centre: background cell -> 0; field cell -> 2 (boundary) within half its
edge's boundary width of that edge, else 1. Each edge's width is drawn between ``--boundary-px`` 1 and 2
px: between two fields the band is centred on the shared edge (1-2 pixels across); towards background it
is half as wide, inside the field, as a field's own outline is in FTW labels. ``straight`` keeps the
Voronoi edges straight; ``warped`` classifies ``p + D(p)`` with a smooth displacement D (amplitude 8 px,
wavelengths 170-240 px), so every edge is curved (boundary widths are measured in raster pixels there too).
Truth polygons are ``scipy.spatial.Voronoi`` cells of the seeds (warped: the inverse image of the cell,
densified to 1 px), clipped to the raster; the shared edges between field cells are kept for the gap count.

**Runs.** Whole processes at their defaults, interleaved (ftw-tools, agriseg, agriseg ``--separation
components``, agriseg ``--split-boundary 0`` (boundary gap kept, for the comparison), then again) so load
from other work hits every tool alike, each writing FlatGeobuf; the
1-minute load average is recorded before each run. Peak memory is the summed PSS of the process tree
(agriseg's block workers included), sampled every 0.25 s.

**Columns** (from each tool's output, the same code for both): fields; coordinates per field (all rings,
closing points included; the truth's straight cells have ~7); geometry-only FlatGeobuf size (both written
again by the same writer with no attribute); overlapping pairs over all fields (intersection over 0.01
m2); ``shapely.coverage_is_valid``; gaps between touching fields: of the pairs of fields that share an edge
of 30 m or more in the truth (both matched; edges within 15 m of the raster's border left out: the border
cuts slivers off the cells there), those whose polygons share less than half that edge's length
(a gap or an overlap runs along it), and the shared length as a share of the truth's; median IoU with the
truth field polygons (best match each, 0 when none, over truth fields of 500 m2 or more); median absolute
and signed area and perimeter error of the matches with IoU > 0.5; time; peak memory; for agriseg, the
median area of a field over the same field's (same id) with the boundary gap kept, whether every field
without the split keeps its id with it, and how many fields exist only with the split (and their largest
area: small fields that reach ``--min-area`` only once they grow).

    python benchmarks/fields_polygonize_speed.py --rounds 3      # straight and warped, 10,000 x 10,000
    python benchmarks/fields_polygonize_speed.py --profile       # where agriseg's time goes, one process

ftw-tools runs from ``FTW_VENV`` (``python -m venv --system-site-packages $FTW_VENV &&
$FTW_VENV/bin/pip install ftw-tools==1.4.3 "torchgeo<0.8"``). Results:
``benchmarks/results/fields_polygonize_speed.json`` (medians over rounds, and every run; a run of one
``--kind`` keeps the other kind's last results);
``--profile`` writes ``benchmarks/results/fields_polygonize_profile.txt``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

import click
import numpy as np
from fields_map_common import CACHE, ftw_executable, measured_run

REPO = Path(__file__).resolve().parents[1]
PAD = 2  # grid cells of seeds outside the raster on each side
TRANSFORM = (10.0, 0.0, 300000.0, 0.0, -10.0, 5400000.0)
MIN_AREA = 500.0


# ---- truth ------------------------------------------------------------------------------------------------


def _seeds(size: int, spacing: float, seed: int, background: float) -> tuple[np.ndarray, np.ndarray]:
    """Seeds ``(n, n, 2)`` (x, y in pixels) on the jittered grid, and which cells are background."""
    rng = np.random.default_rng(seed)
    n = int(np.ceil(size / spacing)) + 2 * PAD
    jit = rng.uniform(-0.45, 0.45, (2, n, n))
    iy, ix = np.mgrid[0:n, 0:n] - PAD
    xy = np.stack([(ix + 0.5 + jit[1]) * spacing, (iy + 0.5 + jit[0]) * spacing], -1)
    return xy, rng.random((n, n)) < background


class Warp:
    """The smooth displacement ``D(x, y)`` (pixels) and the inverse of ``p -> p + D(p)``."""

    def __init__(self, amp: float, seed: int) -> None:
        self.amp = amp
        self.ph = np.random.default_rng(seed + 1).uniform(0, 2 * np.pi, 4)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, ph, l1, l2 = self.amp, self.ph, 240.0, 170.0
        dx = a * np.sin(2 * np.pi * y / l1 + ph[0]) + 0.5 * a * np.sin(2 * np.pi * (x + y) / l2 + ph[1])
        dy = a * np.sin(2 * np.pi * x / l1 + ph[2]) + 0.5 * a * np.sin(2 * np.pi * (x - y) / l2 + ph[3])
        return dx, dy

    def jacobian(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Partial derivatives ``dDx/dx, dDx/dy, dDy/dx, dDy/dy``."""
        a, ph, l1, l2 = self.amp, self.ph, 240.0, 170.0
        k1, k2 = 2 * np.pi / l1, 2 * np.pi / l2
        c1 = 0.5 * a * k2 * np.cos(k2 * (x + y) + ph[1])
        c3 = 0.5 * a * k2 * np.cos(k2 * (x - y) + ph[3])
        return c1, a * k1 * np.cos(k1 * y + ph[0]) + c1, a * k1 * np.cos(k1 * x + ph[2]) + c3, -c3

    def inverse(self, xy: np.ndarray) -> np.ndarray:
        """Points ``p`` with ``p + D(p) = xy`` (fixed-point iteration; D's gradient stays below 0.35)."""
        p = xy.copy()
        for _ in range(40):
            dx, dy = self(p[:, 0], p[:, 1])
            p = xy - np.stack([dx, dy], 1)
        return p


def _edge_width(k1: np.ndarray, k2: np.ndarray, lo: float, hi: float, seed: int) -> np.ndarray:
    """Boundary width of the edge between cells ``k1`` and ``k2`` (flat seed ids): uniform in ``lo..hi``,
    fixed per edge (a hash of the pair)."""
    a, b = np.minimum(k1, k2).astype(np.uint64), np.maximum(k1, k2).astype(np.uint64)
    h = (a * np.uint64(1000003) + b + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
    return lo + (hi - lo) * ((h >> np.uint64(40)).astype(np.float64) / 2.0**24)


def _class_rows(y0: int, y1: int, size: int, seeds: np.ndarray, bg: np.ndarray, spacing: float, width, warp):
    """Class rows ``y0:y1`` (uint8) of the raster; ``width`` = (smallest, largest) boundary width, seed."""
    px, py = np.meshgrid(np.arange(size) + 0.5, np.arange(y0, y1) + 0.5)
    jac = None
    if warp is not None:
        jac = warp.jacobian(px, py)
        dx, dy = warp(px, py)
        px, py = px + dx, py + dy
    n = seeds.shape[0]
    gi = np.floor(py / spacing).astype(np.int64) + PAD
    gj = np.floor(px / spacing).astype(np.int64) + PAD
    cand = []
    best = np.full(px.shape, np.inf)
    bi, bj = np.zeros(px.shape, np.int64), np.zeros(px.shape, np.int64)
    for di in range(-2, 3):  # the nearest seed and every neighbour of its cell lie in the 5 x 5 grid cells
        for dj in range(-2, 3):
            ii, jj = np.clip(gi + di, 0, n - 1), np.clip(gj + dj, 0, n - 1)
            d2 = (seeds[ii, jj, 0] - px) ** 2 + (seeds[ii, jj, 1] - py) ** 2
            cand.append((ii, jj, d2))
            m = d2 < best
            best, bi, bj = np.where(m, d2, best), np.where(m, ii, bi), np.where(m, jj, bj)
    s1x, s1y = seeds[bi, bj, 0], seeds[bi, bj, 1]
    boundary = np.zeros(px.shape, bool)
    for ii, jj, d2 in cand:
        # distance to the bisector of the own seed and this one: within half the edge's width = boundary
        nx, ny = seeds[ii, jj, 0] - s1x, seeds[ii, jj, 1] - s1y
        sep = np.hypot(nx, ny)
        dist = np.where(sep > 0, (d2 - best) / (2 * np.maximum(sep, 1e-9)), np.inf)
        if jac is not None:  # to a distance in raster pixels: divide by the gradient of n . (p + D(p))
            nx, ny = nx / np.maximum(sep, 1e-9), ny / np.maximum(sep, 1e-9)
            dxx, dxy, dyx, dyy = jac
            dist = dist / np.hypot(nx + nx * dxx + ny * dyx, ny + nx * dxy + ny * dyy)
        boundary |= dist < _edge_width(bi * n + bj, ii * n + jj, *width) / 2
    return np.where(bg[bi, bj], 0, np.where(boundary, 2, 1)).astype(np.uint8)


def _truth(size: int, seeds: np.ndarray, bg: np.ndarray, warp) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Truth field polygons and their cell ids; the shared edges between field cells and their two cells."""
    import shapely
    from scipy.spatial import Voronoi

    vor = Voronoi(seeds.reshape(-1, 2))
    flat_bg = bg.ravel()
    cells = [k for k in range(len(flat_bg)) if not flat_bg[k] and -1 not in vor.regions[vor.point_region[k]]]
    polys = np.asarray([shapely.Polygon(vor.vertices[vor.regions[vor.point_region[k]]]) for k in cells], object)
    rp, rv = np.asarray(vor.ridge_points), np.asarray(vor.ridge_vertices)
    ok = (rv >= 0).all(1) & ~flat_bg[rp[:, 0]] & ~flat_bg[rp[:, 1]]
    edges = shapely.linestrings(vor.vertices[rv[ok]])
    pairs = rp[ok]
    # the outer cells reach far out: cut to the frame plus the largest displacement first
    margin = 2 * warp.amp + 2 if warp is not None else 1.0
    big = shapely.box(-margin, -margin, size + margin, size + margin)
    polys, edges = shapely.intersection(polys, big), shapely.intersection(edges, big)
    if warp is not None:
        polys, edges = shapely.segmentize(polys, 1.0), shapely.segmentize(edges, 1.0)
        polys = shapely.set_coordinates(polys, warp.inverse(shapely.get_coordinates(polys)))
        edges = shapely.set_coordinates(edges, warp.inverse(shapely.get_coordinates(edges)))
    frame = shapely.box(0, 0, size, size)
    polys, edges = shapely.intersection(polys, frame), shapely.intersection(edges, frame)
    keep, keep_e = shapely.area(polys) > 0, shapely.length(edges) > 0
    return polys[keep], np.asarray(cells)[keep], edges[keep_e], pairs[keep_e]


def _to_crs(geoms: np.ndarray) -> np.ndarray:
    import shapely

    a, b, c, d, e, f = TRANSFORM
    return shapely.transform(
        geoms, lambda xy: np.column_stack([a * xy[:, 0] + b * xy[:, 1] + c, d * xy[:, 0] + e * xy[:, 1] + f])
    )


def voronoi_truth(
    kind: str, size: int, spacing: float, boundary: tuple[float, float], seed: int = 0
) -> tuple[Path, Path, Path]:
    """The class raster, truth polygons and truth edges (GeoParquet) of one kind, made once and cached."""
    import geopandas as gpd
    import rasterio
    from affine import Affine
    from tqdm import tqdm

    lo, hi = boundary
    default = (spacing, lo, hi, seed) == (50.0, 1.0, 2.0, 0)
    stem = f"voronoi_{kind}_{size}" + ("" if default else f"_{spacing}_{lo}_{hi}_{seed}")
    out = CACHE / "voronoi" / f"{stem}.tif"
    truth, edges_path = out.with_name(f"{stem}_truth.parquet"), out.with_name(f"{stem}_edges.parquet")
    if out.is_file() and truth.is_file() and edges_path.is_file():
        return out, truth, edges_path
    seeds, bg = _seeds(size, spacing, seed, 0.1)
    warp = Warp(8.0, seed) if kind == "warped" else None
    prof = {
        "driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "uint8", "crs": "EPSG:32633",
        "transform": Affine(*TRANSFORM), "tiled": True, "blockxsize": 512, "blockysize": 512,
        "compress": "deflate", "BIGTIFF": "IF_SAFER",
    }  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    if not (truth.is_file() and edges_path.is_file()):
        polys, cells, edges, pairs = _truth(size, seeds, bg, warp)
        cols = {"a": pairs[:, 0], "b": pairs[:, 1]}
        gpd.GeoDataFrame(cols, geometry=_to_crs(edges), crs="EPSG:32633").to_parquet(edges_path)
        gpd.GeoDataFrame({"cell": cells}, geometry=_to_crs(polys), crs="EPSG:32633").to_parquet(truth)
    if out.is_file():
        return out, truth, edges_path
    tmp = out.with_name(f".{out.name}.tmp")
    with rasterio.open(tmp, "w", **prof) as dst:
        for y0 in tqdm(range(0, size, 32), desc=f"rasterise {out.name}", unit="strip"):
            y1 = min(size, y0 + 32)
            rows = _class_rows(y0, y1, size, seeds, bg, spacing, (lo, hi, seed), warp)
            dst.write(rows[None], window=rasterio.windows.Window(0, y0, size, y1 - y0))
    os.replace(tmp, out)
    return out, truth, edges_path


# ---- measures ---------------------------------------------------------------------------------------------


def _read(path: Path) -> np.ndarray:
    import geopandas as gpd

    return np.asarray(gpd.read_file(path).geometry.values, dtype=object)


def overlapping_pairs(geoms: np.ndarray) -> tuple[int, float]:
    """Pairs of polygons whose intersection is larger than 0.01 m2, and the summed intersection (m2)."""
    import shapely

    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    a, b = a[a < b], b[a < b]
    inter = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    return int((inter > 0.01).sum()), float(inter[inter > 0.01].sum())


def geometry_fgb_mb(geoms: np.ndarray, path: Path) -> float:
    """Size of a FlatGeobuf holding only the geometries (the same writer for every tool)."""
    import geopandas as gpd

    gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms, crs="EPSG:32633")).to_file(path, driver="FlatGeobuf")
    return round(path.stat().st_size / 1e6, 2)


def quality(pred: np.ndarray, truth_path: Path, edges_path: Path, scratch: Path) -> dict:
    """Every column of the table for one tool's polygons."""
    import geopandas as gpd
    import shapely

    t = gpd.read_parquet(truth_path)
    tg, tcell = np.asarray(t.geometry.values, object), t["cell"].to_numpy()
    big = shapely.area(tg) >= MIN_AREA
    ti, pi = shapely.STRtree(pred).query(tg, predicate="intersects")
    inter = shapely.area(shapely.intersection(tg[ti], pred[pi]))
    iou = inter / (shapely.area(tg[ti]) + shapely.area(pred[pi]) - inter)
    order = np.argsort(iou)
    best, match = np.zeros(len(tg)), np.full(len(tg), -1)
    best[ti[order]], match[ti[order]] = iou[order], pi[order]
    m = (best > 0.5) & big
    at, ap = shapely.area(tg[m]), shapely.area(pred[match[m]])
    lt, lp = shapely.length(tg[m]), shapely.length(pred[match[m]])
    pairs, overlap_m2 = overlapping_pairs(pred)
    # gaps: truth edges between two field cells that are both matched (to different polygons)
    e = gpd.read_parquet(edges_path)
    pred_of = dict(zip(tcell[m].tolist(), match[m].tolist(), strict=True))
    a = np.array([pred_of.get(c, -1) for c in e["a"].tolist()])
    b = np.array([pred_of.get(c, -1) for c in e["b"].tolist()])
    both = (a >= 0) & (b >= 0) & (a != b)
    lines = np.asarray(e.geometry.values, object)
    truth_len = shapely.length(lines)
    both &= truth_len >= 30.0  # shorter edges are under 3 pixels: their place depends on the pixel grid
    # edges that run into the raster's border separate cells cut by it (slivers of the truth)
    x0, y0, x1, y1 = shapely.total_bounds(tg)
    both &= ~shapely.intersects(lines, shapely.buffer(shapely.box(x0, y0, x1, y1).boundary, 15.0))
    pa, pb, truth_len = pred[a[both]], pred[b[both]], truth_len[both]
    shared = shapely.length(shapely.intersection(shapely.boundary(pa), shapely.boundary(pb)))
    coords = shapely.get_num_coordinates(pred)
    return {
        "fields": len(pred),
        "coords_per_field": round(float(coords.mean()), 2),
        "truth_coords_per_field": round(float(shapely.get_num_coordinates(tg).mean()), 2),
        "geometry_fgb_mb": geometry_fgb_mb(pred, scratch),
        "overlapping_pairs": pairs,
        "overlap_m2": round(overlap_m2, 1),
        "coverage_valid": bool(shapely.coverage_is_valid(pred)),
        "touching_pairs": int(both.sum()),
        "gap_pairs": int((shared < 0.5 * truth_len).sum()),
        "shared_edge_pct": round(float(shared.sum() / max(truth_len.sum(), 1e-9)) * 100, 1),
        "truth_fields": int(big.sum()),
        "median_iou": round(float(np.median(best[big])), 4),
        "matched_iou_gt_0_5": int(m.sum()),
        "median_abs_area_error_pct": round(float(np.median(np.abs(ap - at) / at)) * 100, 2),
        "median_area_error_pct": round(float(np.median((ap - at) / at)) * 100, 2),
        "median_abs_perimeter_error_pct": round(float(np.median(np.abs(lp - lt) / lt)) * 100, 2),
        "median_perimeter_error_pct": round(float(np.median((lp - lt) / lt)) * 100, 2),
    }


# ---- runs -------------------------------------------------------------------------------------------------


def tools(src: Path, work: Path, stem: str) -> dict[str, list[str]]:
    agriseg = [sys.executable, "-m", "agriseg", "fields", "polygonize", str(src), "--overwrite"]
    ftw = [ftw_executable(), "inference", "polygonize", str(src), "-f"]
    return {
        "ftw": [*ftw, "-o", str(work / f"{stem}_ftw.fgb")],
        "agriseg": [*agriseg, "-o", str(work / f"{stem}_agriseg.fgb")],
        "agriseg_components": [*agriseg, "-o", str(work / f"{stem}_agriseg_components.fgb"), "--separation=components"],
        "agriseg_no_split": [*agriseg, "-o", str(work / f"{stem}_agriseg_no_split.fgb"), "--split-boundary=0"],
    }


def profile(src: Path, out: Path) -> None:
    """cProfile of agriseg's stages in one process (one worker, so the profile sees every call)."""
    import cProfile
    import io
    import pstats
    import time

    from agriseg.vector.config import PolygonizeConfig
    from agriseg.vector.fiboa import fields_frame, write_fields
    from agriseg.vector.geometry import clean_fields, pixel_to_crs
    from agriseg.vector.polygonize import polygonize_table

    text = io.StringIO()
    text.write(f"raster {src.name}, load average before: {os.getloadavg()[0]:.2f}\n")
    for sep in ("watershed", "components"):
        cfg = PolygonizeConfig(workers=1, progress=False, separation=sep)
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        table, prof_ = polygonize_table(src, cfg)
        t1 = time.perf_counter()
        geoms = pixel_to_crs(table.geoms, prof_["transform"])
        cleaned, area, perim, keep = clean_fields(geoms, prof_["crs"], cfg.min_area_m2, cfg.fill_holes_m2)
        df = fields_frame(cleaned, prof_["crs"], [f"f-{r}-{c}" for r, c in table.keys[keep].tolist()], area, perim)
        t2 = time.perf_counter()
        write_fields(df, CACHE / "polygonize_speed" / f"profile_{sep}.parquet")
        t3 = time.perf_counter()
        prof.disable()
        text.write(
            f"\n== {sep}: {len(table.keys)} fields; pixels -> polygons {t1 - t0:.2f} s, clean-up + frame "
            f"{t2 - t1:.2f} s, write GeoParquet {t3 - t2:.2f} s (one process, profiler on)\n"
        )
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(16)
        text.write("\n".join(line for line in s.getvalue().splitlines() if line.strip()) + "\n")
    out.write_text(text.getvalue())
    print(text.getvalue())


@click.command()
@click.option(
    "--kind", "kinds", type=click.Choice(["straight", "warped"]), multiple=True, default=("straight", "warped")
)
@click.option("--size", default=10000, show_default=True, help="raster side in pixels")
@click.option("--spacing", default=50.0, show_default=True, help="seed spacing in pixels")
@click.option(
    "--boundary-px",
    default=(1.0, 2.0),
    nargs=2,
    type=float,
    show_default=True,
    help="smallest and largest boundary width between two fields (each edge's drawn between them)",
)
@click.option("--rounds", default=3, show_default=True)
@click.option("--profile", "do_profile", is_flag=True, help="profile agriseg's stages instead (straight raster)")
@click.option("--out", default=str(REPO / "benchmarks" / "results" / "fields_polygonize_speed.json"), show_default=True)
def main(
    kinds: tuple[str, ...],
    size: int,
    spacing: float,
    boundary_px: tuple[float, float],
    rounds: int,
    do_profile: bool,
    out: str,
) -> None:
    """Make the truth, run both tools interleaved, measure their polygons."""
    work = CACHE / "polygonize_speed"
    work.mkdir(parents=True, exist_ok=True)
    if do_profile:
        src, _, _ = voronoi_truth("straight", size, spacing, boundary_px)
        profile(src, REPO / "benchmarks" / "results" / "fields_polygonize_profile.txt")
        return
    result: dict = {"size": size, "spacing_px": spacing, "boundary_px": list(boundary_px), "kinds": {}}
    prev = json.loads(Path(out).read_text()) if Path(out).is_file() else {}
    if all(prev.get(k) == result[k] for k in ("size", "spacing_px", "boundary_px")):
        result["kinds"] = prev.get("kinds", {})  # kinds not run now keep their last results
    result["cpu_count"] = os.cpu_count()
    for kind in kinds:
        src, truth, edges = voronoi_truth(kind, size, spacing, boundary_px)
        stem = src.stem
        cmds = tools(src, work, stem)
        runs: list[dict] = []
        for r in range(rounds):
            for name, cmd in cmds.items():
                row = {"kind": kind, "tool": name, "round": r, **measured_run(cmd, {"OMP_NUM_THREADS": "1"})}
                runs.append(row)
                print(json.dumps(row), flush=True)
        summary: dict = {}
        for name in cmds:
            rows = [x for x in runs if x["tool"] == name and x["rc"] == 0]
            if not rows:
                continue
            summary[name] = {
                k: statistics.median(x[k] for x in rows) for k in ("wall_s", "peak_tree_pss_gb", "max_rss_gb")
            }
            summary[name]["wall_s_rounds"] = [x["wall_s"] for x in rows]
            if name != "ftw":  # ratios per round (same round = same load), then the median
                ftw = [x for x in runs if x["tool"] == "ftw"]
                ratios = [f["wall_s"] / a["wall_s"] for f, a in zip(ftw, rows, strict=False) if f["rc"] == 0]
                summary[name]["speedup_vs_ftw_median"] = round(statistics.median(ratios), 2) if ratios else None
                summary[name]["speedup_vs_ftw_rounds"] = [round(v, 2) for v in ratios]
            fgb = Path(cmds[name][cmds[name].index("-o") + 1])
            summary[name].update(quality(_read(fgb), truth, edges, work / f"{stem}_{name}_geometry.fgb"))
            print(name, json.dumps(summary[name]), flush=True)
        if {"agriseg", "agriseg_no_split"} <= set(summary):  # what the gap split adds to each field
            import geopandas as gpd

            a, b = (gpd.read_file(Path(cmds[k][cmds[k].index("-o") + 1])) for k in ("agriseg", "agriseg_no_split"))
            ratio = a.set_index("id")["metrics:area"] / b.set_index("id")["metrics:area"]
            summary["agriseg"]["median_area_vs_no_split"] = round(float(ratio.median()), 4)
            # ids are each field's first interior pixel, so the split keeps them: every field without the
            # split has its id with it; the only new ids are small fields that reach --min-area by growing
            ids_a, ids_b = set(a["id"]), set(b["id"])
            summary["agriseg"]["no_split_ids_all_kept"] = ids_b <= ids_a
            extra = a.set_index("id").loc[sorted(ids_a - ids_b), "metrics:area"]
            summary["agriseg"]["fields_only_with_split"] = len(extra)
            summary["agriseg"]["fields_only_with_split_max_m2"] = round(float(extra.max()), 1) if len(extra) else None
        result["kinds"][kind] = {
            "raster": str(src.relative_to(REPO)),
            "rounds": rounds,
            "load_1min": [min(x["load_1min_before"] for x in runs), max(x["load_1min_before"] for x in runs)],
            "summary": summary,
            "runs": runs,
        }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v["summary"] for k, v in result["kinds"].items()}, indent=1))


if __name__ == "__main__":
    main()
