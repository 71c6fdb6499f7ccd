#!/usr/bin/env bash
# Fails if any tracked Swift file is not formatted with .swift-format (swift-nio's configuration),
# or if the linter reports anything. Generated files opt out with `// swift-format-ignore-file`.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -d '' files < <(git ls-files -z --cached --others --exclude-standard '*.swift')
[ "${#files[@]}" -gt 0 ] || { echo "no Swift files to check"; exit 0; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
status=0
for f in "${files[@]}"; do
    mkdir -p "$tmp/$(dirname "$f")"
    swift format format --configuration .swift-format "$f" > "$tmp/$f"
    if ! cmp -s "$f" "$tmp/$f"; then
        echo "not formatted: $f" >&2
        diff -u "$f" "$tmp/$f" | head -20 >&2 || true
        status=1
    fi
done
swift format lint --strict --parallel --configuration .swift-format "${files[@]}" || status=1
[ "$status" -eq 0 ] && echo "format check passed (${#files[@]} files)"
exit "$status"
