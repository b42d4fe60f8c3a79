"""Validity of the field outputs on the real Sentinel-2 scene at default settings.

Runs ``fields predict`` (scene inference, default settings) and ``fields polygonize`` (default settings) on
``../shared/data/sentinel2/austria-inn-2window.tif`` and reports:

- the probability COG: declared NoData, colour interpretation of every band (no alpha), the share of
  pixels GDAL masks as invalid in band 4 (``read_masks``);
- the polygons: overlapping pairs and overlap area, whether they form a valid coverage, and the same
  counts for the polygon-by-polygon path (Douglas-Peucker 5 m per polygon, ftw-tools' way, holes filled
  whatever they hold) on the same unsimplified outlines;
- the official fiboa validator (fiboa-cli 0.21 in its own virtualenv, offline with the schema copies in
  ``tests/vector/schemas``) on the GeoParquet and the GeoJSON.

No released field model can be downloaded here, and random weights predict almost no field pixels, so the
default model is a fixed-weight heuristic module (``NdviEdgeNet``): field logit from the NDVI of both
windows (> 0.45), boundary logit from the NIR gradient (above the scene's 80th percentile), the rule of
``fields_map.py rasters heuristic``. It gives the polygons real field structure; ``--model`` takes any
checkpoint ``fields predict`` accepts instead.

    python benchmarks/fields_outputs_check.py
    python benchmarks/fields_outputs_check.py --model path/to/prue_efnet5_checkpoint.ckpt
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import click
import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AGRISEG_SHARED", REPO.parent / "shared"))
SCENE = SHARED / "data" / "sentinel2" / "austria-inn-2window.tif"
RESULT = REPO / "benchmarks" / "results" / "fields_outputs_check.json"


class NdviEdgeNet(nn.Module):
    """Class logits (background, field, boundary) from NDVI and NIR edges; no trained weights.

    Args:
        grad_threshold: NIR Sobel magnitude (model-input units) above which field pixels become boundary.
    """

    def __init__(self, grad_threshold: float) -> None:
        super().__init__()
        sx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        self.register_buffer("sobel", torch.stack([sx, sx.T])[:, None])  # (2, 1, 3, 3)
        self.grad_threshold = grad_threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 8, H, W) = window A R,G,B,NIR then window B R,G,B,NIR (reflectance / divisor)
        ndvi = [(x[:, 3 + k] - x[:, k]) / (x[:, 3 + k] + x[:, k]).clamp_min(1e-3) for k in (0, 4)]
        field = torch.minimum(*ndvi) - 0.45  # (B, H, W)
        nir = ((x[:, 3] + x[:, 7]) / 2)[:, None]  # (B, 1, H, W)
        g = torch.nn.functional.conv2d(torch.nn.functional.pad(nir, (1, 1, 1, 1), mode="replicate"), self.sobel)
        grad = g.pow(2).sum(1).sqrt()  # (B, H, W)
        boundary = torch.minimum(field, grad - self.grad_threshold)
        return torch.stack([torch.zeros_like(field), 20 * field, 20 * boundary + 0.5], 1)  # (B, 3, H, W)


def heuristic_model(scene: Path, divisor: float = 3000.0) -> NdviEdgeNet:
    """The heuristic module, its edge threshold set to the 80th percentile of the scene's NIR gradient."""
    import rasterio
    from scipy import ndimage

    with rasterio.open(scene) as ds:
        img = ds.read().astype(np.float32) / divisor
    nir = (img[3] + img[7]) / 2
    grad = np.hypot(ndimage.sobel(nir, 0, mode="nearest"), ndimage.sobel(nir, 1, mode="nearest"))
    return NdviEdgeNet(float(np.percentile(grad, 80)))


def overlaps(geoms: np.ndarray) -> tuple[int, float]:
    """Pairs of polygons whose intersection has area > 0.01 m2, and their summed overlap (m2)."""
    import shapely

    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    a, b = a[a < b], b[a < b]
    inter = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    return int((inter > 0.01).sum()), float(inter.sum())


def former_path(probs: Path) -> tuple[int, float]:
    """Overlaps after a polygon-by-polygon clean-up: holes < 1000 m2 filled, Douglas-Peucker 5 m per polygon."""
    import shapely
    from shapely.geometry import Polygon

    from agriseg.vector import PolygonizeConfig, polygonize

    raw = polygonize(probs, None, PolygonizeConfig(simplify=0, fill_holes_m2=0, min_area_m2=0, progress=False))
    geoms = np.asarray(raw.geometry.values, dtype=object)
    filled = np.array(
        [
            Polygon(g.exterior, [r for r in g.interiors if Polygon(r).area >= 1000]) if g.geom_type == "Polygon" else g
            for g in geoms
        ],
        dtype=object,
    )
    simple = shapely.simplify(filled, 5.0, preserve_topology=True)
    return overlaps(simple[shapely.area(simple) >= 500])


