"""flash_bench.py — tirc's flash attention kernel vs every PyTorch SDPA
backend, on the same GPU in the same run (issue 6's benchmark).

Usage: python3 bench/flash_bench.py path/to/libtirk_attn.so [--quick] [--out FILE]

The library is the kernels (common.cu, attention.cu, flash.cu, and
flash_sm90.cu built for sm_90a) as one shared object; scripts/gpu-pack.sh
builds it.  It is called through ctypes on PyTorch's tensors and stream.

Forward, bf16, B*L = 16k tokens, hidden 2048 (H = 2048 / D),
L in {512 .. 16k}, D in {64, 128}, causal and not.  TFLOP/s =
4*B*H*L*S*D (halved when causal) over the median time (triton do_bench,
which times with CUDA events).  Each output is compared with cuDNN's (or
flash's) so a fast wrong kernel shows.  Then decoding: L = 1,
S in {1k, 8k, 32k}, 32 heads, D = 128, batch 8: K/V bytes read per second
against a device-to-device copy measured in the same run (bytes read +
written)."""
import argparse
import ctypes

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from triton.testing import do_bench

from tirk_ctypes import Args, view  # noqa: E402 (bench/ is on sys.path when run as a script)


BACKENDS = [("torch_cudnn", SDPBackend.CUDNN_ATTENTION), ("torch_flash", SDPBackend.FLASH_ATTENTION),
            ("torch_eff", SDPBackend.EFFICIENT_ATTENTION), ("torch_math", SDPBackend.MATH)]


class Ours:
    def __init__(self, lib, q, k, v, out, causal, bottom_right=False, path=0, lse=None):
        self.lib, self.path = lib, path
        a = Args()
        a.q, a.k, a.v, a.out = view(q), view(k), view(v), view(out)
        a.mask = None
        a.lse = lse.data_ptr() if lse is not None else None
        a.scale = q.shape[-1] ** -0.5
        a.is_causal = int(causal)
        a.bottom_right = int(bottom_right)
        a.enable_gqa = int(q.shape[-3] != k.shape[-3])
        self.a = a
        lib.tirk_sdpa_flash_set_path(path)
        n = lib.tirk_sdpa_flash_workspace(ctypes.byref(a))
        lib.tirk_sdpa_flash_set_path(0)
        self.ws = torch.empty(max(n, 1), dtype=torch.uint8, device="cuda")
        self.stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    def __call__(self):
        self.lib.tirk_sdpa_flash_set_path(self.path)
        err = self.lib.tirk_sdpa_flash(ctypes.byref(self.a), ctypes.c_void_p(self.ws.data_ptr()), self.stream)
        self.lib.tirk_sdpa_flash_set_path(0)
        if err:
            raise RuntimeError(f"tirk error {err}: {self.lib.tirk_last_message().decode()}")


def bench(f, rep=200):
    return do_bench(f, warmup=25, rep=rep, return_mode="median")


def time_torch(q, k, v, causal, skip_math=False, math_rep=200):
    """Median ms of every PyTorch backend that takes the problem, and the
    first one's output in f32 (the reference ours is compared with)."""
    res, ref = {}, None
    for name, be in BACKENDS:
        if be == SDPBackend.MATH and skip_math:
            continue
        try:
            with sdpa_kernel(be):
                f = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                o = f()
                if ref is None:
                    ref = o.float()
                res[name] = bench(f, math_rep if be == SDPBackend.MATH else 200)
        except RuntimeError as ex:
            print(name, "failed:", str(ex)[:100])
    return res, ref


