"""PyTorch's own OpInfo samples through torch.compile(backend="tirc"), on the CPU.

For every OpInfo in torch.testing._internal.common_methods_invocations.op_db
whose op the exporter claims (claimed(): a handler in tirc.aten_ops, a
decomposition tirc asks for, or a composite that aot_autograd always lowers
to handled ops), each sample is run eagerly and through
torch.compile(fn, backend="tirc", options={"fallback": False}) and the two are
compared with dtype-based tolerances (DTYPE_TOL; assert_close, NaN equal to NaN,
same dtype and shape).  fallback=False makes any libtirc compile or run-time
error an error here instead of a silent run in PyTorch.

Counted per sample: passed, upstream (tirc's result differs from eager's
but equals aot_eager's, the same ATen graph run by PyTorch, which differs
from eager just as much: the difference is made by Dynamo's or aot_autograd's
decompositions before tirc sees the graph; listed), mismatch (values differ), error (the compiled call
raised where eager did not, and aot_eager can run it, so it is tirc's),
known (a failure listed in KNOWN_FAILURES, with its reason; still run, and
reported "fixed" if it passes), skipped (eager itself raised, or Dynamo cannot
compile the sample with aot_eager either).  "in tirc" counts samples where at
least one region was compiled by tirc (the rest were refused at export time
and ran in PyTorch, which is correct but tests nothing of tirc).

The bar: 0 mismatches and 0 errors (exit 1 otherwise).  Ops not claimed are
skipped and listed.

  python3 opinfo_sweep.py --ci      # bounded: fixed seed, a subset (ctest python.opinfo_sweep)
  python3 opinfo_sweep.py           # everything (scripts/opinfo-sweep.sh)
  python3 opinfo_sweep.py --ops abs,expm1 --dtypes float32 -v
Exit 77 (skipped) when torch or its OpInfo database cannot be imported.
"""
import argparse
import logging
import os
import random
import sys
import tempfile
import time
import traceback

try:
    import torch
except ImportError as e:
    print(f"opinfo_sweep: {e}: skipping")
    sys.exit(77)
try:
    import expecttest  # noqa: F401  (torch's test helpers import it)
except ImportError:
    # Only its TestCase base class is needed to import op_db; without the
    # package (scripts/setup-torch.sh does not install it) a stand-in keeps
    # the sweep running instead of skipping.
    import types
    import unittest
    _stub = types.ModuleType("expecttest")
    _stub.TestCase = unittest.TestCase
    sys.modules["expecttest"] = _stub
try:
    from torch.testing._internal.common_methods_invocations import op_db
except ImportError as e:
    print(f"opinfo_sweep: {e}: skipping")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))

import tirc  # noqa: E402
from tirc import aten_ops  # noqa: E402
from tirc.compiler import _DECOMPOSE  # noqa: E402

aten = torch.ops.aten

# Composite ops aot_autograd always decomposes into ops tirc writes (docs/torch.md).
COMPOSITES = {
    "linear", "layer_norm", "softmax", "log_softmax", "matmul", "split", "chunk",
    "scaled_dot_product_attention", "narrow", "flatten", "unflatten", "movedim", "swapaxes",
    "swapdims", "square", "relu6", "hardtanh", "sigmoid", "neg", "negative", "subtract",
    "multiply", "divide", "true_divide", "greater", "greater_equal", "less", "less_equal",
    "not_equal", "clip", "absolute", "selu", "celu",
}

# Dtype-based tolerances (rtol, atol): torch's own assert_close defaults for
# f32/f64, relaxed for the reduced-precision dtypes (tirc computes f16/bf16 in
# f32 like torch, but sums and matmuls may round in another order).
DTYPE_TOL = {
    torch.float64: (1e-7, 1e-7), torch.float32: (1.3e-6, 1e-5),
    torch.float16: (1e-3, 1e-3), torch.bfloat16: (1.6e-2, 1e-2),
}

# The dtypes the sweep runs (TIR's; complex and the rest are not claimed).
ALL_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
              torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool]
CI_DTYPES = [torch.float32, torch.int64, torch.bfloat16]

# Results that are random (dropout): tirc's RNG is not torch's, so only the
# shape and dtype are compared.
RANDOM_OPS = {"nn.functional.dropout", "nn.functional.alpha_dropout",
              "nn.functional.feature_alpha_dropout", "nn.functional.dropout2d",
              "nn.functional.dropout3d"}

