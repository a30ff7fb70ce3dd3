"""Tests of the torch.compile backend (python/tirc) on small models.

Each model is compiled with backend="tirc"; the optimized IR must show one
`sdpa` per attention with the right is_causal / enable_gqa, and the output
must match a float64 eager reference within the dtype's bound, measured as
||out - ref|| / ||ref|| on fresh random data (the seed is printed on failure).

Runs on the CPU by default; TIRC_TEST_DEVICE=cuda runs the same tests on the
GPU (target "cuda", bf16 where the test says so).  Exit code 77 (skipped)
when torch is not installed.
"""
import contextlib
import copy
import glob
import io
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

try:
    import torch
except ImportError:
    print("torch is not installed: skipping the torch backend tests")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# TIRC_TEST_INSTALLED=1: test the tirc package pip installed (scripts/test-install.sh),
# not the source tree's python/.
PYDIR = None if os.environ.get("TIRC_TEST_INSTALLED") else os.path.join(ROOT, "python")
if PYDIR:
    sys.path.insert(0, PYDIR)
sys.path.insert(0, HERE)

import tirc  # noqa: E402
import models as M  # noqa: E402

DEVICE = torch.device(os.environ.get("TIRC_TEST_DEVICE", "cpu"))
# Relative-error bounds against float64, per dtype of the run.
BOUND = {torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 2e-2}
LOW = getattr(torch, os.environ.get("TIRC_TEST_DTYPE", "bfloat16" if DEVICE.type == "cuda" else "float32"))


def rel_err(out, ref):
    out, ref = out.detach().double().cpu(), ref.detach().double().cpu()
    return ((out - ref).norm() / ref.norm()).item()


def sdpa_lines(records=None):
    lines = []
    for r in records if records is not None else tirc.compiled_graphs():
        lines += [ln.strip() for ln in r.ir.splitlines() if re.search(r"= sdpa\(", ln)]
    return lines


def attr(line, name):
    m = re.search(name + r"=([a-z_\"0-9.e+-]+)", line)
    return m.group(1) if m else None


class Base(unittest.TestCase):
    def setUp(self):
        torch._dynamo.reset()
        tirc.reset()
        self.seed = time.time_ns() % (2 ** 31)
        torch.manual_seed(self.seed)
        self.cache = tempfile.mkdtemp(prefix="tirc-test-cache-")
        self.opts = {"cache_dir": self.cache}

    def compile(self, model, **kw):
        opts = dict(self.opts)
        opts.update(kw.pop("options", {}))
        return torch.compile(model, backend="tirc", options=opts, **kw)

    def check(self, model, args, dtype=torch.float32, n_sdpa=None, causal=None, gqa=None,
              dynamic=False, masked=None):
        """Compiles `model`, runs it on args, compares with float64 eager and
        checks the sdpa lines of the IR; returns the sdpa lines."""
        model = model.to(DEVICE).eval()
        ref_model = copy.deepcopy(model).double()
        model = model.to(dtype)
        args = [a.to(DEVICE) for a in args]
        low = [a.to(dtype) if a.is_floating_point() else a for a in args]
        dbl = [a.double() if a.is_floating_point() else a for a in args]
        with torch.no_grad():
            ref = ref_model(*dbl)
            eager = model(*low)
            out = self.compile(model, dynamic=dynamic)(*low)
        err, err_eager = rel_err(out, ref), rel_err(eager, ref)
        bound = max(BOUND[dtype], 4 * err_eager)
        msg = f"seed {self.seed}: tirc rel err {err:.3g}, eager {err_eager:.3g}, bound {bound:.3g}"
        print(f"\n  {self.id().split('.')[-1]} [{DEVICE.type} {dtype}]: {msg}", file=sys.stderr)
        self.assertTrue(torch.isfinite(out).all(), msg)
        self.assertLessEqual(err, bound, msg)
        lines = sdpa_lines()
        if n_sdpa is not None:
            self.assertEqual(len(lines), n_sdpa, "\n".join(r.ir for r in tirc.compiled_graphs()))
        for ln in lines:
            if causal is not None:
                self.assertEqual(attr(ln, "is_causal"), "true" if causal else "false", ln)
            if gqa is not None:
                self.assertEqual(attr(ln, "enable_gqa"), "true" if gqa else "false", ln)
            if masked is not None:
                n_ops = len(ln.split("sdpa(")[1].split(")")[0].split("%")) - 1
                self.assertEqual(n_ops, 4 if masked else 3, ln)
        return lines


class TestModels(Base):
    def test_nanogpt_handwritten(self):
        m = M.NanoGPT(n_layer=2, flash=False)
        self.check(m, [torch.randint(0, 96, (2, 24))], LOW, n_sdpa=2, causal=True, gqa=False,
                   masked=False)

    def test_nanogpt_f32_dynamic_one_compile(self):
        # One compile for several batch sizes and sequence lengths (symbolic dims).
        # wide_outputs=True: the padded-product check must not specialize the
        # symbolic sizes (on CUDA it is on by default).
        m = M.NanoGPT(n_layer=1, flash=False).to(DEVICE).eval()
        c = self.compile(m, dynamic=True, options={"wide_outputs": True})
        with torch.no_grad():
            for b, t in ((2, 16), (3, 24), (4, 40)):
                idx = torch.randint(0, 96, (b, t), device=DEVICE)
                out, ref = c(idx), m(idx)
                self.assertLessEqual(rel_err(out, ref), 1e-5, f"seed {self.seed} B={b} T={t}")
        recs = tirc.compiled_graphs()
        self.assertEqual(len(recs), 1, [r.tir.splitlines()[0] for r in recs])
        self.assertRegex(recs[0].tir.splitlines()[0], r"i64\[s\w+, s\w+\]")
        self.assertEqual([attr(ln, "is_causal") for ln in sdpa_lines()], ["true"])

    def test_hf_gpt2_block(self):
        self.check(M.HFGPT2Block(), [torch.randn(2, 20, 64)], LOW, n_sdpa=1, causal=True,
                   gqa=False, masked=False)

    def test_llama_block(self):
        self.check(M.LlamaBlock(), [torch.randn(2, 24, 64)], LOW, n_sdpa=1, causal=True,
                   gqa=True, masked=False)

    def test_bert_padding_mask(self):
        ids = torch.randint(0, 50, (3, 20))
        mask = torch.ones(3, 20, dtype=torch.long)
        mask[0, 15:] = 0
        mask[2, 7:] = 0
        self.check(M.BertEncoder(), [ids, mask], LOW, n_sdpa=2, causal=False, gqa=False,
                   masked=True)

    def test_cross_attention(self):
        self.check(M.CrossAttention(), [torch.randn(2, 12, 64), torch.randn(2, 30, 64)], LOW,
                   n_sdpa=1, causal=False, gqa=False, masked=False)


