#!/usr/bin/env bash
# gpu-unpack.sh — sourced on the GPU machine: unpacks devpack/ (from
# scripts/gpu-pack.sh) into /tmp/devbin and /tmp/devlibs and sets
# LD_LIBRARY_PATH, TIRC_CACHE_DIR, B (the binaries' folder) and, for the
# torch backend, TIRC_LIBRARY ($B/libtirc.so).
python3 -c 'import lzma, os, sys
for f in sys.argv[1:]:
    d = "/tmp/devbin/" if "/bin/" in f else "/tmp/devlibs/"
    os.makedirs(d, exist_ok=True)
    open(d + os.path.basename(f)[:-3], "wb").write(lzma.open(f).read())
    os.chmod(d + os.path.basename(f)[:-3], 0o755)' devpack/lib/*.xz devpack/bin/*.xz
export LD_LIBRARY_PATH=/tmp/devlibs:${LD_LIBRARY_PATH:-}
export TIRC_CACHE_DIR=/tmp/tirc-cache
B=/tmp/devbin
export TIRC_LIBRARY=$B/libtirc.so
