"""ATen op handlers: how each supported ATen op is written in TIR.

A handler takes the Emitter and one FX node, writes TIR lines from the
node's arguments and fake-tensor metadata, and returns the value's name; it
raises Unsupported for a form it cannot write (export.node_supported runs
handlers on a throwaway emitter to decide support).  Multi-output ops
(native_layer_norm, split, native_dropout, the _scaled_dot_product_* ops)
write nothing themselves; their getitem users write each result."""
import math
import operator

import sympy
import torch

from .tir_text import (TIR_DTYPES, Unsupported, _END_OF_DIM, _expr, _norm_dim, _tensor_val,
                       _val, dim_text, scalar_text)

aten = torch.ops.aten


# ----------------------------------------------------------------- handlers

HANDLERS = {}      # OpOverloadPacket or callable -> handler(E, node)
VIEW_OPS = set()   # ops that only restride: outputs made of them are replayed in torch


def handles(*targets, view=False):
    def deco(fn):
        for t in targets:
            HANDLERS[t] = fn
            if view:
                VIEW_OPS.add(t)
        return fn
    return deco


def _key(target):
    return getattr(target, "overloadpacket", target)


def handler_for(node):
    if node.op != "call_function":
        return None
    return HANDLERS.get(_key(node.target))


def _arg(node, i, name, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


UNARY = {
    aten.neg: "neg", aten.abs: "abs", aten.exp: "exp", aten.log: "log", aten.sqrt: "sqrt",
    aten.rsqrt: "rsqrt", aten.reciprocal: "reciprocal", aten.tanh: "tanh",
    aten.sigmoid: "sigmoid", aten.relu: "relu", aten.silu: "silu", aten.erf: "erf",
    aten.sin: "sin", aten.cos: "cos", aten.logical_not: "logical_not",
    aten.bitwise_not: "logical_not",
}


@handles(*UNARY)
def _unary(E, node):
    op = UNARY[_key(node.target)]
    out = _tensor_val(node)
    x = node.args[0]
    if op == "logical_not" and _tensor_val(x).dtype != torch.bool:
        raise Unsupported("bitwise_not of integers")
    if op in ("neg", "abs", "relu") and not out.dtype.is_floating_point:
        # TIR's unary math ops take floats only (spec §4); integers are
        # written with integer arithmetic, which wraps like torch's
        # (neg/abs of the most negative value give itself).
        if out.dtype == torch.bool or _tensor_val(x).dtype != out.dtype:
            raise Unsupported(f"{op} of {out.dtype}")
        xv = E.v(x)
        if out.dtype == torch.uint8 and op in ("abs", "relu"):
            return E.emit(node, f"clone({xv})")  # never negative
        if op == "relu":
            return E.emit(node, f"maximum({xv}, 0)")
        neg_text = f"sub(0, {xv})"
        if op == "neg":
            return E.emit(node, neg_text)
        n = E.tmp(neg_text, out, node.name + ".neg")
        return E.emit(node, f"maximum({xv}, {n})")
    if op != "logical_not" and not out.dtype.is_floating_point:
        raise Unsupported(f"{op} of {out.dtype}")
    return E.emit(node, f"{op}({E.operand(x, out.dtype)})")


def _compute_dtype(dt):
    """The float dtype the written-out math runs in (f32 for f16/bf16, as torch's kernels do)."""
    return torch.float32 if dt in (torch.float16, torch.bfloat16) else dt


def _compensated(E, node, what, body):
    """The frame shared by expm1 and log1p: x in the compute dtype (f32 for
    f16/bf16), body(x, cty, bty, h) -> (u, r) the compensated formula, then
    where(u == 1, x, r) (the tiny-x branch) cast back to the result dtype."""
    out = _tensor_val(node)
    if not out.dtype.is_floating_point:
        raise Unsupported(f"{what} of {out.dtype}")
    cd = _compute_dtype(out.dtype)
    cty = TIR_DTYPES[cd] + E.shape(out.shape)
    bty = "bool" + E.shape(out.shape)
    h = node.name
    x = E.operand(node.args[0], cd, h + ".x")
    u, r = body(x, cty, bty, h)
    one = E.tmp(f"eq({u}, 1.0)", bty, h + ".one")
    if cd == out.dtype:
        return E.emit(node, f"where({one}, {x}, {r})")
    r = E.tmp(f"where({one}, {x}, {r})", cty, h + ".r")
    return E.emit(node, f"cast({r}, dtype={TIR_DTYPES[out.dtype]})")


@handles(aten.expm1)
def _expm1(E, node):
    # expm1(x) = exp(x) - 1 loses every digit for tiny x; Kahan's compensated
    # form is accurate to a few ulp on the whole domain:
    #   u = exp(x);  u == 1: x;  u - 1 == -1: -1;  u == inf: inf;
    #   else (u - 1) * (x / log(u))      (x / log(u) is near 1: no overflow)
    # NaN propagates through the last branch.
    def body(x, cty, bty, h):
        u = E.tmp(f"exp({x})", cty, h + ".u")
        um1 = E.tmp(f"sub({u}, 1.0)", cty, h + ".um1")
        lu = E.tmp(f"log({u})", cty, h + ".lu")
        q = E.tmp(f"div({x}, {lu})", cty, h + ".q")
        r = E.tmp(f"mul({um1}, {q})", cty, h + ".r")
        big = E.tmp(f"eq({u}, inf)", bty, h + ".big")
        r = E.tmp(f"where({big}, inf, {r})", cty, h + ".r")
        low = E.tmp(f"eq({um1}, -1.0)", bty, h + ".low")
        return u, E.tmp(f"where({low}, -1.0, {r})", cty, h + ".r")
    return _compensated(E, node, "expm1", body)


@handles(aten.log1p)
def _log1p(E, node):
    # log1p(x) = log(1 + x) loses every digit for tiny x; the compensated form
    #   u = 1 + x;  u == 1: x;  u == inf: inf;  else log(u) * (x / (u - 1))
    # is accurate to a few ulp (x / (u - 1) is near 1; u == 0 gives -inf,
    # u < 0 and NaN give NaN, as log1p does).
    def body(x, cty, bty, h):
        u = E.tmp(f"add({x}, 1.0)", cty, h + ".u")
        um1 = E.tmp(f"sub({u}, 1.0)", cty, h + ".um1")
        lu = E.tmp(f"log({u})", cty, h + ".lu")
        q = E.tmp(f"div({x}, {um1})", cty, h + ".q")
        r = E.tmp(f"mul({lu}, {q})", cty, h + ".r")
        big = E.tmp(f"eq({u}, inf)", bty, h + ".big")
        return u, E.tmp(f"where({big}, inf, {r})", cty, h + ".r")
    return _compensated(E, node, "log1p", body)


@handles(aten.gelu)
def _gelu(E, node):
    out = _tensor_val(node)
    approx = node.kwargs.get("approximate", node.args[1] if len(node.args) > 1 else "none")
    a = f', approximate="{approx}"' if approx != "none" else ""
    return E.emit(node, f"gelu({E.operand(node.args[0], out.dtype)}{a})")


BINARY = {
    aten.add: "add", aten.sub: "sub", aten.mul: "mul", aten.div: "div", aten.pow: "pow",
    aten.maximum: "maximum", aten.minimum: "minimum", aten.rsub: "sub",
    aten.eq: "eq", aten.ne: "ne", aten.lt: "lt", aten.le: "le", aten.gt: "gt", aten.ge: "ge",
    aten.logical_and: "logical_and", aten.logical_or: "logical_or",
    aten.bitwise_and: "logical_and", aten.bitwise_or: "logical_or",
}
_COMPARE = {"eq", "ne", "lt", "le", "gt", "ge"}


def _meta_or_scalar(x):
    if isinstance(x, torch.fx.Node):
        return _tensor_val(x)
    if isinstance(x, (bool, int, float)):
        return x
    raise Unsupported(f"operand {x!r}")


@handles(*BINARY)
def _binary(E, node):
    key = _key(node.target)
    op = BINARY[key]
    out = _tensor_val(node)
    a, b = node.args[0], node.args[1]
    alpha = node.kwargs.get("alpha", 1)
    if key is aten.div and node.kwargs.get("rounding_mode") is not None:
        raise Unsupported("div with a rounding mode")
    if key is aten.rsub:
        a, b = b, a
    if op in _COMPARE:
        dt = torch.result_type(_meta_or_scalar(a), _meta_or_scalar(b))
    elif op in ("logical_and", "logical_or"):
        dt = torch.bool
        if out.dtype != torch.bool:
            raise Unsupported("bitwise op on integers")
    else:
        dt = out.dtype
    if dt not in TIR_DTYPES or (dt == torch.bool and op in ("add", "sub", "mul", "div", "pow")):
        raise Unsupported(f"{op} in {dt}")
    if op == "div" and not dt.is_floating_point:
        raise Unsupported("integer division")
    if not isinstance(a, torch.fx.Node) and not isinstance(b, torch.fx.Node):
        raise Unsupported("no tensor operand")
    final = dt
    if dt in (torch.float16, torch.bfloat16) and op in ("add", "sub", "mul", "div") and (
            alpha != 1 or not isinstance(a, torch.fx.Node) or not isinstance(b, torch.fx.Node)):
        # torch applies a Python scalar (and alpha) to f16/bf16 in f32 and
        # rounds once; a literal of the tensor's dtype would round it first
        # (3.14 -> 3.140625).  Computed in f32, then cast.
        dt = torch.float32
    if op == "pow" and not isinstance(a, torch.fx.Node):
        # a scalar base: a 0-d constant of the result dtype
        xa = E.tmp(f"full(shape=[], value={scalar_text(a, dt)}, dtype={TIR_DTYPES[dt]})",
                   TIR_DTYPES[dt] + "[]", node.name + ".base")
    else:
        xa = E.operand(a, dt, node.name + ".a")
    xb = E.operand(b, dt, node.name + ".b")
    if alpha != 1:
        if not dt.is_floating_point and dt != torch.bool:
            info = torch.iinfo(dt)
            if not (info.min <= alpha <= info.max):
                # torch wraps alpha * b; TIR rejects the literal
                raise Unsupported(f"alpha={alpha} does not fit {dt}")
        if not isinstance(b, torch.fx.Node):
            xb = scalar_text(b * alpha, dt)
        else:
            bv = _tensor_val(b)
            xb = E.tmp(f"mul({xb}, {scalar_text(alpha, dt)})",
                       TIR_DTYPES[dt] + E.shape(bv.shape), node.name + ".alpha")
    if final != dt:
        r = E.tmp(f"{op}({xa}, {xb})", TIR_DTYPES[dt] + E.shape(out.shape), node.name + ".f32")
        return E.emit(node, f"cast({r}, dtype={TIR_DTYPES[final]})")
    return E.emit(node, f"{op}({xa}, {xb})")


@handles(aten.where)
def _where(E, node):
    out = _tensor_val(node)
    if len(node.args) != 3:
        raise Unsupported("where(cond) (nonzero)")
    c, a, b = node.args
    return E.emit(node, f"where({E.operand(c, torch.bool)}, {E.operand(a, out.dtype)}, "
                        f"{E.operand(b, out.dtype)})")


@handles(aten.masked_fill)
def _masked_fill(E, node):
    out = _tensor_val(node)
    x, mask, value = node.args[:3]
    xv = E.operand(x, out.dtype)
    mv = E.operand(mask, torch.bool)
    # TIR's masked_fill keeps x's shape (spec: the mask broadcasts to x);
    # torch's out-of-place masked_fill also grows x to a wider mask: where.
    grows = not _same_shape(_tensor_val(x), out)
    if isinstance(value, torch.fx.Node):
        const = _known_scalar(value)
        if const is None:
            return E.emit(node, f"where({mv}, {E.operand(value, out.dtype)}, {xv})")
        value = const
    if grows:
        return E.emit(node, f"where({mv}, {scalar_text(value, out.dtype)}, {xv})")
    return E.emit(node, f"masked_fill({xv}, {mv}, value={scalar_text(value, out.dtype)})")


def _known_scalar(node):
    """The value of a 0-d tensor made by full/scalar_tensor, else None."""
    if node.op == "call_function" and _key(node.target) in (aten.full, aten.scalar_tensor):
        v = node.args[1] if _key(node.target) is aten.full else node.args[0]
        if isinstance(v, (int, float, bool)) and _tensor_val(node).dim() == 0:
            return v
    return None


@handles(aten.clamp)
def _clamp(E, node):
    out = _tensor_val(node)
    x = E.operand(node.args[0], out.dtype)
    lo, hi = _arg(node, 1, "min"), _arg(node, 2, "max")
    if lo is not None:
        x = E.tmp(f"maximum({x}, {scalar_text(lo, out.dtype)})", out, node.name + ".lo")
    if hi is not None:
        x = E.tmp(f"minimum({x}, {scalar_text(hi, out.dtype)})", out, node.name + ".hi")
    return E.emit(node, f"clone({x})")


@handles(aten._to_copy, aten.clone, aten.alias, aten.detach, aten.lift_fresh_copy,
         aten.contiguous)
def _copy(E, node):
    out = _tensor_val(node)
    x = node.args[0]
    xv = _tensor_val(x)
    dev = node.kwargs.get("device")
    if dev is not None and torch.device(dev).type != xv.device.type:
        raise Unsupported("a copy to another device")
    if out.dtype != xv.dtype:
        return E.emit(node, f"cast({E.v(x)}, dtype={TIR_DTYPES[out.dtype]})")
    return E.emit(node, f"clone({E.v(x)})")


@handles(torch.ops.prims.convert_element_type)
def _convert(E, node):
    out = _tensor_val(node)
    return E.emit(node, f"cast({E.v(node.args[0])}, dtype={TIR_DTYPES[out.dtype]})")


# reductions

def _dims_attr(dims, rank):
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        dims = list(range(rank))
    if isinstance(dims, int):
        dims = [dims]
    return "[" + ", ".join(str(int(d)) for d in dims) + "]"


@handles(aten.sum, aten.mean, aten.amax, aten.amin)
def _reduce(E, node):
    key = _key(node.target)
    op = {aten.sum: "sum", aten.mean: "mean", aten.amax: "amax", aten.amin: "amin"}[key]
    out = _tensor_val(node)
    x = node.args[0]
    xv = _tensor_val(x)
    dims = _arg(node, 1, "dim")
    keep = bool(_arg(node, 2, "keepdim", False))
    if node.target in (aten.sum.default, aten.mean.default):
        dims, keep = None, False
    operand = E.v(x)
    if op in ("sum", "mean") and out.dtype != xv.dtype and (
            out.dtype.is_floating_point or xv.dtype.is_floating_point):
        operand = E.cast(operand, xv.dtype, out.dtype, xv)
    text = f"{op}({operand}, dims={_dims_attr(dims, xv.dim())}, keepdim={'true' if keep else 'false'})"
    return E.emit(node, text)


@handles(aten.var, aten.std)
def _var(E, node):
    # var(x, dims, correction) = sum((x - mean)^2) / (N - correction), N the reduced count
    out = _tensor_val(node)
    x = node.args[0]
    xv = _tensor_val(x)
    if not out.dtype.is_floating_point or out.dtype != xv.dtype:
        raise Unsupported("var of non-float")
    dims = _arg(node, 1, "dim")
    corr = node.kwargs.get("correction", 1)
    if node.target not in (aten.var.correction, aten.std.correction):
        raise Unsupported(f"{node.target} overload")
    keep = bool(node.kwargs.get("keepdim", False))
    rank = xv.dim()
    red = list(range(rank)) if not dims else [_norm_dim(int(d), rank) for d in dims]
    count = sympy.Integer(1)
    for d in red:
        count = count * _expr(xv.shape[d])
    if not count.is_Integer:
        raise Unsupported("var over symbolic dims")
    n = int(count) - (1 if corr is None else corr)
    ty = TIR_DTYPES[out.dtype]
    kshape = [1 if i in red else xv.shape[i] for i in range(rank)]
    da = "[" + ", ".join(str(d) for d in red) + "]"
    mean = E.tmp(f"mean({E.v(x)}, dims={da}, keepdim=true)", ty + E.shape(kshape), node.name + ".mean")
    d = E.tmp(f"sub({E.v(x)}, {mean})", xv, node.name + ".d")
    sq = E.tmp(f"mul({d}, {d})", xv, node.name + ".sq")
    ss = E.tmp(f"sum({sq}, dims={da}, keepdim={'true' if keep else 'false'})", out, node.name + ".ss")
    if n <= 0:
        raise Unsupported("var with no degrees of freedom")
    var = E.tmp(f"div({ss}, {scalar_text(float(n), out.dtype)})", out, node.name + ".var")
    if _key(node.target) is aten.std:
        return E.emit(node, f"sqrt({var})")
    return E.emit(node, f"clone({var})")


@handles(aten._softmax, aten._log_softmax, aten._safe_softmax)
def _softmax(E, node):
    key = _key(node.target)
    out = _tensor_val(node)
    x, dim = node.args[0], node.args[1]
    xv = E.operand(x, out.dtype)
    op = "log_softmax" if key is aten._log_softmax else "softmax"
    if key is aten._safe_softmax and node.name in E.exact_safe_softmax:
        # torch's _safe_softmax gives 0 on rows that are all -inf; softmax gives nan
        sm = E.tmp(f"softmax({xv}, dim={int(dim)})", out, node.name + ".sm")
        red = list(out.shape)
        red[_norm_dim(int(dim), out.dim())] = 1
        mx = E.tmp(f"amax({xv}, dims=[{int(dim)}], keepdim=true)",
                   TIR_DTYPES[out.dtype] + E.shape(red), node.name + ".max")
        dead = E.tmp(f"eq({mx}, -inf)", "bool" + E.shape(red), node.name + ".dead")
        return E.emit(node, f"where({dead}, 0.0, {sm})")
    r = E.emit(node, f"{op}({xv}, dim={int(dim)})")
    if key is aten._safe_softmax:
        E.safe_softmax.append(node.name)
    return r


@handles(aten.native_layer_norm)
def _layer_norm(E, node):
    # Multi-output: the getitem handler writes each result.
    x, shape, w, b, eps = node.args[:5]
    _tensor_val(x)
    _check_eps(eps)
    for u in node.users:
        if u.op != "call_function" or u.target is not operator.getitem:
            raise Unsupported("native_layer_norm result used whole")
    return None


def _check_eps(eps):
    # TIR takes a finite eps >= 0 (ir/infer.c); torch takes anything.
    if not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise Unsupported(f"layer_norm eps={eps!r} (TIR needs a finite eps >= 0)")


def _layer_norm_item(E, node, parent, idx):
    x, shape, w, b, eps = parent.args[:5]
    _check_eps(eps)
    xv = _tensor_val(x)
    out = _tensor_val(node)
    k = len(shape)
    if idx == 0:
        ops = [E.v(x)]
        if w is not None:
            ops.append(E.v(w))
            if b is not None:
                ops.append(E.v(b))
        text = f"layer_norm({', '.join(ops)}, dims={k}, eps={scalar_text(eps, torch.float64)})"
        if w is None and b is not None:
            ln = E.tmp(text, out, node.name + ".ln")
            return E.emit(node, f"add({ln}, {E.v(b)})")
        return E.emit(node, text)
    # mean (1) and rstd (2) over the normalized dims, keepdim, in out's dtype
    dims = "[" + ", ".join(str(-i) for i in range(k, 0, -1)) + "]"
    xc = E.cast(E.v(x), xv.dtype, out.dtype, xv, node.name + ".x")
    mean = E.tmp(f"mean({xc}, dims={dims}, keepdim=true)", out, node.name + ".mean")
    if idx == 1:
        return E.emit(node, f"clone({mean})")
    full_ty = TIR_DTYPES[out.dtype] + E.shape(xv.shape)
    d = E.tmp(f"sub({xc}, {mean})", full_ty, node.name + ".d")
    sq = E.tmp(f"mul({d}, {d})", full_ty, node.name + ".sq")
    var = E.tmp(f"mean({sq}, dims={dims}, keepdim=true)", out, node.name + ".var")
    ve = E.tmp(f"add({var}, {scalar_text(eps, out.dtype)})", out, node.name + ".ve")
    return E.emit(node, f"rsqrt({ve})")


# matrix products

def _transposed_weight(node):
    """w when node is t(w) / transpose(w, 0, 1) / permute(w, [1, 0]) of a 2-D w."""
    if not isinstance(node, torch.fx.Node) or node.op != "call_function":
        return None
    k = _key(node.target)
    src = node.args[0]
    if not isinstance(src, torch.fx.Node) or _tensor_val(src).dim() != 2:
        return None
    if k is aten.t or (k is aten.transpose and sorted(_norm_dim(d, 2) for d in node.args[1:3]) == [0, 1]) \
            or (k is aten.permute and list(node.args[1]) == [1, 0]):
        return src
    return None


@handles(aten.mm, aten.bmm, aten.matmul)
def _mm(E, node):
    out = _tensor_val(node)
    a, b = node.args[:2]
    if not out.dtype.is_floating_point:
        raise Unsupported("integer matmul")
    w = _transposed_weight(b) if _key(node.target) is aten.mm else None
    if w is not None:
        return E.emit(node, f"linear({E.v(a)}, {E.v(w)})")
    return E.emit(node, f"matmul({E.v(a)}, {E.v(b)})")


@handles(aten.addmm, aten.baddbmm)
def _addmm(E, node):
    out = _tensor_val(node)
    bias, a, b = node.args[:3]
    beta, alpha = node.kwargs.get("beta", 1), node.kwargs.get("alpha", 1)
    if not out.dtype.is_floating_point:
        raise Unsupported("integer matmul")
    w = _transposed_weight(b) if _key(node.target) is aten.addmm else None
    bv = _tensor_val(bias)
    if w is not None and beta == 1 and alpha == 1 and bv.dim() == 1:
        return E.emit(node, f"linear({E.v(a)}, {E.v(w)}, {E.v(bias)})")
    prod = E.tmp(f"matmul({E.v(a)}, {E.v(b)})", out, node.name + ".mm")
    if alpha != 1:
        prod = E.tmp(f"mul({prod}, {scalar_text(alpha, out.dtype)})", out, node.name + ".alpha")
    bb = E.v(bias)
    if beta != 1:
        bb = E.tmp(f"mul({bb}, {scalar_text(beta, out.dtype)})", bv, node.name + ".beta")
    return E.emit(node, f"add({prod}, {bb})")


# shapes and views

def _same_shape(a, b):
    return len(a.shape) == len(b.shape) and all(_expr(x) == _expr(y) for x, y in zip(a.shape, b.shape))


def _merge_source(node):
    """X when node = view/_unsafe_view(expand/clone(X)) merges X's leading dims
    (X of rank >= 4, last two dims kept): how aot_autograd feeds bmm."""
    if not isinstance(node, torch.fx.Node) or node.op != "call_function" or \
            _key(node.target) not in (aten.view, aten._unsafe_view, aten.reshape):
        return None
    x = node.args[0]
    while isinstance(x, torch.fx.Node) and x.op == "call_function" and (
            _key(x.target) is aten.clone or
            (_key(x.target) is aten.expand and _same_shape(_tensor_val(x), _tensor_val(x.args[0])))):
        x = x.args[0]
    xv, v3 = _tensor_val(x), _tensor_val(node)
    if xv.dim() < 4 or v3.dim() != 3 or not _same_shape_tail(xv, v3):
        return None
    return x


def _same_shape_tail(x, y):
    return all(_expr(a) == _expr(b) for a, b in zip(x.shape[-2:], y.shape[-2:]))


def _raised_bmm(node):
    """(A, B) when node = view(bmm(merge(A), merge(B)), [D.., L, S]) with A, B
    sharing the leading dims D..: the batched matmul aot_autograd split up.
    Written as one matmul(A, B) so fuse-attention sees the 4-D form even
    when A or B is itself a reshape (GQA's repeat_kv), which tirc's own
    canonicalize would merge into the bmm's reshape first."""
    bmm = node.args[0]
    if not isinstance(bmm, torch.fx.Node) or bmm.op != "call_function" or \
            bmm.target is not aten.bmm.default:
        return None
    a, b = _merge_source(bmm.args[0]), _merge_source(bmm.args[1])
    if a is None or b is None:
        return None
    av, bv, ov = _tensor_val(a), _tensor_val(b), _tensor_val(node)
    if not ov.dtype.is_floating_point:
        return None  # integer bmm stays in PyTorch (_mm), so its view stays a view
    if not (av.dim() == bv.dim() == ov.dim()):
        return None
    lead = [_expr(d) for d in ov.shape[:-2]]
    if [_expr(d) for d in av.shape[:-2]] != lead or [_expr(d) for d in bv.shape[:-2]] != lead:
        return None
    if _expr(ov.shape[-2]) != _expr(av.shape[-2]) or _expr(ov.shape[-1]) != _expr(bv.shape[-1]):
        return None
    return a, b


@handles(aten.squeeze, view=True)
def _reshape(E, node):
    """A reshape of the first argument to the node's own (traced) shape."""
    return E.emit(node, f"reshape({E.v(node.args[0])}, shape={E.shape(_tensor_val(node).shape)})")


@handles(aten.view, aten._unsafe_view, aten.reshape, view=True)
def _view(E, node):
    ab = _raised_bmm(node)
    if ab is not None:
        return E.emit(node, f"matmul({E.v(ab[0])}, {E.v(ab[1])})")
    return _reshape(E, node)


@handles(aten.unsqueeze, view=True)
def _unsqueeze(E, node):
    return E.emit(node, f"unsqueeze({E.v(node.args[0])}, dim={int(node.args[1])})")


@handles(aten.expand, view=True)
def _expand(E, node):
    out = _tensor_val(node)
    return E.emit(node, f"expand({E.v(node.args[0])}, shape={E.shape(out.shape)})")


@handles(aten.permute, view=True)
def _permute(E, node):
    dims = ", ".join(str(int(d)) for d in node.args[1])
    return E.emit(node, f"permute({E.v(node.args[0])}, dims=[{dims}])")


@handles(aten.transpose, view=True)
def _transpose(E, node):
    return E.emit(node, f"transpose({E.v(node.args[0])}, dim0={int(node.args[1])}, "
                        f"dim1={int(node.args[2])})")


@handles(aten.t, view=True)
def _t(E, node):
    x = node.args[0]
    if _tensor_val(x).dim() < 2:
        return E.emit(node, f"clone({E.v(x)})")
    return E.emit(node, f"transpose({E.v(x)}, dim0=0, dim1=1)")


def _slice_text(E, x, dim, start, end, step):
    if step != 1:
        if not isinstance(step, int) or step < 1:
            raise Unsupported("slice step")
    s = E.dim(start) if start is not None else "0"
    if end is None or (isinstance(end, int) and end >= _END_OF_DIM):
        e = str(_END_OF_DIM)
    else:
        e = E.dim(end)
    st = f", step={step}" if step != 1 else ""
    return f"slice({x}, dim={int(dim)}, start={s}, end={e}{st})"


@handles(aten.slice, view=True)
def _slice(E, node):
    x = node.args[0]
    dim = _arg(node, 1, "dim", 0)
    start, end, step = _arg(node, 2, "start"), _arg(node, 3, "end"), _arg(node, 4, "step", 1)
    return E.emit(node, _slice_text(E, E.v(x), dim, start, end, step))


def _select(E, node, x, dim, index):
    xv = _tensor_val(x)
    out = _tensor_val(node)
    d = _norm_dim(int(dim), xv.dim())
    if isinstance(index, int) and index < 0:
        start = _expr(xv.shape[d]) + index
    else:
        start = _expr(index)
    one = list(xv.shape)
    one[d] = 1
    sl = E.tmp(f"slice({E.v(x)}, dim={d}, start={dim_text(start, E.syms)}, "
               f"end={dim_text(start + 1, E.syms)})", TIR_DTYPES[xv.dtype] + E.shape(one),
               node.name + ".sel")
    return E.emit(node, f"reshape({sl}, shape={E.shape(out.shape)})")


@handles(aten.select, view=True)
def _select_h(E, node):
    return _select(E, node, node.args[0], node.args[1], node.args[2])


@handles(aten.split, aten.split_with_sizes, aten.unbind, view=True)
def _split(E, node):
    _tensor_val(node.args[0])
    for u in node.users:
        if u.op != "call_function" or u.target is not operator.getitem:
            raise Unsupported("split result used whole")
    return None


def _split_item(E, node, parent, idx):
    x = parent.args[0]
    xv = _tensor_val(x)
    if _key(parent.target) is aten.unbind:
        return _select(E, node, x, _arg(parent, 1, "dim", 0), idx)
    dim = _norm_dim(int(_arg(parent, 2, "dim", 0)), xv.dim())
    pieces = _val(parent)
    start = sympy.Integer(0)
    for p in pieces[:idx]:
        start = start + _expr(p.shape[dim])
    end = start + _expr(pieces[idx].shape[dim])
    return E.emit(node, f"slice({E.v(x)}, dim={dim}, start={dim_text(start, E.syms)}, "
                        f"end={dim_text(end, E.syms)})")


@handles(aten.cat)
def _cat(E, node):
    out = _tensor_val(node)
    tensors = node.args[0]
    dim = _arg(node, 1, "dim", 0)
    ops = []
    for t in tensors:
        tv = _tensor_val(t)
        if tv.dim() == 1 and tv.shape[0] == 0 and out.dim() != 1:
            continue  # torch's legacy empty tensor: skipped by cat
        ops.append(E.operand(t, out.dtype, node.name + ".in"))
    if not ops:
        raise Unsupported("cat of nothing")
    return E.emit(node, f"concat({', '.join(ops)}, dim={int(dim)})")


@handles(aten.repeat_interleave)
def _repeat_interleave(E, node):
    # repeat_interleave(x, n, dim) with an int n: each slice repeated n times in place,
    # written as unsqueeze -> expand -> reshape (the form fuse-attention reads as GQA)
    if node.target is not aten.repeat_interleave.self_int:
        raise Unsupported("repeat_interleave with a tensor of repeats")
    x, n = node.args[0], node.args[1]
    xv = _tensor_val(x)
    out = _tensor_val(node)
    dim = _arg(node, 2, "dim")
    if dim is None or not isinstance(n, int):
        raise Unsupported("repeat_interleave without dim")
    d = _norm_dim(int(dim), xv.dim())
    shp = list(xv.shape)
    un = shp[:d + 1] + [1] + shp[d + 1:]
    ex = shp[:d + 1] + [n] + shp[d + 1:]
    ty = TIR_DTYPES[xv.dtype]
    u = E.tmp(f"unsqueeze({E.v(x)}, dim={d + 1})", ty + E.shape(un), node.name + ".u")
    e = E.tmp(f"expand({u}, shape={E.shape(ex)})", ty + E.shape(ex), node.name + ".e")
    return E.emit(node, f"reshape({e}, shape={E.shape(out.shape)})")


# creation

@handles(aten.arange)
def _arange(E, node):
    out = _tensor_val(node)
    if node.target is aten.arange.default:
        start, end, step = 0, node.args[0], 1
    else:
        start, end = node.args[0], node.args[1]
        step = node.args[2] if len(node.args) > 2 else node.kwargs.get("step", 1)
    vals = [start, end, step]
    if out.dtype.is_floating_point and any(isinstance(v, float) and not v.is_integer() for v in vals):
        raise Unsupported("arange with fractional bounds")
    if not isinstance(step, (int, float)) or step == 0:
        raise Unsupported("arange step")
    s = E.dim(int(start)) if isinstance(start, float) else E.dim(start)
    e = E.dim(int(end)) if isinstance(end, float) else E.dim(end)
    st = f", step={int(step)}" if step != 1 else ""
    return E.emit(node, f"arange(start={s}, end={e}{st}, dtype={TIR_DTYPES[out.dtype]})")


@handles(aten.full, aten.scalar_tensor, aten.zeros, aten.ones, aten.full_like,
         aten.zeros_like, aten.ones_like, aten.new_full, aten.new_zeros, aten.new_ones)
def _full(E, node):
    out = _tensor_val(node)
    key = _key(node.target)
    value = {aten.full: lambda: node.args[1], aten.scalar_tensor: lambda: node.args[0],
             aten.full_like: lambda: node.args[1], aten.new_full: lambda: node.args[2],
             aten.zeros: lambda: 0, aten.zeros_like: lambda: 0, aten.new_zeros: lambda: 0,
             aten.ones: lambda: 1, aten.ones_like: lambda: 1, aten.new_ones: lambda: 1}[key]()
    return E.emit(node, f"full(shape={E.shape(out.shape)}, value={scalar_text(value, out.dtype)}, "
                        f"dtype={TIR_DTYPES[out.dtype]})")


@handles(aten.tril, aten.triu)
def _tri(E, node):
    op = "tril" if _key(node.target) is aten.tril else "triu"
    d = int(_arg(node, 1, "diagonal", 0))
    return E.emit(node, f"{op}({E.v(node.args[0])}, diagonal={d})")


@handles(aten.embedding)
def _embedding(E, node):
    w, idx = node.args[:2]
    if _tensor_val(idx).dtype not in (torch.int32, torch.int64):
        raise Unsupported("embedding indices dtype")
    return E.emit(node, f"embedding({E.v(w)}, {E.v(idx)})")


@handles(aten.native_dropout)
def _native_dropout(E, node):
    for u in node.users:
        if u.op != "call_function" or u.target is not operator.getitem or u.args[1] != 0:
            raise Unsupported("native_dropout's mask is used (training backward)")
    return None


def _dropout_item(E, node, parent, idx):
    x, p, train = parent.args[0], float(parent.args[1]), parent.args[2]
    if not train or p == 0:
        return E.emit(node, f"clone({E.v(x)})")
    E.uses_dropout = True
    return E.emit(node, f"dropout({E.v(x)}, p={scalar_text(p, torch.float64)}, training=true)")


# attention

SDPA_FORMS = {
    # op: (index of attn_mask in args or None (keyword), index of dropout_p, index of is_causal)
    aten.scaled_dot_product_attention: (3, 4, 5),
    aten._scaled_dot_product_flash_attention_for_cpu: (None, 3, 4),
    aten._scaled_dot_product_flash_attention: (None, 3, 4),
    aten._scaled_dot_product_efficient_attention: (3, 5, 6),
    aten._scaled_dot_product_cudnn_attention: (3, 5, 6),
}


@handles(*SDPA_FORMS)
def _sdpa(E, node):
    key = _key(node.target)
    if key is aten.scaled_dot_product_attention:
        return _sdpa_text(E, node, node)
    for u in node.users:
        if u.op != "call_function" or u.target is not operator.getitem or u.args[1] != 0:
            raise Unsupported("the attention's log-sum-exp or RNG state is used (backward)")
    return None


def _sdpa_text(E, node, parent):
    key = _key(parent.target)
    mi, di, ci = SDPA_FORMS[key]
    q, k, v = parent.args[:3]
    qv, kv, vv = _tensor_val(q), _tensor_val(k), _tensor_val(v)
    mask = parent.args[mi] if mi is not None and len(parent.args) > mi else parent.kwargs.get(
        "attn_mask" if key in (aten.scaled_dot_product_attention,
                               aten._scaled_dot_product_flash_attention_for_cpu) else "attn_bias")
    dropout = _arg(parent, di, "dropout_p", 0.0)
    causal = bool(_arg(parent, ci, "is_causal", False))
    scale = parent.kwargs.get("scale")
    if key is aten.scaled_dot_product_attention and len(parent.args) > 6:
        scale = parent.args[6]
    gqa = parent.kwargs.get("enable_gqa", False)
    if qv.dim() < 3 or not qv.dtype.is_floating_point or kv.dtype != qv.dtype or vv.dtype != qv.dtype:
        raise Unsupported("sdpa operands")
    hq, hk = _expr(qv.shape[-3]), _expr(kv.shape[-3])
    if hq != hk:
        gqa = True
    ops = [E.v(q), E.v(k), E.v(v)]
    if mask is not None:
        mv = _tensor_val(mask)
        ops.append(E.v(mask) if mv.dtype in (torch.bool, qv.dtype)
                   else E.cast(E.v(mask), mv.dtype, qv.dtype, mv, node.name + ".mask"))
    attrs = [f"is_causal={'true' if causal else 'false'}"]
    if scale is not None:
        attrs.append(f"scale={scalar_text(scale, torch.float64)}")
    attrs.append(f"dropout_p={scalar_text(float(dropout), torch.float64)}")
    attrs.append(f"enable_gqa={'true' if gqa else 'false'}")
    if float(dropout) > 0:
        E.uses_dropout = True
    return E.emit(node, f"sdpa({', '.join(ops)}, {', '.join(attrs)})")


ITEM_HANDLERS = {
    aten.native_layer_norm: _layer_norm_item,
    aten.split: _split_item, aten.split_with_sizes: _split_item, aten.unbind: _split_item,
    aten.native_dropout: _dropout_item,
}
for _k in SDPA_FORMS:
    if _k is not aten.scaled_dot_product_attention:
        ITEM_HANDLERS[_k] = lambda E, node, parent, idx: _sdpa_text(E, node, parent)


@handles(operator.getitem)
def _getitem(E, node):
    parent, idx = node.args
    if not isinstance(parent, torch.fx.Node) or parent.op != "call_function":
        raise Unsupported("getitem of a non-op")
    item = ITEM_HANDLERS.get(_key(parent.target))
    if item is None:
        raise Unsupported(f"getitem of {parent.target}")
    return item(E, node, parent, int(idx))


def is_view_node(node):
    """Ops that only restride (a partition output made of these is replayed in torch)."""
    if node.op != "call_function":
        return False
    if node.target is operator.getitem:
        p = node.args[0]
        return isinstance(p, torch.fx.Node) and p.op == "call_function" and \
            _key(p.target) in (aten.split, aten.split_with_sizes, aten.unbind)
    if _key(node.target) in (aten.view, aten._unsafe_view, aten.reshape) and _raised_bmm(node):
        return False  # the batched matmul written as one
    return _key(node.target) in VIEW_OPS
