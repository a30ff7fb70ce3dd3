#!/usr/bin/env python3
"""difftest.py TIRC [--count N] [--seed S] [--keep DIR] [--gpu]

Differential testing of the optimizer: generates random TIR programs
(attention written out in the forms fuse-attention must recognize, wrapped in
random elementwise and shape ops), runs each with `tirc run -O0` (no
optimizing pass: the unfused computation) and with the full pipeline (fused
sdpa, causal proofs), on the same random inputs, and compares the outputs by
||a-b||/||b||.  It also checks that every attention template that should fuse
did fuse (an sdpa in the optimized IR), so a silently disabled pass fails.
With --gpu (on a machine with a GPU) the optimized side is compiled for the
CUDA target and runs on the GPU (generated NVRTC kernels, cuBLASLt, the
attention kernels), against the unfused program on the CPU.
Pure Python (no numpy): .npy files are read with struct."""
import argparse
import array
import math
import os
import random
import struct
import subprocess
import sys
import tempfile

TOL = {"f32": 2e-5, "f64": 1e-12}
# For whole models (--files): the fused sdpa computes in f32 where the unfused
# chain rounds every step to the storage type.
# bf16 whole models: the Llama block's fused vs unfused gap is 0.034 at T=32
# and 0.047 at B=2, T=128 on the CPU alone (the GPU's fused output is 0.004
# from the CPU's fused one, and the same model in f32 agrees to 2e-5), so
# the bf16 bound is rounding noise of eight-bit mantissas, not slack.
FILE_TOL = {"<f4": 1e-4, "<f8": 1e-10, "<f2": 1e-2, "<V2": 6e-2, "|V2": 6e-2}


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    major = data[6]
    if major == 1:
        hlen = struct.unpack("<H", data[8:10])[0]
        start = 10
    else:
        hlen = struct.unpack("<I", data[8:12])[0]
        start = 12
    header = data[start:start + hlen].decode("latin1")
    hdr = eval(header, {"__builtins__": {}}, {"True": True, "False": False})  # noqa: S307 - our own files
    body = data[start + hlen:]
    if hdr["descr"] == "<f2":
        return hdr["shape"], [v[0] for v in struct.iter_unpack("<e", body)]
    if hdr["descr"] in ("<V2", "|V2"):  # bf16: the high half of an f32
        return hdr["shape"], [struct.unpack("<f", b"\0\0" + body[i:i + 2])[0] for i in range(0, len(body), 2)]
    codes = {"<f4": "f", "<f8": "d", "<i8": "q", "<i4": "i", "|b1": "B", "|u1": "B"}
    arr = array.array(codes[hdr["descr"]])
    arr.frombytes(body)
    return hdr["shape"], list(arr)


def rel_err(a, b):
    num = sum((x - y) ** 2 for x, y in zip(a, b) if not (math.isnan(x) and math.isnan(y)))
    den = sum(y * y for y in b if not math.isnan(y))
    if any(math.isnan(x) != math.isnan(y) for x, y in zip(a, b)):
        return float("inf")
    return math.sqrt(num) / (math.sqrt(den) + 1e-30)


# ----------------------------------------------------------------- generators
# Each template returns (tir_text, dims, expect_fused_count).

def rnd_pre(r, v, shape, dt, lines, tag):
    """A few random elementwise ops on v (kept finite and well scaled)."""
    for i in range(r.randint(0, 2)):
        op = r.choice(["tanh", "sin", "cos", "sigmoid", "mulc", "addc", "neg"])
        n = f"{tag}{i}"
        if op == "mulc":
            lines.append(f"  %{n} = mul(%{v}, {r.choice([0.5, 1.5, -0.75])})")
        elif op == "addc":
            lines.append(f"  %{n} = add(%{v}, {r.choice([0.25, -1.0])})")
        else:
            lines.append(f"  %{n} = {op}(%{v})")
        v = n
    return v


