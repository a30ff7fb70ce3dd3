"""generate() through the torch.compile backend, as a new user writes it.

Hugging Face causal LMs built from configs (random weights, no download):
GPT-2, Llama (GQA) and Mistral (sliding window 6 < the sequence), with
`model.forward = torch.compile(model.forward, backend="tirc", dynamic=True)`, then greedy `generate()` of 32 new tokens
on a batch of two prompts, left-padded or not, with HF's dynamic cache and
its static cache.  Checks, per case:

- the tokens equal eager generate()'s, all of them;
- one prefill graph and one decode graph serve the whole generation (the
  backend is handed at most 2 graphs: a recompile per step, or per new
  cache length, fails);
- GPT-2's and Llama's whole loops (dynamic cache) run in tirc: compiled with
  fallback=False, which raises if any op or region would run in PyTorch;
  the other cases with fallback="ops": ops tirc has no form for (the static
  cache's update, made in place: index_copy_, Mistral's window offset max(0, past - W + 1)) run in
  PyTorch and are listed, and no region tirc took may fail.

CPU, float32.  On a GPU: TIRC_TEST_DEVICE=cuda (float32 too: greedy tokens of
random-weight models are near ties in bf16, where eager's own kernels
disagree between runs).  Exit 77 (skipped) without torch or transformers."""
import os
import sys
import unittest

try:
    import torch
    import transformers
except ImportError as e:
    print(f"test_generate: {e}: skipping")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "python"))
import tirc  # noqa: E402

transformers.logging.set_verbosity_error()
DEVICE = torch.device(os.environ.get("TIRC_TEST_DEVICE", "cpu"))
NEW = 32
COMMON = dict(vocab_size=128, bos_token_id=0, eos_token_id=1, pad_token_id=0)
CONFIGS = {
    "gpt2": lambda: transformers.GPT2Config(n_layer=2, n_head=4, n_embd=64, n_positions=128, **COMMON),
    "llama": lambda: transformers.LlamaConfig(
        num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=128, max_position_embeddings=128, **COMMON),
    "mistral": lambda: transformers.MistralConfig(
        num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=128, max_position_embeddings=128, sliding_window=6, **COMMON),
}


def model_and_prompts(name, pad, seed):
    torch.manual_seed(seed)
    m = transformers.AutoModelForCausalLM.from_config(CONFIGS[name]()).eval().to(DEVICE)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, 128, (2, 10), generator=g)
    mask = torch.ones_like(ids)
    if pad:
        mask[0, :3] = 0
        ids[0, :3] = 0
    return m, ids.to(DEVICE), mask.to(DEVICE)


class TestGenerate(unittest.TestCase):
    def run_case(self, name, pad, cache):
        torch._dynamo.reset()
        tirc.reset()
        seed = 1234
        m, ids, mask = model_and_prompts(name, pad, seed)
        kw = dict(attention_mask=mask, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False)
        if cache == "static":
            kw["cache_implementation"] = "static"
        with torch.no_grad():
            ref = m.generate(ids, **kw)
            whole = cache == "dynamic" and name in ("gpt2", "llama")
            m.forward = torch.compile(m.forward, backend="tirc", dynamic=True,
                                      options={"fallback": False if whole else "ops"})
            out = m.generate(ids, **kw)
        e = tirc.explain()
        what = f"{name} pad={pad} cache={cache}: {len(e.graphs)} graph(s)"
        print(f"\n  {what}; left to PyTorch: "
              f"{sorted({k for g in e.graphs for k in g['left']}) or 'nothing'}", file=sys.stderr)
        self.assertEqual(out.shape, ref.shape, what)
        diff = (out != ref).nonzero()
        self.assertTrue(torch.equal(out, ref), f"{what}: tokens differ first at {diff[:1].tolist()}")
        self.assertLessEqual(len(e.graphs), 2, f"{what}: a recompile during generation")
        n_sdpa = sum(len(r["sdpa"]) for g in e.graphs for r in g["regions"])
        self.assertEqual(n_sdpa, 2 * len(e.graphs), f"{what}: every layer's attention is one sdpa")
        if cache == "static" and name != "mistral":
            # the decode step writes its K/V into the cache in place
            # (compiler.reinplace_cache_updates), not a copy of each cache;
            # Mistral's sliding-window cache rolls (a whole new cache)
            left = e.graphs[-1]["left"]
            self.assertIn("aten::index_copy_", left, f"{what}: {sorted(left)}")
            self.assertNotIn("aten::index_copy", left, f"{what}: {sorted(left)}")


def _add(name, pad, cache):
    def test(self):
        self.run_case(name, pad, cache)
    setattr(TestGenerate, f"test_{name}_{'padded' if pad else 'unpadded'}_{cache}", test)


for _name in CONFIGS:
    _add(_name, True, "dynamic")
    _add(_name, False, "dynamic")
    _add(_name, True, "static")


if __name__ == "__main__":
    unittest.main(verbosity=2)
