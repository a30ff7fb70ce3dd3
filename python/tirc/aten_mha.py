"""PyTorch's MHA / Transformer fast path, written as ATen ops tirc lowers.

In eval mode, without grad, nn.TransformerEncoderLayer (alone or in an
nn.TransformerEncoder) calls `aten._transformer_encoder_layer_fwd`, one
kernel for the whole layer, and nn.MultiheadAttention's own fast path calls
`aten._native_multi_head_attention` (Dynamo does not take that one in
torch 2.11 -- MHA.forward sees "make_fx tracing" and takes the slow path,
F.multi_head_attention_forward, which calls SDPA -- but the encoder layer's
kernel and direct calls do).  Torch has no decomposition for either, so they would
run in PyTorch whole.  The functions here are decompositions, entered in
the backend's decomposition table (compiler.decompositions()): aot_autograd
traces them into linear / sdpa / layer_norm / gelu / add, which the
exporter writes as TIR and the passes optimize like any other attention
(the mask is proven by simplify-sdpa: causal -> is_causal, key padding ->
a key mask).

The semantics are PyTorch's CPU kernels' (aten/src/ATen/native/transformers/
attention.cpp and transformer.cpp), checked against eager in
test/python/test_torch_mha.py:

- in-projection: q, k, v = split(linear(x, qkv_weight, qkv_bias)) per head
  (the kernel scales q by 1/sqrt(head_dim) before q @ k^T; sdpa scales the
  product, the same to rounding);
- the mask is read as bool, **nonzero / True = masked** (the kernel calls
  `mask.to(bool)`; a float mask is not added).  `mask_type` says its shape:
  0 = [L, S] (src_mask), 1 = [B, S] (key padding), 2 = [B, H, L, S]
  (merge_masks' sum of both, as float);
- need_weights=False: sdpa, then the out-projection; the second result is
  empty;
- need_weights=True: the written-out chain (scores, masked_fill(-inf),
  softmax, @ v) so the probabilities exist; the weights are
  sum(p, heads) / H (average_attn_weights) or p.  fuse-attention leaves the
  chain alone while the weights are used (the probabilities have two
  users);
- the encoder layer: [norm1] -> attention -> + src -> [norm1] -> [norm2] ->
  linear1 -> relu / gelu -> linear2 -> + residual -> [norm2], the norms
  before (norm_first) or after; gelu is exact on the CPU and tanh on CUDA,
  as the kernels' _addmm_activation computes it; dropout is absent (the
  fast path runs only in eval mode).

A row with no key (a fully padded sequence) is NaN in PyTorch's kernel and
0 once the attention is an sdpa in tirc (docs/attention.md, "fully masked
rows").

Masks (simplify_attention_masks, run by the compiler on the ATen graph
after constant folding; both rewrites give exactly the same mask):

- the float masks PyTorch hands the kernels are `masked_fill(zeros, bool,
  -inf)` (F._canonical_mask) or sums of those with a float causal mask.
  The decomposition reads them as bool, `masked_fill(zeros_like(m), m != 0,
  -inf)`, which simplify-sdpa could only take as one opaque factor.  Where
  the ops that make m prove every element 0 or -inf, adding m is the same
  as masking where it is nonzero, so m itself is passed and simplify-sdpa
  sees its parts (a causal mask -> is_causal, padding -> a key mask);
- nn.MultiheadAttention's slow path adds attn_mask and key_padding_mask over
  [B*H, L, S] and views the sum as [B, H, L, S]; that view is pushed through
  the add (_split_batch_of_sum), for the same reason."""
import math

import torch
from torch._subclasses.fake_tensor import unset_fake_temporarily

aten = torch.ops.aten

NEG_INF = float("-inf")


