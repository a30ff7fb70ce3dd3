#!/usr/bin/env bash
# setup.sh — installs what a fresh Debian machine lacks to build and test tirc.
# Safe to run any number of times: it installs only missing packages.
set -euo pipefail

DEBS=(build-essential cmake ninja-build pkg-config flex bison libcjson-dev libssl-dev
      libopenblas-dev libgomp1 llvm-14-tools clang python3 python3-pip)

missing=()
for p in "${DEBS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# lit drives the FileCheck suites; Debian ships it only inside llvm's tree, so
# take the PyPI package (pinned) when no lit is on PATH.
if ! command -v lit >/dev/null 2>&1 && ! command -v llvm-lit >/dev/null 2>&1; then
  echo "setup: installing lit from PyPI"
  python3 -m pip install -q "lit==18.1.8" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages "lit==18.1.8"
fi
