#!/usr/bin/env python3
"""gpu_programs.py TIRC [--seed S] [--keep DIR] [--list] [--arch=sm_XY]

The executor-level GPU test: small TIR programs covering every op of the
spec through the whole CUDA path (the runtime's dispatch, broadcasting and
views, cuBLASLt layouts, generated kernels, the attention kernels), each run
with `tirc run --target=cuda --device=cuda` and with `--target=cpu
--device=cpu` on the same random inputs (--random-inputs --seed), compared
by ||gpu - cpu|| / ||cpu|| with a per-dtype bound (exact for integers, bools
and dropout masks).  Needs a GPU; pure Python (reads .npy with struct).
--arch compiles the generated kernels for another GPU generation than the
one present: with --arch=sm_80 on a Hopper GPU the sm_80 cubins cannot load
and the embedded PTX is JIT-compiled, which checks that fallback.
Prints one line per program and a summary; exit 1 on any failure."""
import argparse
import math
import os
import struct
import subprocess
import sys
import tempfile

BOUND = {"f64": 1e-12, "f32": 1e-5, "f16": 2e-3, "bf16": 1.5e-2}


def P(name, dt, sig, ret, body, bound=None):
    return dict(name=name, dt=dt, text=f"func @main({sig}) -> ({ret}) {{\n{body}\n}}\n",
                bound=bound)