class TestSdpaCallers(Base):
    def test_nanogpt_flash(self):
        m = M.NanoGPT(n_layer=2, flash=True)
        self.check(m, [torch.randint(0, 96, (2, 24))], LOW, n_sdpa=2, causal=True, masked=False)

    def test_sdpa_gqa(self):
        q, k, v = torch.randn(2, 8, 16, 32), torch.randn(2, 2, 16, 32), torch.randn(2, 2, 16, 32)
        self.check(M.SdpaGQA(), [q, k, v], LOW, n_sdpa=1, causal=True, gqa=True)

    def test_cuda_converted_bool_mask(self):
        # The additive, padded and expanded form of a bool mask that the CUDA
        # sdpa dispatch writes is read back as the bool mask: is_causal plus
        # a [B, 1, 1, S] key mask, also with symbolic sizes (the pad count
        # 8 - S % 8 is then an expression).
        for s in (20, 24):
            q, k, v = torch.randn(2, 4, s, 16), torch.randn(2, 4, s, 16), torch.randn(2, 4, s, 16)
            am = torch.ones(2, s, dtype=torch.long)
            am[1, -3:] = 0  # right padding: every row keeps key 0
            for dynamic in (False, True):
                with self.subTest(s=s, dynamic=dynamic):
                    torch._dynamo.reset()
                    tirc.reset()
                    lines = self.check(M.CudaConvertedMask(), [q, k, v, am], LOW, n_sdpa=1,
                                       causal=True, masked=True, dynamic=dynamic)
                    recs = tirc.compiled_graphs()
                    self.assertEqual(len(recs), 1)
                    sdpa, _ = tirc.report.parse_ir(recs[0].ir)
                    self.assertRegex(sdpa[0]["mask_type"] or "", r"\[\w+, 1, 1, \w+\]", lines[0])

    def test_cudnn_bool_mask_read_back(self):
        # where(m, 0, -65504): PyTorch's cuDNN form of a bool mask, read back
        # as m only for that op, f16/bf16, and exactly that fill (the graph
        # is built by hand: the CPU has no cuDNN attention).
        from tirc import aten_mha
        aten = torch.ops.aten

        def graph(op, dtype, fill):
            g = torch.fx.Graph()
            q = g.placeholder("q")
            m = g.placeholder("m")
            q.meta["val"] = torch.empty(1, 2, 8, 16, dtype=dtype)
            m.meta["val"] = torch.empty(1, 1, 8, 8, dtype=torch.bool)
            z = g.call_function(aten.scalar_tensor.default, (0.0,), {"dtype": dtype})
            f = g.call_function(aten.scalar_tensor.default, (fill,), {"dtype": dtype})
            w = g.call_function(aten.where.self, (m, z, f))
            w.meta["val"] = torch.empty(1, 1, 8, 8, dtype=dtype)
            a = g.call_function(op, (q, q, q, w, False))
            g.output(a)
            gm = torch.fx.GraphModule(torch.nn.Module(), g)
            aten_mha.read_back_bool_masks(gm)
            sd = next(n for n in gm.graph.nodes if n.target == op)
            return sd.args[3].name
        cudnn = aten._scaled_dot_product_cudnn_attention.default
        eff = aten._scaled_dot_product_efficient_attention.default
        self.assertEqual(graph(cudnn, torch.bfloat16, -65504.0), "m")
        self.assertEqual(graph(cudnn, torch.float16, -65504.0), "m")
        self.assertEqual(graph(cudnn, torch.bfloat16, float("-inf")), "m")
        self.assertEqual(graph(eff, torch.float32, float("-inf")), "m")
        self.assertEqual(graph(cudnn, torch.float32, -65504.0), "where_self")  # not PyTorch's form
        self.assertEqual(graph(eff, torch.bfloat16, -65504.0), "where_self")   # finite fill, not cuDNN
        self.assertEqual(graph(cudnn, torch.bfloat16, -1e4), "where_self")     # does not mask

    def test_multihead_attention(self):
        self.check(M.MHA(), [torch.randn(2, 16, 64)], LOW, n_sdpa=1, causal=False, gqa=False)


class TestPartitioning(Base):
    def test_unsupported_op_runs_in_torch_and_says_so_once(self):
        m = M.WithCumsum()
        with self.assertLogs("tirc", level="WARNING") as logs:
            self.check(m, [torch.randn(2, 16, 64)], torch.float32, n_sdpa=1, causal=False)
            with torch.no_grad():
                c = self.compile(m.to(DEVICE))
                x = torch.randn(3, 16, 64, device=DEVICE)
                self.assertLessEqual(rel_err(c(x), m(x)), 1e-5)
        left = [r for r in logs.output if "left to PyTorch" in r]
        self.assertEqual(len(left), 1, logs.output)
        self.assertIn("cumsum", left[0])

    def test_changed_buffer_runs_eagerly(self):
        m = M.NanoGPT(n_layer=1).to(DEVICE).eval()
        c = self.compile(m)
        idx = torch.randint(0, 96, (2, 16), device=DEVICE)
        with torch.no_grad():
            self.assertLessEqual(rel_err(c(idx), m(idx)), 1e-5)
            m.h[0].attn.bias.fill_(1.0)  # no longer causal: the compiled constant is stale
            with self.assertLogs("tirc", level="WARNING") as logs:
                out = c(idx)
        self.assertLessEqual(rel_err(out, m(idx)), 1e-5)
        self.assertTrue(any("changed" in r for r in logs.output), logs.output)

    def test_buffer_rewritten_with_same_values_stays_compiled(self):
        # DDP broadcasts buffers before every forward: the version counter
        # moves, the values do not, and the region must stay in tirc.
        m = M.NanoGPT(n_layer=1).to(DEVICE).eval()
        c = self.compile(m)
        idx = torch.randint(0, 96, (2, 16), device=DEVICE)
        from tirc import compiler
        with torch.no_grad():
            c(idx)
            b = m.h[0].attn.bias
            b.copy_(b.clone())  # same bits, new version
            out = c(idx)
            self.assertLessEqual(rel_err(out, m(idx)), 1e-5)
            parts = [r["partition"]() for g in compiler._graphs for r in g.regions if r.get("partition")]
            self.assertTrue(parts and all(p.stale_const is None for p in parts if p is not None))
            # one value differs: stale, and the answer follows the new buffer
            b.view(-1)[-1] = 0.0 if b.view(-1)[-1].item() != 0 else 1.0
            out = c(idx)
        self.assertLessEqual(rel_err(out, m(idx)), 1e-5)
        self.assertTrue(any(p.stale_const for p in parts if p is not None))


