"""Make the generated training scenes on the rented GPU machine, in parallel chunks (16 cores there).

The scenes (about 40 MB per 400) do not fit beside the photos in what travels to the machine, so they are made
there from the bundled training photos (``scripts/gpu_bundle.py``). Photo ``i`` of a set depends only on
``seed + i`` (:func:`agriseg.crop.scenes.write.write_set`), so chunk ``k`` written with ``seed + k * size``
gives the same files as one ``agriseg crop make-synthetic lab`` run (checked byte for byte against sets made
here from the original photos); the last chunk writes the plain frames. Each set is given as
``DIR:SEED:N[:uniform][:distractors=K]`` with the layouts ``pots,tray,side,plate,field``::

    python scripts/gpu_scenes.py runs/data/scenes_train:0:400:uniform \
        runs/data/scenes_distract_white:1000:400:distractors=2
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
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
    jobs = []
    for s in args.sets:
        outdir, seed, n, *flags = s.split(":")
        seed_i, n_i = int(seed), int(n)
        k = [f for f in flags if f.startswith("distractors=")]
        distractors = int(k[0].split("=")[1]) if k else 0
        size = -(-n_i // args.chunks)
        for start in range(0, n_i, size):
            m = min(size, n_i - start)
            last = start + m == n_i
            jobs.append(
                (outdir, seed_i + start, m, last and "uniform" in flags, distractors, args.photos, args.labels, stems)
            )
    with ProcessPoolExecutor(min(len(jobs), args.workers)) as pool:
        for done in pool.map(chunk, jobs):
            print("made", done, flush=True)
    for s in args.sets:
        d = Path(s.split(":")[0])
        print(d, len(list((d / "images").iterdir())), "images", flush=True)


if __name__ == "__main__":
    main()
