"""tirc as a torch.compile backend.

    import torch, tirc
    model = torch.compile(model, backend="tirc")

Importing the package registers the backend with Dynamo; an installed package
is also found through the `torch_dynamo_backends` entry point.  See
docs/torch.md for options, what is supported, and how graphs are split;
`tirc.explain()` reports what became of each graph (attention fused or
not, ops left to PyTorch)."""
from . import _lib
from .compiler import backend, compiled_graphs, decompositions, reset, tirc_backend
from .report import Explanation, explain
from .export import Unsupported

__all__ = ["backend", "tirc_backend", "compiled_graphs", "decompositions", "explain", "reset",
           "version", "Explanation", "Unsupported"]


def version():
    """libtirc's version."""
    return _lib.version()


def _register():
    # With the entry point, Dynamo loads this module while it registers
    # "tirc" itself (and asserts the name is new), so register only when the
    # entry point is not what brought us here.
    from torch._dynamo.backends import registry
    if "tirc" in registry._COMPILER_FNS or registry._BACKENDS.get("tirc") is not None:
        return
    registry.register_backend(compiler_fn=backend, name="tirc")


_register()
