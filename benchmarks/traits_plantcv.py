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
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plantcv-python", default="/tmp/plantcv-venv/bin/python")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--photos", type=int, default=20, help="Peanut label masks to use.")
    ap.add_argument("--min-size", type=int, default=50)
    ap.add_argument("-o", "--output", type=Path, default=REPO / "benchmarks/results/traits_plantcv.json")
    a = ap.parse_args()

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
