"""The torch.compile backend: `torch.compile(model, backend="tirc")`.

Dynamo hands over a Torch-level FX graph and real example inputs.  We run
aot_autograd with DECOMPOSITIONS to get the graph at the ATen level, then in
the forward compiler:
  1. mark each node supported or not (export.node_supported),
  2. partition with torch.fx's CapabilityBasedPartitioner; each supported
     region becomes a submodule that we replace with a TircPartition (one
     compiled TIR module), everything else runs in PyTorch as traced,
  3. log once which ops stayed in PyTorch.
The backward graph (when autograd needs one) runs in PyTorch: see
docs/torch.md, "Autograd".
"""
import logging
import os
import re
import sys
import threading
import time
import weakref

import torch
import torch.fx
from torch._dynamo.backends.common import aot_autograd
from torch._subclasses.fake_tensor import unset_fake_temporarily
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.operator_support import OperatorSupport

from . import _lib, aten_mha, cache
from .export import Unsupported, export_graph, is_view_node, node_supported, unify_symbols

log = logging.getLogger("tirc")
aten = torch.ops.aten
aten_mha.register_fake_kernels()  # dynamic shapes through nn.TransformerEncoderLayer's fast path

# The fixed decomposition table (docs/torch.md lists it): ops that aot_autograd
# would otherwise keep whole and that TIR writes as their parts.
_DECOMPOSE = [
    "hardswish", "hardsigmoid", "leaky_relu", "elu", "celu", "selu", "softplus", "mish", "glu",
    "hardtanh", "relu6",
    "addcmul", "addcdiv", "lerp", "logsumexp", "norm",
    "linalg_vector_norm", "rms_norm", "_fused_rms_norm", "split_with_sizes_copy", "split_copy",
    "unbind_copy", "silu_backward", "gelu_backward",
]


def decompositions():
    from torch._decomp import get_decompositions
    # by name: an op this torch lacks is skipped
    ops = [getattr(aten, name) for name in _DECOMPOSE if hasattr(aten, name)]
    table = get_decompositions(ops)
    # PyTorch's MHA / Transformer fast path, which torch does not decompose (aten_mha.py)
    table.update(aten_mha.decompositions())
    return table


DEFAULT_OPTIONS = {
    "target": None,        # "cpu" | "cuda"; default: where the inputs are
    "arch": None,          # "sm_80" .. "sm_90"; default: the GPU's
    "sdpa_kernel": None,   # "flash" | "mem_efficient" | "math"
    "passes": None,        # None: tirc's default pipeline
    "dump_ir": False,      # True: log the IR after every pass; a path: write files there
    "cache_dir": None,     # default $TIRC_TORCH_CACHE or ~/.cache/tirc/torch
    "fallback": True,      # False: an op, region or run that would run in PyTorch raises instead;
                           # "ops": only ops with no TIR form may run in PyTorch
    "wide_outputs": None,  # None: on CUDA, large unaligned product outputs come back as strided
                           # views of a wider result; True: every unaligned one; False: never
    "time_passes": os.environ.get("TIRC_TIME_PASSES", "") not in ("", "0"),
                           # True: print each graph's compile time by phase to stderr, with
                           # tirc's own table (as `tirc --time-passes`) for each region
    "cuda_graphs": os.environ.get("TIRC_CUDA_GRAPHS", "") not in ("", "0"),
                           # True: a region called again on the same CUDA buffers and shapes
                           # replays a CUDA graph of its run (one launch; same results)
}

_reported = set()
_reported_lock = threading.Lock()
_records = []  # every compiled partition (tests and users read them: compiled_graphs())
_graphs = []   # a _GraphInfo per graph Dynamo handed us (tirc.explain() reads them)


def compiled_graphs():
    """Records of every partition compiled in this process, oldest first:
    objects with .tir (exported text), .ir (optimized IR), .dump, .target."""
    return list(_records)


def reset():
    """Forget the records, the graph summaries (tirc.explain) and the
    once-only log memory (for tests)."""
    _records.clear()
    _graphs.clear()
    with _reported_lock:
        _reported.clear()


