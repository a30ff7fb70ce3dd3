"""tirc.explain(): what the backend made of a model, graph by graph.

    out = compiled(x)
    print(tirc.explain())           # every graph compiled in this process
    tirc.explain(compiled)          # only the graphs of this compiled model / function
    tirc.explain(remarks=True)      # + tirc's remarks (softmax not fused, mask kept, kernels)

For each graph that Dynamo handed to the backend: its tirc regions; the
attention in their optimized IR (one line per `sdpa`: is_causal,
causal_align, the mask operand and its type, enable_gqa, the kernel, and
window/softcap/other attributes when present; `softmax` ops still in the IR
are attention that was not fused); the ops left to PyTorch with the
exporter's reasons; regions that could not be compiled or fell back at run
time.  The result is an Explanation: printing it (or its repr) gives the
report, `.graphs` holds the same as dicts."""
import os
import re
import shutil
import subprocess
import tempfile

from . import _lib
from .compiler import _graphs, times_text

_SDPA_KNOWN = ("is_causal", "causal_align", "scale", "dropout_p", "enable_gqa", "kernel",
               "exact_mask")
_LINE = re.compile(r"^\s*%([\w.]+) = (\w+)\((.*)\) : (\S+\[[^\]]*\])\s*$")
_ARG = re.compile(r"%([\w.]+): (\w+\[[^\]]*\])")
_ATTR = re.compile(r"(\w+)=(\[[^\]]*\]|\"[^\"]*\"|[^,\s]+)")


def parse_ir(ir):
    """The attention of one optimized module: (sdpa list, names of softmax
    ops).  Each sdpa is a dict: name, type, operands, attrs (str -> str),
    mask (operand name or None), mask_type."""
    types, sdpa, softmax = {}, [], []
    for ln in ir.splitlines():
        if ln.startswith("func "):
            types.update(_ARG.findall(ln))
            continue
        m = _LINE.match(ln)
        if not m:
            continue
        name, op, body, ty = m.groups()
        types[name] = ty
        if op == "softmax":
            softmax.append(name)
        elif op == "sdpa":
            first_attr = re.search(r"\b\w+=", body)
            ops_text = body[:first_attr.start()] if first_attr else body
            operands = re.findall(r"%([\w.]+)", ops_text)
            attrs = {k: v.strip('"') for k, v in _ATTR.findall(body[len(ops_text):])}
            sdpa.append({"name": name, "type": ty, "operands": operands, "attrs": attrs,
                         "mask": operands[3] if len(operands) > 3 else None})
    for s in sdpa:
        s["mask_type"] = types.get(s["mask"]) if s["mask"] else None
    return sdpa, softmax


def _tirc_binary():
    """The tirc driver next to the loaded libtirc (build/tools/tirc), or $TIRC_BINARY, or PATH."""
    env = os.environ.get("TIRC_BINARY")
    if env and os.path.exists(env):
        return env
    path = getattr(_lib.library(), "path", "")
    if path:
        d = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        for cand in (os.path.join(d, "tools", "tirc"), os.path.join(d, "bin", "tirc")):
            if os.path.exists(cand):
                return cand
    return shutil.which("tirc")


_REMARK = re.compile(r"^[^\n]*?:(\d+):\d+: remark: (.*)$")


def remarks_for(record, binary=None):
    """tirc's remarks for one compiled region (--remarks --explain-kernels),
    from the tirc driver on the region's exported TIR: a list of
    (value name or None, message).  libtirc's API has no remarks, so this
    runs the driver; None when it cannot be found."""
    binary = binary or _tirc_binary()
    if not binary:
        return None
    lines = record.tir.splitlines()
    with tempfile.TemporaryDirectory(prefix="tirc-explain-") as d:
        path = os.path.join(d, "graph.tir")
        with open(path, "w") as f:
            f.write(record.tir)
        cmd = [binary, path, "--emit=ir", "-o", os.devnull, "--remarks", "--explain-kernels",
               "--target=" + (record.target or "cpu")]
        if getattr(record, "arch", None):
            cmd.append("--arch=" + record.arch)
        if getattr(record, "passes", None) is not None:
            cmd.append("--passes=" + record.passes)
        if getattr(record, "sdpa_kernel", None):
            cmd.append("--sdpa-kernel=" + record.sdpa_kernel)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            return [(None, f"could not run {binary}: {e}")]
    out = []
    for ln in r.stderr.splitlines():
        m = _REMARK.match(ln)
        if not m:
            continue
        no = int(m.group(1))
        src = lines[no - 1] if 0 < no <= len(lines) else ""
        v = re.match(r"\s*%([\w.]+) =", src)
        out.append((v.group(1) if v else None, m.group(2)))
    return out


def _fn_matcher(fn):
    """A predicate on _GraphInfo: was this graph traced from `fn` (a compiled
    module or function, or the original one)?  By the parameters it read,
    and by the code named in the graph's stack traces."""
    import inspect
    import torch
    orig = getattr(fn, "_orig_mod", None) or getattr(fn, "_torchdynamo_orig_callable", None) or fn
    tensors, codes = set(), set()
    if isinstance(orig, torch.nn.Module):
        tensors = {id(p) for p in orig.parameters()}
        fwd = inspect.unwrap(type(orig).forward)
        code = getattr(fwd, "__code__", None)
    else:
        code = getattr(inspect.unwrap(orig), "__code__", None)
    if code is not None:
        codes.add((code.co_filename, code.co_name))

    def match(info):
        if any(r() is not None and id(r()) in tensors for r in info.params):
            return True
        return bool(codes & info.frames)
    return match


