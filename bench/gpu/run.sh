#!/usr/bin/env bash
# The WebGPU benchmark on the GPU machine (see bench/gpu/README.md for the device call): runs
# there as root, in the repository root, with bench/gpu/.carry (made here by prepare.sh) carried,
# and needs nothing else: no npm, no network.
#   1. unpacks the carried Node and Dawn addon into a temporary folder;
#   2. finds a Vulkan loader (else unpacks the carried one) and the NVIDIA Vulkan driver's
#      manifest, and points VK_DRIVER_FILES / VK_ICD_FILENAMES at it (a manifest already named
#      in VK_ICD_FILENAMES is kept: that is how this script is tried on lavapipe);
#   3. runs bench/webgpu.mjs (bundled): our WebGPU backend vs tfjs-backend-webgpu on matmul,
#      conv3x3 and attention, and the SD block stack (batch 2, [2,320,32,32]) on our backend;
#   4. runs the same block stack in PyTorch (bench/gpu/torch_blocks.py), where python3 has torch;
#   5. prints one table (bench/gpu/report.mjs) and writes $OUT/gpu.json (and $OUT/run.log) when
#      OUT is set.
# Whatever is missing (no adapter, no torch) is printed and skipped; the script exits 0.
#
#   bash bench/gpu/run.sh [--small]
set -uo pipefail
cd "$(dirname "$0")/../.."
CARRY=bench/gpu/.carry
SMALL=()
[[ ${1:-} == --small ]] && SMALL=(--small)
WORK=$(mktemp -d /tmp/denoise-gpu.XXXXXX)
FACTS=$WORK/facts.txt
NODE=$WORK/node
start=$SECONDS

fact() { echo "$*" | tee -a "$FACTS"; }
unxz() {
  if command -v xz >/dev/null; then
    xz -dc "$1"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"
  fi
}

# 1. Node and the Dawn addon.
unpack() {
  unxz "$CARRY/node.xz" >"$NODE" && chmod +x "$NODE"
  mkdir -p "$WORK/node_modules/webgpu/dist/linux-x64"
  cp "$CARRY/node_modules/webgpu/package.json" "$CARRY/node_modules/webgpu/index.js" "$WORK/node_modules/webgpu/"
  unxz "$CARRY/node_modules/webgpu/dist/linux-x64/dawn.node.xz" >"$WORK/node_modules/webgpu/dist/linux-x64/dawn.node"
  cp "$CARRY/webgpu-bench.mjs" "$WORK/"
}

# 2. Vulkan: the loader, then the NVIDIA driver's manifest.
find_vulkan() {
  # (grep without -q: under pipefail, an early exit would fail the pipeline with SIGPIPE)
  if ! ldconfig -p | grep 'libvulkan\.so\.1' >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v dpkg >/dev/null; then
      for f in "$CARRY"/debs/*.deb; do dpkg -x "$f" /; done
      ldconfig
      fact "libvulkan: none installed; unpacked the carried loader and GL dispatch libraries into /"
    else
      mkdir -p "$WORK/sysroot"
      for f in "$CARRY"/debs/*.deb; do dpkg-deb -x "$f" "$WORK/sysroot"; done
      export LD_LIBRARY_PATH=$WORK/sysroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
      fact "libvulkan: none installed; the carried loader from $WORK/sysroot (LD_LIBRARY_PATH)"
    fi
  fi
  fact "ldconfig: $(ldconfig -p | grep -E 'libvulkan\.so\.1|libGLX_nvidia\.so\.0|libGLdispatch\.so\.0' | sed 's/^[[:space:]]*//' | tr '\n' ';')"
  local dirs=(/usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d)
  local manifests
  manifests=$(for d in "${dirs[@]}"; do ls "$d"/*.json 2>/dev/null; done | tr '\n' ' ')
  fact "Vulkan driver manifests: ${manifests:-none}"
  if [[ -z ${VK_ICD_FILENAMES:-} ]]; then
    for d in "${dirs[@]}"; do
      for f in "$d"/nvidia_icd*.json; do
        if [[ -f $f ]]; then
          export VK_DRIVER_FILES=$f VK_ICD_FILENAMES=$f
          break 2
        fi
      done
    done
  fi
  # The driver's own libraries (libGLX_nvidia.so.0, which its manifest names) live here on the device machine.
  if [[ -d /usr/local/nvidia/lib64 ]]; then export LD_LIBRARY_PATH=/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; fi
  if command -v vulkaninfo >/dev/null; then
    fact "vulkaninfo: $(vulkaninfo --summary 2>&1 | grep -E 'deviceName|driverName|driverInfo|apiVersion' | sed 's/^[[:space:]]*//' | tr -s ' ' | tr '\n' ';')"
  fi
  if [[ -n ${VK_ICD_FILENAMES:-} ]]; then
    fact "VK_ICD_FILENAMES=$VK_ICD_FILENAMES (library_path $(sed -n 's/.*"library_path": *"\([^"]*\)".*/\1/p' "$VK_ICD_FILENAMES" | head -1))"
  else
    fact "VK_ICD_FILENAMES: no NVIDIA Vulkan manifest found; Dawn tries the loader's defaults"
  fi
}

main() {
  : >"$FACTS"
  if [[ ! -f $CARRY/node.xz || ! -f $CARRY/webgpu-bench.mjs ]]; then
    echo "run.sh: $CARRY is missing or incomplete: run 'bash bench/gpu/prepare.sh' on the build machine and carry it"
    return 0
  fi
  unpack
  if ! "$NODE" --version >/dev/null 2>&1; then
    echo "run.sh: the carried Node does not start here: $("$NODE" --version 2>&1 | head -3)"
    return 0
  fi
  fact "node $("$NODE" --version), unpacked in $((SECONDS - start)) s"
  if command -v nvidia-smi >/dev/null; then
    fact "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
  fi
  find_vulkan

  # 3. WebGPU: our backend vs tfjs-backend-webgpu, and the SD blocks.
  echo "--- bench/webgpu.mjs --blocks ${SMALL[*]}"
  (cd "$WORK" && timeout 180 "$NODE" webgpu-bench.mjs --blocks "${SMALL[@]}" --out "$WORK/webgpu.json") 2>&1 |
    grep -v -e 'artificially reduced' -e '^$'
  local rc=${PIPESTATUS[0]}
  if [[ $rc != 0 ]]; then echo "run.sh: the WebGPU benchmark failed (exit $rc$([[ $rc == 124 ]] && echo ', timed out after 180 s'))"; fi

  # 4. PyTorch, the same blocks.
  local py=
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then py=$p; break; fi
  done
  if [[ -n $py ]]; then
    echo "--- bench/gpu/torch_blocks.py ${SMALL[*]} ($py)"
    timeout 90 "$py" bench/gpu/torch_blocks.py --json "${SMALL[@]}" >"$WORK/torch.json" || echo "run.sh: torch_blocks.py failed (exit $?)"
  else
    echo "run.sh: no python3 here imports torch; no PyTorch baseline"
  fi

  # 5. One table, one JSON.
  echo "--- results ($((SECONDS - start)) s in all)"
  "$NODE" bench/gpu/report.mjs --webgpu "$WORK/webgpu.json" --torch "$WORK/torch.json" --facts "$FACTS" --out "${OUT:-$WORK}/gpu.json"
}

if [[ -n ${OUT:-} ]]; then
  mkdir -p "$OUT"
  main 2>&1 | tee "$OUT/run.log"
else
  main
fi
exit 0