def _log_once(key, level, msg, *args):
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    log.log(level, msg, *args)


class _Support(OperatorSupport):
    def __init__(self, subst=None):
        super().__init__()
        self.reasons = {}
        self.subst = subst or {}  # the whole graph's unified symbols (export.unify_symbols)

    def is_node_supported(self, submodules, node):
        ok, why = node_supported(node, self.subst)
        # SymInt arithmetic (sizes) is not a tensor op: it stays in Python silently
        v = node.meta.get("val")
        if not ok and node.op == "call_function" and isinstance(v, (torch.Tensor, list, tuple)):
            self.reasons[node] = why
        return ok


def _op_name(node):
    t = node.target
    return str(t) if not hasattr(t, "name") else t.name()


def _arch_for(device):
    major, minor = torch.cuda.get_device_capability(device)
    sm = major * 10 + minor
    for a in (90, 89, 86, 80):
        if sm >= a:
            return f"sm_{a}"
    return "sm_80"


class _Record:
    def __init__(self, tir, ir, dump, target, cache_hit, arch=None, passes=None, sdpa_kernel=None,
                 timings=None):
        self.tir, self.ir, self.dump, self.target, self.cache_hit = tir, ir, dump, target, cache_hit
        self.arch, self.passes, self.sdpa_kernel = arch, passes, sdpa_kernel  # as compiled
        self.timings = timings  # tirc's compile-time table (option time_passes), else None


_TRACE_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


class _GraphInfo:
    """What became of one graph Dynamo handed to the backend: its tirc
    regions, the ops left to PyTorch and why (tirc.explain reads these)."""

    def __init__(self, gm, example_inputs):
        self.index = len(_graphs)
        try:
            cid = torch._guards.CompileContext.current_compile_id()
        except Exception:  # noqa: BLE001 - only a label
            cid = None
        self.compile_id = str(cid) if cid is not None else None
        self.params = [weakref.ref(x) for x in example_inputs if isinstance(x, torch.nn.Parameter)]
        self.frames = set()   # (file, function) of the user code the graph was traced from
        first = {}
        for n in gm.graph.nodes:
            st = n.meta.get("stack_trace")
            if not st:
                continue
            fr = _TRACE_FRAME.findall(st)
            for f, _line, fn in fr:
                self.frames.add((f, fn))
            if fr:  # the traced frame, or the first forward under it (past decorators)
                lab = next((f for f in fr if f[2] == "forward"), fr[0])
                first[lab] = first.get(lab, 0) + 1
        top = max(first, key=first.get) if first else None
        self.origin = f"{top[2]} ({os.path.basename(top[0])}:{top[1]})" if top else None
        self.regions = []     # dicts: name, record, partition (weakref) or error
        self.left = {}        # op name -> {"count": nodes, "reasons": set of reasons}
        self.backward = False  # aot_autograd asked for a backward graph (runs in PyTorch)
        self.compiled = False  # the forward reached compile_aten_graph (Dynamo may retrace first)
        # seconds by phase: aot_autograd (trace + decompose), partition, export, tirc
        # (libtirc: passes, kernels, NVRTC), total (the backend call, first to last)
        self.times = {}

    def add_time(self, phase, seconds):
        self.times[phase] = self.times.get(phase, 0.0) + seconds


