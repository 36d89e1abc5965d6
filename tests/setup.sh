#!/usr/bin/env bash
# Installs what the tests need beyond .NET and the machine's Node: wrk, nginx, setpriv/prlimit (Debian packages),
# the framework examples' node_modules (examples/frameworks, from its package-lock.json), and Node 18 and 22 from the
# npm registry into tests/.node/18 and tests/.node/22 (each has bin/node). Idempotent and quiet: it prints a line
# only for what it installs, and returns at once when everything is there. Runnable from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."

# Exact versions, so every machine tests the same binaries (18.20.8 is Node 18's last release).
NODE_VERSIONS=(18.20.8 22.23.5)

say() { echo "setup: $*" >&2; }

# (a) Debian packages: wrk and nginx (load and proxy tests), setpriv and prlimit (util-linux), python3. In the background:
#     the downloads below do not depend on it, and a fresh machine spends most of this script waiting on the network.
has() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
need=()
has wrk || need+=(wrk)
has nginx || need+=(nginx-light)
{ has setpriv && has prlimit; } || need+=(util-linux)
# Apps that are not node (examples/python-*.py, the PM2 import corpus's Python workers).
has python3 || need+=(python3-minimal)
# The tests run nk and nk-full as users get them, compiled ahead of time (NativeAOT): that needs a C toolchain and
# zlib's headers (Debian and Ubuntu images with the .NET SDK usually have them).
{ has clang || has gcc; } || need+=(clang)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
apt_pid=
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  (
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  ) &
  apt_pid=$!
fi

# (b) The framework examples' dependencies, exactly as locked. npm writes node_modules/.package-lock.json on every
#     install, so a lock file newer than it means the dependencies changed since.
frameworks=examples/frameworks
if [ ! -f "$frameworks/node_modules/.package-lock.json" ] \
   || [ "$frameworks/package-lock.json" -nt "$frameworks/node_modules/.package-lock.json" ]; then
  say "npm ci in $frameworks"
  (cd "$frameworks" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# (c) Node 18 and 22: the registry's node-<os>-<arch> packages hold the official binary at bin/node. npm pack fetches
#     the tarball (through npm's cache), which unpacks straight into tests/.node/<major>.
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "setup: no Node package for $(uname -m)" >&2; exit 1 ;;
esac
for version in "${NODE_VERSIONS[@]}"; do
  major=${version%%.*}
  dir=tests/.node/$major
  if [ -x "$dir/bin/node" ] && [ "$("$dir/bin/node" --version 2>/dev/null)" = "v$version" ]; then continue; fi
  say "node-linux-$arch@$version -> $dir"
  mkdir -p tests/.node
  tmp=$(mktemp -d tests/.node/.partial.XXXXXX)   # beside the target, so the last step is a rename
  trap 'rm -rf "$tmp"' EXIT
  tarball=$(cd "$tmp" && npm pack --silent "node-linux-$arch@$version" | tail -n 1)
  mkdir "$tmp/unpacked"
  tar -xzf "$tmp/$tarball" -C "$tmp/unpacked" --strip-components=1
  [ "$("$tmp/unpacked/bin/node" --version)" = "v$version" ] || { echo "setup: $tarball holds no node v$version" >&2; exit 1; }
  rm -rf "$dir"
  mv "$tmp/unpacked" "$dir"
  rm -rf "$tmp"
  trap - EXIT
done

if [ -n "$apt_pid" ]; then
  wait "$apt_pid" || { echo "setup: apt-get install ${need[*]} failed" >&2; exit 1; }
fi
