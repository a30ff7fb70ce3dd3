#!/usr/bin/env bash
# gpu-pack.sh — packs what a GPU check needs into devpack/ (ignored), for
# machines that have a GPU but not our build dependencies: the tirc driver,
# the GPU tests, libtirc, and the shared libraries the binaries need that a
# stock CUDA image lacks (OpenBLAS, cJSON, libgomp; compressed).  The lent GPU
# machine runs scripts/gpu-check.sh on it.  Build first (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
rm -rf devpack && mkdir -p devpack/bin devpack/lib
cp "$BUILD"/tools/tirc "$BUILD"/test/gpu/test_gpu_ops "$BUILD"/test/gpu/test_gpu_sdpa "$BUILD"/test/gpu/test_gpu_graphs "$BUILD"/test/gpu/test_gpu_paged \
   "$BUILD"/test/ops/test_backend_ops devpack/bin/
# The attention kernels as one shared object, for bench/flash_bench.py (ctypes).
K=kernels
if [ ! -f "$BUILD/libtirk_attn.so" ] || [ -n "$(find $K -newer "$BUILD/libtirk_attn.so" -name '*.cu*')" ] ||
   [ -n "$(find $K -newer "$BUILD/libtirk_attn.so" -name '*.h')" ]; then
  NV="nvcc -O3 -std=c++17 --expt-relaxed-constexpr -Xcompiler -fPIC -I$K"
  $NV -gencode=arch=compute_90a,code=sm_90a -c $K/flash_sm90.cu -o "$BUILD/flash_sm90_pic.o"
  $NV -shared -arch=sm_90 $K/common.cu $K/attention.cu $K/attention_mem_efficient.cu $K/flash.cu "$BUILD/flash_sm90_pic.o" -lcublas \
    -o "$BUILD/libtirk_attn.so"
fi
cp "$BUILD/libtirk_attn.so" devpack/bin/
cp "$BUILD"/lib/libtirc.so devpack/bin/  # for the torch backend (TIRC_LIBRARY=$B/libtirc.so)
strip devpack/bin/*
xz -6 -T2 devpack/bin/*  # the transfer to the GPU machine is size-limited
# libgomp (OpenMP in the CPU kernels) may be missing from a runtime image; it
# needs only glibc 2.34, older than the GPU machine's.  libcrypto.so.3 (the
# kernel cache keys) is not packed: Ubuntu 24.04 has it (OpenSSL 3.0, the
# same soname), and a packed copy would shadow the system's.
for l in $(ldd "$BUILD"/tools/tirc | awk '/=>/ {print $3}' | grep -E 'openblas|cjson|gfortran|quadmath|gomp'); do
  xz -9 -c "$l" > "devpack/lib/$(basename "$l").xz"
done
du -sh devpack
