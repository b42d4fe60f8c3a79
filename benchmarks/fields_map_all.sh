#!/usr/bin/env bash
# All issue-6 benchmarks in one queue on the shared 2-core machine (about 15 min of CPU):
#   flock /tmp/agriseg-cpu.lock bash benchmarks/fields_map_all.sh
# Results: data_cache/fields_map/results.jsonl (git-ignored). FTW_VENV points at ftw-tools 1.4.3.
# The 8x8 (1402 km2) end-to-end run is left out by default (about 4x the 4x4 time per tool); add it with
#   python benchmarks/fields_map_predict.py --grid 8 --tool both --threads 1
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

python fields_map_mosaic.py --grid 4 --grid 8
# 1. end-to-end, 4x4 mosaic (350 km2), both tools, same weights, x2 resize, one thread each
python fields_map_predict.py --grid 4 --tool both --threads 1 --optimize none
# 2. Dask scaling: 4 scenes, 1 vs 2 single-thread workers
python fields_map_dask.py --scenes 4 --workers 1 --workers 2
# 3. polygonisation of the same class rasters: real 8x8 mosaic (NDVI/edge classes) and synthetic 10k x 10k
python fields_map_rasters.py heuristic --grid 8
python fields_map_polygonize.py --raster heuristic8 --tool all --block 1024
python fields_map_rasters.py synthetic --size 10000
python fields_map_polygonize.py --raster synthetic10000 --tool ours --block 4096
python fields_map_polygonize.py --raster synthetic10000 --tool ftw
# 4. bf16 autocast / traced model (CPU with AVX512-BF16), same mosaic
python fields_map_predict.py --grid 4 --tool ours --threads 1 --precision bf16 --optimize none
python fields_map_predict.py --grid 4 --tool ours --threads 1 --precision fp32 --optimize jit
echo done