# THE list of known failures: (OpInfo name with variant, dtype or None for
# all) -> the reason (a C bug with its reproducer in the report).  A listed
# sample is still run; it counts as "known" when it fails and "fixed" when it
# passes.  Nothing else is skipped silently.
KNOWN_FAILURES = {
}


def full_name(op):
    return op.name + ("." + op.variant_test_name if op.variant_test_name else "")


def claimed(op):
    """Whether the exporter claims this OpInfo's op (see the module docstring)."""
    names = {op.name, op.name.split(".")[-1]}
    if op.aten_name:
        names.add(op.aten_name)
        names.add(op.aten_name.split(".")[-1])
    for n in names:
        pkt = getattr(aten, n, None)
        if pkt is not None and pkt in aten_ops.HANDLERS:
            return True
        if n in _DECOMPOSE or n in COMPOSITES:
            return True
    return False


def _flatten(obj, leaves):
    """obj with every tensor replaced by a placeholder index into leaves."""
    if isinstance(obj, torch.Tensor):
        leaves.append(obj)
        return ("__t", len(leaves) - 1)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_flatten(x, leaves) for x in obj)
    if isinstance(obj, dict):
        return {k: _flatten(v, leaves) for k, v in obj.items()}
    return obj


def _unflatten(obj, leaves):
    if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "__t":
        return leaves[obj[1]]
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unflatten(x, leaves) for x in obj)
    if isinstance(obj, dict):
        return {k: _unflatten(v, leaves) for k, v in obj.items()}
    return obj


def _clone(leaves):
    return [t.detach().clone() for t in leaves]


def compare(out, ref, random_op):
    """None when out matches ref, else a message."""
    if isinstance(ref, torch.Tensor):
        if not isinstance(out, torch.Tensor):
            return f"got {type(out).__name__}, expected a tensor"
        if out.dtype != ref.dtype or out.shape != ref.shape:
            return f"got {out.dtype}{list(out.shape)}, expected {ref.dtype}{list(ref.shape)}"
        if random_op:
            return None
        rtol, atol = DTYPE_TOL.get(ref.dtype, (0, 0))
        try:
            torch.testing.assert_close(out, ref, rtol=rtol, atol=atol, equal_nan=True)
        except AssertionError as e:
            return str(e).strip().replace("\n", " ")[:400]
        return None
    if isinstance(ref, (list, tuple)):
        if not isinstance(out, (list, tuple)) or len(out) != len(ref):
            return f"got {type(out).__name__}, expected {len(ref)} results"
        for i, (o, r) in enumerate(zip(out, ref)):
            m = compare(o, r, random_op)
            if m:
                return f"result {i}: {m}"
        return None
    if out != ref and not (isinstance(ref, float) and ref != ref and out != out):
        return f"got {out!r}, expected {ref!r}"
    return None


def describe(leaves, sample):
    ts = ", ".join(f"{t.dtype}{list(t.shape)}" for t in leaves)
    other = {k: v for k, v in sample.kwargs.items() if not isinstance(v, torch.Tensor)}
    args = [a for a in sample.args if not isinstance(a, torch.Tensor)]
    return f"tensors=({ts}) args={args} kwargs={other}"[:300]


