#!/usr/bin/env bash
# Installs what the WebGPU tests need on a Debian 12 (bookworm) machine, as root, without
# changing the system's Mesa:
#   - Node's `webgpu` package (Dawn) finds its adapter through the Vulkan loader: lavapipe, Mesa's
#     software Vulkan driver, as built in bookworm-backports (Mesa 25, the version tested with
#     Dawn here), unpacked into DEST (default $PWD/.lavapipe), beside bookworm's libvulkan1,
#     libllvm15 and the libraries the driver links;
#   - Debian's chromium, for examples/webgpu-browser (its WebGPU runs on the SwiftShader Vulkan
#     driver that Chromium ships).
# Prints one line for eval, `export VK_ICD_FILENAMES=DEST/lvp_icd.json`, on stdout; everything
# else goes to stderr. Skips whatever is already in place, so a warm machine costs a second.
#
#   eval "$(bash .ci/setup-webgpu.sh)"
set -euo pipefail
DEST=${1:-$PWD/.lavapipe}
export DEBIAN_FRONTEND=noninteractive

say() { echo "setup-webgpu: $*" >&2; }

if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null || ! grep -q bookworm /etc/os-release 2>/dev/null; then
  say "not root on Debian bookworm: nothing installed (WebGPU tests skip where no adapter exists)"
  exit 0
fi

# The libraries libvulkan_lvp.so links (from mesa-vulkan-drivers' Depends, all in bookworm).
PACKAGES=(libvulkan1 libllvm15 libdrm2 libelf1 libexpat1 libwayland-client0 libx11-xcb1 libxcb1 libxcb-dri3-0
  libxcb-present0 libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxshmfence1 libzstd1 zlib1g chromium)
missing=()
for p in "${PACKAGES[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == 'install ok installed' ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

LVP=$DEST/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so
if [[ ! -f $LVP || ! -f $DEST/lvp_icd.json ]]; then
  say "lavapipe (mesa-vulkan-drivers from bookworm-backports) into $DEST"
  mkdir -p "$DEST/apt/lists/partial" "$DEST/apt/parts" "$DEST/apt/cache/archives/partial" "$DEST/root"
  # A private apt configuration: the machine's own sources stay as they are.
  mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "${mirror:-http://deb.debian.org/debian}" >"$DEST/apt/parts/bp.sources"
  O=(-o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts="$DEST/apt/parts" -o Dir::State::Lists="$DEST/apt/lists"
    -o Dir::Cache="$DEST/apt/cache" -o APT::Sandbox::User=root)
  apt-get "${O[@]}" update -qq >&2
  rm -f "$DEST"/mesa-vulkan-drivers_*.deb
  (cd "$DEST" && apt-get "${O[@]}" download -qq mesa-vulkan-drivers >&2)
  # Only the driver and its manifest: the package's other drivers (radeon, intel, ...) are unused.
  dpkg-deb --fsys-tarfile "$DEST"/mesa-vulkan-drivers_*.deb |
    tar -x -C "$DEST/root" ./usr/lib/x86_64-linux-gnu/libvulkan_lvp.so ./usr/share/vulkan/icd.d/lvp_icd.json
  sed "s#\"library_path\": \"[^\"]*\"#\"library_path\": \"$LVP\"#" \
    "$DEST/root/usr/share/vulkan/icd.d/lvp_icd.json" >"$DEST/lvp_icd.json"
fi
unresolved=$(ldd "$LVP" | grep 'not found' || true)
if [[ -n $unresolved ]]; then
  say "libvulkan_lvp.so cannot load: $(echo "$unresolved" | tr -s ' \t\n' ' ')"
  exit 1
fi
say "lavapipe ready ($DEST/lvp_icd.json); $(chromium --version 2>/dev/null)"
echo "export VK_ICD_FILENAMES=$DEST/lvp_icd.json"
