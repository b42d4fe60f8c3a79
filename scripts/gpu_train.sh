#!/usr/bin/env bash
# Train crop configs on a rented GPU machine (PyTorch, timm and Lightning installed, no network) from the
# bundle that scripts/gpu_bundle.py packed into .gpu/. Results land in $OUT (default runs/gpu).
#   bash scripts/gpu_train.sh BUDGET_SECONDS CONFIG.yaml [CONFIG.yaml ...] [--rate SAMPLES_PER_S]
set -euo pipefail
cd "$(dirname "$0")/.."
budget=$1; shift
mkdir -p /tmp/site && tar xJf .gpu/site.tar.xz -C /tmp/site
[ -d .gpu/peanut ] || tar xf .gpu/peanut.tar -C .gpu
# one thread per process: the loader workers already use every core
export PYTHONPATH="/tmp/site:$PWD/.gpu/shim:$PWD/src" AGRISEG_LITE_DIR=/tmp/lite PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 scripts/gpu_train.py --budget-s "$budget" --out "${OUT:-runs/gpu}" "$@"
