"""ATen FX graph -> TIR text.

Each supported ATen op has a handler that writes TIR lines for one FX node
from the node's arguments and its fake-tensor metadata (`meta["val"]`: dtype
and shape, with SymInts for dynamic dims).  The same handlers decide support:
`node_supported` runs a handler on a throwaway emitter and reports whether it
raised `Unsupported`, so the partitioner and the exporter can never disagree.

Conventions of the text written here:
  - every op carries its result type from torch's metadata (`: f32[s0, 64]`),
    so the compiler checks the exporter's shapes and dtypes instead of
    trusting them;
  - binary ops get operands cast to torch's result dtype first (TIR needs
    equal dtypes; torch promotes);
  - SymInts become dim expressions over torch's symbols (s0, s1, ...); a
    symbol that no input dim binds on its own gets a zero-size u8 input
    `%sym.NAME: u8[NAME, 0]` that the runtime binds it from;
  - buffers chosen as constants become `const(file=..., key="t")` of a
    safetensors file written next to the graph, so passes see their data.
"""
import sympy
import torch

from .aten_ops import handler_for, is_view_node  # noqa: F401  (is_view_node: used by compiler.py)
from .tir_text import Emitter, TIR_DTYPES, Unsupported, _tensor_val, _val, sym_name  # noqa: F401


# ----------------------------------------------------------------- support

def node_supported(node, subst=None):
    """(True, None) when `node` can be written in TIR, else (False, reason);
    subst: the graph's unified symbols (unify_symbols)."""
    if node.op != "call_function":
        return False, node.op
    h = handler_for(node)
    if h is None:
        return False, "no TIR form"
    try:
        v = node.meta.get("val")
        if v is None:
            raise Unsupported("no metadata")
        if isinstance(v, torch.Tensor):
            _tensor_val(node)
        elif isinstance(v, (list, tuple)):
            for t in v:
                if isinstance(t, torch.Tensor) and t.dtype not in TIR_DTYPES:
                    raise Unsupported(f"dtype {t.dtype}")
        else:
            raise Unsupported("not a tensor op")
        h(Emitter(const_dir=None, subst=subst), node)
    except Unsupported as e:
        return False, str(e)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        return False, f"{type(e).__name__}: {e}"
    return True, None


# ----------------------------------------------------------------- export

class Exported:
    """The TIR text of a graph and how to call it."""

    def __init__(self, text, args, sym_inputs, uses_dropout, safe_softmax, padded=None):
        self.text = text
        self.padded = padded or {}  # return index -> columns to keep (the result is wider)
        self.args = args              # placeholder nodes, in TIR signature order
        self.sym_inputs = sym_inputs  # symbols bound through zero-size u8 inputs, after args
        self.uses_dropout = uses_dropout
        self.safe_softmax = safe_softmax


# A product whose row is not a multiple of 16 bytes (GPT-2's 50257-word
# vocabulary) leaves cuBLASLt only its slow unaligned kernels; the runtime
# then computes it padded and copies it out (runtime/cuda_gemm.c), a read
# and a write of the whole result (0.55 ms for GPT-2's logits at 8192
# tokens).  A graph output needs no dense copy: torch takes a strided view,
# as inductor returns.  So on CUDA such an output is computed with the
# weight (and bias) padded by zero rows to an aligned width, returned wide,
# and narrowed in torch (compiler.TircPartition); padding the weight costs
# a copy of the weight, a small fraction of the product's output.
PAD_MIN_MACS = 1 << 30


def _padded_product(E, node):
    """TIR lines for `node` (an mm/addmm that export writes as linear)
    computed over a weight padded to an aligned width, or None: (name of
    the wide result, columns to keep)."""
    from .aten_nn import _key, _transposed_weight
    k = _key(node.target)
    if k is torch.ops.aten.mm:
        a, b = node.args[:2]
        bias = None
    elif k is torch.ops.aten.addmm:
        bias, a, b = node.args[:3]
        if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1 or \
                not isinstance(bias, torch.fx.Node) or _tensor_val(bias).dim() != 1:
            return None
    else:
        return None
    w = _transposed_weight(b)
    out = _tensor_val(node)
    if w is None or out.dim() != 2 or not out.dtype.is_floating_point:
        return None
    dims = list(out.shape) + [_tensor_val(a).shape[-1]]
    # Symbolic sizes are not padded; int() of a SymInt would specialize it
    # (a guard, and a recompile for every new size), so look, do not convert.
    if not all(type(d) is int for d in dims):
        return None
    M, N, K = dims
    es = out.element_size()
    if (N * es) % 16 == 0 or es > 16 or (E.pad_products != "any" and M * N * K < PAD_MIN_MACS):
        return None
    per = 16 // es
    wide = (N + per - 1) // per * per
    dt = TIR_DTYPES[out.dtype]
    h = node.name
    z = E.tmp(f"full(shape=[{wide - N}, {K}], value=0, dtype={dt})", f"{dt}[{wide - N}, {K}]", h + ".wz")
    wp = E.tmp(f"concat({E.v(w)}, {z}, dim=0)", f"{dt}[{wide}, {K}]", h + ".wpad")
    ops = [E.v(a), wp]
    if bias is not None:
        bz = E.tmp(f"full(shape=[{wide - N}], value=0, dtype={dt})", f"{dt}[{wide - N}]", h + ".bz")
        ops.append(E.tmp(f"concat({E.v(bias)}, {bz}, dim=0)", f"{dt}[{wide}]", h + ".bpad"))
    r = E.tmp(f"linear({', '.join(ops)})", f"{dt}[{M}, {wide}]", h + ".wide")
    return r, N


