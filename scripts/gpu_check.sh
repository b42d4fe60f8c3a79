#!/usr/bin/env bash
# agriseg's GPU paths on a rented GPU machine (PyTorch there, no network; see scripts/gpu_check.py).
#   bash scripts/gpu_check.sh            # results in $OUT (default runs/gpu_check)
# .gpucheck/site.tar.xz holds the Python packages the machine lacks (built for Python 3.12 with
# `pip install --target --no-deps --only-binary=:all: --python-version 3.12`, pyogrio left out for size).
# The packaged ONNX files stay out of the copy (size), so they are exported again there first: that is also
# a check of the export on the machine's PyTorch. Then every model-running command with --device cuda beside
# the CPU (gpu_check.py), then the CLI smoke suite, whose training commands run on the GPU (Lightning's
# accelerator is auto) with loader workers.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-runs/gpu_check}
mkdir -p "$out" /tmp/site
tar xJf .gpucheck/site.tar.xz -C /tmp/site
export PYTHONPATH="/tmp/site:$PWD/src:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$out/pip.log" 2>&1 || echo "pip -e failed"
t=$SECONDS
timeout 180 python3 scripts/export_onnx.py 2>&1 | tail -15 | tee "$out/export_onnx.log"
echo "== export_onnx: $((SECONDS - t)) s"
t=$SECONDS
timeout 330 python3 scripts/gpu_check.py --out /tmp/gc 2>&1 | tee "$out/gpu_check.log"
cp /tmp/gc/gpu_check.json "$out/" 2>/dev/null
echo "== gpu_check: $((SECONDS - t)) s"
t=$SECONDS
timeout "${SMOKE_S:-150}" python3 -m pytest -q -p no:cacheprovider -n 8 -m "slow or not slow" \
  tests/cli/test_smoke_crop.py tests/cli/test_smoke_fields.py tests/cli/test_smoke_text.py 2>&1 |
  tail -60 | tee "$out/smoke.log"
echo "== smoke: $((SECONDS - t)) s"