class TestOps(Base):
    def test_safe_softmax_fused_and_exact(self):
        q, k, v = (torch.randn(2, 4, 8, 16, device=DEVICE) for _ in range(3))
        rows = torch.zeros(8, dtype=torch.bool, device=DEVICE)
        rows[3] = True  # query row 3 sees nothing: 0 from _safe_softmax, never nan
        m = M.SafeSoftmaxAttention()
        with torch.no_grad():
            out, sums = self.compile(m)(q, k, v, rows)
            ref, ref_sums = m(q, k, v, rows)
        self.assertEqual(out[:, :, 3].abs().max().item(), 0.0)
        self.assertLessEqual(rel_err(out, ref), 1e-5, f"seed {self.seed}")
        self.assertTrue(torch.equal(sums.isnan(), ref_sums.isnan()))
        self.assertLessEqual(rel_err(sums, ref_sums), 1e-5)
        self.assertEqual(len(sdpa_lines()), 1)

    def test_norms_and_activations_all_in_tirc(self):
        m = M.NormsAndActivations().to(DEVICE).eval()
        x = torch.randn(2, 5, 32, device=DEVICE)
        with self.assertNoLogs("tirc", level="WARNING"), torch.no_grad():
            out = self.compile(m)(x)
        self.assertLessEqual(rel_err(out, m(x)), 1e-5, f"seed {self.seed}")
        self.assertEqual(len(tirc.compiled_graphs()), 1)

    def test_cat_with_empty_past(self):
        q, k, v = (torch.randn(2, 4, 8, 16) for _ in range(3))
        past = torch.randn(2, 4, 0, 16)
        self.check(M.EmptyPastKV(), [q, k, v, past, past.clone()], LOW, n_sdpa=1, causal=False)

    def test_symbols_bound_through_size_inputs(self):
        m = M.SplitByCumsum()
        c = self.compile(m, dynamic=True)
        with torch.no_grad():
            for b, t in ((2, 5), (3, 7)):
                x = torch.randn(b, t, 16, device=DEVICE)
                self.assertLessEqual(rel_err(c(x), m(x)), 1e-5)
        self.assertTrue(any("%sym." in r.tir for r in tirc.compiled_graphs()),
                        [r.tir for r in tirc.compiled_graphs()])


