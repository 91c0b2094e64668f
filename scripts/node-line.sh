#!/usr/bin/env bash
# Usage: scripts/node-line.sh LINE  (22, 24, 26, ...)
# Prints the directory holding the official `node` binary of the newest release of that line,
# fetched by package name from the npm registry (`npm pack node-linux-<arch>@LINE`: a tarball with
# package/bin/node; npm checks it against the registry's integrity hash) and cached under
# ${SYSLET_NODE_CACHE:-.cache/node}/LINE (git-ignored). Needs nothing beyond the npm registry.
set -euo pipefail
line="${1:?usage: scripts/node-line.sh LINE}"
case "$line" in *[!0-9]* | '') echo "node-line: LINE must be a major version number, got '$line'" >&2; exit 2 ;; esac
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "node-line: no official node package for $(uname -m)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
cache="${SYSLET_NODE_CACHE:-.cache/node}/$line"
bin="$cache/package/bin"
if [ ! -x "$bin/node" ]; then
  rm -rf "$cache"
  mkdir -p "$cache"
  # npm pack prints the tarball's file name on its last line of stdout.
  tgz="$(npm pack --silent --pack-destination "$cache" "node-linux-$arch@$line" | tail -n 1)"
  tar -xzf "$cache/$tgz" -C "$cache"
  rm -f "$cache/$tgz"
  if [ ! -x "$bin/node" ]; then
    echo "node-line: node-linux-$arch@$line has no package/bin/node" >&2
    exit 1
  fi
fi
actual="$("$bin/node" --version)"
case "$actual" in
  "v$line".*) ;;
  *) echo "node-line: $bin/node is $actual, not a v$line release" >&2; exit 1 ;;
esac
echo "$(cd "$bin" && pwd)"
