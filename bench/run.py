#!/usr/bin/env python3
"""run.py — tirc vs PyTorch on the same GPU, in the same run (device side).

Usage: run.py TIRC PROGDIR [--reps N] [--out FILE.md]
PROGDIR holds the programs of bench/programs.py (cases.json and one .tir
per case); each runs through `TIRC run --target=cuda` (compiled in process,
generated kernels cached on disk).  For every case this times
PyTorch with CUDA events (median of N after warm-up, inputs drawn at
random, never zeros) and our program's own --bench median (inputs on the
device, results left there), then prints a markdown table: milliseconds,
TFLOP/s (attention: 4*B*H*L*S*D, halved when causal; MLP: 2 GEMMs) and
the speed ratio (PyTorch time / our time, > 1 means we are faster)."""
import argparse
import json
import os
import re
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

DT = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def cuda_median_ms(fn, reps):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def torch_case(c, reps):
    dt = DT[c["dtype"]]
    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if c["kind"].startswith("sdpa"):
        B, H, L, S, D = c["B"], c["H"], c["L"], c["S"], c["D"]
        q = torch.randn(B, H, L, D, device=dev, dtype=dt)
        k = torch.randn(B, H, S, D, device=dev, dtype=dt)
        v = torch.randn(B, H, S, D, device=dev, dtype=dt)
        m = torch.randn(L, S, device=dev, dtype=dt) if c["kind"] == "sdpa_mask" else None
        backend = SDPBackend.EFFICIENT_ATTENTION if c["kernel"] == "mem_efficient" else SDPBackend.MATH
        with sdpa_kernel(backend):
            return cuda_median_ms(
                lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=c["causal"]), reps)
    T, C = c["T"], c["C"]
    x = torch.randn(T, C, device=dev, dtype=dt)
    w1 = torch.randn(4 * C, C, device=dev, dtype=dt) * C ** -0.5
    b1 = torch.randn(4 * C, device=dev, dtype=dt)
    w2 = torch.randn(C, 4 * C, device=dev, dtype=dt) * (4 * C) ** -0.5
    b2 = torch.randn(C, device=dev, dtype=dt)
    g = torch.randn(C, device=dev, dtype=dt)
    be = torch.randn(C, device=dev, dtype=dt)

    def mlp():
        n = F.layer_norm(x, (C,), g, be, 1e-5)
        return x + F.linear(F.gelu(F.linear(n, w1, b1), approximate="tanh"), w2, b2)
    with torch.no_grad():
        return cuda_median_ms(mlp, reps)


def ours_case(tirc, progdir, c, reps):
    path = os.path.join(progdir, c["name"] + ".tir")
    r = subprocess.run([tirc, "run", "--target=cuda", path, "--device=cuda", "--random-inputs",
                        f"--bench={reps}"], capture_output=True, text=True, timeout=300)
    m = re.search(r"median ([0-9.]+) ms", r.stdout)
    if r.returncode != 0 or not m:
        return None, (r.stderr.strip() or r.stdout.strip())[-300:]
    return float(m.group(1)), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tirc")
    ap.add_argument("progdir")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--out")
    a = ap.parse_args()
    cases = json.load(open(os.path.join(a.progdir, "cases.json")))
    name = torch.cuda.get_device_name(0)
    lines = [f"GPU: {name}; PyTorch {torch.__version__}; median of {a.reps} runs each", "",
             "| case | shape | PyTorch backend | PyTorch ms | tirc ms | PyTorch TFLOP/s | tirc TFLOP/s | speed (PyTorch/tirc) |",
             "|---|---|---|---|---|---|---|---|"]
    for c in cases:
        if c["kind"].startswith("sdpa"):
            shape = f"B={c['B']} H={c['H']} L={c['L']} S={c['S']} D={c['D']} {c['dtype']}" + \
                (" causal" if c["causal"] else "") + (" +mask" if c["kind"] == "sdpa_mask" else "")
            backend = "EFFICIENT_ATTENTION" if c["kernel"] == "mem_efficient" else "MATH"
        else:
            shape = f"T={c['T']} C={c['C']} {c['dtype']} (LN+2 linear+GELU)"
            backend = "eager"
        try:
            tt = torch_case(c, a.reps)
        except Exception as e:  # a backend refusing a shape is a result too
            tt = None
            print(f"{c['name']}: PyTorch failed: {e}", file=sys.stderr)
        ot, err = ours_case(a.tirc, a.progdir, c, a.reps)
        if err:
            print(f"{c['name']}: tirc failed: {err}", file=sys.stderr)
        f = c["flops"] / 1e12
        fmt = lambda t: f"{t:.3f}" if t else "—"
        tf = lambda t: f"{f / (t / 1e3):.1f}" if t else "—"
        ratio = f"{tt / ot:.2f}×" if tt and ot else "—"
        lines.append(f"| {c['name']} | {shape} | {backend} | {fmt(tt)} | {fmt(ot)} | {tf(tt)} | {tf(ot)} | {ratio} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if a.out:
        open(a.out, "w").write(text)


if __name__ == "__main__":
    main()
