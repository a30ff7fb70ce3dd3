#!/usr/bin/env python3
"""hf_models.py — Hugging Face models through torch.compile backends, on one GPU, in one run.

Models, built from configs with random weights (no download, no network):
  gpt2    GPT-2 small: 12 layers, 12 heads, n_embd 768, vocab 50257;  B=8, T=1024
  llama   16 layers, hidden 2048, GQA 32 query / 8 key-value heads, MLP 8192,
          vocab 128256 (Llama 3.2 1B's shape);                     B=4, T=2048
For each model and attn_implementation ("eager": attention written out in
ops; "sdpa": F.scaled_dot_product_attention), three rows: eager (no
compile), inductor (torch.compile()), tirc (torch.compile(backend="tirc")).
bf16, eval mode, no_grad, use_cache=False, full logits for every position,
random token ids; --mask ones|pad also passes an attention_mask (pad: the
first quarter of row 0 is padding), which makes Hugging Face build its mask
tensor (the case tirc's mask pass is for).

Each row is timed with CUDA events: the median of --reps runs after --warmup
runs.  Prints a markdown table: milliseconds, speed against eager with the
same attn_implementation and against eager/eager (eager time / this time:
> 1 is faster), the first call's seconds (compile), and the relative error
of the logits against eager with attn_implementation="eager" (non-padded
positions).  Then, per tirc row, what tirc made of the attention
(tirc.explain: sdpa ops, proven causal, masks kept, GQA; softmax ops not
fused; ops left to PyTorch).

Usage (GPU machine with torch and transformers; nothing else):
  PYTHONPATH=python TIRC_LIBRARY=/path/to/libtirc.so python3 bench/hf_models.py
  ... --models llama --impls sdpa --mask ones --reps 10
  ... --device cpu --tiny --dtype float32      (checks the script, small sizes, no GPU)
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
except ImportError:
    sys.exit("hf_models.py: torch is not installed (scripts/setup-torch.sh installs it)")
try:
    import transformers
except ImportError:
    sys.exit("hf_models.py: transformers is not installed; this benchmark builds Hugging Face "
             "models from configs and needs it (pip install transformers==5.24.0, or "
             "scripts/setup-torch.sh). No network access is needed once it is installed.")

import tirc  # noqa: E402  (registers the backend)

FULL = {
    "gpt2": dict(model_type="gpt2", batch=8, seq=1024,
                 cfg=dict(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024)),
    "llama": dict(model_type="llama", batch=4, seq=2048,
                  cfg=dict(num_hidden_layers=16, hidden_size=2048, num_attention_heads=32,
                           num_key_value_heads=8, intermediate_size=8192, vocab_size=128256,
                           max_position_embeddings=4096, rope_theta=500000.0,
                           tie_word_embeddings=True)),
}
TINY = {
    "gpt2": dict(model_type="gpt2", batch=2, seq=32,
                 cfg=dict(n_layer=2, n_head=4, n_embd=64, vocab_size=128, n_positions=64)),
    "llama": dict(model_type="llama", batch=2, seq=32,
                  cfg=dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=8,
                           num_key_value_heads=2, intermediate_size=128, vocab_size=128,
                           max_position_embeddings=64, tie_word_embeddings=True)),
}
BACKENDS = ("eager", "inductor", "tirc")


def median_ms(fn, warmup, reps, cuda):
    for _ in range(warmup):
        fn()
    times = []
    if not cuda:  # CPU: wall clock
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)
    torch.cuda.synchronize()
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def build(spec, dev, dt):
    """The model (attn_implementation "eager"), its weights initialized on
    the device (fast for a 1B model); the same seed gives the same weights."""
    cfg = transformers.AutoConfig.for_model(spec["model_type"], bos_token_id=0, eos_token_id=0,
                                            pad_token_id=0, **spec["cfg"])
    cfg.use_cache = False
    torch.manual_seed(0)
    with torch.device(dev):
        m = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    return m.to(dt).eval()


def set_impl(model, impl):
    """Switches the attention implementation in place (transformers'
    set_attn_implementation); fails loudly if the model did not take it."""
    model.set_attn_implementation(impl)
    got = model.config._attn_implementation
    if got != impl:
        raise RuntimeError(f"{type(model).__name__} kept attn_implementation={got!r}, not {impl!r}")


def inputs(spec, case, dev, gen):
    ids = torch.randint(1, spec["cfg"]["vocab_size"], (spec["batch"], spec["seq"]), generator=gen)
    kw = {"input_ids": ids.to(dev), "use_cache": False}
    keep = torch.ones(spec["batch"], spec["seq"], dtype=torch.bool)
    if case != "none":
        am = torch.ones(spec["batch"], spec["seq"], dtype=torch.long)
        if case == "pad":
            am[0, : spec["seq"] // 4] = 0  # left padding
        kw["attention_mask"] = am.to(dev)
        keep = am.bool()
    return kw, keep.to(dev)


def kernel_table(fn, kw, top):
    """The `top` costliest GPU kernels of one forward (mean of 3 profiled
    runs) as text, with the total GPU time and the kernel count."""
    from torch.profiler import ProfilerActivity, profile
    with torch.no_grad():
        fn(**kw)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                fn(**kw)
            torch.cuda.synchronize()
    per = {}
    count = 0
    for e in prof.events():
        if e.device_type != torch.autograd.DeviceType.CUDA:
            continue
        us = e.time_range.elapsed_us()
        t = per.setdefault(e.name, [0.0, 0])
        t[0] += us / 3e3
        t[1] += 1
        count += 1
    total = sum(v[0] for v in per.values())
    lines = [f"  total {total:.3f} ms in {count / 3:.0f} kernels"]
    for name, (ms, n) in sorted(per.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"  {ms:7.3f} ms  x{n / 3:<5.0f} {name[:110]}")
    return "\n".join(lines)


def attention_summary(e):
    """One line of what tirc made of the attention (a tirc.Explanation)."""
    n = causal = masked = gqa = 0
    left = set()
    for g in e.graphs:
        left.update(g["left"])
        for r in g["regions"]:
            if r["status"] != "tirc":
                left.add(f"region {r['name']} ({r['status'][:60]})")
                continue
            for s in r["sdpa"]:
                n += 1
                causal += s["attrs"].get("is_causal") == "true"
                gqa += s["attrs"].get("enable_gqa") == "true"
                masked += s["mask"] is not None
    masks = sorted({s["mask_type"] for g in e.graphs for r in g["regions"] for s in r["sdpa"]
                    if s["mask"] is not None})
    return (f"{len(e.graphs)} graph(s), {n} sdpa ({causal} is_causal, {gqa} enable_gqa, {masked} with a mask"
            + (f" {', '.join(masks)}" if masks else "") + f"), {e.n_softmax} softmax not fused; "
            f"left to PyTorch: {', '.join(sorted(left)) or 'nothing'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="gpt2,llama")
    ap.add_argument("--impls", default="eager,sdpa", help="attn_implementation values")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--mask", choices=("none", "ones", "pad"), default="none",
                    help="attention_mask to pass (default none)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--device", default="cuda", help="cpu: a check of the script itself (with --tiny)")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--tiny", action="store_true", help="tiny configs and sizes (script check)")
    ap.add_argument("--batch", type=int, help="override every model's batch size")
    ap.add_argument("--seq", type=int, help="override every model's sequence length")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also print each row's N costliest GPU kernels (torch.profiler, 3 runs)")
    args = ap.parse_args()

    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("hf_models.py: no CUDA device visible to torch; run on a GPU machine, or "
                 "check the script with --device cpu --tiny")
    dt = getattr(torch, args.dtype)
    specs = TINY if args.tiny else FULL
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in specs:
            sys.exit(f"unknown model {m} (known: {', '.join(specs)})")
    impls = [i for i in args.impls.split(",") if i]
    backends = [b for b in args.backends.split(",") if b]
    rows, notes, profiles = [], [], []
    for name in models:
        spec = dict(specs[name])
        if args.batch:
            spec["batch"] = args.batch
        if args.seq:
            spec["seq"] = args.seq
        model = build(spec, dev, dt)
        kw, keep = inputs(spec, args.mask, dev, torch.Generator().manual_seed(1))
        ref = None  # logits of eager with attn_implementation="eager"
        base = {}   # eager ms per impl
        for impl in impls:
            try:
                set_impl(model, impl)
            except Exception as e:  # noqa: BLE001 - the model has no such attention: say so, go on
                notes.append(f"{name} {impl}: skipped: {type(e).__name__}: {e}")
                continue
            for backend in backends:
                torch._dynamo.reset()
                tirc.reset()
                fn = model if backend == "eager" else torch.compile(model, backend=backend)
                t0 = time.time()
                try:
                    with torch.no_grad():
                        out = fn(**kw).logits
                        if cuda:
                            torch.cuda.synchronize()
                        first = time.time() - t0
                        ms = median_ms(lambda f=fn: f(**kw), args.warmup, args.reps, cuda)
                except Exception as e:  # noqa: BLE001 - one failing row must not end the run
                    notes.append(f"{name} {impl} {backend}: FAILED: {type(e).__name__}: {str(e)[:300]}")
                    rows.append(dict(model=name, impl=impl, backend=backend, ms=None))
                    continue
                out = out[keep].float()
                if ref is None and impl == "eager" and backend == "eager":
                    ref = out
                err = ((out - ref).norm() / ref.norm()).item() if ref is not None else float("nan")
                if backend == "eager":
                    base[impl] = ms
                rows.append(dict(model=name, impl=impl, backend=backend, ms=ms, first=first, err=err))
                print(f"{name} {impl} {backend}: {ms:.2f} ms (first call {first:.1f} s, "
                      f"rel err {err:.2e})", file=sys.stderr)
                if backend == "tirc":
                    notes.append(f"{name} {impl} tirc: " + attention_summary(tirc.explain(fn)))
                if args.profile and cuda:
                    profiles.append((f"{name} {impl} {backend}", kernel_table(fn, kw, args.profile)))
                del fn, out
                if cuda:
                    torch.cuda.empty_cache()
        del model, ref
        if cuda:
            torch.cuda.empty_cache()
        for r in rows:
            if r["model"] == name:
                r["base_same"], r["base_eager"] = base.get(r["impl"]), base.get("eager")

    where = torch.cuda.get_device_name() if cuda else "CPU"
    print(f"\nHugging Face models from configs, {args.dtype}, {where}, mask={args.mask}, "
          f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"tirc {tirc.version()}{' (tiny sizes)' if args.tiny else ''}\n")
    for name in models:
        s = dict(specs[name], **{k: v for k, v in (("batch", args.batch), ("seq", args.seq)) if v})
        print(f"- {name}: B={s['batch']}, T={s['seq']}, {s['cfg']}")
    print("\n| model | attn | backend | ms (median) | vs eager (same attn) | vs eager/eager "
          "| first call (s) | rel err vs eager/eager |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        head = f"| {r['model']} | {r['impl']} | {r['backend']} |"
        if r["ms"] is None:
            print(f"{head} failed | - | - | - | - |")
            continue
        same = f"{r['base_same'] / r['ms']:.2f}x" if r.get("base_same") else "-"
        vs = f"{r['base_eager'] / r['ms']:.2f}x" if r.get("base_eager") else "-"
        err = "-" if r["err"] != r["err"] else f"{r['err']:.1e}"
        print(f"{head} {r['ms']:.2f} | {same} | {vs} | {r['first']:.1f} | {err} |")
    if notes:
        print()
        for n in notes:
            print(f"- {n}")
    for what, table in profiles:
        print(f"\n{what}: GPU kernels, ms per forward (torch.profiler, mean of 3)\n{table}")
    return 1 if any(r["ms"] is None for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