def _shaped(mask, mask_type, batch, tgt, src):
    """The fast-path mask as a tensor that broadcasts to the scores [B, H, L, S]
    (still nonzero / True = masked), by its mask_type."""
    if mask is None:
        return None
    if mask_type == 0:
        mask = mask.reshape(1, 1, tgt, src)
    elif mask_type == 1:
        mask = mask.reshape(batch, 1, 1, src)
    # mask_type 2 (or None): [B, H, L, S] already; broadcasting does the rest
    return mask


def _sdpa_mask(mask, dtype):
    """sdpa's mask for a fast-path mask (nonzero / True = masked): a bool
    mask becomes its negation (True = attend); a float one the -inf mask of
    its nonzero elements, `masked_fill(zeros_like(m), m != 0, -inf)`, which
    simplify_fast_path_masks turns back into m when m is provably 0 / -inf."""
    if mask.dtype == torch.bool:
        return torch.logical_not(mask)
    zeros = torch.zeros_like(mask, dtype=dtype)
    return zeros.masked_fill(mask != 0, NEG_INF)


def _heads(t, batch, heads):
    # [B, T, H * Dh] -> [B, H, T, Dh]
    return t.reshape(batch, t.shape[1], heads, t.shape[2] // heads).transpose(1, 2)


def native_multi_head_attention(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias,
                                proj_weight, proj_bias, mask=None, need_weights=True,
                                average_attn_weights=True, mask_type=None):
    batch, tgt, src = query.shape[0], query.shape[1], key.shape[1]
    if query is key and key is value:
        q, k, v = torch.nn.functional.linear(query, qkv_weight, qkv_bias).chunk(3, dim=-1)
    else:
        wq, wk, wv = qkv_weight.chunk(3, dim=0)
        bq, bk, bv = qkv_bias.chunk(3, dim=0)
        q = torch.nn.functional.linear(query, wq, bq)
        k = torch.nn.functional.linear(key, wk, bk)
        v = torch.nn.functional.linear(value, wv, bv)
    q, k, v = _heads(q, batch, num_head), _heads(k, batch, num_head), _heads(v, batch, num_head)
    m = _shaped(mask, mask_type, batch, tgt, src)
    if not need_weights:
        attn_mask = None if m is None else _sdpa_mask(m, q.dtype)
        ctx = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        weights = query.new_zeros(0)
    else:
        scale = 1.0 / math.sqrt(embed_dim // num_head)
        scores = torch.matmul(q * scale, k.transpose(-2, -1))
        if m is not None:
            scores = scores.masked_fill(m if m.dtype == torch.bool else m != 0, NEG_INF)
        p = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(p, v)
        weights = p.sum(dim=1) / num_head if average_attn_weights else p
    ctx = ctx.transpose(1, 2).reshape(batch, tgt, embed_dim)
    return torch.nn.functional.linear(ctx, proj_weight, proj_bias), weights


def transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight,
                                  proj_bias, use_gelu, norm_first, eps, norm_weight_1,
                                  norm_bias_1, norm_weight_2, norm_bias_2, ffn_weight_1,
                                  ffn_bias_1, ffn_weight_2, ffn_bias_2, mask=None,
                                  mask_type=None):
    F = torch.nn.functional
    if src.numel() == 0:
        return src.clone()

    def norm(x, w, b):
        return F.layer_norm(x, (embed_dim,), w, b, eps)

    x = norm(src, norm_weight_1, norm_bias_1) if norm_first else src
    x = native_multi_head_attention(x, x, x, embed_dim, num_heads, qkv_weight, qkv_bias,
                                    proj_weight, proj_bias, mask, False, True, mask_type)[0]
    x = x + src
    if not norm_first:
        x = norm(x, norm_weight_1, norm_bias_1)
    res = x
    if norm_first:
        x = norm(x, norm_weight_2, norm_bias_2)
    h = F.linear(x, ffn_weight_1, ffn_bias_1)
    # the kernel's _addmm_activation: exact gelu on the CPU, tanh on CUDA (cuBLASLt's epilogue)
    h = F.gelu(h, approximate="tanh" if h.is_cuda else "none") if use_gelu else F.relu(h)
    x = F.linear(h, ffn_weight_2, ffn_bias_2) + res
    if not norm_first:
        x = norm(x, norm_weight_2, norm_bias_2)
    return x


def register_fake_kernels():
    """A fake (shape) kernel for _transformer_encoder_layer_fwd, which torch
    2.11 lacks.  FakeTensorMode then runs the real kernel on zeros, which
    works for static shapes only: with symbolic ones (dynamic=True) Dynamo
    breaks the graph at the layer and it runs in PyTorch.  The result has
    src's shape and dtype.  Only fake tensors see this (eager runs are
    untouched); nothing is registered where torch has a Meta kernel."""
    op = getattr(aten, "_transformer_encoder_layer_fwd", None)
    if op is None or not hasattr(op, "default"):
        return False
    name = op.default.name()
    try:
        if torch._C._dispatch_has_kernel_for_dispatch_key(name, "Meta"):
            return False
        from torch._library.simple_registry import singleton
        if singleton.find(name).fake_impl.kernel is not None:
            return False
        torch.library.register_fake(name)(
            lambda src, *args, **kwargs: torch.empty_like(src, memory_format=torch.contiguous_format))
    except Exception:  # noqa: BLE001 - an older or newer torch: dynamic shapes graph-break as before
        return False
    return True


def decompositions():
    """The fast-path ops and their decompositions, for the backend's table."""
    table = {}
    for name, fn in (("_native_multi_head_attention", native_multi_head_attention),
                     ("_transformer_encoder_layer_fwd", transformer_encoder_layer_fwd)):
        op = getattr(aten, name, None)
        if op is not None and hasattr(op, "default"):
            table[op.default] = fn
    return table


# ----------------------------------------------------------------- masks

_PASS_THROUGH = {"view", "_unsafe_view", "reshape", "expand", "unsqueeze", "squeeze", "clone",
                 "alias", "permute", "transpose", "t", "contiguous", "slice", "select", "tril",
                 "triu", "_to_copy", "lift_fresh_copy", "detach"}
_ZERO_MAKERS = {"zeros", "zeros_like", "new_zeros"}
_FULL_MAKERS = {"full": 1, "full_like": 1, "new_full": 2, "scalar_tensor": 0}


def _zero_or_masking(v):
    return isinstance(v, (int, float)) and (v == 0 or v == NEG_INF)


def _name(node):
    t = node.target
    return getattr(getattr(t, "overloadpacket", None), "__name__", None)


def _attr(gm, target):
    """The object a get_attr node names ("a.b.c" under gm), or None."""
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part, None)
    return obj


