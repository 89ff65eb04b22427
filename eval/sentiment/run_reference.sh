#!/usr/bin/env bash
# Runs Python's vaderSentiment (the reference implementation, PyPI) on the VADER ground-truth
# sets with the metrics of `backtalk bench sentiment`:
#   1. creates .venv here (if missing) and installs vaderSentiment 3.3.2 (PyPI only; it needs
#      nothing else to score, so --no-deps);
#   2. runs reference.py, passing arguments through (e.g. --data DIR).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps vaderSentiment==3.3.2
exec .venv/bin/python reference.py "$@"
