# Sourced by the scripts: create .venv once and install scratchnet (editable) with test extras.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
if ! python -c "import scratchnet, torch, sklearn, pytest" 2>/dev/null || [ pyproject.toml -nt .venv/.installed ]; then
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -e ".[test]"
  touch .venv/.installed
fi