def zero_or_neg_inf(node, gm, depth=0):
    """Is every element of the float FX value `node` 0 or -inf, by the ops
    that make it (or by its data, for a constant)?  Then adding it to the
    scores masks exactly where it is nonzero."""
    if not isinstance(node, torch.fx.Node) or depth > 64:
        return False
    v = node.meta.get("val")
    if not isinstance(v, torch.Tensor) or not v.dtype.is_floating_point:
        return False
    if node.op == "get_attr":
        t = _attr(gm, node.target)
        if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point:
            return False
        with unset_fake_temporarily():
            return bool(((t == 0) | (t == NEG_INF)).all())
    if node.op != "call_function":
        return False
    name = _name(node)
    args = node.args
    if name in _ZERO_MAKERS:
        return True
    if name in _FULL_MAKERS:
        i = _FULL_MAKERS[name]
        return len(args) > i and _zero_or_masking(args[i])
    if name in _PASS_THROUGH:
        return zero_or_neg_inf(args[0], gm, depth + 1)
    if name == "masked_fill" and node.target == aten.masked_fill.Scalar:
        return _zero_or_masking(args[2]) and zero_or_neg_inf(args[0], gm, depth + 1)
    if name == "add" and node.target == aten.add.Tensor and node.kwargs.get("alpha", 1) == 1:
        return all(zero_or_neg_inf(a, gm, depth + 1) for a in args[:2])
    if name == "where" and node.target == aten.where.self:
        return all(zero_or_neg_inf(a, gm, depth + 1) for a in args[1:3])
    return False


