"""How often `crop traits --grid` warns that its grid does not match the pots, on trays the photo shows whole and
on the same trays cut by the photo's left edge through the middle of their first column of pots.

A tray cut by the photo is found as the part in view, so the grid is squeezed into it and its counts drift
into the wrong pots further along; the warning (``pitch_mismatch`` in ``agriseg.crop.traits.regions``) compares
the grid's cells with the spacing of the plants. Generated trays (``agriseg crop make-synthetic tray``, every
layout it draws), each measured as a user runs it (one whole process per grid shape, default model).

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


def warned(folder: Path, photos: dict[str, list[str]]) -> tuple[int, list[str]]:
    """Photos measured by grid shape into ``folder``; the number with the grid warning, and its lines."""
    lines = []
    for grid, files in photos.items():
        out = folder / grid
        agriseg("crop", "traits", *files, "-o", str(out), "--grid", grid)
        for f in files:
            said = json.loads((out / f"{Path(f).stem}_traits.json").read_text())["warnings"]
            lines += [f"{Path(f).stem}: {w}" for w in said if "px apart" in w]
    return len(lines), lines


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
        whole: dict[str, list[str]] = defaultdict(list)
        cut: dict[str, list[str]] = defaultdict(list)
        (work / "cut").mkdir()
        for name, tray in sorted(index.items()):
            grid = f"{tray['rows']}x{tray['cols']}"
            photo = work / "trays" / "images" / f"{name}.jpg"
            whole[grid].append(str(photo))
            x = round(tray["tray"][0] + 0.5 * tray["tray"][2] / tray["cols"])  # the middle of the first column
            with Image.open(photo) as im:
                im.crop((x, 0, im.width, im.height)).save(work / "cut" / f"{name}.png")
            cut[grid].append(str(work / "cut" / f"{name}.png"))
        n_whole, said_whole = warned(work / "out_whole", whole)
        n_cut, said_cut = warned(work / "out_cut", cut)
    report = {
        "trays": len(index),
        "seed": args.seed,
        "grids": sorted(whole),
        "warned_whole": n_whole,
        "warned_cut_half_a_pot": n_cut,
        "warnings_whole": said_whole,
        "warnings_cut": said_cut,
    }
    print(f"{len(index)} trays: warned whole {n_whole}, cut through the first column {n_cut}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
