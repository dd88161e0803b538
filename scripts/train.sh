#!/usr/bin/env bash
# The main job on a fresh machine: creates .venv, installs scratchnet, trains a CNN on
# Fashion-MNIST (found locally or downloaded) and writes a run directory with report.html.
# Extra arguments go to `scratchnet train` (e.g. --epochs 10).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
# Inside the project's workspace the datasets sit in ../shared/datasets; elsewhere
# scratchnet searches its usual places and downloads what is missing.
if [ -z "${SCRATCHNET_DATA:-}" ] && [ -d ../shared/datasets ]; then
  export SCRATCHNET_DATA="$(cd ../shared/datasets && pwd)"
fi
scratchnet train --dataset fashion-mnist --model cnn3-128-0.25 --epochs 5 --batch-size 128 \
  "$@"
