#!/usr/bin/env bash
# The GPU measurements that issue 4 asks for, in one go, on a CUDA machine with the data already there.
#
#   scripts/gpu_check.sh DATA_DIR VGG16_WEIGHTS OUT_DIR [torchvision]
#
# DATA_DIR holds cifar-10-batches-py/; OUT_DIR receives the logs, speed JSON, one run directory per input
# pipeline and the report. Steps: (1) `bench speed` with 3 rounds, (2) `bench all` with the fast pipeline,
# timed end to end, (3) with "torchvision" as 4th argument, the same protocol through the reference
# DataLoader pipeline, so that accuracies can be compared at the same seed. Needs no network.
# BENCH_CHECK_DEVICE=cpu BENCH_CHECK_PROFILE=smoke try the script itself on a machine without a GPU.
set -euo pipefail
data=${1:?DATA_DIR} weights=${2:?VGG16_WEIGHTS} out=${3:?OUT_DIR} also=${4:-}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
bench=(python3 -m bench)
device=${BENCH_CHECK_DEVICE:-cuda} profile=${BENCH_CHECK_PROFILE:-full}
common=(--device "$device" --profile "$profile" --data-dir "$data" --no-download --vgg-weights "$weights")

python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available() and torch.cuda.get_device_name())' \
  | tee "$out/env.txt"
if [[ $profile == full ]]; then speed=(--repeats 3 --steps 50 --warmup 10); else speed=(--steps 2 --warmup 1); fi
"${bench[@]}" speed --device "$device" "${speed[@]}" --out "$out/speed-$device.json" 2>&1 | tee "$out/speed.log"

# HTML report: a bare GPU image may lack Pango, and the PDF is rendered the same way on any machine.
start=$(date +%s%N)
"${bench[@]}" all "${common[@]}" --artifacts "$out/fast" --out "$out/fast/report.html" 2>&1 | tee "$out/fast.log"
echo "bench all (fast pipeline) end to end: $(( ($(date +%s%N) - start) / 1000000 )) ms" | tee -a "$out/fast.log"

if [[ $also == torchvision ]]; then
  start=$(date +%s%N)
  "${bench[@]}" train mlp cnn cnn_bn vgg16 "${common[@]}" --input-pipeline torchvision --num-workers 8 \
    --artifacts "$out/torchvision" 2>&1 | tee "$out/torchvision.log"
  echo "bench train (torchvision pipeline): $(( ($(date +%s%N) - start) / 1000000 )) ms" | tee -a "$out/torchvision.log"
fi
