"""ctypes binding to libtirc (lib/tirc.h): compile TIR text in process and run
the module on torch tensors' own memory, as DLPack-layout descriptors.

The library is found through $TIRC_LIBRARY, then next to this package in a
source checkout (build*/lib/libtirc.so), then the system loader's path."""
import ctypes
import glob
import os
import threading

import torch


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class Options(ctypes.Structure):
    _fields_ = [("target", ctypes.c_char_p), ("arch", ctypes.c_char_p),
                ("passes", ctypes.c_char_p), ("sdpa_kernel", ctypes.c_char_p),
                ("dump_ir", ctypes.c_int), ("time_passes", ctypes.c_int)]


# torch dtype <-> DLPack (code, bits); the dtypes TIR has.
DTYPES = {
    torch.bool: (6, 8), torch.int8: (0, 8), torch.int16: (0, 16), torch.int32: (0, 32),
    torch.int64: (0, 64), torch.uint8: (1, 8), torch.float16: (2, 16),
    torch.bfloat16: (4, 16), torch.float32: (2, 32), torch.float64: (2, 64),
}
_FROM_DL = {v: k for k, v in DTYPES.items()}


class TircError(RuntimeError):
    """A libtirc call failed; `code` is tirc's exit code (1 input, 2 unsupported, 3 internal)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _candidates():
    env = os.environ.get("TIRC_LIBRARY")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))  # python/tirc -> repo root
    yield os.path.join(here, "libtirc.so")
    for d in ["build"] + sorted(glob.glob(os.path.join(root, "build*"))):
        yield os.path.join(root, d, "lib", "libtirc.so")
    yield "libtirc.so"


def _preload_cuda_libs():
    """libtirc needs libnvrtc/libcublas(Lt) .so.13; where the system has no
    CUDA toolkit, take the copies that torch's nvidia wheels install."""
    try:
        import nvidia  # noqa: F401  (torch's CUDA wheels)
    except ImportError:
        return
    for base in list(getattr(nvidia, "__path__", [])):
        for lib in ("libnvrtc.so.13", "libcublasLt.so.13", "libcublas.so.13"):
            for path in glob.glob(os.path.join(base, "*", "lib", lib)):
                try:
                    ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                except OSError:
                    pass


_lib = None
_lib_lock = threading.Lock()


def library():
    """The loaded libtirc (loaded once)."""
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        errors = []
        for path in _candidates():
            if path != "libtirc.so" and not os.path.exists(path):
                continue
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:
                _preload_cuda_libs()
                try:
                    lib = ctypes.CDLL(path)
                except OSError:
                    errors.append(f"{path}: {e}")
                    continue
            _declare(lib)
            lib.path = path
            _lib = lib
            return lib
        raise OSError("libtirc.so not found; build it (bash scripts/build.sh) or set "
                      "TIRC_LIBRARY=/path/to/libtirc.so" + ("".join("\n  " + e for e in errors)))


def _declare(lib):
    P = ctypes.POINTER
    vp, cp = ctypes.c_void_p, ctypes.c_char_p
    lib.tirc_compile_string.argtypes = [cp, ctypes.c_size_t, cp, P(Options), P(vp), P(vp)]
    lib.tirc_module_free.argtypes = [vp]
    lib.tirc_module_num_inputs.argtypes = [vp]
    lib.tirc_module_num_outputs.argtypes = [vp]
    lib.tirc_module_input_name.argtypes = [vp, ctypes.c_int]
    lib.tirc_module_input_name.restype = cp
    lib.tirc_module_ir.argtypes = [vp]
    lib.tirc_module_ir.restype = cp
    lib.tirc_module_dump.argtypes = [vp]
    lib.tirc_module_dump.restype = cp
    lib.tirc_module_set_cuda_graphs.argtypes = [vp, ctypes.c_int]
    lib.tirc_module_set_cuda_graphs.restype = None
    lib.tirc_module_cuda_graphs_recorded.argtypes = [vp]
    lib.tirc_module_cuda_graphs_recorded.restype = ctypes.c_int
    lib.tirc_module_timings.argtypes = [vp]
    lib.tirc_module_timings.restype = cp
    lib.tirc_module_output_shapes.argtypes = [vp, P(DLTensor), ctypes.c_int, P(DLDataType),
                                              P(ctypes.c_int32), P(ctypes.c_int64 * 16), P(vp)]
    lib.tirc_module_run_on_stream.argtypes = [vp, P(DLTensor), ctypes.c_int, P(DLTensor),
                                              ctypes.c_int, ctypes.c_uint64, vp, P(vp)]
    lib.tirc_free.argtypes = [vp]
    lib.tirc_version.restype = cp
    lib.tirc_cuda_device_count.restype = ctypes.c_int