def _mask_slot(node):
    """Where an sdpa node holds its mask: ("args", i) or ("kwargs", name), or None."""
    from .aten_attention import SDPA_FORMS
    key = getattr(node.target, "overloadpacket", None)
    if node.op != "call_function" or key not in SDPA_FORMS:
        return None
    i = SDPA_FORMS[key][0]
    if i is not None and len(node.args) > i:
        return ("args", i)
    for name in ("attn_mask", "attn_bias"):
        if name in node.kwargs:
            return ("kwargs", name)
    return None


def _static(shape):
    return all(isinstance(d, int) for d in shape)


def _new_node(gm, before, target, args, val_fn):
    with gm.graph.inserting_before(before):
        n = gm.graph.call_function(target, args)
    n.meta = dict(before.meta)
    n.meta["val"] = val_fn()
    return n


def _split_batch_of_sum(gm, sdpa, mask):
    """nn.MultiheadAttention's slow path (F.multi_head_attention_forward)
    merges attn_mask and key_padding_mask as a float sum over [B*H, L, S]
    and views it as [B, H, L, S] for sdpa:

        view(add(causal[1, L, S], view(expand(kpm[B, 1, 1, S]), [B*H, 1, S])), [B, H, L, S])

    simplify-sdpa reads a sum as factors, but not through that view, which
    merges B and H.  Splitting dim 0 commutes with an elementwise add, so this
    writes add(view(a), view(b)) instead, each operand viewed on its own
    ([1, L, S] -> [1, 1, L, S]; a [B*H, l, s] view of a [B, H, l, s] value ->
    that value): exactly the same mask, whose parts simplify-sdpa now sees
    (causal -> is_causal, the padding -> a [B, 1, 1, S] key mask).  Static
    shapes only.  Returns the new mask node or None."""
    if mask.op != "call_function" or mask.target not in _VIEWS:
        return None
    x = mask.args[0]
    if not isinstance(x, torch.fx.Node) or x.target != aten.add.Tensor or \
            x.kwargs.get("alpha", 1) != 1 or len(x.args) != 2:
        return None
    xv, mv = x.meta.get("val"), mask.meta.get("val")
    if not isinstance(xv, torch.Tensor) or not isinstance(mv, torch.Tensor) or \
            xv.dim() != 3 or mv.dim() != 4 or not _static(xv.shape) or not _static(mv.shape):
        return None
    b, h, l, s = mv.shape
    if xv.shape[0] != b * h or tuple(xv.shape[1:]) != (l, s):
        return None
    operands = []
    for o in x.args:
        ov = o.meta.get("val") if isinstance(o, torch.fx.Node) else None
        if not isinstance(ov, torch.Tensor) or not _static(ov.shape) or ov.dtype != xv.dtype:
            return None
        if ov.dim() < 3:
            operands.append(o)  # broadcast from the right: the same in 4-D
            continue
        shape = list(ov.shape)
        src = o.args[0] if o.op == "call_function" and o.target in _VIEWS else None
        sv = src.meta.get("val") if isinstance(src, torch.fx.Node) else None
        if isinstance(sv, torch.Tensor) and sv.dim() == 4 and _static(sv.shape) and \
                list(sv.shape) == [b, h] + shape[1:] and sv.dtype == ov.dtype:
            operands.append(src)
        elif shape[0] in (1, b * h):
            new = [1, 1] if shape[0] == 1 else [b, h]
            new += shape[1:]
            operands.append(_new_node(gm, sdpa, aten.reshape.default, (o, new),
                                      lambda o=ov, n=new: o.reshape(n)))
        else:
            return None
    a, c = operands
    av = a.meta["val"]
    cv = c.meta["val"]
    return _new_node(gm, sdpa, aten.add.Tensor, (a, c), lambda: av + cv)


