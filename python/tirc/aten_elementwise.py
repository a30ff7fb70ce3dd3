"""ATen lowerings of the elementwise ops: unary (with compensated expm1/log1p),
gelu, binary and comparisons, where, masked_fill, clamp, copies and dtype
conversions.  Registered with aten_common.handles; see aten_ops.py."""
import torch

from .tir_text import (TIR_DTYPES, Unsupported, _tensor_val, scalar_text)
from .aten_common import aten, handles, _key, _arg, _same_shape


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
        if isinstance(x.meta.get("val"), torch.SymInt):  # a size: an int scalar
            return 0
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
    def is_tensor(x):
        return isinstance(x, torch.fx.Node) and isinstance(x.meta.get("val"), torch.Tensor)
    if not is_tensor(a) and not is_tensor(b):
        raise Unsupported("no tensor operand")
    final = dt
    if dt in (torch.float16, torch.bfloat16) and op in ("add", "sub", "mul", "div") and (
            alpha != 1 or not is_tensor(a) or not is_tensor(b)):
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
        if isinstance(b, torch.fx.Node) and not is_tensor(b):
            raise Unsupported("alpha times a size")
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