class Fn(torch.nn.Module):
    """A module around a function (torch.compile of a module, like the others)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *a):
        return self.fn(*a)


class TestExportRefusesOrWritesExactly(Base):
    """Forms libtirc rejects must be written exactly in other TIR ops or left
    to PyTorch at export time; with fallback="ops" any libtirc error raises,
    so these fail loudly if the exporter hands tirc something it rejects."""

    def run_both(self, fn, *args):
        with torch.no_grad():
            ref = fn(*args)
            out = self.compile(Fn(fn), options={"fallback": "ops"})(*args)
        return out, ref

    def test_integer_abs_neg_relu_exact_in_tirc(self):
        for dt in (torch.int64, torch.int32, torch.int8, torch.uint8):
            info = torch.iinfo(dt)
            x = torch.tensor([[info.min, -7, -1, 0], [1, 5, 100, info.max]], device=DEVICE).to(dt)
            for name, fn in (("abs", torch.abs), ("neg", torch.neg), ("relu", torch.relu)):
                torch._dynamo.reset()
                tirc.reset()
                out, ref = self.run_both(fn, x)
                self.assertTrue(torch.equal(out, ref), f"{name} {dt}: {out} vs {ref}")
                self.assertEqual(len(tirc.compiled_graphs()), 1, f"{name} {dt} did not run in tirc")

    def test_masked_fill_with_a_wider_mask(self):
        x = torch.randn(3, 1, device=DEVICE)
        mask = torch.rand(2, 3, 4, device=DEVICE) > 0.5
        out, ref = self.run_both(lambda x, m: x.masked_fill(m, -2.5), x, mask)
        self.assertEqual(out.shape, (2, 3, 4))
        self.assertTrue(torch.equal(out, ref))
        self.assertEqual(len(tirc.compiled_graphs()), 1)

    def test_negative_eps_left_to_pytorch(self):
        x = torch.randn(4, 8, device=DEVICE)
        out, ref = self.run_both(lambda x: torch.nn.functional.layer_norm(x, (8,), eps=-1e-3) * 2, x)
        self.assertTrue(torch.allclose(out, ref, equal_nan=True, atol=1e-6))
        self.assertNotIn("layer_norm", "".join(r.tir for r in tirc.compiled_graphs()))

    def test_integer_batched_matmul_left_to_pytorch(self):
        a = torch.randint(-4, 4, (2, 2, 3, 4), device=DEVICE)
        b = torch.randint(-4, 4, (2, 2, 4, 5), device=DEVICE)
        out, ref = self.run_both(lambda a, b: a @ b, a, b)
        self.assertTrue(torch.equal(out, ref))
        for r in tirc.compiled_graphs():
            self.assertNotIn("-> ()", r.tir)

    def test_integer_literal_out_of_range_left_to_pytorch(self):
        x = torch.randint(0, 255, (5,), dtype=torch.uint8, device=DEVICE)
        out, ref = self.run_both(lambda x: torch.full_like(x, -9) + x, x)  # torch wraps: 247
        self.assertTrue(torch.equal(out, ref))

    def test_integer_add_with_alpha_out_of_range(self):
        a = torch.randint(0, 255, (5, 5), dtype=torch.uint8, device=DEVICE)
        b = torch.randint(0, 255, (5, 5), dtype=torch.uint8, device=DEVICE)
        out, ref = self.run_both(lambda a, b: torch.add(a, b, alpha=-3), a, b)
        self.assertTrue(torch.equal(out, ref))


class TestIndexAsReshape(Base):
    """index.Tensor whose indices are each its dim's arange (Hugging Face's
    padding mask: mask[arange(B)[:, None, None, None], arange(S)[None, None, None, :]])
    is a reshape in tirc; any other index stays in PyTorch."""

    def in_tirc(self, fn, *args, dynamic=False):
        with torch.no_grad():
            ref = fn(*args)
            out = self.compile(Fn(fn), dynamic=dynamic, options={"fallback": False})(*args)
        self.assertTrue(torch.equal(out, ref), f"{out} vs {ref}")
        left = [op for g in tirc.explain().graphs for op in g["left"]]
        self.assertEqual(left, [], "index left to PyTorch")
        self.assertTrue(any("index" in r.tir for r in tirc.compiled_graphs()))
        return out

    def left_to_torch(self, fn, *args):
        with torch.no_grad():
            ref = fn(*args)
            out = self.compile(Fn(fn), options={"fallback": "ops"})(*args)
        self.assertTrue(torch.equal(out, ref), f"{out} vs {ref}")
        left = [op for g in tirc.explain().graphs for op in g["left"]]
        self.assertIn("aten::index.Tensor", left)

    @staticmethod
    def hf_mask(m, q):
        b, s = m.shape
        bi = torch.arange(b, device=m.device)[:, None, None, None]
        ki = torch.arange(s, device=m.device)[None, None, None, :] + 0
        return m.bool()[bi, ki] & q  # [B, 1, 1, S] & [B, 1, S, S]

    def test_hf_padding_mask_folded_and_dynamic(self):
        for dynamic, (b, s) in ((False, (2, 8)), (True, (3, 5))):
            torch._dynamo.reset()
            tirc.reset()
            m = torch.ones(b, s, dtype=torch.long, device=DEVICE)
            m[0, :2] = 0
            q = torch.rand(b, 1, s, s, device=DEVICE) > 0.3
            self.in_tirc(self.hf_mask, m, q, dynamic=dynamic)

    def test_transposing_and_non_adjacent_indices(self):
        x = torch.randn(3, 4, 5, device=DEVICE)
        # result[s, b] = x[b, :, s]... with the indices apart: broadcast dims first
        self.in_tirc(lambda x: x[torch.arange(3, device=x.device)[None, :], :,
                                 torch.arange(5, device=x.device)[:, None]] * 2, x)
        torch._dynamo.reset()
        tirc.reset()
        y = torch.randn(4, 6, device=DEVICE)
        self.in_tirc(lambda y: y[torch.arange(4, device=y.device)[None, :],
                                 torch.arange(6, device=y.device)[:, None]] + 1, y)

    def test_ranges_are_slices(self):
        # rotary tables: cos[position_ids] with position_ids = arange(S) (+ an offset)
        cos = torch.randn(16, 6, device=DEVICE)
        self.in_tirc(lambda c: c[torch.arange(5, device=c.device)[None, :] + 2] * 2, cos)
        torch._dynamo.reset()
        tirc.reset()
        self.in_tirc(lambda c: c[:, torch.full((1, 2), 4, device=c.device)] + 1, cos)
        torch._dynamo.reset()
        tirc.reset()
        # negative indices count from the end (Falcon's fused_qkv[..., [-2], :])
        self.in_tirc(lambda c: c[torch.arange(4, device=c.device) - 4, [-2]] + 1, cos)
        for n in (7, 9):  # symbolic: x[1:] as x[arange(s0 - 1) + 1]
            x = torch.randn(n, 3, device=DEVICE)
            self.in_tirc(lambda x: x[torch.arange(x.shape[0] - 1, device=x.device) + 1] * 2, x,
                         dynamic=True)

    def test_broadcast_over_a_dim_no_index_spans(self):
        y = torch.randn(4, 6, device=DEVICE)
        self.in_tirc(lambda y: y[torch.arange(4, device=y.device)[:, None].expand(4, 3)] + 1, y)

    def test_random_index_patterns_match_eager(self):
        # ranges, reversed ranges, negative ranges, random gathers, broadcast and
        # expanded indices, slices between them: tirc or PyTorch, always eager's result
        import random
        rng = random.Random(self.seed)
        lowered = 0
        for _ in range(40):
            shape = [rng.randint(1, 5) for _ in range(rng.randint(1, 4))]
            x = torch.randn(shape, device=DEVICE)
            rank, idx = rng.randint(1, 3), []
            for m in shape:
                kind = rng.random()
                if kind < 0.25:
                    idx.append(slice(None))
                    continue
                v = (torch.arange(m) if kind < 0.6 else torch.arange(rng.randint(1, m)) if kind < 0.7
                     else torch.arange(m) - m if kind < 0.8 else torch.arange(m).flip(0)
                     if kind < 0.9 else torch.randint(0, m, (m,)))
                sh = [1] * rank
                sh[rng.randrange(rank)] = v.numel()
                v = v.reshape(sh)
                if rng.random() < 0.3:
                    v = v.expand([rng.randint(1, 3) if d == 1 else d for d in sh])
                idx.append(v.to(DEVICE))
            idx = tuple(idx)
            try:
                ref = x[idx] * 2
            except IndexError:  # indices that do not broadcast together
                continue
            torch._dynamo.reset()
            tirc.reset()
            with torch.no_grad():
                out = self.compile(Fn(lambda x, i=idx: x[i] * 2), options={"fallback": "ops"})(x)
            self.assertEqual(out.shape, ref.shape, f"seed {self.seed}: {shape} {idx}")
            self.assertTrue(torch.equal(out, ref), f"seed {self.seed}: {shape} {idx}")
            lowered += not any("index" in op for g in tirc.explain().graphs for op in g["left"])
        self.assertGreater(lowered, 0)

    def test_other_indices_stay_in_pytorch(self):
        y = torch.randn(5, 5, device=DEVICE)
        ar = lambda n: torch.arange(n, device=DEVICE)  # noqa: E731
        for fn in (lambda y: y[ar(5), ar(5)] + 1,            # the diagonal
                   lambda y: y[ar(5).flip(0)] + 1,           # reversed
                   lambda y: y[(ar(5) + 1) % 5] + 1,         # rotated
                   lambda y: y[torch.tensor([0, 2, 1, 3, 4])] + 1,  # not in order
                   lambda y: y[ar(3) * 2] + 1):              # a step
            torch._dynamo.reset()
            tirc.reset()
            self.left_to_torch(fn, y)


class TestExplain(Base):
    def test_explain_reports_attention_and_fallbacks(self):
        m = M.WithCumsum().to(DEVICE).eval()
        x = torch.randn(2, 16, 64, device=DEVICE)
        c = self.compile(m)
        with torch.no_grad(), self.assertLogs("tirc", level="WARNING"):
            c(x)
        e = tirc.explain(c)
        self.assertEqual(len(e.graphs), 1, str(e))
        g = e.graphs[0]
        self.assertEqual(g["n_sdpa"], 1, str(e))
        self.assertIn("aten::cumsum", g["left"], str(e))
        s = [s for r in g["regions"] for s in r["sdpa"]][0]
        self.assertEqual(s["attrs"]["is_causal"], "false")
        self.assertIn("kernel", s["attrs"])
        text = str(e)
        self.assertIn("1 attention block(s) as sdpa", text)
        self.assertIn("left to PyTorch: aten::cumsum x1", text)
        self.assertIn("is_causal=false", text)
        # only this model's graphs: another compiled function is not listed
        with torch.no_grad():
            self.compile(Fn(lambda a: torch.exp(a) + 1))(x)
        self.assertEqual(len(tirc.explain(c).graphs), 1)
        self.assertEqual(len(tirc.explain().graphs), 2)

    def test_explain_causal_mask_and_unfused_softmax(self):
        m = M.NanoGPT(n_layer=2, flash=False).to(DEVICE).eval()
        idx = torch.randint(0, 96, (2, 16), device=DEVICE)
        with torch.no_grad():
            self.compile(m)(idx)
        e = tirc.explain(m, remarks=True)
        self.assertEqual(e.n_sdpa, 2, str(e))
        self.assertEqual(e.n_softmax, 0, str(e))
        for r in e.graphs[0]["regions"]:
            for s in r["sdpa"]:
                self.assertEqual((s["attrs"]["is_causal"], s["mask"]), ("true", None), str(e))
        # remarks come from the tirc driver when it is built next to libtirc
        if tirc.report._tirc_binary():
            self.assertIn("sdpa: kernel=", str(e))
        # a softmax that is not attention stays a softmax and is reported
        torch._dynamo.reset()
        tirc.reset()
        x = torch.randn(4, 10, device=DEVICE)
        with torch.no_grad():
            c = self.compile(Fn(lambda x: torch.softmax(x * 2, -1)))
            c(x)
        e = tirc.explain(c)
        self.assertEqual((e.n_sdpa, e.n_softmax), (0, 1), str(e))
        self.assertIn("not fused into attention", str(e))

    def test_explain_region_failure(self):
        m = M.CrossAttention().to(DEVICE).eval()
        x, mem = torch.randn(2, 8, 64, device=DEVICE), torch.randn(2, 12, 64, device=DEVICE)
        with torch.no_grad(), _Boom("__init__"), self.assertLogs("tirc", level="WARNING"):
            self.compile(m, options={"cache_dir": tempfile.mkdtemp()})(x, mem)
        e = tirc.explain()
        self.assertTrue(any("could not be compiled" in r["status"] and "injected" in r["status"]
                            for g in e.graphs for r in g["regions"]), str(e))
        self.assertEqual(e.n_sdpa, 0, str(e))


class _Boom:
    """Makes tirc's compiled modules (or compiles) fail, as a libtirc bug would."""

    def __init__(self, where):
        self.where = where
        self.calls = 0

    def __enter__(self):
        self.saved = getattr(tirc._lib.Module, self.where)
        boom = self

        def fail(mod, *a, **k):
            boom.calls += 1
            raise tirc._lib.TircError(3, "injected failure")
        setattr(tirc._lib.Module, self.where, fail)
        return self

    def __exit__(self, *exc):
        setattr(tirc._lib.Module, self.where, self.saved)


