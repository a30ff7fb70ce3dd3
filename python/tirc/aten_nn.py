"""ATen lowerings of reductions (sum/mean/amax/amin, var/std), softmax,
native_layer_norm and the matrix products (mm/bmm/matmul, addmm/baddbmm).
Registered with aten_common.handles; see aten_ops.py."""
import math
import operator

import sympy
import torch

from .tir_text import (TIR_DTYPES, Unsupported, _expr, _norm_dim, _tensor_val, scalar_text)
from .aten_common import aten, handles, _key, _arg


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
