#!/usr/bin/env bash
# run_gpu.sh — the torch backend tests on the GPU: the same tests as the CPU
# run, with TIRC_TEST_DEVICE=cuda (target "cuda", bf16 models).  For the lent
# GPU machine, which has torch but no network and no pip: the package is used
# from python/ (PYTHONPATH) and libtirc from $TIRC_LIBRARY, which
# scripts/gpu-unpack.sh sets.  Logs go to $OUT (default /tmp/torch-gpu).
#   bash scripts/gpu-pack.sh                       # here, after scripts/build.sh
#   source scripts/gpu-unpack.sh && bash test/python/run_gpu.sh   # there
# Extra arguments go to unittest (e.g. TestModels.test_llama_block).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/torch-gpu}
mkdir -p "$OUT"
if [ -z "${TIRC_LIBRARY:-}" ] && [ -n "${B:-}" ] && [ -f "$B/libtirc.so" ]; then
  export TIRC_LIBRARY=$B/libtirc.so
fi
export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
export TIRC_TEST_DEVICE=cuda
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())'
rc=0
python3 test/python/test_torch_backend.py "$@" 2>&1 | tee "$OUT/test_torch_backend.log" || rc=$?
rc=${PIPESTATUS[0]}
# The same models in f32 (tirc's f32 paths: cuBLASLt f32, mem_efficient f32 attention).
if [ $# -eq 0 ]; then
  TIRC_TEST_DTYPE=float32 python3 test/python/test_torch_backend.py TestModels TestSdpaCallers \
    2>&1 | tee "$OUT/test_torch_backend_f32.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
fi
grep -h "rel err" "$OUT"/*.log
exit $rc
