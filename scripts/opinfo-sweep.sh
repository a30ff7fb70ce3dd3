#!/usr/bin/env bash
# opinfo-sweep.sh — the whole OpInfo sweep of the torch backend: every sample
# of every OpInfo in torch's op_db whose op the exporter claims, in every TIR
# dtype, through torch.compile(backend="tirc", options={"fallback": False})
# on the CPU, compared with eager (test/python/opinfo_sweep.py says how).
# ctest runs a bounded subset of it (python.opinfo_sweep, --ci).
#
#   bash scripts/opinfo-sweep.sh                  # everything (tens of minutes on 2 cores)
#   bash scripts/opinfo-sweep.sh --ops expm1,abs -v
#
# libtirc: $TIRC_LIBRARY, else the newest build*/lib/libtirc.so of the checkout.
# Needs torch (exits 77 without); expecttest, which torch's test helpers
# import, is optional (the sweep has a stand-in for it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${TIRC_LIBRARY:-}" ]; then
  lib="$(ls -t "$root"/build*/lib/libtirc.so 2>/dev/null | head -n 1 || true)"
  if [ -z "$lib" ]; then
    echo "opinfo-sweep: no libtirc.so; build first (bash scripts/build.sh) or set TIRC_LIBRARY" >&2
    exit 2
  fi
  export TIRC_LIBRARY="$lib"
fi
exec python3 "$root/test/python/opinfo_sweep.py" "$@"
