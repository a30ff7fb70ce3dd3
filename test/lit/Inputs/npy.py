#!/usr/bin/env python3
"""npy.py write OUT DTYPE SHAPE V1 V2 ...   (SHAPE like 2x3, or 'scalar')
   npy.py print FILE                        (prints shape and values)
A tiny .npy writer/reader for tests (no numpy needed).  DTYPE: f4 f8 i8 i4 b1."""
import array
import struct
import sys

CODES = {"f4": ("<f4", "f"), "f8": ("<f8", "d"), "i8": ("<i8", "q"), "i4": ("<i4", "i"), "b1": ("|b1", "B")}


def write(out, dt, shape, vals):
    descr, code = CODES[dt]
    dims = () if shape == "scalar" else tuple(int(x) for x in shape.split("x"))
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (
        descr, "(" + "".join(f"{d}, " for d in dims).rstrip(" ") + ")" if len(dims) != 1 else f"({dims[0]},)")
    header = header.replace("(, )", "()")
    pad = 64 - (10 + len(header) + 1) % 64
    header += " " * pad + "\n"
    arr = array.array(code, [float(v) if code in "fd" else int(float(v)) for v in vals])
    with open(out, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + arr.tobytes())


def show(path):
    data = open(path, "rb").read()
    hlen = struct.unpack("<H", data[8:10])[0]
    hdr = eval(data[10:10 + hlen].decode(), {"__builtins__": {}}, {"True": True, "False": False})
    code = {v[0]: v[1] for v in CODES.values()}[hdr["descr"]]
    arr = array.array(code)
    arr.frombytes(data[10 + hlen:])
    vals = " ".join(f"{x:.6g}" if code in "fd" else str(x) for x in arr)
    print(f"shape {list(hdr['shape'])} {hdr['descr']}: {vals}")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        show(sys.argv[2])
