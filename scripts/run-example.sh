#!/usr/bin/env bash
# run-example.sh [MODEL.tir] — builds tirc (installing what is missing) and
# runs an example model through the compiler: every pass's IR is shown.
# Executing the compiled program arrives with codegen and the runtime; until
# then this stops at the optimized IR.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
python3 examples/make_bias.py examples/gpt2_bias.safetensors 1024
MODEL=${1:-examples/gpt2_nanogpt.tir}
echo "== tirc $MODEL --emit=ir --dump-ir"
./build/tools/tirc "$MODEL" --emit=ir --dump-ir
