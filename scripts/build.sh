#!/usr/bin/env bash
# build.sh — configures and builds tirc into build/ (after setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIRC_WERROR=ON "$@" >/dev/null
cmake --build "$BUILD" -j "$(nproc)"
