#!/usr/bin/env bash
# gpu-bench-compare.sh — benchmarks two builds side by side in one run on the
# GPU machine, so that a change can be shown not to slow anything down:
# BEFORE and AFTER are devpack folders from scripts/gpu-pack.sh (e.g. one
# packed at the old commit and renamed devpack-before, and devpack).  Runs,
# for each: bench/run.py over bench/programs.py's cases (tirc vs PyTorch),
# the GPT-2 small driver benchmark (bench/gpt2_small.tir), and the CPU
# attention benchmark (bench/cpu_sdpa.tir) on one thread and on all cores.
# Writes the tables to $OUT (default /tmp/bench-compare).
# Usage: scripts/gpu-bench-compare.sh BEFORE AFTER
set -uo pipefail
cd "$(dirname "$0")/.."
BEFORE=$1
AFTER=$2
OUT=${OUT:-/tmp/bench-compare}
mkdir -p "$OUT"
unpack() { # devpack folder -> /tmp/pack-NAME/{bin,lib}
  python3 -c 'import lzma, os, sys
src, dst = sys.argv[1], sys.argv[2]
for sub in ("bin", "lib"):
    d = os.path.join(src, sub)
    if not os.path.isdir(d):
        continue
    os.makedirs(os.path.join(dst, sub), exist_ok=True)
    for f in os.listdir(d):
        if f.endswith(".xz"):
            out = os.path.join(dst, sub, f[:-3])
            open(out, "wb").write(lzma.open(os.path.join(d, f)).read())
            os.chmod(out, 0o755)' "$1" "$2"
}
unpack "$BEFORE" /tmp/pack-before
unpack "$AFTER" /tmp/pack-after
# The newer pack's libraries serve both (a superset: it adds libgomp).
export LD_LIBRARY_PATH=/tmp/pack-after/lib:/tmp/pack-before/lib:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 examples/make_bias.py examples/gpt2_bias.safetensors 1024 >/dev/null
python3 bench/programs.py /tmp/bp >/dev/null
for which in before after; do
  B=/tmp/pack-$which/bin
  export TIRC_CACHE_DIR=/tmp/tirc-cache-$which
  python3 bench/run.py $B/tirc /tmp/bp --reps 30 --out "$OUT/programs-$which.md" > /dev/null 2>&1
  echo "== $which: programs"; cat "$OUT/programs-$which.md"
  echo "== $which: gpt2_small.tir (driver, cuda)"
  $B/tirc run bench/gpt2_small.tir --device=cuda --random-inputs --dim B=8 --dim T=1024 --bench=20 2>&1 | tail -1
  for t in 1 $(nproc); do
    echo -n "== $which: cpu_sdpa.tir, OMP_NUM_THREADS=$t: "
    OMP_NUM_THREADS=$t $B/tirc run bench/cpu_sdpa.tir --device=cpu --random-inputs --bench=10 2>&1 | tail -1
  done
done 2>&1 | tee "$OUT/compare.log"
