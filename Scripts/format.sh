#!/usr/bin/env bash
# Formats every tracked (and new, unignored) Swift file in place with .swift-format.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z --cached --others --exclude-standard '*.swift' | xargs -0 swift format format --parallel --in-place --configuration .swift-format
