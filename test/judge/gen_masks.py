#!/usr/bin/env python3
"""gen_masks.py — random attention programs whose masks are built the many
ways real code (and adversarial code) builds them, for tir-judge.

Each program computes softmax(scale * q @ kᵀ with a mask) @ v over scores of
shape [1, 2, L, S], with L and S independent symbols, one symbol, S = P + L,
or constants (L < S, L > S, L = 1).  The mask is one of:
  - an index comparison: arange rows and columns in every dtype (i64 ... u8,
    f32, f16, bf16), with offsets (0, S - L, P, small constants, 124 in i8),
    shaped by unsqueeze or reshape to 2-D or 4-D, compared with lt/le/gt/ge
    (eq/ne now and then) in either order, sometimes built on an axis of size
    1 and broadcast or expanded, sometimes transposed;
  - tril/triu (diagonal -2..2) of ones, of a fill value, of bool, or of a
    literal constant with one element flipped, sometimes sliced to one row;
and is applied as where/masked_fill (bool, negated or not), as an additive
mask from where(cond, 0, fill), masked_fill(zeros, ...), a 0/1 float times a
fill, or (1 - ones) * fill, with fills -inf, -1e30, finfo(f32).min, -1e4,
0.5, and sometimes a later scale (0.5, 2, 1e-30) that the prover must see.
Python only, no numpy.
"""
import os
import random
import sys

FLOAT_MIN = "-3.4028234663852886e+38"
FILLS = ["-inf", "-inf", "-inf", "-1e+30", FLOAT_MIN, FLOAT_MIN, "-10000", "0.5", "-1e+38"]
IDX_DT = ["i64"] * 8 + ["i32", "i16", "i8", "u8", "f32", "f16", "bf16"]


class Prog:
    def __init__(self, rng):
        self.rng = rng
        self.lines = []
        self.n = 0

    def op(self, text):
        self.n += 1
        name = "%%m%d" % self.n
        self.lines.append("  %s = %s" % (name, text))
        return name


def shapes(rng):
    kind = rng.choice(["sym", "same", "past", "const", "const", "decode"])
    if kind == "sym":
        return "L", "S", "S-L"
    if kind == "same":
        return "T", "T", "0"
    if kind == "past":
        return "L", "P+L", "P"
    if kind == "decode":
        return "1", "S", "S-1"
    l, s = rng.choice([(4, 4), (3, 5), (5, 3), (1, 4), (4, 1), (1, 1), (6, 6), (2, 6)])
    return str(l), str(s), str(s - l)


def index_mask(p, L, S, off):
    """A bool [.., L, S] mask from two aranges (or a broken variant)."""
    rng = p.rng
    dt = rng.choice(IDX_DT)
    rstart = rng.choice(["0", "0", "0", off, off, off, "1", "2"])
    cstart = rng.choice(["0"] * 5 + ["1"])
    one_row = rng.random() < 0.08
    if one_row:
        rows = p.op("arange(end=1, dtype=%s)" % dt)
    else:
        rows = p.op("arange(end=%s+%s, start=%s, dtype=%s)" % (L, rstart, rstart, dt)) if rstart != "0" \
            else p.op("arange(end=%s, dtype=%s)" % (L, dt))
    cols = p.op("arange(end=%s+%s, start=%s, dtype=%s)" % (S, cstart, cstart, dt)) if cstart != "0" \
        else p.op("arange(end=%s, dtype=%s)" % (S, dt))
    if rng.random() < 0.15:
        adds = {"u8": ["1", "2", "124"], "i8": ["1", "-1", "2", "124"]}.get(dt, ["1", "-1", "2", "124", "300"])
        rows = p.op("add(%s, %s)" % (rows, rng.choice(adds)))
    if rng.random() < 0.1:
        to = rng.choice(["bf16", "f16", "i8", "f32", "i64"])
        rows = p.op("cast(%s, dtype=%s)" % (rows, to))
        cols = p.op("cast(%s, dtype=%s)" % (cols, to))
    four = rng.random() < 0.4
    rl = "1" if one_row else L
    if four:
        rows = p.op("reshape(%s, shape=[1, 1, %s, 1])" % (rows, rl))
        cols = p.op("reshape(%s, shape=[1, 1, 1, %s])" % (cols, S))
    else:
        rows = p.op(rng.choice(["unsqueeze(%s, dim=1)" % rows, "reshape(%s, shape=[%s, 1])" % (rows, rl)]))
        if rng.random() < 0.7:
            cols = p.op(rng.choice(["unsqueeze(%s, dim=0)" % cols, "reshape(%s, shape=[1, %s])" % (cols, S)]))
    cmp = rng.choice(["le", "le", "lt", "ge", "gt", "le", "le", "ge", "eq", "ne"])
    a, b = (cols, rows) if rng.random() < 0.5 else (rows, cols)
    m = p.op("%s(%s, %s)" % (cmp, a, b))
    if one_row and rng.random() < 0.5:
        m = p.op("expand(%s, shape=[%s%s, %s])" % (m, "1, 1, " if four else "", L, S))
    if four and rng.random() < 0.3:
        m = p.op("expand(%s, shape=[1, 2, %s, %s])" % (m, L, S))
    return m, "bool"