def attention(r, idx):
    dt = r.choice(["f32", "f32", "f64"])
    B, H = r.randint(1, 2), r.choice([1, 2, 4])
    L = r.randint(1, 7)
    form = r.choice(["nanogpt_tril", "hf_arange", "llama_triu_gqa", "bool_mask", "padding",
                     "alibi", "cross", "kv_cache", "pre_transposed", "written_softmax",
                     "aten_bmm", "split_scale", "no_scale", "mask_then_scale", "softcap"])
    S = L
    if form in ("cross", "kv_cache", "bool_mask", "alibi", "padding", "pre_transposed"):
        S = L + r.randint(0, 4)
    E = r.randint(1, 9)
    Hk = H
    if form == "llama_triu_gqa":
        Hk = r.choice([h for h in (1, 2) if H % h == 0])
    n_rep = H // Hk
    args = [f"%q: {dt}[{B}, {H}, {L}, {E}]"]
    if form == "pre_transposed":
        args.append(f"%kt_in: {dt}[{B}, {Hk}, {E}, {S}]")
    else:
        args.append(f"%k: {dt}[{B}, {Hk}, {S}, {E}]")
    args.append(f"%v: {dt}[{B}, {Hk}, {S}, {E}]")
    lines = []
    q = rnd_pre(r, "q", None, dt, lines, "qp")
    scale = r.choice([1 / math.sqrt(E), 0.5, 0.25])
    k = "k"
    v = "v"
    if form == "llama_triu_gqa" and n_rep > 1:
        for t in ("k", "v"):
            lines += [f"  %{t}_u = unsqueeze(%{t}, dim=2)",
                      f"  %{t}_e = expand(%{t}_u, shape=[{B}, {Hk}, {n_rep}, {S}, {E}])",
                      f"  %{t}_r = reshape(%{t}_e, shape=[{B}, {H}, {S}, {E}])"]
        k, v = "k_r", "v_r"
    if form == "pre_transposed":
        kt = "kt_in"
    elif form == "split_scale":
        c = math.sqrt(scale)
        lines += [f"  %qs = mul(%{q}, {c!r})", f"  %ks = mul(%{k}, {c!r})",
                  "  %kt = transpose(%ks, dim0=-2, dim1=-1)"]
        q, kt = "qs", "kt"
    else:
        lines.append(f"  %kt = transpose(%{k}, dim0=-2, dim1=-1)")
        kt = "kt"
    if form == "aten_bmm":
        lines += [f"  %q3 = reshape(%{q}, shape=[{B * H}, {L}, {E}])",
                  f"  %k3 = reshape(%{kt}, shape=[{B * H}, {E}, {S}])",
                  "  %s3 = matmul(%q3, %k3)",
                  f"  %s = reshape(%s3, shape=[{B}, {H}, {L}, {S}])"]
    else:
        lines.append(f"  %s = matmul(%{q}, %{kt})")
    s = "s"
    if form in ("no_scale", "split_scale"):
        pass
    elif form == "mask_then_scale":
        pass
    elif r.random() < 0.5:
        lines.append(f"  %s1 = mul(%s, {scale!r})")
        s = "s1"
    else:
        lines.append(f"  %s1 = div(%s, {1 / scale!r})")
        s = "s1"
    if form == "softcap":  # Gemma 2: / C, tanh, * C, then a causal mask
        cap = r.choice([0.5, 2.0, 30.0])
        lines += [f"  %sc1 = div(%{s}, {cap!r})", "  %sc2 = tanh(%sc1)", f"  %sc3 = mul(%sc2, {cap!r})",
                  f"  %neg = full(shape=[{L}, {L}], value=-inf, dtype={dt})",
                  "  %cm = triu(%neg, diagonal=1)", "  %sm = add(%sc3, %cm)"]
        s = "sm"
    # masks
    if form == "nanogpt_tril":
        lines += [f"  %ones = full(shape=[{L}, {L}], value=1, dtype={dt})",
                  "  %tri = tril(%ones)", "  %mz = eq(%tri, 0)",
                  f"  %sm = masked_fill(%{s}, %mz, value=-inf)"]
        s = "sm"
    elif form == "hf_arange":
        lines += [f"  %pos = arange(end={L}, dtype=i64)", "  %row = unsqueeze(%pos, dim=1)",
                  "  %col = unsqueeze(%pos, dim=0)", "  %fut = gt(%col, %row)",
                  f"  %mn = full(shape=[], value={'-3.4028234663852886e+38' if dt == 'f32' else '-1e300'}, dtype={dt})",
                  f"  %zr = full(shape=[], value=0, dtype={dt})",
                  "  %mask = where(%fut, %mn, %zr)", f"  %sm = add(%{s}, %mask)"]
        s = "sm"
    elif form == "llama_triu_gqa":
        lines += [f"  %neg = full(shape=[{L}, {L}], value=-inf, dtype={dt})",
                  "  %cm = triu(%neg, diagonal=1)", f"  %sm = add(%{s}, %cm)"]
        s = "sm"
    elif form == "kv_cache":
        lines += [f"  %qpos = arange(end={S}, start={S - L}, dtype=i64)",
                  f"  %kpos = arange(end={S}, dtype=i64)", "  %r = unsqueeze(%qpos, dim=1)",
                  "  %c = unsqueeze(%kpos, dim=0)", "  %keep = le(%c, %r)",
                  f"  %sm = where(%keep, %{s}, -inf)"]
        s = "sm"
    elif form == "bool_mask":
        # a random mask, with the diagonal always kept (no fully masked row)
        args.append(f"%m: bool[{B}, 1, {L}, {S}]")
        lines += [f"  %ii = arange(end={L}, dtype=i64)", f"  %jj = arange(end={S}, dtype=i64)",
                  "  %ri = unsqueeze(%ii, dim=1)", "  %cj = unsqueeze(%jj, dim=0)",
                  "  %dg = eq(%ri, %cj)", "  %keep = logical_or(%m, %dg)",
                  f"  %sm = where(%keep, %{s}, -inf)"]
        s = "sm"
    elif form == "padding":
        args.append(f"%pad: bool[{B}, 1, 1, {S}]")
        # never mask key 0, so no row is fully masked
        lines += [f"  %jj = arange(end={S}, dtype=i64)", "  %first = eq(%jj, 0)",
                  "  %nf = logical_not(%first)", "  %pm = logical_and(%pad, %nf)",
                  f"  %sm = masked_fill(%{s}, %pm, value=-1e30)"]
        s = "sm"
    elif form in ("alibi", "mask_then_scale"):
        args.append(f"%bias: {dt}[1, {H}, {L}, {S}]")
        lines.append(f"  %sm = add(%{s}, %bias)")
        s = "sm"
        if form == "mask_then_scale":
            lines.append(f"  %sm2 = mul(%sm, {scale!r})")
            s = "sm2"
    if form == "written_softmax":
        lines += [f"  %mx = amax(%{s}, dims=[-1], keepdim=true)", f"  %t = sub(%{s}, %mx)",
                  "  %e = exp(%t)", "  %z = sum(%e, dims=[-1], keepdim=true)",
                  "  %p = div(%e, %z)"]
    else:
        lines.append(f"  %p = softmax(%{s}, dim=-1)")
    p = "p"
    if r.random() < 0.3:
        lines.append("  %pd = dropout(%p, p=0.1)")
        p = "pd"
    if form == "aten_bmm":
        lines += [f"  %p3 = reshape(%{p}, shape=[{B * H}, {L}, {S}])",
                  f"  %v3 = reshape(%{v}, shape=[{B * H}, {S}, {E}])", "  %o3 = matmul(%p3, %v3)",
                  f"  %o = reshape(%o3, shape=[{B}, {H}, {L}, {E}])"]
    else:
        lines.append(f"  %o = matmul(%{p}, %{v})")
    out = "o"
    post = r.choice(["none", "transpose_reshape", "residual"])
    rtype = f"{dt}[{B}, {H}, {L}, {E}]"
    if post == "transpose_reshape":
        lines += ["  %ot = transpose(%o, dim0=1, dim1=2)", "  %oc = contiguous(%ot)",
                  f"  %of = reshape(%oc, shape=[{B}, {L}, {H * E}])"]
        out, rtype = "of", f"{dt}[{B}, {L}, {H * E}]"
    elif post == "residual":
        lines.append("  %or = add(%o, %q)")
        out = "or"
    body = "\n".join(lines)
    text = f"// difftest {idx}: {form}\nfunc @main({', '.join(args)}) -> ({rtype}) {{\n{body}\n  return %{out}\n}}\n"
    return text, dt, 1


