#!/usr/bin/env bash
# Builds bench/gpu/.carry/ (ignored): everything bench/gpu/run.sh needs on the GPU machine, which
# has no network and no npm:
#   node.xz                        this machine's Node binary, stripped and xz-compressed
#   webgpu-bench.mjs               one esbuild bundle of bench/webgpu.mjs with @denoise/core,
#                                  @denoise/backend-webgpu, @tensorflow/tfjs-core and
#                                  @tensorflow/tfjs-backend-webgpu (from their built dist)
#   node_modules/webgpu/           the `webgpu` package's loader (index.js) and its Dawn addon
#                                  for linux-x64 (dawn.node.xz); the addon loads libvulkan.so.1
#   debs/                          Debian's Vulkan loader and GL dispatch libraries (libvulkan1,
#                                  libglvnd0, ...), unpacked there only where no libvulkan exists
# Unchanged parts are kept (compressing Node takes a minute on two cores). Prints the size.
#
#   bash bench/gpu/prepare.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=bench/gpu/.carry
mkdir -p "$CARRY/debs" "$CARRY/node_modules/webgpu/dist/linux-x64"
[[ $(uname -m) == x86_64 ]] || { echo "prepare.sh: the GPU machine is x86-64; this machine is $(uname -m)" >&2; exit 1; }

# 1. The bundle (builds core and backend-webgpu first).
npx turbo run build --filter=@denoise/core --filter=@denoise/backend-webgpu --output-logs=errors-only >&2
node --input-type=module -e "
import { build } from 'esbuild';
await build({
  entryPoints: ['bench/webgpu.mjs'],
  outfile: '$CARRY/webgpu-bench.mjs',
  bundle: true, platform: 'node', format: 'esm', target: 'node20', minify: true, legalComments: 'none',
  // The Dawn addon is found beside the bundle (node_modules/webgpu); tfjs-core's CommonJS parts
  // call require(), which an ES module lacks.
  external: ['webgpu'],
  banner: { js: \"import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);\" },
  logLevel: 'warning',
});
"

# 2. Node.
if [[ ! -f $CARRY/node.xz || $(cat "$CARRY/node.version" 2>/dev/null) != "$(node --version)" ]]; then
  echo "prepare.sh: compressing $(command -v node) ($(node --version))" >&2
  tmp=$(mktemp)
  cp "$(command -v node)" "$tmp" && strip "$tmp"
  xz -T0 -6 -c "$tmp" >"$CARRY/node.xz"
  rm -f "$tmp"
  node --version >"$CARRY/node.version"
fi

# 3. The webgpu package: loader and linux-x64 addon.
pkg=node_modules/webgpu
dst=$CARRY/node_modules/webgpu
cp "$pkg/package.json" "$pkg/index.js" "$dst/"
if [[ ! -f $dst/dist/linux-x64/dawn.node.xz || $pkg/dist/linux-x64/dawn.node -nt $dst/dist/linux-x64/dawn.node.xz ]]; then
  echo "prepare.sh: compressing the Dawn addon" >&2
  xz -T0 -6 -c "$pkg/dist/linux-x64/dawn.node" >"$dst/dist/linux-x64/dawn.node.xz"
fi

# 4. Vulkan loader and GL dispatch (the device README's recipe), as amd64 .debs.
if ! ls "$CARRY"/debs/libvulkan1_*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d)
  mkdir -p "$lists/partial"
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists="$lists" -oAPT::Sandbox::User=root)
  apt-get "${o[@]}" update -qq >&2
  (cd "$CARRY/debs" && apt-get "${o[@]}" download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >&2)
  rm -rf "$lists"
fi

du -ah "$CARRY" | sort -k2 | sed 's/^/  /' >&2
echo "prepare.sh: $CARRY is $(du -sh "$CARRY" | cut -f1) ($(du -sb "$CARRY" | cut -f1) bytes)"
