#!/usr/bin/env python3
"""npy_diff.py A.npy B.npy [--max TOL] — prints ||a - b|| / ||b|| of two .npy
files of one dtype and shape (pure Python, any dtype tirc writes, bf16
included); with --max, exits 1 when it exceeds TOL (or is NaN)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_programs import compare, read_npy  # noqa: E402

da, sa, va = read_npy(sys.argv[1])
db, sb, vb = read_npy(sys.argv[2])
if (da, sa) != (db, sb):
    sys.exit(f"npy_diff: {da}{sa} vs {db}{sb}")
err = compare(da, va, vb, 0)
print(f"{sys.argv[1]} vs {sys.argv[2]}: {da} {sa} rel err {err:.3g}")
if len(sys.argv) > 4 and sys.argv[3] == "--max" and not err <= float(sys.argv[4]):
    sys.exit(f"npy_diff: rel err {err:.3g} exceeds {sys.argv[4]}")
