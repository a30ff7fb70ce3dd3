#!/usr/bin/env bash
# setup-torch.sh — installs the pinned torch (and transformers, for the
# optional Hugging Face model tests: test/python/test_hf_models.py and part of
# test_torch_backend.py) that test/python/test_torch_backend.py needs, from PyPI.  Installs only what is missing.  A failed install is not
# fatal: the torch backend tests then report "skipped" (exit 77 in ctest).
# torch's Linux wheels pull NVIDIA's CUDA wheels too (about 3 GB).
set -uo pipefail
TORCH_VERSION=2.11.0
TRANSFORMERS_VERSION=5.24.0

pip_install() {
  python3 -m pip install -q "$@" 2>/dev/null || python3 -m pip install -q --break-system-packages "$@"
}

have() { python3 -c "import $1, sys; sys.exit(0 if $1.__version__.split('+')[0] == '$2' else 1)" 2>/dev/null; }

if ! have torch "$TORCH_VERSION"; then
  echo "setup-torch: installing torch==$TORCH_VERSION from PyPI (about 3 GB with its CUDA wheels)"
  pip_install "torch==$TORCH_VERSION" ||
    echo "setup-torch: WARNING: could not install torch; the torch backend tests will be skipped"
fi
# expecttest: torch.testing's OpInfo database imports it (test/python/opinfo_sweep.py).
python3 -c "import expecttest" 2>/dev/null || pip_install "expecttest" ||
  echo "setup-torch: could not install expecttest; the OpInfo sweep uses its stand-in"
if [ -z "${TIRC_NO_TRANSFORMERS:-}" ] && ! have transformers "$TRANSFORMERS_VERSION"; then
  echo "setup-torch: installing transformers==$TRANSFORMERS_VERSION (optional: Hugging Face model tests)"
  pip_install "transformers==$TRANSFORMERS_VERSION" ||
    echo "setup-torch: could not install transformers; those tests will be skipped"
fi
exit 0