def sdpa_op(r, idx):
    """An explicit sdpa whose mask is built the ways the torch backend hands
    them over (simplify-sdpa's input): Hugging Face's causal AND padding as a
    bool or as where(keep, 0, finfo.min), nn.MultiheadAttention's float sum
    of a causal mask and a key-padding mask, a bias plus a causal mask, and
    repeat_kv'd K/V.  Random padding may mask whole rows: both sides are
    sdpa, whose fully masked rows are 0."""
    dt = r.choice(["f32", "f32", "f64"])
    B, H = r.randint(1, 2), r.choice([1, 2, 4])
    L = r.randint(1, 7)
    S = L + r.choice([0, 0, r.randint(0, 4)])
    E = r.randint(1, 9)
    Hk = r.choice([h for h in (1, 2, H) if H % h == 0])
    form = r.choice(["hf_bool", "hf_float", "mha", "bias", "plain"])
    args = [f"%q: {dt}[{B}, {H}, {L}, {E}]", f"%k: {dt}[{B}, {Hk}, {S}, {E}]",
            f"%v: {dt}[{B}, {Hk}, {S}, {E}]"]
    lines = []
    k, v = "k", "v"
    if Hk != H:
        n_rep = H // Hk
        for t in ("k", "v"):
            if Hk == 1 and r.random() < 0.5:
                lines.append(f"  %{t}_r = expand(%{t}, shape=[{B}, {H}, {S}, {E}])")
            else:
                lines += [f"  %{t}_u = unsqueeze(%{t}, dim=2)",
                          f"  %{t}_e = expand(%{t}_u, shape=[{B}, {Hk}, {n_rep}, {S}, {E}])",
                          f"  %{t}_r = reshape(%{t}_e, shape=[{B}, {H}, {S}, {E}])"]
        k, v = "k_r", "v_r"
    # causal index mask: query positions start at S - L (bottom-right) or 0
    start = r.choice([0, S - L])
    lines += [f"  %kidx = arange(end={S}, dtype=i64)",
              f"  %qidx = arange(start={start}, end={start + L}, dtype=i64)",
              f"  %k4 = reshape(%kidx, shape=[1, 1, 1, {S}])",
              f"  %q4 = reshape(%qidx, shape=[1, 1, {L}, 1])",
              f"  %c0 = {r.choice(['le(%k4, %q4)', 'ge(%q4, %k4)'])}"]
    if r.random() < 0.35:  # a sliding window (Mistral): kv > q - W
        lines += [f"  %qw = sub(%q4, {r.randint(1, 6)})", "  %win = gt(%k4, %qw)",
                  "  %c = logical_and(%c0, %win)"]
    else:
        lines.append("  %c = logical_and(%c0, %c0)")
    mask = None
    if form in ("hf_bool", "hf_float"):
        args.append(f"%pad: bool[{B}, 1, 1, {S}]")
        both = r.choice(["logical_and(%c, %pad)", "logical_and(%pad, %c)"])
        lines += [f"  %both = {both}", f"  %be = expand(%both, shape=[{B}, 1, {L}, {S}])"]
        mask = "be"
        if form == "hf_float":
            fill = "-3.4028234663852886e+38" if dt == "f32" else "-1.7976931348623157e+308"
            lines += [f"  %z0 = full(shape=[], value=0, dtype={dt})",
                      f"  %mn = full(shape=[], value={fill}, dtype={dt})", "  %mf = where(%be, %z0, %mn)"]
            mask = "mf"
    elif form == "mha":
        args.append(f"%kpm: bool[{B}, {S}]")
        lines += [f"  %neg = full(shape=[{L}, {S}], value=-inf, dtype={dt})",
                  f"  %cm = triu(%neg, diagonal={start + 1})",
                  f"  %z = full(shape=[{B}, {S}], value=0.0, dtype={dt})",
                  "  %pf = masked_fill(%z, %kpm, value=-inf)",
                  f"  %p4 = reshape(%pf, shape=[{B}, 1, 1, {S}])", "  %mf = add(%cm, %p4)"]
        mask = "mf"
    elif form == "bias":
        args.append(f"%bias: {dt}[1, {H}, {L}, {S}]")
        lines += [f"  %neg = full(shape=[{L}, {S}], value=-inf, dtype={dt})",
                  f"  %cm = triu(%neg, diagonal={start + 1})", "  %mf = add(%bias, %cm)"]
        mask = "mf"
    else:
        mask = "c"
    drop = r.choice(["0", "0", "0.25"])
    lines.append(f"  %o = sdpa(%q, %{k}, %{v}, %{mask}, is_causal=false, causal_align=\"top_left\", "
                 f"scale={r.choice([0.5, 0.25])}, dropout_p={drop}, enable_gqa=false)")
    body = "\n".join(lines)
    text = (f"// difftest {idx}: sdpa_op {form}\nfunc @main({', '.join(args)}) -> ({dt}[{B}, {H}, {L}, {E}]) {{\n"
            f"{body}\n  return %o\n}}\n")
    return text, dt, 1


