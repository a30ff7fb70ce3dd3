"""ATen lowering of index.Tensor in the one form that is a reshape: every
index tensor is arange(0, n) of the dim it indexes (or a contiguous range
start + arange(m) inside it: a slice first), placed at one position of the
broadcast shape.  Hugging Face's padding mask is built this way
(masking_utils: `padding_mask[batch_idx, kv_idx]` with batch_idx =
arange(B)[:, None, None, None], kv_idx = arange(S)[None, None, None, :]),
so mask[B, S] -> [B, 1, 1, S] is a reshape and needs no gather; rotary
tables read as cos[position_ids] with position_ids = arange(S) are a slice.

An index is proven to be such an arange either from its data (a folded
constant: a get_attr of the graph, or a partition input compiled in as a
constant) or from the FX nodes that make it (arange, then only ops that
move it to another position: unsqueeze, view/reshape, expand, full slices,
+ an int, copies).  Anything else stays Unsupported (left to PyTorch).
Registered with aten_common.handles; see aten_ops.py."""
import sympy
import torch

from .tir_text import (TIR_DTYPES, Unsupported, _END_OF_DIM, _expr, _norm_dim, _tensor_val,
                       dim_text)
from .aten_common import aten, handles, _key, _arg

_INT_INDEX = (torch.int64, torch.int32)
_COPIES = (aten.clone, aten.alias, aten.detach, aten.lift_fresh_copy, aten.contiguous, aten._to_copy)
_RESHAPES = (aten.view, aten._unsafe_view, aten.reshape, aten.unsqueeze, aten.squeeze)


def _const_data(E, node):
    """The real tensor behind a constant operand, or None."""
    t = E.consts.get(node) if E.consts else None
    if t is None and node.op == "get_attr":
        obj = node.graph.owning_module
        for part in node.target.split("."):
            obj = getattr(obj, part, None)
        t = obj
    return t if isinstance(t, torch.Tensor) else None


def _ex(x):
    """A sympy expression for a size: int, SymInt, FX node or sympy already."""
    return x if isinstance(x, sympy.Basic) else _expr(x)


def _is_one(e):
    return sympy.expand(_ex(e) - 1) == 0


def _eq(a, b):
    return sympy.expand(_ex(a) - _ex(b)) == 0


def _shape(E, dims):
    return "[" + ", ".join(dim_text(_ex(d), E.syms) for d in dims) + "]"


def _position_in_data(t, n):
    """(p, start, m) when the tensor t (negative values counted from the end,
    as torch does) equals start + arange(m) along its dim p, broadcast along
    the others, with 0 <= start and start + m <= n; p is None when t is one
    value (m == 1)."""
    from torch._subclasses.fake_tensor import unset_fake_temporarily
    with unset_fake_temporarily():
        t = t.detach().to("cpu")
        if t.dtype not in _INT_INDEX or t.numel() == 0:
            raise Unsupported("index tensor dtype or size")
        if bool(((t < -n) | (t >= n)).any()):
            raise Unsupported("index out of range")
        t = torch.where(t < 0, t + n, t)  # torch's negative indices count from the end
        first = int(t.reshape(-1)[0])
        if bool((t == first).all()):
            return None, first, 1
        for p in range(t.dim()):
            m = t.shape[p]
            if m < 2 or first + m > n:
                continue
            shape = [1] * t.dim()
            shape[p] = m
            ref = (torch.arange(m, dtype=t.dtype) + first).reshape(shape).expand(t.shape)
            if torch.equal(t, ref):
                return p, first, m
    raise Unsupported("constant index is not a range of its dim")


def _position_in_graph(node, n, subst=None):
    """The same proof from the FX nodes that compute the index: an
    arange(start, end) moved by unsqueeze/view/expand, fully sliced, copied
    or offset by an int."""
    chain, x = [], node
    while True:
        if not isinstance(x, torch.fx.Node) or x.op != "call_function":
            raise Unsupported("index tensor is not made here from an arange")
        k = _key(x.target)
        if k is aten.arange:
            break
        if k in _COPIES or k in _RESHAPES or k in (aten.expand, aten.slice, aten.add):
            chain.append(x)
            x = x.args[0]
            continue
        raise Unsupported(f"index tensor made by {x.target}")
    if x.target is aten.arange.default:
        start, end, step = 0, x.args[0], 1
    else:
        start, end = x.args[0], x.args[1]
        step = _arg(x, 2, "step", 1)
    if not (isinstance(start, int) and isinstance(step, int) and step == 1):
        raise Unsupported("index arange with a symbolic start or a step")
    if _tensor_val(x).dtype not in _INT_INDEX:
        raise Unsupported("index arange dtype")
    m = _expr(end) - start
    one = _is_one(m)
    pos = 0
    for y in reversed(chain):
        k = _key(y.target)
        yv, xv = _tensor_val(y), _tensor_val(y.args[0])
        if yv.dtype not in _INT_INDEX:
            raise Unsupported("index converted to a non-index dtype")
        if k in _COPIES:
            dev = y.kwargs.get("device")
            if k is aten._to_copy and dev is not None and torch.device(dev).type != xv.device.type:
                raise Unsupported("index copied to another device")
        elif k is aten.add:
            other = y.args[1] if len(y.args) > 1 else None
            alpha = y.kwargs.get("alpha", 1)
            if not (isinstance(other, int) and not isinstance(other, bool) and alpha == 1):
                raise Unsupported("index offset by a tensor or a non-integer")
            start += other
        elif k is aten.slice:
            d = _norm_dim(int(_arg(y, 1, "dim", 0)), xv.dim())
            s, e, st = _arg(y, 2, "start"), _arg(y, 3, "end"), _arg(y, 4, "step", 1)
            full_end = e is None or (isinstance(e, int) and e >= _END_OF_DIM) or _eq(e, xv.shape[d])
            if s not in (None, 0) or st != 1 or not full_end:
                raise Unsupported("index sliced")
        elif k is aten.expand:
            pos += yv.dim() - xv.dim()
        elif not one:  # a reshape: the arange must be the only dim above 1, before and after
            if any(not _is_one(_expr(d)) for i, d in enumerate(xv.shape) if i != pos):
                raise Unsupported("reshape of a broadcast index")
            big = [i for i, d in enumerate(yv.shape) if not _is_one(_expr(d))]
            if len(big) != 1:
                raise Unsupported("index reshaped across dims")
            pos = big[0]
        if not one and not _eq(yv.shape[pos], m):
            raise Unsupported("index lost its arange dim")
    # (with the symbols export.unify_symbols tied: HF's mask of length s16
    # indexed by arange(s85 + 1), s16 -> s85 + 1)
    if start < 0 or not _nonneg((_expr(n) - start - m).xreplace(subst or {})):
        raise Unsupported("index range not inside its dim")
    return (None if one else pos), start, m


