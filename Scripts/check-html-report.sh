#!/usr/bin/env bash
# Checks that an HTML report of `herald conform --html` opens in a browser in seconds and that its first screen
# shows the outcome: renders REPORT.html in headless Chromium (installing it with apt-get when it is missing), fails
# when that takes longer than MAX_SECONDS, and checks that the start of the rendered DOM has the closing line
# ("N passed, N failed, …") and, when cases failed or warned, the summary list with one line per such case.
#
# Usage: Scripts/check-html-report.sh REPORT.html [SCREENSHOT.png]
#   SCREENSHOT.png   also writes a screenshot of the first screen (1280×900).
# Environment:
#   MAX_SECONDS      the longest the rendering may take (default 20).
#   FIRST_BYTES      how much of the start of the rendered DOM must hold the closing line and the summary's start
#                    (default 20000).
#   CHROMIUM         the browser to use (default: chromium, chromium-browser or google-chrome, whichever is found).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -f "$1" ]; then
    echo "usage: $0 REPORT.html [SCREENSHOT.png]" >&2
    exit 2
fi
report=$(realpath "$1")
screenshot=${2:-}
max_seconds=${MAX_SECONDS:-20}
first_bytes=${FIRST_BYTES:-20000}

find_browser() {
    if [ -n "${CHROMIUM:-}" ]; then
        command -v "$CHROMIUM"
        return
    fi
    for name in chromium chromium-browser google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return
        fi
    done
    return 1
}

if ! browser=$(find_browser); then
    echo "chromium is not installed; installing it with apt-get" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: installing chromium needs root (apt-get install -y chromium)" >&2
        exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y chromium >/dev/null; then
        apt-get update >/dev/null
        apt-get install -y chromium >/dev/null
    fi
    browser=$(find_browser)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --no-default-browser-check
    --disable-extensions --user-data-dir="$work/profile")

# Render and time it. The timeout only stops a browser that hangs; the limit is checked on the measured time.
start=$(date +%s%N)
status=0
timeout $((max_seconds + 30)) "$browser" "${flags[@]}" --dump-dom "file://$report" >"$work/dom.html" 2>"$work/stderr" ||
    status=$?
end=$(date +%s%N)
milliseconds=$(((end - start) / 1000000))
seconds=$(printf '%d.%03d' $((milliseconds / 1000)) $((milliseconds % 1000)))
if [ "$status" -ne 0 ]; then
    echo "FAIL: chromium exited with status $status after $seconds s" >&2
    tail -n 20 "$work/stderr" >&2
    exit 1
fi
size=$(wc -c <"$report")
echo "rendered $report ($size bytes) in $seconds s"
if [ "$milliseconds" -gt $((max_seconds * 1000)) ]; then
    echo "FAIL: rendering took $seconds s, more than $max_seconds s" >&2
    exit 1
fi

head -c "$first_bytes" "$work/dom.html" >"$work/first.html"
closing=$(grep -o '<p class="closing"[^>]*>[^<]*</p>' "$work/first.html" | head -n 1 | sed 's/<[^>]*>//g' || true)
if ! printf '%s' "$closing" | grep -Eq '^[0-9]+ passed, [0-9]+ failed, .* in [0-9]+\.[0-9]{2} s$'; then
    echo "FAIL: the first $first_bytes bytes of the rendered page have no closing line" >&2
    exit 1
fi
echo "closing line: $closing"

# Cases that fail the run or warn: failed, unexpected-pass, timeout, error; warning.
count() { printf '%s' "$closing" | grep -Eo "[0-9]+ $1" | head -n 1 | cut -d ' ' -f 1 || true; }
failing=$(($(count failed) + $(count unexpected-pass) + $(count timeout) + $(count error)))
warnings=$(count warning)
warnings=${warnings:-0}
check_list() {
    local id=$1 expected=$2 title=$3
    if [ "$expected" -eq 0 ]; then
        return
    fi
    if ! grep -q "<section class=\"summary\" id=\"$id\">" "$work/first.html"; then
        echo "FAIL: $expected $title, but the first $first_bytes bytes of the page have no list of them" >&2
        exit 1
    fi
    # The whole list: one <li> per case.
    local items
    items=$(sed -n "/<section class=\"summary\" id=\"$id\">/,/<\/section>/p" "$work/dom.html" | grep -o '<li>' | wc -l)
    if [ "$items" -ne "$expected" ]; then
        echo "FAIL: the list of $title has $items lines, not $expected" >&2
        exit 1
    fi
    echo "summary list: $items $title, first: $(sed -n "/<section class=\"summary\" id=\"$id\">/,/<\/section>/p" \
        "$work/dom.html" | grep -m 1 '<li>' | sed 's/<[^>]*>//g')"
}
check_list failures "$failing" "failing cases"
check_list warnings "$warnings" "warnings"

if [ -n "$screenshot" ]; then
    timeout $((max_seconds + 30)) "$browser" "${flags[@]}" --hide-scrollbars --window-size=1280,900 \
        --screenshot="$(realpath -m "$screenshot")" "file://$report" >/dev/null 2>&1
    echo "screenshot: $screenshot"
fi
echo "OK"
