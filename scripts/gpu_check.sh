#!/usr/bin/env bash
# The GPU checks in one go, for a machine with a CUDA GPU: the CUDA paths of training, prediction and the attacks
# (tests/test_gpu.py: AMP, channels_last, torch.compile, resume on the GPU), the two speed benchmarks, then the
# per-image rates of each stage at the paper's three image sizes and architectures (what medadv.estimate scales from:
# training images/s, PGD seconds per image and step). torch.compile's benchmark runs last (it compiles three times).
# First run on an H200 (2026-11-30): about 6 minutes. Needs medadv's dependencies importable by $PYTHON (default python3);
# the ImageNet-weight packages are not needed. Usage: bash scripts/gpu_check.sh [output folder]
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
out=${1:-_build/gpu_check}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PYTHON" -c "import torch, timm; print(torch.__version__, 'timm', timm.__version__, torch.cuda.get_device_name(0))" | tee "$out/device.txt" || exit 1
"$PYTHON" -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py tests/test_device.py 2>&1 | tee "$out/tests.txt"
status=${PIPESTATUS[0]}
# training throughput at the paper's PCam size: float32, then AMP (each ratio is ours / a plain loop)
for flags in "--no-amp" ""; do
  "$PYTHON" -m medadv bench train --size 96 --images 2048 --batch 64 --repeats 3 \
    --archs tf_efficientnet_lite0 resnet50 densenet121 $flags 2>&1 | tee -a "$out/bench_train.txt"
done
"$PYTHON" -m medadv bench attacks --repeats 5 2>&1 | tee "$out/bench_attacks.txt" || true
# the paper's sizes and architectures (params/paper.yaml: batch 64 at 96 px, 32 at 224, 16 at 512), AMP:
# training images/s (our loop), then PGD (10 steps, batch 32) seconds
for sb in "96 64" "224 32" "512 16"; do
  set -- $sb
  "$PYTHON" -m medadv bench train --size "$1" --images 1024 --batch "$2" --repeats 1 \
    --archs inception_v3 densenet121 2>&1 | tee -a "$out/paper_rates.txt"
done
for size in 96 224 512; do
  "$PYTHON" -m medadv bench attacks --size "$size" --repeats 3 --models inception_v3,densenet121 2>&1 \
    | tee -a "$out/paper_rates.txt" || true
done
# compiled: each run compiles a fresh model, so one architecture, 3 epochs to amortise it
"$PYTHON" -m medadv bench train --size 96 --images 2048 --batch 64 --repeats 1 --epochs 3 \
  --archs tf_efficientnet_lite0 --compile 2>&1 | tee -a "$out/bench_compile.txt"
exit "$status"