class TestFallback(Base):
    def test_ops_left_to_pytorch_are_an_error_without_fallback(self):
        x = torch.randn(4, 6, device=DEVICE)
        fn = Fn(lambda x: torch.cumsum(x, 1) * 2)  # cumsum has no TIR form
        with torch.no_grad():
            with self.assertRaisesRegex(Exception, "fallback=False and ops would run in PyTorch: "
                                                   "aten::cumsum"):
                self.compile(fn, options={"fallback": False})(x)
            torch._dynamo.reset()
            tirc.reset()
            out = self.compile(fn, options={"fallback": "ops"})(x)  # allowed, and logged
        self.assertLessEqual(rel_err(out, torch.cumsum(x, 1) * 2), 1e-6)
        with self.assertRaisesRegex(Exception, "fallback"):
            torch._dynamo.reset()
            self.compile(fn, options={"fallback": "sometimes"})(x)


    def test_run_time_error_falls_back_logged_once(self):
        m = M.CrossAttention().to(DEVICE).eval()
        c = self.compile(m)
        with torch.no_grad(), _Boom("run") as boom, self.assertLogs("tirc", level="WARNING") as logs:
            for _ in range(3):
                x, mem = torch.randn(2, 8, 64, device=DEVICE), torch.randn(2, 12, 64, device=DEVICE)
                self.assertLessEqual(rel_err(c(x, mem), m(x, mem)), 1e-5)
        failed = [r for r in logs.output if "failed at run time" in r]
        self.assertEqual(len(failed), 1, logs.output)
        self.assertIn("injected failure", failed[0])
        self.assertEqual(boom.calls, 1)  # the region stays in PyTorch after the failure

    def test_run_time_error_raises_without_fallback(self):
        m = M.CrossAttention().to(DEVICE).eval()
        c = self.compile(m, options={"fallback": False})
        x = torch.randn(2, 8, 64, device=DEVICE)
        with torch.no_grad(), _Boom("run"), self.assertRaises(tirc._lib.TircError):
            c(x, x)

    def test_compile_error_falls_back_per_region(self):
        m = M.CrossAttention().to(DEVICE).eval()
        x, mem = torch.randn(2, 8, 64, device=DEVICE), torch.randn(2, 12, 64, device=DEVICE)
        with torch.no_grad(), _Boom("__init__"), self.assertLogs("tirc", level="WARNING") as logs:
            out = self.compile(m, options={"cache_dir": tempfile.mkdtemp()})(x, mem)
        self.assertLessEqual(rel_err(out, m(x, mem)), 1e-5)
        self.assertTrue(any(re.search(r"region fused_\d+ could not be compiled", r) and "injected" in r
                            for r in logs.output),
                        logs.output)


