#!/usr/bin/env bash
# difftest-nightly.sh [COUNT] — the long differential run (default 5000 programs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
python3 test/difftest.py build/tools/tirc --count "${1:-5000}"
