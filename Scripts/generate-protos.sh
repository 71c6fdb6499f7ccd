#!/usr/bin/env bash
# Regenerates Sources/HeraldMessages/*.pb.swift from the normative schema in Spec/proto.
# Uses Debian's protoc and protoc-gen-swift built from the swift-protobuf version this package resolves,
# so the generated code always matches the SwiftProtobuf runtime it is compiled against.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! command -v protoc >/dev/null 2>&1; then
    echo "protoc not found; installing Debian's protobuf-compiler" >&2
    apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null
fi

swift package resolve >/dev/null
checkout="$root/.build/checkouts/swift-protobuf"
[ -d "$checkout" ] || { echo "swift-protobuf checkout not found at $checkout" >&2; exit 1; }
plugin_build="$root/.build-protoc-gen-swift"
swift build -c release --package-path "$checkout" --scratch-path "$plugin_build" --product protoc-gen-swift >&2
plugin="$(swift build -c release --package-path "$checkout" --scratch-path "$plugin_build" --show-bin-path)/protoc-gen-swift"

out="${1:-$root/Sources/HeraldMessages}"
mkdir -p "$out"
rm -f "$out"/*.pb.swift
protoc \
    --plugin=protoc-gen-swift="$plugin" \
    --swift_opt=Visibility=Public \
    --swift_opt=FileNaming=DropPath \
    --swift_out="$out" \
    -I "$root/Spec/proto" \
    "$root"/Spec/proto/herald/v1/*.proto
echo "generated $(ls "$out"/*.pb.swift | wc -l) files into $out" >&2
