#!/usr/bin/env bash
# run-example.sh [MODEL.tir] — builds tirc (installing what is missing),
# compiles an example model (a GPT-2 block with nanoGPT's hand-written
# attention, by default) to an executable and runs it end to end on random
# inputs, timing it.  tirc's default target is the GPU when the build found
# the CUDA toolkit and a GPU is present, and the CPU otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
python3 examples/make_bias.py examples/gpt2_bias.safetensors 1024
MODEL=${1:-examples/gpt2_nanogpt.tir}
OUT=build/example
mkdir -p "$OUT"
echo "== what the compiler did with the attention (tirc --remarks --explain-kernels)"
./build/tools/tirc "$MODEL" --emit=ir --explain-kernels 2>&1 | grep -E "sdpa|remark" | cut -c1-160
echo "== compile: tirc $MODEL -o $OUT/model"
./build/tools/tirc "$MODEL" -o "$OUT/model"
echo "== run: $OUT/model --random-inputs --dim B=1 --dim T=256 --out $OUT/outputs"
"$OUT/model" --random-inputs --dim B=1 --dim T=256 --out "$OUT/outputs"
ls -l "$OUT/outputs"
echo "== time: $OUT/model --random-inputs --dim B=1 --dim T=256 --bench=5"
"$OUT/model" --random-inputs --dim B=1 --dim T=256 --bench=5
