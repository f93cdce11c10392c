#!/usr/bin/env bash
# Runs on the lent machine (no npm), from the repository root, with examples/diffusion-lm/device/.carry
# carried (and bench/gpu/.carry, whose Node binary it shares): trains Diffusion-LM and then the teacher LM with ONNX Runtime on every CPU core, each
# schedule fitted to its time budget, and writes the results under $OUT.
#   bash examples/diffusion-lm/device/run.sh [dlm-minutes 7] [teacher-minutes 1.5]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CARRY=$here/.carry
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
WORK=$(mktemp -d)
unxz() { if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi; }
nodexz=$CARRY/node.xz
[[ -f $nodexz ]] || nodexz=$here/../../../bench/gpu/.carry/node.xz
[[ -f $nodexz ]] || { echo "run.sh: no node.xz in $CARRY or bench/gpu/.carry (run prepare.sh, carry both folders)"; exit 0; }
unxz "$nodexz" >"$WORK/node" && chmod +x "$WORK/node"
mkdir -p "$WORK/node_modules"
cp -r "$CARRY/node_modules/onnxruntime-common" "$WORK/node_modules/"
cp -r "$CARRY/node_modules/onnxruntime-node" "$WORK/node_modules/"
lib=$WORK/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
unxz "$lib/libonnxruntime.so.1.xz" >"$lib/libonnxruntime.so.1" && rm "$lib/libonnxruntime.so.1.xz"
cp "$CARRY"/*.bundle.mjs "$WORK/"
threads=$(nproc)
echo "cpus: $threads ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); node $("$WORK/node" --version)"
cd "$WORK"
set -o pipefail
./node train.bundle.mjs --threads "$threads" --fallback reference --data-dir "$CARRY/e2e" --fit --steps 20000 --minutes "${1:-7}" \
  --state "$OUT/train-state.safetensors" --out "$OUT/e2e.safetensors" --save-every 120 2>&1 | tee "$OUT/train.log"
./node train-teacher.bundle.mjs --threads "$threads" --fallback reference --data-dir "$CARRY/e2e" --fit --steps 20000 --minutes "${2:-1.5}" \
  --vocab-from "$OUT/e2e.safetensors" --out "$OUT/teacher.safetensors" 2>&1 | tee "$OUT/teacher.log"
ls -la "$OUT"