_VIEWS = (aten.view.default, aten._unsafe_view.default, aten.reshape.default)


def _same_size(a, b):
    """Two sizes (ints or SymInts) known equal without a guard."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    ea, eb = getattr(getattr(a, "node", None), "expr", a), getattr(getattr(b, "node", None), "expr", b)
    try:
        return bool(ea == eb)
    except Exception:  # noqa: BLE001 - sympy could not decide
        return False


# PyTorch's CUDA sdpa writes a bool mask m as where(m, 0, fill) before its
# fused kernels: fill -inf for the memory-efficient kernel, -65504 (f16's
# lowest finite value, also for bf16) for cuDNN's.
_CUDNN_FILL = -65504.0


def _scalar_value(gm, x):
    """The value of a 0-d constant operand (a number, scalar_tensor, full([]),
    a 0-d lifted constant), else None."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    if not isinstance(x, torch.fx.Node):
        return None
    if x.op == "call_function" and x.target == aten.scalar_tensor.default:
        return float(x.args[0]) if isinstance(x.args[0], (int, float)) else None
    if x.op == "call_function" and x.target == aten.full.default and list(x.args[0]) == []:
        return float(x.args[1]) if isinstance(x.args[1], (int, float)) else None
    if x.op == "get_attr":
        obj = _attr(gm, x.target)
        if isinstance(obj, torch.Tensor) and obj.dim() == 0:
            with unset_fake_temporarily():
                return float(obj.item())
    return None


def _bool_mask_of_converted(gm, sdpa, mask):
    """PyTorch's CUDA scaled_dot_product_attention turns a bool mask m into
    an additive one before its fused kernels, and for the memory-efficient
    kernel also pads the last dim to a multiple of 8 and slices it back, then
    expands to [B, H, L, S] (ATen's convert_boolean_attn_mask[_cudnn] and
    preprocess_mask; seen in the graphs an H100 run hands the backend):

        expand(slice(constant_pad_nd(
            where(m, scalar_tensor(0), scalar_tensor(fill)), [0, p], 0), -1, 0, S), [B, H, L, S])

    The pad appends p columns on the right and the slice reads columns
    [0, S) of the result, S being the size before the pad: exactly the
    additive mask again.  expand only broadcasts, which sdpa does itself.
    With fill = -inf (the memory-efficient kernel's), the additive mask is
    the same mask as m inside sdpa (a row that keeps no key gives 0 either
    way, spec section 5).  With cuDNN's fill -65504 in f16/bf16, this reads
    back the bool mask the user passed, which PyTorch wrote with a finite
    value for its kernel: the two differ only where a masked score would
    exceed a kept one by more than ~65,000 (then exp(-65504 + d) is not 0 in
    f32) and on rows that keep no key (cuDNN averages V there, sdpa gives
    0).  docs/torch.md states this deviation.  Returns m, or None when the
    mask is not this chain."""
    node = mask
    if node.op == "call_function" and node.target == aten.expand.default:
        node = node.args[0]
    if isinstance(node, torch.fx.Node) and node.op == "call_function" and \
            node.target == aten.slice.Tensor:
        a = list(node.args) + [None] * (5 - len(node.args))
        pad, dim, start, _end, step = a[:5]
        if not (isinstance(pad, torch.fx.Node) and pad.op == "call_function" and
                pad.target == aten.constant_pad_nd.default):
            return None
        sv = node.meta.get("val")
        src = pad.args[0]
        srcv = src.meta.get("val") if isinstance(src, torch.fx.Node) else None
        if not all(isinstance(t, torch.Tensor) for t in (sv, srcv)):
            return None
        last = srcv.dim() - 1
        widths = list(pad.args[1])
        if dim not in (-1, last) or start not in (None, 0) or step not in (None, 1) or \
                len(widths) != 2 or not _same_size(widths[0], 0) or sv.dim() != srcv.dim() or \
                not _same_size(sv.shape[-1], srcv.shape[-1]):
            return None
        node = src
    if not (isinstance(node, torch.fx.Node) and node.op == "call_function" and
            node.target == aten.where.self):
        return None
    m, zero, fill = node.args[:3]
    mv, wv = (m.meta.get("val") if isinstance(m, torch.fx.Node) else None), node.meta.get("val")
    if not isinstance(mv, torch.Tensor) or mv.dtype != torch.bool or \
            not isinstance(wv, torch.Tensor) or not wv.dtype.is_floating_point:
        return None
    f = _scalar_value(gm, fill)
    if _scalar_value(gm, zero) != 0.0 or f is None:
        return None
    cudnn = getattr(sdpa.target, "overloadpacket", None) is aten._scaled_dot_product_cudnn_attention
    if not (f == NEG_INF or (f == _CUDNN_FILL and cudnn and wv.dtype in (torch.float16, torch.bfloat16))):
        return None
    return m