class TircPartition(torch.nn.Module):
    """One supported region, compiled to a TIR module; called like the FX
    submodule it replaces (same inputs, same outputs)."""

    def __init__(self, sub, consts, opts, device):
        super().__init__()
        self.stale_const = None  # the buffer that changed, after which this runs in PyTorch
        self.eager = sub  # kept to run when a constant buffer changed
        graph = sub.graph
        self.placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        out = next(n for n in graph.nodes if n.op == "output")
        outs = out.args[0]
        self.tuple_out = isinstance(outs, (tuple, list))
        outs = list(outs) if self.tuple_out else [outs]
        # Outputs that are views: compute their root in tirc, replay the views in
        # torch so strides and aliasing are exactly what aot_autograd expects.
        self.out_plan, roots = [], []
        for o in outs:
            chain, r = [], o
            while is_view_node(r):
                chain.append(r)
                r = r.args[0]
            chain.reverse()
            if r.op == "placeholder":
                self.out_plan.append(("input", r, chain))
            else:
                if r not in roots:
                    roots.append(r)
                self.out_plan.append(("root", roots.index(r), chain))
        # placeholder -> [data_ptr, version, the values compiled in] when exported as
        # a constant.  The values are kept because a buffer may be rewritten with
        # the same values (DDP broadcasts its buffers before every forward).
        self.consts = {}
        for ph, t in consts.items():
            self.consts[ph] = [t.data_ptr(), t._version, t.detach().clone()]
        wide = opts["wide_outputs"]
        pad = ("any" if wide else False) if wide is not None else (
            device.type == "cuda" and (opts["target"] or "cuda") == "cuda")
        subst = getattr(sub, "_tirc_subst", None)
        info = getattr(sub, "_tirc_info", None)
        t0 = time.perf_counter()
        exp = export_graph(graph, roots, consts, cache.const_dir(opts), pad_products=pad, subst=subst)
        self.exported = exp
        t1 = time.perf_counter()
        self.module, rec = _compile(exp, opts, device)
        if info is not None:
            info.add_time("export", t1 - t0)
            info.add_time("tirc", time.perf_counter() - t1)
        unfused = [n for n in exp.safe_softmax if f"%{n} = softmax(" in self.module.ir]
        if unfused:
            # _safe_softmax that fuse-attention did not absorb: write those exactly
            _records.remove(rec)
            exp = export_graph(graph, roots, consts, cache.const_dir(opts),
                               exact_safe_softmax=set(unfused), pad_products=pad, subst=subst)
            self.exported = exp
            self.module, rec = _compile(exp, opts, device)
        self.arg_pos = [self.placeholders.index(a) for a in exp.args]
        self.record = rec
        self.uses_dropout = exp.uses_dropout
        # eager's memory format for each computed output (channels_last in, channels_last out)
        self.layouts = [None if i in exp.padded else _layout_of(r.meta.get("val"))
                        for i, r in enumerate(roots)]
        self.fallback = opts["fallback"] is True
        self.failed = None  # the run-time error after which the region runs in PyTorch
        self.region = getattr(sub, "_tirc_region", "?")

    def _sym_values(self, args):
        """Values of the symbols, from the inputs' actual shapes (or SymInt
        inputs) against their fake shapes: a dim that is a symbol, or a
        symbol plus or times a constant (a cache length s + 1).  Keys are
        the graph's own symbols (before unification); None when two
        symbols unified at export (export.unify_symbols) differ in this call."""
        env = {}
        for ph, a in zip(self.placeholders, args):
            v = ph.meta.get("val")
            if isinstance(v, torch.SymInt):
                _bind(v.node.expr, int(a), env)
            elif isinstance(v, torch.Tensor) and isinstance(a, torch.Tensor):
                for d, n in zip(v.shape, a.shape):
                    if isinstance(d, torch.SymInt):
                        _bind(d.node.expr, int(n), env)
        for s, e in self.exported.unified.items():  # s = e was assumed at export
            if s not in env:
                continue
            if e.free_symbols <= set(env):
                if int(e.xreplace(env)) != env[s]:
                    return None
            else:
                _bind(e, env[s], env)  # a symbol only s's input carries
        return env

    def forward(self, *args):
        if self.failed is not None:
            return self.eager(*args)
        try:
            return self._run(args)
        except Exception as e:  # noqa: BLE001 - any failure of the tirc path falls back
            if not self.fallback:
                raise
            self.failed = e
            _log_once(("run-fail", id(self)), logging.WARNING,
                      "tirc: region %s failed at run time and runs in PyTorch from now on: "
                      "%s: %s", self.region, type(e).__name__, e)
            return self.eager(*args)

    def _run(self, args):
        for ph, c in self.consts.items():
            a = args[self.placeholders.index(ph)]
            if a.data_ptr() == c[0] and a._version == c[1]:
                continue
            if _same_bits(a, c[2]):  # rewritten with the same values: still the constant
                c[0], c[1] = a.data_ptr(), a._version
                continue
            self.stale_const = ph.name
            _log_once(("const-changed", id(self)), logging.WARNING,
                      "tirc: buffer %s changed since it was compiled in as a constant; "
                      "this graph now runs in PyTorch", ph.name)
            return self.eager(*args)
        tensors = [args[i] for i in self.arg_pos]
        # PyTorch lets CPU tensors meet CUDA ones in some ops (0-d scalars,
        # CPU index tensors: Mistral's sliding-window cache indexes CUDA K/V
        # with CPU positions); libtirc takes one device per call, so they
        # move to the GPU (a small copy), and so do the size carriers below.
        cuda = next((t.device for t in tensors
                     if isinstance(t, torch.Tensor) and t.device.type == "cuda"), None)
        if cuda is not None:
            tensors = [t.to(cuda) if isinstance(t, torch.Tensor) and t.device.type == "cpu"
                       else t for t in tensors]
        if self.exported.sym_inputs or self.exported.unified:
            env = self._sym_values(args)
            if env is None:  # sizes the compiled module took as equal differ in this call
                _log_once(("unified-differ", id(self)), logging.WARNING,
                          "tirc: region %s was compiled for equal sizes (%s) that differ in this "
                          "call; such calls run in PyTorch", self.region,
                          ", ".join(f"{a} = {b}" for a, b in self.exported.unified.items()))
                return self.eager(*args)
            dev = cuda or torch.device("cpu")
            for s in self.exported.sym_inputs:
                if s not in env:
                    raise RuntimeError(f"tirc: cannot find the value of symbol {s}")
                tensors.append(torch.empty((env[s], 0), dtype=torch.uint8, device=dev))
        seed = int(torch.randint(0, 2 ** 62, ())) if self.uses_dropout else 0
        with torch.no_grad():
            res = self.module.run(tensors, seed, layouts=self.layouts)
        outs = []
        for kind, what, chain in self.out_plan:
            val = args[self.placeholders.index(what)] if kind == "input" else res[what]
            if kind == "root" and what in self.exported.padded:  # computed wide: a strided view
                val = val[:, :self.exported.padded[what]]
            if chain:
                val = _replay(chain, val, self.placeholders, args)
            outs.append(val)
        return tuple(outs) if self.tuple_out else outs[0]


