#!/usr/bin/env bash
# The field test against a deliberately broken server: the reports of a failing run must stay small and show the
# failures first.
#
#   Scripts/mutant-field-run.sh [HERALD_BINARY] [HERALD_MUTANT_BINARY] [REPORT_DIR]
#
# Copies herald and herald-mutant (default: release builds, made here if missing; SCRATCH_PATH chooses the build
# folder) to a new directory outside the repository and starts there, each as its own process:
#   - `herald serve` at its default configuration, except that it listens on a free TCP port (--tcp 127.0.0.1:0)
#     and without WebSocket (--no-ws), so that it does not compete with a normal field run for 7420/7421;
#   - `herald-mutant --mutation drop-member-left` (MUTATION overrides) in front of it, on a free port: a server that
#     never sends MemberLeft (CHAN-16, SES-28, SES-22). It fails every case that expects MemberLeft (16), among them
#     the crowd case channels.member-events.threshold (510 extra connections at the default limits, which get
#     about 130000 MemberJoined between them): the failing case with by far the most frames to report.
# Then runs `herald conform` against the mutant over TCP on the chapters the mutation breaks (FILTERS overrides:
# space-separated globs), with JSON, JUnit and HTML reports, and checks:
#   - the run exits with status 1 and at least one case failed;
#   - the console output ends with the closing line "N passed, N failed, …";
#   - every report (the console log too) is under 5 MB (5000000 bytes);
#   - the HTML report's first screen shows the failures: Scripts/check-html-report.sh REPORT.html when that exists,
#     otherwise the closing line within the first 20 KB of the HTML file.
# About 2 minutes (the longest waits are on the 30 s idle timeout). Prints the closing line, wall time, report sizes
# and the failed cases. Exit status: 0 all checks passed; 1 a check failed; 2 usage.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
herald="${1:-}"
mutant="${2:-}"
scratch="${SCRATCH_PATH:-$repo/.build}"
reports="${3:-$scratch/mutant-field}"
mutation="${MUTATION:-drop-member-left}"
default_filters="channels.* session.* transports.abrupt-close.* tokens.expiry.member-left extensibility.seq.*"
default_filters+=" extensibility.idempotency.session-scoped-operations"
filters="${FILTERS:-$default_filters}"
limit=5000000

if [ -z "$herald" ] || [ -z "$mutant" ]; then
    for product in herald herald-mutant; do
        swift build --package-path "$repo" --scratch-path "$scratch" -c release --product "$product" >/dev/null
    done
    bin="$(swift build --package-path "$repo" --scratch-path "$scratch" -c release --show-bin-path)"
    herald="${herald:-$bin/herald}"
    mutant="${mutant:-$bin/herald-mutant}"
fi
for binary in "$herald" "$mutant"; do
    [ -x "$binary" ] || { echo "mutant-field-run: $binary is not an executable" >&2; exit 2; }
done
mkdir -p "$reports"
reports="$(cd "$reports" && pwd)"
rm -f "$reports"/mutant.{log,json,xml,html} "$reports"/{serve,herald-mutant}.log

