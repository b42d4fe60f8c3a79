"""Where ``agriseg fields polygonize`` spends its time: cProfile of each stage in one process.

Runs the pixel stage (``polygonize_table``, one worker so the profile sees every call), then the clean-up
and the writing, on the benchmark raster, and writes the stage times and the functions with the most own
time to ``benchmarks/results/fields_polygonize_profile.txt``.

    python benchmarks/fields_map.py rasters synthetic --size 10000
    python benchmarks/fields_map.py profile --separation watershed --separation components
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import time
from pathlib import Path

import click
from fields_map_polygonize import resolve

REPO = Path(__file__).resolve().parents[2]


@click.command()
@click.option("--raster", default="synthetic10000", show_default=True)
@click.option("--separation", multiple=True, default=("watershed", "components"), show_default=True)
@click.option("--out", default=str(REPO / "benchmarks" / "results" / "fields_polygonize_profile.txt"))
def main(raster: str, separation: tuple[str, ...], out: str) -> None:
    """Profile the stages."""
    from agriseg.vector.config import PolygonizeConfig
    from agriseg.vector.fiboa import fields_frame, write_fields
    from agriseg.vector.geometry import clean_fields, pixel_to_crs
    from agriseg.vector.polygonize import polygonize_table

    src = resolve(raster)
    text = io.StringIO()
    text.write(f"raster {src.name}, load average before: {os.getloadavg()[0]:.2f}\n")
    for sep in separation:
        cfg = PolygonizeConfig(workers=1, progress=False, separation=sep)
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        table, profile = polygonize_table(src, cfg)
        t1 = time.perf_counter()
        geoms = pixel_to_crs(table.geoms, profile["transform"])
        cleaned, area, perim, keep = clean_fields(geoms, profile["crs"], 5.0, 500.0, 1000.0, grid=profile["transform"])
        ids = [f"f-{r}-{c}" for r, c in table.keys[keep].tolist()]
        df = fields_frame(cleaned, profile["crs"], ids, area, perim)
        t2 = time.perf_counter()
        write_fields(df, REPO / "data_cache" / "fields_map" / "polygonize_speed" / f"profile_{sep}.parquet")
        t3 = time.perf_counter()
        prof.disable()
        text.write(
            f"\n== {sep}: {len(table.keys)} polygons; pixels -> polygons {t1 - t0:.2f} s, clean-up + frame "
            f"{t2 - t1:.2f} s, write GeoParquet {t3 - t2:.2f} s (one process, profiler on)\n"
        )
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(14)
        text.write("\n".join(line for line in s.getvalue().splitlines() if line.strip()) + "\n")
    Path(out).write_text(text.getvalue())
    print(text.getvalue())
