"""Dask scaling: ``run_map`` over 4 scenes with 1 vs 2 local workers, one thread each.

The scenes are copies of the real scene (22 km2 each) under distinct names; each run starts from an empty
output folder and its own local cluster, so model loading in every worker is part of the time.

    flock /tmp/agriseg-cpu.lock python benchmarks/fields_map_dask.py --scenes 4 --workers 1 --workers 2
"""

from __future__ import annotations

import shutil
import time

import click
from fields_map_common import CACHE, CKPT, SCENE, save_result, write_ftw_checkpoint


@click.command()
@click.option("--scenes", "n_scenes", default=4, show_default=True)
@click.option("--workers", "workers", type=int, multiple=True, default=(1, 2), show_default=True)
@click.option("--patch", default=256, show_default=True)
def main(n_scenes: int, workers: tuple[int, ...], patch: int) -> None:
    """Run the scaling benchmark."""
    from agriseg.fields.config import PredictConfig
    from agriseg.fields.mapping import run_map

    write_ftw_checkpoint()
    d = CACHE / "dask" / "scenes"
    d.mkdir(parents=True, exist_ok=True)
    scenes = []
    for i in range(n_scenes):
        p = d / f"scene{i}.tif"
        if not p.exists():
            shutil.copy(SCENE, p)
        scenes.append(p)
    pcfg = PredictConfig(patch_size=patch, overlap=0.25, batch_size=4, progress=False)
    times = {}
    for w in workers:
        out = CACHE / "dask" / f"out_{w}w"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        rows, merged = run_map(
            scenes,
            out,
            CKPT,
            backend="dask",
            predict=pcfg,
            resize=2.0,
            n_workers=w,
            threads_per_worker=1,
            processes=True,
            progress=True,
        )
        wall = time.perf_counter() - t0
        times[w] = wall
        save_result(
            f"dask-{w}workers",
            {
                "scenes": n_scenes,
                "workers": w,
                "threads_per_worker": 1,
                "wall_s": wall,
                "statuses": [r["status"] for r in rows],
                "fields": sum(r.get("fields_count", 0) for r in rows),
                "km2": sum(r.get("area_km2", 0) for r in rows),
            },
        )
    if 1 in times and 2 in times:
        save_result("dask-scaling", {"speedup_2_vs_1": times[1] / times[2]})


if __name__ == "__main__":
    main()
