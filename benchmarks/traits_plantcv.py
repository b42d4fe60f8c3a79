"""Per-plant size traits of agriseg against PlantCV 4.x's size analysis, on the same labelled masks.

The masks: generated shapes (discs, ellipses at several angles, rectangles, an L, a ring) and the vegetation
of Peanut label masks (real photos, ``../shared/data/peanut/labels``). Plants are the 8-connected components
of at least ``--min-size`` pixels, without watershed splitting, so both tools measure the same objects: the
label image made by :func:`agriseg.crop.traits.plants.label_plants` goes to ``plantcv.analyze.size`` as its
labelled mask, run in PlantCV's own environment (a subprocess of ``--plantcv-python``):

    python -m venv /tmp/plantcv-venv && /tmp/plantcv-venv/bin/pip install plantcv
    PYTHONPATH=src python benchmarks/traits_plantcv.py --photos 20 -o benchmarks/results/traits_plantcv.json

For every trait and plant: the relative difference (agriseg - PlantCV) / PlantCV; the table gives its median,
its 95th percentile of the absolute value, and the share of plants within 1%.

``--trays DIR``: the tray benchmark instead, on generated trays with per-pot truth (``agriseg crop
make-synthetic tray``, committed in ``benchmarks/data/trays``). Each ``--model`` runs as the user runs it, as
whole processes: ``agriseg crop predict``, ``agriseg crop traits --grid ROWSxCOLS`` (default options) and
``agriseg crop plots --plots pots.csv`` (the regions ``crop traits`` wrote); PlantCV runs its tutorial
workflow for trays in its own environment in the same run (Otsu on LAB a, ``fill`` of specks under
``--min-size``, ``roi.auto_grid``, ``create_labels``, ``analyze.size``). Per pot, region / ROI ``k`` is pot ``k``
(row by row), as a user reads the tables. Per tray, "grid on the tray": the box ``crop traits`` put its grid on
lies on the true tray (every edge within a quarter of a pot's pitch):

    PYTHONPATH=src python benchmarks/traits_plantcv.py --trays benchmarks/data/trays \
        --plantcv-python /work/venvs/plantcv/bin/python --model default --model crop-weed \
        -o benchmarks/results/traits_trays.json
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
TRAITS = [
    "area",
    "width",
    "height",
    "convex_hull_area",
    "solidity",
    "perimeter",
    "ellipse_major_axis",
    "ellipse_minor_axis",
]

PLANTCV_SCRIPT = r"""
import json, sys
import numpy as np
from plantcv import plantcv as pcv

pcv.params.debug = None
out = {}
for f in sys.argv[1:-1]:
    lab = np.load(f)
    n = int(lab.max())
    pcv.outputs.clear()
    pcv.analyze.size(img=np.zeros(lab.shape + (3,), np.uint8), labeled_mask=lab, n_labels=n, label="p")
    obs = pcv.outputs.observations
    out[f] = {k.split("_")[-1]: {v: obs[k][v]["value"] for v in obs[k]} for k in obs if k.startswith("p_")}
with open(sys.argv[-1], "w") as fh:
    json.dump(out, fh, default=str)