def check_ours(ours, out, ref):
    """Runs ours once into a NaN-filled out: its max abs difference from ref."""
    out.fill_(float("nan"))
    ours()
    torch.cuda.synchronize()
    return (out.float() - ref).abs().max().item() if ref is not None else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--configs", default="", help="also time the Hopper kernel's tilings, e.g. 1,2,3")
    args = ap.parse_args()
    lib = ctypes.CDLL(args.lib)
    lib.tirk_sdpa_flash.restype = ctypes.c_int
    lib.tirk_sdpa_flash_workspace.restype = ctypes.c_size_t
    lib.tirk_last_message.restype = ctypes.c_char_p
    configs = [int(c) for c in args.configs.split(",") if c]
    torch.manual_seed(0)
    lines = [f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}", ""]
    print(lines[0], flush=True)

    # ---- prefill / training-shape forward
    names = ["ours_flash"] + [f"ours_c{c}" for c in configs] + [n for n, _ in BACKENDS]
    hdr = "| L | D | causal | " + " | ".join(f"{n} TFLOP/s" for n in names) + \
          " | ours / best torch | ours / flash | max abs diff vs ref |"
    lines += [hdr, "|" + "---|" * (len(names) + 6)]
    print(hdr, flush=True)
    Ls = [512, 2048] if args.quick else [512, 1024, 2048, 4096, 8192, 16384]
    for D in (64, 128):
        for causal in (False, True):
            for L in Ls:
                B, H = 16384 // L, 2048 // D
                q = torch.randn(B, H, L, D, dtype=torch.bfloat16, device="cuda")
                k = torch.randn(B, H, L, D, dtype=torch.bfloat16, device="cuda")
                v = torch.randn(B, H, L, D, dtype=torch.bfloat16, device="cuda")
                out = torch.empty_like(q)
                flops = 4 * B * H * L * L * D / (2 if causal else 1)
                # math: the L x L scores do not fit above 4k (or take seconds)
                res, ref = time_torch(q, k, v, causal, skip_math=L > 4096, math_rep=100)
                ours = Ours(lib, q, k, v, out, causal)
                diff = check_ours(ours, out, ref)
                res["ours_flash"] = bench(ours)
                for c in configs:
                    lib.tirk_sdpa_flash_set_config(c)
                    res[f"ours_c{c}"] = bench(ours)
                    lib.tirk_sdpa_flash_set_config(0)
                tf = {n: flops / (ms * 1e-3) / 1e12 for n, ms in res.items()}
                best = max(v for n, v in tf.items() if not n.startswith("ours"))
                cells = [f"{tf[n]:.0f}" if n in tf else "–" for n in names]
                row = (f"| {L} | {D} | {int(causal)} | " + " | ".join(cells) +
                       f" | {tf['ours_flash'] / best:.2f}× | {tf['ours_flash'] / tf.get('torch_flash', float('nan')):.2f}×"
                       f" | {diff:.1e} |")
                lines.append(row)
                print(row, flush=True)
                del q, k, v, out, ref
                torch.cuda.empty_cache()

    # ---- decoding
    n = 1 << 28  # 256M bf16 = 512 MiB
    src = torch.randn(n, dtype=torch.bfloat16, device="cuda")
    dst = torch.empty_like(src)
    ms = bench(lambda: dst.copy_(src))
    copy_bw = 2 * n * 2 / (ms * 1e-3) / 1e12
    del src, dst
    lines += ["", f"device-to-device copy: {copy_bw:.2f} TB/s (read + write)", ""]
    names = ["ours_flash"] + [n for n, _ in BACKENDS]
    hdr = "| S | " + " | ".join(f"{n} TB/s" for n in names) + " | ours / copy | ours / best torch | max abs diff |"
    lines += [hdr, "|" + "---|" * (len(names) + 4)]
    print(lines[-4], flush=True)
    print(hdr, flush=True)
    for S in (1024, 8192, 32768):
        B, H, D = 8, 32, 128
        q = torch.randn(B, H, 1, D, dtype=torch.bfloat16, device="cuda")
        k = torch.randn(B, H, S, D, dtype=torch.bfloat16, device="cuda")
        v = torch.randn(B, H, S, D, dtype=torch.bfloat16, device="cuda")
        out = torch.empty_like(q)
        kvbytes = 2 * B * H * S * D * 2
        res, ref = time_torch(q, k, v, False)
        ours = Ours(lib, q, k, v, out, False)
        diff = check_ours(ours, out, ref)
        res["ours_flash"] = bench(ours)
        bw = {n: kvbytes / (ms * 1e-3) / 1e12 for n, ms in res.items()}
        best = max(v for n, v in bw.items() if n != "ours_flash")
        row = (f"| {S} | " + " | ".join(f"{bw[n]:.2f}" if n in bw else "–" for n in names) +
               f" | {bw['ours_flash'] / copy_bw:.2f} | {bw['ours_flash'] / best:.2f}× | {diff:.1e} |")
        lines.append(row)
        print(row, flush=True)
        del q, k, v, out, ref
        torch.cuda.empty_cache()
    text = "\n".join(lines)
    print("\n==== table ====\n" + text)
    if args.out:
        open(args.out, "w").write(text + "\n")


if __name__ == "__main__":
    main()
