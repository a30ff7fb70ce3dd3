#!/usr/bin/env python3
"""roundtrip.py TIRC DIR... — checks that printing is a fixed point.

For every .tir file under the given directories (each `//--- name` part of a
split-file test and each `// -----` chunk separately), prints it with
`tirc --passes= --emit=ir` (A), re-parses A and prints again (B), and requires
A == B; the same after the default pipeline.  Inputs that tirc rejects
(negative tests) are counted as skipped, not failed.  Temporary files go to a
private directory (never beside the sources, where a concurrent lit run would
take them for tests), with links to the source directory's .safetensors files
so `const(file=...)` paths still resolve."""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def parts(text):
    if re.search(r"^//--- ", text, re.M):
        chunks = re.split(r"^//--- .*$", text, flags=re.M)[1:]
    else:
        chunks = re.split(r"^// -----.*$", text, flags=re.M)
    return [c for c in chunks if "func" in c]


def tirc(exe, path, *flags):
    r = subprocess.run([exe, path, "--emit=ir", *flags], capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def check(exe, work, text, flags):
    """Returns None (skipped), True (fixed point) or an error string."""
    def tmp(content):
        fd, p = tempfile.mkstemp(suffix=".tir", dir=work)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        return p
    p0 = tmp(text)
    try:
        rc, a, err = tirc(exe, p0, *flags)
        if rc == 1:
            return None
        if rc != 0:
            return f"first print exited {rc}: {err.strip()[:300]}"
        p1 = tmp(a)
        try:
            rc, b, err = tirc(exe, p1, "--passes=")
        finally:
            os.unlink(p1)
        if rc != 0:
            return f"re-parse of the printed IR failed ({rc}): {err.strip()[:500]}\n{a[:2000]}"
        if a != b:
            return f"printing is not a fixed point:\n--- first\n{a[:3000]}\n--- second\n{b[:3000]}"
        return True
    finally:
        os.unlink(p0)


def main():
    exe, dirs = sys.argv[1], sys.argv[2:]
    passed = failed = skipped = 0
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            # lit's Output/ trees are scratch space rewritten by concurrent runs.
            subdirs[:] = [s for s in subdirs if s != "Output"]
            for name in sorted(files):
                if not name.endswith(".tir"):
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                work = tempfile.mkdtemp(prefix="tirc-roundtrip-")
                for data in os.listdir(root):
                    if data.endswith(".safetensors"):
                        os.symlink(os.path.abspath(os.path.join(root, data)), os.path.join(work, data))
                for i, part in enumerate(parts(text)):
                    for flags in (["--passes="], []):
                        r = check(exe, work, part, flags)
                        if r is None:
                            skipped += 1
                        elif r is True:
                            passed += 1
                        else:
                            failed += 1
                            print(f"FAIL {path} part {i} {' '.join(flags) or '(default pipeline)'}: {r}")
                shutil.rmtree(work)
    print(f"roundtrip: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
