# Sourced by the scripts: create .venv once and install scratchnet (editable) into it.
# Set EXTRAS first: "" for the main job (NumPy, Matplotlib, Pillow, tqdm, threadpoolctl, Numba),
# "test" for the tests (adds PyTorch CPU, scikit-learn, Playwright, ONNX, Ray, ...).
# A one-line note says what is installed and why it may take a while; pip itself stays quiet.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
spec="."
check="import scratchnet, numpy, matplotlib, PIL, tqdm, threadpoolctl, numba"
what="scratchnet and what it needs to train (NumPy, Matplotlib, Pillow, tqdm, threadpoolctl, Numba)"
if [ -n "${EXTRAS:-}" ]; then
  spec=".[${EXTRAS}]"
  check="${check}, torch, sklearn, pytest, playwright"
  what="scratchnet with the test extras (PyTorch CPU, scikit-learn, Playwright, ONNX Runtime, Ray, pytest, ...)"
fi
stamp=".venv/.installed-${EXTRAS:-main}"
if [ -z "${EXTRAS:-}" ] && [ -e .venv/.installed-test ] && [ ! pyproject.toml -nt .venv/.installed-test ]; then
  stamp=".venv/.installed-test"  # the test extras include everything the main job needs
fi
if ! python -c "${check}" 2>/dev/null || [ pyproject.toml -nt "${stamp}" ]; then
  echo "scripts: installing ${what} into .venv (once; see README.md, Set up, for the time and disk it takes)" >&2
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -e "${spec}"
  touch "${stamp}"
fi
