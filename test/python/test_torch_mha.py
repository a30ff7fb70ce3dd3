"""PyTorch's own attention API through backend="tirc".

nn.MultiheadAttention (Dynamo traces its Python path: F.multi_head_attention_forward,
which calls SDPA, or the written-out softmax with need_weights=True),
nn.TransformerEncoderLayer / nn.TransformerEncoder in eval mode (the fast
path: aten._transformer_encoder_layer_fwd, decomposed by python/tirc/aten_mha.py),
aten._native_multi_head_attention called directly, and nn.TransformerDecoderLayer.

Each case compiles the module with fallback=False (any tirc failure raises),
compares every output with eager on fresh random data (f32, ||out - ref|| /
||ref|| <= 1e-5; the seed is printed on failure), requires that no op was
left to PyTorch, and checks the attention tirc made of it through
tirc.explain(): one sdpa per attention; a causal mask (generate_square_
subsequent_mask, or a bool triu) gone for is_causal=true; key padding a key
mask (query dim 1); need_weights=True no sdpa (the softmax stays, its
probabilities are returned).

Runs on the CPU; TIRC_TEST_DEVICE=cuda runs it on the GPU.  Exit code 77
(skipped) when torch is not installed.
"""
import os
import sys
import tempfile
import time
import unittest

try:
    import torch
    from torch import nn
except ImportError:
    print("torch is not installed: skipping the MHA / Transformer tests")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))

import tirc  # noqa: E402

DEVICE = torch.device(os.environ.get("TIRC_TEST_DEVICE", "cpu"))
BOUND = 1e-5 if DEVICE.type == "cpu" else 1e-3  # f32; CUDA's f32 GEMMs may differ more
B, T, S, D, H = 2, 10, 12, 64, 4
NEG_INF = float("-inf")


def rel_err(out, ref):
    out, ref = out.detach().double().cpu(), ref.detach().double().cpu()
    return ((out - ref).norm() / ref.norm()).item()


def causal_float(n):
    return nn.Transformer.generate_square_subsequent_mask(n, device=DEVICE)


def causal_bool(n):
    return torch.ones(n, n, dtype=torch.bool, device=DEVICE).triu(1)


def padding(n, lengths):
    """A key padding mask (True = ignore) for sequences of these lengths."""
    return torch.arange(n, device=DEVICE)[None, :] >= torch.tensor(lengths, device=DEVICE)[:, None]


def as_float_mask(kpm):
    # the float form of a bool key padding mask: 0 keeps, -inf ignores
    return torch.zeros(kpm.shape, device=kpm.device).masked_fill(kpm, NEG_INF)


class MHA(nn.Module):
    """nn.MultiheadAttention; `causal` builds the attention mask inside
    forward ("float": generate_square_subsequent_mask, "bool": triu), so
    tirc sees its values; `float_kpm` passes the padding mask as float."""

    def __init__(self, batch_first=True, kdim=None, vdim=None, need_weights=False, average=True,
                 causal=None, float_kpm=False):
        super().__init__()
        self.mha = nn.MultiheadAttention(D, H, batch_first=batch_first, kdim=kdim, vdim=vdim)
        self.need_weights, self.average, self.causal, self.float_kpm = \
            need_weights, average, causal, float_kpm

    def forward(self, q, k, v, key_padding_mask=None, attn_mask=None):
        n = q.shape[1] if self.mha.batch_first else q.shape[0]
        if self.causal == "float":
            attn_mask = causal_float(n)
        elif self.causal == "bool":
            attn_mask = causal_bool(n)
        if self.float_kpm and key_padding_mask is not None:
            key_padding_mask = as_float_mask(key_padding_mask)
        out, w = self.mha(q, k, v, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                          need_weights=self.need_weights, average_attn_weights=self.average)
        return (out, w) if self.need_weights else out


class EncoderLayer(nn.Module):
    def __init__(self, norm_first=False, activation="relu", causal=None):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(D, H, 2 * D, batch_first=True,
                                                norm_first=norm_first, activation=activation)
        self.causal = causal

    def forward(self, x, key_padding_mask=None, src_mask=None):
        if self.causal == "float":
            src_mask = causal_float(x.shape[1])
            if key_padding_mask is not None:  # the same type as src_mask (PyTorch warns otherwise)
                key_padding_mask = as_float_mask(key_padding_mask)
        elif self.causal == "bool":
            src_mask = causal_bool(x.shape[1])
        elif self.causal == "minus_one":
            src_mask = -causal_bool(x.shape[1]).float()
        return self.layer(x, src_mask=src_mask, src_key_padding_mask=key_padding_mask)


class DecoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(D, H, 2 * D, batch_first=True)

    def forward(self, x, memory, memory_key_padding_mask, tgt_key_padding_mask=None):
        tgt_mask = causal_bool(x.shape[1]) if tgt_key_padding_mask is not None else \
            causal_float(x.shape[1])
        return self.layer(x, memory, tgt_mask=tgt_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                          memory_key_padding_mask=memory_key_padding_mask)


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *a):
        return self.fn(*a)


class Base(unittest.TestCase):
    def setUp(self):
        torch._dynamo.reset()
        tirc.reset()
        self.seed = time.time_ns() % (2 ** 31)
        torch.manual_seed(self.seed)
        self.opts = {"cache_dir": tempfile.mkdtemp(prefix="tirc-test-mha-"), "fallback": False}

    def randn(self, *shape):
        return torch.randn(*shape, device=DEVICE)

    def compiled(self, model, args, dynamic=False):
        """(outputs, eager outputs, explanation) of the model compiled with tirc."""
        with torch.no_grad():
            ref = model(*args)
            out = torch.compile(model, backend="tirc", options=self.opts, dynamic=dynamic)(*args)
        return out, ref, tirc.explain()

    def run_model(self, model, *args, dynamic=False):
        """Compiles model (eval mode), compares every output with eager and
        returns (outputs, the sdpa dicts of tirc.explain, explanation)."""
        torch._dynamo.reset()
        tirc.reset()
        model = model.to(DEVICE).eval()
        out, ref, e = self.compiled(model, args, dynamic)
        outs = out if isinstance(out, tuple) else (out,)
        refs = ref if isinstance(ref, tuple) else (ref,)
        for i, (o, r) in enumerate(zip(outs, refs)):
            if r is None:  # _native_multi_head_attention's weights without need_weights
                self.assertEqual(o.numel(), 0)
                continue
            err = rel_err(o, r)
            msg = f"seed {self.seed}: output {i}: rel err {err:.3g}\n{e}"
            self.assertEqual(o.shape, r.shape, msg)
            self.assertLessEqual(err, BOUND, msg)
        self.assertGreater(len(e.graphs), 0, "nothing was compiled")
        for g in e.graphs:
            self.assertEqual(g["left"], {}, f"ops left to PyTorch:\n{e}")
            for r in g["regions"]:
                self.assertEqual(r["status"], "tirc", str(e))
        sdpa = [s for g in e.graphs for r in g["regions"] for s in r["sdpa"]]
        return outs, sdpa, e

    # what became of each attention
    def assert_plain(self, s, e):
        self.assertEqual((s["attrs"]["is_causal"], s["mask"]), ("false", None), str(e))

    def assert_causal(self, s, e, key_mask=False):
        self.assertEqual(s["attrs"]["is_causal"], "true", str(e))
        if key_mask:
            self.assert_key_mask(s, e, causal=True)
        else:
            self.assertIsNone(s["mask"], str(e))

    def assert_key_mask(self, s, e, causal=False):
        self.assertEqual(s["attrs"]["is_causal"], "true" if causal else "false", str(e))
        self.assertIsNotNone(s["mask"], str(e))
        dims = [d.strip() for d in s["mask_type"].split("[")[1].rstrip("]").split(",")]
        self.assertEqual(dims[-2], "1", f"not a key mask: {s['mask_type']}\n{e}")


