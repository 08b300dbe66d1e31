#!/usr/bin/env bash
# Turn what scripts/gpu_check.sh brought back into the committed evidence, on a CPU machine with WeasyPrint:
#
#   scripts/publish_results.sh OUT_DIR results/<gpu-name>
#
# Copies the run directory without checkpoints (manifest.json, dataset.json, samples.png and each
# <model>/seed-<n>/ config.json, metrics.json, history.csv, predictions.npz) and the speed JSON, then renders the
# report and its summary from them. Predictions are kept: the report is computed from them (about 0.4 MB per
# model and seed).
set -euo pipefail
src=${1:?OUT_DIR} dest=${2:?results/GPU-NAME}
mkdir -p "$dest"
rsync -a --exclude checkpoint.pt --exclude '*.lock' --exclude 'report*' "$src/run/" "$dest/run/"
cp "$src"/speed-*.json "$src/env.txt" "$dest/" 2>/dev/null || true
[ -f "$src/verify.txt" ] && cp "$src/verify.txt" "$dest/"
bench report "$dest/run" --out "$dest/report.pdf" --title "bench on $(basename "$dest")"
du -sh "$dest"