def _bind(e, n, env):
    """Binds the symbol of a size expression e (s, s + c, c * s) from its value n."""
    if e.is_Symbol:
        env[e] = n
        return
    syms = e.free_symbols
    if len(syms) != 1:
        return
    (sym,) = syms
    c, rest = e.as_coeff_Add()
    k, base = rest.as_coeff_Mul()
    if base == sym and k != 0 and (n - c) % k == 0:
        env[sym] = int((n - c) // k)


def _hint(x):
    if isinstance(x, int):
        return x
    if isinstance(x, torch.SymInt):
        h = getattr(x.node, "hint", None)
        return int(h) if h is not None else None
    return None


def _layout_of(v):
    """How to allocate a computed output so it has eager's strides: None
    (row-major), ("strides", shape, strides) for a static non-row-major dense
    layout (channels_last, a permuted result), ("perm", order) for a symbolic
    one (dims from outermost to innermost, from the traced sizes)."""
    if not isinstance(v, torch.Tensor) or v.dim() < 2 or v.layout != torch.strided:
        return None
    shape = [_hint(d) for d in v.shape]
    try:
        stride = [_hint(d) for d in v.stride()]
    except Exception:  # noqa: BLE001 - no strides to honour
        return None
    if None in shape or None in stride or 0 in shape:
        return None
    order = sorted(range(len(shape)), key=lambda i: -stride[i])  # stable: ties keep order
    expect = 1
    for i in reversed(order):  # innermost first: the layout must be dense
        if shape[i] != 1 and stride[i] != expect:
            return None
        expect *= shape[i]
    row = 1
    contiguous = True
    for i in reversed(range(len(shape))):
        if shape[i] != 1 and stride[i] != row:
            contiguous = False
        row *= shape[i]
    if contiguous:
        return None
    if all(isinstance(d, int) for d in v.shape) and all(isinstance(d, int) for d in v.stride()):
        return ("strides", tuple(shape), tuple(stride))
    return ("perm", tuple(order))


def _replay(chain, val, placeholders, args):
    """Runs the view ops of `chain` in torch on val (chain[0] reads val)."""
    env = {}

    def get(a):
        if isinstance(a, torch.fx.Node):
            if a in env:
                return env[a]
            return args[placeholders.index(a)]
        if isinstance(a, (list, tuple)):
            return type(a)(get(x) for x in a)
        return a

    env[chain[0].args[0]] = val
    for n in chain:
        env[n] = n.target(*get(n.args), **{k: get(v) for k, v in n.kwargs.items()})
    return env[chain[-1]]


_modules = {}
_modules_lock = threading.Lock()


def _compile(exp, opts, device):
    """A compiled module for the exported text (shared within the process),
    and its record; the on-disk cache is consulted and filled (cache.py)."""
    target = opts["target"] or ("cuda" if device.type == "cuda" else "cpu")
    arch = opts["arch"] or (_arch_for(device) if device.type == "cuda" else None)
    dump = bool(opts["dump_ir"])
    key = cache.key(exp.text, target, arch, opts["passes"], opts["sdpa_kernel"], dump)
    # a module compiled with its timings, or not; replaying CUDA graphs, or not
    mkey = (key, bool(opts["time_passes"]), bool(opts["cuda_graphs"]))
    with _modules_lock:
        hit = _modules.get(mkey)
    if hit is None:
        cache.prepare_kernel_cache(opts)
        on_disk = cache.lookup(opts, key)
        name = os.path.join(cache.root(opts), "graphs", key[:16] + ".tir")
        mod = _lib.Module(exp.text, name=name, target=target, arch=arch, passes=opts["passes"],
                          sdpa_kernel=opts["sdpa_kernel"], dump_ir=dump,
                          time_passes=opts["time_passes"])
        mod.set_cuda_graphs(opts["cuda_graphs"])
        cache.store(opts, key, exp.text, mod.ir)
        hit = (mod, on_disk is not None)
        with _modules_lock:
            _modules[mkey] = hit
    mod, was_cached = hit
    rec = _Record(exp.text, mod.ir, mod.dump, target, was_cached, arch, opts["passes"],
                  opts["sdpa_kernel"], mod.timings if opts["time_passes"] else None)
    _records.append(rec)
    d = opts["dump_ir"]
    if d:
        if isinstance(d, str) and d not in ("1", "true", "True"):
            os.makedirs(d, exist_ok=True)
            base = os.path.join(d, "graph_%d" % (len(_records) - 1))
            for suffix, text in ((".tir", exp.text), (".opt.tir", mod.ir), (".passes.txt", mod.dump)):
                with open(base + suffix, "w") as f:
                    f.write(text)
            log.info("tirc: IR written to %s.*", base)
        else:
            log.warning("tirc: exported TIR:\n%s\ntirc: IR after each pass:\n%s", exp.text, mod.dump)
    return mod, rec


def _device_of(inputs):
    for x in inputs:
        if isinstance(x, torch.Tensor) and x.device.type == "cuda":
            return x.device
    return torch.device("cpu")


_FOLD_LIMIT = 2 ** 24  # elements: larger input-free results are left to run


def _static_tensor(v):
    return isinstance(v, torch.Tensor) and all(isinstance(d, int) for d in v.shape)


def _foldable_target(t):
    if not isinstance(t, torch._ops.OpOverload):
        return t.__name__ == "getitem" if callable(t) else False
    if torch.Tag.nondeterministic_seeded in t.tags or "empty" in t.name():
        return False
    return True


def fold_constants(gm):
    """Evaluates, at compile time in PyTorch, every node that depends on no
    graph input (arange/index/cumsum mask builders, lifted constants), and
    puts each result that a non-constant node reads into the graph as a
    constant.  Hugging Face builds its causal mask this way; once it is
    data, fuse-attention can prove it causal (and ops tirc lacks in it, such
    as index.Tensor, are gone).  Only static shapes fold."""
    env = {}
    with unset_fake_temporarily():
        for node in gm.graph.nodes:
            if node.op == "get_attr":
                obj = gm
                for part in node.target.split("."):
                    obj = getattr(obj, part, None)
                if isinstance(obj, torch.Tensor):
                    env[node] = obj
                continue
            if node.op != "call_function" or not _foldable_target(node.target):
                continue
            v = node.meta.get("val")
            vals = v if isinstance(v, (list, tuple)) else [v]
            if not vals or not all(_static_tensor(x) for x in vals):
                continue
            deps = node.all_input_nodes
            if not all(d in env for d in deps):
                continue
            if any(isinstance(a, (torch.SymInt, torch.SymFloat)) for a in
                   torch.fx.node.map_aggregate((node.args, node.kwargs), lambda a: a)):
                continue
            args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda n: env[n])
            try:
                with torch.no_grad():
                    r = node.target(*args, **kwargs)
                env[node] = r.detach().clone() if isinstance(r, torch.Tensor) else r
            except Exception:  # noqa: BLE001 - an op that cannot run here just stays
                continue
    n = 0
    for node in list(gm.graph.nodes):
        if node not in env or node.op != "call_function" or not isinstance(env[node], torch.Tensor):
            continue
        if all(u in env for u in node.users) or env[node].numel() > _FOLD_LIMIT:
            continue
        name = f"_tirc_const_{n}"
        n += 1
        gm.register_buffer(name, env[node])
        with gm.graph.inserting_before(node):
            c = gm.graph.get_attr(name)
        c.meta = dict(node.meta)
        node.replace_all_uses_with(c)
    if n:
        gm.graph.eliminate_dead_code()
        gm.recompile()
        log.debug("tirc: %d input-free values folded into constants", n)
    return gm


