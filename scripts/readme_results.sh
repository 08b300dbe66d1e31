#!/usr/bin/env bash
# Reproduce the README's "Measured so far" table on a CPU: each model of the study, full protocol, seed 0, fp32,
# fast pipeline, into its own run directory under ${1:-runs}, then its report, then the table
# (scripts/readme_results.py). About 4 h 15 min on a 2-core CPU (MLP 4 min, CNN 80, CNN + BN + Dropout 53,
# VGG16 118); on a GPU add --device cuda (bf16: the numbers differ slightly from the fp32 CPU ones).
set -euo pipefail
root=${1:-runs}
models=$(python -c "from bench.protocol import STUDY; print(' '.join(STUDY))")
dirs=()
for m in $models; do
  bench train "$m" --device cpu --seed 0 --artifacts "$root/full-$m"
  bench report "$root/full-$m" --out "$root/full-$m/report.pdf"
  dirs+=("$root/full-$m")
done
python "$(dirname "$0")/readme_results.py" "${dirs[@]}"
