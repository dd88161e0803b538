#!/usr/bin/env bash
# The main job on a fresh machine: creates .venv, installs scratchnet (not the test extras), trains a CNN on
# Fashion-MNIST (found locally or downloaded) and writes a run directory with report.html.
# Extra arguments go to `scratchnet train` (e.g. --epochs 10).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=""
source scripts/venv.sh
# scratchnet finds the datasets in its usual places (including ../shared/datasets beside this
# checkout, as in the project's workspace) and downloads what is missing.
scratchnet train --dataset fashion-mnist --model cnn3-128-0.25 --epochs 5 --batch-size 128 \
  "$@"