def fiboa_python() -> Path | None:
    """fiboa-cli's virtualenv: ``AGRISEG_FIBOA_PYTHON``, ``.ci/fiboa-venv`` or ``/tmp/fiboa-venv``."""
    for cand in (
        os.environ.get("AGRISEG_FIBOA_PYTHON"),
        REPO / ".ci" / "fiboa-venv" / "bin" / "python",
        Path("/tmp/fiboa-venv/bin/python"),
    ):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


@click.command()
@click.option("--model", default=None, help="checkpoint for fields predict [default: the NDVI/edge heuristic]")
@click.option("--outdir", default=str(REPO / "data_cache" / "fields_outputs"), show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=RESULT, show_default=True,
    help="where the result goes (the committed file is written only with the fiboa validator's verdict)",
)  # fmt: skip
def main(model: str | None, outdir: str, output: Path) -> None:
    """Predict + polygonise the real scene at default settings and check the outputs' validity."""
    import geopandas as gpd
    import rasterio
    from rasterio.enums import ColorInterp

    from agriseg.data.files import write_json

    if not SCENE.is_file():
        raise click.ClickException(
            f"{SCENE}: the real scene is not there (../shared beside the project, or AGRISEG_SHARED)"
        )
    if fiboa_python() is None and output.resolve() == RESULT.resolve():  # the committed result holds its verdict
        raise click.ClickException(
            "fiboa-cli not found (AGRISEG_FIBOA_PYTHON, or .ci/fiboa-venv made by .ci/run): the committed result is "
            "left as it is; give -o FILE to write this run's without the validator"
        )

    from agriseg.fields import PredictConfig, PreprocessConfig, ScenePredictor
    from agriseg.vector import PolygonizeConfig, polygonize

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    probs = out / "austria_probs.tif"
    if model:
        from agriseg.fields.checkpoints import load_for_scenes

        loaded = load_for_scenes(model)
        predictor = ScenePredictor(loaded.module, loaded.num_classes, loaded.preprocess, PredictConfig(progress=False))
        model_name = model
    else:
        predictor = ScenePredictor(heuristic_model(SCENE), 3, PreprocessConfig(), PredictConfig(progress=False))
        model_name = "NdviEdgeNet (fixed-weight NDVI/edge heuristic)"
    predictor.predict(SCENE, probs, overwrite=True)
    with rasterio.open(probs) as ds:
        cog = {
            "nodata": ds.nodata,
            "colorinterp": [c.name for c in ds.colorinterp],
            "alpha_band": ColorInterp.alpha in ds.colorinterp,
            "band4_invalid_fraction": float((ds.read_masks(4) == 0).mean()),
        }
        values, counts = np.unique(ds.read(1), return_counts=True)
    cog["class_fraction"] = {int(v): float(c / counts.sum()) for v, c in zip(values, counts, strict=True)}
    parquet, geojson = out / "austria_fields.parquet", out / "austria_fields.geojson"
    df = polygonize(probs, parquet, PolygonizeConfig(progress=False), overwrite=True)  # its own work folder
    polygonize(probs, geojson, PolygonizeConfig(progress=False), overwrite=True)
    import shapely

    geoms = np.asarray(gpd.read_parquet(parquet).geometry.values, dtype=object)
    pairs, area = overlaps(geoms)
    old_pairs, old_area = former_path(probs)
    result = {
        "scene": SCENE.name,
        "model": model_name,
        "probability_cog": cog,
        "fields": len(df),
        "overlapping_pairs": pairs,
        "overlap_m2": round(area, 3),
        "coverage_valid": bool(shapely.coverage_is_valid(geoms)),
        "coordinates_per_field": round(float(shapely.get_num_coordinates(geoms).mean()), 1),
        "former_path_overlapping_pairs": old_pairs,
        "former_path_overlap_m2": round(old_area, 1),
        "determination_datetime_present": "determination:datetime" in df,
    }
    py = fiboa_python()
    if py is None:
        result["fiboa_validate"] = "not run (fiboa-cli venv not found)"
    else:
        script = REPO / "tests" / "vector" / "fiboa_validate.py"
        proc = subprocess.run([str(py), str(script), str(parquet), str(geojson)], capture_output=True, text=True)
        text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
        result["fiboa_validate"] = {
            "exit_code": proc.returncode,
            "files": dict(re.findall(r"Validating .*/(austria_fields\.\w+): (\w+)", text)),
        }
    write_json(output, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
