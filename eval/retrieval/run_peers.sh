#!/usr/bin/env bash
# Runs the peer BM25 engines (bm25s, Lucene via Anserini) on the ESCI benchmark.
#   1. creates .venv here (if missing) and installs the pinned versions in requirements.txt;
#   2. fetches Anserini's fat jar: it ships inside the pyserini source distribution on PyPI;
#   3. runs peers.py, passing any arguments through (e.g. --rounds 20 --esci DIR).
# Only PyPI is contacted. Re-running reuses .venv and the jar.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
PYSERINI_VERSION=1.6.0
ANSERINI_VERSION=1.7.1
PYSERINI_SDIST_SHA256=e34761d700b33613c26bc61113effc6d65598dee6ada28a33214f79350f833f4
JAR_SHA256=183bf5b53c82441b249d475f66f73aaa3e7dedd8892dece747e3680a1fda34f3
JAR="jars/anserini-${ANSERINI_VERSION}-fatjar.jar"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt

if [ ! -f "$JAR" ] || ! echo "$JAR_SHA256  $JAR" | sha256sum --check --status; then
  mkdir -p jars
  sdist="jars/pyserini-${PYSERINI_VERSION}.tar.gz"
  if [ ! -f "$sdist" ] || ! echo "$PYSERINI_SDIST_SHA256  $sdist" | sha256sum --check --status; then
    rm -f "$sdist"
    .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
      --no-binary :all: -d jars "pyserini==${PYSERINI_VERSION}"
  fi
  echo "$PYSERINI_SDIST_SHA256  $sdist" | sha256sum --check --quiet
  tar -xzf "$sdist" -C jars --strip-components=4 \
    "pyserini-${PYSERINI_VERSION}/pyserini/resources/jars/anserini-${ANSERINI_VERSION}-fatjar.jar"
  echo "$JAR_SHA256  $JAR" | sha256sum --check --quiet
  rm -f "$sdist"
fi

exec .venv/bin/python peers.py "$@"
