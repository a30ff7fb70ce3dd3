#!/usr/bin/env python3
"""make_mask.py DIR — writes DIR/almost.safetensors: a 16x16 causal 0/1 bias
(key `bias`, f32 [1, 1, 16, 16]) with one element above the diagonal set, so
it is causal everywhere but (3, 7).  Pure Python."""
import json
import struct
import sys

n = 16
vals = [[1.0 if j <= i else 0.0 for j in range(n)] for i in range(n)]
vals[3][7] = 1.0
data = b"".join(struct.pack("<f", x) for row in vals for x in row)
h = json.dumps({"bias": {"dtype": "F32", "shape": [1, 1, n, n], "data_offsets": [0, len(data)]}}).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[1] + "/almost.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
