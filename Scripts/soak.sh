#!/usr/bin/env bash
# The soak test: `herald bench soak` against `herald serve`, with a kill -9 and a restart of the server in the middle.
#
#   Scripts/soak.sh [--short] [--port PORT] HERALD_BINARY [REPORT_DIR]
#
# Starts HERALD_BINARY serve from a new temporary directory with its DEFAULT configuration plus a temporary --data
# directory (where the server generates its app secret), runs `herald bench soak` against it (1,000 clients, mixed
# traffic, see Benchmarks/README.md), kills the server with SIGKILL when 45 % of the traffic time has passed,
# restarts it on the same data directory at once, and lets the clients reconnect. The soak samples the server's RSS
# through a pid file that follows the restart. Exits non-zero when any check of the soak fails.
#
#   --short   about 2.5 minutes on a 2-core machine (CI): 100 s of traffic, 20 s warm-up
#   (default) about 10 minutes: 540 s of traffic, 60 s warm-up
#   --port    TCP port of the server (default 7420, the server's default; WebSocket on PORT+1)
#
# HERALD_BENCH (environment) names another binary to run `herald bench` with, for example a newer client against an
# older server; the default is HERALD_BINARY. SOAK_CLIENTS and SOAK_THREADS override the client count (1000) and the
# load generator's event-loop threads (1).
set -euo pipefail
short=0
port=7420
while [ $# -gt 0 ]; do
    case "$1" in
    --short) short=1; shift ;;
    --port) port="$2"; shift 2 ;;
    --) shift; break ;;
    -*) echo "soak: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
binary="${1:-}"
[ -n "$binary" ] && [ -x "$binary" ] || { echo "usage: Scripts/soak.sh [--short] [--port PORT] HERALD_BINARY [REPORT_DIR]" >&2; exit 2; }
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
bench="${HERALD_BENCH:-$binary}"
reports="${2:-$(pwd)/.build/soak}"
mkdir -p "$reports"
reports="$(cd "$reports" && pwd)"
clients="${SOAK_CLIENTS:-1000}"
threads="${SOAK_THREADS:-1}"
if [ "$short" -eq 1 ]; then
    duration=100; warm_up=20
else
    duration=540; warm_up=60
fi
ramp=5
kill_after=$((ramp + 2 + duration * 45 / 100))

work="$(mktemp -d "${TMPDIR:-/tmp}/herald-soak.XXXXXX")"
server_pid=""
bench_pid=""
cleanup() {
    for pid in "$bench_pid" "$server_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

start_server() {
    "$binary" serve --data "$work/data" --tcp "127.0.0.1:$port" --ws "127.0.0.1:$((port + 1))" \
        --log-level warning >>"$reports/serve.log" 2>&1 &
    server_pid=$!
    echo "$server_pid" >"$work/server.pid"
    for _ in $(seq 1 300); do
        if [ -s "$work/data/app-secret" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        kill -0 "$server_pid" 2>/dev/null || { tail -40 "$reports/serve.log" >&2; echo "soak: herald serve exited" >&2; exit 1; }
        sleep 0.1
    done
    tail -40 "$reports/serve.log" >&2
    echo "soak: herald serve did not start listening on 127.0.0.1:$port" >&2
    exit 1
}

: >"$reports/serve.log"
start_server
echo "soak: server $server_pid on tcp://127.0.0.1:$port, data $work/data; $clients clients, ${duration} s of traffic," \
    "kill -9 at t+${kill_after} s"
"$bench" bench soak --url "tcp://127.0.0.1:$port" --app-secret-file "$work/data/app-secret" \
    --clients "$clients" --threads "$threads" --duration "$duration" --warm-up "$warm_up" --ramp "$ramp" \
    --server-pid-file "$work/server.pid" --json "$reports/soak.json" >"$reports/soak.txt" 2>"$reports/soak.log" &
bench_pid=$!

slept=0
while [ "$slept" -lt "$kill_after" ] && kill -0 "$bench_pid" 2>/dev/null; do
    sleep 1
    slept=$((slept + 1))
done
if kill -0 "$bench_pid" 2>/dev/null; then
    echo "soak: t+${slept} s: kill -9 $server_pid"
    kill -KILL "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    start_server
    echo "soak: restarted as $server_pid on the same data directory"
fi

status=0
wait "$bench_pid" || status=$?
bench_pid=""
cat "$reports/soak.txt"
if [ "$status" -ne 0 ]; then
    echo "soak: FAILED (herald bench soak exited $status); the end of its log:" >&2
    tail -30 "$reports/soak.log" >&2
fi
kill -TERM "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""
echo "soak: reports in $reports (soak.txt, soak.json, soak.log, serve.log)"
exit "$status"
