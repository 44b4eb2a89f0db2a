#!/usr/bin/env bash
# The GPU suite (benchmarks/README.md, "gpu_suite.sh"): one table of training, inference,
# data-pipeline and per-layer timings of converted nets against stock Keras; exit 1 on any
# output mismatch, 2 on any other failure.  `--smoke` runs every path on the CPU in tiny sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" KERAS_BACKEND=tensorflow
exec "${PYTHON:-python}" benchmarks/gpu_suite.py "$@"
