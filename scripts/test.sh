#!/usr/bin/env bash
# test.sh — builds tirc and runs every test: C unit tests, the lit suites,
# the torch backend tests (after setup-torch.sh installs the pinned torch),
# and a short fixed-time run of each fuzz target.  This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bash scripts/setup-torch.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