def version():
    return library().tirc_version().decode()


def _take_error(lib, err):
    msg = ctypes.string_at(err.value).decode(errors="replace") if err.value else "unknown error"
    if err.value:
        lib.tirc_free(err)
    return msg


def _enc(s):
    return None if s is None else str(s).encode()


class Module:
    """A compiled TIR module (owns the libtirc handle)."""

    def __init__(self, text, name="graph.tir", target="cpu", arch=None, passes=None,
                 sdpa_kernel=None, dump_ir=False, time_passes=False):
        lib = self._lib = library()
        opts = Options(_enc(target), _enc(arch), _enc(passes), _enc(sdpa_kernel), int(bool(dump_ir)),
                       int(bool(time_passes)))
        handle, err = ctypes.c_void_p(), ctypes.c_void_p()
        data = text.encode()
        rc = lib.tirc_compile_string(data, len(data), name.encode(), ctypes.byref(opts),
                                     ctypes.byref(handle), ctypes.byref(err))
        if rc:
            raise TircError(rc, _take_error(lib, err))
        self._h = handle
        self.n_inputs = lib.tirc_module_num_inputs(handle)
        self.n_outputs = lib.tirc_module_num_outputs(handle)
        self.input_names = [lib.tirc_module_input_name(handle, i).decode()
                            for i in range(self.n_inputs)]
        self.ir = lib.tirc_module_ir(handle).decode()
        self.dump = lib.tirc_module_dump(handle).decode()
        t = lib.tirc_module_timings(handle)
        self.timings = t.decode() if t else None  # the compile-time table (time_passes)
        self._out_dt = (DLDataType * max(1, self.n_outputs))()
        self._out_nd = (ctypes.c_int32 * max(1, self.n_outputs))()
        self._out_sh = ((ctypes.c_int64 * 16) * max(1, self.n_outputs))()
        self._tls = threading.local()  # per thread: the last input descriptors (_describe_inputs)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h:
            self._lib.tirc_module_free(h)
            self._h = None

    @staticmethod
    def _describe(tensors, keep):
        arr = (DLTensor * max(1, len(tensors)))()
        for i, t in enumerate(tensors):
            code_bits = DTYPES.get(t.dtype)
            if code_bits is None:
                raise TircError(2, f"dtype {t.dtype} has no TIR equivalent")
            shape = (ctypes.c_int64 * max(1, t.dim()))(*t.shape)
            strides = (ctypes.c_int64 * max(1, t.dim()))(*t.stride())
            keep.append(shape)
            keep.append(strides)
            dev = DLDevice(2, t.device.index or 0) if t.is_cuda else DLDevice(1, 0)
            arr[i] = DLTensor(t.data_ptr(), dev, t.dim(), DLDataType(*code_bits, 1), shape,
                              strides, 0)
        return arr

    def _describe_inputs(self, tensors):
        """_describe for the inputs, reusing the last call's descriptors when
        only data pointers changed: building ~150 DLTensors in ctypes costs
        about 1.7 ms per call (GPT-2 small's parameters), which the GPU
        waits out; refreshing the pointers costs a tenth of that."""
        sig = [(t.dtype, t.device, t.shape, t.stride()) for t in tensors]
        last = getattr(self._tls, "inputs", None)
        if last is not None and last[0] == sig:
            arr = last[1]
            for i, t in enumerate(tensors):
                arr[i].data = t.data_ptr()
            return arr
        keep = []
        arr = self._describe(tensors, keep)
        self._tls.inputs = (sig, arr, keep)
        return arr

    def set_cuda_graphs(self, on):
        """Whether CUDA runs on the same buffers and shapes as an earlier
        run replay a CUDA graph of it (tirc.h; off by default)."""
        self._lib.tirc_module_set_cuda_graphs(self._h, int(bool(on)))

    @property
    def cuda_graphs_recorded(self):
        """CUDA graphs recorded so far; -1 when recording failed."""
        return self._lib.tirc_module_cuda_graphs_recorded(self._h)

    def run(self, inputs, seed=0, layouts=None):
        """Runs on `inputs` (torch tensors, in signature order); returns new
        torch tensors allocated on the inputs' device.  CUDA inputs must be
        dense and run on torch's current stream.  layouts: per output, None
        (row-major) or how to stride it (compiler._layout_of): CPU outputs are
        written in that layout directly, CUDA ones are copied into it."""
        lib, keep = self._lib, []
        cuda = any(t.is_cuda for t in inputs)
        if cuda:
            cpu = [i for i, t in enumerate(inputs) if not t.is_cuda]
            if cpu:
                raise TircError(1, "all inputs must be on one device: CUDA inputs and CPU inputs " +
                                ", ".join(f"{self.input_names[i] if i < len(self.input_names) else i} "
                                          f"{inputs[i].dtype} {tuple(inputs[i].shape)}" for i in cpu))
            inputs = [t if t.is_contiguous() else t.contiguous() for t in inputs]
        ins = self._describe_inputs(inputs)
        err = ctypes.c_void_p()
        rc = lib.tirc_module_output_shapes(self._h, ins, len(inputs), self._out_dt, self._out_nd,
                                           self._out_sh, ctypes.byref(err))
        if rc:
            raise TircError(rc, _take_error(lib, err))
        device = inputs[0].device if inputs else torch.device("cpu")  # one device (checked above)
        outs = []
        for j in range(self.n_outputs):
            dt = _FROM_DL[(self._out_dt[j].code, self._out_dt[j].bits)]
            shape = tuple(self._out_sh[j][k] for k in range(self._out_nd[j]))
            lay = layouts[j] if layouts else None
            outs.append(_empty(shape, dt, device, None if cuda else lay))
        outd = self._describe(outs, keep)
        stream = torch.cuda.current_stream(device).cuda_stream if cuda else None
        rc = lib.tirc_module_run_on_stream(self._h, ins, len(inputs), outd, len(outs),
                                           ctypes.c_uint64(seed), ctypes.c_void_p(stream),
                                           ctypes.byref(err))
        if rc:
            raise TircError(rc, _take_error(lib, err))
        if cuda and layouts:
            for j, lay in enumerate(layouts[:len(outs)]):
                if lay is not None:
                    o = _empty(tuple(outs[j].shape), outs[j].dtype, device, lay)
                    o.copy_(outs[j])
                    outs[j] = o
        return outs


def _empty(shape, dtype, device, layout):
    """torch.empty(shape) in `layout` (see Module.run); row-major when the
    layout does not fit the actual shape."""
    if layout is not None and layout[0] == "strides" and tuple(shape) == layout[1]:
        return torch.empty_strided(shape, layout[2], dtype=dtype, device=device)
    if layout is not None and layout[0] == "perm" and len(layout[1]) == len(shape):
        order = layout[1]
        phys = torch.empty([shape[i] for i in order], dtype=dtype, device=device)
        inv = [0] * len(order)
        for k, i in enumerate(order):
            inv[i] = k
        return phys.permute(inv)
    return torch.empty(shape, dtype=dtype, device=device)