def _get_attr(gm, target):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


_META_OPS = ("sym_size", "sym_stride", "sym_numel", "sym_storage_offset")


def reinplace_cache_updates(gm):
    """Writes a cache update into the cache, as the model asked.

    With keep_inference_input_mutations, aot_autograd ends an inference graph
    that mutates an input (Hugging Face's static KV cache:
    `keys.index_copy_(2, cache_position, k)`) with `copy_(input, new)` after
    a functional `new = index_copy(input, ...)`: a copy of the whole cache,
    twice, per layer and step.  When nothing but that index_copy (and size
    queries) reads the input, updating it in place is the same program:
    `index_copy_(input, ...)` (in PyTorch: tirc has no in-place ops), its
    readers read the input, and the copy_ goes.  Returns how many."""
    aten = torch.ops.aten
    done = 0
    for cp in list(gm.graph.nodes):
        if cp.op != "call_function" or cp.target is not aten.copy_.default or len(cp.args) != 2:
            continue
        dst, new = cp.args
        if not (isinstance(dst, torch.fx.Node) and dst.op == "placeholder" and
                isinstance(new, torch.fx.Node) and new.op == "call_function" and
                new.target is aten.index_copy.default and new.args[0] is dst):
            continue
        others = [u for u in dst.users if u is not new and u is not cp and
                  not (u.op == "call_function" and getattr(u.target, "__name__", "").split(".")[0]
                       in _META_OPS)]
        if others or cp.users:
            continue
        with gm.graph.inserting_before(new):
            upd = gm.graph.call_function(aten.index_copy_.default, tuple(new.args), dict(new.kwargs))
        upd.meta = dict(new.meta)
        new.replace_all_uses_with(upd)
        gm.graph.erase_node(cp)
        gm.graph.erase_node(new)
        done += 1
    if done:
        gm.graph.lint()
        gm.recompile()
    return done