class TestMultiheadAttention(Base):
    def test_self_attention(self):
        for batch_first in (True, False):
            x = self.randn(B, T, D) if batch_first else self.randn(T, B, D)
            _, sdpa, e = self.run_model(MHA(batch_first=batch_first), x, x, x)
            self.assertEqual(len(sdpa), 1, str(e))
            self.assert_plain(sdpa[0], e)

    def test_cross_attention_kdim_vdim_key_padding(self):
        for batch_first in (True, False):
            q, k, v = self.randn(B, T, D), self.randn(B, S, 48), self.randn(B, S, 32)
            if not batch_first:
                q, k, v = (t.transpose(0, 1) for t in (q, k, v))
            m = MHA(batch_first=batch_first, kdim=48, vdim=32)
            _, sdpa, e = self.run_model(m, q, k, v)
            self.assert_plain(sdpa[0], e)
            kpm = padding(S, [S, 5])
            _, sdpa, e = self.run_model(m, q, k, v, kpm)
            self.assertEqual(len(sdpa), 1, str(e))
            self.assert_key_mask(sdpa[0], e)

    def test_causal_masks_become_is_causal(self):
        # generate_square_subsequent_mask's float triu(-inf) and a bool triu
        x = self.randn(B, T, D)
        for causal in ("float", "bool"):
            _, sdpa, e = self.run_model(MHA(causal=causal), x, x, x)
            self.assertEqual(len(sdpa), 1, str(e))
            self.assert_causal(sdpa[0], e)

    def test_causal_and_key_padding(self):
        # F.multi_head_attention_forward adds both masks over [B*H, L, S] and
        # views the sum as [B, H, L, S]: is_causal plus a [B, 1, 1, S] key mask
        x = self.randn(B, T, D)
        kpm = padding(T, [7, T])
        for causal, float_kpm in (("bool", False), ("float", True)):
            _, sdpa, e = self.run_model(MHA(causal=causal, float_kpm=float_kpm), x, x, x, kpm)
            self.assertEqual(len(sdpa), 1, str(e))
            self.assert_causal(sdpa[0], e, key_mask=True)
            self.assertEqual(sdpa[0]["mask_type"], f"f32[{B}, 1, 1, {T}]", str(e))

    def test_masks_given_at_run_time_are_kept(self):
        # tirc cannot see the data of a mask passed in: it stays a mask, results exact
        x = self.randn(B, T, D)
        kpm = padding(T, [T, 6])
        for mask in (torch.rand(T, T, device=DEVICE) > 0.7, self.randn(T, T),
                     self.randn(B * H, T, T)):
            for key_padding in (None, kpm if mask.dtype == torch.bool else as_float_mask(kpm)):
                _, sdpa, e = self.run_model(MHA(), x, x, x, key_padding, mask)
                self.assertEqual(len(sdpa), 1, str(e))
                self.assertIsNotNone(sdpa[0]["mask"], str(e))

    def test_need_weights_keeps_the_softmax(self):
        x, mem = self.randn(B, T, D), self.randn(B, S, D)
        kpm = padding(S, [S, 8])
        for average in (True, False):
            for m, args in ((MHA(need_weights=True, average=average), (x, mem, mem, kpm)),
                            (MHA(need_weights=True, average=average, causal="float"), (x, x, x))):
                (out, w), sdpa, e = self.run_model(m, *args)
                self.assertEqual(len(sdpa), 0, f"the attention with weights was fused:\n{e}")
                self.assertGreaterEqual(e.n_softmax, 1, str(e))
                self.assertEqual(w.dim(), 3 if average else 4)