def bloom(r, idx):
    """BLOOM's ALiBi attention: baddbmm(alibi, q, kᵀ) on [B*H, L, S], viewed
    to 4-D, then a causal mask (canonicalize sinks the view, fuse-attention
    takes the alibi as a per-key bias)."""
    dt = r.choice(["f32", "f64"])
    B, H, L, E = r.randint(1, 2), r.choice([1, 2, 4]), r.randint(1, 7), r.randint(1, 9)
    S = L
    N = B * H
    args = [f"%q: {dt}[{B}, {H}, {L}, {E}]", f"%k: {dt}[{B}, {H}, {S}, {E}]",
            f"%v: {dt}[{B}, {H}, {S}, {E}]", f"%al: {dt}[{r.choice([N, 1])}, 1, {S}]"]
    lines = [f"  %q3 = reshape(%q, shape=[{N}, {L}, {E}])", f"  %k3 = reshape(%k, shape=[{N}, {S}, {E}])",
             "  %kt = transpose(%k3, dim0=-1, dim1=-2)", "  %mm = matmul(%q3, %kt)",
             f"  %a = mul(%mm, {r.choice([0.5, 0.25])})", "  %b = add(%a, %al)",
             f"  %s = reshape(%b, shape=[{B}, {H}, {L}, {S}])",
             f"  %neg = full(shape=[{L}, {S}], value=-inf, dtype={dt})",
             "  %cm = triu(%neg, diagonal=1)", "  %sm = add(%s, %cm)",
             "  %p = softmax(%sm, dim=-1)", "  %o = matmul(%p, %v)"]
    body = "\n".join(lines)
    text = (f"// difftest {idx}: bloom\nfunc @main({', '.join(args)}) -> ({dt}[{B}, {H}, {L}, {E}]) {{\n"
            f"{body}\n  return %o\n}}\n")
    return text, dt, 1


