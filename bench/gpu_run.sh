#!/usr/bin/env bash
# The GPU check in one call on a GPU host that has PyTorch but no Ray (and no network):
#
#     bash bench/gpu_run.sh [OUT_DIR]        # default: $OUT, else bench/results
#
# 1. installs the wheels in .whl/ if there are any (pydantic and its needs, which raytrain's
#    models and config need and a bare PyTorch image lacks) into /tmp/site;
# 2. runs the torch-level GPU tests (`pytest -m gpu tests/train/test_gpu.py`, about a minute at most);
# 3. runs `bench/gpu_check.py` (at most 8 minutes): OUT_DIR/gpu_check.json and its log.
# Exit status: non-zero when either failed.
set -uo pipefail
out=${1:-${OUT:-bench/results}}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 2
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi >"$out/nvidia_smi.txt" 2>&1
timeout 150 python3 -m pytest -p no:cacheprovider -q -m gpu tests/train/test_gpu.py 2>&1 |
    tee "$out/pytest_gpu.log"
tests=${PIPESTATUS[0]}
timeout 500 python3 bench/gpu_check.py --out "$out/gpu_check.json" 2>&1 | tee "$out/gpu_check.log"
check=${PIPESTATUS[0]}
echo "pytest -m gpu: exit $tests; gpu_check: exit $check"
[ "$tests" -eq 0 ] && [ "$check" -eq 0 ]