class TestLayouts(Base):
    def check_layout(self, fn, *args, dynamic=False):
        with torch.no_grad():
            ref = fn(*args)
            out = self.compile(Fn(fn), dynamic=dynamic, options={"fallback": False})(*args)
        self.assertGreater(len(tirc.compiled_graphs()), 0)
        self.assertEqual(out.is_contiguous(memory_format=torch.channels_last),
                         ref.is_contiguous(memory_format=torch.channels_last))
        self.assertEqual(out.is_contiguous(), ref.is_contiguous())
        self.assertLessEqual(rel_err(out, ref), 1e-6)
        return out, ref

    def test_channels_last_elementwise_keeps_layout(self):
        x = torch.randn(2, 3, 4, 5, device=DEVICE).to(memory_format=torch.channels_last)
        y = torch.randn(2, 3, 4, 5, device=DEVICE).to(memory_format=torch.channels_last)
        out, ref = self.check_layout(lambda x, y: torch.sigmoid(x) * y + 1, x, y)
        self.assertTrue(out.is_contiguous(memory_format=torch.channels_last))
        self.assertEqual(out.stride(), ref.stride())
        b = torch.randn(3, 1, 1, device=DEVICE)
        out, ref = self.check_layout(lambda x, b: torch.relu(x + b), x, b)
        self.assertEqual(out.stride(), ref.stride())

    def test_channels_last_dynamic(self):
        f = lambda x: torch.tanh(x) - 0.5  # noqa: E731
        for n in (2, 3):
            x = torch.randn(n, 4, 3, 5, device=DEVICE).to(memory_format=torch.channels_last)
            out, _ = self.check_layout(f, x, dynamic=True)
            self.assertTrue(out.is_contiguous(memory_format=torch.channels_last))

    def test_transposed_input_keeps_strides(self):
        x = torch.randn(6, 4, device=DEVICE).t()
        out, ref = self.check_layout(lambda x: torch.exp(x) * 2, x)
        self.assertEqual(out.stride(), ref.stride())


class TestWideOutputs(Base):
    """An output product whose rows are not 16-byte aligned (GPT-2's 50257
    logits) comes back as a strided view of a wider product (on CUDA for
    large ones by default; wide_outputs=True forces it for any size)."""

    def run_head(self, wide, bias, view):
        lin = torch.nn.Linear(24, 37, bias=bias).to(DEVICE)

        def head(x):
            y = lin(x.reshape(-1, 24))
            return y.view(3, 5, 37) if view else y
        x = torch.randn(3, 5, 24, device=DEVICE)
        with torch.no_grad():
            ref = head(x)
            out = self.compile(Fn(head), options={"fallback": False, "wide_outputs": wide})(x)
        self.assertLessEqual(rel_err(out, ref), 1e-5)
        self.assertEqual(out.shape, ref.shape)
        return out, tirc.compiled_graphs()[-1].tir

    def test_forced_wide_output_is_a_strided_view(self):
        for bias in (True, False):
            for view in (True, False):
                out, tir = self.run_head(True, bias, view)
                self.assertIn(".wide", tir)
                self.assertEqual(out.stride()[-2], 40, (bias, view))  # 37 f32 padded to 40

    def test_not_wide_when_off_or_small(self):
        out, tir = self.run_head(False, True, True)
        self.assertNotIn(".wide", tir)
        self.assertTrue(out.is_contiguous())
        if DEVICE.type == "cuda":  # auto: this product is far below the size that pays
            out, tir = self.run_head(None, True, True)
            self.assertNotIn(".wide", tir)