"""


def synthetic_masks() -> dict[str, np.ndarray]:
    """Generated shapes, one mask per kind (several objects each)."""
    from skimage.draw import disk, ellipse, polygon

    out = {}
    m = np.zeros((400, 600), bool)
    for i, r in enumerate([5, 10, 20, 40]):
        m[disk((100 + (i % 2) * 180, 80 + i * 140), r)] = True
    out["discs"] = m
    m = np.zeros((400, 600), bool)
    for i, rot in enumerate(np.deg2rad([0, 30, 60, 90, 135, 170])):
        rr, cc = ellipse(100 + (i // 3) * 200, 100 + (i % 3) * 200, 25, 70, shape=m.shape, rotation=rot)
        m[rr, cc] = True
    out["ellipses"] = m
    m = np.zeros((400, 600), bool)
    m[50:150, 50:250] = True  # rectangle
    rr, cc = polygon([200, 200, 380, 380, 330, 330], [50, 250, 250, 200, 200, 50])  # an L
    m[rr, cc] = True
    ring = np.zeros_like(m)
    ring[disk((250, 450), 80)] = True
    ring[disk((250, 450), 40)] = False
    out["rectangle_l_ring"] = m | ring
    return out


def peanut_masks(shared: Path, n: int) -> dict[str, np.ndarray]:
    """Vegetation (crop + weed) of the first ``n`` Peanut label masks."""
    from agriseg.crop.labels import PEANUT_VEGETATION, read_label

    files = sorted((shared / "data" / "peanut" / "labels").glob("*.png"))[:n]
    return {f"peanut/{f.stem}": read_label(f, "colormap", PEANUT_VEGETATION) == 1 for f in files}


PLANTCV_TRAYS = r"""
import json, sys
import numpy as np
from plantcv import plantcv as pcv

pcv.params.debug = None
jobs, out = json.loads(sys.argv[1]), {}
for job in jobs:
    img, _, _ = pcv.readimage(job["photo"])
    a = pcv.rgb2gray_lab(rgb_img=img, channel="a")
    mask = pcv.threshold.otsu(gray_img=a, object_type="dark")
    mask = pcv.fill(bin_img=mask, size=job["min_size"])
    rois = pcv.roi.auto_grid(mask=mask, nrows=job["rows"], ncols=job["cols"], img=img)
    labels, n = pcv.create_labels(mask=mask, rois=rois)
    centres = []
    for c in rois.contours:
        pts = np.concatenate([np.asarray(k).reshape(-1, 2) for k in c])
        centres.append(pts.mean(0).tolist())
    np.save(job["labels"], labels.astype(np.int32))
    out[job["photo"]] = {"n": int(n), "centres": centres}
with open(sys.argv[2], "w") as fh:
    json.dump(out, fh)
"""


def _run(cmd: list[str]) -> None:
    """Run one command as a user would (a whole process); stop the benchmark when it fails."""
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")


def _score(truth: dict, label_truth: np.ndarray, pots: list[dict], objects: np.ndarray) -> dict:
    """Per-pot scores of one tray: ``pots`` (in pot order) with ``plant_count`` and ``plant_area``,
    ``objects`` the tool's labelled objects: one with under 20% of its pixels on a true plant is an object
    not on a plant (a label, a marker, an edge strip)."""
    full = [t for t in truth["pots"] if t["plant_count"] > 0]
    empty = [t for t in truth["pots"] if t["plant_count"] == 0]
    got = {str(i + 1): p for i, p in enumerate(pots)}
    missing = {"plant_count": 0, "plant_area": 0.0}
    veg = label_truth > 0
    false = sum(1 for k in range(1, int(objects.max()) + 1) if (objects == k).any() and veg[objects == k].mean() < 0.2)
    area_err = [
        (got.get(t["id"], missing)["plant_area"] - t["area_px"]) / t["area_px"] for t in full if t["area_px"] > 0
    ]
    extra = {}
    if any("model_sure" in p for p in pots):  # agriseg's check flag (crop traits warns naming these pots)
        from agriseg.crop.traits.regions import needs_check

        flagged = [t for t in full if t["area_px"] > 0 and needs_check(got.get(t["id"], {}))]
        off = [t for t in flagged if abs(got[t["id"]]["plant_area"] - t["area_px"]) > 0.10 * t["area_px"]]
        extra = {"flagged": len(flagged), "flagged_off": len(off)}
    return {
        "pots": len(truth["pots"]),
        "full": len(full),
        "found": sum(got.get(t["id"], missing)["plant_count"] > 0 for t in full),
        "empty": len(empty),
        "empty_correct": sum(got.get(t["id"], missing)["plant_count"] == 0 for t in empty),
        "count_exact": sum(got.get(t["id"], missing)["plant_count"] == t["plant_count"] for t in truth["pots"]),
        "area_within_10": sum(abs(e) <= 0.10 for e in area_err),
        "area_abs_err_median": float(np.median(np.abs(area_err))) if area_err else None,
        "false_objects": false,
        **extra,
    }


def grid_on_tray(box: list[int] | None, tray: dict) -> bool:
    """Whether the grid's box lies on the true tray: every edge within a quarter of a pot's pitch of the tray's."""
    if box is None:
        return False
    tol = 0.25 * min(tray["tray"][2] / tray["cols"], tray["tray"][3] / tray["rows"])
    return all(abs(a - b) <= tol for a, b in zip(box, tray["tray"], strict=True))


