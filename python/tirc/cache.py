"""The on-disk cache of the torch backend.

Layout under the cache root ($TIRC_TORCH_CACHE, else $XDG_CACHE_HOME/tirc/torch,
else ~/.cache/tirc/torch):
  consts/<sha256>.safetensors   buffers compiled in as constants, by content
  graphs/<key>.tir              the exported TIR of a compiled region
  graphs/<key>.opt.tir          the IR after tirc's pipeline
  kernels/                      NVRTC-compiled CUDA kernels: $TIRC_CACHE_DIR
                                (the runtime's own cache) points here unless set
<key> = sha256 of the TIR text, the compile options and the tirc version.
libtirc has no way to save a compiled module, so a second process still
parses and lowers the TIR (milliseconds); what the cache saves it is the
NVRTC compilation of the generated kernels (seconds), and it lets a user
read what was compiled."""
import hashlib
import os

from . import _lib


def root(opts):
    d = opts.get("cache_dir") or os.environ.get("TIRC_TORCH_CACHE")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "tirc", "torch")
    return os.path.abspath(d)


def const_dir(opts):
    return os.path.join(root(opts), "consts")


def key(text, target, arch, passes, sdpa_kernel, dump):
    h = hashlib.sha256()
    for part in (_lib.version(), text, target, arch, passes, sdpa_kernel, dump):
        h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def prepare_kernel_cache(opts):
    """Points the runtime's NVRTC kernel cache into ours, unless the user set one."""
    if not os.environ.get("TIRC_CACHE_DIR"):
        os.environ["TIRC_CACHE_DIR"] = os.path.join(root(opts), "kernels")


def lookup(opts, k):
    path = os.path.join(root(opts), "graphs", k[:16] + ".tir")
    return path if os.path.exists(path) else None


def store(opts, k, text, ir):
    d = os.path.join(root(opts), "graphs")
    try:
        os.makedirs(d, exist_ok=True)
        for suffix, data in ((".tir", text), (".opt.tir", ir)):
            path = os.path.join(d, k[:16] + suffix)
            tmp = path + ".tmp%d" % os.getpid()
            with open(tmp, "w") as f:
                f.write(data)
            os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs speed
