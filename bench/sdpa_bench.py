"""sdpa_bench.py — times tirc's CUDA attention kernels (kernels/attention.cu)
against PyTorch's scaled_dot_product_attention backends on the same GPU.

Usage: python3 bench/sdpa_bench.py path/to/libtirk_attn.so [--quick]
The library is kernels/common.cu + kernels/attention.cu built as a shared
object (see docs/design-log/NOTES-attention.md); it is called through ctypes on
PyTorch's tensors and current stream.  TFLOP/s = 4*B*H*L*S*D (/2 causal)
over the median time (triton.testing.do_bench).  Each kernel's output is
also compared with PyTorch's (max abs difference) so that a fast wrong
kernel cannot pass unnoticed."""
import ctypes
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from triton.testing import do_bench

from tirk_ctypes import Args, view  # noqa: E402 (bench/ is on sys.path when run as a script)


def main():
    lib = ctypes.CDLL(sys.argv[1])
    quick = "--quick" in sys.argv
    lib.tirk_sdpa_mem_efficient.restype = ctypes.c_int
    lib.tirk_sdpa_math.restype = ctypes.c_int
    lib.tirk_sdpa_math_workspace.restype = ctypes.c_size_t
    lib.tirk_last_message.restype = ctypes.c_char_p
    cublas = ctypes.CDLL("libcublas.so.13")
    handle = ctypes.c_void_p()
    assert cublas.cublasCreate_v2(ctypes.byref(handle)) == 0
    torch.manual_seed(0)
    dev = torch.cuda.get_device_name()
    print(f"device: {dev}, torch {torch.__version__}")
    rows = []
    shapes = []
    for dt in (torch.bfloat16, torch.float16, torch.float32):
        for D in (64, 128):
            for causal in (False, True):
                shapes.append((dt, 4, 16, 2048, 2048, D, causal))
    if quick:
        shapes = shapes[:2]
    configs = [0] if quick else [0, 1, 2]
    for (dt, B, H, L, S, D, causal) in shapes:
        q = torch.randn(B, H, L, D, dtype=dt, device="cuda")
        k = torch.randn(B, H, S, D, dtype=dt, device="cuda")
        v = torch.randn(B, H, S, D, dtype=dt, device="cuda")
        out = torch.empty_like(q)
        a = Args()
        a.q, a.k, a.v, a.out = view(q), view(k), view(v), view(out)
        a.mask = None
        a.lse = None
        a.scale = D ** -0.5
        a.is_causal = int(causal)
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        flops = 4 * B * H * L * S * D / (2 if causal else 1)
        with sdpa_kernel(SDPBackend.MATH):
            ref = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=causal).to(dt)

        def ours():
            err = lib.tirk_sdpa_mem_efficient(ctypes.byref(a), stream)
            if err:
                raise RuntimeError(f"tirk error {err}: {lib.tirk_last_message()}")

        res = {}
        for cfg in configs if dt != torch.float32 else [0]:
            lib.tirk_sdpa_set_config(cfg)
            out.fill_(float("nan"))
            ours()
            torch.cuda.synchronize()
            e = (out.float() - ref.float()).abs().max().item()
            ms = do_bench(ours, warmup=25, rep=200, return_mode="median")
            res[f"ours_cfg{cfg}"] = (ms, e)
        lib.tirk_sdpa_set_config(0)
        for name, be in (("torch_eff", SDPBackend.EFFICIENT_ATTENTION), ("torch_flash", SDPBackend.FLASH_ATTENTION)):
            if be == SDPBackend.FLASH_ATTENTION and dt == torch.float32:
                continue
            try:
                with sdpa_kernel(be):
                    f = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    o = f()
                    e = (o.float() - ref.float()).abs().max().item()
                    ms = do_bench(f, warmup=25, rep=200, return_mode="median")
                res[name] = (ms, e)
            except RuntimeError as ex:
                print(name, "failed:", ex)
        if not quick and D == 128 and not causal:
            ws = torch.empty(lib.tirk_sdpa_math_workspace(ctypes.byref(a)), dtype=torch.uint8, device="cuda")

            def ours_math():
                err = lib.tirk_sdpa_math(ctypes.byref(a), handle, ctypes.c_void_p(ws.data_ptr()), stream)
                if err:
                    raise RuntimeError(f"tirk error {err}: {lib.tirk_last_message()}")

            out.fill_(float("nan"))
            ours_math()
            torch.cuda.synchronize()
            e = (out.float() - ref.float()).abs().max().item()
            res["ours_math"] = (do_bench(ours_math, warmup=10, rep=100, return_mode="median"), e)
            with sdpa_kernel(SDPBackend.MATH):
                f = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                res["torch_math"] = (do_bench(f, warmup=10, rep=100, return_mode="median"),
                                     (f().float() - ref.float()).abs().max().item())
        for name, (ms, e) in res.items():
            tf = flops / (ms * 1e-3) / 1e12
            line = f"{str(dt)[6:]:9s} B={B} H={H} L={L} S={S} D={D:3d} causal={int(causal)} {name:12s} {ms:8.3f} ms {tf:7.1f} TFLOP/s maxerr {e:.2e}"
            rows.append(line)
            print(line, flush=True)
        del q, k, v, out, ref
        torch.cuda.empty_cache()
    print("\n==== table ====")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
