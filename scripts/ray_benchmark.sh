#!/usr/bin/env bash
# Wall time of the smoke study, local vs Ray, on this machine (a benchmark that prints numbers, not a test).
#
#   scripts/ray_benchmark.sh DATA_DIR [OUT_DIR]
#
# Three set-ups, side by side in one run: the local executor; Ray with as many CPUs per job as local threads
# (bitwise equal to local, so jobs run one at a time on a machine with that many cores); Ray with 1 CPU per job
# (jobs in parallel; other thread count, so other bits). Needs `pip install ".[ray]"`. With a GPU and
# DEVICE=cuda, also 4 models x 5 seeds with --gpus-per-job 1 and 0.25 (set GPU=1).
set -euo pipefail
data=${1:?DATA_DIR} out=${2:-$(mktemp -d)}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
device=${DEVICE:-cpu}
common=(--profile smoke --device "$device" --data-dir "$data" --no-download)
[ -n "${BENCH_VGG16_WEIGHTS:-}" ] || common+=(--no-pretrained)
models=(mlp cnn cnn_bn vgg16)
t() {
  local name=$1; shift
  local start=$(date +%s%N)
  "$@" > "$out/$name.log" 2>&1 || { echo "$name failed: see $out/$name.log"; return 1; }
  printf '%-28s %8.1f s\n' "$name" "$(( ($(date +%s%N) - start) / 1000000 ))e-3"
}
echo "smoke study (${models[*]}, 1 seed) on $(nproc) CPUs, torch threads $(python3 -c 'import torch; print(torch.get_num_threads())')"
t local bench train "${models[@]}" "${common[@]}" --artifacts "$out/local"
t ray-equal-threads bench train "${models[@]}" "${common[@]}" --artifacts "$out/ray" --executor ray
t ray-1-cpu-per-job bench train "${models[@]}" "${common[@]}" --artifacts "$out/ray1" --executor ray --cpus-per-job 1
if [ -n "${GPU:-}" ]; then
  t gpu-1-per-job bench train "${models[@]}" "${common[@]}" --seeds 5 --artifacts "$out/g1" --executor ray \
    --gpus-per-job 1
  t gpu-0.25-per-job bench train "${models[@]}" "${common[@]}" --seeds 5 --artifacts "$out/g4" --executor ray \
    --gpus-per-job 0.25
fi
python3 - "$out" <<'PY'
import sys, numpy as np
from pathlib import Path
out = Path(sys.argv[1])
for m in ("mlp", "cnn", "cnn_bn", "vgg16"):
    a, b = (np.load(out / r / m / "seed-0" / "predictions.npz")["logits"] for r in ("local", "ray"))
    print(f"{m:<7} Ray (equal threads) vs local logits bitwise equal: {np.array_equal(a, b)}")
PY
