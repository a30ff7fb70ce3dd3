#!/usr/bin/env python3
"""pool_scaling.py — does running a program scale linearly with its length?
(issue 14: the executor's buffer pool searched every free buffer per
allocation, so a program with many live values ran in quadratic time.)

Writes programs of N independent ops (N products of one input, all live
at once, then summed pairwise by a tree of adds, so up to N intermediates
share the pool), runs each with `tirc run --random-inputs --bench=R`, and
prints, per N: the wall time of the whole `tirc run` (parse, passes,
lowering, one warm-up and R timed runs) and the median execution time that
--bench reports.  Then the ratio of the largest N's times to the smallest's:
with N 10x larger, linear scaling gives about 10; the goal is <= 15.

Usage: python3 bench/pool_scaling.py [--tirc build/tools/tirc] [--sizes 10000 100000]
                                     [--repeat 3] [--check]
--check exits 1 when the execution ratio is above --goal (15).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time


def program(n):
    """N independent products of %x, then a balanced tree of adds."""
    lines = ["func @main(%x: f32[4]) -> (f32[4]) {"]
    lines += [f"  %y{i} = mul(%x, {i + 1}.5)" for i in range(n)]
    vals, k = [f"%y{i}" for i in range(n)], 0
    while len(vals) > 1:
        nxt = []
        for j in range(0, len(vals) - 1, 2):
            lines.append(f"  %s{k} = add({vals[j]}, {vals[j + 1]})")
            nxt.append(f"%s{k}")
            k += 1
        if len(vals) % 2:
            nxt.append(vals[-1])
        vals = nxt
    lines += [f"  return {vals[0]}", "}"]
    return "\n".join(lines) + "\n"


def measure(tirc, path, repeat):
    t0 = time.perf_counter()
    out = subprocess.run([tirc, "run", path, "--random-inputs", f"--bench={repeat}"],
                         capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"pool_scaling: tirc run {path} failed ({out.returncode}): {out.stderr.strip()}")
    m = re.search(r"median ([0-9.]+) ms.*peak intermediate memory ([0-9.]+) MiB", out.stdout)
    if not m:
        sys.exit(f"pool_scaling: no bench line in: {out.stdout.strip()}")
    return wall, float(m.group(1)), float(m.group(2))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tirc", default=os.path.join(here, "..", "build", "tools", "tirc"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per program (--bench=R)")
    ap.add_argument("--goal", type=float, default=15.0)
    ap.add_argument("--check", action="store_true", help="exit 1 when the run ratio exceeds --goal")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.sizes:
            path = os.path.join(tmp, f"ops{n}.tir")
            with open(path, "w") as f:
                f.write(program(n))
            wall, med, peak = measure(a.tirc, path, a.repeat)
            rows.append((n, wall, med, peak))
            print(f"N={n:>7}: tirc run {wall:8.2f} s   one execution (median) {med:10.2f} ms   "
                  f"peak intermediates {peak:.2f} MiB", flush=True)
    (n0, w0, m0, _), (n1, w1, m1, _) = rows[0], rows[-1]
    run_ratio, wall_ratio = m1 / m0, w1 / w0
    print(f"N x{n1 / n0:g}: execution x{run_ratio:.1f}, whole tirc run x{wall_ratio:.1f} "
          f"(goal <= {a.goal:g})")
    if a.check and run_ratio > a.goal:
        sys.exit(1)


if __name__ == "__main__":
    main()
