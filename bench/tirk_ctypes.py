"""tirk_ctypes.py — ctypes mirrors of the attention kernels' C arguments
(kernels/tirk.h tirk_view_t, kernels/tirk_attention.h tirk_sdpa_args_t), for
the benchmarks that call the kernels directly on PyTorch tensors
(sdpa_bench.py, flash_bench.py)."""
import ctypes

import torch

MAXR = 16
DT = {torch.float16: 6, torch.bfloat16: 7, torch.float32: 8, torch.float64: 9}


class View(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int32), ("rank", ctypes.c_int32),
                ("shape", ctypes.c_int64 * MAXR), ("strides", ctypes.c_int64 * MAXR),
                ("data", ctypes.c_void_p)]


class Args(ctypes.Structure):
    _fields_ = [("q", View), ("k", View), ("v", View), ("out", View),
                ("mask", ctypes.POINTER(View)), ("lse", ctypes.c_void_p),
                ("scale", ctypes.c_double), ("dropout_p", ctypes.c_double),
                ("is_causal", ctypes.c_int), ("bottom_right", ctypes.c_int),
                ("enable_gqa", ctypes.c_int), ("exact_mask", ctypes.c_int),
                ("seed", ctypes.c_uint64), ("stream", ctypes.c_uint64),
                ("window", ctypes.c_int64), ("softcap", ctypes.c_double)]


def view(t):
    """The tirk_view_t of a tensor (its own strides, no copy)."""
    v = View()
    v.dtype = DT[t.dtype]
    v.rank = t.dim()
    for i, (n, s) in enumerate(zip(t.shape, t.stride())):
        v.shape[i] = n
        v.strides[i] = s
    v.data = t.data_ptr()
    return v
