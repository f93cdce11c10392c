#!/usr/bin/env bash
# Prints `export VK_ICD_FILENAMES=...` when a locally unpacked lavapipe (Mesa's software Vulkan
# driver) exists, so Node's `webgpu` package finds an adapter on a machine without a GPU:
#
#   eval "$(bash packages/backend-webgpu/scripts/webgpu-env.sh)"
#
# It looks for .lavapipe/lvp_icd.json in the current directory, then at the repository root
# (where the setup scripts unpack it by default), and prints nothing when there is none, or when
# VK_ICD_FILENAMES is already set. It never installs anything.
set -euo pipefail
if [[ -n ${VK_ICD_FILENAMES:-} ]]; then
  exit 0
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
for dir in "$PWD" "$root"; do
  if [[ -f $dir/.lavapipe/lvp_icd.json ]]; then
    echo "export VK_ICD_FILENAMES=$dir/.lavapipe/lvp_icd.json"
    exit 0
  fi
done
