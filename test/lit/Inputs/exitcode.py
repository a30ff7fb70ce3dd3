#!/usr/bin/env python3
"""exitcode.py CMD ARGS... — runs CMD, passes its stdout and stderr through,
then prints `exit=N` on stdout, so lit tests can check exact exit codes."""
import subprocess
import sys

r = subprocess.run(sys.argv[1:])
sys.stdout.flush()
print(f"exit={r.returncode}")
