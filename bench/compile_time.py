#!/usr/bin/env python3
"""compile_time.py — how the driver's compile time grows with the model:
GPT-2 small's blocks (bench/gpt2_e2e.py) repeated 1, 12, 48 times, compiled
for the GPU (`--target=cuda --arch=sm_90`, an executable) with a cold kernel
cache and again with the warm cache in a new process.  Prints a markdown
table of wall seconds and each run's `--time-passes` phases that took
longest.  Needs no GPU (NVRTC runs on the CPU).

Usage: bench/compile_time.py TIRC [--layers 1,12,48] [--arch sm_90]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gpt2_e2e  # noqa: E402


def phases(text):
    """{phase: ms} from a --time-passes table."""
    out = {}
    for m in re.finditer(r"^//\s+([\d.]+)\s+[\d.]+%\s+(\S+)", text, re.M):
        out[m.group(2)] = float(m.group(1))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tirc")
    ap.add_argument("--layers", default="1,12,48")
    ap.add_argument("--arch", default="sm_90")
    a = ap.parse_args()
    bias = os.path.join(HERE, "..", "examples", "gpt2_bias.safetensors")
    if not os.path.exists(bias):
        subprocess.run([sys.executable, os.path.join(HERE, "..", "examples", "make_bias.py"), bias, "1024"],
                       check=True, stdout=subprocess.DEVNULL)
    tmp = tempfile.mkdtemp(prefix="tirc-ctime-")
    print("| layers | TIR lines | cold s | warm s | cold: nvrtc ms | cold: passes ms | warm: cc ms | kernels |")
    print("|---|---|---|---|---|---|---|---|")
    for n in [int(x) for x in a.layers.split(",")]:
        src = os.path.join(HERE, f"gpt2_{n}l.tir")  # next to gpt2_small.tir: same bias path
        gpt2_e2e.gen(src, n)
        lines = sum(1 for _ in open(src))
        env = dict(os.environ, TIRC_CACHE_DIR=os.path.join(tmp, f"cache{n}"))
        row = []
        for _ in ("cold", "warm"):
            t0 = time.perf_counter()
            r = subprocess.run([a.tirc, src, "--target=cuda", f"--arch={a.arch}", "--time-passes",
                                "-o", os.path.join(tmp, "exe")], env=env, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if r.returncode:
                sys.exit(r.stderr)
            row.append((dt, phases(r.stderr), r.stderr))
        os.remove(src)
        (cold, pc, tc), (warm, pw, _) = row
        passes = sum(v for k, v in pc.items() if k not in ("parse", "lower", "cuda-sources", "nvrtc",
                                                             "emit-c", "cc", "total"))
        k = re.search(r"cuda-sources\s+(.*)$", tc, re.M)
        print(f"| {n} | {lines} | {cold:.2f} | {warm:.2f} | {pc.get('nvrtc', 0):.0f} | {passes:.0f} | "
              f"{pw.get('cc', 0):.0f} | {k.group(1).strip() if k else '-'} |", flush=True)


if __name__ == "__main__":
    main()
