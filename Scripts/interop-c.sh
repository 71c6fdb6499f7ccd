#!/usr/bin/env bash
# Interop check with the independent C implementation (Tests/Interop/C):
#   1. installs the Debian packages it needs if missing;
#   2. builds herald-c-vectors and herald-c-client with make;
#   3. runs herald-c-vectors on Vectors/;
#   4. builds the Swift server, starts `herald serve` on a free TCP port, mints
#      two tokens and runs herald-c-client against it, then stops the server.
# Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CDIR="$ROOT/Tests/Interop/C"
APP_ID="interop"

log() { printf 'interop-c: %s\n' "$*"; }

# --- 1. packages -------------------------------------------------------------
need=()
for pkg in protobuf-c-compiler libprotobuf-c-dev libcjson-dev protobuf-compiler make gcc; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if ((${#need[@]})); then
    log "installing ${need[*]}"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# --- 2. build ----------------------------------------------------------------
log "building the C implementation"
make -C "$CDIR" -s

# --- 3. vectors --------------------------------------------------------------
log "running herald-c-vectors"
"$CDIR/build/herald-c-vectors" "$ROOT/Vectors"

# --- 4. live server ------------------------------------------------------------
cd "$ROOT"
log "building the Swift server"
swift build --product herald >/dev/null
HERALD="$(swift build --show-bin-path)/herald"
[[ -x $HERALD ]] || { log "no herald binary at $HERALD"; exit 1; }

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SECRET="$TMP/app-secret"
head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRET" # 96 hex characters
mkdir -p "$TMP/data"

log "starting herald serve"
"$HERALD" serve --tcp 127.0.0.1:0 --no-ws --app-id "$APP_ID" --app-secret-file "$SECRET" --data "$TMP/data" \
    >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!

PORT=""
for _ in $(seq 1 100); do
    PORT="$(sed -n 's/^herald: listening tcp 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$TMP/server.out" | head -n1)"
    [[ -n $PORT ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ -z $PORT ]]; then
    log "server did not report a listening port"
    cat "$TMP/server.out" "$TMP/server.err" >&2 || true
    exit 1
fi
log "server listening on 127.0.0.1:$PORT"

TOKEN1="$("$HERALD" token mint --app-id "$APP_ID" --app-secret-file "$SECRET" --user alice)"
TOKEN2="$("$HERALD" token mint --app-id "$APP_ID" --app-secret-file "$SECRET" --user bob)"

log "running herald-c-client"
status=0
"$CDIR/build/herald-c-client" 127.0.0.1 "$PORT" "$APP_ID" alice "$TOKEN1" bob "$TOKEN2" || status=$?

log "stopping the server"
kill -TERM "$SERVER_PID"
server_status=0
wait "$SERVER_PID" || server_status=$?
SERVER_PID=""
if ((status != 0)); then
    log "herald-c-client failed (exit $status); server log:"
    tail -n 50 "$TMP/server.err" >&2 || true
    exit "$status"
fi
if ((server_status != 0)); then
    log "server exited with status $server_status after SIGTERM"
    tail -n 50 "$TMP/server.err" >&2 || true
    exit 1
fi
log "all interop checks passed"