def _rewrite_masks(gm, rewrite):
    """Gives each sdpa the mask rewrite(gm, sdpa, mask) returns (None: keeps
    its own).  Returns the number of masks replaced."""
    n = 0
    for node in list(gm.graph.nodes):
        slot = _mask_slot(node)
        if slot is None:
            continue
        kind, where = slot
        mask = node.args[where] if kind == "args" else node.kwargs[where]
        if not isinstance(mask, torch.fx.Node):
            continue
        new = rewrite(gm, node, mask)
        if new is None:
            continue
        if kind == "args":
            node.args = node.args[:where] + (new,) + node.args[where + 1:]
        else:
            kw = dict(node.kwargs)
            kw[where] = new
            node.kwargs = kw
        n += 1
    return n


def _cleanup(gm, n):
    if n:
        gm.graph.eliminate_dead_code()
        gm.recompile()
    return n


def simplify_attention_masks(gm):
    """Masks of sdpa ops that simplify-sdpa could not take apart as PyTorch
    writes them (see _split_batch_of_sum and the fast path's bool reading,
    above); rewritten to the same masks in forms it reads.  Returns the
    number of masks rewritten."""
    n = _rewrite_masks(gm, _split_batch_of_sum)
    return _cleanup(gm, n + simplify_fast_path_masks(gm))


def read_back_bool_masks(gm):
    """Gives each sdpa whose mask is PyTorch's CUDA conversion of a bool mask
    (_bool_mask_of_converted) the bool mask itself.  Runs before constant
    folding, so that a mask built from constants (HF's causal mask) folds as
    bool data, which the prover reads.  Returns the number of masks replaced."""
    return _cleanup(gm, _rewrite_masks(gm, _bool_mask_of_converted))


def simplify_fast_path_masks(gm):
    """`masked_fill(zeros_like(m), ne(m, 0), -inf)` -> m where m is every
    element 0 or -inf (then both are the same mask, and m's parts -- a causal
    mask, a key padding mask -- are visible to simplify-sdpa).  Returns the
    number of masks replaced."""
    n = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target != aten.masked_fill.Scalar:
            continue
        base, cond, value = node.args[:3]
        if value != NEG_INF or not isinstance(base, torch.fx.Node) or \
                not isinstance(cond, torch.fx.Node):
            continue
        if base.target != aten.zeros_like.default or cond.target != aten.ne.Scalar:
            continue
        m = base.args[0]
        if cond.args[0] is not m or cond.args[1] != 0 or not isinstance(m, torch.fx.Node):
            continue
        mv, nv = m.meta.get("val"), node.meta.get("val")
        # zeros_like(m) has m's shape, and so has the masked_fill; the dtype may differ
        if not isinstance(mv, torch.Tensor) or not isinstance(nv, torch.Tensor) or \
                mv.dtype != nv.dtype:
            continue
        if not zero_or_neg_inf(m, gm):
            continue
        node.replace_all_uses_with(m)
        n += 1
    return n
