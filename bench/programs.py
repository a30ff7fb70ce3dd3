#!/usr/bin/env python3
"""programs.py — the benchmark programs of bench/ as TIR, one file each.

Usage: programs.py OUTDIR
Writes OUTDIR/NAME.tir for every case in CASES and OUTDIR/cases.json (the
case list with shapes and FLOP counts) for run.py.  The same shapes are
timed in PyTorch by run.py on the same GPU in the same run."""
import json
import os
import sys

# (name, kind, dtype, B, H, L, S, D, causal, kernel)
ATTENTION = []
for dt in ("f32", "bf16"):
    for d in (64, 128):
        for causal in (False, True):
            ATTENTION.append((f"me_{dt}_d{d}{'_causal' if causal else ''}", "sdpa", dt,
                              4, 16, 2048, 2048, d, causal, "mem_efficient"))
for dt in ("f32", "bf16"):
    ATTENTION.append((f"math_{dt}_d64", "sdpa", dt, 4, 16, 1024, 1024, 64, False, "math"))
    ATTENTION.append((f"math_{dt}_d64_mask", "sdpa_mask", dt, 4, 16, 1024, 1024, 64, False, "math"))

# (name, dtype, tokens, hidden)
MLP = [("mlp_bf16", "bf16", 8192, 768), ("mlp_f32", "f32", 8192, 768)]


def sdpa_tir(dt, B, H, L, S, D, causal, kernel, mask):
    args = f"%q: {dt}[{B}, {H}, {L}, {D}], %k: {dt}[{B}, {H}, {S}, {D}], %v: {dt}[{B}, {H}, {S}, {D}]"
    m = ""
    if mask:
        args += f", %m: {dt}[{L}, {S}]"
        m = ", %m"
    return (f"func @main({args}) -> ({dt}[{B}, {H}, {L}, {D}]) {{\n"
            f"  %o = sdpa(%q, %k, %v{m}, is_causal={'true' if causal else 'false'}, kernel=\"{kernel}\")\n"
            f"  return %o\n}}\n")


def mlp_tir(dt, T, C):
    return (f"func @main(%x: {dt}[{T}, {C}], %w1: {dt}[{4*C}, {C}], %b1: {dt}[{4*C}],\n"
            f"           %w2: {dt}[{C}, {4*C}], %b2: {dt}[{C}], %g: {dt}[{C}], %be: {dt}[{C}]) -> ({dt}[{T}, {C}]) {{\n"
            f"  %n = layer_norm(%x, %g, %be, dims=1, eps=1e-5)\n"
            f"  %h = linear(%n, %w1, %b1)\n"
            f"  %a = gelu(%h, approximate=\"tanh\")\n"
            f"  %y = linear(%a, %w2, %b2)\n"
            f"  %r = add(%x, %y)\n"
            f"  return %r\n}}\n")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cases = []
    for name, kind, dt, B, H, L, S, D, causal, kernel in ATTENTION:
        with open(os.path.join(out, name + ".tir"), "w") as f:
            f.write(sdpa_tir(dt, B, H, L, S, D, causal, kernel, kind == "sdpa_mask"))
        flops = 4 * B * H * L * S * D / (2 if causal else 1)
        cases.append(dict(name=name, kind=kind, dtype=dt, B=B, H=H, L=L, S=S, D=D,
                          causal=causal, kernel=kernel, flops=flops))
    for name, dt, T, C in MLP:
        with open(os.path.join(out, name + ".tir"), "w") as f:
            f.write(mlp_tir(dt, T, C))
        cases.append(dict(name=name, kind="mlp", dtype=dt, T=T, C=C, flops=2 * 2 * T * C * 4 * C))
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
