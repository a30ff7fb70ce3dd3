#!/usr/bin/env bash
# test-install.sh — `pip install ./python` into a fresh virtual environment
# (with the system's packages, for torch) and the torch backend tests against
# that installed copy: the package builds libtirc itself (scikit-build-core
# runs this repository's CMake project).  ctest runs it as python.install.
#   scripts/test-install.sh [VENV_DIR]   (default: build/install-venv)
# TIRC_INSTALL_CUDA=1 builds the CUDA target too (minutes: the attention
# kernels); by default the test builds the CPU-only library, which is what
# the tests run.  Exit 77 (skipped) when torch is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import torch" 2>/dev/null || { echo "torch is not installed: skipped"; exit 77; }
VENV=${1:-build/install-venv}
rm -rf "$VENV"
python3 -m venv --system-site-packages "$VENV"
CUDA_FLAG=(-C cmake.define.TIRC_CUDA=OFF)
[ -n "${TIRC_INSTALL_CUDA:-}" ] && CUDA_FLAG=()
"$VENV/bin/python" -m pip install -q ./python "${CUDA_FLAG[@]}"
# From outside the source tree, with no TIRC_LIBRARY: the installed package
# and its libtirc are what the tests import.
cd /tmp
env -u TIRC_LIBRARY -u PYTHONPATH TIRC_TEST_INSTALLED=1 TIRC_TEST_DEVICE=cpu \
  "$VENV/bin/python" "$OLDPWD/test/python/test_torch_backend.py" TestModels TestSdpaCallers TestOptions