def trays_benchmark(a: argparse.Namespace) -> None:
    """The tray benchmark (see the module docstring)."""
    from agriseg.crop.config import TraitsConfig
    from agriseg.crop.traits.inputs import read_mask
    from agriseg.crop.traits.runner import measure
    from agriseg.data.files import write_json, write_text
    from agriseg.data.io import read_rgb

    index = json.loads((a.trays / "index.json").read_text())
    names = sorted(index["photos"])
    photo = {n: a.trays / "images" / f"{n}.jpg" for n in names}
    truth_label = {n: np.asarray(Image.open(a.trays / "labels" / f"{n}.png"))[..., 1] > 0 for n in names}
    agriseg = [sys.executable, "-m", "agriseg"]
    report: dict = {"trays": str(a.trays), "photos": names, "tools": {}}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for model in a.model:
            per: dict = {}
            for n in names:
                tr = index["photos"][n]
                grid = f"{tr['rows']}x{tr['cols']}"
                out = t / model.strip("/").replace("/", "_") / n  # a model file path names a folder of its own
                _run([*agriseg, "crop", "predict", str(photo[n]), "-o", str(out / "predict"), "--model", model])
                _run([*agriseg, "crop", "traits", str(photo[n]), "-o", str(out / "traits"), "--grid", grid,
                      "--model", model])  # fmt: skip
                rec = json.loads((out / "traits" / f"{n}_traits.json").read_text())
                with (out / "pots.csv").open("w") as fh:
                    fh.write("id,x,y,width,height\n")
                    fh.writelines(f"{r['id']},{r['x']:.0f},{r['y']:.0f},{r['width']:.0f},{r['height']:.0f}\n"
                                  for r in rec["regions"])  # fmt: skip
                _run([*agriseg, "crop", "plots", str(photo[n]), "--plots", str(out / "pots.csv"), "-o",
                      str(out / "plots"), "--model", model])  # fmt: skip
                with (out / "plots" / f"{n}_plots.csv").open() as fh:
                    plots = list(csv.DictReader(fh))
                mask = read_mask(out / "traits" / f"{n}_mask.png")
                same_mask = bool((mask == read_mask(out / "predict" / f"{n}_mask.png")).all())
                # the plant labels crop traits measured (the same function on the mask it saved)
                m = measure(mask, read_rgb(photo[n]), TraitsConfig(grid=grid))
                keys = ("plant_count", "plant_area", "model_sure")
                pots = [{k: r[k] for k in keys if k in r} for r in rec["regions"]]
                same = all(
                    int(p["plant_count"]) == r["plant_count"] and float(p["plant_area_px2"]) == r["plant_area"]
                    for p, r in zip(plots, rec["regions"], strict=True)
                )
                extra = {"traits_equal_plots": same, "mask_equal_predict": same_mask}
                extra |= {"grid_box": rec["grid_box"], "truth_tray": tr["tray"]}
                extra["grid_on_tray"] = grid_on_tray(rec["grid_box"], tr)
                per[n] = {**_score(tr, truth_label[n], pots, m.labels), **extra}
            report["tools"][f"agriseg {model}"] = per
        jobs = [
            {"photo": str(photo[n]), "rows": index["photos"][n]["rows"], "cols": index["photos"][n]["cols"],
             "min_size": a.min_size, "labels": str(t / f"{n}_pcv.npy")}
            for n in names
        ]  # fmt: skip
        res = t / "plantcv.json"
        subprocess.run([a.plantcv_python, "-c", PLANTCV_TRAYS, json.dumps(jobs), str(res)], check=True)
        pcv = json.loads(res.read_text())
        per = {}
        for n, job in zip(names, jobs, strict=True):
            lab = np.load(job["labels"])
            cols = index["photos"][n]["cols"]
            cent = np.array(pcv[job["photo"]]["centres"])
            order = sorted(range(len(cent)), key=lambda i: (cent[i][1], cent[i][0]))
            rows = [sorted(order[r : r + cols], key=lambda i: cent[i][0]) for r in range(0, len(order), cols)]
            areas = np.bincount(lab.ravel(), minlength=len(cent) + 1)
            pots = [{"plant_count": int(areas[i + 1] > 0), "plant_area": float(areas[i + 1])} for r in rows for i in r]
            per[n] = _score(index["photos"][n], truth_label[n], pots, lab)
        report["tools"]["PlantCV " + _plantcv_version(a.plantcv_python)] = per
    write_json(a.output, report)
    lines = _tray_table(report)
    write_text(a.output.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


def _tray_table(report: dict) -> list[str]:
    """The markdown table: one row per tool, totals over the trays."""
    lines = [
        f"Tray benchmark: {len(report['photos'])} generated trays ({report['trays']}), per pot",
        "",
        "| tool | non-empty pots found | empty pots reported empty | counts exact | area within +-10% "
        "| median area error (of the trays' medians) | objects not on a plant | traits == plots | mask == predict "
        "| grid on the tray "
        "| pots named to check (of them off by > 10 %) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tool, per in report["tools"].items():
        v = list(per.values())
        tot = {k: sum(x[k] for x in v) for k in ("pots", "full", "found", "empty", "empty_correct", "count_exact",
                                                  "area_within_10", "false_objects")}  # fmt: skip
        med = np.median([x["area_abs_err_median"] for x in v if x["area_abs_err_median"] is not None])
        same = f"{sum(x['traits_equal_plots'] for x in v)}/{len(v)}" if "traits_equal_plots" in v[0] else "-"
        mask = f"{sum(x['mask_equal_predict'] for x in v)}/{len(v)}" if "mask_equal_predict" in v[0] else "-"
        grid = f"{sum(x['grid_on_tray'] for x in v)}/{len(v)}" if "grid_on_tray" in v[0] else "-"
        check = "-"
        if any("flagged" in x for x in v):
            check = f"{sum(x.get('flagged', 0) for x in v)} ({sum(x.get('flagged_off', 0) for x in v)})"
        lines.append(
            f"| {tool} | {tot['found']}/{tot['full']} | {tot['empty_correct']}/{tot['empty']} "
            f"| {tot['count_exact']}/{tot['pots']} | {tot['area_within_10']}/{tot['full']} | {med:.1%} "
            f"| {tot['false_objects']} | {same} | {mask} | {grid} | {check} |"
        )
    return lines


def _plantcv_version(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('plantcv'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plantcv-python", default="/tmp/plantcv-venv/bin/python")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--photos", type=int, default=20, help="Peanut label masks to use.")
    ap.add_argument("--min-size", type=int, default=50)
    ap.add_argument("--trays", type=Path, help="The tray benchmark on this generated tray set instead.")
    ap.add_argument("--model", action="append", help="Tray benchmark: agriseg models to run (repeat; default: default)")
    ap.add_argument("-o", "--output", type=Path, default=REPO / "benchmarks/results/traits_plantcv.json")
    a = ap.parse_args()
    if shutil.which(str(a.plantcv_python)) is None:  # a traceback of subprocess's FileNotFoundError said it before
        raise SystemExit(f"error: {a.plantcv_python}: no such Python; give PlantCV's with --plantcv-python "
                         "(python -m venv /tmp/plantcv-venv && /tmp/plantcv-venv/bin/pip install plantcv)")  # fmt: skip
    if a.trays:
        a.model = a.model or ["default"]
        return trays_benchmark(a)

    from skimage.measure import regionprops

    from agriseg.crop.traits.plants import label_plants, plant_traits
    from agriseg.data.files import write_json, write_text

    version = subprocess.run(
        [a.plantcv_python, "-c", "import importlib.metadata as m; print(m.version('plantcv'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    masks = {**synthetic_masks(), **peanut_masks(a.shared, a.photos)}
    ours: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, mask in masks.items():
            lab = label_plants(mask, a.min_size, split_depth=0)
            f = Path(tmp) / (name.replace("/", "_") + ".npy")
            np.save(f, lab.astype(np.int32))
            files.append(str(f))
            holes = {rp.label: rp.euler_number < 1 for rp in regionprops(lab)}
            ours[str(f)] = [{**p, "holes": holes[p["id"]]} for p in plant_traits(lab)]
        res = Path(tmp) / "plantcv.json"
        subprocess.run([a.plantcv_python, "-c", PLANTCV_SCRIPT, *files, str(res)], check=True)
        theirs = json.loads(res.read_text())
    names = {str(Path(tmp) / (n.replace("/", "_") + ".npy")): n for n in masks}
    rows = []
    for f, plants in ours.items():
        for p in plants:
            q = theirs[f][str(p["id"])]
            rows.append(
                {
                    "mask": names[f],
                    "id": p["id"],
                    "holes": p["holes"],
                    "ours": {t: p[t] for t in TRAITS},
                    "plantcv": {t: float(q[t]) for t in TRAITS},
                }
            )
    summary = {}
    for group, keep in (
        ("synthetic", lambda r: not r["mask"].startswith("peanut")),
        ("peanut", lambda r: r["mask"].startswith("peanut")),
    ):
        sel = [r for r in rows if keep(r)]
        summary[group] = {"plants": len(sel)}
        for t in [*TRAITS, "perimeter_no_holes"]:
            use = [r for r in sel if not r["holes"]] if t == "perimeter_no_holes" else sel
            t0 = t.removesuffix("_no_holes")
            rel = np.array([(r["ours"][t0] - r["plantcv"][t0]) / r["plantcv"][t0] for r in use if r["plantcv"][t0]])
            summary[group][t] = {
                "plants": len(rel),
                "median_rel_diff": float(np.median(rel)),
                "p95_abs_rel_diff": float(np.percentile(np.abs(rel), 95)),
                "within_1pct": float((np.abs(rel) <= 0.01).mean()),
            }
    report = {
        "plantcv_version": version,
        "min_size": a.min_size,
        "peanut_masks": a.photos,
        "summary": summary,
        "plants": rows,
    }
    write_json(a.output, report)
    lines = [
        f"PlantCV {version}; relative difference (agriseg - PlantCV) / PlantCV per plant",
        "",
        "| trait | synthetic: median | p95 abs | within 1% | peanut: median | p95 abs | within 1% |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in [*TRAITS, "perimeter_no_holes"]:
        s, p = summary["synthetic"][t], summary["peanut"][t]
        label = t.replace("_no_holes", " (plants without holes)")
        lines.append(
            f"| {label} | {s['median_rel_diff']:+.2%} | {s['p95_abs_rel_diff']:.2%} | {s['within_1pct']:.0%} "
            f"| {p['median_rel_diff']:+.2%} | {p['p95_abs_rel_diff']:.2%} | {p['within_1pct']:.0%} |"
        )
    lines.append(f"\nplants: {summary['synthetic']['plants']} synthetic, {summary['peanut']['plants']} peanut")
    write_text(a.output.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