def mlp(r, idx):
    """A GPT-2 MLP as Hugging Face's Conv1D and gelu_new write it: addmm
    (matmul by a weight + bias), a view, the tanh GELU written out (in f32,
    or in the exporter's opmath cast form for f64 inputs run through f32),
    then a second product (canonicalize raises linear and gelu(tanh) and
    moves the gelu onto the linear's epilogue)."""
    dt = r.choice(["f32", "f64"])
    B, T, K, N = r.randint(1, 3), r.randint(1, 9), r.randint(1, 24), r.randint(1, 24)
    M = B * T
    args = [f"%x: {dt}[{M}, {K}]", f"%w: {dt}[{K}, {N}]", f"%b: {dt}[{N}]", f"%w2: {dt}[{N}, {K}]"]
    lines = ["  %m = matmul(%x, %w)", "  %h = add(%b, %m)" if r.random() < 0.5 else "  %h = add(%m, %b)",
             f"  %v = reshape(%h, shape=[{B}, {T}, {N}])"]
    rs = [0.5, 0.044715, 0.7978845608028654, 1.0]
    tol = dt
    if dt == "f64" and r.random() < 0.5:  # the cast form, as the exporter writes 16-bit ops
        tol = "f32"  # the chain rounds to f32 at each scalar op
        def sc(name, src, kind, c):
            lines.extend([f"  %{name}.a = cast(%{src}, dtype=f32)", f"  %{name}.f = {kind}(%{name}.a, {c})",
                          f"  %{name} = cast(%{name}.f, dtype={dt})"])
    else:
        def sc(name, src, kind, c):
            lines.append(f"  %{name} = {kind}(%{src}, {c})")
    sc("half", "v", "mul", rs[0])
    lines.append("  %p = pow(%v, 3.0)")
    sc("c", "p", "mul", rs[1])
    lines.append("  %s = add(%v, %c)" if r.random() < 0.5 else "  %s = add(%c, %v)")
    sc("u", "s", "mul", rs[2])
    lines.append("  %t = tanh(%u)")
    sc("o", "t", "add", rs[3])
    lines += ["  %g = mul(%half, %o)" if r.random() < 0.5 else "  %g = mul(%o, %half)",
              "  %o2 = matmul(%g, %w2)"]
    body = "\n".join(lines)
    text = (f"// difftest {idx}: mlp\n// expect: linear( gelu(\nfunc @main({', '.join(args)}) -> ({dt}[{B}, {T}, {K}]) {{\n"
            f"{body}\n  return %o2\n}}\n")
    return text, tol, 0


GPU = False


def run_cmd(tirc, path, optimize):
    """tirc run for one side: -O0 on the CPU, or the full pipeline (on the GPU with --gpu)."""
    if not optimize:
        return [tirc, "run", "-O0", "--target=cpu", path, "--device=cpu"]
    if GPU:
        return [tirc, "run", "--target=cuda", path, "--device=cuda"]
    return [tirc, "run", "--target=cpu", path, "--device=cpu"]


