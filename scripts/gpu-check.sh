#!/usr/bin/env bash
# gpu-check.sh — the GPU correctness run (on a machine with an NVIDIA GPU),
# over devpack/ from scripts/gpu-pack.sh.  Prints a table at the end and
# writes logs to $OUT (default /tmp/gpu-check):
#   1. kernels vs the CPU runtime / float64: test_gpu_ops, test_gpu_sdpa, and
#      the table-driven op test on every backend (test_backend_ops)
#   2. compute-sanitizer memcheck and racecheck on small shapes
#   3. every example model: GPU (--target=cuda) vs CPU (-O0, unfused)
#   4. gpu_programs.py: every op through the executor, GPU vs CPU
#   5. difftest --gpu: random attention programs, fused on the GPU vs unfused on the CPU
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
source scripts/gpu-unpack.sh
declare -a ROWS
row() { ROWS+=("$(printf '%-44s %s' "$1" "$2")"); }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"

$B/test_gpu_ops > "$OUT/ops.log" 2>&1; rc=$?; tail -3 "$OUT/ops.log"; row "test_gpu_ops" "exit $rc"
$B/test_gpu_sdpa > "$OUT/sdpa.log" 2>&1; rc=$?; tail -25 "$OUT/sdpa.log"; row "test_gpu_sdpa" "exit $rc"
$B/test_backend_ops > "$OUT/backend-ops.log" 2>&1; rc=$?; tail -3 "$OUT/backend-ops.log"
row "test_backend_ops (folder, CPU, CUDA, generated)" "exit $rc"

if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    TIRK_SDPA_QUICK=1 timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 $B/test_gpu_sdpa > "$OUT/san-$tool-sdpa.log" 2>&1
    row "compute-sanitizer $tool test_gpu_sdpa (quick)" "exit $?"
    timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 $B/test_gpu_ops quick > "$OUT/san-$tool-ops.log" 2>&1
    row "compute-sanitizer $tool test_gpu_ops (quick)" "exit $?"
  done
fi

python3 test/gpu_programs.py $B/tirc > "$OUT/programs.log" 2>&1
rc=$?; grep -E "FAIL|gpu_programs:" -A2 "$OUT/programs.log" | tail -12; row "gpu_programs (every op, GPU vs CPU)" "exit $rc"

python3 examples/make_bias.py examples/gpt2_bias.safetensors 1024 >/dev/null
python3 test/difftest.py $B/tirc --gpu --count ${DIFFTEST_COUNT:-200} --seed ${DIFFTEST_SEED:-1} \
  --files examples/gpt2_nanogpt.tir examples/gpt2_hf.tir examples/llama_block.tir \
  --dims B=2 T=128 > "$OUT/difftest-gpu.log" 2>&1
rc=$?; grep -E "^(ok|FAIL)|difftest:" "$OUT/difftest-gpu.log" | tail -8; row "difftest --gpu (GPU fused vs CPU unfused)" "exit $rc"

echo; echo "== summary"; printf '%s\n' "${ROWS[@]}" | tee "$OUT/summary.txt"
