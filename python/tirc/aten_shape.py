"""ATen lowerings of the shape and view ops (view/reshape, squeeze/unsqueeze,
expand, permute/transpose, slice/select, split/unbind, cat,
repeat_interleave), including recognizing a batched matmul that torch wrote
as reshapes around bmm (_raised_bmm).  Registered with aten_common.handles;
see aten_ops.py."""
import operator

import sympy
import torch

from .tir_text import (TIR_DTYPES, Unsupported, _END_OF_DIM, _expr, _norm_dim, _tensor_val, _val,
                       dim_text)
from .aten_common import aten, handles, _key, _arg, _same_shape


# shapes and views


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


def _sym_hint(x):
    h = getattr(x.node, "hint", None)
    return int(h) if h is not None else None


@handles(aten.slice, view=True)
def _slice(E, node):
    x = node.args[0]
    dim = _arg(node, 1, "dim", 0)
    start, end, step = _arg(node, 2, "start"), _arg(node, 3, "end"), _arg(node, 4, "step", 1)
    if isinstance(start, torch.fx.Node):  # a size computed in the graph: its SymInt
        start = _val(start)
    if isinstance(end, torch.fx.Node):
        end = _val(end)
    if isinstance(start, torch.SymInt) or isinstance(end, torch.SymInt):
        # A symbolic bound (a sliding-window cache keeps x[..., 1 - W:, :]
        # with W a SymInt): torch wraps a negative start and clamps, with
        # guards on the signs Dynamo took from the trace-time values, so the
        # start is normalized the way the hint went and the end follows from
        # the result's length in the metadata.
        xv, out = _tensor_val(x), _tensor_val(node)
        d = _norm_dim(int(dim), xv.dim())
        if step != 1:
            raise Unsupported("slice with a symbolic bound and a step")
        size, size_hint = _expr(xv.shape[d]), _hint_int(xv.shape[d])
        h = 0 if start is None else _hint_int(start)
        if h is None or size_hint is None:
            raise Unsupported("slice bound without a trace-time value")
        s0 = sympy.Integer(0) if start is None else _expr(start)
        if h < 0:
            s0 = s0 + size if h + size_hint >= 0 else sympy.Integer(0)
        e0 = s0 + _expr(out.shape[d])
        return E.emit(node, f"slice({E.v(x)}, dim={d}, start={dim_text(s0, E.syms)}, "
                            f"end={dim_text(e0, E.syms)})")
    return E.emit(node, _slice_text(E, E.v(x), dim, start, end, step))


def _hint_int(d):
    if isinstance(d, int):
        return d
    return _sym_hint(d)


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
