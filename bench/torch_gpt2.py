#!/usr/bin/env python3
"""torch_gpt2.py — GPT-2 small forward through torch.compile backends, on one GPU, in one run.

Model: nanoGPT's GPT (test/python/models.py) at GPT-2 small sizes (12 layers,
12 heads, n_embd 768, vocab 50257, block 1024), bf16, eval mode, under
no_grad, full logits for every position (B=8, T=1024 by default).  Rows:
  eager            hand-written attention (flash=False)
  inductor         torch.compile(), hand-written attention
  tirc             torch.compile(backend="tirc"), hand-written attention
  inductor + SDPA  torch.compile(), flash=True (F.scaled_dot_product_attention)
  tirc driver      with --tir TIRC FILE: the same model compiled from
                   bench/gpt2_small.tir by the tirc driver (no torch involved)
Each is timed with CUDA events: the median of --reps runs after --warmup runs,
on random token ids (never zeros).  Prints a markdown table of milliseconds and
speed ratios (eager time / this time: > 1 is faster than eager), plus each
row's relative error against eager with the same weights.

Usage (device machine, nothing installed): PYTHONPATH=python
TIRC_LIBRARY=/path/to/libtirc.so python3 bench/torch_gpt2.py [--batch 8] [--seq 1024]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "test", "python"))

import tirc  # noqa: E402,F401  (registers the backend)
import models  # noqa: E402


def cuda_median_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    if not torch.cuda.is_available():  # a CPU smoke run (--device cpu): wall clock
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--skip", default="", help="comma-separated rows to leave out")
    ap.add_argument("--device", default="cuda", help="cpu: a smoke run of the script itself")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--tir", nargs=2, metavar=("TIRC", "FILE"),
                    help="also time the same model compiled from a .tir by the tirc driver "
                         "(bench/gpt2_e2e.py gen FILE writes it): `TIRC run --target=cuda FILE --bench`")
    args = ap.parse_args()
    dev = torch.device(args.device)
    dt = getattr(torch, args.dtype)
    torch.manual_seed(0)
    cfg = dict(vocab_size=50257, block_size=1024, n_layer=args.layers, n_head=12, n_embd=768)
    hand = models.NanoGPT(flash=False, **cfg).to(dev, dt).eval()
    flash = models.NanoGPT(flash=True, **cfg).to(dev, dt).eval()
    flash.load_state_dict(hand.state_dict(), strict=False)  # same weights (no bias buffer)
    idx = torch.randint(0, cfg["vocab_size"], (args.batch, args.seq), device=dev)

    rows = [("eager", hand, None), ("inductor", hand, "inductor"), ("tirc", hand, "tirc"),
            ("inductor + SDPA", flash, "inductor")]
    skip = set(filter(None, args.skip.split(",")))
    results, ref = [], None
    for name, model, backend in rows:
        if name in skip:
            continue
        torch._dynamo.reset()
        fn = model if backend is None else torch.compile(model, backend=backend)
        t0 = time.time()
        with torch.no_grad():
            out = fn(idx)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            compile_s = time.time() - t0
            ms = cuda_median_ms(lambda f=fn: f(idx), args.warmup, args.reps)
        out = out.float()
        if ref is None:
            ref = out
        err = ((out - ref).norm() / ref.norm()).item()
        results.append((name, ms, compile_s, err))
        print(f"{name}: {ms:.2f} ms (first call {compile_s:.1f} s, rel err vs eager {err:.2e})",
              file=sys.stderr)
        del fn, out
        if dev.type == "cuda":
            torch.cuda.empty_cache()

    if args.tir:  # the driver's own --bench median (inputs on the device, random values)
        tirc_bin, tir = args.tir
        cmd = [tirc_bin, "run", "--target=cuda", tir, "--device=cuda", "--random-inputs",
               "--dim", f"B={args.batch}", "--dim", f"T={args.seq}", f"--bench={args.reps}"]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        m = re.search(r"bench: median ([0-9.]+) ms", r.stdout + r.stderr)
        if not m:
            sys.exit("tirc run failed:\n" + r.stderr[-2000:])
        ir = subprocess.run([tirc_bin, tir, "--target=cuda", "--emit=ir"], capture_output=True, text=True).stdout
        name = (f"tirc driver ({os.path.basename(tir)}: {ir.count('sdpa(')} sdpa, "
                f"{ir.count('is_causal=true')} proven causal)")
        results.append((name, float(m.group(1)), time.time() - t0, float("nan")))

    base = results[0][1] if results and results[0][0] == "eager" else None
    where = torch.cuda.get_device_name() if dev.type == "cuda" else "CPU"
    print(f"\nGPT-2 small forward, nanoGPT model, {args.layers} layers, B={args.batch}, "
          f"T={args.seq}, {args.dtype}, {where}, torch {torch.__version__}, tirc {tirc.version()}\n")
    print("| variant | ms (median) | vs eager | first call (s) | rel err vs eager |")
    print("|---|---|---|---|---|")
    for name, ms, cs, err in results:
        ratio = f"{base / ms:.2f}x" if base else "-"
        print(f"| {name} | {ms:.2f} | {ratio} | {cs:.1f} | {'-' if err != err else f'{err:.1e}'} |")


if __name__ == "__main__":
    main()
