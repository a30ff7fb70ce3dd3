#!/usr/bin/env python3
"""make_bias.py OUT.safetensors [BLOCK] — writes nanoGPT's causal `bias` buffer,
torch.tril(torch.ones(BLOCK, BLOCK)).view(1, 1, BLOCK, BLOCK) in float32, under
the key `h.0.attn.bias` (as a torch.compile export would name it).  Pure
Python (no numpy), so it runs on a fresh machine."""
import json
import struct
import sys


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    one, zero = struct.pack("<f", 1.0), struct.pack("<f", 0.0)
    rows = [one * (i + 1) + zero * (n - i - 1) for i in range(n)]
    data = b"".join(rows)
    header = {"h.0.attn.bias": {"dtype": "F32", "shape": [1, 1, n, n],
                                "data_offsets": [0, len(data)]}}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


if __name__ == "__main__":
    main()
