#!/usr/bin/env python3
"""run_judge.py JUDGE (--corpus DIR... | --random N [--seed S]) [--keep DIR]

Feeds .tir programs to tir-judge, which checks every claim of the causal
prover (top-left, bottom-right, "keeps everything") against the mask
evaluated element by element.

--corpus: every .tir file under the given directories.  lit files are split
  the way lit runs them (`//--- NAME` sections of split-file, `// -----`
  cases), and their `%python` RUN lines (make_bias.py, make_mask.py) are run
  first so const(file=...) inputs exist.
--random N: N programs from gen_masks.py (random mask-building programs:
  iota compares in every order and dtype, tril/triu with diagonals -2..2,
  where/masked_fill/additive forms, finite and infinite fills, later scales,
  broadcasts, expands, transposes, slices, const buffers with one element
  flipped).  Also requires that the prover made claims at all (a prover that
  proves nothing would pass vacuously) and that few programs were invalid.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_masks  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def split_lit(path, out_dir):
    """Writes the cases of one lit file into out_dir; returns their paths."""
    text = open(path).read()
    tmp = os.path.join(out_dir, re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.relpath(path, ROOT)))
    os.makedirs(tmp, exist_ok=True)
    for line in text.splitlines():
        m = re.match(r"\s*//\s*RUN:\s*(%python\s.*)$", line)
        if m:
            cmd = m.group(1).split("|")[0]
            cmd = (cmd.replace("%python", sys.executable).replace("%S", os.path.dirname(path))
                   .replace("%t", tmp).replace("%s", path))
            subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files = []
    if "//--- " in text:
        parts = re.split(r"^//--- (\S+)\n", text, flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2]):
            if name.endswith(".tir"):
                p = os.path.join(tmp, name)
                open(p, "w").write(body)
                files.append(p)
        return files
    for k, body in enumerate(re.split(r"^// -----\s*$", text, flags=re.M)):
        p = os.path.join(tmp, "case%d.tir" % k)
        open(p, "w").write(body)
        files.append(p)
    return files


def corpus_files(dirs, out_dir):
    files = []
    for d in dirs:
        for root, _, names in os.walk(d):
            if "Output" in root.split(os.sep):
                continue
            for n in sorted(names):
                if not n.endswith(".tir"):
                    continue
                path = os.path.join(root, n)
                if os.sep + "lit" + os.sep in path:
                    files += split_lit(path, out_dir)
                else:  # an example: its const files are made next to a copy
                    dst = os.path.join(out_dir, "ex_" + n)
                    open(dst, "w").write(open(path).read())
                    if "gpt2_bias.safetensors" in open(path).read():
                        subprocess.run([sys.executable, os.path.join(ROOT, "examples", "make_bias.py"),
                                        os.path.join(out_dir, "gpt2_bias.safetensors"), "1024"],
                                       stdout=subprocess.DEVNULL)
                    files.append(dst)
    return files


def run(judge, files):
    totals = [0] * 7
    ok = True
    for i in range(0, len(files), 400):
        r = subprocess.run([judge, "-q"] + files[i:i + 400], capture_output=True, text=True)
        sys.stderr.write(r.stderr)
        m = re.search(r"judge: (\d+) files \((\d+) skipped\), (\d+) claims: (\d+) checked over (\d+) trials, "
                      r"(\d+) unchecked, (\d+) false", r.stdout)
        if not m:
            print(r.stdout)
            return None, False
        totals = [a + int(b) for a, b in zip(totals, m.groups())]
        ok = ok and r.returncode == 0
    return totals, ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("judge")
    ap.add_argument("--corpus", nargs="+")
    ap.add_argument("--random", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = a.keep or tmp
        os.makedirs(out, exist_ok=True)
        if a.corpus:
            files = corpus_files(a.corpus, out)
        else:
            files = gen_masks.write_programs(out, a.random, a.seed)
        totals, ok = run(a.judge, files)
        if totals is None:
            return 1
        n, skipped, claims, checked, trials, unchecked, false = totals
        print("run_judge: %d programs (%d skipped as invalid), %d claims, %d checked over %d trials, "
              "%d unchecked, %d false" % (n, skipped, claims, checked, trials, unchecked, false))
        if a.random:
            # The generator must stay useful: mostly valid programs, many claims.
            if skipped > 0.1 * len(files):
                print("run_judge: too many invalid generated programs (generator bug)")
                ok = False
            if claims < 0.05 * len(files) or checked < 0.9 * claims:
                print("run_judge: too few checked claims (prover or judge broken?)")
                ok = False
        print("%d passed, %d failed" % (checked - false, false))
        return 0 if ok and false == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