def run_sample(op, sample, cache_dir):
    """('pass'|'mismatch'|'error'|'skip', in_tirc, message)."""
    leaves = []
    spec = _flatten((sample.input, list(sample.args), dict(sample.kwargs)), leaves)

    def fn(*ts):
        inp, args, kwargs = _unflatten(spec, list(ts))
        return op.op(inp, *args, **kwargs)

    random_op = op.name in RANDOM_OPS
    try:
        with torch.no_grad():
            ref = fn(*_clone(leaves))
    except Exception as e:  # noqa: BLE001 - the sample is not valid for eager: not ours
        return "skip", False, f"eager raised {type(e).__name__}"
    torch._dynamo.reset()
    tirc.reset()
    try:
        with torch.no_grad():
            out = torch.compile(fn, backend="tirc", dynamic=False,
                                options={"fallback": "ops", "cache_dir": cache_dir})(*_clone(leaves))
    except Exception as e:  # noqa: BLE001
        in_tirc = len(tirc.compiled_graphs()) > 0
        msg = f"{type(e).__name__}: {str(e).strip()}"[:600]
        torch._dynamo.reset()
        try:
            with torch.no_grad():
                torch.compile(fn, backend="aot_eager", dynamic=False)(*_clone(leaves))
        except Exception as e2:  # noqa: BLE001 - Dynamo/aot_autograd cannot run it at all
            return "skip", in_tirc, f"aot_eager fails too: {type(e2).__name__}"
        return "error", in_tirc, msg
    in_tirc = len(tirc.compiled_graphs()) > 0
    m = compare(out, ref, random_op)
    if m and _low_precision(ref):
        m = _against_float64(fn, leaves, out, ref, m)
    if m:
        # The same ATen graph run by PyTorch (aot_eager): when it differs from
        # eager as much and tirc equals it, the difference is made before tirc
        # (Dynamo's or aot_autograd's decomposition: matmul of a vector and a
        # batch becomes transpose + clone + mv, with another summation order).
        torch._dynamo.reset()
        try:
            with torch.no_grad():
                aot = torch.compile(fn, backend="aot_eager", dynamic=False)(*_clone(leaves))
        except Exception:  # noqa: BLE001
            aot = None
        if aot is not None and compare(aot, ref, random_op) is not None and \
                compare(out, aot, random_op) is None:
            return "upstream", in_tirc, f"{m} | aot_eager differs from eager the same way"
    return ("mismatch" if m else "pass"), in_tirc, m


def _low_precision(ref):
    if isinstance(ref, torch.Tensor):
        return ref.dtype in (torch.float16, torch.bfloat16)
    return isinstance(ref, (list, tuple)) and any(_low_precision(r) for r in ref)


