#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: creates .venv, installs scratchnet with its
# test extras (PyTorch 2.13.0 CPU and scikit-learn as references, Playwright for the
# browser test), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="test"
source scripts/venv.sh
python -m pytest "$@"