work="$(mktemp -d /tmp/herald-mutant-field.XXXXXX)"
server_pid=""
mutant_pid=""
conform_pid=""
# Stops a process started here (SIGTERM, then SIGKILL after 10 s); returns its exit status.
stop() {
    local pid="$1" status=0
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid" 2>/dev/null || true; }
    fi
    wait "$pid" 2>/dev/null || status=$?
    return "$status"
}
cleanup() {
    stop "$conform_pid" || true
    stop "$mutant_pid" || true
    stop "$server_pid" || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp "$herald" "$work/herald"
cp "$mutant" "$work/herald-mutant"
cd "$work"
echo "mutant-field-run: $(./herald --version | head -1) from $work (outside the repository)"

# Waits until FILE has a line matching PATTERN while process PID runs; prints that line.
await_line() {
    local file="$1" pattern="$2" pid="$3" name="$4"
    for _ in $(seq 1 300); do
        if grep -qE "$pattern" "$file"; then grep -E "$pattern" "$file" | head -1; return 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$file" >&2
    echo "mutant-field-run: $name did not start" >&2
    return 1
}

# The correct server, at its defaults but on a free port, as its own process.
./herald serve --tcp 127.0.0.1:0 --no-ws >"$reports/serve.log" 2>&1 &
server_pid=$!
line="$(await_line "$reports/serve.log" '^herald: listening tcp ' "$server_pid" "herald serve")"
server_port="${line##*:}"
for _ in $(seq 1 100); do [ -s herald-data/app-secret ] && break; sleep 0.1; done
[ -s herald-data/app-secret ] || { echo "mutant-field-run: herald serve wrote no herald-data/app-secret" >&2; exit 1; }
sed 's/^/  serve: /' "$reports/serve.log"

# The mutant in front of it.
./herald-mutant --upstream "127.0.0.1:$server_port" --listen 127.0.0.1:0 --mutation "$mutation" \
    >"$reports/herald-mutant.log" 2>&1 &
mutant_pid=$!
line="$(await_line "$reports/herald-mutant.log" '^herald-mutant: listening tcp ' "$mutant_pid" "herald-mutant")"
echo "  mutant: $line"
mutant_port="$(echo "$line" | sed -E 's/^herald-mutant: listening tcp [^ ]*:([0-9]+) .*/\1/')"

filter_args=()
for glob in $filters; do filter_args+=(--filter "$glob"); done
echo "mutant-field-run: herald conform tcp://127.0.0.1:$mutant_port ${filter_args[*]}"
start=$(date +%s)
status=0
./herald conform "tcp://127.0.0.1:$mutant_port" --app-secret-file herald-data/app-secret "${filter_args[@]}" \
    --json "$reports/mutant.json" --junit "$reports/mutant.xml" --html "$reports/mutant.html" \
    >"$reports/mutant.log" 2>&1 &
conform_pid=$!
wait "$conform_pid" || status=$?
conform_pid=""
seconds=$(($(date +%s) - start))

problems=()
closing="$(grep -v '^[[:space:]]*$' "$reports/mutant.log" | tail -1 || true)"
echo "mutant-field-run: exit $status in ${seconds} s: $closing"
[ "$status" -eq 1 ] || problems+=("herald conform exited with $status, not 1 (failures)")
if echo "$closing" | grep -qE '^[0-9]+ passed, [0-9]+ failed, '; then
    failed="$(echo "$closing" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')"
    [ "$failed" -ge 1 ] || problems+=("no case failed: the mutant ($mutation) was not caught")
else
    problems+=("the console output does not end with the closing line 'N passed, N failed, …'")
fi
for file in mutant.log mutant.json mutant.xml mutant.html; do
    if [ -e "$reports/$file" ]; then
        size="$(stat -c %s "$reports/$file")"
        printf '  %-12s %9d bytes\n' "$file" "$size"
        [ "$size" -lt "$limit" ] || problems+=("$file is $size bytes, not under $limit")
    else
        problems+=("$file was not written")
    fi
done
if [ -e "$reports/mutant.json" ] && command -v jq >/dev/null; then
    echo "  failed cases: $(jq -r '[.cases[]? | select(.verdict == "fail") | .id] | join(", ")' \
        "$reports/mutant.json" 2>/dev/null || echo '(unreadable JSON)')"
fi
if [ -e "$reports/mutant.html" ]; then
    if [ -f "$repo/Scripts/check-html-report.sh" ]; then
        echo "mutant-field-run: Scripts/check-html-report.sh mutant.html"
        bash "$repo/Scripts/check-html-report.sh" "$reports/mutant.html" ||
            problems+=("Scripts/check-html-report.sh: the HTML report's first screen does not show the failures")
    elif head -c 20480 "$reports/mutant.html" | grep -qE '[0-9]+ passed, [0-9]+ failed, '; then
        echo "mutant-field-run: the HTML report has its closing line within the first 20 KB" \
            "(fallback: Scripts/check-html-report.sh is missing)"
    else
        problems+=("the HTML report has no closing line within its first 20 KB")
    fi
fi

stop "$mutant_pid" || problems+=("herald-mutant did not shut down cleanly")
mutant_pid=""
stop "$server_pid" || problems+=("herald serve did not shut down cleanly")
server_pid=""
echo "  mutant: $(tail -1 "$reports/herald-mutant.log")"

if [ "${#problems[@]}" -gt 0 ]; then
    for problem in "${problems[@]}"; do echo "mutant-field-run: FAILED: $problem" >&2; done
    echo "mutant-field-run: the end of the conform output:" >&2
    tail -40 "$reports/mutant.log" >&2
    exit 1
fi
echo "mutant-field-run: passed: the mutant ($mutation) was caught, the reports are small (in $reports)"
