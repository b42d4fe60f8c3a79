"""How often `crop traits --grid` warns that its grid does not fit the pots, on trays the photo shows whole and
on the same trays cut by the photo's left edge through their first column of pots (half and three quarters of
a pot), beside whether the counts of the pots in view were right.

A tray cut by the photo is found as the part in view, so the grid is squeezed into it; once its cells drift
half a cell off the pots, plants land in a neighbour's cell. The warning (``grid_misfit`` in
``agriseg.crop.traits.regions``) compares the cell of each column of plants with its pot, counted by the
plants' spacing. Generated trays (``agriseg crop make-synthetic tray``, every layout it draws), each measured as
a user runs it (one whole process per grid shape, default model). A cut tray's counts are kept when every pot
in view (the first, cut column left out: its plant is cut too) has the count it has when the tray is measured
whole; otherwise they moved.

    python benchmarks/tray_cut_grid.py -o benchmarks/results/tray_cut_grid.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from PIL import Image


def agriseg(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "agriseg", *args, "-q"], check=True, stdout=subprocess.DEVNULL)


def measured(folder: Path, photos: dict[str, list[str]]) -> dict[str, dict]:
    """Photos measured by grid shape into ``folder``: each photo's ``_traits.json``, by stem."""
    out = {}
    for grid, files in photos.items():
        agriseg("crop", "traits", *files, "-o", str(folder / grid), "--grid", grid)
        for f in files:
            out[Path(f).stem] = json.loads((folder / grid / f"{Path(f).stem}_traits.json").read_text())
    return out


def tally(records: dict[str, dict], whole: dict[str, dict], index: dict[str, dict]) -> dict[str, int]:
    """Photos warned or not, with the counts of the pots in view (all but the first column) the same as when the
    tray is measured whole or not (so the model's own misses on a pot do not count)."""
    out = {"warned_counts_moved": 0, "warned_counts_kept": 0, "quiet_counts_moved": 0, "quiet_counts_kept": 0}
    for name, rec in records.items():
        cols = index[name]["cols"]
        counts = [r["plant_count"] for r in rec["regions"]]
        before = [r["plant_count"] for r in whole[name]["regions"]]
        kept = all(a == b for k, (a, b) in enumerate(zip(counts, before, strict=True)) if k % cols != 0)
        warned = any("px apart" in w for w in rec["warnings"])
        out[f"{'warned' if warned else 'quiet'}_counts_{'kept' if kept else 'moved'}"] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=30, help="trays to generate")
    ap.add_argument("--seed", type=int, default=52000)
    ap.add_argument("-o", "--out", type=Path, help="JSON report")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trays = work / "trays"
        agriseg("crop", "make-synthetic", "tray", "-o", str(trays), "-n", str(args.n), "--seed", str(args.seed))
        index = json.loads((work / "trays" / "index.json").read_text())["photos"]
        photos: dict[str, dict[str, list[str]]] = {"whole": defaultdict(list)}
        cuts = {"cut_half_a_pot": 0.5, "cut_three_quarters": 0.75}
        for kind in cuts:
            photos[kind] = defaultdict(list)
            (work / kind).mkdir()
        for name, tray in sorted(index.items()):
            grid = f"{tray['rows']}x{tray['cols']}"
            photo = work / "trays" / "images" / f"{name}.jpg"
            photos["whole"][grid].append(str(photo))
            for kind, share in cuts.items():
                x = round(tray["tray"][0] + share * tray["tray"][2] / tray["cols"])  # into the first column
                with Image.open(photo) as im:
                    im.crop((x, 0, im.width, im.height)).save(work / kind / f"{name}.png")
                photos[kind][grid].append(str(work / kind / f"{name}.png"))
        report: dict[str, object] = {"trays": len(index), "seed": args.seed, "grids": sorted(photos["whole"])}
        whole = measured(work / "out_whole", photos["whole"])
        report["whole_warned"] = sum(any("px apart" in w for w in r["warnings"]) for r in whole.values())
        print(f"whole: warned {report['whole_warned']} of {len(whole)}")
        for kind in cuts:
            report[kind] = tally(measured(work / f"out_{kind}", photos[kind]), whole, index)
            print(f"{kind}: {report[kind]}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
