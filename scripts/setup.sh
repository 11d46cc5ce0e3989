#!/usr/bin/env bash
# Brings a fresh Debian 12 clone to a built state: system packages, npm ci, addon, TypeScript.
# Idempotent and quick when everything is in place. --quiet prints only what it does.
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=0; [ "${1:-}" = "--quiet" ] && quiet=1
say() { [ $quiet = 1 ] || echo "setup: $*"; }

# System packages (Debian names). pkgconf gives pkg-config; iproute2 gives `ip netns` for the two-host tests.
need=()
pkg-config --exists 'libfabric >= 1.17' 2>/dev/null || need+=(libfabric-dev)
command -v fi_info >/dev/null || need+=(libfabric-bin)
command -v pkg-config >/dev/null || need+=(pkgconf)
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v g++ >/dev/null || need+=(g++)
command -v ip >/dev/null || need+=(iproute2)
command -v cc >/dev/null || need+=(gcc)
command -v promtool >/dev/null || need+=(prometheus)  # promtool, to check the metrics exposition
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${need[*]}; run as root: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

# npm dependencies: reinstall when the lock file changed since the last install.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

# The addon: rebuild when any native source is newer than the binary.
addon=build/native/Release/mxl_fabrics.node
if [ ! -f "$addon" ] || [ -n "$(find native CMakeLists.txt -newer "$addon" -type f 2>/dev/null | head -1)" ]; then
  echo "setup: building the native addon"
  start=$(date +%s)
  mkdir -p build
  npx --no-install cmake-js compile --out build/native >build/native-build.log 2>&1 || { cat build/native-build.log >&2; exit 1; }
  echo "setup: addon built in $(( $(date +%s) - start )) s"
fi

# TypeScript (incremental).
say "compiling TypeScript"
npx --no-install tsc -p tsconfig.json --incremental --tsBuildInfoFile build/.tsbuildinfo
say "ready"