def programs():
    out = []
    for dt in ("f32", "f16", "bf16", "f64"):
        out.append(P(f"unary_chain_{dt}", dt, f"%x: {dt}[7, 33, 5]", f"{dt}[7, 33, 5]",
                     "  %a = gelu(%x)\n  %b = tanh(%a)\n  %c = mul(%b, 3.0)\n  %d = exp(%c)\n"
                     "  %e = sigmoid(%d)\n  %f = silu(%e)\n  %g = erf(%f)\n  %h = sin(%g)\n"
                     "  %i = gelu(%h, approximate=\"tanh\")\n  %j = relu(%i)\n  %k = add(%j, %x)\n"
                     "  return %k"))
        out.append(P(f"binary_bcast_{dt}", dt, f"%a: {dt}[4, 1, 65], %b: {dt}[3, 65]",
                     f"{dt}[4, 3, 65], bool[4, 3, 65], {dt}[4, 3, 65]",
                     "  %s = sub(%a, %b)\n  %d = div(%s, %b)\n  %m = maximum(%d, %a)\n"
                     "  %c = lt(%a, %b)\n  %w = where(%c, %m, %b)\n  %f = masked_fill(%w, %c, value=-1e4)\n"
                     "  return %m, %c, %f"))
        out.append(P(f"reduce_{dt}", dt, f"%x: {dt}[6, 17, 129]",
                     f"{dt}[6, 129], {dt}[6, 17, 1], {dt}[17], {dt}[6, 17, 129]",
                     "  %a = sum(%x, dims=[1], keepdim=false)\n  %b = amax(%x, dims=[-1], keepdim=true)\n"
                     "  %c = mean(%x, dims=[0, 2])\n  %d = sub(%x, %b)\n  return %a, %b, %c, %d"))
        out.append(P(f"softmax_norms_{dt}", dt, f"%x: {dt}[5, 9, 200], %w: {dt}[200], %b: {dt}[200]",
                     f"{dt}[5, 9, 200], {dt}[5, 9, 200], {dt}[5, 9, 200], {dt}[5, 9, 200], {dt}[5, 9, 200]",
                     "  %s = softmax(%x, dim=-1)\n  %t = softmax(%x, dim=1)\n  %l = log_softmax(%x, dim=-1)\n"
                     "  %n = layer_norm(%x, %w, %b, eps=1e-5)\n  %r = rms_norm(%x, %w, eps=1e-6)\n"
                     "  return %s, %t, %l, %n, %r"))
        out.append(P(f"matmul_layouts_{dt}", dt,
                     f"%a: {dt}[2, 3, 37, 20], %b: {dt}[2, 3, 20, 45], %c: {dt}[20, 45], %k: {dt}[2, 3, 45, 20]",
                     f"{dt}[2, 3, 37, 45], {dt}[2, 3, 37, 45], {dt}[2, 3, 37, 45], {dt}[2, 3, 20, 20], {dt}[3, 2, 37, 45]",
                     "  %x = matmul(%a, %b)\n  %y = matmul(%a, %c)\n  %kt = transpose(%k, dim0=-2, dim1=-1)\n"
                     "  %z = matmul(%a, %kt)\n  %at = transpose(%a, dim0=-2, dim1=-1)\n  %w = matmul(%at, %a)\n"
                     "  %ap = permute(%a, dims=[1, 0, 2, 3])\n  %bp = permute(%b, dims=[1, 0, 2, 3])\n"
                     "  %v = matmul(%ap, %bp)\n  return %x, %y, %z, %w, %v"))
        # operands at odd element offsets and row strides (slices): not
        # 16-byte aligned; cuBLASLt must get the true alignment.
        out.append(P(f"matmul_misaligned_{dt}", dt, f"%a: {dt}[2, 37, 21], %b: {dt}[21, 33]",
                     f"{dt}[2, 37, 33], {dt}[2, 36, 33]",
                     "  %s = slice(%a, dim=2, start=1, end=21)\n  %t = slice(%b, dim=0, start=1, end=21)\n"
                     "  %x = matmul(%s, %t)\n  %u = slice(%a, dim=1, start=1, end=37)\n"
                     "  %y = matmul(%u, %b)\n  return %x, %y"))
        out.append(P(f"linear_{dt}", dt, f"%x: {dt}[3, 50, 96], %w: {dt}[130, 96], %b: {dt}[130]",
                     f"{dt}[3, 50, 130], {dt}[3, 50, 130]",
                     "  %y = linear(%x, %w, %b)\n  %z = linear(%x, %w)\n  return %y, %z"))
        # large products whose output rows are not 16-byte multiples apart (a
        # 50257-word vocabulary): computed with padded rows, then copied out.
        if dt in ("f32", "bf16"):
            out.append(P(f"gemm_padded_rows_{dt}", dt,
                         f"%x: {dt}[2, 512, 1024], %w: {dt}[1027, 1024], %b: {dt}[1027], %a: {dt}[4, 256, 1024], %m: {dt}[1024, 1031]",
                         f"{dt}[2, 512, 1027], {dt}[4, 256, 1031]",
                         "  %y = linear(%x, %w, %b)\n  %z = matmul(%a, %m)\n  return %y, %z"))
        # linear + relu / gelu(tanh) run as one cuBLASLt call with an epilogue;
        # gelu(erf) and a linear read twice must not.
        out.append(P(f"linear_act_{dt}", dt, f"%x: {dt}[70, 96], %w: {dt}[130, 96], %b: {dt}[130]",
                     f"{dt}[70, 130], {dt}[70, 130], {dt}[70, 130], {dt}[70, 130], {dt}[70, 130]",
                     "  %y = linear(%x, %w, %b)\n  %g = gelu(%y, approximate=\"tanh\")\n"
                     "  %z = linear(%x, %w)\n  %r = relu(%z)\n  %u = linear(%x, %w, %b)\n  %e = gelu(%u)\n"
                     "  %t = linear(%x, %w, %b)\n  %a = relu(%t)\n  return %g, %r, %e, %a, %t"))
        out.append(P(f"views_{dt}", dt, f"%x: {dt}[4, 6, 10]", f"{dt}[6, 4, 5], {dt}[2, 4, 6, 10], {dt}[24, 10], {dt}[4, 12, 10]",
                     "  %p = permute(%x, dims=[1, 0, 2])\n  %s = slice(%p, dim=2, start=1, end=10, step=2)\n"
                     "  %n = neg(%s)\n  %u = unsqueeze(%x, dim=0)\n  %e = expand(%u, shape=[2, 4, 6, 10])\n"
                     "  %a = abs(%e)\n  %t = transpose(%x, dim0=0, dim1=1)\n  %r = reshape(%t, shape=[24, 10])\n"
                     "  %c = concat(%x, %x, dim=1)\n  return %n, %a, %r, %c"))
        if dt in ("f32", "bf16", "f16"):
            for e, cz in ((64, False), (40, True), (128, False)):
                out.append(P(f"sdpa_me_{dt}_d{e}{'_causal' if cz else ''}", dt,
                             f"%q: {dt}[2, 4, 77, {e}], %k: {dt}[2, 4, 93, {e}], %v: {dt}[2, 4, 93, {e}]",
                             f"{dt}[2, 4, 77, {e}]",
                             f"  %o = sdpa(%q, %k, %v, is_causal={'true' if cz else 'false'}, causal_align=\"bottom_right\", kernel=\"mem_efficient\")\n  return %o"))
            out.append(P(f"sdpa_gqa_mask_{dt}", dt,
                         f"%q: {dt}[2, 8, 33, 64], %k: {dt}[2, 2, 50, 64], %v: {dt}[2, 2, 50, 64], %m: bool[33, 50]",
                         f"{dt}[2, 8, 33, 64], {dt}[2, 8, 33, 64]",
                         "  %o = sdpa(%q, %k, %v, %m, enable_gqa=true, kernel=\"mem_efficient\")\n"
                         "  %p = sdpa(%q, %k, %v, %m, enable_gqa=true, kernel=\"math\")\n  return %o, %p"))
        out.append(P(f"sdpa_math_{dt}", dt,
                     f"%q: {dt}[2, 3, 21, 12], %k: {dt}[2, 3, 30, 12], %v: {dt}[2, 3, 30, 20], %m: {dt}[3, 21, 30]",
                     f"{dt}[2, 3, 21, 20]",
                     "  %o = sdpa(%q, %k, %v, %m, kernel=\"math\")\n  return %o"))
    for dt in ("i32", "i64", "i8", "u8"):
        out.append(P(f"int_ops_{dt}", dt, f"%a: {dt}[5, 31], %b: {dt}[31]", f"{dt}[5, 31], {dt}[5, 31], bool[5, 31], i64[5], {dt}[5, 5]",
                     "  %s = add(%a, %b)\n  %m = mul(%s, %a)\n  %c = ge(%a, %b)\n  %r = sum(%a, dims=[1])\n"
                     "  %at = transpose(%a, dim0=0, dim1=1)\n  %mm = matmul(%a, %at)\n  return %s, %m, %c, %r, %mm"))
    out.append(P("linear_edges", "f32", "%x: f32[4, 8], %w: f32[16, 8], %b1: f32[1], %v: f32[8], %z: f32[3, 0], %wz: f32[5, 0], %bz: f32[5]",
                 "f32[4, 16], f32[16], f32[3, 5], f32[3, 5]",
                 "  %a = linear(%x, %w, %b1)\n  %c = linear(%v, %w)\n  %d = linear(%z, %wz, %bz)\n"
                 "  %e = gelu(%d, approximate=\"tanh\")\n  return %a, %c, %d, %e"))
    out.append(P("casts", "f32", "%x: f32[300]", "i32[300], bf16[300], f16[300], bool[300], i8[300], u8[300], f64[300]",
                 "  %y = mul(%x, 300.0)\n  %a = cast(%y, dtype=i32)\n  %b = cast(%y, dtype=bf16)\n"
                 "  %c = cast(%y, dtype=f16)\n  %d = cast(%x, dtype=bool)\n  %e = cast(%y, dtype=i8)\n"
                 "  %f = cast(%y, dtype=u8)\n  %g = cast(%y, dtype=f64)\n  return %a, %b, %c, %d, %e, %f, %g"))
    out.append(P("sources", "f32", "%x: f32[40, 40]", "i64[37], f32[3, 5], f32[40, 40], f32[40, 40], bool[40, 40]",
                 "  %a = arange(start=3, end=114, step=3, dtype=i64)\n  %f = full(shape=[3, 5], value=2.5, dtype=f32)\n"
                 "  %l = tril(%x, diagonal=-1)\n  %u = triu(%x, diagonal=2)\n  %i = arange(end=40, dtype=i64)\n"
                 "  %r = unsqueeze(%i, dim=1)\n  %c = unsqueeze(%i, dim=0)\n  %m = le(%c, %r)\n  return %a, %f, %l, %u, %m"))
    out.append(P("embedding", "f32", "%w: f32[16, 24], %i: i64[3, 7]", "f32[3, 7, 24]",
                 "  %e = embedding(%w, %i)\n  return %e"))
    out.append(P("dropout", "f32", "%x: f32[9, 1000]", "f32[9, 1000], f32[9, 1000]",
                 "  %d = dropout(%x, p=0.3, training=true)\n  %e = dropout(%d, p=0.5, training=true)\n  return %d, %e"))
    out.append(P("sdpa_dropout", "f32", "%q: f32[1, 2, 16, 32], %k: f32[1, 2, 24, 32], %v: f32[1, 2, 24, 32]",
                 "f32[1, 2, 16, 32], f32[1, 2, 16, 32]",
                 "  %o = sdpa(%q, %k, %v, dropout_p=0.2, kernel=\"mem_efficient\")\n"
                 "  %p = sdpa(%q, %k, %v, dropout_p=0.2, kernel=\"math\")\n  return %o, %p"))
    # paged KV cache (random i32 inputs are in [0, 16): 16 pages, lengths < 20 keys)
    for dt in ("f16", "bf16", "f32"):
        out.append(P(f"paged_sdpa_{dt}", dt,
                     f"%q: {dt}[3, 8, 2, 64], %k: {dt}[16, 2, 4, 64], %v: {dt}[16, 2, 4, 64], "
                     "%bt: i32[3, 5], %n: i32[3]", f"{dt}[3, 8, 2, 64], {dt}[3, 8, 2, 64]",
                     "  %o = paged_sdpa(%q, %k, %v, %bt, %n, is_causal=true, enable_gqa=true)\n"
                     "  %w = paged_sdpa(%q, %k, %v, %bt, %n, enable_gqa=true, window=3, softcap=2.0)\n"
                     "  return %o, %w"))
    return out


