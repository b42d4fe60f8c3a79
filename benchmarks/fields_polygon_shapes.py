"""Area of known shapes through ``agriseg fields polygonize``: the bias of the polygon path field by field.

Class rasters (0 background, 1 field, 2 boundary) of shapes whose true area is known, at 10 m pixels in
EPSG:32633: discs, rectangles rotated 0-45 degrees, squares inside a boundary ring 1-3 px wide, strips 1 px
wide. Each goes through ``agriseg.vector.polygonize`` with the default ``--simplify`` and with ``--simplify 0``
(no filters: ``--min-area 0``, ``--fill-holes 0``); the result is the polygon area over the true area and the
coordinates written. Session 86 measured the boundary-ring and strip rows before and after its changes with
``--baseline``: another checkout's ``src`` run on the same rasters.

    python benchmarks/fields_polygon_shapes.py
    python benchmarks/fields_polygon_shapes.py --baseline /path/to/other/checkout -o /tmp/shapes.json
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
PIXEL_M = 10.0


def shapes() -> dict[str, tuple[np.ndarray, float]]:
    """Name -> (class raster (H, W) uint8, true area in pixels)."""
    y, x = np.mgrid[0:120, 0:120] + 0.5
    out: dict[str, tuple[np.ndarray, float]] = {}
    for r in (6, 12, 25, 40):
        out[f"disc r={r}"] = ((np.hypot(x - 60, y - 60) < r).astype(np.uint8), np.pi * r * r)
    for ang in (0, 10, 30, 45):
        t = np.deg2rad(ang)
        u = (x - 60) * np.cos(t) + (y - 60) * np.sin(t)
        v = -(x - 60) * np.sin(t) + (y - 60) * np.cos(t)
        out[f"rectangle 60x30 at {ang} deg"] = (((abs(u) < 30) & (abs(v) < 15)).astype(np.uint8), 60.0 * 30)
    for ring in (1, 2, 3):
        for side in (14, 40):
            a = np.zeros((120, 120), np.uint8)
            a[20 : 20 + side, 20 : 20 + side] = 2
            a[20 + ring : 20 + side - ring, 20 + ring : 20 + side - ring] = 1
            out[f"square {side} px in a {ring}-px boundary ring"] = (a, float(side * side))
    for length in (1, 8, 30):
        a = np.zeros((20, 50), np.uint8)
        a[5, 5 : 5 + length] = 1
        out[f"strip 1x{length} px"] = (a, float(length))
    out.update(tilted())
    return out


def tilted() -> dict[str, tuple[np.ndarray, float]]:
    """Rectangles of 40 x 40 and 20 x 12 px turned 0-85 degrees in 5-degree steps at three sub-pixel offsets,
    alone or inside a 2-px boundary ring (the fields-outputs sweep of session 86); true area: the rectangle's."""
    import shapely
    from shapely import affinity

    y, x = np.mgrid[0:60, 0:60] + 0.5
    out: dict[str, tuple[np.ndarray, float]] = {}
    for w, h in ((40, 40), (20, 12)):
        for ring in (0, 2):
            for ang in range(0, 90, 5):
                for off in (0.0, 0.33, 0.71):
                    c = 30 + off
                    field = affinity.rotate(shapely.box(c - w / 2, c - h / 2, c + w / 2, c + h / 2), ang, origin=(c, c))
                    inside = shapely.contains_xy(field, x, y)
                    a = inside.astype(np.uint8)
                    if ring:
                        a[inside & (shapely.distance(field.exterior, shapely.points(x, y)) < ring)] = 2
                    out[f"tilted {w}x{h} ring {ring} | {ang} deg, offset {off}"] = (a, field.area)
    return out


def measure(src: Path, folder: Path) -> dict[str, dict[str, list[float]]]:
    """Run the measurement with the agriseg package under ``src`` (a child process, so that it is that code)."""
    code = f"""
import json, sys
import geopandas, rasterio, shapely
from rasterio.transform import from_origin
sys.path.insert(0, {str(src)!r})
from agriseg.vector import PolygonizeConfig, polygonize
import numpy as np
sys.path.insert(0, {str(Path(__file__).parent)!r})
from fields_polygon_shapes import PIXEL_M, shapes
out = {{}}
for i, (name, (cls, truth)) in enumerate(shapes().items()):
    path = {str(folder)!r} + f"/s{{i}}.tif"
    grid = {{"crs": "EPSG:32633", "transform": from_origin(500000, 5300000, PIXEL_M, PIXEL_M)}}
    h, w = cls.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="uint8", **grid) as dst:
        dst.write(cls, 1)
    row = {{}}
    for label, kw in (("default", {{}}), ("simplify 0", {{"simplify": 0.0}})):
        cfg = PolygonizeConfig(min_area_m2=0.0, fill_holes_m2=0.0, progress=False, **kw)
        df = polygonize(path, None, cfg)
        area = float(sum(g.area for g in df.geometry)) / PIXEL_M**2
        row[label] = [round(area / truth, 4), int(sum(shapely.get_num_coordinates(g) for g in df.geometry))]
    out[name] = row
print(json.dumps(out))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


@click.command()
@click.option("--baseline", type=click.Path(exists=True, file_okay=False), help="Another checkout to run beside.")
@click.option("-o", "--out", default=str(REPO / "benchmarks/results/fields_polygon_shapes.json"), show_default=True)
def main(baseline: str | None, out: str) -> None:
    """Measure every shape with this checkout (and ``--baseline``'s) and write the table as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        result = {"columns": "area / true area, coordinates", "this checkout": measure(REPO / "src", Path(tmp))}
        if baseline:
            result["baseline"] = measure(Path(baseline) / "src", Path(tmp))
    for key in [k for k in ("this checkout", "baseline") if k in result]:  # the tilted ones as groups: mean, worst
        rows, groups = result[key], {}
        for name in [n for n in rows if " | " in n]:
            groups.setdefault(name.split(" | ")[0], []).append(rows.pop(name))
        for group, got in groups.items():
            rows[group] = {
                setting: [round(100 * (float(np.mean([g[setting][0] for g in got])) - 1), 2),
                          round(100 * (min(g[setting][0] for g in got) - 1), 2)]
                for setting in ("default", "simplify 0")
            }  # fmt: skip
    result["tilted"] = "tilted rows: area error in %, mean and worst over 54 rasters"
    Path(out).write_text(json.dumps(result, indent=1) + "\n")
    for name, row in result["this checkout"].items():
        before = f"   before {result['baseline'][name]}" if baseline else ""
        click.echo(f"{name:36s} {row}{before}")


if __name__ == "__main__":
    main()