def transposed_mask(p, L, S, off):
    """Built over [S, L] (key index as rows), then transposed."""
    rng = p.rng
    k = p.op("arange(end=%s, dtype=i64)" % S)
    q = p.op("arange(end=%s+%s, start=%s, dtype=i64)" % (L, off, off)) if off != "0" and rng.random() < 0.5 \
        else p.op("arange(end=%s, dtype=i64)" % L)
    kr = p.op("unsqueeze(%s, dim=1)" % k)
    qc = p.op("unsqueeze(%s, dim=0)" % q)
    m = p.op("%s(%s, %s)" % (rng.choice(["le", "lt", "ge"]), kr, qc))
    return p.op("transpose(%s, dim0=0, dim1=1)" % m), "bool"


def literal(rows, cols, diag, lower, flip, rng):
    vals = []
    for i in range(rows):
        row = []
        for j in range(cols):
            keep = (j - i <= diag) if lower else (j - i >= diag)
            row.append(1 if keep else 0)
        vals.append(row)
    if flip and rows and cols:
        i, j = rng.randrange(rows), rng.randrange(cols)
        vals[i][j] ^= 1
    return "[" + ", ".join("[" + ", ".join(str(v) for v in r) + "]" for r in vals) + "]"


def tri_mask(p, L, S, off, const_dims):
    rng = p.rng
    diag = rng.choice([0, 0, 0, -1, 1, -2, 2])
    fn = rng.choice(["tril", "tril", "tril", "triu"])
    base_kind = rng.choice(["ones_f", "ones_b", "fill", "lit"] if const_dims else ["ones_f", "ones_b", "fill"])
    if base_kind == "lit":
        flip = rng.random() < 0.3
        dt = rng.choice(["bool", "f32"])
        t = p.op("const(%s) : %s[%s, %s]" % (literal(int(L), int(S), diag, fn == "tril", flip, rng), dt, L, S))
        kind = "bool" if dt == "bool" else "f01"
    elif base_kind == "ones_b":
        t = p.op("full(shape=[%s, %s], value=true, dtype=bool)" % (L, S))
        t = p.op("%s(%s, diagonal=%d)" % (fn, t, diag))
        kind = "bool"
    elif base_kind == "ones_f":
        dt = rng.choice(["f32", "f32", "f16", "i64"])
        t = p.op("full(shape=[%s, %s], value=1, dtype=%s)" % (L, S, dt))
        t = p.op("%s(%s, diagonal=%d)" % (fn, t, diag))
        if dt != "f32":
            t = p.op("cast(%s, dtype=f32)" % t)
        kind = "f01"
    else:
        fill = rng.choice(FILLS)
        t = p.op("full(shape=[%s, %s], value=%s, dtype=f32)" % (L, S, fill))
        t = p.op("%s(%s, diagonal=%d)" % (fn, t, diag))
        kind = "fmask_inv"  # fill inside the triangle, 0 outside
    if rng.random() < 0.1:
        t = p.op("slice(%s, dim=0, start=0, end=1)" % t)
        t = p.op("expand(%s, shape=[%s, %s])" % (t, L, S))
    return t, kind