def read_npy(path):
    data = open(path, "rb").read()
    major = data[6]
    hlen = struct.unpack("<H", data[8:10])[0] if major == 1 else struct.unpack("<I", data[8:12])[0]
    start = 10 if major == 1 else 12
    hdr = eval(data[start:start + hlen].decode("latin1"), {"__builtins__": {}}, {"True": True, "False": False})
    body = data[start + hlen:]
    d = hdr["descr"]
    if d in ("<V2", "|V2"):  # bf16
        vals = [struct.unpack("<f", b"\0\0" + body[i:i + 2])[0] for i in range(0, len(body), 2)]
    else:
        fmt = {"<f2": "e", "<f4": "f", "<f8": "d", "|b1": "?", "|i1": "b", "|u1": "B",
               "<i2": "h", "<i4": "i", "<i8": "q"}[d]
        vals = list(struct.unpack("<" + fmt * (len(body) // struct.calcsize(fmt)), body))
    return d, hdr["shape"], [float(v) for v in vals]


def compare(d, a, b, bound):
    if d in ("|b1", "|i1", "|u1", "<i2", "<i4", "<i8"):
        return 0.0 if a == b else float("inf")
    num = den = 0.0
    for x, y in zip(a, b):
        if math.isnan(x) or math.isnan(y):
            if not (math.isnan(x) and math.isnan(y)):
                return float("inf")
            continue
        if math.isinf(x) or math.isinf(y):
            if x != y:
                return float("inf")
            continue
        num += (x - y) ** 2
        den += y * y
    return math.sqrt(num) / (math.sqrt(den) or 1.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tirc")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--arch", default=None)
    a = ap.parse_args()
    progs = programs()
    if a.list:
        for p in progs:
            print(p["name"])
        return 0
    work = a.keep or tempfile.mkdtemp(prefix="tirc-gpuprog-")
    probe = os.path.join(work, "probe.tir")
    open(probe, "w").write("func @main(%x: f32[2]) -> (f32[2]) {\n  %y = neg(%x)\n  return %y\n}\n")
    r = subprocess.run([a.tirc, "run", "--target=cpu", probe, "--device=cuda", "--random-inputs"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode == 2 and "--device=cpu" in r.stderr:
        print("gpu_programs: no usable GPU here, skipped:", r.stderr.strip())
        return 77
    passed = failed = 0
    for p in progs:
        path = os.path.join(work, p["name"] + ".tir")
        open(path, "w").write(p["text"])
        outs = {}
        errs = []
        for side in ("cpu", "cuda"):
            d = os.path.join(work, p["name"] + "." + side)
            arch = [f"--arch={a.arch}"] if a.arch and side == "cuda" else []
            r = subprocess.run([a.tirc, "run", f"--target={side}"] + arch + [path, f"--device={side}",
                                "--random-inputs", f"--seed={a.seed}", "--out", d],
                               capture_output=True, text=True, timeout=300)
            if r.returncode:
                errs.append(f"{side}: exit {r.returncode}: {r.stderr.strip()[:400]}")
            outs[side] = d
        worst = 0.0
        if not errs:
            j = 0
            while os.path.exists(os.path.join(outs["cpu"], f"out{j}.npy")):
                dc, sc, vc = read_npy(os.path.join(outs["cpu"], f"out{j}.npy"))
                dg, sg, vg = read_npy(os.path.join(outs["cuda"], f"out{j}.npy"))
                bound = p["bound"] or BOUND.get(p["dt"], 1e-5)
                if dc in ("<f4",) and p["dt"] != "f32":
                    bound = max(bound, BOUND.get(p["dt"], 1e-5))
                err = compare(dc, vg, vc, bound) if (dc, sc) == (dg, sg) else float("inf")
                worst = max(worst, err)
                if not err <= bound:
                    errs.append(f"out{j} ({dc} {sc}): rel err {err:.3g} > {bound}")
                j += 1
        ok = not errs
        passed += ok
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {p['name']:<32} worst rel err {worst:.2e}" +
              ("" if ok else "\n  " + "\n  ".join(errs)), flush=True)
    print(f"gpu_programs: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
