"""ATen lowerings of the creation ops (arange, full and friends, tril/triu),
embedding, native_dropout and scaled_dot_product_attention in its forms.
Registered with aten_common.handles; see aten_ops.py."""
import operator

import torch

from .tir_text import (TIR_DTYPES, Unsupported, _expr, _tensor_val, scalar_text)
from .aten_common import aten, handles, _key, _arg


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
