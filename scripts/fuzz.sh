#!/usr/bin/env bash
# fuzz.sh SECONDS — builds the libFuzzer targets with clang (ASan + UBSan) and
# runs each for SECONDS over its seed corpus.  A crash, leak, hang or
# sanitizer report fails the run; the reproducer is left in the build
# directory ($TIRC_FUZZ_BUILD, default build-fuzz).
# Targets: the parser, the .npy and .safetensors readers, and the pipeline
# after the parser (passes with the verifier after each, lowering, the
# runtime's program loader).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
ROOT=$PWD
BUILD=${TIRC_FUZZ_BUILD:-build-fuzz}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_C_COMPILER=clang -DTIRC_FUZZ=ON -DTIRC_CUDA=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
TARGETS=(parser npy safetensors pipeline)
cmake --build "$BUILD" -j "$(nproc)" --target "${TARGETS[@]/#/fuzz_}"
pass=0 fail=0
for t in "${TARGETS[@]}"; do
  work=$BUILD/corpus-$t
  mkdir -p "$work"
  echo "fuzz: $t for ${SECS}s"
  dict=()
  [ -f "test/fuzz/$t.dict" ] && dict=(-dict="$ROOT/test/fuzz/$t.dict")
  # The pipeline reads .tir too: it shares the parser's dictionary.
  [ "$t" = pipeline ] && dict=(-dict="$ROOT/test/fuzz/parser.dict")
  if (cd "$BUILD" && ./test/fuzz_$t -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=0 "${dict[@]}" "corpus-$t" "$ROOT/test/fuzz/corpus/$t" \
        >"fuzz-$t.log" 2>&1); then
    pass=$((pass + 1)); tail -n 1 "$BUILD/fuzz-$t.log"
  else
    fail=$((fail + 1)); tail -n 40 "$BUILD/fuzz-$t.log"
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" = 0 ]
