#!/usr/bin/env bash
# The GPU measurements of issue 14, in one offline script, on a CUDA machine with the data already there.
#
#   scripts/gpu_check.sh DATA_DIR VGG16_WEIGHTS OUT_DIR
#
# Runs from the repository root without installing anything (python3 -m bench with the checkout on PYTHONPATH;
# the GPU image has torch, numpy, scipy, scikit-learn, matplotlib, seaborn, jinja2 and click, not WeasyPrint).
# OUT_DIR receives, in order of value per GPU second:
#   env.txt                 GPU, driver, torch/CUDA versions
#   speed-cuda.json         `bench speed`: every model, the study's DataLoader pipeline beside the fast path
#   speed-cuda-compiled.json  the same with --compile reduce-overhead (CUDA graphs), side by side
#   run/                    the full protocol, bf16, seeds 0..SEEDS-1 (env SEEDS, default 1), `bench train`
#   det/ + verify.txt       a --deterministic run of the CNN, trained and verified on the same GPU
# Render the report afterwards on a CPU machine: scripts/publish_results.sh OUT_DIR results/<gpu-name>.
# Env: SEEDS (default 1), SKIP_SPEED=1, SKIP_COMPILED=1, SKIP_DET=1, BENCH_CHECK_DEVICE=cpu and
# BENCH_CHECK_PROFILE=smoke to try the script itself without a GPU.
set -euo pipefail
data=${1:?DATA_DIR} weights=${2:?VGG16_WEIGHTS} out=${3:?OUT_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"
bench=(python3 -m bench)
device=${BENCH_CHECK_DEVICE:-cuda} profile=${BENCH_CHECK_PROFILE:-full} seeds=${SEEDS:-1}
common=(--device "$device" --profile "$profile" --data-dir "$data" --no-download --vgg-weights "$weights")
t() { local start=$(date +%s%N); "$@"; echo "wall: $(( ($(date +%s%N) - start) / 1000000 )) ms: $*"; }

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn",
    torch.backends.cudnn.version(), torch.cuda.is_available() and torch.cuda.get_device_name())'; } | tee "$out/env.txt"

if [[ $profile == full ]]; then speed=(--repeats 3 --steps 50 --warmup 10); else speed=(--steps 2 --warmup 1); fi
[[ ${SKIP_SPEED:-} ]] || t "${bench[@]}" speed --device "$device" "${speed[@]}" --out "$out/speed-$device.json" \
  2>&1 | tee "$out/speed.log"
[[ ${SKIP_COMPILED:-} ]] || t "${bench[@]}" speed --device "$device" "${speed[@]}" --compile reduce-overhead \
  --out "$out/speed-$device-compiled.json" 2>&1 | tee "$out/speed-compiled.log"

# The whole study; the manifest records train_wall_seconds (first training start to last finish).
t "${bench[@]}" train mlp cnn cnn_bn vgg16 "${common[@]}" --seeds "$seeds" --artifacts "$out/run" 2>&1 \
  | tee "$out/train.log"

if [[ -z ${SKIP_DET:-} ]]; then
  t "${bench[@]}" train cnn "${common[@]}" --deterministic --epochs 2 --artifacts "$out/det" 2>&1 | tee "$out/det.log"
  "${bench[@]}" verify "$out/det" --data-dir "$data" --no-download 2>&1 | tee "$out/verify.txt"
fi
