#!/usr/bin/env python3
"""mlp_parts.py OUTDIR — the MLP benchmark taken apart (one linear, linear
without bias, layer_norm, gelu) as TIR, to see where tirc's time goes."""
import os
import sys

T, C = 8192, 768
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
progs = {
    "lin_bias": f"func @main(%x: bf16[{T}, {C}], %w: bf16[{4*C}, {C}], %b: bf16[{4*C}]) -> (bf16[{T}, {4*C}]) {{\n  %y = linear(%x, %w, %b)\n  return %y\n}}\n",
    "lin_nobias": f"func @main(%x: bf16[{T}, {C}], %w: bf16[{4*C}, {C}]) -> (bf16[{T}, {4*C}]) {{\n  %y = linear(%x, %w)\n  return %y\n}}\n",
    "layer_norm": f"func @main(%x: bf16[{T}, {C}], %g: bf16[{C}], %b: bf16[{C}]) -> (bf16[{T}, {C}]) {{\n  %y = layer_norm(%x, %g, %b, eps=1e-5)\n  return %y\n}}\n",
    "gelu": f"func @main(%x: bf16[{T}, {4*C}]) -> (bf16[{T}, {4*C}]) {{\n  %y = gelu(%x, approximate=\"tanh\")\n  return %y\n}}\n",
    "empty": f"func @main(%x: bf16[{T}, {C}]) -> (bf16[{T}, {C}]) {{\n  %y = neg(%x)\n  return %y\n}}\n",
}
for k, v in progs.items():
    open(os.path.join(out, k + ".tir"), "w").write(v)