class TestMath(Base):
    def special_values(self, dtype):
        fi = torch.finfo(dtype)
        v = [0.0, -0.0, 1e-30, -1e-30, 1e-12, -1e-12, 1e-7, -1e-7, 1e-4, -1e-4, 0.3, -0.3, 1.0,
             -1.0, -0.9999999, 20.0, -20.0, 88.0, 89.0, 100.0, -100.0, 709.0, 710.0, -800.0,
             -1.5, 1e30, fi.max, -fi.max, fi.tiny, float("inf"), float("-inf"), float("nan")]
        x = torch.tensor(v, dtype=torch.float64)
        ramp = torch.logspace(-30, 2.5, 400, dtype=torch.float64)
        return torch.cat([x, ramp, -ramp]).to(dtype).to(DEVICE)

    def test_expm1_log1p_accurate_in_tirc(self):
        tol = {torch.float32: (2e-6, 1e-30), torch.float64: (1e-14, 1e-300),
               torch.bfloat16: (1.6e-2, 0.0), torch.float16: (1e-3, 0.0)}
        for fn in (torch.expm1, torch.log1p):
            for dt, (rtol, atol) in tol.items():
                torch._dynamo.reset()
                tirc.reset()
                x = self.special_values(dt)
                with torch.no_grad():
                    out = self.compile(Fn(fn), options={"fallback": False})(x)
                self.assertEqual(len(tirc.compiled_graphs()), 1, f"{fn.__name__} not in tirc")
                self.assertNotRegex(tirc.compiled_graphs()[0].tir, r"= (expm1|log1p)\(")
                # against float64 (torch's f32 log1p is off for subnormals itself)
                ref = fn(x.double()).to(dt)
                torch.testing.assert_close(out, ref, rtol=rtol, atol=atol, equal_nan=True,
                                           msg=lambda m: f"{fn.__name__} {dt}: {m}")
                # the sign of zero is kept: f(-0.0) is -0.0
                self.assertEqual(torch.signbit(out[:2].cpu()).tolist(), [False, True])

    def test_elu_softplus_mish_run_in_tirc(self):
        m = Fn(lambda x: torch.nn.functional.elu(x) + torch.nn.functional.softplus(x, beta=2.0)
               + torch.nn.functional.mish(x) + torch.nn.functional.celu(x, alpha=0.5)
               + torch.nn.functional.selu(x) + torch.nn.functional.relu6(x))
        x = self.special_values(torch.float32)
        with self.assertNoLogs("tirc", level="WARNING"), torch.no_grad():
            out = self.compile(m, options={"fallback": False})(x)
        self.assertEqual(len(tirc.compiled_graphs()), 1)
        torch.testing.assert_close(out, m(x), rtol=2e-6, atol=1e-6, equal_nan=True)

    def test_cumsum_stays_in_pytorch(self):
        # TIR has no scan op: cumsum is left to PyTorch (docs/torch.md)
        with self.assertLogs("tirc", level="WARNING") as logs, torch.no_grad():
            x = torch.randn(4, 7, device=DEVICE)
            out = self.compile(Fn(lambda x: torch.cumsum(torch.exp(x), dim=1) * 2))(x)
        self.assertLessEqual(rel_err(out, torch.cumsum(torch.exp(x), 1) * 2), 1e-6)
        self.assertTrue(any("cumsum" in r for r in logs.output), logs.output)


class TestAutograd(Base):
    def test_training_gradients_match_eager(self):
        # Forward in tirc, backward in PyTorch: gradients must be eager's.
        m = M.LlamaBlock().to(DEVICE)
        ref = copy.deepcopy(m)
        x = torch.randn(2, 16, 64, device=DEVICE)
        c = self.compile(m)
        out = c(x)
        out.square().mean().backward()
        ref(x).square().mean().backward()
        self.assertGreater(len(tirc.compiled_graphs()), 0)
        for (name, p), q in zip(m.named_parameters(), ref.parameters()):
            self.assertLessEqual(rel_err(p.grad, q.grad), 1e-4, f"{name} seed {self.seed}")

    def test_input_requiring_grad(self):
        m = M.CrossAttention().to(DEVICE)
        x = torch.randn(2, 8, 64, device=DEVICE, requires_grad=True)
        mem = torch.randn(2, 12, 64, device=DEVICE)
        out = self.compile(m)(x, mem)
        (g,) = torch.autograd.grad(out.sum(), x)
        x2 = x.detach().clone().requires_grad_()
        (g2,) = torch.autograd.grad(m(x2, mem).sum(), x2)
        self.assertLessEqual(rel_err(g, g2), 1e-4)

    def test_dropout_in_training_without_grad(self):
        # model.train() under no_grad: dropout is tirc's (its own RNG), fused into sdpa.
        m = M.NanoGPT(n_layer=1, dropout=0.5).to(DEVICE).train()
        idx = torch.randint(0, 96, (2, 16), device=DEVICE)
        with torch.no_grad():
            out = self.compile(m)(idx)
        self.assertTrue(torch.isfinite(out).all())
        lines = sdpa_lines()
        self.assertEqual(len(lines), 1)
        self.assertEqual(attr(lines[0], "dropout_p"), "0.5")


