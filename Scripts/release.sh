#!/usr/bin/env bash
# Builds the release archive of `herald` for this machine:
#
#   dist/herald-<version>-linux-<arch>.tar.gz          herald-<version>-linux-<arch>/{herald,LICENSE,README.md,CHANGELOG.md}
#   dist/herald-<version>-linux-<arch>.tar.gz.sha256   "<sha256>  <archive name>" (check with: sha256sum -c)
#
# The binary links the Swift runtime and Foundation statically (--static-swift-stdlib, which needs
# /opt/swift/usr/lib/swift_static); it needs only system libraries at run time: the C library and the system
# SQLite (libsqlite3, used by GRDB for the offline inbox). The script prints the archive's path, its size and the
# binary's `ldd` output, and fails if the binary would load any Swift or Foundation library, or a library that is
# missing.
#
# Usage: Scripts/release.sh [--keep-symbols]
#   --keep-symbols  do not strip the binary (larger; symbolicated backtraces need no separate debug file)
#
# Environment: SOURCE_DATE_EPOCH sets the archive's file times (default: the last commit's time), so two builds
# of the same commit give the same archive if the compiler's output is the same.
set -euo pipefail
cd "$(dirname "$0")/.."

strip_binary=1
for argument in "$@"; do
    case "$argument" in
        --keep-symbols) strip_binary=0 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument $argument (see --help)" >&2; exit 2 ;;
    esac
done

fail() { echo "error: $*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || fail "the release archive is built on Linux (this is $(uname -s))"
swift_bin="$(dirname "$(readlink -f "$(command -v swift)")")"
static_lib="$swift_bin/../lib/swift_static/linux/static-stdlib-args.lnk"
[ -f "$static_lib" ] || fail "no static Swift standard library ($static_lib); install a toolchain with swift_static"

scratch=.build-release
start=$(date +%s)
echo "==> swift build -c release --product herald --static-swift-stdlib (scratch path $scratch)"
swift build -c release --product herald --static-swift-stdlib --scratch-path "$scratch"
build_seconds=$(( $(date +%s) - start ))
binary="$(swift build -c release --product herald --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/herald"
[ -x "$binary" ] || fail "no binary at $binary"

version="$("$binary" --version)"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] || fail "herald --version printed '$version'"
newest="$(sed -n 's/^## \[\([^]]*\)\].*/\1/p' CHANGELOG.md | grep -v -i '^unreleased$' | head -n 1)"
[ "$newest" = "$version" ] || fail "CHANGELOG.md's newest entry is '$newest', herald --version is '$version'"

case "$(uname -m)" in
    x86_64|amd64) arch=x86_64 ;;
    aarch64|arm64) arch=aarch64 ;;
    *) arch="$(uname -m)" ;;
esac
name="herald-$version-linux-$arch"
mkdir -p dist
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/$name"
cp "$binary" "$stage/$name/herald"
if [ "$strip_binary" -eq 1 ]; then
    strip --strip-all "$stage/$name/herald"
fi
cp LICENSE README.md CHANGELOG.md "$stage/$name/"
chmod 0755 "$stage/$name/herald"
chmod 0644 "$stage/$name/LICENSE" "$stage/$name/README.md" "$stage/$name/CHANGELOG.md"

echo "==> ldd $name/herald"
ldd_output="$(ldd "$stage/$name/herald" 2>&1 || true)"
echo "$ldd_output"
if grep -q 'not found' <<<"$ldd_output"; then
    fail "the binary needs a library this machine does not have (see 'not found' above)"
fi
# Anything from the toolchain (libswift*, libFoundation*, libdispatch, libBlocksRuntime, ICU of Foundation) means
# the runtime was not linked statically and the archive would not run on a machine without Swift.
toolchain_libraries="$(grep -E 'libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime|/opt/swift|swift/linux' <<<"$ldd_output" || true)"
if [ -n "$toolchain_libraries" ]; then
    fail "the binary loads toolchain libraries, so it needs Swift installed to run:
$toolchain_libraries"
fi

epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
archive="dist/$name.tar.gz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$stage" -cf - "$name" | gzip -9 -n >"$archive"
(cd dist && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")

size_bytes=$(stat -c %s "$archive")
binary_bytes=$(stat -c %s "$stage/$name/herald")
echo "==> $archive"
echo "archive: $(numfmt --to=iec --suffix=B "$size_bytes") ($size_bytes bytes); herald binary $(numfmt --to=iec --suffix=B "$binary_bytes") ($binary_bytes bytes)$([ "$strip_binary" -eq 1 ] && echo ", stripped")"
echo "sha256:  $(cut -d' ' -f1 "dist/$name.tar.gz.sha256")  (dist/$name.tar.gz.sha256)"
echo "build:   ${build_seconds}s"
echo "$archive"