class Explanation:
    """The report of tirc.explain(): str() / repr() is the text, .graphs the data."""

    def __init__(self, graphs):
        self.graphs = graphs

    @property
    def n_sdpa(self):
        return sum(g["n_sdpa"] for g in self.graphs)

    @property
    def n_softmax(self):
        return sum(g["n_softmax"] for g in self.graphs)

    def __str__(self):
        if not self.graphs:
            return "tirc.explain: no graph compiled with backend='tirc' (run the compiled model first)"
        out = [f"tirc.explain: {len(self.graphs)} graph(s); {self.n_sdpa} attention block(s) as sdpa, "
               f"{self.n_softmax} softmax not fused"]
        for g in self.graphs:
            head = f"graph {g['index']}"
            if g["compile_id"]:
                head += f" [dynamo {g['compile_id']}]"
            if g["origin"]:
                head += f" {g['origin']}"
            ok = sum(1 for r in g["regions"] if r["status"] == "tirc")
            out.append(f"{head}: {ok}/{len(g['regions'])} region(s) in tirc, "
                       f"{sum(v['count'] for v in g['left'].values())} op(s) left to PyTorch"
                       + ("; backward in PyTorch" if g["backward"] else ""))
            out.append(f"  attention: {g['n_sdpa']} sdpa, {g['n_softmax']} softmax not fused")
            cg = [r["cuda_graphs"] for r in g["regions"] if r.get("cuda_graphs") is not None]
            if cg:
                out.append(f"  CUDA graphs: {sum(n for n in cg if n > 0)} recorded by "
                           f"{sum(1 for n in cg if n > 0)}/{len(cg)} region(s)"
                           + (f"; {sum(1 for n in cg if n < 0)} could not record"
                              if any(n < 0 for n in cg) else ""))
            t = g.get("times") or {}
            if "total" in t:
                out.append(f"  compile: {t['total']:.2f} s ({times_text(t, 2)})")
            for r in g["regions"]:
                if r["status"] != "tirc":
                    out.append(f"  region {r['name']}: runs in PyTorch: {r['status']}")
                for s in r["sdpa"]:
                    a = s["attrs"]
                    mask = f"{s['mask_type']} (%{s['mask']})" if s["mask"] else "none"
                    extra = [f"{k}={v}" for k, v in a.items() if k not in _SDPA_KNOWN]
                    out.append(f"    sdpa %{s['name']} {s['type']}: is_causal={a.get('is_causal', '?')}"
                               f" causal_align={a.get('causal_align', 'top_left')} mask={mask}"
                               f" enable_gqa={a.get('enable_gqa', '?')}"
                               f" kernel={a.get('kernel', '-')}"
                               + (" exact_mask=true" if a.get("exact_mask") == "true" else "")
                               + ("".join(" " + e for e in extra)))
                for sm in r["softmax"]:
                    out.append(f"    softmax %{sm}: not fused into attention")
                for v, msg in r.get("remarks") or ():
                    out.append(f"    remark{' %' + v if v else ''}: {msg}")
            for op, v in sorted(g["left"].items()):
                reasons = "; ".join(sorted(v["reasons"]))
                out.append(f"  left to PyTorch: {op} x{v['count']}: {reasons}")
        return "\n".join(out)

    __repr__ = __str__


def explain(fn=None, remarks=False, file=None):
    """The summary of what tirc compiled (see the module doc).

    fn: a model or function compiled with backend="tirc" (or the original
    one): only its graphs; None: every graph since the last tirc.reset().
    remarks: add tirc's remarks for each region (runs the tirc driver on the
    region's TIR; needs the `tirc` executable next to libtirc or on PATH).
    file: also write the report there (e.g. sys.stdout)."""
    match = _fn_matcher(fn) if fn is not None else (lambda info: True)
    graphs = []
    for info in list(_graphs):
        if not info.compiled or not match(info):
            continue
        regions = []
        for r in info.regions:
            rec = r.get("record")
            part = r["partition"]() if r.get("partition") else None
            if r.get("error"):
                status = "could not be compiled: " + r["error"]
            elif part is not None and part.failed is not None:
                status = f"failed at run time: {type(part.failed).__name__}: {part.failed}"
            elif part is not None and part.stale_const is not None:
                status = f"buffer {part.stale_const} changed after it was compiled in"
            else:
                status = "tirc"
            if part is not None:
                rec = part.record  # the last compile (exact _safe_softmax re-export)
            sdpa, softmax = parse_ir(rec.ir) if rec is not None else ([], [])
            item = {"name": r["name"], "status": status, "sdpa": sdpa, "softmax": softmax,
                    "record": rec,
                    # CUDA graphs its module recorded (runtime/cuda_graph.c); None off the GPU
                    "cuda_graphs": (part.module.cuda_graphs_recorded
                                    if part is not None and rec is not None and rec.target == "cuda"
                                    else None)}
            if remarks and rec is not None:
                rm = remarks_for(rec)
                item["remarks"] = rm if rm is not None else [
                    (None, "no remarks: the tirc executable was not found (set $TIRC_BINARY)")]
            regions.append(item)
        graphs.append({
            "index": info.index, "compile_id": info.compile_id, "origin": info.origin,
            "regions": regions, "left": {k: dict(v) for k, v in info.left.items()},
            "backward": info.backward, "times": dict(info.times),
            "n_sdpa": sum(len(r["sdpa"]) for r in regions if r["status"] == "tirc"),
            "n_softmax": sum(len(r["softmax"]) for r in regions if r["status"] == "tirc"),
        })
    e = Explanation(graphs)
    if file is not None:
        print(str(e), file=file)
    return e
