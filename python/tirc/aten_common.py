"""The handler registry of the ATen lowerings (aten_ops.py and the aten_*.py
group modules): `handles` registers a handler for its ops, handler_for finds
a node's, plus the helpers every group uses."""
import torch

from .tir_text import _expr


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


def _same_shape(a, b):
    return len(a.shape) == len(b.shape) and all(_expr(x) == _expr(y) for x, y in zip(a.shape, b.shape))
