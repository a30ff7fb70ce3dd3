"""ATen op handlers: how each supported ATen op is written in TIR.

A handler takes the Emitter and one FX node, writes TIR lines from the
node's arguments and fake-tensor metadata, and returns the value's name; it
raises Unsupported for a form it cannot write (export.node_supported runs
handlers on a throwaway emitter to decide support).  Multi-output ops
(native_layer_norm, split, native_dropout, the _scaled_dot_product_* ops)
write nothing themselves; their getitem users write each result.

The handlers live in groups (aten_elementwise, aten_nn, aten_shape,
aten_attention, aten_index), registered in aten_common's table when imported here; this
module adds getitem (multi-output ops) and is_view_node, and is what the
exporter imports."""
import operator

import torch

from .tir_text import Unsupported
from .aten_common import HANDLERS, VIEW_OPS, _key, aten, handler_for, handles  # noqa: F401
from . import aten_elementwise  # noqa: F401  (registers its handlers)
from . import aten_index  # noqa: F401  (registers its handlers)
from .aten_nn import _layer_norm_item
from .aten_shape import _raised_bmm, _split_item
from .aten_attention import SDPA_FORMS, _dropout_item, _sdpa_text

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
