#!/usr/bin/env bash
# The field test: herald conform as a team runs it against its own server.
#
#   Scripts/field-run.sh [HERALD_BINARY] [REPORT_DIR]
#
# Copies the herald binary (default: a release build, made here if missing) to a new directory outside the
# repository, starts `herald serve` there as its own process with its DEFAULT configuration (TCP 127.0.0.1:7420,
# WebSocket ws://127.0.0.1:7421/herald, default timers and limits), and runs the whole suite against it over TCP and
# over WebSocket at the same time, each with JSON, JUnit and HTML reports. Passes only when both runs end with
# 0 failed, 0 timeout and 0 error. Prints each run's closing line, wall time and report sizes.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
binary="${1:-}"
reports="${2:-$repo/.build/field}"
if [ -z "$binary" ]; then
    swift build --package-path "$repo" -c release --product herald >/dev/null
    binary="$(swift build --package-path "$repo" -c release --show-bin-path)/herald"
fi
[ -x "$binary" ] || { echo "field-run: $binary is not an executable" >&2; exit 2; }
mkdir -p "$reports"
reports="$(cd "$reports" && pwd)"

work="$(mktemp -d /tmp/herald-field.XXXXXX)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
cp "$binary" "$work/herald"
cd "$work"
echo "field-run: $(./herald --version) from $work (outside the repository)"

# The server, at its defaults, as its own process.
./herald serve >"$reports/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
    if grep -q "listening ws" "$reports/serve.log" && [ -s herald-data/app-secret ]; then break; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$reports/serve.log" >&2; echo "field-run: herald serve exited" >&2; exit 1; }
    sleep 0.1
done
grep -q "listening ws" "$reports/serve.log" || { cat "$reports/serve.log" >&2; echo "field-run: herald serve did not start" >&2; exit 1; }
sed 's/^/  serve: /' "$reports/serve.log"

run() {
    local name="$1" target="$2"
    local start end status=0
    start=$(date +%s)
    ./herald conform "$target" --app-secret-file herald-data/app-secret \
        --json "$reports/$name.json" --junit "$reports/$name.xml" --html "$reports/$name.html" \
        >"$reports/$name.log" 2>&1 || status=$?
    end=$(date +%s)
    echo "$status $((end - start))" >"$reports/$name.status"
}
run tcp tcp://127.0.0.1:7420 &
tcp_job=$!
run ws ws://127.0.0.1:7421/herald &
ws_job=$!
wait "$tcp_job" "$ws_job"

failed=0
for name in tcp ws; do
    read -r status seconds <"$reports/$name.status"
    closing="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$reports/$name.log" | tail -1 || true)"
    echo "field-run $name: exit $status in ${seconds} s: $closing"
    for file in "$name.log" "$name.json" "$name.xml" "$name.html"; do
        [ -e "$reports/$file" ] && printf '  %-9s %9d bytes\n' "$file" "$(stat -c %s "$reports/$file")"
    done
    if [ "$status" -ne 0 ] || ! echo "$closing" | grep -qE ' 0 failed,.* 0 timeout, 0 error'; then
        failed=1
        echo "field-run $name: FAILED; the end of its output:" >&2
        tail -60 "$reports/$name.log" >&2
    fi
done
kill -TERM "$server_pid"
wait "$server_pid" || { echo "field-run: herald serve did not shut down cleanly" >&2; failed=1; }
server_pid=""
[ "$failed" -eq 0 ] && echo "field-run: passed (reports in $reports)"
exit "$failed"