def _hint_of(d):
    if isinstance(d, int):
        return d
    if isinstance(d, torch.SymInt):
        h = getattr(d.node, "hint", None)
        return int(h) if h is not None else None
    return None


def unify_symbols(graph):
    """Symbols Dynamo keeps apart that the graph needs equal, tied together:
    {symbol: expression over the remaining symbols}.  A KV cache's keys and
    values are two inputs, so after a dynamic recompile their lengths get
    two symbols (s85 + 1 and s94 + 1) that nothing in the graph relates,
    and HF's attention_mask (length s16) is indexed by arange(s85 + 1).
    Where two sizes that tirc needs equal -- an sdpa's key and value
    lengths, batch dims, query/key widths, its mask's rows and keys; an
    index's dim and the arange that indexes it -- are equal at trace time,
    one symbol is replaced: by the other symbol (s94 -> s85) or, when one
    side is a lone symbol, by the other side's expression (s16 -> s85 + 1).
    The compiled module then binds the remaining symbols from every input;
    a call whose sizes break a tie runs in PyTorch (TircPartition checks
    `unified` before each run)."""
    from .aten_attention import SDPA_FORMS
    from .aten_common import _key
    subst = {}

    def resolve(e):
        for _ in range(8):
            f = e.xreplace(subst)
            if f == e:
                return e
            e = f
        return e

    def tie(d1, d2):
        h1, h2 = _hint_of(d1), _hint_of(d2)
        if h1 is None or h1 != h2:
            return
        e1 = resolve(sympy.sympify(d1.node.expr if isinstance(d1, torch.SymInt) else d1))
        e2 = resolve(sympy.sympify(d2.node.expr if isinstance(d2, torch.SymInt) else d2))
        if e1 == e2 or not (e1.free_symbols or e2.free_symbols):
            return
        for a, e in ((e1, e2), (e2, e1)):  # a lone symbol takes the other side's value
            if a.is_Symbol and a not in e.free_symbols:
                if e.is_Symbol and str(e) > str(a):
                    continue  # two symbols: keep the smaller name
                subst[a] = e
                return
        for a in e1.free_symbols:
            for b in e2.free_symbols:
                if a != b and e2.xreplace({b: a}) == e1:
                    lo, hi = sorted((a, b), key=str)
                    subst[hi] = lo
                    return

    def val(x):
        v = x.meta.get("val") if isinstance(x, torch.fx.Node) else x
        return v

    for node in graph.nodes:
        if node.op != "call_function":
            continue
        k = _key(node.target)
        if k in SDPA_FORMS:
            vals = [val(a) for a in node.args[:3]]
            if not all(isinstance(v, torch.Tensor) and v.dim() >= 3 for v in vals):
                continue
            q, kk, v = vals
            tie(kk.shape[-2], v.shape[-2])
            tie(q.shape[-1], kk.shape[-1])
            for i in range(min(q.dim(), kk.dim(), v.dim()) - 3):  # batch dims (heads: GQA)
                tie(q.shape[i], kk.shape[i])
                tie(kk.shape[i], v.shape[i])
            tie(kk.shape[-3], v.shape[-3])
            mi = SDPA_FORMS[k][0]
            mask = node.args[mi] if mi is not None and len(node.args) > mi else (
                node.kwargs.get("attn_mask", node.kwargs.get("attn_bias")))
            mv = val(mask)
            if isinstance(mv, torch.Tensor) and mv.dim() >= 2:
                if not _is_one(mv.shape[-1]):
                    tie(mv.shape[-1], kk.shape[-2])
                if not _is_one(mv.shape[-2]):
                    tie(mv.shape[-2], q.shape[-2])
        elif k is torch.ops.aten.index and node.target is torch.ops.aten.index.Tensor:
            xv = val(node.args[0])
            if not isinstance(xv, torch.Tensor):
                continue
            from .aten_index import _COPIES, _RESHAPES
            for d, idx in enumerate(node.args[1]):
                a = idx
                for _ in range(16):  # back through views, copies, +0, full slices to an arange
                    if not isinstance(a, torch.fx.Node) or a.op != "call_function":
                        a = None
                        break
                    ka = _key(a.target)
                    if ka is torch.ops.aten.arange:
                        break
                    plain = ka in _COPIES or ka in _RESHAPES or ka is torch.ops.aten.expand or (
                        ka is torch.ops.aten.add and len(a.args) > 1 and a.args[1] == 0
                        and not isinstance(a.args[1], bool)) or (
                        ka is torch.ops.aten.slice and len(a.args) > 2 and a.args[2] in (0, None)
                        and (len(a.args) < 4 or a.args[3] is None
                             or (isinstance(a.args[3], int) and a.args[3] >= 1 << 62))
                        and (len(a.args) < 5 or a.args[4] == 1))
                    a = a.args[0] if plain and a.args else None
                if a is None or not isinstance(a, torch.fx.Node) or d >= xv.dim():
                    continue
                if _key(a.target) is not torch.ops.aten.arange or a.target is not torch.ops.aten.arange.default:
                    continue
                tie(xv.shape[d], val(a.args[0]))
    return {s: resolve(e) for s, e in subst.items()}