def compile_aten_graph(gm, example_inputs, const_tensors, opts, info=None):
    """Partitions the ATen graph gm and compiles each supported region.
    const_tensors: placeholder index -> real buffer tensor to inline.
    info: the _GraphInfo to fill in (tirc.explain), if any."""
    t_start = time.perf_counter()
    reinplace_cache_updates(gm)
    aten_mha.read_back_bool_masks(gm)  # before folding: HF's constant causal mask folds as bool
    fold_constants(gm)
    aten_mha.simplify_attention_masks(gm)
    # Symbols tied on the whole graph, so that every region is written (and
    # judged supported) with the same ties, whichever region holds the op
    # that ties them.
    subst = unify_symbols(gm.graph)
    support = _Support(subst)
    part = CapabilityBasedPartitioner(gm, support, allows_single_node_partition=True)
    partitions = [p for p in part.propose_partitions()
                  if any(n.op == "call_function" and not is_view_node(n) and
                         n.target.__name__ != "getitem" for n in p.nodes)]
    in_part = set()
    for p in partitions:
        in_part.update(p.nodes)
    left_nodes = [n for n in gm.graph.nodes if n.op == "call_function"
                  and n not in in_part and n in support.reasons]
    left = sorted({_op_name(n) for n in left_nodes})
    if info is not None:
        info.add_time("partition", time.perf_counter() - t_start)
        info.index = sum(1 for g in _graphs if g.compiled)  # numbered as explain lists them
        info.compiled = True
        for n in left_nodes:
            e = info.left.setdefault(_op_name(n), {"count": 0, "reasons": set()})
            e["count"] += 1
            e["reasons"].add(support.reasons[n])
    if left:
        _log_once(("left",) + tuple(left), logging.WARNING,
                  "tirc: ops left to PyTorch (no TIR form or not supported here): %s",
                  ", ".join(left))
        if opts["fallback"] is False:
            why = {}
            for n in left_nodes:
                why.setdefault(_op_name(n), set()).add(support.reasons[n])
            raise RuntimeError("tirc: fallback=False and ops would run in PyTorch: " + "; ".join(
                f"{k} ({', '.join(sorted(v))})" for k, v in sorted(why.items())))
    if not partitions:
        return gm
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    # by name: the partitioner's fused graph refers to the inputs by node name
    const_nodes = {placeholders[i].name: t for i, t in const_tensors.items() if i < len(placeholders)}
    fused = part.fuse_partitions(partitions)
    device = _device_of(example_inputs)
    for node in list(fused.graph.nodes):
        if node.op != "call_module":
            continue
        sub = getattr(fused, node.target)
        sub._tirc_region = node.target
        sub._tirc_subst = subst
        sub._tirc_info = info
        sub_ph = [n for n in sub.graph.nodes if n.op == "placeholder"]
        consts = {}
        for arg, ph in zip(node.args, sub_ph):
            if isinstance(arg, torch.fx.Node) and arg.op == "placeholder" and arg.name in const_nodes:
                consts[ph] = const_nodes[arg.name]
            elif isinstance(arg, torch.fx.Node) and arg.op == "get_attr":
                t = _get_attr(fused, arg.target)  # folded or lifted constants never change
                if isinstance(t, torch.Tensor) and t.dtype in _lib.DTYPES:
                    consts[ph] = t
        try:
            # aot_autograd calls us under its fake mode; constants need real data
            with unset_fake_temporarily():
                tp = TircPartition(sub, consts, opts, device)
            setattr(fused, node.target, tp)
            if info is not None:
                info.regions.append({"name": node.target, "record": tp.record,
                                     "partition": weakref.ref(tp)})
        except Exception as e:  # noqa: BLE001 - export or libtirc failed: the region stays eager
            if info is not None:
                info.regions.append({"name": node.target, "record": None, "partition": None,
                                     "error": f"{type(e).__name__}: {e}"})
            if opts["fallback"] is not True:
                raise
            _log_once(("fail", id(fused), node.target), logging.WARNING,
                      "tirc: region %s could not be compiled and runs in PyTorch: %s: %s",
                      node.target, type(e).__name__, e)
    fused.recompile()
    return fused


