#!/usr/bin/env bash
# On a CUDA machine: every experiment for a few bf16 steps (finite loss, GPU used), then the benchmark at its
# sizes on the GPU; both JSON summaries go to ${OUT:-gpu_check}/. Sized for under 8 minutes on one H100.
#   bash scripts/gpu_check.sh            # then put the figures in the README with the card's name
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.csv"
status=0
timeout 330 python scripts/gpu_check.py --out "$OUT/experiments.json" || status=$?
timeout 120 python scripts/benchmark.py --device cuda --repeats 3 --comparisons s4d spe --out "$OUT/benchmark.json" || status=$?
exit $status
