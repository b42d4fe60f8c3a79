"""Field mapping at scale against ftw-tools 1.4.3 (one subcommand each; --help gives the options).

Inputs are generated under ``data_cache/fields_map/`` (git-ignored); ftw-tools runs from ``FTW_VENV``
(see ``fields_map_common.py``). The model is a random-weight EfficientNet-B3 U-Net written as an ftw-tools
checkpoint, x2 resize, for both tools.

- ``mosaic``: NxN mirrored mosaics of the real Sentinel-2 scene (4x4 = 350 km2, 8x8 = 1402 km2):
      python benchmarks/fields_map.py mosaic --grid 4 --grid 8
- ``rasters``: class rasters for polygonisation (synthetic field mosaic, or NDVI / edge classes of a mosaic):
      python benchmarks/fields_map.py rasters synthetic --size 10000
- ``predict``: ``agriseg fields predict`` vs ``ftw inference run``, whole processes interleaved, speed and
  peak memory, each tool with its default threads or ``--threads N`` (``results/fields_predict_speed.json``):
      python benchmarks/fields_map.py predict --grid 4 --rounds 2
- ``polygonize``: ``agriseg fields polygonize`` vs ``ftw inference polygonize`` on one class raster (a mosaic's
  NDVI / edge classes or the synthetic field mosaic): polygon count and fields split by seams (polygons against
  known truth, speed, memory and the stage profile: ``fields_polygonize_speed.py``):
      python benchmarks/fields_map.py polygonize --raster synthetic10000 --tool all
- ``dask``: ``run_map`` over 4 scenes with 1 vs 2 local Dask workers (``results/fields_map_dask.json``):
      python benchmarks/fields_map.py dask --scenes 4 --grid 2 --workers 1 --workers 2 --rounds 2
- ``all``: the queue of the above at one thread each (about 15 min of CPU).
"""

from __future__ import annotations

from lib import dispatch

if __name__ == "__main__":
    dispatch(
        __doc__,
        {
            "mosaic": "lib.fields_map_mosaic",
            "rasters": "lib.fields_map_rasters",
            "predict": "lib.fields_map_predict",
            "polygonize": "lib.fields_map_polygonize",
            "dask": "lib.fields_map_dask",
            "all": "lib.fields_map_all",
        },
    )