def build(seed):
    rng = random.Random(seed)
    p = Prog(rng)
    L, S, off = shapes(rng)
    const_dims = L.isdigit() and S.isdigit()
    r = rng.random()
    if r < 0.55:
        m, kind = index_mask(p, L, S, off)
    elif r < 0.65:
        m, kind = transposed_mask(p, L, S, off)
    else:
        m, kind = tri_mask(p, L, S, off, const_dims)
    fill = rng.choice(FILLS)
    head = ("func @main(%%q: f32[1, 2, %s, 4], %%k: f32[1, 2, %s, 4], %%v: f32[1, 2, %s, 4]) -> (f32[1, 2, %s, 4]) {"
            % (L, S, S, L))
    if kind == "bool" and rng.random() < 0.3:
        # An explicit sdpa over the mask (simplify-sdpa's input; its window
        # claims too), bool or as where(m, 0, fill).
        mm = m if rng.random() < 0.5 else p.op("where(%s, 0.0, %s)" % (m, fill))
        body = ["  %%o = sdpa(%%q, %%k, %%v, %s, is_causal=false, causal_align=\"top_left\", scale=0.5, "
                "dropout_p=0, enable_gqa=false)" % mm, "  return %o"]
        return "\n".join(["// gen_masks seed %d (sdpa)" % seed, head] + p.lines + body + ["}", ""])
    s = "%s1"
    scores = ["  %s = transpose(%k, dim0=-2, dim1=-1)",
              "  %s0 = matmul(%q, %s)",
              "  %s1 = mul(%s0, 0.5)"]
    body = []
    if kind == "bool":
        form = rng.choice(["where", "where_neg", "masked_fill", "mf_not", "add_where", "add_where_neg",
                           "add_mf", "add_mul", "add_1m"])
        if form == "where":
            s = "where(%s, %%s1, %s)" % (m, fill)
        elif form == "where_neg":
            s = "where(%s, %s, %%s1)" % (m, fill)
        elif form == "masked_fill":
            s = "masked_fill(%%s1, %s, value=%s)" % (m, fill)
        elif form == "mf_not":
            n = p.op("logical_not(%s)" % m)
            s = "masked_fill(%%s1, %s, value=%s)" % (n, fill)
        else:
            if form == "add_where":
                a = p.op("where(%s, 0.0, %s)" % (m, fill))
            elif form == "add_where_neg":
                a = p.op("where(%s, %s, 0.0)" % (m, fill))
            elif form == "add_mf":
                z = p.op("full(shape=[1, 2, %s, %s], value=0, dtype=f32)" % (L, S))
                a = p.op("masked_fill(%s, %s, value=%s)" % (z, m, fill))
            else:
                f = p.op("cast(%s, dtype=f32)" % m)
                if form == "add_1m":
                    f = p.op("sub(1.0, %s)" % f)
                a = p.op("mul(%s, %s)" % (f, fill))
            s = "add(%%s1, %s)" % a
    elif kind == "f01":
        form = rng.choice(["ne0", "eq1", "mul", "1m"])
        if form == "ne0":
            c = p.op("ne(%s, 0.0)" % m)
            s = "where(%s, %%s1, %s)" % (c, fill)
        elif form == "eq1":
            c = p.op("eq(%s, 1.0)" % m)
            s = "masked_fill(%%s1, %s, value=%s)" % (c, fill)
        elif form == "mul":
            a = p.op("mul(%s, %s)" % (m, fill))
            s = "add(%%s1, %s)" % a
        else:
            a = p.op("sub(1.0, %s)" % m)
            a = p.op("mul(%s, %s)" % (a, fill))
            s = "add(%%s1, %s)" % a
    else:  # fmask_inv: fill inside the kept triangle
        s = "add(%%s1, %s)" % m
    body.append("  %%s2 = %s" % s)
    last = "%s2"
    if rng.random() < 0.3:
        body.append("  %%s3 = mul(%%s2, %s)" % rng.choice(["0.5", "2", "1e-30", "1e-09"]))
        last = "%s3"
    body.append("  %%p = softmax(%s, dim=-1)" % last)
    body.append("  %o = matmul(%p, %v)")
    body.append("  return %o")
    return "\n".join(["// gen_masks seed %d" % seed, head] + p.lines + scores + body + ["}", ""])


def write_programs(out_dir, count, seed):
    files = []
    for k in range(count):
        path = os.path.join(out_dir, "mask%05d.tir" % k)
        with open(path, "w") as f:
            f.write(build(seed * 1000003 + k))
        files.append(path)
    return files


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    for k in range(n):
        print(build(k))
