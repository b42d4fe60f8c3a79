"""Per-pot plant area on a generated tray set, by how green each pot's true plant is.

The tray sets (``agriseg crop make-synthetic tray``) paste whole labelled plants of the Peanut photos into pots.
Some labelled plants are not green at all (dry, brown or grey-olive pieces the Peanut annotators marked as
vegetation). This splits the per-pot area error of ``agriseg crop traits --grid`` (a whole process per tray, as a
user runs it) by the median excess green ``(2G - R - B) / (R + G + B)`` of the pot's true plant pixels, so a
reader sees which pots a colour-honest mask can be expected to measure.

    python benchmarks/traits_tray_colours.py --trays benchmarks/data/trays --model default \
        -o benchmarks/results/traits_tray_colours.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
BUCKETS = [(-1.0, 0.06), (0.06, 0.1), (0.1, 0.2), (0.2, 1.0)]


def pot_rows(trays: Path, model: str, work: Path) -> list[dict]:
    """One row per pot with a plant: true and measured area, signed error, the true plant's median excess green."""
    index = json.loads((trays / "index.json").read_text())
    rows = []
    for name, tray in sorted(index["photos"].items()):
        photo = trays / "images" / f"{name}.jpg"
        out = work / name
        cmd = [sys.executable, "-m", "agriseg", "crop", "traits", str(photo), "-o", str(out),
               "--grid", f"{tray['rows']}x{tray['cols']}", "--model", model]  # fmt: skip
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        regions = json.loads((out / f"{name}_traits.json").read_text())["regions"]
        rgb = np.asarray(Image.open(photo).convert("RGB"), np.float64)  # (H, W, 3)
        exg = (2 * rgb[..., 1] - rgb[..., 0] - rgb[..., 2]) / (rgb.sum(-1) + 1e-6)  # (H, W)
        truth = np.asarray(Image.open(trays / "labels" / f"{name}.png"))[..., 1] > 0  # (H, W)
        for pot, got in zip(tray["pots"], regions, strict=True):
            if pot["plant_count"] == 0 or pot["area_px"] == 0:
                continue
            x, y, w, h = pot["box"]
            mine = truth[y : y + h, x : x + w]
            rows.append({
                "tray": name, "pot": pot["id"], "true_px": pot["area_px"], "measured_px": got["plant_area"],
                "error": (got["plant_area"] - pot["area_px"]) / pot["area_px"],
                "excess_green": float(np.median(exg[y : y + h, x : x + w][mine])) if mine.any() else None,
            })  # fmt: skip
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Pots within 10 %, missed pots and the median signed error, per excess-green bucket and in all."""
    out = []
    for lo, hi in [*BUCKETS, (-1.0, 1.0)]:
        sel = [r for r in rows if r["excess_green"] is not None and lo <= r["excess_green"] < hi]
        err = np.array([r["error"] for r in sel])
        out.append({
            "excess_green": "all" if (lo, hi) == (-1.0, 1.0) else f"{lo:g}-{hi:g}", "pots": len(sel),
            "within_10": int((np.abs(err) <= 0.10).sum()), "missed": int((err == -1).sum()),
            "median_error": float(np.median(err)) if len(sel) else None,
        })  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trays", type=Path, default=REPO / "benchmarks/data/trays")
    ap.add_argument("--model", default="default")
    ap.add_argument("-o", "--output", type=Path, default=REPO / "benchmarks/results/traits_tray_colours.json")
    a = ap.parse_args()
    from agriseg.data.files import write_json

    with tempfile.TemporaryDirectory() as tmp:
        rows = pot_rows(a.trays, a.model, Path(tmp))
    table = summary(rows)
    write_json(a.output, {"trays": str(a.trays), "model": a.model, "summary": table, "pots": rows})
    print("| true plant's excess green | pots | area within 10 % | missed | median error |\n|---|---|---|---|---|")
    for t in table:
        med = "-" if t["median_error"] is None else f"{t['median_error']:+.1%}"
        print(f"| {t['excess_green']} | {t['pots']} | {t['within_10']} | {t['missed']} | {med} |")


if __name__ == "__main__":
    main()