def _against_float64(fn, leaves, out, ref, msg):
    """f16/bf16: the compiled result may round differently from eager's fused
    kernel (a decomposition rounds its intermediates: addcdiv, baddbmm).
    Both are measured against the same op run in float64 on the same
    inputs; the compiled result passes when its largest error is at most
    4x eager's (or the dtype's atol).  None when it passes, else msg."""
    try:
        with torch.no_grad():
            ref64 = fn(*[t.double() if t.is_floating_point() else t.clone() for t in leaves])
    except Exception:  # noqa: BLE001 - no float64 form: the plain comparison stands
        return msg
    outs = out if isinstance(out, (list, tuple)) else [out]
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    r64s = ref64 if isinstance(ref64, (list, tuple)) else [ref64]
    for o, r, r64 in zip(outs, refs, r64s):
        if not (isinstance(r, torch.Tensor) and r.dtype in (torch.float16, torch.bfloat16)):
            continue
        if not isinstance(r64, torch.Tensor) or r64.shape != r.shape:
            return msg
        fin = torch.isfinite(r64)
        if not torch.equal(fin, torch.isfinite(o)):
            return msg
        a, b = o[~fin].double(), r64[~fin]
        if not ((a == b) | (a.isnan() & b.isnan())).all():
            return msg
        e_c = (o.double()[fin] - r64[fin]).abs().max().item() if fin.any() else 0.0
        e_e = (r.double()[fin] - r64[fin]).abs().max().item() if fin.any() else 0.0
        if e_c > max(4 * e_e, DTYPE_TOL[r.dtype][1]):
            return f"{msg} | vs float64: tirc max err {e_c:.3g}, eager {e_e:.3g}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ci", action="store_true", help="the bounded subset for ctest")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--ops", default="", help="comma-separated OpInfo names (default: all claimed)")
    ap.add_argument("--dtypes", default="", help="comma-separated dtypes (default: all TIR dtypes)")
    ap.add_argument("--max-samples", type=int, default=0, help="per op and dtype (0: all)")
    ap.add_argument("--op-fraction", type=float, default=1.0, help="random fraction of claimed ops")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if a.ci:
        a.max_samples = a.max_samples or 4
        a.dtypes = a.dtypes or ",".join(str(d).split(".")[1] for d in CI_DTYPES)
        if a.op_fraction == 1.0:
            a.op_fraction = 0.5
    logging.basicConfig(level=logging.ERROR)
    # Dynamo's graph-break warnings (data-dependent samples run eagerly) are not ours
    torch._logging.set_logs(dynamo=logging.ERROR, aot=logging.ERROR)
    torch._dynamo.config.cache_size_limit = 1 << 20
    torch.set_num_threads(1)
    rng = random.Random(a.seed)
    dtypes = [getattr(torch, d) for d in a.dtypes.split(",") if d] or ALL_DTYPES
    wanted = set(x for x in a.ops.split(",") if x)
    claimed_ops, skipped = [], set()
    for op in op_db:
        if wanted and op.name not in wanted and full_name(op) not in wanted:
            continue
        if claimed(op):
            claimed_ops.append(op)
        else:
            skipped.add(op.name)
    if a.op_fraction < 1.0:
        keep = max(1, round(len(claimed_ops) * a.op_fraction))
        claimed_ops = sorted(rng.sample(claimed_ops, keep), key=full_name)
    print(f"opinfo_sweep: libtirc {tirc.version()} ({tirc._lib.library().path})")
    print(f"opinfo_sweep: torch {torch.__version__}, seed {a.seed}, {len(claimed_ops)} claimed "
          f"OpInfos ({len({o.name for o in claimed_ops})} ops), dtypes "
          f"{', '.join(str(d).split('.')[1] for d in dtypes)}"
          + (f", at most {a.max_samples} samples per op and dtype" if a.max_samples else ""))
    print(f"opinfo_sweep: not claimed, skipped ({len(skipped)}): {' '.join(sorted(skipped))}")
    counts = dict.fromkeys(["pass", "upstream", "mismatch", "error", "known", "fixed", "skip"], 0)
    in_tirc = 0
    failures = []
    cache_dir = tempfile.mkdtemp(prefix="tirc-opinfo-")
    t0 = time.time()
    for op in claimed_ops:
        name = full_name(op)
        supported = op.supported_dtypes("cpu")
        for dt in dtypes:
            if dt not in supported:
                continue
            torch.manual_seed(a.seed)
            try:
                samples = list(op.sample_inputs("cpu", dt, requires_grad=False))
            except Exception as e:  # noqa: BLE001
                print(f"  {name} {dt}: cannot make samples: {e}")
                continue
            if a.max_samples and len(samples) > a.max_samples:
                idx = sorted(rng.sample(range(len(samples)), a.max_samples))
                samples = [samples[i] for i in idx]
            before = dict(counts)
            for i, s in enumerate(samples):
                try:
                    kind, t, msg = run_sample(op, s, cache_dir)
                except Exception:  # noqa: BLE001 - a bug of this script, reported as an error
                    kind, t, msg = "error", False, traceback.format_exc(limit=3)
                in_tirc += t
                known = KNOWN_FAILURES.get((name, dt)) or KNOWN_FAILURES.get((name, None))
                if known and kind in ("mismatch", "error"):
                    kind = "known"
                elif known and kind == "pass":
                    kind = "fixed"
                counts[kind] += 1
                leaves = []
                _flatten((s.input, list(s.args), dict(s.kwargs)), leaves)
                line = f"  {kind.upper()}: {name} {dt} #{i} {describe(leaves, s)}"
                if kind in ("mismatch", "error", "fixed", "upstream"):
                    failures.append(f"{line}\n      {msg}")
                    print(f"{line}\n      {msg}", flush=True)
                elif a.verbose:
                    print(f"{line} in_tirc={t} {msg or ''}", flush=True)
            done = {k: counts[k] - before[k] for k in counts}
            print(f"  {name} {str(dt).split('.')[1]}: " +
                  ", ".join(f"{k} {v}" for k, v in done.items() if v), flush=True)
    n = sum(counts.values())
    print(f"opinfo_sweep: {len(claimed_ops)} OpInfos claimed, {n} samples run in "
          f"{time.time() - t0:.0f} s, {in_tirc} with a region in tirc")
    print(f"opinfo_sweep: passed {counts['pass']}, equal to aot_eager but not eager (the "
          f"difference is made before tirc) {counts['upstream']}, "
          f"mismatches {counts['mismatch']}, "
          f"errors {counts['error']}, known failures {counts['known']}, "
          f"known but now passing {counts['fixed']}, skipped (eager or Dynamo cannot run) "
          f"{counts['skip']}")
    if KNOWN_FAILURES:
        print("opinfo_sweep: known failures:")
        for (opname, dt), why in sorted(KNOWN_FAILURES.items(), key=str):
            print(f"  {opname} {dt or 'all dtypes'}: {why}")
    ok = counts["mismatch"] == 0 and counts["error"] == 0
    print(f"{counts['pass'] + counts['upstream'] + counts['known']} passed, "
          f"{counts['mismatch'] + counts['error']} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
