#!/usr/bin/env bash
# Regenerates the golden frame vectors Vectors/frames/{valid,invalid}.json with the Python generator in
# Scripts/vectors, which is independent of the Swift implementation (Google's protobuf runtime, hand-packed headers).
# The generator validates both files against Vectors/schema/frame-vectors.schema.json and re-checks every vector with
# the independent decoder Scripts/vectors/verify_frame_vectors.py.
#
# Usage: Scripts/generate-vectors.sh           write the vectors into Vectors/frames
#        Scripts/generate-vectors.sh --check   regenerate into a temporary folder and compare with the committed
#                                              files; exit 1 if they differ
# Needs python3 (with venv), PyPI access on first run, and Debian's protoc 3.21.x.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

mode=write
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if ! command -v protoc >/dev/null 2>&1; then
    echo "protoc not found; installing Debian's protobuf-compiler" >&2
    apt-get install -y -qq protobuf-compiler >/dev/null
fi
protoc_version="$(protoc --version)"
case "$protoc_version" in
    "libprotoc 3.21."*) ;;
    *)
        echo "Scripts/generate-vectors.sh needs protoc 3.21.x (its Python code matches protobuf 4.21.12); found: $protoc_version" >&2
        exit 1
        ;;
esac

# A private virtual environment with the pinned packages; reinstalled only when requirements.txt changes.
venv="$root/.build-py/venv"
requirements="$root/Scripts/vectors/requirements.txt"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! cmp -s "$requirements" "$venv/.installed-requirements.txt"; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/.installed-requirements.txt"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/proto-python"
protoc --python_out="$tmp/proto-python" -I "$root/Spec/proto" "$root"/Spec/proto/herald/v1/*.proto

export PYTHONDONTWRITEBYTECODE=1 PYTHONHASHSEED=0
if [ "$mode" = write ]; then
    "$venv/bin/python" "$root/Scripts/vectors/generate_frame_vectors.py" \
        --proto-python "$tmp/proto-python" --out "$root/Vectors/frames"
    exit 0
fi

"$venv/bin/python" "$root/Scripts/vectors/generate_frame_vectors.py" --proto-python "$tmp/proto-python" --out "$tmp/frames"
status=0
for file in valid.json invalid.json; do
    if ! cmp -s "$root/Vectors/frames/$file" "$tmp/frames/$file"; then
        echo "Vectors/frames/$file differs from what Scripts/generate-vectors.sh generates:" >&2
        diff -u "$root/Vectors/frames/$file" "$tmp/frames/$file" 2>&1 | head -n 60 >&2 || true
        status=1
    fi
done
if [ "$status" -ne 0 ]; then
    echo "run Scripts/generate-vectors.sh and commit the result (never edit the vector files by hand)" >&2
    exit 1
fi
echo "Vectors/frames/valid.json and invalid.json match the generator"
