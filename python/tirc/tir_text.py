"""TIR text writing for the exporter: dtype and dim spelling, literals,
safetensors files for constants, and the Emitter that collects the lines of
one function (values named after FX nodes).  Used by aten_ops.py and export.py."""
import hashlib
import json
import math
import os
import re
import struct

import sympy
import torch

TIR_DTYPES = {
    torch.bool: "bool", torch.int8: "i8", torch.int16: "i16", torch.int32: "i32",
    torch.int64: "i64", torch.uint8: "u8", torch.float16: "f16", torch.bfloat16: "bf16",
    torch.float32: "f32", torch.float64: "f64",
}
_ST_DTYPES = {
    torch.bool: "BOOL", torch.int8: "I8", torch.int16: "I16", torch.int32: "I32",
    torch.int64: "I64", torch.uint8: "U8", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.float32: "F32", torch.float64: "F64",
}
_RESERVED = set(TIR_DTYPES.values()) | {"func", "return", "true", "false", "inf", "nan"}
_END_OF_DIM = 2 ** 31 - 1  # TIR: a constant slice end >= 2147483647 means "to the end"


class Unsupported(Exception):
    """The node (or graph) cannot be written in TIR; it stays in PyTorch."""


# ----------------------------------------------------------------- helpers

def _val(node):
    v = node.meta.get("val") if isinstance(node, torch.fx.Node) else None
    if v is None:
        raise Unsupported(f"{node} has no fake-tensor metadata")
    return v


def _tensor_val(node):
    v = _val(node)
    if not isinstance(v, torch.Tensor):
        raise Unsupported(f"{node} is not a tensor")
    if v.dtype not in TIR_DTYPES:
        raise Unsupported(f"dtype {v.dtype} has no TIR equivalent")
    if v.device.type not in ("cpu", "cuda") or v.layout != torch.strided:
        raise Unsupported(f"tensor on {v.device} / {v.layout}")
    return v


def _expr(x):
    """A sympy expression for an int, SymInt, or FX node holding a SymInt."""
    if isinstance(x, torch.fx.Node):
        x = _val(x)
    if isinstance(x, bool):
        raise Unsupported("bool where a size was expected")
    if isinstance(x, int):
        return sympy.Integer(x)
    if isinstance(x, torch.SymInt):
        return x.node.expr
    raise Unsupported(f"not a size: {x!r}")


def sym_name(s):
    name = str(s)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in _RESERVED:
        name = "sym_" + re.sub(r"\W", "_", name)
    return name


class SymSet(set):
    """The symbols a function's text uses, and the substitution of unified
    symbols (export.unify_symbols): a symbol in `subst` is written as its
    representative."""

    def __init__(self, subst=None):
        super().__init__()
        self.subst = subst or {}


def dim_text(e, syms=None):
    """TIR text of a dim expression (+ - * and floor division)."""
    e = sympy.sympify(e)
    if e.is_Integer:
        return str(int(e))
    if e.is_Symbol:
        if syms is not None:
            e = getattr(syms, "subst", {}).get(e, e)
            syms.add(e)
        return sym_name(e)
    if isinstance(e, sympy.Add):
        terms = sorted(e.args, key=lambda t: t.is_Number)  # constants last
        out = dim_text(terms[0], syms)
        for t in terms[1:]:
            c, rest = t.as_coeff_Mul()
            if c < 0:
                out += " - " + dim_text(-t, syms)
            else:
                out += " + " + dim_text(t, syms)
        return "(" + out + ")"
    if isinstance(e, sympy.Mul):
        c, rest = e.as_coeff_Mul()
        if c < 0:
            return "(0 - " + dim_text(-e, syms) + ")"
        return "(" + "*".join(dim_text(a, syms) for a in e.args) + ")"
    if isinstance(e, sympy.Pow) and e.exp.is_Integer and int(e.exp) > 0:
        return "(" + "*".join([dim_text(e.base, syms)] * int(e.exp)) + ")"
    name = type(e).__name__
    if name == "FloorDiv":
        return "(" + dim_text(e.args[0], syms) + " / " + dim_text(e.args[1], syms) + ")"
    if name in ("Mod", "PythonMod") and len(e.args) == 2:
        a, b = (dim_text(x, syms) for x in e.args)  # a mod b = a - b * (a / b)
        return f"({a} - {b} * ({a} / {b}))"
    raise Unsupported(f"dim expression {e} ({name})")


def scalar_text(v, dtype):
    """An inline literal of `dtype` for the Python number v."""
    if isinstance(v, (torch.SymInt, torch.SymFloat, torch.SymBool, torch.fx.Node)):
        raise Unsupported("symbolic scalar operand")
    if dtype == torch.bool:
        return "true" if v else "false"
    if not dtype.is_floating_point:
        if isinstance(v, float) and not float(v).is_integer():
            raise Unsupported(f"{v} is not an integer of {dtype}")
        info = torch.iinfo(dtype)
        if not info.min <= int(v) <= info.max:
            # torch wraps it (full_like(u8, -9) is 247); TIR rejects the literal
            raise Unsupported(f"{v} does not fit {dtype}")
        return str(int(v))
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def _norm_dim(d, rank):
    return d + rank if d < 0 else d


def write_safetensors(path, tensor, key="t"):
    """One tensor as a safetensors file (no numpy needed)."""
    t = tensor.detach().to("cpu").contiguous()
    nbytes = t.numel() * t.element_size()
    header = json.dumps({key: {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape),
                               "data_offsets": [0, nbytes]}}).encode()
    header += b" " * (-len(header) % 8)
    import ctypes
    data = ctypes.string_at(t.data_ptr(), nbytes) if nbytes else b""
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        f.write(data)
    os.replace(tmp, path)