def _nonneg(e):
    e = sympy.expand(e)
    if e.is_number:
        return e >= 0
    return e.is_nonnegative is True


def _position(E, idx, n):
    t = _const_data(E, idx)
    if t is not None:
        if not isinstance(n, int):
            raise Unsupported("constant index of a symbolic dim")
        return _position_in_data(t, int(n))
    return _position_in_graph(idx, n, getattr(E.syms, "subst", None))


@handles(aten.index)
def _index(E, node):
    """x[i0, i1, ...] where each index is its dim's arange at one position of
    the broadcast shape: a permute (when the positions reorder x's dims), a
    reshape into the result's layout, and an expand over the broadcast dims
    that no index spans."""
    if node.target is not aten.index.Tensor:
        raise Unsupported("index overload")
    x, indices = node.args[0], list(node.args[1])
    xv, out = _tensor_val(x), _tensor_val(node)
    dims = [k for k, t in enumerate(indices) if t is not None]
    if not dims or len(indices) > xv.dim():
        raise Unsupported("index without index tensors")
    ivs = {k: _tensor_val(indices[k]) for k in dims}
    if any(v.dtype not in _INT_INDEX for v in ivs.values()):
        raise Unsupported("index by a bool or non-integer tensor (a gather or a mask)")
    R = max(v.dim() for v in ivs.values())
    adjacent = dims == list(range(dims[0], dims[-1] + 1))
    rest = [k for k in range(xv.dim()) if k not in dims]
    pre = [k for k in rest if k < dims[0]] if adjacent else []
    post = [k for k in rest if k not in pre]
    pos, ranges = {}, {}
    for k in dims:
        n = xv.shape[k]
        if isinstance(n, int) and n == 0:
            raise Unsupported("index of an empty dim")
        p, start, m = _position(E, indices[k], n)
        ranges[k] = (start, m)
        if p is not None:
            pos[k] = p + R - ivs[k].dim()
    if len(set(pos.values())) != len(pos):
        raise Unsupported("two indices on one position (a diagonal)")
    sizes = list(xv.shape)
    for k, (start, m) in ranges.items():
        sizes[k] = m
    block = [1] * R
    for k, p in pos.items():
        block[p] = sizes[k]
    shape = [sizes[k] for k in pre] + block + [sizes[k] for k in post]
    if len(shape) != out.dim():
        raise Unsupported("index result rank")
    for i, (a, b) in enumerate(zip(shape, out.shape)):
        in_block = len(pre) <= i < len(pre) + R
        if not (_eq(a, b) or (in_block and _is_one(a))):
            raise Unsupported("index result shape")
    order = pre + sorted(pos, key=pos.get) + [k for k in dims if k not in pos] + post
    ty = TIR_DTYPES[xv.dtype]
    cur = E.v(x)
    cur_shape = list(xv.shape)
    for k, (start, m) in sorted(ranges.items()):
        if start == 0 and _eq(m, xv.shape[k]):
            continue
        cur_shape[k] = m
        cur = E.tmp(f"slice({cur}, dim={k}, start={start}, end={dim_text(_ex(m) + start, E.syms)})",
                    ty + _shape(E, cur_shape), node.name + ".s")
    if order != list(range(xv.dim())):
        pshape = [cur_shape[k] for k in order]
        cur = E.tmp(f"permute({cur}, dims=[{', '.join(map(str, order))}])", ty + _shape(E, pshape),
                    node.name + ".perm")
    if all(_eq(a, b) for a, b in zip(shape, out.shape)):
        return E.emit(node, f"reshape({cur}, shape={E.shape(out.shape)})")
    cur = E.tmp(f"reshape({cur}, shape={_shape(E, shape)})", ty + _shape(E, shape), node.name + ".r")
    return E.emit(node, f"expand({cur}, shape={E.shape(out.shape)})")