def times_text(t, digits):
    """A graph's compile phases (_GraphInfo.times) as "aot_autograd 1.42, ..."."""
    return ", ".join(f"{k} {t[k]:.{digits}f}" for k in ("aot_autograd", "partition", "export", "tirc")
                     if k in t)


def _print_times(info):
    """The compile-time report of one graph (option time_passes), to stderr."""
    t = info.times
    lines = [f"tirc: graph {info.index} compiled in {t.get('total', 0.0):.3f} s ({times_text(t, 3)})"]
    for r in info.regions:
        rec = r.get("record")
        if rec is not None and rec.timings:
            lines.append(f"tirc: region {r['name']}:")
            lines.append(rec.timings.rstrip())
    print("\n".join(lines), file=sys.stderr)


def _boxed(fn):
    def run(args):
        out = fn(*args)
        args.clear()
        return out
    run._boxed_call = True
    return run


def _eager_bw(gm, example_inputs):
    return _boxed(gm)


def _same_bits(a, b):
    """Whether tensors a and b hold the same bytes (shape, dtype, device and
    every bit: -0.0 is not 0.0, NaNs compare by payload)."""
    if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
        return False
    ab = a.detach().contiguous().reshape(-1).view(torch.uint8)
    return torch.equal(ab, b.detach().contiguous().reshape(-1).view(torch.uint8))


