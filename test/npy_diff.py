#!/usr/bin/env python3
"""npy_diff.py A.npy B.npy — prints ||a - b|| / ||b|| of two .npy files of one
dtype and shape (pure Python, any dtype tirc writes, bf16 included)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_programs import compare, read_npy  # noqa: E402

da, sa, va = read_npy(sys.argv[1])
db, sb, vb = read_npy(sys.argv[2])
if (da, sa) != (db, sb):
    sys.exit(f"npy_diff: {da}{sa} vs {db}{sb}")
print(f"{sys.argv[1]} vs {sys.argv[2]}: {da} {sa} rel err {compare(da, va, vb, 0):.3g}")