def _is_one(d):
    return isinstance(d, int) and d == 1


def export_graph(graph, returns, consts=None, const_dir=None, exact_safe_softmax=(), pad_products=False,
                 subst=None):
    """TIR for the FX `graph`, returning the nodes `returns`.

    consts: placeholder node -> real tensor to write as a constant.
    exact_safe_softmax: names of _safe_softmax nodes to write with their
    fully-masked-row rule spelled out (the others are written as softmax,
    which fuse-attention turns into sdpa, where that rule holds anyway).
    subst: the unified symbols of the graph the region came from (default:
    unify_symbols of this graph).
    pad_products: return large unaligned products wide (_padded_product;
    Exported.padded says which and how many columns to keep); "any": every
    unaligned one, whatever its size."""
    if subst is None:
        subst = unify_symbols(graph)
    E = Emitter(consts, const_dir, subst)
    E.exact_safe_softmax = exact_safe_softmax
    E.pad_products = pad_products
    args, arg_types, bound = [], [], set()
    for node in graph.nodes:
        if node.op == "placeholder":
            v = _val(node)
            if isinstance(v, torch.Tensor):
                if node in E.consts:
                    c = E.consts[node]
                    name = E.const_tensor(c, node.name)
                    E.alias(node, name)
                    continue
                _tensor_val(node)
                E.names[node] = node.name
                args.append(node)
                arg_types.append(f"%{node.name}: {E.ty(v)}")
                bound.update(subst.get(d.node.expr, d.node.expr) for d in v.shape
                             if isinstance(d, torch.SymInt) and d.node.expr.is_Symbol)
            elif not isinstance(v, (torch.SymInt, int)):
                raise Unsupported(f"input {node.name} is {type(v).__name__}")
        elif node.op == "call_function":
            h = handler_for(node)
            if h is None:
                raise Unsupported(f"{node.target} has no TIR form")
            h(E, node)
        elif node.op == "get_attr":
            raise Unsupported("get_attr inside a partition")
    if not returns:
        # every output is an input or a view of one: nothing for tirc to compute
        raise Unsupported("the region computes nothing (its outputs are views of its inputs)")
    rets, ret_types, padded = [], [], {}
    for i, r in enumerate(returns):
        if r not in E.names:
            raise Unsupported(f"output {r} was not written")
        wide = _padded_product(E, r) if pad_products and len(r.users) == 1 else None
        if wide is not None:
            rets.append(wide[0])
            ret_types.append(E.lines[-1].rsplit(" : ", 1)[1])
            padded[i] = wide[1]
            continue
        rets.append("%" + E.names[r])
        ret_types.append(E.ty(_tensor_val(r)))
    sym_inputs = sorted((s for s in E.syms if s not in bound), key=str)
    for s in sym_inputs:
        arg_types.append(f"%sym.{sym_name(s)}: u8[{sym_name(s)}, 0]")
    head = f"func @main({', '.join(arg_types)}) -> ({', '.join(ret_types)}) {{"
    body = E.lines + ["  return " + ", ".join(rets), "}", ""]
    exp = Exported("\n".join([head] + body), args, sym_inputs, E.uses_dropout, E.safe_softmax,
                   padded)
    exp.unified = subst
    return exp
