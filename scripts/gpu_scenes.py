"""Make the generated training scenes on the rented GPU machine, in parallel chunks (16 cores there).

The scenes (about 40 MB per 400) do not fit beside the photos in what travels to the machine, so they are made
there from the bundled training photos (``scripts/gpu_bundle.py``). Photo ``i`` of a set depends only on
``seed + i`` (:func:`agriseg.crop.scenes.write.write_set`), so chunk ``k`` written with ``seed + k * size``
gives the same files as one ``agriseg crop make-synthetic lab`` run (checked byte for byte against sets made
here from the original photos, ``tests/scripts/test_gpu_scenes.py``); the last chunk writes the plain frames.
Each chunk writes a folder of its own (``DIR.parts/K``; a set's writer clears what its folder held, so chunks
sharing one folder removed each other's photos), merged into ``DIR`` with one ``index.json`` at the end.
Each set is given as ``DIR:SEED:N[:uniform][:distractors=K]`` with the layouts ``pots,tray,side,plate,field``::

    python scripts/gpu_scenes.py runs/data/scenes_train:0:400:uniform \
        runs/data/scenes_distract_white:1000:400:distractors=2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

LAYOUTS = ("pots", "tray", "side", "plate", "field")


def chunk(args: tuple[str, int, int, bool, int, str, str, list[str]]) -> str:
    outdir, seed, n, uniform, distractors, photos, labels, stems = args
    from agriseg.crop.scenes.write import write_set

    write_set(
        "lab",
        outdir,
        photos,
        labels,
        stems,
        n=n,
        seed=seed,
        uniform_frames=uniform,
        layouts=LAYOUTS,
        distractors=distractors,
    )
    return f"{outdir} {seed}+{n}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--chunks", type=int, default=8, help="chunks per set")
    ap.add_argument("--photos", default=".gpu/peanut/images")
    ap.add_argument("--labels", default=".gpu/peanut/labels")
    ap.add_argument("--stems", default=".gpu/peanut/train.txt", help="stem list of the source photos")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    from agriseg.crop.dataset import read_stem_list

    stems = read_stem_list(args.stems)
    jobs, sets = [], []
    for s in args.sets:
        outdir, seed, n, *flags = s.split(":")
        seed_i, n_i = int(seed), int(n)
        k = [f for f in flags if f.startswith("distractors=")]
        distractors = int(k[0].split("=")[1]) if k else 0
        size = -(-n_i // args.chunks)
        parts = []
        for start in range(0, n_i, size):
            m = min(size, n_i - start)
            last = start + m == n_i
            part = str(Path(f"{outdir}.parts") / str(len(parts)))
            parts.append(part)
            jobs.append((part, seed_i + start, m, last and "uniform" in flags, distractors, args.photos, args.labels,
                         stems))  # fmt: skip
        sets.append((Path(outdir), seed_i, parts))
    # forkserver: a fork of a process that has run OpenCV's threads can hang (agriseg.data.loaders)
    with ProcessPoolExecutor(min(len(jobs), args.workers), mp_context=get_context("forkserver")) as pool:
        for done in pool.map(chunk, jobs):
            print("made", done, flush=True)
    for outdir, seed_i, parts in sets:
        merge(outdir, seed_i, [Path(p) for p in parts])
        print(outdir, len(list((outdir / "images").iterdir())), "images", flush=True)


def merge(outdir: Path, seed: int, parts: list[Path]) -> None:
    """Move the chunks' photos into ``outdir`` and write the one ``index.json`` a single run writes."""
    from agriseg.data.files import write_json

    index: dict = {}
    for part in parts:
        chunk_index = json.loads((part / "index.json").read_text(encoding="utf-8"))
        if not index:
            index = {**chunk_index, "seed": seed, "photos": {}}
        index["photos"].update(chunk_index["photos"])
        for sub in ("images", "labels"):
            (outdir / sub).mkdir(parents=True, exist_ok=True)
            for f in sorted((part / sub).iterdir()):
                os.replace(f, outdir / sub / f.name)
    if "files" in index:  # the whole set's files, as one run records them (a chunk's index holds its own)
        from agriseg.crop.scenes.write import set_files

        index["files"] = set_files(outdir, index)
    write_json(outdir / "index.json", index)
    shutil.rmtree(parts[0].parent)


if __name__ == "__main__":
    main()