# ----------------------------------------------------------------- emitter

class Emitter:
    """Collects TIR lines for one function; values are named after FX nodes."""

    def __init__(self, consts=None, const_dir=None, subst=None):
        self.lines = []
        self.syms = SymSet(subst)
        self.names = {}          # fx node -> TIR value (without %)
        self.consts = consts or {}  # fx placeholder -> real tensor to inline
        self.const_dir = const_dir
        self.ntmp = 0
        self.uses_dropout = False
        self.safe_softmax = []   # TIR names of _safe_softmax results written as plain softmax
        self.exact_safe_softmax = ()  # names of _safe_softmax nodes to write exactly

    # types and operands
    def ty(self, v):
        return TIR_DTYPES[v.dtype] + "[" + ", ".join(dim_text(_expr(d), self.syms) for d in v.shape) + "]"

    def dim(self, x):
        return dim_text(_expr(x), self.syms)

    def shape(self, dims):
        return "[" + ", ".join(self.dim(d) for d in dims) + "]"

    def v(self, node):
        if not isinstance(node, torch.fx.Node):
            raise Unsupported(f"expected a tensor operand, got {node!r}")
        _tensor_val(node)
        if node not in self.names:
            self.names[node] = node.name
        return "%" + self.names[node]

    def tmp(self, text, v_or_type, hint):
        self.ntmp += 1
        name = f"{hint}.{self.ntmp}"
        ty = v_or_type if isinstance(v_or_type, str) else self.ty(v_or_type)
        self.lines.append(f"  %{name} = {text} : {ty}")
        return "%" + name

    def emit(self, node, text, v=None):
        v = _tensor_val(node) if v is None else v
        name = node.name
        self.names[node] = name
        self.lines.append(f"  %{name} = {text} : {self.ty(v)}")
        return "%" + name

    def alias(self, node, operand):
        """node's value is `operand` (a TIR value name) unchanged."""
        self.names[node] = operand[1:]
        return operand

    def cast(self, operand, from_dtype, to_dtype, shape_v, hint="cast"):
        if from_dtype == to_dtype:
            return operand
        ty = TIR_DTYPES[to_dtype] + "[" + ", ".join(self.dim(d) for d in shape_v.shape) + "]"
        return self.tmp(f"cast({operand}, dtype={TIR_DTYPES[to_dtype]})", ty, hint)

    def operand(self, x, dtype, hint="x"):
        """A tensor node cast to dtype, a size (a SymInt node: a 0-d tensor
        made from the symbol), or a scalar literal of dtype."""
        if isinstance(x, torch.fx.Node):
            v = _val(x)
            if isinstance(v, torch.SymInt):
                return self.size_tensor(v, dtype, hint)
            v = _tensor_val(x)
            return self.cast(self.v(x), v.dtype, dtype, v, hint)
        return scalar_text(x, dtype)

    def size_tensor(self, s, dtype, hint):
        """A 0-d tensor of dtype holding the size s (a SymInt), e.g. the
        cache length HF adds to arange(q_len) for the cache positions:
        arange(start=s, end=s+1) reshaped to 0-d."""
        e = _expr(s)
        a = self.tmp(f"arange(start={dim_text(e, self.syms)}, end={dim_text(e + 1, self.syms)}, "
                     f"dtype=i64)", "i64[1]", hint + ".size")
        r = self.tmp(f"reshape({a}, shape=[])", "i64[]", hint + ".s0")
        if dtype == torch.int64:
            return r
        return self.tmp(f"cast({r}, dtype={TIR_DTYPES[dtype]})", TIR_DTYPES[dtype] + "[]", hint)

    def const_tensor(self, tensor, hint):
        """A constant from real data: a literal when tiny, else a safetensors file."""
        t = tensor.detach()
        if t.dtype not in TIR_DTYPES:
            raise Unsupported(f"constant of dtype {t.dtype}")
        ty = TIR_DTYPES[t.dtype] + "[" + ", ".join(str(int(d)) for d in t.shape) + "]"
        if t.numel() <= 16:
            flat = [scalar_text(x.item(), t.dtype) for x in t.reshape(-1).cpu()]
            if t.dim() == 0:
                return self.tmp(f"const({flat[0]})", ty, hint)
            return self.tmp(f"const({_nest(flat, list(t.shape))})", ty, hint)
        if self.const_dir is None:
            raise Unsupported("no directory for constant files")
        cpu = t.to("cpu").contiguous()
        import ctypes
        raw = ctypes.string_at(cpu.data_ptr(), cpu.numel() * cpu.element_size())
        digest = hashlib.sha256(raw + repr((cpu.dtype, tuple(cpu.shape))).encode()).hexdigest()[:32]
        path = os.path.join(self.const_dir, digest + ".safetensors")
        if not os.path.exists(path):
            os.makedirs(self.const_dir, exist_ok=True)
            write_safetensors(path, cpu)
        return self.tmp(f'const(file="{path}", key="t")', ty, hint)


def _nest(flat, shape):
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return "[" + ", ".join(flat) + "]"
    step = len(flat) // shape[0] if shape[0] else 0
    return "[" + ", ".join(_nest(flat[i * step:(i + 1) * step], shape[1:])
                           for i in range(shape[0])) + "]"