def _is_constant_buffer(node, value):
    """A module buffer (not a parameter, not a forward argument): compiled in
    as a constant, with a guard on its version counter."""
    ga = node.meta.get("grapharg")
    src = getattr(getattr(ga, "source", None), "name", None)
    name = src() if callable(src) else src
    return (isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter)
            and not value.requires_grad and name is not None and "._buffers[" in name
            and value.numel() <= 2 ** 26 and value.dtype in _lib.DTYPES)


def tirc_backend(gm, example_inputs, options=None):
    """The Dynamo backend function (module level, so Dynamo caches by identity)."""
    opts = dict(DEFAULT_OPTIONS)
    for k, v in (options or {}).items():
        if k not in opts:
            raise ValueError(f"tirc: unknown option {k!r} (known: {', '.join(opts)})")
        opts[k] = v
    if opts["fallback"] not in (True, False, "ops"):
        raise ValueError(f"tirc: option fallback={opts['fallback']!r}: True, False or \"ops\"")
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    consts = {i: x for i, (n, x) in enumerate(zip(placeholders, example_inputs))
              if _is_constant_buffer(n, x)}
    info = _GraphInfo(gm, example_inputs)
    _graphs.append(info)
    t_backend = time.perf_counter()

    def fw_compiler(fgm, fake_inputs):
        t_fw = time.perf_counter()
        info.add_time("aot_autograd", t_fw - t_backend)
        try:
            return _fw_compile(fgm, fake_inputs)
        finally:
            info.add_time("total", time.perf_counter() - t_backend)
            if opts["time_passes"]:
                _print_times(info)

    def _fw_compile(fgm, fake_inputs):
        # aot_autograd keeps the flat input order; only use the buffer
        # positions when the count says nothing was added in front.
        c = consts if len(fake_inputs) == len(example_inputs) else {}
        log.debug("tirc: forward graph with %d inputs (Dynamo gave %d); %d constant buffers",
                  len(fake_inputs), len(example_inputs), len(c))
        c = {i: t for i, t in c.items()
             if isinstance(fake_inputs[i], torch.Tensor) and fake_inputs[i].dtype == t.dtype
             and all(isinstance(d, int) for d in fake_inputs[i].shape)
             and tuple(fake_inputs[i].shape) == tuple(t.shape)}
        return _boxed(compile_aten_graph(fgm, fake_inputs, c, opts, info))

    def bw_compiler(bgm, example):
        info.backward = True
        return _eager_bw(bgm, example)

    # keep_inference_input_mutations: an inference graph updates its inputs
    # itself (reinplace_cache_updates makes a KV cache update in place).
    return aot_autograd(fw_compiler=fw_compiler, bw_compiler=bw_compiler,
                        decompositions=decompositions(),
                        keep_inference_input_mutations=True)(gm, example_inputs)


backend = tirc_backend