class TestOptions(Base):
    def test_installed_package_when_asked(self):
        # scripts/test-install.sh runs these tests against the pip-installed
        # package: it must be that copy, with its own libtirc.
        if not os.environ.get("TIRC_TEST_INSTALLED"):
            self.skipTest("source tree run")
        pkg = os.path.dirname(os.path.abspath(tirc.__file__))
        self.assertFalse(pkg.startswith(os.path.join(ROOT, "python")), pkg)
        self.assertEqual(tirc._lib.library().path, os.path.join(pkg, "libtirc.so"))

    def test_dump_ir_to_directory_and_sdpa_kernel(self):
        d = tempfile.mkdtemp(prefix="tirc-dump-")
        m = M.CrossAttention().to(DEVICE).eval()
        x, mem = torch.randn(2, 8, 64, device=DEVICE), torch.randn(2, 12, 64, device=DEVICE)
        c = self.compile(m, options={"dump_ir": d, "sdpa_kernel": "math"})
        with torch.no_grad():
            self.assertLessEqual(rel_err(c(x, mem), m(x, mem)), 1e-5)
        self.assertIn('kernel="math"', sdpa_lines()[0])
        files = sorted(os.path.basename(f) for f in glob.glob(os.path.join(d, "*")))
        self.assertEqual(files, ["graph_0.opt.tir", "graph_0.passes.txt", "graph_0.tir"])
        dump = open(os.path.join(d, "graph_0.passes.txt")).read()
        self.assertIn("// ----- IR after fuse-attention -----", dump)

    def test_time_passes(self):
        # The compile time by phase: the backend's (stderr), tirc's table per
        # region (the record), and the graph's line in tirc.explain().
        m = M.CrossAttention().to(DEVICE).eval()
        x = torch.randn(2, 8, 64, device=DEVICE)
        err = io.StringIO()
        with torch.no_grad(), contextlib.redirect_stderr(err):
            self.compile(m, options={"time_passes": True})(x, x)
        text = err.getvalue()
        self.assertRegex(text, r"tirc: graph \d+ compiled in [\d.]+ s \(aot_autograd [\d.]+, "
                               r"partition [\d.]+, export [\d.]+, tirc [\d.]+\)")
        rec = tirc.compiled_graphs()[0]
        for phase in ("parse", "fuse-attention", "verify", "lower", "load", "total"):
            self.assertIn(phase, rec.timings)
        self.assertIn(rec.timings.splitlines()[0], text)
        self.assertRegex(str(tirc.explain()), r"compile: [\d.]+ s \(aot_autograd")
        # off by default: no table
        tirc.reset()
        torch._dynamo.reset()
        with torch.no_grad():
            self.compile(m)(x, x)
        self.assertIsNone(tirc.compiled_graphs()[0].timings)

    def test_target_option_reaches_the_compiler(self):
        m = M.CrossAttention().to(DEVICE).eval()
        x = torch.randn(2, 8, 64, device=DEVICE)
        with torch.no_grad():
            self.compile(m, options={"target": "cpu"})(x, x)
        self.assertEqual([r.target for r in tirc.compiled_graphs()], ["cpu"])

    def test_unknown_option_is_an_error(self):
        m = M.CrossAttention().to(DEVICE).eval()
        x = torch.randn(2, 8, 64, device=DEVICE)
        with self.assertRaises(Exception) as cm:
            self.compile(m, options={"no_such_option": 1})(x, x)
        self.assertIn("no_such_option", str(cm.exception))

    def test_registered_with_dynamo(self):
        self.assertIn("tirc", torch._dynamo.list_backends())

    def test_disk_cache_second_process(self):
        code = ("import sys, torch; sys.path[:0] = %r; import tirc, models as M\n"
                "m = M.CrossAttention().to(%r).eval(); x = torch.randn(2, 8, 64, device=%r)\n"
                "with torch.no_grad(): torch.compile(m, backend='tirc', options={'cache_dir': %r})(x, x)\n"
                "print('HIT' if tirc.compiled_graphs()[0].cache_hit else 'MISS')\n"
                % ([p for p in (PYDIR, HERE) if p], DEVICE.type, DEVICE.type, self.cache))
        runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
                for _ in range(2)]
        for r in runs:
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertEqual([r.stdout.split()[-1] for r in runs], ["MISS", "HIT"])
        self.assertTrue(glob.glob(os.path.join(self.cache, "graphs", "*.opt.tir")))


try:
    import transformers
except ImportError:
    transformers = None


@unittest.skipUnless(DEVICE.type == "cuda", "CUDA graphs need the GPU")
class TestCudaGraphs(Base):
    """Regions called again on the same buffers replay a CUDA graph of their
    run (runtime/cuda_graph.c): the results must be those of eager on the
    new data each time, and graphs must actually be recorded."""

    def modules(self):
        from tirc import compiler
        return [m for (m, _) in compiler._modules.values()]

    def run_loop(self, options):
        torch._dynamo.reset()
        tirc.reset()
        torch.manual_seed(self.seed)
        m = M.NanoGPT(n_layer=2).to(DEVICE).eval()
        c = self.compile(m, options=options)
        idx = torch.zeros(3, 40, dtype=torch.long, device=DEVICE)
        errs = []
        with torch.no_grad():
            for it in range(8):
                # new data in the same buffer: a replay that did not compute would show
                idx.copy_(torch.randint(0, 96, idx.shape, device=DEVICE))
                out = c(idx)
                errs.append(rel_err(out, m(idx)))
        return errs, [mod.cuda_graphs_recorded for mod in self.modules()]

    def test_replay_equals_eager(self):
        errs, recorded = self.run_loop({"cuda_graphs": True})
        print(f"\n  graphs recorded {recorded}, max rel err {max(errs):.3g}", file=sys.stderr)
        self.assertLessEqual(max(errs), 1e-5, f"seed {self.seed}: {errs}")
        self.assertTrue(recorded and all(r >= 1 for r in recorded), recorded)
        self.assertRegex(str(tirc.explain()), r"CUDA graphs: [1-9]\d* recorded by")
        errs_off, recorded_off = self.run_loop({"cuda_graphs": False})
        self.assertLessEqual(max(errs_off), 1e-5, f"seed {self.seed}: {errs_off}")
        self.assertEqual(set(recorded_off), {0})


@unittest.skipIf(transformers is None, "transformers is not installed")
class TestTransformers(Base):
    """Hugging Face models with attn_implementation="eager", tiny random configs."""

    def run_hf(self, model, args, n_sdpa, causal, gqa=None, masked=None):
        model.config.use_cache = False

        class Wrap(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, *a):
                out = self.m(*a, use_cache=False) if len(a) == 1 else self.m(a[0], attention_mask=a[1])
                return out[0]
        return self.check(Wrap(model), args, LOW, n_sdpa=n_sdpa, causal=causal, gqa=gqa,
                          masked=masked)

    def test_gpt2(self):
        cfg = transformers.GPT2Config(n_layer=2, n_head=4, n_embd=64, vocab_size=100,
                                      n_positions=64, attn_implementation="eager")
        self.run_hf(transformers.GPT2LMHeadModel(cfg), [torch.randint(0, 100, (2, 20))], 2, True)

    def test_llama(self):
        cfg = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                       num_attention_heads=4, num_key_value_heads=2,
                                       vocab_size=100, max_position_embeddings=64,
                                       attn_implementation="eager")
        self.run_hf(transformers.LlamaForCausalLM(cfg), [torch.randint(0, 100, (2, 20))], 2, True,
                    gqa=True)

    def test_bert(self):
        cfg = transformers.BertConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, vocab_size=100,
                                      max_position_embeddings=64, attn_implementation="eager")
        ids = torch.randint(0, 100, (2, 20))
        mask = torch.ones(2, 20, dtype=torch.long)
        mask[1, 12:] = 0
        self.run_hf(transformers.BertModel(cfg, add_pooling_layer=False), [ids, mask], 2, False,
                    masked=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    unittest.main(verbosity=2)
