#!/usr/bin/env python3
"""decode.py — greedy generate() through torch.compile backends: tokens per second.

A Hugging Face causal LM built from a config with random weights (no
download), bf16, `model.generate(ids, attention_mask=..., max_new_tokens=N,
do_sample=False)` with the forward compiled, as HF documents it:

  eager      no compile (HF's dynamic cache)
  inductor   model.forward = torch.compile(model.forward, dynamic=True)
  inductor-ro  HF's static cache + torch.compile(model.forward, mode="reduce-overhead")
             (inductor's CUDA graphs: one replay per decode step)
  tirc       model.forward = torch.compile(model.forward, backend="tirc", dynamic=True)
  tirc-static  HF's static cache + backend="tirc"

For each batch size B: a prompt of --prompt tokens (random ids, no padding),
--new tokens generated.  Each row: one warm-up generate (compiles; its time
is the "first" column), then the median of --reps timed generates; tokens/s
= B * new / seconds (prefill included, as a user sees it), and the time
per generated token (seconds / new).
The generated tokens are compared with the first backend's (eager by default) (greedy; bf16 may flip a
near-tie, so the count of equal sequences is printed, not asserted).

Usage (GPU machine with torch and transformers):
  PYTHONPATH=python TIRC_LIBRARY=/path/to/libtirc.so python3 bench/decode.py
  ... --model gpt2 --batches 1,8,64 --prompt 512 --new 128
  ... --device cpu --tiny --dtype float32          (checks the script)
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

try:
    import torch
    import transformers
except ImportError as e:
    sys.exit(f"decode.py: {e}; scripts/setup-torch.sh installs torch and transformers")

import tirc  # noqa: E402,F401  (registers the backend)

from hf_models import FULL as MODELS, TINY  # noqa: E402  (the same model configs)

BACKENDS = ("eager", "inductor", "inductor-ro", "tirc", "tirc-static")


def build(spec, dev, dt):
    cfg = transformers.AutoConfig.for_model(spec["model_type"], bos_token_id=0, eos_token_id=0,
                                            pad_token_id=0, **spec["cfg"])
    torch.manual_seed(0)
    with torch.device(dev):
        m = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa")
    return m.to(dt).eval()


def prepare(model, backend):
    """Sets the model's forward and cache for a backend; returns generate kwargs."""
    orig = model._tirc_bench_forward
    model.forward = orig
    kw = {}
    if backend == "inductor":
        model.forward = torch.compile(orig, dynamic=True)
    elif backend == "inductor-ro":
        kw["cache_implementation"] = "static"
        compiled = torch.compile(orig, mode="reduce-overhead")

        def step(*args, **kwargs):
            # generate() keeps the last step's logits past the next replay,
            # which CUDA graph trees forbid: mark each step and copy them out
            # (not yet run on a GPU: the first attempt failed without this).
            torch.compiler.cudagraph_mark_step_begin()
            out = compiled(*args, **kwargs)
            out.logits = out.logits.clone()
            return out
        model.forward = step
    elif backend == "tirc":
        model.forward = torch.compile(orig, backend="tirc", dynamic=True)
    elif backend == "tirc-static":
        kw["cache_implementation"] = "static"
        model.forward = torch.compile(orig, backend="tirc", dynamic=True)
    return kw


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, dev):
    sync(dev)
    t0 = time.perf_counter()
    out = fn()
    sync(dev)
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gpt2", choices=sorted(MODELS))
    ap.add_argument("--batches", default="1,8,64")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--tiny", action="store_true", help="tiny config (script check)")
    a = ap.parse_args()
    dev, dt = torch.device(a.device), getattr(torch, a.dtype)
    spec = (TINY if a.tiny else MODELS)[a.model]
    backends = [b for b in a.backends.split(",") if b]
    for b in backends:
        if b not in BACKENDS:
            sys.exit(f"decode.py: unknown backend {b!r} (known: {', '.join(BACKENDS)})")
    model = build(spec, dev, dt)
    model._tirc_bench_forward = model.forward
    vocab = spec["cfg"]["vocab_size"]
    rows = []
    batches = [int(x) for x in a.batches.split(",")]
    prompts, refs = {}, {}
    for batch in batches:
        g = torch.Generator().manual_seed(batch)
        prompts[batch] = torch.randint(1, vocab, (batch, a.prompt), generator=g).to(dev)
    # backend outer, batch inner: one compile per backend (dynamic=True; B=1
    # is specialized by Dynamo, so B=1 and B>1 are two graphs)
    for backend in backends:
        torch._dynamo.reset()
        kw = prepare(model, backend)
        for batch in batches:
            ids = prompts[batch]
            mask = torch.ones_like(ids)
            gen = dict(attention_mask=mask, max_new_tokens=a.new, min_new_tokens=a.new,
                       do_sample=False, pad_token_id=0, **kw)

            def run():
                with torch.no_grad():
                    return model.generate(ids, **gen)
            try:
                first, out = timed(run, dev)
                times = [timed(run, dev)[0] for _ in range(a.reps)]
            except Exception as e:  # noqa: BLE001 - a row that fails is reported, not fatal
                print(f"{a.model} B={batch} {backend}: FAILED {type(e).__name__}: {e}"[:400], flush=True)
                rows.append(dict(batch=batch, backend=backend, failed=True))
                continue
            sec = statistics.median(times)
            new = out[:, a.prompt:]
            ref = refs.setdefault(batch, new)
            same = int((new == ref).all(dim=1).sum()) if new.shape == ref.shape else 0
            step_ms = sec / a.new * 1e3
            rows.append(dict(batch=batch, backend=backend, sec=sec, tps=batch * a.new / sec,
                             step_ms=step_ms, first=first, same=same, failed=False))
            print(f"{a.model} B={batch} {backend}: {batch * a.new / sec:.0f} tok/s "
                  f"({sec:.3f} s, {step_ms:.2f} ms/token, first {first:.1f} s, "
                  f"{same}/{batch} sequences equal the first backend's)", flush=True)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"\ngenerate(), {a.model}{' (tiny)' if a.tiny else ''}, {a.dtype}, prompt {a.prompt}, "
          f"{a.new} new tokens, greedy, {name}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}\n")
    print("| B | backend | tokens/s | vs eager | vs best inductor | ms per token | first call (s) | equal eager |")
    print("|---|---|---|---|---|---|---|---|")
    for batch in sorted({r["batch"] for r in rows}):
        rs = [r for r in rows if r["batch"] == batch]
        eager = next((r for r in rs if r["backend"] == "eager" and not r["failed"]), None)
        ind = [r["tps"] for r in rs if r["backend"].startswith("inductor") and not r["failed"]]
        for r in rs:
            if r["failed"]:
                print(f"| {batch} | {r['backend']} | failed | | | | | |")
                continue
            ve = f"{r['tps'] / eager['tps']:.2f}x" if eager else "-"
            vi = f"{r['tps'] / max(ind):.2f}x" if ind else "-"
            print(f"| {batch} | {r['backend']} | {r['tps']:.0f} | {ve} | {vi} | {r['step_ms']:.2f} | "
                  f"{r['first']:.1f} | {r['same']}/{batch} |")


if __name__ == "__main__":
    main()
