#!/usr/bin/env bash
# Proves the committed generated code matches the schema: regenerate into a temporary folder and compare.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$root/Scripts/generate-protos.sh" "$tmp"
if ! diff -ru "$root/Sources/HeraldMessages" "$tmp" --exclude='*.md' --exclude='Docs.docc'; then
    echo "Sources/HeraldMessages is out of date with Spec/proto: run Scripts/generate-protos.sh" >&2
    exit 1
fi
echo "generated code matches Spec/proto ($(ls "$tmp"/*.pb.swift | wc -l) files)"