def run(tirc, path, outdir, seed, optimize):
    cmd = run_cmd(tirc, path, optimize) + ["--random-inputs", f"--seed={seed}", "--out", outdir]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tirc")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", default=None)
    ap.add_argument("--files", nargs="*", default=[],
                    help="also compare these .tir files (symbols from --dims)")
    ap.add_argument("--dims", nargs="*", default=["B=1", "T=32"])
    ap.add_argument("--gpu", action="store_true", help="optimized side on the GPU")
    ap.add_argument("--progress", action="store_true", help="a line after every program (for runs cut short)")
    a = ap.parse_args()
    global GPU
    GPU = a.gpu
    if GPU:  # GPU GEMMs and attention sum in other orders than the CPU
        TOL["f32"] = 1e-4
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 30)
    print(f"difftest: seed {seed}, {a.count} programs")
    r = random.Random(seed)
    work = a.keep or tempfile.mkdtemp(prefix="tirc-difftest-")
    passed = failed = 0
    for i in range(a.count):
        pick = r.random()
        text, dt, want_fused = (sdpa_op if pick < 0.25 else bloom if pick < 0.32
                                else mlp if pick < 0.38 else attention)(r, i)
        path = os.path.join(work, f"p{i}.tir")
        with open(path, "w") as f:
            f.write(text)
        problems = []
        ir = subprocess.run([a.tirc, path, "--emit=ir"], capture_output=True, text=True, timeout=60)
        if ir.returncode != 0:
            problems.append(f"compile failed: {ir.stderr.strip()[:500]}")
        elif ir.stdout.count("= sdpa(") != want_fused:
            problems.append(f"expected {want_fused} sdpa after the pipeline:\n{ir.stdout}")
        else:
            for line in text.splitlines():
                if line.startswith("// expect: "):
                    problems += [f"expected {w} after the pipeline:\n{ir.stdout}"
                                 for w in line[11:].split() if w not in ir.stdout]
        d0, d1 = os.path.join(work, f"p{i}.ref"), os.path.join(work, f"p{i}.opt")
        ins_seed = r.randrange(1 << 30)
        r0 = run(a.tirc, path, d0, ins_seed, False)
        r1 = run(a.tirc, path, d1, ins_seed, True)
        if r0.returncode or r1.returncode:
            problems.append(f"run failed: -O0 exit {r0.returncode} {r0.stderr.strip()[:300]} | "
                            f"-O1 exit {r1.returncode} {r1.stderr.strip()[:300]}")
        else:
            s0, v0 = read_npy(os.path.join(d0, "out0.npy"))
            s1, v1 = read_npy(os.path.join(d1, "out0.npy"))
            err = rel_err(v1, v0)
            if s0 != s1 or not err <= TOL[dt]:
                problems.append(f"outputs differ: shapes {s0} vs {s1}, rel err {err:.3g} > {TOL[dt]}")
        if problems:
            failed += 1
            print(f"FAIL {path} (inputs seed {ins_seed}):\n  " + "\n  ".join(problems) + "\n" + text)
        else:
            passed += 1
        if a.progress:
            print(f"progress: {passed} passed, {failed} failed", flush=True)
    for path in a.files:
        outs = []
        for opt, tag in ((False, "ref"), (True, "opt")):
            d = os.path.join(work, os.path.basename(path) + "." + tag)
            cmd = run_cmd(a.tirc, path, opt) + ["--random-inputs", "--seed=7", "--out", d]
            cmd += [x for dim in a.dims for x in ("--dim", dim)]
            r0 = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            outs.append((r0, d))
        (ra, da), (rb, db) = outs
        if ra.returncode or rb.returncode:
            failed += 1
            print(f"FAIL {path}: {ra.stderr.strip()[:300]} | {rb.stderr.strip()[:300]}")
            continue
        with open(os.path.join(da, "out0.npy"), "rb") as f:
            descr = f.read(200).split(b"'descr': '")[1].split(b"'")[0].decode()
        s0, v0 = read_npy(os.path.join(da, "out0.npy"))
        s1, v1 = read_npy(os.path.join(db, "out0.npy"))
        err = rel_err(v1, v0)
        ok = s0 == s1 and err <= FILE_TOL[descr]
        print(f"{'ok  ' if ok else 'FAIL'} {path}: fused vs unfused rel err {err:.3g} ({descr}, bound {FILE_TOL[descr]})")
        passed += ok
        failed += not ok
    print(f"difftest: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