class TestFastPath(Base):
    def native(self, x, need_weights, average, mask, mask_type, w):
        return torch._native_multi_head_attention(
            x, x, x, D, H, w.in_proj_weight, w.in_proj_bias, w.out_proj.weight, w.out_proj.bias,
            mask, need_weights, average, mask_type)

    def test_native_multi_head_attention(self):
        # mask_type 0: [L, S]; 1: [B, S] key padding; 2: [B, H, L, S]; bool or
        # float, and a float mask is read as bool (nonzero = masked), as the kernel does
        w = nn.MultiheadAttention(D, H, batch_first=True).to(DEVICE).eval()
        x = self.randn(B, T, D)
        sparse = self.randn(T, T) * (torch.rand(T, T, device=DEVICE) > 0.5)
        sparse[:, 0] = 0  # every row keeps a key
        masks = [(None, None), (causal_bool(T), 0), (sparse, 0), (padding(T, [T, 4]), 1),
                 (as_float_mask(padding(T, [6, T])), 1),
                 (torch.rand(B, H, T, T, device=DEVICE) > 0.6, 2)]
        masks[-1][0][..., 0] = False
        for mask, mask_type in masks:
            for need_weights, average in ((False, True), (True, True), (True, False)):
                f = Fn(lambda x, m, n=need_weights, a=average, t=mask_type:
                       self.native(x, n, a, m, t, w))
                outs, sdpa, e = self.run_model(f, x, mask) if mask is not None else \
                    self.run_model(Fn(lambda x, n=need_weights, a=average:
                                      self.native(x, n, a, None, None, w)), x)
                self.assertEqual(len(sdpa), 0 if need_weights else 1, str(e))
                if need_weights:
                    self.assertGreaterEqual(e.n_softmax, 1, str(e))
                elif mask_type == 1:
                    self.assert_key_mask(sdpa[0], e)
                elif mask is None:
                    self.assert_plain(sdpa[0], e)

    def test_encoder_layer_key_padding(self):
        x = self.randn(B, T, D)
        kpm = padding(T, [T, 6])
        for norm_first in (False, True):
            for activation in ("relu", "gelu"):
                _, sdpa, e = self.run_model(EncoderLayer(norm_first, activation), x, kpm)
                self.assertEqual(len(sdpa), 1, str(e))
                self.assert_key_mask(sdpa[0], e)
                self.assertEqual(sdpa[0]["mask_type"], f"f32[{B}, 1, 1, {T}]", str(e))
        _, sdpa, e = self.run_model(EncoderLayer(), x)
        self.assert_plain(sdpa[0], e)

    def test_encoder_layer_causal(self):
        x = self.randn(B, T, D)
        kpm = padding(T, [T, 7])
        _, sdpa, e = self.run_model(EncoderLayer(causal="float", activation="gelu"), x)
        self.assert_causal(sdpa[0], e)
        # merge_masks' float sum of both (mask_type 2): is_causal plus the key mask
        for causal in ("float", "bool"):
            _, sdpa, e = self.run_model(EncoderLayer(norm_first=True, causal=causal), x, kpm)
            self.assertEqual(len(sdpa), 1, str(e))
            self.assert_causal(sdpa[0], e, key_mask=True)

    def test_encoder_layer_float_mask_is_read_as_bool(self):
        # the fast path masks wherever a float src_mask is nonzero (it does not add it)
        x = self.randn(B, T, D)
        mask = self.randn(T, T) * (torch.rand(T, T, device=DEVICE) > 0.5)
        mask[:, 0] = 0
        _, sdpa, e = self.run_model(EncoderLayer(), x, None, mask)
        self.assertIsNotNone(sdpa[0]["mask"], str(e))
        # a constant one too (built in forward, folded): -1 above the diagonal
        # masks there like -inf, though adding it would not
        _, sdpa, e = self.run_model(EncoderLayer(causal="minus_one"), x)
        self.assertEqual(len(sdpa), 1, str(e))

    def test_encoder_layer_dynamic_shapes(self):
        # one compile for every batch size and length (tirc registers the fake
        # kernel torch lacks; without it Dynamo breaks the graph at the layer)
        m = EncoderLayer().to(DEVICE).eval()
        c = torch.compile(m, backend="tirc", options=self.opts, dynamic=True)
        with torch.no_grad():
            for b, t in ((2, 9), (3, 13)):
                x = self.randn(b, t, D)
                kpm = padding(t, [t - 2] + [t] * (b - 1))
                self.assertLessEqual(rel_err(c(x, kpm), m(x, kpm)), BOUND, f"seed {self.seed}")
        e = tirc.explain()
        self.assertEqual(len(e.graphs), 1, str(e))
        self.assertEqual(e.graphs[0]["left"], {}, str(e))
        self.assertEqual(e.n_sdpa, 1, str(e))
        self.assertRegex(str(e), r"mask=f32\[s\w+, 1, 1, s\w+\]")

    def test_transformer_encoder_two_layers(self):
        # In eager, TransformerEncoder runs a padded batch as a nested tensor and
        # returns 0 at the padded positions; under torch.compile it does not
        # (its mask check is skipped while compiling), so Dynamo hands over the
        # dense computation.  Compared with eager where eager is the same
        # computation (the real tokens), and on every position with eager
        # without nested tensors.
        x = self.randn(B, T, D)
        kpm = padding(T, [T, 6])
        layer = nn.TransformerEncoderLayer(D, H, 2 * D, batch_first=True)
        enc = nn.TransformerEncoder(layer, 2).to(DEVICE).eval()
        dense = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).to(DEVICE).eval()
        dense.load_state_dict(enc.state_dict())
        with torch.no_grad():
            ref, ref_dense = enc(x, src_key_padding_mask=kpm), dense(x, src_key_padding_mask=kpm)
            out = torch.compile(enc, backend="tirc", options=self.opts)(x, src_key_padding_mask=kpm)
        self.assertEqual(ref[kpm].abs().max().item(), 0.0)  # eager's nested-tensor zeros
        keep = ~kpm
        self.assertLessEqual(rel_err(out[keep], ref[keep]), BOUND, f"seed {self.seed}")
        self.assertLessEqual(rel_err(out, ref_dense), BOUND, f"seed {self.seed}")
        e = tirc.explain()
        sdpa = [s for g in e.graphs for r in g["regions"] for s in r["sdpa"]]
        self.assertEqual(len(sdpa), 2, str(e))
        for s in sdpa:
            self.assert_key_mask(s, e)
        self.assertEqual([g["left"] for g in e.graphs], [{}] * len(e.graphs), str(e))

    def test_decoder_layer(self):
        # self-attention with tgt_mask = generate_square_subsequent_mask: is_causal;
        # cross-attention with memory_key_padding_mask: a key mask
        x, mem = self.randn(B, T, D), self.randn(B, S, D)
        mkpm = padding(S, [S, 9])
        _, sdpa, e = self.run_model(DecoderLayer(), x, mem, mkpm)
        self.assertEqual(len(sdpa), 2, str(e))
        self.assert_causal(sdpa[0], e)
        self.assert_key_mask(sdpa[1], e)
        # with tgt_key_padding_mask too (bool, as tgt_mask): is_causal plus a key mask
        _, sdpa, e = self.run_model(DecoderLayer(), x, mem, mkpm, padding(T, [T, 8]))
        self.assertEqual(len(sdpa), 2, str(e))
        self.assert_causal(sdpa[0], e, key_mask=True)
        self.assert_key_mask(sdpa[1], e)


if __name__ == "__main__":
    unittest.main(verbosity=2)
