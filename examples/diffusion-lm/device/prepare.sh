#!/usr/bin/env bash
# Builds examples/diffusion-lm/device/.carry: what training needs on a machine with no npm (the
# lent GPU machine's 16 CPU cores): this machine's Node binary and onnxruntime-node's native
# library (xz-compressed), onnxruntime-common, the E2E data, and the two training scripts bundled
# with @denoise/core, @denoise/backend-onnx and @denoise/diffusion-lm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
CARRY=$here/.carry
mkdir -p "$CARRY"
(cd "$root" && npx turbo run build --filter=@denoise/diffusion-lm --filter=@denoise/backend-onnx >/dev/null)
cd "$root/examples/diffusion-lm"
for s in train train-teacher; do
  node --input-type=module -e "
    import { build } from 'esbuild';
    await build({ entryPoints: ['$s.mjs'], outfile: '$CARRY/$s.bundle.mjs', bundle: true, platform: 'node', format: 'esm', target: 'node20',
      external: ['onnxruntime-node', 'onnxruntime-web', '@denoise/backend-tfjs', '@tensorflow/*'], logLevel: 'warning', tsconfigRaw: '{}',
      banner: { js: \"import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);\" } });
  "
done
# The Node binary is shared with bench/gpu/.carry when that folder has the same version (both
# folders then travel together within the 64 MiB a call may carry).
shared=$root/bench/gpu/.carry
if [[ -f $shared/node.xz && $(cat "$shared/node.version" 2>/dev/null) == "$(node --version)" ]]; then
  rm -f "$CARRY/node.xz" "$CARRY/node.version"
elif [[ ! -f $CARRY/node.xz || $(cat "$CARRY/node.version" 2>/dev/null) != "$(node --version)" ]]; then
  tmp=$(mktemp) && cp "$(command -v node)" "$tmp" && strip "$tmp" && xz -T0 -6 -c "$tmp" >"$CARRY/node.xz" && rm -f "$tmp"
  node --version >"$CARRY/node.version"
fi
ort=$root/node_modules/onnxruntime-node
dst=$CARRY/node_modules/onnxruntime-node
mkdir -p "$dst/bin/napi-v6/linux/x64"
cp -r "$ort/package.json" "$ort/dist" "$dst/"
cp "$ort/bin/napi-v6/linux/x64/onnxruntime_binding.node" "$dst/bin/napi-v6/linux/x64/"
[[ -f $dst/bin/napi-v6/linux/x64/libonnxruntime.so.1.xz ]] || xz -T0 -6 -c "$ort/bin/napi-v6/linux/x64/libonnxruntime.so.1" >"$dst/bin/napi-v6/linux/x64/libonnxruntime.so.1.xz"
rm -rf "$CARRY/node_modules/onnxruntime-common" && cp -r "$root/node_modules/onnxruntime-common" "$CARRY/node_modules/"
mkdir -p "$CARRY/e2e" && cp "$root/packages/diffusion-lm/data/e2e/"*.csv.gz "$CARRY/e2e/"
echo "prepare.sh: $CARRY is $(du -sh "$CARRY" | cut -f1)"
